/*
 * test_metrics.c — exact ROC-AUC against hand-computed cases and an
 * O(n^2) brute-force pair count (random scores with many ties), threshold
 * metrics and confusion matrices, argument errors, allocation failure.
 * The hand-case AUCs (0.75, 0.875, 0.625, 0.75) match scikit-learn 1.2.1
 * roc_auc_score on the same inputs.
 */
#include "test.h"

#include "core/rng.h"
#include "train/metrics.h"

/* P(score_pos > score_neg) + 0.5 P(equal), by counting every pair. */
static double auc_brute(const double *s, const int32_t *y, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!y[i]) continue;
        for (size_t j = 0; j < n; j++) {
            if (y[j]) continue;
            den += 1;
            num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
        }
    }
    return num / den;
}

static void hand_cases(void) {
    es_error err;
    double auc;
    {   /* scikit-learn's roc_auc_score docstring example: 0.75 */
        const double s[] = {0.1, 0.4, 0.35, 0.8};
        const int32_t y[] = {0, 0, 1, 1};
        CHECK(es_metrics_roc_auc(&auc, s, y, 4, &err) == ES_OK, "%s", err.msg);
        CHECK(auc == 0.75, "auc %.17g", auc);
    }
    {   /* one tie across classes: (0.5 vs 0.5) = 1/2, the other 3 pairs won: 3.5/4 */
        const double s[] = {0.5, 0.5, 0.2, 0.9};
        const int32_t y[] = {0, 1, 0, 1};
        CHECK(es_metrics_roc_auc(&auc, s, y, 4, &err) == ES_OK, "%s", err.msg);
        CHECK(auc == 0.875, "auc %.17g", auc);
    }
    {   /* perfect, reversed, all tied */
        const double s[] = {1, 2, 3, 4, 5};
        const int32_t y1[] = {0, 0, 1, 1, 1}, y2[] = {1, 1, 0, 0, 0};
        const double t[] = {7, 7, 7, 7, 7};
        CHECK(es_metrics_roc_auc(&auc, s, y1, 5, &err) == ES_OK && auc == 1.0, "auc %g", auc);
        CHECK(es_metrics_roc_auc(&auc, s, y2, 5, &err) == ES_OK && auc == 0.0, "auc %g", auc);
        CHECK(es_metrics_roc_auc(&auc, t, y1, 5, &err) == ES_OK && auc == 0.5, "auc %g", auc);
    }
    {   /* infinities are ordinary ordered values (logit differences can overflow) */
        const double s[] = {-INFINITY, 0, INFINITY, INFINITY};
        const int32_t y[] = {0, 1, 0, 1};
        CHECK(es_metrics_roc_auc(&auc, s, y, 4, &err) == ES_OK, "%s", err.msg);
        /* pairs: 0 > -inf 1, 0 < inf 0, inf > -inf 1, inf = inf 1/2: 2.5/4 */
        CHECK(auc == 0.625, "auc %.17g", auc);
    }
}

static void errors(void) {
    es_error err;
    double auc = 0;
    const double s[] = {0.1, 0.2, NAN};
    const int32_t one_class[] = {1, 1, 1}, bad[] = {0, 2, 1}, ok[] = {0, 1, 1};
    CHECK(es_metrics_roc_auc(&auc, s, one_class, 2, &err) == ES_ERR_ARG, "one class");
    CHECK(isnan(auc), "auc must be NaN on error");
    CHECK(strstr(err.msg, "undefined") != NULL, "msg: %s", err.msg);
    CHECK(es_metrics_roc_auc(&auc, s, bad, 2, &err) == ES_ERR_ARG, "label 2");
    CHECK(strstr(err.msg, "index 1") != NULL, "msg: %s", err.msg);
    CHECK(es_metrics_roc_auc(&auc, s, ok, 3, &err) == ES_ERR_ARG, "NaN score");
    CHECK(strstr(err.msg, "NaN") != NULL, "msg: %s", err.msg);
    CHECK(es_metrics_roc_auc(&auc, s, ok, 0, &err) == ES_ERR_ARG, "empty");

    es_binary_metrics m;
    CHECK(es_metrics_binary(&m, s, ok, 0, 0.5, &err) == ES_ERR_ARG, "empty binary");
    CHECK(es_metrics_binary(&m, s, one_class, 2, 0.5, &err) == ES_OK, "one class is fine");
    CHECK(isnan(m.auc) && m.n_neg == 0 && m.n_pos == 2, "auc NaN without negatives");

    es_test_fail_alloc_after(1);
    const int32_t y2[] = {0, 1};
    es_status st = es_metrics_roc_auc(&auc, s, y2, 2, &err);
    es_test_fail_alloc_after(0);
    CHECK(st == ES_ERR_NOMEM, "alloc failure -> %d", (int)st);
}

