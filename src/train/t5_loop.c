/*
 * t5_loop.c — the shared part of the T5 training drivers (contract, the
 * checkpoint layout and its crash-safety argument in t5_loop.h):
 * optimizer state and update, checkpoint write / validate / resume, loss
 * curves, and the step loop.
 *
 * Resume validates everything (pointer, both files, metadata, every
 * tensor's size, the caller's keys) before copying anything in, so a
 * refused checkpoint leaves the run as it was.
 */
#include "train/t5_loop.h"

#include "io/fileio.h"
#include "train/plot_svg.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

es_status es_t5_run_init(es_t5_run *r, es_t5_trainable *t, const es_t5_run_cfg *cfg,
                         es_error *err) {
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->t = t;
    r->best_dev = INFINITY;
    r->best_step = -1;
    es_rng_seed(&r->rng, cfg->rng_seed);
    if (cfg->adamw) return es_adamw_init(&r->adam, &t->ps, err);
    return es_adafactor_init(&r->af, &t->ps, 0, err);
}

void es_t5_run_free(es_t5_run *r) {
    if (!r) return;
    es_adamw_free(&r->adam);
    es_adafactor_free(&r->af);
    es_free(r->curve);
    r->curve = NULL;
    r->n_curve = r->cap_curve = 0;
}

float es_t5_run_update(es_t5_run *r, float lr, double *gnorm) {
    es_params *ps = &r->t->ps;
    const es_t5_run_cfg *c = &r->cfg;
    *gnorm = c->clip_norm > 0 ? es_grad_clip(ps, c->clip_norm, NULL) : es_grad_norm(ps);
    float used = lr;
    if (c->adamw)
        es_adamw_step(&r->adam, ps, lr, c->beta1, c->beta2, c->eps, c->weight_decay, 0);
    else
        used = es_adafactor_step(&r->af, ps, &c->afp, lr);
    r->step++;
    return used;
}

es_status es_t5_run_save_model(const es_t5_run *r, const char *dir, es_error *err) {
    return es_t5_trainable_save(r->t, dir, r->cfg.src_dir, err);
}

/* ---- checkpoints ---------------------------------------------------------------- */

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

/* Removes every OUT/step-* folder except `keep`. */
static void prune(const char *out, const char *keep) {
    DIR *d = opendir(out);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "step-", 5) == 0 && strcmp(e->d_name, keep) != 0) {
            char old[4096];
            snprintf(old, sizeof old, "%s/%s", out, e->d_name);
            rm_folder(old);
        }
    }
    closedir(d);
}

#define MAX_META 32 /* pairs */

