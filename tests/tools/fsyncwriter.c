/*
 * fsyncwriter: the application side of the crash tests. "write" runs a
 * seeded mix of the writes nats-server makes -- appends at EOF, in-place
 * overwrites, whole-file rewrites through a temp file and rename -- on a
 * directory (the mount), fsyncs them, and only then records each one in a
 * journal on another filesystem, so the journal holds exactly what the
 * application was promised is on disk. It stops at the first failing
 * call (the daemon was killed, the disk is full), after --ops operations,
 * or once the --stop-file exists.
 * "verify" reads every file of the directory to its end and checks that
 * everything the journal records is there, that no read fails (no block
 * fails authentication), and that unrecorded bytes are either the ones
 * the writer was writing or zeros.
 *
 *   fsyncwriter write DIR JOURNAL [--seed N] [--ops N] [--stop-file PATH] [--big]
 *   fsyncwriter verify DIR JOURNAL
 *
 * --big makes every operation an overwrite of up to 1 MiB in a 4 MiB file:
 * long writes, where a kill is most likely to land in the middle of one.
 *
 * Exit status: 0 ok (write: stopped by an error or after --ops; the error
 * is printed), 1 a check failed, 2 usage or setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAPP 3                  /* append-only files app.0 .. app.2 */
#define OVW_SIZE 40000          /* size of the overwritten file */
#define OVW_BIG (4 << 20)       /* its size with --big */
#define MAX_OVW 9000
#define MAX_OVW_BIG (1 << 20)
#define MAX_APPEND (3 * 4096 + 700)
#define META_MAX 9000

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The byte an app file, an ovw generation or a meta generation holds at
 * offset off: anything not all-zero and different per stream and offset. */
static uint8_t pat(uint64_t stream, uint64_t off)
{
	uint64_t x = (stream + 1) * 0x9E3779B97F4A7C15ull + off * 0xD6E8FEB86659FD93ull;

	x ^= x >> 32;
	x *= 0xD6E8FEB86659FD93ull;
	x ^= x >> 29;
	return (uint8_t)(x | 1);        /* never 0: zeros mean a hole */
}

#define S_APP(i)   (100 + (uint64_t)(i))
#define S_OVW(gen) (1000 + (uint64_t)(gen))
#define S_META(g)  (1000000 + (uint64_t)(g))

static int jfd = -1;
static const char *stop_file;
static int big;

static void journal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void journal(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(jfd, line, (size_t)n) != n) {
		perror("fsyncwriter: journal");
		exit(2);
	}
}

static void fill(uint8_t *buf, uint64_t stream, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(stream, off + i);
}

/* Stops the writer: the mount went away under it, which is the point. */
static int stopped(const char *what, const char *name)
{
	printf("fsyncwriter: stopped at %s %s: %s\n", what, name, strerror(errno));
	return 0;
}

static size_t meta_len(uint64_t gen)
{
	return 8 + (size_t)(gen * 7919 % (META_MAX - 8));
}

static void meta_fill(uint8_t *buf, uint64_t gen)
{
	size_t len = meta_len(gen);

	memcpy(buf, &gen, 8);
	fill(buf + 8, S_META(gen), 8, len - 8);
}

