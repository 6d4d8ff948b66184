/*
 * client.c - outgoing connections and the client vhosts they use.
 *
 * lws keeps client TLS settings (the trust store) per vhost, so each distinct
 * trusted chain gets its own client vhost, created on first use and kept for
 * the life of the context.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		if (ca) {
			info.client_ssl_ca_mem = ca;
			info.client_ssl_ca_mem_len = (unsigned int)strlen(ca);
		}
	}
	vh = lws_create_vhost(ctx->lws, &info);
	if (!vh)
		return GWS_ERR_CANT_CREATE;
	if (tls) {
		tv = calloc(1, sizeof(*tv));
		if (!tv)
			return GWS_ERR_OUT_OF_MEMORY;
		tv->ca_pem = ca ? strdup(ca) : NULL;
		tv->vhost = vh;
		tv->next = ctx->tls_vhosts;
		ctx->tls_vhosts = tv;
	}
	*out = vh;
	return GWS_OK;
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
	memset(&i, 0, sizeof(i));
	i.context = ctx->lws;
	i.vhost = vh;
	i.address = c->address;
	i.port = c->port;
	i.path = c->path;
	i.host = c->host_header;
	i.origin = NULL;
	i.protocol = c->protocols;
	i.local_protocol_name = "gws-client";
	i.opaque_user_data = c;
	i.pwsi = &c->wsi;
	if (c->tls) {
		i.ssl_connection = LCCSCF_USE_SSL;
		if (!c->tls->verify)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE |
			                    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
			                    LCCSCF_ALLOW_EXPIRED;
		else if (!c->tls->check_hostname)
			i.ssl_connection |= LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
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
