/*
 * data_spam.c — the SpamAssassin corpus as a labelled dataset with the
 * fixed MD5-keyed train/dev/test split (see data.h), and document reading.
 *
 * Listing walks DIR/spam-assassin/<folder>/ with opendir/readdir, keeps the
 * files whose name has the corpus form, and sorts folders and files by
 * name so the order (and so any shuffling seeded from it) is the same on
 * every file system. Reading is a bounded fread: a document larger than
 * the cap is truncated, never refused, so a 10 MB message costs at most
 * max_bytes of memory.
 */
#include "train/data.h"

#include "io/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *es_split_name(es_split s) {
    switch (s) {
    case ES_SPLIT_TRAIN: return "train";
    case ES_SPLIT_DEV: return "dev";
    case ES_SPLIT_TEST: return "test";
    default: return "?";
    }
}

es_status es_split_parse(es_split *out, const char *name, es_error *err) {
    for (int s = 0; s < ES_SPLIT_COUNT; s++) {
        if (strcmp(name, es_split_name((es_split)s)) == 0) {
            *out = (es_split)s;
            return ES_OK;
        }
    }
    return es_errf(err, ES_ERR_ARG, "unknown split '%s' (expected train, dev or test)", name);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

es_status es_data_spam_split_of_name(es_split *out, const char *name, es_error *err) {
    /* NNNNN.<32 hex>[.txt] */
    const char *p = name;
    while (*p >= '0' && *p <= '9') p++;
    if (p == name || *p != '.') goto bad;
    p++;
    uint32_t h = 0;
    for (int i = 0; i < 32; i++) {
        int v = hexval(p[i]);
        if (v < 0) goto bad;
        if (i < 8) h = h << 4 | (uint32_t)v;
    }
    p += 32;
    if (*p != '\0' && strcmp(p, ".txt") != 0) goto bad;
    *out = h % 10 == 0 ? ES_SPLIT_TEST : h % 10 == 1 ? ES_SPLIT_DEV : ES_SPLIT_TRAIN;
    return ES_OK;
bad:
    return es_errf(err, ES_ERR_FORMAT,
                   "'%s' is not a SpamAssassin message name (NNNNN.<32 hex digits>[.txt])", name);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of `path` (excluding "." and ".."), each
 * es_malloc'd; *names NULL and *n 0 for an empty folder. */
static es_status list_dir(char ***names, size_t *n, const char *path, es_error *err) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d) return es_errf(err, ES_ERR_IO, "%s: %s", path, strerror(errno));
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    es_status st = ES_OK;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (cnt == cap) {
            size_t nc = cap ? 2 * cap : 64;
            char **nv = es_realloc(v, nc * sizeof *nv);
            if (!nv) {
                st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory listing", path);
                break;
            }
            v = nv;
            cap = nc;
        }
        v[cnt] = es_strdup(e->d_name);
        if (!v[cnt]) {
            st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory listing", path);
            break;
        }
        cnt++;
    }
    if (!st && errno)
        st = es_errf(err, ES_ERR_IO, "%s: reading folder: %s", path, strerror(errno));
    closedir(d);
    if (st) {
        for (size_t i = 0; i < cnt; i++) es_free(v[i]);
        es_free(v);
        return st;
    }
    if (cnt) qsort(v, cnt, sizeof *v, cmp_str);
    *names = v;
    *n = cnt;
    return ES_OK;
}

static void free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) es_free(v[i]);
    es_free(v);
}

/* Label of a corpus folder: 1 spam, 0 ham, -1 not a corpus folder. */
static int folder_label(const char *name) {
    if (strncmp(name, "spam", 4) == 0) return 1;
    if (strstr(name, "ham") != NULL) return 0;
    return -1;
}

static es_status push_example(es_text_dataset *d, size_t *cap, const char *folder,
                              const char *file, int label, es_split split, es_error *err) {
    if (d->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 1024;
        es_text_example *nv = es_realloc(d->ex, nc * sizeof *nv);
        if (!nv) return es_errf(err, ES_ERR_NOMEM, "out of memory listing %s", folder);
        d->ex = nv;
        *cap = nc;
    }
    size_t lf = strlen(folder), ln = strlen(file);
    char *path = es_malloc(lf + ln + 2);
    if (!path) return es_errf(err, ES_ERR_NOMEM, "out of memory listing %s", folder);
    memcpy(path, folder, lf);
    path[lf] = '/';
    memcpy(path + lf + 1, file, ln + 1);
    es_text_example *e = &d->ex[d->n++];
    memset(e, 0, sizeof *e);
    e->path = path;
    e->name = path + lf + 1;
    e->label = label;
    e->split = split;
    return ES_OK;
}

