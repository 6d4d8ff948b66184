/*
 * listener.c - listening sockets: one lws vhost per listener, created and
 * destroyed on the service thread, with the listener's sub-protocols as the
 * vhost's protocol table (lws selects among them during the handshake).
 *
 * Three lws 4.1 behaviours are worked around here:
 *
 * - lws_vhost_destroy() of a vhost that still has bound wsi (its listening
 *   socket always is one) defers the destruction to a check that never fires
 *   (the vhost's being_destroyed flag is never set in 4.1): the listening
 *   socket stayed open and kept accepting after the server was closed.
 *   gws_listener_stop() therefore closes every wsi of the vhost itself,
 *   listening socket included, so that the vhost is destroyed at once.
 * - A vhost created on the port (and interface) of a live vhost silently
 *   shares that vhost's listening socket instead of failing: a probe bind()
 *   in gws_listener_create_vhost() refuses a port that is in use.
 * - lws moves each new HTTP connection to the first vhost of the context
 *   listening on the same port (Host/SNI vhost selection), so no two vhosts
 *   of a context may ever have the same port: a dead vhost lingering on the
 *   port would capture the connections of a server restarted on it.  Both
 *   points above guarantee that.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* A callback reason of ours, sent to every wsi of a vhost by
 * lws_callback_all_protocol_vhost_args() to list them (see stop). */
#define GWS_CB_COLLECT (LWS_CALLBACK_USER + 0x6773)

typedef struct wsi_list {
	struct lws **v;
	size_t n, cap;
	bool failed;
} wsi_list;

/* Every protocol of a listener's vhost: the core's callback, plus the
 * collection above. */
static int listener_callback(struct lws *wsi, enum lws_callback_reasons reason,
                             void *user, void *in, size_t len)
{
	if ((int)reason == GWS_CB_COLLECT) {
		wsi_list *list = in;

		if (list->n == list->cap) {
			size_t cap = list->cap ? list->cap * 2 : 16;
			struct lws **v = realloc(list->v, cap * sizeof(*v));

			if (!v) {
				list->failed = true;
				return 0;
			}
			list->v = v;
			list->cap = cap;
		}
		list->v[list->n++] = wsi;
		return 0;
	}
	return gws_lws_callback(wsi, reason, user, in, len);
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
	l->protocols[0].callback = listener_callback;
	l->protocols[0].tx_packet_size = GWS_TX_PACKET_SIZE;
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
			l->protocols[n + 1].callback = listener_callback;
			l->protocols[n + 1].tx_packet_size = GWS_TX_PACKET_SIZE;
			n++;
		}
		s = e ? e + 1 : NULL;
	}
	memset(&l->protocols[n + 1], 0, sizeof(l->protocols[0]));
	l->nprotocols = n;
	return 0;
}

/* Binds (and releases) a socket like the one lws is about to create, to
 * learn whether the address and port are free: lws would share the socket
 * of a live vhost on the same port instead of failing. */
static int probe_bind(const char *bind_address, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, zero = 0, r = GWS_OK;

	memset(&ss, 0, sizeof(ss));
	if (!bind_address || !*bind_address || !strcmp(bind_address, "*")) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

		fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
			a6->sin6_family = AF_INET6;
			a6->sin6_addr = in6addr_any;
			a6->sin6_port = htons((uint16_t)port);
			sl = sizeof(*a6);
		} else {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			a4->sin_family = AF_INET;
			a4->sin_addr.s_addr = htonl(INADDR_ANY);
			a4->sin_port = htons((uint16_t)port);
			sl = sizeof(*a4);
		}
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET, bind_address, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)port);
			sl = sizeof(*a4);
		} else if (inet_pton(AF_INET6, bind_address, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)port);
			sl = sizeof(*a6);
		} else {
			return GWS_ERR_INVALID_PARAMETER;
		}
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (fd < 0)
		return GWS_ERR_CANT_CREATE;
	/* as lws (and Godot's TCPServer) do: TIME_WAIT does not block */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		r = GWS_ERR_ALREADY_IN_USE;  /* in use, or not a local address */
	close(fd);
	return r;
}

