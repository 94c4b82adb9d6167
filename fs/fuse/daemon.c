/*
 * The daemon's phases, in order: the process, the config and the paths,
 * the keys, the store, the mount, the detach from the terminal, serving,
 * and the shutdown, which undoes whatever the others got done. Each phase
 * returns 0 or the exit status of a refusal it has reported (fail).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "bdi.h"
#include "config.h"
#include "content.h"
#include "daemon.h"
#include "flusher.h"
#include "fuseio.h"
#include "fusemsg.h"
#include "keyring.h"
#include "storekeys.h"
#include "log.h"
#include "mountpoint.h"
#include "ops.h"
#include "pidfile.h"
#include "safewrite.h"
#include "secrets.h"
#include "signals.h"
#include "status.h"
#include "store.h"
#include "xattr.h"

struct daemon {
	struct mount_opts *mo;
	struct config cfg;
	struct keyring *kr;
	struct store st;
	struct fuse_session *se;
	char **env;                     /* the environment as started: secrets_env_snapshot */
	char backing[PATH_MAX];         /* resolved */
	char mnt[PATH_MAX];             /* resolved */
	char log_abs[PATH_MAX];         /* the log file, absolute ("" if none): for the flusher */
	int cipher;                     /* for new files */
	int pid_written;
	int guard_set;                  /* this run made the mount point immutable */
	int mounted;
	int ready;                      /* the parent was told 0 */
};

/* The mount's bdi and the readahead to give it once INIT is done. */
static char tune_bdi[64];
static unsigned tune_readahead_kb;
static int tune_asked;          /* given on the command line: failing is worth a warning */

static void tune_after_init(void)
{
	int rc;

	if (!tune_bdi[0])
		return;
	rc = bdi_set_readahead(tune_bdi, tune_readahead_kb);
	if (rc == 0)
		log_debug("readahead %u KiB (%s)", tune_readahead_kb, tune_bdi);
	else if (tune_asked)
		log_warn("%s/read_ahead_kb: cannot set readahead: %s", tune_bdi, strerror(-rc));
	else
		log_debug("%s/read_ahead_kb: readahead stays at the kernel's: %s", tune_bdi, strerror(-rc));
}

/* Takes the kernel's INIT request before the mount is called ready, so
 * that what only INIT can refuse -- libfuse checks there, for one, that
 * init() repeated max_read -- fails the mount command with the reason,
 * instead of a daemon that exits right after reporting success. 0, or
 * -errno if the session ended. */
static int session_init(struct fuse_session *se)
{
	struct fuse_buf fbuf = { .mem = NULL };
	int rc;

	do
		rc = fuse_session_receive_buf(se, &fbuf);
	while (rc == -EINTR && !fuse_session_exited(se));
	if (rc > 0) {
		fuse_session_process_buf(se, &fbuf);
		rc = fuse_session_exited(se) ? -EPROTO : 0;
	} else if (rc == 0) {
		rc = -ENODEV;   /* unmounted before INIT */
	}
	free(fbuf.mem);
	return rc;
}

/* The fsname= option naming backing in out (2 * PATH_MAX + 16 bytes):
 * libfuse splits options at commas and takes a backslash as an escape,
 * so a backing path with either would end the option early. */
static void fsname_opt(const char *backing, char *out, size_t outlen)
{
	size_t n = (size_t)snprintf(out, outlen, "fsname=");

	for (const char *p = backing; *p && n + 2 < outlen; p++) {
		if (*p == ',' || *p == '\\')
			out[n++] = '\\';
		out[n++] = *p;
	}
	out[n] = '\0';
}

static int daemon_status_fd = -1;

/* Tells the waiting parent how the mount went; only the first call counts. */
static void report_status(int status)
{
	unsigned char b = (unsigned char)status;

	if (daemon_status_fd >= 0) {
		(void)!write(daemon_status_fd, &b, 1);
		close(daemon_status_fd);
		daemon_status_fd = -1;
	}
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	report_status(status);
	return status;
}

/* Makes the bare mount point immutable before the mount covers it (see
 * mountpoint.h); *set_now tells whether this run set it. Says once what
 * it did and how to undo it, or why it could not. */
