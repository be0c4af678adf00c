/*
 * byte_model.c — byte classifiers: configuration (JSON), parameter
 * registration, model folders, workspace sizing, and the parts of the
 * forward/backward every encoder shares: embedding, bottleneck, GBST front
 * end, attention pooling, dropout and the classification head. The
 * encoders live in byte_qrnn.c and byte_transformer.c.
 *
 * Tensor names (F32; D = d_model, E = d_embed or D, k = gbst_kernel):
 *   embed.weight (256, E)            bottleneck.weight (D, E), .bias (D)  [d_embed > 0]
 *   gbst.conv.weight (D, k, D), .bias (D)
 *   gbst.score.weight (1, D), .bias (1)
 *   <encoder tensors: byte_qrnn.c / byte_transformer.c>
 *   pool.weight (1, D_enc)           head.weight (n_labels, D_enc), .bias (n_labels)
 */
#include "model/byte_internal.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "model/model_internal.h"
#include "nn/attnpool.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/gbst.h"
#include "nn/linear.h"
#include "model/byte_front.h"
#include "quant/byte_qat.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- configuration ----------------------------------------------------- */

static const char *enc_names[] = {"byteqrnn", "bytetransformer", "bytefunnel"};

int es_byte_encoder_from_name(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, enc_names[i]) == 0) return i;
    return -1;
}

const char *es_byte_encoder_name(es_byte_encoder e) {
    return (unsigned)e < 3 ? enc_names[e] : "?";
}

void es_byte_config_default(es_byte_config *c, es_byte_encoder enc) {
    memset(c, 0, sizeof *c);
    c->encoder = enc;
    c->n_labels = 2;
    strcpy(c->labels[0], "0");
    strcpy(c->labels[1], "1");
    c->max_bytes = 2048;
    c->d_embed = 0;
    c->gbst_kernel = 5;
    c->gbst_blocks = 4;
    c->downsample = 4;
    c->qrnn_layers = 2;
    c->qrnn_hidden = 32;
    c->qrnn_kernel = 2;
    c->qrnn_bidirectional = 1;
    c->zoneout = 0.1f;
    c->n_layers = 2;
    c->n_heads = 4;
    c->dropout = 0.1f;
    for (int i = 0; i < ES_BYTE_MAX_LAYERS; i++) c->pool_windows[i] = 1;
    if (enc == ES_BYTE_QRNN) {
        c->d_model = 32;
    } else {
        c->d_model = 64;
        c->d_ff = 128;
        if (enc == ES_BYTE_FUNNEL) c->pool_windows[1] = 2;
    }
    c->max_positions = (c->max_bytes + c->downsample - 1) / c->downsample;
}

#define CHK(cond, ...)                                                                        \
    do {                                                                                      \
        if (!(cond)) return es_errf(err, ES_ERR_ARG, __VA_ARGS__);                            \
    } while (0)

es_status es_byte_config_check(const es_byte_config *c, es_error *err) {
    CHK((unsigned)c->encoder <= ES_BYTE_FUNNEL, "byte config: encoder %d", (int)c->encoder);
    /* n_labels = 0: encoder only (no pooling/head), the byte seq2seq encoder */
    CHK(c->n_labels == 0 || (c->n_labels >= 2 && c->n_labels <= ES_BYTE_MAX_LABELS),
        "byte config: n_labels %d (2..%d)", c->n_labels, ES_BYTE_MAX_LABELS);
    CHK(c->max_bytes >= 1 && c->max_bytes <= (1 << 20), "byte config: max_bytes %d", c->max_bytes);
    CHK(c->d_embed >= 0 && c->d_embed <= 512, "byte config: d_embed %d (0..512)", c->d_embed);
    CHK(c->d_model >= 1 && c->d_model <= 512, "byte config: d_model %d (1..512)", c->d_model);
    CHK(c->gbst_kernel >= 1 && c->gbst_kernel <= 16, "byte config: gbst_kernel %d (1..16)",
        c->gbst_kernel);
    CHK(c->gbst_blocks >= 1 && c->gbst_blocks <= 16, "byte config: gbst_blocks %d (1..16)",
        c->gbst_blocks);
    CHK(c->downsample >= 1 && c->downsample <= 64, "byte config: downsample %d (1..64)",
        c->downsample);
    CHK(c->dropout >= 0.0f && c->dropout < 1.0f, "byte config: dropout %g", (double)c->dropout);
    if (c->encoder == ES_BYTE_QRNN) {
        CHK(c->qrnn_layers >= 1 && c->qrnn_layers <= ES_BYTE_MAX_LAYERS,
            "byte config: qrnn_layers %d (1..%d)", c->qrnn_layers, ES_BYTE_MAX_LAYERS);
        CHK(c->qrnn_hidden >= 1 && c->qrnn_hidden <= 512, "byte config: qrnn_hidden %d (1..512)",
            c->qrnn_hidden);
        CHK(c->qrnn_kernel >= 1 && c->qrnn_kernel <= 16, "byte config: qrnn_kernel %d (1..16)",
            c->qrnn_kernel);
        CHK(c->zoneout >= 0.0f && c->zoneout < 1.0f, "byte config: zoneout %g",
            (double)c->zoneout);
    } else {
        CHK(c->n_layers >= 1 && c->n_layers <= ES_BYTE_MAX_LAYERS,
            "byte config: n_layers %d (1..%d)", c->n_layers, ES_BYTE_MAX_LAYERS);
        CHK(c->n_heads >= 1 && c->d_model % c->n_heads == 0,
            "byte config: n_heads %d must divide d_model %d", c->n_heads, c->d_model);
        CHK(c->d_ff >= 1 && c->d_ff <= 8192, "byte config: d_ff %d", c->d_ff);
        int need = (c->max_bytes + c->downsample - 1) / c->downsample;
        CHK(c->max_positions >= need && c->max_positions <= (1 << 20),
            "byte config: max_positions %d < ceil(max_bytes / downsample) = %d",
            c->max_positions, need);
        int pooled = 0;
        for (int i = 0; i < c->n_layers; i++) {
            CHK(c->pool_windows[i] >= 1 && c->pool_windows[i] <= 64 &&
                    (c->encoder == ES_BYTE_FUNNEL || c->pool_windows[i] == 1),
                "byte config: pool_windows[%d] = %d", i, c->pool_windows[i]);
            pooled |= c->pool_windows[i] > 1;
        }
        CHK(c->encoder != ES_BYTE_FUNNEL || pooled,
            "byte config: bytefunnel needs a pool_windows entry > 1 among its %d layers (all 1 "
            "is a bytetransformer)", c->n_layers);
    }
    for (int i = 0; i < c->n_labels; i++)
        CHK(c->labels[i][0] != 0, "byte config: label %d is empty", i);
    return ES_OK;
}

