/*
 * qgemm_ref.c — scalar reference of the integer GEMM (kern.h, es_qgemm_fn):
 *   C(M,N) (+)= A(M,K) · B(N,K)ᵀ,  A uint8 activations, B int8 weights,
 *   C int32.
 * Integer arithmetic is exact and associative, so every variant must give
 * the same bits as this one (tests/unit/test_kern_qgemm.c checks equality,
 * not a tolerance). Work is split over the pool by blocks of output rows.
 */
#include "kern/kern.h"

#include <math.h>
#include <string.h>

typedef struct qgemm_job {
    int32_t *C;
    const uint8_t *A;
    const int8_t *B;
    int ldc, lda, ldb, M, N, K, acc;
} qgemm_job;

static void qnt_task(void *ctx, int task, int n_tasks) {
    const qgemm_job *j = ctx;
    int r0 = (int)((long)j->M * task / n_tasks), r1 = (int)((long)j->M * (task + 1) / n_tasks);
    for (int i = r0; i < r1; i++) {
        const uint8_t *a = j->A + (size_t)i * (size_t)j->lda;
        int32_t *c = j->C + (size_t)i * (size_t)j->ldc;
        for (int n = 0; n < j->N; n++) {
            const int8_t *b = j->B + (size_t)n * (size_t)j->ldb;
            int32_t s = 0;
            for (int k = 0; k < j->K; k++) s += (int32_t)a[k] * (int32_t)b[k];
            c[n] = j->acc ? c[n] + s : s;
        }
    }
}

void es_qgemm_nt_ref(es_pool *pool, int32_t *C, int ldc, const uint8_t *A, int lda,
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

/* ---- panel-packed int8 weights (kern.h es_qgemm_packed_fn) ------------- */

size_t es_qpack_stride(int K) { return (size_t)((K + 15) / 16) * 64; }

size_t es_qpack_bytes(int N, int K) { return (size_t)((N + 3) / 4) * es_qpack_stride(K); }

void es_qpack_nt(int8_t *P, const int8_t *B, int ldb, int N, int K) {
    const size_t ps = es_qpack_stride(K);
    memset(P, 0, es_qpack_bytes(N, K));
    for (int n = 0; n < N; n++) {
        int8_t *dst = P + (size_t)(n / 4) * ps + (size_t)(n % 4) * 16;
        const int8_t *src = B + (size_t)n * (size_t)ldb;
        for (int k0 = 0; k0 < K; k0 += 16)
            memcpy(dst + (size_t)(k0 / 16) * 64, src + k0, (size_t)ES_MIN(16, K - k0));
    }
}

int8_t es_qpack_at(const int8_t *P, size_t pstride, int n, int k) {
    return P[(size_t)(n / 4) * pstride + (size_t)(k / 16) * 64 + (size_t)(n % 4) * 16 +
             (size_t)(k % 16)];
}

void es_qgemm_packed_ref(int32_t *C, int ldc, const uint8_t *A, int lda, const int8_t *P,
                         size_t pstride, int M, int N, int K, int acc) {
    for (int i = 0; i < M; i++) {
        const uint8_t *a = A + (size_t)i * (size_t)lda;
        int32_t *c = C + (size_t)i * (size_t)ldc;
        for (int n = 0; n < N; n++) {
            int32_t s = 0;
            for (int k = 0; k < K; k++) s += (int32_t)a[k] * (int32_t)es_qpack_at(P, pstride, n, k);
            c[n] = acc ? c[n] + s : s;
        }
    }
}

/* ---- activation row quantization (kern.h es_quant_row_fn) -------------- */

float es_quant_row_ref(uint8_t *codes, const float *x, int K) {
    float mx = 0.0f;
    for (int k = 0; k < K; k++) {
        float a = fabsf(x[k]);
        mx = a > mx ? a : mx; /* NaN is ignored by the max; its code below is 0 */
    }
    if (!(mx > 0.0f) || !isfinite(mx)) {
        /* all zero (or non-finite input): codes 0, scale 0 or NaN marks it */
        for (int k = 0; k < K; k++) codes[k] = 128;
        return mx > 0.0f ? NAN : 0.0f;
    }
    /* Multiplying by 127/max instead of dividing by s_a: one rounding of the
     * inverse, at most one code off at exact .5 ties — the scheme is defined
     * by this code. */
    const float inv = 127.0f / mx;
    for (int k = 0; k < K; k++) codes[k] = es_quant_code(x[k], inv);
    return mx / 127.0f;
}
