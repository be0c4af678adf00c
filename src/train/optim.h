/*
 * optim.h — AdamW with PyTorch's exact update order, global-norm gradient
 * clipping, and the learning-rate schedules. Moments m, v mirror the
 * parameter buffer layout (one contiguous array each) so checkpoints save
 * them as one tensor per parameter and updates are one pass.
 *
 * AdamW step t (1-based), per element (torch.optim.AdamW, amsgrad off):
 *   p ← p·(1 − lr·wd)            (only tensors registered with decay = 1)
 *   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
 * Clipping: coef = min(1, max_norm / (norm + 1e-6)), g ← coef·g, with
 * norm = √Σg² accumulated in double, in parameter order in four
 * interleaved partial sums (deterministic, independent of threads).
 */
#ifndef ES_TRAIN_OPTIM_H
#define ES_TRAIN_OPTIM_H

#include "nn/params.h"

typedef struct es_adamw {
    float *m, *v; /* (ps->total) each, zero at start */
    size_t n;
    int64_t t;    /* steps taken */
} es_adamw;

es_status es_adamw_init(es_adamw *o, const es_params *ps, es_error *err);
void es_adamw_free(es_adamw *o);
/* One step on every parameter. decay_all = 1 applies wd to every tensor
 * (PyTorch's AdamW(model.parameters())), 0 only to tensors with decay = 1. */
void es_adamw_step(es_adamw *o, es_params *ps, float lr, float beta1, float beta2, float eps,
                   float wd, int decay_all);

/* Global L2 norm of all gradients (double accumulation, parameter order). */
double es_grad_norm(const es_params *ps);
/* Scales every gradient by coef. */
void es_grad_scale(es_params *ps, float coef);
/* Clips to max_norm (no-op for max_norm <= 0); returns the norm before
 * clipping; *coef_out (may be NULL) gets the factor used (1 when none). */
double es_grad_clip(es_params *ps, float max_norm, float *coef_out);

#endif