static void guard_mountpoint(const char *mnt, int *set_now)
{
	int rc = mountpoint_guard(mnt);

	*set_now = rc == 1;
	if (rc == 1)
		log_info("%s: made immutable (chattr +i), so that nothing is written into the bare directory "
			 "while the store is not mounted on it; 'chattr -i %s' undoes it, --no-guard skips it", mnt, mnt);
	else if (rc < 0)
		log_warn("%s: cannot make the bare mount point immutable (%s)%s: if the mount goes away while a "
			 "program writes to it, its files land there unencrypted", mnt, strerror(-rc),
			 rc == -EPERM ? ", which needs root (CAP_LINUX_IMMUTABLE)" :
			 rc == -ENOTTY || rc == -EOPNOTSUPP ? ", which its filesystem does not support" : "");
}

/* Where the daemon's lines go once it leaves the terminal: said now,
 * while the terminal still shows it, if that is not syslog or the log
 * file asked for. */
static void plan_log(void)
{
	char path[PATH_MAX];
	int rc = log_detach_plan(path, sizeof(path));

	if (rc == 1)
		log_warn("no syslog socket (/dev/log) and no --log-file: logging to %s", path);
	else if (rc < 0)
		log_warn("no syslog socket (/dev/log), no --log-file and no fallback log file: run-time errors "
			 "will not be seen; give --log-file FILE");
}

/* One O_PATH descriptor per inode the kernel knows, and it may know
 * hundreds of thousands (a tar extract, a git checkout): as many as the
 * system lets a process have where we may raise the hard limit (root),
 * else up to the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl, most = { 0, 0 };
	unsigned long n;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f && fscanf(f, "%lu", &n) == 1)
		most.rlim_cur = most.rlim_max = n;
	if (f)
		fclose(f);
	if (most.rlim_max > rl.rlim_max && setrlimit(RLIMIT_NOFILE, &most) == 0)
		rl = most;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The log file, the config, the two directories, the cipher, and whether
 * plaintext files are to be served. */
static int load_config(struct daemon *d)
{
	struct mount_opts *mo = d->mo;
	char err[1024];
	int rc;

	if (mo->log_file && (rc = log_open_file(mo->log_file)) < 0)
		return fail(EXIT_USAGE, "%s: cannot open log file: %s", mo->log_file,
			    rc == -ENXIO ? "a FIFO that no process reads" :
			    rc == -ELOOP ? "a symlink (refused: a daemon run as root must not write through one)" :
			    strerror(-rc));
	if (mo->log_file && mo->log_file[0] == '/')
		snprintf(d->log_abs, sizeof(d->log_abs), "%s", mo->log_file);
	else if (mo->log_file && getcwd(d->log_abs, sizeof(d->log_abs)) &&
		 strlen(d->log_abs) + 1 + strlen(mo->log_file) < sizeof(d->log_abs))
		strcat(strcat(d->log_abs, "/"), mo->log_file);
	else
		d->log_abs[0] = '\0';
	if (mo->config) {
		rc = config_load(mo->config, &d->cfg, err, sizeof(err));
		if (rc < 0)
			return fail(EXIT_USAGE, "%s", err);
		if (d->cfg.warning[0])
			log_warn("%s", d->cfg.warning);
	}
	if (!mo->backing) {
		if (!d->cfg.backing_dir || !d->cfg.store_dir)
			return fail(EXIT_USAGE, "%s: jetstream needs backing_dir and store_dir when no directories are given",
				    mo->config);
		mo->backing = d->cfg.backing_dir;
		mo->mountpoint = d->cfg.store_dir;
	}
	if (!realpath(mo->backing, d->backing))
		return fail(EXIT_FAIL, "%s: backing directory: %s", mo->backing, strerror(errno));
	rc = mountpoint_prepare(mo->mountpoint, d->backing, mo->nonempty ? MOUNTPOINT_NONEMPTY : 0, d->mnt, err,
				sizeof(err));
	if (rc < 0)
		return fail(status_of_error(rc), "%s", err);
	d->cipher = storekeys_new_file_cipher(mo->cipher, &d->cfg);
	if (d->cipher < 0)
		return fail(EXIT_USAGE, "unknown cipher '%s' (use chachapoly or aes)", mo->cipher);
	/* Plaintext files are served only with adopt; strict is the default
	 * and says so explicitly. Asked for both on the command line, or
	 * strict by the config and adopt on the command line, is a
	 * contradiction; the config says both only with an error of its own.
	 * A config's adopt under a command line's strict is a leftover of an
	 * adoption: strict wins. */
	if (mo->adopt && (mo->strict || d->cfg.strict == 1))
		return fail(EXIT_USAGE, "adopt (command line) and strict (%s) cannot be used together",
			    mo->strict ? "command line" : mo->config);
	if (d->cfg.strict == 1)
		mo->strict = 1;
	if (d->cfg.adopt == 1 && mo->strict)
		log_warn("%s: adopt: true ignored, since strict was asked (take it out once the store is encrypted)",
			 mo->config);
	else if (d->cfg.adopt == 1)
		mo->adopt = 1;
	return 0;
}

