/*
 * test_g2p_eval.c — the G2P evaluation loop (src/train/g2p_eval.c) on a
 * small random byte seq2seq model over the 84 CMUdict symbols and the
 * committed dictionary excerpt: every word of the split is visited once;
 * the per-word verdicts agree with an independent string comparison of
 * the printed prediction against the variants (with stress, and with
 * digits stripped); the totals equal the sum of the verdicts; greedy and
 * beam both run; --limit; input case; a model whose symbol list differs
 * from the dictionary's is scored through the text, with unknown symbols
 * counted.
 */
#include "test.h"

#include "model/byte_seq2seq.h"
#include "train/g2p_eval.h"

#include <unistd.h>

typedef struct seen {
    size_t n, ok1, ok2, mismatch;
    const char *first_word;
} seen;

/* "AH0 S" → "AH S" */
static void strip_digits(char *dst, const char *src) {
    while (*src) {
        if (!(*src >= '0' && *src <= '9')) *dst++ = *src;
        src++;
    }
    *dst = 0;
}

static void on_word(void *user, const es_cmudict *d, size_t w, const char *pred, bool ok1,
                    bool ok2) {
    seen *s = user;
    if (!s->n) s->first_word = (const char *)d->text + d->words[w].upper;
    s->n++;
    s->ok1 += ok1;
    s->ok2 += ok2;
    const es_cmu_word *x = &d->words[w];
    bool want1 = false, want2 = false;
    char ref[512], a[512], b[512];
    strip_digits(a, pred);
    for (uint32_t r = 0; r < x->n_prons; r++) {
        const es_cmu_pron *p = &d->prons[x->first_pron + r];
        size_t o = 0;
        ref[0] = 0;
        for (uint32_t i = 0; i < p->len; i++)
            o += (size_t)snprintf(ref + o, sizeof ref - o, "%s%s", i ? " " : "",
                                  d->symbols[d->ids[p->off + i]]);
        want1 |= strcmp(ref, pred) == 0;
        strip_digits(b, ref);
        want2 |= strcmp(a, b) == 0;
    }
    s->mismatch += (want1 != ok1) + (want2 != ok2);
}

static char g_dir[256];

static void make_model(const char *const *symbols, int n_symbols, uint64_t seed) {
    es_s2s_config c;
    es_s2s_config_default(&c);
    c.enc.max_bytes = 64;
    c.max_out = 12;
    c.n_symbols = n_symbols;
    c.symbols = symbols;
    es_s2s_model *m = NULL;
    es_error err = {0};
    REQUIRE(es_s2s_model_new(&m, &c, seed, &err) == ES_OK, "model: %s", err.msg);
    REQUIRE(es_s2s_model_save_dir(m, g_dir, &err) == ES_OK, "save: %s", err.msg);
    es_s2s_model_free(m);
}

