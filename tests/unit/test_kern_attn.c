/*
 * test_kern_attn.c — the one-row attention kernel (kern.h es_attn_row_fn):
 * every usable variant (ref, avx2, avx512 tables) against the exact result
 * in double precision, over ragged nk x dk, strides > dk, unaligned
 * pointers, with and without bias and key mask, a single valid key, all
 * keys masked (uniform weights over every key, HF's behaviour), and
 * masked keys whose K/V rows hold NaN (they must not reach out). The
 * floats past out must survive. SIMD variants are also compared with the
 * reference on the same inputs.
 *
 * Bound: a score s_t = q·k_t + b_t is off by at most ~(dk+2)·u·A_t
 * (A_t = Σ|q_d k_td| + |b_t|), which moves the softmax weights by
 * relative ~2·max δs; exp adds a few ulp, the sum ~nk·u; so
 *   |out_d − exact_d| <= 4·u·((dk + 2)·max_t A_t + nk + 8) · Σ_t w_t |v_td|
 *                        + 1e-30
 * (u = 2^-24). A dropped, repeated or misplaced key moves out_d by about
 * w_t·|v_td| >> that bound.
 */
#include "kern/kern.h"

#include "core/rng.h"
#include "test.h"

#include <stdint.h>

#define MAXK 260
#define MAXD 140
#define LD_PAD 7

static es_rng g_rng;

static float urand(float lo, float hi) {
    return lo + (hi - lo) * (float)es_rng_uniform(&g_rng);
}

/* exact result in double; returns the bound's Σ w|v| per d in wv */
static void exact_row(double *out, double *wv, double *amax, const float *q, const float *K,
                      const float *V, int ld, const float *bias, const int32_t *mask, int nk,
                      int dk) {
    static double s[MAXK];
    double mx = -INFINITY;
    int n_valid = 0;
    *amax = 0.0;
    for (int t = 0; t < nk; t++) {
        if (mask && !mask[t]) continue;
        double d = 0.0, a = 0.0;
        for (int i = 0; i < dk; i++) {
            d += (double)q[i] * K[t * ld + i];
            a += fabs((double)q[i] * K[t * ld + i]);
        }
        if (bias) {
            d += bias[t];
            a += fabs(bias[t]);
        }
        s[t] = d;
        if (a > *amax) *amax = a;
        if (d > mx) mx = d;
        n_valid++;
    }
    for (int i = 0; i < dk; i++) out[i] = wv[i] = 0.0;
    double z = 0.0;
    for (int t = 0; t < nk; t++) {
        if (n_valid && mask && !mask[t]) continue;
        s[t] = n_valid ? exp(s[t] - mx) : 1.0;
        z += s[t];
    }
    for (int t = 0; t < nk; t++) {
        if (n_valid && mask && !mask[t]) continue;
        for (int i = 0; i < dk; i++) {
            out[i] += s[t] / z * V[t * ld + i];
            wv[i] += s[t] / z * fabs(V[t * ld + i]);
        }
    }
}

typedef struct attn_case {
    int nk, dk, use_bias, mask_kind; /* 0 none, 1 random, 2 one valid, 3 all masked */
} attn_case;

