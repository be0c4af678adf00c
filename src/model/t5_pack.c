/*
 * t5_pack.c — load-time re-packing of the encoder-side fp32 weights
 * (es_t5_pack_weights, model/t5.h).
 *
 * The encoder projections and the decoder's cross-attention K/V
 * projections are only ever multiplied by many rows at once (B x S
 * tokens), where the GEMM's general path re-packs B into k-major panels on
 * every call (~11 % of an encoder 1 x 128 in `perf`). Packing them once
 * here into the kernel table's layout (kern.h gemm_pack_nt) removes that;
 * the products keep the same bits for M > 8 (same micro-kernel, same
 * order). Weights used by decode steps (M = 1..beams) stay row-major in
 * the memory map: the streaming GEMV path reads them as stored.
 *
 * Memory: the packed copy is anonymous memory (+ ~3 % padding at most:
 * columns are rounded up to the panel width); the memory-mapped source
 * pages are released after packing (es_weights_release), so the resident
 * set holds each weight once. Only memory-mapped fp32 models are packed:
 * for weights already on the heap (converted dtypes, pytorch_model.bin
 * copies) the copy would add memory, so they run unpacked.
 *
 * int8 folders: every I8 projection (encoder, decoder, LM head) is copied
 * into the 4-row panels of kern.h es_qpack_nt, read by qgemm_packed as one
 * sequential stream per 4 output columns — at M = 1 (decode) the row-major
 * codes ran at ~half the machine's read bandwidth (4 short strided
 * streams per pass), the panels at about its full bandwidth. Same integer
 * sums, so the same bits. Same memory-mapped-only rule; the codes stay
 * addressable for embedding row lookups (pages come back on demand).
 */
#include "model/t5.h"

#include "io/weights.h"
#include "kern/kern.h"
#include "quant/t5_quant.h"

#include <stdlib.h>
#include <string.h>

/* Calls fn on every handle that gets packed. */
static void each_lin(es_t5_model *tm, void (*fn)(void *ctx, es_t5_lin *l), void *ctx) {
    static const int enc_ids[] = {ES_T5_LQ, ES_T5_LK, ES_T5_LV, ES_T5_LO,
                                  ES_T5_LWI, ES_T5_LWI1, ES_T5_LWO};
    static const int dec_ids[] = {ES_T5_LCK, ES_T5_LCV};
    for (int i = 0; i < tm->cfg.n_enc_layers; i++)
        for (size_t k = 0; k < ES_ARRAY_LEN(enc_ids); k++) fn(ctx, &tm->enc[i].lin[enc_ids[k]]);
    for (int i = 0; i < tm->cfg.n_dec_layers; i++)
        for (size_t k = 0; k < ES_ARRAY_LEN(dec_ids); k++) fn(ctx, &tm->dec[i].lin[dec_ids[k]]);
}

typedef struct pack_ctx {
    const es_kern_table *kt;
    const es_weights *w;
    size_t floats;  /* pass 1: total; pass 2: next offset */
    int ok;         /* every candidate is fp32 and memory-mapped */
    float *buf;
} pack_ctx;

/* Floats of l's packed form, rounded up to 16 (64-byte aligned starts). */
static size_t slot_floats(const pack_ctx *c, const es_t5_lin *l) {
    return (c->kt->gemm_pack_floats(l->N, l->K) + 15) & ~(size_t)15;
}

static void count(void *ctx, es_t5_lin *l) {
    pack_ctx *c = ctx;
    if (l->kind != ES_T5_W_F32 || !l->f32) return; /* wi1 of a non-gated model */
    size_t n = (size_t)l->N * (size_t)l->K * sizeof(float);
    if (!es_weights_mapped(c->w, l->f32, n)) c->ok = 0;
    c->floats += slot_floats(c, l);
}

static void pack(void *ctx, es_t5_lin *l) {
    pack_ctx *c = ctx;
    if (l->kind != ES_T5_W_F32 || !l->f32) return;
    float *dst = c->buf + c->floats;
    c->kt->gemm_pack_nt(dst, l->f32, l->K, l->N, l->K);
    c->floats += slot_floats(c, l);
    l->packed = dst;
    es_weights_release(c->w, l->f32, (size_t)l->N * (size_t)l->K * sizeof(float));
}

