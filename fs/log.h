/*
 * Logging for the daemon and the tools: one line per event, to stderr,
 * to syslog once daemonized, and optionally appended to a file. Key
 * material never goes through here.
 */
#ifndef JCFS_LOG_H
#define JCFS_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Starts logging to stderr. */
void log_init(const char *progname);
/* Appends to path from now on (0 or -errno). */
int log_open_file(const char *path);
/* Stops writing to stderr and sends lines to syslog instead. */
void log_use_syslog(void);
void log_set_debug(int on);

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
