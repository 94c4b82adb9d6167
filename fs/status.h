/*
 * The process exit statuses of every jetcryptfs command, in one place so
 * that mount and the tools agree and --help, README and the man page can
 * list them from here; and the one mapping from what a function returns
 * (0, -errno or a project error code, crypto/jcfs_err.h) to the status of
 * the command it fails.
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
	/* 10..19: TPM errors, one each (docs/TPM.md) */
	EXIT_TPM_PASSWORD = 10,         /* wrong encryption_password */
	EXIT_TPM_PCR = 11,              /* the PCR changed since the key was sealed */
	EXIT_TPM_LOCKOUT = 12,          /* dictionary-attack lockout */
	EXIT_TPM_UNREACHABLE = 13,      /* no TPM at the TCTI */
	EXIT_TPM_CLEARED = 14,          /* cleared, or not the TPM that sealed the key */
	EXIT_TPM_CORRUPT = 15,          /* keys file corrupt, truncated or of another version */
	EXIT_TPM_KEYCHECK = 16,         /* the unsealed key fails the key-check value */
	EXIT_TPM_MISSING = 17,          /* keys file missing */
	EXIT_TPM_FILE = 18,             /* keys file unreadable, unwritable, or for another PCR */
	EXIT_TPM_OTHER = 19,            /* any other TPM error */
	EXIT_WEAK_KEY = 20,     /* the key looks guessable and --allow-weak-key was not given */
};

/* The exit status for rc: EXIT_OK for 0, the status of a project error
 * code (crypto/jcfs_err.h), EXIT_FAIL for a -errno or anything else. */
int status_of_error(int rc);

#endif
