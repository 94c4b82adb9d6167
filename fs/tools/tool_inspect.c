/*
 * "jetcryptfs inspect": what the header of each backing file says, without
 * a key. Everything shown is public by design (docs/FORMAT.md): key ids
 * and file ids are fingerprints, not secrets.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content.h"
#include "desc.h"
#include "format.h"
#include "kdf.h"
#include "log.h"
#include "status.h"
#include "tool_common.h"
#include "tools.h"

static void usage_inspect(FILE *f)
{
	fprintf(f,
		"usage: jetcryptfs inspect [--json] FILE|DIR...\n"
		"\n"
		"Shows what the header of each backing file says; no key is needed. For each file:\n"
		"whether it is encrypted, the format version, cipher, key id, file id, plaintext\n"
		"size and number of blocks. A directory is walked recursively (symlinks are not\n"
		"followed), and the store descriptor at its root is shown too (its key id,\n"
		"plaintext policy and, for a store with a passphrase, the Argon2id salt and\n"
		"limits; its MAC cannot be checked without the key), and so is its salt file.\n"
		"\n"
		"      --json            one JSON array, one object per file with the fields\n"
		"                        file, type (encrypted, plaintext, empty, damaged,\n"
		"                        descriptor, salt or error), version, cipher, cipher_id,\n"
		"                        key_id, file_id, size, blocks, ciphertext_size, plaintext\n"
		"                        (the descriptor's policy), kdf (an object: alg, t, m_kib,\n"
		"                        salt), error\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 every file was read; 1 a file could not be read (a symlink below\n"
		"its store's directory is never followed), has a damaged header or an impossible\n"
		"size; 2 usage error, or a path inside a jetcryptfs mount (give its backing\n"
		"file or directory).\n");
}

struct insp {
	int json;
	int first;                      /* no JSON object printed yet */
	int bad;                        /* some file could not be read */
};

