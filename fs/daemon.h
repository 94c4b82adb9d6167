/*
 * The jetcryptfs daemon: one mount's life from the parsed options to the
 * end of its session -- load the config and keys, open the store, mount,
 * tell the waiting parent, serve until the kernel ends the session, and
 * take everything down again. The keys only ever exist here.
 */
#ifndef JCFS_DAEMON_H
#define JCFS_DAEMON_H

#include "mount_opts.h"

/* Runs the mount mo describes (mo->backing and mo->mountpoint may come
 * from its config). The outcome of the start -- 0 once the mount answers,
 * or the exit status of the refusal -- is written as one byte to
 * status_fd (a pipe to the waiting parent; -1 in the foreground), then
 * the daemon serves. Returns the process's exit status. */
int daemon_run(struct mount_opts *mo, int status_fd);

#endif
