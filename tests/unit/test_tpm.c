/*
 * Tests of keysrc/tpm.c against a real software TPM. Every test case runs
 * its own swtpm (own state dir, own loopback port), started and stopped by
 * an unchecked fixture in the parent process, so that it is shut down and
 * killed by PID even when the test itself fails or crashes. Tests that
 * restart swtpm do so on the same state dir and port; the PID file and port
 * live in the fixture's directory so that the parent can always find them.
 * JCFS_TPM_KEEP=1 keeps each test's directory (keys file, tool log).
 */
#include <check.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "tpm.h"

static char g_base[128];        /* fixture dir: state/, swtpm.pid, port, log */
static char g_keys[192];
static char g_tcti[96];
static int g_port;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command with its output appended to the fixture's log. */
static int run(const char *fmt, ...)
{
	char cmd[4096];
	int n, st;
	va_list ap;

	cmd[0] = '(';
	va_start(ap, fmt);
	n = vsnprintf(cmd + 1, sizeof(cmd) - 200, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd) - 200)
		return -1;
	snprintf(cmd + 1 + n, 199, ") >>%s/log 2>&1", g_base);
	st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

static int port_free(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static pid_t read_pid(void)
{
	char path[256];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/swtpm.pid", g_base);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/* swtpm is a daemon, not our child: once it exits it may stay a zombie
 * until init reaps it, which counts as gone. */
static int alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	if (kill(pid, 0) != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

static int swtpm_start_on(int port)
{
	char path[256];
	FILE *f;

	g_port = port;
	snprintf(g_tcti, sizeof(g_tcti), "swtpm:host=127.0.0.1,port=%d", port);
	snprintf(path, sizeof(path), "%s/port", g_base);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	fclose(f);
	if (run("swtpm socket --tpm2 --tpmstate dir=%s/state "
		"--server type=tcp,port=%d,bindaddr=127.0.0.1 "
		"--ctrl type=tcp,port=%d,bindaddr=127.0.0.1 "
		"--flags not-need-init,startup-clear --pid file=%s/swtpm.pid --daemon",
		g_base, port, port + 1, g_base))
		return -1;
	for (int i = 0; i < 200 && !port_open(port); i++)
		sleep_ms(10);
	/* Wrong passwords in the tests must not lock the TPM for 1000 s. */
	return run("tpm2_dictionarylockout -T %s --setup-parameters --max-tries=32 "
		   "--recovery-time=10 --lockout-recovery-time=10", g_tcti);
}

/* A free pair of ports (server, control = server + 1), spread by PID so
 * that parallel test runs rarely probe the same ones. */
static int swtpm_start(void)
{
	int span = 1000, start = (int)(getpid() % span);

	for (int i = 0; i < span; i++) {
		int port = 23000 + 2 * ((start + i) % span);

		if (port_free(port) && port_free(port + 1) &&
		    swtpm_start_on(port) == 0)
			return 0;
		if (read_pid() > 0)
			return -1;      /* started but not usable */
	}
	return -1;
}

/* Orderly TPM shutdown first (else swtpm counts a failed authorization),
 * then SIGTERM, then SIGKILL if it lingers. */
static void swtpm_stop(void)
{
	char path[256];
	pid_t pid = read_pid();
	FILE *f;
	int port = 0;

	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "%s/port", g_base);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &port) != 1)
			port = 0;
		fclose(f);
	}
	if (port && alive(pid))
		run("tpm2_shutdown -T swtpm:host=127.0.0.1,port=%d -c", port);
	kill(pid, SIGTERM);
	for (int i = 0; i < 300 && alive(pid); i++)
		sleep_ms(10);
	if (alive(pid)) {
		kill(pid, SIGKILL);
		for (int i = 0; i < 100 && alive(pid); i++)
			sleep_ms(10);
	}
	snprintf(path, sizeof(path), "%s/swtpm.pid", g_base);
	unlink(path);
	/* The listening sockets are gone with the process. */
	for (int i = 0; i < 100 && port && port_open(port); i++)
		sleep_ms(10);
}

