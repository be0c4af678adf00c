/*
 * Trainer behaviour: a tiny ByteQRNN learns a byte rule (loss falls,
 * accuracy rises); results do not depend on the thread count; corrupt or
 * mismatched checkpoints (truncated state, flipped model byte, other model
 * config, other training params, garbage pointer) are refused with
 * ES_ERR_FORMAT without changing the model in memory or any file on disk.
 */
#include "test.h"

#include "io/fileio.h"
#include "model/byte_model.h"
#include "nn/params.h"
#include "train/trainer.h"

#include <stdint.h>
#include <sys/stat.h>
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
        if (label) { /* positives contain "$$$" somewhere */
            size_t at = (st >> 4) % (len - 3);
            memcpy(g_buf[i] + at, "$$$", 3);
        }
        g_ex[i].bytes = g_buf[i];
        g_ex[i].len = len;
        g_ex[i].label = label;
    }
}

static es_byte_config cfg(int hidden) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    c.max_bytes = 64;
    c.d_model = 16;
    c.qrnn_layers = 1;
    c.qrnn_hidden = hidden;
    c.downsample = 2;
    strcpy(c.labels[0], "ham");
    strcpy(c.labels[1], "spam");
    return c;
}

static es_train_params tp(const char *out, int threads) {
    es_train_params p = es_train_params_default();
    p.batch_size = 16;
    p.max_steps = 150;
    p.lr = 1e-2f;
    p.warmup_steps = 10;
    p.n_threads = threads;
    p.out_dir = out;
    p.save_every = 50;
    p.log_every = 0;
    return p;
}

static uint64_t fhash(const char *path) {
    void *b = NULL;
    size_t n = 0;
    es_error e;
    if (es_read_file(path, &b, &n, 1u << 30, &e)) return 0;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((uint8_t *)b)[i]) * 1099511628211ull;
    es_free(b);
    return h ^ n;
}

static const char *g_out;
static const char *files[4] = {"checkpoint", "step-00000150/model.safetensors",
                               "step-00000150/train_state.safetensors", "step-00000150/config.json"};
static void snapshot(uint64_t *h) {
    char p[600];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", g_out, files[i]);
        h[i] = fhash(p);
    }
}

/* Expects resume to fail with `want`, leaving model and files untouched. */
static void expect_refused(const char *what, es_byte_config c, es_train_params p, es_status want) {
    es_error e;
    es_byte_model *m = NULL;
    es_status s = es_byte_model_new(&m, &c, 99, &e);
    REQUIRE(s == ES_OK, "model");
    es_trainer *tr = NULL;
    s = es_trainer_new(&tr, m, &p, &e);
    REQUIRE(s == ES_OK, "trainer: %s", e.msg);
    uint64_t before = es_params_hash(es_byte_model_params(m)), h0[4], h1[4];
    snapshot(h0);
    s = es_trainer_resume(tr, NULL, &e);
    CHECK(s == want, "%s: resume returned %d (%s), expected %d", what, s, e.msg, want);
    printf("  %-34s -> %s\n", what, e.msg);
    CHECK(es_params_hash(es_byte_model_params(m)) == before, "%s: model changed", what);
    CHECK(es_trainer_step_count(tr) == 0, "%s: step changed", what);
    snapshot(h1);
    CHECK(memcmp(h0, h1, sizeof h0) == 0, "%s: files changed", what);
    es_trainer_free(tr);
    es_byte_model_free(m);
}

static void corrupt_copy(const char *rel, long truncate_to, long flip_at) {
    char p[600], bak[640];
    snprintf(p, sizeof p, "%s/%s", g_out, rel);
    snprintf(bak, sizeof bak, "%s.bak", p);
    es_error e;
    CHECK(es_copy_file_atomic(bak, p, &e) == ES_OK, "backup");
    if (truncate_to >= 0) CHECK(truncate(p, truncate_to) == 0, "truncate");
    if (flip_at >= 0) {
        FILE *f = fopen(p, "r+b");
        fseek(f, flip_at, SEEK_SET);
        int ch = fgetc(f);
        fseek(f, flip_at, SEEK_SET);
        fputc(ch ^ 0x40, f);
        fclose(f);
    }
}
static void restore(const char *rel) {
    char p[600], bak[640];
    snprintf(p, sizeof p, "%s/%s", g_out, rel);
    snprintf(bak, sizeof bak, "%s.bak", p);
    CHECK(rename(bak, p) == 0, "restore %s", rel);
}

