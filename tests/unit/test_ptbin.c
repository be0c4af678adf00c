/* pytorch_model.bin reader (src/io/ptbin.c, unpickle.c) on two kinds of
 * input:
 *  - small archives written by torch 1.13 (tests/data/ptbin/, made by
 *    make_ptbin.py): every dtype, shared storages, a transposed view, a
 *    storage offset, a stride-0 expand, a 0-d scalar, an empty tensor, a
 *    Parameter, an OrderedDict state dict with _metadata, protocols 2 and
 *    4, and the legacy non-zip format. Expected values are the formulas
 *    the script used, computed here.
 *  - hostile archives built in C: code-execution globals (os.system,
 *    builtins.eval, posix.system, subprocess.Popen, look-alikes), unknown
 *    opcodes, truncation at every prefix, deep MARK nesting, huge memo
 *    indices, storage offsets / sizes / strides out of range or
 *    overflowing, missing pickle / storage, wrong storage dtype, big-endian
 *    archives, duplicate names, non-tensor values.
 * Plus allocation-failure injection (NOMEM, no leak under ASan). */
#include "test.h"
#include "io/weights.h"
#include "io/zip.h"

#include <stdint.h>
#include <unistd.h>

/* REQUIRE evaluates its condition twice: calls with effects go through
 * MUST, which evaluates them once. */
#define MUST(expr, ...)                                                       \
    do {                                                                      \
        long must_ = (long)(expr);                                            \
        REQUIRE(must_ == 0, __VA_ARGS__);                                     \
    } while (0)

/* ---- byte buffers and a minimal torch-style zip writer ----------------- */

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
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put16(buf *b, uint16_t v) {
    put8(b, (uint8_t)v);
    put8(b, (uint8_t)(v >> 8));
}
static void put32(buf *b, uint32_t v) {
    put16(b, (uint16_t)v);
    put16(b, (uint16_t)(v >> 16));
}
static void put64(buf *b, uint64_t v) {
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

typedef struct zent {
    char name[128];
    const void *data;
    size_t len;
} zent;

/* Stored entries, central directory, zip64 record + locator, EOCD: the
 * layout torch.save writes (without its alignment padding). */
static buf make_zip(const zent *e, size_t n) {
    buf b = {0};
    size_t off[32];
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        off[i] = b.n;
        put32(&b, 0x04034b50);
        put16(&b, 20);
        put16(&b, 0);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, es_zip_crc32(0, e[i].data, e[i].len));
        put32(&b, (uint32_t)e[i].len);
        put32(&b, (uint32_t)e[i].len);
        put16(&b, (uint16_t)nl);
        put16(&b, 0);
        put(&b, e[i].name, nl);
        put(&b, e[i].data, e[i].len);
    }
    size_t cd = b.n;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        put32(&b, 0x02014b50);
        put16(&b, 20);
        put16(&b, 20);
        put16(&b, 0);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, es_zip_crc32(0, e[i].data, e[i].len));
        put32(&b, (uint32_t)e[i].len);
        put32(&b, (uint32_t)e[i].len);
        put16(&b, (uint16_t)nl);
        put16(&b, 0);
        put16(&b, 0);
        put16(&b, 0);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, (uint32_t)off[i]);
        put(&b, e[i].name, nl);
    }
    size_t cd_size = b.n - cd, e64 = b.n;
    put32(&b, 0x06064b50);
    put64(&b, 44);
    put32(&b, 45 | (45u << 16));
    put32(&b, 0);
    put32(&b, 0);
    put64(&b, n);
    put64(&b, n);
    put64(&b, cd_size);
    put64(&b, cd);
    put32(&b, 0x07064b50);
    put32(&b, 0);
    put64(&b, e64);
    put32(&b, 1);
    put32(&b, 0x06054b50);
    put32(&b, 0);
    put16(&b, 0xffff);
    put16(&b, 0xffff);
    put32(&b, 0xffffffffu);
    put32(&b, 0xffffffffu);
    put16(&b, 0);
    return b;
}

/* ---- pickle writer ----------------------------------------------------- */

static void pk_str(buf *b, const char *s) {
    put8(b, 'X');
    put32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}
