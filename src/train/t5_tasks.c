/*
 * t5_tasks.c — spam / G2P as text-to-text tasks for T5 (t5_tasks.h):
 * message → input text (a small MIME reader: headers, multipart, QP,
 * base64, HTML stripping, UTF-8 repair), token-budget cuts, seeded label
 * fractions, and the two evaluations (scoring both labels; generation).
 *
 * The MIME reader is deliberately forgiving: any byte string gives some
 * text (a malformed message falls back to its raw body), because spam is
 * often malformed on purpose and a classifier must still see it.
 */
#include "train/t5_tasks.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- growable byte buffer --------------------------------------------------- */

typedef struct tbuf {
    char *p;
    size_t n, cap;
    bool oom;
} tbuf;

static void tb_put(tbuf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
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

static void tb_c(tbuf *b, char c) { tb_put(b, &c, 1); }

/* ---- headers ------------------------------------------------------------------ */

/* End of the header block of m[0, n): offset of the body (after the blank
 * line), or n when there is none. */
static size_t header_end(const uint8_t *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (m[i] != '\n') continue;
        if (i + 1 < n && m[i + 1] == '\n') return i + 2;
        if (i + 2 < n && m[i + 1] == '\r' && m[i + 2] == '\n') return i + 3;
    }
    return n;
}

/* Unfolded value of header `name` (case-insensitive) in h[0, n) into b
 * (cleared); false when absent. */
static bool header_get(tbuf *b, const uint8_t *h, size_t n, const char *name) {
    size_t nl = strlen(name);
    b->n = 0;
    if (b->p) b->p[0] = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && h[e] != '\n') e++;
        bool at_start = i == 0 || h[i - 1] == '\n';
        if (at_start && e - i > nl && h[i + nl] == ':' &&
            strncasecmp((const char *)h + i, name, nl) == 0) {
            size_t v = i + nl + 1;
            for (;;) {
                size_t ve = e;
                while (ve > v && (h[ve - 1] == '\r')) ve--;
                tb_put(b, h + v, ve - v);
                if (e + 1 < n && (h[e + 1] == ' ' || h[e + 1] == '\t')) { /* folded */
                    tb_c(b, ' ');
                    v = e + 1;
                    e = v;
                    while (e < n && h[e] != '\n') e++;
                    continue;
                }
                break;
            }
            if (!b->p) tb_put(b, "", 0);
            return true;
        }
        i = e + 1;
    }
    return false;
}

/* Value of parameter `name` (e.g. boundary) of a Content-Type value. */
static bool ct_param(char *out, size_t cap, const char *ct, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = ct; *p; p++) {
        if ((p == ct || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t') &&
            strncasecmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t k = 0;
            if (*v == '"') {
                v++;
                while (v[k] && v[k] != '"') k++;
            } else {
                while (v[k] && v[k] != ';' && v[k] != ' ' && v[k] != '\t' && v[k] != '\r') k++;
            }
            if (k == 0 || k >= cap) return false;
            memcpy(out, v, k);
            out[k] = 0;
            return true;
        }
    }
    return false;
}

static bool starts_ci(const char *s, const char *pre) {
    while (*s == ' ' || *s == '\t') s++;
    return strncasecmp(s, pre, strlen(pre)) == 0;
}

/* ---- transfer encodings --------------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void decode_qp(tbuf *o, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '=') {
            tb_c(o, (char)s[i]);
            continue;
        }
        if (i + 1 < n && s[i + 1] == '\n') { /* soft line break */
            i += 1;
        } else if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
            i += 2;
        } else if (i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            tb_c(o, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else {
            tb_c(o, '=');
        }
    }
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static void decode_b64(tbuf *o, const uint8_t *s, size_t n) {
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') break;
        int v = b64val(s[i]);
        if (v < 0) continue; /* line breaks, junk */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            tb_c(o, (char)((acc >> bits) & 0xff));
        }
    }
}

