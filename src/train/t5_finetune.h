/*
 * t5_finetune.h — the T5 fine-tuning loop behind `edgeseq finetune`:
 * length-bucketed padded batches from JSON lines, token-mean cross entropy
 * (labels -100 ignored), gradient accumulation, AdamW or Adafactor, LR
 * schedule (trainer.h es_lr_at), dev loss every N steps with the best model
 * kept, checkpoints that survive a kill, curves as CSV + SVG.
 *
 * Output folder DIR:
 *   config.json, model.safetensors, spiece.model, ...   final model (HF folder)
 *   best/                                               best dev-loss model (HF folder)
 *   step-NNNNNNNN/{config.json, model.safetensors, optim.safetensors}
 *   checkpoint                                          "step-NNNNNNNN" (atomic)
 *   curves.csv, curves.svg
 * optim.safetensors: flat optimizer state and metadata as in t5_loop.h
 * (shared with pretraining), plus epoch and batch_pos. A save writes the
 * step folder completely, then replaces `checkpoint`; older step folders
 * are removed afterwards, so a kill at any moment leaves a complete
 * checkpoint. Resume recomputes the epoch's batch order from (seed, epoch)
 * and restores RNG, optimizer and position, so it continues the same
 * trajectory: the final model is bit-identical to an uninterrupted run's
 * (tests/e2e/test_finetune_resume.sh). Bad data fails before DIR is
 * touched; a failure mid-run leaves the last checkpoint as it was.
 */
#ifndef ES_TRAIN_T5_FINETUNE_H
#define ES_TRAIN_T5_FINETUNE_H

#include "train/trainer.h"

typedef enum es_t5_opt { ES_T5_OPT_ADAFACTOR = 0, ES_T5_OPT_ADAMW = 1 } es_t5_opt;

typedef struct es_t5_ft_params {
    const char *model_dir, *train_path, *dev_path, *out_dir;
    es_t5_opt optimizer;
    es_train_params tp;     /* batch_size, grad_accum, max_steps, lr, schedule, warm-up,
                               weight_decay, betas, eps, clip_norm, seed, n_threads,
                               eval_every, log_every, save_every */
    float dropout;          /* < 0: config.json dropout_rate (0.1 when absent) */
    int adafactor_relative; /* 1: HF relative step + scale_parameter (lr unused) */
    int max_src_len, max_tgt_len;
    int skip_bad;           /* skip (and count) bad lines instead of failing */
    int resume;             /* continue from DIR/checkpoint when present */
} es_t5_ft_params;

es_t5_ft_params es_t5_ft_params_default(void);

typedef struct es_t5_ft_progress {
    int64_t step, max_steps, epoch;
    double train_loss;      /* token-mean loss since the last report */
    double dev_loss;        /* last dev loss (NAN before the first eval) */
    double best_dev;
    float lr;
    double grad_norm;
    double tokens_per_s, elapsed_s, eta_s;
    int event;              /* 0 progress, 1 dev eval, 2 checkpoint, 3 resumed, 4 data loaded */
    size_t n_train, n_dev, n_skipped;
    const char *note;       /* data: first skipped line message, or NULL */
} es_t5_ft_progress;

/* Return non-zero to stop (checkpoint, curves and model are written,
 * ES_ERR_CANCELLED). */
typedef int (*es_t5_ft_progress_fn)(void *user, const es_t5_ft_progress *p);

/* Runs the whole fine-tuning. Errors name files/lines (bad data), etc. */
es_status es_t5_finetune(const es_t5_ft_params *p, es_t5_ft_progress_fn fn, void *user,
                         es_error *err);

#endif
