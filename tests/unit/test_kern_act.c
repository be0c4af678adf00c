/*
 * test_kern_act.c — element-wise activation kernels (kern.h es_act_fn):
 * every usable variant (ref, avx2, avx512) against the exact function in
 * double precision (libm) within the ulp bounds documented in kern.h, on
 * special values, thresholds and ~100 K values spread over every range;
 * SIMD against the scalar reference; ragged lengths, unaligned pointers,
 * in-place calls and untouched neighbours.
 */
#include "kern/kern.h"

#include "test.h"

#include <float.h>
#include <stdint.h>

#ifdef ES_ACT_TEST_EMU_AVX512
/* unit_test_kern_act_avx512_emu (tests/emu): the AVX-512 variant, built with scalar
 * stand-ins for its intrinsics, tested as if this CPU had AVX-512 */
static const es_kern_table *table_of(const char *isa) {
    static es_kern_table emu;
    if (strcmp(isa, "avx512") != 0) return es_kern_get(isa);
    emu = *es_kern_ref();
    emu.isa = "avx512";
    emu.exp = es_exp_avx512;
    emu.sigmoid = es_sigmoid_avx512;
    emu.tanh = es_tanh_avx512;
    emu.gelu = es_gelu_avx512;
    return &emu;
}
#else
#define table_of es_kern_get
#endif

enum { F_EXP, F_SIGMOID, F_TANH, F_GELU, F_COUNT };
static const char *const k_fn_names[F_COUNT] = {"exp", "sigmoid", "tanh", "gelu"};

static es_act_fn fn_of(const es_kern_table *t, int f) {
    return f == F_EXP ? t->exp : f == F_SIGMOID ? t->sigmoid : f == F_TANH ? t->tanh : t->gelu;
}

static double exact(int f, float xf) {
    double x = xf;
    switch (f) {
    case F_EXP: return exp(x);
    case F_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case F_TANH: return tanh(x);
    default: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    }
}

/* spacing of floats at |v| (the subnormal spacing below FLT_MIN) */
static double ulp_at(double v) {
    v = fabs(v);
    if (v < FLT_MIN) return ldexp(1.0, -149);
    int e;
    frexp(v, &e);
    return ldexp(1.0, e - 24);
}

/* error of y against the exact value of f at x, in the unit of the kern.h
 * bound for that input (ulp of the result; for gelu, of |x|); -1 if y is
 * not the required special result (inf / 0 / NaN). */
static double err_units(int f, float x, float y) {
    if (isnan(x)) return isnan(y) ? 0.0 : -1.0;
    double e = exact(f, x);
    if (isnan(e)) return isnan(y) ? 0.0 : -1.0;
    if (fabs(e) > FLT_MAX) return isinf(y) && (y > 0) == (e > 0) ? 0.0 : -1.0;
    if (isnan(y) || isinf(y)) return -1.0;
    double d = fabs((double)y - e);
    switch (f) {
    case F_EXP:
        if (x < -104.0f) return y == 0.0f ? 0.0 : -1.0;
        if (x < -87.3f) return d <= ldexp(1.0, -149) + 2.0 * ulp_at(e) ? 0.0 : -1.0;
        return d / ulp_at(e);
    case F_SIGMOID:
        if (x < -87.0f) return d < ldexp(1.0, -126) ? 0.0 : -1.0;
        return d / ulp_at(e);
    case F_TANH: return d / ulp_at(e);
    default:
        if (fabs(x) > 1e18f) return d <= 4.0 * ulp_at(x) ? 0.0 : -1.0;
        return d <= 1e-38 ? 0.0 : (d - 1e-38) / ulp_at(x);
    }
}

static const double k_bound[F_COUNT] = {2.0, 3.0, 3.0, 4.0};

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd32(void) {
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (uint32_t)(g_state >> 16);
}
static float rnd_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(rnd32() >> 8) * (1.0f / 16777216.0f);
}