static void brute_force(void) {
    es_rng rng;
    es_rng_seed(&rng, 1234);
    enum { N_MAX = 400 };
    double s[N_MAX];
    int32_t y[N_MAX];
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 2 + (uint32_t)es_rng_next(&rng) % (N_MAX - 1);
        /* Few distinct values on some trials, so tie handling is exercised. */
        uint32_t levels = trial % 3 == 0 ? 3 : trial % 3 == 1 ? 20 : 1000000;
        for (size_t i = 0; i < n; i++) {
            y[i] = (int32_t)((uint32_t)es_rng_next(&rng) % 3 == 0);
            s[i] = (double)((uint32_t)es_rng_next(&rng) % levels) * 0.25 - 3.0 + 0.1 * y[i] * (trial & 1);
        }
        y[0] = 0;
        y[1] = 1;
        double auc, ref = auc_brute(s, y, n);
        es_error err;
        CHECK(es_metrics_roc_auc(&auc, s, y, n, &err) == ES_OK, "%s", err.msg);
        CHECK(fabs(auc - ref) <= 1e-12, "trial %d n %zu: auc %.17g brute %.17g", trial, n, auc,
              ref);
        es_binary_metrics m;
        CHECK(es_metrics_binary(&m, s, y, n, 0.0, &err) == ES_OK, "%s", err.msg);
        CHECK(fabs(m.auc - ref) <= 1e-12, "binary auc %.17g", m.auc);
        CHECK(m.tp + m.fp + m.tn + m.fn == (int64_t)n, "counts");
    }
}

static void threshold_metrics(void) {
    /* truth  1 1 1 0 0 0 0 1 ; score >= 0.5 predicts 1 1 0 1 0 0 0 1
     * tp = 3, fn = 1, fp = 1, tn = 3 */
    const double s[] = {0.9, 0.6, 0.4, 0.7, 0.1, 0.2, 0.49, 0.5};
    const int32_t y[] = {1, 1, 1, 0, 0, 0, 0, 1};
    es_binary_metrics m;
    es_error err;
    CHECK(es_metrics_binary(&m, s, y, 8, 0.5, &err) == ES_OK, "%s", err.msg);
    CHECK(m.tp == 3 && m.fn == 1 && m.fp == 1 && m.tn == 3, "tp %lld fn %lld fp %lld tn %lld",
          (long long)m.tp, (long long)m.fn, (long long)m.fp, (long long)m.tn);
    CHECK(m.accuracy == 0.75, "acc %g", m.accuracy);
    CHECK(m.precision == 0.75 && m.recall == 0.75 && m.f1 == 0.75, "p %g r %g f1 %g",
          m.precision, m.recall, m.f1);
    /* positives 0.9 0.6 0.4 0.5 vs negatives 0.7 0.1 0.2 0.49: 4+3+2+3 = 12 of 16 */
    CHECK(m.auc == 0.75, "auc %.17g", m.auc);

    /* nothing predicted positive: precision and F1 are 0 (zero_division = 0) */
    CHECK(es_metrics_binary(&m, s, y, 8, 2.0, &err) == ES_OK, "%s", err.msg);
    CHECK(m.tp == 0 && m.fp == 0 && m.precision == 0 && m.f1 == 0 && m.recall == 0, "zero div");
    CHECK(m.accuracy == 0.5, "acc %g", m.accuracy);

    const int32_t truth[] = {0, 1, 2, 2, 1, 0}, pred[] = {0, 2, 2, 1, 1, 0};
    int64_t conf[9];
    CHECK(es_metrics_confusion(conf, truth, pred, 6, 3, &err) == ES_OK, "%s", err.msg);
    const int64_t want[9] = {2, 0, 0, 0, 1, 1, 0, 1, 1};
    for (int i = 0; i < 9; i++) CHECK(conf[i] == want[i], "conf[%d] = %lld", i, (long long)conf[i]);
    CHECK(fabs(es_metrics_accuracy(truth, pred, 6) - 4.0 / 6.0) < 1e-15, "acc");
    const int32_t badp[] = {0, 3};
    CHECK(es_metrics_confusion(conf, truth, badp, 2, 3, &err) == ES_ERR_ARG, "out of range");
    CHECK(es_metrics_confusion(conf, truth, pred, 6, 0, &err) == ES_ERR_ARG, "0 classes");
}

int main(void) {
    hand_cases();
    errors();
    brute_force();
    threshold_metrics();
    TEST_MAIN_END();
}
