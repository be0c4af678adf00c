/*
 * matt.c — merged attention forward, backward and the cached decoding step
 * (equations and legend in matt.h).
 *
 * One routine, attend_row, computes the cross-attention of one query row
 * for every head; the training forward and the decoding step both call it
 * after writing the uniform-average term into the same output row, and
 * both build the running sum as 0 + v_0 + v_1 + … in ascending order and
 * divide by (t+1) the same way. That is what makes step-wise decoding
 * reproduce teacher forcing.
 *
 * Softmax: max-subtracted, expf, float sum. Probabilities are cached for
 * the backward (decoder and encoder lengths of the byte seq2seq models are
 * tens of positions, so P is small next to the activations).
 */
#include "nn/matt.h"

#include "nn/attn_grad.h"
#include "nn/linear.h"

#include <math.h>
#include <string.h>

/* z (D) += Σ_h attention of q (D) over Le keys/values (row stride ld);
 * p (H rows of stride ldp) receives the probabilities. Le = 0: nothing. */
static void attend_row(float *z, float *p, size_t ldp, const float *q, const float *k,
                       const float *v, size_t ld, int Le, int H, int dh) {
    if (Le <= 0) return;
    /* 1/√d_h keeps the logits' variance independent of the head width */
    const float scale = 1.0f / sqrtf((float)dh);
    for (int h = 0; h < H; h++) {
        float *ph = p + (size_t)h * ldp;
        const float *qh = q + (size_t)h * (size_t)dh;
        float mx = -INFINITY;
        for (int s = 0; s < Le; s++) {
            const float *ks = k + (size_t)s * ld + (size_t)h * (size_t)dh;
            float dot = 0.0f;
            for (int i = 0; i < dh; i++) dot += qh[i] * ks[i];
            ph[s] = dot * scale;
            mx = ph[s] > mx ? ph[s] : mx;
        }
        float sum = 0.0f;
        for (int s = 0; s < Le; s++) {
            ph[s] = expf(ph[s] - mx);
            sum += ph[s];
        }
        const float inv = 1.0f / sum;
        for (int s = 0; s < Le; s++) ph[s] *= inv;
        float *zh = z + (size_t)h * (size_t)dh;
        for (int i = 0; i < dh; i++) {
            float acc = 0.0f;
            for (int s = 0; s < Le; s++) acc += ph[s] * v[(size_t)s * ld + (size_t)h * dh + i];
            zh[i] += acc;
        }
    }
}

/* ---- training forward ----------------------------------------------------- */

typedef struct fwd_job {
    const es_matt_cache *c;
    const es_matt_shape *sh;
    float *racc; /* (B·T, D) rows b·T used as the running-sum accumulator */
} fwd_job;

static void fwd_task(void *ctx, int b, int n_tasks) {
    (void)n_tasks;
    const fwd_job *j = ctx;
    const es_matt_shape *sh = j->sh;
    const es_matt_cache *c = j->c;
    const int D = sh->D, H = sh->H, dh = D / H, T = sh->T, S = sh->se->T;
    const int L = sh->len[b], Le = sh->se->len[b];
    const size_t r0 = (size_t)b * (size_t)T;
    const size_t e0 = es_seq_row(sh->se, b, 0);
    float *R = j->racc + r0 * (size_t)D;
    memset(R, 0, (size_t)D * sizeof(float));
    for (int t = 0; t < L; t++) {
        const float *vu = c->vu + (r0 + (size_t)t) * (size_t)D;
        float *z = c->z + (r0 + (size_t)t) * (size_t)D;
        for (int i = 0; i < D; i++) {
            R[i] += vu[i];
            z[i] = R[i] / (float)(t + 1);
        }
        float *p = c->p + ((size_t)b * (size_t)H * (size_t)T + (size_t)t) * (size_t)S;
        attend_row(z, p, (size_t)T * (size_t)S, c->q + (r0 + (size_t)t) * (size_t)D,
                   c->k + e0 * (size_t)D, c->v + e0 * (size_t)D, (size_t)D, Le, H, dh);
    }
    for (int t = L; t < T; t++) memset(c->z + (r0 + (size_t)t) * (size_t)D, 0, (size_t)D * sizeof(float));
}

