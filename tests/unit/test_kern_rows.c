/* Row-interleaved nt GEMM (kern.h es_gemm_rows_fn): for the reference
 * table and every usable SIMD table, C = A·Bᵀ through gemm_rows_pack +
 * gemm_nt_rows
 *  - bit-identical to the same table's gemm_nt for M <= 8 (the decode
 *    path: packing must not change a single generated token);
 *  - for M > 8 (rows of A in groups of 4), within the docs/kernels.md
 *    bound of an exact double sum: |err| <= (K+2)·u·(Σ|a·b| + |C0|);
 *  - packing rows n0.. (n0 % 8 == 0) by a second call at
 *    P + gemm_rows_floats(n0, K) gives the same layout;
 *  - bit-identical for 1, 2 and 3 threads; acc = 0 (C starts as NaN, never
 *    read) and acc = 1; ldb > K, ldc > N with sentinels that must survive.
 * Shapes: N across the 8-row panel tails, K across the vector-width tails. */
#include "test.h"

#include "core/common.h"
#include "kern/kern.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

static uint64_t g_rng = 0x853c49e6748fea9bull;
static float frand(void) { return test_frand(&g_rng); }

#define SENT 12345.0f

static int run_case(const es_kern_table *t, es_pool *p2, es_pool *p3, int M, int N, int K,
                    int acc) {
    const int lda = K + 3, ldb = K + 5, ldc = N + 2;
    float *A = malloc(sizeof(float) * (size_t)M * lda);
    float *B = malloc(sizeof(float) * (size_t)N * ldb);
    float *P = malloc(sizeof(float) * (t->gemm_rows_floats(N, K) + 1));
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc);
    float *C[4];
    for (int i = 0; i < 4; i++) C[i] = malloc(sizeof(float) * (size_t)M * ldc);
    REQUIRE(A && B && P && C0 && C[0] && C[1] && C[2] && C[3], "malloc");
    for (int i = 0; i < M * lda; i++) A[i] = frand();
    for (int i = 0; i < N * ldb; i++) B[i] = frand();
    for (int i = 0; i < M * ldc; i++) C0[i] = (i % ldc) >= N ? SENT : (acc ? frand() : NAN);
    t->gemm_rows_pack(P, B, ldb, N, K);
    int bad = 0;
    if (N > 8) { /* rows from a multiple of 8 packed by a second call: same layout */
        const size_t nf = t->gemm_rows_floats(N, K);
        float *Q = malloc(sizeof(float) * (nf + 1));
        REQUIRE(Q, "malloc");
        const int n0 = (N / 2) & ~7;
        t->gemm_rows_pack(Q, B, ldb, n0, K);
        t->gemm_rows_pack(Q + t->gemm_rows_floats(n0, K), B + (size_t)n0 * ldb, ldb, N - n0, K);
        if (memcmp(P, Q, sizeof(float) * nf) != 0) {
            printf("  %s N %d K %d: packing in two calls differs\n", t->isa, N, K);
            bad++;
        }
        free(Q);
    }
    es_pool *pools[3] = {NULL, p2, p3};
    for (int v = 0; v < 3; v++) {
        memcpy(C[v], C0, sizeof(float) * (size_t)M * ldc);
        t->gemm_nt_rows(pools[v], C[v], ldc, A, lda, P, M, N, K, acc);
    }
    memcpy(C[3], C0, sizeof(float) * (size_t)M * ldc);
    t->gemm_nt(NULL, C[3], ldc, A, lda, B, ldb, M, N, K, acc);
    for (int v = 1; v < 3; v++)
        if (memcmp(C[0], C[v], sizeof(float) * (size_t)M * ldc) != 0) {
            printf("  %s M %d N %d K %d acc %d: threads variant %d differs\n", t->isa, M, N, K,
                   acc, v);
            bad++;
        }
    if (M <= 8 && memcmp(C[0], C[3], sizeof(float) * (size_t)M * ldc) != 0) {
        printf("  %s M %d N %d K %d acc %d: != gemm_nt bits\n", t->isa, M, N, K, acc);
        bad++;
    }
    for (int i = 0; i < M; i++)
        for (int n = 0; n < ldc; n++) {
            float got = C[0][i * ldc + n];
            if (n >= N) {
                if (got != SENT) bad++;
                continue;
            }
            double s = acc ? C0[i * ldc + n] : 0.0, mag = acc ? fabs(C0[i * ldc + n]) : 0.0;
            for (int k = 0; k < K; k++) {
                double p = (double)A[i * lda + k] * B[n * ldb + k];
                s += p;
                mag += fabs(p);
            }
            if (fabs(got - s) > (K + 2) * (double)FLT_EPSILON / 2 * mag * 1.01 + 1e-30) {
                if (bad < 5) printf("  %s M %d N %d K %d: C[%d,%d] %g vs %g\n", t->isa, M, N, K, i, n, got, s);
                bad++;
            }
        }
    free(A);
    free(B);
    free(P);
    free(C0);
    for (int i = 0; i < 4; i++) free(C[i]);
    return bad;
}

int main(void) {
    es_pool *p2 = NULL, *p3 = NULL;
    REQUIRE(es_pool_new(&p2, 2, NULL) == ES_OK && es_pool_new(&p3, 3, NULL) == ES_OK, "pools");
    const char *isas[] = {"ref", "avx2", "avx512", "avx512-emu"};
    const int Ms[] = {1, 2, 3, 4, 5, 8, 9, 13};
    const int Ns[] = {1, 7, 8, 9, 17, 130, 300};
    const int Ks[] = {1, 7, 8, 9, 31, 100, 513};
    int cases = 0;
    for (int s = 0; s < 4; s++) {
#ifdef KERN_TEST_EMU_AVX512
        const es_kern_table *t = s < 3 ? es_kern_get(isas[s]) : test_emu_avx512_table();
#else
        if (s == 3) continue;
        const es_kern_table *t = es_kern_get(isas[s]);
#endif
        if (!t) {
            printf("%s: not usable here, skipped\n", isas[s]);
            continue;
        }
        REQUIRE(t->gemm_nt_rows && t->gemm_rows_pack && t->gemm_rows_floats, "%s: no rows GEMM",
                isas[s]);
        int bad = 0;
        for (size_t a = 0; a < ES_ARRAY_LEN(Ms); a++)
            for (size_t b = 0; b < ES_ARRAY_LEN(Ns); b++)
                for (size_t c = 0; c < ES_ARRAY_LEN(Ks); c++)
                    for (int acc = 0; acc < 2; acc++, cases++)
                        bad += run_case(t, p2, p3, Ms[a], Ns[b], Ks[c], acc);
        CHECK(bad == 0, "%s: %d failures", isas[s], bad);
        printf("%s: rows GEMM == gemm_nt bits (M <= 8), within bound, thread-independent\n", isas[s]);
    }
    printf("%d cases\n", cases);
    es_pool_free(p2);
    es_pool_free(p3);
    TEST_MAIN_END();
}
