/*
 * cmd_eval_quant.c — `edgeseq eval-quant REF_DIR QUANT_DIR`: the quality
 * report of a reduced-precision T5 folder against its fp32 source, on N
 * seeded random inputs (ids uniform over the vocabulary minus the first 3
 * special ids, so it needs no tokenizer and works on `edgeseq init` models):
 *   - greedy agreement: both models decode 64 tokens greedily (EOS ignored);
 *     matched prefix length and per-position agreement
 *   - logits: teacher-forced on [start] + the fp32 greedy tokens, max and
 *     mean |Δ| over all (position, vocab) logits, and max |logit| for scale
 *   - score drift: |lp_q − lp_ref| / |lp_ref| of es_session_score of those
 *     64 tokens (mean, max)
 *   - beam agreement: beam 4, 64 new tokens: identical best hypothesis
 *   - file sizes of both model.safetensors and their ratio
 * All through the public API (es_session_*), so it measures what users get.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static long long st_size(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct side {
    es_model *m;
    es_session *s;
} side;

static int open_side(side *sd, const char *dir, int beams, int src_len, int n_tok, es_error *err) {
    es_load_params lp = es_load_params_default();
    if (es_model_load(&sd->m, dir, &lp, err)) return 1;
    es_session_params sp = es_session_params_default();
    sp.max_batch = beams;
    sp.max_src_len = src_len;
    sp.max_tgt_len = n_tok + 2;
    return es_session_new(&sd->s, sd->m, &sp, err) ? 1 : 0;
}

static void close_side(side *sd) {
    es_session_free(sd->s);
    es_model_free(sd->m);
}

int cmd_eval_quant(int argc, char **argv) {
    int n = 8, src_len = 24, n_tok = 64, beams = 4;
    uint64_t seed = 1;
    bool json = false;
    const char *inputs = NULL;
    cli_opt opts[] = {
        {"n", 0, CLI_INT, &n, 1, 10000, "N", "number of random inputs (default 8)", NULL},
        {"src-len", 0, CLI_INT, &src_len, 2, 512, "L", "input tokens incl. EOS (default 24)", NULL},
        {"tokens", 0, CLI_INT, &n_tok, 1, 510, "T", "tokens decoded / scored (default 64)", NULL},
        {"beam", 0, CLI_INT, &beams, 1, 16, "K", "beam width of the beam check (default 4)", NULL},
        {"seed", 0, CLI_U64, &seed, 0, 0, "S", "input RNG seed (default 1)", NULL},
        {"inputs", 0, CLI_STR, &inputs, 0, 0, "FILE",
         "texts (one per line, the first N non-empty) instead of random ids: tokenized with\n"
         "REF_DIR's spiece.model, cut to L-1 tokens + EOS; a trained model on real inputs", NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL, "one JSON object instead of text", NULL},
    };
    cli_help help = {
        "edgeseq eval-quant REF_DIR QUANT_DIR [--n N] [--src-len L] [--tokens T] [--beam K]\n"
        "       [--inputs FILE]",
        "Compares the T5 folder QUANT_DIR (edgeseq quantize output) with its fp32\n"
        "source REF_DIR on N seeded random inputs (or N texts of --inputs): max/mean\n"
        "|delta| of teacher-forced logits, relative drift of score log-probs, greedy\n"
        "agreement over T tokens and beam agreement, and the file sizes. Random ids\n"
        "are a harsh test for a trained model (flat, out-of-distribution outputs).",
        "  edgeseq quantize /tmp/small /tmp/small-int8 --dtype int8\n"
        "  edgeseq eval-quant /tmp/small /tmp/small-int8 --n 16\n"
        "  edgeseq eval-quant models/t5 /tmp/t5-int8 --inputs val.txt --n 32 --src-len 64"};
    char **pos = NULL;
    int n_pos = 0;
    int rc = cli_parse("eval-quant", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos != 2) {
        free(pos);
        return cli_usage("eval-quant", "expected REF_DIR and QUANT_DIR, got %d arguments", n_pos);
    }
    const char *rdir = pos[0], *qdir = pos[1];
    es_error err;
    side A = {0}, Q = {0};
    if (open_side(&A, rdir, beams, src_len, n_tok, &err) ||
        open_side(&Q, qdir, beams, src_len, n_tok, &err)) {
        close_side(&A);
        close_side(&Q);
        free(pos);
        return cli_fail_err(&err);
    }
    const es_model_info *ia = es_model_get_info(A.m), *iq = es_model_get_info(Q.m);
    if (ia->vocab_size != iq->vocab_size || ia->d_model != iq->d_model) {
        close_side(&A);
        close_side(&Q);
        free(pos);
        return cli_fail("%s and %s are not the same model (vocab/d_model differ)", rdir, qdir);
    }
    const int V = ia->vocab_size, T = n_tok;
    /* --inputs: the first n non-empty lines, tokenized once */
    cli_ids in_ids = {0};
    size_t *in_off = NULL;
    int n_in = 0;
    if (inputs) {
        const es_tokenizer *tok = es_model_tokenizer(A.m);
        FILE *f = tok ? fopen(inputs, "rb") : NULL;
        in_off = calloc((size_t)n + 1, sizeof *in_off);
        if (!tok || !f || !in_off) {
            if (f) fclose(f);
            free(in_off);
            close_side(&A);
            close_side(&Q);
            free(pos);
            return !tok ? cli_fail("%s: no spiece.model to tokenize --inputs", rdir)
                        : !f ? cli_fail("%s: %s", inputs, strerror(errno)) : cli_fail("out of memory");
        }
        cli_lines lr;
        cli_lines_init(&lr, f, "lines");
        const char *line;
        size_t len;
        int got;
        while (n_in < n && (got = cli_lines_next(&lr, &line, &len)) > 0) {
            size_t b = 0;
            while (b < len && (line[b] == ' ' || line[b] == '\t' || line[b] == '\r')) b++;
            if (b == len) continue;
            cli_ids one = {0};
            if (cli_encode(tok, line, len, &one, NULL, NULL, NULL, &err)) {
                cli_ids_free(&one);
                cli_lines_close(&lr);
                fclose(f);
                free(in_off);
                cli_ids_free(&in_ids);
                close_side(&A);
                close_side(&Q);
                free(pos);
                return cli_fail("%s line %d: %s", inputs, n_in + 1, err.msg);
            }
            size_t keep = one.n < (size_t)src_len - 1 ? one.n : (size_t)src_len - 1;
            for (size_t i = 0; i < keep; i++) cli_ids_push(&in_ids, one.v[i]);
            cli_ids_push(&in_ids, ia->eos_id);
            cli_ids_free(&one);
            in_off[++n_in] = in_ids.n;
        }
        cli_lines_close(&lr);
        fclose(f);
        if (n_in == 0) {
            free(in_off);
            cli_ids_free(&in_ids);
            close_side(&A);
            close_side(&Q);
            free(pos);
            return cli_fail("%s: no non-empty lines", inputs);
        }
        n = n_in;
    }
    int32_t *src = malloc(sizeof(int32_t) * (size_t)src_len), *mask = malloc(sizeof(int32_t) * (size_t)src_len);
    int32_t *ga = malloc(sizeof(int32_t) * (size_t)T), *dec = malloc(sizeof(int32_t) * (size_t)T);
    float *la = malloc(sizeof(float) * (size_t)T * V), *lq = malloc(sizeof(float) * (size_t)T * V);
    int32_t *ba = malloc(sizeof(int32_t) * (size_t)(T + 1));
    if (!src || !mask || !ga || !dec || !la || !lq || !ba) {
        rc = cli_fail("out of memory");
        goto done;
    }
    double max_d = 0, sum_d = 0, max_abs = 0, drift_sum = 0, drift_max = 0, pos_agree = 0,
           prefix_sum = 0;
    long long n_logits = 0;
    int greedy_same = 0, beam_same = 0;
    const es_gen_params gd = es_gen_params_default();
    uint64_t st = seed * 0x9e3779b97f4a7c15ull + 1;
    const int src_cap = src_len;
    for (int it = 0; it < n; it++) {
        if (inputs) {
            src_len = (int)(in_off[it + 1] - in_off[it]);
            memcpy(src, in_ids.v + in_off[it], sizeof(int32_t) * (size_t)src_len);
        } else {
            const int lo = V > 3 ? 3 : 0, span = V - lo;
            for (int i = 0; i < src_len - 1; i++) src[i] = lo + (int32_t)(xs(&st) % (uint64_t)span);
            src[src_len - 1] = ia->eos_id;
        }
        for (int i = 0; i < src_len; i++) mask[i] = 1;
        es_gen_params g = gd;
        g.method = ES_DECODE_GREEDY;
        g.max_new_tokens = T;
        g.ignore_eos = 1;
        es_gen_result r;
        if (es_session_generate(A.s, &r, src, src_len, &g)) goto sess_fail_a;
        int na = r.hyps[0].n_ids;
        memcpy(ga, r.hyps[0].ids, sizeof(int32_t) * (size_t)na);
        if (es_session_generate(Q.s, &r, src, src_len, &g)) goto sess_fail_q;
        int nq = r.hyps[0].n_ids, prefix = 0, same = 0;
        while (prefix < na && prefix < nq && ga[prefix] == r.hyps[0].ids[prefix]) prefix++;
        for (int i = 0; i < na && i < nq; i++) same += ga[i] == r.hyps[0].ids[i];
        greedy_same += prefix == na && na == nq;
        prefix_sum += (double)prefix / T;
        pos_agree += (double)same / T;
        /* teacher-forced logits on the fp32 greedy path */
        dec[0] = ia->decoder_start_id;
        for (int i = 1; i < T; i++) dec[i] = ga[i - 1];
        if (es_session_decoder_logits(A.s, la, src, mask, 1, src_len, dec, T)) goto sess_fail_a;
        if (es_session_decoder_logits(Q.s, lq, src, mask, 1, src_len, dec, T)) goto sess_fail_q;
        for (size_t i = 0; i < (size_t)T * V; i++) {
            double d = fabs((double)la[i] - lq[i]);
            max_d = d > max_d ? d : max_d;
            sum_d += d;
            max_abs = fabs(la[i]) > max_abs ? fabs(la[i]) : max_abs;
        }
        n_logits += (long long)T * V;
        double pa = 0, pq = 0;
        if (es_session_score(A.s, &pa, src, src_len, ga, na)) goto sess_fail_a;
        if (es_session_score(Q.s, &pq, src, src_len, ga, na)) goto sess_fail_q;
        double dr = pa != 0 ? fabs(pq - pa) / fabs(pa) : fabs(pq - pa);
        drift_sum += dr;
        drift_max = dr > drift_max ? dr : drift_max;
        es_gen_params b = gd;
        b.method = ES_DECODE_BEAM;
        b.num_beams = beams;
        b.num_return = 1;
        b.max_new_tokens = T;
        if (es_session_generate(A.s, &r, src, src_len, &b)) goto sess_fail_a;
        int nb = r.hyps[0].n_ids;
        memcpy(ba, r.hyps[0].ids, sizeof(int32_t) * (size_t)nb);
        if (es_session_generate(Q.s, &r, src, src_len, &b)) goto sess_fail_q;
        beam_same += r.hyps[0].n_ids == nb && memcmp(ba, r.hyps[0].ids, sizeof(int32_t) * (size_t)nb) == 0;
    }
    {
        long long sa = st_size(rdir), sq = st_size(qdir);
        double ratio = sa > 0 ? (double)sq / (double)sa : 0;
        if (json) {
            printf("{\"ref\": ");
            cli_json_str(stdout, rdir, strlen(rdir));
            printf(", \"quant\": ");
            cli_json_str(stdout, qdir, strlen(qdir));
            printf(", \"inputs\": ");
            if (inputs) cli_json_str(stdout, inputs, strlen(inputs));
            else printf("\"random\"");
            printf(", \"n\": %d, \"tokens\": %d, \"ref_bytes\": %lld, \"quant_bytes\": %lld, "
                   "\"size_ratio\": %.4f, \"logits_max_abs_diff\": %.6g, "
                   "\"logits_mean_abs_diff\": %.6g, \"logits_max_abs\": %.6g, "
                   "\"score_rel_drift_mean\": %.6g, \"score_rel_drift_max\": %.6g, "
                   "\"greedy_identical\": %d, \"greedy_prefix_frac\": %.4f, "
                   "\"greedy_position_agreement\": %.4f, \"beam\": %d, \"beam_identical\": %d}\n",
                   n, T, sa, sq, ratio, max_d, sum_d / (double)n_logits, max_abs, drift_sum / n,
                   drift_max, greedy_same, prefix_sum / n, pos_agree / n, beams, beam_same);
        } else {
            if (inputs)
                printf("eval-quant %s vs %s: %d texts of %s (<= %d tokens), %d decoded tokens\n",
                       qdir, rdir, n, inputs, src_cap, T);
            else
                printf("eval-quant %s vs %s: %d random inputs of %d tokens, %d decoded tokens\n",
                       qdir, rdir, n, src_len, T);
            printf("  file size          %lld / %lld bytes = %.3f\n", sq, sa, ratio);
            printf("  logits |delta|     max %.4g  mean %.4g  (max |logit| %.4g)\n", max_d,
                   sum_d / (double)n_logits, max_abs);
            printf("  score drift        mean %.3g  max %.3g  (relative, %d-token log-probs)\n",
                   drift_sum / n, drift_max, T);
            printf("  greedy-%d          identical %d/%d  matched prefix %.1f%%  positions %.1f%%\n", T,
                   greedy_same, n, 100.0 * prefix_sum / n, 100.0 * pos_agree / n);
            printf("  beam-%d            identical best %d/%d\n", beams, beam_same, n);
        }
        rc = CLI_EXIT_OK;
        goto done;
    }
sess_fail_a:
    rc = cli_fail("%s: %s", rdir, es_session_errmsg(A.s));
    goto done;
sess_fail_q:
    rc = cli_fail("%s: %s", qdir, es_session_errmsg(Q.s));
done:
    free(in_off);
    cli_ids_free(&in_ids);
    free(src);
    free(mask);
    free(ga);
    free(dec);
    free(la);
    free(lq);
    free(ba);
    close_side(&A);
    close_side(&Q);
    free(pos);
    return rc;
}
