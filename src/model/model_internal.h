/*
 * model_internal.h — what every architecture shares behind the opaque
 * es_model / es_session handles of edgeseq.h.
 *
 * A model folder is config.json + weights. es_model_load (model.c) reads
 * config.json, opens the weights with es_weights_open_dir, then dispatches
 * on config.json's "model_type" to a per-architecture loader:
 *
 *   "t5" (or absent)                  -> es_t5_model_load   (src/model/t5.c)
 *   "edgeseq-byte-classifier"         -> es_byte_model_load (src/model/byte_*.c)
 *   "edgeseq-byte-seq2seq"            -> es_byte_model_load
 *
 * A loader fills m->arch, m->info (its own hyper-parameters; model.c fills
 * dir, weights_file, file_bytes), m->ops, m->impl / m->impl_free and, when
 * the architecture has one, m->tok. The weight set stays open for the
 * model's life (m->weights) because F32 tensors are used in place from its
 * memory map; loaders keep borrowed pointers into it and must not free it.
 * On a loader failure model.c calls m->impl_free(m->impl) if both are set,
 * frees m->tok and the weights: a loader only cleans up what it has not
 * yet attached to m.
 *
 * Sessions: es_session_new (session.c) validates the common parameters,
 * creates the thread pool, then calls m->ops->session_init, which sizes and
 * allocates everything the architecture needs into s->impl (nothing is
 * allocated later). Every public es_session_* call dispatches through
 * m->ops; a NULL op means "not supported by this architecture"
 * (ES_ERR_UNSUPPORTED). Ops report errors through `err`; session.c copies
 * the message into s->errmsg.
 */
#ifndef ES_MODEL_MODEL_INTERNAL_H
#define ES_MODEL_MODEL_INTERNAL_H

#include "core/common.h"
#include "core/pool.h"
#include "io/weights.h"

struct json_object;

/* Per-architecture behaviour. All function pointers may be NULL except
 * session_init / session_free. */
typedef struct es_arch_ops {
    const char *name; /* "t5", "byte-classifier", ... for messages */
    /* Allocates s->impl for the sizes in s->params (already validated and
     * defaulted). On failure frees what it allocated and leaves s->impl NULL. */
    es_status (*session_init)(es_session *s, es_error *err);
    /* Frees s->impl (NULL-safe). */
    void (*session_free)(es_session *s);
    es_status (*encode)(es_session *s, float *out, const int32_t *ids, const int32_t *mask, int B,
                        int S, es_error *err);
    es_status (*decoder_logits)(es_session *s, float *logits, const int32_t *ids,
                                const int32_t *mask, int B, int S, const int32_t *dec_ids, int T,
                                es_error *err);
    es_status (*generate)(es_session *s, es_gen_result *out, const int32_t *src, int n_src,
                          const es_gen_params *params, es_error *err);
    es_status (*score)(es_session *s, double *logprob, const int32_t *src, int n_src,
                       const int32_t *tgt, int n_tgt, es_error *err);
} es_arch_ops;

struct es_model {
    es_arch arch;
    es_model_info info;    /* info.dir / info.weights_file point into this struct */
    char *dir;             /* owned copy of the folder path */
    es_weights *weights;   /* owned; tensors are borrowed by impl */
    es_tokenizer *tok;     /* owned, may be NULL */
    const es_arch_ops *ops;
    void *impl;            /* architecture-specific model (weights bound, config) */
    void (*impl_free)(void *impl);
};

struct es_session {
    const es_model *model;
    es_session_params params; /* resolved: defaults applied, n_threads >= 1 */
    es_pool *pool;            /* owned; GEMMs and attention run on it */
    char errmsg[ES_ERROR_MSG_MAX];
    void *impl;               /* architecture-specific state, freed by ops->session_free */
};

/* Argument checks shared by the session ops (session.c), ES_ERR_ARG:
 * n in [lo, max] ("what = n is out of range [lo, max] (session limit)");
 * every id in [0, vocab) ("what[i] = id is not a token id ..."). */
es_status es_session_check_dim(const char *what, int n, int lo, int max, const char *limit,
                               es_error *err);
es_status es_session_check_ids(const char *what, const int32_t *ids, size_t n, int32_t vocab,
                               es_error *err);

/* Per-architecture loaders (see the top of this file). `config` is the
 * parsed config.json (borrowed), `w` the opened, sealed weight set (owned
 * by m from the call on: the loader sets nothing about it). */
es_status es_t5_model_load(es_model *m, const char *dir, struct json_object *config,
                           es_weights *w, es_error *err);
/* Provided by the byte-model code (src/model/byte_*.c); model.c holds a
 */
es_status es_byte_model_load(es_model *m, const char *dir, struct json_object *config,
                             es_weights *w, es_error *err);

/* config.json field readers shared by all loaders. Each names
 * "config.json" and the field in its message: a missing required field,
 * a wrong JSON type, or a value outside [lo, hi] is ES_ERR_FORMAT.
 * `required` = false: an absent key (or JSON null) leaves *out = dflt. */
es_status es_config_int(const struct json_object *cfg, const char *key, bool required,
                        int64_t dflt, int64_t lo, int64_t hi, int64_t *out, es_error *err);
es_status es_config_float(const struct json_object *cfg, const char *key, bool required,
                          double dflt, double lo, double hi, double *out, es_error *err);
es_status es_config_bool(const struct json_object *cfg, const char *key, bool required,
                         bool dflt, bool *out, es_error *err);
/* *out is borrowed from cfg (NULL when absent and not required). */
es_status es_config_string(const struct json_object *cfg, const char *key, bool required,
                           const char **out, es_error *err);

/* Looks up tensor `name` in w and checks dtype class (F32/F16/BF16 only),
 * rank and shape; names the tensor, expected vs found. dims[] has ndim
 * entries. Returns ES_ERR_FORMAT when absent (unless `optional`, then ES_OK
 * with *out = NULL), ES_ERR_SHAPE for a wrong shape, ES_ERR_FORMAT for a
 * non-float dtype. */
es_status es_model_tensor(const es_weights *w, const char *name, int ndim, const int64_t *dims,
                          bool optional, const es_tensor_view **out, es_error *err);
/* F32 data of a checked float tensor: the mapped data itself when it is
 * F32 and 4-byte aligned; otherwise an es_malloc'd F32 copy (upcast from
 * F16/BF16, exact) registered with es_weights_own_buffer so it lives as
 * long as the set. */
es_status es_model_tensor_f32(es_weights *w, const es_tensor_view *t, const float **out,
                              es_error *err);

#endif
