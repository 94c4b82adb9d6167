/*
 * The process exit statuses of every jetcryptfs command, in one place so
 * that mount and the tools agree and --help, README and the man page can
 * list them from here.
 */
#ifndef JCFS_STATUS_H
#define JCFS_STATUS_H

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,          /* failure; fsck/cat: problems found */
	EXIT_USAGE = 2,         /* bad command line or config file */
	EXIT_NO_KEY = 3,        /* no key given */
	EXIT_WRONG_KEY = 4,     /* key does not match the store or file */
	EXIT_NEED_ADOPT = 5,    /* plaintext files and no --adopt */
	EXIT_BAD_STORE = 6,     /* damaged or forged store descriptor */
	EXIT_BUSY = 7,          /* the store is mounted (or another tool runs on it) */
	EXIT_NOT_STRICT = 8,    /* the store allows plaintext files and --adopt was not given */
	EXIT_MOUNTPOINT = 9,    /* mount point not empty, carries a mount, or a dead mount in the way */
	/* 10..19: TPM errors, see keysrc/tpm.h */
	EXIT_WEAK_KEY = 20,     /* the key looks guessable and --allow-weak-key was not given */
};

#endif
