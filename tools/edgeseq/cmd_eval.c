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
 */
#include "clf.h"

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

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *split_name = "test";
    bool json = false;
    int threads = 0, batch = 16;
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
    };
    const cli_help help = {
        "edgeseq eval -m MODEL --data DIR [--split test|dev|train] [--json] [--threads N]\n"
        "             [--batch N]",
        "Scores a byte classifier on a split of the SpamAssassin corpus (fixed split:\n"
        "key = the MD5 in the file name). Prints exact ROC-AUC, accuracy, precision,\n"
        "recall and F1 of the second label (spam) at p >= 0.5, the confusion matrix,\n"
        "mean cross-entropy and model time. Messages are cut to the model's max_bytes.\n"
        "Use --batch 1 --threads 1 to measure single-message latency.",
        "  edgeseq eval -m models/spam-byteqrnn --data data --split test\n"
        "  edgeseq eval -m models/spam-byteqrnn --data data --split dev --json",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("eval", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    free(pos);
    if (n_pos > 0) return cli_usage("eval", "unexpected argument (use -m MODEL --data DIR)");
    if (!model) return cli_usage("eval", "missing -m MODEL");
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
