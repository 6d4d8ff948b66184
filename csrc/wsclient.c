/*
 * wsclient.c - the client side of RFC 6455 on a raw lws socket.
 *
 * Why: lws 4.1 parses what a WebSocket client receives one byte at a time
 * (lws_ws_client_rx_sm() per byte, ~6 ns each: a 1 MiB message costs ~6 ms
 * of the service thread), while its server side hands payload over in bulk.
 * So outgoing ws:// connections are made as lws "RAW" client sockets (lws
 * still resolves, connects, buffers partial writes, runs timeouts) and
 * the core speaks the WebSocket protocol on them itself: the upgrade request
 * and response here, the frames it receives in wsproto.c (shared with the
 * server side, wsserver.c).  Frames it sends were already the core's own
 * (callback.c, gws_do_write()).
 *
 * What the peer sees and what the caller sees are what the lws client did
 * (docs/differences.md), except that the request carries exactly Godot's
 * header list.  GODOT_WEBSOCKET_CLIENT=lws makes connections lws WebSocket
 * clients again.  wss:// connections always are (client.c: lws 4.1.6 cannot
 * do TLS on a RAW client socket).
 *
 * Everything here runs on the service thread [S].
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

/* Largest response head accepted (Godot's limit). */
#define WSC_MAX_HEAD 4096
/* lws' guard of the handshake, kept. */
#define WSC_HANDSHAKE_SECS 20

int gws_wsc_start(struct gws_conn *c)
{
	struct gws_wsc *w;
	uint8_t key[16];
	char key64[32];
	gws_bytes *r;
	bool bad;
	int i;

	gws_wsc_free(c);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	for (i = 0; i < 4; i++)
		gws_mask_key(c->ctx, key + 4 * i);
	EVP_EncodeBlock((unsigned char *)key64, key, (int)sizeof(key));
	if (!gws_ws_accept(key64, strlen(key64), w->accept)) {
		free(w);
		return -1;
	}

	/* Godot's request, header for header (spec 4.6). */
	r = &w->out;
	gws_ctx_lock(c->ctx);
	bad = gws_bytes_puts(r, "GET ") || gws_bytes_puts(r, c->path) || gws_bytes_puts(r, " HTTP/1.1\r\nHost: ") ||
	      gws_bytes_puts(r, c->host_header) ||
	      gws_bytes_puts(r, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ") ||
	      gws_bytes_puts(r, key64) || gws_bytes_puts(r, "\r\nSec-WebSocket-Version: 13\r\n");
	if (!bad && c->protocols && *c->protocols)
		bad = gws_bytes_puts(r, "Sec-WebSocket-Protocol: ") || gws_bytes_puts(r, c->protocols) || gws_bytes_puts(r, "\r\n");
	if (!bad && c->headers && *c->headers)
		bad = gws_bytes_puts(r, c->headers) || gws_bytes_puts(r, "\r\n");
	if (!bad)
		bad = gws_bytes_puts(r, "\r\n");
	gws_ctx_unlock(c->ctx);
	if (bad) {
		gws_bytes_free(r);
		free(w);
		return -1;
	}
	c->wsc = w;
	return 0;
}

/* The handshake failed: CLOSED (-1), logged as lws' connection errors are. */
static int fail_handshake(struct gws_conn *c, int level, const char *why)
{
	gws_ctx_lock(c->ctx);
	if (!c->closed_reported) {
		if (level == 40)
			gws_emit_log_locked(c->group, c->serial, level, "%s", why);
		else
			gws_emit_log_locked(c->group, c->serial, level, "Connection failed: %s", why);
		gws_conn_report_closed_locked(c, -1, "", 0);
	}
	gws_ctx_unlock(c->ctx);
	return -1;
}

int gws_wsc_connected(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w = c->wsc;

	if (!w || w->phase != WSC_CONNECTING)
		return 0;
	w->phase = WSC_REQUEST;
	lws_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE, WSC_HANDSHAKE_SECS);
	lws_callback_on_writable(wsi);
	return 0;
}

/* ---- the response ------------------------------------------------------------ */

static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(s, lit, n);
}

/* Whether the comma-separated list holds an item equal to s[0..n) (exact). */
static bool in_list(const char *list, const char *s, size_t n, bool nocase)
{
	while (list && *list) {
		const char *e = strchr(list, ',');
		size_t k = e ? (size_t)(e - list) : strlen(list);
		const char *item = list;

		gws_trim(&item, &k);
		if (k == n && (nocase ? !strncasecmp(item, s, n) : !memcmp(item, s, n)))
			return true;
		list = e ? e + 1 : NULL;
	}
	return false;
}

/* Checks the response head (head[0..n), "\r\n\r\n" included) as the lws
 * client did.  Returns NULL when it is good, else why not; *level: the log
 * level of that line. */