/* ---- HTML ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *text;
} k_entities[] = {{"nbsp", " "}, {"amp", "&"}, {"lt", "<"},   {"gt", ">"},
                  {"quot", "\""}, {"apos", "'"}, {"copy", "(c)"}, {"reg", "(R)"}};

static void put_utf8(tbuf *o, uint32_t cp) {
    char u[4];
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) cp = ' ';
    if (cp < 0x80) {
        tb_c(o, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        tb_put(o, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        tb_put(o, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        tb_put(o, u, 4);
    }
}

/* Strips tags (a tag is replaced by a space so words do not merge), drops
 * <style>/<script>/comment contents, decodes common and numeric entities. */
static void strip_html(tbuf *o, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        if (s[i] == '<') {
            const char *close = NULL;
            if (i + 4 <= n && memcmp(s + i, "<!--", 4) == 0) close = "-->";
            else if (i + 6 <= n && strncasecmp((const char *)s + i, "<style", 6) == 0)
                close = "</style>";
            else if (i + 7 <= n && strncasecmp((const char *)s + i, "<script", 7) == 0)
                close = "</script>";
            size_t j = i + 1;
            if (close) {
                size_t cl = strlen(close);
                while (j + cl <= n && strncasecmp((const char *)s + j, close, cl) != 0) j++;
                j = j + cl <= n ? j + cl : n;
            } else {
                while (j < n && s[j] != '>') j++;
                j = j < n ? j + 1 : n;
            }
            tb_c(o, ' ');
            i = j;
            continue;
        }
        if (s[i] == '&') {
            size_t j = i + 1;
            while (j < n && j - i <= 10 && s[j] != ';' && (isalnum(s[j]) || s[j] == '#')) j++;
            if (j < n && s[j] == ';' && j > i + 1) {
                const char *nm = (const char *)s + i + 1;
                size_t nl = j - i - 1;
                bool done = false;
                if (nm[0] == '#') {
                    uint32_t cp = 0;
                    bool hex = nl > 1 && (nm[1] == 'x' || nm[1] == 'X');
                    size_t k = hex ? 2 : 1;
                    bool okd = k < nl;
                    for (; k < nl && okd; k++) {
                        int v = hex ? hexval(nm[k]) : (isdigit((unsigned char)nm[k]) ? nm[k] - '0' : -1);
                        if (v < 0 || cp > 0x10ffff) okd = false;
                        else cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
                    }
                    if (okd) {
                        put_utf8(o, cp);
                        done = true;
                    }
                } else {
                    for (size_t e = 0; e < sizeof k_entities / sizeof k_entities[0]; e++)
                        if (strlen(k_entities[e].name) == nl &&
                            strncasecmp(nm, k_entities[e].name, nl) == 0) {
                            tb_put(o, k_entities[e].text, strlen(k_entities[e].text));
                            done = true;
                            break;
                        }
                }
                if (done) {
                    i = j + 1;
                    continue;
                }
            }
        }
        tb_c(o, (char)s[i]);
        i++;
    }
}

/* ---- MIME body --------------------------------------------------------------------- */

/* Appends the readable text of the entity with headers h[0, hn) and body
 * b[0, bn) to o: for multipart/ the first text/plain part (else the first
 * text/html part, else the first part), recursively (depth-limited); for a
 * single part its decoded text. Out of memory sets o->oom. */
