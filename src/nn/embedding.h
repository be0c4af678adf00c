/*
 * embedding.h — table lookup y[r] = E[ids[r]] and its scatter-add backward.
 * ids < 0 produce (and receive gradient for) nothing: a zero row, which is
 * how padding and margin rows of seq.h stay zero.
 *   E (V, D), ids (n), y (n, D).
 */
#ifndef ES_NN_EMBEDDING_H
#define ES_NN_EMBEDDING_H

#include "core/pool.h"

void es_embedding_forward(float *y, const float *E, const int32_t *ids, size_t n, int D);
/* dE[ids[r]] += dy[r] for every r with ids[r] >= 0, rows in ascending order
 * per column (deterministic), split over the pool by column ranges. */
void es_embedding_backward(es_pool *pool, float *dE, const float *dy, const int32_t *ids,
                           size_t n, int D);

#endif
