/*
 * cmd_train.c — `edgeseq train CONFIG.json [--resume] [--out DIR]`: trains
 * a byte classifier on the SpamAssassin train split with periodic dev
 * evaluation, keeps the best model by dev ROC-AUC (ties: lower dev loss),
 * and writes learning curves. A config whose model is a byte seq2seq model
 * (model.model_type "edgeseq-byte-seq2seq", or an "init" folder holding
 * one) goes to cmd_train_s2s.c (G2P on CMUdict) instead.
 *
 * CONFIG.json (configs/spam-*.json):
 *   {"data": "data",                 corpus folder (scripts/fetch-data.sh)
 *    "out": "out/spam-byteqrnn",     output folder (--out overrides)
 *    "model": {...},                 byte-classifier config.json keys
 *                                    (src/model/byte_model.h)
 *    "train": {"batch_size": 32, "max_steps": 2000, "lr": 3e-3,
 *              "min_lr": 0, "warmup_steps": 100, "schedule": "cosine",
 *              "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999,
 *              "eps": 1e-8, "clip_norm": 1, "grad_accum": 1, "seed": 1,
 *              "threads": 2, "eval_every": 200, "log_every": 10,
 *              "save_every": 500, "keep_checkpoints": 2}}
 * Unknown keys in "train" are errors (typos must not silently change a
 * run); "model" is validated by the library.
 * Optional top-level keys (few-label fine-tuning, docs/training.md):
 *   "init_encoder": "DIR"          copy the encoder tensors of a pretrained
 *                                  byte model folder (edgeseq pretrain
 *                                  --byte-encoder); pool/head stay fresh
 *   "train_fraction": 0.05,        train on a stratified label-fraction
 *   "train_fraction_seed": 1       subset of the train split (data.h)
 *
 * Output folder:
 *   config.json + model.safetensors   the final model (trainer)
 *   step-NNNNNNNN/, checkpoint        resumable checkpoints (trainer)
 *   best/                             the model with the best dev AUC so
 *                                     far + best/dev_metrics.json
 *   curves.csv, curves.svg            training loss, lr, throughput; dev
 *                                     loss / accuracy / AUC per evaluation
 *   train_config.json                 the config this run used
 * The test split is never read here: selection uses dev only.
 *
 * Progress: a one-line bar on stderr when it is a terminal, else one log
 * line per report (suited to `nohup ... > train.log`). Ctrl-C or SIGTERM
 * stops at the next progress report with a checkpoint; `--resume`
 * continues it.
 *
 * Data parallel (docs/distributed.md): under mpirun/mpiexec/srun (or with
 * --mpi) every process trains a replica on its shard of each global batch;
 * train.batch_size stays the GLOBAL batch (split evenly over the ranks), so
 * the same config gives the same run. Rank 0 alone evaluates, prints and
 * writes files. SIGUSR1 (which mpirun forwards to every rank) stops like
 * Ctrl-C.
 */
#include "clf.h"
#include "cmd_train_s2s.h"

#include "io/fileio.h"
#include "train/byte_pretrain.h"
#include "train/plot_svg.h"
#include "train/trainer.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- curves ---------------------------------------------------------------- */

typedef struct curve_row {
    int64_t step;
    int dev;              /* 0 = training report, 1 = dev evaluation */
    double loss, lr, bps; /* training: mean loss since last report, lr, bytes/s */
    double acc, auc;      /* dev only */
} curve_row;

typedef struct train_ctx {
    const char *out;
    es_text_dataset *data;
    clf_runner eval;
    bool eval_ready;
    curve_row *rows;
    size_t n_rows, cap_rows;
    double best_auc, best_loss;
    int64_t best_step;
    bool tty;
    int64_t max_steps;
    int rank; /* MPI rank; only rank 0 evaluates, prints and writes */
} train_ctx;

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
}

static bool push_row(train_ctx *t, const curve_row *r) {
    if (t->n_rows == t->cap_rows) {
        size_t nc = t->cap_rows ? 2 * t->cap_rows : 256;
        curve_row *nr = realloc(t->rows, nc * sizeof *nr);
        if (!nr) return false;
        t->rows = nr;
        t->cap_rows = nc;
    }
    t->rows[t->n_rows++] = *r;
    return true;
}

