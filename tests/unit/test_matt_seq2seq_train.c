/*
 * A byte seq2seq model learns a synthetic task in seconds: reversing
 * lowercase words of 1..6 letters (bytes out). Trained with es_s2s_train
 * (AdamW, cosine schedule, 300 steps of 16), then checked on held-out words: token loss
 * falls from ~log(257) to < 0.4 and greedy exact match > 70%. Also reports
 * how often the uint8 beam and the float beam return the same best
 * hypothesis on the trained model, and requires >= 90%.
 */
#include "test.h"

#include "decode/byte_beam.h"
#include "train/seq2seq_data.h"

#include <stdlib.h>

enum { NTRAIN = 2000, NTEST = 100, MAXW = 6 };

typedef struct word {
    uint8_t s[MAXW];
    int32_t t[MAXW];
    int n;
} word;

static void make_words(word *w, int n, uint64_t seed) {
    es_rng r;
    es_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        w[i].n = 1 + (int)es_rng_below(&r, MAXW);
        for (int k = 0; k < w[i].n; k++) w[i].s[k] = (uint8_t)('a' + es_rng_below(&r, 26));
        for (int k = 0; k < w[i].n; k++) w[i].t[k] = w[i].s[w[i].n - 1 - k]; /* byte symbols */
    }
}

static es_status get(void *user, size_t i, es_s2s_example *ex, es_error *err) {
    (void)err;
    const word *w = (const word *)user + i;
    ex->src = w->s;
    ex->src_len = (size_t)w->n;
    ex->tgt = w->t;
    ex->tgt_len = (size_t)w->n;
    return ES_OK;
}

static int progress(void *user, int64_t step, double loss, double gn, float lr) {
    (void)user;
    if (step % 100 == 0) printf("  step %4lld loss %.4f |g| %.3f lr %.2e\n", (long long)step, loss, gn, (double)lr);
    return 0;
}

int main(void) {
    static word tr[NTRAIN], te[NTEST];
    make_words(tr, NTRAIN, 1);
    make_words(te, NTEST, 2);
    es_s2s_config c;
    es_s2s_config_default(&c);
    c.enc.d_model = 32;
    c.enc.qrnn_hidden = 32;
    c.enc.qrnn_layers = 1;
    c.enc.gbst_blocks = 1;
    c.enc.gbst_kernel = 1;
    c.enc.zoneout = 0.0f;
    c.enc.dropout = 0.0f;
    c.enc.max_bytes = 16;
    c.d_model = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.d_ff = 48;
    c.max_out = 8;
    es_s2s_model *m = NULL;
    es_error e;
    REQUIRE(es_s2s_model_new(&m, &c, 7, &e) == ES_OK, "%s", e.msg);
    es_s2s_source src = {NTRAIN, NULL, get, tr}, test = {NTEST, NULL, get, te};
    double l0, x0;
    REQUIRE(es_s2s_evaluate(m, &test, 50, NULL, &l0, &x0, &e) == ES_OK, "%s", e.msg);
    es_train_params p = es_train_params_default();
    p.batch_size = 16;
    p.max_steps = 300;
    p.lr = 8e-3f;
    p.warmup_steps = 30;
    p.n_threads = 1;
    p.log_every = 50;
    REQUIRE(es_s2s_train(m, &src, &p, progress, NULL, &e) == ES_OK, "train: %s", e.msg);
    double l1, x1;
    REQUIRE(es_s2s_evaluate(m, &test, 50, NULL, &l1, &x1, &e) == ES_OK, "%s", e.msg);
    printf("  held-out reverse: token loss %.3f -> %.3f, greedy exact match %.1f%% -> %.1f%%\n", l0, l1,
           100 * x0, 100 * x1);
    CHECK(l0 > 4.0 && l1 < 0.4, "loss %.3f -> %.3f", l0, l1);
    CHECK(x1 > 0.7, "exact match %.3f", x1);

    /* uint8 vs float beam on the trained model */
    es_s2s_ws *ws = NULL;
    es_bbeam_ws b1, b2;
    REQUIRE(es_s2s_ws_new(&ws, m, 1, 4, 0, NULL, &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_bbeam_ws_init(&b1, 4, c.max_out, es_s2s_model_vocab(m), &e) == ES_OK, "%s", e.msg);
    REQUIRE(es_bbeam_ws_init(&b2, 4, c.max_out, es_s2s_model_vocab(m), &e) == ES_OK, "%s", e.msg);
    es_gen_params gp = es_gen_params_default();
    gp.method = ES_DECODE_BEAM;
    gp.num_beams = 4;
    gp.length_penalty = 0.6f;
    gp.max_new_tokens = c.max_out;
    int same = 0, correct_f = 0, correct_q = 0;
    for (int i = 0; i < NTEST; i++) {
        es_gen_result rf, rq;
        es_dec_model dm = es_s2s_dec_model(ws);
        REQUIRE(es_s2s_prime(ws, m, te[i].s, (size_t)te[i].n, &e) == ES_OK, "%s", e.msg);
        gp.quantized_beam = 0;
        REQUIRE(es_byte_beam(&b1, &dm, &gp, &rf, &e) == ES_OK, "%s", e.msg);
        REQUIRE(es_s2s_prime(ws, m, te[i].s, (size_t)te[i].n, &e) == ES_OK, "%s", e.msg);
        gp.quantized_beam = 1;
        REQUIRE(es_byte_beam(&b2, &dm, &gp, &rq, &e) == ES_OK, "%s", e.msg);
        const es_hyp *hf = &rf.hyps[0], *hq = &rq.hyps[0];
        same += hf->n_ids == hq->n_ids && !memcmp(hf->ids, hq->ids, (size_t)hf->n_ids * 4);
        int okf = hf->n_ids == te[i].n + 1, okq = hq->n_ids == te[i].n + 1;
        for (int k = 0; k < te[i].n; k++) {
            okf &= hf->ids[k] == te[i].t[k] + ES_S2S_N_SPECIAL;
            okq &= hq->ids[k] == te[i].t[k] + ES_S2S_N_SPECIAL;
        }
        correct_f += okf;
        correct_q += okq;
    }
    printf("  beam 4: uint8 best = float best on %d/%d held-out words; exact match float %.1f%%, "
           "uint8 %.1f%%\n", same, NTEST, 100.0 * correct_f / NTEST, 100.0 * correct_q / NTEST);
    CHECK(same >= NTEST * 9 / 10, "uint8 and float beams agree on only %d/%d", same, NTEST);
    es_bbeam_ws_free(&b1);
    es_bbeam_ws_free(&b2);
    es_s2s_ws_free(ws);
    es_s2s_model_free(m);
    TEST_MAIN_END();
}