static void swtpm_restart(void)
{
	swtpm_stop();
	ck_assert_int_eq(swtpm_start_on(g_port), 0);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(g_base, sizeof(g_base), "%s/jcfs-tpm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(g_base));
	ck_assert_int_eq(run("mkdir %s/state", g_base), 0);
	snprintf(g_keys, sizeof(g_keys), "%s/keys", g_base);
	ck_assert_msg(swtpm_start() == 0, "cannot start swtpm (see %s/log)", g_base);
}

static void teardown(void)
{
	char cmd[256];

	swtpm_stop();
	if (g_base[0] && getenv("JCFS_TPM_KEEP")) {
		fprintf(stderr, "kept %s\n", g_base);
	} else if (g_base[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", g_base);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", g_base);
	}
	g_base[0] = '\0';
}

static struct config_tpm cfg_for(const char *pw, int pcr)
{
	struct config_tpm c = {
		.present = 1, .keys_file = g_keys,
		.encryption_password = (char *)pw, .pcr = pcr, .tcti = g_tcti,
	};

	return c;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = malloc(65536);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(b);
	n = fread(b, 1, 65535, f);
	fclose(f);
	b[n] = '\0';
	*len = n;
	return b;
}

static void spill(const char *path, const char *b, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Rewrites the "sum" line after a deliberate change, so that the change
 * reaches the TPM or the key-check instead of the checksum. */
static void resum(char *b, size_t *len)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char *s = strstr(b, "\nsum ");

	ck_assert_ptr_nonnull(s);
	s++;
	crypto_hash_sha256(h, (unsigned char *)b, (size_t)(s - b));
	s += sprintf(s, "sum ");
	for (size_t i = 0; i < sizeof(h); i++)
		s += sprintf(s, "%02x", h[i]);
	*s++ = '\n';
	*len = (size_t)(s - b);
}

/* Flips one hex digit in the value of the line starting with name. */
static void flip_field(char *b, const char *name, size_t at)
{
	char *p = strstr(b, name);

	ck_assert_ptr_nonnull(p);
	p += strlen(name) + 1 + at;
	*p = *p == '0' ? '1' : '0';
}

/* Every path must flush what it loaded: swtpm has no resource manager, so
 * a leak stays visible (and would exhaust its 3 object slots). */
/* first: 0x80000000 transient objects, 0x02000000 loaded sessions (the
 * TPM2_*_FIRST macros shift into the sign bit, which UBSan rejects). */
static UINT32 count_handles(ESYS_CONTEXT *esys, UINT32 first)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	UINT32 n;

	ck_assert_int_eq(Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE,
					    ESYS_TR_NONE, TPM2_CAP_HANDLES, first,
					    TPM2_MAX_CAP_HANDLES, &more, &cap), 0);
	n = cap->data.handles.count;
	Esys_Free(cap);
	return n;
}

static void assert_no_handles(void)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *esys = NULL;

	ck_assert_int_eq(Tss2_TctiLdr_Initialize(g_tcti, &tcti), 0);
	ck_assert_int_eq(Esys_Initialize(&esys, tcti, NULL), 0);
	ck_assert_msg(count_handles(esys, 0x80000000u) == 0,
		      "transient objects left loaded");
	ck_assert_msg(count_handles(esys, 0x02000000u) == 0,
		      "sessions left loaded");
	Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&tcti);
}

static void create_ok(struct config_tpm *c, uint8_t key[TPM_KEY_LEN])
{
	char err[512];
	int rc = tpm_create_key(c, key, err, sizeof(err));

	ck_assert_msg(rc == 0, "create: %d %s", rc, err);
	assert_no_handles();
}

static void load_ok(struct config_tpm *c, const uint8_t want[TPM_KEY_LEN])
{
	uint8_t key[TPM_KEY_LEN];
	char err[512];
	int rc = tpm_load_key(c, key, err, sizeof(err));

	ck_assert_msg(rc == 0, "load: %d %s", rc, err);
	ck_assert_mem_eq(key, want, TPM_KEY_LEN);
	assert_no_handles();
}

static void load_fails(struct config_tpm *c, int code, const char *msg)
{
	uint8_t key[TPM_KEY_LEN], zero[TPM_KEY_LEN] = { 0 };
	char err[512];
	int rc = tpm_load_key(c, key, err, sizeof(err));

	ck_assert_msg(rc == code, "load: want %d, got %d: %s", code, rc, err);
	ck_assert_msg(strstr(err, msg), "message \"%s\" lacks \"%s\"", err, msg);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_mem_eq(key, zero, TPM_KEY_LEN);
	if (code != JCFS_E_TPM_UNREACHABLE)
		assert_no_handles();
}

