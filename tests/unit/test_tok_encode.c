/*
 * test_tok_encode.c — es_tokenizer_encode / es_tokenizer_decode beyond the
 * fixture cases: invalid UTF-8 (our documented behaviour = the official
 * library's: each invalid byte is an unknown U+FFFD), every single byte
 * value, NUL bytes, 1 MB inputs (speed, no quadratic behaviour), the
 * ES_ERR_BUFFER contract, decode rules (extra ids, out-of-range ids,
 * negative ids), and features the T5 model lacks — byte fallback,
 * USER_DEFINED and UNUSED pieces, the whitespace options — on synthetic
 * models (test_tok_pb.h). Every expected id list here was produced by the
 * official sentencepiece 0.1.97 on the same input / the same model bytes.
 */
#include "edgeseq.h"
#include "test.h"
#include "test_tok_pb.h"

#include <time.h>

/* sp.encode(bytes([c])) for c = 0..255 (-1 = no token). */
static const int32_t k_byte_ids[256][2] = {
    {58, 2}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1},
    {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1},
    {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1},
    {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1},
    {-1, -1}, {58, 107}, {104, -1}, {58, 2}, {2407, -1}, {58, 8295}, {8771, -1}, {1610, -1},
    {331, -1}, {58, 706}, {3944, -1}, {5914, -1}, {58, 4}, {435, -1}, {58, 6}, {58, 9675},
    {16497, -1}, {486, -1}, {836, -1}, {880, -1}, {1084, -1}, {1094, -1}, {1541, -1}, {1995, -1},
    {2275, -1}, {3141, -1}, {58, 147}, {58, 26}, {58, 2}, {58, 2}, {58, 2}, {58, 148},
    {58, 26557}, {130, -1}, {1012, -1}, {974, -1}, {1172, -1}, {1330, -1}, {1590, -1}, {2791, -1},
    {2830, -1}, {21, -1}, {4484, -1}, {6151, -1}, {4047, -1}, {848, -1}, {2170, -1}, {2164, -1},
    {1303, -1}, {58, 31981}, {1449, -1}, {590, -1}, {1387, -1}, {1337, -1}, {3107, -1}, {1694, -1},
    {17819, -1}, {9625, -1}, {58, 18706}, {1366, -1}, {58, 2}, {58, 1373}, {58, 2}, {58, 31996},
    {58, 31994}, {10, -1}, {4356, -1}, {2970, -1}, {1785, -1}, {6142, -1}, {5448, -1}, {5555, -1},
    {5266, -1}, {11601, -1}, {30527, -1}, {21274, -1}, {11536, -1}, {7553, -1}, {9958, -1}, {3620, -1},
    {2911, -1}, {58, 31999}, {8860, -1}, {3700, -1}, {3216, -1}, {23358, -1}, {8862, -1}, {8576, -1},
    {58, 7738}, {58, 174}, {15210, -1}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {-1, -1},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
    {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2}, {58, 2},
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Encodes and checks the structural invariants: tokens tile the
 * normalized text, ids in range. Returns the count (toks: room for cap). */
static size_t encode(const es_tokenizer *tok, const char *text, size_t len, es_token *toks,
                     size_t cap, char *norm, size_t norm_cap, size_t *nlen) {
    size_t n = 0;
    es_error err;
    es_status st = es_tokenizer_encode(tok, text, len, toks, cap, &n, norm, norm_cap, nlen, &err);
    CHECK(st == ES_OK, "encode of %zu bytes: %s", len, err.msg);
    if (st != ES_OK) return 0;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(toks[i].offset == off && toks[i].length > 0, "token %zu does not tile", i);
        CHECK(toks[i].id >= 0 && toks[i].id < es_tokenizer_vocab_size(tok), "token %zu id %d", i,
              toks[i].id);
        off = toks[i].offset + toks[i].length;
    }
    CHECK(off == *nlen, "tokens cover %zu of %zu normalized bytes", off, *nlen);
    return n;
}

