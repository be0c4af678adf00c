/*
 * layernorm.c — per-channel LayerNorm (see layernorm.h). Statistics use
 * two passes in float (mean, then the centred sum of squares): for the
 * widths used here (D <= 512) this is accurate to a few ulps and never
 * goes negative, unlike the one-pass E[x²] − μ² form.
 */
#include "nn/layernorm.h"

#include <math.h>
#include <string.h>

typedef struct ln_job {
    float *y, *mean, *rstd, *dx, *dg, *db;
    const float *x, *g, *b, *dy, *cmean, *crstd;
    int N, D, acc;
    float eps;
} ln_job;

/* Rows per task are fixed by the task index (not the thread): the same row
 * always gets the same arithmetic. */
static void row_range(int N, int task, int n_tasks, int *r0, int *r1) {
    *r0 = (int)((long)N * task / n_tasks);
    *r1 = (int)((long)N * (task + 1) / n_tasks);
}

static void fwd_task(void *ctx, int task, int n_tasks) {
    const ln_job *j = ctx;
    int r0, r1, D = j->D;
    row_range(j->N, task, n_tasks, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        const float *x = j->x + (size_t)r * (size_t)D;
        float *y = j->y + (size_t)r * (size_t)D;
        float s = 0.0f;
        for (int d = 0; d < D; d++) s += x[d];
        float mu = s / (float)D, v = 0.0f;
        for (int d = 0; d < D; d++) v += (x[d] - mu) * (x[d] - mu);
        float rs = 1.0f / sqrtf(v / (float)D + j->eps);
        j->mean[r] = mu;
        j->rstd[r] = rs;
        for (int d = 0; d < D; d++) y[d] = j->g[d] * ((x[d] - mu) * rs) + j->b[d];
    }
}

static int n_tasks_for(es_pool *pool, size_t work, int cap) {
    int nt = (pool && work >= 16384) ? es_pool_threads(pool) : 1;
    return ES_MAX(1, ES_MIN(nt, cap));
}

void es_layernorm_forward(es_pool *pool, float *y, float *mean, float *rstd, const float *x,
                          const float *g, const float *b, int N, int D, float eps) {
    if (N <= 0) return;
    ln_job j = {0};
    j.y = y;
    j.mean = mean;
    j.rstd = rstd;
    j.x = x;
    j.g = g;
    j.b = b;
    j.N = N;
    j.D = D;
    j.eps = eps;
    int nt = n_tasks_for(pool, (size_t)N * (size_t)D, N);
    es_pool_run(nt > 1 ? pool : NULL, nt, fwd_task, &j);
}

static void bwd_dx_task(void *ctx, int task, int n_tasks) {
    const ln_job *j = ctx;
    int r0, r1, D = j->D;
    row_range(j->N, task, n_tasks, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        const float *x = j->x + (size_t)r * (size_t)D;
        const float *dy = j->dy + (size_t)r * (size_t)D;
        float *dx = j->dx + (size_t)r * (size_t)D;
        float mu = j->cmean[r], rs = j->crstd[r];
        float m1 = 0.0f, m2 = 0.0f; /* mean(ĝ), mean(ĝ ⊙ x̂) */
        for (int d = 0; d < D; d++) {
            float gh = j->g[d] * dy[d];
            m1 += gh;
            m2 += gh * ((x[d] - mu) * rs);
        }
        m1 /= (float)D;
        m2 /= (float)D;
        for (int d = 0; d < D; d++) {
            float v = rs * (j->g[d] * dy[d] - m1 - ((x[d] - mu) * rs) * m2);
            dx[d] = j->acc ? dx[d] + v : v;
        }
    }
}

/* dg/db: columns [c0, c1) of this task, rows in ascending order. */
static void bwd_param_task(void *ctx, int task, int n_tasks) {
    const ln_job *j = ctx;
    int D = j->D;
    int c0 = (int)((long)D * task / n_tasks), c1 = (int)((long)D * (task + 1) / n_tasks);
    float ag[64], ab[64];
    for (int cb = c0; cb < c1; cb += 64) {
        int w = ES_MIN(64, c1 - cb);
        for (int c = 0; c < w; c++) ag[c] = ab[c] = 0.0f;
        for (int r = 0; r < j->N; r++) {
            const float *x = j->x + (size_t)r * (size_t)D + (size_t)cb;
            const float *dy = j->dy + (size_t)r * (size_t)D + (size_t)cb;
            float mu = j->cmean[r], rs = j->crstd[r];
            for (int c = 0; c < w; c++) {
                ag[c] += dy[c] * ((x[c] - mu) * rs);
                ab[c] += dy[c];
            }
        }
        for (int c = 0; c < w; c++) {
            if (j->dg) j->dg[cb + c] += ag[c];
            if (j->db) j->db[cb + c] += ab[c];
        }
    }
}

void es_layernorm_backward(es_pool *pool, float *dx, int acc_dx, float *dg, float *db,
                           const float *dy, const float *x, const float *mean, const float *rstd,
                           const float *g, int N, int D) {
    if (N <= 0) return;
    ln_job j = {0};
    j.dx = dx;
    j.dg = dg;
    j.db = db;
    j.dy = dy;
    j.x = x;
    j.cmean = mean;
    j.crstd = rstd;
    j.g = g;
    j.N = N;
    j.D = D;
    j.acc = acc_dx;
    size_t work = (size_t)N * (size_t)D;
    if (dx) {
        int nt = n_tasks_for(pool, work, N);
        es_pool_run(nt > 1 ? pool : NULL, nt, bwd_dx_task, &j);
    }
    if (dg || db) {
        int nt = n_tasks_for(pool, work, D);
        es_pool_run(nt > 1 ? pool : NULL, nt, bwd_param_task, &j);
    }
}
