/*
 * byte_session.c — byte classifiers behind the public es_model /
 * es_session handles: the strong es_byte_model_load (dispatched by
 * es_model_load on model_type "edgeseq-byte-classifier"), the session ops,
 * and the public classification calls of edgeseq.h (es_session_classify,
 * es_model_n_labels, ...).
 *
 * The session owns one inference workspace for (max_batch, max_bytes)
 * allocated at es_session_new; classify calls allocate nothing.
 */
#include "model/byte_internal.h"
#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void impl_free(void *p) { es_byte_model_free(p); }

static es_status byte_session_init(es_session *s, es_error *err) {
    const es_byte_model *bm = s->model->impl;
    es_byte_ws *ws = NULL;
    es_status st = es_byte_ws_new(&ws, bm, s->params.max_batch, bm->cfg.max_bytes, 0, s->pool, err);
    if (st) return st;
    s->impl = ws;
    return ES_OK;
}

static void byte_session_free(es_session *s) {
    es_byte_ws_free(s->impl);
    s->impl = NULL;
}

static const es_arch_ops byte_ops = {
    .name = "byte-classifier",
    .session_init = byte_session_init,
    .session_free = byte_session_free,
};

es_status es_byte_model_load(es_model *m, const char *dir, struct json_object *config,
                             es_weights *w, es_error *err) {
    const char *mt = NULL;
    es_status s = es_config_string(config, "model_type", false, &mt, err);
    if (s) return s;
    if (mt && strcmp(mt, "edgeseq-byte-seq2seq") == 0)
        return es_s2s_model_load(m, dir, config, w, err); /* byte_seq2seq_session.c */
    if (mt && strcmp(mt, "edgeseq-byte-classifier") != 0)
        return es_errf(err, ES_ERR_UNSUPPORTED, "%s/config.json: model_type \"%s\" is not built yet", dir, mt);
    es_byte_model *bm = NULL;
    s = es_byte_model_from_weights(&bm, dir, config, w, err);
    if (s) return s;
    m->arch = ES_ARCH_BYTE_CLASSIFIER;
    m->info.arch = ES_ARCH_BYTE_CLASSIFIER;
    /* The dtype of the largest stored tensor: I8 for exported int8 models. */
    m->info.stored_dtype = ES_DTYPE_F32;
    size_t big = 0;
    for (size_t i = 0; i < es_weights_count(w); i++) {
        const es_tensor_view *t = es_weights_at(w, i);
        if (t->nbytes > big) {
            big = t->nbytes;
            m->info.stored_dtype = t->dtype;
        }
    }
    m->info.n_params = es_byte_model_n_params(bm);
    m->info.d_model = bm->cfg.d_model;
    m->info.n_layers = bm->cfg.encoder == ES_BYTE_QRNN ? bm->cfg.qrnn_layers : bm->cfg.n_layers;
    m->info.n_heads = bm->cfg.encoder == ES_BYTE_QRNN ? 0 : bm->cfg.n_heads;
    m->info.d_ff = bm->cfg.encoder == ES_BYTE_QRNN ? 0 : bm->cfg.d_ff;
    m->info.vocab_size = 256;
    m->ops = &byte_ops;
    m->impl = bm;
    m->impl_free = impl_free;
    return ES_OK;
}

static const es_byte_model *byte_of(const es_model *m) {
    return m && m->arch == ES_ARCH_BYTE_CLASSIFIER && m->ops == &byte_ops ? m->impl : NULL;
}

int es_model_n_labels(const es_model *m) {
    const es_byte_model *bm = byte_of(m);
    return bm ? bm->cfg.n_labels : 0;
}

const char *es_model_label(const es_model *m, int i) {
    const es_byte_model *bm = byte_of(m);
    return bm && i >= 0 && i < bm->cfg.n_labels ? bm->cfg.labels[i] : NULL;
}

int32_t es_model_max_bytes(const es_model *m) {
    const es_byte_model *bm = byte_of(m);
    return bm ? bm->cfg.max_bytes : es_s2s_max_bytes(m);
}

static es_status fail(es_session *s, es_status st, const es_error *e) {
    snprintf(s->errmsg, sizeof s->errmsg, "%s", e->msg[0] ? e->msg : es_status_str(st));
    return st;
}

es_status es_session_classify_batch(es_session *s, const uint8_t *const *bytes, const size_t *lens,
                                    int B, float *probs) {
    if (!s) return ES_ERR_ARG;
    s->errmsg[0] = 0;
    es_error e;
    es_err_clear(&e);
    const es_byte_model *bm = byte_of(s->model);
    if (!bm)
        return fail(s, es_errf(&e, ES_ERR_UNSUPPORTED, "classify is not supported by %s models",
                               s->model->ops->name), &e);
    if (!bytes || !lens || !probs || B < 1 || B > s->params.max_batch)
        return fail(s, es_errf(&e, ES_ERR_ARG, "classify: batch %d (session max_batch %d) or NULL "
                               "argument", B, s->params.max_batch), &e);
    int L = bm->cfg.n_labels;
    float logits[ES_BYTE_MAX_LABELS * 64];
    for (int b0 = 0; b0 < B; b0 += 64) {
        int nb = ES_MIN(64, B - b0);
        es_status st = es_byte_forward(s->impl, bm, bytes + b0, lens + b0, nb, 0, NULL, logits, &e);
        if (st) return fail(s, st, &e);
        for (int b = 0; b < nb; b++) {
            const float *x = logits + (size_t)b * (size_t)L;
            float *p = probs + (size_t)(b0 + b) * (size_t)L;
            float mx = x[0];
            for (int v = 1; v < L; v++) mx = x[v] > mx ? x[v] : mx;
            double z = 0.0;
            for (int v = 0; v < L; v++) z += exp((double)(x[v] - mx));
            for (int v = 0; v < L; v++) p[v] = (float)(exp((double)(x[v] - mx)) / z);
        }
    }
    return ES_OK;
}

es_status es_session_classify(es_session *s, const uint8_t *bytes, size_t n, float *probs,
                              int n_probs) {
    if (!s) return ES_ERR_ARG;
    const es_byte_model *bm = byte_of(s->model);
    if (bm && n_probs < bm->cfg.n_labels) {
        es_error e;
        return fail(s, es_errf(&e, ES_ERR_BUFFER, "classify: %d probabilities needed, room for %d",
                               bm->cfg.n_labels, n_probs), &e);
    }
    if (!bytes && n) {
        es_error e;
        return fail(s, es_errf(&e, ES_ERR_ARG, "classify: bytes is NULL"), &e);
    }
    static const uint8_t empty[1] = {0};
    const uint8_t *pb[1] = {bytes ? bytes : empty};
    return es_session_classify_batch(s, pb, &n, 1, probs);
}
