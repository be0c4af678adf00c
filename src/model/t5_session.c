/*
 * t5_session.c — T5 session ops (es_t5_ops): argument validation, then
 * the forward engine (src/nn/t5_forward.c) and the decoding algorithms
 * (src/decode) through an es_dec_model adapter.
 *
 * Everything is sized in session_init from es_session_params: forward
 * state for max_batch rows x max_src_len / max_tgt_len, a decoding
 * workspace for max_batch beams x max_tgt_len tokens, and a (max_batch, V)
 * logits buffer used by generation and scoring (scoring runs the LM head
 * over chunks of max_batch positions, so a long target never needs
 * (T, V) floats), and the pool's GEMM scratch (es_kern_gemm_scratch_bytes).
 * Nothing is allocated after that (tests/unit/test_t5_noalloc.c). Longer
 * inputs are refused with ES_ERR_ARG.
 */
#include "model/t5.h"

#include "decode/decode.h"
#include "kern/kern.h"
#include "nn/ops.h"

#include <string.h>

typedef struct t5_sess {
    const es_t5_model *tm;
    es_t5_state st;
    es_decode_ws ws;
    float *logits;      /* (max_batch, V) */
    int32_t *dec_in;    /* (max_tgt) decoder inputs for scoring */
    int32_t *ones;      /* (max_src) all-ones mask for single inputs */
} t5_sess;

static void t5_session_free(es_session *s) {
    t5_sess *t = s->impl;
    if (!t) return;
    es_t5_state_free(&t->st);
    es_decode_ws_free(&t->ws);
    es_free_aligned(t->logits);
    es_free(t->dec_in);
    es_free(t->ones);
    es_free(t);
    s->impl = NULL;
}

static es_status t5_session_init(es_session *s, es_error *err) {
    const es_t5_model *tm = s->model->impl;
    const es_session_params *p = &s->params;
    t5_sess *t = es_calloc(1, sizeof *t);
    if (!t) return es_errf(err, ES_ERR_NOMEM, "out of memory creating a session");
    s->impl = t;
    t->tm = tm;
    es_status st = es_t5_state_init(&t->st, tm, s->pool, p->max_batch, p->max_src_len,
                                    p->max_tgt_len, err);
    if (!st) st = es_decode_ws_init(&t->ws, p->max_batch, p->max_tgt_len, tm->cfg.vocab, err);
    /* the GEMMs' packing buffers, once: no allocation in any later call */
    if (!st) st = es_pool_reserve(s->pool, es_kern_gemm_scratch_bytes(es_pool_threads(s->pool)), err);
    if (!st) {
        size_t n = (size_t)p->max_batch * (size_t)tm->cfg.vocab * sizeof(float);
        t->logits = es_malloc_aligned(n);
        t->dec_in = es_calloc((size_t)p->max_tgt_len, sizeof(int32_t));
        t->ones = es_calloc((size_t)p->max_src_len, sizeof(int32_t));
        if (!t->logits || !t->dec_in || !t->ones)
            st = es_errf(err, ES_ERR_NOMEM, "out of memory creating a session");
    }
    if (st) {
        t5_session_free(s);
        return st;
    }
    for (int i = 0; i < p->max_src_len; i++) t->ones[i] = 1;
    return ES_OK;
}

/* ---- validation -------------------------------------------------------- */

static es_status check_src(es_session *s, const int32_t *ids, const int32_t *mask, int B, int S,
                           es_error *err) {
    const es_t5_model *tm = s->model->impl;
    es_status st = es_session_check_dim("batch rows", B, 1, s->params.max_batch, "max_batch", err);
    if (!st) st = es_session_check_dim("source length", S, 1, s->params.max_src_len, "max_src_len", err);
    if (!st) st = es_session_check_ids("input ids", ids, (size_t)B * S, tm->cfg.vocab, err);
    if (st) return st;
    if (mask) {
        for (size_t i = 0; i < (size_t)B * S; i++)
            if (mask[i] != 0 && mask[i] != 1)
                return es_errf(err, ES_ERR_ARG, "attention mask[%zu] = %d (expected 0 or 1)", i,
                               mask[i]);
    } else {
        return es_errf(err, ES_ERR_ARG, "attention mask is NULL");
    }
    return ES_OK;
}

/* ---- ops --------------------------------------------------------------- */

static es_status t5_encode(es_session *s, float *out, const int32_t *ids, const int32_t *mask,
                           int B, int S, es_error *err) {
    t5_sess *t = s->impl;
    if (!out) return es_errf(err, ES_ERR_ARG, "encode: out is NULL");
    es_status st = check_src(s, ids, mask, B, S, err);
    if (st) return st;
    es_t5_encode(&t->st, out, ids, mask, B, S);
    return ES_OK;
}

