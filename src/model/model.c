/*
 * model.c — es_model_load and the pieces every architecture shares:
 * config.json reading with per-field validation, architecture dispatch on
 * "model_type", tensor lookup with shape checks, and F32 binding of weights
 * (in place from the memory map when possible, upcast copies otherwise).
 *
 * config.json is read whole (capped at 4 MiB: real configs are ~1 KiB) and
 * parsed strictly: the whole file must be one JSON object. Each loader
 * reads its fields through es_config_*, which turn a missing field, a
 * wrong type or an absurd value into ES_ERR_FORMAT naming the field.
 */
#include "model/model_internal.h"

#include "io/fileio.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CONFIG_MAX_BYTES (4u << 20)

es_load_params es_load_params_default(void) {
    es_load_params p;
    memset(&p, 0, sizeof p);
    return p;
}

/* ---- config.json fields ------------------------------------------------ */

static const char *json_type_word(const struct json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a floating-point number";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "?";
}

/* Finds key; *v = NULL when absent or JSON null. */
static struct json_object *cfg_get(const struct json_object *cfg, const char *key) {
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(cfg, key, &v)) return NULL;
    if (json_object_get_type(v) == json_type_null) return NULL;
    return v;
}

es_status es_config_int(const struct json_object *cfg, const char *key, bool required,
                        int64_t dflt, int64_t lo, int64_t hi, int64_t *out, es_error *err) {
    struct json_object *v = cfg_get(cfg, key);
    if (!v) {
        if (required)
            return es_errf(err, ES_ERR_FORMAT, "config.json: required field '%s' is missing", key);
        *out = dflt;
        return ES_OK;
    }
    int64_t x;
    if (json_object_get_type(v) == json_type_int) {
        /* json-c saturates integers beyond int64 to INT64_MIN/MAX: they
         * fail the range check below, which is what we want. */
        x = json_object_get_int64(v);
    } else if (json_object_get_type(v) == json_type_double) {
        /* Some writers emit 64.0; accept integral values only. */
        double d = json_object_get_double(v);
        if (!(d == floor(d)) || d < -9.0e18 || d > 9.0e18)
            return es_errf(err, ES_ERR_FORMAT, "config.json: field '%s' must be an integer, found %g",
                           key, d);
        x = (int64_t)d;
    } else {
        return es_errf(err, ES_ERR_FORMAT, "config.json: field '%s' must be an integer, found %s",
                       key, json_type_word(v));
    }
    if (x < lo || x > hi)
        return es_errf(err, ES_ERR_FORMAT,
                       "config.json: field '%s' = %lld is out of range [%lld, %lld]", key,
                       (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return ES_OK;
}

es_status es_config_float(const struct json_object *cfg, const char *key, bool required,
                          double dflt, double lo, double hi, double *out, es_error *err) {
    struct json_object *v = cfg_get(cfg, key);
    if (!v) {
        if (required)
            return es_errf(err, ES_ERR_FORMAT, "config.json: required field '%s' is missing", key);
        *out = dflt;
        return ES_OK;
    }
    enum json_type t = json_object_get_type(v);
    if (t != json_type_double && t != json_type_int)
        return es_errf(err, ES_ERR_FORMAT, "config.json: field '%s' must be a number, found %s",
                       key, json_type_word(v));
    double x = json_object_get_double(v);
    if (!(x >= lo && x <= hi)) /* also rejects NaN */
        return es_errf(err, ES_ERR_FORMAT, "config.json: field '%s' = %g is out of range [%g, %g]",
                       key, x, lo, hi);
    *out = x;
    return ES_OK;
}

es_status es_config_bool(const struct json_object *cfg, const char *key, bool required,
                         bool dflt, bool *out, es_error *err) {
    struct json_object *v = cfg_get(cfg, key);
    if (!v) {
        if (required)
            return es_errf(err, ES_ERR_FORMAT, "config.json: required field '%s' is missing", key);
        *out = dflt;
        return ES_OK;
    }
    if (json_object_get_type(v) != json_type_boolean)
        return es_errf(err, ES_ERR_FORMAT, "config.json: field '%s' must be true or false, found %s",
                       key, json_type_word(v));
    *out = json_object_get_boolean(v) != 0;
    return ES_OK;
}

es_status es_config_string(const struct json_object *cfg, const char *key, bool required,
                           const char **out, es_error *err) {
    struct json_object *v = cfg_get(cfg, key);
    *out = NULL;
    if (!v) {
        if (required)
            return es_errf(err, ES_ERR_FORMAT, "config.json: required field '%s' is missing", key);
        return ES_OK;
    }
    if (json_object_get_type(v) != json_type_string)
        return es_errf(err, ES_ERR_FORMAT, "config.json: field '%s' must be a string, found %s",
                       key, json_type_word(v));
    *out = json_object_get_string(v);
    return ES_OK;
}

/* ---- tensors ----------------------------------------------------------- */

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *dims) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

es_status es_model_tensor(const es_weights *w, const char *name, int ndim, const int64_t *dims,
                          bool optional, const es_tensor_view **out, es_error *err) {
    const es_tensor_view *t = es_weights_find(w, name);
    *out = NULL;
    if (!t) {
        if (optional) return ES_OK;
        return es_errf(err, ES_ERR_FORMAT, "missing tensor '%s'", name);
    }
    if (t->dtype != ES_DTYPE_F32 && t->dtype != ES_DTYPE_F16 && t->dtype != ES_DTYPE_BF16)
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                       t->file ? t->file : "?", name, es_dtype_name(t->dtype));
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == dims[i];
    if (!same) {
        char want[128], got[128];
        shape_str(want, sizeof want, ndim, dims);
        shape_str(got, sizeof got, t->ndim, t->shape);
        return es_errf(err, ES_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s",
                       t->file ? t->file : "?", name, got, want);
    }
    *out = t;
    return ES_OK;
}

