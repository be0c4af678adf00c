/*
 * Byte seq2seq model end to end (untrained weights, so outputs are
 * arbitrary but must be consistent):
 *  - step-wise decoding (running-sum cache) gives the teacher-forced
 *    logits at every position, for a ByteQRNN and a ByteTransformer
 *    encoder, a byte and a symbol vocabulary, and an empty input;
 *  - save → es_model_load → es_session_generate equals in-process greedy;
 *    es_session_score of that output equals its greedy sum of log-probs;
 *    es_model_output_text joins symbols with spaces;
 *  - hostile inputs: empty input, 10 kB of bytes, invalid UTF-8, emoji,
 *    non-byte ids (ES_ERR_ARG), a huge max_new_tokens (capped at max_out),
 *    corrupt config values (ES_ERR_FORMAT).
 */
#include "test.h"

#include "edgeseq.h"
#include "model/byte_seq2seq.h"
#include "nn/ops.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *syms[] = {"AA0", "AA1", "B", "CH", "D", "EH1", "ER0", "F", "G", "HH"};

static es_s2s_model *tiny(int transformer, int symbols, uint64_t seed) {
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

static void step_equals_forward(int transformer, int symbols, const char *input) {
    es_s2s_model *m = tiny(transformer, symbols, 11);
    const int V = es_s2s_model_vocab(m);
    es_s2s_ws *ws = NULL;
    es_error e;
    REQUIRE(es_s2s_ws_new(&ws, m, 1, 3, 0, NULL, &e) == ES_OK, "ws: %s", e.msg);
    int32_t tgt[8];
    for (int i = 0; i < 8; i++) tgt[i] = (i * 7 + 3) % (V - 2);
    size_t n = strlen(input), tl = 8;
    const uint8_t *src[1] = {(const uint8_t *)input};
    const int32_t *tp[1] = {tgt};
    REQUIRE(es_s2s_forward(ws, m, src, &n, tp, &tl, 1, 0, NULL, &e) == ES_OK, "fwd: %s", e.msg);
    int rows;
    const int32_t *y;
    const float *lg0 = es_s2s_logits(ws, &rows, &y);
    float *tf = malloc((size_t)rows * V * sizeof(float));
    memcpy(tf, lg0, (size_t)rows * V * sizeof(float));
    REQUIRE(es_s2s_prime(ws, m, (const uint8_t *)input, n, &e) == ES_OK, "prime: %s", e.msg);
    es_dec_model dm = es_s2s_dec_model(ws);
    double worst = 0, mabs = 0;
    /* three identical rows: beams must not interfere */
    int32_t tok[3];
    for (int t = 0; t < 9; t++) {
        for (int r = 0; r < 3; r++) tok[r] = t == 0 ? ES_S2S_START : tgt[t - 1] + ES_S2S_N_SPECIAL;
        const float *lg;
        REQUIRE(dm.step(dm.ctx, &lg, tok, 3, t, &e) == ES_OK, "step: %s", e.msg);
        for (int r = 0; r < 3; r++)
            for (int v = 1; v < V; v++) {
                double d = fabs((double)lg[(size_t)r * V + v] - tf[(size_t)t * V + v]);
                worst = d > worst ? d : worst;
                mabs = fabs(tf[(size_t)t * V + v]) > mabs ? fabs(tf[(size_t)t * V + v]) : mabs;
            }
        CHECK(isinf(lg[0]) && lg[0] < 0, "start id not masked");
    }
    printf("  %s, %s, input %zu bytes: max |step - teacher forcing| = %.3g (max |logit| %.3g)\n",
           transformer ? "bytetransformer" : "byteqrnn", symbols ? "symbols" : "bytes", n, worst,
           mabs);
    CHECK(worst <= 2e-5 * (1.0 + mabs), "step-wise logits differ by %g", worst);
    /* the cache has a fixed size: position max_out is refused, not grown */
    const float *lg;
    CHECK(dm.step(dm.ctx, &lg, tok, 1, 12, &e) == ES_ERR_ARG, "position max_out accepted");
    free(tf);
    es_s2s_ws_free(ws);
    es_s2s_model_free(m);
}

static int rmrf_file(const char *dir, const char *f) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, f);
    return unlink(p);
}

