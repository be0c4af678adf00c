/* funnel.c — strided mean pooling of the query stream (see funnel.h). */
#include "nn/funnel.h"

#include <string.h>

typedef struct fn_job {
    float *y;
    const float *x;
    const es_seq *si, *so;
    int D, w, acc;
} fn_job;

void es_funnel_lens(int *lo, const int *li, int B, int w) {
    for (int b = 0; b < B; b++) lo[b] = (li[b] + w - 1) / w;
}

static void fwd_task(void *ctx, int task, int n_tasks) {
    const fn_job *j = ctx;
    int D = j->D, w = j->w;
    for (int b = task; b < j->si->B; b += n_tasks) {
        int L = j->si->len[b], Lo = j->so->len[b];
        for (int to = 0; to < Lo; to++) {
            int t0 = to * w, t1 = ES_MIN(t0 + w, L);
            float *y = j->y + es_seq_row(j->so, b, to) * (size_t)D;
            memset(y, 0, (size_t)D * sizeof(float));
            for (int t = t0; t < t1; t++) {
                const float *x = j->x + es_seq_row(j->si, b, t) * (size_t)D;
                for (int d = 0; d < D; d++) y[d] += x[d];
            }
            float inv = 1.0f / (float)(t1 - t0);
            for (int d = 0; d < D; d++) y[d] *= inv;
        }
    }
}

void es_funnel_pool_forward(es_pool *pool, float *y, const float *x, const es_seq *s_in,
                            const es_seq *s_out, int D, int w) {
    fn_job j = {y, x, s_in, s_out, D, w, 0};
    es_seq_zero_pads(s_out, y, D, D);
    int nt = ES_MIN(s_in->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, fwd_task, &j);
}

/* here j->y is dx and j->x is dy */
static void bwd_task(void *ctx, int task, int n_tasks) {
    const fn_job *j = ctx;
    int D = j->D, w = j->w;
    for (int b = task; b < j->si->B; b += n_tasks) {
        int L = j->si->len[b], Lo = j->so->len[b];
        for (int to = 0; to < Lo; to++) {
            int t0 = to * w, t1 = ES_MIN(t0 + w, L);
            const float *dy = j->x + es_seq_row(j->so, b, to) * (size_t)D;
            float inv = 1.0f / (float)(t1 - t0);
            for (int t = t0; t < t1; t++) {
                float *dx = j->y + es_seq_row(j->si, b, t) * (size_t)D;
                for (int d = 0; d < D; d++) dx[d] = (j->acc ? dx[d] : 0.0f) + dy[d] * inv;
            }
        }
    }
}

void es_funnel_pool_backward(es_pool *pool, float *dx, int acc, const float *dy,
                             const es_seq *s_in, const es_seq *s_out, int D, int w) {
    fn_job j = {dx, dy, s_in, s_out, D, w, acc};
    if (!acc) es_seq_zero_pads(s_in, dx, D, D);
    int nt = ES_MIN(s_in->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, bwd_task, &j);
}
