/*
 * test_metrics_g2p.c — G2P metrics (src/train/metrics_g2p.c): edit
 * distance against hand values and an independent exhaustive recursion
 * on random short sequences, the stress map on the CMUdict symbol names,
 * and WER / PER with several references, with and without stress, on
 * hand-computed words (each expected number derived in the comment).
 */
#include "test.h"

#include "core/rng.h"
#include "train/metrics_g2p.h"

/* Plain recursion (exponential; only for lengths <= 6): the definition. */
static size_t ed_rec(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    if (na == 0) return nb;
    if (nb == 0) return na;
    size_t sub = ed_rec(a, na - 1, b, nb - 1) + (a[na - 1] != b[nb - 1]);
    size_t del = ed_rec(a, na - 1, b, nb) + 1;
    size_t ins = ed_rec(a, na, b, nb - 1) + 1;
    size_t m = sub < del ? sub : del;
    return m < ins ? m : ins;
}

static void edit_distance(void) {
    size_t work[64];
    /* kitten → sitting: 3 (k→s, e→i, +g) */
    int32_t k[] = {'k', 'i', 't', 't', 'e', 'n'}, s[] = {'s', 'i', 't', 't', 'i', 'n', 'g'};
    CHECK(es_g2p_edit_distance(k, 6, s, 7, work) == 3, "kitten");
    CHECK(es_g2p_edit_distance(s, 7, k, 6, work) == 3, "symmetric");
    CHECK(es_g2p_edit_distance(k, 0, s, 7, work) == 7, "empty a");
    CHECK(es_g2p_edit_distance(k, 6, s, 0, work) == 6, "empty b");
    CHECK(es_g2p_edit_distance(k, 6, k, 6, work) == 0, "equal");
    es_rng r;
    es_rng_seed(&r, 7);
    int bad = 0;
    for (int t = 0; t < 2000; t++) {
        int32_t a[6], b[6];
        size_t na = (size_t)es_rng_below(&r, 7), nb = (size_t)es_rng_below(&r, 7);
        for (size_t i = 0; i < na; i++) a[i] = (int32_t)es_rng_below(&r, 3);
        for (size_t i = 0; i < nb; i++) b[i] = (int32_t)es_rng_below(&r, 3);
        bad += es_g2p_edit_distance(a, na, b, nb, work) != ed_rec(a, na, b, nb);
    }
    CHECK(bad == 0, "%d of 2000 random pairs differ from the recursion", bad);
}

/* A small phone inventory in CMUdict order. */
static const char *const SYM[] = {"AH", "AH0", "AH1", "AH2", "B", "EY1", "EY2", "K", "T", "IY0",
                                  "IY1", "M", "OW1", "AA1", "AA0"};
enum { AH, AH0, AH1, AH2, B, EY1, EY2, K, T, IY0, IY1, M, OW1, AA1, AA0, NSYM };

static void stress_map(void) {
    int32_t map[NSYM];
    es_g2p_stress_map(map, SYM, NSYM);
    CHECK(map[AH] == AH && map[AH0] == AH && map[AH1] == AH && map[AH2] == AH, "AH class");
    CHECK(map[EY1] == EY1 && map[EY2] == EY1, "EY class (no stress-free symbol)");
    CHECK(map[B] == B && map[K] == K && map[T] == T, "consonants");
    CHECK(map[AA1] == AA1 && map[AA0] == AA1, "AA class");
    for (int i = 0; i < NSYM; i++) CHECK(map[map[i]] == map[i], "idempotent %d", i);
    const char *const digits[] = {"1", "12", "AH0"};
    int32_t m2[3];
    es_g2p_stress_map(m2, digits, 3);
    CHECK(m2[0] == 0 && m2[1] == 1 && m2[2] == 2, "all-digit names keep their own class");
}

