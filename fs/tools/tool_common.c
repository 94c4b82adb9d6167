/*
 * Shared machinery of the offline tools. The tree walk collects the whole
 * file list before any tool acts on it, so that renames made while
 * converting never disturb a directory being read, and so that a progress
 * bar knows its total up front. Every path below a backing directory is
 * opened here, by tool_open_beneath, so that no tool follows a symlink
 * the store's writers may have put in its way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "beneath.h"
#include "desc.h"
#include "format.h"
#include "storekeys.h"
#include "log.h"
#include "mountinfo.h"
#include "status.h"
#include "secrets.h"
#include "store.h"
#include "tool_common.h"

/* Test hook: set (to anything), tool_open_beneath walks the path itself
 * as on a kernel without openat2(2), so that tests cover that way too. */

/* The long option getopt_long just returned, as written: argv[optind - 1],
 * or the word before it when that is the option's separate value. */
static const char *last_option(char **argv)
{
	return optarg && optind >= 2 && optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1];
}

int tool_parse(int argc, char **argv, unsigned flags, struct tool_opts *o,
	       void (*usage)(FILE *f))
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "key-env", required_argument, NULL, 'K' },
		{ "key-file", required_argument, NULL, 'F' },
		{ "allow-weak-key", no_argument, NULL, 'w' },
		{ "cipher", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "strict", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		/* mount's own, known here only to say so */
		{ "adopt", no_argument, NULL, 'M' },
		{ "write-through", no_argument, NULL, 'M' },
		{ "cached-backing", no_argument, NULL, 'M' },
		{ "readahead", required_argument, NULL, 'M' },
		{ "low-space", required_argument, NULL, 'M' },
		{ "log-file", required_argument, NULL, 'M' },
		{ "pid-file", required_argument, NULL, 'M' },
		{ "foreground", no_argument, NULL, 'M' },
		{ "debug", no_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned need;
	int c;

	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:qho:fd", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; need = TOOL_OPT_KEYS; break;
		case 'K': o->key_env = optarg; need = TOOL_OPT_KEYS; break;
		case 'F': o->key_file = optarg; need = TOOL_OPT_KEYS; break;
		case 'w': o->allow_weak_key = 1; need = TOOL_OPT_KEYS; break;
		case 'C': o->cipher = optarg; need = TOOL_OPT_CIPHER; break;
		case 'J': o->json = 1; need = TOOL_OPT_JSON; break;
		case 'q': o->quiet = 1; need = TOOL_OPT_QUIET; break;
		case 'T': o->strict = 1; need = TOOL_OPT_STRICT; break;
		case 'h': usage(stdout); exit(log_stdout_status(EXIT_OK));
		case 'M': case 'o': case 'f': case 'd': {
			char letter[3] = { '-', (char)c, '\0' };

			log_usage(argv[0], "option %s applies to mount only", c == 'M' ? last_option(argv) : letter);
			return -1;
		}
		default: log_usage_getopt(argv[0], c, argv); return -1;
		}
		if (!(flags & need)) {
			log_usage(argv[0], "option %s does not apply here", last_option(argv));
			return -1;
		}
	}
	if (o->key_env && o->key_file) {
		log_usage(argv[0], "--key-env and --key-file cannot be used together");
		return -1;
	}
	return optind;
}

static int tool_config_load(const struct tool_opts *o, const char **backing, int need_backing,
			    struct tool_keys *k)
{
	char err[1024];
	int rc;

	memset(k, 0, sizeof(*k));
	k->cfg = (struct config)CONFIG_EMPTY;
	if (o->config) {
		rc = config_load(o->config, &k->cfg, err, sizeof(err));
		if (rc < 0) {
			log_err("%s", err);
			return EXIT_USAGE;
		}
		if (k->cfg.warning[0])
			log_warn("%s", k->cfg.warning);
	}
	k->strict = o->strict || k->cfg.strict == 1;
	if (need_backing && !*backing) {
		if (!k->cfg.backing_dir) {
			log_usage(o->cmd, "needs a BACKING_DIR%s", o->config ? " (the config has no backing_dir)"
									: " (or -c with backing_dir)");
			return EXIT_USAGE;
		}
		*backing = k->cfg.backing_dir;
	}
	return 0;
}

