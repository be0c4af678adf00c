/*
 * trainer.c — the training loop for byte classifiers (API in trainer.h):
 * data order, micro-batches with gradient accumulation, loss, clipping,
 * AdamW, LR schedule, progress/eval callbacks, checkpoints and resume.
 *
 * Determinism: everything that influences the trajectory is a function of
 * (model, params, step, epoch, pos, rng): the epoch permutation is drawn
 * from an RNG seeded by (seed, epoch); dropout/zoneout masks come from the
 * trainer RNG whose state is checkpointed; every reduction in the forward
 * and backward passes has a fixed order. So a run resumed from a checkpoint
 * at step s performs exactly the operations the uninterrupted run performed
 * after step s (tests/unit/test_resume.c checks bit equality).
 */
#include "train/trainer.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "train/ckpt.h"
#include "train/loss.h"
#include "train/optim.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct es_trainer {
    es_byte_model *m;
    es_train_params p;
    char *out_dir;
    es_pool *pool;
    es_byte_ws *ws;
    es_adamw opt;
    es_rng rng;                /* dropout / zoneout */
    int64_t step, epoch;
    size_t pos;                /* next index into perm */
    size_t *perm, perm_n;
    int64_t perm_epoch;
    uint64_t cfg_hash;
    es_progress_fn progress;
    void *progress_user;
    es_eval_fn eval;
    void *eval_user;
    /* batch buffers */
    const uint8_t **bptr;
    size_t *blen;
    int32_t *blab;
    float *logits, *dlogits;
    /* progress accounting */
    double rep_loss;
    int64_t rep_n, rep_steps;
    double rep_bytes, t_start, t_rep;
    double last_norm;
    float last_lr;
    int64_t start_step;
    /* data parallelism (es_trainer_set_dist; world = 1, rank 0 without) */
    es_dist *dist;
    int rank, world;
    uint64_t *rng_all;         /* (world, 4) every rank's RNG state, for checkpoints */
    double *sync;              /* (SYNC_HEAD + 2 * world) per-step agreement buffer */
};

/* Agreement buffer: loss sum, byte count, then per rank its status, then
 * per rank its training-set size. */
#define SYNC_HEAD 2

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

es_train_params es_train_params_default(void) {
    es_train_params p;
    memset(&p, 0, sizeof p);
    p.batch_size = 32;
    p.grad_accum = 1;
    p.max_steps = 1000;
    p.optimizer = ES_OPT_ADAMW;
    p.lr = 2e-3f;
    p.min_lr = 0.0f;
    p.warmup_steps = 0;
    p.schedule = ES_LR_COSINE;
    p.weight_decay = 0.01f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.eps = 1e-8f;
    p.clip_norm = 1.0f;
    p.seed = 1;
    p.log_every = 10;
    p.keep_checkpoints = 2;
    return p;
}

float es_lr_at(const es_train_params *p, int64_t step) {
    double lr = p->lr, lo = p->min_lr;
    int64_t W = p->warmup_steps;
    if (step < 1) step = 1;
    if (W > 0 && step <= W) return (float)(lr * (double)step / (double)W);
    double q = p->max_steps > W ? (double)(step - W) / (double)(p->max_steps - W) : 1.0;
    if (q > 1.0) q = 1.0;
    switch (p->schedule) {
    case ES_LR_CONSTANT: return (float)lr;
    case ES_LR_LINEAR: return (float)(lo + (lr - lo) * (1.0 - q));
    case ES_LR_COSINE: return (float)(lo + (lr - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * q)));
    case ES_LR_INVSQRT: return (float)(lr * sqrt((double)(W > 0 ? W : 1) / (double)step));
    }
    return (float)lr;
}

/* Hash of everything that shapes the trajectory besides the state itself:
 * the model config and the optimisation params (not max_steps, cadences,
 * thread count or paths, which may change between a run and its resume).
 * The batch is the global one (world * per-rank batch), so a checkpoint
 * resumes under any process count that keeps the global batch. */
static es_status config_hash(const es_trainer *tr, uint64_t *out, es_error *err) {
    char *json = NULL;
    es_status s = es_byte_config_to_json(es_byte_model_config(tr->m), &json, err);
    if (s) return s;
    uint64_t h = es_ckpt_fnv(ES_CKPT_FNV_BASIS, json, strlen(json));
    es_free(json);
    *out = es_ckpt_params_hash(h, &tr->p, tr->world);
    return ES_OK;
}

