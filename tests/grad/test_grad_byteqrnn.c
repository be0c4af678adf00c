/*
 * Whole-model finite-difference check of the ByteQRNN classifier: every
 * parameter tensor of a tiny model (bottleneck + ReLU, GBST with 3 block
 * widths and down-sampling 2, two bidirectional QRNN layers with zoneout,
 * dropout, 3 labels) against central differences of the mean softmax
 * cross-entropy over a batch of inputs of different lengths (one empty).
 * Zoneout/dropout masks are fixed by re-seeding the RNG per forward; the
 * ReLU kink is avoided by the check's step (1e-3) being far below the
 * typical pre-activation (O(0.1..1)); elements within 2ε of the kink would
 * show up as isolated failures and are reported by index.
 */
#include "gradcheck.h"

#include "model/byte_model.h"
#include "nn/params.h"
#include "train/loss.h"

#include <stdlib.h>

/* Step: 1e-2 keeps float round-off of the O(1) loss (~1e-7 per evaluation)
 * at ~1e-5 in the difference quotient, below the smallest gradients that
 * matter here (pool.weight ~1e-4); the truncation error O(eps^2 f''') stays
 * ~1e-5 on these smooth maps. */
#define GC_EPS 1e-2f
#include <string.h>

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

static void run(es_byte_config *cfg, const char *tag) {
    es_error e;
    es_byte_model *m = NULL;
    /* (REQUIRE evaluates its condition twice: keep calls out of it) */
    es_status s = es_byte_model_new(&m, cfg, 3, &e);
    REQUIRE(s == ES_OK, "new: %s", e.msg);
    s = es_byte_model_enable_grad(m, &e);
    REQUIRE(s == ES_OK, "grad: %s", e.msg);
    es_byte_ws *ws = NULL;
    s = es_byte_ws_new(&ws, m, 4, cfg->max_bytes, 1, NULL, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    const char *txt[4] = {"Hello, world! Buy now!!", "ham ham", "", "x"};
    const uint8_t *bytes[4];
    size_t lens[4];
    for (int i = 0; i < 4; i++) {
        bytes[i] = (const uint8_t *)txt[i];
        lens[i] = strlen(txt[i]);
    }
    int32_t labels[4] = {2, 0, 1, 1};
    float logits[16], dlogits[16];
    model_ctx k = {m, ws, bytes, lens, 4, labels, logits, dlogits};
    es_params *ps = es_byte_model_params(m);
    /* analytic */
    es_params_zero_grad(ps);
    model_loss(&k);
    s = es_byte_backward(ws, m, dlogits, &e);
    REQUIRE(s == ES_OK, "backward: %s", e.msg);
    float *g = malloc(ps->total * sizeof(float));
    memcpy(g, ps->grad, ps->total * sizeof(float));
    printf("%s: %zu parameters\n", tag, es_byte_model_n_params(m));
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        char name[160];
        snprintf(name, sizeof name, "%s %s", tag, p->name);
        /* Rows of the byte embedding that no input uses have zero gradient:
         * checking them is vacuous but harmless. */
        if (strcmp(p->name, "gbst.score.bias") == 0) {
            /* shifts all block scores equally: softmax cancels it exactly */
            CHECK(fabsf(g[p->offset]) < 1e-6f, "%s: %g, expected 0", name, (double)g[p->offset]);
            continue;
        }
        gc_check(name, model_loss, &k, ps->data + p->offset, g + p->offset, p->numel, GC_EPS, 300);
    }
    free(g);
    es_byte_ws_free(ws);
    es_byte_model_free(m);
}

int main(void) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    c.n_labels = 3;
    strcpy(c.labels[2], "2");
    c.max_bytes = 32;
    c.d_embed = 6;
    c.d_model = 8;
    c.gbst_kernel = 3;
    c.gbst_blocks = 3;
    c.downsample = 2;
    c.qrnn_layers = 2;
    c.qrnn_hidden = 5;
    c.qrnn_kernel = 2;
    c.zoneout = 0.2f;
    c.dropout = 0.1f;
    run(&c, "qrnn");
    /* unidirectional, no bottleneck, no down-sampling, no regularisation */
    c.d_embed = 0;
    c.qrnn_bidirectional = 0;
    c.downsample = 1;
    c.qrnn_layers = 1;
    c.zoneout = 0.0f;
    c.dropout = 0.0f;
    c.qrnn_kernel = 3;
    run(&c, "qrnn-uni");
    TEST_MAIN_END();
}
