/*
 * t5_names.c — T5-Efficient names -> hyper-parameters, the HF parameter
 * list of a T5ForConditionalGeneration, the parameter count, and the HF
 * config.json text. See t5_init.h for the family table and name grammar.
 *
 * Why d_kv = 64 for tiny/mini/small although the model card's table says
 * 32: the released configs (google/t5-efficient-tiny, -small-el32, ...)
 * have "d_kv": 64, and only 64 reproduces the card's own parameter counts
 * (small: 60,506,624 with 64 vs 51,069,440 with 32). xl/xxl use 128 as
 * both the card and their configs say. tests/unit/test_t5_names.c
 * computes both.
 *
 * Tensor list order = HF state_dict order (shared, encoder blocks, encoder
 * final norm, decoder blocks, decoder final norm, lm_head); init scales are
 * those of HF T5PreTrainedModel._init_weights with factor f:
 *   shared, untied lm_head       N(0, f)
 *   q                            N(0, f (d_model d_kv)^-1/2)
 *   k, v                         N(0, f d_model^-1/2)
 *   o                            N(0, f (heads d_kv)^-1/2)
 *   relative_attention_bias      N(0, f d_model^-1/2)
 *   wi, wi_0, wi_1               N(0, f d_model^-1/2)
 *   wo                           N(0, f d_ff^-1/2)
 *   layer norms                  f * 1.0
 */
#include "model/t5_init.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct family {
    const char *name;
    int32_t layers, d_model, d_ff, heads, d_kv;
} family;

static const family k_families[] = {
    {"tiny", 4, 256, 1024, 4, 64},     {"mini", 4, 384, 1536, 8, 64},
    {"small", 6, 512, 2048, 8, 64},    {"base", 12, 768, 3072, 12, 64},
    {"large", 24, 1024, 4096, 16, 64}, {"xl", 24, 1024, 16384, 32, 128},
    {"xxl", 24, 1024, 65536, 128, 128},
};

static void base_hparams(es_t5_hparams *h, const family *f) {
    memset(h, 0, sizeof *h);
    h->vocab_size = 32128;
    h->d_model = f->d_model;
    h->d_kv = f->d_kv;
    h->d_ff = f->d_ff;
    h->n_heads = f->heads;
    h->n_layers = f->layers;
    h->n_decoder_layers = f->layers;
    h->rel_buckets = 32;
    h->rel_max_distance = 128;
    h->layer_norm_eps = 1e-6f;
    h->ffn = ES_FFN_RELU;
    h->tie_word_embeddings = 1;
    h->initializer_factor = 1.0f;
    h->dropout_rate = 0.1f;
}

/* Hub names write large -dm/-ff values in thousands: "ff2000" = 2048. */
static int64_t hub_size(int64_t v) { return (v >= 1000 && v % 1000 == 0) ? v / 1000 * 1024 : v; }

