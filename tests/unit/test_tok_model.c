/*
 * test_tok_model.c — loading SentencePiece models: the real T5 model, and
 * one hand-made hostile file per failure class (truncation at many
 * lengths, bad varints, lengths past the end, wrong wire types, groups,
 * non-unigram, zero pieces, empty / invalid-UTF-8 / NUL pieces, unknown
 * piece types, missing or duplicate <unk>, duplicate pieces, byte pieces
 * without byte_fallback and vice versa, a broken precompiled_charsmap,
 * non-finite scores, a huge claimed piece length, many pieces), unknown
 * fields (skipped), bad arguments, and allocation-failure injection
 * (every allocation of a load fails in turn: ES_ERR_NOMEM, no leak —
 * counted through the allocator hook).
 */
#include "core/common.h"
#include "edgeseq.h"
#include "test.h"
#include "test_tok_pb.h"

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static es_status load(const void *p, size_t n, es_error *err) {
    es_tokenizer *tok = (es_tokenizer *)(uintptr_t)1;
    es_status st = es_tokenizer_load_mem(&tok, p, n, "hostile.model", 0, err);
    if (st != ES_OK) CHECK(tok == NULL, "*out must be NULL on failure");
    es_tokenizer_free(tok);
    return st;
}

static void expect_fail(const pbw *w, es_status want, const char *needle, const char *what) {
    es_error err;
    es_status st = load(w->p, w->len, &err);
    CHECK(st == want, "%s: got %d (%s), want %d", what, st, err.msg, want);
    CHECK(st == ES_OK || strstr(err.msg, "hostile.model") != NULL, "%s: message lacks the name: %s",
          what, err.msg);
    if (needle) CHECK(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err.msg, needle);
}

/* A minimal valid model: <unk>, one normal piece, optional extras. */
static void minimal(pbw *w) {
    memset(w, 0, sizeof *w);
    pbw_piece(w, "<unk>", 0.0f, 2);
    pbw_piece(w, "a", -1.0f, 1);
}

static void test_real_model_truncated(void) {
    size_t len = 0;
    uint8_t *b = read_all(fixture("tokenizer/spiece.model"), &len);
    REQUIRE(b != NULL, "cannot read spiece.model");
    es_error err;
    CHECK(load(b, len, &err) == ES_OK, "full model: %s", err.msg);
    /* every prefix up to 300 bytes, then 40 spread over the file, then
     * the last 4: never a crash; a cut inside a field is ES_ERR_FORMAT,
     * a cut on a field boundary may be a valid (smaller) model */
    int n_format = 0, n_ok = 0, n_other = 0, n_tried = 0;
    const size_t step = len / 40 + 1;
    for (size_t cut = 0; cut < len; cut += (cut < 300 ? 1 : (cut > len - 4 ? 1 : step))) {
        es_status st = load(b, cut, &err);
        n_tried++;
        if (st == ES_ERR_FORMAT) n_format++;
        else if (st == ES_OK) n_ok++;
        else n_other++;
        if (st == ES_ERR_FORMAT) CHECK(strstr(err.msg, "hostile.model") != NULL, "no name: %s", err.msg);
    }
    CHECK(n_other == 0, "%d truncations gave neither FORMAT nor OK", n_other);
    CHECK(n_format > n_tried * 9 / 10, "only %d of %d truncations rejected", n_format, n_tried);
    printf("truncated real model: %d cuts, %d ES_ERR_FORMAT, %d loadable\n", n_tried, n_format, n_ok);
    CHECK(load(b, len - 1, &err) == ES_ERR_FORMAT, "len-1 cut");
    free(b);
}

static void test_synthetic_truncated(void) {
    tok_model_opts o = tok_model_defaults();
    o.byte_fallback = 1;
    pbw w;
    tok_model_build(&w, &o);
    es_error err;
    CHECK(load(w.p, w.len, &err) == ES_OK, "synthetic: %s", err.msg);
    int n_bad = 0;
    for (size_t cut = 0; cut < w.len; cut++) {
        es_status st = load(w.p, cut, &err);
        if (st != ES_ERR_FORMAT && st != ES_OK) n_bad++;
    }
    CHECK(n_bad == 0, "%d prefixes of the synthetic model gave an unexpected status", n_bad);
    pbw_free(&w);
}

