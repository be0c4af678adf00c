/*
 * t5_config.c — config.json -> es_t5_config, with HF's field names and
 * defaults (configuration_t5.py + PretrainedConfig):
 *
 *   d_model, d_kv, d_ff, num_layers, num_heads, vocab_size   required
 *   num_decoder_layers               absent => num_layers
 *   relative_attention_num_buckets   absent => 32
 *   relative_attention_max_distance  absent => 128
 *   layer_norm_epsilon               absent => 1e-6
 *   feed_forward_proj                absent => "relu"; "[gated-]ACT" with ACT
 *                                    relu | gelu | gelu_new | gelu_pytorch_tanh;
 *                                    "gated-gelu" means gelu_new (HF rule)
 *   dense_act_fn, is_gated_act       when present they win over
 *                                    feed_forward_proj (HF sets them from
 *                                    feed_forward_proj, then PretrainedConfig
 *                                    applies the saved keys on top)
 *   tie_word_embeddings              absent => true
 *   pad_token_id (0), eos_token_id (1), decoder_start_token_id (pad)
 *
 * Bounds are generous but finite so sizes computed from them cannot
 * overflow: every dimension ≤ 2^20, layers ≤ 1024, vocab ≤ 2^24, and the
 * attention width H·dk ≤ 2^20.
 */
#include "model/t5.h"

#include <json-c/json.h>
#include <string.h>

#define DIM_MAX (1 << 20)

static es_status parse_act(const char *s, es_t5_act *act) {
    if (strcmp(s, "relu") == 0) *act = ES_T5_ACT_RELU;
    else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0)
        *act = ES_T5_ACT_GELU_TANH;
    else if (strcmp(s, "gelu") == 0) *act = ES_T5_ACT_GELU_ERF;
    else return ES_ERR_FORMAT;
    return ES_OK;
}

es_status es_t5_config_parse(es_t5_config *c, const struct json_object *cfg, es_error *err) {
    memset(c, 0, sizeof *c);
    int64_t v;
    es_status s;
#define GET_INT(field, key, req, dflt, lo, hi)                                      \
    do {                                                                           \
        s = es_config_int(cfg, key, req, dflt, lo, hi, &v, err);                   \
        if (s) return s;                                                           \
        c->field = (int32_t)v;                                                     \
    } while (0)
    GET_INT(d_model, "d_model", true, 0, 1, DIM_MAX);
    GET_INT(d_kv, "d_kv", true, 0, 1, DIM_MAX);
    GET_INT(d_ff, "d_ff", true, 0, 1, DIM_MAX);
    GET_INT(n_heads, "num_heads", true, 0, 1, DIM_MAX);
    GET_INT(n_enc_layers, "num_layers", true, 0, 1, 1024);
    GET_INT(n_dec_layers, "num_decoder_layers", false, c->n_enc_layers, 1, 1024);
    GET_INT(vocab, "vocab_size", true, 0, 1, 1 << 24);
    GET_INT(rel_buckets, "relative_attention_num_buckets", false, 32, 4, 1 << 16);
    GET_INT(rel_max_distance, "relative_attention_max_distance", false, 128, 1, DIM_MAX);
    GET_INT(pad_id, "pad_token_id", false, 0, 0, c->vocab - 1);
    GET_INT(eos_id, "eos_token_id", false, 1, 0, c->vocab - 1);
    GET_INT(start_id, "decoder_start_token_id", false, c->pad_id, 0, c->vocab - 1);
#undef GET_INT
    if ((int64_t)c->n_heads * c->d_kv > DIM_MAX)
        return es_errf(err, ES_ERR_FORMAT,
                       "config.json: num_heads * d_kv = %lld is out of range (max %d)",
                       (long long)c->n_heads * c->d_kv, DIM_MAX);
    if (c->rel_buckets % 2)
        return es_errf(err, ES_ERR_FORMAT,
                       "config.json: field 'relative_attention_num_buckets' = %d must be even "
                       "(the encoder splits it by sign)",
                       c->rel_buckets);
    /* The log-spaced buckets need max_distance beyond the exact range,
     * else HF divides by log(<= 1). Exact range: buckets/2 (decoder). */
    if (c->rel_max_distance <= c->rel_buckets / 2)
        return es_errf(err, ES_ERR_FORMAT,
                       "config.json: field 'relative_attention_max_distance' = %d must exceed "
                       "relative_attention_num_buckets / 2 = %d",
                       c->rel_max_distance, c->rel_buckets / 2);

    double eps;
    s = es_config_float(cfg, "layer_norm_epsilon", false, 1e-6, 1e-30, 1.0, &eps, err);
    if (s) return s;
    c->eps = (float)eps;
    if (!(c->eps > 0.0f))
        return es_errf(err, ES_ERR_FORMAT, "config.json: field 'layer_norm_epsilon' = %g underflows float",
                       eps);

    const char *ffp = NULL;
    s = es_config_string(cfg, "feed_forward_proj", false, &ffp, err);
    if (s) return s;
    if (!ffp) ffp = "relu";
    const char *act_name = ffp;
    c->gated = false;
    if (strncmp(ffp, "gated-", 6) == 0) {
        c->gated = true;
        act_name = ffp + 6;
    }
    if (parse_act(act_name, &c->act) != ES_OK || strchr(act_name, '-'))
        return es_errf(err, ES_ERR_FORMAT,
                       "config.json: field 'feed_forward_proj' = \"%s\" is not supported "
                       "(expected relu, gelu, gated-gelu or gated-relu)",
                       ffp);
    if (c->gated && c->act == ES_T5_ACT_GELU_ERF) c->act = ES_T5_ACT_GELU_TANH; /* HF rule */

    const char *daf = NULL;
    s = es_config_string(cfg, "dense_act_fn", false, &daf, err);
    if (s) return s;
    if (daf && parse_act(daf, &c->act) != ES_OK)
        return es_errf(err, ES_ERR_FORMAT,
                       "config.json: field 'dense_act_fn' = \"%s\" is not supported "
                       "(expected relu, gelu, gelu_new or gelu_pytorch_tanh)",
                       daf);
    bool gated = c->gated;
    s = es_config_bool(cfg, "is_gated_act", false, c->gated, &gated, err);
    if (s) return s;
    c->gated = gated;

    bool tied = true;
    s = es_config_bool(cfg, "tie_word_embeddings", false, true, &tied, err);
    if (s) return s;
    c->tied = tied;
    return ES_OK;
}

es_ffn_kind es_t5_config_ffn(const es_t5_config *c) {
    bool relu = c->act == ES_T5_ACT_RELU;
    if (c->gated) return relu ? ES_FFN_GATED_RELU : ES_FFN_GATED_GELU;
    return relu ? ES_FFN_RELU : ES_FFN_GELU;
}
