/*
 * gemm_ref.c — scalar reference GEMMs (see kern.h for the legend). Simple
 * loops in a fixed summation order (k ascending, float accumulators) so
 * they are the yardstick SIMD kernels are tested against. Work is split
 * over the pool by blocks of output rows; each output element is computed
 * by exactly one task, so results do not depend on the thread count.
 */
#include "kern/kern.h"

#include <string.h>

typedef struct gemm_job {
    float *C;
    const float *A, *B;
    int ldc, lda, ldb, M, N, K, acc;
} gemm_job;

static int n_row_tasks(es_pool *pool, int M, int N, int K) {
    double work = (double)M * N * K;
    if (!pool || work < 65536.0) return 1;
    int t = es_pool_threads(pool) * 4;
    return t < M ? t : M;
}

static void nt_task(void *ctx, int task, int n_tasks) {
    const gemm_job *j = ctx;
    int r0 = (int)((long)j->M * task / n_tasks), r1 = (int)((long)j->M * (task + 1) / n_tasks);
    for (int i = r0; i < r1; i++) {
        const float *a = j->A + (size_t)i * j->lda;
        float *c = j->C + (size_t)i * j->ldc;
        int n = 0;
        /* 4 columns at once: 4 independent sums (latency hidden), each still
         * in k order from 0, so the same bits as one column at a time */
        for (; n + 4 <= j->N; n += 4) {
            const float *b0 = j->B + (size_t)n * j->ldb, *b1 = b0 + j->ldb;
            const float *b2 = b1 + j->ldb, *b3 = b2 + j->ldb;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (int k = 0; k < j->K; k++) {
                s0 += a[k] * b0[k];
                s1 += a[k] * b1[k];
                s2 += a[k] * b2[k];
                s3 += a[k] * b3[k];
            }
            c[n] = j->acc ? c[n] + s0 : s0;
            c[n + 1] = j->acc ? c[n + 1] + s1 : s1;
            c[n + 2] = j->acc ? c[n + 2] + s2 : s2;
            c[n + 3] = j->acc ? c[n + 3] + s3 : s3;
        }
        for (; n < j->N; n++) {
            const float *b = j->B + (size_t)n * j->ldb;
            float s = 0.0f;
            for (int k = 0; k < j->K; k++) s += a[k] * b[k];
            c[n] = j->acc ? c[n] + s : s;
        }
    }
}

static void nn_task(void *ctx, int task, int n_tasks) {
    const gemm_job *j = ctx;
    int r0 = (int)((long)j->M * task / n_tasks), r1 = (int)((long)j->M * (task + 1) / n_tasks);
    for (int i = r0; i < r1; i++) {
        const float *a = j->A + (size_t)i * j->lda;
        float *c = j->C + (size_t)i * j->ldc;
        if (!j->acc)
            for (int n = 0; n < j->N; n++) c[n] = 0.0f;
        for (int k = 0; k < j->K; k++) {
            const float *b = j->B + (size_t)k * j->ldb;
            float av = a[k];
            for (int n = 0; n < j->N; n++) c[n] += av * b[n];
        }
    }
}

static void tn_task(void *ctx, int task, int n_tasks) {
    const gemm_job *j = ctx;
    int r0 = (int)((long)j->M * task / n_tasks), r1 = (int)((long)j->M * (task + 1) / n_tasks);
    for (int i = r0; i < r1; i++) {
        float *c = j->C + (size_t)i * j->ldc;
        if (!j->acc)
            for (int n = 0; n < j->N; n++) c[n] = 0.0f;
        for (int k = 0; k < j->K; k++) {
            float av = j->A[(size_t)k * j->lda + i];
            const float *b = j->B + (size_t)k * j->ldb;
            for (int n = 0; n < j->N; n++) c[n] += av * b[n];
        }
    }
}

#define GEMM_ENTRY(name, task)                                                                \
    void name(es_pool *pool, float *C, int ldc, const float *A, int lda, const float *B,      \
              int ldb, int M, int N, int K, int acc) {                                        \
        if (M <= 0 || N <= 0) return;                                                         \
        gemm_job j = {C, A, B, ldc, lda, ldb, M, N, K, acc};                                  \
        es_pool_run(pool, n_row_tasks(pool, M, N, K), task, &j);                              \
    }

GEMM_ENTRY(es_gemm_nt_ref, nt_task)
GEMM_ENTRY(es_gemm_nn_ref, nn_task)
GEMM_ENTRY(es_gemm_tn_ref, tn_task)

/* Pre-packed nt operand, reference layout: B (N, K) copied row-major
 * (ld = K); the product is gemm_nt_ref on it, so the same bits. */
size_t es_gemm_pack_floats_ref(int N, int K) {
    return N > 0 && K > 0 ? (size_t)N * (size_t)K : 0;
}

void es_gemm_pack_nt_ref(float *P, const float *B, int ldb, int N, int K) {
    for (int n = 0; n < N; n++)
        memcpy(P + (size_t)n * K, B + (size_t)n * ldb, (size_t)K * sizeof(float));
}

void es_gemm_nt_packed_ref(es_pool *pool, float *C, int ldc, const float *A, int lda,
                           const float *P, int M, int N, int K, int acc) {
    es_gemm_nt_ref(pool, C, ldc, A, lda, P, K, M, N, K, acc);
}

/* Row-interleaved nt operand (decode weights), reference layout: the same
 * row-major copy; the product is gemm_nt_ref on it, so the same bits. */
size_t es_gemm_rows_floats_ref(int N, int K) { return es_gemm_pack_floats_ref(N, K); }

void es_gemm_rows_pack_ref(float *P, const float *B, int ldb, int N, int K) {
    es_gemm_pack_nt_ref(P, B, ldb, N, K);
}

void es_gemm_nt_rows_ref(es_pool *pool, float *C, int ldc, const float *A, int lda,
                         const float *P, int M, int N, int K, int acc) {
    es_gemm_nt_ref(pool, C, ldc, A, lda, P, K, M, N, K, acc);
}
