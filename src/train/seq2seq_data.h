/*
 * seq2seq_data.h — training data and the training loop for byte seq2seq
 * models (src/model/byte_seq2seq.h): (input bytes, target symbol ids)
 * pairs, e.g. a word and its ARPAbet pronunciation for G2P (the CMUdict
 * reader produces this interface), or synthetic tasks (reverse, upper-case)
 * for tests.
 *
 * Targets are SYMBOL indices in [0, n_symbols) of the model (for a byte
 * vocabulary: the byte values); the model appends the end id itself.
 * The CLI driver (`edgeseq train` with a seq2seq config) is
 * tools/edgeseq/cmd_train_s2s.c.
 */
#ifndef ES_TRAIN_SEQ2SEQ_DATA_H
#define ES_TRAIN_SEQ2SEQ_DATA_H

#include "core/common.h"
#include "model/byte_seq2seq.h"
#include "train/optim.h"
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

/* ---- trainer ------------------------------------------------------------
 * An es_s2s_trainer trains m in place with the trainer's parameters
 * (trainer.h: batch_size, grad_accum, max_steps, lr, min_lr, warmup_steps,
 * schedule, weight_decay, beta1/2, eps, clip_norm, seed, n_threads,
 * log_every, eval_every, save_every, keep_checkpoints, out_dir; max_bytes
 * is ignored: inputs are cut to the encoder's max_bytes).
 *
 * One step = grad_accum micro-batches of batch_size examples in the
 * epoch's permutation order (Fisher–Yates from (seed, epoch), the
 * classifier trainer's formula); loss = mean token cross-entropy over the
 * batch (end id included); one global-norm clip over both parameter
 * registries; AdamW (optim.h) on each registry with the same step count
 * and lr. Deterministic for a given seed and thread count.
 *
 * Checkpoints (out_dir set; format ckpt.h, the classifier's): every
 * save_every steps, when stopped, and at the end, OUT/step-NNNNNNNN/ =
 * config.json + model.safetensors (a normal seq2seq model folder: encoder
 * and decoder tensors) + train_state.safetensors (AdamW moments of both
 * registries, step, epoch and position of the data order, dropout RNG,
 * config hash, model checksum), published by replacing OUT/checkpoint
 * atomically. The final model also goes to OUT/config.json +
 * model.safetensors. es_s2s_trainer_resume + run continues a run so that
 * the final weights are bit-identical to an uninterrupted run with the
 * same thread count (tests/unit/test_s2s_resume.c).
 *
 * Thread safety: one thread at a time per trainer; the model is borrowed
 * and must outlive it. */
typedef struct es_s2s_trainer es_s2s_trainer;

/* Called after optimizer steps in eval_every cadence and once at the end
 * (the model is consistent there). Return non-OK to stop training with
 * that status (no checkpoint is written for it). */
typedef es_status (*es_s2s_eval_fn)(void *user, es_s2s_trainer *tr, int64_t step, es_error *err);
/* Polled after every step; non-zero = stop now (checkpoint written when
 * out_dir is set; run returns ES_ERR_CANCELLED). For signal flags. */
typedef int (*es_s2s_stop_fn)(void *user);

/* New trainer for m (gradients are enabled on it). ES_ERR_ARG for invalid
 * params (names them), ES_ERR_NOMEM. */
es_status es_s2s_trainer_new(es_s2s_trainer **out, es_s2s_model *m, const es_train_params *p,
                             es_error *err);
void es_s2s_trainer_free(es_s2s_trainer *tr);
/* Progress every log_every steps and at max_steps (trainer.h's struct:
 * loss = mean since the previous report; bytes_per_s counts input bytes).
 * A non-zero return stops like the stop callback. */
void es_s2s_trainer_set_progress(es_s2s_trainer *tr, es_progress_fn fn, void *user);
void es_s2s_trainer_set_eval(es_s2s_trainer *tr, es_s2s_eval_fn fn, void *user);
void es_s2s_trainer_set_stop(es_s2s_trainer *tr, es_s2s_stop_fn fn, void *user);

/* Loads the latest checkpoint of dir (NULL = params.out_dir) into the
 * model and the trainer. ES_ERR_IO when there is no checkpoint pointer;
 * ES_ERR_FORMAT naming the file when a file is truncated or corrupt, the
 * model config differs, the training params differ (config hash), or the
 * model file does not match the state (checksum). On failure the model
 * and the trainer are unchanged. */
es_status es_s2s_trainer_resume(es_s2s_trainer *tr, const char *dir, es_error *err);
/* Trains until max_steps with progress, evals, stop polling and
 * checkpoints. ES_ERR_CANCELLED when stopped (after the checkpoint). */
es_status es_s2s_trainer_run(es_s2s_trainer *tr, const es_s2s_source *train, es_error *err);
/* One optimizer step; *loss (may be NULL) = its mean token cross-entropy. */
es_status es_s2s_trainer_step(es_s2s_trainer *tr, const es_s2s_source *train, double *loss,
                              es_error *err);
/* Writes a checkpoint of the current state now (needs out_dir). */
es_status es_s2s_trainer_save(es_s2s_trainer *tr, es_error *err);
int64_t es_s2s_trainer_step_count(const es_s2s_trainer *tr);
es_s2s_model *es_s2s_trainer_model(es_s2s_trainer *tr);
/* AdamW state of the encoder (which = 0) or decoder (1) registry (tests). */
const es_adamw *es_s2s_trainer_optim(const es_s2s_trainer *tr, int which);

/* ---- one-call training (kept for simple callers and tests) ---------------- */

/* Progress report every log_every steps and at max_steps: step (1-based),
 * mean token cross-entropy since the last report, gradient norm before
 * clipping, lr. Return non-zero to stop (es_s2s_train returns
 * ES_ERR_CANCELLED). */
typedef int (*es_s2s_progress_fn)(void *user, int64_t step, double loss, double grad_norm,
                                  float lr);

/* es_s2s_trainer_new + run + free: trains m in place from step 0 (the same
 * trajectory as the trainer). With p->out_dir, checkpoints and the final
 * model are written there as es_s2s_trainer_run does. */
es_status es_s2s_train(es_s2s_model *m, const es_s2s_source *train, const es_train_params *p,
                       es_s2s_progress_fn progress, void *user, es_error *err);

/* Mean token cross-entropy and exact-match rate of greedy decoding over
 * src (eval mode), using a workspace for batch_size examples. */
es_status es_s2s_evaluate(es_s2s_model *m, const es_s2s_source *src, int batch_size,
                          es_pool *pool, double *loss, double *exact, es_error *err);

#endif