static es_status get_int(struct json_object *o, const char *key, int *v, int lo, int hi,
                         es_error *err) {
    int64_t x;
    es_status s = es_config_int(o, key, false, *v, lo, hi, &x, err);
    if (!s) *v = (int)x;
    return s;
}

static es_status get_float(struct json_object *o, const char *key, float *v, double lo,
                           double hi, es_error *err) {
    double x;
    es_status s = es_config_float(o, key, false, *v, lo, hi, &x, err);
    if (!s) *v = (float)x;
    return s;
}

static es_status config_from_obj(es_byte_config *c, struct json_object *o, es_error *err) {
    const char *enc = NULL, *mt = NULL;
    es_status s = es_config_string(o, "model_type", false, &mt, err);
    if (s) return s;
    /* A folder of another family (e.g. a T5 checkpoint) says so plainly
     * rather than failing on the first byte-model key it lacks. */
    if (mt && strncmp(mt, "edgeseq-byte-", 13) != 0)
        return es_errf(err, ES_ERR_UNSUPPORTED,
                       "config.json: model_type \"%s\" is not a byte model (expected "
                       "edgeseq-byte-classifier or edgeseq-byte-seq2seq)", mt);
    s = es_config_string(o, "encoder", true, &enc, err);
    if (s) return s;
    int e = es_byte_encoder_from_name(enc);
    if (e < 0)
        return es_errf(err, ES_ERR_FORMAT,
                       "config.json: encoder \"%s\" (expected byteqrnn, bytetransformer or "
                       "bytefunnel)", enc);
    es_byte_config_default(c, (es_byte_encoder)e);
    struct { const char *k; int *v; int lo, hi; } ints[] = {
        {"max_bytes", &c->max_bytes, 1, 1 << 20},
        {"d_embed", &c->d_embed, 0, 512},
        {"d_model", &c->d_model, 1, 512},
        {"gbst_kernel", &c->gbst_kernel, 1, 16},
        {"gbst_blocks", &c->gbst_blocks, 1, 16},
        {"downsample", &c->downsample, 1, 64},
        {"qrnn_layers", &c->qrnn_layers, 1, ES_BYTE_MAX_LAYERS},
        {"qrnn_hidden", &c->qrnn_hidden, 1, 512},
        {"qrnn_kernel", &c->qrnn_kernel, 1, 16},
        {"qrnn_bidirectional", &c->qrnn_bidirectional, 0, 1},
        {"n_layers", &c->n_layers, 1, ES_BYTE_MAX_LAYERS},
        {"n_heads", &c->n_heads, 1, 512},
        {"d_ff", &c->d_ff, 1, 8192},
        {"max_positions", &c->max_positions, 1, 1 << 20},
    };
    /* max_positions default follows max_bytes / downsample when absent */
    struct json_object *mp = NULL;
    int has_mp = json_object_object_get_ex(o, "max_positions", &mp);
    for (size_t i = 0; i < ES_ARRAY_LEN(ints); i++)
        if ((s = get_int(o, ints[i].k, ints[i].v, ints[i].lo, ints[i].hi, err))) return s;
    if (!has_mp) c->max_positions = (c->max_bytes + c->downsample - 1) / c->downsample;
    if ((s = get_float(o, "zoneout", &c->zoneout, 0.0, 0.999, err))) return s;
    if ((s = get_float(o, "dropout", &c->dropout, 0.0, 0.999, err))) return s;
    if ((s = es_qat_config_from_json(&c->qat, o, err))) return s;
    struct json_object *arr = NULL;
    if (json_object_object_get_ex(o, "pool_windows", &arr) && arr &&
        json_object_get_type(arr) != json_type_null) {
        if (json_object_get_type(arr) != json_type_array ||
            json_object_array_length(arr) > ES_BYTE_MAX_LAYERS)
            return es_errf(err, ES_ERR_FORMAT, "config.json: pool_windows must be an array of <= %d "
                           "integers", ES_BYTE_MAX_LAYERS);
        if (json_object_array_length(arr) > (size_t)c->n_layers)
            return es_errf(err, ES_ERR_FORMAT, "config.json: pool_windows has %zu entries for "
                           "n_layers %d", json_object_array_length(arr), c->n_layers);
        for (size_t i = 0; i < ES_BYTE_MAX_LAYERS; i++) c->pool_windows[i] = 1;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *v = json_object_array_get_idx(arr, i);
            if (json_object_get_type(v) != json_type_int || json_object_get_int64(v) < 1 ||
                json_object_get_int64(v) > 64)
                return es_errf(err, ES_ERR_FORMAT, "config.json: pool_windows[%zu] must be an "
                               "integer in 1..64", i);
            c->pool_windows[i] = (int)json_object_get_int64(v);
        }
    }
    /* a seq2seq config describes its encoder with the same keys, no head */
    const char *mtype = NULL;
    if ((s = es_config_string(o, "model_type", false, &mtype, err))) return s;
    if (mtype && strcmp(mtype, "edgeseq-byte-seq2seq") == 0) c->n_labels = 0;
    else if (json_object_object_get_ex(o, "labels", &arr)) {
        if (json_object_get_type(arr) != json_type_array || json_object_array_length(arr) < 2 ||
            json_object_array_length(arr) > ES_BYTE_MAX_LABELS)
            return es_errf(err, ES_ERR_FORMAT, "config.json: labels must be an array of 2..%d "
                           "strings", ES_BYTE_MAX_LABELS);
        c->n_labels = (int)json_object_array_length(arr);
        for (int i = 0; i < c->n_labels; i++) {
            struct json_object *v = json_object_array_get_idx(arr, (size_t)i);
            const char *str = json_object_get_type(v) == json_type_string ? json_object_get_string(v) : NULL;
            if (!str || !str[0] || strlen(str) >= ES_BYTE_LABEL_MAX)
                return es_errf(err, ES_ERR_FORMAT, "config.json: labels[%d] must be a non-empty "
                               "string of < %d bytes", i, ES_BYTE_LABEL_MAX);
            strcpy(c->labels[i], str);
        }
    }
    s = es_byte_config_check(c, err);
    if (s) return es_errf(err, ES_ERR_FORMAT, "config.json: %s", err ? err->msg : "invalid");
    return ES_OK;
}