es_status es_trainer_new(es_trainer **out, es_byte_model *m, const es_train_params *p,
                         es_error *err) {
    *out = NULL;
    if (!m || !p) return es_errf(err, ES_ERR_ARG, "trainer: model and params are required");
    if (p->batch_size < 1 || p->grad_accum < 1 || p->max_steps < 0 || !(p->lr >= 0.0f) ||
        p->warmup_steps < 0 || (unsigned)p->schedule > ES_LR_INVSQRT || p->optimizer != ES_OPT_ADAMW ||
        !(p->beta1 >= 0.0f && p->beta1 < 1.0f) || !(p->beta2 >= 0.0f && p->beta2 < 1.0f) ||
        !(p->eps > 0.0f) || p->max_bytes < 0 || p->n_threads < 0 || p->keep_checkpoints < 0)
        return es_errf(err, ES_ERR_ARG, "trainer: invalid training parameters (batch %d, accum %d, "
                       "steps %" PRId64 ", lr %g)", p->batch_size, p->grad_accum, p->max_steps,
                       (double)p->lr);
    const es_byte_config *c = es_byte_model_config(m);
    es_trainer *tr = es_calloc(1, sizeof *tr);
    if (!tr) return es_errf(err, ES_ERR_NOMEM, "trainer: out of memory");
    tr->m = m;
    tr->p = *p;
    if (!tr->p.max_bytes || tr->p.max_bytes > c->max_bytes) tr->p.max_bytes = c->max_bytes;
    if (tr->p.keep_checkpoints < 1) tr->p.keep_checkpoints = 1;
    tr->p.out_dir = NULL;
    tr->perm_epoch = -1;
    tr->world = 1;
    es_status s = ES_OK;
    if (p->out_dir && !(tr->out_dir = es_strdup(p->out_dir)))
        s = es_errf(err, ES_ERR_NOMEM, "trainer: out of memory");
    tr->p.out_dir = tr->out_dir;
    int nt = p->n_threads ? p->n_threads : es_cpu_physical_cores();
    if (!s) s = es_pool_new(&tr->pool, nt, err);
    if (!s) s = es_byte_model_enable_grad(m, err);
    if (!s) s = es_byte_ws_new(&tr->ws, m, p->batch_size, tr->p.max_bytes, 1, tr->pool, err);
    if (!s) s = es_adamw_init(&tr->opt, es_byte_model_params(m), err);
    if (!s) {
        size_t bs = (size_t)p->batch_size, L = (size_t)c->n_labels;
        tr->bptr = es_calloc(bs, sizeof *tr->bptr);
        tr->blen = es_calloc(bs, sizeof *tr->blen);
        tr->blab = es_calloc(bs, sizeof *tr->blab);
        tr->logits = es_calloc(bs * L, sizeof(float));
        tr->dlogits = es_calloc(bs * L, sizeof(float));
        if (!tr->bptr || !tr->blen || !tr->blab || !tr->logits || !tr->dlogits)
            s = es_errf(err, ES_ERR_NOMEM, "trainer: out of memory");
    }
    if (!s) s = config_hash(tr, &tr->cfg_hash, err);
    if (s) {
        es_trainer_free(tr);
        return s;
    }
    es_rng_seed(&tr->rng, p->seed ^ 0x5eed0d0d5eedull);
    *out = tr;
    return ES_OK;
}

void es_trainer_free(es_trainer *tr) {
    if (!tr) return;
    es_byte_ws_free(tr->ws);
    es_pool_free(tr->pool);
    es_adamw_free(&tr->opt);
    es_free(tr->perm);
    es_free(tr->bptr);
    es_free(tr->blen);
    es_free(tr->blab);
    es_free(tr->logits);
    es_free(tr->dlogits);
    es_free(tr->out_dir);
    es_free(tr->rng_all);
    es_free(tr->sync);
    es_free(tr);
}

void es_trainer_set_progress(es_trainer *tr, es_progress_fn fn, void *user) {
    tr->progress = fn;
    tr->progress_user = user;
}
void es_trainer_set_eval(es_trainer *tr, es_eval_fn fn, void *user) {
    tr->eval = fn;
    tr->eval_user = user;
}
int64_t es_trainer_step_count(const es_trainer *tr) { return tr->step; }
es_byte_model *es_trainer_model(es_trainer *tr) { return tr->m; }

/* ---- data order ------------------------------------------------------------ */

static es_status make_perm(es_trainer *tr, size_t n, es_error *err) {
    if (tr->perm_n != n) {
        es_free(tr->perm);
        tr->perm = es_calloc(n ? n : 1, sizeof(size_t));
        tr->perm_n = tr->perm ? n : 0;
        if (!tr->perm) return es_errf(err, ES_ERR_NOMEM, "trainer: out of memory for %zu indices", n);
        tr->perm_epoch = -1;
    }
    if (tr->perm_epoch == tr->epoch) return ES_OK;
    es_rng r;
    es_rng_seed(&r, tr->p.seed * 0x9e3779b97f4a7c15ull + (uint64_t)tr->epoch + 1);
    for (size_t i = 0; i < n; i++) tr->perm[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t j = (size_t)es_rng_below(&r, i);
        size_t t = tr->perm[i - 1];
        tr->perm[i - 1] = tr->perm[j];
        tr->perm[j] = t;
    }
    tr->perm_epoch = tr->epoch;
    return ES_OK;
}

static es_status get_example(const es_example_source *src, size_t i, es_example *ex,
                             es_error *err) {
    if (src->array) {
        *ex = src->array[i];
        return ES_OK;
    }
    memset(ex, 0, sizeof *ex);
    es_status s = src->get(src->user, i, ex, err);
    if (s) return s;
    return ES_OK;
}

