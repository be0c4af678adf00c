/*
 * bgemm_avx2.c — AVX2 + FMA bf16-weight GEMM, contract of es_bgemm_fn
 * (kern.h): C(M,N) (+)= A(M,K) · B(N,K)ᵀ, A fp32, B bf16, fp32 sums.
 *
 * Widening: 8 bf16 (16 bytes) → vpmovzxwd → vpslld 16 gives the 8 fp32
 * exactly. Blocking: 2 A rows × 4 B rows per inner loop (8 accumulators,
 * each B row widened once per 2 rows; an odd last row of A alone), 8 k
 * per iteration, scalar tail.
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

/* C rows [0, R) (R = 1 or 2, rows a0 / a1), columns [0, nc), nc <= 4,
 * (+)= A · B: B row q is b[q] and its 8 columns k..k+7 are `step`
 * elements after the previous 8 (8 for row-major B, 32 for the 4-row
 * panels of es_bpack_nt); columns past nc alias row 0 (read, not
 * stored). Per element: an 8-lane FMA chain over k < K8, hsum, then the
 * k >= K8 tail in order — the same operations for either layout, so the
 * same bits. */
static inline __attribute__((always_inline)) void tile4(float *C, int ldc, const float *a0,
                                                        const float *a1, const uint16_t *const b[4],
                                                        ptrdiff_t step, int R, int nc, int K,
                                                        int acc) {
    const int K8 = K & ~7;
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00;
    __m256 s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    ptrdiff_t o = 0;
    for (int k = 0; k < K8; k += 8, o += step) {
        __m256 w0 = load_bf16(b[0] + o), w1 = load_bf16(b[1] + o);
        __m256 w2 = load_bf16(b[2] + o), w3 = load_bf16(b[3] + o);
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
    for (int r = 0; r < R; r++) {
        const float *a = r ? a1 : a0;
        for (int q = 0; q < nc; q++) {
            float s = t[r][q];
            for (int k = K8; k < K; k++) s += a[k] * es_bf16_to_f32(b[q][o + (k - K8)]);
            store(C + (size_t)r * ldc + q, s, acc);
        }
    }
}

/* Rows of A in pairs (an odd last row alone) × groups of 4 columns; B row
 * n + q of the group starting at column n is B + (n/4)·grp + q·qstride. */
static inline __attribute__((always_inline)) void bgemm(float *C, int ldc, const float *A,
                                                        int lda, const uint16_t *B, size_t grp,
                                                        ptrdiff_t qstride, ptrdiff_t step, int M,
                                                        int N, int K, int acc) {
    for (int i = 0; i < M; i += 2) {
        const int R = ES_MIN(2, M - i);
        const float *a0 = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        for (int n = 0; n < N; n += 4) {
            const int nc = ES_MIN(4, N - n);
            const uint16_t *b[4];
            for (int q = 0; q < 4; q++) b[q] = B + (size_t)(n / 4) * grp + (q < nc ? q : 0) * qstride;
            if (R > 1) tile4(c + n, ldc, a0, a0 + lda, b, step, 2, nc, K, acc);
            else tile4(c + n, ldc, a0, a0, b, step, 1, nc, K, acc);
        }
    }
}

void es_bgemm_nt_avx2(float *C, int ldc, const float *A, int lda, const uint16_t *B, int ldb,
                      int M, int N, int K, int acc) {
    bgemm(C, ldc, A, lda, B, 4 * (size_t)ldb, ldb, 8, M, N, K, acc);
}

/* ---- panel-packed weights (kern.h es_bgemm_packed_fn) -------------------
 * tile4 on one 4-row panel per pass: the same operations per element as
 * es_bgemm_nt_avx2, so the same bits, with the panel read as one
 * sequential stream (64-byte blocks) instead of 4 rows at stride ldb. */
void es_bgemm_packed_avx2(float *C, int ldc, const float *A, int lda, const uint16_t *P,
                          size_t pstride, int M, int N, int K, int acc) {
    bgemm(C, ldc, A, lda, P, pstride, 8, 32, M, N, K, acc);
}