es_status es_byte_config_from_json(es_byte_config *c, const char *json, size_t len,
                                   const char *name, es_error *err) {
    struct json_tokener *tk = json_tokener_new();
    if (!tk) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
    if (len > (size_t)INT32_MAX) len = 0;
    struct json_object *o = json_tokener_parse_ex(tk, json, (int)len);
    es_status s = ES_OK;
    if (!o || json_tokener_get_error(tk) != json_tokener_success ||
        json_object_get_type(o) != json_type_object)
        s = es_errf(err, ES_ERR_FORMAT, "%s: not a JSON object", name);
    json_tokener_free(tk);
    if (!s) {
        s = config_from_obj(c, o, err);
        if (s) es_err_prefix(err, "%s", name);
    }
    json_object_put(o);
    return s;
}

es_status es_byte_config_to_json(const es_byte_config *c, char **out, es_error *err) {
    *out = NULL;
    struct json_object *o = json_object_new_object();
    if (!o) return es_errf(err, ES_ERR_NOMEM, "config json: out of memory");
#define ADDI(k, v) json_object_object_add(o, k, json_object_new_int(v))
#define ADDD(k, v) json_object_object_add(o, k, json_object_new_double((double)(v)))
    json_object_object_add(o, "model_type", json_object_new_string("edgeseq-byte-classifier"));
    json_object_object_add(o, "encoder", json_object_new_string(es_byte_encoder_name(c->encoder)));
    struct json_object *labels = json_object_new_array();
    for (int i = 0; i < c->n_labels; i++)
        json_object_array_add(labels, json_object_new_string(c->labels[i]));
    json_object_object_add(o, "labels", labels);
    ADDI("max_bytes", c->max_bytes);
    ADDI("d_embed", c->d_embed);
    ADDI("d_model", c->d_model);
    ADDI("gbst_kernel", c->gbst_kernel);
    ADDI("gbst_blocks", c->gbst_blocks);
    ADDI("downsample", c->downsample);
    if (c->encoder == ES_BYTE_QRNN) {
        ADDI("qrnn_layers", c->qrnn_layers);
        ADDI("qrnn_hidden", c->qrnn_hidden);
        ADDI("qrnn_kernel", c->qrnn_kernel);
        ADDI("qrnn_bidirectional", c->qrnn_bidirectional);
        ADDD("zoneout", c->zoneout);
    } else {
        ADDI("n_layers", c->n_layers);
        ADDI("n_heads", c->n_heads);
        ADDI("d_ff", c->d_ff);
        ADDI("max_positions", c->max_positions);
        if (c->encoder == ES_BYTE_FUNNEL) {
            struct json_object *pw = json_object_new_array();
            for (int i = 0; i < c->n_layers; i++)
                json_object_array_add(pw, json_object_new_int(c->pool_windows[i]));
            json_object_object_add(o, "pool_windows", pw);
        }
    }
    ADDD("dropout", c->dropout);
    es_qat_config_to_json(&c->qat, o);
#undef ADDI
#undef ADDD
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_SPACED);
    *out = txt ? es_strdup(txt) : NULL;
    json_object_put(o);
    if (!*out) return es_errf(err, ES_ERR_NOMEM, "config json: out of memory");
    return ES_OK;
}

