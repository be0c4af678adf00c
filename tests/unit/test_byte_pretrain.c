/*
 * test_byte_pretrain.c — byte-encoder pretraining (src/train/byte_pretrain.h)
 * and the few-label fine-tuning helpers:
 *  1. the corruption: exact noise count and span count for the documented
 *     density / mean span, first byte kept, mask byte exactly at the
 *     noise positions, a pinned mask for one seed, same seed = same mask,
 *     another seed = another mask, mean span length over many seeds;
 *  2. the corpus split: every validation chunk hashes to 0 mod 100, no
 *     training chunk does, short tails dropped;
 *  3. gradients of the masked-byte loss w.r.t. encoder tensors (through
 *     the block head, gather and scatter) against central differences;
 *  4. the loss decreases on a tiny corpus in a few steps; checkpoint +
 *     resume reproduce the uninterrupted run bit for bit;
 *  5. es_byte_load_encoder copies exactly the encoder tensors and refuses
 *     mismatched shapes / downsample / depth with a clear message,
 *     leaving the model unchanged;
 *  6. es_data_spam_fraction: stratified counts, train split only,
 *     deterministic, seed-dependent, nested across fractions.
 */
#include "test.h"

#include "model/byte_model.h"
#include "nn/params.h"
#include "train/byte_pretrain.h"
#include "train/data.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static es_byte_config tiny_cfg(void) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    strcpy(c.labels[0], "ham");
    strcpy(c.labels[1], "spam");
    c.max_bytes = 64;
    c.d_model = 12;
    c.gbst_kernel = 3;
    c.gbst_blocks = 2;
    c.downsample = 4;
    c.qrnn_layers = 2;
    c.qrnn_hidden = 8;
    c.zoneout = 0.0f;
    c.dropout = 0.0f;
    return c;
}

/* English-ish text with structure the encoder can learn. */
static size_t make_text(uint8_t *buf, size_t cap) {
    static const char *words[] = {"the ", "whale ", "ship ", "sea ", "and ", "of ", "captain ",
                                  "ahab ", "said ", "union ", "state ", "nation ", "people ",
                                  "we ", "shall ", "to ", "a ", "in ", "great ", "white "};
    uint32_t st = 12345;
    size_t n = 0;
    while (n + 16 < cap) {
        st = st * 1664525u + 1013904223u;
        const char *w = words[(st >> 10) % 20];
        size_t l = strlen(w);
        memcpy(buf + n, w, l);
        n += l;
        if ((st >> 20) % 9 == 0) buf[n++] = '\n';
    }
    return n;
}

