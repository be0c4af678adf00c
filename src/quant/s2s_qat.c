/*
 * s2s_qat.c — QAT and int8 inference hooks of the byte seq2seq decoder
 * (contracts in s2s_qat.h; equations in quant.h, docs/quantization.md).
 *
 * Per workspace: the shadow registry (the decoder's es_params with its
 * value buffer swapped for fake-quantized weights, rebuilt when the
 * masters differ bitwise from the snapshot it was built from), per point
 * the grid and the fake-quantized copy of the last forward's input (the
 * backward's weight gradients read it: dW = dyᵀ·FQ(x)) or its uint8 codes,
 * and for an int8 export the packed int8 weights with their row scales and
 * row sums. Each sublayer is composed from the same building blocks as the
 * float decoder (nn/matt.h mix functions, linear.h, GELU), so the only
 * difference to the float graph is where values are rounded.
 */
#include "quant/s2s_qat.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "kern/kern.h"
#include "model/byte_seq2seq.h"
#include "model/model_internal.h"
#include "nn/ffn.h"
#include "nn/linear.h"
#include "quant/byte_qat.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PTS (2 + 4 * ES_BYTE_MAX_LAYERS)

struct es_s2s_qat {
    es_qat_config qc;
    int P, ri, ci;
    int training;
    es_params *master;            /* registry of the last enter */
    es_params shadow;             /* master with data = wq */
    float *wq, *snap;             /* (total) fake-quantized weights, masters they came from */
    int wq_valid;
    int active, first, int8;
    es_qparams qp[MAX_PTS];
    int has[MAX_PTS];             /* point quantized in the current forward */
    size_t cap[MAX_PTS];          /* floats per point buffer */
    float *xq[MAX_PTS];           /* fake-quantized inputs (not on the integer path) */
    uint8_t *u8[MAX_PTS];         /* uint8 codes (integer path) */
    /* frozen surrogate (gradient checks) */
    int frozen;
    float *delta;                 /* (total) FQ(W0) − W0 on weights, 0 elsewhere */
    float *x0[MAX_PTS];
    int have0[MAX_PTS];
    es_qparams qp0[MAX_PTS];
    /* integer path: the model's int8 store (or one owned here) */
    const es_qweights *st;
    es_qweights *own;
    int32_t *acc;
    size_t acc_cap;
    int16_t *a16;                 /* (4, max(D, De, F)) widened activation rows */
};

int es_s2s_qat_n_points(int n_layers) { return 2 + 4 * n_layers; }

es_status es_s2s_qat_register(es_params *ps, int n_layers, es_error *err) {
    int idx;
    int64_t one[1] = {1}, sh[2] = {es_s2s_qat_n_points(n_layers), 2};
    es_status s = es_params_add(ps, &idx, "dec.qat.updates", 1, one, ES_INIT_ZERO, 0.0f, 0, 0, 0,
                                err);
    return s ? s : es_params_add(ps, &idx, "dec.qat.act_range", 2, sh, ES_INIT_ZERO, 0.0f, 0, 0,
                                 0, err);
}

int es_s2s_qat_is_weight(const es_params *ps, int i) {
    const es_param *p = &ps->p[i];
    return p->ndim >= 2 && strncmp(p->name, "dec.qat.", 8) != 0 && strncmp(p->name, "qat.", 4) != 0;
}

es_status es_s2s_qat_load_tensor(es_params *ps, int i, es_weights *w, es_error *err) {
    const es_param *p = &ps->p[i];
    float *dst = ps->data + p->offset;
    const es_tensor_view *tv = es_weights_find(w, p->name);
    if (tv && tv->dtype == ES_DTYPE_I8) {
        if (!es_s2s_qat_is_weight(ps, i))
            return es_errf(err, ES_ERR_FORMAT, "tensor %s is I8; only weight matrices may be "
                           "int8 (biases, norms and qat state are F32)", p->name);
        int done = 0;
        es_status s = es_byte_qat_bind(dst, p, w, &done, err);
        if (s || done) return s;
    }
    es_status s = es_model_tensor(w, p->name, p->ndim, p->shape, false, &tv, err);
    return s ? s : es_tensor_to_f32(dst, tv, err);
}

