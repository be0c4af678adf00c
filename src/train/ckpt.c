/*
 * ckpt.c — training checkpoints shared by the trainers (format in ckpt.h):
 * the step-folder life cycle (begin → caller writes the model → state →
 * publish → prune) and the train_state.safetensors writer and reader.
 *
 * Integers are stored as decimal or hex text in the safetensors metadata
 * (strings only there), parsed back with strtoull and refused unless the
 * whole string is a number, so a hand-edited or truncated value fails
 * loudly instead of resuming from a wrong position.
 */
#include "train/ckpt.h"

#include "io/fileio.h"
#include "train/trainer.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t es_ckpt_fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t es_ckpt_params_hash(uint64_t h, const es_train_params *p, int world) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "bs=%d acc=%d opt=%d lr=%a min=%a wu=%" PRId64 " sch=%d wd=%a "
                     "b1=%a b2=%a eps=%a clip=%a seed=%" PRIu64 " mb=%d",
                     p->batch_size * world, p->grad_accum, (int)p->optimizer, (double)p->lr,
                     (double)p->min_lr, p->warmup_steps, (int)p->schedule, (double)p->weight_decay,
                     (double)p->beta1, (double)p->beta2, (double)p->eps, (double)p->clip_norm,
                     p->seed, p->max_bytes);
    return es_ckpt_fnv(h, buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

es_status es_ckpt_file_checksum(const char *path, uint64_t *out, es_error *err) {
    void *buf = NULL;
    size_t len = 0;
    es_status s = es_read_file(path, &buf, &len, (size_t)1 << 34, err);
    if (s) return s;
    *out = es_ckpt_fnv(ES_CKPT_FNV_BASIS, buf, len);
    es_free(buf);
    return ES_OK;
}

es_status es_ckpt_read_pointer(const char *out_dir, char *name, size_t cap, es_error *err) {
    char path[4096];
    es_status s = es_path_join(path, sizeof path, out_dir, ES_CKPT_POINTER_FILE, err);
    if (s) return s;
    void *buf = NULL;
    size_t len = 0;
    if ((s = es_read_file(path, &buf, &len, 4096, err))) return s;
    char *t = buf;
    while (len && (t[len - 1] == '\n' || t[len - 1] == ' ')) t[--len] = 0;
    s = ES_OK;
    if (len == 0 || len >= cap || strlen(t) != len || strncmp(t, "step-", 5) != 0 ||
        strchr(t, '/') || strstr(t, ".."))
        s = es_errf(err, ES_ERR_FORMAT, "%s: not a checkpoint name", path);
    else
        memcpy(name, t, len + 1);
    es_free(buf);
    return s;
}

/* Removes the regular files of dir, then dir (step folders hold no
 * sub-folders). Best effort: used on folders this module created. */
static void remove_dir_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path) unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Deletes step folders older than the newest `keep` ones, never `current`. */
static void prune(const char *out_dir, int keep, const char *current) {
    DIR *d = opendir(out_dir);
    if (!d) return;
    int64_t steps[256];
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
        snprintf(name, sizeof name, "step-%08lld", (long long)steps[i]);
        if (newer >= keep && strcmp(name, current) != 0 &&
            (size_t)snprintf(path, sizeof path, "%s/%s", out_dir, name) < sizeof path)
            remove_dir_files(path);
    }
}

es_status es_ckpt_begin(const char *out_dir, int64_t step, char *name, size_t name_cap,
                        char *dir, size_t dir_cap, bool *already, es_error *err) {
    *already = false;
    if (!out_dir) return es_errf(err, ES_ERR_ARG, "checkpoint: no output folder set");
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        return es_errf(err, ES_ERR_IO, "%s: cannot create folder: %s", out_dir, strerror(errno));
    if ((size_t)snprintf(name, name_cap, "step-%08lld", (long long)step) >= name_cap)
        return es_errf(err, ES_ERR_ARG, "checkpoint: name buffer too small");
    char cur[256] = "";
    es_error e2;
    if (es_ckpt_read_pointer(out_dir, cur, sizeof cur, &e2) == ES_OK && strcmp(cur, name) == 0) {
        *already = true;
        return ES_OK;
    }
    es_status s = es_path_join(dir, dir_cap, out_dir, name, err);
    if (s) return s;
    remove_dir_files(dir); /* a partial folder left by a killed run */
    return ES_OK;
}

