/* repo.c: the repository's .dsv directory: creating and opening it, finding
 * it from the working directory, its config file, and the writers' lock.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char config_text[] = "# dsv repository\nformat = 1\n";

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = dsv_malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0777) == 0 || errno == EEXIST)
		return 0;
	return dsv_error_set(DSV_EIO, "cannot create '%s': %s", path,
			     strerror(errno));
}

static int write_config(const char *path)
{
	int fd = -1, rc = 0;
	size_t n = sizeof config_text - 1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	if (fd < 0) {
		rc = dsv_error_set(errno == EEXIST ? DSV_EEXISTS : DSV_EIO,
				   "cannot create '%s': %s", path,
				   strerror(errno));
		goto cleanup;
	}
	if (dsv_fault_hit(DSV_FAULT_WRITE) ||
	    write(fd, config_text, n) != (ssize_t)n) {
		rc = dsv_error_set(DSV_EIO, "cannot write '%s': %s", path,
				   strerror(errno));
		goto cleanup;
	}
	if (dsv_fault_hit(DSV_FAULT_FSYNC) || fsync(fd) != 0)
		rc = dsv_error_set(DSV_EIO, "cannot sync '%s': %s", path,
				   strerror(errno));
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

int dsv_store_init(const char *dsv_dir)
{
	static const char *const subdirs[] = {"objects", "index", "tmp"};
	char *cfg = NULL, *sub = NULL;
	struct stat st;
	int rc = 0;

	if (!(cfg = path_join(dsv_dir, "config")))
		return DSV_ENOMEM;
	if (stat(cfg, &st) == 0) {
		rc = dsv_error_set(DSV_EEXISTS, "'%s' is already a dsv repository",
				   dsv_dir);
		goto cleanup;
	}
	if ((rc = make_dir(dsv_dir)))
		goto cleanup;
	for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
		if (!(sub = path_join(dsv_dir, subdirs[i]))) {
			rc = DSV_ENOMEM;
			goto cleanup;
		}
		if ((rc = make_dir(sub)))
			goto cleanup;
		free(sub);
		sub = NULL;
	}
	/* The config is written last: its presence marks a complete store. */
	rc = write_config(cfg);
cleanup:
	free(sub);
	free(cfg);
	return rc;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
			struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) ? -1 : 0;
}

int dsv_store_destroy(const char *dsv_dir)
{
	size_t n = strlen(dsv_dir);
	/* a guard against a caller's mistake costing a user's files */
	if (n < 4 || strcmp(dsv_dir + n - 4, ".dsv") ||
	    (n > 4 && dsv_dir[n - 5] != '/'))
		return dsv_error_set(DSV_EINVAL, "'%s' is not a .dsv directory",
				     dsv_dir);
	if (nftw(dsv_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) &&
	    errno != ENOENT)
		return dsv_error_set(DSV_EIO, "cannot remove '%s': %s", dsv_dir,
				     strerror(errno));
	return 0;
}

static int config_add(dsv_store *s, const char *k, size_t kl, const char *v,
		      size_t vl)
{
	char **keys = dsv_realloc(s->cfg_keys, (s->ncfg + 1) * sizeof *keys);
	if (!keys)
		return DSV_ENOMEM;
	s->cfg_keys = keys;
	char **vals = dsv_realloc(s->cfg_vals, (s->ncfg + 1) * sizeof *vals);
	if (!vals)
		return DSV_ENOMEM;
	s->cfg_vals = vals;
	char *key = dsv_malloc(kl + 1), *val = dsv_malloc(vl + 1);
	if (!key || !val) {
		free(key);
		free(val);
		return DSV_ENOMEM;
	}
	memcpy(key, k, kl);
	key[kl] = '\0';
	memcpy(val, v, vl);
	val[vl] = '\0';
	s->cfg_keys[s->ncfg] = key;
	s->cfg_vals[s->ncfg] = val;
	s->ncfg++;
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int dsv_store_config_parse(dsv_store *s, const char *text, size_t len)
{
	size_t line = 0, pos = 0;
	while (pos < len) {
		const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - p) : len - pos;
		pos += n + 1;
		line++;
		/* a NUL would cut the key or value short, unseen */
		if (memchr(p, 0, n))
			return dsv_error_set(DSV_EINVAL,
					     "'config':%zu: NUL byte", line);
		while (n && is_space(*p))
			p++, n--;
		while (n && is_space(p[n - 1]))
			n--;
		if (n == 0 || *p == '#')
			continue;
		const char *eq = memchr(p, '=', n);
		if (!eq)
			return dsv_error_set(DSV_EINVAL,
					     "'config':%zu: expected 'key = value'",
					     line);
		size_t kl = (size_t)(eq - p);
		while (kl && is_space(p[kl - 1]))
			kl--;
		const char *v = eq + 1;
		size_t vl = n - (size_t)(v - p);
		while (vl && is_space(*v))
			v++, vl--;
		if (kl == 0)
			return dsv_error_set(DSV_EINVAL,
					     "'config':%zu: empty key", line);
		int rc = config_add(s, p, kl, v, vl);
		if (rc)
			return rc;
	}
	return 0;
}

