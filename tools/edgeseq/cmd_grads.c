/*
 * cmd_grads.c — `edgeseq grads`: loss and every parameter gradient of a T5
 * model for ONE batch made of all lines of a {"input", "target"} JSON-lines
 * file, written to a safetensors file; nothing is updated.
 *
 * Batch convention = fixtures README §2: ids + </s>, right padding, decoder
 * inputs [start] + target[:-1], labels padded with -100; loss = mean token
 * NLL over the batch (HF CrossEntropyLoss, ignore_index -100), dropout off.
 * Output tensors: `loss` F32 [1], `grad_norm` F32 [1] (global L2 norm, the
 * tied embedding once), `grad.<HF name>` F32 (full shape) for every tensor
 * of model.safetensors. Deterministic for any thread count.
 */
#include "cli.h"

#include "core/pool.h"
#include "io/weights.h"
#include "model/model_internal.h"
#include "train/optim.h"
#include "train/t5_data.h"
#include "train/t5_state.h"

#include <stdlib.h>
#include <string.h>

int cmd_grads(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *out = NULL;
    int threads = 0, max_src = 4096, max_tgt = 4096;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, 0, 0, "MODEL", "T5 model folder (required)", NULL},
        {"data", 0, CLI_STR, &data, 0, 0, "FILE", "JSON lines {\"input\", \"target\"} (required)", NULL},
        {"out", 'o', CLI_STR, &out, 0, 0, "FILE", "output .safetensors (required)", NULL},
        {"max-src-len", 0, CLI_INT, &max_src, 1, 1 << 20, "N",
         "longest input in tokens incl. </s> (default 4096)", NULL},
        {"max-target-len", 0, CLI_INT, &max_tgt, 1, 1 << 20, "N",
         "longest target in tokens incl. </s> (default 4096)", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N", "worker threads (default 0 = physical cores)",
         NULL},
    };
    const cli_help help = {
        "edgeseq grads -m MODEL --data FILE.jsonl --out FILE.safetensors",
        "Computes the loss and the gradient of every parameter for one batch made of\n"
        "all lines of FILE (padded, labels -100 on padding; loss = mean token NLL over\n"
        "the batch, dropout off) and writes `loss`, `grad_norm` and `grad.<name>`\n"
        "(F32, HF tensor names) to the output file. The model is not changed.",
        "  edgeseq grads -m models/tiny --data batch.jsonl --out grads.safetensors",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("grads", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    free(pos);
    if (!model || !data || !out)
        return cli_usage("grads", "%s", !model ? "missing -m MODEL" : !data ? "missing --data FILE" : "missing --out FILE");
    if (n_pos) return cli_usage("grads", "unexpected argument");
    if (threads == 0) threads = cli_default_threads();

    es_model *m = NULL;
    if ((rc = cli_load_model(model, threads, &m))) return rc;
    es_error err = {0};
    es_t5_trainable t;
    es_t5_dataset d;
    es_t5_batch_buf bb;
    es_t5_tws *ws = NULL;
    es_pool *pool = NULL;
    es_st_write_tensor *tw = NULL;
    char (*names)[ES_PARAM_NAME_MAX + 8] = NULL;
    memset(&t, 0, sizeof t);
    memset(&d, 0, sizeof d);
    memset(&bb, 0, sizeof bb);
    es_status s = es_t5_trainable_init(&t, m, 1, &err);
    if (!s) s = es_t5_dataset_load(&d, data, es_model_tokenizer(m), max_src, max_tgt, 0, &err);
    if (!s && d.n > 65536) s = es_errf(&err, ES_ERR_ARG, "%s: %zu lines is too many for one batch", data, d.n);
    if (!s) s = es_pool_new(&pool, threads, &err);
    if (!s) s = es_t5_batch_buf_init(&bb, (int)d.n, d.max_src, d.max_tgt, &err);
    if (!s) s = es_t5_tws_new(&ws, &t.cfg, pool, (int)d.n, d.max_src, d.max_tgt, 0, &err);
    double loss = 0;
    if (!s) {
        size_t *idx = malloc(d.n * sizeof *idx);
        if (!idx) s = es_errf(&err, ES_ERR_NOMEM, "out of memory");
        for (size_t i = 0; idx && i < d.n; i++) idx[i] = i;
        if (!s) {
            es_t5_batch_fill(&bb, &d, idx, (int)d.n, t.cfg.pad_id, t.cfg.start_id);
            for (size_t i = 0; i < (size_t)bb.b.B * bb.b.S; i++)
                if (bb.ids[i] >= t.cfg.vocab) s = es_errf(&err, ES_ERR_FORMAT, "token id %d >= vocab", bb.ids[i]);
        }
        free(idx);
        double sum = 0;
        int n_tok = 0;
        if (!s)
            s = es_t5_train_forward_backward(ws, &t.w, &t.g, &bb.b, 0.0f, NULL,
                                             1.0f / (float)d.n_tgt_tokens, &sum, &n_tok, &err);
        loss = n_tok ? sum / n_tok : 0.0;
    }
    if (!s) {
        const es_params *ps = &t.ps;
        float lossf = (float)loss, gnorm = (float)es_grad_norm(ps);
        tw = calloc((size_t)ps->n + 2, sizeof *tw);
        names = calloc((size_t)ps->n, sizeof *names);
        if (!tw || !names) s = es_errf(&err, ES_ERR_NOMEM, "out of memory");
        if (!s) {
            tw[0] = (es_st_write_tensor){"loss", ES_DTYPE_F32, 1, {1}, &lossf};
            tw[1] = (es_st_write_tensor){"grad_norm", ES_DTYPE_F32, 1, {1}, &gnorm};
            for (int i = 0; i < ps->n; i++) {
                const es_param *p = &ps->p[i];
                snprintf(names[i], sizeof names[i], "grad.%s", p->name);
                es_st_write_tensor *w = &tw[i + 2];
                w->name = names[i];
                w->dtype = ES_DTYPE_F32;
                w->ndim = p->ndim;
                for (int k = 0; k < p->ndim; k++) w->shape[k] = p->shape[k];
                w->data = ps->grad + p->offset;
            }
            const char *meta[] = {"edgeseq_format", "1", "generator", "edgeseq grads"};
            s = es_safetensors_write(out, tw, (size_t)ps->n + 2, meta, 2, &err);
        }
        if (!s) {
            printf("loss %.9g  grad_norm %.9g  rows %zu  target tokens %zu  tensors %d -> %s\n",
                   loss, (double)gnorm, d.n, d.n_tgt_tokens, ps->n, out);
        }
    }
    free(tw);
    free(names);
    es_t5_tws_free(ws);
    es_pool_free(pool);
    es_t5_batch_buf_free(&bb);
    es_t5_dataset_free(&d);
    es_t5_trainable_free(&t);
    es_model_free(m);
    return s ? cli_fail_err(&err) : CLI_EXIT_OK;
}
