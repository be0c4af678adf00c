/*
 * alloc.c — the allocator hook (es_set_allocator), aligned allocation and
 * fault injection for tests (fail the Nth allocation).
 *
 * Aligned blocks are carved from an ordinary es_malloc block: the original
 * pointer is stored just below the aligned address.
 */
#include "core/common.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

static es_allocator g_alloc;
static atomic_long g_count; /* atomic: pool threads may allocate */
static atomic_long g_fail_at; /* 0 = off; else the g_count value that starts failing */

void es_set_allocator(const es_allocator *a) {
    if (a) g_alloc = *a;
    else memset(&g_alloc, 0, sizeof g_alloc);
}

void es_test_fail_alloc_after(long n) { g_fail_at = n > 0 ? g_count + n : 0; }
long es_test_alloc_count(void) { return g_count; }

static bool should_fail(void) {
    long n = atomic_fetch_add(&g_count, 1) + 1;
    long at = atomic_load(&g_fail_at);
    return at > 0 && n >= at;
}

void *es_malloc(size_t size) {
    if (should_fail()) return NULL;
    if (size == 0) size = 1;
    return g_alloc.alloc ? g_alloc.alloc(g_alloc.user, size) : malloc(size);
}

void *es_calloc(size_t n, size_t size) {
    size_t total;
    if (!es_mul_ok(n, size, &total)) return NULL;
    void *p = es_malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

void *es_realloc(void *p, size_t size) {
    if (should_fail()) return NULL;
    if (size == 0) size = 1;
    return g_alloc.realloc ? g_alloc.realloc(g_alloc.user, p, size) : realloc(p, size);
}

void es_free(void *p) {
    if (!p) return;
    if (g_alloc.free) g_alloc.free(g_alloc.user, p);
    else free(p);
}

char *es_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = es_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void *es_malloc_aligned(size_t size) {
    size_t total;
    if (!es_add_ok(size, 64 + sizeof(void *), &total)) return NULL;
    unsigned char *raw = es_malloc(total);
    if (!raw) return NULL;
    uintptr_t a = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)a)[-1] = raw;
    return (void *)a;
}

/* Blocks from es_malloc_big carry a 64-byte header: the mapping's start
 * and length (length 0 = carved from es_malloc_aligned instead). The data
 * starts on a 2 MB boundary of an over-sized mapping; with ES_BIG_HUGE it
 * is advised MADV_HUGEPAGE: where transparent huge pages are enabled
 * ("always" or "madvise"), a decode step streaming the re-packed weights
 * walks 2 MB pages instead of 4 KB ones (measured 10-20 % more read
 * bandwidth on a 64 MB GEMV here: dev/kern/rows_bench.c); elsewhere the
 * advice is a no-op. Not for blocks filled on a latency-critical path:
 * the kernel may compact memory to find huge pages (a synchronous 30 MB
 * encoder pack measured ~4x slower to load). */
#define BIG_ALIGN ((size_t)2 << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux >= 5.14; older kernels return EINVAL */
#endif
void *es_malloc_big(size_t size, int flags) {
#if defined(__linux__) && defined(MAP_POPULATE)
    if (size >= (8u << 20) && !g_alloc.alloc) {
        if (should_fail()) return NULL;
        size_t total;
        if (!es_add_ok(size, 64 + BIG_ALIGN, &total)) return NULL;
        unsigned char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return NULL;
        unsigned char *d = (unsigned char *)(((uintptr_t)m + 64 + BIG_ALIGN - 1) & ~(uintptr_t)(BIG_ALIGN - 1));
#ifdef MADV_HUGEPAGE
        if (flags & ES_BIG_HUGE) (void)madvise(d, size, MADV_HUGEPAGE);
#endif
        /* ES_BIG_POPULATE: fault every page in one call, so the first writes take
         * no page faults (re-packing ~1.3x faster with 4 KB pages); an old
         * kernel without MADV_POPULATE_WRITE just faults on first write */
        if (flags & ES_BIG_POPULATE) (void)madvise(d, size, MADV_POPULATE_WRITE);
        ((unsigned char **)(void *)(d - 64))[0] = m;
        ((size_t *)(void *)(d - 64))[1] = total;
        return d;
    }
#endif
    unsigned char *p = es_malloc_aligned(size + 64);
    if (!p) return NULL;
    ((size_t *)(void *)p)[1] = 0;
    return p + 64;
}

void es_free_big(void *p) {
    if (!p) return;
    unsigned char *b = (unsigned char *)p - 64;
    size_t total = ((size_t *)(void *)b)[1];
#if defined(__linux__) && defined(MAP_POPULATE)
    if (total) {
        munmap(((unsigned char **)(void *)b)[0], total);
        return;
    }
#endif
    (void)total;
    es_free_aligned(b);
}

void es_free_aligned(void *p) {
    if (p) es_free(((void **)p)[-1]);
}
