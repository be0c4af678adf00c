/* T5 loading and session contracts on micro checkpoints written here
 * (d_model 4, 3 heads x d_kv 2 = 6 != d_model, d_ff 5, 1 + 2 layers,
 * vocab 11, 4 buckets):
 *  - valid folders (relu tied, gated-gelu untied, HF dense_act_fn form,
 *    embedding under decoder.embed_tokens.weight) load; info and
 *    n_params (unique tensors, tied embedding once) are right;
 *  - F16 and BF16 storage upcast at load: outputs bit-identical to F32
 *    when the values are representable;
 *  - hostile config.json (missing / ill-typed / absurd fields, unknown
 *    feed_forward_proj, bad JSON) and weights (missing tensor, wrong
 *    shape, wrong dtype) fail with the right code and a message naming
 *    the field or tensor;
 *  - engine properties: cached step-by-step decoding equals teacher
 *    forcing (greedy sum_logprob == score of the greedy ids); a padded
 *    batch row equals the same row alone;
 *  - session argument errors; allocation-failure injection in load and
 *    session creation (no leak under ASan, no crash). */
#include "test.h"

#include "io/weights.h"
#include "model/model_internal.h"
#include "tok/tok_internal.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* See test_t5_fixtures.c: pull the real objects in past stubs_tmp.c. */
void *volatile g_force_link[] = {(void *)es_safetensors_parse, (void *)es_config_int,
                                 (void *)es_session_check_dim};

enum { D = 4, H = 3, DK = 2, I = H * DK, F = 5, LE = 1, LD = 2, V = 11, NB = 4 };

typedef struct spec {
    bool tied, gated;
    es_dtype dtype;
    const char *emb_name;   /* name of the embedding */
    const char *drop;       /* tensor left out */
    const char *bad_shape;  /* tensor written with shape [3, 4] */
    const char *bad_dtype;  /* tensor written as I32 */
} spec;

typedef struct tlist {
    es_st_write_tensor t[128];
    void *data[128];
    int n;
    uint64_t n_params;
} tlist;

static uint64_t g_rng = 12345;
static float rnd(void) { /* multiples of 1/64 in [-1, 1]: exact in f16 and bf16 */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((int)((g_rng >> 33) % 129) - 64) / 64.0f;
}

static void add(tlist *l, const spec *sp, const char *name, int64_t d0, int64_t d1, bool norm) {
    if (sp->drop && strcmp(sp->drop, name) == 0) return;
    es_st_write_tensor *t = &l->t[l->n];
    t->name = strdup(name);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    if (sp->bad_shape && strcmp(sp->bad_shape, name) == 0) {
        t->ndim = 2;
        t->shape[0] = 3;
        t->shape[1] = 4;
    }
    size_t n = (size_t)t->shape[0] * (t->ndim == 2 ? (size_t)t->shape[1] : 1);
    l->n_params += n;
    es_dtype dt = sp->dtype;
    if (sp->bad_dtype && strcmp(sp->bad_dtype, name) == 0) dt = ES_DTYPE_I32;
    t->dtype = dt;
    void *buf = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        float v = norm ? 1.0f + rnd() / 2 : rnd(); /* 1 + k/128: 8 significant bits */
        if (dt == ES_DTYPE_F32) ((float *)buf)[i] = v;
        else if (dt == ES_DTYPE_F16) ((uint16_t *)buf)[i] = es_f32_to_f16(v);
        else if (dt == ES_DTYPE_BF16) ((uint16_t *)buf)[i] = es_f32_to_bf16(v);
        else ((int32_t *)buf)[i] = 1;
    }
    t->data = buf;
    l->data[l->n] = buf;
    l->n++;
}

