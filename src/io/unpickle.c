/*
 * unpickle.c — the restricted pickle machine (see unpickle.h).
 *
 * The machine mirrors CPython's _Unpickler for the opcodes it accepts: a
 * value stack, a stack of MARK positions (items below the innermost mark
 * are out of reach, as in CPython's metastack) and a memo indexed by
 * integers. Every opcode reads its argument only after checking that the
 * bytes are there; every pop checks the current frame is not empty. Values
 * are inert data built here; the only "calls" are REDUCEs on the four
 * recognised constructors, implemented below as data construction with
 * argument type checks.
 *
 * Bounds: the stack holds at most ES_PK_MAX_STACK values, at most
 * ES_PK_MAX_MARKS marks are open, memo indices are below ES_PK_MAX_MEMO and
 * below the pickle length + 1 (a real pickler numbers memo slots from 0, so
 * a larger index is hostile). Every opcode creates O(1) values (tuples
 * copy at most the current frame), so arena use is O(stack * pickle).
 */
#include "io/unpickle.h"

#include <stdio.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------ */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

struct es_unpickler {
    chunk *chunks;
    es_pk_value *root;
};

#define CHUNK_BYTES (64u * 1024u)

static void *arena_alloc(es_unpickler *u, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    chunk *c = u->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES, bytes;
        if (!es_add_ok(sizeof(chunk), cap, &bytes)) return NULL;
        c = es_malloc(bytes);
        if (!c) return NULL;
        c->next = u->chunks;
        c->used = 0;
        c->cap = cap;
        u->chunks = c;
    }
    void *p = (unsigned char *)c->data + c->used;
    c->used += n;
    return p;
}

void es_unpickle_free(es_unpickler *u) {
    if (!u) return;
    for (chunk *c = u->chunks, *nx; c; c = nx) {
        nx = c->next;
        es_free(c);
    }
    es_free(u);
}

const es_pk_value *es_unpickle_root(const es_unpickler *u) { return u->root; }

/* ---- machine state ---------------------------------------------------- */

typedef struct vm {
    es_unpickler *u;
    const char *where;
    const uint8_t *p;
    size_t len, pos, at; /* at = offset of the current opcode */
    es_pk_value **stack;
    size_t sp, stack_cap;
    size_t marks[ES_PK_MAX_MARKS];
    size_t n_marks;
    es_pk_value **memo;
    size_t memo_cap, memo_count;
    es_error *err;
} vm;