static void entity_text(tbuf *o, const uint8_t *h, size_t hn, const uint8_t *b, size_t bn,
                        int depth) {
    tbuf ct = {0}, cte = {0};
    bool has_ct = header_get(&ct, h, hn, "Content-Type");
    header_get(&cte, h, hn, "Content-Transfer-Encoding");
    char boundary[256];
    if (has_ct && depth < 4 && starts_ci(ct.p, "multipart/") &&
        ct_param(boundary, sizeof boundary, ct.p, "boundary")) {
        size_t bl = strlen(boundary);
        /* parts: after each line "--boundary", up to the next one */
        const uint8_t *parts[64];
        size_t plen[64], np = 0;
        size_t i = 0, start = 0;
        bool in_part = false;
        while (i + 2 + bl <= bn) {
            bool line_start = i == 0 || b[i - 1] == '\n';
            if (line_start && b[i] == '-' && b[i + 1] == '-' && memcmp(b + i + 2, boundary, bl) == 0) {
                if (in_part && np < 64) {
                    parts[np] = b + start;
                    plen[np++] = i - start;
                }
                size_t e = i + 2 + bl;
                if (e + 2 <= bn && b[e] == '-' && b[e + 1] == '-') {
                    in_part = false;
                    break;
                }
                while (e < bn && b[e] != '\n') e++;
                start = e < bn ? e + 1 : bn;
                in_part = true;
                i = start;
                continue;
            }
            i++;
        }
        if (in_part && np < 64 && start < bn) {
            parts[np] = b + start;
            plen[np++] = bn - start;
        }
        int pick = -1, html = -1;
        tbuf pct = {0};
        for (size_t k = 0; k < np && pick < 0; k++) {
            size_t he = header_end(parts[k], plen[k]);
            bool has = header_get(&pct, parts[k], he, "Content-Type");
            if (!has || starts_ci(pct.p, "text/plain")) pick = (int)k;
            else if (html < 0 && (starts_ci(pct.p, "text/html") || starts_ci(pct.p, "multipart/")))
                html = (int)k;
        }
        es_free(pct.p);
        if (pick < 0) pick = html >= 0 ? html : (np ? 0 : -1);
        if (pick >= 0) {
            size_t he = header_end(parts[pick], plen[pick]);
            entity_text(o, parts[pick], he, parts[pick] + he, plen[pick] - he, depth + 1);
        } else {
            tb_put(o, b, bn); /* no parts found: the raw body */
        }
    } else {
        tbuf dec = {0};
        const uint8_t *t = b;
        size_t tn = bn;
        if (cte.p && starts_ci(cte.p, "quoted-printable")) {
            decode_qp(&dec, b, bn);
            t = (const uint8_t *)dec.p;
            tn = dec.n;
        } else if (cte.p && starts_ci(cte.p, "base64")) {
            decode_b64(&dec, b, bn);
            t = (const uint8_t *)dec.p;
            tn = dec.n;
        }
        if (dec.oom) o->oom = true;
        if (has_ct && starts_ci(ct.p, "text/html")) strip_html(o, t, tn);
        else if (t) tb_put(o, t, tn);
        es_free(dec.p);
    }
    es_free(ct.p);
    es_free(cte.p);
}

/* ---- UTF-8 repair + whitespace collapse --------------------------------------------- */

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) k = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) k = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) k = 4, cp = c & 0x07;
    else return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return k;
}

/* Windows-1252 code points of bytes 0x80..0x9f (0 = undefined → space):
 * mail that is not UTF-8 is mostly cp1252, whose "smart quotes" live here. */
static const uint16_t k_cp1252[32] = {
    0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0, 0x017d, 0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013,
    0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178};

/* Appends s[0, n) to o as valid UTF-8 with whitespace/control runs as one
 * space (none at the start of o), stopping once o would exceed `limit`
 * bytes (0 = no limit). */
static void put_clean(tbuf *o, const uint8_t *s, size_t n, size_t limit) {
    bool space = o->n == 0 || o->p[o->n - 1] == ' ';
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(s + i, n - i);
        uint8_t c = s[i];
        /* an invalid byte is read as Windows-1252 (a superset of Latin-1's
         * printable range); its undefined bytes and NBSP are spaces */
        uint32_t cp = k ? 0 : (c >= 0x80 && c < 0xa0 ? k_cp1252[c - 0x80] : c);
        bool ws = (k == 1 && (c < 0x20 || c == 0x7f || c == ' ')) ||
                  (k == 0 && (cp == 0 || cp == 0xa0));
        if (ws) {
            if (!space) {
                if (limit && o->n + 1 > limit) return;
                tb_c(o, ' ');
                space = true;
            }
            i += k ? k : 1;
            continue;
        }
        size_t need = k ? k : (cp < 0x800 ? 2 : 3);
        if (limit && o->n + need > limit) return;
        if (k) tb_put(o, s + i, k);
        else put_utf8(o, cp);
        space = false;
        i += k ? k : 1;
    }
}

