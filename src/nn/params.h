/*
 * params.h — the parameter registry of a trainable model: every tensor has a
 * name (the safetensors name), a shape, and a slice of ONE contiguous value
 * buffer; when training, a slice of one contiguous gradient buffer of the
 * same layout. Contiguity makes zeroing, global-norm clipping, checksums and
 * optimizer loops single passes, and the optimizer's moments (src/train)
 * mirror the same layout.
 *
 * Lifecycle: es_params_add() every tensor (shapes only), es_params_alloc()
 * once (values zeroed; grads only if requested), then layers keep pointers
 * obtained through es_params_data()/es_params_grad() by index. No tensor may
 * be added after alloc.
 *
 * Lives in src/nn (inference core) because models own their parameters; the
 * gradient buffer is only allocated by training code.
 */
#ifndef ES_NN_PARAMS_H
#define ES_NN_PARAMS_H

#include "core/common.h"
#include "core/rng.h"

#define ES_PARAM_NAME_MAX 96
#define ES_PARAM_MAX_DIMS 4

typedef enum es_param_init {
    ES_INIT_ZERO = 0,
    ES_INIT_ONE,          /* LayerNorm gains */
    ES_INIT_UNIFORM,      /* U(-a, a) with a = scale */
    ES_INIT_NORMAL,       /* N(0, scale^2), Box-Muller on the params RNG */
    ES_INIT_GLOROT        /* U(-a, a), a = scale * sqrt(6 / (fan_in + fan_out)) */
} es_param_init;

typedef struct es_param {
    char name[ES_PARAM_NAME_MAX];
    int ndim;
    int64_t shape[ES_PARAM_MAX_DIMS];
    size_t numel;
    size_t offset;       /* into the value / grad buffers, in floats */
    es_param_init init;
    float init_scale;
    int fan_in, fan_out; /* for ES_INIT_GLOROT */
    int decay;           /* 1: AdamW weight decay applies (matrices, embeddings) */
} es_param;

typedef struct es_params {
    es_param *p;
    int n, cap;
    size_t total;        /* floats over all tensors */
    float *data;         /* (total) values, 64-byte aligned */
    float *grad;         /* (total) gradients or NULL (inference) */
} es_params;

/* Registers a tensor; returns its index in *idx. Shape dims must be > 0.
 * decay: whether weight decay applies. Fails with ES_ERR_ARG after alloc,
 * on a duplicate name or on an over-long name. */
es_status es_params_add(es_params *ps, int *idx, const char *name, int ndim,
                        const int64_t *shape, es_param_init init, float init_scale,
                        int fan_in, int fan_out, int decay, es_error *err);
/* Allocates the value buffer (zeroed) and, if with_grad, the gradient
 * buffer (zeroed). Calling it again with with_grad = 1 after a value-only
 * alloc adds the gradient buffer. */
es_status es_params_alloc(es_params *ps, int with_grad, es_error *err);
/* Fills every tensor according to its init rule, in registration order,
 * drawing from rng (so one seed gives one model on every machine). */
void es_params_init(es_params *ps, es_rng *rng);
void es_params_free(es_params *ps);

static inline float *es_params_data(const es_params *ps, int i) {
    return ps->data + ps->p[i].offset;
}
static inline float *es_params_grad(const es_params *ps, int i) {
    return ps->grad ? ps->grad + ps->p[i].offset : NULL;
}
/* Index of a tensor by name, -1 if absent. */
int es_params_find(const es_params *ps, const char *name);
/* Sets all gradients to 0 (no-op without a gradient buffer). */
void es_params_zero_grad(es_params *ps);
/* 64-bit FNV-1a over names, shapes and values: identifies a parameter
 * state bit for bit (used by tests and checkpoints). */
uint64_t es_params_hash(const es_params *ps);

#endif
