/* status.c: `dsv status [--json]`: the current branch, its version and the
 * store. */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>

struct tally {
	uint64_t objects, stored;
};

static int count_object(const dsv_oid *id, void *ctx)
{
	struct tally *t = ctx;
	dsv_obj_info info;
	t->objects++;
	if (dsv_index_get_object(the_repo->store, id, &info) == 0)
		t->stored += info.stored_size;
	return 0;
}

/* What status reports; a part it could not read is left out (NULL). */
struct status {
	char *branch;            /* NULL: HEAD detached */
	dsv_commit_info *ci;     /* HEAD's version, NULL: none yet */
	dsv_manifest *m;         /* its MANIFEST when it is a dataset */
	struct tally t;
	int have_tally;
};

static void print_json_status(const struct status *s)
{
	json_t *o = json_object();
	char hex[DSV_AID_HEXLEN + 1];
	json_object_set_new(o, "branch", s->branch ? json_string(s->branch)
						   : json_null());
	json_object_set_new(o, "detached", json_boolean(!s->branch));
	if (s->ci) {
		json_t *v = json_object();
		dsv_aid_fmt(hex, &s->ci->id);
		json_object_set_new(v, "artifact", json_string(hex));
		json_object_set_new(v, "summary", json_string(s->ci->summary));
		if (s->m) {
			json_object_set_new(v, "records", json_integer(
				(json_int_t)dsv_manifest_records(s->m)));
			json_object_set_new(v, "shards",
					    json_integer((json_int_t)s->m->n));
		}
		json_object_set_new(o, "version", v);
	} else {
		json_object_set_new(o, "version", json_null());
	}
	if (s->have_tally)
		json_object_set_new(o, "store", json_pack(
			"{sIsI}", "objects", (json_int_t)s->t.objects,
			"stored_bytes", (json_int_t)s->t.stored));
	print_json(o, JSON_INDENT(2));
	json_decref(o);
}

static void print_text_status(const struct status *s)
{
	char hex[DSV_AID_SHORTLEN + 1], b[32];
	if (s->branch)
		printf("On branch %s\n", s->branch);
	else
		printf("HEAD detached\n");
	if (s->ci) {
		dsv_aid_short(hex, &s->ci->id);
		printf("version %s: %s", hex, s->ci->summary);
		if (s->m) {
			uint64_t n = dsv_manifest_records(s->m);
			printf(" (%llu %s in %zu %s)", (unsigned long long)n,
			       plural(n, "record", "records"), s->m->n,
			       plural(s->m->n, "shard", "shards"));
		}
		putchar('\n');
	} else {
		printf("no versions yet\n");
	}
	if (s->have_tally)
		printf("store: %llu %s, %s\n", (unsigned long long)s->t.objects,
		       plural(s->t.objects, "object", "objects"),
		       human_bytes(b, (double)s->t.stored));
}

int cmd_status(int argc, char **argv)
{
	static const char usage[] = "dsv status [--json]";
	int json = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the status as JSON"),
		OPT_END(),
	};
	struct status s = {0};
	dsv_aid id;
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n)
		return usage_error(opts, usage, "no arguments expected");
	/* a part that cannot be read is left out: its pointer stays NULL */
	(void)dsv_lineage_head_branch(the_repo->lineage, &s.branch);
	if (dsv_lineage_head(the_repo->lineage, &id) == 0 &&
	    dsv_commit_info_open(&s.ci, the_repo->lineage, &id) == 0)
		(void)dsv_dataset_manifest(&s.m, the_repo->lineage, &id);
	s.have_tally = dsv_obj_foreach(the_repo->store, count_object, &s.t) == 0;
	if (json)
		print_json_status(&s);
	else
		print_text_status(&s);
	dsv_manifest_free(s.m);
	dsv_commit_info_free(s.ci);
	free(s.branch);
	return 0;
}
