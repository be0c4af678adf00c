/*
 * byte_transformer.c — the ByteTransformer and ByteFunnelTransformer
 * encoders: a stack of pre-norm Transformer encoder layers over the GBST
 * output (layout s1 of byte_internal.h), D = d_model, H = n_heads,
 * d_h = D / H, F = d_ff.
 *
 *   X0 = GBST(bytes) + P[t]                    learned positions (posenc.h)
 *   layer l (window w = pool_windows[l], 1 for the plain Transformer):
 *     Xq = w > 1 ? meanpool_w(X) : X           funnel query pooling (funnel.h)
 *     Q = LN1(Xq)·W_qᵀ + b_q,   [K|V] = LN1(X)·W_kvᵀ + b_kv
 *     Y = Xq + drop(MHA(Q, K, V)·W_oᵀ + b_o)   key padding, 1/√d_h (mha.h)
 *     X' = Y + drop(FFN(LN2(Y)))               GELU FFN (ffn.h)
 *   Enc = LN_f(X_last)                          → attention pooling → head
 * Pre-norm (LN before each sublayer, one final LN) instead of SeqFlowLite's
 * post-norm: the residual path is the identity, which trains without
 * warm-up tricks at these depths; LayerNorms have per-channel gain and
 * bias (SeqFlowLite: scalars). The funnel keeps keys/values at the
 * unpooled resolution of the previous layer and pools only the query /
 * residual stream, as Funnel-Transformer's "pool-query-only" and
 * SeqFlowLite's FunnelTransformerEncoderStack do; LN1's statistics are
 * computed separately for the pooled queries and the memory (shared g, b).
 * Each layer with w > 1 divides the sequence length by w (⌈L / w⌉).
 *
 * Tensors (F32): pos.weight (max_positions, D);
 *   tf.<l>.ln1.weight / .bias (D)
 *   tf.<l>.attn.qkv.weight (3D, D), .bias (3D)   rows [Q | K | V], head h
 *       owns rows h·d_h .. h·d_h + d_h − 1 of each part
 *   tf.<l>.attn.out.weight (D, D), .bias (D)
 *   tf.<l>.ln2.weight / .bias (D)
 *   tf.<l>.ffn.in.weight (F, D), .bias (F);  tf.<l>.ffn.out.weight (D, F), .bias (D)
 *   ln_f.weight / .bias (D)
 * Dropout (config `dropout`, training only): attention probabilities, the
 * two residual branches, and (byte_model.c) the pooled vector.
 * QAT of seq2seq encoders (quant/byte_qat.h ES_BQ_*): when the workspace has
 * encoder activation points, the four GEMM inputs of each layer go through
 * the byte_qat hooks (fake-quant / uint8 codes, integer GEMMs in an int8
 * export) and the FFN is run as its two linears around the GELU; otherwise
 * the float graph below is untouched (classifiers).
 */
#include "model/byte_internal.h"

#include "nn/dropout.h"
#include "nn/ffn.h"
#include "nn/funnel.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/mha.h"
#include "nn/posenc.h"
#include "quant/byte_qat.h"

#include <stdio.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------ */

static es_status reg(es_byte_model *m, int *idx, const char *name, int ndim, int64_t d0,
                     int64_t d1, es_param_init init, float scale, int fi, int fo, int decay,
                     es_error *err) {
    int64_t shape[2] = {d0, d1};
    return es_params_add(&m->ps, idx, name, ndim, shape, init, scale, fi, fo, decay, err);
}

