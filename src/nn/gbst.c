/*
 * gbst.c — GBST block pooling, scoring, mixing and down-sampling (see
 * gbst.h for the equations). Work is split by sequence; parameter
 * gradients are summed per sequence into `part` and combined in sequence
 * order so the result does not depend on the thread count.
 *
 * Backward, per position t (dX from the down-sampling mean):
 *   dα_w = dX·P_w,  ds_w = α_w (dα_w − Σ_v α_v dα_v)      (softmax)
 *   dP_w[t] = α_w dX + ds_w u;  du += ds_w P_w;  dc0 += ds_w
 *   dC[j] = Σ_w (Σ_{t in block_w(j)} dP_w[t]) / |block_w(j)|
 */
#include "nn/gbst.h"

#include "kern/kern.h"

#include <math.h>
#include <string.h>

typedef struct gbst_job {
    float *y, *cand, *alpha, *dC, *dX, *ds, *part;
    const float *C, *dy, *u, *ccand, *calpha;
    float c0;
    const es_seq *si, *so;
    int D, M, r;
} gbst_job;

/* Σ a[d]·b[d] with 8 running sums (lane l takes d ≡ l mod 8) combined by a
 * fixed tree: vectorisable without reassociation flags; the order depends
 * on n only. */
static float dot8(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int d = 0;
    for (; d + 8 <= n; d += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[d + l] * b[d + l];
    for (int l = 0; d < n; d++, l++) acc[l] += a[d] * b[d];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* First position of the width-w block holding t: where P_w is cached. */
static inline size_t blk0(int t, int w) { return (size_t)(t - t % w); }

static void fwd_seq(const gbst_job *j, int b) {
    const es_seq *si = j->si, *so = j->so;
    int D = j->D, M = j->M, L = si->len[b];
    size_t rows = es_seq_rows(si);
    size_t base = es_seq_row(si, b, 0);
    for (int w = 1; w <= M; w++) {
        float *P = j->cand + (size_t)(w - 1) * rows * (size_t)D;
        for (int t0 = 0; t0 < L; t0 += w) {
            int t1 = ES_MIN(t0 + w, L);
            float *p0 = P + (base + (size_t)t0) * (size_t)D;
            memset(p0, 0, (size_t)D * sizeof(float));
            for (int t = t0; t < t1; t++) {
                const float *c = j->C + (base + (size_t)t) * (size_t)D;
                for (int d = 0; d < D; d++) p0[d] += c[d];
            }
            float inv = 1.0f / (float)(t1 - t0);
            for (int d = 0; d < D; d++) p0[d] *= inv;
            float s = j->c0 + dot8(j->u, p0, D);
            /* stash the block score in alpha; softmax below */
            for (int t = t0; t < t1; t++) j->alpha[(base + (size_t)t) * (size_t)M + (size_t)(w - 1)] = s;
        }
    }
    /* softmax over widths (max-subtracted): the exponentials of the whole
     * sequence's (L, M) block in one vectorised kernel call */
    float *al = j->alpha + base * (size_t)M;
    for (int t = 0; t < L; t++) {
        float *a = al + (size_t)t * (size_t)M;
        float mx = a[0];
        for (int w = 1; w < M; w++) mx = a[w] > mx ? a[w] : mx;
        for (int w = 0; w < M; w++) a[w] -= mx;
    }
    es_kern()->exp(al, al, (size_t)L * (size_t)M);
    for (int t = 0; t < L; t++) {
        float *a = al + (size_t)t * (size_t)M;
        float z = 0.0f;
        for (int w = 0; w < M; w++) z += a[w];
        for (int w = 0; w < M; w++) a[w] /= z;
    }
    /* mix and down-sample: Y[t'] = mean_t Σ_w α_w[t] P_w[t] */
    int r = j->r, Lo = so->len[b];
    for (int to = 0; to < Lo; to++) {
        int t0 = to * r, t1 = ES_MIN(t0 + r, L);
        float *yo = j->y + es_seq_row(so, b, to) * (size_t)D;
        memset(yo, 0, (size_t)D * sizeof(float));
        for (int t = t0; t < t1; t++) {
            const float *a = j->alpha + (base + (size_t)t) * (size_t)M;
            for (int w = 0; w < M; w++) {
                const float *p = j->cand + ((size_t)w * rows + base + blk0(t, w + 1)) * (size_t)D;
                for (int d = 0; d < D; d++) yo[d] += a[w] * p[d];
            }
        }
        float inv = 1.0f / (float)(t1 - t0);
        for (int d = 0; d < D; d++) yo[d] *= inv;
    }
}

static void fwd_task(void *ctx, int task, int n_tasks) {
    const gbst_job *j = ctx;
    for (int b = task; b < j->si->B; b += n_tasks) fwd_seq(j, b);
}

void es_gbst_forward(es_pool *pool, float *y, float *cand, float *alpha, const float *C,
                     const float *u, float c0, const es_seq *s_in, const es_seq *s_out, int D,
                     int M, int r) {
    gbst_job j = {0};
    j.y = y;
    j.cand = cand;
    j.alpha = alpha;
    j.C = C;
    j.u = u;
    j.c0 = c0;
    j.si = s_in;
    j.so = s_out;
    j.D = D;
    j.M = M;
    j.r = r;
    es_seq_zero_pads(s_out, y, D, D);
    int nt = ES_MIN(s_in->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, fwd_task, &j);
}

static void bwd_seq(const gbst_job *j, int b) {
    const es_seq *si = j->si, *so = j->so;
    int D = j->D, M = j->M, L = si->len[b], r = j->r;
    size_t rows = es_seq_rows(si);
    size_t base = es_seq_row(si, b, 0);
    float *pu = j->part + (size_t)b * (size_t)(D + 1);
    memset(pu, 0, (size_t)(D + 1) * sizeof(float));
    /* pass 1: dX (from the down-sampling mean) and ds per position, width */
    for (int t = 0; t < L; t++) {
        int to = t / r;
        int cnt = ES_MIN(r, L - to * r);
        const float *g = j->dy + es_seq_row(so, b, to) * (size_t)D;
        float *dx = j->dX + (base + (size_t)t) * (size_t)D;
        float inv = 1.0f / (float)cnt;
        for (int d = 0; d < D; d++) dx[d] = g[d] * inv;
        const float *a = j->calpha + (base + (size_t)t) * (size_t)M;
        float *ds = j->ds + (base + (size_t)t) * (size_t)M;
        float sdot = 0.0f;
        for (int w = 0; w < M; w++) {
            const float *p = j->ccand + ((size_t)w * rows + base + blk0(t, w + 1)) * (size_t)D;
            float da = dot8(dx, p, D);
            ds[w] = da;
            sdot += a[w] * da;
        }
        for (int w = 0; w < M; w++) {
            ds[w] = a[w] * (ds[w] - sdot);
            const float *p = j->ccand + ((size_t)w * rows + base + blk0(t, w + 1)) * (size_t)D;
            for (int d = 0; d < D; d++) pu[d] += ds[w] * p[d];
            pu[D] += ds[w];
        }
    }
    /* pass 2: per width and block, Σ dP_w over the block spread evenly
     * over the block's rows of dC (zeroed above). Rows outer, channels
     * inner (contiguous, in chunks of 256); each channel still sums t in
     * ascending order, as a channel-outer loop would. */
    float sum[256];
    for (int w = 1; w <= M; w++) {
        for (int t0 = 0; t0 < L; t0 += w) {
            int t1 = ES_MIN(t0 + w, L);
            float inv = 1.0f / (float)(t1 - t0);
            for (int d0 = 0; d0 < D; d0 += 256) {
                int n = ES_MIN(256, D - d0);
                const float *u = j->u + d0;
                memset(sum, 0, (size_t)n * sizeof(float));
                for (int t = t0; t < t1; t++) {
                    size_t row = base + (size_t)t;
                    float a = j->calpha[row * (size_t)M + (size_t)(w - 1)];
                    float g = j->ds[row * (size_t)M + (size_t)(w - 1)];
                    const float *dx = j->dX + row * (size_t)D + d0;
                    for (int d = 0; d < n; d++) sum[d] += a * dx[d] + g * u[d];
                }
                for (int d = 0; d < n; d++) sum[d] *= inv;
                for (int t = t0; t < t1; t++) {
                    float *dc = j->dC + (base + (size_t)t) * (size_t)D + d0;
                    for (int d = 0; d < n; d++) dc[d] += sum[d];
                }
            }
        }
    }
}

static void bwd_task(void *ctx, int task, int n_tasks) {
    const gbst_job *j = ctx;
    for (int b = task; b < j->si->B; b += n_tasks) bwd_seq(j, b);
}

void es_gbst_backward(es_pool *pool, float *dC, float *du, float *dc0, const float *dy,
                      const float *cand, const float *alpha, const float *u, const es_seq *s_in,
                      const es_seq *s_out, int D, int M, int r, float *dX, float *ds,
                      float *part) {
    gbst_job j = {0};
    j.dC = dC;
    j.dX = dX;
    j.ds = ds;
    j.part = part;
    j.dy = dy;
    j.ccand = cand;
    j.calpha = alpha;
    j.u = u;
    j.si = s_in;
    j.so = s_out;
    j.D = D;
    j.M = M;
    j.r = r;
    memset(dC, 0, es_seq_rows(s_in) * (size_t)D * sizeof(float));
    int nt = ES_MIN(s_in->B, es_pool_threads(pool));
    es_pool_run(nt > 1 ? pool : NULL, nt, bwd_task, &j);
    for (int b = 0; b < s_in->B; b++) {
        const float *pu = part + (size_t)b * (size_t)(D + 1);
        for (int d = 0; d < D; d++) du[d] += pu[d];
        *dc0 += pu[D];
    }
}
