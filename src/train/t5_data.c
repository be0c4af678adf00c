/*
 * t5_data.c — JSON-lines seq2seq data for T5 training (see t5_data.h):
 * whole-file read (a leading UTF-8 byte-order mark skipped), per-line
 * UTF-8 check (before JSON parsing, so the byte offset of the first bad
 * byte can be named), json-c parse with
 * trailing-garbage check, tokenization with </s> appended, limits, and
 * the padded batch layout of fixtures README §2.
 */
#include "train/t5_data.h"

#include "io/fileio.h"
#include "tok/utf8.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_MAX_BYTES ((size_t)4 << 30)

typedef struct ibuf {
    int32_t *v;
    size_t n, cap;
} ibuf;

static bool ibuf_push(ibuf *b, int32_t x) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 4096;
        int32_t *nv = es_realloc(b->v, nc * sizeof *nv);
        if (!nv) return false;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = x;
    return true;
}

/* Appends the ids of text + </s>; returns the token count via *n. */
static es_status encode(ibuf *b, const es_tokenizer *tok, const char *text, size_t len, int *n,
                        es_error *err) {
    size_t cap = len + 16, got = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        es_token *toks = es_malloc(cap * sizeof *toks);
        if (!toks) return es_errf(err, ES_ERR_NOMEM, "out of memory tokenizing");
        es_status s = es_tokenizer_encode(tok, text, len, toks, cap, &got, NULL, 0, NULL, err);
        if (s == ES_ERR_BUFFER) {
            es_free(toks);
            cap = got + 16;
            continue;
        }
        if (!s && got + 1 > (size_t)INT32_MAX / 2) s = es_errf(err, ES_ERR_ARG, "text too long");
        for (size_t i = 0; i < got && !s; i++)
            if (!ibuf_push(b, toks[i].id)) s = es_errf(err, ES_ERR_NOMEM, "out of memory");
        if (!s && !ibuf_push(b, es_tokenizer_eos_id(tok)))
            s = es_errf(err, ES_ERR_NOMEM, "out of memory");
        es_free(toks);
        *n = (int)got + 1;
        return s;
    }
    return es_errf(err, ES_ERR_INTERNAL, "tokenizer size query did not converge");
}

/* Parses one non-blank line into the dataset. Returns ES_ERR_FORMAT with
 * "path:line: ..." for bad data. */