static size_t make_inputs(float *x, size_t cap) {
    static const float special[] = {
        0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 1e-45f, -1e-45f, 1e-39f, -1e-39f, FLT_MIN,
        -FLT_MIN, 1e-20f, -1e-20f, 0.625f, -0.625f, 0.62499994f, -0.62499994f, 0.34657359f,
        -0.34657359f, 9.0f, -9.0f, 15.0f, -15.0f, 44.0f, -44.0f, 87.3f, -87.3f, 87.33f, -87.33f,
        88.72f, 88.7228f, 88.73f, 89.0f, 89.5f, -88.73f, -89.0f, -100.0f, -103.97f, -104.0f,
        -104.5f, -150.0f, 1e10f, -1e10f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY,
        NAN, -NAN};
    size_t n = 0;
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[n++] = special[i];
    /* every float exponent with random mantissas, both signs */
    for (int e = -149; e <= 127 && n + 80 <= cap; e++)
        for (int k = 0; k < 40; k++) {
            float v = ldexpf(1.0f + (float)(rnd32() >> 8) * (1.0f / 16777216.0f), e);
            x[n++] = v;
            x[n++] = -v;
        }
    /* dense uniform ranges, where the results are most varied */
    static const float ranges[][2] = {{-1.0f, 1.0f}, {-10.0f, 10.0f}, {-110.0f, 95.0f},
                                      {-0.7f, 0.7f}, {-3000.0f, 3000.0f}};
    while (n < cap)
        for (size_t r = 0; r < 5 && n < cap; r++) x[n++] = rnd_uniform(ranges[r][0], ranges[r][1]);
    return n;
}

static int same_bits(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

static void check_variant(const es_kern_table *t, const float *x, float *y, const float *yref,
                          size_t n) {
    for (int f = 0; f < F_COUNT; f++) {
        es_act_fn fn = fn_of(t, f);
        REQUIRE(fn != NULL, "%s: %s missing", t->isa, k_fn_names[f]);
        fn(y, x, n);
        double worst = 0.0, worst_vs_ref = 0.0;
        float worst_x = 0.0f;
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            double u = err_units(f, x[i], y[i]);
            if (u < 0.0 || u > k_bound[f]) {
                if (bad++ < 5)
                    CHECK(0, "%s %s(%.9g) = %.9g, exact %.9g (%.2f units, bound %.1f)", t->isa,
                          k_fn_names[f], (double)x[i], (double)y[i], exact(f, x[i]), u,
                          k_bound[f]);
                continue;
            }
            if (u > worst) {
                worst = u;
                worst_x = x[i];
            }
            if (yref) {
                float r = yref[(size_t)f * n + i];
                if (isnan(r) || isinf(r) || isnan(y[i]) || isinf(y[i])) {
                    if (!same_bits(r, y[i]) && bad++ < 5)
                        CHECK(0, "%s %s(%.9g) = %.9g, ref %.9g", t->isa, k_fn_names[f],
                              (double)x[i], (double)y[i], (double)r);
                    continue;
                }
                double ue = f == F_GELU ? ulp_at(x[i]) : ulp_at(exact(f, x[i]));
                double d = fabs((double)y[i] - (double)r) / ue;
                if (f == F_GELU && fabs((double)y[i] - (double)r) <= 1e-38) d = 0.0;
                worst_vs_ref = d > worst_vs_ref ? d : worst_vs_ref;
            }
        }
        CHECK(bad == 0, "%s %s: %d values out of bound", t->isa, k_fn_names[f], bad);
        /* each within the bound of the exact value, so within twice of each other */
        CHECK(worst_vs_ref <= 2.0 * k_bound[f], "%s %s: %.2f units from ref", t->isa, k_fn_names[f],
              worst_vs_ref);
        printf("%-6s %-7s max error %.3f units (at x = %.7g), vs ref %.3f\n", t->isa,
               k_fn_names[f], worst, (double)worst_x, worst_vs_ref);
    }
}

