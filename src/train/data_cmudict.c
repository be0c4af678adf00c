/*
 * data_cmudict.c — CMUdict parsing, the FNV-1a split, and (word bytes,
 * symbol indices) examples for G2P training (data_cmudict.h).
 *
 * One pass over dict.txt: each pronunciation line is split into word and
 * phones, the variant suffix is stripped, the word is looked up (or added)
 * in an open-addressing hash table keyed by its upper-case bytes, and the
 * phones are mapped to symbol indices through a second small hash table.
 * Pronunciations are collected in file order with a per-word chain (for
 * duplicate detection), then grouped by word with a stable counting sort,
 * so variants stay in file order even when a file interleaves words.
 * Everything is offsets into growable arrays, so a realloc never leaves a
 * dangling pointer. Cost: O(file size) time, ~40 bytes per pronunciation.
 */
#include "train/data_cmudict.h"

#include "io/fileio.h"

#include <stdio.h>
#include <string.h>

#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u

uint32_t es_fnv1a32(const void *bytes, size_t n) {
    const uint8_t *p = bytes;
    uint32_t h = FNV_BASIS;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME; /* uint32 arithmetic: the multiply wraps mod 2^32 as FNV defines */
    }
    return h;
}

static uint8_t up(uint8_t c) { return c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c; }
static uint8_t low(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c; }

static uint32_t fnv_upper(const uint8_t *w, size_t n) {
    uint32_t h = FNV_BASIS;
    for (size_t i = 0; i < n; i++) {
        h ^= up(w[i]);
        h *= FNV_PRIME;
    }
    return h;
}

es_split es_cmudict_split_of_word(const uint8_t *word, size_t n) {
    uint32_t r = fnv_upper(word, n) % 20u;
    return r == 0 ? ES_SPLIT_TEST : r == 1 ? ES_SPLIT_DEV : ES_SPLIT_TRAIN;
}

/* ---- symbols ---------------------------------------------------------------- */

void es_cmudict_symbols_free(char **symbols, int n) {
    if (!symbols) return;
    for (int i = 0; i < n; i++) es_free(symbols[i]);
    es_free(symbols);
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

es_status es_cmudict_parse_symbols(char ***symbols, int *n, const char *text, size_t len,
                                   const char *name, es_error *err) {
    *symbols = NULL;
    *n = 0;
    char **v = NULL;
    int cnt = 0, cap = 0;
    size_t line = 0;
    es_status st = ES_OK;
    for (size_t i = 0; i < len && !st;) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        line++;
        size_t a = i, b = e;
        i = e + 1;
        while (a < b && is_blank(text[a])) a++;
        while (b > a && is_blank(text[b - 1])) b--;
        if (a == b) continue;
        size_t sl = b - a;
        if (sl >= ES_S2S_SYMBOL_MAX) {
            st = es_errf(err, ES_ERR_FORMAT, "%s:%zu: symbol of %zu bytes (at most %d)", name,
                         line, sl, ES_S2S_SYMBOL_MAX - 1);
            break;
        }
        for (size_t k = a; k < b; k++) {
            unsigned char c = (unsigned char)text[k];
            if (c <= ' ' || c == 0x7f) {
                st = es_errf(err, ES_ERR_FORMAT, "%s:%zu: symbol contains a space or control "
                             "byte 0x%02x", name, line, c);
                break;
            }
        }
        for (int k = 0; !st && k < cnt; k++) {
            if (strlen(v[k]) == sl && memcmp(v[k], text + a, sl) == 0)
                st = es_errf(err, ES_ERR_FORMAT, "%s:%zu: duplicate symbol '%s'", name, line, v[k]);
        }
        if (st) break;
        if (cnt == ES_S2S_MAX_SYMBOLS) {
            st = es_errf(err, ES_ERR_FORMAT, "%s:%zu: more than %d symbols", name, line,
                         ES_S2S_MAX_SYMBOLS);
            break;
        }
        if (cnt == cap) {
            int nc = cap ? 2 * cap : 64;
            char **nv = es_realloc(v, (size_t)nc * sizeof *nv);
            if (!nv) {
                st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
                break;
            }
            v = nv;
            cap = nc;
        }
        char *s = es_malloc(sl + 1);
        if (!s) {
            st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
            break;
        }
        memcpy(s, text + a, sl);
        s[sl] = 0;
        v[cnt++] = s;
    }
    if (!st && cnt == 0) st = es_errf(err, ES_ERR_FORMAT, "%s: no symbols", name);
    if (st) {
        es_cmudict_symbols_free(v, cnt);
        return st;
    }
    *symbols = v;
    *n = cnt;
    return ES_OK;
}

