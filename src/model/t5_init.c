/*
 * t5_init.c — random initialisation of T5 parameters (HF scales) and the
 * streaming, all-or-nothing writer of an initialised HF model folder.
 *
 * Randomness: each tensor is cut into blocks of ES_T5_INIT_BLOCK elements;
 * block b of tensor `name` draws from xoshiro256** seeded with
 * mix(seed, fnv1a(name), b). Normals come from Box–Muller in double
 * (u1 in (0, 1] so log(u1) is finite; both outputs of each pair are used).
 * Values are therefore a pure function of (seed, name, element index): the
 * same for any thread count and chunk size, and one tensor can be
 * re-created alone (training code initialising a single head).
 *
 * Writing: model.safetensors is produced in one pass without holding the
 * model in memory. The header is computed from the tensor list first
 * (data offsets are known from shapes), then each tensor is generated
 * CHUNK elements at a time (blocks in parallel on a thread pool) and
 * appended. safetensors layout: u64 LE header length N, N bytes of JSON
 * (padded with spaces to a multiple of 8), then the raw little-endian data
 * of each tensor in the order of the header (names sorted, as the
 * reference writer orders tensors of one dtype).
 *
 * Folder atomicity: everything goes into "<parent>/.<name>.tmp-XXXXXX",
 * each file fsync'd, then the folder is renamed onto DIR (rename(2)
 * replaces an empty directory atomically) and the parent fsync'd. On any
 * failure or cancellation the temporary folder is removed.
 */
#include "model/t5_init.h"

#include "core/pool.h"
#include "core/rng.h"
#include "io/fileio.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CHUNK_BLOCKS 16 /* elements per write: 16 x 65536 = 1 Mi (4 MiB at F32) */

es_t5_init_params es_t5_init_params_default(void) {
    es_t5_init_params p;
    memset(&p, 0, sizeof p);
    p.dtype = ES_DTYPE_F32;
    return p;
}

/* ---- random values ------------------------------------------------------------- */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Murmur3 finaliser: a bijective 64-bit mix so nearby inputs decorrelate. */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static void fill_block(float *dst, size_t n, const es_t5_tensor_spec *t, uint64_t seed,
                       uint64_t block) {
    if (t->init == ES_T5_INIT_FILL) {
        for (size_t i = 0; i < n; i++) dst[i] = (float)t->std_or_value;
        return;
    }
    es_rng r;
    es_rng_seed(&r, mix64(mix64(seed ^ 0x5eedull) + fnv1a(t->name)) ^ mix64(block + 1));
    const double two_pi = 6.283185307179586476925286766559;
    double sd = t->std_or_value;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - es_rng_uniform(&r); /* (0, 1] */
        double u2 = es_rng_uniform(&r);
        double rad = sqrt(-2.0 * log(u1));
        dst[i] = (float)(sd * rad * cos(two_pi * u2));
        if (i + 1 < n) dst[i + 1] = (float)(sd * rad * sin(two_pi * u2));
    }
}

void es_t5_init_fill(float *dst, const es_t5_tensor_spec *t, uint64_t seed, uint64_t start,
                     size_t n) {
    uint64_t block = start / ES_T5_INIT_BLOCK;
    size_t done = 0;
    while (done < n) {
        size_t len = ES_MIN((size_t)ES_T5_INIT_BLOCK, n - done);
        fill_block(dst + done, len, t, seed, block);
        done += len;
        block++;
    }
}

/* ---- sizes ------------------------------------------------------------------------ */

static uint64_t spec_numel(const es_t5_tensor_spec *t) {
    return (uint64_t)t->shape[0] * (uint64_t)(t->ndim > 1 ? t->shape[1] : 1);
}

typedef struct plan {
    es_t5_tensor_spec *specs; /* in data order (sorted by name) */
    size_t n;
    char *header;             /* JSON, padded to a multiple of 8 */
    size_t header_len;
    uint64_t data_bytes;
} plan;

