/*
 * One-line log records. Each line is formatted once into a stack buffer
 * and written with a single write(2), so that lines from concurrent FUSE
 * worker threads never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "jetcryptfs";
static int log_stderr = 1;
static int log_syslog;
static int log_fd = -1;
static int log_debug_on;

void log_init(const char *progname)
{
	log_prog = progname;
}

int log_open_file(const char *path)
{
	/* O_NONBLOCK: a FIFO no one reads must fail (ENXIO), not hang the
	 * mount; writes block again afterwards, so no line is dropped. */
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600), fl;

	if (fd < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		fl = -errno;
		close(fd);
		return fl;
	}
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void log_use_syslog(void)
{
	openlog(log_prog, LOG_PID, LOG_DAEMON);
	log_syslog = 1;
	log_stderr = 0;
}

void log_set_debug(int on)
{
	log_debug_on = on;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024], line[1200];
	va_list ap;
	int n;

	if (lvl == LOG_LVL_DEBUG && !log_debug_on)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (log_syslog)
		syslog(prio[lvl], "%s", msg);
	if (log_stderr) {
		n = snprintf(line, sizeof(line), "%s: %s%s%s\n", log_prog,
			     lvl == LOG_LVL_INFO ? "" : names[lvl],
			     lvl == LOG_LVL_INFO ? "" : ": ", msg);
		if (n > 0)
			(void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	if (log_fd >= 0) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = snprintf(line, sizeof(line), "%s %s[%d] %s: %s\n", stamp, log_prog,
			     (int)getpid(), names[lvl], msg);
		if (n > 0)
			(void)!write(log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
}

void log_usage(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s%s%s: %s (see '%s%s%s --help')\n", log_prog, cmd ? " " : "", cmd ? cmd : "", msg,
		log_prog, cmd ? " " : "", cmd ? cmd : "");
}

void log_usage_getopt(const char *cmd, int c, char *const *argv)
{
	const char *arg = argv[optind - 1];
	int is_long = arg[0] == '-' && arg[1] == '-';

	/* getopt_long sets optopt to a long option's value too. */
	if (c == ':' && is_long)
		log_usage(cmd, "option %s needs a value", arg);
	else if (c == ':')
		log_usage(cmd, "option -%c needs a value", optopt);
	else if (optopt && !is_long)
		log_usage(cmd, "unknown option -%c", optopt);
	else
		log_usage(cmd, "unknown option %s", arg);
}

int log_stdout_status(int status)
{
	int err = 0;

	if (fflush(stdout) != 0)
		err = errno;
	else if (ferror(stdout))
		err = -1;               /* an earlier write failed; its errno is gone */
	if (!err)
		return status;
	log_err("standard output: %s", err > 0 ? strerror(err) : "a write failed");
	return status == 0 ? 1 : status;
}
