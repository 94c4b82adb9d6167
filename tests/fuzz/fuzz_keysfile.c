/*
 * libFuzzer target for the TPM keys-file parser of keysrc/tpm.c
 * (tpm_keysfile_check: everything tpm_load_key does with the file's bytes
 * before it talks to a TPM, including the tpm2-tss unmarshalling of the
 * sealed blobs). Every rejection must be JCFS_E_TPM_CORRUPT with a message that
 * names the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char path[] = "fuzz.keys";
	char err[512];
	int r;

	r = tpm_keysfile_check(path, (const char *)data, size, err, sizeof(err));
	if (r != 0 && r != JCFS_E_TPM_CORRUPT)
		abort();
	if (r != 0 && strncmp(err, path, sizeof(path) - 1) != 0)
		abort();
	return 0;
}
