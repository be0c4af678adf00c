/*
 * ptbin.c — pytorch_model.bin reader: a torch.save zip archive whose
 * data.pkl is a state dict {name: tensor}, read without Python and without
 * executing anything (see unpickle.h and docs/ptbin.md).
 *
 * Layout: <root>/data.pkl (the pickle), <root>/data/<key> (raw little-
 * endian storage bytes, one entry per storage), <root>/version, and since
 * torch 2.1 <root>/byteorder ("little" or "big"). <root> varies
 * ("archive", the file stem, "pytorch_model.bin"), so the single
 * "<one component>/data.pkl" entry defines it.
 *
 * Tensors: the pickle gives (storage, offset, size, stride) per name. The
 * reader proves offset + the furthest element the strides reach lies
 * inside the storage (in uint64 with overflow checks), then registers a
 * view straight into the archive when the strides are row-major
 * contiguous, else a contiguous copy owned by the set. Copies are budgeted
 * to the archive's size in total, so a pickle cannot turn one small storage
 * into gigabytes of expanded views. Several names may share a storage
 * (tied embeddings); each name is registered.
 *
 * Integrity: sizes of every entry are checked against the file; CRC-32 is
 * verified for data.pkl and the small metadata entries, not for storages
 * (that would read the whole file at load and defeat the lazy memory map;
 * a corrupt storage can only give wrong numbers, never an out-of-bounds
 * read, since its size is checked).
 */
#include "io/fileio.h"
#include "io/unpickle.h"
#include "io/weights.h"
#include "io/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct pt_ctx {
    es_weights *w;
    const es_zip *z;
    const char *name; /* archive name for messages */
    const char *root; /* "<root>/" prefix incl. the slash */
    size_t copy_budget;
    es_error *err;
} pt_ctx;

/* Finds the one "<root>/data.pkl" entry (root: one non-empty component). */
static es_status find_pickle(const es_zip *z, const char *name, const es_zip_entry **out,
                             es_error *err) {
    static const char suffix[] = "/data.pkl";
    const size_t sl = sizeof suffix - 1;
    *out = NULL;
    for (size_t i = 0; i < es_zip_count(z); i++) {
        const es_zip_entry *e = es_zip_at(z, i);
        size_t n = strlen(e->name);
        if (n <= sl || strcmp(e->name + n - sl, suffix) != 0) continue;
        const char *slash = strchr(e->name, '/');
        if (slash != e->name + n - sl) continue; /* nested deeper: not a root pickle */
        if (*out)
            return es_errf(err, ES_ERR_FORMAT, "%s: two pickles '%s' and '%s' (expected one "
                                               "<root>/data.pkl)",
                           name, (*out)->name, e->name);
        *out = e;
    }
    if (!*out)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: no <root>/data.pkl entry: not a torch.save archive", name);
    return ES_OK;
}

/* Reads the optional <root>/byteorder entry: only "little" is accepted. */
static es_status check_byteorder(const pt_ctx *c, char *entry, size_t cap) {
    snprintf(entry, cap, "%sbyteorder", c->root);
    const es_zip_entry *e = es_zip_find(c->z, entry);
    if (!e) return ES_OK; /* before torch 2.1: always little-endian */
    const uint8_t *d;
    size_t n;
    es_status s = es_zip_data(c->z, e, true, &d, &n, c->err);
    if (s) return s;
    if (n == 6 && memcmp(d, "little", 6) == 0) return ES_OK;
    if (n == 3 && memcmp(d, "big", 3) == 0)
        return es_errf(c->err, ES_ERR_UNSUPPORTED,
                       "%s: archive was saved on a big-endian machine (byteorder = big); "
                       "re-save it on a little-endian one",
                       c->name);
    return es_errf(c->err, ES_ERR_FORMAT, "%s: entry '%s' is neither 'little' nor 'big'",
                   c->name, entry);
}

static bool is_contiguous(const es_pk_value *t) {
    uint64_t expect = 1;
    for (int i = t->u.tensor.ndim - 1; i >= 0; i--) {
        uint64_t sz = (uint64_t)t->u.tensor.size[i];
        if (sz != 1 && (uint64_t)t->u.tensor.stride[i] != expect) return false;
        expect *= sz; /* cannot overflow: numel was checked to fit in size_t */
    }
    return true;
}

