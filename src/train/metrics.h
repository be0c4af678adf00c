/*
 * metrics.h — evaluation metrics for classifiers: exact ROC-AUC (the
 * Mann–Whitney U statistic), accuracy, precision, recall, F1, confusion
 * matrices. Pure functions over caller-owned arrays; nothing is kept.
 *
 * Scores are doubles so that callers can pass logit differences instead of
 * probabilities: a well-trained classifier saturates float probabilities to
 * exactly 1.0 on many examples, which would turn real ranking differences
 * into ties and lower the AUC.
 */
#ifndef ES_TRAIN_METRICS_H
#define ES_TRAIN_METRICS_H

#include "core/common.h"

/* Binary-classification summary at one decision threshold. Label 1 is the
 * positive class. precision / recall / f1 are 0 when their denominator is 0
 * (no predicted / no actual positives), the convention of scikit-learn's
 * zero_division=0. auc is NaN when one class is absent. */
typedef struct es_binary_metrics {
    int64_t n, n_pos, n_neg;
    int64_t tp, fp, tn, fn; /* predicted positive iff score >= threshold */
    double threshold;
    double auc;
    double accuracy, precision, recall, f1;
} es_binary_metrics;

/* Exact area under the ROC curve of `scores` (n) against 0/1 `labels` (n):
 * the probability that a random positive scores higher than a random
 * negative, ties counting one half — U / (n_pos * n_neg), computed from the
 * rank sum of the positives with mid-ranks for tied scores, O(n log n).
 * Errors: ES_ERR_ARG for a label other than 0/1, a NaN score, or when
 * either class is absent (AUC undefined); ES_ERR_NOMEM. Thread-safe. */
es_status es_metrics_roc_auc(double *auc, const double *scores, const int32_t *labels, size_t n,
                             es_error *err);

/* Fills *out for predicting positive iff scores[i] >= threshold, plus the
 * exact AUC (NaN, not an error, when one class is absent). Errors:
 * ES_ERR_ARG for n == 0, a label other than 0/1 or a NaN score;
 * ES_ERR_NOMEM. */
es_status es_metrics_binary(es_binary_metrics *out, const double *scores, const int32_t *labels,
                            size_t n, double threshold, es_error *err);

/* Multi-class confusion matrix: conf (n_classes, n_classes) row-major,
 * conf[t * n_classes + p] = number of examples with truth t predicted p.
 * Overwrites conf. ES_ERR_ARG for n_classes < 1 or an id outside
 * [0, n_classes). */
es_status es_metrics_confusion(int64_t *conf, const int32_t *truth, const int32_t *pred, size_t n,
                               int n_classes, es_error *err);

/* Accuracy of pred against truth (fraction equal); 0 for n == 0. */
double es_metrics_accuracy(const int32_t *truth, const int32_t *pred, size_t n);

#endif