void es_matt_forward(es_pool *pool, float *y, const es_matt_cache *c, const float *x,
                     const float *enc, const es_matt_w *w, const es_matt_shape *sh) {
    const int N = sh->B * sh->T, D = sh->D, De = sh->De;
    const int rows_e = (int)es_seq_rows(sh->se);
    es_linear_forward(pool, c->q, x, w->wq, NULL, N, D, D);
    es_linear_forward(pool, c->vu, x, w->wu, NULL, N, D, D);
    es_linear_forward(pool, c->k, enc, w->wk, NULL, rows_e, De, D);
    es_linear_forward(pool, c->v, enc, w->wv, NULL, rows_e, De, D);
    fwd_job j = {c, sh, y};
    es_pool_run(sh->B > 1 ? pool : NULL, sh->B, fwd_task, &j);
    es_linear_forward(pool, y, c->z, w->wo, NULL, N, D, D);
}

/* ---- backward ----------------------------------------------------------------- */

typedef struct bwd_job {
    const es_matt_cache *c;
    const es_matt_shape *sh;
    const es_matt_scratch *s;
} bwd_job;

static void bwd_task(void *ctx, int b, int n_tasks) {
    (void)n_tasks;
    const bwd_job *j = ctx;
    const es_matt_shape *sh = j->sh;
    const es_matt_cache *c = j->c;
    const es_matt_scratch *s = j->s;
    const int D = sh->D, H = sh->H, T = sh->T, S = sh->se->T;
    const int L = sh->len[b], Le = sh->se->len[b];
    const size_t r0 = (size_t)b * (size_t)T;
    const size_t e0 = es_seq_row(sh->se, b, 0);
    /* uniform path: d(W_u x_j) = Σ_{t≥j} dz_t / (t+1) */
    float *dvu = s->dvu + r0 * (size_t)D;
    for (int t = T - 1; t >= L; t--) memset(dvu + (size_t)t * D, 0, (size_t)D * sizeof(float));
    for (int t = L - 1; t >= 0; t--) {
        const float *dz = s->dz + (r0 + (size_t)t) * (size_t)D;
        float *o = dvu + (size_t)t * D;
        const float *prev = t + 1 < L ? o + D : NULL;
        for (int i = 0; i < D; i++) o[i] = (prev ? prev[i] : 0.0f) + dz[i] / (float)(t + 1);
    }
    /* cross attention: this task owns sequence b's dq, dk, dv rows */
    float *dq = s->dq + r0 * (size_t)D;
    memset(dq, 0, (size_t)T * (size_t)D * sizeof(float));
    float *dk = s->dk + e0 * (size_t)D, *dv = s->dv + e0 * (size_t)D;
    const float *k = c->k + e0 * (size_t)D, *v = c->v + e0 * (size_t)D;
    float *dp = s->dp + (size_t)b * (size_t)S;
    for (int t = 0; t < L && Le > 0; t++) {
        const float *dc = s->dz + (r0 + (size_t)t) * (size_t)D;
        const float *q = c->q + (r0 + (size_t)t) * (size_t)D;
        float *dqt = dq + (size_t)t * D;
        es_attn_row_grad(dqt, dk, dv, dp, dc, q, k, v,
                         c->p + ((size_t)b * (size_t)H * (size_t)T + (size_t)t) * (size_t)S,
                         (size_t)T * (size_t)S, Le, H, D);
    }
}

