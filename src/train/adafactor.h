/*
 * adafactor.h — Adafactor (Shazeer & Stern 2018) with exactly the semantics
 * of HF transformers.optimization.Adafactor (the T5 fine-tuning optimizer).
 * Equations, per parameter tensor P (step t = 1, 2, ...; ε1 = 1e-30,
 * ε2 = 1e-3, d = clip_threshold, decay_rate c = −0.8):
 *
 *   RMS(x)  = ‖x‖₂ / √numel(x)
 *   ρ_t     = min(1e-2, 1/√t) (relative_step; 1e-6·t instead of 1e-2 with
 *             warmup_init), else the external lr
 *   α_t     = max(ε2, RMS(P)) · ρ_t   when scale_parameter, else ρ_t
 *   β̂2_t    = 1 − t^c
 *   G²      = g² + ε1
 *   factored (rank ≥ 2, over the last two dims; rows R, cols C):
 *     R_t = β̂2_t R_{t−1} + (1 − β̂2_t) mean_cols(G²)      (one per row)
 *     C_t = β̂2_t C_{t−1} + (1 − β̂2_t) mean_rows(G²)      (one per column)
 *     U   = g / ( √(R_t / mean(R_t)) ⊗ √C_t )
 *   otherwise: V_t = β̂2_t V_{t−1} + (1 − β̂2_t) G²,  U = g / √V_t
 *   U   ← U / max(1, RMS(U)/d)                             update clipping
 *   U   ← α_t · U
 *   with β1: M_t = β1 M_{t−1} + (1 − β1) U;  U = M_t
 *   weight decay: P ← P − wd·α_t·P  (before the update)
 *   P   ← P − U
 * RMS(P) is taken before any change in the step, as HF does. Reductions
 * (means, norms) are in double; the state is fp32 like HF's.
 */
#ifndef ES_TRAIN_ADAFACTOR_H
#define ES_TRAIN_ADAFACTOR_H

#include "nn/params.h"

typedef struct es_adafactor_params {
    float lr;              /* external lr (used when relative_step = 0) */
    float eps1, eps2;      /* 1e-30, 1e-3 */
    float clip_threshold;  /* 1.0 */
    float decay_rate;      /* -0.8 */
    float beta1;           /* <= 0: no first moment (HF beta1=None) */
    float weight_decay;    /* 0 */
    int scale_parameter;   /* 1 */
    int relative_step;     /* 1 */
    int warmup_init;       /* 0 */
} es_adafactor_params;

/* HF defaults: lr unused, relative_step = scale_parameter = 1. */
es_adafactor_params es_adafactor_params_default(void);

typedef struct es_adafactor {
    float *row, *col;  /* factored second moments, per 2-D tensor: rows then cols */
    float *v;          /* unfactored second moments (1-D tensors), params layout */
    float *m;          /* first moment (params layout) or NULL */
    size_t *state_off; /* (n params) offset of tensor i's row/col state */
    size_t n_state;
    int64_t t;
} es_adafactor;

/* Allocates zero state for every tensor of ps; with_m allocates the first
 * moment. Tensors with ndim >= 2 are factored over (prod(shape[:-1]),
 * shape[-1]) — for our 2-D weights, (out, in). */
es_status es_adafactor_init(es_adafactor *o, const es_params *ps, int with_m, es_error *err);
void es_adafactor_free(es_adafactor *o);
/* One step on every tensor with ps->grad. lr_override > 0 replaces p->lr
 * (schedules); returns the α_t of the last tensor (for logging). */
float es_adafactor_step(es_adafactor *o, es_params *ps, const es_adafactor_params *p,
                        float lr_override);

#endif
