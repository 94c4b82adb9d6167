/*
 * jspub: the JetStream load generator of scripts/bench.sh. It speaks the
 * NATS text protocol directly over one TCP connection, so that the client
 * is never what limits a benchmark: "publish" sends PUB with a reply
 * subject and keeps up to --inflight messages unacknowledged, counting the
 * server's acks (an ack naming an error stops the run); "consume" creates
 * a push consumer with no acks on an existing stream, with flow control so
 * that a reader that falls behind is paced rather than cut off, and counts
 * deliveries until it has them all. Each prints "msgs=N secs=T rate=R", and
 * exits non-zero with "jspub: problem" on anything unexpected; "ping"
 * succeeds once JetStream answers, for start-up scripts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RBUF (1 << 20)
/* Subscriptions: replies (API, acks) and, for consume, deliveries. A push
 * consumer's messages carry their stream subject, not the deliver subject,
 * and the server wants a literal subscription on the deliver subject. */
#define SID_REPLY 1
#define SID_DLV 2

static struct {
	const char *host, *stream, *subject, *storage;
	int port, size, inflight, create;
	long count;
	double timeout;
} cfg = { .host = "127.0.0.1", .port = 4222, .stream = "bench", .subject = "bench.s",
	  .storage = "file", .size = 128, .inflight = 256, .count = 100000, .timeout = 300 };

static int sock = -1;
static char *rbuf;
static size_t rlen;
static char *wbuf;
static size_t wlen, wcap;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "jspub: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void out(const void *p, size_t n)
{
	if (wlen + n > wcap) {
		wcap = (wlen + n) * 2;
		wbuf = realloc(wbuf, wcap);
		if (!wbuf)
			die("out of memory");
	}
	memcpy(wbuf + wlen, p, n);
	wlen += n;
}

static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		die("protocol line too long");
	out(line, (size_t)n);
}

static void flush_out(void)
{
	size_t done = 0;

	while (done < wlen) {
		ssize_t n = write(sock, wbuf + done, wlen - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write to server: %s", strerror(errno));
		}
		done += (size_t)n;
	}
	wlen = 0;
}

/* One protocol message from the server. */
struct pmsg {
	char op[8];
	char subject[256];
	char reply[256];
	int sid;
	const char *payload;    /* MSG only; valid until the next next_msg() */
	size_t plen;
	const char *line;       /* -ERR and INFO text */
};

/* Unparsed bytes are rbuf[rpos..rlen); parsed ones are dropped only when
 * the space is needed, so a message costs no copying. */
static size_t rpos;

