/*
 * utf8.h — UTF-8 helpers with exactly SentencePiece's rules.
 *
 * SentencePiece (util.h/util.cc) decodes one character at a time: a lead
 * byte < 0x80 is one byte; 110xxxxx / 1110xxxx / 11110xxx need 1 / 2 / 3
 * trail bytes (10xxxxxx), the result must not be overlong, not a surrogate
 * (U+D800..U+DFFF) and not above U+10FFFF. Anything else is "invalid": the
 * decoder returns U+FFFD and consumes exactly one byte. A literal U+FFFD
 * (EF BF BD) is valid. The tokenizer relies on these exact rules so that
 * its normalized text and its character boundaries equal the official
 * library's.
 */
#ifndef ES_TOK_UTF8_H
#define ES_TOK_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_UTF8_REPLACEMENT 0xFFFDu

/* Decodes the character at s (n >= 1 bytes available). Stores its byte
 * length in *mblen (1..4) and returns the code point; for invalid input
 * returns ES_UTF8_REPLACEMENT with *mblen = 1. */
uint32_t es_utf8_decode(const uint8_t *s, size_t n, size_t *mblen);

/* True when the character at s is valid (SentencePiece's
 * IsValidDecodeUTF8); *mblen as for es_utf8_decode. */
bool es_utf8_valid_char(const uint8_t *s, size_t n, size_t *mblen);

/* True when all n bytes are valid UTF-8 under the rules above (NUL bytes
 * are valid characters). */
bool es_utf8_valid(const uint8_t *s, size_t n);

/* Length of the character that starts with lead byte c, judged from the
 * lead byte alone (SentencePiece's OneCharLen): 1 for ASCII and stray
 * trail bytes, 2 for 0xC0..0xDF, 3 for 0xE0..0xEF, 4 for 0xF0..0xFF. */
static inline size_t es_utf8_char_len(uint8_t c) {
    static const uint8_t k_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return k_len[c >> 4];
}

#endif