static void test_wire_errors(void) {
    pbw w;
    /* varint longer than 10 bytes */
    memset(&w, 0, sizeof w);
    pbw_tag(&w, 99, 0);
    for (int i = 0; i < 11; i++) pbw_bytes(&w, "\xff", 1);
    pbw_bytes(&w, "\x01", 1);
    expect_fail(&w, ES_ERR_FORMAT, "varint", "11-byte varint");
    pbw_free(&w);
    /* 10-byte varint overflowing 64 bits */
    memset(&w, 0, sizeof w);
    pbw_tag(&w, 99, 0);
    pbw_bytes(&w, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
    expect_fail(&w, ES_ERR_FORMAT, "varint", "varint > 64 bits");
    pbw_free(&w);
    /* truncated varint */
    memset(&w, 0, sizeof w);
    pbw_bytes(&w, "\x08\x80", 2);
    expect_fail(&w, ES_ERR_FORMAT, "truncated", "truncated varint");
    pbw_free(&w);
    /* length past the end, and a huge claimed length */
    minimal(&w);
    pbw_tag(&w, 1, 2);
    pbw_varint(&w, 50);
    pbw_bytes(&w, "abc", 3);
    expect_fail(&w, ES_ERR_FORMAT, "past the end", "length past the end");
    pbw_free(&w);
    minimal(&w);
    pbw_tag(&w, 1, 2);
    pbw_varint(&w, (uint64_t)1 << 62);
    expect_fail(&w, ES_ERR_FORMAT, "past the end", "huge piece length");
    pbw_free(&w);
    /* a sub-message whose inner length crosses its own end */
    minimal(&w);
    pbw_bytes(&w, "\x0a\x03\x0a\x05\x61", 5); /* piece{ piece: len 5, 1 byte } */
    expect_fail(&w, ES_ERR_FORMAT, "past the end", "nested length");
    pbw_free(&w);
    /* groups and reserved wire types */
    minimal(&w);
    pbw_tag(&w, 7, 3);
    expect_fail(&w, ES_ERR_FORMAT, "wire type", "start-group");
    pbw_free(&w);
    minimal(&w);
    pbw_tag(&w, 7, 6);
    expect_fail(&w, ES_ERR_FORMAT, "wire type", "wire type 6");
    pbw_free(&w);
    /* field number 0 */
    minimal(&w);
    pbw_bytes(&w, "\x00\x01", 2);
    expect_fail(&w, ES_ERR_FORMAT, "field number", "field 0");
    pbw_free(&w);
    /* known field with the wrong wire type */
    minimal(&w);
    pbw_uint(&w, 1, 5);
    expect_fail(&w, ES_ERR_FORMAT, "wire type", "pieces as varint");
    pbw_free(&w);
    /* truncated fixed32 score */
    memset(&w, 0, sizeof w);
    pbw_piece(&w, "<unk>", 0.0f, 2);
    pbw_bytes(&w, "\x0a\x05\x0a\x01\x61\x15\x00", 7);
    expect_fail(&w, ES_ERR_FORMAT, "truncated", "truncated fixed32");
    pbw_free(&w);
}

static void test_semantic_errors(void) {
    pbw w, t;
    /* unknown fields of every wire type are skipped */
    minimal(&w);
    pbw_uint(&w, 99, 12345);
    pbw_tag(&w, 100, 1);
    pbw_bytes(&w, "12345678", 8);
    pbw_tag(&w, 101, 5);
    pbw_bytes(&w, "1234", 4);
    pbw_str(&w, 102, "ignored");
    pbw_str(&w, 4, ""); /* self_test_data, empty */
    expect_fail(&w, ES_OK, NULL, "unknown fields");
    pbw_free(&w);
    /* non-unigram */
    for (int type = 2; type <= 4; type++) {
        minimal(&w);
        memset(&t, 0, sizeof t);
        pbw_uint(&t, 3, (uint64_t)type);
        pbw_msg(&w, 2, &t);
        pbw_free(&t);
        expect_fail(&w, ES_ERR_UNSUPPORTED, "UNIGRAM", "BPE/WORD/CHAR");
        pbw_free(&w);
    }
    /* zero pieces */
    memset(&w, 0, sizeof w);
    memset(&t, 0, sizeof t);
    pbw_uint(&t, 3, 1);
    pbw_msg(&w, 2, &t);
    pbw_free(&t);
    expect_fail(&w, ES_ERR_FORMAT, "no pieces", "zero pieces");
    pbw_free(&w);
    expect_fail(&(pbw){0}, ES_ERR_FORMAT, "no pieces", "empty file");
    /* only <unk>: nothing to match */
    memset(&w, 0, sizeof w);
    pbw_piece(&w, "<unk>", 0.0f, 2);
    expect_fail(&w, ES_ERR_FORMAT, "NORMAL", "only <unk>");
    pbw_free(&w);
    /* piece problems */
    minimal(&w);
    pbw_piece(&w, "\xc3\x28", -1.0f, 1);
    expect_fail(&w, ES_ERR_FORMAT, "UTF-8", "invalid UTF-8 piece");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "\xed\xa0\x80", -1.0f, 1);
    expect_fail(&w, ES_ERR_FORMAT, "UTF-8", "surrogate piece");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "", -1.0f, 1);
    expect_fail(&w, ES_ERR_FORMAT, "empty", "empty piece");
    pbw_free(&w);
    minimal(&w);
    {
        pbw m = {0};
        pbw_len(&m, 1, "x\0y", 3);
        pbw_msg(&w, 1, &m);
        pbw_free(&m);
    }
    expect_fail(&w, ES_ERR_FORMAT, "NUL", "NUL in piece");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "b", -1.0f, 7);
    expect_fail(&w, ES_ERR_FORMAT, "piece type", "piece type 7");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "b", 0.0f / 0.0f, 1);
    expect_fail(&w, ES_ERR_FORMAT, "finite", "NaN score");
    pbw_free(&w);
    memset(&w, 0, sizeof w);
    pbw_piece(&w, "a", -1.0f, 1);
    expect_fail(&w, ES_ERR_FORMAT, "UNKNOWN", "missing <unk>");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "<unk2>", 0.0f, 2);
    expect_fail(&w, ES_ERR_FORMAT, "UNKNOWN", "two <unk>");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "a", -2.0f, 1);
    expect_fail(&w, ES_ERR_FORMAT, "twice", "duplicate piece");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "<s>", 0.0f, 3);
    pbw_piece(&w, "<s>", 0.0f, 3);
    expect_fail(&w, ES_ERR_FORMAT, "twice", "duplicate control piece");
    pbw_free(&w);
    /* a control and a normal piece may share a string (SentencePiece too) */
    minimal(&w);
    pbw_piece(&w, "<s>", 0.0f, 3);
    pbw_piece(&w, "<s>", -3.0f, 1);
    expect_fail(&w, ES_OK, NULL, "control + normal with the same string");
    pbw_free(&w);
    /* byte pieces */
    minimal(&w);
    pbw_piece(&w, "<0x41>", 0.0f, 6);
    expect_fail(&w, ES_ERR_FORMAT, "byte_fallback", "byte piece without byte_fallback");
    pbw_free(&w);
    minimal(&w);
    memset(&t, 0, sizeof t);
    pbw_uint(&t, 35, 1);
    pbw_msg(&w, 2, &t);
    pbw_free(&t);
    expect_fail(&w, ES_ERR_FORMAT, "<0x00>", "byte_fallback without byte pieces");
    pbw_free(&w);
    minimal(&w);
    pbw_piece(&w, "<0xzz>", 0.0f, 6);
    memset(&t, 0, sizeof t);
    pbw_uint(&t, 35, 1);
    pbw_msg(&w, 2, &t);
    pbw_free(&t);
    expect_fail(&w, ES_ERR_FORMAT, "<0xXX>", "malformed byte piece");
    pbw_free(&w);
}