static void fill(void)
{
	ssize_t n;

	if (rpos && rlen == RBUF) {
		memmove(rbuf, rbuf + rpos, rlen - rpos);
		rlen -= rpos;
		rpos = 0;
	}
	if (rlen == RBUF)
		die("server message larger than %d bytes", RBUF);
	for (;;) {
		n = read(sock, rbuf + rlen, RBUF - rlen);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		die("no data from the server for %.0f s", cfg.timeout);
	if (n < 0)
		die("read from server: %s", strerror(errno));
	if (n == 0)
		die("server closed the connection");
	rlen += (size_t)n;
}

/* 1 if bytes are buffered that next_msg() can start on without reading. */
static int buffered(void)
{
	return rlen > rpos;
}

/* Deliveries to the consumer's subject, wherever they are read: they may
 * arrive before the reply to the request that created the consumer. */
static long delivered;
static size_t delivered_bad;

/* Parses the next complete message out of rbuf, reading as needed. The
 * message's text stays valid until the next call. */
static void next_msg(struct pmsg *m)
{
	char *line, *nl;
	size_t linelen;

	for (;;) {
		nl = rlen > rpos ? memmem(rbuf + rpos, rlen - rpos, "\r\n", 2) : NULL;
		if (nl)
			break;
		fill();
	}
	line = rbuf + rpos;
	linelen = (size_t)(nl - line);
	*nl = '\0';
	memset(m, 0, sizeof(*m));
	sscanf(line, "%7s", m->op);
	if (!strcmp(m->op, "MSG") || !strcmp(m->op, "HMSG")) {
		/* MSG subj sid [reply] len  |  HMSG subj sid [reply] hlen tlen */
		char *w[7], *save = NULL;
		int nw = 0, hm = m->op[0] == 'H';
		size_t hlen = 0, tlen, start;

		for (char *t = strtok_r(line, " \t", &save); t && nw < 7; t = strtok_r(NULL, " \t", &save))
			w[nw++] = t;
		if (nw != (hm ? 5 : 4) && nw != (hm ? 6 : 5))
			die("bad %s line", m->op);
		snprintf(m->subject, sizeof(m->subject), "%s", w[1]);
		m->sid = atoi(w[2]);
		if (nw == (hm ? 6 : 5))
			snprintf(m->reply, sizeof(m->reply), "%s", w[3]);
		tlen = (size_t)atol(w[nw - 1]);
		if (hm)
			hlen = (size_t)atol(w[nw - 2]);
		if (hlen > tlen)
			die("bad HMSG lengths");
		/* fill() may move the buffer: keep offsets, not pointers. */
		start = linelen + 2;
		while (rlen - rpos < start + tlen + 2)
			fill();
		m->payload = rbuf + rpos + start + hlen;
		m->plen = tlen - hlen;
		rpos += start + tlen + 2;
		return;
	}
	m->line = line;
	rpos += linelen + 2;
}

/* Handles the housekeeping messages; 1 if m was one. */
static int housekeeping(struct pmsg *m)
{
	if (!strcmp(m->op, "PING")) {
		out("PONG\r\n", 6);
		flush_out();
		return 1;
	}
	if (!strcmp(m->op, "+OK") || !strcmp(m->op, "PONG") || !strcmp(m->op, "INFO"))
		return 1;
	if (!strcmp(m->op, "-ERR"))
		die("server error: %s", m->line);
	return 0;
}

static void connect_server(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port) };
	struct timeval tv = { .tv_sec = (time_t)cfg.timeout };
	struct pmsg m;
	int one = 1;

	if (inet_pton(AF_INET, cfg.host, &sa.sin_addr) != 1)
		die("%s: not an IPv4 address", cfg.host);
	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s:%d: %s", cfg.host, cfg.port, strerror(errno));
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A server that stops answering ends the run instead of hanging it. */
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	next_msg(&m);
	if (strcmp(m.op, "INFO"))
		die("expected INFO from the server, got '%s'", m.op);
	outf("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
	     "\"no_responders\":true,\"protocol\":1,\"name\":\"jspub\"}\r\nPING\r\n");
	outf("SUB _JSR.> %d\r\nSUB _JSD.dlv %d\r\n", SID_REPLY, SID_DLV);
	flush_out();
	for (;;) {
		next_msg(&m);
		if (!strcmp(m.op, "PONG"))
			break;
		housekeeping(&m);
	}
}

/* A delivery, or one of the consumer's status messages (headers only):
 * a flow-control request wants an empty reply before the server sends
 * more, which keeps a reader that falls behind from being cut off as a
 * slow consumer; a heartbeat wants nothing. */
static void count_delivery(const struct pmsg *m)
{
	if (m->op[0] == 'H' && m->plen == 0) {
		if (m->reply[0]) {
			outf("PUB %s 0\r\n\r\n", m->reply);
			flush_out();
		}
		return;
	}
	if (m->plen != (size_t)cfg.size)
		delivered_bad = m->plen;
	delivered++;
}

/* A JetStream API request; the reply's payload is copied into resp. */
static void api(const char *subject, const char *body, char *resp, size_t rsz)
{
	struct pmsg m;
	double deadline = now() + 30;

	outf("PUB %s _JSR.api %zu\r\n%s\r\n", subject, strlen(body), body);
	flush_out();
	while (now() < deadline) {
		next_msg(&m);
		if (housekeeping(&m))
			continue;
		if (m.sid == SID_DLV) {
			count_delivery(&m);
			continue;
		}
		if (!strcmp(m.subject, "_JSR.api")) {
			if (m.op[0] == 'H' && m.plen == 0)
				die("%s: no responders (is JetStream enabled?)", subject);
			snprintf(resp, rsz, "%.*s", (int)m.plen, m.payload);
			return;
		}
	}
	die("%s: no answer within 30 s", subject);
}

static void create_stream(void)
{
	char body[1024], resp[4096];

	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"subjects\":[\"%s\"],\"storage\":\"%s\",\"num_replicas\":1,"
		 "\"retention\":\"limits\",\"discard\":\"old\",\"max_msgs\":-1,\"max_bytes\":-1,"
		 "\"max_age\":0,\"max_msgs_per_subject\":-1,\"max_msg_size\":-1,\"duplicate_window\":0}",
		 cfg.stream, cfg.subject, cfg.storage);
	{
		char subj[512];

		snprintf(subj, sizeof(subj), "$JS.API.STREAM.CREATE.%s", cfg.stream);
		api(subj, body, resp, sizeof(resp));
	}
	if (strstr(resp, "\"error\""))
		die("stream create: %s", resp);
}

static void report(long n, double secs)
{
	printf("msgs=%ld secs=%.3f rate=%.0f\n", n, secs, secs > 0 ? (double)n / secs : 0.0);
}

