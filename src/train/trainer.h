/*
 * trainer.h — the training API the CLI (`edgeseq train/eval`) codes against.
 *
 * A trainer owns: the optimizer (AdamW, PyTorch semantics), the LR
 * schedule, gradient accumulation and clipping, the data order (a seeded
 * permutation per epoch), the dropout/zoneout RNG, the thread pool, and
 * checkpoints. It borrows the model (es_byte_model) and updates it in place.
 *
 * Data: an es_example_source gives random access to N labelled examples,
 * either as an array or through a callback (index -> bytes). The trainer
 * visits examples in a permutation of [0, N) drawn from (seed, epoch), so
 * the data position is two integers and a resumed run sees exactly the
 * batches an uninterrupted run would.
 *
 * Checkpoints (train_params.out_dir set): every save_every steps and at the
 * end, a folder <out_dir>/step-<NNNNNNNN>/ with config.json,
 * model.safetensors (a normal model folder: es_model_load works on it) and
 * train_state.safetensors (optimizer moments, step, RNG, data position,
 * config hash, model checksum); then <out_dir>/checkpoint (one line: the
 * folder name) is replaced atomically. A kill at any moment leaves the last
 * complete checkpoint reachable. es_trainer_resume() reads <out_dir>/
 * checkpoint and refuses (ES_ERR_FORMAT) a truncated, mismatched or
 * corrupt state without modifying anything on disk. The final model is also
 * written to <out_dir>/config.json + model.safetensors.
 * Format and the bit-identical-resume argument: docs/training.md.
 *
 * Thread safety: one thread at a time per trainer.
 */
#ifndef ES_TRAIN_TRAINER_H
#define ES_TRAIN_TRAINER_H

#include "core/common.h"
#include "model/byte_model.h"
#include "train/dist.h"

/* One labelled example. bytes are borrowed for the duration of the call
 * that received them. target/target_len are reserved for seq2seq models
 * (NULL/0 for classifiers). */
typedef struct es_example {
    const uint8_t *bytes;
    size_t len;
    int32_t label;          /* class index in [0, n_labels) */
    const uint8_t *target;
    size_t target_len;
} es_example;

/* Fills *out with example `index` (< n). The bytes must stay valid until
 * the next call of the callback. Return non-OK to abort training. */
typedef es_status (*es_example_fn)(void *user, size_t index, es_example *out, es_error *err);

typedef struct es_example_source {
    size_t n;                 /* number of examples */
    const es_example *array;  /* either an array of n examples ... */
    es_example_fn get;        /* ... or a callback (used when array is NULL) */
    void *user;
} es_example_source;

typedef enum es_lr_schedule {
    ES_LR_CONSTANT = 0, /* lr after warm-up */
    ES_LR_LINEAR = 1,   /* linear decay to min_lr at max_steps */
    ES_LR_COSINE = 2,   /* half cosine to min_lr at max_steps */
    ES_LR_INVSQRT = 3   /* lr * sqrt(warmup / step) after warm-up */
} es_lr_schedule;

typedef enum es_optimizer {
    ES_OPT_ADAMW = 0
    /* ES_OPT_ADAFACTOR reserved (T5 fine-tuning) */
} es_optimizer;

typedef struct es_train_params {
    int batch_size;         /* examples per micro-batch; default 32 */
    int grad_accum;         /* micro-batches per optimizer step; default 1 */
    int64_t max_steps;      /* optimizer steps; default 1000 */
    es_optimizer optimizer;
    float lr;               /* peak learning rate; default 2e-3 */
    float min_lr;           /* end of linear/cosine decay; default 0 */
    int64_t warmup_steps;   /* linear warm-up from 0; default 0 */
    es_lr_schedule schedule;/* default ES_LR_COSINE */
    float weight_decay;     /* decoupled (AdamW); default 0.01; only tensors with decay=1 */
    float beta1, beta2, eps;/* default 0.9, 0.999, 1e-8 */
    float clip_norm;        /* global gradient norm clip; <= 0 = off; default 1 */
    uint64_t seed;          /* model init (by the caller), data order, dropout; default 1 */
    int n_threads;          /* 0 = physical cores */
    int max_bytes;          /* 0 = model config max_bytes; inputs are cut to this */
    int64_t eval_every;     /* call eval_fn every N steps (0 = never) */
    int64_t log_every;      /* call progress_fn every N steps; default 10 */
    int64_t save_every;     /* checkpoint every N steps (0 = only at the end) */
    const char *out_dir;    /* checkpoint folder (NULL = no checkpoints) */
    int keep_checkpoints;   /* step folders kept; default 2 */
} es_train_params;

