/*
 * cmd_train_s2s.c — `edgeseq train CONFIG.json` for byte seq2seq models
 * (dispatched from cmd_train.c): G2P on the CMUdict train split through
 * es_s2s_trainer (src/train/seq2seq_data.h), greedy dev WER/PER every
 * eval_every steps (src/train/g2p_eval.h), the best model by dev WER with
 * stress removed (ties: lower PER) in OUT/best, checkpoints and resume.
 *
 * CONFIG.json (configs/g2p-*.json):
 *   {"data": "data",          corpus folder (DATA/cmudict/{dict,symbols}.txt)
 *    "out": "out/g2p",        output folder (--out overrides)
 *    "init": "DIR",           optional: start from this model folder
 *                             ("model" must then be {} or only model_type)
 *    "cases": "lower",        input cases trained: "lower" or "both"
 *                             (lower + the dictionary's upper case)
 *    "eval_every": 1000,      dev evaluation cadence (also train.eval_every)
 *    "eval_words": 0,         dev words per evaluation (0 = all)
 *    "model": {...},          seq2seq config.json ("symbols": null or
 *                             absent = the dictionary's symbol list)
 *    "qat": {...},            optional: quantization-aware training of the
 *                             model, also of an "init" float model
 *                             (es_s2s_qat_enable, src/quant/s2s_qat.h;
 *                             docs/quantization.md)
 *    "train": {...}}          es_train_params keys as for the classifier
 *                             (cmd_train.c) except max_bytes;
 *                             save_every defaults to eval_every
 * Unknown keys (top level and "train") are errors.
 *
 * Output folder: config.json + model.safetensors (final model),
 * step-NNNNNNNN/ + checkpoint (resumable), best/ (+ dev_metrics.json),
 * last/ (the model of the latest evaluation), curves.csv + curves.svg,
 * train_config.json (copy of the config; not rewritten by --resume).
 * Starting afresh in a folder that holds a checkpoint is refused (say
 * --resume or pick another folder), so steps of two runs never mix.
 *
 * Selection uses dev only; dev inputs are lower case (the normal use).
 * The test split is never read into any example or metric here.
 * SIGINT / SIGTERM: the step in flight finishes, a checkpoint is written,
 * exit 1 with "continue with --resume".
 */
#include "cmd_train_s2s.h"

#include "io/fileio.h"
#include "model/byte_seq2seq.h"
#include "quant/byte_qat.h"
#include "quant/s2s_qat.h"
#include "train/ckpt.h"
#include "train/data_cmudict.h"
#include "train/g2p_eval.h"
#include "train/plot_svg.h"
#include "train/seq2seq_data.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- config ------------------------------------------------------------------ */

typedef struct s2s_cfg {
    char *data, *out, *init, *model_json;
    unsigned cases;
    int64_t eval_every;
    size_t eval_words;
    es_train_params p;
    int threads;
    es_qat_config qat; /* top-level "qat" (enabled = 0 when absent) */
} s2s_cfg;

static void cfg_free(s2s_cfg *c) {
    free(c->data);
    free(c->out);
    free(c->init);
    free(c->model_json);
}

static char *dup_str(json_object *v) {
    const char *t = json_object_get_string(v);
    return strdup(t ? t : "");
}

