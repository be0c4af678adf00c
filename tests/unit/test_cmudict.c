/*
 * test_cmudict.c — the CMUdict G2P dataset (src/train/data_cmudict.c):
 * FNV-1a against the published test vectors, the fixed split on
 * hand-computed words, exact counts on the committed excerpt
 * (tests/data/cmudict/sample.txt: 292 lines, 258 words; expected numbers
 * computed independently with a Python reader), variants grouped in file
 * order, parser edge cases (CRLF, tabs, trailing comments, interleaved
 * variants, duplicates, Latin-1 lines), hostile inputs, training examples
 * with case augmentation, allocation-failure injection. When the real
 * file has been fetched into <source>/data it must give the numbers of the
 * task: 133,784 lines, 125,005 words = 112,578 train / 6,245 dev / 6,182
 * test (skipped otherwise: nothing is downloaded at test time).
 */
#include "test.h"

#include "io/fileio.h"
#include "train/data_cmudict.h"

static const char *const SYM[] = {"AH0", "AH1", "B", "K", "T", "EY1", "Z", "S"};
#define N_SYM 8

static void fnv_and_split(void) {
    /* test vectors of the FNV reference (Fowler/Noll/Vo, fnv32a) */
    CHECK(es_fnv1a32("", 0) == 0x811c9dc5u, "fnv('')");
    CHECK(es_fnv1a32("a", 1) == 0xe40c292cu, "fnv(a)");
    CHECK(es_fnv1a32("foobar", 6) == 0xbf9cf968u, "fnv(foobar)");
    /* fnv("A") = 3289118412, % 20 = 12 → train; any case gives the same */
    CHECK(es_cmudict_split_of_word((const uint8_t *)"A", 1) == ES_SPLIT_TRAIN, "A");
    CHECK(es_cmudict_split_of_word((const uint8_t *)"a", 1) == ES_SPLIT_TRAIN, "a");
    /* DYNES, ELATA: % 20 == 0 (test); ALVA, BANASIAK: == 1 (dev) */
    CHECK(es_cmudict_split_of_word((const uint8_t *)"DYNES", 5) == ES_SPLIT_TEST, "DYNES");
    CHECK(es_cmudict_split_of_word((const uint8_t *)"elata", 5) == ES_SPLIT_TEST, "elata");
    CHECK(es_cmudict_split_of_word((const uint8_t *)"ALVA", 4) == ES_SPLIT_DEV, "ALVA");
    CHECK(es_cmudict_split_of_word((const uint8_t *)"Banasiak", 8) == ES_SPLIT_DEV, "Banasiak");
}

static es_cmudict *load_sample(void) {
    es_cmudict *d = NULL;
    es_error err = {0};
    es_status st = es_cmudict_load_files(&d, ES_SOURCE_DIR "/tests/data/cmudict/sample.txt",
                                         ES_SOURCE_DIR "/tests/data/cmudict/symbols.txt", &err);
    REQUIRE(st == ES_OK, "load sample: %s", err.msg);
    return d;
}

/* Symbol strings of pronunciation p joined by spaces. */
static const char *pron_str(const es_cmudict *d, const es_cmu_pron *p) {
    static char buf[512];
    size_t o = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < p->len && o + 8 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? " " : "",
                              d->symbols[d->ids[p->off + i]]);
    return buf;
}

