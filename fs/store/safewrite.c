/*
 * Unkillable writes (see safewrite.h for why). Each helper is a process
 * created with clone(CLONE_VM | CLONE_FILES) but without CLONE_THREAD, so
 * it sees the daemon's buffers and descriptors while a SIGKILL of the
 * daemon's thread group leaves it alone. A caller claims an idle helper,
 * puts the job into its slot, rings its eventfd and sleeps on the slot's
 * futex until the helper marks the job done. An idle helper sleeps in
 * ppoll on that eventfd and on a pidfd of the daemon, so it leaves as soon
 * as the daemon has died -- after finishing the write it was making.
 *
 * Waking a task on another, idle CPU is slow on a virtual machine (an
 * inter-processor interrupt the hypervisor delivers): measured at about
 * 45 us per write handed over, against 6 us when the helper runs on the
 * caller's CPU. So one helper is pinned to each CPU the daemon may run on
 * (up to SW_MAX), and a caller hands its job to the helper of its own CPU,
 * which then runs there while the caller sleeps; the remaining helpers
 * are not pinned and take the jobs of callers whose own helper is busy.
 *
 * The helper shares the TLS of the thread that cloned it (a "spawner"
 * thread that does nothing but wait for it), so its code makes raw system
 * calls only: no allocation, no stdio, no locks, nothing a sanitizer
 * instruments.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "safewrite.h"

#define SW_MAX 16
#define SW_STACK (64 * 1024)

/* A slot's life: a caller claims it (FREE -> CLAIMED) and queues a job
 * (QUEUED); the helper takes the job (RUNNING) and finishes it (DONE); the
 * caller reads the result and frees the slot. */
enum { SW_FREE, SW_CLAIMED, SW_QUEUED, SW_RUNNING, SW_DONE };

struct sw_helper {
	_Atomic uint32_t state;         /* futex word, one of the above */
	_Atomic int dead;               /* the helper process is gone */
	int efd;                        /* doorbell: a job is queued */
	/* The job, written by the claimant before SW_QUEUED. */
	struct safewrite_part *parts;
	int nparts;
	ssize_t result;                 /* bytes or -errno, before SW_DONE */
	pid_t pid;
	void *stack;
	pthread_t spawner;
	int spawned;                    /* spawner thread exists */
	int cpu;                        /* the CPU it is pinned to, or -1 */
	sem_t started;
};

static struct sw_helper helpers[SW_MAX];
static unsigned nhelpers;
/* The helper pinned to each CPU, plus one; 0 where none is. */
static uint8_t cpu_helper[CPU_SETSIZE];
/* One slot per helper, less those dropped: a caller takes a slot, then
 * claims a free helper. A helper that dies owes its slot back (sw_owed),
 * and the next caller to take a slot drops it instead of writing, so that
 * callers wait for a live helper rather than find none and write
 * unprotected. The last helper to die owes nothing: with none left,
 * callers skip the wait and write directly. */
static sem_t sw_idle;
static int sw_idle_init;
static _Atomic unsigned sw_live;        /* helpers started and not dead */
static _Atomic unsigned sw_owed;        /* slots of dead helpers not dropped yet */
static _Atomic int sw_ready;            /* safewrite_start has finished */
static int sw_pidfd = -1;
static _Atomic int sw_stopping;

/* All len bytes of buf at off in fd: len or -errno. Raw system calls
 * only: the helpers run it (see the top of the file). */
__attribute__((no_sanitize_address, no_sanitize_undefined, no_sanitize_thread))
static ssize_t write_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = syscall(SYS_pwrite64, fd, (const char *)buf + done, len - done,
				    off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return (ssize_t)len;
}

/* One job, by a helper or by the caller itself. A part refused with
 * EINVAL is written again from its start through alt_fd: a direct write
 * refused for its alignment has written nothing, and one refused after a
 * short write wrote the same bytes that go there now. */
