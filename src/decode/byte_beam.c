/*
 * byte_beam.c — float and uint8 beam search with the GNMT length penalty
 * for the byte seq2seq models (semantics and the three reference bugs it
 * fixes: byte_beam.h).
 *
 * Candidate lists are tiny (2K entries) and kept sorted by insertion: an
 * entry enters only if strictly better than the current last, so among
 * equal scores the first visited (lower row, then lower id) wins, whatever
 * the platform. No allocation happens inside es_byte_beam.
 */
#include "decode/byte_beam.h"

#include "nn/ops.h"

#include <math.h>
#include <string.h>

es_status es_bbeam_ws_init(es_bbeam_ws *ws, int max_rows, int max_len, int32_t vocab,
                           es_error *err) {
    memset(ws, 0, sizeof *ws);
    if (vocab < 1 || vocab >= (1 << 24))
        return es_errf(err, ES_ERR_ARG, "beam workspace: vocabulary %d (1..2^24-1)", (int)vocab);
    es_status s = es_decode_ws_init(&ws->d, max_rows, max_len, vocab, err);
    if (s) return s;
    size_t nc;
    if (!es_mul_ok((size_t)max_rows, (size_t)vocab, &nc) ||
        !(ws->codes = es_malloc(nc)) ||
        !(ws->keys = es_calloc(2 * (size_t)max_rows, sizeof(uint32_t))) ||
        !(ws->fin_order = es_calloc((size_t)max_rows, sizeof(int32_t)))) {
        es_bbeam_ws_free(ws);
        return es_errf(err, ES_ERR_NOMEM, "out of memory allocating the beam workspace");
    }
    return ES_OK;
}

void es_bbeam_ws_free(es_bbeam_ws *ws) {
    if (!ws) return;
    es_decode_ws_free(&ws->d);
    es_free(ws->codes);
    es_free(ws->keys);
    es_free(ws->fin_order);
    ws->codes = NULL;
    ws->keys = NULL;
    ws->fin_order = NULL;
}

double es_bbeam_lp(int len, float alpha) {
    return pow((5.0 + (double)len) / 6.0, (double)alpha);
}

void es_bbeam_quantize(uint8_t *q, float *scale, const float *x, size_t n) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
    float s = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            /* +inf would be the max; it never occurs in logits of a finite
             * model, so both infinities and NaN take the lowest code */
            q[i] = 0;
            continue;
        }
        float c = roundf((x[i] - lo) / s);
        q[i] = (uint8_t)(c < 0.0f ? 0.0f : c > 255.0f ? 255.0f : c);
    }
    *scale = s;
}

/* Inserts c into the descending list of capacity cap (strictly better
 * than the last to enter a full list). */
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

/* Finished set of at most K: adds prefix[0..len_prefix) + last (when
 * last >= 0) with normalised score sc; a full set replaces its worst
 * entry only when sc is strictly better (ties keep the older). */
static void fin_add(es_bbeam_ws *bw, int K, const int32_t *prefix, int len_prefix, int32_t last,
                    double sum, double sc, int32_t *stamp) {
    es_decode_ws *ws = &bw->d;
    int slot;
    if (ws->n_fin < K) {
        slot = ws->n_fin++;
    } else {
        int worst = 0;
        for (int i = 1; i < ws->n_fin; i++)
            if (ws->fin_score[i] < ws->fin_score[worst] ||
                (ws->fin_score[i] == ws->fin_score[worst] &&
                 bw->fin_order[i] > bw->fin_order[worst]))
                worst = i;
        if (!(sc > ws->fin_score[worst])) return;
        slot = worst;
    }
    int32_t *dst = ws->fin_seq + (size_t)slot * ws->max_len;
    memcpy(dst, prefix, (size_t)len_prefix * sizeof(int32_t));
    int len = len_prefix;
    if (last >= 0) dst[len++] = last;
    ws->fin_len[slot] = len;
    ws->fin_score[slot] = sc;
    ws->fin_sum[slot] = sum;
    bw->fin_order[slot] = (*stamp)++;
}

static double fin_worst(const es_decode_ws *ws) {
    double w = INFINITY;
    for (int i = 0; i < ws->n_fin; i++)
        if (ws->fin_score[i] < w) w = ws->fin_score[i];
    return w;
}

