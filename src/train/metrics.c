/*
 * metrics.c — exact ROC-AUC via the Mann–Whitney U statistic, threshold
 * metrics, confusion matrices.
 *
 * AUC algorithm: sort the n scores ascending, give each group of equal
 * scores the mean of the ranks it spans (mid-ranks, 1-based), sum the ranks
 * of the positives (R+). Then U = R+ - n_pos (n_pos + 1) / 2 counts the
 * (positive, negative) pairs with the positive ranked higher, ties
 * counting 1/2, and AUC = U / (n_pos n_neg). This equals the trapezoidal
 * area under the empirical ROC curve, with ties drawn as diagonal segments.
 * All rank arithmetic is on half-integers below 2^53 in double, so it is
 * exact; only the final division rounds.
 */
#include "train/metrics.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored {
    double s;
    int32_t y;
} scored;

static int cmp_scored(const void *a, const void *b) {
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

static es_status check_inputs(const double *scores, const int32_t *labels, size_t n,
                              int64_t *n_pos, es_error *err) {
    int64_t p = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1)
            return es_errf(err, ES_ERR_ARG, "metrics: label %d at index %zu is not 0 or 1",
                           (int)labels[i], i);
        if (isnan(scores[i]))
            return es_errf(err, ES_ERR_ARG, "metrics: score at index %zu is NaN", i);
        p += labels[i];
    }
    *n_pos = p;
    return ES_OK;
}

/* AUC of already-validated input; both classes present. */
static es_status auc_exact(double *auc, const double *scores, const int32_t *labels, size_t n,
                           int64_t n_pos, es_error *err) {
    scored *v = es_calloc(n, sizeof *v);
    if (!v) return es_errf(err, ES_ERR_NOMEM, "metrics: out of memory sorting %zu scores", n);
    for (size_t i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].y = labels[i];
    }
    qsort(v, n, sizeof *v, cmp_scored);
    /* Sum of mid-ranks of the positives, times 2 to stay integral:
     * a tie group spanning ranks i+1..j has mid-rank (i+1+j)/2. */
    double rank_sum2 = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && v[j].s == v[i].s) j++;
        int64_t pos_in_group = 0;
        for (size_t k = i; k < j; k++) pos_in_group += v[k].y;
        rank_sum2 += (double)pos_in_group * (double)(i + 1 + j);
        i = j;
    }
    es_free(v);
    int64_t n_neg = (int64_t)n - n_pos;
    double u2 = rank_sum2 - (double)n_pos * (double)(n_pos + 1);
    *auc = u2 / (2.0 * (double)n_pos * (double)n_neg);
    return ES_OK;
}

es_status es_metrics_roc_auc(double *auc, const double *scores, const int32_t *labels, size_t n,
                             es_error *err) {
    *auc = NAN;
    int64_t n_pos = 0;
    es_status st = check_inputs(scores, labels, n, &n_pos, err);
    if (st) return st;
    if (n_pos == 0 || n_pos == (int64_t)n)
        return es_errf(err, ES_ERR_ARG,
                       "metrics: ROC-AUC is undefined with %lld positives and %lld negatives",
                       (long long)n_pos, (long long)((int64_t)n - n_pos));
    return auc_exact(auc, scores, labels, n, n_pos, err);
}

es_status es_metrics_binary(es_binary_metrics *out, const double *scores, const int32_t *labels,
                            size_t n, double threshold, es_error *err) {
    es_binary_metrics m = {0};
    m.auc = NAN;
    *out = m;
    if (n == 0) return es_errf(err, ES_ERR_ARG, "metrics: no examples");
    if (isnan(threshold)) return es_errf(err, ES_ERR_ARG, "metrics: threshold is NaN");
    int64_t n_pos = 0;
    es_status st = check_inputs(scores, labels, n, &n_pos, err);
    if (st) return st;
    m.n = (int64_t)n;
    m.n_pos = n_pos;
    m.n_neg = (int64_t)n - n_pos;
    m.threshold = threshold;
    for (size_t i = 0; i < n; i++) {
        int pred = scores[i] >= threshold;
        if (pred && labels[i]) m.tp++;
        else if (pred) m.fp++;
        else if (labels[i]) m.fn++;
        else m.tn++;
    }
    m.accuracy = (double)(m.tp + m.tn) / (double)n;
    m.precision = m.tp + m.fp ? (double)m.tp / (double)(m.tp + m.fp) : 0.0;
    m.recall = m.tp + m.fn ? (double)m.tp / (double)(m.tp + m.fn) : 0.0;
    m.f1 = 2 * m.tp + m.fp + m.fn ? 2.0 * (double)m.tp / (double)(2 * m.tp + m.fp + m.fn) : 0.0;
    if (m.n_pos > 0 && m.n_neg > 0) {
        st = auc_exact(&m.auc, scores, labels, n, n_pos, err);
        if (st) return st;
    }
    *out = m;
    return ES_OK;
}

es_status es_metrics_confusion(int64_t *conf, const int32_t *truth, const int32_t *pred, size_t n,
                               int n_classes, es_error *err) {
    if (n_classes < 1) return es_errf(err, ES_ERR_ARG, "metrics: %d classes", n_classes);
    for (size_t i = 0; i < (size_t)n_classes * (size_t)n_classes; i++) conf[i] = 0;
    for (size_t i = 0; i < n; i++) {
        if (truth[i] < 0 || truth[i] >= n_classes || pred[i] < 0 || pred[i] >= n_classes)
            return es_errf(err, ES_ERR_ARG,
                           "metrics: class id out of range [0, %d) at index %zu (truth %d, "
                           "predicted %d)",
                           n_classes, i, (int)truth[i], (int)pred[i]);
        conf[(size_t)truth[i] * (size_t)n_classes + (size_t)pred[i]]++;
    }
    return ES_OK;
}

double es_metrics_accuracy(const int32_t *truth, const int32_t *pred, size_t n) {
    if (n == 0) return 0.0;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) ok += truth[i] == pred[i];
    return (double)ok / (double)n;
}
