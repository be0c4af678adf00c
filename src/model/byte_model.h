/*
 * byte_model.h — byte-stream classifiers after SeqFlowLite: a byte encoder
 * (ByteQRNN, ByteTransformer or ByteFunnelTransformer) + attention pooling
 * + a linear classification head. Raw bytes in, class probabilities out;
 * no tokenizer. Architectures and equations: docs/byte-models.md.
 *
 * Split by lifetime (as es_model / es_session):
 *  - es_byte_model: config + parameters (es_params). Immutable while
 *    sessions run on it, except through a trainer.
 *  - es_byte_ws: per-run workspace: activations for (max_batch, max_bytes)
 *    sized once at creation, the thread pool pointer, and (training) the
 *    caches the backward pass needs. One thread at a time.
 *
 * Folder format (es_byte_model_save_dir / es_byte_model_load_dir, also what
 * es_model_load() recognises): config.json
 *   {"model_type": "edgeseq-byte-classifier", "encoder": "byteqrnn" |
 *    "bytetransformer" | "bytefunnel", "labels": ["ham","spam"],
 *    "max_bytes": 2048, "d_embed": .., "d_model": .., ...}
 * + model.safetensors (F32, __metadata__ edgeseq_format = "1").
 * Tensor names are listed in docs/byte-models.md.
 */
#ifndef ES_MODEL_BYTE_MODEL_H
#define ES_MODEL_BYTE_MODEL_H

#include "core/common.h"
#include "core/pool.h"
#include "core/rng.h"
#include "nn/params.h"
#include "quant/quant.h"

#define ES_BYTE_MAX_LAYERS 16
#define ES_BYTE_MAX_LABELS 64
#define ES_BYTE_LABEL_MAX 64

typedef enum es_byte_encoder {
    ES_BYTE_QRNN = 0,        /* "byteqrnn" */
    ES_BYTE_TRANSFORMER = 1, /* "bytetransformer" */
    ES_BYTE_FUNNEL = 2       /* "bytefunnel" */
} es_byte_encoder;

/* Every size of a byte classifier. Plain data: copy freely. JSON keys are
 * the field names. */
typedef struct es_byte_config {
    es_byte_encoder encoder;
    int n_labels;                         /* >= 2 (softmax head) */
    char labels[ES_BYTE_MAX_LABELS][ES_BYTE_LABEL_MAX];
    int max_bytes;                        /* longer inputs are cut to their first max_bytes */
    /* byte front end */
    int d_embed;                          /* byte embedding width E; 0 = no bottleneck (E = d_model) */
    int d_model;                          /* bottleneck / model width D */
    /* GBST soft tokenisation */
    int gbst_kernel;                      /* causal conv width before block pooling (>= 1) */
    int gbst_blocks;                      /* candidate block widths 1..gbst_blocks (0 = GBST off) */
    int downsample;                       /* mean-pool stride after GBST (>= 1) */
    /* QRNN encoder */
    int qrnn_layers;
    int qrnn_hidden;                      /* per direction */
    int qrnn_kernel;                      /* gate conv width (>= 1) */
    int qrnn_bidirectional;               /* 1: output is [forward; backward] (2 * hidden) */
    float zoneout;                        /* probability of forcing f = 1 in training */
    /* Transformer / Funnel encoder */
    int n_layers;
    int n_heads;
    int d_ff;
    int max_positions;                    /* learned positions after down-sampling */
    int pool_windows[ES_BYTE_MAX_LAYERS]; /* funnel: query pooling stride before layer i (1 = none) */
    /* regularisation (training only) */
    float dropout;                        /* on encoder outputs and the pooled vector */
    /* in-training quantization / int8 export (appended; src/quant/quant.h) */
    es_qat_config qat;                    /* JSON key "qat"; qat.enabled = 0 when absent */
} es_byte_config;

/* Defaults for an encoder (the ByteQRNN default is the shipped spam filter
 * shape). Labels default to "0", "1". */
void es_byte_config_default(es_byte_config *c, es_byte_encoder enc);
/* Parses config.json text (len bytes; `name` used in messages). Missing
 * keys keep the encoder's defaults; unknown keys are ignored; bad values
 * are ES_ERR_FORMAT naming the key. Validates with es_byte_config_check. */
es_status es_byte_config_from_json(es_byte_config *c, const char *json, size_t len,
                                   const char *name, es_error *err);
/* Serialises to JSON (es_malloc'd NUL-terminated string in *out). */
es_status es_byte_config_to_json(const es_byte_config *c, char **out, es_error *err);
/* Range checks (ES_ERR_ARG naming the field). */
es_status es_byte_config_check(const es_byte_config *c, es_error *err);
/* Encoder name <-> enum ("byteqrnn", ...). Returns -1 for an unknown name. */
int es_byte_encoder_from_name(const char *name);
const char *es_byte_encoder_name(es_byte_encoder e);

typedef struct es_byte_model es_byte_model;

/* New model with parameters initialised from `seed`. */
es_status es_byte_model_new(es_byte_model **out, const es_byte_config *cfg, uint64_t seed,
                            es_error *err);
/* Loads a folder written by es_byte_model_save_dir (config.json +
 * model.safetensors). Every tensor must be present with the exact shape
 * (ES_ERR_SHAPE / ES_ERR_FORMAT naming it). */
es_status es_byte_model_load_dir(es_byte_model **out, const char *dir, es_error *err);
/* Writes config.json and model.safetensors into dir (created if missing),
 * each atomically. */
es_status es_byte_model_save_dir(const es_byte_model *m, const char *dir, es_error *err);
void es_byte_model_free(es_byte_model *m);

const es_byte_config *es_byte_model_config(const es_byte_model *m);
/* The parameter registry (values; grads after es_byte_model_enable_grad). */
es_params *es_byte_model_params(es_byte_model *m);
/* Allocates gradient buffers (training). */
es_status es_byte_model_enable_grad(es_byte_model *m, es_error *err);
/* Number of scalar parameters. */
size_t es_byte_model_n_params(const es_byte_model *m);

/* Workspace for batches of up to max_batch inputs of up to max_bytes bytes
 * (<= config max_bytes). training = 1 also sizes the backward caches.
 * pool may be NULL (single thread); it is borrowed. */
typedef struct es_byte_ws es_byte_ws;
es_status es_byte_ws_new(es_byte_ws **out, const es_byte_model *m, int max_batch, int max_bytes,
                         int training, es_pool *pool, es_error *err);
void es_byte_ws_free(es_byte_ws *ws);

/* Forward pass. bytes[i] / lens[i] for i < B (lens > config max_bytes are
 * cut; an empty input is allowed). logits: (B, n_labels) caller-owned.
 * train = 1: dropout and zoneout drawn from rng (which must be non-NULL)
 * and activations cached for es_byte_backward; needs a training ws. */
es_status es_byte_forward(es_byte_ws *ws, const es_byte_model *m, const uint8_t *const *bytes,
                          const size_t *lens, int B, int train, es_rng *rng, float *logits,
                          es_error *err);
/* Backward of the last training forward: dlogits (B, n_labels) → adds
 * ∂/∂θ into the model's gradient buffer (accumulates; zero it yourself). */
es_status es_byte_backward(es_byte_ws *ws, es_byte_model *m, const float *dlogits,
                           es_error *err);
/* Probabilities (softmax over labels) of one input, eval mode. */
es_status es_byte_predict(es_byte_ws *ws, const es_byte_model *m, const uint8_t *bytes,
                          size_t n, float *probs, int n_probs, es_error *err);

#endif
