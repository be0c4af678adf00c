/*
 * byte_pretrain.c — byte-encoder pretraining with the masked span-
 * corruption objective and the block prediction head (contract, objective
 * and head design in byte_pretrain.h), plus loading a pretrained encoder
 * into a classifier.
 *
 * One step: B chunks → corrupted copies (es_bpt_corrupt) → es_byte_encode
 * (training mode: dropout / zoneout from the pretrainer RNG) → gather, per
 * slot s, the encoder rows of the noise bytes with t mod r = s into one
 * matrix X_s (n_s, d_enc) → logits_s = X_s W_sᵀ + b_s (n_s, 256) → softmax
 * CE, mean over all noise bytes → dX_s = dlogits_s W_s, scattered back
 * (added) to the rows they came from → es_byte_encode_backward. The
 * gather/scatter visits noise bytes in (slot, batch, position) order, so
 * every sum has a fixed order (deterministic for any thread count).
 *
 * Checkpoint state file pt_state.safetensors: mlm_head.weight/.bias,
 * adam_m.<name> / adam_v.<name> for every encoder-model tensor and for the
 * head tensors (head names prefixed "mlm_head."), metadata step, adam_t,
 * rng0..3 (hex), config_hash, best_val. Resume stages every value in new
 * buffers and copies only when all are read and checked.
 */
#include "train/byte_pretrain.h"

#include "io/fileio.h"
#include "io/weights.h"
#include "model/byte_internal.h"
#include "nn/linear.h"
#include "train/loss.h"
#include "train/optim.h"
#include "train/plot_svg.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_FILE "pt_state.safetensors"
#define POINTER_FILE "checkpoint"
#define V 256 /* byte vocabulary */

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- objective ------------------------------------------------------------ */

es_status es_bpt_corrupt(uint8_t *out, uint8_t *mask, int *n_noise, const uint8_t *in, int len,
                         double density, double mean_span, uint8_t mask_byte, uint64_t seed,
                         es_span_scratch *scratch, es_error *err) {
    *n_noise = 0;
    if (len > 0) memcpy(out, in, (size_t)len);
    if (mask && len > 0) memset(mask, 0, (size_t)len);
    if (len < 2) return ES_OK;
    es_rng r;
    es_rng_seed(&r, seed);
    unsigned char *mk = mask;
    es_status s = es_span_noise_mask(mk, len, density, mean_span, &r, scratch, err);
    if (s) return s;
    int n = 0;
    for (int i = 0; i < len; i++)
        if (mk[i]) {
            out[i] = mask_byte;
            n++;
        }
    *n_noise = n;
    return ES_OK;
}

/* ---- corpus ------------------------------------------------------------------ */

int es_bpt_is_val(const uint8_t *bytes, size_t len) {
    return fnv(0xcbf29ce484222325ull, bytes, len) % 100 == 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends data to c->buf (with a '\n' separator when not first). */
static es_status append(es_bpt_corpus *c, size_t *cap, const void *data, size_t n, es_error *err) {
    size_t need = c->n_bytes + n + 1;
    if (need > *cap) {
        size_t nc = *cap ? *cap : 1 << 20;
        while (nc < need) nc *= 2;
        uint8_t *nb = es_realloc(c->buf, nc);
        if (!nb) return es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory for %zu bytes", need);
        c->buf = nb;
        *cap = nc;
    }
    if (c->n_bytes) c->buf[c->n_bytes++] = '\n';
    memcpy(c->buf + c->n_bytes, data, n);
    c->n_bytes += n;
    c->n_files++;
    return ES_OK;
}

static es_status add_file(es_bpt_corpus *c, size_t *cap, const char *path, es_error *err) {
    void *buf = NULL;
    size_t len = 0;
    es_status s = es_read_file(path, &buf, &len, (size_t)1 << 31, err);
    if (s) return s;
    s = append(c, cap, buf, len, err);
    es_free(buf);
    return s;
}

static es_status add_folder(es_bpt_corpus *c, size_t *cap, const char *dir, es_error *err) {
    DIR *d = opendir(dir);
    if (!d) return es_errf(err, ES_ERR_IO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, ncap = 0;
    es_status s = ES_OK;
    struct dirent *e;
    while (!s && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0) continue;
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 64;
            char **nn = es_realloc(names, ncap * sizeof *nn);
            if (!nn) {
                s = es_errf(err, ES_ERR_NOMEM, "%s: out of memory listing", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = es_strdup(e->d_name))) s = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", dir);
        else n++;
    }
    closedir(d);
    if (!s && n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !s; i++) {
        char path[4096];
        if (!(s = es_path_join(path, sizeof path, dir, names[i], err))) s = add_file(c, cap, path, err);
    }
    for (size_t i = 0; i < n; i++) es_free(names[i]);
    es_free(names);
    if (!s && n == 0) s = es_errf(err, ES_ERR_IO, "%s: no .txt files", dir);
    return s;
}

/* Cuts c->buf into chunks and splits them. */
static es_status make_chunks(es_bpt_corpus *c, int chunk_len, es_error *err) {
    if (chunk_len < 2) return es_errf(err, ES_ERR_ARG, "byte pretrain: chunk length %d (>= 2)", chunk_len);
    c->chunk_len = chunk_len;
    size_t n = c->n_bytes / (size_t)chunk_len + 1;
    c->train = es_calloc(n, sizeof *c->train);
    c->val = es_calloc(n, sizeof *c->val);
    if (!c->train || !c->val) return es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
    for (size_t off = 0; off < c->n_bytes; off += (size_t)chunk_len) {
        size_t len = ES_MIN((size_t)chunk_len, c->n_bytes - off);
        if (len < (size_t)chunk_len / 4 || len < 2) break; /* short tail */
        es_bpt_chunk ch = {off, (int)len};
        if (es_bpt_is_val(c->buf + off, len)) c->val[c->n_val++] = ch;
        else c->train[c->n_train++] = ch;
    }
    if (c->n_train == 0 || c->n_val == 0)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: %zu bytes give %zu training and %zu validation "
                       "chunks of %d bytes (need >= 1 of each: more text)", c->n_bytes, c->n_train,
                       c->n_val, chunk_len);
    return ES_OK;
}