static void expect_ids(const es_tokenizer *tok, const char *text, size_t len, const int32_t *want,
                       size_t n_want, const char *what) {
    es_token toks[256];
    char norm[1024];
    size_t nlen = 0;
    const size_t n = encode(tok, text, len, toks, 256, norm, sizeof norm, &nlen);
    int same = n == n_want;
    for (size_t i = 0; same && i < n; i++) same = toks[i].id == want[i];
    CHECK(same, "%s: ids differ from the official library (%zu vs %zu tokens)", what, n, n_want);
    if (!same) {
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", toks[i].id);
        fprintf(stderr, "\n");
    }
}

static void expect_decode(const es_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
                          const char *want, const char *what) {
    char out[512];
    size_t len = 0;
    es_error err;
    es_status st = es_tokenizer_decode(tok, ids, n, flags, out, sizeof out, &len, &err);
    CHECK(st == ES_OK && len == strlen(want) && memcmp(out, want, len) == 0 && out[len] == '\0',
          "%s: decoded \"%.*s\", expected \"%s\" (%s)", what, (int)len, out, want, err.msg);
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (sizeof((const int32_t[]){__VA_ARGS__}) / 4)

static void test_invalid_utf8(const es_tokenizer *tok) {
    /* each invalid byte -> U+FFFD (3 bytes) in the normalized text -> <unk> */
    expect_ids(tok, "a\xff" "b", 3, IDS(10, 2, 7938), "a\\xffb");
    expect_ids(tok, "\xe2\x96", 2, IDS(58, 2), "truncated 3-byte sequence");
    expect_ids(tok, "\xed\xa0\x80", 3, IDS(58, 2), "surrogate");
    expect_ids(tok, "\xf4\x90\x80\x80", 4, IDS(58, 2), "above U+10FFFF");
    expect_ids(tok, "\xc0\xaf", 2, IDS(58, 2), "overlong");
    expect_ids(tok, "  a\xff\xfe  b  ", 10, IDS(10, 2, 4356), "invalid bytes between spaces");
    expect_ids(tok, "a\0\0b", 4, IDS(10, 2, 7938), "NUL bytes");
    /* a literal U+FFFD is a space for nmt_nfkc: nothing is left */
    es_token toks[8];
    char norm[64];
    size_t nlen = 99;
    CHECK(encode(tok, "\xef\xbf\xbd", 3, toks, 8, norm, sizeof norm, &nlen) == 0 && nlen == 0,
          "literal U+FFFD should vanish");
    /* the surface of an invalid run is one U+FFFD per byte */
    const size_t n = encode(tok, "\xed\xa0\x80", 3, toks, 8, norm, sizeof norm, &nlen);
    CHECK(n == 2 && toks[1].length == 9 &&
              memcmp(norm + toks[1].offset, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9) == 0,
          "unk surface of 3 invalid bytes");
}

static void test_every_byte(const es_tokenizer *tok) {
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        const char s[1] = {(char)c};
        es_token toks[4];
        char norm[16];
        size_t nlen = 0;
        const size_t n = encode(tok, s, 1, toks, 4, norm, sizeof norm, &nlen);
        const size_t want = k_byte_ids[c][0] < 0 ? 0 : (k_byte_ids[c][1] < 0 ? 1 : 2);
        int same = n == want;
        for (size_t i = 0; same && i < n; i++) same = toks[i].id == k_byte_ids[c][i];
        if (!same) bad++;
        CHECK(same, "single byte 0x%02x", c);
    }
    CHECK(bad == 0, "%d single bytes differ", bad);
}

