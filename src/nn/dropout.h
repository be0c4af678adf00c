/*
 * dropout.h — inverted dropout: in training each element is kept with
 * probability 1-p and scaled by 1/(1-p), so eval mode is the identity.
 * The mask (1 = kept) is drawn from the caller's RNG serially in element
 * order, so a seed fixes it for any thread count and a checkpointed RNG
 * state reproduces it after resume.
 */
#ifndef ES_NN_DROPOUT_H
#define ES_NN_DROPOUT_H

#include "core/rng.h"

#include <stddef.h>
#include <stdint.h>

/* x (n) in place; mask (n) receives the kept flags. p in [0, 1). */
void es_dropout_forward(float *x, uint8_t *mask, size_t n, float p, es_rng *rng);
/* dx = dy * mask / (1-p), in place on d (n). */
void es_dropout_backward(float *d, const uint8_t *mask, size_t n, float p);

#endif
