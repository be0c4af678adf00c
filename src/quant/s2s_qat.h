/*
 * s2s_qat.h — in-training quantization (QAT) and the int8 inference path
 * of the byte seq2seq models' merged-attention decoder
 * (src/model/byte_seq2seq.c calls these hooks; s2s_qat.c). The encoder
 * (weights, and the transformer's GEMM inputs: ES_BQ_* points) goes
 * through the byte models' hooks (byte_qat.h) because the encoder is an
 * es_byte_model sharing the config's "qat" block.
 *
 * Scheme (equations in quant.h, docs/quantization.md):
 *  - every decoder weight matrix (dec.embed, dec.pos, matt q/k/v/u/o, FFN
 *    fc1/fc2; rank >= 2): symmetric int8 per output row (or per tensor),
 *    fake-quantized in every forward while QAT is active, STE backward
 *    (identity: the symmetric range holds every weight). The tied output
 *    projection uses dec.embed's grid, so its rows are per-token scales.
 *  - the input of every decoder GEMM: asymmetric uint8 with an EMA range,
 *    one range per "point" (below); STE backward, zero gradient outside
 *    the nudged range. Biases, LayerNorms, the attention softmax, the
 *    uniform running sum and GELU stay float.
 * Points (P = 2 + 4·n_layers):
 *   ES_S2SQ_ENC      encoder output → k, v of every layer (one shared grid)
 *   ES_S2SQ_HF       final LayerNorm output → tied logits
 *   ES_S2SQ_A1(l)    LN1 output → q, u        ES_S2SQ_Z(l)   c + u → o
 *   ES_S2SQ_A2(l)    LN2 output → fc1         ES_S2SQ_FF(l)  GELU → fc2
 * State in the decoder registry (never receives a gradient, so AdamW leaves
 * it unchanged and checkpoints / resume carry it):
 *   dec.qat.act_range (P, 2) [lo, hi];  dec.qat.updates (1) training forwards.
 * Active: config has "qat" and (int8 export or updates >= start_step);
 * ranges are tracked from the first training forward. Training forwards
 * quantize with the range just updated; others with the stored range.
 * int8 export at inference (not a training workspace): every decoder GEMM
 * is uint8 codes × int8 weight codes → int32 (es_qat_qgemm: exact, so the
 * kernel table's qgemm_nt bits), weight codes from the model's es_qweights,
 *   y[r][n] = (acc[r][n] − zp·Σ_k w[n][k])·(s_a·s_w[n]) + b[n],
 * which is the fake-quant GEMM Σ_k (a−zp)s_a·w s_w computed exactly.
 */
#ifndef ES_QUANT_S2S_QAT_H
#define ES_QUANT_S2S_QAT_H

#include "core/pool.h"
#include "nn/matt.h"
#include "nn/params.h"
#include "quant/quant.h"

#define ES_S2SQ_ENC 0
#define ES_S2SQ_HF 1
#define ES_S2SQ_A1(l) (2 + 4 * (l))
#define ES_S2SQ_Z(l) (3 + 4 * (l))
#define ES_S2SQ_A2(l) (4 + 4 * (l))
#define ES_S2SQ_FF(l) (5 + 4 * (l))

typedef struct es_s2s_qat es_s2s_qat;
struct es_weights;
struct es_s2s_model;

/* Points of a decoder with n_layers layers. */
int es_s2s_qat_n_points(int n_layers);
/* Registers dec.qat.updates and dec.qat.act_range in the decoder registry
 * (call after every other decoder tensor). */
es_status es_s2s_qat_register(es_params *ps, int n_layers, es_error *err);
/* 1 if decoder tensor i is weight-quantized (rank >= 2, not dec.qat.*). */
int es_s2s_qat_is_weight(const es_params *ps, int i);
/* Loads decoder tensor i from w into ps->data: I8 codes + `<name>.qscale`
 * for weight matrices (es_byte_qat_bind checks shape, dtype, scales),
 * float otherwise; an I8 tensor that is not a weight matrix is refused
 * (ES_ERR_FORMAT naming it). */
es_status es_s2s_qat_load_tensor(es_params *ps, int i, struct es_weights *w, es_error *err);

/* Workspace geometry. */
typedef struct es_s2s_qat_dims {
    int n_layers, D, De, F, V;
    size_t rows;       /* decoder rows: max(teacher-forced B·T, step rows) */
    size_t rows_enc;   /* encoder rows: max(teacher-forced rows_e, one input's positions) */
    int training;      /* training workspace (no integer path) */
    const struct es_qweights *q8; /* int8 model: the decoder's int8 store (byte_qat.h),
                                     borrowed; NULL: built for this workspace */
} es_s2s_qat_dims;

/* Workspace state for a decoder registry ps with the "qat" config qc
 * (qc->enabled). When qc->int8 and not training, the integer GEMMs read
 * d->q8 (or a store built here when NULL) and the decoder runs on ps
 * itself (no fake-quantized shadow copy). ES_ERR_NOMEM. */
es_status es_s2s_qat_new(es_s2s_qat **out, const es_params *ps, const es_qat_config *qc,
                         const es_s2s_qat_dims *d, es_error *err);
void es_s2s_qat_free(es_s2s_qat *q);

