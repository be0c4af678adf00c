/* nn/ops: T5 relative-position buckets (spot values from the HF rules and
 * an independent double-precision evaluation), RMS norm and gelu_new /
 * exact GELU against values computed with PyTorch, softmax,
 * log-sum-exp, argmax tie and NaN rules. */
#include "test.h"

#include "nn/ops.h"

static int32_t bucket_ref(int32_t rel, int bidir, int nb, int md) {
    int32_t b = 0, n;
    if (bidir) {
        nb /= 2;
        if (rel > 0) b += nb;
        n = rel < 0 ? -rel : rel;
    } else {
        n = rel < 0 ? -rel : 0;
    }
    int max_exact = nb / 2;
    if (n < max_exact) return b + n;
    int32_t l = max_exact + (int32_t)(log((double)n / max_exact) / log((double)md / max_exact) *
                                      (nb - max_exact));
    return b + (l < nb - 1 ? l : nb - 1);
}

int main(void) {
    /* buckets, 32 / 128 (T5 default): spot values */
    CHECK(es_t5_rel_bucket(0, true, 32, 128) == 0, "bidir 0");
    CHECK(es_t5_rel_bucket(-1, true, 32, 128) == 1, "bidir -1");
    CHECK(es_t5_rel_bucket(1, true, 32, 128) == 17, "bidir +1");
    CHECK(es_t5_rel_bucket(-7, true, 32, 128) == 7, "bidir -7");
    CHECK(es_t5_rel_bucket(-8, true, 32, 128) == 8, "bidir -8 (log region starts)");
    CHECK(es_t5_rel_bucket(-127, true, 32, 128) == 15, "bidir -127");
    CHECK(es_t5_rel_bucket(-100000, true, 32, 128) == 15, "bidir far left capped");
    CHECK(es_t5_rel_bucket(100000, true, 32, 128) == 31, "bidir far right capped");
    CHECK(es_t5_rel_bucket(5, false, 32, 128) == 0, "causal future -> 0");
    CHECK(es_t5_rel_bucket(-15, false, 32, 128) == 15, "causal -15");
    CHECK(es_t5_rel_bucket(-16, false, 32, 128) == 16, "causal -16");
    CHECK(es_t5_rel_bucket(-34, false, 32, 128) == 21, "causal -34 (fixture: T=35 reaches 21)");
    CHECK(es_t5_rel_bucket(-1000, false, 32, 128) == 31, "causal far capped");
    int bad = 0;
    for (int r = -300; r <= 300; r++) {
        bad += es_t5_rel_bucket(r, true, 32, 128) != bucket_ref(r, 1, 32, 128);
        bad += es_t5_rel_bucket(r, false, 32, 128) != bucket_ref(r, 0, 32, 128);
    }
    CHECK(bad == 0, "buckets vs double formula: %d mismatches", bad);
    /* monotone in |rel| and within range for other sizes */
    int nbs[] = {4, 8, 64}, mds[] = {8, 20, 256};
    for (int c = 0; c < 3; c++) {
        int prev = 0, ok = 1;
        for (int r = 0; r <= 2000; r++) {
            int b = es_t5_rel_bucket(-r, false, nbs[c], mds[c]);
            ok &= b >= prev && b < nbs[c];
            prev = b;
            int bb = es_t5_rel_bucket(r, true, nbs[c], mds[c]);
            ok &= bb >= (r > 0 ? nbs[c] / 2 : 0) && bb < nbs[c];
        }
        CHECK(ok, "bucket range/monotonicity nb=%d md=%d", nbs[c], mds[c]);
    }

    /* RMS norm: torch w * (x * rsqrt(mean(x^2) + 1e-6)) */
    float x[4] = {1, 2, 3, 4}, w[4] = {0.5f, 1, 1.5f, 2}, y[4];
    const float yr[4] = {0.182574183f, 0.730296731f, 1.64316773f, 2.92118692f};
    es_rmsnorm_f32(y, x, w, 1, 4, 1e-6f);
    for (int i = 0; i < 4; i++)
        CHECK(fabsf(y[i] - yr[i]) <= 1e-6f * fabsf(yr[i]), "rmsnorm[%d] %.9g vs %.9g", i, y[i], yr[i]);
    /* no mean subtraction: a constant row is not zeroed */
    float c3[3] = {2, 2, 2}, one[3] = {1, 1, 1}, yc[3];
    es_rmsnorm_f32(yc, c3, one, 1, 3, 0.0f);
    CHECK(fabsf(yc[0] - 1.0f) < 1e-6f, "constant row -> 1, got %g", yc[0]);
    /* eps matters for tiny rows */
    float z[2] = {0, 0}, yz[2];
    es_rmsnorm_f32(yz, z, one, 1, 2, 1e-6f);
    CHECK(yz[0] == 0.0f && yz[1] == 0.0f, "zero row stays finite");

    /* gelu_new (tanh) and exact gelu, references from torch (float64) */
    const float gx[8] = {-3, -1, -0.5f, 0, 0.5f, 1, 2, 3};
    const double g_tanh[8] = {-0.003637392082, -0.1588080094, -0.1542859902, 0,
                              0.3457140098,    0.8411919906,  1.954597694,   2.996362608};
    const double g_erf[8] = {-0.004049694095, -0.1586552539, -0.1542687694, 0,
                             0.3457312306,    0.8413447461,  1.954499736,   2.995950306};
    for (int i = 0; i < 8; i++) {
        CHECK(fabs(es_gelu_tanh(gx[i]) - g_tanh[i]) <= 1e-6 * (1 + fabs(g_tanh[i])),
              "gelu_new(%g) = %.9g vs %.9g", gx[i], es_gelu_tanh(gx[i]), g_tanh[i]);
        CHECK(fabs(es_gelu_erf(gx[i]) - g_erf[i]) <= 1e-6 * (1 + fabs(g_erf[i])),
              "gelu(%g) = %.9g vs %.9g", gx[i], es_gelu_erf(gx[i]), g_erf[i]);
    }
    float r[4] = {-1, 0, 2, -0.0f};
    es_relu_f32(r, 4);
    CHECK(r[0] == 0 && r[1] == 0 && r[2] == 2 && r[3] == 0, "relu");

    /* softmax / logsumexp / argmax */
    float s[3] = {1000, 1000, 999};
    es_softmax_f32(s, 3);
    const double zz = 2 + exp(-1.0);
    CHECK(fabs(s[0] - 1 / zz) < 1e-6 && fabs(s[2] - exp(-1.0) / zz) < 1e-6,
          "softmax large inputs %g %g", s[0], s[2]);
    float l[3] = {0, 0, 0};
    CHECK(fabs(es_logsumexp(l, 3) - log(3.0)) < 1e-12, "logsumexp");
    float big[2] = {1e30f, 0};
    CHECK(es_logsumexp(big, 2) == (double)1e30f, "logsumexp overflow-safe");
    float a[5] = {1, 3, 3, NAN, 2};
    CHECK(es_argmax_f32(a, 5) == 1, "argmax lowest index on ties, NaN ignored");
    float an[3] = {NAN, -5, -4};
    CHECK(es_argmax_f32(an, 3) == 2, "argmax skips a leading NaN");
    TEST_MAIN_END();
}
