/*
 * posenc.h — learned absolute positions added to a sequence batch:
 *   y[b, t] = x[b, t] + P[t]   for t < len[b]   (pads stay zero).
 * Used by the byte Transformer encoders after GBST down-sampling: the
 * causal conv in front of GBST only sees k bytes, and self-attention is
 * otherwise blind to order. Learned (BERT / SeqFlowLite's charformer use a
 * learned table) rather than sinusoidal: the table is small at the
 * down-sampled length (max_positions × D) and trains with the task.
 * Shapes: x, y rows of seq.h (D features), P (max_positions, D) with
 * max_positions >= s.T.
 * Backward: dx = dy (identity, nothing to compute), dP[t] += Σ_b dy[b, t]
 * with b ascending (deterministic; serial: it is B·T·D additions).
 */
#ifndef ES_NN_POSENC_H
#define ES_NN_POSENC_H

#include "nn/seq.h"

/* y may equal x. */
void es_posenc_forward(float *y, const float *x, const float *P, const es_seq *s, int D);
/* dP (max_positions, D) accumulated. */
void es_posenc_backward(float *dP, const float *dy, const es_seq *s, int D);

#endif
