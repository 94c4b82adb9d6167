/*
 * The flusher thread: syncfs on a detached clone of the mount every
 * interval, and a poll on /proc/self/mountinfo, which the kernel wakes at
 * every change of the mount table, to let go of the clone as soon as the
 * mount itself is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "flusher.h"
#include "log.h"
#include "mountinfo.h"

static pthread_t flush_thread;
static int started;
static int stop_fd = -1;                /* eventfd: flusher_stop's wake-up */
static char flush_mnt[PATH_MAX];
static unsigned flush_interval_ms;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads what the mount table holds, which rearms its poll. */
static void drain(int fd)
{
	char buf[4096];

	(void)lseek(fd, 0, SEEK_SET);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* The detached clone of the mount, and the mount's id; -errno. Made in
 * the thread, not by flusher_start: resolving the path may ask the
 * daemon, whose workers are not serving yet when flusher_start runs. */
static int clone_mount(int *id)
{
	struct mountinfo m;
	long tree = syscall(SYS_open_tree, AT_FDCWD, flush_mnt, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	int fd;

	if (tree < 0)
		return -errno;
	/* open_tree gives an O_PATH descriptor, which syncfs refuses: the
	 * clone's root, opened for real, holds the clone as well. */
	fd = openat((int)tree, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close((int)tree);
	if (fd >= 0 && (mountinfo_at(flush_mnt, &m) <= 0 || !mountinfo_is_jcfs(&m))) {
		close(fd);
		fd = -ENOENT;
	}
	if (fd >= 0)
		*id = m.id;
	return fd;
}

static void *flush_loop(void *arg)
{
	struct pollfd p[2] = { { .events = POLLPRI }, { .fd = stop_fd, .events = POLLIN } };
	uint64_t due;
	int clone_fd, id, n, failed = 0;

	(void)arg;
	clone_fd = clone_mount(&id);
	if (clone_fd < 0) {
		log_info("%s: writeback cache not flushed by the daemon (%s): only the kernel writes it back, "
			 "so a killed daemon may lose up to ~30 s of writes not fsync'd", flush_mnt,
			 clone_fd == -EPERM ? "needs CAP_SYS_ADMIN" : strerror(-clone_fd));
		return NULL;
	}
	p[0].fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (p[0].fd >= 0)
		drain(p[0].fd);
	log_debug("%s: flushing the writeback cache every %u ms", flush_mnt, flush_interval_ms);
	due = now_ms() + flush_interval_ms;
	for (;;) {
		uint64_t t = now_ms();

		n = poll(p, 2, t >= due ? 0 : (int)(due - t));
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;                  /* flusher_stop */
		if (n > 0 && p[0].revents) {
			drain(p[0].fd);
			if (mountinfo_has_id(id) == 0)
				break;          /* unmounted: the session may end */
		}
		if (now_ms() >= due) {
			if (syncfs(clone_fd) < 0 && !failed++)
				log_warn("%s: flushing the writeback cache: %s", flush_mnt, strerror(errno));
			due = now_ms() + flush_interval_ms;
		}
	}
	if (p[0].fd >= 0)
		close(p[0].fd);
	close(clone_fd);
	return NULL;
}

int flusher_start(const char *mnt, unsigned interval_ms)
{
	int rc;

	if ((size_t)snprintf(flush_mnt, sizeof(flush_mnt), "%s", mnt) >= sizeof(flush_mnt))
		return -ENAMETOOLONG;
	flush_interval_ms = interval_ms;
	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (stop_fd < 0)
		return -errno;
	rc = pthread_create(&flush_thread, NULL, flush_loop, NULL);
	if (rc) {
		close(stop_fd);
		stop_fd = -1;
		return -rc;
	}
	started = 1;
	return 0;
}

void flusher_stop(void)
{
	uint64_t one = 1;

	if (!started)
		return;
	(void)!write(stop_fd, &one, sizeof(one));
	pthread_join(flush_thread, NULL);
	close(stop_fd);
	stop_fd = -1;
	started = 0;
}