static int tool_keys_load(const struct tool_opts *o, const char *store, struct tool_keys *k)
{
	struct storekeys_opts ko = { .key_env = o->key_env, .key_file = o->key_file,
			       .cfg = o->config ? &k->cfg : NULL, .backing = store,
			       .allow_weak = o->allow_weak_key || k->cfg.allow_weak_key == 1,
			       .migrate = o->migrate, .also_id = o->also_id };
	char err[1024], **env;
	int rc;

	/* Keys are about to be in memory: no core dumps, no ptrace by others. */
	secrets_no_core_dumps();
	k->cipher = storekeys_new_file_cipher(o->cipher, &k->cfg);
	if (k->cipher < 0) {
		log_err("unknown cipher '%s' (use chachapoly or aes)", o->cipher);
		return EXIT_USAGE;
	}
	/* As the daemon does: the variables keys came from, and those the
	 * config named, leave the environment once read. */
	env = secrets_env_snapshot();
	rc = storekeys_load(&ko, &k->kr, err, sizeof(err));
	secrets_env_scrub(env, o->key_env, &k->cfg);
	if (rc < 0) {
		log_err("%s", err);
		return status_of_error(rc);
	}
	return 0;
}

int tool_refuse_mount(const char *cmd, const char *path, int store)
{
	struct mountinfo m;
	char abs[PATH_MAX];
	const char *rel;
	struct statfs sfs;
	struct stat st;

	/* A path that cannot be looked up is the tool's own error to name. */
	if (mountinfo_abspath(path, abs) < 0 || mountinfo_holding(path, &m) <= 0 || !mountinfo_is_jcfs(&m))
		return 0;
	rel = strcmp(m.target, "/") ? abs + strlen(m.target) : abs;
	/* fsck, encrypt and rekey want the store, which is the whole
	 * backing directory; cat and inspect the file that backs this one. */
	if (!store && !*rel)
		store = 1;
	/* statfs always asks the daemon, where stat may be answered from the
	 * kernel's attribute cache. */
	if ((statfs(m.target, &sfs) < 0 && errno == ENOTCONN) || (stat(m.target, &st) < 0 && errno == ENOTCONN)) {
		fprintf(stderr, "jetcryptfs %s: %s is inside the jetcryptfs mount %s, which is dead (its daemon is "
			"gone): run fusermount3 -u %s, then mount it again; this command takes its backing %s %s%s\n",
			cmd, path, m.target, m.target, store ? "directory" : "path", m.source, store ? "" : rel);
		return EXIT_USAGE;
	}
	if (store)
		fprintf(stderr, "jetcryptfs %s: %s is inside the jetcryptfs mount %s (the decrypted view); give its "
			"backing directory %s instead\n", cmd, path, m.target, m.source);
	else
		fprintf(stderr, "jetcryptfs %s: %s is inside the jetcryptfs mount %s (the decrypted view); give its "
			"backing %s %s%s instead\n", cmd, path, m.target,
			stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? "directory" : "file", m.source, rel);
	return EXIT_USAGE;
}

int tool_load(const struct tool_opts *o, const char **backing, int need_backing,
	      struct tool_keys *k)
{
	int status = tool_config_load(o, backing, need_backing, k);

	/* Before the keys: a mount point given by mistake is named as such,
	 * whether or not a key was given. */
	if (!status && *backing)
		status = tool_refuse_mount(o->cmd, *backing, need_backing);
	return status ? status : tool_keys_load(o, o->key_store ? o->key_store : need_backing ? *backing : NULL,
						k);
}

int tool_start_dir(int argc, char **argv, unsigned flags, void (*usage)(FILE *f),
		   struct tool_opts *o, struct tool_keys *k, const char **backing)
{
	int first;

	memset(k, 0, sizeof(*k));
	*backing = NULL;
	first = tool_parse(argc, argv, flags, o, usage);
	if (first < 0)
		return EXIT_USAGE;
	if (argc - first > 1) {
		log_usage(argv[0], "takes one BACKING_DIR, not %d arguments", argc - first);
		return EXIT_USAGE;
	}
	if (argc - first == 1)
		*backing = argv[first];
	o->migrate = !!(flags & TOOL_KEYS_MIGRATE);
	return tool_load(o, backing, 1, k);
}

void tool_keys_free(struct tool_keys *k)
{
	keyring_free(k->kr);
	k->kr = NULL;
	config_free(&k->cfg);
}

/* ---- opening below the backing directory ---- */

