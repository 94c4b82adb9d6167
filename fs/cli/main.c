/*
 * The jetcryptfs command: dispatch to "mount" (also reached as
 * "jetcryptfs BACKING MOUNTPOINT -o OPTIONS", the form mount.fuse3 and
 * fstab use), "genkey" and the offline tools. Mounting forks first: the
 * child is the daemon (daemon.h), which loads keys, checks the store,
 * mounts and then tells the waiting parent the outcome, so the parent's
 * exit status is the mount's (0 only once it is ready) while the keys only
 * ever exist in the daemon.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <openssl/crypto.h>
#include <sodium.h>

#include "config.h"
#include "daemon.h"
#include "flusher.h"
#include "log.h"
#include "mount_opts.h"
#include "remount.h"
#include "secrets.h"
#include "status.h"
#include "tools.h"

#ifndef JCFS_VERSION
#define JCFS_VERSION "dev"
#endif
#ifndef JCFS_TSS2_VERSION
#define JCFS_TSS2_VERSION "unknown"
#endif

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

static int cmd_mount(int argc, char **argv)
{
	struct mount_opts mo = { 0 };
	unsigned char b;
	int pipefd[2];
	pid_t pid;

	if (mount_opts_parse(argc, argv, &mo) < 0)
		return EXIT_USAGE;
	if (mo.remount) {
		char err[1024];
		int rc = remount_run(mo.backing, mo.mountpoint, mo.remount_opts, err, sizeof(err));

		if (rc < 0)
			log_err("%s", err);
		return status_of_error(rc);
	}
	if (mo.log_level)
		log_set_level((enum log_level)log_level_from_name(mo.log_level));
	if (mo.debug)
		log_set_level(LOG_LVL_DEBUG);   /* libfuse's request trace too */
	if (mo.foreground)
		return daemon_run(&mo, -1);

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
		setsid();
		_exit(daemon_run(&mo, pipefd[1]));
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
		secrets_env_scrub(secrets_env_snapshot(), mo.key_env, &names);
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
	if (!strcmp(argv[1], FLUSHER_COMMAND))
		return flusher_main(argc - 1, argv + 1);        /* the daemon's own (flusher.h) */
	if (!strcmp(argv[1], "genkey"))
		return cmd_genkey(argc - 1, argv + 1);
	if (!strcmp(argv[1], "inspect"))
		return cmd_inspect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cat"))
		return cmd_cat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "fsck"))
		return cmd_fsck(argc - 1, argv + 1);
	if (!strcmp(argv[1], "encrypt"))
		return cmd_encrypt(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rekey"))
		return cmd_rekey(argc - 1, argv + 1);
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
