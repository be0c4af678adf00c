/*
 * bgemm_avx2.c — AVX2 + FMA bf16-weight GEMM, contract of es_bgemm_fn
 * (kern.h): C(M,N) (+)= A(M,K) · B(N,K)ᵀ, A fp32, B bf16, fp32 sums.
 *
 * Widening: 8 bf16 (16 bytes) → vpmovzxwd → vpslld 16 gives the 8 fp32
 * exactly. Blocking: 2 A rows × 4 B rows per inner loop (8 accumulators,
 * each B row widened once per 2 rows), 8 k per iteration, scalar tail.
 * The decoder's M = 1..beam steps are memory-bound: bf16 halves the bytes
 * read per weight versus fp32, which is the point of this path.
 */
#include "kern/kern.h"

#include <immintrin.h>

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256 load_bf16(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static inline void store(float *c, float v, int acc) { *c = acc ? *c + v : v; }

/* Rows [i, i+nr) (nr = 1 or 2) against B rows [n, n+4). */
static void tile4(float *C, int ldc, const float *A, int lda, const uint16_t *B, int ldb, int i,
                  int nr, int n, int K, int acc) {
    const int K8 = K & ~7;
    const uint16_t *b0 = B + (size_t)n * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    const float *a0 = A + (size_t)i * lda, *a1 = nr > 1 ? a0 + lda : a0;
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00;
    __m256 s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    for (int k = 0; k < K8; k += 8) {
        __m256 w0 = load_bf16(b0 + k), w1 = load_bf16(b1 + k);
        __m256 w2 = load_bf16(b2 + k), w3 = load_bf16(b3 + k);
        __m256 x0 = _mm256_loadu_ps(a0 + k), x1 = _mm256_loadu_ps(a1 + k);
        s00 = _mm256_fmadd_ps(x0, w0, s00);
        s01 = _mm256_fmadd_ps(x0, w1, s01);
        s02 = _mm256_fmadd_ps(x0, w2, s02);
        s03 = _mm256_fmadd_ps(x0, w3, s03);
        s10 = _mm256_fmadd_ps(x1, w0, s10);
        s11 = _mm256_fmadd_ps(x1, w1, s11);
        s12 = _mm256_fmadd_ps(x1, w2, s12);
        s13 = _mm256_fmadd_ps(x1, w3, s13);
    }
    float t[2][4] = {{hsum(s00), hsum(s01), hsum(s02), hsum(s03)},
                     {hsum(s10), hsum(s11), hsum(s12), hsum(s13)}};
    const uint16_t *bs[4] = {b0, b1, b2, b3};
    for (int r = 0; r < nr; r++) {
        const float *a = r ? a1 : a0;
        for (int q = 0; q < 4; q++) {
            float s = t[r][q];
            for (int k = K8; k < K; k++) s += a[k] * es_bf16_to_f32(bs[q][k]);
            store(C + (size_t)(i + r) * ldc + n + q, s, acc);
        }
    }
}

void es_bgemm_nt_avx2(float *C, int ldc, const float *A, int lda, const uint16_t *B, int ldb,
                      int M, int N, int K, int acc) {
    const int K8 = K & ~7;
    for (int i = 0; i < M; i += 2) {
        const int nr = ES_MIN(2, M - i);
        int n = 0;
        for (; n + 4 <= N; n += 4) tile4(C, ldc, A, lda, B, ldb, i, nr, n, K, acc);
        for (; n < N; n++) {
            const uint16_t *b = B + (size_t)n * ldb;
            for (int r = 0; r < nr; r++) {
                const float *a = A + (size_t)(i + r) * lda;
                __m256 s = _mm256_setzero_ps();
                for (int k = 0; k < K8; k += 8)
                    s = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), load_bf16(b + k), s);
                float t = hsum(s);
                for (int k = K8; k < K; k++) t += a[k] * es_bf16_to_f32(b[k]);
                store(C + (size_t)(i + r) * ldc + n, t, acc);
            }
        }
    }
}

/* ---- panel-packed weights (kern.h es_bgemm_packed_fn) -------------------
 * The operations of tile4 / the column tail above, element for element
 * (same 8-lane FMA chains, hsum, scalar k tail after it), on one 4-row
 * panel per pass: the same bits, with the panel read as one sequential
 * stream (64-byte blocks) instead of 4 rows at stride ldb; an odd last
 * row of A runs alone (tile4 computes it twice). */
static inline __attribute__((always_inline)) void bp_rows(float *C, int ldc, const float *a0,
                                                          const float *a1, const uint16_t *P,
                                                          size_t pstride, int R, int N, int K,
                                                          int acc) {
    const int K8 = K & ~7;
    for (int n = 0; n < N; n += 4) {
        const uint16_t *b = P + (size_t)(n / 4) * pstride;
        __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00;
        __m256 s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        for (int k = 0; k < K8; k += 8, b += 32) {
            __m256 w0 = load_bf16(b), w1 = load_bf16(b + 8);
            __m256 w2 = load_bf16(b + 16), w3 = load_bf16(b + 24);
            __m256 x0 = _mm256_loadu_ps(a0 + k);
            s00 = _mm256_fmadd_ps(x0, w0, s00);
            s01 = _mm256_fmadd_ps(x0, w1, s01);
            s02 = _mm256_fmadd_ps(x0, w2, s02);
            s03 = _mm256_fmadd_ps(x0, w3, s03);
            if (R > 1) {
                __m256 x1 = _mm256_loadu_ps(a1 + k);
                s10 = _mm256_fmadd_ps(x1, w0, s10);
                s11 = _mm256_fmadd_ps(x1, w1, s11);
                s12 = _mm256_fmadd_ps(x1, w2, s12);
                s13 = _mm256_fmadd_ps(x1, w3, s13);
            }
        }
        float t[2][4] = {{hsum(s00), hsum(s01), hsum(s02), hsum(s03)},
                         {hsum(s10), hsum(s11), hsum(s12), hsum(s13)}};
        const int nc = ES_MIN(4, N - n);
        for (int r = 0; r < R; r++) {
            const float *a = r ? a1 : a0;
            for (int q = 0; q < nc; q++) {
                float s = t[r][q];
                for (int k = K8; k < K; k++) s += a[k] * es_bf16_to_f32(b[q * 8 + (k - K8)]);
                store(C + (size_t)r * ldc + n + q, s, acc);
            }
        }
    }
}

void es_bgemm_packed_avx2(float *C, int ldc, const float *A, int lda, const uint16_t *P,
                          size_t pstride, int M, int N, int K, int acc) {
    int i = 0;
    for (; i + 2 <= M; i += 2)
        bp_rows(C + (size_t)i * ldc, ldc, A + (size_t)i * lda, A + (size_t)(i + 1) * lda, P,
                pstride, 2, N, K, acc);
    if (i < M)
        bp_rows(C + (size_t)i * ldc, ldc, A + (size_t)i * lda, NULL, P, pstride, 1, N, K, acc);
}
