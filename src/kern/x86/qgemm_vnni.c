/*
 * qgemm_vnni.c — AVX-512 VNNI integer GEMMs, same contracts and bits as
 * qgemm_ref.c (kern.h): es_qgemm_nt_vnni (C(M,N) (+)= A(M,K)·B(N,K)ᵀ, A
 * uint8, B int8 row-major, C int32) and es_qgemm_packed_vnni (B in the
 * es_qpack_nt panels: the T5 int8 linears, encoder and decode).
 *
 * vpdpbusd adds four u8·s8 products into each int32 lane WITHOUT
 * intermediate saturation (|sum of 4| <= 4·255·128 = 130,560), unlike the
 * vpmaddubsw pair sums, so it is exact for any codes; integer sums are
 * order-free, so the results equal _ref bit for bit whatever the blocking.
 *
 * nt: one A row × 4 B rows, 64 k per iteration, the K tail by masked loads
 * (zeros add 0).
 * packed: a 64-byte panel block holds 16 k of the panel's 4 columns (16
 * bytes each), so ONE vpdpbusd of the block with A's 16 bytes broadcast to
 * the four 128-bit lanes gives, per lane c, 4 partial sums of column c.
 * Up to 4 rows of A × 2 panels × 2 alternating blocks = 16 independent
 * accumulators (covers the instruction's latency; M = 1 streams the
 * weights in order, like the AVX2 kernel). A's K tail (K % 16) is copied
 * into zero-padded 16-byte buffers, as the contract requires. The end
 * reduction adds the 4 int32 of each 128-bit lane (two hadd levels).
 *
 * Dispatch: the "avx512vnni" table (dispatch.c: AVX-512 F/BW/VL/DQ + VNNI,
 * OS-enabled zmm state). The development machine had no AVX-512: these
 * kernels were checked against _ref there through scalar stand-ins for
 * their intrinsics (ES_AVX512_EMU: ctest unit_test_kern_qgemm_vnni_emu, in CI), and are checked
 * natively by tests/unit/test_kern_qgemm_vnni.c wherever the CPU has VNNI.
 */
#include "kern/kern.h"

#include <string.h>

#ifdef ES_AVX512_EMU
#include "avx512_emu.h"
#else
#include <immintrin.h>
#endif

typedef struct qgemm_job {
    int32_t *C;
    const uint8_t *A;
    const int8_t *B;
    int ldc, lda, ldb, M, N, K, acc;
} qgemm_job;

static void qnt_task(void *ctx, int task, int n_tasks) {
    const qgemm_job *j = ctx;
    int r0 = (int)((long)j->M * task / n_tasks), r1 = (int)((long)j->M * (task + 1) / n_tasks);
    const int K = j->K, K64 = K & ~63, rem = K - K64;
    const __mmask64 tail = rem ? (~0ULL >> (64 - rem)) : 0;
    for (int i = r0; i < r1; i++) {
        const uint8_t *a = j->A + (size_t)i * (size_t)j->lda;
        int32_t *c = j->C + (size_t)i * (size_t)j->ldc;
        for (int n = 0; n < j->N; n += 4) {
            const int nb = j->N - n < 4 ? j->N - n : 4;
            const int8_t *b[4];
            for (int q = 0; q < 4; q++) b[q] = j->B + (size_t)(n + (q < nb ? q : 0)) * (size_t)j->ldb;
            __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
            for (int k = 0; k < K64; k += 64) {
                __m512i av = _mm512_loadu_si512((const void *)(a + k));
                s0 = _mm512_dpbusd_epi32(s0, av, _mm512_loadu_si512((const void *)(b[0] + k)));
                s1 = _mm512_dpbusd_epi32(s1, av, _mm512_loadu_si512((const void *)(b[1] + k)));
                s2 = _mm512_dpbusd_epi32(s2, av, _mm512_loadu_si512((const void *)(b[2] + k)));
                s3 = _mm512_dpbusd_epi32(s3, av, _mm512_loadu_si512((const void *)(b[3] + k)));
            }
            if (rem) {
                __m512i av = _mm512_maskz_loadu_epi8(tail, a + K64);
                s0 = _mm512_dpbusd_epi32(s0, av, _mm512_maskz_loadu_epi8(tail, b[0] + K64));
                s1 = _mm512_dpbusd_epi32(s1, av, _mm512_maskz_loadu_epi8(tail, b[1] + K64));
                s2 = _mm512_dpbusd_epi32(s2, av, _mm512_maskz_loadu_epi8(tail, b[2] + K64));
                s3 = _mm512_dpbusd_epi32(s3, av, _mm512_maskz_loadu_epi8(tail, b[3] + K64));
            }
            const int32_t t[4] = {_mm512_reduce_add_epi32(s0), _mm512_reduce_add_epi32(s1),
                                  _mm512_reduce_add_epi32(s2), _mm512_reduce_add_epi32(s3)};
            for (int q = 0; q < nb; q++) c[n + q] = j->acc ? c[n + q] + t[q] : t[q];
        }
    }
}

