/*
 * listener.c - listening sockets: one lws vhost per listener, created and
 * destroyed on the service thread, with the listener's sub-protocols as the
 * vhost's protocol table (lws selects among them during the handshake).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void gws_listener_ref(struct gws_listener *l) { atomic_fetch_add(&l->refs, 1); }

void gws_listener_unref(struct gws_listener *l)
{
	size_t i;
	gws_context *ctx;

	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	ctx = l->ctx;
	for (i = 0; i < l->nprotocols; i++)
		free(l->protocol_names[i]);
	free(l->protocol_names);
	free(l->protocols);
	free((char *)l->args.bind_address);
	free((char *)l->args.protocols);
	free((char *)l->args.headers);
	free((char *)l->tls.cert_pem);
	free((char *)l->tls.key_pem);
	gws_group_unref(l->group);
	free(l);
	gws_context_release(ctx);
}

static int build_protocols(struct gws_listener *l)
{
	const char *s = l->args.protocols;
	size_t n = 0, cap = 4;

	l->protocols = calloc(cap + 2, sizeof(*l->protocols));
	l->protocol_names = calloc(cap, sizeof(char *));
	if (!l->protocols || !l->protocol_names)
		return -1;
	/* Entry 0 takes connections that ask for no sub-protocol. */
	l->protocols[0].name = "";
	l->protocols[0].callback = gws_lws_callback;
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (len) {
			if (n == cap) {
				struct lws_protocols *p;
				char **names;

				cap *= 2;
				p = realloc(l->protocols, (cap + 2) * sizeof(*p));
				if (!p)
					return -1;
				l->protocols = p;
				names = realloc(l->protocol_names, cap * sizeof(char *));
				if (!names)
					return -1;
				l->protocol_names = names;
			}
			l->protocol_names[n] = strndup(s, len);
			if (!l->protocol_names[n])
				return -1;
			memset(&l->protocols[n + 1], 0, sizeof(l->protocols[0]));
			l->protocols[n + 1].name = l->protocol_names[n];
			l->protocols[n + 1].callback = gws_lws_callback;
			n++;
		}
		s = e ? e + 1 : NULL;
	}
	memset(&l->protocols[n + 1], 0, sizeof(l->protocols[0]));
	l->nprotocols = n;
	return 0;
}

int gws_listener_create_vhost(struct gws_listener *l)
{
	struct lws_context_creation_info info;
	const char *bind = l->args.bind_address;
	char name[64];
	unsigned char tmp[16];

	memset(&info, 0, sizeof(info));
	snprintf(name, sizeof(name), "gws-listener-%p", (void *)l);
	info.vhost_name = name;
	info.port = l->args.port;
	info.protocols = l->protocols;
	info.user = l;
	info.options = 0;
	if (bind && *bind && strcmp(bind, "*")) {
		info.iface = bind;
		if (inet_pton(AF_INET, bind, tmp) == 1)
			info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
		else
			info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY |
			                LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
	} else {
		/* every interface, IPv4 and IPv6 on one socket */
		info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;
	}
	if (l->tls.cert_pem || l->tls.key_pem) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		if (l->tls.cert_pem) {
			info.server_ssl_cert_mem = l->tls.cert_pem;
			info.server_ssl_cert_mem_len = (unsigned int)strlen(l->tls.cert_pem);
		}
		if (l->tls.key_pem) {
			info.server_ssl_private_key_mem = l->tls.key_pem;
			info.server_ssl_private_key_mem_len = (unsigned int)strlen(l->tls.key_pem);
		}
	}
	info.keepalive_timeout = 5;
	gws_listener_ref(l);
	l->vhost_ref = true;
	l->vhost = lws_create_vhost(l->ctx->lws, &info);
	if (!l->vhost && l->vhost_ref) {
		l->vhost_ref = false;
		gws_listener_unref(l);
	}
	if (!l->vhost)
		return l->tls.cert_pem || l->tls.key_pem ? GWS_ERR_CANT_CREATE
		                                          : GWS_ERR_ALREADY_IN_USE;
	l->port = lws_get_vhost_listen_port(l->vhost);
	return GWS_OK;
}

