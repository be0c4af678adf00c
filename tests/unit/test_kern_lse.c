/*
 * test_kern_lse.c — log-sum-exp (kern.h es_lse_fn): every usable variant
 * against the scalar reference (libm, double) within 1e-12 relative on
 * logit-like vectors (lengths 1..40 and the T5 vocabulary 32,128, scales
 * 0.01..100, one dominant entry, entries 800 below the max whose terms
 * underflow, −inf entries) and NaN propagation; the reference itself
 * against a long-double sum.
 */
#include "kern/kern.h"

#include "test.h"

#include <math.h>
#include <stdint.h>

static uint64_t g_rng = 0x243f6a8885a308d3ull;
static double urand(void) {
    test_rnd32(&g_rng);
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

int main(void) {
    const char *isas[] = {"avx2", "avx512"};
    enum { NMAX = 32128 };
    float *x = malloc(sizeof(float) * NMAX);
    REQUIRE(x, "malloc");
    const int lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 33, 40, 1000, NMAX};
    const double scales[] = {0.01, 1.0, 10.0, 100.0};
    double worst = 0.0, worst_ref = 0.0;
    int cases = 0;
    for (size_t li = 0; li < ES_ARRAY_LEN(lens); li++)
        for (size_t si = 0; si < ES_ARRAY_LEN(scales); si++)
            for (int mode = 0; mode < 4; mode++) {
                const int n = lens[li];
                for (int i = 0; i < n; i++) x[i] = (float)((urand() * 2 - 1) * scales[si]);
                if (mode == 1) x[n / 2] += 50.0f;                        /* one dominant logit */
                if (mode == 2) for (int i = 0; i < n; i += 3) x[i] -= 800.0f; /* underflowing terms */
                if (mode == 3 && n > 1) for (int i = 1; i < n; i += 5) x[i] = -INFINITY;
                const double r = es_lse_ref(x, n);
                /* reference vs a long-double evaluation */
                long double mx = x[0], s = 0;
                for (int i = 1; i < n; i++) if (x[i] > mx) mx = x[i];
                for (int i = 0; i < n; i++) s += expl((long double)x[i] - mx);
                double exact = (double)(mx + logl(s));
                double er = fabs(r - exact) / fmax(1.0, fabs(exact));
                worst_ref = fmax(worst_ref, er);
                CHECK(er <= 1e-13, "ref n %d: %.17g vs %.17g", n, r, exact);
                for (size_t k = 0; k < ES_ARRAY_LEN(isas); k++) {
                    const es_kern_table *t = es_kern_get(isas[k]);
                    if (!t) continue;
                    double v = t->lse(x, n), e = fabs(v - r) / fmax(1.0, fabs(r));
                    worst = fmax(worst, e);
                    CHECK(e <= 1e-12, "%s n %d scale %g mode %d: %.17g vs ref %.17g", isas[k], n,
                          scales[si], mode, v, r);
                }
                cases++;
            }
    /* NaN anywhere → NaN */
    for (int i = 0; i < 100; i++) x[i] = (float)i * 0.1f;
    x[37] = NAN;
    for (size_t k = 0; k < ES_ARRAY_LEN(isas); k++) {
        const es_kern_table *t = es_kern_get(isas[k]);
        if (t) CHECK(isnan(t->lse(x, 100)), "%s: NaN input must give NaN", isas[k]);
    }
    CHECK(isnan(es_lse_ref(x, 100)), "ref: NaN input must give NaN");
    printf("%d cases; worst SIMD vs ref %.3g, ref vs long double %.3g (relative)\n", cases, worst,
           worst_ref);
    free(x);
    TEST_MAIN_END();
}