static void hexstr(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static void json_begin(struct insp *in, const char *path, const char *type)
{
	printf("%s\n  {\"file\": ", in->first ? "[" : ",");
	in->first = 0;
	tool_json_str(stdout, path);
	printf(", \"type\": \"%s\"", type);
}

/* err: an errno, or 0 for a path that is no regular file or directory. */
static void inspect_error(struct insp *in, const char *path, int err)
{
	const char *what = err ? beneath_strerror(err) : "not a regular file or directory";

	in->bad = 1;
	if (in->json) {
		json_begin(in, path, "error");
		printf(", \"error\": ");
		tool_json_str(stdout, what);
		printf("}");
	} else {
		log_err("%s: %s%s", path, err ? "cannot read: " : "", what);
	}
}

/* The salt and limits as JSON (an object) or text. */
static void print_kdf(const struct insp *in, const struct kdf_params *p)
{
	char salt[2 * KDF_SALT_SIZE + 1];

	hexstr(p->salt, KDF_SALT_SIZE, salt);
	if (in->json)
		printf("{\"alg\": \"argon2id\", \"t\": %u, \"m_kib\": %u, \"salt\": \"%s\"}", (unsigned)p->ops,
		       (unsigned)p->mem_kib, salt);
	else
		printf("passphrases stretched with Argon2id t=%u m=%u KiB salt %s", (unsigned)p->ops,
		       (unsigned)p->mem_kib, salt);
}

/* The store descriptor or the salt file, if buf is one. */
static int inspect_desc(struct insp *in, const char *path, const char *buf, size_t len)
{
	char hex[2 * FMT_KEY_ID_SIZE + 1];
	struct kdf_params p;
	struct desc d;

	if (desc_salt_parse(buf, len, &p) == 0) {
		if (in->json) {
			json_begin(in, path, "salt");
			printf(", \"kdf\": ");
			print_kdf(in, &p);
			printf("}");
		} else {
			printf("%s: salt file, ", path);
			print_kdf(in, &p);
			printf("\n");
		}
		return 1;
	}
	if (desc_parse(buf, len, &d) < 0)
		return 0;
	kdf_key_id_hex(d.key_id, hex);
	if (in->json) {
		json_begin(in, path, "descriptor");
		printf(", \"key_id\": \"%s\", \"plaintext\": \"%s\"", hex,
		       d.plaintext_allowed ? "allowed" : "refused");
		if (d.has_kdf) {
			printf(", \"kdf\": ");
			print_kdf(in, &d.kdf);
		}
		printf("}");
	} else {
		printf("%s: store descriptor, key id %s, plaintext %s", path, hex,
		       d.plaintext_allowed ? "allowed" : "refused");
		if (d.has_kdf) {
			printf(", ");
			print_kdf(in, &d.kdf);
		}
		printf(" (MAC not checked without the key)\n");
	}
	return 1;
}

static void inspect_fd(struct insp *in, const char *path, int fd, int is_desc)
{
	uint8_t raw[FMT_HEADER_SIZE];
	char kid[2 * FMT_KEY_ID_SIZE + 1], fid[2 * FMT_FILE_ID_SIZE + 1];
	struct fmt_header h;
	struct stat st;
	uint64_t plain;
	int rc, size_ok;

	if (fstat(fd, &st) < 0) {
		inspect_error(in, path, errno);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		inspect_error(in, path, 0);
		return;
	}
	if (is_desc) {
		char d[DESC_MAX_SIZE];
		ssize_t n = pread(fd, d, sizeof(d), 0);

		if (n < 0) {
			inspect_error(in, path, errno);
			return;
		}
		if (inspect_desc(in, path, d, (size_t)n))
			return;
	}
	rc = content_peek_header(fd, &h, raw);
	if (rc < 0 && rc != -ENODATA && rc != -EBADMSG && rc != -EPROTO) {
		inspect_error(in, path, -rc);
		return;
	}
	if (is_desc && rc == -ENODATA) {
		size_t pl = strlen(path), sl = sizeof(DESC_SALT_NAME) - 1;
		const char *what = pl >= sl && !strcmp(path + pl - sl, DESC_SALT_NAME) ? "salt file"
										      : "store descriptor";

		/* Not plaintext: what a mount or fsck refuses (exit 6). */
		in->bad = 1;
		if (in->json) {
			json_begin(in, path, "damaged");
			printf(", \"error\": \"malformed %s\"}", what);
		} else {
			printf("%s: malformed %s\n", path, what);
		}
		return;
	}
	if (st.st_size == 0) {
		if (in->json) {
			json_begin(in, path, "empty");
			printf(", \"size\": 0, \"ciphertext_size\": 0}");
		} else {
			printf("%s: empty (0 bytes, no header yet)\n", path);
		}
		return;
	}
	if (rc == -ENODATA) {
		if (in->json) {
			json_begin(in, path, "plaintext");
			printf(", \"size\": %lld}", (long long)st.st_size);
		} else {
			printf("%s: not encrypted (plaintext), %lld bytes\n", path, (long long)st.st_size);
		}
		return;
	}
	if (rc == -EBADMSG) {
		in->bad = 1;
		if (in->json) {
			json_begin(in, path, "damaged");
			printf(", \"error\": \"truncated header\", \"ciphertext_size\": %lld}", (long long)st.st_size);
		} else {
			printf("%s: truncated header (JCFS magic, %lld of 32 bytes)\n", path, (long long)st.st_size);
		}
		return;
	}
	if (rc < 0) {
		in->bad = 1;
		if (in->json) {
			json_begin(in, path, "damaged");
			printf(", \"version\": %u, \"cipher_id\": %u, \"ciphertext_size\": %lld}", raw[4], raw[5],
			       (long long)st.st_size);
		} else {
			printf("%s: damaged or unsupported header (JCFS magic, version %u, cipher id %u, reserved %02x%02x)\n",
			       path, raw[4], raw[5], raw[6], raw[7]);
		}
		return;
	}
	hexstr(h.key_id, FMT_KEY_ID_SIZE, kid);
	hexstr(h.file_id, FMT_FILE_ID_SIZE, fid);
	size_ok = fmt_plaintext_size(h.cipher, (uint64_t)st.st_size, &plain) == 0;
	if (!size_ok)
		in->bad = 1;
	if (in->json) {
		json_begin(in, path, "encrypted");
		printf(", \"version\": %u, \"cipher\": \"%s\", \"cipher_id\": %u, \"key_id\": \"%s\", \"file_id\": \"%s\"",
		       h.version, fmt_cipher_name(h.cipher), h.cipher, kid, fid);
		if (size_ok)
			printf(", \"size\": %llu, \"blocks\": %llu", (unsigned long long)plain,
			       (unsigned long long)((plain + FMT_BLOCK_SIZE - 1) / FMT_BLOCK_SIZE));
		else
			printf(", \"size\": null, \"blocks\": null, \"error\": \"impossible ciphertext size\"");
		printf(", \"ciphertext_size\": %lld}", (long long)st.st_size);
	} else if (size_ok) {
		unsigned long long blocks = (plain + FMT_BLOCK_SIZE - 1) / FMT_BLOCK_SIZE;

		printf("%s: encrypted, format %u, cipher %s, key id %s, file id %s, %llu bytes in %llu block%s\n",
		       path, h.version, fmt_cipher_name(h.cipher), kid, fid, (unsigned long long)plain, blocks,
		       blocks == 1 ? "" : "s");
	} else {
		printf("%s: encrypted, format %u, cipher %s, key id %s, file id %s, impossible size: "
		       "%lld ciphertext bytes are not a whole number of blocks\n",
		       path, h.version, fmt_cipher_name(h.cipher), kid, fid, (long long)st.st_size);
	}
}

static void inspect_dir(struct insp *in, const char *dir, int dfd)
{
	struct tool_tree t;
	char err[1024], path[PATH_MAX * 2];
	size_t dlen = strlen(dir);
	int fd;

	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	for (int i = 0; i < 2; i++) {
		const char *name = i ? DESC_SALT_NAME : DESC_NAME;

		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		snprintf(path, sizeof(path), "%.*s/%s", (int)dlen, dir, name);
		if (fd >= 0) {
			inspect_fd(in, path, fd, 1);
			close(fd);
		} else if (errno != ENOENT) {
			inspect_error(in, path, errno == ELOOP ? 0 : errno);   /* ELOOP: a symlink */
		}
	}
	if (tool_tree_walk(dfd, dir, 0, &t, err, sizeof(err)) < 0) {
		log_err("%s", err);
		in->bad = 1;
		return;
	}
	for (size_t i = 0; i < t.nsymlinked; i++) {
		snprintf(path, sizeof(path), "%.*s/%s", (int)dlen, dir, t.symlinked[i]);
		in->bad = 1;
		if (in->json) {
			json_begin(in, path, "error");
			printf(", \"error\": ");
			tool_json_str(stdout, beneath_strerror(ELOOP));
			printf("}");
		} else {
			log_err("%s: %s; its files were not inspected", path, beneath_strerror(ELOOP));
		}
	}
	for (size_t i = 0; i < t.n; i++) {
		snprintf(path, sizeof(path), "%.*s/%s", (int)dlen, dir, t.files[i].rel);
		fd = tool_open_read(dfd, t.files[i].rel);
		if (fd < 0) {
			inspect_error(in, path, errno);
			continue;
		}
		inspect_fd(in, path, fd, 0);
		close(fd);
	}
	tool_tree_free(&t);
}

int cmd_inspect(int argc, char **argv)
{
	struct tool_opts o;
	struct insp in = { .first = 1 };
	int first = tool_parse(argc, argv, TOOL_OPT_JSON, &o, usage_inspect);

	if (first < 0)
		return EXIT_USAGE;
	if (first >= argc) {
		log_usage("inspect", "needs a FILE or BACKING_DIR to inspect");
		return EXIT_USAGE;
	}
	in.json = o.json;
	/* All refused before any is shown. */
	for (int i = first; i < argc; i++)
		if (tool_refuse_mount("inspect", argv[i], 0))
			return EXIT_USAGE;
	for (int i = first; i < argc; i++) {
		const char *path = argv[i], *base = strrchr(path, '/');
		int storefd, fd = tool_open_operand(path, O_RDONLY | O_NONBLOCK, &storefd);  /* a FIFO must not hang us */
		struct stat st;

		if (storefd >= 0)
			close(storefd);
		if (fd < 0 || fstat(fd, &st) < 0) {
			inspect_error(&in, path, fd < 0 ? -fd : errno);
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (S_ISDIR(st.st_mode))
			inspect_dir(&in, path, fd);
		else if (S_ISREG(st.st_mode))
			inspect_fd(&in, path, fd, !strcmp(base ? base + 1 : path, DESC_NAME) ||
					       !strcmp(base ? base + 1 : path, DESC_SALT_NAME));
		else
			inspect_error(&in, path, 0);
		close(fd);
	}
	if (in.json)
		printf("%s\n", in.first ? "[]" : "\n]");
	return in.bad ? EXIT_FAIL : EXIT_OK;
}
