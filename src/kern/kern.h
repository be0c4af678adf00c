/*
 * kern.h — the kernel table: every hot numeric routine has a scalar
 * reference (src/kern/ref, suffix _ref) and optional SIMD variants
 * (src/kern/x86, suffixes _avx2, _avx512, _vnni...). es_kern() returns the
 * table chosen once for this CPU (CPUID + XGETBV); EDGESEQ_ISA=ref|avx2|avx512
 * forces a path for tests.
 *
 * Matrix legend: row-major everywhere. Linear weights are stored as
 * PyTorch does, W (out, in), so y = x·Wᵀ is gemm_nt.
 *   gemm_nt: C(M,N) (+)= A(M,K) · B(N,K)ᵀ    forward of a linear layer
 *   gemm_nn: C(M,N) (+)= A(M,K) · B(K,N)     dX = dY·W
 *   gemm_tn: C(M,N) (+)= A(K,M)ᵀ · B(K,N)    dW = dYᵀ·X
 * `acc` = 0 overwrites C, 1 adds to it. lda/ldb/ldc are row strides in
 * elements. Kernels split work over the pool by fixed output blocks, so
 * results are identical for any thread count.
 * A and B are only read and addressed by stride: their rows may overlap
 * (lda < K for nt/nn, ldb < N for nn/tn, e.g. a convolution's sliding
 * window, es_conv1d_*); tests/unit/test_kern_overlap.c checks every ISA.
 */
#ifndef ES_KERN_KERN_H
#define ES_KERN_KERN_H

#include "core/pool.h"

#include <math.h>

typedef void (*es_gemm_fn)(es_pool *pool, float *C, int ldc, const float *A, int lda,
                           const float *B, int ldb, int M, int N, int K, int acc);

/* Element-wise y[i] = f(x[i]), i < n; y == x (in place) is allowed, other
 * overlap is not; any float-aligned pointers. Every variant evaluates the
 * algorithm of src/kern/ref/act_coef.h (no libm), so y[i] depends on x[i]
 * alone, never on n, i, alignment or threads. Accuracy of each variant
 * against the exact function (tests/unit/test_kern_act.c, vs double libm;
 * ulp = the spacing of floats at the exact result):
 *   exp:     <= 2 ulp for x in [-87.3, 88.7]; +0 below -104, +inf above
 *            88.73 (subnormal results: |err| <= 2^-149 + 2 ulp)
 *   sigmoid: <= 3 ulp for x >= -87; |err| < 2^-126 below
 *   tanh:    <= 3 ulp; tanh(±0) = ±0, tanh(±inf) = ±1
 *   gelu:    tanh form 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))): |err| <=
 *            4 ulp(|x|) + 1e-38 (cancellation as x → −∞ keeps it absolute)
 * NaN in → NaN out (gelu(−inf) is NaN, as the formula in float). SIMD and
 * _ref differ by FMA rounding only (measured <= 1 ulp exp, 2 tanh, 4
 * sigmoid), so a model's results move by that much across ISAs. */
typedef void (*es_act_fn)(float *y, const float *x, size_t n);

/* One query row of one attention head, T5 style (no 1/sqrt(dk) scale):
 *   s_t = q·k_t + (bias ? bias[t] : 0)  for keys t < nk with mask[t] != 0
 *   out = sum_t softmax(s)_t v_t        (mask NULL: every key is valid)
 * If no key is valid, the weights are uniform over all nk keys (what HF
 * computes when every score is finfo.min). k_t = K + t*ldk, v_t = V + t*ldv
 * (dk floats each); q, bias, mask, scr: dk, nk, nk, nk elements. scr is
 * scratch (overwritten); out (dk) must not overlap any input. Masked keys'
 * values are never read into out. No allocation, no threads; the order of
 * operations depends on (nk, dk, mask) only. SIMD variants differ from _ref
 * by summation order, FMA and exp rounding (tests/unit/test_kern_attn.c). */
