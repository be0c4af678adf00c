/*
 * unigram.c — SentencePiece unigram segmentation (unigram_model.cc,
 * Model::EncodeOptimized) and es_tokenizer_encode.
 *
 * Viterbi over byte positions of the normalized text. best[k] holds the
 * best path ending at byte k: its score, the start of its last piece and
 * that piece's id. Starting at every character boundary s (reachable by
 * construction), walk the piece trie byte by byte; every piece found that
 * ends at k offers best[s].score + score(piece) to best[k]. If no piece
 * covers exactly the one character at s, an <unk> of that character is
 * offered at (min NORMAL score − 10) ("kUnkPenalty"). A candidate replaces
 * best[k] only when strictly greater, so among equal scores the earliest
 * offer wins, exactly as in SentencePiece. USER_DEFINED pieces score
 * bytes·max_score − 0.1; UNUSED pieces are never offered. Rounding
 * follows the reference bit for bit (piece candidates are summed in
 * double and stored as float, <unk> candidates are summed in float), so
 * near-ties break identically. Cost: O(n · longest piece).
 *
 * After backtracking, consecutive <unk> pieces merge into one token whose
 * surface covers them (PopulateSentencePieceText), or, with byte_fallback,
 * every <unk> character becomes one <0xXX> token per UTF-8 byte.
 */
#include "tok/tok_internal.h"
#include "tok/utf8.h"

#include <string.h>

typedef struct best_node {
    float score;
    int32_t start; /* -1 = not reached yet */
    int32_t id;
} best_node;

static const float k_unk_penalty = 10.0f;

/* Segments s[0..n) into toks (room for n entries) and returns the token
 * count, or SIZE_MAX if the end is unreachable (cannot happen for valid
 * UTF-8, which the normalizer guarantees). */
static size_t viterbi(const es_tokenizer *tok, const uint8_t *s, size_t n, best_node *best,
                      es_token *toks) {
    const float unk_score = tok->min_score - k_unk_penalty;
    for (size_t i = 0; i <= n; i++) {
        best[i].score = 0.0f;
        best[i].start = -1;
        best[i].id = -1;
    }
    const es_tok_trie *t = &tok->trie;
    size_t pos = 0;
    while (pos < n) {
        const float base = best[pos].score;
        size_t mblen = es_utf8_char_len(s[pos]);
        if (mblen > n - pos) mblen = n - pos;
        bool has_single = false;
        uint32_t node = 0;
        for (size_t k = pos; k < n;) {
            const int64_t c = es_tok_trie_step(t, node, s[k]);
            if (c < 0) break;
            node = (uint32_t)c;
            k++;
            const int32_t id = t->value[node];
            if (id < 0) continue;
            const es_tok_piece *p = &tok->pieces[id];
            if (p->type == ES_SPM_UNUSED) continue;
            const size_t length = k - pos;
            best_node *dst = &best[k];
            /* In SentencePiece the piece score is the conditional
             * `user ? length * max_score_ - 0.1 : GetScore(id)`, whose
             * type is double; so the candidate is summed and compared in
             * double and rounded to float when stored. (Summing in float
             * breaks ties differently, e.g. "ＡＡＡ".) */
            const double sc = p->type == ES_SPM_USER_DEFINED
                                  ? (double)((float)length * tok->max_score) - 0.1
                                  : (double)p->score;
            const double cand = sc + (double)base;
            if (dst->start < 0 || cand > (double)dst->score) {
                dst->score = (float)cand;
                dst->start = (int32_t)pos;
                dst->id = id;
            }
            if (length == mblen) has_single = true;
        }
        if (!has_single) {
            best_node *dst = &best[pos + mblen];
            const float cand = unk_score + base;
            if (dst->start < 0 || cand > dst->score) {
                dst->score = cand;
                dst->start = (int32_t)pos;
                dst->id = tok->unk_id;
            }
        }
        pos += mblen;
    }
    size_t count = 0;
    for (size_t end = n; end > 0;) {
        const best_node *b = &best[end];
        if (b->start < 0) return SIZE_MAX; /* unreachable for valid UTF-8 text */
        toks[count].id = b->id;
        toks[count].offset = (uint32_t)b->start;
        toks[count].length = (uint32_t)(end - (size_t)b->start);
        count++;
        end = (size_t)b->start;
    }
    for (size_t i = 0, j = count; i + 1 < j; i++, j--) {
        const es_token tmp = toks[i];
        toks[i] = toks[j - 1];
        toks[j - 1] = tmp;
    }
    return count;
}

