/*
 * cmd_info.c — `edgeseq info MODEL [--json]`: what a model folder holds.
 *
 * Loads the model through the library (so `info` succeeding means the
 * folder is usable) and prints its configuration, the unique parameter
 * count (tied embedding once, the count Hugging Face reports), the stored
 * dtype of the big matrices and the sizes of the folder's files.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *arch_name(es_arch a) {
    switch (a) {
    case ES_ARCH_T5: return "t5";
    case ES_ARCH_BYTE_CLASSIFIER: return "byte-classifier";
    case ES_ARCH_BYTE_SEQ2SEQ: return "byte-seq2seq";
    }
    return "unknown";
}

static const char *ffn_name(es_ffn_kind f) {
    switch (f) {
    case ES_FFN_RELU: return "relu";
    case ES_FFN_GELU: return "gelu";
    case ES_FFN_GATED_GELU: return "gated-gelu";
    case ES_FFN_GATED_RELU: return "gated-relu";
    }
    return "unknown";
}

/* Files of a model folder worth listing (those that exist are shown). */
static const char *const k_files[] = {
    "config.json",          "generation_config.json",
    "model.safetensors",    "model.safetensors.index.json",
    "pytorch_model.bin",    "pytorch_model.bin.index.json",
    "spiece.model",         "tokenizer_config.json",
    "special_tokens_map.json",
};

static bool file_size(const char *dir, const char *name, uint64_t *size) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) return false;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    *size = (uint64_t)st.st_size;
    return true;
}

static void print_text(const char *dir, const es_model_info *mi, bool has_tok, int32_t tok_vocab) {
    char b1[64], b2[64];
    printf("model:          %s\n", dir);
    printf("architecture:   %s\n", arch_name(mi->arch));
    printf("parameters:     %s\n", cli_thousands(b1, sizeof b1, mi->n_params));
    printf("stored dtype:   %s\n", es_dtype_name(mi->stored_dtype));
    printf("weights file:   %s (%s)\n", mi->weights_file ? mi->weights_file : "?",
           cli_bytes(b2, sizeof b2, mi->file_bytes));
    if (mi->arch == ES_ARCH_T5) {
        printf("vocab_size:     %d\n", mi->vocab_size);
        printf("d_model:        %d\n", mi->d_model);
        printf("d_kv:           %d\n", mi->d_kv);
        printf("d_ff:           %d\n", mi->d_ff);
        printf("num_heads:      %d\n", mi->n_heads);
        printf("layers:         %d encoder, %d decoder\n", mi->n_layers, mi->n_decoder_layers);
        printf("feed-forward:   %s\n", ffn_name(mi->ffn));
        printf("tied embedding: %s\n", mi->tie_word_embeddings ? "yes" : "no");
        printf("rel. attention: %d buckets, max distance %d\n", mi->rel_buckets,
               mi->rel_max_distance);
        printf("layer_norm_eps: %g\n", (double)mi->layer_norm_eps);
        printf("special ids:    pad %d, eos %d, decoder start %d\n", mi->pad_id, mi->eos_id,
               mi->decoder_start_id);
    }
    if (has_tok)
        printf("tokenizer:      spiece.model (%d ids incl. extra ids)\n", tok_vocab);
    else
        printf("tokenizer:      none (no spiece.model)\n");
    printf("this machine:   %s\n", es_system_info());
    printf("files:\n");
    for (size_t i = 0; i < sizeof k_files / sizeof k_files[0]; i++) {
        uint64_t sz;
        if (file_size(dir, k_files[i], &sz))
            printf("  %-30s %15s bytes  (%s)\n", k_files[i], cli_thousands(b1, sizeof b1, sz),
                   cli_bytes(b2, sizeof b2, sz));
    }
}

