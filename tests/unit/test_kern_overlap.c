/*
 * test_kern_overlap.c — the GEMMs of every usable ISA with overlapping,
 * read-only operand rows (kern.h: lda < K for nt/nn, ldb < N for tn), the
 * sliding-window form es_conv1d_forward/backward relies on: against a
 * double-precision product, on small-M and blocked paths, ragged sizes.
 */
#include "kern/kern.h"

#include "test.h"

#include <float.h>
#include <stdint.h>

static uint64_t g_state = 0x2545f4914f6cdd1dull;
static float rnd(void) {
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (float)((g_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* |c − Σ a·b| <= 2 K u Σ|a·b| (u = 2^-24; blocked/FMA sums stay well inside) */
static int close_to(float c, double sum, double abs_sum, int K) {
    return fabs((double)c - sum) <= 2.0 * K * ldexp(1.0, -24) * abs_sum + 1e-30;
}

int main(void) {
    const char *isas[] = {"ref", "avx2", "avx512"};
    const int Ms[] = {1, 2, 5, 17, 64, 301};
    const int ins[] = {5, 32};
    const int ks[] = {2, 3};
    const int Ns[] = {3, 96};
    enum { XMAX = 400 * 32 * 3 };
    float *x = malloc(XMAX * sizeof(float)), *w = malloc(96 * 96 * sizeof(float));
    float *c = malloc(400 * 96 * sizeof(float)), *g = malloc(400 * 96 * sizeof(float));
    REQUIRE(x && w && c && g, "out of memory");
    for (int i = 0; i < XMAX; i++) x[i] = rnd();
    for (int i = 0; i < 96 * 96; i++) w[i] = rnd();
    for (int i = 0; i < 400 * 96; i++) g[i] = rnd();
    for (int s = 0; s < 3; s++) {
        const es_kern_table *t = es_kern_get(isas[s]);
        if (!t) {
            printf("%s: not usable here, skipped\n", isas[s]);
            continue;
        }
        int bad_nt = 0, bad_tn = 0, bad_nn = 0;
        for (size_t a = 0; a < 6; a++)
            for (size_t b = 0; b < 2; b++)
                for (size_t e = 0; e < 2; e++)
                    for (size_t f = 0; f < 2; f++) {
                        int M = Ms[a], in = ins[b], k = ks[e], N = Ns[f], K = k * in;
                        const float *A = x + 1; /* unaligned; rows overlap: lda = in < K */
                        /* nt: C (M, N) = window (M, K) · W (N, K)ᵀ */
                        t->gemm_nt(NULL, c, N, A, in, w, K, M, N, K, 0);
                        for (int i = 0; i < M; i++)
                            for (int n = 0; n < N; n++) {
                                double sum = 0, as = 0;
                                for (int q = 0; q < K; q++) {
                                    double p = (double)A[i * in + q] * w[n * K + q];
                                    sum += p;
                                    as += fabs(p);
                                }
                                bad_nt += !close_to(c[i * N + n], sum, as, K);
                            }
                        /* tn: C (N, K) = G (M, N)ᵀ · window (M, K) */
                        t->gemm_tn(NULL, c, K, g, N, A, in, N, K, M, 0);
                        for (int n = 0; n < N; n++)
                            for (int q = 0; q < K; q++) {
                                double sum = 0, as = 0;
                                for (int i = 0; i < M; i++) {
                                    double p = (double)g[i * N + n] * A[i * in + q];
                                    sum += p;
                                    as += fabs(p);
                                }
                                bad_tn += !close_to(c[n * K + q], sum, as, M);
                            }
                        /* nn: C (M, N) = window (M, K) · W (K, N) */
                        t->gemm_nn(NULL, c, N, A, in, w, N, M, N, K, 0);
                        for (int i = 0; i < M; i++)
                            for (int n = 0; n < N; n++) {
                                double sum = 0, as = 0;
                                for (int q = 0; q < K; q++) {
                                    double p = (double)A[i * in + q] * w[q * N + n];
                                    sum += p;
                                    as += fabs(p);
                                }
                                bad_nn += !close_to(c[i * N + n], sum, as, K);
                            }
                    }
        CHECK(bad_nt == 0, "%s gemm_nt: %d wrong elements with overlapping A rows", isas[s], bad_nt);
        CHECK(bad_tn == 0, "%s gemm_tn: %d wrong elements with overlapping B rows", isas[s], bad_tn);
        CHECK(bad_nn == 0, "%s gemm_nn: %d wrong elements with overlapping A rows", isas[s], bad_nn);
    }
    free(x);
    free(w);
    free(c);
    free(g);
    TEST_MAIN_END();
}
