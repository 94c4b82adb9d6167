/*
 * "mount -o remount,ro MOUNTPOINT" (and back with rw): mount(8) runs it
 * through mount.fuse3 as "jetcryptfs BACKING MOUNTPOINT -o
 * remount,OPTIONS", with the mount's current options merged in. The
 * kernel lets a FUSE mount change its read-only flag and its per-mount
 * flags (nosuid, nodev, noexec, ...) in place, as root; what the daemon
 * was started with -- its keys, its cache mode, how it keeps access
 * times -- stays, so a remount changes those flags only, on a live
 * jetcryptfs mount of BACKING.
 */
#ifndef JCFS_REMOUNT_H
#define JCFS_REMOUNT_H

#include <stddef.h>

/* Remounts mountpoint, a live jetcryptfs mount of backing, with the
 * flags opts (the -o options, comma-separated) ask for on top of those it
 * has; the other options in opts are the mount's own and are ignored. 0,
 * or an exit status (status.h) with a one-line message in err. */
int remount_run(const char *backing, const char *mountpoint, const char *opts, char *err, size_t errlen);

#endif
