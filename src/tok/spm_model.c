/*
 * spm_model.c — loads a SentencePiece model file (spiece.model): a small
 * protobuf wire-format reader, the ModelProto fields the unigram encoder
 * needs, validation, and the es_tokenizer accessors.
 *
 * Wire format (proto2): a message is a sequence of (tag, value); tag =
 * varint (field_number << 3 | wire_type). Wire types: 0 varint (<= 10
 * bytes, 7 bits each, little-endian groups), 1 fixed64, 2 length-delimited
 * (varint length, then bytes: strings, bytes, embedded messages), 5 fixed32
 * (floats, little-endian). Groups (3, 4) and types 6, 7 are refused.
 * Unknown fields are skipped; a known field with the wrong wire type is an
 * error; for a repeated scalar the last value wins; an embedded message
 * that appears twice is merged (later fields override), as protobuf does.
 * Every length is checked against the enclosing message, so a sub-message
 * must end exactly at its boundary. Errors: ES_ERR_FORMAT "NAME: byte N:
 * what" with N the absolute offset of the offending field.
 *
 * Fields read (sentencepiece_model.proto):
 *   ModelProto    1 pieces (repeated SentencePiece), 2 trainer_spec,
 *                 3 normalizer_spec, 4 self_test_data (skipped),
 *                 5 denormalizer_spec (skipped: see docs/tokenizer.md)
 *   SentencePiece 1 piece (string), 2 score (float), 3 type (enum,
 *                 default NORMAL)
 *   TrainerSpec   3 model_type (default UNIGRAM=1), 24
 *                 treat_whitespace_as_suffix, 35 byte_fallback, 40 unk_id,
 *                 41 bos_id, 42 eos_id, 43 pad_id, 44 unk_surface
 *                 (default " \u2047 "), 46..48 bos/eos/pad piece names
 *   NormalizerSpec 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                 4 remove_extra_whitespaces, 5 escape_whitespaces (all
 *                 three default true)
 *
 * Ids reported by the accessors follow SentencePieceProcessor: unk = the
 * UNKNOWN piece; eos/pad/bos = the id of the eos/pad/bos piece name when
 * that piece is CONTROL, else -1. The *_id fields of TrainerSpec are only
 * training settings and are not trusted.
 *
 * Extra ids: <extra_id_i> = n_pieces + n_extra - 1 - i (HF T5Tokenizer).
 */
#include "tok/tok_internal.h"
#include "tok/utf8.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ES_TOK_MAX_FILE ((size_t)1 << 30) /* refuse model files over 1 GiB */
#define ES_TOK_MAX_EXTRA 1000000

/* --- protobuf wire reader -------------------------------------------- */

typedef struct pb_reader {
    const uint8_t *buf; /* whole file */
    size_t pos, end;    /* current message: [pos, end) */
    const char *name;
    es_error *err;
} pb_reader;

typedef struct pb_field {
    uint32_t number;
    int wire;
    size_t at;      /* offset of the tag */
    uint64_t u;     /* varint / fixed value */
    size_t off, len; /* length-delimited payload */
} pb_field;

static es_status pb_fail(const pb_reader *r, size_t at, const char *what) {
    return es_errf(r->err, ES_ERR_FORMAT, "%s: byte %zu: %s", r->name, at, what);
}

static es_status pb_varint(pb_reader *r, uint64_t *v) {
    const size_t at = r->pos;
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (r->pos >= r->end) return pb_fail(r, at, "truncated varint");
        const uint8_t c = r->buf[r->pos++];
        if (i == 9 && c > 1) return pb_fail(r, at, "varint overflows 64 bits");
        x |= (uint64_t)(c & 0x7Fu) << (7 * i);
        if (c < 0x80u) {
            *v = x;
            return ES_OK;
        }
    }
    return pb_fail(r, at, "varint longer than 10 bytes");
}

