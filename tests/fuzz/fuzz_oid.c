/* fuzz_oid.c: libFuzzer target for object ids and record hashes: the parsers
 * accept exactly the hex strings of the right length, and what they accept
 * formats back to the same digits (lowercased).
 */
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void same_hex(const char *fmt, const uint8_t *data, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fmt[i] != tolower(data[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_oid id, id2;
	dsv_rhash h, h2;
	char hex[DSV_OID_HEXLEN + 1], rhex[33];

	if (dsv_oid_parse(&id, (const char *)data, size) == 0) {
		if (size != DSV_OID_HEXLEN)
			abort();
		dsv_oid_fmt(hex, &id);
		same_hex(hex, data, size);
		if (dsv_oid_parse(&id2, hex, DSV_OID_HEXLEN) != 0 ||
		    dsv_oid_cmp(&id, &id2) != 0)
			abort();
	} else if (strlen(dsv_error_last()) == 0) {
		abort();
	}
	if (dsv_rhash_parse(&h, (const char *)data, size) == 0) {
		if (size != 32)
			abort();
		dsv_rhash_fmt(rhex, &h);
		same_hex(rhex, data, size);
		if (dsv_rhash_parse(&h2, rhex, 32) != 0 ||
		    memcmp(h.b, h2.b, 16) != 0)
			abort();
	}
	return 0;
}
