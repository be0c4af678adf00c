/*
 * cmd_pretrain.c — `edgeseq pretrain`: T5 span-corruption pretraining on
 * plain-text files or folders of .txt files (src/train/t5_pretrain.h does
 * the work). This file parses flags, prints the data summary and a
 * progress line per report on stderr, and stops cleanly on Ctrl-C after
 * writing a checkpoint.
 */
#include "cli.h"

#include "train/t5_pretrain.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static void fmt_time(char *buf, size_t cap, double s) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static int progress(void *user, const es_t5_pt_progress *p) {
    (void)user;
    if (p->event == 4) {
        fprintf(stderr,
                "data: %zu documents (%zu held out), %zu train / %zu validation tokens; "
                "chunks of %d tokens -> input %d, target %d; %zu train rows, %zu validation rows\n",
                p->n_docs, p->n_val_docs, p->n_train_tokens, p->n_val_tokens, p->raw_len,
                p->input_len, p->target_len, p->n_train_rows, p->n_val_rows);
        return 0;
    }
    if (p->event == 3) {
        fprintf(stderr, "resumed at step %lld\n", (long long)p->step);
        return 0;
    }
    if (p->event == 1 && p->step == 0) {
        fprintf(stderr, "step 0: validation loss %.4f\n", p->val_loss);
        return 0;
    }
    char el[32], eta[32], val[64] = "";
    fmt_time(el, sizeof el, p->elapsed_s);
    fmt_time(eta, sizeof eta, p->eta_s);
    if (isfinite(p->val_loss) && isfinite(p->best_val))
        snprintf(val, sizeof val, " val %.4f (best %.4f)", p->val_loss, p->best_val);
    else if (isfinite(p->val_loss)) snprintf(val, sizeof val, " val %.4f", p->val_loss);
    fprintf(stderr, "step %lld/%lld epoch %lld loss %.4f%s lr %.3g |g| %.3g %.0f tok/s %s ETA %s\n",
            (long long)p->step, (long long)p->max_steps, (long long)p->epoch, p->train_loss, val,
            (double)p->lr, p->grad_norm, p->tokens_per_s, el, eta);
    fflush(stderr);
    return g_interrupted ? 1 : 0;
}

static int show_example(void *user, int row, const char *input, const char *target,
                        const char *predicted) {
    (void)user;
    printf("[%d] input:     %s\n    target:    %s\n    predicted: %s\n", row, input, target, predicted);
    return 0;
}