es_status es_t5_efficient_hparams(es_t5_hparams *out, const char *name, es_error *err) {
    memset(out, 0, sizeof *out);
    if (!name) return es_errf(err, ES_ERR_ARG, "no model name given");
    const char *s = name;
    if (strncmp(s, "google/", 7) == 0) s += 7;
    static const char prefix[] = "t5-efficient-";
    if (strncmp(s, prefix, sizeof prefix - 1) != 0)
        return es_errf(err, ES_ERR_ARG,
                       "'%s': not a T5-Efficient name (expected t5-efficient-SIZE[-VARIANT...], "
                       "SIZE one of tiny, mini, small, base, large, xl, xxl)", name);
    s += sizeof prefix - 1;
    size_t flen = strcspn(s, "-");
    const family *fam = NULL;
    for (size_t i = 0; i < ES_ARRAY_LEN(k_families); i++)
        if (strlen(k_families[i].name) == flen && strncmp(s, k_families[i].name, flen) == 0)
            fam = &k_families[i];
    if (!fam)
        return es_errf(err, ES_ERR_ARG,
                       "'%s': unknown size '%.*s' (expected tiny, mini, small, base, large, xl "
                       "or xxl)", name, (int)flen, s);
    base_hparams(out, fam);
    s += flen;
    unsigned seen = 0;
    while (*s == '-') {
        s++;
        size_t klen = 0;
        while (isalpha((unsigned char)s[klen])) klen++;
        const char *num = s + klen;
        size_t nlen = 0;
        while (isdigit((unsigned char)num[nlen])) nlen++;
        static const char *const keys[] = {"el", "dl", "nl", "dm", "kv", "nh", "ff"};
        int key = -1;
        for (int k = 0; k < 7; k++)
            if (klen == 2 && strncmp(s, keys[k], 2) == 0) key = k;
        if (key < 0 || nlen == 0 || nlen > 9 || (num[nlen] != '-' && num[nlen] != '\0'))
            return es_errf(err, ES_ERR_ARG,
                           "'%s': bad variant '-%.*s' (expected -elN, -dlN, -nlN, -dmN, -kvN, "
                           "-nhN or -ffN, e.g. t5-efficient-small-el16-dl4)",
                           name, (int)strcspn(s, "-"), s);
        /* nl sets el and dl, so it clashes with either. */
        unsigned bit = 1u << key, clash = bit;
        if (key == 2) clash |= 3u;
        if (key <= 1) clash |= 4u;
        if (seen & clash)
            return es_errf(err, ES_ERR_ARG, "'%s': variant '-%.*s' repeats or contradicts an "
                           "earlier one", name, (int)(klen + nlen), s);
        seen |= bit;
        int64_t v = strtoll(num, NULL, 10);
        int64_t lim = key <= 2 ? 1024 : key == 5 ? 4096 : (1 << 20);
        if (key == 3 || key == 6) v = hub_size(v);
        if (v < 1 || v > lim)
            return es_errf(err, ES_ERR_ARG, "'%s': '-%.*s' is out of range (1..%lld)", name,
                           (int)(klen + nlen), s, (long long)lim);
        switch (key) {
        case 0: out->n_layers = (int32_t)v; break;
        case 1: out->n_decoder_layers = (int32_t)v; break;
        case 2: out->n_layers = out->n_decoder_layers = (int32_t)v; break;
        case 3: out->d_model = (int32_t)v; break;
        case 4: out->d_kv = (int32_t)v; break;
        case 5: out->n_heads = (int32_t)v; break;
        case 6: out->d_ff = (int32_t)v; break;
        }
        s = num + nlen;
    }
    if (*s != '\0')
        return es_errf(err, ES_ERR_ARG, "'%s': unexpected text '%s' after the size", name, s);
    if ((int64_t)out->n_heads * out->d_kv > (1 << 20))
        return es_errf(err, ES_ERR_ARG, "'%s': heads x d_kv = %lld is too large", name,
                       (long long)out->n_heads * out->d_kv);
    return ES_OK;
}

static bool gated(const es_t5_hparams *h) {
    return h->ffn == ES_FFN_GATED_GELU || h->ffn == ES_FFN_GATED_RELU;
}

/* Appends one spec if there is room; always counts it. */
static void add(es_t5_tensor_spec *out, size_t cap, size_t *n, const char *name, int ndim,
                int64_t d0, int64_t d1, es_t5_init_kind kind, double v) {
    if (*n < cap) {
        es_t5_tensor_spec *t = &out[*n];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = ndim;
        t->shape[0] = d0;
        t->shape[1] = ndim > 1 ? d1 : 0;
        t->init = kind;
        t->std_or_value = v;
    }
    (*n)++;
}

static void add_attention(es_t5_tensor_spec *out, size_t cap, size_t *n, const es_t5_hparams *h,
                          const char *prefix, bool rel_bias) {
    char nm[ES_T5_NAME_MAX];
    double f = h->initializer_factor, dm = h->d_model, kv = h->d_kv;
    int64_t inner = (int64_t)h->n_heads * h->d_kv;
    snprintf(nm, sizeof nm, "%s.q.weight", prefix);
    add(out, cap, n, nm, 2, inner, h->d_model, ES_T5_INIT_NORMAL, f / sqrt(dm * kv));
    snprintf(nm, sizeof nm, "%s.k.weight", prefix);
    add(out, cap, n, nm, 2, inner, h->d_model, ES_T5_INIT_NORMAL, f / sqrt(dm));
    snprintf(nm, sizeof nm, "%s.v.weight", prefix);
    add(out, cap, n, nm, 2, inner, h->d_model, ES_T5_INIT_NORMAL, f / sqrt(dm));
    snprintf(nm, sizeof nm, "%s.o.weight", prefix);
    add(out, cap, n, nm, 2, h->d_model, inner, ES_T5_INIT_NORMAL, f / sqrt((double)inner));
    if (rel_bias) {
        snprintf(nm, sizeof nm, "%s.relative_attention_bias.weight", prefix);
        add(out, cap, n, nm, 2, h->rel_buckets, h->n_heads, ES_T5_INIT_NORMAL, f / sqrt(dm));
    }
}