static es_status parse_line(es_t5_dataset *d, ibuf *ids, size_t *cap_ex, const char *path,
                            long lineno, const char *line, size_t len, const es_tokenizer *tok,
                            int max_src, int max_tgt, es_error *err) {
    if (!es_utf8_valid((const uint8_t *)line, len)) {
        size_t off = 0, mb = 0;
        while (off < len && es_utf8_valid_char((const uint8_t *)line + off, len - off, &mb)) off += mb;
        return es_errf(err, ES_ERR_FORMAT, "%s:%ld: not valid UTF-8 (byte %zu of the line)", path,
                       lineno, off + 1);
    }
    if (len > (size_t)INT32_MAX) return es_errf(err, ES_ERR_FORMAT, "%s:%ld: line too long", path, lineno);
    json_tokener *tk = json_tokener_new();
    if (!tk) return es_errf(err, ES_ERR_NOMEM, "out of memory");
    json_object *o = json_tokener_parse_ex(tk, line, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t used = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    if (!o || je != json_tokener_success) {
        if (o) json_object_put(o);
        return es_errf(err, ES_ERR_FORMAT,
                       "%s:%ld: invalid JSON (%s); expected {\"input\": ..., \"target\": ...}", path,
                       lineno,
                       je == json_tokener_continue ? "unexpected end of line" : json_tokener_error_desc(je));
    }
    es_status s = ES_OK;
    for (size_t i = used; i < len && !s; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            s = es_errf(err, ES_ERR_FORMAT, "%s:%ld: unexpected text after the JSON object", path,
                        lineno);
    json_object *vi = NULL, *vt = NULL;
    if (!s && !json_object_is_type(o, json_type_object))
        s = es_errf(err, ES_ERR_FORMAT, "%s:%ld: expected a JSON object {\"input\", \"target\"}",
                    path, lineno);
    if (!s && (!json_object_object_get_ex(o, "input", &vi) || !json_object_is_type(vi, json_type_string)))
        s = es_errf(err, ES_ERR_FORMAT, "%s:%ld: missing string field \"input\"", path, lineno);
    if (!s && (!json_object_object_get_ex(o, "target", &vt) || !json_object_is_type(vt, json_type_string)))
        s = es_errf(err, ES_ERR_FORMAT, "%s:%ld: missing string field \"target\"", path, lineno);
    size_t mark = ids->n;
    int ns = 0, nt = 0;
    if (!s) s = encode(ids, tok, json_object_get_string(vi), (size_t)json_object_get_string_len(vi), &ns, err);
    if (!s) s = encode(ids, tok, json_object_get_string(vt), (size_t)json_object_get_string_len(vt), &nt, err);
    json_object_put(o);
    if (!s && ns > max_src)
        s = es_errf(err, ES_ERR_FORMAT,
                    "%s:%ld: input is %d tokens (with </s>), longer than the limit of %d", path,
                    lineno, ns, max_src);
    if (!s && nt > max_tgt)
        s = es_errf(err, ES_ERR_FORMAT,
                    "%s:%ld: target is %d tokens (with </s>), longer than the limit of %d", path,
                    lineno, nt, max_tgt);
    if (s) {
        ids->n = mark;
        return s;
    }
    if (d->n == *cap_ex) {
        size_t nc = *cap_ex ? 2 * *cap_ex : 256;
        es_t5_example *ne = es_realloc(d->ex, nc * sizeof *ne);
        if (!ne) return es_errf(err, ES_ERR_NOMEM, "out of memory");
        d->ex = ne;
        *cap_ex = nc;
    }
    /* pointers are fixed after loading (ids may still move); store offsets */
    es_t5_example *e = &d->ex[d->n++];
    e->src = (const int32_t *)(uintptr_t)mark;
    e->tgt = (const int32_t *)(uintptr_t)(mark + (size_t)ns);
    e->n_src = ns;
    e->n_tgt = nt;
    e->line = lineno;
    if (ns > d->max_src) d->max_src = ns;
    if (nt > d->max_tgt) d->max_tgt = nt;
    d->n_tgt_tokens += (size_t)nt;
    return ES_OK;
}

es_status es_t5_dataset_load(es_t5_dataset *d, const char *path, const es_tokenizer *tok,
                             int max_src, int max_tgt, int skip_bad, es_error *err) {
    memset(d, 0, sizeof *d);
    if (!tok) return es_errf(err, ES_ERR_ARG, "%s: the model has no tokenizer (spiece.model)", path);
    void *buf = NULL;
    size_t len = 0;
    es_status s = es_read_file(path, &buf, &len, DATA_MAX_BYTES, err);
    if (s) return s;
    ibuf ids = {0};
    size_t cap_ex = 0;
    const char *p = buf, *end = p + len;
    /* a UTF-8 byte-order mark (some editors write one) is not data */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    long lineno = 0;
    while (p < end && !s) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r') ll--;
        bool blank = true;
        for (size_t i = 0; i < ll && blank; i++)
            blank = p[i] == ' ' || p[i] == '\t';
        if (!blank) {
            es_error le_err;
            s = parse_line(d, &ids, &cap_ex, path, lineno, p, ll, tok, max_src, max_tgt, &le_err);
            if (s == ES_ERR_FORMAT && skip_bad) {
                if (!d->n_skipped) snprintf(d->first_skip, sizeof d->first_skip, "%s", le_err.msg);
                d->n_skipped++;
                s = ES_OK;
            } else if (s) {
                if (err) *err = le_err;
            }
        }
        p = nl ? nl + 1 : end;
    }
    es_free(buf);
    if (!s && d->n == 0)
        s = es_errf(err, ES_ERR_FORMAT, "%s: no examples (%s)", path,
                    lineno == 0 ? "empty file"
                                : d->n_skipped ? "every line was bad and skipped" : "only blank lines");
    if (s) {
        es_free(ids.v);
        es_free(d->ex);
        memset(d, 0, sizeof *d);
        return s;
    }
    d->ids = ids.v;
    for (size_t i = 0; i < d->n; i++) {
        d->ex[i].src = d->ids + (uintptr_t)d->ex[i].src;
        d->ex[i].tgt = d->ids + (uintptr_t)d->ex[i].tgt;
    }
    return ES_OK;
}

void es_t5_dataset_free(es_t5_dataset *d) {
    if (!d) return;
    es_free(d->ids);
    es_free(d->ex);
    memset(d, 0, sizeof *d);
}

es_status es_t5_batch_buf_init(es_t5_batch_buf *bb, int max_B, int max_S, int max_T,
                               es_error *err) {
    memset(bb, 0, sizeof *bb);
    size_t ns = (size_t)max_B * (size_t)max_S, nt = (size_t)max_B * (size_t)max_T;
    bb->ids = es_calloc(ns, sizeof(int32_t));
    bb->mask = es_calloc(ns, sizeof(int32_t));
    bb->dec_in = es_calloc(nt, sizeof(int32_t));
    bb->labels = es_calloc(nt, sizeof(int32_t));
    if (!bb->ids || !bb->mask || !bb->dec_in || !bb->labels) {
        es_t5_batch_buf_free(bb);
        return es_errf(err, ES_ERR_NOMEM, "out of memory (batch buffers)");
    }
    bb->max_B = max_B;
    bb->max_S = max_S;
    bb->max_T = max_T;
    return ES_OK;
}

void es_t5_batch_buf_free(es_t5_batch_buf *bb) {
    es_free(bb->ids);
    es_free(bb->mask);
    es_free(bb->dec_in);
    es_free(bb->labels);
    memset(bb, 0, sizeof *bb);
}

void es_t5_batch_fill(es_t5_batch_buf *bb, const es_t5_dataset *d, const size_t *idx, int n,
                      int32_t pad, int32_t start) {
    int S = 1, T = 1;
    for (int i = 0; i < n; i++) {
        S = ES_MAX(S, d->ex[idx[i]].n_src);
        T = ES_MAX(T, d->ex[idx[i]].n_tgt);
    }
    for (int i = 0; i < n; i++) {
        const es_t5_example *e = &d->ex[idx[i]];
        int32_t *ids = bb->ids + (size_t)i * S, *mask = bb->mask + (size_t)i * S;
        int32_t *din = bb->dec_in + (size_t)i * T, *lab = bb->labels + (size_t)i * T;
        for (int t = 0; t < S; t++) {
            ids[t] = t < e->n_src ? e->src[t] : pad;
            mask[t] = t < e->n_src;
        }
        /* HF shift_right: decoder input t = target t-1, start at t = 0 */
        for (int t = 0; t < T; t++) {
            din[t] = t == 0 ? start : t < e->n_tgt ? e->tgt[t - 1] : pad;
            lab[t] = t < e->n_tgt ? e->tgt[t] : ES_T5_IGNORE_INDEX;
        }
    }
    es_t5_batch b = {n, S, T, bb->ids, bb->mask, bb->dec_in, bb->labels};
    bb->b = b;
}

static const es_t5_dataset *g_sort_d; /* qsort context (single-threaded plan build) */

static int cmp_len(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const es_t5_example *x = &g_sort_d->ex[i], *y = &g_sort_d->ex[j];
    int lx = x->n_src + x->n_tgt, ly = y->n_src + y->n_tgt;
    if (lx != ly) return lx < ly ? -1 : 1;
    return i < j ? -1 : i > j;
}

es_status es_t5_plan_init(es_t5_plan *p, const es_t5_dataset *d, int batch_size, es_error *err) {
    memset(p, 0, sizeof *p);
    if (batch_size < 1) return es_errf(err, ES_ERR_ARG, "batch size must be >= 1");
    size_t nb = (d->n + (size_t)batch_size - 1) / (size_t)batch_size;
    p->order = es_calloc(d->n, sizeof(size_t));
    p->starts = es_calloc(nb + 1, sizeof(size_t));
    p->perm = es_calloc(nb, sizeof(size_t));
    if (!p->order || !p->starts || !p->perm) {
        es_t5_plan_free(p);
        return es_errf(err, ES_ERR_NOMEM, "out of memory (batch plan)");
    }
    for (size_t i = 0; i < d->n; i++) p->order[i] = i;
    g_sort_d = d;
    qsort(p->order, d->n, sizeof(size_t), cmp_len);
    g_sort_d = NULL;
    for (size_t k = 0; k <= nb; k++) p->starts[k] = ES_MIN(k * (size_t)batch_size, d->n);
    p->n_batches = nb;
    for (size_t k = 0; k < nb; k++) p->perm[k] = k;
    return ES_OK;
}

void es_t5_plan_free(es_t5_plan *p) {
    es_free(p->order);
    es_free(p->starts);
    es_free(p->perm);
    memset(p, 0, sizeof *p);
}

void es_t5_plan_epoch(es_t5_plan *p, uint64_t seed, int64_t epoch) {
    es_rng r;
    es_rng_seed(&r, seed * 0x9e3779b97f4a7c15ull + (uint64_t)epoch + 1);
    for (size_t k = 0; k < p->n_batches; k++) p->perm[k] = k;
    for (size_t k = p->n_batches; k > 1; k--) {
        size_t j = (size_t)es_rng_below(&r, k);
        size_t t = p->perm[k - 1];
        p->perm[k - 1] = p->perm[j];
        p->perm[j] = t;
    }
}