es_status es_t5_spam_text(char **out, size_t *len, const uint8_t *msg, size_t n, size_t max_body,
                          es_error *err) {
    *out = NULL;
    *len = 0;
    size_t he = header_end(msg, n);
    tbuf subj = {0}, body = {0}, o = {0};
    if (he == n) { /* no blank line: all headers or no headers; treat as body */
        bool looks_header = n > 0 && memchr(msg, ':', n < 80 ? n : 80) != NULL;
        if (!looks_header) he = 0;
    }
    header_get(&subj, msg, he, "Subject");
    entity_text(&body, msg, he, msg + he, n - he, 0);
    tb_put(&o, ES_T5_SPAM_PREFIX, strlen(ES_T5_SPAM_PREFIX));
    if (subj.p) put_clean(&o, (const uint8_t *)subj.p, subj.n, 0);
    if (o.n && o.p[o.n - 1] != ' ') tb_c(&o, ' ');
    tb_put(&o, "| ", 2);
    size_t before = o.n;
    if (body.p) put_clean(&o, (const uint8_t *)body.p, body.n, max_body ? before + max_body : 0);
    while (o.n > 0 && o.p[o.n - 1] == ' ') o.p[--o.n] = 0;
    bool oom = subj.oom || body.oom || o.oom;
    es_free(subj.p);
    es_free(body.p);
    if (oom) {
        es_free(o.p);
        return es_errf(err, ES_ERR_NOMEM, "spam text: out of memory");
    }
    *out = o.p;
    *len = o.n;
    return ES_OK;
}

/* ---- token budget --------------------------------------------------------------------- */

static es_status count_tokens(size_t *nt, const es_tokenizer *tok, const char *text, size_t len,
                              es_error *err) {
    es_status st = es_tokenizer_encode(tok, text, len, NULL, 0, nt, NULL, 0, NULL, err);
    return st == ES_ERR_BUFFER ? ES_OK : st;
}

es_status es_t5_fit_tokens(size_t *cut, const es_tokenizer *tok, const char *text, size_t len,
                           int max_tokens, es_error *err) {
    *cut = 0;
    if (max_tokens < 2) return es_errf(err, ES_ERR_ARG, "fit tokens: max_tokens %d < 2", max_tokens);
    size_t nt;
    es_status st = count_tokens(&nt, tok, text, len, err);
    if (st) return st;
    if (nt + 1 <= (size_t)max_tokens) {
        *cut = len;
        return ES_OK;
    }
    /* candidates: positions of spaces; binary search for the last that fits
     * (token counts of prefixes cut at spaces are non-decreasing) */
    size_t n_sp = 0;
    for (size_t i = 0; i < len; i++) n_sp += text[i] == ' ';
    size_t *pos = es_calloc(n_sp ? n_sp : 1, sizeof *pos);
    if (!pos) return es_errf(err, ES_ERR_NOMEM, "fit tokens: out of memory");
    n_sp = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ' ') pos[n_sp++] = i;
    size_t lo = 0, hi = n_sp; /* answer in pos[0, hi): the fitting ones are a prefix */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        st = count_tokens(&nt, tok, text, pos[mid], err);
        if (st) break;
        if (nt + 1 <= (size_t)max_tokens) lo = mid + 1;
        else hi = mid;
    }
    if (!st) *cut = lo > 0 ? pos[lo - 1] : 0;
    es_free(pos);
    return st;
}

