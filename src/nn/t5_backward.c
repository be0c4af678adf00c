/*
 * t5_backward.c — T5 training forward (caches activations) and backward,
 * HF modeling_t5.py semantics (train mode when dropout > 0, eval when 0).
 * Legend and contracts in nn/t5_train.h; derivations in docs/t5-training.md.
 *
 * Forward numerics follow the inference engine (t5_forward.c): the same
 * kernel-table GEMMs, RMS norm (ops.c), fp32 softmax, no 1/sqrt(d_kv)
 * scaling, padded keys excluded (HF adds finfo.min, whose exp is exactly
 * 0), the tied rescale applied as an fp32 scalar. Attention scores are GEMM
 * dots here (blocked, FMA) where inference uses the attn_row kernel, so
 * with dropout 0 the loss equals es_session's teacher forcing to float
 * rounding (summation order), not bit for bit.
 *
 * Cached per layer (Re = B·S encoder rows, Rd = B·T decoder rows):
 *   x_in (R, D)  residual stream entering the block;  q, k, v (R, I);
 *   P (B, H, nq, nk) softmax probabilities (before dropout);  att (R, I);
 *   decoder: xc_in (Rd, D), cq (Rd, I), ck, cv (Re, I), Pc, att_c;
 *   x_mid (R, D) stream entering the FFN;  h (R, F) pre-activation,
 *   g (R, F) wi_1 output when gated;  dropout masks (uint8) when enabled.
 * Normed inputs and the FFN product u are recomputed in the backward (cheap
 * O(R·D) / O(R·F) passes) rather than stored.
 *
 * Backward order: LM head + CE per chunk of labelled rows (dlogits never
 * held for the whole batch), decoder blocks in reverse (cross-attention
 * K/V gradients accumulate into d(enc_out)), then the encoder. Embedding
 * gradients are scatter-added serially in row order.
 *
 * Attention: the products (QKᵀ, P̃V; dO·Vᵀ, P̃ᵀdO, dS·K, dSᵀQ) are
 * kernel-table GEMMs per (row, head) over strided views of q/k/v, so they
 * run at GEMM speed (SIMD, packed); the O(nq·nk) parts (bias, padding and
 * causal masks, softmax and its backward, dropout) are one pool task per
 * (row, head). The cross entropy is one pool task per labelled row.
 *
 * Determinism: GEMMs split by fixed output blocks in the kernels; relative
 * bias gradients go to per-task partials summed in row order; per-row
 * losses are summed in row order; dropout masks are drawn serially.
 * Results are identical for any thread count.
 */
#include "nn/t5_train.h"

#include "kern/kern.h"
#include "nn/dropout.h"
#include "nn/ops.h"

#include <math.h>
#include <string.h>

#define LM_CHUNK 64 /* labelled rows per LM-head pass: bounds the (rows, V) logits */

enum { ATT_ENC, ATT_DEC_SELF, ATT_CROSS };

typedef struct layer_cache {
    float *x_in, *q, *k, *v, *P, *att;
    float *xc_in, *cq, *ck, *cv, *Pc, *att_c; /* decoder only */
    float *x_mid, *h, *g;
    uint8_t *m_p, *m_att, *m_pc, *m_catt, *m_h, *m_ff; /* dropout masks or NULL */
} layer_cache;

struct es_t5_tws {
    es_t5_config cfg;
    es_pool *pool;
    int max_B, max_S, max_T, with_dropout;
    size_t bytes;
    layer_cache *enc, *dec;
    float *enc_x_fin, *enc_out;   /* (Re, D) before / after the final norm */
    float *dec_x_fin, *hs;        /* (Rd, D) before the final norm; LM-head input */
    uint8_t *m_emb_e, *m_emb_d, *m_fin_e, *m_fin_d;
    /* scratch, Rm = max(Re, Rd) rows */
    float *xn, *dxn, *ao, *dx, *d_enc, *dhs; /* (Rm, D) */
    float *dq, *dk, *dv, *datt, *dck, *dcv;  /* (Rm, I) */
    float *u, *du, *dg;                      /* (Rm, F) */
    float *logits;                           /* (LM_CHUNK, V) */
    float *dlogits;                          /* (LM_CHUNK, V) */
    float *hsel, *dhsel;                     /* (LM_CHUNK, D) */
    int32_t *lrows, *lsel;                   /* (Rd) labelled rows, chunk labels */
    double *row_loss;                        /* (LM_CHUNK) per-row cross entropy */
    float *drel;                             /* (max_B·H, NB) per-task bias partials */
    float *dp;                               /* (max_B·H, L, L) attention backward dP / dS */
    float *pdrop;                            /* (max_B·H, L, L) dropped P̃, with dropout only */
    int32_t *enc_bucket, *dec_bucket;        /* see t5_forward.c */
    int32_t *kmask;                          /* (max_B·S) encoder key mask 0/1 */
};

/* ---- allocation ------------------------------------------------------------ */

typedef struct alloc_ctx {
    es_t5_tws *ws;
    es_status s;
    es_error *err;
} alloc_ctx;

static void *take(alloc_ctx *a, size_t n, size_t elem) {
    if (a->s) return NULL;
    size_t bytes;
    if (!es_mul_ok(n ? n : 1, elem, &bytes)) {
        a->s = es_errf(a->err, ES_ERR_NOMEM, "t5 training workspace too large for the address space");
        return NULL;
    }
    void *p = es_malloc_aligned(bytes);
    if (!p) {
        a->s = es_errf(a->err, ES_ERR_NOMEM, "out of memory allocating %zu bytes of t5 training workspace",
                       bytes);
        return NULL;
    }
    memset(p, 0, bytes);
    a->ws->bytes += bytes;
    return p;
}

static size_t mul3(size_t a, size_t b, size_t c, alloc_ctx *ac) {
    size_t r;
    if (!es_mul_ok(a, b, &r) || !es_mul_ok(r, c, &r)) {
        if (!ac->s) ac->s = es_errf(ac->err, ES_ERR_NOMEM, "t5 training workspace too large");
        return 0;
    }
    return r;
}

static void free_cache(layer_cache *c) {
    void *ps[] = {c->x_in, c->q,     c->k,     c->v,    c->P,   c->att,  c->xc_in,  c->cq,
                  c->ck,   c->cv,    c->Pc,    c->att_c, c->x_mid, c->h,  c->g,      c->m_p,
                  c->m_att, c->m_pc, c->m_catt, c->m_h, c->m_ff};
    for (size_t i = 0; i < ES_ARRAY_LEN(ps); i++) es_free_aligned(ps[i]);
}

