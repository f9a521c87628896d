/* fuzz_column.c: libFuzzer target for the column object decoder
 * (store/column.c) on arbitrary sections, cut as sections.h says (byte 0
 * unused). What it accepts holds exactly the value bytes it was given, one
 * value per row. Inputs under tests/fuzz/reject/column must be rejected
 * (replay.h).
 */
#include "store/store.h"
#include "tests/fuzz/replay.h"
#include "tests/fuzz/sections.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *secs[FUZZ_MAX_SECS] = {0};
	size_t lens[FUZZ_MAX_SECS] = {0};
	unsigned mode;
	int n = fuzz_split(data, size, &mode, secs, lens);
	dsv_column *c = NULL;
	dsv_oid shard;

	if (dsv_column_decode(&c, secs, lens, n, &shard) == 0) {
		fuzz_accepted();
		dsv_col_type t = dsv_column_type(c);
		uint64_t rows = dsv_column_rows(c);
		if (!dsv_col_type_name(t) || n != 2 ||
		    rows * dsv_col_type_size(t) != lens[1] ||
		    memcmp(dsv_column_cdata(c), secs[1], lens[1]) ||
		    memcmp(shard.b, (uint8_t *)secs[0] + 16, sizeof shard.b))
			abort();
		for (uint64_t r = 0; r < rows; r++)
			(void)dsv_column_get(c, r);
		dsv_column_free(c);
	} else if (c || dsv_error_code() != DSV_ECORRUPT ||
		   strncmp(dsv_error_last(), "bad column: ", 12)) {
		abort();
	}
	for (int i = 0; i < n; i++)
		free(secs[i]);
	return 0;
}