static es_status write_curves(train_ctx *t, es_error *err) {
    char path[4096];
    es_status st = es_path_join(path, sizeof path, t->out, "curves.csv", err);
    if (st) return st;
    es_atomic_file *f;
    if ((st = es_atomic_begin(&f, path, err))) return st;
    st = es_atomic_printf(f, err, "step,kind,loss,lr,bytes_per_s,dev_accuracy,dev_auc\n");
    for (size_t i = 0; !st && i < t->n_rows; i++) {
        const curve_row *r = &t->rows[i];
        if (r->dev)
            st = es_atomic_printf(f, err, "%lld,dev,%.6g,,,%.6f,%.6f\n", (long long)r->step,
                                  r->loss, r->acc, r->auc);
        else
            st = es_atomic_printf(f, err, "%lld,train,%.6g,%.6g,%.1f,,\n", (long long)r->step,
                                  r->loss, r->lr, r->bps);
    }
    if (st) {
        es_atomic_abort(f);
        return st;
    }
    if ((st = es_atomic_commit(f, err))) return st;

    /* SVG: losses (log scale) and dev AUC */
    size_t n = t->n_rows;
    double *buf = calloc(n ? 8 * n : 1, sizeof *buf);
    if (!buf) return es_errf(err, ES_ERR_NOMEM, "out of memory plotting");
    double *tx = buf, *ty = buf + n, *dx = buf + 2 * n, *dl = buf + 3 * n, *da = buf + 4 * n,
           *de = buf + 5 * n;
    size_t nt = 0, nd = 0;
    for (size_t i = 0; i < n; i++) {
        const curve_row *r = &t->rows[i];
        if (r->dev) {
            dx[nd] = (double)r->step;
            dl[nd] = r->loss;
            da[nd] = r->auc;
            de[nd] = 1.0 - r->acc;
            nd++;
        } else {
            tx[nt] = (double)r->step;
            ty[nt] = r->loss;
            nt++;
        }
    }
    es_plot_series loss_s[2] = {{"train loss", tx, ty, nt}, {"dev loss", dx, dl, nd}};
    es_plot_series auc_s[1] = {{"dev ROC-AUC", dx, da, nd}};
    es_plot_series err_s[1] = {{"dev error rate", dx, de, nd}};
    es_plot_panel panels[3] = {
        {"Cross-entropy", "step", "loss (nats)", loss_s, 2, 1, 0, 0},
        {"Dev ROC-AUC", "step", "AUC", auc_s, 1, 0, 0, 0},
        {"Dev error rate (p >= 0.5)", "step", "1 - accuracy", err_s, 1, 1, 0, 0},
    };
    char title[512];
    snprintf(title, sizeof title, "edgeseq train: %s", t->out);
    st = es_path_join(path, sizeof path, t->out, "curves.svg", err);
    if (!st) st = es_plot_svg_write(path, title, panels, 3, err);
    free(buf);
    return st;
}

/* Reloads curves.csv rows up to `step` (resume). Missing file: nothing. */
static void load_curves(train_ctx *t, int64_t step) {
    char path[4096];
    if (es_path_join(path, sizeof path, t->out, "curves.csv", NULL)) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        curve_row r = {0};
        long long s;
        char kind[8];
        if (sscanf(line, "%lld,%7[a-z],", &s, kind) != 2) continue;
        r.step = s;
        if (r.step > step) continue;
        const char *p = strchr(line, ',') + 1;
        p = strchr(p, ',') + 1;
        if (strcmp(kind, "dev") == 0) {
            r.dev = 1;
            if (sscanf(p, "%lf,,,%lf,%lf", &r.loss, &r.acc, &r.auc) != 3) continue;
        } else if (sscanf(p, "%lf,%lf,%lf", &r.loss, &r.lr, &r.bps) != 3) {
            continue;
        }
        if (!push_row(t, &r)) break;
    }
    fclose(f);
}

