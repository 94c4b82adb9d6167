/*
 * The one table from the project's error codes to exit statuses: every
 * command turns what failed into its status here, so that mount and the
 * tools give the same status for the same refusal.
 */
#include <stddef.h>

#include "jcfs_err.h"
#include "status.h"

static const struct {
	int err;
	int status;
} status_table[] = {
	{ JCFS_E_USAGE, EXIT_USAGE },
	{ JCFS_E_NO_KEY, EXIT_NO_KEY },
	{ JCFS_E_WRONG_KEY, EXIT_WRONG_KEY },
	{ JCFS_E_NEED_ADOPT, EXIT_NEED_ADOPT },
	{ JCFS_E_BAD_DESC, EXIT_BAD_STORE },
	{ JCFS_E_BUSY, EXIT_BUSY },
	{ JCFS_E_NOT_STRICT, EXIT_NOT_STRICT },
	{ JCFS_E_MOUNTPOINT, EXIT_MOUNTPOINT },
	{ JCFS_E_WEAK_KEY, EXIT_WEAK_KEY },
	{ JCFS_E_TPM_PASSWORD, EXIT_TPM_PASSWORD },
	{ JCFS_E_TPM_PCR, EXIT_TPM_PCR },
	{ JCFS_E_TPM_LOCKOUT, EXIT_TPM_LOCKOUT },
	{ JCFS_E_TPM_UNREACHABLE, EXIT_TPM_UNREACHABLE },
	{ JCFS_E_TPM_CLEARED, EXIT_TPM_CLEARED },
	{ JCFS_E_TPM_CORRUPT, EXIT_TPM_CORRUPT },
	{ JCFS_E_TPM_KEYCHECK, EXIT_TPM_KEYCHECK },
	{ JCFS_E_TPM_MISSING, EXIT_TPM_MISSING },
	{ JCFS_E_TPM_FILE, EXIT_TPM_FILE },
	{ JCFS_E_TPM_OTHER, EXIT_TPM_OTHER },
};

int status_of_error(int rc)
{
	if (rc == 0)
		return EXIT_OK;
	for (size_t i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++)
		if (status_table[i].err == rc)
			return status_table[i].status;
	return EXIT_FAIL;
}
