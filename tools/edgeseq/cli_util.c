/*
 * cli_util.c — argument parsing, help printing, JSON output, stdin line
 * reading and error printing shared by every `edgeseq` verb.
 *
 * The option parser is table-driven (cli_opt arrays in each cmd_*.c) so
 * that the help text and the accepted flags can never disagree. Numbers
 * are parsed strictly: the whole word must be a number inside the option's
 * range, otherwise it is a usage error (exit 2), never a silent 0.
 *
 * Error lines are always exactly one line: library messages are already
 * one line, but text echoed from the user (a bad flag, a file name) could
 * hold newlines, so they are replaced by spaces when printed.
 */
#include "cli.h"

#include "core/pool.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------------- */

static void print_one_line(FILE *f, const char *s) {
    for (; *s; s++) fputc((*s == '\n' || *s == '\r') ? ' ' : *s, f);
}

static void verror(const char *fmt, va_list ap) {
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fflush(stdout);
    fputs("edgeseq: error: ", stderr);
    print_one_line(stderr, msg);
    fputc('\n', stderr);
}

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
    return CLI_EXIT_RUNTIME;
}

int cli_fail_err(const es_error *err) {
    if (err && err->msg[0]) return cli_fail("%s", err->msg);
    return cli_fail("%s", es_status_str(err ? err->code : ES_ERR_INTERNAL));
}

int cli_usage(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
    if (verb)
        fprintf(stderr, "try 'edgeseq %s --help'\n", verb);
    else
        fputs("try 'edgeseq --help'\n", stderr);
    return CLI_EXIT_USAGE;
}

/* ---- numbers ----------------------------------------------------------------- */

bool cli_parse_int(const char *s, long long min, long long max, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s) return false;
    if (v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || end == s) return false;
    *out = (uint64_t)v;
    return true;
}

bool cli_parse_float(const char *s, double min, double max, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || end == s || !isfinite(v)) return false;
    if (v < min || v > max) return false;
    *out = v;
    return true;
}

/* ---- option parsing ------------------------------------------------------------ */

static const cli_opt *find_long(const cli_opt *opts, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0) return &opts[i];
    return NULL;
}

static const cli_opt *find_short(const cli_opt *opts, size_t n, char c) {
    for (size_t i = 0; i < n; i++)
        if (opts[i].short_name && opts[i].short_name == c) return &opts[i];
    return NULL;
}

/* Formats "[min, max]" for messages; integers without decimals. */
static void range_text(char *buf, size_t cap, const cli_opt *o) {
    if (o->kind == CLI_INT)
        snprintf(buf, cap, "an integer in [%.0f, %.0f]", o->min, o->max);
    else
        snprintf(buf, cap, "a number in [%g, %g]", o->min, o->max);
}

static int store_value(const char *verb, const cli_opt *o, const char *val) {
    char rng[96];
    switch (o->kind) {
    case CLI_INT: {
        long long v;
        if (!cli_parse_int(val, (long long)o->min, (long long)o->max, &v)) {
            range_text(rng, sizeof rng, o);
            return cli_usage(verb, "--%s: '%s' is not %s", o->name, val, rng);
        }
        *(int *)o->dest = (int)v;
        break;
    }
    case CLI_U64: {
        uint64_t v;
        if (!cli_parse_u64(val, &v))
            return cli_usage(verb, "--%s: '%s' is not a non-negative integer < 2^64", o->name,
                             val);
        *(uint64_t *)o->dest = v;
        break;
    }
    case CLI_FLOAT: {
        double v;
        if (!cli_parse_float(val, o->min, o->max, &v)) {
            range_text(rng, sizeof rng, o);
            return cli_usage(verb, "--%s: '%s' is not %s", o->name, val, rng);
        }
        *(float *)o->dest = (float)v;
        break;
    }
    case CLI_STR:
        *(const char **)o->dest = val;
        break;
    case CLI_FLAG:
        *(bool *)o->dest = true;
        break;
    }
    if (o->seen) *o->seen = true;
    return CLI_PARSE_OK;
}

