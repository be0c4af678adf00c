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

#include "model/model_internal.h"
#include "train/t5_data.h"
#include "train/t5_loop.h"
#include "train/t5_state.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct ft {
    const es_t5_ft_params *p;
    es_model *m;
    es_t5_trainable t;
    es_t5_dataset train, dev;
    es_t5_plan plan, dev_plan;
    es_t5_batch_buf bb;
    es_t5_tws *ws;
    es_pool *pool;
    es_t5_run run;           /* optimizer, RNG, step, best, curves (t5_loop.h) */
    float dropout;
    int64_t epoch;
    size_t pos;              /* next batch index (into plan.perm) within the epoch */
    uint64_t data_hash;      /* FNV-1a of the training ids and the batch size */
    char v_epoch[32], v_pos[32], v_hash[24]; /* checkpoint metadata values */
    es_t5_ft_progress_fn fn;
    void *user;
    es_t5_ft_progress pr;
} ft;

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

/* Fingerprint of what the data position (epoch, batch_pos) refers to: the
 * tokenized training examples in file order and the batch size. */
static uint64_t data_fingerprint(const es_t5_dataset *d, int batch) {
    uint64_t h = 0xcbf29ce484222325ull;
#define MIX(x)                                                                           \
    do {                                                                                 \
        uint64_t v_ = (uint64_t)(x);                                                     \
        for (int k_ = 0; k_ < 8; k_++, v_ >>= 8) h = (h ^ (v_ & 0xff)) * 0x100000001b3ull; \
    } while (0)
    MIX(batch);
    MIX(d->n);
    for (size_t i = 0; i < d->n; i++) {
        const es_t5_example *e = &d->ex[i];
        MIX(e->n_src);
        for (int t = 0; t < e->n_src; t++) MIX(e->src[t]);
        MIX(e->n_tgt);
        for (int t = 0; t < e->n_tgt; t++) MIX(e->tgt[t]);
    }
#undef MIX
    return h;
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
    /* The trainable copy holds every weight and the data are tokenized: the
     * loaded model (a second copy of the weights) is not needed any more. */
    es_model_free(f->m);
    f->m = NULL;
    f->dropout = p->dropout >= 0.0f ? p->dropout : config_dropout(p->model_dir);
    if (!(f->dropout >= 0.0f && f->dropout < 1.0f))
        return es_errf(err, ES_ERR_ARG, "dropout %g outside [0, 1)", (double)f->dropout);
    const int B = p->tp.batch_size;
    int S = ES_MAX(f->train.max_src, f->dev.max_src), T = ES_MAX(f->train.max_tgt, f->dev.max_tgt);
    if ((s = es_t5_plan_init(&f->plan, &f->train, B, err))) return s;
    f->data_hash = data_fingerprint(&f->train, B);
    if (f->dev.n && (s = es_t5_plan_init(&f->dev_plan, &f->dev, B, err))) return s;
    if ((s = es_pool_new(&f->pool, p->tp.n_threads, err))) return s;
    if ((s = es_t5_batch_buf_init(&f->bb, B, S, T, err))) return s;
    if ((s = es_t5_tws_new(&f->ws, &f->t.cfg, f->pool, B, S, T, f->dropout > 0.0f, err))) return s;
    es_t5_run_cfg rc;
    memset(&rc, 0, sizeof rc);
    rc.out_dir = p->out_dir;
    rc.src_dir = p->model_dir;
    rc.adamw = p->optimizer == ES_T5_OPT_ADAMW;
    rc.beta1 = p->tp.beta1;
    rc.beta2 = p->tp.beta2;
    rc.eps = p->tp.eps;
    rc.weight_decay = p->tp.weight_decay;
    rc.afp = es_adafactor_params_default();
    rc.afp.relative_step = p->adafactor_relative;
    rc.afp.scale_parameter = p->adafactor_relative;
    rc.afp.weight_decay = p->tp.weight_decay;
    rc.afp.lr = p->tp.lr;
    rc.clip_norm = p->tp.clip_norm;
    rc.rng_seed = p->tp.seed ^ 0xd20u;
    rc.dev_column = "dev_loss";
    rc.title = "edgeseq finetune";
    rc.dev_label = "dev loss";
    rc.panel = "loss";
    return es_t5_run_init(&f->run, &f->t, &rc, err);
}

/* ---- steps ---------------------------------------------------------------------- */

static es_status dev_loss(void *user, double *out, es_error *err) {
    ft *f = user;
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

static es_status train_step(void *user, double *loss, double *gnorm, float *lr, es_error *err) {
    ft *f = user;
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
                                                   &f->run.rng, 1.0f / (float)tokens, &ls, &nt, err);
        if (s) return s;
        sum += ls;
    }
    *loss = sum / (double)tokens;
    *lr = es_t5_run_update(&f->run, es_lr_at(&f->p->tp, f->run.step + 1), gnorm);
    return ES_OK;
}