static void pk_global(buf *b, const char *mod, const char *name) {
    put8(b, 'c');
    put(b, mod, strlen(mod));
    put8(b, '\n');
    put(b, name, strlen(name));
    put8(b, '\n');
}
static void pk_int(buf *b, int64_t v) {
    if (v >= 0 && v < 256) {
        put8(b, 'K');
        put8(b, (uint8_t)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        put8(b, 'J');
        put32(b, (uint32_t)(int32_t)v);
    } else {
        put8(b, 0x8a);
        put8(b, 8);
        put64(b, (uint64_t)v);
    }
}

typedef struct tspec {
    const char *name;
    const char *stype; /* "FloatStorage", ... */
    const char *key;
    int64_t numel, offset;
    int ndim;
    int64_t size[10], stride[10];
} tspec;

static void pk_tensor(buf *b, const tspec *t) {
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    put8(b, '(');
    put8(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", t->stype);
    pk_str(b, t->key);
    pk_str(b, "cpu");
    pk_int(b, t->numel);
    put8(b, 't');
    put8(b, 'Q');
    pk_int(b, t->offset);
    put8(b, '(');
    for (int i = 0; i < t->ndim; i++) pk_int(b, t->size[i]);
    put8(b, 't');
    put8(b, '(');
    for (int i = 0; i < t->ndim; i++) pk_int(b, t->stride[i]);
    put8(b, 't');
    put8(b, 0x89);
    pk_global(b, "collections", "OrderedDict");
    put8(b, ')');
    put8(b, 'R');
    put8(b, 't');
    put8(b, 'R');
}

/* {name: tensor, ...} in protocol 2, as torch.save writes a plain dict. */
static buf pk_state_dict(const tspec *t, size_t n) {
    buf b = {0};
    put8(&b, 0x80);
    put8(&b, 2);
    put8(&b, '}');
    put8(&b, '(');
    for (size_t i = 0; i < n; i++) {
        pk_str(&b, t[i].name);
        pk_tensor(&b, &t[i]);
    }
    put8(&b, 'u');
    put8(&b, '.');
    return b;
}

/* Storage "0": 12 floats 0..11; storage "1": 6 halves (bytes only). */
static float st0[12];
static const uint16_t st1[6] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600};

/* Archive "arch/": data.pkl = pkl, data/0, data/1, version (+ extra). */
static buf archive(const buf *pkl, const zent *extra, size_t n_extra) {
    zent e[16];
    size_t n = 0;
    memset(e, 0, sizeof e);
    snprintf(e[n].name, sizeof e[n].name, "arch/data.pkl");
    e[n].data = pkl->p;
    e[n++].len = pkl->n;
    snprintf(e[n].name, sizeof e[n].name, "arch/data/0");
    e[n].data = st0;
    e[n++].len = sizeof st0;
    snprintf(e[n].name, sizeof e[n].name, "arch/data/1");
    e[n].data = st1;
    e[n++].len = sizeof st1;
    snprintf(e[n].name, sizeof e[n].name, "arch/version");
    e[n].data = "3\n";
    e[n++].len = 2;
    for (size_t i = 0; i < n_extra; i++) e[n++] = extra[i];
    return make_zip(e, n);
}

static es_status parse(const buf *zip, es_weights **w, es_error *e) {
    MUST(es_weights_new(w, e), "new");
    es_status s = es_ptbin_parse(*w, zip->p, zip->n, "t.bin", e);
    if (s == ES_OK) es_weights_seal(*w);
    return s;
}

/* Parses an archive around pkl; expects code and want in the message. */
static void expect_pickle(const buf *pkl, es_status code, const char *want, int line) {
    buf z = archive(pkl, NULL, 0);
    es_weights *w;
    es_error e;
    es_status s = parse(&z, &w, &e);
    CHECK(s == code, "line %d: want %d got %d (%s)", line, code, s, s ? e.msg : "ok");
    CHECK(!want || (s && strstr(e.msg, want)), "line %d: message '%s' lacks '%s'", line,
          s ? e.msg : "", want ? want : "");
    es_weights_free(w);
    free(z.p);
}
#define EXPECT_PICKLE(pkl, code, want) expect_pickle(pkl, code, want, __LINE__)

/* Element i of unaligned F32 data. */
static float fget(const void *p, size_t i) {
    float v;
    memcpy(&v, (const uint8_t *)p + 4 * i, 4);
    return v;
}

static const tspec T_A = {"a", "FloatStorage", "0", 12, 0, 2, {3, 4}, {4, 1}};

/* ---- valid crafted archives -------------------------------------------- */

static void test_crafted_valid(void) {
    tspec t[5] = {T_A, T_A, T_A, T_A, T_A};
    t[1].name = "tied";
    t[2].name = "at"; /* transpose: (4, 3) strides (1, 4) */
    t[2].size[0] = 4, t[2].size[1] = 3, t[2].stride[0] = 1, t[2].stride[1] = 4;
    t[3].name = "row2"; /* a[2] via offset 8, (4,) */
    t[3].offset = 8, t[3].ndim = 1, t[3].size[0] = 4, t[3].stride[0] = 1;
    t[4] = (tspec){"h", "HalfStorage", "1", 6, 0, 2, {2, 3}, {3, 1}};
    buf pkl = pk_state_dict(t, 5);
    buf z = archive(&pkl, NULL, 0);
    es_weights *w;
    es_error e;
    MUST(parse(&z, &w, &e), "crafted: %s", e.msg);
    CHECK(es_weights_count(w) == 5, "count %zu", es_weights_count(w));
    const es_tensor_view *a = es_weights_find(w, "a"), *tied = es_weights_find(w, "tied"),
                         *at = es_weights_find(w, "at"), *r2 = es_weights_find(w, "row2"),
                         *h = es_weights_find(w, "h");
    REQUIRE(a && tied && at && r2 && h, "names present");
    CHECK(a->data == tied->data && a->data != at->data, "tied names alias one storage");
    CHECK(a->dtype == ES_DTYPE_F32 && a->ndim == 2 && a->shape[0] == 3 && a->shape[1] == 4,
          "a shape");
    CHECK(a->data >= (const void *)z.p && (const uint8_t *)a->data + 48 <= z.p + z.n,
          "contiguous view points into the archive");
    int bad = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) bad += fget(at->data, (size_t)(i * 3 + j)) != (float)(j * 4 + i);
    for (int i = 0; i < 4; i++) bad += fget(r2->data, (size_t)i) != (float)(8 + i);
    CHECK(bad == 0, "%d wrong values in views", bad);
    CHECK(h->dtype == ES_DTYPE_F16 && h->nbytes == 12 && memcmp(h->data, st1, 12) == 0, "half");
    es_weights_free(w);
    free(z.p);
    free(pkl.p);
}

