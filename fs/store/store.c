/*
 * Mount-time reconciliation of the backing directory with the keyring.
 * The descriptor is the store's memory of its key; when it is lost, the
 * key ids in the file headers stand in for it, so losing it loses no data
 * and cannot be used to slip plaintext files into a strict store (that
 * needs an explicit adopt). After a rotation it also remembers the old
 * key ids that files are still under until rekey has converted them, so
 * that a mount with the new key alone is refused instead of serving a
 * store whose old files read as EIO.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>

#include "content.h"
#include "desc.h"
#include "log.h"
#include "mountinfo.h"
#include "node.h"
#include "store.h"
#include "xattrval.h"

#define DESC_TMP DESC_NAME ".tmp"
#define SALT_TMP DESC_SALT_NAME ".tmp"

_Static_assert(DESC_RETIRED_MAX == KEYRING_MAX - 1, "a descriptor names at most the keys a ring holds beside the current one");

int store_name_reserved(const char *name)
{
	return strncmp(name, DESC_NAME, sizeof(DESC_NAME) - 1) == 0;
}

int store_name_is_tmp(const char *name)
{
	const char *hex = name + sizeof(STORE_TMP_PREFIX) - 1;

	if (strncmp(name, STORE_TMP_PREFIX, sizeof(STORE_TMP_PREFIX) - 1) != 0 ||
	    strlen(name) != STORE_TMP_NAME_LEN)
		return 0;
	for (; *hex; hex++)
		if (!((*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f')))
			return 0;
	return 1;
}

void store_tmp_name(char out[STORE_TMP_NAME_LEN + 1])
{
	uint8_t r[8];

	randombytes_buf(r, sizeof(r));
	memcpy(out, STORE_TMP_PREFIX, sizeof(STORE_TMP_PREFIX) - 1);
	sodium_bin2hex(out + sizeof(STORE_TMP_PREFIX) - 1, 2 * sizeof(r) + 1, r, sizeof(r));
}

int store_name_hidden(const char *name, int at_root)
{
	return (at_root && store_name_reserved(name)) || store_name_is_tmp(name);
}

/* What a walk of the backing tree found. */
struct survey {
	unsigned long entries;          /* anything but the descriptor */
	unsigned long plaintext;        /* non-empty files without a header */
	unsigned long ours;             /* encrypted under a key on the ring */
	unsigned long foreign;          /* encrypted under another key */
	uint8_t foreign_id[FMT_KEY_ID_SIZE];
	char foreign_file[PATH_MAX];    /* the first of those, relative */
	char plaintext_file[PATH_MAX];  /* the first plaintext file, relative */
	char failed[PATH_MAX];          /* what could not be read, relative */
	char path[PATH_MAX];            /* the directory being surveyed, relative */
	/* key_id: the current key; retired: other key ids of the ring that
	 * files are under (never more than DESC_RETIRED_MAX). */
	struct desc ids;
	/* Every key id a header, a symlink target or an xattr value carries
	 * (the first STORE_IDS_MAX), and where the first was: what a store
	 * without a descriptor names. */
	unsigned nheader_ids;
	uint8_t header_ids[STORE_IDS_MAX][FMT_KEY_ID_SIZE];
	char header_id_file[PATH_MAX];
};

static void survey_note_id(struct survey *sv, const uint8_t id[FMT_KEY_ID_SIZE])
{
	for (unsigned i = 0; i < sv->nheader_ids; i++)
		if (!memcmp(sv->header_ids[i], id, FMT_KEY_ID_SIZE))
			return;
	if (sv->nheader_ids == STORE_IDS_MAX)
		return;
	if (!sv->nheader_ids)
		memcpy(sv->header_id_file, sv->path, sizeof(sv->path));
	memcpy(sv->header_ids[sv->nheader_ids++], id, FMT_KEY_ID_SIZE);
}

/* Names at the backing root that are not the store's contents: the
 * descriptor and its kin, and the filesystem's own lost+found (a store
 * may be the root of a filesystem of its own). */
