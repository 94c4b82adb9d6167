/*
 * Reading /proc/self/mountinfo. Lines look like
 *   36 35 98:0 /root /mnt rw,noatime master:1 - ext4 /dev/vda rw
 * with the mount point in field 5 and, after the "-", the type and the
 * source; whitespace and backslashes in them are octal escapes (\040).
 * Later lines are mounted later, so the last match is the topmost mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mountinfo.h"

/* Copies field f (ended by a space or the end) unescaped into out. */
static void unescape_field(const char *f, char *out, size_t outlen)
{
	size_t n = 0;

	while (*f && *f != ' ' && *f != '\n' && n + 1 < outlen) {
		if (f[0] == '\\' && f[1] >= '0' && f[1] <= '3' && f[2] >= '0' && f[2] <= '7' &&
		    f[3] >= '0' && f[3] <= '7') {
			out[n++] = (char)((f[1] - '0') * 64 + (f[2] - '0') * 8 + (f[3] - '0'));
			f += 4;
		} else {
			out[n++] = *f++;
		}
	}
	out[n] = '\0';
}

/* The start of field n (from 0) of line, or NULL. */
static const char *field(const char *line, int n)
{
	while (n-- > 0) {
		line = strchr(line, ' ');
		if (!line)
			return NULL;
		line++;
	}
	return line;
}

/* 1 if the option list at opts (a field) starts with "ro". */
static int ro_first(const char *opts)
{
	return opts && !strncmp(opts, "ro", 2) && (opts[2] == ',' || opts[2] == ' ' || opts[2] == '\n' ||
						   !opts[2]);
}

static int parse_line(const char *line, struct mountinfo *m)
{
	const char *target = field(line, 4), *sep = strstr(line, " - ");

	if (!target || !sep || sscanf(line, "%d", &m->id) != 1)
		return -EINVAL;
	unescape_field(target, m->target, sizeof(m->target));
	unescape_field(sep + 3, m->fstype, sizeof(m->fstype));
	/* The mount's options (field 5) and, after the source, the
	 * filesystem's: either may be the one made read-only. */
	m->rdonly = ro_first(field(line, 5)) || ro_first(field(sep + 3, 2));
	sep = field(sep + 3, 1);
	if (!sep)
		return -EINVAL;
	unescape_field(sep, m->source, sizeof(m->source));
	return 0;
}

/* 1 if mount point target is path or a parent directory of it. */
static int covers(const char *target, const char *path)
{
	size_t n = strlen(target);

	if (!strcmp(target, "/"))
		return 1;
	return !strncmp(path, target, n) && (path[n] == '\0' || path[n] == '/');
}

enum scan_by { BY_TARGET, BY_HOLDING, BY_JCFS_SOURCE, BY_ID };

/* The last mount whose mount point is the path key (BY_TARGET) or the
 * deepest one that covers it (BY_HOLDING), or the last jetcryptfs mount
 * whose source is it (BY_JCFS_SOURCE), or the mount whose id is the int
 * key (BY_ID). */
static int scan(const void *key, enum scan_by by, struct mountinfo *m)
{
	const char *path = key;
	struct mountinfo cur;
	size_t best = 0;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		size_t len;

		if (parse_line(line, &cur) < 0)
			continue;
		len = strlen(cur.target);
		if (by == BY_HOLDING ? covers(cur.target, path) && len >= best :
		    by == BY_TARGET ? !strcmp(cur.target, path) :
		    by == BY_ID ? cur.id == *(const int *)key :
		    mountinfo_is_jcfs(&cur) && !strcmp(cur.source, path)) {
			*m = cur;
			best = len;
			found = 1;
		}
	}
	free(line);
	fclose(f);
	return found;
}

int mountinfo_at(const char *mnt, struct mountinfo *m)
{
	return scan(mnt, BY_TARGET, m);
}

int mountinfo_has_id(int id)
{
	struct mountinfo m;

	return scan(&id, BY_ID, &m);
}

int mountinfo_of_store(const char *backing, struct mountinfo *m)
{
	return scan(backing, BY_JCFS_SOURCE, m);
}

int mountinfo_is_jcfs(const struct mountinfo *m)
{
	return !strcmp(m->fstype, MOUNTINFO_JCFS_TYPE);
}

/* Takes "." and ".." out of the absolute path p, in place. */
static void normalize(char *p)
{
	char *out = p, *in = p;

	while (*in) {
		while (*in == '/')
			in++;
		if (!*in)
			break;
		char *end = strchr(in, '/');
		size_t len = end ? (size_t)(end - in) : strlen(in);

		if (len == 1 && in[0] == '.') {
			/* nothing */
		} else if (len == 2 && in[0] == '.' && in[1] == '.') {
			while (out > p && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, in, len);
			out += len;
		}
		in += len;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

int mountinfo_abspath(const char *path, char *out)
{
	char abs[PATH_MAX], res[PATH_MAX];
	size_t cut;

	if (realpath(path, out))
		return 0;
	if (path[0] == '/') {
		if (strlen(path) >= sizeof(abs))
			return -ENAMETOOLONG;
		strcpy(abs, path);
	} else {
		if (!getcwd(abs, sizeof(abs)))
			return -errno;
		if (strlen(abs) + 1 + strlen(path) >= sizeof(abs))
			return -ENAMETOOLONG;
		strcat(abs, "/");
		strcat(abs, path);
	}
	normalize(abs);
	/* The deepest parent that resolves, then the rest as written. */
	for (cut = strlen(abs);; cut--) {
		if (abs[cut] != '/' && abs[cut] != '\0')
			continue;
		char save = abs[cut];

		abs[cut] = '\0';
		if (realpath(abs[0] ? abs : "/", res)) {
			abs[cut] = save;
			size_t rl = strcmp(res, "/") ? strlen(res) : 0, tl = strlen(abs + cut);

			if (rl + tl >= PATH_MAX)
				return -ENAMETOOLONG;
			memcpy(out, res, rl);
			memcpy(out + rl, abs + cut, tl + 1);
			if (!out[0])
				strcpy(out, "/");
			return 0;
		}
		abs[cut] = save;
		if (cut == 0)
			return -errno;
	}
}

int mountinfo_holding(const char *path, struct mountinfo *m)
{
	char abs[PATH_MAX];
	int rc = mountinfo_abspath(path, abs);

	return rc < 0 ? rc : scan(abs, BY_HOLDING, m);
}
