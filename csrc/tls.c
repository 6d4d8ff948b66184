/*
 * tls.c - certificates and keys on OpenSSL (the library libwebsockets is
 * built against): Godot's X509Certificate / CryptoKey parsing and the
 * Crypto.generate_rsa / generate_self_signed_certificate helpers for the
 * Python layer, and the server side of wss:// (a listener's certificate
 * chain and key loaded into its vhost's SSL_CTX).
 *
 * Parsing follows mbedtls, which Godot uses, where the two differ:
 * certificates are every "CERTIFICATE" PEM block of the input (malformed
 * blocks are skipped as long as one is good) or one DER certificate; keys
 * are the first PEM block of a known key type, else DER.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"

/* ---- error text ------------------------------------------------------------ */

static _Thread_local char last_error[256];

static void set_error(const char *what)
{
	unsigned long e = ERR_peek_last_error();

	if (e) {
		char reason[160];

		ERR_error_string_n(e, reason, sizeof(reason));
		snprintf(last_error, sizeof(last_error), "%s (%s)", what, reason);
	} else {
		snprintf(last_error, sizeof(last_error), "%s", what);
	}
	ERR_clear_error();
}

const char *gws_crypto_last_error(void) { return last_error; }

void gws_free(void *p) { free(p); }

/* ---- helpers --------------------------------------------------------------- */

/* The memory BIO's contents as a new NUL-terminated string. */
static char *bio_to_string(BIO *b)
{
	char *data = NULL, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	memcpy(s, data, (size_t)n);
	s[n] = 0;
	return s;
}

/* First occurrence of the PEM header "-----BEGIN <label>-----" at or after
 * data + from (exact label, as mbedtls' strstr search). */
static const uint8_t *find_pem(const uint8_t *data, size_t len, size_t from, const char *label)
{
	char hdr[64];
	size_t n = (size_t)snprintf(hdr, sizeof(hdr), "-----BEGIN %s-----", label);

	if (from >= len)
		return NULL;
	return memmem(data + from, len - from, hdr, n);
}

static int is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* ---- certificates ---------------------------------------------------------- */

/* Parses every certificate of data into chain (which takes them). */
int gws_x509_read_chain(const uint8_t *data, size_t len, STACK_OF(X509) *chain, int *skipped)
{
	static const char label[] = "CERTIFICATE";
	const uint8_t *p;
	size_t from = 0;
	int good = 0, bad = 0;

	if (!find_pem(data, len, 0, label)) {
		/* DER: one certificate (trailing bytes ignored, as mbedtls) */
		const unsigned char *q = data;
		X509 *x = len ? d2i_X509(NULL, &q, (long)len) : NULL;

		if (!x || !sk_X509_push(chain, x)) {
			X509_free(x);
			set_error("no PEM certificate and not a DER certificate");
			return GWS_FAILED;
		}
		*skipped = 0;
		return GWS_OK;
	}
	while ((p = find_pem(data, len, from, label))) {
		BIO *b = BIO_new_mem_buf(p, (int)(len - (size_t)(p - data)));
		X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

		BIO_free(b);
		if (x && sk_X509_push(chain, x)) {
			good++;
		} else {
			X509_free(x);
			bad++;
		}
		from = (size_t)(p - data) + 1;
	}
	*skipped = bad;
	if (!good) {
		set_error("no valid certificate in the PEM data");
		return GWS_FAILED;
	}
	ERR_clear_error();
	return GWS_OK;
}

int gws_x509_parse(const uint8_t *data, size_t len, char **out_pem, int *out_count,
                   int *out_skipped)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	BIO *out = NULL;
	int r, i, skipped = 0;

	*out_pem = NULL;
	*out_count = 0;
	*out_skipped = 0;
	ERR_clear_error();
	if (!chain)
		return GWS_ERR_OUT_OF_MEMORY;
	r = gws_x509_read_chain(data, len, chain, &skipped);
	if (r == GWS_OK) {
		out = BIO_new(BIO_s_mem());
		for (i = 0; out && i < sk_X509_num(chain); i++)
			if (!PEM_write_bio_X509(out, sk_X509_value(chain, i)))
				break;
		if (!out || i < sk_X509_num(chain) || !(*out_pem = bio_to_string(out))) {
			set_error("cannot encode the certificates");
			r = GWS_ERR_OUT_OF_MEMORY;
		} else {
			*out_count = sk_X509_num(chain);
			*out_skipped = skipped;
		}
	}
	BIO_free(out);
	sk_X509_pop_free(chain, X509_free);
	return r;
}

