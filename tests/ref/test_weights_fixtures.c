/*
 * test_weights_fixtures.c — the safetensors reader on the shared fixture
 * checkpoints: tensor counts, dtypes and shapes from fixtures/README.md,
 * metadata, reference scalars of expected/grads.safetensors, and an
 * independent check of the F32 and BF16 weight values: AdamW step 1 with
 * zero moments moves every parameter to p*(1 - lr*wd) - lr*g/(|g| + eps),
 * and the reference stored that result (`adamw1.*`) computed from its own
 * fp32 upcast of the weights, so decoding a weight wrongly cannot pass.
 */
#include "io/weights.h"
#include "test.h"

/* test.h's REQUIRE evaluates its condition twice; MUST evaluates it once,
 * so calls with side effects can go inside. */
#define MUST(cond, ...)                                                       \
    do {                                                                      \
        int must_ok_ = (cond) ? 1 : 0;                                        \
        REQUIRE(must_ok_, __VA_ARGS__);                                       \
    } while (0)

#include <math.h>

static const es_tensor_view *need(const es_weights *w, const char *name) {
    const es_tensor_view *t = es_weights_find(w, name);
    MUST(t != NULL, "tensor %s missing", name);
    return t;
}

static void check_shape(const es_weights *w, const char *name, es_dtype dt, int ndim,
                        int64_t d0, int64_t d1) {
    const es_tensor_view *t = need(w, name);
    CHECK(t->dtype == dt, "%s: dtype %s", name, es_dtype_name(t->dtype));
    CHECK(t->ndim == ndim, "%s: ndim %d", name, t->ndim);
    CHECK(t->shape[0] == d0, "%s: shape[0] %lld want %lld", name, (long long)t->shape[0],
          (long long)d0);
    if (ndim > 1)
        CHECK(t->shape[1] == d1, "%s: shape[1] %lld want %lld", name, (long long)t->shape[1],
              (long long)d1);
    CHECK(t->nbytes == es_tensor_numel(t) * es_dtype_size(t->dtype), "%s: nbytes", name);
}

static float *to_f32(const es_tensor_view *t) {
    size_t n = es_tensor_numel(t);
    float *x = malloc((n ? n : 1) * sizeof *x);
    MUST(x, "malloc");
    es_error err = {0};
    es_status s = es_tensor_to_f32(x, t, &err);
    MUST(s == ES_OK, "to_f32 %s: %s", t->name, err.msg);
    return x;
}

static float scalar(const es_weights *w, const char *name) {
    const es_tensor_view *t = need(w, name);
    float *x = to_f32(t);
    float v = x[0];
    free(x);
    return v;
}

static int32_t i32_at(const es_tensor_view *t, size_t i) {
    int32_t v;
    memcpy(&v, (const unsigned char *)t->data + 4 * i, 4);
    return v;
}

static es_weights *open_file(const char *path) {
    es_weights *w = NULL;
    es_error err = {0};
    MUST(es_weights_new(&w, &err) == ES_OK, "new");
    es_status s = es_safetensors_read(w, path, &err);
    MUST(s == ES_OK, "%s: %s", path, err.msg);
    es_weights_seal(w);
    return w;
}

/* p1 = p0*(1 - 1e-3*0.01) - 1e-3 * g / (|g| + 1e-8), per element, for every
 * tensor of the checkpoint whose adamw1 copy is complete. */
static void check_adamw_step1(const es_weights *model, const es_weights *grads, const char *ckpt) {
    size_t n_checked = 0, n_tensors = 0;
    double worst = 0;
    for (size_t i = 0; i < es_weights_count(model); i++) {
        const es_tensor_view *p = es_weights_at(model, i);
        char gname[512], aname[512];
        snprintf(gname, sizeof gname, "grad.%s", p->name);
        snprintf(aname, sizeof aname, "adamw1.%s", p->name);
        const es_tensor_view *g = need(grads, gname), *a = need(grads, aname);
        if (es_tensor_numel(a) != es_tensor_numel(p)) continue; /* row subset */
        float *pv = to_f32(p), *gv = to_f32(g), *av = to_f32(a);
        size_t n = es_tensor_numel(p);
        for (size_t k = 0; k < n; k++) {
            double ref = (double)pv[k] * (1.0 - 1e-5) -
                         1e-3 * (double)gv[k] / (fabs((double)gv[k]) + 1e-8);
            double d = fabs(ref - (double)av[k]);
            if (d > worst) worst = d;
            /* fp32 rounding of torch's update: a few ulp of |p|. */
            if (d > 1e-7 + 2e-6 * fabs((double)av[k])) {
                CHECK(0, "%s %s[%zu]: adamw1 %.9g, from weights %.9g", ckpt, p->name, k, av[k],
                      ref);
                break;
            }
        }
        n_checked += n;
        n_tensors++;
        free(pv);
        free(gv);
        free(av);
    }
    printf("%s: AdamW step-1 check over %zu tensors, %zu values, worst |diff| %.3g\n", ckpt,
           n_tensors, n_checked, worst);
    CHECK(n_tensors >= 40, "%s: only %zu tensors checked", ckpt, n_tensors);
}