static void test_long(const es_tokenizer *tok) {
    /* 1 MB of text: prose-like words, every 997th byte invalid */
    const size_t len = 1 << 20;
    char *text = malloc(len);
    static const char *words[] = {"the ", "whale ", "Ishmael ", "of ", "sea, ", "État ", "日本 ",
                                  "x", "  ", "\n"};
    size_t pos = 0;
    unsigned r = 12345;
    while (pos < len) {
        r = r * 1103515245u + 12345u;
        const char *w = words[(r >> 16) % 10];
        for (size_t i = 0; w[i] && pos < len; i++) text[pos++] = w[i];
    }
    for (size_t i = 996; i < len; i += 997) text[i] = (char)0xFF;
    size_t n = 0, nlen = 0;
    es_error err;
    double t0 = now_s();
    es_status st = es_tokenizer_encode(tok, text, len, NULL, 0, &n, NULL, 0, &nlen, &err);
    CHECK(st == ES_ERR_BUFFER && n > 100000, "1 MB size query: %d, %zu tokens", st, n);
    es_token *toks = malloc(n * sizeof *toks);
    char *norm = malloc(nlen);
    size_t n2 = encode(tok, text, len, toks, n, norm, nlen, &nlen);
    double dt = now_s() - t0;
    printf("1 MB encode (size query + encode): %zu tokens, %.3f s\n", n2, dt);
    CHECK(n2 == n, "token count differs between query and encode");
    /* decode of the 1 MB output, sized then written */
    int32_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = toks[i].id;
    size_t dlen = 0;
    st = es_tokenizer_decode(tok, ids, n, 0, NULL, 0, &dlen, &err);
    CHECK(st == ES_ERR_BUFFER && dlen > len / 2, "decode size query %d %zu", st, dlen);
    char *dec = malloc(dlen + 1);
    st = es_tokenizer_decode(tok, ids, n, 0, dec, dlen + 1, &dlen, &err);
    CHECK(st == ES_OK && dec[dlen] == '\0', "decode 1 MB: %s", err.msg);
    free(dec);
    free(ids);
    /* no quadratic path: 200,000 x in linear time */
    const size_t big = 200000;
    char *xs = malloc(big);
    memset(xs, 'x', big);
    free(toks);
    toks = malloc((big + 1) * sizeof *toks);
    free(norm);
    norm = malloc(big + 16);
    t0 = now_s();
    size_t nx = encode(tok, xs, big, toks, big + 1, norm, big + 16, &nlen);
    printf("200k 'x': %zu tokens, %.3f s\n", nx, now_s() - t0);
    /* the vocabulary has no "xx": "▁" then one "x" (7738) per byte */
    CHECK(nx == big + 1 && nlen == big + 3 && toks[0].id == 58 && toks[big].id == 7738, "x run");
    free(xs);
    free(toks);
    free(norm);
    free(text);
}

static void test_buffers(const es_tokenizer *tok) {
    const char *text = "The whale, the sea.";
    es_token toks[32];
    char norm[64];
    size_t n = 0, nlen = 0;
    es_error err;
    es_status st = es_tokenizer_encode(tok, text, strlen(text), toks, 2, &n, norm, sizeof norm, &nlen,
                                       &err);
    CHECK(st == ES_ERR_BUFFER && n > 2, "too few tokens: %d, need %zu", st, n);
    const size_t need = n;
    st = es_tokenizer_encode(tok, text, strlen(text), toks, need, &n, norm, 5, &nlen, &err);
    CHECK(st == ES_ERR_BUFFER && nlen == strlen(text) + 3 * 3, "norm too small: %d, need %zu", st,
          nlen);
    st = es_tokenizer_encode(tok, text, strlen(text), toks, need, &n, norm, nlen, &nlen, &err);
    CHECK(st == ES_OK && n == need, "exact sizes: %s", err.msg);
    /* empty input and whitespace-only input give no tokens */
    st = es_tokenizer_encode(tok, "", 0, NULL, 0, &n, NULL, 0, NULL, &err);
    CHECK(st == ES_OK && n == 0, "empty input");
    st = es_tokenizer_encode(tok, " \t\n\xe3\x80\x80", 6, NULL, 0, &n, NULL, 0, NULL, &err);
    CHECK(st == ES_OK && n == 0, "whitespace only");
    /* argument errors */
    st = es_tokenizer_encode(tok, NULL, 3, toks, 32, &n, NULL, 0, NULL, &err);
    CHECK(st == ES_ERR_ARG, "NULL text with a length");
    st = es_tokenizer_encode(tok, "a", 1, toks, 32, NULL, NULL, 0, NULL, &err);
    CHECK(st == ES_ERR_ARG, "NULL n_out");
    /* decode buffer rule: too small -> size, exact -> no NUL, larger -> NUL */
    const int32_t ids[] = {3, 2, 5};
    char out[32];
    size_t len = 0;
    st = es_tokenizer_decode(tok, ids, 3, 0, out, 4, &len, &err);
    CHECK(st == ES_ERR_BUFFER && len == strlen("the \xe2\x81\x87  of"), "decode too small %d %zu",
          st, len);
    memset(out, 'Z', sizeof out);
    st = es_tokenizer_decode(tok, ids, 3, 0, out, len, &len, &err);
    CHECK(st == ES_OK && out[len] == 'Z', "exact-size decode writes no NUL");
    st = es_tokenizer_decode(tok, ids, 3, 0, out, sizeof out, &len, &err);
    CHECK(st == ES_OK && out[len] == '\0', "decode NUL-terminates when room allows");
}

