/*
 * fuzz_spm_model.c — libFuzzer target: arbitrary bytes as a SentencePiece
 * model file. Loading must either fail cleanly (status + message, *out
 * NULL) or yield a tokenizer that encodes and decodes a fixed set of
 * awkward texts with the encode invariants intact (tokens tile the
 * normalized text, normalized text is valid UTF-8, ids in range). An
 * invariant violation traps so the fuzzer reports it.
 */
#include "edgeseq.h"
#include "tok/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                 \
    do {                               \
        if (!(c)) __builtin_trap();    \
    } while (0)

static void exercise(const es_tokenizer *tok, const char *text, size_t len) {
    es_token toks[256];
    char norm[1024];
    size_t n = 0, nlen = 0;
    es_error err;
    es_status st = es_tokenizer_encode(tok, text, len, toks, 256, &n, norm, sizeof norm, &nlen, &err);
    if (st == ES_ERR_BUFFER) return; /* huge expansion by a hostile charsmap */
    FUZZ_ASSERT(st == ES_OK);
    FUZZ_ASSERT(es_utf8_valid((const uint8_t *)norm, nlen));
    const int32_t vocab = es_tokenizer_vocab_size(tok);
    size_t off = 0;
    int32_t ids[256];
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(toks[i].offset == off && toks[i].length > 0);
        FUZZ_ASSERT(toks[i].id >= 0 && toks[i].id < vocab);
        off += toks[i].length;
        ids[i] = toks[i].id;
    }
    FUZZ_ASSERT(off == nlen);
    char out[4096];
    size_t olen;
    st = es_tokenizer_decode(tok, ids, n, 0, out, sizeof out, &olen, &err);
    FUZZ_ASSERT(st == ES_OK || st == ES_ERR_BUFFER);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    es_tokenizer *tok = NULL;
    es_error err;
    es_status st = es_tokenizer_load_mem(&tok, data, size, "fuzz.model", 3, &err);
    if (st != ES_OK) {
        FUZZ_ASSERT(tok == NULL && err.msg[0] != '\0');
        return 0;
    }
    static const struct {
        const char *s;
        size_t n;
    } k_texts[] = {
        {"", 0},
        {"Hello world, the whale!", 23},
        {"  a\xff\xfe  b  ", 10},
        {"abc ab<sep>c@@ a  cc \xc3\xa9 \xc3\xbc x", 27},
        {"\xef\xbc\xa1\xef\xbc\xa1 \xef\xbd\xb6 \xe2\x91\xa0 \x00\x01 \xe2\x96\x81", 20},
    };
    for (size_t i = 0; i < sizeof k_texts / sizeof k_texts[0]; i++) {
        exercise(tok, k_texts[i].s, k_texts[i].n);
    }
    /* every id decodes (extra ids and two past the end included) */
    const int32_t vocab = es_tokenizer_vocab_size(tok);
    for (int32_t id = 0; id < vocab + 2 && id < 4096; id++) {
        char out[256];
        size_t olen;
        st = es_tokenizer_decode(tok, &id, 1, ES_DECODE_MARK_UNKNOWN_IDS, out, sizeof out, &olen, &err);
        FUZZ_ASSERT(st == ES_OK || st == ES_ERR_BUFFER);
        FUZZ_ASSERT(es_tokenizer_piece(tok, id) != NULL || id >= vocab);
    }
    es_tokenizer_free(tok);
    return 0;
}
