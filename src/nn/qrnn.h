/*
 * qrnn.h — QRNN fo-pooling with zoneout (Bradbury et al. 2016), one
 * direction; a bidirectional layer runs it twice (reverse = 1 scans from
 * the sequence end) on gates from a causal / anti-causal conv.
 *
 * Gates G (rows, 3H) = [z | f | o] pre-activations (conv output, seq.h rows).
 *   z = tanh, f = σ, o = σ;
 *   training: f' = 1 where the zoneout mask is set (prob. p), else f
 *   eval:     f' = 1 − (1−p)(1−f)   (the expectation of the training rule)
 *   c_t = f'_t c_{t−1} + (1 − f'_t) z_t,  c_{−1} = 0;   h_t = o_t c_t
 * reverse: t runs L−1 → 0 and c_{L} = 0.
 * Backward (forward direction; reverse mirrors the indices):
 *   dc_t = dh_t o_t + f'_{t+1} dc_{t+1};  do_t = dh_t c_t
 *   df'_t = dc_t (c_{t−1} − z_t);  dz_t = dc_t (1 − f'_t);  df_t = masked ? 0 : df'_t
 *   then through tanh / σ.
 * The recurrence is elementwise, parallel over sequences; each channel
 * sees the same operation order for any thread count.
 */
#ifndef ES_NN_QRNN_H
#define ES_NN_QRNN_H

#include "core/pool.h"
#include "core/rng.h"
#include "nn/seq.h"

#include <stdint.h>

/* G (rows, 3H): pre-activations in, activations [z|f|o] out (f before
 * zoneout). h: output columns h[row*ldh + i], i < H (pads zeroed).
 * c (rows, H): cell cache. zmask (rows, H): zoneout mask when train && p > 0,
 * else unused (may be NULL): one draw from rng seeds a stream per sequence,
 * so the masks are a function of the rng state alone (any thread count). */
void es_qrnn_forward(es_pool *pool, float *h, int ldh, float *G, float *c, uint8_t *zmask,
                     const es_seq *s, int H, int reverse, float p, int train, es_rng *rng);
/* dG (rows, 3H) overwritten with gradients w.r.t. the pre-activations
 * (pads zero); dh read at columns dh[row*ldh + i]. */
void es_qrnn_backward(es_pool *pool, float *dG, const float *dh, int ldh, const float *G,
                      const float *c, const uint8_t *zmask, const es_seq *s, int H, int reverse,
                      float p, int train);

#endif
