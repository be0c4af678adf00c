/* Zip reader (src/io/zip.c): a small in-test writer builds archives the way
 * torch.save does (stored entries, optional zip64 end records), then each
 * failure class is produced by patching one field: end record / central
 * directory / local header / data past the end, zip64 records out of range,
 * overlapping and duplicate entries, name and method disagreements,
 * compressed and encrypted entries, multi-disk archives, every truncation.
 * CRC-32 is checked against the standard test vector. */
#include "test.h"
#include "io/zip.h"

#include <stdint.h>

/* REQUIRE evaluates its condition twice: calls with effects go through
 * MUST, which evaluates them once. */
#define MUST(expr, ...)                                                       \
    do {                                                                      \
        long must_ = (long)(expr);                                            \
        REQUIRE(must_ == 0, __VA_ARGS__);                                     \
    } while (0)

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        REQUIRE(b->p != NULL, "realloc");
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put16(buf *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}
static void put32(buf *b, uint32_t v) {
    put16(b, (uint16_t)v);
    put16(b, (uint16_t)(v >> 16));
}
static void put64(buf *b, uint64_t v) {
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}
static void set16(buf *b, size_t at, uint16_t v) {
    b->p[at] = (uint8_t)v;
    b->p[at + 1] = (uint8_t)(v >> 8);
}
static void set32(buf *b, size_t at, uint32_t v) {
    set16(b, at, (uint16_t)v);
    set16(b, at + 2, (uint16_t)(v >> 16));
}
static void set64(buf *b, size_t at, uint64_t v) {
    set32(b, at, (uint32_t)v);
    set32(b, at + 4, (uint32_t)(v >> 32));
}

typedef struct zent {
    const char *name;
    const char *data;
} zent;

typedef struct zip_layout {
    size_t local[8];   /* local header offsets */
    size_t central[8]; /* central record offsets */
    size_t cd_off, eocd64, loc64, eocd;
} zip_layout;

/* Writes entries (stored) + central directory + (zip64 record + locator if
 * zip64) + EOCD with comment. */
static buf make_zip(const zent *e, size_t n, bool zip64, const char *comment, zip_layout *L) {
    buf b = {0};
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name), dl = strlen(e[i].data);
        L->local[i] = b.n;
        put32(&b, 0x04034b50);
        put16(&b, 20);
        put16(&b, 0);
        put16(&b, 0); /* method */
        put32(&b, 0); /* time, date */
        put32(&b, es_zip_crc32(0, e[i].data, dl));
        put32(&b, (uint32_t)dl);
        put32(&b, (uint32_t)dl);
        put16(&b, (uint16_t)nl);
        put16(&b, 0);
        put(&b, e[i].name, nl);
        put(&b, e[i].data, dl);
    }
    L->cd_off = b.n;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name), dl = strlen(e[i].data);
        L->central[i] = b.n;
        put32(&b, 0x02014b50);
        put16(&b, 20);
        put16(&b, 20);
        put16(&b, 0);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, es_zip_crc32(0, e[i].data, dl));
        put32(&b, (uint32_t)dl);
        put32(&b, (uint32_t)dl);
        put16(&b, (uint16_t)nl);
        put16(&b, 0);
        put16(&b, 0);
        put16(&b, 0);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, (uint32_t)L->local[i]);
        put(&b, e[i].name, nl);
    }
    size_t cd_size = b.n - L->cd_off;
    L->eocd64 = L->loc64 = 0;
    if (zip64) {
        L->eocd64 = b.n;
        put32(&b, 0x06064b50);
        put64(&b, 44);
        put16(&b, 45);
        put16(&b, 45);
        put32(&b, 0);
        put32(&b, 0);
        put64(&b, n);
        put64(&b, n);
        put64(&b, cd_size);
        put64(&b, L->cd_off);
        L->loc64 = b.n;
        put32(&b, 0x07064b50);
        put32(&b, 0);
        put64(&b, L->eocd64);
        put32(&b, 1);
    }
    L->eocd = b.n;
    put32(&b, 0x06054b50);
    put16(&b, 0);
    put16(&b, 0);
    put16(&b, zip64 ? 0xffff : (uint16_t)n);
    put16(&b, zip64 ? 0xffff : (uint16_t)n);
    put32(&b, zip64 ? 0xffffffffu : (uint32_t)cd_size);
    put32(&b, zip64 ? 0xffffffffu : (uint32_t)L->cd_off);
    size_t cl = comment ? strlen(comment) : 0;
    put16(&b, (uint16_t)cl);
    if (cl) put(&b, comment, cl);
    return b;
}

