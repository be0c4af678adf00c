/*
 * test_kern_qgemm_vnni.c — the AVX-512 VNNI integer GEMMs
 * (src/kern/x86/qgemm_vnni.c) against the scalar references, results
 * EQUAL: es_qgemm_nt_vnni on ragged M/N/K around the 4-column / 64-k
 * blocks (masked tails), strides, acc, extreme codes (255 × −128 / 127),
 * 1 and 3 threads; es_qgemm_packed_vnni on ragged M (row groups of 4), N
 * (panel pairs), K (16-k blocks, pairs, zero-padded tails), acc, extreme
 * codes, and sub-blocks of a packed matrix (P at a 4-row, 16-column
 * boundary, as the T5 int8 linears call it). On a CPU without AVX-512 VNNI
 * it prints "skipped" and passes. Built with KERN_TEST_EMU_VNNI (ctest
 * unit_test_kern_qgemm_vnni_emu, tests/emu) it links the kernels compiled
 * with scalar stand-ins for their intrinsics and runs everything on any
 * x86-64 CPU.
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
#ifdef KERN_TEST_EMU_VNNI
    c.avx512f = c.avx512bw = c.avx512vnni = 1;
    printf("qgemm_vnni: EMULATED intrinsics (dev/kern/avx512_emu.h)\n");
#endif
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

    /* packed: B (NP, KP) int8 packed once; products over sub-blocks */
    enum { NP = 70, KP = 300, MP = 9 };
    int8_t *Bp = malloc((size_t)NP * KP), *P = malloc(es_qpack_bytes(NP, KP));
    uint8_t *Ap = malloc((size_t)MP * KP);
    int32_t *Cp = malloc(sizeof(int32_t) * MP * NP), *Cp0 = malloc(sizeof(int32_t) * MP * NP);
    REQUIRE(Bp && P && Ap && Cp && Cp0, "setup packed");
    const size_t ps = es_qpack_stride(KP);
    const int pM[] = {1, 2, 3, 4, 5, 8, 9};
    const int pN[] = {1, 3, 4, 5, 8, 9, 12, 66};
    const int pK[] = {1, 15, 16, 17, 31, 32, 33, 47, 48, 64, 100, 283};
    const int pOff[][2] = {{0, 0}, {4, 16}, {8, 272}}; /* (n0, k0) of the sub-block */
    int pcases = 0;
    for (int mode = 0; mode < 2; mode++) {
        for (int i = 0; i < MP * KP; i++) Ap[i] = mode ? 255 : (uint8_t)rnd32();
        for (int i = 0; i < NP * KP; i++) Bp[i] = mode ? (int8_t)((i & 1) ? -128 : 127) : (int8_t)rnd32();
        es_qpack_nt(P, Bp, KP, NP, KP);
        for (size_t o = 0; o < ES_ARRAY_LEN(pOff); o++)
            for (size_t a = 0; a < ES_ARRAY_LEN(pM); a++)
                for (size_t b = 0; b < ES_ARRAY_LEN(pN); b++)
                    for (size_t k = 0; k < ES_ARRAY_LEN(pK); k++)
                        for (int acc = 0; acc < 2; acc++) {
                            const int n0 = pOff[o][0], k0 = pOff[o][1];
                            const int M = pM[a], N = ES_MIN(pN[b], NP - n0), K = ES_MIN(pK[k], KP - k0);
                            const int8_t *Ps = P + (size_t)(n0 / 4) * ps + (size_t)(k0 / 16) * 64;
                            for (int i = 0; i < MP * NP; i++) Cp[i] = Cp0[i] = (int32_t)rnd32() % 1000;
                            es_qgemm_packed_ref(Cp0, NP, Ap + k0, KP, Ps, ps, M, N, K, acc);
                            es_qgemm_packed_vnni(Cp, NP, Ap + k0, KP, Ps, ps, M, N, K, acc);
                            pcases++;
                            CHECK(memcmp(Cp, Cp0, sizeof(int32_t) * MP * NP) == 0,
                                  "packed M=%d N=%d K=%d n0=%d k0=%d acc=%d mode=%d", M, N, K, n0,
                                  k0, acc, mode);
                        }
    }
    printf("qgemm_packed_vnni: %d cases equal to _ref\n", pcases);
    free(Bp), free(P), free(Ap), free(Cp), free(Cp0);
    es_pool_free(pool);
    free(A), free(B), free(C), free(C0);
#else
    printf("qgemm_vnni: skipped (not x86-64)\n");
#endif
    TEST_MAIN_END();
}
