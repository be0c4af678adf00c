/*
 * t5_quant.h — reduced-precision T5 folders: writing them (`edgeseq
 * quantize`) and the loader's side (scheme check, binding of BF16 / I8
 * projection weights to model/t5_linear.h handles).
 *
 * Folder layout (still config.json + model.safetensors [+ spiece.model]):
 *   __metadata__ edgeseq_format "1", edgeseq_quant "t5-int8" | "t5-bf16" |
 *   "t5-f16", edgeseq_quant_group "<G>" (int8; 0 = per output channel)
 *   config.json  the source config + "quantization": {"dtype": "int8" |
 *                "bf16" | "f16", "group": G, "weights": ..., "activations": ...}
 *   int8: every 2-D projection, the shared embedding and an untied LM
 *         head as I8 (N, K) codes + "<name>.qscale" F32 (N, K/G) (or (N, 1)
 *         per output channel); RMS-norm weights and relative biases F32.
 *   bf16 / f16: the same matrices as BF16 / F16, the rest F32.
 * Loader rule: no edgeseq_quant key → a plain checkpoint (any float dtype,
 * upcast at load as before). A key this build does not know → refused
 * (ES_ERR_UNSUPPORTED naming the scheme). Loaders older than this scheme
 * refuse int8 folders through the I8 dtype check of es_model_tensor
 * (ES_ERR_FORMAT naming the tensor); bf16/f16 folders are valid plain
 * checkpoints for them (upcast to fp32, same numbers).
 */
#ifndef ES_QUANT_T5_QUANT_H
#define ES_QUANT_T5_QUANT_H

#include "io/weights.h"
#include "model/t5_linear.h"

struct json_object;

typedef enum es_t5_qscheme {
    ES_T5_Q_NONE = 0,
    ES_T5_Q_INT8 = 1,
    ES_T5_Q_BF16 = 2,
    ES_T5_Q_F16 = 3
} es_t5_qscheme;

/* The scheme of a loaded folder (edgeseq_quant metadata, cross-checked
 * with config.json "quantization"); errors name `dir`. */
es_status es_t5_quant_scheme(int *out, const es_weights *w, const struct json_object *config,
                             const char *dir, es_error *err);

/* Binds tensor t (checked by the caller to exist) as a BF16 or I8 handle
 * of shape (lin->N, lin->K) under scheme q: dtype, shape, the .qscale
 * tensor (F32, (N, G) with K % G == 0, finite, > 0), alignment (copies
 * owned by w when needed) and the per-group code sums. */
es_status es_t5_quant_bind(es_weights *w, es_t5_lin *lin, const es_tensor_view *t, int q,
                           es_error *err);

/* True for auxiliary tensors of a quantized folder ("<name>.qscale"). */
bool es_t5_quant_is_aux(const es_weights *w, const char *name);

/* Quantizes one matrix W (N, K) to int8: codes (N, K), scales (N, K/G);
 * group G = 0 means per output channel (G = K). s = max|W_group| / 127
 * (1 for an all-zero group), q = clamp(rint(W / s), ±127). */
void es_t5_quant_matrix(int8_t *codes, float *scales, const float *W, int N, int K, int G);

/* Writes the reduced-precision form of the T5 folder in_dir to out_dir
 * (created if missing): dtype "int8" (group G, 0 = per channel; G must
 * divide d_model, d_ff and n_heads*d_kv and be <= ES_T5_LIN_KCHUNK),
 * "bf16" or "f16". Loads in_dir first (so only valid T5 folders are
 * converted); refuses an already-quantized input. Files are written
 * atomically; spiece.model is copied. *bytes_out (may be NULL) receives
 * the size of the written model.safetensors. */
es_status es_t5_quantize_dir(const char *in_dir, const char *out_dir, const char *dtype, int G,
                             uint64_t *bytes_out, es_error *err);

#endif
