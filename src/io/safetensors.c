/*
 * safetensors.c — reader (file, memory, sharded index) and writer of the
 * Hugging Face safetensors format. Byte layout and the full list of rules
 * are in docs/formats.md; in short:
 *
 *   [0, 8)        u64 little-endian N = header length
 *   [8, 8+N)      UTF-8 JSON object, possibly padded with spaces:
 *                 {"__metadata__": {"k": "v", ...},            (optional)
 *                  "<name>": {"dtype": "F32", "shape": [d0, ...],
 *                             "data_offsets": [begin, end]}, ...}
 *   [8+N, EOF)    data section; offsets are relative to its start
 *
 * Reading validates the whole header before any tensor is registered, as
 * strictly as the official Rust library (safetensors/src/tensor.rs
 * read_metadata + Metadata::validate): header length <= 100 MB and inside
 * the file, the header is valid UTF-8 and starts with '{', a JSON object
 * followed only by whitespace; every tensor has a known dtype, a shape of
 * non-negative integers whose byte size does not overflow, data_offsets
 * [begin, end] with end - begin == numel * dtype size; sorted by offset the
 * tensors tile the data section exactly (no overlap, no hole, no trailing
 * bytes). We add what serde does implicitly or what C needs: duplicate keys
 * are rejected (json-c would silently keep the last one, so the header is
 * scanned a second time with a small key scanner), names may not contain
 * NUL, __metadata__ values must be strings (valid UTF-8 after unescaping).
 * Structurally valid files with dtypes we cannot compute on (F8_*, U16..,
 * C64, sub-byte floats) are ES_ERR_UNSUPPORTED, naming dtype and tensor;
 * every structural error is ES_ERR_FORMAT, naming file, tensor and offset.
 *
 * On failure the set may already hold some tensors of the file (an
 * allocation failed or a name collided with an earlier file while
 * registering): callers free the set, as es_weights_open_dir does.
 *
 * Tensors are zero-copy views into the caller's buffer or the file's
 * read-only map. Data offsets need not be aligned (files in the wild and
 * the ones we write pack tensors back to back), so a view's data pointer
 * may be unaligned for its dtype: consumers copy (es_tensor_to_f32) or use
 * memcpy loads.
 *
 * The writer emits a compact header with __metadata__ first ("format":
 * "pt" unless the caller sets "format"), tensors in the given order, the
 * header padded with spaces to a multiple of 8 so the data section starts
 * 8-aligned, and the data contiguous in the given order (the format forbids
 * gaps). The file is written atomically through fileio.
 */
#include "io/fileio.h"
#include "io/weights.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; a big-endian port must byte-swap views"
#endif

/* Same cap as the official library (MAX_HEADER_SIZE = 100_000_000). */
#define ST_MAX_HEADER 100000000u
/* Index files (model.safetensors.index.json) are small; 64 MB is generous. */
/* Deepest JSON nesting the key scanner follows (json-c's default is 32). */
#define ST_MAX_DEPTH 64

/* ------------------------------------------------------------------------ */
/* Dtypes                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct st_dtype {
    const char *name;
    unsigned bits;  /* per element */
    int es;         /* es_dtype, or -1 when we cannot compute on it */
} st_dtype;

/* Every dtype of the official library (safetensors Dtype enum). */
static const st_dtype k_dtypes[] = {
    {"F32", 32, ES_DTYPE_F32},  {"F16", 16, ES_DTYPE_F16},  {"BF16", 16, ES_DTYPE_BF16},
    {"I8", 8, ES_DTYPE_I8},     {"U8", 8, ES_DTYPE_U8},     {"I16", 16, ES_DTYPE_I16},
    {"I32", 32, ES_DTYPE_I32},  {"I64", 64, ES_DTYPE_I64},  {"F64", 64, ES_DTYPE_F64},
    {"BOOL", 8, ES_DTYPE_BOOL}, {"U16", 16, -1},            {"U32", 32, -1},
    {"U64", 64, -1},            {"F8_E4M3", 8, -1},         {"F8_E5M2", 8, -1},
    {"F8_E8M0", 8, -1},         {"F6_E2M3", 6, -1},         {"F6_E3M2", 6, -1},
    {"F4", 4, -1},              {"C64", 64, -1},
};