static void test_decode_rules(const es_tokenizer *tok) {
    expect_decode(tok, IDS(2, 5), 0, " \xe2\x81\x87  of", "[unk, _of]");
    expect_decode(tok, IDS(10, 58), 0, "a ", "[_a, _]");
    expect_decode(tok, IDS(58, 58), 0, "", "[_, _]");
    expect_decode(tok, IDS(0, 1, 58, 3, 2, 2, 1), 0, "the \xe2\x81\x87  \xe2\x81\x87 ", "controls");
    expect_decode(tok, NULL, 0, 0, "", "no ids");
    /* extra ids: <extra_id_i> = 32099 - i; they are text */
    expect_decode(tok, IDS(32099, 3, 32000), 0, "<extra_id_0> the<extra_id_99>", "extra ids");
    /* ids past the extra ids (T5 embedding rows 32100..32127) */
    expect_decode(tok, IDS(3, 32100, 32127), 0, "the", "padding rows vanish");
    expect_decode(tok, IDS(3, 32100), ES_DECODE_MARK_UNKNOWN_IDS, "the<id_32100>", "marked rows");
    char out[16];
    size_t len;
    es_error err;
    CHECK(es_tokenizer_decode(tok, IDS(3, -1), 0, out, sizeof out, &len, &err) == ES_ERR_ARG,
          "negative id");
    CHECK(strstr(err.msg, "position 1") != NULL, "message names the position: %s", err.msg);
}

static void test_accessors(const es_tokenizer *tok) {
    CHECK(es_tokenizer_vocab_size(tok) == 32100, "vocab");
    CHECK(es_tokenizer_eos_id(tok) == 1 && es_tokenizer_pad_id(tok) == 0 &&
              es_tokenizer_unk_id(tok) == 2,
          "special ids");
    CHECK(strcmp(es_tokenizer_piece(tok, 3), "\xe2\x96\x81the") == 0, "piece 3");
    CHECK(strcmp(es_tokenizer_piece(tok, 32099), "<extra_id_0>") == 0, "piece 32099");
    CHECK(strcmp(es_tokenizer_piece(tok, 32000), "<extra_id_99>") == 0, "piece 32000");
    CHECK(es_tokenizer_piece(tok, 32100) == NULL && es_tokenizer_piece(tok, -1) == NULL,
          "out-of-range piece");
    /* typed as text, "<extra_id_0>" is not a sentinel (sp.encode) */
    expect_ids(tok, "<extra_id_0>", 12, IDS(58, 2, 25996, 21650, 31996, 7969, 31996, 6612, 2),
               "<extra_id_0> typed as text");
}

static es_tokenizer *load_synth(const tok_model_opts *o, int n_extra) {
    pbw w;
    tok_model_build(&w, o);
    es_tokenizer *tok = NULL;
    es_error err;
    es_status st = es_tokenizer_load_mem(&tok, w.p, w.len, "synthetic", n_extra, &err);
    CHECK(st == ES_OK, "synthetic model: %s", err.msg);
    pbw_free(&w);
    return tok;
}