/* Gathers a strided view into a contiguous (row-major) copy. */
static void gather(uint8_t *dst, const uint8_t *base, const es_pk_value *t, size_t esz,
                   size_t numel) {
    int nd = t->u.tensor.ndim;
    int64_t idx[ES_MAX_DIMS] = {0};
    size_t src = 0; /* element offset from base, kept in step with idx */
    for (size_t k = 0; k < numel; k++) {
        memcpy(dst + k * esz, base + src * esz, esz);
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < t->u.tensor.size[d]) {
                src += (size_t)t->u.tensor.stride[d];
                break;
            }
            src -= (size_t)t->u.tensor.stride[d] * (size_t)(t->u.tensor.size[d] - 1);
            idx[d] = 0;
        }
    }
}

static es_status add_tensor(pt_ctx *c, const char *tname, const es_pk_value *t) {
    const es_pk_value *st = t->u.tensor.storage;
    es_dtype dt = st->u.storage.dtype;
    size_t esz = es_dtype_size(dt);
    char entry[600];
    if ((size_t)snprintf(entry, sizeof entry, "%sdata/%s", c->root, st->u.storage.key) >=
        sizeof entry)
        return es_errf(c->err, ES_ERR_FORMAT, "%s: tensor '%s': storage key too long", c->name,
                       tname);
    const es_zip_entry *e = es_zip_find(c->z, entry);
    if (!e)
        return es_errf(c->err, ES_ERR_FORMAT, "%s: tensor '%s': storage entry '%s' is missing",
                       c->name, tname, entry);
    const uint8_t *base;
    size_t n_bytes;
    es_status s = es_zip_data(c->z, e, false, &base, &n_bytes, c->err);
    if (s) return s;
    uint64_t numel_st = (uint64_t)st->u.storage.numel, want;
    if (__builtin_mul_overflow(numel_st, (uint64_t)esz, &want) || want != n_bytes)
        return es_errf(c->err, ES_ERR_FORMAT,
                       "%s: tensor '%s': storage '%s' is %zu bytes, but the pickle says %llu "
                       "elements of %s",
                       c->name, tname, entry, n_bytes, (unsigned long long)numel_st,
                       es_dtype_name(dt));
    /* numel and the furthest element reached: offset + sum (size-1)*stride. */
    int nd = t->u.tensor.ndim;
    uint64_t numel = 1, last = (uint64_t)t->u.tensor.offset;
    bool overflow = false;
    for (int i = 0; i < nd; i++) {
        uint64_t sz = (uint64_t)t->u.tensor.size[i], step;
        overflow |= __builtin_mul_overflow(numel, sz, &numel);
        if (sz > 0) {
            overflow |= __builtin_mul_overflow(sz - 1, (uint64_t)t->u.tensor.stride[i], &step);
            overflow |= __builtin_add_overflow(last, step, &last);
        }
    }
    size_t nbytes = 0;
    if (overflow || numel > SIZE_MAX / esz)
        return es_errf(c->err, ES_ERR_FORMAT,
                       "%s: tensor '%s' (data.pkl offset %zu): size/stride overflow", c->name,
                       tname, t->u.tensor.pkl_offset);
    nbytes = (size_t)numel * esz;
    if (numel > 0 && last >= numel_st)
        return es_errf(c->err, ES_ERR_FORMAT,
                       "%s: tensor '%s' (data.pkl offset %zu): reaches element %llu of storage "
                       "'%s' which holds %llu",
                       c->name, tname, t->u.tensor.pkl_offset, (unsigned long long)last, entry,
                       (unsigned long long)numel_st);
    es_tensor_view v;
    memset(&v, 0, sizeof v);
    v.name = tname;
    v.dtype = dt;
    v.ndim = nd;
    for (int i = 0; i < nd; i++) v.shape[i] = t->u.tensor.size[i];
    v.nbytes = nbytes;
    v.file = c->name;
    if (numel == 0) {
        v.data = base;
        v.file_offset = e->data_offset;
    } else if (is_contiguous(t)) {
        v.data = base + (size_t)t->u.tensor.offset * esz;
        v.file_offset = e->data_offset + (uint64_t)t->u.tensor.offset * esz;
    } else {
        if (nbytes > c->copy_budget)
            return es_errf(c->err, ES_ERR_UNSUPPORTED,
                           "%s: tensor '%s' is a non-contiguous view of %zu bytes; copying it "
                           "would exceed the budget of %zu bytes left for copies (the archive "
                           "size)",
                           c->name, tname, nbytes, c->copy_budget);
        c->copy_budget -= nbytes;
        uint8_t *copy = es_malloc(nbytes);
        if (!copy)
            return es_errf(c->err, ES_ERR_NOMEM, "%s: tensor '%s': out of memory (%zu bytes)",
                           c->name, tname, nbytes);
        gather(copy, base + (size_t)t->u.tensor.offset * esz, t, esz, (size_t)numel);
        s = es_weights_own_buffer(c->w, copy, c->err); /* frees copy on failure */
        if (s) return s;
        v.data = copy;
        v.file_offset = e->data_offset + (uint64_t)t->u.tensor.offset * esz;
    }
    return es_weights_add(c->w, &v, c->err);
}

