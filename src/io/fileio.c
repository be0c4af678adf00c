/*
 * fileio.c — whole-file reads, read-only maps, atomic writes, path joins.
 *
 * Atomic write protocol (POSIX): create the temp file with mkstemp in the
 * destination's folder (rename is only atomic within one file system),
 * write everything, fsync the file, rename over the destination, then
 * fsync the folder so the new directory entry survives a crash. Any
 * failure before rename leaves the old file untouched and removes the
 * temp file. New files get mode 0644 & ~umask (mkstemp would give 0600).
 *
 * Short reads/writes and EINTR are retried; all errors carry the path and
 * strerror(errno).
 */
#include "io/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static es_status io_err(es_error *err, const char *what, const char *path, int e) {
    return es_errf(err, ES_ERR_IO, "%s: %s: %s", path, what, strerror(e));
}

bool es_is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool es_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static es_status open_regular(const char *path, int *fd_out, size_t *size_out, es_error *err) {
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return io_err(err, "cannot open", path, errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return io_err(err, "cannot stat", path, e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return es_errf(err, ES_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX - 1) {
        close(fd);
        return es_errf(err, ES_ERR_IO, "%s: file too large to address", path);
    }
    *fd_out = fd;
    *size_out = (size_t)st.st_size;
    return ES_OK;
}

es_status es_read_file(const char *path, void **buf, size_t *len, size_t max_len, es_error *err) {
    *buf = NULL;
    *len = 0;
    int fd;
    size_t size;
    es_status s = open_regular(path, &fd, &size, err);
    if (s) return s;
    if (size > max_len) {
        close(fd);
        return es_errf(err, ES_ERR_IO, "%s: file is %zu bytes, larger than the limit of %zu",
                       path, size, max_len);
    }
    unsigned char *p = es_malloc(size + 1);
    if (!p) {
        close(fd);
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            es_free(p);
            return io_err(err, "read failed", path, e);
        }
        if (r == 0) {
            close(fd);
            es_free(p);
            return es_errf(err, ES_ERR_IO, "%s: file shrank while reading (%zu of %zu bytes)",
                           path, got, size);
        }
        got += (size_t)r;
    }
    close(fd);
    p[size] = 0;
    *buf = p;
    *len = size;
    return ES_OK;
}

es_status es_map_file(const char *path, void **addr, size_t *len, es_error *err) {
    *addr = NULL;
    *len = 0;
    int fd;
    size_t size;
    es_status s = open_regular(path, &fd, &size, err);
    if (s) return s;
    if (size == 0) { /* mmap of length 0 is EINVAL: an empty file maps to nothing */
        close(fd);
        return ES_OK;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return io_err(err, "cannot map", path, e);
    *addr = p;
    *len = size;
    return ES_OK;
}

void es_unmap_file(void *addr, size_t len) {
    if (addr && len) munmap(addr, len);
}

/* ------------------------------------------------------------------------ */
/* Atomic writer                                                            */
/* ------------------------------------------------------------------------ */

struct es_atomic_file {
    int fd;
    es_status failed; /* first write error, refused at commit */
    char *path;
    char *tmp;
    char *dir; /* folder to fsync after rename */
};

static void atomic_free(es_atomic_file *f) {
    es_free(f->path);
    es_free(f->tmp);
    es_free(f->dir);
    es_free(f);
}

es_status es_atomic_begin(es_atomic_file **out, const char *path, es_error *err) {
    *out = NULL;
    size_t n = strlen(path);
    if (n == 0) return es_errf(err, ES_ERR_ARG, "empty output path");
    if (path[n - 1] == '/') return es_errf(err, ES_ERR_ARG, "%s: output path is a folder", path);
    es_atomic_file *f = es_calloc(1, sizeof *f);
    if (!f) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", path);
    f->fd = -1;
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    const char *base = slash ? slash + 1 : path;
    f->path = es_strdup(path);
    f->dir = es_malloc(dlen + 2);
    size_t tcap = n + 32;
    f->tmp = es_malloc(tcap);
    if (!f->path || !f->dir || !f->tmp) {
        atomic_free(f);
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", path);
    }
    if (slash) {
        /* "/name" lives in "/" */
        memcpy(f->dir, path, dlen ? dlen : 1);
        f->dir[dlen ? dlen : 1] = 0;
        snprintf(f->tmp, tcap, "%.*s/.%s.tmp.XXXXXX", (int)dlen, path, base);
    } else {
        strcpy(f->dir, ".");
        snprintf(f->tmp, tcap, ".%s.tmp.XXXXXX", base);
    }
    int fd = mkostemp(f->tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        es_status s = io_err(err, "cannot create temporary file", f->tmp, e);
        atomic_free(f);
        return s;
    }
    mode_t um = umask(0);
    umask(um);
    if (fchmod(fd, 0644 & ~um) != 0) {
        /* Not fatal: the file is still correct, only its mode differs. */
        es_log(ES_LOG_WARN, "%s: cannot set mode: %s", f->tmp, strerror(errno));
    }
    f->fd = fd;
    *out = f;
    return ES_OK;
}

const char *es_atomic_temp_path(const es_atomic_file *f) { return f ? f->tmp : NULL; }

es_status es_atomic_write(es_atomic_file *f, const void *data, size_t len, es_error *err) {
    if (f->failed) return es_errf(err, f->failed, "%s: earlier write failed", f->path);
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len > (size_t)1 << 30 ? (size_t)1 << 30 : len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            f->failed = ES_ERR_IO;
            return io_err(err, "write failed", f->tmp, errno);
        }
        p += w;
        len -= (size_t)w;
    }
    return ES_OK;
}

