/*
 * test_tok_pb.h — a tiny protobuf writer for tokenizer tests and fuzzers:
 * builds SentencePiece ModelProto files in memory (pieces, trainer_spec,
 * normalizer_spec) so hostile and feature-specific models can be made
 * without Python. Header-only, static functions; aborts on malloc failure
 * (test code only).
 */
#ifndef ES_TEST_TOK_PB_H
#define ES_TEST_TOK_PB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pbw {
    uint8_t *p;
    size_t len, cap;
} pbw;

static void pbw_bytes(pbw *w, const void *s, size_t n) {
    if (w->cap - w->len < n) {
        size_t c = w->cap ? w->cap : 256;
        while (c - w->len < n) c *= 2;
        w->p = realloc(w->p, c);
        if (!w->p) abort();
        w->cap = c;
    }
    if (n) memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void pbw_varint(pbw *w, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    pbw_bytes(w, b, n);
}

static void pbw_tag(pbw *w, uint32_t field, int wire) { pbw_varint(w, ((uint64_t)field << 3) | (uint64_t)wire); }

static void pbw_uint(pbw *w, uint32_t field, uint64_t v) {
    pbw_tag(w, field, 0);
    pbw_varint(w, v);
}

static void pbw_len(pbw *w, uint32_t field, const void *s, size_t n) {
    pbw_tag(w, field, 2);
    pbw_varint(w, n);
    pbw_bytes(w, s, n);
}

static void pbw_str(pbw *w, uint32_t field, const char *s) { pbw_len(w, field, s, strlen(s)); }

static void pbw_float(pbw *w, uint32_t field, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pbw_tag(w, field, 5);
    pbw_bytes(w, b, 4);
}

static void pbw_msg(pbw *w, uint32_t field, const pbw *sub) { pbw_len(w, field, sub->p, sub->len); }

static void pbw_free(pbw *w) {
    free(w->p);
    memset(w, 0, sizeof *w);
}

/* Appends one SentencePiece message (type 0 = leave the default). */
static void pbw_piece(pbw *w, const char *piece, float score, int type) {
    pbw m = {0};
    pbw_str(&m, 1, piece);
    pbw_float(&m, 2, score);
    if (type) pbw_uint(&m, 3, (uint64_t)type);
    pbw_msg(w, 1, &m);
    pbw_free(&m);
}

/* Options of the synthetic test model. */
typedef struct tok_model_opts {
    int byte_fallback;
    int user_defined;  /* add USER_DEFINED "<sep>" and "@@" */
    int unused;        /* add UNUSED "cc" */
    int model_type;    /* 0 = leave default (UNIGRAM) */
    int add_dummy_prefix, remove_extra_ws, escape_ws; /* -1 = leave default */
} tok_model_opts;

static tok_model_opts tok_model_defaults(void) {
    tok_model_opts o = {0, 1, 1, 0, -1, -1, -1};
    return o;
}

/* The synthetic model: <unk> 0, <s> 1, </s> 2 (CONTROL), a few NORMAL
 * pieces over {a, b, c, ▁}, optional user-defined / unused / 256 byte
 * pieces; identity normalizer (no charsmap). Caller frees out->p. */
static void tok_model_build(pbw *out, const tok_model_opts *o) {
    static const struct { const char *s; float score; } k_normal[] = {
        {"\xE2\x96\x81", -2.0f}, {"a", -3.0f}, {"b", -3.5f}, {"c", -4.0f},
        {"ab", -4.5f}, {"\xE2\x96\x81" "ab", -5.0f}, {"bc", -6.25f}, {"\xE2\x96\x81" "c", -5.5f},
        {"abc", -7.0f}, {"\xE2\x96\x81" "a", -4.75f}, {"ca", -6.0f}, {"\xC3\xA9", -6.5f},
    };
    memset(out, 0, sizeof *out);
    pbw_piece(out, "<unk>", 0.0f, 2);
    pbw_piece(out, "<s>", 0.0f, 3);
    pbw_piece(out, "</s>", 0.0f, 3);
    for (size_t i = 0; i < sizeof k_normal / sizeof k_normal[0]; i++) {
        pbw_piece(out, k_normal[i].s, k_normal[i].score, 0);
    }
    if (o->user_defined) {
        pbw_piece(out, "<sep>", 0.0f, 4);
        pbw_piece(out, "@@", 0.0f, 4);
    }
    if (o->unused) pbw_piece(out, "cc", -1.0f, 5);
    if (o->byte_fallback) {
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", b);
            pbw_piece(out, s, 0.0f, 6);
        }
    }
    pbw t = {0};
    pbw_uint(&t, 3, o->model_type ? (uint64_t)o->model_type : 1);
    pbw_uint(&t, 40, 0);
    pbw_uint(&t, 41, 1);
    pbw_uint(&t, 42, 2);
    pbw_uint(&t, 43, (uint64_t)-1);
    if (o->byte_fallback) pbw_uint(&t, 35, 1);
    pbw_msg(out, 2, &t);
    pbw_free(&t);
    pbw n = {0};
    pbw_str(&n, 1, "identity");
    if (o->add_dummy_prefix >= 0) pbw_uint(&n, 3, (uint64_t)o->add_dummy_prefix);
    if (o->remove_extra_ws >= 0) pbw_uint(&n, 4, (uint64_t)o->remove_extra_ws);
    if (o->escape_ws >= 0) pbw_uint(&n, 5, (uint64_t)o->escape_ws);
    pbw_msg(out, 3, &n);
    pbw_free(&n);
}

#endif
