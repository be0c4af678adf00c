/* T5 engine parity against ../shared/fixtures/t5/{tiny-v1,tiny-v11}
 * expected.safetensors (fixtures README sections 2-3): encoder output,
 * first/teacher-forced logits, per-token and summed target log-probs,
 * loss, es_session_score, greedy and beam-4 ids and scores, relative
 * bucket tables; tiny-v1 also loaded from pytorch_model.bin; every run
 * with 1 and 2 threads, ids and floats compared between the two.
 * Inputs come from expected.safetensors itself (no tokenizer needed).
 * Prints max |diff| / tolerance per tensor (tolerance 1e-4 + 1e-4*|ref|). */
#include "test.h"

#include "io/weights.h"
#include "nn/ops.h"
#include "model/model_internal.h"
#include "tok/tok_internal.h"

#include <stdint.h>
#include <unistd.h>

typedef struct fx {
    es_weights *w;
    int B, S, T, V;
    const int32_t *input_ids, *mask, *in_len, *dec_in, *tgt, *tgt_len;
} fx;

/* Copy of a tensor's data (F32 or I32) after checking dtype and numel. */
static void *get(const fx *f, const char *name, es_dtype dt, size_t numel) {
    const es_tensor_view *t = es_weights_find(f->w, name);
    REQUIRE(t != NULL, "expected tensor %s missing", name);
    REQUIRE(t->dtype == dt, "%s dtype", name);
    REQUIRE(es_tensor_numel(t) == numel, "%s numel %zu != %zu", name, es_tensor_numel(t), numel);
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static double g_worst;

/* Compares n floats; returns max |c - r| / (1e-4 + 1e-4 |r|). */
static double cmp_f(const char *label, const char *name, const float *c, const float *r, size_t n,
                    const int32_t *keep) {
    double worst = 0, maxd = 0;
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep && !keep[i]) continue;
        double d = fabs((double)c[i] - (double)r[i]);
        double ratio = d / (1e-4 + 1e-4 * fabs((double)r[i]));
        if (!(ratio <= 1.0)) {
            if (!bad) at = i;
            bad++;
        }
        if (d > maxd || d != d) maxd = d;
        if (ratio > worst || ratio != ratio) worst = ratio;
    }
    printf("  %-5s %-22s max|d| %.3g  ratio %.3f\n", label, name, maxd, worst);
    CHECK(bad == 0, "%s %s: %zu values out of tolerance, first at %zu (%g vs %g)", label, name,
          bad, at, (double)c[at], (double)r[at]);
    if (worst > g_worst) g_worst = worst;
    return worst;
}

/* Outputs of one full run, kept to compare thread counts. */
typedef struct run_out {
    float *enc, *logits;
    int32_t greedy[3][16], beam[3][4][16];
} run_out;