es_status es_atomic_printf(es_atomic_file *f, es_error *err, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        f->failed = ES_ERR_ARG;
        return es_errf(err, ES_ERR_ARG, "%s: formatting failed", f->path);
    }
    if ((size_t)n < sizeof small) return es_atomic_write(f, small, (size_t)n, err);
    char *big = es_malloc((size_t)n + 1);
    if (!big) {
        f->failed = ES_ERR_NOMEM;
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", f->path);
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    es_status s = es_atomic_write(f, big, (size_t)n, err);
    es_free(big);
    return s;
}

void es_atomic_abort(es_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    atomic_free(f);
}

es_status es_atomic_commit(es_atomic_file *f, es_error *err) {
    if (f->failed) {
        es_status s = es_errf(err, f->failed, "%s: not written (an earlier write failed)", f->path);
        es_atomic_abort(f);
        return s;
    }
    if (fsync(f->fd) != 0) {
        es_status s = io_err(err, "fsync failed", f->tmp, errno);
        es_atomic_abort(f);
        return s;
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        es_status s = io_err(err, "close failed", f->tmp, errno);
        es_atomic_abort(f);
        return s;
    }
    if (rename(f->tmp, f->path) != 0) {
        es_status s = io_err(err, "cannot rename temporary file into place", f->path, errno);
        es_atomic_abort(f);
        return s;
    }
    /* The data is in place; a failing folder fsync only weakens durability
     * across a crash, so it is reported as an error all the same: the caller
     * asked for a durable write. */
    es_status s = ES_OK;
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        s = io_err(err, "cannot open folder to sync", f->dir, errno);
    } else {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
            s = io_err(err, "fsync of folder failed", f->dir, errno);
        close(dfd);
    }
    atomic_free(f);
    return s;
}

es_status es_atomic_write_file(const char *path, const void *data, size_t len, es_error *err) {
    es_atomic_file *f;
    es_status s = es_atomic_begin(&f, path, err);
    if (s) return s;
    s = es_atomic_write(f, data, len, err);
    if (s) {
        es_atomic_abort(f);
        return s;
    }
    return es_atomic_commit(f, err);
}

es_status es_copy_file_atomic(const char *dst, const char *src, es_error *err) {
    int fd;
    size_t size;
    es_status s = open_regular(src, &fd, &size, err);
    if (s) return s;
    enum { BLOCK = 1 << 20 };
    unsigned char *buf = es_malloc(BLOCK);
    if (!buf) {
        close(fd);
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory copying", src);
    }
    es_atomic_file *f;
    s = es_atomic_begin(&f, dst, err);
    if (s) {
        es_free(buf);
        close(fd);
        return s;
    }
    for (;;) {
        ssize_t r = read(fd, buf, BLOCK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            s = io_err(err, "read failed", src, errno);
            break;
        }
        if (r == 0) break;
        s = es_atomic_write(f, buf, (size_t)r, err);
        if (s) break;
    }
    es_free(buf);
    close(fd);
    if (s) {
        es_atomic_abort(f);
        return s;
    }
    return es_atomic_commit(f, err);
}

es_status es_path_join(char *out, size_t cap, const char *dir, const char *name, es_error *err) {
    size_t dl = strlen(dir), nl = strlen(name);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    bool sep = dl > 0 && dir[dl - 1] != '/';
    size_t need = dl + (sep ? 1 : 0) + nl + 1;
    if (cap == 0 || need > cap) {
        if (cap) out[0] = 0;
        return es_errf(err, ES_ERR_ARG, "path too long: %.*s/%s", (int)ES_MIN(dl, 200), dir,
                       name);
    }
    memmove(out, dir, dl); /* out may alias dir */
    size_t k = dl;
    if (sep) out[k++] = '/';
    memcpy(out + k, name, nl + 1);
    return ES_OK;
}
