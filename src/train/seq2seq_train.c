/*
 * seq2seq_train.c — the trainer and evaluation of byte seq2seq models
 * (API in seq2seq_data.h).
 *
 * One step = grad_accum micro-batches of batch_size examples in the
 * epoch's permutation order → teacher-forced forward → token softmax
 * cross-entropy (src/train/loss.c, grad_scale 1/(tokens of the micro-batch
 * · grad_accum), so the loss is the mean over every predicted position
 * incl. the end id; an exact mean for grad_accum = 1) → backward into both
 * registries → global-norm clip over both → AdamW (optim.c) on each
 * registry with the same step count and lr.
 *
 * Determinism and resume: the trajectory is a function of (model, params,
 * step, epoch, pos, rng): the epoch permutation comes from (seed, epoch),
 * dropout masks from the trainer RNG, and every reduction has a fixed
 * order for a given thread count. A checkpoint (ckpt.h) stores exactly
 * that state — both registries' weights (the model folder), both AdamW
 * moment sets and their step count, step, epoch, pos, rng — so a resumed
 * run performs the operations the uninterrupted run performed after that
 * step (tests/unit/test_s2s_resume.c checks bit equality).
 */
#include "train/seq2seq_data.h"

#include "core/pool.h"
#include "io/fileio.h"
#include "nn/ops.h"
#include "train/ckpt.h"
#include "train/loss.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static es_status get_ex(const es_s2s_source *src, size_t i, es_s2s_example *ex, es_error *err) {
    if (src->array) {
        *ex = src->array[i];
        return ES_OK;
    }
    if (!src->get) return es_errf(err, ES_ERR_ARG, "seq2seq data: source has no array and no callback");
    return src->get(src->user, i, ex, err);
}

/* Batch buffers: the source's pointers are only valid until the next
 * callback, so every example of a batch is copied. */
typedef struct batch {
    int B;
    uint8_t **src;
    int32_t **tgt;
    size_t *sl, *tl;
    size_t src_cap, tgt_cap;
} batch;

static void batch_free(batch *b) {
    for (int i = 0; i < b->B; i++) {
        if (b->src) es_free(b->src[i]);
        if (b->tgt) es_free(b->tgt[i]);
    }
    es_free(b->src);
    es_free(b->tgt);
    es_free(b->sl);
    es_free(b->tl);
    memset(b, 0, sizeof *b);
}

static es_status batch_init(batch *b, int B, size_t src_cap, size_t tgt_cap, es_error *err) {
    memset(b, 0, sizeof *b);
    b->B = B;
    b->src_cap = src_cap;
    b->tgt_cap = tgt_cap;
    b->src = es_calloc((size_t)B, sizeof *b->src);
    b->tgt = es_calloc((size_t)B, sizeof *b->tgt);
    b->sl = es_calloc((size_t)B, sizeof *b->sl);
    b->tl = es_calloc((size_t)B, sizeof *b->tl);
    bool ok = b->src && b->tgt && b->sl && b->tl;
    for (int i = 0; ok && i < B; i++) {
        b->src[i] = es_malloc(src_cap ? src_cap : 1);
        b->tgt[i] = es_calloc(tgt_cap ? tgt_cap : 1, sizeof(int32_t));
        ok = b->src[i] && b->tgt[i];
    }
    if (!ok) {
        batch_free(b);
        return es_errf(err, ES_ERR_NOMEM, "seq2seq training: out of memory for the batch");
    }
    return ES_OK;
}

static es_status batch_put(batch *b, int i, const es_s2s_example *ex, size_t index, es_error *err) {
    if (ex->tgt_len > b->tgt_cap)
        return es_errf(err, ES_ERR_ARG, "seq2seq data: example %zu has %zu target symbols; the "
                       "model's decoder holds %zu", index, ex->tgt_len, b->tgt_cap);
    if ((ex->src_len && !ex->src) || (ex->tgt_len && !ex->tgt))
        return es_errf(err, ES_ERR_ARG, "seq2seq data: example %zu has a NULL buffer", index);
    size_t n = ex->src_len < b->src_cap ? ex->src_len : b->src_cap;
    if (n) memcpy(b->src[i], ex->src, n);
    b->sl[i] = n;
    if (ex->tgt_len) memcpy(b->tgt[i], ex->tgt, ex->tgt_len * sizeof(int32_t));
    b->tl[i] = ex->tgt_len;
    return ES_OK;
}