/* Merges runs of <unk> (in place) or expands them to byte pieces (into
 * out, which needs room for n_bytes entries). Returns the final count. */
static size_t post_process(const es_tokenizer *tok, es_token *path, size_t n, const uint8_t *s,
                           es_token *out) {
    size_t m = 0;
    if (tok->byte_fallback) {
        for (size_t i = 0; i < n; i++) {
            if (path[i].id != tok->unk_id) {
                out[m++] = path[i];
                continue;
            }
            for (uint32_t b = 0; b < path[i].length; b++) {
                out[m].id = tok->byte_id[s[path[i].offset + b]];
                out[m].offset = path[i].offset + b;
                out[m].length = 1;
                m++;
            }
        }
        return m;
    }
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && path[i].id == tok->unk_id && out[m - 1].id == tok->unk_id) {
            out[m - 1].length += path[i].length;
        } else {
            out[m++] = path[i];
        }
    }
    return m;
}

es_status es_tokenizer_encode(const es_tokenizer *tok, const char *text, size_t len,
                              es_token *toks, size_t cap, size_t *n_out, char *norm,
                              size_t norm_cap, size_t *norm_len, es_error *err) {
    if (!tok || !n_out || (!text && len > 0) || (!toks && cap > 0) || (!norm && norm_cap > 0) ||
        (norm && !norm_len)) {
        return es_errf(err, ES_ERR_ARG, "es_tokenizer_encode: invalid arguments");
    }
    *n_out = 0;
    if (norm_len) *norm_len = 0;
    if (len > (size_t)INT32_MAX / 4) {
        return es_errf(err, ES_ERR_ARG, "es_tokenizer_encode: text of %zu bytes is too long", len);
    }
    es_tok_buf nb = {0};
    es_status st = es_tok_normalize(tok, (const uint8_t *)text, len, &nb, err);
    best_node *best = NULL;
    es_token *path = NULL;
    if (st != ES_OK) goto done;
    if (nb.len > ES_TOK_MAX_NORM) {
        st = es_errf(err, ES_ERR_ARG, "es_tokenizer_encode: normalized text of %zu bytes is too long",
                     nb.len);
        goto done;
    }
    const size_t n = nb.len;
    size_t count = 0;
    if (n > 0) {
        best = es_calloc(n + 1, sizeof *best);
        path = es_calloc(2 * n, sizeof *path); /* path, then its post-processed copy */
        if (!best || !path) {
            st = es_errf(err, ES_ERR_NOMEM, "es_tokenizer_encode: out of memory for %zu bytes", n);
            goto done;
        }
        const size_t n_path = viterbi(tok, (const uint8_t *)nb.p, n, best, path);
        if (n_path == SIZE_MAX) {
            st = es_errf(err, ES_ERR_INTERNAL, "es_tokenizer_encode: no segmentation path");
            goto done;
        }
        count = post_process(tok, path, n_path, (const uint8_t *)nb.p, path + n);
    }
    *n_out = count;
    if (norm_len) *norm_len = n;
    bool small = false;
    if (count > cap) small = true;
    else if (count > 0) memcpy(toks, path + n, count * sizeof *toks);
    if (norm) {
        if (n > norm_cap) small = true;
        else if (n > 0) memcpy(norm, nb.p, n);
    }
    if (small) {
        st = es_errf(err, ES_ERR_BUFFER,
                     "es_tokenizer_encode: need room for %zu tokens (have %zu) and %zu normalized "
                     "bytes (have %zu)",
                     count, cap, n, norm ? norm_cap : n);
    }
done:
    es_free(nb.p);
    es_free(best);
    es_free(path);
    return st;
}
