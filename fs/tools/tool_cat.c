/*
 * "jetcryptfs cat": one backing file decrypted to stdout through the
 * content layer, without a mount. Output stops at the first block that
 * fails authentication, after every good byte before it: never a byte of
 * a bad block, never a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "content.h"
#include "format.h"
#include "kdf.h"
#include "log.h"
#include "status.h"
#include "store.h"
#include "tool_common.h"
#include "tools.h"

#define CAT_CHUNK (256 * FMT_BLOCK_SIZE)

static void usage_cat(FILE *f)
{
	fprintf(f,
		"usage: jetcryptfs cat [-c FILE] [--key-env NAME|--key-file FILE] [--allow-weak-key]\n"
		"                      [--strict] BACKING_FILE\n"
		"\n"
		"Decrypts one file of a backing directory to standard output, without mounting\n"
		"(the store may be mounted or not). The key comes as for mount: --key-env NAME\n"
		"or --key-file FILE, else the config's key or tpm { } block, else $JS_KEY; the\n"
		"config's prev_key is used too.\n"
		"A block that fails authentication stops the output with an error naming the\n"
		"file and the block, after writing only the good bytes before it. A plaintext\n"
		"file (no jetcryptfs header) is copied as it is, with a warning, only if the\n"
		"store it is in allows plaintext files (an adopted store) and strict was not\n"
		"asked; else it is an error. The path is followed as written down to the\n"
		"directory of its store (the first along it that holds a .jetcryptfs); below\n"
		"that, a symlink is never followed.\n"
		"\n"
		"  -c, --config FILE     NATS-syntax config with a jetstream { } block\n"
		"      --key-env NAME    read the key from $NAME\n"
		"      --key-file FILE   read the key from FILE (e.g. a systemd credential)\n"
		"      --allow-weak-key  use a key that looks guessable (refused otherwise, exit 20;\n"
		"                        also the config's allow_weak_key: true)\n"
		"      --strict          a plaintext file is an error whatever its store allows\n"
		"                        (also the config's strict: true)\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 the whole file was written; 1 a bad block, a damaged or truncated\n"
		"file, a plaintext file its store (or --strict) does not allow, a symlink below\n"
		"its store's directory, or a read or write error; 2 usage or config error, or a\n"
		"file inside a jetcryptfs mount (give its backing file); 3 no key given; 4 the\n"
		"file is under a key that was not given (both key ids named), or a plaintext\n"
		"file's store is; 10-19 TPM errors; 20 the key looks guessable.\n");
}

/* Writes len bytes to standard output; on failure says so (one line) and
 * returns -errno. */
