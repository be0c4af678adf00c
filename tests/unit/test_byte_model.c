/*
 * Byte classifier folders and the public API: a saved ByteQRNN loads
 * through es_model_load, es_session_classify gives the same probabilities
 * as the in-process model (bit-identical: same code path and order),
 * labels and sizes are reported, wrong shapes / missing tensors / bad
 * configs are refused with messages naming the tensor or key. Also prints
 * the latency of a 2,048-byte message for the default (shipped) shape.
 */
#include "test.h"

#include "io/fileio.h"
#include "model/byte_model.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    char dir[] = "/tmp/es_bytemodel_XXXXXX";
    char *made = mkdtemp(dir);
    REQUIRE(made != NULL, "mkdtemp");
    es_error e;
    es_byte_config c;
    es_byte_config_default(&c, ES_BYTE_QRNN);
    strcpy(c.labels[0], "ham");
    strcpy(c.labels[1], "spam");
    es_byte_model *bm = NULL;
    es_status s = es_byte_model_new(&bm, &c, 17, &e);
    REQUIRE(s == ES_OK, "new: %s", e.msg);
    size_t np = es_byte_model_n_params(bm);
    printf("default ByteQRNN: %zu parameters (%.1f KB fp32)\n", np, np * 4 / 1024.0);
    CHECK(np * 4 <= 1024 * 1024, "default model exceeds 1 MB");
    s = es_byte_model_save_dir(bm, dir, &e);
    REQUIRE(s == ES_OK, "save: %s", e.msg);

    /* message: 2,048 bytes of mail-like text */
    uint8_t msg[2048];
    const char *pat = "From: a@b.c\nSubject: cheap meds, buy now!!! $$$ click http://x.y/z\n";
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)pat[i % strlen(pat)];

    es_byte_ws *ws = NULL;
    s = es_byte_ws_new(&ws, bm, 1, c.max_bytes, 0, NULL, &e);
    REQUIRE(s == ES_OK, "ws: %s", e.msg);
    float pr[2], pr2[2];
    s = es_byte_predict(ws, bm, msg, sizeof msg, pr, 2, &e);
    CHECK(s == ES_OK, "predict: %s", e.msg);
    CHECK(fabsf(pr[0] + pr[1] - 1.0f) < 1e-6f, "probabilities sum %g", (double)(pr[0] + pr[1]));

    es_model *m = NULL;
    s = es_model_load(&m, dir, NULL, &e);
    REQUIRE(s == ES_OK, "es_model_load: %s", e.msg);
    CHECK(es_model_n_labels(m) == 2, "labels");
    CHECK(es_model_label(m, 1) && strcmp(es_model_label(m, 1), "spam") == 0, "label 1");
    CHECK(es_model_label(m, 2) == NULL, "label 2 is out of range");
    CHECK(es_model_max_bytes(m) == 2048, "max_bytes");
    CHECK(es_model_get_info(m)->arch == ES_ARCH_BYTE_CLASSIFIER, "arch");
    CHECK(es_model_get_info(m)->n_params == np, "n_params");
    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.n_threads = 1;
    es_session *ss = NULL;
    s = es_session_new(&ss, m, &sp, &e);
    REQUIRE(s == ES_OK, "session: %s", e.msg);
    s = es_session_classify(ss, msg, sizeof msg, pr2, 2);
    CHECK(s == ES_OK, "classify: %s", es_session_errmsg(ss));
    CHECK(memcmp(pr, pr2, sizeof pr) == 0, "session %.9g vs model %.9g", (double)pr2[1], (double)pr[1]);
    s = es_session_classify(ss, msg, sizeof msg, pr2, 1);
    CHECK(s == ES_ERR_BUFFER, "short probs buffer");
    s = es_session_classify(ss, NULL, 0, pr2, 2);
    CHECK(s == ES_OK && fabsf(pr2[0] + pr2[1] - 1.0f) < 1e-6f, "empty input");
    /* longer than max_bytes: cut */
    uint8_t *big = malloc(5000);
    memcpy(big, msg, 2048);
    memset(big + 2048, 'Z', 5000 - 2048);
    s = es_session_classify(ss, big, 5000, pr2, 2);
    CHECK(s == ES_OK && memcmp(pr, pr2, sizeof pr) == 0, "input cut to max_bytes");
    /* batch equals singles */
    const uint8_t *bb[3] = {msg, (const uint8_t *)"hi", big};
    size_t ll[3] = {2048, 2, 5000};
    float pb[6], p1[2];
    s = es_session_classify_batch(ss, bb, ll, 3, pb);
    CHECK(s == ES_OK, "batch: %s", es_session_errmsg(ss));
    for (int i = 0; i < 3; i++) {
        es_session_classify(ss, bb[i], ll[i], p1, 2);
        CHECK(fabsf(p1[1] - pb[2 * i + 1]) < 1e-6f, "batch row %d: %g vs %g", i, (double)pb[2 * i + 1], (double)p1[1]);
    }
    free(big);

    /* latency (1 thread, best of 5) */
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        es_session_classify(ss, msg, sizeof msg, pr2, 2);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    printf("classify 2,048 bytes: %.3f ms (1 thread, %s kernels)\n", best * 1e3, getenv("EDGESEQ_ISA") ? getenv("EDGESEQ_ISA") : "auto");
    es_session_free(ss);
    es_model_free(m);

    /* hostile folders */
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *bad_cfg = "{\"model_type\": \"edgeseq-byte-classifier\", \"encoder\": \"byteqrnn\", "
                          "\"labels\": [\"ham\", \"spam\"], \"qrnn_hidden\": 33}";
    s = es_atomic_write_file(path, bad_cfg, strlen(bad_cfg), &e);
    REQUIRE(s == ES_OK, "write");
    s = es_model_load(&m, dir, NULL, &e);
    CHECK(s == ES_ERR_SHAPE && strstr(e.msg, "qrnn.0.fwd.weight"), "shape mismatch: %d %s", s, e.msg);
    const char *bad_enc = "{\"model_type\": \"edgeseq-byte-classifier\", \"encoder\": \"bytelstm\"}";
    es_atomic_write_file(path, bad_enc, strlen(bad_enc), &e);
    s = es_model_load(&m, dir, NULL, &e);
    CHECK(s == ES_ERR_FORMAT && strstr(e.msg, "bytelstm"), "bad encoder: %d %s", s, e.msg);
    const char *bad_val = "{\"model_type\": \"edgeseq-byte-classifier\", \"encoder\": \"byteqrnn\", \"d_model\": -3}";
    es_atomic_write_file(path, bad_val, strlen(bad_val), &e);
    s = es_model_load(&m, dir, NULL, &e);
    CHECK(s == ES_ERR_FORMAT && strstr(e.msg, "d_model"), "bad value: %d %s", s, e.msg);
    const char *bad_lab = "{\"model_type\": \"edgeseq-byte-classifier\", \"encoder\": \"byteqrnn\", \"labels\": [\"x\"]}";
    es_atomic_write_file(path, bad_lab, strlen(bad_lab), &e);
    s = es_model_load(&m, dir, NULL, &e);
    CHECK(s == ES_ERR_FORMAT && strstr(e.msg, "labels"), "one label: %d %s", s, e.msg);
    es_byte_ws_free(ws);
    es_byte_model_free(bm);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
