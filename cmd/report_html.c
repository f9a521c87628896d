/* report_html.c: how `dsv report` writes text and numbers into its page:
 * every string escaped for HTML and SVG alike and made valid UTF-8, numbers
 * in fixed, locale-independent forms (dsv never calls setlocale, so printf
 * is in the C locale; the grouping is done here).
 */
#include "cmd/report.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* Okabe and Ito's palette (readable by the colour-blind, and in grey when
 * printed), by dsv_mode; the last for artifacts without a compute record. */
static const char *const mode_colour[DSV_MODE_COUNT + 1] = {
	"#56b4e9", "#009e73", "#e69f00", "#cc79a7", "#d55e00", "#f0e442",
	"#bbbbbb",
};

const char *report_mode_colour(int mode)
{
	return mode >= 0 && mode < DSV_MODE_COUNT ? mode_colour[mode]
						  : mode_colour[DSV_MODE_COUNT];
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if there
 * is none; *cp gets the code point. Overlong forms, surrogates and code
 * points past U+10FFFF are not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0], min;
	size_t len;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

void html_text(FILE *f, const char *s, long len, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = len < 0 ? strlen(s) : (size_t)len, chars = 0;
	while (n) {
		unsigned cp;
		size_t k = utf8_seq(p, n, &cp);
		if (max && chars == max - 1 && n > (k ? k : 1)) {
			fputs("\u2026", f);
			return;
		}
		chars++;
		if (!k || (cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7f ||
		    cp == 0xfffe || cp == 0xffff) {
			/* XML 1.0 has no place for these: one mark each */
			fputs("\ufffd", f);
			k = k ? k : 1;
		} else if (cp == '&') {
			fputs("&amp;", f);
		} else if (cp == '<') {
			fputs("&lt;", f);
		} else if (cp == '>') {
			fputs("&gt;", f);
		} else if (cp == '"') {
			fputs("&quot;", f);
		} else if (cp == '\'') {
			fputs("&#39;", f);
		} else {
			fwrite(p, 1, k, f);
		}
		p += k;
		n -= k;
	}
}

void html_line(FILE *f, const char *s, size_t max)
{
	const char *nl = strchr(s, '\n');
	html_text(f, s, nl ? (long)(nl - s) : -1, max);
}

void html_exact(FILE *f, double v)
{
	fprintf(f, "%.15g", v);
}

const char *fmt_count(char buf[32], double v)
{
	char d[32];
	size_t n, o = 0;
	if (!isfinite(v) || fabs(v) >= 1e18) {
		snprintf(buf, 32, "%.3g", v);
		return buf;
	}
	snprintf(d, sizeof d, "%.0f", fabs(v));
	n = strlen(d);
	if (v <= -0.5)
		buf[o++] = '-';
	for (size_t i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = d[i];
	}
	buf[o] = 0;
	return buf;
}

const char *fmt_sci(char buf[32], double v)
{
	if (!(v > 0))
		snprintf(buf, 32, "-");
	else
		snprintf(buf, 32, "%.3g", v);
	return buf;
}

const char *fmt_secs(char buf[32], double v)
{
	snprintf(buf, 32, v < 100 ? "%.2f" : "%.0f", v);
	return buf;
}

const char *fmt_si(char buf[32], double v)
{
	static const char sfx[] = {0, 'k', 'M', 'G', 'T', 'P'};
	int u = 0;
	while (fabs(v) >= 1000 && u < 5) {
		v /= 1000;
		u++;
	}
	snprintf(buf, 32, "%.3g", v);
	if (u) {
		size_t n = strlen(buf);
		buf[n] = sfx[u];
		buf[n + 1] = 0;
	}
	return buf;
}

const char *fmt_date(char buf[40], int64_t t, int tz_minutes)
{
	time_t local = (time_t)(t + (int64_t)tz_minutes * 60);
	struct tm tm;
	int a = tz_minutes < 0 ? -tz_minutes : tz_minutes;
	if (!gmtime_r(&local, &tm)) {
		snprintf(buf, 40, "-");
		return buf;
	}
	size_t n = strftime(buf, 40, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, 40 - n, " %c%02d%02d", tz_minutes < 0 ? '-' : '+',
		 a / 60, a % 60);
	return buf;
}
