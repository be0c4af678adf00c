/*
 * g2p_eval.c — the G2P evaluation loop (g2p_eval.h): generate, map the
 * output text back to dictionary symbols, score against the variants.
 *
 * Mapping through the output TEXT (not the model's ids) keeps the scorer
 * independent of the model's symbol order: a model trained with another
 * symbol list is still scored correctly, and a symbol the dictionary does
 * not know cannot be confused with one it does. Buffers grow with the
 * longest word / output seen, so the loop allocates only a few times.
 */
#include "train/g2p_eval.h"

#include <string.h>
#include <time.h>

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


#define UNKNOWN_SYMBOL (-1) /* matches no reference (metrics_g2p.h) */

es_status es_g2p_score_text(es_g2p_eval *out, const es_cmudict *d, const es_cmu_word *x,
                            const char *text, size_t tl, int32_t **pred, size_t *pred_cap,
                            const int32_t **refs, size_t *lens, const int32_t *map, bool *ok1,
                            bool *ok2, es_error *err) {
    size_t np = 0;
    for (size_t i = 0; i < tl;) {
        while (i < tl && text[i] == ' ') i++;
        size_t e = i;
        while (e < tl && text[e] != ' ') e++;
        if (e == i) break;
        if (np == *pred_cap) {
            int32_t *npd = es_realloc(*pred, 2 * *pred_cap * sizeof **pred);
            if (!npd) return es_errf(err, ES_ERR_NOMEM, "g2p eval: out of memory");
            *pred = npd;
            *pred_cap *= 2;
        }
        int id = es_cmudict_symbol_index(d, text + i, e - i);
        if (id < 0) out->n_unknown++;
        (*pred)[np++] = id < 0 ? UNKNOWN_SYMBOL : id;
        i = e;
    }
    out->n_out_symbols += np;
    for (uint32_t r = 0; r < x->n_prons; r++) {
        const es_cmu_pron *p = &d->prons[x->first_pron + r];
        refs[r] = d->ids + p->off;
        lens[r] = p->len;
    }
    return es_g2p_metrics_add(&out->m, *pred, np, refs, lens, x->n_prons, map, d->n_symbols, ok1,
                              ok2, err);
}

es_status es_g2p_evaluate(es_g2p_eval *out, es_session *s, const es_model *model,
                          const es_cmudict *d, es_split split, const es_gen_params *gp,
                          unsigned input_case, size_t max_words, es_g2p_word_fn fn, void *user,
                          es_error *err) {
    memset(out, 0, sizeof *out);
    if (!s || !model || !d || !gp) return es_errf(err, ES_ERR_ARG, "g2p eval: NULL argument");
    int32_t *map = es_calloc((size_t)d->n_symbols, sizeof *map);
    int32_t *src = es_calloc(d->max_word_len + 1, sizeof *src);
    const int32_t **refs = NULL;
    size_t *lens = NULL, max_prons = 1;
    for (size_t w = 0; w < d->n_words; w++)
        if (d->words[w].n_prons > max_prons) max_prons = d->words[w].n_prons;
    refs = es_calloc(max_prons, sizeof *refs);
    lens = es_calloc(max_prons, sizeof *lens);
    size_t text_cap = 1024, pred_cap = 256;
    char *text = es_malloc(text_cap);
    int32_t *pred = es_calloc(pred_cap, sizeof *pred);
    es_status st = ES_OK;
    if (!map || !src || !refs || !lens || !text || !pred)
        st = es_errf(err, ES_ERR_NOMEM, "g2p eval: out of memory");
    if (!st) es_g2p_stress_map(map, (const char *const *)d->symbols, d->n_symbols);
    size_t done = 0;
    for (size_t w = 0; !st && w < d->n_words && (!max_words || done < max_words); w++) {
        const es_cmu_word *x = &d->words[w];
        if (split != ES_SPLIT_COUNT && x->split != split) continue;
        const uint8_t *bytes = d->text + (input_case == ES_CMU_CASE_ORIGINAL ? x->upper : x->lower);
        for (uint32_t i = 0; i < x->len; i++) src[i] = bytes[i];
        es_gen_result res;
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        st = es_session_generate(s, &res, src, (int)x->len, gp);
        out->seconds += clock_s(CLOCK_MONOTONIC) - t0;
        out->cpu_seconds += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (st) {
            st = es_errf(err, st, "g2p eval: word '%s': %s", (const char *)d->text + x->upper,
                         es_session_errmsg(s));
            break;
        }
        if (res.n_hyps < 1) {
            st = es_errf(err, ES_ERR_INTERNAL, "g2p eval: no hypothesis for '%s'",
                         (const char *)d->text + x->upper);
            break;
        }
        const es_hyp *h = &res.hyps[0];
        size_t tl = 0;
        st = es_model_output_text(model, h->ids, (size_t)h->n_ids, text, text_cap, &tl, err);
        if (st == ES_ERR_BUFFER) {
            char *nt = es_realloc(text, tl + 1);
            if (!nt) {
                st = es_errf(err, ES_ERR_NOMEM, "g2p eval: out of memory");
                break;
            }
            text = nt;
            text_cap = tl + 1;
            st = es_model_output_text(model, h->ids, (size_t)h->n_ids, text, text_cap, &tl, err);
        }
        if (st) break;
        bool ok1 = false, ok2 = false;
        st = es_g2p_score_text(out, d, x, text, tl, &pred, &pred_cap, refs, lens, map, &ok1, &ok2,
                               err);
        if (!st && fn) fn(user, d, w, text, ok1, ok2);
        done++;
    }
    if (!st && done == 0)
        st = es_errf(err, ES_ERR_ARG, "g2p eval: no words in split %s", es_split_name(split));
    es_free(map);
    es_free(src);
    es_free(refs);
    es_free(lens);
    es_free(text);
    es_free(pred);
    return st;
}