/* Reads and checks the config; an exit code (message printed). */
static int cfg_load(s2s_cfg *c, const char *path) {
    memset(c, 0, sizeof *c);
    c->p = es_train_params_default();
    c->p.save_every = -1; /* "not given": defaults to eval_every below */
    c->p.eval_every = -1;
    c->cases = ES_CMU_CASE_LOWER;
    c->eval_every = -1;
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
    if (!o || je != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        if (o) json_object_put(o);
        return cli_fail("%s: not a JSON object (%s near byte %zu)", path, json_tokener_error_desc(je), at);
    }
    int rc = CLI_EXIT_OK;
    json_object *model = NULL, *train = NULL;
    json_object_object_foreach(o, key, val) {
        enum json_type jt = json_object_get_type(val);
        if (strcmp(key, "comment") == 0) continue;
        if (!strcmp(key, "data") || !strcmp(key, "out") || !strcmp(key, "init")) {
            if (jt != json_type_string) {
                rc = cli_fail("%s: \"%s\" must be a string", path, key);
                break;
            }
            char **dst = !strcmp(key, "data") ? &c->data : !strcmp(key, "out") ? &c->out : &c->init;
            *dst = dup_str(val);
        } else if (!strcmp(key, "cases")) {
            const char *v = jt == json_type_string ? json_object_get_string(val) : "";
            if (!strcmp(v, "lower")) c->cases = ES_CMU_CASE_LOWER;
            else if (!strcmp(v, "both")) c->cases = ES_CMU_CASE_LOWER | ES_CMU_CASE_ORIGINAL;
            else {
                rc = cli_fail("%s: \"cases\" must be \"lower\" or \"both\"", path);
                break;
            }
        } else if (!strcmp(key, "eval_every") || !strcmp(key, "eval_words")) {
            int64_t i = json_object_get_int64(val);
            if (jt != json_type_int || i < 0 || i > (INT64_C(1) << 40)) {
                rc = cli_fail("%s: \"%s\" must be an integer >= 0", path, key);
                break;
            }
            if (!strcmp(key, "eval_every")) c->eval_every = i;
            else c->eval_words = (size_t)i;
        } else if (!strcmp(key, "qat")) {
            continue; /* parsed below (es_qat_config_from_json) */
        } else if (!strcmp(key, "model")) {
            model = val;
        } else if (!strcmp(key, "train")) {
            train = val;
        } else {
            rc = cli_fail("%s: unknown key '%s' (expected data, out, init, cases, eval_every, "
                          "eval_words, model, qat, train, comment)", path, key);
            break;
        }
    }
    if (!rc && es_qat_config_from_json(&c->qat, o, &err)) rc = cli_fail_err(&err);
    if (!rc && model && !json_object_is_type(model, json_type_object))
        rc = cli_fail("%s: \"model\" must be an object", path);
    if (!rc && c->init && model) {
        json_object_object_foreach(model, mkey, mval) {
            (void)mval;
            if (strcmp(mkey, "model_type") != 0) {
                rc = cli_fail("%s: with \"init\" the model comes from %s; \"model\" must be {} "
                              "(found key '%s')", path, c->init, mkey);
                break;
            }
        }
    }
    if (!rc && !c->init && !model) rc = cli_fail("%s: missing \"model\" object (or \"init\" folder)", path);
    if (!rc && model && !c->init)
        c->model_json = strdup(json_object_to_json_string_ext(model, JSON_C_TO_STRING_PLAIN));
    if (!rc && train) {
        if (!json_object_is_type(train, json_type_object))
            rc = cli_fail("%s: \"train\" must be an object", path);
        else
            rc = train_parse_params(&c->p, &c->threads, train, path);
    }
    if (!rc && c->p.max_bytes)
        rc = cli_fail("%s: train.max_bytes does not apply to seq2seq models (inputs are cut to "
                      "model.max_bytes)", path);
    if (!rc && c->p.eval_every >= 0 && c->eval_every >= 0 && c->p.eval_every != c->eval_every)
        rc = cli_fail("%s: eval_every (%lld) and train.eval_every (%lld) differ", path,
                      (long long)c->eval_every, (long long)c->p.eval_every);
    if (!rc) {
        if (c->eval_every < 0) c->eval_every = c->p.eval_every >= 0 ? c->p.eval_every : 1000;
        c->p.eval_every = c->eval_every;
        if (c->p.save_every < 0) c->p.save_every = c->eval_every;
    }
    json_object_put(o);
    return rc;
}

/* ---- run state, curves ----------------------------------------------------------- */

typedef struct row {
    int64_t step;
    int dev;           /* 0 = training report, 1 = dev evaluation */
    double loss, lr;   /* training */
    double wer, per, wer_ns, per_ns; /* dev (fractions) */
} row;

typedef struct run {
    const char *out;
    es_cmudict *dict;
    size_t eval_words;
    row *rows;
    size_t n_rows, cap_rows;
    double best_wer, best_per; /* stress removed */
    int64_t best_step;
    bool tty;
} run;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}
static int stop_requested(void *user) {
    (void)user;
    return g_stop != 0;
}

static bool push_row(run *r, const row *x) {
    if (r->n_rows == r->cap_rows) {
        size_t nc = r->cap_rows ? 2 * r->cap_rows : 256;
        row *nr = realloc(r->rows, nc * sizeof *nr);
        if (!nr) return false;
        r->rows = nr;
        r->cap_rows = nc;
    }
    r->rows[r->n_rows++] = *x;
    return true;
}

