/* fuzz_jsonl.c: libFuzzer target for the JSONL reader and writer, with
 * jansson as the oracle. The input is one JSONL file; each line must be
 * accepted exactly when jansson parses it as an object with a string text
 * member, decode to jansson's string, and rebuild byte for byte.
 *
 * Intentional differences from jansson, encoded below: numbers jansson
 * cannot hold (integers beyond int64, reals that overflow a double) are valid
 * JSON and accepted here; \u0000 is allowed (jansson needs JSON_ALLOW_NUL,
 * and refuses it in keys even then); a repeated text key is refused here
 * while jansson keeps the last value. And a jansson quirk: it skips a raw
 * NUL byte after a number, so lines with raw NUL bytes are judged here.
 */
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUST(c)                                                              \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "fuzz_jsonl: %s failed at line %zu\n", \
				#c, lineno);                                 \
			abort();                                             \
		}                                                            \
	} while (0)

enum { REJECT, ACCEPT, EITHER };

/* What jansson says about one line; its text in *t, *tn when ACCEPT. */
static int oracle(const char *line, size_t n, json_t **root, const char **t,
		  size_t *tn)
{
	json_error_t e;
	size_t i = 0;
	while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	if (i == n)
		return -1; /* blank: no record, no error */
	/* a raw NUL byte is never valid JSON, but jansson skips one that ends
	 * a number ({"n":1<NUL>,...} loads): decide those lines here */
	if (memchr(line, 0, n))
		return REJECT;
	*root = json_loadb(line, n, JSON_ALLOW_NUL, &e);
	if (!*root) {
		enum json_error_code c = json_error_code(&e);
		if (c == json_error_numeric_overflow ||
		    c == json_error_null_byte_in_key)
			return EITHER;
		return REJECT;
	}
	json_t *v = json_is_object(*root) ? json_object_get(*root, "text") : NULL;
	if (!v || !json_is_string(v))
		return REJECT;
	*t = json_string_value(v);
	*tn = json_string_length(v);
	/* a repeated key anywhere: jansson keeps the last, we refuse a
	 * repeated text key, so only the text can be compared */
	json_t *d = json_loadb(line, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
			       &e);
	if (!d)
		return EITHER;
	json_decref(d);
	return ACCEPT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_reader *r = NULL;
	dsv_reader_opts o = {.text_field = "text", .skip_bad = 1};
	dsv_record rec;
	dsv_buf out = {0}, again = {0};
	size_t lineno = 0;
	int have;

	if (dsv_reader_open_mem(&r, "fuzz.jsonl", data, size, &o))
		return 0;
	/* compressed input (by its magic): robustness only, no oracle */
	if (size >= 2 && ((data[0] == 0x1f && data[1] == 0x8b) ||
			  (data[0] == 0x28 && data[1] == 0xb5))) {
		while (dsv_reader_next(r, &rec) == 1)
			;
		dsv_reader_free(r);
		return 0;
	}
	have = dsv_reader_next(r, &rec);
	MUST(have >= 0);
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_t *root = NULL;
		const char *t = NULL;
		size_t tn = 0;
		lineno++;
		int want = oracle(p, n, &root, &t, &tn);
		int got = have == 1 && rec.line == lineno;
		if (want == ACCEPT || want == REJECT)
			MUST(got == (want == ACCEPT));
		if (want == -1)
			MUST(!got);
		if (got) {
			if (want == ACCEPT || (want == EITHER && t))
				MUST(rec.text_len == tn &&
				     memcmp(rec.text, t, tn) == 0);
			out.len = 0;
			MUST(dsv_jsonl_format(&out, rec.text, rec.text_len,
					      rec.meta, rec.meta_len,
					      rec.layout) == 0);
			if (!(rec.layout & DSV_LAYOUT_NONCANON)) {
				MUST(out.len == n + 1 && memcmp(out.buf, p, n) == 0);
			} else {
				/* the canonical form reads back as canonical,
				 * with the same text, and rebuilds itself */
				dsv_reader *r2 = NULL;
				dsv_record rec2;
				MUST(dsv_reader_open_mem(&r2, "re.jsonl", out.buf,
							 out.len, &o) == 0);
				MUST(dsv_reader_next(r2, &rec2) == 1);
				MUST(!(rec2.layout & DSV_LAYOUT_NONCANON));
				MUST(rec2.text_len == rec.text_len &&
				     memcmp(rec2.text, rec.text, rec.text_len) == 0);
				again.len = 0;
				MUST(dsv_jsonl_format(&again, rec2.text,
						      rec2.text_len, rec2.meta,
						      rec2.meta_len,
						      rec2.layout) == 0);
				MUST(again.len == out.len &&
				     memcmp(again.buf, out.buf, out.len) == 0);
				dsv_reader_free(r2);
			}
			out.len = 0;
			MUST(dsv_jsonl_meta(&out, rec.meta, rec.meta_len,
					    rec.layout) == 0);
			/* meta without the text is itself a JSON object */
			json_error_t e;
			json_t *m = json_loadb(out.buf, out.len, JSON_ALLOW_NUL, &e);
			if (want == ACCEPT) {
				MUST(m && json_is_object(m));
				MUST(json_object_size(m) ==
				     json_object_size(root) - 1);
			}
			json_decref(m);
			have = dsv_reader_next(r, &rec);
			MUST(have >= 0);
		}
		json_decref(root);
		p = nl ? nl + 1 : end;
	}
	MUST(have == 0);
	dsv_reader_free(r);
	dsv_buf_free(&out);
	dsv_buf_free(&again);
	return 0;
}
