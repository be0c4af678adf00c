/*
 * funnel.h — Funnel-Transformer query pooling (Dai et al. 2020,
 * "pool-query-only"): before a funnel layer the residual / query stream is
 * mean-pooled with window = stride = w, while that layer's keys and values
 * still come from the unpooled previous output. Per sequence of valid
 * length L:
 *   L' = ⌈L / w⌉,  y[t'] = mean of x over [w t', min(w t' + w, L))
 * (a partial last window is divided by its true size, like TF "SAME"
 * average pooling in SeqFlowLite's FunnelTransformerEncoderStack, so pads
 * never dilute a mean). Layouts: x rows of s_in, y rows of s_out (seq.h),
 * s_out.len = es_funnel_lens(s_in.len), s_out.T >= ⌈s_in.T / w⌉.
 * Work is per sequence; every output row is computed in a fixed order.
 */
#ifndef ES_NN_FUNNEL_H
#define ES_NN_FUNNEL_H

#include "core/pool.h"
#include "nn/seq.h"

/* lo[b] = ⌈li[b] / w⌉ for b < B. */
void es_funnel_lens(int *lo, const int *li, int B, int w);
/* y (rows_out, D): valid rows pooled, pads and margins zeroed. */
void es_funnel_pool_forward(es_pool *pool, float *y, const float *x, const es_seq *s_in,
                            const es_seq *s_out, int D, int w);
/* dx (rows_in, D): valid rows get dy[t'] / |window|, written (acc = 0,
 * pads zeroed) or added (acc = 1, pads untouched). */
void es_funnel_pool_backward(es_pool *pool, float *dx, int acc, const float *dy,
                             const es_seq *s_in, const es_seq *s_out, int D, int w);

#endif
