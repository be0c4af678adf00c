/*
 * gbst.h — GBST soft tokenisation (Charformer, Tay et al. 2021) with
 * down-sampling, the block-pooling part (the causal conv before it is an
 * es_conv1d in the model).
 *
 * Per sequence of valid length L, input C (L, D) (the conv output):
 *   for block width w = 1..M:  P_w[t] = mean of C over the block
 *       [w⌊t/w⌋, min(w⌊t/w⌋ + w, L))   (a partial last block is divided by
 *       its true size);
 *   score s_w[t] = u·P_w[t] + c0 (one linear map D→1 shared by all w);
 *   α[t] = softmax_w s_w[t]   (the paper's softmax over block sizes;
 *       SeqFlowLite's GBSTLayerV2 averaged raw scores instead);
 *   X[t] = Σ_w α_w[t] P_w[t];
 *   Y[t'] = mean of X over [r t', min(r t' + r, L)),  L' = ⌈L / r⌉.
 * Layouts (seq.h): C, X rows of s_in; Y rows of s_out (s_out.len = L').
 * Caches for backward: cand (M, rows_in, D): P_w of each block, stored
 * once, at the block's first row (the other rows are not written: every
 * position of a block shares its P_w); alpha (rows_in, M).
 */
#ifndef ES_NN_GBST_H
#define ES_NN_GBST_H

#include "core/pool.h"
#include "nn/seq.h"

/* y (rows_out, D): pads zeroed. cand, alpha: caches as above. */
void es_gbst_forward(es_pool *pool, float *y, float *cand, float *alpha, const float *C,
                     const float *u, float c0, const es_seq *s_in, const es_seq *s_out, int D,
                     int M, int r);
/* dC (rows_in, D) overwritten (pads zero); du (D) and dc0 (1) accumulated.
 * Scratch: dX (rows_in, D), ds (rows_in, M), part (B, D + 1) for
 * per-sequence partial sums (added in sequence order: deterministic). */
void es_gbst_backward(es_pool *pool, float *dC, float *du, float *dc0, const float *dy,
                      const float *cand, const float *alpha, const float *u, const es_seq *s_in,
                      const es_seq *s_out, int D, int M, int r, float *dX, float *ds,
                      float *part);

#endif