static int cmp_spec(const void *a, const void *b) {
    return strcmp(((const es_t5_tensor_spec *)a)->name, ((const es_t5_tensor_spec *)b)->name);
}

static void plan_free(plan *p) {
    es_free(p->specs);
    es_free(p->header);
    memset(p, 0, sizeof *p);
}

/* Appends formatted text to a growing es_malloc'd buffer. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) ES_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = ES_MAX(b->cap * 2, b->len + (size_t)n + 256);
        char *np = es_realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

static es_status make_plan(plan *p, const es_t5_hparams *h, es_dtype dtype, const char *name,
                           uint64_t seed, es_error *err) {
    memset(p, 0, sizeof *p);
    size_t n = es_t5_tensor_specs(h, NULL, 0);
    p->specs = es_calloc(n, sizeof *p->specs);
    if (!p->specs) return es_errf(err, ES_ERR_NOMEM, "out of memory listing %zu tensors", n);
    p->n = es_t5_tensor_specs(h, p->specs, n);
    qsort(p->specs, p->n, sizeof *p->specs, cmp_spec);
    size_t esz = es_dtype_size(dtype);
    sbuf b = {0};
    sb_printf(&b, "{\"__metadata__\":{\"format\":\"pt\",\"edgeseq_format\":\"%d\"", ES_FORMAT_VERSION);
    /* The name goes into JSON: only write it when it is plain ASCII without
     * quotes or backslashes (names come from es_t5_efficient_hparams). */
    if (name && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_./") == strlen(name))
        sb_printf(&b, ",\"edgeseq_init\":\"%s seed %llu\"", name, (unsigned long long)seed);
    sb_printf(&b, "}");
    uint64_t off = 0;
    for (size_t i = 0; i < p->n; i++) {
        const es_t5_tensor_spec *t = &p->specs[i];
        uint64_t bytes = spec_numel(t) * esz;
        if (t->ndim == 1)
            sb_printf(&b, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                      t->name, es_dtype_name(dtype), (long long)t->shape[0],
                      (unsigned long long)off, (unsigned long long)(off + bytes));
        else
            sb_printf(&b,
                      ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}",
                      t->name, es_dtype_name(dtype), (long long)t->shape[0],
                      (long long)t->shape[1], (unsigned long long)off,
                      (unsigned long long)(off + bytes));
        off += bytes;
    }
    sb_printf(&b, "}");
    while (!b.oom && b.len % 8) sb_printf(&b, " ");
    if (b.oom) {
        es_free(b.p);
        plan_free(p);
        return es_errf(err, ES_ERR_NOMEM, "out of memory building the safetensors header");
    }
    p->header = b.p;
    p->header_len = b.len;
    p->data_bytes = off;
    return ES_OK;
}

uint64_t es_t5_init_weights_bytes(const es_t5_hparams *h, const es_t5_init_params *params) {
    es_t5_init_params prm = params ? *params : es_t5_init_params_default();
    plan p;
    if (make_plan(&p, h, prm.dtype, prm.name, prm.seed, NULL) != ES_OK) return 0;
    uint64_t total = 8 + p.header_len + p.data_bytes;
    plan_free(&p);
    return total;
}

/* ---- streaming tensor writer --------------------------------------------------------- */

typedef struct chunk_job {
    const es_t5_tensor_spec *t;
    uint64_t seed;
    uint64_t start; /* first element of the chunk (block aligned) */
    size_t n;       /* elements in the chunk */
    float *f32;     /* (n) */
    uint16_t *u16;  /* (n) when writing BF16 */
} chunk_job;

static void chunk_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    chunk_job *j = ctx;
    size_t off = (size_t)task * ES_T5_INIT_BLOCK;
    if (off >= j->n) return;
    size_t len = ES_MIN((size_t)ES_T5_INIT_BLOCK, j->n - off);
    es_t5_init_fill(j->f32 + off, j->t, j->seed, j->start + off, len);
    if (j->u16)
        for (size_t i = 0; i < len; i++) j->u16[off + i] = es_f32_to_bf16(j->f32[off + i]);
}

