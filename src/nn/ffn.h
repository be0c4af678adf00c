/*
 * ffn.h — the position-wise feed-forward block of a Transformer layer,
 * forward and backward:
 *   h = x·W1ᵀ + b1 (N, F),  a = GELU(h) (N, F),  y = a·W2ᵀ + b2 (N, D).
 * GELU is the exact form 0.5·h·(1 + erf(h/√2)) (Hendrycks & Gimpel 2016;
 * BERT, PyTorch's default): smooth, so finite differences need no kink
 * handling, and the byte models' spam recipes train as well with it as
 * with ReLU. Its derivative: Φ(h) + h·φ(h).
 * Shapes: W1 (F, D), b1 (F), W2 (D, F), b2 (D) as PyTorch nn.Linear.
 * The GEMMs go through linear.h (deterministic for any thread count); the
 * activation is elementwise.
 */
#ifndef ES_NN_FFN_H
#define ES_NN_FFN_H

#include "core/pool.h"

/* In place over n values: x ← GELU(x) (exact, erf form). */
void es_gelu_forward(float *y, const float *x, size_t n);
/* dx = dy ⊙ GELU'(x) over n values; dx may equal dy. */
void es_gelu_backward(float *dx, const float *dy, const float *x, size_t n);

/* y (N, D); caches h, a (N, F) for the backward. */
void es_ffn_forward(es_pool *pool, float *y, float *h, float *a, const float *x, const float *W1,
                    const float *b1, const float *W2, const float *b2, int N, int D, int F);
/* dx (N, D) written or added to (acc_dx), may be NULL; dW1, db1, dW2, db2
 * accumulated. scratch: (N, F). */
void es_ffn_backward(es_pool *pool, float *dx, int acc_dx, float *dW1, float *db1, float *dW2,
                     float *db2, const float *dy, const float *x, const float *h, const float *a,
                     const float *W1, const float *W2, int N, int D, int F, float *scratch);

#endif