es_status es_bpt_corpus_load(es_bpt_corpus *c, const char *const *inputs, int n_inputs,
                             int chunk_len, es_error *err) {
    memset(c, 0, sizeof *c);
    size_t cap = 0;
    es_status s = ES_OK;
    for (int i = 0; i < n_inputs && !s; i++)
        s = es_is_dir(inputs[i]) ? add_folder(c, &cap, inputs[i], err) : add_file(c, &cap, inputs[i], err);
    if (!s && n_inputs < 1) s = es_errf(err, ES_ERR_ARG, "byte pretrain: no text inputs");
    if (!s) s = make_chunks(c, chunk_len, err);
    if (s) es_bpt_corpus_free(c);
    return s;
}

es_status es_bpt_corpus_from_memory(es_bpt_corpus *c, const uint8_t *text, size_t len,
                                    int chunk_len, es_error *err) {
    memset(c, 0, sizeof *c);
    size_t cap = 0;
    es_status s = append(c, &cap, text, len, err);
    if (!s) s = make_chunks(c, chunk_len, err);
    if (s) es_bpt_corpus_free(c);
    return s;
}

void es_bpt_corpus_free(es_bpt_corpus *c) {
    es_free(c->buf);
    es_free(c->train);
    es_free(c->val);
    memset(c, 0, sizeof *c);
}

/* ---- pretrainer ------------------------------------------------------------- */

typedef struct curve_row {
    int64_t step;
    int val;
    double loss, acc, lr, bps;
} curve_row;

struct es_bpt {
    es_byte_model *m;
    es_bpt_params p;
    char *out_dir;
    es_pool *pool;
    es_byte_ws *ws;
    es_params head;           /* mlm_head.weight (r, 256, De), mlm_head.bias (r, 256) */
    int hw, hb;
    es_adamw opt_m, opt_h;
    es_rng rng;               /* dropout / zoneout */
    int64_t step;
    int r, De, B, L;
    es_span_scratch sc;
    uint8_t *bufs, *masks;    /* (B, L) corrupted inputs, noise masks */
    const uint8_t **bptr, **orig;
    size_t *blen;
    size_t max_noise;         /* rows of X */
    int32_t *tgt;             /* (max_noise) */
    size_t *erow;             /* (max_noise) encoder row of each noise byte */
    float *X, *dX;            /* (max_noise, De) */
    float *logits, *dlogits;  /* (max_noise, 256) */
    float *denc;              /* (enc_rows, De) */
    size_t enc_rows;
    size_t *perm;
    int64_t perm_epoch;
    uint64_t cfg_hash;
    double best_val;
    double last_norm;
    curve_row *rows;
    size_t n_rows, cap_rows;
};

es_bpt_params es_bpt_params_default(void) {
    es_bpt_params p;
    memset(&p, 0, sizeof p);
    p.train = es_train_params_default();
    p.train.eval_every = 100;
    p.train.save_every = 100;
    p.chunk_len = 1024;
    p.density = 0.15;
    p.mean_span = 3.0;
    p.mask_byte = ES_BPT_MASK_BYTE;
    return p;
}

static es_status objective_hash(const es_bpt *t, uint64_t *out, es_error *err) {
    char *json = NULL;
    es_status s = es_byte_config_to_json(es_byte_model_config(t->m), &json, err);
    if (s) return s;
    uint64_t h = fnv(0xcbf29ce484222325ull, json, strlen(json));
    es_free(json);
    const es_bpt_params *p = &t->p;
    const es_train_params *q = &p->train;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "bpt1 chunk=%d d=%a mu=%a mask=%d bs=%d lr=%a min=%a wu=%" PRId64
                     " sch=%d wd=%a b1=%a b2=%a eps=%a clip=%a seed=%" PRIu64,
                     p->chunk_len, p->density, p->mean_span, p->mask_byte, q->batch_size,
                     (double)q->lr, (double)q->min_lr, q->warmup_steps, (int)q->schedule,
                     (double)q->weight_decay, (double)q->beta1, (double)q->beta2, (double)q->eps,
                     (double)q->clip_norm, q->seed);
    *out = fnv(h, buf, (size_t)n);
    return ES_OK;
}

void es_bpt_free(es_bpt *t) {
    if (!t) return;
    es_byte_ws_free(t->ws);
    es_pool_free(t->pool);
    es_params_free(&t->head);
    es_adamw_free(&t->opt_m);
    es_adamw_free(&t->opt_h);
    es_span_scratch_free(&t->sc);
    es_free(t->bufs);
    es_free(t->masks);
    es_free(t->bptr);
    es_free(t->orig);
    es_free(t->blen);
    es_free(t->tgt);
    es_free(t->erow);
    es_free_aligned(t->X);
    es_free_aligned(t->dX);
    es_free_aligned(t->logits);
    es_free_aligned(t->dlogits);
    es_free_aligned(t->denc);
    es_free(t->perm);
    es_free(t->out_dir);
    es_free(t->rows);
    es_free(t);
}

static void *falloc(size_t n, es_status *s, es_error *err) {
    size_t bytes;
    void *p = NULL;
    if (*s) return NULL;
    if (es_mul_ok(n ? n : 1, sizeof(float), &bytes)) p = es_malloc_aligned(bytes);
    if (!p) *s = es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
    else memset(p, 0, bytes);
    return p;
}