#define CURVES_HEADER "step,kind,loss,lr,dev_wer,dev_per,dev_wer_no_stress,dev_per_no_stress\n"

/* curves.csv (the format dev/g2p/train_g2p.c wrote) and curves.svg, both
 * rewritten atomically from the rows. */
static es_status write_curves(run *r, es_error *err) {
    char path[4096];
    es_status st = es_path_join(path, sizeof path, r->out, "curves.csv", err);
    if (st) return st;
    es_atomic_file *f;
    if ((st = es_atomic_begin(&f, path, err))) return st;
    st = es_atomic_printf(f, err, CURVES_HEADER);
    for (size_t i = 0; !st && i < r->n_rows; i++) {
        const row *x = &r->rows[i];
        if (x->dev)
            st = es_atomic_printf(f, err, "%lld,dev,,,%.6f,%.6f,%.6f,%.6f\n", (long long)x->step,
                                  x->wer, x->per, x->wer_ns, x->per_ns);
        else
            st = es_atomic_printf(f, err, "%lld,train,%.6f,%.6g,,,,\n", (long long)x->step, x->loss,
                                  x->lr);
    }
    if (st) {
        es_atomic_abort(f);
        return st;
    }
    if ((st = es_atomic_commit(f, err))) return st;
    size_t n = r->n_rows;
    double *b = calloc(n ? 7 * n : 1, sizeof *b);
    if (!b) return es_errf(err, ES_ERR_NOMEM, "out of memory plotting");
    double *tx = b, *ty = b + n, *dx = b + 2 * n, *w = b + 3 * n, *wn = b + 4 * n, *pp = b + 5 * n,
           *pn = b + 6 * n;
    size_t nt = 0, nd = 0;
    for (size_t i = 0; i < n; i++) {
        const row *x = &r->rows[i];
        if (x->dev) {
            dx[nd] = (double)x->step;
            w[nd] = 100 * x->wer;
            wn[nd] = 100 * x->wer_ns;
            pp[nd] = 100 * x->per;
            pn[nd] = 100 * x->per_ns;
            nd++;
        } else {
            tx[nt] = (double)x->step;
            ty[nt] = x->loss;
            nt++;
        }
    }
    es_plot_series loss_s[1] = {{"train token cross-entropy", tx, ty, nt}};
    es_plot_series wer_s[2] = {{"dev WER, stress removed (selection)", dx, wn, nd},
                               {"dev WER", dx, w, nd}};
    es_plot_series per_s[2] = {{"dev PER, stress removed", dx, pn, nd}, {"dev PER", dx, pp, nd}};
    es_plot_panel panels[3] = {
        {"Training loss", "step", "loss (nats / symbol)", loss_s, 1, 1, 0, 0},
        {"Dev word error rate (greedy)", "step", "WER (%)", wer_s, 2, 0, 0, 0},
        {"Dev phone error rate (greedy)", "step", "PER (%)", per_s, 2, 0, 0, 0},
    };
    char title[512];
    snprintf(title, sizeof title, "edgeseq train (G2P): %s", r->out);
    st = es_path_join(path, sizeof path, r->out, "curves.svg", err);
    if (!st) st = es_plot_svg_write(path, title, panels, 3, err);
    free(b);
    return st;
}

/* Resume: rows of curves.csv up to `step` (a missing file gives none). */
static void load_curves(run *r, int64_t step) {
    char path[4096];
    if (es_path_join(path, sizeof path, r->out, "curves.csv", NULL)) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        row x;
        memset(&x, 0, sizeof x);
        long long s;
        char kind[8];
        if (sscanf(line, "%lld,%7[a-z],", &s, kind) != 2 || s > step) continue;
        x.step = s;
        const char *p = strchr(strchr(line, ',') + 1, ',') + 1;
        if (!strcmp(kind, "dev")) {
            x.dev = 1;
            if (sscanf(p, ",,%lf,%lf,%lf,%lf", &x.wer, &x.per, &x.wer_ns, &x.per_ns) != 4) continue;
        } else if (sscanf(p, "%lf,%lf", &x.loss, &x.lr) != 2) {
            continue;
        }
        if (!push_row(r, &x)) break;
    }
    fclose(f);
}

