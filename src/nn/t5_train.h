/*
 * t5_train.h — T5 training forward (caching every activation the backward
 * needs) and the full backward pass, for every part of the model: relative
 * position bias, RMS norm, masked self/cross attention, relu / gelu /
 * gated FFN, tied (with the d_model^-0.5 rescale) or untied LM head,
 * token-mean cross entropy with label -100 ignored, switchable dropout.
 *
 * Implemented in src/nn/t5_backward.c; the op backwards it uses are in
 * src/nn/ops_backward.c (declared at the end of this header). The weights
 * are an es_t5_model (model/t5.h) — the same struct the inference engine
 * runs — so a trained model and the inference forward share one layout;
 * gradients use the mirror struct es_t5_grads (same fields, writable).
 *
 * Legend as in model/t5.h: B rows, S source tokens, T decoder positions,
 * D d_model, H heads, dk d_kv, I = H·dk, F d_ff, V vocab, NB buckets.
 * Derivations (attention, RMS norm, tied head): docs/t5-training.md.
 */
#ifndef ES_NN_T5_TRAIN_H
#define ES_NN_T5_TRAIN_H

#include "core/rng.h"
#include "model/t5.h"

/* Gradient views, same layout as es_t5_block / es_t5_model. */
typedef struct es_t5_gblock {
    float *ln_sa, *q, *k, *v, *o;
    float *ln_ca, *cq, *ck, *cv, *co; /* decoder only */
    float *ln_ff, *wi, *wi1, *wo;     /* wi1 NULL unless gated */
} es_t5_gblock;

typedef struct es_t5_grads {
    float *embed;        /* (V, D) */
    float *lm_head;      /* (V, D); == embed when tied (contributions summed) */
    float *enc_rel, *dec_rel;          /* (NB, H) */
    float *enc_final_ln, *dec_final_ln; /* (D) */
    es_t5_gblock *enc, *dec;
} es_t5_grads;

/* One teacher-forcing batch (borrowed). ids/mask (B, S), mask 1 = token,
 * right-padded; dec_in (B, T) = [start] + target[:-1]; labels (B, T) with
 * -100 where ignored (padding). Ids outside [0, V) are ES_ERR_ARG. */
typedef struct es_t5_batch {
    int B, S, T;
    const int32_t *ids, *mask;
    const int32_t *dec_in, *labels;
} es_t5_batch;

#define ES_T5_IGNORE_INDEX (-100)

/* Training workspace for batches up to (max_B, max_S, max_T): every cached
 * activation and backward scratch, allocated once by es_t5_tws_init. With
 * with_dropout = 0 no mask buffers exist and dropout must be 0. */
typedef struct es_t5_tws es_t5_tws;

es_status es_t5_tws_new(es_t5_tws **out, const es_t5_config *c, es_pool *pool, int max_B,
                        int max_S, int max_T, int with_dropout, es_error *err);
void es_t5_tws_free(es_t5_tws *ws);
/* Bytes the workspace holds (for messages / sizing). */
size_t es_t5_tws_bytes(const es_t5_tws *ws);

/* Forward over the batch, cross entropy, and (when g != NULL) backward.
 * Returns Σ over labelled tokens of −log softmax(logits)[label] (double);
 * *n_tokens receives their number. Gradients are ACCUMULATED into g with
 * dlogits = grad_scale·(softmax − onehot) — pass grad_scale = 1/n_tokens of
 * the whole optimizer step for HF's token-mean loss. dropout in [0, 1):
 * HF T5 placement (embeddings, attention probabilities, every sublayer
 * output, FFN hidden, final norms), masks drawn serially from rng (may be
 * NULL when dropout = 0). ES_ERR_ARG when the batch exceeds the workspace
 * or dropout > 0 without mask buffers. Deterministic for any thread count. */
es_status es_t5_train_forward_backward(es_t5_tws *ws, const es_t5_model *w, const es_t5_grads *g,
                                       const es_t5_batch *b, float dropout, es_rng *rng,
                                       float grad_scale, double *loss_sum, int *n_tokens,
                                       es_error *err);

/* ---- op backwards (src/nn/ops_backward.c) --------------------------------- */

/* RMS norm backward for y = w ⊙ x·r, r = 1/sqrt(mean(x²) + eps) computed as
 * es_rmsnorm_f32 does. dx (rows, n) += ∂L/∂x; dw (n) += Σ_rows dy ⊙ x·r.
 * dx may not alias dy. Rows are visited in order (deterministic). */
void es_rmsnorm_backward_f32(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, int rows, int n, float eps);
/* Derivatives of the activations at pre-activation h: d (n) *= act'(h). */
void es_relu_backward_f32(float *d, const float *h, size_t n);
void es_gelu_tanh_backward_f32(float *d, const float *h, size_t n);
void es_gelu_erf_backward_f32(float *d, const float *h, size_t n);
/* Softmax backward for one row: ds_j = p_j (dp_j − Σ_k p_k dp_k), in
 * place on dp (n). Entries with p = 0 (masked) get 0. */
void es_softmax_backward_f32(float *dp, const float *p, int n);

#endif
