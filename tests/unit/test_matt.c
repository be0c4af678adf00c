/*
 * Merged attention: step-wise decoding with the running-sum cache equals
 * the parallel (teacher-forcing) forward, for several rows sharing one
 * encoder memory, for an empty encoder, and with a beam reorder (gather
 * of parent running sums) in the middle. Also the uniform term alone
 * against a direct double-precision average.
 */
#include "test.h"

#include "nn/matt.h"

#include <stdlib.h>

enum { D = 16, DE = 12, H = 4, T = 9, LE = 7, NR = 3 };

static unsigned st = 99;
static void fill(float *x, size_t n, float a) {
    for (size_t i = 0; i < n; i++) {
        st = st * 1664525u + 1013904223u;
        x[i] = a * (2.0f * (float)((st >> 8) & 0xffffff) / 16777216.0f - 1.0f);
    }
}

static float *mk(size_t n, float a) {
    float *p = calloc(n ? n : 1, sizeof(float));
    fill(p, n, a);
    return p;
}

/* Parallel forward of B = NR sequences (x rows (NR·T, D)) over one shared
 * encoder of Le rows; y (NR·T, D). */
static void parallel(float *y, const float *x, const float *enc, int Le, const es_matt_w *w) {
    int dlen[NR], elen[NR];
    for (int b = 0; b < NR; b++) {
        dlen[b] = T;
        elen[b] = Le;
    }
    es_seq se = es_seq_make(NR, LE, 0, elen);
    float *encb = calloc((size_t)NR * LE * DE, sizeof(float));
    for (int b = 0; b < NR; b++) memcpy(encb + (size_t)b * LE * DE, enc, (size_t)Le * DE * sizeof(float));
    es_matt_shape sh = {NR, T, dlen, &se, D, DE, H};
    size_t N = (size_t)NR * T, re = es_seq_rows(&se);
    es_matt_cache c = {calloc(N * D, 4), calloc(re * D, 4), calloc(re * D, 4),
                       calloc((size_t)NR * H * T * LE, 4), calloc(N * D, 4), calloc(N * D, 4)};
    es_matt_forward(NULL, y, &c, x, encb, w, &sh);
    free(c.q); free(c.k); free(c.v); free(c.p); free(c.vu); free(c.z); free(encb);
}

static double maxdiff(const float *a, const float *b, size_t n, double *maxabs) {
    double m = 0, ma = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        m = d > m ? d : m;
        ma = fabs((double)b[i]) > ma ? fabs((double)b[i]) : ma;
    }
    if (maxabs) *maxabs = ma;
    return m;
}

static void step_vs_parallel(int Le) {
    float *x = mk((size_t)NR * T * D, 1.0f), *enc = mk((size_t)LE * DE, 1.0f);
    float *wq = mk(D * D, 0.4f), *wk = mk(D * DE, 0.4f), *wv = mk(D * DE, 0.4f),
          *wu = mk(D * D, 0.4f), *wo = mk(D * D, 0.4f);
    es_matt_w w = {wq, wk, wv, wu, wo};
    float *yp = calloc((size_t)NR * T * D, 4);
    parallel(yp, x, enc, Le, &w);
    float *k = calloc((size_t)LE * D, 4), *v = calloc((size_t)LE * D, 4);
    es_matt_memory(NULL, k, v, enc, Le, DE, D, &w);
    float *R = calloc((size_t)NR * D, 4), *xs = calloc((size_t)NR * D, 4),
          *ys = calloc((size_t)NR * D, 4), *scr = calloc((size_t)3 * NR * D + H * LE + 1, 4);
    double worst = 0, mabs = 0;
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < NR; r++) memcpy(xs + (size_t)r * D, x + ((size_t)r * T + t) * D, D * 4);
        es_matt_step(NULL, ys, R, xs, k, v, Le, &w, NR, t, D, H, scr);
        for (int r = 0; r < NR; r++) {
            double ma;
            double d = maxdiff(ys + (size_t)r * D, yp + ((size_t)r * T + t) * D, D, &ma);
            worst = d > worst ? d : worst;
            mabs = ma > mabs ? ma : mabs;
        }
    }
    printf("  Le=%d: max |step - parallel| = %.3g (max |y| %.3g)\n", Le, worst, mabs);
    CHECK(worst <= 1e-5 * (mabs + 1.0), "Le=%d step differs from parallel by %g", Le, worst);
    CHECK(mabs > 0.1, "outputs are trivially small");
    free(x); free(enc); free(wq); free(wk); free(wv); free(wu); free(wo); free(yp);
    free(k); free(v); free(R); free(xs); free(ys); free(scr);
}

