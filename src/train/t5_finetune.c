/*
 * t5_finetune.c — T5 fine-tuning loop (contract and folder layout in
 * t5_finetune.h; equations in docs/t5-training.md).
 *
 * One optimizer step = grad_accum micro-batches taken in the epoch's batch
 * order; the loss is the token mean over ALL labelled tokens of the step
 * (each micro-batch's dlogits scaled by 1/tokens of the step), so
 * accumulation equals one larger batch exactly as with HF's token-mean
 * loss on that batch. Batches are length-bucketed (t5_data.c) and padded
 * per batch. The data position is (epoch, batch_pos); the order of an
 * epoch is a function of (seed, epoch); dropout masks come from an RNG
 * that is checkpointed — so resume continues the same trajectory.
 */
#include "train/t5_finetune.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "model/model_internal.h"
#include "train/adafactor.h"
#include "train/optim.h"
#include "train/plot_svg.h"
#include "train/t5_data.h"
#include "train/t5_state.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

es_t5_ft_params es_t5_ft_params_default(void) {
    es_t5_ft_params p;
    memset(&p, 0, sizeof p);
    p.optimizer = ES_T5_OPT_ADAFACTOR;
    p.tp = es_train_params_default();
    p.tp.batch_size = 8;
    p.tp.lr = 1e-3f;
    p.tp.schedule = ES_LR_CONSTANT;
    p.tp.weight_decay = 0.0f;
    p.tp.clip_norm = 0.0f;
    p.tp.eval_every = 100;
    p.tp.save_every = 100;
    p.dropout = -1.0f;
    p.max_src_len = 512;
    p.max_tgt_len = 512;
    return p;
}

typedef struct curve_row {
    int64_t step;
    double train, dev, lr, gnorm, elapsed;
} curve_row;

typedef struct ft {
    const es_t5_ft_params *p;
    es_model *m;
    es_t5_trainable t;
    es_t5_dataset train, dev;
    es_t5_plan plan, dev_plan;
    es_t5_batch_buf bb;
    es_t5_tws *ws;
    es_pool *pool;
    es_adamw adam;
    es_adafactor af;
    es_adafactor_params afp;
    es_rng rng;
    float dropout;
    int64_t step, epoch;
    size_t pos;              /* next batch index (into plan.perm) within the epoch */
    double best_dev;
    int64_t best_step;
    curve_row *curve;
    size_t n_curve, cap_curve;
} ft;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static es_status path2(char *out, size_t cap, const char *a, const char *b, es_error *err) {
    return es_path_join(out, cap, a, b, err);
}

/* ---- data / model setup ------------------------------------------------------- */