es_status es_bpt_new(es_bpt **out, es_byte_model *m, const es_bpt_params *p, es_error *err) {
    *out = NULL;
    const es_byte_config *c = es_byte_model_config(m);
    const es_train_params *q = &p->train;
    if (c->encoder == ES_BYTE_FUNNEL)
        return es_errf(err, ES_ERR_UNSUPPORTED, "byte pretrain: bytefunnel pools positions inside the "
                       "encoder, so its outputs are not byte blocks (use byteqrnn or bytetransformer)");
    if (c->n_labels < 2)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: the model must be a classifier config (labels)");
    if (p->chunk_len < 2 || p->chunk_len > c->max_bytes)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: chunk length %d outside [2, max_bytes %d]",
                       p->chunk_len, c->max_bytes);
    if (!(p->density > 0.0 && p->density < 1.0) || !(p->mean_span >= 1.0) || p->mask_byte < 0 ||
        p->mask_byte > 255)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: density %g (0..1), mean span %g (>= 1), mask "
                       "byte %d (0..255)", p->density, p->mean_span, p->mask_byte);
    if (q->batch_size < 1 || q->max_steps < 0 || !(q->lr >= 0.0f) || q->warmup_steps < 0 ||
        (unsigned)q->schedule > ES_LR_INVSQRT || !(q->beta1 >= 0.0f && q->beta1 < 1.0f) ||
        !(q->beta2 >= 0.0f && q->beta2 < 1.0f) || !(q->eps > 0.0f) || q->n_threads < 0)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: invalid training parameters (batch %d, steps "
                       "%" PRId64 ", lr %g)", q->batch_size, q->max_steps, (double)q->lr);
    es_bpt *t = es_calloc(1, sizeof *t);
    if (!t) return es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
    t->m = m;
    t->p = *p;
    t->p.train.out_dir = NULL;
    if (t->p.train.keep_checkpoints < 1) t->p.train.keep_checkpoints = 1;
    if (t->p.train.log_every < 1) t->p.train.log_every = 10;
    t->r = c->downsample;
    t->De = m->d_enc;
    t->B = q->batch_size;
    t->L = p->chunk_len;
    t->perm_epoch = -1;
    t->best_val = INFINITY;
    es_status s = ES_OK;
    if (q->out_dir && !(t->out_dir = es_strdup(q->out_dir)))
        s = es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
    t->p.train.out_dir = t->out_dir;
    int nt = q->n_threads ? q->n_threads : es_cpu_physical_cores();
    if (!s) s = es_pool_new(&t->pool, nt, err);
    if (!s) s = es_byte_model_enable_grad(m, err);
    if (!s) s = es_byte_ws_new(&t->ws, m, t->B, t->L, 1, t->pool, err);
    if (!s) {
        int64_t wsh[3] = {t->r, V, t->De}, bsh[2] = {t->r, V};
        s = es_params_add(&t->head, &t->hw, "mlm_head.weight", 3, wsh, ES_INIT_GLOROT, 1.0f, t->De,
                          V, 1, err);
        if (!s) s = es_params_add(&t->head, &t->hb, "mlm_head.bias", 2, bsh, ES_INIT_ZERO, 0.0f, 0, 0,
                                  0, err);
        if (!s) s = es_params_alloc(&t->head, 1, err);
        if (!s) {
            es_rng ir;
            es_rng_seed(&ir, q->seed ^ 0x6d6c6d68656164ull); /* "mlmhead" */
            es_params_init(&t->head, &ir);
        }
    }
    if (!s) s = es_adamw_init(&t->opt_m, es_byte_model_params(m), err);
    if (!s) s = es_adamw_init(&t->opt_h, &t->head, err);
    if (!s) s = es_span_scratch_init(&t->sc, t->L, err);
    if (!s) {
        es_span_counts sc;
        s = es_span_counts_for(&sc, t->L, p->density, p->mean_span, err);
        t->max_noise = (size_t)t->B * (size_t)(s ? 0 : sc.n_noise);
    }
    if (!s) {
        size_t BL = (size_t)t->B * (size_t)t->L;
        t->bufs = es_malloc(BL);
        t->masks = es_malloc(BL);
        t->bptr = es_calloc((size_t)t->B, sizeof *t->bptr);
        t->orig = es_calloc((size_t)t->B, sizeof *t->orig);
        t->blen = es_calloc((size_t)t->B, sizeof *t->blen);
        t->tgt = es_calloc(t->max_noise + 1, sizeof *t->tgt);
        t->erow = es_calloc(t->max_noise + 1, sizeof *t->erow);
        if (!t->bufs || !t->masks || !t->bptr || !t->orig || !t->blen || !t->tgt || !t->erow)
            s = es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
        /* encoder rows: B sequences of ⌈L/r⌉ positions plus margins (< 16 per side) */
        t->enc_rows = (size_t)t->B * (size_t)((t->L + t->r - 1) / t->r + 2 * 16);
        t->X = falloc(t->max_noise * (size_t)t->De, &s, err);
        t->dX = falloc(t->max_noise * (size_t)t->De, &s, err);
        t->logits = falloc(t->max_noise * V, &s, err);
        t->dlogits = falloc(t->max_noise * V, &s, err);
        t->denc = falloc(t->enc_rows * (size_t)t->De, &s, err);
    }
    if (!s) s = objective_hash(t, &t->cfg_hash, err);
    if (s) {
        es_bpt_free(t);
        return s;
    }
    es_rng_seed(&t->rng, q->seed ^ 0x5eed0b17e5ull);
    *out = t;
    return ES_OK;
}

int64_t es_bpt_step_count(const es_bpt *t) { return t->step; }

/* Forward (and, train = 1, backward) of the MLM loss on the nb sequences
 * in t->bptr / t->blen, originals t->orig, noise masks t->masks. Adds the
 * CE sum, the noise count and the correct argmax count. */
