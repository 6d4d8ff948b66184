/*
 * client.c - outgoing connections and the client vhosts they use.
 *
 * lws keeps client TLS settings (the trust store) per vhost, so each distinct
 * trusted chain gets its own client vhost, created on first use and kept for
 * the life of the context.
 *
 * TLS verification is Godot's (spec 4.8), done here rather than by lws:
 *  - trust store: the system's (OpenSSL's default verify paths, which honour
 *    SSL_CERT_FILE / SSL_CERT_DIR), or only the given chain, whose every
 *    certificate is a trust anchor as in mbedtls (lws would load just the
 *    first one, and needs a self-signed root at the top);
 *  - host name: lws' check is always skipped (it would use the Host header);
 *    gws_client_verify() checks the leaf against gws_tls.server_name (the
 *    common_name_override, else the URL host) and logs why a certificate is
 *    refused;
 *  - SNI: the same server_name, set at the start of each handshake
 *    (lws would send the Host header's name); none for IP literals.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"

/* While gws_client_vhost_for() creates a TLS client vhost on this thread:
 * the trusted chain (NULL: the system store) for gws_client_tls_setup(). */
static _Thread_local const char *loading_ca;
static _Thread_local bool loading_tls, loading_done, loading_failed;

/* SSL_CTX ex_data slot holding the gws_context of a client SSL_CTX. */
static int ssl_ctx_slot = -1;
static pthread_once_t ssl_ctx_slot_once = PTHREAD_ONCE_INIT;

static void make_ssl_ctx_slot(void)
{
	ssl_ctx_slot = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

gws_tls *gws_tls_copy(const gws_tls *t)
{
	gws_tls *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	*c = *t;
	c->ca_pem = t->ca_pem ? strdup(t->ca_pem) : NULL;
	c->cert_pem = t->cert_pem ? strdup(t->cert_pem) : NULL;
	c->key_pem = t->key_pem ? strdup(t->key_pem) : NULL;
	c->server_name = t->server_name ? strdup(t->server_name) : NULL;
	if ((t->ca_pem && !c->ca_pem) || (t->cert_pem && !c->cert_pem) ||
	    (t->key_pem && !c->key_pem) || (t->server_name && !c->server_name)) {
		gws_tls_free(c);
		return NULL;
	}
	return c;
}

void gws_tls_free(gws_tls *t)
{
	if (!t)
		return;
	free((char *)t->ca_pem);
	free((char *)t->cert_pem);
	free((char *)t->key_pem);
	free((char *)t->server_name);
	free(t);
}

int gws_client_vhost_for(gws_context *ctx, const gws_tls *tls, struct lws_vhost **out)
{
	struct lws_context_creation_info info;
	gws_tls_vhost *tv;
	const char *ca = tls ? tls->ca_pem : NULL;
	struct lws_vhost *vh;

	if (!tls && ctx->client_vhost) {
		*out = ctx->client_vhost;
		return GWS_OK;
	}
	if (tls) {
		for (tv = ctx->tls_vhosts; tv; tv = tv->next)
			if ((!tv->ca_pem && !ca) || (tv->ca_pem && ca && !strcmp(tv->ca_pem, ca))) {
				*out = tv->vhost;
				return GWS_OK;
			}
	}
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = gws_client_protocols;
	info.vhost_name = tls ? "gws-client-tls" : "gws-client";
	if (tls) {
		/* The system store is loaded once, by gws_client_tls_setup(). */
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		               LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
		if (ca) {
			/* Only for lws' SSL_CTX sharing, which is keyed on it:
			 * the store is rebuilt by gws_client_tls_setup(). */
			info.client_ssl_ca_mem = ca;
			info.client_ssl_ca_mem_len = (unsigned int)strlen(ca);
		}
	}
	loading_tls = tls != NULL;
	loading_ca = ca;
	loading_done = loading_failed = false;
	vh = lws_create_vhost(ctx->lws, &info);
	loading_tls = false;
	loading_ca = NULL;
	/* a TLS vhost without our trust store would verify with lws' */
	if (vh && (loading_failed || (tls && !loading_done))) {
		lws_vhost_destroy(vh);
		vh = NULL;
	}
	if (!vh)
		return GWS_ERR_CANT_CREATE;
	if (tls) {
		tv = calloc(1, sizeof(*tv));
		if (tv && ca && !(tv->ca_pem = strdup(ca))) {
			free(tv);
			tv = NULL;
		}
		if (!tv) {
			lws_vhost_destroy(vh);
			return GWS_ERR_OUT_OF_MEMORY;
		}
		tv->vhost = vh;
		tv->next = ctx->tls_vhosts;
		ctx->tls_vhosts = tv;
	}
	*out = vh;
	return GWS_OK;
}

void gws_client_vhosts_free(gws_context *ctx)
{
	gws_tls_vhost *tv;

	while ((tv = ctx->tls_vhosts)) {
		ctx->tls_vhosts = tv->next;
		free(tv->ca_pem);
		free(tv);
	}
}

/* SSL_CB_HANDSHAKE_START of a client SSL: sets the SNI to the connection's
 * server_name before the ClientHello is written.  [S] */
static void sni_info_callback(const SSL *ssl, int where, int ret)
{
	gws_context *ctx;
	struct gws_conn *c;
	const char *name = NULL;
	char sni[256] = "";
	bool found = false;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START) || ssl_ctx_slot < 0)
		return;
	ctx = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ssl_ctx_slot);
	if (!ctx)
		return;
	gws_ctx_lock(ctx);
	for (c = ctx->conns; c; c = c->cnext)
		if (c->is_client && c->tls && c->wsi && lws_get_ssl(c->wsi) == ssl) {
			name = c->tls->server_name && *c->tls->server_name ? c->tls->server_name
			                                                   : c->address;
			/* RFC 6066: no IP literals in SNI */
			if (name && !is_ip_literal(name) && strlen(name) < sizeof(sni))
				strcpy(sni, name);
			found = true;
			break;
		}
	gws_ctx_unlock(ctx);
	if (found)
		SSL_set_tlsext_host_name((SSL *)ssl, *sni ? sni : NULL);
}

