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
#include "io/weights.h"
#include "model/model_internal.h"
#include "model/t5_init.h"
#include "train/adafactor.h"
#include "train/optim.h"
#include "train/plot_svg.h"
#include "train/span_corruption.h"
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

typedef struct curve_row {
    int64_t step;
    double train, val, lr, gnorm, elapsed;
} curve_row;

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
    es_adamw adam;
    es_adafactor af;
    es_adafactor_params afp;
    es_rng drop_rng;
    int64_t step;
    double best_val;
    int64_t best_step;
    curve_row *curve;
    size_t n_curve, cap_curve;
} pt;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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
    if (p->adamw) {
        s = es_adamw_init(&f->adam, &f->t.ps, err);
    } else {
        f->afp = es_adafactor_params_default();
        f->afp.relative_step = 0;  /* the schedule below gives the lr */
        f->afp.scale_parameter = 1; /* T5: multiply_by_parameter_scale */
        f->afp.lr = p->lr;
        s = es_adafactor_init(&f->af, &f->t.ps, 0, err);
    }
    es_rng_seed(&f->drop_rng, mix(p->seed, 0xd40u));
    f->best_val = INFINITY;
    f->best_step = -1;
    return s;
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

static es_status val_loss(pt *f, double *out, es_error *err) {
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

static es_status train_step(pt *f, double *loss, double *gnorm, float *lr, es_error *err) {
    const int B = f->p->batch;
    for (int b = 0; b < B; b++) {
        uint64_t g = (uint64_t)f->step * (uint64_t)B + (uint64_t)b; /* global row index */
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
                                               f->p->dropout > 0 ? &f->drop_rng : NULL,
                                               1.0f / (float)tokens, &ls, &nt, err);
    if (s) return s;
    *loss = ls / (double)tokens;
    *gnorm = f->p->clip_norm > 0 ? es_grad_clip(&f->t.ps, f->p->clip_norm, NULL) : es_grad_norm(&f->t.ps);
    *lr = lr_at(f->p, f->step + 1);
    if (f->p->adamw)
        es_adamw_step(&f->adam, &f->t.ps, *lr, 0.9f, 0.999f, 1e-8f, 0.0f, 0);
    else
        es_adafactor_step(&f->af, &f->t.ps, &f->afp, *lr);
    f->step++;
    return ES_OK;
}

/* ---- checkpoints (optim.safetensors layout of t5_finetune.h) --------------------- */

static void rm_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static es_status save_checkpoint(pt *f, es_error *err) {
    const char *out = f->p->out_dir;
    char name[64], dir[4096], path[4096];
    snprintf(name, sizeof name, "step-%08" PRId64, f->step);
    es_status s = es_path_join(dir, sizeof dir, out, name, err);
    if (!s) s = es_t5_trainable_save(&f->t, dir, f->src_dir, err);
    const es_params *ps = &f->t.ps;
    const int aw = f->p->adamw;
    float zero = 0.0f;
    size_t n_rc = aw ? 0 : f->af.n_state;
    es_st_write_tensor tw[3] = {
        {"opt.m", ES_DTYPE_F32, 1, {(int64_t)ps->total}, aw ? f->adam.m : f->af.v},
        {"opt.v", ES_DTYPE_F32, 1, {(int64_t)ps->total}, aw ? f->adam.v : f->af.v},
        {"opt.rowcol", ES_DTYPE_F32, 1, {(int64_t)(n_rc ? n_rc : 1)}, n_rc ? f->af.row : &zero},
    };
    char v_step[32], v_t[32], v_best[40], v_bstep[32], v_n[32], v_seed[32], v_raw[16], r[4][24];
    snprintf(v_step, sizeof v_step, "%" PRId64, f->step);
    snprintf(v_t, sizeof v_t, "%" PRId64, aw ? f->adam.t : f->af.t);
    snprintf(v_best, sizeof v_best, "%.17g", f->best_val);
    snprintf(v_bstep, sizeof v_bstep, "%" PRId64, f->best_step);
    snprintf(v_n, sizeof v_n, "%zu", ps->total);
    snprintf(v_seed, sizeof v_seed, "%" PRIu64, f->p->seed);
    snprintf(v_raw, sizeof v_raw, "%d", f->raw_len);
    for (int i = 0; i < 4; i++) snprintf(r[i], sizeof r[i], "%016" PRIx64, f->drop_rng.s[i]);
    const char *meta[] = {"edgeseq_format", "1", "step", v_step, "opt_t", v_t,
                          "best_dev", v_best, "best_step", v_bstep, "n_params", v_n,
                          "optimizer", aw ? "adamw" : "adafactor", "seed", v_seed,
                          "raw_len", v_raw, "rng0", r[0], "rng1", r[1], "rng2", r[2], "rng3", r[3]};
    if (!s) s = es_path_join(path, sizeof path, dir, "optim.safetensors", err);
    if (!s) s = es_safetensors_write(path, tw, 3, meta, ES_ARRAY_LEN(meta) / 2, err);
    char line[80];
    snprintf(line, sizeof line, "%s\n", name);
    if (!s) s = es_path_join(path, sizeof path, out, "checkpoint", err);
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

static es_status resume(pt *f, int *resumed, es_error *err) {
    *resumed = 0;
    const char *out = f->p->out_dir;
    char path[4096], dir[4096], name[128] = "";
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
    if ((s = es_path_join(dir, sizeof dir, out, name, err))) return s;
    es_weights *wm = NULL, *wo = NULL;
    s = es_weights_new(&wm, err);
    if (!s) s = es_path_join(path, sizeof path, dir, "model.safetensors", err);
    if (!s) s = es_safetensors_read(wm, path, err);
    if (!s) s = es_weights_new(&wo, err);
    if (!s) s = es_path_join(path, sizeof path, dir, "optim.safetensors", err);
    if (!s) s = es_safetensors_read(wo, path, err);
    es_params *ps = &f->t.ps;
    const int aw = f->p->adamw;
    if (!s) {
        es_weights_seal(wm);
        es_weights_seal(wo);
        int ok = 1;
        int64_t step = meta_i64(wo, "step", &ok), t = meta_i64(wo, "opt_t", &ok);
        int64_t np = meta_i64(wo, "n_params", &ok), bstep = meta_i64(wo, "best_step", &ok);
        int64_t seed = meta_i64(wo, "seed", &ok), raw = meta_i64(wo, "raw_len", &ok);
        const char *opt = es_weights_get_meta(wo, "optimizer"), *bd = es_weights_get_meta(wo, "best_dev");
        const char *want = aw ? "adamw" : "adafactor";
        if (!ok || !opt || !bd || np != (int64_t)ps->total || strcmp(opt, want) != 0 ||
            (uint64_t)seed != f->p->seed || raw != f->raw_len || step < 0)
            s = es_errf(err, ES_ERR_FORMAT,
                        "%s: checkpoint does not match this run (optimizer %s vs %s, %" PRId64
                        " vs %zu parameters, seed %" PRId64 " vs %" PRIu64 ", chunk %" PRId64
                        " vs %d tokens, or missing metadata)",
                        dir, opt ? opt : "?", want, np, ps->total, seed, f->p->seed, raw, f->raw_len);
        const es_tensor_view *tm = es_weights_find(wo, "opt.m"), *tv = es_weights_find(wo, "opt.v"),
                             *trc = es_weights_find(wo, "opt.rowcol");
        size_t n_rc = aw ? 0 : f->af.n_state;
        if (!s && (!tm || !tv || !trc || es_tensor_numel(tm) != ps->total ||
                   es_tensor_numel(tv) != ps->total || es_tensor_numel(trc) != (n_rc ? n_rc : 1)))
            s = es_errf(err, ES_ERR_FORMAT, "%s/optim.safetensors: optimizer state has wrong shapes", dir);
        for (int i = 0; i < ps->n && !s; i++) {
            const es_tensor_view *w = es_weights_find(wm, ps->p[i].name);
            if (!w || es_tensor_numel(w) != ps->p[i].numel)
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
        for (int i = 0; i < ps->n && !s; i++)
            s = es_tensor_to_f32(ps->data + ps->p[i].offset, es_weights_find(wm, ps->p[i].name), err);
        if (!s) {
            if (aw) {
                s = es_tensor_to_f32(f->adam.m, tm, err);
                if (!s) s = es_tensor_to_f32(f->adam.v, tv, err);
                f->adam.t = t;
            } else {
                s = es_tensor_to_f32(f->af.v, tv, err);
                if (!s && n_rc) s = es_tensor_to_f32(f->af.row, trc, err);
                f->af.t = t;
            }
            memcpy(f->drop_rng.s, rng, sizeof rng);
            f->step = step;
            f->best_val = strtod(bd, NULL);
            f->best_step = bstep;
            *resumed = !s;
        }
    }
    es_weights_free(wm);
    es_weights_free(wo);
    return s;
}

/* ---- curves ---------------------------------------------------------------------- */

static void curve_add(pt *f, curve_row r) {
    if (f->n_curve == f->cap_curve) {
        size_t nc = f->cap_curve ? 2 * f->cap_curve : 256;
        curve_row *n = es_realloc(f->curve, nc * sizeof *n);
        if (!n) return; /* curves are best effort */
        f->curve = n;
        f->cap_curve = nc;
    }
    f->curve[f->n_curve++] = r;
}

static void curve_load(pt *f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/curves.csv", f->p->out_dir);
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        curve_row r;
        long long st;
        char val[64];
        if (sscanf(line, "%lld,%lf,%63[^,],%lf,%lf,%lf", &st, &r.train, val, &r.lr, &r.gnorm,
                   &r.elapsed) != 6)
            continue;
        r.step = st;
        r.val = val[0] ? strtod(val, NULL) : NAN;
        if (r.step <= f->step) curve_add(f, r);
    }
    fclose(fp);
}

static es_status curve_write(pt *f, es_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/curves.csv", f->p->out_dir);
    es_atomic_file *af = NULL;
    es_status s = es_atomic_begin(&af, path, err);
    if (!s) s = es_atomic_printf(af, err, "step,train_loss,val_loss,lr,grad_norm,elapsed_s\n");
    for (size_t i = 0; i < f->n_curve && !s; i++) {
        const curve_row *r = &f->curve[i];
        char v[40] = "";
        if (isfinite(r->val)) snprintf(v, sizeof v, "%.6f", r->val);
        s = es_atomic_printf(af, err, "%" PRId64 ",%.6f,%s,%.6g,%.6g,%.3f\n", r->step, r->train, v,
                             r->lr, r->gnorm, r->elapsed);
    }
    if (s) {
        es_atomic_abort(af);
        return s;
    }
    if ((s = es_atomic_commit(af, err))) return s;
    size_t n = f->n_curve, nv = 0;
    double *x = es_calloc(n ? n : 1, sizeof(double)), *yt = es_calloc(n ? n : 1, sizeof(double)),
           *xv = es_calloc(n ? n : 1, sizeof(double)), *yv = es_calloc(n ? n : 1, sizeof(double));
    if (x && yt && xv && yv) {
        for (size_t i = 0; i < n; i++) {
            x[i] = (double)f->curve[i].step;
            yt[i] = f->curve[i].train;
            if (isfinite(f->curve[i].val)) { /* validation as its own unbroken line */
                xv[nv] = x[i];
                yv[nv++] = f->curve[i].val;
            }
        }
        es_plot_series ser[2] = {{"train loss", x, yt, n}, {"validation loss (held-out 1%)", xv, yv, nv}};
        es_plot_panel pan = {"span-corruption loss", "step", "token-mean cross entropy", ser, 2, 0, 0, 0};
        snprintf(path, sizeof path, "%s/curves.svg", f->p->out_dir);
        s = es_plot_svg_write(path, "edgeseq pretrain", &pan, 1, err);
    }
    es_free(x);
    es_free(yt);
    es_free(xv);
    es_free(yv);
    return s;
}

/* ---- driver ---------------------------------------------------------------------- */

static void pt_free(pt *f) {
    es_adamw_free(&f->adam);
    es_adafactor_free(&f->af);
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
    es_free(f->curve);
}

es_status es_t5_pretrain(const es_t5_pt_params *p, es_t5_pt_progress_fn fn, void *user,
                         es_error *err) {
    pt *f = es_calloc(1, sizeof *f);
    if (!f) return es_errf(err, ES_ERR_NOMEM, "pretrain: state");
    f->p = p;
    es_status s = setup(f, err);
    es_t5_pt_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.max_steps = p->steps;
    pr.val_loss = NAN;
    pr.best_val = INFINITY;
    if (!s && fn) {
        pr.event = 4;
        pr.n_docs = f->c.n_docs;
        pr.n_val_docs = f->c.n_val_docs;
        pr.n_train_tokens = f->c.train.n;
        pr.n_val_tokens = f->c.val.n;
        pr.n_train_rows = f->n_train_rows;
        pr.n_val_rows = f->n_val_rows;
        pr.raw_len = f->raw_len;
        pr.input_len = f->in_len;
        pr.target_len = f->tgt_len;
        fn(user, &pr);
    }
    int resumed = 0;
    if (!s && p->resume) s = resume(f, &resumed, err);
    if (!s && resumed) {
        curve_load(f);
        pr.step = f->step;
        pr.best_val = f->best_val;
        pr.event = 3;
        if (fn) fn(user, &pr);
    }
    /* the loss of the untrained model, so the curve starts at step 0 */
    if (!s && f->step == 0 && p->eval_every > 0) {
        double vl;
        s = val_loss(f, &vl, err);
        if (!s) {
            curve_row row = {0, NAN, vl, 0, 0, 0};
            curve_add(f, row);
            pr.val_loss = vl;
            pr.event = 1;
            if (fn) fn(user, &pr);
        }
    }
    const double t0 = now_s();
    const int64_t step0 = f->step;
    double acc = 0;
    int acc_n = 0, stop = 0;
    while (!s && f->step < p->steps && !stop) {
        double loss, gn;
        float lr;
        if ((s = train_step(f, &loss, &gn, &lr, err))) break;
        if (!isfinite(loss)) {
            s = es_errf(err, ES_ERR_ARG, "step %" PRId64 ": loss is not finite (lower the learning rate)", f->step);
            break;
        }
        acc += loss;
        acc_n++;
        const double el = now_s() - t0;
        const int log_now = p->log_every > 0 && f->step % p->log_every == 0;
        const int eval_now = p->eval_every > 0 && (f->step % p->eval_every == 0 || f->step == p->steps);
        const int save_now = (p->save_every > 0 && f->step % p->save_every == 0) || f->step == p->steps;
        curve_row row = {f->step, loss, NAN, lr, gn, el};
        if (eval_now) {
            double vl;
            if ((s = val_loss(f, &vl, err))) break;
            row.val = vl;
            pr.val_loss = vl;
            if (vl < f->best_val) {
                f->best_val = vl;
                f->best_step = f->step;
                char best[4096];
                if ((s = es_path_join(best, sizeof best, p->out_dir, "best", err))) break;
                if ((s = es_t5_trainable_save(&f->t, best, f->src_dir, err))) break;
            }
        }
        if (log_now || eval_now || save_now) {
            curve_add(f, row);
            if ((s = curve_write(f, err))) break;
        }
        if (save_now && (s = save_checkpoint(f, err))) break;
        if (fn && (log_now || eval_now || save_now)) {
            pr.step = f->step;
            pr.epoch = (int64_t)((uint64_t)f->step * (uint64_t)p->batch / f->n_train_rows);
            pr.train_loss = acc_n ? acc / acc_n : NAN;
            pr.best_val = f->best_val;
            pr.lr = lr;
            pr.grad_norm = gn;
            pr.elapsed_s = el;
            double rate = (double)(f->step - step0) / (el > 1e-9 ? el : 1e-9);
            pr.eta_s = rate > 0 ? (double)(p->steps - f->step) / rate : NAN;
            pr.tokens_per_s = rate * (double)p->batch * (double)(f->in_len + f->tgt_len);
            pr.event = eval_now ? 1 : save_now ? 2 : 0;
            if (fn(user, &pr)) stop = 1;
            acc = 0;
            acc_n = 0;
        }
    }
    if (!s && stop) {
        s = save_checkpoint(f, err);
        if (!s) s = curve_write(f, err);
        if (!s) s = es_t5_trainable_save(&f->t, p->out_dir, f->src_dir, err);
        if (!s) s = es_errf(err, ES_ERR_CANCELLED, "stopped at step %" PRId64 " (checkpoint and model written)", f->step);
    } else if (!s) {
        s = es_t5_trainable_save(&f->t, p->out_dir, f->src_dir, err);
    }
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