static int do_write(const char *dir, long ops)
{
	static uint8_t buf[MAX_OVW_BIG];
	int dfd, app[NAPP], ovw, fd;
	uint64_t size[NAPP] = { 0 }, ovw_gen = 0, meta_gen = 0;
	uint64_t ovw_size = big ? OVW_BIG : OVW_SIZE, max_ovw = big ? MAX_OVW_BIG : MAX_OVW;

	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(dir);
		return 2;
	}
	for (int i = 0; i < NAPP; i++) {
		char name[16];

		snprintf(name, sizeof(name), "app.%d", i);
		app[i] = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (app[i] < 0) {
			perror(name);
			return 2;
		}
	}
	ovw = openat(dfd, "ovw", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (ovw < 0) {
		perror("ovw");
		return 2;
	}
	for (uint64_t off = 0; off < ovw_size; off += 4000) {
		size_t len = ovw_size - off < 4000 ? (size_t)(ovw_size - off) : 4000;

		fill(buf, S_OVW(0), off, len);
		if (pwrite(ovw, buf, len, (off_t)off) != (ssize_t)len)
			return stopped("create", "ovw");
	}
	if (fsync(ovw) < 0 || fsync(dfd) < 0)
		return stopped("fsync", "ovw");
	journal("O 0 %llu 0\n", (unsigned long long)ovw_size);

	for (long n = 0; ops < 0 || n < ops; n++) {
		unsigned r = (unsigned)(next() % 10);

		if (stop_file && access(stop_file, F_OK) == 0) {
			printf("fsyncwriter: %ld operations done, stop file found\n", n);
			return 0;
		}
		if (big)
			r = 6;
		if (r < 6) {
			/* One to four appends, then fsync: what a message block sees. */
			int i = (int)(next() % NAPP), k = 1 + (int)(next() % 4);
			char name[16];

			snprintf(name, sizeof(name), "app.%d", i);
			for (int j = 0; j < k; j++) {
				size_t len = 1 + (size_t)(next() % MAX_APPEND);

				fill(buf, S_APP(i), size[i], len);
				if (pwrite(app[i], buf, len, (off_t)size[i]) != (ssize_t)len)
					return stopped("append", name);
				size[i] += len;
			}
			if (fsync(app[i]) < 0)
				return stopped("fsync", name);
			journal("A %d %llu\n", i, (unsigned long long)size[i]);
		} else if (r < 8) {
			/* Overwrite a range in place. The journal names it before
			 * the write (it may be half there) and after the fsync. */
			size_t len = 1 + (size_t)(next() % max_ovw);
			uint64_t off = next() % (ovw_size - len);

			ovw_gen++;
			journal("P %llu %zu %llu\n", (unsigned long long)off, len, (unsigned long long)ovw_gen);
			fill(buf, S_OVW(ovw_gen), off, len);
			if (pwrite(ovw, buf, len, (off_t)off) != (ssize_t)len)
				return stopped("overwrite", "ovw");
			if (fsync(ovw) < 0)
				return stopped("fsync", "ovw");
			journal("O %llu %zu %llu\n", (unsigned long long)off, len, (unsigned long long)ovw_gen);
		} else {
			/* Whole-file rewrite: temp file, fsync, rename, fsync dir. */
			size_t len = meta_len(++meta_gen);

			meta_fill(buf, meta_gen);
			fd = openat(dfd, "meta.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0)
				return stopped("create", "meta.tmp");
			if (write(fd, buf, len) != (ssize_t)len)
				return stopped("write", "meta.tmp");
			if (fsync(fd) < 0)
				return stopped("fsync", "meta.tmp");
			if (close(fd) < 0)
				return stopped("close", "meta.tmp");
			if (renameat(dfd, "meta.tmp", dfd, "meta") < 0)
				return stopped("rename", "meta.tmp");
			if (fsync(dfd) < 0)
				return stopped("fsync", dir);
			journal("M %llu\n", (unsigned long long)meta_gen);
		}
	}
	printf("fsyncwriter: %ld operations done\n", ops);
	return 0;
}

/* ---- verify ---- */

static int failures;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;

	fputs("fsyncwriter: FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures++;
}

/* The whole file, read to EOF with read(2) as an application would; NULL
 * (and a failure) if any read fails. */
static uint8_t *slurp(int dfd, const char *name, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	int fd = openat(dfd, name, O_RDONLY);

	if (fd < 0) {
		bad("%s: open: %s", name, strerror(errno));
		free(buf);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == cap)
			buf = realloc(buf, cap *= 2);
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			bad("%s: read at offset %zu: %s", name, n, strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

static int do_verify(const char *dir, const char *jpath)
{
	uint64_t durable[NAPP] = { 0 }, meta_gen = 0, p_off = 0, p_len = 0, p_gen = 0;
	uint64_t ovw_size = 0;
	int app_seen[NAPP] = { 0 }, ovw_seen = 0, pending = 0;
	uint8_t *ovw_ref = NULL, *data;
	char line[256], name[64];
	size_t len;
	FILE *j = fopen(jpath, "r");
	DIR *dp;
	struct dirent *de;
	int dfd;

	if (!j) {
		perror(jpath);
		return 2;
	}
	while (fgets(line, sizeof(line), j)) {
		unsigned long long a, b, c;
		int i;

		if (sscanf(line, "A %d %llu", &i, &a) == 2 && i >= 0 && i < NAPP) {
			durable[i] = a;
			app_seen[i] = 1;
		} else if (sscanf(line, "P %llu %llu %llu", &a, &b, &c) == 3) {
			p_off = a, p_len = b, p_gen = c, pending = 1;
		} else if (sscanf(line, "O %llu %llu %llu", &a, &b, &c) == 3 &&
			   (ovw_ref ? a + b <= ovw_size : a == 0 && c == 0 && b <= OVW_BIG)) {
			if (!ovw_ref) {
				ovw_size = b;   /* the first line creates the file */
				ovw_ref = malloc(ovw_size);
			}
			fill(ovw_ref + a, S_OVW(c), a, (size_t)b);
			ovw_seen = 1;
			pending = 0;
		} else if (sscanf(line, "M %llu", &a) == 1) {
			meta_gen = a;
		} else if (line[0] != '\n') {
			bad("%s: unreadable journal line: %s", jpath, line);
		}
	}
	fclose(j);

	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(dir);
		return 2;
	}
	for (int i = 0; i < NAPP; i++) {
		snprintf(name, sizeof(name), "app.%d", i);
		if (!app_seen[i] && faccessat(dfd, name, F_OK, 0) < 0)
			continue;
		data = slurp(dfd, name, &len);
		if (!data)
			continue;
		if (len < durable[i])
			bad("%s: %zu bytes, but %llu were fsync'd", name, len, (unsigned long long)durable[i]);
		for (size_t o = 0; o < len; o++) {
			uint8_t want = pat(S_APP(i), o);

			if (data[o] != want && (o < durable[i] || data[o] != 0)) {
				bad("%s: byte %zu is %02x, want %02x (%llu bytes fsync'd)", name, o, data[o],
				    want, (unsigned long long)durable[i]);
				break;
			}
		}
		free(data);
	}
	if (ovw_seen && (data = slurp(dfd, "ovw", &len))) {
		if (len != ovw_size)
			bad("ovw: %zu bytes, want %llu", len, (unsigned long long)ovw_size);
		for (size_t o = 0; o < len && o < ovw_size; o++) {
			int in_p = pending && o >= p_off && o < p_off + p_len;

			if (data[o] != ovw_ref[o] && !(in_p && data[o] == pat(S_OVW(p_gen), o))) {
				bad("ovw: byte %zu is %02x, want %02x%s", o, data[o], ovw_ref[o],
				    in_p ? " or the pending write's byte" : "");
				break;
			}
		}
		free(data);
	}
	if (meta_gen && (data = slurp(dfd, "meta", &len))) {
		uint64_t g = 0;
		uint8_t *want = malloc(META_MAX);

		if (len >= 8)
			memcpy(&g, data, 8);
		if (g != meta_gen && g != meta_gen + 1) {
			bad("meta: generation %llu, want %llu (or %llu)", (unsigned long long)g,
			    (unsigned long long)meta_gen, (unsigned long long)meta_gen + 1);
		} else {
			meta_fill(want, g);
			if (len != meta_len(g) || memcmp(data, want, len) != 0)
				bad("meta: generation %llu has wrong contents (%zu bytes)", (unsigned long long)g, len);
		}
		free(want);
		free(data);
	}
	/* Everything else (meta.tmp) must at least read without an error. */
	dp = fdopendir(dup(dfd));
	while (dp && (de = readdir(dp))) {
		if (de->d_type == DT_REG && (data = slurp(dfd, de->d_name, &len)))
			free(data);
	}
	if (dp)
		closedir(dp);
	close(dfd);
	free(ovw_ref);
	if (failures)
		return 1;
	printf("fsyncwriter: %s verified (app %llu/%llu/%llu bytes fsync'd, meta gen %llu)\n", dir,
	       (unsigned long long)durable[0], (unsigned long long)durable[1],
	       (unsigned long long)durable[2], (unsigned long long)meta_gen);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: fsyncwriter write DIR JOURNAL [--seed N] [--ops N] [--stop-file PATH] [--big]\n"
		"       fsyncwriter verify DIR JOURNAL\n");
	return 2;
}

int main(int argc, char **argv)
{
	long ops = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		return usage();
	rng = 88172645463325252ull;
	for (int i = 4; i < argc; i += 2) {
		if (i + 1 == argc && strcmp(argv[i], "--big"))
			return usage();
		if (!strcmp(argv[i], "--seed"))
			rng ^= strtoull(argv[i + 1], NULL, 0) * 0x9E3779B97F4A7C15ull;
		else if (!strcmp(argv[i], "--ops"))
			ops = strtol(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--stop-file"))
			stop_file = argv[i + 1];
		else if (!strcmp(argv[i], "--big"))
			big = 1, i--;
		else
			return usage();
	}
	if (!rng)
		rng = 1;
	if (!strcmp(argv[1], "write")) {
		jfd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (jfd < 0) {
			perror(argv[3]);
			return 2;
		}
		return do_write(argv[2], ops);
	}
	if (!strcmp(argv[1], "verify"))
		return do_verify(argv[2], argv[3]);
	return usage();
}
