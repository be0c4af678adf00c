/* Pre-packed nt GEMM (kern.h es_gemm_pack_fn): for the reference table and
 * every usable SIMD table, C = A·Bᵀ through gemm_pack_nt + gemm_nt_packed
 *  - against an exact double sum within the bound of docs/kernels.md
 *    (|err| <= (K+2)·u·(Σ|a·b| + |C0|), with 1.01 slack), every element;
 *  - bit-identical to the same table's gemm_nt when M > 8 (one general
 *    path, same operation order) and, for _ref, for every M;
 *  - bit-identical for 1, 2 and 3 threads, and with the packing scratch
 *    unavailable (NULL pool + failing allocator: the in-place fallback);
 *  - acc = 0 (C starts as NaN, never read) and acc = 1; row strides above
 *    the row length, sentinels past every row of C must survive.
 * Shapes: M in 1..20 and larger, N across panel-width tails, K across
 * K-block (256 / 128) boundaries. */
#include "test.h"

#include "core/common.h"
#include "kern/kern.h"

#include <stdint.h>

static uint64_t g_rng = 88172645463325252ull;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#define SENT 12345.0f

static double g_worst;

/* One case on table t; returns failures. */
static int run_case(const es_kern_table *t, es_pool *p2, es_pool *p3, int M, int N, int K,
                    int acc) {
    const int lda = K + 3, ldb = K + 5, ldc = N + 2;
    float *A = malloc(sizeof(float) * (size_t)M * lda);
    float *B = malloc(sizeof(float) * (size_t)N * ldb);
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc);
    float *C[5];
    for (int i = 0; i < 5; i++) C[i] = malloc(sizeof(float) * (size_t)M * ldc);
    size_t pf = t->gemm_pack_floats(N, K);
    float *P = es_malloc_aligned(sizeof(float) * (pf ? pf : 1));
    REQUIRE(A && B && C0 && P && C[0] && C[1] && C[2] && C[3] && C[4], "malloc");
    for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = frand();
    for (size_t i = 0; i < (size_t)N * ldb; i++) B[i] = frand();
    for (int i = 0; i < M; i++)
        for (int n = 0; n < ldc; n++)
            C0[(size_t)i * ldc + n] = n >= N ? SENT : acc ? frand() : NAN;
    for (int i = 0; i < 5; i++) memcpy(C[i], C0, sizeof(float) * (size_t)M * ldc);
    t->gemm_pack_nt(P, B, ldb, N, K);
    es_pool *pools[3] = {NULL, p2, p3};
    for (int i = 0; i < 3; i++) t->gemm_nt_packed(pools[i], C[i], ldc, A, lda, P, M, N, K, acc);
    es_test_fail_alloc_after(1); /* NULL pool: its own scratch fails -> fallback */
    t->gemm_nt_packed(NULL, C[3], ldc, A, lda, P, M, N, K, acc);
    es_test_fail_alloc_after(0);
    t->gemm_nt(p2, C[4], ldc, A, lda, B, ldb, M, N, K, acc);
    int bad = 0;
    const double u = 1.0 / 16777216.0;
    for (int i = 0; i < M && bad < 5; i++)
        for (int n = 0; n < ldc && bad < 5; n++) {
            const size_t o = (size_t)i * ldc + n;
            if (n >= N) {
                for (int c = 0; c < 5; c++)
                    if (C[c][o] != SENT) {
                        fprintf(stderr, "%s M%d N%d K%d: sentinel (%d,%d) overwritten\n", t->isa,
                                M, N, K, i, n);
                        bad++;
                    }
                continue;
            }
            double ex = acc ? C0[o] : 0.0, mag = acc ? fabs(C0[o]) : 0.0;
            for (int k = 0; k < K; k++) {
                double pr = (double)A[(size_t)i * lda + k] * B[(size_t)n * ldb + k];
                ex += pr;
                mag += fabs(pr);
            }
            const double bound = 1.01 * (K + 2) * u * mag;
            const double e = fabs(C[0][o] - ex);
            if (bound > 0 && e / bound > g_worst) g_worst = e / bound;
            if (!(e <= bound)) {
                fprintf(stderr, "%s M%d N%d K%d acc%d (%d,%d): %g vs %g (bound %g)\n", t->isa,
                        M, N, K, acc, i, n, C[0][o], ex, bound);
                bad++;
            }
            for (int c = 1; c < 4; c++)
                if (memcmp(&C[c][o], &C[0][o], sizeof(float)) != 0) {
                    fprintf(stderr, "%s M%d N%d K%d: variant %d differs at (%d,%d)\n", t->isa, M,
                            N, K, c, i, n);
                    bad++;
                }
            const int same_as_nt = M > 8 || strcmp(t->isa, "ref") == 0;
            if (same_as_nt && memcmp(&C[4][o], &C[0][o], sizeof(float)) != 0) {
                fprintf(stderr, "%s M%d N%d K%d: differs from gemm_nt at (%d,%d)\n", t->isa, M,
                        N, K, i, n);
                bad++;
            }
        }
    free(A);
    free(B);
    free(C0);
    for (int i = 0; i < 5; i++) free(C[i]);
    es_free_aligned(P);
    return bad;
}

