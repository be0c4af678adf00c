/*
 * adafactor.c — HF-semantics Adafactor (equations in adafactor.h). Torch
 * evaluates the per-tensor scalars (RMS, means) in fp32 tensor ops and the
 * step-size scalars in Python doubles; here every reduction is in double
 * and rounded once, which is at least as accurate and order-independent.
 */
#include "train/adafactor.h"

#include <math.h>
#include <string.h>

es_adafactor_params es_adafactor_params_default(void) {
    es_adafactor_params p;
    memset(&p, 0, sizeof p);
    p.lr = 1e-3f;
    p.eps1 = 1e-30f;
    p.eps2 = 1e-3f;
    p.clip_threshold = 1.0f;
    p.decay_rate = -0.8f;
    p.beta1 = 0.0f;
    p.scale_parameter = 1;
    p.relative_step = 1;
    return p;
}

static int factored(const es_param *p) { return p->ndim >= 2; }
static size_t n_cols(const es_param *p) { return (size_t)p->shape[p->ndim - 1]; }

es_status es_adafactor_init(es_adafactor *o, const es_params *ps, int with_m, es_error *err) {
    memset(o, 0, sizeof *o);
    size_t n_state = 0;
    o->state_off = es_calloc((size_t)ps->n + 1, sizeof(size_t));
    if (!o->state_off) return es_errf(err, ES_ERR_NOMEM, "adafactor: out of memory");
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        o->state_off[i] = n_state;
        if (factored(p)) n_state += p->numel / n_cols(p) + n_cols(p);
    }
    o->n_state = n_state;
    o->row = es_calloc(n_state ? n_state : 1, sizeof(float));
    o->col = o->row; /* one buffer: rows then cols of each tensor */
    o->v = es_calloc(ps->total ? ps->total : 1, sizeof(float));
    if (with_m) o->m = es_calloc(ps->total ? ps->total : 1, sizeof(float));
    if (!o->row || !o->v || (with_m && !o->m)) {
        es_adafactor_free(o);
        return es_errf(err, ES_ERR_NOMEM, "adafactor: out of memory for %zu state floats",
                       n_state + ps->total);
    }
    return ES_OK;
}

void es_adafactor_free(es_adafactor *o) {
    es_free(o->row);
    es_free(o->v);
    es_free(o->m);
    es_free(o->state_off);
    memset(o, 0, sizeof *o);
}

static double rms(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s) / sqrt((double)n);
}

float es_adafactor_step(es_adafactor *o, es_params *ps, const es_adafactor_params *hp,
                        float lr_override) {
    o->t++;
    const double t = (double)o->t;
    double rel = lr_override > 0.0f ? lr_override : hp->lr;
    if (hp->relative_step) {
        double min_step = hp->warmup_init ? 1e-6 * t : 1e-2;
        rel = fmin(min_step, 1.0 / sqrt(t));
    }
    const float beta2t = (float)(1.0 - pow(t, (double)hp->decay_rate));
    const float omb = 1.0f - beta2t;
    float alpha = 0.0f;
    for (int i = 0; i < ps->n; i++) {
        const es_param *p = &ps->p[i];
        float *x = ps->data + p->offset, *g = ps->grad + p->offset;
        float *u = o->v + p->offset; /* unfactored: V; factored: scratch for U */
        const size_t n = p->numel;
        double scale = hp->scale_parameter ? fmax((double)hp->eps2, rms(x, n)) : 1.0;
        alpha = (float)(scale * rel);
        if (factored(p)) {
            const size_t C = n_cols(p), R = n / C;
            float *row = o->row + o->state_off[i], *col = row + R;
            for (size_t r = 0; r < R; r++) {
                double s = 0.0;
                for (size_t c = 0; c < C; c++) {
                    float gg = g[r * C + c];
                    s += (double)(gg * gg + hp->eps1);
                }
                row[r] = row[r] * beta2t + omb * (float)(s / (double)C);
            }
            for (size_t c = 0; c < C; c++) {
                double s = 0.0;
                for (size_t r = 0; r < R; r++) {
                    float gg = g[r * C + c];
                    s += (double)(gg * gg + hp->eps1);
                }
                col[c] = col[c] * beta2t + omb * (float)(s / (double)R);
            }
            double rm = 0.0;
            for (size_t r = 0; r < R; r++) rm += row[r];
            const float row_mean = (float)(rm / (double)R);
            for (size_t r = 0; r < R; r++) {
                float rf = 1.0f / sqrtf(row[r] / row_mean);
                for (size_t c = 0; c < C; c++) u[r * C + c] = rf * (1.0f / sqrtf(col[c])) * g[r * C + c];
            }
        } else {
            for (size_t k = 0; k < n; k++) {
                u[k] = u[k] * beta2t + omb * (g[k] * g[k] + hp->eps1);
            }
        }
        /* for unfactored tensors u holds V: compute U into g's place? keep V
         * intact by evaluating U on the fly in the clipping pass below */
        double us = 0.0;
        for (size_t k = 0; k < n; k++) {
            float uk = factored(p) ? u[k] : g[k] / sqrtf(u[k]);
            us += (double)uk * uk;
        }
        const float clip = (float)fmax(1.0, sqrt(us / (double)n) / (double)hp->clip_threshold);
        const float decay = (float)((double)hp->weight_decay * (double)alpha);
        for (size_t k = 0; k < n; k++) {
            float uk = factored(p) ? u[k] : g[k] / sqrtf(u[k]);
            uk = uk / clip * alpha;
            if (o->m) {
                o->m[p->offset + k] = o->m[p->offset + k] * hp->beta1 + (1.0f - hp->beta1) * uk;
                uk = o->m[p->offset + k];
            }
            if (hp->weight_decay != 0.0f) x[k] += x[k] * -decay;
            x[k] -= uk;
        }
        if (factored(p)) memset(u, 0, n * sizeof(float)); /* scratch only */
    }
    return alpha;
}
