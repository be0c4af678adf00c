/*
 * edgeseq.h — the one public header of libedgeseq.
 *
 * libedgeseq trains, quantizes and runs small sequence models on CPUs:
 * Hugging Face T5 / T5-Efficient checkpoints (SentencePiece tokenizer,
 * encoder, decoder with KV cache, greedy / beam / sampling, scoring) and
 * byte-stream models after SeqFlowLite (ByteQRNN, ByteTransformer,
 * ByteFunnelTransformer encoders; merged-attention decoder).
 *
 * Conventions (they hold for every function below):
 *  - Every fallible call returns es_status: ES_OK (0) or a negative code.
 *    Functions without a handle take an optional `es_error *err` that
 *    receives a one-line message naming the file, tensor, position.
 *    Functions on a handle keep the last message in the handle
 *    (es_session_errmsg, ...).
 *  - Constructors hand the object out through `T **out`; on failure *out is
 *    set to NULL and err says why.
 *  - The library never exits, aborts or prints because of its input.
 *    Diagnostics go through the log callback (es_set_log).
 *  - Caller-owned output buffers: when a buffer is too small the call returns
 *    ES_ERR_BUFFER and stores the size needed in the *n_out argument.
 *  - Borrowed pointers (results, logits) stay valid until the next call on
 *    the same handle, or until it is freed.
 *  - Thread safety: es_model and es_tokenizer are immutable after load and
 *    may be shared by threads; es_session and es_trainer are used by one
 *    thread at a time.
 *  - Text is UTF-8, passed as pointer + length (NUL bytes are allowed).
 *  - Parameter structs are created with es_*_params_default(); fields are
 *    only ever appended, so code compiled against an older header works.
 *
 * This header is C99 and compiles as C++.
 */
#ifndef EDGESEQ_H
#define EDGESEQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(ES_BUILD_SHARED)
#define ES_API __declspec(dllexport)
#elif defined(__GNUC__)
#define ES_API __attribute__((visibility("default")))
#else
#define ES_API
#endif

#define ES_VERSION_MAJOR 0
#define ES_VERSION_MINOR 1
#define ES_VERSION_PATCH 0
#define ES_VERSION_STRING "0.1.0"

/* Version of the on-disk format written into safetensors __metadata__
 * ("edgeseq_format"). Readers refuse files with a newer major version. */
#define ES_FORMAT_VERSION 1

/* ------------------------------------------------------------------------ */
/* Status and errors                                                        */
/* ------------------------------------------------------------------------ */

typedef enum es_status {
    ES_OK = 0,
    ES_ERR_NOMEM = -1,       /* allocation failed */
    ES_ERR_IO = -2,          /* open/read/write/mmap failed (errno in message) */
    ES_ERR_FORMAT = -3,      /* malformed or hostile file content */
    ES_ERR_SHAPE = -4,       /* tensor shape or size does not match */
    ES_ERR_UNSUPPORTED = -5, /* valid but not supported (dtype, architecture) */
    ES_ERR_ARG = -6,         /* invalid argument from the caller */
    ES_ERR_CANCELLED = -7,   /* a progress callback asked to stop */
    ES_ERR_BUFFER = -8,      /* output buffer too small; size needed returned */
    ES_ERR_INTERNAL = -9     /* invariant broken: a bug, please report */
} es_status;

/* Static English description of a status code; never NULL. */
ES_API const char *es_status_str(es_status s);

/* Run-time version string, e.g. "0.1.0". */
ES_API const char *es_version(void);

/* One line describing the CPU features detected and the kernel set in use
 * (e.g. "kernels avx2; ..."); static storage, thread-safe. EDGESEQ_ISA=ref|avx2|avx512
 * in the environment forces a kernel set (falls back when the CPU lacks it). */
ES_API const char *es_system_info(void);

#define ES_ERROR_MSG_MAX 512

/* Caller-owned error record. `msg` is always NUL-terminated (empty when
 * code == ES_OK). Pass NULL where an error record is optional. */
typedef struct es_error {
    es_status code;
    char msg[ES_ERROR_MSG_MAX];
} es_error;

/* ------------------------------------------------------------------------ */
/* Allocator hook and logging (process-wide; set before any other call)     */
/* ------------------------------------------------------------------------ */

