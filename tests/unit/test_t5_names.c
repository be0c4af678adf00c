/*
 * test_t5_names.c — T5-Efficient names, parameter counts, the HF tensor
 * list, HF initialisation and the model-folder writer (src/model/t5_init.h).
 *
 * 1. The d_kv choice. The model card's table lists kv = 32 for tiny, mini
 *    and small, but its parameter counts (16M, 31M, 60.52M for small) are
 *    only reproduced with d_kv = 64, which is what the released configs
 *    (google/t5-efficient-tiny, -small-el32, ...) contain. We compute both
 *    and require the published counts to come out with 64 and NOT with 32.
 * 2. Name grammar: Hub suffixes (-el -dl -nl -dm -kv -nh -ff), the Hub's
 *    "ff2000 = 2048" convention, and rejection of malformed names.
 * 3. The tensor list equals, name for name and shape for shape, the
 *    tensors of the two fixture checkpoints (written like HF save_pretrained:
 *    tiny-v1 relu + tied, 47 tensors; tiny-v11 gated-gelu + untied, 61).
 * 4. Initial values: per-tensor mean/std against HF's scales, determinism
 *    (same seed -> same bits, independent of chunking), seed sensitivity.
 * 5. The writer: files, safetensors contents equal to es_t5_init_fill (F32
 *    and BF16 rounding), config.json keys, refusal of a non-empty folder,
 *    --force, and cancellation leaving nothing behind.
 */
#include "test.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "model/t5_init.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static es_t5_hparams named(const char *name) {
    es_t5_hparams h;
    es_error err = {0};
    es_status s = es_t5_efficient_hparams(&h, name, &err);
    REQUIRE(s == ES_OK, "%s: %s", name, err.msg);
    return h;
}

/* ---- 1. family counts and the d_kv choice -------------------------------------- */

static void test_family_counts(void) {
    /* published (model card / HF) counts */
    static const struct {
        const char *name;
        double published; /* parameters */
        double tol;       /* rounding of the published figure */
        uint64_t exact;   /* our exact count */
    } fam[] = {
        {"t5-efficient-tiny", 15.6e6, 0.05e6, 15570688ull},
        {"t5-efficient-mini", 31.2e6, 0.05e6, 31220480ull},
        {"t5-efficient-small", 60506624.0, 0.0, 60506624ull},
        {"t5-efficient-base", 222.9e6, 0.05e6, 222903552ull},
        {"t5-efficient-large", 737.7e6, 0.05e6, 737668096ull},
        {"t5-efficient-xl", 2.85e9, 0.005e9, 2851598336ull},
        {"t5-efficient-xxl", 11.3e9, 0.05e9, 11307321344ull},
    };
    printf("%-22s %16s %16s   published\n", "family", "d_kv=64 (ours)", "card kv (32)");
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        es_t5_hparams h = named(fam[i].name);
        uint64_t n64 = es_t5_param_count(&h);
        CHECK(n64 == fam[i].exact, "%s: %llu params, expected %llu", fam[i].name,
              (unsigned long long)n64, (unsigned long long)fam[i].exact);
        CHECK(fabs((double)n64 - fam[i].published) <= fam[i].tol, "%s: %llu vs published %.0f",
              fam[i].name, (unsigned long long)n64, fam[i].published);
        /* The card's kv column: 32 for tiny/mini/small, else what we use. */
        es_t5_hparams card = h;
        if (i < 3) card.d_kv = 32;
        uint64_t ncard = es_t5_param_count(&card);
        printf("%-22s %16llu %16llu   %.4g\n", fam[i].name, (unsigned long long)n64,
               (unsigned long long)ncard, fam[i].published);
        if (i < 3) {
            CHECK(h.d_kv == 64, "%s: d_kv %d", fam[i].name, h.d_kv);
            /* kv = 32 misses the published count by far more than rounding. */
            CHECK(fabs((double)ncard - fam[i].published) > 20 * (fam[i].tol + 1),
                  "%s: kv=32 gives %llu, unexpectedly close to %.0f", fam[i].name,
                  (unsigned long long)ncard, fam[i].published);
        }
    }
    es_t5_hparams s = named("t5-efficient-small");
    CHECK(s.n_layers == 6 && s.n_decoder_layers == 6 && s.d_model == 512 && s.d_ff == 2048 &&
              s.n_heads == 8 && s.vocab_size == 32128 && s.ffn == ES_FFN_RELU &&
              s.tie_word_embeddings == 1 && s.rel_buckets == 32 && s.rel_max_distance == 128,
          "small hyper-parameters");
    es_t5_hparams x = named("t5-efficient-xxl");
    CHECK(x.d_kv == 128 && x.n_heads == 128 && x.d_ff == 65536, "xxl: kv %d heads %d ff %d",
          x.d_kv, x.n_heads, x.d_ff);
}