/* ---- files written by torch -------------------------------------------- */

static es_weights *read_data(const char *file, es_error *e, es_status *s) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/ptbin/%s", ES_SOURCE_DIR, file);
    es_weights *w;
    MUST(es_weights_new(&w, e), "new");
    *s = es_ptbin_read(w, path, e);
    if (*s == ES_OK) es_weights_seal(w);
    return w;
}

static double elem(const es_tensor_view *t, size_t i) {
    const uint8_t *p = (const uint8_t *)t->data + i * es_dtype_size(t->dtype);
    switch (t->dtype) {
    case ES_DTYPE_F32: { float v; memcpy(&v, p, 4); return v; }
    case ES_DTYPE_F64: { double v; memcpy(&v, p, 8); return v; }
    case ES_DTYPE_F16: { uint16_t v; memcpy(&v, p, 2); return es_f16_to_f32(v); }
    case ES_DTYPE_BF16: { uint16_t v; memcpy(&v, p, 2); return es_bf16_to_f32(v); }
    case ES_DTYPE_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case ES_DTYPE_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case ES_DTYPE_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case ES_DTYPE_I8: return (int8_t)p[0];
    case ES_DTYPE_U8: case ES_DTYPE_BOOL: return p[0];
    default: return NAN;
    }
}

typedef struct expect {
    const char *name;
    es_dtype dtype;
    int ndim;
    int64_t shape[2];
    double (*f)(size_t i);
} expect;

static double f_base(size_t i) { return (double)i; }
static double f_base_t(size_t i) { return (double)((i % 3) * 4 + i / 3); } /* (4,3) */
static double f_slice(size_t i) { return (double)(5 + i); }
static double f_expand(size_t i) { return (double)(1 + i % 2); }
static double f_f16(size_t i) { return (double)i; }
static double f_bf16(size_t i) { return 0.5 * (double)i; }
static double f_f64(size_t i) { return 0.25 * (double)i; }
static double f_i64(size_t i) { return (double)i - 2; }
static double f_i32(size_t i) { return (double)i * 1000 - 1; }
static double f_i16(size_t i) { return (double)i - 300; }
static double f_i8(size_t i) { return (double)i - 2; }
static double f_u8(size_t i) { return (double)i + 250; }
static double f_bool(size_t i) { return i != 1; }
static double f_scalar(size_t i) { return 3.5 + 0 * (double)i; }
static double f_param(size_t i) { return (double)i + 0.5; }

static const expect mixed_expect[] = {
    {"base", ES_DTYPE_F32, 2, {3, 4}, f_base},    {"base_t", ES_DTYPE_F32, 2, {4, 3}, f_base_t},
    {"slice", ES_DTYPE_F32, 1, {4}, f_slice},     {"expand", ES_DTYPE_F32, 2, {3, 2}, f_expand},
    {"f16", ES_DTYPE_F16, 2, {2, 3}, f_f16},      {"bf16", ES_DTYPE_BF16, 1, {4}, f_bf16},
    {"f64", ES_DTYPE_F64, 1, {3}, f_f64},         {"i64", ES_DTYPE_I64, 1, {5}, f_i64},
    {"i32", ES_DTYPE_I32, 1, {4}, f_i32},         {"i16", ES_DTYPE_I16, 1, {4}, f_i16},
    {"i8", ES_DTYPE_I8, 1, {4}, f_i8},            {"u8", ES_DTYPE_U8, 1, {4}, f_u8},
    {"bool", ES_DTYPE_BOOL, 1, {3}, f_bool},      {"scalar", ES_DTYPE_F32, 0, {0}, f_scalar},
    {"empty", ES_DTYPE_F32, 2, {0, 3}, NULL},     {"param", ES_DTYPE_F32, 1, {4}, f_param},
};