/* Fills the batch buffers with the next batch_size examples, moving to the
 * next epoch's permutation when one is used up. A callback's bytes only
 * live until its next call (trainer.h), so callback examples are copied
 * into `copies` (batch_size buffers of max_bytes).
 * Data parallelism: every rank walks all world*batch_size slots of the
 * global micro-batch through the same permutation (so epoch and position
 * stay equal everywhere, across epoch ends too) and keeps slots
 * [rank*B, (rank+1)*B): the union over ranks is exactly the batch a single
 * process with batch world*B draws. */
static es_status next_batch(es_trainer *tr, const es_example_source *src, uint8_t **copies,
                            es_error *err) {
    int V = es_byte_model_config(tr->m)->n_labels, B = tr->p.batch_size;
    for (int g = 0; g < B * tr->world; g++) {
        if (tr->pos >= src->n) {
            tr->epoch++;
            tr->pos = 0;
        }
        es_status s = make_perm(tr, src->n, err);
        if (s) return s;
        es_example ex;
        size_t idx = tr->perm[tr->pos++];
        if (g / B != tr->rank) continue;
        int b = g - tr->rank * B;
        s = get_example(src, idx, &ex, err);
        if (s) return s;
        if (ex.label < 0 || ex.label >= V)
            return es_errf(err, ES_ERR_ARG, "training example %zu: label %d outside [0, %d)", idx,
                           (int)ex.label, V);
        if (ex.len && !ex.bytes)
            return es_errf(err, ES_ERR_ARG, "training example %zu: NULL bytes", idx);
        size_t n = ex.len > (size_t)tr->p.max_bytes ? (size_t)tr->p.max_bytes : ex.len;
        if (copies) {
            memcpy(copies[b], ex.bytes, n);
            tr->bptr[b] = copies[b];
        } else {
            tr->bptr[b] = ex.bytes;
        }
        tr->blen[b] = n;
        tr->blab[b] = ex.label;
    }
    return ES_OK;
}

static es_status dist_step_sync(es_trainer *tr, es_status s, size_t n, double *total,
                                double *bytes, es_error *err);

es_status es_trainer_step(es_trainer *tr, const es_example_source *src, double *loss,
                          es_error *err) {
    es_status s = ES_OK;
    size_t n_src = 0;
    if (!src || src->n == 0 || (!src->array && !src->get))
        s = es_errf(err, ES_ERR_ARG, "trainer: empty training set");
    else
        n_src = src->n;
    if (s && tr->world == 1) return s;
    es_byte_model *m = tr->m;
    es_params *ps = es_byte_model_params(m);
    int V = es_byte_model_config(m)->n_labels, B = tr->p.batch_size;
    uint8_t **copies = NULL;
    if (!s && !src->array) {
        /* no early return: with data parallelism the failure must reach
         * the agreement below, or the other ranks would wait forever */
        copies = es_calloc((size_t)B, sizeof *copies);
        if (!copies) s = es_errf(err, ES_ERR_NOMEM, "trainer: out of memory");
        for (int b = 0; b < B && !s; b++)
            if (!(copies[b] = es_malloc((size_t)tr->p.max_bytes)))
                s = es_errf(err, ES_ERR_NOMEM, "trainer: out of memory");
    }
    es_params_zero_grad(ps);
    /* mean over the global batch: each rank scales by 1/(world*B*accum),
     * the cross-rank sum below then is the single-process mean */
    float scale = 1.0f / (float)(B * tr->p.grad_accum * tr->world);
    double total = 0.0, bytes = 0.0;
    for (int a = 0; a < tr->p.grad_accum && !s; a++) {
        s = next_batch(tr, src, copies, err);
        if (!s) s = es_byte_forward(tr->ws, m, tr->bptr, tr->blen, B, 1, &tr->rng, tr->logits, err);
        if (s) break;
        total += es_softmax_ce(tr->dlogits, tr->logits, tr->blab, B, V, -1, scale, NULL, NULL);
        s = es_byte_backward(tr->ws, m, tr->dlogits, err);
        for (int b = 0; b < B; b++) bytes += (double)tr->blen[b];
    }
    if (copies) {
        for (int b = 0; b < B; b++) es_free(copies[b]);
        es_free(copies);
    }
    if (tr->world > 1) s = dist_step_sync(tr, s, n_src, &total, &bytes, err);
    if (s) return s;
    tr->rep_bytes += bytes;
    double mean = total * (double)scale;
    if (!isfinite(mean))
        return es_errf(err, ES_ERR_INTERNAL, "trainer: loss is %g at step %" PRId64, mean, tr->step + 1);
    /* gradients are complete on this rank: sum them over ranks (identical
     * bits everywhere, so clipping and AdamW keep the replicas equal) */
    if (tr->world > 1 && (s = es_dist_allreduce_f32(tr->dist, ps->grad, ps->total, err)))
        return s;
    tr->last_norm = es_grad_clip(ps, tr->p.clip_norm, NULL);
    tr->last_lr = es_lr_at(&tr->p, tr->step + 1);
    es_adamw_step(&tr->opt, ps, tr->last_lr, tr->p.beta1, tr->p.beta2, tr->p.eps,
                  tr->p.weight_decay, 0);
    tr->step++;
    tr->rep_loss += mean;
    tr->rep_steps++;
    if (loss) *loss = mean;
    return ES_OK;
}