static float config_dropout(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_object *o = json_object_from_file(path), *v = NULL;
    float d = 0.1f;
    if (o && json_object_object_get_ex(o, "dropout_rate", &v) &&
        (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        d = (float)json_object_get_double(v);
    if (o) json_object_put(o);
    return d;
}

static es_status setup(ft *f, es_error *err) {
    const es_t5_ft_params *p = f->p;
    es_status s = es_model_load(&f->m, p->model_dir, NULL, err);
    if (s) return s;
    if (!es_model_tokenizer(f->m))
        return es_errf(err, ES_ERR_ARG, "%s: no spiece.model (fine-tuning needs the tokenizer)",
                       p->model_dir);
    if ((s = es_t5_trainable_init(&f->t, f->m, 1, err))) return s;
    const es_tokenizer *tok = es_model_tokenizer(f->m);
    if ((s = es_t5_dataset_load(&f->train, p->train_path, tok, p->max_src_len, p->max_tgt_len,
                                p->skip_bad, err)))
        return s;
    if (p->dev_path && (s = es_t5_dataset_load(&f->dev, p->dev_path, tok, p->max_src_len,
                                               p->max_tgt_len, p->skip_bad, err)))
        return s;
    f->dropout = p->dropout >= 0.0f ? p->dropout : config_dropout(p->model_dir);
    if (!(f->dropout >= 0.0f && f->dropout < 1.0f))
        return es_errf(err, ES_ERR_ARG, "dropout %g outside [0, 1)", (double)f->dropout);
    const int B = p->tp.batch_size;
    int S = ES_MAX(f->train.max_src, f->dev.max_src), T = ES_MAX(f->train.max_tgt, f->dev.max_tgt);
    if ((s = es_t5_plan_init(&f->plan, &f->train, B, err))) return s;
    if (f->dev.n && (s = es_t5_plan_init(&f->dev_plan, &f->dev, B, err))) return s;
    if ((s = es_pool_new(&f->pool, p->tp.n_threads, err))) return s;
    if ((s = es_t5_batch_buf_init(&f->bb, B, S, T, err))) return s;
    if ((s = es_t5_tws_new(&f->ws, &f->t.cfg, f->pool, B, S, T, f->dropout > 0.0f, err))) return s;
    if (p->optimizer == ES_T5_OPT_ADAMW) {
        s = es_adamw_init(&f->adam, &f->t.ps, err);
    } else {
        f->afp = es_adafactor_params_default();
        f->afp.relative_step = p->adafactor_relative;
        f->afp.scale_parameter = p->adafactor_relative;
        f->afp.weight_decay = p->tp.weight_decay;
        f->afp.lr = p->tp.lr;
        s = es_adafactor_init(&f->af, &f->t.ps, 0, err);
    }
    es_rng_seed(&f->rng, p->tp.seed ^ 0xd20u);
    f->best_dev = INFINITY;
    f->best_step = -1;
    return s;
}

/* ---- checkpoints --------------------------------------------------------------- */

static es_status save_weights(ft *f, const char *dir, es_error *err) {
    return es_t5_trainable_save(&f->t, dir, f->p->model_dir, err);
}

static void rm_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static es_status save_checkpoint(ft *f, es_error *err) {
    const char *out = f->p->out_dir;
    char name[64], dir[4096], path[4096];
    snprintf(name, sizeof name, "step-%08" PRId64, f->step);
    es_status s = path2(dir, sizeof dir, out, name, err);
    if (!s) s = save_weights(f, dir, err);
    const es_params *ps = &f->t.ps;
    float *m = f->p->optimizer == ES_T5_OPT_ADAMW ? f->adam.m : f->af.v;
    float *v = f->p->optimizer == ES_T5_OPT_ADAMW ? f->adam.v : f->af.v;
    float one = 0.0f;
    size_t n_rc = f->p->optimizer == ES_T5_OPT_ADAMW ? 0 : f->af.n_state;
    es_st_write_tensor tw[3] = {
        {"opt.m", ES_DTYPE_F32, 1, {(int64_t)ps->total}, m},
        {"opt.v", ES_DTYPE_F32, 1, {(int64_t)ps->total}, v},
        {"opt.rowcol", ES_DTYPE_F32, 1, {(int64_t)(n_rc ? n_rc : 1)}, n_rc ? f->af.row : &one},
    };
    char v_step[32], v_epoch[32], v_pos[32], v_t[32], r[4][24], v_best[40], v_bstep[32], v_n[32];
    snprintf(v_step, sizeof v_step, "%" PRId64, f->step);
    snprintf(v_epoch, sizeof v_epoch, "%" PRId64, f->epoch);
    snprintf(v_pos, sizeof v_pos, "%zu", f->pos);
    snprintf(v_t, sizeof v_t, "%" PRId64,
             f->p->optimizer == ES_T5_OPT_ADAMW ? f->adam.t : f->af.t);
    for (int i = 0; i < 4; i++) snprintf(r[i], sizeof r[i], "%016" PRIx64, f->rng.s[i]);
    snprintf(v_best, sizeof v_best, "%.17g", f->best_dev);
    snprintf(v_bstep, sizeof v_bstep, "%" PRId64, f->best_step);
    snprintf(v_n, sizeof v_n, "%zu", ps->total);
    const char *meta[] = {"edgeseq_format", "1", "step", v_step, "epoch", v_epoch,
                          "batch_pos", v_pos, "opt_t", v_t, "rng0", r[0], "rng1", r[1],
                          "rng2", r[2], "rng3", r[3], "best_dev", v_best, "best_step", v_bstep,
                          "optimizer", f->p->optimizer == ES_T5_OPT_ADAMW ? "adamw" : "adafactor",
                          "n_params", v_n};
    if (!s) s = path2(path, sizeof path, dir, "optim.safetensors", err);
    if (!s) s = es_safetensors_write(path, tw, 3, meta, ES_ARRAY_LEN(meta) / 2, err);
    /* publish, then prune older step folders */
    char line[80];
    snprintf(line, sizeof line, "%s\n", name);
    if (!s) s = path2(path, sizeof path, out, "checkpoint", err);
    if (!s) s = es_atomic_write_file(path, line, strlen(line), err);
    if (s) return s;
    DIR *d = opendir(out);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strncmp(e->d_name, "step-", 5) == 0 && strcmp(e->d_name, name) != 0) {
                char old[4096];
                snprintf(old, sizeof old, "%s/%s", out, e->d_name);
                rm_folder(old);
            }
        }
        closedir(d);
    }
    return ES_OK;
}

