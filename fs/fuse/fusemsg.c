/*
 * libfuse's own messages: sent to our log (so to syslog or --log-file once
 * daemonized, not to a closed stderr), or, while a session is set up,
 * kept, so that a refused option or mount makes one error line with
 * libfuse's reason in it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <fuse_log.h>

#include "fusemsg.h"
#include "log.h"

static int fuse_msg_keep;
static char fuse_msg[256];

static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	/* Kept: what could be the reason for a failure. Debug output (-d)
	 * goes on to the log as always. libfuse builds one line in pieces. */
	if (fuse_msg_keep && level <= FUSE_LOG_WARNING) {
		n = strlen(fuse_msg);
		vsnprintf(fuse_msg + n, sizeof(fuse_msg) - n, fmt, ap);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	n = strncmp(msg, "fuse: ", 6) ? 0 : 6;
	log_msg(level <= FUSE_LOG_ERR ? LOG_LVL_ERR : level <= FUSE_LOG_WARNING ? LOG_LVL_WARN :
		level <= FUSE_LOG_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG, "libfuse: %s", msg + n);
}

void fusemsg_start(void)
{
	fuse_set_log_func(fuse_log_to_ours);
	fuse_msg[0] = '\0';
	fuse_msg_keep = 1;
}

const char *fusemsg_stop(const char *what)
{
	size_t n = strlen(fuse_msg);
	const char *msg;

	fuse_msg_keep = 0;
	for (size_t i = 0; i < n; i++)
		if (fuse_msg[i] == '\n')
			fuse_msg[i] = i + 1 == n ? '\0' : ' ';
	if (!fuse_msg[0])
		return what;
	msg = strncmp(fuse_msg, "fuse: ", 6) ? fuse_msg : fuse_msg + 6;
	return strncmp(msg, "error: ", 7) ? msg : msg + 7;     /* ours says it */
}