__attribute__((no_sanitize_address, no_sanitize_undefined, no_sanitize_thread))
static ssize_t write_parts(struct safewrite_part *p, int n)
{
	ssize_t total = 0;

	for (int i = 0; i < n; i++) {
		ssize_t r = write_all(p[i].fd, p[i].buf, p[i].len, p[i].off);

		if (r == -EINVAL && p[i].alt_fd >= 0) {
			p[i].refused = 1;
			r = write_all(p[i].alt_fd, p[i].buf, p[i].len, p[i].off);
		}
		if (r < 0)
			return r;
		total += r;
	}
	return total;
}

/* The helper process. Raw system calls only (see the top of the file). */
__attribute__((no_sanitize_address, no_sanitize_undefined, no_sanitize_thread))
static int helper_main(void *arg)
{
	struct sw_helper *h = arg;
	struct pollfd p[2];
	int orphan = 0;
	uint64_t v;

	for (;;) {
		uint32_t queued = SW_QUEUED;

		/* Taken only by this compare-and-swap, so that a caller can
		 * still withdraw a job the helper has not begun. */
		if (atomic_compare_exchange_strong(&h->state, &queued, SW_RUNNING)) {
			h->result = write_parts(h->parts, h->nparts);
			atomic_store(&h->state, SW_DONE);
			syscall(SYS_futex, &h->state, FUTEX_WAKE, 1, NULL, NULL, 0);
			continue;
		}
		if (orphan || atomic_load(&sw_stopping))
			return 0;
		p[0].fd = h->efd;
		p[0].events = POLLIN;
		p[0].revents = 0;
		p[1].fd = sw_pidfd;
		p[1].events = POLLIN;
		p[1].revents = 0;
		if (syscall(SYS_ppoll, p, 2, NULL, NULL, 0) < 0)
			continue;
		if (p[0].revents & POLLIN)
			(void)!syscall(SYS_read, h->efd, &v, sizeof(v));
		/* The daemon is gone: finish a job it queued, then leave. */
		if (p[1].revents)
			orphan = 1;
	}
}

/* Creates one helper and then waits for it to exit, so that the TLS the
 * helper borrows stays valid for its whole life. Its errno is the
 * helper's too: nothing here can set it once the helper may be given a
 * job (signals are blocked, so waitpid is not interrupted). */
static void *spawner_main(void *arg)
{
	struct sw_helper *h = arg;
	sigset_t all;
	char how[32];
	int ws;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);       /* the helper inherits this */
	h->pid = clone(helper_main, (char *)h->stack + SW_STACK,
		       CLONE_VM | CLONE_FILES, h);
	if (h->pid < 0) {
		h->result = -errno;
		atomic_store(&h->dead, 1);
		sem_post(&h->started);
		return NULL;
	}
	if (h->cpu >= 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(h->cpu, &one);
		/* Unpinned, it still works; it only hands over more slowly. */
		if (sched_setaffinity(h->pid, sizeof(one), &one) < 0)
			h->cpu = -1;
	}
	/* Counted here, before its death can be seen below. */
	atomic_fetch_add(&sw_live, 1);
	sem_post(&sw_idle);
	sem_post(&h->started);
	while (waitpid(h->pid, &ws, __WALL) < 0 && errno == EINTR)
		;
	atomic_store(&h->dead, 1);
	/* A caller waiting for a job it will never finish sees dead. */
	syscall(SYS_futex, &h->state, FUTEX_WAKE, 1, NULL, NULL, 0);
	/* During safewrite_start, which then sees dead and fails. */
	if (!atomic_load(&sw_ready) || atomic_load(&sw_stopping))
		return NULL;
	if (WIFSIGNALED(ws))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(ws));
	else
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(ws));
	if (atomic_fetch_sub(&sw_live, 1) == 1) {
		log_warn("write helper %d ended (%s); no write helper is left: the daemon now makes its writes itself, and a kill of the daemon could tear the block it is writing",
			 (int)h->pid, how);
		return NULL;
	}
	atomic_fetch_add(&sw_owed, 1);
	log_warn("write helper %d ended (%s): the other helpers make its writes", (int)h->pid, how);
	return NULL;
}