static int64_t meta_i64(const es_weights *w, const char *k, int *ok) {
    const char *v = es_weights_get_meta(w, k);
    if (!v) {
        *ok = 0;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end) *ok = 0;
    return x;
}

static es_status resume(ft *f, int *resumed, es_error *err) {
    *resumed = 0;
    const char *out = f->p->out_dir;
    char path[4096], dir[4096], name[128] = "";
    es_status s = path2(path, sizeof path, out, "checkpoint", err);
    if (s) return s;
    if (!es_is_regular_file(path)) return ES_OK;
    FILE *fp = fopen(path, "r");
    if (!fp || !fgets(name, sizeof name, fp)) {
        if (fp) fclose(fp);
        return es_errf(err, ES_ERR_FORMAT, "%s: unreadable checkpoint pointer", path);
    }
    fclose(fp);
    name[strcspn(name, "\r\n")] = 0;
    if (strncmp(name, "step-", 5) != 0 || strchr(name, '/'))
        return es_errf(err, ES_ERR_FORMAT, "%s: bad checkpoint pointer '%s'", path, name);
    if ((s = path2(dir, sizeof dir, out, name, err))) return s;
    es_weights *wm = NULL, *wo = NULL;
    if (!s) s = es_weights_new(&wm, err);
    if (!s) s = path2(path, sizeof path, dir, "model.safetensors", err);
    if (!s) s = es_safetensors_read(wm, path, err);
    if (!s) s = es_weights_new(&wo, err);
    if (!s) s = path2(path, sizeof path, dir, "optim.safetensors", err);
    if (!s) s = es_safetensors_read(wo, path, err);
    es_params *ps = &f->t.ps;
    if (!s) {
        es_weights_seal(wm);
        es_weights_seal(wo);
        int ok = 1;
        int64_t step = meta_i64(wo, "step", &ok), epoch = meta_i64(wo, "epoch", &ok);
        int64_t pos = meta_i64(wo, "batch_pos", &ok), t = meta_i64(wo, "opt_t", &ok);
        int64_t np = meta_i64(wo, "n_params", &ok), bstep = meta_i64(wo, "best_step", &ok);
        const char *opt = es_weights_get_meta(wo, "optimizer"), *bd = es_weights_get_meta(wo, "best_dev");
        const char *want = f->p->optimizer == ES_T5_OPT_ADAMW ? "adamw" : "adafactor";
        if (!ok || !opt || !bd || np != (int64_t)ps->total || strcmp(opt, want) != 0 || pos < 0 ||
            (size_t)pos > f->plan.n_batches)
            s = es_errf(err, ES_ERR_FORMAT,
                        "%s: checkpoint does not match this run (optimizer %s vs %s, %" PRId64
                        " vs %zu parameters, or missing metadata)",
                        dir, opt ? opt : "?", want, np, ps->total);
        const es_tensor_view *tm = es_weights_find(wo, "opt.m"), *tv = es_weights_find(wo, "opt.v"),
                             *trc = es_weights_find(wo, "opt.rowcol");
        size_t n_rc = f->p->optimizer == ES_T5_OPT_ADAMW ? 0 : f->af.n_state;
        if (!s && (!tm || !tv || !trc || es_tensor_numel(tm) != ps->total ||
                   es_tensor_numel(tv) != ps->total || es_tensor_numel(trc) != (n_rc ? n_rc : 1)))
            s = es_errf(err, ES_ERR_FORMAT, "%s/optim.safetensors: optimizer state has wrong shapes", dir);
        for (int i = 0; i < ps->n && !s; i++) {
            const es_tensor_view *tw = es_weights_find(wm, ps->p[i].name);
            if (!tw || es_tensor_numel(tw) != ps->p[i].numel)
                s = es_errf(err, ES_ERR_FORMAT, "%s/model.safetensors: tensor '%s' missing or wrong size",
                            dir, ps->p[i].name);
        }
        uint64_t rng[4];
        for (int i = 0; i < 4 && !s; i++) {
            char k[8];
            snprintf(k, sizeof k, "rng%d", i);
            const char *v = es_weights_get_meta(wo, k);
            char *end = NULL;
            rng[i] = v ? strtoull(v, &end, 16) : 0;
            if (!v || *end) s = es_errf(err, ES_ERR_FORMAT, "%s: bad %s", dir, k);
        }
        /* everything validated: copy in */
        for (int i = 0; i < ps->n && !s; i++)
            s = es_tensor_to_f32(ps->data + ps->p[i].offset, es_weights_find(wm, ps->p[i].name), err);
        if (!s) {
            if (f->p->optimizer == ES_T5_OPT_ADAMW) {
                s = es_tensor_to_f32(f->adam.m, tm, err);
                if (!s) s = es_tensor_to_f32(f->adam.v, tv, err);
                f->adam.t = t;
            } else {
                s = es_tensor_to_f32(f->af.v, tv, err);
                if (!s && n_rc) s = es_tensor_to_f32(f->af.row, trc, err);
                f->af.t = t;
            }
            memcpy(f->rng.s, rng, sizeof rng);
            f->step = step;
            f->epoch = epoch;
            f->pos = (size_t)pos;
            f->best_dev = strtod(bd, NULL);
            f->best_step = bstep;
            es_t5_plan_epoch(&f->plan, f->p->tp.seed, f->epoch);
            *resumed = 1;
        }
    }
    es_weights_free(wm);
    es_weights_free(wo);
    return s;
}

