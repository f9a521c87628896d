/* error.c: the thread-local last error every dsv module reports through.
 *
 * A fallible call returns a negative DSV_E* code and leaves a message here;
 * callers add context on the way up with dsv_error_wrap (libgit2's
 * git_error_last, with git's "context: cause" messages).
 */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];
static _Thread_local int last_code;

int dsv_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof last_msg, fmt, ap);
	va_end(ap);
	last_code = code;
	return code;
}

int dsv_error_wrap(int code, const char *fmt, ...)
{
	char prefix[512], old[sizeof last_msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, last_msg, sizeof old);
	snprintf(last_msg, sizeof last_msg, "%s: %s", prefix,
		 old[0] ? old : "unknown error");
	last_code = code;
	return code;
}

const char *dsv_error_last(void)
{
	return last_msg[0] ? last_msg : "unknown error";
}

int dsv_error_code(void)
{
	return last_code;
}

void dsv_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = 0;
}
