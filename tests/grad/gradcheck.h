/*
 * gradcheck.h — central finite differences against an analytic gradient.
 *
 * The forward passes are float (the code under test), the loss is the
 * double sum Σ r_i·y_i with fixed random r (so dy = r), and the step is the
 * difference actually realised in float, (x+ε) − (x−ε). Tolerance
 * argument: with ε = 1e-2·scale and float rounding of ~6e-8 relative per
 * output, the difference quotient carries ≈ √N·6e-8·|y|/2ε ≲ 1e-4 noise for
 * our sizes, and the O(ε²) truncation term is ≲ 1e-4 for these smooth
 * functions; so |analytic − numeric| ≤ 1e-3·max|numeric| + 1e-2·|numeric|
 * leaves a 10× margin while a wrong term (a missing factor, a transposed
 * index) shows up as an O(1) relative error. Inputs are kept away from
 * kinks (ReLU at 0) and masks (zoneout, dropout) are fixed by re-seeding
 * the RNG before every forward.
 */
#ifndef ES_TEST_GRADCHECK_H
#define ES_TEST_GRADCHECK_H

#include "test.h"

#include <math.h>
#include <stddef.h>

typedef double (*gc_loss_fn)(void *ctx);

/* When set, only elements i with gc_valid[i] != 0 are checked (pad rows of
 * a seq.h batch are outside the function's domain: zero by invariant). */
static const unsigned char *gc_valid;

/* Checks g (n) = ∂L/∂x against central differences, on at most max_checks
 * evenly spaced elements. Returns the worst error / allowed ratio. */
static inline double gc_check(const char *what, gc_loss_fn f, void *ctx, float *x, const float *g,
                       size_t n, float eps, size_t max_checks) {
    size_t stride = n > max_checks ? n / max_checks : 1;
    double maxnum = 0.0, worst = 0.0;
    size_t cnt = 0;
    static double numv[65536];
    static size_t idxv[65536];
    for (size_t i = 0; i < n && cnt < 65536; i += stride) {
        if (gc_valid && !gc_valid[i]) continue;
        float x0 = x[i];
        float xp = x0 + eps, xm = x0 - eps;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm);
        numv[cnt] = num;
        idxv[cnt++] = i;
        if (fabs(num) > maxnum) maxnum = fabs(num);
    }
    size_t worst_i = 0;
    double worst_a = 0, worst_n = 0;
    for (size_t k = 0; k < cnt; k++) {
        double a = g[idxv[k]], num = numv[k];
        double allow = 1e-3 * maxnum + 1e-2 * fabs(num) + 1e-7;
        double r = fabs(a - num) / allow;
        if (r > worst) {
            worst = r;
            worst_i = idxv[k];
            worst_a = a;
            worst_n = num;
        }
    }
    CHECK(worst <= 1.0, "%s: element %zu analytic %.6g numeric %.6g (max|num| %.3g)", what,
          worst_i, worst_a, worst_n, maxnum);
    CHECK(maxnum > 0.0 || n == 0, "%s: gradient identically zero (test is vacuous)", what);
    printf("  %-28s n=%-6zu checked=%-5zu max|g|=%.3g worst err/allowed=%.3f\n", what, n, cnt,
           maxnum, worst);
    return worst;
}

/* Deterministic pseudo-random fill in [lo, hi). */
static inline void gc_fill(float *x, size_t n, unsigned *state, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)((*state >> 8) & 0xffffff) / 16777216.0f;
    }
}

static inline double gc_dot(const float *y, const float *r, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * (double)r[i];
    return s;
}

#endif
