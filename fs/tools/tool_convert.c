/*
 * "jetcryptfs encrypt" and "jetcryptfs rekey": rewrite files of a store
 * in place, one at a time, each through a temp file beside it that is
 * fsync'd and renamed over the original (then the directory is fsync'd).
 * At every instant each name holds either its old complete file or its new
 * complete one, so a run killed anywhere loses nothing; the next run
 * removes leftover temp files and skips files that are already done (a
 * file with a header is never encrypted again). Both take the mount's
 * lock, so they never run under a live mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "content.h"
#include "convert.h"
#include "desc.h"
#include "format.h"
#include "kdf.h"
#include "log.h"
#include "node.h"
#include "progress.h"
#include "status.h"
#include "store.h"
#include "tool_common.h"
#include "tools.h"
#include "xattr.h"

static void usage_encrypt(FILE *f)
{
	fprintf(f,
		"usage: jetcryptfs encrypt [-c FILE] [--key-env NAME|--key-file FILE] [--cipher NAME]\n"
		"                          [--allow-weak-key] [--quiet] [--strict] [BACKING_DIR]\n"
		"\n"
		"Encrypts in place the plaintext files of an adopted store (one mounted with\n"
		"--adopt; a directory that was never mounted is adopted first). Each file is\n"
		"written encrypted to a temp file beside it (" STORE_TMP_PREFIX "<16 hex digits>),\n"
		"given the original's mode, owner and access and modification times, fsync'd and\n"
		"renamed over the original; then its directory is fsync'd. A run that is killed\n"
		"at any point can simply be run again: it removes leftover temp files and goes\n"
		"on; a file that already has a jetcryptfs header is never encrypted again.\n"
		"When every file is encrypted the store becomes strict: from then on a file\n"
		"without a header reads as an I/O error through the mount. The store must not\n"
		"be mounted (the command takes the mount's lock). Files with more than one hard\n"
		"link are not converted (renaming would split them) and keep the store from\n"
		"becoming strict. A converted file keeps all its extended attributes. Plaintext\n"
		"user.* xattr values of every file and directory are encrypted, in any store\n"
		"(a store written before jetcryptfs encrypted them holds some: check fsck's list\n"
		"first, as a value planted in the backing directory would be encrypted too).\n"
		"becoming strict. Symlinks whose target is plaintext (made before symlink\n"
		"encryption, or planted: check them first, 'jetcryptfs fsck' lists them) are\n"
		"encrypted too, each one listed, in any store, strict or adopted; FIFOs and\n"
		"sockets of an adopted store become marker files, which the mount shows as\n"
		"before (a strict store hides raw ones as planted).\n"
		"SIGINT, SIGTERM and SIGHUP stop the run at the next safe point.\n"
		"BACKING_DIR defaults to the config's backing_dir.\n"
		"\n"
		"  -c, --config FILE     NATS-syntax config with a jetstream { } block\n"
		"      --key-env NAME    read the key from $NAME (default: config key/tpm, then $JS_KEY)\n"
		"      --key-file FILE   read the key from FILE (e.g. a systemd credential)\n"
		"      --allow-weak-key  use a key that looks guessable (refused otherwise, exit 20;\n"
		"                        also the config's allow_weak_key: true)\n"
		"      --cipher NAME     chachapoly or aes (default: the config's cipher, else chachapoly)\n"
		"  -q, --quiet           no progress bar and no summary (no bar either when stderr\n"
		"                        is not a terminal)\n"
		"      --strict          refuse a store that allows plaintext files (exit 8; also\n"
		"                        the config's strict: true)\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 every plaintext file and xattr value is encrypted and the store is\n"
		"strict; 1 some files or xattr values could not be converted (each named; run\n"
		"again after fixing them); 2 usage or config error, or a path inside a jetcryptfs\n"
		"mount (give its backing directory); 3 no key given; 4 key does not match this store;\n"
		"6 damaged store descriptor; 7 the store is mounted or another jetcryptfs command\n"
		"is working on it; 8 strict asked, the store allows plaintext files; 10-19 TPM\n"
		"errors; 20 the key looks guessable; 128+N stopped by signal N (run again to\n"
		"finish).\n");
}

static void usage_rekey(FILE *f)
{
	fprintf(f,
		"usage: jetcryptfs rekey [-c FILE] [--key-env NAME|--key-file FILE] [--cipher NAME]\n"
		"                        [--allow-weak-key] [--quiet] [--strict] [BACKING_DIR]\n"
		"\n"
		"Re-encrypts every file, symlink target and FIFO or socket marker that is not\n"
		"under the current key and cipher: those readable only through the config's\n"
		"prev_key, and those written with the other cipher. The current key is the one mount would use (--key-env NAME or\n"
		"--key-file FILE, else the config's key or tpm { } block, else $JS_KEY); the old\n"
		"key comes from the config's prev_key. Files\n"
		"are converted as by encrypt: temp file beside each (" STORE_TMP_PREFIX "<16 hex>),\n"
		"mode, owner and times kept, fsync, rename, directory fsync; a killed run can be\n"
		"run again and finishes the job. The store descriptor moves to the current key\n"
		"(as on a mount with prev_key) and records the old key id as retired: until rekey\n"
		"has converted every file, a mount or fsck without that key is refused (exit 4).\n"
		"Once rekey has finished, the retired key ids are cleared, prev_key can be\n"
		"dropped and a mount with the old key alone is refused (exit 4). user.* xattr\n"
		"values under the old key or the other cipher are re-encrypted too (a file's\n"
		"with the file, those of other files and directories in place). A store whose\n"
		"passphrase is still used unstretched (made before jetcryptfs stretched\n"
		"passphrases with Argon2id) is moved to the stretched derivation the same way:\n"
		"a new salt, every file re-encrypted, the old key id retired and then cleared;\n"
		"the same passphrase opens it afterwards, its unstretched form no longer does.\n"
		"Plaintext files and xattr values are left to 'jetcryptfs encrypt'. The store\n"
		"must not be mounted. SIGINT, SIGTERM and SIGHUP stop the run at the next safe\n"
		"point.\n"
		"BACKING_DIR defaults to the config's backing_dir.\n"
		"\n"
		"  -c, --config FILE     NATS-syntax config with a jetstream { } block\n"
		"      --key-env NAME    read the current key from $NAME\n"
		"      --key-file FILE   read the key from FILE (e.g. a systemd credential)\n"
		"      --allow-weak-key  use a key that looks guessable (refused otherwise, exit 20;\n"
		"                        also the config's allow_weak_key: true)\n"
		"      --cipher NAME     the cipher to convert to: chachapoly or aes (default: the\n"
		"                        config's cipher, else chachapoly)\n"
		"  -q, --quiet           no progress bar and no summary (no bar either when stderr\n"
		"                        is not a terminal)\n"
		"      --strict          refuse a store that allows plaintext files (exit 8; also\n"
		"                        the config's strict: true)\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 every encrypted file and xattr value is under the current key and\n"
		"cipher; 1 some files could not be converted (each named: a key id that was not\n"
		"given, a bad block or xattr value, a read or write error); 2 usage or config\n"
		"error, or a path inside a jetcryptfs mount (give its backing directory); 3 no key\n"
		"given; 4 key does not match this store, or a retired key that files are still\n"
		"under is not given; 6 damaged store descriptor; 7 the store is mounted or another\n"
		"jetcryptfs command is working on it; 8 strict asked, the store allows plaintext\n"
		"files; 10-19 TPM errors; 20 the key looks guessable; 128+N stopped by signal N\n"
		"(run again to finish).\n");
}

struct conv {
	const char *backing;
	int rootfd;
	int rekey;
	const struct keyring *kr;
	int cipher;
	unsigned delay_ms;              /* STORE_TEST_DELAY_ENV: a sleep after each chunk written */
	struct progress prog;
	unsigned long done, failed;
	unsigned long links;            /* symlinks converted */
	uint64_t bytes;
	unsigned long xattrs;           /* user.* values encrypted or re-encrypted */
};

