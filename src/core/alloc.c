/*
 * alloc.c — the allocator hook (es_set_allocator), aligned allocation and
 * fault injection for tests (fail the Nth allocation).
 *
 * Aligned blocks are carved from an ordinary es_malloc block: the original
 * pointer is stored just below the aligned address.
 */
#include "core/common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

void es_free_aligned(void *p) {
    if (p) es_free(((void **)p)[-1]);
}
