/*
 * attn_ref.c — scalar reference of the one-row attention kernel (contract
 * above es_attn_row_fn in kern.h). Plain loops in a fixed order: scores
 * key by key (d ascending), max, exp (libm expf) and sum in key order,
 * then the weighted sum of values in key order. It is the yardstick the
 * SIMD variants are tested against and the T5 engine's path under
 * EDGESEQ_ISA=ref.
 */
#include "kern/kern.h"

#include <math.h>

void es_attn_row_ref(float *out, const float *q, const float *K, const float *V, ptrdiff_t ldk,
                     ptrdiff_t ldv, const float *bias, const int32_t *mask, float *scr, int nk,
                     int dk) {
    float mx = -INFINITY;
    int n_valid = 0;
    for (int t = 0; t < nk; t++) {
        if (mask && !mask[t]) continue;
        const float *kt = K + (ptrdiff_t)t * ldk;
        float dot = 0.0f;
        for (int d = 0; d < dk; d++) dot += q[d] * kt[d];
        if (bias) dot += bias[t];
        scr[t] = dot;
        if (dot > mx) mx = dot;
        n_valid++;
    }
    for (int d = 0; d < dk; d++) out[d] = 0.0f;
    if (n_valid == 0) {
        /* Every key masked: HF's scores are then all finfo.min, so the
         * softmax is uniform over all nk keys. */
        const float w = 1.0f / (float)nk;
        for (int t = 0; t < nk; t++) {
            const float *vt = V + (ptrdiff_t)t * ldv;
            for (int d = 0; d < dk; d++) out[d] += w * vt[d];
        }
        return;
    }
    float sum = 0.0f;
    for (int t = 0; t < nk; t++) {
        if (mask && !mask[t]) continue;
        scr[t] = expf(scr[t] - mx);
        sum += scr[t];
    }
    const float inv = 1.0f / sum;
    for (int t = 0; t < nk; t++) {
        if (mask && !mask[t]) continue;
        const float w = scr[t] * inv;
        const float *vt = V + (ptrdiff_t)t * ldv;
        for (int d = 0; d < dk; d++) out[d] += w * vt[d];
    }
}
