/* kernel_trainconf.c: the training config parser: every key, comments,
 * errors naming the line, the canonical form round-tripping, and the
 * learning-rate schedules.
 */
#include "kernels/device.h"
#include "kernels/trainconf.h"
#include "tests/unit/test.h"

#include <math.h>

#define dsv_error_last dsv_kernel_error_last

static int parse(dsv_trainconf *c, const char *text)
{
	dsv_trainconf_defaults(c);
	return dsv_trainconf_parse(c, text, strlen(text), "c.conf");
}

static void test_keys(void)
{
	dsv_trainconf c;
	CHECK_OK(parse(&c, "# tiny\n n_layer = 3 \nn_head=4\nn_embd = 64\n"
			   "seq_len = 128\nvocab = 0\nbatch_size = 4\n"
			   "grad_accum = 2\nlr = 1e-3\nmin_lr = 1e-4\n"
			   "warmup_steps = 10\nschedule = linear\n"
			   "weight_decay = 3.5  # large on purpose\n"
			   "beta1 = 0.8\nbeta2 = 0.99\neps = 1e-6\n"
			   "grad_clip = 0\nseed = 18446744073709551615\n"
			   "shuffle = 0\nshuffle_buffer = 4096\n"
			   "max_steps = 0\nmax_tokens = 100000\n"
			   "eval_every = 5\neval_tokens = 4096\n"
			   "checkpoint_every = 7\ndevice = cpu\n"));
	CHECK(c.n_layer == 3 && c.n_head == 4 && c.n_embd == 64);
	CHECK(c.seq_len == 128 && c.batch_size == 4 && c.grad_accum == 2);
	CHECK(c.schedule == DSV_SCHED_LINEAR && c.weight_decay == 3.5);
	CHECK(c.seed == UINT64_MAX && c.device == DSV_DEVICE_CPU);
	CHECK(c.shuffle == 0 && c.shuffle_buffer == 4096);
	CHECK(dsv_trainconf_step_tokens(&c) == 1024);
	CHECK(dsv_trainconf_steps(&c) == 98); /* ceil(100000 / 1024) */
	char *text;
	CHECK_OK(dsv_trainconf_format(&c, &text));
	dsv_trainconf d;
	CHECK_OK(parse(&d, text));
	CHECK(memcmp(&c, &d, sizeof c) == 0);
	free(text);
}

static void expect_error(const char *text, const char *msg)
{
	dsv_trainconf c;
	int rc = parse(&c, text);
	CHECK(rc == DSV_KERNEL_EINVAL);
	if (!strstr(dsv_kernel_error_last(), msg)) {
		printf("  '%s' not in '%s'\n", msg, dsv_kernel_error_last());
		CHECK(0);
	}
}

