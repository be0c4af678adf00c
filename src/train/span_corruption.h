/*
 * span_corruption.h — T5's span-corruption objective ("random_spans_noise_mask"
 * of t5/data/preprocessors.py and HF run_t5_mlm_flax.py), on token ids.
 *
 * For a raw chunk of `len` tokens, noise density d and mean span length μ:
 *   n_noise  = round(len·d), clamped to [1, len−1]      (round half to even, like np.round)
 *   n_spans  = max(1, round(n_noise / μ))
 *   n_keep   = len − n_noise
 * The n_noise tokens are cut into n_spans non-empty noise spans and the
 * n_keep tokens into n_spans non-empty kept spans, both uniformly at random
 * (a random subset of n_spans−1 of the n−1 gaps starts a new segment), and
 * the spans are interleaved starting with a kept span:
 *   keep_0 noise_0 keep_1 noise_1 … keep_{n−1} noise_{n−1}.
 * Input  = keep_0 <s_0> keep_1 <s_1> … keep_{n−1} <s_{n−1}> </s>
 * Target = <s_0> noise_0 <s_1> noise_1 … <s_{n−1}> noise_{n−1} </s>
 * with sentinel <s_i> = <extra_id_i> = sentinel0 − i (T5: 32099, 32098, …).
 * So |input| = n_keep + n_spans + 1 and |target| = n_noise + n_spans + 1 —
 * fixed for a given len, which is what lets batches be packed with no padding.
 */
#ifndef ES_TRAIN_SPAN_CORRUPTION_H
#define ES_TRAIN_SPAN_CORRUPTION_H

#include "core/common.h"
#include "core/rng.h"

typedef struct es_span_counts {
    int n_noise, n_keep, n_spans;
    int input_len, target_len; /* incl. sentinels and </s> */
} es_span_counts;

/* Counts for a raw chunk of len >= 2 tokens (density in (0,1), mean_span > 0).
 * ES_ERR_ARG otherwise. */
es_status es_span_counts_for(es_span_counts *c, int len, double density, double mean_span,
                             es_error *err);

/* HF compute_input_and_target_lengths: the largest raw length whose input
 * (kept + sentinels + </s>) is <= inputs_length, and that length's target
 * length (with the same noise_density == 0.5 adjustment as HF). */
es_status es_span_raw_length(int inputs_length, double density, double mean_span, int *raw_len,
                             int *target_len, es_error *err);

/* Uniform random segmentation of n_items into n_seg non-empty segments
 * (lengths written to seg[0..n_seg)): the n_items−1 gaps are shuffled
 * (Fisher–Yates with rng) with n_seg−1 of them marked as segment starts.
 * Requires 1 <= n_seg <= n_items. scratch holds >= n_items bytes. */
void es_span_random_segmentation(int *seg, int n_items, int n_seg, es_rng *rng,
                                 unsigned char *scratch);

/* Noise mask (len bytes, 1 = noise) from given span lengths: keep[i], noise[i]
 * for i < n_spans, interleaved starting with keep. Σkeep + Σnoise must equal
 * len (ES_ERR_ARG otherwise, naming the sums). */
es_status es_span_mask_from_lengths(unsigned char *mask, int len, const int *keep,
                                    const int *noise, int n_spans, es_error *err);

/* Random noise mask for len tokens (counts as es_span_counts_for); seg
 * scratch: 2·len ints, bytes: len. Thin wrapper over the two above. */
typedef struct es_span_scratch {
    int *keep, *noise;          /* (len) each */
    unsigned char *bytes;       /* (len) */
    int cap;
} es_span_scratch;

es_status es_span_scratch_init(es_span_scratch *s, int cap, es_error *err);
void es_span_scratch_free(es_span_scratch *s);

es_status es_span_noise_mask(unsigned char *mask, int len, double density, double mean_span,
                             es_rng *rng, es_span_scratch *s, es_error *err);

/* Builds input and target from tokens[0..len) and mask (HF
 * create_sentinel_ids + filter_input_ids, with <extra_id_i> = sentinel0 − i):
 * input = kept tokens, each noise span replaced by one sentinel, then eos;
 * target = each kept span replaced by one sentinel (so each sentinel is
 * followed by its noise span), then eos. in/tgt must hold len + 1 ids;
 * *n_in / *n_tgt receive the lengths. */
void es_span_apply(const int32_t *tokens, const unsigned char *mask, int len, int32_t sentinel0,
                   int32_t eos, int32_t *in, int *n_in, int32_t *tgt, int *n_tgt);

#endif