static es_status mlm_batch(es_bpt *t, int nb, int train, double *ce_sum, size_t *n_noise,
                           size_t *n_correct, es_error *err) {
    es_byte_model *m = t->m;
    es_status s = es_byte_encode(t->ws, m, t->bptr, t->blen, nb, train, train ? &t->rng : NULL, err);
    if (s) return s;
    const es_seq *se = t->ws->s_enc;
    const float *enc = t->ws->enc;
    int r = t->r, De = t->De, L = t->L;
    if (es_seq_rows(se) > t->enc_rows)
        return es_errf(err, ES_ERR_INTERNAL, "byte pretrain: encoder rows %zu over %zu",
                       es_seq_rows(se), t->enc_rows);
    /* gather by slot: (slot, b, t) order */
    size_t cnt[65] = {0}, off[65];
    for (int b = 0; b < nb; b++) {
        const uint8_t *mk = t->masks + (size_t)b * (size_t)L;
        if ((t->blen[b] + (size_t)r - 1) / (size_t)r > (size_t)se->len[b])
            return es_errf(err, ES_ERR_INTERNAL, "byte pretrain: encoder output has %d positions for "
                           "%zu bytes (downsample %d)", se->len[b], t->blen[b], r);
        for (size_t i = 0; i < t->blen[b]; i++) cnt[i % (size_t)r] += mk[i] != 0;
    }
    off[0] = 0;
    for (int k = 0; k < r; k++) off[k + 1] = off[k] + cnt[k];
    size_t n = off[r];
    if (n > t->max_noise)
        return es_errf(err, ES_ERR_INTERNAL, "byte pretrain: %zu noise bytes over %zu", n, t->max_noise);
    if (n == 0) return ES_OK;
    size_t pos[65];
    memcpy(pos, off, sizeof pos);
    for (int k = 0; k < r; k++)
        for (int b = 0; b < nb; b++) {
            const uint8_t *mk = t->masks + (size_t)b * (size_t)L;
            for (size_t i = (size_t)k; i < t->blen[b]; i += (size_t)r) {
                if (!mk[i]) continue;
                size_t j = pos[k]++;
                t->erow[j] = es_seq_row(se, b, (int)(i / (size_t)r));
                t->tgt[j] = t->orig[b][i];
                memcpy(t->X + j * (size_t)De, enc + t->erow[j] * (size_t)De, (size_t)De * sizeof(float));
            }
        }
    const float *W = es_params_data(&t->head, t->hw), *bias = es_params_data(&t->head, t->hb);
    for (int k = 0; k < r; k++)
        if (cnt[k])
            es_linear_forward(t->pool, t->logits + off[k] * V, t->X + off[k] * (size_t)De,
                              W + (size_t)k * V * (size_t)De, bias + (size_t)k * V, (int)cnt[k], De, V);
    /* mean over the noise bytes of this batch */
    *ce_sum += es_softmax_ce(train ? t->dlogits : NULL, t->logits, t->tgt, (int)n, V, -1,
                             1.0f / (float)n, NULL, NULL);
    *n_noise += n;
    for (size_t j = 0; j < n; j++) {
        const float *x = t->logits + j * V;
        int am = 0;
        for (int v = 1; v < V; v++) am = x[v] > x[am] ? v : am;
        *n_correct += am == t->tgt[j];
    }
    if (!train) return ES_OK;
    float *dW = es_params_grad(&t->head, t->hw), *db = es_params_grad(&t->head, t->hb);
    for (int k = 0; k < r; k++)
        if (cnt[k])
            es_linear_backward(t->pool, t->dX + off[k] * (size_t)De, 0, dW + (size_t)k * V * (size_t)De,
                               db + (size_t)k * V, t->dlogits + off[k] * V, t->X + off[k] * (size_t)De,
                               W + (size_t)k * V * (size_t)De, (int)cnt[k], De, V);
    size_t rows = es_seq_rows(se);
    memset(t->denc, 0, rows * (size_t)De * sizeof(float));
    for (size_t j = 0; j < n; j++) {
        float *d = t->denc + t->erow[j] * (size_t)De;
        const float *g = t->dX + j * (size_t)De;
        for (int c = 0; c < De; c++) d[c] += g[c];
    }
    return es_byte_encode_backward(t->ws, m, t->denc, err);
}

static es_status make_perm(es_bpt *t, size_t n, int64_t epoch, es_error *err) {
    if (!t->perm) {
        t->perm = es_calloc(n, sizeof *t->perm);
        if (!t->perm) return es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
    }
    if (t->perm_epoch == epoch) return ES_OK;
    es_rng r;
    es_rng_seed(&r, t->p.train.seed * 0x9e3779b97f4a7c15ull + (uint64_t)epoch + 1);
    for (size_t i = 0; i < n; i++) t->perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)es_rng_below(&r, i);
        size_t x = t->perm[i - 1];
        t->perm[i - 1] = t->perm[j];
        t->perm[j] = x;
    }
    t->perm_epoch = epoch;
    return ES_OK;
}

/* Mask seed of training example number k: distinct per example and seed. */
static uint64_t train_mask_seed(uint64_t seed, uint64_t k) {
    return seed * 0xbf58476d1ce4e5b9ull ^ (k + 1) * 0x94d049bb133111ebull;
}

/* Fixed validation masks: a function of the chunk index only. */
static uint64_t val_mask_seed(size_t i) { return 0x76616c6d61736bull ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull); }

/* Corrupts src[0..len) (len <= L) into batch slot b. */
static es_status load_slot(es_bpt *t, int b, const uint8_t *src, int len, uint64_t seed,
                           es_error *err) {
    int nn;
    if (len < 0 || len > t->L)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: chunk of %d bytes (pretrainer holds %d)", len, t->L);
    uint8_t *dst = t->bufs + (size_t)b * (size_t)t->L;
    t->orig[b] = src;
    t->bptr[b] = dst;
    t->blen[b] = (size_t)len;
    return es_bpt_corrupt(dst, t->masks + (size_t)b * (size_t)t->L, &nn, src, len, t->p.density,
                          t->p.mean_span, (uint8_t)t->p.mask_byte, seed, &t->sc, err);
}

es_status es_bpt_batch_loss(es_bpt *t, const uint8_t *const *chunks, const int *lens, int n,
                            const uint64_t *seeds, int with_grad, double *loss, es_error *err) {
    if (n < 1 || n > t->B)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: batch of %d (1..%d)", n, t->B);
    es_status s = ES_OK;
    for (int b = 0; b < n && !s; b++) s = load_slot(t, b, chunks[b], lens[b], seeds[b], err);
    if (s) return s;
    if (with_grad) {
        es_params_zero_grad(es_byte_model_params(t->m));
        es_params_zero_grad(&t->head);
    }
    double ce = 0.0;
    size_t nn = 0, nc = 0;
    if ((s = mlm_batch(t, n, with_grad, &ce, &nn, &nc, err))) return s;
    *loss = nn ? ce / (double)nn : 0.0;
    return ES_OK;
}

static int64_t epoch_of(const es_bpt *t, const es_bpt_corpus *c) {
    return c->n_train ? (int64_t)((uint64_t)t->step * (uint64_t)t->B / c->n_train) : 0;
}