/* exact special results every variant must give */
static void check_specials(const es_kern_table *t) {
    float in[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -200.0f, 200.0f};
    float y[7];
    t->exp(y, in, 7);
    CHECK(y[0] == 1.0f && y[1] == 1.0f && isinf(y[2]) && y[3] == 0.0f && isnan(y[4]) &&
              y[5] == 0.0f && isinf(y[6]),
          "%s exp specials", t->isa);
    t->sigmoid(y, in, 7);
    CHECK(y[0] == 0.5f && y[1] == 0.5f && y[2] == 1.0f && y[3] == 0.0f && isnan(y[4]) &&
              y[5] == 0.0f && y[6] == 1.0f,
          "%s sigmoid specials", t->isa);
    t->tanh(y, in, 7);
    CHECK(y[0] == 0.0f && !signbit(y[0]) && y[1] == 0.0f && signbit(y[1]) && y[2] == 1.0f &&
              y[3] == -1.0f && isnan(y[4]) && y[5] == -1.0f && y[6] == 1.0f,
          "%s tanh specials", t->isa);
    t->gelu(y, in, 7);
    CHECK(y[0] == 0.0f && y[1] == 0.0f && isinf(y[2]) && y[2] > 0 && isnan(y[4]) &&
              y[5] == 0.0f && y[6] == 200.0f,
          "%s gelu specials", t->isa);
}

/* y[i] depends on x[i] only: any n, offset or in-place call gives the bits
 * of the full-array call, and nothing outside y[0..n) is written. */
static void check_ragged(const es_kern_table *t, const float *x, const float *yfull) {
    float xb[96], yb[96];
    for (int f = 0; f < F_COUNT; f++) {
        es_act_fn fn = fn_of(t, f);
        int bad = 0;
        for (int n = 0; n <= 41; n++)
            for (int ox = 0; ox < 8; ox++)
                for (int oy = 0; oy < 8; oy += 3) {
                    size_t src = (size_t)(n * 7 + ox * 3);
                    memcpy(xb + ox, x + src, (size_t)n * sizeof(float));
                    for (int i = 0; i < 96; i++) yb[i] = 12345.0f;
                    fn(yb + 1 + oy, xb + ox, (size_t)n);
                    for (int i = 0; i < 96; i++) {
                        int in = i >= 1 + oy && i < 1 + oy + n;
                        float want = in ? yfull[(size_t)f * 4096 + src + (size_t)(i - 1 - oy)]
                                        : 12345.0f;
                        if (!same_bits(yb[i], want)) bad++;
                    }
                    /* in place */
                    fn(xb + ox, xb + ox, (size_t)n);
                    for (int i = 0; i < n; i++)
                        if (!same_bits(xb[ox + i], yfull[(size_t)f * 4096 + src + (size_t)i])) bad++;
                }
        CHECK(bad == 0, "%s %s: %d ragged/unaligned/in-place mismatches", t->isa, k_fn_names[f],
              bad);
    }
}

int main(void) {
    enum { N = 100000 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *yref = malloc((size_t)F_COUNT * N * sizeof(float));
    float *yfull = malloc((size_t)F_COUNT * 4096 * sizeof(float));
    REQUIRE(x && y && yref && yfull, "out of memory");
    size_t n = make_inputs(x, N);
    const es_kern_table *ref = es_kern_ref();
    for (int f = 0; f < F_COUNT; f++) fn_of(ref, f)(yref + (size_t)f * n, x, n);
    const char *isas[] = {"ref", "avx2", "avx512"};
    int n_tested = 0;
    for (int k = 0; k < 3; k++) {
        const es_kern_table *t = table_of(isas[k]);
        if (!t) {
            printf("%s: not usable on this CPU, skipped\n", isas[k]);
            continue;
        }
        n_tested++;
        check_specials(t);
        check_variant(t, x, y, k ? yref : NULL, n);
        for (int f = 0; f < F_COUNT; f++) fn_of(t, f)(yfull + (size_t)f * 4096, x, 4096);
        check_ragged(t, x, yfull);
    }
    CHECK(es_kern()->exp && es_kern()->sigmoid && es_kern()->tanh && es_kern()->gelu,
          "es_kern() table without activations");
    CHECK(n_tested >= 1, "no variant tested");
    free(x);
    free(y);
    free(yref);
    free(yfull);
    TEST_MAIN_END();
}
