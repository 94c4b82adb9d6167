/*
 * Keeping secrets out of what other processes can see: no core dumps and
 * no ptrace by other users while keys are in memory, and the environment
 * variables keys came from wiped -- in the block the process was started
 * with, which is what /proc/PID/environ shows whatever unsetenv does.
 */
#ifndef JCFS_SECRETS_H
#define JCFS_SECRETS_H

#include "config.h"

/* Core limit 0 and not dumpable (which also makes /proc/PID root's). */
void secrets_no_core_dumps(void);

/* The environment strings as the process received them, taken before any
 * key is read; NULL if out of memory. */
char **secrets_env_snapshot(void);
/* Wipes every variable a secret came from -- $JS_KEY, --key-env NAME
 * (key_env, may be NULL), every variable the config took a value from
 * (cfg->env_names: `key: $VAR`, TPM passwords, and the rest, which may
 * hold a secret just as well), and any variable whose value is a secret
 * of the config -- name and value, in the snapshot's strings, and removes
 * it from environ. Frees snap (may be NULL). */
void secrets_env_scrub(char **snap, const char *key_env, const struct config *cfg);
/* Warns if the config file at path holds a secret itself (not as $VAR,
 * judged against snap) and is readable by group or others. */
void secrets_check_config_mode(const char *path, const struct config *cfg, char **snap);

#endif
