/*
 * sattn.c — standard (causal self / cross) multi-head attention: forward,
 * backward and the cached decoding steps (equations and legend in
 * sattn.h).
 *
 * One routine, attend_row, computes the attention of one query row for
 * every head; the training forward and both decoding steps call it with
 * the same key order (0, 1, …), so step-wise decoding reproduces teacher
 * forcing. Softmax: max-subtracted, expf, float sum (as matt.c).
 */
#include "nn/sattn.h"

#include "nn/attn_grad.h"
#include "nn/linear.h"

#include <math.h>
#include <string.h>

/* c (D) = ⊕_h attention of q (D) over Lk keys/values (row stride ld);
 * p (H rows of stride ldp) receives the probabilities. Lk = 0: c = 0. */
static void attend_row(float *c, float *p, size_t ldp, const float *q, const float *k,
                       const float *v, size_t ld, int Lk, int H, int dh) {
    memset(c, 0, (size_t)H * (size_t)dh * sizeof(float));
    if (Lk <= 0) return;
    /* 1/√d_h keeps the logits' variance independent of the head width */
    const float scale = 1.0f / sqrtf((float)dh);
    for (int h = 0; h < H; h++) {
        float *ph = p + (size_t)h * ldp;
        const size_t o = (size_t)h * (size_t)dh;
        const float *qh = q + o;
        float mx = -INFINITY;
        for (int s = 0; s < Lk; s++) {
            const float *ks = k + (size_t)s * ld + o;
            float dot = 0.0f;
            for (int i = 0; i < dh; i++) dot += qh[i] * ks[i];
            ph[s] = dot * scale;
            mx = ph[s] > mx ? ph[s] : mx;
        }
        float sum = 0.0f;
        for (int s = 0; s < Lk; s++) {
            ph[s] = expf(ph[s] - mx);
            sum += ph[s];
        }
        const float inv = 1.0f / sum;
        for (int s = 0; s < Lk; s++) ph[s] *= inv;
        float *ch = c + o;
        for (int s = 0; s < Lk; s++) {
            const float *vs = v + (size_t)s * ld + o;
            const float ps = ph[s];
            for (int i = 0; i < dh; i++) ch[i] += ps * vs[i];
        }
    }
}

/* Key/value row of position 0 of sequence b, its key count for query t,
 * and the key capacity S. */
static size_t kv_row0(const es_sattn_shape *sh, int b) {
    return sh->skv ? es_seq_row(sh->skv, b, 0) : (size_t)b * (size_t)sh->T;
}
static int kv_len(const es_sattn_shape *sh, int b, int t) {
    return sh->skv ? sh->skv->len[b] : t + 1;
}
static int kv_cap(const es_sattn_shape *sh) { return sh->skv ? sh->skv->T : sh->T; }
static size_t kv_rows(const es_sattn_shape *sh) {
    return sh->skv ? es_seq_rows(sh->skv) : (size_t)sh->B * (size_t)sh->T;
}

/* ---- training forward ----------------------------------------------------- */

typedef struct fwd_job {
    const es_sattn_cache *c;
    const es_sattn_shape *sh;
} fwd_job;

static void fwd_task(void *ctx, int b, int n_tasks) {
    (void)n_tasks;
    const fwd_job *j = ctx;
    const es_sattn_shape *sh = j->sh;
    const es_sattn_cache *c = j->c;
    const int D = sh->D, H = sh->H, dh = D / H, T = sh->T, S = kv_cap(sh);
    const int L = sh->len[b];
    const size_t r0 = (size_t)b * (size_t)T, k0 = kv_row0(sh, b);
    for (int t = 0; t < L; t++) {
        float *p = c->p + ((size_t)b * (size_t)H * (size_t)T + (size_t)t) * (size_t)S;
        attend_row(c->c + (r0 + (size_t)t) * (size_t)D, p, (size_t)T * (size_t)S,
                   c->q + (r0 + (size_t)t) * (size_t)D, c->k + k0 * (size_t)D,
                   c->v + k0 * (size_t)D, (size_t)D, kv_len(sh, b, t), H, dh);
    }
    if (L < T)
        memset(c->c + (r0 + (size_t)L) * (size_t)D, 0, (size_t)(T - L) * (size_t)D * sizeof(float));
}

void es_sattn_forward(es_pool *pool, float *y, const es_sattn_cache *c, const float *x,
                      const float *m, const es_sattn_w *w, const es_sattn_shape *sh) {
    const int N = sh->B * sh->T, D = sh->D;
    const int Dkv = sh->skv ? sh->Dkv : D;
    const float *src = sh->skv ? m : x;
    es_linear_forward(pool, c->q, x, w->wq, NULL, N, D, D);
    es_linear_forward(pool, c->k, src, w->wk, NULL, (int)kv_rows(sh), Dkv, D);
    es_linear_forward(pool, c->v, src, w->wv, NULL, (int)kv_rows(sh), Dkv, D);
    fwd_job j = {c, sh};
    es_pool_run(sh->B > 1 ? pool : NULL, sh->B, fwd_task, &j);
    es_linear_forward(pool, y, c->c, w->wo, NULL, N, D, D);
}

/* ---- backward ----------------------------------------------------------------- */

typedef struct bwd_job {
    const es_sattn_cache *c;
    const es_sattn_shape *sh;
    const es_sattn_scratch *s;
} bwd_job;

