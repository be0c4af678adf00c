/*
 * Training core against independent references:
 *  - AdamW (two steps, with and without global-norm clipping) and the
 *    gradient norm against torch.optim.AdamW / clip_grad_norm_ outputs in
 *    fixtures/t5/tiny-v1/grads.safetensors (every parameter of the tiny T5,
 *    row subsets for the embedding as the fixture stores them);
 *  - LR schedules at hand-computed points.
 */
#include "test.h"

#include "io/weights.h"
#include "nn/params.h"
#include "train/optim.h"
#include "train/trainer.h"

#include <math.h>

static es_weights *open_st(const char *path) {
    es_weights *w = NULL;
    es_error e;
    es_status s = es_weights_new(&w, &e);
    if (!s) s = es_safetensors_read(w, path, &e);
    if (s) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        es_weights_free(w);
        return NULL;
    }
    es_weights_seal(w);
    return w;
}

static void load_f32(float *dst, const es_tensor_view *t) {
    es_error e;
    es_status s = es_tensor_to_f32(dst, t, &e);
    CHECK(s == ES_OK, "to_f32 %s: %s", t->name, e.msg);
}

/* Compares registry tensor i with fixture tensor `name` (possibly a row
 * subset listed in rows). Returns max |diff| / (max |ref| + tiny). */
static double cmp(const es_params *ps, int i, const es_weights *g, const char *prefix,
                  const int32_t *rows, size_t n_rows) {
    const es_param *p = &ps->p[i];
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, p->name);
    const es_tensor_view *t = es_weights_find(g, name);
    if (!t) {
        CHECK(0, "fixture tensor %s missing", name);
        return 1e9;
    }
    size_t n = es_tensor_numel(t);
    float *ref = malloc(n * sizeof(float));
    load_f32(ref, t);
    const float *x = ps->data + p->offset;
    size_t cols = p->ndim == 2 ? (size_t)p->shape[1] : p->numel;
    int subset = n != p->numel;
    double md = 0, mr = 0;
    for (size_t k = 0; k < n; k++) {
        size_t r = k / cols, c = k % cols;
        size_t src = subset ? (size_t)rows[r] * cols + c : k;
        (void)n_rows;
        double d = fabs((double)x[src] - (double)ref[k]);
        md = d > md ? d : md;
        mr = fabs(ref[k]) > mr ? fabs(ref[k]) : mr;
    }
    free(ref);
    return md / (mr + 1e-30);
}