void es_t5_tws_free(es_t5_tws *ws) {
    if (!ws) return;
    if (ws->enc)
        for (int l = 0; l < ws->cfg.n_enc_layers; l++) free_cache(&ws->enc[l]);
    if (ws->dec)
        for (int l = 0; l < ws->cfg.n_dec_layers; l++) free_cache(&ws->dec[l]);
    es_free(ws->enc);
    es_free(ws->dec);
    void *ps[] = {ws->enc_x_fin, ws->enc_out, ws->dec_x_fin, ws->hs,     ws->m_emb_e, ws->m_emb_d,
                  ws->m_fin_e,   ws->m_fin_d, ws->xn,        ws->dxn,    ws->ao,      ws->dx,
                  ws->d_enc,     ws->dhs,     ws->dq,        ws->dk,     ws->dv,      ws->datt,
                  ws->dck,       ws->dcv,     ws->u,         ws->du,     ws->dg,      ws->logits,
                  ws->dlogits,   ws->hsel,    ws->dhsel,     ws->lrows,  ws->lsel,    ws->row_loss,    ws->drel,
                  ws->dp,        ws->pdrop,   ws->enc_bucket, ws->dec_bucket, ws->kmask};
    for (size_t i = 0; i < ES_ARRAY_LEN(ps); i++) es_free_aligned(ps[i]);
    es_free(ws);
}

size_t es_t5_tws_bytes(const es_t5_tws *ws) { return ws ? ws->bytes : 0; }

static void alloc_cache(alloc_ctx *a, layer_cache *c, const es_t5_config *cf, int dec, size_t B,
                        size_t S, size_t T, int drop) {
    const size_t D = (size_t)cf->d_model, I = (size_t)cf->n_heads * cf->d_kv,
                 F = (size_t)cf->d_ff, H = (size_t)cf->n_heads;
    const size_t R = B * (dec ? T : S), nk = dec ? T : S;
    c->x_in = take(a, mul3(R, D, 1, a), sizeof(float));
    c->q = take(a, mul3(R, I, 1, a), sizeof(float));
    c->k = take(a, mul3(R, I, 1, a), sizeof(float));
    c->v = take(a, mul3(R, I, 1, a), sizeof(float));
    size_t np = mul3(B * H, R / B, nk, a);
    c->P = take(a, np, sizeof(float));
    c->att = take(a, mul3(R, I, 1, a), sizeof(float));
    size_t npc = mul3(B * H, T, S, a);
    if (dec) {
        c->xc_in = take(a, mul3(R, D, 1, a), sizeof(float));
        c->cq = take(a, mul3(R, I, 1, a), sizeof(float));
        c->ck = take(a, mul3(B * S, I, 1, a), sizeof(float));
        c->cv = take(a, mul3(B * S, I, 1, a), sizeof(float));
        c->Pc = take(a, npc, sizeof(float));
        c->att_c = take(a, mul3(R, I, 1, a), sizeof(float));
    }
    c->x_mid = take(a, mul3(R, D, 1, a), sizeof(float));
    c->h = take(a, mul3(R, F, 1, a), sizeof(float));
    if (cf->gated) c->g = take(a, mul3(R, F, 1, a), sizeof(float));
    if (drop) {
        c->m_p = take(a, np, 1);
        c->m_att = take(a, mul3(R, D, 1, a), 1);
        if (dec) {
            c->m_pc = take(a, npc, 1);
            c->m_catt = take(a, mul3(R, D, 1, a), 1);
        }
        c->m_h = take(a, mul3(R, F, 1, a), 1);
        c->m_ff = take(a, mul3(R, D, 1, a), 1);
    }
}

es_status es_t5_tws_new(es_t5_tws **out, const es_t5_config *c, es_pool *pool, int max_B,
                        int max_S, int max_T, int with_dropout, es_error *err) {
    *out = NULL;
    if (max_B < 1 || max_S < 1 || max_T < 1)
        return es_errf(err, ES_ERR_ARG, "t5 training workspace: sizes must be >= 1 (B %d, S %d, T %d)",
                       max_B, max_S, max_T);
    es_t5_tws *ws = es_calloc(1, sizeof *ws);
    if (!ws) return es_errf(err, ES_ERR_NOMEM, "out of memory allocating the t5 training workspace");
    ws->cfg = *c;
    ws->pool = pool;
    ws->max_B = max_B;
    ws->max_S = max_S;
    ws->max_T = max_T;
    ws->with_dropout = with_dropout != 0;
    alloc_ctx a = {ws, ES_OK, err};
    const size_t B = (size_t)max_B, S = (size_t)max_S, T = (size_t)max_T;
    const size_t D = (size_t)c->d_model, I = (size_t)c->n_heads * c->d_kv, F = (size_t)c->d_ff,
                 H = (size_t)c->n_heads, V = (size_t)c->vocab;
    const size_t Re = B * S, Rd = B * T, Rm = Re > Rd ? Re : Rd, L = S > T ? S : T;
    ws->enc = es_calloc((size_t)c->n_enc_layers, sizeof *ws->enc);
    ws->dec = es_calloc((size_t)c->n_dec_layers, sizeof *ws->dec);
    if (!ws->enc || !ws->dec) a.s = es_errf(err, ES_ERR_NOMEM, "out of memory (t5 training caches)");
    for (int l = 0; l < c->n_enc_layers && !a.s; l++)
        alloc_cache(&a, &ws->enc[l], c, 0, B, S, T, ws->with_dropout);
    for (int l = 0; l < c->n_dec_layers && !a.s; l++)
        alloc_cache(&a, &ws->dec[l], c, 1, B, S, T, ws->with_dropout);
    ws->enc_x_fin = take(&a, mul3(Re, D, 1, &a), sizeof(float));
    ws->enc_out = take(&a, mul3(Re, D, 1, &a), sizeof(float));
    ws->dec_x_fin = take(&a, mul3(Rd, D, 1, &a), sizeof(float));
    ws->hs = take(&a, mul3(Rd, D, 1, &a), sizeof(float));
    if (ws->with_dropout) {
        ws->m_emb_e = take(&a, mul3(Re, D, 1, &a), 1);
        ws->m_emb_d = take(&a, mul3(Rd, D, 1, &a), 1);
        ws->m_fin_e = take(&a, mul3(Re, D, 1, &a), 1);
        ws->m_fin_d = take(&a, mul3(Rd, D, 1, &a), 1);
    }
    float **rd[] = {&ws->xn, &ws->dxn, &ws->ao, &ws->dx, &ws->d_enc, &ws->dhs};
    for (size_t i = 0; i < ES_ARRAY_LEN(rd); i++) *rd[i] = take(&a, mul3(Rm, D, 1, &a), sizeof(float));
    float **ri[] = {&ws->dq, &ws->dk, &ws->dv, &ws->datt, &ws->dck, &ws->dcv};
    for (size_t i = 0; i < ES_ARRAY_LEN(ri); i++) *ri[i] = take(&a, mul3(Rm, I, 1, &a), sizeof(float));
    float **rf[] = {&ws->u, &ws->du, &ws->dg};
    for (size_t i = 0; i < ES_ARRAY_LEN(rf); i++) *rf[i] = take(&a, mul3(Rm, F, 1, &a), sizeof(float));
    ws->logits = take(&a, mul3(LM_CHUNK, V, 1, &a), sizeof(float));
    ws->dlogits = take(&a, mul3(LM_CHUNK, V, 1, &a), sizeof(float));
    ws->hsel = take(&a, mul3(LM_CHUNK, D, 1, &a), sizeof(float));
    ws->dhsel = take(&a, mul3(LM_CHUNK, D, 1, &a), sizeof(float));
    ws->lrows = take(&a, Rd, sizeof(int32_t));
    ws->lsel = take(&a, LM_CHUNK, sizeof(int32_t));
    ws->row_loss = take(&a, LM_CHUNK, sizeof(double));
    ws->drel = take(&a, mul3(B * H, (size_t)c->rel_buckets, 1, &a), sizeof(float));
    ws->dp = take(&a, mul3(B * H, L, L, &a), sizeof(float));
    if (ws->with_dropout) ws->pdrop = take(&a, mul3(B * H, L, L, &a), sizeof(float));
    ws->enc_bucket = take(&a, 2 * S - 1, sizeof(int32_t));
    ws->dec_bucket = take(&a, T, sizeof(int32_t));
    ws->kmask = take(&a, Re, sizeof(int32_t));
    if (a.s) {
        es_t5_tws_free(ws);
        return a.s;
    }
    for (int d = -(max_S - 1); d <= max_S - 1; d++)
        ws->enc_bucket[d + max_S - 1] = es_t5_rel_bucket(d, true, c->rel_buckets, c->rel_max_distance);
    for (int n = 0; n < max_T; n++)
        ws->dec_bucket[n] = es_t5_rel_bucket(-n, false, c->rel_buckets, c->rel_max_distance);
    *out = ws;
    return ES_OK;
}

