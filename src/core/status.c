/*
 * status.c — status strings, version, error-record formatting, logging.
 */
#include "core/common.h"

#include <stdio.h>
#include <string.h>

const char *es_status_str(es_status s) {
    switch (s) {
    case ES_OK: return "ok";
    case ES_ERR_NOMEM: return "out of memory";
    case ES_ERR_IO: return "input/output error";
    case ES_ERR_FORMAT: return "malformed file";
    case ES_ERR_SHAPE: return "shape mismatch";
    case ES_ERR_UNSUPPORTED: return "unsupported";
    case ES_ERR_ARG: return "invalid argument";
    case ES_ERR_CANCELLED: return "cancelled";
    case ES_ERR_BUFFER: return "buffer too small";
    case ES_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *es_version(void) { return ES_VERSION_STRING; }

es_status es_errf(es_error *err, es_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

es_status es_err_prefix(es_error *err, const char *fmt, ...) {
    if (!err) return ES_ERR_INTERNAL;
    char prefix[256], old[ES_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

void es_err_clear(es_error *err) {
    if (err) {
        err->code = ES_OK;
        err->msg[0] = 0;
    }
}

static es_log_fn g_log_fn;
static void *g_log_user;

void es_set_log(es_log_fn fn, void *user) {
    g_log_fn = fn;
    g_log_user = user;
}

void es_log(es_log_level level, const char *fmt, ...) {
    if (!g_log_fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(g_log_user, level, buf);
}

size_t es_dtype_size(es_dtype t) {
    switch (t) {
    case ES_DTYPE_F32: return 4;
    case ES_DTYPE_F16: return 2;
    case ES_DTYPE_BF16: return 2;
    case ES_DTYPE_I8: return 1;
    case ES_DTYPE_U8: return 1;
    case ES_DTYPE_I16: return 2;
    case ES_DTYPE_I32: return 4;
    case ES_DTYPE_I64: return 8;
    case ES_DTYPE_F64: return 8;
    case ES_DTYPE_BOOL: return 1;
    default: return 0;
    }
}

const char *es_dtype_name(es_dtype t) {
    static const char *names[ES_DTYPE_COUNT] = {"F32", "F16", "BF16", "I8", "U8",
                                                "I16", "I32", "I64",  "F64", "BOOL"};
    if ((unsigned)t >= ES_DTYPE_COUNT) return "?";
    return names[t];
}