static es_status write_weights(const char *path, const plan *p, const es_t5_init_params *prm,
                               es_pool *pool, uint64_t *done, uint64_t total, es_error *err) {
    es_atomic_file *f;
    es_status s = es_atomic_begin(&f, path, err);
    if (s) return s;
    unsigned char len8[8];
    uint64_t hl = p->header_len;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    if ((s = es_atomic_write(f, len8, 8, err)) || (s = es_atomic_write(f, p->header, hl, err))) {
        es_atomic_abort(f);
        return s;
    }
    *done += 8 + hl;
    const size_t chunk = (size_t)CHUNK_BLOCKS * ES_T5_INIT_BLOCK;
    float *f32 = es_malloc(chunk * sizeof(float));
    uint16_t *u16 = prm->dtype == ES_DTYPE_BF16 ? es_malloc(chunk * sizeof(uint16_t)) : NULL;
    if (!f32 || (prm->dtype == ES_DTYPE_BF16 && !u16)) {
        es_free(f32);
        es_free(u16);
        es_atomic_abort(f);
        return es_errf(err, ES_ERR_NOMEM, "out of memory for a %zu-element write buffer", chunk);
    }
    for (size_t i = 0; i < p->n && s == ES_OK; i++) {
        const es_t5_tensor_spec *t = &p->specs[i];
        uint64_t numel = spec_numel(t);
        for (uint64_t start = 0; start < numel; start += chunk) {
            chunk_job j = {t, prm->seed, start, (size_t)ES_MIN((uint64_t)chunk, numel - start),
                           f32, u16};
            int n_tasks = (int)((j.n + ES_T5_INIT_BLOCK - 1) / ES_T5_INIT_BLOCK);
            es_pool_run(pool, n_tasks, chunk_task, &j);
            /* Little-endian host assumed, as everywhere in edgeseq's I/O. */
            size_t bytes = j.n * (u16 ? sizeof(uint16_t) : sizeof(float));
            s = es_atomic_write(f, u16 ? (const void *)u16 : (const void *)f32, bytes, err);
            if (s) break;
            *done += bytes;
            if (prm->progress && prm->progress(prm->progress_user, *done, total)) {
                s = es_errf(err, ES_ERR_CANCELLED, "%s: cancelled while writing %s", path,
                            t->name);
                break;
            }
        }
    }
    es_free(f32);
    es_free(u16);
    if (s) {
        es_atomic_abort(f);
        return s;
    }
    return es_atomic_commit(f, err);
}

/* ---- folder handling ------------------------------------------------------------------- */

static es_status write_text(const char *dir, const char *name, const char *text, es_error *err) {
    char path[4096];
    es_status s = es_path_join(path, sizeof path, dir, name, err);
    if (s) return s;
    return es_atomic_write_file(path, text, strlen(text), err);
}

static es_status write_tokenizer_files(const char *dir, es_error *err) {
    sbuf b = {0};
    sb_printf(&b, "{\n  \"additional_special_tokens\": [\n");
    for (int i = 0; i < 100; i++) sb_printf(&b, "    \"<extra_id_%d>\"%s\n", i, i < 99 ? "," : "");
    sb_printf(&b, "  ],\n  \"eos_token\": \"</s>\",\n  \"pad_token\": \"<pad>\",\n"
                  "  \"unk_token\": \"<unk>\"\n}\n");
    if (b.oom) {
        es_free(b.p);
        return es_errf(err, ES_ERR_NOMEM, "out of memory writing special_tokens_map.json");
    }
    es_status s = write_text(dir, "special_tokens_map.json", b.p, err);
    es_free(b.p);
    if (s) return s;
    return write_text(dir, "tokenizer_config.json",
                      "{\n  \"eos_token\": \"</s>\",\n  \"extra_ids\": 100,\n"
                      "  \"model_max_length\": 512,\n  \"pad_token\": \"<pad>\",\n"
                      "  \"tokenizer_class\": \"T5Tokenizer\",\n  \"unk_token\": \"<unk>\"\n}\n",
                      err);
}

