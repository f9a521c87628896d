/* fuzz_expr.c: libFuzzer target for the --where expression parser and
 * evaluator: any bytes either parse (and then evaluate on a few rows without
 * fault) or are rejected with a message and a position inside the input.
 * The inputs under reject/expr must be rejected: tests/unit/test_expr.c
 * checks that (an in-band marker would be found by libFuzzer's comparison
 * tracing and mutated into accepted inputs). cmd/expr.c is pure C with no
 * dependencies, so it is compiled into the target directly.
 */
#include "cmd/expr.c"

#include <stdint.h>

static int resolve(const char *name, size_t len, int *type, void *ctx)
{
	static const char *const names[] = {"quality", "words", "lang",
					    "meta.url", NULL};
	static const int types[] = {EXPR_NUM, EXPR_NUM, EXPR_STR, EXPR_ANY};
	(void)ctx;
	for (int i = 0; names[i]; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], name, len)) {
			*type = types[i];
			return i;
		}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char src[EXPR_MAX_LEN + 2], err[256], where[EXPR_MAX_LEN + 512];
	size_t pos = (size_t)-1;
	struct expr *e = NULL;
	if (size > EXPR_MAX_LEN + 1)
		size = EXPR_MAX_LEN + 1;
	memcpy(src, data, size);
	src[size] = 0;
	if (expr_parse(&e, src, resolve, NULL, err, sizeof err, &pos) == 0) {
		struct expr_value v[4] = {
			{EXPR_NUM, 0.7, NULL, 0}, {EXPR_NUM, 120, NULL, 0},
			{EXPR_STR, 0, "en", 2}, {EXPR_MISSING, 0, NULL, 0}};
		(void)expr_eval(e, v);
		v[0].type = EXPR_MISSING;
		v[3].type = EXPR_STR;
		v[3].str = "x";
		v[3].len = 1;
		(void)expr_eval(e, v);
		expr_free(e);
	} else {
		if (!err[0] || pos > strlen(src) + 1)
			abort();
		expr_locate(src, pos, where, sizeof where);
	}
	return 0;
}