typedef void (*es_attn_row_fn)(float *out, const float *q, const float *K, const float *V,
                               ptrdiff_t ldk, ptrdiff_t ldv, const float *bias,
                               const int32_t *mask, float *scr, int nk, int dk);

/* Integer GEMM for int8 inference (src/quant): C(M,N) (+)= A(M,K)·B(N,K)ᵀ
 * with A uint8 (activation codes), B int8 (weight codes), C int32; lda,
 * ldb, ldc are row strides in elements; acc = 0 overwrites, 1 adds. Exact
 * (integer) for K <= 65536, so every variant gives the _ref bits for any
 * thread count; rows may overlap as for the float GEMMs (convolution
 * windows). No allocation. */
typedef void (*es_qgemm_fn)(es_pool *pool, int32_t *C, int ldc, const uint8_t *A, int lda,
                            const int8_t *B, int ldb, int M, int N, int K, int acc);

/* bf16-weight GEMM (src/model/t5_linear.c, reduced-precision inference):
 * C(M,N) (+)= A(M,K) · B(N,K)ᵀ with A fp32, B bf16 (uint16 bit patterns,
 * widened exactly to fp32), C fp32, fp32 accumulation; strides in
 * elements; acc = 0 overwrites, 1 adds. Single-threaded (callers split
 * columns over the pool), no allocation. SIMD variants differ from _ref by
 * summation order and FMA only. */
typedef void (*es_bgemm_fn)(float *C, int ldc, const float *A, int lda, const uint16_t *B,
                            int ldb, int M, int N, int K, int acc);

/* Pre-packed fp32 weights for gemm_nt (inference weights re-packed once at
 * load time, so the per-call packing of B disappears):
 *   gemm_pack_floats(N, K): floats of the packed form of B (N, K);
 *   gemm_pack_nt(P, B, ldb, N, K): writes it (P: that many floats, any
 *     float alignment, 64 bytes preferred);
 *   gemm_nt_packed(pool, C, ldc, A, lda, P, M, N, K, acc):
 *     C(M,N) (+)= A(M,K) · B(N,K)ᵀ with B given by P.
 * The layout is private to the table that packed it: pack and multiply
 * with the same table. _ref: a row-major copy and gemm_nt_ref (same bits
 * as gemm_nt_ref). SIMD: the general path's panels (gemm_tmpl.h), used for
 * every M, so for M > 8 the bits equal the variant's gemm_nt; for M <= 8
 * they differ from its streaming path by summation order only. Same
 * threads, determinism and scratch rules as gemm_nt
 * (tests/unit/test_kern_packed.c). */
/* Row-interleaved fp32 weights for small-M nt products (decode GEMVs;
 * decoder weights and LM head re-packed once at load, src/model/t5_pack.c):
 *   gemm_rows_floats(N, K): floats of the layout of B (N, K);
 *   gemm_rows_pack(P, B, ldb, N, K): writes it; rows n0.. (n0 a
 *     multiple of 8) may be packed by a separate call at
 *     P + gemm_rows_floats(n0, K) (the layout is in row order);
 *   gemm_nt_rows(pool, C, ldc, A, lda, P, M, N, K, acc):
 *     C(M,N) (+)= A(M,K) · B(N,K)ᵀ with B given by P, any M (meant for
 *     M <= 8; rows of A in groups of 4 re-read each panel from cache).
 * The layout is private to the table that packed it. _ref: a row-major
 * copy and gemm_nt_ref (same bits). SIMD: panels of 4 rows, each a
 * sequence of blocks of 4 vectors (one per row, VL columns): one
 * sequential stream per 4 output columns. Every C element is computed
 * exactly as by the variant's gemm_nt at M <= 8 (the streaming path), so
 * the bits equal gemm_nt's there; for any thread count
 * (tests/unit/test_kern_rows.c). No allocation. */
typedef size_t (*es_gemm_rows_floats_fn)(int N, int K);
typedef void (*es_gemm_rows_pack_fn)(float *P, const float *B, int ldb, int N, int K);
typedef void (*es_gemm_rows_fn)(es_pool *pool, float *C, int ldc, const float *A, int lda,
                                const float *P, int M, int N, int K, int acc);

