/*
 * Extended attribute values, sealed one at a time. A value is small and
 * rare next to file blocks, so this favours plainness over speed: the
 * XChaCha20-Poly1305 of libsodium (the same bytes block.c computes with
 * OpenSSL) and a fresh OpenSSL context per AES-256-GCM value. The
 * associated data is the value's 16-byte header, the file's xattr id and
 * the attribute's name: a value authenticates only under the key id and
 * cipher it names, on the file it was written for, under its own name.
 * docs/FORMAT.md, "Extended attributes", is the prose version.
 */
#include "xattrval.h"

#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

/* Value header: magic 0..3, version 4, cipher 5, reserved 6..7, key id
 * 8..15; the nonce follows at 16. */
#define OFF_VERSION  4
#define OFF_CIPHER   5
#define OFF_RESERVED 6
#define OFF_KEY_ID   8
#define AAD_MAX (XVAL_HEADER_SIZE + XVAL_ID_SIZE + XVAL_NAME_MAX)

int xval_name_encrypted(const char *name)
{
	return strncmp(name, "user.", 5) == 0 && !xval_name_reserved(name);
}

int xval_name_reserved(const char *name)
{
	return strncmp(name, XVAL_RESERVED, sizeof(XVAL_RESERVED) - 1) == 0;
}

size_t xval_overhead(int cipher)
{
	if (!fmt_cipher_valid(cipher))
		return 0;
	return XVAL_HEADER_SIZE + fmt_nonce_size(cipher) + FMT_TAG_SIZE;
}

int xval_header_decode(struct xval_header *h, const uint8_t *buf, size_t len)
{
	if (len < 4 || memcmp(buf, XVAL_MAGIC, 4) != 0)
		return -ENODATA;
	if (len < XVAL_HEADER_SIZE)
		return -EBADMSG;
	if (buf[OFF_VERSION] != XVAL_VERSION || !fmt_cipher_valid(buf[OFF_CIPHER]) ||
	    buf[OFF_RESERVED] != 0 || buf[OFF_RESERVED + 1] != 0)
		return -EPROTO;
	if (len < xval_overhead(buf[OFF_CIPHER]))
		return -EBADMSG;
	h->version = buf[OFF_VERSION];
	h->cipher = buf[OFF_CIPHER];
	memcpy(h->key_id, buf + OFF_KEY_ID, FMT_KEY_ID_SIZE);
	return 0;
}

/* header || xid || name: the associated data. Returns its length, 0 for a
 * name that is empty or too long. */
static size_t make_aad(uint8_t aad[AAD_MAX], const uint8_t *hdr, const uint8_t xid[XVAL_ID_SIZE],
		       const char *name)
{
	size_t nlen = name ? strlen(name) : 0;

	if (nlen == 0 || nlen > XVAL_NAME_MAX)
		return 0;
	memcpy(aad, hdr, XVAL_HEADER_SIZE);
	memcpy(aad + XVAL_HEADER_SIZE, xid, XVAL_ID_SIZE);
	memcpy(aad + XVAL_HEADER_SIZE + XVAL_ID_SIZE, name, nlen);
	return XVAL_HEADER_SIZE + XVAL_ID_SIZE + nlen;
}

/* AES-256-GCM, 12-byte nonce: ct and tag, or plain from ct and tag. */
static int aes_gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
		   const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, rc = -EIO;

	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FMT_TAG_SIZE, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + (len ? n : 0), &n) != 1) {
		rc = enc ? -EIO : -EBADMSG;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FMT_TAG_SIZE, tag) != 1)
		goto out;
	rc = 0;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);       /* wipes the key schedule */
	return rc;
}