static void run(const char *label, const char *dir, const fx *f, int n_threads, bool is_tied,
                uint64_t n_params, run_out *ro) {
    es_error err;
    es_model *m = NULL;
    es_status s = es_model_load(&m, dir, NULL, &err);
    REQUIRE(s == ES_OK, "%s: load %s: %s", label, dir, err.msg);
    const es_model_info *info = es_model_get_info(m);
    CHECK(info->n_params == n_params, "%s n_params %llu != %llu", label,
          (unsigned long long)info->n_params, (unsigned long long)n_params);
    CHECK(info->tie_word_embeddings == is_tied, "%s tied", label);
    CHECK(info->vocab_size == f->V, "%s vocab", label);
    CHECK(es_model_tokenizer(m) != NULL, "%s: tokenizer loaded", label);
    const int B = f->B, S = f->S, T = f->T, V = f->V, D = info->d_model;

    es_session_params sp = es_session_params_default();
    sp.max_batch = 4;
    sp.max_src_len = S;
    sp.max_tgt_len = T;
    sp.n_threads = n_threads;
    es_session *ss = NULL;
    s = es_session_new(&ss, m, &sp, &err);
    REQUIRE(s == ES_OK, "%s: session: %s", label, err.msg);

    /* encoder */
    float *enc = malloc(sizeof(float) * B * S * D);
    s = es_session_encode(ss, enc, f->input_ids, f->mask, B, S);
    REQUIRE(s == ES_OK, "%s encode: %s", label, es_session_errmsg(ss));
    {
        float *ref = get(f, "encoder_output", ES_DTYPE_F32, (size_t)B * S * D);
        int32_t *keep = malloc(sizeof(int32_t) * B * S * D);
        for (int i = 0; i < B * S; i++)
            for (int d = 0; d < D; d++) keep[(size_t)i * D + d] = f->mask[i];
        cmp_f(label, "encoder_output", enc, ref, (size_t)B * S * D, keep);
        free(ref);
        free(keep);
    }

    /* teacher forcing */
    float *logits = malloc(sizeof(float) * (size_t)B * T * V);
    s = es_session_decoder_logits(ss, logits, f->input_ids, f->mask, B, S, f->dec_in, T);
    REQUIRE(s == ES_OK, "%s decoder_logits: %s", label, es_session_errmsg(ss));
    {
        const es_tensor_view *tv = es_weights_find(f->w, "tf_logits");
        REQUIRE(tv && tv->ndim == 3, "tf_logits");
        int rows = (int)tv->shape[0];
        float *ref = get(f, "tf_logits", ES_DTYPE_F32, (size_t)rows * T * V);
        cmp_f(label, "tf_logits", logits, ref, (size_t)rows * T * V, NULL);
        free(ref);
        float *first = get(f, "first_logits", ES_DTYPE_F32, (size_t)B * V);
        float *mine = calloc((size_t)B * V, sizeof(float));
        for (int b = 0; b < B; b++)
            memcpy(mine + (size_t)b * V, logits + (size_t)b * T * V, sizeof(float) * V);
        cmp_f(label, "first_logits", mine, first, (size_t)B * V, NULL);
        free(first);
        free(mine);

        float *tlp_ref = get(f, "target_token_logprobs", ES_DTYPE_F32, (size_t)B * T);
        float *lp_ref = get(f, "target_logprob", ES_DTYPE_F32, (size_t)B);
        float *loss_ref = get(f, "tf_loss", ES_DTYPE_F32, 1);
        float *tlp = calloc((size_t)B * T, sizeof(float));
        float lp[3] = {0};
        double tot = 0;
        int n_tok = 0;
        for (int b = 0; b < B; b++) {
            double sum = 0;
            for (int t = 0; t < T; t++) {
                int32_t y = f->tgt[b * T + t];
                if (y < 0) continue;
                const float *l = logits + ((size_t)b * T + t) * V;
                double v = (double)l[y] - es_logsumexp(l, V);
                tlp[b * T + t] = (float)v;
                sum += v;
                n_tok++;
            }
            lp[b] = (float)sum;
            tot += sum;
        }
        float loss = (float)(-tot / n_tok);
        cmp_f(label, "target_token_logprobs", tlp, tlp_ref, (size_t)B * T, NULL);
        cmp_f(label, "target_logprob", lp, lp_ref, (size_t)B, NULL);
        cmp_f(label, "tf_loss", &loss, loss_ref, 1, NULL);

        /* es_session_score on unpadded rows */
        float sc[3] = {0};
        for (int b = 0; b < B; b++) {
            double v = 0;
            s = es_session_score(ss, &v, f->input_ids + b * S, f->in_len[b], f->tgt + b * T,
                                 f->tgt_len[b]);
            CHECK(s == ES_OK, "%s score row %d: %s", label, b, es_session_errmsg(ss));
            sc[b] = (float)v;
        }
        cmp_f(label, "score(target_logprob)", sc, lp_ref, (size_t)B, NULL);
        free(tlp_ref);
        free(lp_ref);
        free(loss_ref);
        free(tlp);
    }

    /* greedy, 16 steps, EOS ignored */
    int32_t *g_ref = get(f, "greedy_ids", ES_DTYPE_I32, (size_t)B * 16);
    for (int b = 0; b < B; b++) {
        es_gen_params gp = es_gen_params_default();
        gp.method = ES_DECODE_GREEDY;
        gp.max_new_tokens = 16;
        gp.ignore_eos = 1;
        es_gen_result r;
        s = es_session_generate(ss, &r, f->input_ids + b * S, f->in_len[b], &gp);
        REQUIRE(s == ES_OK, "%s greedy: %s", label, es_session_errmsg(ss));
        REQUIRE(r.n_hyps == 1 && r.hyps[0].n_ids == 16, "%s greedy len %d", label,
                r.n_hyps ? r.hyps[0].n_ids : -1);
        int same = memcmp(r.hyps[0].ids, g_ref + b * 16, 16 * sizeof(int32_t)) == 0;
        CHECK(same, "%s greedy row %d differs (first id %d vs %d)", label, b, r.hyps[0].ids[0],
              g_ref[b * 16]);
        memcpy(ro->greedy[b], r.hyps[0].ids, sizeof ro->greedy[b]);
    }
    printf("  %-5s greedy_ids exact: %s\n", label,
           memcmp(ro->greedy, g_ref, sizeof ro->greedy) == 0 ? "yes" : "NO");
    free(g_ref);

    /* beam 4, 16 steps, EOS ignored, length_penalty 1 */
    int32_t *b_ids = get(f, "beam4_ids", ES_DTYPE_I32, (size_t)B * 16);
    int32_t *b_all = get(f, "beam4_all_ids", ES_DTYPE_I32, (size_t)B * 4 * 16);
    float *b_sc = get(f, "beam4_scores", ES_DTYPE_F32, (size_t)B);
    float *b_sum = get(f, "beam4_sum_logprobs", ES_DTYPE_F32, (size_t)B);
    float *b_all_sc = get(f, "beam4_all_scores", ES_DTYPE_F32, (size_t)B * 4);
    float sc[3] = {0}, sum[3] = {0}, all_sc[12] = {0};
    int all_same = 1;
    for (int b = 0; b < B; b++) {
        es_gen_params gp = es_gen_params_default();
        gp.method = ES_DECODE_BEAM;
        gp.num_beams = 4;
        gp.max_new_tokens = 16;
        gp.ignore_eos = 1;
        gp.length_penalty = 1.0f;
        es_gen_result r;
        s = es_session_generate(ss, &r, f->input_ids + b * S, f->in_len[b], &gp);
        REQUIRE(s == ES_OK, "%s beam: %s", label, es_session_errmsg(ss));
        REQUIRE(r.n_hyps == 4, "%s beam n_hyps %d", label, r.n_hyps);
        for (int k = 0; k < 4; k++) {
            REQUIRE(r.hyps[k].n_ids == 16, "beam len");
            int same = memcmp(r.hyps[k].ids, b_all + (b * 4 + k) * 16, 64) == 0;
            CHECK(same, "%s beam row %d hyp %d differs", label, b, k);
            all_same &= same;
            all_sc[b * 4 + k] = r.hyps[k].score;
            memcpy(ro->beam[b][k], r.hyps[k].ids, 64);
        }
        CHECK(memcmp(r.hyps[0].ids, b_ids + b * 16, 64) == 0, "%s beam best row %d", label, b);
        sc[b] = r.hyps[0].score;
        sum[b] = r.hyps[0].sum_logprob;
    }
    printf("  %-5s beam4_ids/beam4_all_ids exact: %s\n", label, all_same ? "yes" : "NO");
    cmp_f(label, "beam4_scores", sc, b_sc, (size_t)B, NULL);
    cmp_f(label, "beam4_sum_logprobs", sum, b_sum, (size_t)B, NULL);
    cmp_f(label, "beam4_all_scores", all_sc, b_all_sc, (size_t)B * 4, NULL);
    free(b_ids);
    free(b_all);
    free(b_sc);
    free(b_sum);
    free(b_all_sc);

    ro->enc = enc;
    ro->logits = logits;
    es_session_free(ss);
    es_model_free(m);
}

