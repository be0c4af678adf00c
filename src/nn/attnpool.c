/*
 * attnpool.c — attention pooling (see attnpool.h). Backward:
 *   dx_t = α_t dy + da_t w,  dα_t = dy·x_t,  da_t = α_t (dα_t − Σ_s α_s dα_s),
 *   dw = Σ_t da_t x_t.
 */
#include "nn/attnpool.h"

#include <math.h>
#include <string.h>

typedef struct ap_job {
    float *y, *alpha, *dx, *part;
    const float *x, *w, *dy, *calpha;
    const es_seq *s;
    int D;
} ap_job;

static void fwd_seq(const ap_job *j, int b) {
    int D = j->D, L = j->s->len[b];
    float *y = j->y + (size_t)b * (size_t)D;
    memset(y, 0, (size_t)D * sizeof(float));
    if (L == 0) return;
    size_t base = es_seq_row(j->s, b, 0);
    float *a = j->alpha + base;
    float mx = -INFINITY;
    for (int t = 0; t < L; t++) {
        const float *xt = j->x + (base + (size_t)t) * (size_t)D;
        float s = 0.0f;
        for (int d = 0; d < D; d++) s += j->w[d] * xt[d];
        a[t] = s;
        mx = s > mx ? s : mx;
    }
    float z = 0.0f;
    for (int t = 0; t < L; t++) {
        a[t] = expf(a[t] - mx);
        z += a[t];
    }
    for (int t = 0; t < L; t++) {
        a[t] /= z;
        const float *xt = j->x + (base + (size_t)t) * (size_t)D;
        for (int d = 0; d < D; d++) y[d] += a[t] * xt[d];
    }
}

static void fwd_task(void *ctx, int task, int n_tasks) {
    const ap_job *j = ctx;
    for (int b = task; b < j->s->B; b += n_tasks) fwd_seq(j, b);
}

void es_attnpool_forward(es_pool *pool, float *y, float *alpha, const float *x, const float *w,
                         const es_seq *s, int D) {
    ap_job j = {0};
    j.y = y;
    j.alpha = alpha;
    j.x = x;
    j.w = w;
    j.s = s;
    j.D = D;
    int nt = ES_MIN(s->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, fwd_task, &j);
}

static void bwd_seq(const ap_job *j, int b) {
    int D = j->D, L = j->s->len[b];
    float *pw = j->part + (size_t)b * (size_t)D;
    memset(pw, 0, (size_t)D * sizeof(float));
    if (L == 0) return;
    size_t base = es_seq_row(j->s, b, 0);
    const float *a = j->calpha + base;
    const float *dy = j->dy + (size_t)b * (size_t)D;
    /* dα_t into dx rows' first use: compute sdot first */
    float sdot = 0.0f;
    for (int t = 0; t < L; t++) {
        const float *xt = j->x + (base + (size_t)t) * (size_t)D;
        float da = 0.0f;
        for (int d = 0; d < D; d++) da += dy[d] * xt[d];
        sdot += a[t] * da;
    }
    for (int t = 0; t < L; t++) {
        const float *xt = j->x + (base + (size_t)t) * (size_t)D;
        float *dx = j->dx + (base + (size_t)t) * (size_t)D;
        float da = 0.0f;
        for (int d = 0; d < D; d++) da += dy[d] * xt[d];
        float ds = a[t] * (da - sdot);
        for (int d = 0; d < D; d++) {
            dx[d] = a[t] * dy[d] + ds * j->w[d];
            pw[d] += ds * xt[d];
        }
    }
}

static void bwd_task(void *ctx, int task, int n_tasks) {
    const ap_job *j = ctx;
    for (int b = task; b < j->s->B; b += n_tasks) bwd_seq(j, b);
}

void es_attnpool_backward(es_pool *pool, float *dx, float *dw, const float *dy,
                          const float *alpha, const float *x, const float *w, const es_seq *s,
                          int D, float *part) {
    ap_job j = {0};
    j.dx = dx;
    j.part = part;
    j.dy = dy;
    j.calpha = alpha;
    j.x = x;
    j.w = w;
    j.s = s;
    j.D = D;
    es_seq_zero_pads(s, dx, D, D);
    int nt = ES_MIN(s->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, bwd_task, &j);
    for (int b = 0; b < s->B; b++)
        for (int d = 0; d < D; d++) dw[d] += part[(size_t)b * (size_t)D + (size_t)d];
}