static void test_corrupt(void) {
    es_error err = {0};
    es_span_scratch sc;
    REQUIRE(es_span_scratch_init(&sc, 1024, &err) == ES_OK, "scratch");
    static uint8_t in[1024], out[1024], mask[1024], out2[1024], mask2[1024];
    for (int i = 0; i < 1024; i++) in[i] = (uint8_t)('a' + i % 26);
    int n = 0;
    /* L = 1024, d = 0.15, mu = 3: n_noise = round(153.6) = 154, n_spans = round(51.33) = 51 */
    REQUIRE(es_bpt_corrupt(out, mask, &n, in, 1024, 0.15, 3.0, 0, 42, &sc, &err) == ES_OK, "%s", err.msg);
    int cnt = 0, runs = 0, ok = 1;
    for (int i = 0; i < 1024; i++) {
        cnt += mask[i];
        runs += mask[i] && (i == 0 || !mask[i - 1]);
        ok &= mask[i] ? out[i] == 0 : out[i] == in[i];
    }
    CHECK(n == 154 && cnt == 154, "noise count %d / %d, want 154", n, cnt);
    CHECK(runs == 51, "noise spans %d, want 51", runs);
    CHECK(mask[0] == 0, "first byte must be kept");
    CHECK(ok, "mask byte exactly at noise positions");
    /* same seed, same mask; another seed, another mask */
    REQUIRE(es_bpt_corrupt(out2, mask2, &n, in, 1024, 0.15, 3.0, 0, 42, &sc, &err) == ES_OK, "again");
    CHECK(memcmp(mask, mask2, 1024) == 0 && memcmp(out, out2, 1024) == 0, "not deterministic");
    REQUIRE(es_bpt_corrupt(out2, mask2, &n, in, 1024, 0.15, 3.0, 0, 43, &sc, &err) == ES_OK, "seed 43");
    CHECK(memcmp(mask, mask2, 1024) != 0, "seed 43 gave seed 42's mask");
    /* pinned: L = 40, seed 7 → n_noise 6 in 2 spans; the positions are a
     * fixed function of the seed (xoshiro256** + HF segmentation order) */
    REQUIRE(es_bpt_corrupt(out, mask, &n, in, 40, 0.15, 3.0, 0xff, 7, &sc, &err) == ES_OK, "L40");
    char got[41];
    for (int i = 0; i < 40; i++) got[i] = mask[i] ? '#' : '.';
    got[40] = 0;
    int c40 = 0, r40 = 0;
    for (int i = 0; i < 40; i++) {
        c40 += mask[i];
        r40 += mask[i] && (i == 0 || !mask[i - 1]);
        if (mask[i]) CHECK(out[i] == 0xff, "mask byte 0xff at %d", i);
    }
    CHECK(n == 6 && c40 == 6 && r40 == 2, "L40: %d noise in %d spans: %s", c40, r40, got);
    CHECK(strcmp(got, "............###......................###") == 0, "L40 seed 7 mask %s", got);
    /* mean span length over many seeds: 154 / 51 exactly for every seed,
     * and the span lengths vary (not all 3) */
    int hist[160] = {0};
    for (uint64_t seed = 0; seed < 50; seed++) {
        es_bpt_corrupt(out, mask, &n, in, 1024, 0.15, 3.0, 0, seed, &sc, &err);
        int len = 0;
        for (int i = 0; i <= 1024; i++) {
            if (i < 1024 && mask[i]) len++;
            else if (len) {
                hist[len < 159 ? len : 159]++;
                len = 0;
            }
        }
    }
    int tot = 0;
    long sum = 0;
    for (int l = 1; l < 160; l++) {
        tot += hist[l];
        sum += (long)l * hist[l];
    }
    CHECK(tot == 50 * 51 && sum == 50 * 154, "spans %d bytes %ld", tot, sum);
    CHECK(hist[1] > 0 && hist[5] > 0, "span lengths do not vary: %d ones, %d fives", hist[1], hist[5]);
    /* tiny inputs: len 1 → nothing masked; len 10 → round(1.5) = 2 noise in 1 span */
    CHECK(es_bpt_corrupt(out, mask, &n, in, 1, 0.15, 3.0, 0, 1, &sc, &err) == ES_OK && n == 0 &&
          out[0] == in[0], "len 1");
    CHECK(es_bpt_corrupt(out, mask, &n, in, 10, 0.15, 3.0, 0, 1, &sc, &err) == ES_OK && n == 2, "len 10: %d", n);
    CHECK(es_bpt_corrupt(out, mask, &n, in, 10, 1.5, 3.0, 0, 1, &sc, &err) == ES_ERR_ARG, "bad density");
    es_span_scratch_free(&sc);
}

static void test_corpus(void) {
    static uint8_t text[50000];
    size_t n = make_text(text, sizeof text);
    es_bpt_corpus c;
    es_error err = {0};
    REQUIRE(es_bpt_corpus_from_memory(&c, text, n, 64, &err) == ES_OK, "%s", err.msg);
    CHECK(c.n_train + c.n_val == n / 64 + (n % 64 >= 16), "chunks %zu + %zu for %zu bytes", c.n_train, c.n_val, n);
    CHECK(c.n_val >= 1 && c.n_val * 30 < c.n_train, "val %zu of %zu (about 1%%)", c.n_val, c.n_train);
    int ok = 1;
    for (size_t i = 0; i < c.n_val; i++) ok &= es_bpt_is_val(c.buf + c.val[i].off, (size_t)c.val[i].len);
    for (size_t i = 0; i < c.n_train; i++) ok &= !es_bpt_is_val(c.buf + c.train[i].off, (size_t)c.train[i].len);
    CHECK(ok, "held-out rule");
    es_bpt_corpus_free(&c);
    CHECK(es_bpt_corpus_from_memory(&c, text, 100, 64, &err) == ES_ERR_ARG, "too little text accepted");
}

static es_bpt_params tiny_params(const char *out) {
    es_bpt_params p = es_bpt_params_default();
    p.chunk_len = 64;
    p.train.batch_size = 8;
    p.train.max_steps = 30;
    p.train.lr = 1e-2f;
    p.train.warmup_steps = 3;
    p.train.n_threads = 2;
    p.train.log_every = 5;
    p.train.eval_every = 0;
    p.train.save_every = 10;
    p.train.out_dir = out;
    return p;
}

