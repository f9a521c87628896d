/* test_compute.c: the compute meter (CPU time of a busy loop, counters added
 * from many threads, devices), the record's JSON round trip and validation,
 * summing records, and dsv.json build/parse.
 */
#include "lineage/lineage.h"
#include "tests/unit/test.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

static volatile double sink;

/* Spins until this thread has used `seconds` of CPU (not wall) time, so a
 * loaded machine cannot make the check below flaky. */
static void busy(double seconds)
{
	struct timespec t0, t1;
	double x = 0;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			x += i * 1e-9;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	} while ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 <
		 seconds);
	sink = x;
}

static void test_meter_times(void)
{
	dsv_meter *m = NULL;
	dsv_compute c;
	CHECK_OK(dsv_meter_new(&m, DSV_MODE_SELECTION));
	dsv_meter_start(m);
	busy(0.2);
	dsv_meter_stop(m);
	dsv_meter_read(m, &c);
	printf("  result: busy loop of 0.2 cpu s: wall %.3f s, cpu %.3f s\n", c.wall_s,
	       c.cpu_s);
	CHECK(c.mode == DSV_MODE_SELECTION);
	CHECK(c.wall_s >= 0.19 && c.wall_s < 60);
	CHECK(c.cpu_s >= 0.19); /* getrusage saw the loop's CPU time */
	CHECK(fabs(c.cpu_s - (c.user_s + c.sys_s)) < 1e-5);
	CHECK(c.cpu_model[0] != '\0' && c.cpu_cores >= 1);
	CHECK(c.ranks == 1);
	/* stopped: time does not move */
	{
		dsv_compute d;
		busy(0.05);
		dsv_meter_read(m, &d);
		CHECK(d.wall_s == c.wall_s);
		dsv_meter_stop(m); /* a second stop does nothing */
		dsv_meter_read(m, &d);
		CHECK(d.wall_s == c.wall_s);
	}
	dsv_meter_free(m);
	dsv_meter_free(NULL);
}

static void *adder(void *arg)
{
	dsv_meter *m = arg;
	for (int i = 0; i < 10000; i++) {
		dsv_meter_add(m, DSV_METER_BYTES_READ, 3);
		dsv_meter_add(m, DSV_METER_RECORDS_IN, 1);
		dsv_meter_add_flops(m, 2.0);
	}
	dsv_meter_add_gpu(m, "gpu0", 0.5);
	return NULL;
}

static void test_meter_counters(void)
{
	dsv_meter *m = NULL;
	pthread_t t[8];
	dsv_compute c;
	CHECK_OK(dsv_meter_new(&m, DSV_MODE_INGEST));
	dsv_meter_start(m);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, adder, m);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	dsv_meter_add(m, DSV_METER_BYTES_WRITTEN, 1234);
	dsv_meter_add(m, DSV_METER_TOKENS_OUT, 7);
	dsv_meter_add_energy(m, 12.5);
	CHECK_OK(dsv_meter_add_device(m, "NVIDIA H100"));
	CHECK_OK(dsv_meter_add_gpu(m, "NVIDIA H100", 1.25));
	CHECK(dsv_meter_add_gpu(m, "", 1) == DSV_EINVAL);
	CHECK(dsv_meter_add_gpu(m, "x", -1) == DSV_EINVAL);
	dsv_meter_read(m, &c); /* running: reads so far */
	dsv_meter_stop(m);
	CHECK(c.bytes_read == 8 * 30000);
	CHECK(c.records_in == 8 * 10000);
	CHECK(c.flops == 8 * 20000.0);
	CHECK(c.bytes_written == 1234 && c.tokens_out == 7);
	CHECK(c.energy_j == 12.5);
	CHECK(c.ndevices == 2);
	CHECK(c.ndevices == 2 && !strcmp(c.devices[0].name, "gpu0") &&
	      c.devices[0].gpu_s == 4.0);
	CHECK(fabs(c.gpu_s - 5.25) < 1e-9);
	dsv_meter_free(m);
}