static void publish(void)
{
	char *payload = malloc((size_t)cfg.size), hdr[512];
	long sent = 0, acked = 0, inflight = 0;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	struct pmsg m;
	double t0, deadline;
	int hl;

	if (!payload)
		die("out of memory");
	/* Printable pseudo-random bytes: nothing compresses them away. */
	for (int i = 0; i < cfg.size; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		payload[i] = (char)('A' + x % 26);
	}
	hl = snprintf(hdr, sizeof(hdr), "PUB %s _JSR.ack %d\r\n", cfg.subject, cfg.size);
	t0 = now();
	deadline = t0 + cfg.timeout;
	while (acked < cfg.count) {
		while (sent < cfg.count && inflight < cfg.inflight) {
			out(hdr, (size_t)hl);
			out(payload, (size_t)cfg.size);
			out("\r\n", 2);
			sent++;
			inflight++;
		}
		flush_out();
		/* Take every ack already buffered, then read more. */
		do {
			next_msg(&m);
			if (housekeeping(&m))
				continue;
			if (strcmp(m.subject, "_JSR.ack"))
				continue;
			if (m.plen == 0 || memmem(m.payload, m.plen, "\"error\"", 7))
				die("publish %ld: ack %.*s", acked + 1, (int)m.plen, m.payload);
			acked++;
			inflight--;
		} while (buffered() && acked < cfg.count);
		if (now() > deadline)
			die("publish: only %ld of %ld acked within %.0f s", acked, cfg.count, cfg.timeout);
	}
	report(acked, now() - t0);
	free(payload);
}

static void consume(void)
{
	char body[1024], subj[512], resp[4096];
	struct pmsg m;
	double t0;

	t0 = now();
	snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.CREATE.%s", cfg.stream);
	snprintf(body, sizeof(body),
		 "{\"stream_name\":\"%s\",\"config\":{\"deliver_subject\":\"_JSD.dlv\","
		 "\"deliver_policy\":\"all\",\"ack_policy\":\"none\",\"replay_policy\":\"instant\","
		 "\"flow_control\":true,\"idle_heartbeat\":1000000000,"
		 "\"num_replicas\":1,\"mem_storage\":true}}", cfg.stream);
	api(subj, body, resp, sizeof(resp));
	if (strstr(resp, "\"error\""))
		die("consumer create: %s", resp);
	while (delivered < cfg.count) {
		next_msg(&m);
		if (housekeeping(&m))
			continue;
		if (m.sid == SID_DLV)
			count_delivery(&m);
	}
	if (delivered_bad)
		die("consume: a message had %zu bytes, expected %d", delivered_bad, cfg.size);
	report(delivered, now() - t0);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: jspub publish|consume|ping [--host IP] [--port P] [--stream S] [--subject X]\n"
		"             [--count N] [--size B] [--inflight W] [--create file|memory] [--timeout SEC]\n"
		"  publish: PUB with a reply subject, W unacknowledged at most; --create makes the stream\n"
		"  consume: push consumer (no acks) over the whole stream, N messages of B bytes\n"
		"  ping:    exits 0 once JetStream answers an API request\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "stream", required_argument, NULL, 's' },
		{ "subject", required_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'b' },
		{ "inflight", required_argument, NULL, 'w' },
		{ "create", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd;
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'h': cfg.host = optarg; break;
		case 'p': cfg.port = atoi(optarg); break;
		case 's': cfg.stream = optarg; break;
		case 'j': cfg.subject = optarg; break;
		case 'n': cfg.count = atol(optarg); break;
		case 'b': cfg.size = atoi(optarg); break;
		case 'w': cfg.inflight = atoi(optarg); break;
		case 'c': cfg.storage = optarg; cfg.create = 1; break;
		case 't': cfg.timeout = atof(optarg); break;
		case 'H': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (cfg.count <= 0 || cfg.size <= 0 || cfg.inflight <= 0) {
		usage(stderr);
		return 2;
	}
	rbuf = malloc(RBUF);
	if (!rbuf)
		die("out of memory");
	connect_server();
	if (!strcmp(cmd, "publish")) {
		if (cfg.create)
			create_stream();
		publish();
	} else if (!strcmp(cmd, "ping")) {
		char resp[4096];

		api("$JS.API.INFO", "", resp, sizeof(resp));
		if (strstr(resp, "\"error\""))
			die("JetStream not ready: %s", resp);
		printf("ok\n");
	} else if (!strcmp(cmd, "consume")) {
		consume();
	} else {
		usage(stderr);
		return 2;
	}
	close(sock);
	return 0;
}
