/*
 * The writeback flusher. With the kernel's writeback cache, what an
 * application writes waits in the mount's page cache until the kernel
 * writes it back -- up to half a minute later -- and if the daemon is
 * killed meanwhile the kernel drops it: a crash of the daemon would cost
 * what a power cut costs. The flusher makes the kernel write the mount's
 * dirty pages back every interval, so that a killed daemon loses at most
 * the writes of the last interval that the application had not fsync'd.
 *
 * It is a process of its own (this program again, run as "jetcryptfs
 * __flush"), not a thread: syncfs waits, uninterruptibly, for the daemon
 * to answer the writes it sets off, and a thread of a daemon killed at
 * that moment would wait for ever, keeping the daemon's descriptors --
 * /dev/fuse among them -- open, so that the dead mount would hang instead
 * of failing. The flusher holds no descriptor of the daemon's: when the
 * daemon dies the connection ends, its syncfs returns, and it exits.
 *
 * It works on a detached clone of the mount (open_tree), which keeps no
 * path busy: an unmount of the mount itself is never refused because of
 * it. The clone keeps the filesystem alive, though, so the flusher watches
 * the mount table and lets go of it the moment the mount is gone; only
 * then does the kernel end the session. Needs CAP_SYS_ADMIN (the daemon
 * run as root); without it the kernel's own writeback is all there is.
 */
#ifndef JCFS_FLUSHER_H
#define JCFS_FLUSHER_H

/* The hidden command the flusher process runs as. */
#define FLUSHER_COMMAND "__flush"

/* Starts the flusher process for the mount at mnt (mounted, served)
 * every interval_ms milliseconds; log_file (may be NULL) is where it
 * reports a failure, besides syslog. 0, or -errno with nothing started. */
int flusher_start(const char *mnt, unsigned interval_ms, const char *log_file);

/* Stops the flusher process and waits for it (it has let go of its clone
 * of the mount by then). Safe to call when it was never started. */
void flusher_stop(void);

/* The flusher process: argv is FLUSHER_COMMAND, the mount point, the
 * interval in ms, the daemon's pid and the log file ("" for none).
 * Returns the exit status. */
int flusher_main(int argc, char **argv);

#endif