static void session_roundtrip(void) {
    char dir[] = "/tmp/es_s2s_testXXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    es_s2s_model *m = tiny(0, 1, 21);
    es_error e;
    REQUIRE(es_s2s_model_save_dir(m, dir, &e) == ES_OK, "save: %s", e.msg);
    es_model *pm = NULL;
    REQUIRE(es_model_load(&pm, dir, NULL, &e) == ES_OK, "load: %s", e.msg);
    CHECK(es_model_get_info(pm)->arch == ES_ARCH_BYTE_SEQ2SEQ, "arch");
    CHECK(es_model_max_bytes(pm) == 64, "max_bytes %d", es_model_max_bytes(pm));
    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.n_threads = 1;
    es_session *s = NULL;
    REQUIRE(es_session_new(&s, pm, &sp, &e) == ES_OK, "session: %s", e.msg);
    /* in-process greedy for comparison */
    es_s2s_ws *ws = NULL;
    es_decode_ws dws;
    REQUIRE(es_s2s_ws_new(&ws, m, 1, 1, 0, NULL, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_decode_ws_init(&dws, 1, 12, es_s2s_model_vocab(m), &e) == ES_OK, "%s", e.msg);
    const char *word = "hello";
    int32_t ids[16];
    for (int i = 0; i < 5; i++) ids[i] = (uint8_t)word[i];
    es_gen_params gp = es_gen_params_default();
    gp.max_new_tokens = 1000; /* capped at max_out = 12 */
    es_gen_result r;
    REQUIRE(es_session_generate(s, &r, ids, 5, &gp) == ES_OK, "generate: %s", es_session_errmsg(s));
    CHECK(r.n_hyps == 1 && r.hyps[0].n_ids >= 1 && r.hyps[0].n_ids <= 12, "n_ids %d", r.hyps[0].n_ids);
    REQUIRE(es_s2s_prime(ws, m, (const uint8_t *)word, 5, &e) == ES_OK, "%s", e.msg);
    es_dec_model dm = es_s2s_dec_model(ws);
    es_gen_result r2;
    gp.max_new_tokens = 12;
    REQUIRE(es_decode_run(&dws, &dm, &gp, &r2, &e) == ES_OK, "%s", e.msg);
    CHECK(r2.hyps[0].n_ids == r.hyps[0].n_ids &&
              !memcmp(r2.hyps[0].ids, r.hyps[0].ids, (size_t)r.hyps[0].n_ids * 4),
          "loaded model generates differently");
    /* score of the greedy output (if it ended with EOS) = its sum */
    if (r.hyps[0].ids[r.hyps[0].n_ids - 1] == ES_S2S_EOS) {
        double lp;
        REQUIRE(es_session_score(s, &lp, ids, 5, r.hyps[0].ids, r.hyps[0].n_ids) == ES_OK, "score: %s",
                es_session_errmsg(s));
        CHECK(fabs(lp - r.hyps[0].sum_logprob) < 1e-4 * (1 + fabs(lp)), "score %g vs greedy sum %g",
              lp, (double)r.hyps[0].sum_logprob);
    }
    /* output text: symbols joined by single spaces */
    int32_t out_ids[4] = {2 + 1, 2 + 9, 2 + 3, ES_S2S_EOS};
    char txt[64];
    size_t tl;
    CHECK(es_model_output_text(pm, out_ids, 4, txt, sizeof txt, &tl, &e) == ES_OK &&
              strcmp(txt, "AA1 HH CH") == 0 && tl == 9, "text \"%s\"", txt);
    CHECK(es_model_output_text(pm, out_ids, 4, txt, 3, &tl, &e) == ES_ERR_BUFFER && tl == 9,
          "small buffer");
    /* beams: float and uint8, n-best sorted, all within max_out */
    gp.method = ES_DECODE_BEAM;
    gp.num_beams = 4;
    gp.length_penalty = 0.6f;
    for (int q = 0; q < 2; q++) {
        gp.quantized_beam = q;
        REQUIRE(es_session_generate(s, &r, ids, 5, &gp) == ES_OK, "beam: %s", es_session_errmsg(s));
        CHECK(r.n_hyps == 4, "%d beams", r.n_hyps);
        for (int i = 0; i < r.n_hyps; i++) {
            CHECK(r.hyps[i].n_ids <= 12 && r.hyps[i].score < 0.0f, "hyp %d", i);
            if (i) CHECK(r.hyps[i].score <= r.hyps[i - 1].score, "order");
        }
    }
    /* hostile inputs: an answer or a clear error, bounded */
    gp.method = ES_DECODE_GREEDY;
    static int32_t big[10240];
    for (int i = 0; i < 10240; i++) big[i] = (i * 37) & 255;
    CHECK(es_session_generate(s, &r, big, 10240, &gp) == ES_OK && r.hyps[0].n_ids <= 12,
          "10 kB input: %s", es_session_errmsg(s));
    CHECK(es_session_generate(s, &r, NULL, 0, &gp) == ES_OK && r.hyps[0].n_ids <= 12,
          "empty input: %s", es_session_errmsg(s));
    const unsigned char bad[] = {0xff, 0xfe, 0xc3, 0x28, 0xf0, 0x9f, 0x98, 0x80, 0x80};
    int32_t bid[9];
    for (int i = 0; i < 9; i++) bid[i] = bad[i];
    CHECK(es_session_generate(s, &r, bid, 9, &gp) == ES_OK, "invalid UTF-8 + emoji: %s",
          es_session_errmsg(s));
    int32_t nb[2] = {65, 300};
    CHECK(es_session_generate(s, &r, nb, 2, &gp) == ES_ERR_ARG &&
              strstr(es_session_errmsg(s), "300"), "id 300: %s", es_session_errmsg(s));
    /* the CLI's generate works unchanged on the folder: JSON beams, uint8
     * beam, stdin lines incl. an empty one and hostile bytes */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s generate -m %s --json --beam 2 --quantized-beam hello > %s/out.txt",
             ES_CLI, dir, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/out.txt", dir);
    FILE *fo = fopen(cmd, "r");
    char line[4096] = "";
    if (fo) {
        if (!fgets(line, sizeof line, fo)) line[0] = 0;
        fclose(fo);
    }
    CHECK(strstr(line, "\"input\": \"hello\"") && strstr(line, "\"beams\": [") &&
              strstr(line, "\"score\""), "CLI json: %s", line);
    snprintf(cmd, sizeof cmd, "printf 'a\\n\\n\\377\\360\\237\\230\\200\\n' | %s generate -m %s > %s/out.txt",
             ES_CLI, dir, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    rmrf_file(dir, "out.txt");
    es_session_free(s);
    es_model_free(pm);
    es_s2s_ws_free(ws);
    es_decode_ws_free(&dws);

    /* corrupt config values are refused with the key named */
    const char *cfgs[] = {
        "{\"model_type\": \"edgeseq-byte-seq2seq\", \"encoder\": \"byteqrnn\", \"decoder\": {\"n_heads\": 3}}",
        "{\"model_type\": \"edgeseq-byte-seq2seq\", \"encoder\": \"byteqrnn\", \"symbols\": [\"A\", \"A\"]}",
        "{\"model_type\": \"edgeseq-byte-seq2seq\", \"encoder\": \"byteqrnn\", \"symbols\": [\"A B\"]}",
        "{\"model_type\": \"edgeseq-byte-seq2seq\", \"encoder\": \"byteqrnn\", \"decoder\": {\"max_out\": 1}}",
        "{\"model_type\": \"edgeseq-byte-seq2seq\", \"encoder\": \"byteqrnn\", \"symbols\": 7}",
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        es_s2s_model *bm = NULL;
        es_status st = es_s2s_model_from_json(&bm, cfgs[i], strlen(cfgs[i]), "cfg.json", 1, &e);
        CHECK(st == ES_ERR_FORMAT && bm == NULL, "config %zu accepted (%d)", i, (int)st);
        printf("  bad config %zu: %s\n", i, e.msg);
    }
    /* a model folder whose tensor has a wrong shape */
    es_s2s_model *m2 = tiny(0, 0, 3);
    REQUIRE(es_s2s_model_save_dir(m2, dir, &e) == ES_OK, "%s", e.msg);
    es_s2s_model *m3 = NULL;
    REQUIRE(es_s2s_model_load_dir(&m3, dir, &e) == ES_OK, "reload: %s", e.msg);
    CHECK(es_s2s_model_vocab(m3) == 258, "byte vocab %d", es_s2s_model_vocab(m3));
    es_s2s_model_free(m3);
    es_s2s_model_free(m2);
    /* config of the symbol model with the byte model's weights: shape error */
    es_s2s_model *m4 = tiny(0, 1, 3);
    char *json = NULL;
    REQUIRE(es_s2s_config_to_json(m4, &json, &e) == ES_OK, "%s", e.msg);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fputs(json, f);
    fclose(f);
    es_free(json);
    CHECK(es_s2s_model_load_dir(&m3, dir, &e) != ES_OK && strstr(e.msg, "dec.embed.weight"),
          "mismatched weights: %s", e.msg);
    printf("  mismatched weights: %s\n", e.msg);
    es_s2s_model_free(m4);
    es_s2s_model_free(m);
    rmrf_file(dir, "config.json");
    rmrf_file(dir, "model.safetensors");
    rmdir(dir);
}

int main(void) {
    step_equals_forward(0, 1, "hello");
    step_equals_forward(0, 0, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    step_equals_forward(1, 1, "transformer");
    step_equals_forward(0, 1, "");
    step_equals_forward(1, 0, "");
    session_roundtrip();
    TEST_MAIN_END();
}
