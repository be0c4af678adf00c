/*
 * byte_front.c — the byte front end (embedding [→ bottleneck + ReLU] →
 * causal gbst conv) computed through per-byte-value tables.
 *
 * Why: the conv input at a position depends only on the byte there, one of
 * 256 values. With U (256, D) the stage-0 vector of each byte value (the
 * embedding row, or ReLU(bottleneck) of it) and W_j (D, D) tap j of the
 * conv weight (D, k, D):
 *   C[t] = b + Σ_j W_j U[id[t−k+1+j]]  =  Σ_j Tab_j[id[t−k+1+j]],
 *   Tab_j = U W_jᵀ (256, D), with the bias folded into Tab_{k−1} (the tap
 * of position t itself, always a valid byte). Building the tables costs
 * 256·k·D² multiply-adds, once per weight change; the conv itself becomes
 * k vector adds per position instead of k·D² multiply-adds (for the
 * shipped 2,048-byte inputs: 8× fewer operations even when the tables are
 * rebuilt for every message, and none when they are reused).
 * Backward, with S_j[v] = Σ_{t : id[t−k+1+j] = v} dC[t] (256, D):
 *   dW_j += S_jᵀ U,  db += Σ_t dC[t],  dU = Σ_j S_j W_j,
 *   then through the ReLU and the bottleneck (a linear layer on the 256
 *   embedding rows) or straight into the embedding gradient.
 * Margins and pads have id −1 and contribute nothing, exactly as the zero
 * rows of the row layout (seq.h) did.
 *
 * Reuse: the tables are rebuilt when the weights they came from differ
 * (bitwise) from the copy kept beside them, so an inference workspace pays
 * for them once and a training step (weights changed) rebuilds them; the
 * comparison costs a few microseconds. An int8 export's inference
 * workspace keeps no copy (its weights never change): tables built once.
 * Determinism: the conv is per row; S is summed in row order with the work
 * split by columns; the rest are kernel-table GEMMs (thread-independent).
 */
#include "model/byte_front.h"

#include "kern/kern.h"
#include "nn/linear.h"

#include <string.h>

typedef struct byte_front byte_front;

struct byte_front {
    int D, E, k;
    float *U;      /* (256, D) stage-0 vector per byte value */
    float *tab;    /* (k, 256, D) */
    float *snap;   /* (n_snap) weights the tables were built from */
    size_t n_snap;
    int valid;
    float *S;      /* (k, 256, D) backward scatter sums (training ws) */
    float *dU;     /* (256, D) */
};

typedef struct front_job {
    es_byte_ws *ws;
    const byte_front *f;
    const float *dC;
} front_job;

es_status es_byte_front_alloc(es_byte_ws *ws, es_error *err) {
    const es_byte_model *m = ws->m;
    const es_byte_config *c = &m->cfg;
    byte_front *f = es_calloc(1, sizeof *f);
    if (!f) return es_errf(err, ES_ERR_NOMEM, "byte workspace: out of memory");
    ws->front = f;
    f->D = c->d_model;
    f->E = c->d_embed ? c->d_embed : c->d_model;
    f->k = c->gbst_kernel;
    size_t D = (size_t)f->D, E = (size_t)f->E, k = (size_t)f->k;
    f->n_snap = 256 * E + D * k * D + D + (c->d_embed ? D * E + D : 0);
    f->U = es_malloc_aligned(256 * D * sizeof(float));
    f->tab = es_malloc_aligned(k * 256 * D * sizeof(float));
    /* int8 exports are inference-only: weights fixed, no snapshot */
    int fixed = c->qat.int8 && !ws->training;
    f->snap = fixed ? NULL : es_malloc_aligned(f->n_snap * sizeof(float));
    if (ws->training) {
        f->S = es_malloc_aligned(k * 256 * D * sizeof(float));
        f->dU = es_malloc_aligned(256 * D * sizeof(float));
    }
    if (!f->U || !f->tab || (!fixed && !f->snap) || (ws->training && (!f->S || !f->dU)))
        return es_errf(err, ES_ERR_NOMEM, "byte workspace: out of memory");
    return ES_OK;
}

