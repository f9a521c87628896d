/* trainconf.c: the `key = value` training config: a table of keys (name,
 * type, where it goes, allowed range) drives the parser, the checks and the
 * canonical formatter, so adding a key is one line.
 */
#include "kernels/trainconf.h"
#include "kernels/device.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_INT, K_I64, K_U64, K_DBL, K_SCHED, K_DEVICE };

static const struct key {
	const char *name;
	int type;
	size_t off;
	double lo, hi; /* inclusive range for numbers */
} keys[] = {
#define O(f) offsetof(dsv_trainconf, f)
	{"n_layer", K_INT, O(n_layer), 1, 1024},
	{"n_head", K_INT, O(n_head), 1, 1024},
	{"n_embd", K_INT, O(n_embd), 1, 1 << 20},
	{"seq_len", K_INT, O(seq_len), 1, 1 << 20},
	{"vocab", K_INT, O(vocab), 0, 1 << 24},
	{"batch_size", K_INT, O(batch_size), 1, 1 << 20},
	{"grad_accum", K_INT, O(grad_accum), 1, 1 << 20},
	{"lr", K_DBL, O(lr), 0, 1e3},
	{"min_lr", K_DBL, O(min_lr), 0, 1e3},
	{"warmup_steps", K_INT, O(warmup_steps), 0, 1e9},
	{"schedule", K_SCHED, O(schedule), 0, 0},
	{"weight_decay", K_DBL, O(weight_decay), 0, 1e6},
	/* AdamW runs in float, where 1 - 2^-25 and above round to 1 */
	{"beta1", K_DBL, O(beta1), 0, 0.9999999},
	{"beta2", K_DBL, O(beta2), 0, 0.9999999},
	{"eps", K_DBL, O(eps), 1e-30, 1},
	{"grad_clip", K_DBL, O(grad_clip), 0, 1e9},
	{"seed", K_U64, O(seed), 0, 0},
	{"shuffle", K_INT, O(shuffle), 0, 1},
	{"shuffle_buffer", K_I64, O(shuffle_buffer), 2, 4294967295.0},
	{"max_steps", K_I64, O(max_steps), 0, 1e15},
	{"max_tokens", K_I64, O(max_tokens), 0, 1e18},
	{"eval_every", K_INT, O(eval_every), 0, 1e9},
	{"eval_tokens", K_I64, O(eval_tokens), 0, 1e18},
	{"checkpoint_every", K_INT, O(checkpoint_every), 0, 1e9},
	{"device", K_DEVICE, O(device), 0, 0},
#undef O
};
#define NKEYS (sizeof keys / sizeof keys[0])

static const char *const sched_names[] = {"cosine", "linear", "constant"};

const char *dsv_trainconf_schedule_name(int s)
{
	return s >= 0 && s < 3 ? sched_names[s] : "unknown";
}

void dsv_trainconf_defaults(dsv_trainconf *c)
{
	memset(c, 0, sizeof *c);
	c->n_layer = 2;
	c->n_head = 2;
	c->n_embd = 64;
	c->seq_len = 64;
	c->batch_size = 8;
	c->grad_accum = 1;
	c->lr = 6e-4;
	c->min_lr = 6e-5;
	c->warmup_steps = 0;
	c->schedule = DSV_SCHED_COSINE;
	c->weight_decay = 0.1;
	c->beta1 = 0.9;
	c->beta2 = 0.95;
	c->eps = 1e-8;
	c->grad_clip = 1.0;
	c->seed = 1337;
	c->shuffle = 1;
	c->shuffle_buffer = 1 << 24;
	c->max_steps = 100;
	c->eval_every = 0;
	c->eval_tokens = 0;
	c->checkpoint_every = 0;
	c->device = DSV_DEVICE_AUTO;
}

static const char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

/* A number as dsv writes one and people do: an optional '-' (a negative
 * value gets the range error), digits with an optional fraction, an
 * optional exponent: "100", "0.1", ".5", "6e-4", "1e+18". strtod alone took
 * "0x10", "inf", "nan", "+1" and a leading vertical tab or form feed. */
