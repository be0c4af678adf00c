/*
 * span_corruption.c — T5 span corruption (contract and equations in
 * span_corruption.h). Rounding is rint() in the default round-to-nearest-even
 * mode, which is what np.round / Python round do on the same double
 * products (e.g. 30·0.15 = 4.5 → 4, 10·0.15 = 1.5 → 2), so the counts
 * match HF/T5 exactly for every length.
 */
#include "train/span_corruption.h"

#include <math.h>
#include <string.h>

es_status es_span_counts_for(es_span_counts *c, int len, double density, double mean_span,
                             es_error *err) {
    if (len < 2 || !(density > 0.0 && density < 1.0) || !(mean_span > 0.0))
        return es_errf(err, ES_ERR_ARG,
                       "span corruption: need length >= 2, density in (0,1), mean span > 0 "
                       "(got %d, %g, %g)", len, density, mean_span);
    int n_noise = (int)rint((double)len * density);
    if (n_noise < 1) n_noise = 1;
    if (n_noise > len - 1) n_noise = len - 1;
    int n_spans = (int)rint((double)n_noise / mean_span);
    if (n_spans < 1) n_spans = 1;
    c->n_noise = n_noise;
    c->n_keep = len - n_noise;
    /* a kept span needs >= 1 token too (only matters for tiny len / high density) */
    if (n_spans > c->n_keep) n_spans = c->n_keep;
    c->n_spans = n_spans;
    c->input_len = c->n_keep + n_spans + 1;
    c->target_len = n_noise + n_spans + 1;
    return ES_OK;
}

/* HF _tokens_length_to_inputs_length_targets_length (no clamping: HF's
 * length helper does not clamp either). */
static void lengths_of(int tokens, double density, double mean_span, int *in, int *tgt) {
    int n_noise = (int)rint((double)tokens * density);
    int n_keep = tokens - n_noise;
    int n_spans = (int)rint((double)n_noise / mean_span);
    *in = n_keep + n_spans + 1;
    *tgt = n_noise + n_spans + 1;
}

es_status es_span_raw_length(int inputs_length, double density, double mean_span, int *raw_len,
                             int *target_len, es_error *err) {
    if (inputs_length < 3 || inputs_length > (1 << 24) || !(density > 0.0 && density < 1.0) ||
        !(mean_span > 0.0))
        return es_errf(err, ES_ERR_ARG,
                       "span corruption: input length %d outside [3, 2^24] or bad density/span",
                       inputs_length);
    int tokens = inputs_length, in, tgt;
    for (;;) {
        lengths_of(tokens + 1, density, mean_span, &in, &tgt);
        if (in > inputs_length) break;
        tokens++;
    }
    lengths_of(tokens, density, mean_span, &in, &tgt);
    if (density == 0.5 && tgt > in) {
        tokens--;
        tgt--;
    }
    *raw_len = tokens;
    *target_len = tgt;
    return ES_OK;
}

void es_span_random_segmentation(int *seg, int n_items, int n_seg, es_rng *rng,
                                 unsigned char *scratch) {
    /* gaps g = 0..n_items−2; gap g marked means item g+1 starts a segment */
    const int n_gaps = n_items - 1;
    for (int g = 0; g < n_gaps; g++) scratch[g] = g < n_seg - 1;
    for (int g = n_gaps - 1; g > 0; g--) {
        int j = (int)es_rng_below(rng, (uint64_t)g + 1);
        unsigned char t = scratch[g];
        scratch[g] = scratch[j];
        scratch[j] = t;
    }
    int k = 0, run = 1;
    for (int g = 0; g < n_gaps; g++) {
        if (scratch[g]) {
            seg[k++] = run;
            run = 1;
        } else {
            run++;
        }
    }
    seg[k] = run;
}

es_status es_span_mask_from_lengths(unsigned char *mask, int len, const int *keep,
                                    const int *noise, int n_spans, es_error *err) {
    long sk = 0, sn = 0;
    for (int i = 0; i < n_spans; i++) {
        if (keep[i] < 0 || noise[i] < 0)
            return es_errf(err, ES_ERR_ARG, "span corruption: negative span length at span %d", i);
        sk += keep[i];
        sn += noise[i];
    }
    if (sk + sn != len)
        return es_errf(err, ES_ERR_ARG,
                       "span corruption: kept %ld + noise %ld tokens != length %d", sk, sn, len);
    int p = 0;
    for (int i = 0; i < n_spans; i++) {
        memset(mask + p, 0, (size_t)keep[i]);
        p += keep[i];
        memset(mask + p, 1, (size_t)noise[i]);
        p += noise[i];
    }
    return ES_OK;
}

es_status es_span_scratch_init(es_span_scratch *s, int cap, es_error *err) {
    memset(s, 0, sizeof *s);
    if (cap < 2) cap = 2;
    s->keep = es_malloc((size_t)cap * sizeof(int));
    s->noise = es_malloc((size_t)cap * sizeof(int));
    s->bytes = es_malloc((size_t)cap);
    s->cap = cap;
    if (!s->keep || !s->noise || !s->bytes) {
        es_span_scratch_free(s);
        return es_errf(err, ES_ERR_NOMEM, "span corruption: scratch for %d tokens", cap);
    }
    return ES_OK;
}

void es_span_scratch_free(es_span_scratch *s) {
    es_free(s->keep);
    es_free(s->noise);
    es_free(s->bytes);
    memset(s, 0, sizeof *s);
}

es_status es_span_noise_mask(unsigned char *mask, int len, double density, double mean_span,
                             es_rng *rng, es_span_scratch *s, es_error *err) {
    es_span_counts c;
    es_status st = es_span_counts_for(&c, len, density, mean_span, err);
    if (st) return st;
    if (len > s->cap)
        return es_errf(err, ES_ERR_ARG, "span corruption: length %d over scratch %d", len, s->cap);
    /* same draw order as HF: noise segmentation first, then kept */
    es_span_random_segmentation(s->noise, c.n_noise, c.n_spans, rng, s->bytes);
    es_span_random_segmentation(s->keep, c.n_keep, c.n_spans, rng, s->bytes);
    return es_span_mask_from_lengths(mask, len, s->keep, s->noise, c.n_spans, err);
}

void es_span_apply(const int32_t *tokens, const unsigned char *mask, int len, int32_t sentinel0,
                   int32_t eos, int32_t *in, int *n_in, int32_t *tgt, int *n_tgt) {
    int ni = 0, nt = 0, si = 0, st = 0;
    for (int i = 0; i < len; i++) {
        const int start = i == 0 || mask[i] != mask[i - 1];
        if (mask[i]) {
            if (start) in[ni++] = sentinel0 - si++;
            tgt[nt++] = tokens[i];
        } else {
            if (start) tgt[nt++] = sentinel0 - st++;
            in[ni++] = tokens[i];
        }
    }
    in[ni++] = eos;
    tgt[nt++] = eos;
    *n_in = ni;
    *n_tgt = nt;
}