static int write_all(const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			log_err("standard output: %s", strerror(err));
			return -err;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory to look for path's store from: the store tool_open_operand
 * found along the path (storefd), else the directory the file is in. */
static int store_search_start(const char *path, int storefd)
{
	char dir[PATH_MAX], *slash;

	if (storefd >= 0)
		return openat(storefd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!realpath(path, dir))
		return -1;
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	slash[slash == dir] = '\0';    /* its directory; "/" stays "/" */
	return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Whether a file with no header may be shown as it is: only if its store
 * allows plaintext files. Otherwise it may be an encrypted file whose
 * magic was damaged, whose bytes must not pass for its contents. Its
 * store is the highest directory at or above fd that holds a descriptor:
 * only the backing root's is one (the mount hides it, and only it), while
 * a file of that name further down can be put there by anyone who writes
 * through the mount. Takes fd (may be -1). 1 if allowed; else 0 with why
 * (whylen bytes) said, or JCFS_E_WRONG_KEY when the descriptor is under
 * another key. */
static int plaintext_allowed_at(int fd, const struct keyring *kr, char *why, size_t whylen)
{
	struct stat cur, up;
	int parent, rc, found = -ENOENT;

	while (fd >= 0) {
		rc = store_plaintext_allowed(fd, kr);
		if (rc != -ENOENT)
			found = rc;
		parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0 || fstat(fd, &cur) < 0 || fstat(parent, &up) < 0 ||
		    (cur.st_dev == up.st_dev && cur.st_ino == up.st_ino)) {
			if (parent >= 0)
				close(parent);
			break;
		}
		close(fd);
		fd = parent;
	}
	if (fd >= 0)
		close(fd);
	switch (found) {
	case 1:
		return 1;
	case -ENOENT:
		snprintf(why, whylen, "not inside a store (no store descriptor in any directory above it)");
		return 0;
	case JCFS_E_WRONG_KEY:
		snprintf(why, whylen, "its store descriptor is under another key: key does not match this store");
		return JCFS_E_WRONG_KEY;
	case 0:
		snprintf(why, whylen, "its store does not allow plaintext files");
		return 0;
	case JCFS_E_BAD_DESC:
		snprintf(why, whylen, "its store descriptor is damaged or forged");
		return 0;
	default:
		snprintf(why, whylen, "its store descriptor cannot be read: %s", strerror(-found));
		return 0;
	}
}

/* What the keys are derived for: the store of path (the highest
 * directory above it holding a descriptor or a salt file, as for
 * plaintext_allowed_at; "" if none) and the key id of its header, if it
 * has one. Best effort: what cannot be read is found out again later. */
static void cat_key_store(const char *path, char root[PATH_MAX], uint8_t id[FMT_KEY_ID_SIZE], int *has_id)
{
	char dir[PATH_MAX], probe[PATH_MAX + sizeof(DESC_SALT_NAME) + 1], *slash;
	struct fmt_header h;
	int fd;

	root[0] = '\0';
	*has_id = 0;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		if (content_peek_header(fd, &h, NULL) == 0) {
			memcpy(id, h.key_id, FMT_KEY_ID_SIZE);
			*has_id = 1;
		}
		close(fd);
	}
	if (!realpath(path, dir))
		return;
	while ((slash = strrchr(dir, '/')) != NULL) {
		slash[slash == dir] = '\0';    /* the parent; "/" stays "/" */
		snprintf(probe, sizeof(probe), "%s/%s", dir, DESC_NAME);
		if (faccessat(AT_FDCWD, probe, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			snprintf(root, PATH_MAX, "%s", dir);
		snprintf(probe, sizeof(probe), "%s/%s", dir, DESC_SALT_NAME);
		if (faccessat(AT_FDCWD, probe, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			snprintf(root, PATH_MAX, "%s", dir);
		if (slash == dir)
			break;
	}
}

/* Copies a plaintext file as it is. */
static int cat_plain(const char *path, int fd, uint8_t *buf)
{
	uint64_t off = 0;
	ssize_t n;

	log_warn("%s: not encrypted (plaintext file); copying it as it is", path);
	while ((n = pread(fd, buf, CAT_CHUNK, (off_t)off)) > 0) {
		if (write_all(buf, (size_t)n) < 0)
			return EXIT_FAIL;
		off += (uint64_t)n;
	}
	if (n < 0) {
		log_err("%s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int cat_encrypted(const char *path, int fd, struct content *c, uint8_t *buf)
{
	uint64_t off = 0;
	ssize_t n;

	while (off < c->size) {
		n = content_read(c, fd, buf, CAT_CHUNK, off);
		if (n < 0) {
			/* Somewhere in this chunk: go block by block to write
			 * the good ones and name the bad one. */
			c->bad_rc = 0;
			for (;;) {
				n = content_read(c, fd, buf, FMT_BLOCK_SIZE, off);
				if (n <= 0)
					break;
				if (write_all(buf, (size_t)n) < 0)
					return EXIT_FAIL;
				off += (uint64_t)n;
			}
			log_err("%s: block %llu: %s; output stopped there, after %llu good bytes", path,
				(unsigned long long)(off / FMT_BLOCK_SIZE),
				c->bad_rc == -ENODATA || c->bad_rc == -EBADMSG ? content_block_strerror(c->bad_rc)
									       : strerror(n < 0 ? (int)-n : EIO),
				(unsigned long long)off);
			return EXIT_FAIL;
		}
		if (n == 0)
			break;
		if (write_all(buf, (size_t)n) < 0)
			return EXIT_FAIL;
		off += (uint64_t)n;
	}
	if (c->cut) {
		log_err("%s: block %llu: truncated (the file ends inside it); output stopped there, after %llu good "
			"bytes", path, (unsigned long long)(off / FMT_BLOCK_SIZE), (unsigned long long)off);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_cat(int argc, char **argv)
{
	struct tool_opts o;
	struct tool_keys k;
	struct content c = { 0 };
	struct fmt_header h;
	struct stat st;
	uint8_t *buf = NULL, file_key_id[FMT_KEY_ID_SIZE];
	char root[PATH_MAX];
	const char *path;
	int has_id;
	int first, fd = -1, storefd = -1, rc, status;

	first = tool_parse(argc, argv, TOOL_OPT_KEYS | TOOL_OPT_STRICT, &o, usage_cat);
	if (first < 0)
		return EXIT_USAGE;
	if (argc - first != 1) {
		log_usage("cat", "takes one BACKING_FILE, not %d arguments", argc - first);
		return EXIT_USAGE;
	}
	path = argv[first];
	cat_key_store(path, root, file_key_id, &has_id);
	o.key_store = root[0] ? root : NULL;
	o.also_id = has_id ? file_key_id : NULL;
	status = tool_load(&o, &path, 0, &k);
	if (status)
		goto out;
	status = EXIT_FAIL;
	fd = tool_open_operand(path, O_RDONLY | O_NONBLOCK, &storefd);     /* a FIFO must not hang us */
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_err("%s: %s", path, beneath_strerror(fd < 0 ? -fd : errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s: not a regular file", path);
		goto out;
	}
	buf = malloc(CAT_CHUNK);
	if (!buf) {
		log_err("out of memory");
		goto out;
	}
	if (st.st_size == 0) {
		status = EXIT_OK;
		goto out;
	}
	rc = content_peek_header(fd, &h, NULL);
	if (rc < 0 && rc != -ENODATA && rc != -EBADMSG && rc != -EPROTO) {
		log_err("%s: %s", path, strerror(-rc));
		goto out;
	}
	if (rc == -ENODATA) {
		char why[256];

		if (k.strict) {
			snprintf(why, sizeof(why), "strict was asked");
			rc = 0;
		} else {
			rc = plaintext_allowed_at(store_search_start(path, storefd), k.kr, why, sizeof(why));
		}
		if (rc != 1) {
			log_err("%s: not encrypted (no jetcryptfs header), and %s", path, why);
			if (rc < 0)
				status = status_of_error(rc);
			goto out;
		}
		status = cat_plain(path, fd, buf);
		goto out;
	}
	if (rc < 0) {
		log_err("%s: %s", path, fmt_header_strerror(rc));
		goto out;
	}
	if (!keyring_find(k.kr, h.key_id)) {
		char have[2 * FMT_KEY_ID_SIZE + 1], want[2 * FMT_KEY_ID_SIZE + 1];

		kdf_key_id_hex(h.key_id, want);
		kdf_key_id_hex(k.kr->keys[0].id, have);
		log_err("%s: key does not match this file (file key id %s, given key id %s)", path, want, have);
		status = EXIT_WRONG_KEY;
		goto out;
	}
	{
		struct content_ctx cctx = { .kr = k.kr, .cipher = k.cipher, .plaintext_allowed = 1,
					    .quiet_blocks = 1, .load_cut = 1 };

		if (content_setup(&cctx) < 0) {
			log_err("crypto library initialisation failed");
			goto out;
		}
	}
	rc = content_load(&c, fd);
	if (rc < 0) {
		if (rc != -EIO)         /* -EIO was logged with its reason */
			log_err("%s: %s", path, strerror(-rc));
		goto out;
	}
	status = cat_encrypted(path, fd, &c, buf);
out:
	content_unload(&c);
	content_teardown();
	if (buf) {
		sodium_memzero(buf, CAT_CHUNK);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	if (storefd >= 0)
		close(storefd);
	tool_keys_free(&k);
	return status;
}