/* Best n of the finished set, descending score, ties by insertion. */
static void emit(es_bbeam_ws *bw, int n, es_gen_result *out) {
    es_decode_ws *ws = &bw->d;
    int32_t *order = ws->parent;
    for (int i = 0; i < ws->n_fin; i++) {
        int j = i;
        while (j > 0 && (ws->fin_score[order[j - 1]] < ws->fin_score[i] ||
                         (ws->fin_score[order[j - 1]] == ws->fin_score[i] &&
                          bw->fin_order[order[j - 1]] > bw->fin_order[i]))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    es_decode_emit(ws, order, n < ws->n_fin ? n : ws->n_fin, out);
}

/* Float scoring of one row: candidates score_r + log_softmax(x)[v]. */
static void score_row_f32(es_dec_cand *cand, int *n_cand, int cap, const float *x, int V,
                          double base_score, int row, int32_t banned) {
    const double base = base_score - es_logsumexp(x, V);
    for (int v = 0; v < V; v++) {
        if (v == banned || !isfinite(x[v])) continue;
        const double sc = base + (double)x[v];
        if (*n_cand == cap && !(sc > cand[cap - 1].score)) continue;
        es_dec_cand c = {sc, row, v};
        cand_push(cand, n_cand, cap, c);
    }
}

/* uint8 scoring of one row of codes q with scale s and table E. */
static void score_row_u8(es_dec_cand *cand, int *n_cand, int cap, uint32_t *keys, const uint8_t *q,
                         int V, float s, const double *E, double base_score, int row,
                         int32_t banned) {
    int qmax = -1;
    for (int v = 0; v < V; v++)
        if (v != banned && q[v] > qmax) qmax = q[v];
    if (qmax < 0) return;
    double Z = 0.0;
    for (int v = 0; v < V; v++)
        if (v != banned) Z += E[qmax - q[v]];
    const double logZ = log(Z);
    /* this row's top `cap` classes on raw codes: key = code << 24 | ~id */
    int nk = 0;
    for (int v = 0; v < V; v++) {
        if (v == banned) continue;
        const uint32_t key = ((uint32_t)q[v] << 24) | (0xFFFFFFu - (uint32_t)v);
        if (nk == cap && key <= keys[cap - 1]) continue;
        int pos = nk < cap ? nk : cap - 1;
        while (pos > 0 && keys[pos - 1] < key) {
            keys[pos] = keys[pos - 1];
            pos--;
        }
        keys[pos] = key;
        if (nk < cap) nk++;
    }
    for (int i = 0; i < nk; i++) {
        const int v = (int)(0xFFFFFFu - (keys[i] & 0xFFFFFFu));
        const int code = (int)(keys[i] >> 24);
        const double logp = (double)s * (double)(code - qmax) - logZ;
        es_dec_cand c = {base_score + logp, row, v};
        cand_push(cand, n_cand, cap, c);
    }
}

es_status es_byte_beam(es_bbeam_ws *bw, const es_dec_model *dm, const es_gen_params *p,
                       es_gen_result *out, es_error *err) {
    es_decode_ws *ws = &bw->d;
    out->hyps = NULL;
    out->n_hyps = 0;
    es_status s = es_decode_check(ws, p, err);
    if (s) return s;
    if (p->method != ES_DECODE_BEAM)
        return es_errf(err, ES_ERR_ARG, "byte beam: method %d is not beam search", (int)p->method);
    if (dm->vocab < 1 || dm->vocab > ws->vocab)
        return es_errf(err, ES_ERR_INTERNAL, "beam workspace sized for vocab %d, model has %d",
                       ws->vocab, dm->vocab);
    const int K = p->num_beams, V = dm->vocab, L = ws->max_len, T = p->max_new_tokens;
    const int n_ret = p->num_return ? p->num_return : K, cap = 2 * K;
    const bool ign = p->ignore_eos != 0, quant = p->quantized_beam != 0;
    const float alpha = p->length_penalty;
    int32_t stamp = 0;
    int n_rows = 1, n_steps = 0;
    bool stopped = false;
    double E[256];
    ws->tokens[0] = dm->start_id;
    ws->score[0] = 0.0;
    ws->n_fin = 0;
    for (int step = 0; step < T; step++) {
        const float *logits;
        s = dm->step(dm->ctx, &logits, ws->tokens, n_rows, step, err);
        if (s) return s;
        n_steps = step + 1;
        int n_cand = 0;
        if (quant) {
            float sc;
            es_bbeam_quantize(bw->codes, &sc, logits, (size_t)n_rows * (size_t)V);
            for (int d = 0; d < 256; d++) E[d] = exp(-(double)sc * d);
            for (int r = 0; r < n_rows; r++)
                score_row_u8(ws->cand, &n_cand, cap, bw->keys, bw->codes + (size_t)r * V, V, sc, E,
                             ws->score[r], r, dm->start_id);
        } else {
            for (int r = 0; r < n_rows; r++)
                score_row_f32(ws->cand, &n_cand, cap, logits + (size_t)r * V, V, ws->score[r], r,
                              dm->start_id);
        }
        int n_next = 0;
        for (int c = 0; c < n_cand; c++) {
            const es_dec_cand *cd = &ws->cand[c];
            const int32_t *prefix = ws->seq + (size_t)cd->row * L;
            if (!ign && cd->tok == dm->eos_id) {
                fin_add(bw, K, prefix, step, cd->tok, cd->score,
                        cd->score / es_bbeam_lp(step + 1, alpha), &stamp);
                continue;
            }
            if (n_next == K) continue;
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
        n_rows = n_next;
        if (n_rows == 0) {
            stopped = true;
            break;
        }
        if (!ign && ws->n_fin == K) {
            /* Sums only decrease, so the best running beam's final score
             * is at most sum / LP(n) for the most favourable length n:
             * the longest (T) when α >= 0 (LP grows), the next (step + 2)
             * when α < 0. If that cannot beat the worst kept hypothesis,
             * no running beam can enter the n-best. */
            const int n_best = alpha >= 0.0f ? T : step + 2;
            const double bound = ws->score[0] / es_bbeam_lp(n_best, alpha);
            if (!(bound > fin_worst(ws))) {
                stopped = true;
                break;
            }
        }
        if (step + 1 < T) {
            s = dm->reorder(dm->ctx, ws->parent, n_rows, err);
            if (s) return s;
        }
    }
    if (!stopped)
        for (int r = 0; r < n_rows; r++)
            fin_add(bw, K, ws->seq + (size_t)r * L, n_steps, -1, ws->score[r],
                    ws->score[r] / es_bbeam_lp(n_steps, alpha), &stamp);
    emit(bw, n_ret, out);
    return ES_OK;
}