static int root_name_not_content(const char *name)
{
	return store_name_reserved(name) || !strcmp(name, "lost+found");
}

/* A key id found on the entry sv->path: ours (a retired id, if not the
 * current key) or foreign. */
static void survey_key_id(struct survey *sv, const struct keyring *kr, const uint8_t id[FMT_KEY_ID_SIZE])
{
	survey_note_id(sv, id);
	if (keyring_find(kr, id)) {
		sv->ours++;
		(void)desc_retired_add(&sv->ids, id);
		return;
	}
	if (!sv->foreign) {
		memcpy(sv->foreign_id, id, FMT_KEY_ID_SIZE);
		memcpy(sv->foreign_file, sv->path, sizeof(sv->path));
	}
	sv->foreign++;
}

/* The key ids of the encrypted user.* values of the file or directory
 * open as fd: values keep the key they were written under until rekey,
 * so they decide as much as headers which keys a store still needs. */
static int survey_xattrs(int fd, const struct keyring *kr, struct survey *sv)
{
	char names[4096], val[64];
	struct xval_header h;
	ssize_t n = flistxattr(fd, names, sizeof(names)), v;

	if (n < 0)
		return errno == EOPNOTSUPP || errno == ERANGE ? 0 : -errno;   /* ERANGE: fsck names such */
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		if (!xval_name_encrypted(name))
			continue;
		v = fgetxattr(fd, name, val, sizeof(val));
		if (v < 0 && errno != ERANGE)
			continue;
		if (v < 0)
			v = sizeof(val);        /* the header is at the start */
		if (xval_header_decode(&h, (const uint8_t *)val, (size_t)v) == 0)
			survey_key_id(sv, kr, h.key_id);
	}
	return 0;
}

/* A regular file: its header (plaintext, ours, foreign) and its values. */
static int survey_file(int dirfd, const char *name, off_t size, const struct keyring *kr, struct survey *sv)
{
	struct fmt_header h;
	int rc = 0;
	/* Reading a header is no access: adopted files keep their atime
	 * (encrypt carries it over). */
	int f = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);

	if (f < 0 && errno == EPERM)
		f = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0)
		return -errno;
	if (size > 0)
		rc = content_peek_header(f, &h, NULL);
	if (size > 0 && rc == -ENODATA) {
		if (!sv->plaintext++)
			memcpy(sv->plaintext_file, sv->path, sizeof(sv->path));
	} else if (size > 0 && rc == 0) {
		survey_key_id(sv, kr, h.key_id);
	}
	/* A damaged header is no evidence of a key, nor a read error. */
	if (rc == -ENODATA || rc == -EBADMSG || rc == -EPROTO)
		rc = 0;
	if (rc == 0)
		rc = survey_xattrs(f, kr, sv);
	close(f);
	return rc;
}

/* A symlink: an encrypted target names its key id as a header does (a
 * plaintext one is fsck's to report, no evidence of a key). */
static int survey_link(int dirfd, const char *name, const struct keyring *kr, struct survey *sv)
{
	char stored[NODE_LINK_STORED_MAX + 1];
	struct fmt_header h;
	ssize_t n = readlinkat(dirfd, name, stored, sizeof(stored));

	if (n < 0)
		return -errno;
	if (node_link_peek(stored, (size_t)n, &h) == 0)
		survey_key_id(sv, kr, h.key_id);
	return 0;
}