/* Panel-packed int8 weights for decode-speed integer products (T5 int8
 * linears, src/model/t5_pack.c). One layout for every ISA, written by
 * es_qpack_nt: B (N, K) becomes ceil(N/4) panels of 4 rows, panel p at
 * P + p·es_qpack_stride(K); a panel is Kp/16 blocks of 64 bytes (Kp = K
 * rounded up to 16), block b holding rows 4p..4p+3 (16 bytes each, in row
 * order) of columns 16b..16b+15; bytes past N rows / K columns are 0. So
 * a GEMV reads each panel as one sequential stream (the row-major layout
 * reads 4 rows of K bytes at stride K, which the hardware prefetchers
 * follow badly: measured 2x slower at M = 1).
 *   qgemm_packed(C, ldc, A, lda, P, pstride, M, N, K, acc):
 *     C(M,N) (+)= A(M,K)·B(N,K)ᵀ, A uint8 codes, B given by P: element
 *     (n, k) at P[(n/4)·pstride + (k/16)·64 + (n%4)·16 + k%16] (so rows
 *     n0.., n0 % 4 == 0, may be packed separately at es_qpack_bytes(n0, K)). P may
 *     point into a packed matrix at a 4-row, 16-column boundary (a column
 *     block of the full product); K need not be a multiple of 16 and the
 *     bytes past K in the last block are never used (A's tail is padded
 *     with code 0), so they may belong to the next columns. Rows n with
 *     N <= n < 4·ceil(N/4) are read but not written. Exact (integer), same
 *     bits as qgemm_nt; single-threaded, no allocation. */
typedef void (*es_qgemm_packed_fn)(int32_t *C, int ldc, const uint8_t *A, int lda,
                                   const int8_t *P, size_t pstride, int M, int N, int K, int acc);
size_t es_qpack_stride(int K);         /* bytes per 4-row panel */
size_t es_qpack_bytes(int N, int K);   /* bytes of the packed matrix */
void es_qpack_nt(int8_t *P, const int8_t *B, int ldb, int N, int K);
/* element (n, k) of a packed matrix */
int8_t es_qpack_at(const int8_t *P, size_t pstride, int n, int k);

/* Dynamic int8 quantization of one activation row (the T5 int8 scheme,
 * model/t5_linear.h): s = max_k |x_k| (NaN ignored), codes[k] =
 * clamp(rint(x_k · (127/s)), ±127) + 128 (NaN → code 0); returns s/127.
 * All zero: codes 128, returns 0; an infinite max: codes 128, returns NaN.
 * Every variant gives the reference's bytes and scale exactly
 * (tests/unit/test_kern_quant_row.c). No allocation. */
typedef float (*es_quant_row_fn)(uint8_t *codes, const float *x, int K);
/* One code of that scheme, x · inv with inv = 127/s (the scalar
 * definition every variant matches). */
static inline uint8_t es_quant_code(float x, float inv) {
    float v = rintf(x * inv);
    if (v != v) return 0;
    v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
    return (uint8_t)(int)(v + 128.0f);
}
float es_quant_row_ref(uint8_t *codes, const float *x, int K);
float es_quant_row_avx2(uint8_t *codes, const float *x, int K);

/* log Σ_i exp(x_i), i < n (n >= 1), in double: the max m in float, then
 * m + log Σ exp(x_i − m) with the exponentials and the sum in double (a
 * decoder's log-softmax normaliser over the vocabulary). _ref uses libm
 * in index order; SIMD variants differ by ~1e-15 relative
 * (tests/unit/test_kern_lse.c). No allocation, no threads. */
typedef double (*es_lse_fn)(const float *x, int n);
double es_lse_ref(const float *x, int n);
double es_lse_avx2(const float *x, int n);