es_status es_t5_run_save_checkpoint(es_t5_run *r, const char *const *extra, size_t n_extra,
                                    es_error *err) {
    const char *out = r->cfg.out_dir;
    const int aw = r->cfg.adamw;
    if (n_extra > MAX_META - 10)
        return es_errf(err, ES_ERR_INTERNAL, "checkpoint: %zu extra metadata pairs", n_extra);
    char name[64], dir[4096], path[4096];
    snprintf(name, sizeof name, "step-%08" PRId64, r->step);
    es_status s = es_path_join(dir, sizeof dir, out, name, err);
    if (!s) s = es_t5_run_save_model(r, dir, err);
    const es_params *ps = &r->t->ps;
    float zero = 0.0f;
    const size_t n_rc = aw ? 0 : r->af.n_state;
    es_st_write_tensor tw[3] = {
        {"opt.m", ES_DTYPE_F32, 1, {(int64_t)ps->total}, aw ? r->adam.m : r->af.v},
        {"opt.v", ES_DTYPE_F32, 1, {(int64_t)ps->total}, aw ? r->adam.v : r->af.v},
        {"opt.rowcol", ES_DTYPE_F32, 1, {(int64_t)(n_rc ? n_rc : 1)}, n_rc ? r->af.row : &zero},
    };
    char v_step[32], v_t[32], v_best[40], v_bstep[32], v_n[32], rng[4][24];
    snprintf(v_step, sizeof v_step, "%" PRId64, r->step);
    snprintf(v_t, sizeof v_t, "%" PRId64, aw ? r->adam.t : r->af.t);
    snprintf(v_best, sizeof v_best, "%.17g", r->best_dev);
    snprintf(v_bstep, sizeof v_bstep, "%" PRId64, r->best_step);
    snprintf(v_n, sizeof v_n, "%zu", ps->total);
    for (int i = 0; i < 4; i++) snprintf(rng[i], sizeof rng[i], "%016" PRIx64, r->rng.s[i]);
    const char *meta[2 * MAX_META] = {"edgeseq_format", "1", "step", v_step, "opt_t", v_t,
                                      "best_dev", v_best, "best_step", v_bstep, "n_params", v_n,
                                      "optimizer", aw ? "adamw" : "adafactor", "rng0", rng[0],
                                      "rng1", rng[1], "rng2", rng[2], "rng3", rng[3]};
    size_t n_meta = 11;
    for (size_t i = 0; i < 2 * n_extra; i++) meta[2 * n_meta + i] = extra[i];
    n_meta += n_extra;
    if (!s) s = es_path_join(path, sizeof path, dir, "optim.safetensors", err);
    if (!s) s = es_safetensors_write(path, tw, 3, meta, n_meta, err);
    /* publish, then prune older step folders */
    char line[80];
    snprintf(line, sizeof line, "%s\n", name);
    if (!s) s = es_path_join(path, sizeof path, out, "checkpoint", err);
    if (!s) s = es_atomic_write_file(path, line, strlen(line), err);
    if (s) return s;
    prune(out, name);
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
    if (errno || end == v || *end) *ok = 0;
    return x;
}

/* Reads OUT/checkpoint into dir (the step folder path); *found = 0 when
 * there is no pointer file. */
static es_status read_pointer(const char *out, char *dir, size_t cap, int *found, es_error *err) {
    char path[4096], name[128] = "";
    *found = 0;
    es_status s = es_path_join(path, sizeof path, out, "checkpoint", err);
    if (s || !es_is_regular_file(path)) return s;
    FILE *fp = fopen(path, "r");
    if (!fp || !fgets(name, sizeof name, fp)) {
        if (fp) fclose(fp);
        return es_errf(err, ES_ERR_FORMAT, "%s: unreadable checkpoint pointer", path);
    }
    fclose(fp);
    name[strcspn(name, "\r\n")] = 0;
    if (strncmp(name, "step-", 5) != 0 || strchr(name, '/'))
        return es_errf(err, ES_ERR_FORMAT, "%s: bad checkpoint pointer '%s'", path, name);
    *found = 1;
    return es_path_join(dir, cap, out, name, err);
}

static void curve_load(es_t5_run *r);