/* ---- 2. names --------------------------------------------------------------------- */

static void test_names(void) {
    es_t5_hparams h = named("t5-efficient-small-el16-dl4");
    CHECK(h.n_layers == 16 && h.n_decoder_layers == 4, "el16-dl4: %d/%d", h.n_layers,
          h.n_decoder_layers);
    h = named("t5-efficient-base-dm256");
    CHECK(h.d_model == 256 && h.d_ff == 3072 && h.n_layers == 12, "base-dm256");
    h = named("t5-efficient-small-nl2");
    CHECK(h.n_layers == 2 && h.n_decoder_layers == 2, "nl2 sets both");
    h = named("google/t5-efficient-mini-nh16-kv32");
    CHECK(h.n_heads == 16 && h.d_kv == 32 && h.d_model == 384, "mini-nh16-kv32");
    /* Hub convention: ff2000 = 2048, dm1000 = 1024 (google/t5-efficient-base-ff2000
     * has d_ff 2048; -small-dm1000 has d_model 1024); small values are literal. */
    h = named("t5-efficient-base-ff2000");
    CHECK(h.d_ff == 2048, "ff2000 -> %d", h.d_ff);
    h = named("t5-efficient-small-dm1000");
    CHECK(h.d_model == 1024, "dm1000 -> %d", h.d_model);
    h = named("t5-efficient-tiny-ff6000");
    CHECK(h.d_ff == 6144, "ff6000 -> %d", h.d_ff);
    h = named("t5-efficient-small-dm768-ff1200");
    CHECK(h.d_model == 768 && h.d_ff == 1200, "dm768 ff1200");
    h = named("t5-efficient-tiny-el2-dl3-dm64-kv8-nh2-ff128");
    CHECK(h.n_layers == 2 && h.n_decoder_layers == 3 && h.d_model == 64 && h.d_kv == 8 &&
              h.n_heads == 2 && h.d_ff == 128, "all suffixes");

    static const char *const bad[] = {
        "",
        "t5-small",
        "t5-efficient-",
        "t5-efficient-huge",
        "t5-efficient-small-",
        "t5-efficient-small-el",
        "t5-efficient-small-el0",
        "t5-efficient-small-xx4",
        "t5-efficient-small-el4-el4",
        "t5-efficient-small-nl4-el2",
        "t5-efficient-small-el2-nl4",
        "t5-efficient-small-el4x",
        "t5-efficient-small-el99999999999",
        "t5-efficient-small-el-4",
        "t5-efficient-smallish",
        "T5-EFFICIENT-SMALL",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        es_error err = {0};
        es_status s = es_t5_efficient_hparams(&h, bad[i], &err);
        CHECK(s == ES_ERR_ARG && err.msg[0] && !strchr(err.msg, '\n'), "'%s' accepted (%d)",
              bad[i], (int)s);
    }
    es_error err = {0};
    CHECK(es_t5_efficient_hparams(&h, NULL, &err) == ES_ERR_ARG, "NULL name");
}

/* ---- 3. tensor list vs fixtures ------------------------------------------------------ */

static size_t numel(const es_t5_tensor_spec *t) {
    return (size_t)t->shape[0] * (size_t)(t->ndim > 1 ? t->shape[1] : 1);
}

