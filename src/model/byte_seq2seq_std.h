/*
 * byte_seq2seq_std.h — the "standard" decoder layer of the byte seq2seq
 * models (config decoder.self_attention = "standard"), internal to
 * byte_seq2seq.c: the baseline the merged-attention layer is compared
 * against (issue #7). Pre-norm, three sublayers, same D / H / d_ff as the
 * merged layer:
 *
 *   x ← x + SelfAttn_causal(LN1(x))        (src/nn/sattn.h, K/V cache)
 *   x ← x + CrossAttn(LN_c(x), enc)        (src/nn/sattn.h)
 *   x ← x + FFN(LN2(x))                    (GELU, src/nn/ffn.h)
 *
 * Pre-norm like the merged layer (and GPT-2 / T5): the residual stream is
 * never normalised, which trains without warm-up tricks at these depths.
 * Each sublayer has its own LayerNorm (gain + bias).
 *
 * Tensor names per layer l (F32; D_enc = encoder width):
 *   dec.layers.<l>.ln1.weight/.bias (D)
 *   dec.layers.<l>.self_attn.{q,k,v,o}.weight (D, D)
 *   dec.layers.<l>.ln_cross.weight/.bias (D)
 *   dec.layers.<l>.cross_attn.{q,o}.weight (D, D), .cross_attn.{k,v}.weight (D, D_enc)
 *   dec.layers.<l>.ln2.weight/.bias (D), dec.layers.<l>.ffn.* as the merged layer
 * Versus merged (q, u, o (D, D) + k, v (D, D_enc) + 2 LayerNorms): 3·D² + 2·D
 * more parameters per layer.
 *
 * Step-wise decoding: per layer a self-attention K/V cache of (max_rows,
 * max_out, D) each, reordered for beams in place (es_gather_rows: moved
 * rows only, positions < the next step's; a second buffer holds the
 * overwritten parents),
 * plus the cross-attention K/V of the input (Scap, D) each. All of it is
 * sized in es_s2s_std_ws_new; the step loop allocates nothing.
 */
#ifndef ES_MODEL_BYTE_SEQ2SEQ_STD_H
#define ES_MODEL_BYTE_SEQ2SEQ_STD_H

#include "core/pool.h"
#include "nn/sattn.h"
#include "nn/seq.h"

/* One layer's weights (views into the decoder's parameters). */
typedef struct es_s2s_std_lw {
    const float *ln1_g, *ln1_b;
    es_sattn_w self;
    const float *lnc_g, *lnc_b;
    es_sattn_w cross;
    const float *ln2_g, *ln2_b;
    const float *f1_w, *f1_b, *f2_w, *f2_b; /* (F, D), (F), (D, F), (D) */
} es_s2s_std_lw;

/* Its gradients (accumulated). */
typedef struct es_s2s_std_lg {
    float *ln1_g, *ln1_b;
    es_sattn_g self;
    float *lnc_g, *lnc_b;
    es_sattn_g cross;
    float *ln2_g, *ln2_b;
    float *f1_w, *f1_b, *f2_w, *f2_b;
} es_s2s_std_lg;

typedef struct es_s2s_std_dims {
    int n_layers, D, F, H, De;
    int max_batch, Tcap;   /* teacher forcing: (max_batch, Tcap) decoder rows */
    int Scap;              /* encoder positions per sequence */
    size_t rows_e_cap;     /* encoder rows of a batch (seq.h layout) */
    int max_rows;          /* step-wise decoding rows (beams) */
    int training;          /* also size the backward */
} es_s2s_std_dims;

typedef struct es_s2s_std_ws es_s2s_std_ws;

es_status es_s2s_std_ws_new(es_s2s_std_ws **out, const es_s2s_std_dims *d, es_error *err);
void es_s2s_std_ws_free(es_s2s_std_ws *w);

/* Teacher-forced layer l: xo (B·T, D) from xin (B·T, D) (pads zero) and
 * the encoder rows enc (layout se, width De). Caches for the backward;
 * pad rows of xo are zero. */
void es_s2s_std_layer_forward(es_s2s_std_ws *w, int l, es_pool *pool, float *xo, const float *xin,
                              const float *enc, const es_s2s_std_lw *lw, int B, int T,
                              const int *len, const es_seq *se);
/* Backward of layer l's last forward: dx (B·T, D) holds d xo on entry
 * (zero on pads) and d xin on return; denc (rows of se, De) is added to;
 * g accumulated. */
void es_s2s_std_layer_backward(es_s2s_std_ws *w, int l, es_pool *pool, float *dx, float *denc,
                               const es_s2s_std_lg *g, const float *xin, const float *enc,
                               const es_s2s_std_lw *lw, int B, int T, const int *len,
                               const es_seq *se);

/* Prime layer l for one input: cross-attention K/V of enc (Le contiguous
 * rows of De); empties the self-attention caches (next step: position 0). */
void es_s2s_std_prime_layer(es_s2s_std_ws *w, int l, es_pool *pool, const float *enc, int Le,
                            const es_s2s_std_lw *lw);
/* One decoding step of layer l at position pos for n rows: x (n, D)
 * updated in place (x ← layer(x)). The caller checks 0 ≤ pos ≤ the number
 * of positions already stepped (es_s2s_std_next_pos) and pos < Tcap. */
void es_s2s_std_layer_step(es_s2s_std_ws *w, int l, es_pool *pool, float *x,
                           const es_s2s_std_lw *lw, int n, int pos);
/* Marks position pos as stepped for every layer (call after the last
 * layer's step). */
void es_s2s_std_step_done(es_s2s_std_ws *w, int pos);
/* Positions stepped since priming (the next step's position). */
int es_s2s_std_next_pos(const es_s2s_std_ws *w);
/* Beam reorder: row r of every layer's self-attention cache becomes old
 * row parent[r] (parent[r] < max_rows, n ≤ max_rows: checked by caller). */
void es_s2s_std_reorder(es_s2s_std_ws *w, const int32_t *parent, int n);

#endif
