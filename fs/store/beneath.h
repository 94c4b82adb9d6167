/*
 * Opening a path below a directory without following a symlink anywhere in
 * it: how the daemon and the offline tools reach a file below the backing
 * directory by its path, so that a symlink planted there -- or a directory
 * swapped for one while a tool runs -- can never aim a read, a rename or a
 * write at a file outside the store.
 */
#ifndef JCFS_BENEATH_H
#define JCFS_BENEATH_H

#include <sys/types.h>

/* Set (to anything) in the environment, it makes beneath_open take the
 * component-by-component way even where openat2 exists: for the tests. */
#define BENEATH_NO_OPENAT2_ENV "JETCRYPTFS_TEST_NO_OPENAT2"

/* Opens rel below the directory rootfd (openat flags, O_CLOEXEC added;
 * mode for O_CREAT) without following a symlink in any component, the
 * last included: openat2(2) with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS, or, on a kernel without it (ENOSYS), one component
 * at a time with O_NOFOLLOW. The fd, or -errno: -ELOOP for a symlink on the
 * way, -EXDEV for an absolute rel or one with a ".." (refused, never
 * resolved, so that a path means the same on every kernel). */
int beneath_open(int rootfd, const char *rel, int flags, mode_t mode);

/* strerror, with the words for what beneath_open refuses (ELOOP,
 * EXDEV). */
const char *beneath_strerror(int err);

#endif