/* ---- trainer state ----------------------------------------------------------- */

struct es_s2s_trainer {
    es_s2s_model *m;
    es_train_params p;
    char *out_dir;
    es_pool *pool;
    es_s2s_ws *ws;
    es_adamw oe, od;          /* encoder / decoder moments; oe.t == od.t always */
    batch bt;
    es_rng rng;               /* dropout */
    int64_t step, epoch;      /* epoch: 0-based, of the permutation in use */
    size_t pos;               /* next index into perm */
    size_t *perm, perm_n;
    int64_t perm_epoch;       /* epoch perm holds, -1 = none */
    uint64_t cfg_hash;
    es_progress_fn progress;
    void *progress_user;
    es_s2s_eval_fn eval;
    void *eval_user;
    es_s2s_stop_fn stop;
    void *stop_user;
    /* progress accounting */
    double rep_loss, rep_bytes, t_start, t_rep, last_norm;
    int64_t rep_steps, start_step;
    float last_lr;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Hash of the model config and the optimisation params (ckpt.h); the
 * "s2s" prefix keeps it apart from any classifier hash. */
static es_status config_hash(const es_s2s_trainer *tr, uint64_t *out, es_error *err) {
    char *json = NULL;
    es_status s = es_s2s_config_to_json(tr->m, &json, err);
    if (s) return s;
    uint64_t h = es_ckpt_fnv(ES_CKPT_FNV_BASIS, "s2s:", 4);
    h = es_ckpt_fnv(h, json, strlen(json));
    es_free(json);
    *out = es_ckpt_params_hash(h, &tr->p, 1);
    return ES_OK;
}

es_status es_s2s_trainer_new(es_s2s_trainer **out, es_s2s_model *m, const es_train_params *p,
                             es_error *err) {
    *out = NULL;
    if (!m || !p) return es_errf(err, ES_ERR_ARG, "seq2seq trainer: model and params are required");
    if (p->batch_size < 1 || p->grad_accum < 1 || p->max_steps < 0 || !(p->lr >= 0.0f) ||
        !(p->min_lr >= 0.0f) || p->warmup_steps < 0 || (unsigned)p->schedule > ES_LR_INVSQRT ||
        p->optimizer != ES_OPT_ADAMW || !(p->beta1 >= 0.0f && p->beta1 < 1.0f) ||
        !(p->beta2 >= 0.0f && p->beta2 < 1.0f) || !(p->eps > 0.0f) || p->n_threads < 0 ||
        p->keep_checkpoints < 0 || p->save_every < 0 || p->eval_every < 0 || p->log_every < 0)
        return es_errf(err, ES_ERR_ARG, "seq2seq trainer: invalid training parameters (batch %d, "
                       "accum %d, steps %" PRId64 ", lr %g, warm-up %" PRId64 ", betas %g/%g, eps %g)",
                       p->batch_size, p->grad_accum, p->max_steps, (double)p->lr, p->warmup_steps,
                       (double)p->beta1, (double)p->beta2, (double)p->eps);
    es_s2s_trainer *tr = es_calloc(1, sizeof *tr);
    if (!tr) return es_errf(err, ES_ERR_NOMEM, "seq2seq trainer: out of memory");
    tr->m = m;
    tr->p = *p;
    tr->p.max_bytes = 0; /* the encoder's max_bytes cuts inputs; not a training param here */
    tr->p.out_dir = NULL;
    if (tr->p.keep_checkpoints < 1) tr->p.keep_checkpoints = 1;
    tr->perm_epoch = -1;
    const es_s2s_config *c = es_s2s_model_config(m);
    es_status s = ES_OK;
    if (p->out_dir && !(tr->out_dir = es_strdup(p->out_dir)))
        s = es_errf(err, ES_ERR_NOMEM, "seq2seq trainer: out of memory");
    if (!s) s = es_pool_new(&tr->pool, p->n_threads > 0 ? p->n_threads : es_cpu_physical_cores(), err);
    if (!s) s = es_s2s_model_enable_grad(m, err);
    if (!s) s = es_s2s_ws_new(&tr->ws, m, p->batch_size, 1, 1, tr->pool, err);
    if (!s) s = es_adamw_init(&tr->oe, es_s2s_model_enc_params(m), err);
    if (!s) s = es_adamw_init(&tr->od, es_s2s_model_dec_params(m), err);
    if (!s) s = batch_init(&tr->bt, p->batch_size, (size_t)c->enc.max_bytes, (size_t)c->max_out - 1, err);
    if (!s) s = config_hash(tr, &tr->cfg_hash, err);
    if (s) {
        es_s2s_trainer_free(tr);
        return s;
    }
    /* the seed mix of the one-call trainer before checkpoints existed, so
     * runs keep their trajectories */
    es_rng_seed(&tr->rng, p->seed ^ 0x5e925eedull);
    *out = tr;
    return ES_OK;
}

void es_s2s_trainer_free(es_s2s_trainer *tr) {
    if (!tr) return;
    es_free(tr->perm);
    batch_free(&tr->bt);
    es_adamw_free(&tr->oe);
    es_adamw_free(&tr->od);
    es_s2s_ws_free(tr->ws);
    es_pool_free(tr->pool);
    es_free(tr->out_dir);
    es_free(tr);
}

void es_s2s_trainer_set_progress(es_s2s_trainer *tr, es_progress_fn fn, void *user) {
    tr->progress = fn;
    tr->progress_user = user;
}
void es_s2s_trainer_set_eval(es_s2s_trainer *tr, es_s2s_eval_fn fn, void *user) {
    tr->eval = fn;
    tr->eval_user = user;
}
void es_s2s_trainer_set_stop(es_s2s_trainer *tr, es_s2s_stop_fn fn, void *user) {
    tr->stop = fn;
    tr->stop_user = user;
}
int64_t es_s2s_trainer_step_count(const es_s2s_trainer *tr) { return tr->step; }
es_s2s_model *es_s2s_trainer_model(es_s2s_trainer *tr) { return tr->m; }
const es_adamw *es_s2s_trainer_optim(const es_s2s_trainer *tr, int which) {
    return which ? &tr->od : &tr->oe;
}

/* ---- data order and one step ----------------------------------------------------- */

/* The permutation of epoch tr->epoch over n examples: Fisher–Yates from an
 * RNG seeded by (seed, epoch) — rebuilt after a resume from two integers. */
static es_status make_perm(es_s2s_trainer *tr, size_t n, es_error *err) {
    if (tr->perm_n != n) {
        es_free(tr->perm);
        tr->perm = es_calloc(n ? n : 1, sizeof *tr->perm);
        tr->perm_n = tr->perm ? n : 0;
        tr->perm_epoch = -1;
        if (!tr->perm)
            return es_errf(err, ES_ERR_NOMEM, "seq2seq training: out of memory for %zu indices", n);
    }
    if (tr->perm_epoch == tr->epoch) return ES_OK;
    es_rng r;
    es_rng_seed(&r, tr->p.seed * 0x9e3779b97f4a7c15ull + (uint64_t)tr->epoch + 1);
    for (size_t k = 0; k < n; k++) tr->perm[k] = k;
    for (size_t k = n; k > 1; k--) {
        size_t j = (size_t)es_rng_below(&r, k), t = tr->perm[k - 1];
        tr->perm[k - 1] = tr->perm[j];
        tr->perm[j] = t;
    }
    tr->perm_epoch = tr->epoch;
    return ES_OK;
}

es_status es_s2s_trainer_step(es_s2s_trainer *tr, const es_s2s_source *train, double *loss,
                              es_error *err) {
    if (!train || train->n == 0 || (!train->array && !train->get))
        return es_errf(err, ES_ERR_ARG, "seq2seq training: no examples");
    if (tr->pos > train->n)
        return es_errf(err, ES_ERR_ARG, "seq2seq training: data position %zu beyond the %zu "
                       "examples (resumed with another training set?)", tr->pos, train->n);
    es_s2s_model *m = tr->m;
    es_params *pe = es_s2s_model_enc_params(m), *pd = es_s2s_model_dec_params(m);
    const int B = tr->p.batch_size, V = es_s2s_model_vocab(m);
    batch *bt = &tr->bt;
    es_status s = ES_OK;
    es_params_zero_grad(pe);
    es_params_zero_grad(pd);
    double step_loss = 0.0, bytes = 0.0;
    for (int a = 0; !s && a < tr->p.grad_accum; a++) {
        for (int i = 0; !s && i < B; i++) {
            if (tr->pos >= train->n) {
                tr->epoch++;
                tr->pos = 0;
            }
            if ((s = make_perm(tr, train->n, err))) break;
            es_s2s_example ex;
            size_t idx = tr->perm[tr->pos++];
            if (!(s = get_ex(train, idx, &ex, err))) s = batch_put(bt, i, &ex, idx, err);
            bytes += (double)bt->sl[i];
        }
        if (s) break;
        s = es_s2s_forward(tr->ws, m, (const uint8_t *const *)bt->src, bt->sl,
                           (const int32_t *const *)bt->tgt, bt->tl, B, 1, &tr->rng, err);
        if (s) break;
        int rows;
        const int32_t *y;
        const float *lg = es_s2s_logits(tr->ws, &rows, &y);
        size_t ntok = 0;
        for (int i = 0; i < B; i++) ntok += bt->tl[i] + 1;
        int counted = 0;
        float gs = 1.0f / ((float)ntok * (float)tr->p.grad_accum);
        double l = es_softmax_ce(es_s2s_dlogits(tr->ws), lg, y, rows, V, -1, gs, &counted, NULL);
        step_loss += l / (double)ntok / (double)tr->p.grad_accum;
        s = es_s2s_backward(tr->ws, m, err);
    }
    if (s) return s;
    if (!isfinite(step_loss))
        return es_errf(err, ES_ERR_INTERNAL, "seq2seq training: loss is %g at step %" PRId64,
                       step_loss, tr->step + 1);
    /* one clipping norm over both registries */
    double ge = es_grad_norm(pe), gd = es_grad_norm(pd);
    double gn = sqrt(ge * ge + gd * gd);
    if (tr->p.clip_norm > 0.0f) {
        float coef = (float)((double)tr->p.clip_norm / (gn + 1e-6));
        if (coef < 1.0f) {
            es_grad_scale(pe, coef);
            es_grad_scale(pd, coef);
        }
    }
    float lr = es_lr_at(&tr->p, tr->step + 1);
    es_adamw_step(&tr->oe, pe, lr, tr->p.beta1, tr->p.beta2, tr->p.eps, tr->p.weight_decay, 0);
    es_adamw_step(&tr->od, pd, lr, tr->p.beta1, tr->p.beta2, tr->p.eps, tr->p.weight_decay, 0);
    tr->step++;
    tr->last_norm = gn;
    tr->last_lr = lr;
    tr->rep_loss += step_loss;
    tr->rep_steps++;
    tr->rep_bytes += bytes;
    if (loss) *loss = step_loss;
    return ES_OK;
}

/* ---- checkpoints (format: ckpt.h) ------------------------------------------------ */

es_status es_s2s_trainer_save(es_s2s_trainer *tr, es_error *err) {
    if (!tr->out_dir) return es_errf(err, ES_ERR_ARG, "seq2seq trainer: no checkpoint folder set");
    if (tr->oe.t != tr->od.t)
        return es_errf(err, ES_ERR_INTERNAL, "seq2seq trainer: optimizer step counts differ (%"
                       PRId64 " / %" PRId64 ")", tr->oe.t, tr->od.t);
    char name[64], dir[4096], path[4096];
    bool already = false;
    es_status s = es_ckpt_begin(tr->out_dir, tr->step, name, sizeof name, dir, sizeof dir,
                                &already, err);
    if (s || already) return s;
    if ((s = es_s2s_model_save_dir(tr->m, dir, err))) return s;
    es_ckpt_state st;
    memset(&st, 0, sizeof st);
    if ((s = es_path_join(path, sizeof path, dir, ES_CKPT_MODEL_FILE, err)) ||
        (s = es_ckpt_file_checksum(path, &st.model_checksum, err)))
        return s;
    st.step = tr->step;
    st.epoch = tr->epoch;
    st.data_pos = tr->pos;
    st.adam_t = tr->oe.t;
    memcpy(st.rng, tr->rng.s, sizeof st.rng);
    st.config_hash = tr->cfg_hash;
    es_ckpt_moments regs[2] = {{es_s2s_model_enc_params(tr->m), tr->oe.m, tr->oe.v},
                               {es_s2s_model_dec_params(tr->m), tr->od.m, tr->od.v}};
    static const char *const extra[] = {"trainer", "byte-seq2seq"};
    if ((s = es_path_join(path, sizeof path, dir, ES_CKPT_STATE_FILE, err)) ||
        (s = es_ckpt_write_state(path, &st, regs, 2, extra, 1, err)))
        return s;
    return es_ckpt_publish(tr->out_dir, name, tr->p.keep_checkpoints, err);
}

/* Scratch for the moments read from a checkpoint: committed only when
 * every check passed. */
static float *scratch(size_t n) {
    float *x = es_malloc_aligned((n ? n : 1) * sizeof(float));
    if (x) memset(x, 0, (n ? n : 1) * sizeof(float));
    return x;
}

es_status es_s2s_trainer_resume(es_s2s_trainer *tr, const char *dir_in, es_error *err) {
    const char *root = dir_in ? dir_in : tr->out_dir;
    if (!root) return es_errf(err, ES_ERR_ARG, "seq2seq trainer resume: no checkpoint folder");
    char name[256], dir[4096], path[4096], mpath[4096];
    es_status s = es_ckpt_read_pointer(root, name, sizeof name, err);
    if (s) return s;
    if ((s = es_path_join(dir, sizeof dir, root, name, err))) return s;
    /* 1. the model folder, loaded on the side and compared */
    es_s2s_model *nm = NULL;
    if ((s = es_s2s_model_load_dir(&nm, dir, err))) return s == ES_ERR_NOMEM ? s : ES_ERR_FORMAT;
    char *j1 = NULL, *j2 = NULL;
    s = es_s2s_config_to_json(nm, &j1, err);
    if (!s) s = es_s2s_config_to_json(tr->m, &j2, err);
    if (!s && strcmp(j1, j2) != 0)
        s = es_errf(err, ES_ERR_FORMAT, "%s/config.json: model config differs from the model being trained", dir);
    es_free(j1);
    es_free(j2);
    es_params *pe = es_s2s_model_enc_params(tr->m), *pd = es_s2s_model_dec_params(tr->m);
    es_params *npe = es_s2s_model_enc_params(nm), *npd = es_s2s_model_dec_params(nm);
    if (!s && (npe->total != pe->total || npd->total != pd->total))
        s = es_errf(err, ES_ERR_FORMAT, "%s: parameter counts differ from the model being trained", dir);
    /* 2. the state file */
    float *em = NULL, *ev = NULL, *dm = NULL, *dv = NULL;
    if (!s) {
        em = scratch(pe->total);
        ev = scratch(pe->total);
        dm = scratch(pd->total);
        dv = scratch(pd->total);
        if (!em || !ev || !dm || !dv) s = es_errf(err, ES_ERR_NOMEM, "resume: out of memory");
    }
    es_ckpt_state st;
    memset(&st, 0, sizeof st);
    es_ckpt_moments regs[2] = {{pe, em, ev}, {pd, dm, dv}};
    if (!s) s = es_path_join(path, sizeof path, dir, ES_CKPT_STATE_FILE, err);
    if (!s) s = es_ckpt_read_state(path, &st, regs, 2, NULL, err);
    if (!s && st.config_hash != tr->cfg_hash)
        s = es_errf(err, ES_ERR_FORMAT, "%s: written with a different model config or training "
                    "parameters (config hash %016" PRIx64 ", now %016" PRIx64 ")", path,
                    st.config_hash, tr->cfg_hash);
    uint64_t ck_file = 0;
    if (!s) s = es_path_join(mpath, sizeof mpath, dir, ES_CKPT_MODEL_FILE, err);
    if (!s) {
        s = es_ckpt_file_checksum(mpath, &ck_file, err);
        if (s && s != ES_ERR_NOMEM) s = ES_ERR_FORMAT;
    }
    if (!s && ck_file != st.model_checksum)
        s = es_errf(err, ES_ERR_FORMAT, "%s: checksum %016" PRIx64 " does not match the training "
                    "state (%016" PRIx64 "): model and state are from different saves", mpath,
                    ck_file, st.model_checksum);
    if (!s && st.adam_t != st.step)
        s = es_errf(err, ES_ERR_FORMAT, "%s: adam_t %" PRId64 " differs from step %" PRId64, path,
                    st.adam_t, st.step);
    if (!s) {
        /* 3. everything checked: commit */
        memcpy(pe->data, npe->data, pe->total * sizeof(float));
        memcpy(pd->data, npd->data, pd->total * sizeof(float));
        memcpy(tr->oe.m, em, pe->total * sizeof(float));
        memcpy(tr->oe.v, ev, pe->total * sizeof(float));
        memcpy(tr->od.m, dm, pd->total * sizeof(float));
        memcpy(tr->od.v, dv, pd->total * sizeof(float));
        tr->oe.t = tr->od.t = st.adam_t;
        tr->step = st.step;
        tr->epoch = st.epoch;
        tr->pos = st.data_pos;
        tr->perm_epoch = -1;
        memcpy(tr->rng.s, st.rng, sizeof st.rng);
    }
    es_free_aligned(em);
    es_free_aligned(ev);
    es_free_aligned(dm);
    es_free_aligned(dv);
    es_s2s_model_free(nm);
    return s;
}

/* ---- loop ---------------------------------------------------------------------- */

/* Progress report when due (every log_every steps and at max_steps).
 * Returns non-zero when the callback asks to stop. */
static int report(es_s2s_trainer *tr) {
    bool due = tr->p.log_every > 0 && (tr->step % tr->p.log_every == 0 || tr->step == tr->p.max_steps);
    if (!due || !tr->progress) return 0;
    double t = now_s();
    es_train_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.step = tr->step;
    pr.max_steps = tr->p.max_steps;
    pr.epoch = tr->epoch;
    pr.loss = tr->rep_steps ? tr->rep_loss / (double)tr->rep_steps : 0.0;
    pr.grad_norm = tr->last_norm;
    pr.lr = tr->last_lr;
    double dt = t - tr->t_rep;
    if (dt > 0) {
        pr.examples_per_s = (double)tr->rep_steps * tr->p.batch_size * tr->p.grad_accum / dt;
        pr.bytes_per_s = tr->rep_bytes / dt;
    }
    pr.elapsed_s = t - tr->t_start;
    int64_t done = tr->step - tr->start_step;
    pr.eta_s = done > 0 ? pr.elapsed_s / (double)done * (double)(tr->p.max_steps - tr->step) : 0.0;
    tr->rep_loss = 0.0;
    tr->rep_steps = 0;
    tr->rep_bytes = 0.0;
    tr->t_rep = t;
    return tr->progress(tr->progress_user, &pr);
}

static es_status save_final(es_s2s_trainer *tr, es_error *err) {
    if (!tr->out_dir) return ES_OK;
    es_status s = es_s2s_trainer_save(tr, err);
    if (!s) s = es_s2s_model_save_dir(tr->m, tr->out_dir, err);
    return s;
}

es_status es_s2s_trainer_run(es_s2s_trainer *tr, const es_s2s_source *train, es_error *err) {
    tr->t_start = tr->t_rep = now_s();
    tr->start_step = tr->step;
    tr->rep_loss = tr->rep_bytes = 0.0;
    tr->rep_steps = 0;
    es_status s = ES_OK;
    while (tr->step < tr->p.max_steps) {
        if ((s = es_s2s_trainer_step(tr, train, NULL, err))) return s;
        int stop = report(tr);
        bool last = tr->step == tr->p.max_steps;
        /* evaluate before saving: a kill between the two re-runs the
         * evaluation after resume instead of losing it */
        if (!last && tr->eval && tr->p.eval_every > 0 && tr->step % tr->p.eval_every == 0)
            if ((s = tr->eval(tr->eval_user, tr, tr->step, err))) return s;
        if (!stop && tr->stop) stop = tr->stop(tr->stop_user);
        if (stop && !last) {
            if (tr->out_dir && (s = es_s2s_trainer_save(tr, err))) return s;
            return es_errf(err, ES_ERR_CANCELLED, "seq2seq training: stopped at step %" PRId64 "%s",
                           tr->step, tr->out_dir ? " (checkpoint written)" : "");
        }
        if (!last && tr->out_dir && tr->p.save_every > 0 && tr->step % tr->p.save_every == 0)
            if ((s = es_s2s_trainer_save(tr, err))) return s;
    }
    if (tr->eval && (s = tr->eval(tr->eval_user, tr, tr->step, err))) return s;
    return save_final(tr, err);
}

/* ---- one-call wrapper ---------------------------------------------------------- */

typedef struct legacy {
    es_s2s_progress_fn fn;
    void *user;
} legacy;

static int legacy_progress(void *user, const es_train_progress *p) {
    const legacy *l = user;
    return l->fn(l->user, p->step, p->loss, p->grad_norm, p->lr);
}

es_status es_s2s_train(es_s2s_model *m, const es_s2s_source *train, const es_train_params *p,
                       es_s2s_progress_fn progress, void *user, es_error *err) {
    if (!train || train->n == 0) return es_errf(err, ES_ERR_ARG, "seq2seq training: no examples");
    es_s2s_trainer *tr = NULL;
    es_status s = es_s2s_trainer_new(&tr, m, p, err);
    if (s) return s;
    legacy l = {progress, user};
    if (progress) es_s2s_trainer_set_progress(tr, legacy_progress, &l);
    s = es_s2s_trainer_run(tr, train, err);
    es_s2s_trainer_free(tr);
    return s;
}

/* ---- evaluation ---------------------------------------------------------------- */

es_status es_s2s_evaluate(es_s2s_model *m, const es_s2s_source *src, int batch_size,
                          es_pool *pool, double *loss, double *exact, es_error *err) {
    const es_s2s_config *c = es_s2s_model_config(m);
    const int V = es_s2s_model_vocab(m);
    if (batch_size < 1 || !src || src->n == 0)
        return es_errf(err, ES_ERR_ARG, "seq2seq evaluate: empty source or batch");
    es_s2s_ws *ws = NULL;
    es_decode_ws dws;
    memset(&dws, 0, sizeof dws);
    batch bt;
    es_status s = es_s2s_ws_new(&ws, m, batch_size, 1, 0, pool, err);
    if (!s) s = es_decode_ws_init(&dws, 1, c->max_out, V, err);
    if (!s) s = batch_init(&bt, batch_size, (size_t)c->enc.max_bytes, (size_t)c->max_out - 1, err);
    else memset(&bt, 0, sizeof bt);
    double tot = 0.0;
    size_t ntok = 0, hits = 0;
    es_gen_params gp = es_gen_params_default();
    gp.method = ES_DECODE_GREEDY;
    gp.max_new_tokens = c->max_out;
    for (size_t i0 = 0; !s && i0 < src->n; i0 += (size_t)batch_size) {
        int nb = (int)(src->n - i0 < (size_t)batch_size ? src->n - i0 : (size_t)batch_size);
        for (int i = 0; !s && i < nb; i++) {
            es_s2s_example ex;
            if (!(s = get_ex(src, i0 + (size_t)i, &ex, err))) s = batch_put(&bt, i, &ex, i0 + (size_t)i, err);
        }
        if (s) break;
        s = es_s2s_forward(ws, m, (const uint8_t *const *)bt.src, bt.sl,
                           (const int32_t *const *)bt.tgt, bt.tl, nb, 0, NULL, err);
        if (s) break;
        int rows;
        const int32_t *y;
        const float *lg = es_s2s_logits(ws, &rows, &y);
        int counted = 0;
        tot += es_softmax_ce(NULL, lg, y, rows, V, -1, 0.0f, &counted, NULL);
        ntok += (size_t)counted;
        for (int i = 0; !s && i < nb; i++) {
            es_gen_result res;
            es_dec_model dm = es_s2s_dec_model(ws);
            if (!(s = es_s2s_prime(ws, m, bt.src[i], bt.sl[i], err)))
                s = es_decode_run(&dws, &dm, &gp, &res, err);
            if (s) break;
            const es_hyp *h = &res.hyps[0];
            int ok = (size_t)h->n_ids == bt.tl[i] + 1 && h->ids[h->n_ids - 1] == ES_S2S_EOS;
            for (size_t t = 0; ok && t < bt.tl[i]; t++)
                ok = h->ids[t] == bt.tgt[i][t] + ES_S2S_N_SPECIAL;
            hits += (size_t)ok;
        }
    }
    if (!s) {
        if (loss) *loss = ntok ? tot / (double)ntok : 0.0;
        if (exact) *exact = (double)hits / (double)src->n;
    }
    batch_free(&bt);
    es_decode_ws_free(&dws);
    es_s2s_ws_free(ws);
    return s;
}
