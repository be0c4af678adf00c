/*
 * t5_pack.c — re-packing of T5 weights into the layouts the kernels read
 * fastest (es_t5_pack_weights, model/t5.h). Two parts:
 *
 * 1. Encoder side, fp32, before es_model_load returns. The encoder
 *    projections and the decoder's cross-attention K/V projections are only
 *    multiplied by many rows at once (B x S tokens), where the GEMM's
 *    general path re-packs B into k-major panels on every call (~11 % of an
 *    encoder 1 x 128 in `perf`). Packing them once into the kernel table's
 *    layout (kern.h gemm_pack_nt) removes that; the products keep the same
 *    bits for M > 8 (same micro-kernel, same order) but not for M <= 8,
 *    hence before the load returns.
 * 2. Decode side, in a background thread (below): fp32 decoder projections
 *    + LM head into row-interleaved panels (gemm_rows_pack), int8 and bf16
 *    projections into 4-row panels (es_qpack_nt / es_bpack_nt). Each is
 *    one sequential stream per few output columns at M = 1, where the
 *    row-major weights are read as several short strided streams (measured
 *    ~1.4x (fp32) to ~2x (int8) slower); every product has the row-major
 *    weights' bits.
 *
 * Memory: packed copies are anonymous memory (+ a few % of padding at
 * most); the memory-mapped source pages are released as they are packed
 * (es_weights_release; they come back from the file if read again, e.g.
 * embedding rows or M > 8 products), so the resident set holds each weight
 * about once. Only memory-mapped models are packed: for weights already on
 * the heap (converted dtypes, pytorch_model.bin copies) a copy would add
 * memory, so they run unpacked. EDGESEQ_PACK=0 packs nothing.
 */
#include "model/t5.h"

#include "io/weights.h"
#include "kern/kern.h"
#include "quant/t5_quant.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* ---- decode weights, re-packed in the background ------------------------
 * Products with the panels give exactly the bits of the row-major weights
 * (gemm_nt_rows == gemm_nt at M <= 8; integer sums; bgemm_packed ==
 * bgemm_nt), so a thread does the
 * copying after es_model_load has returned and each handle switches to
 * its panels when they are written (pointer published with release
 * semantics, read with acquire: es_t5_lin_rows / _qp / _bp); a forward
 * pass never sees a half-written panel and its results never depend on
 * when the switch happens. Loading stays ~ms (copying 160 MB of
 * t5-efficient-small decoder weights into fresh memory costs ~150 ms
 * here, most of it the kernel providing the pages). The buffer is
 * allocated by the loading thread (es_malloc_big, not pre-faulted: its
 * pages arrive as the panels are written while each source is released,
 * so the resident set does not hold both copies; advised for huge pages,
 * which a memory-bound decode step streams faster; the background thread
 * never allocates); es_t5_pack_stop (model free) stops and joins it.
 * EDGESEQ_PACK=sync packs before es_model_load returns (tests). */

enum { PK_F32_ROWS = 0, PK_INT8 = 1, PK_BF16 = 2 };

typedef struct es_t5_packer {
    es_t5_model *tm;
    const es_weights *w;
    const es_kern_table *kt;
    int form;         /* PK_*: which weights, which layout */
    unsigned char *buf;
    size_t bytes;     /* pass 1: total; pass 2: next offset */
    int ok;           /* every candidate is memory-mapped */
    atomic_int stop;
    pthread_t th;
    int joinable;
} es_t5_packer;

/* The handles multiplied at decode steps: fp32, the decoder projections
 * (self q,k,v,o, cross q,o, feed-forward) and the LM head; int8 / bf16,
 * every projection (the encoder's too: same bits at any M) and the LM head. An untied embedding only
 * serves row lookups; a tied one is the LM head's weight (its own handle
 * keeps reading the codes row by row). */
