/*
 * byte_pretrain.h — self-supervised pretraining of the byte encoders
 * (ByteQRNN, ByteTransformer) on plain text with a byte-level masked
 * span-corruption objective, and loading a pretrained encoder into a fresh
 * classifier (`edgeseq pretrain --byte-encoder`, `"init_encoder"` of
 * `edgeseq train`). Design and numbers: docs/training.md, "Byte-encoder
 * pretraining".
 *
 * Objective (exact). A training example is a chunk x of L bytes. With
 * density d (0.15) and mean span μ (3), es_span_noise_mask
 * (span_corruption.h, T5's random_spans_noise_mask) marks
 *   n_noise = round(L·d) (clamped to [1, L−1]) bytes in
 *   n_spans = max(1, round(n_noise / μ)) spans, alternating with kept spans
 * (the first span kept). Every noise byte is replaced IN PLACE by the mask
 * byte (0x00, which plain text and mail headers never contain), so the
 * corrupted input keeps length L and positions line up with the original.
 * The loss is the mean cross-entropy (nats per byte) of the original byte
 * at the noise positions only. Masks are a pure function of (seed, global
 * example number) for training — a chunk gets a fresh mask every epoch —
 * and of the chunk index alone for validation (fixed validation masks).
 *
 * Prediction head ("block head"). The encoders mean-pool r = downsample
 * bytes into one position before the QRNN / transformer layers, so the
 * encoder output has one vector h_j (d_enc) per block of r bytes. Byte t is
 * predicted from the vector of its block j = ⌊t/r⌋ with a separate linear
 * map per slot s = t mod r:
 *   logits(t) = W_s h_j + b_s,   W (r, 256, d_enc), b (r, 256).
 * Why not from the pre-downsample representation: that representation is
 * the embedding + causal conv only, so the loss would never reach the QRNN
 * / transformer layers, which hold ~85% of the encoder's parameters and are
 * what a classifier reuses. The block head makes every encoder layer
 * responsible for reconstructing its bytes; the slot-specific maps tell the
 * head which byte of the block is asked for. Only the (few) noise positions
 * are projected, so the head costs O(n_noise · 256 · d_enc), not
 * O(L · 256 · d_enc). The head is thrown away after pretraining.
 *
 * The encoder being pretrained is a normal byte classifier (its attention
 * pool and classification head are registered but get no gradient), so
 * every checkpoint, best/ and the final folder load with es_model_load and
 * es_byte_model_load_dir, and `init_encoder` reads them directly.
 *
 * Data: inputs are text files or folders (their *.txt in name order). The
 * bytes of all inputs are concatenated (one '\n' between files) and cut
 * into chunks of chunk_len bytes (a final piece shorter than chunk_len / 4
 * is dropped). A chunk is held out for validation when FNV-1a-64 of its
 * bytes ≡ 0 (mod 100): a fixed ~1% independent of seed and file order.
 *
 * Optimisation: AdamW (optim.h) on the encoder and the head, global-norm
 * clipping over both, the LR schedules of trainer.h (es_lr_at) — the
 * es_train_params fields are reused with their meanings. The training
 * order is a seeded permutation of the training chunks per epoch; example
 * number k (0-based, k = step·batch + b) is chunk perm_{k / n}[k mod n].
 *
 * Output folder (out_dir):
 *   config.json, model.safetensors   final encoder (a classifier folder)
 *   best/                            best validation loss so far
 *   step-NNNNNNNN/                   checkpoint: model + pt_state.safetensors
 *                                    (head, AdamW moments of both, step, RNG)
 *   checkpoint                       name of the latest complete checkpoint
 *   curves.csv, curves.svg           train loss, val loss, val masked-byte accuracy
 * A kill at any moment leaves the last checkpoint reachable; resume
 * continues the same trajectory (order, masks and dropout are functions of
 * the checkpointed state).
 */
#ifndef ES_TRAIN_BYTE_PRETRAIN_H
#define ES_TRAIN_BYTE_PRETRAIN_H

#include "core/common.h"
#include "model/byte_model.h"
#include "train/span_corruption.h"
#include "train/trainer.h"

#define ES_BPT_MASK_BYTE 0x00

/* ---- objective ------------------------------------------------------------ */

/* Corrupts in[0..len) into out[0..len): noise bytes (es_span_noise_mask
 * with density / mean_span, RNG seeded by `seed`) become mask_byte; mask
 * (len bytes, required) receives 1 at noise positions, 0 elsewhere. len < 2: no noise
 * (out = in). Returns the number of noise bytes in *n_noise. scratch must
 * hold >= len (es_span_scratch_init). ES_ERR_ARG for bad density/span. */
es_status es_bpt_corrupt(uint8_t *out, uint8_t *mask, int *n_noise, const uint8_t *in, int len,
                         double density, double mean_span, uint8_t mask_byte, uint64_t seed,
                         es_span_scratch *scratch, es_error *err);

/* ---- corpus ------------------------------------------------------------------ */

typedef struct es_bpt_chunk {
    size_t off;      /* into es_bpt_corpus.buf */
    int len;
} es_bpt_chunk;

typedef struct es_bpt_corpus {
    uint8_t *buf;              /* all text bytes */
    size_t n_bytes;
    es_bpt_chunk *train, *val; /* chunks of each split, corpus order */
    size_t n_train, n_val;
    size_t n_files;
    int chunk_len;
} es_bpt_corpus;