static const char *check_response(struct gws_conn *c, const char *head, size_t n,
                                  char **selected, int *level)
{
	const char *p = head, *end = head + n, *eol, *line;
	size_t len;
	gws_head_field up = {0}, conn = {0}, acc = {0}, proto = {0}, ext = {0};
	const char *sp;
	bool offered_any;

	*level = 30;
	*selected = NULL;
	eol = memchr(p, '\n', (size_t)(end - p));
	/* "HTTP/1.1 101 Switching Protocols" */
	if (!eol || eol - p < 12 || memcmp(p, "HTTP/1.", 7) || p[8] != ' ')
		return "HS: bad response status line";
	sp = p + 9;
	if (memcmp(sp, "101", 3) || (sp[3] != ' ' && sp[3] != '\r' && sp[3] != '\n'))
		return "HS: ws upgrade response not 101";
	for (p = eol + 1; gws_head_line(&p, end, &line, &len);) {
		const char *colon, *v;
		size_t vn;
		gws_head_field *h = NULL;

		colon = memchr(line, ':', len);
		if (!colon)
			return "HS: malformed header line";
		v = colon + 1;
		vn = len - (size_t)(v - line);
		gws_trim(&v, &vn);
		len = (size_t)(colon - line);
		if (token_eq(line, len, "upgrade"))
			h = &up;
		else if (token_eq(line, len, "connection"))
			h = &conn;
		else if (token_eq(line, len, "sec-websocket-accept"))
			h = &acc;
		else if (token_eq(line, len, "sec-websocket-protocol"))
			h = &proto;
		else if (token_eq(line, len, "sec-websocket-extensions"))
			h = &ext;
		if (h) {
			/* a repeated header: the first one counts, except that
			 * any repetition of the accept hash is suspect */
			if (!h->count) {
				h->v = v;
				h->n = vn;
			}
			h->count++;
		}
	}
	if (!acc.count || !acc.n)
		return "HS: ACCEPT missing";
	if (!up.count)
		return "HS: UPGRADE missing";
	if (!token_eq(up.v, up.n, "websocket"))
		return "HS: Upgrade to something other than websocket";
	{
		/* Connection: a comma-separated list holding "upgrade" */
		char tmp[256];
		size_t k = conn.n < sizeof(tmp) - 1 ? conn.n : sizeof(tmp) - 1;

		memcpy(tmp, conn.v ? conn.v : "", k);
		tmp[k] = 0;
		if (!conn.count || !in_list(tmp, "upgrade", 7, true))
			return "HS: UPGRADE malformed";
	}
	if (ext.count && ext.n)
		return "HS: EXT: the server accepted an extension we did not offer";
	if (acc.count != 1 || acc.n != strlen(c->wsc->accept) ||
	    memcmp(acc.v, c->wsc->accept, acc.n))
		return "HS: Accept hash wrong";
	offered_any = c->protocols && *c->protocols;
	if (proto.count && proto.n) {
		if (!offered_any || !in_list(c->protocols, proto.v, proto.n, false))
			return "HS: PROTOCOL malformed";
		*selected = strndup(proto.v, proto.n);
		if (!*selected)
			return "out of memory";
	} else if (offered_any) {
		*level = 40;
		return "Requested sub-protocol(s) but the server selected none";
	}
	return NULL;
}

/* Bytes of the response; then whatever followed it goes to the frames. */
int gws_wsc_on_response(struct gws_conn *c, struct lws *wsi, uint8_t *in, size_t len)
{
	struct gws_wsc *w = c->wsc;
	size_t old = w->in.len, scan, headlen;
	const char *why;
	char *selected = NULL;
	uint8_t *end;
	int level;

	if (gws_bytes_append(&w->in, in, len))
		return fail_handshake(c, 30, "out of memory");
	/* "\r\n\r\n" may straddle the previous read */
	scan = old > 3 ? old - 3 : 0;
	end = w->in.len >= 4 ? memmem(w->in.data + scan, w->in.len - scan, "\r\n\r\n", 4) : NULL;
	if (!end) {
		if (w->in.len > WSC_MAX_HEAD)
			return fail_handshake(c, 30, "HS: response head too large");
		return 0;
	}
	headlen = (size_t)(end - w->in.data) + 4;
	if (headlen > WSC_MAX_HEAD)
		return fail_handshake(c, 30, "HS: response head too large");
	why = check_response(c, (const char *)w->in.data, headlen, &selected, &level);
	if (why)
		return fail_handshake(c, level, why);

	/* As on_client_pre_establish() does for lws clients: c->protocols
	 * becomes the selected sub-protocol, for gws_on_open(). */
	gws_ctx_lock(c->ctx);
	free(c->protocols);
	c->protocols = selected;
	gws_ctx_unlock(c->ctx);
	return gws_wsc_opened(c, wsi, headlen);
}

/* WRITEABLE before the response: the request goes out.  -1: close. */
int gws_wsc_send_request(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w = c->wsc;

	w->phase = WSC_RESPONSE;
	if (lws_write(wsi, w->out.data, w->out.len, LWS_WRITE_HTTP) < (int)w->out.len)
		return fail_handshake(c, 30, "cannot send the request");
	gws_bytes_free(&w->out);
	return 0;
}
