/*
 * The jetcryptfs command: "mount" (also reached as "jetcryptfs BACKING
 * MOUNTPOINT -o OPTIONS", the form mount.fuse3 and fstab use) and the
 * small tools. Mounting forks first: the child loads keys, checks the
 * store, mounts and then tells the waiting parent the outcome, so the
 * parent's exit status is the mount's (0 only once it is ready) while
 * the keys only ever exist in the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "bdi.h"
#include "block.h"
#include "config.h"
#include "content.h"
#include "flusher.h"
#include "fuseio.h"
#include "keyring.h"
#include "keys.h"
#include "log.h"
#include "mountpoint.h"
#include "ops.h"
#include "remount.h"
#include "safewrite.h"
#include "signals.h"
#include "status.h"
#include "store.h"
#include "tools.h"
#include "xattr.h"

#ifndef JCFS_VERSION
#define JCFS_VERSION "dev"
#endif
#ifndef JCFS_TSS2_VERSION
#define JCFS_TSS2_VERSION "unknown"
#endif


/* The margin of free space kept for what the writeback cache of files
 * already open may still hold or add (ops.c, space_low): for nats-server
 * the block each stream is writing (8 MiB by default) and its index files. */
#define DEFAULT_LOW_SPACE_MIB 64
/* How often the writeback cache is flushed (flusher.h): what a killed
 * daemon may lose of writes not fsync'd, against the kernel's own ~30 s. */
#define DEFAULT_FLUSH_MS 1000
#define MAX_FLUSH_MS (3600u * 1000)
#define MAX_LOW_SPACE_MIB (1024u * 1024 * 1024)

struct mount_opts {
	const char *config;
	const char *cipher;
	const char *key_env;
	const char *key_file;
	const char *log_file;
	const char *pid_file;
	const char *readahead;          /* KiB, as given; NULL: the default */
	unsigned readahead_kb;
	const char *low_space;          /* MiB, as given; NULL: the default */
	unsigned low_space_mib;
	const char *flush_interval;     /* ms, as given; NULL: the default */
	unsigned flush_ms;
	const char *log_level;
	const char *backing;
	const char *mountpoint;
	int foreground;
	int adopt;
	int strict;
	int nonempty;                   /* mount over a non-empty dir or another mount */
	int no_guard;                   /* leave the bare mount point writable */
	int allow_weak_key;
	int write_through;
	int cached_backing;
	int debug;
	int allow_other;
	int noatime;                    /* -o noatime: reads never change atime */
	int nodiratime;                 /* -o nodiratime: directory reads never do */
	int remount;                    /* -o remount: remount.h */
	char remount_opts[1024];        /* every -o as given, for a remount */
	unsigned max_read;              /* libfuse's max_read=, which init() repeats */
	char fuse_opts[1024];           /* passed to libfuse */
	char pid_path[PATH_MAX];        /* pid_file made absolute: the daemon chdirs to / */
};

static void usage_mount(FILE *f)
{
	fprintf(f,
		"usage: jetcryptfs mount [OPTIONS] BACKING_DIR MOUNTPOINT\n"
		"       jetcryptfs mount -c FILE        (directories from the config)\n"
		"       jetcryptfs BACKING_DIR MOUNTPOINT -o OPTIONS   (mount.fuse3 form)\n"
		"\n"
		"Mounts BACKING_DIR, whose files are stored encrypted, decrypted at MOUNTPOINT.\n"
		"\n"
		"  -c, --config FILE     NATS-syntax config with a jetstream { } block\n"
		"      --cipher NAME     cipher for new files: chachapoly (default, alias chacha) or aes\n"
		"      --key-env NAME    read the key from $NAME (default: config key/tpm, then $JS_KEY)\n"
		"      --key-file FILE   read the key from FILE, e.g. a systemd credential\n"
		"      --adopt           serve plaintext files: a first mount over existing ones, or\n"
		"                        a store being adopted (without it such a store is refused)\n"
		"      --strict          never serve plaintext files, even with adopt: true in the\n"
		"                        config (the default unless --adopt is given)\n"
		"      --nonempty        mount over a non-empty directory or over another mount\n"
		"      --no-guard        do not make the bare mount point immutable (chattr +i); by\n"
		"                        default nothing can be created in it while not mounted\n"
		"      --allow-weak-key  use a key that looks guessable (refused otherwise, exit 20)\n"
		"      --write-through   no kernel writeback cache (every write reaches the daemon)\n"
		"      --cached-backing  all ciphertext I/O through the backing filesystem's page\n"
		"                        cache (default: large reads and writes bypass it)\n"
		"      --readahead KIB   kernel readahead window for the mount (default 4096; 0 leaves\n"
		"                        the kernel's 128; needs root)\n"
		"      --low-space MIB   below MIB available on the backing filesystem, files opened\n"
		"                        for writing (with no other handle open) bypass the writeback\n"
		"                        cache, so that a full disk fails the write itself (default\n"
		"                        64; 0 never)\n"
		"      --flush-interval MS  write the kernel's writeback cache back every MS ms\n"
		"                        (default 1000; 0 leaves it to the kernel, ~30 s): what a\n"
		"                        killed daemon may lose of writes not fsync'd\n"
		"      --log-file FILE   also append log lines to FILE (SIGHUP reopens it)\n"
		"      --log-level LEVEL error, warning, info (default) or debug\n"
		"      --pid-file FILE   write the daemon's pid to FILE\n"
		"  -f, --foreground      do not daemonize; log to stderr\n"
		"  -d, --debug           debug logging (implies -f)\n"
		"  -o OPT[,OPT...]       mount options: allow_other (implies default_permissions), ro,\n"
		"                        relatime (the default), noatime, nodiratime, ...\n"
		"                        and config=FILE, cipher=NAME, key_env=NAME, key_file=FILE, adopt,\n"
		"                        strict, nonempty, no_guard, allow_weak_key, write_through,\n"
		"                        cached_backing, readahead=KIB, low_space=MIB, flush_interval=MS,\n"
		"                        log_file=FILE, log_level=LEVEL, pid_file=FILE;\n"
		"                        fstab-only words (defaults, noauto, nofail, _netdev, user,\n"
		"                        x-*, ...) are ignored\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 mounted; 1 failure; 2 usage or config error; 3 no key given;\n"
		"4 key does not match this store; 5 backing directory holds plaintext files and\n"
		"needs --adopt; 6 damaged store descriptor; 7 store in use (already mounted,\n"
		"or encrypt/rekey running); 8 the store allows plaintext files and --adopt was\n"
		"not given; 9 mount point not empty, already a mount, or a dead mount in the way;\n"
		"10-19 TPM errors; 20 the key looks guessable (see --allow-weak-key).\n"
		"\n"
		"Signals: SIGTERM and SIGINT unmount when nothing holds the mount busy (else the\n"
		"daemon says who does and keeps serving); SIGHUP reopens the log file.\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: jetcryptfs COMMAND [ARGS]\n"
		"\n"
		"  mount [OPTIONS] BACKING_DIR MOUNTPOINT   mount an encrypted store\n"
		"  genkey                                   print a fresh 256-bit key\n"
		"  inspect [--json] FILE|DIR...             show file headers (no key needed)\n"
		"  cat [KEY OPTIONS] BACKING_FILE           decrypt one backing file to stdout\n"
		"  fsck [KEY OPTIONS] [--json] BACKING_DIR  verify every block of every file\n"
		"  encrypt [KEY OPTIONS] BACKING_DIR        encrypt the plaintext files of an adopted store\n"
		"  rekey [KEY OPTIONS] BACKING_DIR          re-encrypt files under prev_key or the other cipher\n"
		"  --version, --help\n"
		"\n"
		"KEY OPTIONS, as for mount: -c FILE (config with a jetstream { } block),\n"
		"--key-env NAME or --key-file FILE; else $JS_KEY. Run 'jetcryptfs COMMAND --help'\n"
		"for a command's options and exit statuses.\n");
}

