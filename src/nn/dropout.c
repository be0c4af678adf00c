/* dropout.c — inverted dropout (see dropout.h). */
#include "nn/dropout.h"

void es_dropout_forward(float *x, uint8_t *mask, size_t n, float p, es_rng *rng) {
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        uint8_t keep = es_rng_uniformf(rng) >= p;
        mask[i] = keep;
        x[i] = keep ? x[i] * scale : 0.0f;
    }
}

void es_dropout_backward(float *d, const uint8_t *mask, size_t n, float p) {
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) d[i] = mask[i] ? d[i] * scale : 0.0f;
}