/* ---- curves --------------------------------------------------------------------- */

static void curve_add(ft *f, curve_row r) {
    if (f->n_curve == f->cap_curve) {
        size_t nc = f->cap_curve ? 2 * f->cap_curve : 256;
        curve_row *n = es_realloc(f->curve, nc * sizeof *n);
        if (!n) return; /* curves are best effort; training continues */
        f->curve = n;
        f->cap_curve = nc;
    }
    f->curve[f->n_curve++] = r;
}

static void curve_load(ft *f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/curves.csv", f->p->out_dir);
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        curve_row r;
        long long st;
        char dev[64];
        if (sscanf(line, "%lld,%lf,%63[^,],%lf,%lf,%lf", &st, &r.train, dev, &r.lr, &r.gnorm,
                   &r.elapsed) != 6)
            continue;
        r.step = st;
        r.dev = dev[0] ? strtod(dev, NULL) : NAN;
        if (r.step <= f->step) curve_add(f, r);
    }
    fclose(fp);
}

static es_status curve_write(ft *f, es_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/curves.csv", f->p->out_dir);
    es_atomic_file *af = NULL;
    es_status s = es_atomic_begin(&af, path, err);
    if (!s) s = es_atomic_printf(af, err, "step,train_loss,dev_loss,lr,grad_norm,elapsed_s\n");
    for (size_t i = 0; i < f->n_curve && !s; i++) {
        const curve_row *r = &f->curve[i];
        char dev[40] = "";
        if (isfinite(r->dev)) snprintf(dev, sizeof dev, "%.6f", r->dev);
        s = es_atomic_printf(af, err, "%" PRId64 ",%.6f,%s,%.6g,%.6g,%.3f\n", r->step, r->train,
                             dev, r->lr, r->gnorm, r->elapsed);
    }
    if (s) {
        es_atomic_abort(af);
        return s;
    }
    if ((s = es_atomic_commit(af, err))) return s;
    size_t n = f->n_curve;
    double *x = es_calloc(n ? n : 1, sizeof(double)), *yt = es_calloc(n ? n : 1, sizeof(double)),
           *yd = es_calloc(n ? n : 1, sizeof(double));
    if (x && yt && yd) {
        for (size_t i = 0; i < n; i++) {
            x[i] = (double)f->curve[i].step;
            yt[i] = f->curve[i].train;
            yd[i] = f->curve[i].dev;
        }
        es_plot_series ser[2] = {{"train loss", x, yt, n}, {"dev loss", x, yd, n}};
        es_plot_panel pan = {"loss", "step", "token-mean cross entropy", ser, 2, 0, 0, 0};
        snprintf(path, sizeof path, "%s/curves.svg", f->p->out_dir);
        s = es_plot_svg_write(path, "edgeseq finetune", &pan, 1, err);
    }
    es_free(x);
    es_free(yt);
    es_free(yd);
    return s;
}