int daemon_push_fuse_opt(struct mount_opts *mo, const char *opt)
{
	size_t len = strlen(mo->fuse_opts);

	if (len + strlen(opt) + 2 > sizeof(mo->fuse_opts))
		return -E2BIG;
	if (len)
		mo->fuse_opts[len++] = ',';
	strcpy(mo->fuse_opts + len, opt);
	return 0;
}

static unsigned store_flags(const struct mount_opts *mo)
{
	return (mo->adopt ? STORE_ADOPT : 0) | (mo->strict ? STORE_STRICT : 0);
}

/* The keyring; the environment they came from is scrubbed either way. */
static int load_keys(struct daemon *d)
{
	struct mount_opts *mo = d->mo;
	struct storekeys_opts ko = { .key_env = mo->key_env, .key_file = mo->key_file, .cfg = &d->cfg,
			       .backing = d->backing, .may_create = 1, .store_flags = store_flags(mo),
			       .allow_weak = mo->allow_weak_key || d->cfg.allow_weak_key == 1 };
	char err[1024];
	int rc;

	if (mo->config)
		secrets_check_config_mode(mo->config, &d->cfg, d->env);
	rc = storekeys_load(&ko, &d->kr, err, sizeof(err));
	secrets_env_scrub(d->env, mo->key_env, &d->cfg);
	d->env = NULL;
	return rc < 0 ? fail(status_of_error(rc), "%s", err) : 0;
}

/* The store, locked and checked; the pid file; the content layer and the
 * operations over it. */
static int open_store(struct daemon *d, struct fuse_lowlevel_ops *ops)
{
	struct mount_opts *mo = d->mo;
	char err[1024];
	int rc;

	rc = store_open(d->backing, d->kr, store_flags(mo), &d->st, err, sizeof(err));
	if (rc < 0)
		return fail(status_of_error(rc), "%s", err);
	/* Before the mount, and fatal: a service manager that finds no pid
	 * file takes the start for failed and would leave this daemon and
	 * its mount behind. Our pid is final: the fork, if any, is behind us. */
	if (mo->pid_file) {
		rc = pidfile_write(mo->pid_file);
		if (rc < 0)
			return fail(EXIT_FAIL, "%s: cannot write pid file: %s", mo->pid_file,
				    rc == -EINVAL ? "not a regular file" : strerror(-rc));
		d->pid_written = 1;
	}
	struct content_ctx cctx = { .kr = d->kr, .cipher = d->cipher, .plaintext_allowed = d->st.plaintext_allowed,
				    .cached_backing = mo->cached_backing };
	if (content_setup(&cctx) < 0)
		return fail(EXIT_FAIL, "crypto library initialisation failed");
	xattr_setup(&cctx);
	struct ops_config ocfg = { .root_fd = d->st.dir_fd, .writeback = !mo->write_through, .timeout = 5.0,
				   .low_space = (uint64_t)mo->low_space_mib << 20, .max_read = mo->max_read,
				   .noatime = mo->noatime, .nodiratime = mo->nodiratime, .mountpoint = d->mnt };
	rc = ops_init(&ocfg, ops);
	return rc < 0 ? fail(EXIT_FAIL, "cannot set up: %s", strerror(-rc)) : 0;
}

/* The readahead to set once INIT is done (tune_after_init), if the
 * mount's bdi can be found and written. */