static void add_ffn(es_t5_tensor_spec *out, size_t cap, size_t *n, const es_t5_hparams *h,
                    const char *prefix) {
    char nm[ES_T5_NAME_MAX];
    double f = h->initializer_factor;
    if (gated(h)) {
        snprintf(nm, sizeof nm, "%s.DenseReluDense.wi_0.weight", prefix);
        add(out, cap, n, nm, 2, h->d_ff, h->d_model, ES_T5_INIT_NORMAL, f / sqrt(h->d_model));
        snprintf(nm, sizeof nm, "%s.DenseReluDense.wi_1.weight", prefix);
        add(out, cap, n, nm, 2, h->d_ff, h->d_model, ES_T5_INIT_NORMAL, f / sqrt(h->d_model));
    } else {
        snprintf(nm, sizeof nm, "%s.DenseReluDense.wi.weight", prefix);
        add(out, cap, n, nm, 2, h->d_ff, h->d_model, ES_T5_INIT_NORMAL, f / sqrt(h->d_model));
    }
    snprintf(nm, sizeof nm, "%s.DenseReluDense.wo.weight", prefix);
    add(out, cap, n, nm, 2, h->d_model, h->d_ff, ES_T5_INIT_NORMAL, f / sqrt(h->d_ff));
}

size_t es_t5_tensor_specs(const es_t5_hparams *h, es_t5_tensor_spec *out, size_t cap) {
    size_t n = 0;
    char nm[ES_T5_NAME_MAX], pre[ES_T5_NAME_MAX];
    double f = h->initializer_factor;
    add(out, cap, &n, "shared.weight", 2, h->vocab_size, h->d_model, ES_T5_INIT_NORMAL, f);
    for (int i = 0; i < h->n_layers; i++) {
        snprintf(pre, sizeof pre, "encoder.block.%d.layer.0.SelfAttention", i);
        add_attention(out, cap, &n, h, pre, i == 0);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.0.layer_norm.weight", i);
        add(out, cap, &n, nm, 1, h->d_model, 0, ES_T5_INIT_FILL, f);
        snprintf(pre, sizeof pre, "encoder.block.%d.layer.1", i);
        add_ffn(out, cap, &n, h, pre);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.1.layer_norm.weight", i);
        add(out, cap, &n, nm, 1, h->d_model, 0, ES_T5_INIT_FILL, f);
    }
    add(out, cap, &n, "encoder.final_layer_norm.weight", 1, h->d_model, 0, ES_T5_INIT_FILL, f);
    for (int i = 0; i < h->n_decoder_layers; i++) {
        snprintf(pre, sizeof pre, "decoder.block.%d.layer.0.SelfAttention", i);
        add_attention(out, cap, &n, h, pre, i == 0);
        snprintf(nm, sizeof nm, "decoder.block.%d.layer.0.layer_norm.weight", i);
        add(out, cap, &n, nm, 1, h->d_model, 0, ES_T5_INIT_FILL, f);
        snprintf(pre, sizeof pre, "decoder.block.%d.layer.1.EncDecAttention", i);
        add_attention(out, cap, &n, h, pre, false);
        snprintf(nm, sizeof nm, "decoder.block.%d.layer.1.layer_norm.weight", i);
        add(out, cap, &n, nm, 1, h->d_model, 0, ES_T5_INIT_FILL, f);
        snprintf(pre, sizeof pre, "decoder.block.%d.layer.2", i);
        add_ffn(out, cap, &n, h, pre);
        snprintf(nm, sizeof nm, "decoder.block.%d.layer.2.layer_norm.weight", i);
        add(out, cap, &n, nm, 1, h->d_model, 0, ES_T5_INIT_FILL, f);
    }
    add(out, cap, &n, "decoder.final_layer_norm.weight", 1, h->d_model, 0, ES_T5_INIT_FILL, f);
    if (!h->tie_word_embeddings)
        add(out, cap, &n, "lm_head.weight", 2, h->vocab_size, h->d_model, ES_T5_INIT_NORMAL, f);
    return n;
}

uint64_t es_t5_param_count(const es_t5_hparams *h) {
    uint64_t dm = (uint64_t)h->d_model, ff = (uint64_t)h->d_ff;
    uint64_t inner = (uint64_t)h->n_heads * (uint64_t)h->d_kv;
    uint64_t attn = 4 * dm * inner;
    uint64_t ffn = (gated(h) ? 3 : 2) * dm * ff;
    uint64_t rel = (uint64_t)h->rel_buckets * (uint64_t)h->n_heads;
    uint64_t emb = (uint64_t)h->vocab_size * dm;
    uint64_t enc = (uint64_t)h->n_layers * (attn + ffn + 2 * dm) + rel + dm;
    uint64_t dec = (uint64_t)h->n_decoder_layers * (2 * attn + ffn + 3 * dm) + rel + dm;
    return emb * (h->tie_word_embeddings ? 1 : 2) + enc + dec;
}