static void sample(void) {
    es_cmudict *d = load_sample();
    CHECK(d->n_symbols == 84, "%d symbols", d->n_symbols);
    CHECK(d->n_lines == 292, "%zu lines", d->n_lines);
    CHECK(d->n_words == 258, "%zu words", d->n_words);
    CHECK(d->n_prons == 292, "%zu prons", d->n_prons);
    CHECK(d->n_words_split[ES_SPLIT_TRAIN] == 232 && d->n_words_split[ES_SPLIT_DEV] == 12 &&
              d->n_words_split[ES_SPLIT_TEST] == 14, "words %zu/%zu/%zu",
          d->n_words_split[0], d->n_words_split[1], d->n_words_split[2]);
    CHECK(d->n_prons_split[ES_SPLIT_TRAIN] == 266 && d->n_prons_split[ES_SPLIT_DEV] == 12 &&
              d->n_prons_split[ES_SPLIT_TEST] == 14, "prons %zu/%zu/%zu",
          d->n_prons_split[0], d->n_prons_split[1], d->n_prons_split[2]);
    CHECK(d->n_duplicates == 0 && d->n_latin1_lines == 0, "dups %zu latin1 %zu",
          d->n_duplicates, d->n_latin1_lines);
    CHECK(d->max_word_len == 15 && d->max_pron_len == 14, "max %zu %zu", d->max_word_len,
          d->max_pron_len);
    /* four variants in file order */
    long w = es_cmudict_find(d, (const uint8_t *)"associate", 9);
    REQUIRE(w >= 0, "ASSOCIATE missing");
    const es_cmu_word *x = &d->words[w];
    CHECK(x->n_prons == 4, "%u variants", x->n_prons);
    const char *want[4] = {"AH0 S OW1 S IY0 AH0 T", "AH0 S OW1 S IY0 EY2 T",
                           "AH0 S OW1 SH IY0 AH0 T", "AH0 S OW1 SH IY0 EY2 T"};
    for (uint32_t i = 0; i < x->n_prons && i < 4; i++) {
        const char *got = pron_str(d, &d->prons[x->first_pron + i]);
        CHECK(strcmp(got, want[i]) == 0, "variant %u: '%s'", i, got);
        CHECK(d->prons[x->first_pron + i].word == (uint32_t)w, "back link");
    }
    CHECK(strcmp((const char *)d->text + x->lower, "associate") == 0, "lower copy");
    CHECK(strcmp((const char *)d->text + x->upper, "ASSOCIATE") == 0, "upper copy");
    CHECK(x->split == ES_SPLIT_TRAIN, "split");
    /* the UTF-8 entry with U+FFFD stays byte-exact */
    const char *dj = "D\xef\xbf\xbdJ\xef\xbf\xbd";
    CHECK(es_cmudict_find(d, (const uint8_t *)dj, strlen(dj)) >= 0, "U+FFFD word");
    CHECK(es_cmudict_find(d, (const uint8_t *)"ASSOCIAT", 8) < 0, "prefix is not a word");
    CHECK(es_cmudict_symbol_index(d, "ZH", 2) == 83 && es_cmudict_symbol_index(d, "AA", 2) == 0 &&
              es_cmudict_symbol_index(d, "Q", 1) < 0, "symbol index");

    /* examples: the train split, lower only = one per pronunciation */
    es_s2s_example *ex = NULL;
    size_t n = 0;
    es_error err = {0};
    CHECK(es_cmudict_examples(&ex, &n, d, ES_SPLIT_TRAIN, ES_CMU_CASE_LOWER, 0, &err) == ES_OK &&
              n == 266, "lower examples %zu: %s", n, err.msg);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ex[i].src_len; k++)
            CHECK(!(ex[i].src[k] >= 'A' && ex[i].src[k] <= 'Z'), "upper-case byte in example %zu", i);
    }
    es_free(ex);
    CHECK(es_cmudict_examples(&ex, &n, d, ES_SPLIT_TRAIN,
                              ES_CMU_CASE_LOWER | ES_CMU_CASE_ORIGINAL, 0, &err) == ES_OK &&
              n == 532, "both-case examples %zu", n);
    CHECK(n >= 2 && ex[0].src_len == ex[1].src_len && ex[0].tgt == ex[1].tgt &&
              memcmp(ex[0].src, "a", 1) == 0 && memcmp(ex[1].src, "A", 1) == 0,
          "lower then original");
    es_free(ex);
    CHECK(es_cmudict_examples(&ex, &n, d, ES_SPLIT_TEST, ES_CMU_CASE_ORIGINAL, 0, &err) == ES_OK &&
              n == 14, "test examples %zu", n);
    es_free(ex);
    CHECK(es_cmudict_examples(&ex, &n, d, ES_SPLIT_COUNT, ES_CMU_CASE_LOWER, 13, &err) ==
              ES_ERR_ARG && ex == NULL && strstr(err.msg, "14 phones"), "max_tgt: %s", err.msg);
    CHECK(es_cmudict_examples(&ex, &n, d, ES_SPLIT_TRAIN, 0, 0, &err) == ES_ERR_ARG, "no case");
    es_cmudict_free(d);
}

