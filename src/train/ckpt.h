/*
 * ckpt.h — the training-checkpoint format shared by the byte-classifier
 * trainer (trainer.h) and the byte seq2seq trainer (seq2seq_data.h): step
 * folders, the atomically replaced pointer file, pruning, and the
 * train_state.safetensors file (AdamW moments + the scalar state).
 *
 * Layout under a run's output folder OUT:
 *   OUT/step-NNNNNNNN/config.json, model.safetensors   a normal model folder
 *   OUT/step-NNNNNNNN/train_state.safetensors          the training state
 *   OUT/checkpoint        one line: the name of the newest complete folder
 * A save writes the step folder completely (each file atomically), then
 * replaces OUT/checkpoint atomically, then prunes old folders; a kill at
 * any moment leaves the previous pointer and its folder intact.
 *
 * train_state.safetensors: F32 tensors "adam_m.<param>" and "adam_v.<param>"
 * for every parameter of every registry (registries in order, parameters in
 * registry order; names must be unique across registries), and metadata
 * (decimal unless noted): edgeseq_format "1", step, epoch, data_pos,
 * adam_t, rng0..rng3 (16 hex digits: the xoshiro256** state of the dropout
 * RNG), config_hash (16 hex: FNV-1a 64 of the model config JSON and the
 * optimisation params), model_checksum (16 hex: FNV-1a 64 of the folder's
 * model.safetensors bytes), then caller extras. docs/training.md.
 */
#ifndef ES_TRAIN_CKPT_H
#define ES_TRAIN_CKPT_H

#include "core/common.h"
#include "io/weights.h"
#include "nn/params.h"

#define ES_CKPT_STATE_FILE "train_state.safetensors"
#define ES_CKPT_MODEL_FILE "model.safetensors"
#define ES_CKPT_POINTER_FILE "checkpoint"
#define ES_CKPT_FNV_BASIS 0xcbf29ce484222325ull

/* FNV-1a 64-bit over n bytes, continuing from h (start: ES_CKPT_FNV_BASIS). */
uint64_t es_ckpt_fnv(uint64_t h, const void *data, size_t n);
/* FNV-1a 64 of a whole file (at most 16 GiB). ES_ERR_IO names the file. */
es_status es_ckpt_file_checksum(const char *path, uint64_t *out, es_error *err);

struct es_train_params;
/* Continues FNV-1a 64 hash h over the optimisation params that shape a
 * trajectory (global batch = per-rank batch_size * world, grad_accum,
 * optimizer, lr, min_lr, warm-up, schedule, weight decay, betas, eps,
 * clip, seed, max_bytes) — not max_steps, cadences, threads or paths,
 * which may change between a run and its resume. */
uint64_t es_ckpt_params_hash(uint64_t h, const struct es_train_params *p, int world);

/* Reads OUT/checkpoint into name (cap bytes): ES_ERR_IO when absent,
 * ES_ERR_FORMAT when it is not a "step-..." name inside OUT. */
es_status es_ckpt_read_pointer(const char *out_dir, char *name, size_t cap, es_error *err);

/* Prepares the folder for a checkpoint at `step`: creates out_dir, fills
 * name ("step-%08lld") and dir (out_dir/name). *already = true when the
 * pointer names this folder (that exact state is saved: nothing to do);
 * otherwise any partial folder of that name left by a killed run is
 * removed so the caller can write it afresh. */
es_status es_ckpt_begin(const char *out_dir, int64_t step, char *name, size_t name_cap,
                        char *dir, size_t dir_cap, bool *already, es_error *err);
/* Publishes a complete folder: replaces OUT/checkpoint atomically with
 * `name`, then deletes step folders older than the newest `keep` ones
 * (never `name`). */
es_status es_ckpt_publish(const char *out_dir, const char *name, int keep, es_error *err);

/* Scalar training state stored as metadata. */
typedef struct es_ckpt_state {
    int64_t step, epoch, adam_t;
    size_t data_pos;
    uint64_t rng[4];
    uint64_t config_hash, model_checksum;
} es_ckpt_state;

/* One parameter registry and its AdamW moments (m, v: ps->total floats
 * each; read into on resume, written from on save). */
typedef struct es_ckpt_moments {
    const es_params *ps;
    float *m, *v;
} es_ckpt_moments;

/* Writes train_state.safetensors to path (atomically): the moments of
 * n_regs registries, st, then n_extra extra metadata pairs (extra_kv:
 * 2*n_extra strings, may be NULL). */
es_status es_ckpt_write_state(const char *path, const es_ckpt_state *st,
                              const es_ckpt_moments *regs, int n_regs,
                              const char *const *extra_kv, size_t n_extra, es_error *err);

/* Reads train_state.safetensors at path: every field of *st, and the
 * moments of each registry into regs[i].m / .v (caller-allocated, written
 * even when a later check fails: use scratch buffers and commit on
 * success). Checks: every tensor present with dtype F32 and the registry's
 * shape, and no tensor besides them. ES_ERR_FORMAT naming path and the
 * tensor or key for a truncated, malformed or mismatched file. When keep
 * is not NULL the opened set is handed back there on success (for extra
 * metadata; es_weights_free it); *keep is NULL on failure. */
es_status es_ckpt_read_state(const char *path, es_ckpt_state *st, const es_ckpt_moments *regs,
                             int n_regs, es_weights **keep, es_error *err);

#endif