/* checkpoint metadata of the data position */
static size_t ckpt_meta(void *user, const char **kv, size_t cap) {
    ft *f = user;
    if (cap < 3) return 0;
    snprintf(f->v_epoch, sizeof f->v_epoch, "%" PRId64, f->epoch);
    snprintf(f->v_pos, sizeof f->v_pos, "%zu", f->pos);
    snprintf(f->v_hash, sizeof f->v_hash, "%016" PRIx64, f->data_hash);
    kv[0] = "epoch";
    kv[1] = f->v_epoch;
    kv[2] = "batch_pos";
    kv[3] = f->v_pos;
    kv[4] = "data_hash";
    kv[5] = f->v_hash;
    return 3;
}

static es_status resume_meta(void *user, const es_weights *opt, const char *dir, es_error *err) {
    ft *f = user;
    /* data_hash is absent from checkpoints of older versions: not checked then */
    const char *vh = es_weights_get_meta(opt, "data_hash");
    char hash[24];
    snprintf(hash, sizeof hash, "%016" PRIx64, f->data_hash);
    if (vh && strcmp(vh, hash) != 0)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: checkpoint does not match this run (written for other training data or "
                       "batch size: data hash %s vs %s)",
                       dir, vh, hash);
    const char *ve = es_weights_get_meta(opt, "epoch"), *vp = es_weights_get_meta(opt, "batch_pos");
    char *e1 = NULL, *e2 = NULL;
    long long epoch = ve ? strtoll(ve, &e1, 10) : -1, pos = vp ? strtoll(vp, &e2, 10) : -1;
    if (!ve || !vp || !*ve || !*vp || *e1 || *e2 || epoch < 0 || pos < 0 ||
        (size_t)pos > f->plan.n_batches)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: checkpoint does not match this run (data position epoch %s, batch %s of "
                       "%zu batches; other training data or batch size?)",
                       dir, ve ? ve : "?", vp ? vp : "?", f->plan.n_batches);
    f->epoch = epoch;
    f->pos = (size_t)pos;
    es_t5_plan_epoch(&f->plan, f->p->tp.seed, f->epoch);
    return ES_OK;
}

static int report(void *user, const es_t5_loop_report *r) {
    ft *f = user;
    es_t5_ft_progress *pr = &f->pr;
    pr->event = r->event;
    pr->step = r->step;
    pr->epoch = f->epoch;
    pr->train_loss = r->train_loss;
    pr->dev_loss = r->dev_loss;
    pr->best_dev = r->best_dev;
    pr->lr = r->lr;
    pr->grad_norm = r->grad_norm;
    pr->elapsed_s = r->elapsed_s;
    pr->eta_s = r->eta_s;
    pr->tokens_per_s = NAN;
    return f->fn ? f->fn(f->user, pr) : 0;
}

static void ft_free(ft *f) {
    es_t5_run_free(&f->run);
    es_t5_tws_free(f->ws);
    es_t5_batch_buf_free(&f->bb);
    es_pool_free(f->pool);
    es_t5_plan_free(&f->plan);
    es_t5_plan_free(&f->dev_plan);
    es_t5_dataset_free(&f->train);
    es_t5_dataset_free(&f->dev);
    es_t5_trainable_free(&f->t);
    es_model_free(f->m);
}

es_status es_t5_finetune(const es_t5_ft_params *p, es_t5_ft_progress_fn fn, void *user,
                         es_error *err) {
    if (!p->model_dir || !p->train_path || !p->out_dir)
        return es_errf(err, ES_ERR_ARG, "finetune: model, train file and output folder are required");
    if (p->tp.batch_size < 1 || p->tp.grad_accum < 1 || p->tp.grad_accum > 64 || p->tp.max_steps < 1)
        return es_errf(err, ES_ERR_ARG, "finetune: batch >= 1, 1 <= accumulation <= 64, steps >= 1");
    ft *f = es_calloc(1, sizeof *f);
    if (!f) return es_errf(err, ES_ERR_NOMEM, "finetune: state");
    f->p = p;
    f->fn = fn;
    f->user = user;
    /* everything that can fail on the inputs happens before OUT is touched */
    es_status s = setup(f, err);
    if (!s) s = es_t5_mkdir(p->out_dir, err);
    es_t5_ft_progress *pr = &f->pr;
    pr->max_steps = p->tp.max_steps;
    pr->dev_loss = NAN;
    pr->best_dev = INFINITY;
    pr->n_train = f->train.n;
    pr->n_dev = f->dev.n;
    pr->n_skipped = f->train.n_skipped + f->dev.n_skipped;
    if (!s && fn) {
        pr->event = 4;
        pr->note = f->train.n_skipped ? f->train.first_skip : f->dev.n_skipped ? f->dev.first_skip : NULL;
        fn(user, pr);
        pr->note = NULL;
    }
    int resumed = 0;
    if (!s && p->resume) s = es_t5_run_resume(&f->run, &resumed, resume_meta, f, err);
    if (!s && resumed) {
        pr->step = f->run.step;
        pr->best_dev = f->run.best_dev;
        pr->event = 3;
        if (fn) fn(user, pr);
    }
    es_t5_loop lp = {.max_steps = p->tp.max_steps, .log_every = p->tp.log_every,
                     .eval_every = p->tp.eval_every, .save_every = p->tp.save_every,
                     .user = f, .step = train_step, .eval = f->dev.n ? dev_loss : NULL,
                     .meta = ckpt_meta, .report = report};
    if (!s) s = es_t5_run_loop(&f->run, &lp, err);
    ft_free(f);
    es_free(f);
    return s;
}
