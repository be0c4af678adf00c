/*
 * t5_quant.c — reduced-precision T5 folders (contract in t5_quant.h):
 * the quantizer behind `edgeseq quantize` and the loader hooks that bind
 * BF16 / I8 projections to t5_linear handles.
 *
 * Choices (measured in docs/quantization.md, "T5 reduced precision"):
 * every 2-D matrix except the relative-attention biases is converted —
 * the projections, the shared embedding (int8: one scale per token row,
 * which is also the per-output-channel scale of the tied LM head) and an
 * untied LM head. RMS-norm gains (D floats per layer) and the relative
 * biases (buckets × H) stay F32: they are < 0.1 % of the bytes and the
 * norms multiply every activation.
 */
#include "quant/t5_quant.h"

#include "io/fileio.h"
#include "model/model_internal.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const k_scheme_names[] = {"", "t5-int8", "t5-bf16", "t5-f16"};
static const char *const k_dtype_names[] = {"", "int8", "bf16", "f16"};

es_status es_t5_quant_scheme(int *out, const es_weights *w, const struct json_object *config,
                             const char *dir, es_error *err) {
    *out = ES_T5_Q_NONE;
    const char *meta = es_weights_get_meta(w, "edgeseq_quant");
    struct json_object *qc = NULL;
    bool has_cfg = json_object_object_get_ex(config, "quantization", &qc);
    if (!meta) {
        if (has_cfg)
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: config.json has \"quantization\" but model.safetensors has no "
                           "edgeseq_quant metadata",
                           dir);
        return ES_OK;
    }
    int q = 0;
    for (int i = 1; i < (int)ES_ARRAY_LEN(k_scheme_names); i++)
        if (strcmp(meta, k_scheme_names[i]) == 0) q = i;
    if (!q)
        return es_errf(err, ES_ERR_UNSUPPORTED,
                       "%s/model.safetensors: quantization scheme edgeseq_quant='%s' is not "
                       "supported by this edgeseq (t5-int8, t5-bf16, t5-f16)",
                       dir, meta);
    struct json_object *dt = NULL;
    if (!has_cfg || !json_object_is_type(qc, json_type_object) ||
        !json_object_object_get_ex(qc, "dtype", &dt) || !json_object_is_type(dt, json_type_string) ||
        strcmp(json_object_get_string(dt), k_dtype_names[q]) != 0)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: config.json \"quantization\": {\"dtype\": \"%s\"} missing or not "
                       "matching edgeseq_quant='%s'",
                       dir, k_dtype_names[q], meta);
    *out = q;
    return ES_OK;
}

bool es_t5_quant_is_aux(const es_weights *w, const char *name) {
    size_t n = strlen(name);
    if (n <= 7 || strcmp(name + n - 7, ".qscale") != 0) return false;
    char base[512];
    if (n - 7 >= sizeof base) return false;
    memcpy(base, name, n - 7);
    base[n - 7] = 0;
    return es_weights_find(w, base) != NULL;
}

