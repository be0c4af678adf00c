/*
 * linear.h — dense layer and width-k 1-D convolution over rows, forward
 * and backward (llm.c style: explicit functions, caller-owned buffers).
 *
 * Shapes (row-major):
 *   x (N, in), y (N, out), W (out, in) as PyTorch stores nn.Linear,
 *   conv W (out, k, in): tap j multiplies input row r + shift + j.
 * All GEMMs go through es_kern(), so they inherit its determinism: every
 * output element is produced by one task in a fixed order.
 * Fake-quant hook (later issue): callers may pass a quantised copy of W;
 * nothing here assumes W is the stored parameter.
 */
#ifndef ES_NN_LINEAR_H
#define ES_NN_LINEAR_H

#include "core/pool.h"

/* y = x·Wᵀ + b (b may be NULL). */
void es_linear_forward(es_pool *pool, float *y, const float *x, const float *W, const float *b,
                       int N, int in, int out);
/* dx (+)= dy·W (dx may be NULL; acc_dx = 1 adds), dW += dyᵀ·x, db += Σ_rows dy
 * (dW/db may be NULL to skip). */
void es_linear_backward(es_pool *pool, float *dx, int acc_dx, float *dW, float *db,
                        const float *dy, const float *x, const float *W, int N, int in, int out);

/* Row convolution on the flat row range [r0, r1): y[r] = b + Σ_j W_j·x[r + shift + j]
 * for j < k. The caller guarantees x rows r0+shift .. r1-1+shift+k-1 exist
 * (see seq.h margins). Rows outside [r0, r1) of y are not written. */
void es_conv1d_forward(es_pool *pool, float *y, const float *x, const float *W, const float *b,
                       size_t r0, size_t r1, int shift, int k, int in, int out);
/* dx[r + shift + j] += dy[r]·W_j (dx may be NULL), dW_j += Σ_r dy[r]ᵀ x[r + shift + j],
 * db += Σ_r dy[r], over r in [r0, r1). dx is accumulated: zero it first. */
void es_conv1d_backward(es_pool *pool, float *dx, float *dW, float *db, const float *dy,
                        const float *x, const float *W, size_t r0, size_t r1, int shift, int k,
                        int in, int out);

/* Column sums: db[j] += Σ_{r<N} dy[r*ld + j] for j < D, rows in ascending
 * order (deterministic), split over the pool by columns. */
void es_colsum_acc(es_pool *pool, float *db, const float *dy, size_t N, int D, int ld);

#endif
