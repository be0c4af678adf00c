/*
 * t5_tasks.h — the spam and G2P tasks as text-to-text problems for T5
 * (the pretrained-vs-scratch transfer experiment, docs/t5-training.md):
 * the input text of each example, a seeded label-fraction subset of a
 * training split, and the evaluations of a T5 model on both tasks.
 *
 * Spam: input "spam: <subject> | <body>", target "spam" or "ham".
 *   The body is the first text part of the message (text/plain preferred
 *   over text/html inside multipart/...), quoted-printable / base64 undone,
 *   HTML tags, <style>/<script> contents and common entities removed,
 *   invalid UTF-8 bytes read as Windows-1252, control characters as spaces,
 *   whitespace runs collapsed to one space, cut to max_body bytes (at a
 *   character boundary). The subject is the unfolded Subject header as
 *   written (RFC 2047 encoded words are kept verbatim: they are a signal).
 *   The score of a message is log p("spam") − log p("ham") (each summed
 *   over its tokens and </s>); predicted spam iff score >= 0.
 * G2P: input "phonemes: <word lower-case>", target the ARPAbet symbols of
 *   one pronunciation joined by single spaces ("T OW0 M AA1 T OW0").
 *   Training uses every variant of every train word; evaluation generates
 *   once per word and scores against all variants (metrics_g2p.h).
 *
 * Label fraction: key(item) = splitmix64(seed ^ FNV-1a-64(item name))
 * (spam: the file name; G2P: the upper-case word); in each stratum
 * (spam: the label; G2P: one stratum) the round(fraction · count) items
 * (at least 1) with the smallest keys are kept, ties by position. The
 * subset is a pure function of (seed, names, fraction), and the subset of
 * a smaller fraction is contained in that of a larger one.
 */
#ifndef ES_TRAIN_T5_TASKS_H
#define ES_TRAIN_T5_TASKS_H

#include "core/common.h"
#include "train/data.h"
#include "train/data_cmudict.h"
#include "train/g2p_eval.h"
#include "train/metrics.h"

#define ES_T5_SPAM_PREFIX "spam: "
#define ES_T5_G2P_PREFIX "phonemes: "

/* Input text of one raw message (n bytes, any content) for the spam task:
 * *out es_malloc'd, NUL-terminated, valid UTF-8, *len bytes (without the
 * NUL). max_body: body bytes kept (0 = all). ES_ERR_NOMEM only. */
es_status es_t5_spam_text(char **out, size_t *len, const uint8_t *msg, size_t n, size_t max_body,
                          es_error *err);

/* Longest prefix text[0, *cut) that ends at the end of the text or before
 * a space and encodes to at most max_tokens - 1 tokens (room for </s>).
 * With no such prefix (a first word longer than the budget) *cut = 0.
 * max_tokens >= 2. Errors: the tokenizer's. */
es_status es_t5_fit_tokens(size_t *cut, const es_tokenizer *tok, const char *text, size_t len,
                           int max_tokens, es_error *err);

/* Subset key of an item name (see the top of the file). */
uint64_t es_t5_subset_key(uint64_t seed, const void *name, size_t n);

/* chosen[i] = whether item i is in the fraction subset: per stratum s in
 * [0, n_strata), the max(1, round(fraction · count_s)) items of that
 * stratum with the smallest keys (ties: lower index). Strata with no items
 * choose nothing. fraction in (0, 1]. ES_ERR_ARG for a bad fraction or a
 * stratum outside [0, n_strata); ES_ERR_NOMEM. */
es_status es_t5_select_fraction(bool *chosen, const uint64_t *keys, const int32_t *strata,
                                size_t n, int n_strata, double fraction, es_error *err);

/* Spam evaluation of a T5 model. */
typedef struct es_t5_spam_eval {
    es_binary_metrics bin; /* threshold 0 on the score */
    size_t n;
    size_t n_cut;          /* inputs cut to fit max_src_tokens */
    double mean_src_tokens;
    double seconds, cpu_seconds; /* inside es_session_score */
} es_t5_spam_eval;

/* Scores every example of `split` of d (loaded with es_text_dataset_load)
 * with session s of a T5 model using tokenizer tok: the input built as
 * above (max_body bytes of body, cut by es_t5_fit_tokens to max_src_tokens)
 * and both targets. scores (optional, d-order of the split's examples)
 * receives the score of each. Errors: the session's (prefixed with the
 * file), ES_ERR_ARG for an empty split, ES_ERR_NOMEM. */
es_status es_t5_spam_evaluate(es_t5_spam_eval *out, es_session *s, const es_tokenizer *tok,
                              const es_text_dataset *d, es_split split, int max_src_tokens,
                              size_t max_body, double *scores, es_error *err);

/* G2P evaluation of a T5 model (tokenizer tok): every word of `split`
 * (word_mask != NULL: only words w with word_mask[w], d->n_words entries;
 * max_words > 0: the first that many), input ES_T5_G2P_PREFIX + lower-case
 * word, generated with gp; the decoded text is split at spaces into
 * dictionary symbols (unknown ones match nothing, counted) and scored
 * against all variants. Same outputs and callback as es_g2p_evaluate. */
es_status es_t5_g2p_evaluate(es_g2p_eval *out, es_session *s, const es_tokenizer *tok,
                             const es_cmudict *d, es_split split, const bool *word_mask,
                             const es_gen_params *gp, size_t max_words, es_g2p_word_fn fn,
                             void *user, es_error *err);

/* word_mask (d->n_words entries) of the seeded fraction subset of the
 * words of `split`: the same keys and rule as `data t5-jsonl --task g2p
 * --fraction F --seed S` (key of the upper-case word). ES_ERR_ARG for a
 * bad fraction, ES_ERR_NOMEM. */
es_status es_t5_g2p_word_mask(bool *word_mask, const es_cmudict *d, es_split split,
                              double fraction, uint64_t seed, es_error *err);

#endif