static void test_gradients(void) {
    es_error err = {0};
    es_byte_config cfg = tiny_cfg();
    es_byte_model *m = NULL;
    es_bpt *t = NULL;
    REQUIRE(es_byte_model_new(&m, &cfg, 3, &err) == ES_OK, "%s", err.msg);
    es_bpt_params p = tiny_params(NULL);
    p.train.batch_size = 3;
    REQUIRE(es_bpt_new(&t, m, &p, &err) == ES_OK, "%s", err.msg);
    static uint8_t text[400];
    make_text(text, sizeof text);
    const uint8_t *ch[3] = {text, text + 64, text + 150};
    int lens[3] = {64, 37, 50}; /* ragged: pads and a partial last block */
    uint64_t seeds[3] = {1, 2, 3};
    double loss = 0;
    REQUIRE(es_bpt_batch_loss(t, ch, lens, 3, seeds, 1, &loss, &err) == ES_OK, "%s", err.msg);
    CHECK(loss > 4.0 && loss < 7.0, "initial loss %g (ln 256 = 5.55)", loss);
    es_params *ps = es_byte_model_params(m);
    size_t nt = ps->total;
    float *g = malloc(nt * sizeof *g);
    memcpy(g, ps->grad, nt * sizeof *g);
    const char *names[] = {"qrnn.1.bwd.weight", "qrnn.0.fwd.weight", "gbst.conv.weight", "embed.weight",
                           "gbst.score.weight", "qrnn.1.fwd.bias"};
    int n_checked = 0;
    for (size_t k = 0; k < ES_ARRAY_LEN(names); k++) {
        int i = es_params_find(ps, names[k]);
        REQUIRE(i >= 0, "tensor %s", names[k]);
        const es_param *pp = &ps->p[i];
        /* the two entries with the largest |gradient| */
        size_t best[2] = {0, 0};
        for (size_t e = 0; e < pp->numel; e++) {
            float a = fabsf(g[pp->offset + e]);
            if (a > fabsf(g[pp->offset + best[0]])) {
                best[1] = best[0];
                best[0] = e;
            } else if (a > fabsf(g[pp->offset + best[1]]) && e != best[0]) {
                best[1] = e;
            }
        }
        for (int j = 0; j < 2; j++) {
            float *w = ps->data + pp->offset + best[j];
            float w0 = *w, h = 1e-2f;
            double lp, lm;
            *w = w0 + h;
            es_bpt_batch_loss(t, ch, lens, 3, seeds, 0, &lp, &err);
            *w = w0 - h;
            es_bpt_batch_loss(t, ch, lens, 3, seeds, 0, &lm, &err);
            *w = w0;
            double fd = (lp - lm) / (2.0 * (double)h), an = g[pp->offset + best[j]];
            CHECK(fabs(fd - an) <= 3e-2 * fmax(fabs(fd), fabs(an)) + 2e-5,
                  "%s[%zu]: analytic %.6g, central difference %.6g", names[k], best[j], an, fd);
            n_checked++;
        }
    }
    CHECK(n_checked == 12, "checked %d", n_checked);
    free(g);
    es_bpt_free(t);
    es_byte_model_free(m);
}

static void rm_rf(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "rm -rf %s failed\n", dir);
}

/* Trains to `steps` (resuming when resume = 1); returns the parameter hash. */
static uint64_t run(const char *out, const es_bpt_corpus *c, int64_t steps, int resume,
                    double *first_val, double *last_val) {
    es_error err = {0};
    es_byte_config cfg = tiny_cfg();
    cfg.dropout = 0.1f;
    cfg.zoneout = 0.1f; /* the RNG stream must survive the checkpoint too */
    es_byte_model *m = NULL;
    es_bpt *t = NULL;
    REQUIRE(es_byte_model_new(&m, &cfg, 1, &err) == ES_OK, "%s", err.msg);
    es_bpt_params p = tiny_params(out);
    p.train.max_steps = 30;
    REQUIRE(es_bpt_new(&t, m, &p, &err) == ES_OK, "%s", err.msg);
    if (resume) CHECK(es_bpt_resume(t, &err) == ES_OK, "resume: %s", err.msg);
    if (first_val) es_bpt_evaluate(t, c, first_val, NULL, &err);
    while (es_bpt_step_count(t) < steps) {
        double l;
        REQUIRE(es_bpt_step(t, c, &l, NULL, &err) == ES_OK, "%s", err.msg);
        if (es_bpt_step_count(t) % 10 == 0 && out) es_bpt_save(t, &err);
    }
    if (last_val) es_bpt_evaluate(t, c, last_val, NULL, &err);
    uint64_t h = es_params_hash(es_byte_model_params(m));
    es_bpt_free(t);
    es_byte_model_free(m);
    return h;
}

