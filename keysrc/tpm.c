/*
 * TPM 2.0 sealed keys file through tpm2-tss ESAPI. The storage root key
 * (SRK) is re-created on every run from the TCG template under the owner
 * hierarchy (ECC P-256 by default: 5-10x faster than RSA-2048); its Name is
 * stored in the keys file so that a cleared or foreign TPM is named as such
 * instead of failing obscurely. The sealed object can only be unsealed
 * through PolicyPCR(sha256, pcr) + PolicyAuthValue, over a session salted
 * with the SRK and with response encryption, so neither the password nor
 * the key crosses the bus in clear. A keyed hash of the key (key-check) in
 * the file catches a wrong unseal even when the TPM reports success. The
 * file format and the meaning of the exit statuses are in docs/TPM.md.
 */
#include "tpm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "natsconf.h"

#define TPM_FILE_MAGIC   "jetcryptfs tpm keys "
#define TPM_FILE_VERSION 1
#define TPM_FILE_MAX     16384
#define TPM_CHECK_LABEL  "jetcryptfs tpm key-check v1"
#define TPM_DEFAULT_TCTI "device:/dev/tpmrm0"

enum srk_alg { SRK_ECC_P256, SRK_RSA_2048 };
static const char *const srk_alg_names[] = { "ecc-p256", "rsa-2048" };

/* The parsed keys file. Nothing in it is secret: the blobs are sealed. */
struct keysfile {
	int pcr;
	enum srk_alg srk_alg;
	TPM2B_NAME srk_name;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	uint8_t check[32];
};

/* One connection to the TPM and every handle it holds, so that a single
 * cleanup flushes them all whatever path was taken. */
struct tpm_conn {
	const struct config_tpm *cfg;
	const char *tcti_conf;
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR srk;
	ESYS_TR hmac;           /* salted HMAC session for the SRK's children */
	ESYS_TR policy;         /* trial or real policy session */
	ESYS_TR sealed;
	char *err;
	size_t errlen;
};

/* Says in c->err what failed; returns code (JCFS_E_TPM_*). */
static int tpm_fail(struct tpm_conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int tpm_fail(struct tpm_conn *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* The TPM's own response code without the handle/session/parameter number,
 * so that it can be compared with TPM2_RC_* constants; 0 if rc did not come
 * from the TPM (or the kernel resource manager, which passes TPM codes). */
static TSS2_RC tpm_base_rc(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return 0;
	rc &= 0xFFFF;
	if (rc & TPM2_RC_FMT1)
		return rc & 0xBF;
	return rc & 0xFFF;
}

/* Errors any command can return; step names the failing call. */
static int tpm_fail_rc(struct tpm_conn *c, const char *step, TSS2_RC rc)
{
	TSS2_RC base = tpm_base_rc(rc);
	const char *file = c->cfg->keys_file;

	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER)
		return tpm_fail(c, JCFS_E_TPM_UNREACHABLE,
				"TPM not reachable at %s: %s: TCTI error 0x%x",
				c->tcti_conf, step, rc);
	if (base == TPM2_RC_LOCKOUT)
		return tpm_fail(c, JCFS_E_TPM_LOCKOUT,
				"%s: TPM is in dictionary-attack lockout; wait and retry",
				file);
	if (base == TPM2_RC_INITIALIZE)
		return tpm_fail(c, JCFS_E_TPM_OTHER,
				"TPM at %s is not started up (TPM2_Startup not run)",
				c->tcti_conf);
	if (base == TPM2_RC_OBJECT_MEMORY)
		return tpm_fail(c, JCFS_E_TPM_OTHER,
				"TPM at %s: out of object memory (objects leaked by "
				"another client? use a resource manager: device:/dev/tpmrm0)",
				c->tcti_conf);
	if (base == TPM2_RC_BAD_AUTH || base == TPM2_RC_AUTH_FAIL)
		return tpm_fail(c, JCFS_E_TPM_OTHER,
				"%s: %s: TPM authorization failed (rc 0x%x); "
				"does the owner hierarchy have a password?",
				file, step, rc);
	return tpm_fail(c, JCFS_E_TPM_OTHER, "%s: %s failed: TPM error 0x%x", file,
			step, rc);
}

/* Passwords become TPM auth values. The TPM refuses values longer than the
 * name algorithm's digest, so longer passwords are replaced by their
 * SHA-256; trailing zero octets are dropped as the TPM itself does. */
static void tpm_auth_from(const char *pw, TPM2B_AUTH *auth)
{
	size_t n = pw ? strlen(pw) : 0;

	memset(auth, 0, sizeof(*auth));
	if (n <= 32) {
		memcpy(auth->buffer, pw ? pw : "", n);
		auth->size = (UINT16)n;
		return;
	}
	crypto_hash_sha256(auth->buffer, (const unsigned char *)pw, n);
	auth->size = 32;
	while (auth->size && auth->buffer[auth->size - 1] == 0)
		auth->size--;
}

static void tpm_keycheck(const uint8_t key[TPM_KEY_LEN], uint8_t out[32])
{
	crypto_generichash(out, 32, (const unsigned char *)TPM_CHECK_LABEL,
			   sizeof(TPM_CHECK_LABEL) - 1, key, TPM_KEY_LEN);
}

static void tpm_close(struct tpm_conn *c)
{
	ESYS_TR *h[] = { &c->sealed, &c->policy, &c->hmac, &c->srk };

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		if (*h[i] != ESYS_TR_NONE && c->esys)
			(void)Esys_FlushContext(c->esys, *h[i]);
		*h[i] = ESYS_TR_NONE;
	}
	if (c->esys)
		Esys_Finalize(&c->esys);
	if (c->tcti)
		Tss2_TctiLdr_Finalize(&c->tcti);
}

