/*
 * gemm_avx2.c — AVX2 + FMA fp32 GEMMs (gemm_nt, gemm_nn, gemm_tn). This
 * file only maps the vector primitives of gemm_tmpl.h onto 256-bit
 * intrinsics (8 floats); the driver, packing and micro-kernel live there.
 * Compiled with -mavx2 -mfma -mf16c only; called only when es_kern_get
 * found AVX2 + FMA usable (CPU and OS).
 *
 * Blocking for 16 ymm registers: micro-tile 6 x 16 (12 accumulators,
 * 2 B loads, 1 broadcast); K-block 512: the 512 x 16 B panel (32 KB) fills
 * Zen 3's L1, but T5's K = 512 products then make one pass over C instead
 * of two, measured +3..11 % GFLOP/s over K-block 256 on 128 x {512, 2048}
 * x {512, 2048} and 1024 x 512 x 512 (docs/kernels.md, T5 section); packed
 * A panels stream from L2. KT_NB is the fallback path's stack block
 * (512 x 32 floats = 64 KB).
 */
#include "kern/kern.h"

#include <immintrin.h>

#define KT_VL 8
#define KT_KC 512
#define KT_NB 32

typedef __m256 kt_vec;

static inline kt_vec kt_zero(void) { return _mm256_setzero_ps(); }
static inline kt_vec kt_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void kt_store(float *p, kt_vec v) { _mm256_storeu_ps(p, v); }
/* lanes < n set: maskload/maskstore never touch (or fault on) masked lanes */
static inline __m256i kt_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline kt_vec kt_load_n(const float *p, int n) { return _mm256_maskload_ps(p, kt_mask(n)); }
static inline void kt_store_n(float *p, kt_vec v, int n) { _mm256_maskstore_ps(p, kt_mask(n), v); }
static inline kt_vec kt_bcast(const float *p) { return _mm256_broadcast_ss(p); }
static inline kt_vec kt_fma(kt_vec a, kt_vec b, kt_vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline kt_vec kt_add(kt_vec a, kt_vec b) { return _mm256_add_ps(a, b); }
/* fixed tree: (lo128 + hi128), then pairs, then the last two */
static inline float kt_hsum(kt_vec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#include "kern/x86/gemm_tmpl.h"

void es_gemm_nt_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                     int ldb, int M, int N, int K, int acc) {
    kt_gemm(pool, 0, C, ldc, A, lda, B, ldb, NULL, M, N, K, acc);
}

void es_gemm_nn_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                     int ldb, int M, int N, int K, int acc) {
    kt_gemm(pool, 1, C, ldc, A, lda, B, ldb, NULL, M, N, K, acc);
}

void es_gemm_tn_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,
                     int ldb, int M, int N, int K, int acc) {
    kt_gemm(pool, 2, C, ldc, A, lda, B, ldb, NULL, M, N, K, acc);
}

size_t es_gemm_pack_floats_avx2(int N, int K) { return kt_pack_floats(N, K); }

void es_gemm_pack_nt_avx2(float *P, const float *B, int ldb, int N, int K) {
    kt_pack_full(P, B, ldb, N, K);
}

void es_gemm_nt_packed_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda,
                           const float *P, int M, int N, int K, int acc) {
    kt_gemm(pool, 0, C, ldc, A, lda, NULL, 0, P, M, N, K, acc);
}

size_t es_gemm_rows_floats_avx2(int N, int K) { return kt_rows_floats(N, K); }

void es_gemm_rows_pack_avx2(float *P, const float *B, int ldb, int N, int K) {
    kt_pack_rows(P, B, ldb, N, K);
}

void es_gemm_nt_rows_avx2(es_pool *pool, float *C, int ldc, const float *A, int lda,
                          const float *P, int M, int N, int K, int acc) {
    kt_gemm_rows(pool, C, ldc, A, lda, P, M, N, K, acc);
}
