/*
 * memscan: where secrets sit in another process's memory, for the tests
 * that check the daemon keeps keys in locked pages and wipes them when
 * done (tests/integration/t_secrets.sh). Reads /proc/PID/smaps for the
 * mappings and whether each is locked (VmFlags "lo": mlock, as
 * sodium_malloc does), and /proc/PID/mem for their contents; needs root
 * (the daemon is not dumpable). Mappings with nothing resident or swapped
 * hold only zero pages and are skipped, and so are mappings of more than
 * 64 GiB -- a sanitizer's shadow memory, terabytes of which only a few
 * pages are used -- each named in a "skipped" line.
 *
 *   memscan PID NAME=HEX|@FILE...
 *
 * Each secret is 8 to 64 bytes; @FILE reads "NAME HEX" lines (thousands
 * are fine: every offset is looked up in a hash of the secrets' first 8
 * bytes). Secrets may share a NAME (say, one per block of a file): they
 * are counted together. Prints one line per occurrence:
 *   hit NAME[#I] ADDR locked|unlocked START-END PERMS [PATH]
 * (I: which secret of that name, from 0, where there are several), then
 * one summary line per NAME:
 *   secret NAME hits N locked L unlocked U
 * and "scanned B bytes in M mappings". Exit status: 0 the scan was made
 * (whatever it found); 1 the process's memory could not be read; 2 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_LEN 8
#define MAX_LEN 64
#define CHUNK (1u << 20)
#define MAX_MAPPING (64ull << 30)
#define PAGE 4096

struct secret {
	unsigned char bytes[MAX_LEN];
	size_t len;
	int group;
	unsigned index;                 /* among the secrets of its group */
	struct secret *next;            /* hash chain */
};

struct group {
	char *name;
	unsigned count;                 /* secrets of this name */
	unsigned long hits, locked;
};

struct mapping {
	uint64_t start, end;
	char perms[8];
	char path[512];
	unsigned long rss_kb, swap_kb;
	int locked;
};

static struct secret *secrets;
static size_t nsecrets, cap_secrets;
static struct group *groups;
static size_t ngroups;
static struct secret **table;
static size_t table_mask;
static uint64_t scanned_bytes;
static unsigned long scanned_maps;

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int group_of(const char *name, size_t len)
{
	struct group *g;

	for (size_t i = 0; i < ngroups; i++)
		if (strlen(groups[i].name) == len && !strncmp(groups[i].name, name, len))
			return (int)i;
	g = realloc(groups, (ngroups + 1) * sizeof(*groups));
	if (!g)
		return -1;
	groups = g;
	g = &groups[ngroups];
	memset(g, 0, sizeof(*g));
	g->name = strndup(name, len);
	return g->name ? (int)ngroups++ : -1;
}

/* Adds the secret NAME (len bytes of name) with the value in hex. */
static int add_secret(const char *name, size_t len, const char *hex, size_t hexlen)
{
	struct secret *s;
	int g;

	if (len == 0 || hexlen % 2 || hexlen / 2 < MIN_LEN || hexlen / 2 > MAX_LEN)
		return -1;
	if (nsecrets == cap_secrets) {
		cap_secrets = cap_secrets ? 2 * cap_secrets : 64;
		s = realloc(secrets, cap_secrets * sizeof(*s));
		if (!s)
			return -1;
		secrets = s;
	}
	s = &secrets[nsecrets];
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		s->bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	s->len = hexlen / 2;
	if ((g = group_of(name, len)) < 0)
		return -1;
	s->group = g;
	s->index = groups[g].count++;
	nsecrets++;
	return 0;
}

static int load_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f)
		return -1;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, " "), h;
		const char *hex = line + n + (line[n] == ' ');

		h = strcspn(hex, " \n");
		if (line[0] == '\n')
			continue;
		rc = add_secret(line, n, hex, h);
	}
	fclose(f);
	return rc;
}

