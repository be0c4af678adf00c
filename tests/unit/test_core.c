/* Core: status strings, error formatting, allocator fault injection,
 * half-precision conversions against exact values. */
#include "test.h"
#include "core/common.h"

#include <stdint.h>

int main(void) {
    CHECK(strcmp(es_status_str(ES_ERR_FORMAT), "malformed file") == 0, "status str");
    CHECK(strcmp(es_version(), ES_VERSION_STRING) == 0, "version");
    es_error e;
    CHECK(es_errf(&e, ES_ERR_SHAPE, "tensor '%s' at %d", "x", 7) == ES_ERR_SHAPE, "errf code");
    CHECK(strcmp(e.msg, "tensor 'x' at 7") == 0, "errf msg: %s", e.msg);
    es_err_prefix(&e, "file %s", "a.bin");
    CHECK(strcmp(e.msg, "file a.bin: tensor 'x' at 7") == 0, "prefix: %s", e.msg);

    es_test_fail_alloc_after(2);
    void *a = es_malloc(10), *b = es_malloc(10);
    CHECK(a != NULL && b == NULL, "second allocation fails");
    es_test_fail_alloc_after(0);
    es_free(a);
    CHECK(es_calloc(SIZE_MAX / 2, 4) == NULL, "calloc overflow refused");
    void *al = es_malloc_aligned(100);
    CHECK(((uintptr_t)al & 63) == 0, "aligned");
    es_free_aligned(al);
    /* es_malloc_big: small blocks and every flag combination of the 8 MB+
     * mapping path: 64-byte aligned, zeroed when fresh, fully writable,
     * fault injection counted as one allocation */
    static const size_t big_sizes[] = {1000, (size_t)9 << 20};
    for (int si = 0; si < 2; si++)
        for (int fl = 0; fl < 4; fl++) {
            const size_t n = big_sizes[si];
            unsigned char *p = es_malloc_big(n, fl);
            CHECK(p && ((uintptr_t)p & 63) == 0, "malloc_big %zu flags %d: aligned", n, fl);
            if (!p) continue;
            if (n >= ((size_t)8 << 20)) CHECK(p[0] == 0 && p[n - 1] == 0, "malloc_big: fresh pages zero");
            memset(p, 0xa5, n);
            CHECK(p[0] == 0xa5 && p[n / 2] == 0xa5 && p[n - 1] == 0xa5, "malloc_big %zu: writable", n);
            es_free_big(p);
        }
    es_test_fail_alloc_after(1);
    CHECK(es_malloc_big((size_t)9 << 20, ES_BIG_HUGE) == NULL, "malloc_big: fault injection");
    es_test_fail_alloc_after(0);
    es_free_big(NULL);

    /* f16: 1.0 = 0x3c00, smallest subnormal 2^-24 = 0x0001, max 65504 = 0x7bff */
    CHECK(es_f16_to_f32(0x3c00) == 1.0f, "f16 1");
    CHECK(es_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "f16 subnormal");
    CHECK(es_f16_to_f32(0x7bff) == 65504.0f, "f16 max");
    CHECK(es_f16_to_f32(0xc000) == -2.0f, "f16 -2");
    /* round trip of every finite f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (es_f32_to_f16(es_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "f16 round trip: %d bad", bad);
    CHECK(es_f32_to_f16(1.0f + ldexpf(1.0f, -11)) == 0x3c00, "f16 tie to even");
    CHECK(es_f32_to_bf16(1.0f) == 0x3f80, "bf16 1");
    CHECK(es_f32_to_bf16(1.0f + ldexpf(1.0f, -8)) == 0x3f80, "bf16 tie to even");
    CHECK(es_bf16_to_f32(0x3f81) == 1.0f + ldexpf(1.0f, -7), "bf16 up");
    TEST_MAIN_END();
}
