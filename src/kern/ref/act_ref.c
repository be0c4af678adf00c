/*
 * act_ref.c — scalar reference element-wise activations: exp, sigmoid,
 * tanh, GELU (tanh form). The algorithm (act_coef.h) is the one the SIMD
 * twins vectorise, written with plain multiplies and adds and no libm, so
 * it is also the portable fast path. Every function maps y[i] = f(x[i])
 * for i < n; y == x (in place) is allowed, other overlap is not. Accuracy
 * bounds: kern.h; tested in tests/unit/test_kern_act.c against double libm.
 */
#include "kern/kern.h"
#include "kern/ref/act_coef.h"

#include <stdint.h>
#include <string.h>

static inline float bits_to_f(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t f_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* e^x for any x; NaN in, NaN out. */
static inline float exp1(float x) {
    if (x != x) return x;
    float xc = x < ES_ACT_EXP_LO ? ES_ACT_EXP_LO : x > ES_ACT_EXP_HI ? ES_ACT_EXP_HI : x;
    /* n = round(x / ln2): |x·log2e| < 2^22, so adding 1.5·2^23 rounds to an integer */
    float n = (xc * ES_ACT_LOG2E + ES_ACT_ROUND) - ES_ACT_ROUND;
    float r = xc - n * ES_ACT_C1;
    r = r - n * ES_ACT_C2;
    float p = ES_ACT_P0;
    p = p * r + ES_ACT_P1;
    p = p * r + ES_ACT_P2;
    p = p * r + ES_ACT_P3;
    p = p * r + ES_ACT_P4;
    p = p * r + ES_ACT_P5;
    p = p * (r * r) + r + 1.0f;
    int32_t ni = (int32_t)n;
    int32_t a = ni >> 1, b = ni - a; /* arithmetic shift: floor(n / 2) */
    float sa = bits_to_f((uint32_t)(a + 127) << 23), sb = bits_to_f((uint32_t)(b + 127) << 23);
    return p * sa * sb;
}

/* Both branches compute tanh|x|, then take the sign of x (so tanh(-0) = -0). */
static inline float tanh1(float x) {
    float ax = bits_to_f(f_to_bits(x) & 0x7fffffffu), t;
    if (ax < ES_ACT_TANH_SMALL) {
        float z = ax * ax;
        float p = ES_ACT_T0;
        p = p * z + ES_ACT_T1;
        p = p * z + ES_ACT_T2;
        p = p * z + ES_ACT_T3;
        p = p * z + ES_ACT_T4;
        t = p * z * ax + ax;
    } else {
        float e = exp1(ax + ax);
        t = 1.0f - 2.0f / (e + 1.0f);
    }
    return bits_to_f(f_to_bits(t) | (f_to_bits(x) & 0x80000000u));
}

void es_exp_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = exp1(x[i]);
}

void es_sigmoid_ref(float *y, const float *x, size_t n) {
    /* 1/(1 + e^{-x}): e^{-x} = +inf for x < -88.7 gives +0 (true value < 3e-39) */
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp1(-x[i]));
}

void es_tanh_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tanh1(x[i]);
}

void es_gelu_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float u = ES_ACT_GELU_K0 * (v + ES_ACT_GELU_K1 * (v * v * v));
        y[i] = 0.5f * v * (1.0f + tanh1(u));
    }
}