/* ---- workspace ------------------------------------------------------------- */

static void *zalloc(size_t n, size_t elem, es_status *s, es_error *err) {
    size_t bytes;
    void *p = NULL;
    if (*s) return NULL;
    if (es_mul_ok(n ? n : 1, elem, &bytes)) p = es_malloc_aligned(bytes);
    if (!p) {
        *s = es_errf(err, ES_ERR_NOMEM, "seq2seq workspace: out of memory (qat)");
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

es_status es_s2s_qat_new(es_s2s_qat **out, const es_params *ps, const es_qat_config *qc,
                         const es_s2s_qat_dims *d, es_error *err) {
    *out = NULL;
    es_status s = ES_OK;
    es_s2s_qat *q = zalloc(1, sizeof *q, &s, err);
    if (!q) return s;
    q->qc = *qc;
    q->P = es_s2s_qat_n_points(d->n_layers);
    q->ri = es_params_find(ps, "dec.qat.act_range");
    q->ci = es_params_find(ps, "dec.qat.updates");
    q->training = d->training;
    if (q->ri < 0 || q->ci < 0 || q->P > MAX_PTS || ps->p[q->ri].shape[0] != q->P) {
        es_free_aligned(q);
        return es_errf(err, ES_ERR_INTERNAL, "seq2seq qat: decoder state tensors missing");
    }
    q->int8 = qc->int8 && qc->activations && !d->training;
    if (!q->int8) { /* an int8 model runs on its own (dequantized) weights: no shadow */
        q->wq = zalloc(ps->total, sizeof(float), &s, err);
        q->snap = zalloc(ps->total, sizeof(float), &s, err);
    }
    for (int pt = 0; pt < q->P; pt++) {
        int ff = pt >= 2 && (pt - 2) % 4 == 3;
        size_t w = pt == ES_S2SQ_ENC ? (size_t)d->De : ff ? (size_t)d->F : (size_t)d->D;
        q->cap[pt] = (pt == ES_S2SQ_ENC ? d->rows_enc : d->rows) * w;
        if (q->int8) q->u8[pt] = zalloc(q->cap[pt], 1, &s, err);
        else q->xq[pt] = zalloc(q->cap[pt], sizeof(float), &s, err);
    }
    if (q->int8 && !s) {
        q->st = d->q8;
        if (!q->st && !(s = es_qweights_new(&q->own, ps, es_s2s_qat_is_weight, qc->per_channel,
                                            err)))
            q->st = q->own;
        size_t rmax = d->rows > d->rows_enc ? d->rows : d->rows_enc;
        int wide = ES_MAX(ES_MAX(d->D, d->F), d->V);
        q->acc_cap = rmax * (size_t)wide;
        q->acc = zalloc(q->acc_cap, sizeof(int32_t), &s, err);
        q->a16 = zalloc(4 * (size_t)ES_MAX(ES_MAX(d->D, d->De), d->F), sizeof(int16_t), &s, err);
    }
    if (s) {
        es_s2s_qat_free(q);
        return s;
    }
    *out = q;
    return ES_OK;
}

void es_s2s_qat_free(es_s2s_qat *q) {
    if (!q) return;
    es_free_aligned(q->wq);
    es_free_aligned(q->snap);
    es_free_aligned(q->delta);
    for (int pt = 0; pt < MAX_PTS; pt++) {
        es_free_aligned(q->xq[pt]);
        es_free_aligned(q->u8[pt]);
        es_free_aligned(q->x0[pt]);
    }
    es_qweights_free(q->own);
    es_free_aligned(q->acc);
    es_free_aligned(q->a16);
    es_free_aligned(q);
}

/* ---- weights ------------------------------------------------------------------ */

static void build_wq(es_s2s_qat *q, const es_params *ps) {
    memcpy(q->wq, ps->data, ps->total * sizeof(float));
    if (q->frozen && q->delta) {
        for (size_t i = 0; i < ps->total; i++) q->wq[i] += q->delta[i];
    } else {
        for (int i = 0; i < ps->n; i++) {
            if (!es_s2s_qat_is_weight(ps, i)) continue;
            const es_param *p = &ps->p[i];
            int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
            es_fq_weights(q->wq + p->offset, ps->data + p->offset, rows, cols, q->qc.per_channel);
        }
    }
    memcpy(q->snap, ps->data, ps->total * sizeof(float));
    q->wq_valid = 1;
}

const es_params *es_s2s_qat_enter(es_s2s_qat *q, es_params *ps, int train) {
    float *cnt = es_params_data(ps, q->ci);
    q->master = ps;
    q->first = train && cnt[0] == 0.0f;
    q->active = q->qc.int8 || (double)cnt[0] >= (double)q->qc.start_step;
    /* float counter: exact below 2^24 forwards, then it saturates (only the
     * comparison with start_step depends on it) */
    if (train && cnt[0] < 16777216.0f) cnt[0] += 1.0f;
    memset(q->has, 0, sizeof q->has);
    /* an int8 model's values are its dequantized codes (fake-quantizing them
     * again gives the same values): it runs on ps itself */
    if (!q->active || q->int8) return ps;
    if (!q->wq_valid || memcmp(q->snap, ps->data, ps->total * sizeof(float)) != 0)
        build_wq(q, ps);
    q->shadow = *ps;
    q->shadow.data = q->wq;
    return &q->shadow;
}

es_params *es_s2s_qat_params(es_s2s_qat *q, es_params *ps) {
    if (!q->active || q->int8) return ps;
    q->shadow.grad = ps->grad; /* gradients may have been enabled after the forward */
    return &q->shadow;
}

int es_s2s_qat_int8_ran(const es_s2s_qat *q) { return q && q->active && q->int8; }

/* ---- activations --------------------------------------------------------------- */

static int in_range(float x, const es_qparams *g) { return x >= g->lo && x <= g->hi; }

void es_s2s_qat_act(es_s2s_qat *q, int pt, const float *x, size_t n, int train) {
    q->has[pt] = 0;
    if (n == 0 || n > q->cap[pt]) return; /* callers size the workspace; never larger */
    float *range = es_params_data(q->master, q->ri) + 2 * pt;
    if (train && !q->frozen) {
        float lo, hi;
        es_range_of(&lo, &hi, x, n);
        es_ema_update(range, lo, hi, q->qc.ema_decay, q->first);
    }
    if (!q->active || !q->qc.activations) return;
    if (q->frozen && q->x0[pt]) {
        if (!q->have0[pt]) {
            memcpy(q->x0[pt], x, n * sizeof(float));
            q->qp0[pt] = es_qparams_from_range(range[0], range[1]);
            q->have0[pt] = 1;
        }
        const es_qparams *g = &q->qp0[pt];
        const float *x0 = q->x0[pt];
        float *y = q->xq[pt];
        for (size_t i = 0; i < n; i++) {
            float f0 = es_dequant_u8(es_quant_u8(x0[i], g), g);
            y[i] = in_range(x0[i], g) ? x[i] + (f0 - x0[i]) : f0;
        }
        q->qp[pt] = *g;
        q->has[pt] = 1;
        return;
    }
    q->qp[pt] = es_qparams_from_range(range[0], range[1]);
    if (q->int8) es_qat_quant_u8(q->u8[pt], x, n, &q->qp[pt]);
    else es_fq_act(q->xq[pt], x, n, &q->qp[pt]);
    q->has[pt] = 1;
}

void es_s2s_qat_ste(const es_s2s_qat *q, int pt, float *dx, const float *x, size_t n) {
    if (!q->has[pt] || !dx) return;
    if (q->frozen && q->have0[pt]) x = q->x0[pt];
    es_fq_act_backward(dx, x, n, &q->qp[pt]);
}

/* The float GEMM input of point pt. */
static const float *xin(const es_s2s_qat *q, int pt, const float *x) {
    return q->has[pt] && !q->int8 ? q->xq[pt] : x;
}

static const es_params *cur(const es_s2s_qat *q) {
    return q->active && !q->int8 ? &q->shadow : q->master;
}

void es_s2s_qat_linear(es_s2s_qat *q, es_pool *pool, int pt, int widx, float *y, const float *x,
                       const float *b, int N, int K, int M) {
    if (N <= 0) return;
    const float *W = es_params_data(cur(q), widx);
    size_t nm = (size_t)N * (size_t)M;
    if (!(q->has[pt] && q->int8 && q->st && q->st->w8[widx] && nm <= q->acc_cap)) {
        es_linear_forward(pool, y, xin(q, pt, x), W, b, N, K, M);
        return;
    }
    es_qat_qgemm(pool, q->acc, q->u8[pt], q->st->w8[widx], N, M, K, q->a16);
    const es_qparams *g = &q->qp[pt];
    const float *sw = q->st->sw[widx];
    const int32_t *ws = q->st->wsum[widx];
    for (int r = 0; r < N; r++) {
        const int32_t *a = q->acc + (size_t)r * (size_t)M;
        float *yr = y + (size_t)r * (size_t)M;
        /* exact integer dot product minus the zero-point term, one rounding */
        if (b)
            for (int n = 0; n < M; n++)
                yr[n] = (float)(a[n] - g->zp * ws[n]) * (g->scale * sw[n]) + b[n];
        else
            for (int n = 0; n < M; n++)
                yr[n] = (float)(a[n] - g->zp * ws[n]) * (g->scale * sw[n]) + 0.0f;
    }
}

void es_s2s_qat_linear_backward(es_s2s_qat *q, es_pool *pool, int pt, int widx, float *dx,
                                float *db, const float *dy, const float *x, int N, int K, int M) {
    const es_params *ps = cur(q);
    es_linear_backward(pool, dx, 0, es_params_grad(q->master, widx), db, dy, xin(q, pt, x),
                       es_params_data(ps, widx), N, K, M);
    es_s2s_qat_ste(q, pt, dx, x, (size_t)N * (size_t)K);
}

/* ---- sublayers ------------------------------------------------------------------- */

void es_s2s_qat_matt_forward(es_s2s_qat *q, es_pool *pool, int l, const int w[5], float *y,
                             const es_matt_cache *c, const float *x, const float *enc,
                             const es_matt_shape *sh, int train) {
    const int N = sh->B * sh->T, D = sh->D, De = sh->De;
    const int rows_e = (int)es_seq_rows(sh->se);
    es_s2s_qat_act(q, ES_S2SQ_A1(l), x, (size_t)N * (size_t)D, train);
    es_s2s_qat_linear(q, pool, ES_S2SQ_A1(l), w[0], c->q, x, NULL, N, D, D);
    es_s2s_qat_linear(q, pool, ES_S2SQ_A1(l), w[3], c->vu, x, NULL, N, D, D);
    es_s2s_qat_linear(q, pool, ES_S2SQ_ENC, w[1], c->k, enc, NULL, rows_e, De, D);
    es_s2s_qat_linear(q, pool, ES_S2SQ_ENC, w[2], c->v, enc, NULL, rows_e, De, D);
    es_matt_mix_forward(pool, c, sh, y); /* y: running-sum scratch, overwritten below */
    es_s2s_qat_act(q, ES_S2SQ_Z(l), c->z, (size_t)N * (size_t)D, train);
    es_s2s_qat_linear(q, pool, ES_S2SQ_Z(l), w[4], y, c->z, NULL, N, D, D);
}

void es_s2s_qat_matt_backward(es_s2s_qat *q, es_pool *pool, int l, const int w[5], float *dx,
                              float *denc, int acc_denc, const float *dy, const es_matt_cache *c,
                              const float *x, const float *enc, const es_matt_shape *sh,
                              const es_matt_scratch *s) {
    const int N = sh->B * sh->T, D = sh->D, De = sh->De;
    const int rows_e = (int)es_seq_rows(sh->se);
    const es_params *ps = cur(q), *gs = q->master;
    const size_t nd = (size_t)N * (size_t)D;
    /* dz = dy·FQ(W_o), dW_o += dyᵀ·FQ(z), then the STE of z */
    es_linear_backward(pool, s->dz, 0, es_params_grad(gs, w[4]), NULL, dy,
                       xin(q, ES_S2SQ_Z(l), c->z), es_params_data(ps, w[4]), N, D, D);
    es_s2s_qat_ste(q, ES_S2SQ_Z(l), s->dz, c->z, nd);
    es_matt_mix_backward(pool, c, sh, s);
    const float *xq = xin(q, ES_S2SQ_A1(l), x), *eq = xin(q, ES_S2SQ_ENC, enc);
    es_linear_backward(pool, dx, 0, es_params_grad(gs, w[3]), NULL, s->dvu, xq,
                       es_params_data(ps, w[3]), N, D, D);
    es_linear_backward(pool, dx, 1, es_params_grad(gs, w[0]), NULL, s->dq, xq,
                       es_params_data(ps, w[0]), N, D, D);
    es_s2s_qat_ste(q, ES_S2SQ_A1(l), dx, x, nd);
    es_linear_backward(pool, denc, acc_denc, es_params_grad(gs, w[1]), NULL, s->dk, eq,
                       es_params_data(ps, w[1]), rows_e, De, D);
    es_linear_backward(pool, denc, denc ? 1 : 0, es_params_grad(gs, w[2]), NULL, s->dv, eq,
                       es_params_data(ps, w[2]), rows_e, De, D);
}

void es_s2s_qat_matt_memory(es_s2s_qat *q, es_pool *pool, const int w[5], float *k, float *v,
                            const float *enc, int Le, int De, int D) {
    if (Le <= 0) return;
    es_s2s_qat_act(q, ES_S2SQ_ENC, enc, (size_t)Le * (size_t)De, 0);
    es_s2s_qat_linear(q, pool, ES_S2SQ_ENC, w[1], k, enc, NULL, Le, De, D);
    es_s2s_qat_linear(q, pool, ES_S2SQ_ENC, w[2], v, enc, NULL, Le, De, D);
}

void es_s2s_qat_matt_step(es_s2s_qat *q, es_pool *pool, int l, const int w[5], float *y,
                          float *R, const float *x, const float *k, const float *v, int Le, int n,
                          int t, int D, int H, float *scratch) {
    const size_t nD = (size_t)n * (size_t)D;
    float *qv = scratch, *vu = qv + nD, *z = vu + nD, *p = z + nD;
    es_s2s_qat_act(q, ES_S2SQ_A1(l), x, nD, 0);
    es_s2s_qat_linear(q, pool, ES_S2SQ_A1(l), w[0], qv, x, NULL, n, D, D);
    es_s2s_qat_linear(q, pool, ES_S2SQ_A1(l), w[3], vu, x, NULL, n, D, D);
    es_matt_mix_step(z, R, qv, vu, k, v, Le, n, t, D, H, p);
    es_s2s_qat_act(q, ES_S2SQ_Z(l), z, nD, 0);
    es_s2s_qat_linear(q, pool, ES_S2SQ_Z(l), w[4], y, z, NULL, n, D, D);
}

void es_s2s_qat_ffn_forward(es_s2s_qat *q, es_pool *pool, int l, const int w[4], float *y,
                            float *h, float *a, const float *x, int N, int D, int F, int train) {
    if (N <= 0) return;
    const es_params *ps = cur(q);
    es_s2s_qat_act(q, ES_S2SQ_A2(l), x, (size_t)N * (size_t)D, train);
    es_s2s_qat_linear(q, pool, ES_S2SQ_A2(l), w[0], h, x, es_params_data(ps, w[1]), N, D, F);
    es_gelu_forward(a, h, (size_t)N * (size_t)F);
    es_s2s_qat_act(q, ES_S2SQ_FF(l), a, (size_t)N * (size_t)F, train);
    es_s2s_qat_linear(q, pool, ES_S2SQ_FF(l), w[2], y, a, es_params_data(ps, w[3]), N, F, D);
}

void es_s2s_qat_ffn_backward(es_s2s_qat *q, es_pool *pool, int l, const int w[4], float *dx,
                             const float *dy, const float *x, const float *h, const float *a,
                             int N, int D, int F, float *scratch) {
    if (N <= 0) return;
    const es_params *gs = q->master;
    const size_t nf = (size_t)N * (size_t)F;
    es_s2s_qat_linear_backward(q, pool, ES_S2SQ_FF(l), w[2], scratch, es_params_grad(gs, w[3]),
                               dy, a, N, F, D);
    es_gelu_backward(scratch, scratch, h, nf);
    es_s2s_qat_linear_backward(q, pool, ES_S2SQ_A2(l), w[0], dx, es_params_grad(gs, w[1]),
                               scratch, x, N, D, F);
}

/* ---- gradient-check surrogate ----------------------------------------------------- */

es_status es_s2s_qat_freeze(es_s2s_qat *q, const es_params *ps, int freeze, es_error *err) {
    q->wq_valid = 0;
    memset(q->have0, 0, sizeof q->have0);
    if (!freeze) {
        q->frozen = 0;
        return ES_OK;
    }
    if (q->int8) return es_errf(err, ES_ERR_ARG, "seq2seq qat: freeze needs a fake-quant workspace");
    es_status s = ES_OK;
    if (!q->delta) q->delta = zalloc(ps->total, sizeof(float), &s, err);
    for (int pt = 0; pt < q->P && !s; pt++)
        if (!q->x0[pt]) q->x0[pt] = zalloc(q->cap[pt], sizeof(float), &s, err);
    if (s) return s;
    memset(q->delta, 0, ps->total * sizeof(float));
    for (int i = 0; i < ps->n; i++) {
        if (!es_s2s_qat_is_weight(ps, i)) continue;
        const es_param *p = &ps->p[i];
        int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
        float *d = q->delta + p->offset;
        const float *W = ps->data + p->offset;
        es_fq_weights(d, W, rows, cols, q->qc.per_channel);
        for (size_t k = 0; k < p->numel; k++) d[k] -= W[k];
    }
    q->frozen = 1;
    return ES_OK;
}

/* ---- QAT on a float model ------------------------------------------------------------ */

/* Copies every tensor of `from` into the same-named tensor of `to`. */
static es_status copy_by_name(es_params *to, const es_params *from, es_error *err) {
    for (int i = 0; i < from->n; i++) {
        const es_param *p = &from->p[i];
        int j = es_params_find(to, p->name);
        if (j < 0 || to->p[j].numel != p->numel)
            return es_errf(err, ES_ERR_INTERNAL, "qat enable: tensor %s has no counterpart",
                           p->name);
        memcpy(es_params_data(to, j), from->data + p->offset, p->numel * sizeof(float));
    }
    return ES_OK;
}

/* Config JSON of m with its "qat" block replaced by qc (es_malloc'd text). */
static es_status config_with_qat(const es_s2s_model *m, const es_qat_config *qc, char **out,
                                 es_error *err) {
    *out = NULL;
    char *json = NULL;
    es_status s = es_s2s_config_to_json(m, &json, err);
    if (s) return s;
    struct json_object *o = json_tokener_parse(json);
    es_free(json);
    if (!o) return es_errf(err, ES_ERR_INTERNAL, "qat: config JSON does not parse");
    json_object_object_del(o, "qat");
    es_qat_config_to_json(qc, o);
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    size_t n = txt ? strlen(txt) : 0;
    if (txt && (*out = es_malloc(n + 1))) memcpy(*out, txt, n + 1);
    json_object_put(o);
    return *out ? ES_OK : es_errf(err, ES_ERR_NOMEM, "qat: out of memory");
}

es_status es_s2s_qat_enable(es_s2s_model **pm, const es_qat_config *qc, es_error *err) {
    es_s2s_model *m = *pm;
    if (es_s2s_model_config(m)->enc.qat.enabled) return ES_OK;
    es_qat_config c = *qc;
    c.enabled = 1;
    c.int8 = 0;
    char *txt = NULL;
    es_status s = config_with_qat(m, &c, &txt, err);
    if (s) return s;
    es_s2s_model *nm = NULL;
    s = es_s2s_model_from_json(&nm, txt, strlen(txt), "qat enable", 0, err);
    es_free(txt);
    if (!s) s = copy_by_name(es_s2s_model_enc_params(nm), es_s2s_model_enc_params(m), err);
    if (!s) s = copy_by_name(es_s2s_model_dec_params(nm), es_s2s_model_dec_params(m), err);
    if (s) {
        es_s2s_model_free(nm);
        return s;
    }
    es_s2s_model_free(m);
    *pm = nm;
    return ES_OK;
}

/* ---- export ------------------------------------------------------------------------- */

es_status es_s2s_model_export_int8(const es_s2s_model *m, const char *dir, es_error *err) {
    es_s2s_model *mm = (es_s2s_model *)(uintptr_t)m; /* registry accessors; nothing is written */
    const es_qat_config *qc = &es_s2s_model_config(m)->enc.qat;
    if (es_s2s_model_is_int8_only(m))
        return es_errf(err, ES_ERR_ARG, "export --int8: an int8-only (inference) model has no "
                       "float weights");
    if (!qc->enabled)
        return es_errf(err, ES_ERR_ARG, "export --int8: the model has no \"qat\" config (train it "
                       "with quantization-aware training first)");
    if (!qc->activations)
        return es_errf(err, ES_ERR_ARG, "export --int8: the model's qat block has activations "
                       "false; the integer path needs activation ranges");
    if (mkdir(dir, 0777) != 0 && !es_is_dir(dir))
        return es_errf(err, ES_ERR_IO, "%s: cannot create folder", dir);
    es_qat_config c8 = *qc;
    c8.int8 = 1;
    char path[4096];
    char *json = NULL;
    es_status s = config_with_qat(m, &c8, &json, err);
    if (s) return s;
    if (!(s = es_path_join(path, sizeof path, dir, "config.json", err)))
        s = es_atomic_write_file(path, json, strlen(json), err);
    es_free(json);
    if (s) return s;
    const es_params *reg[2] = {es_s2s_model_enc_params(mm), es_s2s_model_dec_params(mm)};
    size_t nt = 0, nrows = 0, ncodes = 0;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < reg[r]->n; i++) {
            int wt = r ? es_s2s_qat_is_weight(reg[r], i) : es_byte_qat_is_weight(reg[r], i);
            nt += wt ? 2 : 1;
            if (wt) nrows += (size_t)reg[r]->p[i].shape[0];
            ncodes += reg[r]->p[i].numel;
        }
    es_st_write_tensor *t = es_calloc(nt, sizeof *t);
    int8_t *codes = es_malloc(ncodes ? ncodes : 1);
    float *scales = es_malloc((nrows ? nrows : 1) * sizeof(float));
    char (*names)[ES_PARAM_NAME_MAX + 16] = es_calloc(nt, sizeof *names);
    if (!t || !codes || !scales || !names) {
        s = es_errf(err, ES_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    size_t k = 0, srow = 0, coff = 0;
    for (int r = 0; r < 2; r++) {
        const es_params *ps = reg[r];
        for (int i = 0; i < ps->n; i++) {
            const es_param *p = &ps->p[i];
            es_st_write_tensor *e = &t[k++];
            e->name = p->name;
            e->ndim = p->ndim;
            for (int d = 0; d < p->ndim; d++) e->shape[d] = p->shape[d];
            int wt = r ? es_s2s_qat_is_weight(ps, i) : es_byte_qat_is_weight(ps, i);
            if (!wt) {
                e->dtype = ES_DTYPE_F32;
                e->data = ps->data + p->offset;
                continue;
            }
            int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
            es_quant_w_s8(codes + coff, scales + srow, ps->data + p->offset, rows, cols,
                          qc->per_channel);
            e->dtype = ES_DTYPE_I8;
            e->data = codes + coff;
            coff += p->numel;
            es_st_write_tensor *sc = &t[k];
            snprintf(names[k], sizeof names[k], "%s.qscale", p->name);
            k++;
            sc->name = names[k - 1];
            sc->dtype = ES_DTYPE_F32;
            sc->ndim = 1;
            sc->shape[0] = qc->per_channel ? rows : 1;
            sc->data = scales + srow;
            srow += (size_t)rows;
        }
    }
    const char *meta[] = {"edgeseq_format", "1", "format", "pt", "edgeseq_quant",
                          qc->per_channel ? "int8-sym-per-channel/u8-act"
                                          : "int8-sym-per-tensor/u8-act"};
    if (!(s = es_path_join(path, sizeof path, dir, "model.safetensors", err)))
        s = es_safetensors_write(path, t, k, meta, 3, err);
done:
    es_free(t);
    es_free(codes);
    es_free(scales);
    es_free(names);
    return s;
}
