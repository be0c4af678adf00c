/*
 * optim.c — AdamW and gradient clipping (equations in optim.h). The
 * scalar factors are computed in double as PyTorch does in Python, then
 * rounded to float once, and applied in PyTorch's operation order, so the
 * result matches torch.optim.AdamW to float rounding (checked against
 * fixtures/t5/tiny-v1/grads.safetensors in tests/unit/test_train_optim.c).
 * Compiled with -fno-math-errno (CMakeLists.txt) so the update vectorizes;
 * tests/unit/test_train_adamw_bits.c checks it equals the scalar loop.
 */
#include "train/optim.h"

#include <math.h>
#include <string.h>

es_status es_adamw_init(es_adamw *o, const es_params *ps, es_error *err) {
    memset(o, 0, sizeof *o);
    size_t n = ps->total ? ps->total : 1, bytes;
    if (!es_mul_ok(n, sizeof(float), &bytes)) return es_errf(err, ES_ERR_NOMEM, "adamw: too large");
    o->m = es_malloc_aligned(bytes);
    o->v = es_malloc_aligned(bytes);
    if (!o->m || !o->v) {
        es_adamw_free(o);
        return es_errf(err, ES_ERR_NOMEM, "adamw: out of memory for %zu moments", n);
    }
    memset(o->m, 0, bytes);
    memset(o->v, 0, bytes);
    o->n = ps->total;
    return ES_OK;
}

void es_adamw_free(es_adamw *o) {
    es_free_aligned(o->m);
    es_free_aligned(o->v);
    o->m = o->v = NULL;
}

void es_adamw_step(es_adamw *o, es_params *ps, float lr, float beta1, float beta2, float eps,
                   float wd, int decay_all) {
    o->t++;
    double bc1 = 1.0 - pow((double)beta1, (double)o->t);
    double bc2 = 1.0 - pow((double)beta2, (double)o->t);
    float step_size = (float)((double)lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * (double)wd);
    float omb1 = (float)(1.0 - (double)beta1), omb2 = (float)(1.0 - (double)beta2);
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        float *x = ps->data + p->offset, *g = ps->grad + p->offset;
        float *m = o->m + p->offset, *v = o->v + p->offset;
        int dec = (decay_all || p->decay) && wd != 0.0f;
        for (size_t k = 0; k < p->numel; k++) {
            if (dec) x[k] *= decay;
            m[k] = m[k] * beta1 + omb1 * g[k];
            v[k] = v[k] * beta2 + omb2 * g[k] * g[k];
            float denom = sqrtf(v[k]) / bc2_sqrt + eps;
            x[k] = x[k] - step_size * (m[k] / denom);
        }
    }
}

double es_grad_norm(const es_params *ps) {
    /* four interleaved partial sums (element k of a tensor goes to sum
     * k % 4), added in a fixed order: the same result on every run and
     * thread count, ~4x shorter dependency chains than one running sum
     * (this was ~2 % of a t5-efficient-small training step) */
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        const float *g = ps->grad + p->offset;
        size_t k = 0;
        for (; k + 4 <= p->numel; k += 4)
            for (int l = 0; l < 4; l++) s[l] += (double)g[k + l] * (double)g[k + l];
        for (; k < p->numel; k++) s[k % 4] += (double)g[k] * (double)g[k];
    }
    return sqrt((s[0] + s[1]) + (s[2] + s[3]));
}

void es_grad_scale(es_params *ps, float coef) {
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        float *g = ps->grad + p->offset;
        for (size_t k = 0; k < p->numel; k++) g[k] *= coef;
    }
}

double es_grad_clip(es_params *ps, float max_norm, float *coef_out) {
    double norm = es_grad_norm(ps);
    float coef = 1.0f;
    if (max_norm > 0.0f) {
        /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1, in fp32 */
        float c = max_norm / ((float)norm + 1e-6f);
        if (c < 1.0f) {
            coef = c;
            es_grad_scale(ps, coef);
        }
    }
    if (coef_out) *coef_out = coef;
    return norm;
}