static void tpm_flush(struct tpm_conn *c, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE)
		(void)Esys_FlushContext(c->esys, *h);
	*h = ESYS_TR_NONE;
}

static int tpm_open(struct tpm_conn *c, const struct config_tpm *cfg,
		    char *err, size_t errlen)
{
	TSS2_RC rc;

	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->err = err;
	c->errlen = errlen;
	c->srk = c->hmac = c->policy = c->sealed = ESYS_TR_NONE;
	c->tcti_conf = cfg->tcti && *cfg->tcti ? cfg->tcti : getenv("TPM2TOOLS_TCTI");
	if (!c->tcti_conf || !*c->tcti_conf)
		c->tcti_conf = TPM_DEFAULT_TCTI;
	/* tpm2-tss prints its own ERROR lines to stderr; ours say it better. */
	setenv("TSS2_LOG", "all+none", 0);

	rc = Tss2_TctiLdr_Initialize(c->tcti_conf, &c->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		c->tcti = NULL;
		return tpm_fail(c, JCFS_E_TPM_UNREACHABLE,
				"TPM not reachable at %s: cannot open the TCTI (error 0x%x)",
				c->tcti_conf, rc);
	}
	rc = Esys_Initialize(&c->esys, c->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		c->esys = NULL;
		return tpm_fail(c, JCFS_E_TPM_UNREACHABLE,
				"TPM not reachable at %s: ESAPI initialization failed (error 0x%x)",
				c->tcti_conf, rc);
	}
	return 0;
}

/* PolicyPCR on a bank the TPM does not allocate binds to nothing; refuse. */
static int tpm_check_bank(struct tpm_conn *c, int pcr)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int found = 0;

	rc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_PCRS, 0, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail_rc(c, "GetCapability(PCRS)", rc);
	for (UINT32 i = 0; i < cap->data.assignedPCR.count; i++) {
		const TPMS_PCR_SELECTION *s = &cap->data.assignedPCR.pcrSelections[i];

		if (s->hash == TPM2_ALG_SHA256 && pcr / 8 < s->sizeofSelect &&
		    (s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
			found = 1;
	}
	Esys_Free(cap);
	if (!found)
		return tpm_fail(c, JCFS_E_TPM_OTHER,
				"TPM at %s: PCR %d of the sha256 bank is not allocated; "
				"a PCR policy on it would bind to nothing (tpm2_pcrallocate)",
				c->tcti_conf, pcr);
	return 0;
}

static void tpm_srk_template(TPM2B_PUBLIC *p, enum srk_alg alg)
{
	TPMT_PUBLIC *a = &p->publicArea;

	memset(p, 0, sizeof(*p));
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	if (alg == SRK_ECC_P256) {
		TPMS_ECC_PARMS *e = &a->parameters.eccDetail;

		a->type = TPM2_ALG_ECC;
		e->symmetric.algorithm = TPM2_ALG_AES;
		e->symmetric.keyBits.aes = 128;
		e->symmetric.mode.aes = TPM2_ALG_CFB;
		e->scheme.scheme = TPM2_ALG_NULL;
		e->curveID = TPM2_ECC_NIST_P256;
		e->kdf.scheme = TPM2_ALG_NULL;
		a->unique.ecc.x.size = 32;
		a->unique.ecc.y.size = 32;
	} else {
		TPMS_RSA_PARMS *r = &a->parameters.rsaDetail;

		a->type = TPM2_ALG_RSA;
		r->symmetric.algorithm = TPM2_ALG_AES;
		r->symmetric.keyBits.aes = 128;
		r->symmetric.mode.aes = TPM2_ALG_CFB;
		r->scheme.scheme = TPM2_ALG_NULL;
		r->keyBits = 2048;
		r->exponent = 0;
		a->unique.rsa.size = 256;
	}
	p->size = 0;            /* marshalled by ESAPI */
}

/* Creates the SRK, then a salted HMAC session on it for its children. */
static int tpm_srk(struct tpm_conn *c, enum srk_alg alg, TSS2_RC *rcout)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION creation = { .count = 0 };
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES,
			     .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
	TSS2_RC rc;

	memset(&sens, 0, sizeof(sens));
	tpm_auth_from(c->cfg->srk_password, &sens.sensitive.userAuth);
	tpm_srk_template(&tmpl, alg);
	rc = Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
				&creation, &c->srk, NULL, NULL, NULL, NULL);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TR_SetAuth(c->esys, c->srk, &sens.sensitive.userAuth);
	sodium_memzero(&sens, sizeof(sens));
	if (rc != TSS2_RC_SUCCESS) {
		if (rcout)
			*rcout = rc;
		return tpm_fail_rc(c, "CreatePrimary(SRK)", rc);
	}
	rc = Esys_StartAuthSession(c->esys, c->srk, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC,
				   &sym, TPM2_ALG_SHA256, &c->hmac);
	if (rc != TSS2_RC_SUCCESS) {
		c->hmac = ESYS_TR_NONE;
		return tpm_fail_rc(c, "StartAuthSession(HMAC)", rc);
	}
	rc = Esys_TRSess_SetAttributes(c->esys, c->hmac,
				       TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
				       TPMA_SESSION_CONTINUESESSION, 0xff);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail_rc(c, "TRSess_SetAttributes", rc);
	return 0;
}