/* Appends opt to the libfuse option string. */
static int fuse_opt_push(struct mount_opts *mo, const char *opt)
{
	size_t len = strlen(mo->fuse_opts);

	if (len + strlen(opt) + 2 > sizeof(mo->fuse_opts))
		return -E2BIG;
	if (len)
		mo->fuse_opts[len++] = ',';
	strcpy(mo->fuse_opts + len, opt);
	return 0;
}

/* 1 after saying so if o gives a secret on the command line, where ps
 * and /proc/PID/cmdline show it to every user: its value is not repeated
 * (libfuse would echo it as an unknown option). */
static int secret_option(const char *o)
{
	static const char *const secrets[] = { "key=", "prev_key=", "password=", "encryption_password=",
					       "srk_password=", NULL };

	for (int i = 0; secrets[i]; i++) {
		if (!strncmp(o, secrets[i], strlen(secrets[i]))) {
			log_usage("mount", "-o %.*s... is not an option, and a secret on the command line is seen by "
				  "every user: use key_file=FILE, key_env=NAME or the config", (int)strlen(secrets[i]) - 1,
				  o);
			return 1;
		}
	}
	return 0;
}

/* The access-time options (jetcryptfs.1, "Access times"): relatime is
 * what the daemon keeps unless noatime; strictatime cannot be kept by a
 * FUSE daemon, which never sees the reads the kernel answers from its page
 * cache, and is refused. noatime and atime also go to libfuse, the only
 * ones it takes, so that the kernel's mount shows them. 1 if o was one,
 * 0 if not, -EINVAL refused. */
static int atime_option(struct mount_opts *mo, const char *o)
{
	if (!strcmp(o, "strictatime")) {
		log_usage("mount", "-o strictatime cannot be honoured: reads the kernel answers from its page cache "
			  "never reach jetcryptfs, so it cannot update the access time at each read; use relatime "
			  "(the default) or noatime");
		return -EINVAL;
	}
	if (!strcmp(o, "noatime") || !strcmp(o, "atime")) {
		mo->noatime = o[0] == 'n';
		return fuse_opt_push(mo, o) < 0 ? -E2BIG : 1;
	}
	if (!strcmp(o, "nodiratime") || !strcmp(o, "diratime")) {
		mo->nodiratime = o[0] == 'n';
		return 1;
	}
	/* The kernel's default: relatime unless strictatime or noatime. */
	return !strcmp(o, "relatime") || !strcmp(o, "norelatime") || !strcmp(o, "nostrictatime");
}

/* Splits one -o argument: our options are taken, the rest go to libfuse.
 * Dropped: fstab-only words that mount(8) or mount.fuse3 may leave in, and
 * the VFS flags mount(8) passes on but libfuse rejects as unknown and that
 * mean nothing here -- lazytime (the backing filesystem writes the
 * timestamps, under its own options), iversion, mand, silent. Everything
 * else, e.g. ro, nosuid, nodev, noexec, sync, allow_other, auto_unmount,
 * reaches libfuse, which refuses what it does not know (exit status 2). */