es_status es_t5_quant_bind(es_weights *w, es_t5_lin *lin, const es_tensor_view *t, int q,
                           es_error *err) {
    const int64_t N = lin->N, K = lin->K;
    if (t->ndim != 2 || t->shape[0] != N || t->shape[1] != K)
        return es_errf(err, ES_ERR_SHAPE, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                       t->file, t->name, t->ndim > 0 ? (long long)t->shape[0] : -1LL,
                       t->ndim > 1 ? (long long)t->shape[1] : -1LL, (long long)N, (long long)K);
    if (t->dtype == ES_DTYPE_BF16) {
        lin->kind = ES_T5_W_BF16;
        if (((uintptr_t)t->data & 1) == 0) {
            lin->bf16 = t->data;
            return ES_OK;
        }
        uint16_t *c = es_malloc(t->nbytes ? t->nbytes : 1);
        if (!c) return es_errf(err, ES_ERR_NOMEM, "out of memory copying '%s'", t->name);
        memcpy(c, t->data, t->nbytes);
        es_status s = es_weights_own_buffer(w, c, err);
        if (s) {
            es_free(c);
            return s;
        }
        lin->bf16 = c;
        return ES_OK;
    }
    /* I8 */
    if (q != ES_T5_Q_INT8)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: tensor '%s' is I8 but the folder's edgeseq_quant is not 't5-int8'",
                       t->file, t->name);
    char sn[512];
    if ((size_t)snprintf(sn, sizeof sn, "%s.qscale", t->name) >= sizeof sn)
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor name '%s' too long", t->file, t->name);
    const es_tensor_view *st = es_weights_find(w, sn);
    if (!st)
        return es_errf(err, ES_ERR_FORMAT, "%s: I8 tensor '%s' has no scale tensor '%s'", t->file,
                       t->name, sn);
    if (st->dtype != ES_DTYPE_F32)
        return es_errf(err, ES_ERR_FORMAT, "%s: scale tensor '%s' is %s, expected F32", st->file,
                       sn, es_dtype_name(st->dtype));
    if (st->ndim != 2 || st->shape[0] != N || st->shape[1] < 1 || K % st->shape[1] != 0 ||
        (st->shape[1] > 1 && K / st->shape[1] > ES_T5_LIN_KCHUNK))
        return es_errf(err, ES_ERR_SHAPE,
                       "%s: scale tensor '%s' must be [%lld, G] with G dividing %lld (group <= %d)",
                       st->file, sn, (long long)N, (long long)K, ES_T5_LIN_KCHUNK);
    const int64_t NG = st->shape[1];
    lin->kind = ES_T5_W_I8;
    lin->n_groups = (int)NG;
    lin->group = (int)(K / NG);
    lin->q = t->data;
    /* scales (copied: the F32 data may follow odd-sized I8 data) and the
     * per-group code sums, both owned by the weight set */
    float *sc = es_malloc((size_t)(N * NG) * sizeof(float));
    int32_t *ws = es_malloc((size_t)(N * NG) * sizeof(int32_t));
    if (!sc || !ws) {
        es_free(sc);
        es_free(ws);
        return es_errf(err, ES_ERR_NOMEM, "out of memory binding '%s'", t->name);
    }
    es_status s = es_weights_own_buffer(w, sc, err);
    if (s) {
        es_free(sc);
        es_free(ws);
        return s;
    }
    if ((s = es_weights_own_buffer(w, ws, err))) {
        es_free(ws);
        return s;
    }
    memcpy(sc, st->data, (size_t)(N * NG) * sizeof(float));
    for (int64_t i = 0; i < N * NG; i++)
        if (!(sc[i] > 0.0f) || !isfinite(sc[i]))
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: scale tensor '%s' element %lld is %g (must be finite and > 0)",
                           st->file, sn, (long long)i, (double)sc[i]);
    const int8_t *qd = t->data;
    const int64_t G = K / NG;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < NG; g++) {
            int32_t sum = 0;
            for (int64_t k = 0; k < G; k++) {
                int8_t c = qd[n * K + g * G + k];
                if (c == -128)
                    return es_errf(err, ES_ERR_FORMAT,
                                   "%s: tensor '%s' holds code -128 at [%lld, %lld] (codes are "
                                   "symmetric, -127..127)",
                                   t->file, t->name, (long long)n, (long long)(g * G + k));
                sum += c;
            }
            ws[n * NG + g] = sum;
        }
    lin->scale = sc;
    lin->wsum = ws;
    return ES_OK;
}

void es_t5_quant_matrix(int8_t *codes, float *scales, const float *W, int N, int K, int G) {
    if (G <= 0) G = K;
    const int NG = K / G;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < NG; g++) {
            const float *w = W + (size_t)n * K + (size_t)g * G;
            float mx = 0.0f;
            for (int k = 0; k < G; k++) mx = fabsf(w[k]) > mx ? fabsf(w[k]) : mx;
            const float s = mx > 0.0f ? mx / 127.0f : 1.0f;
            scales[(size_t)n * NG + g] = s;
            for (int k = 0; k < G; k++) {
                float v = rintf(w[k] / s);
                v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
                codes[(size_t)n * K + (size_t)g * G + k] = (int8_t)v;
            }
        }
}

