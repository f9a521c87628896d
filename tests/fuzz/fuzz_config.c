/* fuzz_config.c: libFuzzer target for the repository config parser
 * (store/repo.c, .dsv/config): any input is parsed or rejected with a
 * message naming the line; what parses gives keys that are looked up again
 * as they were read, without the blanks around them. Inputs under
 * tests/fuzz/reject/config must be rejected (replay.h).
 */
#include "store/internal.h"
#include "tests/fuzz/replay.h"

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dsv_store *s = calloc(1, sizeof *s);
	if (!s)
		return 0;
	s->lock_fd = -1;
	if (dsv_store_config_parse(s, (const char *)data, size) == 0) {
		fuzz_accepted();
		for (size_t i = 0; i < s->ncfg; i++) {
			const char *k = s->cfg_keys[i], *v = s->cfg_vals[i];
			size_t kl = strlen(k), vl = strlen(v);
			if (!kl || blank(k[0]) || blank(k[kl - 1]) ||
			    strchr(k, '\n') || strchr(v, '\n') ||
			    (vl && (blank(v[0]) || blank(v[vl - 1]))))
				abort();
			/* the last setting of a key wins */
			const char *got = dsv_store_config(s, k);
			size_t j = s->ncfg;
			while (strcmp(s->cfg_keys[--j], k))
				;
			if (got != s->cfg_vals[j])
				abort();
		}
	} else if (strncmp(dsv_error_last(), "'config':", 9) &&
		   dsv_error_code() != DSV_ENOMEM) {
		abort();
	}
	dsv_store_free(s);
	return 0;
}