/* ---- parameters --------------------------------------------------------- */

static es_status add(es_byte_model *m, int *idx, const char *name, int ndim, int64_t d0,
                     int64_t d1, int64_t d2, es_param_init init, float scale, int fi, int fo,
                     int decay, es_error *err) {
    int64_t shape[3] = {d0, d1, d2};
    return es_params_add(&m->ps, idx, name, ndim, shape, init, scale, fi, fo, decay, err);
}

static es_status register_params(es_byte_model *m, es_error *err) {
    const es_byte_config *c = &m->cfg;
    int D = c->d_model, E = c->d_embed ? c->d_embed : c->d_model, k = c->gbst_kernel;
    es_status s;
    m->bott_w = m->bott_b = m->pos = m->lnf_g = m->lnf_b = -1;
    /* Embedding rows ~ N(0, 1)-scale uniform so the first activations are
     * O(1) whatever E is. */
    if ((s = add(m, &m->emb, "embed.weight", 2, 256, E, 0, ES_INIT_UNIFORM, 1.0f, 0, 0, 1, err)))
        return s;
    if (c->d_embed) {
        if ((s = add(m, &m->bott_w, "bottleneck.weight", 2, D, E, 0, ES_INIT_GLOROT, 1.0f, E, D,
                     1, err)) ||
            (s = add(m, &m->bott_b, "bottleneck.bias", 1, D, 0, 0, ES_INIT_ZERO, 0, 0, 0, 0, err)))
            return s;
    }
    if ((s = add(m, &m->conv_w, "gbst.conv.weight", 3, D, k, D, ES_INIT_GLOROT, 1.0f, k * D, D, 1,
                 err)) ||
        (s = add(m, &m->conv_b, "gbst.conv.bias", 1, D, 0, 0, ES_INIT_ZERO, 0, 0, 0, 0, err)) ||
        (s = add(m, &m->score_w, "gbst.score.weight", 2, 1, D, 0, ES_INIT_GLOROT, 1.0f, D, 1, 1,
                 err)) ||
        (s = add(m, &m->score_b, "gbst.score.bias", 1, 1, 0, 0, ES_INIT_ZERO, 0, 0, 0, 0, err)))
        return s;
    s = c->encoder == ES_BYTE_QRNN ? es_byte_qrnn_register(m, err) : es_byte_tf_register(m, err);
    if (s) return s;
    m->pool_w = m->head_w = m->head_b = -1;
    if (c->n_labels == 0) return es_byte_qat_register(m, err); /* encoder only */
    if ((s = add(m, &m->pool_w, "pool.weight", 2, 1, m->d_enc, 0, ES_INIT_GLOROT, 1.0f, m->d_enc,
                 1, 1, err)) ||
        (s = add(m, &m->head_w, "head.weight", 2, c->n_labels, m->d_enc, 0, ES_INIT_GLOROT, 1.0f,
                 m->d_enc, c->n_labels, 1, err)) ||
        (s = add(m, &m->head_b, "head.bias", 1, c->n_labels, 0, 0, ES_INIT_ZERO, 0, 0, 0, 0, err)))
        return s;
    return es_byte_qat_register(m, err);
}