static int run_case(const es_kern_table *kt, const attn_case *c, int off, float *worst) {
    static float Kbuf[MAXK * (MAXD + LD_PAD) + 32], Vbuf[MAXK * (MAXD + LD_PAD) + 32];
    static float qbuf[MAXD + 32], bias[MAXK], scr[MAXK], outbuf[MAXD + 32 + 8], ref_out[MAXD + 40];
    static int32_t mask[MAXK];
    static double ex[MAXD], wv[MAXD];
    const int nk = c->nk, dk = c->dk, ld = dk + (off % LD_PAD);
    float *K = Kbuf + off, *V = Vbuf + (off * 3) % 16, *q = qbuf + (off * 5) % 16;
    float *out = outbuf + (off * 7) % 16;
    for (int i = 0; i < dk; i++) q[i] = urand(-1.0f, 1.0f);
    for (int t = 0; t < nk; t++) {
        bias[t] = urand(-3.0f, 3.0f);
        mask[t] = c->mask_kind == 0 ? 1 : c->mask_kind == 1 ? es_rng_uniform(&g_rng) < 0.7 : 0;
    }
    if (c->mask_kind == 2) mask[nk / 2] = 1;
    int n_valid = 0;
    for (int t = 0; t < nk; t++) n_valid += mask[t];
    for (int t = 0; t < nk; t++)
        for (int i = 0; i < ld; i++) {
            /* masked keys' rows are poison unless every key is masked
             * (then V is used with uniform weights) */
            bool poison = c->mask_kind && n_valid > 0 && !mask[t];
            K[t * ld + i] = poison ? NAN : urand(-1.0f, 1.0f);
            V[t * ld + i] = poison ? NAN : urand(-2.0f, 2.0f);
        }
    const int32_t *mk = c->mask_kind ? mask : NULL;
    const float *bs = c->use_bias ? bias : NULL;
    for (int i = 0; i < dk + 8; i++) out[i] = -777.0f;
    double amax;
    exact_row(ex, wv, &amax, q, K, V, ld, bs, mk, nk, dk);
    kt->attn_row(out, q, K, V, ld, ld, bs, mk, scr, nk, dk);
    int bad = 0;
    const double u = ldexp(1.0, -24);
    for (int i = 0; i < dk; i++) {
        double bound = 4.0 * u * ((dk + 2) * amax + nk + 8) * wv[i] + 1e-30;
        double e = fabs(out[i] - ex[i]);
        if (!(e <= bound)) bad++;
        if (e / bound > *worst) *worst = (float)(e / bound);
    }
    for (int i = dk; i < dk + 8; i++)
        if (out[i] != -777.0f) bad++;
    if (kt != es_kern_ref()) {
        es_kern_ref()->attn_row(ref_out, q, K, V, ld, ld, bs, mk, scr, nk, dk);
        for (int i = 0; i < dk; i++) {
            double bound = 8.0 * u * ((dk + 2) * amax + nk + 8) * wv[i] + 1e-30;
            if (!(fabs(out[i] - ref_out[i]) <= bound)) bad++;
        }
    }
    return bad;
}

int main(void) {
    es_rng_seed(&g_rng, 42);
    static const int nks[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64, 100, 128, 129, 257};
    static const int dks[] = {1, 3, 7, 8, 9, 16, 31, 64, 65, 100, 130};
    const char *isas[] = {"ref", "avx2", "avx512"};
    for (size_t v = 0; v < ES_ARRAY_LEN(isas); v++) {
        const es_kern_table *kt = es_kern_get(isas[v]);
        if (!kt) {
            printf("skipped: no %s\n", isas[v]);
            continue;
        }
        REQUIRE(kt->attn_row != NULL, "%s: attn_row missing from the table", isas[v]);
        int n_cases = 0, n_bad = 0, off = 0;
        float worst = 0.0f;
        for (size_t a = 0; a < ES_ARRAY_LEN(nks); a++)
            for (size_t b = 0; b < ES_ARRAY_LEN(dks); b++)
                for (int mk = 0; mk < 4; mk++)
                    for (int ub = 0; ub < 2; ub++) {
                        attn_case c = {nks[a], dks[b], ub, mk};
                        int bad = run_case(kt, &c, off++ % 13, &worst);
                        CHECK(bad == 0, "%s: nk %d dk %d bias %d mask %d: %d bad elements",
                              isas[v], c.nk, c.dk, ub, mk, bad);
                        n_bad += bad != 0;
                        n_cases++;
                    }
        printf("%s: %d cases, %d failed, worst |err|/bound %.3f\n", isas[v], n_cases, n_bad,
               (double)worst);
        /* a dropped key must be caught: the bound is far below one term */
        if (v == 0) CHECK(worst < 1.0f, "ref exceeds its own bound");
    }
    TEST_MAIN_END();
}
