/*
 * T5 training against PyTorch (fixtures/t5/{tiny-v1,tiny-v11}/grads.safetensors,
 * README §6), with the README's rules:
 *  - loss, loss2, clip.loss2: relative 1e-5;
 *  - grad_norm, clip.grad_norm, clip.coef: relative 1e-4;
 *  - every grad.* and grad2.* (the latter at parameters stepped with the
 *    STORED grad.*): element-wise |c − r| ≤ 1e-4·M + 1e-3·|r| (M = max|r|
 *    over the tensor, over the row for shared.weight / lm_head.weight) and
 *    ‖c − r‖₂ ≤ 1e-4·‖r‖₂;
 *  - own gradients + own AdamW (plain and clipped): adamw1, adamw2,
 *    clip.adamw2 with the three-part rule (a) ≥ 99.9 % of entries within
 *    1e-6 + 1e-6·|r|, (b) ‖c − r‖₂ ≤ 1e-2·‖r − p0‖₂, (c) all within 4e-3.
 * Also: 1 and 2 threads give bit-identical gradients; forward-only loss
 * equals the fixture loss; accumulation over two half batches (each scaled
 * by 1/total tokens) equals the full batch within the gradient rule.
 */
#include "test.h"

#include "core/pool.h"
#include "io/weights.h"
#include "model/model_internal.h"
#include "train/optim.h"
#include "train/t5_state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* es_malloc'd F32 copy of a fixture tensor (NULL + failed CHECK if absent). */
static float *get_f32(const es_weights *w, const char *name, size_t *n) {
    const es_tensor_view *t = es_weights_find(w, name);
    if (!t) {
        CHECK(0, "fixture tensor %s missing", name);
        return NULL;
    }
    *n = es_tensor_numel(t);
    float *x = malloc(*n * sizeof(float) + 1);
    es_error e;
    CHECK(es_tensor_to_f32(x, t, &e) == ES_OK, "%s: %s", name, e.msg);
    return x;
}

static const int32_t *get_i32(const es_weights *w, const char *name, size_t *n) {
    const es_tensor_view *t = es_weights_find(w, name);
    REQUIRE(t && t->dtype == ES_DTYPE_I32, "fixture tensor %s missing", name);
    *n = es_tensor_numel(t);
    return t->data;
}

static float scalar(const es_weights *w, const char *name, int i) {
    size_t n = 0;
    float *x = get_f32(w, name, &n);
    float v = x && (size_t)i < n ? x[i] : NAN;
    free(x);
    return v;
}

static int is_big(const char *name) {
    return strcmp(name, "shared.weight") == 0 || strcmp(name, "lm_head.weight") == 0;
}

/* Gradient rule of README §6 for every tensor; `src` = grad buffer laid out
 * like ps. Returns the worst element ratio (err / bound). */
