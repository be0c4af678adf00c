/*
 * Whole-model finite-difference check of the ByteTransformer and
 * ByteFunnelTransformer classifiers: every parameter tensor of tiny models
 * (bottleneck + ReLU, GBST with 3 block widths and down-sampling, learned
 * positions, 2–3 pre-norm layers with 2 heads, GELU FFN, attention and
 * residual dropout, final LayerNorm, attention pooling, 3 labels) against
 * central differences of the mean softmax cross-entropy over a batch of
 * inputs of different lengths (one empty). The funnel variants pool the
 * query stream before layers given by pool_windows, including the first.
 * Dropout masks are fixed by re-seeding the RNG per forward (the attention
 * mask seed is drawn from it); bottleneck biases are nudged so no ReLU
 * pre-activation sits near the kink (keep_off_kink).
 */
#include "gradcheck.h"

#include "model/byte_model.h"
#include "nn/params.h"
#include "train/loss.h"

#include <stdlib.h>
#include <string.h>

/* Step 2^-7 (exact offsets for |x| < 1). Attention softmaxes make these
 * models more curved than the QRNN: a plain central difference with
 * eps = 1e-2 already spends up to 0.8 of the gradcheck.h tolerance on its
 * O(eps^2 f''') truncation term (measured on the funnel-w3 case), and a
 * smaller eps drowns the tiniest gradients (gbst.score.weight ~1e-3) in
 * float round-off. Richardson extrapolation of two central differences,
 * (4·D(h) − D(2h)) / 3, cancels the eps² term (truncation O(eps⁴)) while
 * keeping the round-off of a step this large; same tolerance rule as
 * gc_check (gradcheck.h). */
#define GC_EPS 0.0078125f

