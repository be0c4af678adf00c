/*
 * attnpool.h — attention pooling, sequence → vector:
 *   a_t = w·x_t,  α = softmax over the valid positions t < L,  y = Σ_t α_t x_t.
 * No bias (softmax is shift-invariant, a bias would get zero gradient) and
 * no ReLU/BatchNorm on the score (SeqFlowLite has both; see
 * docs/byte-models.md). An empty sequence pools to 0.
 *   x rows of seq.h (D features), w (D), y (B, D), alpha cache (rows).
 */
#ifndef ES_NN_ATTNPOOL_H
#define ES_NN_ATTNPOOL_H

#include "core/pool.h"
#include "nn/seq.h"

void es_attnpool_forward(es_pool *pool, float *y, float *alpha, const float *x, const float *w,
                         const es_seq *s, int D);
/* dx (rows, D) overwritten (pads zero); dw (D) accumulated, in sequence
 * order via part (B, D) scratch. */
void es_attnpool_backward(es_pool *pool, float *dx, float *dw, const float *dy,
                          const float *alpha, const float *x, const float *w, const es_seq *s,
                          int D, float *part);

#endif
