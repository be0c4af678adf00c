/*
 * cmd_classify.c — `edgeseq classify -m MODEL [--json] [--text TEXT |
 * FILE... | -] [--lines]`: class probabilities of documents with a byte
 * classifier.
 *
 * A document is a file (an e-mail is one file), the --text argument, or
 * standard input ("-": all of it is one document; --lines: each line is
 * one document). Bytes are bytes: empty, binary, NUL-containing or
 * non-UTF-8 input is classified like any other; only the first max_bytes
 * (model config, 2048 for the shipped spam filter) of a document are read
 * and used, so a 10 MB message costs no more than a short one. A file that
 * cannot be read (missing, a folder, no permission) is reported on stderr
 * and the others are still classified; the exit code is then 1.
 *
 * Output per document: "LABEL<TAB>P<TAB>NAME" (P = probability of LABEL)
 * or with --json one object per line:
 *   {"file": NAME|null, "label": L, "p": {"ham": .., "spam": ..}}
 * (with --lines "file" is null and "line" gives the 1-based line number).
 */
#include "clf.h"

#include <stdlib.h>
#include <string.h>

static void print_one(const clf_runner *r, const char *name, long line, const float *logits,
                      bool json) {
    const es_byte_config *c = es_byte_model_config(r->model);
    float p[ES_BYTE_MAX_LABELS];
    clf_softmax(p, logits, c->n_labels);
    int best = 0;
    for (int i = 1; i < c->n_labels; i++)
        if (p[i] > p[best]) best = i;
    if (json) {
        printf("{\"file\": ");
        if (name) cli_json_str(stdout, name, strlen(name));
        else printf("null");
        if (line > 0) printf(", \"line\": %ld", line);
        printf(", \"label\": ");
        cli_json_str(stdout, c->labels[best], strlen(c->labels[best]));
        printf(", \"p\": {");
        for (int i = 0; i < c->n_labels; i++) {
            if (i) printf(", ");
            cli_json_str(stdout, c->labels[i], strlen(c->labels[i]));
            printf(": ");
            cli_json_num(stdout, p[i]);
        }
        printf("}}\n");
    } else if (line > 0) {
        printf("%s\t%.6f\tline %ld\n", c->labels[best], (double)p[best], line);
    } else {
        printf("%s\t%.6f\t%s\n", c->labels[best], (double)p[best], name ? name : "(text)");
    }
}

static int classify_bytes(clf_runner *r, const char *name, long line, const uint8_t *b,
                          size_t n, bool json) {
    es_error err = {0};
    float logits[ES_BYTE_MAX_LABELS];
    const uint8_t *bb[1] = {b};
    if (clf_logits(r, bb, &n, 1, logits, &err)) {
        if (line > 0) return cli_fail("stdin line %ld: %s", line, err.msg);
        return cli_fail("%s: %s", name ? name : "(text)", err.msg);
    }
    print_one(r, name, line, logits, json);
    return CLI_EXIT_OK;
}

int cmd_classify(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    bool json = false, lines = false;
    int threads = 1;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, 0, 0, "MODEL", "byte-classifier model folder", NULL},
        {"text", 0, CLI_STR, &text, 0, 0, "TEXT", "classify TEXT itself (one document)", NULL},
        {"lines", 0, CLI_FLAG, &lines, 0, 0, NULL,
         "read stdin, each line one document (default: all of stdin is one)", NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL,
         "one JSON object per document: {\"file\", \"label\", \"p\": {label: prob}}", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 256, "N", "threads (default 1; 0 = cores)", NULL},
    };
    const cli_help help = {
        "edgeseq classify -m MODEL [--json] [--text TEXT | FILE... | - | --lines]",
        "Prints the most probable label and its probability for each document:\n"
        "each FILE is one document (an e-mail is one file), '-' reads one document\n"
        "from stdin, --lines makes each stdin line a document, --text classifies its\n"
        "argument. Any bytes are accepted (binary, NUL, invalid UTF-8, empty); only the\n"
        "first max_bytes of a document (the model's config, 2048 for the shipped spam\n"
        "filter) are read and used. Unreadable files are reported and skipped (exit 1).",
        "  edgeseq classify -m models/spam-byteqrnn tests/data/spam/spam-assassin/spam-2/*.txt\n"
        "  edgeseq classify -m models/spam-byteqrnn --json - < message.eml\n"
        "  edgeseq classify -m models/spam-byteqrnn --text \"WIN A FREE CRUISE!!! click here\"\n"
        "  cut -f2 subjects.tsv | edgeseq classify -m models/spam-byteqrnn --lines",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("classify", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos,
                       &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (!model) rc = cli_usage("classify", "missing -m MODEL");
    else if (text && (n_pos > 0 || lines))
        rc = cli_usage("classify", "--text cannot be combined with FILE arguments or --lines");
    else if (lines && n_pos > 0 && !(n_pos == 1 && strcmp(pos[0], "-") == 0))
        rc = cli_usage("classify", "--lines reads stdin; do not give FILE arguments");
    if (rc) {
        free(pos);
        return rc;
    }
    clf_runner r;
    rc = clf_open(&r, model, threads, 1);
    if (rc) {
        free(pos);
        return rc;
    }
    if (text) {
        size_t n = strlen(text);
        if (n > (size_t)r.max_bytes) n = (size_t)r.max_bytes;
        rc = classify_bytes(&r, NULL, 0, (const uint8_t *)text, n, json);
    } else if (lines) {
        cli_lines in;
        cli_lines_init(&in, stdin, "lines");
        const char *l;
        size_t len;
        int got;
        while ((got = cli_lines_next(&in, &l, &len)) == 1) {
            if (len > (size_t)r.max_bytes) len = (size_t)r.max_bytes;
            rc = classify_bytes(&r, NULL, in.lineno, (const uint8_t *)l, len, json);
            if (rc) break;
        }
        if (got < 0) rc = CLI_EXIT_RUNTIME;
        cli_lines_close(&in);
    } else if (n_pos == 0) {
        rc = cli_usage("classify", "nothing to classify: give FILE..., '-', --lines or --text");
    } else {
        int stdin_used = 0;
        for (int i = 0; i < n_pos; i++) {
            const char *path = pos[i];
            if (strcmp(path, "-") == 0 && stdin_used++) {
                rc = cli_fail("'-' given twice: stdin is one document");
                continue;
            }
            if (path[0] == '\0') {
                rc = cli_fail("an empty file name was given (argument %d); classify reads FILEs "
                              "(or - for stdin), use --text for a string", i + 1);
                continue;
            }
            uint8_t *b = NULL;
            size_t n = 0;
            es_error err = {0};
            if (es_data_read_doc(&b, &n, path, (size_t)r.max_bytes, &err)) {
                rc = cli_fail_err(&err); /* report and go on with the other files */
                continue;
            }
            int rc1 = classify_bytes(&r, strcmp(path, "-") == 0 ? "-" : path, 0, b, n, json);
            es_free(b);
            if (rc1) rc = rc1;
        }
    }
    clf_close(&r);
    free(pos);
    return rc;
}