static void test_torch_files(void) {
    const char *files[] = {"mixed_p2.bin", "mixed_p4.bin"};
    for (size_t k = 0; k < 2; k++) {
        es_error e;
        es_status s;
        es_weights *w = read_data(files[k], &e, &s);
        CHECK(s == ES_OK, "%s: %s", files[k], e.msg);
        if (s == ES_OK) {
            CHECK(es_weights_count(w) == ES_ARRAY_LEN(mixed_expect), "%s: %zu tensors", files[k],
                  es_weights_count(w));
            for (size_t i = 0; i < ES_ARRAY_LEN(mixed_expect); i++) {
                const expect *x = &mixed_expect[i];
                const es_tensor_view *t = es_weights_find(w, x->name);
                CHECK(t != NULL, "%s: %s missing", files[k], x->name);
                if (!t) continue;
                bool shape_ok = t->dtype == x->dtype && t->ndim == x->ndim;
                for (int d = 0; d < x->ndim && shape_ok; d++) shape_ok = t->shape[d] == x->shape[d];
                CHECK(shape_ok, "%s: %s dtype/shape", files[k], x->name);
                size_t n = es_tensor_numel(t), bad = 0;
                for (size_t j = 0; x->f && j < n; j++) bad += elem(t, j) != x->f(j);
                CHECK(bad == 0, "%s: %s: %zu wrong values", files[k], x->name, bad);
            }
            const es_tensor_view *b = es_weights_find(w, "base"), *sl = es_weights_find(w, "slice");
            CHECK(b && sl && (const uint8_t *)sl->data == (const uint8_t *)b->data + 20,
                  "slice is a view of base's storage at offset 5");
        }
        es_weights_free(w);
    }
    es_error e;
    es_status s;
    es_weights *w = read_data("linear_sd.bin", &e, &s);
    CHECK(s == ES_OK, "linear_sd: %s", e.msg);
    if (s == ES_OK) {
        const es_tensor_view *wt = es_weights_find(w, "weight"), *bs = es_weights_find(w, "bias");
        CHECK(es_weights_count(w) == 2 && wt && bs, "linear names");
        if (wt && bs) {
            size_t bad = 0;
            for (size_t j = 0; j < 6; j++) bad += elem(wt, j) != (double)j / 8;
            CHECK(bad == 0 && elem(bs, 0) == -1 && elem(bs, 1) == 1, "linear values");
        }
    }
    es_weights_free(w);
    w = read_data("legacy.bin", &e, &s);
    CHECK(s == ES_ERR_UNSUPPORTED && strstr(e.msg, "legacy"), "legacy: %s", e.msg);
    es_weights_free(w);
    w = read_data("no_such.bin", &e, &s);
    CHECK(s == ES_ERR_IO, "missing file: %d", s);
    es_weights_free(w);
}

/* ---- hostile pickles ----------------------------------------------------- */

static buf pk_begin(void) {
    buf b = {0};
    put8(&b, 0x80);
    put8(&b, 2);
    return b;
}

static void test_globals(void) {
    static const char *evil[][2] = {
        {"os", "system"}, {"builtins", "eval"}, {"posix", "system"}, {"subprocess", "Popen"},
        {"builtins", "exec"}, {"torch", "load"}, {"torch._utils", "_rebuild_qtensor"},
        {"collections", "OrderedDictX"}, {"torch", "FloatStorageX"}, {"torch.nn", "Module"},
        {"nt", "system"}, {"torch._utils ", "_rebuild_tensor_v2"}, {"", ""},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(evil); i++) {
        /* GLOBAL mod name, ('echo pwned',) REDUCE STOP */
        buf b = pk_begin();
        size_t at = b.n;
        pk_global(&b, evil[i][0], evil[i][1]);
        pk_str(&b, "echo pwned");
        put8(&b, 0x85);
        put8(&b, 'R');
        put8(&b, '.');
        char want[160];
        snprintf(want, sizeof want, "offset %zu: global '%s.%s' refused", at, evil[i][0],
                 evil[i][1]);
        EXPECT_PICKLE(&b, ES_ERR_FORMAT, want);
        free(b.p);
        /* The same through STACK_GLOBAL (protocol 4). */
        b = pk_begin();
        pk_str(&b, evil[i][0]);
        pk_str(&b, evil[i][1]);
        at = b.n;
        put8(&b, 0x93);
        put8(&b, '.');
        snprintf(want, sizeof want, "offset %zu: global '%s.%s' refused", at, evil[i][0],
                 evil[i][1]);
        EXPECT_PICKLE(&b, ES_ERR_FORMAT, want);
        free(b.p);
    }
    /* Non-printable bytes in a refused name are not copied into messages. */
    buf b = pk_begin();
    pk_global(&b, "os\x1b[2J", "sys\x01tem");
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "'os?[2J.sys?tem' refused");
    free(b.p);
    /* Recognised names may not be called in other ways. */
    b = pk_begin();
    pk_global(&b, "torch", "FloatStorage");
    put8(&b, ')');
    put8(&b, 'R');
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "storage type cannot be called");
    free(b.p);
    b = pk_begin();
    pk_global(&b, "collections", "OrderedDict");
    pk_str(&b, "x");
    put8(&b, 0x85);
    put8(&b, 'R');
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "OrderedDict called with 1 arguments");
    free(b.p);
    b = pk_begin();
    pk_str(&b, "x");
    put8(&b, ')');
    put8(&b, 'R');
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "non-callable");
    free(b.p);
}