es_status es_t5_run_resume(es_t5_run *r, int *resumed, es_t5_resume_fn fn, void *user,
                           es_error *err) {
    *resumed = 0;
    char dir[4096], path[4096];
    int found = 0;
    es_status s = read_pointer(r->cfg.out_dir, dir, sizeof dir, &found, err);
    if (s || !found) return s;
    const int aw = r->cfg.adamw;
    es_params *ps = &r->t->ps;
    es_weights *wm = NULL, *wo = NULL;
    s = es_weights_new(&wm, err);
    if (!s) s = es_path_join(path, sizeof path, dir, "model.safetensors", err);
    if (!s) s = es_safetensors_read(wm, path, err);
    if (!s) s = es_weights_new(&wo, err);
    if (!s) s = es_path_join(path, sizeof path, dir, "optim.safetensors", err);
    if (!s) s = es_safetensors_read(wo, path, err);
    int64_t step = 0, t = 0, bstep = 0;
    const char *bd = NULL;
    uint64_t rng[4] = {0};
    const es_tensor_view *tm = NULL, *tv = NULL, *trc = NULL;
    const size_t n_rc = aw ? 0 : r->af.n_state;
    if (!s) {
        es_weights_seal(wm);
        es_weights_seal(wo);
        int ok = 1;
        step = meta_i64(wo, "step", &ok);
        t = meta_i64(wo, "opt_t", &ok);
        bstep = meta_i64(wo, "best_step", &ok);
        const int64_t np = meta_i64(wo, "n_params", &ok);
        const char *opt = es_weights_get_meta(wo, "optimizer");
        const char *want = aw ? "adamw" : "adafactor";
        bd = es_weights_get_meta(wo, "best_dev");
        if (!ok || !opt || !bd || np != (int64_t)ps->total || strcmp(opt, want) != 0 || step < 0 ||
            t < 0)
            s = es_errf(err, ES_ERR_FORMAT,
                        "%s: checkpoint does not match this run (optimizer %s vs %s, %" PRId64
                        " vs %zu parameters, or missing metadata)",
                        dir, opt ? opt : "?", want, np, ps->total);
        tm = es_weights_find(wo, "opt.m");
        tv = es_weights_find(wo, "opt.v");
        trc = es_weights_find(wo, "opt.rowcol");
        if (!s && (!tm || !tv || !trc || es_tensor_numel(tm) != ps->total ||
                   es_tensor_numel(tv) != ps->total || es_tensor_numel(trc) != (n_rc ? n_rc : 1)))
            s = es_errf(err, ES_ERR_FORMAT, "%s/optim.safetensors: optimizer state has wrong shapes",
                        dir);
        for (int i = 0; i < ps->n && !s; i++) {
            const es_tensor_view *w = es_weights_find(wm, ps->p[i].name);
            if (!w || es_tensor_numel(w) != ps->p[i].numel)
                s = es_errf(err, ES_ERR_FORMAT,
                            "%s/model.safetensors: tensor '%s' missing or wrong size", dir,
                            ps->p[i].name);
        }
        for (int i = 0; i < 4 && !s; i++) {
            char k[8];
            snprintf(k, sizeof k, "rng%d", i);
            const char *v = es_weights_get_meta(wo, k);
            char *end = NULL;
            rng[i] = v ? strtoull(v, &end, 16) : 0;
            if (!v || !*v || *end) s = es_errf(err, ES_ERR_FORMAT, "%s: bad %s", dir, k);
        }
    }
    if (!s && fn) s = fn(user, wo, dir, err);
    /* everything validated: copy in */
    for (int i = 0; i < ps->n && !s; i++)
        s = es_tensor_to_f32(ps->data + ps->p[i].offset, es_weights_find(wm, ps->p[i].name), err);
    if (!s) {
        if (aw) {
            s = es_tensor_to_f32(r->adam.m, tm, err);
            if (!s) s = es_tensor_to_f32(r->adam.v, tv, err);
            r->adam.t = t;
        } else {
            s = es_tensor_to_f32(r->af.v, tv, err);
            if (!s && n_rc) s = es_tensor_to_f32(r->af.row, trc, err);
            r->af.t = t;
        }
    }
    if (!s) {
        memcpy(r->rng.s, rng, sizeof rng);
        r->step = step;
        r->best_dev = strtod(bd, NULL);
        r->best_step = bstep;
        *resumed = 1;
        curve_load(r);
    }
    es_weights_free(wm);
    es_weights_free(wo);
    return s;
}

/* ---- curves --------------------------------------------------------------------- */

void es_t5_run_curve_add(es_t5_run *r, es_t5_curve_row row) {
    if (r->n_curve == r->cap_curve) {
        size_t nc = r->cap_curve ? 2 * r->cap_curve : 256;
        es_t5_curve_row *n = es_realloc(r->curve, nc * sizeof *n);
        if (!n) return; /* curves are best effort; training continues */
        r->curve = n;
        r->cap_curve = nc;
    }
    r->curve[r->n_curve++] = row;
}