/* ---- growable arrays ---------------------------------------------------------- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return false;
        nc *= 2;
    }
    void *np = es_realloc(*p, nc * elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

/* A pronunciation while parsing: chained per word for duplicate checks. */
typedef struct tmp_pron {
    uint32_t word, off, len;
    uint32_t prev; /* previous pronunciation of the same word + 1, 0 = none */
} tmp_pron;

typedef struct parser {
    es_cmudict *d;
    const char *name;
    size_t cap_words, cap_text, cap_ids, cap_tmp;
    size_t n_text, n_ids;
    tmp_pron *tmp;
    size_t n_tmp;
    uint32_t *last; /* per word: last pronunciation + 1 */
    size_t cap_last;
    uint32_t *sym_table; /* 1 + symbol index, 0 = empty */
    size_t sym_cap;
    uint8_t *conv;  /* Latin-1 → UTF-8 scratch */
    size_t cap_conv;
} parser;

/* Valid UTF-8 (shortest forms, no surrogates, <= U+10FFFF)? */
static bool utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1fu, min = 0x80;
        else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0fu, min = 0x800;
        else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 0x07u, min = 0x10000;
        else return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += k + 1;
    }
    return true;
}

static es_status sym_table_build(parser *P, es_error *err) {
    const es_cmudict *d = P->d;
    size_t cap = 16;
    while (cap < 2 * (size_t)d->n_symbols) cap *= 2;
    if (!(P->sym_table = es_calloc(cap, sizeof *P->sym_table)))
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", P->name);
    P->sym_cap = cap;
    for (int i = 0; i < d->n_symbols; i++) {
        size_t h = es_fnv1a32(d->symbols[i], strlen(d->symbols[i])) & (cap - 1);
        while (P->sym_table[h]) h = (h + 1) & (cap - 1);
        P->sym_table[h] = (uint32_t)i + 1;
    }
    return ES_OK;
}

static int sym_find(const parser *P, const char *s, size_t n) {
    size_t h = es_fnv1a32(s, n) & (P->sym_cap - 1);
    while (P->sym_table[h]) {
        const char *c = P->d->symbols[P->sym_table[h] - 1];
        /* length first: s may hold NUL bytes, so strncmp could stop early */
        if (strlen(c) == n && memcmp(c, s, n) == 0) return (int)P->sym_table[h] - 1;
        h = (h + 1) & (P->sym_cap - 1);
    }
    return -1;
}

/* Word table lookup by upper-case bytes; returns the slot. */
static size_t word_slot(const es_cmudict *d, const uint8_t *w, size_t n, uint32_t h) {
    size_t mask = d->table_cap - 1, i = h & mask;
    while (d->table[i]) {
        const es_cmu_word *x = &d->words[d->table[i] - 1];
        if (x->len == n) {
            const uint8_t *u = d->text + x->upper;
            size_t k = 0;
            while (k < n && u[k] == up(w[k])) k++;
            if (k == n) return i;
        }
        i = (i + 1) & mask;
    }
    return i;
}

static es_status table_grow(es_cmudict *d, es_error *err, const char *name) {
    size_t nc = d->table_cap ? 2 * d->table_cap : 4096;
    uint32_t *t = es_calloc(nc, sizeof *t);
    if (!t) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
    for (size_t w = 0; w < d->n_words; w++) {
        const es_cmu_word *x = &d->words[w];
        size_t i = fnv_upper(d->text + x->upper, x->len) & (nc - 1);
        while (t[i]) i = (i + 1) & (nc - 1);
        t[i] = (uint32_t)w + 1;
    }
    es_free(d->table);
    d->table = t;
    d->table_cap = nc;
    return ES_OK;
}

