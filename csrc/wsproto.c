/*
 * wsproto.c - RFC 6455 frames on a raw lws socket, for both roles: the
 * frame parser, the control frames it owes (pong, close echo) and our close
 * frame.  The handshakes are apart: wsclient.c (ws:// clients) and
 * wsserver.c (connections of non-TLS listeners).
 *
 * Why: lws 4.1 parses a client's input one byte at a time and unmasks a
 * server's input 4 bytes per loop iteration (37 % of a server's service
 * thread on 1 MiB messages); here payload goes to the message being
 * gathered in bulk, unmasked 8 bytes at a time (gws_mask()).
 *
 * The role (c->is_client) decides what lws did in each: a server wants masked
 * frames, answers framing errors with a close 1002 carrying lws' reason text
 * and then waits for the reply (as the lws server); a client drops the TCP
 * connection on them (as the lws client).  Frames we write are masked by a
 * client only.
 *
 * Everything here runs on the service thread [S].
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "internal.h"

/* lws' guards, kept: close reply, sending the close echo. */
#define WSC_CLOSE_ACK_SECS 5
#define WSC_CLOSE_SEND_SECS 3

/* GODOT_WEBSOCKET_CLIENT=lws / GODOT_WEBSOCKET_SERVER=lws return to
 * libwebsockets' own client / server protocol code (read once). */
static pthread_once_t modes_once = PTHREAD_ONCE_INIT;
static bool lws_client, lws_server;

static bool env_is(const char *name, const char *value)
{
	const char *v = getenv(name);

	return v && !strcmp(v, value);
}

static void read_modes(void)
{
	lws_client = env_is("GODOT_WEBSOCKET_CLIENT", "lws");
	lws_server = env_is("GODOT_WEBSOCKET_SERVER", "lws");
}

bool gws_wsc_enabled(void)
{
	pthread_once(&modes_once, read_modes);
	return !lws_client;
}

bool gws_wss_enabled(void)
{
	pthread_once(&modes_once, read_modes);
	return !lws_server;
}

bool gws_ws_accept(const char *key, size_t n, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char buf[100 + sizeof(guid)];
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (n > 100)
		return false;
	memcpy(buf, key, n);
	memcpy(buf + n, guid, sizeof(guid) - 1);
	if (!EVP_Digest(buf, n + sizeof(guid) - 1, digest, &dlen, EVP_sha1(), NULL) || dlen != 20)
		return false;
	EVP_EncodeBlock((unsigned char *)out, digest, 20);
	return true;
}

void gws_trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

bool gws_head_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *eol = memchr(*p, '\n', (size_t)(end - *p));
	size_t n;

	if (!eol)
		return false;
	n = (size_t)(eol - *p);
	if (n && (*p)[n - 1] == '\r')
		n--;
	*line = *p;
	*len = n;
	*p = eol + 1;
	return n != 0;  /* the blank line ends the head */
}

int gws_bytes_puts(gws_bytes *b, const char *s)
{
	return gws_bytes_append(b, s, strlen(s));
}

/* A frame's payload has all been read: a final frame also ends the message
 * (msg_op 0: the next data frame must start one). */