static void print_json(const char *dir, const es_model_info *mi, bool has_tok, int32_t tok_vocab) {
    printf("{\"model\": ");
    cli_json_str(stdout, dir, strlen(dir));
    printf(", \"architecture\": \"%s\", \"n_params\": %llu, \"stored_dtype\": \"%s\"",
           arch_name(mi->arch), (unsigned long long)mi->n_params, es_dtype_name(mi->stored_dtype));
    printf(", \"weights_file\": ");
    const char *wf = mi->weights_file ? mi->weights_file : "";
    cli_json_str(stdout, wf, strlen(wf));
    printf(", \"weights_bytes\": %llu", (unsigned long long)mi->file_bytes);
    if (mi->arch == ES_ARCH_T5) {
        printf(", \"config\": {\"vocab_size\": %d, \"d_model\": %d, \"d_kv\": %d, \"d_ff\": %d, "
               "\"num_heads\": %d, \"num_layers\": %d, \"num_decoder_layers\": %d, "
               "\"feed_forward_proj\": \"%s\", \"tie_word_embeddings\": %s, "
               "\"relative_attention_num_buckets\": %d, \"relative_attention_max_distance\": %d, "
               "\"layer_norm_epsilon\": ",
               mi->vocab_size, mi->d_model, mi->d_kv, mi->d_ff, mi->n_heads, mi->n_layers,
               mi->n_decoder_layers, ffn_name(mi->ffn), mi->tie_word_embeddings ? "true" : "false",
               mi->rel_buckets, mi->rel_max_distance);
        cli_json_num(stdout, (double)mi->layer_norm_eps);
        printf(", \"pad_token_id\": %d, \"eos_token_id\": %d, \"decoder_start_token_id\": %d}",
               mi->pad_id, mi->eos_id, mi->decoder_start_id);
    }
    if (has_tok)
        printf(", \"tokenizer_vocab_size\": %d", tok_vocab);
    else
        printf(", \"tokenizer_vocab_size\": null");
    printf(", \"files\": {");
    bool first = true;
    for (size_t i = 0; i < sizeof k_files / sizeof k_files[0]; i++) {
        uint64_t sz;
        if (file_size(dir, k_files[i], &sz)) {
            printf("%s\"%s\": %llu", first ? "" : ", ", k_files[i], (unsigned long long)sz);
            first = false;
        }
    }
    printf("}}\n");
}

int cmd_info(int argc, char **argv) {
    bool json = false;
    int threads = 0;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, &json, 0, 0, NULL, "print one JSON object instead of text", NULL},
        {"threads", 't', CLI_INT, &threads, 0, 4096, "N",
         "threads used while loading (default: physical cores)", NULL},
    };
    const cli_help help = {
        "edgeseq info [--json] MODEL",
        "Loads the model folder MODEL (config.json + model.safetensors, optional\n"
        "spiece.model) and prints its configuration, the number of unique parameters\n"
        "(tied embedding counted once), the stored dtype of the weights and the sizes\n"
        "of the folder's files. Loading fully validates the weights, so success means\n"
        "the folder is usable by 'generate' and 'score'.",
        "  edgeseq info models/t5-efficient-small\n"
        "  edgeseq info --json models/t5-efficient-small | jq .n_params",
    };
    char **pos;
    int n_pos;
    int rc = cli_parse("info", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos != 1) {
        free(pos);
        return cli_usage("info", n_pos == 0 ? "missing MODEL folder" : "expected one MODEL, got %d",
                         n_pos);
    }
    const char *dir = pos[0];
    free(pos);

    es_model *m = NULL;
    rc = cli_load_model(dir, threads, &m);
    if (rc) return rc;
    const es_model_info *mi = es_model_get_info(m);
    const es_tokenizer *tok = es_model_tokenizer(m);
    int32_t tv = tok ? es_tokenizer_vocab_size(tok) : 0;
    if (json)
        print_json(dir, mi, tok != NULL, tv);
    else
        print_text(dir, mi, tok != NULL, tv);
    es_model_free(m);
    return CLI_EXIT_OK;
}
