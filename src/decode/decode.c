/*
 * decode.c — decoding workspace, parameter checks, dispatch, and greedy
 * search (the simplest method, kept beside its helpers).
 *
 * Greedy: at every step the argmax of the logits (lowest id on ties),
 * its log-prob added to the running sum; stops after EOS unless
 * ignore_eos, else after max_new_tokens. score = sum_logprob.
 */
#include "decode/decode.h"

#include "nn/ops.h"

#include <math.h>
#include <string.h>

static void *alloc_n(size_t n, size_t size, bool *ok) {
    void *p = es_calloc(n ? n : 1, size);
    if (!p) *ok = false;
    return p;
}

void es_decode_ws_free(es_decode_ws *ws) {
    if (!ws) return;
    es_free(ws->seq);
    es_free(ws->seq_next);
    es_free(ws->score);
    es_free(ws->score_next);
    es_free(ws->tokens);
    es_free(ws->parent);
    es_free(ws->cand);
    es_free(ws->lse);
    es_free(ws->fin_seq);
    es_free(ws->fin_len);
    es_free(ws->fin_score);
    es_free(ws->fin_sum);
    es_free(ws->hyps);
    es_free(ws->out_seq);
    es_free(ws->sort);
    memset(ws, 0, sizeof *ws);
}

es_status es_decode_ws_init(es_decode_ws *ws, int max_rows, int max_len, int32_t vocab,
                            es_error *err) {
    memset(ws, 0, sizeof *ws);
    if (max_rows < 1 || max_len < 1 || vocab < 1)
        return es_errf(err, ES_ERR_ARG, "decoder workspace: invalid sizes %d x %d x %d", max_rows,
                       max_len, vocab);
    ws->max_rows = max_rows;
    ws->max_len = max_len;
    ws->vocab = vocab;
    size_t K = (size_t)max_rows, KL = K * (size_t)max_len;
    bool ok = true;
    ws->seq = alloc_n(KL, sizeof(int32_t), &ok);
    ws->seq_next = alloc_n(KL, sizeof(int32_t), &ok);
    ws->score = alloc_n(K, sizeof(double), &ok);
    ws->score_next = alloc_n(K, sizeof(double), &ok);
    ws->tokens = alloc_n(K, sizeof(int32_t), &ok);
    ws->parent = alloc_n(K, sizeof(int32_t), &ok);
    ws->cand = alloc_n(2 * K, sizeof(es_dec_cand), &ok);
    ws->lse = alloc_n(K, sizeof(double), &ok);
    ws->fin_seq = alloc_n(KL, sizeof(int32_t), &ok);
    ws->fin_len = alloc_n(K, sizeof(int), &ok);
    ws->fin_score = alloc_n(K, sizeof(double), &ok);
    ws->fin_sum = alloc_n(K, sizeof(double), &ok);
    ws->hyps = alloc_n(K, sizeof(es_hyp), &ok);
    ws->out_seq = alloc_n(KL, sizeof(int32_t), &ok);
    ws->sort = alloc_n((size_t)vocab, sizeof(es_dec_sort), &ok);
    if (!ok) {
        es_decode_ws_free(ws);
        return es_errf(err, ES_ERR_NOMEM, "out of memory allocating the decoder workspace");
    }
    return ES_OK;
}

es_status es_decode_check(const es_decode_ws *ws, const es_gen_params *p, es_error *err) {
    if (!p) return es_errf(err, ES_ERR_ARG, "generation parameters are NULL");
    if (p->method != ES_DECODE_GREEDY && p->method != ES_DECODE_BEAM &&
        p->method != ES_DECODE_SAMPLE)
        return es_errf(err, ES_ERR_ARG, "gen params: unknown method %d", (int)p->method);
    if (p->max_new_tokens < 1 || p->max_new_tokens > ws->max_len)
        return es_errf(err, ES_ERR_ARG,
                       "gen params: max_new_tokens = %d is out of range [1, %d] (the session's "
                       "max_tgt_len)",
                       p->max_new_tokens, ws->max_len);
    if (p->method == ES_DECODE_BEAM) {
        if (p->num_beams < 1 || p->num_beams > ws->max_rows)
            return es_errf(err, ES_ERR_ARG,
                           "gen params: num_beams = %d is out of range [1, %d] (the session's "
                           "max_batch)",
                           p->num_beams, ws->max_rows);
        if (p->num_return < 0 || p->num_return > p->num_beams)
            return es_errf(err, ES_ERR_ARG, "gen params: num_return = %d is out of range [0, %d]",
                           p->num_return, p->num_beams);
        if (!isfinite(p->length_penalty))
            return es_errf(err, ES_ERR_ARG, "gen params: length_penalty is not finite");
        if (p->early_stopping != 0 && p->early_stopping != 1)
            return es_errf(err, ES_ERR_ARG, "gen params: early_stopping = %d (expected 0 or 1)",
                           p->early_stopping);
    }
    if (p->method == ES_DECODE_SAMPLE) {
        if (!(p->temperature > 0.0f) || !isfinite(p->temperature))
            return es_errf(err, ES_ERR_ARG, "gen params: temperature = %g must be > 0",
                           (double)p->temperature);
        if (p->top_k < 0)
            return es_errf(err, ES_ERR_ARG, "gen params: top_k = %d must be >= 0", p->top_k);
        if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
            return es_errf(err, ES_ERR_ARG, "gen params: top_p = %g must be in (0, 1]",
                           (double)p->top_p);
    }
    return ES_OK;
}

es_status es_decode_run(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                        es_gen_result *out, es_error *err) {
    out->hyps = NULL;
    out->n_hyps = 0;
    es_status s = es_decode_check(ws, p, err);
    if (s) return s;
    if (dm->vocab < 1 || dm->vocab > ws->vocab)
        return es_errf(err, ES_ERR_INTERNAL, "decoder workspace sized for vocab %d, model has %d",
                       ws->vocab, dm->vocab);
    switch (p->method) {
    case ES_DECODE_GREEDY: return es_decode_greedy(ws, dm, p, out, err);
    case ES_DECODE_BEAM: return es_decode_beam(ws, dm, p, out, err);
    default: return es_decode_sample(ws, dm, p, out, err);
    }
}

es_status es_decode_greedy(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                           es_gen_result *out, es_error *err) {
    const int V = dm->vocab;
    int32_t tok = dm->start_id;
    double sum = 0.0;
    int n = 0;
    for (int step = 0; step < p->max_new_tokens; step++) {
        const float *logits;
        es_status s = dm->step(dm->ctx, &logits, &tok, 1, step, err);
        if (s) return s;
        int a = es_argmax_f32(logits, V);
        sum += (double)logits[a] - es_logsumexp(logits, V);
        ws->out_seq[n++] = a;
        if (!p->ignore_eos && a == dm->eos_id) break;
        tok = a;
    }
    ws->hyps[0].ids = ws->out_seq;
    ws->hyps[0].n_ids = n;
    ws->hyps[0].score = (float)sum;
    ws->hyps[0].sum_logprob = (float)sum;
    out->hyps = ws->hyps;
    out->n_hyps = 1;
    return ES_OK;
}