static void test_compute_json(void)
{
	dsv_compute c, back, sum;
	json_t *j = NULL;
	dsv_compute_init(&c, DSV_MODE_TRAINING);
	c.wall_s = 12.345678;
	c.cpu_s = 30.5;
	c.user_s = 29;
	c.sys_s = 1.5;
	c.flops = 3.5e18;
	c.energy_j = 1000.25;
	c.bytes_read = 1ull << 40;
	c.tokens_in = 123456789;
	snprintf(c.cpu_model, sizeof c.cpu_model, "Test CPU");
	c.cpu_cores = 16;
	c.ndevices = 1;
	snprintf(c.devices[0].name, sizeof c.devices[0].name, "H100");
	c.devices[0].gpu_s = c.gpu_s = 11.0;
	CHECK_OK(dsv_compute_to_json(&j, &c));
	CHECK_OK(dsv_compute_from_json(&back, j));
	CHECK(back.mode == DSV_MODE_TRAINING);
	CHECK(back.wall_s == c.wall_s && back.flops == c.flops &&
	      back.energy_j == c.energy_j && back.gpu_s == 11.0);
	CHECK(back.bytes_read == c.bytes_read && back.tokens_in == c.tokens_in);
	CHECK(!strcmp(back.cpu_model, "Test CPU") && back.cpu_cores == 16);
	CHECK(back.ndevices == 1 && back.devices[0].gpu_s == 11.0);
	json_decref(j);

	/* validation names the field */
	j = json_pack("{s:s, s:s, s:f}", "mode", "training", "wall_s", "x",
		      "cpu_s", 1.0);
	CHECK(dsv_compute_from_json(&back, j) == DSV_EINVAL);
	CHECK(strstr(dsv_error_last(),
		     "field 'compute.wall_s' must be a number") != NULL);
	json_decref(j);
	j = json_pack("{s:s, s:f, s:f}", "mode", "cooking", "wall_s", 1.0,
		      "cpu_s", 1.0);
	CHECK(dsv_compute_from_json(&back, j) == DSV_EINVAL);
	CHECK(strstr(dsv_error_last(), "compute.mode") != NULL);
	json_decref(j);
	j = json_pack("{s:s, s:f, s:f, s:i}", "mode", "ingest", "wall_s", 1.0,
		      "cpu_s", 1.0, "bytes_read", -5);
	CHECK(dsv_compute_from_json(&back, j) == DSV_EINVAL);
	CHECK(strstr(dsv_error_last(), "compute.bytes_read") != NULL);
	json_decref(j);
	j = json_pack("{s:s, s:f}", "mode", "ingest", "wall_s", 1.0);
	CHECK(dsv_compute_from_json(&back, j) == DSV_EINVAL);
	CHECK(strstr(dsv_error_last(), "compute.cpu_s") != NULL);
	json_decref(j);

	/* sums: two ranks */
	dsv_compute_init(&sum, DSV_MODE_TRAINING);
	sum.ranks = 0;
	dsv_compute_add(&sum, &c);
	dsv_compute_add(&sum, &c);
	CHECK(sum.ranks == 2 && sum.flops == 7e18 && sum.gpu_s == 22.0);
	CHECK(sum.ndevices == 1 && sum.devices[0].gpu_s == 22.0);
	CHECK(sum.bytes_read == 2 * c.bytes_read);
	CHECK(!strcmp(sum.cpu_model, "Test CPU"));
	snprintf(c.cpu_model, sizeof c.cpu_model, "Other CPU");
	snprintf(c.devices[0].name, sizeof c.devices[0].name, "A100");
	dsv_compute_add(&sum, &c);
	CHECK(!strcmp(sum.cpu_model, "mixed") && sum.ndevices == 2);
}

static void test_modes(void)
{
	dsv_mode m;
	CHECK_OK(dsv_mode_for_op(&m, "commit"));
	CHECK(m == DSV_MODE_INGEST);
	CHECK_OK(dsv_mode_for_op(&m, "dedup"));
	CHECK(m == DSV_MODE_SELECTION);
	CHECK_OK(dsv_mode_for_op(&m, "rephrase"));
	CHECK(m == DSV_MODE_TRANSFORMATION);
	CHECK_OK(dsv_mode_for_op(&m, "synth"));
	CHECK(m == DSV_MODE_GENERATION);
	CHECK_OK(dsv_mode_for_op(&m, "train"));
	CHECK(m == DSV_MODE_TRAINING);
	CHECK_OK(dsv_mode_for_op(&m, "eval"));
	CHECK(m == DSV_MODE_EVALUATION);
	CHECK(dsv_mode_for_op(&m, "bake") == DSV_EINVAL);
	for (int i = 0; i < DSV_MODE_COUNT; i++) {
		CHECK_OK(dsv_mode_parse(&m, dsv_mode_name((dsv_mode)i)));
		CHECK(m == (dsv_mode)i);
	}
	CHECK(!strcmp(dsv_mode_name(DSV_MODE_COUNT), "unknown"));
}

