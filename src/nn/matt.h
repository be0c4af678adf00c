/*
 * matt.h — merged attention (MAtt, Zhang, Titov & Sennrich, EMNLP 2019),
 * the decoder sublayer of the byte seq2seq models: the self-attention of
 * a Transformer decoder is replaced by a causal cumulative AVERAGE
 * (AAN-style, no gate, no FFN) and merged with encoder-decoder attention
 * before ONE output projection:
 *
 *   u_t = (1/(t+1)) Σ_{j≤t} W_u x_j                      uniform causal self path
 *   c_t = ⊕_h Σ_s softmax_s(q_{t,h}·k_{s,h} / √d_h) v_{s,h}   cross attention,
 *         q = W_q x,  k = W_k e,  v = W_v e  (e: encoder output rows)
 *   y_t = W_o (c_t + u_t)
 *
 * (t is 0-based here.) As SeqFlowLite (docs/seq2seq.md): W_u separate from
 * the cross-attention value map, no biases; unlike SeqFlowLite we scale
 * by 1/√d_h because there is no BatchNorm on q/k to keep logits O(1).
 * An encoder with zero valid positions gives c_t = 0 (the softmax over an
 * empty set is defined as contributing nothing), so an empty input still
 * decodes.
 *
 * Legend: B sequences; decoder rows are plain (B, T) (row b·T + t, no
 * margins), len[b] ≤ T valid positions; encoder rows use the seq.h layout
 * `se` (margins and pads are zero); D decoder width, De encoder width,
 * H heads of d_h = D/H; S = se->T encoder capacity.
 *
 * Training (parallel over positions): es_matt_forward caches q, k, v, the
 * attention probabilities P (B, H, T, S) and z = c + u; es_matt_backward:
 *   dz = dy·W_o,  dW_o += dyᵀz,  du = dc = dz,
 *   d(W_u x_j) = Σ_{t≥j} dz_t/(t+1)  (reverse cumulative sum),
 *   attention: dp = dc_h·v_h, ds = p ⊙ (dp − Σ p⊙dp)/√d_h,
 *   dq_h = Σ_s ds_s k_s,h,  dk_s,h += ds_s q_h,  dv_s,h += p_s dc_h.
 * Per-sequence work runs one task per sequence b (no shared writes), GEMMs
 * go through linear.h, so results do not depend on the thread count.
 *
 * Inference (es_matt_step): the self path's only state is the running sum
 * R_t = Σ_{j≤t} W_u x_j, (rows, D) per layer, whatever the output length;
 * beam reordering gathers parent rows of R. The encoder keys/values are
 * computed once per input (es_matt_memory). The step uses the same
 * accumulation order and the same per-row attention routine as the
 * parallel forward, so step-wise outputs equal the parallel ones up to
 * GEMM blocking (tests/unit/test_matt.c).
 */
#ifndef ES_NN_MATT_H
#define ES_NN_MATT_H

#include "core/pool.h"
#include "nn/seq.h"

/* Weights (PyTorch nn.Linear layout, no biases). */
typedef struct es_matt_w {
    const float *wq; /* (D, D) */
    const float *wk; /* (D, De) */
    const float *wv; /* (D, De) */
    const float *wu; /* (D, D) */
    const float *wo; /* (D, D) */
} es_matt_w;

/* Their gradients (accumulated; any may be NULL to skip). */
typedef struct es_matt_g {
    float *wq, *wk, *wv, *wu, *wo;
} es_matt_g;

typedef struct es_matt_shape {
    int B, T;          /* decoder rows: B·T */
    const int *len;    /* (B) valid decoder positions, each in [0, T] */
    const es_seq *se;  /* encoder layout (se->B == B) */
    int D, De, H;
} es_matt_shape;

/* Training cache, caller-owned (sizes in floats). */
typedef struct es_matt_cache {
    float *q;   /* (B·T, D) */
    float *k;   /* (rows_e, D) rows_e = es_seq_rows(se) */
    float *v;   /* (rows_e, D) */
    float *p;   /* (B, H, T, S) attention probabilities, S = se->T */
    float *vu;  /* (B·T, D) W_u x */
    float *z;   /* (B·T, D) c + u */
} es_matt_cache;

/* Backward scratch, caller-owned. */
typedef struct es_matt_scratch {
    float *dz, *dvu, *dq; /* (B·T, D) each */
    float *dk, *dv;       /* (rows_e, D) each */
    float *dp;            /* (B, S) */
} es_matt_scratch;

/* y (B·T, D) = MAtt(x (B·T, D), enc (rows_e, De)); rows t ≥ len[b] of y
 * are zero. Fills the cache. */
void es_matt_forward(es_pool *pool, float *y, const es_matt_cache *c, const float *x,
                     const float *enc, const es_matt_w *w, const es_matt_shape *sh);
/* Backward of es_matt_forward with the same inputs and cache. dy must be
 * zero on pad rows. dx (B·T, D) is written (acc_dx = 0) or added to
 * (acc_dx = 1), denc (rows_e, De) likewise with acc_denc; either may be
 * NULL. */
void es_matt_backward(es_pool *pool, float *dx, int acc_dx, float *denc, int acc_denc,
                      const es_matt_g *g,
                      const float *dy, const es_matt_cache *c, const float *x, const float *enc,
                      const es_matt_w *w, const es_matt_shape *sh, const es_matt_scratch *s);

/* Encoder memory for step-wise decoding of ONE input: k, v (Le, D) from
 * enc (Le, De) (contiguous valid rows). */
void es_matt_memory(es_pool *pool, float *k, float *v, const float *enc, int Le, int De, int D,
                    const es_matt_w *w);

/* One decoding step at 0-based position t for n rows that share one
 * encoder memory (k, v of es_matt_memory, Le rows; Le = 0 allowed).
 * x (n, D) inputs; R (n, D) running sums of W_u x over positions < t
 * (zero at t = 0), updated in place to include t; y (n, D) output.
 * scratch: 3·n·D + H·Le floats. */
void es_matt_step(es_pool *pool, float *y, float *R, const float *x, const float *k,
                  const float *v, int Le, const es_matt_w *w, int n, int t, int D, int H,
                  float *scratch);

/* Building blocks for decoders that compute the five projections
 * themselves (quantized decoders, src/quant/s2s_qat.c); each is the
 * middle of the function named, same operations in the same order.
 * es_matt_mix_forward: c->z and c->p from c->q, c->vu, c->k, c->v (the
 * part of es_matt_forward between the input projections and W_o);
 * scratch (B·T, D): its rows b·T hold the running sums. */
void es_matt_mix_forward(es_pool *pool, const es_matt_cache *c, const es_matt_shape *sh,
                         float *scratch);
/* From s->dz (= d z, zero on pad rows): s->dvu, s->dq, s->dk, s->dv (dk,
 * dv zeroed here), the part of es_matt_backward between W_o and the input
 * projections. */
void es_matt_mix_backward(es_pool *pool, const es_matt_cache *c, const es_matt_shape *sh,
                          const es_matt_scratch *s);
/* One decoding step's z (n, D) from q, vu (n, D) = x·W_qᵀ, x·W_uᵀ; R as
 * in es_matt_step; p: H·max(Le, 1) floats of scratch. */
void es_matt_mix_step(float *z, float *R, const float *q, const float *vu, const float *k,
                      const float *v, int Le, int n, int t, int D, int H, float *p);

#endif
