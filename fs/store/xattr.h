/*
 * Extended attributes of backing files and directories as the mount shows
 * them. user.* values are encrypted (crypto/xattrval.h) under a key of
 * the file's xattr id, 16 random bytes kept in the internal attribute
 * user.jetcryptfs.id: an id of the inode, not of its name or header, so
 * values survive renames, hard links, truncation, key rotation and a new
 * file id. Internal names are hidden and refused; POSIX ACLs are refused
 * and hidden (the kernel checks modes only); security.*, trusted.* and
 * the rest of system.* pass through as they are, since the kernel itself
 * reads security.capability and LSM labels through the mount. A value
 * that fails authentication is EIO, logged once per file and name.
 * The offline tools use the second half: carrying every attribute of a
 * file over to its rewritten copy, converting values in place, and
 * verifying them. Every fd may be O_PATH: the backing inode is reached
 * through /proc/self/fd. docs/FORMAT.md and docs/SECURITY.md describe
 * the format and what it protects.
 */
#ifndef JCFS_XATTR_H
#define JCFS_XATTR_H

#include <stddef.h>
#include <sys/types.h>

#include "content.h"

/* Copies from ctx the keyring (which must outlive the module's use), the
 * cipher for new values and the plaintext policy: plaintext values read
 * as they are only where plaintext files do. */
void xattr_setup(const struct content_ctx *ctx);

/* ---- the mount ---- */

/* setxattr(2) of the backing file fd: user.* values sealed (E2BIG above
 * XVAL_PLAIN_MAX), the backing filesystem's refusals (ENOSPC, E2BIG)
 * passed on. 0 or -errno. */
int xattr_set(int fd, const char *name, const void *value, size_t size, int flags);
/* getxattr(2): size 0 asks for the length. The length or -errno (EIO for
 * a value that does not authenticate, ERANGE when size is too small). */
ssize_t xattr_get(int fd, const char *name, void *buf, size_t size);
/* The names the mount shows (internal and ACL names left out), in a
 * malloc'd *list the caller frees: the list's length or -errno. */
ssize_t xattr_list(int fd, char **list);
int xattr_remove(int fd, const char *name);

/* Copies every attribute of src to dst and removes those of dst that src
 * lacks (but security.*, which belongs to the LSM), leaving user.* values
 * as they are stored: for the mount's own encryption of a plaintext file.
 * 0 or -errno, with the attribute and the problem in why. */
int xattr_copy_raw(int src, int dst, char *why, size_t whylen);

/* ---- the tools ---- */

enum {
	XATTR_ENCRYPT_PLAIN = 1,        /* plaintext user.* values become encrypted */
	XATTR_REKEY = 2,                /* values not under the current key and cipher are re-encrypted */
};

/* xattr_copy_raw, but user.* values are decrypted and sealed again for
 * dst where conv asks for it (the xattr id goes with them). A value that
 * cannot be read is an error (-EIO, why names it) and nothing is left
 * half done that the caller's unlink of dst does not undo. */
int xattr_copy(int src, int dst, unsigned conv, unsigned long *changed, char *why, size_t whylen);
/* Converts in place the user.* values of fd that conv asks for, each with
 * one atomic replace; *changed counts them. 0, or -errno with why. */
int xattr_convert(int fd, unsigned conv, unsigned long *changed, char *why, size_t whylen);

struct xattr_counts {
	unsigned long values;           /* encrypted user.* values that authenticate */
	unsigned long plaintext;        /* plaintext user.* values */
	unsigned long prev_key;         /* of the encrypted ones, under a previous key */
	unsigned long other_cipher;     /* ... or the other cipher */
};

/* Authenticates every user.* value of fd; calls bad(arg, name, why) for
 * each one that does not, for a damaged xattr id, and (if strict) for each
 * plaintext value. 0, or -errno if the list cannot be read. */
int xattr_verify(int fd, int strict, struct xattr_counts *n,
		 void (*bad)(void *arg, const char *name, const char *why), void *arg);

#endif
