/*
 * byte_qat.c — QAT and int8 inference hooks of the byte models (contracts
 * in byte_qat.h; equations in quant.h and docs/quantization.md).
 *
 * Per workspace (struct es_byte_qat): the shadow model and its buffer of
 * fake-quantized weights (rebuilt when the master weights differ bitwise
 * from the snapshot it was built from, so an inference workspace builds it
 * once), the per-layer grids and fake-quantized QRNN inputs of the last
 * forward (the backward needs them), and for an int8 export the packed
 * int8 gate weights, their per-row sums and the uint8 / int32 buffers.
 *
 * Integer gate conv (layer input x (rows1, din), codes a = q(x) with zero
 * point z and scale s_a; weight codes w (3H, k, din) with row scales s_w):
 *   acc[r][n] = Σ_j Σ_c a[r + shift + j][c] · w[n][j][c]     (int32, exact)
 *   G[r][n]   = (acc[r][n] − z·Σ_{j,c} w[n][j][c]) · (s_a·s_w[n]) + b[n]
 * which is Σ (a − z)·s_a · w·s_w + b: the float conv of the fake-quant
 * graph, computed in integers (only the final scaling rounds). Zero rows
 * (pads, margins) quantize to z exactly, so their taps cancel as the
 * zeros of the float conv do.
 */
#include "quant/byte_qat.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "kern/kern.h"
#include "model/model_internal.h"
#include "nn/linear.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TPTS (4 * ES_BYTE_MAX_LAYERS)

struct es_byte_qat {
    const es_byte_model *user;   /* the caller's model during a forward */
    es_byte_model shadow;        /* user's struct with ps.data = wq */
    float *wq, *snap;            /* (ps.total) fake-quantized weights, masters they came from */
    int wq_valid;
    int active, trained, first;  /* last forward: quantized? training? first training forward? */
    int ri, ci;                  /* qat.act_range, qat.updates (-1 absent) */
    int npts;                    /* activation points (QRNN layers; 0 otherwise) */
    es_qparams qp[ES_BYTE_MAX_LAYERS];
    int has_qp[ES_BYTE_MAX_LAYERS];
    float *xq[ES_BYTE_MAX_LAYERS];          /* (rows1, din) fake-quantized layer inputs */
    /* int8 inference (int8 export, eval forwards) */
    int int8;
    int8_t *w8[ES_BYTE_MAX_LAYERS][2];      /* (3H, k, din) */
    float *sw[ES_BYTE_MAX_LAYERS][2];       /* (3H) row scales */
    int32_t *wsum[ES_BYTE_MAX_LAYERS][2];   /* (3H) Σ of each row's codes */
    uint8_t *xu8;                           /* (rows1, din max) */
    int32_t *acc;                           /* (rows1, 3H) */
    /* transformer encoder points of seq2seq models (ES_BQ_*; tpts = 0: none) */
    int tri, tpts, noshadow;                /* qat.enc_act_range; int8: run on the model itself */
    es_qparams tqp[MAX_TPTS];
    int thas[MAX_TPTS];
    size_t tcap[MAX_TPTS][2];               /* floats (or codes) per slot buffer */
    float *txq[MAX_TPTS][2];                /* fake-quantized inputs */
    uint8_t *tu8[MAX_TPTS][2];              /* uint8 codes (integer path) */
    int32_t *tacc;                          /* (rows1, max(2D, F)) */
    size_t tacc_cap;
    int16_t *ta16;                          /* (4, max(D, F)) widened activation rows */
    /* frozen surrogate (gradient checks) */
    int frozen;
    float *delta;                           /* (ps.total) FQ(W0) − W0 on weights */
    float *tx0[MAX_TPTS][2];
    int thave0[MAX_TPTS];
    es_qparams tqp0[MAX_TPTS];
};

/* ---- config ------------------------------------------------------------- */

es_status es_qat_config_from_json(es_qat_config *c, struct json_object *cfg, es_error *err) {
    memset(c, 0, sizeof *c);
    struct json_object *q = NULL;
    if (!json_object_object_get_ex(cfg, "qat", &q) || json_object_get_type(q) == json_type_null)
        return ES_OK;
    if (json_object_get_type(q) != json_type_object)
        return es_errf(err, ES_ERR_FORMAT, "config.json: qat must be an object");
    *c = es_qat_config_default();
    const char *wmode = NULL;
    bool act = true, i8 = false;
    double decay = 0.0;
    int64_t start = 0;
    es_status s;
    if ((s = es_config_string(q, "weights", false, &wmode, err)) ||
        (s = es_config_bool(q, "activations", false, true, &act, err)) ||
        (s = es_config_float(q, "ema_decay", false, 0.99, 0.0, 0.999999, &decay, err)) ||
        (s = es_config_int(q, "start_step", false, 0, 0, INT64_C(1) << 40, &start, err)) ||
        (s = es_config_bool(q, "int8", false, false, &i8, err)))
        return es_err_prefix(err, "qat");
    if (wmode && strcmp(wmode, "per_channel") && strcmp(wmode, "per_tensor"))
        return es_errf(err, ES_ERR_FORMAT, "config.json: qat.weights \"%s\" (per_channel or "
                       "per_tensor)", wmode);
    c->per_channel = !wmode || strcmp(wmode, "per_channel") == 0;
    c->activations = act;
    c->ema_decay = (float)decay;
    c->start_step = start;
    c->int8 = i8;
    return ES_OK;
}

