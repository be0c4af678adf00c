/*
 * test_kern_qgemm_packed.c — panel-packed int8 weights (kern.h
 * es_qpack_nt / es_qgemm_packed_fn) of every usable ISA against an
 * independent int64 triple loop over the ROW-MAJOR source: ragged M, N, K
 * around the 2-row / 4-column / 16-k blocks, padded B rows (ldb > K),
 * column blocks that start inside the packed matrix (n0 % 4 == 0,
 * k0 % 16 == 0) with a K that ends mid-block (the bytes after it belong to
 * the next columns and must not count), acc = 0/1, extreme codes
 * (255 × −128). Integer results must be EQUAL; columns past N untouched.
 * Also checks es_qpack_at against the source, and that rows from a
 * multiple of 4 packed by a second call land at es_qpack_bytes(n0, K).
 */
#include "kern/kern.h"

#include "test.h"

#include <stdint.h>

static uint64_t g_state = 0x2545f4914f6cdd1dull;
static uint32_t rnd32(void) { return test_rnd32(&g_state); }

int main(void) {
    const char *isas[] = {"ref", "avx2", "avx512", "avx512vnni"};
    const int Ms[] = {1, 2, 3, 5};
    const int Ns[] = {1, 3, 4, 5, 8, 67};
    const int Ks[] = {1, 15, 16, 17, 33, 100};
    enum { NMAX = 67, KMAX = 100, LDB = KMAX + 7, MMAX = 5, LDA = KMAX + 3, LDC = NMAX + 2 };
    int8_t *B = malloc((size_t)NMAX * LDB);
    int8_t *P = malloc(es_qpack_bytes(NMAX, KMAX));
    uint8_t *A = malloc((size_t)MMAX * LDA);
    int32_t *C = malloc((size_t)MMAX * LDC * sizeof(int32_t));
    int32_t *C0 = malloc((size_t)MMAX * LDC * sizeof(int32_t));
    REQUIRE(B && P && A && C && C0, "out of memory");
    int n_cases = 0, bad_at = 0;
    for (int mode = 0; mode < 2; mode++) {
        for (int i = 0; i < NMAX * LDB; i++)
            B[i] = mode ? (int8_t)((i & 1) ? -128 : 127) : (int8_t)rnd32();
        for (int i = 0; i < MMAX * LDA; i++) A[i] = mode ? 255 : (uint8_t)rnd32();
        for (size_t b = 0; b < ES_ARRAY_LEN(Ns); b++)
            for (size_t e = 0; e < ES_ARRAY_LEN(Ks); e++) {
                const int N = Ns[b], K = Ks[e];
                const size_t ps = es_qpack_stride(K);
                es_qpack_nt(P, B, LDB, N, K);
                if (N > 4) { /* rows from a multiple of 4 packed separately: same bytes */
                    int8_t *Q = malloc(es_qpack_bytes(N, K));
                    REQUIRE(Q, "malloc");
                    const int n0 = (N / 2) & ~3;
                    es_qpack_nt(Q, B, LDB, n0, K);
                    es_qpack_nt(Q + es_qpack_bytes(n0, K), B + (size_t)n0 * LDB, LDB, N - n0, K);
                    CHECK(memcmp(P, Q, es_qpack_bytes(N, K)) == 0, "N %d K %d: split packing differs", N, K);
                    free(Q);
                }
                for (int n = 0; n < N; n++)
                    for (int k = 0; k < K; k++)
                        if (es_qpack_at(P, ps, n, k) != B[(size_t)n * LDB + k]) bad_at++;
                for (int s = 0; s < (int)ES_ARRAY_LEN(isas); s++) {
                    const es_kern_table *t = es_kern_get(isas[s]);
                    if (!t) continue;
                    REQUIRE(t->qgemm_packed != NULL, "%s: no qgemm_packed", isas[s]);
                    int bad = 0;
                    for (size_t a = 0; a < ES_ARRAY_LEN(Ms); a++)
                        for (int v = 0; v < 3; v++) {
                            /* v 0: whole matrix; 1: a column block from (n0, k0) = (4, 16)
                             * with kc ending mid-block; 2: v 1 with acc = 1 */
                            const int M = Ms[a];
                            int n0 = 0, k0 = 0, nc = N, kc = K;
                            if (v > 0) {
                                if (N <= 4 || K <= 16) continue;
                                n0 = 4, k0 = 16, nc = N - 4, kc = ES_MAX(1, (K - 16) / 2 + 1);
                            }
                            const int acc = v == 2;
                            for (int i = 0; i < MMAX * LDC; i++)
                                C[i] = C0[i] = (int32_t)(rnd32() >> 8);
                            t->qgemm_packed(C, LDC, A, LDA, P + (size_t)(n0 / 4) * ps + (size_t)(k0 / 16) * 64,
                                            ps, M, nc, kc, acc);
                            for (int i = 0; i < M; i++) {
                                for (int n = 0; n < nc; n++) {
                                    int64_t sum = acc ? C0[i * LDC + n] : 0;
                                    for (int k = 0; k < kc; k++)
                                        sum += (int64_t)A[(size_t)i * LDA + k] *
                                               (int64_t)B[(size_t)(n0 + n) * LDB + k0 + k];
                                    if ((int64_t)C[i * LDC + n] != sum) bad++;
                                }
                                for (int n = nc; n < LDC; n++)
                                    if (C[i * LDC + n] != C0[i * LDC + n]) bad++;
                            }
                            for (int i = M; i < MMAX; i++)
                                for (int n = 0; n < LDC; n++)
                                    if (C[i * LDC + n] != C0[i * LDC + n]) bad++;
                            n_cases++;
                        }
                    CHECK(bad == 0, "%s mode %d N %d K %d: %d wrong int32 outputs", isas[s], mode, N,
                          K, bad);
                }
            }
    }
    CHECK(bad_at == 0, "es_qpack_at differs from the source at %d places", bad_at);
    printf("%d cases, every usable ISA equal to the int64 reference\n", n_cases);
    free(B);
    free(P);
    free(A);
    free(C);
    free(C0);
    TEST_MAIN_END();
}