/* ---- keys ------------------------------------------------------------------ */

/* A private key (public_only == 0) or a public key from PEM or DER, with
 * mbedtls_pk_parse_key() / mbedtls_pk_parse_public_key()'s search order. */
static EVP_PKEY *read_key(const uint8_t *data, size_t len, int public_only)
{
	static const char *const priv_labels[] = {
		"RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", NULL
	};
	static const char *const pub_labels[] = { "RSA PUBLIC KEY", "PUBLIC KEY", NULL };
	const char *const *labels = public_only ? pub_labels : priv_labels;
	const unsigned char *q;
	EVP_PKEY *k = NULL;
	size_t i;

	for (i = 0; labels[i]; i++) {
		const uint8_t *p = find_pem(data, len, 0, labels[i]);
		char *name = NULL, *header = NULL;
		unsigned char *der = NULL;
		long derlen = 0;
		BIO *b;

		if (!p)
			continue;
		/* the first block of the first type found decides, as mbedtls */
		b = BIO_new_mem_buf(p, (int)(len - (size_t)(p - data)));
		if (b && PEM_read_bio(b, &name, &header, &der, &derlen) && name &&
		    !strcmp(name, labels[i])) {
			q = der;
			if (!strcmp(labels[i], "ENCRYPTED PRIVATE KEY"))
				k = NULL;  /* no password support, as Godot */
			else if (!strcmp(labels[i], "RSA PUBLIC KEY"))
				k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, derlen);
			else if (public_only)
				k = d2i_PUBKEY(NULL, &q, derlen);
			else
				k = d2i_AutoPrivateKey(NULL, &q, derlen);
		}
		BIO_free(b);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		if (!k)
			set_error(!strcmp(labels[i], "ENCRYPTED PRIVATE KEY")
			          ? "encrypted private keys are not supported"
			          : "malformed PEM key");
		return k;
	}
	/* DER */
	q = data;
	if (public_only) {
		k = d2i_PUBKEY(NULL, &q, (long)len);
		if (!k) {
			q = data;
			k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
		}
	} else {
		k = d2i_AutoPrivateKey(NULL, &q, (long)len);
	}
	if (!k)
		set_error(public_only ? "no PEM public key and not a DER public key"
		                      : "no PEM private key and not a DER private key");
	return k;
}

/* PEM of k: the public half, or the private key (traditional PKCS#1/SEC1
 * form for RSA/EC, as mbedtls_pk_write_key_pem(); PKCS#8 otherwise). */
static char *key_to_pem(EVP_PKEY *k, int out_public)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;
	int ok, id;

	if (!b)
		return NULL;
	id = EVP_PKEY_get_base_id(k);
	if (out_public)
		ok = PEM_write_bio_PUBKEY(b, k);
	else if (id == EVP_PKEY_RSA || id == EVP_PKEY_EC)
		ok = PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	if (ok)
		s = bio_to_string(b);
	BIO_free(b);
	return s;
}

int gws_key_parse(const uint8_t *data, size_t len, int public_only, int out_public,
                  char **out_pem)
{
	EVP_PKEY *k;

	*out_pem = NULL;
	ERR_clear_error();
	k = read_key(data, len, public_only);
	if (!k)
		return GWS_FAILED;
	*out_pem = key_to_pem(k, out_public || public_only);
	EVP_PKEY_free(k);
	if (!*out_pem) {
		set_error("cannot encode the key");
		return GWS_FAILED;
	}
	return GWS_OK;
}