/* Start of a teacher-forced forward (count = train) or of es_s2s_prime
 * (count = 0): decides whether QAT is active, counts a training forward,
 * refreshes the fake-quantized weights when the masters changed. Returns
 * the registry the decoder reads (the shadow with fake-quantized values
 * and ps's gradient buffer, or ps itself when inactive). */
const es_params *es_s2s_qat_enter(es_s2s_qat *q, es_params *ps, int train);
/* The registry of the last enter (for steps and the backward); its
 * gradient buffer is refreshed from ps. */
es_params *es_s2s_qat_params(es_s2s_qat *q, es_params *ps);
/* 1 if the last enter made the decoder run integer GEMMs. */
int es_s2s_qat_int8_ran(const es_s2s_qat *q);

/* Point pt's input x (n floats): EMA update when train, then its grid and
 * fake-quantized copy (or uint8 codes on the integer path) when active. */
void es_s2s_qat_act(es_s2s_qat *q, int pt, const float *x, size_t n, int train);
/* STE: zeroes dx (n) where point pt's input x was outside its nudged range
 * in the last forward (no-op when the point was not quantized). */
void es_s2s_qat_ste(const es_s2s_qat *q, int pt, float *dx, const float *x, size_t n);
/* y (N, M) = X·Wᵀ + b (b may be NULL) with X point pt's input x (N, K) as
 * quantized by the last es_s2s_qat_act, W tensor widx of the registry. */
void es_s2s_qat_linear(es_s2s_qat *q, es_pool *pool, int pt, int widx, float *y, const float *x,
                       const float *b, int N, int K, int M);
/* Backward of es_s2s_qat_linear: dx written (STE applied), dW / db
 * accumulated into ps's gradients (db may be NULL). */
void es_s2s_qat_linear_backward(es_s2s_qat *q, es_pool *pool, int pt, int widx, float *dx,
                                float *db, const float *dy, const float *x, int N, int K, int M);

/* Decoder sublayers with their points; same contracts as es_matt_forward /
 * es_matt_backward / es_matt_memory / es_matt_step and es_ffn_forward /
 * es_ffn_backward (nn/matt.h, nn/ffn.h), except: w holds the registry
 * indices {q, k, v, u, o}; the caller ran es_s2s_qat_act(ES_S2SQ_ENC) on
 * enc first and applies es_s2s_qat_ste(ES_S2SQ_ENC) to the accumulated
 * denc at the end; dx is written (never accumulated), STE applied. */
void es_s2s_qat_matt_forward(es_s2s_qat *q, es_pool *pool, int l, const int w[5], float *y,
                             const es_matt_cache *c, const float *x, const float *enc,
                             const es_matt_shape *sh, int train);
void es_s2s_qat_matt_backward(es_s2s_qat *q, es_pool *pool, int l, const int w[5], float *dx,
                              float *denc, int acc_denc, const float *dy, const es_matt_cache *c,
                              const float *x, const float *enc, const es_matt_shape *sh,
                              const es_matt_scratch *s);
void es_s2s_qat_matt_memory(es_s2s_qat *q, es_pool *pool, const int w[5], float *k, float *v,
                            const float *enc, int Le, int De, int D);
void es_s2s_qat_matt_step(es_s2s_qat *q, es_pool *pool, int l, const int w[5], float *y,
                          float *R, const float *x, const float *k, const float *v, int Le, int n,
                          int t, int D, int H, float *scratch);
/* w: {fc1.weight, fc1.bias, fc2.weight, fc2.bias} registry indices. */
void es_s2s_qat_ffn_forward(es_s2s_qat *q, es_pool *pool, int l, const int w[4], float *y,
                            float *h, float *a, const float *x, int N, int D, int F, int train);
void es_s2s_qat_ffn_backward(es_s2s_qat *q, es_pool *pool, int l, const int w[4], float *dx,
                             const float *dy, const float *x, const float *h, const float *a,
                             int N, int D, int F, float *scratch);

/* Gradient checks (tests): freeze = 1 replaces every fake-quant by its
 * straight-through surrogate around the current point — weights W + (FQ(W0)
 * − W0), activations x + (FQ(x0) − x0) inside the range of x0 and FQ(x0)
 * outside — recorded at the next forward, so finite differences of the
 * frozen forward equal the STE gradient. Ranges are not updated while
 * frozen. freeze = 0 returns to normal. */
es_status es_s2s_qat_freeze(es_s2s_qat *q, const es_params *ps, int freeze, es_error *err);

/* Turns QAT on for a float model: *m is rebuilt with the "qat" block qc
 * (enabled forced on, int8 off) and every tensor copied by name; the QAT
 * state starts at zero (ranges tracked from the next training forward).
 * A model that already has a "qat" block is left unchanged (its ranges
 * and counter are kept). On error *m is unchanged. */
es_status es_s2s_qat_enable(struct es_s2s_model **m, const es_qat_config *qc, es_error *err);

/* Writes the int8 form of a QAT-trained seq2seq model into dir:
 * config.json with "qat": {..., "int8": true}, model.safetensors with every
 * weight matrix of encoder and decoder as I8 + `<name>.qscale` F32 (rows)
 * or (1), everything else (biases, norms, qat state incl. activation
 * ranges) F32, __metadata__ edgeseq_quant = "int8-sym-per-channel/u8-act"
 * (or per-tensor). Atomic writes. ES_ERR_ARG when the model has no "qat". */
es_status es_s2s_model_export_int8(const struct es_s2s_model *m, const char *dir, es_error *err);

#endif
