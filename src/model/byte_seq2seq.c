/*
 * byte_seq2seq.c — byte seq2seq models (byte_seq2seq.h): configuration,
 * parameters, folders, the teacher-forced forward/backward (training,
 * scoring) and the step-wise decoder behind es_dec_model.
 *
 * Decoder (pre-norm; D = d_model, N_l layers; row layout (B, T) plain):
 *   x_0[t] = √D · Tok[in_t] + Pos[t]          in_0 = start, in_t = y_{t−1}
 *   per layer:  x ← x + MAtt(LN1(x), enc)     (src/nn/matt.h)
 *               x ← x + FFN(LN2(x))           (GELU, src/nn/ffn.h)
 *   logits[t] = LN_f(x)[t] · Tokᵀ + b_out     (tied output projection)
 * √D: Tok rows start at N(0, 1/D) so the tied logits are O(1); the input
 * side scales them back to unit entries, as Vaswani et al. do.
 * Pad rows (t ≥ len) are kept exactly zero in activations and gradients.
 *
 * Step-wise decoding (es_s2s_prime + es_s2s_dec_model): the encoder runs
 * once per input, every layer's cross-attention K/V is computed once, and
 * the only per-step state is one running sum (max_rows, D) per layer
 * (es_matt_step). A step runs the same float operations per row as the
 * teacher-forced forward, in the same order, so its logits equal those
 * of es_s2s_forward up to GEMM blocking (tests/unit/test_matt_decoder.c).
 *
 * Tensor names (F32): the encoder's (docs/byte-models.md, no pool/head) +
 *   dec.embed.weight (V, D)        dec.pos.weight (max_out, D)
 *   dec.layers.<l>.ln1.weight/.bias (D)
 *   dec.layers.<l>.matt.{q,u,o}.weight (D, D), .matt.{k,v}.weight (D, D_enc)
 *   dec.layers.<l>.ln2.weight/.bias (D)
 *   dec.layers.<l>.ffn.fc1.weight (F, D), .fc1.bias (F), .fc2.weight (D, F), .fc2.bias (D)
 *   dec.ln_f.weight/.bias (D)      dec.out.bias (V)
 *
 * decoder.self_attention = "standard" replaces each merged layer by
 * x ← x + SelfAttn_causal(LN1(x)); x ← x + CrossAttn(LN_c(x)); x ← x +
 * FFN(LN2(x)) (src/model/byte_seq2seq_std.h: its tensor names, its K/V
 * cache); embeddings, final LayerNorm and the tied output are shared.
 */
#include "model/byte_seq2seq.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "model/byte_internal.h"
#include "model/byte_seq2seq_std.h"
#include "model/model_internal.h"
#include "nn/embedding.h"
#include "nn/ffn.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/matt.h"
#include "quant/byte_qat.h"
#include "quant/s2s_qat.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct s2s_layer {
    int ln1_g, ln1_b, wq, wk, wv, wu, wo, ln2_g, ln2_b, f1_w, f1_b, f2_w, f2_b;
    /* standard decoder only: self-attention q/k/v/o, LN_c, cross-attention q/k/v/o */
    int sq, sk, sv, so, lnc_g, lnc_b, cq, ck, cv, co;
} s2s_layer;

struct es_s2s_model {
    es_s2s_config cfg;       /* cfg.symbols points at symv */
    es_byte_model *enc;      /* encoder parameters (own registry) */
    es_params ps;            /* decoder parameters */
    int V;
    int tok, pos, lnf_g, lnf_b, out_b;
    s2s_layer L[ES_BYTE_MAX_LAYERS];
    char *symbuf;            /* (n_symbols, ES_S2S_SYMBOL_MAX) */
    const char **symv;       /* (n_symbols) into symbuf */
    es_qweights *q8;         /* int8 export: the decoder's int8 codes (byte_qat.h), else NULL */
    int int8_only;           /* es_s2s_model_int8_only ran: inference only */
};

/* ---- configuration ---------------------------------------------------------- */

void es_s2s_config_default(es_s2s_config *c) {
    memset(c, 0, sizeof *c);
    es_byte_config_default(&c->enc, ES_BYTE_QRNN);
    c->enc.n_labels = 0;
    c->enc.max_bytes = 256;
    c->enc.downsample = 1;
    c->enc.qrnn_layers = 1;
    c->enc.max_positions = 256;
    c->d_model = 64;
    c->n_layers = 2;
    c->n_heads = 4;
    c->d_ff = 128;
    c->max_out = 64;
}

#define CHK(cond, ...)                                                                        \
    do {                                                                                      \
        if (!(cond)) return es_errf(err, ES_ERR_ARG, __VA_ARGS__);                            \
    } while (0)

static es_status config_check(const es_s2s_config *c, es_error *err) {
    es_status s = es_byte_config_check(&c->enc, err);
    if (s) return s;
    CHK(c->enc.n_labels == 0, "seq2seq config: the encoder must have no labels (n_labels %d)",
        c->enc.n_labels);
    CHK(c->d_model >= 1 && c->d_model <= 1024, "seq2seq config: decoder d_model %d (1..1024)",
        c->d_model);
    CHK(c->n_layers >= 1 && c->n_layers <= ES_BYTE_MAX_LAYERS,
        "seq2seq config: decoder n_layers %d (1..%d)", c->n_layers, ES_BYTE_MAX_LAYERS);
    CHK(c->n_heads >= 1 && c->d_model % c->n_heads == 0,
        "seq2seq config: decoder n_heads %d must divide d_model %d", c->n_heads, c->d_model);
    CHK(c->d_ff >= 1 && c->d_ff <= 8192, "seq2seq config: decoder d_ff %d (1..8192)", c->d_ff);
    CHK(c->max_out >= 2 && c->max_out <= 4096, "seq2seq config: decoder max_out %d (2..4096)",
        c->max_out);
    CHK(c->self_attention == ES_S2S_SELF_MERGED || c->self_attention == ES_S2S_SELF_STANDARD,
        "seq2seq config: decoder self_attention %d (0 merged, 1 standard)", c->self_attention);
    CHK(c->n_symbols >= 0 && c->n_symbols <= ES_S2S_MAX_SYMBOLS,
        "seq2seq config: %d symbols (0..%d)", c->n_symbols, ES_S2S_MAX_SYMBOLS);
    CHK(c->n_symbols == 0 || c->symbols, "seq2seq config: symbols is NULL");
    for (int i = 0; i < c->n_symbols; i++) {
        const char *y = c->symbols[i];
        size_t n = y ? strlen(y) : 0;
        CHK(n >= 1 && n < ES_S2S_SYMBOL_MAX, "seq2seq config: symbol %d must have 1..%d bytes", i,
            ES_S2S_SYMBOL_MAX - 1);
        /* output text joins symbols with spaces: a symbol must not contain one */
        for (size_t k = 0; k < n; k++)
            CHK((unsigned char)y[k] > 0x20 && y[k] != 0x7f,
                "seq2seq config: symbol %d (\"%s\") contains a space or control byte", i, y);
        for (int j = 0; j < i; j++)
            CHK(strcmp(c->symbols[j], y) != 0, "seq2seq config: symbol \"%s\" appears twice", y);
    }
    return ES_OK;
}

/* Decoder keys and symbols from a parsed config.json (encoder keys are read
 * by es_byte_config_from_json). *symbuf receives the symbol strings. */