static int survey_dir(int dirfd, const struct keyring *kr, struct survey *sv, int depth)
{
	DIR *dp;
	struct dirent *de;
	int fd, rc = 0;

	if (depth > 64)
		return -ELOOP;
	rc = survey_xattrs(dirfd, kr, sv);
	fd = rc < 0 ? -1 : dup(dirfd);
	if (fd < 0)
		return rc < 0 ? rc : -errno;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -errno;
	}
	/* The dup shares dirfd's offset, which an earlier walk may have left
	 * at the end. */
	rewinddir(dp);
	while (rc == 0 && (de = readdir(dp))) {
		size_t plen = strlen(sv->path);
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (depth == 0 && root_name_not_content(de->d_name))
			continue;
		sv->entries++;
		/* sv->path names this entry until the end of the iteration */
		if ((size_t)snprintf(sv->path + plen, sizeof(sv->path) - plen, "%s%s", plen ? "/" : "",
				     de->d_name) >= sizeof(sv->path) - plen) {
			rc = -ENAMETOOLONG;
		} else if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				rc = -errno;
			} else {
				rc = survey_dir(sub, kr, sv, depth + 1);
				close(sub);
			}
		} else if (S_ISREG(st.st_mode)) {
			rc = survey_file(dirfd, de->d_name, st.st_size, kr, sv);
		} else if (S_ISLNK(st.st_mode)) {
			rc = survey_link(dirfd, de->d_name, kr, sv);
		}
		if (rc < 0 && !sv->failed[0])
			memcpy(sv->failed, sv->path, sizeof(sv->path));
		sv->path[plen] = '\0';
	}
	closedir(dp);
	return rc;
}

/* Puts buf in place as name at dirfd: written to tmp, fsync'd, renamed
 * over name, and the directory fsync'd, so that name is always whole. */
