/* gc.c: the store half of garbage collection: given the set of objects the
 * lineage reaches, deletes every other object file older than the grace
 * period, and the temporary files that interrupted writes left behind.
 * Which objects are reachable is the lineage's to say (lineage/dataset.c);
 * the rule is in docs/formats.md.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int dsv_gc_parse_grace(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	int64_t mult = 1;
	if (end == s || errno || v < 0)
		goto bad;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mult = 60, end++;
	else if (*end == 'h')
		mult = 3600, end++;
	else if (*end == 'd')
		mult = 86400, end++;
	if (*end || v > INT64_MAX / mult)
		goto bad;
	*out = v * mult;
	return 0;
bad:
	return dsv_error_set(DSV_EINVAL, "bad grace period '%s': expected "
			     "seconds, or a number with s, m, h or d", s);
}

int dsv_gc_grace(const dsv_store *s, int64_t *out)
{
	const char *v = dsv_store_config(s, "gc.grace");
	*out = DSV_GC_GRACE;
	if (!v)
		return 0;
	int rc = dsv_gc_parse_grace(v, out);
	return rc ? dsv_error_wrap(rc, "config 'gc.grace'") : 0;
}

static int oid_cmp(const void *a, const void *b)
{
	return dsv_oid_cmp(a, b);
}

/* A token array of a kept shard under a kept tokenizer: the cache of live
 * data, which a running train or export reads as it goes. */
static int live_tokens(const dsv_gc_opts *o, dsv_store *s, const dsv_oid *id)
{
	dsv_oid shard, tok;
	if (!o->ntokenizers)
		return 0;
	int rc = dsv_tokens_peek(s, id, &shard, &tok);
	dsv_error_clear(); /* another type, or damage: fsck's to report */
	return !rc &&
	       bsearch(&shard, o->keep, o->nkeep, sizeof shard, oid_cmp) &&
	       bsearch(&tok, o->tokenizers, o->ntokenizers, sizeof tok,
		       oid_cmp);
}

struct sweep {
	dsv_store *s;
	const dsv_gc_opts *o;
	dsv_gc_stats *st;
	time_t now;
};

/* Age of a file in seconds; a file whose time is in the future is young. */
static int64_t age_of(const struct stat *sb, time_t now)
{
	return sb->st_mtime > now ? 0 : (int64_t)(now - sb->st_mtime);
}

static int sweep_one(const dsv_oid *id, void *ctx)
{
	struct sweep *w = ctx;
	struct stat sb;
	char *path = NULL;
	int rc;
	if (bsearch(id, w->o->keep, w->o->nkeep, sizeof *id, oid_cmp) ||
	    live_tokens(w->o, w->s, id)) {
		w->st->kept++;
		return 0;
	}
	if ((rc = dsv_obj_path(w->s, id, &path)))
		return rc;
	if (stat(path, &sb)) {
		rc = errno == ENOENT ? 0 /* another gc took it */
				     : dsv_error_set(DSV_EIO, "cannot stat '%s':"
						     " %s", path,
						     strerror(errno));
		goto cleanup;
	}
	if (age_of(&sb, w->now) < w->o->grace_s) {
		w->st->young++;
		goto cleanup;
	}
	if (w->o->report)
		w->o->report(w->o->ctx, id, (uint64_t)sb.st_size);
	if (!w->o->dry_run) {
		/* A failed delete leaves an unreachable object: harmless. */
		if (dsv_fault_hit(DSV_FAULT_WRITE) ||
		    (unlink(path) && errno != ENOENT)) {
			rc = dsv_error_set(DSV_EIO, "cannot delete '%s': %s",
					   path, errno ? strerror(errno)
						       : "injected fault");
			goto cleanup;
		}
	}
	w->st->deleted++;
	w->st->deleted_bytes += (uint64_t)sb.st_size;
cleanup:
	free(path);
	return rc;
}

/* The newest mtime and the bytes of the files below a directory of tmp/
 * (the spool of an interrupted map or synth); with rm, removes it all. */
static int tmp_dir_walk(const char *path, int rm, time_t *newest, uint64_t *bytes)
{
	char sub[4400];
	struct dirent *de;
	struct stat sb;
	int rc = 0;
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : dsv_error_set(DSV_EIO,
				     "cannot open '%s': %s", path, strerror(errno));
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		if (lstat(sub, &sb))
			continue;
		if (sb.st_mtime > *newest)
			*newest = sb.st_mtime;
		if (S_ISDIR(sb.st_mode)) {
			rc = tmp_dir_walk(sub, rm, newest, bytes);
			continue;
		}
		*bytes += (uint64_t)sb.st_size;
		if (rm && unlink(sub) && errno != ENOENT)
			rc = dsv_error_set(DSV_EIO, "cannot delete '%s': %s", sub,
					   strerror(errno));
	}
	closedir(d);
	if (!rc && rm && rmdir(path) && errno != ENOENT)
		rc = dsv_error_set(DSV_EIO, "cannot delete '%s': %s", path,
				   strerror(errno));
	return rc;
}

/* Names of temporary files, one predicate per directory that holds them;
 * `dir` is the directory's path, for the rules that look beside the name. */
typedef int (*tmp_name_fn)(const char *dir, const char *name);

/* tmp/: everything is staging (objects as obj-XXXXXX, the spool directories
 * of map and synth) but the dot files that are no writer's. */
static int in_tmp(const char *dir, const char *name)
{
	return name[0] != '.';
}

