/*
 * test_kern_quant_row.c — activation row quantization (kern.h
 * es_quant_row_fn): every usable variant must return the reference's
 * scale and codes EXACTLY (same bytes) on random rows of many lengths
 * (vector tails), unaligned pointers, exact .5 ties after scaling, rows
 * with NaN entries (ignored by the max, code 0), zero rows (codes 128,
 * scale 0) and infinite entries (codes 128, NaN scale); and the reference
 * against the scheme's definition on finite rows.
 */
#include "kern/kern.h"

#include "test.h"

#include <math.h>
#include <stdint.h>

static uint64_t g_rng = 0xb7e151628aed2a6bull;
static float frand(void) { return test_frand(&g_rng); }

int main(void) {
    enum { KMAX = 2100 };
    float *xb = malloc(sizeof(float) * (KMAX + 1));
    uint8_t *c0 = malloc(KMAX + 1), *c1 = malloc(KMAX + 1);
    REQUIRE(xb && c0 && c1, "malloc");
    const int Ks[] = {1, 7, 8, 31, 32, 33, 63, 100, 512, 2048, 2100};
    const char *isas[] = {"avx2", "avx512"};
    int cases = 0, def_bad = 0;
    for (size_t ki = 0; ki < ES_ARRAY_LEN(Ks); ki++)
        for (int mode = 0; mode < 6; mode++) {
            const int K = Ks[ki];
            float *x = xb + (mode & 1); /* unaligned half the time */
            const float scale = mode == 2 ? 1e-30f : mode == 3 ? 1e20f : 3.0f;
            for (int k = 0; k < K; k++) x[k] = frand() * scale;
            if (mode == 4) { /* exact ties: (j + 0.5) · max / 127 */
                x[0] = 127.0f;
                for (int k = 1; k < K; k++) x[k] = (float)((k % 254) - 127) + 0.5f;
            }
            if (mode == 5 && K > 2) x[K / 2] = NAN;
            float s0 = es_quant_row_ref(c0, x, K);
            if (mode != 5) { /* the definition, on finite rows */
                float mx = 0.0f;
                for (int k = 0; k < K; k++) mx = fmaxf(mx, fabsf(x[k]));
                for (int k = 0; k < K; k++) {
                    float v = rintf(x[k] * (127.0f / mx));
                    v = fminf(127.0f, fmaxf(-127.0f, v));
                    if (c0[k] != (uint8_t)(int)(v + 128.0f)) def_bad++;
                }
                if (s0 != mx / 127.0f) def_bad++;
            } else if (K > 2) {
                CHECK(c0[K / 2] == 0, "NaN entry: code %d, want 0", c0[K / 2]);
            }
            for (size_t i = 0; i < ES_ARRAY_LEN(isas); i++) {
                const es_kern_table *t = es_kern_get(isas[i]);
                if (!t) continue;
                memset(c1, 0xAA, (size_t)K + 1);
                float s1 = t->quant_row(c1, x, K);
                CHECK(memcmp(&s0, &s1, sizeof s0) == 0 && memcmp(c0, c1, (size_t)K) == 0,
                      "%s K %d mode %d: codes or scale differ from the reference", isas[i], K, mode);
                CHECK(c1[K] == 0xAA, "%s K %d: wrote past K", isas[i], K);
            }
            cases++;
        }
    CHECK(def_bad == 0, "reference differs from the definition at %d places", def_bad);
    /* special rows */
    for (size_t i = 0; i < ES_ARRAY_LEN(isas) + 1; i++) {
        const es_kern_table *t = i == 0 ? es_kern_ref() : es_kern_get(isas[i - 1]);
        if (!t) continue;
        for (int k = 0; k < 40; k++) xb[k] = 0.0f;
        CHECK(t->quant_row(c1, xb, 40) == 0.0f && c1[0] == 128 && c1[39] == 128, "%s: zero row", t->isa);
        xb[17] = INFINITY;
        CHECK(isnan(t->quant_row(c1, xb, 40)) && c1[17] == 128, "%s: infinite entry", t->isa);
    }
    printf("%d rows, every usable ISA byte-identical to the reference\n", cases);
    free(xb);
    free(c0);
    free(c1);
    TEST_MAIN_END();
}
