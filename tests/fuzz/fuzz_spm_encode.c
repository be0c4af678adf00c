/*
 * fuzz_spm_encode.c — libFuzzer target: arbitrary bytes as text to encode.
 * The first input byte picks a model: three synthetic ones built in memory
 * (test_tok_pb.h: user-defined and unused pieces; byte fallback; no
 * whitespace escaping / collapsing) and, when the fixture exists next to
 * the source tree (../shared), the real T5 model with its nmt_nfkc
 * charsmap. Checks the encode invariants, then decodes the ids and also
 * decodes the raw input read as int32 ids (negatives must be ES_ERR_ARG).
 */
#include "edgeseq.h"
#include "tok/utf8.h"
#include "../unit/test_tok_pb.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)              \
    do {                            \
        if (!(c)) __builtin_trap(); \
    } while (0)

#define N_MODELS 4
static es_tokenizer *g_tok[N_MODELS];
static int g_n_tok;

static void init(void) {
    static const int k_opts[3][5] = {{0, -1, -1, -1, 2}, {1, -1, -1, -1, 0}, {0, 1, 0, 0, 100}};
    for (int i = 0; i < 3; i++) {
        tok_model_opts o = tok_model_defaults();
        o.byte_fallback = k_opts[i][0];
        o.add_dummy_prefix = k_opts[i][1];
        o.remove_extra_ws = k_opts[i][2];
        o.escape_ws = k_opts[i][3];
        pbw w;
        tok_model_build(&w, &o);
        es_tokenizer *t = NULL;
        if (es_tokenizer_load_mem(&t, w.p, w.len, "synthetic", k_opts[i][4], NULL) == ES_OK) {
            g_tok[g_n_tok++] = t;
        }
        pbw_free(&w);
    }
    /* tests/fuzz/<this file> -> ../shared next to the source tree */
    char path[4096];
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    if (slash && (size_t)(slash - f) < sizeof path - 64) {
        snprintf(path, sizeof path, "%.*s/../../../shared/fixtures/tokenizer/spiece.model",
                 (int)(slash - f), f);
        es_tokenizer *t = NULL;
        if (es_tokenizer_load(&t, path, 100, NULL) == ES_OK) g_tok[g_n_tok++] = t;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_n_tok) init();
    if (size == 0 || g_n_tok == 0) return 0;
    const es_tokenizer *tok = g_tok[data[0] % g_n_tok];
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;

    size_t n = 0, nlen = 0;
    es_error err;
    es_status st = es_tokenizer_encode(tok, text, len, NULL, 0, &n, NULL, 0, &nlen, &err);
    FUZZ_ASSERT(st == ES_OK || st == ES_ERR_BUFFER);
    es_token *toks = malloc((n + 1) * sizeof *toks);
    char *norm = malloc(nlen + 1);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    size_t n2 = 0, nlen2 = 0;
    st = es_tokenizer_encode(tok, text, len, toks, n, &n2, norm, nlen, &nlen2, &err);
    FUZZ_ASSERT(st == ES_OK && n2 == n && nlen2 == nlen);
    FUZZ_ASSERT(es_utf8_valid((const uint8_t *)norm, nlen));
    const int32_t vocab = es_tokenizer_vocab_size(tok);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(toks[i].offset == off && toks[i].length > 0);
        FUZZ_ASSERT(toks[i].id >= 0 && toks[i].id < vocab);
        off += toks[i].length;
        ids[i] = toks[i].id;
    }
    FUZZ_ASSERT(off == nlen);

    size_t olen = 0;
    st = es_tokenizer_decode(tok, ids, n, 0, NULL, 0, &olen, &err);
    FUZZ_ASSERT(st == ES_OK || st == ES_ERR_BUFFER);
    char *out = malloc(olen + 1);
    size_t olen2 = 0;
    st = es_tokenizer_decode(tok, ids, n, 0, out, olen + 1, &olen2, &err);
    FUZZ_ASSERT(st == ES_OK && olen2 == olen && out[olen] == '\0');
    FUZZ_ASSERT(es_utf8_valid((const uint8_t *)out, olen));

    /* raw bytes as ids */
    const size_t n_raw = len / 4;
    int32_t *raw = malloc((n_raw + 1) * sizeof *raw);
    if (n_raw) memcpy(raw, text, n_raw * 4);
    int has_neg = 0;
    for (size_t i = 0; i < n_raw; i++) has_neg |= raw[i] < 0;
    char small[64];
    st = es_tokenizer_decode(tok, raw, n_raw, ES_DECODE_MARK_UNKNOWN_IDS, small, sizeof small, &olen,
                             &err);
    FUZZ_ASSERT(has_neg ? st == ES_ERR_ARG : (st == ES_OK || st == ES_ERR_BUFFER));

    free(raw);
    free(out);
    free(ids);
    free(norm);
    free(toks);
    return 0;
}
