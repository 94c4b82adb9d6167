/*
 * Logging for the daemon and the tools: one line per event, to stderr,
 * to syslog once daemonized (or a fallback file where no syslog socket
 * answers), and optionally appended to a file that SIGHUP reopens after
 * a log rotation. Key material never goes through here.
 */
#ifndef JCFS_LOG_H
#define JCFS_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Starts logging to stderr. */
void log_init(const char *progname);
/* Appends to path from now on (0 or -errno); the path is kept for
 * log_reopen. A symlink or a FIFO that no process reads is refused
 * (-ELOOP, -ENXIO). */
int log_open_file(const char *path);
/* Opens the log file again under its name, after logrotate has moved
 * it away: 0, or -errno with the old file kept. Nothing without a file. */
int log_reopen(void);

/* Where a daemon's lines go once it has left the terminal, which
 * log_detach decides: syslog if its socket answers; a log file if one
 * was given; otherwise a fallback file (LOG_FALLBACK_ROOT for root,
 * $XDG_STATE_HOME or ~/.local/state/jetcryptfs.log else), so that
 * run-time errors are never written to nowhere. log_detach_plan says,
 * before the detach, where that will be: 0 syslog or the log file
 * only, 1 the fallback (path in out, for the one warning at start), -1
 * nowhere (no fallback could be named). */
#define LOG_FALLBACK_ROOT "/var/log/jetcryptfs.log"
int log_detach_plan(char *out, size_t outlen);
/* Stops writing to stderr and sends lines where log_detach_plan said. */
void log_detach(void);

/* Lines below level are dropped (default LOG_LVL_INFO). */
void log_set_level(enum log_level level);
/* "error", "warning", "info" or "debug" (also "warn", "err"), for
 * --log-level; -1 for anything else. */
int log_level_from_name(const char *name);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A command-line mistake: one line on stderr naming the command (NULL:
 * none) and the problem, and where the usage is; never to a log file. */
void log_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for what getopt_long returned (c, '?' or ':' with a leading ':'
 * in its option string and opterr 0) on argv. */
void log_usage_getopt(const char *cmd, int c, char *const *argv);

/* status, or 1 (EXIT_FAIL) after one error line if anything written to
 * stdout did not reach it (a full disk, a closed pipe): a key, a report or
 * a listing that was lost must not look like success. */
int log_stdout_status(int status);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
