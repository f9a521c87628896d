/* expr.c: parser and evaluator of the --where language: a recursive-descent
 * parser into a flat node array (bounded in length and depth, so the fuzzer
 * cannot exhaust the stack), and an evaluator with SQL-like missing values:
 * a comparison with a missing value, or between a number and a string, is
 * false.
 */
#include "cmd/expr.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_kind { N_NUM, N_STR, N_SLOT, N_CMP, N_AND, N_OR, N_NOT, N_TRUTH };
enum cmp_op { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

struct node {
	int kind, op, type;
	int a, b;        /* children (node indexes) */
	size_t end;      /* where the node's text ends (for errors) */
	int slot;        /* N_SLOT */
	double num;      /* N_NUM */
	size_t soff, slen; /* N_STR: into e->strs */
};

struct expr {
	struct node *n;
	int nn, cap, root;
	char *strs;
	size_t slen, scap;
};

struct parser {
	const char *src;
	size_t pos, len;
	struct expr *e;
	expr_resolve_fn resolve;
	void *ctx;
	int depth;
	char *err;
	size_t errlen, err_pos;
	int failed;
};

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
	if (!p->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
		p->err_pos = pos;
		p->failed = 1;
	}
	return -1;
}

static int new_node(struct parser *p, int kind)
{
	struct expr *e = p->e;
	if (e->nn == e->cap) {
		int cap = e->cap ? 2 * e->cap : 16;
		struct node *n = realloc(e->n, (size_t)cap * sizeof *n);
		if (!n)
			return fail(p, p->pos, "out of memory");
		e->n = n;
		e->cap = cap;
	}
	memset(&e->n[e->nn], 0, sizeof e->n[0]);
	e->n[e->nn].kind = kind;
	e->n[e->nn].type = EXPR_NUM;
	e->n[e->nn].end = p->pos;
	return e->nn++;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && isspace((unsigned char)p->src[p->pos]))
		p->pos++;
}

static int is_name_start(int c)
{
	return isalpha(c) || c == '_';
}

/* Bytes of UTF-8 are name characters, so meta fields such as `meta.détail`
 * can be named. */
static int is_name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-' || c >= 0x80;
}

/* The bytes of the character at s (a whole UTF-8 sequence), for messages. */
static int char_len(const char *s, size_t left)
{
	int n = 1;
	while ((size_t)n < left && n < 4 &&
	       ((unsigned char)s[n] & 0xC0) == 0x80)
		n++;
	return n;
}

static int parse_or(struct parser *p);

/* Appends the unescaped string literal starting at the quote. */
static int parse_string(struct parser *p)
{
	size_t start = p->pos;
	char q = p->src[p->pos++];
	struct expr *e = p->e;
	size_t off = e->slen;
	for (;;) {
		if (p->pos >= p->len)
			return fail(p, start, "unterminated string");
		char c = p->src[p->pos++];
		if (c == q)
			break;
		if (c == '\\') {
			if (p->pos >= p->len)
				return fail(p, start, "unterminated string");
			c = p->src[p->pos++];
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c != '\\' && c != '"' && c != '\'')
				return fail(p, p->pos - 2,
					    "unknown escape '\\%c' in string", c);
		}
		if (e->slen == e->scap) {
			size_t cap = e->scap ? 2 * e->scap : 64;
			char *s = realloc(e->strs, cap);
			if (!s)
				return fail(p, start, "out of memory");
			e->strs = s;
			e->scap = cap;
		}
		e->strs[e->slen++] = c;
	}
	int n = new_node(p, N_STR);
	if (n < 0)
		return -1;
	e->n[n].soff = off;
	e->n[n].slen = e->slen - off;
	e->n[n].type = EXPR_STR;
	return n;
}