static void test_opcodes(void) {
    /* Opcodes outside the subset, each named with its offset. */
    static const uint8_t bad_ops[] = {'i', 'o', 0x81, 0x92, 'I', 'L', 'S', 'V', 'T', 'U', 'B',
                                      'C', '0', '1', '2', 'g', 'p', 'l', 'd', 0x82, 0x8e, 0x96,
                                      0x97, 0x98, 0xff, 0x00, 'P'};
    for (size_t i = 0; i < sizeof bad_ops; i++) {
        buf b = pk_begin();
        put8(&b, '}');
        put8(&b, bad_ops[i]);
        put8(&b, '.');
        char want[64];
        snprintf(want, sizeof want, "offset 3: opcode 0x%02x", bad_ops[i]);
        EXPECT_PICKLE(&b, ES_ERR_FORMAT, want);
        free(b.p);
    }
    buf b = {0};
    put8(&b, 0x80);
    put8(&b, 6);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "protocol 6");
    free(b.p);
    /* Deep nesting: MARKs beyond the bound. */
    b = pk_begin();
    for (int i = 0; i < 100000; i++) put8(&b, '(');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "nested MARKs");
    free(b.p);
    /* Huge memo index, and a read of a slot never written. */
    b = pk_begin();
    put8(&b, '}');
    put8(&b, 'r');
    put32(&b, 0xffffffffu);
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "memo index 4294967295 out of range");
    free(b.p);
    b = pk_begin();
    put8(&b, '}');
    put8(&b, 'r');
    put32(&b, 2000000);
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "out of range");
    free(b.p);
    b = pk_begin();
    put8(&b, 'j');
    put32(&b, 7);
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "never stored");
    free(b.p);
    /* Stack discipline. */
    const char *cases[][2] = {
        {"u.", "no MARK"},           {"s.", "SETITEM needs"},     {"}(K\x01u.", "odd number"},
        {"](K\x01K\x02u.", "not a dict"}, {"}K\x01" "a.", "not a list"}, {"(\x86.", "TUPLE2 needs"},
        {"}}.", "2 values"},         {"(}.", "open MARK"},     {"R.", "empty stack"},
        {"}(.", "open MARK"},        {"}.}", "after STOP"},   {"", "without STOP"},
        {"}\x94(h\x00h\x00u.", "key 0 is not a string"}, {"}N(b.", "empty stack"}, {"Nb.", "empty stack"},
        {"KNb.", "empty stack"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        b = pk_begin();
        size_t n = strlen(cases[i][0]);
        if (cases[i][0][0] == '}' && cases[i][0][1] == '\x94') n = 9; /* contains NULs */
        put(&b, cases[i][0], n);
        expect_pickle(&b, ES_ERR_FORMAT, cases[i][1], __LINE__ * 1000 + (int)i);
        free(b.p);
    }
    /* BUILD on a plain int; strings with NUL or bad UTF-8; LONG1 > 8 bytes. */
    b = pk_begin();
    put(&b, "K\x01}b.", 5);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "BUILD on");
    free(b.p);
    b = pk_begin();
    static const uint8_t nul_str[] = {'X', 3, 0, 0, 0, 'a', 0, 'b', '.'};
    put(&b, nul_str, sizeof nul_str);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "NUL");
    free(b.p);
    b = pk_begin();
    put(&b, "X\x02\x00\x00\x00\xc0\xaf.", 8);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "UTF-8");
    free(b.p);
    b = pk_begin();
    put(&b, "X\xff\xff\xff\x7f", 5);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "truncated: string");
    free(b.p);
    b = pk_begin();
    put(&b, "\x8a\x09", 2);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "LONG1 of 9 bytes");
    free(b.p);
    b = pk_begin();
    put8(&b, 0x95);
    put64(&b, 1ull << 40);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "FRAME");
    free(b.p);
    /* Root is not a dict / value not a tensor / key not a string. */
    b = pk_begin();
    put(&b, "].", 2);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "not a dict of tensors");
    free(b.p);
    b = pk_begin();
    put8(&b, '}');
    pk_str(&b, "x");
    put(&b, "K\x05s.", 4);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "'x' is not a tensor");
    free(b.p);
    b = pk_begin();
    put(&b, "}K\x05K\x05s.", 7);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "key 0 is not a string");
    free(b.p);
    /* Empty state dict is valid. */
    b = pk_begin();
    put(&b, "}.", 2);
    EXPECT_PICKLE(&b, ES_OK, NULL);
    free(b.p);
}