static int tpm_srk_name(struct tpm_conn *c, TPM2B_NAME *out)
{
	TPM2B_NAME *name = NULL;
	TSS2_RC rc = Esys_TR_GetName(c->esys, c->srk, &name);

	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail_rc(c, "TR_GetName(SRK)", rc);
	*out = *name;
	Esys_Free(name);
	return 0;
}

static void tpm_pcr_sel(TPML_PCR_SELECTION *sel, int pcr)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t)(1u << (pcr % 8));
}

/* Starts a policy (or trial) session and runs PolicyPCR + PolicyAuthValue
 * on it. PolicyAuthValue, not PolicyPassword: with response encryption
 * tpm2-tss 3.2.1 returns a wrong key with rc 0 after PolicyPassword. */
static int tpm_policy(struct tpm_conn *c, TPM2_SE type, int pcr)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES,
			     .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
	TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	TPM2B_DIGEST empty = { .size = 0 };
	TPML_PCR_SELECTION sel;
	TSS2_RC rc;

	tpm_pcr_sel(&sel, pcr);
	rc = Esys_StartAuthSession(c->esys,
				   type == TPM2_SE_TRIAL ? ESYS_TR_NONE : c->srk,
				   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, type,
				   type == TPM2_SE_TRIAL ? &none : &sym,
				   TPM2_ALG_SHA256, &c->policy);
	if (rc != TSS2_RC_SUCCESS) {
		c->policy = ESYS_TR_NONE;
		return tpm_fail_rc(c, "StartAuthSession(policy)", rc);
	}
	rc = Esys_PolicyPCR(c->esys, c->policy, ESYS_TR_NONE, ESYS_TR_NONE,
			    ESYS_TR_NONE, &empty, &sel);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail_rc(c, "PolicyPCR", rc);
	rc = Esys_PolicyAuthValue(c->esys, c->policy, ESYS_TR_NONE, ESYS_TR_NONE,
				  ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail_rc(c, "PolicyAuthValue", rc);
	return 0;
}

