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

#include "jcfs_err.h"

/* Remounts mountpoint, a live jetcryptfs mount of backing, with the
 * flags opts (the -o options, comma-separated) ask for on top of those it
 * has; the other options in opts are the mount's own and are ignored. 0,
 * or with a one-line message in err: JCFS_E_MOUNTPOINT if mountpoint is
 * a dead mount or no live jetcryptfs mount of backing, JCFS_E_USAGE for
 * an option a remount cannot apply (one that would change how access
 * times are kept), else -errno. */
int remount_run(const char *backing, const char *mountpoint, const char *opts, char *err, size_t errlen);

#endif