static const char *ffn_proj(es_ffn_kind k) {
    switch (k) {
    case ES_FFN_RELU: return "relu";
    case ES_FFN_GELU: return "gelu_new";
    case ES_FFN_GATED_GELU: return "gated-gelu";
    case ES_FFN_GATED_RELU: return "gated-relu";
    }
    return "relu";
}

/* A float as Python's json writes it: shortest "%g" form, with ".0" when
 * integral so it reads back as a float ("1.0", "0.1", "1e-06"). */
static const char *pyfloat(char *buf, size_t cap, float v) {
    snprintf(buf, cap, "%g", (double)v);
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
    return buf;
}

es_status es_t5_config_json(char **out, const es_t5_hparams *h, es_dtype dtype, es_error *err) {
    *out = NULL;
    if (dtype != ES_DTYPE_F32 && dtype != ES_DTYPE_BF16 && dtype != ES_DTYPE_F16)
        return es_errf(err, ES_ERR_ARG, "config.json: unsupported dtype %s", es_dtype_name(dtype));
    const char *torch_dtype =
        dtype == ES_DTYPE_F32 ? "float32" : dtype == ES_DTYPE_BF16 ? "bfloat16" : "float16";
    const char *act = (h->ffn == ES_FFN_RELU || h->ffn == ES_FFN_GATED_RELU) ? "relu" : "gelu_new";
    char f1[32], f2[32], f3[32];
    size_t cap = 2048;
    char *buf = es_malloc(cap);
    if (!buf) return es_errf(err, ES_ERR_NOMEM, "out of memory writing config.json");
    /* Keys in the alphabetical order HF's to_json_string(sort_keys=True)
     * uses; tie_word_embeddings only when false (HF omits defaults). */
    int n = snprintf(buf, cap,
                     "{\n"
                     "  \"architectures\": [\n    \"T5ForConditionalGeneration\"\n  ],\n"
                     "  \"classifier_dropout\": 0.0,\n"
                     "  \"d_ff\": %d,\n"
                     "  \"d_kv\": %d,\n"
                     "  \"d_model\": %d,\n"
                     "  \"decoder_start_token_id\": 0,\n"
                     "  \"dense_act_fn\": \"%s\",\n"
                     "  \"dropout_rate\": %s,\n"
                     "  \"eos_token_id\": 1,\n"
                     "  \"feed_forward_proj\": \"%s\",\n"
                     "  \"initializer_factor\": %s,\n"
                     "  \"is_encoder_decoder\": true,\n"
                     "  \"is_gated_act\": %s,\n"
                     "  \"layer_norm_epsilon\": %s,\n"
                     "  \"model_type\": \"t5\",\n"
                     "  \"n_positions\": 512,\n"
                     "  \"num_decoder_layers\": %d,\n"
                     "  \"num_heads\": %d,\n"
                     "  \"num_layers\": %d,\n"
                     "  \"pad_token_id\": 0,\n"
                     "  \"relative_attention_max_distance\": %d,\n"
                     "  \"relative_attention_num_buckets\": %d,\n"
                     "%s"
                     "  \"torch_dtype\": \"%s\",\n"
                     "  \"use_cache\": true,\n"
                     "  \"vocab_size\": %d\n"
                     "}\n",
                     h->d_ff, h->d_kv, h->d_model, act, pyfloat(f1, sizeof f1, h->dropout_rate),
                     ffn_proj(h->ffn), pyfloat(f2, sizeof f2, h->initializer_factor),
                     gated(h) ? "true" : "false", pyfloat(f3, sizeof f3, h->layer_norm_eps),
                     h->n_decoder_layers, h->n_heads, h->n_layers,
                     h->rel_max_distance, h->rel_buckets,
                     h->tie_word_embeddings ? "" : "  \"tie_word_embeddings\": false,\n",
                     torch_dtype, h->vocab_size);
    if (n < 0 || (size_t)n >= cap) {
        es_free(buf);
        return es_errf(err, ES_ERR_INTERNAL, "config.json text does not fit %zu bytes", cap);
    }
    *out = buf;
    return ES_OK;
}
