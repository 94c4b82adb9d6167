/*
 * One-line log records. Each line is formatted once into a stack buffer
 * and written with a single write(2), so that lines from concurrent FUSE
 * worker threads never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"

static const char *log_prog = "jetcryptfs";
static int log_stderr = 1;
static int log_syslog;
static int log_fd = -1;
static char log_path[PATH_MAX];         /* of log_fd, for log_reopen */
static enum log_level log_level = LOG_LVL_INFO;

void log_init(const char *progname)
{
	log_prog = progname;
}

/* Opens path for appending: O_NONBLOCK, so that a FIFO no one reads
 * fails (ENXIO) instead of hanging the mount, then blocking again so
 * that no line is dropped; O_NOFOLLOW, so that a symlink planted where
 * the log goes cannot aim a root daemon's lines at another file. */
static int open_append(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC,
		      0600), fl;

	if (fd < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		fl = -errno;
		close(fd);
		return fl;
	}
	return fd;
}

int log_open_file(const char *path)
{
	int fd;

	if (strlen(path) >= sizeof(log_path))
		return -ENAMETOOLONG;
	fd = open_append(path);
	if (fd < 0)
		return fd;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	strcpy(log_path, path);
	return 0;
}

int log_reopen(void)
{
	int fd;

	if (log_fd < 0)
		return 0;
	fd = open_append(log_path);
	if (fd < 0)
		return fd;
	/* dup2 swaps the file behind the same descriptor number in one
	 * step: a worker writing a line meanwhile writes it to the old file
	 * or the new one, never to a descriptor closed and reused. */
	if (dup2(fd, log_fd) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	close(fd);
	return 0;
}

/* 1 if a syslog daemon listens on /dev/log: glibc's syslog() drops lines
 * silently when nothing does. */
static int syslog_answers(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* The fallback file for a daemon that is not root. */
static int fallback_user_path(char *out, size_t outlen)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char dir[PATH_MAX];

	if (state && state[0] == '/')
		snprintf(dir, sizeof(dir), "%s", state);
	else if (home && home[0] == '/')
		snprintf(dir, sizeof(dir), "%s/.local/state", home);
	else
		return -ENOENT;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((size_t)snprintf(out, outlen, "%s/jetcryptfs.log", dir) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

int log_detach_plan(char *out, size_t outlen)
{
	char path[PATH_MAX];

	out[0] = '\0';
	if (syslog_answers()) {
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
		return 0;
	}
	if (log_fd >= 0)
		return 0;
	if (geteuid() == 0)
		snprintf(path, sizeof(path), "%s", LOG_FALLBACK_ROOT);
	else if (fallback_user_path(path, sizeof(path)) < 0)
		return -1;
	if (log_open_file(path) < 0)
		return -1;
	snprintf(out, outlen, "%s", path);
	return 1;
}

void log_detach(void)
{
	log_stderr = 0;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

int log_level_from_name(const char *name)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LVL_ERR }, { "err", LOG_LVL_ERR }, { "warning", LOG_LVL_WARN },
		{ "warn", LOG_LVL_WARN }, { "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(name, names[i].name))
			return (int)names[i].level;
	return -1;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024], line[1200];
	va_list ap;
	int n;

	if (lvl > log_level)
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