/* Reads the next field of the current message into *f. */
static es_status pb_next(pb_reader *r, pb_field *f) {
    memset(f, 0, sizeof *f);
    f->at = r->pos;
    uint64_t tag;
    es_status st = pb_varint(r, &tag);
    if (st != ES_OK) return st;
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFFu) return pb_fail(r, f->at, "invalid field number");
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7u);
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->u);
    case 1:
    case 5: {
        const size_t n = f->wire == 1 ? 8 : 4;
        if (r->end - r->pos < n) return pb_fail(r, f->at, "truncated fixed-width field");
        uint64_t x = 0;
        for (size_t i = 0; i < n; i++) x |= (uint64_t)r->buf[r->pos + i] << (8 * i);
        f->u = x;
        r->pos += n;
        return ES_OK;
    }
    case 2: {
        uint64_t n;
        st = pb_varint(r, &n);
        if (st != ES_OK) return st;
        if (n > r->end - r->pos) return pb_fail(r, f->at, "length runs past the end of its message");
        f->off = r->pos;
        f->len = (size_t)n;
        r->pos += (size_t)n;
        return ES_OK;
    }
    default:
        return pb_fail(r, f->at, "unsupported wire type (groups are not allowed)");
    }
}

static es_status pb_expect(const pb_reader *r, const pb_field *f, int wire, const char *field) {
    if (f->wire == wire) return ES_OK;
    char msg[160];
    snprintf(msg, sizeof msg, "field %s has wire type %d, expected %d", field, f->wire, wire);
    return pb_fail(r, f->at, msg);
}

/* Reader over the payload of a length-delimited field. */
static pb_reader pb_sub(const pb_reader *r, const pb_field *f) {
    pb_reader s = *r;
    s.pos = f->off;
    s.end = f->off + f->len;
    return s;
}

/* --- parsed model (views into the file buffer) ----------------------- */

typedef struct str_view {
    size_t off, len;
    bool set;
} str_view;

typedef struct raw_piece {
    str_view piece;
    size_t at; /* offset of the piece message, for messages */
    float score;
    int type;
} raw_piece;

typedef struct raw_model {
    raw_piece *pieces;
    size_t n_pieces, cap_pieces;
    int64_t model_type;
    bool byte_fallback, treat_ws_suffix;
    str_view unk_surface, bos_piece, eos_piece, pad_piece;
    bool add_dummy_prefix, remove_extra_ws, escape_ws;
    str_view charsmap;
    size_t charsmap_at;
} raw_model;

static es_status parse_piece(pb_reader *r, raw_piece *p) {
    p->type = ES_SPM_NORMAL;
    p->score = 0.0f;
    while (r->pos < r->end) {
        pb_field f;
        es_status st = pb_next(r, &f);
        if (st != ES_OK) return st;
        if (f.number == 1) {
            if ((st = pb_expect(r, &f, 2, "SentencePiece.piece")) != ES_OK) return st;
            p->piece = (str_view){f.off, f.len, true};
        } else if (f.number == 2) {
            if ((st = pb_expect(r, &f, 5, "SentencePiece.score")) != ES_OK) return st;
            const uint32_t bits = (uint32_t)f.u;
            memcpy(&p->score, &bits, sizeof p->score);
            if (!isfinite(p->score)) return pb_fail(r, f.at, "piece score is not finite");
        } else if (f.number == 3) {
            if ((st = pb_expect(r, &f, 0, "SentencePiece.type")) != ES_OK) return st;
            if (f.u < ES_SPM_NORMAL || f.u > ES_SPM_BYTE) {
                char msg[96];
                snprintf(msg, sizeof msg, "unknown piece type %llu", (unsigned long long)f.u);
                return pb_fail(r, f.at, msg);
            }
            p->type = (int)f.u;
        }
    }
    return ES_OK;
}

static es_status parse_trainer(pb_reader *r, raw_model *m) {
    while (r->pos < r->end) {
        pb_field f;
        es_status st = pb_next(r, &f);
        if (st != ES_OK) return st;
        str_view *s = NULL;
        bool *b = NULL;
        switch (f.number) {
        case 3:
            if ((st = pb_expect(r, &f, 0, "TrainerSpec.model_type")) != ES_OK) return st;
            m->model_type = (int64_t)(int32_t)(uint32_t)f.u;
            break;
        case 24: b = &m->treat_ws_suffix; break;
        case 35: b = &m->byte_fallback; break;
        case 44: s = &m->unk_surface; break;
        case 46: s = &m->bos_piece; break;
        case 47: s = &m->eos_piece; break;
        case 48: s = &m->pad_piece; break;
        default: break;
        }
        if (b) {
            if ((st = pb_expect(r, &f, 0, "TrainerSpec bool")) != ES_OK) return st;
            *b = f.u != 0;
        }
        if (s) {
            if ((st = pb_expect(r, &f, 2, "TrainerSpec string")) != ES_OK) return st;
            *s = (str_view){f.off, f.len, true};
        }
    }
    return ES_OK;
}

