/* test_expr.c: the --where language: precedence, comparisons of numbers and
 * strings, missing values, and errors that name what is wrong and where.
 * cmd/expr.c is pure C, so it is compiled into the test directly.
 */
#include "cmd/expr.c"

#include "store/store.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/test.h"

/* slots: 0 quality (num), 1 words (num), 2 lang (str), 3 meta.x (any) */
static int resolve(const char *name, size_t len, int *type, void *ctx)
{
	static const char *const names[] = {"quality", "words", "lang",
					    "meta.x", NULL};
	static const int types[] = {EXPR_NUM, EXPR_NUM, EXPR_STR, EXPR_ANY};
	(void)ctx;
	for (int i = 0; names[i]; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], name, len)) {
			*type = types[i];
			return i;
		}
	return -1;
}

static struct expr_value row[4];

static void set_row(double q, double w, const char *lang)
{
	memset(row, 0, sizeof row);
	row[0] = (struct expr_value){EXPR_NUM, q, NULL, 0};
	row[1] = (struct expr_value){EXPR_NUM, w, NULL, 0};
	if (lang)
		row[2] = (struct expr_value){EXPR_STR, 0, lang, strlen(lang)};
}

static int eval(const char *src)
{
	struct expr *e = NULL;
	char err[256];
	size_t pos;
	if (expr_parse(&e, src, resolve, NULL, err, sizeof err, &pos)) {
		printf("  '%s' did not parse: %s at %zu\n", src, err, pos);
		return -1;
	}
	int v = expr_eval(e, row);
	expr_free(e);
	return v;
}

static void bad(const char *src, const char *want, size_t want_pos)
{
	struct expr *e = NULL;
	char err[256];
	size_t pos = 999;
	int rc = expr_parse(&e, src, resolve, NULL, err, sizeof err, &pos);
	if (rc == 0 || !strstr(err, want) || pos != want_pos) {
		printf("  '%s': rc %d, error '%s' at %zu; want '%s' at %zu\n",
		       src, rc, rc ? err : "", pos, want, want_pos);
		test_failed_checks++;
	}
	expr_free(e);
}

static void test_comparisons(void)
{
	set_row(0.7, 120, "en");
	CHECK(eval("quality > 0.5") == 1);
	CHECK(eval("quality > 0.7") == 0);
	CHECK(eval("quality >= 0.7") == 1);
	CHECK(eval("quality < 1 && words <= 120") == 1);
	CHECK(eval("words == 120") == 1);
	CHECK(eval("words != 120") == 0);
	CHECK(eval("lang == \"en\"") == 1);
	CHECK(eval("lang == 'en'") == 1);
	CHECK(eval("lang != \"de\"") == 1);
	CHECK(eval("lang < \"fr\"") == 1);
	CHECK(eval("lang == \"e\"") == 0);
	CHECK(eval("-1 < quality") == 1);
	CHECK(eval("quality > 5e-1") == 1);
	CHECK(eval("words") == 1);
	CHECK(eval("quality > 0.5 && words >= 50 && lang == \"en\"") == 1);
}

static void test_logic(void)
{
	set_row(0.2, 10, "en");
	CHECK(eval("quality > 0.5 || words < 20") == 1);
	CHECK(eval("!(quality > 0.5)") == 1);
	CHECK(eval("!quality > 0.5") == 1); /* ! binds the comparison */
	/* && binds tighter than || */
	CHECK(eval("words > 100 && quality > 0.5 || lang == \"en\"") == 1);
	CHECK(eval("words > 100 && (quality > 0.5 || lang == \"en\")") == 0);
	CHECK(eval("((words < 100))") == 1);
	CHECK(eval("(words < 100) == 1") == 1);
	/* a parenthesised value is a value, not its truth */
	CHECK(eval("(words) > 5") == 1);
	CHECK(eval("(words) == 10") == 1);
	CHECK(eval("(quality) < 0.5") == 1);
	CHECK(eval("(lang) == \"en\"") == 1);
	CHECK(eval("lang == (\"en\")") == 1);
	CHECK(eval("(words)") == 1);
	CHECK(eval("!(words)") == 0);
	CHECK(eval("(words) && (quality) > 0.1") == 1);
}

