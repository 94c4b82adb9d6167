/*
 * Extended attributes over the backing files: the mount's getxattr,
 * setxattr, listxattr and removexattr, and what encrypt, rekey and fsck
 * do with attributes. user.* values go through crypto/xattrval.c under a
 * key derived from the file's xattr id (user.jetcryptfs.id), made at the
 * first user.* value a file gets; everything else passes through, but
 * POSIX ACLs (refused, hidden) and the internal names (hidden, refused).
 * Backing attributes are reached by path through /proc/self/fd, which
 * works for the daemon's O_PATH descriptors as for real ones.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>

#include "kdf.h"
#include "log.h"
#include "xattr.h"
#include "xattrval.h"

static struct content_ctx ctx;

void xattr_setup(const struct content_ctx *c)
{
	ctx = *c;
}

/* ---- names and paths ---- */

static int is_posix_acl(const char *name)
{
	return !strcmp(name, "system.posix_acl_access") || !strcmp(name, "system.posix_acl_default");
}

static void fd_path(int fd, char out[32])
{
	snprintf(out, 32, "/proc/self/fd/%d", fd);
}

/* The backing path of fd, for messages. */
static void fd_name(int fd, char *out, size_t len)
{
	char proc[32];
	ssize_t n;

	fd_path(fd, proc);
	n = readlink(proc, out, len - 1);
	if (n < 0)
		n = snprintf(out, len, "fd %d", fd) < 0 ? 0 : (ssize_t)strlen(out);
	out[n] = '\0';
}

/* Every name of path, in a malloc'd *out: its length or -errno. The list
 * may grow between the size query and the read. */
static ssize_t list_names(const char *path, char **out)
{
	char *buf = NULL;
	ssize_t n;

	do {
		free(buf);
		buf = NULL;
		n = listxattr(path, NULL, 0);
		if (n <= 0)
			break;
		buf = malloc((size_t)n);
		if (!buf)
			return -ENOMEM;
		n = listxattr(path, buf, (size_t)n);
	} while (n < 0 && errno == ERANGE);
	if (n < 0 && errno == EOPNOTSUPP)
		n = 0;          /* a filesystem without xattrs has none */
	if (n < 0) {
		n = -errno;
		free(buf);
		return n;
	}
	*out = buf;
	return n;
}

/* 1 if name is in the list names[0..len). */
static int in_list(const char *names, ssize_t len, const char *name)
{
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
		if (!strcmp(names + i, name))
			return 1;
	return 0;
}

/* ---- the xattr id ---- */

struct xid {
	int state;                      /* 0, -ENODATA none, -EBADMSG damaged, -errno unreadable */
	uint8_t id[XVAL_ID_SIZE];
};

static void xid_load(const char *path, struct xid *x)
{
	uint8_t raw[XVAL_ID_ATTR_SIZE + 1];
	ssize_t n = getxattr(path, XVAL_ID_NAME, raw, sizeof(raw));

	if (n < 0)
		x->state = errno == ERANGE ? -EBADMSG : -errno;
	else
		x->state = xval_id_decode(raw, (size_t)n, x->id);
}

static const char *xid_strerror(const struct xid *x)
{
	if (x->state == -ENODATA)
		return "encrypted, but the file has no xattr id (" XVAL_ID_NAME ")";
	if (x->state == -EBADMSG)
		return "the file's xattr id (" XVAL_ID_NAME ") is damaged";
	return "the file's xattr id (" XVAL_ID_NAME ") cannot be read";
}

/* Gives path an xattr id if it has none. Two threads may race to make
 * it: the loser's XATTR_CREATE fails and it takes the winner's. 0, -EIO
 * for a damaged one (why says so), or the backing's -errno. */
