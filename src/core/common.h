/*
 * common.h — internal helpers shared by every module: error formatting,
 * the allocator hook, logging, overflow-checked size arithmetic.
 *
 * Errors: internal functions take `es_error *err` (may be NULL) and return
 * es_status. es_errf() formats a one-line message into err and returns the
 * code, so a failure path reads `return es_errf(err, ES_ERR_FORMAT, "...")`.
 * Messages name the file, tensor and offset where one is known.
 */
#ifndef ES_CORE_COMMON_H
#define ES_CORE_COMMON_H

#include "edgeseq.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ES_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ES_UNUSED __attribute__((unused))
#else
#define ES_PRINTF(a, b)
#define ES_UNUSED
#endif

/* Formats msg into err (if not NULL), sets err->code, returns code. */
es_status es_errf(es_error *err, es_status code, const char *fmt, ...) ES_PRINTF(3, 4);
/* Prefixes an existing message: "prefix: old message". Returns err->code
 * (or ES_ERR_INTERNAL when err is NULL). */
es_status es_err_prefix(es_error *err, const char *fmt, ...) ES_PRINTF(2, 3);
/* Clears err to ES_OK / "". */
void es_err_clear(es_error *err);

/* Allocation through the hook installed by es_set_allocator. es_malloc of
 * 0 bytes returns a valid unique pointer. es_calloc checks n*size for
 * overflow. All return NULL on failure (never abort). */
void *es_malloc(size_t size);
void *es_calloc(size_t n, size_t size);
void *es_realloc(void *p, size_t size);
void es_free(void *p);
char *es_strdup(const char *s);
/* 64-byte aligned allocation for kernel buffers; free with es_free_aligned. */
void *es_malloc_aligned(size_t size);
void es_free_aligned(void *p);
/* 64-byte aligned block for large buffers written once (load-time
 * re-packed weights): from 8 MB up, on Linux and without a custom
 * allocator, its own anonymous mapping, 2 MB aligned; flags:
 * ES_BIG_POPULATE pre-faults it (no page fault while it is filled; all of
 * it resident at once), ES_BIG_HUGE advises transparent huge pages (for
 * weights streamed every decode step; filling may be slower). Else
 * es_malloc_aligned. Counts as one allocation for
 * es_test_fail_alloc_after. Free with es_free_big only. */
enum { ES_BIG_POPULATE = 1, ES_BIG_HUGE = 2 };
void *es_malloc_big(size_t size, int flags);
void es_free_big(void *p);

/* Fault injection for tests: the Nth allocation from now (1-based) and all
 * later ones fail while `n` > 0; 0 disables. Returns allocations so far. */
void es_test_fail_alloc_after(long n);
long es_test_alloc_count(void);

/* Logging through the callback installed by es_set_log. */
void es_log(es_log_level level, const char *fmt, ...) ES_PRINTF(2, 3);

/* Overflow-checked arithmetic: return false on overflow. */
static inline bool es_mul_ok(size_t a, size_t b, size_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}
static inline bool es_add_ok(size_t a, size_t b, size_t *r) {
    return !__builtin_add_overflow(a, b, r);
}

#define ES_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ES_MAX(a, b) ((a) > (b) ? (a) : (b))
#define ES_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* bf16/f16 -> f32 conversions (exact). */
static inline float es_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)h << 16;
    return v.f;
}
float es_f16_to_f32(uint16_t h);
/* f32 -> bf16 with round-to-nearest-even (NaN stays NaN). */
uint16_t es_f32_to_bf16(float f);
/* f32 -> f16 with round-to-nearest-even. */
uint16_t es_f32_to_f16(float f);

#endif