static void each_decode(es_t5_packer *c, void (*fn)(es_t5_packer *c, es_t5_lin *l)) {
    static const int ids[] = {ES_T5_LQ,  ES_T5_LK,  ES_T5_LV,   ES_T5_LO, ES_T5_LCQ,
                              ES_T5_LCO, ES_T5_LWI, ES_T5_LWI1, ES_T5_LWO};
    es_t5_model *tm = c->tm;
    const int all = c->form != PK_F32_ROWS;
    if (all)
        for (int i = 0; i < tm->cfg.n_enc_layers; i++)
            for (int k = 0; k < ES_T5_NLIN; k++) fn(c, &tm->enc[i].lin[k]);
    for (int i = 0; i < tm->cfg.n_dec_layers; i++) {
        if (all)
            for (int k = 0; k < ES_T5_NLIN; k++) fn(c, &tm->dec[i].lin[k]);
        else
            for (size_t k = 0; k < ES_ARRAY_LEN(ids); k++) fn(c, &tm->dec[i].lin[ids[k]]);
    }
    fn(c, &tm->lm_head_lin);
}

static int candidate(const es_t5_packer *c, const es_t5_lin *l) {
    if (c->form == PK_INT8) /* a chunk of the integer product starts on a 16-column block */
        return l->kind == ES_T5_W_I8 && l->q && (l->group == l->K || l->group % 16 == 0);
    if (c->form == PK_BF16) return l->kind == ES_T5_W_BF16 && l->bf16;
    return l->kind == ES_T5_W_F32 && l->f32;
}

static const void *src_of(const es_t5_packer *c, const es_t5_lin *l) {
    return c->form == PK_INT8 ? (const void *)l->q : c->form == PK_BF16 ? (const void *)l->bf16 : (const void *)l->f32;
}

static size_t elt_bytes(const es_t5_packer *c) {
    return c->form == PK_INT8 ? 1 : c->form == PK_BF16 ? sizeof(uint16_t) : sizeof(float);
}

static size_t src_bytes(const es_t5_packer *c, const es_t5_lin *l) {
    return (size_t)l->N * (size_t)l->K * elt_bytes(c);
}

/* bytes of rows [0, n) of l's packed form (n: all rows or a multiple of 8) */
static size_t packed_bytes(const es_t5_packer *c, const es_t5_lin *l, int n) {
    if (c->form == PK_INT8) return es_qpack_bytes(n, l->K);
    if (c->form == PK_BF16) return es_bpack_elems(n, l->K) * sizeof(uint16_t);
    return c->kt->gemm_rows_floats(n, l->K) * sizeof(float);
}

static size_t slot_bytes(const es_t5_packer *c, const es_t5_lin *l) {
    return (packed_bytes(c, l, l->N) + 63) & ~(size_t)63;
}

static void dcount(es_t5_packer *c, es_t5_lin *l) {
    if (!candidate(c, l)) return;
    if (!es_weights_mapped(c->w, src_of(c, l), src_bytes(c, l))) c->ok = 0;
    c->bytes += slot_bytes(c, l);
}

/* Rows per step: the source rows packed so far are released at every step,
 * so the resident set never holds two copies of more than ~2 MB (the LM
 * head alone is 66 MB in t5-efficient-small). A multiple of 8: a panel
 * boundary of every layout. */
#define PACK_ROWS 1024