static void plan_readahead(const struct mount_opts *mo, const char *mnt)
{
	int rc;

	if (!mo->readahead_kb)
		return;
	tune_readahead_kb = mo->readahead_kb;
	tune_asked = mo->readahead != NULL;
	if ((rc = bdi_find(mnt, tune_bdi, sizeof(tune_bdi))) < 0) {
		tune_bdi[0] = '\0';
		if (tune_asked)
			log_warn("%s: cannot find the mount's device to set readahead: %s", mnt, strerror(-rc));
	} else if ((rc = bdi_check_writable(tune_bdi)) < 0) {
		/* Said now, while stderr is still the caller's terminal. */
		if (tune_asked)
			log_warn("%s/read_ahead_kb: cannot set readahead: %s", tune_bdi, strerror(-rc));
		tune_bdi[0] = '\0';
	}
}

/* The FUSE session and the mount, up to the kernel's INIT. */
static int mount_session(struct daemon *d, const struct fuse_lowlevel_ops *ops)
{
	struct mount_opts *mo = d->mo;
	char fsname[2 * PATH_MAX + 16];
	const char *msg;
	int rc;

	fsname_opt(d->backing, fsname, sizeof(fsname));
	/* nodev always, after the caller's options so that no "dev" undoes
	 * it: run as root, a FUSE mount honours device nodes otherwise. */
	if (daemon_push_fuse_opt(mo, fsname) < 0 || daemon_push_fuse_opt(mo, "subtype=jetcryptfs") < 0 ||
	    daemon_push_fuse_opt(mo, "nodev") < 0 ||
	    (mo->allow_other && daemon_push_fuse_opt(mo, "default_permissions") < 0))
		return fail(EXIT_USAGE, "too many mount options");
	char *fargv[] = { "jetcryptfs", "-o", mo->fuse_opts, mo->debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(mo->debug ? 4 : 3, fargv);
	fusemsg_start();
	d->se = fuse_session_new(&args, ops, sizeof(*ops), NULL);
	fuse_opt_free_args(&args);      /* the parser may have copied them */
	if (!d->se)
		return fail(EXIT_USAGE, "invalid mount options: %s", fusemsg_stop("refused by libfuse"));
	ops_set_session(d->se);
	if (!mo->no_guard)
		guard_mountpoint(d->mnt, &d->guard_set);
	if (fuse_session_mount(d->se, d->mnt) != 0) {
		msg = fusemsg_stop("refused by libfuse");
		if (!strncmp(msg, "mount failed: ", 14))
			msg += 14;      /* libfuse's words, and ours */
		return fail(EXIT_FAIL, "%s: mount failed: %s", d->mnt, msg);
	}
	d->mounted = 1;
	(void)fusemsg_stop(NULL);
	plan_readahead(mo, d->mnt);
	/* Before INIT is read (session_init): lets the kernel skip a getxattr
	 * round trip on every write (fuseio.h). tune_after_init runs before
	 * the parent is told, so its warning still reaches the terminal. */
	if ((rc = fuseio_install(d->se, ops_kill_suidgid, tune_after_init)) < 0)
		log_warn("cannot hook the FUSE device (%s): every write will cost a getxattr", strerror(-rc));
	if (signals_start(d->mnt) < 0)
		return fail(EXIT_FAIL, "cannot set up signal handling");
	fusemsg_start();
	rc = session_init(d->se);
	if (rc == -ENODEV) {
		(void)fusemsg_stop(NULL);
		return fail(EXIT_FAIL, "%s: unmounted before the kernel's first request (INIT)", d->mnt);
	}
	if (rc < 0)
		return fail(EXIT_FAIL, "%s: the kernel's INIT failed: %s", d->mnt, fusemsg_stop(strerror(-rc)));
	if ((msg = fusemsg_stop(NULL)))
		log_warn("libfuse: %s", msg);
	return 0;
}

/* The mount answers: says so, tells the parent, and leaves the terminal. */
static void announce_ready(struct daemon *d)
{
	char hex[2 * FMT_KEY_ID_SIZE + 1];

	kdf_key_id_hex(d->kr->keys[0].id, hex);
	log_info("mounted %s on %s (cipher %s for new files, key id %s, %s)", d->backing, d->mnt,
		 fmt_cipher_name(d->cipher), hex, d->st.plaintext_allowed ? "plaintext files allowed" : "strict");
	if (!d->mo->foreground)
		plan_log();
	report_status(EXIT_OK);
	d->ready = 1;
	if (!d->mo->foreground) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		log_detach();
	}
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
}