static es_status parse_normalizer(pb_reader *r, raw_model *m) {
    while (r->pos < r->end) {
        pb_field f;
        es_status st = pb_next(r, &f);
        if (st != ES_OK) return st;
        bool *b = NULL;
        switch (f.number) {
        case 1:
            if ((st = pb_expect(r, &f, 2, "NormalizerSpec.name")) != ES_OK) return st;
            break;
        case 2:
            if ((st = pb_expect(r, &f, 2, "NormalizerSpec.precompiled_charsmap")) != ES_OK) return st;
            m->charsmap = (str_view){f.off, f.len, true};
            m->charsmap_at = f.at;
            break;
        case 3: b = &m->add_dummy_prefix; break;
        case 4: b = &m->remove_extra_ws; break;
        case 5: b = &m->escape_ws; break;
        default: break;
        }
        if (b) {
            if ((st = pb_expect(r, &f, 0, "NormalizerSpec bool")) != ES_OK) return st;
            *b = f.u != 0;
        }
    }
    return ES_OK;
}

static es_status parse_model(pb_reader *r, raw_model *m) {
    m->model_type = 1;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = true;
    while (r->pos < r->end) {
        pb_field f;
        es_status st = pb_next(r, &f);
        if (st != ES_OK) return st;
        if (f.number == 1) {
            if ((st = pb_expect(r, &f, 2, "ModelProto.pieces")) != ES_OK) return st;
            if (m->n_pieces == m->cap_pieces) {
                const size_t cap = m->cap_pieces ? m->cap_pieces * 2 : 1024;
                size_t bytes;
                if (!es_mul_ok(cap, sizeof *m->pieces, &bytes)) {
                    return es_errf(r->err, ES_ERR_NOMEM, "%s: too many pieces", r->name);
                }
                raw_piece *p = es_realloc(m->pieces, bytes);
                if (!p) {
                    return es_errf(r->err, ES_ERR_NOMEM, "%s: out of memory reading pieces", r->name);
                }
                m->pieces = p;
                m->cap_pieces = cap;
            }
            raw_piece *p = &m->pieces[m->n_pieces];
            memset(p, 0, sizeof *p);
            p->at = f.at;
            pb_reader s = pb_sub(r, &f);
            if ((st = parse_piece(&s, p)) != ES_OK) return st;
            m->n_pieces++;
        } else if (f.number == 2 || f.number == 3) {
            if ((st = pb_expect(r, &f, 2, f.number == 2 ? "ModelProto.trainer_spec"
                                                         : "ModelProto.normalizer_spec")) != ES_OK) {
                return st;
            }
            pb_reader s = pb_sub(r, &f);
            st = f.number == 2 ? parse_trainer(&s, m) : parse_normalizer(&s, m);
            if (st != ES_OK) return st;
        } else if (f.number == 4 || f.number == 5) {
            /* Skipped sub-messages must still be well-formed protobuf. */
            if ((st = pb_expect(r, &f, 2, "ModelProto sub-message")) != ES_OK) return st;
            pb_reader s = pb_sub(r, &f);
            while (s.pos < s.end) {
                pb_field g;
                if ((st = pb_next(&s, &g)) != ES_OK) return st;
            }
        }
    }
    return ES_OK;
}

/* --- building the tokenizer ------------------------------------------ */

/* "<0xXX>" with upper-case hex (SentencePiece's ByteToPiece), else -1. */
static int piece_to_byte(const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *h = memchr(hex, s[3], 16), *l = memchr(hex, s[4], 16);
    if (!h || !l || s[3] == 0 || s[4] == 0) return -1;
    return (int)((h - hex) * 16 + (l - hex));
}