static int parse_number(struct parser *p)
{
	size_t start = p->pos;
	char buf[64];
	size_t i = p->pos;
	if (i < p->len && (p->src[i] == '-' || p->src[i] == '+'))
		i++;
	while (i < p->len && (isdigit((unsigned char)p->src[i]) ||
			      p->src[i] == '.'))
		i++;
	if (i < p->len && (p->src[i] == 'e' || p->src[i] == 'E')) {
		i++;
		if (i < p->len && (p->src[i] == '-' || p->src[i] == '+'))
			i++;
		while (i < p->len && isdigit((unsigned char)p->src[i]))
			i++;
	}
	if (i - start >= sizeof buf)
		return fail(p, start, "number too long");
	memcpy(buf, p->src + start, i - start);
	buf[i - start] = 0;
	char *end;
	double v = strtod(buf, &end);
	if (end != buf + (i - start) || i == start || !isfinite(v))
		return fail(p, start, "bad number '%s'", buf);
	if (i < p->len && is_name_char((unsigned char)p->src[i]))
		return fail(p, start, "bad number");
	p->pos = i;
	int n = new_node(p, N_NUM);
	if (n >= 0)
		p->e->n[n].num = v;
	return n;
}

static int parse_primary(struct parser *p)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, p->pos, "expected a value at the end");
	unsigned char c = (unsigned char)p->src[p->pos];
	if (c == '(') {
		size_t open = p->pos++;
		if (++p->depth > EXPR_MAX_DEPTH)
			return fail(p, open, "nested too deeply");
		int n = parse_or(p);
		p->depth--;
		if (n < 0)
			return -1;
		skip_ws(p);
		if (p->pos >= p->len || p->src[p->pos] != ')')
			return fail(p, open, "unbalanced '('");
		p->pos++;
		return n;
	}
	if (c == '"' || c == '\'')
		return parse_string(p);
	if (isdigit(c) || c == '.' ||
	    ((c == '-' || c == '+') && p->pos + 1 < p->len &&
	     (isdigit((unsigned char)p->src[p->pos + 1]) ||
	      p->src[p->pos + 1] == '.')))
		return parse_number(p);
	if (is_name_start(c)) {
		size_t start = p->pos;
		while (p->pos < p->len && is_name_char((unsigned char)p->src[p->pos]))
			p->pos++;
		size_t len = p->pos - start;
		/* JSON's booleans, which meta fields compare as 1 and 0 */
		if ((len == 4 && !memcmp(p->src + start, "true", 4)) ||
		    (len == 5 && !memcmp(p->src + start, "false", 5))) {
			int n = new_node(p, N_NUM);
			if (n >= 0)
				p->e->n[n].num = len == 4;
			return n;
		}
		int type = EXPR_NUM;
		int slot = p->resolve(p->src + start, p->pos - start, &type,
				      p->ctx);
		if (slot == EXPR_TOO_LONG)
			return fail(p, start, "name too long (%zu bytes): '%.*s...'",
				    p->pos - start, 40, p->src + start);
		if (slot == EXPR_TOO_MANY)
			return fail(p, start, "too many names in one expression "
				    "at '%.*s'", (int)(p->pos - start),
				    p->src + start);
		if (slot < 0)
			return fail(p, start, "unknown column '%.*s'",
				    (int)(p->pos - start), p->src + start);
		int n = new_node(p, N_SLOT);
		if (n >= 0) {
			p->e->n[n].slot = slot;
			p->e->n[n].type = type;
		}
		return n;
	}
	return fail(p, p->pos, "unexpected '%.*s'",
		    char_len(p->src + p->pos, p->len - p->pos), p->src + p->pos);
}

static int match(struct parser *p, const char *tok)
{
	size_t n = strlen(tok);
	if (p->len - p->pos >= n && !memcmp(p->src + p->pos, tok, n)) {
		p->pos += n;
		return 1;
	}
	return 0;
}

static int parse_cmp(struct parser *p)
{
	int a = parse_primary(p);
	if (a < 0)
		return -1;
	skip_ws(p);
	size_t at = p->pos;
	int op;
	if (match(p, "=="))
		op = C_EQ;
	else if (match(p, "!="))
		op = C_NE;
	else if (match(p, "<="))
		op = C_LE;
	else if (match(p, ">="))
		op = C_GE;
	else if (match(p, "<"))
		op = C_LT;
	else if (match(p, ">"))
		op = C_GT;
	else if (p->pos < p->len && (p->src[p->pos] == '=' ||
				     (p->src[p->pos] == '!' && 0)))
		return fail(p, at, "unknown operator '='; did you mean '=='?");
	else /* a value alone: a condition only where one is needed */
		return a;
	int b = parse_primary(p);
	if (b < 0)
		return -1;
	int ta = p->e->n[a].type, tb = p->e->n[b].type;
	if ((ta == EXPR_NUM && tb == EXPR_STR) ||
	    (ta == EXPR_STR && tb == EXPR_NUM))
		return fail(p, at, "cannot compare a number with a string");
	skip_ws(p);
	if (p->pos < p->len && strchr("=!<>", p->src[p->pos]))
		return fail(p, p->pos, "comparisons do not chain; use &&");
	int n = new_node(p, N_CMP);
	if (n >= 0) {
		p->e->n[n].op = op;
		p->e->n[n].a = a;
		p->e->n[n].b = b;
	}
	return n;
}

