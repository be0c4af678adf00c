/*
 * test_tokenizer_cases.c — every line of fixtures/tokenizer/cases.jsonl
 * (computed with the official sentencepiece 0.1.97) against our
 * tokenizer: 1,865 encode cases (ids AND pieces, where a piece is the
 * token's byte range of the normalized text) and 100 decode cases (text).
 * Prints "N/1965 passed" and the first few differences; fails on any.
 * Texts may contain NUL: read with json_object_get_string_len.
 */
#include "edgeseq.h"
#include "test.h"

#include <json-c/json.h>

#define MAX_SHOWN 8

static int g_shown;

static void show(int line, const char *what) {
    if (g_shown++ < MAX_SHOWN) fprintf(stderr, "line %d: %s\n", line, what);
}

static int check_encode(const es_tokenizer *tok, json_object *c, int line) {
    json_object *jt, *jids, *jpieces;
    if (!json_object_object_get_ex(c, "text", &jt) || !json_object_object_get_ex(c, "ids", &jids) ||
        !json_object_object_get_ex(c, "pieces", &jpieces)) {
        show(line, "malformed case");
        return 0;
    }
    const char *text = json_object_get_string(jt);
    const size_t len = (size_t)json_object_get_string_len(jt);
    size_t n = 0, nlen = 0;
    es_error err;
    /* size query first: the ES_ERR_BUFFER contract */
    es_status st = es_tokenizer_encode(tok, text, len, NULL, 0, &n, NULL, 0, &nlen, &err);
    const size_t want = json_object_array_length(jids);
    if (want > 0 && st != ES_ERR_BUFFER) {
        show(line, "size query did not return ES_ERR_BUFFER");
        return 0;
    }
    es_token *toks = malloc((n + 1) * sizeof *toks);
    char *norm = malloc(nlen + 1);
    const size_t nlen_query = nlen;
    st = es_tokenizer_encode(tok, text, len, toks, n, &n, norm, nlen, &nlen, &err);
    int ok = st == ES_OK;
    char msg[1024];
    if (!ok) {
        snprintf(msg, sizeof msg, "encode failed: %s", err.msg);
        show(line, msg);
    } else if (nlen != nlen_query) {
        show(line, "normalized length differs between size query and encode");
        ok = 0;
    } else if (n != want || json_object_array_length(jpieces) != want) {
        snprintf(msg, sizeof msg, "%zu tokens, expected %zu", n, want);
        show(line, msg);
        ok = 0;
    } else {
        for (size_t i = 0; i < n; i++) {
            json_object *jp = json_object_array_get_idx(jpieces, i);
            const int32_t id = json_object_get_int(json_object_array_get_idx(jids, i));
            const size_t plen = (size_t)json_object_get_string_len(jp);
            if (toks[i].id != id || toks[i].length != plen ||
                (size_t)toks[i].offset + toks[i].length > nlen ||
                memcmp(norm + toks[i].offset, json_object_get_string(jp), plen) != 0) {
                snprintf(msg, sizeof msg, "token %zu: id %d surface \"%.*s\", expected %d \"%s\"", i,
                         toks[i].id, (int)(toks[i].offset + toks[i].length <= nlen ? toks[i].length : 0),
                         norm + toks[i].offset, id, json_object_get_string(jp));
                show(line, msg);
                ok = 0;
                break;
            }
            /* tokens tile the normalized text */
            const uint32_t expect_off = i == 0 ? 0 : toks[i - 1].offset + toks[i - 1].length;
            if (toks[i].offset != expect_off) {
                show(line, "tokens do not tile the normalized text");
                ok = 0;
                break;
            }
        }
        if (ok && n > 0 && toks[n - 1].offset + toks[n - 1].length != nlen) {
            show(line, "tokens do not cover the normalized text");
            ok = 0;
        }
    }
    free(toks);
    free(norm);
    return ok;
}

static int check_decode(const es_tokenizer *tok, json_object *c, int line) {
    json_object *jt, *jids;
    if (!json_object_object_get_ex(c, "text", &jt) || !json_object_object_get_ex(c, "ids", &jids)) {
        show(line, "malformed case");
        return 0;
    }
    const size_t n = json_object_array_length(jids);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = json_object_get_int(json_object_array_get_idx(jids, i));
    const char *want = json_object_get_string(jt);
    const size_t want_len = (size_t)json_object_get_string_len(jt);
    size_t len = 0;
    es_error err;
    es_status st = es_tokenizer_decode(tok, ids, n, 0, NULL, 0, &len, &err);
    int ok = 1;
    char msg[1024];
    if (!(st == ES_OK || st == ES_ERR_BUFFER) || len != want_len) {
        snprintf(msg, sizeof msg, "decode size %zu, expected %zu (%s)", len, want_len, err.msg);
        show(line, msg);
        ok = 0;
    } else {
        char *out = malloc(len + 1);
        st = es_tokenizer_decode(tok, ids, n, 0, out, len + 1, &len, &err);
        if (st != ES_OK || len != want_len || memcmp(out, want, len) != 0 || out[len] != '\0') {
            snprintf(msg, sizeof msg, "decoded \"%.*s\", expected \"%s\"", (int)len, out, want);
            show(line, msg);
            ok = 0;
        }
        free(out);
    }
    free(ids);
    return ok;
}

int main(void) {
    es_tokenizer *tok = NULL;
    es_error err;
    es_status st = es_tokenizer_load(&tok, fixture("tokenizer/spiece.model"), 100, &err);
    REQUIRE(st == ES_OK, "load: %s", err.msg);
    CHECK(es_tokenizer_vocab_size(tok) == 32100, "vocab %d", es_tokenizer_vocab_size(tok));

    FILE *f = fopen(fixture("tokenizer/cases.jsonl"), "rb");
    REQUIRE(f != NULL, "cannot open cases.jsonl");
    static char linebuf[1 << 20];
    int line = 0, passed = 0, n_encode = 0, n_decode = 0;
    json_tokener *jt = json_tokener_new();
    while (fgets(linebuf, sizeof linebuf, f)) {
        line++;
        json_tokener_reset(jt);
        json_object *c = json_tokener_parse_ex(jt, linebuf, (int)strlen(linebuf));
        json_object *kind;
        if (!c || !json_object_object_get_ex(c, "kind", &kind)) {
            show(line, "unparsable line");
            json_object_put(c);
            continue;
        }
        int ok = 0;
        if (strcmp(json_object_get_string(kind), "encode") == 0) {
            n_encode++;
            ok = check_encode(tok, c, line);
        } else {
            n_decode++;
            ok = check_decode(tok, c, line);
        }
        passed += ok;
        json_object_put(c);
    }
    json_tokener_free(jt);
    fclose(f);
    printf("%d/%d passed (%d encode, %d decode)\n", passed, line, n_encode, n_decode);
    CHECK(line == 1965, "expected 1965 cases, read %d", line);
    CHECK(n_encode == 1865 && n_decode == 100, "case mix %d/%d", n_encode, n_decode);
    CHECK(passed == line, "%d cases failed", line - passed);
    es_tokenizer_free(tok);
    TEST_MAIN_END();
}