void es_qat_config_to_json(const es_qat_config *c, struct json_object *cfg) {
    if (!c->enabled) return;
    struct json_object *q = json_object_new_object();
    json_object_object_add(q, "weights",
                           json_object_new_string(c->per_channel ? "per_channel" : "per_tensor"));
    json_object_object_add(q, "activations", json_object_new_boolean(c->activations));
    json_object_object_add(q, "ema_decay", json_object_new_double((double)c->ema_decay));
    json_object_object_add(q, "start_step", json_object_new_int64(c->start_step));
    if (c->int8) json_object_object_add(q, "int8", json_object_new_boolean(1));
    json_object_object_add(cfg, "qat", q);
}

/* ---- parameters ------------------------------------------------------------ */

static int n_points(const es_byte_config *c) {
    return c->encoder == ES_BYTE_QRNN && c->qat.activations ? c->qrnn_layers : 0;
}

/* Transformer encoder points: seq2seq encoders (no head) only. */
static int n_tf_points(const es_byte_config *c) {
    return c->qat.enabled && c->qat.activations && c->n_labels == 0 && c->encoder != ES_BYTE_QRNN
               ? 4 * c->n_layers : 0;
}

es_status es_byte_qat_register(es_byte_model *m, es_error *err) {
    const es_byte_config *c = &m->cfg;
    if (!c->qat.enabled) return ES_OK;
    int idx;
    int64_t one[1] = {1};
    es_status s = es_params_add(&m->ps, &idx, "qat.updates", 1, one, ES_INIT_ZERO, 0.0f, 0, 0, 0,
                                err);
    if (!s && n_tf_points(c)) {
        int64_t st[2] = {n_tf_points(c), 2};
        s = es_params_add(&m->ps, &idx, "qat.enc_act_range", 2, st, ES_INIT_ZERO, 0.0f, 0, 0, 0,
                          err);
    }
    if (s || !n_points(c)) return s;
    int64_t sh[2] = {n_points(c), 2};
    return es_params_add(&m->ps, &idx, "qat.act_range", 2, sh, ES_INIT_ZERO, 0.0f, 0, 0, 0, err);
}


int es_byte_qat_is_weight(const es_params *ps, int i) {
    const es_param *p = &ps->p[i];
    return p->ndim >= 2 && strncmp(p->name, "qat.", 4) != 0;
}

es_status es_byte_qat_bind(float *dst, const es_param *p, es_weights *w, int *done,
                           es_error *err) {
    *done = 0;
    const es_tensor_view *t = es_weights_find(w, p->name);
    if (!t && strcmp(p->name, "qat.enc_act_range") == 0) {
        /* written before encoder activation ranges existed: zero = not tracked */
        memset(dst, 0, p->numel * sizeof(float));
        *done = 1;
        return ES_OK;
    }
    if (!t || t->dtype != ES_DTYPE_I8) return ES_OK;
    int ok = t->ndim == p->ndim;
    for (int d = 0; ok && d < p->ndim; d++) ok = t->shape[d] == p->shape[d];
    if (!ok) return es_errf(err, ES_ERR_SHAPE, "tensor %s: I8 shape does not match the config", p->name);
    char sname[ES_PARAM_NAME_MAX + 16];
    snprintf(sname, sizeof sname, "%s.qscale", p->name);
    const es_tensor_view *sv = es_weights_find(w, sname);
    int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
    if (!sv || sv->dtype != ES_DTYPE_F32 || sv->ndim != 1 ||
        (sv->shape[0] != rows && sv->shape[0] != 1))
        return es_errf(err, ES_ERR_FORMAT, "tensor %s is I8 but %s is missing or not F32 (%lld) "
                       "or (1)", p->name, sname, (long long)rows);
    const int8_t *q = t->data;
    const unsigned char *sb = sv->data;
    for (int64_t r = 0; r < rows; r++) {
        float s;
        memcpy(&s, sb + 4 * (size_t)(sv->shape[0] == 1 ? 0 : r), 4); /* may be unaligned */
        if (!(s > 0.0f) || !isfinite(s))
            return es_errf(err, ES_ERR_FORMAT, "tensor %s: scale %lld is %g (must be > 0)", sname,
                           (long long)r, (double)s);
        for (int64_t c = 0; c < cols; c++)
            dst[r * cols + c] = (float)q[r * cols + c] * s;
    }
    *done = 1;
    return ES_OK;
}

/* ---- workspace ------------------------------------------------------------- */