int32_t es_tok_piece_to_id(const es_tokenizer *tok, const char *s, size_t n) {
    for (int32_t i = 0; i < tok->n_pieces; i++) {
        const es_tok_piece *p = &tok->pieces[i];
        const bool reserved = p->type == ES_SPM_CONTROL || p->type == ES_SPM_UNKNOWN ||
                              p->type == ES_SPM_BYTE;
        if (reserved && p->len == n && memcmp(tok->strings + p->str, s, n) == 0) return i;
    }
    return es_tok_trie_find(&tok->trie, s, n);
}

static es_status load_charsmap(es_tokenizer *tok, const uint8_t *buf, const raw_model *m,
                               const char *name, es_error *err) {
    if (!m->charsmap.set || m->charsmap.len == 0) return ES_OK;
    const uint8_t *b = buf + m->charsmap.off;
    const size_t n = m->charsmap.len;
    const size_t at = m->charsmap_at;
    if (n <= 4) {
        return es_errf(err, ES_ERR_FORMAT, "%s: byte %zu: precompiled_charsmap of %zu bytes is too short",
                       name, at, n);
    }
    const uint32_t trie_size = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
                               ((uint32_t)b[3] << 24);
    if (trie_size == 0 || trie_size % 4 != 0 || trie_size > n - 4) {
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: byte %zu: precompiled_charsmap trie size %u does not fit its %zu bytes",
                       name, at, trie_size, n);
    }
    tok->cm_n_units = trie_size / 4;
    tok->cm_norm_len = n - 4 - trie_size;
    tok->cm_units = es_calloc(tok->cm_n_units, sizeof *tok->cm_units);
    tok->cm_norm = es_malloc(tok->cm_norm_len + 1);
    if (!tok->cm_units || !tok->cm_norm) {
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory for the normalizer table", name);
    }
    for (size_t i = 0; i < tok->cm_n_units; i++) {
        const uint8_t *u = b + 4 + 4 * i;
        tok->cm_units[i] = (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) |
                           ((uint32_t)u[3] << 24);
    }
    memcpy(tok->cm_norm, b + 4 + trie_size, tok->cm_norm_len);
    tok->cm_norm[tok->cm_norm_len] = '\0';
    /* Leaf units (bit 31) hold blob offsets: check each one's string, so
     * normalized text is valid UTF-8 whatever the file says. */
    for (size_t i = 0; i < tok->cm_n_units; i++) {
        const uint32_t u = tok->cm_units[i];
        if (!(u >> 31)) continue;
        const size_t v = u & 0x7FFFFFFFu;
        if (v >= tok->cm_norm_len) {
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: byte %zu: precompiled_charsmap unit %zu points past the string table",
                           name, at, i);
        }
        const char *z = memchr(tok->cm_norm + v, 0, tok->cm_norm_len - v);
        const size_t len = z ? (size_t)(z - (tok->cm_norm + v)) : tok->cm_norm_len - v;
        if (!es_utf8_valid((const uint8_t *)tok->cm_norm + v, len)) {
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: byte %zu: precompiled_charsmap replacement at %zu is not valid UTF-8",
                           name, at, v);
        }
    }
    return ES_OK;
}