/* Loads the sealed blobs under the SRK and unseals them into key. */
static int tpm_unseal(struct tpm_conn *c, const struct keysfile *kf,
		      uint8_t key[TPM_KEY_LEN])
{
	const char *file = c->cfg->keys_file;
	TPM2B_SENSITIVE_DATA *out = NULL;
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TPM2B_AUTH auth;
	TSS2_RC rc, base;
	int ret;

	rc = Esys_Load(c->esys, c->srk, c->hmac, ESYS_TR_NONE, ESYS_TR_NONE,
		       &kf->priv, &kf->pub, &c->sealed);
	if (rc != TSS2_RC_SUCCESS) {
		c->sealed = ESYS_TR_NONE;
		/* The SRK Name matched, so a blob the TPM rejects is damaged. */
		if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER &&
		    (rc & TPM2_RC_FMT1) && (rc & TPM2_RC_P))
			return tpm_fail(c, JCFS_E_TPM_CORRUPT,
					"%s: keys file is corrupt (the TPM rejects the sealed "
					"blobs: error 0x%x)", file, rc);
		return tpm_fail_rc(c, "Load", rc);
	}
	ret = tpm_policy(c, TPM2_SE_POLICY, kf->pcr);
	if (ret)
		return ret;
	rc = Esys_TRSess_SetAttributes(c->esys, c->policy,
				       TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION,
				       0xff);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail_rc(c, "TRSess_SetAttributes", rc);
	tpm_auth_from(c->cfg->encryption_password, &auth);
	rc = Esys_TR_SetAuth(c->esys, c->sealed, &auth);
	sodium_memzero(&auth, sizeof(auth));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail_rc(c, "TR_SetAuth", rc);

	rc = Esys_Unseal(c->esys, c->sealed, c->policy, ESYS_TR_NONE,
			 ESYS_TR_NONE, &out);
	/* Overwrite ESAPI's copy of the password: it does not wipe on flush. */
	memset(&auth, 0, sizeof(auth));
	auth.size = sizeof(auth.buffer);
	(void)Esys_TR_SetAuth(c->esys, c->sealed, &auth);
	tpm_flush(c, &c->sealed);
	tpm_flush(c, &c->policy);
	if (rc != TSS2_RC_SUCCESS) {
		base = tpm_base_rc(rc);
		if (base == TPM2_RC_AUTH_FAIL || base == TPM2_RC_BAD_AUTH)
			return tpm_fail(c, JCFS_E_TPM_PASSWORD,
					"%s: wrong encryption_password (TPM auth check failed)",
					file);
		if (base == TPM2_RC_POLICY_FAIL || base == TPM2_RC_PCR_CHANGED)
			return tpm_fail(c, JCFS_E_TPM_PCR,
					"%s: PCR %d changed since the key was sealed",
					file, kf->pcr);
		return tpm_fail_rc(c, "Unseal", rc);
	}
	if (out->size != TPM_KEY_LEN) {
		sodium_memzero(out, sizeof(*out));
		Esys_Free(out);
		return tpm_fail(c, JCFS_E_TPM_KEYCHECK,
				"%s: the TPM unsealed a key of the wrong size", file);
	}
	memcpy(key, out->buffer, TPM_KEY_LEN);
	sodium_memzero(out, sizeof(*out));
	Esys_Free(out);
	/* ESAPI decrypted the Unseal response in place in its command buffer
	 * and never wipes it; a larger response overwrites that copy. */
	if (Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_TPM_PROPERTIES, TPM2_PT_FIXED, 32, &more,
			       &cap) == TSS2_RC_SUCCESS)
		Esys_Free(cap);
	return 0;
}

