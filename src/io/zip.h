/*
 * zip.h — read-only view of a zip archive held in memory (a memory map of
 * a torch.save file, usually).
 *
 * Only what torch.save writes is needed: a single-disk archive, stored
 * (uncompressed) entries, zip64 end records. The reader parses the end of
 * central directory record (and the zip64 locator/record when present),
 * walks the central directory, checks each entry's local header and proves
 * that every entry's bytes lie inside the buffer before anything is handed
 * out. Entry data is never copied: es_zip_data returns a pointer into the
 * caller's buffer. See docs/ptbin.md for the byte layout and the checks.
 *
 * Invariants after a successful es_zip_open:
 *  - every entry's local header, name, extra field and data lie in
 *    [0, central directory offset) and no two entries' regions overlap;
 *  - the central directory lies inside the buffer, before the end records;
 *  - entry names are non-empty, NUL-free and unique;
 *  - stored entries have compressed size == uncompressed size.
 */
#ifndef ES_IO_ZIP_H
#define ES_IO_ZIP_H

#include "core/common.h"

typedef struct es_zip_entry {
    const char *name;      /* NUL-terminated, owned by the es_zip */
    uint64_t local_offset; /* offset of the local file header */
    uint64_t data_offset;  /* offset of the first data byte */
    uint64_t size;         /* bytes of data as stored (compressed size) */
    uint64_t usize;        /* uncompressed size */
    uint32_t crc32;        /* from the central directory */
    uint16_t method;       /* 0 = stored, 8 = deflate, ... */
    uint16_t flags;        /* general purpose bit flags */
} es_zip_entry;

typedef struct es_zip es_zip;

/* Parses and validates the archive in buf[0, len). buf is borrowed and must
 * outlive the es_zip. `name` (copied) is used in messages. Errors:
 * ES_ERR_FORMAT for anything malformed (message names the file, the record
 * and the byte offset), ES_ERR_UNSUPPORTED for multi-disk archives,
 * ES_ERR_NOMEM. On failure *out = NULL. */
es_status es_zip_open(es_zip **out, const void *buf, size_t len, const char *name,
                      es_error *err);
void es_zip_free(es_zip *z);

/* Entries sorted by name. */
size_t es_zip_count(const es_zip *z);
const es_zip_entry *es_zip_at(const es_zip *z, size_t i);
/* Exact-name lookup (binary search); NULL if absent. */
const es_zip_entry *es_zip_find(const es_zip *z, const char *name);

/* Pointer to a stored entry's bytes inside the buffer (*len = e->size).
 * Compressed entries are refused with ES_ERR_UNSUPPORTED naming the entry
 * and its method. When check_crc is true the CRC-32 of the data is
 * verified (ES_ERR_FORMAT on mismatch). */
es_status es_zip_data(const es_zip *z, const es_zip_entry *e, bool check_crc,
                      const uint8_t **data, size_t *len, es_error *err);

/* Name given at open (for messages). */
const char *es_zip_name(const es_zip *z);

/* CRC-32 (IEEE 802.3, reflected, as zip uses) of p[0, n), continuing from
 * crc (start with 0). */
uint32_t es_zip_crc32(uint32_t crc, const void *p, size_t n);

#endif