static void dpack(es_t5_packer *c, es_t5_lin *l) {
    if (!candidate(c, l)) return;
    unsigned char *dst = c->buf + c->bytes;
    c->bytes += slot_bytes(c, l);
    const size_t row = (size_t)l->K * elt_bytes(c);
    const void *src = src_of(c, l);
    for (int n0 = 0; n0 < l->N; n0 += PACK_ROWS) {
        if (atomic_load(&c->stop)) return; /* model free: never published */
        const int nr = ES_MIN(PACK_ROWS, l->N - n0);
        void *d = dst + packed_bytes(c, l, n0);
        if (c->form == PK_INT8)
            es_qpack_nt(d, l->q + (size_t)n0 * l->K, l->K, nr, l->K);
        else if (c->form == PK_BF16)
            es_bpack_nt(d, l->bf16 + (size_t)n0 * l->K, l->K, nr, l->K);
        else
            c->kt->gemm_rows_pack(d, l->f32 + (size_t)n0 * l->K, l->K, nr, l->K);
        /* the row-major source stays valid (M > 8 products, embedding
         * rows): its pages come back from the file when used */
        es_weights_release(c->w, src, (size_t)(n0 + nr) * row);
    }
    if (c->form == PK_INT8) {
        l->qp_stride = es_qpack_stride(l->K); /* before qp is published */
        __atomic_store_n(&l->qp, (const int8_t *)dst, __ATOMIC_RELEASE);
    } else if (c->form == PK_BF16) {
        l->bp_stride = es_bpack_stride(l->K);
        __atomic_store_n(&l->bp, (const uint16_t *)(void *)dst, __ATOMIC_RELEASE);
    } else {
        __atomic_store_n(&l->rows, (const float *)(void *)dst, __ATOMIC_RELEASE);
    }
}

static void *pack_main(void *arg) {
    es_t5_packer *c = arg;
    c->bytes = 0;
    each_decode(c, dpack);
    return NULL;
}

static void pack_decode(es_t5_model *tm, const es_weights *w, int form, int sync) {
    es_t5_packer *c = es_calloc(1, sizeof *c);
    if (!c) return;
    c->tm = tm;
    c->w = w;
    c->kt = es_kern();
    c->form = form;
    c->ok = 1;
    atomic_init(&c->stop, 0);
    if (form == PK_F32_ROWS && !c->kt->gemm_rows_floats) c->ok = 0;
    if (c->ok) each_decode(c, dcount);
    if (!c->ok || c->bytes == 0 || !(c->buf = es_malloc_big(c->bytes, ES_BIG_HUGE))) {
        if (c->ok && c->bytes)
            es_log(ES_LOG_INFO, "t5: no memory to re-pack %zu bytes of decode weights; running "
                   "them row-major", c->bytes);
        es_free(c);
        return;
    }
    tm->packer = c;
    if (!sync && pthread_create(&c->th, NULL, pack_main, c) == 0) {
        c->joinable = 1;
        return;
    }
    pack_main(c); /* EDGESEQ_PACK=sync, or no thread to be had */
}

void es_t5_pack_stop(es_t5_model *tm) {
    es_t5_packer *c = tm->packer;
    if (!c) return;
    atomic_store(&c->stop, 1);
    if (c->joinable) pthread_join(c->th, NULL);
    es_free_big(c->buf);
    es_free(c);
    tm->packer = NULL;
}

static void pack_encoder(es_t5_model *tm, const es_weights *w) {
    pack_ctx c = {es_kern(), w, 0, 1, NULL};
    if (!c.kt->gemm_pack_floats) return;
    each_lin(tm, count, &c);
    if (!c.ok || c.floats == 0) return;
    size_t bytes;
    if (!es_mul_ok(c.floats, sizeof(float), &bytes)) return;
    c.buf = es_malloc_big(bytes, ES_BIG_POPULATE);
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

void es_t5_pack_weights(es_t5_model *tm, const es_weights *w) {
    const char *env = getenv("EDGESEQ_PACK");
    if (env && strcmp(env, "0") == 0) return;
    const int sync = env && strcmp(env, "sync") == 0;
    if (tm->quant == ES_T5_Q_INT8 || tm->quant == ES_T5_Q_BF16) {
        pack_decode(tm, w, tm->quant == ES_T5_Q_INT8 ? PK_INT8 : PK_BF16, sync);
        return;
    }
    if (tm->quant) return;
    /* the encoder's panels first, before es_model_load returns: for M <= 8
     * packed and unpacked products differ in summation order */
    pack_encoder(tm, w);
    pack_decode(tm, w, 0, sync);
}