/* Word index of w (adding it when new: upper and lower copies to text). */
static es_status add_word(parser *P, uint32_t *idx, const uint8_t *w, size_t n, es_error *err) {
    es_cmudict *d = P->d;
    if (2 * (d->n_words + 1) > d->table_cap && table_grow(d, err, P->name)) return ES_ERR_NOMEM;
    size_t slot = word_slot(d, w, n, fnv_upper(w, n));
    if (d->table[slot]) {
        *idx = d->table[slot] - 1;
        return ES_OK;
    }
    if (d->n_words >= UINT32_MAX - 1 || P->n_text + 2 * n + 2 > UINT32_MAX)
        return es_errf(err, ES_ERR_FORMAT, "%s: too many words for 32-bit offsets", P->name);
    if (!grow((void **)&d->words, &P->cap_words, d->n_words + 1, sizeof *d->words) ||
        !grow((void **)&d->text, &P->cap_text, P->n_text + 2 * n + 2, 1) ||
        !grow((void **)&P->last, &P->cap_last, d->n_words + 1, sizeof *P->last))
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", P->name);
    es_cmu_word *x = &d->words[d->n_words];
    memset(x, 0, sizeof *x);
    x->len = (uint32_t)n;
    x->upper = (uint32_t)P->n_text;
    for (size_t k = 0; k < n; k++) d->text[P->n_text++] = up(w[k]);
    d->text[P->n_text++] = 0;
    x->lower = (uint32_t)P->n_text;
    for (size_t k = 0; k < n; k++) d->text[P->n_text++] = low(w[k]);
    d->text[P->n_text++] = 0;
    x->split = es_cmudict_split_of_word(w, n);
    P->last[d->n_words] = 0;
    d->table[slot] = (uint32_t)d->n_words + 1;
    *idx = (uint32_t)d->n_words++;
    if (n > d->max_word_len) d->max_word_len = n;
    return ES_OK;
}

/* Converts Latin-1 bytes to UTF-8 into P->conv. */
static es_status latin1_to_utf8(parser *P, const uint8_t *s, size_t n, size_t *out_n,
                                es_error *err) {
    if (!grow((void **)&P->conv, &P->cap_conv, 2 * n + 1, 1))
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", P->name);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            P->conv[o++] = s[i];
        } else {
            P->conv[o++] = (uint8_t)(0xc0 | s[i] >> 6);
            P->conv[o++] = (uint8_t)(0x80 | (s[i] & 0x3f));
        }
    }
    *out_n = o;
    return ES_OK;
}

/* One pronunciation line text[a, b) (no newline, not blank, not a comment). */
static es_status parse_line(parser *P, const char *text, size_t a, size_t b, size_t line,
                            es_error *err) {
    es_cmudict *d = P->d;
    /* trailing "# comment" of newer releases: a '#' after a blank */
    for (size_t k = a + 1; k < b; k++) {
        if (text[k] == '#' && is_blank(text[k - 1])) {
            b = k;
            break;
        }
    }
    while (b > a && is_blank(text[b - 1])) b--;
    size_t we = a;
    while (we < b && !is_blank(text[we])) we++;
    size_t ps = we;
    while (ps < b && is_blank(text[ps])) ps++;
    if (we == a || ps == b)
        return es_errf(err, ES_ERR_FORMAT, "%s:%zu: expected 'WORD  PHONE PHONE ...'", P->name,
                       line);
    const uint8_t *w = (const uint8_t *)text + a;
    size_t wn = we - a;
    /* variant suffix "(N)" */
    if (wn >= 4 && w[wn - 1] == ')') {
        size_t k = wn - 1;
        while (k > 0 && w[k - 1] >= '0' && w[k - 1] <= '9') k--;
        if (k < wn - 1 && k >= 2 && w[k - 1] == '(') wn = k - 1;
    }
    if (!utf8_valid(w, wn)) {
        es_status st = latin1_to_utf8(P, w, wn, &wn, err);
        if (st) return st;
        w = P->conv;
        d->n_latin1_lines++;
    }
    uint32_t wi = 0;
    es_status st = add_word(P, &wi, w, wn, err);
    if (st) return st;
    /* phones */
    size_t off = P->n_ids, cnt = 0;
    for (size_t k = ps; k < b;) {
        size_t e = k;
        while (e < b && !is_blank(text[e])) e++;
        int id = sym_find(P, text + k, e - k);
        if (id < 0)
            return es_errf(err, ES_ERR_FORMAT, "%s:%zu: phone '%.*s' is not in the symbol list",
                           P->name, line, (int)ES_MIN(e - k, (size_t)64), text + k);
        if (!grow((void **)&d->ids, &P->cap_ids, P->n_ids + 1, sizeof *d->ids))
            return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", P->name);
        d->ids[P->n_ids++] = id;
        cnt++;
        k = e;
        while (k < b && is_blank(text[k])) k++;
    }
    if (P->n_ids > UINT32_MAX)
        return es_errf(err, ES_ERR_FORMAT, "%s: too many phones for 32-bit offsets", P->name);
    d->n_lines++;
    for (uint32_t q = P->last[wi]; q; q = P->tmp[q - 1].prev) {
        const tmp_pron *o = &P->tmp[q - 1];
        if (o->len == cnt && memcmp(d->ids + o->off, d->ids + off, cnt * sizeof *d->ids) == 0) {
            P->n_ids = off; /* drop the repeat */
            d->n_duplicates++;
            return ES_OK;
        }
    }
    if (!grow((void **)&P->tmp, &P->cap_tmp, P->n_tmp + 1, sizeof *P->tmp))
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", P->name);
    P->tmp[P->n_tmp] = (tmp_pron){wi, (uint32_t)off, (uint32_t)cnt, P->last[wi]};
    P->last[wi] = (uint32_t)++P->n_tmp;
    d->words[wi].n_prons++;
    if (cnt > d->max_pron_len) d->max_pron_len = cnt;
    return ES_OK;
}

