/*
 * test_quant_byteqrnn.c — in-training quantization of the ByteQRNN and its
 * int8 export (src/quant/byte_qat.c):
 *  1. "qat" config JSON round trip; bad blocks refused naming the key.
 *  2. Before start_step a QAT model computes exactly (bitwise) what the
 *     same weights compute without QAT.
 *  3. QAT training (trainer, fake-quant from step 0) learns a byte rule;
 *     qat.updates counts the training forwards; the EMA ranges are set;
 *     1 and 2 threads give bit-identical parameters (ranges included).
 *  4. Export --int8 → es_byte_model_load_dir / es_model_load: tensors I8 +
 *     F32 scales; the integer path ran; its layer outputs match the
 *     fake-quant float graph (the QAT model in eval) within a few LSB of
 *     the next layer's uint8 grid, and its probabilities closely; size ≤
 *     0.3 × fp32 for the shipped spam-filter shape.
 *  5. Hostile int8 files: missing scale, non-positive scale, I8 shape
 *     mismatch → refused naming the tensor.
 */
#include "io/fileio.h"
#include "io/weights.h"
#include "model/byte_internal.h"
#include "quant/byte_qat.h"
#include "train/trainer.h"

#include "edgeseq.h"
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

static es_byte_config tiny(int start_step) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    c.max_bytes = 48;
    c.d_model = 8;
    c.gbst_blocks = 2;
    c.gbst_kernel = 3;
    c.downsample = 2;
    c.qrnn_layers = 2;
    c.qrnn_hidden = 6;
    c.qrnn_kernel = 2;
    c.zoneout = 0.05f;
    c.dropout = 0.1f;
    c.qat = es_qat_config_default();
    c.qat.start_step = start_step;
    return c;
}

/* ---- data: label 1 iff the text contains 'z' ---- */
enum { N_EX = 96 };
static uint8_t g_text[N_EX][40];
static es_example g_ex[N_EX];
static void make_data(void) {
    uint64_t st = 12345;
    for (int i = 0; i < N_EX; i++) {
        size_t n = 8 + (size_t)(i * 7 % 30);
        for (size_t k = 0; k < n; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            g_text[i][k] = (uint8_t)('a' + (st >> 33) % 25); /* a..y */
        }
        int lab = i % 2;
        if (lab) g_text[i][(i * 5) % n] = 'z';
        g_ex[i] = (es_example){g_text[i], n, lab, NULL, 0};
    }
}

static void test_config(void) {
    es_byte_config c = tiny(7), d;
    c.qat.per_channel = 0;
    c.qat.ema_decay = 0.95f;
    char *json = NULL;
    es_error e;
    REQUIRE(es_byte_config_to_json(&c, &json, &e) == ES_OK, "to_json");
    REQUIRE(es_byte_config_from_json(&d, json, strlen(json), "t", &e) == ES_OK, "from_json: %s", e.msg);
    CHECK(d.qat.enabled && !d.qat.per_channel && d.qat.activations && d.qat.start_step == 7 &&
              fabsf(d.qat.ema_decay - 0.95f) < 1e-7f && !d.qat.int8, "qat round trip");
    es_free(json);
    const char *bad[] = {
        "{\"encoder\": \"byteqrnn\", \"qat\": 5}",
        "{\"encoder\": \"byteqrnn\", \"qat\": {\"weights\": \"per_row\"}}",
        "{\"encoder\": \"byteqrnn\", \"qat\": {\"ema_decay\": 1.5}}",
        "{\"encoder\": \"byteqrnn\", \"qat\": {\"start_step\": -1}}",
        "{\"encoder\": \"byteqrnn\", \"qat\": {\"activations\": \"yes\"}}"};
    for (size_t i = 0; i < 5; i++) {
        es_status s = es_byte_config_from_json(&d, bad[i], strlen(bad[i]), "bad", &e);
        CHECK(s == ES_ERR_FORMAT && strstr(e.msg, "qat"), "bad qat %zu: %d %s", i, s, e.msg);
        printf("  refused: %s\n", e.msg);
    }
    const char *none = "{\"encoder\": \"byteqrnn\"}";
    REQUIRE(es_byte_config_from_json(&d, none, strlen(none), "t", &e) == ES_OK, "plain");
    CHECK(!d.qat.enabled, "no qat block → disabled");
}

