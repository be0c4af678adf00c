/*
 * byte_beam.h — beam search for the byte seq2seq models, after
 * SeqFlowLite's TFLite beam search (seq_flow_lite/tflite_ops/beam_search.cc)
 * with its known bugs fixed, in a float and a uint8 variant sharing one
 * driver:
 *
 *  - float: candidate score = running sum + log_softmax(logits) (double).
 *  - uint8: the step's logits are quantized to uint8 (one scale per step,
 *    as a uint8 model's output tensor), then, per row, log p_k =
 *    s·(q_k − q_max) − log Σ_j E[q_max − q_j] with a 256-entry table
 *    E[d] = exp(−s·d) (the zero point cancels); a row's top 2K classes are
 *    picked on raw codes with packed keys (q << 24 | ~class), valid because
 *    log-softmax is monotone in q within a row, and only those get a log-prob.
 *
 * Driver (K = num_beams, α = length_penalty, LP(n) = ((5 + n)/6)^α, GNMT):
 * every step keeps the best 2K candidates over all running beams × classes
 * (the start id is never a candidate), visits them best first (ties: lower
 * beam row, then lower id — no float-keyed map), moves EOS candidates to
 * the finished set with score sum/LP(len) (len counts the EOS) and keeps
 * the first K others running. The finished set holds the K best; a new
 * hypothesis replaces the worst only when strictly better, so equal
 * scores never overwrite each other (reference bug 1). Stop when no beam
 * runs, at max_new_tokens, or when the set is full and the best running
 * beam cannot enter it even at its most favourable final length (bound
 * against the WORST kept hypothesis, not the best: the reference's test
 * left the n-best list incomplete, bug 2). At max_new_tokens the running
 * beams join the set with their real normalised scores (ids without a
 * final EOS) instead of the reference's fake 0.0 score (bug 3). Returns
 * num_return (0 = K) best, best first.
 */
#ifndef ES_DECODE_BYTE_BEAM_H
#define ES_DECODE_BYTE_BEAM_H

#include "decode/decode.h"

typedef struct es_bbeam_ws {
    es_decode_ws d;    /* beams, running sums, finished set, results */
    uint8_t *codes;    /* (max_rows, vocab) quantized logits of a step */
    uint32_t *keys;    /* (2·max_rows) top codes of one row */
    int32_t *fin_order;/* (max_rows) insertion stamps of the finished set */
} es_bbeam_ws;

/* Sizes for up to max_rows beams, max_len generated ids, vocab classes
 * (vocab < 2^24 for the packed keys). */
es_status es_bbeam_ws_init(es_bbeam_ws *ws, int max_rows, int max_len, int32_t vocab,
                           es_error *err);
void es_bbeam_ws_free(es_bbeam_ws *ws);

/* GNMT length penalty ((5 + len)/6)^alpha. */
double es_bbeam_lp(int len, float alpha);

/* Quantizes n logits to uint8 over their finite range [lo, hi] (0 forced
 * into nothing: logits are shift-invariant), code = round((x − lo)/s),
 * s = (hi − lo)/255 (s = 1 when all are equal); −inf and NaN map to 0.
 * *scale receives s. */
void es_bbeam_quantize(uint8_t *q, float *scale, const float *x, size_t n);

/* Runs the beam search described above on dm (freshly primed); p->method
 * must be ES_DECODE_BEAM, params as es_decode_check accepts them;
 * p->quantized_beam picks the uint8 variant; p->ignore_eos makes EOS an
 * ordinary class. Results point into ws until the next call. */
es_status es_byte_beam(es_bbeam_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                       es_gen_result *out, es_error *err);

#endif