int cli_parse(const char *verb, const cli_opt *opts, size_t n_opts, const cli_help *help,
              int argc, char **argv, char ***pos, int *n_pos) {
    *pos = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    *n_pos = 0;
    if (!*pos) return cli_fail("out of memory");
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') { /* "-" alone is positional */
            (*pos)[(*n_pos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(stdout, verb, opts, n_opts, help);
            free(*pos);
            *pos = NULL;
            return CLI_PARSE_HELP;
        }
        const cli_opt *o;
        const char *inline_val = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, n_opts, name, len);
            if (!o) {
                free(*pos);
                *pos = NULL;
                return cli_usage(verb, "unknown option '--%.*s' for '%s'", (int)len, name, verb);
            }
            if (eq) inline_val = eq + 1;
        } else {
            o = a[2] == '\0' ? find_short(opts, n_opts, a[1]) : NULL;
            if (!o) {
                free(*pos);
                *pos = NULL;
                return cli_usage(verb, "unknown option '%s' for '%s'", a, verb);
            }
        }
        int rc;
        if (o->kind == CLI_FLAG) {
            if (inline_val) {
                free(*pos);
                *pos = NULL;
                return cli_usage(verb, "--%s takes no value", o->name);
            }
            rc = store_value(verb, o, NULL);
        } else {
            const char *val = inline_val;
            if (!val) {
                if (i + 1 >= argc) {
                    free(*pos);
                    *pos = NULL;
                    return cli_usage(verb, "--%s needs a value (%s)", o->name,
                                     o->metavar ? o->metavar : "VALUE");
                }
                val = argv[++i];
            }
            rc = store_value(verb, o, val);
        }
        if (rc != CLI_PARSE_OK) {
            free(*pos);
            *pos = NULL;
            return rc;
        }
    }
    return CLI_PARSE_OK;
}

void cli_print_help(FILE *f, const char *verb, const cli_opt *opts, size_t n_opts,
                    const cli_help *help) {
    fprintf(f, "usage: %s\n", help->usage);
    if (help->description) fprintf(f, "\n%s\n", help->description);
    fputs("\noptions:\n", f);
    for (size_t i = 0; i < n_opts; i++) {
        const cli_opt *o = &opts[i];
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        if (strlen(left) <= 26)
            fprintf(f, "  %-26s %s\n", left, o->help);
        else
            fprintf(f, "  %s\n  %-26s %s\n", left, "", o->help);
    }
    fprintf(f, "  %-26s %s\n", "-h, --help", "show this help and exit");
    if (help->examples) fprintf(f, "\nexamples:\n%s\n", help->examples);
    (void)verb;
}

/* ---- JSON output ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
 * (overlong forms, surrogates and code points > U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return len;
}

void cli_json_str(FILE *f, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            switch (c) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            default:
                if (c < 0x20 || c == 0x7F)
                    fprintf(f, "\\u%04x", c);
                else
                    fputc((int)c, f);
            }
            i++;
            continue;
        }
        size_t l = utf8_len(p + i, n - i);
        if (l == 0) {
            fputs("\xEF\xBF\xBD", f); /* U+FFFD for each invalid byte */
            i++;
        } else {
            fwrite(p + i, 1, l, f);
            i += l;
        }
    }
    fputc('"', f);
}

void cli_json_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, i ? ", %d" : "%d", (int)ids[i]);
    fputc(']', f);
}

void cli_json_num(FILE *f, double v) {
    if (!isfinite(v))
        fputs("null", f);
    else
        fprintf(f, "%.9g", v);
}

const char *cli_thousands(char *buf, size_t cap, uint64_t v) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    char tmp[48];
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) tmp[k++] = ',';
        tmp[k++] = digits[i];
    }
    tmp[k] = '\0';
    snprintf(buf, cap, "%s", tmp);
    return buf;
}

const char *cli_bytes(char *buf, size_t cap, uint64_t v) {
    static const char *const units[] = {"bytes", "kB", "MB", "GB", "TB"};
    double x = (double)v;
    int u = 0;
    while (x >= 1000.0 && u < 4) {
        x /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu bytes", (unsigned long long)v);
    else
        snprintf(buf, cap, "%.1f %s", x, units[u]);
    return buf;
}

int cli_finish(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        if (rc == CLI_EXIT_OK) return cli_fail("writing to stdout: %s", strerror(e));
    }
    return rc;
}