/* Stable grouping of the pronunciations by word. */
static es_status group(parser *P, es_error *err) {
    es_cmudict *d = P->d;
    if (!(d->prons = es_calloc(P->n_tmp ? P->n_tmp : 1, sizeof *d->prons)))
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", P->name);
    uint32_t pos = 0;
    for (size_t w = 0; w < d->n_words; w++) {
        d->words[w].first_pron = pos;
        pos += d->words[w].n_prons;
        P->last[w] = d->words[w].first_pron; /* reused as the fill cursor */
        d->n_words_split[d->words[w].split]++;
        d->n_prons_split[d->words[w].split] += d->words[w].n_prons;
    }
    for (size_t i = 0; i < P->n_tmp; i++) {
        const tmp_pron *t = &P->tmp[i];
        d->prons[P->last[t->word]++] = (es_cmu_pron){t->word, t->off, t->len};
    }
    d->n_prons = P->n_tmp;
    return ES_OK;
}

void es_cmudict_free(es_cmudict *d) {
    if (!d) return;
    es_cmudict_symbols_free(d->symbols, d->n_symbols);
    es_free(d->words);
    es_free(d->prons);
    es_free(d->ids);
    es_free(d->text);
    es_free(d->table);
    es_free(d);
}

es_status es_cmudict_parse(es_cmudict **out, const char *text, size_t len,
                           const char *const *symbols, int n_symbols, const char *name,
                           es_error *err) {
    *out = NULL;
    if (!name) name = "dict";
    if (n_symbols < 1 || n_symbols > ES_S2S_MAX_SYMBOLS || !symbols)
        return es_errf(err, ES_ERR_ARG, "%s: %d symbols (expected 1..%d)", name, n_symbols,
                       ES_S2S_MAX_SYMBOLS);
    es_cmudict *d = es_calloc(1, sizeof *d);
    if (!d) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
    parser P;
    memset(&P, 0, sizeof P);
    P.d = d;
    P.name = name;
    es_status st = ES_OK;
    if (!(d->symbols = es_calloc((size_t)n_symbols, sizeof *d->symbols)))
        st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
    for (int i = 0; !st && i < n_symbols; i++) {
        if (!symbols[i] || !(d->symbols[i] = es_strdup(symbols[i])))
            st = es_errf(err, symbols[i] ? ES_ERR_NOMEM : ES_ERR_ARG, "%s: symbol %d", name, i);
        else d->n_symbols = i + 1;
    }
    if (!st) st = sym_table_build(&P, err);
    size_t line = 0;
    for (size_t i = 0; !st && i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        line++;
        size_t a = i, b = e;
        i = e + 1;
        while (a < b && is_blank(text[a])) a++;
        if (a == b || (b - a >= 3 && memcmp(text + a, ";;;", 3) == 0)) continue;
        st = parse_line(&P, text, a, b, line, err);
    }
    if (!st && d->n_words == 0) st = es_errf(err, ES_ERR_FORMAT, "%s: no pronunciations", name);
    if (!st) st = group(&P, err);
    es_free(P.tmp);
    es_free(P.last);
    es_free(P.sym_table);
    es_free(P.conv);
    if (st) {
        es_cmudict_free(d);
        return st;
    }
    *out = d;
    return ES_OK;
}

es_status es_cmudict_load(es_cmudict **out, const char *dir, es_error *err) {
    *out = NULL;
    char sub[4096], dpath[4200], spath[4200];
    es_status st = es_path_join(sub, sizeof sub, dir, "cmudict", err);
    if (st) return st;
    const char *base = es_is_dir(sub) ? sub : dir;
    if ((st = es_path_join(dpath, sizeof dpath, base, "dict.txt", err))) return st;
    if ((st = es_path_join(spath, sizeof spath, base, "symbols.txt", err))) return st;
    return es_cmudict_load_files(out, dpath, spath, err);
}