static void logits_of(es_byte_model *m, float *out, int n) {
    es_byte_ws *ws = NULL;
    es_error e;
    REQUIRE(es_byte_ws_new(&ws, m, 4, 48, 0, NULL, &e) == ES_OK, "ws: %s", e.msg);
    for (int i = 0; i < n; i += 4) {
        const uint8_t *b[4];
        size_t l[4];
        for (int k = 0; k < 4; k++) b[k] = g_ex[i + k].bytes, l[k] = g_ex[i + k].len;
        REQUIRE(es_byte_forward(ws, m, b, l, 4, 0, NULL, out + 2 * i, &e) == ES_OK, "fwd");
    }
    es_byte_ws_free(ws);
}

static void test_start_step(void) {
    es_byte_config c = tiny(5), f = tiny(0);
    f.qat.enabled = 0;
    es_byte_model *mq = NULL, *mf = NULL;
    es_error e;
    REQUIRE(es_byte_model_new(&mq, &c, 3, &e) == ES_OK && es_byte_model_new(&mf, &f, 3, &e) == ES_OK,
            "models");
    CHECK(es_params_find(es_byte_model_params(mq), "qat.act_range") >= 0 &&
              es_params_find(es_byte_model_params(mq), "qat.updates") >= 0 &&
              es_params_find(es_byte_model_params(mf), "qat.updates") < 0, "qat tensors registered");
    float a[2 * 16], b[2 * 16];
    logits_of(mq, a, 16);
    logits_of(mf, b, 16);
    CHECK(memcmp(a, b, sizeof a) == 0, "before start_step: QAT model != float model");
    es_byte_model_free(mq);
    es_byte_model_free(mf);
}

static es_byte_model *train_qat(int threads, int steps, double *loss0, double *loss1) {
    es_byte_config c = tiny(0);
    es_byte_model *m = NULL;
    es_error e;
    REQUIRE(es_byte_model_new(&m, &c, 11, &e) == ES_OK, "model");
    es_train_params p = es_train_params_default();
    p.batch_size = 16;
    p.max_steps = steps;
    p.lr = 2e-2f;
    p.warmup_steps = 5;
    p.n_threads = threads;
    p.log_every = 0;
    p.max_bytes = 48;
    es_trainer *tr = NULL;
    REQUIRE(es_trainer_new(&tr, m, &p, &e) == ES_OK, "trainer: %s", e.msg);
    es_example_source src = {N_EX, g_ex, NULL, NULL};
    double acc = 0;
    REQUIRE(es_trainer_evaluate(tr, &src, loss0, &acc, &e) == ES_OK, "eval: %s", e.msg);
    for (int s = 0; s < steps; s++) REQUIRE(es_trainer_step(tr, &src, NULL, &e) == ES_OK, "step: %s", e.msg);
    REQUIRE(es_trainer_evaluate(tr, &src, loss1, &acc, &e) == ES_OK, "eval");
    printf("  QAT training (%d threads): loss %.4f -> %.4f, accuracy %.3f\n", threads, *loss0, *loss1, acc);
    es_trainer_free(tr);
    return m;
}

static char g_dir[256];

