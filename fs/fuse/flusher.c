/*
 * The flusher process: started by the daemon through posix_spawn, with
 * none of its descriptors (closefrom), it clones the mount, calls syncfs
 * on the clone every interval, and polls /proc/self/mountinfo (which the
 * kernel wakes at every change of the mount table) and a pidfd of the
 * daemon, to let go of the clone as soon as the mount or the daemon is
 * gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flusher.h"
#include "log.h"
#include "mountinfo.h"

static pid_t flusher_pid = -1;

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

/* The detached clone of the mount at mnt, opened for real (open_tree
 * gives an O_PATH descriptor, which syncfs refuses), and the mount's id;
 * -errno. */
static int clone_mount(const char *mnt, int *id)
{
	struct mountinfo m;
	long tree = syscall(SYS_open_tree, AT_FDCWD, mnt, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	int fd;

	if (tree < 0)
		return -errno;
	fd = openat((int)tree, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close((int)tree);
	if (fd >= 0 && (mountinfo_at(mnt, &m) <= 0 || !mountinfo_is_jcfs(&m))) {
		close(fd);
		fd = -ENOENT;
	}
	if (fd >= 0)
		*id = m.id;
	return fd;
}

/* Flushes the clone every interval_ms until the mount (id) or the daemon
 * (pidfd) is gone. */
static void flush_loop(const char *mnt, int clone_fd, int id, int pidfd, unsigned interval_ms)
{
	struct pollfd p[2] = { { .events = POLLPRI }, { .fd = pidfd, .events = POLLIN } };
	uint64_t due = now_ms() + interval_ms;
	int failed = 0, n;

	p[0].fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (p[0].fd >= 0)
		drain(p[0].fd);
	for (;;) {
		uint64_t t = now_ms();

		n = poll(p, 2, t >= due ? 0 : (int)(due - t));
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && p[1].revents)
			break;                  /* the daemon is gone */
		if (n > 0 && p[0].revents) {
			drain(p[0].fd);
			if (mountinfo_has_id(id) == 0)
				break;          /* unmounted: the session may end */
		}
		if (now_ms() >= due) {
			if (syncfs(clone_fd) < 0 && !failed++)
				log_warn("%s: flushing the writeback cache: %s", mnt, strerror(errno));
			due = now_ms() + interval_ms;
		}
	}
	if (p[0].fd >= 0)
		close(p[0].fd);
}

int flusher_main(int argc, char **argv)
{
	const char *mnt, *log_file;
	unsigned interval;
	pid_t daemon;
	int clone_fd, id = 0, pidfd;

	if (argc != 5)
		return 2;
	mnt = argv[1];
	interval = (unsigned)strtoul(argv[2], NULL, 10);
	daemon = (pid_t)strtol(argv[3], NULL, 10);
	log_file = argv[4];
	if (!strcmp(log_file, "-")) {
		/* the daemon's own stderr: it runs in the foreground */
	} else if (log_file[0] && log_open_file(log_file) == 0) {
		log_detach();
	} else {
		char fallback[PATH_MAX];

		(void)log_detach_plan(fallback, sizeof(fallback));
		log_detach();
	}
	pidfd = (int)syscall(SYS_pidfd_open, daemon, 0);
	if (pidfd < 0 || getppid() != daemon)
		return 0;               /* the daemon is gone already */
	clone_fd = clone_mount(mnt, &id);
	if (clone_fd < 0) {
		log_info("%s: writeback cache not flushed by the daemon (%s): only the kernel writes it back, "
			 "so a killed daemon may lose up to ~30 s of writes not fsync'd", mnt,
			 clone_fd == -EPERM ? "needs CAP_SYS_ADMIN" : strerror(-clone_fd));
		return 0;
	}
	log_debug("%s: flushing the writeback cache every %u ms", mnt, interval);
	flush_loop(mnt, clone_fd, id, pidfd, interval);
	close(clone_fd);
	return 0;
}

int flusher_start(const char *mnt, unsigned interval_ms, const char *log_file)
{
	char interval[16], daemon[16];
	char *argv[] = { "jetcryptfs", FLUSHER_COMMAND, (char *)mnt, interval, daemon,
			 (char *)(log_file ? log_file : ""), NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int rc;

	snprintf(interval, sizeof(interval), "%u", interval_ms);
	snprintf(daemon, sizeof(daemon), "%d", (int)getpid());
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* None of the daemon's descriptors -- /dev/fuse above all -- and
	 * none of its blocked signals. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&flusher_pid, "/proc/self/exe", &fa, &attr, argv, NULL);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		flusher_pid = -1;
		return -rc;
	}
	return 0;
}

void flusher_stop(void)
{
	if (flusher_pid < 0)
		return;
	/* It has usually left already, the mount being gone. If not, it may
	 * be in a syncfs that only the end of the connection ends: not waited
	 * for -- it exits once this process is gone. */
	if (waitpid(flusher_pid, NULL, WNOHANG) == 0) {
		kill(flusher_pid, SIGKILL);
		(void)waitpid(flusher_pid, NULL, WNOHANG);
	}
	flusher_pid = -1;
}
