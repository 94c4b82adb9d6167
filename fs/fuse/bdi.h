/*
 * The kernel's per-mount I/O settings that a FUSE daemon cannot negotiate
 * in INIT: the backing-device-info ("bdi") of the mount, in sysfs. FUSE
 * mounts get 128 KiB of readahead and INIT may only lower it, so a cold
 * sequential read crosses to the daemon one request at a time with
 * nothing in flight behind it; a larger window keeps the disk and the
 * decryption of several 1 MiB requests busy at once (docs/PERFORMANCE.md).
 */
#ifndef JCFS_BDI_H
#define JCFS_BDI_H

/* The default readahead window of a jetcryptfs mount, in KiB. */
#define BDI_DEFAULT_READAHEAD_KB 4096u
/* The largest accepted: far above any gain, below silly. */
#define BDI_MAX_READAHEAD_KB 65536u

/* Finds the bdi of the FUSE mount at mnt (an absolute, canonical path) in
 * /proc/self/mountinfo -- without touching the mount, whose daemon may not
 * be serving yet -- and writes path (e.g. "/sys/class/bdi/0:52") into out.
 * 0, -ENOENT if mnt is not a FUSE mount point, -ENAMETOOLONG, or -errno. */
int bdi_find(const char *mnt, char *out, size_t outlen);

/* 0 if this process may change the settings of the bdi at path, else
 * -errno (-EACCES when not root). */
int bdi_check_writable(const char *path);

/* Sets the readahead window of the bdi at path (from bdi_find) to kib.
 * Needs root. Must run after the kernel has processed the INIT reply,
 * which would otherwise clamp it back. 0 or -errno. */
int bdi_set_readahead(const char *path, unsigned kib);

#endif
