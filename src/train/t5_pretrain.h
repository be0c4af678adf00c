/*
 * t5_pretrain.h — T5 span-corruption pretraining from plain text
 * (`edgeseq pretrain`): text files → paragraphs ("documents", split at blank
 * lines) → SentencePiece ids → one packed stream per split → fixed-length
 * raw chunks (es_span_raw_length of the input length) → span corruption
 * (span_corruption.h; a fresh mask per chunk and epoch) → full batches with
 * no padding (every row has the same input and target length).
 *
 * Held-out split: a paragraph goes to validation when FNV-1a-64 of its
 * bytes is ≡ 0 (mod 100) — a fixed ~1% that does not depend on file order,
 * seed or run. Validation masks are fixed (seeded by chunk index only), so
 * successive validation losses are on the same examples.
 *
 * Optimizer: Adafactor (HF semantics, factored second moments, update
 * clipping 1, parameter scaling, no β1) with T5's inverse-square-root
 * schedule lr_t = lr · sqrt(W / max(t, W)) (constant lr for the first W
 * steps, as mesh-tf T5's rsqrt_decay), or AdamW with the same schedule.
 *
 * Output folder DIR:
 *   init/                 the random start model (when no --model was given)
 *   config.json, model.safetensors, spiece.model, ...   final model (HF folder)
 *   best/                 best validation-loss model
 *   step-NNNNNNNN/        checkpoint (model + optim.safetensors), `checkpoint` points at it
 *   curves.csv, curves.svg
 * A kill at any moment leaves a complete checkpoint; resume continues the
 * same trajectory (data order and masks are functions of seed/epoch/chunk).
 */
#ifndef ES_TRAIN_T5_PRETRAIN_H
#define ES_TRAIN_T5_PRETRAIN_H

#include "core/common.h"

typedef struct es_t5_pt_params {
    const char *const *inputs; /* text files or folders (their *.txt, sorted) */
    int n_inputs;
    const char *out_dir;
    const char *model_dir;     /* start from this T5 folder, or NULL: */
    const char *init_name;     /* T5-Efficient name to initialise randomly (t5_init.h) */
    const char *spm_path;      /* SentencePiece model for a random init (required then) */
    int input_len;             /* encoder length incl. sentinels and </s> (default 128) */
    double density, mean_span; /* 0.15, 3 */
    int batch;                 /* rows per step (default 16) */
    int64_t steps;             /* optimizer steps */
    float lr;                  /* peak lr (default 0.01) */
    int64_t warmup;            /* W of the inverse-sqrt schedule (default 10000) */
    int adamw;                 /* 0 Adafactor (default), 1 AdamW */
    float dropout;             /* default 0 (T5 v1.1 pretraining) */
    float clip_norm;           /* global-norm clip, 0 = off (Adafactor clips updates) */
    int eval_every, save_every, log_every;
    int max_val_rows;          /* cap on validation rows per eval (0 = all) */
    uint64_t seed;
    int n_threads;
    int resume;
} es_t5_pt_params;

es_t5_pt_params es_t5_pt_params_default(void);

typedef struct es_t5_pt_progress {
    int event;                 /* 0 progress, 1 val eval, 2 checkpoint, 3 resumed, 4 data loaded */
    int64_t step, max_steps, epoch;
    double train_loss, val_loss, best_val;
    float lr;
    double grad_norm, elapsed_s, eta_s, tokens_per_s;
    /* event 4: */
    size_t n_docs, n_val_docs, n_train_tokens, n_val_tokens, n_train_rows, n_val_rows;
    int raw_len, input_len, target_len;
} es_t5_pt_progress;

/* Return non-zero to stop (checkpoint written, ES_ERR_CANCELLED). */
typedef int (*es_t5_pt_progress_fn)(void *user, const es_t5_pt_progress *p);

/* Runs the pretraining. Errors: unreadable/empty inputs (named), no
 * validation paragraph or too little text for one batch, bad model,
 * non-finite loss. */
es_status es_t5_pretrain(const es_t5_pt_params *p, es_t5_pt_progress_fn fn, void *user,
                         es_error *err);

/* Span-filling examples: the first n validation rows (the same fixed masks
 * as the validation loss) of the text inputs, greedy-decoded by the model
 * in p->model_dir (required; out_dir unused). fn gets the row index, the
 * decoded encoder input, the true target and the model's output (UTF-8;
 * sentinels shown as <extra_id_N>; borrowed for the call); non-zero stops. */
typedef int (*es_t5_pt_example_fn)(void *user, int row, const char *input, const char *target,
                                   const char *predicted);
es_status es_t5_pretrain_examples(const es_t5_pt_params *p, int n, es_t5_pt_example_fn fn,
                                  void *user, es_error *err);

/* FNV-1a 64 of a paragraph and the held-out rule (exposed for tests). */
uint64_t es_t5_pt_doc_hash(const char *text, size_t len);
int es_t5_pt_is_val(const char *text, size_t len);

#endif