/* ---- keys file ---------------------------------------------------------- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Strict lowercase hex of exactly 2*n digits, n <= max. */
static int unhex(const char *s, size_t slen, uint8_t *out, size_t max, size_t *n)
{
	if (slen == 0 || slen % 2 || slen / 2 > max)
		return -1;
	for (size_t i = 0; i < slen / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = slen / 2;
	return 0;
}

static char *put_hex(char *p, const uint8_t *b, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		*p++ = d[b[i] >> 4];
		*p++ = d[b[i] & 15];
	}
	return p;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* Line reader over the file's bytes; every line must end in '\n'. */
struct lines {
	const char *p, *end;
	int no;
	const char *val;
	size_t vlen;
};

/* Takes the next line, which must be "name value". 0, -1 truncated,
 * -2 a different line. */
static int next_field(struct lines *l, const char *name)
{
	size_t nlen = strlen(name);
	const char *nl;

	l->no++;
	if (l->p >= l->end)
		return -1;
	nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
	if (!nl)
		return -1;
	if ((size_t)(nl - l->p) < nlen + 1 || memcmp(l->p, name, nlen) ||
	    l->p[nlen] != ' ')
		return -2;
	l->val = l->p + nlen + 1;
	l->vlen = (size_t)(nl - l->val);
	l->p = nl + 1;
	return 0;
}

static int field_is(const struct lines *l, const char *s)
{
	return l->vlen == strlen(s) && !memcmp(l->val, s, l->vlen);
}

static int kf_corrupt(struct tpm_conn *c, const struct lines *l, int how,
		      const char *name)
{
	if (how == -1)
		return tpm_fail(c, JCFS_E_TPM_CORRUPT,
				"%s: keys file is truncated (line %d, \"%s\", missing)",
				c->cfg->keys_file, l->no, name);
	return tpm_fail(c, JCFS_E_TPM_CORRUPT,
			"%s: keys file is corrupt (line %d: bad \"%s\" line)",
			c->cfg->keys_file, l->no, name);
}

static int kf_parse(struct tpm_conn *c, const char *buf, size_t len,
		    struct keysfile *kf)
{
	const char *file = c->cfg->keys_file;
	struct lines l = { .p = buf, .end = buf + len };
	uint8_t bin[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
	uint8_t sum[crypto_hash_sha256_BYTES], want[crypto_hash_sha256_BYTES];
	const char *nl;
	size_t n, off, sumlen;
	const char *digits, *q;
	int r, ver;

	memset(kf, 0, sizeof(*kf));
	/* Line 1: magic and version, read before anything else so that a
	 * newer file is named as such rather than as corrupt. */
	l.no = 1;
	nl = memchr(buf, '\n', len);
	if (len < sizeof(TPM_FILE_MAGIC) - 1 ||
	    memcmp(buf, TPM_FILE_MAGIC, sizeof(TPM_FILE_MAGIC) - 1))
		return tpm_fail(c, JCFS_E_TPM_CORRUPT, len == 0 ?
				"%s: keys file is empty" :
				"%s: not a jetcryptfs TPM keys file", file);
	if (!nl)
		return tpm_fail(c, JCFS_E_TPM_CORRUPT, "%s: keys file is truncated (line 1)",
				file);
	ver = 0;
	digits = buf + sizeof(TPM_FILE_MAGIC) - 1;
	for (q = digits; q < nl && *q >= '0' && *q <= '9' && q - digits < 6; q++)
		ver = ver * 10 + (*q - '0');
	if (q != nl || q == digits || *digits == '0')
		return tpm_fail(c, JCFS_E_TPM_CORRUPT,
				"%s: keys file is corrupt (line 1: bad version)", file);
	if (ver != TPM_FILE_VERSION)
		return tpm_fail(c, JCFS_E_TPM_CORRUPT,
				"%s: keys file version %d is not supported (this build reads version %d)",
				file, ver, TPM_FILE_VERSION);
	l.p = nl + 1;

	if ((r = next_field(&l, "pcr")))
		return kf_corrupt(c, &l, r, "pcr");
	if (l.vlen != 2 || l.val[0] < '1' || l.val[0] > '2' || l.val[1] < '0' ||
	    l.val[1] > '9')
		return kf_corrupt(c, &l, -2, "pcr");
	kf->pcr = (l.val[0] - '0') * 10 + (l.val[1] - '0');
	if (kf->pcr < 17 || kf->pcr > 23)
		return kf_corrupt(c, &l, -2, "pcr");

	if ((r = next_field(&l, "bank")))
		return kf_corrupt(c, &l, r, "bank");
	if (!field_is(&l, "sha256"))
		return kf_corrupt(c, &l, -2, "bank");

	if ((r = next_field(&l, "srk")))
		return kf_corrupt(c, &l, r, "srk");
	if (field_is(&l, srk_alg_names[SRK_ECC_P256]))
		kf->srk_alg = SRK_ECC_P256;
	else if (field_is(&l, srk_alg_names[SRK_RSA_2048]))
		kf->srk_alg = SRK_RSA_2048;
	else
		return kf_corrupt(c, &l, -2, "srk");

	/* A sha256 Name: the algorithm id 0x000b and 32 bytes of digest. */
	if ((r = next_field(&l, "srk-name")))
		return kf_corrupt(c, &l, r, "srk-name");
	if (unhex(l.val, l.vlen, kf->srk_name.name, sizeof(kf->srk_name.name), &n) ||
	    n != 34 || kf->srk_name.name[0] != 0x00 || kf->srk_name.name[1] != 0x0b)
		return kf_corrupt(c, &l, -2, "srk-name");
	kf->srk_name.size = (UINT16)n;

	if ((r = next_field(&l, "public")))
		return kf_corrupt(c, &l, r, "public");
	off = 0;
	if (unhex(l.val, l.vlen, bin, sizeof(bin), &n) ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(bin, n, &off, &kf->pub) != TSS2_RC_SUCCESS ||
	    off != n ||
	    kf->pub.publicArea.type != TPM2_ALG_KEYEDHASH ||
	    kf->pub.publicArea.nameAlg != TPM2_ALG_SHA256 ||
	    kf->pub.publicArea.objectAttributes !=
	    (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT) ||
	    kf->pub.publicArea.authPolicy.size != 32 ||
	    kf->pub.publicArea.parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL)
		return kf_corrupt(c, &l, -2, "public");

	if ((r = next_field(&l, "private")))
		return kf_corrupt(c, &l, r, "private");
	off = 0;
	if (unhex(l.val, l.vlen, bin, sizeof(bin), &n) ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(bin, n, &off, &kf->priv) != TSS2_RC_SUCCESS ||
	    off != n || kf->priv.size == 0)
		return kf_corrupt(c, &l, -2, "private");

	if ((r = next_field(&l, "check")))
		return kf_corrupt(c, &l, r, "check");
	if (unhex(l.val, l.vlen, kf->check, sizeof(kf->check), &n) || n != 32)
		return kf_corrupt(c, &l, -2, "check");

	sumlen = (size_t)(l.p - buf);
	if ((r = next_field(&l, "sum")))
		return kf_corrupt(c, &l, r, "sum");
	if (unhex(l.val, l.vlen, want, sizeof(want), &n) || n != sizeof(want))
		return kf_corrupt(c, &l, -2, "sum");
	if (l.p != l.end)
		return tpm_fail(c, JCFS_E_TPM_CORRUPT,
				"%s: keys file is corrupt (data after line %d)", file, l.no);
	crypto_hash_sha256(sum, (const unsigned char *)buf, sumlen);
	if (memcmp(sum, want, sizeof(sum)))
		return tpm_fail(c, JCFS_E_TPM_CORRUPT,
				"%s: keys file is corrupt (checksum mismatch)", file);
	return 0;
}

/* Returns a malloc'd text of the keys file in *out. */
static int kf_format(const struct keysfile *kf, char **out, size_t *outlen)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC)], priv[sizeof(TPM2B_PRIVATE)];
	uint8_t sum[crypto_hash_sha256_BYTES];
	size_t npub = 0, npriv = 0, cap;
	char *buf, *p;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&kf->pub, pub, sizeof(pub), &npub) ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&kf->priv, priv, sizeof(priv), &npriv))
		return -EINVAL;
	cap = 256 + 2 * (kf->srk_name.size + npub + npriv + 32 + sizeof(sum));
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	p = buf + snprintf(buf, cap, "%s%d\npcr %d\nbank sha256\nsrk %s\nsrk-name ",
			   TPM_FILE_MAGIC, TPM_FILE_VERSION, kf->pcr,
			   srk_alg_names[kf->srk_alg]);
	p = put_hex(p, kf->srk_name.name, kf->srk_name.size);
	p = put_hex(put_str(p, "\npublic "), pub, npub);
	p = put_hex(put_str(p, "\nprivate "), priv, npriv);
	p = put_hex(put_str(p, "\ncheck "), kf->check, 32);
	*p++ = '\n';
	crypto_hash_sha256(sum, (const unsigned char *)buf, (size_t)(p - buf));
	p = put_hex(put_str(p, "sum "), sum, sizeof(sum));
	*p++ = '\n';
	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
}