int main(void) {
    es_error err = {0};
    const char *which = NULL;

    /* An empty buffer is not a safetensors file. (This call also makes the
     * static link pull in safetensors.o while src/core/stubs_tmp.c still
     * holds weak placeholders for the readers.) */
    CHECK(es_safetensors_parse(NULL, "", 0, "empty", &err) == ES_ERR_FORMAT, "empty buffer");

    /* tiny-v1: 47 tensors, F32, tied embeddings. */
    es_weights *v1 = NULL;
    es_status s = es_weights_open_dir(&v1, fixture("t5/tiny-v1"), &which, &err);
    MUST(s == ES_OK, "open tiny-v1: %s", err.msg);
    CHECK(strcmp(which, "model.safetensors") == 0, "which %s", which);
    CHECK(es_weights_count(v1) == 47, "tiny-v1 count %zu", es_weights_count(v1));
    for (size_t i = 0; i < es_weights_count(v1); i++)
        CHECK(es_weights_at(v1, i)->dtype == ES_DTYPE_F32, "tiny-v1 %s not F32",
              es_weights_at(v1, i)->name);
    check_shape(v1, "shared.weight", ES_DTYPE_F32, 2, 32128, 64);
    check_shape(v1, "encoder.block.0.layer.0.SelfAttention.q.weight", ES_DTYPE_F32, 2, 64, 64);
    check_shape(v1, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                ES_DTYPE_F32, 2, 32, 4);
    check_shape(v1, "encoder.block.1.layer.1.DenseReluDense.wi.weight", ES_DTYPE_F32, 2, 128, 64);
    check_shape(v1, "decoder.block.1.layer.2.DenseReluDense.wo.weight", ES_DTYPE_F32, 2, 64, 128);
    check_shape(v1, "decoder.final_layer_norm.weight", ES_DTYPE_F32, 1, 64, 0);
    CHECK(es_weights_find(v1, "lm_head.weight") == NULL, "tied: no lm_head");
    CHECK(es_weights_find(v1, "encoder.block.1.layer.0.SelfAttention.relative_attention_bias."
                              "weight") == NULL,
          "bias only in block 0");
    const char *fmt = es_weights_get_meta(v1, "format");
    CHECK(fmt && strcmp(fmt, "pt") == 0, "format meta %s", fmt ? fmt : "(null)");
    CHECK(es_weights_file_bytes(v1) == 8889448, "file bytes %llu",
          (unsigned long long)es_weights_file_bytes(v1));
    size_t params = 0;
    for (size_t i = 0; i < es_weights_count(v1); i++)
        params += es_tensor_numel(es_weights_at(v1, i));
    CHECK(params == 2221056, "tiny-v1 parameters %zu", params);

    /* tiny-v11: 61 tensors, BF16, untied, 6 heads x 12 != d_model. */
    es_weights *v11 = NULL;
    s = es_weights_open_dir(&v11, fixture("t5/tiny-v11"), &which, &err);
    MUST(s == ES_OK, "open tiny-v11: %s", err.msg);
    CHECK(es_weights_count(v11) == 61, "tiny-v11 count %zu", es_weights_count(v11));
    for (size_t i = 0; i < es_weights_count(v11); i++)
        CHECK(es_weights_at(v11, i)->dtype == ES_DTYPE_BF16, "tiny-v11 %s not BF16",
              es_weights_at(v11, i)->name);
    check_shape(v11, "shared.weight", ES_DTYPE_BF16, 2, 32128, 48);
    check_shape(v11, "lm_head.weight", ES_DTYPE_BF16, 2, 32128, 48);
    check_shape(v11, "encoder.block.2.layer.0.SelfAttention.q.weight", ES_DTYPE_BF16, 2, 72, 48);
    check_shape(v11, "encoder.block.2.layer.0.SelfAttention.o.weight", ES_DTYPE_BF16, 2, 48, 72);
    check_shape(v11, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                ES_DTYPE_BF16, 2, 32, 6);
    check_shape(v11, "decoder.block.1.layer.2.DenseReluDense.wi_0.weight", ES_DTYPE_BF16, 2, 96,
                48);
    check_shape(v11, "decoder.block.1.layer.2.DenseReluDense.wi_1.weight", ES_DTYPE_BF16, 2, 96,
                48);
    check_shape(v11, "decoder.block.1.layer.2.DenseReluDense.wo.weight", ES_DTYPE_BF16, 2, 48, 96);
    params = 0;
    for (size_t i = 0; i < es_weights_count(v11); i++)
        params += es_tensor_numel(es_weights_at(v11, i));
    CHECK(params == 3251232, "tiny-v11 parameters %zu", params);
    /* BF16 -> F32 is the upper 16 bits: compare es_tensor_to_f32 with the
     * raw bits of one tensor (views may be unaligned: memcpy loads). */
    {
        const es_tensor_view *t = need(v11, "encoder.final_layer_norm.weight");
        float *x = to_f32(t);
        for (size_t k = 0; k < es_tensor_numel(t); k++) {
            uint16_t h;
            memcpy(&h, (const unsigned char *)t->data + 2 * k, 2);
            uint32_t u = (uint32_t)h << 16, xu;
            memcpy(&xu, &x[k], 4);
            CHECK(u == xu, "bf16 element %zu", k);
            /* layer norm weights are 1 + N(0, 0.1) */
            CHECK(x[k] > 0.3f && x[k] < 1.7f, "layer norm weight %zu = %g", k, x[k]);
        }
        free(x);
    }

    /* expected.safetensors: 22 tensors F32/I32 and JSON-valued metadata. */
    es_weights *e1 = open_file(fixture("t5/tiny-v1/expected.safetensors"));
    es_weights *e11 = open_file(fixture("t5/tiny-v11/expected.safetensors"));
    CHECK(es_weights_count(e1) == 22, "expected count %zu", es_weights_count(e1));
    const char *fv = es_weights_get_meta(e1, "fixture_version");
    CHECK(fv && strcmp(fv, "1") == 0, "fixture_version");
    const char *texts = es_weights_get_meta(e11, "texts");
    CHECK(texts && strstr(texts, "Ishmael") != NULL, "texts metadata");
    {
        const es_tensor_view *il = need(e1, "input_lengths");
        CHECK(il->dtype == ES_DTYPE_I32 && il->ndim == 1 && il->shape[0] == 3, "input_lengths");
        CHECK(i32_at(il, 0) == 134 && i32_at(il, 1) == 20 && i32_at(il, 2) == 9,
              "input_lengths %d %d %d", i32_at(il, 0), i32_at(il, 1), i32_at(il, 2));
        const es_tensor_view *tl = need(e11, "target_lengths");
        CHECK(i32_at(tl, 0) == 35 && i32_at(tl, 1) == 23 && i32_at(tl, 2) == 2, "target_lengths");
        const es_tensor_view *tf = need(e1, "tf_logits");
        CHECK(tf->ndim == 3 && tf->shape[0] == 1 && tf->shape[1] == 35 && tf->shape[2] == 32128,
              "tf_logits shape");
        const es_tensor_view *g = need(e11, "greedy_ids");
        static const int32_t greedy0[16] = {7997,  8282,  20846, 32051, 11822, 23543,
                                            1264,  26782, 25556, 25313, 18593, 17149,
                                            27415, 10960, 15548, 21642};
        for (int k = 0; k < 16; k++) CHECK(i32_at(g, (size_t)k) == greedy0[k], "greedy %d", k);
        float *lp = to_f32(need(e11, "target_logprob"));
        CHECK(fabsf(lp[0] + 1033.711f) < 2e-3f && fabsf(lp[1] + 684.240f) < 2e-3f &&
                  fabsf(lp[2] + 67.011f) < 2e-3f,
              "target_logprob %g %g %g", lp[0], lp[1], lp[2]);
        free(lp);
    }

    /* grads.safetensors: 246 / 316 tensors; reference scalars. */
    es_weights *g1 = open_file(fixture("t5/tiny-v1/grads.safetensors"));
    es_weights *g11 = open_file(fixture("t5/tiny-v11/grads.safetensors"));
    CHECK(es_weights_count(g1) == 246, "grads v1 count %zu", es_weights_count(g1));
    CHECK(es_weights_count(g11) == 316, "grads v11 count %zu", es_weights_count(g11));
    CHECK(fabsf(scalar(g1, "loss") - 10.685993f) < 1e-5f, "loss v1");
    CHECK(fabsf(scalar(g11, "loss") - 29.749370f) < 1e-5f, "loss v11");
    CHECK(fabsf(scalar(g1, "grad_norm") - 2.6581016f) < 1e-6f, "grad_norm v1");
    CHECK(fabsf(scalar(g11, "loss2") - 24.679335f) < 1e-5f, "loss2 v11");
    /* README: grads' loss equals expected's tf_loss bit for bit (tiny-v1). */
    CHECK(scalar(g1, "loss") == scalar(e1, "tf_loss"), "loss vs tf_loss");

    check_adamw_step1(v1, g1, "tiny-v1");
    check_adamw_step1(v11, g11, "tiny-v11");

    es_weights_free(v1);
    es_weights_free(v11);
    es_weights_free(e1);
    es_weights_free(e11);
    es_weights_free(g1);
    es_weights_free(g11);
    TEST_MAIN_END();
}
