/*
 * byte_seq2seq.h — byte-in, symbols-out sequence-to-sequence models: a
 * byte encoder (ByteQRNN / ByteTransformer / ByteFunnelTransformer, the
 * classifiers' encoders without pooling and head) + a merged-attention
 * decoder (src/nn/matt.h) with a fixed-size cache. Equations, tensor names
 * and the folder format: docs/seq2seq.md.
 *
 * Output vocabulary (V = 2 + n_symbols ids):
 *   0 = start "<s>" (decoder input only, never generated),
 *   1 = end "</s>",
 *   2 + i = symbol i: byte i when the config has no "symbols" (256
 *   symbols, output text = the bytes), else the i-th string of the
 *   config's "symbols" list (e.g. ARPAbet phones; output text = symbols
 *   joined by single spaces, as CMUdict writes pronunciations).
 * Targets given to training are SYMBOL indices (0 ≤ y < n_symbols); the
 * model appends the end id itself.
 *
 * Split by lifetime: es_s2s_model (config + parameters; immutable while
 * workspaces run on it, except through training), es_s2s_ws (activations
 * for (max_batch, max_out) teacher forcing and (max_rows, ·) step-wise
 * decoding, sized once; one thread at a time).
 */
#ifndef ES_MODEL_BYTE_SEQ2SEQ_H
#define ES_MODEL_BYTE_SEQ2SEQ_H

#include "core/pool.h"
#include "core/rng.h"
#include "decode/decode.h"
#include "model/byte_model.h"
#include "nn/params.h"

#define ES_S2S_START 0
#define ES_S2S_EOS 1
#define ES_S2S_N_SPECIAL 2
#define ES_S2S_MAX_SYMBOLS 65536
#define ES_S2S_SYMBOL_MAX 64 /* bytes per symbol string, incl. NUL */

typedef struct es_s2s_config {
    es_byte_config enc;   /* encoder; n_labels is 0 (no head) */
    int d_model;          /* decoder width D */
    int n_layers;         /* decoder layers (1..ES_BYTE_MAX_LAYERS) */
    int n_heads;          /* cross-attention heads, divides d_model */
    int d_ff;             /* FFN width */
    int max_out;          /* decoder positions incl. the end id: outputs have <= max_out ids */
    int n_symbols;        /* 0 = bytes (256 symbols) */
    const char *const *symbols; /* n_symbols strings (borrowed; the model keeps a copy) */
    int self_attention;   /* ES_S2S_SELF_MERGED (default) or ES_S2S_SELF_STANDARD */
} es_s2s_config;

/* Decoder self-attention (config.json decoder.self_attention):
 * "merged": merged attention (src/nn/matt.h), a fixed-size running-sum
 *   cache per layer; "standard": causal multi-head self-attention +
 *   cross-attention as separate sublayers with a (rows, max_out) K/V cache
 *   per layer (src/model/byte_seq2seq_std.h), the baseline of issue #7. */
#define ES_S2S_SELF_MERGED 0
#define ES_S2S_SELF_STANDARD 1

/* Defaults: ByteQRNN encoder (d_model 32, downsample 1, 1 bidirectional
 * layer), decoder D = 64, 2 layers, 4 heads, d_ff 128, max_out 64, bytes. */
void es_s2s_config_default(es_s2s_config *c);

typedef struct es_s2s_model es_s2s_model;

/* New model, parameters initialised from seed. Checks the config
 * (ES_ERR_ARG naming the field); symbols are copied. */
es_status es_s2s_model_new(es_s2s_model **out, const es_s2s_config *cfg, uint64_t seed,
                           es_error *err);
/* New model from config.json text (model_type "edgeseq-byte-seq2seq";
 * missing keys take the defaults; ES_ERR_FORMAT naming the key). */
es_status es_s2s_model_from_json(es_s2s_model **out, const char *json, size_t len,
                                 const char *name, uint64_t seed, es_error *err);
struct json_object;
struct es_weights;
/* From a parsed config.json and an open weight set (tensors copied). */
es_status es_s2s_model_from_weights(es_s2s_model **out, const char *dir,
                                    struct json_object *cfgobj, struct es_weights *w,
                                    es_error *err);
/* Folder: config.json + model.safetensors (F32), each written atomically. */
es_status es_s2s_model_save_dir(const es_s2s_model *m, const char *dir, es_error *err);
es_status es_s2s_model_load_dir(es_s2s_model **out, const char *dir, es_error *err);
void es_s2s_model_free(es_s2s_model *m);

const es_s2s_config *es_s2s_model_config(const es_s2s_model *m);
/* Output vocabulary size V = 2 + n_symbols (258 for bytes). */
int es_s2s_model_vocab(const es_s2s_model *m);
size_t es_s2s_model_n_params(const es_s2s_model *m);
/* Parameter registries: the encoder's (an es_byte_model) and the decoder's. */
es_params *es_s2s_model_enc_params(es_s2s_model *m);
es_params *es_s2s_model_dec_params(es_s2s_model *m);
es_status es_s2s_model_enable_grad(es_s2s_model *m, es_error *err);
/* The config as JSON (es_malloc'd). */
es_status es_s2s_config_to_json(const es_s2s_model *m, char **out, es_error *err);