static void *zalloc(size_t n, size_t elem, es_status *s, es_error *err) {
    size_t bytes;
    void *p = NULL;
    if (*s) return NULL;
    if (es_mul_ok(n, elem, &bytes)) p = es_malloc_aligned(bytes ? bytes : 1);
    if (!p) {
        *s = es_errf(err, ES_ERR_NOMEM, "byte workspace: out of memory (qat)");
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

/* int8 gate weights of layer l, direction d from the (dequantized) floats. */
static void pack_gates(es_byte_qat *q, const es_byte_model *m, int l, int d) {
    const es_byte_config *c = &m->cfg;
    const es_param *p = &m->ps.p[m->qw[l][d]];
    int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
    es_quant_w_s8(q->w8[l][d], q->sw[l][d], es_params_data(&m->ps, m->qw[l][d]), rows, cols,
                  c->qat.per_channel);
    if (!c->qat.per_channel)
        for (int64_t r = 1; r < rows; r++) q->sw[l][d][r] = q->sw[l][d][0];
    for (int64_t r = 0; r < rows; r++) {
        int32_t sum = 0;
        for (int64_t k = 0; k < cols; k++) sum += q->w8[l][d][r * cols + k];
        q->wsum[l][d][r] = sum;
    }
}

es_status es_byte_qat_ws_alloc(es_byte_ws *ws, es_error *err) {
    const es_byte_model *m = ws->m;
    const es_byte_config *c = &m->cfg;
    ws->qat = NULL;
    if (!c->qat.enabled) return ES_OK;
    es_status s = ES_OK;
    es_byte_qat *q = zalloc(1, sizeof *q, &s, err);
    if (!q) return s;
    ws->qat = q;
    q->ri = es_params_find(&m->ps, "qat.act_range");
    q->ci = es_params_find(&m->ps, "qat.updates");
    q->npts = q->ri >= 0 ? n_points(c) : 0;
    /* an int8 seq2seq encoder runs on its own (dequantized, hence already
     * fake-quantized) weights: no shadow copy in the workspace */
    q->noshadow = c->qat.int8 && !ws->training && c->n_labels == 0;
    if (!q->noshadow) {
        q->wq = zalloc(m->ps.total, sizeof(float), &s, err);
        q->snap = zalloc(m->ps.total, sizeof(float), &s, err);
    }
    q->tri = es_params_find(&m->ps, "qat.enc_act_range");
    q->tpts = q->tri >= 0 ? n_tf_points(c) : 0;
    if (q->tpts) {
        /* every layer's rows are at most the GBST output's (funnels shrink) */
        size_t rows1 = (size_t)ws->max_batch * (size_t)ws->T1cap;
        int D = c->d_model, F = c->d_ff, int8 = c->qat.int8 && !ws->training;
        q->int8 = int8;
        for (int pt = 0; pt < q->tpts; pt++) {
            int l = pt / 4, kind = pt % 4;
            size_t w = (size_t)(kind == 3 ? F : D);
            int slots = kind == 0 && c->pool_windows[l] > 1 ? 2 : 1;
            for (int sl = 0; sl < slots; sl++) {
                q->tcap[pt][sl] = rows1 * w;
                if (int8) q->tu8[pt][sl] = zalloc(rows1 * w, 1, &s, err);
                else q->txq[pt][sl] = zalloc(rows1 * w, sizeof(float), &s, err);
            }
        }
        if (int8) {
            q->tacc_cap = rows1 * (size_t)ES_MAX(2 * D, F);
            q->tacc = zalloc(q->tacc_cap, sizeof(int32_t), &s, err);
            q->ta16 = zalloc(4 * (size_t)ES_MAX(D, F), sizeof(int16_t), &s, err);
        }
    }
    if (c->encoder != ES_BYTE_QRNN || !q->npts) return s;
    size_t rows1 = (size_t)ws->max_batch * (size_t)(ws->T1cap + 2 * ws->m1);
    int H = c->qrnn_hidden, dmax = ES_MAX(c->d_model, m->d_enc);
    for (int l = 0; l < q->npts; l++)
        q->xq[l] = zalloc(rows1, (size_t)(l ? m->d_enc : c->d_model) * sizeof(float), &s, err);
    q->int8 = c->qat.int8 && !ws->training;
    if (!q->int8) return s;
    q->xu8 = zalloc(rows1, (size_t)dmax, &s, err);
    q->acc = zalloc(rows1, 3 * (size_t)H * sizeof(int32_t), &s, err);
    for (int l = 0; l < c->qrnn_layers && !s; l++)
        for (int d = 0; d < (c->qrnn_bidirectional ? 2 : 1) && !s; d++) {
            const es_param *p = &m->ps.p[m->qw[l][d]];
            q->w8[l][d] = zalloc(p->numel, 1, &s, err);
            q->sw[l][d] = zalloc((size_t)p->shape[0], sizeof(float), &s, err);
            q->wsum[l][d] = zalloc((size_t)p->shape[0], sizeof(int32_t), &s, err);
            if (!s) pack_gates(q, m, l, d);
        }
    return s;
}

void es_byte_qat_ws_free(es_byte_ws *ws) {
    es_byte_qat *q = ws->qat;
    if (!q) return;
    if (q->user) ws->m = q->user;
    es_free_aligned(q->wq);
    es_free_aligned(q->snap);
    for (int l = 0; l < ES_BYTE_MAX_LAYERS; l++) {
        es_free_aligned(q->xq[l]);
        for (int d = 0; d < 2; d++) {
            es_free_aligned(q->w8[l][d]);
            es_free_aligned(q->sw[l][d]);
            es_free_aligned(q->wsum[l][d]);
        }
    }
    es_free_aligned(q->xu8);
    es_free_aligned(q->acc);
    for (int pt = 0; pt < MAX_TPTS; pt++)
        for (int sl = 0; sl < 2; sl++) {
            es_free_aligned(q->txq[pt][sl]);
            es_free_aligned(q->tu8[pt][sl]);
            es_free_aligned(q->tx0[pt][sl]);
        }
    es_free_aligned(q->tacc);
    es_free_aligned(q->ta16);
    es_free_aligned(q->delta);
    es_free_aligned(q);
    ws->qat = NULL;
}

/* ---- forward hooks ----------------------------------------------------------- */

static void build_wq(es_byte_qat *q, const es_byte_model *m) {
    const es_params *ps = &m->ps;
    memcpy(q->wq, ps->data, ps->total * sizeof(float));
    if (q->frozen && q->delta) { /* straight-through surrogate W + (FQ(W0) − W0) */
        for (size_t i = 0; i < ps->total; i++) q->wq[i] += q->delta[i];
        memcpy(q->snap, ps->data, ps->total * sizeof(float));
        q->wq_valid = 1;
        return;
    }
    for (int i = 0; i < ps->n; i++) {
        if (!es_byte_qat_is_weight(ps, i)) continue;
        const es_param *p = &ps->p[i];
        int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
        es_fq_weights(q->wq + p->offset, ps->data + p->offset, rows, cols, m->cfg.qat.per_channel);
    }
    memcpy(q->snap, ps->data, ps->total * sizeof(float));
    q->wq_valid = 1;
}

const es_byte_model *es_byte_qat_enter(es_byte_ws *ws, const es_byte_model *m, int train) {
    es_byte_qat *q = ws->qat;
    if (!q) return m;
    const es_qat_config *qc = &m->cfg.qat;
    float *cnt = q->ci >= 0 ? es_params_data(&m->ps, q->ci) : NULL;
    q->user = m;
    q->trained = train;
    q->first = train && cnt && cnt[0] == 0.0f;
    q->active = qc->int8 || !cnt || (double)cnt[0] >= (double)qc->start_step;
    /* float counter: exact below 2^24 forwards, then it saturates (only
     * the comparison with start_step depends on it) */
    if (train && cnt && cnt[0] < 16777216.0f) cnt[0] += 1.0f;
    for (int l = 0; l < ES_BYTE_MAX_LAYERS; l++) q->has_qp[l] = 0;
    memset(q->thas, 0, sizeof q->thas);
    if (!q->active || q->noshadow) return m;
    if (!q->wq_valid || memcmp(q->snap, m->ps.data, m->ps.total * sizeof(float)) != 0)
        build_wq(q, m);
    q->shadow = *m;
    q->shadow.ps.data = q->wq;
    ws->m = &q->shadow;
    return &q->shadow;
}

void es_byte_qat_leave(es_byte_ws *ws) {
    if (ws->qat && ws->qat->user) ws->m = ws->qat->user;
}

es_byte_model *es_byte_qat_model(es_byte_ws *ws, const es_byte_model *m) {
    es_byte_qat *q = ws->qat;
    if (!q || !q->active || q->noshadow || m == &q->shadow) return (es_byte_model *)(uintptr_t)m;
    q->shadow.ps.grad = m->ps.grad; /* gradients may have been enabled after the forward */
    return &q->shadow;
}

void es_byte_qat_gates(es_byte_ws *ws, int l, int d, const float *x, int din, int train) {
    es_byte_qat *q = ws->qat;
    const es_byte_model *m = ws->m; /* the shadow when active: fake-quantized weights */
    const es_byte_config *c = &m->cfg;
    const es_params *ps = &m->ps;
    int H = c->qrnn_hidden, k = c->qrnn_kernel, N = 3 * H;
    size_t rows1 = es_seq_rows(&ws->s1), r0 = (size_t)ws->m1, r1 = rows1 - (size_t)ws->m1;
    int shift = d ? 0 : -(k - 1);
    const float *W = es_params_data(ps, m->qw[l][d]), *b = es_params_data(ps, m->qb[l][d]);
    float *G = ws->qG[l][d];
    int point = l < q->npts;
    int int8 = q->int8 && !train && q->active && point;
    if (point && d == 0) {
        float *range = es_params_data(&q->user->ps, q->ri) + 2 * l;
        size_t n = rows1 * (size_t)din;
        if (train) {
            float lo, hi;
            es_range_of(&lo, &hi, x, n);
            es_ema_update(range, lo, hi, c->qat.ema_decay, q->first);
        }
        if (q->active) {
            q->qp[l] = es_qparams_from_range(range[0], range[1]);
            q->has_qp[l] = 1;
            if (int8) es_quant_act_u8(q->xu8, x, n, &q->qp[l]);
            else es_fq_act(q->xq[l], x, n, &q->qp[l]);
        }
    }
    if (!int8) {
        es_conv1d_forward(ws->pool, G, q->active && point ? q->xq[l] : x, W, b, r0, r1, shift, k,
                          din, N);
        return;
    }
    const es_kern_table *kt = es_kern();
    int M = (int)(r1 - r0);
    int32_t *acc = q->acc + r0 * (size_t)N;
    for (int j = 0; j < k; j++)
        kt->qgemm_nt(ws->pool, acc, N, q->xu8 + (size_t)((ptrdiff_t)r0 + shift + j) * (size_t)din,
                     din, q->w8[l][d] + (size_t)j * (size_t)din, k * din, M, N, din, j > 0);
    const es_qparams *qa = &q->qp[l];
    const float *sw = q->sw[l][d];
    const int32_t *ws8 = q->wsum[l][d];
    for (size_t r = r0; r < r1; r++) {
        const int32_t *a = q->acc + r * (size_t)N;
        float *g = G + r * (size_t)N;
        for (int n = 0; n < N; n++)
            g[n] = (float)(a[n] - qa->zp * ws8[n]) * (qa->scale * sw[n]) + b[n];
    }
}

const float *es_byte_qat_input(const es_byte_ws *ws, int l, const float *x) {
    const es_byte_qat *q = ws->qat;
    return q && q->active && l < q->npts && q->has_qp[l] ? q->xq[l] : x;
}

void es_byte_qat_input_backward(const es_byte_ws *ws, int l, float *dx, const float *x, int din) {
    const es_byte_qat *q = ws->qat;
    if (!q || !q->active || l >= q->npts || !q->has_qp[l]) return;
    es_fq_act_backward(dx, x, es_seq_rows(&ws->s1) * (size_t)din, &q->qp[l]);
}

int es_byte_qat_int8_ran(const es_byte_ws *ws) {
    const es_byte_qat *q = ws->qat;
    return q && q->int8 && q->active && !q->trained && q->npts > 0;
}

/* ---- transformer encoder points (seq2seq) ----------------------------------------- */

int es_byte_qat_tf_on(const es_byte_ws *ws) { return ws->qat && ws->qat->tpts > 0; }

static int in_range(float x, const es_qparams *g) { return x >= g->lo && x <= g->hi; }

/* Fake-quantizes (or codes) slot sl's input x (n) on grid g. */
static void tf_quant_slot(es_byte_qat *q, int pt, int sl, const float *x, size_t n,
                          const es_qparams *g) {
    if (q->tu8[pt][sl]) {
        es_qat_quant_u8(q->tu8[pt][sl], x, n, g);
        return;
    }
    float *y = q->txq[pt][sl];
    if (!q->frozen || !q->tx0[pt][sl]) {
        es_fq_act(y, x, n, g);
        return;
    }
    /* frozen: x + (FQ(x0) − x0) inside the range of x0, FQ(x0) outside */
    const float *x0 = q->tx0[pt][sl];
    for (size_t i = 0; i < n; i++) {
        float f0 = es_dequant_u8(es_quant_u8(x0[i], g), g);
        y[i] = in_range(x0[i], g) ? x[i] + (f0 - x0[i]) : f0;
    }
}

void es_byte_qat_tf_act(es_byte_ws *ws, int pt, const float *x, size_t n, const float *xm,
                        size_t nm, int train) {
    es_byte_qat *q = ws->qat;
    if (!q || pt >= q->tpts) return;
    q->thas[pt] = 0;
    if (!xm || !q->tcap[pt][1]) nm = 0;
    if (n > q->tcap[pt][0] || nm > q->tcap[pt][1]) return; /* sized by the workspace; never */
    float *range = es_params_data(&q->user->ps, q->tri) + 2 * pt;
    float lo = 0.0f, hi = 0.0f;
    int have = 0;
    if (train || (q->int8 && !(range[1] > range[0]))) {
        es_range_of(&lo, &hi, x, n);
        if (nm) {
            float l2, h2;
            es_range_of(&l2, &h2, xm, nm);
            lo = l2 < lo ? l2 : lo;
            hi = h2 > hi ? h2 : hi;
        }
        have = 1;
    }
    if (train && !q->frozen) es_ema_update(range, lo, hi, ws->m->cfg.qat.ema_decay, q->first);
    if (!q->active) return;
    es_qparams g;
    if (q->frozen && q->tx0[pt][0]) {
        if (!q->thave0[pt]) { /* the point the surrogate is built around */
            memcpy(q->tx0[pt][0], x, n * sizeof(float));
            if (nm) memcpy(q->tx0[pt][1], xm, nm * sizeof(float));
            q->tqp0[pt] = es_qparams_from_range(range[0], range[1]);
            q->thave0[pt] = 1;
        }
        g = q->tqp0[pt];
    } else if (range[1] > range[0]) {
        g = es_qparams_from_range(range[0], range[1]);
    } else if (q->int8 && have) {
        /* a file without tracked ranges: the integer path codes on the
         * input's own range (the fake-quant forward leaves it float) */
        g = es_qparams_from_range(lo, hi);
    } else {
        return;
    }
    q->tqp[pt] = g;
    tf_quant_slot(q, pt, 0, x, n, &g);
    if (nm) tf_quant_slot(q, pt, 1, xm, nm, &g);
    q->thas[pt] = 1;
}

const float *es_byte_qat_tf_in(const es_byte_ws *ws, int pt, int slot, const float *x) {
    const es_byte_qat *q = ws->qat;
    return q && pt < q->tpts && q->thas[pt] && q->txq[pt][slot] ? q->txq[pt][slot] : x;
}

void es_byte_qat_tf_ste(const es_byte_ws *ws, int pt, int slot, float *dx, const float *x,
                        size_t n) {
    const es_byte_qat *q = ws->qat;
    if (!q || pt >= q->tpts || !q->thas[pt] || !dx) return;
    if (q->frozen && q->thave0[pt] && q->tx0[pt][slot]) x = q->tx0[pt][slot];
    es_fq_act_backward(dx, x, n, &q->tqp[pt]);
}

void es_byte_qat_tf_linear(es_byte_ws *ws, int pt, int slot, int widx, int row0, float *y,
                           const float *x, const float *b, int N, int K, int M) {
    if (N <= 0) return;
    es_byte_qat *q = ws->qat;
    const es_byte_model *m = ws->m; /* the shadow when active: fake-quantized weights */
    const es_qweights *st = m->q8;
    size_t nm = (size_t)N * (size_t)M;
    int quant = q && pt < q->tpts && q->thas[pt];
    if (!(quant && q->tu8[pt][slot] && st && st->w8[widx] && nm <= q->tacc_cap)) {
        const float *W = es_params_data(&m->ps, widx) + (size_t)row0 * (size_t)K;
        es_linear_forward(ws->pool, y, quant ? q->txq[pt][slot] : x, W, b, N, K, M);
        return;
    }
    const int8_t *w8 = st->w8[widx] + (size_t)row0 * (size_t)K;
    const float *sw = st->sw[widx] + row0;
    const int32_t *wsum = st->wsum[widx] + row0;
    es_qat_qgemm(ws->pool, q->tacc, q->tu8[pt][slot], w8, N, M, K, q->ta16);
    const es_qparams *g = &q->tqp[pt];
    for (int r = 0; r < N; r++) {
        const int32_t *a = q->tacc + (size_t)r * (size_t)M;
        float *yr = y + (size_t)r * (size_t)M;
        /* exact integer dot product minus the zero-point term, one rounding */
        if (b)
            for (int k = 0; k < M; k++)
                yr[k] = (float)(a[k] - g->zp * wsum[k]) * (g->scale * sw[k]) + b[k];
        else
            for (int k = 0; k < M; k++)
                yr[k] = (float)(a[k] - g->zp * wsum[k]) * (g->scale * sw[k]) + 0.0f;
    }
}

int es_byte_qat_tf_int8_ran(const es_byte_ws *ws) {
    const es_byte_qat *q = ws->qat;
    if (!q || !q->tpts || !q->tu8[0][0] || !ws->m->q8) return 0;
    for (int pt = 0; pt < q->tpts; pt++)
        if (!q->thas[pt]) return 0;
    return 1;
}

es_status es_byte_qat_freeze(es_byte_ws *ws, int freeze, es_error *err) {
    es_byte_qat *q = ws->qat;
    if (!q || q->noshadow || q->tu8[0][0])
        return es_errf(err, ES_ERR_ARG, "byte qat: freeze needs a fake-quant QAT workspace");
    const es_byte_model *m = q->user ? q->user : ws->m;
    const es_params *ps = &m->ps;
    q->wq_valid = 0;
    memset(q->thave0, 0, sizeof q->thave0);
    if (!freeze) {
        q->frozen = 0;
        return ES_OK;
    }
    es_status s = ES_OK;
    if (!q->delta) q->delta = zalloc(ps->total, sizeof(float), &s, err);
    for (int pt = 0; pt < q->tpts && !s; pt++)
        for (int sl = 0; sl < 2; sl++)
            if (q->tcap[pt][sl] && !q->tx0[pt][sl])
                q->tx0[pt][sl] = zalloc(q->tcap[pt][sl], sizeof(float), &s, err);
    if (s) return s;
    memset(q->delta, 0, ps->total * sizeof(float));
    for (int i = 0; i < ps->n; i++) {
        if (!es_byte_qat_is_weight(ps, i)) continue;
        const es_param *p = &ps->p[i];
        int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
        float *d = q->delta + p->offset;
        const float *W = ps->data + p->offset;
        es_fq_weights(d, W, rows, cols, m->cfg.qat.per_channel);
        for (size_t k = 0; k < p->numel; k++) d[k] -= W[k];
    }
    q->frozen = 1;
    return ES_OK;
}

/* ---- int8 weight store -------------------------------------------------------- */

void es_qweights_free(es_qweights *q) {
    if (!q) return;
    for (int i = 0; i < q->n; i++) {
        if (q->w8) es_free_aligned(q->w8[i]);
        if (q->sw) es_free_aligned(q->sw[i]);
        if (q->wsum) es_free_aligned(q->wsum[i]);
    }
    es_free(q->w8);
    es_free(q->sw);
    es_free(q->wsum);
    es_free(q);
}

es_status es_qweights_new(es_qweights **out, const es_params *ps,
                          int (*is_weight)(const es_params *ps, int i), int per_channel,
                          es_error *err) {
    *out = NULL;
    es_status s = ES_OK;
    es_qweights *q = es_calloc(1, sizeof *q);
    if (!q) return es_errf(err, ES_ERR_NOMEM, "int8 weights: out of memory");
    q->n = ps->n;
    q->w8 = es_calloc((size_t)ps->n, sizeof *q->w8);
    q->sw = es_calloc((size_t)ps->n, sizeof *q->sw);
    q->wsum = es_calloc((size_t)ps->n, sizeof *q->wsum);
    if (!q->w8 || !q->sw || !q->wsum) s = es_errf(err, ES_ERR_NOMEM, "int8 weights: out of memory");
    for (int i = 0; i < ps->n && !s; i++) {
        if (!is_weight(ps, i)) continue;
        const es_param *p = &ps->p[i];
        int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
        q->w8[i] = zalloc(p->numel, 1, &s, err);
        q->sw[i] = zalloc((size_t)rows, sizeof(float), &s, err);
        q->wsum[i] = zalloc((size_t)rows, sizeof(int32_t), &s, err);
        if (s) break;
        q->bytes += p->numel + (size_t)rows * 8;
        es_quant_w_s8(q->w8[i], q->sw[i], ps->data + p->offset, rows, cols, per_channel);
        for (int64_t r = per_channel ? rows : 1; r < rows; r++) q->sw[i][r] = q->sw[i][0];
        for (int64_t r = 0; r < rows; r++) {
            int32_t sum = 0;
            for (int64_t k = 0; k < cols; k++) sum += q->w8[i][r * cols + k];
            q->wsum[i][r] = sum;
        }
    }
    if (s) {
        es_qweights_free(q);
        return s;
    }
    *out = q;
    return ES_OK;
}

es_status es_params_drop_floats(es_params *ps, int (*drop)(const es_params *ps, int i),
                                size_t *freed_bytes, es_error *err) {
    *freed_bytes = 0;
    if (ps->grad)
        return es_errf(err, ES_ERR_ARG, "int8 weights: cannot drop floats of a trainable registry");
    size_t keep = 0, guard = 0;
    for (int i = 0; i < ps->n; i++) {
        size_t n = ps->p[i].numel;
        if (drop(ps, i)) guard = n > guard ? n : guard;
        else keep += (n + 15) & ~(size_t)15; /* 64-byte aligned tensors */
    }
    if (!guard) return ES_OK;
    size_t total = keep + guard;
    float *data = es_malloc_aligned(total * sizeof(float));
    if (!data) return es_errf(err, ES_ERR_NOMEM, "int8 weights: out of memory");
    size_t at = 0;
    for (int i = 0; i < ps->n; i++) {
        es_param *p = &ps->p[i];
        if (drop(ps, i)) {
            p->offset = keep;
            continue;
        }
        memcpy(data + at, ps->data + p->offset, p->numel * sizeof(float));
        p->offset = at;
        at += (p->numel + 15) & ~(size_t)15;
    }
    for (size_t k = keep; k < total; k++) data[k] = NAN;
    *freed_bytes = ps->total > total ? (ps->total - total) * sizeof(float) : 0;
    es_free_aligned(ps->data);
    ps->data = data;
    ps->total = total;
    return ES_OK;
}

/* ---- integer kernels ---------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QAT_X86 1

/* The table picked an AVX2-or-better variant only if the CPU has AVX2. */
static int qat_simd(void) { return es_kern()->qgemm_nt != es_qgemm_nt_ref; }

__attribute__((target("avx2"))) static inline int32_t qat_hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* [Σa, Σb, Σc, Σd] of four 8-lane int32 vectors (one reduction for four). */
__attribute__((target("avx2"))) static inline __m128i qat_hsum4(__m256i a, __m256i b, __m256i c,
                                                              __m256i d) {
    __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

__attribute__((target("avx2"))) static inline __m256i qat_w16(const int8_t *p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* R (1..4) activation rows A (int16, rows of K) × every weight row, two
 * weight rows per pass: 2R int32 accumulators of vpmaddwd sums (exact:
 * |a·w| <= 255·128, pairs summed in int32). */
__attribute__((target("avx2"), always_inline)) static inline void
qat_rows(int32_t *C, int ldc, const int16_t *A, const int R, const int8_t *B, int N, int K) {
    const int K16 = K & ~15;
    int n = 0;
    for (; n + 2 <= N; n += 2) {
        const int8_t *b0 = B + (size_t)n * (size_t)K, *b1 = b0 + K;
        __m256i s0[4], s1[4];
        for (int r = 0; r < R; r++) s0[r] = s1[r] = _mm256_setzero_si256();
        for (int k = 0; k < K16; k += 16) {
            __m256i w0 = qat_w16(b0 + k), w1 = qat_w16(b1 + k);
            for (int r = 0; r < R; r++) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(A + (size_t)r * K + k));
                s0[r] = _mm256_add_epi32(s0[r], _mm256_madd_epi16(a, w0));
                s1[r] = _mm256_add_epi32(s1[r], _mm256_madd_epi16(a, w1));
            }
        }
        for (int r = 0; r < R; r += 2) { /* rows r, r + 1 reduced together */
            const __m256i z = _mm256_setzero_si256();
            int32_t t[4];
            _mm_storeu_si128((__m128i *)(void *)t,
                             qat_hsum4(s0[r], s1[r], r + 1 < R ? s0[r + 1] : z,
                                       r + 1 < R ? s1[r + 1] : z));
            for (int rr = r; rr < r + 2 && rr < R; rr++) {
                const int16_t *a = A + (size_t)rr * K;
                int32_t t0 = t[2 * (rr - r)], t1 = t[2 * (rr - r) + 1];
                for (int k = K16; k < K; k++) {
                    t0 += (int32_t)a[k] * b0[k];
                    t1 += (int32_t)a[k] * b1[k];
                }
                C[(size_t)rr * ldc + n] = t0;
                C[(size_t)rr * ldc + n + 1] = t1;
            }
        }
    }
    for (; n < N; n++) {
        const int8_t *b0 = B + (size_t)n * (size_t)K;
        for (int r = 0; r < R; r++) {
            const int16_t *a = A + (size_t)r * K;
            __m256i s0 = _mm256_setzero_si256();
            for (int k = 0; k < K16; k += 16)
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(
                         _mm256_loadu_si256((const __m256i *)(const void *)(a + k)), qat_w16(b0 + k)));
            int32_t t0 = qat_hsum8(s0);
            for (int k = K16; k < K; k++) t0 += (int32_t)a[k] * b0[k];
            C[(size_t)r * ldc + n] = t0;
        }
    }
}

__attribute__((target("avx2"))) static void qat_qgemm_avx2(int32_t *C, const uint8_t *A,
                                                           const int8_t *B, int M, int N, int K,
                                                           int16_t *a16) {
    for (int r0 = 0; r0 < M; r0 += 4) {
        int R = M - r0 < 4 ? M - r0 : 4;
        for (int r = 0; r < R; r++) /* widen the activation rows once */
            for (int k = 0; k < K; k++) a16[(size_t)r * K + k] = A[(size_t)(r0 + r) * K + k];
        int32_t *c = C + (size_t)r0 * (size_t)N;
        switch (R) { /* constant R: the row loops unroll into registers */
        case 4: qat_rows(c, N, a16, 4, B, N, K); break;
        case 3: qat_rows(c, N, a16, 3, B, N, K); break;
        case 2: qat_rows(c, N, a16, 2, B, N, K); break;
        default: qat_rows(c, N, a16, 1, B, N, K); break;
        }
    }
}

/* floor(x/s + 0.5) + zp clamped to [0, 255] (NaN → 0), as es_quant_u8:
 * IEEE division, add and floor give the scalar bits in every lane. */
__attribute__((target("avx2"))) static void qat_quant_avx2(uint8_t *y, const float *x, size_t n,
                                                           const es_qparams *q) {
    const __m256 s = _mm256_set1_ps(q->scale), half = _mm256_set1_ps(0.5f);
    const __m256 zp = _mm256_set1_ps((float)q->zp), lo = _mm256_setzero_ps();
    const __m256 hi = _mm256_set1_ps(255.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i c[4];
        for (int j = 0; j < 4; j++) {
            __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i + 8 * (size_t)j), s);
            v = _mm256_add_ps(_mm256_floor_ps(_mm256_add_ps(v, half)), zp);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi); /* max(NaN, 0) = 0 */
            c[j] = _mm256_cvtps_epi32(v);
        }
        __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(c[0], c[1]),
                                        _mm256_packus_epi32(c[2], c[3]));
        _mm256_storeu_si256((__m256i *)(void *)(y + i), _mm256_permutevar8x32_epi32(p, perm));
    }
    for (; i < n; i++) y[i] = es_quant_u8(x[i], q);
}
#endif

