/*
 * zip.c — validating zip reader over an in-memory buffer (see zip.h).
 *
 * Algorithm: find the end of central directory record (EOCD) by scanning
 * back from the end (it may be followed by a comment of up to 65,535
 * bytes); if a zip64 locator sits right before it, take the sizes from the
 * zip64 EOCD record instead. Walk the central directory once to count and
 * bound-check the records (names, extra fields, zip64 extras), then fill the
 * entry table, check every local header, sort the entries by offset to
 * prove their regions are disjoint, and finally sort by name for lookup.
 *
 * All arithmetic on offsets read from the file is done in uint64_t with
 * explicit "fits in what is left" comparisons, never by forming a pointer
 * first, so no hostile value can make the reader look outside the buffer.
 */
#include "io/zip.h"

#include <stdlib.h>
#include <string.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

#define LOCAL_LEN 30u   /* fixed part of a local file header */
#define CENTRAL_LEN 46u /* fixed part of a central directory record */
#define EOCD_LEN 22u
#define EOCD64_LEN 56u
#define LOC64_LEN 20u

struct es_zip {
    const uint8_t *buf;
    size_t len;
    es_zip_entry *e;
    size_t n;
    char *names; /* all names, NUL-separated */
    char *name;  /* archive name for messages */
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* True if [off, off + n) lies inside [0, lim). */
static bool in_range(uint64_t off, uint64_t n, uint64_t lim) { return off <= lim && n <= lim - off; }

uint32_t es_zip_crc32(uint32_t crc, const void *p, size_t n) {
    /* Table-driven reflected CRC-32, polynomial 0xEDB88320. The table is
     * rebuilt on the stack per call (2k shift steps): only small entries
     * are checked, and it keeps the reader free of global state. */
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Finds the EOCD record: the last signature position whose comment fits. */
static bool find_eocd(const uint8_t *b, size_t len, size_t *pos) {
    if (len < EOCD_LEN) return false;
    size_t lo = len - EOCD_LEN > 65535u ? len - EOCD_LEN - 65535u : 0;
    for (size_t p = len - EOCD_LEN + 1; p-- > lo;) {
        if (rd32(b + p) != SIG_EOCD) continue;
        if ((uint64_t)p + EOCD_LEN + rd16(b + p + 20) <= len) {
            *pos = p;
            return true;
        }
    }
    return false;
}

typedef struct cd_info {
    uint64_t count, cd_off, cd_size;
    uint64_t end; /* first byte after the central directory may not pass this */
} cd_info;

static es_status read_end_records(const es_zip *z, cd_info *ci, es_error *err) {
    const uint8_t *b = z->buf;
    size_t eocd;
    if (!find_eocd(b, z->len, &eocd))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: not a zip archive (no end of central directory record in the "
                       "last %zu bytes)",
                       z->name, ES_MIN(z->len, (size_t)EOCD_LEN + 65535u));
    const uint8_t *e = b + eocd;
    uint16_t disk = rd16(e + 4), cd_disk = rd16(e + 6);
    uint64_t n_disk = rd16(e + 8);
    ci->count = rd16(e + 10);
    ci->cd_size = rd32(e + 12);
    ci->cd_off = rd32(e + 16);
    ci->end = eocd;
    if (eocd >= LOC64_LEN && rd32(b + eocd - LOC64_LEN) == SIG_LOC64) {
        const uint8_t *l = b + eocd - LOC64_LEN;
        uint32_t l_disk = rd32(l + 4), n_disks = rd32(l + 16);
        uint64_t off64 = rd64(l + 8);
        if (l_disk != 0 || n_disks > 1)
            return es_errf(err, ES_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                           z->name);
        uint64_t loc = eocd - LOC64_LEN;
        if (!in_range(off64, EOCD64_LEN, loc))
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: zip64 end record offset %llu does not fit before the locator at "
                           "%llu",
                           z->name, (unsigned long long)off64, (unsigned long long)loc);
        const uint8_t *r = b + off64;
        if (rd32(r) != SIG_EOCD64)
            return es_errf(err, ES_ERR_FORMAT, "%s: bad zip64 end record signature at offset %llu",
                           z->name, (unsigned long long)off64);
        uint64_t rec_size = rd64(r + 4);
        if (rec_size < EOCD64_LEN - 12 || rec_size > loc || !in_range(off64, 12 + rec_size, loc))
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: zip64 end record at offset %llu has bad size %llu", z->name,
                           (unsigned long long)off64, (unsigned long long)rec_size);
        disk = rd32(r + 16) ? 1 : 0;
        cd_disk = rd32(r + 20) ? 1 : 0;
        n_disk = rd64(r + 24);
        ci->count = rd64(r + 32);
        ci->cd_size = rd64(r + 40);
        ci->cd_off = rd64(r + 48);
        ci->end = off64;
    } else if (ci->count == 0xffff || ci->cd_size == 0xffffffffu || ci->cd_off == 0xffffffffu) {
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: end record at offset %zu needs zip64 values but no zip64 locator "
                       "precedes it",
                       z->name, eocd);
    }
    if (disk != 0 || cd_disk != 0 || n_disk != ci->count)
        return es_errf(err, ES_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                       z->name);
    if (!in_range(ci->cd_off, ci->cd_size, ci->end))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: central directory [%llu, +%llu) runs past its end records at %llu",
                       z->name, (unsigned long long)ci->cd_off, (unsigned long long)ci->cd_size,
                       (unsigned long long)ci->end);
    if (ci->count > ci->cd_size / CENTRAL_LEN)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: %llu entries cannot fit in a central directory of %llu bytes", z->name,
                       (unsigned long long)ci->count, (unsigned long long)ci->cd_size);
    return ES_OK;
}

