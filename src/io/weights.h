/*
 * weights.h — a set of named tensors read from one model folder, whatever
 * the file format (safetensors, sharded safetensors, pytorch_model.bin).
 *
 * Readers (safetensors.c, ptbin.c) validate a file completely, then register
 * every tensor with es_weights_add(). Tensor data stays where the reader put
 * it (usually a read-only memory map owned by the set through
 * es_weights_own_mapping), so F32 weights are used in place.
 *
 * Invariants after a successful open:
 *  - names are unique (duplicates are an ES_ERR_FORMAT at add time);
 *  - nbytes == product(shape) * dtype size, checked without overflow;
 *  - data + nbytes lies inside memory the set owns;
 *  - ndim <= ES_MAX_DIMS, every dim >= 0.
 */
#ifndef ES_IO_WEIGHTS_H
#define ES_IO_WEIGHTS_H

#include "core/common.h"

#define ES_MAX_DIMS 8

typedef struct es_tensor_view {
    const char *name;        /* owned by the set */
    es_dtype dtype;
    int ndim;
    int64_t shape[ES_MAX_DIMS];
    const void *data;        /* little-endian element data, may be unaligned */
    size_t nbytes;
    const char *file;        /* file it came from (owned by the set), for messages */
    uint64_t file_offset;    /* byte offset of the data in that file */
} es_tensor_view;

typedef struct es_weights es_weights;

/* Creates an empty set. */
es_status es_weights_new(es_weights **out, es_error *err);
void es_weights_free(es_weights *w);

/* Adds a tensor (name and file strings are copied; data is borrowed and
 * must stay valid as long as the set: register the mapping or buffer that
 * holds it with es_weights_own_*). Validates nbytes vs shape and dtype and
 * rejects duplicate names. */
es_status es_weights_add(es_weights *w, const es_tensor_view *t, es_error *err);

/* Hands ownership of a memory map (munmap at free) or of an es_malloc'd
 * buffer (es_free at free) to the set. */
es_status es_weights_own_mapping(es_weights *w, void *addr, size_t len, es_error *err);
es_status es_weights_own_buffer(es_weights *w, void *buf, es_error *err);

/* True when [p, p + n) lies inside a memory map the set owns (not a heap
 * buffer). */
bool es_weights_mapped(const es_weights *w, const void *p, size_t n);
/* Hint that [p, p + n), inside a memory map of the set, will not be read
 * for a while (e.g. its tensor was copied into another layout): the whole
 * pages inside it leave the process's resident set (madvise
 * MADV_DONTNEED on the read-only private file map; read again from the
 * file if touched). No effect on heap buffers or outside the set's maps. */
void es_weights_release(const es_weights *w, const void *p, size_t n);

/* Lookup by exact name; NULL if absent. O(log n) after es_weights_seal(). */
const es_tensor_view *es_weights_find(const es_weights *w, const char *name);
size_t es_weights_count(const es_weights *w);
const es_tensor_view *es_weights_at(const es_weights *w, size_t i);
/* Sorts by name for fast lookup; called by the readers when done. */
void es_weights_seal(es_weights *w);

/* Metadata strings (safetensors __metadata__), copied into the set. */
es_status es_weights_set_meta(es_weights *w, const char *key, const char *value, es_error *err);
const char *es_weights_get_meta(const es_weights *w, const char *key);

/* Total bytes of the files read (for `info`). */
void es_weights_add_file_bytes(es_weights *w, uint64_t n);
uint64_t es_weights_file_bytes(const es_weights *w);

/* Opens the weights of a model folder: model.safetensors, else
 * model.safetensors.index.json, else pytorch_model.bin, else
 * pytorch_model.bin.index.json. *which receives the file name used. */
es_status es_weights_open_dir(es_weights **out, const char *dir, const char **which,
                              es_error *err);

/* Converts a tensor to a caller-owned F32 array of numel elements (F32,
 * F16, BF16 supported; others ES_ERR_UNSUPPORTED naming the tensor). */
es_status es_tensor_to_f32(float *dst, const es_tensor_view *t, es_error *err);
/* Number of elements (product of shape). */
size_t es_tensor_numel(const es_tensor_view *t);

/* Implemented by the format readers. Each adds all tensors of `path` to w
 * (for sharded files: called once per shard). */
es_status es_safetensors_read(es_weights *w, const char *path, es_error *err);
es_status es_safetensors_read_index(es_weights *w, const char *index_path, es_error *err);
es_status es_ptbin_read(es_weights *w, const char *path, es_error *err);
es_status es_ptbin_read_index(es_weights *w, const char *index_path, es_error *err);

/* Shared reader of sharded checkpoints (*.index.json, "weight_map"): reads
 * each distinct shard once with `read`, then checks every listed tensor
 * came from the shard the map names (src/io/shard_index.c). */
typedef es_status (*es_shard_reader)(es_weights *w, const char *path, es_error *err);
es_status es_weights_read_index(es_weights *w, const char *index_path, es_shard_reader read,
                                es_error *err);

/* Parsing from memory, for fuzzers and hostile-input tests: the buffer is
 * not copied for safetensors (it must outlive w); `name` is used in
 * messages. */
es_status es_safetensors_parse(es_weights *w, const void *buf, size_t len, const char *name,
                               es_error *err);
es_status es_ptbin_parse(es_weights *w, const void *buf, size_t len, const char *name,
                         es_error *err);

/* Safetensors writer: writes tensors in the given order, contiguous with
 * no gaps (the header is space-padded so the data section starts 8-byte
 * aligned), and __metadata__ key/values, to `path` atomically (temp file
 * in the same folder, fsync, rename, fsync of the folder). */
typedef struct es_st_write_tensor {
    const char *name;
    es_dtype dtype;
    int ndim;
    int64_t shape[ES_MAX_DIMS];
    const void *data;
} es_st_write_tensor;
es_status es_safetensors_write(const char *path, const es_st_write_tensor *tensors, size_t n,
                               const char *const *meta_kv, size_t n_meta, es_error *err);

#endif