static void check_buckets(const fx *f, const char *label, int nb, int md) {
    int32_t *rel = get(f, "bucket_rel_pos", ES_DTYPE_I32, 601);
    int32_t *bi = get(f, "bucket_bidirectional", ES_DTYPE_I32, 601);
    int32_t *uni = get(f, "bucket_unidirectional", ES_DTYPE_I32, 601);
    int bad = 0;
    for (int i = 0; i < 601; i++) {
        if (es_t5_rel_bucket(rel[i], true, nb, md) != bi[i]) bad++;
        if (es_t5_rel_bucket(rel[i], false, nb, md) != uni[i]) bad++;
    }
    printf("  %-5s bucket tables: %d mismatches of 1202\n", label, bad);
    CHECK(bad == 0, "%s: %d bucket mismatches", label, bad);
    free(rel);
    free(bi);
    free(uni);
}

static void compare_runs(const char *label, const run_out *a, const run_out *b, size_t n_enc,
                         size_t n_logits) {
    CHECK(memcmp(a->greedy, b->greedy, sizeof a->greedy) == 0, "%s: greedy ids 1 vs 2 threads",
          label);
    CHECK(memcmp(a->beam, b->beam, sizeof a->beam) == 0, "%s: beam ids 1 vs 2 threads", label);
    CHECK(memcmp(a->enc, b->enc, n_enc * sizeof(float)) == 0,
          "%s: encoder output not bit-identical for 1 and 2 threads", label);
    CHECK(memcmp(a->logits, b->logits, n_logits * sizeof(float)) == 0,
          "%s: logits not bit-identical for 1 and 2 threads", label);
}

static void free_run(run_out *r) {
    free(r->enc);
    free(r->logits);
}

