/*
 * cmd_eval_t5.c — `edgeseq eval` of a T5 model on the text-to-text forms of
 * the spam and G2P tasks (src/train/t5_tasks.h):
 *
 *   --task spam  every message of the split as "spam: SUBJECT | BODY" (cut
 *                at a space to --max-src-len tokens, the same cut as
 *                `data t5-jsonl --spm`), scored twice with es_session_score;
 *                score = log p("spam") − log p("ham"). ROC-AUC of the score
 *                (metrics.c, exact Mann–Whitney), accuracy / precision /
 *                recall / F1 at score >= 0 (the more likely label).
 *   --task g2p   every word of the split as "phonemes: word", greedy or
 *                --beam K generation, WER / PER with and without stress
 *                (metrics_g2p.c) against all variants; --fraction F --seed S
 *                scores the seeded word subset `data t5-jsonl` would pick.
 *
 * Times are model time only (wall and process CPU) and per item.
 */
#include "eval_t5.h"

#include "train/t5_tasks.h"

#include <stdlib.h>
#include <string.h>

bool eval_t5_is_t5(const char *dir) {
    es_model *m = NULL;
    es_error err = {0};
    es_load_params lp = es_load_params_default();
    lp.n_threads = 1;
    if (es_model_load(&m, dir, &lp, &err)) return false;
    bool t5 = es_model_get_info(m)->arch == ES_ARCH_T5;
    es_model_free(m);
    return t5;
}

static void print_g2p_error(void *user, const es_cmudict *d, size_t w, const char *pred,
                            bool ok_stress, bool ok_nostress) {
    FILE *f = user;
    (void)ok_nostress;
    if (ok_stress) return;
    const es_cmu_word *x = &d->words[w];
    fprintf(f, "%s\t%s\t", (const char *)d->text + x->lower, pred);
    for (uint32_t r = 0; r < x->n_prons; r++) {
        const es_cmu_pron *p = &d->prons[x->first_pron + r];
        for (uint32_t i = 0; i < p->len; i++)
            fprintf(f, "%s%s", i ? " " : "", d->symbols[d->ids[p->off + i]]);
        fputs(r + 1 < x->n_prons ? " | " : "\n", f);
    }
}

static void json_kv(const char *key, double v) {
    printf(", \"%s\": ", key);
    cli_json_num(stdout, v);
}

static es_status run_spam(const eval_t5_opts *o, es_split split, es_session *s,
                          const es_tokenizer *tok, es_error *err) {
    es_text_dataset *d = NULL;
    es_t5_spam_eval ev;
    es_status st = es_data_spam_list(&d, o->data, err);
    /* headers can be long; 64 KiB reaches the body of every corpus message */
    if (!st) st = es_text_dataset_load(d, split, 1u << 16, err);
    if (!st)
        st = es_t5_spam_evaluate(&ev, s, tok, d, split, o->max_src_len, (size_t)o->max_body,
                                 NULL, err);
    es_text_dataset_free(d);
    if (st) return st;
    const es_binary_metrics *m = &ev.bin;
    if (o->json) {
        printf("{\"model\": ");
        cli_json_str(stdout, o->model, strlen(o->model));
        printf(", \"arch\": \"t5\", \"task\": \"spam\", \"split\": \"%s\", \"n\": %zu, \"n_pos\": "
               "%lld, \"n_neg\": %lld",
               es_split_name(split), ev.n, (long long)m->n_pos, (long long)m->n_neg);
        json_kv("roc_auc", m->auc);
        json_kv("accuracy", m->accuracy);
        json_kv("precision", m->precision);
        json_kv("recall", m->recall);
        json_kv("f1", m->f1);
        printf(", \"confusion\": {\"tn\": %lld, \"fp\": %lld, \"fn\": %lld, \"tp\": %lld}",
               (long long)m->tn, (long long)m->fp, (long long)m->fn, (long long)m->tp);
        printf(", \"max_src_len\": %d, \"max_body\": %d, \"n_cut\": %zu", o->max_src_len,
               o->max_body, ev.n_cut);
        json_kv("mean_src_tokens", ev.mean_src_tokens);
        json_kv("seconds", ev.seconds);
        json_kv("cpu_seconds", ev.cpu_seconds);
        json_kv("ms_per_message", 1e3 * ev.seconds / (double)ev.n);
        printf("}\n");
    } else {
        printf("model:      %s (T5)\n", o->model);
        printf("data:       %s, split %s: %zu messages (%lld ham, %lld spam)\n", o->data,
               es_split_name(split), ev.n, (long long)m->n_neg, (long long)m->n_pos);
        printf("input:      \"spam: SUBJECT | BODY\", <= %d tokens (%zu cut), mean %.1f\n",
               o->max_src_len, ev.n_cut, ev.mean_src_tokens);
        printf("ROC-AUC:    %.6f  (score = log p(spam) - log p(ham))\n", m->auc);
        printf("accuracy:   %.6f  (spam if score >= 0)\n", m->accuracy);
        printf("precision:  %.6f\n", m->precision);
        printf("recall:     %.6f\n", m->recall);
        printf("F1:         %.6f\n", m->f1);
        printf("confusion:  tn %lld fp %lld fn %lld tp %lld\n", (long long)m->tn,
               (long long)m->fp, (long long)m->fn, (long long)m->tp);
        printf("time:       %.3f ms/message wall, %.3f ms/message CPU\n",
               1e3 * ev.seconds / (double)ev.n, 1e3 * ev.cpu_seconds / (double)ev.n);
    }
    return ES_OK;
}

