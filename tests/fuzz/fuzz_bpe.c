/* fuzz_bpe.c: libFuzzer target for the TOKENIZER file parser
 * (kernels/bpe.c): any input is parsed or rejected with a message naming
 * the file; what parses formats to a text that parses to the same
 * tokenizer, and encodes a few texts (the input itself among them) into
 * ids below the vocabulary that decode to the same bytes, so the tables
 * the parser built are exercised. Inputs under tests/fuzz/reject/bpe must
 * be rejected (replay.h).
 */
#include "kernels/bpe.h"
#include "kernels/device.h"
#include "tests/fuzz/replay.h"

#include <string.h>

static void round_trip(const dsv_bpe *b, const uint8_t *text, size_t len)
{
	dsv_bpe_encoder *e = NULL;
	uint32_t *ids = NULL;
	uint8_t *out = NULL;
	size_t n = 0, cap = 0, olen = 0, ocap = 0;
	if (dsv_bpe_encoder_new(&e, b) || dsv_bpe_encode(e, text, len, &ids,
							 &n, &cap))
		abort();
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= dsv_bpe_eot(b))
			abort();
	if (dsv_bpe_decode(b, ids, n, &out, &olen, &ocap) || olen != len ||
	    (len && memcmp(out, text, len)))
		abort();
	free(out);
	free(ids);
	dsv_bpe_encoder_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const texts[] = {
		"hello world", "  Hello, World!\n\n 12345 it's", "aaaaaaaaaaaaa",
		"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xff\xfe", ""};
	dsv_bpe *b = NULL, *b2 = NULL;
	char *text = NULL, *text2 = NULL;
	size_t len, len2;

	if (dsv_bpe_parse(&b, (const char *)data, size) != 0) {
		if (b || strncmp(dsv_kernel_error_last(), "TOKENIZER", 9))
			abort();
		return 0;
	}
	fuzz_accepted();
	if (dsv_bpe_format(b, &text, &len) || dsv_bpe_parse(&b2, text, len) ||
	    dsv_bpe_ntokens(b2) != dsv_bpe_ntokens(b) ||
	    dsv_bpe_format(b2, &text2, &len2) || len != len2 ||
	    memcmp(text, text2, len))
		abort();
	for (uint32_t id = 256; id < dsv_bpe_ntokens(b); id++) {
		uint32_t l, r, l2, r2;
		dsv_bpe_merge(b, id, &l, &r);
		dsv_bpe_merge(b2, id, &l2, &r2);
		if (l != l2 || r != r2 || l >= id || r >= id)
			abort();
	}
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		round_trip(b, (const uint8_t *)texts[i], strlen(texts[i]));
	round_trip(b, data, size < 4096 ? size : 4096);
	free(text);
	free(text2);
	dsv_bpe_free(b);
	dsv_bpe_free(b2);
	return 0;
}