/* ---- linear layers ------------------------------------------------------------- */

/* Y (M, N) (+)= X (M, K) · W (N, K)ᵀ */
static void lin_fwd(es_pool *pool, float *Y, const float *X, const float *W, int M, int N, int K,
                    int acc) {
    if (M > 0) es_kern()->gemm_nt(pool, Y, N, X, K, W, K, M, N, K, acc);
}

/* dX (M, K) (+)= dY (M, N) · W (N, K);  dW (N, K) += dY ᵀ · X. Either may be NULL. */
static void lin_bwd(es_pool *pool, float *dX, int acc_dx, float *dW, const float *dY,
                    const float *X, const float *W, int M, int N, int K) {
    if (M <= 0) return;
    if (dW) es_kern()->gemm_tn(pool, dW, K, dY, N, X, K, N, K, M, 1);
    if (dX) es_kern()->gemm_nn(pool, dX, K, dY, N, W, K, M, K, N, acc_dx);
}

/* ---- attention ----------------------------------------------------------------- */

typedef struct att_job {
    const es_t5_tws *ws;
    int mode, nq, nk, B;
    const float *q, *k, *v;    /* (B·nq, I), (B·nk, I) */
    const int32_t *kmask;      /* (B, nk) 0/1 or NULL */
    const float *rel;          /* (NB, H) or NULL */
    float *P;                  /* (B, H, nq, nk) softmax probabilities */
    const uint8_t *pm;         /* dropout mask over P or NULL */
    float pscale;              /* 1/(1-p) */
    float *out;                /* forward: (B·nq, I) */
    const float *dout;         /* backward: (B·nq, I) */
    float *dq, *dk, *dv;       /* backward outputs (overwritten) */
} att_job;

static int bucket_of(const att_job *j, int i, int t) {
    const es_t5_tws *ws = j->ws;
    if (j->mode == ATT_ENC) return ws->enc_bucket[t - i + ws->max_S - 1];
    return ws->dec_bucket[i - t];
}

/* Keys query i may attend to: all nk, or i + 1 in causal self-attention. */
static int keys_of(const att_job *j, int i) { return j->mode == ATT_DEC_SELF ? i + 1 : j->nk; }

/* The per-(row, head) matrices of a job are strided views: Q_bh (nq, dk)
 * and K_bh, V_bh (nk, dk) with row stride I inside q/k/v; P_bh (nq, nk)
 * contiguous. The products over them are kernel-table GEMMs run one
 * (row, head) after another with the pool (each GEMM splits over threads
 * by fixed output blocks), so results do not depend on the thread count;
 * the O(nq·nk) element-wise parts run one pool task per (row, head). */
static size_t off_q(const att_job *j, int b, int h) {
    return (size_t)b * j->nq * j->ws->cfg.n_heads * j->ws->cfg.d_kv + (size_t)h * j->ws->cfg.d_kv;
}
static size_t off_k(const att_job *j, int b, int h) {
    return (size_t)b * j->nk * j->ws->cfg.n_heads * j->ws->cfg.d_kv + (size_t)h * j->ws->cfg.d_kv;
}
static size_t off_p(const att_job *j, int b, int h) {
    return ((size_t)b * j->ws->cfg.n_heads + (size_t)h) * j->nq * j->nk;
}

/* Scores (in P, from the QKᵀ GEMM) -> + bias, padded keys and the causal
 * future excluded -> softmax; P̃ = dropout(P) into ws->pdrop when enabled. */