static void block(tlist *l, const spec *sp, bool dec, int i) {
    const char *S = dec ? "decoder" : "encoder";
    char n[256];
#define N(fmt) (snprintf(n, sizeof n, fmt, S, i), n)
    add(l, sp, N("%s.block.%d.layer.0.layer_norm.weight"), D, 0, true);
    add(l, sp, N("%s.block.%d.layer.0.SelfAttention.q.weight"), I, D, false);
    add(l, sp, N("%s.block.%d.layer.0.SelfAttention.k.weight"), I, D, false);
    add(l, sp, N("%s.block.%d.layer.0.SelfAttention.v.weight"), I, D, false);
    add(l, sp, N("%s.block.%d.layer.0.SelfAttention.o.weight"), D, I, false);
    if (i == 0) add(l, sp, N("%s.block.%d.layer.0.SelfAttention.relative_attention_bias.weight"), NB, H, false);
    int f = 1;
    if (dec) {
        add(l, sp, N("%s.block.%d.layer.1.layer_norm.weight"), D, 0, true);
        add(l, sp, N("%s.block.%d.layer.1.EncDecAttention.q.weight"), I, D, false);
        add(l, sp, N("%s.block.%d.layer.1.EncDecAttention.k.weight"), I, D, false);
        add(l, sp, N("%s.block.%d.layer.1.EncDecAttention.v.weight"), I, D, false);
        add(l, sp, N("%s.block.%d.layer.1.EncDecAttention.o.weight"), D, I, false);
        f = 2;
    }
    char fmt[128];
    snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.layer_norm.weight", f);
    add(l, sp, N(fmt), D, 0, true);
    if (sp->gated) {
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wi_0.weight", f);
        add(l, sp, N(fmt), F, D, false);
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wi_1.weight", f);
        add(l, sp, N(fmt), F, D, false);
    } else {
        snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wi.weight", f);
        add(l, sp, N(fmt), F, D, false);
    }
    snprintf(fmt, sizeof fmt, "%%s.block.%%d.layer.%d.DenseReluDense.wo.weight", f);
    add(l, sp, N(fmt), D, F, false);
#undef N
}

static char g_root[256];

/* Writes folder <root>/<name> with config text and weights per spec;
 * returns the folder path (static buffer) and the parameter count. */
static const char *make(const char *name, const char *config, const spec *sp, uint64_t *n_params) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_root, name);
    mkdir(dir, 0755);
    char path[600];
    if (config) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        FILE *f = fopen(path, "w");
        fputs(config, f);
        fclose(f);
    }
    if (!sp) return dir;
    g_rng = 12345;
    tlist *l = calloc(1, sizeof *l);
    add(l, sp, sp->emb_name ? sp->emb_name : "shared.weight", V, D, false);
    for (int i = 0; i < LE; i++) block(l, sp, false, i);
    for (int i = 0; i < LD; i++) block(l, sp, true, i);
    add(l, sp, "encoder.final_layer_norm.weight", D, 0, true);
    add(l, sp, "decoder.final_layer_norm.weight", D, 0, true);
    if (!sp->tied) add(l, sp, "lm_head.weight", V, D, false);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    es_error err;
    es_status s = es_safetensors_write(path, l->t, (size_t)l->n, NULL, 0, &err);
    REQUIRE(s == ES_OK, "write %s: %s", path, err.msg);
    if (n_params) *n_params = l->n_params;
    for (int i = 0; i < l->n; i++) {
        free((void *)l->t[i].name);
        free(l->data[i]);
    }
    free(l);
    return dir;
}

static char g_cfg[4096];
/* Base config with one field replaced ("key": value) or removed (value
 * NULL); `extra` is appended verbatim. */
static const char *cfg(const char *key, const char *value, const char *extra) {
    static const char *keys[] = {"d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers",
                                 "num_heads", "vocab_size", "relative_attention_num_buckets",
                                 "relative_attention_max_distance", "layer_norm_epsilon",
                                 "feed_forward_proj", "model_type", "eos_token_id"};
    static const char *vals[] = {"4", "2", "5", "1", "2", "3", "11", "4", "8", "1e-06",
                                 "\"relu\"", "\"t5\"", "1"};
    size_t n = 0;
    n += (size_t)snprintf(g_cfg + n, sizeof g_cfg - n, "{");
    int first = 1;
    for (size_t i = 0; i < ES_ARRAY_LEN(keys); i++) {
        const char *v = vals[i];
        if (key && strcmp(key, keys[i]) == 0) {
            if (!value) continue;
            v = value;
        }
        n += (size_t)snprintf(g_cfg + n, sizeof g_cfg - n, "%s\"%s\": %s", first ? "" : ", ",
                              keys[i], v);
        first = 0;
    }
    if (extra) n += (size_t)snprintf(g_cfg + n, sizeof g_cfg - n, ", %s", extra);
    snprintf(g_cfg + n, sizeof g_cfg - n, "}\n");
    return g_cfg;
}