void gws_client_tls_setup(struct lws *wsi, void *ssl_ctx)
{
	SSL_CTX *sctx = ssl_ctx;
	gws_context *ctx = lws_context_user(lws_get_context(wsi));
	X509_STORE *st;

	if (!sctx || !loading_tls)
		return;
	pthread_once(&ssl_ctx_slot_once, make_ssl_ctx_slot);
	if (ssl_ctx_slot < 0 || !SSL_CTX_set_ex_data(sctx, ssl_ctx_slot, ctx)) {
		loading_failed = true;
		return;
	}
	SSL_CTX_set_info_callback(sctx, sni_info_callback);
	/* A new store: exactly the given chain, or exactly the system store
	 * (lws adds a directory relative to the working directory to it). */
	st = X509_STORE_new();
	if (!st) {
		loading_failed = true;
		return;
	}
	if (loading_ca) {
		STACK_OF(X509) *chain = sk_X509_new_null();
		int i, skipped = 0;

		if (!chain || gws_x509_read_chain((const uint8_t *)loading_ca, strlen(loading_ca),
		                                  chain, &skipped) != GWS_OK) {
			loading_failed = true;
		} else {
			for (i = 0; i < sk_X509_num(chain); i++)
				if (X509_STORE_add_cert(st, sk_X509_value(chain, i)) != 1)
					loading_failed = true;
		}
		sk_X509_pop_free(chain, X509_free);
		/* every certificate of the chain is a trust anchor (mbedtls) */
		X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	} else if (X509_STORE_set_default_paths(st) != 1) {
		loading_failed = true;
	}
	ERR_clear_error();
	if (loading_failed) {
		X509_STORE_free(st);
		return;
	}
	SSL_CTX_set_cert_store(sctx, st);  /* frees lws' store */
	loading_done = true;
}

