/*
 * cmd_eval.c — `edgeseq eval -m MODEL --data DIR --split test|dev|train`:
 * scores a byte classifier on a split of the SpamAssassin corpus and
 * prints exact ROC-AUC (Mann–Whitney U over logit differences), accuracy,
 * precision / recall / F1 for the positive label (spam) at p >= 0.5, the
 * confusion matrix, mean cross-entropy, and model-only timing (no file
 * reading) — with --batch 1 --threads 1 the time per message is the
 * single-message latency. CPU time is reported beside wall time because on
 * a shared machine wall time measures the neighbours too.
 *
 * Each message is read up to the model's max_bytes (its beginning: the
 * headers first); that cut is what the model sees in training too.
 *
 * `--task g2p` scores a grapheme-to-phoneme model on the fixed CMUdict
 * split instead (src/train/data_cmudict.h, g2p_eval.h): WER and PER with
 * and without stress digits, each word generated once (greedy, or
 * --beam K [--quantized-beam]), lower-case input unless --case original.
 *
 * A T5 model folder goes to cmd_eval_t5.c (text-to-text forms of both
 * tasks, src/train/t5_tasks.h).
 */
#include "clf.h"
#include "eval_t5.h"

#include "train/g2p_eval.h"

#include <stdlib.h>
#include <string.h>

/* 1-minute load average (shared machines: context for the timings), -1 if unknown. */
static double load_average(void) {
    double la = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &la) != 1) la = -1;
        fclose(f);
    }
    return la;
}

static void print_json(const char *model, const char *data, es_split split, const clf_eval *ev,
                       const es_byte_config *c, int threads, int batch) {
    const es_binary_metrics *m = &ev->bin;
    printf("{\"model\": ");
    cli_json_str(stdout, model, strlen(model));
    printf(", \"data\": ");
    cli_json_str(stdout, data, strlen(data));
    printf(", \"split\": \"%s\", \"n\": %zu, \"n_pos\": %lld, \"n_neg\": %lld, \"positive\": ",
           es_split_name(split), ev->n, (long long)m->n_pos, (long long)m->n_neg);
    cli_json_str(stdout, c->labels[1], strlen(c->labels[1]));
    printf(", \"roc_auc\": ");
    cli_json_num(stdout, m->auc);
    printf(", \"accuracy\": ");
    cli_json_num(stdout, m->accuracy);
    printf(", \"precision\": ");
    cli_json_num(stdout, m->precision);
    printf(", \"recall\": ");
    cli_json_num(stdout, m->recall);
    printf(", \"f1\": ");
    cli_json_num(stdout, m->f1);
    printf(", \"loss\": ");
    cli_json_num(stdout, ev->loss);
    printf(", \"confusion\": {\"tn\": %lld, \"fp\": %lld, \"fn\": %lld, \"tp\": %lld}",
           (long long)m->tn, (long long)m->fp, (long long)m->fn, (long long)m->tp);
    printf(", \"max_bytes\": %d, \"threads\": %d, \"batch\": %d, \"seconds\": ", c->max_bytes,
           threads, batch);
    cli_json_num(stdout, ev->seconds);
    printf(", \"ms_per_message\": ");
    cli_json_num(stdout, 1e3 * ev->seconds / (double)ev->n);
    printf(", \"cpu_seconds\": ");
    cli_json_num(stdout, ev->cpu_seconds);
    printf(", \"cpu_ms_per_message\": ");
    cli_json_num(stdout, 1e3 * ev->cpu_seconds / (double)ev->n);
    printf(", \"load_average\": ");
    cli_json_num(stdout, load_average());
    printf(", \"bytes_per_s\": ");
    cli_json_num(stdout, ev->seconds > 0 ? (double)ev->n_bytes / ev->seconds : 0);
    printf("}\n");
}

