/*
 * t5_pretrain.c — T5 span-corruption pretraining (contract, data rules and
 * folder layout in t5_pretrain.h; the objective in span_corruption.h).
 *
 * Data: every input file is cut into "documents": paragraphs (blank-line
 * separated), and paragraphs longer than DOC_MIN bytes are further cut at
 * the first sentence end (". ", "? ", "! ") after DOC_MIN bytes — the SOTU
 * files are one line per speech, so whole speeches would make the 1% split
 * a lottery of 2-3 speeches. Each document is tokenized on its own (no
 * BOS/EOS) and appended to its split's stream with no separator (T5's
 * reduce_concat_tokens); the stream is cut into chunks of raw_len tokens
 * (remainder dropped). Training row r of epoch e is chunk perm_e[r], its
 * mask drawn from an RNG seeded by (seed, e, chunk); validation masks are
 * seeded by the chunk alone. Nothing random lives outside (seed, step), so
 * resume needs only the step and the optimizer state.
 *
 * One step = `batch` rows, token-mean cross entropy over every target
 * token (all rows have the same lengths: no padding, no -100 labels).
 * The forward/backward, optimizers and checkpoint format are the
 * fine-tuning machinery's (nn/t5_train.h, adafactor.h, optim.h,
 * t5_state.h; optim.safetensors as in t5_finetune.h).
 */
#include "train/t5_pretrain.h"

#include "io/fileio.h"
#include "model/model_internal.h"
#include "model/t5_init.h"
#include "train/span_corruption.h"
#include "train/t5_loop.h"
#include "train/t5_state.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DOC_MIN 1000
/* mask seed of validation chunk i (fixed across evaluations and runs) */
#define VAL_SEED(i) mix(0x7a1u, (uint64_t)(i))

es_t5_pt_params es_t5_pt_params_default(void) {
    es_t5_pt_params p;
    memset(&p, 0, sizeof p);
    p.init_name = "t5-efficient-tiny";
    p.input_len = 128;
    p.density = 0.15;
    p.mean_span = 3.0;
    p.batch = 16;
    p.steps = 1000;
    p.lr = 0.01f;
    p.warmup = 10000;
    p.eval_every = 100;
    p.save_every = 100;
    p.log_every = 10;
    p.max_val_rows = 0;
    p.seed = 1;
    return p;
}

uint64_t es_t5_pt_doc_hash(const char *text, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)text[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int es_t5_pt_is_val(const char *text, size_t len) { return es_t5_pt_doc_hash(text, len) % 100 == 0; }

/* ---- id streams ------------------------------------------------------------------ */

typedef struct ids_vec {
    int32_t *v;
    size_t n, cap;
} ids_vec;

static es_status ids_push(ids_vec *s, const es_token *t, size_t n, es_error *err) {
    if (s->n + n > s->cap) {
        size_t nc = s->cap ? s->cap : 1 << 16;
        while (nc < s->n + n) nc *= 2;
        int32_t *nv = es_realloc(s->v, nc * sizeof *nv);
        if (!nv) return es_errf(err, ES_ERR_NOMEM, "pretrain: token stream of %zu ids", nc);
        s->v = nv;
        s->cap = nc;
    }
    for (size_t i = 0; i < n; i++) s->v[s->n + i] = t[i].id;
    s->n += n;
    return ES_OK;
}

typedef struct corpus {
    ids_vec train, val;
    size_t n_docs, n_val_docs;
    es_token *toks;
    size_t toks_cap;
} corpus;

static es_status add_doc(corpus *c, const es_tokenizer *tok, const char *txt, size_t len,
                         const char *path, es_error *err) {
    while (len && (txt[len - 1] == ' ' || txt[len - 1] == '\n' || txt[len - 1] == '\r' ||
                   txt[len - 1] == '\t'))
        len--;
    while (len && (*txt == ' ' || *txt == '\n' || *txt == '\r' || *txt == '\t')) {
        txt++;
        len--;
    }
    if (!len) return ES_OK;
    size_t n = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        es_status s = es_tokenizer_encode(tok, txt, len, c->toks, c->toks_cap, &n, NULL, 0, NULL, err);
        if (s == ES_OK) break;
        if (s != ES_ERR_BUFFER || attempt) return es_errf(err, s, "%s: %s", path, err->msg);
        es_token *nt = es_realloc(c->toks, (n + 64) * sizeof *nt);
        if (!nt) return es_errf(err, ES_ERR_NOMEM, "%s: %zu tokens", path, n);
        c->toks = nt;
        c->toks_cap = n + 64;
    }
    const int val = es_t5_pt_is_val(txt, len);
    c->n_docs++;
    c->n_val_docs += (size_t)val;
    return ids_push(val ? &c->val : &c->train, c->toks, n, err);
}

