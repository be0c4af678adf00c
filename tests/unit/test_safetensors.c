/*
 * test_safetensors.c — the safetensors reader against one hand-made hostile
 * file per failure class (expected status + a message naming the problem),
 * every truncation of a valid file, the writer (round trip of F32 / BF16 /
 * I32 / scalars / empty tensors and metadata, header layout, atomicity),
 * sharded index files (valid and hostile), and allocation-failure
 * injection over every allocation of each entry point.
 */
#include "io/fileio.h"
#include "io/weights.h"
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

/* test.h's REQUIRE evaluates its condition twice; MUST evaluates it once,
 * so calls with side effects can go inside. */
#define MUST(cond, ...)                                                       \
    do {                                                                      \
        int must_ok_ = (cond) ? 1 : 0;                                        \
        REQUIRE(must_ok_, __VA_ARGS__);                                       \
    } while (0)

static char g_dir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* ------------------------------------------------------------------------ */
/* Building files in memory                                                 */
/* ------------------------------------------------------------------------ */

typedef struct file_buf {
    unsigned char *p;
    size_t n;
} file_buf;

/* 8-byte little-endian length of `header`, header, data_len bytes of data
 * (byte i = i & 0xff). hdr_len_override != 0 replaces the length field. */
static file_buf make_file2(const char *header, size_t hlen, size_t data_len,
                           uint64_t hdr_len_override) {
    file_buf f;
    f.n = 8 + hlen + data_len;
    f.p = malloc(f.n);
    REQUIRE(f.p, "malloc");
    uint64_t n = hdr_len_override ? hdr_len_override : hlen;
    for (int i = 0; i < 8; i++) f.p[i] = (unsigned char)(n >> (8 * i));
    memcpy(f.p + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++) f.p[8 + hlen + i] = (unsigned char)i;
    return f;
}

static file_buf make_file(const char *header, size_t data_len) {
    return make_file2(header, strlen(header), data_len, 0);
}

/* Parses f into a fresh set; checks the status and that the message
 * contains `needle` (and is not empty). Returns the status. */
static es_status expect(const char *what, file_buf f, es_status want, const char *needle) {
    es_weights *w = NULL;
    es_error err = {0};
    MUST(es_weights_new(&w, &err) == ES_OK, "new");
    es_status s = es_safetensors_parse(w, f.p, f.n, "t.safetensors", &err);
    CHECK(s == want, "%s: status %d (%s), want %d: %s", what, s, es_status_str(s), want, err.msg);
    if (s != ES_OK) {
        CHECK(err.msg[0] != 0, "%s: empty message", what);
        CHECK(strstr(err.msg, "t.safetensors") != NULL, "%s: message lacks file: %s", what,
              err.msg);
        if (needle)
            CHECK(strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle,
                  err.msg);
    }
    es_weights_free(w);
    free(f.p);
    return s;
}

#define T_A "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
#define T_B "\"b\":{\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[8,12]}"
#define VALID "{\"__metadata__\":{\"format\":\"pt\"}," T_A "," T_B "}"

