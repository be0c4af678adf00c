/*
 * seq.h — the padded row layout every sequence activation uses in src/nn.
 *
 * A batch of B sequences of capacity T (per-sequence valid length len[b]
 * <= T) with D features is stored as B * Tp rows of D floats, Tp = T + 2m:
 * sequence b occupies rows [b*Tp + m, b*Tp + m + T); the m rows before and
 * after are margins. Invariant kept by every layer: margin rows and rows at
 * t >= len[b] are exactly zero, in activations and in gradients.
 *
 * Why: a width-k convolution over the whole batch becomes k plain GEMMs on
 * the flat row range [m, B*Tp - m) with row shifts in [-(k-1), k-1] (m >=
 * k-1): reads never leave the buffer and never see another sequence's data
 * (they see zeros), so batches run as a few large GEMMs instead of B*k
 * small ones. Results are per-row, hence independent of thread count.
 */
#ifndef ES_NN_SEQ_H
#define ES_NN_SEQ_H

#include <stddef.h>
#include <string.h>

typedef struct es_seq {
    int B;          /* sequences */
    int T;          /* capacity per sequence */
    int m;          /* margin rows on each side */
    int Tp;         /* T + 2m */
    const int *len; /* (B) valid lengths, each in [0, T] */
} es_seq;

static inline es_seq es_seq_make(int B, int T, int m, const int *len) {
    es_seq s = {B, T, m, T + 2 * m, len};
    return s;
}
/* Row index of position t of sequence b. */
static inline size_t es_seq_row(const es_seq *s, int b, int t) {
    return (size_t)b * (size_t)s->Tp + (size_t)s->m + (size_t)t;
}
static inline size_t es_seq_rows(const es_seq *s) { return (size_t)s->B * (size_t)s->Tp; }

/* Zeroes margins and rows t >= len[b] of x (rows of D floats, stride ld). */
static inline void es_seq_zero_pads(const es_seq *s, float *x, int D, int ld) {
    for (int b = 0; b < s->B; b++) {
        size_t r0 = (size_t)b * (size_t)s->Tp;
        size_t v0 = r0 + (size_t)s->m, v1 = v0 + (size_t)s->len[b];
        size_t r1 = r0 + (size_t)s->Tp;
        for (size_t r = r0; r < v0; r++) memset(x + r * (size_t)ld, 0, (size_t)D * sizeof(float));
        for (size_t r = v1; r < r1; r++) memset(x + r * (size_t)ld, 0, (size_t)D * sizeof(float));
    }
}

#endif