static es_status model_alloc(es_byte_model **out, const es_byte_config *cfg, es_error *err) {
    *out = NULL;
    es_status s = es_byte_config_check(cfg, err);
    if (s) return s;
    es_byte_model *m = es_calloc(1, sizeof *m);
    if (!m) return es_errf(err, ES_ERR_NOMEM, "byte model: out of memory");
    m->cfg = *cfg;
    s = register_params(m, err);
    if (!s) s = es_params_alloc(&m->ps, 0, err);
    if (s) {
        es_byte_model_free(m);
        return s;
    }
    *out = m;
    return ES_OK;
}

es_status es_byte_model_new(es_byte_model **out, const es_byte_config *cfg, uint64_t seed,
                            es_error *err) {
    es_status s = model_alloc(out, cfg, err);
    if (s) return s;
    es_rng rng;
    es_rng_seed(&rng, seed);
    es_params_init(&(*out)->ps, &rng);
    return ES_OK;
}

void es_byte_model_free(es_byte_model *m) {
    if (!m) return;
    es_params_free(&m->ps);
    es_free(m);
}

const es_byte_config *es_byte_model_config(const es_byte_model *m) { return &m->cfg; }
es_params *es_byte_model_params(es_byte_model *m) { return &m->ps; }
size_t es_byte_model_n_params(const es_byte_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->ps.n; i++) n += m->ps.p[i].numel;
    return n;
}
es_status es_byte_model_enable_grad(es_byte_model *m, es_error *err) {
    return es_params_alloc(&m->ps, 1, err);
}

/* ---- folders ------------------------------------------------------------- */

es_status es_byte_model_save_dir(const es_byte_model *m, const char *dir, es_error *err) {
    if (mkdir(dir, 0777) != 0 && !es_is_dir(dir))
        return es_errf(err, ES_ERR_IO, "%s: cannot create folder", dir);
    char path[4096];
    char *json = NULL;
    es_status s = es_byte_config_to_json(&m->cfg, &json, err);
    if (s) return s;
    if (!(s = es_path_join(path, sizeof path, dir, "config.json", err)))
        s = es_atomic_write_file(path, json, strlen(json), err);
    es_free(json);
    if (s) return s;
    es_st_write_tensor *t = es_calloc((size_t)m->ps.n, sizeof *t);
    if (!t) return es_errf(err, ES_ERR_NOMEM, "save: out of memory");
    for (int i = 0; i < m->ps.n; i++) {
        const es_param *p = &m->ps.p[i];
        t[i].name = p->name;
        t[i].dtype = ES_DTYPE_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = m->ps.data + p->offset;
    }
    const char *meta[] = {"edgeseq_format", "1", "format", "pt"};
    if (!(s = es_path_join(path, sizeof path, dir, "model.safetensors", err)))
        s = es_safetensors_write(path, t, (size_t)m->ps.n, meta, 2, err);
    es_free(t);
    return s;
}

/* Copies every registered tensor from w into m (exact shape match). */
static es_status bind_weights(es_byte_model *m, es_weights *w, es_error *err) {
    for (int i = 0; i < m->ps.n; i++) {
        const es_param *p = &m->ps.p[i];
        const es_tensor_view *t = NULL;
        int done = 0; /* int8 exports: I8 codes + scales (src/quant/byte_qat.c) */
        es_status s = es_byte_qat_bind(m->ps.data + p->offset, p, w, &done, err);
        if (s) return s;
        if (done) continue;
        s = es_model_tensor(w, p->name, p->ndim, p->shape, false, &t, err);
        if (s) return s;
        s = es_tensor_to_f32(m->ps.data + p->offset, t, err);
        if (s) return s;
    }
    return ES_OK;
}

es_status es_byte_model_from_weights(es_byte_model **out, const char *dir,
                                     struct json_object *cfgobj, es_weights *w, es_error *err) {
    es_byte_config cfg;
    es_status s = config_from_obj(&cfg, cfgobj, err);
    if (s) return es_err_prefix(err, "%s", dir);
    const char *fmt = es_weights_get_meta(w, "edgeseq_format");
    if (fmt && atoi(fmt) > ES_FORMAT_VERSION)
        return es_errf(err, ES_ERR_UNSUPPORTED, "%s/model.safetensors: edgeseq_format %s is newer "
                       "than this library (%d)", dir, fmt, ES_FORMAT_VERSION);
    s = model_alloc(out, &cfg, err);
    if (s) return s;
    s = bind_weights(*out, w, err);
    if (s) {
        es_byte_model_free(*out);
        *out = NULL;
        return es_err_prefix(err, "%s/model.safetensors", dir);
    }
    return ES_OK;
}