static const st_dtype *find_dtype(const char *s) {
    for (size_t i = 0; i < ES_ARRAY_LEN(k_dtypes); i++)
        if (strcmp(k_dtypes[i].name, s) == 0) return &k_dtypes[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                    */
/* ------------------------------------------------------------------------ */

/* Returns the offset of the first byte that is not valid UTF-8 (overlongs,
 * surrogates and code points past U+10FFFF are invalid), or len. */
static size_t utf8_bad_offset(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07, min = 0x10000;
        else return i;
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n + 1;
    }
    return len;
}

/* ------------------------------------------------------------------------ */
/* Key scanner: lists the top-level keys (unescaped) and counts the keys     */
/* inside each top-level value, to detect duplicates json-c drops.           */
/* ------------------------------------------------------------------------ */

typedef struct st_key {
    char *name;          /* unescaped, NUL-free, es_malloc'd */
    size_t header_off;   /* offset of the key's opening quote in the header */
    size_t n_inner_keys; /* keys of objects nested in its value */
} st_key;

typedef struct st_keys {
    st_key *k;
    size_t n, cap;
} st_keys;

static void keys_free(st_keys *ks) {
    for (size_t i = 0; i < ks->n; i++) es_free(ks->k[i].name);
    es_free(ks->k);
    ks->k = NULL;
    ks->n = ks->cap = 0;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(const unsigned char *s, size_t len, size_t i, uint32_t *out) {
    if (len - i < 4) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[i + (size_t)k]);
        if (h < 0) return false;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return true;
}

static size_t put_utf8(char *d, uint32_t cp) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Scans the JSON string starting at s[*pos] == '"' and advances *pos past
 * its closing quote, refusing raw control characters, bad escapes and lone
 * UTF-16 surrogates (as serde_json, which the official library uses, does;
 * json-c would let surrogates through) and NUL characters (names and
 * metadata are C strings here).
 * If out != NULL, also unescapes it into an es_malloc'd string (never longer
 * than the escaped text). */
static es_status scan_string(const unsigned char *s, size_t len, size_t *pos, char **out,
                             const char *file, es_error *err) {
    size_t start = *pos, i = start + 1;
    while (i < len && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
    if (i >= len)
        return es_errf(err, ES_ERR_FORMAT, "%s: unterminated string at file offset %zu", file,
                       8 + start);
    size_t close = i;
    char *d = NULL;
    if (out) {
        d = es_malloc(close - start);
        if (!d) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory scanning header", file);
    }
    size_t dn = 0;
    const char *why = NULL;
    for (i = start + 1; i < close && !why;) {
        unsigned char c = s[i];
        if (c < 0x20) {
            why = "control character";
            break;
        }
        if (c != '\\') {
            if (d) d[dn] = (char)c;
            dn++;
            i++;
            continue;
        }
        unsigned char e = s[i + 1]; /* i + 1 < close: the skip loop stepped over it */
        i += 2;
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: why = "bad escape"; continue;
        }
        if (simple) {
            if (d) d[dn] = simple;
            dn++;
            continue;
        }
        uint32_t cp, lo;
        if (!read_hex4(s, close, i, &cp)) {
            why = "bad \\u escape";
            continue;
        }
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i + 1 < close && s[i] == '\\' && s[i + 1] == 'u' &&
                read_hex4(s, close, i + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else {
                why = "lone UTF-16 surrogate escape";
                continue;
            }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            why = "lone UTF-16 surrogate escape";
            continue;
        }
        if (cp == 0) {
            why = "NUL character (\\u0000)";
            continue;
        }
        /* \uXXXX is 6 input bytes (12 for a pair), at most 4 output bytes. */
        char tmp[4];
        dn += put_utf8(d ? d + dn : tmp, cp);
    }
    if (why) {
        es_free(d);
        return es_errf(err, ES_ERR_FORMAT, "%s: %s in the string at file offset %zu", file, why,
                       8 + start);
    }
    *pos = close + 1;
    if (d) {
        d[dn] = 0;
        *out = d;
    }
    return ES_OK;
}