/* ---- steps ---------------------------------------------------------------------- */

static es_status dev_loss(ft *f, double *out, es_error *err) {
    double sum = 0;
    size_t n = 0;
    for (size_t k = 0; k < f->dev_plan.n_batches; k++) {
        size_t a = f->dev_plan.starts[k], b = f->dev_plan.starts[k + 1];
        es_t5_batch_fill(&f->bb, &f->dev, f->dev_plan.order + a, (int)(b - a), f->t.cfg.pad_id,
                         f->t.cfg.start_id);
        double ls;
        int nt;
        es_status s = es_t5_train_forward_backward(f->ws, &f->t.w, NULL, &f->bb.b, 0.0f, NULL, 1.0f,
                                                   &ls, &nt, err);
        if (s) return s;
        sum += ls;
        n += (size_t)nt;
    }
    *out = n ? sum / (double)n : NAN;
    return ES_OK;
}

/* The next batch of the current epoch (starting a new epoch when done). */
static void next_batch(ft *f, size_t *a, size_t *b) {
    if (f->pos >= f->plan.n_batches) {
        f->epoch++;
        f->pos = 0;
    }
    if (f->pos == 0) es_t5_plan_epoch(&f->plan, f->p->tp.seed, f->epoch);
    size_t k = f->plan.perm[f->pos++];
    *a = f->plan.starts[k];
    *b = f->plan.starts[k + 1];
}

static es_status train_step(ft *f, double *loss, double *gnorm, float *lr, es_error *err) {
    const int accum = f->p->tp.grad_accum;
    size_t ra[64], rb[64];
    size_t tokens = 0;
    for (int k = 0; k < accum; k++) {
        next_batch(f, &ra[k], &rb[k]);
        for (size_t i = ra[k]; i < rb[k]; i++) tokens += (size_t)f->train.ex[f->plan.order[i]].n_tgt;
    }
    es_params_zero_grad(&f->t.ps);
    double sum = 0;
    for (int k = 0; k < accum; k++) {
        es_t5_batch_fill(&f->bb, &f->train, f->plan.order + ra[k], (int)(rb[k] - ra[k]),
                         f->t.cfg.pad_id, f->t.cfg.start_id);
        double ls;
        int nt;
        es_status s = es_t5_train_forward_backward(f->ws, &f->t.w, &f->t.g, &f->bb.b, f->dropout,
                                                   &f->rng, 1.0f / (float)tokens, &ls, &nt, err);
        if (s) return s;
        sum += ls;
    }
    *loss = sum / (double)tokens;
    const es_train_params *tp = &f->p->tp;
    *gnorm = f->p->tp.clip_norm > 0 ? es_grad_clip(&f->t.ps, tp->clip_norm, NULL)
                                    : es_grad_norm(&f->t.ps);
    *lr = es_lr_at(tp, f->step + 1);
    if (f->p->optimizer == ES_T5_OPT_ADAMW)
        es_adamw_step(&f->adam, &f->t.ps, *lr, tp->beta1, tp->beta2, tp->eps, tp->weight_decay, 0);
    else
        *lr = es_adafactor_step(&f->af, &f->t.ps, &f->afp, *lr);
    f->step++;
    return ES_OK;
}

static void ft_free(ft *f) {
    es_adamw_free(&f->adam);
    es_adafactor_free(&f->af);
    es_t5_tws_free(f->ws);
    es_t5_batch_buf_free(&f->bb);
    es_pool_free(f->pool);
    es_t5_plan_free(&f->plan);
    es_t5_plan_free(&f->dev_plan);
    es_t5_dataset_free(&f->train);
    es_t5_dataset_free(&f->dev);
    es_t5_trainable_free(&f->t);
    es_model_free(f->m);
    es_free(f->curve);
}