static void checkpoint(const char *name, bool tied, uint64_t n_params, bool with_bin) {
    char dir[4096], path[4096];
    snprintf(dir, sizeof dir, "%s", fixture(name));
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    printf("%s\n", name);
    fx f = {0};
    es_error err;
    es_status st = es_weights_new(&f.w, &err);
    REQUIRE(st == ES_OK, "weights");
    st = es_safetensors_read(f.w, path, &err);
    REQUIRE(st == ES_OK, "%s: %s", path, err.msg);
    es_weights_seal(f.w);
    const es_tensor_view *ii = es_weights_find(f.w, "input_ids");
    const es_tensor_view *di = es_weights_find(f.w, "decoder_input_ids");
    const es_tensor_view *fl = es_weights_find(f.w, "first_logits");
    REQUIRE(ii && di && fl, "inputs present");
    f.B = (int)ii->shape[0];
    f.S = (int)ii->shape[1];
    f.T = (int)di->shape[1];
    f.V = (int)fl->shape[1];
    REQUIRE(f.B == 3, "B = 3");
    f.input_ids = get(&f, "input_ids", ES_DTYPE_I32, (size_t)f.B * f.S);
    f.mask = get(&f, "attention_mask", ES_DTYPE_I32, (size_t)f.B * f.S);
    f.in_len = get(&f, "input_lengths", ES_DTYPE_I32, (size_t)f.B);
    f.dec_in = get(&f, "decoder_input_ids", ES_DTYPE_I32, (size_t)f.B * f.T);
    f.tgt = get(&f, "target_ids", ES_DTYPE_I32, (size_t)f.B * f.T);
    f.tgt_len = get(&f, "target_lengths", ES_DTYPE_I32, (size_t)f.B);

    check_buckets(&f, "", 32, 128);

    es_model *m = NULL;
    st = es_model_load(&m, dir, NULL, &err);
    REQUIRE(st == ES_OK, "%s", err.msg);
    const size_t n_enc = (size_t)f.B * f.S * es_model_get_info(m)->d_model;
    es_model_free(m);
    const size_t n_logits = (size_t)f.B * f.T * f.V;

    run_out r1, r2;
    run("st/1t", dir, &f, 1, tied, n_params, &r1);
    run("st/2t", dir, &f, 2, tied, n_params, &r2);
    compare_runs(name, &r1, &r2, n_enc, n_logits);
    free_run(&r2);
    if (with_bin) {
        /* pytorch_model.bin alone: a temp folder of symlinks */
        char tmp[] = "/tmp/es_t5_bin_XXXXXX";
        char *made = mkdtemp(tmp);
        REQUIRE(made != NULL, "mkdtemp");
        const char *files[] = {"config.json", "pytorch_model.bin", "spiece.model"};
        char src[4096], dst[4096];
        for (int i = 0; i < 3; i++) {
            snprintf(src, sizeof src, "%s/%s", dir, files[i]);
            snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
            int rc = symlink(src, dst);
            REQUIRE(rc == 0, "symlink %s", dst);
        }
        es_model *mb = NULL;
        st = es_model_load(&mb, tmp, NULL, &err);
        REQUIRE(st == ES_OK, "%s", err.msg);
        CHECK(strcmp(es_model_get_info(mb)->weights_file, "pytorch_model.bin") == 0,
              "weights file %s", es_model_get_info(mb)->weights_file);
        es_model_free(mb);
        run_out rb;
        run("bin", tmp, &f, 1, tied, n_params, &rb);
        compare_runs("bin vs safetensors", &r1, &rb, n_enc, n_logits);
        free_run(&rb);
        for (int i = 0; i < 3; i++) {
            snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
            unlink(dst);
        }
        rmdir(tmp);
    }
    free_run(&r1);
    free((void *)f.input_ids);
    free((void *)f.mask);
    free((void *)f.in_len);
    free((void *)f.dec_in);
    free((void *)f.tgt);
    free((void *)f.tgt_len);
    es_weights_free(f.w);
}

/* While src/core/stubs_tmp.c holds weak placeholders, a static link only
 * pulls the real readers and tokenizer in when a symbol unique to their
 * objects is referenced (an archive member that already satisfied a
 * symbol weakly is not replaced otherwise). */
void *volatile g_force_link[] = {(void *)es_safetensors_parse, (void *)es_ptbin_parse,
                                 (void *)es_tok_piece_to_id, (void *)es_config_int};

int main(void) {
    checkpoint("t5/tiny-v1", true, 2221056, true);
    checkpoint("t5/tiny-v11", false, 3251232, false);
    printf("worst tolerance ratio over all tensors: %.3f\n", g_worst);
    TEST_MAIN_END();
}
