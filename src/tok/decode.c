/*
 * decode.c — ids to text with SentencePiece's rules
 * (SentencePieceProcessor::Decode, 0.1.97):
 *  - CONTROL ids produce nothing; the UNKNOWN id produces unk_surface
 *    (" \u2047 " by default) verbatim;
 *  - other pieces have U+2581 replaced by ' '. While the output is still
 *    empty ("beginning of sentence"), one leading U+2581 of a piece is
 *    dropped when add_dummy_prefix or remove_extra_whitespaces is set.
 *    With remove_extra_whitespaces this repeats until something has been
 *    output; without it only the first such piece is stripped;
 *  - consecutive BYTE pieces (<0xXX>) are joined and decoded as UTF-8,
 *    each invalid byte giving U+FFFD;
 *  - ids past the SentencePiece vocabulary: extra ids give their piece
 *    text "<extra_id_N>" (no U+2581 handling needed: they have none);
 *    ids beyond the extra ids (e.g. padding rows 32100..32127 of T5's
 *    embedding) give "" or, with ES_DECODE_MARK_UNKNOWN_IDS, "<id_N>".
 *    Negative ids are a caller error (ES_ERR_ARG).
 * The text is produced in one pass into the caller's buffer while the
 * total length is counted, so a too-small buffer still learns its size.
 */
#include "tok/tok_internal.h"
#include "tok/utf8.h"

#include <stdio.h>
#include <string.h>

typedef struct sink {
    char *out;
    size_t cap, len;
} sink;

static void put(sink *k, const char *s, size_t n) {
    if (k->len < k->cap && n > 0) {
        const size_t room = k->cap - k->len;
        memcpy(k->out + k->len, s, n < room ? n : room);
    }
    k->len += n;
}

/* Piece text with every U+2581 turned into a space. */
static void put_piece(sink *k, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        if (n - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            put(k, s + i - run, run);
            put(k, " ", 1);
            run = 0;
            i += 3;
        } else {
            run++;
            i++;
        }
    }
    put(k, s + n - run, run);
}

/* Pending BYTE pieces: decoded as soon as 4 bytes are known (the longest
 * UTF-8 character), the rest when the run ends. */
typedef struct byte_run {
    uint8_t b[4];
    size_t n;
} byte_run;

static void bytes_emit_one(sink *k, byte_run *r) {
    size_t m;
    if (es_utf8_valid_char(r->b, r->n, &m)) {
        put(k, (const char *)r->b, m);
    } else {
        put(k, "\xEF\xBF\xBD", 3);
        m = 1;
    }
    memmove(r->b, r->b + m, r->n - m);
    r->n -= m;
}

static void bytes_push(sink *k, byte_run *r, uint8_t c) {
    r->b[r->n++] = c;
    if (r->n == 4) bytes_emit_one(k, r);
}

static void bytes_flush(sink *k, byte_run *r) {
    while (r->n > 0) bytes_emit_one(k, r);
}

es_status es_tokenizer_decode(const es_tokenizer *tok, const int32_t *ids, size_t n_ids,
                              unsigned flags, char *out, size_t cap, size_t *len_out,
                              es_error *err) {
    if (!tok || !len_out || (!ids && n_ids > 0) || (!out && cap > 0)) {
        return es_errf(err, ES_ERR_ARG, "es_tokenizer_decode: invalid arguments");
    }
    *len_out = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0) {
            return es_errf(err, ES_ERR_ARG, "es_tokenizer_decode: id %d at position %zu is negative",
                           ids[i], i);
        }
    }
    const int32_t vocab = tok->n_pieces + tok->n_extra;
    const bool strip_bos_ws = tok->add_dummy_prefix || tok->remove_extra_whitespaces;
    sink k = {out, cap, 0};
    byte_run run = {{0}, 0};
    bool is_bos_ws = true, bos_ws_seen = false;
    for (size_t i = 0; i < n_ids; i++) {
        const int32_t id = ids[i];
        const int type = id < vocab ? tok->pieces[id].type : ES_SPM_USER_DEFINED;
        if (type == ES_SPM_BYTE) {
            bytes_push(&k, &run, tok->pieces[id].byte);
            continue;
        }
        bytes_flush(&k, &run);
        if (bos_ws_seen || k.len > 0) is_bos_ws = false;
        bos_ws_seen = false;
        if (type == ES_SPM_CONTROL) continue;
        if (type == ES_SPM_UNKNOWN) {
            put(&k, tok->unk_surface, tok->unk_surface_len);
            continue;
        }
        const char *s;
        size_t n;
        char mark[32];
        if (id < vocab) {
            s = tok->strings + tok->pieces[id].str;
            n = tok->pieces[id].len;
        } else if (flags & ES_DECODE_MARK_UNKNOWN_IDS) {
            n = (size_t)snprintf(mark, sizeof mark, "<id_%d>", id);
            s = mark;
        } else {
            s = "";
            n = 0;
        }
        if (is_bos_ws && strip_bos_ws && n >= 3 && memcmp(s, "\xE2\x96\x81", 3) == 0) {
            s += 3;
            n -= 3;
            bos_ws_seen = !tok->remove_extra_whitespaces;
        }
        put_piece(&k, s, n);
    }
    bytes_flush(&k, &run);
    *len_out = k.len;
    if (k.len > cap) {
        return es_errf(err, ES_ERR_BUFFER, "es_tokenizer_decode: need %zu bytes, have %zu", k.len,
                       cap);
    }
    if (k.len < cap) out[k.len] = '\0';
    return ES_OK;
}
