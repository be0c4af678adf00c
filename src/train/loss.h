/*
 * loss.h — classification losses with their gradients, computed together
 * (the gradient needs the softmax anyway). Sums are in double so the loss
 * of a large batch does not depend on float accumulation order.
 */
#ifndef ES_TRAIN_LOSS_H
#define ES_TRAIN_LOSS_H

#include "core/common.h"

/* Softmax cross-entropy over rows: logits (N, V), targets (N). Rows whose
 * target == ignore_index contribute nothing (dlogits row = 0). Returns
 * Σ −log softmax(logits_i)[t_i] over counted rows; *n_counted gets their
 * number. dlogits (N, V) (may be NULL) = grad_scale · (softmax − onehot)
 * for counted rows, i.e. pass grad_scale = 1/n for a mean loss. Targets
 * outside [0, V) other than ignore_index are treated as ignored and
 * counted in *n_bad (may be NULL). */
double es_softmax_ce(float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                     int32_t ignore_index, float grad_scale, int *n_counted, int *n_bad);

/* Binary cross-entropy with logits, elementwise: targets y in [0, 1].
 * Returns Σ [softplus(x) − y·x] (numerically stable form); dlogits (n)
 * (may be NULL) = grad_scale · (σ(x) − y). */
double es_bce_logits(float *dlogits, const float *logits, const float *targets, size_t n,
                     float grad_scale);

#endif