static void test_count_matches_list(void) {
    static const char *const names[] = {"t5-efficient-tiny", "t5-efficient-small-el3-dl5",
                                        "t5-efficient-base-nh4-kv32"};
    for (size_t k = 0; k < 3; k++) {
        es_t5_hparams h = named(names[k]);
        for (int variant = 0; variant < 2; variant++) {
            if (variant) {
                h.ffn = ES_FFN_GATED_GELU;
                h.tie_word_embeddings = 0;
            }
            size_t n = es_t5_tensor_specs(&h, NULL, 0);
            es_t5_tensor_spec *sp = calloc(n, sizeof *sp);
            REQUIRE(sp, "oom");
            CHECK(es_t5_tensor_specs(&h, sp, n) == n, "count stable");
            uint64_t sum = 0;
            for (size_t i = 0; i < n; i++) sum += numel(&sp[i]);
            CHECK(sum == es_t5_param_count(&h), "%s v%d: list %llu vs count %llu", names[k],
                  variant, (unsigned long long)sum, (unsigned long long)es_t5_param_count(&h));
            free(sp);
        }
    }
}

static void compare_with_fixture(const char *ckpt, const es_t5_hparams *h, size_t expect_n) {
    void *buf;
    size_t len;
    es_error err = {0};
    char path[1024];
    snprintf(path, sizeof path, "t5/%s/model.safetensors", ckpt);
    es_status s = es_read_file(fixture(path), &buf, &len, (size_t)1 << 30, &err);
    REQUIRE(s == ES_OK, "%s", err.msg);
    es_weights *w;
    s = es_weights_new(&w, &err);
    REQUIRE(s == ES_OK, "%s", err.msg);
    s = es_safetensors_parse(w, buf, len, path, &err);
    REQUIRE(s == ES_OK, "%s: %s", path, err.msg);
    es_weights_seal(w);
    size_t n = es_t5_tensor_specs(h, NULL, 0);
    es_t5_tensor_spec *sp = calloc(n, sizeof *sp);
    REQUIRE(sp, "oom");
    es_t5_tensor_specs(h, sp, n);
    CHECK(n == expect_n && es_weights_count(w) == n, "%s: ours %zu, fixture %zu, expected %zu",
          ckpt, n, es_weights_count(w), expect_n);
    for (size_t i = 0; i < n; i++) {
        const es_tensor_view *t = es_weights_find(w, sp[i].name);
        CHECK(t != NULL, "%s: fixture has no %s", ckpt, sp[i].name);
        if (!t) continue;
        CHECK(t->ndim == sp[i].ndim && t->shape[0] == sp[i].shape[0] &&
                  (t->ndim < 2 || t->shape[1] == sp[i].shape[1]),
              "%s: %s shape differs", ckpt, sp[i].name);
    }
    free(sp);
    es_weights_free(w);
    es_free(buf);
}

static void test_fixture_names(void) {
    es_t5_hparams h = named("t5-efficient-tiny");
    /* tiny-v1: 2+2 layers, d_model 64, d_ff 128, 4 heads x 16, relu, tied */
    h.n_layers = h.n_decoder_layers = 2;
    h.d_model = 64;
    h.d_ff = 128;
    h.n_heads = 4;
    h.d_kv = 16;
    compare_with_fixture("tiny-v1", &h, 47);
    CHECK(es_t5_param_count(&h) == 2221056ull, "tiny-v1 count %llu",
          (unsigned long long)es_t5_param_count(&h));
    /* tiny-v11: 3+2 layers, d_model 48, d_ff 96, 6 heads x 12, gated-gelu, untied */
    h.n_layers = 3;
    h.n_decoder_layers = 2;
    h.d_model = 48;
    h.d_ff = 96;
    h.n_heads = 6;
    h.d_kv = 12;
    h.ffn = ES_FFN_GATED_GELU;
    h.tie_word_embeddings = 0;
    compare_with_fixture("tiny-v11", &h, 61);
    CHECK(es_t5_param_count(&h) == 3251232ull, "tiny-v11 count %llu",
          (unsigned long long)es_t5_param_count(&h));
}

/* ---- 4. initial values ----------------------------------------------------------------- */

