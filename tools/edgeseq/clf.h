/*
 * clf.h — shared pieces of the byte-classifier verbs (`edgeseq train`,
 * `eval`, `classify`): loading a byte classifier folder with a workspace
 * and thread pool, batched eval-mode logits, class probabilities, and the
 * binary score used for ROC-AUC.
 *
 * The AUC score of a two-label model is the logit difference
 * logit[1] - logit[0] (= log p1/p0), not p1: a confident model saturates
 * float probabilities at exactly 1.0, which would turn ranking differences
 * into ties.
 */
#ifndef ES_CLI_CLF_H
#define ES_CLI_CLF_H

#include "cli.h"
#include "model/byte_model.h"
#include "train/data.h"
#include "train/metrics.h"

#define CLF_MAX_BATCH 256

typedef struct clf_runner {
    es_byte_model *model;   /* owned (clf_open) or borrowed (clf_attach) */
    bool own_model;
    es_byte_ws *ws;
    es_pool *pool;
    int batch;
    int max_bytes;          /* model config max_bytes: inputs are cut to it */
    float *logits;          /* (batch, n_labels) scratch */
} clf_runner;

/* Loads MODEL (a byte-classifier folder) and sizes a workspace for `batch`
 * inputs (clamped to 1..CLF_MAX_BATCH) with n_threads threads (0 = cores). Returns an exit code (error printed). */
int clf_open(clf_runner *r, const char *dir, int n_threads, int batch);
/* Same for a model already in memory (borrowed, e.g. the one being
 * trained); pool may be NULL. Returns an es_status. */
es_status clf_attach(clf_runner *r, es_byte_model *m, es_pool *pool, int batch, es_error *err);
void clf_close(clf_runner *r);

/* Eval-mode logits of n inputs: logits (n, n_labels), caller-owned. */
es_status clf_logits(clf_runner *r, const uint8_t *const *bytes, const size_t *lens, size_t n,
                     float *logits, es_error *err);

/* Softmax of one row of n logits into p (computed in double). */
void clf_softmax(float *p, const float *logits, int n);

/* Result of scoring a labelled dataset split with a two-label model. */
typedef struct clf_eval {
    size_t n;
    double loss;               /* mean cross-entropy (nats) */
    es_binary_metrics bin;     /* positive = label 1; threshold p1 >= 0.5 */
    double seconds;            /* model wall time only (no file reading) */
    double cpu_seconds;        /* CPU time of the process over the same span: on a
                                  shared machine this is the load-independent cost
                                  (equal to wall time with 1 thread on an idle core) */
    uint64_t n_bytes;          /* bytes fed to the model (after the cut) */
} clf_eval;

/* Scores the loaded examples of `split` in d (bytes must be loaded).
 * Label ids of the data map to the model's by position (d labels "ham",
 * "spam" are 0, 1). If scores is not NULL it receives n logit differences
 * (es_malloc'd, caller frees). */
es_status clf_evaluate(clf_runner *r, const es_text_dataset *d, es_split split, clf_eval *out,
                       double **scores, es_error *err);

#endif
