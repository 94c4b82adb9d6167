/*
 * The writeback flusher. With the kernel's writeback cache, what an
 * application writes waits in the mount's page cache until the kernel
 * writes it back -- up to half a minute later -- and if the daemon is
 * killed meanwhile the kernel drops it: a crash of the daemon would cost
 * what a power cut costs. The flusher makes the kernel write the mount's
 * dirty pages back every interval, so that a killed daemon loses at most
 * the writes of the last interval that the application had not fsync'd.
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

/* Starts flushing the mount at mnt (mounted, answering) every interval_ms
 * milliseconds. 0, or -errno (-EPERM without CAP_SYS_ADMIN, -ENOSYS on a
 * kernel without open_tree) with nothing started. */
int flusher_start(const char *mnt, unsigned interval_ms);

/* Stops the flusher and lets go of the clone (at the end of the session,
 * however it ended). Safe to call when it was never started. */
void flusher_stop(void);

#endif