static void conv_fail(struct conv *cv, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conv_fail(struct conv *cv, const char *rel, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	progress_clear(&cv->prog);
	log_err("%s/%s: %s", cv->backing, rel, msg);
	cv->failed++;
}

/* 1 if the loaded file c still needs this command's conversion. */
static int needs_work(const struct conv *cv, const struct content *c)
{
	struct fmt_header h;

	if (!cv->rekey)
		return c->kind == CONTENT_PLAINTEXT;
	if (c->kind != CONTENT_ENCRYPTED || fmt_header_decode(&h, c->hdr, FMT_HEADER_SIZE) < 0)
		return 0;
	return h.cipher != cv->cipher || memcmp(h.key_id, cv->kr->keys[0].id, FMT_KEY_ID_SIZE) != 0;
}

/* convert_job's progress: the bar, the test delay, and a stop at a
 * signal. */
static int conv_progress(void *arg, uint64_t bytes)
{
	struct conv *cv = arg;

	progress_add(&cv->prog, bytes);
	if (cv->delay_ms) {
		struct timespec ts = { cv->delay_ms / 1000, (long)(cv->delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	return tool_interrupted();
}

/* Converts one file (convert_file). 0 done or nothing to do, 1 failed
 * (reported), or the signal that stopped it. */
static int convert_one(struct conv *cv, const struct tool_file *tf)
{
	struct content sc = { 0 };
	struct convert_job j = { .xattr_conv = cv->rekey ? XATTR_REKEY : XATTR_ENCRYPT_PLAIN,
				 .xattrs_changed = &cv->xattrs, .progress = conv_progress, .arg = cv };
	char why[1024];
	int rc, ret = 1;

	j.dirfd = tool_open_parent(cv->rootfd, tf->rel, &j.name);
	if (j.dirfd < 0) {
		conv_fail(cv, tf->rel, "cannot open its directory: %s", beneath_strerror(-j.dirfd));
		return 1;
	}
	j.src_fd = tool_open_read(j.dirfd, j.name);
	if (j.src_fd < 0) {
		conv_fail(cv, tf->rel, "%s", beneath_strerror(errno));
		goto out;
	}
	j.src = &sc;
	rc = content_load(&sc, j.src_fd);
	if (rc < 0) {
		conv_fail(cv, tf->rel, "cannot be read: %s", strerror(-rc));
		goto out;
	}
	if (!needs_work(cv, &sc)) {
		ret = 0;        /* changed since the walk: done by now */
		goto out;
	}
	rc = convert_file(&j, why, sizeof(why));
	if (rc == -ECANCELED) {
		ret = tool_interrupted();
	} else if (rc < 0) {
		conv_fail(cv, tf->rel, "%s", why);
	} else {
		cv->done++;
		cv->bytes += j.bytes;
		ret = 0;
	}
out:
	content_unload(&sc);
	if (j.src_fd >= 0)
		close(j.src_fd);
	close(j.dirfd);
	return ret;
}

/* The user.* values of every file and directory, converted in place,
 * each with one atomic replace: encrypt encrypts plaintext values (those
 * of an adopted store, and those a store made before values were
 * encrypted holds), rekey re-encrypts values under a previous key or the
 * other cipher. A file rewritten by this run has nothing left to do.
 * Returns 0 or the signal that stopped it. */
static int convert_xattrs(struct conv *cv, const struct tool_file *list, size_t n)
{
	unsigned conv = cv->rekey ? XATTR_REKEY : XATTR_ENCRYPT_PLAIN;
	char why[1024];

	for (size_t i = 0; i < n && !tool_interrupted(); i++) {
		int fd = beneath_open(cv->rootfd, list[i].rel, O_PATH, 0);

		if (fd < 0) {
			if (fd != -ENOENT)
				conv_fail(cv, list[i].rel, "%s", beneath_strerror(-fd));
			continue;
		}
		if (xattr_convert(fd, conv, &cv->xattrs, why, sizeof(why)) < 0)
			conv_fail(cv, list[i].rel, "%s", why);
		close(fd);
	}
	return tool_interrupted();
}

/* Puts the temp node tmp, made in dfd, in place of base, with the owner
 * and times of st (and its mode, unless it is a symlink): as convert_file
 * does for files. 0, or 1 after reporting. */
static int node_finish(struct conv *cv, const struct tool_file *tf, int dfd, const char *tmp, const char *base,
		       const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (fchownat(dfd, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (!S_ISLNK(st->st_mode) && fchmodat(dfd, tmp, st->st_mode & 07777, 0) < 0) ||
	    utimensat(dfd, tmp, times, AT_SYMLINK_NOFOLLOW) < 0) {
		conv_fail(cv, tf->rel, "cannot keep owner, mode and times: %s", strerror(errno));
		return 1;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		conv_fail(cv, tf->rel, "cannot rename the temp %s over it: %s",
			  S_ISLNK(st->st_mode) ? "symlink" : "file", strerror(errno));
		return 1;
	}
	if (fsync(dfd) < 0) {
		conv_fail(cv, tf->rel, "fsync of its directory: %s", strerror(errno));
		return -1;      /* in place: not to be removed */
	}
	return 0;
}

/* A symlink target for a one-line message: control characters as '?'. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Encrypts a plaintext symlink target (encrypt), or re-encrypts one not
 * under the current key and cipher (rekey): a new symlink under a temp
 * name, renamed over it. 0 done or nothing to do, 1 failed (reported). */
static int convert_link(struct conv *cv, const struct tool_file *tf)
{
	char stored[NODE_LINK_STORED_MAX + 2], target[NODE_LINK_STORED_MAX + 2], tmp[STORE_TMP_NAME_LEN + 1];
	char hex[2 * FMT_KEY_ID_SIZE + 1];
	struct fmt_header h;
	const char *base;
	struct stat st;
	size_t len;
	ssize_t n;
	int dfd, rc, ret = 1;

	dfd = tool_open_parent(cv->rootfd, tf->rel, &base);
	if (dfd < 0) {
		conv_fail(cv, tf->rel, "cannot open its directory: %s", beneath_strerror(-dfd));
		return 1;
	}
	tmp[0] = '\0';
	n = readlinkat(dfd, base, stored, sizeof(stored) - 1);
	if (n < 0 || fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		conv_fail(cv, tf->rel, "%s", strerror(errno));
		goto out;
	}
	stored[n] = '\0';
	rc = n > NODE_LINK_STORED_MAX ? -ENODATA :
		content_link_decrypt(cv->kr, stored, (size_t)n, target, sizeof(target), &len, &h);
	if (!cv->rekey && rc == -ENODATA) {
		memcpy(target, stored, (size_t)n + 1);
		len = (size_t)n;
	} else if (!cv->rekey || (cv->rekey && rc == -ENODATA)) {
		ret = 0;        /* encrypt: one of ours; rekey: left to encrypt */
		goto out;
	} else if (rc == -ENOKEY) {
		kdf_key_id_hex(h.key_id, hex);
		conv_fail(cv, tf->rel, "symlink target encrypted under key id %s, which is not among the given keys; "
			  "not converted", hex);
		goto out;
	} else if (rc < 0) {
		conv_fail(cv, tf->rel, "%s; not converted", content_link_strerror(rc));
		goto out;
	} else if (h.cipher == cv->cipher && !memcmp(h.key_id, cv->kr->keys[0].id, FMT_KEY_ID_SIZE)) {
		ret = 0;
		goto out;
	}
	if (st.st_nlink > 1) {
		conv_fail(cv, tf->rel, "symlink with %lu hard links; not converted (renaming would split them): give "
			  "it one name", (unsigned long)st.st_nlink);
		goto out;
	}
	store_tmp_name(tmp);
	rc = content_link_make(dfd, tmp, target);
	if (rc < 0) {
		if (rc == -ENAMETOOLONG)
			conv_fail(cv, tf->rel, "symlink target of %zu bytes: longer than an encrypted one can be (%zu "
				  "bytes with %s); give it a shorter target", len, node_link_max_target(cv->cipher),
				  fmt_cipher_name(cv->cipher));
		else
			conv_fail(cv, tf->rel, "cannot create temp symlink %s: %s", tmp, strerror(-rc));
		tmp[0] = '\0';
		goto out;
	}
	rc = node_finish(cv, tf, dfd, tmp, base, &st);
	if (rc <= 0)
		tmp[0] = '\0';
	if (rc)
		goto out;
	cv->links++;
	if (!cv->rekey) {
		/* Listed even with --quiet: each one is now trusted. */
		printable(target);
		progress_clear(&cv->prog);
		log_info("%s/%s: plaintext symlink -> %s encrypted", cv->backing, tf->rel, target);
	}
	ret = 0;
out:
	sodium_memzero(target, sizeof(target));
	if (tmp[0])
		(void)unlinkat(dfd, tmp, 0);
	close(dfd);
	return ret;
}

/* Re-encrypts a FIFO or socket marker under the current key and cipher
 * (rekey). 0 done or nothing to do, 1 failed (reported). */
static int convert_marker(struct conv *cv, const struct tool_file *tf)
{
	char tmp[STORE_TMP_NAME_LEN + 1], hex[2 * FMT_KEY_ID_SIZE + 1];
	struct fmt_header h;
	const char *base;
	struct stat st;
	int dfd, src = -1, dst = -1, rc, node, ret = 1;

	dfd = tool_open_parent(cv->rootfd, tf->rel, &base);
	if (dfd < 0) {
		conv_fail(cv, tf->rel, "cannot open its directory: %s", beneath_strerror(-dfd));
		return 1;
	}
	tmp[0] = '\0';
	src = tool_open_read(dfd, base);
	if (src < 0 || fstat(src, &st) < 0) {
		conv_fail(cv, tf->rel, "%s", strerror(errno));
		goto out;
	}
	rc = content_marker_read(src, &node, &h);
	if (rc == -ENOKEY) {
		kdf_key_id_hex(h.key_id, hex);
		conv_fail(cv, tf->rel, "marker encrypted under key id %s, which is not among the given keys; "
			  "not converted", hex);
		goto out;
	}
	if (rc < 0) {
		conv_fail(cv, tf->rel, "%s marker: %s; not converted", fmt_node_name(h.node),
			  rc == -EBADMSG ? "authentication failed" : "damaged");
		goto out;
	}
	if (h.cipher == cv->cipher && !memcmp(h.key_id, cv->kr->keys[0].id, FMT_KEY_ID_SIZE)) {
		ret = 0;
		goto out;
	}
	store_tmp_name(tmp);
	dst = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0) {
		conv_fail(cv, tf->rel, "cannot create temp file %s: %s", tmp, strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	rc = content_marker_write(dst, node);
	if (rc == 0 && fsync(dst) < 0)
		rc = -errno;
	if (rc < 0) {
		conv_fail(cv, tf->rel, "cannot write temp file %s: %s", tmp, strerror(-rc));
		goto out;
	}
	rc = node_finish(cv, tf, dfd, tmp, base, &st);
	if (rc <= 0)
		tmp[0] = '\0';
	if (rc)
		goto out;
	cv->done++;
	ret = 0;
out:
	if (dst >= 0)
		close(dst);
	if (tmp[0])
		(void)unlinkat(dfd, tmp, 0);
	if (src >= 0)
		close(src);
	close(dfd);
	return ret;
}

/* Replaces a raw FIFO or socket of an adopted store, which the store
 * shows while it allows plaintext files, by its marker (encrypt): once
 * strict, the store would hide it as planted. 0 done, 1 failed. */
static int convert_raw_node(struct conv *cv, const struct tool_file *tf)
{
	const char *what = S_ISFIFO(tf->st.st_mode) ? "FIFO" : "socket";
	char tmp[STORE_TMP_NAME_LEN + 1];
	const char *base;
	struct stat st;
	int dfd, dst = -1, rc, ret = 1;

	dfd = tool_open_parent(cv->rootfd, tf->rel, &base);
	if (dfd < 0) {
		conv_fail(cv, tf->rel, "cannot open its directory: %s", beneath_strerror(-dfd));
		return 1;
	}
	tmp[0] = '\0';
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		conv_fail(cv, tf->rel, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) {
		ret = 0;        /* changed since the walk */
		goto out;
	}
	if (st.st_nlink > 1) {
		conv_fail(cv, tf->rel, "%s with %lu hard links; not converted (renaming would split them): give it "
			  "one name", what, (unsigned long)st.st_nlink);
		goto out;
	}
	store_tmp_name(tmp);
	dst = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0) {
		conv_fail(cv, tf->rel, "cannot create temp file %s: %s", tmp, strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	rc = content_marker_write(dst, S_ISFIFO(st.st_mode) ? FMT_NODE_FIFO : FMT_NODE_SOCKET);
	if (rc == 0 && fsync(dst) < 0)
		rc = -errno;
	if (rc < 0) {
		conv_fail(cv, tf->rel, "cannot write temp file %s: %s", tmp, strerror(-rc));
		goto out;
	}
	rc = node_finish(cv, tf, dfd, tmp, base, &st);
	if (rc <= 0)
		tmp[0] = '\0';
	if (rc)
		goto out;
	progress_clear(&cv->prog);
	log_info("%s/%s: %s made a marker (the store shows it as before)", cv->backing, tf->rel, what);
	ret = 0;
out:
	if (dst >= 0)
		close(dst);
	if (tmp[0])
		(void)unlinkat(dfd, tmp, 0);
	close(dfd);
	return ret;
}

/* Which files to convert: each file's header, read once. Plaintext files
 * that are not chosen (rekey leaves them; encrypt cannot take them) are
 * counted in plain_left. */
static int plan(struct conv *cv, const struct tool_tree *t, int strict, char *chosen, uint64_t *total,
		unsigned long *nchosen, unsigned long *plain_left)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tool_file *tf = &t->files[i];
		struct fmt_header h;
		char hex[2 * FMT_KEY_ID_SIZE + 1];
		uint64_t plain;
		int fd, rc;

		chosen[i] = 0;
		if (tf->st.st_size == 0)
			continue;
		fd = tool_open_read(cv->rootfd, tf->rel);
		if (fd < 0) {
			conv_fail(cv, tf->rel, "%s", beneath_strerror(errno));
			continue;
		}
		rc = content_peek_header(fd, &h, NULL);
		close(fd);
		if (rc == -ENODATA) {
			if (cv->rekey || strict || tf->st.st_nlink > 1)
				(*plain_left)++;
			if (cv->rekey) {
				continue;
			} else if (strict) {
				conv_fail(cv, tf->rel, "plaintext file in a strict store (not written through "
					  "jetcryptfs); not converted");
			} else if (tf->st.st_nlink > 1) {
				conv_fail(cv, tf->rel, "has %lu hard links; not converted (renaming would split them): "
					  "give it one name, or copy it to a new file, and run encrypt again",
					  (unsigned long)tf->st.st_nlink);
			} else {
				chosen[i] = 1;
				*total += (uint64_t)tf->st.st_size;
			}
			continue;
		}
		if (rc == -EBADMSG || rc == -EPROTO) {
			log_warn("%s/%s: %s; left as it is", cv->backing, tf->rel, fmt_header_strerror(rc));
			continue;
		}
		if (rc < 0) {
			conv_fail(cv, tf->rel, "%s", strerror(-rc));
			continue;
		}
		if (!cv->rekey)
			continue;
		if (!keyring_find(cv->kr, h.key_id)) {
			kdf_key_id_hex(h.key_id, hex);
			conv_fail(cv, tf->rel, "encrypted under key id %s, which is not among the given keys; "
				  "not converted", hex);
			continue;
		}
		if (h.cipher == cv->cipher && !memcmp(h.key_id, cv->kr->keys[0].id, FMT_KEY_ID_SIZE))
			continue;
		if (tf->st.st_nlink > 1) {
			conv_fail(cv, tf->rel, "has %lu hard links; not converted (renaming would split them)",
				  (unsigned long)tf->st.st_nlink);
			continue;
		}
		/* A FIFO or socket marker (2) is not a file's contents. */
		chosen[i] = h.node == FMT_NODE_FILE ? 1 : 2;
		if (h.node == FMT_NODE_FILE && fmt_plaintext_size(h.cipher, (uint64_t)tf->st.st_size, &plain) == 0)
			*total += plain;
	}
	for (size_t i = 0; i < t->n; i++)
		*nchosen += chosen[i] != 0;
	return 0;
}

static int convert(int argc, char **argv, int rekey)
{
	void (*usage)(FILE *) = rekey ? usage_rekey : usage_encrypt;
	const char *cmd = rekey ? "rekey" : "encrypt";
	struct tool_opts o;
	struct tool_keys k;
	struct tool_tree t = { 0 };
	struct store st = { .dir_fd = -1 };
	struct conv cv = { .rekey = rekey, .rootfd = -1 };
	const char *backing = NULL, *delay;
	char err[1024], *chosen = NULL, hex[2 * FMT_KEY_ID_SIZE + 1];
	uint64_t total = 0;
	unsigned long nchosen = 0, plain_left = 0;
	int status, rc, adopt = 0, sig = 0;

	status = tool_start_dir(argc, argv, TOOL_OPT_KEYS | TOOL_OPT_CIPHER | TOOL_OPT_QUIET | TOOL_OPT_STRICT |
				(rekey ? TOOL_KEYS_MIGRATE : 0), usage, &o, &k, &backing);
	if (status)
		goto out;
	status = EXIT_FAIL;
	cv.backing = backing;
	cv.kr = k.kr;
	cv.cipher = k.cipher;
	delay = getenv(STORE_TEST_DELAY_ENV);
	if (delay)
		cv.delay_ms = (unsigned)strtoul(delay, NULL, 10);

	/* encrypt adopts a directory that was never mounted; a store that
	 * has a descriptor keeps its own policy (encrypt is how an adoption
	 * ends, and rekey leaves plaintext files as they are). Under strict,
	 * a store that allows plaintext files is refused: encrypting them
	 * would bless files planted under a descriptor put back. */
	if (!rekey && !k.strict) {
		char desc[4096];

		snprintf(desc, sizeof(desc), "%s/%s", backing, DESC_NAME);
		adopt = access(desc, F_OK) < 0 && errno == ENOENT;
	}
	rc = store_open(backing, k.kr, (adopt ? STORE_ADOPT : 0) | STORE_PLAINTEXT_OK | (k.strict ? STORE_STRICT : 0),
			&st, err, sizeof(err));
	if (rc < 0) {
		status = status_of_error(rc);
		log_err("%s%s", err, rc == JCFS_E_BUSY ? "; unmount it first" : "");
		goto out;
	}
	cv.rootfd = st.dir_fd;
	tool_signals_catch();
	{
		struct content_ctx cctx = { .kr = k.kr, .cipher = k.cipher, .plaintext_allowed = 1 };

		if (content_setup(&cctx) < 0) {
			log_err("crypto library initialisation failed");
			goto out;
		}
		xattr_setup(&cctx);
	}
	if (tool_tree_walk(st.dir_fd, backing, 1, &t, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	if (t.tmp_files && !o.quiet)
		log_info("%s: removed %lu temp files of an interrupted run", backing, t.tmp_files);
	for (size_t i = 0; i < t.nsymlinked; i++)
		conv_fail(&cv, t.symlinked[i], "%s; its files were not converted", beneath_strerror(ELOOP));
	chosen = calloc(t.n + 1, 1);
	if (!chosen) {
		log_err("out of memory");
		goto out;
	}
	plan(&cv, &t, !st.plaintext_allowed, chosen, &total, &nchosen, &plain_left);

	progress_start(&cv.prog, cmd, total, nchosen, o.quiet);
	for (size_t i = 0; i < t.n && !sig; i++) {
		if (!chosen[i])
			continue;
		rc = chosen[i] == 2 ? convert_marker(&cv, &t.files[i]) : convert_one(&cv, &t.files[i]);
		if (rc > 1)
			sig = rc;
		progress_item(&cv.prog);
	}
	/* Symlinks: encrypt takes plaintext targets, rekey old keys'. Raw
	 * FIFOs and sockets of an adopted store become markers. */
	for (size_t i = 0; i < t.nnodes && !sig; i++) {
		mode_t m = t.nodes[i].st.st_mode;

		if (S_ISLNK(m))
			(void)convert_link(&cv, &t.nodes[i]);
		else if (!rekey && st.plaintext_allowed && (S_ISFIFO(m) || S_ISSOCK(m)))
			(void)convert_raw_node(&cv, &t.nodes[i]);
		sig = tool_interrupted();
	}
	if (!sig)
		sig = convert_xattrs(&cv, t.files, t.n);
	if (!sig)
		sig = convert_xattrs(&cv, t.dirs, t.ndirs);
	progress_end(&cv.prog);
	if (sig) {
		log_err("%s: %s interrupted by signal %d after %lu of %lu files; run it again to finish", backing,
			cmd, sig, cv.done, nchosen + (rekey ? 0 : plain_left));
		status = 128 + sig;
		goto out;
	}

	kdf_key_id_hex(k.kr->keys[0].id, hex);
	if (!o.quiet) {
		if (rekey)
			log_info("%s: re-encrypted %lu of %lu files (%llu bytes) to key id %s, cipher %s%s", backing,
				 cv.done, nchosen, (unsigned long long)cv.bytes, hex, fmt_cipher_name(k.cipher),
				 plain_left ? "; plaintext files are left to 'jetcryptfs encrypt'" : "");
		else
			log_info("%s: encrypted %lu of %lu plaintext files (%llu bytes) under key id %s, cipher %s",
				 backing, cv.done, nchosen + plain_left, (unsigned long long)cv.bytes, hex,
				 fmt_cipher_name(k.cipher));
	}
	if (cv.xattrs && !o.quiet)
		log_info("%s: %s %lu user.* xattr values under key id %s, cipher %s", backing,
			 rekey ? "re-encrypted" : "encrypted", cv.xattrs, hex, fmt_cipher_name(k.cipher));
	if (!o.quiet && cv.links)
		log_info("%s: %s %lu symlinks", backing, rekey ? "re-encrypted" : "encrypted", cv.links);
	if (cv.failed) {
		log_err("%s: %lu files could not be converted (named above)%s", backing, cv.failed,
			rekey || !st.plaintext_allowed ? "" : "; the store stays adopted (plaintext allowed)");
		goto out;
	}
	if (!rekey && st.plaintext_allowed) {
		rc = store_set_plaintext(&st, k.kr, 0);
		if (rc < 0) {
			log_err("%s/%s: cannot rewrite the store descriptor: %s", backing, DESC_NAME, strerror(-rc));
			goto out;
		}
		if (!o.quiet)
			log_info("%s: the store is now strict: files without a jetcryptfs header read as I/O errors",
				 backing);
		/* Said even with --quiet: the operator's next mount must not
		 * say adopt any more. */
		log_info("%s: mount it without --adopt from now on (and take adopt: true out of the config): a "
			 "mount with it would let an old copy of the descriptor make it accept plaintext files again",
			 backing);
	} else if (!rekey && !o.quiet) {
		log_info("%s: the store is strict", backing);
	}
	if (rekey && st.nretired) {
		/* Every file is under the current key now: the retired keys
		 * are no longer needed to mount. */
		rc = store_clear_retired(&st, k.kr);
		if (rc < 0) {
			log_err("%s/%s: cannot rewrite the store descriptor: %s", backing, DESC_NAME, strerror(-rc));
			goto out;
		}
		if (!o.quiet && k.kr->twin) {
			char old[2 * FMT_KEY_ID_SIZE + 1];

			kdf_key_id_hex(k.kr->keys[k.kr->twin].id, old);
			log_info("%s: the passphrase is stretched with Argon2id now: no file is left under its "
				 "unstretched key id %s", backing, old);
		} else if (!o.quiet) {
			log_info("%s: no file is left under a retired key; prev_key is no longer needed", backing);
		}
	}
	status = EXIT_OK;
out:
	free(chosen);
	tool_tree_free(&t);
	content_teardown();
	store_close(&st);
	tool_keys_free(&k);
	return status;
}

int cmd_encrypt(int argc, char **argv)
{
	return convert(argc, argv, 0);
}

int cmd_rekey(int argc, char **argv)
{
	return convert(argc, argv, 1);
}