int xval_encrypt_nonce(int cipher, const uint8_t key[XVAL_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
		       const uint8_t xid[XVAL_ID_SIZE], const char *name, const uint8_t *nonce,
		       const uint8_t *plain, size_t len, uint8_t *out, size_t *out_len)
{
	uint8_t aad[AAD_MAX];
	size_t nlen = fmt_nonce_size(cipher), aad_len;
	uint8_t *ct = out + XVAL_HEADER_SIZE + nlen;
	unsigned long long clen;

	if (!fmt_cipher_valid(cipher) || len > XVAL_PLAIN_MAX || sodium_init() < 0)
		return -EINVAL;
	memcpy(out, XVAL_MAGIC, 4);
	out[OFF_VERSION] = XVAL_VERSION;
	out[OFF_CIPHER] = (uint8_t)cipher;
	out[OFF_RESERVED] = out[OFF_RESERVED + 1] = 0;
	memcpy(out + OFF_KEY_ID, key_id, FMT_KEY_ID_SIZE);
	aad_len = make_aad(aad, out, xid, name);
	if (aad_len == 0)
		return -EINVAL;
	memmove(out + XVAL_HEADER_SIZE, nonce, nlen);
	*out_len = len + xval_overhead(cipher);
	if (cipher == FMT_CIPHER_AES)
		return aes_gcm(1, key, out + XVAL_HEADER_SIZE, aad, aad_len, plain, len, ct, ct + len);
	/* ciphertext || tag, as the layout wants */
	return crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, plain, len, aad, aad_len, NULL,
							  out + XVAL_HEADER_SIZE, key) == 0 ? 0 : -EIO;
}

int xval_encrypt(int cipher, const uint8_t key[XVAL_KEY_SIZE], const uint8_t key_id[FMT_KEY_ID_SIZE],
		 const uint8_t xid[XVAL_ID_SIZE], const char *name, const uint8_t *plain, size_t len,
		 uint8_t *out, size_t *out_len)
{
	uint8_t nonce[FMT_MAX_NONCE];

	if (!fmt_cipher_valid(cipher) || sodium_init() < 0)
		return -EINVAL;
	randombytes_buf(nonce, fmt_nonce_size(cipher));
	return xval_encrypt_nonce(cipher, key, key_id, xid, name, nonce, plain, len, out, out_len);
}

int xval_decrypt(const uint8_t key[XVAL_KEY_SIZE], const uint8_t xid[XVAL_ID_SIZE], const char *name,
		 const uint8_t *in, size_t in_len, uint8_t *plain, size_t *plain_len)
{
	struct xval_header h;
	uint8_t aad[AAD_MAX];
	const uint8_t *nonce = in + XVAL_HEADER_SIZE, *ct;
	size_t aad_len, len;
	uint8_t tag[FMT_TAG_SIZE];
	unsigned long long mlen;
	int rc;

	rc = xval_header_decode(&h, in, in_len);
	if (rc == -ENODATA || rc == -EBADMSG)
		return -EINVAL;
	if (rc < 0)
		return rc;
	if (in_len > XVAL_STORED_MAX || sodium_init() < 0)
		return -EINVAL;
	aad_len = make_aad(aad, in, xid, name);
	if (aad_len == 0)
		return -EINVAL;
	len = in_len - xval_overhead(h.cipher);
	ct = nonce + fmt_nonce_size(h.cipher);
	if (h.cipher == FMT_CIPHER_AES) {
		memcpy(tag, ct + len, FMT_TAG_SIZE);    /* OpenSSL wants it writable */
		rc = aes_gcm(0, key, nonce, aad, aad_len, ct, len, plain, tag);
	} else {
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, ct, len + FMT_TAG_SIZE, aad,
								aad_len, nonce, key) == 0 ? 0 : -EBADMSG;
	}
	/* Unauthenticated bytes never reach a caller that ignores rc. */
	if (rc != 0) {
		sodium_memzero(plain, len);
		return rc;
	}
	*plain_len = len;
	return 0;
}

void xval_id_encode(const uint8_t xid[XVAL_ID_SIZE], uint8_t out[XVAL_ID_ATTR_SIZE])
{
	memcpy(out, XVAL_ID_MAGIC, 4);
	out[4] = XVAL_VERSION;
	out[5] = out[6] = out[7] = 0;
	memcpy(out + 8, xid, XVAL_ID_SIZE);
}

int xval_id_decode(const uint8_t *buf, size_t len, uint8_t xid[XVAL_ID_SIZE])
{
	if (len != XVAL_ID_ATTR_SIZE || memcmp(buf, XVAL_ID_MAGIC, 4) != 0 || buf[4] != XVAL_VERSION ||
	    buf[5] || buf[6] || buf[7])
		return -EBADMSG;
	memcpy(xid, buf + 8, XVAL_ID_SIZE);
	return 0;
}
