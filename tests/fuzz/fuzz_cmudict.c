/* Fuzz target for the CMUdict parser (src/train/data_cmudict.c). The input
 * is split at its first NUL byte: before it a symbol list, after it a
 * dictionary (no NUL: the whole input is a dictionary over a fixed
 * 10-symbol list). After a successful parse every invariant the rest of
 * the code relies on is checked (grouping, offsets, symbol ranges, lookup
 * of each word finds itself, split counts) and examples are built, so
 * ASan and the checks report any inconsistency; a violation aborts. */
#include "train/data_cmudict.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const SYM[] = {"AH0", "AH1", "B", "K", "T", "EY1", "Z", "S", "AA", "ZH"};

static void check(int ok) {
    if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    char **sym = NULL;
    int ns = 0;
    const char *const *use = SYM;
    int n_use = 10;
    es_error err;
    if (nul) {
        size_t sl = (size_t)(nul - data);
        if (es_cmudict_parse_symbols(&sym, &ns, text, sl, "fuzz-symbols", &err) != ES_OK) return 0;
        use = (const char *const *)sym;
        n_use = ns;
        text += sl + 1;
        size -= sl + 1;
    }
    es_cmudict *d = NULL;
    if (es_cmudict_parse(&d, text, size, use, n_use, "fuzz", &err) == ES_OK) {
        size_t np = 0, nw[ES_SPLIT_COUNT] = {0};
        for (size_t w = 0; w < d->n_words; w++) {
            const es_cmu_word *x = &d->words[w];
            check(x->n_prons >= 1 && x->first_pron == np && x->len > 0);
            check(es_cmudict_find(d, d->text + x->upper, x->len) == (long)w);
            check(es_cmudict_find(d, d->text + x->lower, x->len) == (long)w);
            check(x->split == es_cmudict_split_of_word(d->text + x->upper, x->len));
            nw[x->split]++;
            for (uint32_t p = 0; p < x->n_prons; p++) {
                const es_cmu_pron *pr = &d->prons[x->first_pron + p];
                check(pr->word == w);
                for (uint32_t i = 0; i < pr->len; i++)
                    check(d->ids[pr->off + i] >= 0 && d->ids[pr->off + i] < d->n_symbols);
            }
            np += x->n_prons;
        }
        check(np == d->n_prons);
        for (int s = 0; s < ES_SPLIT_COUNT; s++) check(nw[s] == d->n_words_split[s]);
        es_s2s_example *ex = NULL;
        size_t n = 0;
        if (es_cmudict_examples(&ex, &n, d, ES_SPLIT_COUNT, 3u, 0, &err) == ES_OK) {
            check(n >= d->n_prons && n <= 2 * d->n_prons);
            es_free(ex);
        }
        es_cmudict_free(d);
    }
    es_cmudict_symbols_free(sym, ns);
    return 0;
}
