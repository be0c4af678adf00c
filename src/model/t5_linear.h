/*
 * t5_linear.h — one weight handle for every T5 linear layer, whatever its
 * storage: F32 (the fp32 engine), BF16 (kept as bf16, widened in the
 * kernel, fp32 sums) or I8 (symmetric int8 codes with F32 scales per
 * output row, optionally per group of `group` input columns).
 *
 * y (M, N) (+)= x (M, K) · Wᵀ, W (N, K) as PyTorch stores it.
 *
 * I8 numerics (docs/quantization.md, "T5 reduced precision"):
 *   weights   W[n][k] ≈ s_w[n][g] · q[n][k],  g = k / group, q ∈ [−127, 127]
 *   activations, dynamic per row: s_a[m] = max_k |x[m][k]| / 127,
 *             a[m][k] = clamp(rint(x[m][k] / s_a[m]), ±127)   (s_a = 0: a = 0)
 *   y[m][n] = s_a[m] · Σ_g s_w[n][g] · Σ_{k∈g} a[m][k] q[n][k]
 * The integer sums run in the u8 × s8 kernel (kern.h qgemm_nt) on a + 128,
 * and 128 · Σ_{k∈g} q[n][k] (precomputed, `wsum`) is subtracted: exact.
 * Work is split over the pool by fixed 64-column blocks, each task
 * quantizing the rows it needs into stack buffers, so no allocation
 * happens per call and the result is identical for any thread count.
 */
#ifndef ES_MODEL_T5_LINEAR_H
#define ES_MODEL_T5_LINEAR_H

#include "core/common.h"
#include "core/pool.h"

typedef enum es_t5_wkind { ES_T5_W_F32 = 0, ES_T5_W_BF16 = 1, ES_T5_W_I8 = 2 } es_t5_wkind;

/* Largest group (input columns per scale) and K handled per chunk. */
#define ES_T5_LIN_KCHUNK 2048

typedef struct es_t5_lin {
    es_t5_wkind kind;
    int N, K;               /* output, input features */
    int group;              /* I8: input columns per scale (== K: per output channel) */
    int n_groups;           /* K / group */
    const float *f32;       /* F32: (N, K) */
    const uint16_t *bf16;   /* BF16: (N, K), 2-byte aligned */
    const int8_t *q;        /* I8: (N, K) codes */
    const float *scale;     /* I8: (N, n_groups) */
    const int32_t *wsum;    /* I8: (N, n_groups) Σ of codes per group */
    /* F32 only, optional: f32 re-packed at load by es_kern()->gemm_pack_nt
     * (kern.h; encoder-side weights, t5_pack.c); then es_t5_linear uses
     * gemm_nt_packed. f32 stays valid (training, row lookups). */
    const float *packed;
    /* F32 only, optional: f32 re-packed after load by
     * es_kern()->gemm_rows_pack (decoder projections and LM head, in the
     * background: t5_pack.c; read it with es_t5_lin_rows); products with
     * M <= 8 rows (decode steps) then use gemm_nt_rows: gemm_nt's bits. */
    const float *rows;
    /* I8 only, optional: q re-packed after load into 4-row panels (kern.h
     * es_qpack_nt; in the background, t5_pack.c: read it with
     * es_t5_lin_qp), qp_stride bytes per panel; then the integer products
     * read qp (kern qgemm_packed), the same sums. */
    const int8_t *qp;
    size_t qp_stride;
    /* BF16 only, optional: bf16 re-packed after load into 4-row panels
     * (kern.h es_bpack_nt; background, t5_pack.c: read it with
     * es_t5_lin_bp), bp_stride elements per panel; bgemm_packed then gives
     * bgemm_nt's bits. */
    const uint16_t *bp;
    size_t bp_stride;
} es_t5_lin;

/* The re-packed forms, or NULL while (or if) they are not written. */
static inline const float *es_t5_lin_rows(const es_t5_lin *w) {
    return __atomic_load_n(&w->rows, __ATOMIC_ACQUIRE);
}
static inline const int8_t *es_t5_lin_qp(const es_t5_lin *w) {
    return __atomic_load_n(&w->qp, __ATOMIC_ACQUIRE);
}
static inline const uint16_t *es_t5_lin_bp(const es_t5_lin *w) {
    return __atomic_load_n(&w->bp, __ATOMIC_ACQUIRE);
}

/* y (M, N) (+)= x (M, K) · Wᵀ for any kind (acc = 1 adds). F32 calls the
 * fp32 GEMM directly (the forward's own split is used for F32 there).
 * x and y must not overlap. */
void es_t5_linear(es_pool *pool, float *y, const float *x, int M, const es_t5_lin *w, int acc);

/* Row r of W dequantized to fp32 (out: K floats) — the embedding lookup
 * of a quantized shared embedding. */
void es_t5_lin_row(const es_t5_lin *w, int r, float *out);

/* Activation quantization of one row (the scheme above), exposed for the
 * tests: codes (K) as a + 128 in uint8, returns s_a. */
float es_t5_quant_row(uint8_t *codes, const float *x, int K);

#endif
