/*
 * cmd_finetune.c — `edgeseq finetune`: fine-tune a T5 model folder on
 * {"input", "target"} JSON lines (src/train/t5_finetune.h does the work).
 * This file parses flags, draws the progress bar with ETA on stderr (a
 * line per report when stderr is not a TTY), and stops cleanly on Ctrl-C
 * or SIGTERM after writing a checkpoint. Output folder layout: t5_finetune.h.
 */
#include "cli.h"

#include "train/t5_finetune.h"

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

static int progress(void *user, const es_t5_ft_progress *p) {
    (void)user;
    const bool tty = cli_stderr_tty();
    if (p->event == 4) {
        fprintf(stderr, "data: %zu training examples, %zu dev examples", p->n_train, p->n_dev);
        if (p->n_skipped) fprintf(stderr, ", %zu bad lines skipped (first: %s)", p->n_skipped, p->note);
        fputc('\n', stderr);
        return 0;
    }
    if (p->event == 3) {
        fprintf(stderr, "resumed at step %lld\n", (long long)p->step);
        return 0;
    }
    char el[32], eta[32], dev[48] = "";
    fmt_time(el, sizeof el, p->elapsed_s);
    fmt_time(eta, sizeof eta, p->eta_s);
    if (isfinite(p->dev_loss)) snprintf(dev, sizeof dev, " dev %.4f (best %.4f)", p->dev_loss, p->best_dev);
    const int width = 24;
    int fill = p->max_steps > 0 ? (int)((double)width * (double)p->step / (double)p->max_steps) : 0;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "%s[%s] step %lld/%lld loss %.4f%s lr %.3g |g| %.3g %s ETA %s%s",
            tty ? "\r\033[K" : "", bar, (long long)p->step, (long long)p->max_steps, p->train_loss,
            dev, (double)p->lr, p->grad_norm, el, eta, tty ? "" : "\n");
    if (tty && (p->event == 1 || p->step == p->max_steps)) fputc('\n', stderr);
    fflush(stderr);
    return g_interrupted ? 1 : 0;
}

