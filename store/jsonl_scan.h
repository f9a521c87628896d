/* jsonl_scan.h: the JSONL line scanner shared by store/reader.c and
 * store/jsonl.c. Shall only be included by modules within store/.
 *
 * A line is validated as one JSON object, its text member is unescaped and
 * the rest becomes the record's meta and layout word (docs/records.md).
 */
#ifndef DSV_JSONL_SCAN_H
#define DSV_JSONL_SCAN_H

#include "store.h"

/* Bytes past the end of a line the scanner may read (never write): it loads
 * 16 bytes at a time and stops at the byte that ends the line. */
#define DSV_JSONL_PAD 64

/* Deepest nesting accepted, counted as jansson counts it (every value, the
 * top-level object being 1), so that both accept the same objects. */
#define DSV_JSONL_MAX_DEPTH 2048

typedef struct {
	dsv_buf text;     /* the decoded text of the last line */
	dsv_buf meta;     /* the line with the text value replaced by "" */
	dsv_buf key;      /* scratch for keys with escapes */
	uint32_t layout;
	size_t err_col;   /* 0-based byte offset of the error in the line */
	const char *err;  /* static message, set when dsv_jsonl_parse fails */
} dsv_jsonl_parser;

/* Parses one line (without its '\n'). The byte line[len] must be a byte below
 * 0x20 (the '\n', or a sentinel) and DSV_JSONL_PAD bytes from line+len must be
 * readable. Returns 1 with p->text, p->meta and p->layout filled, 0 for a line
 * of JSON whitespace only, DSV_EINVAL with p->err and p->err_col set for bad
 * input, or DSV_ENOMEM. */
int dsv_jsonl_parse(dsv_jsonl_parser *p, const char *line, size_t len,
		    const char *field, size_t flen);
void dsv_jsonl_parser_free(dsv_jsonl_parser *p);

/* p->err when the line has no text field (a reader names the field) */
extern const char dsv_jsonl_no_field[];

/* Offset of the first byte of s[0..n) that is not part of valid UTF-8 (no
 * overlong forms, no surrogates, nothing over U+10FFFF); n when all valid. */
size_t dsv_utf8_check(const char *s, size_t n);

#endif