es_status es_ckpt_publish(const char *out_dir, const char *name, int keep, es_error *err) {
    char path[4096], line[80];
    int n = snprintf(line, sizeof line, "%s\n", name);
    if (n < 0 || (size_t)n >= sizeof line)
        return es_errf(err, ES_ERR_ARG, "checkpoint: name '%s' too long", name);
    es_status s = es_path_join(path, sizeof path, out_dir, ES_CKPT_POINTER_FILE, err);
    if (!s) s = es_atomic_write_file(path, line, (size_t)n, err);
    if (s) return s;
    prune(out_dir, keep < 1 ? 1 : keep, name);
    return ES_OK;
}

es_status es_ckpt_write_state(const char *path, const es_ckpt_state *st,
                              const es_ckpt_moments *regs, int n_regs,
                              const char *const *extra_kv, size_t n_extra, es_error *err) {
    size_t n_t = 0;
    for (int r = 0; r < n_regs; r++) n_t += 2 * (size_t)regs[r].ps->n;
    es_st_write_tensor *t = es_calloc(n_t ? n_t : 1, sizeof *t);
    char (*names)[ES_PARAM_NAME_MAX + 8] = es_calloc(n_t ? n_t : 1, ES_PARAM_NAME_MAX + 8);
    if (!t || !names) {
        es_free(t);
        es_free(names);
        return es_errf(err, ES_ERR_NOMEM, "checkpoint: out of memory");
    }
    size_t k = 0;
    for (int r = 0; r < n_regs; r++) {
        const es_params *ps = regs[r].ps;
        for (int i = 0; i < ps->n; i++) {
            const es_param *p = &ps->p[i];
            for (int mv = 0; mv < 2; mv++, k++) {
                es_st_write_tensor *w = &t[k];
                snprintf(names[k], ES_PARAM_NAME_MAX + 8, "%s.%s", mv ? "adam_v" : "adam_m", p->name);
                w->name = names[k];
                w->dtype = ES_DTYPE_F32;
                w->ndim = p->ndim;
                for (int d = 0; d < p->ndim; d++) w->shape[d] = p->shape[d];
                w->data = (mv ? regs[r].v : regs[r].m) + p->offset;
            }
        }
    }
    char v_step[32], v_epoch[32], v_pos[32], v_t[32], v_rng[4][32], v_hash[32], v_ck[32];
    snprintf(v_step, sizeof v_step, "%" PRId64, st->step);
    snprintf(v_epoch, sizeof v_epoch, "%" PRId64, st->epoch);
    snprintf(v_pos, sizeof v_pos, "%zu", st->data_pos);
    snprintf(v_t, sizeof v_t, "%" PRId64, st->adam_t);
    for (int i = 0; i < 4; i++) snprintf(v_rng[i], 32, "%016" PRIx64, st->rng[i]);
    snprintf(v_hash, sizeof v_hash, "%016" PRIx64, st->config_hash);
    snprintf(v_ck, sizeof v_ck, "%016" PRIx64, st->model_checksum);
    const char *meta0[] = {"edgeseq_format", "1", "step", v_step, "epoch", v_epoch,
                           "data_pos", v_pos, "adam_t", v_t, "rng0", v_rng[0], "rng1", v_rng[1],
                           "rng2", v_rng[2], "rng3", v_rng[3], "config_hash", v_hash,
                           "model_checksum", v_ck};
    size_t n_meta = ES_ARRAY_LEN(meta0) / 2;
    const char **meta = es_calloc(2 * (n_meta + n_extra), sizeof *meta);
    es_status s = ES_OK;
    if (!meta) {
        s = es_errf(err, ES_ERR_NOMEM, "checkpoint: out of memory");
    } else {
        memcpy(meta, meta0, sizeof meta0);
        for (size_t i = 0; i < 2 * n_extra; i++) meta[2 * n_meta + i] = extra_kv[i];
        s = es_safetensors_write(path, t, n_t, meta, n_meta + n_extra, err);
    }
    es_free(meta);
    es_free(t);
    es_free(names);
    return s;
}