int safewrite_start(unsigned unpinned)
{
	int cpus[SW_MAX];
	unsigned n = 0;
	cpu_set_t allowed;
	int rc = 0;

	if (unpinned == 0 || unpinned > SW_MAX / 2 || nhelpers)
		return -EINVAL;
#ifdef __SANITIZE_THREAD__
	/* ThreadSanitizer's runtime does not survive in a process it did not
	 * start (the helpers crash in it), so a TSan build writes directly. */
	return -ENOTSUP;
#endif
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
		for (int c = 0; c < CPU_SETSIZE && n < SW_MAX - unpinned; c++)
			if (CPU_ISSET(c, &allowed))
				cpus[n++] = c;
	while (unpinned--)
		cpus[n++] = -1;
#ifdef SYS_pidfd_open
	sw_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
#endif
	if (sw_pidfd < 0)
		return -ENOSYS;
	atomic_store(&sw_stopping, 0);
	atomic_store(&sw_ready, 0);
	atomic_store(&sw_live, 0);
	atomic_store(&sw_owed, 0);
	sem_init(&sw_idle, 0, 0);
	sw_idle_init = 1;
	for (unsigned i = 0; i < n; i++) {
		struct sw_helper *h = &helpers[i];

		memset(h, 0, sizeof(*h));
		h->cpu = cpus[i];
		h->efd = eventfd(0, EFD_CLOEXEC);
		h->stack = mmap(NULL, SW_STACK, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (h->efd < 0 || h->stack == MAP_FAILED) {
			rc = -errno;
			if (h->efd >= 0)
				close(h->efd);
			if (h->stack != MAP_FAILED)
				munmap(h->stack, SW_STACK);
			break;
		}
		sem_init(&h->started, 0, 0);
		rc = -pthread_create(&h->spawner, NULL, spawner_main, h);
		if (rc == 0) {
			h->spawned = 1;
			sem_wait(&h->started);
			if (atomic_load(&h->dead))
				rc = (int)h->result;
		}
		nhelpers = i + 1;
		if (rc < 0)
			break;
	}
	/* A helper that died before this point was not accounted for. */
	atomic_store(&sw_ready, 1);
	for (unsigned i = 0; rc == 0 && i < nhelpers; i++)
		if (atomic_load(&helpers[i].dead))
			rc = -ECHILD;
	if (rc < 0) {
		safewrite_stop();
		return rc;
	}
	for (unsigned i = 0; i < nhelpers; i++)
		if (helpers[i].cpu >= 0)
			cpu_helper[helpers[i].cpu] = (uint8_t)(i + 1);
	return 0;
}

void safewrite_stop(void)
{
	atomic_store(&sw_stopping, 1);
	for (unsigned i = 0; i < nhelpers; i++) {
		struct sw_helper *h = &helpers[i];
		uint64_t one = 1;

		if (h->spawned) {
			(void)!write(h->efd, &one, sizeof(one));
			pthread_join(h->spawner, NULL);
		}
		sem_destroy(&h->started);
		close(h->efd);
		munmap(h->stack, SW_STACK);
	}
	nhelpers = 0;
	memset(cpu_helper, 0, sizeof(cpu_helper));
	if (sw_idle_init)
		sem_destroy(&sw_idle);
	sw_idle_init = 0;
	if (sw_pidfd >= 0)
		close(sw_pidfd);
	sw_pidfd = -1;
}

int safewrite_active(void)
{
	return nhelpers > 0 && !atomic_load(&sw_stopping);
}

static int claim(struct sw_helper *h)
{
	uint32_t free_state = SW_FREE;

	if (atomic_load(&h->dead) ||
	    !atomic_compare_exchange_strong(&h->state, &free_state, SW_CLAIMED))
		return 0;
	if (atomic_load(&h->dead)) {            /* died just now */
		atomic_store(&h->state, SW_FREE);
		return 0;
	}
	return 1;
}

/* The helper of the caller's CPU if it is idle; else one not pinned; else
 * one pinned to another CPU, which may be busy with other work. */
static struct sw_helper *claim_helper(void)
{
	int cpu = sched_getcpu();
	unsigned own = cpu >= 0 && cpu < CPU_SETSIZE ? cpu_helper[cpu] : 0;

	if (own && claim(&helpers[own - 1]))
		return &helpers[own - 1];
	for (int any = 0; any < 2; any++)
		for (unsigned i = 0; i < nhelpers; i++)
			if ((any || helpers[i].cpu < 0) && claim(&helpers[i]))
				return &helpers[i];
	return NULL;
}

/* Drops the slot the caller holds if a dead helper owes one: 1 if so. */
static int drop_owed_slot(void)
{
	unsigned n = atomic_load(&sw_owed);

	while (n > 0)
		if (atomic_compare_exchange_weak(&sw_owed, &n, n - 1))
			return 1;
	return 0;
}

/* Waits for a free live helper and claims it; NULL once none is left. */
static struct sw_helper *acquire_helper(void)
{
	struct sw_helper *h;

	for (;;) {
		if (atomic_load(&sw_live) == 0)
			return NULL;
		while (sem_wait(&sw_idle) < 0)
			;
		while (!drop_owed_slot()) {
			h = claim_helper();
			if (h)
				return h;
			if (atomic_load(&sw_live) == 0) {
				sem_post(&sw_idle);
				return NULL;
			}
			/* The slot held means a live helper is free: the scan
			 * passed it before it was released. */
			sched_yield();
		}
	}
}

static void release_helper(struct sw_helper *h)
{
	atomic_store(&h->state, SW_FREE);
	sem_post(&sw_idle);
}

/* Hands the job to h and waits: 1 when done, with *r set; 0 when the
 * helper died first. */
static int run_job(struct sw_helper *h, struct safewrite_part *parts, int n, ssize_t *r)
{
	uint32_t s, queued = SW_QUEUED;
	uint64_t one = 1;

	h->parts = parts;
	h->nparts = n;
	atomic_store(&h->state, SW_QUEUED);
	if (write(h->efd, &one, sizeof(one)) < 0) {
		log_warn("safewrite: cannot wake a write helper: %s", strerror(errno));
		if (atomic_compare_exchange_strong(&h->state, &queued, SW_CLAIMED)) {
			*r = write_parts(parts, n);
			return 1;
		}
	}
	while ((s = atomic_load(&h->state)) != SW_DONE) {
		struct timespec ts = { 1, 0 };

		if (atomic_load(&h->dead))
			return 0;
		syscall(SYS_futex, &h->state, FUTEX_WAIT, s, &ts, NULL, 0);
	}
	*r = h->result;
	return 1;
}

ssize_t safewrite_pwrite_parts(struct safewrite_part *parts, int n)
{
	struct sw_helper *h;
	ssize_t r;
	int done;

	for (;;) {
		if (!safewrite_active() || !(h = acquire_helper()))
			return write_parts(parts, n);
		done = run_job(h, parts, n, &r);
		release_helper(h);
		if (done)
			return r;
		/* The helper died before or while writing; it is gone (its
		 * spawner saw it exit), so the buffers are ours again, and the
		 * same bytes written at the same places once more complete a
		 * job it left half done. */
	}
}

ssize_t safewrite_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct safewrite_part p = { .fd = fd, .alt_fd = -1, .buf = buf, .len = len, .off = off };

	return safewrite_pwrite_parts(&p, 1);
}
