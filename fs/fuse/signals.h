/*
 * The daemon's signals, taken by one thread of their own. SIGTERM and
 * SIGINT unmount the store only when it is not busy: a normal unmount is
 * tried, and if the kernel says the mount is busy the daemon says who
 * holds it, keeps serving, and waits for the next signal (or for
 * fusermount3 -u) to try again; no signal ever detaches a busy mount,
 * which would leave the bare directory under programs still writing to
 * the path. Once unmounted, the kernel ends the session and the daemon
 * exits. SIGHUP reopens the log file (logrotate) and changes nothing else.
 */
#ifndef JCFS_SIGNALS_H
#define JCFS_SIGNALS_H

/* Blocks the signals in the calling thread (call it before any worker
 * thread starts, so that they inherit the mask) and starts the signal
 * thread for the mount at mnt. 0 or -errno. */
int signals_start(const char *mnt);

#endif