static const zent ents[] = {{"arch/data.pkl", "pickle-bytes"},
                            {"arch/data/0", "0123456789abcdef"},
                            {"arch/version", "3\n"}};

static es_status open_buf(const buf *b, es_error *e) {
    es_zip *z;
    es_status s = es_zip_open(&z, b->p, b->n, "t.zip", e);
    es_zip_free(z);
    return s;
}

static buf copy(const buf *b) {
    buf c = {malloc(b->n), b->n, b->n};
    memcpy(c.p, b->p, b->n);
    return c;
}

/* Copies base, applies fn, expects code and a message containing want. */
#define EXPECT_BAD(base, code, want, ...)                                             \
    do {                                                                              \
        buf c_ = copy(&(base));                                                       \
        buf *c = &c_;                                                                 \
        __VA_ARGS__;                                                                  \
        es_error e_;                                                                  \
        es_status s_ = open_buf(c, &e_);                                              \
        CHECK(s_ == (code), "%s: got %d (%s)", want, s_, s_ ? e_.msg : "ok");         \
        CHECK(s_ == ES_OK || strstr(e_.msg, want), "message '%s' lacks '%s'", e_.msg, \
              want);                                                                  \
        free(c_.p);                                                                   \
    } while (0)

static void test_valid(bool zip64, const char *comment) {
    zip_layout L;
    buf b = make_zip(ents, 3, zip64, comment, &L);
    es_error e;
    es_zip *z;
    MUST(es_zip_open(&z, b.p, b.n, "t.zip", &e), "open: %s", e.msg);
    CHECK(es_zip_count(z) == 3, "count %zu", es_zip_count(z));
    for (size_t i = 0; i < 3; i++) {
        const es_zip_entry *x = es_zip_find(z, ents[i].name);
        REQUIRE(x != NULL, "find %s", ents[i].name);
        const uint8_t *d;
        size_t n;
        CHECK(es_zip_data(z, x, true, &d, &n, &e) == ES_OK, "data: %s", e.msg);
        CHECK(n == strlen(ents[i].data) && memcmp(d, ents[i].data, n) == 0, "bytes of %s",
              ents[i].name);
        CHECK(d == b.p + L.local[i] + 30 + strlen(ents[i].name), "data points into the buffer");
    }
    CHECK(es_zip_find(z, "arch/data/1") == NULL, "absent entry");
    CHECK(strcmp(es_zip_at(z, 0)->name, "arch/data.pkl") == 0, "sorted by name");
    es_zip_free(z);
    free(b.p);
}

