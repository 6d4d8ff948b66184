/*
 * wsclient.c - the client side of RFC 6455 on a raw lws socket.
 *
 * Why: lws 4.1 parses what a WebSocket client receives one byte at a time
 * (lws_ws_client_rx_sm() per byte, ~6 ns each: a 1 MiB message costs ~6 ms
 * of the service thread), while its server side hands payload over in bulk.
 * So outgoing ws:// connections are made as lws "RAW" client sockets (lws
 * still resolves, connects, buffers partial writes, runs timeouts) and
 * the core speaks the WebSocket protocol on them itself: the upgrade request
 * and response, and the frames it receives.  Frames it sends were already
 * the core's own (callback.c, gws_do_write()).
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
/* lws' guards, kept: handshake, close reply, sending the close echo. */
#define WSC_HANDSHAKE_SECS 20
#define WSC_CLOSE_ACK_SECS 5
#define WSC_CLOSE_SEND_SECS 3

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static bool use_lws_client;

static void read_mode(void)
{
	const char *v = getenv("GODOT_WEBSOCKET_CLIENT");

	use_lws_client = v && !strcmp(v, "lws");
}

bool gws_wsc_enabled(void)
{
	pthread_once(&mode_once, read_mode);
	return !use_lws_client;
}

static void b64(const uint8_t *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static bool app(gws_bytes *b, const char *s)
{
	return gws_bytes_append(b, s, strlen(s)) != 0;
}

int gws_wsc_start(struct gws_conn *c)
{
	struct gws_wsc *w;
	uint8_t key[16], digest[EVP_MAX_MD_SIZE];
	char key64[32], buf[96];
	unsigned int dlen = 0;
	gws_bytes *r;
	bool bad;
	int i;

	gws_wsc_free(c);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	for (i = 0; i < 4; i++)
		gws_mask_key(c->ctx, key + 4 * i);
	b64(key, sizeof(key), key64);
	snprintf(buf, sizeof(buf), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key64);
	if (!EVP_Digest(buf, strlen(buf), digest, &dlen, EVP_sha1(), NULL) || dlen != 20) {
		free(w);
		return -1;
	}
	b64(digest, 20, w->accept);

	/* Godot's request, header for header (spec 4.6). */
	r = &w->out;
	gws_ctx_lock(c->ctx);
	bad = app(r, "GET ") || app(r, c->path) || app(r, " HTTP/1.1\r\nHost: ") ||
	      app(r, c->host_header) ||
	      app(r, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ") ||
	      app(r, key64) || app(r, "\r\nSec-WebSocket-Version: 13\r\n");
	if (!bad && c->protocols && *c->protocols)
		bad = app(r, "Sec-WebSocket-Protocol: ") || app(r, c->protocols) || app(r, "\r\n");
	if (!bad && c->headers && *c->headers)
		bad = app(r, c->headers) || app(r, "\r\n");
	if (!bad)
		bad = app(r, "\r\n");
	gws_ctx_unlock(c->ctx);
	if (bad) {
		gws_bytes_free(r);
		free(w);
		return -1;
	}
	c->wsc = w;
	return 0;
}

void gws_wsc_free(struct gws_conn *c)
{
	struct gws_wsc *w = c->wsc;

	if (!w)
		return;
	gws_bytes_free(&w->in);
	gws_bytes_free(&w->out);
	free(w);
	c->wsc = NULL;
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

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Whether the comma-separated list holds an item equal to s[0..n) (exact). */
static bool in_list(const char *list, const char *s, size_t n, bool nocase)
{
	while (list && *list) {
		const char *e = strchr(list, ',');
		size_t k = e ? (size_t)(e - list) : strlen(list);
		const char *item = list;

		trim(&item, &k);
		if (k == n && (nocase ? !strncasecmp(item, s, n) : !memcmp(item, s, n)))
			return true;
		list = e ? e + 1 : NULL;
	}
	return false;
}

typedef struct hdr {
	const char *v;
	size_t n;
	int count;
} hdr;

/* Checks the response head (head[0..n), "\r\n\r\n" included) as the lws
 * client did.  Returns NULL when it is good, else why not; *level: the log
 * level of that line. */
static const char *check_response(struct gws_conn *c, const char *head, size_t n,
                                  char **selected, int *level)
{
	const char *p = head, *end = head + n, *eol;
	hdr up = {0}, conn = {0}, acc = {0}, proto = {0}, ext = {0};
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
	for (p = eol + 1; p < end; p = eol + 1) {
		const char *colon, *v;
		size_t len, vn;
		hdr *h = NULL;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		len = (size_t)(eol - p);
		if (len && p[len - 1] == '\r')
			len--;
		if (!len)
			break;  /* the blank line */
		colon = memchr(p, ':', len);
		if (!colon)
			return "HS: malformed header line";
		v = colon + 1;
		vn = len - (size_t)(v - p);
		trim(&v, &vn);
		len = (size_t)(colon - p);
		if (token_eq(p, len, "upgrade"))
			h = &up;
		else if (token_eq(p, len, "connection"))
			h = &conn;
		else if (token_eq(p, len, "sec-websocket-accept"))
			h = &acc;
		else if (token_eq(p, len, "sec-websocket-protocol"))
			h = &proto;
		else if (token_eq(p, len, "sec-websocket-extensions"))
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

static int parse_frames(struct gws_conn *c, struct lws *wsi, uint8_t *p, size_t n);

/* Bytes of the response; then whatever followed it goes to the frames. */
static int on_response(struct gws_conn *c, struct lws *wsi, uint8_t *in, size_t len)
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
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	w->phase = WSC_OPEN;
	gws_on_open(c, wsi);

	/* Frames that came with the response. */
	{
		gws_bytes rest = w->in;
		int r;

		memset(&w->in, 0, sizeof(w->in));  /* parse_frames() may stash */
		r = parse_frames(c, wsi, rest.data + headlen, rest.len - headlen);
		gws_bytes_free(&rest);
		return r;
	}
}

/* ---- frames ------------------------------------------------------------------- */

static void unmask(struct gws_wsc *w, uint8_t *p, size_t n)
{
	gws_mask(p, n, w->mask, (size_t)(w->off & 3));
}

/* Close codes lws 4.1's client turns into 1002 (client-parser-ws.c). */
static bool close_code_bad(int code)
{
	return code < 1000 || code == 1004 || code == 1005 || code == 1006 ||
	       (code >= 1012 && code <= 1015) || (code >= 1016 && code < 3000);
}

/* One whole control frame.  Returns -1 to close the connection. */
static int on_control(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w = c->wsc;

	switch (w->op) {
	case 0x8:
		if (w->await_close)
			return -1;  /* the reply to our close: done */
		if (w->echo_due)
			return 0;
		if (w->ctl_len >= 2 && close_code_bad((w->ctl[0] << 8) | w->ctl[1])) {
			w->ctl[0] = 1002 >> 8;
			w->ctl[1] = 1002 & 0xff;
		}
		gws_on_peer_close(c, w->ctl, w->ctl_len);
		/* Echo it (after the frame being written, if any) and hang up;
		 * nothing queued after it goes out, nothing more is read. */
		memcpy(w->echo, w->ctl, w->ctl_len);
		w->echo_len = w->ctl_len;
		w->echo_due = true;
		w->halted = true;
		gws_ctx_lock(c->ctx);
		gws_conn_clear_tx_locked(c);
		gws_ctx_unlock(c->ctx);
		lws_rx_flow_control(wsi, 0);
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, WSC_CLOSE_SEND_SECS);
		lws_callback_on_writable(wsi);
		return 0;
	case 0x9:
		/* one pong owed at a time, for the first ping (as lws) */
		if (!w->pong_due && !w->await_close) {
			memcpy(w->pong, w->ctl, w->ctl_len);
			w->pong_len = w->ctl_len;
			w->pong_due = true;
			lws_callback_on_writable(wsi);
		}
		return 0;
	case 0xA:
		c->awaiting_pong = false;
		return 0;
	}
	return 0;
}

/* Parses p[0..n) (writable: masked payload is unmasked in place).  What it
 * cannot take now (reading paused) is kept in w->in.  -1: close. */
static int parse_frames(struct gws_conn *c, struct lws *wsi, uint8_t *p, size_t n)
{
	struct gws_wsc *w = c->wsc;

	while (n) {
		if (w->halted)
			return 0;  /* failed or closing: the rest is not read */
		if (w->paused) {
			/* back-pressure: keep the rest for gws_wsc_resume() */
			if (gws_bytes_append(&w->in, p, n))
				return -1;
			return 0;
		}
		if (!w->in_frame) {
			size_t need = 2, take;
			uint8_t b0, b1, len7;

			if (w->hlen >= 2) {
				len7 = w->hdr[1] & 0x7f;
				need += (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
				        ((w->hdr[1] & 0x80) ? 4 : 0);
			}
			take = need - w->hlen;
			if (take > n)
				take = n;
			memcpy(w->hdr + w->hlen, p, take);
			w->hlen += (uint8_t)take;
			p += take;
			n -= take;
			if (w->hlen < need)
				continue;
			if (need == 2) {
				len7 = w->hdr[1] & 0x7f;
				if (len7 >= 126 || (w->hdr[1] & 0x80))
					continue;  /* the header is longer */
			}
			/* the whole header */
			b0 = w->hdr[0];
			b1 = w->hdr[1];
			w->hlen = 0;
			w->fin = (b0 & 0x80) != 0;
			w->op = b0 & 0x0f;
			w->masked = (b1 & 0x80) != 0;
			len7 = b1 & 0x7f;
			if (len7 == 126) {
				w->left = ((uint64_t)w->hdr[2] << 8) | w->hdr[3];
			} else if (len7 == 127) {
				int i;

				w->left = 0;
				for (i = 0; i < 8; i++)
					w->left = (w->left << 8) | w->hdr[2 + i];
				if (w->left >> 63)
					return -1;
			} else {
				w->left = len7;
			}
			if (w->masked)
				memcpy(w->mask, w->hdr + need - 4, 4);
			w->off = 0;
			/* What the lws client drops the connection for. */
			if (b0 & 0x70)
				return -1;
			switch (w->op) {
			case 0x0:
				if (!w->msg_op)
					return -1;
				break;
			case 0x1:
			case 0x2:
				if (w->msg_op)
					return -1;
				w->msg_op = w->op;
				break;
			case 0x8:
			case 0x9:
			case 0xA:
				if (!w->fin || w->left > 125)
					return -1;
				w->ctl_len = 0;
				break;
			default:
				return -1;
			}
			w->in_frame = true;
			if (w->op >= 0x8 && !w->left) {
				w->in_frame = false;
				if (on_control(c, wsi))
					return -1;
				continue;
			}
			if (w->op >= 0x8 || w->left)
				continue;
			/* an empty data frame: delivered as lws does */
		}
		if (w->op >= 0x8) {
			size_t k = w->left < n ? (size_t)w->left : n;

			memcpy(w->ctl + w->ctl_len, p, k);
			if (w->masked)
				gws_mask(w->ctl + w->ctl_len, k, w->mask, w->ctl_len & 3);
			w->ctl_len += (uint8_t)k;
			w->left -= k;
			p += k;
			n -= k;
			if (w->left)
				continue;
			w->in_frame = false;
			if (on_control(c, wsi))
				return -1;
			continue;
		}
		{
			/* data: straight to the message being gathered */
			size_t k = w->left < n ? (size_t)w->left : n;
			bool final;
			int r = 0;

			if (w->masked) {
				unmask(w, p, k);
				w->off += k;
			}
			w->left -= k;
			final = w->fin && !w->left;
			if (!w->await_close)
				r = gws_rx_data(c, wsi, p, k, final, (size_t)w->left, w->msg_op == 0x2);
			p += k;
			n -= k;
			if (!w->left) {
				w->in_frame = false;
				if (w->fin)
					w->msg_op = 0;
			}
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

/* Parses the input kept in w->in.  -1: close. */
static int parse_kept(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w = c->wsc;
	gws_bytes rest = w->in;
	int r;

	memset(&w->in, 0, sizeof(w->in));  /* parse_frames() may keep some again */
	r = parse_frames(c, wsi, rest.data, rest.len);
	gws_bytes_free(&rest);
	return r;
}

int gws_wsc_rx(struct gws_conn *c, struct lws *wsi, void *in, size_t len)
{
	struct gws_wsc *w = c->wsc;

	if (!w)
		return -1;
	switch (w->phase) {
	case WSC_RESPONSE:
		return on_response(c, wsi, in, len);
	case WSC_OPEN:
		if (w->in.len) {
			/* input kept from before goes first */
			if (gws_bytes_append(&w->in, in, len))
				return -1;
			return w->paused ? 0 : parse_kept(c, wsi);
		}
		return parse_frames(c, wsi, in, len);
	default:
		return -1;  /* nothing may arrive before our request */
	}
}

void gws_wsc_resume(struct gws_conn *c)
{
	struct gws_wsc *w = c->wsc;

	if (!w)
		return;
	w->paused = false;
	if (!w->in.len || w->phase != WSC_OPEN || !c->wsi)
		return;
	if (parse_kept(c, c->wsi) < 0) {
		/* As after a -1 from RAW_RX: nothing more is read or parsed
		 * (the parser stopped mid-frame) until the connection is gone.
		 * Reading was turned on again above; input that arrives before
		 * the kill would otherwise be parsed out of place. */
		w->halted = true;
		lws_rx_flow_control(c->wsi, 0);
		if (!c->dropping) {
			c->dropping = true;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
	}
}

/* ---- writing ------------------------------------------------------------------ */

int gws_wsc_writeable(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w = c->wsc;

	if (!w)
		return -1;
	switch (w->phase) {
	case WSC_REQUEST:
		w->phase = WSC_RESPONSE;
		if (lws_write(wsi, w->out.data, w->out.len, LWS_WRITE_HTTP) < (int)w->out.len)
			return fail_handshake(c, 30, "cannot send the request");
		gws_bytes_free(&w->out);
		return 0;
	case WSC_OPEN:
		return gws_do_write(c, false);
	default:
		return 0;
	}
}

size_t gws_wsc_put_control(struct gws_conn *c, uint8_t *out, bool *hang_up)
{
	struct gws_wsc *w = c->wsc;
	uint8_t mask[4];
	size_t n = 0, h;

	*hang_up = false;
	if (w->pong_due) {
		w->pong_due = false;
		gws_mask_key(c->ctx, mask);
		h = gws_frame_header(out, 0xA, w->pong_len, mask);
		memcpy(out + h, w->pong, w->pong_len);
		gws_mask(out + h, w->pong_len, mask, 0);
		n += h + w->pong_len;
	}
	if (w->echo_due) {
		w->echo_due = false;
		gws_mask_key(c->ctx, mask);
		h = gws_frame_header(out + n, 0x8, w->echo_len, mask);
		memcpy(out + n + h, w->echo, w->echo_len);
		gws_mask(out + n + h, w->echo_len, mask, 0);
		n += h + w->echo_len;
		*hang_up = true;
	}
	return n;
}

bool gws_wsc_control_due(const struct gws_conn *c)
{
	return c->wsc && (c->wsc->pong_due || c->wsc->echo_due);
}

int gws_wsc_close(struct gws_conn *c, int code, const char *reason, size_t reason_len,
                  bool wait)
{
	struct gws_wsc *w = c->wsc;
	uint8_t frame[GWS_MAX_FRAME_HEADER + 125], mask[4], body[125];
	size_t n = 0, h;

	if (reason_len > 123)
		reason_len = 123;
	if (code) {
		body[0] = (uint8_t)(code >> 8);
		body[1] = (uint8_t)code;
		memcpy(body + 2, reason, reason_len);
		n = 2 + reason_len;
	}
	gws_mask_key(c->ctx, mask);
	h = gws_frame_header(frame, 0x8, n, mask);
	memcpy(frame + h, body, n);
	gws_mask(frame + h, n, mask, 0);
	if (lws_write(c->wsi, frame, h + n, LWS_WRITE_HTTP) < (int)(h + n) || !wait)
		return -1;
	/* Wait for the reply (what comes before it is not delivered), as
	 * lws does: reading may have been paused, for back-pressure or a
	 * failure, and the rest of what was read is of no use. */
	w->await_close = true;
	w->halted = false;
	w->pong_due = false;
	gws_bytes_free(&w->in);
	lws_rx_flow_control(c->wsi, 1);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, WSC_CLOSE_ACK_SECS);
	return 0;
}
