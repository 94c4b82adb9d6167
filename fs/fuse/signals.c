/*
 * The signal thread: sigwait() in a loop, so that nothing here runs in a
 * signal handler and every action may take locks, fork and log.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "mountpoint.h"
#include "signals.h"

static char sig_mnt[PATH_MAX];
static sigset_t sig_set;

/* Tries a normal unmount of the store; if it is busy, says who holds it
 * and leaves it mounted. */
static void stop_if_idle(int sig)
{
	char users[512];
	int rc;

	log_info("signal %d: unmounting %s", sig, sig_mnt);
	rc = mountpoint_unmount(sig_mnt, 0);
	if (rc == 0)
		return;         /* the kernel ends the session: the loop returns */
	if (rc == -EBUSY) {
		size_t n = mountpoint_users(sig_mnt, users, sizeof(users));

		log_warn("%s: busy, not unmounted%s%s%s; still serving: stop %s, then send SIGTERM again (or run "
			 "fusermount3 -u %s)", sig_mnt, n ? " (in use by " : "", users, n ? ")" : "",
			 n ? "them" : "what uses it", sig_mnt);
		return;
	}
	log_err("%s: cannot unmount: %s; still serving", sig_mnt, strerror(-rc));
}

static void *signal_thread(void *arg)
{
	int sig, rc;

	(void)arg;
	while (sigwait(&sig_set, &sig) == 0) {
		if (sig != SIGHUP) {
			stop_if_idle(sig);
			continue;
		}
		rc = log_reopen();
		if (rc < 0)
			log_err("SIGHUP: cannot reopen the log file: %s; still writing to the old one", strerror(-rc));
		else
			log_info("SIGHUP: log file reopened");
	}
	return NULL;
}

int signals_start(const char *mnt)
{
	pthread_t t;
	int rc;

	snprintf(sig_mnt, sizeof(sig_mnt), "%s", mnt);
	sigemptyset(&sig_set);
	sigaddset(&sig_set, SIGTERM);
	sigaddset(&sig_set, SIGINT);
	sigaddset(&sig_set, SIGHUP);
	/* Blocked here, before any worker thread exists, so only the signal
	 * thread ever receives them. */
	rc = pthread_sigmask(SIG_BLOCK, &sig_set, NULL);
	if (rc)
		return -rc;
	signal(SIGPIPE, SIG_IGN);
	rc = pthread_create(&t, NULL, signal_thread, NULL);
	if (rc)
		return -rc;
	pthread_detach(t);
	return 0;
}