static int listener_new(gws_group *g, const gws_listen_args *args, gws_listener **out)
{
	gws_context *ctx = g->ctx;
	struct gws_listener *l;
	int r;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return GWS_ERR_OUT_OF_MEMORY;
	atomic_init(&l->refs, 1);
	l->ctx = ctx;
	gws_context_ref(ctx);
	l->group = g;
	gws_group_ref(g);
	l->args = *args;
	l->args.bind_address = args->bind_address ? strdup(args->bind_address) : NULL;
	l->args.protocols = args->protocols ? strdup(args->protocols) : NULL;
	l->args.headers = args->headers ? strdup(args->headers) : NULL;
	l->args.tls = NULL;
	if (args->tls) {
		l->tls.cert_pem = args->tls->cert_pem ? strdup(args->tls->cert_pem) : NULL;
		l->tls.key_pem = args->tls->key_pem ? strdup(args->tls->key_pem) : NULL;
		if (!l->tls.cert_pem && !l->tls.key_pem)
			l->tls.cert_pem = strdup("");
	}
	if (build_protocols(l)) {
		gws_listener_unref(l);
		return GWS_ERR_OUT_OF_MEMORY;
	}

	gws_ctx_lock(ctx);
	r = gws_post_locked(ctx, GWS_CMD_LISTEN, NULL, l, 0);
	if (r == GWS_OK) {
		if (ctx->threaded) {
			while (!l->done)
				pthread_cond_wait(&ctx->cond, &ctx->lock);
		} else {
			gws_ctx_unlock(ctx);
			gws_run_commands(ctx);
			gws_ctx_lock(ctx);
		}
		r = l->done ? l->result : GWS_FAILED;
	}
	gws_ctx_unlock(ctx);
	if (r != GWS_OK) {
		gws_listener_unref(l);
		return r;
	}
	*out = l;
	return GWS_OK;
}

int gws_listener_new(gws_group *g, const gws_listen_args *args, gws_listener **out)
{
	*out = NULL;
	if (args->port < 0 || args->port > 65535)
		return GWS_ERR_INVALID_PARAMETER;
	return listener_new(g, args, out);
}

int gws_conn_accept_fd(gws_conn *c, int fd, const char *protocols, const char *headers)
{
	gws_context *ctx = c->ctx;
	gws_listen_args a;
	gws_listener *l;
	int r;

	if (fd < 0)
		return GWS_ERR_INVALID_PARAMETER;
	gws_ctx_lock(ctx);
	r = c->state == GWS_STATE_CONNECTING || c->state == GWS_STATE_OPEN || c->wsi ||
	    c->listener ? GWS_ERR_ALREADY_IN_USE : GWS_OK;
	gws_ctx_unlock(ctx);
	if (r)
		return r;
	/* A vhost that listens nowhere carries the protocols and headers of
	 * this one server-side connection. */
	memset(&a, 0, sizeof(a));
	a.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	a.protocols = protocols;
	a.headers = headers;
	a.limits = c->limits;
	r = listener_new(c->group, &a, &l);
	if (r)
		return r;
	gws_ctx_lock(ctx);
	c->listener = l;  /* the conn keeps the vhost's listener */
	c->is_client = false;
	c->fd = fd;
	c->state = GWS_STATE_CONNECTING;
	c->closed_reported = false;
	c->close_code = -1;
	r = gws_post_locked(ctx, GWS_CMD_ACCEPT_FD, c, NULL, 0);
	if (r) {
		c->state = GWS_STATE_CLOSED;
		c->fd = -1;
	}
	gws_ctx_unlock(ctx);
	return r;
}

int gws_listener_port(const gws_listener *l) { return l->port; }

void gws_listener_pause(gws_listener *l, int paused)
{
	gws_ctx_lock(l->ctx);
	l->paused = paused != 0;
	gws_ctx_unlock(l->ctx);
}

void gws_listener_release(gws_listener *l)
{
	gws_context *ctx;

	if (!l)
		return;
	ctx = l->ctx;
	gws_ctx_lock(ctx);
	l->released = true;
	gws_post_locked(ctx, GWS_CMD_UNLISTEN, NULL, l, 0);
	gws_ctx_unlock(ctx);
	gws_listener_unref(l);
}