/* ---- stdin lines ------------------------------------------------------------------ */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool cli_stderr_tty(void) { return isatty(STDERR_FILENO) == 1; }

void cli_lines_init(cli_lines *r, FILE *f, const char *what) {
    memset(r, 0, sizeof *r);
    r->f = f;
    r->what = what;
    r->progress = cli_stderr_tty();
    r->last_progress = cli_now();
}

int cli_lines_next(cli_lines *r, const char **line, size_t *len) {
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    if (n < 0) {
        if (ferror(r->f)) {
            cli_fail("reading stdin after line %ld: %s", r->lineno, strerror(errno ? errno : EIO));
            return -1;
        }
        return 0;
    }
    r->lineno++;
    size_t l = (size_t)n;
    if (l > 0 && r->buf[l - 1] == '\n') l--;
    if (l > 0 && r->buf[l - 1] == '\r') l--;
    r->buf[l] = '\0';
    *line = r->buf;
    *len = l;
    if (r->progress) {
        double t = cli_now();
        if (t - r->last_progress >= 0.5) {
            fprintf(stderr, "\r%ld %s", r->lineno, r->what ? r->what : "lines");
            fflush(stderr);
            r->last_progress = t;
        }
    }
    return 1;
}

void cli_lines_close(cli_lines *r) {
    if (r->progress && r->lineno > 0) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

/* ---- library helpers ------------------------------------------------------------- */

bool cli_ids_push(cli_ids *a, int32_t x) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) return false;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return true;
}