/* Splits one file's text into documents (see the top of the file). */
static es_status add_file(corpus *c, const es_tokenizer *tok, const char *path, es_error *err) {
    void *buf = NULL;
    size_t len = 0;
    es_status s = es_read_file(path, &buf, &len, (size_t)1 << 30, err);
    if (s) return s;
    const char *t = buf;
    size_t a = 0, i = 0;
    while (!s && i < len) {
        /* paragraph break: newline, optional spaces, newline */
        if (t[i] == '\n') {
            size_t j = i + 1;
            while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r')) j++;
            if (j < len && t[j] == '\n') {
                s = add_doc(c, tok, t + a, i - a, path, err);
                a = i = j + 1;
                continue;
            }
        }
        if (i - a >= DOC_MIN && i + 1 < len && t[i + 1] == ' ' &&
            (t[i] == '.' || t[i] == '?' || t[i] == '!')) {
            s = add_doc(c, tok, t + a, i + 1 - a, path, err);
            a = i + 2;
            i = a;
            continue;
        }
        i++;
    }
    if (!s && a < len) s = add_doc(c, tok, t + a, len - a, path, err);
    es_free(buf);
    return s;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder contributes its *.txt files in name order. */
static es_status add_input(corpus *c, const es_tokenizer *tok, const char *in, es_error *err) {
    if (!es_is_dir(in)) {
        if (!es_is_regular_file(in)) return es_errf(err, ES_ERR_IO, "%s: no such file or folder", in);
        return add_file(c, tok, in, err);
    }
    DIR *d = opendir(in);
    if (!d) return es_errf(err, ES_ERR_IO, "%s: cannot open folder: %s", in, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    es_status s = ES_OK;
    struct dirent *e;
    while (!s && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = es_realloc(names, cap * sizeof *nn);
            if (!nn) {
                s = es_errf(err, ES_ERR_NOMEM, "%s: file list", in);
                break;
            }
            names = nn;
        }
        char *p = es_malloc(strlen(in) + l + 2);
        if (!p) {
            s = es_errf(err, ES_ERR_NOMEM, "%s: file list", in);
            break;
        }
        sprintf(p, "%s/%s", in, e->d_name);
        names[n++] = p;
    }
    closedir(d);
    if (!s) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !s; i++)
        if (es_is_regular_file(names[i])) s = add_file(c, tok, names[i], err);
    for (size_t i = 0; i < n; i++) es_free(names[i]);
    es_free(names);
    if (!s && n == 0) s = es_errf(err, ES_ERR_IO, "%s: folder has no .txt files", in);
    return s;
}

/* ---- run state ------------------------------------------------------------------- */