static es_status config_from_obj(es_s2s_config *c, char **symbuf, struct json_object *o,
                                 const char *name, es_error *err) {
    es_s2s_config_default(c);
    *symbuf = NULL;
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (!txt) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
    const char *mt = NULL;
    es_status s = es_config_string(o, "model_type", true, &mt, err);
    if (s) return es_err_prefix(err, "%s", name);
    if (strcmp(mt, "edgeseq-byte-seq2seq") != 0)
        return es_errf(err, ES_ERR_FORMAT, "%s: model_type \"%s\" is not edgeseq-byte-seq2seq",
                       name, mt);
    if ((s = es_byte_config_from_json(&c->enc, txt, strlen(txt), name, err))) return s;
    struct json_object *dec = NULL;
    if (json_object_object_get_ex(o, "decoder", &dec) && dec &&
        json_object_get_type(dec) != json_type_null) {
        if (json_object_get_type(dec) != json_type_object)
            return es_errf(err, ES_ERR_FORMAT, "%s: \"decoder\" must be an object", name);
        struct { const char *k; int *v; int lo, hi; } ints[] = {
            {"d_model", &c->d_model, 1, 1024},
            {"n_layers", &c->n_layers, 1, ES_BYTE_MAX_LAYERS},
            {"n_heads", &c->n_heads, 1, 1024},
            {"d_ff", &c->d_ff, 1, 8192},
            {"max_out", &c->max_out, 2, 4096},
        };
        for (size_t i = 0; i < ES_ARRAY_LEN(ints); i++) {
            int64_t v;
            s = es_config_int(dec, ints[i].k, false, *ints[i].v, ints[i].lo, ints[i].hi, &v, err);
            if (s) return es_err_prefix(err, "%s: decoder", name);
            *ints[i].v = (int)v;
        }
        const char *sa = NULL;
        if ((s = es_config_string(dec, "self_attention", false, &sa, err)))
            return es_err_prefix(err, "%s: decoder", name);
        if (sa && strcmp(sa, "standard") == 0) c->self_attention = ES_S2S_SELF_STANDARD;
        else if (sa && strcmp(sa, "merged") != 0)
            return es_errf(err, ES_ERR_FORMAT, "%s: decoder.self_attention \"%s\" is not "
                           "\"merged\" or \"standard\"", name, sa);
    }
    struct json_object *arr = NULL;
    if (json_object_object_get_ex(o, "symbols", &arr) && arr &&
        json_object_get_type(arr) != json_type_null) {
        size_t n = json_object_get_type(arr) == json_type_array ? json_object_array_length(arr) : 0;
        if (n < 1 || n > ES_S2S_MAX_SYMBOLS)
            return es_errf(err, ES_ERR_FORMAT, "%s: \"symbols\" must be an array of 1..%d strings "
                           "(or null for bytes)", name, ES_S2S_MAX_SYMBOLS);
        char *buf = es_calloc(n, ES_S2S_SYMBOL_MAX);
        if (!buf) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
        for (size_t i = 0; i < n; i++) {
            struct json_object *v = json_object_array_get_idx(arr, i);
            const char *y = json_object_get_type(v) == json_type_string ? json_object_get_string(v) : NULL;
            if (!y || !y[0] || strlen(y) >= ES_S2S_SYMBOL_MAX) {
                es_free(buf);
                return es_errf(err, ES_ERR_FORMAT, "%s: symbols[%zu] must be a string of 1..%d "
                               "bytes", name, i, ES_S2S_SYMBOL_MAX - 1);
            }
            strcpy(buf + i * ES_S2S_SYMBOL_MAX, y);
        }
        c->n_symbols = (int)n;
        *symbuf = buf;
    }
    return ES_OK;
}

es_status es_s2s_config_to_json(const es_s2s_model *m, char **out, es_error *err) {
    *out = NULL;
    char *etxt = NULL;
    es_status s = es_byte_config_to_json(&m->cfg.enc, &etxt, err);
    if (s) return s;
    struct json_object *o = json_tokener_parse(etxt);
    es_free(etxt);
    if (!o) return es_errf(err, ES_ERR_NOMEM, "config json: out of memory");
    json_object_object_add(o, "model_type", json_object_new_string("edgeseq-byte-seq2seq"));
    json_object_object_del(o, "labels");
    struct json_object *dec = json_object_new_object();
    json_object_object_add(dec, "d_model", json_object_new_int(m->cfg.d_model));
    json_object_object_add(dec, "n_layers", json_object_new_int(m->cfg.n_layers));
    json_object_object_add(dec, "n_heads", json_object_new_int(m->cfg.n_heads));
    json_object_object_add(dec, "d_ff", json_object_new_int(m->cfg.d_ff));
    json_object_object_add(dec, "max_out", json_object_new_int(m->cfg.max_out));
    json_object_object_add(dec, "self_attention",
                           json_object_new_string(m->cfg.self_attention == ES_S2S_SELF_STANDARD
                                                      ? "standard" : "merged"));
    json_object_object_add(o, "decoder", dec);
    if (m->cfg.n_symbols) {
        struct json_object *a = json_object_new_array();
        for (int i = 0; i < m->cfg.n_symbols; i++)
            json_object_array_add(a, json_object_new_string(m->symv[i]));
        json_object_object_add(o, "symbols", a);
    } else {
        json_object_object_add(o, "symbols", NULL);
    }
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_SPACED);
    *out = txt ? es_strdup(txt) : NULL;
    json_object_put(o);
    if (!*out) return es_errf(err, ES_ERR_NOMEM, "config json: out of memory");
    return ES_OK;
}

/* ---- parameters ---------------------------------------------------------------- */

static es_status add(es_s2s_model *m, int *idx, const char *name, int ndim, int64_t d0, int64_t d1,
                     es_param_init init, float scale, int decay, es_error *err) {
    int64_t shape[2] = {d0, d1};
    return es_params_add(&m->ps, idx, name, ndim, shape, init, scale, ndim == 2 ? (int)d1 : 0,
                         ndim == 2 ? (int)d0 : 0, decay, err);
}