int gws_listener_create_vhost(struct gws_listener *l)
{
	struct lws_context_creation_info info;
	const char *bind = l->args.bind_address;
	char name[64];
	unsigned char tmp[16];
	int r;

	if (l->args.port != CONTEXT_PORT_NO_LISTEN_SERVER) {
		r = probe_bind(bind, l->args.port);
		if (r != GWS_OK)
			return r;
	}
	memset(&info, 0, sizeof(info));
	snprintf(name, sizeof(name), "gws-listener-%p", (void *)l);
	info.vhost_name = name;
	info.port = l->args.port;
	info.protocols = l->protocols;
	info.user = l;
	/* no silent "retry later" for an address that cannot be bound */
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	if (bind && *bind && strcmp(bind, "*")) {
		info.iface = bind;
		if (inet_pton(AF_INET, bind, tmp) == 1)
			info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
		else
			info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY |
			                LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
	} else {
		/* every interface, IPv4 and IPv6 on one socket; IPv4 alone on
		 * a host without IPv6 (lws would end up listening nowhere) */
		int fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd6 >= 0) {
			close(fd6);
			info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;
		} else {
			info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
		}
	}
	if (l->tls.cert_pem || l->tls.key_pem) {
		/* lws makes an empty SSL_CTX; gws_tls_server_setup() (tls.c)
		 * loads the whole chain and the key into it (lws would take
		 * the first certificate only, and fail the vhost on a bad
		 * pair where Godot fails each handshake).  lws also gives
		 * every TLS vhost a client SSL_CTX, unused here: without the
		 * system trust store it costs next to nothing. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		                LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX |
		                LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	}
	/* Non-TLS listeners hand connections over as raw sockets whose
	 * handshake and frames are the core's (wsserver.c, wsproto.c): lws'
	 * server unmasks input 4 bytes at a time.  TLS ones stay lws
	 * WebSocket servers, as does everything with GODOT_WEBSOCKET_SERVER=lws. */
	l->raw = !(l->tls.cert_pem || l->tls.key_pem) && gws_wss_enabled();
	if (l->raw && l->args.port != CONTEXT_PORT_NO_LISTEN_SERVER) {
		info.options |= LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
		info.listen_accept_role = "raw-skt";  /* bound to protocols[0] */
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

void gws_listener_stop(struct gws_listener *l)
{
	struct lws_vhost *vh = l->vhost;

	if (vh) {
		wsi_list list = { NULL, 0, 0, false };
		size_t i;

		/* Close the listening socket and every connection of the vhost
		 * now (gws_listener_release() drops them all anyway): with no
		 * wsi left bound to it, lws_vhost_destroy() destroys the vhost
		 * at once instead of never (see the top of the file).  Listed
		 * first, closed after: closing edits the table being walked. */
		lws_callback_all_protocol_vhost_args(vh, NULL, GWS_CB_COLLECT, &list, 0);
		if (list.failed) {
			gws_ctx_lock(l->ctx);
			gws_emit_log_locked(l->group, 0, 40,
			                    "Out of memory closing a server: its port stays busy");
			gws_ctx_unlock(l->ctx);
		}
		for (i = 0; i < list.n; i++)
			lws_set_timeout(list.v[i], PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
		free(list.v);
		l->vhost = NULL;
		lws_vhost_destroy(vh);
	}
	gws_ctx_lock(l->ctx);
	l->stopped = true;
	pthread_cond_broadcast(&l->ctx->cond);
	gws_ctx_unlock(l->ctx);
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
				gws_ctx_wait_locked(ctx);
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

int gws_conn_accept_fd(gws_conn *c, int fd, const char *protocols, const char *headers,
                       const char *head, size_t head_len)
{
	gws_context *ctx = c->ctx;
	gws_listen_args a;
	gws_listener *l;
	int r;

	if (fd < 0 || (head_len && !head))
		return GWS_ERR_INVALID_PARAMETER;
	if (!gws_wss_enabled())
		return GWS_ERR_UNAVAILABLE;
	gws_ctx_lock(ctx);
	r = c->state == GWS_STATE_CONNECTING || c->state == GWS_STATE_OPEN || c->wsi ||
	    c->listener ? GWS_ERR_ALREADY_IN_USE : GWS_OK;
	gws_ctx_unlock(ctx);
	if (r)
		return r;
	gws_bytes_free(&c->accept_head);
	if (head_len && gws_bytes_append(&c->accept_head, head, head_len))
		return GWS_ERR_OUT_OF_MEMORY;
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

void gws_listener_set_limits(gws_listener *l, const gws_limits *limits)
{
	gws_ctx_lock(l->ctx);
	l->args.limits = *limits;  /* read under the lock by on_server_wsi() */
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
	/* Synchronous, as Godot's TCPServer::stop(): when this returns the
	 * port is free (a new server may bind it at once) and new connection
	 * attempts are refused. */
	if (gws_post_locked(ctx, GWS_CMD_UNLISTEN, NULL, l, 0) == GWS_OK) {
		if (!ctx->threaded) {
			gws_ctx_unlock(ctx);
			gws_run_commands(ctx);
			gws_ctx_lock(ctx);
		} else if (!pthread_equal(pthread_self(), ctx->thread)) {
			while (!l->stopped)
				gws_ctx_wait_locked(ctx);
		}
	}
	gws_ctx_unlock(ctx);
	gws_listener_unref(l);
}
