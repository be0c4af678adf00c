/*
 * cmd_init.c — `edgeseq init NAME DIR`: writes a randomly initialised
 * T5-Efficient model folder in Hugging Face format (see
 * src/model/t5_init.h for names, family table and the writer's
 * guarantees). The work is done by es_t5_init_write; this file parses
 * flags, shows progress on a TTY and turns Ctrl-C into a clean
 * cancellation (the temporary folder is removed, DIR untouched).
 */
#include "cli.h"

#include "model/t5_init.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1;
}

typedef struct progress_state {
    bool tty;
    double last;
} progress_state;

static int progress_cb(void *user, uint64_t done, uint64_t total) {
    progress_state *ps = user;
    if (g_interrupted) return 1;
    if (ps->tty) {
        double t = cli_now();
        if (t - ps->last >= 0.25 || done == total) {
            char b1[32], b2[32];
            fprintf(stderr, "\rwriting model.safetensors: %5.1f%% (%s of %s)",
                    total ? 100.0 * (double)done / (double)total : 100.0,
                    cli_bytes(b1, sizeof b1, done), cli_bytes(b2, sizeof b2, total));
            fflush(stderr);
            ps->last = t;
        }
    }
    return 0;
}

/* mkdir -p of DIR's parent, so `init NAME models/new/x` works like
 * `mkdir -p`; DIR itself is created by the library's final rename. */
static int make_parents(const char *dir) {
    char buf[4096];
    size_t len = strlen(dir);
    if (len >= sizeof buf) return cli_fail("%s: path too long", dir);
    memcpy(buf, dir, len + 1);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return CLI_EXIT_OK;
    *slash = '\0';
    for (char *p = buf + 1; ; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cli_fail("%s: cannot create folder: %s", buf, strerror(errno));
            *p = c;
        }
        if (end) break;
    }
    return CLI_EXIT_OK;
}