static void att_softmax_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const att_job *j = ctx;
    const es_t5_tws *ws = j->ws;
    const int H = ws->cfg.n_heads, b = task / H, h = task % H;
    const int32_t *mask = j->kmask ? j->kmask + (size_t)b * j->nk : NULL;
    for (int i = 0; i < j->nq; i++) {
        const size_t prow = off_p(j, b, h) + (size_t)i * j->nk;
        float *p = j->P + prow;
        const int nk = keys_of(j, i);
        float mx = -INFINITY;
        int n_valid = 0;
        for (int t = 0; t < nk; t++) {
            if (mask && !mask[t]) continue;
            if (j->rel) p[t] += j->rel[(size_t)bucket_of(j, i, t) * H + h];
            if (p[t] > mx) mx = p[t];
            n_valid++;
        }
        if (n_valid == 0) {
            /* All keys padded: HF's scores are all finfo.min -> uniform weights
             * (no gradient reaches q, k or the bias; see docs/t5-training.md). */
            for (int t = 0; t < nk; t++) p[t] = 1.0f / (float)nk;
        } else {
            float sum = 0.0f;
            for (int t = 0; t < nk; t++) {
                if (mask && !mask[t]) {
                    p[t] = 0.0f;
                    continue;
                }
                p[t] = expf(p[t] - mx);
                sum += p[t];
            }
            const float inv = 1.0f / sum;
            for (int t = 0; t < nk; t++) p[t] *= inv;
        }
        for (int t = nk; t < j->nk; t++) p[t] = 0.0f;
        if (j->pm) {
            float *pd = ws->pdrop + prow;
            for (int t = 0; t < j->nk; t++) pd[t] = j->pm[prow + t] ? p[t] * j->pscale : 0.0f;
        }
    }
}

/* dP̃ (in ws->dp) -> dP (through the dropout mask) -> dS = softmax
 * backward, in place; per-task relative-bias partials. Rows whose keys are
 * all padding had constant (uniform) weights: dS = 0. */
static void att_dsoftmax_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const att_job *j = ctx;
    const es_t5_tws *ws = j->ws;
    const int H = ws->cfg.n_heads, NB = ws->cfg.rel_buckets, b = task / H, h = task % H;
    const int32_t *mask = j->kmask ? j->kmask + (size_t)b * j->nk : NULL;
    float *drel = ws->drel + (size_t)task * NB;
    if (j->rel)
        for (int n = 0; n < NB; n++) drel[n] = 0.0f;
    for (int i = 0; i < j->nq; i++) {
        const size_t prow = off_p(j, b, h) + (size_t)i * j->nk;
        const float *p = j->P + prow;
        float *dp = ws->dp + prow;
        const int nk = keys_of(j, i);
        int n_valid = 0;
        for (int t = 0; t < nk; t++) n_valid += !mask || mask[t];
        if (n_valid == 0) {
            for (int t = 0; t < j->nk; t++) dp[t] = 0.0f;
            continue;
        }
        if (j->pm)
            for (int t = 0; t < nk; t++) dp[t] = j->pm[prow + t] ? dp[t] * j->pscale : 0.0f;
        if (mask)
            for (int t = 0; t < nk; t++)
                if (!mask[t]) dp[t] = 0.0f;
        es_softmax_backward_f32(dp, p, nk);
        for (int t = nk; t < j->nk; t++) dp[t] = 0.0f;
        if (j->rel)
            for (int t = 0; t < nk; t++) drel[bucket_of(j, i, t)] += dp[t];
    }
}

static void attention_fwd_job(es_pool *pool, att_job *j) {
    const es_t5_config *c = &j->ws->cfg;
    const int H = c->n_heads, dk = c->d_kv, I = H * dk;
    const es_kern_table *kt = es_kern();
    for (int b = 0; b < j->B; b++)
        for (int h = 0; h < H; h++) /* S_bh (nq, nk) = Q_bh · K_bhᵀ */
            kt->gemm_nt(pool, j->P + off_p(j, b, h), j->nk, j->q + off_q(j, b, h), I,
                        j->k + off_k(j, b, h), I, j->nq, j->nk, dk, 0);
    es_pool_run(pool, j->B * H, att_softmax_task, j);
    const float *Pt = j->pm ? j->ws->pdrop : j->P;
    for (int b = 0; b < j->B; b++)
        for (int h = 0; h < H; h++) /* O_bh (nq, dk) = P̃_bh · V_bh */
            kt->gemm_nn(pool, j->out + off_q(j, b, h), I, Pt + off_p(j, b, h), j->nk,
                        j->v + off_k(j, b, h), I, j->nq, dk, j->nk, 0);
}

static void attention_bwd_job(es_pool *pool, att_job *j) {
    const es_t5_config *c = &j->ws->cfg;
    const int H = c->n_heads, dk = c->d_kv, I = H * dk;
    const es_kern_table *kt = es_kern();
    if (j->pm) /* P̃ again (the forward's copy was overwritten by later layers) */
        for (int b = 0; b < j->B; b++)
            for (int h = 0; h < H; h++) {
                const size_t o = off_p(j, b, h);
                for (size_t e = 0; e < (size_t)j->nq * j->nk; e++)
                    j->ws->pdrop[o + e] = j->pm[o + e] ? j->P[o + e] * j->pscale : 0.0f;
            }
    const float *Pt = j->pm ? j->ws->pdrop : j->P;
    float *dp = j->ws->dp;
    for (int b = 0; b < j->B; b++)
        for (int h = 0; h < H; h++) {
            const size_t oq = off_q(j, b, h), ok = off_k(j, b, h), op = off_p(j, b, h);
            /* dP̃_bh (nq, nk) = dO_bh · V_bhᵀ;  dV_bh (nk, dk) = P̃_bhᵀ · dO_bh */
            kt->gemm_nt(pool, dp + op, j->nk, j->dout + oq, I, j->v + ok, I, j->nq, j->nk, dk, 0);
            kt->gemm_tn(pool, j->dv + ok, I, Pt + op, j->nk, j->dout + oq, I, j->nk, dk, j->nq, 0);
        }
    es_pool_run(pool, j->B * H, att_dsoftmax_task, j);
    for (int b = 0; b < j->B; b++)
        for (int h = 0; h < H; h++) {
            const size_t oq = off_q(j, b, h), ok = off_k(j, b, h), op = off_p(j, b, h);
            /* dQ_bh = dS_bh · K_bh;  dK_bh = dS_bhᵀ · Q_bh */
            kt->gemm_nn(pool, j->dq + oq, I, dp + op, j->nk, j->k + ok, I, j->nq, dk, j->nk, 0);
            kt->gemm_tn(pool, j->dk + ok, I, dp + op, j->nk, j->q + oq, I, j->nk, dk, j->nq, 0);
        }
}

/* Adds the per-task bias partials of the last backward (B rows) to g_rel
 * (NB, H), rows summed in order. */
static void reduce_drel(const es_t5_tws *ws, float *g_rel, int B) {
    const int H = ws->cfg.n_heads, NB = ws->cfg.rel_buckets;
    for (int h = 0; h < H; h++)
        for (int n = 0; n < NB; n++) {
            float s = 0.0f;
            for (int b = 0; b < B; b++) s += ws->drel[((size_t)b * H + h) * NB + n];
            g_rel[(size_t)n * H + h] += s;
        }
}

