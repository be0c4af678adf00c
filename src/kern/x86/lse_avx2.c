/*
 * lse_avx2.c — AVX2 + FMA log-sum-exp (kern.h es_lse_fn), 4 doubles per
 * vector. Decoding computes one per row and step over the whole vocabulary
 * (32,128 for T5): with libm's scalar exp that was ~4 % of a greedy step
 * and ~10 % of a beam-4 step (perf).
 *
 * exp(d) for d = x_i − max <= 0 in double: n = rint(d·log2 e),
 * r = d − n·ln2 (ln2 split in hi + lo, Cody–Waite; |r| <= ln2/2), e^r by
 * its Taylor series to r^13 (truncation < 2e-16 relative), then · 2^n via
 * the exponent bits. d < −708 gives 0 (2^-1021: such terms cannot move a
 * sum that holds the max's exp(0) = 1); NaN propagates through the
 * polynomial, as libm's. Each term is within ~2 ulp (double) of libm's;
 * the 4-lane sum changes the summation order: the result differs from the
 * reference by ~1e-15 relative (tests/unit/test_kern_lse.c).
 */
#include "kern/kern.h"

#include <immintrin.h>
#include <math.h>

static inline __m256d exp_le0(__m256d d) {
    const __m256d log2e = _mm256_set1_pd(1.4426950408889634074);
    const __m256d ln2hi = _mm256_set1_pd(6.93147180369123816490e-01);
    const __m256d ln2lo = _mm256_set1_pd(1.90821492927058770002e-10);
    __m256d n = _mm256_round_pd(_mm256_mul_pd(d, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(n, ln2hi, d);
    r = _mm256_fnmadd_pd(n, ln2lo, r);
    /* Σ r^k / k!, k = 0..13, Horner */
    static const double c[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                 1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                 1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                 1.0 / 24.0,         1.0 / 6.0,         0.5,
                                 1.0,                1.0};
    __m256d p = _mm256_set1_pd(c[0]);
    for (int k = 1; k < 14; k++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c[k]));
    /* 2^n for n in [-1022, 0]: exponent bits (n + 1023) << 52 */
    const __m256d lo = _mm256_set1_pd(-708.0);
    __m256d keep = _mm256_cmp_pd(d, lo, _CMP_GE_OQ);
    __m256d nc = _mm256_max_pd(n, _mm256_set1_pd(-1022.0));
    __m128i ni = _mm256_cvtpd_epi32(nc);
    __m256i e = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(ni), _mm256_set1_epi64x(1023)), 52);
    __m256d v = _mm256_mul_pd(p, _mm256_castsi256_pd(e));
    /* d >= -708 (or NaN: keep NaN) */
    __m256d isnan = _mm256_cmp_pd(d, d, _CMP_UNORD_Q);
    return _mm256_and_pd(v, _mm256_or_pd(keep, isnan));
}

double es_lse_avx2(const float *x, int n) {
    if (n < 8) return es_lse_ref(x, n);
    /* max: the same value as the reference (max is exact) */
    __m256 m8 = _mm256_loadu_ps(x);
    int i = 8;
    for (; i + 8 <= n; i += 8) m8 = _mm256_max_ps(_mm256_loadu_ps(x + i), m8);
    float t[8];
    _mm256_storeu_ps(t, m8);
    float mx = t[0];
    for (int k = 1; k < 8; k++)
        if (t[k] > mx) mx = t[k];
    for (; i < n; i++)
        if (x[i] > mx) mx = x[i];
    /* NaN inputs: the reference's max ignores NaN after x[0] unless x[0] is
     * NaN; the sum then carries NaN either way. */
    const __m256d mv = _mm256_set1_pd((double)mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d a = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), mv);
        __m256d b = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), mv);
        s0 = _mm256_add_pd(s0, exp_le0(a));
        s1 = _mm256_add_pd(s1, exp_le0(b));
    }
    double u[4];
    _mm256_storeu_pd(u, _mm256_add_pd(s0, s1));
    double sum = (u[0] + u[1]) + (u[2] + u[3]);
    for (; i < n; i++) sum += exp((double)x[i] - (double)mx);
    return (double)mx + log(sum);
}