static void test_valid(void) {
    es_error err = {0};
    /* Padded header, tensors listed out of offset order, a scalar and an
     * empty tensor. */
    const char *h = "{\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[12,14]},"
                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[12,12]}," T_B
                    "," T_A ",\"__metadata__\":{\"k\":\"v \\\"q\\\" \\u00e9\"}}    ";
    file_buf f = make_file(h, 14);
    es_weights *w;
    MUST(es_weights_new(&w, &err) == ES_OK, "new");
    es_status s = es_safetensors_parse(w, f.p, f.n, "t.safetensors", &err);
    CHECK(s == ES_OK, "valid: %s", err.msg);
    CHECK(es_weights_count(w) == 4, "count %zu", es_weights_count(w));
    es_weights_seal(w);
    const es_tensor_view *a = es_weights_find(w, "a"), *b = es_weights_find(w, "b"),
                         *sc = es_weights_find(w, "s"), *e = es_weights_find(w, "e");
    MUST(a && b && sc && e, "tensors present");
    size_t data0 = 8 + strlen(h);
    CHECK(a->dtype == ES_DTYPE_F32 && a->ndim == 1 && a->shape[0] == 2 && a->nbytes == 8, "a");
    CHECK(a->data == f.p + data0 && a->file_offset == data0, "a offset");
    CHECK(b->dtype == ES_DTYPE_I32 && b->ndim == 2 && b->data == f.p + data0 + 8, "b");
    CHECK(sc->ndim == 0 && sc->nbytes == 2 && es_tensor_numel(sc) == 1, "scalar");
    CHECK(e->nbytes == 0 && es_tensor_numel(e) == 0 && e->shape[1] == 3, "empty");
    CHECK(strcmp(a->file, "t.safetensors") == 0, "file name");
    const char *v = es_weights_get_meta(w, "k");
    CHECK(v && strcmp(v, "v \"q\" \xc3\xa9") == 0, "metadata unescaped: %s", v ? v : "(null)");
    es_weights_free(w);
    free(f.p);

    CHECK(expect("minimal", make_file(VALID, 12), ES_OK, NULL) == ES_OK, "minimal");
    CHECK(expect("no tensors", make_file("{}", 0), ES_OK, NULL) == ES_OK, "empty object");
    CHECK(expect("metadata null", make_file("{\"__metadata__\":null}", 0), ES_OK, NULL) == ES_OK,
          "null metadata");
    /* Escaped names are unescaped (U+00E9 and U+1F600 via a surrogate pair). */
    CHECK(expect("escaped name",
                 make_file("{\"\\u00e9\\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[1],"
                           "\"data_offsets\":[0,1]}}",
                           1),
                 ES_OK, NULL) == ES_OK,
          "escaped name");
}