static int config_load(dsv_store *s)
{
	char *path = NULL, *text = NULL;
	FILE *f = NULL;
	int rc = 0;
	long len;

	if (!(path = path_join(s->dir, "config")))
		return DSV_ENOMEM;
	if (!(f = fopen(path, "rb"))) {
		rc = dsv_error_set(errno == ENOENT ? DSV_ENOTFOUND : DSV_EIO,
				   "'%s' is not a dsv repository: cannot open "
				   "'config': %s", s->dir, strerror(errno));
		goto cleanup;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		rc = dsv_error_set(DSV_EIO, "cannot read '%s'", path);
		goto cleanup;
	}
	if (len > (1 << 20)) {
		rc = dsv_error_set(DSV_EINVAL, "'%s' is too large", path);
		goto cleanup;
	}
	if (!(text = dsv_malloc((size_t)len + 1))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	if (fread(text, 1, (size_t)len, f) != (size_t)len) {
		rc = dsv_error_set(DSV_EIO, "cannot read '%s'", path);
		goto cleanup;
	}
	rc = dsv_store_config_parse(s, text, (size_t)len);
	if (rc == 0) {
		const char *fmt = dsv_store_config(s, "format");
		if (fmt && strcmp(fmt, "1") != 0)
			rc = dsv_error_set(DSV_EINVAL,
					   "'%s': unsupported repository "
					   "format '%s'", path, fmt);
	}
cleanup:
	if (f)
		fclose(f);
	free(text);
	free(path);
	return rc;
}

/* The integer settings, checked as the store opens: a bad value is an
 * error, as git's are, never a silent default. */
enum { KEY_LEVEL, KEY_WINDOW };
static const struct {
	const char *key;
	long lo, hi, dflt;
} int_keys[] = {
	[KEY_LEVEL] = {"compression.level", -7, 22, 1},
	[KEY_WINDOW] = {"compression.window", 0, 27, 26},
};

static int config_int_check(const dsv_store *s)
{
	for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++) {
		const char *v = dsv_store_config(s, int_keys[i].key);
		char *end;
		if (!v)
			continue;
		errno = 0;
		long l = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno || l < int_keys[i].lo ||
		    l > int_keys[i].hi)
			return dsv_error_set(DSV_EINVAL, "'%s/config': %s = '%s': "
					     "expected an integer %ld..%ld",
					     s->dir, int_keys[i].key, v,
					     int_keys[i].lo, int_keys[i].hi);
	}
	return 0;
}