static int is_value(const struct node *n)
{
	return n->kind == N_NUM || n->kind == N_STR || n->kind == N_SLOT;
}

/* Node `a` used as a condition: a value alone is true when it is a nonzero
 * number. A parenthesised value stays a value, so `(words) > 5` compares
 * words, not its truth. */
static int as_cond(struct parser *p, int a)
{
	if (a < 0 || !is_value(&p->e->n[a]))
		return a;
	if (p->e->n[a].type == EXPR_STR)
		return fail(p, p->e->n[a].end, "a string is not a condition");
	int n = new_node(p, N_TRUTH);
	if (n >= 0)
		p->e->n[n].a = a;
	return n;
}

static int parse_not(struct parser *p)
{
	skip_ws(p);
	if (p->pos < p->len && p->src[p->pos] == '!' &&
	    !(p->pos + 1 < p->len && p->src[p->pos + 1] == '=')) {
		size_t at = p->pos++;
		if (++p->depth > EXPR_MAX_DEPTH)
			return fail(p, at, "nested too deeply");
		int a = as_cond(p, parse_not(p));
		p->depth--;
		if (a < 0)
			return -1;
		int n = new_node(p, N_NOT);
		if (n >= 0)
			p->e->n[n].a = a;
		return n;
	}
	return parse_cmp(p);
}

/* One left-associative level of the grammar: operand (op operand)*, each op
 * a node of `kind` over the two sides. */
static int parse_chain(struct parser *p, const char *op, int kind,
		       int (*operand)(struct parser *))
{
	int a = operand(p);
	while (a >= 0) {
		skip_ws(p);
		if (!match(p, op))
			break;
		if ((a = as_cond(p, a)) < 0)
			return -1;
		int b = as_cond(p, operand(p));
		if (b < 0)
			return -1;
		int n = new_node(p, kind);
		if (n < 0)
			return -1;
		p->e->n[n].a = a;
		p->e->n[n].b = b;
		a = n;
	}
	return a;
}

static int parse_and(struct parser *p)
{
	return parse_chain(p, "&&", N_AND, parse_not);
}

static int parse_or(struct parser *p)
{
	return parse_chain(p, "||", N_OR, parse_and);
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	free(e->n);
	free(e->strs);
	free(e);
}

int expr_parse(struct expr **out, const char *src, expr_resolve_fn resolve,
	       void *ctx, char *err, size_t errlen, size_t *err_pos)
{
	struct parser p = {.src = src, .len = strlen(src), .resolve = resolve,
			   .ctx = ctx, .err = err, .errlen = errlen};
	*out = NULL;
	if (errlen)
		err[0] = 0;
	if (p.len > EXPR_MAX_LEN) {
		snprintf(err, errlen, "expression longer than %d bytes",
			 EXPR_MAX_LEN);
		*err_pos = EXPR_MAX_LEN;
		return -1;
	}
	if (!(p.e = calloc(1, sizeof *p.e))) {
		snprintf(err, errlen, "out of memory");
		*err_pos = 0;
		return -1;
	}
	skip_ws(&p);
	if (p.pos == p.len) {
		fail(&p, 0, "empty expression");
	} else {
		p.e->root = as_cond(&p, parse_or(&p));
		skip_ws(&p);
		if (!p.failed && p.pos < p.len) {
			if (p.src[p.pos] == ')')
				fail(&p, p.pos, "unbalanced ')'");
			else if (p.src[p.pos] == '&' || p.src[p.pos] == '|')
				fail(&p, p.pos, "unknown operator '%c'; use '%c%c'",
				     p.src[p.pos], p.src[p.pos], p.src[p.pos]);
			else
				fail(&p, p.pos, "unexpected '%.*s' after a "
				     "condition", char_len(p.src + p.pos,
							   p.len - p.pos),
				     p.src + p.pos);
		}
	}
	if (p.failed) {
		*err_pos = p.err_pos;
		expr_free(p.e);
		return -1;
	}
	*out = p.e;
	return 0;
}

