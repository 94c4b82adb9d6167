/*
 * soak: the concurrency soak of the integration tests. Where opfuzz gives
 * each thread files of its own (or serializes a shared set under one lock)
 * so that a reference directory can follow every step, soak has all threads
 * hit the same files at the same time, and checks only what stays exact under
 * any interleaving:
 *   - data files: each thread owns a stripe of every data file (stripes are
 *     not block aligned, so neighbours share blocks and the daemon must
 *     serialize their read-modify-write cycles); one thread per file owns
 *     the region past the stripes, where it writes, truncates (to sizes that
 *     cut the block shared with the last stripe) and appends. Each thread
 *     keeps the expected bytes of what it owns and checks them after its
 *     writes and on reads through fresh and long-lived descriptors;
 *   - names: data files are renamed over each other's spare names, hard
 *     linked and unlinked (never losing the last name) under a names lock,
 *     while the other threads open, read and write them by name;
 *   - logs: every thread appends self-checking records with O_APPEND to the
 *     same files while others read them; no record may be torn, lost,
 *     duplicated or out of order. A log past 1 MiB is checked in full and
 *     rotated (renamed over the previous .old, a new one created);
 *   - metadata files: rewritten the way JetStream does (temp file, fsync,
 *     rename over), read concurrently; a reader sees one whole version.
 * At the end everything is checked once more and the expected tree (names,
 * hard links, contents) is written to a reference directory, so that the
 * caller can remount and compare the two with `opfuzz --verify`.
 *
 *   soak [--seconds N] [--threads T] [--files F] [--seed S] DIR REFDIR
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 32
#define MAX_FILES   16
#define HDR         64          /* immutable identity header of a data file */
#define STRIPE      1000        /* bytes per thread per data file: not 4096-aligned */
#define TAILMAX     (3 * 4096 + 123)
#define NLOGS       2
#define NMETA       2
#define META_MAX    9000
#define REC_MAGIC   0x4b414f53u /* "SOAK" */
#define REC_HDR     12
#define REC_MAX     3000
#define LOG_ROTATE  (1 << 20)

static struct {
	int seconds, threads, files;
	uint64_t seed;
	const char *dir, *ref;
	long stripe_end;        /* HDR + threads * STRIPE */
} cfg = { .seconds = 30, .threads = 8, .files = 4, .seed = 1 };

/* The names: data file names n0..n(3F-1); name_of[k] is the data file the
 * name points at (-1: unused). Changed only under names_lock held for
 * writing; held for reading where a name must stay the file's (truncate
 * and append by name). Opening by a random name takes no lock: lookups race
 * with renames, links and unlinks on purpose.
 *
 * That race has one effect that is the kernel's, not the daemon's: the
 * kernel's FUSE client drops a file's cached link count by one when the
 * reply to an unlink (or a rename over one of its names) arrives, and if
 * the reply to a lookup or getattr that the daemon answered after its
 * unlinkat lands first, the count drops twice -- to 0 for a file that still
 * has a name: stat shows 0 links and link(2) fails with ENOENT before the
 * daemon is asked. Where that shows, soak waits out the attribute timeout
 * (the daemon's 5 s), so that the kernel asks the daemon again, and checks
 * again: a wrong count that survives that fails the run, and after the run
 * the caller compares link counts on a fresh mount. */
#define ATTR_SETTLE_US 5300000
static pthread_rwlock_t names_lock = PTHREAD_RWLOCK_INITIALIZER;
static int name_of[3 * MAX_FILES];
static int nlink_of[MAX_FILES];
static ino_t ino_of[MAX_FILES];

/* Appenders hold a log's lock shared while they append; the thread that
 * rotates it holds it exclusively. appended[l][t] counts thread t's records
 * in the current generation of log l (each thread writes only its own). */
static pthread_rwlock_t log_rw[NLOGS];
static int log_gen[NLOGS];
static uint32_t appended[NLOGS][MAX_THREADS];

static atomic_int stop_flag;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

struct worker {
	int id;
	pthread_t thread;
	uint64_t rng;
	long op;
	char what[160];                          /* the op in progress */
	uint8_t stripe[MAX_FILES][STRIPE];       /* my stripe of each data file */
	int held[MAX_FILES];                     /* long-lived descriptor per data file */
	/* the tail of the data files I own (file % threads == id) */
	long size[MAX_FILES];
	uint8_t tail[MAX_FILES][TAILMAX];
	int logfd[NLOGS], loggen[NLOGS];
	uint64_t meta_version;
	long counts[16];
	uint8_t buf[TAILMAX + META_MAX + 4096];
	uint8_t rbuf[TAILMAX + META_MAX + 4096];
};

