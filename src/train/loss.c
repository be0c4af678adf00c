/*
 * loss.c — softmax cross-entropy and binary cross-entropy with logits
 * (see loss.h). log-sum-exp is max-subtracted and accumulated in double.
 */
#include "train/loss.h"

#include <math.h>
#include <string.h>

double es_softmax_ce(float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                     int32_t ignore_index, float grad_scale, int *n_counted, int *n_bad) {
    double total = 0.0;
    int cnt = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        const float *x = logits + (size_t)i * (size_t)V;
        float *g = dlogits ? dlogits + (size_t)i * (size_t)V : NULL;
        int32_t t = targets[i];
        if (t == ignore_index || t < 0 || t >= V) {
            if (t != ignore_index) bad++;
            if (g) memset(g, 0, (size_t)V * sizeof(float));
            continue;
        }
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double z = 0.0;
        for (int v = 0; v < V; v++) z += exp((double)(x[v] - mx));
        double lse = (double)mx + log(z);
        total += lse - (double)x[t];
        cnt++;
        if (g) {
            for (int v = 0; v < V; v++) g[v] = (float)(exp((double)x[v] - lse)) * grad_scale;
            g[t] -= grad_scale;
        }
    }
    if (n_counted) *n_counted = cnt;
    if (n_bad) *n_bad = bad;
    return total;
}

double es_bce_logits(float *dlogits, const float *logits, const float *targets, size_t n,
                     float grad_scale) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = logits[i], y = targets[i];
        /* softplus(x) = max(x, 0) + log1p(exp(-|x|)) avoids overflow */
        total += (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))) - y * x;
        if (dlogits) dlogits[i] = (float)(1.0 / (1.0 + exp(-x)) - y) * grad_scale;
    }
    return total;
}