void es_qat_qgemm(es_pool *pool, int32_t *C, const uint8_t *A, const int8_t *B, int M, int N,
                  int K, int16_t *a16) {
    if (M <= 0 || N <= 0) return;
#ifdef QAT_X86
    if (M <= 32 && K > 0 && a16 && qat_simd()) {
        qat_qgemm_avx2(C, A, B, M, N, K, a16);
        return;
    }
#endif
    (void)a16;
    es_kern()->qgemm_nt(pool, C, N, A, K, B, K, M, N, K, 0);
}

void es_qat_quant_u8(uint8_t *y, const float *x, size_t n, const es_qparams *q) {
#ifdef QAT_X86
    if (qat_simd()) {
        qat_quant_avx2(y, x, n, q);
        return;
    }
#endif
    es_quant_act_u8(y, x, n, q);
}

/* ---- export ------------------------------------------------------------------ */

es_status es_byte_model_export_int8(const es_byte_model *m, const char *dir, es_error *err) {
    const es_params *ps = &m->ps;
    if (!m->cfg.qat.enabled)
        return es_errf(err, ES_ERR_ARG, "export --int8: the model has no \"qat\" config (train it "
                       "with quantization-aware training first)");
    if (m->cfg.n_labels == 0)
        return es_errf(err, ES_ERR_UNSUPPORTED, "export --int8: byte seq2seq models are not "
                       "supported yet (classifiers only)");
    if (mkdir(dir, 0777) != 0 && !es_is_dir(dir))
        return es_errf(err, ES_ERR_IO, "%s: cannot create folder", dir);
    es_byte_config cfg = m->cfg;
    cfg.qat.int8 = 1;
    char path[4096];
    char *json = NULL;
    es_status s = es_byte_config_to_json(&cfg, &json, err);
    if (s) return s;
    if (!(s = es_path_join(path, sizeof path, dir, "config.json", err)))
        s = es_atomic_write_file(path, json, strlen(json), err);
    es_free(json);
    if (s) return s;
    size_t nt = 0, nrows = 0;
    for (int i = 0; i < ps->n; i++) {
        nt += es_byte_qat_is_weight(ps, i) ? 2 : 1;
        if (es_byte_qat_is_weight(ps, i)) nrows += (size_t)ps->p[i].shape[0];
    }
    es_st_write_tensor *t = es_calloc(nt, sizeof *t);
    int8_t *codes = es_malloc(ps->total ? ps->total : 1);
    float *scales = es_malloc((nrows ? nrows : 1) * sizeof(float));
    char (*names)[ES_PARAM_NAME_MAX + 16] = es_calloc((size_t)ps->n, sizeof *names);
    if (!t || !codes || !scales || !names) {
        s = es_errf(err, ES_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    size_t k = 0, srow = 0;
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        es_st_write_tensor *e = &t[k++];
        e->name = p->name;
        e->ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) e->shape[d] = p->shape[d];
        if (!es_byte_qat_is_weight(ps, i)) {
            e->dtype = ES_DTYPE_F32;
            e->data = ps->data + p->offset;
            continue;
        }
        int64_t rows = p->shape[0], cols = (int64_t)(p->numel / (size_t)rows);
        int pc = m->cfg.qat.per_channel;
        es_quant_w_s8(codes + p->offset, scales + srow, ps->data + p->offset, rows, cols, pc);
        e->dtype = ES_DTYPE_I8;
        e->data = codes + p->offset;
        es_st_write_tensor *sc = &t[k++];
        snprintf(names[i], sizeof names[i], "%s.qscale", p->name);
        sc->name = names[i];
        sc->dtype = ES_DTYPE_F32;
        sc->ndim = 1;
        sc->shape[0] = pc ? rows : 1;
        sc->data = scales + srow;
        srow += (size_t)rows;
    }
    const char *meta[] = {"edgeseq_format", "1", "format", "pt", "edgeseq_quant",
                          m->cfg.qat.per_channel ? "int8-sym-per-channel/u8-act"
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
