/*
 * "jetcryptfs fsck": read-only verification of a whole backing directory.
 * A first pass reads every header (so that a key that fits no file is
 * named before any block is read), a second authenticates every block of
 * every file under a given key through the content module's read path
 * (content_verify), naming each bad block rather than the first one only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sodium.h>

#include "content.h"
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

#define FSCK_CHUNK_BLOCKS 64

static void usage_fsck(FILE *f)
{
	fprintf(f,
		"usage: jetcryptfs fsck [-c FILE] [--key-env NAME|--key-file FILE] [--allow-weak-key]\n"
		"                       [--json] [--quiet] [--strict] [BACKING_DIR]\n"
		"\n"
		"Verifies, read-only, that every block of every file in BACKING_DIR authenticates\n"
		"under the given key (and prev_key), and so does every user.* xattr value of\n"
		"every file and directory. Reports, one line each, every bad block\n"
		"(FILE: block N: problem) and bad xattr value (FILE: xattr NAME: problem),\n"
		"plaintext files and xattr values in a strict store, files encrypted under a key\n"
		"id that was not given, damaged headers, impossible sizes, symlinks whose target\n"
		"is plaintext (made before symlink encryption, or planted) or does not\n"
		"authenticate, FIFO and socket markers that do not authenticate, device nodes,\n"
		"FIFOs and sockets of a strict store's backing directory (hidden from the\n"
		"mount), and a damaged or forged store descriptor. Noted but not problems: a\n"
		"missing descriptor (the next mount re-creates it), files and values still under\n"
		"prev_key or the other cipher (rekey converts them), plaintext files and values\n"
		"of an adopted store (encrypt converts them), temp files left by an interrupted\n"
		"encrypt or rekey (the next run removes them). It may run while the store is\n"
		"mounted; a file being written at that moment can show a problem that a second\n"
		"run does not. BACKING_DIR defaults to the config's backing_dir.\n"
		"\n"
		"  -c, --config FILE     NATS-syntax config with a jetstream { } block\n"
		"      --key-env NAME    read the key from $NAME (default: config key/tpm, then $JS_KEY)\n"
		"      --key-file FILE   read the key from FILE (e.g. a systemd credential)\n"
		"      --allow-weak-key  use a key that looks guessable (refused otherwise, exit 20;\n"
		"                        also the config's allow_weak_key: true)\n"
		"      --json            one JSON object: backing, status, clean, descriptor, the\n"
		"                        counts files, encrypted, plaintext, empty, blocks,\n"
		"                        under_previous_key, other_cipher, temp_files, symlinks,\n"
		"                        fifos_sockets (markers), raw_fifos_sockets, xattr_values,\n"
		"                        xattr_plaintext, xattr_under_previous_key, and problems\n"
		"                        [{file, block (or null), problem}]\n"
		"  -q, --quiet           no progress bar (there is none when stderr is not a terminal)\n"
		"      --strict          the store must be strict: plaintext files and values\n"
		"                        and a descriptor that allows them are problems (also the\n"
		"                        config's strict: true)\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 clean; 1 problems found (each listed); 2 usage or config error,\n"
		"or a path inside a jetcryptfs mount (give its backing directory); 3 no key given;\n"
		"4 key does not match this store (the descriptor's key id, or that of every\n"
		"encrypted file, is not among the given keys; both named), or a retired\n"
		"key id that files are still under (rotated out, not yet rekeyed) is not given;\n"
		"6 the store descriptor is damaged or fails authentication (other problems are\n"
		"listed too); 10-19 TPM errors; 20 the key looks guessable.\n");
}

enum cls { CLS_EMPTY, CLS_PLAIN, CLS_DAMAGED, CLS_FOREIGN, CLS_OURS, CLS_ERROR };

struct problem {
	char *file;
	long long block;                /* -1: the file as a whole */
	char *what;
};