static void bwd_task(void *ctx, int b, int n_tasks) {
    (void)n_tasks;
    const bwd_job *j = ctx;
    const es_sattn_shape *sh = j->sh;
    const es_sattn_cache *c = j->c;
    const es_sattn_scratch *s = j->s;
    const int D = sh->D, H = sh->H, T = sh->T, S = kv_cap(sh);
    const int L = sh->len[b];
    const size_t r0 = (size_t)b * (size_t)T, k0 = kv_row0(sh, b);
    /* this task owns sequence b's dq rows and its key/value rows of dk, dv */
    float *dq = s->dq + r0 * (size_t)D;
    memset(dq, 0, (size_t)T * (size_t)D * sizeof(float));
    float *dk = s->dk + k0 * (size_t)D, *dv = s->dv + k0 * (size_t)D;
    const float *k = c->k + k0 * (size_t)D, *v = c->v + k0 * (size_t)D;
    float *dp = s->dp + (size_t)b * (size_t)S;
    for (int t = 0; t < L; t++) {
        const int Lk = kv_len(sh, b, t);
        const float *dc = s->dc + (r0 + (size_t)t) * (size_t)D;
        const float *q = c->q + (r0 + (size_t)t) * (size_t)D;
        float *dqt = dq + (size_t)t * D;
        es_attn_row_grad(dqt, dk, dv, dp, dc, q, k, v,
                         c->p + ((size_t)b * (size_t)H * (size_t)T + (size_t)t) * (size_t)S,
                         (size_t)T * (size_t)S, Lk, H, D);
    }
}

void es_sattn_backward(es_pool *pool, float *dx, int acc_dx, float *dm, int acc_dm,
                       const es_sattn_g *g, const float *dy, const es_sattn_cache *c,
                       const float *x, const float *m, const es_sattn_w *w,
                       const es_sattn_shape *sh, const es_sattn_scratch *s) {
    const int N = sh->B * sh->T, D = sh->D;
    const int rows_kv = (int)kv_rows(sh);
    /* dc = dy·W_o, dW_o += dyᵀ c */
    es_linear_backward(pool, s->dc, 0, g->wo, NULL, dy, c->c, w->wo, N, D, D);
    memset(s->dk, 0, (size_t)rows_kv * (size_t)D * sizeof(float));
    memset(s->dv, 0, (size_t)rows_kv * (size_t)D * sizeof(float));
    bwd_job j = {c, sh, s};
    es_pool_run(sh->B > 1 ? pool : NULL, sh->B, bwd_task, &j);
    es_linear_backward(pool, dx, acc_dx, g->wq, NULL, s->dq, x, w->wq, N, D, D);
    if (!sh->skv) {
        /* self-attention: keys and values are maps of x too */
        es_linear_backward(pool, dx, dx ? 1 : 0, g->wk, NULL, s->dk, x, w->wk, N, D, D);
        es_linear_backward(pool, dx, dx ? 1 : 0, g->wv, NULL, s->dv, x, w->wv, N, D, D);
    } else {
        es_linear_backward(pool, dm, acc_dm, g->wk, NULL, s->dk, m, w->wk, rows_kv, sh->Dkv, D);
        es_linear_backward(pool, dm, dm ? 1 : 0, g->wv, NULL, s->dv, m, w->wv, rows_kv, sh->Dkv,
                           D);
    }
}

/* ---- decoding ------------------------------------------------------------------ */

void es_sattn_memory(es_pool *pool, float *k, float *v, const float *m, int Le, int Dkv, int D,
                     const es_sattn_w *w) {
    if (Le <= 0) return;
    es_linear_forward(pool, k, m, w->wk, NULL, Le, Dkv, D);
    es_linear_forward(pool, v, m, w->wv, NULL, Le, Dkv, D);
}

void es_sattn_cross_step(es_pool *pool, float *y, const float *x, const float *k, const float *v,
                         int Le, const es_sattn_w *w, int n, int D, int H, float *scratch) {
    const size_t nD = (size_t)n * (size_t)D;
    float *q = scratch, *cc = q + nD, *p = cc + nD;
    es_linear_forward(pool, q, x, w->wq, NULL, n, D, D);
    for (int r = 0; r < n; r++)
        attend_row(cc + (size_t)r * D, p, (size_t)(Le > 0 ? Le : 1), q + (size_t)r * D, k, v,
                   (size_t)D, Le, H, D / H);
    es_linear_forward(pool, y, cc, w->wo, NULL, n, D, D);
}

void es_sattn_self_step(es_pool *pool, float *y, float *Kc, float *Vc, int ldc, const float *x,
                        const es_sattn_w *w, int n, int t, int D, int H, float *scratch) {
    const size_t nD = (size_t)n * (size_t)D, row = (size_t)ldc * (size_t)D;
    float *q = scratch, *k = q + nD, *v = k + nD, *cc = v + nD, *p = cc + nD;
    es_linear_forward(pool, q, x, w->wq, NULL, n, D, D);
    es_linear_forward(pool, k, x, w->wk, NULL, n, D, D);
    es_linear_forward(pool, v, x, w->wv, NULL, n, D, D);
    for (int r = 0; r < n; r++) {
        float *kr = Kc + (size_t)r * row, *vr = Vc + (size_t)r * row;
        memcpy(kr + (size_t)t * D, k + (size_t)r * D, (size_t)D * sizeof(float));
        memcpy(vr + (size_t)t * D, v + (size_t)r * D, (size_t)D * sizeof(float));
        attend_row(cc + (size_t)r * D, p, (size_t)(t + 1), q + (size_t)r * D, kr, vr, (size_t)D,
                   t + 1, H, D / H);
    }
    es_linear_forward(pool, y, cc, w->wo, NULL, n, D, D);
}
