/*
 * seq2seq_data.h — training data and the training loop for byte seq2seq
 * models (src/model/byte_seq2seq.h): (input bytes, target symbol ids)
 * pairs, e.g. a word and its ARPAbet pronunciation for G2P (the CMUdict
 * reader produces this interface), or synthetic tasks (reverse, upper-case)
 * for tests.
 *
 * Targets are SYMBOL indices in [0, n_symbols) of the model (for a byte
 * vocabulary: the byte values); the model appends the end id itself.
 */
#ifndef ES_TRAIN_SEQ2SEQ_DATA_H
#define ES_TRAIN_SEQ2SEQ_DATA_H

#include "core/common.h"
#include "model/byte_seq2seq.h"
#include "train/trainer.h"

typedef struct es_s2s_example {
    const uint8_t *src;   /* input bytes (borrowed) */
    size_t src_len;
    const int32_t *tgt;   /* target symbol indices (borrowed) */
    size_t tgt_len;       /* <= model max_out - 1 */
} es_s2s_example;

/* Fills *out with example `index` (< n); the pointers must stay valid
 * until the next call. Return non-OK to abort training. */
typedef es_status (*es_s2s_example_fn)(void *user, size_t index, es_s2s_example *out,
                                       es_error *err);

typedef struct es_s2s_source {
    size_t n;                    /* number of examples */
    const es_s2s_example *array; /* either an array of n examples ... */
    es_s2s_example_fn get;       /* ... or a callback (used when array is NULL) */
    void *user;
} es_s2s_source;

/* Progress report every log_every steps: step (1-based), mean token
 * cross-entropy since the last report, gradient norm before clipping, lr.
 * Return non-zero to stop (es_s2s_train returns ES_ERR_CANCELLED). */
typedef int (*es_s2s_progress_fn)(void *user, int64_t step, double loss, double grad_norm,
                                  float lr);

/* Trains m in place on `train` with the trainer's parameters (batch_size,
 * grad_accum, max_steps, lr, min_lr, warmup_steps, schedule, weight_decay,
 * beta1/2, eps, clip_norm, seed, n_threads, log_every; out_dir: the final
 * model folder is written there, NULL = none). Loss: mean token
 * cross-entropy over the batch (end id included). Data order: a
 * Fisher–Yates permutation per epoch drawn from (seed, epoch). AdamW as
 * src/train/optim.h, one optimizer over both parameter registries (the
 * clipping norm covers both). Deterministic for a given seed and thread
 * count. Not done: mid-run checkpoints / resume (the classifier trainer's
 * format does not cover two registries yet). */
es_status es_s2s_train(es_s2s_model *m, const es_s2s_source *train, const es_train_params *p,
                       es_s2s_progress_fn progress, void *user, es_error *err);

/* Mean token cross-entropy and exact-match rate of greedy decoding over
 * src (eval mode), using a workspace for batch_size examples. */
es_status es_s2s_evaluate(es_s2s_model *m, const es_s2s_source *src, int batch_size,
                          es_pool *pool, double *loss, double *exact, es_error *err);

#endif
