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
#include "desc.h"
#include "format.h"
#include "kdf.h"
#include "log.h"
#include "progress.h"
#include "status.h"
#include "store.h"
#include "tool_common.h"
#include "tools.h"

#define CONV_CHUNK (256 * FMT_BLOCK_SIZE)

/* Test hook: milliseconds to sleep after each chunk written, so that a
 * test can kill a run part-way through a small tree. */
#define CONV_DELAY_ENV "JETCRYPTFS_TEST_DELAY_MS"

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
		"becoming strict. SIGINT, SIGTERM and SIGHUP stop the run at the next safe point.\n"
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
		"Exit status: 0 every plaintext file is encrypted and the store is strict;\n"
		"1 some files could not be converted (each named; run again after fixing them);\n"
		"2 usage or config error; 3 no key given; 4 key does not match this store;\n"
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
		"Re-encrypts every file that is not under the current key and cipher: files\n"
		"readable only through the config's prev_key, and files written with the other\n"
		"cipher. The current key is the one mount would use (--key-env NAME or\n"
		"--key-file FILE, else the config's key or tpm { } block, else $JS_KEY); the old\n"
		"key comes from the config's prev_key. Files\n"
		"are converted as by encrypt: temp file beside each (" STORE_TMP_PREFIX "<16 hex>),\n"
		"mode, owner and times kept, fsync, rename, directory fsync; a killed run can be\n"
		"run again and finishes the job. The store descriptor moves to the current key\n"
		"(as on a mount with prev_key) and records the old key id as retired: until rekey\n"
		"has converted every file, a mount or fsck without that key is refused (exit 4).\n"
		"Once rekey has finished, the retired key ids are cleared, prev_key can be\n"
		"dropped and a mount with the old key alone is refused (exit 4). A store whose\n"
		"passphrase is still used unstretched (made before jetcryptfs stretched\n"
		"passphrases with Argon2id) is moved to the stretched derivation the same way:\n"
		"a new salt, every file re-encrypted, the old key id retired and then cleared;\n"
		"the same passphrase opens it afterwards, its unstretched form no longer does.\n"
		"Plaintext files of an adopted store are left to 'jetcryptfs encrypt'. The store\n"
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
		"Exit status: 0 every encrypted file is under the current key and cipher; 1 some\n"
		"files could not be converted (each named: a key id that was not given, a bad\n"
		"block, a read or write error); 2 usage or config error; 3 no key given; 4 key\n"
		"does not match this store, or a retired key that files are still under is not\n"
		"given; 6 damaged store descriptor; 7 the store is mounted or another jetcryptfs\n"
		"command is working on it; 8 strict asked, the store allows plaintext files;\n"
		"10-19 TPM errors; 20 the key looks guessable; 128+N stopped by signal N (run\n"
		"again to finish).\n");
}