/* ---- hostile tensors ------------------------------------------------------ */

static void expect_tensor(const tspec *t, es_status code, const char *want, int line) {
    buf pkl = pk_state_dict(t, 1);
    expect_pickle(&pkl, code, want, line);
    free(pkl.p);
}
#define EXPECT_TENSOR(t, code, want) expect_tensor(t, code, want, __LINE__)

static void test_tensors(void) {
    tspec t = T_A;
    EXPECT_TENSOR(&t, ES_OK, NULL);
    t.offset = 1; /* (3,4) from offset 1 reaches element 12 of 12 */
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "reaches element 12 of storage 'arch/data/0' which holds 12");
    t = T_A;
    t.offset = (int64_t)1 << 40;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "reaches element");
    t = T_A;
    t.stride[0] = 5; /* last = 2*5 + 3 = 13 */
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "reaches element 13");
    t = T_A;
    t.size[0] = INT64_MAX, t.size[1] = INT64_MAX;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "size/stride overflow");
    t = T_A;
    t.stride[0] = INT64_MAX;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "size/stride overflow");
    t = T_A;
    t.offset = INT64_MAX, t.stride[0] = INT64_MAX / 2;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "size/stride overflow");
    t = T_A; /* stride-0 blow-up: 2^40 elements of one storage element */
    t.ndim = 1, t.size[0] = (int64_t)1 << 40, t.stride[0] = 0;
    EXPECT_TENSOR(&t, ES_ERR_UNSUPPORTED, "budget");
    t = T_A;
    t.size[1] = -1;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "size[1] is not an integer >= 0");
    t = T_A;
    t.stride[0] = -4;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "stride[0] is not an integer >= 0");
    t = T_A;
    t.offset = -1;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "storage offset");
    t = T_A;
    t.ndim = 9;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "9 dimensions");
    t = T_A;
    t.size[0] = 0; /* empty tensors are fine wherever they point */
    t.offset = 1000;
    EXPECT_TENSOR(&t, ES_OK, NULL);
    t = T_A;
    t.key = "7";
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "storage entry 'arch/data/7' is missing");
    t = T_A;
    t.key = "../0";
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "storage key");
    t = T_A; /* wrong dtype: 12 doubles do not fit in 48 bytes */
    t.stype = "DoubleStorage";
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "is 48 bytes, but the pickle says 12 elements of F64");
    t = T_A;
    t.numel = 13;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "13 elements of F32");
    t = T_A;
    t.numel = INT64_MAX;
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "elements of F32");
    t = T_A;
    t.stype = "UntypedStorage";
    EXPECT_TENSOR(&t, ES_ERR_FORMAT, "'torch.UntypedStorage' refused");

    /* Duplicate name, and the persistent-id shape. */
    tspec two[2] = {T_A, T_A};
    buf pkl = pk_state_dict(two, 2);
    EXPECT_PICKLE(&pkl, ES_ERR_FORMAT, "duplicate tensor name 'a'");
    free(pkl.p);
    buf b = pk_begin();
    pk_str(&b, "storage");
    put8(&b, 0x85);
    put8(&b, 'Q');
    put8(&b, '.');
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "5-tuple");
    free(b.p);
    b = pk_begin();
    put8(&b, '(');
    pk_str(&b, "module");
    pk_global(&b, "torch", "FloatStorage");
    pk_str(&b, "0");
    pk_str(&b, "cpu");
    pk_int(&b, 12);
    put(&b, "tQ.", 3);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "'storage'");
    free(b.p);
    b = pk_begin(); /* _rebuild_tensor_v2 with a non-storage first argument */
    pk_global(&b, "torch._utils", "_rebuild_tensor_v2");
    put(&b, "(K\x00K\x00)\x29\x89}t", 10);
    put(&b, "R.", 2);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "not a storage");
    free(b.p);
    b = pk_begin();
    pk_global(&b, "torch._utils", "_rebuild_parameter");
    put(&b, "(K\x01\x88}tR.", 8);
    EXPECT_PICKLE(&b, ES_ERR_FORMAT, "_rebuild_parameter needs");
    free(b.p);
}

/* ---- archive-level failures -------------------------------------------- */

