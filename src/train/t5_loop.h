/*
 * t5_loop.h — what T5 fine-tuning (t5_finetune.c) and span-corruption
 * pretraining (t5_pretrain.c) share: the optimizer (AdamW or Adafactor
 * over the es_t5_trainable registry), the dropout RNG, checkpoints
 * (write, validate, resume), the loss curves (CSV + SVG), and the step
 * loop with its log / eval / save cadence, best-model keeping, non-finite
 * loss check and clean stop. The callers keep only what differs: data,
 * batches, their learning-rate schedule and their progress structs.
 *
 * Checkpoint folder OUT/step-NNNNNNNN/: config.json, model.safetensors
 * (+ tokenizer files, es_t5_trainable_save), optim.safetensors with F32
 * tensors opt.m, opt.v (AdamW moments, or Adafactor's unfactored second
 * moments twice), opt.rowcol (Adafactor's factored rows then columns; one
 * 0 for AdamW) and __metadata__: edgeseq_format, step, opt_t, rng0..rng3
 * (hex xoshiro state of the dropout RNG), best_dev, best_step, optimizer
 * ("adamw" | "adafactor"), n_params, plus the caller's extra keys
 * (finetune: epoch, batch_pos; pretrain: seed, raw_len). A save writes the
 * step folder completely (each file atomically), then replaces OUT/checkpoint
 * ("step-NNNNNNNN\n", atomic), then removes older step folders — a kill at
 * any moment leaves one complete checkpoint that OUT/checkpoint names.
 *
 * Resume restores weights, optimizer state, optimizer step count, RNG,
 * step and best loss; the caller restores its data position from its
 * extra keys. Training is deterministic for any thread count, so a
 * resumed run ends bit-identical to an uninterrupted one
 * (tests/e2e/test_finetune_resume.sh).
 */
#ifndef ES_TRAIN_T5_LOOP_H
#define ES_TRAIN_T5_LOOP_H

#include "io/weights.h"
#include "train/adafactor.h"
#include "train/optim.h"
#include "train/t5_state.h"

typedef struct es_t5_curve_row {
    int64_t step;
    double train, dev, lr, gnorm, elapsed; /* dev NAN when not evaluated at this step */
} es_t5_curve_row;

/* Fixed settings of a run (borrowed strings, set before es_t5_run_init). */
typedef struct es_t5_run_cfg {
    const char *out_dir;       /* output folder (exists) */
    const char *src_dir;       /* folder whose config.json + tokenizer files every save copies */
    int adamw;                 /* 1 AdamW, 0 Adafactor */
    float beta1, beta2, eps, weight_decay; /* AdamW (decay only on registry tensors with decay = 1) */
    es_adafactor_params afp;   /* Adafactor; lr is replaced by the caller's lr each step */
    float clip_norm;           /* global-norm clip, 0 = off */
    uint64_t rng_seed;         /* dropout RNG seed */
    /* curves: CSV column name of the held-out loss, SVG title and series label */
    const char *dev_column, *title, *dev_label, *panel;
} es_t5_run_cfg;

typedef struct es_t5_run {
    es_t5_run_cfg cfg;
    es_t5_trainable *t;        /* borrowed */
    es_adamw adam;
    es_adafactor af;
    es_rng rng;                /* dropout masks */
    int64_t step;              /* optimizer steps taken */
    double best_dev;           /* best held-out loss (INFINITY before the first) */
    int64_t best_step;
    es_t5_curve_row *curve;
    size_t n_curve, cap_curve;
    double elapsed0; /* curves' elapsed_s at the resumed step (last kept row; 0 fresh) */
} es_t5_run;

/* Allocates the optimizer state for t (borrowed, must outlive r). */
es_status es_t5_run_init(es_t5_run *r, es_t5_trainable *t, const es_t5_run_cfg *cfg,
                         es_error *err);
void es_t5_run_free(es_t5_run *r);