/* Rows of OUT/curves.csv up to the resumed step (later rows belong to the
 * steps that will be redone). */
static void curve_load(es_t5_run *r) {
    char path[4096];
    snprintf(path, sizeof path, "%s/curves.csv", r->cfg.out_dir);
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    char line[512];
    r->n_curve = 0;
    while (fgets(line, sizeof line, fp)) {
        es_t5_curve_row row;
        long long st;
        char dev[64];
        /* the held-out column may be empty: parse it as a string */
        if (sscanf(line, "%lld,%lf,%63[^,],%lf,%lf,%lf", &st, &row.train, dev, &row.lr, &row.gnorm,
                   &row.elapsed) == 6) {
            row.dev = strtod(dev, NULL);
        } else if (sscanf(line, "%lld,%lf,,%lf,%lf,%lf", &st, &row.train, &row.lr, &row.gnorm,
                          &row.elapsed) == 5) {
            row.dev = NAN;
        } else {
            continue;
        }
        row.step = st;
        if (row.step <= r->step) {
            es_t5_run_curve_add(r, row);
            r->elapsed0 = row.elapsed;
        }
    }
    fclose(fp);
}

es_status es_t5_run_curve_write(es_t5_run *r, es_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/curves.csv", r->cfg.out_dir);
    es_atomic_file *af = NULL;
    es_status s = es_atomic_begin(&af, path, err);
    if (!s)
        s = es_atomic_printf(af, err, "step,train_loss,%s,lr,grad_norm,elapsed_s\n", r->cfg.dev_column);
    for (size_t i = 0; i < r->n_curve && !s; i++) {
        const es_t5_curve_row *c = &r->curve[i];
        char dev[40] = "";
        if (isfinite(c->dev)) snprintf(dev, sizeof dev, "%.6f", c->dev);
        s = es_atomic_printf(af, err, "%" PRId64 ",%.6f,%s,%.6g,%.6g,%.3f\n", c->step, c->train, dev,
                             c->lr, c->gnorm, c->elapsed);
    }
    if (s) {
        es_atomic_abort(af);
        return s;
    }
    if ((s = es_atomic_commit(af, err))) return s;
    const size_t n = r->n_curve, cap = n ? n : 1;
    size_t nv = 0;
    double *x = es_calloc(cap, sizeof(double)), *yt = es_calloc(cap, sizeof(double));
    double *xv = es_calloc(cap, sizeof(double)), *yv = es_calloc(cap, sizeof(double));
    if (x && yt && xv && yv) {
        for (size_t i = 0; i < n; i++) {
            x[i] = (double)r->curve[i].step;
            yt[i] = r->curve[i].train;
            if (isfinite(r->curve[i].dev)) { /* held-out loss as its own unbroken line */
                xv[nv] = x[i];
                yv[nv++] = r->curve[i].dev;
            }
        }
        es_plot_series ser[2] = {{"train loss", x, yt, n}, {r->cfg.dev_label, xv, yv, nv}};
        es_plot_panel pan = {r->cfg.panel, "step", "token-mean cross entropy", ser, 2, 0, 0, 0};
        snprintf(path, sizeof path, "%s/curves.svg", r->cfg.out_dir);
        s = es_plot_svg_write(path, r->cfg.title, &pan, 1, err);
    }
    es_free(x);
    es_free(yt);
    es_free(xv);
    es_free(yv);
    return s;
}

