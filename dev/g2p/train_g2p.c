/*
 * train_g2p.c — G2P training driver used by scripts/train-g2p.sh until
 * `edgeseq train` takes seq2seq configs: trains a byte seq2seq model on the
 * CMUdict train split through es_s2s_train (src/train/seq2seq_data.h),
 * evaluates dev WER/PER (greedy, lower-case input) every eval_every steps
 * from inside the progress callback (the model is consistent there: the
 * optimizer step is done), keeps the best model by dev WER with stress
 * removed (ties: lower dev PER) in OUT/best, writes OUT/curves.csv and a
 * log on stderr. The test split is never read here.
 *
 * Build (the script does this): cc -O2 -Iinclude -Isrc dev/g2p/train_g2p.c
 *   BUILD/libedgeseq.a -ljson-c -lm -lpthread
 * Usage: train_g2p CONFIG.json [--out DIR] [--max-steps N] [--threads N]
 * CONFIG: {"data": "data", "out": "out/g2p", "cases": "lower"|"both",
 *          "init": "DIR" (optional: start from this model folder, e.g. to
 *                  fine-tune a lower-case model on both cases; "model" is
 *                  then ignored),
 *          "eval_every": 1000, "eval_words": 0,
 *          "model": {config.json of the model, incl. "symbols": null = the
 *                    dictionary's list},
 *          "train": {"batch_size", "max_steps", "lr", "min_lr",
 *                    "warmup_steps", "weight_decay", "clip_norm", "seed",
 *                    "threads", "log_every"},
 *          "qat": {"weights", "activations", "ema_decay", "start_step"}
 *                 (optional: quantization-aware training for the model,
 *                 also an "init" float model: es_s2s_qat_enable,
 *                 src/quant/s2s_qat.h; docs/quantization.md)}
 */
#include "edgeseq.h"

#include "io/fileio.h"
#include "model/byte_seq2seq.h"
#include "quant/byte_qat.h"
#include "quant/s2s_qat.h"
#include "train/data_cmudict.h"
#include "train/g2p_eval.h"
#include "train/seq2seq_data.h"
#include "train/trainer.h"

