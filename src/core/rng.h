/*
 * rng.h — deterministic RNG (sampling, init, training) (xoshiro256**). State is plain
 * data so it can be checkpointed.
 */
#ifndef ES_CORE_RNG_H
#define ES_CORE_RNG_H

#include <stdint.h>

typedef struct es_rng {
    uint64_t s[4];
} es_rng;

void es_rng_seed(es_rng *r, uint64_t seed);
uint64_t es_rng_next(es_rng *r);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double es_rng_uniform(es_rng *r);
float es_rng_uniformf(es_rng *r);
/* Uniform integer in [0, n). */
uint64_t es_rng_below(es_rng *r, uint64_t n);

#endif