/* ---- checkpoints (format and life cycle: ckpt.h) ------------------------------- */

/* Writes the checkpoint of this process. rng_all (world, 4): every rank's
 * RNG state, stored as extra metadata when world > 1 (NULL otherwise). */
static es_status save_local(es_trainer *tr, const uint64_t *rng_all, es_error *err) {
    if (!tr->out_dir) return es_errf(err, ES_ERR_ARG, "trainer: no checkpoint folder set");
    char name[64], dir[4096], path[4096];
    bool already = false;
    es_status s = es_ckpt_begin(tr->out_dir, tr->step, name, sizeof name, dir, sizeof dir,
                                &already, err);
    if (s || already) return s;
    if ((s = es_byte_model_save_dir(tr->m, dir, err))) return s;
    es_ckpt_state st;
    memset(&st, 0, sizeof st);
    if ((s = es_path_join(path, sizeof path, dir, ES_CKPT_MODEL_FILE, err)) ||
        (s = es_ckpt_file_checksum(path, &st.model_checksum, err)))
        return s;
    st.step = tr->step;
    st.epoch = tr->epoch;
    st.data_pos = tr->pos;
    st.adam_t = tr->opt.t;
    memcpy(st.rng, tr->rng.s, sizeof st.rng);
    st.config_hash = tr->cfg_hash;
    es_ckpt_moments reg = {es_byte_model_params(tr->m), tr->opt.m, tr->opt.v};
    /* Data parallelism adds "world_size" and, per rank r >= 1, "rng_rank<r>"
     * = its four state words as 64 hex digits (rank 0's are rng0..3). */
    size_t n_extra = rng_all && tr->world > 1 ? (size_t)tr->world : 0;
    const char **kv = es_calloc(2 * (n_extra ? n_extra : 1), sizeof *kv);
    char (*xv)[2][80] = es_calloc(n_extra ? n_extra : 1, sizeof *xv);
    if (!kv || !xv) s = es_errf(err, ES_ERR_NOMEM, "checkpoint: out of memory");
    for (size_t r = 0; !s && r < n_extra; r++) {
        if (r == 0) {
            snprintf(xv[0][0], 80, "world_size");
            snprintf(xv[0][1], 80, "%d", tr->world);
        } else {
            const uint64_t *q = rng_all + 4 * r;
            snprintf(xv[r][0], 80, "rng_rank%zu", r);
            snprintf(xv[r][1], 80, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
                     q[0], q[1], q[2], q[3]);
        }
        kv[2 * r] = xv[r][0];
        kv[2 * r + 1] = xv[r][1];
    }
    if (!s) s = es_path_join(path, sizeof path, dir, ES_CKPT_STATE_FILE, err);
    if (!s) s = es_ckpt_write_state(path, &st, &reg, 1, kv, n_extra, err);
    es_free(kv);
    es_free(xv);
    if (s) return s;
    /* the folder is complete and durable: publish it */
    return es_ckpt_publish(tr->out_dir, name, tr->p.keep_checkpoints, err);
}

static void rank_rng(es_rng *out, const es_rng *base, int rank);
static es_status resume_rngs(const es_weights *w, const es_trainer *tr, const uint64_t rng0[4],
                             uint64_t *rng_all, const char *path, es_error *err);

/* Loads the checkpoint into this process. rng_all (world, 4), when not
 * NULL, receives every rank's RNG state (see resume_rngs). */