es_status es_bpt_step(es_bpt *t, const es_bpt_corpus *c, double *loss, double *grad_norm,
                      es_error *err) {
    if (!c->n_train) return es_errf(err, ES_ERR_ARG, "byte pretrain: no training chunks");
    if (c->chunk_len > t->L)
        return es_errf(err, ES_ERR_ARG, "byte pretrain: corpus chunks of %d bytes, pretrainer %d",
                       c->chunk_len, t->L);
    es_params *pm = es_byte_model_params(t->m);
    es_params_zero_grad(pm);
    es_params_zero_grad(&t->head);
    es_status s = ES_OK;
    for (int b = 0; b < t->B && !s; b++) {
        uint64_t k = (uint64_t)t->step * (uint64_t)t->B + (uint64_t)b;
        int64_t epoch = (int64_t)(k / c->n_train);
        if ((s = make_perm(t, c->n_train, epoch, err))) break;
        const es_bpt_chunk *ch = &c->train[t->perm[k % c->n_train]];
        s = load_slot(t, b, c->buf + ch->off, ch->len, train_mask_seed(t->p.train.seed, k), err);
    }
    double ce = 0.0;
    size_t nn = 0, nc = 0;
    if (!s) s = mlm_batch(t, t->B, 1, &ce, &nn, &nc, err);
    if (s) return s;
    double mean = nn ? ce / (double)nn : 0.0;
    if (!isfinite(mean))
        return es_errf(err, ES_ERR_INTERNAL, "byte pretrain: loss is %g at step %" PRId64, mean, t->step + 1);
    /* global norm over encoder and head together */
    double n1 = es_grad_norm(pm), n2 = es_grad_norm(&t->head);
    double norm = sqrt(n1 * n1 + n2 * n2);
    float clip = t->p.train.clip_norm;
    if (clip > 0.0f && norm > (double)clip) {
        float coef = (float)((double)clip / (norm + 1e-6));
        es_grad_scale(pm, coef);
        es_grad_scale(&t->head, coef);
    }
    const es_train_params *q = &t->p.train;
    float lr = es_lr_at(q, t->step + 1);
    es_adamw_step(&t->opt_m, pm, lr, q->beta1, q->beta2, q->eps, q->weight_decay, 0);
    es_adamw_step(&t->opt_h, &t->head, lr, q->beta1, q->beta2, q->eps, q->weight_decay, 0);
    t->step++;
    t->last_norm = norm;
    if (loss) *loss = mean;
    if (grad_norm) *grad_norm = norm;
    return ES_OK;
}

es_status es_bpt_evaluate(es_bpt *t, const es_bpt_corpus *c, double *loss, double *accuracy,
                          es_error *err) {
    size_t nv = c->n_val;
    if (t->p.max_val_chunks > 0 && (size_t)t->p.max_val_chunks < nv) nv = (size_t)t->p.max_val_chunks;
    double ce = 0.0;
    size_t nn = 0, nc = 0;
    es_status s = ES_OK;
    for (size_t i0 = 0; i0 < nv && !s; i0 += (size_t)t->B) {
        int nb = (int)ES_MIN((size_t)t->B, nv - i0);
        for (int b = 0; b < nb && !s; b++) {
            const es_bpt_chunk *ch = &c->val[i0 + (size_t)b];
            s = load_slot(t, b, c->buf + ch->off, ch->len, val_mask_seed(i0 + (size_t)b), err);
        }
        double ce_b = 0.0;
        size_t nn_b = 0;
        if (!s) s = mlm_batch(t, nb, 0, &ce_b, &nn_b, &nc, err);
        ce += ce_b;
        nn += nn_b;
    }
    if (s) return s;
    if (loss) *loss = nn ? ce / (double)nn : 0.0;
    if (accuracy) *accuracy = nn ? (double)nc / (double)nn : 0.0;
    return ES_OK;
}

/* ---- checkpoints -------------------------------------------------------------- */

static void remove_dir_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path) unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void prune(const es_bpt *t, const char *current) {
    DIR *d = opendir(t->out_dir);
    if (!d) return;
    long long steps[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        long long st;
        char tail;
        if (sscanf(e->d_name, "step-%lld%c", &st, &tail) == 1) steps[n++] = st;
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i];
        char name[64], path[4096];
        snprintf(name, sizeof name, "step-%08lld", steps[i]);
        if (newer >= t->p.train.keep_checkpoints && strcmp(name, current) != 0 &&
            (size_t)snprintf(path, sizeof path, "%s/%s", t->out_dir, name) < sizeof path)
            remove_dir_files(path);
    }
}

/* Tensor list of the state file: head values, then moments of the model
 * tensors and of the head tensors. names: caller storage. */
static es_status state_tensors(es_bpt *t, es_st_write_tensor **out, char (**names)[ES_PARAM_NAME_MAX + 16],
                               size_t *n_out, es_error *err) {
    const es_params *pm = es_byte_model_params(t->m), *ph = &t->head;
    size_t n = (size_t)ph->n + 2 * (size_t)(pm->n + ph->n);
    es_st_write_tensor *tv = es_calloc(n, sizeof *tv);
    char (*nm)[ES_PARAM_NAME_MAX + 16] = es_calloc(n, sizeof *nm);
    if (!tv || !nm) {
        es_free(tv);
        es_free(nm);
        return es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
    }
    size_t k = 0;
    const es_params *sets[2] = {pm, ph};
    const es_adamw *opts[2] = {&t->opt_m, &t->opt_h};
    for (int i = 0; i < ph->n; i++, k++) {
        snprintf(nm[k], sizeof nm[k], "%s", ph->p[i].name);
        tv[k].data = ph->data + ph->p[i].offset;
        tv[k].ndim = ph->p[i].ndim;
        for (int d = 0; d < ph->p[i].ndim; d++) tv[k].shape[d] = ph->p[i].shape[d];
    }
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s]->n; i++)
            for (int mv = 0; mv < 2; mv++, k++) {
                const es_param *p = &sets[s]->p[i];
                snprintf(nm[k], sizeof nm[k], "%s.%s", mv ? "adam_v" : "adam_m", p->name);
                tv[k].data = (mv ? opts[s]->v : opts[s]->m) + p->offset;
                tv[k].ndim = p->ndim;
                for (int d = 0; d < p->ndim; d++) tv[k].shape[d] = p->shape[d];
            }
    for (size_t i = 0; i < n; i++) {
        tv[i].name = nm[i];
        tv[i].dtype = ES_DTYPE_F32;
    }
    *out = tv;
    *names = nm;
    *n_out = n;
    return ES_OK;
}