es_status es_model_tensor_f32(es_weights *w, const es_tensor_view *t, const float **out,
                              es_error *err) {
    *out = NULL;
    if (t->dtype == ES_DTYPE_F32 && ((uintptr_t)t->data & 3u) == 0) {
        *out = t->data;
        return ES_OK;
    }
    size_t n = es_tensor_numel(t), bytes;
    if (!es_mul_ok(n, sizeof(float), &bytes))
        return es_errf(err, ES_ERR_FORMAT, "tensor '%s' is too large", t->name);
    /* es_weights_own_buffer releases with es_free, so es_malloc (not the
     * aligned allocator); the kernels accept any 4-byte aligned pointer. */
    float *buf = es_malloc(bytes);
    if (!buf) return es_errf(err, ES_ERR_NOMEM, "out of memory converting tensor '%s'", t->name);
    es_status s = es_tensor_to_f32(buf, t, err);
    if (s) {
        es_free(buf);
        return s;
    }
    s = es_weights_own_buffer(w, buf, err); /* frees buf on failure */
    if (s) return s;
    *out = buf;
    return ES_OK;
}

/* ---- load / free ------------------------------------------------------- */

static es_status parse_config(struct json_object **out, const char *path, es_error *err) {
    void *buf;
    size_t len;
    *out = NULL;
    es_status s = es_read_file(path, &buf, &len, CONFIG_MAX_BYTES, err);
    if (s) return s;
    struct json_tokener *tk = json_tokener_new();
    if (!tk) {
        es_free(buf);
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory parsing", path);
    }
    struct json_object *root = NULL;
    if (len > (size_t)INT32_MAX) len = 0; /* cannot happen under the cap */
    root = json_tokener_parse_ex(tk, buf, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t used = json_tokener_get_parse_end(tk);
    s = ES_OK;
    if (!root || je != json_tokener_success) {
        s = es_errf(err, ES_ERR_FORMAT, "%s: invalid JSON at byte %zu: %s", path, used,
                    je == json_tokener_continue ? "unexpected end of file"
                                                : json_tokener_error_desc(je));
    } else {
        for (size_t i = used; i < len && !s; i++) {
            char c = ((const char *)buf)[i];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
                s = es_errf(err, ES_ERR_FORMAT, "%s: trailing data after the JSON object at byte %zu",
                            path, i);
        }
        if (!s && json_object_get_type(root) != json_type_object)
            s = es_errf(err, ES_ERR_FORMAT, "%s: top level must be a JSON object, found %s", path,
                        json_type_word(root));
    }
    json_tokener_free(tk);
    es_free(buf);
    if (s) {
        json_object_put(root);
        return s;
    }
    *out = root;
    return ES_OK;
}

void es_model_free(es_model *m) {
    if (!m) return;
    if (m->impl_free && m->impl) m->impl_free(m->impl);
    es_tokenizer_free(m->tok);
    es_weights_free(m->weights);
    es_free(m->dir);
    es_free(m);
}

static es_status model_load(es_model **out, const char *dir, es_error *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return es_errf(err, ES_ERR_ARG, "%s: path too long", dir);
    if (!es_is_dir(dir))
        return es_errf(err, ES_ERR_IO, "%s: not a model folder (no such directory)", dir);

    struct json_object *cfg = NULL;
    es_status s = parse_config(&cfg, path, err);
    if (s) return s;

    const char *model_type = NULL;
    s = es_config_string(cfg, "model_type", false, &model_type, err);
    enum { K_T5, K_BYTE } kind = K_T5;
    if (!s && model_type) {
        if (strcmp(model_type, "t5") == 0) kind = K_T5;
        else if (strcmp(model_type, "edgeseq-byte-classifier") == 0 ||
                 strcmp(model_type, "edgeseq-byte-seq2seq") == 0)
            kind = K_BYTE;
        else
            s = es_errf(err, ES_ERR_UNSUPPORTED,
                        "config.json: model_type \"%s\" is not supported (expected \"t5\", "
                        "\"edgeseq-byte-classifier\" or \"edgeseq-byte-seq2seq\")",
                        model_type);
    }
    if (s) {
        json_object_put(cfg);
        return es_err_prefix(err, "%s", dir);
    }

    es_model *m = es_calloc(1, sizeof *m);
    if (!m) {
        json_object_put(cfg);
        return es_errf(err, ES_ERR_NOMEM, "out of memory loading %s", dir);
    }
    m->dir = es_strdup(dir);
    const char *which = NULL;
    if (!m->dir) s = es_errf(err, ES_ERR_NOMEM, "out of memory loading %s", dir);
    if (!s) s = es_weights_open_dir(&m->weights, dir, &which, err);
    if (!s) {
        if (kind == K_T5) s = es_t5_model_load(m, dir, cfg, m->weights, err);
        else s = es_byte_model_load(m, dir, cfg, m->weights, err);
    }
    json_object_put(cfg);
    if (s) {
        es_model_free(m);
        return s;
    }
    m->info.dir = m->dir;
    m->info.weights_file = which;
    m->info.file_bytes = es_weights_file_bytes(m->weights);
    *out = m;
    return ES_OK;
}

es_status es_model_load(es_model **out, const char *dir, const es_load_params *params,
                        es_error *err) {
    (void)params; /* loading is single-threaded: upcasting is memory-bound */
    es_error e; /* loaders always get a record, so es_err_prefix works */
    es_err_clear(&e);
    es_status s;
    if (!out) {
        s = es_errf(&e, ES_ERR_ARG, "es_model_load: out is NULL");
    } else {
        *out = NULL;
        if (!dir || !dir[0]) s = es_errf(&e, ES_ERR_ARG, "es_model_load: empty folder path");
        else s = model_load(out, dir, &e);
    }
    if (s && e.code == ES_OK) e.code = s; /* defensive: a status without a message */
    if (err) *err = e;
    return s;
}

const es_model_info *es_model_get_info(const es_model *m) { return m ? &m->info : NULL; }

const es_tokenizer *es_model_tokenizer(const es_model *m) { return m ? m->tok : NULL; }