/* Lists top-level keys of the JSON object in s[0, len) (already accepted by
 * json-c, but the scanner is bounds-safe on any input). */
static es_status scan_keys(st_keys *ks, const unsigned char *s, size_t len, const char *file,
                           es_error *err) {
    /* Per depth: is the container an object, and is a key expected next? */
    bool is_obj[ST_MAX_DEPTH], want_key[ST_MAX_DEPTH];
    int depth = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '{' || c == '[') {
            if (depth >= ST_MAX_DEPTH)
                return es_errf(err, ES_ERR_FORMAT, "%s: header nested deeper than %d levels", file,
                               ST_MAX_DEPTH);
            is_obj[depth] = c == '{';
            want_key[depth] = c == '{';
            depth++;
            i++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return es_errf(err, ES_ERR_FORMAT, "%s: unbalanced '%c' at header byte %zu", file,
                               c, i);
            depth--;
            i++;
        } else if (c == ',') {
            if (depth > 0 && is_obj[depth - 1]) want_key[depth - 1] = true;
            i++;
        } else if (c == '"') {
            bool key = depth > 0 && is_obj[depth - 1] && want_key[depth - 1];
            char *name = NULL;
            size_t at = i;
            es_status st = scan_string(s, len, &i, key && depth == 1 ? &name : NULL, file, err);
            if (st) return st;
            if (!key) continue;
            want_key[depth - 1] = false;
            if (depth == 1) {
                if (ks->n == ks->cap) {
                    size_t nc = ks->cap ? 2 * ks->cap : 64;
                    st_key *nk = es_realloc(ks->k, nc * sizeof *nk);
                    if (!nk) {
                        es_free(name);
                        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory scanning header",
                                       file);
                    }
                    ks->k = nk;
                    ks->cap = nc;
                }
                ks->k[ks->n].name = name;
                ks->k[ks->n].header_off = at;
                ks->k[ks->n].n_inner_keys = 0;
                ks->n++;
            } else if (ks->n > 0) {
                ks->k[ks->n - 1].n_inner_keys++;
            }
        } else {
            i++;
        }
    }
    return ES_OK;
}

/* Keys of all objects nested anywhere in o (json-c's view, duplicates
 * already collapsed). */
static size_t count_inner_keys(struct json_object *o, int depth) {
    if (!o || depth > ST_MAX_DEPTH) return 0;
    size_t n = 0;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) {
            (void)k;
            n += 1 + count_inner_keys(v, depth + 1);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        size_t m = json_object_array_length(o);
        for (size_t i = 0; i < m; i++)
            n += count_inner_keys(json_object_array_get_idx(o, i), depth + 1);
    }
    return n;
}

