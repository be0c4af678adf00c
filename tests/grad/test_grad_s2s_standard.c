/*
 * Finite differences of a whole tiny byte seq2seq model with the STANDARD
 * decoder (decoder.self_attention = "standard": causal self-attention +
 * cross-attention + FFN per layer, src/model/byte_seq2seq_std.h; ByteQRNN
 * encoder, 2 decoder layers, symbol vocabulary): every decoder tensor and
 * every encoder tensor against the analytic gradient of the mean token
 * cross-entropy of a batch with target lengths {3, 0, 4} and inputs of
 * {5, 0, 2} bytes (an empty input and an empty target). The self-attention
 * k/v gradients flow back into the same rows' LayerNorm, so a wrong causal
 * bound or a missing k/v path shows up in ln1 and the embeddings.
 */
#include "gradcheck.h"

#include "model/byte_seq2seq.h"
#include "train/loss.h"

#include <stdlib.h>

typedef struct ctx {
    es_s2s_model *m;
    es_s2s_ws *ws;
    const uint8_t *src[3];
    size_t sl[3];
    const int32_t *tgt[3];
    size_t tl[3];
} ctx;

static double loss(void *p) {
    ctx *k = p;
    es_rng rng;
    es_rng_seed(&rng, 5);
    es_error e;
    es_status s = es_s2s_forward(k->ws, k->m, k->src, k->sl, k->tgt, k->tl, 3, 1, &rng, &e);
    REQUIRE(s == ES_OK, "forward: %s", e.msg);
    int rows;
    const int32_t *y;
    const float *lg = es_s2s_logits(k->ws, &rows, &y);
    int cnt = 0;
    double l = es_softmax_ce(NULL, lg, y, rows, es_s2s_model_vocab(k->m), -1, 0.0f, &cnt, NULL);
    return l / cnt;
}

static void check_params(ctx *k, es_params *ps, const char *what) {
    for (int i = 0; i < ps->n; i++) {
        if (strcmp(ps->p[i].name, "gbst.score.bias") == 0) {
            /* softmax over block widths is shift invariant: true gradient 0 */
            CHECK(fabsf(es_params_grad(ps, i)[0]) < 1e-6f, "gbst.score.bias grad %g",
                  (double)es_params_grad(ps, i)[0]);
            continue;
        }
        char name[160];
        snprintf(name, sizeof name, "%s %s", what, ps->p[i].name);
        /* q/k gradients are ~1e-3: a larger step keeps float noise in the
         * loss (~1e-7 relative) below the tolerance; the functions are
         * smooth, so the O(eps²) truncation stays small */
        float eps = strstr(ps->p[i].name, "cross_attn.q.") || strstr(ps->p[i].name, "cross_attn.k.") ? 5e-2f
                                                                                            : 1e-2f;
        gc_check(name, loss, k, es_params_data(ps, i), es_params_grad(ps, i), ps->p[i].numel, eps,
                 60);
    }
}

int main(void) {
    static const char *syms[] = {"A", "B", "C", "D", "E"};
    es_s2s_config c;
    es_s2s_config_default(&c);
    c.enc.d_model = 6;
    c.enc.qrnn_hidden = 4;
    c.enc.qrnn_layers = 1;
    c.enc.gbst_blocks = 2;
    c.enc.gbst_kernel = 2;
    c.enc.zoneout = 0.0f;
    c.enc.dropout = 0.0f;
    c.enc.max_bytes = 16;
    c.d_model = 8;
    c.n_layers = 2;
    c.n_heads = 2;
    c.d_ff = 12;
    c.max_out = 6;
    c.n_symbols = 5;
    c.symbols = syms;
    c.self_attention = ES_S2S_SELF_STANDARD;
    ctx k;
    memset(&k, 0, sizeof k);
    es_error e;
    REQUIRE(es_s2s_model_new(&k.m, &c, 3, &e) == ES_OK, "model: %s", e.msg);
    REQUIRE(es_s2s_model_enable_grad(k.m, &e) == ES_OK, "grad: %s", e.msg);
    REQUIRE(es_s2s_ws_new(&k.ws, k.m, 3, 1, 1, NULL, &e) == ES_OK, "ws: %s", e.msg);
    static const uint8_t s0[] = {'h', 'e', 'l', 'l', 'o'}, s2[] = {0xff, 'x'};
    static const int32_t t0[] = {1, 4, 2}, t2[] = {0, 3, 3, 1};
    k.src[0] = s0; k.sl[0] = 5;
    k.src[1] = NULL; k.sl[1] = 0;
    k.src[2] = s2; k.sl[2] = 2;
    k.tgt[0] = t0; k.tl[0] = 3;
    k.tgt[1] = NULL; k.tl[1] = 0;
    k.tgt[2] = t2; k.tl[2] = 4;
    /* Sharper cross-attention than at init: with near-uniform attention
     * its q/k gradients are ~1e-3 and float noise in the loss would
     * dominate. Self-attention is left as initialised: its queries and
     * keys come from the same unit-variance LayerNorm rows, so its q/k
     * gradients are already ~1e-2, and sharpening it 4×4 saturates the
     * softmax so much that the O(eps²) truncation error of the difference
     * quotient (not the analytic gradient) exceeds the tolerance. */
    es_params *pd0 = es_s2s_model_dec_params(k.m);
    for (int i = 0; i < pd0->n; i++)
        if (strstr(pd0->p[i].name, "cross_attn.q.") || strstr(pd0->p[i].name, "cross_attn.k."))
            for (size_t j = 0; j < pd0->p[i].numel; j++) es_params_data(pd0, i)[j] *= 4.0f;
    /* analytic gradient */
    es_params *pe = es_s2s_model_enc_params(k.m), *pd = es_s2s_model_dec_params(k.m);
    es_params_zero_grad(pe);
    es_params_zero_grad(pd);
    loss(&k);
    int rows;
    const int32_t *y;
    const float *lg = es_s2s_logits(k.ws, &rows, &y);
    int cnt = 0;
    es_softmax_ce(NULL, lg, y, rows, es_s2s_model_vocab(k.m), -1, 0.0f, &cnt, NULL);
    es_softmax_ce(es_s2s_dlogits(k.ws), lg, y, rows, es_s2s_model_vocab(k.m), -1, 1.0f / cnt,
                  &cnt, NULL);
    REQUIRE(es_s2s_backward(k.ws, k.m, &e) == ES_OK, "backward: %s", e.msg);
    int n_std = 0;
    for (int i = 0; i < pd->n; i++) n_std += strstr(pd->p[i].name, "self_attn.") != NULL;
    CHECK(n_std == 8, "%d self_attn tensors (a merged model?)", n_std);
    CHECK(cnt == 3 + 1 + 0 + 1 + 4 + 1, "counted %d target tokens", cnt);
    /* the start id is never a target: its output bias gets no gradient
     * except through the softmax normaliser (so it is non-zero); the
     * checks below cover it with every other element. */
    check_params(&k, pd, "dec");
    check_params(&k, pe, "enc");
    es_s2s_ws_free(k.ws);
    es_s2s_model_free(k.m);
    TEST_MAIN_END();
}
