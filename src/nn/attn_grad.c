/*
 * attn_grad.c — see attn_grad.h.
 */
#include "nn/attn_grad.h"

#include <math.h>

void es_attn_row_grad(float *dq, float *dk, float *dv, float *dp, const float *dc, const float *q,
                      const float *k, const float *v, const float *p, size_t ldp, int Lk, int H,
                      int D) {
    const int dh = D / H;
    const float scale = 1.0f / sqrtf((float)dh);
    for (int h = 0; h < H; h++) {
        const float *ph = p + (size_t)h * ldp;
        const size_t o = (size_t)h * (size_t)dh;
        float dot = 0.0f;
        for (int si = 0; si < Lk; si++) {
            float a = 0.0f;
            for (int i = 0; i < dh; i++) a += dc[o + i] * v[(size_t)si * D + o + i];
            dp[si] = a;
            dot += ph[si] * a;
        }
        for (int si = 0; si < Lk; si++) {
            const float ds = ph[si] * (dp[si] - dot) * scale;
            const float *ks = k + (size_t)si * D + o;
            float *dks = dk + (size_t)si * D + o, *dvs = dv + (size_t)si * D + o;
            for (int i = 0; i < dh; i++) {
                dq[o + i] += ds * ks[i];
                dks[i] += ds * q[o + i];
                dvs[i] += ph[si] * dc[o + i];
            }
        }
    }
}