es_status es_byte_tf_register(es_byte_model *m, es_error *err) {
    const es_byte_config *c = &m->cfg;
    int D = c->d_model, F = c->d_ff;
    m->d_enc = D;
    /* N(0, 0.02²) as BERT: positions start as a small perturbation of the
     * O(0.1..1) GBST features and grow only where order helps. */
    es_status s = reg(m, &m->pos, "pos.weight", 2, c->max_positions, D, ES_INIT_NORMAL, 0.02f, 0,
                      0, 1, err);
    if (s) return s;
    for (int l = 0; l < c->n_layers; l++) {
        byte_tf_layer *t = &m->tf[l];
        char n[64];
#define REG(field, suffix, ...)                                                                \
        do {                                                                               \
            snprintf(n, sizeof n, "tf.%d.%s", l, suffix);                                  \
            if ((s = reg(m, &t->field, n, __VA_ARGS__, err))) return s;                    \
        } while (0)
        REG(ln1_g, "ln1.weight", 1, D, 0, ES_INIT_ONE, 0.0f, 0, 0, 0);
        REG(ln1_b, "ln1.bias", 1, D, 0, ES_INIT_ZERO, 0.0f, 0, 0, 0);
        /* Glorot over (D → D) per part, not (D → 3D): each of Q, K, V is its
         * own D×D map. */
        REG(qkv_w, "attn.qkv.weight", 2, 3 * D, D, ES_INIT_GLOROT, 1.0f, D, D, 1);
        REG(qkv_b, "attn.qkv.bias", 1, 3 * D, 0, ES_INIT_ZERO, 0.0f, 0, 0, 0);
        REG(o_w, "attn.out.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, D, D, 1);
        REG(o_b, "attn.out.bias", 1, D, 0, ES_INIT_ZERO, 0.0f, 0, 0, 0);
        REG(ln2_g, "ln2.weight", 1, D, 0, ES_INIT_ONE, 0.0f, 0, 0, 0);
        REG(ln2_b, "ln2.bias", 1, D, 0, ES_INIT_ZERO, 0.0f, 0, 0, 0);
        REG(ff1_w, "ffn.in.weight", 2, F, D, ES_INIT_GLOROT, 1.0f, D, F, 1);
        REG(ff1_b, "ffn.in.bias", 1, F, 0, ES_INIT_ZERO, 0.0f, 0, 0, 0);
        REG(ff2_w, "ffn.out.weight", 2, D, F, ES_INIT_GLOROT, 1.0f, F, D, 1);
        REG(ff2_b, "ffn.out.bias", 1, D, 0, ES_INIT_ZERO, 0.0f, 0, 0, 0);
#undef REG
    }
    if ((s = reg(m, &m->lnf_g, "ln_f.weight", 1, D, 0, ES_INIT_ONE, 0.0f, 0, 0, 0, err)) ||
        (s = reg(m, &m->lnf_b, "ln_f.bias", 1, D, 0, ES_INIT_ZERO, 0.0f, 0, 0, 0, err)))
        return s;
    return ES_OK;
}

/* ---- workspace ---------------------------------------------------------------- */

static void *zalloc(size_t n, size_t elem, es_status *s, es_error *err) {
    size_t bytes;
    void *p = NULL;
    if (*s) return NULL;
    if (es_mul_ok(n, elem, &bytes)) p = es_malloc_aligned(bytes ? bytes : 1);
    if (!p) {
        *s = es_errf(err, ES_ERR_NOMEM, "byte workspace: out of memory");
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

/* Allocates the activation buffers of one layer entry for rq query rows
 * and rm memory rows. */
static void alloc_layer(byte_tf_cache *t, size_t rq, size_t rm, int D, int F, int pooled,
                        es_status *s, es_error *err) {
    size_t fs = sizeof(float);
    t->owns = 1;
    if (pooled) {
        t->xin = zalloc(rq, (size_t)D * fs, s, err);
        t->ln1m = zalloc(rm, (size_t)D * fs, s, err);
        t->mean1m = zalloc(rm, fs, s, err);
        t->rstd1m = zalloc(rm, fs, s, err);
    }
    t->ln1 = zalloc(rq, (size_t)D * fs, s, err);
    t->mean1 = zalloc(rq, fs, s, err);
    t->rstd1 = zalloc(rq, fs, s, err);
    t->q = zalloc(rq, (size_t)D * fs, s, err);
    t->kv = zalloc(rm, 2 * (size_t)D * fs, s, err);
    t->ctx = zalloc(rq, (size_t)D * fs, s, err);
    t->x1 = zalloc(rq, (size_t)D * fs, s, err);
    t->ln2 = zalloc(rq, (size_t)D * fs, s, err);
    t->mean2 = zalloc(rq, fs, s, err);
    t->rstd2 = zalloc(rq, fs, s, err);
    t->ffh = zalloc(rq, (size_t)F * fs, s, err);
    t->ffa = zalloc(rq, (size_t)F * fs, s, err);
    t->out = zalloc(rq, (size_t)D * fs, s, err);
}

es_status es_byte_tf_ws_alloc(es_byte_ws *ws, es_error *err) {
    const es_byte_model *m = ws->m;
    const es_byte_config *c = &m->cfg;
    int D = c->d_model, F = c->d_ff, H = c->n_heads, L = c->n_layers;
    size_t Bm = (size_t)ws->max_batch, rows1 = Bm * (size_t)ws->T1cap;
    es_status s = ES_OK;
    ws->xpos = zalloc(rows1, (size_t)D * sizeof(float), &s, err);
    ws->palpha = zalloc(rows1, sizeof(float), &s, err);
    int any_pool = 0, Tm = ws->T1cap;
    for (int l = 0; l < L; l++) {
        byte_tf_cache *t = &ws->tf[l];
        int w = c->pool_windows[l];
        t->Tcap = (Tm + w - 1) / w;
        t->lenq = zalloc(Bm, sizeof(int), &s, err);
        any_pool |= w > 1;
        if (ws->training) {
            size_t rq = Bm * (size_t)t->Tcap, rm = Bm * (size_t)Tm;
            alloc_layer(t, rq, rm, D, F, w > 1, &s, err);
            t->lse = zalloc(Bm * (size_t)H, (size_t)t->Tcap * sizeof(float), &s, err);
            if (c->dropout > 0.0f) {
                t->drop1 = zalloc(rq, (size_t)D, &s, err);
                t->drop2 = zalloc(rq, (size_t)D, &s, err);
            }
        }
        Tm = t->Tcap;
    }
    size_t rows_last = Bm * (size_t)ws->tf[L - 1].Tcap;
    if (!ws->training && !s) {
        /* one shared set sized for layer 0 (rows only shrink with depth;
         * the memory side is at most rows1), outputs alternate */
        byte_tf_cache *t0 = &ws->tf[0];
        alloc_layer(t0, Bm * (size_t)t0->Tcap, rows1, D, F, any_pool, &s, err);
        ws->tf_out2 = zalloc(Bm * (size_t)t0->Tcap, (size_t)D * sizeof(float), &s, err);
        for (int l = 1; l < L && !s; l++) {
            byte_tf_cache *t = &ws->tf[l];
            int *lenq = t->lenq, Tcap = t->Tcap;
            *t = *t0;
            t->owns = 0;
            t->lenq = lenq;
            t->Tcap = Tcap;
            t->out = (l & 1) ? ws->tf_out2 : t0->out;
        }
    }
    ws->lnf = zalloc(rows_last, (size_t)D * sizeof(float), &s, err);
    ws->lnf_mean = zalloc(rows_last, sizeof(float), &s, err);
    ws->lnf_rstd = zalloc(rows_last, sizeof(float), &s, err);
    ws->att_slots = es_pool_threads(ws->pool);
    ws->att_scratch = zalloc((size_t)ws->att_slots,
                             es_mha_scratch_floats(ws->T1cap, ws->training) * sizeof(float), &s,
                             err);
    if (ws->training) {
        size_t wide = (size_t)ES_MAX(2 * D, F);
        ws->gA = zalloc(rows1, (size_t)D * sizeof(float), &s, err);
        ws->gB = zalloc(rows1, (size_t)D * sizeof(float), &s, err);
        for (int i = 0; i < 6; i++) ws->tg[i] = zalloc(rows1, wide * sizeof(float), &s, err);
    }
    return s;
}

void es_byte_tf_ws_free(es_byte_ws *ws) {
    for (int l = 0; l < ES_BYTE_MAX_LAYERS; l++) {
        byte_tf_cache *t = &ws->tf[l];
        es_free_aligned(t->lenq);
        if (t->owns) {
            float *fl[] = {t->xin,  t->ln1, t->ln1m, t->mean1, t->rstd1, t->mean1m,
                           t->rstd1m, t->mean2, t->rstd2, t->q, t->kv, t->lse,
                           t->ctx, t->x1, t->ln2, t->ffh, t->ffa, t->out};
            for (size_t i = 0; i < ES_ARRAY_LEN(fl); i++) es_free_aligned(fl[i]);
            es_free_aligned(t->drop1);
            es_free_aligned(t->drop2);
        }
    }
    float *fl[] = {ws->xpos, ws->palpha, ws->tf_out2, ws->lnf, ws->lnf_mean, ws->lnf_rstd,
                   ws->att_scratch, ws->gA, ws->gB};
    for (size_t i = 0; i < ES_ARRAY_LEN(fl); i++) es_free_aligned(fl[i]);
    for (int i = 0; i < 6; i++) es_free_aligned(ws->tg[i]);
}

/* ---- forward ------------------------------------------------------------------- */

static es_mha mha_of(const es_byte_ws *ws, const byte_tf_cache *t, const es_seq *sm) {
    const es_byte_config *c = &ws->m->cfg;
    es_mha a;
    a.sq = &t->sq;
    a.sk = sm;
    a.H = c->n_heads;
    a.dh = c->d_model / c->n_heads;
    a.p_drop = c->dropout;
    a.seed = t->att_seed;
    a.scratch = ws->att_scratch;
    a.n_slots = ws->att_slots;
    return a;
}

void es_byte_tf_forward(es_byte_ws *ws, int train, es_rng *rng) {
    const es_byte_model *m = ws->m;
    const es_byte_config *c = &m->cfg;
    const es_params *ps = &m->ps;
    es_pool *pool = ws->pool;
    int D = c->d_model, F = c->d_ff, B = ws->B;
    int drop = train && c->dropout > 0.0f;
    int qa = es_byte_qat_tf_on(ws);
    es_posenc_forward(ws->xpos, ws->x1, es_params_data(ps, m->pos), &ws->s1, D);
    const float *mem = ws->xpos;
    const es_seq *sm = &ws->s1;
    for (int l = 0; l < c->n_layers; l++) {
        byte_tf_cache *t = &ws->tf[l];
        const byte_tf_layer *P = &m->tf[l];
        int w = c->pool_windows[l];
        es_funnel_lens(t->lenq, sm->len, B, w);
        t->sq = es_seq_make(B, (sm->T + w - 1) / w, 0, t->lenq);
        const es_seq *sq = &t->sq;
        int rq = (int)es_seq_rows(sq), rm = (int)es_seq_rows(sm);
        const float *xin = mem, *ln1m = t->ln1;
        const float *g1 = es_params_data(ps, P->ln1_g), *b1 = es_params_data(ps, P->ln1_b);
        if (w > 1) {
            es_funnel_pool_forward(pool, t->xin, mem, sm, sq, D, w);
            xin = t->xin;
            es_layernorm_forward(pool, t->ln1m, t->mean1m, t->rstd1m, mem, g1, b1, rm, D,
                                 ES_LAYERNORM_EPS);
            es_seq_zero_pads(sm, t->ln1m, D, D);
            ln1m = t->ln1m;
        }
        es_layernorm_forward(pool, t->ln1, t->mean1, t->rstd1, xin, g1, b1, rq, D,
                             ES_LAYERNORM_EPS);
        es_seq_zero_pads(sq, t->ln1, D, D);
        const float *Wqkv = es_params_data(ps, P->qkv_w), *bqkv = es_params_data(ps, P->qkv_b);
        if (qa) { /* one grid for the queries and the memory (same LN1) */
            es_byte_qat_tf_act(ws, ES_BQ_A1(l), t->ln1, (size_t)rq * (size_t)D,
                               w > 1 ? ln1m : NULL, (size_t)rm * (size_t)D, train);
            es_byte_qat_tf_linear(ws, ES_BQ_A1(l), 0, P->qkv_w, 0, t->q, t->ln1, bqkv, rq, D, D);
            es_byte_qat_tf_linear(ws, ES_BQ_A1(l), w > 1, P->qkv_w, D, t->kv, ln1m, bqkv + D, rm,
                                  D, 2 * D);
        } else {
            es_linear_forward(pool, t->q, t->ln1, Wqkv, bqkv, rq, D, D);
            es_linear_forward(pool, t->kv, ln1m, Wqkv + (size_t)D * (size_t)D, bqkv + D, rm, D,
                              2 * D);
        }
        if (drop) t->att_seed = es_rng_next(rng);
        es_mha a = mha_of(ws, t, sm);
        es_mha_forward(pool, &a, t->ctx, D, train ? t->lse : NULL, t->q, D, t->kv, t->kv + D,
                       2 * D, train);
        size_t nq = (size_t)rq * (size_t)D;
        if (qa) {
            es_byte_qat_tf_act(ws, ES_BQ_CTX(l), t->ctx, nq, NULL, 0, train);
            es_byte_qat_tf_linear(ws, ES_BQ_CTX(l), 0, P->o_w, 0, t->x1, t->ctx,
                                  es_params_data(ps, P->o_b), rq, D, D);
        } else {
            es_linear_forward(pool, t->x1, t->ctx, es_params_data(ps, P->o_w),
                              es_params_data(ps, P->o_b), rq, D, D);
        }
        if (drop) es_dropout_forward(t->x1, t->drop1, nq, c->dropout, rng);
        for (size_t i = 0; i < nq; i++) t->x1[i] += xin[i];
        es_seq_zero_pads(sq, t->x1, D, D);
        es_layernorm_forward(pool, t->ln2, t->mean2, t->rstd2, t->x1,
                             es_params_data(ps, P->ln2_g), es_params_data(ps, P->ln2_b), rq, D,
                             ES_LAYERNORM_EPS);
        es_seq_zero_pads(sq, t->ln2, D, D);
        if (qa) {
            size_t nf = (size_t)rq * (size_t)F;
            es_byte_qat_tf_act(ws, ES_BQ_A2(l), t->ln2, nq, NULL, 0, train);
            es_byte_qat_tf_linear(ws, ES_BQ_A2(l), 0, P->ff1_w, 0, t->ffh, t->ln2,
                                  es_params_data(ps, P->ff1_b), rq, D, F);
            es_gelu_forward(t->ffa, t->ffh, nf);
            es_byte_qat_tf_act(ws, ES_BQ_FF(l), t->ffa, nf, NULL, 0, train);
            es_byte_qat_tf_linear(ws, ES_BQ_FF(l), 0, P->ff2_w, 0, t->out, t->ffa,
                                  es_params_data(ps, P->ff2_b), rq, F, D);
        } else {
            es_ffn_forward(pool, t->out, t->ffh, t->ffa, t->ln2, es_params_data(ps, P->ff1_w),
                           es_params_data(ps, P->ff1_b), es_params_data(ps, P->ff2_w),
                           es_params_data(ps, P->ff2_b), rq, D, F);
        }
        if (drop) es_dropout_forward(t->out, t->drop2, nq, c->dropout, rng);
        for (size_t i = 0; i < nq; i++) t->out[i] += t->x1[i];
        es_seq_zero_pads(sq, t->out, D, D);
        mem = t->out;
        sm = sq;
    }
    es_layernorm_forward(pool, ws->lnf, ws->lnf_mean, ws->lnf_rstd, mem,
                         es_params_data(ps, m->lnf_g), es_params_data(ps, m->lnf_b),
                         (int)es_seq_rows(sm), D, ES_LAYERNORM_EPS);
    es_seq_zero_pads(sm, ws->lnf, D, D);
    ws->enc = ws->lnf;
    ws->s_enc = sm;
}

/* ---- backward ------------------------------------------------------------------ */

void es_byte_tf_backward(es_byte_ws *ws, es_byte_model *m, float *denc, float *dx1) {
    const es_byte_config *c = &m->cfg;
    es_params *ps = &m->ps;
    es_pool *pool = ws->pool;
    int D = c->d_model, F = c->d_ff, L = c->n_layers;
    int drop = c->dropout > 0.0f;
    int qa = es_byte_qat_tf_on(ws);
    float *dcur = ws->tg[0], *dalt = ws->tg[5];
    const es_seq *sl = ws->s_enc;
    /* final LN: dEnc → d out_{L−1} */
    es_layernorm_backward(pool, dcur, 0, es_params_grad(ps, m->lnf_g),
                          es_params_grad(ps, m->lnf_b), denc, ws->tf[L - 1].out, ws->lnf_mean,
                          ws->lnf_rstd, es_params_data(ps, m->lnf_g), (int)es_seq_rows(sl), D);
    es_seq_zero_pads(sl, dcur, D, D);
    for (int l = L - 1; l >= 0; l--) {
        byte_tf_cache *t = &ws->tf[l];
        const byte_tf_layer *P = &m->tf[l];
        const es_seq *sq = &t->sq, *sm = l ? &ws->tf[l - 1].sq : &ws->s1;
        const float *mem = l ? ws->tf[l - 1].out : ws->xpos;
        int w = c->pool_windows[l];
        const float *xin = w > 1 ? t->xin : mem, *ln1m = w > 1 ? t->ln1m : t->ln1;
        int rq = (int)es_seq_rows(sq), rm = (int)es_seq_rows(sm);
        size_t nq = (size_t)rq * (size_t)D;
        float *g1 = es_params_data(ps, P->ln1_g);
        float *dg1 = es_params_grad(ps, P->ln1_g), *db1 = es_params_grad(ps, P->ln1_b);
        /* FFN branch: dcur = d out = d x1 (residual) + branch */
        float *df = ws->tg[1], *dln2 = ws->tg[2];
        memcpy(df, dcur, nq * sizeof(float));
        if (drop) es_dropout_backward(df, t->drop2, nq, c->dropout);
        if (qa) { /* the FFN's two linears with their STEs around the GELU */
            float *da2 = ws->tg[3];
            size_t nf = (size_t)rq * (size_t)F;
            es_linear_backward(pool, da2, 0, es_params_grad(ps, P->ff2_w),
                               es_params_grad(ps, P->ff2_b), df,
                               es_byte_qat_tf_in(ws, ES_BQ_FF(l), 0, t->ffa),
                               es_params_data(ps, P->ff2_w), rq, F, D);
            es_byte_qat_tf_ste(ws, ES_BQ_FF(l), 0, da2, t->ffa, nf);
            es_gelu_backward(da2, da2, t->ffh, nf);
            es_linear_backward(pool, dln2, 0, es_params_grad(ps, P->ff1_w),
                               es_params_grad(ps, P->ff1_b), da2,
                               es_byte_qat_tf_in(ws, ES_BQ_A2(l), 0, t->ln2),
                               es_params_data(ps, P->ff1_w), rq, D, F);
            es_byte_qat_tf_ste(ws, ES_BQ_A2(l), 0, dln2, t->ln2, nq);
        } else {
            es_ffn_backward(pool, dln2, 0, es_params_grad(ps, P->ff1_w),
                            es_params_grad(ps, P->ff1_b), es_params_grad(ps, P->ff2_w),
                            es_params_grad(ps, P->ff2_b), df, t->ln2, t->ffh, t->ffa,
                            es_params_data(ps, P->ff1_w), es_params_data(ps, P->ff2_w), rq, D, F,
                            ws->tg[3]);
        }
        es_seq_zero_pads(sq, dln2, D, D);
        es_layernorm_backward(pool, dcur, 1, es_params_grad(ps, P->ln2_g),
                              es_params_grad(ps, P->ln2_b), dln2, t->x1, t->mean2, t->rstd2,
                              es_params_data(ps, P->ln2_g), rq, D);
        /* attention branch: dcur = d x1 = d xin (residual) + branch */
        float *da = ws->tg[1], *dctx = ws->tg[2], *dq = ws->tg[3], *dkv = ws->tg[4];
        memcpy(da, dcur, nq * sizeof(float));
        if (drop) es_dropout_backward(da, t->drop1, nq, c->dropout);
        es_linear_backward(pool, dctx, 0, es_params_grad(ps, P->o_w), es_params_grad(ps, P->o_b),
                           da, qa ? es_byte_qat_tf_in(ws, ES_BQ_CTX(l), 0, t->ctx) : t->ctx,
                           es_params_data(ps, P->o_w), rq, D, D);
        if (qa) es_byte_qat_tf_ste(ws, ES_BQ_CTX(l), 0, dctx, t->ctx, nq);
        es_seq_zero_pads(sq, dctx, D, D);
        es_mha a = mha_of(ws, t, sm);
        es_mha_backward(pool, &a, dq, D, dkv, dkv + D, 2 * D, dctx, D, t->q, D, t->kv, t->kv + D,
                        2 * D, t->lse);
        const float *Wqkv = es_params_data(ps, P->qkv_w);
        float *dWqkv = es_params_grad(ps, P->qkv_w), *dbqkv = es_params_grad(ps, P->qkv_b);
        size_t DD = (size_t)D * (size_t)D;
        float *dln1 = ws->tg[1];
        /* GEMM inputs as the forward used them (fake-quantized under QAT) */
        const float *xq1 = qa ? es_byte_qat_tf_in(ws, ES_BQ_A1(l), 0, t->ln1) : t->ln1;
        const float *xq1m = qa ? es_byte_qat_tf_in(ws, ES_BQ_A1(l), w > 1, ln1m) : ln1m;
        es_linear_backward(pool, dln1, 0, dWqkv, dbqkv, dq, xq1, Wqkv, rq, D, D);
        if (w == 1) {
            /* queries and memory are the same rows: one LN1 backward */
            es_linear_backward(pool, dln1, 1, dWqkv + DD, dbqkv + D, dkv, xq1m, Wqkv + DD, rm, D,
                               2 * D);
            if (qa) es_byte_qat_tf_ste(ws, ES_BQ_A1(l), 0, dln1, t->ln1, nq);
            es_layernorm_backward(pool, dcur, 1, dg1, db1, dln1, xin, t->mean1, t->rstd1, g1, rq,
                                  D);
        } else {
            if (qa) es_byte_qat_tf_ste(ws, ES_BQ_A1(l), 0, dln1, t->ln1, nq);
            es_layernorm_backward(pool, dcur, 1, dg1, db1, dln1, xin, t->mean1, t->rstd1, g1, rq,
                                  D);
            float *dln1m = ws->tg[2];
            es_linear_backward(pool, dln1m, 0, dWqkv + DD, dbqkv + D, dkv, xq1m, Wqkv + DD, rm, D,
                               2 * D);
            if (qa) es_byte_qat_tf_ste(ws, ES_BQ_A1(l), 1, dln1m, ln1m, (size_t)rm * (size_t)D);
            es_seq_zero_pads(sm, dln1m, D, D);
            es_layernorm_backward(pool, dalt, 0, dg1, db1, dln1m, mem, t->mean1m, t->rstd1m, g1,
                                  rm, D);
            es_funnel_pool_backward(pool, dalt, 1, dcur, sm, sq, D, w);
            float *tmp = dcur;
            dcur = dalt;
            dalt = tmp;
        }
        es_seq_zero_pads(sm, dcur, D, D);
    }
    es_posenc_backward(es_params_grad(ps, m->pos), dcur, &ws->s1, D);
    memcpy(dx1, dcur, es_seq_rows(&ws->s1) * (size_t)D * sizeof(float));
}