START_TEST(create_then_load)
{
	struct config_tpm c = cfg_for("correct horse", 23);
	uint8_t key[TPM_KEY_LEN], zero[TPM_KEY_LEN] = { 0 };
	struct stat st;
	char err[512], *text;
	size_t len;
	double t0, t1, t2;
	int rc;

	t0 = now_ms();
	create_ok(&c, key);
	t1 = now_ms();
	ck_assert_mem_ne(key, zero, TPM_KEY_LEN);
	ck_assert_int_eq(stat(g_keys, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	text = slurp(g_keys, &len);
	ck_assert_int_eq(strncmp(text, "jetcryptfs tpm keys 1\npcr 23\nbank sha256\nsrk ecc-p256\n", 54), 0);
	free(text);

	t2 = now_ms();
	load_ok(&c, key);
	printf("tpm timing (swtpm): seal (create) %.1f ms, unseal (load) %.1f ms\n",
	       t1 - t0, now_ms() - t2);

	/* The TCTI falls back to $TPM2TOOLS_TCTI. */
	c.tcti = NULL;
	setenv("TPM2TOOLS_TCTI", g_tcti, 1);
	load_ok(&c, key);
	unsetenv("TPM2TOOLS_TCTI");
	c.tcti = g_tcti;

	/* A keys file others can read still loads, with a warning. */
	ck_assert_int_eq(chmod(g_keys, 0644), 0);
	rc = tpm_load_key(&c, key, err, sizeof(err));
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(err, "readable by group or others"));
	ck_assert_ptr_nonnull(strstr(err, g_keys));
	ck_assert_int_eq(chmod(g_keys, 0600), 0);
	rc = tpm_load_key(&c, key, err, sizeof(err));
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(survives_swtpm_restart)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];

	create_ok(&c, key);
	swtpm_restart();
	load_ok(&c, key);
}
END_TEST

START_TEST(wrong_password)
{
	char longpw[200];
	struct config_tpm c = cfg_for("right", 23);
	uint8_t key[TPM_KEY_LEN];

	create_ok(&c, key);
	c.encryption_password = (char *)"wrong";
	load_fails(&c, JCFS_E_TPM_PASSWORD, "wrong encryption_password (TPM auth check failed)");
	load_fails(&c, JCFS_E_TPM_PASSWORD, g_keys);
	c.encryption_password = (char *)"right";
	load_ok(&c, key);

	/* Passwords longer than a sha256 digest are hashed, not refused. */
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	unlink(g_keys);
	c.encryption_password = longpw;
	create_ok(&c, key);
	load_ok(&c, key);
	longpw[100] = 'y';
	load_fails(&c, JCFS_E_TPM_PASSWORD, "wrong encryption_password");
}
END_TEST

START_TEST(srk_password_protects_nothing)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];

	c.srk_password = (char *)"srk secret";
	create_ok(&c, key);
	c.srk_password = NULL;
	load_ok(&c, key);
}
END_TEST

START_TEST(pcr_changed)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];

	create_ok(&c, key);
	ck_assert_int_eq(run("tpm2_pcrextend -T %s 23:sha256=%064d", g_tcti, 1), 0);
	load_fails(&c, JCFS_E_TPM_PCR, "PCR 23 changed since the key was sealed");
	ck_assert_int_eq(run("tpm2_pcrreset -T %s 23", g_tcti), 0);
	load_ok(&c, key);

	ck_assert_int_eq(run("tpm2_pcrextend -T %s 23:sha256=%064d", g_tcti, 2), 0);
	load_fails(&c, JCFS_E_TPM_PCR, "PCR 23 changed");
	swtpm_restart();        /* PCRs back to their boot values */
	load_ok(&c, key);

	/* The configuration must name the PCR the key is sealed to. */
	c.pcr = 22;
	load_fails(&c, JCFS_E_TPM_FILE, "sealed to PCR 23 but the configuration says pcr: 22");
}
END_TEST

