/*
 * One file of a store rewritten in place under the current key and cipher
 * (content_setup's): how the mount encrypts a plaintext file of an
 * adopted store before its first change, and how "encrypt" and "rekey"
 * convert files. The new form is written to a temp file beside the
 * original, named by store_tmp_name (the mount hides such names, the next
 * encrypt or rekey removes leftovers, fsck counts them) and created with
 * O_EXCL and mode 0600; it gets the original's owner, then its extended
 * attributes (after the owner: a chown drops security.capability), then
 * its mode (after the xattrs: an ACL changes it) and its access and
 * modification times; it is fsync'd, renamed over the original -- only
 * if the name still holds the file that was read -- and the directory is
 * fsync'd. At every instant the name holds the old complete file or the
 * new complete one; a failure before the rename removes the temp file,
 * and a crash leaves at worst a temp file beside a complete original.
 */
#ifndef JCFS_CONVERT_H
#define JCFS_CONVERT_H

#include <stdint.h>

#include "content.h"
#include "store.h"

struct convert_job {
	/* In. */
	int dirfd;                      /* the directory holding name */
	const char *name;
	int src_fd;                     /* the file, open for reading */
	struct content *src;            /* loaded from src_fd */
	/* XATTR_ENCRYPT_PLAIN and XATTR_REKEY (xattr.h): the user.* values
	 * that conversion seals again, counted in *xattrs_changed; 0: every
	 * value is carried as it is stored (xattr_copy_raw). */
	unsigned xattr_conv;
	unsigned long *xattrs_changed;
	/* An owner that cannot be given to the new file is no error unless
	 * the process runs as root (an unprivileged mount can only keep its
	 * own); otherwise it is. */
	int owner_best_effort;
	/* Called after each chunk written, with its plaintext bytes: for
	 * progress and test delays; non-zero stops the conversion. */
	int (*progress)(void *arg, uint64_t bytes);
	void *arg;
	/* Keep the new file: open as fd (read-write), its state in c. */
	int keep;

	/* Out. */
	uint64_t bytes;                 /* plaintext bytes converted */
	int renamed;                    /* the new file is in place */
	int fd;                         /* with keep and renamed */
	struct content c;               /* with keep and renamed */
};

/* Converts the file of j (see above). 0; -ECANCELED if progress stopped
 * it; else -errno, and why (whylen bytes) says what failed in one line
 * without the file's name -- "has N hard links", "changed while being
 * converted" (its size, or its name now holds another file), a block
 * that cannot be read (-EIO, logged by the content layer), the temp file,
 * owner, xattrs, fsync, rename. A file with more than one hard link is
 * refused (-EIO): the rename would split them. With renamed set the
 * conversion is in place and only the directory's fsync failed. */
int convert_file(struct convert_job *j, char *why, size_t whylen);

#endif