typedef struct pt {
    const es_t5_pt_params *p;
    char src_dir[4096];        /* model folder the run started from (tokenizer files) */
    es_model *m;
    es_t5_trainable t;
    corpus c;
    int raw_len, in_len, tgt_len;
    size_t n_train_rows, n_val_rows;
    size_t *perm;              /* (n_train_rows) order of the current epoch */
    int64_t perm_epoch;
    int32_t *ids, *mask, *dec_in, *labels; /* (B, S) / (B, T) */
    int32_t *row_in, *row_tgt; /* (raw_len + 1) */
    unsigned char *noise;      /* (raw_len) */
    es_span_scratch sc;
    int32_t sentinel0, eos, pad, start;
    es_t5_tws *ws;
    es_pool *pool;
    es_t5_run run;             /* optimizer, RNG, step, best, curves (t5_loop.h) */
    char v_seed[32], v_raw[16]; /* checkpoint metadata values */
    es_t5_pt_progress_fn fn;
    void *user;
    es_t5_pt_progress pr;
} pt;

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static es_status setup_model(pt *f, int with_grad, es_error *err) {
    const es_t5_pt_params *p = f->p;
    es_status s;
    if (p->model_dir) {
        snprintf(f->src_dir, sizeof f->src_dir, "%s", p->model_dir);
    } else {
        if (!p->spm_path)
            return es_errf(err, ES_ERR_ARG, "pretrain: a random init needs a SentencePiece model (--spm)");
        if ((s = es_path_join(f->src_dir, sizeof f->src_dir, p->out_dir, "init", err))) return s;
        char cfg[4096];
        if ((s = es_path_join(cfg, sizeof cfg, f->src_dir, "config.json", err))) return s;
        if (!es_is_regular_file(cfg)) {
            es_t5_hparams h;
            if ((s = es_t5_efficient_hparams(&h, p->init_name, err))) return s;
            h.dropout_rate = p->dropout;
            es_t5_init_params ip = es_t5_init_params_default();
            ip.seed = p->seed;
            ip.spm_path = p->spm_path;
            ip.name = p->init_name;
            ip.force = 1;
            ip.n_threads = p->n_threads;
            if ((s = es_t5_init_write(f->src_dir, &h, &ip, err))) return s;
        }
    }
    if ((s = es_model_load(&f->m, f->src_dir, NULL, err))) return s;
    const es_tokenizer *tok = es_model_tokenizer(f->m);
    if (!tok) return es_errf(err, ES_ERR_ARG, "%s: no spiece.model (pretraining needs the tokenizer)", f->src_dir);
    if ((s = es_t5_trainable_init(&f->t, f->m, with_grad, err))) return s;
    const int32_t tv = es_tokenizer_vocab_size(tok);
    f->sentinel0 = tv - 1; /* <extra_id_0> */
    f->eos = es_tokenizer_eos_id(tok);
    f->pad = f->t.cfg.pad_id;
    f->start = f->t.cfg.start_id;
    if (tv > f->t.cfg.vocab || strncmp(es_tokenizer_piece(tok, f->sentinel0), "<extra_id_0>", 12) != 0)
        return es_errf(err, ES_ERR_ARG,
                       "%s: tokenizer (%d ids, last '%s') has no <extra_id_0> inside the model vocabulary %d",
                       f->src_dir, tv, es_tokenizer_piece(tok, f->sentinel0), f->t.cfg.vocab);
    return ES_OK;
}

/* Lengths, the token streams of both splits, and one row's buffers. */
static es_status setup_data(pt *f, es_error *err) {
    const es_t5_pt_params *p = f->p;
    es_status s = es_span_raw_length(p->input_len, p->density, p->mean_span, &f->raw_len, &f->tgt_len, err);
    if (s) return s;
    es_span_counts cnt;
    if ((s = es_span_counts_for(&cnt, f->raw_len, p->density, p->mean_span, err))) return s;
    f->in_len = cnt.input_len;
    if (cnt.target_len != f->tgt_len)
        return es_errf(err, ES_ERR_ARG, "pretrain: target length %d vs %d (degenerate settings)",
                       cnt.target_len, f->tgt_len);
    const es_tokenizer *tok = es_model_tokenizer(f->m);
    for (int i = 0; i < p->n_inputs && !s; i++) s = add_input(&f->c, tok, p->inputs[i], err);
    if (s) return s;
    f->n_train_rows = f->c.train.n / (size_t)f->raw_len;
    f->n_val_rows = f->c.val.n / (size_t)f->raw_len;
    if (p->max_val_rows > 0 && f->n_val_rows > (size_t)p->max_val_rows) f->n_val_rows = (size_t)p->max_val_rows;
    if (f->n_val_rows < 1)
        return es_errf(err, ES_ERR_ARG,
                       "pretrain: too little text: no validation chunk of %d tokens (%zu held-out "
                       "tokens in %zu of %zu documents)",
                       f->raw_len, f->c.val.n, f->c.n_val_docs, f->c.n_docs);
    f->row_in = es_malloc(((size_t)f->raw_len + 1) * sizeof(int32_t));
    f->row_tgt = es_malloc(((size_t)f->raw_len + 1) * sizeof(int32_t));
    f->noise = es_malloc((size_t)f->raw_len);
    if (!f->row_in || !f->row_tgt || !f->noise) return es_errf(err, ES_ERR_NOMEM, "pretrain: row buffers");
    return es_span_scratch_init(&f->sc, f->raw_len, err);
}

