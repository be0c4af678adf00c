/*
 * weights.c — the named-tensor set shared by all weight readers.
 *
 * Storage: a growable array of es_tensor_view, sorted by name at seal time
 * for binary-search lookup. Before sealing, an open-addressing hash of the
 * names (FNV-1a, linear probing, load <= 1/2) finds duplicates in O(1), so
 * an archive with many tensors loads in linear time.
 * Owned resources (memory maps, heap buffers, strings) are kept in lists
 * and released by es_weights_free.
 */
#include "io/weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct mapping {
    void *addr;
    size_t len; /* 0 = heap buffer */
} mapping;

struct es_weights {
    es_tensor_view *t;
    size_t n, cap;
    bool sealed;
    mapping *maps;
    size_t n_maps, cap_maps;
    char **strs; /* owned strings: names, files, meta */
    size_t n_strs, cap_strs;
    size_t *hash;      /* unsealed: slot -> index+1 into t (0 = empty) */
    size_t hash_cap;   /* power of two */
    const char **meta; /* key, value pairs */
    size_t n_meta, cap_meta;
    uint64_t file_bytes;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (!es_mul_ok(nc, elem, &bytes)) return false;
    void *np = es_realloc(*p, bytes);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

static const char *own_str(es_weights *w, const char *s) {
    if (!grow((void **)&w->strs, &w->cap_strs, w->n_strs + 1, sizeof(char *))) return NULL;
    char *d = es_strdup(s);
    if (!d) return NULL;
    w->strs[w->n_strs++] = d;
    return d;
}

es_status es_weights_new(es_weights **out, es_error *err) {
    *out = es_calloc(1, sizeof(es_weights));
    if (!*out) return es_errf(err, ES_ERR_NOMEM, "out of memory creating tensor set");
    return ES_OK;
}

void es_weights_free(es_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_maps; i++) {
        if (w->maps[i].len) munmap(w->maps[i].addr, w->maps[i].len);
        else es_free(w->maps[i].addr);
    }
    for (size_t i = 0; i < w->n_strs; i++) es_free(w->strs[i]);
    es_free(w->maps);
    es_free(w->strs);
    es_free(w->meta);
    es_free(w->hash);
    es_free(w->t);
    es_free(w);
}

size_t es_tensor_numel(const es_tensor_view *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (!es_mul_ok(n, (size_t)t->shape[i], &n)) return SIZE_MAX;
    }
    return n;
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Slot of `name` in the hash (its index+1 is stored there), or the empty
 * slot where it would go. */
static size_t hash_slot(const es_weights *w, const char *name) {
    size_t mask = w->hash_cap - 1, i = (size_t)name_hash(name) & mask;
    while (w->hash[i] && strcmp(w->t[w->hash[i] - 1].name, name) != 0) i = (i + 1) & mask;
    return i;
}

/* Rebuilds the hash for n_needed entries (after growth or sealing). */
static bool hash_rebuild(es_weights *w, size_t n_needed) {
    size_t cap = 64;
    while (cap < 2 * n_needed) cap *= 2;
    size_t *h = es_calloc(cap, sizeof(size_t));
    if (!h) return false;
    es_free(w->hash);
    w->hash = h;
    w->hash_cap = cap;
    for (size_t i = 0; i < w->n; i++) w->hash[hash_slot(w, w->t[i].name)] = i + 1;
    return true;
}

es_status es_weights_add(es_weights *w, const es_tensor_view *t, es_error *err) {
    const char *file = t->file ? t->file : "?";
    if (!t->name) return es_errf(err, ES_ERR_FORMAT, "%s: tensor without a name", file);
    if (t->ndim < 0 || t->ndim > ES_MAX_DIMS)
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': %d dimensions (max %d)", file,
                       t->name, t->ndim, ES_MAX_DIMS);
    size_t es = es_dtype_size(t->dtype);
    if (!es) return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': invalid dtype", file, t->name);
    size_t n = es;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': negative dimension %lld", file,
                           t->name, (long long)t->shape[i]);
        if ((uint64_t)t->shape[i] > SIZE_MAX || !es_mul_ok(n, (size_t)t->shape[i], &n))
            return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': shape overflows", file, t->name);
    }
    if (n != t->nbytes)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: tensor '%s': %zu bytes of data, shape and dtype %s need %zu", file,
                       t->name, t->nbytes, es_dtype_name(t->dtype), n);
    /* Positions change when a sealed set is sorted: rebuild then, and when
     * the table gets half full. */
    if ((w->sealed || !w->hash || 2 * (w->n + 1) > w->hash_cap) && !hash_rebuild(w, w->n + 1))
        return es_errf(err, ES_ERR_NOMEM, "out of memory adding tensor '%s'", t->name);
    size_t slot = hash_slot(w, t->name);
    if (w->hash[slot])
        return es_errf(err, ES_ERR_FORMAT, "%s: duplicate tensor name '%s'", file, t->name);
    if (!grow((void **)&w->t, &w->cap, w->n + 1, sizeof(es_tensor_view)))
        return es_errf(err, ES_ERR_NOMEM, "out of memory adding tensor '%s'", t->name);
    es_tensor_view v = *t;
    v.name = own_str(w, t->name);
    v.file = own_str(w, file);
    if (!v.name || !v.file)
        return es_errf(err, ES_ERR_NOMEM, "out of memory adding tensor '%s'", t->name);
    w->t[w->n++] = v;
    w->hash[slot] = w->n;
    w->sealed = false;
    return ES_OK;
}