int cmd_pretrain(int argc, char **argv) {
    /* byte-encoder pretraining has its own flags (cmd_pretrain_byte.c) */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strncmp(argv[i], "--byte-encoder", 14) == 0 && (argv[i][14] == 0 || argv[i][14] == '='))
            return cmd_pretrain_byte(argc, argv);
    es_t5_pt_params p = es_t5_pt_params_default();
    const char *optim = "adafactor";
    int isteps = (int)p.steps, iwarm = (int)p.warmup, threads = 0;
    float density = (float)p.density, span = (float)p.mean_span;
    bool resume = false;
    int examples = 0;
    const cli_opt opts[] = {
        {"out", 'o', CLI_STR, &p.out_dir, 0, 0, "DIR", "output folder (required)", NULL},
        {"model", 'm', CLI_STR, &p.model_dir, 0, 0, "MODEL", "start from this T5 folder instead of a random init", NULL},
        {"init", 0, CLI_STR, &p.init_name, 0, 0, "NAME", "T5-Efficient name for the random init (default t5-efficient-tiny)", NULL},
        {"spm", 0, CLI_STR, &p.spm_path, 0, 0, "FILE", "SentencePiece model for the random init (spiece.model)", NULL},
        {"input-len", 0, CLI_INT, &p.input_len, 3, 1 << 16, "N", "encoder length incl. sentinels and </s> (default 128)", NULL},
        {"density", 0, CLI_FLOAT, &density, 0.001, 0.999, "X", "noise density (default 0.15)", NULL},
        {"mean-span", 0, CLI_FLOAT, &span, 0.1, 1e6, "X", "mean noise span length (default 3)", NULL},
        {"steps", 0, CLI_INT, &isteps, 1, 1e9, "N", "optimizer steps (default 1000)", NULL},
        {"batch", 'b', CLI_INT, &p.batch, 1, 65536, "N", "rows per step (default 16)", NULL},
        {"optimizer", 0, CLI_STR, &optim, 0, 0, "NAME", "adafactor (default; parameter-scaled) or adamw", NULL},
        {"lr", 0, CLI_FLOAT, &p.lr, 0, 10, "X", "peak learning rate (default 0.01)", NULL},
        {"warmup", 0, CLI_INT, &iwarm, 0, 1e9, "N", "lr = LR*sqrt(N/max(step,N)) (default 10000, T5)", NULL},
        {"dropout", 0, CLI_FLOAT, &p.dropout, 0, 0.99, "P", "dropout (default 0, T5 v1.1 pretraining)", NULL},
        {"clip", 0, CLI_FLOAT, &p.clip_norm, 0, 1e9, "X", "global gradient-norm clip (default 0 = off)", NULL},
        {"eval-every", 0, CLI_INT, &p.eval_every, 0, 1e9, "N", "validation loss every N steps (default 100)", NULL},
        {"max-val-rows", 0, CLI_INT, &p.max_val_rows, 0, 1e9, "N", "cap on validation rows (default 0 = all)", NULL},
        {"save-every", 0, CLI_INT, &p.save_every, 0, 1e9, "N", "checkpoint every N steps (default 100)", NULL},
        {"log-every", 0, CLI_INT, &p.log_every, 1, 1e9, "N", "progress every N steps (default 10)", NULL},
        {"examples", 0, CLI_INT, &examples, 0, 1e6, "N",
         "no training: print N held-out span-filling examples of -m MODEL (greedy)", NULL},
        {"resume", 0, CLI_FLAG, &resume, 0, 0, NULL, "continue from OUT/checkpoint when present", NULL},
        {"seed", 0, CLI_U64, &p.seed, 0, 0, "N", "init, data order and mask seed (default 1)", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N", "worker threads (default 0 = physical cores)", NULL},
    };
    const cli_help help = {
        "edgeseq pretrain --out DIR (--spm spiece.model [--init NAME] | -m MODEL) TEXT... [options]",
        "Pretrains a T5 model with T5's span-corruption objective on plain text (files, or\n"
        "folders whose *.txt are read in name order). Text is cut into paragraphs; a fixed\n"
        "~1% of them (FNV-1a hash mod 100 == 0) is held out for the validation loss. The\n"
        "token stream is cut into chunks so that after corruption every input has exactly\n"
        "--input-len tokens; 15% of tokens in spans of mean length 3 are replaced by\n"
        "<extra_id_0>, <extra_id_1>, ... and the target lists each sentinel and its span.\n"
        "Adafactor with T5's inverse-square-root schedule. Checkpoints every --save-every\n"
        "steps (kill-safe; --resume continues), best validation model in DIR/best, curves\n"
        "in DIR/curves.csv and DIR/curves.svg; DIR ends up a normal HF model folder.\n"
        "Byte encoders (ByteQRNN, ByteTransformer) are pretrained with a byte-level masked\n"
        "objective by `edgeseq pretrain --byte-encoder CONFIG.json ...` (its own flags:\n"
        "`edgeseq pretrain --byte-encoder CONFIG.json --help`).",
        "  edgeseq pretrain --spm spiece.model --init t5-efficient-tiny --out runs/pt data/sotu\n"
        "  edgeseq pretrain --spm spiece.model --out runs/pt --resume data/sotu\n"
        "  edgeseq pretrain -m runs/pt --examples 5 data/sotu",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("pretrain", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (examples > 0 && p.model_dir && n_pos >= 1) {
        p.inputs = (const char *const *)pos;
        p.n_inputs = n_pos;
        p.density = density;
        p.mean_span = span;
        p.n_threads = threads ? threads : cli_default_threads();
        es_error err = {0};
        es_status s = es_t5_pretrain_examples(&p, examples, show_example, NULL, &err);
        free(pos);
        return s ? cli_fail_err(&err) : CLI_EXIT_OK;
    }
    if (!p.out_dir || n_pos < 1 || (!p.model_dir && !p.spm_path)) {
        free(pos);
        return cli_usage("pretrain", "%s", !p.out_dir ? "missing --out DIR"
                                           : n_pos < 1 ? "no text files given"
                                                       : "need --spm FILE (random init) or -m MODEL");
    }
    if (strcmp(optim, "adamw") == 0) p.adamw = 1;
    else if (strcmp(optim, "adafactor") != 0) {
        free(pos);
        return cli_usage("pretrain", "unknown optimizer '%s' (adafactor, adamw)", optim);
    }
    p.inputs = (const char *const *)pos;
    p.n_inputs = n_pos;
    p.steps = isteps;
    p.warmup = iwarm;
    p.density = density;
    p.mean_span = span;
    p.resume = resume;
    p.n_threads = threads ? threads : cli_default_threads();
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    es_error err = {0};
    es_status s = es_t5_pretrain(&p, progress, NULL, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    free(pos);
    if (s) return cli_fail_err(&err);
    printf("done: model in %s\n", p.out_dir);
    return CLI_EXIT_OK;
}