es_status es_bpt_save(es_bpt *t, es_error *err) {
    if (!t->out_dir) return es_errf(err, ES_ERR_ARG, "byte pretrain: no output folder");
    if (mkdir(t->out_dir, 0777) != 0 && errno != EEXIST)
        return es_errf(err, ES_ERR_IO, "%s: cannot create folder: %s", t->out_dir, strerror(errno));
    char name[64], dir[4096], path[4096];
    snprintf(name, sizeof name, "step-%08lld", (long long)t->step);
    es_status s = es_path_join(dir, sizeof dir, t->out_dir, name, err);
    if (s) return s;
    remove_dir_files(dir); /* a partial folder of a killed run, or this step again */
    if ((s = es_byte_model_save_dir(t->m, dir, err))) return s;
    es_st_write_tensor *tv = NULL;
    char (*nm)[ES_PARAM_NAME_MAX + 16] = NULL;
    size_t n = 0;
    if ((s = state_tensors(t, &tv, &nm, &n, err))) return s;
    char v_step[32], v_t[32], v_rng[4][32], v_hash[32], v_best[64];
    snprintf(v_step, sizeof v_step, "%" PRId64, t->step);
    snprintf(v_t, sizeof v_t, "%" PRId64, t->opt_m.t);
    for (int i = 0; i < 4; i++) snprintf(v_rng[i], sizeof v_rng[i], "%016" PRIx64, t->rng.s[i]);
    snprintf(v_hash, sizeof v_hash, "%016" PRIx64, t->cfg_hash);
    snprintf(v_best, sizeof v_best, "%.17g", t->best_val);
    const char *meta[] = {"edgeseq_format", "1", "step", v_step, "adam_t", v_t, "rng0", v_rng[0],
                          "rng1", v_rng[1], "rng2", v_rng[2], "rng3", v_rng[3], "config_hash", v_hash,
                          "best_val", v_best};
    if (!(s = es_path_join(path, sizeof path, dir, STATE_FILE, err)))
        s = es_safetensors_write(path, tv, n, meta, ES_ARRAY_LEN(meta) / 2, err);
    es_free(tv);
    es_free(nm);
    if (s) return s;
    char line[80];
    int ln = snprintf(line, sizeof line, "%s\n", name);
    if ((s = es_path_join(path, sizeof path, t->out_dir, POINTER_FILE, err)) ||
        (s = es_atomic_write_file(path, line, (size_t)ln, err)))
        return s;
    prune(t, name);
    return ES_OK;
}

static es_status meta_u64(const es_weights *w, const char *key, int hex, uint64_t *v,
                          const char *path, es_error *err) {
    const char *s = es_weights_get_meta(w, key);
    char *end = NULL;
    if (s && *s) {
        errno = 0;
        *v = strtoull(s, &end, hex ? 16 : 10);
        if (!errno && end && !*end) return ES_OK;
    }
    return es_errf(err, ES_ERR_FORMAT, "%s: metadata '%s' missing or not a number", path, key);
}

es_status es_bpt_resume(es_bpt *t, es_error *err) {
    if (!t->out_dir) return es_errf(err, ES_ERR_ARG, "byte pretrain: no output folder");
    char path[4096], dir[4096], name[256];
    es_status s = es_path_join(path, sizeof path, t->out_dir, POINTER_FILE, err);
    if (s) return s;
    void *buf = NULL;
    size_t len = 0;
    if ((s = es_read_file(path, &buf, &len, 255, err))) return s;
    memcpy(name, buf, len);
    name[len] = 0;
    es_free(buf);
    while (len && (name[len - 1] == '\n' || name[len - 1] == ' ')) name[--len] = 0;
    if (strncmp(name, "step-", 5) != 0 || strchr(name, '/'))
        return es_errf(err, ES_ERR_FORMAT, "%s: not a checkpoint name", path);
    if ((s = es_path_join(dir, sizeof dir, t->out_dir, name, err))) return s;
    es_byte_model *cm = NULL;
    es_weights *w = NULL;
    float *stage = NULL;
    if ((s = es_byte_model_load_dir(&cm, dir, err))) return s;
    es_params *pm = es_byte_model_params(t->m), *pc = es_byte_model_params(cm), *ph = &t->head;
    if (pc->n != pm->n || pc->total != pm->total)
        s = es_errf(err, ES_ERR_FORMAT, "%s: checkpoint model has %d tensors / %zu values, this model "
                    "%d / %zu", dir, pc->n, pc->total, pm->n, pm->total);
    if (!s && (s = es_path_join(path, sizeof path, dir, STATE_FILE, err))) goto done;
    if (!s && !(s = es_weights_new(&w, err))) s = es_safetensors_read(w, path, err);
    uint64_t hash = 0, step = 0, at = 0, rng[4];
    if (!s) s = meta_u64(w, "config_hash", 1, &hash, path, err);
    if (!s && hash != t->cfg_hash)
        s = es_errf(err, ES_ERR_FORMAT, "%s: config hash %016" PRIx64 " differs from this run's %016"
                    PRIx64 " (another model config or objective/optimizer settings)", path, hash, t->cfg_hash);
    if (!s) s = meta_u64(w, "step", 0, &step, path, err);
    if (!s) s = meta_u64(w, "adam_t", 0, &at, path, err);
    for (int i = 0; i < 4 && !s; i++) {
        char key[8];
        snprintf(key, sizeof key, "rng%d", i);
        s = meta_u64(w, key, 1, &rng[i], path, err);
    }
    /* stage: head values, model moments (m, v), head moments (m, v) */
    size_t n_stage = ph->total * 3 + pm->total * 2;
    if (!s && !(stage = es_malloc(n_stage * sizeof(float))))
        s = es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory");
    es_st_write_tensor *tv = NULL;
    char (*nm)[ES_PARAM_NAME_MAX + 16] = NULL;
    size_t n = 0;
    if (!s) s = state_tensors(t, &tv, &nm, &n, err);
    if (!s) {
        /* staged layout follows state_tensors' order: head values at 0,
         * then per registry: m and v interleaved per tensor */
        size_t o = 0;
        for (size_t i = 0; i < n && !s; i++) {
            const es_tensor_view *v = es_weights_find(w, tv[i].name);
            size_t numel = 1;
            for (int d = 0; d < tv[i].ndim; d++) numel *= (size_t)tv[i].shape[d];
            int ok = v && v->ndim == tv[i].ndim;
            for (int d = 0; ok && d < tv[i].ndim; d++) ok = v->shape[d] == tv[i].shape[d];
            if (!ok) s = es_errf(err, ES_ERR_FORMAT, "%s: tensor %s missing or of another shape", path, tv[i].name);
            else s = es_tensor_to_f32(stage + o, v, err);
            o += numel;
        }
        if (!s) {
            memcpy(pm->data, pc->data, pm->total * sizeof(float));
            o = 0;
            for (size_t i = 0; i < n; i++) {
                size_t numel = 1;
                for (int d = 0; d < tv[i].ndim; d++) numel *= (size_t)tv[i].shape[d];
                /* tv[i].data points into this pretrainer's own buffers */
                memcpy((void *)(uintptr_t)tv[i].data, stage + o, numel * sizeof(float));
                o += numel;
            }
            t->step = (int64_t)step;
            t->opt_m.t = t->opt_h.t = (int64_t)at;
            memcpy(t->rng.s, rng, sizeof rng);
            const char *bv = es_weights_get_meta(w, "best_val");
            t->best_val = bv ? strtod(bv, NULL) : INFINITY;
            t->perm_epoch = -1;
        }
    }
    es_free(tv);
    es_free(nm);
done:
    es_free(stage);
    es_weights_free(w);
    es_byte_model_free(cm);
    return s;
}

