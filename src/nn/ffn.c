/* ffn.c — feed-forward block with exact GELU (see ffn.h). */
#include "nn/ffn.h"

#include "nn/linear.h"

#include <math.h>

void es_gelu_forward(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void es_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
    /* Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

void es_ffn_forward(es_pool *pool, float *y, float *h, float *a, const float *x, const float *W1,
                    const float *b1, const float *W2, const float *b2, int N, int D, int F) {
    if (N <= 0) return;
    es_linear_forward(pool, h, x, W1, b1, N, D, F);
    es_gelu_forward(a, h, (size_t)N * (size_t)F);
    es_linear_forward(pool, y, a, W2, b2, N, F, D);
}

void es_ffn_backward(es_pool *pool, float *dx, int acc_dx, float *dW1, float *db1, float *dW2,
                     float *db2, const float *dy, const float *x, const float *h, const float *a,
                     const float *W1, const float *W2, int N, int D, int F, float *scratch) {
    if (N <= 0) return;
    /* da = dy·W2 → scratch; dW2 += dyᵀ·a; db2 += Σ dy */
    es_linear_backward(pool, scratch, 0, dW2, db2, dy, a, W2, N, F, D);
    es_gelu_backward(scratch, scratch, h, (size_t)N * (size_t)F);
    es_linear_backward(pool, dx, acc_dx, dW1, db1, scratch, x, W1, N, D, F);
}
