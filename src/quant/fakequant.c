/*
 * fakequant.c — fake-quant forward/STE backward, EMA ranges and weight
 * packing (contracts and equations in quant.h, docs/quantization.md).
 *
 * Rounding: activations use floor(x/s + 0.5) (half up), weights
 * nearbyint (half to even, the FPU default); either is fine as long as the
 * fake-quant graph and the int8 path call the same function, which they do
 * (FQ is written as dequant(quant(x))). Division by s, not multiplication
 * by 1/s: 1/s is not exact, and x·(1/s) can land on the other side of a
 * .5 boundary than x/s.
 */
#include "quant/quant.h"

#include <string.h>

es_qat_config es_qat_config_default(void) {
    es_qat_config c;
    memset(&c, 0, sizeof c);
    c.enabled = 1;
    c.per_channel = 1;
    c.activations = 1;
    c.ema_decay = 0.99f;
    return c;
}

es_qparams es_qparams_from_range(float lo, float hi) {
    es_qparams q;
    if (!(lo < 0.0f)) lo = 0.0f; /* 0 in range; NaN → 0 */
    if (!(hi > 0.0f)) hi = 0.0f;
    if (hi - lo < 1e-8f) hi = lo + 1e-8f;
    q.scale = (hi - lo) / 255.0f;
    /* zero point from the exact ratio (double): in float, −lo/s for [−1, 1]
     * lands just below 127.5 and would round to 127, off the symmetric
     * grid SeqFlowLite documents (zp 128) */
    double z = floor(-(double)lo * 255.0 / ((double)hi - (double)lo) + 0.5);
    q.zp = z < 0.0 ? 0 : z > 255.0 ? 255 : (int32_t)z;
    q.lo = (float)(-q.zp) * q.scale;
    q.hi = (float)(255 - q.zp) * q.scale;
    return q;
}

void es_fq_act(float *y, const float *x, size_t n, const es_qparams *q) {
    for (size_t i = 0; i < n; i++) y[i] = es_dequant_u8(es_quant_u8(x[i], q), q);
}

void es_quant_act_u8(uint8_t *y, const float *x, size_t n, const es_qparams *q) {
    for (size_t i = 0; i < n; i++) y[i] = es_quant_u8(x[i], q);
}

void es_fq_act_backward(float *dx, const float *x, size_t n, const es_qparams *q) {
    for (size_t i = 0; i < n; i++)
        if (!(x[i] >= q->lo && x[i] <= q->hi)) dx[i] = 0.0f;
}

void es_range_of(float *lo, float *hi, const float *x, size_t n) {
    float a = 0.0f, b = 0.0f;
    for (size_t i = 0; i < n; i++) {
        a = x[i] < a ? x[i] : a;
        b = x[i] > b ? x[i] : b;
    }
    *lo = a;
    *hi = b;
}

void es_ema_update(float *r, float batch_lo, float batch_hi, float decay, int first) {
    if (first) {
        r[0] = batch_lo;
        r[1] = batch_hi;
        return;
    }
    r[0] = decay * r[0] + (1.0f - decay) * batch_lo;
    r[1] = decay * r[1] + (1.0f - decay) * batch_hi;
}

/* Scale of one group of n weights: max|w|/127, 1 for an all-zero group. */
static float sym_scale(const float *w, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        m = a > m ? a : m;
    }
    return m > 0.0f ? m / 127.0f : 1.0f;
}

static int8_t code_s8(float w, float s) {
    float v = nearbyintf(w / s);
    if (!(v >= -127.0f)) v = -127.0f; /* also NaN */
    else if (v > 127.0f) v = 127.0f;
    return (int8_t)v;
}

void es_quant_w_s8(int8_t *q, float *scales, const float *W, int64_t rows, int64_t cols,
                   int per_channel) {
    size_t C = (size_t)cols, R = (size_t)rows;
    if (!per_channel) scales[0] = sym_scale(W, R * C);
    for (size_t r = 0; r < R; r++) {
        float s = per_channel ? (scales[r] = sym_scale(W + r * C, C)) : scales[0];
        for (size_t c = 0; c < C; c++) q[r * C + c] = code_s8(W[r * C + c], s);
    }
}

void es_fq_weights(float *Wq, const float *W, int64_t rows, int64_t cols, int per_channel) {
    size_t C = (size_t)cols, R = (size_t)rows;
    float s0 = per_channel ? 0.0f : sym_scale(W, R * C);
    for (size_t r = 0; r < R; r++) {
        float s = per_channel ? sym_scale(W + r * C, C) : s0;
        for (size_t c = 0; c < C; c++) Wq[r * C + c] = (float)code_s8(W[r * C + c], s) * s;
    }
}

void es_dequant_w_s8(float *W, const int8_t *q, const float *scales, int64_t rows, int64_t cols,
                     int n_scales) {
    size_t C = (size_t)cols, R = (size_t)rows;
    for (size_t r = 0; r < R; r++) {
        float s = n_scales > 1 ? scales[r] : scales[0];
        for (size_t c = 0; c < C; c++) W[r * C + c] = (float)q[r * C + c] * s;
    }
}