struct conv {
	const char *backing;
	int rootfd;
	int rekey;
	const struct keyring *kr;
	int cipher;
	unsigned delay_ms;
	struct progress prog;
	uint8_t *buf;
	unsigned long done, failed;
	uint64_t bytes;
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

static void tmp_name(char out[STORE_TMP_NAME_LEN + 1])
{
	uint8_t r[8];

	randombytes_buf(r, sizeof(r));
	memcpy(out, STORE_TMP_PREFIX, sizeof(STORE_TMP_PREFIX) - 1);
	for (size_t i = 0; i < sizeof(r); i++)
		sprintf(out + sizeof(STORE_TMP_PREFIX) - 1 + 2 * i, "%02x", r[i]);
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

/* Converts one file. 0 done or nothing to do, 1 failed (reported), or the
 * signal that stopped it. */
static int convert_one(struct conv *cv, const struct tool_file *tf)
{
	struct content sc = { 0 }, dc = { 0 };
	char tmp[STORE_TMP_NAME_LEN + 1];
	const char *base;
	struct stat st;
	uint64_t off = 0;
	int dfd, src = -1, dst = -1, rc, ret = 1;

	dfd = tool_open_parent(cv->rootfd, tf->rel, &base);
	if (dfd < 0) {
		conv_fail(cv, tf->rel, "cannot open its directory: %s", strerror(-dfd));
		return 1;
	}
	tmp[0] = '\0';
	src = tool_open_read(dfd, base);
	if (src < 0 || fstat(src, &st) < 0) {
		conv_fail(cv, tf->rel, "%s", strerror(errno));
		goto out;
	}
	rc = content_load(&sc, src);
	if (rc < 0) {
		conv_fail(cv, tf->rel, "cannot be read: %s", strerror(-rc));
		goto out;
	}
	if (!needs_work(cv, &sc)) {
		ret = 0;        /* changed since the walk: done by now */
		goto out;
	}
	tmp_name(tmp);
	dst = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0) {
		conv_fail(cv, tf->rel, "cannot create temp file %s: %s", tmp, strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	rc = content_load(&dc, dst);
	if (rc < 0) {
		conv_fail(cv, tf->rel, "temp file %s: %s", tmp, strerror(-rc));
		goto out;
	}
	for (;;) {
		ssize_t n = content_read(&sc, src, cv->buf, CONV_CHUNK, off), w;

		if (n < 0) {
			conv_fail(cv, tf->rel, "cannot be read past byte %llu: %s%s; not converted",
				  (unsigned long long)off, strerror((int)-n),
				  n == -EIO ? " (the bad block is named above)" : "");
			goto out;
		}
		if (n == 0)
			break;
		w = content_write(&dc, dst, cv->buf, (size_t)n, off);
		if (w < 0) {
			conv_fail(cv, tf->rel, "cannot write temp file %s: %s", tmp, strerror((int)-w));
			goto out;
		}
		off += (uint64_t)n;
		progress_add(&cv->prog, (uint64_t)n);
		if (cv->delay_ms) {
			struct timespec ts = { cv->delay_ms / 1000, (long)(cv->delay_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (tool_interrupted()) {
			ret = tool_interrupted();
			goto out;
		}
	}
	if (off != sc.size) {
		conv_fail(cv, tf->rel, "changed size while being converted; not converted");
		goto out;
	}
	/* Owner before mode (chown may clear set-id bits), times last. */
	{
		struct timespec times[2] = { st.st_atim, st.st_mtim };

		if (fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0 ||
		    futimens(dst, times) < 0) {
			conv_fail(cv, tf->rel, "cannot keep owner, mode and times: %s", strerror(errno));
			goto out;
		}
	}
	if (fsync(dst) < 0) {
		conv_fail(cv, tf->rel, "fsync of temp file: %s", strerror(errno));
		goto out;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		conv_fail(cv, tf->rel, "cannot rename the temp file over it: %s", strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if (fsync(dfd) < 0) {
		conv_fail(cv, tf->rel, "fsync of its directory: %s", strerror(errno));
		goto out;
	}
	cv->done++;
	cv->bytes += off;
	ret = 0;
out:
	content_unload(&sc);
	content_unload(&dc);
	if (dst >= 0)
		close(dst);
	if (tmp[0])
		(void)unlinkat(dfd, tmp, 0);
	if (src >= 0)
		close(src);
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
		uint8_t raw[FMT_HEADER_SIZE];
		struct fmt_header h;
		char hex[2 * FMT_KEY_ID_SIZE + 1];
		uint64_t plain;
		ssize_t n;
		int fd, rc;

		chosen[i] = 0;
		if (tf->st.st_size == 0)
			continue;
		fd = tool_open_read(cv->rootfd, tf->rel);
		if (fd < 0) {
			conv_fail(cv, tf->rel, "%s", strerror(errno));
			continue;
		}
		n = pread(fd, raw, sizeof(raw), 0);
		close(fd);
		if (n < 0) {
			conv_fail(cv, tf->rel, "%s", strerror(errno));
			continue;
		}
		rc = fmt_header_decode(&h, raw, (size_t)n);
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
		if (rc < 0) {
			log_warn("%s/%s: %s; left as it is", cv->backing, tf->rel, fmt_header_strerror(rc));
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
		chosen[i] = 1;
		if (fmt_plaintext_size(h.cipher, (uint64_t)tf->st.st_size, &plain) == 0)
			*total += plain;
	}
	for (size_t i = 0; i < t->n; i++)
		*nchosen += (unsigned long)chosen[i];
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
	delay = getenv(CONV_DELAY_ENV);
	if (delay)
		cv.delay_ms = (unsigned)strtoul(delay, NULL, 10);

	/* encrypt adopts a directory that was never mounted; a store that
	 * has a descriptor keeps its own policy. Under strict, a store that
	 * allows plaintext files is refused: encrypting them would bless
	 * files planted under a descriptor put back. */
	if (!rekey && !k.strict) {
		char desc[4096];

		snprintf(desc, sizeof(desc), "%s/%s", backing, DESC_NAME);
		adopt = access(desc, F_OK) < 0 && errno == ENOENT;
	}
	rc = store_open(backing, k.kr, (adopt ? STORE_ADOPT : 0) | (k.strict ? STORE_STRICT : 0), &st, err,
			sizeof(err));
	if (rc < 0) {
		status = store_exit_status(rc);
		log_err("%s%s", err, rc == STORE_E_BUSY ? "; unmount it first" : "");
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
	}
	cv.buf = malloc(CONV_CHUNK);
	if (!cv.buf) {
		log_err("out of memory");
		goto out;
	}
	if (tool_tree_walk(st.dir_fd, backing, 1, &t, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	if (t.tmp_files && !o.quiet)
		log_info("%s: removed %lu temp files of an interrupted run", backing, t.tmp_files);
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
		rc = convert_one(&cv, &t.files[i]);
		if (rc > 1)
			sig = rc;
		progress_item(&cv.prog);
	}
	if (!sig)
		sig = tool_interrupted();
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
		/* Said even with --quiet: this is the moment to pin it (under
		 * strict, store_open refused a store that allowed plaintext). */
		log_info("%s: put strict: true in the config (in place of adopt: true) or mount with --strict, "
			 "so that an old copy of the descriptor cannot make it accept plaintext files again", backing);
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
	if (cv.buf) {
		sodium_memzero(cv.buf, CONV_CHUNK);
		free(cv.buf);
	}
	content_teardown();
	store_close(&st);
	tool_keys_free(&k);
	return status;
}

int tools_encrypt(int argc, char **argv)
{
	return convert(argc, argv, 0);
}

int tools_rekey(int argc, char **argv)
{
	return convert(argc, argv, 1);
}