static void frame_done(struct gws_wsc *w)
{
	w->in_frame = false;
	if (w->fin)
		w->msg_op = 0;
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

/* Close codes lws 4.1 turns into 1002 (both roles). */
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

/* Server: what lws' server parser checks in a frame header as each byte
 * arrives (so a cut header is answered as lws answered it).  w->checked:
 * header bytes already looked at.  Returns NULL, the reason text of a close
 * 1002, or "" when the connection must just be dropped. */
static const char *server_check(struct gws_wsc *w)
{
	uint8_t b0 = w->hdr[0], op = b0 & 0x0f;

	if (w->checked < 1 && w->hlen >= 1) {
		w->checked = 1;
		if ((op & 8) && !(b0 & 0x80))
			return "frag ctl";
		switch (op) {
		case 0x0:
			if (!w->msg_op)
				return "bad cont";
			break;
		case 0x1:
		case 0x2:
			if (w->msg_op)
				return "bad cont";
			break;
		case 0x8:
		case 0x9:
		case 0xA:
			break;
		default:
			return "bad opc";
		}
		if (b0 & 0x70)
			return "rsv bits";
	}
	if (w->checked < 2 && w->hlen >= 2) {
		w->checked = 2;
		if ((op & 8) && (w->hdr[1] & 0x7f) >= 126)
			return "";  /* lws: control frame with extended length */
		if (!(w->hdr[1] & 0x80))
			return "unmasked";  /* RFC 6455 5.1 (lws let these through) */
	}
	if (w->checked < 3 && w->hlen >= 3) {
		w->checked = 3;
		if ((w->hdr[1] & 0x7f) == 127 && (w->hdr[2] & 0x80))
			return "";  /* lws: "b63 of length must be zero" */
	}
	return NULL;
}

/* Server: a framing error with a reason: close 1002 with it, as lws, then
 * wait for the reply; the rest of the bad frame is skipped.  -1: close. */
static int server_fail(struct gws_conn *c, const char *why)
{
	struct gws_wsc *w = c->wsc;

	/* nor when a frame of ours is half written: a close frame cannot
	 * go out before its end (lws dropped the connection then too) */
	if (!*why || w->await_close || c->tx_cur || c->direct_rest.len)
		return -1;
	w->skip = true;
	return gws_wsc_close(c, 1002, why, strlen(why), true);
}

/* Parses p[0..n) (writable: masked payload is unmasked in place).  What it
 * cannot take now (reading paused) is kept in w->in.  -1: close. */
int gws_wsc_opened(struct gws_conn *c, struct lws *wsi, size_t headlen)
{
	struct gws_wsc *w = c->wsc;
	gws_bytes rest = w->in;
	int r;

	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	w->phase = WSC_OPEN;
	gws_on_open(c, wsi);
	/* Frames that came with the head (parsing may keep some in w->in). */
	memset(&w->in, 0, sizeof(w->in));
	r = gws_wsc_parse(c, wsi, rest.data + headlen, rest.len - headlen);
	gws_bytes_free(&rest);
	return r;
}

int gws_wsc_parse(struct gws_conn *c, struct lws *wsi, uint8_t *p, size_t n)
{
	struct gws_wsc *w = c->wsc;
	bool server = !c->is_client;

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
			if (server && w->checked < 3 && take > 1)
				take = 1;  /* the first bytes one by one: server_check() */
			if (take > n)
				take = n;
			memcpy(w->hdr + w->hlen, p, take);
			w->hlen += (uint8_t)take;
			p += take;
			n -= take;
			if (server && !w->skip) {
				const char *why = server_check(w);

				if (why && server_fail(c, why) < 0)
					return -1;
			}
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
			w->checked = 0;
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
			w->in_frame = true;
			if (w->skip) {
				/* server: the frame we failed; its payload is not read */
				if (!w->left) {
					w->in_frame = false;
					w->skip = false;
				}
				continue;
			}
			/* What the lws client drops the connection for (the
			 * server checked these above). */
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
		if (w->skip) {
			size_t k = w->left < n ? (size_t)w->left : n;

			w->left -= k;
			p += k;
			n -= k;
			if (!w->left) {
				w->in_frame = false;
				w->skip = false;
			}
			continue;
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
				gws_mask(p, k, w->mask, (size_t)(w->off & 3));
				w->off += k;
			}
			w->left -= k;
			final = w->fin && !w->left;
			if (!w->await_close)
				r = gws_rx_data(c, wsi, p, k, final, (size_t)w->left, w->msg_op == 0x2);
			p += k;
			n -= k;
			if (!w->left)
				frame_done(w);
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

/* Payload still to come of a frame that large is read from the socket by
 * read_direct(), at most WSC_DIRECT_CHUNK bytes per recv(): unmasked right
 * after, while they are still in the cache (W4 measured 256 KiB chunks
 * ~10 % faster than one recv() of the whole rest). */
#define WSC_DIRECT_MIN (32 * 1024)
#define WSC_DIRECT_CHUNK (256 * 1024)

/* The rest of a large data frame, straight from the socket into the message
 * being gathered (unmasked there while it is in the cache), instead of
 * through lws' 64 KiB read buffer and a copy per chunk.  A raw socket's
 * input is ours alone: lws hands every byte it reads to RAW_RX and keeps
 * none, so reading behind its back keeps the order; EOF and errors are left
 * for lws' next read, which sees them again.  -1: close. */
static int read_direct(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w = c->wsc;
	int fd = lws_get_socket_fd(wsi);

	while (fd >= 0 && w->phase == WSC_OPEN && w->in_frame && w->op < 0x8 && !w->skip &&
	       !w->halted && !w->paused && !w->await_close && !w->in.len &&
	       w->left >= WSC_DIRECT_MIN) {
		size_t room;
		uint8_t *dst = gws_rx_room(c, &room);
		ssize_t got;
		int r;

		if (!dst)
			break;
		if (room > w->left)
			room = (size_t)w->left;
		if (room > WSC_DIRECT_CHUNK)
			room = WSC_DIRECT_CHUNK;
		got = recv(fd, dst, room, MSG_DONTWAIT);
		if (got <= 0)
			break;
		if (w->masked) {
			gws_mask(dst, (size_t)got, w->mask, (size_t)(w->off & 3));
			w->off += (uint64_t)got;
		}
		w->left -= (uint64_t)got;
		r = gws_rx_data(c, wsi, dst, (size_t)got, w->fin && !w->left, (size_t)w->left,
		                w->msg_op == 0x2);
		if (!w->left)
			frame_done(w);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Parses the input kept in w->in.  -1: close. */
static int parse_kept(struct gws_conn *c, struct lws *wsi)
{
	struct gws_wsc *w = c->wsc;
	gws_bytes rest = w->in;
	int r;

	memset(&w->in, 0, sizeof(w->in));  /* parsing may keep some again */
	r = gws_wsc_parse(c, wsi, rest.data, rest.len);
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
		return gws_wsc_on_response(c, wsi, in, len);
	case WSS_REQUEST:
		return gws_wss_on_request(c, wsi, in, len);
	case WSC_OPEN:
		if (w->in.len) {
			/* input kept from before goes first */
			if (gws_bytes_append(&w->in, in, len))
				return -1;
			if (w->paused)
				return 0;
			if (parse_kept(c, wsi) < 0)
				return -1;
			return read_direct(c, wsi);
		}
		if (gws_wsc_parse(c, wsi, in, len))
			return -1;
		return read_direct(c, wsi);
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
		return gws_wsc_send_request(c, wsi);
	case WSC_OPEN:
		return gws_do_write(c, false);
	default:
		return 0;
	}
}

/* A control frame with payload body[0..n) at out; masked by a client. */
static size_t put_frame(struct gws_conn *c, uint8_t *out, uint8_t op, const uint8_t *body,
                        size_t n)
{
	uint8_t mask[4];
	size_t h;

	if (c->is_client)
		gws_mask_key(c->ctx, mask);
	h = gws_frame_header(out, op, n, c->is_client ? mask : NULL);
	memcpy(out + h, body, n);
	if (c->is_client)
		gws_mask(out + h, n, mask, 0);
	return h + n;
}

size_t gws_wsc_put_control(struct gws_conn *c, uint8_t *out, bool *hang_up)
{
	struct gws_wsc *w = c->wsc;
	size_t n = 0;

	*hang_up = false;
	if (w->pong_due) {
		w->pong_due = false;
		n += put_frame(c, out, 0xA, w->pong, w->pong_len);
	}
	if (w->echo_due) {
		w->echo_due = false;
		n += put_frame(c, out + n, 0x8, w->echo, w->echo_len);
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
	uint8_t frame[GWS_MAX_FRAME_HEADER + 125], body[125];
	size_t n = 0, len;

	if (reason_len > 123)
		reason_len = 123;
	if (code) {
		body[0] = (uint8_t)(code >> 8);
		body[1] = (uint8_t)code;
		memcpy(body + 2, reason, reason_len);
		n = 2 + reason_len;
	}
	len = put_frame(c, frame, 0x8, body, n);
	if (lws_write(c->wsi, frame, len, LWS_WRITE_HTTP) < (int)len || !wait)
		return -1;
	/* Wait for the reply (what comes before it is not delivered), as
	 * lws does.  Reading may have been paused, for back-pressure or a
	 * failure, with input kept: it is parsed now (the reply may be in
	 * it, or behind the rest of a frame), and back-pressure is over, as
	 * nothing is delivered any more. */
	w->await_close = true;
	w->halted = false;
	w->pong_due = false;
	w->paused = false;
	lws_rx_flow_control(c->wsi, 1);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, WSC_CLOSE_ACK_SECS);
	if (w->in.len && w->phase == WSC_OPEN)
		return parse_kept(c, c->wsi);
	return 0;
}
