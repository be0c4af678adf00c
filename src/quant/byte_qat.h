/*
 * byte_qat.h — in-training quantization (QAT) and the int8 inference path
 * of the byte models (src/model/byte_*.c call these hooks; byte_qat.c).
 *
 * What is quantized (docs/quantization.md):
 *  - every parameter tensor of rank >= 2 (embedding, bottleneck, GBST conv
 *    and score, QRNN gate convs, Transformer projections, positions,
 *    attention-pool and head weights): symmetric int8, per output row or
 *    per tensor; fake-quantized in every forward once QAT is active, STE
 *    backward (identity: the symmetric range holds every weight);
 *  - ByteQRNN: the input of every QRNN layer (the GBST output for layer 0,
 *    the previous layer's output after): asymmetric uint8 with an EMA range
 *    per layer, STE backward (gradient zero outside the nudged range);
 *  - ByteTransformer / Funnel encoders of seq2seq models (no head): the
 *    input of every encoder GEMM (ES_BQ_* below); classifiers: weights only.
 * Biases, LayerNorm parameters and the QRNN recurrence stay float.
 *
 * State in the model (registered parameters that never receive a gradient,
 * so AdamW leaves them bit-unchanged, checkpoints and resume carry them,
 * and es_params_hash covers them):
 *   qat.act_range (P, 2)  [lo, hi] per activation point (P = qrnn_layers)
 *   qat.updates   (1)     training forwards seen (exact integer in a float)
 * QAT is active for a forward when the config has a "qat" block and either
 * the model is an int8 export or updates >= start_step. Ranges are tracked
 * from the first training forward (so they are warm at start_step).
 *
 * Mechanism: while QAT is active, a forward runs on a shadow copy of the
 * model struct whose value buffer holds the fake-quantized weights (biases
 * and other tensors copied), so every layer picks them up unchanged and
 * the backward writes into the real gradient buffer. The shadow is per
 * workspace (one thread at a time, as the workspace).
 */
#ifndef ES_QUANT_BYTE_QAT_H
#define ES_QUANT_BYTE_QAT_H

#include "model/byte_internal.h"
#include "quant/quant.h"

struct json_object;

/* Parses the optional "qat" object of a config.json into c (absent: c->enabled
 * = 0). Keys: weights ("per_channel" | "per_tensor"), activations (bool),
 * ema_decay (0..1), start_step (>= 0), int8 (bool). ES_ERR_FORMAT naming
 * the key. */
es_status es_qat_config_from_json(es_qat_config *c, struct json_object *cfg, es_error *err);
/* Adds the "qat" object to a config JSON object when c->enabled. */
void es_qat_config_to_json(const es_qat_config *c, struct json_object *cfg);

/* Registers qat.act_range / qat.updates when m->cfg.qat.enabled (call
 * after all other tensors). */
es_status es_byte_qat_register(es_byte_model *m, es_error *err);
/* 1 if tensor i is weight-quantized (rank >= 2, not qat.*). */
int es_byte_qat_is_weight(const es_params *ps, int i);

/* Weight binding hook for loading: if w holds `p->name` as I8, checks its
 * shape and `<name>.qscale` (F32, (rows) or (1)), writes q·s into dst and
 * sets *done = 1; otherwise *done = 0 (load it as float). */
es_status es_byte_qat_bind(float *dst, const es_param *p, es_weights *w, int *done,
                           es_error *err);

/* Workspace state: allocates ws->qat when m->cfg.qat.enabled (ES_ERR_NOMEM). */
es_status es_byte_qat_ws_alloc(es_byte_ws *ws, es_error *err);
void es_byte_qat_ws_free(es_byte_ws *ws);

/* Start of a forward (after argument checks): decides whether QAT is
 * active, counts a training forward, refreshes the fake-quantized weights
 * and, when active, points ws->m at the shadow model. Returns the model the
 * forward must use (m itself when inactive). No-op without ws->qat. */
const es_byte_model *es_byte_qat_enter(es_byte_ws *ws, const es_byte_model *m, int train);
/* End of the encoder forward: ws->m back to the caller's model. */
void es_byte_qat_leave(es_byte_ws *ws);
/* The model the last forward ran on (shadow or m), for the head and the
 * backward; its gradient buffer is m's. */