static void test_charsmap_errors(void) {
    static const struct {
        const uint8_t blob[24];
        size_t len;
        const char *what;
    } k_cases[] = {
        {{1, 0, 0, 0}, 4, "blob of 4 bytes"},
        {{0, 1, 0, 0, 1, 2, 3, 4}, 8, "trie size past the blob"},
        {{3, 0, 0, 0, 1, 2, 3, 4}, 8, "trie size not a multiple of 4"},
        {{0, 0, 0, 0, 'a', 0}, 6, "empty trie"},
        /* unit 1 is a leaf (bit 31) pointing at offset 100 of a 2-byte blob */
        {{8, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0x80, 'a', 0}, 14, "leaf past the strings"},
        /* leaf pointing at invalid UTF-8 */
        {{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0}, 14, "leaf with invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        pbw w, n = {0};
        minimal(&w);
        pbw_len(&n, 2, k_cases[i].blob, k_cases[i].len);
        pbw_msg(&w, 3, &n);
        expect_fail(&w, ES_ERR_FORMAT, "charsmap", k_cases[i].what);
        pbw_free(&n);
        pbw_free(&w);
    }
    /* a hostile but in-bounds array: lookups stay inside it */
    pbw w, n = {0};
    minimal(&w);
    const uint8_t blob[] = {8, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0x61, 0x01, 0, 0, 'b', 0};
    pbw_len(&n, 2, blob, sizeof blob);
    pbw_msg(&w, 3, &n);
    es_tokenizer *tok = NULL;
    es_error err;
    es_status st = es_tokenizer_load_mem(&tok, w.p, w.len, "odd.model", 0, &err);
    CHECK(st == ES_OK, "in-bounds odd charsmap: %s", err.msg);
    if (tok) {
        es_token toks[16];
        size_t cnt;
        st = es_tokenizer_encode(tok, "a\x01\xff" "aaa", 6, toks, 16, &cnt, NULL, 0, NULL, &err);
        CHECK(st == ES_OK, "encode with odd charsmap: %s", err.msg);
    }
    es_tokenizer_free(tok);
    pbw_free(&n);
    pbw_free(&w);
}

static void test_many_pieces(void) {
    /* 200,000 distinct pieces load and encode */
    pbw w;
    minimal(&w);
    char s[16];
    for (int i = 0; i < 200000; i++) {
        snprintf(s, sizeof s, "p%d", i);
        pbw_piece(&w, s, -5.0f - (float)(i % 100) * 0.01f, 1);
    }
    es_tokenizer *tok = NULL;
    es_error err;
    es_status st = es_tokenizer_load_mem(&tok, w.p, w.len, "many.model", 7, &err);
    CHECK(st == ES_OK && es_tokenizer_vocab_size(tok) == 200002 + 7, "200k pieces: %s", err.msg);
    if (tok) {
        es_token toks[8];
        size_t n;
        st = es_tokenizer_encode(tok, "p199999", 7, toks, 8, &n, NULL, 0, NULL, &err);
        CHECK(st == ES_OK && n == 2 && toks[1].id == 200001, "encode p199999");
        CHECK(strcmp(es_tokenizer_piece(tok, 200002 + 6), "<extra_id_0>") == 0, "extra id 0");
    }
    es_tokenizer_free(tok);
    pbw_free(&w);
}

static void test_args(void) {
    es_tokenizer *tok = (es_tokenizer *)(uintptr_t)1;
    es_error err;
    CHECK(es_tokenizer_load(&tok, "/nonexistent/spiece.model", 0, &err) == ES_ERR_IO && tok == NULL,
          "missing file");
    CHECK(strstr(err.msg, "/nonexistent/spiece.model") != NULL, "IO message names the path");
    CHECK(es_tokenizer_load(&tok, "/", 0, &err) != ES_OK && tok == NULL, "a directory");
    CHECK(es_tokenizer_load(NULL, "x", 0, &err) == ES_ERR_ARG, "NULL out");
    CHECK(es_tokenizer_load(&tok, fixture("tokenizer/spiece.model"), -1, &err) == ES_ERR_ARG,
          "negative n_extra_ids");
    CHECK(es_tokenizer_load_mem(&tok, NULL, 10, "x", 0, &err) == ES_ERR_ARG, "NULL data");
    es_tokenizer_free(NULL);
    CHECK(es_tokenizer_vocab_size(NULL) == 0 && es_tokenizer_piece(NULL, 0) == NULL, "NULL handle");
}

/* --- allocation failure injection with a counting allocator ---------- */

static long g_live;

static void *count_alloc(void *u, size_t n) {
    (void)u;
    void *p = malloc(n);
    if (p) g_live++;
    return p;
}
static void *count_realloc(void *u, void *p, size_t n) {
    (void)u;
    void *q = realloc(p, n);
    if (q && !p) g_live++;
    return q;
}
static void count_free(void *u, void *p) {
    (void)u;
    if (p) g_live--;
    free(p);
}

/* Fails every allocation of one load in turn (then of encode). Uses the
 * 400-piece cut of the T5 model with its full nmt_nfkc charsmap (fast
 * under ASan, same allocation sites as the full model) and a synthetic
 * model with byte fallback and user-defined pieces. */
static void alloc_failures(const uint8_t *b, size_t len, const char *name);

static void test_alloc_failures(void) {
    size_t len = 0;
    uint8_t *b = read_all(ES_SOURCE_DIR "/tests/fuzz/corpus/spm_model/real_400_pieces_nfkc.model", &len);
    REQUIRE(b != NULL, "cannot read the 400-piece model");
    alloc_failures(b, len, "real_400_pieces_nfkc.model");
    free(b);
    tok_model_opts o = tok_model_defaults();
    o.byte_fallback = 1;
    pbw w;
    tok_model_build(&w, &o);
    alloc_failures(w.p, w.len, "synthetic.model");
    pbw_free(&w);
}

static void alloc_failures(const uint8_t *b, size_t len, const char *name) {
    const es_allocator a = {count_alloc, count_realloc, count_free, NULL};
    es_set_allocator(&a);
    int n_nomem = 0, done = 0;
    for (long k = 1; k < 200 && !done; k++) {
        g_live = 0;
        es_test_fail_alloc_after(k);
        es_tokenizer *tok = NULL;
        es_error err;
        es_status st = es_tokenizer_load_mem(&tok, b, len, name, 100, &err);
        es_test_fail_alloc_after(0);
        if (st == ES_OK) {
            done = 1;
            /* encode/decode under failure too */
            for (long j = 1; j < 8; j++) {
                es_test_fail_alloc_after(j);
                es_token toks[64];
                size_t n;
                es_status s2 = es_tokenizer_encode(tok, "Call me Ishmael.", 16, toks, 64, &n, NULL,
                                                   0, NULL, &err);
                es_test_fail_alloc_after(0);
                CHECK(s2 == ES_OK || s2 == ES_ERR_NOMEM, "encode under failure %ld: %d", j, s2);
            }
            es_tokenizer_free(tok);
        } else {
            CHECK(st == ES_ERR_NOMEM && tok == NULL, "fail at %ld: %d %s", k, st, err.msg);
            n_nomem++;
        }
        CHECK(g_live == 0, "fail at %ld: %ld blocks leaked", k, g_live);
    }
    es_set_allocator(NULL);
    CHECK(done, "load never succeeded");
    printf("allocation failure injection (%s): %d failing loads, all ES_ERR_NOMEM, no leak\n",
           name, n_nomem);
}

int main(void) {
    test_real_model_truncated();
    test_synthetic_truncated();
    test_wire_errors();
    test_semantic_errors();
    test_charsmap_errors();
    test_many_pieces();
    test_args();
    test_alloc_failures();
    TEST_MAIN_END();
}