static void test_synthetic(void) {
    const char *text = "abc ab<sep>c@@ a  cc \xc3\xa9 \xc3\xbc x";
    const size_t len = strlen(text);
    tok_model_opts o = tok_model_defaults();
    es_tokenizer *t0 = load_synth(&o, 0);
    if (t0) {
        expect_ids(t0, text, len, IDS(3, 11, 8, 15, 6, 16, 12, 10, 6, 3, 14, 3, 0, 3, 0), "m0");
        CHECK(es_tokenizer_eos_id(t0) == 2 && es_tokenizer_pad_id(t0) == -1 &&
                  es_tokenizer_unk_id(t0) == 0,
              "m0 special ids");
        expect_decode(t0, IDS(15, 3, 4, 16), 0, "<sep> a@@", "m0 user-defined decode");
    }
    es_tokenizer_free(t0);

    o.byte_fallback = 1;
    es_tokenizer *t1 = load_synth(&o, 0);
    if (t1) {
        expect_ids(t1, text, len, IDS(3, 11, 8, 15, 6, 16, 12, 10, 6, 3, 14, 3, 213, 206, 3, 138),
                   "m1 byte fallback");
        expect_decode(t1, IDS(213, 206), 0, "\xc3\xbc", "bytes form a character");
        expect_decode(t1, IDS(213), 0, "\xef\xbf\xbd", "lone lead byte");
        expect_decode(t1, IDS(3, 4, 213, 206, 138, 213), 0, "a\xc3\xbcx\xef\xbf\xbd", "mixed bytes");
        expect_decode(t1, IDS(213, 3, 4), 0, "\xef\xbf\xbd a", "bytes then a piece");
        expect_decode(t1, IDS(3, 3, 4), 0, "a", "leading spaces dropped");
        expect_decode(t1, IDS(206, 206, 206, 206, 206), 0,
                      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "trail bytes");
        /* byte tokens point at single bytes of the normalized text */
        es_token toks[64];
        char norm[128];
        size_t nlen;
        const size_t n = encode(t1, "\xc3\xbc", 2, toks, 64, norm, sizeof norm, &nlen);
        CHECK(n == 3 && toks[1].length == 1 && toks[2].length == 1 &&
                  (uint8_t)norm[toks[1].offset] == 0xC3,
              "byte token surfaces");
    }
    es_tokenizer_free(t1);

    o = tok_model_defaults();
    o.add_dummy_prefix = 1;
    o.remove_extra_ws = 0;
    o.escape_ws = 0;
    es_tokenizer *t2 = load_synth(&o, 0);
    if (t2) {
        expect_ids(t2, text, len, IDS(0, 11, 0, 7, 15, 6, 16, 0, 4, 0, 6, 6, 0, 14, 0),
                   "m2 no escape, keep spaces");
        expect_decode(t2, IDS(3, 3, 4), 0, " a", "m2 strips one leading space");
        expect_decode(t2, IDS(3, 4, 3, 5), 0, "a b", "m2");
        expect_decode(t2, IDS(0, 3, 4), 0, " \xe2\x81\x87  a", "m2 unk first");
    }
    es_tokenizer_free(t2);

    o = tok_model_defaults();
    o.byte_fallback = 1;
    o.add_dummy_prefix = 0;
    o.remove_extra_ws = 0;
    o.escape_ws = 1;
    es_tokenizer *t3 = load_synth(&o, 0);
    if (t3) {
        expect_ids(t3, text, len, IDS(11, 8, 15, 6, 16, 12, 3, 10, 6, 3, 14, 3, 213, 206, 3, 138),
                   "m3 no dummy prefix, keep spaces");
        expect_decode(t3, IDS(3, 3, 4), 0, "  a", "m3 keeps leading spaces");
        expect_decode(t3, IDS(3, 4, 3, 5), 0, " a b", "m3");
    }
    es_tokenizer_free(t3);
}

/* Many threads may share one tokenizer: encode the same text
 * concurrently is covered by the contract (no mutation); here we only
 * check two tokenizers from the same bytes agree. */
int main(void) {
    es_tokenizer *tok = NULL;
    es_error err;
    es_status st = es_tokenizer_load(&tok, fixture("tokenizer/spiece.model"), 100, &err);
    REQUIRE(st == ES_OK, "load: %s", err.msg);
    test_accessors(tok);
    test_invalid_utf8(tok);
    test_every_byte(tok);
    test_buffers(tok);
    test_decode_rules(tok);
    test_long(tok);
    es_tokenizer_free(tok);
    test_synthetic();
    TEST_MAIN_END();
}