void es_byte_front_free(es_byte_ws *ws) {
    byte_front *f = ws->front;
    if (!f) return;
    es_free_aligned(f->U);
    es_free_aligned(f->tab);
    es_free_aligned(f->snap);
    es_free_aligned(f->S);
    es_free_aligned(f->dU);
    es_free(f);
    ws->front = NULL;
}

/* Copies (or, cmp = 1, compares) the weights the tables depend on. */
static int snap_weights(byte_front *f, const es_byte_model *m, int cmp) {
    const es_params *ps = &m->ps;
    size_t D = (size_t)f->D, E = (size_t)f->E, k = (size_t)f->k;
    struct { int idx; size_t n; } parts[] = {
        {m->emb, 256 * E}, {m->conv_w, D * k * D}, {m->conv_b, D}, {m->bott_w, D * E},
        {m->bott_b, D}};
    size_t at = 0;
    for (size_t i = 0; i < ES_ARRAY_LEN(parts); i++) {
        if (parts[i].idx < 0) continue;
        const float *src = es_params_data(ps, parts[i].idx);
        size_t bytes = parts[i].n * sizeof(float);
        if (cmp && memcmp(f->snap + at, src, bytes) != 0) return 1;
        if (!cmp) memcpy(f->snap + at, src, bytes);
        at += parts[i].n;
    }
    return 0;
}

static void build_tables(byte_front *f, const es_byte_model *m, es_pool *pool) {
    const es_params *ps = &m->ps;
    const es_kern_table *kt = es_kern();
    int D = f->D, E = f->E, k = f->k;
    const float *emb = es_params_data(ps, m->emb);
    if (m->cfg.d_embed) {
        es_linear_forward(pool, f->U, emb, es_params_data(ps, m->bott_w),
                          es_params_data(ps, m->bott_b), 256, E, D);
        for (size_t i = 0; i < 256 * (size_t)D; i++) f->U[i] = f->U[i] > 0.0f ? f->U[i] : 0.0f;
    } else {
        memcpy(f->U, emb, 256 * (size_t)D * sizeof(float));
    }
    const float *W = es_params_data(ps, m->conv_w); /* (D, k, D) */
    for (int j = 0; j < k; j++)
        kt->gemm_nt(pool, f->tab + (size_t)j * 256 * (size_t)D, D, f->U, D, W + (size_t)j * (size_t)D,
                    k * D, 256, D, D, 0);
    const float *b = es_params_data(ps, m->conv_b);
    float *last = f->tab + (size_t)(k - 1) * 256 * (size_t)D;
    for (int v = 0; v < 256; v++)
        for (int d = 0; d < D; d++) last[(size_t)v * (size_t)D + (size_t)d] += b[d];
    if (f->snap) snap_weights(f, m, 0);
    f->valid = 1;
}

static void conv_seq(es_byte_ws *ws, const byte_front *f, int b) {
    const es_seq *s = &ws->s0;
    int D = f->D, k = f->k, L = s->len[b];
    size_t plane = 256 * (size_t)D;
    for (int t = 0; t < L; t++) {
        size_t row = es_seq_row(s, b, t);
        float *c = ws->c + row * (size_t)D;
        const int32_t *id = ws->ids + row - (size_t)(k - 1); /* id[j]: tap j; id[k-1] >= 0 */
        memcpy(c, f->tab + (size_t)(k - 1) * plane + (size_t)id[k - 1] * (size_t)D,
               (size_t)D * sizeof(float));
        for (int j = 0; j < k - 1; j++) {
            if (id[j] < 0) continue;
            const float *tj = f->tab + (size_t)j * plane + (size_t)id[j] * (size_t)D;
            for (int d = 0; d < D; d++) c[d] += tj[d];
        }
    }
}

static void conv_task(void *ctx, int task, int n_tasks) {
    const front_job *j = ctx;
    for (int b = task; b < j->ws->s0.B; b += n_tasks) conv_seq(j->ws, j->f, b);
}