int gws_key_generate_rsa(int bits, char **out_pem)
{
	EVP_PKEY *k;

	*out_pem = NULL;
	if (bits < 512 || bits > 16384) {
		snprintf(last_error, sizeof(last_error), "RSA key size %d out of range", bits);
		return GWS_ERR_INVALID_PARAMETER;
	}
	k = EVP_RSA_gen((unsigned int)bits);
	if (!k) {
		set_error("RSA key generation failed");
		return GWS_FAILED;
	}
	*out_pem = key_to_pem(k, 0);
	EVP_PKEY_free(k);
	return *out_pem ? GWS_OK : GWS_ERR_OUT_OF_MEMORY;
}

/* ---- self-signed certificates ---------------------------------------------- */

/* "CN=a,O=b\,c,C=IT" (mbedtls_x509_string_to_names syntax: ',' separates,
 * '\' escapes) into name. */
static int parse_name(X509_NAME *name, const char *s)
{
	char key[64], val[256];
	size_t kn, vn;
	int n = 0;

	while (*s) {
		kn = vn = 0;
		while (*s == ' ')
			s++;
		while (*s && *s != '=' && kn < sizeof(key) - 1)
			key[kn++] = *s++;
		if (*s != '=')
			return -1;
		s++;
		key[kn] = 0;
		while (*s && *s != ',' && vn < sizeof(val) - 1) {
			if (*s == '\\' && s[1])
				s++;
			val[vn++] = *s++;
		}
		if (*s && *s != ',')
			return -1;
		val[vn] = 0;
		if (!X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8, (unsigned char *)val,
		                                (int)vn, -1, 0))
			return -1;
		n++;
		if (*s == ',')
			s++;
	}
	return n ? 0 : -1;
}

/* "YYYYMMDDhhmmss" (UTC), as Godot's not_before / not_after. */
static int set_time(ASN1_TIME *t, const char *s)
{
	char z[16];
	size_t i;

	if (!s || strlen(s) != 14)
		return -1;
	for (i = 0; i < 14; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	snprintf(z, sizeof(z), "%sZ", s);
	return ASN1_TIME_set_string_X509(t, z) ? 0 : -1;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!e)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* alt_names "a.example,127.0.0.1" as "DNS:a.example,IP:127.0.0.1". */
static char *san_value(const char *alt_names)
{
	size_t cap = strlen(alt_names) * 2 + 16, n = 0;
	char *out = malloc(cap), item[256];
	const char *s = alt_names;

	if (!out)
		return NULL;
	out[0] = 0;
	while (*s) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (len && len < sizeof(item)) {
			memcpy(item, s, len);
			item[len] = 0;
			n += (size_t)snprintf(out + n, cap - n, "%s%s:%s", n ? "," : "",
			                      is_ip_literal(item) ? "IP" : "DNS", item);
		} else if (len) {
			free(out);
			return NULL;
		}
		s = e ? e + 1 : s + len;
	}
	return out;
}

int gws_x509_self_signed(const char *key_pem, const char *issuer_name, const char *not_before,
                         const char *not_after, const char *alt_names, char **out_pem)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	BIO *b = NULL;
	unsigned char serial[20];
	char *san = NULL;
	int r = GWS_FAILED, id;

	*out_pem = NULL;
	ERR_clear_error();
	k = read_key((const uint8_t *)key_pem, strlen(key_pem), 0);
	if (!k)
		goto done;
	x = X509_new();
	name = X509_NAME_new();
	if (!x || !name) {
		set_error("out of memory");
		goto done;
	}
	if (parse_name(name, issuer_name)) {
		ERR_clear_error();
		snprintf(last_error, sizeof(last_error), "invalid issuer name \"%s\"", issuer_name);
		r = GWS_ERR_INVALID_PARAMETER;
		goto done;
	}
	if (set_time(X509_getm_notBefore(x), not_before) ||
	    set_time(X509_getm_notAfter(x), not_after)) {
		ERR_clear_error();
		snprintf(last_error, sizeof(last_error),
		         "invalid validity \"%s\" - \"%s\" (YYYYMMDDhhmmss wanted)",
		         not_before, not_after);
		r = GWS_ERR_INVALID_PARAMETER;
		goto done;
	}
	/* a random positive 20-byte serial, as Godot */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	serial[0] |= 0x01;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!X509_set_version(x, X509_VERSION_3) || !bn ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    !X509_set_pubkey(x, k))
		goto fail;
	/* Godot: CA:TRUE, pathlen 0 (mbedtls marks it critical) */
	if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(x, NID_subject_key_identifier, "hash"))
		goto fail;
	if (alt_names && *alt_names) {
		san = san_value(alt_names);
		if (!san || add_ext(x, NID_subject_alt_name, san)) {
			ERR_clear_error();
			snprintf(last_error, sizeof(last_error), "invalid alt_names \"%s\"", alt_names);
			r = GWS_ERR_INVALID_PARAMETER;
			goto done;
		}
	}
	/* SHA-256, as Godot; EdDSA keys sign without a separate digest */
	id = EVP_PKEY_get_base_id(k);
	if (!X509_sign(x, k, id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256()))
		goto fail;
	b = BIO_new(BIO_s_mem());
	if (!b || !PEM_write_bio_X509(b, x) || !(*out_pem = bio_to_string(b)))
		goto fail;
	r = GWS_OK;
	goto done;