/* Validates the archive in buf[0, len) completely and registers every
 * state-dict entry in w. Contiguous tensors point into buf (which must
 * outlive w); non-contiguous ones are copied into buffers owned by w.
 * Errors: ES_ERR_FORMAT (malformed or hostile: the message names the
 * file, entry or tensor and the byte offset), ES_ERR_UNSUPPORTED (legacy
 * format, big-endian, compressed entries, copy budget), ES_ERR_NOMEM. On
 * failure w may already hold some of this file's tensors: discard it. */
es_status es_ptbin_parse(es_weights *w, const void *buf, size_t len, const char *name,
                         es_error *err) {
    name = name ? name : "pytorch_model.bin";
    const uint8_t *b = buf;
    if (len >= 2 && b[0] == 0x80 && b[1] <= 5)
        return es_errf(err, ES_ERR_UNSUPPORTED,
                       "%s: legacy (pre-1.6, non-zip) torch.save format is not supported; "
                       "re-save with torch >= 1.6 or convert to safetensors",
                       name);
    es_zip *z;
    es_status s = es_zip_open(&z, buf, len, name, err);
    if (s) return s;
    es_unpickler *u = NULL;
    char *root = NULL, *where = NULL;
    const es_zip_entry *pe;
    s = find_pickle(z, name, &pe, err);
    if (s) goto done;
    size_t rl = strlen(pe->name) - strlen("data.pkl");
    root = es_malloc(rl + 1);
    size_t wl = strlen(name) + strlen(pe->name) + 2;
    where = es_malloc(wl);
    if (!root || !where) {
        s = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    memcpy(root, pe->name, rl);
    root[rl] = '\0';
    snprintf(where, wl, "%s:%s", name, pe->name);
    pt_ctx c = {w, z, name, root, len, err};
    char entry[600];
    if (rl + 16 > sizeof entry) {
        s = es_errf(err, ES_ERR_FORMAT, "%s: archive root name too long", name);
        goto done;
    }
    s = check_byteorder(&c, entry, sizeof entry);
    if (s) goto done;
    const uint8_t *pkl;
    size_t pkl_len;
    s = es_zip_data(z, pe, true, &pkl, &pkl_len, err);
    if (s) goto done;
    s = es_unpickle(&u, pkl, pkl_len, where, err);
    if (s) goto done;
    const es_pk_value *d = es_unpickle_root(u);
    if (d->kind != ES_PK_DICT) {
        s = es_errf(err, ES_ERR_FORMAT, "%s: the pickle is not a dict of tensors", where);
        goto done;
    }
    for (size_t i = 0; i < d->u.dict.n; i++) {
        const es_pk_value *k = d->u.dict.kv[2 * i], *v = d->u.dict.kv[2 * i + 1];
        if (k->kind != ES_PK_STR) {
            s = es_errf(err, ES_ERR_FORMAT, "%s: state dict key %zu is not a string", where, i);
            goto done;
        }
        if (v->kind != ES_PK_TENSOR) {
            s = es_errf(err, ES_ERR_FORMAT, "%s: state dict entry '%.200s' is not a tensor",
                        where, k->u.str.s);
            goto done;
        }
        s = add_tensor(&c, k->u.str.s, v);
        if (s) goto done;
    }
done:
    es_unpickle_free(u);
    es_free(root);
    es_free(where);
    es_zip_free(z);
    return s;
}

/* Maps path read-only, hands the mapping to w and parses it (see
 * es_ptbin_parse); ES_ERR_IO when the file cannot be opened or mapped. */
es_status es_ptbin_read(es_weights *w, const char *path, es_error *err) {
    void *addr;
    size_t len;
    es_status s = es_map_file(path, &addr, &len, err);
    if (s) return s;
    if (addr) {
        /* Owned by the set from here on, even if parsing fails: views may
         * already point into it. */
        s = es_weights_own_mapping(w, addr, len, err);
        if (s) return es_err_prefix(err, "%s", path);
    }
    s = es_ptbin_parse(w, addr, len, path, err);
    if (s) return s;
    es_weights_add_file_bytes(w, len);
    return ES_OK;
}

/* ---- pytorch_model.bin.index.json ------------------------------------- */

/* Reads pytorch_model.bin.index.json through the shared shard reader
 * (src/io/shard_index.c). */
es_status es_ptbin_read_index(es_weights *w, const char *index_path, es_error *err) {
    return es_weights_read_index(w, index_path, es_ptbin_read, err);
}
