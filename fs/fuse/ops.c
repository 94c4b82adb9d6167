/*
 * The FUSE daemon's operations, in the shape of libfuse's passthrough_ll:
 * every inode is an O_PATH descriptor of its backing file, names are
 * passed through unchanged, and only regular file contents go through the
 * content layer. Sizes shown to the kernel are plaintext sizes. The store
 * descriptor at the backing root is invisible and its names are reserved,
 * and so are the temp files of encrypt/rekey in every directory.
 */
#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/resource.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>

#include "beneath.h"
#include "caller.h"
#include "convert.h"
#include "inode.h"
#include "log.h"
#include "mountinfo.h"
#include "node.h"
#include "ops.h"
#include "store.h"
#include "wbehind.h"
#include "xattr.h"

/* The largest read the kernel sends (max_pages 256). */
#define OPS_MAX_IO (1u << 20)

static struct ops_config oc;
static struct inode *root;
static int daemon_is_root;
static unsigned test_delay_ms;          /* STORE_TEST_DELAY_ENV, tests only */
static struct fuse_session *session;    /* for notifications (ops_set_session) */

static struct inode *ino_ptr(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? root : (struct inode *)(uintptr_t)ino;
}

static int name_hidden(fuse_ino_t parent, const char *name)
{
	return store_name_hidden(name, ino_ptr(parent) == root);
}

static void proc_path(int fd, char *out, size_t len)
{
	snprintf(out, len, "/proc/self/fd/%d", fd);
}

/* Opens the backing file of in as inode_reopen does, but so that reading
 * it leaves its atime alone, where the daemon may (it owns the file or has
 * CAP_FOWNER): reads of the header at open and at stat, and of whole
 * blocks around a write or a truncate, are not the application's reads.
 * Those that are update the atime apart (note_read). */
static int reopen_noatime(const struct inode *in, int flags)
{
	int fd = inode_reopen(in, flags | O_NOATIME);

	return fd == -EPERM ? inode_reopen(in, flags) : fd;
}

/* The type a regular backing file shows, settled the first time it is
 * shown (inode.h): a later look never changes it. */
static int settle_type(struct inode *in, int type)
{
	int none = 0;

	atomic_compare_exchange_strong(&in->node_type, &none, type);
	return in->node_type;
}

/* A marker as the kernel sees it: a FIFO or socket with the backing
 * file's permissions, owner and times, no size and no device number. */
static void show_node(int type, struct stat *st)
{
	st->st_mode = (mode_t)type | (st->st_mode & 07777);
	st->st_size = 0;
	st->st_rdev = 0;
}

/* A symlink's lstat size is its target's plaintext length, as on any
 * filesystem: POSIX tools size readlink's buffer by it and call a
 * different length a race. The header names the cipher, whose overhead
 * the stored length includes; read once, it is kept as the hint (a
 * symlink's target never changes). */
static void link_size(struct inode *in, struct stat *st)
{
	uint64_t size;
	size_t len;
	int hint = in->cipher_hint, cipher;

	if (hint > 0 && node_link_target_len(hint, (size_t)st->st_size, &len) == 0) {
		st->st_size = (off_t)len;
		return;
	}
	if (content_link_size(in->fd, (uint64_t)st->st_size, &size, &cipher) < 0)
		return;
	if (cipher > 0)
		in->cipher_hint = cipher;
	st->st_size = (off_t)size;
}

/* What the kernel is shown of a file besides the backing stat: for a
 * regular file its plaintext size, and its type, which the first look
 * settles -- S_IFREG, or S_IFIFO / S_IFSOCK for the marker of one made
 * through the mount, learnt from the same header read that gives the
 * size, so that it costs nothing more; for a symlink its target's length.
 *
 * Plaintext size for a regular file's stat. An open file's size is the
 * one published after its last change, read without the lock: the
 * kernel asks for it when it writes a closed file's times back, and must
 * not wait there for writes in progress. Otherwise it follows from the
 * backing size and the header's cipher, which never changes for an inode
 * once known, under the lock throughout, with the backing size read again
 * there: a truncate by path of a file nobody has open (do_truncate, write
 * lock) passes through backing sizes that are not the file's (cut to the
 * block start before the shorter last block goes back), and a stat must
 * not report those. */
