/*
 * cmd_quantize.c — `edgeseq quantize IN_DIR OUT_DIR --dtype int8|bf16|f16
 * [--group G]`: writes the reduced-precision form of a T5 folder (library:
 * es_t5_quantize_dir, format in src/quant/t5_quant.h and
 * docs/quantization.md). OUT_DIR loads with every T5 verb (generate,
 * score, info); int8 runs integer GEMMs with dynamic per-row activation
 * scales, bf16 keeps bf16 weights with fp32 sums, f16 is a storage format
 * upcast to fp32 at load. Prints the file sizes and their ratio.
 */
#include "cli.h"
#include "quant/t5_quant.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static long long st_size(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

int cmd_quantize(int argc, char **argv) {
    const char *dtype = NULL;
    int group = 0;
    cli_opt opts[] = {
        {"dtype", 0, CLI_STR, &dtype, 0, 0, "int8|bf16|f16", "weight format (required)", NULL},
        {"group", 0, CLI_INT, &group, 0, ES_T5_LIN_KCHUNK, "G",
         "int8: input columns per scale (0 = one scale per output row; default 0)", NULL},
    };
    cli_help help = {
        "edgeseq quantize IN_DIR OUT_DIR --dtype int8|bf16|f16 [--group G]",
        "Writes OUT_DIR (config.json + model.safetensors + spiece.model) with the T5\n"
        "model IN_DIR in reduced precision. Every projection, the shared embedding and\n"
        "an untied LM head are converted; RMS-norm weights and relative biases stay F32.\n"
        "int8: symmetric codes with F32 scales per output row (or per G input columns);\n"
        "activations are quantized per row at run time (integer GEMM). bf16: weights\n"
        "stay bf16 in memory, fp32 sums. f16: storage only (upcast at load).",
        "  edgeseq quantize /tmp/small /tmp/small-int8 --dtype int8\n"
        "  edgeseq quantize /tmp/small /tmp/small-g64 --dtype int8 --group 64\n"
        "  edgeseq eval-quant /tmp/small /tmp/small-int8"};
    char **pos = NULL;
    int n_pos = 0;
    int rc = cli_parse("quantize", opts, sizeof opts / sizeof opts[0], &help, argc, argv, &pos, &n_pos);
    if (rc == CLI_PARSE_HELP) return CLI_EXIT_OK;
    if (rc != CLI_PARSE_OK) return rc;
    if (n_pos != 2) {
        free(pos);
        return cli_usage("quantize", "expected IN_DIR and OUT_DIR, got %d arguments", n_pos);
    }
    if (!dtype || (strcmp(dtype, "int8") && strcmp(dtype, "bf16") && strcmp(dtype, "f16"))) {
        free(pos);
        return cli_usage("quantize", "--dtype int8|bf16|f16 is required");
    }
    if (group && strcmp(dtype, "int8")) {
        free(pos);
        return cli_usage("quantize", "--group applies to --dtype int8 only");
    }
    const char *in = pos[0], *out = pos[1];
    es_error err;
    uint64_t bytes = 0;
    es_status s = es_t5_quantize_dir(in, out, dtype, group, &bytes, &err);
    if (s) {
        free(pos);
        return cli_fail_err(&err);
    }
    long long a = st_size(in);
    char ba[32], bb[32];
    printf("wrote %s: model.safetensors %s (%s%s) from %s (%s), ratio %.3f\n", out,
           cli_bytes(bb, sizeof bb, bytes), dtype, group ? ", grouped" : "", in,
           cli_bytes(ba, sizeof ba, (uint64_t)(a > 0 ? a : 0)),
           a > 0 ? (double)bytes / (double)a : 0.0);
    free(pos);
    return CLI_EXIT_OK;
}
