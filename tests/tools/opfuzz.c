/*
 * opfuzz: the operation exerciser of the integration tests. It runs a seeded
 * random mix of file operations (write/pwrite at random offsets and sizes,
 * across block edges and far past EOF, truncate by path and by handle, O_APPEND
 * writes, reads, rename over existing names, hard links, unlink, reopen with
 * and without O_TRUNC, fsync) on a target directory (the mount) and, side by
 * side, the same operations on a reference directory on a plain filesystem.
 * After every step it compares the results, the sizes and the contents of the
 * files the step touched, and stops at the first difference with the seed,
 * thread, op number, file and offset. Each thread works in its own
 * subdirectory with its own random stream, so a run is deterministic per seed
 * and thread count; --shared adds files that all threads use under a lock,
 * which makes those files depend on the interleaving. `--verify TARGET REF`
 * only compares two trees (after a remount).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096
#define NHANDLES 4
#define CHUNK (64 * 1024)
#define RING 24
#define DESC_LEN 160

struct handle {
	int used;
	int fdt, fdr;           /* target, reference */
	int flags;
	int slot;               /* name it was opened by (may have moved since) */
};

struct space {
	char label[32];         /* "t3" or "shared" */
	char tdir[PATH_MAX - 64], rdir[PATH_MAX - 64];
	int nslots;
	struct handle h[NHANDLES];
	pthread_mutex_t lock;
};

struct worker {
	int id;
	pthread_t thread;
	uint64_t rng;
	long nops, op;
	struct space own;
	struct space *cur;      /* space of the op in progress */
	unsigned char *wbuf, *bt, *br;
	char ring[RING][DESC_LEN];
	long ring_op[RING];
};

static struct {
	uint64_t seed;
	long ops;
	int threads, files, shared, verbose, verify_only;
	long max_size;
	const char *target, *ref;
} cfg = { .seed = 1, .ops = 10000, .threads = 1, .files = 8, .max_size = 96 * 1024 };

