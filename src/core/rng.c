/*
 * rng.c — the library RNG (sampling, init, dropout): xoshiro256** seeded through splitmix64.
 * Its whole state is 4 x u64 so checkpoints store and restore it exactly,
 * which is what makes resumed runs bit-identical.
 */
#include "core/rng.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void es_rng_seed(es_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t es_rng_next(es_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double es_rng_uniform(es_rng *r) { return (double)(es_rng_next(r) >> 11) * 0x1.0p-53; }

float es_rng_uniformf(es_rng *r) { return (float)(es_rng_next(r) >> 40) * 0x1.0p-24f; }

uint64_t es_rng_below(es_rng *r, uint64_t n) {
    /* Lemire's nearly-divisionless method would be faster; rejection keeps
     * it simple and unbiased. */
    if (n <= 1) return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = es_rng_next(r);
    while (x >= lim);
    return x % n;
}