/* Applies a zip64 extended-information extra field (id 0x0001) to the
 * fields that were saturated in the fixed record. */
static es_status apply_zip64(const es_zip *z, const uint8_t *x, size_t xlen, uint64_t at,
                             uint64_t *usize, uint64_t *csize, uint64_t *loff, es_error *err) {
    bool need_u = *usize == 0xffffffffu, need_c = *csize == 0xffffffffu,
         need_o = *loff == 0xffffffffu;
    size_t p = 0;
    bool seen = false;
    while (p + 4 <= xlen) {
        uint16_t id = rd16(x + p), sz = rd16(x + p + 2);
        if (sz > xlen - p - 4)
            return es_errf(err, ES_ERR_FORMAT,
                           "%s: central record at offset %llu: extra field 0x%04x runs past its "
                           "area",
                           z->name, (unsigned long long)at, id);
        if (id == 0x0001 && !seen) {
            seen = true;
            const uint8_t *f = x + p + 4;
            size_t q = 0;
            uint64_t *want[3] = {need_u ? usize : NULL, need_c ? csize : NULL,
                                 need_o ? loff : NULL};
            for (int i = 0; i < 3; i++) {
                if (!want[i]) continue;
                if (q + 8 > sz)
                    return es_errf(err, ES_ERR_FORMAT,
                                   "%s: central record at offset %llu: zip64 extra field too "
                                   "short",
                                   z->name, (unsigned long long)at);
                *want[i] = rd64(f + q);
                q += 8;
            }
        }
        p += 4u + sz;
    }
    if ((need_u || need_c || need_o) && !seen)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: central record at offset %llu: sizes need a zip64 extra field, none "
                       "found",
                       z->name, (unsigned long long)at);
    return ES_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const es_zip_entry *x = a, *y = b;
    return x->local_offset < y->local_offset ? -1 : x->local_offset > y->local_offset;
}
static int cmp_name(const void *a, const void *b) {
    return strcmp(((const es_zip_entry *)a)->name, ((const es_zip_entry *)b)->name);
}