/* Restores the best-so-far from best/dev_metrics.json (resume). */
static void load_best(train_ctx *t) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/best/dev_metrics.json", t->out) >= (int)sizeof path)
        return;
    json_object *o = json_object_from_file(path);
    if (!o) return;
    json_object *v;
    if (json_object_object_get_ex(o, "dev_auc", &v)) t->best_auc = json_object_get_double(v);
    if (json_object_object_get_ex(o, "dev_loss", &v)) t->best_loss = json_object_get_double(v);
    if (json_object_object_get_ex(o, "step", &v)) t->best_step = json_object_get_int64(v);
    json_object_put(o);
}

/* ---- trainer callbacks ------------------------------------------------------ */

void train_fmt_eta(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long x = (long)(s + 0.5);
    if (x >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", x / 3600, x / 60 % 60, x % 60);
    else snprintf(buf, cap, "%02ld:%02ld", x / 60, x % 60);
}

static int on_progress(void *user, const es_train_progress *p) {
    train_ctx *t = user;
    if (t->rank) return g_stop ? 1 : 0;
    curve_row r = {.step = p->step, .loss = p->loss, .lr = p->lr, .bps = p->bytes_per_s};
    push_row(t, &r);
    char eta[32], el[32];
    train_fmt_eta(eta, sizeof eta, p->eta_s);
    train_fmt_eta(el, sizeof el, p->elapsed_s);
    if (t->tty) {
        int w = 24, fill = p->max_steps > 0 ? (int)(w * p->step / p->max_steps) : 0;
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '-';
        bar[w] = 0;
        fprintf(stderr,
                "\r[%s] step %lld/%lld  loss %.4f  lr %.2e  %.1f kB/s  %s elapsed  ETA %s \x1b[K",
                bar, (long long)p->step, (long long)p->max_steps, p->loss, (double)p->lr,
                p->bytes_per_s / 1e3, el, eta);
    } else {
        fprintf(stderr,
                "step %lld/%lld epoch %lld loss %.5f grad_norm %.3f lr %.3e %.0f bytes/s "
                "%.1f ex/s elapsed %s ETA %s\n",
                (long long)p->step, (long long)p->max_steps, (long long)p->epoch, p->loss,
                p->grad_norm, (double)p->lr, p->bytes_per_s, p->examples_per_s, el, eta);
    }
    return g_stop ? 1 : 0;
}

static es_status on_eval(void *user, es_trainer *tr, int64_t step, es_error *err) {
    train_ctx *t = user;
    es_status st;
    if (t->rank) return ES_OK;
    if (!t->eval_ready) {
        if ((st = clf_attach(&t->eval, es_trainer_model(tr), NULL, 16, err))) return st;
        t->eval_ready = true;
    }
    clf_eval ev;
    if ((st = clf_evaluate(&t->eval, t->data, ES_SPLIT_DEV, &ev, NULL, err))) return st;
    curve_row r = {.step = step, .dev = 1, .loss = ev.loss, .acc = ev.bin.accuracy,
                   .auc = ev.bin.auc};
    push_row(t, &r);
    bool better = ev.bin.auc > t->best_auc ||
                  (ev.bin.auc == t->best_auc && ev.loss < t->best_loss) || t->best_step < 0;
    if (better) {
        char dir[4096], path[4200];
        if ((st = es_path_join(dir, sizeof dir, t->out, "best", err))) return st;
        if ((st = es_byte_model_save_dir(es_trainer_model(tr), dir, err))) return st;
        char js[512];
        int n = snprintf(js, sizeof js,
                         "{\"step\": %lld, \"dev_auc\": %.9g, \"dev_loss\": %.9g, "
                         "\"dev_accuracy\": %.9g, \"dev_f1\": %.9g, \"n_dev\": %zu}\n",
                         (long long)step, ev.bin.auc, ev.loss, ev.bin.accuracy, ev.bin.f1, ev.n);
        snprintf(path, sizeof path, "%s/dev_metrics.json", dir);
        if ((st = es_atomic_write_file(path, js, (size_t)n, err))) return st;
        t->best_auc = ev.bin.auc;
        t->best_loss = ev.loss;
        t->best_step = step;
    }
    if (t->tty) fprintf(stderr, "\r\x1b[K");
    fprintf(stderr, "eval step %lld: dev loss %.5f accuracy %.4f AUC %.6f%s (best %.6f at step %lld)\n",
            (long long)step, ev.loss, ev.bin.accuracy, ev.bin.auc, better ? " *" : "",
            t->best_auc, (long long)t->best_step);
    return write_curves(t, err);
}

es_status train_mkdir_p(const char *dir, es_error *err) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return es_errf(err, ES_ERR_ARG, "%s: path too long", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return es_errf(err, ES_ERR_IO, "%s: %s", p, strerror(errno));
            *s = c;
            if (!c) break;
        }
    }
    if (!es_is_dir(dir)) return es_errf(err, ES_ERR_IO, "%s: not a folder", dir);
    return ES_OK;
}