static es_status register_params(es_s2s_model *m, es_error *err) {
    const es_s2s_config *c = &m->cfg;
    const int D = c->d_model, F = c->d_ff, De = m->enc->d_enc, V = m->V;
    es_status s;
    /* N(0, 1/D): tied logits h·Tokᵀ of a unit-variance h start O(1) */
    if ((s = add(m, &m->tok, "dec.embed.weight", 2, V, D, ES_INIT_NORMAL,
                 1.0f / sqrtf((float)D), 1, err)) ||
        (s = add(m, &m->pos, "dec.pos.weight", 2, c->max_out, D, ES_INIT_NORMAL, 0.1f, 1, err)))
        return s;
    for (int l = 0; l < c->n_layers; l++) {
        s2s_layer *L = &m->L[l];
        char nm[ES_PARAM_NAME_MAX];
#define P(field, suffix, nd, a, b, init, sc, dec)                                             \
    do {                                                                                      \
        snprintf(nm, sizeof nm, "dec.layers.%d.%s", l, suffix);                               \
        if ((s = add(m, &L->field, nm, nd, a, b, init, sc, dec, err))) return s;              \
    } while (0)
        P(ln1_g, "ln1.weight", 1, D, 0, ES_INIT_ONE, 0, 0);
        P(ln1_b, "ln1.bias", 1, D, 0, ES_INIT_ZERO, 0, 0);
        if (c->self_attention == ES_S2S_SELF_STANDARD) {
            P(sq, "self_attn.q.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
            P(sk, "self_attn.k.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
            P(sv, "self_attn.v.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
            P(so, "self_attn.o.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
            P(lnc_g, "ln_cross.weight", 1, D, 0, ES_INIT_ONE, 0, 0);
            P(lnc_b, "ln_cross.bias", 1, D, 0, ES_INIT_ZERO, 0, 0);
            P(cq, "cross_attn.q.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
            P(ck, "cross_attn.k.weight", 2, D, De, ES_INIT_GLOROT, 1.0f, 1);
            P(cv, "cross_attn.v.weight", 2, D, De, ES_INIT_GLOROT, 1.0f, 1);
            P(co, "cross_attn.o.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
        } else {
            P(wq, "matt.q.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
            P(wk, "matt.k.weight", 2, D, De, ES_INIT_GLOROT, 1.0f, 1);
            P(wv, "matt.v.weight", 2, D, De, ES_INIT_GLOROT, 1.0f, 1);
            P(wu, "matt.u.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
            P(wo, "matt.o.weight", 2, D, D, ES_INIT_GLOROT, 1.0f, 1);
        }
        P(ln2_g, "ln2.weight", 1, D, 0, ES_INIT_ONE, 0, 0);
        P(ln2_b, "ln2.bias", 1, D, 0, ES_INIT_ZERO, 0, 0);
        P(f1_w, "ffn.fc1.weight", 2, F, D, ES_INIT_GLOROT, 1.0f, 1);
        P(f1_b, "ffn.fc1.bias", 1, F, 0, ES_INIT_ZERO, 0, 0);
        P(f2_w, "ffn.fc2.weight", 2, D, F, ES_INIT_GLOROT, 1.0f, 1);
        P(f2_b, "ffn.fc2.bias", 1, D, 0, ES_INIT_ZERO, 0, 0);
#undef P
    }
    if ((s = add(m, &m->lnf_g, "dec.ln_f.weight", 1, D, 0, ES_INIT_ONE, 0, 0, err)) ||
        (s = add(m, &m->lnf_b, "dec.ln_f.bias", 1, D, 0, ES_INIT_ZERO, 0, 0, err)) ||
        (s = add(m, &m->out_b, "dec.out.bias", 1, V, 0, ES_INIT_ZERO, 0, 0, err)))
        return s;
    /* QAT state (src/quant/s2s_qat.h), last so float models keep their layout */
    if (m->cfg.enc.qat.enabled) return es_s2s_qat_register(&m->ps, c->n_layers, err);
    return ES_OK;
}

/* Takes ownership of symbuf (the symbol strings, ES_S2S_SYMBOL_MAX bytes
 * each, when they came from JSON; NULL to copy cfg->symbols) and of enc
 * (NULL: a new encoder is created from cfg->enc with seed). */
static es_status model_build(es_s2s_model **out, const es_s2s_config *cfg, char *symbuf,
                             es_byte_model *enc, uint64_t seed, es_error *err) {
    *out = NULL;
    es_s2s_model *m = es_calloc(1, sizeof *m);
    if (!m) {
        es_free(symbuf);
        es_byte_model_free(enc);
        return es_errf(err, ES_ERR_NOMEM, "seq2seq model: out of memory");
    }
    m->cfg = *cfg;
    m->cfg.symbols = NULL;
    m->enc = enc;
    m->symbuf = symbuf;
    es_status s = ES_OK;
    const int ns = cfg->n_symbols;
    if (ns > 0 && ns <= ES_S2S_MAX_SYMBOLS) {
        if (!m->symbuf) {
            if (!cfg->symbols) s = es_errf(err, ES_ERR_ARG, "seq2seq config: symbols is NULL");
            for (int i = 0; !s && i < ns; i++) {
                size_t n = cfg->symbols[i] ? strlen(cfg->symbols[i]) : 0;
                if (n < 1 || n >= ES_S2S_SYMBOL_MAX)
                    s = es_errf(err, ES_ERR_ARG, "seq2seq config: symbol %d must have 1..%d bytes",
                                i, ES_S2S_SYMBOL_MAX - 1);
            }
            if (!s && !(m->symbuf = es_calloc((size_t)ns, ES_S2S_SYMBOL_MAX)))
                s = es_errf(err, ES_ERR_NOMEM, "seq2seq model: out of memory");
            for (int i = 0; !s && i < ns; i++)
                strcpy(m->symbuf + (size_t)i * ES_S2S_SYMBOL_MAX, cfg->symbols[i]);
        }
        if (!s && !(m->symv = es_calloc((size_t)ns, sizeof *m->symv)))
            s = es_errf(err, ES_ERR_NOMEM, "seq2seq model: out of memory");
        for (int i = 0; !s && i < ns; i++) m->symv[i] = m->symbuf + (size_t)i * ES_S2S_SYMBOL_MAX;
        if (!s) m->cfg.symbols = m->symv;
    }
    if (!s) s = config_check(&m->cfg, err);
    m->V = ES_S2S_N_SPECIAL + (ns ? ns : 256);
    if (!s && !m->enc) s = es_byte_model_new(&m->enc, &m->cfg.enc, seed, err);
    if (!s) s = register_params(m, err);
    if (!s) s = es_params_alloc(&m->ps, 0, err);
    if (s) {
        es_s2s_model_free(m);
        return s;
    }
    es_rng rng;
    /* the decoder's stream differs from the encoder's (seed + 1) */
    es_rng_seed(&rng, seed + 1);
    es_params_init(&m->ps, &rng);
    *out = m;
    return ES_OK;
}

es_status es_s2s_model_new(es_s2s_model **out, const es_s2s_config *cfg, uint64_t seed,
                           es_error *err) {
    return model_build(out, cfg, NULL, NULL, seed, err);
}

void es_s2s_model_free(es_s2s_model *m) {
    if (!m) return;
    if (m->enc) {
        es_qweights_free(m->enc->q8);
        m->enc->q8 = NULL;
    }
    es_qweights_free(m->q8);
    es_byte_model_free(m->enc);
    es_params_free(&m->ps);
    es_free(m->symv);
    es_free(m->symbuf);
    es_free(m);
}

es_status es_s2s_model_from_json(es_s2s_model **out, const char *json, size_t len,
                                 const char *name, uint64_t seed, es_error *err) {
    *out = NULL;
    struct json_tokener *tk = json_tokener_new();
    if (!tk) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
    struct json_object *o = len <= (size_t)INT32_MAX ? json_tokener_parse_ex(tk, json, (int)len) : NULL;
    int ok = o && json_tokener_get_error(tk) == json_tokener_success &&
             json_object_get_type(o) == json_type_object;
    json_tokener_free(tk);
    if (!ok) {
        json_object_put(o);
        return es_errf(err, ES_ERR_FORMAT, "%s: not a JSON object", name);
    }
    es_s2s_config c;
    char *symbuf = NULL;
    es_status s = config_from_obj(&c, &symbuf, o, name, err);
    json_object_put(o);
    if (s) return s;
    s = model_build(out, &c, symbuf, NULL, seed, err);
    if (s && s != ES_ERR_NOMEM) {
        es_err_prefix(err, "%s", name);
        if (err) err->code = ES_ERR_FORMAT;
        s = ES_ERR_FORMAT;
    }
    return s;
}

const es_s2s_config *es_s2s_model_config(const es_s2s_model *m) { return &m->cfg; }
int es_s2s_model_vocab(const es_s2s_model *m) { return m->V; }
es_params *es_s2s_model_enc_params(es_s2s_model *m) { return es_byte_model_params(m->enc); }
es_params *es_s2s_model_dec_params(es_s2s_model *m) { return &m->ps; }
size_t es_s2s_model_n_params(const es_s2s_model *m) {
    return es_byte_model_n_params(m->enc) + m->ps.total;
}
es_status es_s2s_model_enable_grad(es_s2s_model *m, es_error *err) {
    if (m->int8_only)
        return es_errf(err, ES_ERR_ARG, "seq2seq: an int8-only (inference) model cannot be trained");
    es_status s = es_byte_model_enable_grad(m->enc, err);
    return s ? s : es_params_alloc(&m->ps, 1, err);
}

/* ---- folders -------------------------------------------------------------------- */

es_status es_s2s_model_save_dir(const es_s2s_model *m, const char *dir, es_error *err) {
    if (m->int8_only)
        return es_errf(err, ES_ERR_ARG, "save: an int8-only (inference) model has no float weights");
    if (mkdir(dir, 0777) != 0 && !es_is_dir(dir))
        return es_errf(err, ES_ERR_IO, "%s: cannot create folder", dir);
    char path[4096];
    char *json = NULL;
    es_status s = es_s2s_config_to_json(m, &json, err);
    if (s) return s;
    if (!(s = es_path_join(path, sizeof path, dir, "config.json", err)))
        s = es_atomic_write_file(path, json, strlen(json), err);
    es_free(json);
    if (s) return s;
    const es_params *pe = &m->enc->ps, *pd = &m->ps;
    size_t n = (size_t)pe->n + (size_t)pd->n;
    es_st_write_tensor *t = es_calloc(n, sizeof *t);
    if (!t) return es_errf(err, ES_ERR_NOMEM, "save: out of memory");
    for (size_t i = 0; i < n; i++) {
        const es_params *ps = i < (size_t)pe->n ? pe : pd;
        const es_param *p = &ps->p[i < (size_t)pe->n ? i : i - (size_t)pe->n];
        t[i].name = p->name;
        t[i].dtype = ES_DTYPE_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = ps->data + p->offset;
    }
    const char *meta[] = {"edgeseq_format", "1", "format", "pt"};
    if (!(s = es_path_join(path, sizeof path, dir, "model.safetensors", err)))
        s = es_safetensors_write(path, t, n, meta, 2, err);
    es_free(t);
    return s;
}

/* Encoder matrices read only by the transformer's integer GEMMs (with
 * encoder activation points): the tf.<l> projections and FFN. */
static int enc_int8_matrix(const es_params *ps, int i) {
    return ps->p[i].ndim >= 2 && strncmp(ps->p[i].name, "tf.", 3) == 0;
}

/* Decoder matrices read only by integer GEMMs: all but the lookup tables
 * (dec.embed is also the tied output projection, an integer GEMM, but its
 * rows are looked up in float for the decoder input). */
static int dec_int8_matrix(const es_params *ps, int i) {
    return es_s2s_qat_is_weight(ps, i) && strcmp(ps->p[i].name, "dec.embed.weight") != 0 &&
           strcmp(ps->p[i].name, "dec.pos.weight") != 0;
}

static int enc_has_tf_points(const es_s2s_model *m) {
    return es_params_find(&m->enc->ps, "qat.enc_act_range") >= 0;
}

/* int8 codes of an int8 export, once per model (workspaces borrow them). */
static es_status int8_stores(es_s2s_model *m, es_error *err) {
    int pc = m->cfg.enc.qat.per_channel;
    es_status s = es_qweights_new(&m->q8, &m->ps, es_s2s_qat_is_weight, pc, err);
    if (!s && enc_has_tf_points(m))
        s = es_qweights_new(&m->enc->q8, &m->enc->ps, enc_int8_matrix, pc, err);
    return s;
}

es_status es_s2s_model_int8_only(es_s2s_model *m, size_t *freed, es_error *err) {
    *freed = 0;
    if (!m->q8) return ES_OK;
    size_t a = 0, b = 0;
    es_status s = es_params_drop_floats(&m->ps, dec_int8_matrix, &a, err);
    if (!s && m->enc->q8) s = es_params_drop_floats(&m->enc->ps, enc_int8_matrix, &b, err);
    if (a || b) m->int8_only = 1;
    *freed = a + b;
    return s;
}

int es_s2s_model_is_int8_only(const es_s2s_model *m) { return m->int8_only; }

es_status es_s2s_model_from_weights(es_s2s_model **out, const char *dir,
                                    struct json_object *cfgobj, es_weights *w, es_error *err) {
    *out = NULL;
    es_s2s_config c;
    char *symbuf = NULL;
    char name[4200];
    snprintf(name, sizeof name, "%s/config.json", dir);
    es_status s = config_from_obj(&c, &symbuf, cfgobj, name, err);
    if (s) return s;
    es_byte_model *enc = NULL;
    s = es_byte_model_from_weights(&enc, dir, cfgobj, w, err);
    if (s) {
        es_free(symbuf);
        return s;
    }
    es_s2s_model *m = NULL;
    s = model_build(&m, &c, symbuf, enc, 0, err);
    if (s && s != ES_ERR_NOMEM) {
        es_err_prefix(err, "%s", name);
        if (err) err->code = ES_ERR_FORMAT;
        s = ES_ERR_FORMAT;
    }
    if (s) return s;
    for (int i = 0; i < m->ps.n && !s; i++)
        /* F32 (or F16/BF16), or I8 codes + scales of an int8 export; the
         * weight set's messages name the file and the tensor */
        s = es_s2s_qat_load_tensor(&m->ps, i, w, err);
    if (!s && c.enc.qat.int8) s = int8_stores(m, err);
    if (s) {
        es_s2s_model_free(m);
        return s;
    }
    *out = m;
    return ES_OK;
}

es_status es_s2s_model_load_dir(es_s2s_model **out, const char *dir, es_error *err) {
    *out = NULL;
    char path[4096];
    es_status s = es_path_join(path, sizeof path, dir, "config.json", err);
    if (s) return s;
    void *buf = NULL;
    size_t len = 0;
    if ((s = es_read_file(path, &buf, &len, 16u << 20, err))) return s;
    struct json_object *o = json_tokener_parse((const char *)buf);
    es_free(buf);
    if (!o || json_object_get_type(o) != json_type_object) {
        json_object_put(o);
        return es_errf(err, ES_ERR_FORMAT, "%s: not a JSON object", path);
    }
    es_weights *w = NULL;
    const char *which = NULL;
    s = es_weights_open_dir(&w, dir, &which, err);
    if (!s) s = es_s2s_model_from_weights(out, dir, o, w, err);
    es_weights_free(w);
    json_object_put(o);
    return s;
}

es_status es_s2s_ids_to_text(const es_s2s_model *m, const int32_t *ids, size_t n, char *out,
                             size_t cap, size_t *len_out, es_error *err) {
    size_t len = 0;
    int first = 1;
    char tmp[32];
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id == ES_S2S_START || id == ES_S2S_EOS) continue;
        const char *piece;
        size_t pl;
        unsigned char byte;
        if (id >= ES_S2S_N_SPECIAL && id < m->V && !m->cfg.n_symbols) {
            byte = (unsigned char)(id - ES_S2S_N_SPECIAL);
            piece = (const char *)&byte;
            pl = 1;
        } else if (id >= ES_S2S_N_SPECIAL && id < m->V) {
            piece = m->symv[id - ES_S2S_N_SPECIAL];
            pl = strlen(piece);
        } else {
            snprintf(tmp, sizeof tmp, "<id_%d>", (int)id);
            piece = tmp;
            pl = strlen(tmp);
        }
        if (m->cfg.n_symbols && !first) {
            if (len + 1 < cap) out[len] = ' ';
            len++;
        }
        first = 0;
        if (len + pl < cap) memcpy(out + len, piece, pl);
        len += pl;
    }
    *len_out = len;
    if (len + 1 > cap) return es_errf(err, ES_ERR_BUFFER, "output text: %zu bytes needed", len + 1);
    out[len] = 0;
    return ES_OK;
}

/* ---- workspace ------------------------------------------------------------------------ */

typedef struct s2s_act {
    float *a1, *mean1, *rstd1;  /* (N, D), (N), (N) LN1 output and statistics */
    es_matt_cache mc;
    float *x1;                  /* (N, D) after the attention residual */
    float *a2, *mean2, *rstd2;  /* LN2 */
    float *ffh, *ffa;           /* (N, F) */
} s2s_act;

struct es_s2s_ws {
    const es_s2s_model *m;
    es_pool *pool;
    int max_batch, max_rows, training;
    es_byte_ws *ew;             /* encoder workspace (max_batch inputs) */
    int Tcap, Scap;             /* decoder positions, encoder positions */
    size_t rows_e_cap;
    /* teacher forcing (current batch) */
    int B, T, trained;
    int *len;                   /* (max_batch) */
    int32_t *in_ids, *pos_ids, *tgt; /* (max_batch·Tcap) */
    float *xs[ES_BYTE_MAX_LAYERS + 1]; /* (N, D) input of layer l; xs[n_layers] = last output */
    s2s_act act[ES_BYTE_MAX_LAYERS];
    float *tmp;                 /* (N, D) */
    float *hf, *meanf, *rstdf;  /* final LN */
    float *logits, *dlogits;    /* (N, V) */
    /* backward scratch */
    float *dA, *dB, *dff, *denc;
    es_matt_scratch ms;
    /* step-wise decoding */
    int primed, Le;
    float *sx, *sa, *sm, *sh, *sffh, *sffa, *slog; /* (rows, ·) */
    float *R, *Rtmp;            /* (n_layers, rows, D), (rows, D) */
    float *K, *Vv;              /* (n_layers, Scap, D) */
    float *mscr;                /* es_matt_step scratch */
    es_s2s_std_ws *std;         /* standard decoder layers (self_attention "standard"), else NULL */
    es_s2s_qat *qat;            /* QAT / int8 decoder state (src/quant/s2s_qat.h), NULL when off */
};

static void ws_free_bufs(es_s2s_ws *ws) {
    float **fl[] = {&ws->tmp, &ws->hf, &ws->meanf, &ws->rstdf, &ws->logits, &ws->dlogits,
                    &ws->dA, &ws->dB, &ws->dff, &ws->denc, &ws->ms.dz, &ws->ms.dvu, &ws->ms.dq,
                    &ws->ms.dk, &ws->ms.dv, &ws->ms.dp, &ws->sx, &ws->sa, &ws->sm, &ws->sh,
                    &ws->sffh, &ws->sffa, &ws->slog, &ws->R, &ws->Rtmp, &ws->K, &ws->Vv,
                    &ws->mscr};
    for (size_t i = 0; i < ES_ARRAY_LEN(fl); i++) es_free_aligned(*fl[i]);
    for (int l = 0; l <= ES_BYTE_MAX_LAYERS; l++) es_free_aligned(ws->xs[l]);
    for (int l = 0; l < ES_BYTE_MAX_LAYERS; l++) {
        s2s_act *a = &ws->act[l];
        float *al[] = {a->a1, a->mean1, a->rstd1, a->mc.q, a->mc.k, a->mc.v, a->mc.p, a->mc.vu,
                       a->mc.z, a->x1, a->a2, a->mean2, a->rstd2, a->ffh, a->ffa};
        for (size_t i = 0; i < ES_ARRAY_LEN(al); i++) es_free_aligned(al[i]);
    }
}

void es_s2s_ws_free(es_s2s_ws *ws) {
    if (!ws) return;
    ws_free_bufs(ws);
    es_s2s_std_ws_free(ws->std);
    es_s2s_qat_free(ws->qat);
    es_byte_ws_free(ws->ew);
    es_free(ws->len);
    es_free(ws->in_ids);
    es_free(ws->pos_ids);
    es_free(ws->tgt);
    es_free(ws);
}

static float *zalloc(size_t n, bool *ok) {
    size_t bytes;
    if (!es_mul_ok(n ? n : 1, sizeof(float), &bytes)) {
        *ok = false;
        return NULL;
    }
    float *p = es_malloc_aligned(bytes);
    if (!p) *ok = false;
    else memset(p, 0, bytes);
    return p;
}

es_status es_s2s_ws_new(es_s2s_ws **out, const es_s2s_model *m, int max_batch, int max_rows,
                        int training, es_pool *pool, es_error *err) {
    *out = NULL;
    const es_s2s_config *c = &m->cfg;
    if (max_batch < 1 || max_rows < 1 || max_batch > 65536 || max_rows > 65536)
        return es_errf(err, ES_ERR_ARG, "seq2seq workspace: batch %d / rows %d", max_batch, max_rows);
    es_s2s_ws *ws = es_calloc(1, sizeof *ws);
    if (!ws) return es_errf(err, ES_ERR_NOMEM, "seq2seq workspace: out of memory");
    ws->m = m;
    ws->pool = pool;
    ws->max_batch = max_batch;
    ws->max_rows = max_rows;
    ws->training = training;
    es_status s = es_byte_ws_new(&ws->ew, m->enc, max_batch, c->enc.max_bytes, training, pool, err);
    if (s) {
        es_s2s_ws_free(ws);
        return s;
    }
    const es_byte_ws *ew = ws->ew;
    ws->Tcap = c->max_out;
    ws->Scap = ew->T1cap;
    ws->rows_e_cap = (size_t)max_batch * (size_t)(ew->T1cap + 2 * ew->m1);
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)m->V,
                 H = (size_t)c->n_heads, De = (size_t)m->enc->d_enc;
    const size_t N = (size_t)max_batch * (size_t)ws->Tcap, RE = ws->rows_e_cap;
    const size_t R = (size_t)max_rows, S = (size_t)ws->Scap, NL = (size_t)c->n_layers;
    bool ok = true;
    ws->len = es_calloc((size_t)max_batch, sizeof(int));
    ws->in_ids = es_calloc(N, sizeof(int32_t));
    ws->pos_ids = es_calloc(N, sizeof(int32_t));
    ws->tgt = es_calloc(N, sizeof(int32_t));
    if (!ws->len || !ws->in_ids || !ws->pos_ids || !ws->tgt) ok = false;
    for (size_t l = 0; l <= NL; l++) ws->xs[l] = zalloc(N * D, &ok);
    for (size_t l = 0; l < NL; l++) {
        s2s_act *a = &ws->act[l];
        a->a1 = zalloc(N * D, &ok);
        a->mean1 = zalloc(N, &ok);
        a->rstd1 = zalloc(N, &ok);
        a->mc.q = zalloc(N * D, &ok);
        a->mc.k = zalloc(RE * D, &ok);
        a->mc.v = zalloc(RE * D, &ok);
        a->mc.p = zalloc((size_t)max_batch * H * (size_t)ws->Tcap * S, &ok);
        a->mc.vu = zalloc(N * D, &ok);
        a->mc.z = zalloc(N * D, &ok);
        a->x1 = zalloc(N * D, &ok);
        a->a2 = zalloc(N * D, &ok);
        a->mean2 = zalloc(N, &ok);
        a->rstd2 = zalloc(N, &ok);
        a->ffh = zalloc(N * F, &ok);
        a->ffa = zalloc(N * F, &ok);
    }
    ws->tmp = zalloc(N * D, &ok);
    ws->hf = zalloc(N * D, &ok);
    ws->meanf = zalloc(N, &ok);
    ws->rstdf = zalloc(N, &ok);
    ws->logits = zalloc(N * V, &ok);
    if (training) {
        ws->dlogits = zalloc(N * V, &ok);
        ws->dA = zalloc(N * D, &ok);
        ws->dB = zalloc(N * D, &ok);
        ws->dff = zalloc(N * F, &ok);
        ws->denc = zalloc(RE * De, &ok);
        ws->ms.dz = zalloc(N * D, &ok);
        ws->ms.dvu = zalloc(N * D, &ok);
        ws->ms.dq = zalloc(N * D, &ok);
        ws->ms.dk = zalloc(RE * D, &ok);
        ws->ms.dv = zalloc(RE * D, &ok);
        ws->ms.dp = zalloc((size_t)max_batch * S, &ok);
    }
    ws->sx = zalloc(R * D, &ok);
    ws->sa = zalloc(R * D, &ok);
    ws->sm = zalloc(R * D, &ok);
    ws->sh = zalloc(R * D + 2 * R, &ok); /* also LN statistics of a step (2·rows) */
    ws->sffh = zalloc(R * F, &ok);
    ws->sffa = zalloc(R * F, &ok);
    ws->slog = zalloc(R * V, &ok);
    ws->R = zalloc(NL * R * D, &ok);
    ws->Rtmp = zalloc(R * D, &ok);
    ws->K = zalloc(NL * S * D, &ok);
    ws->Vv = zalloc(NL * S * D, &ok);
    ws->mscr = zalloc(3 * R * D + H * S, &ok);
    if (!ok) {
        es_s2s_ws_free(ws);
        return es_errf(err, ES_ERR_NOMEM, "seq2seq workspace: out of memory (batch %d, rows %d)",
                       max_batch, max_rows);
    }
    if (c->self_attention == ES_S2S_SELF_STANDARD) {
        es_s2s_std_dims sd = {c->n_layers, c->d_model, c->d_ff, c->n_heads, m->enc->d_enc,
                              max_batch, ws->Tcap, ws->Scap, RE, max_rows, training};
        if ((s = es_s2s_std_ws_new(&ws->std, &sd, err))) {
            es_s2s_ws_free(ws);
            return s;
        }
    }
    if (c->enc.qat.enabled) { /* merged decoder only (src/quant/s2s_qat.h) */
        es_s2s_qat_dims qd = {c->n_layers, c->d_model, m->enc->d_enc, c->d_ff, m->V,
                              ES_MAX(N, R), ES_MAX(RE, S), training, m->q8};
        if (ws->std)
            s = es_errf(err, ES_ERR_UNSUPPORTED, "seq2seq: \"qat\" is implemented for the "
                        "merged decoder only (decoder.self_attention \"standard\")");
        else
            s = es_s2s_qat_new(&ws->qat, &m->ps, &c->enc.qat, &qd, err);
        if (s) {
            es_s2s_ws_free(ws);
            return s;
        }
    }
    *out = ws;
    return ES_OK;
}

/* ---- teacher-forced forward / backward -------------------------------------------------- */

/* Zeroes rows t >= len[b] of x ((B, T) rows of D floats). */
static void zero_pads(float *x, int B, int T, const int *len, int D) {
    for (int b = 0; b < B; b++)
        if (len[b] < T)
            memset(x + ((size_t)b * T + (size_t)len[b]) * (size_t)D, 0,
                   (size_t)(T - len[b]) * (size_t)D * sizeof(float));
}

/* Registry indices of layer l's merged attention {q, k, v, u, o} and FFN
 * {fc1.w, fc1.b, fc2.w, fc2.b} (the QAT sublayers take them). */
typedef struct s2s_idx { int matt[5], ffn[4]; } s2s_idx;
static s2s_idx layer_idx(const s2s_layer *L) {
    s2s_idx x = {{L->wq, L->wk, L->wv, L->wu, L->wo}, {L->f1_w, L->f1_b, L->f2_w, L->f2_b}};
    return x;
}

static es_matt_w matt_w(const es_s2s_model *m, int l) {
    const es_params *ps = &m->ps;
    const s2s_layer *L = &m->L[l];
    es_matt_w w = {es_params_data(ps, L->wq), es_params_data(ps, L->wk), es_params_data(ps, L->wv),
                   es_params_data(ps, L->wu), es_params_data(ps, L->wo)};
    return w;
}

/* Layer l of a standard decoder: weights and gradients. */
static es_s2s_std_lw std_lw(const es_s2s_model *m, int l) {
    const es_params *ps = &m->ps;
    const s2s_layer *L = &m->L[l];
#define W(i) es_params_data(ps, L->i)
    es_s2s_std_lw w = {W(ln1_g), W(ln1_b), {W(sq), W(sk), W(sv), W(so)}, W(lnc_g), W(lnc_b),
                       {W(cq), W(ck), W(cv), W(co)}, W(ln2_g), W(ln2_b), W(f1_w), W(f1_b),
                       W(f2_w), W(f2_b)};
#undef W
    return w;
}

static es_s2s_std_lg std_lg(es_s2s_model *m, int l) {
    es_params *ps = &m->ps;
    const s2s_layer *L = &m->L[l];
#define G(i) es_params_grad(ps, L->i)
    es_s2s_std_lg g = {G(ln1_g), G(ln1_b), {G(sq), G(sk), G(sv), G(so)}, G(lnc_g), G(lnc_b),
                       {G(cq), G(ck), G(cv), G(co)}, G(ln2_g), G(ln2_b), G(f1_w), G(f1_b),
                       G(f2_w), G(f2_b)};
#undef G
    return g;
}

es_status es_s2s_forward(es_s2s_ws *ws, const es_s2s_model *m, const uint8_t *const *src,
                         const size_t *src_lens, const int32_t *const *tgt,
                         const size_t *tgt_lens, int B, int train, es_rng *rng, es_error *err) {
    const es_s2s_config *c = &m->cfg;
    if (ws->m != m) return es_errf(err, ES_ERR_ARG, "seq2seq forward: workspace of another model");
    if (B < 1 || B > ws->max_batch)
        return es_errf(err, ES_ERR_ARG, "seq2seq forward: batch %d (workspace holds %d)", B,
                       ws->max_batch);
    if (train && (!ws->training || !rng))
        return es_errf(err, ES_ERR_ARG, "seq2seq forward: training needs a training workspace and an RNG");
    const int nsym = m->V - ES_S2S_N_SPECIAL;
    int T = 1;
    for (int b = 0; b < B; b++) {
        if (tgt_lens[b] > (size_t)c->max_out - 1)
            return es_errf(err, ES_ERR_ARG, "seq2seq forward: target %d has %zu symbols; the "
                           "decoder holds %d (max_out - 1)", b, tgt_lens[b], c->max_out - 1);
        if (tgt_lens[b] && !tgt[b])
            return es_errf(err, ES_ERR_ARG, "seq2seq forward: target %d is NULL", b);
        for (size_t t = 0; t < tgt_lens[b]; t++)
            if (tgt[b][t] < 0 || tgt[b][t] >= nsym)
                return es_errf(err, ES_ERR_ARG, "seq2seq forward: target %d position %zu: symbol "
                               "%d is out of range [0, %d)", b, t, (int)tgt[b][t], nsym);
        ws->len[b] = (int)tgt_lens[b] + 1;
        T = ES_MAX(T, ws->len[b]);
    }
    es_status s = es_byte_encode(ws->ew, m->enc, src, src_lens, B, train, rng, err);
    if (s) return s;
    ws->B = B;
    ws->T = T;
    ws->trained = train;
    ws->primed = 0; /* the encoder workspace now holds this batch */
    const int D = c->d_model, F = c->d_ff, V = m->V, N = B * T;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)b * T + (size_t)t;
            int valid = t < ws->len[b];
            ws->in_ids[r] = !valid ? -1 : t == 0 ? ES_S2S_START : ES_S2S_N_SPECIAL + tgt[b][t - 1];
            ws->tgt[r] = !valid ? -1 : t + 1 < ws->len[b] ? ES_S2S_N_SPECIAL + tgt[b][t] : ES_S2S_EOS;
            ws->pos_ids[r] = valid ? t : -1;
        }
    es_pool *pool = ws->pool;
    es_s2s_qat *qat = ws->qat; /* fake-quant / int8 decoder (src/quant/s2s_qat.h) */
    const es_params *ps =
        qat ? es_s2s_qat_enter(qat, (es_params *)(uintptr_t)&m->ps, train) : &m->ps;
    const float sq = sqrtf((float)D);
    float *x = ws->xs[0];
    es_embedding_forward(x, es_params_data(ps, m->tok), ws->in_ids, (size_t)N, D);
    es_embedding_forward(ws->tmp, es_params_data(ps, m->pos), ws->pos_ids, (size_t)N, D);
    for (size_t i = 0; i < (size_t)N * (size_t)D; i++) x[i] = x[i] * sq + ws->tmp[i];
    const es_seq *se = ws->ew->s_enc;
    const float *enc = ws->ew->enc;
    es_matt_shape sh = {B, T, ws->len, se, D, m->enc->d_enc, c->n_heads};
    if (qat) es_s2s_qat_act(qat, ES_S2SQ_ENC, enc, es_seq_rows(se) * (size_t)m->enc->d_enc, train);
    for (int l = 0; l < c->n_layers; l++) {
        if (ws->std) {
            es_s2s_std_lw lw = std_lw(m, l);
            es_s2s_std_layer_forward(ws->std, l, pool, ws->xs[l + 1], ws->xs[l], enc, &lw, B, T,
                                     ws->len, se);
            continue;
        }
        const s2s_layer *L = &m->L[l];
        s2s_act *a = &ws->act[l];
        const float *xin = ws->xs[l];
        float *xo = ws->xs[l + 1];
        es_layernorm_forward(pool, a->a1, a->mean1, a->rstd1, xin, es_params_data(ps, L->ln1_g),
                             es_params_data(ps, L->ln1_b), N, D, ES_LAYERNORM_EPS);
        zero_pads(a->a1, B, T, ws->len, D);
        es_matt_w w = matt_w(m, l);
        if (qat)
            es_s2s_qat_matt_forward(qat, pool, l, layer_idx(L).matt, ws->tmp, &a->mc, a->a1, enc, &sh, train);
        else
            es_matt_forward(pool, ws->tmp, &a->mc, a->a1, enc, &w, &sh);
        for (size_t i = 0; i < (size_t)N * (size_t)D; i++) a->x1[i] = xin[i] + ws->tmp[i];
        es_layernorm_forward(pool, a->a2, a->mean2, a->rstd2, a->x1, es_params_data(ps, L->ln2_g),
                             es_params_data(ps, L->ln2_b), N, D, ES_LAYERNORM_EPS);
        zero_pads(a->a2, B, T, ws->len, D);
        if (qat)
            es_s2s_qat_ffn_forward(qat, pool, l, layer_idx(L).ffn, ws->tmp, a->ffh, a->ffa, a->a2, N, D,
                                   F, train);
        else
            es_ffn_forward(pool, ws->tmp, a->ffh, a->ffa, a->a2, es_params_data(ps, L->f1_w),
                           es_params_data(ps, L->f1_b), es_params_data(ps, L->f2_w),
                           es_params_data(ps, L->f2_b), N, D, F);
        zero_pads(ws->tmp, B, T, ws->len, D);
        for (size_t i = 0; i < (size_t)N * (size_t)D; i++) xo[i] = a->x1[i] + ws->tmp[i];
    }
    es_layernorm_forward(pool, ws->hf, ws->meanf, ws->rstdf, ws->xs[c->n_layers],
                         es_params_data(ps, m->lnf_g), es_params_data(ps, m->lnf_b), N, D,
                         ES_LAYERNORM_EPS);
    zero_pads(ws->hf, B, T, ws->len, D);
    if (qat) {
        es_s2s_qat_act(qat, ES_S2SQ_HF, ws->hf, (size_t)N * (size_t)D, train);
        es_s2s_qat_linear(qat, pool, ES_S2SQ_HF, m->tok, ws->logits, ws->hf,
                          es_params_data(ps, m->out_b), N, D, V);
    } else {
        es_linear_forward(pool, ws->logits, ws->hf, es_params_data(ps, m->tok),
                          es_params_data(ps, m->out_b), N, D, V);
    }
    zero_pads(ws->logits, B, T, ws->len, V);
    return ES_OK;
}

const float *es_s2s_logits(const es_s2s_ws *ws, int *n_rows, const int32_t **targets) {
    if (n_rows) *n_rows = ws->B * ws->T;
    if (targets) *targets = ws->tgt;
    return ws->logits;
}

float *es_s2s_dlogits(es_s2s_ws *ws) { return ws->dlogits; }

es_status es_s2s_backward(es_s2s_ws *ws, es_s2s_model *m, es_error *err) {
    const es_s2s_config *c = &m->cfg;
    if (!ws->trained) return es_errf(err, ES_ERR_ARG, "seq2seq backward: no training forward to differentiate");
    if (!m->ps.grad) return es_errf(err, ES_ERR_ARG, "seq2seq backward: gradients not enabled");
    es_pool *pool = ws->pool;
    es_s2s_qat *qat = ws->qat;
    /* QAT: fake-quantized weight values, gradients into m's buffer (STE) */
    es_params *ps = qat ? es_s2s_qat_params(qat, &m->ps) : &m->ps;
    const int B = ws->B, T = ws->T, N = B * T, D = c->d_model, F = c->d_ff, V = m->V;
    const es_seq *se = ws->ew->s_enc;
    const int De = m->enc->d_enc;
    es_matt_shape sh = {B, T, ws->len, se, D, De, c->n_heads};
    /* logits = hf·Tokᵀ + b:  dhf (dA), dTok, db */
    zero_pads(ws->dlogits, B, T, ws->len, V);
    if (qat)
        es_s2s_qat_linear_backward(qat, pool, ES_S2SQ_HF, m->tok, ws->dA,
                                   es_params_grad(ps, m->out_b), ws->dlogits, ws->hf, N, D, V);
    else
        es_linear_backward(pool, ws->dA, 0, es_params_grad(ps, m->tok),
                           es_params_grad(ps, m->out_b), ws->dlogits, ws->hf,
                           es_params_data(ps, m->tok), N, D, V);
    es_layernorm_backward(pool, ws->dB, 0, es_params_grad(ps, m->lnf_g),
                          es_params_grad(ps, m->lnf_b), ws->dA, ws->xs[c->n_layers], ws->meanf,
                          ws->rstdf, es_params_data(ps, m->lnf_g), N, D);
    memset(ws->denc, 0, es_seq_rows(se) * (size_t)De * sizeof(float));
    for (int l = c->n_layers - 1; l >= 0; l--) {
        if (ws->std) {
            es_s2s_std_lw lw = std_lw(m, l);
            es_s2s_std_lg lg = std_lg(m, l);
            es_s2s_std_layer_backward(ws->std, l, pool, ws->dB, ws->denc, &lg, ws->xs[l],
                                      ws->ew->enc, &lw, B, T, ws->len, se);
            continue;
        }
        const s2s_layer *L = &m->L[l];
        s2s_act *a = &ws->act[l];
        /* x_out = x1 + FFN(LN2(x1)): dx1 = dx + LN2ᵀ(FFNᵀ(dx)) */
        if (qat)
            es_s2s_qat_ffn_backward(qat, pool, l, layer_idx(L).ffn, ws->dA, ws->dB, a->a2, a->ffh, a->ffa,
                                    N, D, F, ws->dff);
        else
            es_ffn_backward(pool, ws->dA, 0, es_params_grad(ps, L->f1_w),
                            es_params_grad(ps, L->f1_b), es_params_grad(ps, L->f2_w),
                            es_params_grad(ps, L->f2_b), ws->dB, a->a2, a->ffh, a->ffa,
                            es_params_data(ps, L->f1_w), es_params_data(ps, L->f2_w), N, D, F,
                            ws->dff);
        zero_pads(ws->dA, B, T, ws->len, D);
        es_layernorm_backward(pool, ws->dB, 1, es_params_grad(ps, L->ln2_g),
                              es_params_grad(ps, L->ln2_b), ws->dA, a->x1, a->mean2, a->rstd2,
                              es_params_data(ps, L->ln2_g), N, D);
        /* x1 = x + MAtt(LN1(x)): dx = dx1 + LN1ᵀ(MAttᵀ(dx1)) */
        es_matt_w w = matt_w(m, l);
        es_matt_g g = {es_params_grad(ps, L->wq), es_params_grad(ps, L->wk),
                       es_params_grad(ps, L->wv), es_params_grad(ps, L->wu),
                       es_params_grad(ps, L->wo)};
        if (qat)
            es_s2s_qat_matt_backward(qat, pool, l, layer_idx(L).matt, ws->dA, ws->denc, 1, ws->dB, &a->mc,
                                     a->a1, ws->ew->enc, &sh, &ws->ms);
        else
            es_matt_backward(pool, ws->dA, 0, ws->denc, 1, &g, ws->dB, &a->mc, a->a1, ws->ew->enc,
                             &w, &sh, &ws->ms);
        es_layernorm_backward(pool, ws->dB, 1, es_params_grad(ps, L->ln1_g),
                              es_params_grad(ps, L->ln1_b), ws->dA, ws->xs[l], a->mean1, a->rstd1,
                              es_params_data(ps, L->ln1_g), N, D);
    }
    /* x0 = √D·Tok[in] + Pos[t] */
    zero_pads(ws->dB, B, T, ws->len, D);
    es_embedding_backward(pool, es_params_grad(ps, m->pos), ws->dB, ws->pos_ids, (size_t)N, D);
    const float sq = sqrtf((float)D);
    for (size_t i = 0; i < (size_t)N * (size_t)D; i++) ws->dB[i] *= sq;
    es_embedding_backward(pool, es_params_grad(ps, m->tok), ws->dB, ws->in_ids, (size_t)N, D);
    if (qat) es_s2s_qat_ste(qat, ES_S2SQ_ENC, ws->denc, ws->ew->enc, es_seq_rows(se) * (size_t)De);
    return es_byte_encode_backward(ws->ew, m->enc, ws->denc, err);
}

/* ---- step-wise decoding ------------------------------------------------------------------ */

es_status es_s2s_prime(es_s2s_ws *ws, const es_s2s_model *m, const uint8_t *src, size_t n,
                       es_error *err) {
    if (ws->m != m) return es_errf(err, ES_ERR_ARG, "seq2seq prime: workspace of another model");
    static const uint8_t empty[1] = {0};
    const uint8_t *pb[1] = {src ? src : empty};
    if (!src) n = 0;
    ws->primed = 0;
    ws->trained = 0;
    es_status s = es_byte_encode(ws->ew, m->enc, pb, &n, 1, 0, NULL, err);
    if (s) return s;
    const es_seq *se = ws->ew->s_enc;
    const es_s2s_config *c = &m->cfg;
    const int D = c->d_model, De = m->enc->d_enc;
    ws->Le = se->len[0];
    const float *enc = ws->ew->enc + es_seq_row(se, 0, 0) * (size_t)De;
    if (ws->qat) es_s2s_qat_enter(ws->qat, (es_params *)(uintptr_t)&m->ps, 0);
    for (int l = 0; l < c->n_layers; l++) {
        if (ws->std) {
            es_s2s_std_lw lw = std_lw(m, l);
            es_s2s_std_prime_layer(ws->std, l, ws->pool, enc, ws->Le, &lw);
            continue;
        }
        es_matt_w w = matt_w(m, l);
        if (ws->qat) /* the encoder point is quantized once per layer: same codes each time */
            es_s2s_qat_matt_memory(ws->qat, ws->pool, layer_idx(&m->L[l]).matt, ws->K + (size_t)l * ws->Scap * D,
                                   ws->Vv + (size_t)l * ws->Scap * D, enc, ws->Le, De, D);
        else
            es_matt_memory(ws->pool, ws->K + (size_t)l * ws->Scap * D,
                           ws->Vv + (size_t)l * ws->Scap * D, enc, ws->Le, De, D, &w);
    }
    memset(ws->R, 0, (size_t)c->n_layers * (size_t)ws->max_rows * (size_t)D * sizeof(float));
    ws->primed = 1;
    return ES_OK;
}

static es_status step_fn(void *ctx, const float **logits, const int32_t *tokens, int n, int pos,
                         es_error *err) {
    es_s2s_ws *ws = ctx;
    const es_s2s_model *m = ws->m;
    const es_s2s_config *c = &m->cfg;
    if (!ws->primed) return es_errf(err, ES_ERR_INTERNAL, "seq2seq step: not primed");
    if (n < 1 || n > ws->max_rows)
        return es_errf(err, ES_ERR_ARG, "seq2seq step: %d rows (workspace holds %d)", n,
                       ws->max_rows);
    if (pos < 0 || pos >= c->max_out)
        return es_errf(err, ES_ERR_ARG, "seq2seq step: position %d is beyond the decoder's "
                       "max_out %d", pos, c->max_out);
    if (ws->std && pos > es_s2s_std_next_pos(ws->std))
        return es_errf(err, ES_ERR_ARG, "seq2seq step: position %d skips positions (the standard "
                       "decoder's cache holds %d)", pos, es_s2s_std_next_pos(ws->std));
    const int D = c->d_model, F = c->d_ff, V = m->V, H = c->n_heads;
    es_s2s_qat *qat = ws->qat; /* registry of es_s2s_prime's enter (fake-quantized when active) */
    const es_params *ps = qat ? es_s2s_qat_params(qat, (es_params *)(uintptr_t)&m->ps) : &m->ps;
    const float *tok = es_params_data(ps, m->tok), *pe = es_params_data(ps, m->pos) + (size_t)pos * D;
    const float sq = sqrtf((float)D);
    for (int r = 0; r < n; r++) {
        if (tokens[r] < 0 || tokens[r] >= V)
            return es_errf(err, ES_ERR_ARG, "seq2seq step: token %d is not an output id", (int)tokens[r]);
        const float *e = tok + (size_t)tokens[r] * D;
        float *x = ws->sx + (size_t)r * D;
        for (int i = 0; i < D; i++) x[i] = e[i] * sq + pe[i];
    }
    es_pool *pool = ws->pool;
    const size_t nD = (size_t)n * (size_t)D;
    for (int l = 0; l < c->n_layers; l++) {
        if (ws->std) {
            es_s2s_std_lw lw = std_lw(m, l);
            es_s2s_std_layer_step(ws->std, l, pool, ws->sx, &lw, n, pos);
            continue;
        }
        const s2s_layer *L = &m->L[l];
        es_layernorm_forward(pool, ws->sa, ws->sh, ws->sh + n, ws->sx, es_params_data(ps, L->ln1_g),
                             es_params_data(ps, L->ln1_b), n, D, ES_LAYERNORM_EPS);
        es_matt_w w = matt_w(m, l);
        if (qat)
            es_s2s_qat_matt_step(qat, pool, l, layer_idx(L).matt, ws->sm, ws->R + (size_t)l * ws->max_rows * D,
                                 ws->sa, ws->K + (size_t)l * ws->Scap * D,
                                 ws->Vv + (size_t)l * ws->Scap * D, ws->Le, n, pos, D, H, ws->mscr);
        else
            es_matt_step(pool, ws->sm, ws->R + (size_t)l * ws->max_rows * D, ws->sa,
                         ws->K + (size_t)l * ws->Scap * D, ws->Vv + (size_t)l * ws->Scap * D,
                         ws->Le, &w, n, pos, D, H, ws->mscr);
        for (size_t i = 0; i < nD; i++) ws->sx[i] = ws->sx[i] + ws->sm[i];
        es_layernorm_forward(pool, ws->sa, ws->sh, ws->sh + n, ws->sx, es_params_data(ps, L->ln2_g),
                             es_params_data(ps, L->ln2_b), n, D, ES_LAYERNORM_EPS);
        if (qat)
            es_s2s_qat_ffn_forward(qat, pool, l, layer_idx(L).ffn, ws->sm, ws->sffh, ws->sffa, ws->sa, n,
                                   D, F, 0);
        else
            es_ffn_forward(pool, ws->sm, ws->sffh, ws->sffa, ws->sa, es_params_data(ps, L->f1_w),
                           es_params_data(ps, L->f1_b), es_params_data(ps, L->f2_w),
                           es_params_data(ps, L->f2_b), n, D, F);
        for (size_t i = 0; i < nD; i++) ws->sx[i] = ws->sx[i] + ws->sm[i];
    }
    if (ws->std) es_s2s_std_step_done(ws->std, pos);
    es_layernorm_forward(pool, ws->sa, ws->sh, ws->sh + n, ws->sx, es_params_data(ps, m->lnf_g),
                         es_params_data(ps, m->lnf_b), n, D, ES_LAYERNORM_EPS);
    if (qat) {
        es_s2s_qat_act(qat, ES_S2SQ_HF, ws->sa, nD, 0);
        es_s2s_qat_linear(qat, pool, ES_S2SQ_HF, m->tok, ws->slog, ws->sa,
                          es_params_data(ps, m->out_b), n, D, V);
    } else {
        es_linear_forward(pool, ws->slog, ws->sa, tok, es_params_data(ps, m->out_b), n, D, V);
    }
    /* the start id is a decoder input only: never generated */
    for (int r = 0; r < n; r++) ws->slog[(size_t)r * V + ES_S2S_START] = -INFINITY;
    *logits = ws->slog;
    return ES_OK;
}

static es_status reorder_fn(void *ctx, const int32_t *parent, int n, es_error *err) {
    es_s2s_ws *ws = ctx;
    const es_s2s_config *c = &ws->m->cfg;
    const int D = c->d_model;
    if (n < 1 || n > ws->max_rows)
        return es_errf(err, ES_ERR_ARG, "seq2seq reorder: %d rows (workspace holds %d)", n,
                       ws->max_rows);
    for (int r = 0; r < n; r++)
        if (parent[r] < 0 || parent[r] >= ws->max_rows)
            return es_errf(err, ES_ERR_INTERNAL, "seq2seq reorder: parent %d", (int)parent[r]);
    if (ws->std) {
        es_s2s_std_reorder(ws->std, parent, n);
        return ES_OK;
    }
    for (int l = 0; l < c->n_layers; l++) {
        float *R = ws->R + (size_t)l * ws->max_rows * D;
        for (int r = 0; r < n; r++)
            memcpy(ws->Rtmp + (size_t)r * D, R + (size_t)parent[r] * D, (size_t)D * sizeof(float));
        memcpy(R, ws->Rtmp, (size_t)n * (size_t)D * sizeof(float));
    }
    return ES_OK;
}

struct es_s2s_qat *es_s2s_ws_qat(es_s2s_ws *ws) { return ws->qat; }

es_status es_s2s_ws_qat_freeze(es_s2s_ws *ws, int freeze, es_error *err) {
    if (!ws->qat) return es_errf(err, ES_ERR_ARG, "seq2seq: the model has no \"qat\" block");
    es_status s = es_s2s_qat_freeze(ws->qat, &ws->m->ps, freeze, err);
    if (!s && es_byte_qat_tf_on(ws->ew)) s = es_byte_qat_freeze(ws->ew, freeze, err);
    return s;
}

int es_s2s_ws_enc_int8_ran(const es_s2s_ws *ws) { return es_byte_qat_tf_int8_ran(ws->ew); }

const float *es_s2s_ws_enc_output(const es_s2s_ws *ws, size_t *rows) {
    *rows = ws->ew->s_enc ? es_seq_rows(ws->ew->s_enc) : 0;
    return ws->ew->enc;
}

es_dec_model es_s2s_dec_model(es_s2s_ws *ws) {
    es_dec_model dm = {ws, ws->m->V, ES_S2S_START, ES_S2S_EOS, step_fn, reorder_fn};
    return dm;
}