START_TEST(lockout)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];

	create_ok(&c, key);
	ck_assert_int_eq(run("tpm2_dictionarylockout -T %s --setup-parameters "
			     "--max-tries=1 --recovery-time=600 --lockout-recovery-time=10",
			     g_tcti), 0);
	c.encryption_password = (char *)"guess";
	load_fails(&c, JCFS_E_TPM_PASSWORD, "wrong encryption_password");
	c.encryption_password = (char *)"pw";
	load_fails(&c, JCFS_E_TPM_LOCKOUT,
		   "TPM is in dictionary-attack lockout; wait and retry");
	ck_assert_int_eq(run("tpm2_dictionarylockout -T %s --clear-lockout", g_tcti), 0);
	load_ok(&c, key);
}
END_TEST

START_TEST(unreachable)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];
	char want[128], err[512];

	create_ok(&c, key);
	swtpm_stop();
	snprintf(want, sizeof(want), "TPM not reachable at %s: ", g_tcti);
	load_fails(&c, JCFS_E_TPM_UNREACHABLE, want);

	/* Creation fails the same way and leaves no file behind. */
	unlink(g_keys);
	ck_assert_int_eq(tpm_create_key(&c, key, err, sizeof(err)), JCFS_E_TPM_UNREACHABLE);
	ck_assert_ptr_nonnull(strstr(err, want));
	ck_assert_int_eq(access(g_keys, F_OK), -1);
	ck_assert_int_eq(run("ls %s | grep -q tmp", g_base), 1);

	c.tcti = (char *)"nosuchtcti:foo";
	ck_assert_int_eq(tpm_create_key(&c, key, err, sizeof(err)), JCFS_E_TPM_UNREACHABLE);
	ck_assert_ptr_nonnull(strstr(err, "TPM not reachable at nosuchtcti:foo: "));
}
END_TEST

START_TEST(corrupt_file)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];
	char *orig, *b;
	size_t len, n;
	char *p;

	create_ok(&c, key);
	orig = slurp(g_keys, &len);
	b = malloc(65536);
	ck_assert_ptr_nonnull(b);

	spill(g_keys, "", 0);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "keys file is empty");
	spill(g_keys, orig, len / 2);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "truncated");
	spill(g_keys, orig, 10);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "not a jetcryptfs TPM keys file");
	spill(g_keys, orig, 22);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "truncated");
	spill(g_keys, orig, len - 1);           /* no final newline */
	load_fails(&c, JCFS_E_TPM_CORRUPT, "truncated");
	p = strstr(orig, "\nsum ");
	spill(g_keys, orig, (size_t)(p - orig) + 1);    /* last line gone */
	load_fails(&c, JCFS_E_TPM_CORRUPT, "truncated (line 9, \"sum\", missing)");

	memcpy(b, orig, len + 1);
	memcpy(b + len, "extra\n", 7);
	spill(g_keys, b, len + 6);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "data after line 9");

	memcpy(b, orig, len + 1);
	b[20] = '2';
	spill(g_keys, b, len);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "version 2 is not supported");

	memcpy(b, orig, len + 1);
	b[0] = 'J';
	spill(g_keys, b, len);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "not a jetcryptfs TPM keys file");

	memcpy(b, orig, len + 1);
	flip_field(b, "\npublic", 40);
	spill(g_keys, b, len);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "checksum mismatch");

	memcpy(b, orig, len + 1);
	p = strstr(b, "\nprivate ") + 9;
	while (*p >= '0' && *p <= '9')
		p++;
	*p = (char)(*p - 'a' + 'A');            /* uppercase hex */
	spill(g_keys, b, len);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "line 7: bad \"private\" line");

	memcpy(b, orig, len + 1);
	memcpy(strstr(b, "\nbank ") + 6, "sha1  ", 6);
	spill(g_keys, b, len);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "line 3: bad \"bank\" line");

	memcpy(b, orig, len + 1);
	memcpy(strstr(b, "\npcr ") + 5, "16", 2);
	spill(g_keys, b, len);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "line 2: bad \"pcr\" line");

	memcpy(b, orig, len + 1);
	memcpy(strstr(b, "\nsrk ") + 5, "ecc-p384", 8);
	spill(g_keys, b, len);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "line 4: bad \"srk\" line");

	/* Damage that passes the checksum reaches the TPM, which rejects it. */
	n = len;
	memcpy(b, orig, len + 1);
	flip_field(b, "\nprivate", 80);
	resum(b, &n);
	spill(g_keys, b, n);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "the TPM rejects the sealed blobs");

	n = len;
	memcpy(b, orig, len + 1);
	flip_field(b, "\npublic", 40);          /* inside authPolicy */
	resum(b, &n);
	spill(g_keys, b, n);
	load_fails(&c, JCFS_E_TPM_CORRUPT, "the TPM rejects the sealed blobs");

	/* The original still works. */
	spill(g_keys, orig, len);
	load_ok(&c, key);
	free(b);
	free(orig);
}
END_TEST