/* runs/NAME.tmp: train's run file of NAME before its rename. A branch may
 * itself be called x.tmp, so the rule asks the claim locks train takes
 * before its first write and leaves in place (.NAME.lock, cmd/train.c): the
 * run NAME holds one and the run NAME.tmp none. */
static int run_tmp(const char *dir, const char *name)
{
	char lock[4400];
	size_t n = strlen(name);
	if (name[0] == '.' || n < 5 || strcmp(name + n - 4, ".tmp"))
		return 0;
	snprintf(lock, sizeof lock, "%s/.%s.lock", dir, name);
	if (!access(lock, F_OK))
		return 0;
	snprintf(lock, sizeof lock, "%s/.%.*s.lock", dir, (int)(n - 4), name);
	return !access(lock, F_OK);
}

/* lineage/objects/tmp_object_git2_* and objects/pack/pack_git2_*: libgit2's
 * loose objects and received packs before their link or rename (its
 * git_futils_mktmp); git's own names there never hold an underscore. */
static int git2_tmp(const char *dir, const char *name)
{
	return strstr(name, "_git2_") != NULL;
}

/* lineage/packed-refs.new: the packed-refs a ref delete writes (under
 * packed-refs.lock) before its rename, as git does (lineage/rev.c). Ref
 * deletes do not take the store lock, so the sweep of the lineage holds
 * packed-refs.lock itself (tmp_dirs). */
static int refs_tmp(const char *dir, const char *name)
{
	return !strcmp(name, "packed-refs.new");
}

static const struct {
	const char *dir; /* under .dsv */
	tmp_name_fn is_tmp;
	const char *lock; /* in dir, held over the sweep; NULL: none */
} tmp_dirs[] = {
	{"tmp", in_tmp, NULL},
	{"runs", run_tmp, NULL},
	{"lineage/objects", git2_tmp, NULL},
	{"lineage/objects/pack", git2_tmp, NULL},
	{"lineage", refs_tmp, "packed-refs.lock"},
};

/* The temporary files of directory `sub` of .dsv older than the grace
 * period: files, and directories (the spool of map or synth) when nothing
 * in them is younger. dsv writes them under the store lock, and renames
 * them within seconds; the grace period still holds, for writers that do
 * not lock (another libgit2 program writing the lineage). */
static int sweep_tmp(struct sweep *w, const char *sub, tmp_name_fn is_tmp)
{
	char dir[4096], path[4400];
	struct dirent *de;
	struct stat sb;
	int rc = 0;
	snprintf(dir, sizeof dir, "%s/%s", dsv_store_dir(w->s), sub);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : dsv_error_set(DSV_EIO,
				     "cannot open '%s': %s", dir,
				     strerror(errno));
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !is_tmp(dir, de->d_name))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (lstat(path, &sb))
			continue;
		if (S_ISDIR(sb.st_mode)) {
			time_t newest = sb.st_mtime;
			uint64_t bytes = 0;
			if ((rc = tmp_dir_walk(path, 0, &newest, &bytes)))
				break;
			sb.st_mtime = newest;
			if (age_of(&sb, w->now) < w->o->grace_s)
				continue;
			if (!w->o->dry_run &&
			    (rc = tmp_dir_walk(path, 1, &newest, &bytes)))
				break;
			w->st->tmp_files++;
			w->st->tmp_bytes += bytes;
			continue;
		}
		if (!S_ISREG(sb.st_mode) || age_of(&sb, w->now) < w->o->grace_s)
			continue;
		if (!w->o->dry_run && unlink(path) && errno != ENOENT)
			rc = dsv_error_set(DSV_EIO, "cannot delete '%s': %s",
					   path, strerror(errno));
		w->st->tmp_files++;
		w->st->tmp_bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	return rc;
}

/* sweep_tmp under the lock file `lock` of `sub`, taken as its writers take
 * it (O_EXCL): when another process holds it, one of them is between its
 * temporary file's write and rename, and the sweep waits for the next gc.
 * A dry run only looks, and takes nothing. */
static int sweep_tmp_locked(struct sweep *w, const char *sub,
			    tmp_name_fn is_tmp, const char *lock)
{
	char path[4400];
	int fd, rc;

	if (!lock || w->o->dry_run)
		return sweep_tmp(w, sub, is_tmp);
	snprintf(path, sizeof path, "%s/%s/%s", dsv_store_dir(w->s), sub, lock);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		       0666)) < 0)
		return errno == EEXIST || errno == ENOENT
		       ? 0 : dsv_error_set(DSV_EIO, "cannot create '%s': %s",
					   path, strerror(errno));
	close(fd);
	rc = sweep_tmp(w, sub, is_tmp);
	unlink(path);
	return rc;
}

int dsv_store_gc_lock(dsv_store *s, int dry_run)
{
	if (!dry_run)
		return dsv_store_lock_exclusive(s);
	return dsv_store_lock_read(s);
}

int dsv_store_gc(dsv_store *s, const dsv_gc_opts *o, dsv_gc_stats *st)
{
	struct sweep w = {s, o, st, time(NULL)};
	memset(st, 0, sizeof *st);
	int rc = dsv_obj_foreach(s, sweep_one, &w);
	for (size_t i = 0; !rc && i < sizeof tmp_dirs / sizeof *tmp_dirs; i++)
		rc = sweep_tmp_locked(&w, tmp_dirs[i].dir, tmp_dirs[i].is_tmp,
				      tmp_dirs[i].lock);
	return rc;
}