/* ---- dropout helpers ----------------------------------------------------------- */

static void drop_fwd(float *x, uint8_t *m, size_t n, float p, es_rng *rng) {
    if (p > 0.0f) es_dropout_forward(x, m, n, p, rng);
}

static void drop_bwd(float *d, const uint8_t *m, size_t n, float p) {
    if (p > 0.0f) es_dropout_backward(d, m, n, p);
}

static void draw_mask(uint8_t *m, size_t n, float p, es_rng *rng) {
    for (size_t i = 0; i < n; i++) m[i] = es_rng_uniformf(rng) >= p;
}

/* ---- blocks: forward ----------------------------------------------------------- */

typedef struct fctx {
    es_t5_tws *ws;
    const es_t5_model *w;
    const es_t5_batch *b;
    float p;      /* dropout */
    es_rng *rng;
} fctx;

static void embed_rows(const es_t5_model *m, float *x, const int32_t *ids, int n) {
    const size_t D = (size_t)m->cfg.d_model;
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * D, m->embed + (size_t)ids[i] * D, D * sizeof(float));
}

/* out (R, D) = x (R, D) + dropout(att (R, I) · Woᵀ) */
static void residual_proj(fctx *f, float *out, const float *x, const float *att, const float *Wo,
                          uint8_t *m, int R, int N, int K) {
    es_t5_tws *ws = f->ws;
    memcpy(out, x, (size_t)R * N * sizeof(float));
    if (f->p > 0.0f) {
        lin_fwd(ws->pool, ws->ao, att, Wo, R, N, K, 0);
        drop_fwd(ws->ao, m, (size_t)R * N, f->p, f->rng);
        for (size_t i = 0; i < (size_t)R * N; i++) out[i] += ws->ao[i];
    } else {
        lin_fwd(ws->pool, out, att, Wo, R, N, K, 1);
    }
}

/* ReLU in place, branch-free so it vectorises (as t5_forward.c): the signs
 * of pre-activations are random and a branch per element mispredicts half
 * the time. NaN stays NaN (NaN < 0 is false), as es_relu_f32 and torch. */
static void relu_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static void apply_act(const es_t5_config *c, float *x, size_t n) {
    switch (c->act) {
    case ES_T5_ACT_RELU: relu_inplace(x, n); break;
    case ES_T5_ACT_GELU_TANH: es_gelu_tanh_f32(x, n); break;
    case ES_T5_ACT_GELU_ERF: es_gelu_erf_f32(x, n); break;
    }
}

/* u (R, F) = dropout(act(h) [⊙ g]) from the cached h, g and mask. */
static void ffn_u(const es_t5_tws *ws, float *u, const layer_cache *lc, int R, float p) {
    const size_t n = (size_t)R * ws->cfg.d_ff;
    memcpy(u, lc->h, n * sizeof(float));
    apply_act(&ws->cfg, u, n);
    if (ws->cfg.gated)
        for (size_t i = 0; i < n; i++) u[i] *= lc->g[i];
    if (p > 0.0f) es_dropout_backward(u, lc->m_h, n, p); /* same as applying the mask */
}

/* FFN sublayer: next (R, D) = x_mid + dropout(wo(u)). */
static void ffn_fwd(fctx *f, layer_cache *lc, const es_t5_block *blk, float *next, int R) {
    es_t5_tws *ws = f->ws;
    const es_t5_config *c = &ws->cfg;
    const int D = c->d_model, F = c->d_ff;
    es_rmsnorm_f32(ws->xn, lc->x_mid, blk->ln_ff, R, D, c->eps);
    lin_fwd(ws->pool, lc->h, ws->xn, blk->wi, R, F, D, 0);
    if (c->gated) lin_fwd(ws->pool, lc->g, ws->xn, blk->wi1, R, F, D, 0);
    if (f->p > 0.0f) draw_mask(lc->m_h, (size_t)R * F, f->p, f->rng);
    ffn_u(ws, ws->u, lc, R, f->p);
    residual_proj(f, next, lc->x_mid, ws->u, blk->wo, lc->m_ff, R, D, F);
}

static void attention_fwd(fctx *f, att_job *j, int B) {
    j->ws = f->ws;
    j->B = B;
    j->pscale = f->p > 0.0f ? 1.0f / (1.0f - f->p) : 1.0f;
    attention_fwd_job(f->ws->pool, j);
}

static void encoder_fwd(fctx *f) {
    es_t5_tws *ws = f->ws;
    const es_t5_model *m = f->w;
    const es_t5_config *c = &ws->cfg;
    const int B = f->b->B, S = f->b->S, R = B * S, D = c->d_model, I = c->n_heads * c->d_kv;
    const size_t H = (size_t)c->n_heads;
    for (int i = 0; i < R; i++) ws->kmask[i] = f->b->mask[i] != 0;
    embed_rows(m, ws->enc[0].x_in, f->b->ids, R);
    drop_fwd(ws->enc[0].x_in, ws->m_emb_e, (size_t)R * D, f->p, f->rng);
    for (int l = 0; l < c->n_enc_layers; l++) {
        layer_cache *lc = &ws->enc[l];
        const es_t5_block *blk = &m->enc[l];
        es_rmsnorm_f32(ws->xn, lc->x_in, blk->ln_sa, R, D, c->eps);
        lin_fwd(ws->pool, lc->q, ws->xn, blk->q, R, I, D, 0);
        lin_fwd(ws->pool, lc->k, ws->xn, blk->k, R, I, D, 0);
        lin_fwd(ws->pool, lc->v, ws->xn, blk->v, R, I, D, 0);
        if (f->p > 0.0f) draw_mask(lc->m_p, (size_t)B * H * S * S, f->p, f->rng);
        att_job j = {.mode = ATT_ENC, .nq = S, .nk = S, .q = lc->q, .k = lc->k, .v = lc->v,
                     .kmask = ws->kmask, .rel = m->enc_rel, .P = lc->P,
                     .pm = f->p > 0.0f ? lc->m_p : NULL, .out = lc->att};
        attention_fwd(f, &j, B);
        residual_proj(f, lc->x_mid, lc->x_in, lc->att, blk->o, lc->m_att, R, D, I);
        float *next = l + 1 < c->n_enc_layers ? ws->enc[l + 1].x_in : ws->enc_x_fin;
        ffn_fwd(f, lc, blk, next, R);
    }
    es_rmsnorm_f32(ws->enc_out, ws->enc_x_fin, m->enc_final_ln, R, D, c->eps);
    drop_fwd(ws->enc_out, ws->m_fin_e, (size_t)R * D, f->p, f->rng);
}