static int write_atomic(int dirfd, const char *tmp, const char *name, const char *buf, size_t len)
{
	int fd, rc;

	(void)unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0) {
		rc = errno ? -errno : -EIO;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		rc = -errno;
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

/* Reads the salt file at dirfd: 0 with *p, -ENOENT, -EINVAL if it is no
 * regular file or does not parse, -errno. */
static int read_salt_file(int dirfd, struct kdf_params *p)
{
	char buf[DESC_MAX_SIZE];
	struct stat st;
	ssize_t n;
	int fd = openat(dirfd, DESC_SALT_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if ((n = read(fd, buf, sizeof(buf))) < 0)
		rc = -errno;
	else
		rc = desc_salt_parse(buf, (size_t)n, p);
	close(fd);
	return rc;
}

/* Writes the salt file for kr's salt. */
static int store_write_salt(int dirfd, const struct keyring *kr)
{
	char buf[DESC_MAX_SIZE];
	size_t len;
	int rc = desc_salt_encode(&kr->kdf, buf, sizeof(buf), &len);

	return rc < 0 ? rc : write_atomic(dirfd, SALT_TMP, DESC_SALT_NAME, buf, len);
}

/* The salt file of a store with a salt must say what the descriptor
 * says: it alone carries the salt when the descriptor is lost. Re-created
 * (with a warning) when missing or different; a failure is only warned
 * of, since the descriptor still holds the salt. */
static void store_keep_salt(const struct store *st, const struct keyring *kr, const char *backing)
{
	struct kdf_params p;
	int rc;

	/* A salt made for this ring is on disk only if the descriptor was
	 * written with it (store_write_desc wrote the salt file then). */
	if (!kr->has_kdf || kr->kdf_new)
		return;
	rc = read_salt_file(st->dir_fd, &p);
	if (rc == 0 && !memcmp(&p, &kr->kdf, sizeof(p)))
		return;
	log_warn("%s/%s: %s; re-creating it from the store descriptor", backing, DESC_SALT_NAME,
		 rc == -ENOENT ? "missing" : rc == 0 ? "differs from the store descriptor's salt" :
		 "unreadable or malformed");
	rc = store_write_salt(st->dir_fd, kr);
	if (rc < 0)
		log_warn("%s/%s: cannot write the salt file: %s (the store descriptor still holds the salt)",
			 backing, DESC_SALT_NAME, strerror(-rc));
}

/* Writes the descriptor for the current key with st's retired ids, and
 * the salt of the store's passphrases, if it has one: first its salt
 * file, so that neither is ever the only copy of a salt in use. */
static int store_write_desc(const struct store *st, const struct keyring *kr, int plaintext_allowed)
{
	struct desc d = { .plaintext_allowed = plaintext_allowed, .nretired = st->nretired,
			  .has_kdf = kr->has_kdf, .kdf = kr->kdf };
	char buf[DESC_MAX_SIZE];
	size_t len;
	int rc;

	memcpy(d.key_id, kr->keys[0].id, FMT_KEY_ID_SIZE);
	memcpy(d.retired, st->retired, sizeof(d.retired));
	rc = desc_encode(&d, kr->keys[0].master, buf, sizeof(buf), &len);
	if (rc == 0 && kr->has_kdf)
		rc = store_write_salt(st->dir_fd, kr);
	if (rc < 0)
		return rc;
	return write_atomic(st->dir_fd, DESC_TMP, DESC_NAME, buf, len);
}

int store_read_desc(int dirfd, char *buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	/* O_NONBLOCK: a FIFO must not hang us; ELOOP: O_NOFOLLOW met a
	 * symlink, which is no descriptor either. */
	int fd = openat(dirfd, DESC_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = read(fd, buf, DESC_MAX_SIZE);
	close(fd);
	if (n < 0)
		return -errno;
	*len = (size_t)n;
	return 0;
}

/* store_read_desc's failure rc as the code to return, and in what the
 * words for it; -ENOENT stays as it is, no words. */
static int desc_read_failed(int rc, char *what, size_t whatlen)
{
	if (rc == -ENOENT)
		return rc;
	if (rc == -EINVAL) {
		snprintf(what, whatlen, "store descriptor is not a regular file");
		return JCFS_E_BAD_DESC;
	}
	snprintf(what, whatlen, "cannot read store descriptor: %s", strerror(-rc));
	return rc;
}

int store_load_desc(int dirfd, const struct keyring *kr, struct desc *d, const struct keyring_key **key,
		    char *what, size_t whatlen)
{
	char buf[DESC_MAX_SIZE];
	size_t len;
	int rc = store_read_desc(dirfd, buf, &len);

	*key = NULL;
	what[0] = '\0';
	if (rc < 0)
		return desc_read_failed(rc, what, whatlen);
	if (desc_parse(buf, len, d) < 0) {
		snprintf(what, whatlen, "malformed store descriptor");
		return JCFS_E_BAD_DESC;
	}
	*key = keyring_find(kr, d->key_id);
	if (!*key)
		return JCFS_E_WRONG_KEY;
	if (desc_verify(buf, len, (*key)->master) < 0) {
		snprintf(what, whatlen, "store descriptor fails authentication (modified without the key)");
		return JCFS_E_BAD_DESC;
	}
	return 0;
}

int store_plaintext_allowed(int dirfd, const struct keyring *kr)
{
	const struct keyring_key *k;
	struct desc d;
	char what[128];
	int rc = store_load_desc(dirfd, kr, &d, &k, what, sizeof(what));

	return rc < 0 ? rc : d.plaintext_allowed;
}

int store_key_mismatch(int dirfd, const char *backing, const struct keyring *kr, const struct desc *d,
		       char *err, size_t errlen)
{
	char want[2 * FMT_KEY_ID_SIZE + 1], have[2 * FMT_KEY_ID_SIZE + 1];
	struct survey sv = { 0 };
	int retired_given = 0;

	kdf_key_id_hex(d->key_id, want);
	kdf_key_id_hex(kr->keys[0].id, have);
	for (unsigned i = 0; i < d->nretired; i++)
		retired_given |= keyring_find(kr, d->retired[i]) != NULL;
	/* Files all under the given keys, none of them retired by this
	 * descriptor: it is the descriptor that is wrong, not the key. (A
	 * key that was rotated out is listed as retired, and then it is the
	 * key: the store has moved on to the one the descriptor names.) */
	memcpy(sv.ids.key_id, kr->keys[0].id, FMT_KEY_ID_SIZE);
	if (!retired_given && survey_dir(dirfd, kr, &sv, 0) == 0 && sv.ours > 0 && !sv.foreign) {
		snprintf(err, errlen, "%s/%s: store descriptor names key id %s, but every encrypted file (%lu) "
			 "is under the given key (id %s): the descriptor is damaged or was replaced", backing,
			 DESC_NAME, want, sv.ours, have);
		return JCFS_E_BAD_DESC;
	}
	snprintf(err, errlen, "%s: key does not match this store (store key id %s, given key id %s)", backing,
		 want, have);
	return JCFS_E_WRONG_KEY;
}

int store_check_retired(const char *backing, const struct keyring *kr, const struct desc *d,
			char *err, size_t errlen)
{
	char hex[2 * FMT_KEY_ID_SIZE + 1];

	for (unsigned i = 0; i < d->nretired; i++) {
		if (keyring_find(kr, d->retired[i]))
			continue;
		kdf_key_id_hex(d->retired[i], hex);
		snprintf(err, errlen, STORE_RETIRED_FMT, backing, hex);
		return JCFS_E_WRONG_KEY;
	}
	return 0;
}

static void store_take_retired(struct store *st, const struct desc *d)
{
	st->nretired = d->nretired;
	memcpy(st->retired, d->retired, sizeof(st->retired));
}

/* The pid that holds a flock on the directory open as fd, from
 * /proc/locks ("1: FLOCK ADVISORY WRITE PID MAJ:MIN:INO 0 EOF"), with its
 * command name in comm; 0 if it cannot be told. */
static pid_t lock_holder(int fd, char *comm, size_t commlen)
{
	unsigned maj, min;
	unsigned long ino;
	struct stat st;
	char line[256], type[16], path[64];
	pid_t pid = 0;
	int p;
	FILE *f;

	comm[0] = '\0';
	if (fstat(fd, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return 0;
	while (!pid && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %15s %*s %*s %d %x:%x:%lu", type, &p, &maj, &min, &ino) == 5 &&
		    !strcmp(type, "FLOCK") && maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino)
			pid = p;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (pid && (f = fopen(path, "re"))) {
		if (fgets(comm, (int)commlen, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	return pid;
}

/* Takes the store lock. A lock held while the store is mounted is
 * refused at once; one held with no mount of the store is a daemon still
 * finishing after its unmount (it flushes and wipes for a few tens of
 * milliseconds after umount returns) or a tool at work, and is waited for
 * up to STORE_LOCK_WAIT_MS, so that `umount && mount` always works. */
static int store_lock(const char *backing, struct store *st, char *err, size_t errlen)
{
	struct mountinfo m;
	char comm[64];
	pid_t pid;
	int rc, waited;

	st->dir_fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dir_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open backing directory: %s", backing, strerror(-rc));
		return rc;
	}
	for (waited = 0;; waited += 20) {
		if (flock(st->dir_fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		rc = errno == EWOULDBLOCK ? JCFS_E_BUSY : -errno;
		if (rc != JCFS_E_BUSY || mountinfo_of_store(backing, &m) > 0 || waited >= STORE_LOCK_WAIT_MS)
			break;
		if (waited == 1000 && (pid = lock_holder(st->dir_fd, comm, sizeof(comm))))
			log_info("%s: waiting for process %d (%s) to release the store", backing, (int)pid, comm);
		usleep(20 * 1000);
	}
	if (rc != JCFS_E_BUSY)
		snprintf(err, errlen, "%s: cannot lock the store: %s", backing, strerror(-rc));
	else if (mountinfo_of_store(backing, &m) > 0)
		snprintf(err, errlen, "%s: already mounted on %s", backing, m.target);
	else if ((pid = lock_holder(st->dir_fd, comm, sizeof(comm))))
		snprintf(err, errlen, "%s: in use by process %d (%s), still after %d s: wait for it to finish or "
			 "stop it", backing, (int)pid, comm, STORE_LOCK_WAIT_MS / 1000);
	else
		snprintf(err, errlen, "%s: in use by another jetcryptfs process", backing);
	close(st->dir_fd);
	st->dir_fd = -1;
	return rc;
}

/* A backing directory with no descriptor and plaintext files: refused
 * unless STORE_ADOPT, always under STORE_STRICT. One place for the lines,
 * since the TPM key creation asks the same before it seals a key. */
static int plaintext_refusal(const char *backing, const struct survey *sv, unsigned flags, char *err,
			     size_t errlen)
{
	if (!sv->plaintext)
		return 0;
	if (flags & STORE_STRICT) {
		snprintf(err, errlen, "%s: no store descriptor and %lu plaintext files (the first: %s), but "
			 "strict was asked: a store still to be adopted needs a run without strict (mount --adopt, "
			 "or encrypt); if it was strict, they were put there", backing, sv->plaintext,
			 sv->plaintext_file);
		return JCFS_E_NOT_STRICT;
	}
	if (!(flags & STORE_ADOPT)) {
		snprintf(err, errlen, "%s: not empty and not a jetcryptfs store (%lu plaintext files); "
			 "mount with --adopt (or adopt: true) to encrypt new data beside them", backing, sv->plaintext);
		return JCFS_E_NEED_ADOPT;
	}
	return 0;
}

int store_open(const char *backing, const struct keyring *kr, unsigned flags, struct store *st,
	       char *err, size_t errlen)
{
	int adopt = !!(flags & STORE_ADOPT), strict = !!(flags & STORE_STRICT);
	int plaintext_ok = !!(flags & (STORE_ADOPT | STORE_PLAINTEXT_OK));
	char what[128], want[2 * FMT_KEY_ID_SIZE + 1], have[2 * FMT_KEY_ID_SIZE + 1];
	struct survey sv = { 0 };
	const struct keyring_key *k;
	struct desc d;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = store_lock(backing, st, err, errlen);
	if (rc < 0)
		return rc;
	kdf_key_id_hex(kr->keys[0].id, have);

	rc = store_load_desc(st->dir_fd, kr, &d, &k, what, sizeof(what));
	if (rc == JCFS_E_WRONG_KEY) {
		rc = store_key_mismatch(st->dir_fd, backing, kr, &d, err, errlen);
		goto fail;
	}
	if (rc == 0) {
		kdf_key_id_hex(d.key_id, want);
		/* Trusted only now that the MAC verifies. */
		rc = store_check_retired(backing, kr, &d, err, errlen);
		if (rc < 0)
			goto fail;
		if (d.plaintext_allowed && (strict || !plaintext_ok)) {
			/* An adopted store's descriptor, or a replayed one: its
			 * MAC proves the key, not that it is the latest. So
			 * plaintext is served only when the operator says so,
			 * every time: a replayed descriptor is refused, never
			 * obeyed in silence. */
			snprintf(err, errlen, "%s/%s: the store allows plaintext files (it is being adopted), and %s: "
				 "mount with --adopt to serve them, or run jetcryptfs encrypt to finish the adoption; if "
				 "encrypt had made it strict, this is an old copy of its descriptor put back -- do not "
				 "adopt, run jetcryptfs fsck", backing, DESC_NAME,
				 strict ? "strict was asked" : "--adopt was not given");
			rc = JCFS_E_NOT_STRICT;
			goto fail;
		}
		store_take_retired(st, &d);
		st->plaintext_allowed = d.plaintext_allowed;
		if (adopt && !d.plaintext_allowed)
			log_warn("%s: store is strict (no plaintext files); adopt ignored", backing);
		if (k != &kr->keys[0]) {
			/* Rotation: the store now belongs to the new key; files
			 * under the old one stay readable through prev_key, and
			 * the old key id is recorded as retired until rekey has
			 * converted them. All retired ids are on the ring, which
			 * holds at most DESC_RETIRED_MAX besides the current key. */
			uint8_t old_id[FMT_KEY_ID_SIZE];

			memcpy(old_id, d.key_id, FMT_KEY_ID_SIZE);
			memcpy(d.key_id, kr->keys[0].id, FMT_KEY_ID_SIZE);
			desc_retired_remove(&d, d.key_id);
			rc = desc_retired_add(&d, old_id);
			store_take_retired(st, &d);
			if (rc == 0)
				rc = store_write_desc(st, kr, st->plaintext_allowed);
			if (rc < 0) {
				snprintf(err, errlen, "%s/%s: cannot update store descriptor: %s", backing,
					 DESC_NAME, strerror(-rc));
				goto fail;
			}
			log_info("%s: store key changed from %s to %s (old key kept for reading)", backing,
				 want, have);
		}
		store_keep_salt(st, kr, backing);
		return 0;
	}
	if (rc != -ENOENT) {
		snprintf(err, errlen, "%s/%s: %s", backing, DESC_NAME, what);
		goto fail;
	}

	memcpy(sv.ids.key_id, kr->keys[0].id, FMT_KEY_ID_SIZE);
	rc = survey_dir(st->dir_fd, kr, &sv, 0);
	if (rc < 0) {
		snprintf(err, errlen, "%s%s%s: cannot survey the backing directory: %s", backing,
			 sv.failed[0] ? "/" : "", sv.failed, strerror(-rc));
		goto fail;
	}
	if (sv.foreign && !sv.ours) {
		kdf_key_id_hex(sv.foreign_id, want);
		snprintf(err, errlen, "%s: key does not match this store (store key id %s, from the header of %s; "
			 "given key id %s)", backing, want, sv.foreign_file, have);
		rc = JCFS_E_WRONG_KEY;
		goto fail;
	}
	if (sv.foreign) {
		/* The headers stand in for the lost descriptor: a key id they
		 * carry that is not given is a retired key not yet rekeyed --
		 * or a damaged header, which fsck would name. */
		kdf_key_id_hex(sv.foreign_id, want);
		snprintf(err, errlen, "%s: %s%s is under key id %s, not a given key (%lu such files): add that key "
			 "as prev_key, or run jetcryptfs rekey with it; if no key was rotated, its header is "
			 "damaged", backing, sv.foreign_file[0] ? "" : "a file", sv.foreign_file, want, sv.foreign);
		rc = JCFS_E_WRONG_KEY;
		goto fail;
	}
	rc = plaintext_refusal(backing, &sv, flags, err, errlen);
	if (rc < 0)
		goto fail;
	st->plaintext_allowed = sv.plaintext > 0;
	st->plaintext_files = sv.plaintext;
	store_take_retired(st, &sv.ids);
	rc = store_write_desc(st, kr, st->plaintext_allowed);
	if (rc < 0) {
		snprintf(err, errlen, "%s/%s: cannot write store descriptor: %s", backing, DESC_NAME, strerror(-rc));
		goto fail;
	}
	st->created = !sv.plaintext && !sv.ours;
	if (sv.plaintext)
		log_info("%s: adopted %lu plaintext files; new files are encrypted", backing, sv.plaintext);
	else if (sv.ours)
		log_warn("%s: store descriptor was missing; re-created from the key ids of %lu encrypted files, symlinks and xattr values%s", backing, sv.ours,
			 st->nretired ? " (some under a previous key, recorded as retired)" : "");
	return 0;

fail:
	store_close(st);
	return rc;
}

int store_is_fresh_for(const char *backing, const struct keyring *kr, unsigned flags, char *err,
		       size_t errlen)
{
	struct survey sv = { 0 };
	char buf[DESC_MAX_SIZE];
	size_t len;
	int fd, rc;

	fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open backing directory: %s", backing, strerror(-rc));
		return rc;
	}
	rc = store_read_desc(fd, buf, &len);
	if (rc == 0) {
		struct desc d;
		char hex[2 * FMT_KEY_ID_SIZE + 1] = "unknown";

		close(fd);
		if (desc_parse(buf, len, &d) == 0)
			kdf_key_id_hex(d.key_id, hex);
		snprintf(err, errlen, "the store was encrypted with key id %s", hex);
		return 0;       /* a store exists: its key is needed */
	}
	if (rc != -ENOENT) {
		/* Unreadable is not absent: the mount will refuse it. */
		char what[128];

		close(fd);
		rc = desc_read_failed(rc, what, sizeof(what));
		snprintf(err, errlen, "%s/%s: %s", backing, DESC_NAME, what);
		return rc;
	}
	rc = survey_dir(fd, kr, &sv, 0);
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot survey backing directory: %s", backing, strerror(-rc));
		return rc;
	}
	if (sv.foreign || sv.ours) {
		char hex[2 * FMT_KEY_ID_SIZE + 1];

		kdf_key_id_hex(sv.foreign ? sv.foreign_id : kr->keys[0].id, hex);
		snprintf(err, errlen, "the store was encrypted with key id %s", hex);
		return 0;
	}
	rc = plaintext_refusal(backing, &sv, flags, err, errlen);
	return rc < 0 ? rc : 1;
}

int store_keyinfo_read(int dirfd, struct store_keyinfo *ki)
{
	char buf[DESC_MAX_SIZE];
	struct desc d;
	size_t len;
	int rc;

	memset(ki, 0, sizeof(*ki));
	ki->ks.ids = (const uint8_t (*)[FMT_KEY_ID_SIZE])ki->ids;
	if (dirfd < 0)
		return 0;
	ki->salt_file = read_salt_file(dirfd, &ki->salt_copy) == 0;
	rc = store_read_desc(dirfd, buf, &len);
	ki->has_desc = rc != -ENOENT;
	/* The salt file stands in for a salt the descriptor lacks: lost
	 * with a damaged descriptor, or an old one put back. A store with a
	 * salt never takes a passphrase unstretched as its current key. */
	ki->ks.has_kdf = ki->salt_file;
	ki->ks.kdf = ki->salt_copy;
	if (rc == 0 && desc_parse(buf, len, &d) == 0) {
		ki->desc_parses = 1;
		if (d.has_kdf) {
			ki->ks.has_kdf = 1;
			ki->ks.kdf = d.kdf;
		}
		memcpy(ki->ids[0], d.key_id, FMT_KEY_ID_SIZE);
		memcpy(ki->ids[1], d.retired, d.nretired * FMT_KEY_ID_SIZE);
		ki->ks.nids = 1 + d.nretired;
		return 0;
	}
	if (ki->has_desc)
		return 0;       /* unreadable or malformed: store_open says so */
	{
		struct survey *sv = calloc(1, sizeof(*sv));
		static const struct keyring none;

		if (!sv)
			return -ENOMEM;
		rc = survey_dir(dirfd, &none, sv, 0);
		if (rc == 0) {
			memcpy(ki->ids, sv->header_ids, sv->nheader_ids * FMT_KEY_ID_SIZE);
			ki->ks.nids = sv->nheader_ids;
			memcpy(ki->id_file, sv->header_id_file, sizeof(ki->id_file));
		}
		free(sv);
	}
	return rc;
}

int store_set_plaintext(struct store *st, const struct keyring *kr, int allowed)
{
	int rc = store_write_desc(st, kr, allowed);

	if (rc == 0)
		st->plaintext_allowed = allowed;
	return rc;
}

int store_clear_retired(struct store *st, const struct keyring *kr)
{
	unsigned n = st->nretired;
	int rc;

	st->nretired = 0;
	rc = store_write_desc(st, kr, st->plaintext_allowed);
	if (rc < 0)
		st->nretired = n;
	return rc;
}

int store_undo_create(struct store *st)
{
	struct dirent *de;
	DIR *d;
	int fd, others = 0;

	if (!st->created || st->dir_fd < 0)
		return 0;
	fd = openat(st->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int rc = -errno;

		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((de = readdir(d)))
		others |= strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !root_name_not_content(de->d_name);
	closedir(d);
	if (others)
		return 0;
	if (unlinkat(st->dir_fd, DESC_NAME, 0) < 0)
		return -errno;
	if (unlinkat(st->dir_fd, DESC_SALT_NAME, 0) < 0 && errno != ENOENT)
		return -errno;
	st->created = 0;
	return fsync(st->dir_fd) < 0 ? -errno : 0;
}

void store_close(struct store *st)
{
	if (st->dir_fd >= 0)
		close(st->dir_fd);
	st->dir_fd = -1;
}