/* After the gradients of one step are in t->ps.grad: clip (cfg.clip_norm)
 * or measure the global norm (*gnorm), then one optimizer update at lr.
 * Returns the step size used (lr for AdamW; Adafactor's α_t of the last
 * tensor, = lr without parameter scaling). Increments r->step. */
float es_t5_run_update(es_t5_run *r, float lr, double *gnorm);

/* Saves the final / best model folder `dir` (F32 weights + src_dir files). */
es_status es_t5_run_save_model(const es_t5_run *r, const char *dir, es_error *err);

/* Writes checkpoint step-<r->step> with extra metadata pairs
 * (extra[2i] = key, extra[2i+1] = value; n_extra pairs). */
es_status es_t5_run_save_checkpoint(es_t5_run *r, const char *const *extra, size_t n_extra,
                                    es_error *err);

/* Called by es_t5_run_resume after the common checks passed and before
 * anything is copied: validates the caller's metadata in `opt` (the
 * optim.safetensors of checkpoint folder `dir`) and takes its values.
 * Return non-OK (with a message naming dir) to refuse the checkpoint. */
typedef es_status (*es_t5_resume_fn)(void *user, const es_weights *opt, const char *dir,
                                     es_error *err);

/* Continues from OUT/checkpoint when it exists (*resumed = 1), else does
 * nothing (*resumed = 0). ES_ERR_FORMAT naming the folder when the
 * checkpoint is damaged or does not match this run (optimizer, parameter
 * count, caller's keys); nothing is modified then. Also reloads
 * OUT/curves.csv rows up to the resumed step. */
es_status es_t5_run_resume(es_t5_run *r, int *resumed, es_t5_resume_fn fn, void *user,
                           es_error *err);

/* Appends a curve row (best effort: dropped when out of memory). */
void es_t5_run_curve_add(es_t5_run *r, es_t5_curve_row row);
/* Rewrites OUT/curves.csv (step, train_loss, <dev_column>, lr, grad_norm,
 * elapsed_s; atomic) and OUT/curves.svg. */
es_status es_t5_run_curve_write(es_t5_run *r, es_error *err);

/* ---- the step loop ---------------------------------------------------------- */

typedef struct es_t5_loop_report {
    int event;                 /* 0 progress, 1 held-out eval, 2 checkpoint */
    int64_t step, max_steps;
    double train_loss;         /* mean of the step losses since the last report */
    double dev_loss;           /* last held-out loss (NAN before the first) */
    double best_dev;
    float lr;
    double grad_norm, elapsed_s, eta_s;
    double steps_per_s;        /* this process's steps / elapsed */
} es_t5_loop_report;

typedef struct es_t5_loop {
    int64_t max_steps;
    int log_every, eval_every, save_every; /* 0 = never (the last step always saves) */
    int eval_at_start;         /* held-out loss before step 1 when starting at step 0 */
    void *user;
    /* One optimizer step (data, forward/backward, es_t5_run_update):
     * token-mean loss, gradient norm, logged lr. */
    es_status (*step)(void *user, double *loss, double *gnorm, float *lr, es_error *err);
    /* Held-out token-mean loss; NULL = none. */
    es_status (*eval)(void *user, double *loss, es_error *err);
    /* Extra checkpoint metadata pairs for the current position. */
    size_t (*meta)(void *user, const char **kv, size_t cap_pairs);
    /* Progress (events 0-2 at log/eval/save steps); non-zero stops. */
    int (*report)(void *user, const es_t5_loop_report *rep);
} es_t5_loop;

/* Runs steps r->step + 1 .. max_steps. Every eval_every steps (and at the
 * last) the held-out loss is computed and a new best written to OUT/best;
 * every save_every steps (and at the last) a checkpoint; curves at every
 * log/eval/save step; at the end the model is written to OUT. A report
 * returning non-zero stops after that step: checkpoint, curves and model
 * are written and ES_ERR_CANCELLED is returned ("stopped at step N").
 * A non-finite loss or any error stops at once with the error and leaves
 * the last checkpoint as it was. */
es_status es_t5_run_loop(es_t5_run *r, const es_t5_loop *lp, es_error *err);

#endif