void cli_ids_free(cli_ids *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

int cli_load_tokenizer(const char *model, es_tokenizer **out) {
    es_error err = {0};
    *out = NULL;
    struct stat st;
    if (stat(model, &st) != 0) return cli_fail("%s: %s", model, strerror(errno));
    char path[4096];
    if (S_ISDIR(st.st_mode)) {
        int n = snprintf(path, sizeof path, "%s/spiece.model", model);
        if (n < 0 || (size_t)n >= sizeof path) return cli_fail("%s: path too long", model);
        if (access(path, F_OK) != 0)
            return cli_fail("%s: no spiece.model in this folder (not a T5 model folder?)", model);
    } else {
        snprintf(path, sizeof path, "%s", model);
    }
    if (es_tokenizer_load(out, path, 100, &err) != ES_OK) return cli_fail_err(&err);
    return CLI_EXIT_OK;
}

int cli_load_model(const char *dir, int n_threads, es_model **out) {
    es_error err = {0};
    *out = NULL;
    if (!dir) return cli_fail("no model given");
    struct stat st;
    if (stat(dir, &st) != 0) return cli_fail("%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_fail("%s: not a folder (a model is a folder with config.json and "
                        "model.safetensors)", dir);
    es_load_params lp = es_load_params_default();
    lp.n_threads = n_threads;
    if (es_model_load(out, dir, &lp, &err) != ES_OK) return cli_fail_err(&err);
    if (!es_model_get_info(*out)) {
        es_model_free(*out);
        *out = NULL;
        return cli_fail("%s: model loader returned no information", dir);
    }
    return CLI_EXIT_OK;
}

es_status cli_encode(const es_tokenizer *tok, const char *text, size_t len, cli_ids *ids,
                     es_token **toks_out, char **norm_out, size_t *norm_len_out,
                     es_error *err) {
    ids->n = 0;
    if (toks_out) *toks_out = NULL;
    if (norm_out) *norm_out = NULL;
    /* A first guess that fits almost every line: one token per byte + 1
     * never overflows for SentencePiece (pieces are >= 1 byte of normalized
     * text, but NFKC can expand text), so retry on ES_ERR_BUFFER. */
    size_t cap = len + 16, ncap = 3 * len + 16;
    for (int attempt = 0; attempt < 4; attempt++) {
        es_token *toks = malloc(cap * sizeof *toks);
        char *norm = norm_out ? malloc(ncap) : NULL;
        if (!toks || (norm_out && !norm)) {
            free(toks);
            free(norm);
            return es_errf(err, ES_ERR_NOMEM, "out of memory encoding %zu bytes", len);
        }
        size_t n = 0, nl = 0;
        es_status s = es_tokenizer_encode(tok, text, len, toks, cap, &n, norm, norm ? ncap : 0,
                                          norm ? &nl : NULL, err);
        if (s == ES_ERR_BUFFER) {
            free(toks);
            free(norm);
            if (n > cap) cap = n;
            if (nl + 1 > ncap) ncap = nl + 1;
            cap += 16;
            continue;
        }
        if (s != ES_OK) {
            free(toks);
            free(norm);
            return s;
        }
        for (size_t i = 0; i < n; i++) {
            if (!cli_ids_push(ids, toks[i].id)) {
                free(toks);
                free(norm);
                return es_errf(err, ES_ERR_NOMEM, "out of memory");
            }
        }
        if (toks_out)
            *toks_out = toks;
        else
            free(toks);
        if (norm_out) {
            *norm_out = norm;
            *norm_len_out = nl;
        }
        return ES_OK;
    }
    return es_errf(err, ES_ERR_INTERNAL, "tokenizer kept asking for a larger buffer");
}

es_status cli_decode(const es_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
                     char **out, size_t *out_len, es_error *err) {
    *out = NULL;
    size_t cap = 16 * n + 64;
    for (int attempt = 0; attempt < 4; attempt++) {
        char *buf = malloc(cap);
        if (!buf) return es_errf(err, ES_ERR_NOMEM, "out of memory decoding %zu ids", n);
        size_t len = 0;
        es_status s = es_tokenizer_decode(tok, ids, n, flags, buf, cap, &len, err);
        if (s == ES_ERR_BUFFER) {
            free(buf);
            cap = len + 1 > cap ? len + 1 : cap * 2;
            continue;
        }
        if (s != ES_OK) {
            free(buf);
            return s;
        }
        if (len >= cap) {
            free(buf);
            return es_errf(err, ES_ERR_INTERNAL, "decoder wrote past its buffer");
        }
        buf[len] = '\0';
        *out = buf;
        if (out_len) *out_len = len;
        return ES_OK;
    }
    return es_errf(err, ES_ERR_INTERNAL, "decoder kept asking for a larger buffer");
}

void cli_session_init(cli_session *cs, const es_model *m, int n_threads) {
    memset(cs, 0, sizeof *cs);
    cs->model = m;
    cs->p = es_session_params_default();
    cs->p.n_threads = n_threads;
    /* sized by the first cli_session_ensure from what is asked (not the
     * library's 8 x 512 x 512 defaults, ~270 MB of address space for a
     * t5-efficient-small session) */
    cs->p.max_batch = cs->p.max_src_len = cs->p.max_tgt_len = 0;
}

static int grow(int have, int need) {
    if (have <= 0) return need > 0 ? need : 1; /* first session: what is asked (>= 1: an empty
                                                 * byte input has 0 source rows) */
    if (need <= have) return have;
    long long v = have > 0 ? have : 1;
    while (v < need) v *= 2;
    return v > INT_MAX ? INT_MAX : (int)v;
}

int cli_session_ensure(cli_session *cs, int batch, int src_len, int tgt_len) {
    if (cs->s && batch <= cs->p.max_batch && src_len <= cs->p.max_src_len &&
        tgt_len <= cs->p.max_tgt_len)
        return CLI_EXIT_OK;
    es_session_free(cs->s);
    cs->s = NULL;
    cs->p.max_batch = grow(cs->p.max_batch, batch);
    cs->p.max_src_len = grow(cs->p.max_src_len, src_len);
    cs->p.max_tgt_len = grow(cs->p.max_tgt_len, tgt_len);
    es_error err = {0};
    if (es_session_new(&cs->s, cs->model, &cs->p, &err) != ES_OK) {
        cs->s = NULL;
        return cli_fail_err(&err);
    }
    return CLI_EXIT_OK;
}

void cli_session_free(cli_session *cs) {
    es_session_free(cs->s);
    cs->s = NULL;
}

int cli_default_threads(void) { return es_cpu_physical_cores(); }