/* Serves until the kernel ends the session; the exit status. */
static int serve(struct daemon *d)
{
	struct fuse_loop_config *lc;
	int rc;

	/* After the fork and the redirections: the helpers share our
	 * descriptor table and memory. */
	rc = safewrite_start(2);
	if (rc < 0)
		log_warn("writes are made by the daemon itself (%s): if it is killed, the block it was writing may be torn",
			 strerror(-rc));
	if (!d->mo->write_through && d->mo->flush_ms &&
	    (rc = flusher_start(d->mnt, d->mo->flush_ms, d->mo->foreground ? "-" : d->log_abs)) < 0)
		log_warn("%s: cannot start flushing the writeback cache: %s", d->mnt, strerror(-rc));
	lc = fuse_loop_cfg_create();
	if (!lc)
		return EXIT_FAIL;
	/* Workers are kept once started: a new one costs its buffers anew
	 * (libfuse's 1 MiB request buffer, the reply and block scratch), and
	 * a burst of writeback requests started and ended dozens of threads
	 * per second; keeping them saved 12% of the daemon's CPU time on
	 * sequential writes (docs/PERFORMANCE.md). */
	fuse_loop_cfg_set_max_threads(lc, 16);
	fuse_loop_cfg_set_idle_threads(lc, 16);
	rc = fuse_session_loop_mt(d->se, lc);
	fuse_loop_cfg_destroy(lc);
	/* A worker that takes a request just as the kernel tears the
	 * connection down after the unmount reads ECONNABORTED instead of
	 * ENODEV: the same end of the session, not a failure. (An abort
	 * through /sys/fs/fuse/connections ends it the same way; every write
	 * the daemon took is on the backing files either way.) */
	if (rc == -ECONNABORTED)
		rc = 0;
	if (rc)
		log_err("%s: the FUSE session ended with an error: %s", d->mnt, strerror(rc < 0 ? -rc : rc));
	log_info("unmounted %s", d->mnt);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

/* Undoes what the phases did, in reverse. */
static void shut_down(struct daemon *d)
{
	int rc;

	flusher_stop();         /* lets go of its clone of the mount */
	if (d->mounted)
		fuse_session_unmount(d->se);
	secrets_env_scrub(d->env, d->mo->key_env, &d->cfg);    /* an early failure left it */
	safewrite_stop();
	if (d->se)
		fuse_session_destroy(d->se);
	ops_destroy();
	content_teardown();
	if (d->pid_written)
		pidfile_remove(d->mo->pid_file);        /* while we still hold the store */
	/* A store this mount made of an empty directory, and never served:
	 * the directory is left as it was found, bound to no key. */
	if (!d->ready && (rc = store_undo_create(&d->st)) < 0)
		log_warn("%s/%s: cannot remove the store descriptor this failed mount wrote: %s", d->backing,
			 DESC_NAME, strerror(-rc));
	if (!d->ready && d->guard_set && (rc = mountpoint_unguard(d->mnt)) < 0)
		log_warn("%s: cannot take back the immutable attribute this failed mount set: %s", d->mnt,
			 strerror(-rc));
	store_close(&d->st);
	keyring_free(d->kr);
	config_free(&d->cfg);
}

int daemon_run(struct mount_opts *mo, int status_fd)
{
	struct daemon d = { .mo = mo, .cfg = CONFIG_EMPTY, .st = { .dir_fd = -1 } };
	struct fuse_lowlevel_ops ops;
	int status;

	daemon_status_fd = status_fd;
	d.env = secrets_env_snapshot();
	secrets_no_core_dumps();
	raise_fd_limit();
	/* Backing files get exactly the modes the application asked for
	 * (the kernel has applied its umask already). */
	umask(0);
	status = load_config(&d);
	if (!status)
		status = load_keys(&d);
	if (!status)
		status = open_store(&d, &ops);
	if (!status)
		status = mount_session(&d, &ops);
	if (!status) {
		announce_ready(&d);
		status = serve(&d);
	}
	shut_down(&d);
	report_status(status);
	return status;
}