static void test_training(void) {
    static uint8_t text[60000];
    size_t n = make_text(text, sizeof text);
    es_bpt_corpus c;
    es_error err = {0};
    REQUIRE(es_bpt_corpus_from_memory(&c, text, n, 64, &err) == ES_OK, "%s", err.msg);
    char dir[] = "/tmp/es_bpt_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    double v0 = 0, v1 = 0;
    uint64_t h_full = run(NULL, &c, 30, 0, &v0, &v1);
    CHECK(v1 < v0 - 1.0, "validation loss %g -> %g after 30 steps: no learning", v0, v1);
    /* 20 steps with checkpoints, a new process-like start from step 20 */
    run(dir, &c, 20, 0, NULL, NULL);
    uint64_t h_res = run(dir, &c, 30, 1, NULL, NULL);
    CHECK(h_res == h_full, "resumed run differs from the uninterrupted one");
    /* a changed objective refuses the checkpoint */
    es_byte_config cfg = tiny_cfg();
    cfg.dropout = 0.1f;
    cfg.zoneout = 0.1f;
    es_byte_model *m = NULL;
    es_bpt *t = NULL;
    es_bpt_params p = tiny_params(dir);
    p.density = 0.3;
    REQUIRE(es_byte_model_new(&m, &cfg, 1, &err) == ES_OK && es_bpt_new(&t, m, &p, &err) == ES_OK, "new");
    CHECK(es_bpt_resume(t, &err) == ES_ERR_FORMAT && strstr(err.msg, "config hash"), "changed objective: %s", err.msg);
    CHECK(es_bpt_step_count(t) == 0, "failed resume changed the step");
    es_bpt_free(t);
    es_byte_model_free(m);
    rm_rf(dir);
    es_bpt_corpus_free(&c);
}

static void test_load_encoder(void) {
    es_error err = {0};
    char dir[] = "/tmp/es_bpt_enc_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    es_byte_config cfg = tiny_cfg();
    es_byte_model *a = NULL, *b = NULL;
    REQUIRE(es_byte_model_new(&a, &cfg, 1, &err) == ES_OK && es_byte_model_new(&b, &cfg, 2, &err) == ES_OK, "new");
    REQUIRE(es_byte_model_save_dir(a, dir, &err) == ES_OK, "%s", err.msg);
    es_params *pa = es_byte_model_params(a), *pb = es_byte_model_params(b);
    float *b0 = malloc(pb->total * sizeof(float));
    memcpy(b0, pb->data, pb->total * sizeof(float));
    int n = 0;
    REQUIRE(es_byte_load_encoder(b, dir, &n, &err) == ES_OK, "%s", err.msg);
    CHECK(n == pb->n - 3, "copied %d of %d tensors (all but pool.weight, head.weight, head.bias)", n, pb->n);
    for (int i = 0; i < pb->n; i++) {
        const es_param *p = &pb->p[i];
        int head = !strncmp(p->name, "pool.", 5) || !strncmp(p->name, "head.", 5);
        const float *want = head ? b0 + p->offset : pa->data + pa->p[es_params_find(pa, p->name)].offset;
        CHECK(memcmp(pb->data + p->offset, want, p->numel * sizeof(float)) == 0, "%s: %s", p->name,
              head ? "head changed" : "not copied");
    }
    /* mismatches: message names the problem; the model is unchanged */
    struct { const char *what; es_byte_config c; const char *needle; } bad[4];
    for (int k = 0; k < 4; k++) bad[k].c = tiny_cfg();
    bad[0].what = "hidden";  bad[0].c.qrnn_hidden = 10; bad[0].needle = "qrnn.0.fwd.weight has shape (24, 2, 12) there, the model needs (30, 2, 12)";
    bad[1].what = "downsample"; bad[1].c.downsample = 8; bad[1].needle = "downsample is 4 there, the model has 8";
    bad[2].what = "depth"; bad[2].c.qrnn_layers = 3; bad[2].needle = "qrnn.2.fwd.weight";
    bad[3].what = "shallower"; bad[3].c.qrnn_layers = 1; bad[3].needle = "qrnn.1.fwd.weight there has no place";
    for (int k = 0; k < 4; k++) {
        es_byte_model *x = NULL;
        REQUIRE(es_byte_model_new(&x, &bad[k].c, 5, &err) == ES_OK, "%s", err.msg);
        uint64_t h = es_params_hash(es_byte_model_params(x));
        es_status s = es_byte_load_encoder(x, dir, &n, &err);
        CHECK(s == ES_ERR_SHAPE && strstr(err.msg, bad[k].needle), "%s: status %d, message '%s'", bad[k].what,
              (int)s, err.msg);
        CHECK(h == es_params_hash(es_byte_model_params(x)), "%s: model changed by a refused load", bad[k].what);
        es_byte_model_free(x);
    }
    CHECK(es_byte_load_encoder(b, "/nonexistent/folder", &n, &err) != ES_OK && strstr(err.msg, "init_encoder"),
          "missing folder: %s", err.msg);
    free(b0);
    es_byte_model_free(a);
    es_byte_model_free(b);
    rm_rf(dir);
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    REQUIRE(f, "create %s", path);
    fputs("Subject: x\n\nhello\n", f);
    fclose(f);
}