static es_status setup(pt *f, es_error *err) {
    const es_t5_pt_params *p = f->p;
    if (p->n_inputs < 1 || !p->out_dir)
        return es_errf(err, ES_ERR_ARG, "pretrain: text inputs and an output folder are required");
    if (p->batch < 1 || p->steps < 1 || !(p->lr > 0) || p->warmup < 0 || p->dropout < 0 ||
        p->dropout >= 1)
        return es_errf(err, ES_ERR_ARG, "pretrain: batch >= 1, steps >= 1, lr > 0, warmup >= 0, dropout in [0,1)");
    es_status s = es_t5_mkdir(p->out_dir, err);
    if (!s) s = setup_model(f, 1, err);
    if (!s) s = setup_data(f, err);
    if (s) return s;
    if (f->n_train_rows < (size_t)p->batch)
        return es_errf(err, ES_ERR_ARG,
                       "pretrain: too little text: %zu training chunks of %d tokens for batch %d "
                       "(%zu training tokens in %zu documents)",
                       f->n_train_rows, f->raw_len, p->batch, f->c.train.n, f->c.n_docs);
    const int B = p->batch, S = f->in_len, T = f->tgt_len;
    f->perm = es_malloc(f->n_train_rows * sizeof *f->perm);
    f->ids = es_malloc((size_t)B * (size_t)S * sizeof(int32_t));
    f->mask = es_malloc((size_t)B * (size_t)S * sizeof(int32_t));
    f->dec_in = es_malloc((size_t)B * (size_t)T * sizeof(int32_t));
    f->labels = es_malloc((size_t)B * (size_t)T * sizeof(int32_t));
    if (!f->perm || !f->ids || !f->mask || !f->dec_in || !f->labels)
        return es_errf(err, ES_ERR_NOMEM, "pretrain: batch buffers");
    for (size_t i = 0; i < (size_t)B * (size_t)S; i++) f->mask[i] = 1;
    f->perm_epoch = -1;
    if ((s = es_pool_new(&f->pool, p->n_threads, err))) return s;
    if ((s = es_t5_tws_new(&f->ws, &f->t.cfg, f->pool, B, S, T, p->dropout > 0.0f, err))) return s;
    es_t5_run_cfg rc;
    memset(&rc, 0, sizeof rc);
    rc.out_dir = p->out_dir;
    rc.src_dir = f->src_dir;
    rc.adamw = p->adamw;
    rc.beta1 = 0.9f;
    rc.beta2 = 0.999f;
    rc.eps = 1e-8f;
    rc.weight_decay = 0.0f;
    rc.afp = es_adafactor_params_default();
    rc.afp.relative_step = 0;   /* the schedule below gives the lr */
    rc.afp.scale_parameter = 1; /* T5: multiply_by_parameter_scale */
    rc.afp.lr = p->lr;
    rc.clip_norm = p->clip_norm;
    rc.rng_seed = mix(p->seed, 0xd40u);
    rc.dev_column = "val_loss";
    rc.title = "edgeseq pretrain";
    rc.dev_label = "validation loss (held-out 1%)";
    rc.panel = "span-corruption loss";
    return es_t5_run_init(&f->run, &f->t, &rc, err);
}

/* ---- rows and batches ------------------------------------------------------------ */

/* lr_t = lr · sqrt(W / max(t, W)) (T5 rsqrt_decay; W = 0: lr / sqrt(t)). */
static float lr_at(const es_t5_pt_params *p, int64_t t) {
    double W = p->warmup > 0 ? (double)p->warmup : 1.0;
    double tt = (double)(t < 1 ? 1 : t);
    return (float)((double)p->lr * sqrt(W / (tt > W ? tt : W)));
}