static int parse_o(struct mount_opts *mo, char *arg)
{
	static const char *const dropped[] = {
		"defaults", "auto", "noauto", "nofail", "_netdev", "user", "nouser", "users",
		"owner", "group", "rw",
		"lazytime", "nolazytime", "iversion", "noiversion", "mand", "nomand", "silent", "loud",
		NULL
	};
	char *save = NULL;

	for (char *o = strtok_r(arg, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		int skip = 0, rc;

		if ((rc = atime_option(mo, o)) < 0)
			return rc;
		if (rc)
			continue;
		if (!strcmp(o, "remount"))
			mo->remount = 1;
		else if (!strncmp(o, "config=", 7))
			mo->config = o + 7;
		else if (!strncmp(o, "cipher=", 7))
			mo->cipher = o + 7;
		else if (!strncmp(o, "key_env=", 8))
			mo->key_env = o + 8;
		else if (!strncmp(o, "key_file=", 9))
			mo->key_file = o + 9;
		else if (!strncmp(o, "log_file=", 9))
			mo->log_file = o + 9;
		else if (!strncmp(o, "pid_file=", 9))
			mo->pid_file = o + 9;
		else if (!strncmp(o, "log_level=", 10))
			mo->log_level = o + 10;
		else if (!strcmp(o, "nonempty"))
			mo->nonempty = 1;
		else if (!strcmp(o, "no_guard"))
			mo->no_guard = 1;
		else if (secret_option(o))
			return -EINVAL;
		else if (!strcmp(o, "adopt"))
			mo->adopt = 1;
		else if (!strcmp(o, "strict"))
			mo->strict = 1;
		else if (!strcmp(o, "allow_weak_key"))
			mo->allow_weak_key = 1;
		else if (!strcmp(o, "write_through"))
			mo->write_through = 1;
		else if (!strcmp(o, "cached_backing"))
			mo->cached_backing = 1;
		else if (!strncmp(o, "readahead=", 10))
			mo->readahead = o + 10;
		else if (!strncmp(o, "low_space=", 10))
			mo->low_space = o + 10;
		else if (!strncmp(o, "flush_interval=", 15))
			mo->flush_interval = o + 15;
		else if (((o[0] == 'x' || o[0] == 'X') && o[1] == '-') || !strncmp(o, "comment=", 8))
			continue;
		else {
			for (int i = 0; dropped[i]; i++)
				if (!strcmp(o, dropped[i]))
					skip = 1;
			if (skip)
				continue;
			if (!strcmp(o, "allow_other"))
				mo->allow_other = 1;
			/* Checked by libfuse, which reads it the same way. */
			if (!strncmp(o, "max_read=", 9))
				mo->max_read = (unsigned)strtoul(o + 9, NULL, 10);
			if (fuse_opt_push(mo, o) < 0)
				return -E2BIG;
		}
	}
	return 0;
}

/* A whole number from 0 to max, in unit, for option what; -1 with a
 * one-line error otherwise. */
static int parse_size(const char *what, const char *arg, const char *unit, unsigned max,
		      unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] < '0' || arg[0] > '9' || v > max) {
		log_usage("mount", "%s '%s': not a whole number of %s from 0 to %u", what, arg, unit, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* libfuse's own messages go to our log (so to syslog or --log-file once
 * daemonized, not to a closed stderr). While the session is set up they
 * are kept instead, so that a refused option or mount makes one error
 * line with libfuse's reason in it. */
static int fuse_msg_keep;
static char fuse_msg[256];

static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	/* Kept: what could be the reason for a failure. Debug output (-d)
	 * goes on to the log as always. libfuse builds one line in pieces. */
	if (fuse_msg_keep && level <= FUSE_LOG_WARNING) {
		n = strlen(fuse_msg);
		vsnprintf(fuse_msg + n, sizeof(fuse_msg) - n, fmt, ap);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	n = strncmp(msg, "fuse: ", 6) ? 0 : 6;
	log_msg(level <= FUSE_LOG_ERR ? LOG_LVL_ERR : level <= FUSE_LOG_WARNING ? LOG_LVL_WARN :
		level <= FUSE_LOG_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG, "libfuse: %s", msg + n);
}

/* Starts or stops keeping libfuse's messages; stopping returns the kept
 * text as one line, or what when there is none. */
static void fuse_msg_start(void)
{
	fuse_set_log_func(fuse_log_to_ours);
	fuse_msg[0] = '\0';
	fuse_msg_keep = 1;
}

static const char *fuse_msg_stop(const char *what)
{
	size_t n = strlen(fuse_msg);
	const char *msg;

	fuse_msg_keep = 0;
	for (size_t i = 0; i < n; i++)
		if (fuse_msg[i] == '\n')
			fuse_msg[i] = i + 1 == n ? '\0' : ' ';
	if (!fuse_msg[0])
		return what;
	msg = strncmp(fuse_msg, "fuse: ", 6) ? fuse_msg : fuse_msg + 6;
	return strncmp(msg, "error: ", 7) ? msg : msg + 7;     /* ours says it */
}

static int parse_mount_args(int argc, char **argv, struct mount_opts *mo)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "cipher", required_argument, NULL, 'C' },
		{ "key-env", required_argument, NULL, 'K' },
		{ "key-file", required_argument, NULL, 'F' },
		{ "adopt", no_argument, NULL, 'A' },
		{ "strict", no_argument, NULL, 'T' },
		{ "allow-weak-key", no_argument, NULL, 'w' },
		{ "write-through", no_argument, NULL, 'W' },
		{ "cached-backing", no_argument, NULL, 'B' },
		{ "readahead", required_argument, NULL, 'R' },
		{ "low-space", required_argument, NULL, 'S' },
		{ "flush-interval", required_argument, NULL, 'I' },
		{ "log-file", required_argument, NULL, 'L' },
		{ "log-level", required_argument, NULL, 'V' },
		{ "nonempty", no_argument, NULL, 'N' },
		{ "no-guard", no_argument, NULL, 'G' },
		{ "pid-file", required_argument, NULL, 'P' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct stat st;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:o:fdh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': mo->config = optarg; break;
		case 'C': mo->cipher = optarg; break;
		case 'K': mo->key_env = optarg; break;
		case 'F': mo->key_file = optarg; break;
		case 'A': mo->adopt = 1; break;
		case 'T': mo->strict = 1; break;
		case 'w': mo->allow_weak_key = 1; break;
		case 'W': mo->write_through = 1; break;
		case 'B': mo->cached_backing = 1; break;
		case 'R': mo->readahead = optarg; break;
		case 'S': mo->low_space = optarg; break;
		case 'I': mo->flush_interval = optarg; break;
		case 'L': mo->log_file = optarg; break;
		case 'V': mo->log_level = optarg; break;
		case 'N': mo->nonempty = 1; break;
		case 'G': mo->no_guard = 1; break;
		case 'P': mo->pid_file = optarg; break;
		case 'f': mo->foreground = 1; break;
		case 'd': mo->debug = mo->foreground = 1; break;
		case 'o':
			/* Kept whole for a remount: parse_o cuts it up. */
			if (strlen(mo->remount_opts) + strlen(optarg) + 2 > sizeof(mo->remount_opts)) {
				rc = -E2BIG;
			} else {
				strcat(strcat(mo->remount_opts, ","), optarg);
				rc = parse_o(mo, optarg);
			}
			if (rc == -E2BIG)
				log_usage("mount", "too many -o options");
			if (rc < 0)
				return -1;
			break;
		case 'h': usage_mount(stdout); exit(log_stdout_status(EXIT_OK));
		default: log_usage_getopt("mount", c, argv); return -1;
		}
	}
	if (mo->remount) {
		/* The rest are the mount's own options, not checked here. */
		if (argc - optind != 2) {
			log_usage("mount", "-o remount takes BACKING_DIR and MOUNTPOINT");
			return -1;
		}
		mo->backing = argv[optind];
		mo->mountpoint = argv[optind + 1];
		return 0;
	}
	mo->readahead_kb = BDI_DEFAULT_READAHEAD_KB;
	if (mo->readahead && parse_size("readahead", mo->readahead, "KiB", BDI_MAX_READAHEAD_KB,
					&mo->readahead_kb) < 0)
		return -1;
	mo->flush_ms = DEFAULT_FLUSH_MS;
	if (mo->flush_interval && parse_size("flush-interval", mo->flush_interval, "milliseconds", MAX_FLUSH_MS,
					     &mo->flush_ms) < 0)
		return -1;
	mo->low_space_mib = DEFAULT_LOW_SPACE_MIB;
	if (mo->low_space && parse_size("low-space", mo->low_space, "MiB", MAX_LOW_SPACE_MIB,
					&mo->low_space_mib) < 0)
		return -1;
	if (mo->log_level && log_level_from_name(mo->log_level) < 0) {
		log_usage("mount", "log level '%s': use error, warning, info or debug", mo->log_level);
		return -1;
	}
	if (mo->key_env && mo->key_file) {
		log_usage("mount", "--key-env and --key-file cannot be used together");
		return -1;
	}
	if (mo->pid_file && lstat(mo->pid_file, &st) == 0 && !S_ISREG(st.st_mode)) {
		log_usage("mount", "--pid-file %s: not a regular file%s", mo->pid_file,
			  S_ISLNK(st.st_mode) ? " (a symlink, which a daemon run as root must not write through)" : "");
		return -1;
	}
	if (mo->pid_file && mo->pid_file[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    (size_t)snprintf(mo->pid_path, sizeof(mo->pid_path), "%s/%s", cwd, mo->pid_file) >=
			    sizeof(mo->pid_path)) {
			log_usage("mount", "--pid-file %s: cannot make the path absolute", mo->pid_file);
			return -1;
		}
		mo->pid_file = mo->pid_path;
	}
	if (mo->fuse_opts[0]) {
		/* libfuse refuses what it does not know only once the daemon
		 * sets up its session, after the store has been opened: ask it
		 * now, before anything is touched. */
		char *fargv[] = { "jetcryptfs", "-o", mo->fuse_opts, NULL };
		struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
		struct fuse_lowlevel_ops none = { 0 };
		struct fuse_session *se;

		fuse_msg_start();
		se = fuse_session_new(&args, &none, sizeof(none), NULL);
		fuse_opt_free_args(&args);
		if (!se) {
			log_usage("mount", "invalid mount options: %s", fuse_msg_stop("refused by libfuse"));
			return -1;
		}
		(void)fuse_msg_stop(NULL);
		fuse_session_destroy(se);
	}
	if (argc - optind == 2) {
		mo->backing = argv[optind];
		mo->mountpoint = argv[optind + 1];
	} else if (argc - optind != 0 || !mo->config) {
		if (argc - optind > 2)
			log_usage("mount", "takes BACKING_DIR and MOUNTPOINT, not %d arguments", argc - optind);
		else
			log_usage("mount", "needs BACKING_DIR and MOUNTPOINT (or -c with backing_dir and store_dir)");
		return -1;
	}
	return 0;
}