static es_status own(es_weights *w, void *addr, size_t len, es_error *err) {
    if (!grow((void **)&w->maps, &w->cap_maps, w->n_maps + 1, sizeof(mapping))) {
        if (len) munmap(addr, len);
        else es_free(addr);
        return es_errf(err, ES_ERR_NOMEM, "out of memory");
    }
    w->maps[w->n_maps].addr = addr;
    w->maps[w->n_maps].len = len;
    w->n_maps++;
    return ES_OK;
}

es_status es_weights_own_mapping(es_weights *w, void *addr, size_t len, es_error *err) {
    return own(w, addr, len ? len : 1, err);
}

es_status es_weights_own_buffer(es_weights *w, void *buf, es_error *err) {
    return own(w, buf, 0, err);
}

/* The owned memory map holding [p, p + n), or NULL. */
static const mapping *map_of(const es_weights *w, const void *p, size_t n) {
    const uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < w->n_maps; i++) {
        const uintptr_t b = (uintptr_t)w->maps[i].addr, len = w->maps[i].len;
        if (len && a >= b && a - b <= len && n <= len - (a - b)) return &w->maps[i];
    }
    return NULL;
}

bool es_weights_mapped(const es_weights *w, const void *p, size_t n) {
    return w && map_of(w, p, n) != NULL;
}

void es_weights_release(const es_weights *w, const void *p, size_t n) {
    if (!w || !map_of(w, p, n)) return;
    const long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    const uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    const uintptr_t e = ((uintptr_t)p + n) & ~((uintptr_t)pg - 1);
    /* the map is PROT_READ + MAP_PRIVATE and never written: dropping its
     * pages loses nothing (a later read faults them in from the file) */
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const es_tensor_view *)a)->name, ((const es_tensor_view *)b)->name);
}

void es_weights_seal(es_weights *w) {
    if (w->n) qsort(w->t, w->n, sizeof(es_tensor_view), cmp_name);
    w->sealed = true; /* the hash is stale now; es_weights_add rebuilds it */
}

const es_tensor_view *es_weights_find(const es_weights *w, const char *name) {
    if (w->sealed) {
        size_t lo = 0, hi = w->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(w->t[mid].name, name);
            if (c == 0) return &w->t[mid];
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        return NULL;
    }
    if (!w->hash) return NULL;
    size_t slot = hash_slot(w, name);
    return w->hash[slot] ? &w->t[w->hash[slot] - 1] : NULL;
}

size_t es_weights_count(const es_weights *w) { return w->n; }
const es_tensor_view *es_weights_at(const es_weights *w, size_t i) {
    return i < w->n ? &w->t[i] : NULL;
}

es_status es_weights_set_meta(es_weights *w, const char *key, const char *value, es_error *err) {
    for (size_t i = 0; i < w->n_meta; i++) {
        if (strcmp(w->meta[2 * i], key) == 0) {
            const char *v = own_str(w, value);
            if (!v) return es_errf(err, ES_ERR_NOMEM, "out of memory");
            w->meta[2 * i + 1] = v;
            return ES_OK;
        }
    }
    if (!grow((void **)&w->meta, &w->cap_meta, 2 * (w->n_meta + 1), sizeof(char *)))
        return es_errf(err, ES_ERR_NOMEM, "out of memory");
    const char *k = own_str(w, key), *v = own_str(w, value);
    if (!k || !v) return es_errf(err, ES_ERR_NOMEM, "out of memory");
    w->meta[2 * w->n_meta] = k;
    w->meta[2 * w->n_meta + 1] = v;
    w->n_meta++;
    return ES_OK;
}

const char *es_weights_get_meta(const es_weights *w, const char *key) {
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) return w->meta[2 * i + 1];
    return NULL;
}

void es_weights_add_file_bytes(es_weights *w, uint64_t n) { w->file_bytes += n; }
uint64_t es_weights_file_bytes(const es_weights *w) { return w->file_bytes; }

es_status es_tensor_to_f32(float *dst, const es_tensor_view *t, es_error *err) {
    size_t n = es_tensor_numel(t);
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case ES_DTYPE_F32: memcpy(dst, p, n * 4); return ES_OK;
    case ES_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = es_bf16_to_f32(h);
        }
        return ES_OK;
    case ES_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = es_f16_to_f32(h);
        }
        return ES_OK;
    default:
        return es_errf(err, ES_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be read as F32",
                       t->file ? t->file : "?", t->name, es_dtype_name(t->dtype));
    }
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

es_status es_weights_open_dir(es_weights **out, const char *dir, const char **which,
                              es_error *err) {
    static const char *names[] = {"model.safetensors", "model.safetensors.index.json",
                                  "pytorch_model.bin", "pytorch_model.bin.index.json"};
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0)
        return es_errf(err, ES_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return es_errf(err, ES_ERR_ARG, "%s: not a model folder (expected a directory)", dir);
    char path[4096];
    for (size_t i = 0; i < ES_ARRAY_LEN(names); i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path)
            return es_errf(err, ES_ERR_ARG, "%s: path too long", dir);
        if (!file_exists(path)) continue;
        es_weights *w;
        es_status s = es_weights_new(&w, err);
        if (s) return s;
        switch (i) {
        case 0: s = es_safetensors_read(w, path, err); break;
        case 1: s = es_safetensors_read_index(w, path, err); break;
        case 2: s = es_ptbin_read(w, path, err); break;
        default: s = es_ptbin_read_index(w, path, err); break;
        }
        if (s) {
            es_weights_free(w);
            return s;
        }
        es_weights_seal(w);
        if (which) *which = names[i];
        *out = w;
        return ES_OK;
    }
    return es_errf(err, ES_ERR_IO,
                   "%s: no weights found (looked for model.safetensors, "
                   "model.safetensors.index.json, pytorch_model.bin, "
                   "pytorch_model.bin.index.json)",
                   dir);
}