int dsv_store_open(dsv_store **out, const char *dsv_dir)
{
	dsv_store *s = NULL;
	int rc = 0;

	*out = NULL;
	if (!(s = dsv_malloc(sizeof *s)))
		return DSV_ENOMEM;
	memset(s, 0, sizeof *s);
	s->lock_fd = -1;
	/* read before any thread starts: umask has no read-only form */
	mode_t mask = umask(022);
	umask(mask);
	s->file_mode = 0666 & ~mask;
	size_t n = strlen(dsv_dir);
	while (n > 1 && dsv_dir[n - 1] == '/')
		n--;
	if (!(s->dir = dsv_malloc(n + 1))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	memcpy(s->dir, dsv_dir, n);
	s->dir[n] = '\0';
	if (access(s->dir, W_OK) != 0 && (errno == EROFS || errno == EACCES ||
					  errno == EPERM))
		s->ro_errno = errno;
	if ((rc = config_load(s)) || (rc = config_int_check(s)) ||
	    (rc = dsv_index_open(s)))
		goto cleanup;
	*out = s;
	s = NULL;
cleanup:
	dsv_store_free(s);
	return rc;
}

void dsv_store_free(dsv_store *s)
{
	if (!s)
		return;
	dsv_store_unlock(s);
	dsv_index_close(s);
	for (size_t i = 0; i < s->ncfg; i++) {
		free(s->cfg_keys[i]);
		free(s->cfg_vals[i]);
	}
	free(s->cfg_keys);
	free(s->cfg_vals);
	free(s->dir);
	free(s);
}

int dsv_store_writable(const dsv_store *s)
{
	if (!s->ro_errno)
		return 0;
	return dsv_error_set(DSV_EIO, "repository '%s' is read-only: %s",
			     s->dir, strerror(s->ro_errno));
}

const char *dsv_store_dir(const dsv_store *s)
{
	return s->dir;
}

const char *dsv_store_config(const dsv_store *s, const char *key)
{
	/* The last setting of a key wins, as in git config. */
	for (size_t i = s->ncfg; i-- > 0;)
		if (strcmp(s->cfg_keys[i], key) == 0)
			return s->cfg_vals[i];
	return NULL;
}

/* A whole-number setting in [lo, hi], or `dflt` when unset or malformed. */
static int config_int(const dsv_store *s, int k)
{
	const char *v = dsv_store_config(s, int_keys[k].key);
	return (int)(v ? strtol(v, NULL, 10) : int_keys[k].dflt);
}

int dsv_store_level(const dsv_store *s)
{
	return config_int(s, KEY_LEVEL);
}

int dsv_store_window(const dsv_store *s)
{
	return config_int(s, KEY_WINDOW);
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int dsv_store_find(char **out)
{
	const char *env = getenv("DSV_DIR");
	char *cwd = NULL, *cand = NULL;
	int rc = 0;

	*out = NULL;
	if (env && *env) {
		if (!is_dir(env))
			return dsv_error_set(DSV_ENOTFOUND,
					     "DSV_DIR '%s' is not a directory",
					     env);
		if (!(cand = dsv_malloc(strlen(env) + 1)))
			return DSV_ENOMEM;
		strcpy(cand, env);
		*out = cand;
		return 0;
	}
	if (!(cwd = getcwd(NULL, 0)))
		return dsv_error_set(DSV_EIO, "cannot get the current directory: %s",
				     strerror(errno));
	for (;;) {
		if (!(cand = path_join(strcmp(cwd, "/") ? cwd : "", ".dsv"))) {
			rc = DSV_ENOMEM;
			goto cleanup;
		}
		if (is_dir(cand)) {
			*out = cand;
			cand = NULL;
			goto cleanup;
		}
		free(cand);
		cand = NULL;
		char *slash = strrchr(cwd, '/');
		if (!slash || strcmp(cwd, "/") == 0)
			break;
		if (slash == cwd)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	rc = dsv_error_set(DSV_ENOTFOUND,
			   "not a dsv repository (or any parent up to '/'): "
			   "no '.dsv' directory found");
cleanup:
	free(cand);
	free(cwd);
	return rc;
}

/* The pid a lock file names (an exclusive holder writes it); 0 if none. */
static long lock_holder(int fd)
{
	char buf[24];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	long pid = strtol(buf, NULL, 10);
	return pid > 0 ? pid : 0;
}

/* Writes our pid into the lock file we hold alone (mine), or empties it, for
 * a process that has to wait; a failed write loses only that note's
 * detail. */
static void lock_mark(int fd, int mine)
{
	char buf[24];
	int n = mine ? snprintf(buf, sizeof buf, "%ld\n", (long)getpid()) : 0;
	if (ftruncate(fd, 0) == 0 && n)
		n = (int)pwrite(fd, buf, (size_t)n, 0);
}

void dsv_store_on_lock_wait(dsv_store *s,
			    void (*fn)(const char *path, long pid))
{
	s->lock_wait = fn;
}

/* flock(op) on `path`, created if need be, waiting (after saying so) while
 * another process holds it in a conflicting mode. */
static int lock_file(dsv_store *s, const char *path, int op, int *out)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return dsv_error_set(DSV_EIO, "cannot open '%s': %s", path,
				     strerror(errno));
	if (flock(fd, op | LOCK_NB) != 0 && errno == EWOULDBLOCK &&
	    s->lock_wait)
		s->lock_wait(path, lock_holder(fd));
	while (flock(fd, op) != 0) {
		if (errno == EINTR)
			continue;
		int rc = dsv_error_set(DSV_EIO, "cannot lock '%s': %s", path,
				       strerror(errno));
		close(fd);
		return rc;
	}
	/* a holder alone names itself; a shared holder knows that no one
	 * holds it alone, so a pid there is a killed holder's */
	lock_mark(fd, op == LOCK_EX);
	*out = fd;
	return 0;
}

static void unlock_file(int *fd, int mark)
{
	if (*fd < 0)
		return;
	if (mark)
		lock_mark(*fd, 0);
	flock(*fd, LOCK_UN);
	close(*fd);
	*fd = -1;
}

/* The store lock, taken through `lock.gate`. flock grants a shared lock
 * whenever only shared holders are in, so writers that keep arriving
 * would keep gc's exclusive request waiting forever. Whoever wants the lock
 * alone holds the gate alone while it waits; everyone else passes the
 * gate (takes it shared and lets go) before asking. A gc waiting for the
 * lock thus waits for the writers already in, not for the ones that come
 * after it: they wait at the gate. */
static int store_lock(dsv_store *s, int op)
{
	char *path = NULL, *gpath = NULL;
	int gate = -1, rc;
	if (s->lock_fd >= 0)
		return s->lock_op == op || op == LOCK_SH ? 0
		       : dsv_error_set(DSV_EINVAL, "the store lock is held "
				       "shared: cannot take it alone");
	if (!(path = path_join(s->dir, "lock")) ||
	    !(gpath = path_join(s->dir, "lock.gate"))) {
		rc = DSV_ENOMEM;
		goto cleanup;
	}
	if ((rc = lock_file(s, gpath, op, &gate)))
		goto cleanup;
	if (op == LOCK_SH)
		unlock_file(&gate, 0);
	if (!(rc = lock_file(s, path, op, &s->lock_fd)))
		s->lock_op = op;
cleanup:
	unlock_file(&gate, op == LOCK_EX);
	free(gpath);
	free(path);
	return rc;
}

int dsv_store_lock(dsv_store *s)
{
	return store_lock(s, LOCK_SH);
}

int dsv_store_lock_exclusive(dsv_store *s)
{
	return store_lock(s, LOCK_EX);
}

int dsv_store_lock_read(dsv_store *s)
{
	return s->ro_errno ? 0 : store_lock(s, LOCK_SH);
}

int dsv_store_branch_path(const dsv_store *s, const char *dir,
			  const char *branch, char **out)
{
	char *d = path_join(s->dir, dir), *path = d ? path_join(d, branch) : NULL;
	int rc = 0;
	*out = NULL;
	if (!path) {
		free(d);
		return dsv_error_set(DSV_ENOMEM, "out of memory");
	}
	for (char *p = path + strlen(d) + 1; *p; p++)
		if (*p == '/')
			*p = ':';
	if (mkdir(d, 0777) && errno != EEXIST) {
		rc = dsv_error_set(DSV_EIO, "cannot create '%s': %s", d,
				   strerror(errno));
		free(path);
	} else {
		*out = path;
	}
	free(d);
	return rc;
}

int dsv_store_lock_branch(dsv_store *s, const char *branch)
{
	char *path = NULL;
	int rc;
	/* a second flock of the file would wait for our own first */
	for (int i = 0; i < s->nbranch; i++)
		if (!strcmp(s->branch[i].name, branch))
			return 0;
	if (s->nbranch == DSV_STORE_MAX_BRANCH_LOCKS)
		return dsv_error_set(DSV_EINVAL, "more than %d branch locks",
				     DSV_STORE_MAX_BRANCH_LOCKS);
	if ((rc = dsv_store_lock(s)) ||
	    (rc = dsv_store_branch_path(s, "locks", branch, &path)))
		return rc;
	struct branch_lock *b = &s->branch[s->nbranch];
	if (!(b->name = strdup(branch)))
		rc = dsv_error_set(DSV_ENOMEM, "out of memory");
	else if ((rc = lock_file(s, path, LOCK_EX, &b->fd)))
		free(b->name);
	else
		s->nbranch++;
	free(path);
	return rc;
}

void dsv_store_unlock(dsv_store *s)
{
	if (!s)
		return;
	for (; s->nbranch > 0; s->nbranch--) {
		struct branch_lock *b = &s->branch[s->nbranch - 1];
		unlock_file(&b->fd, 1);
		free(b->name);
	}
	unlock_file(&s->lock_fd, s->lock_op == LOCK_EX);
}