static uint64_t first8(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static size_t slot(uint64_t v)
{
	return (size_t)((v * 0x9e3779b97f4a7c15ull) >> 20) & table_mask;
}

static int build_table(void)
{
	size_t n = 1024;

	while (n < 4 * nsecrets)
		n *= 2;
	table = calloc(n, sizeof(*table));
	if (!table)
		return -1;
	table_mask = n - 1;
	for (size_t i = 0; i < nsecrets; i++) {
		size_t k = slot(first8(secrets[i].bytes));

		secrets[i].next = table[k];
		table[k] = &secrets[i];
	}
	return 0;
}

static void report(const struct mapping *m, uint64_t addr, const struct secret *s)
{
	struct group *g = &groups[s->group];
	char idx[32] = "";

	g->hits++;
	g->locked += m->locked != 0;
	if (g->count > 1)
		snprintf(idx, sizeof(idx), "#%u", s->index);
	printf("hit %s%s 0x%" PRIx64 " %s %" PRIx64 "-%" PRIx64 " %s%s%s\n", g->name, idx, addr,
	       m->locked ? "locked" : "unlocked", m->start, m->end, m->perms, m->path[0] ? " " : "",
	       m->path);
}

/* Looks for every secret in buf, which holds len bytes from addr; a hit
 * must start before limit (the bytes after it are the overlap the next
 * chunk starts with). */
static void search(const struct mapping *m, const unsigned char *buf, size_t len, size_t limit,
		   uint64_t addr)
{
	for (size_t i = 0; i < limit && i + MIN_LEN <= len; i++) {
		uint64_t v = first8(buf + i);

		for (const struct secret *s = table[slot(v)]; s; s = s->next)
			if (first8(s->bytes) == v && i + s->len <= len && !memcmp(buf + i, s->bytes, s->len))
				report(m, addr + i, s);
	}
}

/* Reads [at, at + len) into buf; where the whole range cannot be read
 * (a page that is gone, a special mapping), reads page by page and leaves
 * zeros where a page cannot be read. Returns the bytes read. */
static size_t read_range(int memfd, unsigned char *buf, uint64_t at, size_t len)
{
	ssize_t n = pread(memfd, buf, len, (off_t)at);
	size_t got = 0;

	if (n == (ssize_t)len)
		return len;
	for (size_t off = 0; off < len; off += PAGE) {
		size_t want = len - off < PAGE ? len - off : PAGE;

		n = pread(memfd, buf + off, want, (off_t)(at + off));
		if (n == (ssize_t)want)
			got += want;
		else
			memset(buf + off, 0, want);
	}
	return got;
}

static void scan_mapping(int memfd, const struct mapping *m, unsigned char *buf)
{
	if (m->rss_kb == 0 && m->swap_kb == 0)
		return;
	if (!strcmp(m->path, "[vvar]") || !strcmp(m->path, "[vsyscall]") ||
	    !strcmp(m->path, "[vvar_vclock]"))
		return;
	if (m->end - m->start > MAX_MAPPING) {
		printf("skipped %" PRIx64 "-%" PRIx64 " %s%s%s: %" PRIu64 " GiB\n", m->start, m->end, m->perms,
		       m->path[0] ? " " : "", m->path, (m->end - m->start) >> 30);
		return;
	}
	scanned_maps++;
	for (uint64_t at = m->start; at < m->end; at += CHUNK) {
		size_t len = m->end - at < CHUNK ? (size_t)(m->end - at) : CHUNK;
		size_t total = len, more = MAX_LEN - 1;

		/* The next chunk's first bytes, so that a secret across the
		 * boundary is found (once: a hit must start in this chunk). */
		if (at + len < m->end)
			total += m->end - (at + len) < more ? (size_t)(m->end - (at + len)) : more;
		scanned_bytes += read_range(memfd, buf, at, total);
		search(m, buf, total, len, at);
	}
}

/* The smaps fields used: how much is resident or swapped, and whether
 * the mapping is locked. */
static void smaps_field(struct mapping *m, const char *line)
{
	unsigned long v;

	if (sscanf(line, "Rss: %lu kB", &v) == 1)
		m->rss_kb = v;
	else if (sscanf(line, "Swap: %lu kB", &v) == 1)
		m->swap_kb = v;
	else if (!strncmp(line, "VmFlags:", 8))
		m->locked |= strstr(line + 8, " lo") != NULL;
	else if (sscanf(line, "Locked: %lu kB", &v) == 1 && v > 0)
		m->locked = 1;
}

/* A mapping's header line: "start-end perms offset dev inode [path]". */
static int smaps_header(struct mapping *m, const char *line)
{
	unsigned long long s, e;
	int used = 0;

	if (sscanf(line, "%llx-%llx %7s %*s %*s %*s%n", &s, &e, m->perms, &used) < 3 || used == 0)
		return 0;
	m->start = s;
	m->end = e;
	m->rss_kb = m->swap_kb = 0;
	m->locked = 0;
	line += used;
	while (*line == ' ')
		line++;
	snprintf(m->path, sizeof(m->path), "%.*s", (int)strcspn(line, "\n"), line);
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: memscan PID NAME=HEX|@FILE... (secrets of %d to %d bytes; FILE: \"NAME HEX\" lines)\n",
		MIN_LEN, MAX_LEN);
	return 2;
}

int main(int argc, char **argv)
{
	char path[64], line[1024];
	struct mapping m;
	unsigned char *buf;
	int memfd, have = 0;
	FILE *smaps;

	if (argc < 3)
		return usage();
	for (int i = 2; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		int rc = argv[i][0] == '@' ? load_file(argv[i] + 1) :
			 eq ? add_secret(argv[i], (size_t)(eq - argv[i]), eq + 1, strlen(eq + 1)) : -1;

		if (rc < 0) {
			fprintf(stderr, "memscan: %s: not NAME=HEX or a readable @FILE of \"NAME HEX\" lines\n",
				argv[i]);
			return usage();
		}
	}
	if (build_table() < 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/%s/smaps", argv[1]);
	smaps = fopen(path, "re");
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	buf = malloc(CHUNK + MAX_LEN);
	if (!smaps || memfd < 0 || !buf) {
		fprintf(stderr, "memscan: process %s: %s (run as root)\n", argv[1], strerror(errno));
		return 1;
	}
	/* A mapping's fields follow its header line. */
	while (fgets(line, sizeof(line), smaps)) {
		struct mapping next;

		if (smaps_header(&next, line)) {
			if (have)
				scan_mapping(memfd, &m, buf);
			m = next;
			have = 1;
		} else if (have) {
			smaps_field(&m, line);
		}
	}
	if (have)
		scan_mapping(memfd, &m, buf);
	fclose(smaps);
	close(memfd);
	free(buf);
	if (!have || scanned_bytes == 0) {
		fprintf(stderr, "memscan: nothing of process %s could be read\n", argv[1]);
		return 1;
	}
	for (size_t i = 0; i < ngroups; i++)
		printf("secret %s hits %lu locked %lu unlocked %lu\n", groups[i].name, groups[i].hits,
		       groups[i].locked, groups[i].hits - groups[i].locked);
	printf("scanned %" PRIu64 " bytes in %lu mappings\n", scanned_bytes, scanned_maps);
	return 0;
}
