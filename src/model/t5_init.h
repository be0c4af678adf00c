/*
 * t5_init.h — T5 / T5-Efficient hyper-parameters by name, the Hugging Face
 * tensor list of a T5ForConditionalGeneration, HF's initialisation, and a
 * streaming writer of a randomly initialised HF model folder.
 *
 * Used by `edgeseq init` and by training code that starts from scratch.
 *
 * Names (t5_names.c): "t5-efficient-{tiny,mini,small,base,large,xl,xxl}"
 * (optionally "google/"-prefixed) followed by Hub variant suffixes
 * "-elN" (encoder layers), "-dlN" (decoder layers), "-nlN" (both),
 * "-dmN" (d_model), "-kvN" (d_kv), "-nhN" (heads), "-ffN" (d_ff), e.g.
 * "t5-efficient-small-el16-dl4". As on the Hub, a -dm/-ff value that is a
 * multiple of 1000 means that many KiB-units: "ff2000" is d_ff 2048,
 * "dm1000" is d_model 1024 (google/t5-efficient-base-ff2000 has d_ff 2048).
 *
 * Family table (model card of google/t5-efficient-*, with the d_kv of the
 * released configs; the card's kv column says 32 for tiny/mini/small, which
 * does not reproduce the card's own parameter counts — see
 * tests/unit/test_t5_names.c):
 *
 *   name   layers  d_model  d_ff   heads  d_kv  params (tied, vocab 32128)
 *   tiny   4/4     256      1024   4      64    15,570,688
 *   mini   4/4     384      1536   8      64    31,220,480
 *   small  6/6     512      2048   8      64    60,506,624
 *   base   12/12   768      3072   12     64    222,903,552
 *   large  24/24   1024     4096   16     64    737,668,096
 *   xl     24/24   1024     16384  32     128   2,851,598,336
 *   xxl    24/24   1024     65536  128    128   11,307,321,344
 *
 * All use ReLU feed-forward (T5 v1.0 layout: wi, wo), tied embeddings,
 * 32 relative-attention buckets with max distance 128, eps 1e-6.
 */
#ifndef ES_MODEL_T5_INIT_H
#define ES_MODEL_T5_INIT_H

#include "core/common.h"

typedef struct es_t5_hparams {
    int32_t vocab_size, d_model, d_kv, d_ff, n_heads;
    int32_t n_layers, n_decoder_layers;
    int32_t rel_buckets, rel_max_distance;
    float layer_norm_eps;
    es_ffn_kind ffn;          /* RELU, GATED_GELU, ... */
    int tie_word_embeddings;  /* 1: LM head is shared.weight */
    float initializer_factor; /* HF initializer_factor, 1.0 */
    float dropout_rate;       /* recorded in config.json only */
} es_t5_hparams;

/* Resolves a T5-Efficient name (see the top of this file) into *out.
 * Unknown family, malformed or repeated suffix, or a value out of range
 * (layers 1..1024, d_model/d_ff/d_kv 1..1<<20, heads 1..4096) is ES_ERR_ARG
 * with a message naming the part. */
es_status es_t5_efficient_hparams(es_t5_hparams *out, const char *name, es_error *err);

/* Number of unique parameters (tied embedding once; what HF reports). */
uint64_t es_t5_param_count(const es_t5_hparams *h);

/* How a tensor is initialised (HF T5PreTrainedModel._init_weights). */
typedef enum es_t5_init_kind {
    ES_T5_INIT_NORMAL = 0, /* N(0, std^2) */
    ES_T5_INIT_FILL = 1    /* every element = value (layer norms: factor * 1.0) */
} es_t5_init_kind;

#define ES_T5_NAME_MAX 96

typedef struct es_t5_tensor_spec {
    char name[ES_T5_NAME_MAX]; /* HF state-dict name */
    int ndim;                  /* 1 or 2 */
    int64_t shape[2];          /* torch shape: Linear weights are (out, in) */
    es_t5_init_kind init;
    double std_or_value;       /* std for NORMAL, value for FILL */
} es_t5_tensor_spec;

/* Lists the parameters as `save_pretrained` stores them: HF state-dict
 * order, with the tied duplicates (encoder/decoder.embed_tokens.weight,
 * and lm_head.weight when tied) dropped. Writes up to cap specs and
 * returns the total count (call with cap 0 to size the array). */
size_t es_t5_tensor_specs(const es_t5_hparams *h, es_t5_tensor_spec *out, size_t cap);

/* Elements per random block: block b of a tensor draws from its own RNG
 * stream seeded by (seed, tensor name, b), so values do not depend on how
 * the writer chunks or threads the work. */
#define ES_T5_INIT_BLOCK 65536

/* Fills dst[0..n) with elements [start, start + n) of the tensor's initial
 * values (F32). start must be a multiple of ES_T5_INIT_BLOCK. Normal draws
 * use Box–Muller on xoshiro256** uniforms, in double, then scaled by std
 * and rounded to F32. Deterministic for (seed, name, element index). */
void es_t5_init_fill(float *dst, const es_t5_tensor_spec *t, uint64_t seed, uint64_t start,
                     size_t n);

/* config.json text of a T5ForConditionalGeneration in HF format
 * ("architectures", "model_type": "t5", ...), torch_dtype from `dtype`
 * (F32 -> "float32", BF16 -> "bfloat16"). *out is es_malloc'd (es_free). */
es_status es_t5_config_json(char **out, const es_t5_hparams *h, es_dtype dtype, es_error *err);

typedef struct es_t5_init_params {
    uint64_t seed;
    es_dtype dtype;       /* ES_DTYPE_F32 (default) or ES_DTYPE_BF16 */
    const char *spm_path; /* SentencePiece model copied to spiece.model; NULL = none */
    const char *name;     /* recorded in the safetensors metadata; may be NULL */
    int force;            /* 1: DIR may be non-empty; our files replace its files */
    int n_threads;        /* 0 = physical cores */
    /* Called after each written chunk; return non-zero to cancel
     * (ES_ERR_CANCELLED, nothing is left behind). May be NULL. */
    int (*progress)(void *user, uint64_t bytes_done, uint64_t bytes_total);
    void *progress_user;
} es_t5_init_params;

es_t5_init_params es_t5_init_params_default(void);

/* Exact size in bytes of the model.safetensors that es_t5_init_write
 * writes for h and params (dtype, name, seed; header included); 0 if it
 * cannot be computed (out of memory). */
uint64_t es_t5_init_weights_bytes(const es_t5_hparams *h, const es_t5_init_params *params);

/* Writes a randomly initialised HF model folder to dir: config.json,
 * generation_config.json, model.safetensors (HF names, tied duplicates
 * dropped, data in name order) and, with spm_path, spiece.model plus
 * tokenizer_config.json / special_tokens_map.json.
 *
 * All-or-nothing: everything is written (and fsync'd) into a temporary
 * folder next to dir, then renamed into place, so an interrupted run
 * leaves no half-written folder. dir must not exist or be empty unless
 * params->force (then our files replace same-named files in dir, each
 * rename atomic). Memory use is bounded (tensors are generated and
 * written chunk by chunk); free disk space is checked first and a
 * shortfall is refused naming the sizes. */
es_status es_t5_init_write(const char *dir, const es_t5_hparams *h,
                           const es_t5_init_params *params, es_error *err);

#endif