static void decoder_fwd(fctx *f) {
    es_t5_tws *ws = f->ws;
    const es_t5_model *m = f->w;
    const es_t5_config *c = &ws->cfg;
    const int B = f->b->B, S = f->b->S, T = f->b->T, R = B * T, Re = B * S;
    const int D = c->d_model, I = c->n_heads * c->d_kv;
    const size_t H = (size_t)c->n_heads;
    embed_rows(m, ws->dec[0].x_in, f->b->dec_in, R);
    drop_fwd(ws->dec[0].x_in, ws->m_emb_d, (size_t)R * D, f->p, f->rng);
    for (int l = 0; l < c->n_dec_layers; l++) {
        layer_cache *lc = &ws->dec[l];
        const es_t5_block *blk = &m->dec[l];
        es_rmsnorm_f32(ws->xn, lc->x_in, blk->ln_sa, R, D, c->eps);
        lin_fwd(ws->pool, lc->q, ws->xn, blk->q, R, I, D, 0);
        lin_fwd(ws->pool, lc->k, ws->xn, blk->k, R, I, D, 0);
        lin_fwd(ws->pool, lc->v, ws->xn, blk->v, R, I, D, 0);
        if (f->p > 0.0f) draw_mask(lc->m_p, (size_t)B * H * T * T, f->p, f->rng);
        att_job j = {.mode = ATT_DEC_SELF, .nq = T, .nk = T, .q = lc->q, .k = lc->k, .v = lc->v,
                     .rel = m->dec_rel, .P = lc->P, .pm = f->p > 0.0f ? lc->m_p : NULL,
                     .out = lc->att};
        attention_fwd(f, &j, B);
        residual_proj(f, lc->xc_in, lc->x_in, lc->att, blk->o, lc->m_att, R, D, I);

        es_rmsnorm_f32(ws->xn, lc->xc_in, blk->ln_ca, R, D, c->eps);
        lin_fwd(ws->pool, lc->cq, ws->xn, blk->cq, R, I, D, 0);
        lin_fwd(ws->pool, lc->ck, ws->enc_out, blk->ck, Re, I, D, 0);
        lin_fwd(ws->pool, lc->cv, ws->enc_out, blk->cv, Re, I, D, 0);
        if (f->p > 0.0f) draw_mask(lc->m_pc, (size_t)B * H * T * S, f->p, f->rng);
        att_job cj = {.mode = ATT_CROSS, .nq = T, .nk = S, .q = lc->cq, .k = lc->ck, .v = lc->cv,
                      .kmask = ws->kmask, .P = lc->Pc, .pm = f->p > 0.0f ? lc->m_pc : NULL,
                      .out = lc->att_c};
        attention_fwd(f, &cj, B);
        residual_proj(f, lc->x_mid, lc->xc_in, lc->att_c, blk->co, lc->m_catt, R, D, I);
        float *next = l + 1 < c->n_dec_layers ? ws->dec[l + 1].x_in : ws->dec_x_fin;
        ffn_fwd(f, lc, blk, next, R);
    }
    es_rmsnorm_f32(ws->hs, ws->dec_x_fin, m->dec_final_ln, R, D, c->eps);
    drop_fwd(ws->hs, ws->m_fin_d, (size_t)R * D, f->p, f->rng);
    if (c->tied) {
        /* HF: sequence_output * model_dim**-0.5, an fp32 scalar (as inference). */
        const float sc = (float)(1.0 / sqrt((double)D));
        for (size_t i = 0; i < (size_t)R * D; i++) ws->hs[i] *= sc;
    }
}

/* ---- LM head + loss ------------------------------------------------------------ */

/* Cross entropy of one chunk of N labelled rows of V logits, one pool task
 * per row: row_loss[i] = −log softmax(x_i)[t_i]; e (N, V) receives
 * scale·(softmax(x_i) − onehot(t_i)) (the gradient; also the scratch when
 * no gradient is wanted). exp(x − max) comes from the kernel table's exp
 * (≤ 2 ulp, SIMD); its sum and the log-sum-exp are in double, so the loss
 * keeps ~1e-7 relative accuracy with one exp per logit (src/nn stays
 * independent of src/train, whose es_softmax_ce computes the same). */
typedef struct ce_job {
    float *e;
    const float *logits;
    const int32_t *t;
    double *row_loss;
    int V;
    float scale;
} ce_job;

static void ce_task(void *ctx, int i, int n_tasks) {
    (void)n_tasks;
    const ce_job *j = ctx;
    const int V = j->V;
    const float *x = j->logits + (size_t)i * V;
    float *e = j->e + (size_t)i * V;
    float mx = x[0];
    for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    for (int v = 0; v < V; v++) e[v] = x[v] - mx;
    es_kern()->exp(e, e, (size_t)V);
    double z = 0.0;
    for (int v = 0; v < V; v++) z += (double)e[v];
    j->row_loss[i] = (double)mx + log(z) - (double)x[j->t[i]];
    const float k = (float)((double)j->scale / z);
    for (int v = 0; v < V; v++) e[v] *= k;
    e[j->t[i]] -= j->scale;
}

static double ce_rows(es_t5_tws *ws, float *e, const float *logits, const int32_t *t, int N, int V,
                      float scale) {
    ce_job j = {e, logits, t, ws->row_loss, V, scale};
    es_pool_run(ws->pool, N, ce_task, &j);
    double total = 0.0;
    for (int i = 0; i < N; i++) total += ws->row_loss[i]; /* row order: deterministic */
    return total;
}

/* Cross entropy over labelled decoder rows, chunked; with g, accumulates the
 * LM-head gradient and writes ws->dhs (Rd, D) = ∂L/∂hs. */