/* Reads central record i at *pos into e (name copied into *np). */
static es_status read_central(es_zip *z, const cd_info *ci, uint64_t *pos, es_zip_entry *e,
                              char **np, es_error *err) {
    const uint8_t *b = z->buf;
    uint64_t at = *pos, cd_end = ci->cd_off + ci->cd_size;
    if (!in_range(at, CENTRAL_LEN, cd_end) || rd32(b + at) != SIG_CENTRAL)
        return es_errf(err, ES_ERR_FORMAT, "%s: bad central directory record at offset %llu",
                       z->name, (unsigned long long)at);
    const uint8_t *r = b + at;
    uint16_t nlen = rd16(r + 28), xlen = rd16(r + 30), clen = rd16(r + 32);
    if (!in_range(at + CENTRAL_LEN, (uint64_t)nlen + xlen + clen, cd_end))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: central record at offset %llu: name/extra/comment run past the "
                       "central directory",
                       z->name, (unsigned long long)at);
    if (rd16(r + 34) != 0 && rd16(r + 34) != 0xffff)
        return es_errf(err, ES_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                       z->name);
    const uint8_t *nm = r + CENTRAL_LEN;
    if (nlen == 0 || memchr(nm, 0, nlen))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: central record at offset %llu: empty name or NUL in name", z->name,
                       (unsigned long long)at);
    e->flags = rd16(r + 8);
    e->method = rd16(r + 10);
    e->crc32 = rd32(r + 16);
    uint64_t csize = rd32(r + 20), usize = rd32(r + 24), loff = rd32(r + 42);
    es_status s = apply_zip64(z, nm + nlen, xlen, at, &usize, &csize, &loff, err);
    if (s) return s;
    memcpy(*np, nm, nlen);
    (*np)[nlen] = '\0';
    e->name = *np;
    *np += nlen + 1;
    e->size = csize;
    e->usize = usize;
    e->local_offset = loff;
    if (e->flags & 1)
        return es_errf(err, ES_ERR_UNSUPPORTED, "%s: entry '%s' is encrypted", z->name, e->name);
    if (e->method == 0 && csize != usize)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: stored entry '%s' has compressed size %llu != uncompressed size %llu",
                       z->name, e->name, (unsigned long long)csize, (unsigned long long)usize);
    /* Local header: fixed part, then its own name and extra field. Sizes in
     * it may be zero (bit 3: sizes in a data descriptor), so the central
     * directory's sizes are authoritative. */
    if (!in_range(loff, LOCAL_LEN, ci->cd_off) || rd32(b + loff) != SIG_LOCAL)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: entry '%s': no local header at offset %llu (central directory at "
                       "%llu)",
                       z->name, e->name, (unsigned long long)loff,
                       (unsigned long long)ci->cd_off);
    const uint8_t *l = b + loff;
    uint16_t lnlen = rd16(l + 26), lxlen = rd16(l + 28);
    if (!in_range(loff + LOCAL_LEN, (uint64_t)lnlen + lxlen, ci->cd_off))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: entry '%s': local header at offset %llu runs into the central "
                       "directory",
                       z->name, e->name, (unsigned long long)loff);
    if (lnlen != nlen || memcmp(l + LOCAL_LEN, nm, nlen) != 0 || rd16(l + 8) != e->method)
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: entry '%s': local header at offset %llu disagrees with the central "
                       "directory (name or method)",
                       z->name, e->name, (unsigned long long)loff);
    e->data_offset = loff + LOCAL_LEN + lnlen + lxlen;
    if (!in_range(e->data_offset, csize, ci->cd_off))
        return es_errf(err, ES_ERR_FORMAT,
                       "%s: entry '%s': %llu bytes of data at offset %llu run past the end of the "
                       "data area (%llu; file is %zu bytes)",
                       z->name, e->name, (unsigned long long)csize,
                       (unsigned long long)e->data_offset, (unsigned long long)ci->cd_off,
                       z->len);
    *pos = at + CENTRAL_LEN + nlen + xlen + clen;
    return ES_OK;
}