static es_status resume_local(es_trainer *tr, const char *dir_in, uint64_t *rng_all,
                              es_error *err) {
    const char *root = dir_in ? dir_in : tr->out_dir;
    if (!root) return es_errf(err, ES_ERR_ARG, "trainer resume: no checkpoint folder");
    char name[256], dir[4096], path[4096];
    es_status s = es_ckpt_read_pointer(root, name, sizeof name, err);
    if (s) return s;
    if ((s = es_path_join(dir, sizeof dir, root, name, err))) return s;
    /* 1. the model folder, loaded on the side */
    es_byte_model *nm = NULL;
    if ((s = es_byte_model_load_dir(&nm, dir, err))) return s == ES_ERR_IO ? s : ES_ERR_FORMAT;
    char *j1 = NULL, *j2 = NULL;
    s = es_byte_config_to_json(es_byte_model_config(nm), &j1, err);
    if (!s) s = es_byte_config_to_json(es_byte_model_config(tr->m), &j2, err);
    if (!s && strcmp(j1, j2) != 0)
        s = es_errf(err, ES_ERR_FORMAT, "%s/config.json: model config differs from the model being trained", dir);
    es_free(j1);
    es_free(j2);
    /* 2. the state file, into scratch moments */
    es_params *ps = es_byte_model_params(tr->m);
    float *mm = NULL, *vv = NULL;
    if (!s) {
        mm = es_malloc_aligned((ps->total ? ps->total : 1) * sizeof(float));
        vv = es_malloc_aligned((ps->total ? ps->total : 1) * sizeof(float));
        if (!mm || !vv) s = es_errf(err, ES_ERR_NOMEM, "resume: out of memory");
        else {
            memset(mm, 0, ps->total * sizeof(float));
            memset(vv, 0, ps->total * sizeof(float));
        }
    }
    es_weights *w = NULL;
    es_ckpt_state st;
    memset(&st, 0, sizeof st);
    es_ckpt_moments reg = {ps, mm, vv};
    if (!s) s = es_path_join(path, sizeof path, dir, ES_CKPT_STATE_FILE, err);
    if (!s) s = es_ckpt_read_state(path, &st, &reg, 1, &w, err);
    if (!s && st.config_hash != tr->cfg_hash)
        s = es_errf(err, ES_ERR_FORMAT, "%s: written with a different model config or training "
                    "parameters (config hash %016" PRIx64 ", now %016" PRIx64 ")", path,
                    st.config_hash, tr->cfg_hash);
    char mpath[4096];
    uint64_t ck_file = 0;
    if (!s) s = es_path_join(mpath, sizeof mpath, dir, ES_CKPT_MODEL_FILE, err);
    if (!s) s = es_ckpt_file_checksum(mpath, &ck_file, err);
    if (!s && ck_file != st.model_checksum)
        s = es_errf(err, ES_ERR_FORMAT, "%s: checksum %016" PRIx64 " does not match the training "
                    "state (%016" PRIx64 "): model and state are from different saves", mpath,
                    ck_file, st.model_checksum);
    if (!s && rng_all) s = resume_rngs(w, tr, st.rng, rng_all, path, err);
    if (!s) {
        /* 3. everything checked: commit into the trainer */
        es_params *np = es_byte_model_params(nm);
        memcpy(ps->data, np->data, ps->total * sizeof(float));
        memcpy(tr->opt.m, mm, ps->total * sizeof(float));
        memcpy(tr->opt.v, vv, ps->total * sizeof(float));
        tr->opt.t = st.adam_t;
        tr->step = st.step;
        tr->epoch = st.epoch;
        tr->pos = st.data_pos;
        tr->perm_epoch = -1;
        for (int i = 0; i < 4; i++) tr->rng.s[i] = st.rng[i];
    }
    es_free_aligned(mm);
    es_free_aligned(vv);
    es_weights_free(w);
    es_byte_model_free(nm);
    return s;
}

/* ---- loop ------------------------------------------------------------------------ */

static es_status report(es_trainer *tr, int force, es_error *err) {
    if (!force && (tr->p.log_every <= 0 || tr->step % tr->p.log_every)) return ES_OK;
    if (!tr->progress && tr->world == 1) return ES_OK;
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
        pr.examples_per_s = (double)tr->rep_steps * tr->p.batch_size * tr->p.grad_accum * tr->world / dt;
        pr.bytes_per_s = tr->rep_bytes / dt;
    }
    pr.elapsed_s = t - tr->t_start;
    int64_t done = tr->step - tr->start_step;
    pr.eta_s = done > 0 ? pr.elapsed_s / (double)done * (double)(tr->p.max_steps - tr->step) : 0.0;
    tr->rep_loss = 0;
    tr->rep_steps = 0;
    tr->rep_bytes = 0;
    tr->t_rep = t;
    int stop = tr->progress ? tr->progress(tr->progress_user, &pr) : 0;
    if (tr->world > 1) {
        /* one rank's stop request (say its SIGINT flag) stops every rank
         * after this same step */
        double v = stop != 0;
        es_status s = es_dist_allreduce_f64(tr->dist, &v, 1, err);
        if (s) return s;
        stop = v > 0.0;
    }
    return stop ? ES_ERR_CANCELLED : ES_OK;
}

static es_status dist_agree_root(es_trainer *tr, es_status s, const char *what, es_error *err);

static es_status save_final(es_trainer *tr, es_error *err) {
    if (!tr->out_dir) return ES_OK;
    es_status s = es_trainer_save(tr, err);
    if (s) return s;
    if (tr->rank == 0) s = es_byte_model_save_dir(tr->m, tr->out_dir, err);
    return tr->world > 1 ? dist_agree_root(tr, s, "final model", err) : s;
}

static es_status dist_agree_all(es_trainer *tr, es_status s, const char *what, es_error *err);

/* The eval callback. With data parallelism every rank reaches this point
 * (a rank may have no callback, say when only rank 0 evaluates and writes
 * files) and all return the first failing rank's status. */
static es_status run_eval(es_trainer *tr, es_error *err) {
    es_status s = tr->eval ? tr->eval(tr->eval_user, tr, tr->step, err) : ES_OK;
    return tr->world > 1 ? dist_agree_all(tr, s, "eval callback", err) : s;
}

es_status es_trainer_run(es_trainer *tr, const es_example_source *train, es_error *err) {
    tr->t_start = tr->t_rep = now_s();
    tr->start_step = tr->step;
    es_status s = ES_OK;
    while (tr->step < tr->p.max_steps) {
        if ((s = es_trainer_step(tr, train, NULL, err))) return s;
        if ((s = report(tr, 0, err))) {
            if (s != ES_ERR_CANCELLED) return s;
            es_status s2 = save_final(tr, err);
            if (s2) return s2;
            return es_errf(err, ES_ERR_CANCELLED, "training stopped by the progress callback at step %" PRId64, tr->step);
        }
        if (tr->out_dir && tr->p.save_every > 0 && tr->step % tr->p.save_every == 0 &&
            tr->step < tr->p.max_steps)
            if ((s = es_trainer_save(tr, err))) return s;
        if (tr->p.eval_every > 0 && tr->step % tr->p.eval_every == 0 && tr->step < tr->p.max_steps)
            if ((s = run_eval(tr, err))) return s;
    }
    if ((s = run_eval(tr, err))) return s;
    return save_final(tr, err);
}