static es_status parse_str(es_cmudict **d, const char *s, es_error *err) {
    return es_cmudict_parse(d, s, strlen(s), SYM, N_SYM, "t.txt", err);
}

static void edge_cases(void) {
    es_cmudict *d = NULL;
    es_error err = {0};
    /* CRLF, tab separator, comments, blank lines, trailing "# comment",
     * a variant before and apart from its base word, a repeated line, a
     * word without letters, a "(x)" that is not a variant suffix */
    const char *txt = ";;; header\r\n"
                      "\r\n"
                      "CAB(1)  K AH1 B\r\n"
                      "TAB\tT AH1 B # a comment\n"
                      "cab  K EY1 B\n"
                      "   \n"
                      "CAB  K AH1 B\n"
                      "CAB(2)  K AH0 B   \n"
                      "'  Z\n"
                      "TAB(X)  T AH0 B\n";
    REQUIRE(parse_str(&d, txt, &err) == ES_OK, "parse: %s", err.msg);
    CHECK(d->n_words == 4 && d->n_lines == 7 && d->n_duplicates == 1 && d->n_prons == 6,
          "words %zu lines %zu dups %zu prons %zu", d->n_words, d->n_lines, d->n_duplicates,
          d->n_prons);
    long cab = es_cmudict_find(d, (const uint8_t *)"Cab", 3);
    REQUIRE(cab == 0, "cab index %ld", cab);
    CHECK(d->words[0].n_prons == 3, "cab variants %u", d->words[0].n_prons);
    const char *want[3] = {"K AH1 B", "K EY1 B", "K AH0 B"};
    for (int i = 0; i < 3; i++) {
        const char *got = pron_str(d, &d->prons[d->words[0].first_pron + (uint32_t)i]);
        CHECK(strcmp(got, want[i]) == 0, "cab %d: %s", i, got);
    }
    long tab = es_cmudict_find(d, (const uint8_t *)"tab", 3);
    CHECK(tab == 1 && strcmp(pron_str(d, &d->prons[d->words[1].first_pron]), "T AH1 B") == 0,
          "tab with comment");
    CHECK(es_cmudict_find(d, (const uint8_t *)"TAB(X)", 6) == 3, "(X) kept in the word");
    long s = es_cmudict_find(d, (const uint8_t *)"'", 1);
    CHECK(s == 2, "' index %ld", s);
    es_s2s_example *ex = NULL;
    size_t n = 0;
    CHECK(es_cmudict_examples(&ex, &n, d, ES_SPLIT_COUNT, ES_CMU_CASE_LOWER | ES_CMU_CASE_ORIGINAL,
                              0, &err) == ES_OK, "examples: %s", err.msg);
    /* cab ×3 ×2 cases, tab ×2, ' once (no letters: one case), tab(x) ×2 */
    CHECK(n == 11, "examples %zu", n);
    es_free(ex);
    es_cmudict_free(d);

    /* Latin-1 word → UTF-8; the split hashes the converted bytes */
    const char *l1 = "D\xc9J\xc0  K EY1\n";
    REQUIRE(parse_str(&d, l1, &err) == ES_OK, "latin-1: %s", err.msg);
    const char *u8 = "D\xc3\x89J\xc3\x80";
    CHECK(d->n_latin1_lines == 1 && d->words[0].len == 6 &&
              memcmp(d->text + d->words[0].upper, u8, 6) == 0, "converted");
    CHECK(d->words[0].split == es_cmudict_split_of_word((const uint8_t *)u8, 6), "split of UTF-8");
    es_cmudict_free(d);

    /* hostile */
    struct { const char *txt, *msg; } bad[] = {
        {"CAB  K AH1 Q\n", "t.txt:1: phone 'Q'"},
        {";;; c\nCAB\n", "t.txt:2: expected"},
        {"CAB   \n", "t.txt:1: expected"},
        {"CAB #x\n", "t.txt:1: expected"},
        {"", "no pronunciations"},
        {";;; only a comment\n\n", "no pronunciations"},
        {"CAB  K AH1\nTAB  T AH12\n", "t.txt:2: phone 'AH12'"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(bad); i++) {
        d = (es_cmudict *)1;
        CHECK(parse_str(&d, bad[i].txt, &err) == ES_ERR_FORMAT && d == NULL &&
                  strstr(err.msg, bad[i].msg) != NULL, "bad %zu: %s", i, err.msg);
    }
    /* not NUL-terminated: the length is honoured */
    const char nonul[] = {'C', 'A', 'B', ' ', 'K', 'Z'};
    REQUIRE(es_cmudict_parse(&d, nonul, 5, SYM, N_SYM, "t", &err) == ES_OK, "len: %s", err.msg);
    CHECK(d->n_prons == 1 && d->prons[0].len == 1, "only K");
    es_cmudict_free(d);
    CHECK(es_cmudict_parse(&d, "A  K\n", 5, SYM, 0, "t", &err) == ES_ERR_ARG, "0 symbols");
    /* NUL bytes inside a phone (found by fuzzing: a length-less compare read
     * past the symbol) are an unknown phone */
    const char nulphone[] = "CAB  K\0\0\0\0\0\0\0\0\0 AH1\n";
    CHECK(es_cmudict_parse(&d, nulphone, sizeof nulphone - 1, SYM, N_SYM, "t", &err) ==
              ES_ERR_FORMAT && strstr(err.msg, "t:1: phone"), "NUL in phone: %s", err.msg);

    /* symbol lists */
    char **sym = NULL;
    int ns = 0;
    const char *ok = "  AA \n\nAA1\r\nZH\n";
    CHECK(es_cmudict_parse_symbols(&sym, &ns, ok, strlen(ok), "s", &err) == ES_OK && ns == 3 &&
              strcmp(sym[0], "AA") == 0 && strcmp(sym[2], "ZH") == 0, "symbols: %s", err.msg);
    es_cmudict_symbols_free(sym, ns);
    const char *sbad[] = {"AA\nAA\n", "\n \n", "A\x01\n",
                          "0123456789012345678901234567890123456789012345678901234567890123\n"};
    for (size_t i = 0; i < ES_ARRAY_LEN(sbad); i++)
        CHECK(es_cmudict_parse_symbols(&sym, &ns, sbad[i], strlen(sbad[i]), "s", &err) ==
                  ES_ERR_FORMAT && sym == NULL, "bad symbols %zu", i);
    /* missing files */
    CHECK(es_cmudict_load(&d, ES_SOURCE_DIR "/tests/data/no-such-dir", &err) == ES_ERR_IO &&
              strstr(err.msg, "symbols.txt"), "missing: %s", err.msg);
}

static void alloc_failures(void) {
    void *buf = NULL;
    size_t len = 0;
    es_error err = {0};
    REQUIRE(es_read_file(ES_SOURCE_DIR "/tests/data/cmudict/sample.txt", &buf, &len, 1 << 20,
                         &err) == ES_OK, "%s", err.msg);
    int fails = 0;
    for (long k = 1;; k++) {
        es_cmudict *d = NULL;
        es_test_fail_alloc_after(k);
        es_status st = es_cmudict_parse(&d, buf, len, SYM, N_SYM, "s", &err);
        es_test_fail_alloc_after(0);
        if (st == ES_OK) {
            es_cmudict_free(d);
            break;
        }
        /* the sample uses all 84 symbols: with 8 we get a phone error
         * after the allocations of the first lines */
        if (st == ES_ERR_FORMAT) break;
        CHECK(st == ES_ERR_NOMEM && d == NULL, "k=%ld: %d %s", k, st, err.msg);
        fails++;
        if (k > 10000) break;
    }
    CHECK(fails > 3, "allocation failures injected: %d", fails);
    /* with the full symbol list, through example building */
    char **sym = NULL;
    int ns = 0;
    void *sb = NULL;
    size_t sl = 0;
    REQUIRE(es_read_file(ES_SOURCE_DIR "/tests/data/cmudict/symbols.txt", &sb, &sl, 1 << 20,
                         &err) == ES_OK && es_cmudict_parse_symbols(&sym, &ns, sb, sl, "s", &err) == ES_OK,
            "%s", err.msg);
    fails = 0;
    for (long k = 1; k < 100000; k++) {
        es_cmudict *d = NULL;
        es_s2s_example *ex = NULL;
        size_t n = 0;
        es_test_fail_alloc_after(k);
        es_status st = es_cmudict_parse(&d, buf, len, (const char *const *)sym, ns, "s", &err);
        if (!st) st = es_cmudict_examples(&ex, &n, d, ES_SPLIT_TRAIN, 3u, 0, &err);
        es_test_fail_alloc_after(0);
        es_free(ex);
        es_cmudict_free(d);
        if (st == ES_OK) break;
        CHECK(st == ES_ERR_NOMEM, "k=%ld: %s", k, err.msg);
        fails++;
    }
    CHECK(fails > 5, "allocation failures injected: %d", fails);
    es_cmudict_symbols_free(sym, ns);
    es_free(sb);
    es_free(buf);
}

static void real_file(void) {
    const char *dir = ES_SOURCE_DIR "/data";
    if (!es_is_regular_file(ES_SOURCE_DIR "/data/cmudict/dict.txt")) {
        printf("real CMUdict not fetched (%s/cmudict): skipped\n", dir);
        return;
    }
    es_cmudict *d = NULL;
    es_error err = {0};
    REQUIRE(es_cmudict_load(&d, dir, &err) == ES_OK, "%s", err.msg);
    CHECK(d->n_symbols == 84, "symbols %d", d->n_symbols);
    CHECK(d->n_lines == 133784, "lines %zu", d->n_lines);
    CHECK(d->n_words == 125005, "words %zu", d->n_words);
    CHECK(d->n_words_split[ES_SPLIT_TRAIN] == 112578, "train %zu", d->n_words_split[0]);
    CHECK(d->n_words_split[ES_SPLIT_DEV] == 6245, "dev %zu", d->n_words_split[1]);
    CHECK(d->n_words_split[ES_SPLIT_TEST] == 6182, "test %zu", d->n_words_split[2]);
    CHECK(d->n_prons_split[ES_SPLIT_TRAIN] == 120450 && d->n_prons_split[ES_SPLIT_DEV] == 6716 &&
              d->n_prons_split[ES_SPLIT_TEST] == 6618, "prons %zu/%zu/%zu",
          d->n_prons_split[0], d->n_prons_split[1], d->n_prons_split[2]);
    CHECK(d->n_duplicates == 0 && d->n_latin1_lines == 0, "dups/latin1");
    CHECK(d->max_word_len == 34 && d->max_pron_len == 32, "max %zu %zu", d->max_word_len,
          d->max_pron_len);
    printf("real CMUdict: %zu words = %zu train / %zu dev / %zu test\n", d->n_words,
           d->n_words_split[0], d->n_words_split[1], d->n_words_split[2]);
    es_cmudict_free(d);
}

int main(void) {
    fnv_and_split();
    sample();
    edge_cases();
    alloc_failures();
    real_file();
    TEST_MAIN_END();
}
