/*
 * fileio.h — small, careful file helpers used by every reader and writer:
 * whole-file reads with a size cap, read-only memory maps, atomic writes
 * (temp file in the destination folder + fsync + rename + fsync of the
 * folder) and path joining.
 *
 * Every failure returns an es_status with a message naming the path and,
 * for system-call failures, the errno text (ES_ERR_IO). Nothing here
 * prints, exits or aborts.
 */
#ifndef ES_IO_FILEIO_H
#define ES_IO_FILEIO_H

#include "core/common.h"

#include <stdio.h>

/* Reads a whole regular file into an es_malloc'd buffer (*buf, owned by the
 * caller: es_free). One extra NUL byte is appended after the data (not
 * counted in *len) so text parsers may treat it as a C string. Files larger
 * than max_len bytes are refused with ES_ERR_IO ("... is N bytes, larger
 * than the limit of M"). Directories and other non-regular files are
 * refused. On failure *buf = NULL, *len = 0. */
es_status es_read_file(const char *path, void **buf, size_t *len, size_t max_len, es_error *err);

/* Maps a whole regular file read-only (MAP_PRIVATE, PROT_READ). *addr and
 * *len describe the mapping; release it with es_unmap_file. An empty file
 * yields *addr = NULL, *len = 0 and ES_OK (nothing to unmap). The mapping
 * stays valid after the descriptor is closed. Model files must not be
 * truncated while mapped: touching a page past a shrunk end raises SIGBUS
 * (the usual contract of read-only mmap loaders). */
es_status es_map_file(const char *path, void **addr, size_t *len, es_error *err);
/* Unmaps what es_map_file returned (no-op for NULL / 0). */
void es_unmap_file(void *addr, size_t len);

/* Atomic writer. begin() creates "<dir>/.<base>.tmp.XXXXXX" next to path;
 * write()/printf() append to it; commit() flushes, fsyncs, renames it over
 * path and fsyncs the folder, so readers see either the old file or the
 * complete new one. abort() closes and unlinks the temp file. After a
 * failed write() the writer remembers the error and commit() refuses
 * (returns it again and removes the temp file). commit() and abort() free
 * the writer in every case; abort(NULL) is a no-op. */
typedef struct es_atomic_file es_atomic_file;
es_status es_atomic_begin(es_atomic_file **out, const char *path, es_error *err);
es_status es_atomic_write(es_atomic_file *f, const void *data, size_t len, es_error *err);
es_status es_atomic_printf(es_atomic_file *f, es_error *err, const char *fmt, ...)
    ES_PRINTF(3, 4);
es_status es_atomic_commit(es_atomic_file *f, es_error *err);
void es_atomic_abort(es_atomic_file *f);
/* Path of the temporary file (for tests and messages). */
const char *es_atomic_temp_path(const es_atomic_file *f);

/* Writes len bytes to path atomically (begin, write, commit). */
es_status es_atomic_write_file(const char *path, const void *data, size_t len, es_error *err);
/* Copies file src to dst atomically (streamed in 1 MiB blocks). */
es_status es_copy_file_atomic(const char *dst, const char *src, es_error *err);

/* Joins dir and name with one '/' into out (capacity cap). An empty dir
 * yields name unchanged; an absolute name is not special-cased (callers
 * that take names from files must refuse those themselves). Returns
 * ES_ERR_ARG when the result does not fit. */
es_status es_path_join(char *out, size_t cap, const char *dir, const char *name, es_error *err);

/* True if path exists and is a regular file / a directory. */
bool es_is_regular_file(const char *path);
bool es_is_dir(const char *path);

#endif