/* ---- int8 models: every I8 projection into 4-row panels ---------------- */

typedef struct qpack_ctx {
    const es_weights *w;
    size_t bytes; /* pass 1: total; pass 2: next offset */
    int ok;       /* every candidate is memory-mapped */
    int8_t *buf;
} qpack_ctx;

static int qpackable(const es_t5_lin *l) {
    /* a column chunk of the integer product must start on a 16-column
     * block: per-channel (chunks of ES_T5_LIN_KCHUNK) or groups of 16k */
    return l->kind == ES_T5_W_I8 && l->q && (l->group == l->K || l->group % 16 == 0);
}

static size_t qslot(const es_t5_lin *l) { return (es_qpack_bytes(l->N, l->K) + 63) & ~(size_t)63; }

static void qcount(void *ctx, es_t5_lin *l) {
    qpack_ctx *c = ctx;
    if (!qpackable(l)) return;
    if (!es_weights_mapped(c->w, l->q, (size_t)l->N * (size_t)l->K)) c->ok = 0;
    c->bytes += qslot(l);
}

static void qpack(void *ctx, es_t5_lin *l) {
    qpack_ctx *c = ctx;
    if (!qpackable(l)) return;
    int8_t *dst = c->buf + c->bytes;
    es_qpack_nt(dst, l->q, l->K, l->N, l->K);
    c->bytes += qslot(l);
    l->qp = dst;
    l->qp_stride = es_qpack_stride(l->K);
    /* q stays valid for row lookups (the embedding): its pages come back
     * from the file on demand */
    es_weights_release(c->w, l->q, (size_t)l->N * (size_t)l->K);
}

/* Every I8 handle that is multiplied (a tied embedding shares the LM
 * head's panels: the copy of the handle is fixed up by the caller). */
static void each_i8(es_t5_model *tm, void (*fn)(void *ctx, es_t5_lin *l), void *ctx) {
    for (int i = 0; i < tm->cfg.n_enc_layers; i++)
        for (int k = 0; k < ES_T5_NLIN; k++) fn(ctx, &tm->enc[i].lin[k]);
    for (int i = 0; i < tm->cfg.n_dec_layers; i++)
        for (int k = 0; k < ES_T5_NLIN; k++) fn(ctx, &tm->dec[i].lin[k]);
    fn(ctx, &tm->lm_head_lin); /* an untied embedding only serves row lookups */
}

static void pack_int8(es_t5_model *tm, const es_weights *w) {
    qpack_ctx c = {w, 0, 1, NULL};
    each_i8(tm, qcount, &c);
    if (!c.ok || c.bytes == 0) return;
    c.buf = es_malloc_aligned(c.bytes);
    if (!c.buf) {
        es_log(ES_LOG_INFO, "t5: no memory to pre-pack %zu bytes of int8 weights; running unpacked",
               c.bytes);
        return;
    }
    tm->packed_bytes = c.bytes;
    c.bytes = 0;
    each_i8(tm, qpack, &c);
    if (tm->embed_lin.q == tm->lm_head_lin.q) {
        tm->embed_lin.qp = tm->lm_head_lin.qp;
        tm->embed_lin.qp_stride = tm->lm_head_lin.qp_stride;
    }
    tm->packed_buf = c.buf;
}

void es_t5_pack_weights(es_t5_model *tm, const es_weights *w) {
    const char *env = getenv("EDGESEQ_PACK");
    if (env && strcmp(env, "0") == 0) return;
    if (tm->quant == ES_T5_Q_INT8) {
        pack_int8(tm, w);
        return;
    }
    if (tm->quant) return;
    pack_ctx c = {es_kern(), w, 0, 1, NULL};
    if (!c.kt->gemm_pack_floats) return;
    each_lin(tm, count, &c);
    if (!c.ok || c.floats == 0) return;
    size_t bytes;
    if (!es_mul_ok(c.floats, sizeof(float), &bytes)) return;
    c.buf = es_malloc_aligned(bytes);
    if (!c.buf) {
        es_log(ES_LOG_INFO, "t5: no memory to pre-pack %zu bytes of weights; running unpacked",
               bytes);
        return;
    }
    c.floats = 0;
    each_lin(tm, pack, &c);
    tm->packed_buf = c.buf;
    tm->packed_bytes = bytes;
}
