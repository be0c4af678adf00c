/*
 * utf8.c — SentencePiece-compatible UTF-8 decoding (see utf8.h for the
 * rules). Kept separate so the normalizer, the Viterbi segmenter, the
 * decoder and the model parser all share one definition of "valid".
 */
#include "tok/utf8.h"

static bool is_trail(uint8_t c) { return (c & 0xC0u) == 0x80u; }

static bool is_valid_cp(uint32_t c) { return c < 0xD800u || (c >= 0xE000u && c <= 0x10FFFFu); }

uint32_t es_utf8_decode(const uint8_t *s, size_t n, size_t *mblen) {
    const uint8_t c = s[0];
    if (c < 0x80u) {
        *mblen = 1;
        return c;
    }
    if (n >= 2 && (c & 0xE0u) == 0xC0u) {
        const uint32_t cp = ((uint32_t)(c & 0x1Fu) << 6) | (uint32_t)(s[1] & 0x3Fu);
        if (is_trail(s[1]) && cp >= 0x80u && is_valid_cp(cp)) {
            *mblen = 2;
            return cp;
        }
    } else if (n >= 3 && (c & 0xF0u) == 0xE0u) {
        const uint32_t cp = ((uint32_t)(c & 0x0Fu) << 12) | ((uint32_t)(s[1] & 0x3Fu) << 6) |
                            (uint32_t)(s[2] & 0x3Fu);
        if (is_trail(s[1]) && is_trail(s[2]) && cp >= 0x800u && is_valid_cp(cp)) {
            *mblen = 3;
            return cp;
        }
    } else if (n >= 4 && (c & 0xF8u) == 0xF0u) {
        const uint32_t cp = ((uint32_t)(c & 0x07u) << 18) | ((uint32_t)(s[1] & 0x3Fu) << 12) |
                            ((uint32_t)(s[2] & 0x3Fu) << 6) | (uint32_t)(s[3] & 0x3Fu);
        if (is_trail(s[1]) && is_trail(s[2]) && is_trail(s[3]) && cp >= 0x10000u &&
            is_valid_cp(cp)) {
            *mblen = 4;
            return cp;
        }
    }
    *mblen = 1;
    return ES_UTF8_REPLACEMENT;
}

bool es_utf8_valid_char(const uint8_t *s, size_t n, size_t *mblen) {
    const uint32_t c = es_utf8_decode(s, n, mblen);
    return c != ES_UTF8_REPLACEMENT || *mblen == 3;
}

bool es_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t m;
        if (!es_utf8_valid_char(s + i, n - i, &m)) return false;
        i += m;
    }
    return true;
}
