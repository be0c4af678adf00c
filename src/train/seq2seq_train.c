/*
 * seq2seq_train.c — the training loop and evaluation of byte seq2seq
 * models (seq2seq_data.h).
 *
 * One step = grad_accum micro-batches of batch_size examples in the
 * epoch's permutation order → teacher-forced forward → token softmax
 * cross-entropy (src/train/loss.c, grad_scale 1/(tokens of the step), so
 * the loss is the mean over every predicted position incl. the end id)
 * → backward into both registries → global-norm clip over both → AdamW
 * (optim.c) on each registry with the same step count and lr.
 * Gradient scaling uses the token count of each micro-batch divided by the
 * number of micro-batches, an exact mean for grad_accum = 1.
 */
#include "train/seq2seq_data.h"

#include "core/pool.h"
#include "io/fileio.h"
#include "nn/ops.h"
#include "train/loss.h"
#include "train/optim.h"

#include <math.h>
#include <string.h>

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

es_status es_s2s_train(es_s2s_model *m, const es_s2s_source *train, const es_train_params *p,
                       es_s2s_progress_fn progress, void *user, es_error *err) {
    if (!train || train->n == 0) return es_errf(err, ES_ERR_ARG, "seq2seq training: no examples");
    if (p->batch_size < 1 || p->grad_accum < 1 || p->max_steps < 1 || !(p->lr > 0.0f))
        return es_errf(err, ES_ERR_ARG, "seq2seq training: batch_size, grad_accum, max_steps and "
                       "lr must be positive");
    const es_s2s_config *c = es_s2s_model_config(m);
    const int B = p->batch_size, V = es_s2s_model_vocab(m);
    es_pool *pool = NULL;
    es_s2s_ws *ws = NULL;
    es_adamw oe, od;
    memset(&oe, 0, sizeof oe);
    memset(&od, 0, sizeof od);
    batch bt;
    memset(&bt, 0, sizeof bt);
    size_t *perm = NULL;
    es_status s = es_pool_new(&pool, p->n_threads > 0 ? p->n_threads : es_cpu_physical_cores(), err);
    if (!s) s = es_s2s_model_enable_grad(m, err);
    if (!s) s = es_s2s_ws_new(&ws, m, B, 1, 1, pool, err);
    if (!s) s = es_adamw_init(&oe, es_s2s_model_enc_params(m), err);
    if (!s) s = es_adamw_init(&od, es_s2s_model_dec_params(m), err);
    if (!s) s = batch_init(&bt, B, (size_t)c->enc.max_bytes, (size_t)c->max_out - 1, err);
    if (!s && !(perm = es_calloc(train->n, sizeof *perm)))
        s = es_errf(err, ES_ERR_NOMEM, "seq2seq training: out of memory for %zu indices", train->n);
    es_params *pe = es_s2s_model_enc_params(m), *pd = es_s2s_model_dec_params(m);
    es_rng rng;
    es_rng_seed(&rng, p->seed ^ 0x5e925eedull);
    int64_t epoch = -1;
    size_t pos = train->n;
    double loss_acc = 0.0;
    int64_t loss_n = 0;
    for (int64_t step = 1; !s && step <= p->max_steps; step++) {
        es_params_zero_grad(pe);
        es_params_zero_grad(pd);
        double step_loss = 0.0;
        for (int a = 0; !s && a < p->grad_accum; a++) {
            for (int i = 0; !s && i < B; i++) {
                if (pos == train->n) { /* next epoch: Fisher–Yates from (seed, epoch) */
                    epoch++;
                    pos = 0;
                    es_rng r;
                    es_rng_seed(&r, p->seed * 0x9e3779b97f4a7c15ull + (uint64_t)epoch + 1);
                    for (size_t k = 0; k < train->n; k++) perm[k] = k;
                    for (size_t k = train->n; k > 1; k--) {
                        size_t j = (size_t)es_rng_below(&r, k), t = perm[k - 1];
                        perm[k - 1] = perm[j];
                        perm[j] = t;
                    }
                }
                es_s2s_example ex;
                size_t idx = perm[pos++];
                if (!(s = get_ex(train, idx, &ex, err))) s = batch_put(&bt, i, &ex, idx, err);
            }
            if (s) break;
            s = es_s2s_forward(ws, m, (const uint8_t *const *)bt.src, bt.sl,
                               (const int32_t *const *)bt.tgt, bt.tl, B, 1, &rng, err);
            if (s) break;
            int rows;
            const int32_t *y;
            const float *lg = es_s2s_logits(ws, &rows, &y);
            size_t ntok = 0;
            for (int i = 0; i < B; i++) ntok += bt.tl[i] + 1;
            int counted = 0;
            float gs = 1.0f / ((float)ntok * (float)p->grad_accum);
            double l = es_softmax_ce(es_s2s_dlogits(ws), lg, y, rows, V, -1, gs, &counted, NULL);
            step_loss += l / (double)ntok / (double)p->grad_accum;
            s = es_s2s_backward(ws, m, err);
        }
        if (s) break;
        /* one clipping norm over both registries */
        double ge = es_grad_norm(pe), gd = es_grad_norm(pd);
        double gn = sqrt(ge * ge + gd * gd);
        if (p->clip_norm > 0.0f) {
            float coef = (float)((double)p->clip_norm / (gn + 1e-6));
            if (coef < 1.0f) {
                es_grad_scale(pe, coef);
                es_grad_scale(pd, coef);
            }
        }
        float lr = es_lr_at(p, step);
        es_adamw_step(&oe, pe, lr, p->beta1, p->beta2, p->eps, p->weight_decay, 0);
        es_adamw_step(&od, pd, lr, p->beta1, p->beta2, p->eps, p->weight_decay, 0);
        loss_acc += step_loss;
        loss_n++;
        if (progress && p->log_every > 0 && (step % p->log_every == 0 || step == p->max_steps)) {
            if (progress(user, step, loss_acc / (double)loss_n, gn, lr))
                s = es_errf(err, ES_ERR_CANCELLED, "seq2seq training: stopped at step %lld",
                            (long long)step);
            loss_acc = 0.0;
            loss_n = 0;
        }
    }
    if (!s && p->out_dir) s = es_s2s_model_save_dir(m, p->out_dir, err);
    es_free(perm);
    batch_free(&bt);
    es_adamw_free(&oe);
    es_adamw_free(&od);
    es_s2s_ws_free(ws);
    es_pool_free(pool);
    return s;
}

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