es_status es_byte_model_load_dir(es_byte_model **out, const char *dir, es_error *err) {
    *out = NULL;
    char path[4096];
    es_status s = es_path_join(path, sizeof path, dir, "config.json", err);
    if (s) return s;
    void *buf = NULL;
    size_t len = 0;
    if ((s = es_read_file(path, &buf, &len, 4u << 20, err))) return s;
    struct json_object *o = json_tokener_parse((const char *)buf);
    es_free(buf);
    if (!o || json_object_get_type(o) != json_type_object) {
        json_object_put(o);
        return es_errf(err, ES_ERR_FORMAT, "%s: not a JSON object", path);
    }
    es_weights *w = NULL;
    const char *which = NULL;
    s = es_weights_open_dir(&w, dir, &which, err);
    if (!s) s = es_byte_model_from_weights(out, dir, o, w, err);
    es_weights_free(w);
    json_object_put(o);
    return s;
}

/* ---- workspace ------------------------------------------------------------ */

es_status es_byte_ws_new(es_byte_ws **out, const es_byte_model *m, int max_batch, int max_bytes,
                         int training, es_pool *pool, es_error *err) {
    *out = NULL;
    const es_byte_config *c = &m->cfg;
    if (max_batch < 1 || max_bytes < 1 || max_bytes > c->max_bytes)
        return es_errf(err, ES_ERR_ARG, "byte workspace: batch %d / bytes %d (max_bytes %d)",
                       max_batch, max_bytes, c->max_bytes);
    es_byte_ws *ws = es_calloc(1, sizeof *ws);
    if (!ws) return es_errf(err, ES_ERR_NOMEM, "byte workspace: out of memory");
    ws->m = m;
    ws->pool = pool;
    ws->max_batch = max_batch;
    ws->max_bytes = max_bytes;
    ws->training = training;
    ws->T0cap = max_bytes;
    ws->T1cap = (max_bytes + c->downsample - 1) / c->downsample;
    ws->m0 = c->gbst_kernel - 1;
    ws->m1 = c->encoder == ES_BYTE_QRNN ? c->qrnn_kernel - 1 : 0;
    es_status s = ES_OK;
    do {
        int D = c->d_model, E = c->d_embed ? c->d_embed : D, M = c->gbst_blocks;
        size_t rows0 = (size_t)max_batch * (size_t)(ws->T0cap + 2 * ws->m0);
        size_t rows1 = (size_t)max_batch * (size_t)(ws->T1cap + 2 * ws->m1);
        int wmax = ES_MAX(ES_MAX(D, E), m->d_enc);
        if (c->encoder == ES_BYTE_QRNN) wmax = ES_MAX(wmax, 3 * c->qrnn_hidden);
        else wmax = ES_MAX(wmax, ES_MAX(3 * D, c->d_ff));
        ws->len0 = es_calloc((size_t)max_batch, sizeof(int));
        ws->len1 = es_calloc((size_t)max_batch, sizeof(int));
        if (!ws->len0 || !ws->len1) {
            s = es_errf(err, ES_ERR_NOMEM, "byte workspace: out of memory");
            break;
        }
        /* TRY_ALLOC breaks out of the do-while with s set */
#define TRY_ALLOC(ptr, n)                                                                     \
        {                                                                                     \
            size_t bytes_;                                                                    \
            if (!es_mul_ok((size_t)(n), sizeof(*(ptr)), &bytes_) ||                           \
                !((ptr) = es_malloc_aligned(bytes_ ? bytes_ : 1))) {                          \
                s = es_errf(err, ES_ERR_NOMEM, "byte workspace: out of memory");              \
                break;                                                                        \
            }                                                                                 \
            memset((ptr), 0, bytes_);                                                         \
        }
        /* ws->emb, ws->u, ws->g0c stay NULL: the front end works on per-byte
         * tables (byte_front.c), not per-position rows */
        TRY_ALLOC(ws->ids, rows0);
        TRY_ALLOC(ws->c, rows0 * (size_t)D);
        TRY_ALLOC(ws->cand, (size_t)M * rows0 * (size_t)D);
        TRY_ALLOC(ws->alpha0, rows0 * (size_t)M);
        TRY_ALLOC(ws->x1, rows1 * (size_t)D);
        TRY_ALLOC(ws->pooled, (size_t)max_batch * (size_t)m->d_enc);
        TRY_ALLOC(ws->pdrop, (size_t)max_batch * (size_t)m->d_enc);
        TRY_ALLOC(ws->dpooled, (size_t)max_batch * (size_t)m->d_enc);
        TRY_ALLOC(ws->part, (size_t)max_batch * (size_t)(wmax + 1));
        if (training) {
            TRY_ALLOC(ws->g0a, rows0 * (size_t)ES_MAX(D, E));
            TRY_ALLOC(ws->g0b, rows0 * (size_t)ES_MAX(D, E));
            TRY_ALLOC(ws->gds, rows0 * (size_t)M);
        }
#undef TRY_ALLOC
        s = c->encoder == ES_BYTE_QRNN ? es_byte_qrnn_ws_alloc(ws, err) : es_byte_tf_ws_alloc(ws, err);
        if (!s) s = es_byte_front_alloc(ws, err);
        if (!s) s = es_byte_qat_ws_alloc(ws, err);
    } while (0);
    if (s) {
        es_byte_ws_free(ws);
        return s;
    }
    *out = ws;
    return ES_OK;
}