static int is_number(const char *s)
{
	static const char digits[] = "0123456789";
	s += *s == '-';
	size_t n = strspn(s, digits);
	s += n;
	if (*s == '.') {
		size_t f = strspn(s + 1, digits);
		n += f;
		s += 1 + f;
	}
	if (!n)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		s += *s == '-' || *s == '+';
		n = strspn(s, digits);
		if (!n)
			return 0;
		s += n;
	}
	return !*s;
}

static int set_value(dsv_trainconf *c, const struct key *k, const char *v,
		     const char *name, int line)
{
	char *end;
	void *p = (char *)c + k->off;
	errno = 0;
	switch (k->type) {
	case K_SCHED:
		for (int i = 0; i < 3; i++)
			if (strcmp(v, sched_names[i]) == 0) {
				*(int *)p = i;
				return 0;
			}
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: schedule must "
					"be cosine, linear or constant, not "
					"'%s'", name, line, v);
	case K_DEVICE: {
		int d = dsv_device_parse(v);
		if (d < 0)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: device "
						"must be cpu, cuda or auto, "
						"not '%s'", name, line, v);
		*(int *)p = d;
		return 0;
	}
	case K_U64: {
		/* Digits only: base 0 read "seed = 010" as 8, and strtoull
		 * takes a sign. */
		if (!*v || v[strspn(v, "0123456789")])
			goto bad;
		unsigned long long u = strtoull(v, &end, 10);
		if (*end || errno)
			goto bad;
		*(uint64_t *)p = u;
		return 0;
	}
	default:
		break;
	}
	if (!is_number(v))
		goto bad;
	/* Plain integers are read as integers: a double rounds past 2^53
	 * ("max_tokens = 1000000000000000001" became 1e18). */
	if (k->type != K_DBL && !v[strspn(v + (*v == '-'), "0123456789") +
				 (*v == '-')]) {
		long long ll = strtoll(v, &end, 10);
		if (errno || ll < (long long)k->lo || ll > (long long)k->hi)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: %s = "
						"%s is out of range (%.10g .. "
						"%.10g)", name, line, k->name,
						v, k->lo, k->hi);
		if (k->type == K_INT)
			*(int *)p = (int)ll;
		else
			*(int64_t *)p = ll;
		return 0;
	}
	double d = strtod(v, &end);
	if (errno || !isfinite(d))
		goto bad;
	if (k->type != K_DBL && d != floor(d))
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: %s must be "
					"an integer, not '%s'", name, line,
					k->name, v);
	if (d < k->lo || d > k->hi)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: %s = %s is "
					"out of range (%.10g .. %.10g)", name,
					line, k->name, v, k->lo, k->hi);
	if (k->type == K_INT)
		*(int *)p = (int)d;
	else if (k->type == K_I64)
		*(int64_t *)p = (int64_t)d;
	else
		*(double *)p = d;
	return 0;
bad:
	return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: %s needs a number, "
				"not '%s'", name, line, k->name, v);
}

int dsv_trainconf_check(const dsv_trainconf *c)
{
	if (c->n_embd % c->n_head)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "n_embd (%d) must be "
					"a multiple of n_head (%d)", c->n_embd,
					c->n_head);
	if (c->max_steps <= 0 && c->max_tokens <= 0)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "no budget: set "
					"max_steps or max_tokens");
	if (c->eval_tokens == 1)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "eval_tokens = 1 "
					"leaves no token to predict: 0 (all) "
					"or at least 2");
	if (c->min_lr > c->lr)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "min_lr (%g) is above "
					"lr (%g)", c->min_lr, c->lr);
	if (dsv_trainconf_steps(c) > 2000000000)
		return dsv_kernel_error(DSV_KERNEL_EINVAL, "the budget is more "
					"than 2e9 steps");
	return 0;
}

