/* opts.c: the one option parser every command declares its options to, and
 * that prints their usage (git's parse_options): long and short names,
 * `--name=value`, `--name value`, `-xVALUE`, `-x VALUE`, `--` ends options.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void print_usage(FILE *f, const struct option *opts, const char *usage)
{
	fprintf(f, "usage: %s\n", usage);
	if (!opts || opts[0].type == OPT_END_)
		return;
	fputc('\n', f);
	for (const struct option *o = opts; o->type != OPT_END_; o++) {
		char left[80];
		int n = 0;
		if (o->short_name && o->long_name)
			n = snprintf(left, sizeof left, "-%c, --%s",
				     o->short_name, o->long_name);
		else if (o->short_name)
			n = snprintf(left, sizeof left, "-%c", o->short_name);
		else
			n = snprintf(left, sizeof left, "    --%s",
				     o->long_name);
		if (o->argh && n > 0 && (size_t)n < sizeof left)
			snprintf(left + n, sizeof left - (size_t)n, " <%s>",
				 o->argh);
		fprintf(f, "    %-28s %s\n", left, o->help);
	}
	fprintf(f, "    %-28s %s\n", "-h, --help", "show this help");
}

static int verror(const struct option *opts, const char *usage,
		  const char *fmt, va_list ap)
{
	fputs("dsv: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	print_usage(stderr, opts, usage);
	return 2;
}

int usage_error(const struct option *opts, const char *usage, const char *fmt,
		...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = verror(opts, usage, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail(const struct option *opts, const char *usage, const char *fmt,
		...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(opts, usage, fmt, ap);
	va_end(ap);
	return PARSE_USAGE;
}

/* Stores `arg` into the option's value; `name` is how the user spelled it. */
static int take_value(const struct option *o, const char *arg,
		      const char *name, const struct option *opts,
		      const char *usage)
{
	switch (o->type) {
	case OPT_STRING_:
		*(const char **)o->value = arg;
		return 0;
	case OPT_INT_: {
		char *end;
		errno = 0;
		long v = strtol(arg, &end, 10);
		if (errno || end == arg || *end)
			return fail(opts, usage,
				    "option '%s' expects a whole number, not '%s'",
				    name, arg);
		*(long *)o->value = v;
		return 0;
	}
	case OPT_LIST_: {
		struct str_list *l = o->value;
		const char **v = realloc(l->v, (l->n + 1) * sizeof *v);
		if (!v)
			return fail(opts, usage, "out of memory");
		v[l->n++] = arg;
		l->v = v;
		return 0;
	}
	default:
		return fail(opts, usage, "option '%s' takes no value", name);
	}
}

static const struct option *find_long(const struct option *opts,
				      const char *name, size_t len)
{
	for (const struct option *o = opts; o && o->type != OPT_END_; o++)
		if (o->long_name && strlen(o->long_name) == len &&
		    strncmp(o->long_name, name, len) == 0)
			return o;
	return NULL;
}

static const struct option *find_short(const struct option *opts, char c)
{
	for (const struct option *o = opts; o && o->type != OPT_END_; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

static int parse_long(char *arg, int *i, int argc, char **argv,
		      const struct option *opts, const char *usage)
{
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	if (len == 4 && strncmp(name, "help", 4) == 0)
		return PARSE_HELP;
	const struct option *o = find_long(opts, name, len);
	if (!o)
		return fail(opts, usage, "unknown option '--%.*s'", (int)len,
			    name);
	if (o->type == OPT_BOOL_) {
		if (eq)
			return fail(opts, usage, "option '--%s' takes no value",
				    o->long_name);
		*(int *)o->value = 1;
		return 0;
	}
	if (eq)
		return take_value(o, eq + 1, arg, opts, usage);
	if (*i + 1 >= argc)
		return fail(opts, usage, "option '--%s' needs a value",
			    o->long_name);
	return take_value(o, argv[++*i], arg, opts, usage);
}

static int parse_short(char *arg, int *i, int argc, char **argv,
		       const struct option *opts, const char *usage)
{
	for (const char *p = arg + 1; *p; p++) {
		char name[3] = {'-', *p, 0};
		if (*p == 'h')
			return PARSE_HELP;
		const struct option *o = find_short(opts, *p);
		if (!o)
			return fail(opts, usage, "unknown option '%s'", name);
		if (o->type == OPT_BOOL_) {
			*(int *)o->value = 1;
			continue;
		}
		if (p[1])
			return take_value(o, p + 1, name, opts, usage);
		if (*i + 1 >= argc)
			return fail(opts, usage, "option '%s' needs a value",
				    name);
		return take_value(o, argv[++*i], name, opts, usage);
	}
	return 0;
}

int parse_options(int argc, char **argv, const struct option *opts,
		  const char *usage)
{
	int npos = 0, only_args = 0;
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		int rc = 0;
		if (only_args || arg[0] != '-' || arg[1] == '\0')
			argv[npos++] = arg;
		else if (strcmp(arg, "--") == 0)
			only_args = 1;
		else if (arg[1] == '-')
			rc = parse_long(arg, &i, argc, argv, opts, usage);
		else
			rc = parse_short(arg, &i, argc, argv, opts, usage);
		if (rc == PARSE_HELP)
			print_usage(stdout, opts, usage);
		if (rc)
			return rc;
	}
	return npos;
}