typedef struct es_allocator {
    void *(*alloc)(void *user, size_t size);           /* 64-byte aligned not required */
    void *(*realloc)(void *user, void *ptr, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} es_allocator;

/* Installs an allocator (NULL restores malloc/realloc/free). Not thread-safe:
 * call once before creating objects. */
ES_API void es_set_allocator(const es_allocator *a);

typedef enum es_log_level {
    ES_LOG_DEBUG = 0,
    ES_LOG_INFO = 1,
    ES_LOG_WARN = 2,
    ES_LOG_ERROR = 3
} es_log_level;

typedef void (*es_log_fn)(void *user, es_log_level level, const char *msg);

/* Installs a log callback (NULL = discard). The library never writes to
 * stdout/stderr itself. */
ES_API void es_set_log(es_log_fn fn, void *user);

/* ------------------------------------------------------------------------ */
/* Data types                                                               */
/* ------------------------------------------------------------------------ */

typedef enum es_dtype {
    ES_DTYPE_F32 = 0,
    ES_DTYPE_F16 = 1,
    ES_DTYPE_BF16 = 2,
    ES_DTYPE_I8 = 3,
    ES_DTYPE_U8 = 4,
    ES_DTYPE_I16 = 5,
    ES_DTYPE_I32 = 6,
    ES_DTYPE_I64 = 7,
    ES_DTYPE_F64 = 8,
    ES_DTYPE_BOOL = 9,
    ES_DTYPE_COUNT
} es_dtype;

/* Size of one element in bytes (0 for an invalid dtype). */
ES_API size_t es_dtype_size(es_dtype t);
/* Safetensors name ("F32", "BF16", ...); "?" for an invalid dtype. */
ES_API const char *es_dtype_name(es_dtype t);

/* ------------------------------------------------------------------------ */
/* Tokenizer (SentencePiece unigram, loadable on its own)                   */
/* ------------------------------------------------------------------------ */

typedef struct es_tokenizer es_tokenizer;

/* Loads a SentencePiece model file (spiece.model). The tokenizer appends
 * `n_extra_ids` sentinel tokens <extra_id_0>.. as T5 does (<extra_id_i> =
 * n_pieces + n_extra_ids - 1 - i); pass 100 for T5, 0 for none. */
ES_API es_status es_tokenizer_load(es_tokenizer **out, const char *path, int n_extra_ids,
                                   es_error *err);
/* Same from memory (the bytes are copied). `name` is used in messages. */
ES_API es_status es_tokenizer_load_mem(es_tokenizer **out, const void *data, size_t size,
                                       const char *name, int n_extra_ids, es_error *err);
ES_API void es_tokenizer_free(es_tokenizer *tok);

/* Number of ids: SentencePiece pieces + extra ids. */
ES_API int32_t es_tokenizer_vocab_size(const es_tokenizer *tok);
ES_API int32_t es_tokenizer_eos_id(const es_tokenizer *tok);
ES_API int32_t es_tokenizer_pad_id(const es_tokenizer *tok);
ES_API int32_t es_tokenizer_unk_id(const es_tokenizer *tok);

/* Piece string of an id (borrowed, NUL-terminated; e.g. "▁the",
 * "<extra_id_3>"); NULL when id is out of range. */
ES_API const char *es_tokenizer_piece(const es_tokenizer *tok, int32_t id);

/* One encoded token: id, and its surface as a byte range of the
 * *normalized* text (for <unk> runs this is the unknown characters). */
typedef struct es_token {
    int32_t id;
    uint32_t offset; /* into the normalized text */
    uint32_t length;
} es_token;

/* Encodes `len` bytes of UTF-8 text (NULs allowed). No BOS/EOS are added.
 * Writes up to `cap` tokens to `toks` and the count to *n_out; when cap is
 * too small returns ES_ERR_BUFFER with the count needed in *n_out.
 * If `norm` is not NULL the normalized text (pieces are ranges of it) is
 * written there (capacity norm_cap, length in *norm_len, same
 * ES_ERR_BUFFER rule). Invalid UTF-8: each invalid byte is treated as the
 * character U+FFFD that is not in the vocabulary, i.e. it becomes <unk>
 * (as the official library does); nothing is dropped silently.
 * `norm_len` may be non-NULL with norm NULL: it then only receives the
 * normalized length (a size query: toks NULL, cap 0). The normalized text
 * is the dummy-prefixed, whitespace-escaped form ("▁Who▁are"); the text is
 * a plain string here: "<extra_id_0>" typed as text is not a sentinel.
 * Scratch memory is allocated per call (ES_ERR_NOMEM); texts whose
 * normalized form exceeds 1 GiB are refused (ES_ERR_ARG).
 * Thread-safe (no state is mutated). */
ES_API es_status es_tokenizer_encode(const es_tokenizer *tok, const char *text, size_t len,
                                     es_token *toks, size_t cap, size_t *n_out,
                                     char *norm, size_t norm_cap, size_t *norm_len,
                                     es_error *err);

/* Decodes ids to UTF-8 text following SentencePiece rules (control ids
 * vanish, <unk> is " ⁇ ", "▁" is a space, the first leading space is
 * dropped). Extra ids decode to their piece ("<extra_id_N>"); ids with no
 * piece (e.g. padding rows of the embedding) decode to "" unless
 * ES_DECODE_MARK_UNKNOWN_IDS, then "<id_N>". ES_ERR_BUFFER rule as above
 * (*len_out excludes the NUL terminator written when room allows). */
#define ES_DECODE_MARK_UNKNOWN_IDS 1u
ES_API es_status es_tokenizer_decode(const es_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                     unsigned flags, char *out, size_t cap, size_t *len_out,
                                     es_error *err);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct es_model es_model;

typedef enum es_arch {
    ES_ARCH_T5 = 0,         /* T5 / T5 v1.1 / T5-Efficient encoder-decoder */
    ES_ARCH_BYTE_CLASSIFIER = 1, /* byte encoder + classification head */
    ES_ARCH_BYTE_SEQ2SEQ = 2     /* byte encoder + merged-attention decoder */
} es_arch;

typedef enum es_ffn_kind {
    ES_FFN_RELU = 0,
    ES_FFN_GELU = 1,       /* "gelu": exact erf GELU, as HF maps it */
    ES_FFN_GATED_GELU = 2,
    ES_FFN_GATED_RELU = 3
} es_ffn_kind;

/* Summary of a loaded model (borrowed from the model). */
typedef struct es_model_info {
    es_arch arch;
    const char *dir;          /* folder it was loaded from */
    const char *weights_file; /* "model.safetensors", "pytorch_model.bin", ... */
    es_dtype stored_dtype;    /* dtype of the big matrices on disk */
    uint64_t n_params;        /* unique parameters (tied embedding once) */
    uint64_t file_bytes;      /* bytes of weight files */
    /* T5 hyper-parameters (0 for other archs) */
    int32_t vocab_size, d_model, d_kv, d_ff, n_heads;
    int32_t n_layers, n_decoder_layers;
    int32_t rel_buckets, rel_max_distance;
    float layer_norm_eps;
    es_ffn_kind ffn;
    int tie_word_embeddings;
    int32_t pad_id, eos_id, decoder_start_id;
} es_model_info;

typedef struct es_load_params {
    int n_threads; /* threads used while loading/repacking; 0 = default */
} es_load_params;
ES_API es_load_params es_load_params_default(void);

/* Loads a model folder: config.json + model.safetensors (or sharded
 * model.safetensors.index.json, or pytorch_model.bin[.index.json]) and,
 * when present, spiece.model. Weights stored as F32 are used in place from
 * the memory map; F16/BF16 are upcast to F32 once at load. */
ES_API es_status es_model_load(es_model **out, const char *dir, const es_load_params *params,
                               es_error *err);
ES_API void es_model_free(es_model *m);
ES_API const es_model_info *es_model_get_info(const es_model *m);
/* The model's tokenizer (borrowed), or NULL when the folder has none. */
ES_API const es_tokenizer *es_model_tokenizer(const es_model *m);

/* ------------------------------------------------------------------------ */
/* Sessions: per-run mutable state (caches, beams, scratch)                 */
/* ------------------------------------------------------------------------ */

typedef struct es_session es_session;

typedef struct es_session_params {
    int max_batch;      /* rows per call (and beams); default 8 */
    int max_src_len;    /* encoder tokens; default 512 */
    int max_tgt_len;    /* decoder tokens (incl. start); default 512 */
    int n_threads;      /* 0 = number of physical cores */
} es_session_params;
ES_API es_session_params es_session_params_default(void);

/* Creates a session; all memory it needs for the sizes above is allocated
 * here. The model must outlive the session. */
ES_API es_status es_session_new(es_session **out, const es_model *m,
                                const es_session_params *params, es_error *err);
ES_API void es_session_free(es_session *s);
/* Last error message of this session ("" if none). */
ES_API const char *es_session_errmsg(const es_session *s);

/* Encoder forward over a right-padded batch. ids, mask: (B, S) row-major;
 * mask 1 = token, 0 = padding. out: (B, S, d_model) caller-owned. */
ES_API es_status es_session_encode(es_session *s, float *out, const int32_t *ids,
                                   const int32_t *mask, int B, int S);

/* Teacher-forced decoder logits. src ids/mask (B, S); dec_ids (B, T) the
 * decoder inputs (start token first). logits: (B, T, vocab) caller-owned. */
ES_API es_status es_session_decoder_logits(es_session *s, float *logits, const int32_t *ids,
                                           const int32_t *mask, int B, int S,
                                           const int32_t *dec_ids, int T);

typedef enum es_decode_method {
    ES_DECODE_GREEDY = 0,
    ES_DECODE_BEAM = 1,
    ES_DECODE_SAMPLE = 2
} es_decode_method;

typedef struct es_gen_params {
    es_decode_method method;
    int max_new_tokens;     /* default 64 */
    int ignore_eos;         /* 1: EOS is an ordinary token, always max_new_tokens */
    int num_beams;          /* beam width (method BEAM); default 4 */
    float length_penalty;   /* score = sum_logprobs / len^length_penalty; default 1 */
    int early_stopping;     /* HF semantics: 1 = stop when num_beams hyps are done */
    int num_return;         /* beams returned (<= num_beams); default = num_beams */
    float temperature;      /* sampling; default 1 */
    int top_k;              /* 0 = off */
    float top_p;            /* 1 = off */
    uint64_t seed;          /* sampling RNG seed */
    int quantized_beam;     /* byte seq2seq, method BEAM: 1 = uint8 beam search (logits
                               quantized to uint8 per step, log-softmax by look-up table);
                               0 = float beam. Ignored by other models. Default 0. */
} es_gen_params;
ES_API es_gen_params es_gen_params_default(void);

typedef struct es_hyp {
    const int32_t *ids; /* generated ids (no start token), borrowed */
    int n_ids;
    float score;        /* greedy/sample: sum of log-probs; beam: normalised */
    float sum_logprob;  /* sum of log-probs of the generated ids */
} es_hyp;

typedef struct es_gen_result {
    const es_hyp *hyps; /* best first, borrowed until next call on the session */
    int n_hyps;
} es_gen_result;

/* Generates from one input (batch 1). src: encoder ids incl. EOS. */
ES_API es_status es_session_generate(es_session *s, es_gen_result *out, const int32_t *src,
                                     int n_src, const es_gen_params *params);

/* Log-probability of target ids (incl. final EOS) given src ids, summed in
 * double. n_tokens receives the number of scored tokens. */
ES_API es_status es_session_score(es_session *s, double *logprob, const int32_t *src, int n_src,
                                  const int32_t *tgt, int n_tgt);

/* ------------------------------------------------------------------------ */
/* Byte classifiers (model_type "edgeseq-byte-classifier")                  */
/* ------------------------------------------------------------------------ */

/* Number of class labels of a byte classifier (0 for other models). */
ES_API int es_model_n_labels(const es_model *m);
/* Name of label i (borrowed from the model), NULL when out of range or not
 * a classifier. */
ES_API const char *es_model_label(const es_model *m, int i);
/* Inputs longer than this are cut to their first max_bytes bytes (0 when
 * not a byte model). */
ES_API int32_t es_model_max_bytes(const es_model *m);

/* Class probabilities (softmax over the labels, in label order) of one raw
 * byte string (any bytes, NULs allowed; n = 0 is allowed). probs has room
 * for n_probs floats; fewer than es_model_n_labels is ES_ERR_BUFFER.
 * Allocates nothing. ES_ERR_UNSUPPORTED for models that are not byte
 * classifiers. */
ES_API es_status es_session_classify(es_session *s, const uint8_t *bytes, size_t n, float *probs,
                                     int n_probs);
/* Same for B inputs at once (B <= session max_batch); probs is
 * (B, n_labels) row-major. */
ES_API es_status es_session_classify_batch(es_session *s, const uint8_t *const *bytes,
                                           const size_t *lens, int B, float *probs);

/* ------------------------------------------------------------------------ */
/* Byte seq2seq models (model_type "edgeseq-byte-seq2seq")                  */
/* ------------------------------------------------------------------------ */
/* es_session_generate / es_session_score take the input's raw bytes as ids
 * (each 0..255, no EOS; longer inputs are cut to es_model_max_bytes) and
 * produce output-vocabulary ids: 0 start (never generated), 1 end, 2 + i
 * symbol i. Beam search uses the GNMT length penalty: score =
 * sum_logprob / ((5 + len) / 6)^length_penalty; max_new_tokens is capped at
 * the model's decoder length. */

/* Text of output ids (as es_session_generate returns them): the bytes for
 * a byte vocabulary, symbols joined by single spaces for a symbol
 * vocabulary (e.g. "HH AH0 L OW1"); start/end ids print nothing. ES_ERR_BUFFER
 * rule as es_tokenizer_decode (*len_out excludes the NUL). ES_ERR_UNSUPPORTED
 * for other models. */
ES_API es_status es_model_output_text(const es_model *m, const int32_t *ids, size_t n_ids,
                                      char *out, size_t cap, size_t *len_out, es_error *err);

#ifdef __cplusplus
}
#endif

#endif /* EDGESEQ_H */
