/*
 * TPM 2.0 sealed keys file (the tpm {} block): seals a random 32-byte key
 * to the TPM's owner hierarchy with a policy of PolicyPCR(sha256, pcr) +
 * PolicyAuthValue(encryption_password), stores the sealed blobs in a small
 * text file (format in docs/TPM.md), and unseals it again over a salted,
 * parameter-encrypted session. Create and load are separate on purpose: the
 * caller decides whether a new key may be made (only over a store that holds
 * no data under another key). Errors carry their own exit status, 10..19.
 *
 * Both functions set TSS2_LOG=all+none unless TSS2_LOG is already set, so
 * that tpm2-tss does not print its own lines next to ours; call them before
 * starting threads.
 */
#ifndef JCFS_TPM_H
#define JCFS_TPM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define TPM_KEY_LEN 32

/* Returned negated by tpm_load_key / tpm_create_key; the value is also the
 * process exit status (tpm_exit_status). */
enum tpm_status {
	TPM_E_PASSWORD    = 10, /* wrong encryption_password (TPM auth check failed) */
	TPM_E_PCR         = 11, /* the PCR changed since the key was sealed */
	TPM_E_LOCKOUT     = 12, /* TPM in dictionary-attack lockout */
	TPM_E_UNREACHABLE = 13, /* TCTI failed: no TPM / swtpm down / bad tcti string */
	TPM_E_CLEARED     = 14, /* TPM cleared or not the TPM that sealed the key */
	TPM_E_CORRUPT     = 15, /* keys file corrupt, truncated or of another version */
	TPM_E_KEYCHECK    = 16, /* unsealed key does not match the key-check value */
	TPM_E_MISSING     = 17, /* keys file does not exist (tpm_load_key) */
	TPM_E_FILE        = 18, /* keys file unreadable/unwritable, already exists
				   (tpm_create_key), or sealed to another PCR than
				   the config names */
	TPM_E_OTHER       = 19, /* any other TPM or system error */
};

/* Loads cfg->keys_file and unseals its key into key (the caller's locked
 * memory). Returns 0, or -TPM_E_* with one line naming the file and the
 * problem in err. On success err is "" or a warning line to log (the keys
 * file is readable by group or others). Every TPM handle is flushed and every
 * temporary wiped on every path; on error key is zeroed. */
int tpm_load_key(const struct config_tpm *cfg, uint8_t key[TPM_KEY_LEN],
		 char *err, size_t errlen);

/* cfg->keys_file must not exist: generates a random key into key, seals it,
 * checks that it unseals, and writes the keys file atomically with mode 0600
 * (never replacing an existing file: -TPM_E_FILE). Returns 0 or -TPM_E_*
 * with one line in err; on error key is zeroed and no file is left behind. */
int tpm_create_key(const struct config_tpm *cfg, uint8_t key[TPM_KEY_LEN],
		   char *err, size_t errlen);

/* Checks that buf[0..len) is a well-formed keys file: the parse that
 * tpm_load_key does before it talks to the TPM. No I/O; for tests and the
 * fuzzer. Returns 0 or -TPM_E_CORRUPT with one line naming path in err. */
int tpm_keysfile_check(const char *path, const char *buf, size_t len,
		       char *err, size_t errlen);

/* The process exit status for a return value of the functions above:
 * 0 for 0, 10..19 for -TPM_E_*, 19 for anything else negative. */
int tpm_exit_status(int rc);

#endif
