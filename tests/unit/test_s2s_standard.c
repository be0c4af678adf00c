/*
 * The standard self-attention decoder (decoder.self_attention =
 * "standard", src/model/byte_seq2seq_std.h), untrained weights:
 *  - step-wise decoding (per-layer K/V cache) gives the teacher-forced
 *    logits at every position, on 3 rows at once, for a ByteQRNN and a
 *    ByteTransformer encoder, bytes and symbols, and an empty input;
 *  - causality: changing a later target leaves earlier teacher-forced
 *    logits bit-identical, and changes later ones;
 *  - beam reordering: rows decoded with different prefixes, then
 *    reordered, continue exactly as a fresh decode of the parent's prefix;
 *  - a skipped position and position max_out are refused;
 *  - config round trip: "standard" survives save → load (tensor names of
 *    byte_seq2seq_std.h), a bad value is ES_ERR_FORMAT, and the merged
 *    default is unchanged; beam search through the public session runs;
 *  - parameter count = merged + n_layers·(3·D² + 2·D).
 */
#include "test.h"

#include "edgeseq.h"
#include "model/byte_seq2seq.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *syms[] = {"AA0", "AA1", "B", "CH", "D", "EH1", "ER0", "F", "G", "HH"};

static es_s2s_model *tiny(int transformer, int symbols, int standard, uint64_t seed) {
    es_s2s_config c;
    es_s2s_config_default(&c);
    if (transformer) {
        es_byte_config_default(&c.enc, ES_BYTE_TRANSFORMER);
        c.enc.n_labels = 0;
        c.enc.d_model = 16;
        c.enc.n_heads = 2;
        c.enc.d_ff = 24;
        c.enc.n_layers = 1;
        c.enc.downsample = 2;
        c.enc.max_bytes = 64;
        c.enc.max_positions = 32;
    } else {
        c.enc.d_model = 12;
        c.enc.qrnn_hidden = 8;
        c.enc.max_bytes = 64;
    }
    c.d_model = 16;
    c.n_layers = 2;
    c.n_heads = 4;
    c.d_ff = 32;
    c.max_out = 12;
    c.self_attention = standard ? ES_S2S_SELF_STANDARD : ES_S2S_SELF_MERGED;
    if (symbols) {
        c.n_symbols = 10;
        c.symbols = syms;
    }
    es_s2s_model *m = NULL;
    es_error e;
    es_status s = es_s2s_model_new(&m, &c, seed, &e);
    REQUIRE(s == ES_OK, "model: %s", e.msg);
    return m;
}

/* Teacher-forced logits of one example (rows 0..tl), copied out. */
static float *tf_logits(es_s2s_ws *ws, es_s2s_model *m, const char *input, const int32_t *tgt,
                        size_t tl) {
    es_error e;
    size_t n = strlen(input);
    const uint8_t *src[1] = {(const uint8_t *)input};
    const int32_t *tp[1] = {tgt};
    REQUIRE(es_s2s_forward(ws, m, src, &n, tp, &tl, 1, 0, NULL, &e) == ES_OK, "fwd: %s", e.msg);
    int rows;
    const int32_t *y;
    const float *lg = es_s2s_logits(ws, &rows, &y);
    const int V = es_s2s_model_vocab(m);
    float *out = malloc((size_t)rows * V * sizeof(float));
    memcpy(out, lg, (size_t)rows * V * sizeof(float));
    return out;
}