/* Reads the inputs (files, or folders whose *.txt are read in name order)
 * and chunks them. ES_ERR_IO names an unreadable path; ES_ERR_ARG when
 * there is no training or no validation chunk. */
es_status es_bpt_corpus_load(es_bpt_corpus *c, const char *const *inputs, int n_inputs,
                             int chunk_len, es_error *err);
/* Same from memory (copied), for tests: text[0..len) is one input. */
es_status es_bpt_corpus_from_memory(es_bpt_corpus *c, const uint8_t *text, size_t len,
                                    int chunk_len, es_error *err);
void es_bpt_corpus_free(es_bpt_corpus *c);
/* The held-out rule: FNV-1a-64(bytes) % 100 == 0. */
int es_bpt_is_val(const uint8_t *bytes, size_t len);

/* ---- pretrainer ------------------------------------------------------------- */

typedef struct es_bpt_params {
    es_train_params train;     /* batch_size, max_steps, lr, schedule, AdamW, clip, seed,
                                * n_threads, save_every, keep_checkpoints, log_every,
                                * eval_every, out_dir (max_bytes, grad_accum unused) */
    int chunk_len;             /* bytes per example (<= model max_bytes); default 1024 */
    double density, mean_span; /* 0.15, 3 */
    int mask_byte;             /* 0..255; default ES_BPT_MASK_BYTE */
    int max_val_chunks;        /* cap on validation chunks per eval (0 = all) */
} es_bpt_params;

es_bpt_params es_bpt_params_default(void);

typedef struct es_bpt es_bpt;

/* New pretrainer for model m (borrowed, gradients enabled on it; must be a
 * byteqrnn or bytetransformer — a funnel's output positions are not byte
 * blocks: ES_ERR_UNSUPPORTED). The head is initialised from train.seed. */
es_status es_bpt_new(es_bpt **out, es_byte_model *m, const es_bpt_params *p, es_error *err);
void es_bpt_free(es_bpt *t);

/* One optimizer step on the next batch of training chunks. *loss = mean
 * masked-byte cross-entropy (nats); *grad_norm (may be NULL) before clip. */
es_status es_bpt_step(es_bpt *t, const es_bpt_corpus *c, double *loss, double *grad_norm,
                      es_error *err);
/* Eval-mode mean masked-byte cross-entropy and accuracy over the
 * validation chunks (fixed masks; at most max_val_chunks of them). */
es_status es_bpt_evaluate(es_bpt *t, const es_bpt_corpus *c, double *loss, double *accuracy,
                          es_error *err);
int64_t es_bpt_step_count(const es_bpt *t);
/* Mean masked-byte loss of n (1..batch_size) explicit chunks (each <=
 * chunk_len bytes) with explicit mask seeds. with_grad = 0: eval-mode
 * forward. with_grad = 1: training forward (dropout / zoneout from the
 * pretrainer RNG), gradients of the mean loss zeroed and then written to
 * the model's and the head's gradient buffers; no optimizer step. For
 * tests (finite differences) and tools. */
es_status es_bpt_batch_loss(es_bpt *t, const uint8_t *const *chunks, const int *lens, int n,
                            const uint64_t *seeds, int with_grad, double *loss, es_error *err);

/* Checkpoint to train.out_dir/step-N (+ pointer). Needs out_dir. */
es_status es_bpt_save(es_bpt *t, es_error *err);
/* Loads the latest checkpoint of train.out_dir. ES_ERR_IO when there is
 * none; ES_ERR_FORMAT / ES_ERR_SHAPE on a corrupt or mismatched one (model
 * config or objective changed): then nothing is modified. */
es_status es_bpt_resume(es_bpt *t, es_error *err);

typedef struct es_bpt_progress {
    int event;                  /* 0 training report, 1 validation */
    int64_t step, max_steps, epoch;
    double loss;                /* mean training loss since the last report */
    double val_loss, val_acc, best_val;
    double grad_norm;
    float lr;
    double bytes_per_s, elapsed_s, eta_s;
} es_bpt_progress;

/* Return non-zero to stop (a checkpoint is written; ES_ERR_CANCELLED). */
typedef int (*es_bpt_progress_fn)(void *user, const es_bpt_progress *p);

/* Runs to train.max_steps (after es_bpt_resume when resuming): progress
 * every log_every steps, validation every eval_every steps and at the end
 * (best/ kept by validation loss), checkpoints every save_every steps and
 * at the end, curves.csv / curves.svg, final model in out_dir. */
es_status es_bpt_run(es_bpt *t, const es_bpt_corpus *c, es_bpt_progress_fn fn, void *user,
                     es_error *err);

/* ---- fine-tuning from a pretrained encoder ------------------------------------- */

/* Copies every encoder tensor (all but pool.* and head.*) of the byte
 * model folder `dir` into m. The folder must have the same encoder type,
 * downsample and GBST block count, and every encoder tensor of m must be
 * there with the same shape (and vice versa); otherwise ES_ERR_SHAPE /
 * ES_ERR_FORMAT naming the key or tensor and both shapes, and m is left
 * unchanged. *n_tensors (may be NULL) receives the number copied. */
es_status es_byte_load_encoder(es_byte_model *m, const char *dir, int *n_tensors,
                               es_error *err);

#endif