void es_byte_ws_free(es_byte_ws *ws) {
    if (!ws) return;
    if (ws->m->cfg.encoder == ES_BYTE_QRNN) es_byte_qrnn_ws_free(ws);
    else es_byte_tf_ws_free(ws);
    es_byte_front_free(ws);
    es_byte_qat_ws_free(ws);
    es_free(ws->len0);
    es_free(ws->len1);
    float *fl[] = {ws->emb, ws->u, ws->c, ws->cand, ws->alpha0, ws->x1, ws->pooled, ws->dpooled,
                   ws->part, ws->g0a, ws->g0b, ws->g0c, ws->gds};
    for (size_t i = 0; i < ES_ARRAY_LEN(fl); i++) es_free_aligned(fl[i]);
    es_free_aligned(ws->ids);
    es_free_aligned(ws->pdrop);
    es_free(ws);
}

/* ---- forward / backward ----------------------------------------------------- */

es_status es_byte_encode(es_byte_ws *ws, const es_byte_model *m, const uint8_t *const *bytes,
                         const size_t *lens, int B, int train, es_rng *rng, es_error *err) {
    const es_byte_config *c = &m->cfg;
    if (ws->m != m) return es_errf(err, ES_ERR_ARG, "byte forward: workspace of another model");
    if (B < 1 || B > ws->max_batch)
        return es_errf(err, ES_ERR_ARG, "byte forward: batch %d (workspace holds %d)", B,
                       ws->max_batch);
    if (train && (!ws->training || !rng))
        return es_errf(err, ES_ERR_ARG, "byte forward: training needs a training workspace and an RNG");
    int D = c->d_model, M = c->gbst_blocks, r = c->downsample;
    /* batch geometry: capacity = longest input (cut to the workspace) */
    int T0 = 1;
    for (int b = 0; b < B; b++) {
        size_t n = lens[b] > (size_t)ws->max_bytes ? (size_t)ws->max_bytes : lens[b];
        if (n && !bytes[b]) return es_errf(err, ES_ERR_ARG, "byte forward: input %d is NULL", b);
        ws->len0[b] = (int)n;
        ws->len1[b] = ((int)n + r - 1) / r;
        T0 = ES_MAX(T0, (int)n);
    }
    ws->B = B;
    ws->T0 = T0;
    ws->T1 = (T0 + r - 1) / r;
    ws->s0 = es_seq_make(B, ws->T0, ws->m0, ws->len0);
    ws->s1 = es_seq_make(B, ws->T1, ws->m1, ws->len1);
    ws->trained = train;
    es_pool *pool = ws->pool;
    const es_seq *s0 = &ws->s0;
    size_t rows0 = es_seq_rows(s0);
    /* ids: -1 on pads and margins */
    for (size_t i = 0; i < rows0; i++) ws->ids[i] = -1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < ws->len0[b]; t++) ws->ids[es_seq_row(s0, b, t)] = bytes[b][t];
    m = es_byte_qat_enter(ws, m, train); /* fake-quantized shadow model when QAT is active */
    const es_params *ps = &m->ps;
    /* embedding [→ bottleneck] → causal conv, by per-byte tables */
    es_byte_front_forward(ws, m);
    es_gbst_forward(pool, ws->x1, ws->cand, ws->alpha0, ws->c, es_params_data(ps, m->score_w),
                    es_params_data(ps, m->score_b)[0], s0, &ws->s1, D, M, r);
    if (c->encoder == ES_BYTE_QRNN) es_byte_qrnn_forward(ws, train, rng);
    else es_byte_tf_forward(ws, train, rng);
    es_byte_qat_leave(ws);
    return ES_OK;
}

es_status es_byte_forward(es_byte_ws *ws, const es_byte_model *m, const uint8_t *const *bytes,
                          const size_t *lens, int B, int train, es_rng *rng, float *logits,
                          es_error *err) {
    const es_byte_config *c = &m->cfg;
    if (c->n_labels == 0)
        return es_errf(err, ES_ERR_ARG, "byte forward: encoder-only model has no classification head");
    es_status st = es_byte_encode(ws, m, bytes, lens, B, train, rng, err);
    if (st) return st;
    m = es_byte_qat_model(ws, m);
    es_pool *pool = ws->pool;
    const es_params *ps = &m->ps;
    es_attnpool_forward(pool, ws->pooled, ws->palpha, ws->enc, es_params_data(ps, m->pool_w),
                        ws->s_enc, m->d_enc);
    size_t np = (size_t)B * (size_t)m->d_enc;
    if (train && c->dropout > 0.0f) es_dropout_forward(ws->pooled, ws->pdrop, np, c->dropout, rng);
    es_linear_forward(NULL, logits, ws->pooled, es_params_data(ps, m->head_w),
                      es_params_data(ps, m->head_b), B, m->d_enc, c->n_labels);
    return ES_OK;
}