static es_status build(es_tokenizer *tok, const uint8_t *buf, const raw_model *m, const char *name,
                       int n_extra, es_error *err) {
    if (m->model_type != 1) {
        static const char *const k_types[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
        const char *t = m->model_type >= 0 && m->model_type <= 4 ? k_types[m->model_type] : "?";
        return es_errf(err, ES_ERR_UNSUPPORTED,
                       "%s: model_type %lld (%s) is not supported, only UNIGRAM", name,
                       (long long)m->model_type, t);
    }
    if (m->n_pieces == 0) return es_errf(err, ES_ERR_FORMAT, "%s: the model has no pieces", name);
    if (m->n_pieces > (size_t)INT32_MAX - (size_t)n_extra) {
        return es_errf(err, ES_ERR_FORMAT, "%s: %zu pieces is too many", name, m->n_pieces);
    }
    tok->n_pieces = (int32_t)m->n_pieces;
    tok->n_extra = n_extra;
    const size_t n_ids = m->n_pieces + (size_t)n_extra;

    /* Validate pieces and size the string table. */
    size_t str_bytes = 0;
    int32_t unk = -1;
    bool byte_seen[256] = {false};
    for (size_t i = 0; i < m->n_pieces; i++) {
        const raw_piece *p = &m->pieces[i];
        const uint8_t *s = buf + p->piece.off;
        if (p->piece.len == 0) {
            return es_errf(err, ES_ERR_FORMAT, "%s: byte %zu: piece %zu is empty", name, p->at, i);
        }
        if (memchr(s, 0, p->piece.len)) {
            return es_errf(err, ES_ERR_FORMAT, "%s: byte %zu: piece %zu contains a NUL byte", name,
                           p->at, i);
        }
        if (!es_utf8_valid(s, p->piece.len)) {
            return es_errf(err, ES_ERR_FORMAT, "%s: byte %zu: piece %zu is not valid UTF-8", name,
                           p->at, i);
        }
        if (p->type == ES_SPM_UNKNOWN) {
            if (unk >= 0) {
                return es_errf(err, ES_ERR_FORMAT, "%s: byte %zu: pieces %d and %zu are both UNKNOWN",
                               name, p->at, unk, i);
            }
            unk = (int32_t)i;
        }
        if (p->type == ES_SPM_BYTE) {
            const int byte = piece_to_byte(s, p->piece.len);
            if (!m->byte_fallback) {
                return es_errf(err, ES_ERR_FORMAT,
                               "%s: byte %zu: BYTE piece %zu found although byte_fallback is false",
                               name, p->at, i);
            }
            if (byte < 0) {
                return es_errf(err, ES_ERR_FORMAT, "%s: byte %zu: BYTE piece %zu is not <0xXX>", name,
                               p->at, i);
            }
            byte_seen[byte] = true;
            tok->byte_id[byte] = (int32_t)i;
        }
        str_bytes += p->piece.len + 1;
    }
    if (unk < 0) return es_errf(err, ES_ERR_FORMAT, "%s: no UNKNOWN (<unk>) piece", name);
    if (m->byte_fallback) {
        for (int b = 0; b < 256; b++) {
            if (!byte_seen[b]) {
                return es_errf(err, ES_ERR_FORMAT,
                               "%s: byte_fallback is set but piece <0x%02X> is missing", name, b);
            }
        }
    }
    tok->unk_id = unk;
    tok->byte_fallback = m->byte_fallback;
    str_bytes += (size_t)n_extra * 24; /* "<extra_id_NNNNNNN>" + NUL */
    if (str_bytes > UINT32_MAX) return es_errf(err, ES_ERR_FORMAT, "%s: piece strings too large", name);

    tok->pieces = es_calloc(n_ids, sizeof *tok->pieces);
    tok->strings = es_malloc(str_bytes);
    if (!tok->pieces || !tok->strings) {
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory for %zu pieces", name, n_ids);
    }
    size_t pos = 0;
    tok->min_score = FLT_MAX;
    tok->max_score = FLT_MIN; /* sic: SentencePiece starts from FLT_MIN, not -FLT_MAX */
    size_t n_trie = 0;
    for (size_t i = 0; i < m->n_pieces; i++) {
        const raw_piece *p = &m->pieces[i];
        es_tok_piece *q = &tok->pieces[i];
        q->str = (uint32_t)pos;
        q->len = (uint32_t)p->piece.len;
        q->score = p->score;
        q->type = (uint8_t)p->type;
        if (p->type == ES_SPM_BYTE) q->byte = (uint8_t)piece_to_byte(buf + p->piece.off, p->piece.len);
        memcpy(tok->strings + pos, buf + p->piece.off, p->piece.len);
        pos += p->piece.len;
        tok->strings[pos++] = '\0';
        if (p->type == ES_SPM_NORMAL) {
            tok->min_score = ES_MIN(tok->min_score, p->score);
            tok->max_score = ES_MAX(tok->max_score, p->score);
        }
        if (p->type == ES_SPM_NORMAL || p->type == ES_SPM_USER_DEFINED || p->type == ES_SPM_UNUSED) {
            n_trie++;
        }
    }
    for (int i = 0; i < n_extra; i++) {
        es_tok_piece *q = &tok->pieces[(size_t)tok->n_pieces + (size_t)n_extra - 1 - (size_t)i];
        const int w = snprintf(tok->strings + pos, 24, "<extra_id_%d>", i);
        q->str = (uint32_t)pos;
        q->len = (uint32_t)w;
        q->type = ES_SPM_USER_DEFINED;
        pos += (size_t)w + 1;
    }
    if (n_trie == 0) {
        return es_errf(err, ES_ERR_FORMAT, "%s: no NORMAL, USER_DEFINED or UNUSED piece", name);
    }

    /* Tries: all matchable pieces, and the user-defined ones alone. */
    /* room for every piece: the reserved pass below may hold more keys */
    const char **keys = es_calloc(m->n_pieces, sizeof *keys);
    uint32_t *lens = es_calloc(m->n_pieces, sizeof *lens);
    int32_t *vals = es_calloc(m->n_pieces, sizeof *vals);
    es_status st = ES_OK;
    if (!keys || !lens || !vals) {
        st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory building the piece trie", name);
        goto done;
    }
    for (int pass = 0; pass < 2 && st == ES_OK; pass++) {
        size_t k = 0;
        for (int32_t i = 0; i < tok->n_pieces; i++) {
            const int t = tok->pieces[i].type;
            const bool in = pass == 0 ? (t == ES_SPM_NORMAL || t == ES_SPM_USER_DEFINED ||
                                         t == ES_SPM_UNUSED)
                                      : t == ES_SPM_USER_DEFINED;
            if (!in) continue;
            keys[k] = tok->strings + tok->pieces[i].str;
            lens[k] = tok->pieces[i].len;
            vals[k] = i;
            k++;
        }
        if (pass == 1 && k == 0) break;
        size_t dup;
        st = es_tok_trie_build(pass == 0 ? &tok->trie : &tok->user_trie, keys, lens, vals, k, &dup);
        if (st == ES_ERR_FORMAT) {
            st = es_errf(err, st, "%s: byte %zu: piece %d \"%s\" is defined twice", name,
                         m->pieces[vals[dup]].at, vals[dup], keys[dup]);
        } else if (st != ES_OK) {
            st = es_errf(err, st, "%s: out of memory building the piece trie", name);
        }
    }
    if (st != ES_OK) goto done;

    /* Reserved pieces (CONTROL, UNKNOWN, BYTE) must be unique too. */
    {
        size_t k = 0;
        for (int32_t i = 0; i < tok->n_pieces; i++) {
            const int t = tok->pieces[i].type;
            if (t != ES_SPM_CONTROL && t != ES_SPM_UNKNOWN && t != ES_SPM_BYTE) continue;
            keys[k] = tok->strings + tok->pieces[i].str;
            lens[k] = tok->pieces[i].len;
            vals[k] = i;
            k++;
        }
        es_tok_trie tmp;
        size_t dup;
        st = es_tok_trie_build(&tmp, keys, lens, vals, k, &dup);
        if (st == ES_ERR_FORMAT) {
            st = es_errf(err, st, "%s: byte %zu: piece %d \"%s\" is defined twice", name,
                         m->pieces[vals[dup]].at, vals[dup], keys[dup]);
        } else if (st != ES_OK) {
            st = es_errf(err, st, "%s: out of memory checking reserved pieces", name);
        } else {
            es_tok_trie_free(&tmp);
        }
    }
done:
    es_free(keys);
    es_free(lens);
    es_free(vals);
    if (st != ES_OK) return st;

    /* Special ids (SentencePieceProcessor: the id of the piece name when
     * that piece is CONTROL, else -1). */
    const str_view *views[3] = {&m->bos_piece, &m->eos_piece, &m->pad_piece};
    const char *defaults[3] = {"<s>", "</s>", "<pad>"};
    int32_t *dst[3] = {&tok->bos_id, &tok->eos_id, &tok->pad_id};
    for (int i = 0; i < 3; i++) {
        const str_view *v = views[i];
        *dst[i] = v->set ? es_tok_piece_to_id(tok, (const char *)buf + v->off, v->len)
                         : es_tok_piece_to_id(tok, defaults[i], strlen(defaults[i]));
        if (*dst[i] >= 0 && tok->pieces[*dst[i]].type != ES_SPM_CONTROL) *dst[i] = -1;
    }

    const char *surf = " \xE2\x81\x87 ";
    size_t surf_len = strlen(surf);
    if (m->unk_surface.set) {
        surf = (const char *)buf + m->unk_surface.off;
        surf_len = m->unk_surface.len;
        if (!es_utf8_valid((const uint8_t *)surf, surf_len)) {
            return es_errf(err, ES_ERR_FORMAT, "%s: trainer_spec.unk_surface is not valid UTF-8", name);
        }
    }
    tok->unk_surface = es_malloc(surf_len + 1);
    if (!tok->unk_surface) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
    memcpy(tok->unk_surface, surf, surf_len);
    tok->unk_surface[surf_len] = '\0';
    tok->unk_surface_len = surf_len;

    tok->add_dummy_prefix = m->add_dummy_prefix;
    tok->remove_extra_whitespaces = m->remove_extra_ws;
    tok->escape_whitespaces = m->escape_ws;
    tok->treat_whitespace_as_suffix = m->treat_ws_suffix;
    return load_charsmap(tok, buf, m, name, err);
}

/* --- public API ------------------------------------------------------- */

es_status es_tokenizer_load_mem(es_tokenizer **out, const void *data, size_t size, const char *name,
                                int n_extra_ids, es_error *err) {
    if (!out) return es_errf(err, ES_ERR_ARG, "es_tokenizer_load_mem: out is NULL");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size > 0) return es_errf(err, ES_ERR_ARG, "%s: data is NULL", name);
    if (n_extra_ids < 0 || n_extra_ids > ES_TOK_MAX_EXTRA) {
        return es_errf(err, ES_ERR_ARG, "%s: n_extra_ids %d is outside 0..%d", name, n_extra_ids,
                       ES_TOK_MAX_EXTRA);
    }
    raw_model m;
    memset(&m, 0, sizeof m);
    pb_reader r = {(const uint8_t *)data, 0, size, name, err};
    es_status st = parse_model(&r, &m);
    es_tokenizer *tok = NULL;
    if (st == ES_OK) {
        tok = es_calloc(1, sizeof *tok);
        if (!tok) {
            st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
        } else {
            for (int b = 0; b < 256; b++) tok->byte_id[b] = -1;
            st = build(tok, (const uint8_t *)data, &m, name, n_extra_ids, err);
        }
    }
    es_free(m.pieces);
    if (st != ES_OK) {
        es_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return ES_OK;
}

es_status es_tokenizer_load(es_tokenizer **out, const char *path, int n_extra_ids, es_error *err) {
    if (!out) return es_errf(err, ES_ERR_ARG, "es_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path) return es_errf(err, ES_ERR_ARG, "es_tokenizer_load: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return es_errf(err, ES_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    es_status st = ES_OK;
    for (;;) {
        if (cap - len < 65536) {
            if (cap >= ES_TOK_MAX_FILE) {
                st = es_errf(err, ES_ERR_IO, "%s: larger than the limit of %zu bytes", path,
                             ES_TOK_MAX_FILE);
                break;
            }
            const size_t ncap = cap ? cap * 2 : 1u << 20;
            uint8_t *nb = es_realloc(buf, ncap);
            if (!nb) {
                st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        const size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) st = es_errf(err, ES_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == ES_OK) st = es_tokenizer_load_mem(out, buf, len, path, n_extra_ids, err);
    es_free(buf);
    return st;
}

void es_tokenizer_free(es_tokenizer *tok) {
    if (!tok) return;
    es_free(tok->pieces);
    es_free(tok->strings);
    es_free(tok->unk_surface);
    es_free(tok->cm_units);
    es_free(tok->cm_norm);
    es_tok_trie_free(&tok->trie);
    es_tok_trie_free(&tok->user_trie);
    es_free(tok);
}

int32_t es_tokenizer_vocab_size(const es_tokenizer *tok) {
    return tok ? tok->n_pieces + tok->n_extra : 0;
}
int32_t es_tokenizer_eos_id(const es_tokenizer *tok) { return tok ? tok->eos_id : -1; }
int32_t es_tokenizer_pad_id(const es_tokenizer *tok) { return tok ? tok->pad_id : -1; }
int32_t es_tokenizer_unk_id(const es_tokenizer *tok) { return tok ? tok->unk_id : -1; }

const char *es_tokenizer_piece(const es_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_pieces + tok->n_extra) return NULL;
    return tok->strings + tok->pieces[id].str;
}