static void epoch_perm(pt *f, int64_t epoch) {
    if (f->perm_epoch == epoch) return;
    es_rng r;
    es_rng_seed(&r, mix(f->p->seed, (uint64_t)epoch * 2 + 1));
    for (size_t i = 0; i < f->n_train_rows; i++) f->perm[i] = i;
    for (size_t i = f->n_train_rows; i > 1; i--) {
        size_t j = (size_t)es_rng_below(&r, i);
        size_t t = f->perm[i - 1];
        f->perm[i - 1] = f->perm[j];
        f->perm[j] = t;
    }
    f->perm_epoch = epoch;
}

/* Fills row b of the batch from chunk `chunk` of stream `ids` with the
 * mask drawn from rng_seed. */
static es_status make_row(pt *f, const int32_t *ids, size_t chunk, uint64_t rng_seed, es_error *err) {
    es_rng r;
    es_rng_seed(&r, rng_seed);
    const int32_t *tok = ids + chunk * (size_t)f->raw_len;
    es_status s = es_span_noise_mask(f->noise, f->raw_len, f->p->density, f->p->mean_span, &r, &f->sc, err);
    if (s) return s;
    int ni, nt;
    es_span_apply(tok, f->noise, f->raw_len, f->sentinel0, f->eos, f->row_in, &ni, f->row_tgt, &nt);
    if (ni != f->in_len || nt != f->tgt_len)
        return es_errf(err, ES_ERR_ARG, "pretrain: row lengths %d/%d, expected %d/%d", ni, nt, f->in_len, f->tgt_len);
    return ES_OK;
}

static es_status fill_row(pt *f, int b, const int32_t *ids, size_t chunk, uint64_t rng_seed,
                          es_error *err) {
    es_status s = make_row(f, ids, chunk, rng_seed, err);
    if (s) return s;
    const int S = f->in_len, T = f->tgt_len;
    memcpy(f->ids + (size_t)b * S, f->row_in, (size_t)S * sizeof(int32_t));
    memcpy(f->labels + (size_t)b * T, f->row_tgt, (size_t)T * sizeof(int32_t));
    int32_t *d = f->dec_in + (size_t)b * T;
    d[0] = f->start;
    memcpy(d + 1, f->row_tgt, (size_t)(T - 1) * sizeof(int32_t));
    return ES_OK;
}

static es_t5_batch batch_of(const pt *f, int B) {
    es_t5_batch b = {B, f->in_len, f->tgt_len, f->ids, f->mask, f->dec_in, f->labels};
    return b;
}

static es_status val_loss(void *user, double *out, es_error *err) {
    pt *f = user;
    double sum = 0;
    size_t n = 0;
    const int B = f->p->batch;
    for (size_t r0 = 0; r0 < f->n_val_rows; r0 += (size_t)B) {
        int nb = (int)ES_MIN((size_t)B, f->n_val_rows - r0);
        for (int b = 0; b < nb; b++) {
            es_status s = fill_row(f, b, f->c.val.v, r0 + (size_t)b, VAL_SEED(r0 + (size_t)b), err);
            if (s) return s;
        }
        es_t5_batch bt = batch_of(f, nb);
        double ls;
        int nt;
        es_status s = es_t5_train_forward_backward(f->ws, &f->t.w, NULL, &bt, 0.0f, NULL, 1.0f, &ls, &nt, err);
        if (s) return s;
        sum += ls;
        n += (size_t)nt;
    }
    *out = n ? sum / (double)n : NAN;
    return ES_OK;
}

static es_status train_step(void *user, double *loss, double *gnorm, float *lr, es_error *err) {
    pt *f = user;
    const int B = f->p->batch;
    const int64_t step = f->run.step;
    for (int b = 0; b < B; b++) {
        uint64_t g = (uint64_t)step * (uint64_t)B + (uint64_t)b; /* global row index */
        int64_t epoch = (int64_t)(g / f->n_train_rows);
        epoch_perm(f, epoch);
        size_t chunk = f->perm[g % f->n_train_rows];
        es_status s = fill_row(f, b, f->c.train.v, chunk, mix(mix(f->p->seed, (uint64_t)epoch), chunk), err);
        if (s) return s;
    }
    es_params_zero_grad(&f->t.ps);
    es_t5_batch bt = batch_of(f, B);
    const size_t tokens = (size_t)B * (size_t)f->tgt_len;
    double ls;
    int nt;
    es_status s = es_t5_train_forward_backward(f->ws, &f->t.w, &f->t.g, &bt, f->p->dropout,
                                               f->p->dropout > 0 ? &f->run.rng : NULL,
                                               1.0f / (float)tokens, &ls, &nt, err);
    if (s) return s;
    *loss = ls / (double)tokens;
    *lr = lr_at(f->p, step + 1);
    es_t5_run_update(&f->run, *lr, gnorm); /* Adafactor's α_t is not what is logged: lr is */
    return ES_OK;
}

