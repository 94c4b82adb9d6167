/*
 * The project's own error codes: what a function returns, beside 0 and
 * -errno, for a refusal the operator must be able to tell apart -- each
 * ends as its own exit status (fs/status.h, status_of_error). They lie
 * below -4096, out of reach of any errno (the kernel's stop at 4095), so
 * that an I/O error is never taken for one of them: ext4, for one,
 * reports a bad metadata checksum as EBADMSG. A pure header in the lowest
 * layer, so that keysrc (the TPM) and fs return the same codes; the file
 * format (crypto/) returns none of them. Only for comparing: the words
 * for the operator are in the err buffer of the function that failed.
 */
#ifndef JCFS_ERR_H
#define JCFS_ERR_H

#define JCFS_E_BASE 4096

enum jcfs_err {
	JCFS_E_USAGE      = -(JCFS_E_BASE + 1),  /* a usage error found past the command line: an
						    empty key option, a mount point in the backing
						    directory, a flag a remount cannot change */
	JCFS_E_NO_KEY     = -(JCFS_E_BASE + 2),  /* no key given */
	JCFS_E_WRONG_KEY  = -(JCFS_E_BASE + 3),  /* key does not match the store, or a retired key
						    or the passphrase salt is missing */
	JCFS_E_NEED_ADOPT = -(JCFS_E_BASE + 4),  /* plaintext files, no descriptor, no --adopt */
	JCFS_E_BAD_DESC   = -(JCFS_E_BASE + 5),  /* store descriptor malformed or forged */
	JCFS_E_BUSY       = -(JCFS_E_BASE + 6),  /* the store is mounted or another process holds it */
	JCFS_E_NOT_STRICT = -(JCFS_E_BASE + 7),  /* the store allows plaintext, and strict was asked
						    or --adopt was not given */
	JCFS_E_MOUNTPOINT = -(JCFS_E_BASE + 8),  /* mount point in the way: not empty, carries a
						    mount, a dead mount, not ours to remount */
	JCFS_E_WEAK_KEY   = -(JCFS_E_BASE + 9),  /* the key looks guessable and is not allowed */

	/* The TPM key source (keysrc/tpm.h), one code per way it fails. */
	JCFS_E_TPM_PASSWORD    = -(JCFS_E_BASE + 10),  /* wrong encryption_password */
	JCFS_E_TPM_PCR         = -(JCFS_E_BASE + 11),  /* the PCR changed since the key was sealed */
	JCFS_E_TPM_LOCKOUT     = -(JCFS_E_BASE + 12),  /* TPM in dictionary-attack lockout */
	JCFS_E_TPM_UNREACHABLE = -(JCFS_E_BASE + 13),  /* TCTI failed: no TPM, swtpm down, bad tcti */
	JCFS_E_TPM_CLEARED     = -(JCFS_E_BASE + 14),  /* TPM cleared or not the one that sealed */
	JCFS_E_TPM_CORRUPT     = -(JCFS_E_BASE + 15),  /* keys file corrupt, truncated, other version */
	JCFS_E_TPM_KEYCHECK    = -(JCFS_E_BASE + 16),  /* unsealed key fails the key-check value */
	JCFS_E_TPM_MISSING     = -(JCFS_E_BASE + 17),  /* keys file does not exist */
	JCFS_E_TPM_FILE        = -(JCFS_E_BASE + 18),  /* keys file unreadable or unwritable, exists
							  at creation, or sealed to another PCR */
	JCFS_E_TPM_OTHER       = -(JCFS_E_BASE + 19),  /* any other TPM or system error */

	JCFS_E_LAST = JCFS_E_TPM_OTHER,                /* the lowest: a new code goes below it */
};

#endif