START_TEST(keycheck_mismatch)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];
	char *b;
	size_t len;

	create_ok(&c, key);
	b = slurp(g_keys, &len);
	flip_field(b, "\ncheck", 5);
	resum(b, &len);
	spill(g_keys, b, len);
	free(b);
	load_fails(&c, JCFS_E_TPM_KEYCHECK, "does not match the key-check value");
}
END_TEST

START_TEST(cleared_tpm)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];

	create_ok(&c, key);
	swtpm_stop();
	ck_assert_int_eq(run("rm -rf %s/state && mkdir %s/state", g_base, g_base), 0);
	ck_assert_int_eq(swtpm_start_on(g_port), 0);
	load_fails(&c, JCFS_E_TPM_CLEARED,
		   "TPM was cleared or is not the TPM that sealed this key (SRK name differs)");
}
END_TEST

START_TEST(create_refuses_existing_and_load_needs_file)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN], key2[TPM_KEY_LEN];
	char err[512], *before, *after;
	size_t l1, l2;

	load_fails(&c, JCFS_E_TPM_MISSING, "keys file missing");
	create_ok(&c, key);
	before = slurp(g_keys, &l1);
	ck_assert_int_eq(tpm_create_key(&c, key2, err, sizeof(err)), JCFS_E_TPM_FILE);
	ck_assert_ptr_nonnull(strstr(err, "already exists; refusing to overwrite it"));
	after = slurp(g_keys, &l2);
	ck_assert_uint_eq(l1, l2);
	ck_assert_mem_eq(before, after, l1);
	free(before);
	free(after);
	load_ok(&c, key);

	/* No directory for the file: nothing sealed is left anywhere. */
	c.keys_file = (char *)"/nonexistent-dir/keys";
	ck_assert_int_eq(tpm_create_key(&c, key2, err, sizeof(err)), JCFS_E_TPM_FILE);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent-dir/keys: cannot create"));
}
END_TEST

START_TEST(sha256_bank_not_allocated)
{
	struct config_tpm c = cfg_for("pw", 23);
	uint8_t key[TPM_KEY_LEN];
	char err[512];

	ck_assert_int_eq(run("tpm2_pcrallocate -T %s sha1:all+sha256:none", g_tcti), 0);
	swtpm_restart();
	ck_assert_int_eq(tpm_create_key(&c, key, err, sizeof(err)), JCFS_E_TPM_OTHER);
	ck_assert_ptr_nonnull(strstr(err, "PCR 23 of the sha256 bank is not allocated"));
	ck_assert_int_eq(access(g_keys, F_OK), -1);
}
END_TEST

static int memmem_in(const char *hay, size_t hlen, const void *needle, size_t nlen)
{
	return memmem(hay, hlen, needle, nlen) != NULL;
}