static int write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes path atomically and never over an existing file: temp file
 * (O_EXCL, 0600), fsync, rename without replace, fsync of the directory. */
static int kf_write(struct tpm_conn *c, const char *text, size_t len)
{
	const char *path = c->cfg->keys_file;
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16), *dir = NULL, *slash;
	int fd = -1, dfd, ret;

	if (!tmp)
		return tpm_fail(c, JCFS_E_TPM_OTHER, "%s: out of memory", path);
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", 12);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = tpm_fail(c, JCFS_E_TPM_FILE, "%s: cannot create: %s", path,
			       strerror(errno));
		free(tmp);
		return ret;
	}
	if (fchmod(fd, 0600) || (ret = write_all(fd, text, len)) || fsync(fd)) {
		ret = tpm_fail(c, JCFS_E_TPM_FILE, "%s: cannot write %s: %s", path, tmp,
			       strerror(errno));
		goto fail;
	}
	if (close(fd)) {
		fd = -1;
		ret = tpm_fail(c, JCFS_E_TPM_FILE, "%s: cannot write %s: %s", path, tmp,
			       strerror(errno));
		goto fail;
	}
	fd = -1;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE)) {
		/* Filesystems without RENAME_NOREPLACE: link() never replaces. */
		if ((errno != EINVAL && errno != ENOSYS) || link(tmp, path)) {
			ret = tpm_fail(c, JCFS_E_TPM_FILE, errno == EEXIST ?
				       "%s: keys file already exists; refusing to overwrite it" :
				       "%s: cannot create: %s", path, strerror(errno));
			goto fail;
		}
		unlink(tmp);
	}
	free(tmp);
	dir = strdup(path);
	if (!dir)
		return 0;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = 0;
	if (dfd < 0 || fsync(dfd))
		ret = tpm_fail(c, JCFS_E_TPM_FILE, "%s: cannot sync directory %s: %s",
			       path, dir, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return ret;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return ret;
}

