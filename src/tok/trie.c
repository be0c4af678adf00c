/*
 * trie.c — a static byte trie in CSR form (compressed sparse rows), the
 * dictionary of the tokenizer: piece strings -> ids.
 *
 * SentencePiece uses a darts-clone double array for the same job; any
 * exact prefix dictionary gives the same segmentation, so we use the
 * simplest structure that walks a key one byte at a time in O(1)-ish per
 * byte (linear scan of a node's few edges, binary search at wide nodes
 * such as the root).
 *
 * Build: sort the key indices by bytes, then create nodes breadth-first.
 * Each queued node owns a contiguous range [lo, hi) of sorted keys that
 * share its prefix of length depth; a key of exactly that length is the
 * node's value (it sorts first), the rest are grouped by their next byte
 * into children. Breadth-first order makes each node's edges contiguous
 * and ascending. Nodes <= 1 + total key bytes. No recursion (hostile
 * models may hold very long pieces).
 */
#include "tok/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct sort_ctx {
    const char *const *keys;
    const uint32_t *lens;
} sort_ctx;

static int key_cmp(const sort_ctx *c, uint32_t a, uint32_t b) {
    const uint32_t la = c->lens[a], lb = c->lens[b];
    const int r = memcmp(c->keys[a], c->keys[b], la < lb ? la : lb);
    if (r != 0) return r;
    return la < lb ? -1 : (la > lb ? 1 : 0);
}

/* Bottom-up merge sort of idx (n) using tmp (n): qsort has no context
 * argument in C11, and a stable sort keeps duplicate reports stable. */
static void sort_keys(uint32_t *idx, uint32_t *tmp, size_t n, const sort_ctx *c) {
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n;
            size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = key_cmp(c, idx[i], idx[j]) <= 0 ? idx[i++] : idx[j++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

void es_tok_trie_free(es_tok_trie *t) {
    es_free(t->first);
    es_free(t->value);
    es_free(t->label);
    es_free(t->child);
    memset(t, 0, sizeof *t);
}

es_status es_tok_trie_build(es_tok_trie *t, const char *const *keys, const uint32_t *lens,
                            const int32_t *vals, size_t n, size_t *dup) {
    memset(t, 0, sizeof *t);
    *dup = (size_t)-1;
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        if (!es_add_ok(total, lens[i], &total)) return ES_ERR_NOMEM;
    }
    if (total > UINT32_MAX - 1u || n > UINT32_MAX) return ES_ERR_NOMEM;
    const size_t max_nodes = total; /* root + one node per key byte at most */

    uint32_t *idx = es_calloc(n ? n : 1, sizeof *idx);
    uint32_t *tmp = es_calloc(n ? n : 1, sizeof *tmp);
    uint32_t *lo = es_calloc(max_nodes, sizeof *lo);
    uint32_t *hi = es_calloc(max_nodes, sizeof *hi);
    uint32_t *depth = es_calloc(max_nodes, sizeof *depth);
    t->first = es_calloc(max_nodes + 1, sizeof *t->first);
    t->value = es_calloc(max_nodes, sizeof *t->value);
    t->label = es_calloc(max_nodes, 1);
    t->child = es_calloc(max_nodes, sizeof *t->child);
    es_status st = ES_OK;
    if (!idx || !tmp || !lo || !hi || !depth || !t->first || !t->value || !t->label ||
        !t->child) {
        st = ES_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    const sort_ctx ctx = {keys, lens};
    sort_keys(idx, tmp, n, &ctx);
    for (size_t i = 1; i < n; i++) {
        if (key_cmp(&ctx, idx[i - 1], idx[i]) == 0) {
            *dup = idx[i];
            st = ES_ERR_FORMAT;
            goto done;
        }
    }

    uint32_t n_nodes = 1, n_edges = 0;
    lo[0] = 0;
    hi[0] = (uint32_t)n;
    depth[0] = 0;
    for (uint32_t node = 0; node < n_nodes; node++) {
        uint32_t a = lo[node];
        const uint32_t b = hi[node], d = depth[node];
        t->value[node] = -1;
        t->first[node] = n_edges;
        if (a < b && lens[idx[a]] == d) {
            t->value[node] = vals[idx[a]];
            a++;
        }
        while (a < b) {
            const uint8_t c = (uint8_t)keys[idx[a]][d];
            uint32_t e = a + 1;
            while (e < b && (uint8_t)keys[idx[e]][d] == c) e++;
            t->label[n_edges] = c;
            t->child[n_edges] = n_nodes;
            n_edges++;
            lo[n_nodes] = a;
            hi[n_nodes] = e;
            depth[n_nodes] = d + 1;
            n_nodes++;
            a = e;
        }
    }
    t->first[n_nodes] = n_edges;
    t->n_nodes = n_nodes;

done:
    es_free(idx);
    es_free(tmp);
    es_free(lo);
    es_free(hi);
    es_free(depth);
    if (st != ES_OK) es_tok_trie_free(t);
    return st;
}

int32_t es_tok_trie_find(const es_tok_trie *t, const char *s, size_t n) {
    if (t->n_nodes == 0) return -1;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        const int64_t c = es_tok_trie_step(t, node, (uint8_t)s[i]);
        if (c < 0) return -1;
        node = (uint32_t)c;
    }
    return t->value[node];
}
