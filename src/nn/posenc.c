/* posenc.c — learned position table add and its backward (see posenc.h). */
#include "nn/posenc.h"

void es_posenc_forward(float *y, const float *x, const float *P, const es_seq *s, int D) {
    es_seq_zero_pads(s, y, D, D);
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->len[b]; t++) {
            size_t r = es_seq_row(s, b, t) * (size_t)D;
            const float *p = P + (size_t)t * (size_t)D;
            for (int d = 0; d < D; d++) y[r + (size_t)d] = x[r + (size_t)d] + p[d];
        }
}

void es_posenc_backward(float *dP, const float *dy, const es_seq *s, int D) {
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->len[b]; t++) {
            const float *g = dy + es_seq_row(s, b, t) * (size_t)D;
            float *p = dP + (size_t)t * (size_t)D;
            for (int d = 0; d < D; d++) p[d] += g[d];
        }
}