static void expect_fail(const char *label, const char *dir, es_status code, const char *needle1,
                        const char *needle2) {
    es_model *m = (es_model *)1;
    es_error err;
    es_status s = es_model_load(&m, dir, NULL, &err);
    CHECK(s == code, "%s: status %d (%s), expected %d", label, s, err.msg, code);
    CHECK(m == NULL, "%s: *out is NULL on failure", label);
    CHECK(!needle1 || strstr(err.msg, needle1), "%s: message '%s' lacks '%s'", label, err.msg,
          needle1);
    CHECK(!needle2 || strstr(err.msg, needle2), "%s: message '%s' lacks '%s'", label, err.msg,
          needle2);
    if (s == ES_OK) es_model_free(m);
    printf("  %-28s -> %s\n", label, err.msg);
}

typedef struct outs {
    float enc[2 * 5 * D];
    float logits[2 * 3 * V];
    int32_t greedy[6];
} outs;

static es_session *session(const es_model *m, int B, int S, int T) {
    es_session_params p = es_session_params_default();
    p.max_batch = B;
    p.max_src_len = S;
    p.max_tgt_len = T;
    p.n_threads = 1;
    es_session *s = NULL;
    es_error err;
    es_status st = es_session_new(&s, m, &p, &err);
    REQUIRE(st == ES_OK, "session: %s", err.msg);
    return s;
}

static const int32_t k_ids[10] = {3, 4, 5, 6, 1, 7, 8, 1, 0, 0};
static const int32_t k_mask[10] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
static const int32_t k_dec[6] = {0, 2, 9, 0, 10, 4};

/* Runs encode, teacher forcing and greedy; also checks the engine
 * properties (cached == teacher forced, padded row == row alone). */
static void run_model(const char *label, const char *dir, outs *o) {
    es_model *m = NULL;
    es_error err;
    es_status st = es_model_load(&m, dir, NULL, &err);
    REQUIRE(st == ES_OK, "%s: %s", label, err.msg);
    es_session *s = session(m, 2, 5, 6);
    st = es_session_encode(s, o->enc, k_ids, k_mask, 2, 5);
    CHECK(st == ES_OK, "%s encode: %s", label, es_session_errmsg(s));
    st = es_session_decoder_logits(s, o->logits, k_ids, k_mask, 2, 5, k_dec, 3);
    CHECK(st == ES_OK, "%s tf: %s", label, es_session_errmsg(s));
    es_gen_params gp = es_gen_params_default();
    gp.max_new_tokens = 6;
    gp.ignore_eos = 1;
    es_gen_result r;
    st = es_session_generate(s, &r, k_ids, 5, &gp);
    REQUIRE(st == ES_OK && r.n_hyps == 1 && r.hyps[0].n_ids == 6, "%s generate: %s", label,
            es_session_errmsg(s));
    memcpy(o->greedy, r.hyps[0].ids, sizeof o->greedy);
    double lp = 0;
    st = es_session_score(s, &lp, k_ids, 5, o->greedy, 6);
    CHECK(st == ES_OK && fabs(lp - r.hyps[0].sum_logprob) < 1e-5 * (1 + fabs(lp)),
          "%s: cached greedy sum %.7g != teacher-forced score %.7g", label,
          (double)r.hyps[0].sum_logprob, lp);
    /* row 1 of the padded batch (3 tokens + 2 pads) == row alone */
    float alone[3 * V];
    st = es_session_decoder_logits(s, alone, k_ids + 5, k_mask + 5, 1, 3, k_dec + 3, 3);
    double md = 0;
    for (int i = 0; i < 3 * V; i++) md = fmax(md, fabs(alone[i] - o->logits[3 * V + i]));
    CHECK(st == ES_OK && md < 1e-5, "%s: padded row vs alone max diff %g", label, md);
    es_session_free(s);
    es_model_free(m);
}

