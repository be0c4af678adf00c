/*
 * Adafactor (src/train/adafactor.c) against steps computed by hand here in
 * double precision from HF transformers.optimization.Adafactor.step, line
 * by line: a factored (3, 4) matrix and an unfactored 5-vector, 3 steps
 * with different gradients, in two configurations — HF defaults (relative
 * step min(1e-2, 1/√t), scale_parameter) and the T5 fine-tuning setting
 * (external lr 1e-3, no scaling) with weight decay and β1 = 0.9. Update
 * clipping is active (first steps of Adafactor have RMS(U) ≈ 1, and the
 * gradients are chosen so that it exceeds 1). Tolerance: the library keeps
 * fp32 state and parameters: 2e-6 of the accumulated update plus ~3 ulp
 * of |p| (4e-7·|p|) for three fp32 roundings of p.
 * Also checks the state layout (row / column moments) against the hand
 * values, and that a wrong decay_rate would be caught (sanity of the test).
 */
#include "test.h"

#include "train/adafactor.h"

#include <math.h>

#define R 3
#define C 4
#define N1 5

typedef struct ref {
    double w[R * C], b[N1];
    double row[R], col[C], v[N1], mw[R * C], mb[N1];
    int t;
} ref;

static double rmsd(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    return sqrt(s) / sqrt((double)n);
}

static void ref_step(ref *r, const double *gw, const double *gb, const es_adafactor_params *p) {
    r->t++;
    const double t = r->t, eps1 = p->eps1, eps2 = p->eps2, d = p->clip_threshold;
    const double beta2t = 1.0 - pow(t, p->decay_rate);
    double rel = p->lr;
    if (p->relative_step) rel = fmin(p->warmup_init ? 1e-6 * t : 1e-2, 1.0 / sqrt(t));
    /* matrix (factored) */
    {
        double scale = p->scale_parameter ? fmax(eps2, rmsd(r->w, R * C)) : 1.0;
        double lr = scale * rel;
        double u[R * C];
        for (int i = 0; i < R; i++) {
            double m = 0;
            for (int j = 0; j < C; j++) m += gw[i * C + j] * gw[i * C + j] + eps1;
            r->row[i] = beta2t * r->row[i] + (1 - beta2t) * m / C;
        }
        for (int j = 0; j < C; j++) {
            double m = 0;
            for (int i = 0; i < R; i++) m += gw[i * C + j] * gw[i * C + j] + eps1;
            r->col[j] = beta2t * r->col[j] + (1 - beta2t) * m / R;
        }
        double rm = 0;
        for (int i = 0; i < R; i++) rm += r->row[i] / R;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++)
                u[i * C + j] = gw[i * C + j] / sqrt(r->row[i] / rm) / sqrt(r->col[j]);
        double cl = fmax(1.0, rmsd(u, R * C) / d);
        for (int k = 0; k < R * C; k++) {
            u[k] = u[k] / cl * lr;
            if (p->beta1 > 0) {
                r->mw[k] = p->beta1 * r->mw[k] + (1 - p->beta1) * u[k];
                u[k] = r->mw[k];
            }
            if (p->weight_decay != 0) r->w[k] += -p->weight_decay * lr * r->w[k];
            r->w[k] -= u[k];
        }
    }
    /* vector (unfactored) */
    {
        double scale = p->scale_parameter ? fmax(eps2, rmsd(r->b, N1)) : 1.0;
        double lr = scale * rel;
        double u[N1];
        for (int k = 0; k < N1; k++) {
            r->v[k] = beta2t * r->v[k] + (1 - beta2t) * (gb[k] * gb[k] + eps1);
            u[k] = gb[k] / sqrt(r->v[k]);
        }
        double cl = fmax(1.0, rmsd(u, N1) / d);
        for (int k = 0; k < N1; k++) {
            u[k] = u[k] / cl * lr;
            if (p->beta1 > 0) {
                r->mb[k] = p->beta1 * r->mb[k] + (1 - p->beta1) * u[k];
                u[k] = r->mb[k];
            }
            if (p->weight_decay != 0) r->b[k] += -p->weight_decay * lr * r->b[k];
            r->b[k] -= u[k];
        }
    }
}

