/*
 * beam.c — beam search with Hugging Face semantics (BeamSearchScorer),
 * plus an ignore_eos mode used by the reference fixtures.
 *
 * State: up to K running beams, each a token sequence and the sum of its
 * log-probs. Step 0 runs only the start beam (HF starts the other K-1 at
 * -1e9, which is the same thing). At each step every running beam r
 * proposes score[r] + log_softmax(logits[r])[v] for all v; the best
 * candidates over K x V are visited in descending order (ties: lower
 * beam, then lower id):
 *
 *  default (HF): 2K candidates. A candidate ending in EOS within the top K
 *    ranks becomes a finished hypothesis, scored sum_logprobs / len^lp with
 *    len = generated tokens including the EOS; EOS candidates ranked >= K
 *    are dropped. The first K non-EOS candidates become the next beams
 *    (there are always K: each beam contributes at most one EOS). The
 *    finished set keeps the best K (a better hypothesis evicts the worst).
 *    Done when K hypotheses are finished and either early_stopping = 1, or
 *    (HF's heuristic, early_stopping = 0) the best running beam's
 *    sum / cur_len^lp cannot beat the worst finished score. At
 *    max_new_tokens, unless done, every running beam is added as a
 *    hypothesis (len = max_new_tokens). Best num_return are returned.
 *
 *  ignore_eos: K candidates, EOS is an ordinary token, exactly
 *    max_new_tokens steps; the K final beams are returned ranked by
 *    sum / max_new_tokens^lp. This reproduces the fixtures' beam4_*.
 *
 * Ties in candidate scores go to the lower flat index (beam, id), which
 * keeps results deterministic; torch.topk leaves that order unspecified.
 */
#include "decode/decode.h"

#include "nn/ops.h"

#include <math.h>
#include <string.h>

/* Inserts c into the descending list cand[0..*n) of capacity cap; later
 * arrivals lose ties. */
static void cand_push(es_dec_cand *cand, int *n, int cap, es_dec_cand c) {
    if (*n == cap && !(c.score > cand[cap - 1].score)) return;
    int pos = *n < cap ? *n : cap - 1;
    while (pos > 0 && cand[pos - 1].score < c.score) {
        cand[pos] = cand[pos - 1];
        pos--;
    }
    cand[pos] = c;
    if (*n < cap) (*n)++;
}

static double norm_score(double sum, int len, float lp) {
    return sum / pow((double)len, (double)lp);
}

/* Adds a finished hypothesis (prefix seq[0..len-1) + last) to the set of
 * at most K, HF BeamHypotheses.add semantics. */
static void fin_add(es_decode_ws *ws, int K, const int32_t *prefix, int len_prefix, int32_t last,
                    double sum, float lp) {
    const int len = len_prefix + 1;
    const double sc = norm_score(sum, len, lp);
    int slot;
    if (ws->n_fin < K) {
        slot = ws->n_fin++;
    } else {
        int worst = 0;
        for (int i = 1; i < ws->n_fin; i++)
            if (ws->fin_score[i] < ws->fin_score[worst]) worst = i;
        if (!(sc > ws->fin_score[worst])) return;
        slot = worst;
    }
    int32_t *dst = ws->fin_seq + (size_t)slot * ws->max_len;
    memcpy(dst, prefix, (size_t)len_prefix * sizeof(int32_t));
    dst[len_prefix] = last;
    ws->fin_len[slot] = len;
    ws->fin_score[slot] = sc;
    ws->fin_sum[slot] = sum;
}

static double fin_worst(const es_decode_ws *ws) {
    double w = INFINITY;
    for (int i = 0; i < ws->n_fin; i++)
        if (ws->fin_score[i] < w) w = ws->fin_score[i];
    return w;
}

/* Writes the n best of the finished set (descending score; equal scores
 * keep insertion order) to the result. ws->parent is free by now and
 * serves as the order array. */