static double gc_check4(const char *what, gc_loss_fn f, void *ctx, float *x, const float *g,
                        size_t n, float eps, size_t max_checks) {
    /* evenly spaced over the valid elements (all when gc_valid is NULL) */
    size_t nv = 0, cnt = 0, worst_i = 0;
    for (size_t i = 0; i < n; i++) nv += !gc_valid || gc_valid[i];
    size_t stride = nv > max_checks ? nv / max_checks : 1;
    static double numv[4096];
    static size_t idxv[4096];
    double maxnum = 0.0, worst = 0.0, worst_a = 0.0, worst_n = 0.0;
    for (size_t i = 0, v = 0; i < n && cnt < 4096; i++) {
        if (gc_valid && !gc_valid[i]) continue;
        if (v++ % stride) continue;
        float x0 = x[i], p1 = x0 + eps, m1 = x0 - eps, p2 = x0 + 2 * eps, m2 = x0 - 2 * eps;
        double fv[4];
        float at[4] = {p1, m1, p2, m2};
        for (int k = 0; k < 4; k++) {
            x[i] = at[k];
            fv[k] = f(ctx);
        }
        x[i] = x0;
        double d1 = (fv[0] - fv[1]) / ((double)p1 - (double)m1);
        double d2 = (fv[2] - fv[3]) / ((double)p2 - (double)m2);
        double num = (4.0 * d1 - d2) / 3.0;
        numv[cnt] = num;
        idxv[cnt++] = i;
        maxnum = fmax(maxnum, fabs(num));
    }
    for (size_t k = 0; k < cnt; k++) {
        double a = g[idxv[k]], num = numv[k];
        double r = fabs(a - num) / (1e-3 * maxnum + 1e-2 * fabs(num) + 1e-7);
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
    printf("  %-34s n=%-6zu checked=%-5zu max|g|=%.3g worst err/allowed=%.3f\n", what, n, cnt,
           maxnum, worst);
    return worst;
}

typedef struct {
    es_byte_model *m;
    es_byte_ws *ws;
    const uint8_t **bytes;
    size_t *lens;
    int B;
    int32_t *labels;
    float *logits, *dlogits;
} model_ctx;

static double model_loss(void *c) {
    model_ctx *k = c;
    es_rng rng;
    es_rng_seed(&rng, 77);
    es_error e;
    es_status s = es_byte_forward(k->ws, k->m, k->bytes, k->lens, k->B, 1, &rng, k->logits, &e);
    REQUIRE(s == ES_OK, "forward: %s", e.msg);
    int V = es_byte_model_config(k->m)->n_labels;
    return es_softmax_ce(k->dlogits, k->logits, k->labels, k->B, V, -100, 1.0f / (float)k->B,
                         NULL, NULL) / k->B;
}

/* Moves bottleneck biases so that no ReLU pre-activation of a byte the
 * inputs use lies within 0.05 of the kink: the checks perturb one
 * parameter by up to 2·GC_EPS, which moves a pre-activation by < 0.02, so
 * no difference quotient straddles the kink (where the derivative jumps
 * and finite differences are meaningless). */
static void keep_off_kink(es_byte_model *m, const uint8_t *const *bytes, const size_t *lens,
                          int B) {
    const es_byte_config *c = es_byte_model_config(m);
    es_params *ps = es_byte_model_params(m);
    int iw = es_params_find(ps, "bottleneck.weight"), ib = es_params_find(ps, "bottleneck.bias");
    if (iw < 0) return;
    int E = c->d_embed, D = c->d_model;
    const float *emb = es_params_data(ps, es_params_find(ps, "embed.weight"));
    const float *W = es_params_data(ps, iw);
    float *bias = es_params_data(ps, ib);
    for (int d = 0; d < D; d++) {
        for (int tries = 0; tries < 50; tries++) {
            double closest = 1e9;
            for (int b = 0; b < B; b++)
                for (size_t t = 0; t < lens[b]; t++) {
                    const float *e = emb + (size_t)bytes[b][t] * (size_t)E;
                    double pre = bias[d];
                    for (int i = 0; i < E; i++) pre += (double)W[d * E + i] * e[i];
                    closest = fmin(closest, fabs(pre));
                }
            if (closest >= 0.05) break;
            bias[d] += 0.037f;
        }
    }
}

static double run(es_byte_config *cfg, const char *tag) {
    es_error e;
    es_byte_model *m = NULL;
    es_status s = es_byte_model_new(&m, cfg, 3, &e);
    REQUIRE(s == ES_OK, "new: %s", e.msg);
    s = es_byte_model_enable_grad(m, &e);
    REQUIRE(s == ES_OK, "grad: %s", e.msg);
    es_params *ps = es_byte_model_params(m);
    /* LayerNorm gains/biases and zero-initialised biases start at values
     * where some terms vanish (g = 1, b = 0): move every parameter off its
     * initial value so each gradient term is exercised. */
    unsigned st = 31;
    float *jit = malloc(ps->total * sizeof(float));
    gc_fill(jit, ps->total, &st, -0.2f, 0.2f);
    for (size_t i = 0; i < ps->total; i++) ps->data[i] += jit[i];
    free(jit);
    es_byte_ws *ws = NULL;
    s = es_byte_ws_new(&ws, m, 4, cfg->max_bytes, 1, NULL, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    const char *txt[4] = {"Hello, world! Buy now!! Cheap $$$", "ham ham", "", "x"};
    const uint8_t *bytes[4];
    size_t lens[4];
    for (int i = 0; i < 4; i++) {
        bytes[i] = (const uint8_t *)txt[i];
        lens[i] = strlen(txt[i]);
    }
    keep_off_kink(m, bytes, lens, 4);
    int32_t labels[4] = {2, 0, 1, 1};
    float logits[16], dlogits[16];
    model_ctx k = {m, ws, bytes, lens, 4, labels, logits, dlogits};
    es_params_zero_grad(ps);
    model_loss(&k);
    s = es_byte_backward(ws, m, dlogits, &e);
    REQUIRE(s == ES_OK, "backward: %s", e.msg);
    float *g = malloc(ps->total * sizeof(float));
    memcpy(g, ps->grad, ps->total * sizeof(float));
    printf("%s: %zu parameters\n", tag, es_byte_model_n_params(m));
    double worst = 0.0;
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        char name[160];
        snprintf(name, sizeof name, "%s %s", tag, p->name);
        if (strcmp(p->name, "gbst.score.bias") == 0) {
            /* shifts all block scores equally: softmax cancels it exactly */
            CHECK(fabsf(g[p->offset]) < 1e-6f, "%s: %g, expected 0", name, (double)g[p->offset]);
            continue;
        }
        /* embedding rows of bytes the inputs do not use get no gradient:
         * check the used rows only (checking the others is vacuous) */
        unsigned char used[256 * 64];
        size_t budget = 24;
        if (strcmp(p->name, "embed.weight") == 0) {
            size_t E = (size_t)p->shape[1];
            memset(used, 0, 256 * E);
            for (int b = 0; b < 4; b++)
                for (size_t t = 0; t < lens[b]; t++) memset(used + bytes[b][t] * E, 1, E);
            gc_valid = used;
            budget = 64;
        }
        /* gbst.score.weight only moves the softmax over block widths: its
         * gradient is ~1e-3, 100× below the others, so float round-off
         * (~1e-7 of the loss / eps) is a large part of it; a 4× step cuts
         * that 4× and the O(eps⁴) truncation stays negligible. */
        float eps = strcmp(p->name, "gbst.score.weight") == 0 ? 4 * GC_EPS : GC_EPS;
        double w = gc_check4(name, model_loss, &k, ps->data + p->offset, g + p->offset, p->numel,
                             eps, budget);
        gc_valid = NULL;
        worst = w > worst ? w : worst;
    }
    printf("%s: worst err/allowed over all tensors = %.3f\n", tag, worst);
    free(g);
    es_byte_ws_free(ws);
    es_byte_model_free(m);
    return worst;
}

int main(void) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_TRANSFORMER);
    c.n_labels = 3;
    strcpy(c.labels[2], "2");
    c.max_bytes = 40;
    c.d_embed = 6;
    c.d_model = 8;
    c.gbst_kernel = 3;
    c.gbst_blocks = 3;
    c.downsample = 2;
    c.n_layers = 2;
    c.n_heads = 2;
    c.d_ff = 12;
    c.max_positions = 20;
    c.dropout = 0.1f;
    run(&c, "tf");

    es_byte_config f = c;
    f.encoder = ES_BYTE_FUNNEL;
    f.n_layers = 3;
    f.pool_windows[0] = 1;
    f.pool_windows[1] = 2;
    f.pool_windows[2] = 2;
    run(&f, "funnel");

    /* pooling before the first layer (keys from the GBST output), no
     * bottleneck, no down-sampling, no dropout, window 3 */
    f.d_embed = 0;
    f.downsample = 1;
    f.max_positions = 40;
    f.n_layers = 2;
    f.pool_windows[0] = 3;
    f.pool_windows[1] = 1;
    f.dropout = 0.0f;
    run(&f, "funnel-w3");
    TEST_MAIN_END();
}