/* Removes every entry of a folder we created, then the folder. */
static void remove_tree_flat(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* 0 = absent, 1 = empty folder, 2 = non-empty folder; -1 = not a folder / error. */
static int dir_state(const char *dir, es_error *err) {
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT) return 0;
        es_errf(err, ES_ERR_IO, "%s: cannot stat: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        es_errf(err, ES_ERR_ARG, "%s: exists and is not a folder", dir);
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        es_errf(err, ES_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
        return -1;
    }
    int state = 1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            state = 2;
            break;
        }
    closedir(d);
    return state;
}

/* Splits dir into its parent folder and last component (trailing '/' ignored). */
static es_status split_path(const char *dir, char *parent, size_t pcap, char *base, size_t bcap,
                            es_error *err) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    if (len == 0 || len >= pcap)
        return es_errf(err, ES_ERR_ARG, "'%s': not a usable folder path", dir);
    size_t slash = len;
    while (slash > 0 && dir[slash - 1] != '/') slash--;
    size_t blen = len - slash;
    if (blen == 0 || blen >= bcap || (blen == 1 && dir[slash] == '.') ||
        (blen == 2 && dir[slash] == '.' && dir[slash + 1] == '.'))
        return es_errf(err, ES_ERR_ARG, "'%s': not a usable folder path", dir);
    memcpy(base, dir + slash, blen);
    base[blen] = '\0';
    if (slash == 0) {
        snprintf(parent, pcap, ".");
    } else {
        size_t plen = slash > 1 ? slash - 1 : 1; /* keep "/" for "/x" */
        memcpy(parent, dir, plen);
        parent[plen] = '\0';
    }
    return ES_OK;
}