static int cmp_result(int op, int c)
{
	switch (op) {
	case C_EQ: return c == 0;
	case C_NE: return c != 0;
	case C_LT: return c < 0;
	case C_LE: return c <= 0;
	case C_GT: return c > 0;
	default: return c >= 0;
	}
}

static void value_of(const struct expr *e, const struct node *n,
		     const struct expr_value *slots, struct expr_value *v)
{
	if (n->kind == N_NUM) {
		v->type = EXPR_NUM;
		v->num = n->num;
	} else if (n->kind == N_STR) {
		v->type = EXPR_STR;
		v->str = e->strs ? e->strs + n->soff : "";
		v->len = n->slen;
	} else {
		*v = slots[n->slot];
		if (v->type == EXPR_NUM && isnan(v->num))
			v->type = EXPR_MISSING;
	}
}

static int eval_node(const struct expr *e, int i,
		     const struct expr_value *slots)
{
	const struct node *n = &e->n[i];
	struct expr_value a, b;
	switch (n->kind) {
	case N_AND:
		return eval_node(e, n->a, slots) && eval_node(e, n->b, slots);
	case N_OR:
		return eval_node(e, n->a, slots) || eval_node(e, n->b, slots);
	case N_NOT:
		return !eval_node(e, n->a, slots);
	case N_TRUTH:
		if (e->n[n->a].kind == N_CMP || e->n[n->a].kind == N_AND ||
		    e->n[n->a].kind == N_OR || e->n[n->a].kind == N_NOT ||
		    e->n[n->a].kind == N_TRUTH)
			return eval_node(e, n->a, slots);
		value_of(e, &e->n[n->a], slots, &a);
		return a.type == EXPR_NUM && a.num != 0;
	case N_CMP: {
		const struct node *na = &e->n[n->a], *nb = &e->n[n->b];
		/* a parenthesised condition compares as 0 or 1 */
		int bool_a = na->kind >= N_CMP, bool_b = nb->kind >= N_CMP;
		if (bool_a) {
			a.type = EXPR_NUM;
			a.num = eval_node(e, n->a, slots);
		} else {
			value_of(e, na, slots, &a);
		}
		if (bool_b) {
			b.type = EXPR_NUM;
			b.num = eval_node(e, n->b, slots);
		} else {
			value_of(e, nb, slots, &b);
		}
		if (a.type == EXPR_NUM && b.type == EXPR_NUM)
			return cmp_result(n->op, (a.num > b.num) - (a.num < b.num));
		if (a.type == EXPR_STR && b.type == EXPR_STR) {
			size_t m = a.len < b.len ? a.len : b.len;
			int c = m ? memcmp(a.str, b.str, m) : 0;
			if (!c)
				c = (a.len > b.len) - (a.len < b.len);
			return cmp_result(n->op, c);
		}
		return 0;
	}
	default: /* a bare value as the whole expression cannot happen */
		return 0;
	}
}

int expr_eval(const struct expr *e, const struct expr_value *slots)
{
	return eval_node(e, e->root, slots);
}

void expr_locate(const char *src, size_t pos, char *buf, size_t len)
{
	size_t n = strlen(src), line = 1, col = 1, ls = 0;
	if (pos > n)
		pos = n;
	for (size_t i = 0; i < pos; i++) {
		if (src[i] == '\n') {
			line++;
			col = 1;
			ls = i + 1;
		} else if (((unsigned char)src[i] & 0xC0) != 0x80) {
			col++;
		}
	}
	size_t le = ls;
	while (le < n && src[le] != '\n')
		le++;
	int w = snprintf(buf, len, "at %zu:%zu\n    %.*s\n    ", line, col,
			 (int)(le - ls), src + ls);
	for (size_t i = 1; i < col && w >= 0 && (size_t)w + 2 < len; i++)
		buf[w++] = ' ';
	if (w >= 0 && (size_t)w + 2 <= len) {
		buf[w++] = '^';
		buf[w] = 0;
	}
}