static int cmp_key_name(const void *a, const void *b) {
    const st_key *x = *(const st_key *const *)a, *y = *(const st_key *const *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->header_off < y->header_off ? -1 : x->header_off > y->header_off;
}

/* ------------------------------------------------------------------------ */
/* Header parsing and validation                                            */
/* ------------------------------------------------------------------------ */

typedef struct st_entry {
    const char *name;  /* borrowed from st_keys */
    const st_dtype *dt;
    int ndim;
    int64_t shape[ES_MAX_DIMS];
    uint64_t begin, end; /* relative to the data section */
    uint64_t nbytes;
} st_entry;

static es_status json_int(struct json_object *o, int64_t *out) {
    if (!o || !json_object_is_type(o, json_type_int)) return ES_ERR_FORMAT;
    int64_t v = json_object_get_int64(o);
    /* json-c saturates at INT64_MAX for larger values (stored as uint64). */
    if (v < 0 || v == INT64_MAX) return ES_ERR_FORMAT;
    *out = v;
    return ES_OK;
}

static es_status parse_entry(st_entry *e, struct json_object *v, const char *file, es_error *err) {
    const char *name = e->name;
    if (!json_object_is_type(v, json_type_object))
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", file,
                       name);
    struct json_object *jd, *js, *jo;
    if (!json_object_object_get_ex(v, "dtype", &jd))
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", file, name);
    if (!json_object_object_get_ex(v, "shape", &js))
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", file, name);
    if (!json_object_object_get_ex(v, "data_offsets", &jo))
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", file, name);
    if (!json_object_is_type(jd, json_type_string))
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", file,
                       name);
    const char *ds = json_object_get_string(jd);
    e->dt = find_dtype(ds);
    if (!e->dt)
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.40s'", file, name,
                       ds);
    if (!json_object_is_type(js, json_type_array))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: tensor '%s': \"shape\" is not an array of non-negative integers",
                       file, name);
    size_t nd = json_object_array_length(js);
    /* More than ES_MAX_DIMS is valid safetensors, refused as unsupported
     * after the whole file has been validated. */
    e->ndim = nd > ES_MAX_DIMS ? ES_MAX_DIMS + 1 : (int)nd;
    /* Byte size in bits first (sub-byte dtypes), overflow-checked. */
    uint64_t bits = e->dt->bits;
    bool overflow = false;
    for (size_t i = 0; i < nd; i++) {
        int64_t d;
        if (json_int(json_object_array_get_idx(js, i), &d))
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: tensor '%s': shape[%zu] is not a non-negative integer", file, name,
                           i);
        if (i < ES_MAX_DIMS) e->shape[i] = d;
        if (__builtin_mul_overflow(bits, (uint64_t)d, &bits)) overflow = true;
    }
    if (overflow || bits / 8 > SIZE_MAX)
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': shape overflows the byte size", file,
                       name);
    if (bits % 8)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: tensor '%s': %s data of this shape is not a whole number of bytes",
                       file, name, e->dt->name);
    e->nbytes = bits / 8;
    if (!json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: tensor '%s': \"data_offsets\" is not [begin, end]", file, name);
    int64_t b, en;
    if (json_int(json_object_array_get_idx(jo, 0), &b) ||
        json_int(json_object_array_get_idx(jo, 1), &en))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: tensor '%s': \"data_offsets\" are not non-negative integers", file,
                       name);
    if (en < b)
        return es_errf(err, ES_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] end before "
                       "they begin", file, name, (long long)b, (long long)en);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    if (e->end - e->begin != e->nbytes)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s with "
                       "this shape needs %llu",
                       file, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)(e->end - e->begin), e->dt->name,
                       (unsigned long long)e->nbytes);
    return ES_OK;
}

static es_status parse_metadata(es_weights *w, struct json_object *v, const char *file,
                                es_error *err) {
    if (json_object_is_type(v, json_type_null)) return ES_OK;
    if (!json_object_is_type(v, json_type_object))
        return es_errf(err, ES_ERR_FORMAT, "%s: __metadata__ is not a JSON object", file);
    json_object_object_foreach(v, k, mv) {
        if (!json_object_is_type(mv, json_type_string))
            return es_errf(err, ES_ERR_FORMAT, "%s: __metadata__ value of '%.100s' is not a string",
                           file, k);
        const char *sv = json_object_get_string(mv);
        size_t sl = (size_t)json_object_get_string_len(mv);
        if (strlen(sv) != sl)
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: __metadata__ value of '%.100s' contains a NUL character", file, k);
        if (utf8_bad_offset((const unsigned char *)sv, sl) != sl)
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: __metadata__ value of '%.100s' is not valid UTF-8", file, k);
        if (w) {
            es_status s = es_weights_set_meta(w, k, sv, err);
            if (s) return s;
        }
    }
    return ES_OK;
}

