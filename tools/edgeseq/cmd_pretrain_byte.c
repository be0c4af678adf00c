/*
 * cmd_pretrain_byte.c — `edgeseq pretrain --byte-encoder CONFIG.json --out
 * DIR TEXT...`: pretrains a byte encoder (ByteQRNN / ByteTransformer) with
 * the byte-level masked span-corruption objective (src/train/byte_pretrain.h
 * does the work). cmd_pretrain.c hands over here when --byte-encoder is
 * among its arguments. CONFIG.json is either a train config (its "model"
 * object is used, e.g. configs/spam-byteqrnn.json) or a byte model
 * config.json; its "train" section is ignored (flags set the pretraining
 * hyper-parameters). Progress on stderr; Ctrl-C stops with a checkpoint.
 */
#include "cli.h"

#include "io/fileio.h"
#include "train/byte_pretrain.h"

#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void fmt_time(char *buf, size_t cap, double s) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static int progress(void *user, const es_bpt_progress *p) {
    (void)user;
    if (p->event == 1) {
        fprintf(stderr, "eval step %lld: val masked-byte loss %.4f accuracy %.4f (best %.4f)\n",
                (long long)p->step, p->val_loss, p->val_acc, p->best_val);
        fflush(stderr);
        return 0;
    }
    char el[32], eta[32];
    fmt_time(el, sizeof el, p->elapsed_s);
    fmt_time(eta, sizeof eta, p->eta_s);
    fprintf(stderr, "step %lld/%lld epoch %lld loss %.4f lr %.3g |g| %.3g %.0f bytes/s %s ETA %s\n",
            (long long)p->step, (long long)p->max_steps, (long long)p->epoch, p->loss, (double)p->lr,
            p->grad_norm, p->bytes_per_s, el, eta);
    fflush(stderr);
    return g_stop ? 1 : 0;
}

/* Model config from CONFIG.json: its "model" object, or the whole object. */
static es_status read_model_config(es_byte_config *mc, const char *path, es_error *err) {
    void *buf = NULL;
    size_t len = 0;
    es_status s = es_read_file(path, &buf, &len, 1 << 20, err);
    if (s) return s;
    json_object *o = json_tokener_parse((const char *)buf);
    es_free(buf);
    if (!o || json_object_get_type(o) != json_type_object) {
        json_object_put(o);
        return es_errf(err, ES_ERR_FORMAT, "%s: not a JSON object", path);
    }
    json_object *mo = NULL;
    if (!json_object_object_get_ex(o, "model", &mo)) mo = o;
    const char *txt = json_object_to_json_string_ext(mo, JSON_C_TO_STRING_PLAIN);
    s = es_byte_config_from_json(mc, txt, strlen(txt), path, err);
    json_object_put(o);
    return s;
}