static es_status fail(vm *m, es_status code, const char *fmt, ...) ES_PRINTF(3, 4);
static es_status fail(vm *m, es_status code, const char *fmt, ...) {
    char msg[ES_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return es_errf(m->err, code, "%s: offset %zu: %s", m->where, m->at, msg);
}

static es_status nomem(vm *m) { return fail(m, ES_ERR_NOMEM, "out of memory"); }

static es_pk_value *new_value(vm *m, es_pk_kind kind) {
    es_pk_value *v = arena_alloc(m->u, sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->kind = kind;
    }
    return v;
}

static size_t frame_floor(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static es_status push(vm *m, es_pk_value *v) {
    if (!v) return nomem(m);
    if (m->sp == m->stack_cap) {
        if (m->sp >= ES_PK_MAX_STACK)
            return fail(m, ES_ERR_FORMAT, "pickle stack exceeds %u values", ES_PK_MAX_STACK);
        size_t nc = m->stack_cap ? m->stack_cap * 2 : 64;
        es_pk_value **ns = es_realloc(m->stack, nc * sizeof *ns);
        if (!ns) return nomem(m);
        m->stack = ns;
        m->stack_cap = nc;
    }
    m->stack[m->sp++] = v;
    return ES_OK;
}

static es_status pop(vm *m, es_pk_value **v) {
    *v = NULL;
    if (m->sp <= frame_floor(m)) return fail(m, ES_ERR_FORMAT, "pop from an empty stack");
    *v = m->stack[--m->sp];
    return ES_OK;
}

static es_status top(vm *m, es_pk_value **v) {
    *v = NULL;
    if (m->sp <= frame_floor(m)) return fail(m, ES_ERR_FORMAT, "empty stack");
    *v = m->stack[m->sp - 1];
    return ES_OK;
}

/* Pops the innermost mark; the items are stack[*start, sp) and are
 * removed by the caller setting sp = *start. */
static es_status pop_mark(vm *m, size_t *start) {
    *start = 0;
    if (!m->n_marks) return fail(m, ES_ERR_FORMAT, "no MARK on the stack");
    *start = m->marks[--m->n_marks];
    return ES_OK;
}

static es_status need(vm *m, size_t n) {
    if (m->len - m->pos < n)
        return fail(m, ES_ERR_FORMAT, "truncated: opcode needs %zu bytes, %zu left", n,
                    m->len - m->pos);
    return ES_OK;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---- strings ---------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
static bool utf8_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 0x07, min = 0x10000;
        else return false;
        if (n - i - 1 < k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += k + 1;
    }
    return true;
}

static es_pk_value *new_str(vm *m, const uint8_t *s, size_t n) {
    es_pk_value *v = new_value(m, ES_PK_STR);
    if (!v) return NULL;
    size_t bytes;
    if (!es_add_ok(n, 1, &bytes)) return NULL;
    char *d = arena_alloc(m->u, bytes);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    v->u.str.s = d;
    v->u.str.len = n;
    return v;
}

static es_status op_unicode(vm *m, int len_bytes) {
    es_status s = need(m, (size_t)len_bytes);
    if (s) return s;
    uint64_t n = rd_le(m->p + m->pos, len_bytes);
    m->pos += (size_t)len_bytes;
    if (n > m->len - m->pos)
        return fail(m, ES_ERR_FORMAT, "truncated: string of %llu bytes, %zu left",
                    (unsigned long long)n, m->len - m->pos);
    const uint8_t *str = m->p + m->pos;
    if (memchr(str, 0, (size_t)n))
        return fail(m, ES_ERR_FORMAT, "string contains a NUL byte");
    if (!utf8_ok(str, (size_t)n)) return fail(m, ES_ERR_FORMAT, "string is not valid UTF-8");
    m->pos += (size_t)n;
    return push(m, new_str(m, str, (size_t)n));
}

/* Copies s[0, n) into out for a message: printable ASCII, others '?',
 * truncated with "..." past 80 bytes. */
static void printable(char *out, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        if (i == 80) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}

/* ---- globals: classification only -------------------------------------- */

static const struct {
    const char *name;
    es_dtype dtype;
} storage_types[] = {
    {"FloatStorage", ES_DTYPE_F32}, {"HalfStorage", ES_DTYPE_F16},
    {"BFloat16Storage", ES_DTYPE_BF16}, {"DoubleStorage", ES_DTYPE_F64},
    {"LongStorage", ES_DTYPE_I64}, {"IntStorage", ES_DTYPE_I32},
    {"ShortStorage", ES_DTYPE_I16}, {"CharStorage", ES_DTYPE_I8},
    {"ByteStorage", ES_DTYPE_U8}, {"BoolStorage", ES_DTYPE_BOOL},
};

static bool eq(const char *s, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static es_status classify_global(vm *m, const char *mod, size_t mod_len, const char *name,
                                 size_t name_len) {
    es_pk_value *v = new_value(m, ES_PK_GLOBAL);
    if (!v) return nomem(m);
    if (eq(mod, mod_len, "collections") && eq(name, name_len, "OrderedDict")) {
        v->u.global.which = ES_PK_G_ORDERED_DICT;
        return push(m, v);
    }
    if (eq(mod, mod_len, "torch._utils")) {
        if (eq(name, name_len, "_rebuild_tensor_v2")) {
            v->u.global.which = ES_PK_G_REBUILD_TENSOR_V2;
            return push(m, v);
        }
        if (eq(name, name_len, "_rebuild_parameter")) {
            v->u.global.which = ES_PK_G_REBUILD_PARAMETER;
            return push(m, v);
        }
        if (eq(name, name_len, "_rebuild_parameter_with_state")) {
            v->u.global.which = ES_PK_G_REBUILD_PARAMETER_WITH_STATE;
            return push(m, v);
        }
    }
    if (eq(mod, mod_len, "torch")) {
        for (size_t i = 0; i < ES_ARRAY_LEN(storage_types); i++) {
            if (eq(name, name_len, storage_types[i].name)) {
                v->u.global.which = ES_PK_G_STORAGE_TYPE;
                v->u.global.dtype = storage_types[i].dtype;
                return push(m, v);
            }
        }
    }
    char pm[96], pn[96];
    printable(pm, sizeof pm, mod, mod_len);
    printable(pn, sizeof pn, name, name_len);
    return fail(m, ES_ERR_FORMAT,
                "global '%s.%s' refused: a state dict may only reference "
                "collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                "torch._utils._rebuild_parameter and torch.<T>Storage",
                pm, pn);
}

/* GLOBAL: "module\nname\n" in the opcode stream. */
static es_status op_global(vm *m) {
    const char *parts[2];
    size_t lens[2];
    for (int k = 0; k < 2; k++) {
        const uint8_t *s = m->p + m->pos;
        size_t left = m->len - m->pos;
        const uint8_t *nl = memchr(s, '\n', ES_MIN(left, (size_t)ES_PK_MAX_GLOBAL_LEN + 1));
        if (!nl) {
            if (left <= ES_PK_MAX_GLOBAL_LEN)
                return fail(m, ES_ERR_FORMAT, "truncated: GLOBAL %s without a newline",
                            k ? "name" : "module");
            return fail(m, ES_ERR_FORMAT, "GLOBAL %s longer than %u bytes", k ? "name" : "module",
                        ES_PK_MAX_GLOBAL_LEN);
        }
        parts[k] = (const char *)s;
        lens[k] = (size_t)(nl - s);
        m->pos += lens[k] + 1;
    }
    return classify_global(m, parts[0], lens[0], parts[1], lens[1]);
}

static es_status op_stack_global(vm *m) {
    es_pk_value *name, *mod;
    es_status s = pop(m, &name);
    if (!s) s = pop(m, &mod);
    if (s) return s;
    if (name->kind != ES_PK_STR || mod->kind != ES_PK_STR)
        return fail(m, ES_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return classify_global(m, mod->u.str.s, mod->u.str.len, name->u.str.s, name->u.str.len);
}

/* ---- constructors ----------------------------------------------------- */

static es_status int_tuple(vm *m, const es_pk_value *t, const char *what, int64_t *dst,
                           int *n) {
    if (t->kind != ES_PK_TUPLE)
        return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2: %s is not a tuple", what);
    if (t->u.seq.n > ES_MAX_DIMS)
        return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2: %zu dimensions (max %d)", t->u.seq.n,
                    ES_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        const es_pk_value *x = t->u.seq.items[i];
        if (x->kind != ES_PK_INT || x->u.i < 0)
            return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2: %s[%zu] is not an integer >= 0",
                        what, i);
        dst[i] = x->u.i;
    }
    *n = (int)t->u.seq.n;
    return ES_OK;
}

static es_status rebuild_tensor(vm *m, const es_pk_value *args, es_pk_value **out) {
    size_t n = args->u.seq.n;
    es_pk_value *const *a = args->u.seq.items;
    if (n != 6 && n != 7)
        return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", n);
    if (a[0]->kind != ES_PK_STORAGE)
        return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2: argument 1 is not a storage");
    if (a[1]->kind != ES_PK_INT || a[1]->u.i < 0)
        return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2: storage offset is not an integer >= 0");
    if (a[4]->kind != ES_PK_BOOL)
        return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2: requires_grad is not a bool");
    es_pk_value *t = new_value(m, ES_PK_TENSOR);
    if (!t) return nomem(m);
    int nd, ns;
    es_status s = int_tuple(m, a[2], "size", t->u.tensor.size, &nd);
    if (!s) s = int_tuple(m, a[3], "stride", t->u.tensor.stride, &ns);
    if (s) return s;
    if (nd != ns)
        return fail(m, ES_ERR_FORMAT, "_rebuild_tensor_v2: %d sizes but %d strides", nd, ns);
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i;
    t->u.tensor.ndim = nd;
    t->u.tensor.pkl_offset = m->at;
    *out = t;
    return ES_OK;
}

static es_status op_reduce(vm *m) {
    es_pk_value *args, *fn, *res = NULL;
    es_status s = pop(m, &args);
    if (!s) s = pop(m, &fn);
    if (s) return s;
    if (fn->kind != ES_PK_GLOBAL) return fail(m, ES_ERR_FORMAT, "REDUCE on a non-callable value");
    if (args->kind != ES_PK_TUPLE)
        return fail(m, ES_ERR_FORMAT, "REDUCE arguments are not a tuple");
    size_t n = args->u.seq.n;
    es_pk_value *const *a = args->u.seq.items;
    switch (fn->u.global.which) {
    case ES_PK_G_ORDERED_DICT:
        if (n != 0)
            return fail(m, ES_ERR_FORMAT, "collections.OrderedDict called with %zu arguments "
                                          "(only OrderedDict() is accepted)",
                        n);
        res = new_value(m, ES_PK_DICT);
        if (!res) return nomem(m);
        break;
    case ES_PK_G_REBUILD_TENSOR_V2:
        s = rebuild_tensor(m, args, &res);
        if (s) return s;
        break;
    case ES_PK_G_REBUILD_PARAMETER:
    case ES_PK_G_REBUILD_PARAMETER_WITH_STATE: {
        size_t want = fn->u.global.which == ES_PK_G_REBUILD_PARAMETER ? 3 : 4;
        if (n != want || a[0]->kind != ES_PK_TENSOR || a[1]->kind != ES_PK_BOOL)
            return fail(m, ES_ERR_FORMAT,
                        "_rebuild_parameter%s needs (tensor, requires_grad, hooks%s)",
                        want == 4 ? "_with_state" : "", want == 4 ? ", state" : "");
        res = a[0]; /* a Parameter is its tensor as far as weights go */
        break;
    }
    case ES_PK_G_STORAGE_TYPE:
    default:
        return fail(m, ES_ERR_FORMAT, "a storage type cannot be called; storages come only "
                                      "from persistent ids");
    }
    return push(m, res);
}

/* BINPERSID: ('storage', torch.<T>Storage, key, location, numel). */
static es_status op_persid(vm *m) {
    es_pk_value *pid;
    es_status s = pop(m, &pid);
    if (s) return s;
    if (pid->kind != ES_PK_TUPLE || pid->u.seq.n != 5)
        return fail(m, ES_ERR_FORMAT, "persistent id is not a 5-tuple "
                                      "('storage', type, key, location, numel)");
    es_pk_value *const *a = pid->u.seq.items;
    if (a[0]->kind != ES_PK_STR || strcmp(a[0]->u.str.s, "storage") != 0)
        return fail(m, ES_ERR_FORMAT, "persistent id does not start with 'storage'");
    if (a[1]->kind != ES_PK_GLOBAL || a[1]->u.global.which != ES_PK_G_STORAGE_TYPE)
        return fail(m, ES_ERR_FORMAT, "persistent id: second item is not a torch.<T>Storage");
    if (a[2]->kind != ES_PK_STR || a[2]->u.str.len == 0 || strchr(a[2]->u.str.s, '/'))
        return fail(m, ES_ERR_FORMAT, "persistent id: storage key is not a non-empty name "
                                      "without '/'");
    if (a[3]->kind != ES_PK_STR)
        return fail(m, ES_ERR_FORMAT, "persistent id: location is not a string");
    if (a[4]->kind != ES_PK_INT || a[4]->u.i < 0)
        return fail(m, ES_ERR_FORMAT, "persistent id: numel is not an integer >= 0");
    es_pk_value *v = new_value(m, ES_PK_STORAGE);
    if (!v) return nomem(m);
    v->u.storage.dtype = a[1]->u.global.dtype;
    v->u.storage.key = a[2]->u.str.s;
    v->u.storage.numel = a[4]->u.i;
    return push(m, v);
}

/* ---- containers ------------------------------------------------------- */

/* Appends n pointers to a growable arena array (amortised doubling; the
 * old block is left in the arena). */
static bool grow_append(vm *m, es_pk_value ***arr, size_t *len, size_t *cap,
                        es_pk_value *const *src, size_t n) {
    if (n > *cap - *len) {
        size_t nc = *cap ? *cap : 4, bytes;
        while (nc - *len < n) {
            if (nc > SIZE_MAX / 2) return false;
            nc *= 2;
        }
        if (!es_mul_ok(nc, sizeof(es_pk_value *), &bytes)) return false;
        es_pk_value **na = arena_alloc(m->u, bytes);
        if (!na) return false;
        if (*len) memcpy(na, *arr, *len * sizeof *na);
        *arr = na;
        *cap = nc;
    }
    if (n) memcpy(*arr + *len, src, n * sizeof *src);
    *len += n;
    return true;
}

static es_status make_tuple(vm *m, size_t start) {
    size_t n = m->sp - start;
    es_pk_value *t = new_value(m, ES_PK_TUPLE);
    if (!t) return nomem(m);
    if (n && !grow_append(m, &t->u.seq.items, &t->u.seq.n, &t->u.seq.cap, m->stack + start, n))
        return nomem(m);
    m->sp = start;
    return push(m, t);
}

static es_status op_tuple_n(vm *m, size_t n) {
    if (m->sp - frame_floor(m) < n)
        return fail(m, ES_ERR_FORMAT, "TUPLE%zu needs %zu values on the stack", n, n);
    return make_tuple(m, m->sp - n);
}

/* SETITEM(S) / APPEND(S): items stack[start, sp) go into the container
 * below them. */
static es_status fill(vm *m, size_t start, bool dict) {
    size_t n = m->sp - start;
    m->sp = start;
    es_pk_value *c;
    es_status s = top(m, &c);
    if (s) return s;
    if (dict) {
        if (c->kind != ES_PK_DICT) return fail(m, ES_ERR_FORMAT, "SETITEM(S) target is not a dict");
        if (n % 2) return fail(m, ES_ERR_FORMAT, "SETITEMS with an odd number of values");
        size_t len = 2 * c->u.dict.n, cap = 2 * c->u.dict.cap;
        if (!grow_append(m, &c->u.dict.kv, &len, &cap, m->stack + start, n)) return nomem(m);
        c->u.dict.n = len / 2;
        c->u.dict.cap = cap / 2;
    } else {
        if (c->kind != ES_PK_LIST) return fail(m, ES_ERR_FORMAT, "APPEND(S) target is not a list");
        if (!grow_append(m, &c->u.seq.items, &c->u.seq.n, &c->u.seq.cap, m->stack + start, n))
            return nomem(m);
    }
    return ES_OK;
}

/* ---- memo ------------------------------------------------------------- */

static es_status memo_put(vm *m, uint64_t idx) {
    es_pk_value *v;
    es_status s = top(m, &v);
    if (s) return s;
    if (idx >= ES_PK_MAX_MEMO || idx > m->len)
        return fail(m, ES_ERR_FORMAT, "memo index %llu out of range (limit %zu)",
                    (unsigned long long)idx, ES_MIN((size_t)ES_PK_MAX_MEMO, m->len + 1));
    if (idx >= m->memo_cap) {
        size_t nc = m->memo_cap ? m->memo_cap : 64;
        while (nc <= idx) nc *= 2;
        es_pk_value **nm = es_realloc(m->memo, nc * sizeof *nm);
        if (!nm) return nomem(m);
        memset(nm + m->memo_cap, 0, (nc - m->memo_cap) * sizeof *nm);
        m->memo = nm;
        m->memo_cap = nc;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = v;
    return ES_OK;
}

static es_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx])
        return fail(m, ES_ERR_FORMAT, "memo index %llu was never stored",
                    (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

/* ---- main loop -------------------------------------------------------- */

static es_status arg(vm *m, int n, uint64_t *v) {
    es_status s = need(m, (size_t)n);
    if (s) return s;
    *v = rd_le(m->p + m->pos, n);
    m->pos += (size_t)n;
    return ES_OK;
}

static es_status step(vm *m, uint8_t op, bool *stop) {
    uint64_t x;
    es_status s;
    es_pk_value *v;
    size_t start;
    switch (op) {
    case 0x80: /* PROTO */
        if ((s = arg(m, 1, &x))) return s;
        if (x < 2 || x > 5)
            return fail(m, ES_ERR_FORMAT, "pickle protocol %llu (2..5 supported)",
                        (unsigned long long)x);
        return ES_OK;
    case 0x95: /* FRAME: a length hint; the data follows inline */
        if ((s = arg(m, 8, &x))) return s;
        if (x > m->len - m->pos)
            return fail(m, ES_ERR_FORMAT, "truncated: FRAME of %llu bytes, %zu left",
                        (unsigned long long)x, m->len - m->pos);
        return ES_OK;
    case '.': /* STOP */
        if (m->n_marks) return fail(m, ES_ERR_FORMAT, "STOP with an open MARK");
        if (m->sp != 1)
            return fail(m, ES_ERR_FORMAT, "STOP with %zu values on the stack (want 1)", m->sp);
        if (m->pos != m->len)
            return fail(m, ES_ERR_FORMAT, "%zu bytes after STOP", m->len - m->pos);
        m->u->root = m->stack[0];
        *stop = true;
        return ES_OK;
    case '(': /* MARK */
        if (m->n_marks == ES_PK_MAX_MARKS)
            return fail(m, ES_ERR_FORMAT, "more than %u nested MARKs", ES_PK_MAX_MARKS);
        m->marks[m->n_marks++] = m->sp;
        return ES_OK;
    case '}': return push(m, new_value(m, ES_PK_DICT)); /* EMPTY_DICT */
    case ']': return push(m, new_value(m, ES_PK_LIST)); /* EMPTY_LIST */
    case ')': return push(m, new_value(m, ES_PK_TUPLE)); /* EMPTY_TUPLE */
    case 'N': return push(m, new_value(m, ES_PK_NONE));
    case 0x88: /* NEWTRUE */
    case 0x89: /* NEWFALSE */
        if ((v = new_value(m, ES_PK_BOOL))) v->u.b = op == 0x88;
        return push(m, v);
    case 'X': return op_unicode(m, 4);    /* BINUNICODE */
    case 0x8c: return op_unicode(m, 1);   /* SHORT_BINUNICODE */
    case 0x8d: return op_unicode(m, 8);   /* BINUNICODE8 */
    case 'J':                             /* BININT: signed 32-bit */
    case 'K':                             /* BININT1: unsigned 8-bit */
    case 'M':                             /* BININT2: unsigned 16-bit */
        if ((s = arg(m, op == 'J' ? 4 : op == 'K' ? 1 : 2, &x))) return s;
        if ((v = new_value(m, ES_PK_INT))) v->u.i = op == 'J' ? (int32_t)(uint32_t)x : (int64_t)x;
        return push(m, v);
    case 0x8a: { /* LONG1: n-byte little-endian two's complement */
        if ((s = arg(m, 1, &x))) return s;
        int n = (int)x;
        if (n > 8) return fail(m, ES_ERR_FORMAT, "LONG1 of %d bytes (max 8)", n);
        if ((s = need(m, (size_t)n))) return s;
        uint64_t u = rd_le(m->p + m->pos, n);
        if (n > 0 && n < 8 && (m->p[m->pos + n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
        m->pos += (size_t)n;
        if ((v = new_value(m, ES_PK_INT))) v->u.i = (int64_t)u;
        return push(m, v);
    }
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        if ((s = need(m, 8))) return s;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | m->p[m->pos + i];
        m->pos += 8;
        if ((v = new_value(m, ES_PK_FLOAT))) memcpy(&v->u.f, &u, 8);
        return push(m, v);
    }
    case 't': /* TUPLE */
        if ((s = pop_mark(m, &start))) return s;
        return make_tuple(m, start);
    case 0x85: return op_tuple_n(m, 1);
    case 0x86: return op_tuple_n(m, 2);
    case 0x87: return op_tuple_n(m, 3);
    case 's': /* SETITEM */
        if (m->sp - frame_floor(m) < 2) return fail(m, ES_ERR_FORMAT, "SETITEM needs 2 values");
        return fill(m, m->sp - 2, true);
    case 'u': /* SETITEMS */
        if ((s = pop_mark(m, &start))) return s;
        return fill(m, start, true);
    case 'a': /* APPEND */
        if (m->sp - frame_floor(m) < 1) return fail(m, ES_ERR_FORMAT, "APPEND needs a value");
        return fill(m, m->sp - 1, false);
    case 'e': /* APPENDS */
        if ((s = pop_mark(m, &start))) return s;
        return fill(m, start, false);
    case 'q': /* BINPUT */
        if ((s = arg(m, 1, &x))) return s;
        return memo_put(m, x);
    case 'r': /* LONG_BINPUT */
        if ((s = arg(m, 4, &x))) return s;
        return memo_put(m, x);
    case 0x94: return memo_put(m, m->memo_count); /* MEMOIZE */
    case 'h':                                     /* BINGET */
        if ((s = arg(m, 1, &x))) return s;
        return memo_get(m, x);
    case 'j': /* LONG_BINGET */
        if ((s = arg(m, 4, &x))) return s;
        return memo_get(m, x);
    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'R': return op_reduce(m);
    case 'Q': return op_persid(m);
    case 'b': { /* BUILD: the state (OrderedDict._metadata, Parameter state) is
                 * not needed for weights; it is parsed and dropped */
        if ((s = pop(m, &v))) return s;
        es_pk_value *t;
        if ((s = top(m, &t))) return s;
        if (t->kind != ES_PK_DICT && t->kind != ES_PK_TENSOR)
            return fail(m, ES_ERR_FORMAT, "BUILD on something that is not a dict or tensor");
        return ES_OK;
    }
    default:
        return fail(m, ES_ERR_FORMAT,
                    "opcode 0x%02x ('%c') is not accepted (not needed by a torch state dict)", op,
                    op >= 0x20 && op < 0x7f ? op : '?');
    }
}

es_status es_unpickle(es_unpickler **out, const void *pkl, size_t len, const char *where,
                      es_error *err) {
    *out = NULL;
    vm m;
    memset(&m, 0, sizeof m);
    m.where = where ? where : "data.pkl";
    m.p = pkl;
    m.len = len;
    m.err = err;
    m.u = es_calloc(1, sizeof *m.u);
    if (!m.u) return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", m.where);
    es_status s = ES_OK;
    bool stop = false;
    while (!stop) {
        m.at = m.pos;
        if (m.pos >= m.len) {
            s = fail(&m, ES_ERR_FORMAT, "truncated: pickle ends without STOP");
            break;
        }
        uint8_t op = m.p[m.pos++];
        s = step(&m, op, &stop);
        if (s) break;
    }
    es_free(m.stack);
    es_free(m.memo);
    if (s) {
        es_unpickle_free(m.u);
        return s;
    }
    *out = m.u;
    return ES_OK;
}