/* Appends the text of output ids to out (cap bytes incl. a NUL): bytes for
 * a byte vocabulary, symbols separated by one space otherwise; ids 0/1
 * (start/end) print nothing; unknown ids print "<id_N>". *len_out gets the
 * length needed (excluding NUL); ES_ERR_BUFFER when cap is too small. */
es_status es_s2s_ids_to_text(const es_s2s_model *m, const int32_t *ids, size_t n, char *out,
                             size_t cap, size_t *len_out, es_error *err);

typedef struct es_s2s_ws es_s2s_ws;

/* Workspace: teacher forcing for up to max_batch examples (training = 1
 * also sizes the backward), step-wise decoding of one input with up to
 * max_rows beams. pool borrowed (may be NULL). */
es_status es_s2s_ws_new(es_s2s_ws **out, const es_s2s_model *m, int max_batch, int max_rows,
                        int training, es_pool *pool, es_error *err);
void es_s2s_ws_free(es_s2s_ws *ws);

/* Teacher-forced forward of B examples: src[b] (src_lens[b] bytes, cut to
 * the encoder's max_bytes), tgt[b] symbol indices (tgt_lens[b] <= max_out
 * - 1; ES_ERR_ARG otherwise or for an index out of range). Logits of the
 * decoder positions come back through es_s2s_logits. train = 1 caches for
 * es_s2s_backward (training workspace and rng needed). */
es_status es_s2s_forward(es_s2s_ws *ws, const es_s2s_model *m, const uint8_t *const *src,
                         const size_t *src_lens, const int32_t *const *tgt,
                         const size_t *tgt_lens, int B, int train, es_rng *rng, es_error *err);
/* Logits of the last forward: (n_rows, V) with n_rows = B·T; *targets
 * (n_rows) holds the vocabulary id each row predicts, -1 on pad rows.
 * dlogits: a (n_rows, V) buffer the loss fills for es_s2s_backward. */
const float *es_s2s_logits(const es_s2s_ws *ws, int *n_rows, const int32_t **targets);
float *es_s2s_dlogits(es_s2s_ws *ws);
/* Backward of the last training forward from es_s2s_dlogits (pad rows
 * zero): adds gradients to both parameter registries. */
es_status es_s2s_backward(es_s2s_ws *ws, es_s2s_model *m, es_error *err);

/* Step-wise decoding of one input: encodes src, precomputes every layer's
 * cross-attention keys/values and empties the running sums. Then
 * es_s2s_dec_model(ws) drives es_decode_* / es_byte_beam (step at
 * position p < max_out on up to max_rows rows; the start id and positions
 * beyond max_out are refused). Memory is fixed: per layer a (max_rows, D)
 * running sum, whatever the output length. */
es_status es_s2s_prime(es_s2s_ws *ws, const es_s2s_model *m, const uint8_t *src, size_t n,
                       es_error *err);
es_dec_model es_s2s_dec_model(es_s2s_ws *ws);

/* QAT / int8 decoder state of a workspace (src/quant/s2s_qat.h), NULL when
 * the model has no "qat" block. */
struct es_s2s_qat *es_s2s_ws_qat(es_s2s_ws *ws);
/* Gradient checks (tests): freezes (1) / unfreezes (0) the fake-quants of
 * decoder and encoder to their straight-through surrogates
 * (es_s2s_qat_freeze, es_byte_qat_freeze). ES_ERR_ARG without "qat". */
es_status es_s2s_ws_qat_freeze(es_s2s_ws *ws, int freeze, es_error *err);
/* 1 if the last encoder forward of ws ran the transformer encoder's
 * integer GEMMs (int8 export with encoder activation points). */
int es_s2s_ws_enc_int8_ran(const es_s2s_ws *ws);
/* Encoder output of the last forward / prime (tests): *rows rows of the
 * encoder width, in the encoder's row layout. */
const float *es_s2s_ws_enc_output(const es_s2s_ws *ws, size_t *rows);

/* int8 exports loaded for inference only (es_model sessions): frees the
 * float values of every weight matrix that only integer GEMMs read
 * (decoder projections and FFN; transformer encoder projections and FFN),
 * keeping the int8 codes; lookup tables (byte embedding, GBST conv,
 * positions, dec.embed for the input side) stay float. Afterwards the model
 * cannot be saved, exported or trained (ES_ERR_ARG). *freed = bytes
 * released; no-op for float models. */
es_status es_s2s_model_int8_only(es_s2s_model *m, size_t *freed, es_error *err);
int es_s2s_model_is_int8_only(const es_s2s_model *m);

#endif
