/*
 * params.c — parameter registry (see params.h). Initialisation draws from
 * the RNG strictly in registration order and element order so a seed fixes
 * the model whatever the thread count.
 */
#include "nn/params.h"

#include <math.h>
#include <string.h>

es_status es_params_add(es_params *ps, int *idx, const char *name, int ndim,
                        const int64_t *shape, es_param_init init, float init_scale,
                        int fan_in, int fan_out, int decay, es_error *err) {
    if (ps->data) return es_errf(err, ES_ERR_ARG, "param '%s': registry already allocated", name);
    if (ndim < 1 || ndim > ES_PARAM_MAX_DIMS)
        return es_errf(err, ES_ERR_ARG, "param '%s': %d dims", name, ndim);
    if (strlen(name) >= ES_PARAM_NAME_MAX)
        return es_errf(err, ES_ERR_ARG, "param '%s': name too long", name);
    if (es_params_find(ps, name) >= 0)
        return es_errf(err, ES_ERR_ARG, "param '%s': duplicate name", name);
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0 || shape[d] > (int64_t)1 << 31 || !es_mul_ok(numel, (size_t)shape[d], &numel))
            return es_errf(err, ES_ERR_ARG, "param '%s': bad dim %d = %lld", name, d,
                           (long long)shape[d]);
    }
    if (ps->n == ps->cap) {
        int nc = ps->cap ? ps->cap * 2 : 32;
        es_param *np = es_realloc(ps->p, (size_t)nc * sizeof(es_param));
        if (!np) return es_errf(err, ES_ERR_NOMEM, "param registry: out of memory");
        ps->p = np;
        ps->cap = nc;
    }
    es_param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->ndim = ndim;
    for (int d = 0; d < ndim; d++) p->shape[d] = shape[d];
    p->numel = numel;
    /* Keep every tensor 16-float (64-byte) aligned inside the buffer so SIMD
     * kernels get aligned rows of small matrices. */
    p->offset = (ps->total + 15) & ~(size_t)15;
    p->init = init;
    p->init_scale = init_scale;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->decay = decay;
    ps->total = p->offset + numel;
    if (idx) *idx = ps->n;
    ps->n++;
    return ES_OK;
}

es_status es_params_alloc(es_params *ps, int with_grad, es_error *err) {
    size_t bytes;
    size_t total = ps->total ? ps->total : 1;
    if (!es_mul_ok(total, sizeof(float), &bytes))
        return es_errf(err, ES_ERR_NOMEM, "param registry: size overflow");
    if (!ps->data) {
        ps->data = es_malloc_aligned(bytes);
        if (!ps->data) return es_errf(err, ES_ERR_NOMEM, "params: %zu bytes", bytes);
        memset(ps->data, 0, bytes);
    }
    if (with_grad && !ps->grad) {
        ps->grad = es_malloc_aligned(bytes);
        if (!ps->grad) return es_errf(err, ES_ERR_NOMEM, "param grads: %zu bytes", bytes);
        memset(ps->grad, 0, bytes);
    }
    return ES_OK;
}

static float normal(es_rng *rng) {
    /* Box-Muller on doubles; one draw per call keeps the stream simple. */
    double u1 = es_rng_uniform(rng), u2 = es_rng_uniform(rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void es_params_init(es_params *ps, es_rng *rng) {
    for (int i = 0; i < ps->n; i++) {
        es_param *p = &ps->p[i];
        float *x = ps->data + p->offset;
        float a = p->init_scale;
        if (p->init == ES_INIT_GLOROT)
            a = p->init_scale * sqrtf(6.0f / (float)(p->fan_in + p->fan_out));
        for (size_t k = 0; k < p->numel; k++) {
            switch (p->init) {
            case ES_INIT_ZERO: x[k] = 0.0f; break;
            case ES_INIT_ONE: x[k] = 1.0f; break;
            case ES_INIT_NORMAL: x[k] = a * normal(rng); break;
            case ES_INIT_UNIFORM:
            case ES_INIT_GLOROT: x[k] = a * (2.0f * es_rng_uniformf(rng) - 1.0f); break;
            }
        }
    }
}

void es_params_free(es_params *ps) {
    if (!ps) return;
    es_free(ps->p);
    es_free_aligned(ps->data);
    es_free_aligned(ps->grad);
    memset(ps, 0, sizeof *ps);
}

int es_params_find(const es_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0) return i;
    return -1;
}

void es_params_zero_grad(es_params *ps) {
    if (ps->grad) memset(ps->grad, 0, ps->total * sizeof(float));
}

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t es_params_hash(const es_params *ps) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        h = fnv(h, p->name, strlen(p->name));
        h = fnv(h, p->shape, sizeof(int64_t) * (size_t)p->ndim);
        if (ps->data) h = fnv(h, ps->data + p->offset, p->numel * sizeof(float));
    }
    return h;
}
