/* expr.h: the --where expression language (cmd/expr.c): numbers, strings,
 * names, comparisons (== != < <= > >=), && || !, parentheses, e.g.
 *	quality > 0.5 && words >= 50 && meta.lang == "en"
 * A pure parser and evaluator: names are resolved by the caller into value
 * slots at parse time, and rows are evaluated against filled slots. The
 * grammar and semantics are in docs/filters.md. Only cmd/ includes this.
 */
#ifndef DSV_CMD_EXPR_H
#define DSV_CMD_EXPR_H

#include <stddef.h>

enum expr_type {
	EXPR_MISSING = 0, /* no value: every comparison with it is false */
	EXPR_NUM = 1,
	EXPR_STR = 2,
	EXPR_ANY = 3, /* a slot whose type is known only per row (JSON meta) */
};

struct expr_value {
	int type; /* EXPR_MISSING, EXPR_NUM or EXPR_STR */
	double num;
	const char *str; /* not NUL-terminated; borrowed */
	size_t len;
};

/* Resolves a name to a slot: returns the slot index (>= 0) and its type in
 * *type (EXPR_NUM, EXPR_STR or EXPR_ANY), or EXPR_UNKNOWN, EXPR_TOO_LONG
 * (the name is longer than the caller keeps) or EXPR_TOO_MANY (no slot
 * left for another name). */
enum { EXPR_UNKNOWN = -1, EXPR_TOO_LONG = -2, EXPR_TOO_MANY = -3 };
typedef int (*expr_resolve_fn)(const char *name, size_t len, int *type,
			       void *ctx);

struct expr;

#define EXPR_MAX_LEN 4096 /* longest expression accepted, in bytes */
#define EXPR_MAX_DEPTH 64 /* deepest nesting of parentheses and ! */

/* Parses `src` (NUL-terminated). On error returns -1, writes a message
 * ("unknown column 'qualty'") into err and the byte offset it points at into
 * *err_pos; nothing is allocated then. */
int expr_parse(struct expr **out, const char *src, expr_resolve_fn resolve,
	       void *ctx, char *err, size_t errlen, size_t *err_pos);
void expr_free(struct expr *e);
/* 1 when the row whose slot values are `slots` passes, else 0. */
int expr_eval(const struct expr *e, const struct expr_value *slots);
/* Formats "at LINE:COL" for byte offset `pos` of src (1-based, columns in
 * code points) followed by a newline, the offending line and a caret line
 * under that column, into buf. */
void expr_locate(const char *src, size_t pos, char *buf, size_t len);

#endif