static void step_equals_forward(int transformer, int symbols, const char *input) {
    es_s2s_model *m = tiny(transformer, symbols, 1, 11);
    const int V = es_s2s_model_vocab(m);
    es_s2s_ws *ws = NULL;
    es_error e;
    REQUIRE(es_s2s_ws_new(&ws, m, 1, 3, 0, NULL, &e) == ES_OK, "ws: %s", e.msg);
    int32_t tgt[11];
    for (int i = 0; i < 11; i++) tgt[i] = (i * 7 + 3) % (V - 2);
    float *tf = tf_logits(ws, m, input, tgt, 11);
    REQUIRE(es_s2s_prime(ws, m, (const uint8_t *)input, strlen(input), &e) == ES_OK, "prime: %s",
            e.msg);
    es_dec_model dm = es_s2s_dec_model(ws);
    double worst = 0, mabs = 0;
    int32_t tok[3];
    const float *lg;
    /* all 12 positions (= max_out): the cache holds exactly max_out */
    for (int t = 0; t < 12; t++) {
        for (int r = 0; r < 3; r++) tok[r] = t == 0 ? ES_S2S_START : tgt[t - 1] + ES_S2S_N_SPECIAL;
        REQUIRE(dm.step(dm.ctx, &lg, tok, 3, t, &e) == ES_OK, "step: %s", e.msg);
        for (int r = 0; r < 3; r++)
            for (int v = 1; v < V; v++) {
                double d = fabs((double)lg[(size_t)r * V + v] - tf[(size_t)t * V + v]);
                worst = d > worst ? d : worst;
                mabs = fabs(tf[(size_t)t * V + v]) > mabs ? fabs(tf[(size_t)t * V + v]) : mabs;
            }
        CHECK(isinf(lg[0]) && lg[0] < 0, "start id not masked");
    }
    printf("  standard, %s, %s, input %zu bytes: max |step - teacher forcing| = %.3g (max |logit| "
           "%.3g)\n", transformer ? "bytetransformer" : "byteqrnn", symbols ? "symbols" : "bytes",
           strlen(input), worst, mabs);
    CHECK(worst <= 2e-5 * (1.0 + mabs), "step-wise logits differ by %g", worst);
    CHECK(dm.step(dm.ctx, &lg, tok, 1, 12, &e) == ES_ERR_ARG, "position max_out accepted");
    /* after priming again, position 3 without 0..2 is refused */
    REQUIRE(es_s2s_prime(ws, m, (const uint8_t *)input, strlen(input), &e) == ES_OK, "%s", e.msg);
    CHECK(dm.step(dm.ctx, &lg, tok, 1, 3, &e) == ES_ERR_ARG, "skipped positions accepted");
    printf("  skipped position: %s\n", e.msg);
    free(tf);
    es_s2s_ws_free(ws);
    es_s2s_model_free(m);
}

static void causality(void) {
    es_s2s_model *m = tiny(1, 1, 1, 5);
    const int V = es_s2s_model_vocab(m);
    es_s2s_ws *ws = NULL;
    es_error e;
    REQUIRE(es_s2s_ws_new(&ws, m, 1, 1, 0, NULL, &e) == ES_OK, "ws: %s", e.msg);
    int32_t a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 2, 3, 9, 5, 6};
    float *la = tf_logits(ws, m, "causal", a, 6), *lb = tf_logits(ws, m, "causal", b, 6);
    /* target 3 is the decoder input of position 4: rows 0..3 must not see it */
    CHECK(!memcmp(la, lb, (size_t)4 * V * sizeof(float)), "positions < 4 depend on a later input");
    double d = 0;
    for (int i = 4 * V; i < 7 * V; i++) d += fabs((double)la[i] - lb[i]);
    CHECK(d > 1e-3, "positions >= 4 ignore their input (sum |diff| %g)", d);
    free(la);
    free(lb);
    es_s2s_ws_free(ws);
    es_s2s_model_free(m);
}

/* Rows 0..2 decode different prefixes; reorder (2, 0, 0); each new row
 * must then produce exactly the logits of a fresh 1-row decode of its
 * parent's prefix. */
