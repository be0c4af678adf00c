/*
 * test_t5_tasks.c — the text side of the T5 transfer tasks
 * (src/train/t5_tasks.c): the spam input text of hand-written messages
 * (plain, folded Subject, quoted-printable, base64, multipart with
 * text/plain preferred over text/html, HTML tags / style / entities,
 * Windows-1252 bytes, control bytes, the body cap, hostile inputs), the
 * token cut against a brute-force search with the fixture tokenizer, and
 * the label-fraction subset against its definition (counts per stratum,
 * smallest keys, nesting of fractions, determinism).
 */
#include "test.h"

#include "train/t5_tasks.h"

static char *text_of(const char *msg, size_t max_body) {
    char *t = NULL;
    size_t n = 0;
    es_error err = {0};
    es_status st = es_t5_spam_text(&t, &n, (const uint8_t *)msg, strlen(msg), max_body, &err);
    CHECK(st == ES_OK, "spam text: %s", err.msg);
    CHECK(t && strlen(t) == n, "length");
    return t;
}

static void expect_text(const char *msg, size_t max_body, const char *want) {
    char *t = text_of(msg, max_body);
    CHECK(t && strcmp(t, want) == 0, "\n got: [%s]\nwant: [%s]", t ? t : "(null)", want);
    es_free(t);
}

static void spam_texts(void) {
    expect_text("Subject: Hello  there\nFrom: a@b\n\nLine one.\n\n  Line\ttwo.\n", 0,
                "spam: Hello there | Line one. Line two.");
    /* folded subject, CRLF line ends */
    expect_text("From: x\r\nSubject: Win\r\n  big now\r\n\r\nbody\r\n", 0,
                "spam: Win big now | body");
    /* no subject */
    expect_text("From: x\n\nonly body", 0, "spam: | only body");
    /* quoted-printable: soft break, =XX, cp1252 right quote 0x92 -> U+2019 */
    expect_text("Subject: q\nContent-Transfer-Encoding: quoted-printable\n\n"
                "caf=E9 it=92s a lo=\nng line =3D ok\n",
                0, "spam: q | caf\xc3\xa9 it\xe2\x80\x99s a long line = ok");
    /* base64 of "Hello, base64 world!" */
    expect_text("Subject: b\nContent-Transfer-Encoding: base64\n\nSGVsbG8sIGJhc2U2\nNCB3b3JsZCE=\n",
                0, "spam: b | Hello, base64 world!");
    /* html: tags become spaces, style dropped, entities decoded */
    expect_text("Subject: h\nContent-Type: text/html\n\n<html><style>p{x:1}</style><p>A&amp;B"
                "</p><b>C&#65;&#x42;</b>&nbsp;D&bogus;</html>",
                0, "spam: h | A&B CAB D&bogus;");
    /* multipart/alternative: text/plain wins even when html comes first */
    expect_text("Subject: m\nContent-Type: multipart/alternative; boundary=\"XX\"\n\n"
                "preamble\n--XX\nContent-Type: text/html\n\n<p>html part</p>\n"
                "--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                "plain=20part\n--XX--\nepilogue\n",
                0, "spam: m | plain part");
    /* multipart with only html: the html part, stripped */
    expect_text("Subject: m2\nContent-Type: multipart/mixed; boundary=B1\n\n--B1\n"
                "Content-Type: text/html\n\n<i>only</i> html\n--B1--\n",
                0, "spam: m2 | only html");
    /* multipart whose boundary never appears: the raw body */
    expect_text("Subject: m3\nContent-Type: multipart/mixed; boundary=ZZ\n\nraw text\n", 0,
                "spam: m3 | raw text");
    /* control bytes and invalid UTF-8 (lone 0xff is y-diaeresis in cp1252, 0x81 undefined) */
    expect_text("Subject: c\n\na\x01" "b\x7f" "c \xff d\x81" "e", 0,
                "spam: c | a b c \xc3\xbf d e");
    /* body cap: whole characters only (é is 2 bytes and must not be split) */
    expect_text("Subject: s\n\nabcd\xc3\xa9" "fgh", 5, "spam: s | abcd");
    expect_text("Subject: s\n\nabcd\xc3\xa9" "fgh", 6, "spam: s | abcd\xc3\xa9");
    /* hostile: empty, no header block, NULs, truncated multipart, unterminated tag */
    const char *hostile[] = {"", "\n\n", "no headers at all", "Subject: x\n\n<unterminated",
                             "Content-Type: multipart/mixed; boundary=\n\n--\n",
                             "Content-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: "
                             "multipart/mixed; boundary=Q\n\n--Q\n--Q"};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char *t = text_of(hostile[i], 64);
        CHECK(t && strncmp(t, ES_T5_SPAM_PREFIX, strlen(ES_T5_SPAM_PREFIX)) == 0, "hostile %zu", i);
        es_free(t);
    }
    uint8_t nul[] = {'S', 'u', 'b', 'j', 'e', 'c', 't', ':', ' ', 'a', 0, 'b', '\n', '\n', 'x', 0, 'y'};
    char *t = NULL;
    size_t n = 0;
    es_error err = {0};
    CHECK(es_t5_spam_text(&t, &n, nul, sizeof nul, 0, &err) == ES_OK, "NUL bytes");
    CHECK(t && strcmp(t, "spam: a b | x y") == 0, "NUL bytes: [%s]", t ? t : "");
    es_free(t);
}