static void test_archive(void) {
    tspec t = T_A;
    buf pkl = pk_state_dict(&t, 1);
    es_weights *w;
    es_error e;
    /* Missing data.pkl: only storages. */
    {
        zent z1[1];
        memset(z1, 0, sizeof z1);
        snprintf(z1[0].name, sizeof z1[0].name, "arch/data/0");
        z1[0].data = st0;
        z1[0].len = sizeof st0;
        buf z = make_zip(z1, 1);
        CHECK(parse(&z, &w, &e) == ES_ERR_FORMAT && strstr(e.msg, "no <root>/data.pkl"),
              "missing pickle: %s", e.msg);
        es_weights_free(w);
        free(z.p);
    }
    /* Two roots, a nested pickle (ignored), a big-endian / odd byteorder. */
    {
        zent x[1];
        memset(x, 0, sizeof x);
        snprintf(x[0].name, sizeof x[0].name, "other/data.pkl");
        x[0].data = pkl.p;
        x[0].len = pkl.n;
        buf z = archive(&pkl, x, 1);
        CHECK(parse(&z, &w, &e) == ES_ERR_FORMAT && strstr(e.msg, "two pickles"), "two: %s",
              e.msg);
        es_weights_free(w);
        free(z.p);
        snprintf(x[0].name, sizeof x[0].name, "arch/sub/data.pkl");
        z = archive(&pkl, x, 1);
        CHECK(parse(&z, &w, &e) == ES_OK, "nested pickle ignored: %s", e.msg);
        es_weights_free(w);
        free(z.p);
        const char *orders[] = {"little", "big", "middle"};
        es_status want[] = {ES_OK, ES_ERR_UNSUPPORTED, ES_ERR_FORMAT};
        for (int i = 0; i < 3; i++) {
            snprintf(x[0].name, sizeof x[0].name, "arch/byteorder");
            x[0].data = orders[i];
            x[0].len = strlen(orders[i]);
            z = archive(&pkl, x, 1);
            es_status s = parse(&z, &w, &e);
            CHECK(s == want[i], "byteorder %s: %d %s", orders[i], s, s ? e.msg : "");
            CHECK(i != 1 || strstr(e.msg, "big-endian"), "%s", e.msg);
            es_weights_free(w);
            free(z.p);
        }
    }
    /* Corrupted pickle byte: CRC catches it. */
    {
        buf z = archive(&pkl, NULL, 0);
        z.p[30 + strlen("arch/data.pkl") + 5] ^= 0x40;
        CHECK(parse(&z, &w, &e) == ES_ERR_FORMAT && strstr(e.msg, "CRC"), "crc: %s", e.msg);
        es_weights_free(w);
        free(z.p);
    }
    /* Truncated archive (EOCD gone) and a zip whose EOCD claims data past EOF. */
    {
        buf z = archive(&pkl, NULL, 0);
        CHECK(es_weights_new(&w, &e) == ES_OK, "new");
        CHECK(es_ptbin_parse(w, z.p, z.n - 30, "t.bin", &e) == ES_ERR_FORMAT, "truncated");
        es_weights_free(w);
        z.p[z.n - 22 + 16] = 0x10; /* classic EOCD cd offset: zip64 locator wins, unaffected */
        size_t e64 = z.n - 22 - 20 - 56;
        z.p[e64 + 48 + 3] = 0x7f; /* zip64 cd offset far past EOF */
        CHECK(parse(&z, &w, &e) == ES_ERR_FORMAT && strstr(e.msg, "central directory"),
              "cd past EOF: %s", e.msg);
        es_weights_free(w);
        free(z.p);
    }
    free(pkl.p);

    /* Every prefix of a valid pickle (inside a well-formed archive) fails,
     * and every prefix of a torch-written archive fails. */
    tspec ts[3] = {T_A, T_A, T_A};
    ts[1].name = "b";
    ts[2].name = "c";
    ts[2].stride[0] = 1, ts[2].stride[1] = 3, ts[2].size[0] = 3, ts[2].size[1] = 4;
    buf full = pk_state_dict(ts, 3);
    int accepted = 0, wrong_code = 0;
    for (size_t n = 0; n < full.n; n++) {
        buf pre = {full.p, n, n};
        buf z = archive(&pre, NULL, 0);
        es_status s = parse(&z, &w, &e);
        if (s == ES_OK) accepted++;
        else if (s != ES_ERR_FORMAT) wrong_code++;
        es_weights_free(w);
        free(z.p);
    }
    CHECK(accepted == 0 && wrong_code == 0, "pickle prefixes: %d accepted, %d wrong code",
          accepted, wrong_code);
    free(full.p);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/ptbin/mixed_p4.bin", ES_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL, "open %s", path);
    uint8_t data[8192];
    size_t len = fread(data, 1, sizeof data, f);
    fclose(f);
    accepted = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, data, n);
        MUST(es_weights_new(&w, &e), "new");
        if (es_ptbin_parse(w, p, n, "t.bin", &e) == ES_OK) accepted++;
        es_weights_free(w);
        free(p);
    }
    CHECK(accepted == 0, "archive prefixes: %d accepted", accepted);

    /* Allocation failures while parsing a torch-written archive. */
    int wrong = 0;
    long n;
    for (n = 1; n < 100000; n++) {
        MUST(es_weights_new(&w, &e), "new");
        es_test_fail_alloc_after(n);
        es_status s = es_ptbin_parse(w, data, len, "t.bin", &e);
        es_test_fail_alloc_after(0);
        es_weights_free(w);
        if (s == ES_OK) break;
        if (s != ES_ERR_NOMEM) wrong++;
    }
    printf("allocation-failure points tried: %ld\n", n - 1);
    CHECK(wrong == 0 && n > 10, "alloc failures: %d not NOMEM (%ld tried)", wrong, n);
}

