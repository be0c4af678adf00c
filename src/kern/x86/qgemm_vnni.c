/*
 * qgemm_vnni.c — AVX-512 VNNI integer GEMM, same contract and bits as
 * qgemm_ref.c (kern.h es_qgemm_fn: C(M,N) (+)= A(M,K)·B(N,K)ᵀ, A uint8,
 * B int8, C int32).
 *
 * vpdpbusd adds four u8·s8 products into each int32 lane WITHOUT
 * intermediate saturation (|sum of 4| <= 4·255·128 = 130,560), unlike the
 * vpmaddubsw pair sums, so it is exact for any codes; integer sums are
 * order-free, so the result equals _ref bit for bit. Blocking: one A row ×
 * 4 B rows, 64 k per iteration, the K tail by masked loads (zeros add 0).
 *
 * Status: compiled on every x86-64 build (-mavx512vnni), NOT in the kernel
 * table yet — the development machine has no AVX-512, so it has never
 * run; tests/unit/test_kern_qgemm_vnni.c checks it against _ref where the
 * CPU supports it and prints "skipped" elsewhere. Wire it into
 * dispatch.c only after that test has passed on a VNNI machine.
 */
#include "kern/kern.h"

#include <immintrin.h>

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