static void run(const es_cmudict *d, es_split split, es_decode_method method, unsigned icase,
                size_t limit, size_t want_words) {
    es_model *mm = NULL;
    es_session *s = NULL;
    es_error err = {0};
    es_load_params lp = es_load_params_default();
    REQUIRE(es_model_load(&mm, g_dir, &lp, &err) == ES_OK, "load: %s", err.msg);
    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.n_threads = 1;
    REQUIRE(es_session_new(&s, mm, &sp, &err) == ES_OK, "session: %s", err.msg);
    es_gen_params gp = es_gen_params_default();
    gp.method = method;
    gp.num_beams = 4;
    gp.num_return = 1;
    gp.max_new_tokens = 100;
    es_g2p_eval ev;
    seen sn = {0};
    es_status st = es_g2p_evaluate(&ev, s, mm, d, split, &gp, icase, limit, on_word, &sn, &err);
    CHECK(st == ES_OK, "evaluate: %s", err.msg);
    CHECK(sn.n == want_words && ev.m.stress.n_words == want_words &&
              ev.m.nostress.n_words == want_words, "words %zu / %zu, want %zu", sn.n,
          ev.m.stress.n_words, want_words);
    CHECK(sn.mismatch == 0, "%zu verdicts differ from string comparison", sn.mismatch);
    CHECK(ev.m.stress.n_wrong == sn.n - sn.ok1 && ev.m.nostress.n_wrong == sn.n - sn.ok2,
          "totals");
    CHECK(ev.m.nostress.n_wrong <= ev.m.stress.n_wrong &&
              ev.m.nostress.edits <= ev.m.stress.edits, "stress removal cannot add errors");
    CHECK(ev.m.stress.ref_len > 0 && ev.seconds > 0, "lengths, time");
    es_session_free(s);
    es_model_free(mm);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/es_test_g2p_eval_%d", (int)getpid());
    es_cmudict *d = NULL;
    es_error err = {0};
    REQUIRE(es_cmudict_load_files(&d, ES_SOURCE_DIR "/tests/data/cmudict/sample.txt",
                                  ES_SOURCE_DIR "/tests/data/cmudict/symbols.txt", &err) == ES_OK,
            "%s", err.msg);
    make_model((const char *const *)d->symbols, d->n_symbols, 3);
    run(d, ES_SPLIT_DEV, ES_DECODE_GREEDY, ES_CMU_CASE_LOWER, 0, 12);
    run(d, ES_SPLIT_TEST, ES_DECODE_BEAM, ES_CMU_CASE_ORIGINAL, 0, 14);
    run(d, ES_SPLIT_COUNT, ES_DECODE_GREEDY, ES_CMU_CASE_LOWER, 40, 40);

    /* a model whose vocabulary the dictionary does not know: every output
     * symbol is unknown and every word with an output is wrong */
    const char *const sym2[] = {"XX", "YY", "ZZ", "QQ"};
    make_model(sym2, 4, 5);
    {
        es_model *mm = NULL;
        es_session *s = NULL;
        es_load_params lp = es_load_params_default();
        REQUIRE(es_model_load(&mm, g_dir, &lp, &err) == ES_OK, "%s", err.msg);
        es_session_params sp = es_session_params_default();
        sp.max_batch = 1;
        sp.n_threads = 1;
        REQUIRE(es_session_new(&s, mm, &sp, &err) == ES_OK, "%s", err.msg);
        es_gen_params gp = es_gen_params_default();
        gp.method = ES_DECODE_GREEDY;
        gp.max_new_tokens = 100;
        es_g2p_eval ev;
        seen sn = {0};
        CHECK(es_g2p_evaluate(&ev, s, mm, d, ES_SPLIT_COUNT, &gp, ES_CMU_CASE_LOWER, 0, on_word,
                              &sn, &err) == ES_OK, "%s", err.msg);
        CHECK(sn.n == 258 && sn.mismatch == 0, "n %zu mismatch %zu", sn.n, sn.mismatch);
        CHECK(ev.n_out_symbols > 0 && ev.n_unknown == ev.n_out_symbols, "unknown %zu of %zu",
              ev.n_unknown, ev.n_out_symbols);
        CHECK(ev.m.stress.n_wrong == 258 && ev.m.nostress.n_wrong == 258, "all wrong");
        printf("unknown-symbol model: %zu of %zu output symbols unknown, WER %.3f\n",
               ev.n_unknown, ev.n_out_symbols, es_g2p_wer(&ev.m.stress));
        /* an empty split selection is an error */
        es_cmudict one = *d;
        one.n_words = 1; /* "A", a train word */
        CHECK(es_g2p_evaluate(&ev, s, mm, &one, ES_SPLIT_TEST, &gp, ES_CMU_CASE_LOWER, 0, NULL,
                              NULL, &err) == ES_ERR_ARG, "empty selection");
        es_session_free(s);
        es_model_free(mm);
    }
    es_cmudict_free(d);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_MAIN_END();
}