static es_status run_g2p(const eval_t5_opts *o, es_split split, es_session *s,
                         const es_tokenizer *tok, es_error *err) {
    es_cmudict *d = NULL;
    FILE *ef = NULL;
    es_status st = es_cmudict_load(&d, o->data, err);
    if (!st && o->errors_path && !(ef = fopen(o->errors_path, "w")))
        st = es_errf(err, ES_ERR_IO, "%s: cannot open for writing", o->errors_path);
    es_gen_params gp = es_gen_params_default();
    gp.max_new_tokens = 128;
    if (o->beam > 0) {
        gp.method = ES_DECODE_BEAM;
        gp.num_beams = o->beam;
        gp.num_return = 1;
    } else {
        gp.method = ES_DECODE_GREEDY;
    }
    es_g2p_eval ev;
    bool *mask = NULL;
    if (!st && o->fraction < 1) {
        mask = es_calloc(d->n_words ? d->n_words : 1, sizeof *mask);
        st = mask ? es_t5_g2p_word_mask(mask, d, split, o->fraction, o->seed, err)
                  : es_errf(err, ES_ERR_NOMEM, "out of memory");
    }
    if (!st)
        st = es_t5_g2p_evaluate(&ev, s, tok, d, split, mask, &gp, (size_t)o->limit,
                                ef ? print_g2p_error : NULL, ef, err);
    es_free(mask);
    if (ef && fclose(ef) != 0 && !st)
        st = es_errf(err, ES_ERR_IO, "%s: write failed", o->errors_path);
    es_cmudict_free(d);
    if (st) return st;
    const es_g2p_score *a = &ev.m.stress, *b = &ev.m.nostress;
    size_t n = a->n_words;
    char dec[32];
    if (o->beam > 0) snprintf(dec, sizeof dec, "beam %d", o->beam);
    else snprintf(dec, sizeof dec, "greedy");
    if (o->json) {
        printf("{\"model\": ");
        cli_json_str(stdout, o->model, strlen(o->model));
        printf(", \"arch\": \"t5\", \"task\": \"g2p\", \"split\": \"%s\", \"n_words\": %zu, "
               "\"limit\": %d, \"fraction\": %g, \"seed\": %llu, \"decoding\": \"%s\"",
               es_split_name(split), n, o->limit, o->fraction, (unsigned long long)o->seed, dec);
        json_kv("wer", es_g2p_wer(a));
        json_kv("per", es_g2p_per(a));
        json_kv("wer_no_stress", es_g2p_wer(b));
        json_kv("per_no_stress", es_g2p_per(b));
        printf(", \"words_wrong\": %zu, \"words_wrong_no_stress\": %zu, \"phone_edits\": %zu, "
               "\"phone_edits_no_stress\": %zu, \"ref_phones\": %zu, \"ref_phones_no_stress\": "
               "%zu, \"unknown_symbols\": %zu",
               a->n_wrong, b->n_wrong, a->edits, b->edits, a->ref_len, b->ref_len, ev.n_unknown);
        json_kv("ms_per_word", 1e3 * ev.seconds / (double)n);
        json_kv("cpu_ms_per_word", 1e3 * ev.cpu_seconds / (double)n);
        printf("}\n");
    } else {
        printf("model:      %s (T5)\n", o->model);
        printf("data:       %s (CMUdict), split %s: %zu words%s", o->data, es_split_name(split),
               n, o->limit > 0 ? " (--limit)" : "");
        if (o->fraction < 1)
            printf(" (--fraction %g --seed %llu)", o->fraction, (unsigned long long)o->seed);
        printf("\n");
        printf("decoding:   %s, input \"phonemes: word\" (lower case)\n", dec);
        printf("WER:        %.4f%%  (%zu words wrong; stress removed: %.4f%%, %zu)\n",
               100 * es_g2p_wer(a), a->n_wrong, 100 * es_g2p_wer(b), b->n_wrong);
        printf("PER:        %.4f%%  (%zu edits / %zu phones; stress removed: %.4f%%, %zu / %zu)\n",
               100 * es_g2p_per(a), a->edits, a->ref_len, 100 * es_g2p_per(b), b->edits,
               b->ref_len);
        if (ev.n_unknown)
            printf("unknown:    %zu predicted symbols not in the dictionary's list\n", ev.n_unknown);
        printf("time:       %.3f ms/word wall, %.3f ms/word CPU\n", 1e3 * ev.seconds / (double)n,
               1e3 * ev.cpu_seconds / (double)n);
    }
    return ES_OK;
}

int eval_t5_run(const eval_t5_opts *o) {
    es_error err = {0};
    es_split split;
    if (es_split_parse(&split, o->split_name, &err)) return cli_usage("eval", "%s", err.msg);
    bool spam = strcmp(o->task, "spam") == 0;
    if (!spam && strcmp(o->task, "g2p") != 0) return cli_usage("eval", "--task must be spam or g2p");
    es_model *m = NULL;
    es_session *s = NULL;
    es_load_params lp = es_load_params_default();
    es_status st = es_model_load(&m, o->model, &lp, &err);
    const es_tokenizer *tok = st ? NULL : es_model_tokenizer(m);
    if (!st && !tok)
        st = es_errf(&err, ES_ERR_ARG, "%s: T5 model folder without spiece.model", o->model);
    if (!st) {
        es_session_params sp = es_session_params_default();
        sp.max_batch = o->beam > 0 ? o->beam : 1;
        sp.max_src_len = spam ? o->max_src_len : 512;
        sp.max_tgt_len = spam ? 16 : 130;
        sp.n_threads = o->threads;
        st = es_session_new(&s, m, &sp, &err);
    }
    if (!st) st = spam ? run_spam(o, split, s, tok, &err) : run_g2p(o, split, s, tok, &err);
    es_session_free(s);
    es_model_free(m);
    return st ? cli_fail_err(&err) : CLI_EXIT_OK;
}