/* ---- evaluation -------------------------------------------------------------------- */

es_status es_trainer_predict(es_trainer *tr, const uint8_t *const *bytes, const size_t *lens,
                             size_t n, float *probs, es_error *err) {
    int V = es_byte_model_config(tr->m)->n_labels, B = tr->p.batch_size;
    size_t cut[256];
    if (B > 256) B = 256;
    for (size_t i0 = 0; i0 < n; i0 += (size_t)B) {
        int nb = (int)ES_MIN((size_t)B, n - i0);
        for (int b = 0; b < nb; b++)
            cut[b] = lens[i0 + b] > (size_t)tr->p.max_bytes ? (size_t)tr->p.max_bytes : lens[i0 + b];
        es_status s = es_byte_forward(tr->ws, tr->m, bytes + i0, cut, nb, 0, NULL, tr->logits, err);
        if (s) return s;
        for (int b = 0; b < nb; b++) {
            const float *x = tr->logits + (size_t)b * (size_t)V;
            float *p = probs + (i0 + (size_t)b) * (size_t)V;
            float mx = x[0];
            for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
            double z = 0.0;
            for (int v = 0; v < V; v++) z += exp((double)(x[v] - mx));
            for (int v = 0; v < V; v++) p[v] = (float)(exp((double)(x[v] - mx)) / z);
        }
    }
    return ES_OK;
}

es_status es_trainer_evaluate(es_trainer *tr, const es_example_source *src, double *loss,
                              double *accuracy, es_error *err) {
    int V = es_byte_model_config(tr->m)->n_labels, B = tr->p.batch_size;
    double tot = 0.0;
    size_t correct = 0;
    uint8_t **copies = NULL;
    es_status s = ES_OK;
    if (!src->array) {
        copies = es_calloc((size_t)B, sizeof *copies);
        if (!copies) return es_errf(err, ES_ERR_NOMEM, "evaluate: out of memory");
        for (int b = 0; b < B && !s; b++)
            if (!(copies[b] = es_malloc((size_t)tr->p.max_bytes)))
                s = es_errf(err, ES_ERR_NOMEM, "evaluate: out of memory");
    }
    for (size_t i0 = 0; i0 < src->n && !s; i0 += (size_t)B) {
        int nb = (int)ES_MIN((size_t)B, src->n - i0);
        for (int b = 0; b < nb && !s; b++) {
            es_example ex;
            s = get_example(src, i0 + (size_t)b, &ex, err);
            if (s) break;
            if (ex.label < 0 || ex.label >= V) {
                s = es_errf(err, ES_ERR_ARG, "example %zu: label %d outside [0, %d)", i0 + (size_t)b, (int)ex.label, V);
                break;
            }
            size_t n = ex.len > (size_t)tr->p.max_bytes ? (size_t)tr->p.max_bytes : ex.len;
            if (copies) {
                memcpy(copies[b], ex.bytes, n);
                tr->bptr[b] = copies[b];
            } else {
                tr->bptr[b] = ex.bytes;
            }
            tr->blen[b] = n;
            tr->blab[b] = ex.label;
        }
        if (!s) s = es_byte_forward(tr->ws, tr->m, tr->bptr, tr->blen, nb, 0, NULL, tr->logits, err);
        if (s) break;
        tot += es_softmax_ce(NULL, tr->logits, tr->blab, nb, V, -1, 1.0f, NULL, NULL);
        for (int b = 0; b < nb; b++) {
            const float *x = tr->logits + (size_t)b * (size_t)V;
            int am = 0;
            for (int v = 1; v < V; v++) am = x[v] > x[am] ? v : am;
            correct += am == tr->blab[b];
        }
    }
    if (copies) {
        for (int b = 0; b < B; b++) es_free(copies[b]);
        es_free(copies);
    }
    if (s) return s;
    if (loss) *loss = src->n ? tot / (double)src->n : 0.0;
    if (accuracy) *accuracy = src->n ? (double)correct / (double)src->n : 0.0;
    return ES_OK;
}

/* ---- data parallelism (docs/distributed.md) ----------------------------------------- */

/* Rank r's dropout/zoneout stream. Rank 0 keeps the single-process stream
 * (so a size-1 job is the plain trainer); other ranks get a stream seeded
 * from rank 0's state and r through splitmix64 (es_rng_seed): independent
 * masks per rank, reproducible from one state. Arithmetic only, so every
 * machine derives the same stream whatever its byte order. */
