/*
 * metrics_g2p.c — WER / PER with and without stress (metrics_g2p.h).
 *
 * Edit distance: the textbook two-row dynamic programme in one row of
 * nb + 1 cells (the diagonal kept in a scalar), O(na·nb) time; words are a
 * few dozen phones, so nothing smarter is needed. Scratch for sequences of
 * up to SMALL symbols lives on the stack; longer ones take one es_malloc.
 */
#include "train/metrics_g2p.h"

#include <string.h>

#define SMALL 256

size_t es_g2p_edit_distance(const int32_t *a, size_t na, const int32_t *b, size_t nb,
                            size_t *work) {
    for (size_t j = 0; j <= nb; j++) work[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = work[0]; /* D[i-1][j-1] */
        work[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = work[j]; /* D[i-1][j] */
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (work[j - 1] + 1 < best) best = work[j - 1] + 1;
            diag = up;
            work[j] = best;
        }
    }
    return work[nb];
}

static size_t digits_stripped_len(const char *s) {
    size_t n = strlen(s);
    size_t k = n;
    while (k > 0 && s[k - 1] >= '0' && s[k - 1] <= '9') k--;
    return k ? k : n;
}

void es_g2p_stress_map(int32_t *map, const char *const *symbols, int n_symbols) {
    for (int i = 0; i < n_symbols; i++) {
        size_t li = digits_stripped_len(symbols[i]);
        map[i] = i;
        for (int j = 0; j < i; j++) {
            if (digits_stripped_len(symbols[j]) == li && memcmp(symbols[i], symbols[j], li) == 0) {
                map[i] = map[j];
                break;
            }
        }
    }
}

double es_g2p_wer(const es_g2p_score *s) {
    return s->n_words ? (double)s->n_wrong / (double)s->n_words : 0.0;
}

double es_g2p_per(const es_g2p_score *s) {
    return s->ref_len ? (double)s->edits / (double)s->ref_len : 0.0;
}

/* Closest reference of pred among refs (already mapped); adds to sc. */
static void score_one(es_g2p_score *sc, bool *ok, const int32_t *pred, size_t np,
                      const int32_t *const *refs, const size_t *lens, size_t nr, size_t *work) {
    bool match = false;
    size_t best = SIZE_MAX, best_len = 0;
    for (size_t r = 0; r < nr; r++) {
        size_t e = es_g2p_edit_distance(pred, np, refs[r], lens[r], work);
        if (e == 0 && lens[r] == np) match = true;
        if (e < best) {
            best = e;
            best_len = lens[r];
        }
    }
    sc->n_words++;
    sc->n_wrong += !match;
    sc->edits += best;
    sc->ref_len += best_len;
    if (ok) *ok = match;
}

es_status es_g2p_metrics_add(es_g2p_metrics *m, const int32_t *pred, size_t n_pred,
                             const int32_t *const *refs, const size_t *ref_lens, size_t n_refs,
                             const int32_t *stress_map, int n_symbols, bool *ok_stress,
                             bool *ok_nostress, es_error *err) {
    if (n_refs == 0 || !refs || !ref_lens)
        return es_errf(err, ES_ERR_ARG, "g2p metrics: a word needs at least one reference");
    size_t max_ref = 0, total = n_pred;
    for (size_t r = 0; r < n_refs; r++) {
        for (size_t t = 0; t < ref_lens[r]; t++) {
            if (refs[r][t] < 0 || refs[r][t] >= n_symbols)
                return es_errf(err, ES_ERR_ARG, "g2p metrics: reference %zu position %zu: symbol "
                               "%d outside [0, %d)", r, t, (int)refs[r][t], n_symbols);
        }
        if (ref_lens[r] > max_ref) max_ref = ref_lens[r];
        if (!es_add_ok(total, ref_lens[r], &total))
            return es_errf(err, ES_ERR_ARG, "g2p metrics: sequences too long");
    }
    /* scratch: DP row (max_ref + 1) + mapped prediction and references */
    size_t small_work[SMALL + 1];
    int32_t small_ids[4 * SMALL];
    const int32_t *small_refs[8];
    size_t *work = small_work;
    int32_t *ids = small_ids;
    const int32_t **mrefs = small_refs;
    void *heap = NULL;
    if (max_ref > SMALL || total > 4 * SMALL || n_refs > 8) {
        size_t bytes = 0, a = 0, b = 0, c = 0;
        if (!es_mul_ok(max_ref + 1, sizeof(size_t), &a) || !es_mul_ok(total, sizeof(int32_t), &b) ||
            !es_mul_ok(n_refs, sizeof(int32_t *), &c) || !es_add_ok(a, b, &bytes) ||
            !es_add_ok(bytes, c + 16, &bytes) || !(heap = es_malloc(bytes)))
            return es_errf(err, ES_ERR_NOMEM, "g2p metrics: out of memory for %zu symbols", total);
        work = heap;
        mrefs = (const int32_t **)((char *)heap + a);
        ids = (int32_t *)((char *)heap + a + c);
    }
    es_g2p_metrics out = *m;
    score_one(&out.stress, ok_stress, pred, n_pred, refs, ref_lens, n_refs, work);
    /* stress removed: map prediction and references to their classes */
    size_t o = 0;
    int32_t *mp = ids;
    for (size_t t = 0; t < n_pred; t++) {
        int32_t v = pred[t];
        ids[o++] = v >= 0 && v < n_symbols ? stress_map[v] : v;
    }
    for (size_t r = 0; r < n_refs; r++) {
        mrefs[r] = ids + o;
        for (size_t t = 0; t < ref_lens[r]; t++) ids[o++] = stress_map[refs[r][t]];
    }
    score_one(&out.nostress, ok_nostress, mp, n_pred, mrefs, ref_lens, n_refs, work);
    es_free(heap);
    *m = out;
    return ES_OK;
}