static struct space shared_space;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* splitmix64: small, fast and the same on every platform. */
static uint64_t rnd(struct worker *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static long rnd_below(struct worker *w, long n)
{
	return n <= 0 ? 0 : (long)(rnd(w) % (uint64_t)n);
}

static int chance(struct worker *w, int percent)
{
	return rnd_below(w, 100) < percent;
}

static void note(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(struct worker *w, const char *fmt, ...)
{
	int i = (int)(w->op % RING);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->ring[i], DESC_LEN, fmt, ap);
	va_end(ap);
	w->ring_op[i] = w->op;
	if (cfg.verbose)
		fprintf(stderr, "t%d #%ld %s: %s\n", w->id, w->op,
			w->cur ? w->cur->label : "-", w->ring[i]);
}

/* Reports a difference with everything needed to reproduce it and exits:
 * the whole run is void after the first one. */
static void die(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void die(struct worker *w, const char *fmt, ...)
{
	va_list ap;
	long k;

	pthread_mutex_lock(&report_lock);
	if (cfg.verify_only) {
		fprintf(stderr, "opfuzz: verify: MISMATCH: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
		exit(1);
	}
	fprintf(stderr, "opfuzz: MISMATCH seed=%" PRIu64 " threads=%d files=%d max-size=%ld "
		"thread=%d op=%ld space=%s: ", cfg.seed, cfg.threads, cfg.files,
		cfg.max_size, w->id, w->op, w->cur ? w->cur->label : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nopfuzz: last operations of thread %d:\n", w->id);
	for (k = w->op - RING + 1; k <= w->op; k++)
		if (k >= 0 && w->ring_op[k % RING] == k)
			fprintf(stderr, "  #%ld %s\n", k, w->ring[k % RING]);
	fflush(stderr);
	exit(1);
}

static void slot_path(char *out, size_t len, const char *dir, int slot)
{
	snprintf(out, len, "%s/f%d", dir, slot);
}

/* Both sides must agree: both fail with the same errno, or both succeed
 * with the same value. */
static void same(struct worker *w, const char *what, long rt, int et, long rr, int er)
{
	if (rt < 0 && rr < 0) {
		if (et != er)
			die(w, "%s: target failed with %s, reference with %s", what,
			    strerror(et), strerror(er));
		return;
	}
	if (rt < 0 || rr < 0)
		die(w, "%s: target returned %ld (%s), reference %ld (%s)", what, rt,
		    rt < 0 ? strerror(et) : "ok", rr, rr < 0 ? strerror(er) : "ok");
	if (rt != rr)
		die(w, "%s: target returned %ld, reference %ld", what, rt, rr);
}

static ssize_t pread_full(int fd, unsigned char *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Compares size and every byte of two open files; what names them. */
static void compare_fds(struct worker *w, const char *what, int fdt, int fdr)
{
	struct stat st, sr;
	off_t off;

	if (fstat(fdt, &st) < 0)
		die(w, "%s: fstat on target: %s", what, strerror(errno));
	if (fstat(fdr, &sr) < 0)
		die(w, "%s: fstat on reference: %s", what, strerror(errno));
	if (st.st_size != sr.st_size)
		die(w, "%s: size %lld on target, %lld on reference", what,
		    (long long)st.st_size, (long long)sr.st_size);
	for (off = 0; off < sr.st_size; off += CHUNK) {
		ssize_t nt = pread_full(fdt, w->bt, CHUNK, off);
		int et = errno;
		ssize_t nr = pread_full(fdr, w->br, CHUNK, off);
		size_t i;

		if (nt < 0)
			die(w, "%s: read at %lld on target: %s", what, (long long)off, strerror(et));
		if (nr < 0)
			die(w, "%s: read at %lld on reference: %s", what, (long long)off, strerror(errno));
		if (nt != nr)
			die(w, "%s: read at %lld gave %zd bytes on target, %zd on reference",
			    what, (long long)off, nt, nr);
		if (memcmp(w->bt, w->br, (size_t)nr) == 0)
			continue;
		for (i = 0; w->bt[i] == w->br[i]; i++)
			;
		die(w, "%s: first differing byte at offset %lld: target 0x%02x, reference 0x%02x (size %lld)",
		    what, (long long)off + (long long)i, w->bt[i], w->br[i], (long long)sr.st_size);
	}
	/* Nothing may be readable past the size either. */
	if (pread(fdt, w->bt, 1, sr.st_size) != 0)
		die(w, "%s: target reads data past its size %lld", what, (long long)sr.st_size);
}

/* Compares a name on both sides: existence, type, size, link count and
 * contents. */
static void check_slot(struct worker *w, struct space *sp, int slot)
{
	char pt[PATH_MAX], pr[PATH_MAX], what[PATH_MAX + 32];
	struct stat st, sr;
	int rt, et, rr, er, fdt, fdr;

	slot_path(pt, sizeof(pt), sp->tdir, slot);
	slot_path(pr, sizeof(pr), sp->rdir, slot);
	snprintf(what, sizeof(what), "%s/f%d", sp->label, slot);
	rt = lstat(pt, &st); et = errno;
	rr = lstat(pr, &sr); er = errno;
	same(w, what, rt, et, rr, er);
	if (rr < 0)
		return;
	if ((st.st_mode & S_IFMT) != (sr.st_mode & S_IFMT))
		die(w, "%s: type differs", what);
	if (st.st_size != sr.st_size)
		die(w, "%s: stat size %lld on target, %lld on reference", what,
		    (long long)st.st_size, (long long)sr.st_size);
	if (st.st_nlink != sr.st_nlink)
		die(w, "%s: link count %lu on target, %lu on reference", what,
		    (unsigned long)st.st_nlink, (unsigned long)sr.st_nlink);
	fdt = open(pt, O_RDONLY); et = errno;
	fdr = open(pr, O_RDONLY); er = errno;
	same(w, what, fdt < 0 ? -1 : 0, et, fdr < 0 ? -1 : 0, er);
	if (fdr < 0)
		return;
	compare_fds(w, what, fdt, fdr);
	close(fdt);
	close(fdr);
}

static void check_handle(struct worker *w, struct space *sp, int hi)
{
	struct handle *h = &sp->h[hi];
	char what[96];
	struct stat st, sr;

	snprintf(what, sizeof(what), "%s handle %d (opened as f%d)", sp->label, hi, h->slot);
	if ((h->flags & O_ACCMODE) != O_WRONLY) {
		compare_fds(w, what, h->fdt, h->fdr);
		return;
	}
	/* Write-only: the sizes now, the contents once it is closed. */
	if (fstat(h->fdt, &st) < 0 || fstat(h->fdr, &sr) < 0)
		die(w, "%s: fstat: %s", what, strerror(errno));
	if (st.st_size != sr.st_size)
		die(w, "%s: size %lld on target, %lld on reference", what,
		    (long long)st.st_size, (long long)sr.st_size);
}

/* The slot whose reference name is still the inode behind handle hi, or -1:
 * names move under open handles through rename and unlink. */
static int handle_slot(struct space *sp, int hi)
{
	char pr[PATH_MAX];
	struct stat sh, sn;
	int s;

	if (fstat(sp->h[hi].fdr, &sh) < 0)
		return -1;
	for (s = 0; s < sp->nslots; s++) {
		slot_path(pr, sizeof(pr), sp->rdir, s);
		if (stat(pr, &sn) == 0 && sn.st_ino == sh.st_ino && sn.st_dev == sh.st_dev)
			return s;
	}
	return -1;
}

static void close_handle(struct worker *w, struct space *sp, int hi)
{
	struct handle *h = &sp->h[hi];
	int rt, et, rr, er, slot;

	check_handle(w, sp, hi);
	slot = handle_slot(sp, hi);
	rt = close(h->fdt); et = errno;
	rr = close(h->fdr); er = errno;
	h->used = 0;
	same(w, "close", rt, et, rr, er);
	if (slot >= 0)
		check_slot(w, sp, slot);
}

static int pick_handle(struct worker *w, struct space *sp, int writable)
{
	int idx[NHANDLES], n = 0, i;

	for (i = 0; i < NHANDLES; i++)
		if (sp->h[i].used && (!writable || (sp->h[i].flags & O_ACCMODE) != O_RDONLY))
			idx[n++] = i;
	return n ? idx[rnd_below(w, n)] : -1;
}

static void op_open(struct worker *w, struct space *sp)
{
	int slot = (int)rnd_below(w, sp->nslots), flags, hi, fdt, fdr, et, er;
	char pt[PATH_MAX], pr[PATH_MAX];
	long r = rnd_below(w, 100);

	for (hi = 0; hi < NHANDLES && sp->h[hi].used; hi++)
		;
	if (hi == NHANDLES) {
		hi = (int)rnd_below(w, NHANDLES);
		note(w, "close h%d (to reuse)", hi);
		close_handle(w, sp, hi);
	}
	flags = r < 65 ? O_RDWR : r < 85 ? O_WRONLY : O_RDONLY;
	if (chance(w, 80))
		flags |= O_CREAT;
	if (flags & O_CREAT && chance(w, 10))
		flags |= O_EXCL;
	if ((flags & O_ACCMODE) != O_RDONLY && chance(w, 15))
		flags |= O_TRUNC;
	if ((flags & O_ACCMODE) != O_RDONLY && chance(w, 15))
		flags |= O_APPEND;
	note(w, "open h%d f%d flags=0%o", hi, slot, flags);
	slot_path(pt, sizeof(pt), sp->tdir, slot);
	slot_path(pr, sizeof(pr), sp->rdir, slot);
	fdt = open(pt, flags, 0644); et = errno;
	fdr = open(pr, flags, 0644); er = errno;
	if ((fdt < 0) != (fdr < 0) && fdt >= 0)
		close(fdt);
	if ((fdt < 0) != (fdr < 0) && fdr >= 0)
		close(fdr);
	same(w, "open", fdt < 0 ? -1 : 0, et, fdr < 0 ? -1 : 0, er);
	if (fdr < 0)
		return;
	sp->h[hi] = (struct handle){ .used = 1, .fdt = fdt, .fdr = fdr, .flags = flags, .slot = slot };
	check_handle(w, sp, hi);
}

/* Fills len bytes: random, zeros (a zero block must not read as a hole) or
 * text (something a grep of the backing dir would find). */
static void fill(struct worker *w, size_t len)
{
	long kind = rnd_below(w, 100);
	size_t i;

	if (kind < 15) {
		memset(w->wbuf, 0, len);
	} else if (kind < 40) {
		char line[80];
		int n = snprintf(line, sizeof(line), "opfuzz seed %" PRIu64 " thread %d op %ld\n",
				 cfg.seed, w->id, w->op);
		for (i = 0; i < len; i++)
			w->wbuf[i] = (unsigned char)line[i % (size_t)n];
	} else {
		for (i = 0; i + 8 <= len; i += 8) {
			uint64_t v = rnd(w);
			memcpy(w->wbuf + i, &v, 8);
		}
		for (; i < len; i++)
			w->wbuf[i] = (unsigned char)rnd(w);
	}
}

static long pick_len(struct worker *w)
{
	long r = rnd_below(w, 100), len;

	if (r < 35)
		len = 1 + rnd_below(w, 64);
	else if (r < 65)
		len = 1 + rnd_below(w, BLK);
	else if (r < 85)
		len = BLK * (1 + rnd_below(w, 2)) + rnd_below(w, 5) - 2;
	else
		len = 1 + rnd_below(w, 3 * BLK + 100);
	return len < 1 ? 1 : len;
}

static long pick_offset(struct worker *w, long size)
{
	long r = rnd_below(w, 100);

	if (r < 25)
		return rnd_below(w, size + 1);
	if (r < 45)
		return size;                            /* append position */
	if (r < 65)                                     /* around a block edge */
		return BLK * rnd_below(w, size / BLK + 2) + rnd_below(w, 7) - 3;
	if (r < 80)                                     /* past EOF: a hole */
		return size + 1 + rnd_below(w, cfg.max_size / 2);
	if (r < 90)
		return 0;
	return rnd_below(w, cfg.max_size);
}

static long ref_size(struct worker *w, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		die(w, "fstat on reference: %s", strerror(errno));
	return (long)st.st_size;
}

/* Keeps a write inside max-size so that files stay small enough to compare
 * after every step. */
static void clamp(long *off, long *len)
{
	if (*off < 0)
		*off = 0;
	if (*off >= cfg.max_size)
		*off = cfg.max_size - 1;
	if (*off + *len > cfg.max_size)
		*len = cfg.max_size - *off;
	if (*len < 1)
		*len = 1;
}

static void op_write(struct worker *w, struct space *sp)
{
	int hi = pick_handle(w, sp, 1), et, er, positional;
	long off, len, rt, rr;
	struct handle *h;

	if (hi < 0)
		return;
	h = &sp->h[hi];
	off = pick_offset(w, ref_size(w, h->fdr));
	len = pick_len(w);
	clamp(&off, &len);
	fill(w, (size_t)len);
	positional = chance(w, 60);
	note(w, "%s h%d off=%ld len=%ld%s", positional ? "pwrite" : "lseek+write", hi,
	     off, len, h->flags & O_APPEND ? " (O_APPEND)" : "");
	if (positional) {
		rt = pwrite(h->fdt, w->wbuf, (size_t)len, off); et = errno;
		rr = pwrite(h->fdr, w->wbuf, (size_t)len, off); er = errno;
	} else {
		rt = lseek(h->fdt, off, SEEK_SET); et = errno;
		rr = lseek(h->fdr, off, SEEK_SET); er = errno;
		same(w, "lseek", rt, et, rr, er);
		rt = write(h->fdt, w->wbuf, (size_t)len); et = errno;
		rr = write(h->fdr, w->wbuf, (size_t)len); er = errno;
	}
	same(w, "write", rt, et, rr, er);
	check_handle(w, sp, hi);
}

/* Appends through a fresh O_APPEND descriptor: the way logs are written. */
static void op_append(struct worker *w, struct space *sp)
{
	int slot = (int)rnd_below(w, sp->nslots), fdt, fdr, et, er, n, i;
	char pt[PATH_MAX], pr[PATH_MAX];
	long len, rt, rr;

	slot_path(pt, sizeof(pt), sp->tdir, slot);
	slot_path(pr, sizeof(pr), sp->rdir, slot);
	n = 1 + (int)rnd_below(w, 4);
	note(w, "append f%d x%d", slot, n);
	fdt = open(pt, O_WRONLY | O_CREAT | O_APPEND, 0644); et = errno;
	fdr = open(pr, O_WRONLY | O_CREAT | O_APPEND, 0644); er = errno;
	same(w, "open O_APPEND", fdt < 0 ? -1 : 0, et, fdr < 0 ? -1 : 0, er);
	for (i = 0; i < n; i++) {
		len = rnd_below(w, 4) ? 1 + rnd_below(w, 300) : pick_len(w);
		if (len > cfg.max_size / 4)
			len = cfg.max_size / 4;
		if (ref_size(w, fdr) + len > cfg.max_size)
			break;
		fill(w, (size_t)len);
		rt = write(fdt, w->wbuf, (size_t)len); et = errno;
		rr = write(fdr, w->wbuf, (size_t)len); er = errno;
		same(w, "append", rt, et, rr, er);
	}
	rt = close(fdt); et = errno;
	rr = close(fdr); er = errno;
	same(w, "close", rt, et, rr, er);
	check_slot(w, sp, slot);
}

static void op_read(struct worker *w, struct space *sp)
{
	int hi = pick_handle(w, sp, 0), et, er;
	long off, len, rt, rr, size;
	struct handle *h;

	if (hi < 0 || (sp->h[hi].flags & O_ACCMODE) == O_WRONLY)
		return;
	h = &sp->h[hi];
	size = ref_size(w, h->fdr);
	off = chance(w, 10) ? size + rnd_below(w, 2 * BLK) : pick_offset(w, size);
	if (off < 0)
		off = 0;
	len = pick_len(w);
	if (len > CHUNK)
		len = CHUNK;
	note(w, "pread h%d off=%ld len=%ld", hi, off, len);
	rt = pread(h->fdt, w->bt, (size_t)len, off); et = errno;
	rr = pread(h->fdr, w->br, (size_t)len, off); er = errno;
	same(w, "pread", rt, et, rr, er);
	if (rr > 0 && memcmp(w->bt, w->br, (size_t)rr) != 0) {
		long i;
		for (i = 0; w->bt[i] == w->br[i]; i++)
			;
		die(w, "pread h%d (opened as f%d): first differing byte at offset %ld: target 0x%02x, reference 0x%02x",
		    hi, h->slot, off + i, w->bt[i], w->br[i]);
	}
}

static long pick_trunc_size(struct worker *w, long size)
{
	long r = rnd_below(w, 100), n;

	if (r < 10)
		n = 0;
	else if (r < 40)
		n = rnd_below(w, size + 1);             /* down */
	else if (r < 65)
		n = size + 1 + rnd_below(w, 3 * BLK);   /* up: a hole at the end */
	else
		n = BLK * rnd_below(w, size / BLK + 3) + rnd_below(w, 5) - 2;
	if (n < 0)
		n = 0;
	return n > cfg.max_size ? cfg.max_size : n;
}

static void op_ftruncate(struct worker *w, struct space *sp)
{
	int hi = pick_handle(w, sp, 1), et, er;
	long n, rt, rr;

	if (hi < 0)
		return;
	n = pick_trunc_size(w, ref_size(w, sp->h[hi].fdr));
	note(w, "ftruncate h%d %ld", hi, n);
	rt = ftruncate(sp->h[hi].fdt, n); et = errno;
	rr = ftruncate(sp->h[hi].fdr, n); er = errno;
	same(w, "ftruncate", rt, et, rr, er);
	check_handle(w, sp, hi);
}

static void op_truncate(struct worker *w, struct space *sp)
{
	int slot = (int)rnd_below(w, sp->nslots), et, er;
	char pt[PATH_MAX], pr[PATH_MAX];
	struct stat st;
	long n, rt, rr;

	slot_path(pt, sizeof(pt), sp->tdir, slot);
	slot_path(pr, sizeof(pr), sp->rdir, slot);
	n = pick_trunc_size(w, stat(pr, &st) == 0 ? (long)st.st_size : 0);
	note(w, "truncate f%d %ld", slot, n);
	rt = truncate(pt, n); et = errno;
	rr = truncate(pr, n); er = errno;
	same(w, "truncate", rt, et, rr, er);
	check_slot(w, sp, slot);
}

static void op_fsync(struct worker *w, struct space *sp)
{
	int hi = pick_handle(w, sp, 0), et, er, data = chance(w, 50);
	long rt, rr;

	if (hi < 0)
		return;
	note(w, "%s h%d", data ? "fdatasync" : "fsync", hi);
	rt = data ? fdatasync(sp->h[hi].fdt) : fsync(sp->h[hi].fdt); et = errno;
	rr = data ? fdatasync(sp->h[hi].fdr) : fsync(sp->h[hi].fdr); er = errno;
	same(w, "fsync", rt, et, rr, er);
	check_handle(w, sp, hi);
}

static void op_close(struct worker *w, struct space *sp)
{
	int hi = pick_handle(w, sp, 0);

	if (hi < 0)
		return;
	note(w, "close h%d", hi);
	close_handle(w, sp, hi);
}

/* Close and open the same name again, maybe truncating: metadata files are
 * rewritten this way. */
static void op_reopen(struct worker *w, struct space *sp)
{
	int hi = pick_handle(w, sp, 0), slot, flags, et, er;
	char pt[PATH_MAX], pr[PATH_MAX];

	if (hi < 0)
		return;
	slot = handle_slot(sp, hi);
	note(w, "reopen h%d (f%d)", hi, slot);
	close_handle(w, sp, hi);
	if (slot < 0)
		return;
	flags = O_RDWR | (chance(w, 40) ? O_TRUNC : 0);
	slot_path(pt, sizeof(pt), sp->tdir, slot);
	slot_path(pr, sizeof(pr), sp->rdir, slot);
	sp->h[hi].fdt = open(pt, flags); et = errno;
	sp->h[hi].fdr = open(pr, flags); er = errno;
	same(w, "reopen", sp->h[hi].fdt < 0 ? -1 : 0, et, sp->h[hi].fdr < 0 ? -1 : 0, er);
	if (sp->h[hi].fdr < 0)
		return;
	sp->h[hi].used = 1;
	sp->h[hi].flags = flags;
	sp->h[hi].slot = slot;
	check_handle(w, sp, hi);
}

/* rename or link of one slot onto another, on both trees. */
static void op_two_names(struct worker *w, struct space *sp, const char *what,
			 int (*fn)(const char *, const char *))
{
	int a = (int)rnd_below(w, sp->nslots), b = (int)rnd_below(w, sp->nslots), et, er;
	char ta[PATH_MAX], ra[PATH_MAX], tb[PATH_MAX], rb[PATH_MAX];
	long rt, rr;

	slot_path(ta, sizeof(ta), sp->tdir, a);
	slot_path(ra, sizeof(ra), sp->rdir, a);
	slot_path(tb, sizeof(tb), sp->tdir, b);
	slot_path(rb, sizeof(rb), sp->rdir, b);
	note(w, "%s f%d -> f%d", what, a, b);
	rt = fn(ta, tb); et = errno;
	rr = fn(ra, rb); er = errno;
	same(w, what, rt, et, rr, er);
	check_slot(w, sp, a);
	check_slot(w, sp, b);
}

static void op_rename(struct worker *w, struct space *sp)
{
	op_two_names(w, sp, "rename", rename);
}

static void op_link(struct worker *w, struct space *sp)
{
	op_two_names(w, sp, "link", link);
}

static void op_unlink(struct worker *w, struct space *sp)
{
	int a = (int)rnd_below(w, sp->nslots), et, er;
	char ta[PATH_MAX], ra[PATH_MAX];
	long rt, rr;

	slot_path(ta, sizeof(ta), sp->tdir, a);
	slot_path(ra, sizeof(ra), sp->rdir, a);
	note(w, "unlink f%d", a);
	rt = unlink(ta); et = errno;
	rr = unlink(ra); er = errno;
	same(w, "unlink", rt, et, rr, er);
	check_slot(w, sp, a);
}

/* Every name and every open handle of a space: hard links and open handles
 * of renamed files make changes visible in places the last op did not name. */
static void check_space(struct worker *w, struct space *sp)
{
	int i;

	note(w, "check all of %s", sp->label);
	for (i = 0; i < sp->nslots; i++)
		check_slot(w, sp, i);
	for (i = 0; i < NHANDLES; i++)
		if (sp->h[i].used)
			check_handle(w, sp, i);
}

static void op_fsyncdir(struct worker *w, struct space *sp)
{
	int ft, fr, et, er;

	note(w, "fsync dir");
	ft = open(sp->tdir, O_RDONLY | O_DIRECTORY); et = errno;
	fr = open(sp->rdir, O_RDONLY | O_DIRECTORY); er = errno;
	same(w, "open dir", ft < 0 ? -1 : 0, et, fr < 0 ? -1 : 0, er);
	if (fsync(ft) < 0)
		die(w, "fsync of directory %s: %s", sp->tdir, strerror(errno));
	close(ft);
	close(fr);
}

static const struct {
	void (*fn)(struct worker *, struct space *);
	int weight;
} ops[] = {
	{ op_open, 12 }, { op_write, 30 }, { op_append, 6 }, { op_read, 12 },
	{ op_ftruncate, 5 }, { op_truncate, 4 }, { op_fsync, 3 }, { op_close, 5 },
	{ op_reopen, 4 }, { op_rename, 5 }, { op_link, 4 }, { op_unlink, 4 },
	{ check_space, 1 }, { op_fsyncdir, 1 },
};

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "opfuzz: mkdir %s: %s\n", path, strerror(errno));
	return -1;
}

static int space_init(struct space *sp, const char *label)
{
	memset(sp, 0, sizeof(*sp));
	snprintf(sp->label, sizeof(sp->label), "%s", label);
	snprintf(sp->tdir, sizeof(sp->tdir), "%s/%s", cfg.target, label);
	snprintf(sp->rdir, sizeof(sp->rdir), "%s/%s", cfg.ref, label);
	sp->nslots = cfg.files;
	pthread_mutex_init(&sp->lock, NULL);
	return make_dir(sp->tdir) || make_dir(sp->rdir) ? -1 : 0;
}

static void space_finish(struct worker *w, struct space *sp)
{
	int i;

	pthread_mutex_lock(&sp->lock);
	w->cur = sp;
	for (i = 0; i < NHANDLES; i++)
		if (sp->h[i].used)
			close_handle(w, sp, i);
	check_space(w, sp);
	pthread_mutex_unlock(&sp->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int total = 0, i;

	for (i = 0; i < (int)(sizeof(ops) / sizeof(ops[0])); i++)
		total += ops[i].weight;
	for (w->op = 0; w->op < w->nops; w->op++) {
		struct space *sp = cfg.shared && chance(w, 10) ? &shared_space : &w->own;
		long r = rnd_below(w, total);

		for (i = 0; r >= ops[i].weight; i++)
			r -= ops[i].weight;
		pthread_mutex_lock(&sp->lock);
		w->cur = sp;
		ops[i].fn(w, sp);
		w->cur = NULL;
		pthread_mutex_unlock(&sp->lock);
	}
	space_finish(w, &w->own);
	return NULL;
}

/* --verify: walks the reference tree and compares every entry with the
 * target; entries only in the target are differences too. */
static int verify_tree(struct worker *w, const char *t, const char *r);

static int verify_entry(struct worker *w, const char *t, const char *r)
{
	struct stat st, sr;
	int fdt, fdr;

	if (lstat(r, &sr) < 0) {
		fprintf(stderr, "opfuzz: verify: %s: %s\n", r, strerror(errno));
		return -1;
	}
	if (lstat(t, &st) < 0) {
		fprintf(stderr, "opfuzz: verify: %s missing on target: %s\n", t, strerror(errno));
		return -1;
	}
	if ((st.st_mode & S_IFMT) != (sr.st_mode & S_IFMT)) {
		fprintf(stderr, "opfuzz: verify: %s: type differs\n", t);
		return -1;
	}
	if (S_ISDIR(sr.st_mode))
		return verify_tree(w, t, r);
	if (!S_ISREG(sr.st_mode))
		return 0;
	if (st.st_nlink != sr.st_nlink) {
		fprintf(stderr, "opfuzz: verify: %s: link count %lu on target, %lu on reference\n",
			t, (unsigned long)st.st_nlink, (unsigned long)sr.st_nlink);
		return -1;
	}
	fdt = open(t, O_RDONLY);
	fdr = open(r, O_RDONLY);
	if (fdt < 0 || fdr < 0) {
		fprintf(stderr, "opfuzz: verify: cannot open %s: %s\n", fdt < 0 ? t : r, strerror(errno));
		return -1;
	}
	compare_fds(w, t, fdt, fdr);    /* exits on a difference */
	close(fdt);
	close(fdr);
	return 0;
}

static int count_entries(const char *dir, long *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "opfuzz: verify: opendir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	*n = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			(*n)++;
	closedir(d);
	return 0;
}

static int verify_tree(struct worker *w, const char *t, const char *r)
{
	char ct[PATH_MAX], cr[PATH_MAX];
	long nt, nr;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if (count_entries(t, &nt) || count_entries(r, &nr))
		return -1;
	if (nt != nr) {
		fprintf(stderr, "opfuzz: verify: %s has %ld entries, reference %s has %ld\n",
			t, nt, r, nr);
		rc = -1;
	}
	if (!(d = opendir(r)))
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(ct, sizeof(ct), "%s/%s", t, e->d_name);
		snprintf(cr, sizeof(cr), "%s/%s", r, e->d_name);
		if (verify_entry(w, ct, cr))
			rc = -1;
	}
	closedir(d);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: opfuzz [OPTIONS] TARGET_DIR REFERENCE_DIR\n"
		"       opfuzz --verify TARGET_DIR REFERENCE_DIR\n"
		"  --seed N       random seed (default 1)\n"
		"  --ops N        operations in total, split between threads (default 10000)\n"
		"  --threads T    worker threads, each in its own subdirectory tN (default 1)\n"
		"  --files F      file names per thread (default 8)\n"
		"  --max-size B   largest file size in bytes (default 98304)\n"
		"  --shared       add a directory \"shared\" that all threads use under a lock\n"
		"  --verbose      print every operation\n"
		"  --verify       only compare the two trees\n");
}

static int parse_num(const char *s, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v < min)
		return -1;
	*out = v;
	return 0;
}

static void workers_free(struct worker *ws, int n)
{
	for (int i = 0; i < n; i++) {
		free(ws[i].wbuf);
		free(ws[i].bt);
		free(ws[i].br);
	}
	free(ws);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "files", required_argument, NULL, 'f' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "shared", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "verify", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker *ws;
	struct timespec t0, t1;
	int c, verify = 0, i;
	long v;

	while ((c = getopt_long(argc, argv, "s:n:t:f:m:SvVh", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_num(optarg, 0, &v))
				goto bad;
			cfg.seed = (uint64_t)v;
			break;
		case 'n':
			if (parse_num(optarg, 0, &cfg.ops))
				goto bad;
			break;
		case 't':
			if (parse_num(optarg, 1, &v) || v > 64)
				goto bad;
			cfg.threads = (int)v;
			break;
		case 'f':
			if (parse_num(optarg, 1, &v) || v > 1000)
				goto bad;
			cfg.files = (int)v;
			break;
		case 'm':
			if (parse_num(optarg, 2 * BLK, &cfg.max_size) || cfg.max_size > (1L << 30))
				goto bad;
			break;
		case 'S': cfg.shared = 1; break;
		case 'v': cfg.verbose = 1; break;
		case 'V': verify = cfg.verify_only = 1; break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (argc - optind != 2)
		goto bad;
	cfg.target = argv[optind];
	cfg.ref = argv[optind + 1];

	ws = calloc((size_t)cfg.threads, sizeof(*ws));
	if (!ws)
		return 1;
	for (i = 0; i < cfg.threads; i++) {
		ws[i].id = i;
		ws[i].rng = cfg.seed * 0x100000001b3ULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL + 1;
		ws[i].nops = cfg.ops / cfg.threads + (i < cfg.ops % cfg.threads);
		for (int k = 0; k < RING; k++)
			ws[i].ring_op[k] = -1;
		ws[i].wbuf = malloc((size_t)cfg.max_size);
		ws[i].bt = malloc(CHUNK);
		ws[i].br = malloc(CHUNK);
		if (!ws[i].wbuf || !ws[i].bt || !ws[i].br)
			return 1;
	}

	if (verify) {
		int differs = verify_tree(&ws[0], cfg.target, cfg.ref);

		if (differs)
			fprintf(stderr, "opfuzz: verify: %s differs from %s\n", cfg.target, cfg.ref);
		else
			printf("opfuzz: verify: %s matches %s\n", cfg.target, cfg.ref);
		workers_free(ws, cfg.threads);
		return differs ? 1 : 0;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cfg.shared && space_init(&shared_space, "shared"))
		return 1;
	for (i = 0; i < cfg.threads; i++) {
		char label[16];
		snprintf(label, sizeof(label), "t%d", i);
		if (space_init(&ws[i].own, label))
			return 1;
	}
	for (i = 0; i < cfg.threads; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) {
			fprintf(stderr, "opfuzz: cannot start thread %d\n", i);
			return 1;
		}
	for (i = 0; i < cfg.threads; i++)
		pthread_join(ws[i].thread, NULL);
	if (cfg.shared)
		space_finish(&ws[0], &shared_space);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("opfuzz: seed %" PRIu64 ": %ld operations in %d threads on %s matched %s (%.1f s)\n",
	       cfg.seed, cfg.ops, cfg.threads, cfg.target, cfg.ref,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	workers_free(ws, cfg.threads);
	return 0;
bad:
	usage(stderr);
	return 2;
}