/* Resume: the best so far from best/dev_metrics.json. */
static void load_best(run *r) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/best/dev_metrics.json", r->out) >= (int)sizeof path) return;
    json_object *o = json_object_from_file(path), *v;
    if (!o) return;
    if (json_object_object_get_ex(o, "dev_wer_no_stress", &v)) r->best_wer = json_object_get_double(v);
    if (json_object_object_get_ex(o, "dev_per_no_stress", &v)) r->best_per = json_object_get_double(v);
    if (json_object_object_get_ex(o, "step", &v)) r->best_step = json_object_get_int64(v);
    json_object_put(o);
}

/* ---- trainer callbacks ------------------------------------------------------------- */

static int on_progress(void *user, const es_train_progress *p) {
    run *r = user;
    row x = {.step = p->step, .loss = p->loss, .lr = p->lr};
    push_row(r, &x);
    char eta[32], el[32];
    train_fmt_eta(eta, sizeof eta, p->eta_s);
    train_fmt_eta(el, sizeof el, p->elapsed_s);
    if (r->tty) {
        int w = 24, fill = p->max_steps > 0 ? (int)(w * p->step / p->max_steps) : 0;
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '-';
        bar[w] = 0;
        fprintf(stderr, "\r[%s] step %lld/%lld  loss %.4f  lr %.2e  %.0f words/s  %s elapsed  ETA %s \x1b[K",
                bar, (long long)p->step, (long long)p->max_steps, p->loss, (double)p->lr,
                p->examples_per_s, el, eta);
    } else {
        fprintf(stderr, "step %lld/%lld epoch %lld loss %.5f grad_norm %.3f lr %.3e %.0f ex/s "
                "elapsed %s ETA %s\n", (long long)p->step, (long long)p->max_steps,
                (long long)p->epoch, p->loss, p->grad_norm, (double)p->lr, p->examples_per_s, el, eta);
    }
    return 0;
}

/* Dev evaluation: the model is written to OUT/last and scored through the
 * public API (es_model_load + es_session_generate, greedy, batch 1), i.e.
 * exactly as `edgeseq eval --task g2p` would score that folder. */
static es_status on_eval(void *user, es_s2s_trainer *tr, int64_t step, es_error *err) {
    run *r = user;
    char last[4096], best[4096];
    es_status st = es_path_join(last, sizeof last, r->out, "last", err);
    if (!st) st = es_path_join(best, sizeof best, r->out, "best", err);
    if (!st) st = es_s2s_model_save_dir(es_s2s_trainer_model(tr), last, err);
    if (st) return st;
    es_model *mm = NULL;
    es_session *s = NULL;
    es_load_params lp = es_load_params_default();
    if ((st = es_model_load(&mm, last, &lp, err))) return st;
    es_session_params sp = es_session_params_default();
    sp.max_batch = 1;
    sp.n_threads = 1;
    if ((st = es_session_new(&s, mm, &sp, err))) {
        es_model_free(mm);
        return st;
    }
    es_gen_params gp = es_gen_params_default();
    gp.method = ES_DECODE_GREEDY;
    gp.max_new_tokens = 1 << 20; /* capped at the model's max_out */
    es_g2p_eval ev;
    double t0 = cli_now();
    st = es_g2p_evaluate(&ev, s, mm, r->dict, ES_SPLIT_DEV, &gp, ES_CMU_CASE_LOWER, r->eval_words,
                         NULL, NULL, err);
    es_session_free(s);
    es_model_free(mm);
    if (st) return st;
    row x = {.step = step, .dev = 1, .wer = es_g2p_wer(&ev.m.stress), .per = es_g2p_per(&ev.m.stress),
             .wer_ns = es_g2p_wer(&ev.m.nostress), .per_ns = es_g2p_per(&ev.m.nostress)};
    /* a resumed run that had already finished evaluates its last step
     * again: replace that row rather than repeat it */
    if (r->n_rows && r->rows[r->n_rows - 1].dev && r->rows[r->n_rows - 1].step == step) r->n_rows--;
    push_row(r, &x);
    bool better = r->best_step < 0 || x.wer_ns < r->best_wer ||
                  (x.wer_ns == r->best_wer && x.per_ns < r->best_per);
    if (better) {
        if ((st = es_s2s_model_save_dir(es_s2s_trainer_model(tr), best, err))) return st;
        char js[512], path[4200];
        int n = snprintf(js, sizeof js,
                         "{\"step\": %lld, \"dev_words\": %zu, \"dev_wer\": %.6f, \"dev_per\": %.6f, "
                         "\"dev_wer_no_stress\": %.6f, \"dev_per_no_stress\": %.6f, "
                         "\"decoding\": \"greedy\"}\n",
                         (long long)step, ev.m.stress.n_words, x.wer, x.per, x.wer_ns, x.per_ns);
        snprintf(path, sizeof path, "%s/dev_metrics.json", best);
        if ((st = es_atomic_write_file(path, js, (size_t)n, err))) return st;
        r->best_wer = x.wer_ns;
        r->best_per = x.per_ns;
        r->best_step = step;
    }
    if (r->tty) fprintf(stderr, "\r\x1b[K");
    fprintf(stderr, "eval step %lld: dev %zu words greedy: WER %.2f%% PER %.2f%% | stress removed "
            "WER %.2f%% PER %.2f%%%s (best %.2f%% at %lld) [%.1f s, %.3f ms/word]\n",
            (long long)step, ev.m.stress.n_words, 100 * x.wer, 100 * x.per, 100 * x.wer_ns,
            100 * x.per_ns, better ? " *" : "", 100 * r->best_wer, (long long)r->best_step,
            cli_now() - t0, ev.m.stress.n_words ? 1e3 * ev.seconds / (double)ev.m.stress.n_words : 0.0);
    return write_curves(r, err);
}