static double check_grads(const es_params *ps, const float *src, const es_weights *g,
                          const char *prefix, const char *ck) {
    double worst = 0.0, worst_l2 = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        char name[256];
        snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        size_t n = 0;
        float *r = get_f32(g, name, &n);
        if (!r) continue;
        size_t cols = p->ndim == 2 ? (size_t)p->shape[1] : p->numel;
        /* grad2 of the big tensors holds the rows listed in adamw.rows only */
        size_t n_sub = 0;
        const int32_t *sub = n != p->numel ? get_i32(g, "adamw.rows", &n_sub) : NULL;
        CHECK(n == p->numel || n == n_sub * cols, "%s %s: %zu elements, fixture %zu", ck, name,
              p->numel, n);
        if (n != p->numel && n != n_sub * cols) {
            free(r);
            continue;
        }
        const float *c = src + p->offset;
        size_t rows = n / cols;
        int per_row = is_big(p->name);
        double M = 0.0;
        for (size_t k = 0; k < n; k++) M = fmax(M, fabs(r[k]));
        double d2 = 0.0, r2 = 0.0, w = 0.0;
        for (size_t row = 0; row < rows; row++) {
            double Mr = M;
            if (per_row) {
                Mr = 0.0;
                for (size_t k = 0; k < cols; k++) Mr = fmax(Mr, fabs(r[row * cols + k]));
            }
            for (size_t k = 0; k < cols; k++) {
                size_t e = row * cols + k;
                size_t ce = sub ? (size_t)sub[row] * cols + k : e;
                double d = fabs((double)c[ce] - r[e]);
                double bound = 1e-4 * Mr + 1e-3 * fabs(r[e]);
                double ratio = bound > 0 ? d / bound : (d > 0 ? INFINITY : 0.0);
                if (ratio > w) w = ratio;
                d2 += d * d;
                r2 += (double)r[e] * r[e];
            }
        }
        double l2 = r2 > 0 ? sqrt(d2) / (1e-4 * sqrt(r2)) : (d2 > 0 ? INFINITY : 0.0);
        CHECK(w <= 1.0, "%s %s: element error at %.3f of the bound", ck, name, w);
        CHECK(l2 <= 1.0, "%s %s: L2 error at %.3f of the bound", ck, name, l2);
        if (w > worst) {
            worst = w;
            worst_name = p->name;
        }
        if (l2 > worst_l2) worst_l2 = l2;
        free(r);
    }
    printf("  %-24s worst element %.4f of bound (%s), worst L2 %.4f of bound\n", ck, worst,
           worst_name, worst_l2);
    return worst;
}

/* Three-part end-to-end rule on parameters vs fixture group `prefix`
 * (row subsets of the big tensors per adamw.rows); p0 = start values. */
static void check_e2e(const es_params *ps, const float *p0, const es_weights *g,
                      const char *prefix) {
    size_t n_rows = 0;
    const int32_t *rows = get_i32(g, "adamw.rows", &n_rows);
    size_t total = 0, tight = 0;
    double d2 = 0, m2 = 0, maxd = 0;
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        char name[256];
        snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        size_t n = 0;
        float *r = get_f32(g, name, &n);
        if (!r) continue;
        size_t cols = p->ndim == 2 ? (size_t)p->shape[1] : p->numel;
        int subset = n != p->numel;
        CHECK(!subset || n == n_rows * cols, "%s: unexpected size %zu", name, n);
        for (size_t k = 0; k < n; k++) {
            size_t src = subset ? (size_t)rows[k / cols] * cols + k % cols : k;
            double c = ps->data[p->offset + src], ref = r[k], q = p0[p->offset + src];
            double d = fabs(c - ref);
            total++;
            tight += d <= 1e-6 + 1e-6 * fabs(ref);
            d2 += d * d;
            m2 += (ref - q) * (ref - q);
            maxd = fmax(maxd, d);
        }
        free(r);
    }
    double frac = total ? (double)tight / (double)total : 0;
    double rel = m2 > 0 ? sqrt(d2) / sqrt(m2) : INFINITY;
    CHECK(frac >= 0.999, "%s: only %.5f of entries within 1e-6 + 1e-6|r|", prefix, frac);
    CHECK(rel <= 1e-2, "%s: L2 error %.3g of the update norm (limit 1e-2)", prefix, rel);
    CHECK(maxd <= 4e-3, "%s: max error %.3g (limit 4e-3)", prefix, maxd);
    printf("  %-24s (a) %.5f within tight  (b) %.3g  (c) max %.3g over %zu entries\n", prefix,
           frac, rel, maxd, total);
}

typedef struct rig {
    es_t5_trainable t;
    es_t5_tws *ws;
    es_t5_batch b;
    int n_tok;
    es_pool *pool;
} rig;