static int cmp_entry_off(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks that the entries tile [0, data_len) exactly. */
static es_status check_layout(st_entry *e, size_t n, uint64_t data_len, uint64_t data_start,
                              const char *file, es_error *err) {
    for (size_t i = 0; i < n; i++)
        if (e[i].end > data_len)
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] run past the data section "
                           "(%llu bytes from file offset %llu)",
                           file, e[i].name, (unsigned long long)e[i].begin,
                           (unsigned long long)e[i].end, (unsigned long long)data_len,
                           (unsigned long long)data_start);
    st_entry **order = es_malloc((n ? n : 1) * sizeof *order);
    if (!order) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < n; i++) order[i] = &e[i];
    qsort(order, n, sizeof *order, cmp_entry_off);
    uint64_t at = 0;
    const char *prev = NULL;
    es_status s = ES_OK;
    for (size_t i = 0; i < n && !s; i++) {
        const st_entry *t = order[i];
        if (t->begin < at)
            s = es_errf(err, ES_ERR_FORMAT,
                        "%s: tensor '%s': data at file offset %llu overlaps tensor '%s' "
                        "(which ends at %llu)",
                        file, t->name, (unsigned long long)(data_start + t->begin), prev,
                        (unsigned long long)(data_start + at));
        else if (t->begin > at)
            s = es_errf(err, ES_ERR_FORMAT,
                        "%s: %llu unreferenced bytes at file offset %llu (before tensor '%s')",
                        file, (unsigned long long)(t->begin - at),
                        (unsigned long long)(data_start + at), t->name);
        at = t->end;
        prev = t->name;
    }
    es_free(order);
    if (!s && at != data_len)
        s = es_errf(err, ES_ERR_FORMAT,
                    "%s: %llu unreferenced bytes at the end of the file (file offset %llu)", file,
                    (unsigned long long)(data_len - at), (unsigned long long)(data_start + at));
    return s;
}

/* Parses and validates buf[0, len) completely, then (if w) registers every
 * tensor as a view into buf and stores __metadata__. `file` names the file
 * in messages and in the views. */
