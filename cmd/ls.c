/* ls.c: `dsv ls [REV]`: a version's shards with their records and bytes. */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_ls(int argc, char **argv)
{
	static const char usage[] = "dsv ls [--json] [REV]";
	int json = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print a JSON array"),
		OPT_END(),
	};
	dsv_manifest *m = NULL;
	dsv_aid id;
	uint64_t rows = 0, kept = 0, stored = 0, raw = 0;
	json_t *arr = NULL;
	char b1[32], b2[32], hex[DSV_OID_HEXLEN + 1];
	int n = parse_options(argc, argv, opts, usage);
	if (n < 0)
		return PARSE_EXIT(n);
	if (n > 1)
		return usage_error(opts, usage, "too many revisions");
	if (load_version(n ? argv[0] : NULL, &id, &m))
		return die_error();
	if (json)
		arr = json_array();
	else
		printf("%4s  %-16s %10s %10s %6s %11s %11s\n", "#", "shard",
		       "rows", "kept", "repeat", "stored", "raw");
	for (size_t i = 0; i < m->n; i++) {
		const dsv_manifest_entry *e = &m->e[i];
		dsv_obj_info info = {0};
		dsv_index_get_object(the_repo->store, &e->shard, &info);
		dsv_oid_fmt(hex, &e->shard);
		rows += e->rows;
		kept += e->kept * e->repeat;
		stored += info.stored_size;
		raw += info.raw_size;
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "shard", json_string(hex));
			json_object_set_new(o, "rows", json_integer((json_int_t)e->rows));
			json_object_set_new(o, "kept", json_integer((json_int_t)e->kept));
			json_object_set_new(o, "repeat", json_integer(e->repeat));
			json_object_set_new(o, "stored_bytes", json_integer((json_int_t)info.stored_size));
			json_object_set_new(o, "raw_bytes", json_integer((json_int_t)info.raw_size));
			if (e->has_sel) {
				dsv_oid_fmt(hex, &e->sel);
				json_object_set_new(o, "selection", json_string(hex));
			}
			json_array_append_new(arr, o);
			continue;
		}
		printf("%4zu  %-16.16s %10llu %10llu %6u %11s %11s\n", i + 1,
		       hex, (unsigned long long)e->rows,
		       (unsigned long long)e->kept, e->repeat,
		       human_bytes(b1, (double)info.stored_size),
		       human_bytes(b2, (double)info.raw_size));
	}
	if (json) {
		print_json(arr, JSON_INDENT(2));
		json_decref(arr);
	} else {
		printf("%zu %s, %llu %s (%llu %s stored), %s stored, %s raw\n",
		       m->n, plural(m->n, "shard", "shards"),
		       (unsigned long long)kept,
		       plural(kept, "record", "records"),
		       (unsigned long long)rows, plural(rows, "row", "rows"),
		       human_bytes(b1, (double)stored),
		       human_bytes(b2, (double)raw));
	}
	dsv_manifest_free(m);
	return 0;
}
