/*
 * ByteTransformer and ByteFunnelTransformer classifiers end to end:
 *  - they learn a byte rule (inputs containing "$$$") with the trainer:
 *    loss falls by more than half, accuracy >= 0.95 after 60 steps, and
 *    1 and 2 threads give bit-identical parameters after 20 steps
 *    (dropout + attention dropout on);
 *  - a saved default-shape model loads through es_model_load and
 *    es_session_classify gives the same probabilities as the in-process
 *    model (bit-identical), batches equal singles (key padding works),
 *    long inputs are cut at max_bytes;
 *  - an inference workspace (layers share buffers) computes exactly what a
 *    training workspace computes in eval mode, for a 3-layer funnel;
 *  - the whole forward matches an independent PyTorch float64 evaluation
 *    (test_byte_transformer_ref.py) to < 1e-5 on the logits;
 *  - config.json round-trips; bad configs and mismatched weights are
 *    refused with messages naming the key or tensor.
 */
#include "test.h"

#include "core/pool.h"
#include "io/fileio.h"
#include "model/byte_model.h"
#include "nn/params.h"
#include "train/trainer.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define N_EX 128
static uint8_t g_buf[N_EX][64];
static es_example g_ex[N_EX];

static void make_data(void) {
    uint32_t st = 11;
    for (int i = 0; i < N_EX; i++) {
        st = st * 1664525u + 1013904223u;
        size_t len = 8 + (st >> 8) % 56;
        int label = i & 1;
        for (size_t k = 0; k < len; k++) {
            st = st * 1664525u + 1013904223u;
            g_buf[i][k] = (uint8_t)("abcdefgh  "[(st >> 12) % 10]);
        }
        if (label) {
            size_t at = (st >> 4) % (len - 3);
            memcpy(g_buf[i] + at, "$$$", 3);
        }
        g_ex[i].bytes = g_buf[i];
        g_ex[i].len = len;
        g_ex[i].label = label;
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static es_byte_config small_cfg(es_byte_encoder enc) {
    es_byte_config c;
    es_byte_config_default(&c, enc);
    c.max_bytes = 64;
    c.max_positions = 32;
    c.d_model = 16;
    c.n_heads = 2;
    c.d_ff = 32;
    c.n_layers = 2;
    c.downsample = 2;
    c.dropout = 0.1f;
    if (enc == ES_BYTE_FUNNEL) {
        c.pool_windows[0] = 1;
        c.pool_windows[1] = 2;
    }
    strcpy(c.labels[0], "ham");
    strcpy(c.labels[1], "spam");
    return c;
}

/* Trains a fresh small model for `steps` steps with `threads` threads
 * (dropout and attention dropout on); returns the parameter hash and, when
 * asked, the loss / accuracy over the data before and after. */
static uint64_t train(es_byte_encoder enc, int steps, int threads, double *l0, double *a0,
                      double *l1, double *a1) {
    const char *name = es_byte_encoder_name(enc);
    es_example_source src = {N_EX, g_ex, NULL, NULL};
    es_error e;
    es_byte_config c = small_cfg(enc);
    es_byte_model *m = NULL;
    es_status s = es_byte_model_new(&m, &c, 5, &e);
    REQUIRE(s == ES_OK, "%s model: %s", name, e.msg);
    es_train_params p = es_train_params_default();
    p.batch_size = 16;
    p.max_steps = steps;
    p.lr = 3e-3f;
    p.warmup_steps = 10;
    p.n_threads = threads;
    p.out_dir = NULL;
    p.log_every = 0;
    es_trainer *tr = NULL;
    s = es_trainer_new(&tr, m, &p, &e);
    REQUIRE(s == ES_OK, "%s trainer: %s", name, e.msg);
    if (l0) {
        s = es_trainer_evaluate(tr, &src, l0, a0, &e);
        CHECK(s == ES_OK, "eval: %s", e.msg);
    }
    double t0 = now();
    s = es_trainer_run(tr, &src, &e);
    CHECK(s == ES_OK, "run: %s", e.msg);
    if (l1) {
        double dt = now() - t0;
        s = es_trainer_evaluate(tr, &src, l1, a1, &e);
        CHECK(s == ES_OK, "eval: %s", e.msg);
        printf("%s (%zu params): loss %.4f -> %.4f, accuracy %.3f -> %.3f (%d steps, %.2f s)\n",
               name, es_byte_model_n_params(m), *l0, *l1, *a0, *a1, steps, dt);
        float probs[4];
        const uint8_t *bb[2] = {(const uint8_t *)"abc de $$$ fg", (const uint8_t *)"abc de fgh ab"};
        size_t ll[2] = {13, 13};
        s = es_trainer_predict(tr, bb, ll, 2, probs, &e);
        CHECK(s == ES_OK && probs[1] > 0.5f && probs[2] > 0.5f, "%s: predict %.3f %.3f", name,
              (double)probs[1], (double)probs[2]);
    }
    uint64_t h = es_params_hash(es_byte_model_params(m));
    es_trainer_free(tr);
    es_byte_model_free(m);
    return h;
}

static void test_learn(es_byte_encoder enc) {
    const char *name = es_byte_encoder_name(enc);
    double l0 = 0, a0 = 0, l1 = 0, a1 = 0;
    train(enc, 60, 2, &l0, &a0, &l1, &a1);
    CHECK(l1 < 0.5 * l0, "%s: loss did not fall enough: %.4f -> %.4f", name, l0, l1);
    CHECK(a1 >= 0.95, "%s: accuracy %.3f", name, a1);
    /* thread-count independence: 20 steps are enough to expose any
     * order-dependent reduction (every step feeds the next) */
    uint64_t h2 = train(enc, 20, 2, NULL, NULL, NULL, NULL);
    uint64_t h1 = train(enc, 20, 1, NULL, NULL, NULL, NULL);
    CHECK(h1 == h2, "%s: 2 threads and 1 thread give different parameters", name);
}

/* eval forward of an inference workspace == eval forward of a training
 * workspace, bit for bit, 1 and 2 threads */
static void test_ws_alias(void) {
    es_byte_config c = small_cfg(ES_BYTE_FUNNEL);
    c.n_layers = 3;
    c.pool_windows[0] = 2;
    c.pool_windows[1] = 1;
    c.pool_windows[2] = 2;
    es_error e;
    es_byte_model *m = NULL;
    es_status s = es_byte_model_new(&m, &c, 9, &e);
    REQUIRE(s == ES_OK, "model: %s", e.msg);
    es_pool *pool = NULL;
    s = es_pool_new(&pool, 2, &e);
    REQUIRE(s == ES_OK, "pool");
    es_byte_ws *wi = NULL, *wt = NULL, *wp = NULL;
    s = es_byte_ws_new(&wi, m, 4, 64, 0, NULL, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    s = es_byte_ws_new(&wt, m, 4, 64, 1, NULL, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    s = es_byte_ws_new(&wp, m, 4, 64, 0, pool, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    const uint8_t *bb[3] = {g_buf[0], g_buf[1], g_buf[2]};
    size_t ll[3] = {g_ex[0].len, g_ex[1].len, 0};
    float l1[6], l2[6], l3[6];
    s = es_byte_forward(wi, m, bb, ll, 3, 0, NULL, l1, &e);
    CHECK(s == ES_OK, "forward: %s", e.msg);
    s = es_byte_forward(wt, m, bb, ll, 3, 0, NULL, l2, &e);
    CHECK(s == ES_OK, "forward: %s", e.msg);
    s = es_byte_forward(wp, m, bb, ll, 3, 0, NULL, l3, &e);
    CHECK(s == ES_OK, "forward: %s", e.msg);
    CHECK(memcmp(l1, l2, sizeof l1) == 0, "inference ws %.9g vs training ws %.9g", (double)l1[0],
          (double)l2[0]);
    CHECK(memcmp(l1, l3, sizeof l1) == 0, "2 threads %.9g vs 1 thread %.9g", (double)l3[0],
          (double)l1[0]);
    es_byte_ws_free(wi);
    es_byte_ws_free(wt);
    es_byte_ws_free(wp);
    es_pool_free(pool);
    es_byte_model_free(m);
}

/* Whole forward against an independent reference: PyTorch in float64
 * (tests/unit/test_byte_transformer_ref.py, written from the equations in
 * docs/byte-models.md) on this exact model (seed 7 plus a fixed jitter so
 * LayerNorm gains/biases are not 1/0) and message. 3 layers, 4 heads,
 * bottleneck, GBST M = 4, down-sampling 3; the funnel pools 1, 2, 3. */
static void test_torch_reference(es_byte_encoder enc, double ref0, double ref1) {
    es_byte_config c;
    es_byte_config_default(&c, enc);
    c.max_bytes = 200;
    c.d_embed = 12;
    c.d_model = 16;
    c.n_heads = 4;
    c.d_ff = 24;
    c.n_layers = 3;
    c.downsample = 3;
    c.gbst_blocks = 4;
    c.gbst_kernel = 5;
    c.max_positions = 67;
    if (enc == ES_BYTE_FUNNEL) {
        c.pool_windows[0] = 1;
        c.pool_windows[1] = 2;
        c.pool_windows[2] = 3;
    }
    es_error e;
    es_byte_model *m = NULL;
    es_status s = es_byte_model_new(&m, &c, 7, &e);
    REQUIRE(s == ES_OK, "model: %s", e.msg);
    es_params *ps = es_byte_model_params(m);
    for (size_t i = 0; i < ps->total; i++)
        ps->data[i] += 0.05f * (float)((i * 2654435761u) % 1000) / 1000.0f - 0.025f;
    es_byte_ws *ws = NULL;
    s = es_byte_ws_new(&ws, m, 1, c.max_bytes, 0, NULL, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    const char *txt = "From: someone@example.com\nSubject: WIN a FREE prize now!!! Click "
                      "http://spam.example/xyz $$$ limited offer";
    const uint8_t *bb[1] = {(const uint8_t *)txt};
    size_t ll[1] = {strlen(txt)};
    float lg[2];
    s = es_byte_forward(ws, m, bb, ll, 1, 0, NULL, lg, &e);
    CHECK(s == ES_OK, "forward: %s", e.msg);
    double err = fmax(fabs(lg[0] - ref0), fabs(lg[1] - ref1));
    /* float32 vs float64 through ~15 matrix products of width <= 24: a few
     * 1e-7 observed; 1e-5 still catches any wrong term */
    CHECK(err < 1e-5, "%s vs PyTorch float64: logits %.9g %.9g, reference %.9g %.9g",
          es_byte_encoder_name(enc), (double)lg[0], (double)lg[1], ref0, ref1);
    printf("%s vs PyTorch float64 reference: max |logit error| = %.3g\n", es_byte_encoder_name(enc),
           err);
    es_byte_ws_free(ws);
    es_byte_model_free(m);
}

static void write_cfg(const char *dir, const char *json) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    es_error e;
    es_status s = es_atomic_write_file(path, json, strlen(json), &e);
    REQUIRE(s == ES_OK, "write");
}

static void expect_load(const char *dir, const char *json, es_status want, const char *needle) {
    write_cfg(dir, json);
    es_model *m = NULL;
    es_error e;
    es_status s = es_model_load(&m, dir, NULL, &e);
    CHECK(s == want && strstr(e.msg, needle), "config %s: got %d \"%s\", want %d naming %s", json,
          s, e.msg, want, needle);
    printf("  refused: %s\n", e.msg);
    es_model_free(m);
}

static void test_folder(es_byte_encoder enc) {
    const char *name = es_byte_encoder_name(enc);
    char dir[] = "/tmp/es_bytetf_XXXXXX";
    char *made = mkdtemp(dir);
    REQUIRE(made != NULL, "mkdtemp");
    es_error e;
    es_byte_config c;
    es_byte_config_default(&c, enc);
    strcpy(c.labels[0], "ham");
    strcpy(c.labels[1], "spam");
    /* default shape at half the default max_bytes: same code paths, a
     * quarter of the attention work (this runs under ASan too) */
    c.max_bytes = 1024;
    c.max_positions = 256;
    /* config.json round trip */
    char *json = NULL;
    es_status s = es_byte_config_to_json(&c, &json, &e);
    REQUIRE(s == ES_OK, "to_json");
    es_byte_config c2;
    s = es_byte_config_from_json(&c2, json, strlen(json), "cfg", &e);
    CHECK(s == ES_OK && memcmp(&c, &c2, sizeof c) == 0, "%s: config round trip: %s", name, e.msg);
    es_free(json);

    es_byte_model *bm = NULL;
    s = es_byte_model_new(&bm, &c, 17, &e);
    REQUIRE(s == ES_OK, "new: %s", e.msg);
    size_t np = es_byte_model_n_params(bm);
    printf("default %s: %zu parameters (%.1f KB fp32)\n", name, np, np * 4 / 1024.0);
    s = es_byte_model_save_dir(bm, dir, &e);
    REQUIRE(s == ES_OK, "save: %s", e.msg);
    uint8_t msg[1024];
    const char *pat = "From: a@b.c\nSubject: cheap meds, buy now!!! $$$ click http://x.y/z\n";
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)pat[i % strlen(pat)];
    es_byte_ws *ws = NULL;
    s = es_byte_ws_new(&ws, bm, 1, c.max_bytes, 0, NULL, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    float pr[2], pr2[2];
    s = es_byte_predict(ws, bm, msg, sizeof msg, pr, 2, &e);
    CHECK(s == ES_OK && fabsf(pr[0] + pr[1] - 1.0f) < 1e-6f, "predict: %s", e.msg);

    es_model *m = NULL;
    s = es_model_load(&m, dir, NULL, &e);
    REQUIRE(s == ES_OK, "es_model_load: %s", e.msg);
    CHECK(es_model_n_labels(m) == 2, "labels");
    CHECK(es_model_get_info(m)->n_params == np, "n_params");
    CHECK(es_model_get_info(m)->n_heads == c.n_heads && es_model_get_info(m)->d_ff == c.d_ff,
          "info heads/d_ff");
    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.n_threads = 1;
    es_session *ss = NULL;
    s = es_session_new(&ss, m, &sp, &e);
    REQUIRE(s == ES_OK, "session: %s", e.msg);
    s = es_session_classify(ss, msg, sizeof msg, pr2, 2);
    CHECK(s == ES_OK, "classify: %s", es_session_errmsg(ss));
    CHECK(memcmp(pr, pr2, sizeof pr) == 0, "%s: session %.9g vs model %.9g", name, (double)pr2[1],
          (double)pr[1]);
    s = es_session_classify(ss, NULL, 0, pr2, 2);
    CHECK(s == ES_OK && fabsf(pr2[0] + pr2[1] - 1.0f) < 1e-6f, "empty input");
    uint8_t *big = malloc(5000);
    memcpy(big, msg, 1024);
    memset(big + 1024, 'Z', 5000 - 1024);
    s = es_session_classify(ss, big, 5000, pr2, 2);
    CHECK(s == ES_OK && memcmp(pr, pr2, sizeof pr) == 0, "input cut to max_bytes");
    /* batch equals singles: a short input padded next to long ones must not
     * see their keys (key padding) */
    const uint8_t *bb[4] = {msg, (const uint8_t *)"hi there", big, (const uint8_t *)"x"};
    size_t ll[4] = {1024, 8, 5000, 1};
    float pb[8], p1[2];
    s = es_session_classify_batch(ss, bb, ll, 4, pb);
    CHECK(s == ES_OK, "batch: %s", es_session_errmsg(ss));
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        es_session_classify(ss, bb[i], ll[i], p1, 2);
        worst = fmax(worst, fabs(p1[1] - pb[2 * i + 1]));
    }
    CHECK(worst < 1e-6, "%s: batch vs singles differ by %g", name, worst);
    free(big);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        es_session_classify(ss, msg, sizeof msg, pr2, 2);
        best = fmin(best, now() - t0);
    }
    printf("%s: classify 1,024 bytes: %.3f ms (1 thread); batch vs singles max diff %.3g\n", name,
           best * 1e3, worst);
    es_session_free(ss);
    es_model_free(m);

    /* hostile configs and weights */
    char head[160];
    snprintf(head, sizeof head, "{\"model_type\": \"edgeseq-byte-classifier\", \"encoder\": \"%s\", "
             "\"max_bytes\": 1024", name);
    char j[600];
    snprintf(j, sizeof j, "%s, \"d_ff\": 100}", head);
    expect_load(dir, j, ES_ERR_SHAPE, "tf.0.ffn.in.weight");
    snprintf(j, sizeof j, "%s, \"n_layers\": 3%s}", head,
             enc == ES_BYTE_FUNNEL ? ", \"pool_windows\": [1, 2, 1]" : "");
    expect_load(dir, j, ES_ERR_FORMAT, "tf.2.");
    snprintf(j, sizeof j, "%s, \"n_heads\": 3}", head);
    expect_load(dir, j, ES_ERR_FORMAT, "n_heads");
    snprintf(j, sizeof j, "%s, \"max_positions\": 100}", head);
    expect_load(dir, j, ES_ERR_FORMAT, "max_positions");
    snprintf(j, sizeof j, "%s, \"d_ff\": 0}", head);
    expect_load(dir, j, ES_ERR_FORMAT, "d_ff");
    snprintf(j, sizeof j, "%s, \"pool_windows\": [1, 2, 2]}", head);
    expect_load(dir, j, ES_ERR_FORMAT, "pool_windows");
    if (enc == ES_BYTE_FUNNEL) {
        snprintf(j, sizeof j, "%s, \"pool_windows\": [1, 1]}", head);
        expect_load(dir, j, ES_ERR_FORMAT, "pool_windows");
        snprintf(j, sizeof j, "%s, \"pool_windows\": [1, 0]}", head);
        expect_load(dir, j, ES_ERR_FORMAT, "pool_windows[1]");
    } else {
        snprintf(j, sizeof j, "%s, \"pool_windows\": [1, 2]}", head);
        expect_load(dir, j, ES_ERR_FORMAT, "pool_windows[1]");
    }
    es_byte_ws_free(ws);
    es_byte_model_free(bm);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
    make_data();
    test_learn(ES_BYTE_TRANSFORMER);
    test_learn(ES_BYTE_FUNNEL);
    test_ws_alias();
    test_torch_reference(ES_BYTE_TRANSFORMER, 1.75006112, -1.48903662);
    test_torch_reference(ES_BYTE_FUNNEL, 1.7616155, -1.51544483);
    test_folder(ES_BYTE_TRANSFORMER);
    test_folder(ES_BYTE_FUNNEL);
    TEST_MAIN_END();
}