es_byte_model *es_byte_qat_model(es_byte_ws *ws, const es_byte_model *m);

/* ByteQRNN layer l, direction d: ws->qG[l][d] = gate pre-activations of
 * input x (rows1, din). Inactive: the float conv. Active: x fake-quantized
 * on the layer's EMA range (updated first when train; once per layer, at
 * d = 0) then the float conv on the fake-quantized weights; int8 export at
 * inference: uint8 codes × int8 weights → int32 (kernel table qgemm_nt),
 * rescaled once to float (bias added in float). */
void es_byte_qat_gates(es_byte_ws *ws, int l, int d, const float *x, int din, int train);
/* The conv input the last forward of layer l used (x itself when no
 * activation fake-quant ran). */
const float *es_byte_qat_input(const es_byte_ws *ws, int l, const float *x);
/* STE: zeroes dx (rows1, din) where the layer-l input x was outside its
 * range in the last training forward. */
void es_byte_qat_input_backward(const es_byte_ws *ws, int l, float *dx, const float *x, int din);

/* 1 if the last forward of ws ran the integer gate convs (tests, info). */
int es_byte_qat_int8_ran(const es_byte_ws *ws);

/* Writes an int8 copy of m (QAT config required) into dir: config.json
 * with "qat": {..., "int8": true} and model.safetensors with every
 * weight-quantized tensor as I8 plus `<name>.qscale` F32, the rest F32,
 * __metadata__ edgeseq_quant = "int8-sym-w/u8-act". Atomic writes.
 * ES_ERR_ARG when the model has no "qat" config. */
es_status es_byte_model_export_int8(const es_byte_model *m, const char *dir, es_error *err);


/* ---- ByteTransformer / Funnel encoders of seq2seq models -------------------
 * Activation fake-quant at every encoder GEMM input (asymmetric uint8, EMA
 * range, STE backward), only for encoder-only models (n_labels == 0: the
 * byte seq2seq encoders) with a "qat" block with activations; classifiers
 * keep their behaviour (no points, no new tensors). Points, 4 per layer l:
 *   ES_BQ_A1(l)   LN1 output → attn.qkv (queries in slot 0; funnel layers
 *                 quantize the separately normalised memory in slot 1 on
 *                 the same grid)
 *   ES_BQ_CTX(l)  attention output → attn.out
 *   ES_BQ_A2(l)   LN2 output → ffn.in
 *   ES_BQ_FF(l)   GELU output → ffn.out
 * State: qat.enc_act_range (4·n_layers, 2) [lo, hi] in the encoder registry
 * (no gradient, like qat.act_range). Files written before it existed load
 * with zero ranges: those points stay float in fake-quant forwards and use
 * the input's own range on the integer path.
 * int8 export at inference: uint8 codes × int8 weight codes → int32
 * (kernel table qgemm_nt) from the model's es_qweights store,
 *   y[r][n] = (acc[r][n] − zp·Σ_k w[n][k])·(s_a·s_w[n]) + b[n]. */
#define ES_BQ_A1(l) (4 * (l))
#define ES_BQ_CTX(l) (4 * (l) + 1)
#define ES_BQ_A2(l) (4 * (l) + 2)
#define ES_BQ_FF(l) (4 * (l) + 3)

/* 1 if the encoder forward must route its GEMMs through the hooks below
 * (points exist: QAT encoder of a seq2seq model). */
int es_byte_qat_tf_on(const es_byte_ws *ws);
/* Point pt's input: x (n floats, slot 0) and optionally xm (nm floats,
 * slot 1, or NULL): EMA update of the point's range from both when train,
 * then their fake-quantized copies (or uint8 codes on the integer path)
 * when QAT is active. */
void es_byte_qat_tf_act(es_byte_ws *ws, int pt, const float *x, size_t n, const float *xm,
                        size_t nm, int train);
/* y (N, M) = X·W[row0 : row0 + M]ᵀ + b with X the slot's input x (N, K) as
 * quantized by the last es_byte_qat_tf_act (x itself when the point was not
 * quantized); W = tensor widx (rows of K) of the model the forward runs on. */