static void reorder_matches_fresh(void) {
    es_s2s_model *m = tiny(1, 1, 1, 9);
    const int V = es_s2s_model_vocab(m);
    es_s2s_ws *ws = NULL, *ws1 = NULL;
    es_error e;
    REQUIRE(es_s2s_ws_new(&ws, m, 1, 3, 0, NULL, &e) == ES_OK, "ws: %s", e.msg);
    REQUIRE(es_s2s_ws_new(&ws1, m, 1, 1, 0, NULL, &e) == ES_OK, "ws: %s", e.msg);
    const char *in = "reorder";
    const int32_t pre[3][4] = {{ES_S2S_START, 2, 3, 4}, {ES_S2S_START, 5, 6, 7},
                               {ES_S2S_START, 8, 9, 10}};
    const int32_t parent[3] = {2, 0, 0}, next[3] = {11, 3, 5};
    REQUIRE(es_s2s_prime(ws, m, (const uint8_t *)in, strlen(in), &e) == ES_OK, "%s", e.msg);
    es_dec_model dm = es_s2s_dec_model(ws);
    const float *lg;
    int32_t tok[3];
    for (int t = 0; t < 4; t++) {
        for (int r = 0; r < 3; r++) tok[r] = pre[r][t];
        REQUIRE(dm.step(dm.ctx, &lg, tok, 3, t, &e) == ES_OK, "%s", e.msg);
    }
    REQUIRE(dm.reorder(dm.ctx, parent, 3, &e) == ES_OK, "reorder: %s", e.msg);
    float got[3][64];
    REQUIRE(V <= 64, "vocab");
    for (int t = 4; t < 6; t++) {
        REQUIRE(dm.step(dm.ctx, &lg, next, 3, t, &e) == ES_OK, "%s", e.msg);
        if (t == 5)
            for (int r = 0; r < 3; r++) memcpy(got[r], lg + (size_t)r * V, (size_t)V * sizeof(float));
    }
    es_dec_model d1 = es_s2s_dec_model(ws1);
    for (int r = 0; r < 3; r++) {
        REQUIRE(es_s2s_prime(ws1, m, (const uint8_t *)in, strlen(in), &e) == ES_OK, "%s", e.msg);
        for (int t = 0; t < 6; t++) {
            int32_t x = t < 4 ? pre[parent[r]][t] : next[r];
            REQUIRE(d1.step(d1.ctx, &lg, &x, 1, t, &e) == ES_OK, "%s", e.msg);
        }
        double worst = 0;
        for (int v = 1; v < V; v++) {
            double d = fabs((double)lg[v] - got[r][v]);
            worst = d > worst ? d : worst;
        }
        CHECK(worst <= 1e-5, "row %d after reorder differs from a fresh decode by %g", r, worst);
    }
    printf("  reorder (2, 0, 0) then 2 steps == fresh decodes of the parents' prefixes\n");
    es_s2s_ws_free(ws);
    es_s2s_ws_free(ws1);
    es_s2s_model_free(m);
}

