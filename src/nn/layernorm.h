/*
 * layernorm.h — LayerNorm over the last axis with PER-CHANNEL gain and bias
 * (Ba et al. 2016), forward and backward:
 *   μ = mean(x),  σ² = mean((x − μ)²)  (centred; SeqFlowLite's masked BN
 *   used E[x²], a bug we do not copy),  r = 1/√(σ² + eps),
 *   y = g ⊙ (x − μ)·r + b.
 * SeqFlowLite's LayerNormalization has SCALAR g and b (shape [1]); a gain
 * and bias per channel cost 2·D parameters and let each feature keep its
 * own scale, as in every mainstream Transformer (docs/byte-models.md).
 * Shapes: x, y (N, D) row-major; mean, rstd (N) cached for the backward;
 * g, b (D).
 * Backward (x̂ = (x − μ)·r, ĝ = g ⊙ dy):
 *   dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)),  dg += Σ_rows dy ⊙ x̂,  db += Σ_rows dy.
 * Rows are independent (split over the pool by row ranges); dg/db are
 * split by columns and summed in ascending row order, so results do not
 * depend on the thread count. Works on every row it is given: rows of a
 * seq.h batch that are padding (x = 0) come out as y = b, so callers zero
 * them afterwards; their dy is zero, so they add nothing in the backward.
 */
#ifndef ES_NN_LAYERNORM_H
#define ES_NN_LAYERNORM_H

#include "core/pool.h"

/* PyTorch's nn.LayerNorm default; keeps r finite on constant rows. */
#define ES_LAYERNORM_EPS 1e-5f

/* y (N, D) = LN(x); y may equal x. mean, rstd (N) receive the statistics. */
void es_layernorm_forward(es_pool *pool, float *y, float *mean, float *rstd, const float *x,
                          const float *g, const float *b, int N, int D, float eps);
/* dx (N, D) written (acc_dx = 0) or added to (acc_dx = 1); dx may be NULL.
 * dg, db (D) accumulated (either may be NULL). x is the forward input. */
void es_layernorm_backward(es_pool *pool, float *dx, int acc_dx, float *dg, float *db,
                           const float *dy, const float *x, const float *mean, const float *rstd,
                           const float *g, int N, int D);

#endif