es_status es_t5_init_write(const char *dir, const es_t5_hparams *h,
                           const es_t5_init_params *params, es_error *err) {
    es_t5_init_params prm = params ? *params : es_t5_init_params_default();
    if (!dir || !*dir) return es_errf(err, ES_ERR_ARG, "no output folder given");
    if (prm.dtype != ES_DTYPE_F32 && prm.dtype != ES_DTYPE_BF16)
        return es_errf(err, ES_ERR_ARG, "init: dtype %s not supported (F32 or BF16)",
                       es_dtype_name(prm.dtype));
    if (h->vocab_size < 1 || h->d_model < 1 || h->d_kv < 1 || h->d_ff < 1 || h->n_heads < 1 ||
        h->n_layers < 1 || h->n_decoder_layers < 1 || h->rel_buckets < 1)
        return es_errf(err, ES_ERR_ARG, "init: every dimension must be >= 1");
    int state = dir_state(dir, err);
    if (state < 0) return err ? err->code : ES_ERR_IO;
    if (state == 2 && !prm.force)
        return es_errf(err, ES_ERR_ARG, "%s: folder is not empty; refusing to overwrite it "
                       "(use --force to replace the model files in it)", dir);
    if (prm.spm_path && !es_is_regular_file(prm.spm_path))
        return es_errf(err, ES_ERR_IO, "%s: SentencePiece model not found (or not a file)",
                       prm.spm_path);
    if (prm.spm_path) {
        /* Refuse a file that is not a SentencePiece model before writing GBs. */
        es_tokenizer *tok = NULL;
        es_status ts = es_tokenizer_load(&tok, prm.spm_path, 100, err);
        if (ts) return es_err_prefix(err, "--spm");
        int32_t tv = es_tokenizer_vocab_size(tok);
        es_tokenizer_free(tok);
        if (tv > h->vocab_size)
            return es_errf(err, ES_ERR_ARG, "%s: tokenizer has %d ids (with 100 extra ids), more "
                           "than the model's vocab_size %d", prm.spm_path, tv, h->vocab_size);
    }

    char parent[4096], base[1024];
    es_status s = split_path(dir, parent, sizeof parent, base, sizeof base, err);
    if (s) return s;
    plan p;
    if ((s = make_plan(&p, h, prm.dtype, prm.name, prm.seed, err))) return s;
    uint64_t total = 8 + p.header_len + p.data_bytes;

    struct statvfs vfs;
    if (statvfs(parent, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
        uint64_t need = total + (1u << 20);
        if (avail < need) {
            plan_free(&p);
            return es_errf(err, ES_ERR_IO, "%s: not enough disk space: model.safetensors needs "
                           "%llu bytes (%.2f GB), %llu bytes (%.2f GB) are free", parent,
                           (unsigned long long)need, (double)need / 1e9,
                           (unsigned long long)avail, (double)avail / 1e9);
        }
    } else {
        int e = errno;
        plan_free(&p);
        return es_errf(err, ES_ERR_IO, "%s: cannot access the parent folder: %s", parent,
                       strerror(e));
    }

    char tmp[4096 + 64];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", parent, base);
    if (!mkdtemp(tmp)) {
        int e = errno;
        plan_free(&p);
        return es_errf(err, ES_ERR_IO, "%s: cannot create a temporary folder: %s", parent,
                       strerror(e));
    }
    mode_t um = umask(0);
    umask(um);
    (void)chmod(tmp, 0777 & ~um);

    es_pool *pool = NULL;
    char path[8192];
    char *cfg = NULL;
    uint64_t done = 0;
    if ((s = es_pool_new(&pool, prm.n_threads, err))) goto fail;
    if ((s = es_t5_config_json(&cfg, h, prm.dtype, err))) goto fail;
    if ((s = write_text(tmp, "config.json", cfg, err))) goto fail;
    if ((s = write_text(tmp, "generation_config.json",
                        "{\n  \"decoder_start_token_id\": 0,\n  \"eos_token_id\": 1,\n"
                        "  \"pad_token_id\": 0\n}\n", err)))
        goto fail;
    if (prm.spm_path) {
        snprintf(path, sizeof path, "%s/spiece.model", tmp);
        if ((s = es_copy_file_atomic(path, prm.spm_path, err))) goto fail;
        if ((s = write_tokenizer_files(tmp, err))) goto fail;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    if ((s = write_weights(path, &p, &prm, pool, &done, total, err))) goto fail;

    if (state != 2) {
        /* Absent or empty: one atomic rename of the whole folder. */
        if (rename(tmp, dir) != 0) {
            s = es_errf(err, ES_ERR_IO, "%s: cannot move the new model into place: %s", dir,
                        strerror(errno));
            goto fail;
        }
        fsync_dir(parent);
    } else {
        /* --force on a non-empty folder: replace our files one by one
         * (each rename is atomic; weights go last-but-one, config last so a
         * reader never sees a new config with old weights). */
        static const char *const order[] = {"spiece.model", "tokenizer_config.json",
                                            "special_tokens_map.json", "generation_config.json",
                                            "model.safetensors", "config.json"};
        for (size_t i = 0; i < ES_ARRAY_LEN(order); i++) {
            char src[8192], dst[8192];
            snprintf(src, sizeof src, "%s/%s", tmp, order[i]);
            if (!es_is_regular_file(src)) continue;
            snprintf(dst, sizeof dst, "%s/%s", dir, order[i]);
            if (rename(src, dst) != 0) {
                s = es_errf(err, ES_ERR_IO, "%s: cannot replace: %s", dst, strerror(errno));
                goto fail;
            }
        }
        fsync_dir(dir);
        remove_tree_flat(tmp);
    }
    es_free(cfg);
    es_pool_free(pool);
    plan_free(&p);
    return ES_OK;

fail:
    remove_tree_flat(tmp);
    es_free(cfg);
    es_pool_free(pool);
    plan_free(&p);
    return s;
}