static double lm_head_loss(fctx *f, const es_t5_grads *g, float grad_scale, int *n_tokens) {
    es_t5_tws *ws = f->ws;
    const es_t5_config *c = &ws->cfg;
    const int R = f->b->B * f->b->T, D = c->d_model, V = c->vocab;
    int n = 0;
    for (int r = 0; r < R; r++)
        if (f->b->labels[r] != ES_T5_IGNORE_INDEX) ws->lrows[n++] = r;
    if (g) memset(ws->dhs, 0, (size_t)R * D * sizeof(float));
    double total = 0.0;
    for (int r0 = 0; r0 < n; r0 += LM_CHUNK) {
        const int mrows = ES_MIN(LM_CHUNK, n - r0);
        for (int i = 0; i < mrows; i++) {
            const int r = ws->lrows[r0 + i];
            memcpy(ws->hsel + (size_t)i * D, ws->hs + (size_t)r * D, (size_t)D * sizeof(float));
            ws->lsel[i] = f->b->labels[r];
        }
        lin_fwd(ws->pool, ws->logits, ws->hsel, f->w->lm_head, mrows, V, D, 0);
        total += ce_rows(ws, ws->dlogits, ws->logits, ws->lsel, mrows, V, grad_scale);
        if (!g) continue;
        lin_bwd(ws->pool, ws->dhsel, 0, g->lm_head, ws->dlogits, ws->hsel, f->w->lm_head, mrows, V,
                D);
        for (int i = 0; i < mrows; i++)
            memcpy(ws->dhs + (size_t)ws->lrows[r0 + i] * D, ws->dhsel + (size_t)i * D,
                   (size_t)D * sizeof(float));
    }
    *n_tokens = n;
    return total;
}

/* ---- blocks: backward ---------------------------------------------------------- */

/* dX of the residual sublayer out = x + dropout(att·Woᵀ): ws->dx holds
 * ∂L/∂out (it also flows to x unchanged). Writes ws->datt (R, I) and
 * accumulates dWo. */
static void residual_proj_bwd(fctx *f, float *dWo, const float *att, const float *Wo,
                              const uint8_t *m, int R, int N, int K) {
    es_t5_tws *ws = f->ws;
    const float *dy = ws->dx;
    if (f->p > 0.0f) {
        memcpy(ws->ao, ws->dx, (size_t)R * N * sizeof(float));
        drop_bwd(ws->ao, m, (size_t)R * N, f->p);
        dy = ws->ao;
    }
    lin_bwd(ws->pool, ws->datt, 0, dWo, dy, att, Wo, R, N, K);
}

static void ffn_bwd(fctx *f, layer_cache *lc, const es_t5_block *blk, es_t5_gblock *gb, int R) {
    es_t5_tws *ws = f->ws;
    const es_t5_config *c = &ws->cfg;
    const int D = c->d_model, F = c->d_ff;
    const size_t n = (size_t)R * F;
    ffn_u(ws, ws->u, lc, R, f->p);
    /* du = dfo·Wo, dWo += dfoᵀ·u; then through the hidden dropout */
    const float *dy = ws->dx;
    if (f->p > 0.0f) {
        memcpy(ws->ao, ws->dx, (size_t)R * D * sizeof(float));
        drop_bwd(ws->ao, lc->m_ff, (size_t)R * D, f->p);
        dy = ws->ao;
    }
    lin_bwd(ws->pool, ws->du, 0, gb->wo, dy, ws->u, blk->wo, R, D, F);
    drop_bwd(ws->du, lc->m_h, n, f->p);
    es_rmsnorm_f32(ws->xn, lc->x_mid, blk->ln_ff, R, D, c->eps);
    if (c->gated) {
        /* u = act(h) ⊙ g: dg = du ⊙ act(h), da = du ⊙ g */
        memcpy(ws->u, lc->h, n * sizeof(float));
        apply_act(c, ws->u, n);
        for (size_t i = 0; i < n; i++) {
            ws->dg[i] = ws->du[i] * ws->u[i];
            ws->du[i] *= lc->g[i];
        }
        lin_bwd(ws->pool, ws->dxn, 0, gb->wi1, ws->dg, ws->xn, blk->wi1, R, F, D);
    }
    switch (c->act) {
    case ES_T5_ACT_RELU: es_relu_backward_f32(ws->du, lc->h, n); break;
    case ES_T5_ACT_GELU_TANH: es_gelu_tanh_backward_f32(ws->du, lc->h, n); break;
    case ES_T5_ACT_GELU_ERF: es_gelu_erf_backward_f32(ws->du, lc->h, n); break;
    }
    lin_bwd(ws->pool, ws->dxn, c->gated, gb->wi, ws->du, ws->xn, blk->wi, R, F, D);
    es_rmsnorm_backward_f32(ws->dx, gb->ln_ff, ws->dxn, lc->x_mid, blk->ln_ff, R, D, c->eps);
}

static void attention_bwd(fctx *f, att_job *j, int B) {
    j->ws = f->ws;
    j->B = B;
    j->pscale = f->p > 0.0f ? 1.0f / (1.0f - f->p) : 1.0f;
    attention_bwd_job(f->ws->pool, j);
}

/* Self-attention sublayer backward: ws->dx = ∂L/∂(x_in + ...) on entry,
 * ∂L/∂x_in on exit. */
static void self_att_bwd(fctx *f, layer_cache *lc, const es_t5_block *blk, es_t5_gblock *gb,
                         const float *rel, float *g_rel, int mode, int B, int n) {
    es_t5_tws *ws = f->ws;
    const es_t5_config *c = &ws->cfg;
    const int R = B * n, D = c->d_model, I = c->n_heads * c->d_kv;
    residual_proj_bwd(f, gb->o, lc->att, blk->o, lc->m_att, R, D, I);
    att_job j = {.mode = mode, .nq = n, .nk = n, .q = lc->q, .k = lc->k, .v = lc->v,
                 .kmask = mode == ATT_ENC ? ws->kmask : NULL, .rel = rel, .P = lc->P,
                 .pm = f->p > 0.0f ? lc->m_p : NULL, .dout = ws->datt, .dq = ws->dq, .dk = ws->dk,
                 .dv = ws->dv};
    attention_bwd(f, &j, B);
    reduce_drel(ws, g_rel, B);
    es_rmsnorm_f32(ws->xn, lc->x_in, blk->ln_sa, R, D, c->eps);
    lin_bwd(ws->pool, ws->dxn, 0, gb->q, ws->dq, ws->xn, blk->q, R, I, D);
    lin_bwd(ws->pool, ws->dxn, 1, gb->k, ws->dk, ws->xn, blk->k, R, I, D);
    lin_bwd(ws->pool, ws->dxn, 1, gb->v, ws->dv, ws->xn, blk->v, R, I, D);
    es_rmsnorm_backward_f32(ws->dx, gb->ln_sa, ws->dxn, lc->x_in, blk->ln_sa, R, D, c->eps);
}