/* Panel-packed bf16 weights (T5 bf16 linears, re-packed after load,
 * src/model/t5_pack.c): one layout for every ISA, es_bpack_nt: B (N, K)
 * becomes ceil(N/4) panels of 4 rows, panel p at P + p·es_bpack_stride(K)
 * (uint16 elements); a panel is Kp/8 blocks of 32 elements (Kp = K rounded
 * up to 8), block b holding rows 4p..4p+3 (8 elements each, row order) of
 * columns 8b..8b+7; zero padding. Rows n0.. (n0 % 4 == 0) may be packed
 * separately at P + es_bpack_elems(n0, K).
 *   bgemm_packed(C, ldc, A, lda, P, pstride, M, N, K, acc): the bgemm_nt
 *   product with B given by P (P at a panel start; rows past N in the last
 *   panel are read, not written): EXACTLY the bits of the same table's
 *   bgemm_nt (same operations per element), single-threaded, no
 *   allocation. */
typedef void (*es_bgemm_packed_fn)(float *C, int ldc, const float *A, int lda, const uint16_t *P,
                                   size_t pstride, int M, int N, int K, int acc);
size_t es_bpack_stride(int K);        /* uint16 elements per 4-row panel */
size_t es_bpack_elems(int N, int K);  /* uint16 elements of the packed matrix */
void es_bpack_nt(uint16_t *P, const uint16_t *B, int ldb, int N, int K);

typedef size_t (*es_gemm_pack_floats_fn)(int N, int K);
typedef void (*es_gemm_pack_fn)(float *P, const float *B, int ldb, int N, int K);
typedef void (*es_gemm_packed_fn)(es_pool *pool, float *C, int ldc, const float *A, int lda,
                                  const float *P, int M, int N, int K, int acc);

typedef struct es_kern_table {
    const char *isa; /* "ref", "avx2", "avx512", "avx512vnni" */
    es_gemm_fn gemm_nt;
    es_gemm_fn gemm_nn;
    es_gemm_fn gemm_tn;
    /* element-wise activations (appended; see es_act_fn below) */
    es_act_fn exp, sigmoid, tanh, gelu;
    /* one-row attention (appended; see es_attn_row_fn below) */
    es_attn_row_fn attn_row;
    /* integer GEMM (appended; see es_qgemm_fn below) */
    es_qgemm_fn qgemm_nt;
    /* bf16-weight GEMM (appended; see es_bgemm_fn above) */
    es_bgemm_fn bgemm_nt;
    /* pre-packed fp32 nt weights (appended; see es_gemm_pack_fn below) */
    es_gemm_pack_floats_fn gemm_pack_floats;
    es_gemm_pack_fn gemm_pack_nt;
    es_gemm_packed_fn gemm_nt_packed;
    /* panel-packed integer GEMM (appended; see es_qgemm_packed_fn) */
    es_qgemm_packed_fn qgemm_packed;
    /* row-interleaved fp32 nt weights (appended; see es_gemm_rows_fn) */
    es_gemm_rows_floats_fn gemm_rows_floats;
    es_gemm_rows_pack_fn gemm_rows_pack;
    es_gemm_rows_fn gemm_nt_rows;
    /* panel-packed bf16-weight GEMM (appended; see es_bgemm_packed_fn) */
    es_bgemm_packed_fn bgemm_packed;
    /* log-sum-exp (appended; see es_lse_fn) */
    es_lse_fn lse;
    /* activation row quantization (appended; see es_quant_row_fn) */
    es_quant_row_fn quant_row;
} es_kern_table;

/* The table for this CPU (chosen once, thread-safe). */
const es_kern_table *es_kern(void);
/* The scalar reference table (for tests of SIMD variants). */
const es_kern_table *es_kern_ref(void);

void es_gemm_nt_ref(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                    int ldb, int M, int N, int K, int acc);
void es_gemm_nn_ref(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                    int ldb, int M, int N, int K, int acc);
void es_gemm_tn_ref(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                    int ldb, int M, int N, int K, int acc);

/* The table of one ISA ("ref", "avx2", "avx512", "avx512vnni") if this CPU and OS can run
 * it, else NULL (unknown names too). For tests and benchmarks that compare
 * variants; es_kern() is what the library uses. Thread-safe. */
