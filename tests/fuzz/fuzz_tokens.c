/* fuzz_tokens.c: the token array decoder (object type 5) on arbitrary
 * sections, cut as sections.h says. What it accepts must be consistent:
 * row lengths add up to the count and every token is below the vocabulary.
 * Saved inputs whose mode byte is '!' must be rejected (when replaying;
 * gen_tokens_corpus.py writes them).
 */
#include "store/store.h"
#include "tests/fuzz/sections.h"

#include <stdlib.h>

extern int LLVMFuzzerRunDriver(int *argc, char ***argv,
			       int (*cb)(const uint8_t *, size_t))
	__attribute__((weak));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *secs[FUZZ_MAX_SECS] = {0};
	size_t lens[FUZZ_MAX_SECS] = {0};
	unsigned mode;
	int n = fuzz_split(data, size, &mode, secs, lens);
	int must_reject = !LLVMFuzzerRunDriver && mode == '!';
	dsv_tokens *t = NULL;

	if (dsv_tokens_decode(&t, secs, lens, n) == 0) {
		if (must_reject)
			abort();
		uint64_t sum = 0;
		uint32_t *row = malloc(1 << 16);
		for (uint64_t r = 0; r < dsv_tokens_rows(t) && r < 4096; r++) {
			uint64_t len = dsv_tokens_row_len(t, r);
			sum += len;
			if (len <= (1 << 14)) {
				dsv_tokens_row(t, r, row);
				for (uint64_t i = 0; i < len; i++)
					if (row[i] >= dsv_tokens_vocab(t))
						abort();
			}
		}
		if (dsv_tokens_rows(t) <= 4096 && sum != dsv_tokens_count(t))
			abort();
		free(row);
	} else if (t || !dsv_error_last()[0]) {
		abort();
	}
	dsv_tokens_free(t);
	for (int i = 0; i < n; i++)
		free(secs[i]);
	return 0;
}