/* ---- writer ------------------------------------------------------------ */

/* A matrix to convert: 2-D float, not a relative-attention bias. */
static bool is_matrix(const es_tensor_view *t) {
    return t->ndim == 2 && (t->dtype == ES_DTYPE_F32 || t->dtype == ES_DTYPE_F16 ||
                            t->dtype == ES_DTYPE_BF16) &&
           !strstr(t->name, "relative_attention_bias");
}

typedef struct out_set {
    es_st_write_tensor *t;
    char **names;   /* owned name strings (qscale) */
    void **bufs;    /* owned data */
    size_t n, nb, nn;
} out_set;

static void out_free(out_set *o, size_t cap) {
    for (size_t i = 0; i < o->nb; i++) es_free(o->bufs[i]);
    for (size_t i = 0; i < o->nn; i++) es_free(o->names[i]);
    (void)cap;
    es_free(o->t);
    es_free(o->bufs);
    es_free(o->names);
}

static void *own(out_set *o, size_t bytes) {
    void *p = es_malloc(bytes ? bytes : 1);
    if (p) o->bufs[o->nb++] = p;
    return p;
}

static es_status write_config(const char *in_dir, const char *out_dir, const char *dtype, int G,
                              es_error *err) {
    char path[4096];
    es_status s = es_path_join(path, sizeof path, in_dir, "config.json", err);
    if (s) return s;
    void *buf = NULL;
    size_t len = 0;
    if ((s = es_read_file(path, &buf, &len, 1 << 24, err))) return s;
    struct json_tokener *tk = json_tokener_new();
    struct json_object *cfg = tk ? json_tokener_parse_ex(tk, buf, (int)len) : NULL;
    if (tk) json_tokener_free(tk);
    es_free(buf);
    if (!cfg || !json_object_is_type(cfg, json_type_object)) {
        if (cfg) json_object_put(cfg);
        return es_errf(err, ES_ERR_FORMAT, "%s: not a JSON object", path);
    }
    struct json_object *q = json_object_new_object();
    json_object_object_add(q, "dtype", json_object_new_string(dtype));
    bool i8 = strcmp(dtype, "int8") == 0;
    json_object_object_add(q, "group", json_object_new_int(i8 ? G : 0));
    json_object_object_add(
        q, "weights",
        json_object_new_string(i8 ? (G ? "symmetric int8, one F32 scale per output row and group"
                                       : "symmetric int8, one F32 scale per output row")
                                  : dtype));
    json_object_object_add(q, "activations",
                           json_object_new_string(i8 ? "dynamic symmetric int8 per row" : "f32"));
    json_object_object_add(q, "embedding_and_lm_head", json_object_new_string(dtype));
    json_object_object_add(q, "kept_f32", json_object_new_string("rms-norm weights, relative attention biases"));
    json_object_object_add(cfg, "quantization", q);
    const char *txt = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PRETTY);
    if ((s = es_path_join(path, sizeof path, out_dir, "config.json", err)) == ES_OK)
        s = es_atomic_write_file(path, txt, strlen(txt), err);
    json_object_put(cfg);
    return s;
}

