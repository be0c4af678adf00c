/*
 * tok_internal.h — the layout of es_tokenizer and the functions the
 * tokenizer's files share (spm_model.c loads, normalizer.c normalizes,
 * unigram.c segments and encodes, decode.c detokenizes).
 *
 * Invariants after a successful load (spm_model.c checks them all, so the
 * hot paths below need no further validation):
 *  - 1 <= n_pieces, n_pieces + n_extra <= INT32_MAX;
 *  - every piece string is non-empty, NUL-free, valid UTF-8 (utf8.h rules),
 *    and NUL-terminated in `strings`; extra ids have strings too;
 *  - exactly one UNKNOWN piece (unk_id); no duplicate among the trie
 *    pieces (NORMAL / USER_DEFINED / UNUSED) nor among the reserved ones
 *    (CONTROL / UNKNOWN / BYTE); at least one trie piece;
 *  - byte_fallback implies all 256 "<0xXX>" BYTE pieces exist;
 *  - charsmap (if any): every unit index reached is bounds-checked at
 *    lookup; every leaf value points inside cm_norm at a valid UTF-8
 *    string, so normalized text is always valid UTF-8.
 */
#ifndef ES_TOK_INTERNAL_H
#define ES_TOK_INTERNAL_H

#include "core/common.h"

/* SentencePiece piece types (sentencepiece_model.proto values). */
enum {
    ES_SPM_NORMAL = 1,
    ES_SPM_UNKNOWN = 2,
    ES_SPM_CONTROL = 3,
    ES_SPM_USER_DEFINED = 4,
    ES_SPM_UNUSED = 5,
    ES_SPM_BYTE = 6
};

/* A byte trie in CSR form, built once from sorted keys. Node 0 is the
 * root; the edges of node i are [first[i], first[i+1]), sorted by label. */
typedef struct es_tok_trie {
    uint32_t n_nodes;
    uint32_t *first; /* (n_nodes + 1) */
    int32_t *value;  /* (n_nodes) id stored at the node, -1 if none */
    uint8_t *label;  /* (n_edges) */
    uint32_t *child; /* (n_edges) */
} es_tok_trie;

typedef struct es_tok_piece {
    uint32_t str; /* offset into es_tokenizer.strings (NUL-terminated) */
    uint32_t len; /* bytes, without the NUL */
    float score;
    uint8_t type; /* ES_SPM_*; extra ids are typed ES_SPM_USER_DEFINED */
    uint8_t byte; /* the byte of a BYTE piece "<0xXX>" */
} es_tok_piece;

struct es_tokenizer {
    int32_t n_pieces; /* SentencePiece pieces */
    int32_t n_extra;  /* appended <extra_id_*> sentinels */
    es_tok_piece *pieces; /* (n_pieces + n_extra) */
    char *strings;        /* piece strings, each NUL-terminated */

    int32_t unk_id, eos_id, pad_id, bos_id;
    float min_score, max_score; /* over NORMAL pieces, as SentencePiece */
    bool byte_fallback;
    int32_t byte_id[256]; /* id of "<0xXX>", -1 without byte fallback */
    char *unk_surface;    /* decode text of <unk>, NUL-terminated */
    size_t unk_surface_len;

    /* normalizer_spec / trainer_spec flags */
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    bool treat_whitespace_as_suffix;

    /* precompiled_charsmap: darts-clone double array + replacement blob */
    uint32_t *cm_units; /* (cm_n_units) little-endian decoded */
    size_t cm_n_units;
    char *cm_norm; /* (cm_norm_len) NUL-separated replacement strings */
    size_t cm_norm_len;

    es_tok_trie trie;      /* NORMAL, USER_DEFINED, UNUSED pieces -> id */
    es_tok_trie user_trie; /* USER_DEFINED pieces only (n_nodes 0 if none) */
};

/* Builds a trie over n keys (keys[i], lens[i]) with values vals[i]. The
 * keys need not be sorted; duplicates are refused (*dup receives the index
 * of one duplicate, else -1) with ES_ERR_FORMAT. ES_ERR_NOMEM on failure.
 * On error the trie is left empty (nothing to free). */
es_status es_tok_trie_build(es_tok_trie *t, const char *const *keys, const uint32_t *lens,
                            const int32_t *vals, size_t n, size_t *dup);
void es_tok_trie_free(es_tok_trie *t);

/* Child of node along byte c, or -1. */
static inline int64_t es_tok_trie_step(const es_tok_trie *t, uint32_t node, uint8_t c) {
    uint32_t lo = t->first[node], hi = t->first[node + 1];
    const uint32_t end = hi;
    /* narrow [lo, hi) to a short window that starts at or before the
     * first label >= c, then scan forward */
    while (hi - lo > 8) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (t->label[mid] < c) lo = mid + 1;
        else hi = mid + 1;
    }
    for (; lo < end; lo++) {
        if (t->label[lo] == c) return t->child[lo];
        if (t->label[lo] > c) break;
    }
    return -1;
}

/* Id stored for exactly the key s[0..n), or -1. */
int32_t es_tok_trie_find(const es_tok_trie *t, const char *s, size_t n);

/* Longest normalized text accepted (token offsets are uint32_t and the
 * Viterbi indexes positions with int32_t). */
#define ES_TOK_MAX_NORM ((size_t)1 << 30)

/* Growable byte buffer for scratch strings (es_malloc'd). */
typedef struct es_tok_buf {
    char *p;
    size_t len, cap;
} es_tok_buf;

/* Appends n bytes; false on allocation failure (buffer unchanged). */
bool es_tok_buf_append(es_tok_buf *b, const void *s, size_t n);

/* Normalizes text exactly as SentencePiece's Normalizer::Normalize with
 * this model's spec: user-defined symbols pass through, the charsmap
 * rewrites the longest matching prefix, invalid bytes become U+FFFD one
 * byte at a time, whitespace is trimmed/collapsed, the dummy prefix added
 * and spaces escaped to U+2581. Output appended to *out (valid UTF-8).
 * ES_ERR_NOMEM on allocation failure, ES_ERR_ARG past ES_TOK_MAX_NORM. */
es_status es_tok_normalize(const es_tokenizer *tok, const uint8_t *text, size_t len,
                           es_tok_buf *out, es_error *err);

/* Id of a piece string as SentencePiece's PieceToId: reserved pieces
 * (CONTROL / UNKNOWN / BYTE) first, then the trie; -1 when absent. */
int32_t es_tok_piece_to_id(const es_tokenizer *tok, const char *s, size_t n);

#endif
