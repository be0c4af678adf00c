/*
 * metrics_g2p.h — grapheme-to-phoneme metrics over words with several
 * reference pronunciations (CMUdict variants).
 *
 * Per word: prediction p (symbol indices), references r_1..r_k (k >= 1).
 *   correct  ⇔ p equals some r_i exactly;
 *   WER      = share of words not correct;
 *   PER      = Σ_words ED(p, r*) / Σ_words |r*|, where r* is the closest
 *              reference (least edit distance; ties: the first in order)
 *              and ED the Levenshtein distance with unit costs (insertion,
 *              deletion, substitution) over phone symbols.
 * "Stress removed": every symbol is first mapped to its stress-free class
 * (name without trailing digits: AH0/AH1/AH2/AH → one class) in the
 * prediction and in every reference, then the same rules apply. Duplicate
 * references that appear after the mapping are merged implicitly: equal
 * references have equal distances and lengths, so neither the match nor
 * the tie rule can tell them apart.
 */
#ifndef ES_TRAIN_METRICS_G2P_H
#define ES_TRAIN_METRICS_G2P_H

#include "core/common.h"

/* Levenshtein distance between a[0, na) and b[0, nb) with unit costs.
 * work: nb + 1 scratch entries. */
size_t es_g2p_edit_distance(const int32_t *a, size_t na, const int32_t *b, size_t nb,
                            size_t *work);

/* Stress classes: map[i] = the smallest j such that symbols i and j are
 * equal once trailing ASCII digits are removed (so map[i] <= i, and
 * map[map[i]] == map[i]). A symbol that is all digits keeps its name. */
void es_g2p_stress_map(int32_t *map, const char *const *symbols, int n_symbols);

typedef struct es_g2p_score {
    size_t n_words;  /* words scored */
    size_t n_wrong;  /* words whose prediction matches no reference */
    size_t edits;    /* Σ edit distance to the closest reference */
    size_t ref_len;  /* Σ length of that reference */
} es_g2p_score;

typedef struct es_g2p_metrics {
    es_g2p_score stress;   /* symbols as given */
    es_g2p_score nostress; /* after the stress map */
} es_g2p_metrics;

/* Word error rate n_wrong / n_words and phone error rate edits / ref_len
 * (0 when the denominator is 0). */
double es_g2p_wer(const es_g2p_score *s);
double es_g2p_per(const es_g2p_score *s);

/* Scores one word. pred: n_pred symbol indices (values outside
 * [0, n_symbols), e.g. -1 for an unknown output, are allowed: they match
 * nothing); refs[i]: ref_lens[i] indices in [0, n_symbols), n_refs >= 1.
 * stress_map: es_g2p_stress_map of the n_symbols symbols. Adds to m; when
 * ok_stress / ok_nostress are not NULL they get whether the word was
 * correct. ES_ERR_ARG for no references or a reference index out of
 * range; ES_ERR_NOMEM when a long sequence needs scratch memory (up to 256
 * symbols need none). m is unchanged on error. */
es_status es_g2p_metrics_add(es_g2p_metrics *m, const int32_t *pred, size_t n_pred,
                             const int32_t *const *refs, const size_t *ref_lens, size_t n_refs,
                             const int32_t *stress_map, int n_symbols, bool *ok_stress,
                             bool *ok_nostress, es_error *err);

#endif