static void test_errors(void)
{
	expect_error("n_layer = 2\nlrr = 1\n", "c.conf:2: unknown key 'lrr'");
	expect_error("lr = 1\nlr = 2\n", "c.conf:2: key 'lr' given twice");
	expect_error("n_layer 2\n", "c.conf:1: expected 'key = value'");
	expect_error("n_layer = two\n", "c.conf:1: n_layer needs a number");
	expect_error("n_layer = 2.5\n", "c.conf:1: n_layer must be an integer");
	expect_error("\n\nn_layer = 0\n", "c.conf:3: n_layer = 0 is out of range");
	expect_error("schedule = step\n", "c.conf:1: schedule must be");
	expect_error("device = tpu\n", "c.conf:1: device must be");
	expect_error("seed = -1\n", "c.conf:1: seed needs a number");
	expect_error("shuffle = 2\n", "c.conf:1: shuffle = 2 is out of range");
	expect_error("n_embd = 30\nn_head = 4\n", "multiple of n_head");
	expect_error("max_steps = 0\n", "no budget");
	expect_error("lr = 1e-4\nmin_lr = 1e-3\n", "min_lr");
	expect_error("lr = nan\n", "lr needs a number");
	expect_error("eval_tokens = 1\n", "c.conf: eval_tokens = 1 leaves no token");
	/* The bound itself, not %g's rounding of it ("0 .. 1" for beta1 = 1). */
	expect_error("beta1 = 1\n", "beta1 = 1 is out of range (0 .. 0.9999999)");
	/* below 1, but 1 as the float the optimiser uses */
	expect_error("beta2 = 0.99999999\n", "c.conf:1: beta2 = 0.99999999 is out of range");
	expect_error("shuffle_buffer = 5e9\n", "(2 .. 4294967295)");
	expect_error("seed = 0x10\n", "seed needs a number");
	dsv_trainconf c;
	CHECK_OK(parse(&c, "seed = 010\n")); /* decimal, not octal */
	CHECK(c.seed == 10);
	CHECK_OK(parse(&c, "beta1 = 0.9999999\nbeta2 = 0.9999999\n"));
	CHECK((float)c.beta1 < 1 && (float)c.beta2 < 1);
	CHECK_OK(parse(&c, "\xEF\xBB\xBFn_layer = 3\r\nn_head = 1\r\n"));
	CHECK(c.n_layer == 3 && c.n_head == 1);
	/* max_tokens alone is the budget (max_steps' default 100 won) */
	CHECK_OK(parse(&c, "max_tokens = 100000\n"));
	CHECK(c.max_steps == 0 && dsv_trainconf_steps(&c) == 196);
	CHECK_OK(parse(&c, "max_tokens = 100000\nmax_steps = 7\n"));
	CHECK(dsv_trainconf_steps(&c) == 7);
	/* integers past 2^53 are exact; exponents still work */
	CHECK_OK(parse(&c, "eval_tokens = 9007199254740993\nn_layer = 1e1\n"));
	CHECK(c.eval_tokens == 9007199254740993LL && c.n_layer == 10);
	expect_error("max_steps = 99999999999999999999\n",
		     "c.conf:1: max_steps = 99999999999999999999 is out of range");
	expect_error("n_layer = -1\n", "c.conf:1: n_layer = -1 is out of range");
}

/* A comment is skipped whatever its length (a whole line or after a value);
 * what comes before it has a limit, and the error names the line. */
static void test_long_lines(void)
{
	char pad[2001], text[5000];
	memset(pad, 'x', 2000);
	pad[2000] = 0;
	snprintf(text, sizeof text, "# %s\nn_layer = 3 # %s\n", pad, pad);
	dsv_trainconf c;
	CHECK_OK(parse(&c, text));
	CHECK(c.n_layer == 3);
	snprintf(text, sizeof text, "n_head = 1\nn_layer = %2000s3\n", "");
	expect_error(text, "c.conf:2: line too long");
}

static void test_schedule(void)
{
	dsv_trainconf c;
	CHECK_OK(parse(&c, "lr = 1\nmin_lr = 0.1\nwarmup_steps = 10\n"));
	CHECK(fabs(dsv_trainconf_lr(&c, 1, 110) - 0.1) < 1e-12);
	CHECK(fabs(dsv_trainconf_lr(&c, 10, 110) - 1.0) < 1e-12);
	CHECK(fabs(dsv_trainconf_lr(&c, 60, 110) - 0.55) < 1e-12);
	CHECK(fabs(dsv_trainconf_lr(&c, 110, 110) - 0.1) < 1e-12);
	c.schedule = DSV_SCHED_LINEAR;
	CHECK(fabs(dsv_trainconf_lr(&c, 60, 110) - 0.55) < 1e-12);
	CHECK(fabs(dsv_trainconf_lr(&c, 35, 110) - 0.775) < 1e-12);
	c.schedule = DSV_SCHED_CONSTANT;
	CHECK(dsv_trainconf_lr(&c, 100, 110) == 1.0);
}

int main(void)
{
	RUN(test_keys);
	RUN(test_errors);
	RUN(test_long_lines);
	RUN(test_schedule);
	TEST_EXIT();
}
