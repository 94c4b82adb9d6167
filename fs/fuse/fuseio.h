/*
 * The daemon's own reads and writes of /dev/fuse (libfuse's custom I/O
 * hooks), for the one thing libfuse 3.14 cannot ask the kernel for:
 * FUSE_HANDLE_KILLPRIV_V2. Without it the kernel does not trust a FUSE
 * inode to be free of set-id bits and file capabilities, and every
 * write(2) costs a round trip to the daemon for getxattr
 * ("security.capability") before it touches the page cache -- one per
 * message nats-server appends, which capped publishing at a tenth of the
 * plain disk's rate. With it, the kernel asks once per inode and then
 * leaves the set-id bits to the daemon, which clears them on the requests
 * the kernel marks for it (see fuseio.c).
 */
#ifndef JCFS_FUSEIO_H
#define JCFS_FUSEIO_H

#include <stdint.h>
#include <sys/types.h>

#include "ops.h"

/* Installs the hooks on a mounted session (after fuse_session_mount,
 * before the loop). kill_suidgid(nodeid, fsgid, pid) is called, in the
 * thread that will process the request and before it does, for every
 * request the kernel flags with "kill suid/sgid", with the caller's fsgid
 * and thread id: it clears the set-id bits of the backing file that a
 * local filesystem would clear (ops.h). after_init(), if not NULL,
 * is called once the kernel has taken a successful reply to INIT: the
 * first moment the mount's settings are final (bdi.h). 0 or -errno. */
int fuseio_install(struct fuse_session *se,
		   void (*kill_suidgid)(uint64_t nodeid, gid_t fsgid, pid_t pid),
		   void (*after_init)(void));

#endif
