/*
 * libFuzzer target for the NATS-syntax config parser (keysrc/natsconf.c) and
 * the jetstream-block reader on top of it (keysrc/config.c). The input is
 * the text of a config file named "fuzz.conf" in the current directory, so
 * relative includes resolve against the run directory (the run script puts
 * the unit tests' config files there). The whole tree is walked after a
 * successful parse (no deeper than NATSCONF_MAX_NEST); an error must come with
 * a message; every environment variable the parse reports using is set,
 * and reported once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natsconf.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every node, as a consumer would, and counts them. */
static size_t walk(const struct natsconf_value *v, int depth)
{
	size_t n = 1, i;

	if (!v || depth > NATSCONF_MAX_NEST || !v->file || v->line < 1 || v->col < 1)
		abort();
	(void)natsconf_type_name(v->type);
	switch (v->type) {
	case NATSCONF_STRING:
		n += strlen(v->u.s) > 0;
		break;
	case NATSCONF_MAP:
		for (i = 0; i < v->u.map.n; i++) {
			if (!v->u.map.v[i].key || v->u.map.v[i].line < 1 || v->u.map.v[i].col < 1 ||
			    natsconf_map_get(v, v->u.map.v[i].key) == NULL)
				abort();
			n += walk(v->u.map.v[i].val, depth + 1);
		}
		break;
	case NATSCONF_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			n += walk(v->u.arr.v[i], depth + 1);
		break;
	default:
		break;
	}
	return n;
}

/* The names are set in the environment, each listed once. */
static void check_env(const struct natsconf_names *env)
{
	size_t i, j;

	if (env->n && (!env->v || env->v[env->n]))
		abort();
	for (i = 0; i < env->n; i++) {
		if (!getenv(env->v[i]))
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(env->v[i], env->v[j]) == 0)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct natsconf_names env;
	struct natsconf_value *root = NULL;
	struct config cfg;
	char err[512];
	char *text;
	int r;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	r = natsconf_parse_string_env(text, "fuzz.conf", 0, &root, &env, err, sizeof(err));
	check_env(&env);
	natsconf_names_free(&env);
	if (r == 0) {
		if (!root || root->type != NATSCONF_MAP)
			abort();
		walk(root, 0);
	} else if (root != NULL || err[0] == '\0') {
		abort();
	}
	natsconf_free(root);

	memset(&cfg, 0, sizeof(cfg));
	r = config_load_string(text, "fuzz.conf", &cfg, err, sizeof(err));
	if (r != 0 && err[0] == '\0')
		abort();
	config_free(&cfg);
	free(text);
	return 0;
}
