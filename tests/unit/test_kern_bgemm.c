/*
 * test_kern_bgemm.c — the bf16-weight GEMM (kern.h es_bgemm_fn) of every
 * usable ISA against an independent double-precision loop over the exact
 * bf16 values: ragged M/N/K around the 2-row × 4-column × 8-k blocks,
 * strides > row length, acc = 0/1. Bound per element: |c − exact| ≤
 * 2·K·2^-24·Σ|a·b| + 1e-30 (fp32 accumulation in any order, with or
 * without FMA). The _ref kernel is also checked to be the plain k-order
 * fp32 sum bit for bit.
 */
#include "kern/kern.h"

#include "test.h"

#include <stdint.h>

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static float rndf(void) {
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (float)((double)(g_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

int main(void) {
    const char *isas[] = {"ref", "avx2", "avx512"};
    const int Ms[] = {1, 2, 3, 5};
    const int Ns[] = {1, 3, 4, 7, 33};
    const int Ks[] = {1, 7, 8, 9, 64, 131};
    enum { LDA = 140, LDB = 136, LDC = 40, MMAX = 5, NMAX = 33 };
    float *A = malloc(sizeof(float) * MMAX * LDA);
    uint16_t *B = malloc(sizeof(uint16_t) * NMAX * LDB);
    float *C = malloc(sizeof(float) * MMAX * LDC), *C0 = malloc(sizeof(float) * MMAX * LDC);
    REQUIRE(A && B && C && C0, "out of memory");
    for (int i = 0; i < MMAX * LDA; i++) A[i] = rndf() * 3.0f;
    for (int i = 0; i < NMAX * LDB; i++) B[i] = es_f32_to_bf16(rndf());
    for (int i = 0; i < MMAX * LDC; i++) C0[i] = rndf();
    int n_cases = 0, n_isa = 0;
    double worst = 0.0;
    for (size_t is = 0; is < ES_ARRAY_LEN(isas); is++) {
        const es_kern_table *kt = es_kern_get(isas[is]);
        if (!kt) {
            printf("%s: skipped (not usable on this CPU)\n", isas[is]);
            continue;
        }
        n_isa++;
        for (size_t a = 0; a < ES_ARRAY_LEN(Ms); a++)
            for (size_t b = 0; b < ES_ARRAY_LEN(Ns); b++)
                for (size_t k = 0; k < ES_ARRAY_LEN(Ks); k++)
                    for (int acc = 0; acc < 2; acc++) {
                        const int M = Ms[a], N = Ns[b], K = Ks[k];
                        memcpy(C, C0, sizeof(float) * MMAX * LDC);
                        kt->bgemm_nt(C, LDC, A, LDA, B, LDB, M, N, K, acc);
                        n_cases++;
                        for (int i = 0; i < M; i++)
                            for (int n = 0; n < N; n++) {
                                double ex = 0.0, mag = 0.0;
                                float plain = 0.0f;
                                for (int q = 0; q < K; q++) {
                                    double p = (double)A[i * LDA + q] * es_bf16_to_f32(B[n * LDB + q]);
                                    ex += p;
                                    mag += fabs(p);
                                    float pf = A[i * LDA + q] * es_bf16_to_f32(B[n * LDB + q]);
                                    plain += pf;
                                }
                                float c0 = C0[i * LDC + n];
                                if (acc) {
                                    ex += c0;
                                    mag += fabs(c0);
                                    plain = c0 + plain;
                                }
                                double got = C[i * LDC + n], err = fabs(got - ex);
                                double tol = 2.0 * (K + 1) * 5.960464477539063e-8 * mag + 1e-30;
                                if (err / (mag + 1e-30) > worst) worst = err / (mag + 1e-30);
                                CHECK(err <= tol, "%s M=%d N=%d K=%d acc=%d (%d,%d): %.9g vs %.9g",
                                      isas[is], M, N, K, acc, i, n, got, ex);
                                if (is == 0)
                                    CHECK(got == plain, "ref not the k-order sum at (%d,%d)", i, n);
                            }
                        /* untouched outside the (M, N) block */
                        for (int i = 0; i < MMAX; i++)
                            for (int n = 0; n < LDC; n++)
                                if (i >= M || n >= N)
                                    CHECK(C[i * LDC + n] == C0[i * LDC + n], "%s wrote outside",
                                          isas[is]);
                    }
    }
    printf("bgemm: %d ISAs, %d cases, worst |err|/sum|a*b| = %.3g\n", n_isa, n_cases, worst);
    free(A);
    free(B);
    free(C);
    free(C0);
    TEST_MAIN_END();
}
