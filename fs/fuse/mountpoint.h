/*
 * The mount point around a mount's life. Before: it must be an empty
 * directory that carries no mount (unless nonempty is asked), and a dead
 * mount of the same store that a killed daemon left there is cleaned up.
 * During and after: the guard, the immutable attribute on the bare
 * directory, which the kernel lets a mount cover but which refuses every
 * create inside it while nothing is mounted there -- so a program that
 * goes on writing to the path after the mount went away (a crash, a kill,
 * an unmount under a running nats-server) gets EPERM instead of writing
 * plaintext to the disk. And when busy: who holds files open there.
 */
#ifndef JCFS_MOUNTPOINT_H
#define JCFS_MOUNTPOINT_H

#include <stddef.h>

#include "jcfs_err.h"

enum { MOUNTPOINT_NONEMPTY = 1 };

/* Checks the mount point given for a mount of backing (a resolved
 * path): out (PATH_MAX bytes) gets it resolved. A dead jetcryptfs mount
 * of backing there is lazily unmounted first, with one line in the log
 * saying so. 0, or with one line naming the directory and what to do in
 * err: JCFS_E_BUSY if a live mount of this very store is there already;
 * JCFS_E_MOUNTPOINT if the directory holds entries or carries another
 * mount and MOUNTPOINT_NONEMPTY was not asked, or a dead mount that is not
 * this store's (or cannot be cleaned up) is in the way; JCFS_E_USAGE if
 * it is the backing directory or inside it; else -errno. */
int mountpoint_prepare(const char *given, const char *backing, unsigned flags, char *out,
		       char *err, size_t errlen);

/* Sets the immutable attribute on mnt (a directory not yet mounted
 * over). 1 if this call set it, 0 if it was set already, -errno if the
 * filesystem or the caller's capabilities do not allow it. */
int mountpoint_guard(const char *mnt);
/* Clears what mountpoint_guard set (a mount that failed leaves the
 * directory as it was found). 0 or -errno. */
int mountpoint_unguard(const char *mnt);

/* Unmounts mnt: as root with umount2, else through fusermount3. Lazily
 * (MNT_DETACH) only for a dead mount: a detached live mount would leave
 * the bare directory under programs that still write to the path.
 * 0, -EBUSY if files are open there, -errno. */
int mountpoint_unmount(const char *mnt, int lazy);

/* Lists in out the processes that hold mnt busy: an open file, a
 * working or root directory below it ("1234 nats-server, 99 bash, and 2
 * more"). Returns how many were found. */
size_t mountpoint_users(const char *mnt, char *out, size_t outlen);

#endif