fail:
	set_error("cannot create the certificate");
done:
	free(san);
	BIO_free(b);
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}

/* ---- server side ------------------------------------------------------------- */

/* LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS of a listener's vhost:
 * lws made the SSL_CTX without material (see gws_listener_create_vhost());
 * the whole certificate chain and the key go in here.  As in Godot, a
 * certificate or key that cannot be used does not stop the server: it is
 * logged, and every TLS handshake then fails (the connection is dropped).
 * Client certificates are not requested.  [S] */
void gws_tls_server_setup(struct gws_listener *l, void *ssl_ctx)
{
	SSL_CTX *sctx = ssl_ctx;
	const char *cert = l->tls.cert_pem, *key = l->tls.key_pem;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *k = NULL;
	const char *why = NULL;
	int i, skipped = 0;

	if (!sctx)
		return;
	/* No session tickets, as Godot's server (mbedTLS without ticket
	 * callbacks): a WebSocket connection lives long, resumption saves
	 * nothing.  And a TLS 1.3 ticket arrives after the client's handshake
	 * is done, when a client may already be writing its upgrade request:
	 * python websockets' sync client then reads (the tickets, on its
	 * receiving thread) and writes (the request) on one ssl socket at once,
	 * which is not safe, and lost the request about once in 100 handshakes
	 * on a loaded machine (docs/tls.md). */
	SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(sctx, 0);
	ERR_clear_error();
	last_error[0] = 0;
	if (!cert || !*cert) {
		why = "no certificate given";
	} else if (!key || !*key) {
		why = "no private key given";
	} else if (!(chain = sk_X509_new_null()) ||
	           gws_x509_read_chain((const uint8_t *)cert, strlen(cert), chain, &skipped)) {
		why = "the certificate cannot be read";
	} else if (!(k = read_key((const uint8_t *)key, strlen(key), 0))) {
		why = "the private key cannot be read";
	} else if (SSL_CTX_use_certificate(sctx, sk_X509_value(chain, 0)) != 1) {
		set_error("SSL_CTX_use_certificate");
		why = "the certificate cannot be used";
	} else if (SSL_CTX_use_PrivateKey(sctx, k) != 1 || SSL_CTX_check_private_key(sctx) != 1) {
		set_error("SSL_CTX_use_PrivateKey");
		why = "the private key does not match the certificate";
	} else {
		/* the rest of the chain goes to clients along with the leaf */
		SSL_CTX_clear_chain_certs(sctx);
		for (i = 1; i < sk_X509_num(chain); i++)
			if (SSL_CTX_add1_chain_cert(sctx, sk_X509_value(chain, i)) != 1) {
				set_error("SSL_CTX_add1_chain_cert");
				why = "the certificate chain cannot be used";
				break;
			}
	}
	if (why) {
		gws_ctx_lock(l->ctx);
		gws_emit_log_locked(l->group, 0, 40,
			"TLS server: %s%s%s%s; every connection will fail its TLS handshake",
			why, last_error[0] ? " (" : "", last_error, last_error[0] ? ")" : "");
		gws_ctx_unlock(l->ctx);
	}
	ERR_clear_error();
	EVP_PKEY_free(k);
	sk_X509_pop_free(chain, X509_free);
}
