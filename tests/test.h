/*
 * test.h — minimal test harness: CHECK records a failure and continues;
 * TEST_MAIN_END returns non-zero if anything failed. Fixture paths come
 * from ES_SHARED_DIR (a CMake cache variable, default ../shared).
 */
#ifndef ES_TEST_H
#define ES_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_checks, g_fails;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        g_checks++;                                                           \
        if (!(cond)) {                                                        \
            g_fails++;                                                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

#define REQUIRE(cond, ...)                                                    \
    do {                                                                      \
        int req_ok_ = !!(cond);                                               \
        CHECK(req_ok_, __VA_ARGS__);                                          \
        if (!req_ok_) {                                                       \
            fprintf(stderr, "fatal; %d checks, %d failed\n", g_checks, g_fails); \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#define TEST_MAIN_END()                                                       \
    do {                                                                      \
        printf("%d checks, %d failed\n", g_checks, g_fails);                  \
        return g_fails ? 1 : 0;                                               \
    } while (0)

/* Deterministic test data: xorshift64 on *state (any non-zero seed). */
static inline uint32_t test_rnd32(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)(*state >> 32);
}
/* Uniform in [-1, 1), 53 random bits rounded to float. */
static inline float test_frand(uint64_t *state) {
    test_rnd32(state);
    return (float)((double)(*state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Path under the fixtures directory; static buffer, one at a time. */
#ifdef KERN_TEST_EMU_AVX512
/* The fp32 GEMM entries of gemm_avx512.c built with emulated intrinsics
 * (tests/emu, symbols renamed by tests/CMakeLists.txt), as a kernel table
 * named "avx512-emu"; NULL without AVX2 (the emulated file still uses real
 * AVX2 transposes). */
#include "kern/kern.h"
static inline const es_kern_table *test_emu_avx512_table(void) {
    static es_kern_table t;
    if (!es_kern_get("avx2")) return NULL;
    t.isa = "avx512-emu";
    t.gemm_nt = es_gemm_nt_avx512;
    t.gemm_nn = es_gemm_nn_avx512;
    t.gemm_tn = es_gemm_tn_avx512;
    t.gemm_pack_floats = es_gemm_pack_floats_avx512;
    t.gemm_pack_nt = es_gemm_pack_nt_avx512;
    t.gemm_nt_packed = es_gemm_nt_packed_avx512;
    t.gemm_rows_floats = es_gemm_rows_floats_avx512;
    t.gemm_rows_pack = es_gemm_rows_pack_avx512;
    t.gemm_nt_rows = es_gemm_nt_rows_avx512;
    return &t;
}
#endif

static inline const char *fixture(const char *rel) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/fixtures/%s", ES_SHARED_DIR, rel);
    return buf[k];
}

#endif
