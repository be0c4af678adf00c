/*
 * rows.h — beam reorder of a row-major cache, in place.
 */
#ifndef ES_CORE_ROWS_H
#define ES_CORE_ROWS_H

#include <stddef.h>
#include <stdint.h>

/* Row r (at base + r * stride bytes) becomes a copy of the first `live`
 * bytes of old row parent[r], for r < n_rows; parent[r] < the old row
 * count (checked by the caller). Rows with parent[r] == r are not touched;
 * an old row that is a parent and is itself overwritten is first saved at
 * the same offset in tmp (the layout of base, as many rows). Cost: the
 * moved rows, not the whole cache. */
void es_gather_rows(void *base, size_t stride, size_t live, void *tmp, const int32_t *parent,
                    int n_rows);

#endif
