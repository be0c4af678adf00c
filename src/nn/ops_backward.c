/*
 * ops_backward.c — backward passes of the scalar reference ops of ops.c
 * (declared in nn/t5_train.h). Each recomputes what it needs from the
 * forward inputs exactly as ops.c does (RMS statistics in double, rounded
 * to float), so the backward differentiates the function the forward
 * actually evaluated.
 *
 * RMS norm, y_i = w_i·x_i·r with r = (mean_j x_j² + eps)^-1/2:
 *   ∂L/∂w_i = Σ_rows dy_i·x_i·r
 *   ∂L/∂x_i = r·(w_i dy_i) − x_i·r³/n · Σ_j w_j dy_j x_j
 * Softmax: ds_j = p_j·(dp_j − Σ_k p_k dp_k).
 * gelu_new: g(x) = ½x(1 + t), t = tanh(c(x + a x³)):
 *   g'(x) = ½(1 + t) + ½x(1 − t²)·c(1 + 3a x²),  c = √(2/π), a = 0.044715
 * exact GELU: g'(x) = Φ(x) + x·φ(x).
 */
#include "nn/ops.h"
#include "nn/t5_train.h"

#include <math.h>

void es_rmsnorm_backward_f32(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, int rows, int n, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n, *dyr = dy + (size_t)r * n;
        float *dxr = dx + (size_t)r * n;
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float var = (float)(ss / n);
        float inv = 1.0f / sqrtf(var + eps);
        /* dot = Σ w dy x̂ in double: it is a reduction over n that can cancel. */
        double dot = 0.0;
        for (int i = 0; i < n; i++) {
            float xh = xr[i] * inv;
            dot += (double)w[i] * dyr[i] * xh;
            dw[i] += dyr[i] * xh;
        }
        const float k = (float)(dot / n);
        for (int i = 0; i < n; i++) dxr[i] += inv * (w[i] * dyr[i] - xr[i] * inv * k);
    }
}

/* Branch-free (a compare + blend the compiler vectorises): the signs of h
 * are random, so a branch would mispredict half the time. h NaN -> 0. */
void es_relu_backward_f32(float *d, const float *h, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = h[i] > 0.0f ? d[i] : 0.0f;
}

void es_gelu_tanh_backward_f32(float *d, const float *h, size_t n) {
    const float c = 0.7978845608028654f, a = 0.044715f;
    for (size_t i = 0; i < n; i++) {
        float x = h[i];
        float t = tanhf(c * (x + a * x * x * x));
        float g = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * a * x * x);
        d[i] *= g;
    }
}

void es_gelu_erf_backward_f32(float *d, const float *h, size_t n) {
    /* 1/sqrt(2π) = 0.3989422804014327 */
    for (size_t i = 0; i < n; i++) {
        float x = h[i];
        float cdf = 0.5f * (1.0f + erff(x * 0.7071067811865476f));
        float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
        d[i] *= cdf + x * pdf;
    }
}

void es_softmax_backward_f32(float *dp, const float *p, int n) {
    double dot = 0.0;
    for (int j = 0; j < n; j++) dot += (double)p[j] * dp[j];
    const float s = (float)dot;
    for (int j = 0; j < n; j++) dp[j] = p[j] * (dp[j] - s);
}
