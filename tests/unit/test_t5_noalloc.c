/* T5 sessions allocate nothing after es_session_new: every buffer,
 * including the GEMMs' packing scratch (es_pool_reserve), is sized at
 * creation. Counts es_malloc calls (core/alloc.c, es_test_alloc_count)
 * around greedy and beam-4 generation, encode, teacher-forced logits and
 * scoring on the tiny-v11 fixture, with 1 and 2 threads; the input is
 * longer than 8 tokens so the encoder takes the packed (general) GEMM path
 * that used to allocate per call. Also checks that the generated ids do
 * not depend on the thread count, and that the counter sees allocations
 * (session creation makes some), so a regression cannot pass silently.
 * Both fixtures: tiny-v11 (BF16 file, weights on the heap, unpacked) and
 * tiny-v1 (F32, memory-mapped: encoder weights pre-packed at load, see
 * src/model/t5_pack.c), plus packed == unpacked encoder bits on tiny-v1, and
 * greedy / beam-4 ids and scores equal with the decoder weights and LM head
 * re-packed row-interleaved (the default) or read row-major
 * (EDGESEQ_PACK=0). */
#include "test.h"

#include "core/common.h"
#include "edgeseq.h"

#define SRC 20
#define NEW 12

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

/* Encoder output of tiny-v1 (F32 weights: pre-packed at load unless
 * EDGESEQ_PACK=0) for 2 x SRC tokens into out, then greedy / beam ids and
 * scores. pack: 0 none, 1 decode weights re-packed before the load
 * returns (sync), 2 in the background (default: racing the first calls). */
static void encode_v1(float *out, const int32_t *src, const int32_t *mask, int pack) {
    setenv("EDGESEQ_PACK", pack == 1 ? "sync" : pack == 2 ? "1" : "0", 1);
    es_model *m;
    es_error err;
    es_load_params lp = es_load_params_default();
    REQUIRE(es_model_load(&m, fixture("t5/tiny-v1"), &lp, &err) == ES_OK, "load: %s", err.msg);
    es_session_params sp = es_session_params_default();
    sp.max_batch = 2;
    sp.max_src_len = SRC;
    sp.max_tgt_len = 4;
    es_session *s;
    REQUIRE(es_session_new(&s, m, &sp, &err) == ES_OK, "session: %s", err.msg);
    long a0 = es_test_alloc_count();
    CHECK(es_session_encode(s, out, src, mask, 2, SRC) == ES_OK, "encode");
    CHECK(es_test_alloc_count() == a0, "tiny-v1 (pack %d) encode allocated", pack);
    es_session_free(s);
    /* decode steps (M = 1 greedy, 4 beams) on the row-interleaved decoder
     * weights: ids and scores after the encoder output */
    sp.max_batch = 4;
    sp.max_tgt_len = NEW + 1;
    REQUIRE(es_session_new(&s, m, &sp, &err) == ES_OK, "session: %s", err.msg);
    for (int method = 0; method < 2; method++) {
        es_gen_params p = es_gen_params_default();
        p.method = method ? ES_DECODE_BEAM : ES_DECODE_GREEDY;
        p.num_beams = method ? 4 : 1;
        p.max_new_tokens = NEW;
        p.ignore_eos = 1;
        es_gen_result r;
        REQUIRE(es_session_generate(s, &r, src, SRC, &p) == ES_OK, "generate");
        float *o = out + 2 * SRC * 512 + method * (NEW + 1);
        o[0] = r.hyps[0].score;
        for (int i = 0; i < NEW; i++) o[1 + i] = i < r.hyps[0].n_ids ? (float)r.hyps[0].ids[i] : -1.0f;
    }
    es_session_free(s);
    es_model_free(m);
    unsetenv("EDGESEQ_PACK");
}

static int run(const char *fx);

int main(void) {
    run("t5/tiny-v11"); /* BF16 file: weights converted to heap F32, unpacked */
    run("t5/tiny-v1");  /* F32 file: memory-mapped, encoder weights pre-packed */
    /* pre-packed weights give the unpacked general path's bits (M > 8) */
    int32_t src[2 * SRC], mask[2 * SRC];
    for (int i = 0; i < 2 * SRC; i++) {
        src[i] = 3 + (int32_t)((i * 104729u) % 30000u);
        mask[i] = i < 2 * SRC - 3;
    }
    const size_t n_gen = 2 * (NEW + 1);
    float *a = calloc(2 * SRC * 512 + n_gen, sizeof(float));
    float *b = calloc(2 * SRC * 512 + n_gen, sizeof(float));
    REQUIRE(a && b, "malloc");
    float *c = calloc(2 * SRC * 512 + n_gen, sizeof(float));
    REQUIRE(c, "malloc");
    encode_v1(a, src, mask, 1);
    encode_v1(b, src, mask, 0);
    encode_v1(c, src, mask, 2);
    es_model *m;
    es_error err;
    es_load_params lp = es_load_params_default();
    REQUIRE(es_model_load(&m, fixture("t5/tiny-v1"), &lp, &err) == ES_OK, "load: %s", err.msg);
    const size_t n = 2 * SRC * (size_t)es_model_get_info(m)->d_model;
    es_model_free(m);
    REQUIRE(n <= 2 * SRC * 512, "d_model");
    CHECK(memcmp(a, b, n * sizeof(float)) == 0, "tiny-v1 encoder: packed != unpacked bits");
    CHECK(memcmp(a + 2 * SRC * 512, b + 2 * SRC * 512, n_gen * sizeof(float)) == 0,
          "tiny-v1 greedy / beam: re-packed decoder weights change ids or scores");
    CHECK(memcmp(a, c, (2 * SRC * 512 + n_gen) * sizeof(float)) == 0,
          "tiny-v1: background re-packing changes results");
    free(c);
    free(a);
    free(b);
    TEST_MAIN_END();
}

static int run(const char *fx) {
    es_model *m;
    es_error err;
    es_load_params lp = es_load_params_default();
    lp.n_threads = 1;
    REQUIRE(es_model_load(&m, fixture(fx), &lp, &err) == ES_OK, "load: %s", err.msg);
    printf("%s\n", fx);
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
    return 0;
}
