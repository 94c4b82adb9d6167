/*
 * TPM 2.0 sealed keys file (the tpm {} block): seals a random 32-byte key
 * to the TPM's owner hierarchy with a policy of PolicyPCR(sha256, pcr) +
 * PolicyAuthValue(encryption_password), stores the sealed blobs in a small
 * text file (format in docs/TPM.md), and unseals it again over a salted,
 * parameter-encrypted session. Create and load are separate on purpose: the
 * caller decides whether a new key may be made (only over a store that holds
 * no data under another key). Each way they fail has its own error code,
 * JCFS_E_TPM_* (jcfs_err.h), and with it its own exit status, 10..19.
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
#include "jcfs_err.h"

#define TPM_KEY_LEN 32

/* Loads cfg->keys_file and unseals its key into key (the caller's locked
 * memory). Returns 0, or JCFS_E_TPM_* with one line naming the file and
 * the problem in err. On success err is "" or a warning line to log (the keys
 * file is readable by group or others). Every TPM handle is flushed and every
 * temporary wiped on every path; on error key is zeroed. */
int tpm_load_key(const struct config_tpm *cfg, uint8_t key[TPM_KEY_LEN],
		 char *err, size_t errlen);

/* cfg->keys_file must not exist: generates a random key into key, seals it,
 * checks that it unseals, and writes the keys file atomically with mode 0600
 * (never replacing an existing file: JCFS_E_TPM_FILE). Returns 0 or
 * JCFS_E_TPM_* with one line in err; on error key is zeroed and no file is
 * left behind. */
int tpm_create_key(const struct config_tpm *cfg, uint8_t key[TPM_KEY_LEN],
		   char *err, size_t errlen);

/* Checks that buf[0..len) is a well-formed keys file: the parse that
 * tpm_load_key does before it talks to the TPM. No I/O; for tests and the
 * fuzzer. Returns 0 or JCFS_E_TPM_CORRUPT with one line naming path in err. */
int tpm_keysfile_check(const char *path, const char *buf, size_t len,
		       char *err, size_t errlen);

#endif
