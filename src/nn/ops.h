/*
 * ops.h — small fp32 building blocks of the reference forward passes:
 * RMS norm, activations, softmax / log-softmax, T5 relative-position
 * buckets. Scalar, obviously correct code: these are the reference that
 * faster variants are tested against. Backward passes of the same ops are
 * added beside them by the training code.
 */
#ifndef ES_NN_OPS_H
#define ES_NN_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* T5 RMS norm over `rows` rows of n: y = w * (x * rsqrt(mean(x²) + eps)),
 * no mean subtraction, no bias (HF T5LayerNorm). y may equal x. */
void es_rmsnorm_f32(float *y, const float *x, const float *w, int rows, int n, float eps);

/* gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (HF NewGELUActivation). */
float es_gelu_tanh(float x);
/* Exact GELU: 0.5·x·(1 + erf(x/√2)) (HF "gelu"). */
float es_gelu_erf(float x);
/* In-place activations over n elements. */
void es_relu_f32(float *x, size_t n);
void es_gelu_tanh_f32(float *x, size_t n);
void es_gelu_erf_f32(float *x, size_t n);

/* In-place softmax of n > 0 values (max subtracted, fp32 exp, float sum). */
void es_softmax_f32(float *x, int n);
/* log(Σ exp(x_i)) over n > 0 values, evaluated in double with the maximum
 * subtracted; log_softmax(x)_i = x_i - es_logsumexp(x, n). */
double es_logsumexp(const float *x, int n);
/* Index of the largest of n > 0 values (lowest index on ties; NaN never wins
 * over a number). */
int es_argmax_f32(const float *x, int n);

/* T5 relative-position bucket of rel = key_pos - query_pos, exactly as HF
 * T5Attention._relative_position_bucket (log evaluated in float32 as torch
 * does). bidirectional: encoder; otherwise decoder (causal). */
int32_t es_t5_rel_bucket(int32_t rel, bool bidirectional, int32_t num_buckets,
                         int32_t max_distance);

#endif
