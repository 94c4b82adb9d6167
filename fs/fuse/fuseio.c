/*
 * /dev/fuse I/O hooks (see fuseio.h for why). Reads pass every request
 * through unchanged after a look at its header: the INIT request tells
 * whether the kernel offers FUSE_HANDLE_KILLPRIV_V2, and the requests the
 * kernel marks "kill suid/sgid" get that done on the backing file before
 * libfuse dispatches them. Writes pass every reply through unchanged but
 * the reply to INIT, which gains FUSE_HANDLE_KILLPRIV_V2 when offered.
 *
 * What the flag hands over, and where it is done: set-id bits on write,
 * truncate and open with O_TRUNC by an unprivileged caller -- here, on the
 * kernel's request flags; on chown -- by the backing chown, which clears
 * them as any chown does; file capabilities (security.capability) on
 * write and truncate -- by the backing filesystem when the daemon writes
 * or truncates the backing file.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fuseio.h"
#include "log.h"

static void (*kill_cb)(uint64_t nodeid, gid_t fsgid, pid_t pid);
static void (*init_cb)(void);
static struct fuse_session *sess;
static _Atomic uint64_t init_unique;    /* the INIT request, until answered */
static _Atomic int init_pending;
static _Atomic int killpriv_offered;

/* A request's argument, if the request is long enough to hold it. */
#define ARG(buf, n, type) \
	((n) >= sizeof(struct fuse_in_header) + sizeof(type) ? \
	 (const type *)((const char *)(buf) + sizeof(struct fuse_in_header)) : NULL)

static void inspect(const void *buf, size_t n)
{
	const struct fuse_in_header *h = buf;
	int kill = 0;

	switch (h->opcode) {
	case FUSE_INIT: {
		/* flags is the fourth word; older kernels send a shorter struct. */
		if (n >= sizeof(*h) + offsetof(struct fuse_init_in, flags) + sizeof(uint32_t)) {
			const struct fuse_init_in *in =
				(const void *)((const char *)buf + sizeof(*h));

			killpriv_offered = (in->flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
			init_unique = h->unique;
			init_pending = 1;
		}
		break;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = ARG(buf, n, struct fuse_write_in);

		kill = w && (w->write_flags & FUSE_WRITE_KILL_SUIDGID);
		break;
	}
	case FUSE_SETATTR: {
		const struct fuse_setattr_in *a = ARG(buf, n, struct fuse_setattr_in);

		kill = a && (a->valid & FATTR_KILL_SUIDGID);
		break;
	}
	case FUSE_OPEN: {
		const struct fuse_open_in *o = ARG(buf, n, struct fuse_open_in);

		kill = o && (o->open_flags & FUSE_OPEN_KILL_SUIDGID);
		break;
	}
	/* FUSE_CREATE names the parent directory and makes a new file:
	 * nothing to clear. */
	default:
		break;
	}
	if (kill) {
		kill_cb(h->nodeid, (gid_t)h->gid, (pid_t)h->pid);
		/* The kernel keeps showing the mode it cached (a write does not
		 * refresh it) until told to ask again. */
		fuse_lowlevel_notify_inval_inode(sess, h->nodeid, -1, 0);
	}
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n;

	(void)userdata;
	n = read(fd, buf, len);
	if (n >= (ssize_t)sizeof(struct fuse_in_header)) {
		int saved = errno;

		inspect(buf, (size_t)n);
		errno = saved;
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	int init_ok = 0;
	ssize_t n;

	(void)userdata;
	if (init_pending && count >= 2 && iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		struct fuse_out_header *out = iov[0].iov_base;

		if (out->unique == init_unique) {
			init_pending = 0;
			init_ok = out->error == 0;
			if (init_ok && killpriv_offered &&
			    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
				struct fuse_init_out *o = iov[1].iov_base;

				o->flags |= FUSE_HANDLE_KILLPRIV_V2;
				log_debug("kernel cache: set-id bits handled by the daemon (FUSE_HANDLE_KILLPRIV_V2)");
			}
		}
	}
	n = writev(fd, iov, count);
	/* The kernel applies the INIT reply within this writev. */
	if (init_ok && n >= 0 && init_cb) {
		int saved = errno;

		init_cb();
		errno = saved;
	}
	return n;
}

int fuseio_install(struct fuse_session *se,
		   void (*kill_suidgid)(uint64_t nodeid, gid_t fsgid, pid_t pid),
		   void (*after_init)(void))
{
	static const struct fuse_custom_io io = { .read = io_read, .writev = io_writev };

	kill_cb = kill_suidgid;
	init_cb = after_init;
	sess = se;
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