int gws_client_verify(struct gws_conn *c, void *x509_store_ctx, int preverify_ok)
{
	X509_STORE_CTX *xs = x509_store_ctx;
	const gws_tls *t = c->tls;
	X509 *cert = X509_STORE_CTX_get_current_cert(xs);
	int depth = X509_STORE_CTX_get_error_depth(xs);
	char subject[256] = "?";
	const char *name;
	bool ip, ok;

	if (!t)
		return preverify_ok ? 0 : 1;
	if (!t->verify) {
		/* client_unsafe() without a chain: anything goes */
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return 0;
	}
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	if (!preverify_ok) {
		int err = X509_STORE_CTX_get_error(xs);

		gws_ctx_lock(c->ctx);
		gws_emit_log_locked(c->group, c->serial, 40,
			"TLS: the server's certificate was refused: %s (depth %d, %s)",
			X509_verify_cert_error_string(err), depth, subject);
		gws_ctx_unlock(c->ctx);
		return 1;
	}
	if (depth != 0 || !t->check_hostname || !cert)
		return 0;
	name = t->server_name && *t->server_name ? t->server_name : c->address;
	ip = is_ip_literal(name);
	/* An IP is matched against IP addresses, and also as a string
	 * against the DNS names / common name (mbedtls matches strings). */
	ok = (ip && X509_check_ip_asc(cert, name, 0) == 1) ||
	     X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
	if (ok)
		return 0;
	X509_STORE_CTX_set_error(xs, ip ? X509_V_ERR_IP_ADDRESS_MISMATCH
	                                : X509_V_ERR_HOSTNAME_MISMATCH);
	gws_ctx_lock(c->ctx);
	gws_emit_log_locked(c->group, c->serial, 40,
		"TLS: the server's certificate was refused: it is not valid for \"%s\" (%s)%s",
		name, subject,
		t->server_name && *t->server_name && strcmp(name, c->address)
		? "" : "; TLSOptions.client(chain, common_name_override) sets the name to check");
	gws_ctx_unlock(c->ctx);
	return 1;
}

static void fail_locked(struct gws_conn *c, const char *why)
{
	gws_emit_log_locked(c->group, c->serial, 40, "Connection failed: %s", why);
	gws_conn_report_closed_locked(c, -1, "", 0);
}

void gws_client_connect(struct gws_conn *c)
{
	gws_context *ctx = c->ctx;
	struct lws_client_connect_info i;
	struct lws_vhost *vh = NULL;
	struct lws *wsi;

	gws_ctx_lock(ctx);
	if (c->closed_reported || c->caller_released || !c->address) {
		gws_ctx_unlock(ctx);
		return;
	}
	gws_ctx_unlock(ctx);

	if (gws_client_vhost_for(ctx, c->tls, &vh) != GWS_OK) {
		gws_ctx_lock(ctx);
		fail_locked(c, "cannot set up the TLS client context (bad trusted chain?)");
		gws_ctx_unlock(ctx);
		return;
	}
	/* ws:// on a raw socket (wsclient.c).  Not wss://: lws 4.1.6 starts
	 * the TLS handshake of a RAW client before its socket is connected
	 * (connect.c, without LWS_WITH_SYS_ASYNC_DNS), which always fails. */
	if (!c->tls && gws_wsc_enabled() && gws_wsc_start(c)) {
		gws_ctx_lock(ctx);
		fail_locked(c, "out of memory");
		gws_ctx_unlock(ctx);
		return;
	}
	memset(&i, 0, sizeof(i));
	i.context = ctx->lws;
	i.vhost = vh;
	i.address = c->address;
	i.port = c->port;
	i.path = c->path;
	i.host = c->host_header;
	i.origin = NULL;
	i.local_protocol_name = "gws-client";
	if (c->wsc) {
		/* a raw socket: the WebSocket handshake is wsclient.c's */
		i.method = "RAW";
	} else {
		i.protocol = c->protocols;
	}
	i.opaque_user_data = c;
	i.pwsi = &c->wsi;
	if (c->tls) {
		/* the host name is checked by gws_client_verify() */
		i.ssl_connection = LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
		if (!c->tls->verify)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE |
			                    LCCSCF_ALLOW_EXPIRED;
	}
	/* The wsi's reference is taken before lws may call back (and even
	 * destroy the wsi) from inside the connect call. */
	gws_conn_ref(c);
	c->wsi_ref = true;
	wsi = lws_client_connect_via_info(&i);
	if (!wsi) {
		gws_ctx_lock(ctx);
		if (!c->closed_reported)
			fail_locked(c, "cannot start the connection");
		gws_ctx_unlock(ctx);
		if (c->wsi_ref) {
			c->wsi_ref = false;
			c->wsi = NULL;
			gws_conn_unref(c);
		}
	}
}
