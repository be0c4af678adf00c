/*
 * gemm_avx512.c — AVX-512F fp32 GEMMs (gemm_nt, gemm_nn, gemm_tn). Maps the
 * vector primitives of gemm_tmpl.h onto 512-bit intrinsics (16 floats,
 * opmask tails); all logic is the shared driver, which the AVX2 build tests
 * on every machine. Compiled with the AVX-512 F/BW/VL/DQ flags only; called
 * only when es_kern_get found AVX-512F/BW/VL/DQ usable (CPU and OS).
 *
 * Blocking: micro-tile 6 x 32 (12 zmm accumulators of 32 registers; 12
 * independent FMA chains cover 2 pipes x 4-cycle latency); K-block 128 so
 * a packed 128 x 32 B panel (16 KB) stays in L1 (32 KB Zen 4, 48 KB
 * Sapphire Rapids); KT_NB is the fallback path's stack block (64 KB).
 * Untuned: no AVX-512 machine was available when it was written.
 *
 * ES_AVX512_EMU (tests/emu only, never in the library build): the
 * intrinsics below come from dev/kern/avx512_emu.h, scalar stand-ins, so
 * this file's logic is tested on CPUs without AVX-512 (ctests
 * unit_test_kern_{gemm,rows,packed}_avx512_emu).
 */
#include "kern/kern.h"

#ifdef ES_AVX512_EMU
#include "avx512_emu.h"
#else
#include <immintrin.h>
#endif

#define KT_VL 16
#define KT_KC 128
#define KT_NB 128

typedef __m512 kt_vec;

static inline kt_vec kt_zero(void) { return _mm512_setzero_ps(); }
static inline kt_vec kt_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void kt_store(float *p, kt_vec v) { _mm512_storeu_ps(p, v); }
/* lanes < n (0..16); masked lanes are neither read nor written (no faults) */
static inline __mmask16 kt_mask(int n) { return (__mmask16)((1u << n) - 1u); }
static inline kt_vec kt_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(kt_mask(n), p); }
static inline void kt_store_n(float *p, kt_vec v, int n) { _mm512_mask_storeu_ps(p, kt_mask(n), v); }
static inline kt_vec kt_bcast(const float *p) { return _mm512_set1_ps(*p); }
static inline kt_vec kt_fma(kt_vec a, kt_vec b, kt_vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline kt_vec kt_add(kt_vec a, kt_vec b) { return _mm512_add_ps(a, b); }
static inline float kt_hsum(kt_vec v) { return _mm512_reduce_add_ps(v); }

#include "kern/x86/gemm_tmpl.h"

void es_gemm_nt_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K, int acc) {
    kt_gemm(pool, 0, C, ldc, A, lda, B, ldb, NULL, M, N, K, acc);
}

void es_gemm_nn_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K, int acc) {
    kt_gemm(pool, 1, C, ldc, A, lda, B, ldb, NULL, M, N, K, acc);
}

void es_gemm_tn_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K, int acc) {
    kt_gemm(pool, 2, C, ldc, A, lda, B, ldb, NULL, M, N, K, acc);
}

size_t es_gemm_pack_floats_avx512(int N, int K) { return kt_pack_floats(N, K); }

void es_gemm_pack_nt_avx512(float *P, const float *B, int ldb, int N, int K) {
    kt_pack_full(P, B, ldb, N, K);
}

void es_gemm_nt_packed_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                           const float *P, int M, int N, int K, int acc) {
    kt_gemm(pool, 0, C, ldc, A, lda, NULL, 0, P, M, N, K, acc);
}

size_t es_gemm_rows_floats_avx512(int N, int K) { return kt_rows_floats(N, K); }

void es_gemm_rows_pack_avx512(float *P, const float *B, int ldb, int N, int K) {
    kt_pack_rows(P, B, ldb, N, K);
}

void es_gemm_nt_rows_avx512(es_pool *pool, float *C, int ldc, const float *A, int lda,
                            const float *P, int M, int N, int K, int acc) {
    kt_gemm_rows(pool, C, ldc, A, lda, P, M, N, K, acc);
}