static es_status parse_buffer(es_weights *w, const unsigned char *buf, size_t len,
                              const char *file, es_error *err) {
    if (len < 8)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: file is %zu bytes, too short for the 8-byte header length", file, len);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = (hn << 8) | buf[i];
    if (hn > ST_MAX_HEADER)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: header length %llu is larger than the limit of %u bytes", file,
                       (unsigned long long)hn, ST_MAX_HEADER);
    if (hn > len - 8)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: header length %llu runs past the end of the file (%zu bytes)", file,
                       (unsigned long long)hn, len);
    const unsigned char *h = buf + 8;
    size_t n = (size_t)hn;
    size_t bad = utf8_bad_offset(h, n);
    if (bad != n)
        return es_errf(err, ES_ERR_FORMAT, "%s: header is not valid UTF-8 (file offset %zu)",
                       file, 8 + bad);
    if (n == 0 || h[0] != '{')
        return es_errf(err, ES_ERR_FORMAT, "%s: header does not start with '{' (file offset 8)",
                       file);
    /* JSON ends at the last non-whitespace byte: padding is spaces. */
    size_t jn = n;
    while (jn > 0 && (h[jn - 1] == ' ' || h[jn - 1] == '\t' || h[jn - 1] == '\n' ||
                      h[jn - 1] == '\r'))
        jn--;
    if (jn > INT32_MAX)
        return es_errf(err, ES_ERR_FORMAT, "%s: header too large", file);

    struct json_tokener *tok = json_tokener_new();
    if (!tok) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory parsing header", file);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    struct json_object *root = json_tokener_parse_ex(tok, (const char *)h, (int)jn);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || je != json_tokener_success) {
        if (root) json_object_put(root);
        if (je == json_tokener_continue) /* the explicit length ended mid-value */
            return es_errf(err, ES_ERR_FORMAT, "%s: header JSON is incomplete (ends at file "
                           "offset %zu)", file, 8 + jn);
        return es_errf(err, ES_ERR_FORMAT, "%s: header is not valid JSON near file offset %zu: %s",
                       file, 8 + end, json_tokener_error_desc(je));
    }
    if (end != jn) {
        json_object_put(root);
        return es_errf(err, ES_ERR_FORMAT, "%s: extra bytes after the header JSON (file offset %zu)",
                       file, 8 + end);
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return es_errf(err, ES_ERR_FORMAT, "%s: header is not a JSON object", file);
    }

    st_keys ks = {0};
    st_entry *ents = NULL;
    const st_key **sorted = NULL;
    es_status s = scan_keys(&ks, h, jn, file, err);
    if (s) goto done;
    /* Duplicates at top level: json-c keeps one, the scanner sees all. */
    if (ks.n != (size_t)json_object_object_length(root)) {
        sorted = es_malloc(ks.n * sizeof *sorted);
        if (!sorted) {
            s = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", file);
            goto done;
        }
        for (size_t i = 0; i < ks.n; i++) sorted[i] = &ks.k[i];
        qsort(sorted, ks.n, sizeof *sorted, cmp_key_name);
        for (size_t i = 1; i < ks.n; i++) {
            if (strcmp(sorted[i]->name, sorted[i - 1]->name) == 0) {
                s = es_errf(err, ES_ERR_FORMAT,
                            "%s: duplicate tensor name '%.200s' (second at file offset %zu)", file,
                            sorted[i]->name, 8 + sorted[i]->header_off);
                goto done;
            }
        }
        s = es_errf(err, ES_ERR_FORMAT, "%s: header has %zu keys, the JSON parser saw %d", file,
                    ks.n, json_object_object_length(root));
        goto done;
    }
    ents = es_calloc(ks.n ? ks.n : 1, sizeof *ents);
    if (!ents) {
        s = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", file);
        goto done;
    }
    size_t n_ent = 0;
    const st_key *meta = NULL;
    for (size_t i = 0; i < ks.n; i++) {
        struct json_object *v;
        if (!json_object_object_get_ex(root, ks.k[i].name, &v)) {
            s = es_errf(err, ES_ERR_FORMAT, "%s: key '%.200s' (file offset %zu) lost by the JSON "
                        "parser", file, ks.k[i].name, 8 + ks.k[i].header_off);
            goto done;
        }
        if (count_inner_keys(v, 0) != ks.k[i].n_inner_keys) {
            s = es_errf(err, ES_ERR_FORMAT, "%s: entry '%.200s' (file offset %zu) has a duplicate key",
                        file, ks.k[i].name, 8 + ks.k[i].header_off);
            goto done;
        }
        if (strcmp(ks.k[i].name, "__metadata__") == 0) {
            meta = &ks.k[i];
            s = parse_metadata(NULL, v, file, err);
            if (s) goto done;
            continue;
        }
        ents[n_ent].name = ks.k[i].name;
        s = parse_entry(&ents[n_ent], v, file, err);
        if (s) goto done;
        n_ent++;
    }
    uint64_t data_start = 8 + (uint64_t)n;
    s = check_layout(ents, n_ent, len - data_start, data_start, file, err);
    if (s) goto done;
    for (size_t i = 0; i < n_ent; i++) {
        if (ents[i].ndim > ES_MAX_DIMS) {
            s = es_errf(err, ES_ERR_UNSUPPORTED, "%s: tensor '%s': more than %d dimensions", file,
                        ents[i].name, ES_MAX_DIMS);
            goto done;
        }
        if (ents[i].dt->es < 0) {
            s = es_errf(err, ES_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported", file,
                        ents[i].name, ents[i].dt->name);
            goto done;
        }
    }
    if (!w) goto done;
    if (meta) {
        struct json_object *v;
        json_object_object_get_ex(root, "__metadata__", &v);
        s = parse_metadata(w, v, file, err);
        if (s) goto done;
    }
    for (size_t i = 0; i < n_ent; i++) {
        es_tensor_view t;
        memset(&t, 0, sizeof t);
        t.name = ents[i].name;
        t.dtype = (es_dtype)ents[i].dt->es;
        t.ndim = ents[i].ndim;
        memcpy(t.shape, ents[i].shape, sizeof t.shape);
        t.data = buf + data_start + ents[i].begin;
        t.nbytes = (size_t)ents[i].nbytes;
        t.file = file;
        t.file_offset = data_start + ents[i].begin;
        s = es_weights_add(w, &t, err);
        if (s) goto done;
    }
done:
    es_free(sorted);
    es_free(ents);
    keys_free(&ks);
    json_object_put(root);
    return s;
}

