/*
 * quant.h — 8-bit quantization primitives: fake-quant for in-training
 * quantization (QAT), its straight-through backward, EMA range tracking,
 * and the packing used by int8 inference. Equations and the reasons for
 * each choice: docs/quantization.md.
 *
 * Two grids:
 *  - activations: asymmetric uint8 per tensor (SeqFlowLite / TFLite
 *    FakeQuant8, narrow_range = false). From a range [lo, hi] (0 forced
 *    in): s = (hi − lo)/255, zp = round(−lo/s) in [0, 255], nudged range
 *    [lo', hi'] = [−zp·s, (255 − zp)·s];
 *      q(x) = clamp(floor(x/s + 0.5) + zp, 0, 255),  FQ(x) = (q(x) − zp)·s.
 *    FQ is *defined* through the integer code, so the int8 path (which
 *    stores q) and the fake-quant float graph see identical values.
 *  - weights: symmetric int8 per output row ("per_channel") or per tensor,
 *    narrow range [−127, 127]: s = max|W|/127, q = clamp(round(W/s)),
 *    FQ(W) = q·s. Zero point 0 removes the activation-sum correction from
 *    the integer GEMM and matches u8×s8 hardware dot products; per-row
 *    scales follow the very different magnitudes of QRNN gate rows.
 * STE (Bengio et al. 2013): ∂FQ(x)/∂x := 1 for lo' <= x <= hi', 0 outside.
 * EMA (conventional, NOT SeqFlowLite's inverted rule, see
 * ../shared/reference/seqflowlite.md §2.3, §16): r ← d·r + (1 − d)·r_batch;
 * the first update copies the batch range.
 */
#ifndef ES_QUANT_QUANT_H
#define ES_QUANT_QUANT_H

#include "core/common.h"

#include <math.h>
#include <stdint.h>

/* "qat" block of a byte-model config.json. Plain data. */
typedef struct es_qat_config {
    int enabled;        /* 0: no fake-quant (the block is absent) */
    int per_channel;    /* weights: 1 = per output row, 0 = per tensor */
    int activations;    /* 1: fake-quant the inputs of the integer GEMMs (EMA ranges) */
    float ema_decay;    /* d in r ← d·r + (1−d)·batch, default 0.99 */
    int64_t start_step; /* fake-quant from this training forward on (ranges tracked before) */
    int int8;           /* 1: an int8 export (weights stored I8; integer inference path) */
} es_qat_config;

/* Defaults: enabled, per_channel, activations, 0.99, start 0, not int8. */
es_qat_config es_qat_config_default(void);

/* Activation grid of a range. */
typedef struct es_qparams {
    float scale;        /* s > 0 */
    int32_t zp;         /* zero point in [0, 255] */
    float lo, hi;       /* nudged range [−zp·s, (255−zp)·s] */
} es_qparams;

/* Grid of [lo, hi]: 0 is forced into the range; a range narrower than
 * 1e-8 is widened to [lo, lo + 1e-8] (all codes then map to ~0). NaN
 * bounds are treated as 0. */
es_qparams es_qparams_from_range(float lo, float hi);

/* uint8 code of x (the inference quantizer). */
static inline uint8_t es_quant_u8(float x, const es_qparams *q) {
    float v = floorf(x / q->scale + 0.5f) + (float)q->zp;
    if (!(v >= 0.0f)) v = 0.0f; /* also NaN: no undefined float → int conversion */
    else if (v > 255.0f) v = 255.0f;
    return (uint8_t)v;
}
static inline float es_dequant_u8(uint8_t c, const es_qparams *q) {
    return (float)((int32_t)c - q->zp) * q->scale;
}

/* y[i] = FQ(x[i]) on grid q (y == x allowed). */
void es_fq_act(float *y, const float *x, size_t n, const es_qparams *q);
/* x[i] → uint8 codes. */
void es_quant_act_u8(uint8_t *y, const float *x, size_t n, const es_qparams *q);
/* STE backward: dx[i] = 0 where x[i] is outside [q->lo, q->hi], kept
 * inside. x is the fake-quant INPUT. */
void es_fq_act_backward(float *dx, const float *x, size_t n, const es_qparams *q);
/* min(min(x), 0), max(max(x), 0) over n values (NaN ignored). */
void es_range_of(float *lo, float *hi, const float *x, size_t n);
/* EMA update of range r = [lo, hi] with a batch range; first = 1 copies. */
void es_ema_update(float *r, float batch_lo, float batch_hi, float decay, int first);

/* Symmetric int8 weights: W (rows, cols) → codes q (rows, cols) and
 * scales (rows if per_channel, else 1). A zero row gets scale 1, codes 0. */
void es_quant_w_s8(int8_t *q, float *scales, const float *W, int64_t rows, int64_t cols,
                   int per_channel);
/* Wq = FQ(W) = q·s (same rounding as es_quant_w_s8 then (float)q·s). */
void es_fq_weights(float *Wq, const float *W, int64_t rows, int64_t cols, int per_channel);
/* W = q·s (n_scales = rows or 1). */
void es_dequant_w_s8(float *W, const int8_t *q, const float *scales, int64_t rows, int64_t cols,
                     int n_scales);

#endif
