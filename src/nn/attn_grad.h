/*
 * attn_grad.h — backward of one query row of multi-head softmax attention,
 * shared by the merged (matt.c) and standard (sattn.c) attention sublayers.
 *
 * Forward (per head h, d_h = D / H, keys s < Lk, row stride D for q, k, v):
 *   p_s = softmax_s(q_h·k_{s,h} / √d_h),  c_h = Σ_s p_s v_{s,h}
 * Given dc = ∂L/∂c (D):
 *   dp_s = dc_h·v_{s,h},  ds_s = p_s (dp_s − Σ_s p_s dp_s) / √d_h,
 *   dq_h += Σ_s ds_s k_{s,h},  dk_{s,h} += ds_s q_h,  dv_{s,h} += p_s dc_h.
 * Heads in order, keys in order, lanes in order: the caller owns dq, dk,
 * dv rows for the whole call (results do not depend on threads).
 */
#ifndef ES_NN_ATTN_GRAD_H
#define ES_NN_ATTN_GRAD_H

#include <stddef.h>

/* p: head h's probabilities at p + h * ldp (Lk floats); dp: Lk floats of
 * scratch. dq (D) is accumulated, as are dk, dv (Lk rows of D). */
void es_attn_row_grad(float *dq, float *dk, float *dv, float *dp, const float *dc, const float *q,
                      const float *k, const float *v, const float *p, size_t ldp, int Lk, int H,
                      int D);

#endif