static void test_fraction(void) {
    es_error err = {0};
    char dir[] = "/tmp/es_bpt_spam_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    char sub[2][4200], path[4400];
    snprintf(sub[0], sizeof sub[0], "%s/spam-assassin", dir);
    mkdir(sub[0], 0777);
    snprintf(sub[0], sizeof sub[0], "%s/spam-assassin/easy-ham-1", dir);
    snprintf(sub[1], sizeof sub[1], "%s/spam-assassin/spam-1", dir);
    mkdir(sub[0], 0777);
    mkdir(sub[1], 0777);
    uint32_t st = 99;
    for (int i = 0; i < 600; i++) {
        char hex[33];
        for (int j = 0; j < 32; j++) {
            st = st * 1664525u + 1013904223u;
            hex[j] = "0123456789abcdef"[(st >> 16) & 15];
        }
        hex[32] = 0;
        snprintf(path, sizeof path, "%s/%05d.%s.txt", sub[i % 3 == 0], i, hex); /* 1/3 spam */
        touch(path);
    }
    es_text_dataset *d = NULL;
    REQUIRE(es_data_spam_list(&d, dir, &err) == ES_OK, "%s", err.msg);
    size_t nh = es_text_dataset_count(d, ES_SPLIT_TRAIN, 0), ns = es_text_dataset_count(d, ES_SPLIT_TRAIN, 1);
    uint8_t *a = malloc(d->n), *b = malloc(d->n), *big = malloc(d->n);
    REQUIRE(es_data_spam_fraction(a, d, ES_SPLIT_TRAIN, 0.05, 1, &err) == ES_OK, "%s", err.msg);
    size_t ch = 0, cs = 0, other = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!a[i]) continue;
        if (d->ex[i].split != ES_SPLIT_TRAIN) other++;
        else if (d->ex[i].label == 0) ch++;
        else cs++;
    }
    CHECK(other == 0, "%zu chosen outside the train split", other);
    CHECK(ch == (size_t)llround(0.05 * (double)nh) && cs == (size_t)llround(0.05 * (double)ns),
          "ham %zu of %zu, spam %zu of %zu: not round(5%%) per label", ch, nh, cs, ns);
    es_data_spam_fraction(b, d, ES_SPLIT_TRAIN, 0.05, 1, &err);
    CHECK(memcmp(a, b, d->n) == 0, "same seed, different subset");
    es_data_spam_fraction(b, d, ES_SPLIT_TRAIN, 0.05, 2, &err);
    CHECK(memcmp(a, b, d->n) != 0, "seed 2 gave seed 1's subset");
    es_data_spam_fraction(big, d, ES_SPLIT_TRAIN, 0.2, 1, &err);
    int nested = 1;
    for (size_t i = 0; i < d->n; i++) nested &= !a[i] || big[i];
    CHECK(nested, "the 5%% subset is not inside the 20%% subset");
    es_data_spam_fraction(b, d, ES_SPLIT_TRAIN, 0.001, 1, &err);
    size_t tiny = 0;
    for (size_t i = 0; i < d->n; i++) tiny += b[i];
    CHECK(tiny == 2, "0.1%%: %zu chosen, want 1 per label", tiny);
    CHECK(es_data_spam_fraction(b, d, ES_SPLIT_TRAIN, 0.0, 1, &err) == ES_ERR_ARG, "fraction 0 accepted");
    CHECK(es_data_spam_fraction(b, d, ES_SPLIT_TRAIN, 1.5, 1, &err) == ES_ERR_ARG, "fraction 1.5 accepted");
    free(a);
    free(b);
    free(big);
    es_text_dataset_free(d);
    rm_rf(dir);
}

int main(void) {
    test_corrupt();
    test_corpus();
    test_gradients();
    test_training();
    test_load_encoder();
    test_fraction();
    TEST_MAIN_END();
}