/* Reads the keys file; warns in c->err if group or others can read it. */
static int kf_read(struct tpm_conn *c, struct keysfile *kf, int *warn_mode)
{
	const char *path = c->cfg->keys_file;
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, ret;

	fd = natsconf_open_file(path, &st);
	if (fd == -ENOENT)
		return tpm_fail(c, JCFS_E_TPM_MISSING, "%s: keys file missing", path);
	if (fd >= 0 && !S_ISREG(st.st_mode)) {      /* a pipe: this one must be a file */
		close(fd);
		fd = -EINVAL;
	}
	if (fd == -EINVAL || fd == -EISDIR)
		return tpm_fail(c, JCFS_E_TPM_FILE, "%s: not a regular file", path);
	if (fd < 0)
		return tpm_fail(c, JCFS_E_TPM_FILE, "%s: cannot open: %s", path,
				strerror(-fd));
	if (st.st_size > TPM_FILE_MAX) {
		close(fd);
		return tpm_fail(c, JCFS_E_TPM_CORRUPT,
				"%s: keys file is corrupt (%lld bytes, more than %d)",
				path, (long long)st.st_size, TPM_FILE_MAX);
	}
	*warn_mode = (st.st_mode & 077) ? (int)(st.st_mode & 0777) : 0;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return tpm_fail(c, JCFS_E_TPM_OTHER, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = tpm_fail(c, JCFS_E_TPM_FILE, "%s: cannot read: %s", path,
				       strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	ret = kf_parse(c, buf, got, kf);
out:
	close(fd);
	free(buf);
	return ret;
}

/* ---- public API --------------------------------------------------------- */

int tpm_keysfile_check(const char *path, const char *buf, size_t len,
		       char *err, size_t errlen)
{
	struct config_tpm cfg = { .keys_file = (char *)path };
	struct tpm_conn c = { .cfg = &cfg, .err = err, .errlen = errlen };
	struct keysfile kf;

	if (errlen)
		err[0] = '\0';
	return kf_parse(&c, buf, len, &kf);
}

int tpm_load_key(const struct config_tpm *cfg, uint8_t key[TPM_KEY_LEN],
		 char *err, size_t errlen)
{
	struct tpm_conn c;
	struct keysfile kf;
	TPM2B_NAME live;
	uint8_t check[32];
	int ret, mode = 0;

	if (errlen)
		err[0] = '\0';
	sodium_memzero(key, TPM_KEY_LEN);
	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.err = err;
	c.errlen = errlen;
	c.srk = c.hmac = c.policy = c.sealed = ESYS_TR_NONE;
	ret = kf_read(&c, &kf, &mode);
	if (ret)
		return ret;
	if (cfg->pcr && cfg->pcr != kf.pcr)
		return tpm_fail(&c, JCFS_E_TPM_FILE,
				"%s: the key is sealed to PCR %d but the configuration says pcr: %d",
				cfg->keys_file, kf.pcr, cfg->pcr);

	ret = tpm_open(&c, cfg, err, errlen);
	if (!ret)
		ret = tpm_check_bank(&c, kf.pcr);
	if (!ret)
		ret = tpm_srk(&c, kf.srk_alg, NULL);
	if (!ret)
		ret = tpm_srk_name(&c, &live);
	if (!ret && (live.size != kf.srk_name.size ||
		     memcmp(live.name, kf.srk_name.name, live.size)))
		ret = tpm_fail(&c, JCFS_E_TPM_CLEARED,
			       "%s: TPM was cleared or is not the TPM that sealed this key "
			       "(SRK name differs)", cfg->keys_file);
	if (!ret)
		ret = tpm_unseal(&c, &kf, key);
	tpm_close(&c);
	if (!ret) {
		tpm_keycheck(key, check);
		if (sodium_memcmp(check, kf.check, sizeof(check)))
			ret = tpm_fail(&c, JCFS_E_TPM_KEYCHECK,
				       "%s: the unsealed key does not match the key-check value",
				       cfg->keys_file);
		sodium_memzero(check, sizeof(check));
	}
	if (ret) {
		sodium_memzero(key, TPM_KEY_LEN);
		return ret;
	}
	if (mode && errlen)
		snprintf(err, errlen,
			 "%s: warning: keys file is readable by group or others "
			 "(mode %03o); chmod 600 it", cfg->keys_file, mode);
	return 0;
}

int tpm_create_key(const struct config_tpm *cfg, uint8_t key[TPM_KEY_LEN],
		   char *err, size_t errlen)
{
	struct tpm_conn c;
	struct keysfile kf;
	struct stat st;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION creation = { .count = 0 };
	TPM2B_DIGEST *digest = NULL;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	uint8_t again[TPM_KEY_LEN];
	char *text = NULL;
	size_t textlen = 0;
	TSS2_RC rc = 0;
	int ret;

	if (errlen)
		err[0] = '\0';
	sodium_memzero(key, TPM_KEY_LEN);
	memset(&kf, 0, sizeof(kf));
	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.err = err;
	c.errlen = errlen;
	c.srk = c.hmac = c.policy = c.sealed = ESYS_TR_NONE;
	kf.pcr = cfg->pcr ? cfg->pcr : 22;
	if (kf.pcr < 17 || kf.pcr > 23)
		return tpm_fail(&c, JCFS_E_TPM_OTHER, "%s: pcr %d is outside 17..23",
				cfg->keys_file, kf.pcr);
	if (!cfg->encryption_password || !*cfg->encryption_password)
		return tpm_fail(&c, JCFS_E_TPM_OTHER, "%s: encryption_password is empty",
				cfg->keys_file);
	/* Checked again, race-free, by the final rename; this spares the TPM
	 * work and gives the clear message in the common case. */
	if (lstat(cfg->keys_file, &st) == 0)
		return tpm_fail(&c, JCFS_E_TPM_FILE,
				"%s: keys file already exists; refusing to overwrite it",
				cfg->keys_file);

	ret = tpm_open(&c, cfg, err, errlen);
	if (!ret)
		ret = tpm_check_bank(&c, kf.pcr);
	if (!ret) {
		kf.srk_alg = SRK_ECC_P256;
		ret = tpm_srk(&c, SRK_ECC_P256, &rc);
		/* A TPM without P-256 (rare): fall back to the RSA template. */
		if (ret && (tpm_base_rc(rc) == TPM2_RC_CURVE ||
			    tpm_base_rc(rc) == TPM2_RC_ASYMMETRIC)) {
			kf.srk_alg = SRK_RSA_2048;
			ret = tpm_srk(&c, SRK_RSA_2048, NULL);
		}
	}
	if (!ret)
		ret = tpm_srk_name(&c, &kf.srk_name);
	if (!ret)
		ret = tpm_policy(&c, TPM2_SE_TRIAL, kf.pcr);
	if (!ret) {
		rc = Esys_PolicyGetDigest(c.esys, c.policy, ESYS_TR_NONE,
					  ESYS_TR_NONE, ESYS_TR_NONE, &digest);
		if (rc != TSS2_RC_SUCCESS)
			ret = tpm_fail_rc(&c, "PolicyGetDigest", rc);
		tpm_flush(&c, &c.policy);
	}
	if (!ret) {
		memset(&tmpl, 0, sizeof(tmpl));
		tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
		tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
		/* No userWithAuth: only the policy can unseal. */
		tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM |
						   TPMA_OBJECT_FIXEDPARENT;
		tmpl.publicArea.authPolicy = *digest;
		tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;

		memset(&sens, 0, sizeof(sens));
		tpm_auth_from(cfg->encryption_password, &sens.sensitive.userAuth);
		randombytes_buf(key, TPM_KEY_LEN);
		memcpy(sens.sensitive.data.buffer, key, TPM_KEY_LEN);
		sens.sensitive.data.size = TPM_KEY_LEN;
		rc = Esys_Create(c.esys, c.srk, c.hmac, ESYS_TR_NONE, ESYS_TR_NONE,
				 &sens, &tmpl, &outside, &creation, &priv, &pub,
				 NULL, NULL, NULL);
		sodium_memzero(&sens, sizeof(sens));
		if (rc != TSS2_RC_SUCCESS)
			ret = tpm_fail_rc(&c, "Create(sealed key)", rc);
	}
	if (!ret) {
		kf.pub = *pub;
		kf.priv = *priv;
		tpm_keycheck(key, kf.check);
		/* Prove the blobs unseal to this key before anything is written. */
		ret = tpm_unseal(&c, &kf, again);
		if (!ret && sodium_memcmp(again, key, TPM_KEY_LEN))
			ret = tpm_fail(&c, JCFS_E_TPM_OTHER,
				       "%s: the sealed key did not unseal to the same bytes",
				       cfg->keys_file);
		sodium_memzero(again, sizeof(again));
	}
	tpm_close(&c);
	Esys_Free(digest);
	Esys_Free(priv);
	Esys_Free(pub);
	if (!ret && kf_format(&kf, &text, &textlen))
		ret = tpm_fail(&c, JCFS_E_TPM_OTHER, "%s: cannot encode the keys file",
			       cfg->keys_file);
	if (!ret)
		ret = kf_write(&c, text, textlen);
	free(text);
	if (ret)
		sodium_memzero(key, TPM_KEY_LEN);
	return ret;
}
