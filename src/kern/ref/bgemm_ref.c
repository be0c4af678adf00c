/*
 * bgemm_ref.c — scalar reference of the bf16-weight GEMM (kern.h,
 * es_bgemm_fn): C(M,N) (+)= A(M,K) · B(N,K)ᵀ, A fp32, B bf16, fp32 sums.
 *
 * bf16 → fp32 is exact (the bf16 bits are the top half of the fp32), so
 * the only rounding is the fp32 accumulation, done here strictly in k
 * order without FMA contraction (a plain `s += a*b` per element). SIMD
 * twins differ by summation order and FMA; tests/unit/test_kern_bgemm.c
 * bounds the difference by the |a|·|b| sum.
 */
#include "kern/kern.h"

#include <string.h>

void es_bgemm_nt_ref(float *C, int ldc, const float *A, int lda, const uint16_t *B, int ldb,
                     int M, int N, int K, int acc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * (size_t)lda;
        float *c = C + (size_t)i * (size_t)ldc;
        for (int n = 0; n < N; n++) {
            const uint16_t *b = B + (size_t)n * (size_t)ldb;
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                float p = a[k] * es_bf16_to_f32(b[k]);
                s += p;
            }
            c[n] = acc ? c[n] + s : s;
        }
    }
}

/* ---- panel-packed bf16 weights (kern.h es_bgemm_packed_fn) ------------- */

size_t es_bpack_stride(int K) { return (size_t)((K + 7) / 8) * 32; }

size_t es_bpack_elems(int N, int K) { return (size_t)((N + 3) / 4) * es_bpack_stride(K); }

void es_bpack_nt(uint16_t *P, const uint16_t *B, int ldb, int N, int K) {
    const size_t ps = es_bpack_stride(K);
    memset(P, 0, es_bpack_elems(N, K) * sizeof(uint16_t));
    for (int n = 0; n < N; n++) {
        uint16_t *dst = P + (size_t)(n / 4) * ps + (size_t)(n % 4) * 8;
        const uint16_t *src = B + (size_t)n * (size_t)ldb;
        for (int k0 = 0; k0 < K; k0 += 8)
            memcpy(dst + (size_t)(k0 / 8) * 32, src + k0, (size_t)ES_MIN(8, K - k0) * sizeof(uint16_t));
    }
}

void es_bgemm_packed_ref(float *C, int ldc, const float *A, int lda, const uint16_t *P,
                         size_t pstride, int M, int N, int K, int acc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * (size_t)lda;
        float *c = C + (size_t)i * (size_t)ldc;
        for (int n = 0; n < N; n++) {
            const uint16_t *b = P + (size_t)(n / 4) * pstride + (size_t)(n % 4) * 8;
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                float p = a[k] * es_bf16_to_f32(b[(size_t)(k / 8) * 32 + (size_t)(k % 8)]);
                s += p;
            }
            c[n] = acc ? c[n] + s : s;
        }
    }
}