int main(void) {
    snprintf(g_root, sizeof g_root, "/tmp/es_t5_load_XXXXXX");
    char *made = mkdtemp(g_root);
    REQUIRE(made != NULL, "mkdtemp");
    es_error err;
    es_status st;
    spec base = {.tied = true, .dtype = ES_DTYPE_F32};

    /* valid: relu, tied, F32 */
    uint64_t n_params = 0;
    const char *d = make("ok", cfg(NULL, NULL, NULL), &base, &n_params);
    es_model *m = NULL;
    st = es_model_load(&m, d, NULL, &err);
    REQUIRE(st == ES_OK, "valid: %s", err.msg);
    const es_model_info *in = es_model_get_info(m);
    CHECK(in->n_params == n_params, "n_params %llu vs %llu", (unsigned long long)in->n_params,
          (unsigned long long)n_params);
    CHECK(in->d_model == D && in->d_kv == DK && in->n_heads == H && in->d_ff == F &&
              in->n_layers == LE && in->n_decoder_layers == LD && in->vocab_size == V &&
              in->rel_buckets == NB && in->rel_max_distance == 8,
          "info dims");
    CHECK(in->ffn == ES_FFN_RELU && in->tie_word_embeddings == 1 && in->eos_id == 1 &&
              in->pad_id == 0 && in->decoder_start_id == 0 && in->stored_dtype == ES_DTYPE_F32,
          "info kinds");
    CHECK(strcmp(in->weights_file, "model.safetensors") == 0 && in->file_bytes > 0, "file");
    CHECK(es_model_tokenizer(m) == NULL, "no spiece.model -> no tokenizer");
    es_model_free(m);
    outs ref, o;
    run_model("f32", d, &ref);

    /* F16 / BF16 storage: exact upcast, identical outputs */
    spec f16 = base;
    f16.dtype = ES_DTYPE_F16;
    d = make("f16", cfg(NULL, NULL, NULL), &f16, NULL);
    run_model("f16", d, &o);
    CHECK(memcmp(&o, &ref, sizeof o) == 0, "F16 storage gives the F32 results bit for bit");
    spec bf16 = base;
    bf16.dtype = ES_DTYPE_BF16;
    d = make("bf16", cfg(NULL, NULL, NULL), &bf16, NULL);
    run_model("bf16", d, &o);
    CHECK(memcmp(&o, &ref, sizeof o) == 0, "BF16 storage gives the F32 results bit for bit");
    st = es_model_load(&m, d, NULL, &err);
    CHECK(st == ES_OK && es_model_get_info(m)->stored_dtype == ES_DTYPE_BF16, "bf16 info");
    es_model_free(m);

    /* embedding under decoder.embed_tokens.weight only */
    spec alt = base;
    alt.emb_name = "decoder.embed_tokens.weight";
    d = make("alt_emb", cfg(NULL, NULL, NULL), &alt, NULL);
    run_model("alt_emb", d, &o);
    CHECK(memcmp(&o, &ref, sizeof o) == 0, "embedding found under decoder.embed_tokens.weight");

    /* gated-gelu, untied; and the HF dense_act_fn / is_gated_act form */
    spec gg = {.tied = false, .gated = true, .dtype = ES_DTYPE_F32};
    uint64_t np_g = 0;
    d = make("gated", cfg("feed_forward_proj", "\"gated-gelu\"", "\"tie_word_embeddings\": false"),
             &gg, &np_g);
    st = es_model_load(&m, d, NULL, &err);
    CHECK(st == ES_OK, "gated: %s", err.msg);
    if (st == ES_OK) {
        CHECK(es_model_get_info(m)->ffn == ES_FFN_GATED_GELU &&
                  !es_model_get_info(m)->tie_word_embeddings &&
                  es_model_get_info(m)->n_params == np_g,
              "gated info");
        es_model_free(m);
    }
    outs og, og2;
    run_model("gated", d, &og);
    d = make("gated2",
             cfg("feed_forward_proj", NULL,
                 "\"dense_act_fn\": \"gelu_new\", \"is_gated_act\": true, "
                 "\"tie_word_embeddings\": false"),
             &gg, NULL);
    run_model("gated2", d, &og2);
    CHECK(memcmp(&og, &og2, sizeof og) == 0, "dense_act_fn/is_gated_act form == gated-gelu");
    CHECK(memcmp(&og, &ref, sizeof og) != 0, "gated model differs from relu model");
    d = make("gated_erf", cfg("feed_forward_proj", "\"gated-gelu\"",
                              "\"dense_act_fn\": \"gelu\", \"tie_word_embeddings\": false"),
             &gg, NULL);
    run_model("gated_erf", d, &o);
    CHECK(memcmp(&o.logits, &og.logits, sizeof o.logits) != 0,
          "dense_act_fn \"gelu\" (erf) overrides gated-gelu's gelu_new");

    /* hostile weights */
    spec s1 = base;
    s1.drop = "encoder.block.0.layer.1.DenseReluDense.wo.weight";
    expect_fail("missing tensor", make("w1", cfg(NULL, NULL, NULL), &s1, NULL), ES_ERR_FORMAT,
                "missing tensor", s1.drop);
    spec s2 = base;
    s2.bad_shape = "decoder.block.1.layer.1.EncDecAttention.q.weight";
    expect_fail("wrong shape", make("w2", cfg(NULL, NULL, NULL), &s2, NULL), ES_ERR_SHAPE,
                s2.bad_shape, "[3, 4], expected [6, 4]");
    spec s3 = base;
    s3.bad_dtype = "decoder.final_layer_norm.weight";
    expect_fail("wrong dtype", make("w3", cfg(NULL, NULL, NULL), &s3, NULL), ES_ERR_FORMAT,
                s3.bad_dtype, "I32");
    spec s4 = base;
    s4.drop = "shared.weight";
    expect_fail("no embedding", make("w4", cfg(NULL, NULL, NULL), &s4, NULL), ES_ERR_FORMAT,
                "shared.weight", NULL);
    expect_fail("untied without lm_head",
                make("w5", cfg(NULL, NULL, "\"tie_word_embeddings\": false"), &base, NULL),
                ES_ERR_FORMAT, "lm_head.weight", NULL);
    spec s6 = base;
    s6.drop = "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
    expect_fail("no decoder rel bias", make("w6", cfg(NULL, NULL, NULL), &s6, NULL),
                ES_ERR_FORMAT, s6.drop, NULL);
    expect_fail("config vs gated weights",
                make("w7", cfg("feed_forward_proj", "\"gated-relu\"", NULL), &base, NULL),
                ES_ERR_FORMAT, "wi_0", NULL);

    /* hostile config.json */
    struct {
        const char *label, *key, *val, *extra, *needle;
        es_status code;
    } bad[] = {
        {"missing d_model", "d_model", NULL, NULL, "'d_model' is missing", ES_ERR_FORMAT},
        {"d_model string", "d_model", "\"4\"", NULL, "'d_model' must be an integer", ES_ERR_FORMAT},
        {"d_model fraction", "d_model", "4.5", NULL, "'d_model' must be an integer", ES_ERR_FORMAT},
        {"negative heads", "num_heads", "-2", NULL, "'num_heads' = -2", ES_ERR_FORMAT},
        {"huge d_ff", "d_ff", "1000000000000", NULL, "'d_ff'", ES_ERR_FORMAT},
        {"beyond int64", "d_kv", "99999999999999999999999", NULL, "'d_kv'", ES_ERR_FORMAT},
        {"zero layers", "num_layers", "0", NULL, "'num_layers'", ES_ERR_FORMAT},
        {"vocab 0", "vocab_size", "0", NULL, "'vocab_size'", ES_ERR_FORMAT},
        {"unknown ffn", "feed_forward_proj", "\"swish\"", NULL, "feed_forward_proj", ES_ERR_FORMAT},
        {"ffn 3 parts", "feed_forward_proj", "\"gated-gelu-x\"", NULL, "feed_forward_proj", ES_ERR_FORMAT},
        {"ffn number", "feed_forward_proj", "3", NULL, "must be a string", ES_ERR_FORMAT},
        {"bad dense_act_fn", NULL, NULL, "\"dense_act_fn\": \"tanh\"", "dense_act_fn", ES_ERR_FORMAT},
        {"tie string", NULL, NULL, "\"tie_word_embeddings\": \"yes\"", "tie_word_embeddings", ES_ERR_FORMAT},
        {"negative eps", "layer_norm_epsilon", "-1", NULL, "layer_norm_epsilon", ES_ERR_FORMAT},
        {"odd buckets", "relative_attention_num_buckets", "5", NULL, "even", ES_ERR_FORMAT},
        {"max distance small", "relative_attention_max_distance", "2", NULL, "max_distance", ES_ERR_FORMAT},
        {"eos >= vocab", "eos_token_id", "50", NULL, "'eos_token_id' = 50", ES_ERR_FORMAT},
        {"huge inner", "d_kv", "1048576", NULL, "num_heads * d_kv", ES_ERR_FORMAT},
        {"unknown model_type", "model_type", "\"bert\"", NULL, "model_type \"bert\"", ES_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(bad); i++) {
        char name[32];
        snprintf(name, sizeof name, "c%zu", i);
        expect_fail(bad[i].label, make(name, cfg(bad[i].key, bad[i].val, bad[i].extra), &base, NULL),
                    bad[i].code, bad[i].needle, "config.json");
    }
    expect_fail("truncated JSON", make("j1", "{\"d_model\": 4,", &base, NULL), ES_ERR_FORMAT,
                "config.json", "invalid JSON");
    expect_fail("array top level", make("j2", "[1, 2]", &base, NULL), ES_ERR_FORMAT, "config.json",
                "JSON object");
    char trail[4200];
    snprintf(trail, sizeof trail, "%s x", cfg(NULL, NULL, NULL));
    expect_fail("trailing data", make("j3", trail, &base, NULL), ES_ERR_FORMAT, "config.json",
                "trailing");
    expect_fail("no config.json", make("j4", NULL, &base, NULL), ES_ERR_IO, "config.json", NULL);
    expect_fail("no weights", make("j5", cfg(NULL, NULL, NULL), NULL, NULL), ES_ERR_IO,
                "no weights", NULL);
    expect_fail("no folder", "/nonexistent/edgeseq", ES_ERR_IO, "/nonexistent/edgeseq", NULL);
    d = make("ok", cfg(NULL, NULL, NULL), &base, NULL);
    st = es_model_load(&m, d, NULL, NULL);
    CHECK(st == ES_OK, "NULL err accepted");
    es_model_free(m);

    /* session argument errors */
    st = es_model_load(&m, d, NULL, &err);
    REQUIRE(st == ES_OK, "reload");
    es_session *s = session(m, 2, 5, 6);
    float enc[3 * 6 * D];
    int32_t ids[18] = {0}, mask[18];
    for (int i = 0; i < 18; i++) mask[i] = 1;
    st = es_session_encode(s, enc, ids, mask, 1, 6);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "max_src_len"), "too long: %s",
          es_session_errmsg(s));
    st = es_session_encode(s, enc, ids, mask, 3, 2);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "max_batch"), "too many rows: %s",
          es_session_errmsg(s));
    ids[3] = V;
    st = es_session_encode(s, enc, ids, mask, 1, 5);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "input ids[3] = 11"), "bad id: %s",
          es_session_errmsg(s));
    ids[3] = 0;
    mask[2] = 2;
    st = es_session_encode(s, enc, ids, mask, 1, 5);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "mask[2]"), "bad mask: %s",
          es_session_errmsg(s));
    mask[2] = 1;
    st = es_session_encode(s, enc, ids, mask, 1, 5);
    CHECK(st == ES_OK && es_session_errmsg(s)[0] == 0, "ok clears the message");
    float lg[2 * 7 * V];
    st = es_session_decoder_logits(s, lg, ids, mask, 1, 5, ids, 7);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "max_tgt_len"), "tf too long: %s",
          es_session_errmsg(s));
    es_gen_params gp = es_gen_params_default();
    gp.method = ES_DECODE_BEAM;
    gp.num_beams = 3;
    gp.max_new_tokens = 4;
    es_gen_result r;
    st = es_session_generate(s, &r, ids, 5, &gp);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "num_beams") && r.n_hyps == 0,
          "beams > max_batch: %s", es_session_errmsg(s));
    gp.max_new_tokens = 7;
    gp.num_beams = 2;
    st = es_session_generate(s, &r, ids, 5, &gp);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "max_new_tokens"), "too many tokens");
    gp.max_new_tokens = 6;
    st = es_session_generate(s, &r, ids, 5, &gp);
    CHECK(st == ES_OK && r.n_hyps >= 1 && r.n_hyps <= 2, "beam 2: %s", es_session_errmsg(s));
    st = es_session_generate(s, &r, ids, 5, NULL);
    CHECK(st == ES_ERR_ARG, "NULL params = defaults (64 tokens > max_tgt_len 6)");
    double lp;
    st = es_session_score(s, &lp, ids, 0, ids, 2);
    CHECK(st == ES_ERR_ARG && strstr(es_session_errmsg(s), "source length"), "empty source: %s",
          es_session_errmsg(s));
    es_session_free(s);
    es_session_params sp = es_session_params_default();
    sp.max_batch = 0;
    s = (es_session *)1;
    st = es_session_new(&s, m, &sp, &err);
    CHECK(st == ES_ERR_ARG && s == NULL && strstr(err.msg, "max_batch"), "max_batch 0: %s", err.msg);
    sp = es_session_params_default();
    sp.n_threads = -1;
    st = es_session_new(&s, m, &sp, &err);
    CHECK(st == ES_ERR_ARG && strstr(err.msg, "n_threads"), "n_threads -1");

    /* allocation failures: session creation, then loading */
    int n_fail = 0, n_ok = 0;
    for (long k = 1; k < 200; k++) {
        es_test_fail_alloc_after(k);
        es_session *ss = NULL;
        sp = es_session_params_default();
        sp.max_batch = 2;
        sp.max_src_len = 5;
        sp.max_tgt_len = 6;
        sp.n_threads = 2;
        st = es_session_new(&ss, m, &sp, &err);
        es_test_fail_alloc_after(0);
        if (st == ES_OK) {
            n_ok++;
            es_session_free(ss);
            break;
        }
        n_fail += st == ES_ERR_NOMEM && ss == NULL;
        CHECK(st == ES_ERR_NOMEM && ss == NULL, "session alloc fail %ld: %d %s", k, st, err.msg);
    }
    printf("session: %d injected failures -> ES_ERR_NOMEM, then success: %d\n", n_fail, n_ok);
    CHECK(n_ok == 1 && n_fail > 5, "session alloc injection");
    es_model_free(m);
    n_fail = n_ok = 0;
    for (long k = 1; k < 400; k++) {
        es_test_fail_alloc_after(k);
        es_model *mm = NULL;
        st = es_model_load(&mm, d, NULL, &err);
        es_test_fail_alloc_after(0);
        if (st == ES_OK) {
            n_ok++;
            es_model_free(mm);
            break;
        }
        n_fail += st == ES_ERR_NOMEM && mm == NULL;
        CHECK(st == ES_ERR_NOMEM && mm == NULL, "load alloc fail %ld: %d %s", k, st, err.msg);
    }
    printf("load: %d injected failures -> ES_ERR_NOMEM, then success: %d\n", n_fail, n_ok);
    CHECK(n_ok == 1 && n_fail > 5, "load alloc injection");

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    int rc = system(cmd);
    CHECK(rc == 0, "cleanup");
    TEST_MAIN_END();
}
