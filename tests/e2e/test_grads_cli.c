/*
 * `edgeseq grads` end to end against PyTorch: for both fixture checkpoints,
 * write a JSON-lines file of the three fixture texts (taken from the
 * `texts` metadata of expected.safetensors), run the CLI, and compare its
 * `loss` (relative 1e-5) and every `grad.*` with grads.safetensors under
 * README §6's gradient rule (element-wise 1e-4·M + 1e-3·|r|, M per row for
 * the embedding / LM head; per-tensor L2 1e-4). Also: the output has
 * exactly the fixture's gradient names, and bad data (invalid JSON line)
 * fails with exit 1 and a message naming file and line.
 */
#include "test.h"

#include "io/weights.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static es_weights *open_st(const char *path) {
    es_weights *w = NULL;
    es_error e;
    es_status s = es_weights_new(&w, &e);
    if (!s) s = es_safetensors_read(w, path, &e);
    if (s) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        es_weights_free(w);
        return NULL;
    }
    es_weights_seal(w);
    return w;
}

static float *f32(const es_tensor_view *t) {
    float *x = malloc(es_tensor_numel(t) * sizeof(float) + 4);
    es_error e;
    CHECK(es_tensor_to_f32(x, t, &e) == ES_OK, "%s: %s", t->name, e.msg);
    return x;
}

static void write_jsonl(const char *path, const char *texts_json) {
    json_object *o = json_tokener_parse(texts_json), *in = NULL, *tg = NULL;
    REQUIRE(o && json_object_object_get_ex(o, "inputs", &in) &&
                json_object_object_get_ex(o, "targets", &tg),
            "texts metadata malformed");
    FILE *f = fopen(path, "w");
    REQUIRE(f, "cannot write %s", path);
    for (size_t i = 0; i < json_object_array_length(in); i++) {
        json_object *row = json_object_new_object();
        json_object_object_add(row, "input", json_object_get(json_object_array_get_idx(in, i)));
        json_object_object_add(row, "target", json_object_get(json_object_array_get_idx(tg, i)));
        fprintf(f, "%s\n", json_object_to_json_string_ext(row, JSON_C_TO_STRING_PLAIN));
        json_object_put(row);
    }
    fclose(f);
    json_object_put(o);
}

