/* sections.h: how the shard/selection fuzz input is cut into an object's
 * sections, shared by fuzz_shard.c, gen_corpus.c and the unit tests that
 * replay the reject fixtures. Byte 0 picks the decoder (bit 0: selection)
 * and the shard columns (bits 1..4); then up to FUZZ_MAX_SECS times a u32
 * little-endian length and that many bytes (clamped to what is left).
 */
#ifndef DSV_FUZZ_SECTIONS_H
#define DSV_FUZZ_SECTIONS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_SECS 9

/* Splits data into malloc'd sections; returns their count. *mode gets byte 0
 * (0 for empty input). Free each secs[i] that is not NULL. */
static inline int fuzz_split(const uint8_t *data, size_t size, unsigned *mode,
			     void **secs, size_t *lens)
{
	int n = 0;
	*mode = size ? data[0] : 0;
	size_t pos = size ? 1 : 0;
	while (pos + 4 <= size && n < FUZZ_MAX_SECS) {
		size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8 |
			     (size_t)data[pos + 2] << 16 |
			     (size_t)data[pos + 3] << 24;
		pos += 4;
		if (len > size - pos)
			len = size - pos;
		secs[n] = malloc(len ? len : 1);
		if (len)
			memcpy(secs[n], data + pos, len);
		lens[n++] = len;
		pos += len;
	}
	return n;
}

#endif