int tool_open_read(int dirfd, const char *path)
{
	int fd = beneath_open(dirfd, path, O_RDONLY | O_NOATIME, 0);

	if (fd == -EPERM)
		fd = beneath_open(dirfd, path, O_RDONLY, 0);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

int tool_open_parent(int rootfd, const char *rel, const char **base)
{
	const char *slash = strrchr(rel, '/');
	char dir[PATH_MAX];

	if (!slash) {
		*base = rel;
		return beneath_open(rootfd, ".", O_RDONLY | O_DIRECTORY, 0);
	}
	if ((size_t)(slash - rel) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, rel, (size_t)(slash - rel));
	dir[slash - rel] = '\0';
	*base = slash + 1;
	return beneath_open(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
}

int tool_open_operand(const char *path, int flags, int *storefd)
{
	char abs[PATH_MAX];
	size_t len, plen;
	int fd;

	*storefd = -1;
	if (path[0] == '/') {
		len = strlen(path);
		if (len >= sizeof(abs))
			return -ENAMETOOLONG;
		memcpy(abs, path, len + 1);
	} else {
		if (!getcwd(abs, sizeof(abs)))
			return -errno;
		plen = strlen(abs);
		if (plen + 1 + strlen(path) >= sizeof(abs))
			return -ENAMETOOLONG;
		abs[plen] = '/';
		strcpy(abs + plen + 1, path);
	}
	len = strlen(abs);
	while (len > 1 && abs[len - 1] == '/')
		abs[--len] = '\0';
	/* Each directory along the path, from the top, as the operator wrote
	 * it (symlinks there are theirs to choose). The first that holds a
	 * store descriptor is the store; below it nothing is followed. */
	for (size_t i = 0; i < len; i++) {
		const char *rel = abs + i;
		struct stat st;
		char save;
		int dfd;

		if (abs[i] != '/' || (i == 0 && len == 1))
			continue;
		while (*rel == '/')
			rel++;
		save = abs[i ? i : 1];
		abs[i ? i : 1] = '\0';
		dfd = open(abs, O_PATH | O_DIRECTORY | O_CLOEXEC);
		abs[i ? i : 1] = save;
		if (dfd < 0)
			break;          /* the open below names the problem */
		if (fstatat(dfd, DESC_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			fd = beneath_open(dfd, rel, flags, 0);
			if (fd < 0)
				close(dfd);
			else
				*storefd = dfd;
			return fd;
		}
		close(dfd);
	}
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ---- tree walk ---- */

static int tree_add(struct tool_file **files, size_t *n, size_t *capp, const char *rel, const struct stat *st)
{
	if (*n == *capp) {
		size_t cap = *capp ? 2 * *capp : 256;
		struct tool_file *f = realloc(*files, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		*files = f;
		*capp = cap;
	}
	(*files)[*n].rel = strdup(rel);
	if (!(*files)[*n].rel)
		return -ENOMEM;
	(*files)[*n].st = *st;
	(*n)++;
	return 0;
}

/* Directories go to a list of their own: only the tools' xattr passes
 * want them. */
static int tree_add_dir(struct tool_tree *t, const char *rel, const struct stat *st)
{
	return tree_add(&t->dirs, &t->ndirs, &t->capdirs, rel, st);
}

static int tree_add_symlinked(struct tool_tree *t, const char *rel)
{
	char **l = realloc(t->symlinked, (t->nsymlinked + 1) * sizeof(*l));

	if (!l)
		return -ENOMEM;
	t->symlinked = l;
	l[t->nsymlinked] = strdup(rel);
	if (!l[t->nsymlinked])
		return -ENOMEM;
	t->nsymlinked++;
	return 0;
}

struct walk {
	struct tool_tree *t;
	int rootfd;
	const char *backing;
	int remove_tmp;
	char *err;
	size_t errlen;
	char path[PATH_MAX];
};

static int walk_fail(struct walk *w, const char *rel, int rc)
{
	snprintf(w->err, w->errlen, "%s/%s: %s", w->backing, rel, beneath_strerror(-rc));
	return rc;
}

static int walk_dir(struct walk *w, int dfd, size_t plen, int depth);

/* Descends into the directory w->path, named from the root again: a
 * directory swapped for a symlink since it was listed is not followed
 * but noted, and the walk goes on. */
static int walk_sub(struct walk *w, size_t plen, int depth)
{
	int sub = beneath_open(w->rootfd, w->path, O_RDONLY | O_DIRECTORY, 0), rc;

	if (sub == -ELOOP)
		return tree_add_symlinked(w->t, w->path) < 0 ? walk_fail(w, w->path, -ENOMEM) : 0;
	if (sub < 0)
		return walk_fail(w, w->path, sub);
	rc = walk_dir(w, sub, plen, depth);
	close(sub);
	return rc;
}

static int walk_dir(struct walk *w, int dfd, size_t plen, int depth)
{
	struct dirent *de;
	DIR *dp;
	int fd, rc = 0, removed = 0;

	if (depth > 256)
		return walk_fail(w, w->path, -ELOOP);
	fd = dup(dfd);
	if (fd < 0)
		return walk_fail(w, w->path, -errno);
	dp = fdopendir(fd);
	if (!dp) {
		rc = -errno;
		close(fd);
		return walk_fail(w, w->path, rc);
	}
	/* The dup shares its offset with dfd, which an earlier reader (the
	 * store survey) may have left at the end. */
	rewinddir(dp);
	while (rc == 0) {
		struct stat st;
		size_t nlen;

		errno = 0;
		de = readdir(dp);
		if (!de) {
			if (errno)
				rc = walk_fail(w, w->path, -errno);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nlen = strlen(de->d_name);
		if (plen + nlen + 2 > sizeof(w->path)) {
			rc = walk_fail(w, w->path, -ENAMETOOLONG);
			break;
		}
		if (plen)
			w->path[plen] = '/';
		memcpy(w->path + plen + (plen ? 1 : 0), de->d_name, nlen + 1);
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = walk_fail(w, w->path, -errno);
			break;
		}
		if (store_name_is_tmp(de->d_name) && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
			w->t->tmp_files++;
			if (w->remove_tmp) {
				if (unlinkat(dfd, de->d_name, 0) < 0) {
					rc = walk_fail(w, w->path, -errno);
					break;
				}
				removed = 1;
			}
		} else if (depth == 0 && (store_name_reserved(de->d_name) || !strcmp(de->d_name, "lost+found"))) {
			/* the descriptor and its temp file, fsck's directory */
		} else if (S_ISDIR(st.st_mode)) {
			rc = tree_add_dir(w->t, w->path, &st);
			if (rc < 0)
				walk_fail(w, w->path, rc);
			else
				rc = walk_sub(w, plen + (plen ? 1 : 0) + nlen, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = tree_add(&w->t->files, &w->t->n, &w->t->cap, w->path, &st);
			if (rc < 0)
				walk_fail(w, w->path, rc);
		} else {
			w->t->skipped += !S_ISLNK(st.st_mode);
			rc = tree_add(&w->t->nodes, &w->t->nnodes, &w->t->capnodes, w->path, &st);
			if (rc < 0)
				walk_fail(w, w->path, rc);
		}
		w->path[plen] = '\0';
	}
	closedir(dp);
	if (rc == 0 && removed && fsync(dfd) < 0)
		rc = walk_fail(w, w->path, -errno);
	return rc;
}

static int tree_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tool_file *)a)->rel, ((const struct tool_file *)b)->rel);
}

int tool_tree_walk(int rootfd, const char *backing, int remove_tmp, struct tool_tree *t,
		   char *err, size_t errlen)
{
	struct walk *w = calloc(1, sizeof(*w));
	struct stat root;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->t = t;
	w->rootfd = rootfd;
	w->backing = backing;
	w->remove_tmp = remove_tmp;
	w->err = err;
	w->errlen = errlen;
	rc = fstat(rootfd, &root) < 0 ? -errno : tree_add_dir(t, ".", &root);
	if (rc < 0)
		walk_fail(w, ".", rc);
	else
		rc = walk_dir(w, rootfd, 0, 0);
	free(w);
	if (rc < 0) {
		tool_tree_free(t);
		return rc;
	}
	if (t->n)
		qsort(t->files, t->n, sizeof(*t->files), tree_cmp);
	if (t->ndirs)
		qsort(t->dirs, t->ndirs, sizeof(*t->dirs), tree_cmp);
	if (t->nnodes)
		qsort(t->nodes, t->nnodes, sizeof(*t->nodes), tree_cmp);
	return 0;
}

void tool_tree_free(struct tool_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->files[i].rel);
	free(t->files);
	for (size_t i = 0; i < t->ndirs; i++)
		free(t->dirs[i].rel);
	free(t->dirs);
	for (size_t i = 0; i < t->nsymlinked; i++)
		free(t->symlinked[i]);
	free(t->symlinked);
	for (size_t i = 0; i < t->nnodes; i++)
		free(t->nodes[i].rel);
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

/* ---- signals ---- */

static volatile sig_atomic_t tool_sig;

static void tool_on_signal(int sig)
{
	tool_sig = sig;
}

void tool_signals_catch(void)
{
	struct sigaction sa = { .sa_handler = tool_on_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int tool_interrupted(void)
{
	return tool_sig;
}

/* ---- JSON ---- */

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static int utf8_seq_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	int n;

	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	if (*p == 0xe0)
		lo = 0xa0;
	else if (*p == 0xed)
		hi = 0x9f;
	else if (*p == 0xf0)
		lo = 0x90;
	else if (*p == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

void tool_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int n;

		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (*p < 0x80)
			fputc(*p, f);
		else if ((n = utf8_seq_len(p)) > 0) {
			fwrite(p, 1, (size_t)n, f);
			p += n - 1;
		} else {
			/* JSON text is Unicode: a byte of a name that is not
			 * UTF-8 becomes U+FFFD, as decoders show it. */
			fputs("\\ufffd", f);
		}
	}
	fputc('"', f);
}