static void folder_and_session(void) {
    char dir[] = "/tmp/es_s2s_std_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    es_s2s_model *m = tiny(1, 1, 1, 21), *mm = tiny(1, 1, 0, 21);
    const size_t D = 16, NL = 2;
    CHECK(es_s2s_model_n_params(m) == es_s2s_model_n_params(mm) + NL * (3 * D * D + 2 * D),
          "params standard %zu merged %zu", es_s2s_model_n_params(m), es_s2s_model_n_params(mm));
    printf("  parameters: standard %zu, merged %zu\n", es_s2s_model_n_params(m),
           es_s2s_model_n_params(mm));
    es_error e;
    char *json = NULL;
    REQUIRE(es_s2s_config_to_json(mm, &json, &e) == ES_OK, "%s", e.msg);
    CHECK(strstr(json, "\"self_attention\": \"merged\""), "merged config: %s", json);
    es_free(json);
    REQUIRE(es_s2s_model_save_dir(m, dir, &e) == ES_OK, "save: %s", e.msg);
    es_s2s_model *m2 = NULL;
    REQUIRE(es_s2s_model_load_dir(&m2, dir, &e) == ES_OK, "load: %s", e.msg);
    CHECK(es_s2s_model_config(m2)->self_attention == ES_S2S_SELF_STANDARD, "variant lost");
    es_params *p1 = es_s2s_model_dec_params(m), *p2 = es_s2s_model_dec_params(m2);
    CHECK(p1->total == p2->total && !memcmp(p1->data, p2->data, p1->total * sizeof(float)),
          "weights differ after reload");
    int has = 0;
    for (int i = 0; i < p2->n; i++) has += !strcmp(p2->p[i].name, "dec.layers.1.cross_attn.k.weight");
    CHECK(has == 1, "tensor name dec.layers.1.cross_attn.k.weight missing");
    es_s2s_model_free(m2);
    /* public API: greedy, float and uint8 beam 4 on the folder */
    es_model *pm = NULL;
    REQUIRE(es_model_load(&pm, dir, NULL, &e) == ES_OK, "es_model_load: %s", e.msg);
    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.n_threads = 1;
    es_session *s = NULL;
    REQUIRE(es_session_new(&s, pm, &sp, &e) == ES_OK, "session: %s", e.msg);
    int32_t ids[5] = {'h', 'e', 'l', 'l', 'o'};
    es_gen_params gp = es_gen_params_default();
    gp.max_new_tokens = 1000;
    es_gen_result r;
    REQUIRE(es_session_generate(s, &r, ids, 5, &gp) == ES_OK, "greedy: %s", es_session_errmsg(s));
    CHECK(r.hyps[0].n_ids >= 1 && r.hyps[0].n_ids <= 12, "n_ids %d", r.hyps[0].n_ids);
    if (r.hyps[0].ids[r.hyps[0].n_ids - 1] == ES_S2S_EOS) {
        double lp;
        REQUIRE(es_session_score(s, &lp, ids, 5, r.hyps[0].ids, r.hyps[0].n_ids) == ES_OK,
                "score: %s", es_session_errmsg(s));
        CHECK(fabs(lp - r.hyps[0].sum_logprob) < 1e-4 * (1 + fabs(lp)), "score %g vs greedy %g",
              lp, (double)r.hyps[0].sum_logprob);
    }
    gp.method = ES_DECODE_BEAM;
    gp.num_beams = 4;
    for (int q = 0; q < 2; q++) {
        gp.quantized_beam = q;
        REQUIRE(es_session_generate(s, &r, ids, 5, &gp) == ES_OK, "beam: %s", es_session_errmsg(s));
        CHECK(r.n_hyps == 4, "%d beams", r.n_hyps);
        for (int i = 0; i < r.n_hyps; i++) {
            CHECK(r.hyps[i].n_ids <= 12, "hyp %d has %d ids", i, r.hyps[i].n_ids);
            if (i) CHECK(r.hyps[i].score <= r.hyps[i - 1].score, "order");
        }
        /* the best beam's score is its own teacher-forced log-prob / LP */
        const es_hyp *h = &r.hyps[0];
        if (!q && h->ids[h->n_ids - 1] == ES_S2S_EOS) {
            double lp;
            REQUIRE(es_session_score(s, &lp, ids, 5, h->ids, h->n_ids) == ES_OK, "score: %s",
                    es_session_errmsg(s));
            CHECK(fabs(lp - h->sum_logprob) < 1e-4 * (1 + fabs(lp)), "beam sum %g vs score %g",
                  (double)h->sum_logprob, lp);
        }
    }
    es_session_free(s);
    es_model_free(pm);
    const char *bad = "{\"model_type\": \"edgeseq-byte-seq2seq\", \"encoder\": \"byteqrnn\", "
                      "\"decoder\": {\"self_attention\": \"vanilla\"}}";
    es_s2s_model *bm = NULL;
    CHECK(es_s2s_model_from_json(&bm, bad, strlen(bad), "cfg.json", 1, &e) == ES_ERR_FORMAT &&
              !bm && strstr(e.msg, "vanilla"), "bad self_attention accepted: %s", e.msg);
    printf("  bad value: %s\n", e.msg);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
    es_s2s_model_free(m);
    es_s2s_model_free(mm);
}

int main(void) {
    step_equals_forward(0, 1, "hello");
    step_equals_forward(0, 0, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    step_equals_forward(1, 1, "transformer");
    step_equals_forward(0, 1, "");
    step_equals_forward(1, 0, "");
    causality();
    reorder_matches_fresh();
    folder_and_session();
    TEST_MAIN_END();
}