static void test_missing(void)
{
	set_row(0.7, 120, NULL); /* lang missing */
	CHECK(eval("lang == \"en\"") == 0);
	CHECK(eval("lang != \"en\"") == 0);
	CHECK(eval("!(lang == \"en\")") == 1);
	row[0].num = NAN; /* a NaN column value is missing too */
	CHECK(eval("quality > 0 || quality <= 0") == 0);
	/* an ANY slot compares by the type each row gives it */
	row[3] = (struct expr_value){EXPR_NUM, 1, NULL, 0}; /* JSON true */
	CHECK(eval("meta.x == true") == 1);
	CHECK(eval("meta.x != false") == 1);
	CHECK(eval("!(meta.x == false)") == 1);
	row[3] = (struct expr_value){EXPR_NUM, 3, NULL, 0};
	CHECK(eval("meta.x == 3") == 1);
	CHECK(eval("meta.x == \"3\"") == 0);
	row[3] = (struct expr_value){EXPR_STR, 0, "3", 1};
	CHECK(eval("meta.x == \"3\"") == 1);
}

static void test_errors(void)
{
	bad("qualty > 0.5", "unknown column 'qualty'", 0);
	bad("quality > 0.5 && wrds > 1", "unknown column 'wrds'", 17);
	bad("", "empty expression", 0);
	bad("quality = 1", "unknown operator '='", 8);
	bad("quality > 1 & words > 1", "unknown operator '&'", 12);
	bad("(quality > 1", "unbalanced '('", 0);
	bad("quality > 1)", "unbalanced ')'", 11);
	bad("quality >", "expected a value", 9);
	bad("lang == 1", "cannot compare a number with a string", 5);
	bad("\"en\"", "a string is not a condition", 4);
	bad("(\"en\")", "a string is not a condition", 5);
	bad("words > 1 && 'en'", "a string is not a condition", 17);
	bad("!'en'", "a string is not a condition", 5);
	/* UTF-8 is part of a name, and messages show whole characters */
	bad("meta.d\xc3\xa9tail > 1", "unknown column 'meta.d\xc3\xa9tail'", 0);
	bad("words > 1 \xc3\xa9", "unexpected '\xc3\xa9' after a condition", 10);
	bad("\xe2\x82\xac > 1", "unexpected '\xe2\x82\xac'", 0);
	bad("words > 1 > 0", "comparisons do not chain", 10);
	bad("lang == \"en", "unterminated string", 8);
	bad("words > 1.2.3", "bad number", 8);
	bad("words > 1 @", "unexpected '@'", 10);
	char deep[300];
	memset(deep, '(', 100);
	strcpy(deep + 100, "words");
	bad(deep, "nested too deeply", 64);
}

static void test_locate(void)
{
	char buf[256];
	expr_locate("qualty > 0.5", 0, buf, sizeof buf);
	CHECK(!strcmp(buf, "at 1:1\n    qualty > 0.5\n    ^"));
	expr_locate("a > 1 &&\n  bx > 2", 11, buf, sizeof buf);
	CHECK(!strcmp(buf, "at 2:3\n      bx > 2\n      ^"));
}

static void reject_one(const char *name, const uint8_t *data, size_t size)
{
	char src[EXPR_MAX_LEN + 1], err[256];
	size_t pos;
	struct expr *e = NULL;
	if (size > EXPR_MAX_LEN)
		size = EXPR_MAX_LEN;
	memcpy(src, data, size);
	src[size] = 0;
	if (expr_parse(&e, src, resolve, NULL, err, sizeof err, &pos) == 0) {
		printf("  reject/expr/%s was accepted\n", name);
		test_failed_checks++;
		expr_free(e);
	}
}

/* The fuzzer's must-reject fixtures (tests/fuzz/reject/expr). */
static void test_reject_fixtures(void)
{
	CHECK(for_each_fixture("tests/fuzz/reject/expr", reject_one) > 10);
}

int main(void)
{
	RUN(test_comparisons);
	RUN(test_logic);
	RUN(test_missing);
	RUN(test_errors);
	RUN(test_locate);
	RUN(test_reject_fixtures);
	TEST_EXIT();
}