/* ---- the daemon side ---- */

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

static int status_fd = -1;

/* Tells the waiting parent how the mount went; only the first call counts. */
static void report_status(int status)
{
	unsigned char b = (unsigned char)status;

	if (status_fd >= 0) {
		(void)!write(status_fd, &b, 1);
		close(status_fd);
		status_fd = -1;
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

static void harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	/* No core dumps, no ptrace by other users: keys are in memory. */
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0);
	/* One O_PATH descriptor per inode the kernel knows, and it may know
	 * hundreds of thousands (a tar extract, a git checkout): as many as
	 * the system lets a process have where we may raise the hard limit
	 * (root), else up to the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		struct rlimit most = { 0, 0 };
		FILE *f = fopen("/proc/sys/fs/nr_open", "re");
		unsigned long n;

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
	/* Backing files get exactly the modes the application asked for
	 * (the kernel has applied its umask already). */
	umask(0);
}

/* The environment strings as the process received them. keyring_load
 * unsets the key variables, but /proc/PID/environ shows this original
 * block, whatever environ points at later: the strings themselves must be
 * wiped. Taken before any key is read; NULL if out of memory. */
static char **env_snapshot(void)
{
	size_t n = 0;
	char **snap;

	while (environ[n])
		n++;
	snap = calloc(n + 1, sizeof(*snap));
	if (snap)
		memcpy(snap, environ, n * sizeof(*snap));
	return snap;
}