es_status es_safetensors_parse(es_weights *w, const void *buf, size_t len, const char *name,
                               es_error *err) {
    if (!buf && len) return es_errf(err, ES_ERR_ARG, "%s: NULL buffer", name ? name : "?");
    static const unsigned char empty[1];
    return parse_buffer(w, buf ? buf : empty, len, name ? name : "<memory>", err);
}

es_status es_safetensors_read(es_weights *w, const char *path, es_error *err) {
    void *addr;
    size_t len;
    es_status s = es_map_file(path, &addr, &len, err);
    if (s) return s;
    if (addr) {
        /* Owned by the set from now on, even if parsing fails below: some
         * views may already point into it. */
        s = es_weights_own_mapping(w, addr, len, err);
        if (s) return es_err_prefix(err, "%s", path);
    }
    s = parse_buffer(w, addr, len, path, err);
    if (s) return s;
    es_weights_add_file_bytes(w, len);
    return ES_OK;
}

/* ------------------------------------------------------------------------ */
/* Sharded checkpoints: model.safetensors.index.json                        */
/* ------------------------------------------------------------------------ */

/* Reads model.safetensors.index.json through the shared shard reader
 * (src/io/shard_index.c). */
es_status es_safetensors_read_index(es_weights *w, const char *index_path, es_error *err) {
    return es_weights_read_index(w, index_path, es_safetensors_read, err);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) {
            if (nc > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            nc *= 2;
        }
        char *np = es_realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(sbuf *b, const char *fmt, ...) ES_PRINTF(2, 3);
static void sb_fmt(sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = true;
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

/* JSON string literal; s is valid UTF-8 (checked by the caller). */
static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, run, (size_t)(s - run));
        char esc[8];
        if (c == '"') sb_put(b, "\\\"", 2);
        else if (c == '\\') sb_put(b, "\\\\", 2);
        else {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        }
        run = s + 1;
    }
    sb_put(b, run, (size_t)(s - run));
    sb_put(b, "\"", 1);
}

static bool valid_utf8_str(const char *s) {
    size_t n = strlen(s);
    return utf8_bad_offset((const unsigned char *)s, n) == n;
}

static int cmp_cstr_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks names (unique, UTF-8, not __metadata__) and computes byte sizes. */
static es_status check_write_args(const char *path, const es_st_write_tensor *t, size_t n,
                                  const char *const *kv, size_t n_meta, size_t *nbytes,
                                  es_error *err) {
    for (size_t i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name) return es_errf(err, ES_ERR_ARG, "%s: tensor %zu has no name", path, i);
        if (!valid_utf8_str(name))
            return es_errf(err, ES_ERR_ARG, "%s: tensor %zu: name is not valid UTF-8", path, i);
        if (strcmp(name, "__metadata__") == 0)
            return es_errf(err, ES_ERR_ARG, "%s: '__metadata__' cannot be a tensor name", path);
        size_t sz = es_dtype_size(t[i].dtype);
        if (!sz) return es_errf(err, ES_ERR_ARG, "%s: tensor '%s': invalid dtype", path, name);
        if (t[i].ndim < 0 || t[i].ndim > ES_MAX_DIMS)
            return es_errf(err, ES_ERR_ARG, "%s: tensor '%s': %d dimensions", path, name,
                           t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0 || (uint64_t)t[i].shape[d] > SIZE_MAX ||
                !es_mul_ok(sz, (size_t)t[i].shape[d], &sz))
                return es_errf(err, ES_ERR_ARG, "%s: tensor '%s': invalid or overflowing shape",
                               path, name);
        }
        if (sz && !t[i].data)
            return es_errf(err, ES_ERR_ARG, "%s: tensor '%s': NULL data", path, name);
        nbytes[i] = sz;
    }
    for (size_t i = 0; i < 2 * n_meta; i++) {
        if (!kv[i]) return es_errf(err, ES_ERR_ARG, "%s: NULL metadata string", path);
        if (!valid_utf8_str(kv[i]))
            return es_errf(err, ES_ERR_ARG, "%s: metadata string '%.100s' is not valid UTF-8",
                           path, kv[i]);
    }
    for (size_t i = 0; i < n_meta; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(kv[2 * i], kv[2 * j]) == 0)
                return es_errf(err, ES_ERR_ARG, "%s: duplicate metadata key '%.100s'", path,
                               kv[2 * i]);
    if (n > 1) {
        const char **names = es_malloc(n * sizeof *names);
        if (!names) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < n; i++) names[i] = t[i].name;
        qsort(names, n, sizeof *names, cmp_cstr_ptr);
        for (size_t i = 1; i < n; i++) {
            if (strcmp(names[i], names[i - 1]) == 0) {
                es_status s =
                    es_errf(err, ES_ERR_ARG, "%s: duplicate tensor name '%s'", path, names[i]);
                es_free(names);
                return s;
            }
        }
        es_free(names);
    }
    return ES_OK;
}