es_train_params es_train_params_default(void);

typedef struct es_train_progress {
    int64_t step, max_steps;
    int64_t epoch;          /* 0-based */
    double loss;            /* mean training loss since the previous report */
    double grad_norm;       /* global norm before clipping, last step */
    float lr;               /* learning rate of the last step */
    double examples_per_s, bytes_per_s;
    double elapsed_s, eta_s;
} es_train_progress;

typedef struct es_trainer es_trainer;

/* Return non-zero to stop training (es_trainer_run returns ES_ERR_CANCELLED
 * after writing a checkpoint if out_dir is set). */
typedef int (*es_progress_fn)(void *user, const es_train_progress *p);
/* Called every eval_every steps and at the end; use es_trainer_predict*
 * inside. Return non-OK to stop. */
typedef es_status (*es_eval_fn)(void *user, es_trainer *tr, int64_t step, es_error *err);

/* Creates a trainer for model m (borrowed; must outlive the trainer;
 * gradients are enabled on it). Validates params (ES_ERR_ARG). */
es_status es_trainer_new(es_trainer **out, es_byte_model *m, const es_train_params *p,
                         es_error *err);
void es_trainer_free(es_trainer *tr);

void es_trainer_set_progress(es_trainer *tr, es_progress_fn fn, void *user);
void es_trainer_set_eval(es_trainer *tr, es_eval_fn fn, void *user);

/* Loads the latest checkpoint of dir (or params.out_dir when dir is NULL)
 * into the model and the trainer state. ES_ERR_FORMAT when a file is
 * truncated/corrupt, the model checksum or the config hash does not match
 * (a different model config or training params); ES_ERR_IO when there is
 * no checkpoint. On failure the model and trainer are unchanged. */
es_status es_trainer_resume(es_trainer *tr, const char *dir, es_error *err);

/* Trains until params.max_steps on `train`, with evals, progress reports
 * and checkpoints. Can be called after es_trainer_resume. */
es_status es_trainer_run(es_trainer *tr, const es_example_source *train, es_error *err);
/* One optimizer step (grad_accum micro-batches). *loss = mean loss. */
es_status es_trainer_step(es_trainer *tr, const es_example_source *train, double *loss,
                          es_error *err);
/* Writes a checkpoint now (needs out_dir). */
es_status es_trainer_save(es_trainer *tr, es_error *err);

int64_t es_trainer_step_count(const es_trainer *tr);
es_byte_model *es_trainer_model(es_trainer *tr);

/* Eval-mode probabilities (softmax over the n_labels classes) of n inputs:
 * probs (n, n_labels) caller-owned; batched internally. */
es_status es_trainer_predict(es_trainer *tr, const uint8_t *const *bytes, const size_t *lens,
                             size_t n, float *probs, es_error *err);
/* Mean cross-entropy and accuracy over a source (eval mode). */
es_status es_trainer_evaluate(es_trainer *tr, const es_example_source *src, double *loss,
                              double *accuracy, es_error *err);

/* Learning rate at 1-based step `step` for params p (exposed for tests). */
float es_lr_at(const es_train_params *p, int64_t step);

/* Data-parallel training (docs/distributed.md). Attaches communicator d
 * (borrowed; src/train/dist.h; must outlive the trainer). Call on every
 * rank right after es_trainer_new, before resume/step/run. Collective.
 * Then batch_size is PER RANK: a step's global batch is size *
 * batch_size * grad_accum examples, the same examples in the same order
 * a single process with batch size*batch_size would use (every rank draws
 * the same permutation and takes slots [rank*B, (rank+1)*B) of each
 * global micro-batch). Gradients are summed across ranks before clipping;
 * rank 0 alone writes checkpoints; resume, save, run and step become
 * collective (every rank calls them; a failure on one rank is returned on
 * all; the progress callback's stop request and the eval callback's
 * status count on every rank, and a rank may have no callbacks). Rank 0's
 * parameters are broadcast to all ranks here. ES_ERR_ARG
 * when ranks disagree on the model config or training params, or the
 * trainer has already stepped. A size-1 communicator changes nothing. */
es_status es_trainer_set_dist(es_trainer *tr, es_dist *d, es_error *err);

#endif