static void print_text(const char *model, const char *data, es_split split, const clf_eval *ev,
                       const es_byte_config *c, int threads, int batch) {
    const es_binary_metrics *m = &ev->bin;
    const char *l0 = c->labels[0], *l1 = c->labels[1];
    printf("model:      %s\n", model);
    printf("data:       %s, split %s: %zu messages (%lld %s, %lld %s)\n", data,
           es_split_name(split), ev->n, (long long)m->n_neg, l0, (long long)m->n_pos, l1);
    printf("ROC-AUC:    %.6f\n", m->auc);
    printf("accuracy:   %.6f  (%s if p(%s) >= 0.5)\n", m->accuracy, l1, l1);
    printf("precision:  %.6f\n", m->precision);
    printf("recall:     %.6f\n", m->recall);
    printf("F1:         %.6f\n", m->f1);
    printf("loss:       %.6f  (mean cross-entropy, nats)\n", ev->loss);
    printf("confusion:  rows = truth, columns = predicted\n");
    printf("            %8.8s %8.8s\n", l0, l1);
    printf("  %8.8s  %8lld %8lld\n", l0, (long long)m->tn, (long long)m->fp);
    printf("  %8.8s  %8lld %8lld\n", l1, (long long)m->fn, (long long)m->tp);
    printf("time:       %.3f s model time, %.3f ms/message, %.0f bytes/s (%d thread%s, batch "
           "%d, max_bytes %d)\n",
           ev->seconds, 1e3 * ev->seconds / (double)ev->n,
           ev->seconds > 0 ? (double)ev->n_bytes / ev->seconds : 0.0, threads,
           threads == 1 ? "" : "s", batch, c->max_bytes);
    printf("cpu time:   %.3f s, %.3f ms/message (load average %.2f)\n", ev->cpu_seconds,
           1e3 * ev->cpu_seconds / (double)ev->n, load_average());
}

/* ---- --task g2p ------------------------------------------------------------ */

typedef struct g2p_opts {
    const char *model, *data, *split_name, *input_case, *errors_path;
    bool json, quantized;
    int threads, beam, limit;
    float length_penalty;
} g2p_opts;

static void g2p_print_error(void *user, const es_cmudict *d, size_t w, const char *pred,
                            bool ok_stress, bool ok_nostress) {
    FILE *f = user;
    (void)ok_nostress;
    if (ok_stress) return;
    const es_cmu_word *x = &d->words[w];
    fprintf(f, "%s\t%s\t", (const char *)d->text + x->lower, pred);
    for (uint32_t r = 0; r < x->n_prons; r++) {
        const es_cmu_pron *p = &d->prons[x->first_pron + r];
        for (uint32_t i = 0; i < p->len; i++)
            fprintf(f, "%s%s", i ? " " : "", d->symbols[d->ids[p->off + i]]);
        fputs(r + 1 < x->n_prons ? " | " : "\n", f);
    }
}