es_status es_safetensors_write(const char *path, const es_st_write_tensor *tensors, size_t n,
                               const char *const *meta_kv, size_t n_meta, es_error *err) {
    if (!path) return es_errf(err, ES_ERR_ARG, "safetensors writer: NULL path");
    if ((n && !tensors) || (n_meta && !meta_kv))
        return es_errf(err, ES_ERR_ARG, "%s: NULL tensor or metadata array", path);
    size_t *nbytes = es_malloc((n ? n : 1) * sizeof *nbytes);
    if (!nbytes) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", path);
    es_status s = check_write_args(path, tensors, n, meta_kv, n_meta, nbytes, err);
    if (s) {
        es_free(nbytes);
        return s;
    }
    /* Header: 8 placeholder bytes for the length, then the JSON. */
    sbuf b = {0};
    sb_put(&b, "\0\0\0\0\0\0\0\0", 8);
    sb_str(&b, "{\"__metadata__\":{");
    bool has_format = false;
    for (size_t i = 0; i < n_meta; i++)
        if (strcmp(meta_kv[2 * i], "format") == 0) has_format = true;
    bool first = true;
    if (!has_format) {
        sb_str(&b, "\"format\":\"pt\"");
        first = false;
    }
    for (size_t i = 0; i < n_meta; i++) {
        if (!first) sb_put(&b, ",", 1);
        first = false;
        sb_json_str(&b, meta_kv[2 * i]);
        sb_put(&b, ":", 1);
        sb_json_str(&b, meta_kv[2 * i + 1]);
    }
    sb_put(&b, "}", 1);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        sb_put(&b, ",", 1);
        sb_json_str(&b, tensors[i].name);
        sb_fmt(&b, ":{\"dtype\":\"%s\",\"shape\":[", es_dtype_name(tensors[i].dtype));
        for (int d = 0; d < tensors[i].ndim; d++)
            sb_fmt(&b, d ? ",%lld" : "%lld", (long long)tensors[i].shape[d]);
        uint64_t end;
        if (__builtin_add_overflow(off, (uint64_t)nbytes[i], &end)) {
            es_free(b.p);
            es_free(nbytes);
            return es_errf(err, ES_ERR_ARG, "%s: total data size overflows", path);
        }
        sb_fmt(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
               (unsigned long long)end);
        off = end;
    }
    sb_put(&b, "}", 1);
    while (!b.oom && (b.n - 8) % 8) sb_put(&b, " ", 1);
    if (b.oom) {
        es_free(b.p);
        es_free(nbytes);
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    uint64_t hn = b.n - 8;
    if (hn > ST_MAX_HEADER) {
        es_free(b.p);
        es_free(nbytes);
        return es_errf(err, ES_ERR_ARG, "%s: header of %llu bytes exceeds the format's limit",
                       path, (unsigned long long)hn);
    }
    for (int i = 0; i < 8; i++) b.p[i] = (char)(hn >> (8 * i));

    es_atomic_file *f;
    s = es_atomic_begin(&f, path, err);
    if (!s) s = es_atomic_write(f, b.p, b.n, err);
    for (size_t i = 0; i < n && !s; i++)
        if (nbytes[i]) s = es_atomic_write(f, tensors[i].data, nbytes[i], err);
    es_free(b.p);
    es_free(nbytes);
    if (s) {
        es_atomic_abort(f);
        return s;
    }
    return es_atomic_commit(f, err);
}