static void word_scores(void) {
    int32_t map[NSYM];
    es_g2p_stress_map(map, SYM, NSYM);
    es_g2p_metrics m;
    memset(&m, 0, sizeof m);
    es_error err = {0};
    bool ok1 = true, ok2 = true;

    /* word 1 "tomato": refs T AH0 M EY1 T OW1 | T AH0 M AA1 T OW1.
     * pred T AH0 M AA1 T OW1 = ref 2: correct both ways, 0 edits, len 6. */
    int32_t r1a[] = {T, AH0, M, EY1, T, OW1}, r1b[] = {T, AH0, M, AA1, T, OW1};
    const int32_t *r1[] = {r1a, r1b};
    size_t l1[] = {6, 6};
    int32_t p1[] = {T, AH0, M, AA1, T, OW1};
    CHECK(es_g2p_metrics_add(&m, p1, 6, r1, l1, 2, map, NSYM, &ok1, &ok2, &err) == ES_OK && ok1 &&
              ok2, "word 1");

    /* word 2 "bay": refs B EY1 | B EY2 IY0 (hypothetical).
     * pred B EY2: with stress ED to ref1 = 1 (sub), to ref2 = 1 (del) → tie,
     * the first wins: edits 1, len 2; wrong. Stress removed: EY2 → EY1,
     * pred = ref1 → correct, 0 edits, len 2. */
    int32_t r2a[] = {B, EY1}, r2b[] = {B, EY2, IY0};
    const int32_t *r2[] = {r2a, r2b};
    size_t l2[] = {2, 3};
    int32_t p2[] = {B, EY2};
    CHECK(es_g2p_metrics_add(&m, p2, 2, r2, l2, 2, map, NSYM, &ok1, &ok2, &err) == ES_OK && !ok1 &&
              ok2, "word 2");

    /* word 3 "cat": ref K AH1 T (one variant); pred K AH0 M T IY1
     * with stress: sub AH1→AH0, +M, +IY1 → 3 edits, len 3.
     * stress removed: AH0 ≡ AH1 → +M, +IY1 → 2 edits, len 3. Wrong both. */
    int32_t r3a[] = {K, AH1, T};
    const int32_t *r3[] = {r3a};
    size_t l3[] = {3};
    int32_t p3[] = {K, AH0, M, T, IY1};
    CHECK(es_g2p_metrics_add(&m, p3, 5, r3, l3, 1, map, NSYM, &ok1, &ok2, &err) == ES_OK && !ok1 &&
              !ok2, "word 3");

    /* word 4: empty prediction, refs AH0 | AH1 B: closest = AH0 (1 edit,
     * len 1) with stress; stress removed also AH (1 edit, len 1). */
    int32_t r4a[] = {AH0}, r4b[] = {AH1, B};
    const int32_t *r4[] = {r4a, r4b};
    size_t l4[] = {1, 2};
    CHECK(es_g2p_metrics_add(&m, NULL, 0, r4, l4, 2, map, NSYM, &ok1, &ok2, &err) == ES_OK && !ok1 &&
              !ok2, "word 4");

    /* word 5: an unknown predicted symbol (-1) matches nothing:
     * ref B → 1 substitution, len 1, both ways. */
    int32_t r5a[] = {B};
    const int32_t *r5[] = {r5a};
    size_t l5[] = {1};
    int32_t p5[] = {-1};
    CHECK(es_g2p_metrics_add(&m, p5, 1, r5, l5, 1, map, NSYM, NULL, NULL, &err) == ES_OK, "word 5");

    /* with stress: wrong 2,3,4,5 → 4/5; edits 0+1+3+1+1 = 6, len 6+2+3+1+1 = 13
     * stress removed: wrong 3,4,5 → 3/5; edits 0+0+2+1+1 = 4, len 13 */
    CHECK(m.stress.n_words == 5 && m.stress.n_wrong == 4 && m.stress.edits == 6 &&
              m.stress.ref_len == 13, "stress %zu %zu %zu %zu", m.stress.n_words, m.stress.n_wrong,
          m.stress.edits, m.stress.ref_len);
    CHECK(m.nostress.n_words == 5 && m.nostress.n_wrong == 3 && m.nostress.edits == 4 &&
              m.nostress.ref_len == 13, "nostress %zu %zu %zu %zu", m.nostress.n_words,
          m.nostress.n_wrong, m.nostress.edits, m.nostress.ref_len);
    CHECK(fabs(es_g2p_wer(&m.stress) - 0.8) < 1e-15 && fabs(es_g2p_per(&m.stress) - 6.0 / 13) < 1e-15,
          "rates");
    CHECK(fabs(es_g2p_wer(&m.nostress) - 0.6) < 1e-15 &&
              fabs(es_g2p_per(&m.nostress) - 4.0 / 13) < 1e-15, "rates nostress");

    /* errors leave m unchanged */
    es_g2p_metrics before = m;
    int32_t rbad[] = {B, NSYM};
    const int32_t *rb[] = {rbad};
    size_t lb[] = {2};
    CHECK(es_g2p_metrics_add(&m, p1, 6, rb, lb, 1, map, NSYM, NULL, NULL, &err) == ES_ERR_ARG &&
              strstr(err.msg, "position 1"), "bad ref: %s", err.msg);
    CHECK(es_g2p_metrics_add(&m, p1, 6, rb, lb, 0, map, NSYM, NULL, NULL, &err) == ES_ERR_ARG,
          "no refs");
    CHECK(memcmp(&before, &m, sizeof m) == 0, "unchanged on error");
    es_g2p_score z = {0};
    CHECK(es_g2p_wer(&z) == 0.0 && es_g2p_per(&z) == 0.0, "empty score");
}

/* Long sequences and many references take the heap path; same answer as
 * the stack path on the same content, and NOMEM is clean. */
static void long_inputs(void) {
    int32_t map[NSYM];
    es_g2p_stress_map(map, SYM, NSYM);
    enum { L = 600, NR = 10 };
    static int32_t refs_buf[NR][L], pred[L];
    const int32_t *refs[NR];
    size_t lens[NR];
    for (int r = 0; r < NR; r++) {
        for (int t = 0; t < L; t++) refs_buf[r][t] = (t * 7 + r) % NSYM;
        refs[r] = refs_buf[r];
        lens[r] = L;
    }
    for (int t = 0; t < L; t++) pred[t] = refs_buf[3][t];
    pred[100] = (pred[100] + 1) % NSYM;
    es_g2p_metrics m;
    memset(&m, 0, sizeof m);
    es_error err = {0};
    bool ok1, ok2;
    CHECK(es_g2p_metrics_add(&m, pred, L, refs, lens, NR, map, NSYM, &ok1, &ok2, &err) == ES_OK,
          "long: %s", err.msg);
    CHECK(m.stress.edits == 1 && m.stress.ref_len == L && !ok1, "long edits %zu", m.stress.edits);
    es_g2p_metrics m2;
    memset(&m2, 0, sizeof m2);
    es_test_fail_alloc_after(1);
    es_status st = es_g2p_metrics_add(&m2, pred, L, refs, lens, NR, map, NSYM, NULL, NULL, &err);
    es_test_fail_alloc_after(0);
    CHECK(st == ES_ERR_NOMEM && m2.stress.n_words == 0, "nomem");
}

int main(void) {
    edit_distance();
    stress_map();
    word_scores();
    long_inputs();
    TEST_MAIN_END();
}
