/*
 * mha.h — multi-head scaled dot-product attention over seq.h batches, with
 * key padding, attention-probability dropout, and its backward. The Q/K/V
 * and output projections are plain linear layers outside this file.
 *
 * Per sequence b and head h (d_h = D / H, L_q = sq.len[b], L_k = sk.len[b]):
 *   S = Q_h K_hᵀ / √d_h        (L_q, L_k)   only valid keys exist: the key
 *                                            padding mask is the loop bound
 *   P = softmax_rows(S),  lse_i = log Σ_j exp S_ij   (cached, not P)
 *   P̃ = P ⊙ M / (1 − p)        training dropout, M_ij ~ Bernoulli(1 − p)
 *   O_h = P̃ V_h                (L_q, d_h), written into ctx columns h·d_h..
 * SeqFlowLite omits the 1/√d_h scaling and relies on BatchNorm; without BN
 * the logits of an unscaled product grow with d_h and saturate the softmax.
 *
 * Memory: P is never stored for the whole batch. Query rows are processed
 * in blocks of ES_MHA_QBLOCK against all keys, so a slot of scratch holds
 * (ES_MHA_QBLOCK, L_k) floats (two such in the backward); the backward
 * recomputes S from Q and K and P from the cached lse (as FlashAttention
 * does), so a training step stores (B, H, L_q) floats per layer instead of
 * (B, H, L_q, L_k).
 *
 * Dropout mask without storage: M_ij is a hash (SplitMix64 finaliser) of
 * (seed, flat index ((b·H + h)·sq.T + i)·sk.T + j), so the backward
 * regenerates it exactly. The caller draws `seed` from the training RNG
 * once per forward, so a seed (and a checkpointed RNG state) fixes every
 * mask for any thread count, as for the other dropout layers.
 *
 * Backward (per block of query rows, dO = dctx columns of head h):
 *   dV += P̃ᵀ dO,   dP̃ = dO Vᵀ,   dP = dP̃ ⊙ M / (1 − p),
 *   dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √d_h,   dQ = dS K,   dK += dSᵀ Q.
 *
 * Threads: one task handles whole (b, h) pairs (GEMMs inside run on the
 * calling thread), so every output element has one fixed operation order
 * for any thread count. No parameters here, so no cross-task reductions.
 * Q, K, V, ctx may be column slices of wider buffers (row strides ld*).
 */
#ifndef ES_NN_MHA_H
#define ES_NN_MHA_H

#include "core/pool.h"
#include "nn/seq.h"

#include <stdint.h>

#define ES_MHA_QBLOCK 64

typedef struct es_mha {
    const es_seq *sq;  /* query / output layout */
    const es_seq *sk;  /* key / value layout (same B; sk.len[b] = 0 iff sq.len[b] = 0) */
    int H, dh;         /* heads and width per head, D = H·dh */
    float p_drop;      /* attention dropout in [0, 1) (training forward / backward) */
    uint64_t seed;     /* dropout mask seed */
    float *scratch;    /* n_slots · es_mha_scratch_floats(sk.T capacity, train) floats */
    int n_slots;       /* >= 1; at most n_slots tasks run */
} es_mha;

/* Scratch floats per slot for key capacity Tk (train: forward+backward). */
size_t es_mha_scratch_floats(int Tk, int train);

/* ctx (rows_q, ldc): O for valid rows, pads zeroed. lse (B, H, sq.T) is
 * written when non-NULL (needed by the backward). train = 1 applies the
 * dropout (when p_drop > 0). */
void es_mha_forward(es_pool *pool, const es_mha *a, float *ctx, int ldc, float *lse,
                    const float *q, int ldq, const float *k, const float *v, int ldkv, int train);
/* Backward of a training forward with the same a, q, k, v, lse. dq
 * (rows_q, lddq), dk and dv (rows_k, lddkv) are overwritten (D columns
 * each, pads zeroed). dctx (rows_q, lddc) must be zero on pad rows. */
void es_mha_backward(es_pool *pool, const es_mha *a, float *dq, int lddq, float *dk, float *dv,
                     int lddkv, const float *dctx, int lddc, const float *q, int ldq,
                     const float *k, const float *v, int ldkv, const float *lse);

#endif