static void test_hostile(void) {
    /* length field */
    expect("8 bytes", make_file2("", 0, 0, 0), ES_ERR_FORMAT, "'{'");
    {
        file_buf f = make_file(VALID, 12);
        f.n = 5;
        expect("5 bytes", f, ES_ERR_FORMAT, "too short");
    }
    expect("past EOF", make_file2(VALID, strlen(VALID), 12, 4096), ES_ERR_FORMAT,
           "past the end");
    expect("absurd length", make_file2(VALID, strlen(VALID), 12, 0xffffffffffffull),
           ES_ERR_FORMAT, "limit");
    expect("u64 max length", make_file2(VALID, strlen(VALID), 12, UINT64_MAX), ES_ERR_FORMAT,
           "limit");
    expect("zero length", make_file2("", 0, 12, 0), ES_ERR_FORMAT, "'{'");
    /* JSON shape */
    expect("array", make_file("[1,2]", 0), ES_ERR_FORMAT, "'{'");
    expect("leading space", make_file(" {}", 0), ES_ERR_FORMAT, "'{'");
    expect("bad json", make_file("{\"a\":", 0), ES_ERR_FORMAT, "incomplete");
    expect("bad token", make_file("{\"a\":tru}", 0), ES_ERR_FORMAT, "not valid JSON");
    expect("trailing garbage", make_file("{} x", 0), ES_ERR_FORMAT, "after the header");
    expect("two objects", make_file("{}{}", 0), ES_ERR_FORMAT, NULL);
    expect("trailing NUL", make_file2("{}\0\0\0\0\0\0", 8, 0, 0), ES_ERR_FORMAT, NULL);
    expect("trailing comma", make_file("{\"__metadata__\":{},}", 0), ES_ERR_FORMAT, NULL);
    expect("single quotes", make_file("{'a':1}", 0), ES_ERR_FORMAT, NULL);
    expect("NaN", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,4]}}",
                            4),
           ES_ERR_FORMAT, NULL);
    expect("entry not object", make_file("{\"a\":[1]}", 0), ES_ERR_FORMAT, "'a'");
    expect("missing dtype", make_file("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "dtype");
    expect("missing shape", make_file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "shape");
    expect("missing offsets", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4),
           ES_ERR_FORMAT, "data_offsets");
    /* dtypes */
    expect("unknown dtype",
           make_file("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "F33");
    expect("lowercase dtype",
           make_file("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "f32");
    expect("dtype not string",
           make_file("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "dtype");
    expect("F8 unsupported",
           make_file("{\"fp8w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_UNSUPPORTED, "F8_E4M3");
    expect("U32 unsupported",
           make_file("{\"u\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_UNSUPPORTED, "'u'");
    /* A malformed file with an unsupported dtype is still a format error. */
    expect("F8 + hole",
           make_file("{\"u\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[0,1]}}", 4),
           ES_ERR_FORMAT, NULL);
    expect("F4 odd bytes",
           make_file("{\"u\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2),
           ES_ERR_FORMAT, "whole number of bytes");
    expect("9 dims",
           make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                     "\"data_offsets\":[0,1]}}",
                     1),
           ES_ERR_UNSUPPORTED, "dimensions");
    /* shapes */
    expect("shape not array",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "shape");
    expect("negative dim",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "shape[0]");
    expect("float dim",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "shape[0]");
    expect("string dim",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "shape[0]");
    expect("huge dim",
           make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],"
                     "\"data_offsets\":[0,4]}}",
                     4),
           ES_ERR_FORMAT, NULL);
    expect("overflowing shape",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                     "\"data_offsets\":[0,4]}}",
                     4),
           ES_ERR_FORMAT, "overflow");
    expect("overflow wrapping to 0",
           make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                     "\"data_offsets\":[0,0]}}",
                     0),
           ES_ERR_FORMAT, "overflow");
    /* offsets */
    expect("offsets one int",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4),
           ES_ERR_FORMAT, "[begin, end]");
    expect("offsets three",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4),
           ES_ERR_FORMAT, "[begin, end]");
    expect("offsets string",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4),
           ES_ERR_FORMAT, "data_offsets");
    expect("offsets negative",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4),
           ES_ERR_FORMAT, "data_offsets");
    expect("offsets reversed",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4),
           ES_ERR_FORMAT, "end before");
    expect("byte count",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "needs 8");
    expect("end past data",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4),
           ES_ERR_FORMAT, "past the data section");
    expect("huge offsets",
           make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],"
                     "\"data_offsets\":[9223372036854775806,9223372036854775807]}}",
                     4),
           ES_ERR_FORMAT, NULL);
    expect("overlap",
           make_file("{" T_A ",\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                     12),
           ES_ERR_FORMAT, "overlaps");
    expect("same range",
           make_file("{" T_A ",\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                     8),
           ES_ERR_FORMAT, "overlaps");
    expect("hole",
           make_file("{" T_A ",\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
                     16),
           ES_ERR_FORMAT, "unreferenced");
    expect("hole at start",
           make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
           ES_ERR_FORMAT, "unreferenced");
    expect("trailing bytes", make_file(VALID, 13), ES_ERR_FORMAT, "end of the file");
    expect("data with no tensors", make_file("{}", 8), ES_ERR_FORMAT, "unreferenced");
    /* names */
    expect("duplicate name", make_file("{" T_A "," T_A "}", 8), ES_ERR_FORMAT,
           "duplicate tensor name 'a'");
    expect("duplicate via escape",
           make_file("{" T_A ",\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[2],"
                     "\"data_offsets\":[0,8]}}",
                     8),
           ES_ERR_FORMAT, "duplicate tensor name 'a'");
    expect("duplicate metadata block",
           make_file("{\"__metadata__\":{},\"__metadata__\":{}}", 0), ES_ERR_FORMAT,
           "duplicate");
    expect("duplicate key in entry",
           make_file("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],"
                     "\"data_offsets\":[0,4]}}",
                     4),
           ES_ERR_FORMAT, "duplicate key");
    expect("duplicate metadata key",
           make_file("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0), ES_ERR_FORMAT,
           "duplicate key");
    expect("invalid UTF-8 name",
           make_file("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "UTF-8");
    expect("overlong UTF-8",
           make_file("{\"\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "UTF-8");
    expect("UTF-8 surrogate",
           make_file("{\"\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                     4),
           ES_ERR_FORMAT, "UTF-8");
    expect("lone surrogate escape",
           make_file("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, "surrogate");
    expect("NUL escape in name",
           make_file("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                     4),
           ES_ERR_FORMAT, "NUL");
    expect("raw control char",
           make_file("{\"a\x01\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
           ES_ERR_FORMAT, NULL);
    /* metadata */
    expect("metadata not object", make_file("{\"__metadata__\":[\"a\"]}", 0), ES_ERR_FORMAT,
           "__metadata__");
    expect("metadata number", make_file("{\"__metadata__\":{\"k\":1}}", 0), ES_ERR_FORMAT,
           "not a string");
    expect("metadata nested", make_file("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0),
           ES_ERR_FORMAT, "not a string");
    expect("metadata lone surrogate", make_file("{\"__metadata__\":{\"k\":\"\\udc00\"}}", 0),
           ES_ERR_FORMAT, NULL);
    expect("metadata NUL", make_file("{\"__metadata__\":{\"k\":\"a\\u0000\"}}", 0),
           ES_ERR_FORMAT, "NUL");
    /* deep nesting is refused (json-c depth limit), not a stack overflow */
    {
        char deep[2100];
        size_t k = 0;
        k += (size_t)snprintf(deep, sizeof deep, "{\"__metadata__\":");
        for (int i = 0; i < 1000; i++) deep[k++] = '[';
        for (int i = 0; i < 1000; i++) deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = 0;
        expect("deep nesting", make_file(deep, 0), ES_ERR_FORMAT, NULL);
    }
}

/* Every proper prefix of a valid file is refused; every single-bit flip of
 * its 8-byte length field too; neither crashes. */
static void test_truncations(void) {
    file_buf full = make_file(VALID, 12);
    int fails = 0;
    for (size_t n = 0; n < full.n; n++) {
        es_weights *w;
        es_error err = {0};
        MUST(es_weights_new(&w, &err) == ES_OK, "new");
        /* copy so ASan sees reads past the prefix */
        unsigned char *p = malloc(n ? n : 1);
        memcpy(p, full.p, n);
        es_status s = es_safetensors_parse(w, p, n, "t.safetensors", &err);
        if (s != ES_ERR_FORMAT || !err.msg[0]) {
            fails++;
            CHECK(0, "prefix %zu: status %d: %s", n, s, err.msg);
        }
        es_weights_free(w);
        free(p);
    }
    CHECK(fails == 0, "%d bad prefixes", fails);
    for (int bit = 0; bit < 64; bit++) {
        es_weights *w;
        es_error err = {0};
        MUST(es_weights_new(&w, &err) == ES_OK, "new");
        full.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        es_status s = es_safetensors_parse(w, full.p, full.n, "t.safetensors", &err);
        CHECK(s == ES_ERR_FORMAT, "length bit %d: %d", bit, s);
        full.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        es_weights_free(w);
    }
    free(full.p);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

static int temp_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_writer(void) {
    es_error err = {0};
    float f32[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
    uint16_t bf16[5];
    for (int i = 0; i < 5; i++) bf16[i] = es_f32_to_bf16((float)i * 0.37f - 1.0f);
    int32_t i32[3] = {-7, 0, 2147483647};
    float scalar = 42.0f;
    es_st_write_tensor t[5] = {
        {.name = "w.f32", .dtype = ES_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = f32},
        {.name = "w.bf16", .dtype = ES_DTYPE_BF16, .ndim = 1, .shape = {5}, .data = bf16},
        {.name = "ids \"q\"\n\xc3\xa9", .dtype = ES_DTYPE_I32, .ndim = 1, .shape = {3},
         .data = i32},
        {.name = "scalar", .dtype = ES_DTYPE_F32, .ndim = 0, .data = &scalar},
        {.name = "empty", .dtype = ES_DTYPE_F16, .ndim = 2, .shape = {0, 4}, .data = NULL},
    };
    const char *meta[] = {"edgeseq_format", "1", "note", "tab\tquote\"back\\slash \xe2\x82\xac"};
    const char *p = tpath("model.safetensors");
    es_status s = es_safetensors_write(p, t, 5, meta, 2, &err);
    CHECK(s == ES_OK, "write: %s", err.msg);
    CHECK(temp_files() == 0, "temp left after commit");

    void *raw;
    size_t len;
    MUST(es_read_file(p, &raw, &len, 1 << 20, &err) == ES_OK, "%s", err.msg);
    const unsigned char *b = raw;
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = (hn << 8) | b[i];
    CHECK(hn % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hn);
    CHECK(len == 8 + hn + 24 + 10 + 12 + 4, "file length %zu (contiguous data)", len);
    CHECK(memcmp(b + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30) == 0, "metadata first");
    CHECK(b[8 + hn - 1] == ' ' || b[8 + hn - 1] == '}', "padding");
    CHECK(memcmp(b + 8 + hn, f32, 24) == 0 && memcmp(b + 8 + hn + 24, bf16, 10) == 0,
          "data in given order");
    es_free(raw);

    es_weights *w;
    MUST(es_weights_new(&w, &err) == ES_OK, "new");
    s = es_safetensors_read(w, p, &err);
    CHECK(s == ES_OK, "read back: %s", err.msg);
    es_weights_seal(w);
    CHECK(es_weights_count(w) == 5, "count");
    for (int i = 0; i < 5; i++) {
        const es_tensor_view *v = es_weights_find(w, t[i].name);
        MUST(v, "missing %s", t[i].name);
        CHECK(v->dtype == t[i].dtype && v->ndim == t[i].ndim, "%s dtype/ndim", t[i].name);
        for (int d = 0; d < t[i].ndim; d++) CHECK(v->shape[d] == t[i].shape[d], "shape");
        if (v->nbytes) CHECK(memcmp(v->data, t[i].data, v->nbytes) == 0, "%s data", t[i].name);
    }
    const char *fmt = es_weights_get_meta(w, "format"), *ef = es_weights_get_meta(w, "edgeseq_format"),
               *note = es_weights_get_meta(w, "note");
    CHECK(fmt && !strcmp(fmt, "pt"), "format");
    CHECK(ef && !strcmp(ef, "1"), "edgeseq_format");
    CHECK(note && !strcmp(note, meta[3]), "note round trip");
    float back[5];
    CHECK(es_tensor_to_f32(back, es_weights_find(w, "w.bf16"), &err) == ES_OK, "bf16 -> f32");
    for (int i = 0; i < 5; i++)
        CHECK(fabsf(back[i] - ((float)i * 0.37f - 1.0f)) < 1e-2f, "bf16 value %d", i);
    es_weights_free(w);

    /* caller-supplied format wins; zero tensors */
    const char *meta2[] = {"format", "np"};
    CHECK(es_safetensors_write(tpath("m2.safetensors"), NULL, 0, meta2, 1, &err) == ES_OK, "%s",
          err.msg);
    MUST(es_weights_new(&w, &err) == ES_OK, "new");
    CHECK(es_safetensors_read(w, tpath("m2.safetensors"), &err) == ES_OK, "%s", err.msg);
    fmt = es_weights_get_meta(w, "format");
    CHECK(fmt && !strcmp(fmt, "np") && es_weights_count(w) == 0, "format np");
    es_weights_free(w);

    /* bad arguments: nothing written, old file intact */
    es_st_write_tensor dup[2] = {t[0], t[0]};
    CHECK(es_safetensors_write(p, dup, 2, NULL, 0, &err) == ES_ERR_ARG, "duplicate names");
    CHECK(strstr(err.msg, "w.f32") != NULL, "msg %s", err.msg);
    es_st_write_tensor bad = t[0];
    bad.name = "__metadata__";
    CHECK(es_safetensors_write(p, &bad, 1, NULL, 0, &err) == ES_ERR_ARG, "reserved name");
    bad = t[0];
    bad.name = "\xff";
    CHECK(es_safetensors_write(p, &bad, 1, NULL, 0, &err) == ES_ERR_ARG, "bad UTF-8 name");
    bad = t[0];
    bad.shape[0] = -1;
    CHECK(es_safetensors_write(p, &bad, 1, NULL, 0, &err) == ES_ERR_ARG, "negative dim");
    bad = t[0];
    bad.dtype = ES_DTYPE_COUNT;
    CHECK(es_safetensors_write(p, &bad, 1, NULL, 0, &err) == ES_ERR_ARG, "bad dtype");
    bad = t[0];
    bad.data = NULL;
    CHECK(es_safetensors_write(p, &bad, 1, NULL, 0, &err) == ES_ERR_ARG, "NULL data");
    const char *dupmeta[] = {"k", "1", "k", "2"};
    CHECK(es_safetensors_write(p, t, 1, dupmeta, 2, &err) == ES_ERR_ARG, "duplicate meta");
    CHECK(es_safetensors_write(tpath("no/dir/x.safetensors"), t, 1, NULL, 0, &err) == ES_ERR_IO,
          "missing folder");

    /* A write failing half-way (file size limit) leaves the old file and
     * no temp file. */
    static float bigdata[4096];
    es_st_write_tensor big = {.name = "big", .dtype = ES_DTYPE_F32, .ndim = 1, .shape = {4096},
                              .data = bigdata};
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old_rl, rl;
    getrlimit(RLIMIT_FSIZE, &old_rl);
    rl = old_rl;
    rl.rlim_cur = 4096;
    MUST(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
    s = es_safetensors_write(p, &big, 1, NULL, 0, &err);
    setrlimit(RLIMIT_FSIZE, &old_rl);
    CHECK(s == ES_ERR_IO, "write past limit: %d %s", s, err.msg);
    CHECK(temp_files() == 0, "temp removed after failure");
    MUST(es_weights_new(&w, &err) == ES_OK, "new");
    CHECK(es_safetensors_read(w, p, &err) == ES_OK && es_weights_count(w) == 5,
          "old file intact: %s", err.msg);
    es_weights_free(w);
}

/* ------------------------------------------------------------------------ */
/* Sharded index                                                            */
/* ------------------------------------------------------------------------ */

static void write_text(const char *path, const char *s) {
    es_error err = {0};
    MUST(es_atomic_write_file(path, s, strlen(s), &err) == ES_OK, "%s", err.msg);
}

static es_status read_index(const char *json, es_error *err, size_t *count) {
    const char *ip = tpath("sh/model.safetensors.index.json");
    write_text(ip, json);
    es_weights *w;
    MUST(es_weights_new(&w, err) == ES_OK, "new");
    es_status s = es_safetensors_read_index(w, ip, err);
    if (count) *count = es_weights_count(w);
    es_weights_free(w);
    return s;
}

static void test_index(void) {
    es_error err = {0};
    char sub[512];
    snprintf(sub, sizeof sub, "%s", tpath("sh"));
    MUST(mkdir(sub, 0755) == 0, "mkdir");
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[3] = {7, 8, 9};
    es_st_write_tensor s1[2] = {
        {.name = "a", .dtype = ES_DTYPE_F32, .ndim = 2, .shape = {2, 2}, .data = a},
        {.name = "b", .dtype = ES_DTYPE_F32, .ndim = 1, .shape = {2}, .data = b},
    };
    es_st_write_tensor s2[1] = {
        {.name = "c", .dtype = ES_DTYPE_F32, .ndim = 1, .shape = {3}, .data = c}};
    MUST(es_safetensors_write(tpath("sh/model-00001-of-00002.safetensors"), s1, 2, NULL, 0, &err) ==
             ES_OK,
         "%s", err.msg);
    MUST(es_safetensors_write(tpath("sh/model-00002-of-00002.safetensors"), s2, 1, NULL, 0, &err) ==
             ES_OK,
         "%s", err.msg);
    write_text(tpath("sh/model.safetensors.index.json"),
               "{\"metadata\": {\"total_size\": 36}, \"weight_map\": {"
               "\"a\": \"model-00001-of-00002.safetensors\","
               "\"b\": \"model-00001-of-00002.safetensors\","
               "\"c\": \"model-00002-of-00002.safetensors\"}}");
    es_weights *w = NULL;
    const char *which = NULL;
    es_status s = es_weights_open_dir(&w, sub, &which, &err);
    CHECK(s == ES_OK, "open sharded: %s", err.msg);
    if (w) {
        CHECK(which && !strcmp(which, "model.safetensors.index.json"), "which");
        CHECK(es_weights_count(w) == 3, "count %zu", es_weights_count(w));
        const es_tensor_view *tc = es_weights_find(w, "c");
        CHECK(tc && tc->shape[0] == 3 && memcmp(tc->data, c, 12) == 0, "c data");
        CHECK(tc && strstr(tc->file, "model-00002-of-00002.safetensors"), "c file");
        const es_tensor_view *ta = es_weights_find(w, "a");
        CHECK(ta && memcmp(ta->data, a, 16) == 0 && strstr(ta->file, "00001"), "a");
        CHECK(es_weights_file_bytes(w) > 36, "file bytes");
        es_weights_free(w);
    }

    size_t n;
    s = read_index("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                   "\"zz\": \"missing.safetensors\"}}",
                   &err, &n);
    CHECK(s == ES_ERR_IO && strstr(err.msg, "missing.safetensors"), "missing shard: %d %s", s,
          err.msg);
    s = read_index("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                   "\"nothere\": \"model-00001-of-00002.safetensors\"}}",
                   &err, &n);
    CHECK(s == ES_ERR_FORMAT && strstr(err.msg, "nothere"), "tensor not in shard: %s", err.msg);
    s = read_index("{\"weight_map\": {\"a\": \"model-00002-of-00002.safetensors\","
                   "\"c\": \"model-00001-of-00002.safetensors\"}}",
                   &err, &n);
    CHECK(s == ES_ERR_FORMAT, "tensor in the wrong shard: %s", err.msg);
    static const char *evil[] = {"../model-00001-of-00002.safetensors", "/etc/passwd",
                                 "sh/model-00001-of-00002.safetensors", "..", ".", "",
                                 "a\\\\b"};
    for (size_t i = 0; i < ES_ARRAY_LEN(evil); i++) {
        char j[512];
        snprintf(j, sizeof j, "{\"weight_map\": {\"a\": \"%s\"}}", evil[i]);
        s = read_index(j, &err, &n);
        CHECK(s == ES_ERR_FORMAT && strstr(err.msg, "not a file in the index's folder"),
              "traversal '%s': %d %s", evil[i], s, err.msg);
    }
    s = read_index("{\"weight_map\": {\"a\": \"x\\u0000y\"}}", &err, &n);
    CHECK(s == ES_ERR_FORMAT, "NUL in shard name");
    s = read_index("{\"weight_map\": [1]}", &err, &n);
    CHECK(s == ES_ERR_FORMAT && strstr(err.msg, "weight_map"), "weight_map array");
    s = read_index("{\"weight_map\": {}}", &err, &n);
    CHECK(s == ES_ERR_FORMAT, "empty weight_map");
    s = read_index("{\"weight_map\": {\"a\": 3}}", &err, &n);
    CHECK(s == ES_ERR_FORMAT, "shard not string");
    s = read_index("not json", &err, &n);
    CHECK(s == ES_ERR_FORMAT, "not json");
    /* Same tensor in two shards. */
    MUST(es_safetensors_write(tpath("sh/dup.safetensors"), s1, 1, NULL, 0, &err) == ES_OK, "w");
    s = read_index("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                   "\"b\": \"model-00001-of-00002.safetensors\", \"x\": \"dup.safetensors\"}}",
                   &err, &n);
    CHECK(s == ES_ERR_FORMAT && strstr(err.msg, "duplicate"), "duplicate across shards: %s",
          err.msg);
    /* leave a valid index behind for test_nomem */
    s = read_index("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                   "\"b\": \"model-00001-of-00002.safetensors\","
                   "\"c\": \"model-00002-of-00002.safetensors\"}}",
                   &err, &n);
    CHECK(s == ES_OK && n == 3, "valid index again: %s", err.msg);
}

/* ------------------------------------------------------------------------ */
/* Allocation failures                                                      */
/* ------------------------------------------------------------------------ */

static void test_nomem(void) {
    es_error err = {0};
    int injected = 0;
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"x\":\"y\"}," T_A "," T_B "}";
    file_buf f = make_file(h, 12);
    for (long k = 1;; k++) {
        es_weights *w = NULL;
        es_test_fail_alloc_after(k);
        es_status s = es_weights_new(&w, &err);
        if (s == ES_OK) s = es_safetensors_parse(w, f.p, f.n, "t.safetensors", &err);
        es_test_fail_alloc_after(0);
        es_weights_free(w);
        if (s == ES_OK) break;
        CHECK(s == ES_ERR_NOMEM, "parse k=%ld: %d %s", k, s, err.msg);
        injected++;
        MUST(k < 1000, "never succeeds");
    }
    /* duplicate-name path allocates the sort array */
    free(f.p);
    f = make_file("{" T_A "," T_A "}", 8);
    for (long k = 1;; k++) {
        es_weights *w = NULL;
        MUST(es_weights_new(&w, &err) == ES_OK, "new");
        es_test_fail_alloc_after(k);
        es_status s = es_safetensors_parse(w, f.p, f.n, "t.safetensors", &err);
        es_test_fail_alloc_after(0);
        es_weights_free(w);
        if (s == ES_ERR_FORMAT) break;
        CHECK(s == ES_ERR_NOMEM, "dup k=%ld: %d %s", k, s, err.msg);
        injected++;
        MUST(k < 1000, "never finishes");
    }
    free(f.p);
    float x[3] = {1, 2, 3};
    es_st_write_tensor t[2] = {
        {.name = "x", .dtype = ES_DTYPE_F32, .ndim = 1, .shape = {3}, .data = x},
        {.name = "y", .dtype = ES_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x}};
    const char *meta[] = {"edgeseq_format", "1"};
    for (long k = 1;; k++) {
        es_test_fail_alloc_after(k);
        es_status s = es_safetensors_write(tpath("nm.safetensors"), t, 2, meta, 1, &err);
        es_test_fail_alloc_after(0);
        if (s == ES_OK) break;
        CHECK(s == ES_ERR_NOMEM, "write k=%ld: %d %s", k, s, err.msg);
        injected++;
        MUST(k < 1000, "never succeeds");
    }
    for (long k = 1;; k++) {
        es_weights *w = NULL;
        MUST(es_weights_new(&w, &err) == ES_OK, "new");
        es_test_fail_alloc_after(k);
        es_status s = es_safetensors_read(w, tpath("nm.safetensors"), &err);
        es_test_fail_alloc_after(0);
        es_weights_free(w);
        if (s == ES_OK) break;
        CHECK(s == ES_ERR_NOMEM, "read k=%ld: %d %s", k, s, err.msg);
        injected++;
        MUST(k < 1000, "never succeeds");
    }
    for (long k = 1;; k++) {
        es_weights *w = NULL;
        es_test_fail_alloc_after(k);
        es_status s = es_weights_open_dir(&w, tpath("sh"), NULL, &err);
        es_test_fail_alloc_after(0);
        es_weights_free(w);
        if (s == ES_OK) break;
        CHECK(s == ES_ERR_NOMEM, "index k=%ld: %d %s", k, s, err.msg);
        injected++;
        MUST(k < 1000, "never succeeds");
    }
    printf("allocation failures injected: %d\n", injected);
    CHECK(injected >= 20, "only %d injected failures", injected);
    CHECK(temp_files() == 0, "temp files left");
}

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (es_is_dir(p)) rm_tree(p);
        else unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/es_st_XXXXXX");
    MUST(mkdtemp(g_dir), "mkdtemp");
    test_valid();
    test_hostile();
    test_truncations();
    test_writer();
    test_index();
    test_nomem();
    rm_tree(g_dir);
    TEST_MAIN_END();
}