int cmd_finetune(int argc, char **argv) {
    es_t5_ft_params p = es_t5_ft_params_default();
    const char *optim = "adafactor", *sched = "constant";
    int batch = p.tp.batch_size, accum = 1, threads = 0, warmup = 0;
    int ieval = 100, isave = 100, ilog = 10, isteps = 1000;
    float lr = p.tp.lr, wd = 0.0f, clip = 0.0f, dropout = -1.0f;
    uint64_t seed = 1;
    bool skip_bad = false, resume = false, relative = false;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &p.model_dir, 0, 0, "MODEL", "T5 model folder to start from (required)", NULL},
        {"train", 0, CLI_STR, &p.train_path, 0, 0, "FILE", "training JSON lines {\"input\", \"target\"} (required)", NULL},
        {"dev", 0, CLI_STR, &p.dev_path, 0, 0, "FILE", "dev JSON lines: dev loss every --eval-every steps, best kept in OUT/best", NULL},
        {"out", 'o', CLI_STR, &p.out_dir, 0, 0, "DIR", "output folder (required)", NULL},
        {"steps", 0, CLI_INT, &isteps, 1, 1e9, "N", "optimizer steps (default 1000)", NULL},
        {"batch", 'b', CLI_INT, &batch, 1, 65536, "N", "examples per micro-batch (default 8)", NULL},
        {"accum", 0, CLI_INT, &accum, 1, 64, "N", "micro-batches per step (default 1)", NULL},
        {"optimizer", 0, CLI_STR, &optim, 0, 0, "NAME", "adafactor (default) or adamw", NULL},
        {"lr", 0, CLI_FLOAT, &lr, 0, 10, "X", "peak learning rate (default 1e-3)", NULL},
        {"adafactor-relative", 0, CLI_FLAG, &relative, 0, 0, NULL,
         "Adafactor relative step + parameter scaling (T5 paper; --lr unused)", NULL},
        {"schedule", 0, CLI_STR, &sched, 0, 0, "NAME", "constant (default), linear, cosine, invsqrt", NULL},
        {"warmup", 0, CLI_INT, &warmup, 0, 1e9, "N", "linear warm-up steps (default 0)", NULL},
        {"weight-decay", 0, CLI_FLOAT, &wd, 0, 1, "X", "decoupled weight decay (default 0; not norms/biases)", NULL},
        {"clip", 0, CLI_FLOAT, &clip, 0, 1e9, "X", "global gradient-norm clip (default 0 = off)", NULL},
        {"dropout", 0, CLI_FLOAT, &dropout, 0, 0.99, "P", "dropout (default: config.json dropout_rate)", NULL},
        {"eval-every", 0, CLI_INT, &ieval, 0, 1e9, "N", "dev loss every N steps (default 100)", NULL},
        {"save-every", 0, CLI_INT, &isave, 0, 1e9, "N", "checkpoint every N steps (default 100)", NULL},
        {"log-every", 0, CLI_INT, &ilog, 1, 1e9, "N", "progress every N steps (default 10)", NULL},
        {"max-src-len", 0, CLI_INT, &p.max_src_len, 1, 1 << 20, "N", "longest input in tokens incl. </s> (default 512)", NULL},
        {"max-target-len", 0, CLI_INT, &p.max_tgt_len, 1, 1 << 20, "N", "longest target in tokens incl. </s> (default 512)", NULL},
        {"skip-bad", 0, CLI_FLAG, &skip_bad, 0, 0, NULL, "skip (and count) bad data lines instead of failing", NULL},
        {"resume", 0, CLI_FLAG, &resume, 0, 0, NULL, "continue from OUT/checkpoint when present", NULL},
        {"seed", 0, CLI_U64, &seed, 0, 0, "N", "data order and dropout seed (default 1)", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N", "worker threads (default 0 = physical cores)", NULL},
    };
    const cli_help help = {
        "edgeseq finetune -m MODEL --train FILE.jsonl [--dev FILE.jsonl] --out DIR [options]",
        "Fine-tunes a T5 model on lines {\"input\": ..., \"target\": ...}: batches of similar\n"
        "length, padded, labels -100 on padding, token-mean cross entropy, gradient\n"
        "accumulation, Adafactor (HF semantics) or AdamW, LR schedule, dev loss every\n"
        "--eval-every steps with the best model kept in DIR/best, checkpoints every\n"
        "--save-every steps (kill-safe; --resume continues), curves in DIR/curves.csv\n"
        "and DIR/curves.svg. DIR ends up a normal HF model folder (generate, score and\n"
        "HF from_pretrained load it). Bad data (empty file, invalid JSON, non-UTF-8,\n"
        "too long) stops with FILE:LINE unless --skip-bad. Ctrl-C (or SIGTERM) saves a\n"
        "checkpoint and the model, then stops; run again with --resume to continue.",
        "  edgeseq finetune -m models/small --train train.jsonl --dev dev.jsonl --out runs/a\n"
        "  edgeseq finetune -m models/small --train train.jsonl --out runs/a --resume",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("finetune", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    free(pos);
    if (n_pos) return cli_usage("finetune", "unexpected argument");
    if (!p.model_dir || !p.train_path || !p.out_dir)
        return cli_usage("finetune", "%s", !p.model_dir ? "missing -m MODEL" : !p.train_path ? "missing --train FILE" : "missing --out DIR");
    if (strcmp(optim, "adamw") == 0) p.optimizer = ES_T5_OPT_ADAMW;
    else if (strcmp(optim, "adafactor") == 0) p.optimizer = ES_T5_OPT_ADAFACTOR;
    else return cli_usage("finetune", "unknown optimizer '%s' (adafactor, adamw)", optim);
    if (strcmp(sched, "constant") == 0) p.tp.schedule = ES_LR_CONSTANT;
    else if (strcmp(sched, "linear") == 0) p.tp.schedule = ES_LR_LINEAR;
    else if (strcmp(sched, "cosine") == 0) p.tp.schedule = ES_LR_COSINE;
    else if (strcmp(sched, "invsqrt") == 0) p.tp.schedule = ES_LR_INVSQRT;
    else return cli_usage("finetune", "unknown schedule '%s'", sched);
    p.tp.batch_size = batch;
    p.tp.grad_accum = accum;
    p.tp.max_steps = isteps;
    p.tp.lr = lr;
    p.tp.warmup_steps = warmup;
    p.tp.weight_decay = wd;
    p.tp.clip_norm = clip;
    p.tp.seed = seed;
    p.tp.n_threads = threads ? threads : cli_default_threads();
    p.tp.eval_every = ieval;
    p.tp.save_every = isave;
    p.tp.log_every = ilog;
    p.dropout = dropout;
    p.skip_bad = skip_bad;
    p.resume = resume;
    p.adafactor_relative = relative;
    /* Ctrl-C and SIGTERM stop at the next report: checkpoint, curves and
     * model are written, exit status 1 ("stopped at step N"). */
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    es_error err = {0};
    es_status s = es_t5_finetune(&p, progress, NULL, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (s) return cli_fail_err(&err);
    printf("done: model in %s\n", p.out_dir);
    return CLI_EXIT_OK;
}