static size_t n_tokens(const es_tokenizer *tok, const char *s, size_t n) {
    size_t nt = 0;
    es_error err = {0};
    es_status st = es_tokenizer_encode(tok, s, n, NULL, 0, &nt, NULL, 0, NULL, &err);
    CHECK(st == ES_OK || st == ES_ERR_BUFFER, "encode: %s", err.msg);
    return nt;
}

static void token_cut(void) {
    es_tokenizer *tok = NULL;
    es_error err = {0};
    REQUIRE(es_tokenizer_load(&tok, fixture("tokenizer/spiece.model"), 100, &err) == ES_OK,
            "tokenizer: %s", err.msg);
    const char *text = "spam: Re: [ILUG] Formatting a windows partition from Linux | Hi all, "
                       "what is the bestestest wayyy to reformat www.example.com/x?y=1 now";
    size_t len = strlen(text);
    for (int max = 2; max <= 48; max++) {
        size_t cut = 99999;
        CHECK(es_t5_fit_tokens(&cut, tok, text, len, max, &err) == ES_OK, "fit: %s", err.msg);
        /* brute force: the longest prefix ending at the end or before a space that fits */
        size_t want = 0;
        for (size_t p = 1; p <= len; p++)
            if ((p == len || text[p] == ' ') && n_tokens(tok, text, p) + 1 <= (size_t)max) want = p;
        CHECK(cut == want, "max %d: cut %zu, brute force %zu", max, cut, want);
        if (cut > 0) CHECK(n_tokens(tok, text, cut) + 1 <= (size_t)max, "max %d: too long", max);
    }
    size_t cut = 0;
    CHECK(es_t5_fit_tokens(&cut, tok, text, len, 1, &err) == ES_ERR_ARG, "max 1 refused");
    es_tokenizer_free(tok);
}

static void fractions(void) {
    enum { N = 1000 };
    uint64_t keys[N];
    int32_t strata[N];
    bool a[N], b[N], c[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        int k = snprintf(name, sizeof name, "%05d.file", i);
        keys[i] = es_t5_subset_key(1, name, (size_t)k);
        strata[i] = i % 7 == 0 ? 1 : 0; /* 143 in stratum 1, 857 in stratum 0 */
    }
    es_error err = {0};
    CHECK(es_t5_select_fraction(a, keys, strata, N, 2, 0.05, &err) == ES_OK, "%s", err.msg);
    CHECK(es_t5_select_fraction(b, keys, strata, N, 2, 0.05, &err) == ES_OK, "%s", err.msg);
    CHECK(es_t5_select_fraction(c, keys, strata, N, 2, 0.20, &err) == ES_OK, "%s", err.msg);
    size_t na[2] = {0, 0}, nc[2] = {0, 0};
    bool same = true, nested = true, smallest = true;
    for (int i = 0; i < N; i++) {
        na[strata[i]] += a[i];
        nc[strata[i]] += c[i];
        same &= a[i] == b[i];
        nested &= !a[i] || c[i];
        /* definition: a chosen item's key is below every unchosen key of its stratum */
        if (a[i])
            for (int j = 0; j < N; j++)
                if (!a[j] && strata[j] == strata[i] && keys[j] < keys[i]) smallest = false;
    }
    CHECK(na[0] == 43 && na[1] == 7, "5%%: %zu + %zu, want round(42.85)=43 + round(7.15)=7", na[0],
          na[1]);
    CHECK(nc[0] == 171 && nc[1] == 29, "20%%: %zu + %zu", nc[0], nc[1]);
    CHECK(same, "not deterministic");
    CHECK(nested, "5%% subset not inside the 20%% subset");
    CHECK(smallest, "not the smallest keys");
    /* another seed gives another subset */
    for (int i = 0; i < N; i++) {
        int k = snprintf(name, sizeof name, "%05d.file", i);
        keys[i] = es_t5_subset_key(2, name, (size_t)k);
    }
    CHECK(es_t5_select_fraction(b, keys, strata, N, 2, 0.05, &err) == ES_OK, "%s", err.msg);
    int diff = 0;
    for (int i = 0; i < N; i++) diff += a[i] != b[i];
    CHECK(diff > 0, "seed 2 chose the seed-1 subset");
    /* tiny fraction keeps one per non-empty stratum; an empty stratum keeps none */
    CHECK(es_t5_select_fraction(a, keys, strata, N, 3, 1e-6, &err) == ES_OK, "%s", err.msg);
    size_t tot = 0;
    for (int i = 0; i < N; i++) tot += a[i];
    CHECK(tot == 2, "tiny fraction: %zu", tot);
    CHECK(es_t5_select_fraction(a, keys, strata, N, 2, 0.0, &err) == ES_ERR_ARG, "fraction 0");
    CHECK(es_t5_select_fraction(a, keys, strata, N, 2, 1.5, &err) == ES_ERR_ARG, "fraction 1.5");
    strata[5] = 2;
    CHECK(es_t5_select_fraction(a, keys, strata, N, 2, 0.5, &err) == ES_ERR_ARG, "bad stratum");
}

int main(void) {
    spam_texts();
    token_cut();
    fractions();
    TEST_MAIN_END();
}
