/*
 * cmd_score.c — `edgeseq score`: log-probability of a target text given an
 * input text under the model (teacher forcing).
 *
 * input ids = tokenizer ids + `</s>`; target ids = tokenizer ids + `</s>`;
 * the score is the sum over every target token, the final `</s>`
 * included, of log softmax(logits)[token], summed in double by the
 * library — HF's `-loss * n_tokens` for one row.
 *
 * Without INPUT, stdin is read as JSON lines {"input": ..., "target": ...}
 * (target may be omitted when --target is given); blank lines are skipped;
 * a malformed line stops with an error naming its number.
 */
#include "cli.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

typedef struct score_ctx {
    const es_tokenizer *tok;
    int32_t eos;
    cli_session cs;
    bool json;
} score_ctx;

static int encode_eos(const score_ctx *c, const char *text, size_t len, cli_ids *ids,
                      const char *where, const char *what) {
    es_error err = {0};
    if (cli_encode(c->tok, text, len, ids, NULL, NULL, NULL, &err) != ES_OK)
        return cli_fail("%s%s: %s", where, what, err.msg);
    if (!cli_ids_push(ids, c->eos)) return cli_fail("out of memory");
    if (ids->n > (size_t)INT32_MAX / 2) return cli_fail("%s%s is too long", where, what);
    return CLI_EXIT_OK;
}

static int score_one(score_ctx *c, const char *in, size_t in_len, const char *tg, size_t tg_len,
                     long lineno) {
    char where[48] = "";
    if (lineno > 0) snprintf(where, sizeof where, "stdin line %ld: ", lineno);
    cli_ids src = {0}, tgt = {0};
    int rc = encode_eos(c, in, in_len, &src, where, "input");
    if (!rc) rc = encode_eos(c, tg, tg_len, &tgt, where, "target");
    if (!rc) rc = cli_session_ensure(&c->cs, 1, (int)src.n, (int)tgt.n + 1);
    double lp = 0.0;
    if (!rc) {
        es_status s = es_session_score(c->cs.s, &lp, src.v, (int)src.n, tgt.v, (int)tgt.n);
        if (s != ES_OK) {
            const char *m = es_session_errmsg(c->cs.s);
            rc = cli_fail("%s%s", where, m && *m ? m : es_status_str(s));
        }
    }
    if (!rc) {
        if (c->json) {
            printf("{\"input\": ");
            cli_json_str(stdout, in, in_len);
            printf(", \"target\": ");
            cli_json_str(stdout, tg, tg_len);
            printf(", \"logprob\": ");
            cli_json_num(stdout, lp);
            printf(", \"n_tokens\": %zu}\n", tgt.n);
        } else {
            printf("%.6f\n", lp);
        }
        fflush(stdout);
    }
    cli_ids_free(&src);
    cli_ids_free(&tgt);
    return rc;
}

/* Parses one JSON line into input/target (borrowed from *obj). */
static int parse_line(const char *line, size_t len, long lineno, const char *dflt_target,
                      json_object **obj, const char **in, size_t *in_len, const char **tg,
                      size_t *tg_len) {
    *obj = NULL;
    json_tokener *tk = json_tokener_new();
    if (!tk) return cli_fail("out of memory");
    if (len > (size_t)INT32_MAX) {
        json_tokener_free(tk);
        return cli_fail("stdin line %ld: line too long", lineno);
    }
    json_object *o = json_tokener_parse_ex(tk, line, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t used = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    if (!o || je != json_tokener_success) {
        if (o) json_object_put(o);
        return cli_fail("stdin line %ld: invalid JSON (%s); expected {\"input\": ..., "
                        "\"target\": ...}", lineno,
                        je == json_tokener_continue ? "unexpected end of line"
                                                    : json_tokener_error_desc(je));
    }
    for (size_t i = used; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t') {
            json_object_put(o);
            return cli_fail("stdin line %ld: unexpected text after the JSON object", lineno);
        }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return cli_fail("stdin line %ld: expected a JSON object {\"input\": ..., \"target\": ...}",
                        lineno);
    }
    json_object *vi = NULL, *vt = NULL;
    if (!json_object_object_get_ex(o, "input", &vi) || !json_object_is_type(vi, json_type_string)) {
        json_object_put(o);
        return cli_fail("stdin line %ld: missing string field \"input\"", lineno);
    }
    if (json_object_object_get_ex(o, "target", &vt)) {
        if (!json_object_is_type(vt, json_type_string)) {
            json_object_put(o);
            return cli_fail("stdin line %ld: field \"target\" is not a string", lineno);
        }
        *tg = json_object_get_string(vt);
        *tg_len = (size_t)json_object_get_string_len(vt);
    } else if (dflt_target) {
        *tg = dflt_target;
        *tg_len = strlen(dflt_target);
    } else {
        json_object_put(o);
        return cli_fail("stdin line %ld: missing string field \"target\" (and no --target)",
                        lineno);
    }
    *in = json_object_get_string(vi);
    *in_len = (size_t)json_object_get_string_len(vi);
    *obj = o;
    return CLI_EXIT_OK;
}