es_status es_cmudict_load_files(es_cmudict **out, const char *dpath, const char *spath,
                                es_error *err) {
    *out = NULL;
    es_status st;
    void *sbuf = NULL, *dbuf = NULL;
    size_t sl = 0, dl = 0;
    char **sym = NULL;
    int ns = 0;
    /* limits: far above the real files (281 B, 3.7 MB), below anything absurd */
    if (!(st = es_read_file(spath, &sbuf, &sl, (size_t)1 << 24, err)) &&
        !(st = es_cmudict_parse_symbols(&sym, &ns, sbuf, sl, spath, err)) &&
        !(st = es_read_file(dpath, &dbuf, &dl, (size_t)1 << 31, err)))
        st = es_cmudict_parse(out, dbuf, dl, (const char *const *)sym, ns, dpath, err);
    es_cmudict_symbols_free(sym, ns);
    es_free(sbuf);
    es_free(dbuf);
    return st;
}

long es_cmudict_find(const es_cmudict *d, const uint8_t *word, size_t n) {
    if (!d || !d->table_cap) return -1;
    size_t slot = word_slot(d, word, n, fnv_upper(word, n));
    return d->table[slot] ? (long)d->table[slot] - 1 : -1;
}

int es_cmudict_symbol_index(const es_cmudict *d, const char *s, size_t n) {
    for (int i = 0; i < d->n_symbols; i++)
        if (strlen(d->symbols[i]) == n && memcmp(d->symbols[i], s, n) == 0) return i;
    return -1;
}

static bool has_ascii_letter(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (low(s[i]) != s[i]) return true;
    return false;
}

es_status es_cmudict_examples(es_s2s_example **out, size_t *n, const es_cmudict *d,
                              es_split split, unsigned cases, size_t max_tgt, es_error *err) {
    *out = NULL;
    *n = 0;
    cases &= ES_CMU_CASE_LOWER | ES_CMU_CASE_ORIGINAL;
    if (!cases) return es_errf(err, ES_ERR_ARG, "cmudict examples: no input case selected");
    size_t cnt = 0;
    for (size_t w = 0; w < d->n_words; w++) {
        const es_cmu_word *x = &d->words[w];
        if (split != ES_SPLIT_COUNT && x->split != split) continue;
        int per = cases == (ES_CMU_CASE_LOWER | ES_CMU_CASE_ORIGINAL) &&
                          has_ascii_letter(d->text + x->upper, x->len) ? 2 : 1;
        for (uint32_t p = 0; p < x->n_prons; p++) {
            const es_cmu_pron *pr = &d->prons[x->first_pron + p];
            if (max_tgt && pr->len > max_tgt)
                return es_errf(err, ES_ERR_ARG, "cmudict examples: '%s' has %u phones; the "
                               "model's decoder holds %zu", (const char *)d->text + x->upper,
                               pr->len, max_tgt);
        }
        cnt += (size_t)per * x->n_prons;
    }
    if (!cnt) return es_errf(err, ES_ERR_ARG, "cmudict examples: no words in split %s",
                             es_split_name(split));
    es_s2s_example *v = es_calloc(cnt, sizeof *v);
    if (!v) return es_errf(err, ES_ERR_NOMEM, "cmudict examples: out of memory for %zu", cnt);
    size_t k = 0;
    for (size_t w = 0; w < d->n_words; w++) {
        const es_cmu_word *x = &d->words[w];
        if (split != ES_SPLIT_COUNT && x->split != split) continue;
        bool both = cases == (ES_CMU_CASE_LOWER | ES_CMU_CASE_ORIGINAL) &&
                    has_ascii_letter(d->text + x->upper, x->len);
        for (uint32_t p = 0; p < x->n_prons; p++) {
            const es_cmu_pron *pr = &d->prons[x->first_pron + p];
            es_s2s_example e = {.src_len = x->len, .tgt = d->ids + pr->off, .tgt_len = pr->len};
            if (cases & ES_CMU_CASE_LOWER) {
                e.src = d->text + x->lower;
                v[k++] = e;
            }
            if ((cases & ES_CMU_CASE_ORIGINAL) && (both || !(cases & ES_CMU_CASE_LOWER))) {
                e.src = d->text + x->upper;
                v[k++] = e;
            }
        }
    }
    *out = v;
    *n = k;
    return ES_OK;
}
