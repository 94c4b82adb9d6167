/*
 * The in-place conversion of one file, shared by the mount (a plaintext
 * file of an adopted store, encrypted before its first change) and the
 * encrypt and rekey commands: read through the content layer, written
 * through it to a temp file beside the original, renamed over it. The
 * discipline and its order are in convert.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "convert.h"
#include "xattr.h"

/* Plaintext bytes read and written at once: a large request's worth. */
#define CONVERT_CHUNK (256 * FMT_BLOCK_SIZE)

/* Copies the plaintext of j->src into dst, the temp file tmp (state dc),
 * and checks that it was the whole file: size bytes, its size when the
 * conversion began. */
static int copy_contents(struct convert_job *j, int dst, const char *tmp, struct content *dc, uint64_t size,
			 char *why, size_t whylen)
{
	uint8_t *buf = malloc(CONVERT_CHUNK);
	ssize_t n, w;
	int rc = 0;

	if (!buf) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	while ((n = content_read(j->src, j->src_fd, buf, CONVERT_CHUNK, j->bytes)) > 0) {
		w = content_write(dc, dst, buf, (size_t)n, j->bytes);
		if (w < 0) {
			rc = (int)w;
			snprintf(why, whylen, "cannot write temp file %s: %s", tmp, strerror(-rc));
			break;
		}
		j->bytes += (uint64_t)n;
		if (j->progress && j->progress(j->arg, (uint64_t)n)) {
			rc = -ECANCELED;
			break;
		}
	}
	if (n < 0) {
		rc = (int)n;
		snprintf(why, whylen, "cannot be read past byte %llu: %s%s; not converted",
			 (unsigned long long)j->bytes, strerror(-rc),
			 rc == -EIO ? " (the bad block is named above)" : "");
	} else if (rc == 0 && j->bytes != size) {
		rc = -EIO;
		snprintf(why, whylen, "changed size while being converted; not converted");
	}
	sodium_memzero(buf, CONVERT_CHUNK);
	free(buf);
	return rc;
}

/* Gives dst the owner, extended attributes, mode and times of the
 * original (src, whose stat is st), in that order (convert.h says why). */
static int carry_metadata(const struct convert_job *j, int dst, const struct stat *st, char *why,
			  size_t whylen)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	char xwhy[1024];
	int rc;

	if (fchown(dst, st->st_uid, st->st_gid) < 0 && (!j->owner_best_effort || geteuid() == 0)) {
		rc = -errno;
		snprintf(why, whylen, "cannot keep owner, mode and times: %s", strerror(-rc));
		return rc;
	}
	rc = j->xattr_conv ? xattr_copy(j->src_fd, dst, j->xattr_conv, j->xattrs_changed, xwhy, sizeof(xwhy))
			   : xattr_copy_raw(j->src_fd, dst, xwhy, sizeof(xwhy));
	if (rc < 0) {
		snprintf(why, whylen, "%s; not converted", xwhy);
		return rc;
	}
	if (fchmod(dst, st->st_mode & 07777) < 0 || futimens(dst, times) < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot keep owner, mode and times: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* Renames the temp file tmp (dst) over j->name, if that name still holds
 * the original (st), and syncs the directory. */
static int put_in_place(struct convert_job *j, int dst, const char *tmp, const struct stat *st, char *why,
			size_t whylen)
{
	struct stat now;
	int rc;

	if (fsync(dst) < 0) {
		rc = -errno;
		snprintf(why, whylen, "fsync of temp file: %s", strerror(-rc));
		return rc;
	}
	if (fstatat(j->dirfd, j->name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != st->st_dev ||
	    now.st_ino != st->st_ino) {
		snprintf(why, whylen, "changed while being converted (its name holds another file now); not "
			 "converted");
		return -EIO;
	}
	if (renameat(j->dirfd, tmp, j->dirfd, j->name) < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot rename the temp file over it: %s", strerror(-rc));
		return rc;
	}
	j->renamed = 1;
	if (fsync(j->dirfd) < 0) {
		rc = -errno;
		snprintf(why, whylen, "fsync of its directory: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int convert_file(struct convert_job *j, char *why, size_t whylen)
{
	char tmp[STORE_TMP_NAME_LEN + 1];
	struct content dc = { 0 };
	struct stat st;
	uint64_t size;
	int dst = -1, rc;

	j->bytes = 0;
	j->renamed = 0;
	j->fd = -1;
	memset(&j->c, 0, sizeof(j->c));
	if (fstat(j->src_fd, &st) < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s", strerror(-rc));
		return rc;
	}
	if (st.st_nlink > 1) {
		snprintf(why, whylen, "has %lu hard links (renaming would split them); not converted",
			 (unsigned long)st.st_nlink);
		return -EIO;
	}
	/* A plaintext file is read to its end, an encrypted one to its size. */
	size = j->src->kind == CONTENT_PLAINTEXT ? (uint64_t)st.st_size : j->src->size;
	store_tmp_name(tmp);
	dst = openat(j->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot create temp file %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = content_load(&dc, dst);
	if (rc < 0)
		snprintf(why, whylen, "temp file %s: %s", tmp, strerror(-rc));
	if (rc == 0)
		rc = copy_contents(j, dst, tmp, &dc, size, why, whylen);
	if (rc == 0)
		rc = carry_metadata(j, dst, &st, why, whylen);
	if (rc == 0)
		rc = put_in_place(j, dst, tmp, &st, why, whylen);
	if (!j->renamed)
		(void)unlinkat(j->dirfd, tmp, 0);
	if (j->renamed && j->keep) {
		j->fd = dst;
		j->c = dc;
		return rc;
	}
	content_unload(&dc);
	close(dst);
	return rc;
}