#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t g_stop;
static void on_sig(int s) {
    (void)s;
    g_stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct ctx {
    es_s2s_model *m;
    const es_cmudict *d;
    const char *out;
    int64_t eval_every, max_steps;
    size_t eval_words;
    double best_wer, best_per;
    int64_t best_step;
    double t0;
    FILE *curves;
    es_status st;
    es_error err;
} ctx;

static es_status dev_eval(ctx *c, int64_t step) {
    char dir[4096], best[4096];
    snprintf(dir, sizeof dir, "%s/last", c->out);
    snprintf(best, sizeof best, "%s/best", c->out);
    es_status st = es_s2s_model_save_dir(c->m, dir, &c->err);
    if (st) return st;
    es_model *mm = NULL;
    es_session *s = NULL;
    es_load_params lp = es_load_params_default();
    if ((st = es_model_load(&mm, dir, &lp, &c->err))) return st;
    es_session_params sp = es_session_params_default();
    sp.max_batch = 1;
    sp.n_threads = 1;
    if ((st = es_session_new(&s, mm, &sp, &c->err))) {
        es_model_free(mm);
        return st;
    }
    es_gen_params gp = es_gen_params_default();
    gp.method = ES_DECODE_GREEDY;
    gp.max_new_tokens = 1 << 20;
    es_g2p_eval ev;
    double t = now_s();
    st = es_g2p_evaluate(&ev, s, mm, c->d, ES_SPLIT_DEV, &gp, ES_CMU_CASE_LOWER, c->eval_words,
                         NULL, NULL, &c->err);
    es_session_free(s);
    es_model_free(mm);
    if (st) return st;
    double wer = es_g2p_wer(&ev.m.nostress), per = es_g2p_per(&ev.m.nostress);
    bool better = c->best_step < 0 || wer < c->best_wer || (wer == c->best_wer && per < c->best_per);
    if (better) {
        if ((st = es_s2s_model_save_dir(c->m, best, &c->err))) return st;
        char js[512], path[4200];
        int n = snprintf(js, sizeof js,
                         "{\"step\": %lld, \"dev_words\": %zu, \"dev_wer\": %.6f, \"dev_per\": %.6f, "
                         "\"dev_wer_no_stress\": %.6f, \"dev_per_no_stress\": %.6f, "
                         "\"decoding\": \"greedy\"}\n",
                         (long long)step, ev.m.stress.n_words, es_g2p_wer(&ev.m.stress),
                         es_g2p_per(&ev.m.stress), wer, per);
        snprintf(path, sizeof path, "%s/dev_metrics.json", best);
        if ((st = es_atomic_write_file(path, js, (size_t)n, &c->err))) return st;
        c->best_wer = wer;
        c->best_per = per;
        c->best_step = step;
    }
    fprintf(stderr,
            "eval step %lld: dev %zu words greedy: WER %.2f%% PER %.2f%% | stress removed WER "
            "%.2f%% PER %.2f%%%s (best %.2f%% at %lld) [%.1f s, %.3f ms/word]\n",
            (long long)step, ev.m.stress.n_words, 100 * es_g2p_wer(&ev.m.stress),
            100 * es_g2p_per(&ev.m.stress), 100 * wer, 100 * per, better ? " *" : "",
            100 * c->best_wer, (long long)c->best_step, now_s() - t,
            1e3 * ev.seconds / (double)ev.m.stress.n_words);
    if (c->curves) {
        fprintf(c->curves, "%lld,dev,,,%.6f,%.6f,%.6f,%.6f\n", (long long)step,
                es_g2p_wer(&ev.m.stress), es_g2p_per(&ev.m.stress), wer, per);
        fflush(c->curves);
    }
    return ES_OK;
}

static int on_progress(void *user, int64_t step, double loss, double gn, float lr) {
    ctx *c = user;
    double el = now_s() - c->t0;
    fprintf(stderr, "step %lld/%lld loss %.5f grad_norm %.3f lr %.3e elapsed %.0f s ETA %.0f s\n",
            (long long)step, (long long)c->max_steps, loss, gn, (double)lr, el,
            el / (double)step * (double)(c->max_steps - step));
    if (c->curves) {
        fprintf(c->curves, "%lld,train,%.6f,%.6g,,,,\n", (long long)step, loss, (double)lr);
        fflush(c->curves);
    }
    if ((c->eval_every > 0 && step % c->eval_every == 0) || step == c->max_steps) {
        if ((c->st = dev_eval(c, step))) return 1;
    }
    return g_stop ? 1 : 0;
}

static double num(json_object *o, const char *k, double def) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : def;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: train_g2p CONFIG.json [--out DIR] [--max-steps N] [--threads N]\n");
        return 2;
    }
    const char *out = NULL;
    long long steps_opt = 0;
    int threads_opt = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--max-steps")) steps_opt = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads_opt = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    json_object *cfg = json_object_from_file(argv[1]);
    if (!cfg) {
        fprintf(stderr, "%s: cannot parse\n", argv[1]);
        return 1;
    }
    json_object *v, *model_o = NULL, *train_o = NULL;
    const char *data = "data", *cases_s = "lower";
    if (json_object_object_get_ex(cfg, "data", &v)) data = json_object_get_string(v);
    if (!out && json_object_object_get_ex(cfg, "out", &v)) out = json_object_get_string(v);
    if (json_object_object_get_ex(cfg, "cases", &v)) cases_s = json_object_get_string(v);
    json_object_object_get_ex(cfg, "model", &model_o);
    json_object_object_get_ex(cfg, "train", &train_o);
    if (!out || !model_o || !train_o) {
        fprintf(stderr, "%s: needs out, model, train\n", argv[1]);
        return 1;
    }
    es_train_params p = es_train_params_default();
    p.batch_size = (int)num(train_o, "batch_size", 64);
    p.max_steps = (int64_t)num(train_o, "max_steps", 10000);
    p.lr = (float)num(train_o, "lr", 2e-3);
    p.min_lr = (float)num(train_o, "min_lr", 0);
    p.warmup_steps = (int64_t)num(train_o, "warmup_steps", 200);
    p.weight_decay = (float)num(train_o, "weight_decay", 0.01);
    p.clip_norm = (float)num(train_o, "clip_norm", 1);
    p.seed = (uint64_t)num(train_o, "seed", 1);
    p.n_threads = (int)num(train_o, "threads", 2);
    p.log_every = (int64_t)num(train_o, "log_every", 100);
    p.out_dir = out;
    if (steps_opt > 0) p.max_steps = steps_opt;
    if (threads_opt >= 0) p.n_threads = threads_opt;
    mkdir(out, 0777);

    ctx c = {.out = out, .max_steps = p.max_steps, .best_wer = 2, .best_per = 2, .best_step = -1};
    c.eval_every = (int64_t)num(cfg, "eval_every", 1000);
    c.eval_words = (size_t)num(cfg, "eval_words", 0);
    es_cmudict *d = NULL;
    es_s2s_example *ex = NULL;
    size_t n_ex = 0;
    es_error err = {0};
    es_status st = es_cmudict_load(&d, data, &err);
    /* the model's symbols default to the dictionary's list */
    json_object *mo = json_object_get(model_o);
    if (!st && (!json_object_object_get_ex(mo, "symbols", &v) || !v)) {
        json_object *arr = json_object_new_array();
        for (int i = 0; i < d->n_symbols; i++)
            json_object_array_add(arr, json_object_new_string(d->symbols[i]));
        json_object_object_add(mo, "symbols", arr);
    }
    const char *mj = json_object_to_json_string_ext(mo, JSON_C_TO_STRING_PLAIN);
    const char *init = NULL;
    if (json_object_object_get_ex(cfg, "init", &v)) init = json_object_get_string(v);
    if (!st && init) st = es_s2s_model_load_dir(&c.m, init, &err);
    else if (!st) st = es_s2s_model_from_json(&c.m, mj, strlen(mj), argv[1], p.seed, &err);
    es_qat_config qc; /* top-level "qat": fake-quant training of the (init) model */
    if (!st) st = es_qat_config_from_json(&qc, cfg, &err);
    if (!st && qc.enabled) st = es_s2s_qat_enable(&c.m, &qc, &err);
    unsigned cases = strcmp(cases_s, "both") == 0 ? 3u : ES_CMU_CASE_LOWER;
    if (!st)
        st = es_cmudict_examples(&ex, &n_ex, d, ES_SPLIT_TRAIN, cases,
                                 (size_t)es_s2s_model_config(c.m)->max_out - 1, &err);
    if (st) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    c.d = d;
    char path[4200];
    snprintf(path, sizeof path, "%s/curves.csv", out);
    c.curves = fopen(path, "w");
    if (c.curves) fprintf(c.curves, "step,kind,loss,lr,dev_wer,dev_per,dev_wer_no_stress,dev_per_no_stress\n");
    snprintf(path, sizeof path, "%s/train_config.json", out);
    es_copy_file_atomic(path, argv[1], NULL);
    fprintf(stderr,
            "train_g2p: %s%s%s%zu parameters, %zu train examples (%zu words, cases %s), dev %zu words, "
            "%lld steps of batch %d, lr %g, threads %d, out %s\n",
            init ? "from " : "", init ? init : "", init ? ", " : "", es_s2s_model_n_params(c.m), n_ex,
            d->n_words_split[ES_SPLIT_TRAIN], cases_s,
            d->n_words_split[ES_SPLIT_DEV], (long long)p.max_steps, p.batch_size, (double)p.lr,
            p.n_threads, out);
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    es_s2s_source src = {.n = n_ex, .array = ex};
    c.t0 = now_s();
    st = es_s2s_train(c.m, &src, &p, on_progress, &c, &err);
    if (st == ES_ERR_CANCELLED && c.st) {
        st = c.st;
        err = c.err;
    }
    int rc = 0;
    if (st == ES_ERR_CANCELLED) {
        fprintf(stderr, "stopped; best so far in %s/best\n", out);
        rc = 1;
    } else if (st) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
    } else {
        printf("best dev WER (stress removed) %.4f%% PER %.4f%% at step %lld: %s/best "
               "(%.0f s)\n", 100 * c.best_wer, 100 * c.best_per, (long long)c.best_step, out,
               now_s() - c.t0);
    }
    if (c.curves) fclose(c.curves);
    es_free(ex);
    es_s2s_model_free(c.m);
    es_cmudict_free(d);
    json_object_put(cfg);
    return rc;
}