void es_byte_qat_tf_linear(es_byte_ws *ws, int pt, int slot, int widx, int row0, float *y,
                           const float *x, const float *b, int N, int K, int M);
/* The GEMM input the last forward used at (pt, slot): its fake-quantized
 * copy, or x when the point was not quantized (backward: dW = dyᵀ·FQ(x)). */
const float *es_byte_qat_tf_in(const es_byte_ws *ws, int pt, int slot, const float *x);
/* STE: zeroes dx (n) where the (pt, slot) input x was outside the point's
 * nudged range in the last forward. */
void es_byte_qat_tf_ste(const es_byte_ws *ws, int pt, int slot, float *dx, const float *x,
                        size_t n);
/* 1 if the last forward ran the encoder's integer GEMMs (tests). */
int es_byte_qat_tf_int8_ran(const es_byte_ws *ws);

/* Gradient checks (tests): freeze = 1 replaces the encoder's fake-quants by
 * their straight-through surrogates around the current point (weights
 * W + (FQ(W0) − W0); transformer activations x + (FQ(x0) − x0) inside the
 * range of x0, FQ(x0) outside, x0 recorded at the next forward; ranges not
 * updated), so finite differences of the frozen forward equal the STE
 * gradient; freeze = 0 returns to normal. ES_ERR_ARG without QAT or on an
 * int8 workspace. (QRNN activation points are not frozen.) */
es_status es_byte_qat_freeze(es_byte_ws *ws, int freeze, es_error *err);

/* ---- int8 weight store ------------------------------------------------------
 * The int8 codes, row scales and row code sums of every weight matrix of a
 * registry, built once per int8 model (not per workspace) from its
 * dequantized values (q·s re-quantizes to exactly q). */
typedef struct es_qweights {
    int n;             /* registry tensors */
    int8_t **w8;       /* (n) codes (rows, cols), NULL for non-weights */
    float **sw;        /* (n) row scales (rows; per-tensor scales repeated) */
    int32_t **wsum;    /* (n) Σ of each row's codes */
    size_t bytes;      /* heap bytes held */
} es_qweights;

/* Store of the tensors of ps for which is_weight(ps, i) holds. ES_ERR_NOMEM. */
es_status es_qweights_new(es_qweights **out, const es_params *ps,
                          int (*is_weight)(const es_params *ps, int i), int per_channel,
                          es_error *err);
void es_qweights_free(es_qweights *q);

/* Drops the float values of the tensors with drop(ps, i) (int8-only
 * inference: they are read only through q's integer GEMMs): ps->data is
 * reallocated with the kept tensors only, and each dropped tensor's entry
 * aliases one NaN-filled guard block, so a stray float read poisons the
 * output instead of using stale values. ps must have no gradient buffer;
 * the registry can no longer be saved, exported or trained.
 * *freed_bytes = value bytes released. ES_ERR_NOMEM (ps unchanged). */
es_status es_params_drop_floats(es_params *ps, int (*drop)(const es_params *ps, int i),
                                size_t *freed_bytes, es_error *err);


/* ---- integer kernels of the QAT int8 paths -----------------------------------
 * C (M, N) = A (M, K)·B (N, K)ᵀ: A uint8 codes, B int8 codes (both rows of
 * K), C int32 (rows of N). Exact, so it equals the kernel table's qgemm_nt
 * bit for bit. M <= 32 (decoding steps, one word's encoder rows) runs an
 * AVX2 multi-row kernel when the CPU has it, without threads: each weight
 * row is widened once per 4 activation rows, the activation rows once per
 * call (the table kernel widens both for every row pair); larger M goes to
 * the table kernel (rows over the pool). a16: scratch of 4·K int16. */
void es_qat_qgemm(es_pool *pool, int32_t *C, const uint8_t *A, const int8_t *B, int M, int N,
                  int K, int16_t *a16);
/* uint8 codes of x (n): the codes of es_quant_act_u8 (same IEEE operations,
 * 8 lanes at a time when the CPU has AVX2). */
void es_qat_quant_u8(uint8_t *y, const float *x, size_t n, const es_qparams *q);

#endif