/* ---- model ---------------------------------------------------------------------- */

/* The model to train: from the init folder, or from the config's "model"
 * with "symbols" defaulting to the dictionary's list. Either way its
 * symbols must be the dictionary's, in the same order (targets are
 * dictionary symbol indices). */
static es_status make_model(es_s2s_model **out, const s2s_cfg *c, const es_cmudict *d,
                            const char *cfg_path, es_error *err) {
    es_status st;
    if (c->init) {
        if ((st = es_s2s_model_load_dir(out, c->init, err))) return st;
    } else {
        json_object *mo = json_tokener_parse(c->model_json), *v;
        if (!mo) return es_errf(err, ES_ERR_NOMEM, "out of memory");
        if (!json_object_object_get_ex(mo, "symbols", &v) || !v) {
            json_object *arr = json_object_new_array();
            for (int i = 0; arr && i < d->n_symbols; i++)
                json_object_array_add(arr, json_object_new_string(d->symbols[i]));
            json_object_object_add(mo, "symbols", arr);
        }
        const char *mj = json_object_to_json_string_ext(mo, JSON_C_TO_STRING_PLAIN);
        st = es_s2s_model_from_json(out, mj, strlen(mj), cfg_path, c->p.seed, err);
        json_object_put(mo);
        if (st) return st;
    }
    const es_s2s_config *mc = es_s2s_model_config(*out);
    bool same = mc->n_symbols == d->n_symbols;
    for (int i = 0; same && i < d->n_symbols; i++) same = strcmp(mc->symbols[i], d->symbols[i]) == 0;
    if (!same) {
        es_s2s_model_free(*out);
        *out = NULL;
        return es_errf(err, ES_ERR_ARG, "%s: the model's %d output symbols are not the dictionary's %d "
                       "symbols in symbols.txt order", c->init ? c->init : cfg_path, mc->n_symbols,
                       d->n_symbols);
    }
    return ES_OK;
}

/* ---- verb ------------------------------------------------------------------------ */