static void test_train_export(void) {
    double l0, l1, k0, k1;
    int steps = 60;
    es_byte_model *m = train_qat(1, steps, &l0, &l1);
    es_byte_model *m2 = train_qat(2, steps, &k0, &k1);
    CHECK(l1 < 0.5 * l0, "QAT training did not learn: %g -> %g", l0, l1);
    es_params *ps = es_byte_model_params(m);
    CHECK(es_params_hash(ps) == es_params_hash(es_byte_model_params(m2)),
          "1 vs 2 threads: parameters differ under QAT");
    const float *cnt = es_params_data(ps, es_params_find(ps, "qat.updates"));
    const float *rg = es_params_data(ps, es_params_find(ps, "qat.act_range"));
    CHECK(cnt[0] == (float)steps, "qat.updates %g, want %d", (double)cnt[0], steps);
    for (int l = 0; l < 2; l++) {
        printf("  layer %d input range [%g, %g]\n", l, (double)rg[2 * l], (double)rg[2 * l + 1]);
        CHECK(rg[2 * l] <= 0.0f && rg[2 * l + 1] > 0.0f && rg[2 * l + 1] - rg[2 * l] > 1e-3f,
              "range %d not tracked", l);
    }

    /* export → load: I8 on disk, int8 config, integer path */
    snprintf(g_dir, sizeof g_dir, "/tmp/es_test_quant_%d", (int)getpid());
    char fdir[300], qdir[300];
    snprintf(fdir, sizeof fdir, "%s/float", g_dir);
    snprintf(qdir, sizeof qdir, "%s/int8", g_dir);
    mkdir(g_dir, 0777);
    es_error e;
    REQUIRE(es_byte_model_save_dir(m, fdir, &e) == ES_OK, "save: %s", e.msg);
    REQUIRE(es_byte_model_export_int8(m, qdir, &e) == ES_OK, "export: %s", e.msg);
    es_weights *w = NULL;
    const char *which;
    REQUIRE(es_weights_open_dir(&w, qdir, &which, &e) == ES_OK, "open int8: %s", e.msg);
    const es_tensor_view *t = es_weights_find(w, "qrnn.1.bwd.weight");
    const es_tensor_view *sc = es_weights_find(w, "qrnn.1.bwd.weight.qscale");
    CHECK(t && t->dtype == ES_DTYPE_I8 && sc && sc->dtype == ES_DTYPE_F32 && sc->shape[0] == 18,
          "I8 weight + per-row F32 scales on disk");
    CHECK(es_weights_get_meta(w, "edgeseq_quant") != NULL, "edgeseq_quant metadata");
    es_weights_free(w);
    es_byte_model *mi = NULL;
    REQUIRE(es_byte_model_load_dir(&mi, qdir, &e) == ES_OK, "load int8: %s", e.msg);
    CHECK(es_byte_model_config(mi)->qat.int8 == 1, "int8 flag in config");

    /* eval forwards: fake-quant graph (m) vs integer path (mi) */
    es_byte_ws *wf = NULL, *wi = NULL;
    REQUIRE(es_byte_ws_new(&wf, m, 4, 48, 0, NULL, &e) == ES_OK &&
                es_byte_ws_new(&wi, mi, 4, 48, 0, NULL, &e) == ES_OK, "ws");
    const float *rgi = es_params_data(es_byte_model_params(mi),
                                      es_params_find(es_byte_model_params(mi), "qat.act_range"));
    es_qparams g1 = es_qparams_from_range(rgi[2], rgi[3]);
    double worst_lsb = 0, worst_p = 0, worst_h = 0;
    int flips = 0, n_codes = 0;
    for (int i = 0; i < N_EX; i += 4) {
        const uint8_t *b[4];
        size_t l[4];
        float lf[8], li[8];
        for (int k = 0; k < 4; k++) b[k] = g_ex[i + k].bytes, l[k] = g_ex[i + k].len;
        REQUIRE(es_byte_forward(wf, m, b, l, 4, 0, NULL, lf, &e) == ES_OK, "fq fwd");
        REQUIRE(es_byte_forward(wi, mi, b, l, 4, 0, NULL, li, &e) == ES_OK, "int8 fwd");
        CHECK(es_byte_qat_int8_ran(wi) && !es_byte_qat_int8_ran(wf), "int8 path did not run");
        /* layer-0 output = layer-1 input: in LSB of layer 1's uint8 grid */
        size_t rows = es_seq_rows(&wi->s1) * (size_t)mi->d_enc;
        for (size_t r = 0; r < rows; r++) {
            double d = fabs((double)wf->qh[0][r] - wi->qh[0][r]);
            worst_h = d > worst_h ? d : worst_h;
            double lsb = d / g1.scale;
            worst_lsb = lsb > worst_lsb ? lsb : worst_lsb;
            flips += es_quant_u8(wf->qh[0][r], &g1) != es_quant_u8(wi->qh[0][r], &g1);
            n_codes++;
        }
        for (int k = 0; k < 4; k++) {
            double pf = 1.0 / (1.0 + exp((double)(lf[2 * k] - lf[2 * k + 1])));
            double pi = 1.0 / (1.0 + exp((double)(li[2 * k] - li[2 * k + 1])));
            worst_p = fabs(pf - pi) > worst_p ? fabs(pf - pi) : worst_p;
        }
    }
    printf("  int8 vs fake-quant graph: layer-0 output max |diff| %.3g = %.4f LSB of layer 1's grid "
           "(s = %.4g), %d of %d codes differ; max |P(z) diff| %.3g\n",
           worst_h, worst_lsb, (double)g1.scale, flips, n_codes, worst_p);
    CHECK(worst_lsb <= 2.0, "layer output off by %.3f LSB", worst_lsb);
    CHECK(flips * 100 <= n_codes, "%d of %d codes differ", flips, n_codes);
    CHECK(worst_p < 0.02, "probabilities differ by %g", worst_p);
    es_byte_ws_free(wf);
    es_byte_ws_free(wi);

    /* public API: es_model_load + es_session_classify on the int8 folder */
    es_model *pm = NULL;
    es_session *sess = NULL;
    REQUIRE(es_model_load(&pm, qdir, NULL, &e) == ES_OK, "es_model_load int8: %s", e.msg);
    es_session_params sp = es_session_params_default();
    sp.n_threads = 1;
    REQUIRE(es_session_new(&sess, pm, &sp, &e) == ES_OK, "session: %s", e.msg);
    float pr[2], pd[2];
    CHECK(es_session_classify(sess, g_ex[1].bytes, g_ex[1].len, pr, 2) == ES_OK, "classify");
    es_byte_ws *wd = NULL;
    REQUIRE(es_byte_ws_new(&wd, mi, 1, 48, 0, NULL, &e) == ES_OK, "ws");
    REQUIRE(es_byte_predict(wd, mi, g_ex[1].bytes, g_ex[1].len, pd, 2, &e) == ES_OK, "predict");
    CHECK(pr[0] == pd[0] && pr[1] == pd[1], "es_session_classify %g vs %g", (double)pr[1], (double)pd[1]);
    es_byte_ws_free(wd);
    es_session_free(sess);
    es_model_free(pm);

    es_byte_model_free(mi);
    es_byte_model_free(m);
    es_byte_model_free(m2);
}

