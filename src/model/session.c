/*
 * session.c — the public es_session_* API, architecture-independent:
 * parameter defaults and validation, the thread pool, the per-handle
 * error message, and dispatch to the model's es_arch_ops (see
 * model_internal.h). Architecture code reports errors through an
 * es_error; this file copies the message into s->errmsg.
 */
#include "model/model_internal.h"

#include <stdio.h>
#include <string.h>

#define MAX_BATCH_LIMIT 4096
#define MAX_LEN_LIMIT (1 << 20)

es_session_params es_session_params_default(void) {
    es_session_params p;
    memset(&p, 0, sizeof p);
    p.max_batch = 8;
    p.max_src_len = 512;
    p.max_tgt_len = 512;
    p.n_threads = 0;
    return p;
}

es_gen_params es_gen_params_default(void) {
    es_gen_params p;
    memset(&p, 0, sizeof p);
    p.method = ES_DECODE_GREEDY;
    p.max_new_tokens = 64;
    p.ignore_eos = 0;
    p.num_beams = 4;
    p.length_penalty = 1.0f;
    p.early_stopping = 0;
    p.num_return = 0; /* = num_beams */
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.seed = 0;
    return p;
}

void es_session_free(es_session *s) {
    if (!s) return;
    if (s->model && s->model->ops && s->model->ops->session_free) s->model->ops->session_free(s);
    es_pool_free(s->pool);
    es_free(s);
}

es_status es_session_new(es_session **out, const es_model *m, const es_session_params *params,
                         es_error *err) {
    es_err_clear(err);
    if (!out) return es_errf(err, ES_ERR_ARG, "es_session_new: out is NULL");
    *out = NULL;
    if (!m || !m->ops) return es_errf(err, ES_ERR_ARG, "es_session_new: model is NULL");
    es_session_params p = params ? *params : es_session_params_default();
    if (p.max_batch < 1 || p.max_batch > MAX_BATCH_LIMIT)
        return es_errf(err, ES_ERR_ARG, "session params: max_batch = %d is out of range [1, %d]",
                       p.max_batch, MAX_BATCH_LIMIT);
    if (p.max_src_len < 1 || p.max_src_len > MAX_LEN_LIMIT)
        return es_errf(err, ES_ERR_ARG, "session params: max_src_len = %d is out of range [1, %d]",
                       p.max_src_len, MAX_LEN_LIMIT);
    if (p.max_tgt_len < 1 || p.max_tgt_len > MAX_LEN_LIMIT)
        return es_errf(err, ES_ERR_ARG, "session params: max_tgt_len = %d is out of range [1, %d]",
                       p.max_tgt_len, MAX_LEN_LIMIT);
    if (p.n_threads < 0 || p.n_threads > 256)
        return es_errf(err, ES_ERR_ARG, "session params: n_threads = %d is out of range [0, 256]",
                       p.n_threads);
    if (p.n_threads == 0) p.n_threads = es_cpu_physical_cores();

    es_session *s = es_calloc(1, sizeof *s);
    if (!s) return es_errf(err, ES_ERR_NOMEM, "out of memory creating a session");
    s->model = m;
    s->params = p;
    es_error e;
    es_err_clear(&e);
    es_status st = es_pool_new(&s->pool, p.n_threads, &e);
    if (!st) st = m->ops->session_init(s, &e);
    if (st) {
        es_session_free(s);
        if (err) *err = e;
        return st;
    }
    *out = s;
    return ES_OK;
}

es_status es_session_check_dim(const char *what, int n, int lo, int max, const char *limit,
                               es_error *err) {
    if (n < lo || n > max)
        return es_errf(err, ES_ERR_ARG, "%s = %d is out of range [%d, %d] (session %s)", what, n,
                       lo, max, limit);
    return ES_OK;
}

es_status es_session_check_ids(const char *what, const int32_t *ids, size_t n, int32_t vocab,
                               es_error *err) {
    if (!ids) return es_errf(err, ES_ERR_ARG, "%s is NULL", what);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return es_errf(err, ES_ERR_ARG, "%s[%zu] = %d is not a token id (vocabulary is 0..%d)",
                           what, i, ids[i], vocab - 1);
    return ES_OK;
}

const char *es_session_errmsg(const es_session *s) { return s ? s->errmsg : "session is NULL"; }

/* Records the outcome of an op in the session. */
static es_status finish(es_session *s, es_status st, const es_error *e) {
    if (st) snprintf(s->errmsg, sizeof s->errmsg, "%s", e->msg[0] ? e->msg : es_status_str(st));
    return st;
}

static es_status unsupported(es_session *s, const char *what) {
    es_error e;
    return finish(s,
                  es_errf(&e, ES_ERR_UNSUPPORTED, "%s is not supported by %s models", what,
                          s->model->ops->name),
                  &e);
}

es_status es_session_encode(es_session *s, float *out, const int32_t *ids, const int32_t *mask,
                            int B, int S) {
    if (!s) return ES_ERR_ARG;
    s->errmsg[0] = 0;
    if (!s->model->ops->encode) return unsupported(s, "encode");
    es_error e;
    es_err_clear(&e);
    return finish(s, s->model->ops->encode(s, out, ids, mask, B, S, &e), &e);
}

es_status es_session_decoder_logits(es_session *s, float *logits, const int32_t *ids,
                                    const int32_t *mask, int B, int S, const int32_t *dec_ids,
                                    int T) {
    if (!s) return ES_ERR_ARG;
    s->errmsg[0] = 0;
    if (!s->model->ops->decoder_logits) return unsupported(s, "teacher-forced decoding");
    es_error e;
    es_err_clear(&e);
    return finish(s, s->model->ops->decoder_logits(s, logits, ids, mask, B, S, dec_ids, T, &e),
                  &e);
}

es_status es_session_generate(es_session *s, es_gen_result *out, const int32_t *src, int n_src,
                              const es_gen_params *params) {
    if (!s) return ES_ERR_ARG;
    s->errmsg[0] = 0;
    es_error e;
    es_err_clear(&e);
    if (!out) return finish(s, es_errf(&e, ES_ERR_ARG, "generate: out is NULL"), &e);
    out->hyps = NULL;
    out->n_hyps = 0;
    if (!s->model->ops->generate) return unsupported(s, "generation");
    es_gen_params p = params ? *params : es_gen_params_default();
    return finish(s, s->model->ops->generate(s, out, src, n_src, &p, &e), &e);
}

es_status es_session_score(es_session *s, double *logprob, const int32_t *src, int n_src,
                           const int32_t *tgt, int n_tgt) {
    if (!s) return ES_ERR_ARG;
    s->errmsg[0] = 0;
    if (!s->model->ops->score) return unsupported(s, "scoring");
    es_error e;
    es_err_clear(&e);
    return finish(s, s->model->ops->score(s, logprob, src, n_src, tgt, n_tgt, &e), &e);
}