static es_status t5_decoder_logits(es_session *s, float *logits, const int32_t *ids,
                                   const int32_t *mask, int B, int S, const int32_t *dec_ids,
                                   int T, es_error *err) {
    t5_sess *t = s->impl;
    if (!logits) return es_errf(err, ES_ERR_ARG, "decoder_logits: logits is NULL");
    es_status st = check_src(s, ids, mask, B, S, err);
    if (!st) st = es_session_check_dim("decoder length", T, 1, s->params.max_tgt_len, "max_tgt_len", err);
    if (!st) st = es_session_check_ids("decoder ids", dec_ids, (size_t)B * T, t->tm->cfg.vocab, err);
    if (st) return st;
    es_t5_encode(&t->st, NULL, ids, mask, B, S);
    es_t5_cross_kv(&t->st);
    for (int r = 0; r < B; r++) t->st.cross_row[r] = r;
    t->st.cur_len = 0;
    const float *hid = es_t5_decode(&t->st, dec_ids, B, T);
    es_t5_lm_head(&t->st, logits, hid, B * T);
    return ES_OK;
}

static es_status t5_score(es_session *s, double *logprob, const int32_t *src, int n_src,
                          const int32_t *tgt, int n_tgt, es_error *err) {
    t5_sess *t = s->impl;
    const int V = t->tm->cfg.vocab;
    if (!logprob) return es_errf(err, ES_ERR_ARG, "score: logprob is NULL");
    es_status st = check_src(s, src, t->ones, 1, n_src, err);
    if (!st) st = es_session_check_dim("target length", n_tgt, 1, s->params.max_tgt_len, "max_tgt_len", err);
    if (!st) st = es_session_check_ids("target ids", tgt, (size_t)n_tgt, V, err);
    if (st) return st;
    es_t5_encode(&t->st, NULL, src, t->ones, 1, n_src);
    es_t5_cross_kv(&t->st);
    /* HF shift_right: decoder inputs = [start] + tgt[:-1]. */
    t->dec_in[0] = t->tm->cfg.start_id;
    memcpy(t->dec_in + 1, tgt, (size_t)(n_tgt - 1) * sizeof(int32_t));
    t->st.cross_row[0] = 0;
    t->st.cur_len = 0;
    const float *hid = es_t5_decode(&t->st, t->dec_in, 1, n_tgt);
    const int chunk = s->params.max_batch;
    double sum = 0.0;
    for (int t0 = 0; t0 < n_tgt; t0 += chunk) {
        const int m = ES_MIN(chunk, n_tgt - t0);
        es_t5_lm_head(&t->st, t->logits, hid + (size_t)t0 * t->tm->cfg.d_model, m);
        for (int i = 0; i < m; i++) {
            const float *l = t->logits + (size_t)i * V;
            sum += (double)l[tgt[t0 + i]] - es_logsumexp(l, V);
        }
    }
    *logprob = sum;
    return ES_OK;
}

/* es_dec_model adapter */
static es_status dec_step(void *ctx, const float **logits, const int32_t *tokens, int n_rows,
                          int pos, es_error *err) {
    t5_sess *t = ctx;
    if (pos != t->st.cur_len || n_rows > t->st.max_rows || pos >= t->st.max_tgt)
        return es_errf(err, ES_ERR_INTERNAL, "decoder step at position %d, cache holds %d", pos,
                       t->st.cur_len);
    const float *hid = es_t5_decode(&t->st, tokens, n_rows, 1);
    es_t5_lm_head(&t->st, t->logits, hid, n_rows);
    *logits = t->logits;
    return ES_OK;
}

static es_status dec_reorder(void *ctx, const int32_t *parent, int n_rows, es_error *err) {
    t5_sess *t = ctx;
    for (int r = 0; r < n_rows; r++)
        if (parent[r] < 0 || parent[r] >= t->st.n_rows)
            return es_errf(err, ES_ERR_INTERNAL, "beam parent %d of row %d out of range", parent[r],
                           r);
    es_t5_reorder(&t->st, parent, n_rows);
    return ES_OK;
}

static es_status t5_generate(es_session *s, es_gen_result *out, const int32_t *src, int n_src,
                             const es_gen_params *p, es_error *err) {
    t5_sess *t = s->impl;
    es_status st = check_src(s, src, t->ones, 1, n_src, err);
    if (!st) st = es_decode_check(&t->ws, p, err);
    if (st) return st;
    es_t5_encode(&t->st, NULL, src, t->ones, 1, n_src);
    es_t5_cross_kv(&t->st);
    for (int r = 0; r < t->st.max_rows; r++) t->st.cross_row[r] = 0;
    t->st.cur_len = 0;
    t->st.n_rows = 1;
    es_dec_model dm = {t, t->tm->cfg.vocab, t->tm->cfg.start_id, t->tm->cfg.eos_id, dec_step,
                       dec_reorder};
    return es_decode_run(&t->ws, &dm, p, out, err);
}

const es_arch_ops es_t5_ops = {
    .name = "t5",
    .session_init = t5_session_init,
    .session_free = t5_session_free,
    .encode = t5_encode,
    .decoder_logits = t5_decoder_logits,
    .generate = t5_generate,
    .score = t5_score,
};