int dsv_trainconf_parse(dsv_trainconf *c, const char *text, size_t len,
			const char *name)
{
	unsigned char seen[NKEYS] = {0};
	char buf[1024];
	size_t i = 0;
	int line = 0;
	/* A UTF-8 byte order mark (Windows editors write one) is not part of
	 * the first key: it made "unknown key 'n_layer'". */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		line++;
		if (memchr(text + i, 0, j - i))
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: NUL "
						"byte", name, line);
		/* Only what comes before a comment is copied, so a comment
		 * may be of any length. */
		const char *hash = memchr(text + i, '#', j - i);
		size_t e = hash ? (size_t)(hash - text) : j;
		if (e - i >= sizeof buf)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: line too "
						"long (at most %zu bytes before "
						"a comment)", name, line,
						sizeof buf - 1);
		memcpy(buf, text + i, e - i);
		buf[e - i] = 0;
		i = j + 1;
		const char *s = trim(buf);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: expected "
						"'key = value'", name, line);
		*eq = 0;
		const char *k = trim((char *)s), *v = trim(eq + 1);
		size_t n;
		for (n = 0; n < NKEYS; n++)
			if (strcmp(k, keys[n].name) == 0)
				break;
		if (n == NKEYS)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: unknown "
						"key '%s'", name, line, k);
		if (seen[n]++)
			return dsv_kernel_error(DSV_KERNEL_EINVAL, "%s:%d: key '%s' "
						"given twice", name, line, k);
		int rc = set_value(c, &keys[n], v, name, line);
		if (rc)
			return rc;
	}
	/* max_steps has a default (100) and wins when set: a config that
	 * gives only max_tokens means a budget in tokens. */
	size_t ks, kt;
	for (ks = 0; strcmp(keys[ks].name, "max_steps"); ks++)
		;
	for (kt = 0; strcmp(keys[kt].name, "max_tokens"); kt++)
		;
	if (seen[kt] && !seen[ks])
		c->max_steps = 0;
	int rc = dsv_trainconf_check(c);
	if (rc) {
		char msg[512]; /* the message buffer is reused by the call */
		snprintf(msg, sizeof msg, "%s", dsv_kernel_error_last());
		return dsv_kernel_error(rc, "%s: %s", name, msg);
	}
	return 0;
}

int dsv_trainconf_format(const dsv_trainconf *c, char **out)
{
	size_t cap = 64 * NKEYS, len = 0;
	char *s = malloc(cap);
	if (!s)
		return dsv_kernel_error(DSV_KERNEL_ENOMEM, "out of memory");
	for (size_t n = 0; n < NKEYS; n++) {
		const void *p = (const char *)c + keys[n].off;
		char v[48];
		switch (keys[n].type) {
		case K_INT: snprintf(v, sizeof v, "%d", *(const int *)p); break;
		case K_I64: snprintf(v, sizeof v, "%lld",
				     (long long)*(const int64_t *)p); break;
		case K_U64: snprintf(v, sizeof v, "%llu",
				     (unsigned long long)*(const uint64_t *)p); break;
		case K_DBL: snprintf(v, sizeof v, "%.17g", *(const double *)p); break;
		case K_SCHED: snprintf(v, sizeof v, "%s",
				       dsv_trainconf_schedule_name(*(const int *)p)); break;
		default: {
			int d = *(const int *)p;
			snprintf(v, sizeof v, "%s", d == DSV_DEVICE_CPU ? "cpu"
				 : d == DSV_DEVICE_CUDA ? "cuda" : "auto");
		}
		}
		len += (size_t)snprintf(s + len, cap - len, "%s = %s\n",
					keys[n].name, v);
	}
	*out = s;
	return 0;
}

int64_t dsv_trainconf_step_tokens(const dsv_trainconf *c)
{
	return (int64_t)c->batch_size * c->grad_accum * c->seq_len;
}

int64_t dsv_trainconf_steps(const dsv_trainconf *c)
{
	if (c->max_steps > 0)
		return c->max_steps;
	int64_t per = dsv_trainconf_step_tokens(c);
	return per > 0 ? (c->max_tokens + per - 1) / per : 0;
}

double dsv_trainconf_lr(const dsv_trainconf *c, int64_t step, int64_t total)
{
	if (c->warmup_steps > 0 && step <= c->warmup_steps)
		return c->lr * (double)step / c->warmup_steps;
	if (c->schedule == DSV_SCHED_CONSTANT || total <= c->warmup_steps)
		return c->lr;
	double f = (double)(step - c->warmup_steps) /
		   (double)(total - c->warmup_steps);
	if (f > 1)
		f = 1;
	if (c->schedule == DSV_SCHED_LINEAR)
		return c->lr + (c->min_lr - c->lr) * f;
	return c->min_lr + 0.5 * (c->lr - c->min_lr) * (1 + cos(M_PI * f));
}