void es_matt_backward(es_pool *pool, float *dx, int acc_dx, float *denc, int acc_denc,
                      const es_matt_g *g,
                      const float *dy, const es_matt_cache *c, const float *x, const float *enc,
                      const es_matt_w *w, const es_matt_shape *sh, const es_matt_scratch *s) {
    const int N = sh->B * sh->T, D = sh->D, De = sh->De;
    const int rows_e = (int)es_seq_rows(sh->se);
    /* dz = dy·W_o, dW_o += dyᵀ z */
    es_linear_backward(pool, s->dz, 0, g->wo, NULL, dy, c->z, w->wo, N, D, D);
    memset(s->dk, 0, (size_t)rows_e * (size_t)D * sizeof(float));
    memset(s->dv, 0, (size_t)rows_e * (size_t)D * sizeof(float));
    bwd_job j = {c, sh, s};
    es_pool_run(sh->B > 1 ? pool : NULL, sh->B, bwd_task, &j);
    es_linear_backward(pool, dx, acc_dx, g->wu, NULL, s->dvu, x, w->wu, N, D, D);
    es_linear_backward(pool, dx, dx ? 1 : 0, g->wq, NULL, s->dq, x, w->wq, N, D, D);
    es_linear_backward(pool, denc, acc_denc, g->wk, NULL, s->dk, enc, w->wk, rows_e, De, D);
    es_linear_backward(pool, denc, denc ? 1 : 0, g->wv, NULL, s->dv, enc, w->wv, rows_e, De, D);
}

/* ---- decoding ------------------------------------------------------------------ */

void es_matt_memory(es_pool *pool, float *k, float *v, const float *enc, int Le, int De, int D,
                    const es_matt_w *w) {
    if (Le <= 0) return;
    es_linear_forward(pool, k, enc, w->wk, NULL, Le, De, D);
    es_linear_forward(pool, v, enc, w->wv, NULL, Le, De, D);
}

void es_matt_step(es_pool *pool, float *y, float *R, const float *x, const float *k,
                  const float *v, int Le, const es_matt_w *w, int n, int t, int D, int H,
                  float *scratch) {
    const size_t nD = (size_t)n * (size_t)D;
    float *q = scratch, *vu = q + nD, *z = vu + nD, *p = z + nD;
    es_linear_forward(pool, q, x, w->wq, NULL, n, D, D);
    es_linear_forward(pool, vu, x, w->wu, NULL, n, D, D);
    for (int r = 0; r < n; r++) {
        float *Rr = R + (size_t)r * D, *zr = z + (size_t)r * D;
        const float *vr = vu + (size_t)r * D;
        for (int i = 0; i < D; i++) {
            Rr[i] += vr[i];
            zr[i] = Rr[i] / (float)(t + 1);
        }
        attend_row(zr, p, (size_t)(Le > 0 ? Le : 1), q + (size_t)r * D, k, v, (size_t)D, Le, H,
                   D / H);
    }
    es_linear_forward(pool, y, z, w->wo, NULL, n, D, D);
}

/* ---- building blocks (matt.h) ---------------------------------------------------- */

void es_matt_mix_forward(es_pool *pool, const es_matt_cache *c, const es_matt_shape *sh,
                         float *scratch) {
    fwd_job j = {c, sh, scratch};
    es_pool_run(sh->B > 1 ? pool : NULL, sh->B, fwd_task, &j);
}

void es_matt_mix_backward(es_pool *pool, const es_matt_cache *c, const es_matt_shape *sh,
                          const es_matt_scratch *s) {
    const int D = sh->D;
    const size_t rows_e = es_seq_rows(sh->se);
    memset(s->dk, 0, rows_e * (size_t)D * sizeof(float));
    memset(s->dv, 0, rows_e * (size_t)D * sizeof(float));
    bwd_job j = {c, sh, s};
    es_pool_run(sh->B > 1 ? pool : NULL, sh->B, bwd_task, &j);
}

void es_matt_mix_step(float *z, float *R, const float *q, const float *vu, const float *k,
                      const float *v, int Le, int n, int t, int D, int H, float *p) {
    for (int r = 0; r < n; r++) {
        float *Rr = R + (size_t)r * D, *zr = z + (size_t)r * D;
        const float *vr = vu + (size_t)r * D;
        for (int i = 0; i < D; i++) {
            Rr[i] += vr[i];
            zr[i] = Rr[i] / (float)(t + 1);
        }
        attend_row(zr, p, (size_t)(Le > 0 ? Le : 1), q + (size_t)r * D, k, v, (size_t)D, Le, H,
                   D / H);
    }
}