/* ---- config --------------------------------------------------------------- */

typedef struct train_cfg {
    char *data, *out;
    char *model_json;
    es_train_params p;
    int threads;
    char *init_encoder;       /* "init_encoder" or NULL */
    double train_fraction;    /* "train_fraction" (1 = all) */
    uint64_t fraction_seed;   /* "train_fraction_seed" */
} train_cfg;

static int cfg_fail(const char *path, const char *what) {
    return cli_fail("%s: %s", path, what);
}

int train_parse_params(es_train_params *p, int *threads, json_object *o, const char *path) {
    char msg[256];
    json_object_object_foreach(o, key, val) {
        enum json_type jt = json_object_get_type(val);
        bool num = jt == json_type_int || jt == json_type_double;
        double d = json_object_get_double(val);
        int64_t i = json_object_get_int64(val);
#define INT_KEY(name, field, lo, hi)                                                     \
    if (strcmp(key, name) == 0) {                                                        \
        if (jt != json_type_int || i < (lo) || i > (hi)) {                               \
            snprintf(msg, sizeof msg, "train.%s must be an integer in [%lld, %lld]", name, \
                     (long long)(lo), (long long)(hi));                                  \
            return cfg_fail(path, msg);                                                  \
        }                                                                                \
        field = i;                                                                       \
        continue;                                                                        \
    }
#define FLT_KEY(name, field, lo, hi)                                                     \
    if (strcmp(key, name) == 0) {                                                        \
        if (!num || !(d >= (lo) && d <= (hi))) {                                         \
            snprintf(msg, sizeof msg, "train.%s must be a number in [%g, %g]", name,    \
                     (double)(lo), (double)(hi));                                        \
            return cfg_fail(path, msg);                                                  \
        }                                                                                \
        field = (float)d;                                                                \
        continue;                                                                        \
    }
        INT_KEY("batch_size", p->batch_size, 1, 4096)
        INT_KEY("grad_accum", p->grad_accum, 1, 1024)
        INT_KEY("max_steps", p->max_steps, 1, INT64_C(1) << 40)
        INT_KEY("warmup_steps", p->warmup_steps, 0, INT64_C(1) << 40)
        INT_KEY("seed", p->seed, 0, INT64_MAX)
        INT_KEY("threads", *threads, 0, 256)
        INT_KEY("eval_every", p->eval_every, 0, INT64_C(1) << 40)
        INT_KEY("log_every", p->log_every, 1, INT64_C(1) << 40)
        INT_KEY("save_every", p->save_every, 0, INT64_C(1) << 40)
        INT_KEY("keep_checkpoints", p->keep_checkpoints, 1, 1000)
        INT_KEY("max_bytes", p->max_bytes, 0, 1 << 20)
        FLT_KEY("lr", p->lr, 0, 10)
        FLT_KEY("min_lr", p->min_lr, 0, 10)
        FLT_KEY("weight_decay", p->weight_decay, 0, 10)
        FLT_KEY("beta1", p->beta1, 0, 1)
        FLT_KEY("beta2", p->beta2, 0, 1)
        FLT_KEY("eps", p->eps, 0, 1)
        FLT_KEY("clip_norm", p->clip_norm, -1, 1e9)
#undef INT_KEY
#undef FLT_KEY
        if (strcmp(key, "schedule") == 0) {
            const char *s = json_object_get_string(val);
            static const char *names[] = {"constant", "linear", "cosine", "invsqrt"};
            int k = -1;
            for (int j = 0; j < 4; j++)
                if (jt == json_type_string && strcmp(s, names[j]) == 0) k = j;
            if (k < 0) return cfg_fail(path, "train.schedule must be constant, linear, cosine or invsqrt");
            p->schedule = (es_lr_schedule)k;
            continue;
        }
        snprintf(msg, sizeof msg, "unknown key train.%s", key);
        return cfg_fail(path, msg);
    }
    return CLI_EXIT_OK;
}

