/*
 * Parsing the mount command. Its options have a long form (--key-file)
 * and a -o form (key_file=), both from one table; -o words that are not
 * ours go to libfuse, which is asked about them here, before the daemon
 * touches anything.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "bdi.h"
#include "fusemsg.h"
#include "log.h"
#include "mount_opts.h"
#include "status.h"

void mount_opts_usage(FILE *f)
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
		return daemon_push_fuse_opt(mo, o) < 0 ? -E2BIG : 1;
	}
	if (!strcmp(o, "nodiratime") || !strcmp(o, "diratime")) {
		mo->nodiratime = o[0] == 'n';
		return 1;
	}
	/* The kernel's default: relatime unless strictatime or noatime. */
	return !strcmp(o, "relatime") || !strcmp(o, "norelatime") || !strcmp(o, "nostrictatime");
}

/* The options with a long form (--NAME, '_' written '-') and an -o form
 * (NAME or NAME=VALUE), and the field each sets: a string for those that
 * take a value, 1 in an int for the others. */
struct mount_opt {
	const char *name;
	size_t field;
	int value;                      /* takes a value */
	int no_long;                    /* -o only */
};

#define OPT_VALUE(n, f) { n, offsetof(struct mount_opts, f), 1, 0 }
#define OPT_FLAG(n, f) { n, offsetof(struct mount_opts, f), 0, 0 }
static const struct mount_opt mount_opt_table[] = {
	OPT_VALUE("config", config), OPT_VALUE("cipher", cipher), OPT_VALUE("key_env", key_env),
	OPT_VALUE("key_file", key_file), OPT_FLAG("adopt", adopt), OPT_FLAG("strict", strict),
	OPT_FLAG("allow_weak_key", allow_weak_key), OPT_FLAG("write_through", write_through),
	OPT_FLAG("cached_backing", cached_backing), OPT_VALUE("readahead", readahead),
	OPT_VALUE("low_space", low_space), OPT_VALUE("flush_interval", flush_interval),
	OPT_VALUE("log_file", log_file), OPT_VALUE("log_level", log_level), OPT_FLAG("nonempty", nonempty),
	OPT_FLAG("no_guard", no_guard), OPT_VALUE("pid_file", pid_file),
	{ "remount", offsetof(struct mount_opts, remount), 0, 1 },
};
#define MOUNT_OPTS_N (sizeof(mount_opt_table) / sizeof(mount_opt_table[0]))

static void opt_set(struct mount_opts *mo, const struct mount_opt *o, const char *value)
{
	if (o->value)
		*(const char **)((char *)mo + o->field) = value;
	else
		*(int *)((char *)mo + o->field) = 1;
}

/* The table entry for the -o word o, with *value after its '='; NULL if
 * it is none of ours. */
static const struct mount_opt *opt_find(const char *o, const char **value)
{
	for (size_t i = 0; i < MOUNT_OPTS_N; i++) {
		const struct mount_opt *m = &mount_opt_table[i];
		size_t n = strlen(m->name);

		if (strncmp(o, m->name, n))
			continue;
		if (m->value && o[n] == '=') {
			*value = o + n + 1;
			return m;
		}
		if (!m->value && !o[n])
			return m;
	}
	return NULL;
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
		const struct mount_opt *m;
		const char *value = NULL;
		int skip = 0, rc;

		if ((rc = atime_option(mo, o)) < 0)
			return rc;
		if (rc)
			continue;
		if ((m = opt_find(o, &value))) {
			opt_set(mo, m, value);
			continue;
		}
		if (secret_option(o))
			return -EINVAL;
		if (((o[0] == 'x' || o[0] == 'X') && o[1] == '-') || !strncmp(o, "comment=", 8))
			continue;
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
		if (daemon_push_fuse_opt(mo, o) < 0)
			return -E2BIG;
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

int mount_opts_parse(int argc, char **argv, struct mount_opts *mo)
{
	/* The table's entries, and -c, -f, -d, -h; a long name is the -o
	 * name with '-' for '_'. */
	static struct option longopts[MOUNT_OPTS_N + 4];
	static char names[MOUNT_OPTS_N][32];
	struct stat st;
	int c, rc, n = 0;

	for (size_t i = 0; i < MOUNT_OPTS_N; i++) {
		const struct mount_opt *m = &mount_opt_table[i];

		if (m->no_long)
			continue;
		for (size_t k = 0; m->name[k] && k < sizeof(names[i]) - 1; k++)
			names[i][k] = m->name[k] == '_' ? '-' : m->name[k];
		longopts[n++] = (struct option){ names[i], m->value ? required_argument : no_argument, NULL,
						 256 + (int)i };
	}
	longopts[n++] = (struct option){ "foreground", no_argument, NULL, 'f' };
	longopts[n++] = (struct option){ "debug", no_argument, NULL, 'd' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:o:fdh", longopts, NULL)) != -1) {
		if (c >= 256) {
			opt_set(mo, &mount_opt_table[c - 256], optarg);
			continue;
		}
		switch (c) {
		case 'c': mo->config = optarg; break;
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
		case 'h': mount_opts_usage(stdout); exit(log_stdout_status(EXIT_OK));
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
	mo->flush_ms = MOUNT_DEFAULT_FLUSH_MS;
	if (mo->flush_interval && parse_size("flush-interval", mo->flush_interval, "milliseconds", MOUNT_MAX_FLUSH_MS,
					     &mo->flush_ms) < 0)
		return -1;
	mo->low_space_mib = MOUNT_DEFAULT_LOW_SPACE_MIB;
	if (mo->low_space && parse_size("low-space", mo->low_space, "MiB", MOUNT_MAX_LOW_SPACE_MIB,
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

		fusemsg_start();
		se = fuse_session_new(&args, &none, sizeof(none), NULL);
		fuse_opt_free_args(&args);
		if (!se) {
			log_usage("mount", "invalid mount options: %s", fusemsg_stop("refused by libfuse"));
			return -1;
		}
		(void)fusemsg_stop(NULL);
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