static void check_ckpt(const char *ckpt, const char *tmp) {
    char rel[256], jl[512], out[512], cmd[4096];
    printf("%s\n", ckpt);
    snprintf(rel, sizeof rel, "t5/%s/expected.safetensors", ckpt);
    es_weights *ex = open_st(fixture(rel));
    snprintf(rel, sizeof rel, "t5/%s/grads.safetensors", ckpt);
    es_weights *g = open_st(fixture(rel));
    REQUIRE(ex && g, "fixtures");
    const char *texts = es_weights_get_meta(ex, "texts");
    REQUIRE(texts, "no texts metadata");
    snprintf(jl, sizeof jl, "%s/%s.jsonl", tmp, ckpt);
    snprintf(out, sizeof out, "%s/%s.grads.safetensors", tmp, ckpt);
    write_jsonl(jl, texts);
    snprintf(rel, sizeof rel, "t5/%s", ckpt);
    snprintf(cmd, sizeof cmd, "'%s' grads -m '%s' --data '%s' --out '%s' -t 2", ES_CLI,
             fixture(rel), jl, out);
    int rc = system(cmd);
    REQUIRE(rc == 0, "'%s' exited %d", cmd, rc);
    es_weights *c = open_st(out);
    REQUIRE(c, "output unreadable");
    float *cl = f32(es_weights_find(c, "loss")), *rl = f32(es_weights_find(g, "loss"));
    double lrel = fabs((double)cl[0] - rl[0]) / fabs(rl[0]);
    CHECK(lrel <= 1e-5, "loss %.9g vs %.9g", cl[0], rl[0]);
    printf("  loss %.9g vs %.9g (relative %.2e)\n", cl[0], rl[0], lrel);
    free(cl);
    free(rl);
    size_t n_grad = 0, n_out = 0;
    double worst = 0, worst_l2 = 0;
    for (size_t i = 0; i < es_weights_count(c); i++)
        n_out += strncmp(es_weights_at(c, i)->name, "grad.", 5) == 0;
    for (size_t i = 0; i < es_weights_count(g); i++) {
        const es_tensor_view *r = es_weights_at(g, i);
        if (strncmp(r->name, "grad.", 5) != 0) continue;
        n_grad++;
        const es_tensor_view *t = es_weights_find(c, r->name);
        CHECK(t && es_tensor_numel(t) == es_tensor_numel(r), "%s missing or wrong size", r->name);
        if (!t || es_tensor_numel(t) != es_tensor_numel(r)) continue;
        float *cv = f32(t), *rv = f32(r);
        size_t n = es_tensor_numel(r), cols = r->ndim == 2 ? (size_t)r->shape[1] : n;
        int per_row = strstr(r->name, "shared.weight") || strstr(r->name, "lm_head.weight");
        double M = 0, d2 = 0, r2 = 0, w = 0;
        for (size_t k = 0; k < n; k++) M = fmax(M, fabs(rv[k]));
        for (size_t row = 0; row < n / cols; row++) {
            double Mr = M;
            if (per_row) {
                Mr = 0;
                for (size_t k = 0; k < cols; k++) Mr = fmax(Mr, fabs(rv[row * cols + k]));
            }
            for (size_t k = 0; k < cols; k++) {
                size_t e = row * cols + k;
                double d = fabs((double)cv[e] - rv[e]), b = 1e-4 * Mr + 1e-3 * fabs(rv[e]);
                w = fmax(w, b > 0 ? d / b : (d > 0 ? INFINITY : 0));
                d2 += d * d;
                r2 += (double)rv[e] * rv[e];
            }
        }
        double l2 = r2 > 0 ? sqrt(d2) / (1e-4 * sqrt(r2)) : (d2 > 0 ? INFINITY : 0);
        CHECK(w <= 1 && l2 <= 1, "%s: element %.3f, L2 %.3f of the bound", r->name, w, l2);
        worst = fmax(worst, w);
        worst_l2 = fmax(worst_l2, l2);
        free(cv);
        free(rv);
    }
    CHECK(n_out == n_grad, "output has %zu grad tensors, fixture %zu", n_out, n_grad);
    printf("  %zu gradients: worst element %.4f, worst L2 %.4f of the bound\n", n_grad, worst,
           worst_l2);
    es_weights_free(c);
    es_weights_free(ex);
    es_weights_free(g);
}

int main(void) {
    char tmp[] = "/tmp/es_grads_cli_XXXXXX";
    REQUIRE(mkdtemp(tmp), "mkdtemp");
    check_ckpt("tiny-v1", tmp);
    check_ckpt("tiny-v11", tmp);

    /* bad data: a broken line is named, exit status 1, no output file */
    char bad[512], out[512], errf[512], cmd[4096];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", tmp);
    snprintf(out, sizeof out, "%s/bad.safetensors", tmp);
    snprintf(errf, sizeof errf, "%s/err.txt", tmp);
    FILE *f = fopen(bad, "w");
    fprintf(f, "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"a\", \"target\": }\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' grads -m '%s' --data '%s' --out '%s' 2>'%s'", ES_CLI,
             fixture("t5/tiny-v1"), bad, out, errf);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "bad data: exit %d, expected 1", rc);
    char msg[1024] = "";
    f = fopen(errf, "r");
    if (f) {
        size_t n = fread(msg, 1, sizeof msg - 1, f);
        msg[n] = 0;
        fclose(f);
    }
    CHECK(strstr(msg, "bad.jsonl:2: invalid JSON") != NULL, "bad data message: %s", msg);
    CHECK(access(out, F_OK) != 0, "output written despite bad data");
    printf("  bad data: %s", msg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