/* ---- run ------------------------------------------------------------------------ */

static void push_row(es_bpt *t, const curve_row *r) {
    if (t->n_rows == t->cap_rows) {
        size_t nc = t->cap_rows ? 2 * t->cap_rows : 256;
        curve_row *nr = es_realloc(t->rows, nc * sizeof *nr);
        if (!nr) return; /* curves are a by-product: a row lost, training goes on */
        t->rows = nr;
        t->cap_rows = nc;
    }
    t->rows[t->n_rows++] = *r;
}

/* Reloads curves.csv rows up to the resumed step. */
static void load_curves(es_bpt *t) {
    char path[4096];
    if (es_path_join(path, sizeof path, t->out_dir, "curves.csv", NULL)) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        curve_row r = {0};
        long long st;
        char kind[8];
        if (sscanf(line, "%lld,%7[a-z],%lf,%lf,%lf,%lf", &st, kind, &r.loss, &r.acc, &r.lr, &r.bps) != 6)
            continue;
        r.step = st;
        r.val = strcmp(kind, "val") == 0;
        if (r.step <= t->step) push_row(t, &r);
    }
    fclose(f);
}

static es_status write_curves(es_bpt *t, es_error *err) {
    char path[4096];
    es_status s = es_path_join(path, sizeof path, t->out_dir, "curves.csv", err);
    if (s) return s;
    es_atomic_file *f;
    if ((s = es_atomic_begin(&f, path, err))) return s;
    s = es_atomic_printf(f, err, "step,kind,loss,masked_byte_accuracy,lr,bytes_per_s\n");
    for (size_t i = 0; !s && i < t->n_rows; i++) {
        const curve_row *r = &t->rows[i];
        s = es_atomic_printf(f, err, "%lld,%s,%.6f,%.6f,%.6g,%.1f\n", (long long)r->step,
                             r->val ? "val" : "train", r->loss, r->acc, r->lr, r->bps);
    }
    if (s) {
        es_atomic_abort(f);
        return s;
    }
    if ((s = es_atomic_commit(f, err))) return s;
    size_t n = t->n_rows;
    double *b = es_calloc(n ? 5 * n : 1, sizeof *b);
    if (!b) return es_errf(err, ES_ERR_NOMEM, "byte pretrain: out of memory plotting");
    double *tx = b, *ty = b + n, *vx = b + 2 * n, *vy = b + 3 * n, *va = b + 4 * n;
    size_t nt = 0, nv = 0;
    for (size_t i = 0; i < n; i++) {
        const curve_row *r = &t->rows[i];
        if (r->val) {
            vx[nv] = (double)r->step;
            vy[nv] = r->loss;
            va[nv++] = r->acc;
        } else {
            tx[nt] = (double)r->step;
            ty[nt++] = r->loss;
        }
    }
    es_plot_series ls[2] = {{"train (masked bytes)", tx, ty, nt}, {"validation (fixed masks)", vx, vy, nv}};
    es_plot_series as[1] = {{"validation", vx, va, nv}};
    es_plot_panel panels[2] = {
        {"Masked-byte cross-entropy", "step", "nats / byte", ls, 2, 0, 0, 0},
        {"Masked-byte accuracy", "step", "accuracy", as, 1, 0, 0, 0},
    };
    char title[512];
    snprintf(title, sizeof title, "edgeseq pretrain --byte-encoder: %s", t->out_dir);
    if (!(s = es_path_join(path, sizeof path, t->out_dir, "curves.svg", err)))
        s = es_plot_svg_write(path, title, panels, 2, err);
    es_free(b);
    return s;
}

static es_status do_eval(es_bpt *t, const es_bpt_corpus *c, es_bpt_progress *pr,
                         es_bpt_progress_fn fn, void *user, es_error *err) {
    double vl, va;
    es_status s = es_bpt_evaluate(t, c, &vl, &va, err);
    if (s) return s;
    curve_row r = {.step = t->step, .val = 1, .loss = vl, .acc = va};
    push_row(t, &r);
    if (vl < t->best_val && t->out_dir) {
        char dir[4096], path[4200];
        if ((s = es_path_join(dir, sizeof dir, t->out_dir, "best", err))) return s;
        if ((s = es_byte_model_save_dir(t->m, dir, err))) return s;
        char js[256];
        int n = snprintf(js, sizeof js, "{\"step\": %lld, \"val_loss\": %.9g, \"val_masked_byte_accuracy\": "
                         "%.9g}\n", (long long)t->step, vl, va);
        snprintf(path, sizeof path, "%s/pretrain_metrics.json", dir);
        if ((s = es_atomic_write_file(path, js, (size_t)n, err))) return s;
    }
    if (vl < t->best_val) t->best_val = vl;
    pr->event = 1;
    pr->step = t->step;
    pr->val_loss = vl;
    pr->val_acc = va;
    pr->best_val = t->best_val;
    if (fn) fn(user, pr);
    return t->out_dir ? write_curves(t, err) : ES_OK;
}