static void test_init_values(void) {
    es_t5_hparams h = named("t5-efficient-small");
    size_t n = es_t5_tensor_specs(&h, NULL, 0);
    es_t5_tensor_spec *sp = calloc(n, sizeof *sp);
    REQUIRE(sp, "oom");
    es_t5_tensor_specs(&h, sp, n);
    double dm = 512, kv = 64, ff = 2048, inner = 512;
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        const es_t5_tensor_spec *t = &sp[i];
        double expect;
        const char *nm = t->name;
        if (strstr(nm, "layer_norm")) expect = -1;
        else if (!strcmp(nm, "shared.weight")) expect = 1.0;
        else if (strstr(nm, ".q.weight")) expect = 1 / sqrt(dm * kv);
        else if (strstr(nm, ".k.weight") || strstr(nm, ".v.weight")) expect = 1 / sqrt(dm);
        else if (strstr(nm, ".o.weight")) expect = 1 / sqrt(inner);
        else if (strstr(nm, "relative_attention_bias")) expect = 1 / sqrt(dm);
        else if (strstr(nm, ".wi.weight")) expect = 1 / sqrt(dm);
        else if (strstr(nm, ".wo.weight")) expect = 1 / sqrt(ff);
        else {
            CHECK(0, "unexpected tensor %s", nm);
            continue;
        }
        if (expect < 0) {
            CHECK(t->init == ES_T5_INIT_FILL && t->std_or_value == 1.0, "%s: not ones", nm);
            continue;
        }
        CHECK(t->init == ES_T5_INIT_NORMAL && fabs(t->std_or_value - expect) < 1e-12 * expect,
              "%s: std %g, HF %g", nm, t->std_or_value, expect);
        /* sample statistics of (up to) the first 2^18 values */
        size_t m = ES_MIN(numel(t), (size_t)1 << 18);
        float *v = malloc(m * sizeof *v);
        REQUIRE(v, "oom");
        es_t5_init_fill(v, t, 42, 0, m);
        double s1 = 0, s2 = 0;
        for (size_t k = 0; k < m; k++) {
            s1 += v[k];
            s2 += (double)v[k] * v[k];
        }
        double mean = s1 / (double)m, sd = sqrt(s2 / (double)m - mean * mean);
        /* 6-sigma bounds of the sample mean and sample std of m normals */
        CHECK(fabs(mean) < 6 * expect / sqrt((double)m), "%s: mean %g (std %g, n %zu)", nm, mean,
              expect, m);
        CHECK(fabs(sd / expect - 1) < 6 / sqrt(2.0 * (double)m), "%s: std %g vs %g (n %zu)", nm,
              sd, expect, m);
        free(v);
        checked++;
    }
    /* 131 tensors: 99 drawn from normals, 32 layer norms (13 encoder, 19 decoder) */
    CHECK(n == 131 && checked == 99, "%zu tensors, %d normal", n, checked);

    /* determinism and chunk independence */
    const es_t5_tensor_spec *t = &sp[0]; /* shared.weight, 16M values */
    size_t m = 3 * ES_T5_INIT_BLOCK + 123;
    float *a = malloc(m * sizeof *a), *b = malloc(m * sizeof *b), *c = malloc(m * sizeof *c);
    REQUIRE(a && b && c, "oom");
    es_t5_init_fill(a, t, 7, 0, m);
    for (size_t off = 0; off < m; off += ES_T5_INIT_BLOCK)
        es_t5_init_fill(b + off, t, 7, off, ES_MIN((size_t)ES_T5_INIT_BLOCK, m - off));
    CHECK(memcmp(a, b, m * sizeof *a) == 0, "chunked fill differs from one-shot fill");
    es_t5_init_fill(c, t, 7, 0, m);
    CHECK(memcmp(a, c, m * sizeof *a) == 0, "same seed, different values");
    es_t5_init_fill(c, t, 8, 0, m);
    size_t same = 0;
    for (size_t k = 0; k < m; k++) same += a[k] == c[k];
    CHECK(same < 10, "seed 7 and 8 share %zu of %zu values", same, m);
    /* another tensor with the same std draws other numbers */
    es_t5_tensor_spec t2 = *t;
    snprintf(t2.name, sizeof t2.name, "lm_head.weight");
    es_t5_init_fill(c, &t2, 7, 0, m);
    same = 0;
    for (size_t k = 0; k < m; k++) same += a[k] == c[k];
    CHECK(same < 10, "two tensors share %zu values", same);
    /* no non-finite values */
    size_t bad = 0;
    for (size_t k = 0; k < m; k++) bad += !isfinite(a[k]);
    CHECK(bad == 0, "%zu non-finite values", bad);
    free(a);
    free(b);
    free(c);
    free(sp);
}

