/*
 * g2p_eval.h — scores a G2P model (any model folder es_session_generate
 * drives: a byte seq2seq model with a phone symbol list) on a CMUdict
 * split: each word of the split is generated once (batch 1, the given
 * decoding parameters), its output text ("HH AH0 L OW1") is mapped back
 * to the dictionary's symbols, and WER / PER with and without stress are
 * accumulated (metrics_g2p.h) against all its variants.
 *
 * The input is the word in the chosen case: ES_CMU_CASE_LOWER (default,
 * the normal use: `edgeseq generate hello`) or ES_CMU_CASE_ORIGINAL (the
 * dictionary's upper case). An output symbol the dictionary does not know
 * is kept as a symbol that matches nothing (counted in n_unknown).
 * Time is measured around es_session_generate only (wall and process CPU).
 */
#ifndef ES_TRAIN_G2P_EVAL_H
#define ES_TRAIN_G2P_EVAL_H

#include "train/data_cmudict.h"
#include "train/metrics_g2p.h"

typedef struct es_g2p_eval {
    es_g2p_metrics m;
    size_t n_unknown;     /* predicted symbols outside the dictionary's list */
    size_t n_out_symbols; /* predicted symbols in total */
    double seconds;       /* wall time inside es_session_generate */
    double cpu_seconds;   /* process CPU time inside it (all threads) */
} es_g2p_eval;

/* Called after each word (optional): word index into d->words, the
 * predicted text (NUL-terminated), correctness with / without stress. */
typedef void (*es_g2p_word_fn)(void *user, const es_cmudict *d, size_t word, const char *pred,
                               bool ok_stress, bool ok_nostress);

/* Evaluates the words of `split` (ES_SPLIT_COUNT = all) in dictionary
 * order; max_words > 0 stops after that many (a quick look, e.g. during
 * development; reported numbers use all). s: a session of `model` with
 * max_batch >= gp->num_beams for beam search. Errors: the session's
 * message (ES_ERR_* of es_session_generate, prefixed with the word),
 * ES_ERR_ARG for an empty selection, ES_ERR_NOMEM. */
es_status es_g2p_evaluate(es_g2p_eval *out, es_session *s, const es_model *model,
                          const es_cmudict *d, es_split split, const es_gen_params *gp,
                          unsigned input_case, size_t max_words, es_g2p_word_fn fn, void *user,
                          es_error *err);

/* One hypothesis: maps its text (tl bytes, space-separated symbols) to
 * the dictionary's symbols (unknown ones match nothing, n_unknown++) and
 * adds it to out against word x's variants; ok1 / ok2: correct with /
 * without stress. Scratch: *pred (*pred_cap ids, grown with es_realloc),
 * refs / lens (max variants of any word), map (es_g2p_stress_map). Shared
 * by es_g2p_evaluate and the T5 G2P task (train/t5_tasks.c). */
es_status es_g2p_score_text(es_g2p_eval *out, const es_cmudict *d, const es_cmu_word *x,
                            const char *text, size_t tl, int32_t **pred, size_t *pred_cap,
                            const int32_t **refs, size_t *lens, const int32_t *map, bool *ok1,
                            bool *ok2, es_error *err);

#endif