static int load_config(train_cfg *c, const char *path) {
    memset(c, 0, sizeof *c);
    c->p = es_train_params_default();
    c->threads = 0;
    c->train_fraction = 1.0;
    c->fraction_seed = 1;
    void *buf;
    size_t len;
    es_error err = {0};
    if (es_read_file(path, &buf, &len, 1 << 20, &err)) return cli_fail_err(&err);
    json_tokener *tk = json_tokener_new();
    if (!tk) {
        es_free(buf);
        return cli_fail("out of memory");
    }
    json_object *o = json_tokener_parse_ex(tk, buf, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t at = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    es_free(buf);
    if (!o || je != json_tokener_success || json_object_get_type(o) != json_type_object) {
        if (o) json_object_put(o);
        return cli_fail("%s: not a JSON object (%s near byte %zu)", path,
                        json_tokener_error_desc(je), at);
    }
    int rc = CLI_EXIT_OK;
    json_object *v;
    json_object_object_foreach(o, key, val) {
        (void)val;
        if (strcmp(key, "data") && strcmp(key, "out") && strcmp(key, "model") &&
            strcmp(key, "train") && strcmp(key, "comment") && strcmp(key, "init_encoder") &&
            strcmp(key, "train_fraction") && strcmp(key, "train_fraction_seed")) {
            rc = cli_fail("%s: unknown key '%s' (expected data, out, model, train, comment)", path,
                          key);
            break;
        }
    }
    if (!rc && json_object_object_get_ex(o, "data", &v)) c->data = strdup(json_object_get_string(v));
    if (!rc && json_object_object_get_ex(o, "out", &v)) c->out = strdup(json_object_get_string(v));
    if (!rc && json_object_object_get_ex(o, "init_encoder", &v)) {
        if (json_object_get_type(v) != json_type_string) rc = cfg_fail(path, "\"init_encoder\" must be a folder name");
        else c->init_encoder = strdup(json_object_get_string(v));
    }
    if (!rc && json_object_object_get_ex(o, "train_fraction", &v)) {
        c->train_fraction = json_object_get_double(v);
        enum json_type jt = json_object_get_type(v);
        if ((jt != json_type_double && jt != json_type_int) || !(c->train_fraction > 0 && c->train_fraction <= 1))
            rc = cfg_fail(path, "\"train_fraction\" must be a number in (0, 1]");
    }
    if (!rc && json_object_object_get_ex(o, "train_fraction_seed", &v)) {
        if (json_object_get_type(v) != json_type_int || json_object_get_int64(v) < 0)
            rc = cfg_fail(path, "\"train_fraction_seed\" must be a non-negative integer");
        else c->fraction_seed = (uint64_t)json_object_get_int64(v);
    }
    if (!rc) {
        if (!json_object_object_get_ex(o, "model", &v) ||
            json_object_get_type(v) != json_type_object)
            rc = cfg_fail(path, "missing \"model\" object");
        else
            c->model_json = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    }
    if (!rc && json_object_object_get_ex(o, "train", &v)) {
        if (json_object_get_type(v) != json_type_object) rc = cfg_fail(path, "\"train\" must be an object");
        else rc = train_parse_params(&c->p, &c->threads, v, path);
    }
    json_object_put(o);
    return rc;
}

static void free_config(train_cfg *c) {
    free(c->data);
    free(c->out);
    free(c->model_json);
    free(c->init_encoder);
}

/* ---- verb ------------------------------------------------------------------ */

/* True when the config at path trains a byte seq2seq model: its
 * model.model_type is "edgeseq-byte-seq2seq", or it has no model_type and
 * names an "init" folder (only the seq2seq path has one; it reports a
 * folder that is missing or holds another kind of model). An unreadable
 * config is left to the classifier path, which reports it. */
static bool config_is_s2s(const char *path) {
    json_object *o = json_object_from_file(path), *v, *t;
    if (!o) return false;
    bool is;
    if (json_object_object_get_ex(o, "model", &v) && json_object_is_type(v, json_type_object) &&
        json_object_object_get_ex(v, "model_type", &t) && json_object_is_type(t, json_type_string))
        is = strcmp(json_object_get_string(t), "edgeseq-byte-seq2seq") == 0;
    else
        is = json_object_object_get_ex(o, "init", NULL);
    json_object_put(o);
    return is;
}

int cmd_train(int argc, char **argv) {
    bool resume = false;
    const char *out_opt = NULL, *data_opt = NULL;
    int threads_opt = -1;
    int64_t steps_opt = 0;
    int steps_int = 0;
    bool use_mpi = false;
    const cli_opt opts[] = {
        {"resume", 0, CLI_FLAG, &resume, 0, 0, NULL,
         "continue from the latest checkpoint in the output folder", NULL},
        {"out", 'o', CLI_STR, &out_opt, 0, 0, "DIR", "output folder (overrides \"out\")", NULL},
        {"data", 0, CLI_STR, &data_opt, 0, 0, "DIR", "corpus folder (overrides \"data\")", NULL},
        {"threads", 't', CLI_INT, &threads_opt, 0, 256, "N",
         "threads (overrides train.threads; 0 = physical cores)", NULL},
        {"max-steps", 0, CLI_INT, &steps_int, 1, 1e9, "N", "override train.max_steps", NULL},
        {"mpi", 0, CLI_FLAG, &use_mpi, 0, 0, NULL,
         "data-parallel over the MPI job (automatic under mpirun/mpiexec/srun)", NULL},
    };
    const cli_help help = {
        "edgeseq train CONFIG.json [--resume] [--out DIR] [--data DIR] [--threads N]\n"
        "              [--max-steps N]",
        "Two kinds of CONFIG.json, told apart by model.model_type:\n"
        "\n"
        "Byte classifier (ByteQRNN / ByteTransformer / ByteFunnel; configs/spam-*.json):\n"
        "trains on the SpamAssassin train split, evaluates on dev every\n"
        "train.eval_every steps and keeps the best model by dev ROC-AUC in OUT/best/.\n"
        "Keys: data, out, model (classifier config.json), train {batch_size,\n"
        "max_steps, lr, min_lr, warmup_steps, schedule, weight_decay, beta1, beta2,\n"
        "eps, clip_norm, grad_accum, seed, threads, eval_every, log_every,\n"
        "save_every, keep_checkpoints, max_bytes}.\n"
        "\n"
        "Byte seq2seq, model_type \"edgeseq-byte-seq2seq\" (G2P; configs/g2p-*.json):\n"
        "trains on the CMUdict train split (DATA/cmudict), evaluates greedy dev\n"
        "WER/PER every eval_every steps and keeps the best model by dev WER with\n"
        "stress removed (ties: PER) in OUT/best/ (+ dev_metrics.json); the model\n"
        "last evaluated is OUT/last/. Keys: data, out, init (start from this model\n"
        "folder; \"model\" then {}), cases (\"lower\" or \"both\": input cases\n"
        "trained), eval_every (default 1000), eval_words (0 = all dev words), model\n"
        "(seq2seq config.json; \"symbols\": null = the dictionary's list), qat\n"
        "(optional quantization-aware training, docs/quantization.md), train (as\n"
        "above without max_bytes; save_every defaults to eval_every).\n"
        "\n"
        "Both: unknown keys in \"train\" are errors; checkpoints OUT/step-N/ every\n"
        "train.save_every steps (resumable with --resume, bit-identical to an\n"
        "uninterrupted run at the same thread count); the final model in OUT/;\n"
        "curves OUT/curves.csv + OUT/curves.svg; OUT/train_config.json. Ctrl-C or\n"
        "SIGTERM stops with a checkpoint. The test split is never used here.",
        "  edgeseq train configs/spam-byteqrnn.json\n"
        "  edgeseq train configs/spam-byteqrnn.json --resume\n"
        "  edgeseq eval -m out/spam-byteqrnn/best --data data --split test\n"
        "  edgeseq train configs/g2p-bytetransformer.json\n"
        "  edgeseq generate -m out/g2p-bytetransformer/best hello\n"
        "  edgeseq eval -m out/g2p-bytetransformer/best --task g2p --data data --split dev",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("train", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos,
                       &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos != 1) {
        free(pos);
        return cli_usage("train", n_pos ? "exactly one CONFIG.json expected" : "missing CONFIG.json");
    }
    steps_opt = steps_int;
    const char *cfg_path = pos[0];
    if (config_is_s2s(cfg_path)) {
        train_cli_opts o = {resume, out_opt, data_opt, threads_opt, steps_int, use_mpi};
        rc = cmd_train_s2s(cfg_path, &o);
        free(pos);
        return rc;
    }
    train_cfg cfg;
    rc = load_config(&cfg, cfg_path);
    free(pos);
    if (rc) {
        free_config(&cfg);
        return rc;
    }
    const char *out = out_opt ? out_opt : cfg.out;
    const char *data = data_opt ? data_opt : cfg.data ? cfg.data : "data";
    if (!out) {
        free_config(&cfg);
        return cli_usage("train", "no output folder: set \"out\" in %s or pass --out", cfg_path);
    }
    if (threads_opt >= 0) cfg.threads = threads_opt;
    if (steps_opt) cfg.p.max_steps = steps_opt;
    cfg.p.n_threads = cfg.threads;
    cfg.p.out_dir = out;

    es_error err = {0};
    es_byte_config mc;
    es_byte_model *m = NULL;
    es_trainer *tr = NULL;
    es_example *ex = NULL;
    es_dist *dist = NULL;
    train_ctx t = {.out = out, .best_auc = -1, .best_loss = INFINITY, .best_step = -1,
                   .tty = cli_stderr_tty(), .max_steps = cfg.p.max_steps};
    es_status st = es_byte_config_from_json(&mc, cfg.model_json, strlen(cfg.model_json),
                                            cfg_path, &err);
    if (st) goto fail;
    if (use_mpi || es_dist_launcher_size() > 1) {
        /* without MPI support N launched copies would each train alone
         * into the same folder: refuse (es_dist_new_mpi says why) */
        if ((st = es_dist_new_mpi(&dist, &err))) goto fail;
        int world = es_dist_size(dist);
        t.rank = es_dist_rank(dist);
        if (cfg.p.batch_size % world) {
            st = es_errf(&err, ES_ERR_ARG, "%s: train.batch_size %d (the global batch) is not a "
                         "multiple of the %d MPI processes", cfg_path, cfg.p.batch_size, world);
            goto fail;
        }
        cfg.p.batch_size /= world;
    }
    if (mc.n_labels != 2) {
        st = es_errf(&err, ES_ERR_ARG, "%s: model.labels must have 2 entries (ham, spam)", cfg_path);
        goto fail;
    }
    /* data: train bytes for the trainer, dev for selection; never test */
    if ((st = es_data_spam_list(&t.data, data, &err))) goto fail;
    if ((st = es_text_dataset_load(t.data, ES_SPLIT_TRAIN, (size_t)mc.max_bytes, &err))) goto fail;
    if ((st = es_text_dataset_load(t.data, ES_SPLIT_DEV, (size_t)mc.max_bytes, &err))) goto fail;
    size_t n_train = es_text_dataset_count(t.data, ES_SPLIT_TRAIN, -1);
    if (n_train == 0) {
        st = es_errf(&err, ES_ERR_ARG, "%s: no training messages", data);
        goto fail;
    }
    if (!(ex = calloc(n_train, sizeof *ex))) {
        st = es_errf(&err, ES_ERR_NOMEM, "out of memory");
        goto fail;
    }
    uint8_t *chosen = NULL; /* "train_fraction": the stratified subset */
    if (cfg.train_fraction < 1.0) {
        if (!(chosen = malloc(t.data->n ? t.data->n : 1))) {
            st = es_errf(&err, ES_ERR_NOMEM, "out of memory");
            goto fail;
        }
        st = es_data_spam_fraction(chosen, t.data, ES_SPLIT_TRAIN, cfg.train_fraction,
                                   cfg.fraction_seed, &err);
        if (st) {
            free(chosen);
            goto fail;
        }
    }
    size_t k = 0, k_spam = 0;
    for (size_t i = 0; i < t.data->n; i++) {
        const es_text_example *e = &t.data->ex[i];
        if (e->split != ES_SPLIT_TRAIN || (chosen && !chosen[i])) continue;
        k_spam += e->label == 1;
        ex[k].bytes = e->bytes;
        ex[k].len = e->n_bytes;
        ex[k].label = e->label;
        k++;
    }
    free(chosen);
    if (cfg.train_fraction < 1.0 && !t.rank)
        fprintf(stderr, "train_fraction %g (seed %llu): %zu of %zu training messages (%zu ham / %zu spam)\n",
                cfg.train_fraction, (unsigned long long)cfg.fraction_seed, k, n_train, k - k_spam, k_spam);
    n_train = k;
    if ((st = train_mkdir_p(out, &err))) goto fail;
    if ((st = es_byte_model_new(&m, &mc, cfg.p.seed, &err))) goto fail;
    if (cfg.init_encoder && !resume) {
        int n_copied = 0;
        if ((st = es_byte_load_encoder(m, cfg.init_encoder, &n_copied, &err))) goto fail;
        if (!t.rank)
            fprintf(stderr, "init_encoder: %d encoder tensors from %s (attention pool and head fresh)\n",
                    n_copied, cfg.init_encoder);
    }
    if ((st = es_trainer_new(&tr, m, &cfg.p, &err))) goto fail;
    if (dist && (st = es_trainer_set_dist(tr, dist, &err))) goto fail;
    es_trainer_set_progress(tr, on_progress, &t);
    es_trainer_set_eval(tr, on_eval, &t); /* also called once at the end */
    if (resume) {
        if ((st = es_trainer_resume(tr, NULL, &err))) goto fail;
        load_curves(&t, es_trainer_step_count(tr));
        load_best(&t);
        if (!t.rank)
            fprintf(stderr, "resumed %s at step %lld\n", out, (long long)es_trainer_step_count(tr));
    } else if (!t.rank) {
        char p2[4096];
        if (!es_path_join(p2, sizeof p2, out, "train_config.json", NULL))
            es_copy_file_atomic(p2, cfg_path, NULL);
    }
    char nb[32];
    if (!t.rank)
        fprintf(stderr,
            "train: %s, %s parameters, %zu train / %zu dev messages (max_bytes %d), %lld steps "
            "of batch %d, out %s\n",
            es_byte_encoder_name(mc.encoder), cli_thousands(nb, sizeof nb, es_byte_model_n_params(m)),
            n_train, es_text_dataset_count(t.data, ES_SPLIT_DEV, -1), mc.max_bytes,
            (long long)cfg.p.max_steps, cfg.p.batch_size, out);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (dist) signal(SIGUSR1, on_sigint);
    es_example_source src = {.n = n_train, .array = ex};
    st = es_trainer_run(tr, &src, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (dist) signal(SIGUSR1, SIG_DFL);
    if (t.tty) fprintf(stderr, "\n");
    if (st == ES_ERR_CANCELLED) {
        if (!t.rank)
            fprintf(stderr, "stopped at step %lld; continue with --resume\n",
                (long long)es_trainer_step_count(tr));
        rc = CLI_EXIT_RUNTIME;
    } else if (st) {
        goto fail;
    } else if (!t.rank) {
        printf("best dev ROC-AUC %.6f (loss %.5f) at step %lld: %s/best\n", t.best_auc,
               t.best_loss, (long long)t.best_step, out);
    }
    goto done;
fail:
    rc = cli_fail_err(&err);
done:
    if (t.eval_ready) clf_close(&t.eval);
    es_trainer_free(tr);
    es_dist_free(dist);
    es_byte_model_free(m);
    es_text_dataset_free(t.data);
    free(t.rows);
    free(ex);
    free_config(&cfg);
    return rc;
}
