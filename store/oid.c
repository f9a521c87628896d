/* oid.c: object ids (SHA-256, 64 hex digits) and record hashes (XXH3-128,
 * 32 hex digits). Every id that comes from outside is parsed here, strictly,
 * before it can become part of a path.
 */
#include "store.h"

#include <string.h>
#include <xxhash.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dsv_hex_parse(uint8_t *out, size_t nbytes, const char *hex, size_t len,
		  const char *what)
{
	if (len != 2 * nbytes)
		return dsv_error_set(DSV_EINVAL,
				     "bad %s '%.*s': expected %zu hex digits",
				     what, (int)(len > 80 ? 80 : len), hex,
				     2 * nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		int hi = hexval((unsigned char)hex[2 * i]);
		int lo = hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return dsv_error_set(DSV_EINVAL,
					     "bad %s '%.*s': not a hex digit at %zu",
					     what, (int)len, hex,
					     hi < 0 ? 2 * i : 2 * i + 1);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void dsv_hex_fmt(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int dsv_oid_parse(dsv_oid *out, const char *hex, size_t len)
{
	return dsv_hex_parse(out->b, sizeof out->b, hex, len, "object id");
}

void dsv_oid_fmt(char out[DSV_OID_HEXLEN + 1], const dsv_oid *id)
{
	dsv_hex_fmt(out, id->b, sizeof id->b);
}

int dsv_oid_cmp(const dsv_oid *a, const dsv_oid *b)
{
	return memcmp(a->b, b->b, sizeof a->b);
}

int dsv_oid_is_zero(const dsv_oid *id)
{
	static const dsv_oid zero;
	return memcmp(id, &zero, sizeof zero) == 0;
}

void dsv_rhash_text(dsv_rhash *out, const void *text, size_t len)
{
	XXH128_hash_t h = XXH3_128bits(text, len);
	XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, h);
}

void dsv_rhash_fmt(char out[33], const dsv_rhash *h)
{
	dsv_hex_fmt(out, h->b, sizeof h->b);
}

int dsv_rhash_parse(dsv_rhash *out, const char *hex, size_t len)
{
	return dsv_hex_parse(out->b, sizeof out->b, hex, len, "record hash");
}