static void cross_att_bwd(fctx *f, layer_cache *lc, const es_t5_block *blk, es_t5_gblock *gb,
                          int B, int S, int T) {
    es_t5_tws *ws = f->ws;
    const es_t5_config *c = &ws->cfg;
    const int R = B * T, Re = B * S, D = c->d_model, I = c->n_heads * c->d_kv;
    residual_proj_bwd(f, gb->co, lc->att_c, blk->co, lc->m_catt, R, D, I);
    att_job j = {.mode = ATT_CROSS, .nq = T, .nk = S, .q = lc->cq, .k = lc->ck, .v = lc->cv,
                 .kmask = ws->kmask, .P = lc->Pc, .pm = f->p > 0.0f ? lc->m_pc : NULL,
                 .dout = ws->datt, .dq = ws->dq, .dk = ws->dck, .dv = ws->dcv};
    attention_bwd(f, &j, B);
    es_rmsnorm_f32(ws->xn, lc->xc_in, blk->ln_ca, R, D, c->eps);
    lin_bwd(ws->pool, ws->dxn, 0, gb->cq, ws->dq, ws->xn, blk->cq, R, I, D);
    lin_bwd(ws->pool, ws->d_enc, 1, gb->ck, ws->dck, ws->enc_out, blk->ck, Re, I, D);
    lin_bwd(ws->pool, ws->d_enc, 1, gb->cv, ws->dcv, ws->enc_out, blk->cv, Re, I, D);
    es_rmsnorm_backward_f32(ws->dx, gb->ln_ca, ws->dxn, lc->xc_in, blk->ln_ca, R, D, c->eps);
}

static void scatter_embed(float *g_embed, const float *dx, const int32_t *ids, int R, int D) {
    for (int r = 0; r < R; r++) {
        float *row = g_embed + (size_t)ids[r] * D;
        const float *d = dx + (size_t)r * D;
        for (int i = 0; i < D; i++) row[i] += d[i];
    }
}

static void backward(fctx *f, const es_t5_grads *g) {
    es_t5_tws *ws = f->ws;
    const es_t5_model *m = f->w;
    const es_t5_config *c = &ws->cfg;
    const int B = f->b->B, S = f->b->S, T = f->b->T, Rd = B * T, Re = B * S, D = c->d_model;
    /* decoder final norm (+ tied rescale, dropout) */
    if (c->tied) {
        const float sc = (float)(1.0 / sqrt((double)D));
        for (size_t i = 0; i < (size_t)Rd * D; i++) ws->dhs[i] *= sc;
    }
    drop_bwd(ws->dhs, ws->m_fin_d, (size_t)Rd * D, f->p);
    memset(ws->dx, 0, (size_t)Rd * D * sizeof(float));
    es_rmsnorm_backward_f32(ws->dx, g->dec_final_ln, ws->dhs, ws->dec_x_fin, m->dec_final_ln, Rd,
                            D, c->eps);
    memset(ws->d_enc, 0, (size_t)Re * D * sizeof(float));
    for (int l = c->n_dec_layers - 1; l >= 0; l--) {
        layer_cache *lc = &ws->dec[l];
        ffn_bwd(f, lc, &m->dec[l], &g->dec[l], Rd);
        cross_att_bwd(f, lc, &m->dec[l], &g->dec[l], B, S, T);
        self_att_bwd(f, lc, &m->dec[l], &g->dec[l], m->dec_rel, g->dec_rel, ATT_DEC_SELF, B, T);
    }
    drop_bwd(ws->dx, ws->m_emb_d, (size_t)Rd * D, f->p);
    scatter_embed(g->embed, ws->dx, f->b->dec_in, Rd, D);

    /* encoder: d(enc_out) -> final norm -> blocks */
    drop_bwd(ws->d_enc, ws->m_fin_e, (size_t)Re * D, f->p);
    memset(ws->dx, 0, (size_t)Re * D * sizeof(float));
    es_rmsnorm_backward_f32(ws->dx, g->enc_final_ln, ws->d_enc, ws->enc_x_fin, m->enc_final_ln, Re,
                            D, c->eps);
    for (int l = c->n_enc_layers - 1; l >= 0; l--) {
        layer_cache *lc = &ws->enc[l];
        ffn_bwd(f, lc, &m->enc[l], &g->enc[l], Re);
        self_att_bwd(f, lc, &m->enc[l], &g->enc[l], m->enc_rel, g->enc_rel, ATT_ENC, B, S);
    }
    drop_bwd(ws->dx, ws->m_emb_e, (size_t)Re * D, f->p);
    scatter_embed(g->embed, ws->dx, f->b->ids, Re, D);
}

es_status es_t5_train_forward_backward(es_t5_tws *ws, const es_t5_model *w, const es_t5_grads *g,
                                       const es_t5_batch *b, float dropout, es_rng *rng,
                                       float grad_scale, double *loss_sum, int *n_tokens,
                                       es_error *err) {
    if (b->B < 1 || b->B > ws->max_B || b->S < 1 || b->S > ws->max_S || b->T < 1 ||
        b->T > ws->max_T)
        return es_errf(err, ES_ERR_ARG,
                       "t5 training batch (B %d, S %d, T %d) exceeds the workspace (%d, %d, %d)",
                       b->B, b->S, b->T, ws->max_B, ws->max_S, ws->max_T);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return es_errf(err, ES_ERR_ARG, "dropout %g outside [0, 1)", (double)dropout);
    if (dropout > 0.0f && (!ws->with_dropout || !rng))
        return es_errf(err, ES_ERR_ARG,
                       "dropout %g needs a workspace created with dropout masks and an RNG",
                       (double)dropout);
    const int32_t V = ws->cfg.vocab;
    for (int i = 0; i < b->B * b->S; i++)
        if (b->ids[i] < 0 || b->ids[i] >= V)
            return es_errf(err, ES_ERR_ARG, "input id %d at %d is not in [0, %d)", b->ids[i], i, V);
    for (int i = 0; i < b->B * b->T; i++) {
        if (b->dec_in[i] < 0 || b->dec_in[i] >= V)
            return es_errf(err, ES_ERR_ARG, "decoder id %d at %d is not in [0, %d)", b->dec_in[i], i, V);
        if (b->labels[i] != ES_T5_IGNORE_INDEX && (b->labels[i] < 0 || b->labels[i] >= V))
            return es_errf(err, ES_ERR_ARG, "label %d at %d is neither -100 nor in [0, %d)",
                           b->labels[i], i, V);
    }
    fctx f = {ws, w, b, dropout, rng};
    encoder_fwd(&f);
    decoder_fwd(&f);
    int n = 0;
    double loss = lm_head_loss(&f, g, grad_scale, &n);
    if (g) backward(&f, g);
    if (loss_sum) *loss_sum = loss;
    if (n_tokens) *n_tokens = n;
    return ES_OK;
}