es_status es_data_spam_list(es_text_dataset **out, const char *dir, es_error *err) {
    *out = NULL;
    char root[4096];
    es_status st = es_path_join(root, sizeof root, dir, "spam-assassin", err);
    if (st) return st;
    if (!es_is_dir(root)) {
        if (!es_is_dir(dir))
            return es_errf(err, ES_ERR_IO,
                           "%s: no such folder (run scripts/fetch-data.sh to get the corpus)",
                           dir);
        snprintf(root, sizeof root, "%s", dir);
    }
    es_text_dataset *d = es_calloc(1, sizeof *d);
    if (!d) return es_errf(err, ES_ERR_NOMEM, "out of memory");
    d->n_labels = 2;
    d->label_names[0] = "ham";
    d->label_names[1] = "spam";
    char **folders = NULL;
    size_t n_folders = 0, cap = 0;
    st = list_dir(&folders, &n_folders, root, err);
    for (size_t i = 0; !st && i < n_folders; i++) {
        int label = folder_label(folders[i]);
        if (label < 0) continue;
        char sub[4096];
        st = es_path_join(sub, sizeof sub, root, folders[i], err);
        if (st || !es_is_dir(sub)) continue;
        char **files = NULL;
        size_t n_files = 0;
        st = list_dir(&files, &n_files, sub, err);
        for (size_t j = 0; !st && j < n_files; j++) {
            es_split split;
            if (es_data_spam_split_of_name(&split, files[j], NULL) != ES_OK) continue;
            st = push_example(d, &cap, sub, files[j], label, split, err);
        }
        free_names(files, n_files);
    }
    free_names(folders, n_folders);
    if (!st && d->n == 0)
        st = es_errf(err, ES_ERR_FORMAT,
                     "%s: no SpamAssassin messages found (expected folders spam-*, *ham-* "
                     "holding NNNNN.<md5>.txt files)",
                     root);
    if (st) {
        es_text_dataset_free(d);
        return st;
    }
    *out = d;
    return ES_OK;
}

es_status es_data_read_doc(uint8_t **buf, size_t *len, const char *path, size_t max_bytes,
                           es_error *err) {
    *buf = NULL;
    *len = 0;
    int is_stdin = strcmp(path, "-") == 0;
    if (!is_stdin && es_is_dir(path)) return es_errf(err, ES_ERR_IO, "%s: is a folder", path);
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return es_errf(err, ES_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = max_bytes && max_bytes < 65536 ? max_bytes : 65536, n = 0;
    uint8_t *b = es_malloc(cap + 1);
    es_status st = b ? ES_OK : es_errf(err, ES_ERR_NOMEM, "%s: out of memory", path);
    while (!st && (max_bytes == 0 || n < max_bytes)) {
        if (n == cap) {
            size_t nc = cap * 2;
            if (max_bytes && nc > max_bytes) nc = max_bytes;
            uint8_t *nb = es_realloc(b, nc + 1);
            if (!nb) {
                st = es_errf(err, ES_ERR_NOMEM, "%s: out of memory after %zu bytes", path, n);
                break;
            }
            b = nb;
            cap = nc;
        }
        size_t want = cap - n;
        size_t got = fread(b + n, 1, want, f);
        n += got;
        if (got < want) {
            if (ferror(f)) st = es_errf(err, ES_ERR_IO, "%s: read error after %zu bytes", path, n);
            break;
        }
    }
    if (!is_stdin) fclose(f);
    if (st) {
        es_free(b);
        return st;
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return ES_OK;
}

es_status es_text_dataset_load(es_text_dataset *d, es_split split, size_t max_bytes,
                               es_error *err) {
    for (size_t i = 0; i < d->n; i++) {
        es_text_example *e = &d->ex[i];
        if (e->bytes || (split != ES_SPLIT_COUNT && e->split != split)) continue;
        es_status st = es_data_read_doc(&e->bytes, &e->n_bytes, e->path, max_bytes, err);
        if (st) return st;
    }
    return ES_OK;
}

size_t es_text_dataset_count(const es_text_dataset *d, es_split split, int32_t label) {
    size_t c = 0;
    for (size_t i = 0; i < d->n; i++)
        c += (split == ES_SPLIT_COUNT || d->ex[i].split == split) &&
             (label < 0 || d->ex[i].label == label);
    return c;
}

void es_text_dataset_free(es_text_dataset *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        es_free(d->ex[i].path);
        es_free(d->ex[i].bytes);
    }
    es_free(d->ex);
    es_free(d);
}

/* ---- label-fraction subsets -------------------------------------------------- */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct keyed {
    uint64_t key;
    size_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

es_status es_data_spam_fraction(uint8_t *chosen, const es_text_dataset *d, es_split split,
                                double fraction, uint64_t seed, es_error *err) {
    if (!(fraction > 0.0 && fraction <= 1.0))
        return es_errf(err, ES_ERR_ARG, "train fraction %g outside (0, 1]", fraction);
    memset(chosen, 0, d->n);
    keyed *v = es_calloc(d->n ? d->n : 1, sizeof *v);
    if (!v) return es_errf(err, ES_ERR_NOMEM, "train fraction: out of memory");
    for (int label = 0; label < d->n_labels; label++) {
        size_t n = 0;
        for (size_t i = 0; i < d->n; i++) {
            const es_text_example *e = &d->ex[i];
            if (e->split != split || e->label != label) continue;
            uint64_t h = 14695981039346656037ull; /* FNV-1a 64 of the file name */
            for (const char *p = e->name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
            v[n].key = splitmix64(seed ^ h);
            v[n].idx = i;
            n++;
        }
        if (!n) continue;
        size_t k = (size_t)llround(fraction * (double)n);
        if (k < 1) k = 1;
        if (k > n) k = n;
        qsort(v, n, sizeof *v, cmp_keyed);
        for (size_t i = 0; i < k; i++) chosen[v[i].idx] = 1;
    }
    es_free(v);
    return ES_OK;
}
