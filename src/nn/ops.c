/*
 * ops.c — scalar fp32 reference ops (see ops.h). Numerics follow HF /
 * PyTorch where it matters for parity:
 *  - RMS norm: the mean of squares is accumulated in double (PyTorch sums
 *    fp32 pairwise; double is at least as accurate and order-independent),
 *    then rounded to float before adding eps, as HF does in fp32.
 *  - softmax: max-subtracted, exp and sum in float (torch's fp32 softmax).
 *  - log-sum-exp for scoring: double, so summed log-probs of long targets
 *    do not drift.
 *  - relative buckets: the log is evaluated in float32 like torch.log on a
 *    float tensor, then truncated toward zero (.to(torch.long)).
 */
#include "nn/ops.h"

#include "kern/kern.h"

#include <math.h>

void es_rmsnorm_f32(float *y, const float *x, const float *w, int rows, int n, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float var = (float)(ss / n);
        float inv = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < n; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

float es_gelu_tanh(float x) {
    /* sqrt(2/pi) = 0.7978845608028654 */
    const float c = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

float es_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

void es_relu_f32(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0.0f) x[i] = 0.0f; /* NaN stays NaN, as in torch */
}

void es_gelu_tanh_f32(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = es_gelu_tanh(x[i]);
}

void es_gelu_erf_f32(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = es_gelu_erf(x[i]);
}

void es_softmax_f32(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

double es_logsumexp(const float *x, int n) { return es_kern()->lse(x, n); }

int es_argmax_f32(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
    return best;
}

int32_t es_t5_rel_bucket(int32_t rel, bool bidirectional, int32_t num_buckets,
                         int32_t max_distance) {
    int32_t bucket = 0;
    int64_t n;
    if (bidirectional) {
        num_buckets /= 2;
        if (rel > 0) bucket += num_buckets;
        n = rel < 0 ? -(int64_t)rel : rel;
    } else {
        n = rel < 0 ? -(int64_t)rel : 0;
    }
    int32_t max_exact = num_buckets / 2;
    if (n < max_exact) return bucket + (int32_t)n;
    /* HF: max_exact + (log(n / max_exact) / log(max_distance / max_exact)
     *      * (num_buckets - max_exact)).long(), capped at num_buckets - 1.
     * torch evaluates this on a float32 tensor with python-float scalars. */
    float ratio = (float)n / (float)max_exact;
    float den = (float)log((double)max_distance / (double)max_exact);
    float v = logf(ratio) / den * (float)(num_buckets - max_exact);
    int64_t large = max_exact + (v >= (float)INT32_MAX ? INT32_MAX : (int64_t)v);
    if (large > num_buckets - 1) large = num_buckets - 1;
    return bucket + (int32_t)large;
}