static double run(const char *what, es_adafactor_params p, const es_adafactor_params *lib,
                  int check) {
    es_params ps = {0};
    es_error e;
    int iw, ib;
    int64_t sw[2] = {R, C}, sb[1] = {N1};
    REQUIRE(es_params_add(&ps, &iw, "w", 2, sw, ES_INIT_ZERO, 0, 0, 0, 1, &e) == ES_OK, "add");
    REQUIRE(es_params_add(&ps, &ib, "b", 1, sb, ES_INIT_ZERO, 0, 0, 0, 0, &e) == ES_OK, "add");
    REQUIRE(es_params_alloc(&ps, 1, &e) == ES_OK, "alloc");
    ref r;
    memset(&r, 0, sizeof r);
    float *w = es_params_data(&ps, iw), *b = es_params_data(&ps, ib);
    for (int k = 0; k < R * C; k++) r.w[k] = w[k] = (float)(0.3 * sin(1.0 + k) - 0.05 * k);
    for (int k = 0; k < N1; k++) r.b[k] = b[k] = (float)(1.0 + 0.1 * cos(2.0 * k));
    es_adafactor o;
    REQUIRE(es_adafactor_init(&o, &ps, p.beta1 > 0, &e) == ES_OK, "init");
    double worst = 0;
    for (int step = 0; step < 3; step++) {
        double gw[R * C], gb[N1];
        /* uneven gradients: one large entry per row so RMS(U) > 1 (clipping) */
        for (int k = 0; k < R * C; k++) gw[k] = (float)(0.01 * cos(0.7 * k + step) + (k % 5 == 0 ? 0.3 : 0));
        for (int k = 0; k < N1; k++) gb[k] = (float)(k == step ? 1.0 : 1e-3 * (k + 1));
        for (int k = 0; k < R * C; k++) es_params_grad(&ps, iw)[k] = (float)gw[k];
        for (int k = 0; k < N1; k++) es_params_grad(&ps, ib)[k] = (float)gb[k];
        double w0[R * C], b0[N1];
        memcpy(w0, r.w, sizeof w0);
        memcpy(b0, r.b, sizeof b0);
        ref_step(&r, gw, gb, &p);
        es_adafactor_step(&o, &ps, lib ? lib : &p, 0.0f);
        for (int k = 0; k < R * C; k++) {
            double upd = fabs(r.w[k] - w0[k]) + 1e-12;
            worst = fmax(worst, fabs(w[k] - r.w[k]) / (2e-6 * upd + 4e-7 * fabs(r.w[k])));
        }
        for (int k = 0; k < N1; k++) {
            double upd = fabs(r.b[k] - b0[k]) + 1e-12;
            worst = fmax(worst, fabs(b[k] - r.b[k]) / (2e-6 * upd + 4e-7 * fabs(r.b[k])));
        }
        for (int i = 0; i < R && check; i++)
            CHECK(fabs(o.row[i] - r.row[i]) <= 1e-6 * r.row[i], "%s: row moment %d", what, i);
        for (int j = 0; j < C && check; j++)
            CHECK(fabs(o.row[R + j] - r.col[j]) <= 1e-6 * r.col[j], "%s: col moment %d", what, j);
    }
    if (check) {
        CHECK(worst <= 1.0, "%s: worst error %.3f of the bound", what, worst);
        printf("  %-40s worst %.4f of the bound (3 steps)\n", what, worst);
    }
    es_adafactor_free(&o);
    es_params_free(&ps);
    return worst;
}

int main(void) {
    es_adafactor_params d = es_adafactor_params_default();
    run("HF defaults (relative step, scaling)", d, NULL, 1);
    es_adafactor_params t5 = d;
    t5.relative_step = 0;
    t5.scale_parameter = 0;
    t5.lr = 1e-3f;
    t5.weight_decay = 0.01f;
    t5.beta1 = 0.9f;
    run("lr 1e-3, wd 0.01, beta1 0.9", t5, NULL, 1);
    es_adafactor_params w = d;
    w.warmup_init = 1;
    run("warmup_init", w, NULL, 1);
    /* the test can fail: a wrong decay rate in the library is detected */
    es_adafactor_params bad = d;
    bad.decay_rate = -0.5f;
    double wb = run("mutant", d, &bad, 0);
    CHECK(wb > 10.0, "a wrong decay rate went unnoticed (%.3f)", wb);
    es_adafactor_params nc = d;
    nc.clip_threshold = 1e9f;
    double wc = run("mutant", d, &nc, 0);
    CHECK(wc > 10.0, "missing update clipping went unnoticed (%.3f)", wc);
    printf("  mutants (decay -0.5, no clipping): %.1f, %.1f of the bound\n", wb, wc);
    TEST_MAIN_END();
}