/* ---- label fraction -------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t es_t5_subset_key(uint64_t seed, const void *name, size_t n) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64 */
    const uint8_t *p = name;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return splitmix64(seed ^ h);
}

static const uint64_t *g_sort_keys; /* qsort has no context argument; used serially */

static int cmp_idx(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (g_sort_keys[i] != g_sort_keys[j]) return g_sort_keys[i] < g_sort_keys[j] ? -1 : 1;
    return i < j ? -1 : (i > j);
}

es_status es_t5_select_fraction(bool *chosen, const uint64_t *keys, const int32_t *strata,
                                size_t n, int n_strata, double fraction, es_error *err) {
    if (!(fraction > 0 && fraction <= 1))
        return es_errf(err, ES_ERR_ARG, "label fraction %g: must be in (0, 1]", fraction);
    if (n_strata < 1) return es_errf(err, ES_ERR_ARG, "label fraction: %d strata", n_strata);
    for (size_t i = 0; i < n; i++) {
        chosen[i] = false;
        if (strata[i] < 0 || strata[i] >= n_strata)
            return es_errf(err, ES_ERR_ARG, "label fraction: item %zu has stratum %d of %d", i,
                           (int)strata[i], n_strata);
    }
    size_t *idx = es_calloc(n ? n : 1, sizeof *idx);
    if (!idx) return es_errf(err, ES_ERR_NOMEM, "label fraction: out of memory");
    g_sort_keys = keys;
    for (int s = 0; s < n_strata; s++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (strata[i] == s) idx[m++] = i;
        if (m == 0) continue;
        qsort(idx, m, sizeof *idx, cmp_idx);
        size_t k = (size_t)llround(fraction * (double)m);
        if (k < 1) k = 1;
        if (k > m) k = m;
        for (size_t i = 0; i < k; i++) chosen[idx[i]] = true;
    }
    g_sort_keys = NULL;
    es_free(idx);
    return ES_OK;
}

/* ---- evaluations ------------------------------------------------------------------------- */

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ids of text + </s> into *ids (grown); *n ids. */
static es_status encode_eos(int32_t **ids, size_t *cap, size_t *n, const es_tokenizer *tok,
                            const char *text, size_t len, es_error *err) {
    size_t nt = 0;
    es_status st = count_tokens(&nt, tok, text, len, err);
    if (st) return st;
    if (nt + 1 > *cap) {
        int32_t *ni = es_realloc(*ids, (nt + 1) * sizeof *ni);
        if (!ni) return es_errf(err, ES_ERR_NOMEM, "encode: out of memory");
        *ids = ni;
        *cap = nt + 1;
    }
    es_token *toks = es_calloc(nt ? nt : 1, sizeof *toks);
    if (!toks) return es_errf(err, ES_ERR_NOMEM, "encode: out of memory");
    st = es_tokenizer_encode(tok, text, len, toks, nt, &nt, NULL, 0, NULL, err);
    for (size_t i = 0; !st && i < nt; i++) (*ids)[i] = toks[i].id;
    es_free(toks);
    if (st) return st;
    (*ids)[nt] = es_tokenizer_eos_id(tok);
    *n = nt + 1;
    return ES_OK;
}