/* ---- checkpoints: the run's position is its step; seed and chunk length
 * must match (the data order and masks are functions of them) -------------------- */

static size_t ckpt_meta(void *user, const char **kv, size_t cap) {
    pt *f = user;
    if (cap < 2) return 0;
    snprintf(f->v_seed, sizeof f->v_seed, "%" PRIu64, f->p->seed);
    snprintf(f->v_raw, sizeof f->v_raw, "%d", f->raw_len);
    kv[0] = "seed";
    kv[1] = f->v_seed;
    kv[2] = "raw_len";
    kv[3] = f->v_raw;
    return 2;
}

static es_status resume_meta(void *user, const es_weights *opt, const char *dir, es_error *err) {
    pt *f = user;
    const char *vs = es_weights_get_meta(opt, "seed"), *vr = es_weights_get_meta(opt, "raw_len");
    char *e1 = NULL, *e2 = NULL;
    unsigned long long seed = vs ? strtoull(vs, &e1, 10) : 0;
    long raw = vr ? strtol(vr, &e2, 10) : -1;
    if (!vs || !vr || !*vs || !*vr || *e1 || *e2 || seed != f->p->seed || raw != f->raw_len)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: checkpoint does not match this run (seed %s vs %" PRIu64
                       ", chunk %s vs %d tokens)",
                       dir, vs ? vs : "?", f->p->seed, vr ? vr : "?", f->raw_len);
    return ES_OK;
}

static int report(void *user, const es_t5_loop_report *r) {
    pt *f = user;
    es_t5_pt_progress *pr = &f->pr;
    pr->event = r->event;
    pr->step = r->step;
    pr->epoch = (int64_t)((uint64_t)r->step * (uint64_t)f->p->batch / f->n_train_rows);
    pr->train_loss = r->train_loss;
    pr->val_loss = r->dev_loss;
    pr->best_val = r->best_dev;
    pr->lr = r->lr;
    pr->grad_norm = r->grad_norm;
    pr->elapsed_s = r->elapsed_s;
    pr->eta_s = r->eta_s;
    pr->tokens_per_s = r->steps_per_s * (double)f->p->batch * (double)(f->in_len + f->tgt_len);
    return f->fn ? f->fn(f->user, pr) : 0;
}

/* ---- driver ---------------------------------------------------------------------- */

static void pt_free(pt *f) {
    es_t5_run_free(&f->run);
    es_t5_tws_free(f->ws);
    es_pool_free(f->pool);
    es_span_scratch_free(&f->sc);
    es_free(f->perm);
    es_free(f->ids);
    es_free(f->mask);
    es_free(f->dec_in);
    es_free(f->labels);
    es_free(f->row_in);
    es_free(f->row_tgt);
    es_free(f->noise);
    es_free(f->c.train.v);
    es_free(f->c.val.v);
    es_free(f->c.toks);
    es_t5_trainable_free(&f->t);
    es_model_free(f->m);
}