static es_status meta_u64(const es_weights *w, const char *key, int hex, uint64_t *out,
                          const char *path, es_error *err) {
    const char *v = es_weights_get_meta(w, key);
    char *end = NULL;
    if (!v || !*v) return es_errf(err, ES_ERR_FORMAT, "%s: metadata '%s' missing", path, key);
    errno = 0;
    unsigned long long x = strtoull(v, &end, hex ? 16 : 10);
    if (errno || *end || *v == '-')
        return es_errf(err, ES_ERR_FORMAT, "%s: metadata '%s' = '%s' is not a number", path, key, v);
    *out = x;
    return ES_OK;
}

es_status es_ckpt_read_state(const char *path, es_ckpt_state *st, const es_ckpt_moments *regs,
                             int n_regs, es_weights **keep, es_error *err) {
    if (keep) *keep = NULL;
    es_weights *w = NULL;
    es_status s = es_weights_new(&w, err);
    if (s) return s;
    s = es_safetensors_read(w, path, err);
    if (s && s != ES_ERR_NOMEM) s = ES_ERR_FORMAT;
    if (!s) es_weights_seal(w);
    static const char *rk[4] = {"rng0", "rng1", "rng2", "rng3"};
    uint64_t step = 0, epoch = 0, pos = 0, t = 0;
    if (!s) s = meta_u64(w, "step", 0, &step, path, err);
    if (!s) s = meta_u64(w, "epoch", 0, &epoch, path, err);
    if (!s) s = meta_u64(w, "data_pos", 0, &pos, path, err);
    if (!s) s = meta_u64(w, "adam_t", 0, &t, path, err);
    for (int i = 0; i < 4 && !s; i++) s = meta_u64(w, rk[i], 1, &st->rng[i], path, err);
    if (!s) s = meta_u64(w, "config_hash", 1, &st->config_hash, path, err);
    if (!s) s = meta_u64(w, "model_checksum", 1, &st->model_checksum, path, err);
    if (!s && ((int64_t)step < 0 || (int64_t)epoch < 0 || (int64_t)t < 0 || pos > SIZE_MAX))
        s = es_errf(err, ES_ERR_FORMAT, "%s: step %" PRIu64 " / epoch %" PRIu64 " / adam_t %" PRIu64
                    " out of range", path, step, epoch, t);
    if (!s) {
        st->step = (int64_t)step;
        st->epoch = (int64_t)epoch;
        st->adam_t = (int64_t)t;
        st->data_pos = (size_t)pos;
    }
    size_t n_expect = 0;
    for (int r = 0; r < n_regs && !s; r++) {
        const es_params *ps = regs[r].ps;
        n_expect += 2 * (size_t)ps->n;
        for (int i = 0; i < ps->n && !s; i++) {
            const es_param *p = &ps->p[i];
            for (int mv = 0; mv < 2 && !s; mv++) {
                char tn[ES_PARAM_NAME_MAX + 8];
                snprintf(tn, sizeof tn, "%s.%s", mv ? "adam_v" : "adam_m", p->name);
                const es_tensor_view *tv = es_weights_find(w, tn);
                if (!tv) {
                    s = es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s' missing", path, tn);
                    break;
                }
                int ok = tv->dtype == ES_DTYPE_F32 && tv->ndim == p->ndim;
                for (int d = 0; ok && d < p->ndim; d++) ok = tv->shape[d] == p->shape[d];
                if (!ok) {
                    s = es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s' has the wrong dtype or shape",
                                path, tn);
                    break;
                }
                memcpy((mv ? regs[r].v : regs[r].m) + p->offset, tv->data, p->numel * sizeof(float));
            }
        }
    }
    if (!s && es_weights_count(w) != n_expect)
        s = es_errf(err, ES_ERR_FORMAT, "%s: %zu tensors, expected %zu", path, es_weights_count(w),
                    n_expect);
    if (!s && keep) *keep = w;
    else es_weights_free(w);
    return s;
}
