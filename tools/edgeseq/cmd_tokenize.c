/*
 * cmd_tokenize.c — `edgeseq tokenize` (text -> ids) and `edgeseq
 * detokenize` (ids -> text) with the model's SentencePiece tokenizer.
 *
 * Only the tokenizer is loaded (MODEL/spiece.model, or MODEL itself when
 * it is a .model file), not the weights. No EOS is added by `tokenize`:
 * the ids are exactly SentencePiece's (generate/score append `</s>`).
 * Inputs come from the arguments, or one per stdin line (streamed: only
 * the current line is held in memory).
 *
 * Pieces in --json output are the byte ranges of the normalized text each
 * token covers, which equals SentencePiece's `out_type=str` (for <unk>
 * runs it is the unknown surface, not "<unk>").
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int tokenize_one(const es_tokenizer *tok, const char *text, size_t len, bool json,
                        long lineno) {
    es_error err = {0};
    cli_ids ids = {0};
    es_token *toks = NULL;
    char *norm = NULL;
    size_t norm_len = 0;
    es_status s = cli_encode(tok, text, len, &ids, json ? &toks : NULL, json ? &norm : NULL,
                             &norm_len, &err);
    if (s != ES_OK) {
        cli_ids_free(&ids);
        if (lineno > 0) return cli_fail("stdin line %ld: %s", lineno, err.msg);
        return cli_fail_err(&err);
    }
    if (json) {
        printf("{\"text\": ");
        cli_json_str(stdout, text, len);
        printf(", \"ids\": ");
        cli_json_ids(stdout, ids.v, ids.n);
        printf(", \"pieces\": [");
        for (size_t i = 0; i < ids.n; i++) {
            if (i) printf(", ");
            size_t off = toks[i].offset, l = toks[i].length;
            if (off > norm_len || l > norm_len - off) off = l = 0; /* defensive */
            cli_json_str(stdout, norm + off, l);
        }
        printf("]}\n");
    } else {
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", (int)ids.v[i]);
        putchar('\n');
    }
    free(toks);
    free(norm);
    cli_ids_free(&ids);
    return CLI_EXIT_OK;
}

int cmd_tokenize(int argc, char **argv) {
    bool json = false;
    const char *model = NULL;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, 0, 0, "MODEL",
         "model folder (uses its spiece.model) or a SentencePiece .model file", NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL,
         "one JSON object per input: {\"text\", \"ids\", \"pieces\"}", NULL},
    };
    const cli_help help = {
        "edgeseq tokenize -m MODEL [--json] [TEXT...]",
        "Prints the SentencePiece ids of each TEXT (space-separated, one line per\n"
        "input; no </s> is appended). Without TEXT, every stdin line is one input\n"
        "(streamed; a trailing \\r is removed). T5's <extra_id_N> sentinels are ids\n"
        "32099-N; they are only produced by detokenize, not recognised in text.",
        "  edgeseq tokenize -m models/t5-small \"Hello world\"\n"
        "  edgeseq tokenize -m models/t5-small --json \"Hello world\"\n"
        "  cat corpus.txt | edgeseq tokenize -m spiece.model > ids.txt",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("tokenize", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos,
                       &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (!model) {
        free(pos);
        return cli_usage("tokenize", "missing -m MODEL");
    }
    es_tokenizer *tok;
    rc = cli_load_tokenizer(model, &tok);
    if (rc) {
        free(pos);
        return rc;
    }
    if (n_pos > 0) {
        for (int i = 0; i < n_pos && rc == CLI_EXIT_OK; i++)
            rc = tokenize_one(tok, pos[i], strlen(pos[i]), json, 0);
    } else {
        cli_lines r;
        cli_lines_init(&r, stdin, "lines");
        const char *line;
        size_t len;
        int got;
        while ((got = cli_lines_next(&r, &line, &len)) == 1) {
            rc = tokenize_one(tok, line, len, json, r.lineno);
            if (rc) break;
        }
        if (got < 0) rc = CLI_EXIT_RUNTIME;
        if (rc == CLI_EXIT_OK && r.lineno == 0)
            rc = cli_fail("no input: give TEXT arguments or lines on stdin");
        cli_lines_close(&r);
    }
    free(pos);
    es_tokenizer_free(tok);
    return rc;
}

/* Parses "12 5 1" (spaces, tabs or commas; optional [ ]) into ids. */
static bool parse_id_list(const char *s, size_t len, cli_ids *ids, char *bad, size_t bad_cap) {
    ids->n = 0;
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == ',' || c == '[' || c == ']') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && s[j] != ' ' && s[j] != '\t' && s[j] != ',' && s[j] != ']' && s[j] != '[')
            j++;
        char word[32];
        size_t wl = j - i;
        long long v;
        if (wl >= sizeof word) {
            snprintf(bad, bad_cap, "%.20s...", s + i);
            return false;
        }
        memcpy(word, s + i, wl);
        word[wl] = '\0';
        if (!cli_parse_int(word, 0, INT32_MAX, &v)) {
            snprintf(bad, bad_cap, "%s", word);
            return false;
        }
        if (!cli_ids_push(ids, (int32_t)v)) {
            snprintf(bad, bad_cap, "(out of memory)");
            return false;
        }
        i = j;
    }
    return true;
}

