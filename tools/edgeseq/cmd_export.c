/*
 * cmd_export.c — `edgeseq export MODEL OUT --int8`: writes the int8 form
 * of a byte classifier trained with quantization-aware training (config
 * "qat" block): every weight matrix as I8 codes + F32 per-row scales, the
 * EMA activation ranges, biases and norms F32 (library:
 * es_byte_model_export_int8, format in docs/quantization.md). The folder
 * loads with es_model_load / every byte-classifier verb, which then run
 * the integer GEMM path. Prints the file sizes and their ratio.
 * Byte seq2seq models (model_type "edgeseq-byte-seq2seq", e.g. the G2P
 * model after a QAT fine-tune) go through es_s2s_model_export_int8 and
 * then generate / eval on the integer decoder path (src/quant/s2s_qat.h).
 */
#include "cli.h"
#include "io/fileio.h"
#include "model/byte_seq2seq.h"
#include "quant/byte_qat.h"
#include "quant/s2s_qat.h"

#include <json-c/json.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* 1 if dir/config.json names a byte seq2seq model (errors: 0, and the
 * classifier loader reports them). */
static int is_seq2seq(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_object *o = json_object_from_file(p), *v = NULL;
    int yes = o && json_object_object_get_ex(o, "model_type", &v) &&
              json_object_get_type(v) == json_type_string &&
              strcmp(json_object_get_string(v), "edgeseq-byte-seq2seq") == 0;
    json_object_put(o);
    return yes;
}

static long long file_size(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

int cmd_export(int argc, char **argv) {
    bool int8 = false;
    cli_opt opts[] = {
        {"int8", 0, CLI_FLAG, &int8, 0, 0, NULL,
         "write int8 weights + F32 scales and activation ranges (required; the only format)", NULL},
    };
    cli_help help = {
        "edgeseq export MODEL OUT --int8",
        "Writes OUT (a model folder) with the int8 form of the byte classifier or byte\n"
        "seq2seq model MODEL.\n"
        "MODEL must have been trained with a \"qat\" block in its config (quantization-\n"
        "aware training: fake-quantized weights and EMA activation ranges); OUT then\n"
        "reproduces MODEL's eval outputs within a few uint8 steps, with integer GEMMs.",
        "  edgeseq export out/spam-qat/best /tmp/spam-int8 --int8\n"
        "  edgeseq eval -m /tmp/spam-int8 --data data --split test\n"
        "  edgeseq export out/g2p-qat/best /tmp/g2p-int8 --int8\n"
        "  edgeseq eval -m /tmp/g2p-int8 --task g2p --split dev"};
    char **pos = NULL;
    int n_pos = 0;
    int rc = cli_parse("export", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos != 2) {
        free(pos);
        return cli_usage("export", "expected MODEL and OUT, got %d arguments", n_pos);
    }
    if (!int8) {
        free(pos);
        return cli_usage("export", "--int8 is required (the only export format)");
    }
    const char *in = pos[0], *out = pos[1];
    es_error err;
    es_status s;
    if (is_seq2seq(in)) {
        es_s2s_model *sm = NULL;
        s = es_s2s_model_load_dir(&sm, in, &err);
        if (!s) s = es_s2s_model_export_int8(sm, out, &err);
        es_s2s_model_free(sm);
    } else {
        es_byte_model *m = NULL;
        s = es_byte_model_load_dir(&m, in, &err);
        if (!s) s = es_byte_model_export_int8(m, out, &err);
        es_byte_model_free(m);
    }
    if (s) {
        free(pos);
        return cli_fail_err(&err);
    }
    long long a = file_size(in), b = file_size(out);
    char ba[32], bb[32];
    printf("wrote %s: model.safetensors %s (int8) from %s (%s), ratio %.3f\n", out,
           cli_bytes(bb, sizeof bb, (uint64_t)(b > 0 ? b : 0)), in,
           cli_bytes(ba, sizeof ba, (uint64_t)(a > 0 ? a : 0)), a > 0 ? (double)b / (double)a : 0.0);
    free(pos);
    return CLI_EXIT_OK;
}