es_status es_t5_finetune(const es_t5_ft_params *p, es_t5_ft_progress_fn fn, void *user,
                         es_error *err) {
    if (!p->model_dir || !p->train_path || !p->out_dir)
        return es_errf(err, ES_ERR_ARG, "finetune: model, train file and output folder are required");
    if (p->tp.batch_size < 1 || p->tp.grad_accum < 1 || p->tp.grad_accum > 64 || p->tp.max_steps < 1)
        return es_errf(err, ES_ERR_ARG, "finetune: batch >= 1, 1 <= accumulation <= 64, steps >= 1");
    ft f;
    memset(&f, 0, sizeof f);
    f.p = p;
    es_status s = setup(&f, err);
    if (!s) s = es_t5_mkdir(p->out_dir, err);
    es_t5_ft_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.max_steps = p->tp.max_steps;
    pr.dev_loss = NAN;
    pr.n_train = f.train.n;
    pr.n_dev = f.dev.n;
    pr.n_skipped = f.train.n_skipped + f.dev.n_skipped;
    if (!s && fn) {
        pr.event = 4;
        pr.note = f.train.n_skipped ? f.train.first_skip : f.dev.n_skipped ? f.dev.first_skip : NULL;
        fn(user, &pr);
        pr.note = NULL;
    }
    int resumed = 0;
    if (!s && p->resume) s = resume(&f, &resumed, err);
    if (!s && resumed) {
        curve_load(&f);
        pr.step = f.step;
        pr.best_dev = f.best_dev;
        pr.event = 3;
        if (fn) fn(user, &pr);
    }
    const double t0 = now_s();
    const int64_t step0 = f.step;
    double acc_loss = 0;
    int acc_n = 0;
    int stop = 0;
    while (!s && f.step < p->tp.max_steps && !stop) {
        double loss, gn;
        float lr;
        s = train_step(&f, &loss, &gn, &lr, err);
        if (s) break;
        if (!isfinite(loss)) {
            s = es_errf(err, ES_ERR_ARG, "step %" PRId64 ": loss is not finite (lower the learning rate)",
                        f.step);
            break;
        }
        acc_loss += loss;
        acc_n++;
        const double el = now_s() - t0;
        const int log_now = p->tp.log_every > 0 && f.step % p->tp.log_every == 0;
        const int eval_now = f.dev.n && p->tp.eval_every > 0 &&
                             (f.step % p->tp.eval_every == 0 || f.step == p->tp.max_steps);
        const int save_now = (p->tp.save_every > 0 && f.step % p->tp.save_every == 0) ||
                             f.step == p->tp.max_steps;
        curve_row row = {f.step, loss, NAN, lr, gn, el};
        if (eval_now) {
            double dl;
            if ((s = dev_loss(&f, &dl, err))) break;
            row.dev = dl;
            pr.dev_loss = dl;
            if (dl < f.best_dev) {
                f.best_dev = dl;
                f.best_step = f.step;
                char best[4096];
                if ((s = path2(best, sizeof best, p->out_dir, "best", err))) break;
                if ((s = save_weights(&f, best, err))) break;
            }
        }
        if (log_now || eval_now || save_now) {
            curve_add(&f, row);
            if ((s = curve_write(&f, err))) break;
        }
        if (save_now && (s = save_checkpoint(&f, err))) break;
        pr.step = f.step;
        pr.epoch = f.epoch;
        pr.train_loss = acc_n ? acc_loss / acc_n : NAN;
        pr.best_dev = f.best_dev;
        pr.lr = lr;
        pr.grad_norm = gn;
        pr.elapsed_s = el;
        double rate = (double)(f.step - step0) / (el > 1e-9 ? el : 1e-9);
        pr.eta_s = rate > 0 ? (double)(p->tp.max_steps - f.step) / rate : NAN;
        pr.event = eval_now ? 1 : save_now ? 2 : 0;
        if (fn && (log_now || eval_now || save_now)) {
            if (fn(user, &pr)) stop = 1;
            acc_loss = 0;
            acc_n = 0;
        }
    }
    if (!s && stop) {
        s = save_checkpoint(&f, err);
        if (!s) s = es_errf(err, ES_ERR_CANCELLED, "stopped at step %" PRId64 " (checkpoint written)", f.step);
    }
    if (!s) s = save_weights(&f, p->out_dir, err);
    ft_free(&f);
    return s;
}
