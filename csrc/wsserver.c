/*
 * wsserver.c - the server side of the RFC 6455 handshake on a raw lws socket.
 *
 * Why: lws 4.1's server unmasks what clients send 4 bytes per loop iteration
 * (37 % of the service thread on 1 MiB messages, docs/performance.md).  So
 * non-TLS listeners hand their connections over as lws "RAW" sockets
 * (listener.c: listen_accept_role "raw-skt"; lws still accepts, buffers
 * partial writes, runs timeouts) and the core reads the upgrade request and
 * writes the 101 response itself; frames are wsproto.c's.
 *
 * What a client sees is what the lws server did (same accept/refuse
 * decisions, same response bytes, the same 403 page for the requests lws
 * answered with one), with two exceptions listed in docs/differences.md: the
 * requested path is reported as sent (lws decoded and normalised it), and
 * unmasked frames fail the connection (RFC 6455 5.1; lws took them).
 * GODOT_WEBSOCKET_SERVER=lws makes listeners lws WebSocket servers again; TLS
 * listeners always are.
 *
 * Everything here runs on the service thread [S].
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Largest request head (lws' header table held about as much; Godot's
 * limit too). */
#define WSS_MAX_HEAD 4096
/* lws dropped a connection that sent no complete request in 10 s. */
#define WSS_HANDSHAKE_SECS 10

int gws_wss_start(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w;

	gws_wsc_free(c);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->phase = WSS_REQUEST;
	c->wsc = w;
	lws_set_timeout(wsi, PENDING_TIMEOUT_HOLDING_AH, WSS_HANDSHAKE_SECS);
	return 0;
}

/* lws' answer to a request it could not route (unknown method, no URI,
 * an Upgrade to something else than websocket), byte for byte. */
static const char forbidden[] =
	"HTTP/1.0 403 Forbidden\r\ncontent-type: text/html\r\ncontent-length: 173\r\n\r\n"
	"<html><head><meta charset=utf-8 http-equiv=\"Content-Language\" content=\"en\"/>"
	"<link rel=\"stylesheet\" type=\"text/css\" href=\"/error.css\"/></head>"
	"<body><h1>403</h1></body></html>";


/* Whether the comma-separated list s[0..n) holds tok (case-insensitive). */
static bool list_has(const char *s, size_t n, const char *tok)
{
	size_t k = strlen(tok);

	while (n) {
		const char *e = memchr(s, ',', n);
		size_t len = e ? (size_t)(e - s) : n;
		const char *item = s;
		size_t in = len;

		gws_trim(&item, &in);
		if (in == k && !strncasecmp(item, tok, k))
			return true;
		if (!e)
			break;
		n -= len + 1;
		s = e + 1;
	}
	return false;
}

/* The outcome of a request head. */
enum { REQ_OK, REQ_DROP, REQ_403, REQ_NOMEM };

typedef struct request {
	char *host, *path, *proto, *accept;
	const char *key;
	size_t key_n;
} request;

static void request_free(request *r)
{
	free(r->host);
	free(r->path);
	free(r->proto);
	free(r->accept);
}

/* The sub-protocol to select: the first one of the client's list (every
 * Sec-WebSocket-Protocol line, in order, items trimmed) that the listener
 * serves, compared exactly, as lws did.  Returns false when the handshake
 * fails on it (the client offers some and none is ours, or offers none and
 * we serve some); *out: the one (NULL: none). */