static int detok_print(const es_tokenizer *tok, const cli_ids *ids, bool json, bool mark) {
    es_error err = {0};
    char *text;
    size_t len;
    if (cli_decode(tok, ids->v, ids->n, mark ? ES_DECODE_MARK_UNKNOWN_IDS : 0, &text, &len,
                   &err) != ES_OK)
        return cli_fail_err(&err);
    if (json) {
        printf("{\"ids\": ");
        cli_json_ids(stdout, ids->v, ids->n);
        printf(", \"text\": ");
        cli_json_str(stdout, text, len);
        printf("}\n");
    } else {
        fwrite(text, 1, len, stdout);
        putchar('\n');
    }
    free(text);
    return CLI_EXIT_OK;
}

int cmd_detokenize(int argc, char **argv) {
    bool json = false, mark = false;
    const char *model = NULL;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, 0, 0, "MODEL",
         "model folder (uses its spiece.model) or a SentencePiece .model file", NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL, "print {\"ids\", \"text\"} per input", NULL},
        {"mark-unknown", 0, CLI_FLAG, &mark, 0, 0, NULL,
         "show ids without a piece as <id_N> instead of nothing", NULL},
    };
    const cli_help help = {
        "edgeseq detokenize -m MODEL [--json] [ID...]",
        "Decodes token ids to text with SentencePiece rules (<pad> and </s> vanish,\n"
        "<unk> is \" \xE2\x81\x87 \", extra ids print as <extra_id_N>). The IDs on the command line\n"
        "form one sequence; without IDs every stdin line is one sequence of ids\n"
        "separated by spaces or commas (a JSON list like [5, 6] works too).",
        "  edgeseq detokenize -m models/t5-small 8774 296 1\n"
        "  edgeseq tokenize -m models/t5-small \"Hello\" | edgeseq detokenize -m models/t5-small",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("detokenize", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos,
                       &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (!model) {
        free(pos);
        return cli_usage("detokenize", "missing -m MODEL");
    }
    cli_ids ids = {0};
    char bad[64];
    /* Validate the arguments before loading anything: a bad id is a usage error. */
    for (int i = 0; i < n_pos; i++) {
        cli_ids one = {0};
        if (!parse_id_list(pos[i], strlen(pos[i]), &one, bad, sizeof bad)) {
            cli_ids_free(&one);
            cli_ids_free(&ids);
            free(pos);
            return cli_usage("detokenize", "'%s' is not a token id (0..2147483647)", bad);
        }
        for (size_t k = 0; k < one.n; k++) cli_ids_push(&ids, one.v[k]);
        cli_ids_free(&one);
    }
    es_tokenizer *tok;
    rc = cli_load_tokenizer(model, &tok);
    if (rc) {
        cli_ids_free(&ids);
        free(pos);
        return rc;
    }
    if (n_pos > 0) {
        rc = detok_print(tok, &ids, json, mark);
    } else {
        cli_lines r;
        cli_lines_init(&r, stdin, "lines");
        const char *line;
        size_t len;
        int got;
        while ((got = cli_lines_next(&r, &line, &len)) == 1) {
            if (!parse_id_list(line, len, &ids, bad, sizeof bad)) {
                rc = cli_fail("stdin line %ld: '%s' is not a token id", r.lineno, bad);
                break;
            }
            rc = detok_print(tok, &ids, json, mark);
            if (rc) break;
        }
        if (got < 0) rc = CLI_EXIT_RUNTIME;
        if (rc == CLI_EXIT_OK && r.lineno == 0)
            rc = cli_fail("no input: give IDs as arguments or lines of ids on stdin");
        cli_lines_close(&r);
    }
    cli_ids_free(&ids);
    free(pos);
    es_tokenizer_free(tok);
    return rc;
}