/* ---- 5. the writer ------------------------------------------------------------------------- */

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int cancel_after_first(void *user, uint64_t done, uint64_t total) {
    (void)done;
    (void)total;
    int *calls = user;
    return ++*calls >= 2;
}

static void check_written(const char *dir, const es_t5_hparams *h, es_dtype dtype, uint64_t seed) {
    char path[1024];
    es_error err = {0};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    void *buf;
    size_t len;
    es_status rs = es_read_file(path, &buf, &len, (size_t)1 << 30, &err);
    REQUIRE(rs == ES_OK, "%s", err.msg);
    es_t5_init_params prm = es_t5_init_params_default();
    prm.dtype = dtype;
    prm.seed = seed;
    prm.name = "t5-efficient-tiny";
    CHECK(es_t5_init_weights_bytes(h, &prm) == len, "predicted %llu bytes, file %zu",
          (unsigned long long)es_t5_init_weights_bytes(h, &prm), len);
    es_weights *w;
    rs = es_weights_new(&w, &err);
    REQUIRE(rs == ES_OK, "%s", err.msg);
    rs = es_safetensors_parse(w, buf, len, path, &err);
    REQUIRE(rs == ES_OK, "%s", err.msg);
    es_weights_seal(w);
    const char *fmt = es_weights_get_meta(w, "format");
    CHECK(fmt && !strcmp(fmt, "pt"), "__metadata__.format = %s", fmt ? fmt : "(none)");
    size_t n = es_t5_tensor_specs(h, NULL, 0);
    es_t5_tensor_spec *sp = calloc(n, sizeof *sp);
    REQUIRE(sp, "oom");
    es_t5_tensor_specs(h, sp, n);
    CHECK(es_weights_count(w) == n, "%zu tensors, expected %zu", es_weights_count(w), n);
    CHECK(!es_weights_find(w, "encoder.embed_tokens.weight") &&
              !es_weights_find(w, "decoder.embed_tokens.weight") &&
              !es_weights_find(w, "lm_head.weight"),
          "tied duplicates must be dropped");
    size_t mismatches = 0;
    for (size_t i = 0; i < n; i++) {
        const es_tensor_view *t = es_weights_find(w, sp[i].name);
        CHECK(t && t->dtype == dtype, "%s missing or wrong dtype", sp[i].name);
        if (!t) continue;
        size_t m = numel(&sp[i]);
        CHECK(es_tensor_numel(t) == m, "%s numel", sp[i].name);
        float *ref = malloc(m * sizeof *ref), *got = malloc(m * sizeof *got);
        REQUIRE(ref && got, "oom");
        es_t5_init_fill(ref, &sp[i], seed, 0, m);
        es_status cs = es_tensor_to_f32(got, t, &err);
        REQUIRE(cs == ES_OK, "%s", err.msg);
        for (size_t k = 0; k < m; k++) {
            float r = dtype == ES_DTYPE_BF16 ? es_bf16_to_f32(es_f32_to_bf16(ref[k])) : ref[k];
            mismatches += memcmp(&r, &got[k], sizeof r) != 0;
        }
        free(ref);
        free(got);
    }
    CHECK(mismatches == 0, "%zu values differ from es_t5_init_fill", mismatches);
    free(sp);
    es_weights_free(w);
    es_free(buf);

    /* config.json: HF keys and values */
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_object *cfg = json_object_from_file(path);
    REQUIRE(cfg, "config.json unreadable");
    json_object *v;
    CHECK(json_object_object_get_ex(cfg, "model_type", &v) && !strcmp(json_object_get_string(v), "t5"),
          "model_type");
    CHECK(json_object_object_get_ex(cfg, "architectures", &v) &&
              !strcmp(json_object_get_string(json_object_array_get_idx(v, 0)),
                      "T5ForConditionalGeneration"), "architectures");
    CHECK(json_object_object_get_ex(cfg, "d_kv", &v) && json_object_get_int(v) == h->d_kv, "d_kv");
    CHECK(json_object_object_get_ex(cfg, "num_layers", &v) && json_object_get_int(v) == h->n_layers,
          "num_layers");
    CHECK(json_object_object_get_ex(cfg, "num_decoder_layers", &v) &&
              json_object_get_int(v) == h->n_decoder_layers, "num_decoder_layers");
    CHECK(json_object_object_get_ex(cfg, "feed_forward_proj", &v) &&
              !strcmp(json_object_get_string(v), "relu"), "feed_forward_proj");
    CHECK(!json_object_object_get_ex(cfg, "tie_word_embeddings", &v), "tied: key must be absent");
    CHECK(json_object_object_get_ex(cfg, "torch_dtype", &v) &&
              !strcmp(json_object_get_string(v), dtype == ES_DTYPE_F32 ? "float32" : "bfloat16"),
          "torch_dtype");
    CHECK(json_object_object_get_ex(cfg, "layer_norm_epsilon", &v) &&
              json_object_get_double(v) == 1e-6, "layer_norm_epsilon");
    json_object_put(cfg);
}

