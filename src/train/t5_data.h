/*
 * t5_data.h — seq2seq training data for T5: a JSON-lines file of
 * {"input": "...", "target": "..."} objects, tokenized once at load
 * (SentencePiece ids + </s> on both sides), and padded teacher-forcing
 * batches in the fixtures' convention (README §2): encoder ids right-padded
 * with <pad> and mask 1/0; decoder inputs [start] + target[:-1] padded with
 * <pad>; labels = target padded with -100 (ignored by the loss).
 *
 * Bad data is reported with the file and 1-based line: empty file (no
 * examples), invalid JSON, not an object, missing or non-string field, not
 * UTF-8 (byte offset given), input or target longer than the limit (token
 * counts given). With skip_bad the line is skipped and counted instead;
 * blank lines are ignored silently.
 */
#ifndef ES_TRAIN_T5_DATA_H
#define ES_TRAIN_T5_DATA_H

#include "core/rng.h"
#include "nn/t5_train.h"

typedef struct es_t5_example {
    const int32_t *src; /* ids incl. </s> */
    const int32_t *tgt; /* ids incl. </s> */
    int n_src, n_tgt;
    long line;          /* 1-based line in the file */
} es_t5_example;

typedef struct es_t5_dataset {
    es_t5_example *ex;
    size_t n;
    int32_t *ids;              /* storage of every id (ex[i].src/tgt point here) */
    size_t n_skipped;          /* bad lines skipped (skip_bad) */
    char first_skip[ES_ERROR_MSG_MAX]; /* message of the first skipped line */
    int max_src, max_tgt;      /* longest input / target seen (tokens) */
    size_t n_tgt_tokens;       /* Σ n_tgt */
} es_t5_dataset;

/* Loads and tokenizes path. Limits: inputs of more than max_src tokens and
 * targets of more than max_tgt tokens (</s> included) are errors (or
 * skipped with skip_bad). ES_ERR_FORMAT for bad data (message "FILE:LINE:
 * ..."), ES_ERR_IO for unreadable files, ES_ERR_NOMEM. */
es_status es_t5_dataset_load(es_t5_dataset *d, const char *path, const es_tokenizer *tok,
                             int max_src, int max_tgt, int skip_bad, es_error *err);
void es_t5_dataset_free(es_t5_dataset *d);

/* Padded batch storage for up to (max_B, max_S, max_T). */
typedef struct es_t5_batch_buf {
    int32_t *ids, *mask, *dec_in, *labels;
    int max_B, max_S, max_T;
    es_t5_batch b;             /* views into the buffers after es_t5_batch_fill */
} es_t5_batch_buf;

es_status es_t5_batch_buf_init(es_t5_batch_buf *bb, int max_B, int max_S, int max_T,
                               es_error *err);
void es_t5_batch_buf_free(es_t5_batch_buf *bb);
/* Fills bb->b with examples idx[0..n) of d (n <= max_B; lengths within the
 * buffer, as guaranteed by the dataset limits). S and T are the longest
 * input and target of these rows. pad = <pad> id, start = decoder start. */
void es_t5_batch_fill(es_t5_batch_buf *bb, const es_t5_dataset *d, const size_t *idx, int n,
                      int32_t pad, int32_t start);

/* Length-bucketed batch plan: examples sorted by (input + target) length
 * (stable, ties by index), cut into batches of batch_size consecutive
 * examples; order[] lists the examples batch after batch, starts[k] is the
 * first position of batch k (starts[n_batches] = n). Batch order is then
 * shuffled per epoch with es_t5_plan_epoch. */
typedef struct es_t5_plan {
    size_t *order;
    size_t *starts;
    size_t n_batches;
    size_t *perm;              /* (n_batches) batch order of the current epoch */
} es_t5_plan;

es_status es_t5_plan_init(es_t5_plan *p, const es_t5_dataset *d, int batch_size, es_error *err);
void es_t5_plan_free(es_t5_plan *p);
/* Batch order of epoch `epoch`: a Fisher–Yates permutation from an RNG
 * seeded by (seed, epoch), so a resumed run recomputes it. */
void es_t5_plan_epoch(es_t5_plan *p, uint64_t seed, int64_t epoch);

#endif
