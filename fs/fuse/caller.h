/*
 * Who made a FUSE request, as far as the set-id rules of a local
 * filesystem need it: the kernel tells the daemon the caller's fsuid,
 * fsgid and thread id, not its supplementary groups or capabilities, which
 * these functions read from /proc/TID/status. That is a look at a live
 * process: one that has exited (or a thread id already reused) by the time
 * it is read gives the fallback each function names, and a caller in a
 * PID namespace the daemon cannot see sends thread id 0.
 */
#ifndef JCFS_CALLER_H
#define JCFS_CALLER_H

#include <sys/types.h>

/* 1 if the caller (fsgid, thread id pid) is a member of group gid: its
 * fsgid or one of its supplementary groups; only the fsgid counts where
 * /proc/PID/status cannot be read. */
int caller_in_group(gid_t fsgid, pid_t pid, gid_t gid);

/* 1 if the caller (fsuid, thread id pid) has CAP_FSETID in its effective
 * set; where that cannot be read, 1 for fsuid 0 and 0 otherwise. */
int caller_has_fsetid(uid_t fsuid, pid_t pid);

/* The set-id bits a local filesystem clears from a regular file of mode
 * and group file_gid when the caller (fsgid, pid), known to lack
 * CAP_FSETID, writes, truncates or allocates it: S_ISUID, and S_ISGID if
 * the group may execute or the caller is not in the file's group (the
 * kernel's setattr_should_drop_suidgid). 0 if none. */
mode_t caller_setid_to_kill(mode_t mode, gid_t file_gid, gid_t fsgid, pid_t pid);

#endif