static bool select_protocol(const struct gws_listener *l, const char *head, size_t n,
                            char **out)
{
	const char *p = head, *end = head + n;
	bool offered = false;

	*out = NULL;
	for (; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v;
		size_t len, vn;

		len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		colon = memchr(p, ':', len);
		if (colon && (size_t)(colon - p) == 22 &&
		    !strncasecmp(p, "sec-websocket-protocol", 22)) {
			v = colon + 1;
			vn = len - (size_t)(v - p);
			if (vn && v[vn - 1] == '\r')
				vn--;
			while (vn) {
				const char *e = memchr(v, ',', vn);
				size_t k = e ? (size_t)(e - v) : vn;
				const char *item = v;
				size_t in = k;
				size_t i;

				gws_trim(&item, &in);
				if (in)
					offered = true;
				for (i = 0; in && i < l->nprotocols; i++)
					if (strlen(l->protocol_names[i]) == in &&
					    !memcmp(l->protocol_names[i], item, in)) {
						*out = strndup(item, in);
						return *out != NULL;
					}
				if (!e)
					break;
				vn -= k + 1;
				v = e + 1;
			}
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return !offered && !l->nprotocols;
}

/* Checks the request head (head[0..n), the blank line included) as the lws
 * server did; fills r on REQ_OK. */
static int check_request(const struct gws_listener *l, const char *head, size_t n,
                         request *r)
{
	static const char *const methods[] = {
		"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD", NULL
	};
	const char *p = head, *end = head + n, *eol, *sp, *uri, *line;
	gws_head_field host = {0}, up = {0}, conn = {0}, key = {0};
	size_t len, urilen, i;
	bool get;

	memset(r, 0, sizeof(*r));
	/* request line: METHOD SP URI [SP VERSION]; lws took any version */
	eol = memchr(p, '\n', n);
	len = (size_t)(eol - p);
	if (len && p[len - 1] == '\r')
		len--;
	sp = memchr(p, ' ', len);
	if (!sp)
		return REQ_403;
	for (i = 0; methods[i]; i++)
		if ((size_t)(sp - p) == strlen(methods[i]) && !memcmp(p, methods[i], (size_t)(sp - p)))
			break;
	if (!methods[i])
		return REQ_403;
	get = i == 0;
	uri = sp + 1;
	urilen = len - (size_t)(uri - p);
	sp = memchr(uri, ' ', urilen);
	if (sp)
		urilen = (size_t)(sp - uri);
	if (!urilen)
		return REQ_403;

	for (p = eol + 1; gws_head_line(&p, end, &line, &len);) {
		const char *colon, *v;
		size_t vn;
		gws_head_field *f = NULL;

		colon = memchr(line, ':', len);
		/* lws' header parser gave up on a line without a colon or
		 * with a blank in the name */
		if (!colon || memchr(line, ' ', (size_t)(colon - line)) ||
		    memchr(line, '\t', (size_t)(colon - line)))
			return REQ_DROP;
		v = colon + 1;
		vn = len - (size_t)(v - line);
		gws_trim(&v, &vn);
		switch (colon - line) {
		case 4:
			if (!strncasecmp(line, "host", 4))
				f = &host;
			break;
		case 7:
			if (!strncasecmp(line, "upgrade", 7))
				f = &up;
			break;
		case 10:
			if (!strncasecmp(line, "connection", 10))
				f = &conn;
			break;
		case 17:
			if (!strncasecmp(line, "sec-websocket-key", 17))
				f = &key;
			break;
		}
		if (f && !f->count++) {
			f->v = v;
			f->n = vn;
		}
	}
	if (!host.count)
		return REQ_DROP;
	/* without both, lws served it as plain HTTP, which we refuse */
	if (!up.count || !conn.count || !list_has(conn.v, conn.n, "upgrade"))
		return REQ_DROP;
	if (up.n != 9 || strncasecmp(up.v, "websocket", 9))
		return REQ_403;
	if (!key.count || !key.n || key.n > 100)
		return REQ_DROP;
	if (!select_protocol(l, head, n, &r->proto))
		return REQ_DROP;

	r->accept = malloc(29);
	r->host = strndup(host.v, host.n);
	/* lws kept the path of a GET only */
	r->path = get ? strndup(uri, urilen) : strdup("");
	if (!r->accept || !r->host || !r->path || !gws_ws_accept(key.v, key.n, r->accept)) {
		request_free(r);
		memset(r, 0, sizeof(*r));
		return REQ_NOMEM;
	}
	return REQ_OK;
}

/* Where the head in b ends (just past its blank line), or 0. */
static size_t head_end(const gws_bytes *b, size_t from)
{
	size_t i;

	for (i = from; i < b->len; i++) {
		if (b->data[i] != '\n')
			continue;
		if (i + 1 < b->len && b->data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < b->len && b->data[i + 1] == '\r' && b->data[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

int gws_wss_on_request(struct gws_conn *c, struct lws *wsi, uint8_t *in, size_t len)
{
	struct gws_wsc *w = c->wsc;
	struct gws_listener *l = c->listener;
	size_t old = w->in.len, headlen;
	request r;
	gws_bytes resp = {0};
	int res;
	bool bad;

	if (!l || gws_bytes_append(&w->in, in, len))
		return -1;
	headlen = head_end(&w->in, old > 2 ? old - 2 : 0);
	if (!headlen || headlen > WSS_MAX_HEAD)
		/* lws dropped a head too large for its header table */
		return w->in.len > WSS_MAX_HEAD ? -1 : 0;
	res = check_request(l, (const char *)w->in.data, headlen, &r);
	if (res == REQ_403) {
		lws_write(wsi, (unsigned char *)forbidden, sizeof(forbidden) - 1, LWS_WRITE_HTTP);
		return -1;
	}
	if (res != REQ_OK)
		return -1;  /* dropped without an answer, as lws did */

	/* lws' response, header for header (roles/ws/server-ws.c) */
	bad = gws_bytes_puts(&resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Accept: ") ||
	      gws_bytes_puts(&resp, r.accept) || gws_bytes_puts(&resp, "\r\n");
	if (!bad && r.proto)
		bad = gws_bytes_puts(&resp, "Sec-WebSocket-Protocol: ") || gws_bytes_puts(&resp, r.proto) ||
		      gws_bytes_puts(&resp, "\r\n");
	if (!bad && l->args.headers && *l->args.headers)
		bad = gws_bytes_puts(&resp, l->args.headers) || gws_bytes_puts(&resp, "\r\n");
	if (!bad)
		bad = gws_bytes_puts(&resp, "\r\n");
	if (bad || lws_write(wsi, resp.data, resp.len, LWS_WRITE_HTTP) < (int)resp.len) {
		gws_bytes_free(&resp);
		request_free(&r);
		return -1;
	}
	gws_bytes_free(&resp);

	/* For gws_on_open(): the selected sub-protocol, Host and path. */
	gws_ctx_lock(c->ctx);
	free(c->protocols);
	free(c->host_header);
	free(c->path);
	c->protocols = r.proto;
	c->host_header = r.host;
	c->path = r.path;
	gws_ctx_unlock(c->ctx);
	free(r.accept);
	return gws_wsc_opened(c, wsi, headlen);
}
