/*
 * normalizer.c — SentencePiece text normalization (normalizer.cc), driven
 * by the model's precompiled_charsmap.
 *
 * precompiled_charsmap, byte by byte:
 *   u32 LE  trie_size            bytes of the double array that follows
 *   trie_size bytes              darts-clone double array, u32 LE units
 *   rest                         replacement strings, NUL-separated
 * A double-array unit (darts-clone DoubleArrayUnit) packs:
 *   bit 31     leaf flag: the unit holds a value (low 31 bits) and no label
 *   bit 8      has_leaf: a value unit hangs off this node at offset ^ 0
 *   bits 0..7  label (the byte that leads to this unit)
 *   bits 10..31 offset, shifted left by 8 more when bit 9 is set
 * Longest-prefix search (commonPrefixSearch): start at unit 0 with
 * pos = offset(unit0); for each input byte c: pos ^= c, the unit there
 * must carry label c, then pos ^= its offset; when it has_leaf, units[pos]
 * is the value = byte offset of the replacement string in the blob. The
 * longest match wins. Every index is bounds-checked (a hostile array can
 * point anywhere); the loader has already checked every leaf value.
 *
 * Normalize (Normalizer::Normalize): optionally skip leading characters
 * that normalize to " "; add the dummy "▁"; then for each prefix
 * (user-defined symbol verbatim, else charsmap replacement, else the
 * character itself, else — invalid UTF-8 — U+FFFD for one byte) drop its
 * leading spaces while the previous output ended with a space, escape
 * ' ' to U+2581, and finally strip trailing "▁". Work is linear in the
 * input: each prefix search stops at the first byte the trie lacks.
 */
#include "tok/tok_internal.h"
#include "tok/utf8.h"

#include <string.h>

static const char k_space_symbol[] = "\xE2\x96\x81"; /* U+2581 */
static const char k_replacement[] = "\xEF\xBF\xBD";  /* U+FFFD */

bool es_tok_buf_append(es_tok_buf *b, const void *s, size_t n) {
    if (n == 0) return true;
    if (b->cap - b->len < n) {
        size_t want = b->cap ? b->cap : 64;
        while (want - b->len < n) {
            if (want > SIZE_MAX / 2) return false;
            want *= 2;
        }
        char *p = es_realloc(b->p, want);
        if (!p) return false;
        b->p = p;
        b->cap = want;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
static bool unit_has_leaf(uint32_t u) { return ((u >> 8) & 1u) == 1u; }
static uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1u); }

/* Longest charsmap rule matching a prefix of s[0..n): returns its length
 * (0 = none) and the blob offset of its replacement in *value. */
static size_t charsmap_longest(const es_tokenizer *tok, const uint8_t *s, size_t n,
                               uint32_t *value) {
    const uint32_t *a = tok->cm_units;
    const size_t na = tok->cm_n_units;
    size_t best = 0;
    size_t pos = unit_offset(a[0]);
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= na) break;
        const uint32_t u = a[pos];
        if (unit_label(u) != s[i]) break;
        pos ^= unit_offset(u);
        if (unit_has_leaf(u)) {
            if (pos >= na) break;
            best = i + 1;
            *value = unit_value(a[pos]);
        }
    }
    return best;
}

/* Longest user-defined symbol at s, 0 if none. */
static size_t user_longest(const es_tokenizer *tok, const uint8_t *s, size_t n) {
    const es_tok_trie *t = &tok->user_trie;
    if (t->n_nodes == 0) return 0;
    size_t best = 0;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        const int64_t c = es_tok_trie_step(t, node, s[i]);
        if (c < 0) break;
        node = (uint32_t)c;
        if (t->value[node] >= 0) best = i + 1;
    }
    return best;
}

/* One step of NormalizePrefix: consumes *used (>= 1) bytes of s and
 * returns their normalized form in (*out, *out_len). */
static void normalize_prefix(const es_tokenizer *tok, const uint8_t *s, size_t n,
                             const char **out, size_t *out_len, size_t *used) {
    size_t m = user_longest(tok, s, n);
    if (m > 0) {
        *out = (const char *)s;
        *out_len = m;
        *used = m;
        return;
    }
    if (tok->cm_n_units > 0) {
        uint32_t v = 0;
        m = charsmap_longest(tok, s, n, &v);
        if (m > 0) {
            const char *r = tok->cm_norm + v;
            const char *z = memchr(r, 0, tok->cm_norm_len - v);
            *out = r;
            *out_len = z ? (size_t)(z - r) : tok->cm_norm_len - v;
            *used = m;
            return;
        }
    }
    size_t mb;
    if (es_utf8_valid_char(s, n, &mb)) {
        *out = (const char *)s;
        *out_len = mb;
        *used = mb;
    } else {
        *out = k_replacement;
        *out_len = 3;
        *used = 1;
    }
}

static bool append_ws(const es_tokenizer *tok, es_tok_buf *out) {
    return tok->escape_whitespaces ? es_tok_buf_append(out, k_space_symbol, 3)
                                   : es_tok_buf_append(out, " ", 1);
}

es_status es_tok_normalize(const es_tokenizer *tok, const uint8_t *text, size_t len,
                           es_tok_buf *out, es_error *err) {
    const char *r;
    size_t rn, used;
    if (tok->remove_extra_whitespaces) {
        while (len > 0) {
            normalize_prefix(tok, text, len, &r, &rn, &used);
            if (!(rn == 1 && r[0] == ' ')) break;
            text += used;
            len -= used;
        }
    }
    if (len == 0) return ES_OK;

    const size_t start = out->len;
    if (!tok->treat_whitespace_as_suffix && tok->add_dummy_prefix && !append_ws(tok, out)) {
        goto nomem;
    }
    bool prev_space = tok->remove_extra_whitespaces;
    while (len > 0) {
        normalize_prefix(tok, text, len, &r, &rn, &used);
        while (prev_space && rn > 0 && r[0] == ' ') {
            r++;
            rn--;
        }
        if (rn > 0) {
            size_t run = 0; /* bytes of r[0..k) not yet copied */
            for (size_t k = 0; k < rn; k++) {
                if (tok->escape_whitespaces && r[k] == ' ') {
                    if (!es_tok_buf_append(out, r + k - run, run) ||
                        !es_tok_buf_append(out, k_space_symbol, 3)) {
                        goto nomem;
                    }
                    run = 0;
                } else {
                    run++;
                }
            }
            if (!es_tok_buf_append(out, r + rn - run, run)) goto nomem;
            prev_space = r[rn - 1] == ' ';
        }
        text += used;
        len -= used;
        if (!tok->remove_extra_whitespaces) prev_space = false;
        /* a hostile charsmap can expand each byte a lot: stay indexable */
        if (out->len - start > ES_TOK_MAX_NORM) {
            return es_errf(err, ES_ERR_ARG,
                           "tokenizer: normalized text exceeds %zu bytes", (size_t)ES_TOK_MAX_NORM);
        }
    }
    if (tok->remove_extra_whitespaces) {
        const char *sp = tok->escape_whitespaces ? k_space_symbol : " ";
        const size_t sn = tok->escape_whitespaces ? 3 : 1;
        while (out->len - start >= sn && memcmp(out->p + out->len - sn, sp, sn) == 0) {
            out->len -= sn;
        }
    }
    if (tok->treat_whitespace_as_suffix && tok->add_dummy_prefix && !append_ws(tok, out)) {
        goto nomem;
    }
    return ES_OK;
nomem:
    return es_errf(err, ES_ERR_NOMEM, "tokenizer: out of memory while normalizing (%zu bytes so far)",
                   out->len - start);
}
