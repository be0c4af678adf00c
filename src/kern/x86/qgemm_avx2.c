/*
 * qgemm_avx2.c — AVX2 integer GEMM, same contract and bits as
 * qgemm_ref.c (C(M,N) (+)= A(M,K)·B(N,K)ᵀ, A uint8, B int8, C int32).
 *
 * Why vpmaddwd on widened operands and not vpmaddubsw: maddubs adds two
 * u8·s8 products into a SATURATING int16 (255·127·2 = 64,770 > 32,767), so
 * it is only exact for 7-bit weights. Widening both operands to int16
 * (vpmovzxbw / vpmovsxbw) and using vpmaddwd (int16 pairs → int32) is
 * exact for any codes, at half the multiply rate; the sums are integers,
 * so the result equals the reference bit for bit whatever the order.
 * Blocking: one A row × 4 B rows per inner loop (A widened once, 4
 * accumulators), 16 k per iteration, scalar tail. Rows split over the pool.
 */
#include "kern/kern.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

typedef struct qgemm_job {
    int32_t *C;
    const uint8_t *A;
    const int8_t *B;
    int ldc, lda, ldb, M, N, K, acc;
} qgemm_job;

static inline int32_t hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline __m256i load_u8(const uint8_t *p) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}
static inline __m256i load_s8(const int8_t *p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}

static void qnt_task(void *ctx, int task, int n_tasks) {
    const qgemm_job *j = ctx;
    int r0 = (int)((long)j->M * task / n_tasks), r1 = (int)((long)j->M * (task + 1) / n_tasks);
    int K = j->K, K16 = K & ~15;
    for (int i = r0; i < r1; i++) {
        const uint8_t *a = j->A + (size_t)i * (size_t)j->lda;
        int32_t *c = j->C + (size_t)i * (size_t)j->ldc;
        int n = 0;
        for (; n + 4 <= j->N; n += 4) {
            const int8_t *b0 = j->B + (size_t)n * (size_t)j->ldb, *b1 = b0 + j->ldb;
            const int8_t *b2 = b1 + j->ldb, *b3 = b2 + j->ldb;
            __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
            for (int k = 0; k < K16; k += 16) {
                __m256i av = load_u8(a + k);
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(av, load_s8(b0 + k)));
                s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(av, load_s8(b1 + k)));
                s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(av, load_s8(b2 + k)));
                s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(av, load_s8(b3 + k)));
            }
            int32_t t0 = hsum8(s0), t1 = hsum8(s1), t2 = hsum8(s2), t3 = hsum8(s3);
            for (int k = K16; k < K; k++) {
                int32_t av = a[k];
                t0 += av * b0[k];
                t1 += av * b1[k];
                t2 += av * b2[k];
                t3 += av * b3[k];
            }
            if (j->acc) {
                c[n] += t0, c[n + 1] += t1, c[n + 2] += t2, c[n + 3] += t3;
            } else {
                c[n] = t0, c[n + 1] = t1, c[n + 2] = t2, c[n + 3] = t3;
            }
        }
        for (; n < j->N; n++) {
            const int8_t *b = j->B + (size_t)n * (size_t)j->ldb;
            __m256i s = _mm256_setzero_si256();
            for (int k = 0; k < K16; k += 16)
                s = _mm256_add_epi32(s, _mm256_madd_epi16(load_u8(a + k), load_s8(b + k)));
            int32_t t = hsum8(s);
            for (int k = K16; k < K; k++) t += (int32_t)a[k] * b[k];
            c[n] = j->acc ? c[n] + t : t;
        }
    }
}

void es_qgemm_nt_avx2(es_pool *pool, int32_t *C, int ldc, const uint8_t *A, int lda,
                      const int8_t *B, int ldb, int M, int N, int K, int acc) {
    if (M <= 0 || N <= 0) return;
    qgemm_job j = {C, A, B, ldc, lda, ldb, M, N, K, acc};
    double work = (double)M * N * K;
    int nt = 1;
    if (pool && work >= 65536.0) {
        nt = es_pool_threads(pool) * 4;
        if (nt > M) nt = M;
    }
    es_pool_run(nt > 1 ? pool : NULL, nt, qnt_task, &j);
}

/* ---- panel-packed weights (kern.h es_qgemm_packed_fn) -------------------
 * R (1 or 2) rows × one 4-row panel per pass: each 64-byte block is one
 * cache line holding 16 k of all 4 columns, so M = 1 streams the weights
 * sequentially at memory speed. Same widen + vpmaddwd arithmetic as
 * above (exact for any codes); the four column sums are reduced together
 * with vphaddd. */

static inline __m128i hsum4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    __m256i c = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
    return _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
}

static inline void put4(int32_t *c, __m128i v, int nc, int acc) {
    int32_t t[4];
    _mm_storeu_si128((__m128i *)(void *)t, v);
    for (int n = 0; n < nc; n++) c[n] = acc ? c[n] + t[n] : t[n];
}

