/*
 * unpickle.h — a restricted, non-executing reader for the pickle a
 * torch.save state dict writes (the data.pkl of a pytorch_model.bin).
 *
 * It is a small stack machine over a fixed opcode subset (protocols 2-5)
 * that builds an inert value tree. Nothing is ever imported or called:
 * GLOBAL/STACK_GLOBAL only *classify* a name against a fixed allow-list
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 * torch._utils._rebuild_parameter[_with_state], torch.<T>Storage) and
 * anything else is refused on the spot, naming module.name and the byte
 * offset. REDUCE is only accepted on those recognised constructors and is
 * implemented here as plain data construction; BINPERSID accepts only
 * ('storage', <T>Storage, key, location, numel) tuples. Stack, mark-stack
 * and memo sizes are bounded; there is no recursion. docs/ptbin.md has the
 * full subset and the security argument.
 *
 * All values live in an arena owned by the es_unpickler and are freed with
 * it in one go (values may be shared through the memo, and lists may even
 * contain themselves; no code walks values recursively).
 */
#ifndef ES_IO_UNPICKLE_H
#define ES_IO_UNPICKLE_H

#include "core/common.h"
#include "io/weights.h"

/* Limits (beyond them the pickle is refused with ES_ERR_FORMAT). */
#define ES_PK_MAX_STACK (1u << 20)  /* values on the stack */
#define ES_PK_MAX_MARKS 256u        /* open MARKs (nesting depth) */
#define ES_PK_MAX_MEMO (1u << 22)   /* memo index bound (also < pickle length + 1) */
#define ES_PK_MAX_GLOBAL_LEN 256u   /* bytes of a GLOBAL module or name */

typedef enum es_pk_kind {
    ES_PK_NONE,
    ES_PK_BOOL,
    ES_PK_INT,
    ES_PK_FLOAT,
    ES_PK_STR,     /* valid UTF-8 without NUL */
    ES_PK_TUPLE,
    ES_PK_LIST,
    ES_PK_DICT,    /* dict or collections.OrderedDict */
    ES_PK_GLOBAL,  /* a recognised constructor (never called, only matched) */
    ES_PK_STORAGE, /* result of a persistent id */
    ES_PK_TENSOR   /* result of _rebuild_tensor_v2 */
} es_pk_kind;

typedef enum es_pk_global {
    ES_PK_G_ORDERED_DICT,
    ES_PK_G_REBUILD_TENSOR_V2,
    ES_PK_G_REBUILD_PARAMETER,
    ES_PK_G_REBUILD_PARAMETER_WITH_STATE,
    ES_PK_G_STORAGE_TYPE /* torch.<T>Storage; dtype in the value */
} es_pk_global;

typedef struct es_pk_value es_pk_value;
struct es_pk_value {
    es_pk_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *s; /* NUL-terminated */
            size_t len;
        } str;
        struct {
            es_pk_value **items;
            size_t n, cap;
        } seq; /* TUPLE, LIST */
        struct {
            es_pk_value **kv; /* kv[2i] = key, kv[2i+1] = value, insertion order */
            size_t n, cap;    /* n pairs */
        } dict;
        struct {
            es_pk_global which;
            es_dtype dtype; /* for ES_PK_G_STORAGE_TYPE */
        } global;
        struct {
            es_dtype dtype;
            const char *key; /* storage key: entry <root>/data/<key> */
            int64_t numel;   /* elements the pickle claims the storage holds */
        } storage;
        struct {
            const es_pk_value *storage; /* ES_PK_STORAGE */
            int64_t offset;             /* in elements */
            int ndim;
            int64_t size[ES_MAX_DIMS];   /* >= 0 */
            int64_t stride[ES_MAX_DIMS]; /* >= 0, in elements */
            size_t pkl_offset;           /* where the REDUCE was, for messages */
        } tensor;
    } u;
};

typedef struct es_unpickler es_unpickler;

/* Runs the restricted machine over pkl[0, len) (borrowed only during the
 * call) and keeps the resulting value tree in *out. `where` (copied; e.g.
 * "model.bin:archive/data.pkl") prefixes every message, which also names
 * the byte offset and, for refused globals, module.name. Errors:
 * ES_ERR_FORMAT (malformed, refused global or opcode, limits exceeded),
 * ES_ERR_NOMEM. On failure *out = NULL. */
es_status es_unpickle(es_unpickler **out, const void *pkl, size_t len, const char *where,
                      es_error *err);
/* The value STOP returned. */
const es_pk_value *es_unpickle_root(const es_unpickler *u);
void es_unpickle_free(es_unpickler *u);

#endif
