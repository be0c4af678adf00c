/*
 * byte_qrnn.c — the ByteQRNN encoder: a stack of bidirectional QRNN layers
 * over the GBST output (layout s1 of byte_internal.h).
 *
 * Layer l (input X (rows1, Din), pads zero; H = qrnn_hidden):
 *   forward direction:  G = causal conv_k(X) (taps t-k+1..t), fo-pooling t = 0..L-1
 *   backward direction: G = anti-causal conv_k(X) (taps t..t+k-1), fo-pooling t = L-1..0
 *   output [h_fwd | h_bwd] (rows1, 2H), dropout in training.
 * Tensors: qrnn.<l>.fwd.weight (3H, k, Din), qrnn.<l>.fwd.bias (3H), same
 * for .bwd; gate order in the 3H outputs is [z | f | o].
 */
#include "model/byte_internal.h"

#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/qrnn.h"
#include "quant/byte_qat.h"

#include <stdio.h>
#include <string.h>

static int n_dirs(const es_byte_config *c) { return c->qrnn_bidirectional ? 2 : 1; }

es_status es_byte_qrnn_register(es_byte_model *m, es_error *err) {
    const es_byte_config *c = &m->cfg;
    int H = c->qrnn_hidden, k = c->qrnn_kernel;
    m->d_enc = H * n_dirs(c);
    for (int l = 0; l < c->qrnn_layers; l++) {
        int din = l ? m->d_enc : c->d_model;
        for (int d = 0; d < n_dirs(c); d++) {
            char name[64];
            int64_t wsh[3] = {3 * H, k, din}, bsh[1] = {3 * H};
            snprintf(name, sizeof name, "qrnn.%d.%s.weight", l, d ? "bwd" : "fwd");
            es_status s = es_params_add(&m->ps, &m->qw[l][d], name, 3, wsh, ES_INIT_GLOROT, 1.0f,
                                        k * din, H, 1, err);
            if (s) return s;
            snprintf(name, sizeof name, "qrnn.%d.%s.bias", l, d ? "bwd" : "fwd");
            s = es_params_add(&m->ps, &m->qb[l][d], name, 1, bsh, ES_INIT_ZERO, 0.0f, 0, 0, 0, err);
            if (s) return s;
        }
    }
    return ES_OK;
}

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

es_status es_byte_qrnn_ws_alloc(es_byte_ws *ws, es_error *err) {
    const es_byte_model *m = ws->m;
    const es_byte_config *c = &m->cfg;
    int H = c->qrnn_hidden;
    size_t rows1 = (size_t)ws->max_batch * (size_t)(ws->T1cap + 2 * ws->m1);
    int wmax = ES_MAX(ES_MAX(c->d_model, m->d_enc), 3 * H);
    es_status s = ES_OK;
    for (int l = 0; l < c->qrnn_layers; l++) {
        for (int d = 0; d < n_dirs(c); d++) {
            ws->qG[l][d] = zalloc(rows1, 3 * (size_t)H * sizeof(float), &s, err);
            ws->qc[l][d] = zalloc(rows1, (size_t)H * sizeof(float), &s, err);
            if (ws->training && c->zoneout > 0.0f) ws->qz[l][d] = zalloc(rows1, (size_t)H, &s, err);
        }
        ws->qh[l] = zalloc(rows1, (size_t)m->d_enc * sizeof(float), &s, err);
        if (ws->training && c->dropout > 0.0f)
            ws->qdrop[l] = zalloc(rows1, (size_t)m->d_enc, &s, err);
    }
    ws->palpha = zalloc(rows1, sizeof(float), &s, err);
    if (ws->training) {
        ws->gA = zalloc(rows1, (size_t)wmax * sizeof(float), &s, err);
        ws->gB = zalloc(rows1, (size_t)wmax * sizeof(float), &s, err);
        ws->gG = zalloc(rows1, 3 * (size_t)H * sizeof(float), &s, err);
    }
    return s;
}

void es_byte_qrnn_ws_free(es_byte_ws *ws) {
    for (int l = 0; l < ES_BYTE_MAX_LAYERS; l++) {
        for (int d = 0; d < 2; d++) {
            es_free_aligned(ws->qG[l][d]);
            es_free_aligned(ws->qc[l][d]);
            es_free_aligned(ws->qz[l][d]);
        }
        es_free_aligned(ws->qh[l]);
        es_free_aligned(ws->qdrop[l]);
    }
    es_free_aligned(ws->palpha);
    es_free_aligned(ws->gA);
    es_free_aligned(ws->gB);
    es_free_aligned(ws->gG);
}

