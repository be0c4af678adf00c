/*
 * clf.c — shared pieces of the byte-classifier verbs (see clf.h).
 *
 * Batching: inputs are fed in slices of r->batch in their given order; the
 * workspace was sized once for (batch, max_bytes), so nothing is allocated
 * per batch. Eval mode (train = 0) is deterministic, so scores do not
 * depend on the batch size beyond float summation order inside a row
 * (none: rows are independent).
 */
#include "clf.h"

#include "core/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

es_status clf_attach(clf_runner *r, es_byte_model *m, es_pool *pool, int batch, es_error *err) {
    memset(r, 0, sizeof *r);
    const es_byte_config *c = es_byte_model_config(m);
    r->model = m;
    r->pool = pool;
    r->batch = batch < 1 ? 1 : batch > CLF_MAX_BATCH ? CLF_MAX_BATCH : batch;
    r->max_bytes = c->max_bytes;
    r->logits = es_calloc((size_t)r->batch * (size_t)c->n_labels, sizeof *r->logits);
    if (!r->logits) return es_errf(err, ES_ERR_NOMEM, "out of memory");
    es_status st = es_byte_ws_new(&r->ws, m, r->batch, c->max_bytes, 0, pool, err);
    if (st) {
        es_free(r->logits);
        r->logits = NULL;
    }
    return st;
}

int clf_open(clf_runner *r, const char *dir, int n_threads, int batch) {
    memset(r, 0, sizeof *r);
    es_error err = {0};
    es_byte_model *m;
    if (es_byte_model_load_dir(&m, dir, &err)) return cli_fail_err(&err);
    es_pool *pool = NULL;
    if (n_threads != 1 && es_pool_new(&pool, n_threads > 0 ? n_threads : cli_default_threads(),
                                      &err)) {
        es_byte_model_free(m);
        return cli_fail_err(&err);
    }
    if (clf_attach(r, m, pool, batch, &err)) {
        es_pool_free(pool);
        es_byte_model_free(m);
        memset(r, 0, sizeof *r);
        return cli_fail_err(&err);
    }
    r->own_model = true;
    return CLI_EXIT_OK;
}

void clf_close(clf_runner *r) {
    es_byte_ws_free(r->ws);
    es_free(r->logits);
    if (r->own_model) {
        es_pool_free(r->pool);
        es_byte_model_free(r->model);
    }
    memset(r, 0, sizeof *r);
}

es_status clf_logits(clf_runner *r, const uint8_t *const *bytes, const size_t *lens, size_t n,
                     float *logits, es_error *err) {
    int L = es_byte_model_config(r->model)->n_labels;
    size_t cut[CLF_MAX_BATCH];
    for (size_t i = 0; i < n; i += (size_t)r->batch) {
        int B = (int)ES_MIN((size_t)r->batch, n - i);
        for (int b = 0; b < B; b++)
            cut[b] = lens[i + (size_t)b] > (size_t)r->max_bytes ? (size_t)r->max_bytes
                                                                 : lens[i + (size_t)b];
        es_status st = es_byte_forward(r->ws, r->model, bytes + i, cut, B, 0, NULL, r->logits, err);
        if (st) return st;
        memcpy(logits + i * (size_t)L, r->logits, (size_t)B * (size_t)L * sizeof *logits);
    }
    return ES_OK;
}

void clf_softmax(float *p, const float *logits, int n) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, (double)logits[i]);
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    for (int i = 0; i < n; i++) p[i] = (float)(exp((double)logits[i] - mx) / sum);
}

/* Model label index of each data label: by name when the model has it,
 * else by position. */
static es_status map_labels(int map[2], const es_byte_config *c, const es_text_dataset *d,
                            es_error *err) {
    if (c->n_labels != 2)
        return es_errf(err, ES_ERR_ARG,
                       "model has %d labels; spam evaluation needs a two-label model", c->n_labels);
    int by_name = 1;
    for (int l = 0; l < 2; l++) {
        map[l] = -1;
        for (int j = 0; j < 2; j++)
            if (strcmp(c->labels[j], d->label_names[l]) == 0) map[l] = j;
        if (map[l] < 0) by_name = 0;
    }
    if (!by_name || map[0] == map[1]) {
        map[0] = 0;
        map[1] = 1;
    }
    return ES_OK;
}

es_status clf_evaluate(clf_runner *r, const es_text_dataset *d, es_split split, clf_eval *out,
                       double **scores_out, es_error *err) {
    memset(out, 0, sizeof *out);
    if (scores_out) *scores_out = NULL;
    const es_byte_config *c = es_byte_model_config(r->model);
    int map[2];
    es_status st = map_labels(map, c, d, err);
    if (st) return st;
    size_t n = es_text_dataset_count(d, split, -1);
    if (n == 0) return es_errf(err, ES_ERR_ARG, "no examples in split %s", es_split_name(split));
    const uint8_t **bytes = es_calloc(n, sizeof *bytes);
    size_t *lens = es_calloc(n, sizeof *lens);
    int32_t *labels = es_calloc(n, sizeof *labels);
    float *logits = es_calloc(n * 2, sizeof *logits);
    double *scores = es_calloc(n, sizeof *scores);
    if (!bytes || !lens || !labels || !logits || !scores) {
        st = es_errf(err, ES_ERR_NOMEM, "out of memory scoring %zu examples", n);
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        const es_text_example *e = &d->ex[i];
        if (e->split != split) continue;
        bytes[k] = e->bytes;
        lens[k] = e->n_bytes;
        labels[k] = e->label;
        out->n_bytes += ES_MIN(e->n_bytes, (size_t)r->max_bytes);
        k++;
    }
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    st = clf_logits(r, bytes, lens, n, logits, err);
    out->seconds = clock_s(CLOCK_MONOTONIC) - t0;
    out->cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (st) goto done;
    int pos = map[1], neg = map[0];
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + 2 * i;
        scores[i] = (double)z[pos] - (double)z[neg];
        /* CE = logsumexp(z) - z_true, computed stably */
        double mx = fmax(z[0], z[1]);
        double lse = mx + log(exp(z[0] - mx) + exp(z[1] - mx));
        loss += lse - (double)z[map[labels[i]]];
    }
    out->n = n;
    out->loss = loss / (double)n;
    st = es_metrics_binary(&out->bin, scores, labels, n, 0.0, err);
    if (!st && scores_out) {
        *scores_out = scores;
        scores = NULL;
    }
done:
    es_free(bytes);
    es_free(lens);
    es_free(labels);
    es_free(logits);
    es_free(scores);
    return st;
}
