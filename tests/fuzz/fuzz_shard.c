/* fuzz_shard.c: libFuzzer target for the shard and selection decoders, which
 * must reject any inconsistency without reading out of bounds. The input is
 * cut into sections as sections.h says.
 */
#include "store/store.h"
#include "tests/fuzz/sections.h"

#include <stdlib.h>

static void use_shard(const dsv_shard *sh, unsigned cols)
{
	volatile unsigned sink = 0;
	for (uint64_t r = 0; r < dsv_shard_rows(sh) && r < 4096; r++) {
		size_t len;
		const char *t = dsv_shard_text(sh, r, &len);
		if (t && len)
			sink += (unsigned char)t[len - 1];
		t = dsv_shard_meta(sh, r, &len);
		if (t && len)
			sink += (unsigned char)t[0];
		const dsv_rhash *h = dsv_shard_hash(sh, r);
		if (h)
			sink += h->b[15];
		sink += dsv_shard_layout(sh, r);
		if ((cols & DSV_SHARD_TEXT) && (!dsv_shard_text(sh, r, &len) ||
						len != dsv_shard_text_len(sh, r)))
			abort();
		sink += (unsigned)dsv_shard_text_len(sh, r);
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *secs[FUZZ_MAX_SECS] = {0};
	size_t lens[FUZZ_MAX_SECS] = {0};
	unsigned mode;
	int n = fuzz_split(data, size, &mode, secs, lens);

	if (mode & 1) {
		dsv_selection *sel = NULL;
		dsv_oid shard;
		if (dsv_selection_decode(&sel, secs, lens, n, &shard) == 0) {
			uint64_t kept = 0;
			for (uint64_t r = 0; r < dsv_selection_rows(sel); r++)
				kept += (uint64_t)dsv_selection_get(sel, r);
			if (kept != dsv_selection_count(sel))
				abort();
		}
		dsv_selection_free(sel);
	} else {
		dsv_shard *sh = NULL;
		unsigned cols = (mode >> 1) & DSV_SHARD_ALL;
		if (dsv_shard_decode(&sh, secs, lens, n, cols) == 0)
			use_shard(sh, cols);
		dsv_shard_free(sh);
	}
	for (int i = 0; i < n; i++)
		free(secs[i]);
	return 0;
}
