/*
 * test_quant.c — the 8-bit quantization primitives (src/quant/quant.h)
 * against independent double-precision formulas:
 *  - activation grid: SeqFlowLite's worked example ([−1, 1] → zp 128,
 *    s = 2/255, range [−1.0039, 0.9961]); 0 forced into the range; FQ
 *    equals TF's formula round((clamp(x) − lo')/s)·s + lo' (double) at
 *    random points, is idempotent, maps 0 to exactly 0, and dequant(quant)
 *    is FQ;
 *  - STE backward, tested directly (not by finite differences): the
 *    gradient passes unchanged inside [lo', hi'], including both ends, and
 *    is exactly 0 outside;
 *  - EMA: conventional d·old + (1−d)·new (NOT SeqFlowLite's inverted
 *    rule): first update copies, one update from [−1, 1] with batch [−3, 5]
 *    gives [−1.02, 1.04], and a constant batch range is approached
 *    geometrically;
 *  - symmetric int8 weights per channel / per tensor: codes in [−127, 127],
 *    each row's max |w| maps to ±127, |FQ(w) − w| <= s/2, FQ = q·s, a zero
 *    row is exact, dequant(q, s) = FQ.
 */
#include "quant/quant.h"

#include "test.h"

static uint64_t g_state = 0x2545f4914f6cdd1dull;
static float rnd(void) { /* uniform in [-1, 1) */
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (float)((g_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void test_grid(void) {
    es_qparams q = es_qparams_from_range(-1.0f, 1.0f);
    CHECK(q.zp == 128, "zp %d", q.zp);
    CHECK(fabs(q.scale - 2.0 / 255.0) < 1e-9, "scale %.9g", (double)q.scale);
    CHECK(fabs(q.lo - (-1.00392157)) < 1e-6 && fabs(q.hi - 0.99607843) < 1e-6, "range [%g, %g]",
          (double)q.lo, (double)q.hi);
    /* 0 forced in: [2, 5] → [0, 5], zp 0; [-4, -1] → [-4, 0], zp 255 */
    es_qparams a = es_qparams_from_range(2.0f, 5.0f), b = es_qparams_from_range(-4.0f, -1.0f);
    CHECK(a.zp == 0 && fabs(a.hi - 5.0) < 1e-6, "pos range zp %d hi %g", a.zp, (double)a.hi);
    CHECK(b.zp == 255 && fabs(b.lo + 4.0) < 1e-6, "neg range zp %d lo %g", b.zp, (double)b.lo);
    es_qparams d = es_qparams_from_range(0.0f, 0.0f);
    CHECK(d.scale > 0.0f && es_quant_u8(0.0f, &d) == d.zp, "degenerate range");
    /* FQ vs TF formula in double, over random ranges and points (ties at
     * exactly .5 are measure-zero in random data; allow 1 ulp of the grid
     * step for the float vs double rounding of x/s) */
    int bad = 0, worst_codes = 0;
    for (int it = 0; it < 200; it++) {
        float lo = -3.0f * (rnd() + 1.0f), hi = 3.0f * (rnd() + 1.0f) + 1e-3f;
        es_qparams p = es_qparams_from_range(lo, hi);
        float xs[64], ys[64];
        for (int i = 0; i < 64; i++) xs[i] = 8.0f * rnd();
        es_fq_act(ys, xs, 64, &p);
        for (int i = 0; i < 64; i++) {
            double s = p.scale, l = -p.zp * s, h = (255 - p.zp) * s;
            double x = xs[i] < l ? l : xs[i] > h ? h : xs[i];
            double ref = floor((x - l) / s + 0.5) * s + l;
            double codes = fabs(ys[i] - ref) / s;
            if (codes > 1e-3) bad++;
            worst_codes = codes > worst_codes ? (int)codes : worst_codes;
            /* idempotent, dequant(quant) = FQ */
            float y2;
            es_fq_act(&y2, &ys[i], 1, &p);
            if (y2 != ys[i]) bad++;
            if (es_dequant_u8(es_quant_u8(xs[i], &p), &p) != ys[i]) bad++;
        }
        float z = 0.0f;
        es_fq_act(&z, &z, 1, &p);
        if (z != 0.0f) bad++;
    }
    CHECK(bad == 0, "FQ: %d mismatches vs the double formula (worst %d codes)", bad, worst_codes);
    /* NaN and ±inf do not crash and land on the grid ends */
    es_qparams p = es_qparams_from_range(-1.0f, 1.0f);
    CHECK(es_quant_u8(NAN, &p) == 0 && es_quant_u8(INFINITY, &p) == 255 &&
              es_quant_u8(-INFINITY, &p) == 0, "non-finite codes");
}

static void test_ste(void) {
    es_qparams p = es_qparams_from_range(-0.5f, 2.0f);
    float x[] = {-3.0f, p.lo - 1e-3f, p.lo, -0.1f, 0.0f, 0.7f, p.hi, p.hi + 1e-3f, 9.0f};
    int inside[] = {0, 0, 1, 1, 1, 1, 1, 0, 0};
    float g[9], g0[9];
    for (int i = 0; i < 9; i++) g[i] = g0[i] = 1.0f + (float)i;
    es_fq_act_backward(g, x, 9, &p);
    for (int i = 0; i < 9; i++)
        CHECK(inside[i] ? g[i] == g0[i] : g[i] == 0.0f, "STE at x = %g: grad %g (inside %d)",
              (double)x[i], (double)g[i], inside[i]);
}

static void test_ema(void) {
    float r[2] = {123.0f, 456.0f};
    es_ema_update(r, -1.0f, 1.0f, 0.99f, 1);
    CHECK(r[0] == -1.0f && r[1] == 1.0f, "first update copies: [%g, %g]", (double)r[0], (double)r[1]);
    es_ema_update(r, -3.0f, 5.0f, 0.99f, 0);
    CHECK(fabs(r[0] + 1.02) < 1e-6 && fabs(r[1] - 1.04) < 1e-6,
          "conventional EMA: [%g, %g], want [-1.02, 1.04]", (double)r[0], (double)r[1]);
    for (int i = 0; i < 500; i++) es_ema_update(r, -2.0f, 4.0f, 0.99f, 0);
    /* d^500 of the gap remains (0.99^500 = 6.57e-3): gaps 0.98, 2.96 → 6.44e-3, 1.95e-2 */
    double g0 = (r[0] + 2.0) / (0.98 * pow(0.99, 500)), g1 = (4.0 - r[1]) / (2.96 * pow(0.99, 500));
    CHECK(fabs(g0 - 1.0) < 1e-3 && fabs(g1 - 1.0) < 1e-3, "geometric approach: [%g, %g] (%g, %g)",
          (double)r[0], (double)r[1], g0, g1);
    float lo, hi, v[] = {0.5f, 2.0f, 1.0f};
    es_range_of(&lo, &hi, v, 3);
    CHECK(lo == 0.0f && hi == 2.0f, "range includes 0: [%g, %g]", (double)lo, (double)hi);
}

static void test_weights(void) {
    enum { R = 5, C = 37 };
    float W[R * C], Wq[R * C], Wd[R * C], s[R];
    int8_t q[R * C];
    for (int i = 0; i < R * C; i++) W[i] = rnd() * (float)(1 + i / C);
    for (int c = 0; c < C; c++) W[3 * C + c] = 0.0f; /* zero row */
    for (int pc = 0; pc < 2; pc++) {
        es_quant_w_s8(q, s, W, R, C, pc);
        es_fq_weights(Wq, W, R, C, pc);
        es_dequant_w_s8(Wd, q, s, R, C, pc ? R : 1);
        int bad = 0;
        for (int r = 0; r < R; r++) {
            float sr = pc ? s[r] : s[0];
            int maxq = 0;
            float maxw = 0.0f;
            for (int c = 0; c < C; c++) {
                int v = q[r * C + c];
                if (v < -127 || v > 127) bad++;
                maxq = abs(v) > maxq ? abs(v) : maxq;
                maxw = fabsf(W[r * C + c]) > maxw ? fabsf(W[r * C + c]) : maxw;
                if (fabs((double)Wq[r * C + c] - W[r * C + c]) > 0.5 * sr * (1 + 1e-5)) bad++;
                if (Wq[r * C + c] != (float)v * sr || Wd[r * C + c] != Wq[r * C + c]) bad++;
            }
            if (pc && r != 3 && maxq != 127) bad++;
            if (r == 3)
                for (int c = 0; c < C; c++) bad += Wq[r * C + c] != 0.0f;
            (void)maxw;
        }
        CHECK(bad == 0, "weights (per_channel %d): %d violations", pc, bad);
        if (!pc) {
            float m = 0.0f;
            for (int i = 0; i < R * C; i++) m = fabsf(W[i]) > m ? fabsf(W[i]) : m;
            CHECK(fabs(s[0] - m / 127.0f) < 1e-9, "per-tensor scale %g vs %g", (double)s[0],
                  (double)(m / 127.0f));
        }
    }
    /* in place is allowed */
    memcpy(Wd, W, sizeof W);
    es_fq_weights(Wd, Wd, R, C, 1);
    es_fq_weights(Wq, W, R, C, 1);
    CHECK(memcmp(Wd, Wq, sizeof Wq) == 0, "in-place fake-quant differs");
}

int main(void) {
    test_grid();
    test_ste();
    test_ema();
    test_weights();
    TEST_MAIN_END();
}