es_status es_bpt_run(es_bpt *t, const es_bpt_corpus *c, es_bpt_progress_fn fn, void *user,
                     es_error *err) {
    const es_train_params *q = &t->p.train;
    double t0 = now_s(), t_rep = t0, rep_loss = 0.0, rep_bytes = 0.0;
    int64_t rep_n = 0, start = t->step;
    es_status s = ES_OK;
    es_bpt_progress pr = {0};
    pr.max_steps = q->max_steps;
    if (t->out_dir && start > 0) load_curves(t);
    if (start == 0 && (s = do_eval(t, c, &pr, fn, user, err))) return s;
    while (t->step < q->max_steps) {
        double loss;
        if ((s = es_bpt_step(t, c, &loss, NULL, err))) return s;
        rep_loss += loss;
        rep_n++;
        for (int b = 0; b < t->B; b++) rep_bytes += (double)t->blen[b];
        if (t->step % q->log_every == 0 || t->step == q->max_steps) {
            double now = now_s();
            pr.event = 0;
            pr.step = t->step;
            pr.epoch = epoch_of(t, c);
            pr.loss = rep_loss / (double)rep_n;
            pr.grad_norm = t->last_norm;
            pr.lr = es_lr_at(q, t->step);
            pr.bytes_per_s = rep_bytes / ES_MAX(now - t_rep, 1e-9);
            pr.elapsed_s = now - t0;
            pr.eta_s = (now - t0) / (double)(t->step - start) * (double)(q->max_steps - t->step);
            curve_row r = {.step = t->step, .loss = pr.loss, .lr = pr.lr, .bps = pr.bytes_per_s};
            push_row(t, &r);
            rep_loss = rep_bytes = 0.0;
            rep_n = 0;
            t_rep = now;
            if (fn && fn(user, &pr)) {
                if (t->out_dir && ((s = es_bpt_save(t, err)) || (s = write_curves(t, err)))) return s;
                return es_errf(err, ES_ERR_CANCELLED, "byte pretrain: stopped at step %" PRId64, t->step);
            }
        }
        if (q->eval_every > 0 && t->step % q->eval_every == 0 && t->step < q->max_steps &&
            (s = do_eval(t, c, &pr, fn, user, err)))
            return s;
        if (t->out_dir && q->save_every > 0 && t->step % q->save_every == 0 && t->step < q->max_steps &&
            (s = es_bpt_save(t, err)))
            return s;
    }
    if ((s = do_eval(t, c, &pr, fn, user, err))) return s;
    if (!t->out_dir) return ES_OK;
    if ((s = es_bpt_save(t, err))) return s;
    return es_byte_model_save_dir(t->m, t->out_dir, err);
}

/* ---- init_encoder ------------------------------------------------------------------ */

static int is_head_tensor(const char *name) {
    return strncmp(name, "pool.", 5) == 0 || strncmp(name, "head.", 5) == 0;
}

static void fmt_shape(char *buf, size_t cap, const es_param *p) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < p->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)p->shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

es_status es_byte_load_encoder(es_byte_model *m, const char *dir, int *n_tensors, es_error *err) {
    if (n_tensors) *n_tensors = 0;
    es_byte_model *src = NULL;
    es_status s = es_byte_model_load_dir(&src, dir, err);
    if (s) return es_err_prefix(err, "init_encoder");
    const es_byte_config *a = es_byte_model_config(m), *b = es_byte_model_config(src);
    struct { const char *key; int want, have; } keys[] = {
        {"encoder", (int)a->encoder, (int)b->encoder},
        {"downsample", a->downsample, b->downsample},
        {"gbst_blocks", a->gbst_blocks, b->gbst_blocks},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(keys) && !s; i++)
        if (keys[i].want != keys[i].have)
            s = es_errf(err, ES_ERR_SHAPE, "init_encoder %s: %s is %d there, the model has %d (the "
                        "encoder must have the same architecture)", dir, keys[i].key, keys[i].have,
                        keys[i].want);
    const es_params *pd = es_byte_model_params(m), *ps = es_byte_model_params(src);
    int n = 0;
    for (int i = 0; i < pd->n && !s; i++) {
        const es_param *p = &pd->p[i];
        if (is_head_tensor(p->name)) continue;
        int j = es_params_find(ps, p->name);
        if (j < 0) {
            s = es_errf(err, ES_ERR_SHAPE, "init_encoder %s: tensor %s of the model is not there "
                        "(different encoder depth or front end?)", dir, p->name);
            break;
        }
        const es_param *q = &ps->p[j];
        int same = q->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = q->shape[d] == p->shape[d];
        if (!same) {
            char sa[96], sb[96];
            fmt_shape(sa, sizeof sa, q);
            fmt_shape(sb, sizeof sb, p);
            s = es_errf(err, ES_ERR_SHAPE, "init_encoder %s: tensor %s has shape %s there, the model "
                        "needs %s", dir, p->name, sa, sb);
        }
        n++;
    }
    for (int j = 0; j < ps->n && !s; j++)
        if (!is_head_tensor(ps->p[j].name) && es_params_find(pd, ps->p[j].name) < 0)
            s = es_errf(err, ES_ERR_SHAPE, "init_encoder %s: tensor %s there has no place in the model "
                        "(different encoder depth?)", dir, ps->p[j].name);
    if (!s) {
        for (int i = 0; i < pd->n; i++) {
            const es_param *p = &pd->p[i];
            if (is_head_tensor(p->name)) continue;
            int j = es_params_find(ps, p->name);
            memcpy(pd->data + p->offset, ps->data + ps->p[j].offset, p->numel * sizeof(float));
        }
        if (n_tensors) *n_tensors = n;
    }
    es_byte_model_free(src);
    return s;
}