static void rank_rng(es_rng *out, const es_rng *base, int rank) {
    if (rank == 0) {
        *out = *base;
        return;
    }
    const uint64_t *q = base->s;
    uint64_t x = q[0] ^ (q[1] << 13 | q[1] >> 51) ^ (q[2] << 29 | q[2] >> 35) ^
                 (q[3] << 43 | q[3] >> 21) ^ ((uint64_t)rank * 0x9e3779b97f4a7c15ull);
    es_rng_seed(out, x);
}

/* Every rank's RNG state for a resume: from "rng_rank<r>" when the
 * checkpoint was written by a job of the same size (bit-identical resume
 * with dropout), else derived from rank 0's state (rank_rng): resuming
 * under another process count is deterministic but draws other masks. */
static es_status resume_rngs(const es_weights *w, const es_trainer *tr, const uint64_t rng0[4],
                             uint64_t *rng_all, const char *path, es_error *err) {
    es_rng base;
    memcpy(base.s, rng0, sizeof base.s);
    memcpy(rng_all, rng0, 4 * sizeof *rng_all);
    const char *ws = es_weights_get_meta(w, "world_size");
    int same = ws && strtol(ws, NULL, 10) == tr->world;
    for (int r = 1; r < tr->world; r++) {
        uint64_t *q = rng_all + 4 * (size_t)r;
        if (!same) {
            es_rng t;
            rank_rng(&t, &base, r);
            memcpy(q, t.s, sizeof t.s);
            continue;
        }
        char key[32], part[17];
        snprintf(key, sizeof key, "rng_rank%d", r);
        const char *v = es_weights_get_meta(w, key);
        if (!v || strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64)
            return es_errf(err, ES_ERR_FORMAT, "%s: metadata '%s' missing or not 64 hex digits", path, key);
        for (int i = 0; i < 4; i++) {
            memcpy(part, v + 16 * i, 16);
            part[16] = 0;
            q[i] = strtoull(part, NULL, 16);
        }
    }
    return ES_OK;
}

/* Rank 0 did something alone (wrote or read files): every rank returns
 * its outcome. Rank 0 keeps its own message; the others name rank 0. */
static es_status dist_agree_root(es_trainer *tr, es_status s, const char *what, es_error *err) {
    int32_t code = (int32_t)s;
    es_status s2 = es_dist_bcast(tr->dist, &code, sizeof code, 0, err);
    if (s2) return s2;
    if (tr->rank == 0 || code == ES_OK) return s;
    return es_errf(err, (es_status)code, "%s failed on rank 0 (%s; see its message)", what,
                   es_status_str((es_status)code));
}

/* Every rank did something that may fail (a callback): all return the
 * first failing rank's status; that rank keeps its own message. */
static es_status dist_agree_all(es_trainer *tr, es_status s, const char *what, es_error *err) {
    double *v = tr->sync, *st = v + SYNC_HEAD;
    memset(v, 0, (SYNC_HEAD + 2 * (size_t)tr->world) * sizeof *v);
    st[tr->rank] = (double)s;
    es_status s2 = es_dist_allreduce_f64(tr->dist, v, SYNC_HEAD + 2 * (size_t)tr->world, err);
    if (s2) return s2;
    for (int r = 0; r < tr->world; r++) {
        if (st[r] == 0.0) continue;
        if (r == tr->rank) return s;
        return es_errf(err, (es_status)st[r], "%s failed on rank %d at step %" PRId64 " (%s; see its message)",
                       what, r, tr->step, es_status_str((es_status)st[r]));
    }
    return ES_OK;
}

/* The one collective of a step before the gradient sum (sum of a buffer
 * where each rank fills its own slots, i.e. an all-gather). Every rank
 * learns the same things: whether any rank failed (all return the first
 * failing rank's code; none waits forever in the gradient all-reduce) and
 * whether all sources have the same size (sizes < 2^53 are exact). */
static es_status dist_step_sync(es_trainer *tr, es_status s, size_t n, double *total,
                                double *bytes, es_error *err) {
    double *v = tr->sync, *st = v + SYNC_HEAD;
    int W = tr->world;
    double *ns = st + W;
    memset(v, 0, (SYNC_HEAD + 2 * (size_t)W) * sizeof *v);
    v[0] = s ? 0.0 : *total;
    v[1] = *bytes;
    st[tr->rank] = (double)s;
    ns[tr->rank] = (double)n;
    es_status s2 = es_dist_allreduce_f64(tr->dist, v, SYNC_HEAD + 2 * (size_t)W, err);
    if (s2) return s2;
    for (int r = 0; r < W; r++) {
        if (st[r] == 0.0) continue;
        if (r == tr->rank) return s;
        return es_errf(err, (es_status)st[r], "trainer: rank %d failed at step %" PRId64 " (%s; see its message)",
                       r, tr->step + 1, es_status_str((es_status)st[r]));
    }
    for (int r = 1; r < W; r++)
        if (ns[r] != ns[0])
            return es_errf(err, ES_ERR_ARG, "trainer: ranks have training sets of different sizes "
                           "(rank 0 %.0f, rank %d %.0f examples); every rank needs the whole set",
                           ns[0], r, ns[r]);
    *total = v[0];
    *bytes = v[1];
    return ES_OK;
}

