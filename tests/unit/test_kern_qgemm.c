/*
 * test_kern_qgemm.c — the integer GEMM (kern.h es_qgemm_fn) of every
 * usable ISA against an independent int64 triple loop: ragged sizes
 * around the 16-wide / 4-column blocks, unaligned and overlapping operand
 * rows (convolution windows), acc = 0/1, extreme codes (255 × −128, the
 * case vpmaddubsw would saturate), 1 and 3 pool threads. Integer results
 * must be EQUAL, not close.
 */
#include "kern/kern.h"

#include "test.h"

#include <stdint.h>

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd32(void) {
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (uint32_t)(g_state >> 32);
}

int main(void) {
    const char *isas[] = {"ref", "avx2", "avx512", "avx512vnni"};
    const int Ms[] = {1, 3, 8, 33};
    const int Ns[] = {1, 3, 4, 7, 144};
    const int Ks[] = {1, 15, 16, 17, 31, 96, 200};
    enum { AMAX = 40 * 256 + 64, BMAX = 144 * 256 + 64, CMAX = 40 * 160 };
    uint8_t *A = malloc(AMAX);
    int8_t *B = malloc(BMAX);
    int32_t *C = malloc(CMAX * sizeof(int32_t)), *C0 = malloc(CMAX * sizeof(int32_t));
    REQUIRE(A && B && C && C0, "out of memory");
    es_pool *pool = NULL;
    REQUIRE(es_pool_new(&pool, 3, NULL) == ES_OK, "pool");
    int n_cases = 0;
    for (int mode = 0; mode < 2; mode++) {
        /* mode 0: random codes; mode 1: extremes 255 × −128 / 127 */
        for (int i = 0; i < AMAX; i++) A[i] = mode ? 255 : (uint8_t)rnd32();
        for (int i = 0; i < BMAX; i++) B[i] = mode ? (int8_t)((i & 1) ? -128 : 127) : (int8_t)rnd32();
        for (int s = 0; s < (int)ES_ARRAY_LEN(isas); s++) {
            const es_kern_table *t = es_kern_get(isas[s]);
            if (!t) {
                printf("%s: not usable here, skipped\n", isas[s]);
                continue;
            }
            REQUIRE(t->qgemm_nt != NULL, "%s: no qgemm_nt", isas[s]);
            int bad = 0;
            for (size_t a = 0; a < 4; a++)
                for (size_t b = 0; b < 5; b++)
                    for (size_t e = 0; e < 7; e++)
                        for (int variant = 0; variant < 3; variant++) {
                            int M = Ms[a], N = Ns[b], K = Ks[e];
                            /* variant 0: packed rows; 1: unaligned + overlapping A rows
                             * (lda < K, a conv window) and padded B rows; 2: acc = 1, threads */
                            int lda = variant == 1 ? (K + 1) / 2 : K + 3;
                            int ldb = variant == 1 ? K + 5 : K;
                            int ldc = N + (variant == 2 ? 2 : 0);
                            const uint8_t *Ap = A + (variant == 1 ? 1 : 0);
                            const int8_t *Bp = B + (variant == 1 ? 3 : 0);
                            int acc = variant == 2;
                            for (int i = 0; i < M * ldc; i++) C[i] = C0[i] = (int32_t)(rnd32() >> 8);
                            t->qgemm_nt(variant == 2 ? pool : NULL, C, ldc, Ap, lda, Bp, ldb, M, N,
                                        K, acc);
                            for (int i = 0; i < M; i++)
                                for (int n = 0; n < N; n++) {
                                    int64_t sum = 0;
                                    for (int k = 0; k < K; k++)
                                        sum += (int64_t)Ap[(size_t)i * lda + k] *
                                               (int64_t)Bp[(size_t)n * ldb + k];
                                    if (acc) sum += C0[i * ldc + n];
                                    if ((int64_t)C[i * ldc + n] != sum) bad++;
                                }
                            /* columns past N untouched */
                            for (int i = 0; i < M && ldc > N; i++)
                                if (C[i * ldc + N] != C0[i * ldc + N]) bad++;
                            n_cases++;
                        }
            CHECK(bad == 0, "%s mode %d: %d wrong int32 outputs", isas[s], mode, bad);
            printf("%s mode %d: all equal to the int64 reference\n", isas[s], mode);
        }
    }
    /* big K, threads: a 301×144×512 product, work split over 3 threads */
    {
        int M = 33, N = 144, K = 256;
        const es_kern_table *r = es_kern_ref(), *t = es_kern();
        r->qgemm_nt(NULL, C0, N, A, K, B, K, M, N, K, 0);
        t->qgemm_nt(pool, C, N, A, K, B, K, M, N, K, 0);
        CHECK(memcmp(C, C0, (size_t)M * N * sizeof(int32_t)) == 0, "%s (3 threads) != ref", t->isa);
    }
    printf("%d cases\n", n_cases);
    es_pool_free(pool);
    free(A);
    free(B);
    free(C);
    free(C0);
    TEST_MAIN_END();
}