/* Dropout on a layer output, per sequence in parallel: one draw from the
 * caller's rng seeds a stream per sequence (the mask is a function of the
 * rng state alone, for any thread count); only valid rows are drawn (pad
 * rows are zero and their gradients are zero, whatever their mask). */
typedef struct drop_job {
    float *x;
    uint8_t *mask;
    const es_seq *s;
    int De;
    float p;
    uint64_t seed;
} drop_job;

static void drop_task(void *ctx, int task, int n_tasks) {
    const drop_job *j = ctx;
    for (int b = task; b < j->s->B; b += n_tasks) {
        es_rng r;
        es_rng_seed(&r, j->seed + (uint64_t)b * 0x9e3779b97f4a7c15ull);
        size_t r0 = es_seq_row(j->s, b, 0) * (size_t)j->De;
        es_dropout_forward(j->x + r0, j->mask + r0, (size_t)j->s->len[b] * (size_t)j->De, j->p, &r);
    }
}

void es_byte_qrnn_forward(es_byte_ws *ws, int train, es_rng *rng) {
    const es_byte_model *m = ws->m;
    const es_byte_config *c = &m->cfg;
    const es_params *ps = &m->ps;
    const es_seq *s1 = &ws->s1;
    int H = c->qrnn_hidden, k = c->qrnn_kernel, De = m->d_enc;
    size_t rows1 = es_seq_rows(s1);
    const float *x = ws->x1;
    for (int l = 0; l < c->qrnn_layers; l++) {
        int din = l ? De : c->d_model;
        for (int d = 0; d < n_dirs(c); d++) {
            if (ws->qat) /* fake-quant / int8 gates (src/quant/byte_qat.c) */
                es_byte_qat_gates(ws, l, d, x, din, train);
            else
                es_conv1d_forward(ws->pool, ws->qG[l][d], x, es_params_data(ps, m->qw[l][d]),
                                  es_params_data(ps, m->qb[l][d]), (size_t)ws->m1,
                                  rows1 - (size_t)ws->m1, d ? 0 : -(k - 1), k, din, 3 * H);
            es_qrnn_forward(ws->pool, ws->qh[l] + d * H, De, ws->qG[l][d], ws->qc[l][d],
                            ws->qz[l][d], s1, H, d, c->zoneout, train, rng);
        }
        if (train && c->dropout > 0.0f) {
            drop_job dj = {ws->qh[l], ws->qdrop[l], s1, De, c->dropout, es_rng_next(rng)};
            int nt = ES_MIN(s1->B, es_pool_threads(ws->pool));
            es_pool_run(nt > 1 ? ws->pool : NULL, nt, drop_task, &dj);
        }
        x = ws->qh[l];
    }
    ws->enc = ws->qh[c->qrnn_layers - 1];
    ws->s_enc = s1;
}

void es_byte_qrnn_backward(es_byte_ws *ws, es_byte_model *m, float *denc, float *dx1) {
    const es_byte_config *c = &m->cfg;
    es_params *ps = &m->ps;
    const es_seq *s1 = &ws->s1;
    int H = c->qrnn_hidden, k = c->qrnn_kernel, De = m->d_enc;
    size_t rows1 = es_seq_rows(s1);
    float *cur = denc, *nxt = denc == ws->gA ? ws->gB : ws->gA;
    for (int l = c->qrnn_layers - 1; l >= 0; l--) {
        int din = l ? De : c->d_model;
        const float *xin = l ? ws->qh[l - 1] : ws->x1;
        if (c->dropout > 0.0f) es_dropout_backward(cur, ws->qdrop[l], rows1 * (size_t)De, c->dropout);
        memset(nxt, 0, rows1 * (size_t)din * sizeof(float));
        for (int d = 0; d < n_dirs(c); d++) {
            es_qrnn_backward(ws->pool, ws->gG, cur + d * H, De, ws->qG[l][d], ws->qc[l][d],
                             ws->qz[l][d], s1, H, d, c->zoneout, 1);
            es_conv1d_backward(ws->pool, nxt, es_params_grad(ps, m->qw[l][d]),
                               es_params_grad(ps, m->qb[l][d]), ws->gG,
                               ws->qat ? es_byte_qat_input(ws, l, xin) : xin,
                               es_params_data(ps, m->qw[l][d]), (size_t)ws->m1,
                               rows1 - (size_t)ws->m1, d ? 0 : -(k - 1), k, din, 3 * H);
        }
        es_seq_zero_pads(s1, nxt, din, din);
        if (ws->qat) es_byte_qat_input_backward(ws, l, nxt, xin, din); /* STE */
        float *t = cur;
        cur = nxt;
        nxt = t;
    }
    if (cur != dx1) memcpy(dx1, cur, rows1 * (size_t)c->d_model * sizeof(float));
}