es_status es_trainer_set_dist(es_trainer *tr, es_dist *d, es_error *err) {
    if (!d) return es_errf(err, ES_ERR_ARG, "trainer: NULL communicator");
    if (tr->dist || tr->step != 0 || tr->opt.t != 0)
        return es_errf(err, ES_ERR_ARG, "trainer: es_trainer_set_dist must come once, before the first step or resume");
    int W = es_dist_size(d), R = es_dist_rank(d);
    if (W == 1) {
        tr->dist = d;
        return ES_OK;
    }
    /* 1. every rank trains the same model with the same params: compare
     *    each rank's config hash (computed with the global batch) to
     *    rank 0's; agree on that and on local allocations in one sum */
    es_status s = ES_OK;
    double bad[3] = {0, 0, 0}; /* params differ, batch overflow, out of memory */
    uint64_t h = 0, h0 = 0;
    int64_t gb = (int64_t)tr->p.batch_size * tr->p.grad_accum * W;
    if (gb > INT32_MAX) bad[1] = 1;
    int old_world = tr->world;
    tr->world = W;
    if (!bad[1] && (s = config_hash(tr, &h, err))) bad[2] = 1;
    tr->world = old_world;
    h0 = h;
    if ((s = es_dist_bcast(d, &h0, sizeof h0, 0, err))) return s;
    if (!bad[1] && !bad[2] && h != h0) bad[0] = 1;
    uint64_t *rng_all = es_calloc(4 * (size_t)W, sizeof *rng_all);
    double *sync = es_calloc(SYNC_HEAD + 2 * (size_t)W, sizeof *sync);
    if (!rng_all || !sync) bad[2] = 1;
    if ((s = es_dist_allreduce_f64(d, bad, 3, err))) {
        es_free(rng_all);
        es_free(sync);
        return s;
    }
    if (bad[0] || bad[1] || bad[2]) {
        es_free(rng_all);
        es_free(sync);
        if (bad[2]) return es_errf(err, ES_ERR_NOMEM, "trainer: out of memory on %g of %d ranks", bad[2], W);
        if (bad[1]) return es_errf(err, ES_ERR_ARG, "trainer: global batch %d x %d x %d ranks overflows",
                                   tr->p.batch_size, tr->p.grad_accum, W);
        return es_errf(err, ES_ERR_ARG, "trainer: %g of %d ranks have another model config or training "
                       "parameters than rank 0 (config hash %016" PRIx64 " here, %016" PRIx64 " on rank 0)",
                       bad[0], W, h, h0);
    }
    /* 2. replicas start equal: rank 0's parameters everywhere (as
     *    PyTorch DDP does at construction) */
    es_params *ps = es_byte_model_params(tr->m);
    if ((s = es_dist_bcast(d, ps->data, ps->total * sizeof(float), 0, err))) {
        es_free(rng_all);
        es_free(sync);
        return s;
    }
    tr->dist = d;
    tr->world = W;
    tr->rank = R;
    tr->rng_all = rng_all;
    tr->sync = sync;
    tr->cfg_hash = h;
    es_rng base = tr->rng;
    rank_rng(&tr->rng, &base, R);
    return ES_OK;
}

es_status es_trainer_save(es_trainer *tr, es_error *err) {
    if (tr->world == 1) return save_local(tr, NULL, err);
    /* rank 0 writes every rank's RNG state so a same-size resume is exact */
    es_status s = es_dist_allgather(tr->dist, tr->rng.s, sizeof tr->rng.s, tr->rng_all, err);
    if (s) return s;
    if (tr->rank == 0) s = save_local(tr, tr->rng_all, err);
    return dist_agree_root(tr, s, "checkpoint", err);
}

es_status es_trainer_resume(es_trainer *tr, const char *dir, es_error *err) {
    if (tr->world == 1) return resume_local(tr, dir, NULL, err);
    /* rank 0 reads and checks (only it needs the folder), then sends the
     * state; on failure nothing changes anywhere */
    es_status s = tr->rank == 0 ? resume_local(tr, dir, tr->rng_all, err) : ES_OK;
    if ((s = dist_agree_root(tr, s, "resume", err))) return s;
    es_params *ps = es_byte_model_params(tr->m);
    int64_t hdr[4] = {tr->opt.t, tr->step, tr->epoch, (int64_t)tr->pos};
    size_t nb = ps->total * sizeof(float);
    if ((s = es_dist_bcast(tr->dist, ps->data, nb, 0, err)) ||
        (s = es_dist_bcast(tr->dist, tr->opt.m, nb, 0, err)) ||
        (s = es_dist_bcast(tr->dist, tr->opt.v, nb, 0, err)) ||
        (s = es_dist_bcast(tr->dist, hdr, sizeof hdr, 0, err)) ||
        (s = es_dist_bcast(tr->dist, tr->rng_all, 4 * (size_t)tr->world * sizeof *tr->rng_all, 0, err)))
        return s;
    tr->opt.t = hdr[0];
    tr->step = hdr[1];
    tr->epoch = hdr[2];
    tr->pos = (size_t)hdr[3];
    tr->perm_epoch = -1;
    memcpy(tr->rng.s, tr->rng_all + 4 * (size_t)tr->rank, sizeof tr->rng.s);
    return ES_OK;
}