int main(void) {
    CHECK(es_zip_crc32(0, "123456789", 9) == 0xCBF43926u, "crc32 test vector");
    CHECK(es_zip_crc32(es_zip_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u, "crc32 chained");
    test_valid(false, NULL);
    test_valid(true, NULL);
    test_valid(true, "a comment PK");

    zip_layout L;
    buf b = make_zip(ents, 3, false, NULL, &L);
    buf b64 = make_zip(ents, 3, true, NULL, &L);
    zip_layout L32;
    buf tmp = make_zip(ents, 3, false, NULL, &L32);
    free(tmp.p);

    es_error e;
    /* Not a zip / too short. */
    {
        uint8_t x[5] = {'h', 'e', 'l', 'l', 'o'};
        es_zip *z;
        CHECK(es_zip_open(&z, x, 5, "t.zip", &e) == ES_ERR_FORMAT && z == NULL, "not a zip");
        CHECK(strstr(e.msg, "not a zip archive") != NULL, "%s", e.msg);
        CHECK(es_zip_open(&z, NULL, 0, "t.zip", &e) == ES_ERR_FORMAT, "empty");
    }
    /* EOCD: central directory offset / size past EOF. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "central directory", set32(c, L32.eocd + 16, 0x7ffffff0));
    EXPECT_BAD(b, ES_ERR_FORMAT, "central directory", set32(c, L32.eocd + 12, 0x7ffffff0));
    EXPECT_BAD(b, ES_ERR_FORMAT, "entries cannot fit", set16(c, L32.eocd + 10, 100);
               set16(c, L32.eocd + 8, 100));
    EXPECT_BAD(b, ES_ERR_FORMAT, "bytes after its", set16(c, L32.eocd + 10, 2);
               set16(c, L32.eocd + 8, 2));
    /* Comment length claiming bytes past EOF: the record is not accepted. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "not a zip archive", set16(c, L32.eocd + 20, 5));
    /* zip64 fields without a locator, and multi-disk. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "zip64", set32(c, L32.eocd + 16, 0xffffffffu));
    EXPECT_BAD(b, ES_ERR_UNSUPPORTED, "multi-disk", set16(c, L32.eocd + 4, 1));
    /* zip64: record offset, size, signature, values. */
    EXPECT_BAD(b64, ES_ERR_FORMAT, "zip64 end record offset", set64(c, L.loc64 + 8, 1u << 30));
    EXPECT_BAD(b64, ES_ERR_FORMAT, "signature", set32(c, L.eocd64, 0x12345678));
    EXPECT_BAD(b64, ES_ERR_FORMAT, "bad size", set64(c, L.eocd64 + 4, UINT64_MAX - 3));
    EXPECT_BAD(b64, ES_ERR_FORMAT, "central directory", set64(c, L.eocd64 + 48, UINT64_MAX - 8));
    EXPECT_BAD(b64, ES_ERR_FORMAT, "central directory", set64(c, L.eocd64 + 40, UINT64_MAX));
    EXPECT_BAD(b64, ES_ERR_FORMAT, "entries cannot fit", set64(c, L.eocd64 + 32, 1ull << 60);
               set64(c, L.eocd64 + 24, 1ull << 60));
    EXPECT_BAD(b64, ES_ERR_UNSUPPORTED, "multi-disk", set32(c, L.loc64 + 16, 2));
    /* Central records: signature, name past the directory, empty/NUL name. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "bad central directory record", set32(c, L32.central[1], 0));
    EXPECT_BAD(b, ES_ERR_FORMAT, "run past the central", set16(c, L32.central[2] + 28, 4000));
    EXPECT_BAD(b, ES_ERR_FORMAT, "NUL in name", c->p[L32.central[0] + 46 + 2] = 0);
    /* Local header offset past the data area, bad signature, name mismatch. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "no local header", set32(c, L32.central[1] + 42, 0x7fffffff));
    EXPECT_BAD(b, ES_ERR_FORMAT, "no local header", set32(c, L32.local[1], 0x04034b51));
    EXPECT_BAD(b, ES_ERR_FORMAT, "disagrees", c->p[L32.local[1] + 30] = 'X');
    EXPECT_BAD(b, ES_ERR_FORMAT, "runs into the central",
               set16(c, L32.local[2] + 28, 0xffff));
    /* Entry sizes past the end of the data area (and of the file). */
    EXPECT_BAD(b, ES_ERR_FORMAT, "run past the end", set32(c, L32.central[1] + 20, 0x7fffffff);
               set32(c, L32.central[1] + 24, 0x7fffffff));
    EXPECT_BAD(b, ES_ERR_FORMAT, "overlap", set32(c, L32.central[0] + 20, 40);
               set32(c, L32.central[0] + 24, 40));
    /* Stored with different sizes; compressed and encrypted entries. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "compressed size", set32(c, L32.central[0] + 24, 1));
    EXPECT_BAD(b, ES_ERR_UNSUPPORTED, "encrypted", set16(c, L32.central[0] + 8, 1));
    /* A central record pointing at another entry's local header. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "disagrees", set32(c, L32.central[1] + 42, (uint32_t)L32.local[0]));
    /* zip64 extra field needed but absent. */
    EXPECT_BAD(b, ES_ERR_FORMAT, "zip64 extra", set32(c, L32.central[0] + 20, 0xffffffffu);
               set32(c, L32.central[0] + 24, 0xffffffffu));
    {
        /* Duplicate names: two identical entries at different offsets. */
        zent d[2] = {{"a/x", "1"}, {"a/x", "2"}};
        zip_layout Ld;
        buf db = make_zip(d, 2, true, NULL, &Ld);
        CHECK(open_buf(&db, &e) == ES_ERR_FORMAT && strstr(e.msg, "duplicate"), "dup: %s", e.msg);
        free(db.p);
    }
    {
        /* Deflate method: opens, data refused. */
        buf c = copy(&b);
        set16(&c, L32.local[1] + 8, 8);
        set16(&c, L32.central[1] + 10, 8);
        es_zip *z;
        MUST(es_zip_open(&z, c.p, c.n, "t.zip", &e), "deflate opens: %s", e.msg);
        const uint8_t *d;
        size_t n;
        CHECK(es_zip_data(z, es_zip_find(z, "arch/data/0"), false, &d, &n, &e) ==
                  ES_ERR_UNSUPPORTED && strstr(e.msg, "compressed"),
              "deflate refused: %s", e.msg);
        es_zip_free(z);
        free(c.p);
    }
    {
        /* CRC mismatch is reported when asked for. */
        buf c = copy(&b);
        c.p[L32.local[1] + 30 + strlen("arch/data/0")] ^= 1;
        es_zip *z;
        MUST(es_zip_open(&z, c.p, c.n, "t.zip", &e), "open");
        const uint8_t *d;
        size_t n;
        const es_zip_entry *x = es_zip_find(z, "arch/data/0");
        CHECK(es_zip_data(z, x, true, &d, &n, &e) == ES_ERR_FORMAT && strstr(e.msg, "CRC"),
              "crc: %s", e.msg);
        CHECK(es_zip_data(z, x, false, &d, &n, &e) == ES_OK, "no crc check");
        es_zip_free(z);
        free(c.p);
    }
    /* Every truncation of both archives fails cleanly (ASan checks reads). */
    int bad = 0;
    for (int k = 0; k < 2; k++) {
        const buf *src = k ? &b64 : &b;
        for (size_t n = 0; n < src->n; n++) {
            uint8_t *p = malloc(n ? n : 1);
            memcpy(p, src->p, n);
            es_zip *z;
            if (es_zip_open(&z, p, n, "t.zip", &e) != ES_ERR_FORMAT) bad++;
            es_zip_free(z);
            free(p);
        }
    }
    CHECK(bad == 0, "%d truncations accepted", bad);
    /* Allocation failures: NOMEM and no leak. */
    int nomem_ok = 1;
    for (long n = 1; n < 50; n++) {
        es_test_fail_alloc_after(n);
        es_zip *z;
        es_status s = es_zip_open(&z, b64.p, b64.n, "t.zip", &e);
        es_test_fail_alloc_after(0);
        es_zip_free(z);
        if (s == ES_OK) break;
        if (s != ES_ERR_NOMEM) nomem_ok = 0;
    }
    CHECK(nomem_ok, "allocation failures give NOMEM");
    free(b.p);
    free(b64.p);
    TEST_MAIN_END();
}