/* ---- sharded checkpoints: pytorch_model.bin.index.json -------------------- */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL, "write %s", path);
    fputs(text, f);
    fclose(f);
}

static void test_index(void) {
    char dir[] = "/tmp/es_ptbin_idx_XXXXXX";
    MUST(mkdtemp(dir) == NULL, "mkdtemp");
    char s1[256], s2[256], idx[256], src[4096];
    snprintf(s1, sizeof s1, "%s/pytorch_model-00001-of-00002.bin", dir);
    snprintf(s2, sizeof s2, "%s/pytorch_model-00002-of-00002.bin", dir);
    snprintf(idx, sizeof idx, "%s/pytorch_model.bin.index.json", dir);
    snprintf(src, sizeof src, "%s/tests/data/ptbin/mixed_p2.bin", ES_SOURCE_DIR);
    MUST(symlink(src, s1), "symlink");
    snprintf(src, sizeof src, "%s/tests/data/ptbin/linear_sd.bin", ES_SOURCE_DIR);
    MUST(symlink(src, s2), "symlink");
    static const struct {
        const char *json;
        es_status code;
        const char *want;
    } cases[] = {
        {"{\"metadata\": {}, \"weight_map\": {\"base\": \"pytorch_model-00001-of-00002.bin\", "
         "\"param\": \"pytorch_model-00001-of-00002.bin\", "
         "\"weight\": \"pytorch_model-00002-of-00002.bin\", "
         "\"bias\": \"pytorch_model-00002-of-00002.bin\"}}",
         ES_OK, NULL},
        {"{\"weight_map\": {\"base\": \"../pytorch_model-00001-of-00002.bin\"}}", ES_ERR_FORMAT,
         "plain file name"},
        {"{\"weight_map\": {\"base\": \"/etc/passwd\"}}", ES_ERR_FORMAT, "plain file name"},
        {"{\"weight_map\": {\"base\": \"..\"}}", ES_ERR_FORMAT, "plain file name"},
        {"{\"weight_map\": {\"base\": \"a\\u0000b\"}}", ES_ERR_FORMAT, "plain file name"},
        {"{\"weight_map\": {\"base\": 3}}", ES_ERR_FORMAT, "plain file name"},
        {"{\"weight_map\": {\"nope\": \"pytorch_model-00001-of-00002.bin\"}}", ES_ERR_FORMAT,
         "'nope' is not in its shard"},
        {"{\"weight_map\": {\"weight\": \"pytorch_model-00001-of-00002.bin\", "
         "\"bias\": \"pytorch_model-00002-of-00002.bin\"}}",
         ES_ERR_FORMAT, "'weight' is listed in"},
        {"{\"weight_map\": {\"base\": \"missing.bin\"}}", ES_ERR_IO, "missing.bin"},
        {"{\"weight_map\": {}}", ES_ERR_FORMAT, "empty"},
        {"{\"weight_map\": []}", ES_ERR_FORMAT, "weight_map"},
        {"{\"weight_map\": {", ES_ERR_FORMAT, "not valid JSON"},
    };
    for (size_t i = 0; i < ES_ARRAY_LEN(cases); i++) {
        write_text(idx, cases[i].json);
        es_weights *w;
        es_error e;
        MUST(es_weights_new(&w, &e), "new");
        es_status s = es_ptbin_read_index(w, idx, &e);
        CHECK(s == cases[i].code, "index case %zu: want %d got %d (%s)", i, cases[i].code, s,
              s ? e.msg : "ok");
        CHECK(!cases[i].want || (s && strstr(e.msg, cases[i].want)),
              "index case %zu: '%s' lacks '%s'", i, s ? e.msg : "", cases[i].want);
        if (s == ES_OK) {
            CHECK(es_weights_count(w) == ES_ARRAY_LEN(mixed_expect) + 2, "both shards read: %zu",
                  es_weights_count(w));
            const es_tensor_view *t = es_weights_find(w, "weight");
            CHECK(t && strcmp(t->file, s2) == 0, "file of 'weight': %s", t ? t->file : "-");
        }
        es_weights_free(w);
    }
    unlink(idx);
    unlink(s1);
    unlink(s2);
    rmdir(dir);
}

int main(void) {
    for (int i = 0; i < 12; i++) st0[i] = (float)i;
    test_crafted_valid();
    test_torch_files();
    test_globals();
    test_opcodes();
    test_tensors();
    test_archive();
    test_index();
    TEST_MAIN_END();
}