static long fsize(const char *dir) {
    char p[400];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* Shipped spam-filter shape (models/spam-byteqrnn/config.json). */
static void test_size(void) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    c.downsample = 8;
    c.qrnn_hidden = 48;
    c.qat = es_qat_config_default();
    es_byte_model *m = NULL;
    es_error e;
    REQUIRE(es_byte_model_new(&m, &c, 1, &e) == ES_OK, "model");
    char fdir[300], qdir[300];
    snprintf(fdir, sizeof fdir, "%s/sf", g_dir);
    snprintf(qdir, sizeof qdir, "%s/sq", g_dir);
    REQUIRE(es_byte_model_save_dir(m, fdir, &e) == ES_OK && es_byte_model_export_int8(m, qdir, &e) == ES_OK,
            "save/export");
    long f = fsize(fdir), q = fsize(qdir);
    printf("  spam shape: fp32 %ld bytes, int8 %ld bytes, ratio %.3f\n", f, q, (double)q / (double)f);
    CHECK(q > 0 && (double)q <= 0.3 * (double)f, "int8 file %ld > 0.3 × %ld", q, f);
    es_byte_model_free(m);
}

/* Rewrites the int8 folder's tensors with one change and expects a refusal. */
static void hostile(const char *what, const char *drop, const char *neg_scale, int bad_shape,
                    es_status want) {
    char qdir[300], hdir[300], src[400], dst[400];
    snprintf(qdir, sizeof qdir, "%s/int8", g_dir);
    snprintf(hdir, sizeof hdir, "%s/hostile", g_dir);
    mkdir(hdir, 0777);
    es_error e;
    es_weights *w = NULL;
    const char *which;
    REQUIRE(es_weights_open_dir(&w, qdir, &which, &e) == ES_OK, "open");
    size_t n = es_weights_count(w), k = 0;
    es_st_write_tensor *t = calloc(n, sizeof *t);
    float *neg = NULL;
    for (size_t i = 0; i < n; i++) {
        const es_tensor_view *v = es_weights_at(w, i);
        if (drop && strcmp(v->name, drop) == 0) continue;
        es_st_write_tensor *o = &t[k++];
        o->name = v->name;
        o->dtype = v->dtype;
        o->ndim = v->ndim;
        for (int d = 0; d < v->ndim; d++) o->shape[d] = v->shape[d];
        o->data = v->data;
        if (neg_scale && strcmp(v->name, neg_scale) == 0) {
            neg = malloc(v->nbytes);
            memcpy(neg, v->data, v->nbytes);
            neg[0] = -1.0f;
            o->data = neg;
        }
        if (bad_shape && v->dtype == ES_DTYPE_I8 && strcmp(v->name, "head.weight") == 0) {
            o->ndim = 1; /* same bytes, rank 1 */
            o->shape[0] = v->shape[0] * v->shape[1];
        }
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", hdir);
    REQUIRE(es_safetensors_write(dst, t, k, NULL, 0, &e) == ES_OK, "write: %s", e.msg);
    snprintf(src, sizeof src, "%s/config.json", qdir);
    void *cj = NULL;
    size_t cl = 0;
    REQUIRE(es_read_file(src, &cj, &cl, 1 << 20, &e) == ES_OK, "read config");
    snprintf(dst, sizeof dst, "%s/config.json", hdir);
    REQUIRE(es_atomic_write_file(dst, cj, cl, &e) == ES_OK, "write config");
    es_free(cj);
    es_byte_model *m = NULL;
    es_status s = es_byte_model_load_dir(&m, hdir, &e);
    CHECK(s == want && m == NULL, "%s: load returned %d (%s), want %d", what, s, e.msg, want);
    printf("  %-22s -> %s\n", what, e.msg);
    es_byte_model_free(m);
    free(neg);
    free(t);
    es_weights_free(w);
}

/* Transformer encoders: weights fake-quantized through the shadow model;
 * a training step runs and the eval output differs from the float model
 * with the same weights (the quantized weights are really used). */
static void test_transformer_weights(void) {
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_TRANSFORMER);
    c.max_bytes = 48;
    c.d_model = 16;
    c.d_ff = 32;
    c.n_heads = 2;
    c.max_positions = 24;
    c.qat = es_qat_config_default();
    es_byte_config f = c;
    f.qat.enabled = 0;
    es_byte_model *mq = NULL, *mf = NULL;
    es_error e;
    REQUIRE(es_byte_model_new(&mq, &c, 5, &e) == ES_OK && es_byte_model_new(&mf, &f, 5, &e) == ES_OK,
            "tf models");
    float a[2 * 16], b[2 * 16];
    logits_of(mq, a, 16);
    logits_of(mf, b, 16);
    double d = 0;
    for (int i = 0; i < 32; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    printf("  bytetransformer: fake-quant weights move logits by %.3g\n", d);
    CHECK(d > 0 && d < 0.1, "transformer fake-quant effect %g", d);
    REQUIRE(es_byte_model_enable_grad(mq, &e) == ES_OK, "grad");
    es_byte_ws *ws = NULL;
    es_rng rng;
    es_rng_seed(&rng, 1);
    REQUIRE(es_byte_ws_new(&ws, mq, 4, 48, 1, NULL, &e) == ES_OK, "ws");
    const uint8_t *bb[4];
    size_t l[4];
    float lg[8], dl[8];
    for (int k = 0; k < 4; k++) bb[k] = g_ex[k].bytes, l[k] = g_ex[k].len;
    CHECK(es_byte_forward(ws, mq, bb, l, 4, 1, &rng, lg, &e) == ES_OK, "tf train fwd");
    for (int i = 0; i < 8; i++) dl[i] = i % 2 ? 0.1f : -0.1f;
    CHECK(es_byte_backward(ws, mq, dl, &e) == ES_OK, "tf backward");
    es_params *ps = es_byte_model_params(mq);
    double gn = 0;
    for (size_t i = 0; i < ps->total; i++) gn += (double)ps->grad[i] * ps->grad[i];
    CHECK(gn > 0 && isfinite(gn), "tf grads %g", gn);
    es_byte_ws_free(ws);
    es_byte_model_free(mq);
    es_byte_model_free(mf);
}

int main(void) {
    make_data();
    test_transformer_weights();
    test_config();
    test_start_step();
    test_train_export();
    test_size();
    hostile("missing scale", "qrnn.0.fwd.weight.qscale", NULL, 0, ES_ERR_FORMAT);
    hostile("negative scale", NULL, "gbst.conv.weight.qscale", 0, ES_ERR_FORMAT);
    hostile("I8 shape mismatch", NULL, NULL, 1, ES_ERR_SHAPE);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