es_status es_t5_quantize_dir(const char *in_dir, const char *out_dir, const char *dtype, int G,
                             uint64_t *bytes_out, es_error *err) {
    int q = 0;
    for (int i = 1; i < (int)ES_ARRAY_LEN(k_dtype_names); i++)
        if (dtype && strcmp(dtype, k_dtype_names[i]) == 0) q = i;
    if (!q) return es_errf(err, ES_ERR_ARG, "unknown dtype '%s' (int8, bf16, f16)", dtype ? dtype : "");
    if (G < 0 || (q == ES_T5_Q_INT8 && G > ES_T5_LIN_KCHUNK) || (q != ES_T5_Q_INT8 && G))
        return es_errf(err, ES_ERR_ARG, "group %d: must be 0 (per channel) or 1..%d, int8 only", G,
                       ES_T5_LIN_KCHUNK);
    /* Validate the source as a T5 model (and refuse quantized inputs). */
    es_model *m = NULL;
    es_load_params lp = es_load_params_default();
    es_status s = es_model_load(&m, in_dir, &lp, err);
    if (s) return s;
    const es_model_info *info = es_model_get_info(m);
    if (info->arch != ES_ARCH_T5) {
        es_model_free(m);
        return es_errf(err, ES_ERR_UNSUPPORTED, "%s: not a T5 model (quantize handles T5 only)", in_dir);
    }
    const int D = info->d_model, F = info->d_ff, I = info->n_heads * info->d_kv;
    es_model_free(m);
    if (q == ES_T5_Q_INT8 && G && (D % G || F % G || I % G))
        return es_errf(err, ES_ERR_ARG, "group %d must divide d_model %d, d_ff %d and n_heads*d_kv %d",
                       G, D, F, I);
    es_weights *w = NULL;
    const char *which = NULL;
    if ((s = es_weights_open_dir(&w, in_dir, &which, err))) return s;
    if (es_weights_get_meta(w, "edgeseq_quant")) {
        s = es_errf(err, ES_ERR_ARG, "%s: already quantized (edgeseq_quant='%s')", in_dir,
                    es_weights_get_meta(w, "edgeseq_quant"));
        es_weights_free(w);
        return s;
    }
    const bool have_shared = es_weights_find(w, "shared.weight") != NULL;
    const size_t nt = es_weights_count(w), cap = 2 * nt + 1;
    out_set o = {0};
    o.t = es_calloc(cap, sizeof *o.t);
    o.bufs = es_calloc(cap, sizeof *o.bufs);
    o.names = es_calloc(cap, sizeof *o.names);
    if (!o.t || !o.bufs || !o.names) {
        out_free(&o, cap);
        es_weights_free(w);
        return es_errf(err, ES_ERR_NOMEM, "out of memory");
    }
    /* Order: F32 tensors first, then BF16/F16, then I8 (keeps every F32 and
     * 16-bit tensor naturally aligned in the file). */
    for (int pass = 0; pass < 3 && !s; pass++) {
        for (size_t i = 0; i < nt && !s; i++) {
            const es_tensor_view *t = es_weights_at(w, i);
            if (have_shared && (strcmp(t->name, "encoder.embed_tokens.weight") == 0 ||
                                strcmp(t->name, "decoder.embed_tokens.weight") == 0))
                continue; /* duplicates of shared.weight (pytorch_model.bin) */
            const bool mat = is_matrix(t);
            const size_t n = es_tensor_numel(t);
            if (!mat) {
                if (pass != 0) continue;
                if (t->dtype != ES_DTYPE_F32 && t->dtype != ES_DTYPE_F16 && t->dtype != ES_DTYPE_BF16) {
                    s = es_errf(err, ES_ERR_UNSUPPORTED, "%s: tensor '%s' is %s (float tensors only)",
                                t->file, t->name, es_dtype_name(t->dtype));
                    break;
                }
                float *f = own(&o, n * sizeof(float));
                if (!f) { s = es_errf(err, ES_ERR_NOMEM, "out of memory"); break; }
                if ((s = es_tensor_to_f32(f, t, err))) break;
                es_st_write_tensor *wt = &o.t[o.n++];
                wt->name = t->name;
                wt->dtype = ES_DTYPE_F32;
                wt->ndim = t->ndim;
                memcpy(wt->shape, t->shape, sizeof wt->shape);
                wt->data = f;
                continue;
            }
            if (pass == 0 && q != ES_T5_Q_INT8) continue;
            if (pass == 1 && q == ES_T5_Q_INT8) continue;
            if (pass == 2 && q != ES_T5_Q_INT8) continue;
            float *f = es_malloc(n * sizeof(float) + 1);
            if (!f) { s = es_errf(err, ES_ERR_NOMEM, "out of memory"); break; }
            if ((s = es_tensor_to_f32(f, t, err))) { es_free(f); break; }
            const int N = (int)t->shape[0], K = (int)t->shape[1];
            if (q == ES_T5_Q_INT8) {
                const int g = G && K % G == 0 ? G : 0;
                const int NG = g ? K / g : 1;
                if (pass == 0) {
                    /* scales (F32) in pass 0, codes in pass 2 */
                    int8_t *c = es_malloc(n + 1);
                    float *sc = own(&o, (size_t)N * NG * sizeof(float));
                    char *nm = es_malloc(strlen(t->name) + 8);
                    if (!c || !sc || !nm) {
                        es_free(c);
                        es_free(nm);
                        es_free(f);
                        s = es_errf(err, ES_ERR_NOMEM, "out of memory");
                        break;
                    }
                    es_t5_quant_matrix(c, sc, f, N, K, g);
                    es_free(c);
                    sprintf(nm, "%s.qscale", t->name);
                    o.names[o.nn++] = nm;
                    es_st_write_tensor *wt = &o.t[o.n++];
                    wt->name = nm;
                    wt->dtype = ES_DTYPE_F32;
                    wt->ndim = 2;
                    wt->shape[0] = N;
                    wt->shape[1] = NG;
                    wt->data = sc;
                } else {
                    int8_t *c = own(&o, n);
                    float *sc = es_malloc((size_t)N * NG * sizeof(float));
                    if (!c || !sc) {
                        es_free(sc);
                        es_free(f);
                        s = es_errf(err, ES_ERR_NOMEM, "out of memory");
                        break;
                    }
                    es_t5_quant_matrix(c, sc, f, N, K, g);
                    es_free(sc);
                    es_st_write_tensor *wt = &o.t[o.n++];
                    wt->name = t->name;
                    wt->dtype = ES_DTYPE_I8;
                    wt->ndim = 2;
                    wt->shape[0] = N;
                    wt->shape[1] = K;
                    wt->data = c;
                }
            } else {
                uint16_t *h = own(&o, n * sizeof(uint16_t));
                if (!h) { es_free(f); s = es_errf(err, ES_ERR_NOMEM, "out of memory"); break; }
                for (size_t k = 0; k < n; k++)
                    h[k] = q == ES_T5_Q_BF16 ? es_f32_to_bf16(f[k]) : es_f32_to_f16(f[k]);
                es_st_write_tensor *wt = &o.t[o.n++];
                wt->name = t->name;
                wt->dtype = q == ES_T5_Q_BF16 ? ES_DTYPE_BF16 : ES_DTYPE_F16;
                wt->ndim = 2;
                wt->shape[0] = N;
                wt->shape[1] = K;
                wt->data = h;
            }
            es_free(f);
        }
    }
    if (!s && mkdir(out_dir, 0777) != 0 && !es_is_dir(out_dir))
        s = es_errf(err, ES_ERR_IO, "%s: cannot create the folder", out_dir);
    char path[4096];
    if (!s) s = es_path_join(path, sizeof path, out_dir, "model.safetensors", err);
    if (!s) {
        char gs[16];
        snprintf(gs, sizeof gs, "%d", q == ES_T5_Q_INT8 ? G : 0);
        const char *meta[] = {"format", "pt", "edgeseq_format", "1", "edgeseq_quant",
                              k_scheme_names[q], "edgeseq_quant_group", gs};
        s = es_safetensors_write(path, o.t, o.n, meta, 4, err);
    }
    out_free(&o, cap);
    es_weights_free(w);
    if (!s) s = write_config(in_dir, out_dir, k_dtype_names[q], G, err);
    if (!s) {
        char src[4096], dst[4096];
        if (!(s = es_path_join(src, sizeof src, in_dir, "spiece.model", err)) &&
            es_is_regular_file(src) && !(s = es_path_join(dst, sizeof dst, out_dir, "spiece.model", err)))
            s = es_copy_file_atomic(dst, src, err);
    }
    if (!s && bytes_out) {
        struct stat sb;
        *bytes_out = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    }
    return s;
}