es_status es_zip_open(es_zip **out, const void *buf, size_t len, const char *name,
                      es_error *err) {
    *out = NULL;
    es_zip *z = es_calloc(1, sizeof *z);
    if (!z) return es_errf(err, ES_ERR_NOMEM, "out of memory opening %s", name);
    z->buf = buf;
    z->len = len;
    z->name = es_strdup(name ? name : "?");
    if (!z->name) {
        es_zip_free(z);
        return es_errf(err, ES_ERR_NOMEM, "out of memory opening %s", name);
    }
    cd_info ci = {0, 0, 0, 0};
    es_status s = read_end_records(z, &ci, err);
    if (s) goto fail;
    /* count <= cd_size / 46 and cd_size <= len, so both fit in size_t; the
     * names need at most cd_size bytes including their NULs. */
    z->e = es_calloc((size_t)ci.count ? (size_t)ci.count : 1, sizeof(es_zip_entry));
    z->names = es_malloc((size_t)ci.cd_size + 1);
    if (!z->e || !z->names) {
        s = es_errf(err, ES_ERR_NOMEM, "out of memory reading %s (%llu entries)", z->name,
                    (unsigned long long)ci.count);
        goto fail;
    }
    uint64_t pos = ci.cd_off;
    char *np = z->names;
    for (uint64_t i = 0; i < ci.count; i++) {
        s = read_central(z, &ci, &pos, &z->e[i], &np, err);
        if (s) goto fail;
        z->n++;
    }
    if (pos != ci.cd_off + ci.cd_size) {
        s = es_errf(err, ES_ERR_FORMAT,
                    "%s: central directory holds %llu bytes after its %llu records", z->name,
                    (unsigned long long)(ci.cd_off + ci.cd_size - pos),
                    (unsigned long long)ci.count);
        goto fail;
    }
    if (z->n) qsort(z->e, z->n, sizeof *z->e, cmp_offset);
    for (size_t i = 1; i < z->n; i++) {
        const es_zip_entry *a = &z->e[i - 1], *c = &z->e[i];
        if (a->data_offset + a->size > c->local_offset) {
            s = es_errf(err, ES_ERR_FORMAT,
                        "%s: entries '%s' (data ends at %llu) and '%s' (header at %llu) overlap",
                        z->name, a->name, (unsigned long long)(a->data_offset + a->size),
                        c->name, (unsigned long long)c->local_offset);
            goto fail;
        }
    }
    if (z->n) qsort(z->e, z->n, sizeof *z->e, cmp_name);
    for (size_t i = 1; i < z->n; i++) {
        if (strcmp(z->e[i - 1].name, z->e[i].name) == 0) {
            s = es_errf(err, ES_ERR_FORMAT, "%s: duplicate entry name '%s'", z->name,
                        z->e[i].name);
            goto fail;
        }
    }
    *out = z;
    return ES_OK;
fail:
    es_zip_free(z);
    return s;
}

void es_zip_free(es_zip *z) {
    if (!z) return;
    es_free(z->e);
    es_free(z->names);
    es_free(z->name);
    es_free(z);
}

size_t es_zip_count(const es_zip *z) { return z->n; }
const es_zip_entry *es_zip_at(const es_zip *z, size_t i) { return i < z->n ? &z->e[i] : NULL; }
const char *es_zip_name(const es_zip *z) { return z->name; }

const es_zip_entry *es_zip_find(const es_zip *z, const char *name) {
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(z->e[mid].name, name);
        if (c == 0) return &z->e[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

es_status es_zip_data(const es_zip *z, const es_zip_entry *e, bool check_crc,
                      const uint8_t **data, size_t *len, es_error *err) {
    *data = NULL;
    *len = 0;
    if (e->method != 0)
        return es_errf(err, ES_ERR_UNSUPPORTED,
                       "%s: entry '%s' is compressed (method %u); only stored entries are "
                       "supported (torch.save writes them uncompressed)",
                       z->name, e->name, e->method);
    /* Bounds were proven at open: data_offset + size <= cd_off <= len. */
    const uint8_t *p = z->buf + e->data_offset;
    if (check_crc && es_zip_crc32(0, p, (size_t)e->size) != e->crc32)
        return es_errf(err, ES_ERR_FORMAT, "%s: entry '%s': CRC-32 mismatch", z->name, e->name);
    *data = p;
    *len = (size_t)e->size;
    return ES_OK;
}