int cmd_score(int argc, char **argv) {
    const char *model = NULL, *target = NULL;
    bool json = false;
    int threads = 0;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, 0, 0, "MODEL", "model folder (required)", NULL},
        {"target", 0, CLI_STR, &target, 0, 0, "TEXT",
         "target text to score (required with INPUT; default target for stdin lines)", NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL,
         "print {\"input\", \"target\", \"logprob\", \"n_tokens\"} per input", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N",
         "worker threads (default 0 = physical cores)", NULL},
    };
    const cli_help help = {
        "edgeseq score -m MODEL --target TEXT [--json] INPUT\n"
        "       edgeseq score -m MODEL [--target TEXT] [--json] < pairs.jsonl",
        "Prints log P(target | input): the sum of the log-probabilities of the\n"
        "target's tokens including the final </s> (n_tokens counts them), with\n"
        "input and target tokenized and </s> appended to each.\n"
        "Without INPUT, stdin holds one JSON object per line,\n"
        "  {\"input\": \"...\", \"target\": \"...\"}\n"
        "(\"target\" may be left out when --target is given; blank lines are skipped).\n"
        "Text output is the log-probability alone (\"%.6f\"), one line per input.",
        "  edgeseq score -m models/small --target \"Das Haus\" \"translate English to German: The house\"\n"
        "  edgeseq score -m models/small --json < pairs.jsonl",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("score", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    const char *bad = NULL;
    if (!model) bad = "missing -m MODEL";
    else if (n_pos > 1) bad = "expected one INPUT (quote it)";
    else if (n_pos == 1 && !target) bad = "missing --target TEXT";
    if (bad) {
        free(pos);
        return cli_usage("score", "%s", bad);
    }
    es_model *m;
    rc = cli_load_model(model, threads, &m);
    if (rc) {
        free(pos);
        return rc;
    }
    score_ctx c;
    memset(&c, 0, sizeof c);
    c.tok = es_model_tokenizer(m);
    if (!c.tok) {
        free(pos);
        es_model_free(m);
        return cli_fail("%s: no spiece.model in the model folder; cannot tokenize text", model);
    }
    c.eos = es_model_get_info(m)->eos_id;
    c.json = json;
    cli_session_init(&c.cs, m, threads);
    if (n_pos == 1) {
        rc = score_one(&c, pos[0], strlen(pos[0]), target, strlen(target), 0);
    } else {
        cli_lines r;
        cli_lines_init(&r, stdin, "pairs");
        const char *line;
        size_t len;
        int got;
        long n_done = 0;
        while ((got = cli_lines_next(&r, &line, &len)) == 1) {
            if (strspn(line, " \t") == len) continue;
            json_object *o;
            const char *in = NULL, *tg = NULL;
            size_t in_len = 0, tg_len = 0;
            rc = parse_line(line, len, r.lineno, target, &o, &in, &in_len, &tg, &tg_len);
            if (rc) break;
            rc = score_one(&c, in, in_len, tg, tg_len, r.lineno);
            json_object_put(o);
            if (rc) break;
            n_done++;
        }
        if (got < 0) rc = CLI_EXIT_RUNTIME;
        if (rc == CLI_EXIT_OK && n_done == 0)
            rc = cli_fail("no input: give INPUT and --target, or JSON lines on stdin");
        cli_lines_close(&r);
    }
    cli_session_free(&c.cs);
    es_model_free(m);
    free(pos);
    return rc;
}