static size_t unhex_line(const char *text, const char *name, uint8_t *out, size_t max)
{
	const char *p = strstr(text, name);
	size_t n = 0;
	unsigned v;

	ck_assert_ptr_nonnull(p);
	p += strlen(name) + 1;
	while (*p != '\n' && n < max && sscanf(p, "%2x", &v) == 1) {
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

START_TEST(no_secrets_on_the_wire)
{
	const char *pw = "pcap-password-0123456789";
	struct config_tpm c = cfg_for(pw, 23);
	uint8_t key[TPM_KEY_LEN], pub[1024];
	char tcti[160], cap[256], *text, *wire;
	size_t len, wlen, npub;

	/* The pcap TCTI records every command and response byte. */
	snprintf(tcti, sizeof(tcti), "pcap:%s", g_tcti);
	snprintf(cap, sizeof(cap), "%s/wire.pcap", g_base);
	setenv("TCTI_PCAP_FILE", cap, 1);
	c.tcti = tcti;
	create_ok(&c, key);
	load_ok(&c, key);
	unsetenv("TCTI_PCAP_FILE");

	wire = slurp(cap, &wlen);
	text = slurp(g_keys, &len);
	npub = unhex_line(text, "\npublic", pub, sizeof(pub));
	/* Control: the capture holds the traffic (Load sends the public blob). */
	ck_assert_uint_gt(npub, 40);
	ck_assert(memmem_in(wire, wlen, pub + 2, npub - 2));
	ck_assert(!memmem_in(wire, wlen, key, TPM_KEY_LEN));
	ck_assert(!memmem_in(wire, wlen, key, 8));
	ck_assert(!memmem_in(wire, wlen, pw, strlen(pw)));
	ck_assert(!memmem_in(wire, wlen, pw, 8));
	free(wire);
	free(text);
}
END_TEST

START_TEST(tpm2_tools_unseal)
{
	struct config_tpm c = cfg_for("tools pw", 23);
	uint8_t key[TPM_KEY_LEN];
	char path[256], *got;
	size_t len;

	/* The recovery procedure of docs/TPM.md, with tpm2-tools only (swtpm
	 * has no resource manager: flush transient objects after each tool). */
	create_ok(&c, key);
	ck_assert_int_eq(run("cd %s && export TPM2TOOLS_TCTI=%s && "
		"sed -n 's/^public //p' keys | xxd -r -p > sealed.pub && "
		"sed -n 's/^private //p' keys | xxd -r -p > sealed.priv && "
		"head -c 64 /dev/zero | tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb "
		"-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' "
		"-u - -c srk.ctx && tpm2_flushcontext -t && "
		"tpm2_readpublic -c srk.ctx -n srk.name && tpm2_flushcontext -t && "
		"test \"$(xxd -p -c 100 srk.name)\" = \"$(sed -n 's/^srk-name //p' keys)\" && "
		"tpm2_load -C srk.ctx -u sealed.pub -r sealed.priv -c sealed.ctx && "
		"tpm2_flushcontext -t && "
		"tpm2_startauthsession --policy-session -S s.ctx -c srk.ctx && "
		"tpm2_flushcontext -t && "
		"tpm2_policypcr -S s.ctx -l sha256:23 && tpm2_policyauthvalue -S s.ctx && "
		"tpm2_unseal -c sealed.ctx -p 'session:s.ctx+tools pw' -o key.bin && "
		"tpm2_flushcontext s.ctx && tpm2_flushcontext -t", g_base, g_tcti), 0);
	snprintf(path, sizeof(path), "%s/key.bin", g_base);
	got = slurp(path, &len);
	ck_assert_uint_eq(len, TPM_KEY_LEN);
	ck_assert_mem_eq(got, key, TPM_KEY_LEN);
	free(got);
}
END_TEST

static void put_hex_line(FILE *f, const char *name, const uint8_t *b, size_t n)
{
	fprintf(f, "%s ", name);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
	fputc('\n', f);
}

static size_t read_bin(const char *name, uint8_t *out, size_t max)
{
	char path[256], *b;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", g_base, name);
	b = slurp(path, &len);
	ck_assert_uint_le(len, max);
	memcpy(out, b, len);
	free(b);
	return len;
}

START_TEST(rsa_srk_file_from_tpm2_tools)
{
	static const char label[] = "jetcryptfs tpm key-check v1";
	struct config_tpm c = cfg_for("rsa pw", 23);
	uint8_t name[64], pub[1024], priv[1024], key[TPM_KEY_LEN], check[32];
	size_t nname, npub, npriv, len;
	char *text;
	FILE *f;

	/* A keys file with an RSA-2048 SRK, sealed by tpm2-tools: checks the
	 * RSA template and that the format is what docs/TPM.md says. */
	ck_assert_int_eq(run("cd %s && export TPM2TOOLS_TCTI=%s && "
		"head -c 32 /dev/urandom > key.bin && "
		"head -c 256 /dev/zero | tpm2_createprimary -C o -g sha256 -G rsa2048:aes128cfb "
		"-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' "
		"-u - -c srk.ctx && tpm2_flushcontext -t && "
		"tpm2_readpublic -c srk.ctx -n srk.name && tpm2_flushcontext -t && "
		"tpm2_startauthsession -S t.ctx && tpm2_policypcr -S t.ctx -l sha256:23 && "
		"tpm2_policyauthvalue -S t.ctx -L policy.dig && tpm2_flushcontext t.ctx && "
		"tpm2_create -C srk.ctx -g sha256 -a 'fixedtpm|fixedparent' -L policy.dig "
		"-p 'rsa pw' -i key.bin -u sealed.pub -r sealed.priv && tpm2_flushcontext -t",
		g_base, g_tcti), 0);
	nname = read_bin("srk.name", name, sizeof(name));
	npub = read_bin("sealed.pub", pub, sizeof(pub));
	npriv = read_bin("sealed.priv", priv, sizeof(priv));
	ck_assert_uint_eq(read_bin("key.bin", key, sizeof(key)), TPM_KEY_LEN);
	crypto_generichash(check, sizeof(check), (const uint8_t *)label,
			   sizeof(label) - 1, key, sizeof(key));

	f = fopen(g_keys, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "jetcryptfs tpm keys 1\npcr 23\nbank sha256\nsrk rsa-2048\n");
	put_hex_line(f, "srk-name", name, nname);
	put_hex_line(f, "public", pub, npub);
	put_hex_line(f, "private", priv, npriv);
	put_hex_line(f, "check", check, sizeof(check));
	fprintf(f, "sum %064d\n", 0);
	ck_assert_int_eq(fclose(f), 0);
	text = slurp(g_keys, &len);
	resum(text, &len);
	spill(g_keys, text, len);
	free(text);
	load_ok(&c, key);
}
END_TEST

/* A keys file that is a FIFO is refused before any TPM work; open() of a
 * FIFO without a writer would block forever (the case's timeout turns a
 * regression into a failure). No swtpm needed. */
START_TEST(keys_file_not_regular)
{
	char dir[] = "/tmp/test_tpm.XXXXXX", fifo[64], err[512];
	uint8_t key[TPM_KEY_LEN], zero[TPM_KEY_LEN] = { 0 };
	struct config_tpm c = {
		.present = 1, .keys_file = fifo, .encryption_password = (char *)"pw",
		.tcti = (char *)"swtpm:host=127.0.0.1,port=1",
	};
	int rc;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/keys.fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	rc = tpm_load_key(&c, key, err, sizeof(err));
	unlink(fifo);
	ck_assert_msg(rc == JCFS_E_TPM_FILE, "want %d, got %d: %s", JCFS_E_TPM_FILE, rc, err);
	ck_assert_msg(strstr(err, fifo) && strstr(err, ": not a regular file"), "%s", err);
	ck_assert_mem_eq(key, zero, TPM_KEY_LEN);
	/* a directory, as before */
	c.keys_file = dir;
	rc = tpm_load_key(&c, key, err, sizeof(err));
	rmdir(dir);
	ck_assert_msg(rc == JCFS_E_TPM_FILE && strstr(err, "not a regular file"), "%d %s", rc, err);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *t)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s = suite_create("tpm");
	TCase *tc = tcase_create("keys_file_not_regular");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, keys_file_not_regular);
	suite_add_tcase(s, tc);
	add(s, "create_then_load", create_then_load);
	add(s, "survives_swtpm_restart", survives_swtpm_restart);
	add(s, "wrong_password", wrong_password);
	add(s, "srk_password", srk_password_protects_nothing);
	add(s, "pcr_changed", pcr_changed);
	add(s, "lockout", lockout);
	add(s, "unreachable", unreachable);
	add(s, "corrupt_file", corrupt_file);
	add(s, "keycheck_mismatch", keycheck_mismatch);
	add(s, "cleared_tpm", cleared_tpm);
	add(s, "create_refuses_existing", create_refuses_existing_and_load_needs_file);
	add(s, "sha256_bank", sha256_bank_not_allocated);
	add(s, "no_secrets_on_the_wire", no_secrets_on_the_wire);
	add(s, "tpm2_tools_unseal", tpm2_tools_unseal);
	add(s, "rsa_srk", rsa_srk_file_from_tpm2_tools);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