static int env_value_is(const char *value, const char *secret)
{
	size_t len = strlen(value);

	return secret && *secret && len == strlen(secret) && sodium_memcmp(value, secret, len) == 0;
}

static int env_name_in(const char *name, char *const *names)
{
	for (size_t i = 0; names && names[i]; i++)
		if (!strcmp(name, names[i]))
			return 1;
	return 0;
}

/* Wipes every variable a secret came from -- $JS_KEY, --key-env NAME,
 * every variable the config took a value from (cfg->env_names: `key:
 * $VAR`, TPM passwords, and the rest, which may hold a secret just as
 * well), and any variable whose value is a secret of the config -- name
 * and value, from the original block, and removes it from environ. Frees
 * snap. */
static void env_scrub(char **snap, const char *key_env, const struct config *cfg)
{
	const char *secrets[] = { cfg->key, cfg->prev_key, cfg->tpm.encryption_password,
				  cfg->tpm.srk_password };
	char name[256];

	for (size_t i = 0; snap && snap[i]; i++) {
		char *eq = strchr(snap[i], '=');
		size_t nlen = eq ? (size_t)(eq - snap[i]) : 0;
		int hit = 0;

		if (!eq || nlen >= sizeof(name))
			continue;
		memcpy(name, snap[i], nlen);
		name[nlen] = '\0';
		hit = !strcmp(name, KEYRING_DEFAULT_ENV) || (key_env && !strcmp(name, key_env)) ||
		      env_name_in(name, cfg->env_names);
		for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]) && !hit; k++)
			hit = env_value_is(eq + 1, secrets[k]);
		if (!hit)
			continue;
		unsetenv(name);
		sodium_memzero(snap[i], nlen + 1 + strlen(eq + 1));
	}
	free(snap);
}

/* A config file that holds a secret itself (not as $VAR) should be
 * readable by its owner only. */
static void check_config_mode(const char *path, const struct config *cfg, char **snap)
{
	const char *secrets[] = { cfg->key, cfg->prev_key, cfg->tpm.encryption_password,
				  cfg->tpm.srk_password };
	struct stat stt;
	int in_file = 0;

	for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
		int from_env = 0;

		if (!secrets[k])
			continue;
		for (size_t i = 0; snap && snap[i] && !from_env; i++) {
			char *eq = strchr(snap[i], '=');

			from_env = eq && env_value_is(eq + 1, secrets[k]);
		}
		in_file |= !from_env;
	}
	if (in_file && stat(path, &stt) == 0 && (stt.st_mode & (S_IRWXG | S_IRWXO)))
		log_warn("%s: holds key material and is readable by group or others (chmod 600 it)", path);
}

/* Writes our pid to path; -EINVAL if it is not a regular file, else
 * -errno. A file it opened and could not fill is removed: a stale or
 * empty pid file would name no daemon or the wrong one. */
static int write_pid_file(const char *path)
{
	struct stat st;
	char buf[32];
	int fd, n, rc = 0;

	/* O_NONBLOCK: a FIFO put there must not hang us. */
	/* O_NOFOLLOW: a symlink planted there must not aim a root daemon's
	 * write (and the unlink at exit) at another file. */
	fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (rc == 0 && ftruncate(fd, 0) < 0)
		rc = -errno;
	errno = 0;
	if (rc == 0 && write(fd, buf, (size_t)n) != n)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlink(path);
	return rc;
}

/* Removes the pid file if it still names us: once the store lock is
 * released a new daemon of this store may have written its own. */