es_status es_t5_spam_evaluate(es_t5_spam_eval *out, es_session *s, const es_tokenizer *tok,
                              const es_text_dataset *d, es_split split, int max_src_tokens,
                              size_t max_body, double *scores, es_error *err) {
    memset(out, 0, sizeof *out);
    if (!s || !tok || !d) return es_errf(err, ES_ERR_ARG, "spam eval: NULL argument");
    size_t n = es_text_dataset_count(d, split, -1);
    if (n == 0) return es_errf(err, ES_ERR_ARG, "spam eval: no messages in split %s", es_split_name(split));
    double *sc = es_calloc(n, sizeof *sc);
    int32_t *lab = es_calloc(n, sizeof *lab);
    int32_t *src = NULL, *tgt[2] = {NULL, NULL};
    size_t src_cap = 0, tcap[2] = {0, 0}, tn[2] = {0, 0};
    es_status st = (!sc || !lab) ? es_errf(err, ES_ERR_NOMEM, "spam eval: out of memory") : ES_OK;
    const char *names[2] = {"ham", "spam"};
    for (int l = 0; !st && l < 2; l++)
        st = encode_eos(&tgt[l], &tcap[l], &tn[l], tok, names[l], strlen(names[l]), err);
    size_t k = 0;
    double tok_sum = 0;
    for (size_t i = 0; !st && i < d->n; i++) {
        const es_text_example *x = &d->ex[i];
        if (split != ES_SPLIT_COUNT && x->split != split) continue;
        if (!x->bytes && x->n_bytes == 0) {
            st = es_errf(err, ES_ERR_ARG, "spam eval: %s not loaded", x->path);
            break;
        }
        char *text = NULL;
        size_t tl = 0, cut = 0, ns = 0;
        st = es_t5_spam_text(&text, &tl, x->bytes, x->n_bytes, max_body, err);
        if (!st) st = es_t5_fit_tokens(&cut, tok, text, tl, max_src_tokens, err);
        if (!st) {
            if (cut < tl) out->n_cut++;
            st = encode_eos(&src, &src_cap, &ns, tok, text, cut, err);
        }
        es_free(text);
        if (st) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            st = es_errf(err, st, "spam eval: %s: %s", x->path, msg);
            break;
        }
        tok_sum += (double)ns;
        double lp[2];
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int l = 0; !st && l < 2; l++)
            st = es_session_score(s, &lp[l], src, (int)ns, tgt[l], (int)tn[l]);
        out->seconds += clock_s(CLOCK_MONOTONIC) - t0;
        out->cpu_seconds += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (st) {
            st = es_errf(err, st, "spam eval: %s: %s", x->path, es_session_errmsg(s));
            break;
        }
        sc[k] = lp[1] - lp[0]; /* log p(spam) - log p(ham) */
        lab[k] = x->label;
        k++;
    }
    if (!st) st = es_metrics_binary(&out->bin, sc, lab, k, 0.0, err);
    if (!st) {
        out->n = k;
        out->mean_src_tokens = tok_sum / (double)k;
        if (scores) memcpy(scores, sc, k * sizeof *sc);
    }
    es_free(sc);
    es_free(lab);
    es_free(src);
    es_free(tgt[0]);
    es_free(tgt[1]);
    return st;
}


es_status es_t5_g2p_word_mask(bool *word_mask, const es_cmudict *d, es_split split,
                              double fraction, uint64_t seed, es_error *err) {
    size_t n = 0;
    for (size_t w = 0; w < d->n_words; w++) {
        word_mask[w] = false;
        n += d->words[w].split == split;
    }
    uint64_t *keys = es_calloc(n ? n : 1, sizeof *keys);
    int32_t *strata = es_calloc(n ? n : 1, sizeof *strata);
    bool *chosen = es_calloc(n ? n : 1, sizeof *chosen);
    es_status st = ES_OK;
    if (!keys || !strata || !chosen) st = es_errf(err, ES_ERR_NOMEM, "g2p subset: out of memory");
    size_t k = 0;
    for (size_t w = 0; !st && w < d->n_words; w++)
        if (d->words[w].split == split)
            keys[k++] = es_t5_subset_key(seed, d->text + d->words[w].upper, d->words[w].len);
    if (!st) st = es_t5_select_fraction(chosen, keys, strata, n, 1, fraction, err);
    k = 0;
    for (size_t w = 0; !st && w < d->n_words; w++)
        if (d->words[w].split == split) word_mask[w] = chosen[k++];
    es_free(keys);
    es_free(strata);
    es_free(chosen);
    return st;
}