int main(void) {
    make_data();
    char dir[] = "/tmp/es_ckpt_XXXXXX";
    char *made = mkdtemp(dir);
    REQUIRE(made != NULL, "mkdtemp");
    char out[512];
    snprintf(out, sizeof out, "%s/run", dir);
    g_out = out;
    es_example_source src = {N_EX, g_ex, NULL, NULL};
    es_error e;

    /* learn, with 2 threads and checkpoints; again with 1 thread, no out_dir */
    uint64_t hashes[2];
    for (int run = 0; run < 2; run++) {
        es_byte_config c = cfg(8);
        es_byte_model *m = NULL;
        es_status s = es_byte_model_new(&m, &c, 5, &e);
        REQUIRE(s == ES_OK, "model");
        es_train_params p = tp(run ? NULL : out, run ? 1 : 2);
        es_trainer *tr = NULL;
        s = es_trainer_new(&tr, m, &p, &e);
        REQUIRE(s == ES_OK, "trainer: %s", e.msg);
        double l0 = 0, a0 = 0, l1 = 0, a1 = 0;
        s = es_trainer_evaluate(tr, &src, &l0, &a0, &e);
        CHECK(s == ES_OK, "eval: %s", e.msg);
        s = es_trainer_run(tr, &src, &e);
        CHECK(s == ES_OK, "run: %s", e.msg);
        s = es_trainer_evaluate(tr, &src, &l1, &a1, &e);
        CHECK(s == ES_OK, "eval: %s", e.msg);
        if (run == 0) {
            printf("loss %.4f -> %.4f, accuracy %.3f -> %.3f\n", l0, l1, a0, a1);
            CHECK(l1 < 0.5 * l0, "loss did not fall enough: %.4f -> %.4f", l0, l1);
            CHECK(a1 >= 0.95, "accuracy %.3f", a1);
            float probs[4];
            const uint8_t *bb[2] = {(const uint8_t *)"abc de $$$ fg", (const uint8_t *)"abc de fgh ab"};
            size_t ll[2] = {13, 13};
            s = es_trainer_predict(tr, bb, ll, 2, probs, &e);
            CHECK(s == ES_OK && probs[1] > 0.5f && probs[2] > 0.5f, "predict %.3f %.3f",
                  (double)probs[1], (double)probs[2]);
        }
        hashes[run] = es_params_hash(es_byte_model_params(m));
        es_trainer_free(tr);
        es_byte_model_free(m);
    }
    CHECK(hashes[0] == hashes[1], "2 threads and 1 thread give different parameters");

    /* a fresh trainer resumes the final checkpoint fine */
    {
        es_byte_config c = cfg(8);
        es_byte_model *m = NULL;
        es_status s = es_byte_model_new(&m, &c, 5, &e);
        es_train_params p = tp(out, 1);
        es_trainer *tr = NULL;
        if (!s) s = es_trainer_new(&tr, m, &p, &e);
        if (!s) s = es_trainer_resume(tr, NULL, &e);
        CHECK(s == ES_OK, "resume good checkpoint: %s", e.msg);
        CHECK(es_trainer_step_count(tr) == 150, "step %lld", (long long)es_trainer_step_count(tr));
        CHECK(es_params_hash(es_byte_model_params(m)) == hashes[0], "resumed params differ");
        es_trainer_free(tr);
        es_byte_model_free(m);
    }
    char p1[600];
    snprintf(p1, sizeof p1, "%s/step-00000050", out);
    CHECK(!es_is_dir(p1), "old checkpoint step-50 not pruned (keep 2)");
    snprintf(p1, sizeof p1, "%s/step-00000100", out);
    CHECK(es_is_dir(p1), "step-100 pruned too early");

    es_byte_config c8 = cfg(8);
    es_train_params p = tp(out, 1);
    corrupt_copy("step-00000150/train_state.safetensors", 300, -1);
    expect_refused("truncated train_state", c8, p, ES_ERR_FORMAT);
    restore("step-00000150/train_state.safetensors");
    corrupt_copy("step-00000150/model.safetensors", -1, 2000);
    expect_refused("flipped byte in model.safetensors", c8, p, ES_ERR_FORMAT);
    restore("step-00000150/model.safetensors");
    expect_refused("other model config", cfg(12), p, ES_ERR_FORMAT);
    es_train_params p2 = p;
    p2.lr = 3e-3f;
    expect_refused("other training params", c8, p2, ES_ERR_FORMAT);
    corrupt_copy("checkpoint", -1, 0);
    expect_refused("garbage checkpoint pointer", c8, p, ES_ERR_FORMAT);
    restore("checkpoint");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
