/*
 * sattn.h — standard multi-head attention sublayers of the byte seq2seq
 * "standard" decoder (decoder.self_attention = "standard", the baseline
 * the merged-attention decoder of matt.h is compared against, issue #7):
 * causal self-attention over the decoder's own rows, and encoder-decoder
 * cross-attention, each with its own Q/K/V/O maps (no biases, as matt.h):
 *
 *   q = W_q x,  k = W_k m,  v = W_v m     m = x (self) or the encoder rows
 *   c_t = ⊕_h Σ_{s∈K(t)} softmax_s(q_{t,h}·k_{s,h} / √d_h) v_{s,h}
 *   y_t = W_o c_t
 *
 * K(t) = {0..t} for causal self-attention (t 0-based), the sequence's
 * valid encoder positions for cross-attention (none: c_t = 0, as matt.h).
 *
 * Legend: B sequences; query (decoder) rows are plain (B, T), row b·T + t,
 * len[b] ≤ T valid; key/value rows: the same rows for self-attention, the
 * seq.h layout `skv` (margins and pads zero) for cross-attention; D model
 * width, Dkv key/value source width (= D for self), H heads of d_h = D/H,
 * S key capacity (T for self, skv->T for cross).
 *
 * Training (parallel over positions): es_sattn_forward caches q, k, v,
 * the probabilities P (B, H, T, S) (decoder outputs are ≤ max_out = tens
 * of positions, so P is small) and c; es_sattn_backward:
 *   dc = dy·W_o, dW_o += dyᵀc;  per head: dp_s = dc_h·v_{s,h},
 *   ds_s = p_s (dp_s − Σ p⊙dp)/√d_h,  dq_h = Σ_s ds_s k_{s,h},
 *   dk_{s,h} += ds_s q_h,  dv_{s,h} += p_s dc_h;  then dx, dm, dW_{q,k,v}.
 * For self-attention dq, dk and dv all flow into dx. One task per
 * sequence b (it owns b's rows of dq, dk, dv), GEMMs through linear.h:
 * results do not depend on the thread count.
 *
 * Inference: cross-attention keys/values are computed once per input
 * (es_sattn_memory); self-attention keeps a per-row K/V cache of ldc ≥
 * max_out positions (sized once by the caller) and a step at position t
 * appends row t and attends over t+1 keys, so its cost grows with t. Step
 * and parallel forward share one per-row attention routine and the same
 * accumulation order, so step-wise outputs equal the parallel ones up to
 * GEMM blocking (tests/unit/test_sattn.c).
 */
#ifndef ES_NN_SATTN_H
#define ES_NN_SATTN_H

#include "core/pool.h"
#include "nn/seq.h"

/* Weights (PyTorch nn.Linear layout, no biases). */
typedef struct es_sattn_w {
    const float *wq; /* (D, D) */
    const float *wk; /* (D, Dkv) */
    const float *wv; /* (D, Dkv) */
    const float *wo; /* (D, D) */
} es_sattn_w;

/* Their gradients (accumulated; any may be NULL to skip). */
typedef struct es_sattn_g {
    float *wq, *wk, *wv, *wo;
} es_sattn_g;

typedef struct es_sattn_shape {
    int B, T;          /* query rows: B·T */
    const int *len;    /* (B) valid query positions, each in [0, T] */
    const es_seq *skv; /* NULL: causal self-attention; else the key/value layout (B the same) */
    int D, Dkv, H;     /* Dkv = D for self-attention */
} es_sattn_shape;

/* Training cache, caller-owned (sizes in floats). rows_kv = B·T (self) or
 * es_seq_rows(skv) (cross). */
typedef struct es_sattn_cache {
    float *q;  /* (B·T, D) */
    float *k;  /* (rows_kv, D) */
    float *v;  /* (rows_kv, D) */
    float *p;  /* (B, H, T, S) attention probabilities */
    float *c;  /* (B·T, D) concatenated heads, before W_o */
} es_sattn_cache;

/* Backward scratch, caller-owned. */
typedef struct es_sattn_scratch {
    float *dc, *dq; /* (B·T, D) each */
    float *dk, *dv; /* (rows_kv, D) each */
    float *dp;      /* (B, S) */
} es_sattn_scratch;

/* y (B·T, D) = Attn(x (B·T, D), m); m = x for self-attention (pass x or
 * NULL), the encoder rows (rows_kv, Dkv) for cross-attention. Rows t ≥
 * len[b] of y are zero; x must be zero there for self-attention (pads
 * never act as keys anyway: the causal bound stops at t < len). Fills
 * the cache. */
void es_sattn_forward(es_pool *pool, float *y, const es_sattn_cache *c, const float *x,
                      const float *m, const es_sattn_w *w, const es_sattn_shape *sh);
/* Backward of es_sattn_forward with the same inputs and cache. dy must be
 * zero on pad rows. dx (B·T, D) is written (acc_dx = 0) or added to
 * (acc_dx = 1); for self-attention it receives the q, k and v paths and
 * dm is ignored. For cross-attention dm (rows_kv, Dkv) is written or
 * added to (acc_dm); dx / dm may be NULL. */
void es_sattn_backward(es_pool *pool, float *dx, int acc_dx, float *dm, int acc_dm,
                       const es_sattn_g *g, const float *dy, const es_sattn_cache *c,
                       const float *x, const float *m, const es_sattn_w *w,
                       const es_sattn_shape *sh, const es_sattn_scratch *s);

/* Cross-attention memory for step-wise decoding of ONE input: k, v (Le, D)
 * from m (Le, Dkv) (contiguous valid rows). */
void es_sattn_memory(es_pool *pool, float *k, float *v, const float *m, int Le, int Dkv, int D,
                     const es_sattn_w *w);

/* One cross-attention step for n rows sharing one memory (k, v of
 * es_sattn_memory, Le rows; Le = 0 allowed): y (n, D) from x (n, D).
 * scratch: 2·n·D + H·max(Le, 1) floats. */
void es_sattn_cross_step(es_pool *pool, float *y, const float *x, const float *k, const float *v,
                         int Le, const es_sattn_w *w, int n, int D, int H, float *scratch);

/* One causal self-attention step at 0-based position t < ldc for n rows:
 * Kc, Vc (n, ldc, D) hold row r's keys/values of positions < t (row r at
 * offset r·ldc·D); this step writes position t's and attends over t + 1.
 * y (n, D) from x (n, D). scratch: 4·n·D + H·(t + 1) floats. */
void es_sattn_self_step(es_pool *pool, float *y, float *Kc, float *Vc, int ldc, const float *x,
                        const es_sattn_w *w, int n, int t, int D, int H, float *scratch);

#endif