int main(void) {
    es_pool *p2, *p3;
    es_error err;
    REQUIRE(es_pool_new(&p2, 2, &err) == ES_OK, "pool");
    REQUIRE(es_pool_new(&p3, 3, &err) == ES_OK, "pool");
    const char *isas[] = {"ref", "avx2", "avx512", "avx512-emu"};
    const int Ms[] = {1, 2, 5, 6, 7, 8, 9, 13, 20, 97, 130};
    const int Ns[] = {1, 7, 16, 17, 33, 100, 1100};
    const int Ks[] = {1, 9, 128, 129, 256, 257, 520};
    for (int v = 0; v < 4; v++) {
#ifdef KERN_TEST_EMU_AVX512
        const es_kern_table *t = v < 3 ? es_kern_get(isas[v]) : test_emu_avx512_table();
#else
        if (v == 3) continue;
        const es_kern_table *t = es_kern_get(isas[v]);
#endif
        if (!t) {
            printf("skipped: %s not usable here\n", isas[v]);
            continue;
        }
        REQUIRE(t->gemm_pack_floats && t->gemm_pack_nt && t->gemm_nt_packed, "%s: table", isas[v]);
        g_worst = 0.0;
        int cases = 0, bad = 0;
        for (size_t mi = 0; mi < ES_ARRAY_LEN(Ms); mi++)
            for (size_t ni = 0; ni < ES_ARRAY_LEN(Ns); ni++) {
                const int M = Ms[mi], N = Ns[ni];
                const int K = Ks[(mi + 3 * ni) % ES_ARRAY_LEN(Ks)];
                if ((double)M * N * K > 3e7) continue;
                bad += run_case(t, p2, p3, M, N, K, (int)((mi + ni) & 1));
                cases++;
            }
        /* every K for two shapes (K-block boundaries, tails) */
        for (size_t ki = 0; ki < ES_ARRAY_LEN(Ks); ki++) {
            bad += run_case(t, p2, p3, 20, 33, Ks[ki], 1);
            bad += run_case(t, p2, p3, 3, 17, Ks[ki], 0);
            cases += 2;
        }
        CHECK(bad == 0, "%s: %d failures in %d cases", isas[v], bad, cases);
        printf("%s: %d cases, worst |err|/bound %.3f\n", isas[v], cases, g_worst);
    }
    /* K = 0 with acc = 0 zeroes C; pack of an empty matrix is 0 floats */
    const es_kern_table *t = es_kern();
    float c[4] = {NAN, NAN, NAN, NAN}, a[1] = {0};
    CHECK(t->gemm_pack_floats(2, 0) == 0 && t->gemm_pack_floats(0, 5) == 0, "empty pack");
    t->gemm_nt_packed(NULL, c, 2, a, 1, a, 2, 2, 0, 0);
    CHECK(c[0] == 0.0f && c[1] == 0.0f && c[2] == 0.0f && c[3] == 0.0f, "K = 0 zeroes C");
    es_pool_free(p2);
    es_pool_free(p3);
    TEST_MAIN_END();
}