/* Zeroes grads, runs forward + backward; returns the mean loss. */
static double run(rig *r, int with_grad) {
    es_error e;
    double sum = 0;
    int n = 0;
    es_params_zero_grad(&r->t.ps);
    es_status s = es_t5_train_forward_backward(r->ws, &r->t.w, with_grad ? &r->t.g : NULL, &r->b,
                                               0.0f, NULL, 1.0f / (float)r->n_tok, &sum, &n, &e);
    CHECK(s == ES_OK, "forward_backward: %s", e.msg);
    CHECK(n == r->n_tok, "tokens %d, expected %d", n, r->n_tok);
    return sum / n;
}

static void rel_check(const char *what, double c, double r, double tol) {
    double rel = fabs(c - r) / fabs(r);
    CHECK(rel <= tol, "%s: %.9g vs fixture %.9g (relative %.3g > %.0e)", what, c, r, rel, tol);
    printf("  %-24s %.9g vs %.9g (relative %.2e)\n", what, c, r, rel);
}

static void test_checkpoint(const char *ckpt) {
    char rel[256];
    printf("%s\n", ckpt);
    snprintf(rel, sizeof rel, "t5/%s/grads.safetensors", ckpt);
    es_weights *g = open_st(fixture(rel));
    snprintf(rel, sizeof rel, "t5/%s", ckpt);
    es_model *m = NULL;
    es_error e;
    es_status s = es_model_load(&m, fixture(rel), NULL, &e);
    REQUIRE(g && s == ES_OK, "load %s: %s", ckpt, e.msg);

    rig r = {0};
    REQUIRE(es_t5_trainable_init(&r.t, m, 1, &e) == ES_OK, "trainable: %s", e.msg);
    CHECK(r.t.ps.n == (int)(es_weights_count(m->weights)), "%d tensors vs %zu in the checkpoint",
          r.t.ps.n, es_weights_count(m->weights));
    REQUIRE(es_pool_new(&r.pool, 2, &e) == ES_OK, "pool");
    size_t n_ids, n_dec;
    r.b.ids = get_i32(g, "input_ids", &n_ids);
    r.b.mask = get_i32(g, "attention_mask", &n_ids);
    r.b.dec_in = get_i32(g, "decoder_input_ids", &n_dec);
    r.b.labels = get_i32(g, "target_ids", &n_dec);
    r.b.B = (int)es_weights_find(g, "input_ids")->shape[0];
    r.b.S = (int)(n_ids / (size_t)r.b.B);
    r.b.T = (int)(n_dec / (size_t)r.b.B);
    for (size_t i = 0; i < n_dec; i++) r.n_tok += r.b.labels[i] != -100;
    REQUIRE(es_t5_tws_new(&r.ws, &r.t.cfg, r.pool, r.b.B, r.b.S, r.b.T, 0, &e) == ES_OK, "ws: %s",
            e.msg);
    es_params *ps = &r.t.ps;
    const size_t bytes = ps->total * sizeof(float);
    float *p0 = malloc(bytes), *g1 = malloc(bytes);
    memcpy(p0, ps->data, bytes);

    /* forward only, then gradients */
    double loss_fwd = run(&r, 0);
    double loss = run(&r, 1);
    CHECK(loss == loss_fwd, "forward-only loss %.9g != training loss %.9g", loss_fwd, loss);
    rel_check("loss", loss, scalar(g, "loss", 0), 1e-5);
    double gn = es_grad_norm(ps);
    rel_check("grad_norm", gn, scalar(g, "grad_norm", 0), 1e-4);
    check_grads(ps, ps->grad, g, "grad", "grad.*");
    memcpy(g1, ps->grad, bytes);

    /* determinism: one thread gives the same bits */
    {
        es_pool *p1 = NULL;
        es_t5_tws *w1 = NULL;
        REQUIRE(es_pool_new(&p1, 1, &e) == ES_OK, "pool1");
        REQUIRE(es_t5_tws_new(&w1, &r.t.cfg, p1, r.b.B, r.b.S, r.b.T, 0, &e) == ES_OK, "ws1");
        es_t5_tws *keep = r.ws;
        r.ws = w1;
        run(&r, 1);
        CHECK(memcmp(g1, ps->grad, bytes) == 0, "1 and 2 threads give different gradients");
        r.ws = keep;
        es_t5_tws_free(w1);
        es_pool_free(p1);
    }

    /* accumulation: two micro-batches (rows 0 | rows 1..B-1), each scaled by
     * 1/total tokens, sum to the full-batch gradient */
    {
        es_params_zero_grad(ps);
        es_t5_batch parts[2] = {r.b, r.b};
        parts[0].B = 1;
        parts[1].B = r.b.B - 1;
        parts[1].ids += r.b.S;
        parts[1].mask += r.b.S;
        parts[1].dec_in += r.b.T;
        parts[1].labels += r.b.T;
        double tot = 0;
        for (int k = 0; k < 2; k++) {
            double sum;
            int n;
            s = es_t5_train_forward_backward(r.ws, &r.t.w, &r.t.g, &parts[k], 0.0f, NULL,
                                             1.0f / (float)r.n_tok, &sum, &n, &e);
            CHECK(s == ES_OK, "micro-batch %d: %s", k, e.msg);
            tot += sum;
        }
        rel_check("loss (2 micro-batches)", tot / r.n_tok, scalar(g, "loss", 0), 1e-5);
        check_grads(ps, ps->grad, g, "grad", "grad.* (accumulated)");
    }

    /* grad2 at parameters stepped with the stored gradient */
    es_adamw opt;
    REQUIRE(es_adamw_init(&opt, ps, &e) == ES_OK, "adamw");
    {
        size_t n;
        for (int i = 0; i < ps->n; i++) {
            char name[256];
            snprintf(name, sizeof name, "grad.%s", ps->p[i].name);
            float *x = get_f32(g, name, &n);
            if (x) memcpy(ps->grad + ps->p[i].offset, x, ps->p[i].numel * sizeof(float));
            free(x);
        }
        es_adamw_step(&opt, ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
        double l2 = run(&r, 1);
        rel_check("loss2 (stored step 1)", l2, scalar(g, "loss2", 0), 1e-5);
        check_grads(ps, ps->grad, g, "grad2", "grad2.*");
    }

    /* end to end: own gradients + AdamW, two steps */
    memcpy(ps->data, p0, bytes);
    es_adamw_free(&opt);
    REQUIRE(es_adamw_init(&opt, ps, &e) == ES_OK, "adamw");
    run(&r, 1);
    es_adamw_step(&opt, ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
    check_e2e(ps, p0, g, "adamw1");
    rel_check("loss2", run(&r, 1), scalar(g, "loss2", 0), 1e-5);
    es_adamw_step(&opt, ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
    check_e2e(ps, p0, g, "adamw2");

    /* end to end with clipping at 1.0 */
    memcpy(ps->data, p0, bytes);
    es_adamw_free(&opt);
    REQUIRE(es_adamw_init(&opt, ps, &e) == ES_OK, "adamw");
    for (int step = 0; step < 2; step++) {
        double l = run(&r, 1);
        if (step == 1) rel_check("clip.loss2", l, scalar(g, "clip.loss2", 0), 1e-5);
        float coef;
        double norm = es_grad_clip(ps, 1.0f, &coef);
        char what[64];
        snprintf(what, sizeof what, "clip.grad_norm[%d]", step);
        rel_check(what, norm, scalar(g, "clip.grad_norm", step), 1e-4);
        snprintf(what, sizeof what, "clip.coef[%d]", step);
        rel_check(what, coef, scalar(g, "clip.coef", step), 1e-4);
        es_adamw_step(&opt, ps, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
    }
    check_e2e(ps, p0, g, "clip.adamw2");

    es_adamw_free(&opt);
    free(p0);
    free(g1);
    es_t5_tws_free(r.ws);
    es_pool_free(r.pool);
    es_t5_trainable_free(&r.t);
    es_model_free(m);
    es_weights_free(g);
}

int main(void) {
    test_checkpoint("tiny-v1");
    test_checkpoint("tiny-v11");
    TEST_MAIN_END();
}
