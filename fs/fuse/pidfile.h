/*
 * The daemon's pid file.
 */
#ifndef JCFS_PIDFILE_H
#define JCFS_PIDFILE_H

/* Writes our pid to path (O_NOFOLLOW: a symlink planted there must not
 * aim a root daemon's write, and the unlink at exit, at another file).
 * 0; -EINVAL if it is not a regular file; -errno. A file it opened and
 * could not fill is removed: a stale or empty pid file would name no
 * daemon or the wrong one. */
int pidfile_write(const char *path);
/* Removes the pid file if it still names us: once the store lock is
 * released a new daemon of this store may have written its own. */
void pidfile_remove(const char *path);

#endif