/* ---- the step loop ---------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static es_status save_ckpt(es_t5_run *r, const es_t5_loop *lp, es_error *err) {
    const char *kv[2 * 8];
    size_t n = lp->meta ? lp->meta(lp->user, kv, 8) : 0;
    return es_t5_run_save_checkpoint(r, kv, n, err);
}

es_status es_t5_run_loop(es_t5_run *r, const es_t5_loop *lp, es_error *err) {
    es_t5_loop_report rep;
    memset(&rep, 0, sizeof rep);
    rep.max_steps = lp->max_steps;
    rep.dev_loss = NAN;
    rep.best_dev = r->best_dev;
    es_status s = ES_OK;
    if (lp->eval && lp->eval_at_start && r->step == 0 && lp->eval_every > 0) {
        double dl;
        if ((s = lp->eval(lp->user, &dl, err))) return s;
        es_t5_curve_row row = {0, NAN, dl, 0, 0, 0};
        es_t5_run_curve_add(r, row);
        rep.dev_loss = dl;
        rep.event = 1;
        if (lp->report) lp->report(lp->user, &rep);
    }
    const double t0 = now_s();
    const int64_t step0 = r->step;
    double acc = 0;
    int acc_n = 0, stop = 0;
    int64_t saved = -1; /* step of the last checkpoint written here */
    while (!s && r->step < lp->max_steps && !stop) {
        double loss, gn;
        float lr;
        if ((s = lp->step(lp->user, &loss, &gn, &lr, err))) break;
        if (!isfinite(loss)) {
            s = es_errf(err, ES_ERR_ARG,
                        "step %" PRId64 ": loss is not finite (lower the learning rate); the last "
                        "checkpoint is kept",
                        r->step);
            break;
        }
        acc += loss;
        acc_n++;
        const int64_t st = r->step;
        const double el = now_s() - t0;
        const int log_now = lp->log_every > 0 && st % lp->log_every == 0;
        const int eval_now = lp->eval && lp->eval_every > 0 &&
                             (st % lp->eval_every == 0 || st == lp->max_steps);
        const int save_now = (lp->save_every > 0 && st % lp->save_every == 0) || st == lp->max_steps;
        /* the curves' clock runs on across resumes */
        es_t5_curve_row row = {st, loss, NAN, lr, gn, r->elapsed0 + el};
        if (eval_now) {
            double dl;
            if ((s = lp->eval(lp->user, &dl, err))) break;
            row.dev = dl;
            rep.dev_loss = dl;
            if (dl < r->best_dev) {
                r->best_dev = dl;
                r->best_step = st;
                char best[4096];
                if ((s = es_path_join(best, sizeof best, r->cfg.out_dir, "best", err))) break;
                if ((s = es_t5_run_save_model(r, best, err))) break;
            }
        }
        if (log_now || eval_now || save_now) {
            es_t5_run_curve_add(r, row);
            if ((s = es_t5_run_curve_write(r, err))) break;
        }
        if (save_now) {
            if ((s = save_ckpt(r, lp, err))) break;
            saved = st;
        }
        if (log_now || eval_now || save_now) {
            rep.step = st;
            rep.train_loss = acc_n ? acc / acc_n : NAN;
            rep.best_dev = r->best_dev;
            rep.lr = lr;
            rep.grad_norm = gn;
            rep.elapsed_s = el;
            rep.steps_per_s = (double)(st - step0) / (el > 1e-9 ? el : 1e-9);
            rep.eta_s = rep.steps_per_s > 0 ? (double)(lp->max_steps - st) / rep.steps_per_s : NAN;
            rep.event = eval_now ? 1 : save_now ? 2 : 0;
            if (lp->report && lp->report(lp->user, &rep)) stop = 1;
            acc = 0;
            acc_n = 0;
        }
    }
    if (s) return s;
    if (stop) {
        if (saved != r->step) s = save_ckpt(r, lp, err);
        if (!s) s = es_t5_run_curve_write(r, err);
    }
    if (!s) s = es_t5_run_save_model(r, r->cfg.out_dir, err);
    if (!s && stop)
        s = es_errf(err, ES_ERR_CANCELLED, "stopped at step %" PRId64 " (checkpoint and model written)",
                    r->step);
    return s;
}
