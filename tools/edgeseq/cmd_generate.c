/*
 * cmd_generate.c — `edgeseq generate`: text in, generated text out, with
 * greedy decoding (default), beam search (--beam K) or sampling (--sample).
 *
 * Input ids are the tokenizer's ids of the text followed by `</s>`, as HF's
 * T5Tokenizer produces them. Each input (TEXT argument or stdin line) is
 * generated independently (batch 1) and printed as soon as it is done, so
 * a stream of any length runs in constant memory. `ids` in the output never
 * include the decoder start token.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct gen_ctx {
    const es_tokenizer *tok;
    const es_model *bytes_model; /* byte seq2seq: raw bytes in, es_model_output_text out */
    int32_t eos;
    cli_session cs;
    es_gen_params gp;
    bool json, beam;
    int num_return_print; /* hyps printed in text mode */
} gen_ctx;

static void print_hyp_json(const es_hyp *h, const char *text, size_t len) {
    printf("\"ids\": ");
    cli_json_ids(stdout, h->ids, (size_t)h->n_ids);
    printf(", \"text\": ");
    cli_json_str(stdout, text, len);
    printf(", \"score\": ");
    cli_json_num(stdout, h->score);
}

static int generate_one(gen_ctx *g, const char *text, size_t len, long lineno) {
    es_error err = {0};
    cli_ids ids = {0};
    char where[48] = "";
    if (lineno > 0) snprintf(where, sizeof where, "stdin line %ld: ", lineno);
    if (g->bytes_model) { /* byte seq2seq: the input ids are the raw bytes, no EOS */
        for (size_t i = 0; i < len; i++)
            if (!cli_ids_push(&ids, (unsigned char)text[i])) {
                cli_ids_free(&ids);
                return cli_fail("out of memory");
            }
    } else if (cli_encode(g->tok, text, len, &ids, NULL, NULL, NULL, &err) != ES_OK) {
        cli_ids_free(&ids);
        return cli_fail("%s%s", where, err.msg);
    }
    if (!g->bytes_model && !cli_ids_push(&ids, g->eos)) {
        cli_ids_free(&ids);
        return cli_fail("out of memory");
    }
    if (ids.n > (size_t)INT32_MAX / 2) {
        cli_ids_free(&ids);
        return cli_fail("%sinput of %zu tokens is too long", where, ids.n);
    }
    int batch = g->beam ? g->gp.num_beams : 1;
    int rc = cli_session_ensure(&g->cs, batch, (int)ids.n, g->gp.max_new_tokens + 1);
    if (rc) {
        cli_ids_free(&ids);
        return rc;
    }
    es_gen_result res = {0};
    es_status s = es_session_generate(g->cs.s, &res, ids.v, (int)ids.n, &g->gp);
    cli_ids_free(&ids);
    if (s != ES_OK) {
        const char *m = es_session_errmsg(g->cs.s);
        return cli_fail("%s%s", where, m && *m ? m : es_status_str(s));
    }
    if (res.n_hyps < 1 || !res.hyps) return cli_fail("%sno hypothesis was produced", where);

    /* Decode every hypothesis we print. */
    int n_print = g->num_return_print < res.n_hyps ? g->num_return_print : res.n_hyps;
    if (g->json) n_print = g->beam ? res.n_hyps : 1;
    char **texts = calloc((size_t)n_print, sizeof *texts);
    size_t *lens = calloc((size_t)n_print, sizeof *lens);
    if (!texts || !lens) {
        free(texts);
        free(lens);
        return cli_fail("out of memory");
    }
    for (int i = 0; i < n_print && rc == CLI_EXIT_OK; i++) {
        const es_hyp *h = &res.hyps[i];
        if (g->bytes_model) {
            size_t need = 0;
            es_model_output_text(g->bytes_model, h->ids, (size_t)h->n_ids, NULL, 0, &need, NULL);
            if (!(texts[i] = malloc(need + 1)))
                rc = cli_fail("out of memory");
            else if (es_model_output_text(g->bytes_model, h->ids, (size_t)h->n_ids, texts[i],
                                          need + 1, &lens[i], &err) != ES_OK)
                rc = cli_fail("%s%s", where, err.msg);
        } else if (cli_decode(g->tok, h->ids, (size_t)h->n_ids, 0, &texts[i], &lens[i], &err) !=
                   ES_OK)
            rc = cli_fail("%s%s", where, err.msg);
    }
    if (rc == CLI_EXIT_OK) {
        if (g->json) {
            printf("{\"input\": ");
            cli_json_str(stdout, text, len);
            printf(", ");
            print_hyp_json(&res.hyps[0], texts[0], lens[0]);
            if (g->beam) {
                printf(", \"beams\": [");
                for (int i = 0; i < n_print; i++) {
                    printf(i ? ", {" : "{");
                    print_hyp_json(&res.hyps[i], texts[i], lens[i]);
                    printf("}");
                }
                printf("]");
            }
            printf("}\n");
        } else if (n_print == 1) {
            fwrite(texts[0], 1, lens[0], stdout);
            putchar('\n');
        } else {
            for (int i = 0; i < n_print; i++) {
                printf("%.6f\t", (double)res.hyps[i].score);
                fwrite(texts[i], 1, lens[i], stdout);
                putchar('\n');
            }
        }
        fflush(stdout);
    }
    for (int i = 0; i < n_print; i++) free(texts[i]);
    free(texts);
    free(lens);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    const char *model = NULL;
    bool json = false, ignore_eos = false, early = false, sample = false;
    bool seen_beam = false, seen_nret = false, seen_lp = false, seen_early = false, qbeam = false;
    bool seen_temp = false, seen_topk = false, seen_topp = false, seen_seed = false;
    int beam = 4, max_new = 64, num_return = 1, top_k = 0, threads = 0;
    float lp = 1.0f, temp = 1.0f, top_p = 1.0f;
    uint64_t seed = 0;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, 0, 0, "MODEL", "model folder (required)", NULL},
        {"max-new-tokens", 'n', CLI_INT, &max_new, 1, 1 << 20, "N",
         "tokens to generate at most (default 64)", NULL},
        {"ignore-eos", 0, CLI_FLAG, &ignore_eos, 0, 0, NULL,
         "treat </s> as an ordinary token: always generate N tokens", NULL},
        {"beam", 'b', CLI_INT, &beam, 1, 256, "K", "beam search with K beams (default: greedy)",
         &seen_beam},
        {"length-penalty", 0, CLI_FLOAT, &lp, -100, 100, "A",
         "beam score = sum logprob / length^A (default 1.0)", &seen_lp},
        {"early-stopping", 0, CLI_FLAG, &early, 0, 0, NULL,
         "beam: stop once K hypotheses have ended (HF semantics)", &seen_early},
        {"quantized-beam", 0, CLI_FLAG, &qbeam, 0, 0, NULL,
         "beam on byte seq2seq models: uint8 scores with a log look-up table", NULL},
        {"num-return", 0, CLI_INT, &num_return, 1, 256, "N",
         "beam: print the N best beams (default 1; --json lists all K)", &seen_nret},
        {"sample", 0, CLI_FLAG, &sample, 0, 0, NULL, "sample instead of greedy/beam", NULL},
        {"temperature", 0, CLI_FLOAT, &temp, 1e-6, 1e6, "T", "sampling temperature (default 1.0)",
         &seen_temp},
        {"top-k", 0, CLI_INT, &top_k, 0, 1 << 30, "K", "sample from the K most likely (0 = off)",
         &seen_topk},
        {"top-p", 0, CLI_FLOAT, &top_p, 1e-9, 1, "P", "nucleus sampling mass (1.0 = off)",
         &seen_topp},
        {"seed", 0, CLI_U64, &seed, 0, 0, "S", "sampling seed (default 0)", &seen_seed},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N",
         "worker threads (default 0 = physical cores)", NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL,
         "one JSON object per input: {\"input\", \"ids\", \"text\", \"score\"} (+ \"beams\")",
         NULL},
    };
    const cli_help help = {
        "edgeseq generate -m MODEL [OPTIONS] [TEXT...]",
        "Generates a continuation for each TEXT (or each stdin line when no TEXT is\n"
        "given; streamed, output flushed per input). The encoder input is the\n"
        "tokenizer's ids of the text followed by </s>. Decoding is greedy unless\n"
        "--beam or --sample is given; it stops at </s> unless --ignore-eos.\n"
        "\n"
        "Text output: the generated text, one line per input (with --num-return N > 1:\n"
        "N lines \"score<TAB>text\"). --json output, one line per input:\n"
        "  {\"input\": TEXT, \"ids\": [...], \"text\": \"...\", \"score\": S}\n"
        "with --beam also \"beams\": [{\"ids\", \"text\", \"score\"}, ...] best first.\n"
        "\"ids\" never include the decoder start token. score: greedy/sample = sum of\n"
        "the tokens' log-probabilities; beam = sum / length^length_penalty.\n"
        "Byte seq2seq models (no tokenizer): the input is the raw bytes of TEXT; the\n"
        "output is bytes, or symbols separated by spaces (e.g. \"HH AH0 L OW1\"); beam\n"
        "scores use the GNMT penalty sum / ((5+length)/6)^length_penalty.",
        "  edgeseq generate -m models/small \"summarize: The quick brown fox ...\"\n"
        "  edgeseq generate -m models/small --beam 4 --num-return 2 \"translate English to German: Hi\"\n"
        "  edgeseq generate -m models/small --sample --top-p 0.9 --seed 1 --json \"cola sentence: x\"\n"
        "  cat inputs.txt | edgeseq generate -m models/small --json > out.jsonl",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("generate", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos,
                       &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    const char *bad = NULL;
    if (!model) bad = "missing -m MODEL";
    else if (sample && seen_beam) bad = "--sample and --beam exclude each other";
    else if (qbeam && !seen_beam) bad = "--quantized-beam needs --beam K";
    else if (!seen_beam && (seen_nret || seen_lp || seen_early))
        bad = "--num-return, --length-penalty and --early-stopping need --beam K";
    else if (!sample && (seen_temp || seen_topk || seen_topp || seen_seed))
        bad = "--temperature, --top-k, --top-p and --seed need --sample";
    else if (seen_nret && num_return > beam) bad = "--num-return must not exceed --beam";
    if (bad) {
        free(pos);
        return cli_usage("generate", "%s", bad);
    }

    es_model *m;
    rc = cli_load_model(model, threads, &m);
    if (rc) {
        free(pos);
        return rc;
    }
    gen_ctx g;
    memset(&g, 0, sizeof g);
    g.tok = es_model_tokenizer(m);
    if (es_model_get_info(m)->arch == ES_ARCH_BYTE_SEQ2SEQ) g.bytes_model = m;
    if (!g.tok && !g.bytes_model) {
        free(pos);
        es_model_free(m);
        return cli_fail("%s: no spiece.model in the model folder; cannot tokenize text", model);
    }
    g.eos = es_model_get_info(m)->eos_id;
    g.json = json;
    g.beam = seen_beam;
    g.num_return_print = seen_nret ? num_return : 1;
    g.gp = es_gen_params_default();
    g.gp.max_new_tokens = max_new;
    g.gp.ignore_eos = ignore_eos;
    if (seen_beam) {
        g.gp.method = ES_DECODE_BEAM;
        g.gp.num_beams = beam;
        g.gp.length_penalty = lp;
        g.gp.early_stopping = early;
        g.gp.num_return = beam; /* all beams: --json lists them; text prints num_return */
        g.gp.quantized_beam = qbeam;
    } else if (sample) {
        g.gp.method = ES_DECODE_SAMPLE;
        g.gp.temperature = temp;
        g.gp.top_k = top_k;
        g.gp.top_p = top_p;
        g.gp.seed = seed;
    } else {
        g.gp.method = ES_DECODE_GREEDY;
    }
    cli_session_init(&g.cs, m, threads);

    if (n_pos > 0) {
        for (int i = 0; i < n_pos && rc == CLI_EXIT_OK; i++)
            rc = generate_one(&g, pos[i], strlen(pos[i]), 0);
    } else {
        cli_lines r;
        cli_lines_init(&r, stdin, "inputs");
        const char *line;
        size_t len;
        int got;
        while ((got = cli_lines_next(&r, &line, &len)) == 1) {
            rc = generate_one(&g, line, len, r.lineno);
            if (rc) break;
        }
        if (got < 0) rc = CLI_EXIT_RUNTIME;
        if (rc == CLI_EXIT_OK && r.lineno == 0)
            rc = cli_fail("no input: give TEXT arguments or lines on stdin");
        cli_lines_close(&r);
    }
    cli_session_free(&g.cs);
    es_model_free(m);
    free(pos);
    return rc;
}
