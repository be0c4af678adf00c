/*
 * test_kern_qgemm_vnni.c — the AVX-512 VNNI integer GEMM
 * (src/kern/x86/qgemm_vnni.c) against the scalar reference: ragged M/N/K
 * around the 4-column / 64-k blocks (masked tails), strides, acc, extreme
 * codes (255 × −128 / 127), 1 and 3 threads; results must be EQUAL. On a
 * CPU without AVX-512 VNNI (the development machine) it prints "skipped"
 * and passes: the kernel is compile-checked only there.
 */
#include "core/cpu.h"
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
#if defined(__x86_64__)
    es_cpu_caps c = es_cpu_features();
    if (!(c.avx512f && c.avx512bw && c.avx512vnni)) {
        printf("qgemm_vnni: skipped (no AVX-512 VNNI on this CPU)\n");
        TEST_MAIN_END();
    }
    const int Ms[] = {1, 3, 9};
    const int Ns[] = {1, 3, 4, 5, 67};
    const int Ks[] = {1, 63, 64, 65, 130, 300};
    enum { LD = 320, MMAX = 9, NMAX = 67 };
    uint8_t *A = malloc(MMAX * LD);
    int8_t *B = malloc(NMAX * LD);
    int32_t *C = malloc(sizeof(int32_t) * MMAX * NMAX), *C0 = malloc(sizeof(int32_t) * MMAX * NMAX);
    es_pool *pool = NULL;
    REQUIRE(A && B && C && C0 && es_pool_new(&pool, 3, NULL) == ES_OK, "setup");
    int cases = 0;
    for (int mode = 0; mode < 2; mode++) {
        for (int i = 0; i < MMAX * LD; i++) A[i] = mode ? 255 : (uint8_t)rnd32();
        for (int i = 0; i < NMAX * LD; i++) B[i] = mode ? (int8_t)((i & 1) ? -128 : 127) : (int8_t)rnd32();
        for (size_t a = 0; a < ES_ARRAY_LEN(Ms); a++)
            for (size_t b = 0; b < ES_ARRAY_LEN(Ns); b++)
                for (size_t k = 0; k < ES_ARRAY_LEN(Ks); k++)
                    for (int acc = 0; acc < 2; acc++)
                        for (int th = 0; th < 2; th++) {
                            const int M = Ms[a], N = Ns[b], K = Ks[k];
                            for (int i = 0; i < MMAX * NMAX; i++) C[i] = C0[i] = (int32_t)rnd32() % 1000;
                            es_qgemm_nt_ref(NULL, C0, N, A, LD, B, LD, M, N, K, acc);
                            es_qgemm_nt_vnni(th ? pool : NULL, C, N, A, LD, B, LD, M, N, K, acc);
                            cases++;
                            CHECK(memcmp(C, C0, sizeof(int32_t) * M * N) == 0,
                                  "M=%d N=%d K=%d acc=%d mode=%d", M, N, K, acc, mode);
                        }
    }
    printf("qgemm_vnni: %d cases equal to _ref\n", cases);
    es_pool_free(pool);
    free(A), free(B), free(C), free(C0);
#else
    printf("qgemm_vnni: skipped (not x86-64)\n");
#endif
    TEST_MAIN_END();
}