void es_byte_front_forward(es_byte_ws *ws, const es_byte_model *m) {
    byte_front *f = ws->front;
    if (!f->valid || (f->snap && snap_weights(f, m, 1))) build_tables(f, m, ws->pool);
    es_seq_zero_pads(&ws->s0, ws->c, f->D, f->D);
    front_job j = {ws, f, NULL};
    int nt = ES_MIN(ws->s0.B, es_pool_threads(ws->pool));
    es_pool_run(nt > 1 ? ws->pool : NULL, nt, conv_task, &j);
}

/* S_j[v] += dC[t] over rows in order; this task owns columns [c0, c1). */
static void scatter_task(void *ctx, int task, int n_tasks) {
    const front_job *j = ctx;
    const es_byte_ws *ws = j->ws;
    const byte_front *f = j->f;
    const es_seq *s = &ws->s0;
    int D = f->D, k = f->k;
    int c0 = (int)((long)D * task / n_tasks), c1 = (int)((long)D * (task + 1) / n_tasks);
    size_t plane = 256 * (size_t)D;
    for (int jj = 0; jj < k; jj++)
        for (int v = 0; v < 256; v++)
            memset(f->S + (size_t)jj * plane + (size_t)v * (size_t)D + (size_t)c0, 0,
                   (size_t)(c1 - c0) * sizeof(float));
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->len[b]; t++) {
            size_t row = es_seq_row(s, b, t);
            const float *g = j->dC + row * (size_t)D;
            const int32_t *id = ws->ids + row - (size_t)(k - 1);
            for (int jj = 0; jj < k; jj++) {
                if (id[jj] < 0) continue;
                float *sv = f->S + (size_t)jj * plane + (size_t)id[jj] * (size_t)D;
                for (int c = c0; c < c1; c++) sv[c] += g[c];
            }
        }
}

void es_byte_front_backward(es_byte_ws *ws, es_byte_model *m) {
    byte_front *f = ws->front;
    es_params *ps = &m->ps;
    const es_kern_table *kt = es_kern();
    es_pool *pool = ws->pool;
    int D = f->D, E = f->E, k = f->k;
    size_t rows0 = es_seq_rows(&ws->s0), m0 = (size_t)ws->m0;
    const float *dC = ws->g0a;
    /* conv bias: column sums over the conv's row range (pads are zero) */
    es_colsum_acc(pool, es_params_grad(ps, m->conv_b), dC + m0 * (size_t)D, rows0 - 2 * m0, D, D);
    front_job j = {ws, f, dC};
    /* column split in multiples of 8 floats keeps each task's loop vectorised */
    int nt = ES_MIN(es_pool_threads(pool), ES_MAX(1, D / 8));
    es_pool_run(nt > 1 ? pool : NULL, nt, scatter_task, &j);
    const float *W = es_params_data(ps, m->conv_w);
    float *dW = es_params_grad(ps, m->conv_w);
    size_t plane = 256 * (size_t)D;
    for (int jj = 0; jj < k; jj++) {
        const float *Sj = f->S + (size_t)jj * plane;
        /* dW_j (D, D; row stride k·D) += S_jᵀ (D, 256) · U (256, D) */
        kt->gemm_tn(pool, dW + (size_t)jj * (size_t)D, k * D, Sj, D, f->U, D, D, D, 256, 1);
        /* dU (256, D) (+)= S_j (256, D) · W_j (D, D) */
        kt->gemm_nn(pool, f->dU, D, Sj, D, W + (size_t)jj * (size_t)D, k * D, 256, D, D, jj > 0);
    }
    float *demb = es_params_grad(ps, m->emb);
    if (m->cfg.d_embed) {
        for (size_t i = 0; i < 256 * (size_t)D; i++)
            if (f->U[i] <= 0.0f) f->dU[i] = 0.0f;
        es_linear_backward(pool, demb, 1, es_params_grad(ps, m->bott_w),
                           es_params_grad(ps, m->bott_b), f->dU, es_params_data(ps, m->emb),
                           es_params_data(ps, m->bott_w), 256, E, D);
    } else {
        for (size_t i = 0; i < 256 * (size_t)D; i++) demb[i] += f->dU[i];
    }
}