static int fix_size(struct inode *in, struct stat *st)
{
	struct stat now;
	uint64_t size;
	int fd, rc, cipher, hint, node, type, found = S_IFREG;

	if (S_ISLNK(st->st_mode))
		link_size(in, st);
	if (!S_ISREG(st->st_mode))
		return 0;
	type = in->node_type;
	if (type && type != S_IFREG) {
		show_node(type, st);
		return 0;
	}
	size = in->open_size;
	if (size != INODE_NO_SIZE) {
		st->st_size = (off_t)size;
		return 0;
	}
	pthread_rwlock_rdlock(&in->lock);
	if (in->nopen && in->c.kind != CONTENT_UNLOADED) {
		st->st_size = (off_t)in->c.size;
		goto out;
	}
	if (fstatat(in->fd, "", &now, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		st->st_size = now.st_size;
	if (st->st_size == 0)
		goto out;
	hint = in->cipher_hint;
	if (type && hint > 0 && fmt_plaintext_size(hint, (uint64_t)st->st_size, &size) == 0) {
		st->st_size = (off_t)size;
		goto out;
	}
	/* A stat reads no data on any filesystem: the header read must not
	 * move the atime the mount shows. */
	fd = reopen_noatime(in, O_RDONLY);
	if (fd < 0)
		goto out;       /* unreadable: keep the backing size */
	rc = content_stat_size(fd, st, &size, &cipher, &node);
	if (rc == 0) {
		if (cipher > 0)
			in->cipher_hint = cipher;
		st->st_size = (off_t)size;
		if (node == FMT_NODE_FIFO || node == FMT_NODE_SOCKET)
			found = node == FMT_NODE_FIFO ? S_IFIFO : S_IFSOCK;
	}
	close(fd);
out:
	pthread_rwlock_unlock(&in->lock);
	type = settle_type(in, found);
	if (type != S_IFREG)
		show_node(type, st);
	return 0;
}

/* Device nodes of the backing directory are never shown: through a mount
 * run as root a planted one of a disk would open that disk (the mount is
 * nodev as well). Raw FIFOs and sockets are shown only in a store that
 * allows plaintext files: those the mount makes are marker files, so in a
 * strict store a raw one was put there behind its back. */
static int node_hidden(mode_t mode)
{
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return 1;
	return (S_ISFIFO(mode) || S_ISSOCK(mode)) && !content_plaintext_allowed();
}

/* Says once per daemon that a node was hidden: fsck lists them all. */
static void log_hidden(struct inode *dir, const char *name, mode_t mode)
{
	static _Atomic int said;
	char proc[64], path[PATH_MAX];
	ssize_t n;

	if (atomic_exchange(&said, 1))
		return;
	proc_path(dir->fd, proc, sizeof(proc));
	n = readlink(proc, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = '\0';
	log_warn("%s/%s: %s in the backing directory, not made through the mount: hidden from it; "
		 "jetcryptfs fsck lists every such node (this is said once)", path, name,
		 S_ISCHR(mode) || S_ISBLK(mode) ? "device node" : S_ISFIFO(mode) ? "FIFO" : "socket");
}

/* Returns rc, the -errno of a failed open, and says once why it is
 * -EMFILE: the daemon holds a descriptor for every inode the kernel keeps,
 * until the kernel forgets it. */
static int fd_error(int rc)
{
	static _Atomic int said;
	struct rlimit rl;

	if (rc != -EMFILE || atomic_exchange(&said, 1) || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return rc;
	log_err("out of file descriptors (limit %llu): the daemon keeps one for every file and directory "
		"the kernel has looked up; raise its hard limit (LimitNOFILE= in a systemd unit, ulimit -Hn "
		"before mounting)", (unsigned long long)rl.rlim_cur);
	return rc;
}

/* Looks name up in parent; type, if not 0, is the type of a regular
 * backing file just made (a marker), settled before it is first shown.
 * 0 or -errno. */
static int do_lookup_type(fuse_ino_t parent, const char *name, struct fuse_entry_param *e, int type)
{
	struct inode *dir = ino_ptr(parent), *in;
	int fd;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = oc.timeout;
	e->entry_timeout = oc.timeout;
	if (name_hidden(parent, name))
		return -ENOENT;
	fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fd_error(-errno);
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (node_hidden(e->attr.st_mode)) {
		close(fd);
		log_hidden(dir, name, e->attr.st_mode);
		return -ENOENT;
	}
	in = inode_get(fd, &e->attr);
	if (!in)
		return -errno;
	if (type)
		settle_type(in, type);
	fix_size(in, &e->attr);
	e->ino = (uintptr_t)in;
	return 0;
}

static int do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	return do_lookup_type(parent, name, e, 0);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (oc.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	oc.writeback = !!(conn->want & FUSE_CAP_WRITEBACK_CACHE);
	/* libfuse refuses INIT unless init() repeats the mount option. */
	conn->max_read = oc.max_read;
#ifdef FUSE_CAP_DIRECT_IO_ALLOW_MMAP
	/* A shared mapping of a file opened with direct I/O below the
	 * low-space mark would write back through the page cache again, the
	 * late failure the mark is there to prevent: refuse it (ENODEV). */
	conn->want &= ~FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
#endif
	/* The kernel sends O_TRUNC as a setattr, which goes through the
	 * content layer under the inode lock. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_SPLICE_READ & ~FUSE_CAP_SPLICE_WRITE & ~FUSE_CAP_SPLICE_MOVE;
	/* No page-cache invalidation when a getattr shows a new mtime: every
	 * change comes through this mount (keep_cache already assumes so), and
	 * with --write-through every write changes the mtime, so another
	 * thread's stat dropped clean pages while a write was still on its
	 * way here; a read refilled them from the old contents and the writer
	 * then read its own write back stale (found by tests/tools/soak). */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Direct I/O of a file whose pages another descriptor caches: the
	 * kernel drops the cached pages of a direct write's range before it
	 * and, once it is made, again -- pages a buffered read brought in
	 * meanwhile hold the old bytes -- but only for a write it waits for.
	 * One sent asynchronously (AIO, io_uring) completed with no second
	 * invalidation, and every later buffered read of its range returned
	 * the old bytes (xfstests generic/451). Without FUSE_CAP_ASYNC_DIO the
	 * kernel makes every direct I/O as a synchronous one, invalidation
	 * included; an asynchronous submission then returns once it is done.
	 * (Invalidating from the daemon before answering instead can deadlock:
	 * a readahead holds the pages locked while it waits for one of the
	 * kernel's few background request slots, which the held answers of
	 * asynchronous writes occupy.) */
	conn->want &= ~FUSE_CAP_ASYNC_DIO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int rc = do_lookup(parent, name, &e);

	if (rc == -ENOENT) {
		e.ino = 0;      /* negative entry */
		e.entry_timeout = 0;
		fuse_reply_entry(req, &e);
	} else if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	inode_forget(ino_ptr(ino), n);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		inode_forget(ino_ptr(f[i].ino), f[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in = ino_ptr(ino);
	struct stat st;

	(void)fi;
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fix_size(in, &st);
	fuse_reply_attr(req, &st, oc.timeout);
}

/* Publishes what paths without the lock read of in's content state
 * (inode.h) after a change; in->lock held for writing. */
static void note_content(struct inode *in)
{
	int open = in->nopen && in->c.kind != CONTENT_UNLOADED;

	in->write_cipher = open && in->data_rw ? content_write_cipher(&in->c) : 0;
	in->open_size = open ? in->c.size : INODE_NO_SIZE;
	if (in->c.kind == CONTENT_ENCRYPTED)
		in->cipher_hint = in->c.cipher;
}

/* Makes in->data_fd usable for writing; in->lock held for writing. */
static int data_fd_writable(struct inode *in)
{
	int fd;

	if (in->data_rw)
		return 0;
	fd = reopen_noatime(in, O_RDWR);
	if (fd < 0)
		return fd;
	close(in->data_fd);
	in->data_fd = fd;
	in->data_rw = 1;
	return 0;
}

/* Truncation by path or by handle, under the inode's lock. A file that
 * is not open is loaded for the occasion. 0 or -errno. */
static int do_truncate(struct inode *in, off_t size)
{
	struct content tmp = { 0 }, *c = &in->c;
	int fd, rc;

	if (size < 0)
		return -EINVAL;
	(void)wbehind_drain(&in->wb);
	pthread_rwlock_wrlock(&in->lock);
	if (in->nopen) {
		rc = data_fd_writable(in);
		fd = in->data_fd;
	} else {
		fd = rc = reopen_noatime(in, O_RDWR);
		c = &tmp;
		if (rc >= 0)
			rc = content_load(c, fd);
	}
	if (rc >= 0)
		rc = content_truncate(c, fd, (uint64_t)size);
	if (c == &in->c)
		note_content(in);
	else if (c->kind == CONTENT_ENCRYPTED)
		in->cipher_hint = c->cipher;
	if (c == &tmp) {
		content_unload(&tmp);
		if (fd >= 0)
			close(fd);
	}
	pthread_rwlock_unlock(&in->lock);
	return rc < 0 ? rc : 0;
}

/* The times a setattr asks for, as utimensat takes them. */
static void setattr_times(const struct stat *attr, int valid, struct timespec tv[2])
{
	tv[0] = tv[1] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
}

/* A setattr of the modification time alone -- what the kernel sends when
 * it writes a file's times back, at every close of a written file, just
 * after its data: made in the file's order (wbehind.h), after the writes
 * answered before it, whose pwrites would move the backing mtime past it,
 * and answered at once like them, so that close does not wait for those
 * writes here either. The answer carries the time asked for. */
static void times_behind(fuse_req_t req, fuse_ino_t ino, const struct stat *attr, int valid)
{
	struct inode *in = ino_ptr(ino);
	struct timespec tv[2];
	struct stat st;
	char path[64];
	uint64_t place;
	int early, rc = 0;

	setattr_times(attr, valid, tv);
	early = wbehind_take(&in->wb, 0, &place);
	if (early) {
		if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			fuse_reply_err(req, errno);
		} else {
			fix_size(in, &st);
			if (tv[1].tv_nsec != UTIME_NOW)
				st.st_mtim = tv[1];
			fuse_reply_attr(req, &st, oc.timeout);
		}
	}
	wbehind_wait_turn(&in->wb, place);
	proc_path(in->fd, path, sizeof(path));
	if (utimensat(AT_FDCWD, path, tv, 0) < 0)
		rc = -errno;
	/* Not kept as the file's error: its contents are intact. As in
	 * write_behind, in is not touched after this once answered. */
	wbehind_done(&in->wb, early, 0);
	if (rc < 0 && early)
		log_warn("cannot set the modification time of a written file: %s", strerror(-rc));
	if (early)
		return;
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		op_getattr(req, ino, NULL);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	struct inode *in = ino_ptr(ino);
	struct timespec tv[2];
	char path[64];
	int rc = 0;

	if (oc.writeback && (valid & FUSE_SET_ATTR_MTIME) &&
	    !(valid & ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME))) {
		times_behind(req, ino, attr, valid);
		return;
	}
	/* After the writes answered before: the kernel writes a file's dirty
	 * pages back before it changes its times or mode, and their pwrites
	 * must not change the backing file after this. */
	(void)wbehind_drain(&in->wb);
	proc_path(in->fd, path, sizeof(path));
	if (valid & FUSE_SET_ATTR_MODE) {
		if (chmod(path, attr->st_mode) < 0)
			rc = -errno;
	}
	if (!rc && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(in->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
	}
	if (!rc && (valid & FUSE_SET_ATTR_SIZE))
		rc = do_truncate(in, attr->st_size);
	if (!rc && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		setattr_times(attr, valid, tv);
		if (utimensat(AT_FDCWD, path, tv, 0) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	op_getattr(req, ino, fi);
}

/* Logs once per inode why a symlink target cannot be read. */
static void log_bad_link(struct inode *in, int rc, const struct fmt_header *h)
{
	char proc[64], path[PATH_MAX], hex[2 * FMT_KEY_ID_SIZE + 1];
	ssize_t n;

	if (atomic_exchange(&in->link_logged, 1))
		return;
	proc_path(in->fd, proc, sizeof(proc));
	n = readlink(proc, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = '\0';
	if (rc == -ENODATA) {
		log_err("%s: plaintext symlink, which reads as an I/O error (made before symlink encryption, "
			"or planted): check it (jetcryptfs fsck lists it), then run jetcryptfs encrypt", path);
	} else if (rc == -ENOKEY) {
		kdf_key_id_hex(h->key_id, hex);
		log_err("%s: symlink target encrypted under key id %s, which is not among the configured keys",
			path, hex);
	} else {
		log_err("%s: %s", path, content_link_strerror(rc));
	}
}

/* Symlink targets are stored encrypted (crypto/node.h): one that does not
 * authenticate -- planted, or made before symlink encryption -- is EIO,
 * never followed. */
static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct inode *in = ino_ptr(ino);
	char buf[NODE_LINK_STORED_MAX + 1];
	struct fmt_header h;
	size_t len;
	int rc = content_link_read(in->fd, buf, sizeof(buf), &len, &h);

	if (rc == 0) {
		fuse_reply_readlink(req, buf);
		return;
	}
	if (rc == -ENODATA || rc == -EPROTO || rc == -ENOKEY || rc == -EBADMSG) {
		log_bad_link(in, rc, &h);
		rc = -EIO;
	}
	fuse_reply_err(req, -rc);
}

/* New objects belong to the caller, as on a local filesystem, when the
 * daemon runs as root (allow_other mounts for a service user). The group
 * is the caller's, but in a set-group-ID directory, where the backing
 * filesystem has given the new object the directory's group (and a new
 * directory the bit) as it would have for the caller: only the owner
 * changes there. The mode stays the one the kernel asked for -- it has
 * already dropped S_ISGID for a caller outside the group (the VFS's
 * mode_strip_sgid) -- though a chown clears S_ISUID, and S_ISGID with
 * group execute, which a file created with them keeps on a local disk. */
static void give_to_caller(fuse_req_t req, int dirfd, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat dir, st;
	gid_t gid = ctx->gid;
	char path[64];
	int fd;

	if (!daemon_is_root)
		return;
	if (fstat(dirfd, &dir) == 0 && (dir.st_mode & S_ISGID))
		gid = (gid_t)-1;
	if (ctx->uid == 0 && (gid == 0 || gid == (gid_t)-1))
		return;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 &&
	    fchownat(fd, "", ctx->uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 &&
	    (st.st_mode & (S_ISUID | S_ISGID)) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
		proc_path(fd, path, sizeof(path));
		(void)!chmod(path, st.st_mode & 07777);
	}
	close(fd);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev, const char *link)
{
	struct inode *dir = ino_ptr(parent);
	struct fuse_entry_param e;
	int rc, type = 0;

	/* Device nodes would not be shown (node_hidden), nor open (nodev). */
	if (name_hidden(parent, name) || S_ISCHR(mode) || S_ISBLK(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (S_ISDIR(mode)) {
		rc = mkdirat(dir->fd, name, mode & 07777) < 0 ? -errno : 0;
	} else if (S_ISLNK(mode) && link) {
		rc = content_link_make(dir->fd, name, link);
	} else if (S_ISFIFO(mode) || S_ISSOCK(mode)) {
		/* A marker file: in a strict store a raw FIFO or socket of the
		 * backing directory is hidden, as planted. */
		type = S_ISFIFO(mode) ? S_IFIFO : S_IFSOCK;
		rc = content_marker_make(dir->fd, name, mode, S_ISFIFO(mode) ? FMT_NODE_FIFO : FMT_NODE_SOCKET);
	} else {
		rc = mknodat(dir->fd, name, mode, rdev) < 0 ? -errno : 0;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	give_to_caller(req, dir->fd, name);
	rc = do_lookup_type(parent, name, &e, type);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	make_node(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | mode, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, parent, name, S_IFLNK, 0, link);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct inode *in = ino_ptr(ino);
	struct fuse_entry_param e;
	char path[64];
	int rc;

	if (name_hidden(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	proc_path(in->fd, path, sizeof(path));
	if (linkat(AT_FDCWD, path, ino_ptr(parent)->fd, name, AT_SYMLINK_FOLLOW) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rc = do_lookup(parent, name, &e);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (name_hidden(parent, name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_reply_err(req, unlinkat(ino_ptr(parent)->fd, name, 0) < 0 ? errno : 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (name_hidden(parent, name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_reply_err(req, unlinkat(ino_ptr(parent)->fd, name, AT_REMOVEDIR) < 0 ? errno : 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	if (name_hidden(parent, name) || name_hidden(newparent, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (renameat2(ino_ptr(parent)->fd, name, ino_ptr(newparent)->fd, newname, flags) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

/* Backing open flags: the kernel's writeback cache reads pages of files
 * opened write-only and computes append offsets itself, and the content
 * layer writes whole blocks with pwrite, which O_APPEND would redirect.
 * O_NOFOLLOW was the kernel's to check on the mount's own name (it never
 * sends a symlink here); on the /proc/self/fd link the reopen goes
 * through it would fail every such open with ELOOP (gzip opens so). */
static int backing_flags(int flags)
{
	flags &= ~(O_APPEND | O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_DIRECT | O_SYNC | O_DSYNC |
		   O_NOFOLLOW);
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags | O_CLOEXEC;
}

static int wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

/* The directory that holds in's backing file, opened below the backing
 * root without following a symlink anywhere on the way, and the file's
 * name in it (base, NAME_MAX + 1 bytes); path (PATH_MAX bytes) gets the
 * file's path, for messages. The path comes from /proc, read while others
 * may rename: the name found in the directory must still be in's file,
 * else -EAGAIN. A directory swapped for a symlink fails (-ELOOP) instead
 * of sending the conversion's rename elsewhere. The fd, or -errno. */
static int open_parent_beneath(const struct inode *in, char *path, char *base)
{
	char proc[64], root[PATH_MAX], *slash;
	const char *rel;
	struct stat st;
	size_t rlen;
	ssize_t n;
	int dirfd;

	proc_path(oc.root_fd, proc, sizeof(proc));
	n = readlink(proc, root, sizeof(root) - 1);
	if (n < 0)
		return -errno;
	root[n] = '\0';
	proc_path(in->fd, proc, sizeof(proc));
	n = readlink(proc, path, PATH_MAX - 1);
	if (n < 0)
		return -errno;
	path[n] = '\0';
	rlen = strlen(root);
	if (strncmp(path, root, rlen) || path[rlen] != '/')
		return -EIO;
	rel = path + rlen + 1;
	slash = strrchr(path, '/');
	if (strlen(slash + 1) > NAME_MAX)
		return -ENAMETOOLONG;
	strcpy(base, slash + 1);
	*slash = '\0';
	if (test_delay_ms)
		usleep(test_delay_ms * 1000);
	dirfd = beneath_open(oc.root_fd, slash > rel ? rel : ".", O_RDONLY | O_DIRECTORY, 0);
	*slash = '/';
	if (dirfd < 0)
		return dirfd;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != in->dev || st.st_ino != in->ino) {
		close(dirfd);
		return -EAGAIN;
	}
	return dirfd;
}

/* In an adopted store, a plaintext file that is about to change is first
 * encrypted as a whole (convert_file: a temp file beside it that the
 * mount hides, renamed over it), so a crash leaves either the old
 * plaintext or the complete encrypted file, and at worst a temp file that
 * encrypt removes. New data never lands in plaintext. in->lock held for
 * writing, in->data_fd open; the converted file becomes in's. */
static int encrypt_in_place(struct inode *in)
{
	char path[PATH_MAX] = "", base[NAME_MAX + 1], why[1024];
	struct convert_job j = { .name = base, .src_fd = in->data_fd, .src = &in->c, .owner_best_effort = 1,
				 .keep = 1 };
	struct stat st;
	int newfd = -1, rc;

	j.dirfd = open_parent_beneath(in, path, base);
	if (j.dirfd < 0) {
		log_err("%s: plaintext file not encrypted before its first change: %s", path,
			j.dirfd == -EAGAIN ? "renamed meanwhile (try again)" : beneath_strerror(-j.dirfd));
		return -EIO;
	}
	rc = convert_file(&j, why, sizeof(why));
	if (rc < 0 && !j.renamed)
		log_err("%s: plaintext file not encrypted before its first change: %s", path, why);
	else if (rc < 0)
		log_warn("%s: encrypted in place, but %s", path, why);
	if (j.renamed) {
		newfd = openat(j.dirfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		rc = newfd < 0 || fstat(newfd, &st) < 0 ? -errno : 0;
	}
	if (j.renamed && rc == 0) {
		inode_rebind(in, newfd, &st);
		close(in->data_fd);
		in->data_fd = j.fd;
		in->data_rw = 1;
		content_unload(&in->c);
		in->c = j.c;
		log_info("%s: encrypted in place before its first change", path);
	} else if (j.renamed) {
		if (newfd >= 0)
			close(newfd);
		content_unload(&j.c);
		close(j.fd);
	}
	close(j.dirfd);
	return rc;
}

/* With the writeback cache a write ends in the kernel's page cache and
 * reaches the daemon later: on a full backing disk it fails there, and the
 * application hears of it only at its next fsync or close, if it looks --
 * nats-server does not, and acknowledges the message. So while the backing
 * filesystem has less than oc.low_space bytes available, a file opened for
 * writing with no other handle of it open gets direct I/O, and so does
 * every handle of it until the last is closed: each write then reaches the
 * daemon and fails with ENOSPC itself. Files already open keep their cache,
 * which the margin is for (for nats-server, the block each stream is
 * writing). Logs the crossings both ways. A failed fstatvfs counts as
 * enough space: it must not turn every open direct. Called under the
 * inode's lock; the call is cheap next to the open itself. */
static int space_low(void)
{
	static _Atomic int was_low;
	struct statvfs sv;
	uint64_t avail;
	int low;

	if (!oc.writeback || !oc.low_space || fstatvfs(oc.root_fd, &sv) < 0)
		return 0;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	low = avail < oc.low_space;
	if (atomic_exchange(&was_low, low) != low) {
		if (low)
			log_warn("backing filesystem: %llu MiB available, below the low-space mark of %llu MiB: "
				 "files opened for writing from now on bypass the writeback cache",
				 (unsigned long long)(avail >> 20), (unsigned long long)(oc.low_space >> 20));
		else
			log_info("backing filesystem: %llu MiB available again: files opened from now on use "
				 "the writeback cache", (unsigned long long)(avail >> 20));
	}
	return low;
}

/* Registers an open handle on in: the first opens the shared data
 * descriptor and loads the content state. 0 or -errno. */
static int attach_handle(struct inode *in, int flags, struct fuse_file_info *fi)
{
	int rc = 0, fd;

	(void)wbehind_drain(&in->wb);
	pthread_rwlock_wrlock(&in->lock);
	if (in->nopen == 0) {
		/* Read-write when it may be, for a writer that comes later;
		 * as asked where not (a read-only file or filesystem). */
		fd = reopen_noatime(in, backing_flags(flags) | O_RDWR);
		if ((fd == -EACCES || fd == -EROFS) && !wants_write(flags))
			fd = reopen_noatime(in, backing_flags(flags));
		if (fd < 0) {
			rc = fd_error(fd);
			goto out;
		}
		rc = content_load(&in->c, fd);
		if (rc < 0) {
			close(fd);
			goto out;
		}
		in->data_fd = fd;
		in->data_rw = (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	} else if (wants_write(flags)) {
		rc = data_fd_writable(in);
		if (rc < 0)
			goto out;
	}
	if (wants_write(flags) && in->c.kind == CONTENT_PLAINTEXT && in->c.size > 0) {
		rc = encrypt_in_place(in);
		if (rc < 0) {
			if (in->nopen == 0) {
				content_unload(&in->c);
				close(in->data_fd);
				in->data_fd = -1;
			}
			goto out;
		}
	}
	/* Direct and cached handles of one file would not see each other's
	 * writes: a file is direct only while no cached handle is open, and
	 * its first cached open after that starts with an empty cache --
	 * before Linux 6.6 a direct write left the pages a private mapping
	 * had read in the cache, stale. */
	if (in->direct || (in->nopen == 0 && wants_write(flags) && space_low())) {
		in->direct = 1;
		fi->direct_io = 1;
	} else {
		fi->keep_cache = !in->drop_cache;
		in->drop_cache = 0;
	}
	in->nopen++;
	note_content(in);
	fi->fh = (uint64_t)flags;
out:
	pthread_rwlock_unlock(&in->lock);
	return rc;
}

/* Drops an open handle of in: the last closes the data descriptor and
 * unloads the content state. */
static void detach_handle(struct inode *in)
{
	int lost = wbehind_drain(&in->wb);

	pthread_rwlock_wrlock(&in->lock);
	if (in->nopen && --in->nopen == 0) {
		/* A writeback write that was lost may still be in the kernel's
		 * cache, as if it had been made: the next open starts without
		 * it, so that its reads reach the daemon and fail. */
		in->drop_cache |= in->direct | (lost != 0);
		in->direct = 0;
		content_unload(&in->c);
		close(in->data_fd);
		in->data_fd = -1;
		in->data_rw = 0;
	}
	note_content(in);
	pthread_rwlock_unlock(&in->lock);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = attach_handle(ino_ptr(ino), fi->flags, fi);

	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		detach_handle(ino_ptr(ino));    /* the request is gone: no release follows */
}

/* A create of a name that exists in the backing directory: the kernel
 * asks only for names it believes absent, so this one is hidden (a device
 * node, a raw FIFO or socket) or came behind the mount's back. Only a
 * regular file is taken as created; a device or FIFO is never opened,
 * which alone could act on the device. 0 or -errno. */
static int create_existing(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	return S_ISLNK(st.st_mode) ? -ELOOP : S_ISDIR(st.st_mode) ? -EISDIR : -EPERM;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct inode *dir = ino_ptr(parent), *in;
	struct fuse_entry_param e;
	int fd, rc;

	if (name_hidden(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fd = openat(dir->fd, name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, mode);
	rc = fd < 0 ? -errno : 0;
	if (rc == -EEXIST && !(fi->flags & O_EXCL))
		rc = create_existing(dir->fd, name);
	if (rc < 0) {
		fuse_reply_err(req, -fd_error(rc));
		return;
	}
	if (fd >= 0)
		close(fd);
	give_to_caller(req, dir->fd, name);
	rc = do_lookup(parent, name, &e);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	in = ino_ptr(e.ino);
	rc = attach_handle(in, fi->flags, fi);
	if (rc < 0) {
		inode_forget(in, 1);
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		/* The request is gone: no release, no forget follows. */
		detach_handle(in);
		inode_forget(in, 1);
	}
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	detach_handle(ino_ptr(ino));
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct inode *in = ino_ptr(ino);
	int rc, lost;

	(void)fi;
	lost = wbehind_drain(&in->wb);
	pthread_rwlock_rdlock(&in->lock);
	rc = datasync ? fdatasync(in->data_fd) : fsync(in->data_fd);
	if (rc < 0)
		rc = -errno;
	pthread_rwlock_unlock(&in->lock);
	/* A writeback write of the file that was lost: if it was answered
	 * before it was made, this is where the application hears of it. */
	fuse_reply_err(req, lost ? -lost : -rc);
}

/* Per-thread plaintext buffer for replies: no allocation per read. It
 * keeps the plaintext of the last reads after their replies; wiping it
 * after every read would cost a pass over up to 1 MiB per request, so it
 * is wiped where what it holds changes hands: before it takes another
 * file's plaintext (content serial, content.h), and when its thread
 * exits (libfuse joins its workers when the session ends). */
struct readbuf {
	uint64_t owner;                 /* serial of the file it holds, 0: none */
	size_t used;                    /* bytes that may hold its plaintext */
	char *mem;                      /* OPS_MAX_IO bytes, page-aligned */
};

static pthread_key_t readbuf_key;

static struct readbuf *readbuf(size_t size)
{
	struct readbuf *rb = pthread_getspecific(readbuf_key);
	void *p;

	if (size > OPS_MAX_IO)
		return NULL;
	if (!rb) {
		rb = calloc(1, sizeof(*rb));
		/* Page-aligned: the reply is copied into page-cache pages. */
		if (!rb || posix_memalign(&p, 4096, OPS_MAX_IO) != 0) {
			free(rb);
			return NULL;
		}
		rb->mem = p;
		if (pthread_setspecific(readbuf_key, rb) != 0) {
			free(rb->mem);
			free(rb);
			return NULL;
		}
	}
	return rb;
}

/* Readies rb for up to size bytes of the plaintext of the file whose
 * content serial is owner. */
static void readbuf_claim(struct readbuf *rb, uint64_t owner, size_t size)
{
	if (rb->owner != owner) {
		sodium_memzero(rb->mem, rb->used);
		rb->used = 0;
		rb->owner = owner;
	}
	if (size > rb->used)
		rb->used = size;
}

/* 1 if a is later than b. */
static int ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/* The atime, after a read of in that reached the daemon by a reader that
 * opened it with flags: relatime, as Linux keeps it on a local disk --
 * updated when it is not later than the modification and change times,
 * or is a day old -- and never with -o noatime or for an O_NOATIME
 * reader. Reads the kernel answers from its page cache never get here
 * (jetcryptfs.1, "Access times"). The update is a read of one byte through
 * a descriptor without O_NOATIME, so that the backing filesystem makes it
 * as for any reader (and under its own atime option): a utimensat would
 * change the ctime too, which a read never does. Before the answer: the
 * kernel asks for the atime again after a read. Not on a read-only mount,
 * which a remount may have made it (the daemon is not told: the mount
 * table is read when an update is due, which the rule makes rare). */
static void note_read(struct inode *in, int flags)
{
	struct mountinfo m;
	struct timespec now;
	struct stat st;
	char b;
	int fd;

	if (oc.noatime || (flags & O_NOATIME) ||
	    fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (ts_after(st.st_atim, st.st_mtim) && ts_after(st.st_atim, st.st_ctim) &&
	    now.tv_sec - st.st_atim.tv_sec < 24 * 60 * 60)
		return;
	if (oc.mountpoint && mountinfo_at(oc.mountpoint, &m) == 1 && m.rdonly)
		return;
	fd = inode_reopen(in, O_RDONLY);
	if (fd < 0)
		return;
	(void)!pread(fd, &b, 1, 0);
	close(fd);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct inode *in = ino_ptr(ino);
	struct readbuf *rb = readbuf(size);
	ssize_t n;

	(void)fi;
	if (!rb) {
		fuse_reply_err(req, size > OPS_MAX_IO ? EINVAL : ENOMEM);
		return;
	}
	/* Never the old contents, or zeros, where a writeback write was lost
	 * (write_behind): the kernel keeps the size it gave the file until it
	 * forgets the inode, which takes the kept error with it. */
	if (wbehind_drain(&in->wb) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	pthread_rwlock_rdlock(&in->lock);
	readbuf_claim(rb, in->c.serial, size);
	n = content_read(&in->c, in->data_fd, rb->mem, size, (uint64_t)off);
	pthread_rwlock_unlock(&in->lock);
	if (n > 0)
		note_read(in, fi->flags);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, rb->mem, (size_t)n);
}

/* A write the kernel makes from its writeback cache that fails (a full
 * backing disk, say) reaches the application only at its next fsync or
 * close -- at its next fsync only if it was answered before it was made --
 * which it may never check: say so in the log, where an operator looks.
 * At most one line per 10 s, with the count of those left out. */
static void log_writeback_error(struct inode *in, int err, int answered)
{
	static _Atomic long last;
	static _Atomic unsigned long quiet;
	struct timespec now;
	char proc[64], path[PATH_MAX];
	ssize_t n;
	long prev;

	clock_gettime(CLOCK_MONOTONIC, &now);
	prev = last;
	if (prev && now.tv_sec - prev < 10) {
		quiet++;
		return;
	}
	last = now.tv_sec ? now.tv_sec : 1;
	proc_path(in->fd, proc, sizeof(proc));
	n = readlink(proc, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = '\0';
	log_err("%s: writing back cached data failed: %s; the application sees this only at its "
		"next fsync%s, and reads of the file fail until it is closed and out of the kernel's "
		"cache (a remount does it) (%lu more such failures not logged)", path, strerror(err),
		answered ? "" : " or close", (unsigned long)atomic_exchange(&quiet, 0));
}

/* A writeback WRITE of a file open for writing with the writeback cache,
 * in the file's order (wbehind.h). Answered at once, if wbehind_take
 * allows, once its space is reserved: a full disk is still this WRITE's
 * answer, as when it is answered after it is made. Then made in its turn
 * from the request buffer, which stays the worker's until this returns.
 * One that fails, answered or not, is kept as the file's error: the kernel
 * has already grown the file to the size the lost bytes gave it, and its
 * pages are clean or gone, so what a read would find there is zeros. (An
 * O_SYNC writer's fsync comes from the kernel after the write.) */
static void write_behind(fuse_req_t req, struct inode *in, int cipher, const char *buf,
			 size_t size, off_t off)
{
	uint64_t place;
	ssize_t n = 0;
	int early, rc = 0;

	early = wbehind_take(&in->wb, size, &place);
	if (early) {
		rc = content_reserve_write(in->data_fd, cipher, (uint64_t)off, size);
		if (rc < 0) {
			log_writeback_error(in, -rc, 0);
			fuse_reply_err(req, -rc);
		} else {
			fuse_reply_write(req, size);
		}
	}
	wbehind_wait_turn(&in->wb, place);
	if (rc == 0) {
		pthread_rwlock_wrlock(&in->lock);
		n = content_write(&in->c, in->data_fd, buf, size, (uint64_t)off);
		note_content(in);
		pthread_rwlock_unlock(&in->lock);
		if (n < 0) {
			rc = (int)n;
			log_writeback_error(in, -rc, early);
		}
	}
	/* Answered, the kernel may forget the inode once this is done: in is
	 * not touched after it (inode_forget waits for it). */
	wbehind_done(&in->wb, early, rc);
	if (early)
		return;
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct inode *in = ino_ptr(ino);
	ssize_t n;
	int cipher;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* Writeback writes come only while a handle is open for writing
	 * (the kernel holds one for them), so write_cipher is this file's. */
	cipher = in->write_cipher;
	if (fi->writepage && cipher) {
		write_behind(req, in, cipher, buf, size, off);
		return;
	}
	(void)wbehind_drain(&in->wb);
	pthread_rwlock_wrlock(&in->lock);
	n = content_write(&in->c, in->data_fd, buf, size, (uint64_t)off);
	if (n >= 0 && (fi->fh & (O_SYNC | O_DSYNC)) && fdatasync(in->data_fd) < 0)
		n = -errno;
	note_content(in);
	pthread_rwlock_unlock(&in->lock);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
	} else {
		fuse_reply_write(req, (size_t)n);
	}
}

/* Clears the bits kill of the backing file of in, whose stat is st. */
static void clear_setid(struct inode *in, const struct stat *st, mode_t kill)
{
	char path[64];

	if (!kill)
		return;
	proc_path(in->fd, path, sizeof(path));
	if (chmod(path, st->st_mode & 07777 & ~kill) < 0)
		log_warn("cannot clear the set-id bits of a written file: %s", strerror(errno));
}

/* fallocate changes a file as a write does, but the kernel marks no
 * FALLOCATE request for the set-id bits to be cleared (fuseio.h): the
 * daemon decides from the caller, as a local filesystem would. */
static void fallocate_kill_suidgid(fuse_req_t req, fuse_ino_t ino, struct inode *in)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;
	mode_t kill;

	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    !(st.st_mode & (S_ISUID | S_ISGID)))
		return;
	kill = caller_setid_to_kill(st.st_mode, st.st_gid, ctx->gid, ctx->pid);
	if (!kill || caller_has_fsetid(ctx->uid, ctx->pid))
		return;
	clear_setid(in, &st, kill);
	/* The kernel keeps the mode it cached (with the writeback cache it
	 * refreshes only what a write can change, after a FALLOCATE) until
	 * told. Attributes only: nothing to wait for, safe in a worker. */
	if (session)
		(void)fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct inode *in = ino_ptr(ino);
	uint64_t size;

	(void)fi;
	if (mode) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/* Plain allocation: extend the file with zeros if it ends before
	 * off + len, as posix_fallocate would. */
	(void)wbehind_drain(&in->wb);
	fallocate_kill_suidgid(req, ino, in);
	pthread_rwlock_rdlock(&in->lock);
	size = in->c.size;
	pthread_rwlock_unlock(&in->lock);
	fuse_reply_err(req, (uint64_t)(off + len) > size ? -do_truncate(in, off + len) : 0);
}

struct dirp {
	struct dirp *prev, *next;       /* open_dirs */
	DIR *dp;
	struct dirent *entry;
	off_t offset;
	int is_root;
	dev_t dev;                      /* of the directory, for inode_known_type */
};

/* Directory handles still open: the kernel sends RELEASEDIR in the
 * background, and one still queued when the mount goes away is dropped,
 * so ops_destroy closes what is left. */
static pthread_mutex_t open_dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dirp *open_dirs;

static void dirp_free(struct dirp *d)
{
	pthread_mutex_lock(&open_dirs_lock);
	if (d->prev)
		d->prev->next = d->next;
	else
		open_dirs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	pthread_mutex_unlock(&open_dirs_lock);
	closedir(d->dp);
	free(d);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in = ino_ptr(ino);
	struct dirp *d = calloc(1, sizeof(*d));
	int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, fd;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* A directory's atime is the backing filesystem's to keep, as
	 * getdents reads it, but for -o noatime and nodiratime. */
	fd = openat(in->fd, ".", flags | (oc.noatime || oc.nodiratime ? O_NOATIME : 0));
	if (fd < 0 && errno == EPERM)
		fd = openat(in->fd, ".", flags);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		int rc = -errno;

		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, -fd_error(rc));
		return;
	}
	d->is_root = in == root;
	d->dev = in->dev;
	pthread_mutex_lock(&open_dirs_lock);
	d->next = open_dirs;
	if (open_dirs)
		open_dirs->prev = d;
	open_dirs = d;
	pthread_mutex_unlock(&open_dirs_lock);
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dirp_free(d);   /* the request is gone: no releasedir follows */
}

/* 1 if a regular backing file of size bytes could be the marker of a
 * FIFO or socket: markers have one size per cipher. */
static int marker_sized(off_t size)
{
	return (size_t)size == node_marker_size(FMT_CIPHER_CHACHAPOLY) ||
	       (size_t)size == node_marker_size(FMT_CIPHER_AES);
}

/* The type a listing shows for entry e of d (as st_mode, 0 unknown);
 * 1 if it is hidden (node_hidden). A regular backing file may be the
 * marker of a FIFO or socket, which only the header says: its type is
 * the one the inode table settled; else a file of a size no marker has is
 * shown as a file, and one of a marker's size left unknown (DT_UNKNOWN)
 * until a lookup reads its header -- readers that need the type (ls -l,
 * find -type, Go's ReadDir) look it up. A stat per such entry here costs
 * far less than the lookup every entry would otherwise get. */
static int entry_type(const struct dirp *d, const struct dirent *e, mode_t *mode)
{
	struct stat st;
	int known;

	*mode = (mode_t)e->d_type << 12;
	if (e->d_type == DT_UNKNOWN) {
		/* A backing filesystem without d_type: ask it. */
		if (fstatat(dirfd(d->dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0;
		*mode = st.st_mode & S_IFMT;
	}
	if (node_hidden(*mode))
		return 1;
	if (!S_ISREG(*mode))
		return 0;
	known = inode_known_type(d->dev, e->d_ino);
	if (known)
		*mode = (mode_t)known;
	else if (fstatat(dirfd(d->dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || marker_sized(st.st_size))
		*mode = 0;
	return 0;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct dirp *d = (struct dirp *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size), *p = buf;
	size_t rem = size;
	int err = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		struct stat st = { 0 };
		mode_t type;
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		if (store_name_hidden(d->entry->d_name, d->is_root) || entry_type(d, d->entry, &type)) {
			d->offset = d->entry->d_off;
			d->entry = NULL;
			continue;
		}
		st.st_ino = d->entry->d_ino;
		st.st_mode = type;
		n = fuse_add_direntry(req, p, rem, d->entry->d_name, &st, d->entry->d_off);
		if (n > rem)
			break;
		p += n;
		rem -= n;
		d->offset = d->entry->d_off;
		d->entry = NULL;
	}
	if (err && p == buf)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, (size_t)(p - buf));
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirp *d = (struct dirp *)(uintptr_t)fi->fh;

	(void)ino;
	dirp_free(d);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct dirp *d = (struct dirp *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp);

	(void)ino;
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(ino_ptr(ino)->fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* Extended attributes: fs/store/xattr.c encrypts user.* values, refuses and
 * hides POSIX ACLs (the kernel checks access against the modes only,
 * default_permissions without FUSE_POSIX_ACL, so a stored ACL's deny
 * entries would deny nothing) and the internal names, and passes the
 * other namespaces through. */
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	/* A write still to be made would strip a capability set now. */
	(void)wbehind_drain(&ino_ptr(ino)->wb);
	fuse_reply_err(req, -xattr_set(ino_ptr(ino)->fd, name, value, size, flags));
}

static void reply_xattr(fuse_req_t req, size_t size, ssize_t n, const char *buf)
{
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf;

	buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_xattr(req, size, xattr_get(ino_ptr(ino)->fd, name, buf, size), buf);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = NULL;
	ssize_t len = xattr_list(ino_ptr(ino)->fd, &buf);

	if (len >= 0 && size && (size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		reply_xattr(req, size, len, buf);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)wbehind_drain(&ino_ptr(ino)->wb);
	fuse_reply_err(req, -xattr_remove(ino_ptr(ino)->fd, name));
}

static void readbuf_free(void *p)
{
	struct readbuf *rb = p;

	sodium_memzero(rb->mem, rb->used);
	free(rb->mem);
	free(rb);
}

int ops_init(const struct ops_config *cfg, struct fuse_lowlevel_ops *ops)
{
	int rc;

	oc = *cfg;
	daemon_is_root = geteuid() == 0;
	if (getenv(STORE_TEST_DELAY_ENV))
		test_delay_ms = (unsigned)strtoul(getenv(STORE_TEST_DELAY_ENV), NULL, 10);
	rc = pthread_key_create(&readbuf_key, readbuf_free);
	if (rc)
		return -rc;
	rc = inode_table_init(cfg->root_fd, &root);
	if (rc < 0)
		return rc;
	memset(ops, 0, sizeof(*ops));
	ops->init = op_init;
	ops->lookup = op_lookup;
	ops->forget = op_forget;
	ops->forget_multi = op_forget_multi;
	ops->getattr = op_getattr;
	ops->setattr = op_setattr;
	ops->readlink = op_readlink;
	ops->mknod = op_mknod;
	ops->mkdir = op_mkdir;
	ops->symlink = op_symlink;
	ops->link = op_link;
	ops->unlink = op_unlink;
	ops->rmdir = op_rmdir;
	ops->rename = op_rename;
	ops->open = op_open;
	ops->create = op_create;
	ops->read = op_read;
	ops->write = op_write;
	/* No flush: FLUSH would be a round trip on every close with nothing
	 * for the daemon to do (the kernel has written the dirty pages back
	 * and checked their errors before it sends one, and there are no
	 * locks to drop). Answered ENOSYS once, the kernel stops sending it. */
	ops->release = op_release;
	ops->fsync = op_fsync;
	ops->fallocate = op_fallocate;
	ops->opendir = op_opendir;
	ops->readdir = op_readdir;
	ops->releasedir = op_releasedir;
	ops->fsyncdir = op_fsyncdir;
	ops->statfs = op_statfs;
	ops->setxattr = op_setxattr;
	ops->getxattr = op_getxattr;
	ops->listxattr = op_listxattr;
	ops->removexattr = op_removexattr;
	return 0;
}

void ops_kill_suidgid(uint64_t nodeid, gid_t fsgid, pid_t pid)
{
	struct inode *in = ino_ptr((fuse_ino_t)nodeid);
	struct stat st;

	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return;
	clear_setid(in, &st, caller_setid_to_kill(st.st_mode, st.st_gid, fsgid, pid));
}

void ops_set_session(struct fuse_session *se)
{
	session = se;
}

void ops_destroy(void)
{
	while (open_dirs)
		dirp_free(open_dirs);
	inode_table_destroy();
}