es_status es_t5_pretrain(const es_t5_pt_params *p, es_t5_pt_progress_fn fn, void *user,
                         es_error *err) {
    pt *f = es_calloc(1, sizeof *f);
    if (!f) return es_errf(err, ES_ERR_NOMEM, "pretrain: state");
    f->p = p;
    f->fn = fn;
    f->user = user;
    es_status s = setup(f, err);
    es_t5_pt_progress *pr = &f->pr;
    pr->max_steps = p->steps;
    pr->val_loss = NAN;
    pr->best_val = INFINITY;
    if (!s && fn) {
        pr->event = 4;
        pr->n_docs = f->c.n_docs;
        pr->n_val_docs = f->c.n_val_docs;
        pr->n_train_tokens = f->c.train.n;
        pr->n_val_tokens = f->c.val.n;
        pr->n_train_rows = f->n_train_rows;
        pr->n_val_rows = f->n_val_rows;
        pr->raw_len = f->raw_len;
        pr->input_len = f->in_len;
        pr->target_len = f->tgt_len;
        fn(user, pr);
    }
    int resumed = 0;
    if (!s && p->resume) s = es_t5_run_resume(&f->run, &resumed, resume_meta, f, err);
    if (!s && resumed) {
        pr->step = f->run.step;
        pr->best_val = f->run.best_dev;
        pr->event = 3;
        if (fn) fn(user, pr);
    }
    /* eval_at_start: the loss of the untrained model, so the curve starts at step 0 */
    es_t5_loop lp = {.max_steps = p->steps, .log_every = p->log_every, .eval_every = p->eval_every,
                     .save_every = p->save_every, .eval_at_start = 1, .user = f,
                     .step = train_step, .eval = val_loss, .meta = ckpt_meta, .report = report};
    if (!s) s = es_t5_run_loop(&f->run, &lp, err);
    pt_free(f);
    es_free(f);
    return s;
}

/* ---- span-filling examples ------------------------------------------------------- */

static es_status decode_ids(const es_tokenizer *tok, const int32_t *ids, int n, char *out, size_t cap,
                            es_error *err) {
    size_t len = 0;
    es_status s = es_tokenizer_decode(tok, ids, (size_t)n, 0, out, cap, &len, err);
    if (s == ES_ERR_BUFFER) { /* truncated text is fine for a display */
        out[cap - 1] = 0;
        return ES_OK;
    }
    return s;
}

es_status es_t5_pretrain_examples(const es_t5_pt_params *p, int n, es_t5_pt_example_fn fn, void *user,
                                  es_error *err) {
    if (!p->model_dir || p->n_inputs < 1 || n < 1 || !fn)
        return es_errf(err, ES_ERR_ARG, "pretrain examples: a model, text inputs and n >= 1 are required");
    pt *f = es_calloc(1, sizeof *f);
    if (!f) return es_errf(err, ES_ERR_NOMEM, "pretrain: state");
    f->p = p;
    es_session *ss = NULL;
    enum { CAP = 16384 };
    char *txt = es_malloc(3 * CAP);
    es_status s = txt ? ES_OK : es_errf(err, ES_ERR_NOMEM, "pretrain: text buffers");
    if (!s) s = setup_model(f, 0, err);
    if (!s) s = setup_data(f, err);
    if (!s) {
        es_session_params sp = es_session_params_default();
        sp.max_batch = 1;
        sp.max_src_len = f->in_len;
        sp.max_tgt_len = 2 * f->tgt_len + 2;
        sp.n_threads = p->n_threads;
        s = es_session_new(&ss, f->m, &sp, err);
    }
    const es_tokenizer *tok = f->m ? es_model_tokenizer(f->m) : NULL;
    for (size_t r = 0; !s && r < (size_t)n && r < f->n_val_rows; r++) {
        if ((s = make_row(f, f->c.val.v, r, VAL_SEED(r), err))) break;
        es_gen_params gp = es_gen_params_default();
        gp.method = ES_DECODE_GREEDY;
        gp.max_new_tokens = 2 * f->tgt_len;
        es_gen_result res;
        if ((s = es_session_generate(ss, &res, f->row_in, f->in_len, &gp))) {
            s = es_errf(err, s, "pretrain examples: %s", es_session_errmsg(ss));
            break;
        }
        if (!s) s = decode_ids(tok, f->row_in, f->in_len, txt, CAP, err);
        if (!s) s = decode_ids(tok, f->row_tgt, f->tgt_len, txt + CAP, CAP, err);
        if (!s) s = decode_ids(tok, res.n_hyps ? res.hyps[0].ids : f->row_tgt, res.n_hyps ? res.hyps[0].n_ids : 0,
                               txt + 2 * CAP, CAP, err);
        if (!s && fn(user, (int)r, txt, txt + CAP, txt + 2 * CAP)) break;
    }
    es_session_free(ss);
    es_free(txt);
    pt_free(f);
    es_free(f);
    return s;
}