static int xid_ensure(const char *path, struct xid *x, char *why, size_t whylen)
{
	uint8_t raw[XVAL_ID_ATTR_SIZE];

	if (x->state == -ENODATA) {
		randombytes_buf(x->id, sizeof(x->id));
		xval_id_encode(x->id, raw);
		if (setxattr(path, XVAL_ID_NAME, raw, sizeof(raw), XATTR_CREATE) == 0) {
			x->state = 0;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
		xid_load(path, x);
	}
	if (x->state == 0)
		return 0;
	snprintf(why, whylen, "%s: remove it on the backing file (setfattr -x %s) to start afresh, losing "
		 "the file's user.* values", xid_strerror(x), XVAL_ID_NAME);
	return x->state == -EBADMSG ? -EIO : x->state;
}

/* ---- values ---- */

struct value {
	int plaintext;                  /* stored as it is */
	int cipher;                     /* of an encrypted one */
	const struct keyring_key *key;  /* ... and its key */
	size_t len;                     /* plaintext length */
};

/* Decodes the stored value in[0..in_len) of attribute name into out
 * (room for in_len bytes). 0 with *v set, or -EIO with why saying what is
 * wrong. Plaintext values are returned as they are: the caller decides
 * whether they may be. */
static int value_open(const struct xid *x, const char *name, const uint8_t *in, size_t in_len,
		      uint8_t *out, struct value *v, char *why, size_t whylen)
{
	uint8_t key[KDF_KEY_SIZE];
	struct xval_header h;
	char hex[2 * FMT_KEY_ID_SIZE + 1];
	int rc = xval_header_decode(&h, in, in_len);

	memset(v, 0, sizeof(*v));
	if (rc == -ENODATA) {
		memcpy(out, in, in_len);
		v->plaintext = 1;
		v->len = in_len;
		return 0;
	}
	if (rc < 0) {
		snprintf(why, whylen, "%s", rc == -EPROTO ? "damaged or unsupported value header"
			 : "truncated value (shorter than its header, nonce and tag)");
		return -EIO;
	}
	v->key = keyring_find(ctx.kr, h.key_id);
	if (!v->key) {
		kdf_key_id_hex(h.key_id, hex);
		snprintf(why, whylen, "encrypted under key id %s, which is not among the configured keys", hex);
		return -EIO;
	}
	if (x->state) {
		snprintf(why, whylen, "%s", xid_strerror(x));
		return -EIO;
	}
	rc = kdf_xattr_key(v->key->master, h.cipher, x->id, key);
	if (rc == 0)
		rc = xval_decrypt(key, x->id, name, in, in_len, out, &v->len);
	sodium_memzero(key, sizeof(key));
	if (rc < 0) {
		snprintf(why, whylen, "%s", rc == -EBADMSG ? "authentication failed" : "cannot be decrypted");
		return -EIO;
	}
	v->cipher = h.cipher;
	return 0;
}

/* Seals plain[0..len) as the value of name under the current key and
 * the cipher for new files; out has room for len + XVAL_MAX_OVERHEAD. */
static int value_seal(const struct xid *x, const char *name, const uint8_t *plain, size_t len,
		      uint8_t *out, size_t *out_len)
{
	const struct keyring_key *k = &ctx.kr->keys[0];
	uint8_t key[KDF_KEY_SIZE];
	int rc;

	rc = kdf_xattr_key(k->master, ctx.cipher, x->id, key);
	if (rc == 0)
		rc = xval_encrypt(ctx.cipher, key, k->id, x->id, name, plain, len, out, out_len);
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* Reads the stored value of name into a malloc'd *out (XVAL_STORED_MAX
 * bytes): its length or -errno. */
static ssize_t read_stored(const char *path, const char *name, uint8_t **out)
{
	uint8_t *buf = malloc(XVAL_STORED_MAX);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = getxattr(path, name, buf, XVAL_STORED_MAX);
	if (n < 0) {
		n = errno == ERANGE ? -E2BIG : -errno;
		free(buf);
		return n;
	}
	*out = buf;
	return n;
}

static void free_plain(uint8_t *p)
{
	if (p) {
		sodium_memzero(p, XVAL_STORED_MAX);
		free(p);
	}
}

/* ---- logging each bad value once ---- */

#define LOGGED_MAX 256

struct logged {
	dev_t dev;
	ino_t ino;
	uint64_t name;                  /* hash of the attribute name */
};

static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static struct logged logged[LOGGED_MAX];
static size_t logged_n, logged_next;

/* One line for a bad value of fd, not one for each time the kernel or
 * an application asks again. */
static void log_bad_once(int fd, const char *name, const char *why)
{
	char path[32], file[PATH_MAX];
	struct stat st;
	uint64_t h = 1469598103934665603ull;
	int first = 1;

	fd_path(fd, path);
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	if (stat(path, &st) == 0) {
		pthread_mutex_lock(&logged_lock);
		for (size_t i = 0; i < logged_n && first; i++)
			if (logged[i].dev == st.st_dev && logged[i].ino == st.st_ino && logged[i].name == h)
				first = 0;
		if (first) {
			logged[logged_next] = (struct logged){ st.st_dev, st.st_ino, h };
			logged_next = (logged_next + 1) % LOGGED_MAX;
			if (logged_n < LOGGED_MAX)
				logged_n++;
		}
		pthread_mutex_unlock(&logged_lock);
	}
	if (!first)
		return;
	fd_name(fd, file, sizeof(file));
	log_err("%s: xattr %s: %s", file, name, why);
}

/* ---- the mount ---- */

int xattr_set(int fd, const char *name, const void *value, size_t size, int flags)
{
	char path[32], why[256];
	uint8_t *out = NULL;
	size_t olen;
	struct xid x;
	int rc;

	if (is_posix_acl(name))
		return -EOPNOTSUPP;
	if (xval_name_reserved(name))
		return -EPERM;
	fd_path(fd, path);
	if (!xval_name_encrypted(name))
		return setxattr(path, name, value, size, flags) < 0 ? -errno : 0;
	if (size > XVAL_PLAIN_MAX)
		return -E2BIG;
	xid_load(path, &x);
	rc = xid_ensure(path, &x, why, sizeof(why));
	if (rc == -EIO)
		log_bad_once(fd, name, why);
	if (rc < 0)
		return rc;
	out = malloc(size + XVAL_MAX_OVERHEAD);
	if (!out)
		return -ENOMEM;
	rc = value_seal(&x, name, value, size, out, &olen);
	if (rc == 0 && setxattr(path, name, out, olen, flags) < 0)
		rc = -errno;
	free(out);
	return rc;
}

ssize_t xattr_get(int fd, const char *name, void *buf, size_t size)
{
	char path[32], why[256];
	uint8_t *stored = NULL, *plain = NULL;
	struct value v;
	struct xid x;
	ssize_t n;

	if (is_posix_acl(name))
		return -EOPNOTSUPP;
	if (xval_name_reserved(name))
		return -ENODATA;
	fd_path(fd, path);
	if (!xval_name_encrypted(name))
		return (n = getxattr(path, name, buf, size)) < 0 ? -errno : n;
	n = read_stored(path, name, &stored);
	if (n < 0)
		return n;
	plain = malloc(XVAL_STORED_MAX);
	if (!plain) {
		n = -ENOMEM;
		goto out;
	}
	xid_load(path, &x);
	if (value_open(&x, name, stored, (size_t)n, plain, &v, why, sizeof(why)) < 0) {
		log_bad_once(fd, name, why);
		n = -EIO;
	} else if (v.plaintext && !ctx.plaintext_allowed) {
		log_bad_once(fd, name, "not encrypted, in a strict store (written before jetcryptfs encrypted "
			     "xattr values, or planted): check it, then run jetcryptfs encrypt to encrypt it");
		n = -EIO;
	} else if (size && v.len > size) {
		n = -ERANGE;
	} else {
		if (size)
			memcpy(buf, plain, v.len);
		n = (ssize_t)v.len;
	}
out:
	free(stored);
	free_plain(plain);
	return n;
}

ssize_t xattr_list(int fd, char **list)
{
	char path[32], *buf = NULL;
	ssize_t n, len = 0;

	fd_path(fd, path);
	n = list_names(path, &buf);
	if (n < 0)
		return n;
	for (ssize_t i = 0, l; i < n; i += l) {
		l = (ssize_t)strnlen(buf + i, (size_t)(n - i)) + 1;
		if (!is_posix_acl(buf + i) && !xval_name_reserved(buf + i)) {
			memmove(buf + len, buf + i, (size_t)l);
			len += l;
		}
	}
	*list = buf;
	return len;
}

int xattr_remove(int fd, const char *name)
{
	char path[32];

	if (is_posix_acl(name))
		return -EOPNOTSUPP;
	if (xval_name_reserved(name))
		return -ENODATA;
	fd_path(fd, path);
	return removexattr(path, name) < 0 ? -errno : 0;
}

/* ---- the tools ---- */

/* Copies the stored value of name from spath to dpath as it is. */
static int copy_stored(const char *spath, const char *dpath, const char *name, char *why, size_t whylen)
{
	uint8_t *v = NULL;
	ssize_t n = read_stored(spath, name, &v);
	int rc = 0;

	if (n == -ENODATA)
		return 0;       /* gone since the list was read */
	if (n < 0) {
		snprintf(why, whylen, "xattr %s: cannot be read: %s", name, strerror((int)-n));
		return (int)n;
	}
	if (setxattr(dpath, name, v, (size_t)n, 0) < 0) {
		rc = -errno;
		snprintf(why, whylen, "xattr %s: cannot be copied: %s", name, strerror(errno));
	}
	free(v);
	return rc;
}

/* Removes the attributes of dpath that are not in names[0..len): a
 * directory's default ACL or a leftover of an earlier try, given to a
 * fresh file. security.* stays: the LSM labels a new file itself; and
 * so does the xattr id, which the copy made itself if it is there. */
static int remove_extra(const char *dpath, const char *names, ssize_t len, char *why, size_t whylen)
{
	char *have = NULL;
	ssize_t n = list_names(dpath, &have);
	int rc = 0;

	if (n < 0) {
		snprintf(why, whylen, "cannot list the xattrs of the copy: %s", strerror((int)-n));
		return (int)n;
	}
	for (ssize_t i = 0; i < n && rc == 0; i += (ssize_t)strlen(have + i) + 1) {
		if (in_list(names, len, have + i) || !strncmp(have + i, "security.", 9) ||
		    !strcmp(have + i, XVAL_ID_NAME))
			continue;
		if (removexattr(dpath, have + i) < 0 && errno != ENODATA) {
			rc = -errno;
			snprintf(why, whylen, "xattr %s: cannot be removed from the copy: %s", have + i,
				 strerror(errno));
		}
	}
	free(have);
	return rc;
}

int xattr_copy_raw(int src, int dst, char *why, size_t whylen)
{
	char spath[32], dpath[32], *names = NULL;
	ssize_t n;
	int rc = 0;

	fd_path(src, spath);
	fd_path(dst, dpath);
	n = list_names(spath, &names);
	if (n < 0) {
		snprintf(why, whylen, "cannot list xattrs: %s", strerror((int)-n));
		return (int)n;
	}
	for (ssize_t i = 0; i < n && rc == 0; i += (ssize_t)strlen(names + i) + 1)
		rc = copy_stored(spath, dpath, names + i, why, whylen);
	if (rc == 0)
		rc = remove_extra(dpath, names, n, why, whylen);
	free(names);
	return rc;
}

/* Whether conv wants the value v sealed again. */
static int wants_seal(unsigned conv, const struct value *v)
{
	if (v->plaintext)
		return (conv & XATTR_ENCRYPT_PLAIN) != 0;
	return (conv & XATTR_REKEY) && (v->key != &ctx.kr->keys[0] || v->cipher != ctx.cipher);
}

/* Reads the user.* value name of spath (xattr id sx) and writes it to
 * dpath (xattr id *dx, made there if it needs one) with flags: sealed
 * again if conv wants it, else as it was stored. */
static int move_value(const char *spath, const struct xid *sx, const char *dpath, struct xid *dx,
		      const char *name, unsigned conv, int flags, unsigned long *changed, char *why, size_t whylen)
{
	uint8_t *stored = NULL, *plain = NULL, *out = NULL, *data;
	char what[256];
	struct value v;
	size_t len;
	ssize_t n = read_stored(spath, name, &stored);
	int rc, sealed = 0;

	if (n == -ENODATA)
		return 0;       /* gone since the list was read */
	if (n < 0) {
		snprintf(why, whylen, "xattr %s: cannot be read: %s", name, strerror((int)-n));
		return (int)n;
	}
	data = stored;
	len = (size_t)n;
	plain = malloc(XVAL_STORED_MAX);
	out = malloc(XVAL_STORED_MAX);
	if (!plain || !out) {
		rc = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	rc = value_open(sx, name, stored, (size_t)n, plain, &v, what, sizeof(what));
	if (rc < 0) {
		snprintf(why, whylen, "xattr %s: %s; remove the value (setfattr -x through the mount) or put back "
			 "a good copy, and run again", name, what);
		goto out;
	}
	if (wants_seal(conv, &v)) {
		rc = xid_ensure(dpath, dx, what, sizeof(what));
		if (rc < 0) {
			if (rc != -EIO)
				snprintf(what, sizeof(what), "cannot write the xattr id: %s", strerror(-rc));
			snprintf(why, whylen, "xattr %s: %s", name, what);
			goto out;
		}
		if (v.len > XVAL_PLAIN_MAX) {
			rc = -E2BIG;
			snprintf(why, whylen, "xattr %s: %zu bytes, more than the %d an encrypted value may hold: "
				 "shorten or remove it, and run again", name, v.len, XVAL_PLAIN_MAX);
			goto out;
		}
		rc = value_seal(dx, name, plain, v.len, out, &len);
		if (rc < 0) {
			snprintf(why, whylen, "xattr %s: cannot be encrypted: %s", name, strerror(-rc));
			goto out;
		}
		data = out;
		sealed = 1;
	}
	if (setxattr(dpath, name, data, len, flags) < 0) {
		rc = -errno;
		snprintf(why, whylen, "xattr %s: cannot be written: %s", name, strerror(errno));
		goto out;
	}
	*changed += (unsigned long)sealed;
out:
	free(stored);
	free_plain(plain);
	free_plain(out);
	return rc;
}

int xattr_copy(int src, int dst, unsigned conv, unsigned long *changed, char *why, size_t whylen)
{
	char spath[32], dpath[32], *names = NULL;
	uint8_t raw[XVAL_ID_ATTR_SIZE];
	struct xid sx, dx = { .state = -ENODATA };
	ssize_t n;
	int rc = 0;

	fd_path(src, spath);
	fd_path(dst, dpath);
	n = list_names(spath, &names);
	if (n < 0) {
		snprintf(why, whylen, "cannot list xattrs: %s", strerror((int)-n));
		return (int)n;
	}
	/* The id first, so that the values stored as they are stay valid;
	 * a damaged one is left behind (no value can be read under it). */
	xid_load(spath, &sx);
	if (sx.state == 0) {
		xval_id_encode(sx.id, raw);
		if (setxattr(dpath, XVAL_ID_NAME, raw, sizeof(raw), 0) < 0) {
			rc = -errno;
			snprintf(why, whylen, "xattr %s: cannot be copied: %s", XVAL_ID_NAME, strerror(errno));
		}
		dx = sx;
	}
	for (ssize_t i = 0; i < n && rc == 0; i += (ssize_t)strlen(names + i) + 1) {
		const char *name = names + i;

		if (!strcmp(name, XVAL_ID_NAME))
			continue;
		if (xval_name_encrypted(name))
			rc = move_value(spath, &sx, dpath, &dx, name, conv, 0, changed, why, whylen);
		else
			rc = copy_stored(spath, dpath, name, why, whylen);
	}
	if (rc == 0)
		rc = remove_extra(dpath, names, n, why, whylen);
	free(names);
	return rc;
}

int xattr_convert(int fd, unsigned conv, unsigned long *changed, char *why, size_t whylen)
{
	char path[32], *names = NULL;
	struct xid x;
	ssize_t n;
	int rc = 0;

	fd_path(fd, path);
	n = list_names(path, &names);
	if (n < 0) {
		snprintf(why, whylen, "cannot list xattrs: %s", strerror((int)-n));
		return (int)n;
	}
	xid_load(path, &x);
	for (ssize_t i = 0; i < n && rc == 0; i += (ssize_t)strlen(names + i) + 1)
		if (xval_name_encrypted(names + i))
			rc = move_value(path, &x, path, &x, names + i, conv, XATTR_REPLACE, changed, why, whylen);
	free(names);
	return rc;
}

/* Authenticates the value name of path (xattr id x) for xattr_verify. */
static void verify_value(const char *path, const struct xid *x, const char *name, int strict,
			 struct xattr_counts *c, void (*bad)(void *, const char *, const char *), void *arg)
{
	uint8_t *stored = NULL, *plain = NULL;
	char why[256];
	struct value v;
	ssize_t n = read_stored(path, name, &stored);

	if (n < 0) {
		if (n != -ENODATA) {
			snprintf(why, sizeof(why), "cannot be read: %s", strerror((int)-n));
			bad(arg, name, why);
		}
		return;
	}
	plain = malloc(XVAL_STORED_MAX);
	if (!plain) {
		bad(arg, name, "out of memory");
	} else if (value_open(x, name, stored, (size_t)n, plain, &v, why, sizeof(why)) < 0) {
		bad(arg, name, why);
	} else if (v.plaintext) {
		c->plaintext++;
		if (strict)
			bad(arg, name, "not encrypted, in a strict store (written before jetcryptfs encrypted xattr "
			    "values, or planted): check it, then jetcryptfs encrypt encrypts it");
	} else {
		c->values++;
		c->prev_key += v.key != &ctx.kr->keys[0];
		c->other_cipher += v.cipher != ctx.cipher;
	}
	free(stored);
	free_plain(plain);
}

int xattr_verify(int fd, int strict, struct xattr_counts *c,
		 void (*bad)(void *arg, const char *name, const char *why), void *arg)
{
	char path[32], *names = NULL;
	struct xid x;
	ssize_t n;

	fd_path(fd, path);
	n = list_names(path, &names);
	if (n < 0)
		return (int)n;
	xid_load(path, &x);
	if (x.state == -EBADMSG)
		bad(arg, XVAL_ID_NAME, "damaged (not an xattr id): the file's encrypted user.* values cannot be read");
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
		if (xval_name_encrypted(names + i))
			verify_value(path, &x, names + i, strict, c, bad, arg);
	free(names);
	return 0;
}