const es_kern_table *es_kern_get(const char *isa);

/* SIMD variants (src/kern/x86). Same contract as the _ref twins, plus:
 * any strides >= the row length, any float-aligned pointers; C must not
 * overlap A or B. Summation order differs from _ref (blocked, FMA), see
 * docs/kernels.md for the error bound. Call only when es_kern_get says
 * the ISA is usable. Products with M > 8 (nt) / M > 4 (nn, tn) allocate
 * packing buffers (<= ~2.2 MB per pool thread) from the pool's scratch
 * (es_pool_scratch; with a NULL pool es_malloc_aligned, freed on return;
 * pool threads never allocate); if none can be had they fall back to an
 * unpacked path with the same results.
 * Up to ~70 KB of stack. */
void es_gemm_nt_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                     int ldb, int M, int N, int K, int acc);
void es_gemm_nn_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                     int ldb, int M, int N, int K, int acc);
void es_gemm_tn_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                     int ldb, int M, int N, int K, int acc);
void es_gemm_nt_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K, int acc);
void es_gemm_nn_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K, int acc);
void es_gemm_tn_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K, int acc);

/* Activations (contract above es_kern_table). _avx2 / _avx512: call only
 * when es_kern_get says the ISA is usable. */
void es_exp_ref(float *y, const float *x, size_t n);
void es_sigmoid_ref(float *y, const float *x, size_t n);
void es_tanh_ref(float *y, const float *x, size_t n);
void es_gelu_ref(float *y, const float *x, size_t n);
void es_exp_avx2(float *y, const float *x, size_t n);
void es_sigmoid_avx2(float *y, const float *x, size_t n);
void es_tanh_avx2(float *y, const float *x, size_t n);
void es_gelu_avx2(float *y, const float *x, size_t n);
void es_exp_avx512(float *y, const float *x, size_t n);
void es_sigmoid_avx512(float *y, const float *x, size_t n);
void es_tanh_avx512(float *y, const float *x, size_t n);
void es_gelu_avx512(float *y, const float *x, size_t n);

/* One-row attention (contract above es_attn_row_fn). The AVX-512 table
 * uses the AVX2 variant (every AVX-512 CPU has AVX2 + FMA). */
void es_attn_row_ref(float *out, const float *q, const float *K, const float *V, ptrdiff_t ldk,
                     ptrdiff_t ldv, const float *bias, const int32_t *mask, float *scr, int nk,
                     int dk);
void es_attn_row_avx2(float *out, const float *q, const float *K, const float *V, ptrdiff_t ldk,
                      ptrdiff_t ldv, const float *bias, const int32_t *mask, float *scr, int nk,
                      int dk);

/* Integer GEMM (contract above es_qgemm_fn). _avx2: only when es_kern_get
 * says the ISA is usable; the AVX-512 table uses it too. */
void es_qgemm_nt_ref(es_pool *pool, int32_t *C, int ldc, const uint8_t *A, int lda,
                     const int8_t *B, int ldb, int M, int N, int K, int acc);
void es_qgemm_nt_avx2(es_pool *pool, int32_t *C, int ldc, const uint8_t *A, int lda,
                      const int8_t *B, int ldb, int M, int N, int K, int acc);

/* Row-interleaved fp32 nt GEMM (contract above es_gemm_rows_fn). _avx2 /
 * _avx512: only when es_kern_get says that ISA is usable; each matches its
 * own table's gemm_nt bits (8- / 16-lane chains). */
size_t es_gemm_rows_floats_ref(int N, int K);
void es_gemm_rows_pack_ref(float *P, const float *B, int ldb, int N, int K);
void es_gemm_nt_rows_ref(es_pool *pool, float *C, int ldc, const float *A, int lda,
                         const float *P, int M, int N, int K, int acc);
size_t es_gemm_rows_floats_avx2(int N, int K);
void es_gemm_rows_pack_avx2(float *P, const float *B, int ldb, int N, int K);
void es_gemm_nt_rows_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda,
                          const float *P, int M, int N, int K, int acc);