static void emit_finished(es_decode_ws *ws, int n, es_gen_result *out) {
    int32_t *order = ws->parent;
    for (int i = 0; i < ws->n_fin; i++) {
        int j = i;
        while (j > 0 && ws->fin_score[order[j - 1]] < ws->fin_score[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    es_decode_emit(ws, order, n < ws->n_fin ? n : ws->n_fin, out);
}

void es_decode_emit(es_decode_ws *ws, const int32_t *order, int n, es_gen_result *out) {
    for (int k = 0; k < n; k++) {
        const int f = order[k];
        int32_t *dst = ws->out_seq + (size_t)k * ws->max_len;
        memcpy(dst, ws->fin_seq + (size_t)f * ws->max_len, (size_t)ws->fin_len[f] * sizeof(int32_t));
        ws->hyps[k].ids = dst;
        ws->hyps[k].n_ids = ws->fin_len[f];
        ws->hyps[k].score = (float)ws->fin_score[f];
        ws->hyps[k].sum_logprob = (float)ws->fin_sum[f];
    }
    out->hyps = ws->hyps;
    out->n_hyps = n;
}

es_status es_decode_beam(es_decode_ws *ws, const es_dec_model *dm, const es_gen_params *p,
                         es_gen_result *out, es_error *err) {
    const int K = p->num_beams, V = dm->vocab, L = ws->max_len;
    const int n_ret = p->num_return ? p->num_return : K;
    const bool ign = p->ignore_eos != 0;
    const float lp = p->length_penalty;
    int n_rows = 1, n_steps = 0;
    bool done = false;
    ws->tokens[0] = dm->start_id;
    ws->score[0] = 0.0;
    ws->n_fin = 0;
    for (int step = 0; step < p->max_new_tokens && !done; step++) {
        const float *logits;
        es_status s = dm->step(dm->ctx, &logits, ws->tokens, n_rows, step, err);
        if (s) return s;
        n_steps = step + 1;
        const int cap = ign ? K : 2 * K;
        int n_cand = 0;
        for (int r = 0; r < n_rows; r++) {
            const float *lr = logits + (size_t)r * V;
            const double base = ws->score[r] - es_logsumexp(lr, V);
            for (int v = 0; v < V; v++) {
                double sc = base + (double)lr[v];
                if (n_cand == cap && !(sc > ws->cand[cap - 1].score)) continue;
                if (sc != sc) continue;
                es_dec_cand c = {sc, r, v};
                cand_push(ws->cand, &n_cand, cap, c);
            }
        }
        int n_next = 0;
        for (int c = 0; c < n_cand && n_next < K; c++) {
            const es_dec_cand *cd = &ws->cand[c];
            const int32_t *prefix = ws->seq + (size_t)cd->row * L;
            if (!ign && cd->tok == dm->eos_id) {
                if (c < K) fin_add(ws, K, prefix, step, cd->tok, cd->score, lp);
                continue;
            }
            int32_t *dst = ws->seq_next + (size_t)n_next * L;
            memcpy(dst, prefix, (size_t)step * sizeof(int32_t));
            dst[step] = cd->tok;
            ws->parent[n_next] = cd->row;
            ws->tokens[n_next] = cd->tok;
            ws->score_next[n_next] = cd->score;
            n_next++;
        }
        int32_t *t = ws->seq;
        ws->seq = ws->seq_next;
        ws->seq_next = t;
        double *ts = ws->score;
        ws->score = ws->score_next;
        ws->score_next = ts;
        if (n_next == 0) {
            n_rows = 0;
            done = true;
            break;
        }
        if (!ign && ws->n_fin >= K) {
            if (p->early_stopping) done = true;
            /* HF is_done(): best = the best candidate of this step (EOS
             * ones included), length = tokens generated so far. */
            else done = fin_worst(ws) >= norm_score(ws->cand[0].score, n_steps, lp);
        }
        if (!done && step + 1 < p->max_new_tokens) {
            s = dm->reorder(dm->ctx, ws->parent, n_next, err);
            if (s) return s;
        }
        n_rows = n_next;
    }
    if (ign) {
        /* All beams have n_steps tokens; rank by normalised score. */
        ws->n_fin = 0;
        for (int r = 0; r < n_rows; r++) {
            const int32_t *sq = ws->seq + (size_t)r * L;
            int slot = ws->n_fin++;
            memcpy(ws->fin_seq + (size_t)slot * L, sq, (size_t)n_steps * sizeof(int32_t));
            ws->fin_len[slot] = n_steps;
            ws->fin_sum[slot] = ws->score[r];
            ws->fin_score[slot] = norm_score(ws->score[r], n_steps, lp);
        }
    } else if (!done) {
        for (int r = 0; r < n_rows; r++) {
            const int32_t *sq = ws->seq + (size_t)r * L;
            fin_add(ws, K, sq, n_steps - 1, sq[n_steps - 1], ws->score[r], lp);
        }
    }
    emit_finished(ws, n_ret, out);
    return ES_OK;
}