static void test_artifact_roundtrip(void)
{
	dsv_artifact *a = NULL, *b = NULL;
	dsv_compute c;
	dsv_aid in1, in2;
	char *text = NULL, *text2 = NULL;
	size_t len, len2;

	memset(&in1, 0x11, sizeof in1);
	memset(&in2, 0xab, sizeof in2);
	CHECK_OK(dsv_artifact_new(&a, DSV_KIND_DATASET, "filter"));
	CHECK_OK(dsv_artifact_add_input(a, "input", &in1));
	CHECK_OK(dsv_artifact_add_input(a, "model", &in2));
	json_object_set_new(a->params, "rules", json_string("gopher,c4"));
	json_object_set_new(a->params, "threshold", json_real(0.5));
	CHECK_OK(dsv_artifact_stat_int(a, "records", 1000));
	CHECK_OK(dsv_artifact_stat_num(a, "kept_fraction", 0.25));
	dsv_compute_init(&c, DSV_MODE_SELECTION);
	c.wall_s = 1.5;
	c.cpu_s = 3.25;
	c.records_in = 4000;
	c.records_out = 1000;
	dsv_artifact_set_compute(a, &c);
	CHECK_OK(dsv_artifact_format(a, &text, &len));
	CHECK(text && len == strlen(text) && text[len - 1] == '\n');
	CHECK(text && strstr(text, "\"dsv_version\": \"" DSV_VERSION "\""));
	CHECK(text && strstr(text, "\"kind\": \"dataset\""));
	CHECK(text && strstr(text, "\"mode\": \"selection\""));
	CHECK(text && strstr(text, "dsv_version") < strstr(text, "compute"));
	CHECK_OK(dsv_artifact_parse(&b, text, len));
	CHECK(b && b->kind == DSV_KIND_DATASET && !strcmp(b->op, "filter"));
	CHECK(b && b->ninputs == 2 && !strcmp(b->inputs[1].role, "model") &&
	      dsv_aid_cmp(&b->inputs[1].artifact, &in2) == 0);
	CHECK(b && json_equal(a->params, b->params) &&
	      json_equal(a->stats, b->stats));
	CHECK(b && b->has_compute && b->compute.wall_s == 1.5 &&
	      b->compute.records_out == 1000 &&
	      b->compute.mode == DSV_MODE_SELECTION);
	CHECK_OK(dsv_artifact_format(b, &text2, &len2));
	CHECK(text && text2 && len == len2 && !memcmp(text, text2, len));
	free(text);
	free(text2);
	dsv_artifact_free(a);
	dsv_artifact_free(b);
	dsv_artifact_free(NULL);
}

static void expect_bad(const char *json, const char *msg)
{
	dsv_artifact *a = NULL;
	int rc = dsv_artifact_parse(&a, json, strlen(json));
	CHECK(rc == DSV_EINVAL && a == NULL);
	if (!strstr(dsv_error_last(), msg)) {
		printf("  for %s\n  got '%s', wanted '%s'\n", json,
		       dsv_error_last(), msg);
		CHECK(!"message");
	}
	dsv_artifact_free(a);
}

static void test_artifact_invalid(void)
{
	dsv_artifact *a = NULL;
	const char *min = "{\"dsv_version\":\"0.1.0\",\"kind\":\"model\","
			  "\"op\":\"train\"}";
	CHECK_OK(dsv_artifact_parse(&a, min, strlen(min)));
	CHECK(a && a->kind == DSV_KIND_MODEL && !a->has_compute &&
	      a->ninputs == 0 && json_is_object(a->params) &&
	      json_is_object(a->stats));
	dsv_artifact_free(a);

	expect_bad("", "dsv.json:");
	expect_bad("[1]", "must be an object");
	expect_bad("{\"kind\":\"model\",\"op\":\"x\"}",
		   "field 'dsv_version' must be a string");
	expect_bad("{\"dsv_version\":\"1\",\"kind\":\"cake\",\"op\":\"x\"}",
		   "field 'kind' must be one of");
	expect_bad("{\"dsv_version\":\"1\",\"kind\":\"model\",\"op\":5}",
		   "field 'op' must be a string");
	expect_bad("{\"dsv_version\":\"1\",\"kind\":\"model\",\"op\":\"x\","
		   "\"params\":[]}", "field 'params' must be an object");
	expect_bad("{\"dsv_version\":\"1\",\"kind\":\"model\",\"op\":\"x\","
		   "\"inputs\":[{\"role\":\"input\",\"artifact\":\"abc\"}]}",
		   "field 'inputs[0].artifact' must be 40 hex digits");
	expect_bad("{\"dsv_version\":\"1\",\"kind\":\"model\",\"op\":\"x\","
		   "\"compute\":{\"mode\":\"training\",\"wall_s\":\"1\","
		   "\"cpu_s\":1}}", "field 'compute.wall_s' must be a number");
	expect_bad("{\"dsv_version\":\"1\",\"dsv_version\":\"2\"}",
		   "duplicate");
	expect_bad("{\"dsv_version\":\"1\",\"kind\":\"model\",\"op\":\"\"}",
		   "field 'op' must be 1 to");
}

int main(void)
{
	RUN(test_meter_times);
	RUN(test_meter_counters);
	RUN(test_compute_json);
	RUN(test_modes);
	RUN(test_artifact_roundtrip);
	RUN(test_artifact_invalid);
	TEST_EXIT();
}
