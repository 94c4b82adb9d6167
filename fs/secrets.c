/*
 * The process's secrets outside the keyring: the environment variables
 * keys came from, wiped in the block /proc/PID/environ shows, and core
 * dumps and ptrace, refused while keys are in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyring.h"
#include "log.h"
#include "secrets.h"

void secrets_no_core_dumps(void)
{
	struct rlimit none = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &none);
	(void)prctl(PR_SET_DUMPABLE, 0);
}

char **secrets_env_snapshot(void)
{
	size_t n = 0;
	char **snap;

	while (environ[n])
		n++;
	snap = calloc(n + 1, sizeof(*snap));
	if (snap)
		memcpy(snap, environ, n * sizeof(*snap));
	return snap;
}

static int env_value_is(const char *value, const char *secret)
{
	size_t len = strlen(value);

	return secret && *secret && len == strlen(secret) && sodium_memcmp(value, secret, len) == 0;
}

static int env_name_in(const char *name, char *const *names)
{
	for (size_t i = 0; names && names[i]; i++)
		if (!strcmp(name, names[i]))
			return 1;
	return 0;
}

void secrets_env_scrub(char **snap, const char *key_env, const struct config *cfg)
{
	const char *secrets[] = { cfg->key, cfg->prev_key, cfg->tpm.encryption_password,
				  cfg->tpm.srk_password };
	char name[256];

	for (size_t i = 0; snap && snap[i]; i++) {
		char *eq = strchr(snap[i], '=');
		size_t nlen = eq ? (size_t)(eq - snap[i]) : 0;
		int hit = 0;

		if (!eq || nlen >= sizeof(name))
			continue;
		memcpy(name, snap[i], nlen);
		name[nlen] = '\0';
		hit = !strcmp(name, KEYRING_DEFAULT_ENV) || (key_env && !strcmp(name, key_env)) ||
		      env_name_in(name, cfg->env_names);
		for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]) && !hit; k++)
			hit = env_value_is(eq + 1, secrets[k]);
		if (!hit)
			continue;
		unsetenv(name);
		sodium_memzero(snap[i], nlen + 1 + strlen(eq + 1));
	}
	free(snap);
}

void secrets_check_config_mode(const char *path, const struct config *cfg, char **snap)
{
	const char *secrets[] = { cfg->key, cfg->prev_key, cfg->tpm.encryption_password,
				  cfg->tpm.srk_password };
	struct stat stt;
	int in_file = 0;

	for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
		int from_env = 0;

		if (!secrets[k])
			continue;
		for (size_t i = 0; snap && snap[i] && !from_env; i++) {
			char *eq = strchr(snap[i], '=');

			from_env = eq && env_value_is(eq + 1, secrets[k]);
		}
		in_file |= !from_env;
	}
	if (in_file && stat(path, &stt) == 0 && (stt.st_mode & (S_IRWXG | S_IRWXO)))
		log_warn("%s: holds key material and is readable by group or others (chmod 600 it)", path);
}
