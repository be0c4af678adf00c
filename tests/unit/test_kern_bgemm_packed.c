/*
 * test_kern_bgemm_packed.c — panel-packed bf16 weights (kern.h
 * es_bpack_nt / es_bgemm_packed_fn): for the reference table and every
 * usable SIMD table, the product through the panels must give EXACTLY the
 * bits of the same table's bgemm_nt on the row-major weights (ragged M, N,
 * K around the 2-row / 4-column / 8-k blocks, ldb > K, acc = 0/1, a
 * column block that starts at a later panel), columns past N untouched;
 * rows from a multiple of 4 packed by a second call land at
 * es_bpack_elems(n0, K).
 */
#include "kern/kern.h"

#include "test.h"

#include <stdint.h>

static uint64_t g_state = 0x6a09e667f3bcc909ull;
static uint32_t rnd32(void) { return test_rnd32(&g_state); }
static float frand(void) { return (float)((int)(rnd32() >> 8) - (1 << 23)) / (float)(1 << 23); }

int main(void) {
    const char *isas[] = {"ref", "avx2", "avx512"};
    const int Ms[] = {1, 2, 3, 5};
    const int Ns[] = {1, 3, 4, 5, 8, 67};
    const int Ks[] = {1, 7, 8, 9, 33, 100};
    enum { NMAX = 67, KMAX = 100, LDB = KMAX + 5, MMAX = 5, LDA = KMAX + 3, LDC = NMAX + 2 };
    uint16_t *B = malloc(sizeof(uint16_t) * NMAX * LDB);
    uint16_t *P = malloc(sizeof(uint16_t) * es_bpack_elems(NMAX, KMAX));
    uint16_t *Q = malloc(sizeof(uint16_t) * es_bpack_elems(NMAX, KMAX));
    float *A = malloc(sizeof(float) * MMAX * LDA);
    float *C = malloc(sizeof(float) * MMAX * LDC), *C0 = malloc(sizeof(float) * MMAX * LDC);
    float *R = malloc(sizeof(float) * MMAX * LDC);
    REQUIRE(B && P && Q && A && C && C0 && R, "out of memory");
    for (int i = 0; i < NMAX * LDB; i++) {
        float f = frand();
        uint32_t u;
        memcpy(&u, &f, 4);
        B[i] = (uint16_t)(u >> 16);
    }
    for (int i = 0; i < MMAX * LDA; i++) A[i] = frand();
    int cases = 0;
    for (size_t b = 0; b < ES_ARRAY_LEN(Ns); b++)
        for (size_t e = 0; e < ES_ARRAY_LEN(Ks); e++) {
            const int N = Ns[b], K = Ks[e];
            const size_t ps = es_bpack_stride(K);
            es_bpack_nt(P, B, LDB, N, K);
            if (N > 4) {
                const int n0 = (N / 2) & ~3;
                es_bpack_nt(Q, B, LDB, n0, K);
                es_bpack_nt(Q + es_bpack_elems(n0, K), B + (size_t)n0 * LDB, LDB, N - n0, K);
                CHECK(memcmp(P, Q, sizeof(uint16_t) * es_bpack_elems(N, K)) == 0,
                      "N %d K %d: split packing differs", N, K);
            }
            for (int s = 0; s < 3; s++) {
                const es_kern_table *t = es_kern_get(isas[s]);
                if (!t) continue;
                REQUIRE(t->bgemm_packed != NULL, "%s: no bgemm_packed", isas[s]);
                int bad = 0;
                for (size_t a = 0; a < ES_ARRAY_LEN(Ms); a++)
                    for (int v = 0; v < 3; v++) {
                        /* v 0: whole matrix; 1: columns from 4 on; 2: v 1 with acc */
                        const int M = Ms[a], n0 = v ? 4 : 0, nc = N - n0, acc = v == 2;
                        if (nc <= 0) continue;
                        for (int i = 0; i < MMAX * LDC; i++) C0[i] = frand();
                        memcpy(C, C0, sizeof(float) * MMAX * LDC);
                        memcpy(R, C0, sizeof(float) * MMAX * LDC);
                        t->bgemm_packed(C, LDC, A, LDA, P + (size_t)(n0 / 4) * ps, ps, M, nc, K, acc);
                        t->bgemm_nt(R, LDC, A, LDA, B + (size_t)n0 * LDB, LDB, M, nc, K, acc);
                        if (memcmp(C, R, sizeof(float) * MMAX * LDC) != 0) bad++;
                        cases++;
                    }
                CHECK(bad == 0, "%s N %d K %d: %d cases differ from bgemm_nt bits", isas[s], N, K, bad);
            }
        }
    printf("%d cases, every usable ISA bit-identical to its bgemm_nt\n", cases);
    free(B);
    free(P);
    free(Q);
    free(A);
    free(C);
    free(C0);
    free(R);
    TEST_MAIN_END();
}