static void remove_pid_file(const char *path)
{
	char buf[32], want[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	if (n > 0 && (buf[n] = '\0', strcmp(buf, want) == 0))
		unlink(path);
}

/* The exit status for a refusal of mountpoint_prepare. */
static int mountpoint_exit_status(int rc)
{
	switch (rc) {
	case -EBUSY: return EXIT_BUSY;
	case -EINVAL: return EXIT_USAGE;
	case -ENOTEMPTY: case -EEXIST: case -ENOTCONN: return EXIT_MOUNTPOINT;
	default: return EXIT_FAIL;
	}
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

static int run_daemon(struct mount_opts *mo)
{
	struct config cfg = CONFIG_EMPTY;
	struct keyring *kr = NULL;
	struct store st = { .dir_fd = -1 };
	struct fuse_lowlevel_ops ops;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *lc = NULL;
	char err[1024], backing[PATH_MAX], mnt[PATH_MAX], fsname[2 * PATH_MAX + 16];
	const char *msg;
	int cipher, status = EXIT_FAIL, rc, pid_written = 0, ready = 0, guard_set = 0;
	unsigned store_flags;
	char **env = env_snapshot();

	harden_process();
	if (mo->log_file && (rc = log_open_file(mo->log_file)) < 0) {
		status = fail(EXIT_USAGE, "%s: cannot open log file: %s", mo->log_file,
			      rc == -ENXIO ? "a FIFO that no process reads" :
			      rc == -ELOOP ? "a symlink (refused: a daemon run as root must not write through one)" :
			      strerror(-rc));
		goto out;
	}
	if (mo->config) {
		rc = config_load(mo->config, &cfg, err, sizeof(err));
		if (rc < 0) {
			status = fail(EXIT_USAGE, "%s", err);
			goto out;
		}
		if (cfg.warning[0])
			log_warn("%s", cfg.warning);
	}
	if (!mo->backing) {
		if (!cfg.backing_dir || !cfg.store_dir) {
			status = fail(EXIT_USAGE, "%s: jetstream needs backing_dir and store_dir when no directories are given",
				      mo->config);
			goto out;
		}
		mo->backing = cfg.backing_dir;
		mo->mountpoint = cfg.store_dir;
	}
	if (!realpath(mo->backing, backing)) {
		status = fail(EXIT_FAIL, "%s: backing directory: %s", mo->backing, strerror(errno));
		goto out;
	}
	rc = mountpoint_prepare(mo->mountpoint, backing, mo->nonempty ? MOUNTPOINT_NONEMPTY : 0, mnt, err,
				sizeof(err));
	if (rc < 0) {
		status = fail(mountpoint_exit_status(rc), "%s", err);
		goto out;
	}
	cipher = keys_new_file_cipher(mo->cipher, &cfg);
	if (cipher < 0) {
		status = fail(EXIT_USAGE, "unknown cipher '%s' (use chachapoly or aes)", mo->cipher);
		goto out;
	}
	/* Plaintext files are served only with adopt; strict is the default
	 * and says so explicitly. Asked for both on the command line, or
	 * strict by the config and adopt on the command line, is a
	 * contradiction; the config says both only with an error of its own.
	 * A config's adopt under a command line's strict is a leftover of an
	 * adoption: strict wins. */
	if (mo->adopt && (mo->strict || cfg.strict == 1)) {
		status = fail(EXIT_USAGE, "adopt (command line) and strict (%s) cannot be used together",
			      mo->strict ? "command line" : mo->config);
		goto out;
	}
	if (cfg.strict == 1)
		mo->strict = 1;
	if (cfg.adopt == 1 && mo->strict)
		log_warn("%s: adopt: true ignored, since strict was asked (take it out once the store is encrypted)",
			 mo->config);
	else if (cfg.adopt == 1)
		mo->adopt = 1;
	store_flags = (mo->adopt ? STORE_ADOPT : 0) | (mo->strict ? STORE_STRICT : 0);

	{
		struct key_opts ko = { .key_env = mo->key_env, .key_file = mo->key_file, .cfg = &cfg,
				       .backing = backing, .may_create = 1, .store_flags = store_flags,
				       .allow_weak = mo->allow_weak_key || cfg.allow_weak_key == 1 };

		if (mo->config)
			check_config_mode(mo->config, &cfg, env);
		rc = keys_load(&ko, &kr, err, sizeof(err));
		env_scrub(env, mo->key_env, &cfg);
		env = NULL;
		if (rc < 0) {
			status = fail(keys_exit_status(rc), "%s", err);
			goto out;
		}
	}

	rc = store_open(backing, kr, store_flags, &st, err, sizeof(err));
	if (rc < 0) {
		status = fail(store_exit_status(rc), "%s", err);
		goto out;
	}
	/* Before the mount, and fatal: a service manager that finds no pid
	 * file takes the start for failed and would leave this daemon and
	 * its mount behind. Our pid is final: the fork, if any, is behind us. */
	if (mo->pid_file) {
		rc = write_pid_file(mo->pid_file);
		if (rc < 0) {
			status = fail(EXIT_FAIL, "%s: cannot write pid file: %s", mo->pid_file,
				      rc == -EINVAL ? "not a regular file" : strerror(-rc));
			goto out;
		}
		pid_written = 1;
	}
	struct content_ctx cctx = { .kr = kr, .cipher = cipher, .plaintext_allowed = st.plaintext_allowed,
				    .cached_backing = mo->cached_backing };
	rc = content_setup(&cctx);
	if (rc < 0) {
		status = fail(EXIT_FAIL, "crypto library initialisation failed");
		goto out;
	}
	xattr_setup(&cctx);

	struct ops_config ocfg = { .root_fd = st.dir_fd, .writeback = !mo->write_through, .timeout = 5.0,
				   .low_space = (uint64_t)mo->low_space_mib << 20, .max_read = mo->max_read,
				   .noatime = mo->noatime, .nodiratime = mo->nodiratime, .mountpoint = mnt };
	rc = ops_init(&ocfg, &ops);
	if (rc < 0) {
		status = fail(EXIT_FAIL, "cannot set up: %s", strerror(-rc));
		goto out;
	}

	fsname_opt(backing, fsname, sizeof(fsname));
	/* nodev always, after the caller's options so that no "dev" undoes
	 * it: run as root, a FUSE mount honours device nodes otherwise. */
	if (fuse_opt_push(mo, fsname) < 0 || fuse_opt_push(mo, "subtype=jetcryptfs") < 0 ||
	    fuse_opt_push(mo, "nodev") < 0 ||
	    (mo->allow_other && fuse_opt_push(mo, "default_permissions") < 0)) {
		status = fail(EXIT_USAGE, "too many mount options");
		goto out;
	}
	char *fargv[] = { "jetcryptfs", "-o", mo->fuse_opts, mo->debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(mo->debug ? 4 : 3, fargv);
	fuse_msg_start();
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);      /* the parser may have copied them */
	if (!se) {
		status = fail(EXIT_USAGE, "invalid mount options: %s", fuse_msg_stop("refused by libfuse"));
		goto out;
	}
	ops_set_session(se);
	if (!mo->no_guard)
		guard_mountpoint(mnt, &guard_set);
	if (fuse_session_mount(se, mnt) != 0) {
		msg = fuse_msg_stop("refused by libfuse");
		if (!strncmp(msg, "mount failed: ", 14))
			msg += 14;      /* libfuse's words, and ours */
		status = fail(EXIT_FAIL, "%s: mount failed: %s", mnt, msg);
		goto out;
	}
	(void)fuse_msg_stop(NULL);
	if (mo->readahead_kb) {
		tune_readahead_kb = mo->readahead_kb;
		tune_asked = mo->readahead != NULL;
		if ((rc = bdi_find(mnt, tune_bdi, sizeof(tune_bdi))) < 0) {
			tune_bdi[0] = '\0';
			if (tune_asked)
				log_warn("%s: cannot find the mount's device to set readahead: %s", mnt,
					 strerror(-rc));
		} else if ((rc = bdi_check_writable(tune_bdi)) < 0) {
			/* Said now, while stderr is still the caller's terminal. */
			if (tune_asked)
				log_warn("%s/read_ahead_kb: cannot set readahead: %s", tune_bdi, strerror(-rc));
			tune_bdi[0] = '\0';
		}
	}
	/* Before INIT is read (session_init): lets the kernel skip a getxattr
	 * round trip on every write (fuseio.h). tune_after_init runs before
	 * the parent is told, so its warning still reaches the terminal. */
	if ((rc = fuseio_install(se, ops_kill_suidgid, tune_after_init)) < 0)
		log_warn("cannot hook the FUSE device (%s): every write will cost a getxattr", strerror(-rc));
	if (signals_start(mnt) < 0) {
		status = fail(EXIT_FAIL, "cannot set up signal handling");
		goto out_unmount;
	}
	fuse_msg_start();
	rc = session_init(se);
	if (rc == -ENODEV) {
		(void)fuse_msg_stop(NULL);
		status = fail(EXIT_FAIL, "%s: unmounted before the kernel's first request (INIT)", mnt);
		goto out_unmount;
	} else if (rc < 0) {
		status = fail(EXIT_FAIL, "%s: the kernel's INIT failed: %s", mnt, fuse_msg_stop(strerror(-rc)));
		goto out_unmount;
	} else if ((msg = fuse_msg_stop(NULL))) {
		log_warn("libfuse: %s", msg);
	}
	{
		char hex[2 * FMT_KEY_ID_SIZE + 1];

		kdf_key_id_hex(kr->keys[0].id, hex);
		log_info("mounted %s on %s (cipher %s for new files, key id %s, %s)", backing, mnt,
			 fmt_cipher_name(cipher), hex, st.plaintext_allowed ? "plaintext files allowed" : "strict");
	}
	if (!mo->foreground)
		plan_log();
	report_status(EXIT_OK);
	ready = 1;
	if (!mo->foreground) {
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

	/* After the fork and the redirections: the helpers share our
	 * descriptor table and memory. */
	rc = safewrite_start(2);
	if (rc < 0)
		log_warn("writes are made by the daemon itself (%s): if it is killed, the block it was writing may be torn",
			 strerror(-rc));
	if (!mo->write_through && mo->flush_ms && (rc = flusher_start(mnt, mo->flush_ms)) < 0)
		log_warn("%s: cannot start flushing the writeback cache: %s", mnt, strerror(-rc));
	lc = fuse_loop_cfg_create();
	if (!lc) {
		status = EXIT_FAIL;
		goto out_unmount;
	}
	/* Workers are kept once started: a new one costs its buffers anew
	 * (libfuse's 1 MiB request buffer, the reply and block scratch), and
	 * a burst of writeback requests started and ended dozens of threads
	 * per second; keeping them saved 12% of the daemon's CPU time on
	 * sequential writes (docs/PERFORMANCE.md). */
	fuse_loop_cfg_set_max_threads(lc, 16);
	fuse_loop_cfg_set_idle_threads(lc, 16);
	rc = fuse_session_loop_mt(se, lc);
	/* A worker that takes a request just as the kernel tears the
	 * connection down after the unmount reads ECONNABORTED instead of
	 * ENODEV: the same end of the session, not a failure. (An abort
	 * through /sys/fs/fuse/connections ends it the same way; every write
	 * the daemon took is on the backing files either way.) */
	if (rc == -ECONNABORTED)
		rc = 0;
	status = rc == 0 ? EXIT_OK : EXIT_FAIL;
	if (rc)
		log_err("%s: the FUSE session ended with an error: %s", mnt, strerror(rc < 0 ? -rc : rc));
	log_info("unmounted %s", mnt);
	fuse_loop_cfg_destroy(lc);
	flusher_stop();
out_unmount:
	flusher_stop();         /* lets go of its clone of the mount */
	fuse_session_unmount(se);
out:
	env_scrub(env, mo->key_env, &cfg);     /* an early failure left it */
	safewrite_stop();
	if (se)
		fuse_session_destroy(se);
	ops_destroy();
	content_teardown();
	if (pid_written)
		remove_pid_file(mo->pid_file);  /* while we still hold the store */
	/* A store this mount made of an empty directory, and never served:
	 * the directory is left as it was found, bound to no key. */
	if (!ready && (rc = store_undo_create(&st)) < 0)
		log_warn("%s/%s: cannot remove the store descriptor this failed mount wrote: %s", backing,
			 DESC_NAME, strerror(-rc));
	if (!ready && guard_set && (rc = mountpoint_unguard(mnt)) < 0)
		log_warn("%s: cannot take back the immutable attribute this failed mount set: %s", mnt,
			 strerror(-rc));
	store_close(&st);
	keyring_free(kr);
	config_free(&cfg);
	report_status(status);
	return status;
}

static int cmd_mount(int argc, char **argv)
{
	struct mount_opts mo = { 0 };
	unsigned char b;
	int pipefd[2];
	pid_t pid;

	if (parse_mount_args(argc, argv, &mo) < 0)
		return EXIT_USAGE;
	if (mo.remount) {
		char err[1024];
		int status = remount_run(mo.backing, mo.mountpoint, mo.remount_opts, err, sizeof(err));

		if (status)
			log_err("%s", err);
		return status;
	}
	if (mo.log_level)
		log_set_level((enum log_level)log_level_from_name(mo.log_level));
	if (mo.debug)
		log_set_level(LOG_LVL_DEBUG);   /* libfuse's request trace too */
	if (mo.foreground)
		return run_daemon(&mo);

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("jetcryptfs: pipe");
		return EXIT_FAIL;
	}
	pid = fork();
	if (pid < 0) {
		perror("jetcryptfs: fork");
		return EXIT_FAIL;
	}
	if (pid == 0) {
		close(pipefd[0]);
		status_fd = pipefd[1];
		setsid();
		_exit(run_daemon(&mo));
	}
	/* Parent: scrub what the daemon scrubs from our own environment too
	 * -- $JS_KEY, --key-env and the variables the config names -- then
	 * wait for the daemon's verdict, which may take long (a TPM, a key
	 * file that is a pipe). The config is read for the names alone, and
	 * quietly: the daemon reports what is wrong with it. A pipe, as the
	 * config (-c <(...)) or an include, is the daemon's to read: the
	 * variables only it names stay here until the mount is ready. */
	close(pipefd[1]);
	{
		struct config names = CONFIG_EMPTY;

		if (mo.config)
			(void)config_env_names(mo.config, &names.env_names);
		env_scrub(env_snapshot(), mo.key_env, &names);
		config_free(&names);
	}
	if (read(pipefd[0], &b, 1) == 1)
		return b;
	/* The child died before reporting. */
	{
		int ws;

		if (waitpid(pid, &ws, 0) == pid && WIFEXITED(ws))
			return WEXITSTATUS(ws) ? WEXITSTATUS(ws) : EXIT_FAIL;
	}
	return EXIT_FAIL;
}

static int cmd_genkey(int argc, char **argv)
{
	uint8_t key[32];
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: jetcryptfs genkey\n\nPrints a fresh random 256-bit key (43 characters, base64url)\n"
		       "for JS_KEY or the config's key setting (quote it there).\n");
		return EXIT_OK;
	}
	if (argc > 1) {
		if (argv[1][0] == '-')
			log_usage("genkey", "unknown option %s", argv[1]);
		else
			log_usage("genkey", "takes no arguments");
		return EXIT_USAGE;
	}
	if (sodium_init() < 0)
		return EXIT_FAIL;
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(key, sizeof(key));
	printf("%s\n", b64);
	sodium_memzero(b64, sizeof(b64));
	return EXIT_OK;
}