static inline __attribute__((always_inline)) void qp_rows(int32_t *C, int ldc,
                                                          const uint8_t *a0, const uint8_t *a1,
                                                          const uint8_t *t0, const uint8_t *t1,
                                                          const int8_t *P, size_t pstride,
                                                          int R, int N, int K, int acc) {
    const int K16 = K & ~15, NP = (N + 3) / 4;
    for (int p = 0; p < NP; p++) {
        const int8_t *b = P + (size_t)p * pstride;
        __m256i r00 = _mm256_setzero_si256(), r01 = r00, r02 = r00, r03 = r00;
        __m256i r10 = r00, r11 = r00, r12 = r00, r13 = r00;
        for (int k = 0; k <= K16; k += 16, b += 64) {
            const uint8_t *x0p = a0 + k, *x1p = R > 1 ? a1 + k : x0p;
            if (k == K16) {
                if (K16 == K) break;
                x0p = t0; /* A's tail, zero padded */
                x1p = t1;
            }
            __m256i w0 = load_s8(b), w1 = load_s8(b + 16), w2 = load_s8(b + 32),
                    w3 = load_s8(b + 48);
            __m256i x0 = load_u8(x0p);
            r00 = _mm256_add_epi32(r00, _mm256_madd_epi16(x0, w0));
            r01 = _mm256_add_epi32(r01, _mm256_madd_epi16(x0, w1));
            r02 = _mm256_add_epi32(r02, _mm256_madd_epi16(x0, w2));
            r03 = _mm256_add_epi32(r03, _mm256_madd_epi16(x0, w3));
            if (R > 1) {
                __m256i x1 = load_u8(x1p);
                r10 = _mm256_add_epi32(r10, _mm256_madd_epi16(x1, w0));
                r11 = _mm256_add_epi32(r11, _mm256_madd_epi16(x1, w1));
                r12 = _mm256_add_epi32(r12, _mm256_madd_epi16(x1, w2));
                r13 = _mm256_add_epi32(r13, _mm256_madd_epi16(x1, w3));
            }
        }
        const int nc = ES_MIN(4, N - 4 * p);
        put4(C + 4 * p, hsum4(r00, r01, r02, r03), nc, acc);
        if (R > 1) put4(C + ldc + 4 * p, hsum4(r10, r11, r12, r13), nc, acc);
    }
}

void es_qgemm_packed_avx2(int32_t *C, int ldc, const uint8_t *A, int lda, const int8_t *P,
                          size_t pstride, int M, int N, int K, int acc) {
    if (M <= 0 || N <= 0) return;
    const int K16 = K & ~15, tail = K - K16;
    uint8_t t0[16], t1[16];
    memset(t0, 0, sizeof t0);
    memset(t1, 0, sizeof t1);
    int i = 0;
    for (; i + 2 <= M; i += 2) {
        const uint8_t *a0 = A + (size_t)i * (size_t)lda, *a1 = a0 + lda;
        if (tail) {
            memcpy(t0, a0 + K16, (size_t)tail);
            memcpy(t1, a1 + K16, (size_t)tail);
        }
        qp_rows(C + (size_t)i * (size_t)ldc, ldc, a0, a1, t0, t1, P, pstride, 2, N, K, acc);
    }
    if (i < M) {
        const uint8_t *a0 = A + (size_t)i * (size_t)lda;
        if (tail) memcpy(t0, a0 + K16, (size_t)tail);
        qp_rows(C + (size_t)i * (size_t)ldc, ldc, a0, a0, t0, t0, P, pstride, 1, N, K, acc);
    }
}

/* ---- activation row quantization (kern.h es_quant_row_fn) ---------------
 * The reference's operations lane by lane: |x| max (vmaxps returns its
 * second operand, the running max, for a NaN lane: NaN ignored, as the
 * reference's `a > mx`), x·inv rounded to nearest even (vroundps = rintf
 * in the default rounding mode), clamp with NaN kept, + 128, truncation
 * (a NaN lane converts to INT_MIN, which the unsigned saturating packs turn
 * into code 0, the reference's NaN code). So the codes are the same bytes. */
float es_quant_row_avx2(uint8_t *codes, const float *x, int K) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + k), absm), m);
    float t[8], mx = 0.0f;
    _mm256_storeu_ps(t, m);
    for (int i = 0; i < 8; i++) mx = t[i] > mx ? t[i] : mx;
    for (; k < K; k++) {
        float a = fabsf(x[k]);
        mx = a > mx ? a : mx;
    }
    if (!(mx > 0.0f) || !isfinite(mx)) return es_quant_row_ref(codes, x, K);
    const float inv = 127.0f / mx;
    const __m256 vi = _mm256_set1_ps(inv), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    const __m256 off = _mm256_set1_ps(128.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (k = 0; k + 32 <= K; k += 32) {
        __m256i c[4];
        for (int u = 0; u < 4; u++) {
            __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * u), vi),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            v = _mm256_min_ps(hi, _mm256_max_ps(lo, v)); /* NaN stays NaN */
            c[u] = _mm256_cvttps_epi32(_mm256_add_ps(v, off));
        }
        __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(c[0], c[1]), _mm256_packus_epi32(c[2], c[3]));
        _mm256_storeu_si256((__m256i *)(void *)(codes + k), _mm256_permutevar8x32_epi32(p, perm));
    }
    for (; k < K; k++) codes[k] = es_quant_code(x[k], inv);
    return mx / 127.0f;
}