int cmd_pretrain_byte(int argc, char **argv) {
    es_bpt_params p = es_bpt_params_default();
    es_train_params *q = &p.train;
    q->lr = 2e-3f;
    q->warmup_steps = 100;
    q->log_every = 20;
    const char *config = NULL, *out = NULL, *schedule = "cosine";
    int steps = 2000, warmup = (int)q->warmup_steps, threads = 1, eval_every = 100, save_every = 100,
        log_every = (int)q->log_every;
    float density = (float)p.density, span = (float)p.mean_span;
    bool resume = false;
    const cli_opt opts[] = {
        {"byte-encoder", 0, CLI_STR, &config, 0, 0, "CONFIG.json",
         "byte model to pretrain: a train config (its \"model\") or a model config.json", NULL},
        {"out", 'o', CLI_STR, &out, 0, 0, "DIR", "output folder (required)", NULL},
        {"chunk", 0, CLI_INT, &p.chunk_len, 2, 1 << 20, "N", "bytes per example (default 1024; <= max_bytes)", NULL},
        {"density", 0, CLI_FLOAT, &density, 0.001, 0.999, "X", "noise density (default 0.15)", NULL},
        {"mean-span", 0, CLI_FLOAT, &span, 1, 1e6, "X", "mean noise span in bytes (default 3)", NULL},
        {"mask-byte", 0, CLI_INT, &p.mask_byte, 0, 255, "B", "byte that replaces noise bytes (default 0)", NULL},
        {"steps", 0, CLI_INT, &steps, 1, 1e9, "N", "optimizer steps (default 2000)", NULL},
        {"batch", 'b', CLI_INT, &q->batch_size, 1, 65536, "N", "chunks per step (default 32)", NULL},
        {"lr", 0, CLI_FLOAT, &q->lr, 0, 10, "X", "peak learning rate, AdamW (default 2e-3)", NULL},
        {"min-lr", 0, CLI_FLOAT, &q->min_lr, 0, 10, "X", "end of the decay (default 0)", NULL},
        {"warmup", 0, CLI_INT, &warmup, 0, 1e9, "N", "linear warm-up steps (default 100)", NULL},
        {"schedule", 0, CLI_STR, &schedule, 0, 0, "NAME", "cosine (default), linear, constant", NULL},
        {"weight-decay", 0, CLI_FLOAT, &q->weight_decay, 0, 10, "X", "AdamW decoupled decay (default 0.01)", NULL},
        {"clip", 0, CLI_FLOAT, &q->clip_norm, 0, 1e9, "X", "global gradient-norm clip (default 1; 0 = off)", NULL},
        {"eval-every", 0, CLI_INT, &eval_every, 0, 1e9, "N", "validation every N steps (default 100)", NULL},
        {"max-val-chunks", 0, CLI_INT, &p.max_val_chunks, 0, 1e9, "N", "cap on validation chunks (default 0 = all)", NULL},
        {"save-every", 0, CLI_INT, &save_every, 0, 1e9, "N", "checkpoint every N steps (default 100)", NULL},
        {"log-every", 0, CLI_INT, &log_every, 1, 1e9, "N", "progress every N steps (default 20)", NULL},
        {"seed", 0, CLI_U64, &q->seed, 0, 0, "N", "init, data order, masks, dropout (default 1)", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N", "worker threads (default 1; 0 = physical cores)", NULL},
        {"resume", 0, CLI_FLAG, &resume, 0, 0, NULL, "continue from OUT/checkpoint when present", NULL},
    };
    const cli_help help = {
        "edgeseq pretrain --byte-encoder CONFIG.json --out DIR TEXT... [options]",
        "Pretrains a byte encoder (byteqrnn or bytetransformer) on plain text (files, or\n"
        "folders whose *.txt are read in name order) with a byte-level masked span-corruption\n"
        "objective: 15% of each chunk's bytes, in spans of mean length 3, are replaced by the\n"
        "mask byte and predicted from the encoder output of their down-sampled block (one\n"
        "linear map per position in the block). A fixed ~1% of the chunks (FNV-1a hash mod 100\n"
        "== 0) is the validation set, with fixed masks. AdamW, warm-up + cosine decay.\n"
        "DIR ends up a byte classifier folder whose encoder is pretrained (its pool and head\n"
        "are untrained): fine-tune it with \"init_encoder\": \"DIR\" in an `edgeseq train`\n"
        "config. Checkpoints (--resume), DIR/best (validation loss), DIR/curves.{csv,svg}.",
        "  edgeseq pretrain --byte-encoder configs/spam-byteqrnn.json --out runs/bpt data/sotu\n"
        "  edgeseq pretrain --byte-encoder configs/spam-byteqrnn.json --out runs/bpt --resume data/sotu",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("pretrain", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (!config || !out || n_pos < 1) {
        free(pos);
        return cli_usage("pretrain", "%s", !config ? "missing --byte-encoder CONFIG.json"
                                           : !out  ? "missing --out DIR"
                                                   : "no text files given");
    }
    static const char *sched[] = {"constant", "linear", "cosine"};
    int si = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(schedule, sched[i]) == 0) si = i;
    if (si < 0) {
        free(pos);
        return cli_usage("pretrain", "unknown schedule '%s' (cosine, linear, constant)", schedule);
    }
    q->schedule = (es_lr_schedule)si;
    q->max_steps = steps;
    q->warmup_steps = warmup;
    q->eval_every = eval_every;
    q->save_every = save_every;
    q->log_every = log_every;
    q->n_threads = threads;
    q->out_dir = out;
    p.density = density;
    p.mean_span = span;

    es_error err = {0};
    es_byte_config mc;
    es_byte_model *m = NULL;
    es_bpt *t = NULL;
    es_bpt_corpus c = {0};
    es_status s = read_model_config(&mc, config, &err);
    if (!s) s = es_bpt_corpus_load(&c, (const char *const *)pos, n_pos, p.chunk_len, &err);
    if (!s && mkdir(out, 0777) != 0 && !es_is_dir(out)) s = es_errf(&err, ES_ERR_IO, "%s: cannot create folder", out);
    if (!s) s = es_byte_model_new(&m, &mc, q->seed, &err);
    if (!s) s = es_bpt_new(&t, m, &p, &err);
    if (!s && resume) {
        s = es_bpt_resume(t, &err);
        if (s == ES_ERR_IO) { /* no checkpoint yet: a fresh start */
            es_err_clear(&err);
            s = ES_OK;
        } else if (!s) {
            fprintf(stderr, "resumed %s at step %lld\n", out, (long long)es_bpt_step_count(t));
        }
    }
    if (!s && es_bpt_step_count(t) == 0) {
        char p2[4096];
        if (!es_path_join(p2, sizeof p2, out, "pretrain_model_config.json", NULL))
            es_copy_file_atomic(p2, config, NULL);
    }
    if (!s) {
        char nb[32];
        fprintf(stderr, "pretrain: %s encoder, %s parameters; %zu files, %zu bytes -> %zu train / %zu "
                "validation chunks of %d bytes; noise density %g, mean span %g, mask byte 0x%02x; %lld "
                "steps of %d chunks\n", es_byte_encoder_name(mc.encoder),
                cli_thousands(nb, sizeof nb, es_byte_model_n_params(m)), c.n_files, c.n_bytes,
                c.n_train, c.n_val, p.chunk_len, p.density, p.mean_span, p.mask_byte,
                (long long)q->max_steps, q->batch_size);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        s = es_bpt_run(t, &c, progress, NULL, &err);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    es_bpt_free(t);
    es_byte_model_free(m);
    es_bpt_corpus_free(&c);
    free(pos);
    if (s == ES_ERR_CANCELLED) {
        fprintf(stderr, "stopped; continue with --resume\n");
        return CLI_EXIT_RUNTIME;
    }
    if (s) return cli_fail_err(&err);
    printf("done: pretrained encoder in %s\n", out);
    return CLI_EXIT_OK;
}
