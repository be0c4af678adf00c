/* T5 sessions allocate nothing after es_session_new: every buffer,
 * including the GEMMs' packing scratch (es_pool_reserve), is sized at
 * creation. Counts es_malloc calls (core/alloc.c, es_test_alloc_count)
 * around greedy and beam-4 generation, encode, teacher-forced logits and
 * scoring on the tiny-v11 fixture, with 1 and 2 threads; the input is
 * longer than 8 tokens so the encoder takes the packed (general) GEMM path
 * that used to allocate per call. Also checks that the generated ids do
 * not depend on the thread count, and that the counter sees allocations
 * (session creation makes some), so a regression cannot pass silently. */
#include "test.h"

#include "core/common.h"
#include "edgeseq.h"

#define SRC 20
#define NEW 40

static void gen(es_session *s, const int32_t *src, int method, int n_new, int32_t *ids,
                int *n_ids, long *allocs) {
    es_gen_params p = es_gen_params_default();
    p.method = method ? ES_DECODE_BEAM : ES_DECODE_GREEDY;
    p.num_beams = method ? 4 : 1;
    p.num_return = 1;
    p.max_new_tokens = n_new;
    p.ignore_eos = 1;
    es_gen_result r;
    long a0 = es_test_alloc_count();
    es_status st = es_session_generate(s, &r, src, SRC, &p);
    *allocs = es_test_alloc_count() - a0;
    REQUIRE(st == ES_OK, "generate: %s", es_session_errmsg(s));
    *n_ids = r.hyps[0].n_ids;
    memcpy(ids, r.hyps[0].ids, sizeof(int32_t) * (size_t)r.hyps[0].n_ids);
}

int main(void) {
    es_model *m;
    es_error err;
    es_load_params lp = es_load_params_default();
    lp.n_threads = 1;
    REQUIRE(es_model_load(&m, fixture("t5/tiny-v11"), &lp, &err) == ES_OK, "load: %s", err.msg);
    int32_t src[4 * SRC], mask[4 * SRC];
    for (int i = 0; i < 4 * SRC; i++) {
        src[i] = i % SRC == SRC - 1 ? 1 : 3 + (int32_t)((i * 7919u) % 30000u);
        mask[i] = 1;
    }
    int32_t ids[2][2][NEW + 2];
    int n_ids[2][2];
    const int V = es_model_get_info(m)->vocab_size, D = es_model_get_info(m)->d_model;
    float *enc = malloc(sizeof(float) * 4 * SRC * (size_t)D);
    float *logits = malloc(sizeof(float) * 4 * 3 * (size_t)V);
    REQUIRE(enc && logits, "malloc");
    for (int th = 1; th <= 2; th++) {
        es_session_params sp = es_session_params_default();
        sp.max_batch = 4;
        sp.max_src_len = SRC;
        sp.max_tgt_len = NEW + 1;
        sp.n_threads = th;
        es_session *s;
        long a0 = es_test_alloc_count();
        REQUIRE(es_session_new(&s, m, &sp, &err) == ES_OK, "session: %s", err.msg);
        CHECK(es_test_alloc_count() - a0 > 0, "the counter sees session creation");
        long n;
        /* first calls on a fresh session: nothing left to allocate */
        gen(s, src, 0, NEW, ids[th - 1][0], &n_ids[th - 1][0], &n);
        CHECK(n == 0, "threads %d: greedy %d tokens (first call) made %ld allocations", th, NEW, n);
        gen(s, src, 1, NEW, ids[th - 1][1], &n_ids[th - 1][1], &n);
        CHECK(n == 0, "threads %d: beam-4 %d tokens (first call) made %ld allocations", th, NEW, n);
        int32_t tmp[NEW + 2];
        int nt;
        gen(s, src, 0, 3, tmp, &nt, &n);
        CHECK(n == 0, "threads %d: greedy 3 tokens made %ld allocations", th, n);
        gen(s, src, 1, NEW, tmp, &nt, &n);
        CHECK(n == 0, "threads %d: beam-4 again made %ld allocations", th, n);
        a0 = es_test_alloc_count();
        CHECK(es_session_encode(s, enc, src, mask, 4, SRC) == ES_OK, "encode");
        n = es_test_alloc_count() - a0;
        CHECK(n == 0, "threads %d: encode 4 x %d made %ld allocations", th, SRC, n);
        int32_t dec[4 * 3];
        for (int i = 0; i < 12; i++) dec[i] = i % 3 == 0 ? 0 : 5 + i;
        a0 = es_test_alloc_count();
        CHECK(es_session_decoder_logits(s, logits, src, mask, 4, SRC, dec, 3) == ES_OK,
              "decoder_logits");
        n = es_test_alloc_count() - a0;
        CHECK(n == 0, "threads %d: decoder_logits made %ld allocations", th, n);
        double lp1;
        a0 = es_test_alloc_count();
        CHECK(es_session_score(s, &lp1, src, SRC, ids[th - 1][0], 10) == ES_OK, "score");
        n = es_test_alloc_count() - a0;
        CHECK(n == 0, "threads %d: score made %ld allocations", th, n);
        es_session_free(s);
    }
    for (int k = 0; k < 2; k++) {
        CHECK(n_ids[0][k] == n_ids[1][k] &&
                  memcmp(ids[0][k], ids[1][k], sizeof(int32_t) * (size_t)n_ids[0][k]) == 0,
              "%s ids differ between 1 and 2 threads", k ? "beam" : "greedy");
        CHECK(n_ids[0][k] >= NEW, "%s produced %d ids", k ? "beam" : "greedy", n_ids[0][k]);
    }
    free(enc);
    free(logits);
    es_model_free(m);
    TEST_MAIN_END();
}