static void test_writer(void) {
    char base[] = "/tmp/es_test_t5_init_XXXXXX";
    char *made = mkdtemp(base);
    REQUIRE(made != NULL, "mkdtemp");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/model", base);
    /* a small model: vocab 32128 x 64 dominates (8 MB) */
    es_t5_hparams h = named("t5-efficient-tiny-nl2-dm64-ff128-nh2-kv16");
    es_t5_init_params p = es_t5_init_params_default();
    p.seed = 3;
    p.name = "t5-efficient-tiny";
    p.n_threads = 2;
    es_error err = {0};
    es_status s = es_t5_init_write(dir, &h, &p, &err);
    CHECK(s == ES_OK, "%s", err.msg);
    CHECK(count_entries(dir) == 3, "expected config, generation_config, weights: %d",
          count_entries(dir));
    check_written(dir, &h, ES_DTYPE_F32, 3);

    /* non-empty folder: refused, untouched */
    s = es_t5_init_write(dir, &h, &p, &err);
    CHECK(s == ES_ERR_ARG && strstr(err.msg, "not empty"), "non-empty accepted: %s", err.msg);
    /* --force: replaced by a BF16 model with another seed, same thread-independent bits */
    p.force = 1;
    p.dtype = ES_DTYPE_BF16;
    p.seed = 4;
    p.n_threads = 1;
    s = es_t5_init_write(dir, &h, &p, &err);
    CHECK(s == ES_OK, "force: %s", err.msg);
    check_written(dir, &h, ES_DTYPE_BF16, 4);
    CHECK(count_entries(base) == 1, "temporary folder left in %s (%d entries)", base,
          count_entries(base));

    /* cancellation: no folder, no temporary left */
    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%s/cancelled", base);
    int calls = 0;
    es_t5_init_params pc = es_t5_init_params_default();
    pc.progress = cancel_after_first;
    pc.progress_user = &calls;
    s = es_t5_init_write(dir2, &h, &pc, &err);
    CHECK(s == ES_ERR_CANCELLED, "cancel: %d %s", (int)s, err.msg);
    CHECK(!es_is_dir(dir2), "cancelled folder exists");
    CHECK(count_entries(base) == 1, "temporary folder left after cancel (%d entries)",
          count_entries(base));

    /* a path that is a file, and a bad spm path */
    char file[1024];
    snprintf(file, sizeof file, "%s/model/config.json", base);
    CHECK(es_t5_init_write(file, &h, &pc, &err) == ES_ERR_ARG, "file as DIR: %s", err.msg);
    es_t5_init_params ps = es_t5_init_params_default();
    ps.spm_path = "/nonexistent/spiece.model";
    CHECK(es_t5_init_write(dir2, &h, &ps, &err) != ES_OK && !es_is_dir(dir2), "missing spm");

    /* clean up */
    static const char *const files[] = {"config.json", "generation_config.json",
                                        "model.safetensors"};
    for (int i = 0; i < 3; i++) {
        char f[1100];
        snprintf(f, sizeof f, "%s/%s", dir, files[i]);
        unlink(f);
    }
    rmdir(dir);
    rmdir(base);
}

int main(void) {
    test_family_counts();
    test_names();
    test_count_matches_list();
    test_fixture_names();
    test_init_values();
    test_writer();
    TEST_MAIN_END();
}