es_status es_t5_g2p_evaluate(es_g2p_eval *out, es_session *s, const es_tokenizer *tok,
                             const es_cmudict *d, es_split split, const bool *word_mask,
                             const es_gen_params *gp, size_t max_words, es_g2p_word_fn fn,
                             void *user, es_error *err) {
    memset(out, 0, sizeof *out);
    if (!s || !tok || !d || !gp) return es_errf(err, ES_ERR_ARG, "g2p eval: NULL argument");
    size_t max_prons = 1;
    for (size_t w = 0; w < d->n_words; w++)
        if (d->words[w].n_prons > max_prons) max_prons = d->words[w].n_prons;
    int32_t *map = es_calloc((size_t)d->n_symbols, sizeof *map);
    const int32_t **refs = es_calloc(max_prons, sizeof *refs);
    size_t *lens = es_calloc(max_prons, sizeof *lens);
    tbuf in = {0};
    size_t text_cap = 1024, pred_cap = 256, src_cap = 0;
    char *text = es_malloc(text_cap);
    int32_t *pred = es_calloc(pred_cap, sizeof *pred);
    int32_t *src = NULL;
    es_status st = ES_OK;
    if (!map || !refs || !lens || !text || !pred)
        st = es_errf(err, ES_ERR_NOMEM, "g2p eval: out of memory");
    if (!st) es_g2p_stress_map(map, (const char *const *)d->symbols, d->n_symbols);
    size_t done = 0;
    for (size_t w = 0; !st && w < d->n_words && (!max_words || done < max_words); w++) {
        const es_cmu_word *x = &d->words[w];
        if (split != ES_SPLIT_COUNT && x->split != split) continue;
        if (word_mask && !word_mask[w]) continue;
        in.n = 0;
        tb_put(&in, ES_T5_G2P_PREFIX, strlen(ES_T5_G2P_PREFIX));
        tb_put(&in, d->text + x->lower, x->len);
        if (in.oom) {
            st = es_errf(err, ES_ERR_NOMEM, "g2p eval: out of memory");
            break;
        }
        size_t ns = 0;
        st = encode_eos(&src, &src_cap, &ns, tok, in.p, in.n, err);
        if (st) break;
        es_gen_result res;
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        st = es_session_generate(s, &res, src, (int)ns, gp);
        out->seconds += clock_s(CLOCK_MONOTONIC) - t0;
        out->cpu_seconds += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (st) {
            st = es_errf(err, st, "g2p eval: word '%s': %s", (const char *)d->text + x->upper,
                         es_session_errmsg(s));
            break;
        }
        if (res.n_hyps < 1) {
            st = es_errf(err, ES_ERR_INTERNAL, "g2p eval: no hypothesis for '%s'",
                         (const char *)d->text + x->upper);
            break;
        }
        const es_hyp *h = &res.hyps[0];
        size_t tl = 0;
        st = es_tokenizer_decode(tok, h->ids, (size_t)h->n_ids, 0, text, text_cap, &tl, err);
        if (st == ES_ERR_BUFFER) {
            char *nt = es_realloc(text, tl + 1);
            if (!nt) {
                st = es_errf(err, ES_ERR_NOMEM, "g2p eval: out of memory");
                break;
            }
            text = nt;
            text_cap = tl + 1;
            st = es_tokenizer_decode(tok, h->ids, (size_t)h->n_ids, 0, text, text_cap, &tl, err);
        }
        if (st) break;
        bool ok1 = false, ok2 = false;
        st = es_g2p_score_text(out, d, x, text, tl, &pred, &pred_cap, refs, lens, map, &ok1, &ok2,
                               err);
        if (!st && fn) fn(user, d, w, text, ok1, ok2);
        done++;
    }
    if (!st && done == 0)
        st = es_errf(err, ES_ERR_ARG, "g2p eval: no words in split %s", es_split_name(split));
    es_free(map);
    es_free(refs);
    es_free(lens);
    es_free(in.p);
    es_free(text);
    es_free(pred);
    es_free(src);
    return st;
}