struct fsck {
	const char *backing;
	int rootfd;
	const struct keyring *kr;
	int cipher;                     /* the configured cipher */
	int json;
	int strict;                     /* plaintext files are problems */
	struct progress prog;
	struct problem *probs;
	size_t nprobs, capprobs;
	unsigned long files, encrypted, plaintext, empty, prev_key, other_cipher, foreign;
	unsigned long plaintext_linked;        /* of those plaintext files, with hard links */
	unsigned long links, markers, raw_nodes;  /* symlinks, FIFO/socket markers, raw ones shown */
	unsigned long long blocks;
	struct xattr_counts xc;         /* user.* values of files and directories */
};

static void problem(struct fsck *f, const char *rel, long long block, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void problem(struct fsck *f, const char *rel, long long block, const char *fmt, ...)
{
	char what[512], file[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(file, sizeof(file), "%s/%s", f->backing, rel);
	if (f->nprobs == f->capprobs) {
		size_t cap = f->capprobs ? 2 * f->capprobs : 16;
		struct problem *p = realloc(f->probs, cap * sizeof(*p));

		if (!p) {
			log_err("out of memory");
			exit(EXIT_FAIL);
		}
		f->probs = p;
		f->capprobs = cap;
	}
	f->probs[f->nprobs].file = strdup(file);
	f->probs[f->nprobs].what = strdup(what);
	f->probs[f->nprobs].block = block;
	if (!f->probs[f->nprobs].file || !f->probs[f->nprobs].what) {
		log_err("out of memory");
		exit(EXIT_FAIL);
	}
	f->nprobs++;
	if (!f->json) {
		progress_clear(&f->prog);
		if (block >= 0)
			printf("%s: block %lld: %s\n", file, block, what);
		else
			printf("%s: %s\n", file, what);
		fflush(stdout);
	}
}

/* What the header of one file says (first pass). */
static enum cls classify(struct fsck *f, const struct tool_file *tf, int *errnum,
			 const struct keyring_key **key, struct fmt_header *h)
{
	int fd, rc;

	if (tf->st.st_size == 0)
		return CLS_EMPTY;
	fd = tool_open_read(f->rootfd, tf->rel);
	if (fd < 0) {
		*errnum = errno;
		return CLS_ERROR;
	}
	rc = content_peek_header(fd, h, NULL);
	close(fd);
	if (rc == -ENODATA)
		return CLS_PLAIN;
	*errnum = -rc;
	if (rc == -EBADMSG || rc == -EPROTO)
		return CLS_DAMAGED;
	if (rc < 0)
		return CLS_ERROR;
	*key = keyring_find(f->kr, h->key_id);
	return *key ? CLS_OURS : CLS_FOREIGN;
}

/* Counts a file's use of a key other than the current one and of another
 * cipher: what rekey would convert. */
static void count_key(struct fsck *f, const struct keyring_key *k, int cipher)
{
	if (k != &f->kr->keys[0])
		f->prev_key++;
	if (cipher != f->cipher)
		f->other_cipher++;
}

/* A regular file whose header is not a file's: a FIFO or socket marker
 * (crypto/node.h), whose one block must authenticate. */
static void verify_marker(struct fsck *f, const struct tool_file *tf, const struct keyring_key *k,
			  const struct fmt_header *h, int fd)
{
	uint8_t buf[NODE_MARKER_MAX + 1];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	int rc;

	f->encrypted++;
	if (h->node != FMT_NODE_FIFO && h->node != FMT_NODE_SOCKET) {
		problem(f, tf->rel, -1, "regular file with the header of a %s: damaged", fmt_node_name(h->node));
		return;
	}
	rc = n < 0 ? -errno : node_marker_verify(k->master, h, buf, (size_t)n);
	if (rc == -EINVAL)
		problem(f, tf->rel, -1, "%s marker of %zd bytes (a marker has %zu): damaged", fmt_node_name(h->node),
			n, node_marker_size(h->cipher));
	else if (rc == -EBADMSG)
		problem(f, tf->rel, -1, "%s marker: authentication failed", fmt_node_name(h->node));
	else if (rc < 0)
		problem(f, tf->rel, -1, "cannot read: %s", strerror(-rc));
	f->markers++;
	count_key(f, k, h->cipher);
}

/* Reports a bad block of tf that content_verify found; 1 if the rest of
 * the file is not worth reading. */
static int bad_block(struct fsck *f, const struct tool_file *tf, uint64_t b, int rc)
{
	if (rc == -ENODATA) {
		problem(f, tf->rel, (long long)b, "missing (the file is shorter than its size says)");
		return 1;
	}
	if (rc == -EBADMSG)
		problem(f, tf->rel, (long long)b, "authentication failed");
	else
		problem(f, tf->rel, (long long)b, "cannot be decrypted: %s", strerror(-rc));
	f->blocks++;
	return 0;
}

/* Authenticates every block of one file under key k (second pass). */
static void verify(struct fsck *f, const struct tool_file *tf, const struct keyring_key *k)
{
	struct content c = { 0 };
	struct fmt_header h;
	struct stat st;
	uint64_t nblocks, b = 0;
	int fd, rc;

	fd = tool_open_read(f->rootfd, tf->rel);
	if (fd < 0 || fstat(fd, &st) < 0) {
		problem(f, tf->rel, -1, "cannot read: %s", beneath_strerror(errno));
		goto out;
	}
	if (content_peek_header(fd, &h, NULL) < 0) {
		problem(f, tf->rel, -1, "header changed or unreadable while checking");
		goto out;
	}
	if (h.node != FMT_NODE_FILE) {
		verify_marker(f, tf, k, &h, fd);
		goto out;
	}
	/* A file cut inside a block loads with its whole blocks (load_cut):
	 * they are still worth checking. */
	rc = content_load(&c, fd);
	if (rc == 0 && c.kind != CONTENT_ENCRYPTED)
		rc = -EIO;
	if (rc < 0) {
		problem(f, tf->rel, -1, "%s", rc == -EIO ? "header changed or unreadable while checking"
							 : "cannot derive the file key");
		goto out;
	}
	nblocks = (c.size + FMT_BLOCK_SIZE - 1) / FMT_BLOCK_SIZE;
	f->encrypted++;
	count_key(f, k, h.cipher);

	while (b < nblocks) {
		uint64_t from = b, end = nblocks - b < FSCK_CHUNK_BLOCKS ? nblocks : b + FSCK_CHUNK_BLOCKS;
		int stop = 0;

		rc = content_verify(&c, fd, &b, end);
		f->blocks += b - from;
		if (rc < 0) {
			stop = bad_block(f, tf, b, rc);
			b++;
		}
		progress_add(&f->prog, (b - from) * fmt_stored_block_size(c.cipher));
		if (stop)
			break;
	}
	if (c.cut)
		problem(f, tf->rel, (long long)nblocks,
			"truncated: %lld ciphertext bytes are not a whole number of blocks", (long long)st.st_size);
out:
	content_unload(&c);
	if (fd >= 0)
		close(fd);
}

struct xattr_bad {
	struct fsck *f;
	const char *rel;
};

static void xattr_bad(void *arg, const char *name, const char *why)
{
	struct xattr_bad *b = arg;

	problem(b->f, b->rel, -1, "xattr %s: %s", name, why);
}

/* Authenticates the user.* values of every file and directory in list
 * (pass 4). */
static void verify_xattrs(struct fsck *f, const struct tool_file *list, size_t n)
{
	for (size_t i = 0; i < n && !tool_interrupted(); i++) {
		struct xattr_bad b = { f, list[i].rel };
		int fd = beneath_open(f->rootfd, list[i].rel, O_PATH, 0), rc;

		if (fd < 0) {
			if (fd != -ENOENT)
				problem(f, list[i].rel, -1, "cannot open to check its xattrs: %s",
					beneath_strerror(-fd));
			continue;
		}
		rc = xattr_verify(fd, f->strict, &f->xc, xattr_bad, &b);
		if (rc < 0 && rc != -ENOENT)
			problem(f, list[i].rel, -1, "cannot list its xattrs: %s", strerror(-rc));
		close(fd);
	}
}

/* A symlink target for a one-line message: control characters as '?'. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A symlink: its target must be one of ours that authenticates. */
static void check_link(struct fsck *f, const struct tool_file *tf)
{
	char stored[NODE_LINK_STORED_MAX + 2], target[NODE_LINK_STORED_MAX + 1], hex[2 * FMT_KEY_ID_SIZE + 1];
	struct fmt_header h;
	const char *base;
	size_t len;
	ssize_t n;
	int rc, dfd = tool_open_parent(f->rootfd, tf->rel, &base);

	if (dfd < 0) {
		problem(f, tf->rel, -1, "cannot open its directory: %s", beneath_strerror(-dfd));
		return;
	}
	n = readlinkat(dfd, base, stored, sizeof(stored) - 1);
	if (n < 0)
		problem(f, tf->rel, -1, "cannot read symlink: %s", strerror(errno));
	close(dfd);
	if (n < 0)
		return;
	stored[n] = '\0';
	f->links++;
	rc = n > NODE_LINK_STORED_MAX ? -ENODATA :
		content_link_decrypt(f->kr, stored, (size_t)n, target, sizeof(target), &len, &h);
	sodium_memzero(target, sizeof(target));
	if (rc == 0) {
		count_key(f, keyring_find(f->kr, h.key_id), h.cipher);
	} else if (rc == -ENODATA) {
		printable(stored);
		problem(f, tf->rel, -1, "plaintext symlink -> %s: made before symlink encryption, or planted; "
			"check it, then run jetcryptfs encrypt", stored);
	} else if (rc == -ENOKEY) {
		kdf_key_id_hex(h.key_id, hex);
		problem(f, tf->rel, -1, "symlink target encrypted under key id %s, which is not among the given keys",
			hex);
	} else {
		problem(f, tf->rel, -1, "%s", content_link_strerror(rc));
	}
}

/* Every node that is neither a regular file nor a directory (third
 * pass): symlinks, and what the mount hides as not made through it. */
static void check_nodes(struct fsck *f, const struct tool_tree *t)
{
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct tool_file *tf = &t->nodes[i];
		mode_t m = tf->st.st_mode;

		if (S_ISLNK(m)) {
			check_link(f, tf);
		} else if (S_ISCHR(m) || S_ISBLK(m)) {
			problem(f, tf->rel, -1, "%s device node %u:%u in the backing directory (never made through "
				"jetcryptfs): hidden from the mount; remove it", S_ISCHR(m) ? "character" : "block",
				major(tf->st.st_rdev), minor(tf->st.st_rdev));
		} else if (!f->strict) {
			f->raw_nodes++;
		} else {
			problem(f, tf->rel, -1, "%s in a strict store's backing directory (not made through jetcryptfs): "
				"hidden from the mount; remove it", S_ISFIFO(m) ? "FIFO" : "socket");
		}
	}
}

/* The descriptor: 0 fine or missing, 1 damaged/forged, or
 * JCFS_E_WRONG_KEY after printing why. Sets *state and f->strict. */
static int check_desc(struct fsck *f, const char **state, struct desc *d)
{
	char what[128], want[2 * FMT_KEY_ID_SIZE + 1], err[1024];
	const struct keyring_key *k;
	int rc = store_load_desc(f->rootfd, f->kr, d, &k, what, sizeof(what));

	if (rc == -ENOENT) {
		*state = "missing";
		return 0;
	}
	if (rc == JCFS_E_WRONG_KEY) {
		if (store_key_mismatch(f->rootfd, f->backing, f->kr, d, err, sizeof(err)) == JCFS_E_WRONG_KEY) {
			log_err("%s", err);
			return JCFS_E_WRONG_KEY;
		}
		/* Every file is under the given key: check them, and count
		 * the descriptor as the problem it is. */
		kdf_key_id_hex(d->key_id, want);
		*state = "forged";
		f->strict = 1;
		problem(f, DESC_NAME, -1, "store descriptor names key id %s, but every encrypted file is under "
			"the given key: damaged or replaced", want);
		return 1;
	}
	if (rc < 0) {
		/* Its policy can be neither read nor trusted. */
		*state = rc != JCFS_E_BAD_DESC ? "unreadable" : k ? "forged" : "malformed";
		f->strict = 1;
		problem(f, DESC_NAME, -1, "%s", what);
		return 1;
	}
	rc = store_check_retired(f->backing, f->kr, d, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		return rc;
	}
	*state = "ok";
	f->strict = !d->plaintext_allowed;
	return 0;
}

static void report_json(struct fsck *f, int status, const char *dstate, const struct desc *d,
			unsigned long tmp)
{
	char hex[2 * FMT_KEY_ID_SIZE + 1];

	printf("{\n  \"backing\": ");
	tool_json_str(stdout, f->backing);
	printf(",\n  \"status\": %d,\n  \"clean\": %s,\n  \"descriptor\": {\"state\": \"%s\"", status,
	       status == 0 ? "true" : "false", dstate);
	if (!strcmp(dstate, "ok") || !strcmp(dstate, "forged")) {
		kdf_key_id_hex(d->key_id, hex);
		printf(", \"key_id\": \"%s\", \"plaintext\": \"%s\", \"retired\": [", hex,
		       d->plaintext_allowed ? "allowed" : "refused");
		for (unsigned i = 0; i < d->nretired; i++) {
			kdf_key_id_hex(d->retired[i], hex);
			printf("%s\"%s\"", i ? ", " : "", hex);
		}
		printf("]");
	}
	printf("},\n  \"files\": %lu, \"encrypted\": %lu, \"plaintext\": %lu, \"empty\": %lu, \"blocks\": %llu,\n"
	       "  \"under_previous_key\": %lu, \"other_cipher\": %lu, \"temp_files\": %lu,\n"
	       "  \"symlinks\": %lu, \"fifos_sockets\": %lu, \"raw_fifos_sockets\": %lu,\n"
	       "  \"xattr_values\": %lu, \"xattr_plaintext\": %lu, \"xattr_under_previous_key\": %lu,\n"
	       "  \"problems\": [",
	       f->files, f->encrypted, f->plaintext, f->empty, f->blocks, f->prev_key, f->other_cipher, tmp,
	       f->links, f->markers, f->raw_nodes, f->xc.values, f->xc.plaintext, f->xc.prev_key);
	for (size_t i = 0; i < f->nprobs; i++) {
		printf("%s\n    {\"file\": ", i ? "," : "");
		tool_json_str(stdout, f->probs[i].file);
		if (f->probs[i].block >= 0)
			printf(", \"block\": %lld, \"problem\": ", f->probs[i].block);
		else
			printf(", \"block\": null, \"problem\": ");
		tool_json_str(stdout, f->probs[i].what);
		printf("}");
	}
	printf("%s]\n}\n", f->nprobs ? "\n  " : "");
}

static void report_text(struct fsck *f, const char *dstate, const struct desc *d, unsigned long tmp)
{
	char hex[2 * FMT_KEY_ID_SIZE + 1];

	printf("%s: %lu files: %lu encrypted (%llu blocks checked), %lu empty, %lu plaintext; %lu symlinks: ",
	       f->backing, f->files, f->encrypted, f->blocks, f->empty, f->plaintext, f->links);
	if (f->nprobs)
		printf("%zu problem%s\n", f->nprobs, f->nprobs == 1 ? "" : "s");
	else
		printf("clean\n");
	if (!strcmp(dstate, "missing"))
		printf("note: no store descriptor (%s); the next mount re-creates it\n", DESC_NAME);
	/* The salt's second copy, which a store with a passphrase needs if
	 * the descriptor is lost; fsck only reads, the mount writes it. */
	if (f->kr->has_kdf && faccessat(f->rootfd, DESC_SALT_NAME, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		printf("note: no salt file (%s); the next mount re-creates it from the store descriptor\n",
		       DESC_SALT_NAME);
	/* Each retired key is still needed, beside the current one, until a
	 * rekey moves its files over. */
	for (unsigned i = 0; !strcmp(dstate, "ok") && i < d->nretired; i++) {
		kdf_key_id_hex(d->retired[i], hex);
		printf("note: key id %s is retired: a mount needs it too (prev_key) until jetcryptfs rekey\n", hex);
	}
	if (f->plaintext && !f->strict && !strcmp(dstate, "missing"))
		printf("note: %lu plaintext files and no descriptor: a mount needs --adopt (check that they belong "
		       "here)\n", f->plaintext);
	else if (f->plaintext && !f->strict && f->plaintext_linked)
		printf("note: %lu plaintext files (adopted store); 'jetcryptfs encrypt' converts them, except the %lu "
		       "with more than one hard link: give each one name first\n", f->plaintext, f->plaintext_linked);
	else if (f->plaintext && !f->strict)
		printf("note: %lu plaintext files (adopted store); 'jetcryptfs encrypt' converts them\n", f->plaintext);
	if (f->xc.values || f->xc.plaintext)
		printf("%s: %lu user.* xattr values: %lu encrypted, %lu plaintext\n", f->backing,
		       f->xc.values + f->xc.plaintext, f->xc.values, f->xc.plaintext);
	if (f->xc.plaintext && !f->strict)
		printf("note: %lu plaintext user.* xattr values (adopted store); 'jetcryptfs encrypt' encrypts them\n",
		       f->xc.plaintext);
	if (f->raw_nodes)
		printf("note: %lu FIFOs or sockets of the backing directory are shown through the mount (adopted store)\n",
		       f->raw_nodes);
	if (f->prev_key)
		printf("note: %lu files or symlinks are under a previous key; 'jetcryptfs rekey' converts them\n",
		       f->prev_key);
	if (f->xc.prev_key)
		printf("note: %lu user.* xattr values are under a previous key; 'jetcryptfs rekey' converts them\n",
		       f->xc.prev_key);
	if (f->other_cipher)
		printf("note: %lu files use another cipher than %s\n", f->other_cipher, fmt_cipher_name(f->cipher));
	if (tmp)
		printf("note: %lu temp file%s of an interrupted encrypt or rekey; its next run removes them\n", tmp,
		       tmp == 1 ? "" : "s");
}

int cmd_fsck(int argc, char **argv)
{
	struct tool_opts o;
	struct tool_keys k;
	struct tool_tree t = { 0 };
	struct fsck f = { .rootfd = -1 };
	struct desc d = { 0 };
	const char *backing = NULL, *dstate = "missing";
	enum cls *cls = NULL;
	const struct keyring_key **keys = NULL;
	uint64_t total = 0;
	unsigned long ours = 0;
	char err[1024];
	int status, desc_bad;

	status = tool_start_dir(argc, argv, TOOL_OPT_KEYS | TOOL_OPT_JSON | TOOL_OPT_QUIET | TOOL_OPT_STRICT,
				usage_fsck, &o, &k, &backing);
	if (status)
		goto out;
	status = EXIT_FAIL;
	f.backing = backing;
	f.kr = k.kr;
	f.cipher = k.cipher;
	f.json = o.json;
	f.rootfd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f.rootfd < 0) {
		log_err("%s: cannot open backing directory: %s", backing, strerror(errno));
		goto out;
	}
	{
		/* Bad blocks are fsck's to report, and a file cut inside a
		 * block still has whole blocks to check. */
		struct content_ctx cctx = { .kr = k.kr, .cipher = k.cipher, .plaintext_allowed = 1,
					    .quiet_blocks = 1, .load_cut = 1 };
		struct content_ctx xctx = { .kr = k.kr, .cipher = k.cipher };

		if (content_setup(&cctx) < 0) {
			log_err("cannot set up the crypto library");
			goto out;
		}
		xattr_setup(&xctx);
	}
	desc_bad = check_desc(&f, &dstate, &d);
	if (desc_bad < 0) {
		status = status_of_error(desc_bad);
		goto out;
	}
	if (k.strict) {
		/* The operator's word outranks a descriptor, which may be
		 * an old one put back. */
		if (!desc_bad && d.plaintext_allowed)
			problem(&f, DESC_NAME, -1, "store descriptor allows plaintext files, but strict was asked "
				"(not yet encrypted, or an old descriptor or another store's put back)");
		f.strict = 1;
	}
	if (tool_tree_walk(f.rootfd, backing, 0, &t, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	for (size_t i = 0; i < t.nsymlinked; i++)
		problem(&f, t.symlinked[i], -1, "%s; its files were not checked", beneath_strerror(ELOOP));
	cls = calloc(t.n + 1, sizeof(*cls));
	keys = calloc(t.n + 1, sizeof(*keys));
	if (!cls || !keys) {
		log_err("out of memory");
		goto out;
	}

	/* Pass 1: headers. */
	for (size_t i = 0; i < t.n; i++) {
		struct fmt_header h;
		int errnum = 0;

		cls[i] = classify(&f, &t.files[i], &errnum, &keys[i], &h);
		f.files++;
		switch (cls[i]) {
		case CLS_EMPTY: f.empty++; break;
		case CLS_PLAIN:
			f.plaintext++;
			f.plaintext_linked += t.files[i].st.st_nlink > 1;
			break;
		case CLS_FOREIGN: f.foreign++; break;
		case CLS_OURS: ours++; total += (uint64_t)t.files[i].st.st_size; break;
		default: break;
		}
	}
	if (!strcmp(dstate, "missing") && f.foreign && !ours) {
		log_err("%s: key does not match this store (no descriptor, and none of its %lu encrypted files is under the given key)",
			backing, f.foreign);
		status = EXIT_WRONG_KEY;
		goto out;
	}

	/* Pass 2: blocks. A signal stops it between two files. */
	tool_signals_catch();
	progress_start(&f.prog, "fsck", total, ours, o.quiet || o.json);
	for (size_t i = 0; i < t.n && !tool_interrupted(); i++) {
		struct fmt_header h;
		const struct keyring_key *kk = NULL;
		int errnum = 0;
		char hex[2 * FMT_KEY_ID_SIZE + 1];

		switch (cls[i]) {
		case CLS_PLAIN:
			if (f.strict)
				problem(&f, t.files[i].rel, -1, "not encrypted (plaintext file in a strict store)");
			break;
		case CLS_DAMAGED:
			(void)classify(&f, &t.files[i], &errnum, &kk, &h);
			problem(&f, t.files[i].rel, -1, "%s", fmt_header_strerror(-errnum));
			break;
		case CLS_ERROR:
			(void)classify(&f, &t.files[i], &errnum, &kk, &h);
			problem(&f, t.files[i].rel, -1, "cannot read: %s", beneath_strerror(errnum));
			break;
		case CLS_FOREIGN:
			if (classify(&f, &t.files[i], &errnum, &kk, &h) == CLS_FOREIGN) {
				kdf_key_id_hex(h.key_id, hex);
				problem(&f, t.files[i].rel, -1, "encrypted under key id %s, which is not among the given keys",
					hex);
			}
			break;
		case CLS_OURS:
			verify(&f, &t.files[i], keys[i]);
			progress_item(&f.prog);
			break;
		default:
			break;
		}
	}
	progress_end(&f.prog);
	if (!tool_interrupted())
		check_nodes(&f, &t);
	/* Pass 4: xattr values. */
	verify_xattrs(&f, t.files, t.n);
	verify_xattrs(&f, t.dirs, t.ndirs);
	if (tool_interrupted()) {
		log_err("%s: interrupted; the report is incomplete", backing);
		status = 128 + tool_interrupted();
		goto out;
	}
	status = desc_bad ? EXIT_BAD_STORE : f.nprobs ? EXIT_FAIL : EXIT_OK;
	if (o.json)
		report_json(&f, status, dstate, &d, t.tmp_files);
	else
		report_text(&f, dstate, &d, t.tmp_files);
out:
	for (size_t i = 0; i < f.nprobs; i++) {
		free(f.probs[i].file);
		free(f.probs[i].what);
	}
	free(f.probs);
	free(cls);
	free(keys);
	tool_tree_free(&t);
	content_teardown();
	if (f.rootfd >= 0)
		close(f.rootfd);
	tool_keys_free(&k);
	return status;
}