int cmd_train_s2s(const char *cfg_path, const train_cli_opts *o) {
    if (o->mpi || es_dist_launcher_size() > 1)
        return cli_fail("%s: data-parallel (MPI) training is not available for seq2seq models", cfg_path);
    s2s_cfg c;
    int rc = cfg_load(&c, cfg_path);
    if (rc) {
        cfg_free(&c);
        return rc;
    }
    const char *out = o->out ? o->out : c.out;
    const char *data = o->data ? o->data : c.data ? c.data : "data";
    if (!out) {
        cfg_free(&c);
        return cli_usage("train", "no output folder: set \"out\" in %s or pass --out", cfg_path);
    }
    if (o->threads >= 0) c.threads = o->threads;
    if (o->max_steps > 0) c.p.max_steps = o->max_steps;
    c.p.n_threads = c.threads;
    c.p.out_dir = out;

    es_error err = {0};
    run r = {.out = out, .eval_words = c.eval_words, .best_wer = 2, .best_per = 2, .best_step = -1,
             .tty = cli_stderr_tty()};
    es_s2s_model *m = NULL;
    es_s2s_trainer *tr = NULL;
    es_s2s_example *ex = NULL;
    size_t n_ex = 0;
    es_status st = es_cmudict_load(&r.dict, data, &err);
    if (!st) st = make_model(&m, &c, r.dict, cfg_path, &err);
    if (!st && c.qat.enabled) st = es_s2s_qat_enable(&m, &c.qat, &err);
    if (!st)
        st = es_cmudict_examples(&ex, &n_ex, r.dict, ES_SPLIT_TRAIN, c.cases,
                                 (size_t)es_s2s_model_config(m)->max_out - 1, &err);
    if (!st) st = train_mkdir_p(out, &err);
    if (st) goto fail;
    if (!o->resume) {
        char name[256];
        es_error e2;
        if (es_ckpt_read_pointer(out, name, sizeof name, &e2) != ES_ERR_IO) {
            rc = cli_fail("%s already holds a training checkpoint (%s/checkpoint): continue it with "
                          "--resume, or use another --out", out, out);
            goto done;
        }
    }
    if ((st = es_s2s_trainer_new(&tr, m, &c.p, &err))) goto fail;
    es_s2s_trainer_set_progress(tr, on_progress, &r);
    es_s2s_trainer_set_eval(tr, on_eval, &r);
    es_s2s_trainer_set_stop(tr, stop_requested, NULL);
    if (o->resume) {
        if ((st = es_s2s_trainer_resume(tr, NULL, &err))) goto fail;
        int64_t at = es_s2s_trainer_step_count(tr);
        load_curves(&r, at);
        load_best(&r);
        fprintf(stderr, "resumed %s at step %lld (best dev WER so far %.2f%% at step %lld)\n", out,
                (long long)at, r.best_step >= 0 ? 100 * r.best_wer : 0.0, (long long)r.best_step);
    } else {
        char p2[4096];
        if (!es_path_join(p2, sizeof p2, out, "train_config.json", NULL))
            es_copy_file_atomic(p2, cfg_path, NULL);
    }
    char nb[32];
    fprintf(stderr, "train: byte seq2seq (%s encoder%s)%s%s, %s parameters, %zu train examples (%zu "
            "words, cases %s), dev %zu words, %lld steps of batch %d x %d, lr %g, threads %d, out %s\n",
            es_byte_encoder_name(es_s2s_model_config(m)->enc.encoder),
            es_s2s_model_config(m)->enc.qat.enabled ? ", QAT" : "", c.init ? " from " : "",
            c.init ? c.init : "", cli_thousands(nb, sizeof nb, es_s2s_model_n_params(m)), n_ex,
            r.dict->n_words_split[ES_SPLIT_TRAIN], c.cases == ES_CMU_CASE_LOWER ? "lower" : "both",
            c.eval_words && c.eval_words < r.dict->n_words_split[ES_SPLIT_DEV]
                ? c.eval_words : r.dict->n_words_split[ES_SPLIT_DEV],
            (long long)c.p.max_steps, c.p.batch_size, c.p.grad_accum, (double)c.p.lr, c.p.n_threads, out);
    g_stop = 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    es_s2s_source src = {.n = n_ex, .array = ex};
    st = es_s2s_trainer_run(tr, &src, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (r.tty) fprintf(stderr, "\n");
    if (st == ES_ERR_CANCELLED) {
        es_error e2;
        write_curves(&r, &e2);
        fprintf(stderr, "stopped at step %lld (checkpoint written); continue with --resume\n",
                (long long)es_s2s_trainer_step_count(tr));
        rc = CLI_EXIT_RUNTIME;
        goto done;
    }
    if (st) goto fail;
    if ((st = write_curves(&r, &err))) goto fail;
    printf("best dev WER (stress removed) %.4f%% PER %.4f%% at step %lld: %s/best\n",
           100 * r.best_wer, 100 * r.best_per, (long long)r.best_step, out);
    goto done;
fail:
    rc = cli_fail_err(&err);
done:
    es_s2s_trainer_free(tr);
    es_s2s_model_free(m);
    es_free(ex);
    es_cmudict_free(r.dict);
    free(r.rows);
    cfg_free(&c);
    return rc;
}