size_t es_gemm_rows_floats_avx512(int N, int K);
void es_gemm_rows_pack_avx512(float *P, const float *B, int ldb, int N, int K);
void es_gemm_nt_rows_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                            const float *P, int M, int N, int K, int acc);

/* Panel-packed integer GEMM (contract above es_qgemm_packed_fn). _avx2:
 * only when es_kern_get says the ISA is usable; the AVX-512 table uses it. */
void es_qgemm_packed_ref(int32_t *C, int ldc, const uint8_t *A, int lda, const int8_t *P,
                         size_t pstride, int M, int N, int K, int acc);
void es_qgemm_packed_avx2(int32_t *C, int ldc, const uint8_t *A, int lda, const int8_t *P,
                          size_t pstride, int M, int N, int K, int acc);

/* bf16-weight GEMM (contract above es_bgemm_fn). _avx2: only when
 * es_kern_get says the ISA is usable; the AVX-512 table uses it too. */
/* AVX-512 VNNI integer GEMMs (contracts above es_qgemm_fn and
 * es_qgemm_packed_fn), x86 builds only: the "avx512vnni" table's, used
 * only when es_kern_get found AVX-512 F/BW/VL/DQ + VNNI usable.
 * Tests: tests/unit/test_kern_qgemm_vnni.c (natively) and the same test
 * with emulated intrinsics on any x86-64 (unit_test_kern_qgemm_vnni_emu). */
void es_qgemm_nt_vnni(es_pool *pool, int32_t *C, int ldc, const uint8_t *A, int lda,
                      const int8_t *B, int ldb, int M, int N, int K, int acc);
void es_qgemm_packed_vnni(int32_t *C, int ldc, const uint8_t *A, int lda, const int8_t *P,
                          size_t pstride, int M, int N, int K, int acc);

/* Bytes of pool scratch (core/pool.h es_pool_scratch) that the fp32 GEMMs
 * of every variant need at most with a pool of n_threads threads: after
 * es_pool_reserve(pool, es_kern_gemm_scratch_bytes(n)) GEMMs run with that
 * pool never allocate. (NULL pool: the general path allocates per call.) */
size_t es_kern_gemm_scratch_bytes(int n_threads);

void es_bgemm_nt_ref(float *C, int ldc, const float *A, int lda, const uint16_t *B, int ldb,
                     int M, int N, int K, int acc);
void es_bgemm_packed_ref(float *C, int ldc, const float *A, int lda, const uint16_t *P,
                         size_t pstride, int M, int N, int K, int acc);
void es_bgemm_packed_avx2(float *C, int ldc, const float *A, int lda, const uint16_t *P,
                          size_t pstride, int M, int N, int K, int acc);
void es_bgemm_nt_avx2(float *C, int ldc, const float *A, int lda, const uint16_t *B, int ldb,
                      int M, int N, int K, int acc);

/* Pre-packed nt GEMM (contract above es_gemm_pack_fn). _avx2 / _avx512:
 * only when es_kern_get says that ISA is usable; each gives its own
 * table's unpacked gemm_nt bits. */
size_t es_gemm_pack_floats_ref(int N, int K);
void es_gemm_pack_nt_ref(float *P, const float *B, int ldb, int N, int K);
void es_gemm_nt_packed_ref(es_pool *pool, float *C, int ldc, const float *A, int lda,
                           const float *P, int M, int N, int K, int acc);
size_t es_gemm_pack_floats_avx2(int N, int K);
void es_gemm_pack_nt_avx2(float *P, const float *B, int ldb, int N, int K);
void es_gemm_nt_packed_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda,
                            const float *P, int M, int N, int K, int acc);
size_t es_gemm_pack_floats_avx512(int N, int K);
void es_gemm_pack_nt_avx512(float *P, const float *B, int ldb, int N, int K);
void es_gemm_nt_packed_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                              const float *P, int M, int N, int K, int acc);

#endif
