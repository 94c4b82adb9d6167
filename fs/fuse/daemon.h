/*
 * The jetcryptfs daemon: one mount's life from the parsed options to the
 * end of its session -- load the config and keys, open the store, mount,
 * tell the waiting parent, serve until the kernel ends the session, and
 * take everything down again. The keys only ever exist here. The command
 * line (cli/mount_opts.c) fills the struct mount_opts it runs from.
 */
#ifndef JCFS_DAEMON_H
#define JCFS_DAEMON_H

#include <limits.h>

/* The margin of free space kept for what the writeback cache of files
 * already open may still hold or add (ops.c, space_low): for nats-server
 * the block each stream is writing (8 MiB by default) and its index files. */
#define MOUNT_DEFAULT_LOW_SPACE_MIB 64
#define MOUNT_MAX_LOW_SPACE_MIB (1024u * 1024 * 1024)
/* How often the writeback cache is flushed (flusher.h): what a killed
 * daemon may lose of writes not fsync'd, against the kernel's own ~30 s. */
#define MOUNT_DEFAULT_FLUSH_MS 1000
#define MOUNT_MAX_FLUSH_MS (3600u * 1000)

struct mount_opts {
	const char *config;
	const char *cipher;
	const char *key_env;
	const char *key_file;
	const char *log_file;
	const char *pid_file;
	const char *readahead;          /* KiB, as given; NULL: the default */
	unsigned readahead_kb;
	const char *low_space;          /* MiB, as given; NULL: the default */
	unsigned low_space_mib;
	const char *flush_interval;     /* ms, as given; NULL: the default */
	unsigned flush_ms;
	const char *log_level;
	const char *backing;
	const char *mountpoint;
	int foreground;
	int adopt;
	int strict;
	int nonempty;                   /* mount over a non-empty dir or another mount */
	int no_guard;                   /* leave the bare mount point writable */
	int allow_weak_key;
	int write_through;
	int cached_backing;
	int debug;
	int allow_other;
	int noatime;                    /* -o noatime: reads never change atime */
	int nodiratime;                 /* -o nodiratime: directory reads never do */
	int remount;                    /* -o remount: remount.h */
	char remount_opts[1024];        /* every -o as given, for a remount */
	unsigned max_read;              /* libfuse's max_read=, which init() repeats */
	char fuse_opts[1024];           /* passed to libfuse */
	char pid_path[PATH_MAX];        /* pid_file made absolute: the daemon chdirs to / */
};

/* Appends opt to the options given to libfuse; -E2BIG when full. */
int daemon_push_fuse_opt(struct mount_opts *mo, const char *opt);

/* Runs the mount mo describes (mo->backing and mo->mountpoint may come
 * from its config). The outcome of the start -- 0 once the mount answers,
 * or the exit status of the refusal -- is written as one byte to
 * status_fd (a pipe to the waiting parent; -1 in the foreground), then
 * the daemon serves. Returns the process's exit status. */
int daemon_run(struct mount_opts *mo, int status_fd);

#endif