enum { C_STRIPE_W, C_STRIPE_R, C_TAIL_W, C_TRUNC, C_APPEND_TAIL, C_LOG_APPEND,
       C_LOG_READ, C_LOG_ROT, C_META_W, C_META_R, C_RENAME, C_LINK, C_UNLINK, C_SETTLE,
       C_NCOUNT };
static const char *count_names[C_NCOUNT] = {
	"stripe writes", "stripe reads", "tail writes", "truncates", "tail appends",
	"log appends", "log reads", "log rotations", "meta rewrites", "meta reads", "renames",
	"links", "unlinks", "waits for stale kernel link counts",
};

static uint64_t rnd(struct worker *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static long below(struct worker *w, long n)
{
	return n <= 0 ? 0 : (long)(rnd(w) % (uint64_t)n);
}

static void die(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void die(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&report_lock);
	fprintf(stderr, "soak: FAIL seed=%" PRIu64 " threads=%d files=%d", cfg.seed,
		cfg.threads, cfg.files);
	if (w)
		fprintf(stderr, " thread=%d op=%ld (%s)", w->id, w->op, w->what);
	fprintf(stderr, ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	exit(1);
}

static void fill(struct worker *w, uint8_t *p, size_t n)
{
	size_t i = 0;

	if (below(w, 8) == 0) {          /* zeros must not read as holes */
		memset(p, 0, n);
		return;
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t v = rnd(w);
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)rnd(w);
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void path_of(char *out, size_t len, const char *dir, const char *fmt, int i)
{
	char name[64];

	snprintf(name, sizeof(name), fmt, i);
	snprintf(out, len, "%s/%s", dir, name);
}

static ssize_t pread_all(int fd, uint8_t *p, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void pwrite_all(struct worker *w, int fd, const uint8_t *p, size_t n, off_t off)
{
	ssize_t r = pwrite(fd, p, n, off);

	if (r != (ssize_t)n)
		die(w, "pwrite of %zu bytes at %lld returned %zd: %s", n, (long long)off, r,
		    r < 0 ? strerror(errno) : "short write");
}

static void header_of(int d, uint8_t out[HDR])
{
	memset(out, '#', HDR);
	out[snprintf((char *)out, HDR, "soak data file %02d\n", d)] = '#';
	out[HDR - 1] = '\n';
}

/* Which data file an open descriptor is: its immutable header says. */
static int identify(struct worker *w, int fd)
{
	uint8_t h[HDR], want[HDR];
	int d;

	if (pread_all(fd, h, HDR, 0) != HDR)
		die(w, "cannot read the header of a data file: %s", strerror(errno));
	if (sscanf((const char *)h, "soak data file %d", &d) != 1 || d < 0 || d >= cfg.files)
		die(w, "a data file's header is garbage");
	header_of(d, want);
	if (memcmp(h, want, HDR))
		die(w, "data file %d: header bytes changed", d);
	return d;
}

/* A descriptor of a data file: the long-lived one, or one opened by a
 * random name (which may move under us: then another try). */
static int data_fd(struct worker *w, int *d, int *fresh)
{
	char p[PATH_MAX];

	if (below(w, 2) == 0) {
		*d = (int)below(w, cfg.files);
		*fresh = 0;
		return w->held[*d];
	}
	for (int tries = 0; tries < 20; tries++) {
		int fd;

		path_of(p, sizeof(p), cfg.dir, "n%d", (int)below(w, 3 * cfg.files));
		fd = open(p, O_RDWR);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			die(w, "open %s: %s", p, strerror(errno));
		*d = identify(w, fd);
		*fresh = 1;
		return fd;
	}
	*d = (int)below(w, cfg.files);
	*fresh = 0;
	return w->held[*d];
}

static void check_stripe(struct worker *w, int fd, int d)
{
	off_t off = HDR + (off_t)w->id * STRIPE;

	if (pread_all(fd, w->rbuf, STRIPE, off) != STRIPE)
		die(w, "data file %d: short read of my stripe: %s", d, strerror(errno));
	if (memcmp(w->rbuf, w->stripe[d], STRIPE)) {
		size_t i = 0;
		while (w->rbuf[i] == w->stripe[d][i])
			i++;
		die(w, "data file %d: my stripe differs at file offset %lld: 0x%02x, expected 0x%02x",
		    d, (long long)off + (long long)i, w->rbuf[i], w->stripe[d][i]);
	}
}

static void op_stripe(struct worker *w)
{
	int d, fresh, fd = data_fd(w, &d, &fresh);
	long a = below(w, STRIPE), n = 1 + below(w, STRIPE - a);

	if (below(w, 3) == 0) {
		snprintf(w->what, sizeof(w->what), "read stripe of data file %d", d);
		check_stripe(w, fd, d);
		w->counts[C_STRIPE_R]++;
	} else {
		snprintf(w->what, sizeof(w->what), "write stripe of data file %d at +%ld len %ld",
			 d, a, n);
		fill(w, w->stripe[d] + a, (size_t)n);
		pwrite_all(w, fd, w->stripe[d] + a, (size_t)n, HDR + (off_t)w->id * STRIPE + a);
		if (below(w, 20) == 0 && fdatasync(fd) < 0)
			die(w, "fdatasync: %s", strerror(errno));
		check_stripe(w, fd, d);
		w->counts[C_STRIPE_W]++;
	}
	if (fresh)
		close(fd);
}

static void check_tail(struct worker *w, int fd, int d)
{
	struct stat st;
	long n = w->size[d] - cfg.stripe_end;

	if (fstat(fd, &st) < 0)
		die(w, "fstat: %s", strerror(errno));
	if (st.st_size != w->size[d])
		die(w, "data file %d: size %lld, expected %ld", d, (long long)st.st_size, w->size[d]);
	if (pread_all(fd, w->rbuf, TAILMAX + 10, cfg.stripe_end) != n)
		die(w, "data file %d: tail read gave a wrong length", d);
	if (memcmp(w->rbuf, w->tail[d], (size_t)n)) {
		long i = 0;
		while (w->rbuf[i] == w->tail[d][i])
			i++;
		die(w, "data file %d: tail differs at file offset %ld: 0x%02x, expected 0x%02x",
		    d, cfg.stripe_end + i, w->rbuf[i], w->tail[d][i]);
	}
}

/* Writes, truncates and appends past the stripes of a file I own. */
static void op_tail(struct worker *w)
{
	int mine[MAX_FILES], n = 0, d, fd, kind = (int)below(w, 10);
	long cur, a, len, ns;

	for (d = w->id; d < cfg.files; d += cfg.threads)
		mine[n++] = d;
	if (n == 0)
		return;
	d = mine[below(w, n)];
	fd = w->held[d];
	cur = w->size[d] - cfg.stripe_end;
	if (kind < 4) {
		a = below(w, TAILMAX);
		len = 1 + below(w, TAILMAX - a);
		snprintf(w->what, sizeof(w->what), "tail write data file %d at +%ld len %ld", d, a, len);
		fill(w, w->tail[d] + a, (size_t)len);
		if (a > cur)
			memset(w->tail[d] + cur, 0, (size_t)(a - cur));
		pwrite_all(w, fd, w->tail[d] + a, (size_t)len, cfg.stripe_end + a);
		if (a + len > cur)
			w->size[d] = cfg.stripe_end + a + len;
		w->counts[C_TAIL_W]++;
	} else if (kind < 8) {
		/* Any size from the end of the stripes up: cuts inside the
		 * block the last stripe shares, and grows with zeros. */
		ns = below(w, TAILMAX + 1);
		snprintf(w->what, sizeof(w->what), "truncate data file %d to +%ld (by %s)", d, ns,
			 kind < 6 ? "descriptor" : "name");
		if (ns > cur)
			memset(w->tail[d] + cur, 0, (size_t)(ns - cur));
		if (kind < 6) {
			if (ftruncate(fd, cfg.stripe_end + ns) < 0)
				die(w, "ftruncate: %s", strerror(errno));
		} else {
			/* By name: only under the names lock can a name be
			 * known to be this file. */
			char p[PATH_MAX];
			int k;

			pthread_rwlock_rdlock(&names_lock);
			for (k = 0; name_of[k] != d; k++)
				;
			path_of(p, sizeof(p), cfg.dir, "n%d", k);
			if (truncate(p, cfg.stripe_end + ns) < 0)
				die(w, "truncate %s: %s", p, strerror(errno));
			pthread_rwlock_unlock(&names_lock);
		}
		w->size[d] = cfg.stripe_end + ns;
		w->counts[C_TRUNC]++;
	} else {
		char p[PATH_MAX];
		int afd, k;

		len = 1 + below(w, 600);
		if (cur + len > TAILMAX)
			return;
		snprintf(w->what, sizeof(w->what), "O_APPEND to data file %d len %ld", d, len);
		pthread_rwlock_rdlock(&names_lock);
		for (k = 0; name_of[k] != d; k++)
			;
		path_of(p, sizeof(p), cfg.dir, "n%d", k);
		afd = open(p, O_WRONLY | O_APPEND);
		pthread_rwlock_unlock(&names_lock);
		if (afd < 0)
			die(w, "open %s O_APPEND: %s", p, strerror(errno));
		fill(w, w->tail[d] + cur, (size_t)len);
		if (write(afd, w->tail[d] + cur, (size_t)len) != len)
			die(w, "append write: %s", strerror(errno));
		close(afd);
		w->size[d] += len;
		w->counts[C_APPEND_TAIL]++;
	}
	check_tail(w, fd, d);
}

/* ---- logs ---- */

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* A record: magic, thread (16 bits), payload length (16), seq (32),
 * payload, FNV-1a of all before it. */
static size_t make_record(struct worker *w, int log, uint8_t *out)
{
	size_t len = 1 + (size_t)below(w, REC_MAX);

	put32(out, REC_MAGIC);
	out[4] = (uint8_t)w->id;
	out[5] = (uint8_t)(w->id >> 8);
	out[6] = (uint8_t)len;
	out[7] = (uint8_t)(len >> 8);
	put32(out + 8, appended[log][w->id]);
	fill(w, out + REC_HDR, len);
	put32(out + REC_HDR + len, fnv(out, REC_HDR + len));
	return REC_HDR + len + 4;
}

/* Parses a log from its start; every complete record must check out and
 * each thread's records come in order. A partial record is allowed only at
 * the end of what was read (an append in flight). With final set, nothing
 * may be partial and every thread's count must match. */
static void check_log(struct worker *w, int fd, int log, const uint32_t *want_counts)
{
	uint32_t next[MAX_THREADS] = { 0 };
	static _Thread_local uint8_t chunk[1 << 16];
	off_t off = 0;
	size_t have = 0;

	for (;;) {
		ssize_t r = pread(fd, chunk + have, sizeof(chunk) - have, off + (off_t)have);
		size_t pos = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(w, "read log%d: %s", log, strerror(errno));
		have += (size_t)r;
		while (have - pos >= REC_HDR) {
			const uint8_t *p = chunk + pos;
			unsigned t = p[4] | (unsigned)p[5] << 8, len = p[6] | (unsigned)p[7] << 8;
			uint32_t seq = get32(p + 8);

			if (get32(p) != REC_MAGIC || t >= (unsigned)cfg.threads || len == 0 ||
			    len > REC_MAX)
				die(w, "log%d: garbage record header at offset %lld", log,
				    (long long)(off + (off_t)pos));
			if (have - pos < REC_HDR + len + 4)
				break;
			if (get32(p + REC_HDR + len) != fnv(p, REC_HDR + len))
				die(w, "log%d: record at offset %lld (thread %u seq %u) fails its checksum",
				    log, (long long)(off + (off_t)pos), t, seq);
			if (seq != next[t])
				die(w, "log%d: thread %u record %u at offset %lld, expected %u (lost, duplicated or reordered)",
				    log, t, seq, (long long)(off + (off_t)pos), next[t]);
			next[t]++;
			pos += REC_HDR + len + 4;
		}
		memmove(chunk, chunk + pos, have - pos);
		off += (off_t)pos;
		have -= pos;
		if (r == 0)
			break;
	}
	if (!want_counts)
		return;
	if (have)
		die(w, "log%d: %zu bytes of a partial record at the end", log, have);
	for (int t = 0; t < cfg.threads; t++)
		if (next[t] != want_counts[t])
			die(w, "log%d: %u records of thread %d, %u were appended", log, next[t], t,
			    want_counts[t]);
}

static void open_log(struct worker *w, int log)
{
	char p[PATH_MAX];

	if (w->logfd[log] >= 0 && close(w->logfd[log]) < 0)
		die(w, "close log%d: %s", log, strerror(errno));
	path_of(p, sizeof(p), cfg.dir, "log%d", log);
	if ((w->logfd[log] = open(p, O_WRONLY | O_APPEND)) < 0)
		die(w, "open %s: %s", p, strerror(errno));
	w->loggen[log] = log_gen[log];
}

/* Checks the whole log against the counts, renames it over log<N>.old and
 * starts an empty one. */
static void rotate_log(struct worker *w, int log, int gen)
{
	char p[PATH_MAX], old[PATH_MAX];
	int fd;

	pthread_rwlock_wrlock(&log_rw[log]);
	if (log_gen[log] != gen) {              /* someone else did it */
		pthread_rwlock_unlock(&log_rw[log]);
		return;
	}
	snprintf(w->what, sizeof(w->what), "rotate log%d (generation %d)", log, gen);
	path_of(p, sizeof(p), cfg.dir, "log%d", log);
	path_of(old, sizeof(old), cfg.dir, "log%d.old", log);
	if ((fd = open(p, O_RDONLY)) < 0)
		die(w, "open %s: %s", p, strerror(errno));
	check_log(w, fd, log, appended[log]);
	close(fd);
	if (rename(p, old) < 0)
		die(w, "rename %s %s: %s", p, old, strerror(errno));
	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 || close(fd) < 0)
		die(w, "create %s: %s", p, strerror(errno));
	memset(appended[log], 0, sizeof(appended[log]));
	log_gen[log]++;
	w->counts[C_LOG_ROT]++;
	pthread_rwlock_unlock(&log_rw[log]);
}

static void op_log_append(struct worker *w)
{
	int log = (int)below(w, NLOGS), gen;
	struct stat st;
	size_t n;

	pthread_rwlock_rdlock(&log_rw[log]);
	if (w->loggen[log] != log_gen[log] || below(w, 50) == 0)
		open_log(w, log);
	n = make_record(w, log, w->buf);
	snprintf(w->what, sizeof(w->what), "append record %u (%zu bytes) to log%d",
		 appended[log][w->id], n, log);
	if (write(w->logfd[log], w->buf, n) != (ssize_t)n)
		die(w, "append to log%d: %s", log, strerror(errno));
	appended[log][w->id]++;
	if (fstat(w->logfd[log], &st) < 0)
		die(w, "fstat log%d: %s", log, strerror(errno));
	gen = log_gen[log];
	pthread_rwlock_unlock(&log_rw[log]);
	w->counts[C_LOG_APPEND]++;
	if (st.st_size > LOG_ROTATE)
		rotate_log(w, log, gen);
}

static void op_log_read(struct worker *w)
{
	int log = (int)below(w, NLOGS), fd;
	char p[PATH_MAX];

	snprintf(w->what, sizeof(w->what), "read log%d", log);
	path_of(p, sizeof(p), cfg.dir, "log%d", log);
	fd = open(p, O_RDONLY);
	if (fd < 0 && errno == ENOENT)
		return;                 /* between a rotation's rename and create */
	if (fd < 0)
		die(w, "open %s: %s", p, strerror(errno));
	check_log(w, fd, log, NULL);
	close(fd);
	w->counts[C_LOG_READ]++;
}

/* ---- metadata files ---- */

/* "soak meta <version> <len> <fnv>\n" padded to 64 bytes, then len bytes. */
static void check_meta(struct worker *w, int fd, int m)
{
	unsigned long long ver;
	unsigned len, sum;
	ssize_t n = pread_all(fd, w->rbuf, sizeof(w->rbuf), 0);

	if (n < 0)
		die(w, "read meta%d: %s", m, strerror(errno));
	if (n < 64 || sscanf((const char *)w->rbuf, "soak meta %llu %u %x", &ver, &len, &sum) != 3)
		die(w, "meta%d: torn or garbage header (%zd bytes)", m, n);
	if ((size_t)n != 64 + len)
		die(w, "meta%d: %zd bytes, its header says %u", m, n, 64 + len);
	if (fnv(w->rbuf + 64, len) != sum)
		die(w, "meta%d: contents do not match their checksum (torn rewrite?)", m);
}

static void op_meta(struct worker *w)
{
	int m = (int)below(w, NMETA), fd;
	char p[PATH_MAX], tmp[PATH_MAX];

	path_of(p, sizeof(p), cfg.dir, "meta%d", m);
	if (below(w, 2) == 0) {
		snprintf(w->what, sizeof(w->what), "read meta%d", m);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			die(w, "open %s: %s", p, strerror(errno));
		check_meta(w, fd, m);
		close(fd);
		w->counts[C_META_R]++;
		return;
	}
	unsigned len = (unsigned)below(w, META_MAX);
	snprintf(w->what, sizeof(w->what), "rewrite meta%d (%u bytes)", m, len);
	memset(w->buf, ' ', 64);
	fill(w, w->buf + 64, len);
	snprintf((char *)w->buf, 64, "soak meta %llu %u %x",
		 (unsigned long long)(w->id * 1000000ULL + w->meta_version++), len,
		 fnv(w->buf + 64, len));
	w->buf[63] = '\n';
	snprintf(tmp, sizeof(tmp), "%s/meta%d.tmp.%d", cfg.dir, m, w->id);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(w, "create %s: %s", tmp, strerror(errno));
	if (write(fd, w->buf, 64 + len) != (ssize_t)(64 + len))
		die(w, "write %s: %s", tmp, strerror(errno));
	if (below(w, 4) == 0 && fsync(fd) < 0)
		die(w, "fsync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0)
		die(w, "close %s: %s", tmp, strerror(errno));
	if (rename(tmp, p) < 0)
		die(w, "rename %s over %s: %s", tmp, p, strerror(errno));
	w->counts[C_META_W]++;
}

/* ---- names ---- */

/* Link count of name k as stat shows it; -1 (errno set) if it fails. */
static long name_nlink(int k, ino_t *ino)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(p, sizeof(p), cfg.dir, "n%d", k);
	if (lstat(p, &st) < 0)
		return -1;
	*ino = st.st_ino;
	return (long)st.st_nlink;
}

static void check_name(struct worker *w, int k)
{
	int d = name_of[k];
	ino_t ino = 0;
	long n = name_nlink(k, &ino);

	if (n < 0) {
		if (errno == ENOENT && d < 0)
			return;
		die(w, "n%d: %s (expected data file %d)", k, strerror(errno), d);
	}
	if (d < 0)
		die(w, "n%d exists but should not", k);
	if (ino != ino_of[d])
		die(w, "n%d: inode %llu, expected data file %d's %llu", k,
		    (unsigned long long)ino, d, (unsigned long long)ino_of[d]);
	if (n == nlink_of[d])
		return;
	/* Possibly the kernel's stale count (see names_lock): ask again
	 * once the cached attributes have expired. */
	usleep(ATTR_SETTLE_US);
	w->counts[C_SETTLE]++;
	n = name_nlink(k, &ino);
	if (n != nlink_of[d])
		die(w, "n%d (data file %d): link count %ld, expected %d (also after %d ms)", k, d,
		    n, nlink_of[d], ATTR_SETTLE_US / 1000);
}

static void op_names(struct worker *w)
{
	int nn = 3 * cfg.files, a = (int)below(w, nn), b = (int)below(w, nn), kind = (int)below(w, 3);
	char pa[PATH_MAX], pb[PATH_MAX];

	pthread_rwlock_wrlock(&names_lock);
	path_of(pa, sizeof(pa), cfg.dir, "n%d", a);
	path_of(pb, sizeof(pb), cfg.dir, "n%d", b);
	if (kind == 0 && name_of[a] >= 0 && a != b &&
	    (name_of[b] < 0 || name_of[b] == name_of[a] || nlink_of[name_of[b]] > 1)) {
		snprintf(w->what, sizeof(w->what), "rename n%d (file %d) over n%d (file %d)", a,
			 name_of[a], b, name_of[b]);
		if (rename(pa, pb) < 0)
			die(w, "rename: %s", strerror(errno));
		if (name_of[b] != name_of[a]) {
			if (name_of[b] >= 0)
				nlink_of[name_of[b]]--;
			name_of[b] = name_of[a];
			name_of[a] = -1;
		}
		/* rename(2) of two links of one inode does nothing. */
		w->counts[C_RENAME]++;
	} else if (kind == 1 && name_of[a] >= 0 && name_of[b] < 0) {
		snprintf(w->what, sizeof(w->what), "link n%d (file %d) as n%d", a, name_of[a], b);
		int lr = link(pa, pb);

		if (lr < 0 && errno == ENOENT) {
			/* The kernel's stale count again: it refuses to link
			 * a file it thinks has no names left. Refresh, retry. */
			ino_t ino;

			usleep(ATTR_SETTLE_US);
			w->counts[C_SETTLE]++;
			(void)name_nlink(a, &ino);
			lr = link(pa, pb);
		}
		if (lr < 0) {
			int e = errno;
			struct stat st;
			int r = lstat(pa, &st);

			die(w, "link: %s (lstat of n%d then: %s, inode %llu, %lu links; expected inode %llu, %d links)",
			    strerror(e), a, r ? strerror(errno) : "ok", r ? 0ULL : (unsigned long long)st.st_ino,
			    r ? 0UL : (unsigned long)st.st_nlink, (unsigned long long)ino_of[name_of[a]],
			    nlink_of[name_of[a]]);
		}
		name_of[b] = name_of[a];
		nlink_of[name_of[a]]++;
		w->counts[C_LINK]++;
	} else if (kind == 2 && name_of[a] >= 0 && nlink_of[name_of[a]] > 1) {
		snprintf(w->what, sizeof(w->what), "unlink n%d (file %d)", a, name_of[a]);
		if (unlink(pa) < 0)
			die(w, "unlink: %s", strerror(errno));
		nlink_of[name_of[a]]--;
		name_of[a] = -1;
		w->counts[C_UNLINK]++;
	} else {
		pthread_rwlock_unlock(&names_lock);
		return;
	}
	check_name(w, a);
	check_name(w, b);
	pthread_rwlock_unlock(&names_lock);
}

/* ---- driver ---- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (w->op = 0; !atomic_load(&stop_flag); w->op++) {
		long r = below(w, 100);

		if (r < 45)
			op_stripe(w);
		else if (r < 60)
			op_tail(w);
		else if (r < 72)
			op_log_append(w);
		else if (r < 78)
			op_log_read(w);
		else if (r < 88)
			op_meta(w);
		else
			op_names(w);
	}
	snprintf(w->what, sizeof(w->what), "final checks");
	for (int d = 0; d < cfg.files; d++) {
		check_stripe(w, w->held[d], d);
		if (d % cfg.threads == w->id)
			check_tail(w, w->held[d], d);
		if (close(w->held[d]) < 0)
			die(w, "close: %s", strerror(errno));
	}
	for (int l = 0; l < NLOGS; l++)
		if (close(w->logfd[l]) < 0)
			die(w, "close log%d: %s", l, strerror(errno));
	return NULL;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) < 0)
		die(NULL, "cannot write %s: %s", path, strerror(errno));
}

/* Copies DIR/name to REF/name after it was checked. */
static void copy_checked(struct worker *w, const char *fmt, int i)
{
	char src[PATH_MAX], dst[PATH_MAX];
	off_t off = 0;
	ssize_t n;
	int in, out;

	path_of(src, sizeof(src), cfg.dir, fmt, i);
	path_of(dst, sizeof(dst), cfg.ref, fmt, i);
	in = open(src, O_RDONLY);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (in < 0 || out < 0)
		die(w, "cannot copy %s to %s: %s", src, dst, strerror(errno));
	while ((n = pread_all(in, w->rbuf, sizeof(w->rbuf), off)) > 0) {
		pwrite_all(w, out, w->rbuf, (size_t)n, off);
		off += n;
	}
	if (n < 0 || close(out) < 0)
		die(w, "cannot copy %s to %s: %s", src, dst, strerror(errno));
	close(in);
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "files", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	static struct worker ws[MAX_THREADS];
	uint8_t *content;
	char p[PATH_MAX], q[PATH_MAX];
	long v, total = 0;
	int c, fd;

	while ((c = getopt_long(argc, argv, "s:t:f:S:", lopts, NULL)) != -1) {
		switch (c) {
		case 's': if (parse_int(optarg, 1, 86400 * 7, &v)) goto usage; cfg.seconds = (int)v; break;
		case 't': if (parse_int(optarg, 1, MAX_THREADS, &v)) goto usage; cfg.threads = (int)v; break;
		case 'f': if (parse_int(optarg, 1, MAX_FILES, &v)) goto usage; cfg.files = (int)v; break;
		case 'S': if (parse_int(optarg, 0, LONG_MAX, &v)) goto usage; cfg.seed = (uint64_t)v; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	cfg.dir = argv[optind];
	cfg.ref = argv[optind + 1];
	cfg.stripe_end = HDR + (long)cfg.threads * STRIPE;

	/* The starting tree: data file d under name n<d>, header + zeros. */
	content = calloc(1, (size_t)cfg.stripe_end + TAILMAX);
	if (!content)
		return 1;
	for (int k = 0; k < 3 * cfg.files; k++)
		name_of[k] = k < cfg.files ? k : -1;
	for (int d = 0; d < cfg.files; d++) {
		struct stat st;

		header_of(d, content);
		path_of(p, sizeof(p), cfg.dir, "n%d", d);
		fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, content, HDR) != HDR ||
		    ftruncate(fd, cfg.stripe_end) < 0 || fstat(fd, &st) < 0 || close(fd) < 0)
			die(NULL, "cannot create %s: %s", p, strerror(errno));
		ino_of[d] = st.st_ino;
		nlink_of[d] = 1;
	}
	for (int l = 0; l < NLOGS; l++) {
		path_of(p, sizeof(p), cfg.dir, "log%d", l);
		if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 || close(fd) < 0)
			die(NULL, "cannot create %s: %s", p, strerror(errno));
	}
	for (int m = 0; m < NMETA; m++) {
		path_of(p, sizeof(p), cfg.dir, "meta%d", m);
		if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 ||
		    write(fd, "soak meta 0 0 811c9dc5", 22) != 22 || ftruncate(fd, 64) < 0 ||
		    pwrite(fd, "\n", 1, 63) != 1 || close(fd) < 0)
			die(NULL, "cannot create %s: %s", p, strerror(errno));
	}

	for (int l = 0; l < NLOGS; l++)
		pthread_rwlock_init(&log_rw[l], NULL);
	for (int t = 0; t < cfg.threads; t++) {
		ws[t].id = t;
		ws[t].rng = cfg.seed * 0x100000001b3ULL + (uint64_t)t * 0x9e3779b97f4a7c15ULL + 1;
		for (int d = 0; d < cfg.files; d++) {
			ws[t].size[d] = cfg.stripe_end;
			/* Before any thread starts: names move once they run. */
			path_of(p, sizeof(p), cfg.dir, "n%d", d);
			if ((ws[t].held[d] = open(p, O_RDWR)) < 0)
				die(NULL, "open %s: %s", p, strerror(errno));
		}
		for (int l = 0; l < NLOGS; l++) {
			ws[t].logfd[l] = -1;
			open_log(&ws[t], l);
		}
	}
	for (int t = 0; t < cfg.threads; t++) {
		if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]))
			die(NULL, "cannot start thread %d", t);
	}
	sleep((unsigned)cfg.seconds);
	atomic_store(&stop_flag, 1);
	for (int t = 0; t < cfg.threads; t++)
		pthread_join(ws[t].thread, NULL);

	/* Everything once more, then the expected tree into REF. */
	struct worker *w = &ws[0];
	snprintf(w->what, sizeof(w->what), "final checks of names, logs and metadata");
	for (int k = 0; k < 3 * cfg.files; k++)
		check_name(w, k);
	for (int l = 0; l < NLOGS; l++) {
		path_of(p, sizeof(p), cfg.dir, "log%d", l);
		if ((fd = open(p, O_RDONLY)) < 0)
			die(w, "open %s: %s", p, strerror(errno));
		check_log(w, fd, l, appended[l]);
		close(fd);
		copy_checked(w, "log%d", l);
		if (log_gen[l] > 0)
			copy_checked(w, "log%d.old", l);
	}
	for (int m = 0; m < NMETA; m++) {
		path_of(p, sizeof(p), cfg.dir, "meta%d", m);
		if ((fd = open(p, O_RDONLY)) < 0)
			die(w, "open %s: %s", p, strerror(errno));
		check_meta(w, fd, m);
		close(fd);
		copy_checked(w, "meta%d", m);
	}
	for (int d = 0; d < cfg.files; d++) {
		int owner = d % cfg.threads, first = -1;
		long size = ws[owner].size[d];

		header_of(d, content);
		for (int t = 0; t < cfg.threads; t++)
			memcpy(content + HDR + t * STRIPE, ws[t].stripe[d], STRIPE);
		memcpy(content + cfg.stripe_end, ws[owner].tail[d], (size_t)(size - cfg.stripe_end));
		for (int k = 0; k < 3 * cfg.files; k++) {
			if (name_of[k] != d)
				continue;
			path_of(p, sizeof(p), cfg.ref, "n%d", k);
			if (first < 0) {
				write_file(p, content, (size_t)size);
				first = k;
			} else {
				path_of(q, sizeof(q), cfg.ref, "n%d", first);
				if (link(q, p) < 0)
					die(w, "link %s %s: %s", q, p, strerror(errno));
			}
		}
	}
	free(content);

	printf("soak: %d threads, %d data files, %d s, seed %" PRIu64 ":", cfg.threads,
	       cfg.files, cfg.seconds, cfg.seed);
	for (int i = 0; i < C_NCOUNT; i++) {
		long n = 0;
		for (int t = 0; t < cfg.threads; t++)
			n += ws[t].counts[i];
		total += n;
		printf("%s %ld %s", i ? "," : "", n, count_names[i]);
	}
	printf("; %ld operations, all checks passed\n", total);
	return 0;
usage:
	fprintf(stderr, "usage: soak [--seconds N] [--threads T] [--files F] [--seed S] DIR REFDIR\n");
	return 2;
}