static void test_adamw_fixture(void) {
    es_weights *mw = open_st(fixture("t5/tiny-v1/model.safetensors"));
    es_weights *gw = open_st(fixture("t5/tiny-v1/grads.safetensors"));
    if (!mw || !gw) {
        CHECK(0, "fixtures not readable");
        es_weights_free(mw);
        es_weights_free(gw);
        return;
    }
    es_error e;
    es_params ps = {0};
    for (size_t i = 0; i < es_weights_count(mw); i++) {
        const es_tensor_view *t = es_weights_at(mw, i);
        es_status s = es_params_add(&ps, NULL, t->name, t->ndim, t->shape, ES_INIT_ZERO, 0, 0, 0, 1, &e);
        CHECK(s == ES_OK, "add %s: %s", t->name, e.msg);
    }
    es_status s = es_params_alloc(&ps, 1, &e);
    REQUIRE(s == ES_OK, "alloc");
    const es_tensor_view *rt = es_weights_find(gw, "adamw.rows");
    REQUIRE(rt && rt->dtype == ES_DTYPE_I32, "adamw.rows");
    const int32_t *rows = rt->data;
    size_t n_rows = es_tensor_numel(rt);
    float *p0 = malloc(ps.total * sizeof(float));
    for (int pass = 0; pass < 2; pass++) { /* 0: plain, 1: clipped */
        for (int i = 0; i < ps.n; i++)
            load_f32(ps.data + ps.p[i].offset, es_weights_find(mw, ps.p[i].name));
        memcpy(p0, ps.data, ps.total * sizeof(float));
        es_adamw o;
        s = es_adamw_init(&o, &ps, &e);
        REQUIRE(s == ES_OK, "adamw init");
        for (int step = 1; step <= 2; step++) {
            for (int i = 0; i < ps.n; i++) {
                char gn[256];
                snprintf(gn, sizeof gn, "%s.%s", step == 1 ? "grad" : "grad2", ps.p[i].name);
                const es_tensor_view *gt = es_weights_find(gw, gn);
                if (!gt) {
                    CHECK(0, "missing %s", gn);
                    goto next_pass;
                }
                if (es_tensor_numel(gt) != ps.p[i].numel) {
                    /* row subset (grad2 of the embedding): scatter the listed
                     * rows; the others are not compared afterwards (Adam is
                     * elementwise), so their gradient does not matter */
                    size_t cols = (size_t)ps.p[i].shape[1], n = es_tensor_numel(gt);
                    float *tmp = malloc(n * sizeof(float));
                    load_f32(tmp, gt);
                    float *dst = ps.grad + ps.p[i].offset;
                    memset(dst, 0, ps.p[i].numel * sizeof(float));
                    for (size_t r = 0; r < n / cols; r++)
                        memcpy(dst + (size_t)rows[r] * cols, tmp + r * cols, cols * sizeof(float));
                    free(tmp);
                } else {
                    load_f32(ps.grad + ps.p[i].offset, gt);
                }
            }
            if (pass == 1 && step == 2) {
                /* the step-2 norm needs the full grad2, which the fixture
                 * stores only partially: apply its recorded factor */
                float ref_coef[2];
                load_f32(ref_coef, es_weights_find(gw, "clip.coef"));
                es_grad_scale(&ps, ref_coef[1]);
            } else if (pass == 1) {
                float coef = 0;
                double norm = es_grad_clip(&ps, 1.0f, &coef);
                float ref_coef[2];
                load_f32(ref_coef, es_weights_find(gw, "clip.coef"));
                CHECK(fabsf(coef - ref_coef[step - 1]) <= 1e-6f * ref_coef[step - 1],
                      "clip coef step %d: %.9g vs %.9g (norm %.9g)", step, (double)coef,
                      (double)ref_coef[step - 1], norm);
            } else if (step == 1) {
                float ref_norm;
                load_f32(&ref_norm, es_weights_find(gw, "grad_norm"));
                double norm = es_grad_norm(&ps);
                CHECK(fabs(norm - ref_norm) <= 1e-5 * ref_norm, "grad norm %.9g vs %.9g", norm,
                      (double)ref_norm);
            }
            es_adamw_step(&o, &ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
            double worst = 0;
            const char *pre = pass ? (step == 1 ? NULL : "clip.adamw2") : (step == 1 ? "adamw1" : "adamw2");
            if (pre)
                for (int i = 0; i < ps.n; i++) {
                    double r = cmp(&ps, i, gw, pre, rows, n_rows);
                    worst = r > worst ? r : worst;
                }
            if (pre) {
                printf("  %-12s worst relative error %.3g\n", pre, worst);
                /* fp32 update of ~1e-3 on weights of ~0.1-1: a few ulp. The
                 * clipped run's step-2 gradient was taken at the clipped
                 * step-1 parameters, which the fixture does not store; grad2
                 * (taken at adamw1, ~1e-7 away) stands in, hence 1e-3 there. */
                double tol = pass ? 1e-3 : 1e-6;
                CHECK(worst < tol, "%s: worst relative error %.3g", pre, worst);
            }
        }
    next_pass:
        es_adamw_free(&o);
    }
    free(p0);
    es_params_free(&ps);
    es_weights_free(mw);
    es_weights_free(gw);
}

static void test_schedules(void) {
    es_train_params p = es_train_params_default();
    p.lr = 1.0f;
    p.min_lr = 0.1f;
    p.warmup_steps = 10;
    p.max_steps = 110;
    p.schedule = ES_LR_LINEAR;
    CHECK(fabsf(es_lr_at(&p, 5) - 0.5f) < 1e-7f, "warmup");
    CHECK(fabsf(es_lr_at(&p, 10) - 1.0f) < 1e-7f, "warmup end");
    CHECK(fabsf(es_lr_at(&p, 60) - 0.55f) < 1e-6f, "linear mid %g", (double)es_lr_at(&p, 60));
    CHECK(fabsf(es_lr_at(&p, 110) - 0.1f) < 1e-6f, "linear end");
    p.schedule = ES_LR_COSINE;
    CHECK(fabsf(es_lr_at(&p, 60) - 0.55f) < 1e-6f, "cosine mid %g", (double)es_lr_at(&p, 60));
    CHECK(fabsf(es_lr_at(&p, 35) - (0.1f + 0.9f * 0.5f * (1.0f + cosf(3.14159265f * 0.25f)))) < 1e-6f, "cosine q=.25");
    p.schedule = ES_LR_INVSQRT;
    CHECK(fabsf(es_lr_at(&p, 40) - 0.5f) < 1e-7f, "invsqrt");
    p.schedule = ES_LR_CONSTANT;
    CHECK(es_lr_at(&p, 100) == 1.0f, "constant");
}

int main(void) {
    test_adamw_fixture();
    test_schedules();
    TEST_MAIN_END();
}