static es_status encode_backward(es_byte_ws *ws, es_byte_model *m);

es_status es_byte_backward(es_byte_ws *ws, es_byte_model *m, const float *dlogits,
                           es_error *err) {
    const es_byte_config *c = &m->cfg;
    if (!ws->trained) return es_errf(err, ES_ERR_ARG, "byte backward: no training forward to differentiate");
    if (!m->ps.grad) return es_errf(err, ES_ERR_ARG, "byte backward: gradients not enabled");
    if (c->n_labels == 0)
        return es_errf(err, ES_ERR_ARG, "byte backward: encoder-only model has no classification head");
    m = es_byte_qat_model(ws, m);
    es_pool *pool = ws->pool;
    es_params *ps = &m->ps;
    int B = ws->B;
    /* head */
    es_linear_backward(NULL, ws->dpooled, 0, es_params_grad(ps, m->head_w),
                       es_params_grad(ps, m->head_b), dlogits, ws->pooled,
                       es_params_data(ps, m->head_w), B, m->d_enc, c->n_labels);
    if (c->dropout > 0.0f)
        es_dropout_backward(ws->dpooled, ws->pdrop, (size_t)B * (size_t)m->d_enc, c->dropout);
    /* pooling → dEnc (in gA, layout s_enc) */
    es_attnpool_backward(pool, ws->gA, es_params_grad(ps, m->pool_w), ws->dpooled, ws->palpha,
                         ws->enc, es_params_data(ps, m->pool_w), ws->s_enc, m->d_enc, ws->part);
    return encode_backward(ws, m);
}

es_status es_byte_encode_backward(es_byte_ws *ws, es_byte_model *m, const float *denc,
                                  es_error *err) {
    if (!ws->trained) return es_errf(err, ES_ERR_ARG, "byte backward: no training forward to differentiate");
    if (!m->ps.grad) return es_errf(err, ES_ERR_ARG, "byte backward: gradients not enabled");
    memcpy(ws->gA, denc, es_seq_rows(ws->s_enc) * (size_t)m->d_enc * sizeof(float));
    return encode_backward(ws, m);
}

/* Encoder backward from dEnc in ws->gA (layout s_enc) down to the byte
 * embedding; adds parameter gradients. */
static es_status encode_backward(es_byte_ws *ws, es_byte_model *m) {
    m = es_byte_qat_model(ws, m);
    const es_byte_config *c = &m->cfg;
    es_pool *pool = ws->pool;
    es_params *ps = &m->ps;
    int D = c->d_model, M = c->gbst_blocks;
    /* encoder → dX1 (rows1, D) in gB */
    if (c->encoder == ES_BYTE_QRNN) es_byte_qrnn_backward(ws, m, ws->gA, ws->gB);
    else es_byte_tf_backward(ws, m, ws->gA, ws->gB);
    /* GBST → dC (g0a) */
    const es_seq *s0 = &ws->s0;
    es_gbst_backward(pool, ws->g0a, es_params_grad(ps, m->score_w), es_params_grad(ps, m->score_b),
                     ws->gB, ws->cand, ws->alpha0, es_params_data(ps, m->score_w), s0, &ws->s1, D,
                     M, c->downsample, ws->g0b, ws->gds, ws->part);
    /* conv → bottleneck → embedding, by per-byte tables */
    es_byte_front_backward(ws, m);
    return ES_OK;
}

es_status es_byte_predict(es_byte_ws *ws, const es_byte_model *m, const uint8_t *bytes, size_t n,
                          float *probs, int n_probs, es_error *err) {
    int L = m->cfg.n_labels;
    if (n_probs < L)
        return es_errf(err, ES_ERR_BUFFER, "byte predict: %d probabilities needed, room for %d", L,
                       n_probs);
    float logits[ES_BYTE_MAX_LABELS];
    const uint8_t *pb[1] = {bytes};
    es_status s = es_byte_forward(ws, m, pb, &n, 1, 0, NULL, logits, err);
    if (s) return s;
    float mx = logits[0];
    for (int i = 1; i < L; i++) mx = logits[i] > mx ? logits[i] : mx;
    double z = 0.0;
    for (int i = 0; i < L; i++) z += exp((double)(logits[i] - mx));
    for (int i = 0; i < L; i++) probs[i] = (float)(exp((double)(logits[i] - mx)) / z);
    return ES_OK;
}