static int eval_g2p(const g2p_opts *o) {
    es_error err = {0};
    es_split split;
    if (es_split_parse(&split, o->split_name, &err)) return cli_usage("eval", "%s", err.msg);
    unsigned icase;
    if (strcmp(o->input_case, "lower") == 0) icase = ES_CMU_CASE_LOWER;
    else if (strcmp(o->input_case, "original") == 0) icase = ES_CMU_CASE_ORIGINAL;
    else return cli_usage("eval", "--case must be lower or original");
    es_model *m = NULL;
    es_session *s = NULL;
    es_cmudict *d = NULL;
    FILE *ef = NULL;
    int rc = CLI_EXIT_OK;
    es_load_params lp = es_load_params_default();
    es_status st = es_model_load(&m, o->model, &lp, &err);
    if (!st && es_model_get_info(m)->arch != ES_ARCH_BYTE_SEQ2SEQ)
        st = es_errf(&err, ES_ERR_ARG, "%s: not a byte seq2seq model (G2P needs one)", o->model);
    if (!st) st = es_cmudict_load(&d, o->data, &err);
    if (!st) {
        es_session_params sp = es_session_params_default();
        sp.max_batch = o->beam > 0 ? o->beam : 1;
        sp.n_threads = o->threads;
        st = es_session_new(&s, m, &sp, &err);
    }
    if (!st && o->errors_path && !(ef = fopen(o->errors_path, "w")))
        st = es_errf(&err, ES_ERR_IO, "%s: cannot open for writing", o->errors_path);
    es_gen_params gp = es_gen_params_default();
    gp.max_new_tokens = 1 << 20; /* capped at the model's decoder length */
    if (o->beam > 0) {
        gp.method = ES_DECODE_BEAM;
        gp.num_beams = o->beam;
        gp.num_return = 1;
        gp.quantized_beam = o->quantized;
        gp.length_penalty = o->length_penalty;
    } else {
        gp.method = ES_DECODE_GREEDY;
    }
    es_g2p_eval ev;
    if (!st)
        st = es_g2p_evaluate(&ev, s, m, d, split, &gp, icase, (size_t)o->limit,
                             ef ? g2p_print_error : NULL, ef, &err);
    if (ef && fclose(ef) != 0 && !st)
        st = es_errf(&err, ES_ERR_IO, "%s: write failed", o->errors_path);
    if (st) {
        rc = cli_fail_err(&err);
        goto done;
    }
    const es_g2p_score *a = &ev.m.stress, *b = &ev.m.nostress;
    size_t n = a->n_words;
    int nt = o->threads > 0 ? o->threads : cli_default_threads();
    char dec[64];
    if (o->beam > 0)
        snprintf(dec, sizeof dec, o->length_penalty == 1.0f ? "beam %d (%s)" : "beam %d (%s, alpha %g)",
                 o->beam, o->quantized ? "uint8" : "float", (double)o->length_penalty);
    else snprintf(dec, sizeof dec, "greedy");
    if (o->json) {
        printf("{\"model\": ");
        cli_json_str(stdout, o->model, strlen(o->model));
        printf(", \"task\": \"g2p\", \"split\": \"%s\", \"n_words\": %zu, \"decoding\": ",
               es_split_name(split), n);
        cli_json_str(stdout, dec, strlen(dec));
        printf(", \"input_case\": \"%s\", \"wer\": ", o->input_case);
        cli_json_num(stdout, es_g2p_wer(a));
        printf(", \"per\": ");
        cli_json_num(stdout, es_g2p_per(a));
        printf(", \"wer_no_stress\": ");
        cli_json_num(stdout, es_g2p_wer(b));
        printf(", \"per_no_stress\": ");
        cli_json_num(stdout, es_g2p_per(b));
        printf(", \"words_wrong\": %zu, \"words_wrong_no_stress\": %zu, \"phone_edits\": %zu, "
               "\"phone_edits_no_stress\": %zu, \"ref_phones\": %zu, \"ref_phones_no_stress\": "
               "%zu, \"unknown_symbols\": %zu, \"threads\": %d, \"ms_per_word\": ",
               a->n_wrong, b->n_wrong, a->edits, b->edits, a->ref_len, b->ref_len, ev.n_unknown,
               nt);
        cli_json_num(stdout, 1e3 * ev.seconds / (double)n);
        printf(", \"cpu_ms_per_word\": ");
        cli_json_num(stdout, 1e3 * ev.cpu_seconds / (double)n);
        printf(", \"load_average\": ");
        cli_json_num(stdout, load_average());
        printf("}\n");
    } else {
        printf("model:      %s\n", o->model);
        printf("data:       %s (CMUdict), split %s: %zu words%s\n", o->data, es_split_name(split),
               n, o->limit > 0 ? " (--limit)" : "");
        printf("decoding:   %s, %s-case input\n", dec, o->input_case);
        printf("WER:        %.4f%%  (%zu words wrong; stress removed: %.4f%%, %zu)\n",
               100 * es_g2p_wer(a), a->n_wrong, 100 * es_g2p_wer(b), b->n_wrong);
        printf("PER:        %.4f%%  (%zu edits / %zu phones; stress removed: %.4f%%, %zu / %zu)\n",
               100 * es_g2p_per(a), a->edits, a->ref_len, 100 * es_g2p_per(b), b->edits,
               b->ref_len);
        if (ev.n_unknown)
            printf("unknown:    %zu predicted symbols not in the dictionary's list\n", ev.n_unknown);
        printf("time:       %.3f ms/word wall, %.3f ms/word CPU (%d thread%s, batch 1; load "
               "average %.2f)\n",
               1e3 * ev.seconds / (double)n, 1e3 * ev.cpu_seconds / (double)n, nt,
               nt == 1 ? "" : "s", load_average());
    }
done:
    es_session_free(s);
    es_model_free(m);
    es_cmudict_free(d);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *split_name = "test";
    bool json = false;
    int threads = 0, batch = 16;
    const char *task = "spam", *input_case = "lower", *errors_path = NULL;
    bool quantized = false;
    int beam = 0, limit = 0;
    float length_penalty = 1.0f;
    int t5_max_src = 128, t5_max_body = 2048;
    float t5_fraction = 1.0f;
    uint64_t t5_seed = 1;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, 0, 0, "MODEL", "byte-classifier model folder", NULL},
        {"data", 0, CLI_STR, &data, 0, 0, "DIR",
         "corpus folder holding spam-assassin/ (scripts/fetch-data.sh)", NULL},
        {"split", 0, CLI_STR, &split_name, 0, 0, "S", "test, dev or train (default test)", NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL, "print one JSON object", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 256, "N", "threads (default: physical cores)",
         NULL},
        {"batch", 'b', CLI_INT, &batch, 1, CLF_MAX_BATCH, "N",
         "messages per forward pass (default 16)", NULL},
        {"task", 0, CLI_STR, &task, 0, 0, "T", "spam (default) or g2p (CMUdict)", NULL},
        {"beam", 0, CLI_INT, &beam, 0, 64, "K", "g2p: beam search with K beams (0 = greedy)",
         NULL},
        {"quantized-beam", 0, CLI_FLAG, &quantized, 0, 0, NULL, "g2p: uint8 beam search", NULL},
        {"length-penalty", 0, CLI_FLOAT, &length_penalty, -10, 10, "A",
         "g2p beam: GNMT length penalty alpha, score / ((5 + len) / 6)^A (default 1; tune on dev)",
         NULL},
        {"case", 0, CLI_STR, &input_case, 0, 0, "C", "g2p: input case, lower (default) or "
         "original", NULL},
        {"limit", 0, CLI_INT, &limit, 0, 1e9, "N", "g2p: first N words only (0 = all)", NULL},
        {"errors", 0, CLI_STR, &errors_path, 0, 0, "FILE",
         "g2p: write the words predicted wrong (word, prediction, references)", NULL},
        {"max-src-len", 0, CLI_INT, &t5_max_src, 2, 1 << 16, "N",
         "T5 spam: input tokens incl. </s> (default 128)", NULL},
        {"max-body", 0, CLI_INT, &t5_max_body, 0, 1 << 30, "N",
         "T5 spam: body bytes before the token cut (default 2048)", NULL},
        {"fraction", 0, CLI_FLOAT, &t5_fraction, 1e-6, 1, "F",
         "T5 g2p: seeded word subset of the split (data t5-jsonl rule; default 1)", NULL},
        {"seed", 0, CLI_U64, &t5_seed, 0, 0, "N", "T5 g2p: seed of --fraction (default 1)", NULL},
    };
    const cli_help help = {
        "edgeseq eval -m MODEL --data DIR [--split test|dev|train] [--json] [--threads N]\n"
        "             [--batch N]",
        "Scores a byte classifier on a split of the SpamAssassin corpus (fixed split:\n"
        "key = the MD5 in the file name). Prints exact ROC-AUC, accuracy, precision,\n"
        "recall and F1 of the second label (spam) at p >= 0.5, the confusion matrix,\n"
        "mean cross-entropy and model time. Messages are cut to the model's max_bytes.\n"
        "Use --batch 1 --threads 1 to measure single-message latency.\n"
        "--task g2p: scores a G2P model on the fixed CMUdict split (FNV-1a of the word);\n"
        "prints WER and PER with and without stress digits; --data defaults to data.\n"
        "A T5 model folder is scored on the text-to-text forms (`data t5-jsonl`): spam by\n"
        "log p(spam) - log p(ham), g2p by generating from \"phonemes: word\".",
        "  edgeseq eval -m models/spam-byteqrnn --data data --split test\n"
        "  edgeseq eval -m models/spam-byteqrnn --data data --split dev --json\n"
        "  edgeseq eval -m models/g2p-cmudict --task g2p --split test --beam 4",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("eval", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    free(pos);
    if (n_pos > 0) return cli_usage("eval", "unexpected argument (use -m MODEL --data DIR)");
    if (!model) return cli_usage("eval", "missing -m MODEL");
    if (eval_t5_is_t5(model)) {
        eval_t5_opts to = {model,   data ? data : "data", task,  split_name, errors_path, json,
                           threads, beam,                limit, t5_max_src, t5_max_body,
                           t5_fraction, t5_seed};
        return eval_t5_run(&to);
    }
    if (strcmp(task, "g2p") == 0) {
        g2p_opts go = {model, data ? data : "data", split_name, input_case, errors_path, json,
                       quantized, threads, beam, limit, length_penalty};
        return eval_g2p(&go);
    }
    if (strcmp(task, "spam") != 0) return cli_usage("eval", "--task must be spam or g2p");
    if (!data) return cli_usage("eval", "missing --data DIR");
    es_error err = {0};
    es_split split;
    if (es_split_parse(&split, split_name, &err)) return cli_usage("eval", "%s", err.msg);
    clf_runner r;
    rc = clf_open(&r, model, threads, batch);
    if (rc) return rc;
    es_text_dataset *d = NULL;
    clf_eval ev;
    es_status st = es_data_spam_list(&d, data, &err);
    if (!st) st = es_text_dataset_load(d, split, (size_t)r.max_bytes, &err);
    if (!st) st = clf_evaluate(&r, d, split, &ev, NULL, &err);
    if (st) {
        rc = cli_fail_err(&err);
    } else {
        int nt = r.pool ? es_pool_threads(r.pool) : 1;
        const es_byte_config *c = es_byte_model_config(r.model);
        if (json) print_json(model, data, split, &ev, c, nt, r.batch);
        else print_text(model, data, split, &ev, c, nt, r.batch);
    }
    es_text_dataset_free(d);
    clf_close(&r);
    return rc;
}