/* --version: ours on the first line, alone, for scripts; then the
 * libraries as loaded now, which a distribution upgrade changes under an
 * installed binary. tpm2-tss has no call that says its version, so its
 * line is the one CMake found at build time (pkg-config), and says so. */
static int print_version(void)
{
	printf("jetcryptfs %s\n", JCFS_VERSION);
	printf("libfuse %s\n", fuse_pkgversion());
	printf("libsodium %s\n", sodium_version_string());
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("tpm2-tss %s (built against; it has no run-time version call)\n", JCFS_TSS2_VERSION);
	return EXIT_OK;
}

static int run_command(int argc, char **argv)
{
	if (argc < 2) {
		log_usage(NULL, "needs a command: mount, genkey, inspect, cat, fsck, encrypt or rekey");
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "mount"))
		return cmd_mount(argc - 1, argv + 1);
	if (!strcmp(argv[1], "genkey"))
		return cmd_genkey(argc - 1, argv + 1);
	if (!strcmp(argv[1], "inspect"))
		return tools_inspect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cat"))
		return tools_cat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "fsck"))
		return tools_fsck(argc - 1, argv + 1);
	if (!strcmp(argv[1], "encrypt"))
		return tools_encrypt(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rekey"))
		return tools_rekey(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return print_version();
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argv[1][0] != '-' && argc >= 3) {
		struct stat st;

		/* mount.fuse3 form: jetcryptfs BACKING MOUNTPOINT -o OPTIONS */
		if (stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode))
			return cmd_mount(argc, argv);
	}
	log_usage(NULL, "unknown command '%s'", argv[1]);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	log_init("jetcryptfs");
	return log_stdout_status(run_command(argc, argv));
}