void es_qgemm_nt_vnni(es_pool *pool, int32_t *C, int ldc, const uint8_t *A, int lda,
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

/* ---- panel-packed (kern.h es_qgemm_packed_fn) ---------------------------- */

/* 4 column sums from one accumulator: lane c (128 bits) holds column c. */
static inline __m128i vq_sum4(__m512i v) {
    __m128i l0 = _mm512_extracti32x4_epi32(v, 0), l1 = _mm512_extracti32x4_epi32(v, 1);
    __m128i l2 = _mm512_extracti32x4_epi32(v, 2), l3 = _mm512_extracti32x4_epi32(v, 3);
    return _mm_hadd_epi32(_mm_hadd_epi32(l0, l1), _mm_hadd_epi32(l2, l3));
}

static inline void vq_put(int32_t *c, __m128i v, int nc, int acc) {
    int32_t t[4];
    _mm_storeu_si128((__m128i *)(void *)t, v);
    for (int n = 0; n < nc; n++) c[n] = acc ? c[n] + t[n] : t[n];
}

/* A's 16 bytes at k (or the zero-padded tail), in all four lanes */
static inline __m512i vq_bcast(const uint8_t *a) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)a));
}

/* R rows (1..4) of A (row r at a[r], tail copy t[r]) × panels [p0, p1). */
static inline __attribute__((always_inline)) void vq_rows(int32_t *C, int ldc, const uint8_t *const *a,
                                                          const uint8_t (*t)[16], const int8_t *P,
                                                          size_t pstride, const int R, int p0,
                                                          int p1, int N, int K, int acc) {
    const int nblk = (K + 15) / 16, full = K / 16; /* block `full` (if < nblk) is the tail */
    for (int p = p0; p < p1; p += 2) {
        const int two = p + 1 < p1;
        const int8_t *b0 = P + (size_t)p * pstride, *b1 = two ? b0 + pstride : b0;
        __m512i s[4][2][2];
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 2; q++) s[r][q][0] = s[r][q][1] = _mm512_setzero_si512();
        int b = 0;
        for (; b + 2 <= full; b += 2) {
            const __m512i w00 = _mm512_loadu_si512((const void *)(b0 + (size_t)b * 64));
            const __m512i w01 = _mm512_loadu_si512((const void *)(b0 + (size_t)b * 64 + 64));
            const __m512i w10 = _mm512_loadu_si512((const void *)(b1 + (size_t)b * 64));
            const __m512i w11 = _mm512_loadu_si512((const void *)(b1 + (size_t)b * 64 + 64));
            for (int r = 0; r < R; r++) {
                const __m512i x0 = vq_bcast(a[r] + b * 16), x1 = vq_bcast(a[r] + b * 16 + 16);
                s[r][0][0] = _mm512_dpbusd_epi32(s[r][0][0], x0, w00);
                s[r][0][1] = _mm512_dpbusd_epi32(s[r][0][1], x1, w01);
                s[r][1][0] = _mm512_dpbusd_epi32(s[r][1][0], x0, w10);
                s[r][1][1] = _mm512_dpbusd_epi32(s[r][1][1], x1, w11);
            }
        }
        for (; b < nblk; b++) { /* one last full block and / or the tail */
            const __m512i w0 = _mm512_loadu_si512((const void *)(b0 + (size_t)b * 64));
            const __m512i w1 = _mm512_loadu_si512((const void *)(b1 + (size_t)b * 64));
            for (int r = 0; r < R; r++) {
                const __m512i x = vq_bcast(b < full ? a[r] + b * 16 : t[r]);
                s[r][0][0] = _mm512_dpbusd_epi32(s[r][0][0], x, w0);
                s[r][1][0] = _mm512_dpbusd_epi32(s[r][1][0], x, w1);
            }
        }
        for (int r = 0; r < R; r++) {
            int32_t *c = C + (size_t)r * (size_t)ldc + 4 * p;
            vq_put(c, vq_sum4(_mm512_add_epi32(s[r][0][0], s[r][0][1])), ES_MIN(4, N - 4 * p), acc);
            if (two)
                vq_put(c + 4, vq_sum4(_mm512_add_epi32(s[r][1][0], s[r][1][1])), ES_MIN(4, N - 4 * p - 4),
                       acc);
        }
    }
}

void es_qgemm_packed_vnni(int32_t *C, int ldc, const uint8_t *A, int lda, const int8_t *P,
                          size_t pstride, int M, int N, int K, int acc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int i = 0; i < M && !acc; i++) memset(C + (size_t)i * (size_t)ldc, 0, (size_t)N * sizeof(int32_t));
        return;
    }
    const int K16 = K & ~15, tail = K - K16, np = (N + 3) / 4;
    uint8_t t[4][16];
    memset(t, 0, sizeof t);
    for (int i = 0; i < M; i += 4) {
        const int R = ES_MIN(4, M - i);
        const uint8_t *a[4];
        for (int r = 0; r < 4; r++) {
            a[r] = A + (size_t)(i + (r < R ? r : 0)) * (size_t)lda;
            if (tail && r < R) memcpy(t[r], a[r] + K16, (size_t)tail);
        }
        int32_t *c = C + (size_t)i * (size_t)ldc;
        switch (R) {
        case 1: vq_rows(c, ldc, a, (const uint8_t(*)[16])t, P, pstride, 1, 0, np, N, K, acc); break;
        case 2: vq_rows(c, ldc, a, (const uint8_t(*)[16])t, P, pstride, 2, 0, np, N, K, acc); break;
        case 3: vq_rows(c, ldc, a, (const uint8_t(*)[16])t, P, pstride, 3, 0, np, N, K, acc); break;
        default: vq_rows(c, ldc, a, (const uint8_t(*)[16])t, P, pstride, 4, 0, np, N, K, acc); break;
        }
    }
}