int cmd_init(int argc, char **argv) {
    uint64_t seed = 0;
    const char *spm = NULL, *dtype_s = "f32";
    bool force = false, dry = false;
    int threads = 0;
    const cli_opt opts[] = {
        {"seed", 0, CLI_U64, &seed, 0, 0, "S", "random seed (default 0); same seed, same bytes",
         NULL},
        {"spm", 0, CLI_STR, &spm, 0, 0, "FILE",
         "SentencePiece model copied to DIR/spiece.model (default: none)", NULL},
        {"dtype", 0, CLI_STR, &dtype_s, 0, 0, "f32|bf16", "stored dtype (default f32)", NULL},
        {"force", 0, CLI_FLAG, &force, 0, 0, NULL,
         "allow a non-empty DIR; the model files in it are replaced", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N",
         "threads for random generation (default: physical cores)", NULL},
        {"dry-run", 0, CLI_FLAG, &dry, 0, 0, NULL,
         "print the configuration and sizes, write nothing", NULL},
    };
    const cli_help help = {
        "edgeseq init NAME DIR [--seed S] [--spm FILE] [--dtype f32|bf16] [--force]",
        "Writes a randomly initialised T5-Efficient model to DIR in Hugging Face\n"
        "format: config.json, generation_config.json, model.safetensors (HF tensor\n"
        "names, tied embedding stored once as shared.weight, like save_pretrained)\n"
        "and, with --spm, spiece.model + tokenizer_config.json. Initialisation follows\n"
        "HF T5PreTrainedModel._init_weights and is reproducible from --seed.\n"
        "\n"
        "NAME is t5-efficient-SIZE[-VARIANT...], SIZE one of:\n"
        "  tiny (15.6M)  mini (31.2M)  small (60.5M)  base (222.9M)\n"
        "  large (737.7M)  xl (2.85B)  xxl (11.3B)\n"
        "VARIANT as in the Hub names: -elN encoder layers, -dlN decoder layers,\n"
        "-nlN both, -dmN d_model, -kvN d_kv, -nhN heads, -ffN d_ff (ff2000 = 2048,\n"
        "dm1000 = 1024, as on the Hub). The released configs use d_kv 64 (128 for\n"
        "xl/xxl), ReLU feed-forward, tied embeddings, vocab 32128.\n"
        "\n"
        "The folder appears all at once: files are written to a hidden temporary\n"
        "folder next to DIR and renamed into place; on failure or Ctrl-C nothing is\n"
        "left. DIR must be absent or empty unless --force. Weights are streamed to\n"
        "disk (bounded memory); free disk space is checked first.",
        "  edgeseq init t5-efficient-small models/small --spm spiece.model\n"
        "  edgeseq init t5-efficient-small-el16-dl4 /tmp/deep --seed 7 --dtype bf16\n"
        "  edgeseq init t5-efficient-base-dm256 /tmp/narrow --dry-run",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("init", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos != 2 && !(dry && n_pos == 1)) {
        free(pos);
        return cli_usage("init", n_pos < 2 ? "expected NAME and DIR" : "too many arguments (%d); "
                         "expected NAME and DIR", n_pos);
    }
    const char *name = pos[0], *dir = n_pos > 1 ? pos[1] : NULL;
    free(pos);
    es_dtype dtype;
    if (strcmp(dtype_s, "f32") == 0 || strcmp(dtype_s, "float32") == 0)
        dtype = ES_DTYPE_F32;
    else if (strcmp(dtype_s, "bf16") == 0 || strcmp(dtype_s, "bfloat16") == 0)
        dtype = ES_DTYPE_BF16;
    else
        return cli_usage("init", "--dtype: '%s' is not f32 or bf16", dtype_s);

    es_error err = {0};
    es_t5_hparams h;
    /* A bad NAME is a usage error: nothing was attempted yet. */
    if (es_t5_efficient_hparams(&h, name, &err) != ES_OK) return cli_usage("init", "%s", err.msg);

    es_t5_init_params p = es_t5_init_params_default();
    p.seed = seed;
    p.dtype = dtype;
    p.spm_path = spm;
    p.name = name;
    p.force = force;
    p.n_threads = threads;
    char b1[32], b2[32], b3[32];
    uint64_t bytes = es_t5_init_weights_bytes(&h, &p);
    if (dry) {
        printf("name:        %s\n", name);
        printf("layers:      %d encoder, %d decoder\n", h.n_layers, h.n_decoder_layers);
        printf("d_model %d, d_ff %d, heads %d, d_kv %d, vocab %d\n", h.d_model, h.d_ff, h.n_heads,
               h.d_kv, h.vocab_size);
        printf("parameters:  %s\n", cli_thousands(b1, sizeof b1, es_t5_param_count(&h)));
        printf("model.safetensors: %s bytes (%s, %s)\n", cli_thousands(b2, sizeof b2, bytes),
               cli_bytes(b3, sizeof b3, bytes), dtype == ES_DTYPE_F32 ? "F32" : "BF16");
        return CLI_EXIT_OK;
    }

    progress_state ps = {cli_stderr_tty(), 0.0};
    p.progress = progress_cb;
    p.progress_user = &ps;

    if ((rc = make_parents(dir))) return rc;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    es_status s = es_t5_init_write(dir, &h, &p, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (ps.tty) fputs("\r\033[K", stderr);
    if (s != ES_OK) {
        if (s == ES_ERR_CANCELLED) return cli_fail("%s: interrupted; nothing was written", dir);
        return cli_fail_err(&err);
    }
    printf("wrote %s: %s, %s parameters, model.safetensors %s (%s)%s\n", dir, name,
           cli_thousands(b1, sizeof b1, es_t5_param_count(&h)), cli_bytes(b2, sizeof b2, bytes),
           dtype == ES_DTYPE_F32 ? "F32" : "BF16", spm ? ", spiece.model" : ", no tokenizer");
    return CLI_EXIT_OK;
}