/* Beam reorder: rows run 4 steps on sequences A, B, C; then row order
 * becomes parents {2, 0, 0} (gather of R); the continued rows must equal
 * the parallel forward of the spliced sequences. */
static void reorder(void) {
    const int Le = 5, cut = 4;
    float *x = mk((size_t)NR * T * D, 1.0f), *enc = mk((size_t)LE * DE, 1.0f);
    float *wq = mk(D * D, 0.4f), *wk = mk(D * DE, 0.4f), *wv = mk(D * DE, 0.4f),
          *wu = mk(D * D, 0.4f), *wo = mk(D * D, 0.4f);
    es_matt_w w = {wq, wk, wv, wu, wo};
    const int parent[NR] = {2, 0, 0};
    /* spliced inputs: rows t < cut from the parent, t >= cut from own row */
    float *xs_all = calloc((size_t)NR * T * D, 4);
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < T; t++)
            memcpy(xs_all + ((size_t)r * T + t) * D,
                   x + ((size_t)(t < cut ? parent[r] : r) * T + t) * D, D * 4);
    float *yp = calloc((size_t)NR * T * D, 4);
    parallel(yp, xs_all, enc, Le, &w);
    float *k = calloc((size_t)LE * D, 4), *v = calloc((size_t)LE * D, 4);
    es_matt_memory(NULL, k, v, enc, Le, DE, D, &w);
    float *R = calloc((size_t)NR * D, 4), *R2 = calloc((size_t)NR * D, 4),
          *xs = calloc((size_t)NR * D, 4), *ys = calloc((size_t)NR * D, 4),
          *scr = calloc((size_t)3 * NR * D + H * LE + 1, 4);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        if (t == cut) {
            for (int r = 0; r < NR; r++) memcpy(R2 + (size_t)r * D, R + (size_t)parent[r] * D, D * 4);
            memcpy(R, R2, (size_t)NR * D * 4);
        }
        for (int r = 0; r < NR; r++) memcpy(xs + (size_t)r * D, x + ((size_t)r * T + t) * D, D * 4);
        es_matt_step(NULL, ys, R, xs, k, v, Le, &w, NR, t, D, H, scr);
        if (t >= cut)
            for (int r = 0; r < NR; r++) {
                double d = maxdiff(ys + (size_t)r * D, yp + ((size_t)r * T + t) * D, D, NULL);
                worst = d > worst ? d : worst;
            }
    }
    printf("  reorder: max |step - parallel| after the gather = %.3g\n", worst);
    CHECK(worst <= 1e-5, "reordered step differs by %g", worst);
    free(x); free(enc); free(wq); free(wk); free(wv); free(wu); free(wo); free(xs_all); free(yp);
    free(k); free(v); free(R); free(R2); free(xs); free(ys); free(scr);
}

/* Uniform term alone: with W_o = I and an empty encoder, y_t is the mean
 * of W_u x_j over j <= t. */
static void uniform_mean(void) {
    float *x = mk((size_t)NR * T * D, 1.0f), *enc = mk((size_t)LE * DE, 1.0f);
    float *wq = mk(D * D, 0.4f), *wk = mk(D * DE, 0.4f), *wv = mk(D * DE, 0.4f),
          *wu = mk(D * D, 0.4f), *wo = calloc(D * D, 4);
    for (int i = 0; i < D; i++) wo[i * D + i] = 1.0f;
    es_matt_w w = {wq, wk, wv, wu, wo};
    float *yp = calloc((size_t)NR * T * D, 4);
    parallel(yp, x, enc, 0, &w);
    double worst = 0;
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < D; i++) {
                double s = 0;
                for (int j = 0; j <= t; j++)
                    for (int c = 0; c < D; c++)
                        s += (double)wu[i * D + c] * x[((size_t)r * T + j) * D + c];
                double d = fabs(s / (t + 1) - yp[((size_t)r * T + t) * D + i]);
                worst = d > worst ? d : worst;
            }
    printf("  uniform path vs double average: %.3g\n", worst);
    CHECK(worst < 1e-5, "uniform average off by %g", worst);
    free(x); free(enc); free(wq); free(wk); free(wv); free(wu); free(wo); free(yp);
}

int main(void) {
    step_vs_parallel(LE);
    step_vs_parallel(1);
    step_vs_parallel(0);
    reorder();
    uniform_mean();
    TEST_MAIN_END();
}
