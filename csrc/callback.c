/*
 * callback.c - the lws protocol callback: every lws event for every
 * connection of the core lands here, on the service thread, and becomes a
 * state change and/or a queued event for the caller.  Also the WRITEABLE
 * handler, which gathers queued frames into one write.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "internal.h"

static gws_context *ctx_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ---- write path ---------------------------------------------------------- */

/* Copies as much of m (from c->tx_off) as fits at batch + *pos, framing it
 * first when nothing of it was written yet.  Returns true when m is done. */
static bool put_message(struct gws_conn *c, gws_msg *m, uint8_t *batch, size_t *pos)
{
	size_t n;

	if (c->tx_off == 0) {
		if (c->is_client)
			gws_mask_key(c->ctx, c->tx_mask);
		*pos += gws_frame_header(batch + *pos, m->opcode, m->len,
		                         c->is_client ? c->tx_mask : NULL);
	}
	n = m->len - c->tx_off;
	if (n > GWS_WRITE_BATCH - *pos)
		n = GWS_WRITE_BATCH - *pos;
	memcpy(batch + *pos, m->data + c->tx_off, n);
	if (c->is_client)
		gws_mask(batch + *pos, n, c->tx_mask, c->tx_off);
	*pos += n;
	c->tx_off += n;
	if (c->tx_off < m->len)
		return false;
	c->tx_off = 0;
	return true;
}

#define GWS_TAKE_MAX 256

int gws_do_write(struct gws_conn *c, bool direct)
{
	gws_context *ctx = c->ctx;
	uint8_t *batch = ctx->batch;
	gws_msg *take[GWS_TAKE_MAX];
	size_t pos = 0, ntake = 0, room, i;
	bool more, close_now = false;
	int close_code = 0;
	char reason[124];
	size_t reason_len = 0;

	if (direct && (c->dropping || c->ping_due || gws_wsc_control_due(c) || c->tx_cur ||
	               c->direct_rest.len ||
	               lws_partial_buffered(c->wsi))) {
		/* Special cases belong to the WRITEABLE callback, and so does
		 * writing while lws still holds unsent bytes: lws would buffer
		 * whatever we add without bound, defeating the outbound limit. */
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->dropping) {
		/* Dropped while the close frame of a connection we failed was
		 * still owed (GWS_CMD_DROP): that frame alone, then go. */
		gws_ctx_lock(ctx);
		close_now = c->close_requested;
		c->close_requested = false;
		close_code = c->close_code;
		reason_len = c->close_reason_len;
		memcpy(reason, c->close_reason, reason_len);
		gws_ctx_unlock(ctx);
		if (close_now && c->wsc) {
			gws_wsc_close(c, close_code, reason, reason_len, false);
		} else if (close_now) {
			/* read again, or the reply cannot end the wait */
			lws_rx_flow_control(c->wsi, 1);
			lws_close_reason(c->wsi, (enum lws_close_status)close_code,
			                 (unsigned char *)reason, reason_len);
		}
		return -1;
	}
	if (c->wsc && c->wsc->await_close) {
		/* A raw-socket connection whose close frame is out (ours, or
		 * the server's answer to a framing error): nothing may follow
		 * it on the wire. */
		gws_ctx_lock(ctx);
		gws_conn_clear_tx_locked(c);
		c->write_requested = false;
		gws_ctx_unlock(ctx);
		return 0;
	}
	if (c->direct_rest.len) {
		/* The end of a frame a direct send could not finish goes first:
		 * a batch at a time from its own buffer while it is longer than
		 * one (a large server message), else copied to the batch's head,
		 * which leaves room for more. */
		size_t left = c->direct_rest.len - c->direct_rest_off;

		if (left > GWS_WRITE_BATCH) {
			if (lws_write(c->wsi, c->direct_rest.data + c->direct_rest_off,
			              GWS_WRITE_BATCH, LWS_WRITE_HTTP) < GWS_WRITE_BATCH)
				return -1;
			c->direct_rest_off += GWS_WRITE_BATCH;
			lws_callback_on_writable(c->wsi);
			return 0;
		}
		memcpy(batch, c->direct_rest.data + c->direct_rest_off, left);
		pos = left;
		gws_bytes_free(&c->direct_rest);
		c->direct_rest_off = 0;
	}
	/* First the message a previous write left unfinished. */
	if (c->tx_cur && put_message(c, c->tx_cur, batch, &pos)) {
		gws_msg_unref(c->tx_cur);
		c->tx_cur = NULL;
	}
	/* A ping only between frames: inside the unfinished one it would be
	 * read as payload (the heartbeat broke large messages that way). */
	if (c->ping_due && !c->tx_cur && GWS_WRITE_BATCH - pos >= GWS_MAX_FRAME_HEADER) {
		uint8_t mask[4];

		if (c->is_client)
			gws_mask_key(ctx, mask);
		pos += gws_frame_header(batch + pos, 0x9, 0, c->is_client ? mask : NULL);
		c->ping_due = false;
		c->awaiting_pong = true;
	}
	/* Raw-socket clients answer pings and close frames themselves. */
	if (c->wsc && !c->tx_cur && gws_wsc_control_due(c) &&
	    GWS_WRITE_BATCH - pos >= 2 * (GWS_MAX_FRAME_HEADER + 125)) {
		bool hang_up;

		pos += gws_wsc_put_control(c, batch + pos, &hang_up);
		if (hang_up) {
			/* the echo of the peer's close frame: nothing after it */
			lws_write(c->wsi, batch, pos, LWS_WRITE_HTTP);
			return -1;
		}
	}

	/* Then take queued messages off the ring under the lock; the copying
	 * and framing happen outside it, so senders never wait on a memcpy. */
	gws_ctx_lock(ctx);
	room = c->tx_cur ? 0 : GWS_WRITE_BATCH - pos;
	while (c->tx_count && ntake < GWS_TAKE_MAX && room > GWS_MAX_FRAME_HEADER) {
		gws_msg *m = c->txq[c->txq_head];
		size_t need = m->len + GWS_MAX_FRAME_HEADER;

		c->txq_head = (c->txq_head + 1) % c->txq_cap;
		c->tx_count--;
		c->tx_bytes -= m->len;
		take[ntake++] = m;
		room = need < room ? room - need : 0;
	}
	more = c->tx_count != 0;
	if (!more) {
		c->write_requested = false;
		c->tx_full_logged = false;
		if (c->close_requested) {
			close_code = c->close_code;
			reason_len = c->close_reason_len;
			memcpy(reason, c->close_reason, reason_len);
		}
	}
	close_now = !more && c->close_requested;
	if (direct && close_now) {
		/* A close must be issued from the WRITEABLE callback (lws sends
		 * the frame when it returns -1); leave it for that. */
		close_now = false;
		more = true;
	}
	gws_ctx_unlock(ctx);

	for (i = 0; i < ntake; i++) {
		if (c->tx_cur || !put_message(c, take[i], batch, &pos)) {
			/* Only the last one can be left over (room was counted). */
			if (!c->tx_cur)
				c->tx_cur = take[i];
			else
				gws_msg_unref(take[i]);
			continue;
		}
		gws_msg_unref(take[i]);
	}
	if (pos && lws_write(c->wsi, batch, pos, LWS_WRITE_HTTP) < (int)pos)
		return -1;
	if (c->tx_cur || more || c->ping_due || gws_wsc_control_due(c)) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (close_now) {
		/* Issued once: lws calls WRITEABLE again while it waits for
		 * the peer's reply, and a second -1 would drop the connection
		 * before that reply (and any data still in flight) arrives. */
		gws_ctx_lock(ctx);
		c->close_requested = false;
		gws_ctx_unlock(ctx);
		if (c->wsc)  /* our frame; code 0 hangs up at once, as below */
			return gws_wsc_close(c, close_code, reason, reason_len, close_code != 0);
		if (close_code == 0) {
			/* Godot sends close(0) as a close frame without a body;
			 * lws_close_reason() always writes a status, and 0 is
			 * invalid on the wire.  So the frame is ours, and lws
			 * closes right after it (no reason set) instead of
			 * waiting for the reply, whose code would be 0 anyway. */
			uint8_t mask[4];
			size_t n;

			if (c->is_client)
				gws_mask_key(ctx, mask);
			n = gws_frame_header(batch, 0x8, 0, c->is_client ? mask : NULL);
			lws_write(c->wsi, batch, n, LWS_WRITE_HTTP);
			return -1;
		}
		/* lws sends the close frame and waits for the peer's reply,
		 * which it must be able to read: reading may have been paused
		 * (back-pressure, or a failure).  What arrives meanwhile is not
		 * delivered (lws skips data frames after our close). */
		lws_rx_flow_control(c->wsi, 1);
		lws_close_reason(c->wsi, (enum lws_close_status)close_code,
		                 (unsigned char *)reason, reason_len);
		return -1;
	}
	return 0;
}

int gws_direct_send(struct gws_conn *c, const char *data, size_t len, int text, int64_t now)
{
	gws_context *ctx = c->ctx;
	uint8_t head[GWS_MAX_FRAME_HEADER], mask[4];
	const uint8_t *payload = (const uint8_t *)data;
	uint8_t *blk = NULL;
	size_t blkcap = 0;
	struct iovec iov[2];
	struct msghdr msg;
	size_t hlen, total, sent;
	ssize_t n;
	bool ok;
	int fd;

	/* Free svc_lock: the service thread waits in epoll_wait and touches no
	 * socket, lws state or [S] field until we let go (evloop.c). */
	if (pthread_mutex_trylock(&ctx->svc_lock))
		return -1;
	if ((uint64_t)now - c->direct_last_ns < GWS_DIRECT_GAP_NS) {
		pthread_mutex_unlock(&ctx->svc_lock);
		return -1;
	}
	gws_ctx_lock(ctx);
	ok = !ctx->shut_down && c->state == GWS_STATE_OPEN && !c->close_requested &&
	     !c->tx_count && gws_conn_tx_room_locked(c, len);
	gws_ctx_unlock(ctx);
	/* Anything lws or the write path still holds must go out first, and
	 * TLS belongs to lws' SSL object. */
	if (!ok || !c->wsi || c->dropping || c->ping_due || gws_wsc_control_due(c) || c->tx_cur ||
	    (c->wsc && c->wsc->await_close) ||
	    c->direct_rest.len ||
	    lws_partial_buffered(c->wsi) || lws_is_ssl(c->wsi) ||
	    (fd = lws_get_socket_fd(c->wsi)) < 0) {
		pthread_mutex_unlock(&ctx->svc_lock);
		return -1;
	}
	if (c->is_client) {
		/* Clients mask: a masked copy in the (idle) batch, or in a block
		 * of the pool for a larger message. */
		uint8_t *dst = ctx->batch;

		if (len > GWS_WRITE_BATCH && !(dst = blk = gws_block_alloc(len, &blkcap))) {
			pthread_mutex_unlock(&ctx->svc_lock);
			return -1;
		}
		gws_mask_key(ctx, mask);
		memcpy(dst, data, len);
		gws_mask(dst, len, mask, 0);
		payload = dst;
	}
	hlen = gws_frame_header(head, text ? 0x1 : 0x2, len, c->is_client ? mask : NULL);
	total = hlen + len;
	iov[0].iov_base = head;
	iov[0].iov_len = hlen;
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = len ? 2 : 1;
	n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* (the gap counts from the end of this send: the system call can
	 * take longer than the gap itself) */
	c->direct_last_ns = (uint64_t)gws_now_ns();
	/* A failed send (full socket, or an error lws will meet on its next
	 * write and close the connection for) leaves everything for later. */
	sent = n > 0 ? (size_t)n : 0;
	if (sent < total) {
		bool lost = false;

		if (blk && sent >= hlen) {
			/* the masked copy is the rest: kept, not copied again
			 * (plain malloc() memory: gws_bytes_free() frees it) */
			c->direct_rest.data = blk;
			c->direct_rest.len = len;
			c->direct_rest.cap = blkcap;
			c->direct_rest_off = sent - hlen;
			blk = NULL;
		} else if (sent < hlen) {
			lost = gws_bytes_append(&c->direct_rest, head + sent, hlen - sent) ||
			       gws_bytes_append(&c->direct_rest, payload, len);
		} else {
			lost = gws_bytes_append(&c->direct_rest, payload + (sent - hlen),
			                        total - sent);
		}
		gws_ctx_lock(ctx);
		if (lost) {
			/* Half a frame is on the wire: the stream cannot go on. */
			gws_bytes_free(&c->direct_rest);
			c->direct_rest_off = 0;
			gws_emit_log_locked(c->group, c->serial, 40,
			                    "Out of memory while sending: dropping the connection");
			gws_conn_report_closed_locked(c, -1, "", 0);
			gws_post_locked(ctx, GWS_CMD_DROP, c, NULL, 0);
		} else {
			gws_conn_want_write_locked(c);
		}
		gws_ctx_unlock(ctx);
	}
	if (blk)
		gws_block_free(blk, blkcap);
	pthread_mutex_unlock(&ctx->svc_lock);
	return GWS_OK;
}

/* ---- events -------------------------------------------------------------- */

/* Client handshake response accepted by lws, last moment its headers exist
 * (lws detaches them before CLIENT_ESTABLISHED).  The sub-protocol list we
 * offered is not needed any more: c->protocols becomes the one the server
 * selected (NULL for none), for on_open().  lws lets a response without
 * Sec-WebSocket-Protocol through even when we offered some; Godot fails the
 * handshake then, and so do we (nonzero: lws reports a connection error).
 * lws itself refuses a protocol we did not offer. */
static int on_client_pre_establish(struct gws_conn *c, struct lws *wsi)
{
	gws_context *ctx = c->ctx;
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
	char *sel = NULL;

	if (n > 0) {
		sel = malloc((size_t)n + 1);
		if (!sel || lws_hdr_copy(wsi, sel, n + 1, WSI_TOKEN_PROTOCOL) < 0) {
			free(sel);
			return 1;
		}
	}
	gws_ctx_lock(ctx);
	if (c->protocols && !sel) {
		gws_emit_log_locked(c->group, c->serial, 40,
			"Requested sub-protocol(s) but the server selected none");
		gws_ctx_unlock(ctx);
		return 1;
	}
	free(c->protocols);
	c->protocols = sel;
	gws_ctx_unlock(ctx);
	return 0;
}

void gws_on_open(struct gws_conn *c, struct lws *wsi)
{
	gws_context *ctx = c->ctx;
	char proto[128] = "", host[256] = "", path[1024] = "", ip[64] = "";
	uint8_t data[sizeof(proto) + sizeof(host) + sizeof(path) + sizeof(ip)];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port = 0, fd = lws_get_socket_fd(wsi), one = 1;
	size_t n = 0, k;
	const struct lws_protocols *p = lws_get_protocol(wsi);

	if (c->is_client || c->wsc) {
		/* kept by on_client_pre_establish() (the headers are gone now),
		 * wsclient.c or wsserver.c */
		gws_ctx_lock(ctx);
		if (c->protocols)
			snprintf(proto, sizeof(proto), "%s", c->protocols);
		if (!c->is_client) {
			if (c->host_header)
				snprintf(host, sizeof(host), "%s", c->host_header);
			if (c->path)
				snprintf(path, sizeof(path), "%s", c->path);
		}
		gws_ctx_unlock(ctx);
	} else {
		if (p && p->name && lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL))
			snprintf(proto, sizeof(proto), "%s", p->name);
		if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) < 0)
			host[0] = 0;
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
			path[0] = 0;
		/* lws keeps the query apart from the path; Godot's requested URL
		 * has both. */
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) > 0) {
			/* one fragment per '&'-separated argument */
			size_t used = strlen(path);
			int i, got;

			for (i = 0; used + 2 < sizeof(path); i++) {
				got = lws_hdr_copy_fragment(wsi, path + used + 1,
				                            (int)(sizeof(path) - used - 1),
				                            WSI_TOKEN_HTTP_URI_ARGS, i);
				if (got < 0)
					break;
				path[used] = i ? '&' : '?';
				used += (size_t)got + 1;
			}
			path[used < sizeof(path) ? used : sizeof(path) - 1] = 0;
		}
	}
	if (fd >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!getpeername(fd, (struct sockaddr *)&ss, &sl)) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *a = (struct sockaddr_in *)&ss;

				inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
				port = ntohs(a->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

				/* IPv4 peers of a dual-stack socket read as
				 * dotted quads, as Godot renders them. */
				if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
					inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof(ip));
				else
					inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
				port = ntohs(a->sin6_port);
			}
		}
	}
	k = strlen(proto); memcpy(data + n, proto, k + 1); n += k + 1;
	k = strlen(host); memcpy(data + n, host, k + 1); n += k + 1;
	k = strlen(path); memcpy(data + n, path, k + 1); n += k + 1;
	k = strlen(ip); memcpy(data + n, ip, k); n += k;

	gws_ctx_lock(ctx);
	if (!c->closed_reported) {
		c->state = GWS_STATE_OPEN;
		gws_emit_locked(c->group, GWS_EV_OPEN, c->serial, port, data, n);
		if (c->heartbeat_ms > 0)
			lws_set_timer_usecs(wsi, 1);
	}
	gws_ctx_unlock(ctx);
}

/* UTF-8 as RFC 3629 has it: no overlong forms, surrogates or code points
 * past U+10FFFF.  (The context does not ask lws to validate: lws answers
 * invalid text with a close frame it does not tell us about, and then waits
 * for the peer's reply with the connection still OPEN for the caller.) */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c0 = s[i], c1;

		if (c0 < 0x80) {
			uint64_t w;

			i++;
			while (i + 8 <= n) {
				memcpy(&w, s + i, 8);
				if (w & 0x8080808080808080ULL)
					break;
				i += 8;
			}
			continue;
		}
		if (c0 >= 0xC2 && c0 <= 0xDF) {
			if (n - i < 2 || (s[i + 1] & 0xC0) != 0x80)
				return false;
			i += 2;
		} else if (c0 >= 0xE0 && c0 <= 0xEF) {
			if (n - i < 3)
				return false;
			c1 = s[i + 1];
			if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
			    (c0 == 0xE0 && c1 < 0xA0) ||  /* overlong */
			    (c0 == 0xED && c1 > 0x9F))    /* surrogate */
				return false;
			i += 3;
		} else if (c0 >= 0xF0 && c0 <= 0xF4) {
			if (n - i < 4)
				return false;
			c1 = s[i + 1];
			if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
			    (s[i + 3] & 0xC0) != 0x80 ||
			    (c0 == 0xF0 && c1 < 0x90) ||  /* overlong */
			    (c0 == 0xF4 && c1 > 0x8F))    /* past U+10FFFF */
				return false;
			i += 4;
		} else {
			return false;
		}
	}
	return true;
}

/* We detected a protocol violation.  Godot's wslay then sends a close frame
 * with the code alone, stops reading, and the peer is CLOSED at once with
 * that code and a fixed reason.  The close frame goes out from the write
 * path, after what is already queued (a DROP meanwhile still sends it, see
 * GWS_CMD_DROP): lws_close_reason() + returning -1 from a RECEIVE callback
 * makes lws 4.1 free a buffer twice (heap corruption). */
static void fail_connection(struct gws_conn *c, struct lws *wsi, int code, const char *why)
{
	gws_ctx_lock(c->ctx);
	if (!c->closed_reported) {
		gws_conn_report_closed_locked(c, code, why, strlen(why));
		c->close_reason_len = 0;
		c->close_requested = true;
	}
	gws_ctx_unlock(c->ctx);
	c->rx_in_message = false;
	gws_bytes_free(&c->rx);
	/* A raw socket keeps the rest of what was read (reading stops): once
	 * our close frame is out, gws_wsc_close() parses it for the reply,
	 * from the right place in the stream. */
	if (c->wsc)
		c->wsc->paused = true;
	lws_rx_flow_control(wsi, 0);
	lws_callback_on_writable(wsi);
}

#define GWS_RX_RESERVE_MAX (64 * 1024 * 1024)

/* Room for need bytes of the message being reassembled (now of them are
 * needed at once).  The first
 * allocation is exactly the size of its first frame (lws says how much of it
 * is still to come), from the block pool when large; later frames of a
 * fragmented message grow it by doubling. */
static int rx_reserve(struct gws_conn *c, size_t need, size_t now)
{
	gws_bytes *b = &c->rx;

	if (need <= b->cap)
		return 0;
	/* Without an inbound limit, a frame header announcing more than
	 * arrives is not worth trusting with an allocation up front. */
	if (need - now > GWS_RX_RESERVE_MAX)
		need = now;
	if (!b->data) {
		b->data = gws_block_alloc(need, &b->cap);
		return b->data ? 0 : -1;
	}
	return gws_bytes_reserve(b, need - b->len);
}

/* Hands a complete message to the group and applies back-pressure.  Context
 * lock held, connection not reported closed. */
static void rx_deliver_locked(struct gws_conn *c, struct lws *wsi, const void *in, size_t len)
{
	if (in == c->rx.data && len >= GWS_BLOCK_MIN) {
		/* Large: the group takes the reassembly buffer over
		 * (GWS_EV_MESSAGE_REF) instead of a copy of it. */
		gws_emit_message_block_locked(c->group, c->serial, c->rx_text ? 1 : 0,
		                              c->rx.data, len, c->rx.cap);
		memset(&c->rx, 0, sizeof(c->rx));
	} else {
		gws_emit_locked(c->group, GWS_EV_MESSAGE, c->serial, c->rx_text ? 1 : 0,
		                in, len);
	}
	c->rx_msgs_held++;
	c->rx_bytes_held += len;
	if (c->group->auto_release)
		gws_group_mark_dirty_locked(c->group, c);
	if (!c->rx_paused && gws_conn_rx_over_limit_locked(c)) {
		/* Back-pressure: stop reading until the caller
		 * consumes; nothing is dropped. */
		c->rx_paused = true;
		if (c->wsc)
			c->wsc->paused = true;
		lws_rx_flow_control(wsi, 0);
	}
}

/* After a message: the reassembly buffer is kept for the next one unless
 * it grew large. */
static void rx_reset(struct gws_conn *c)
{
	c->rx.len = 0;
	if (c->rx.cap > 65536) {
		gws_block_free(c->rx.data, c->rx.cap);
		memset(&c->rx, 0, sizeof(c->rx));
	}
}

/* Whether a message may go on, under the context lock: 0 yes; -1 the
 * connection was already failed or dropped (the rest is not for anyone);
 * otherwise the close code to fail it with, logged here.  total: the
 * message's size as far as known.  The order is lws': size, then UTF-8. */
static int rx_verdict_locked(struct gws_conn *c, uint64_t total, bool bad_utf8)
{
	int64_t limit = c->limits.inbound_buffer_size;

	if (c->closed_reported)
		return -1;
	if (limit >= 0 && total > (uint64_t)limit) {
		gws_emit_log_locked(c->group, c->serial, 40,
			"Message of more than %lld bytes (inbound_buffer_size) received, closing with 1009",
			(long long)limit);
		return 1009;
	}
	if (bad_utf8) {
		gws_emit_log_locked(c->group, c->serial, 40,
			"Invalid UTF-8 in a text message, closing with 1007");
		return 1007;
	}
	return 0;
}

/* Acts on a nonzero verdict, context lock not held. */
static int rx_refuse(struct gws_conn *c, struct lws *wsi, int verdict)
{
	c->rx_in_message = false;
	if (verdict < 0)
		gws_bytes_free(&c->rx);
	else
		fail_connection(c, wsi, verdict,
		                verdict == 1009 ? "Message too big" : "Invalid frame payload data");
	return 0;
}

/* A complete message, in place (lws' or the raw socket's buffer) or
 * gathered in c->rx: checked and delivered under one lock.  The UTF-8 scan
 * runs before the lock so the lock is not held across it. */
static int rx_complete(struct gws_conn *c, struct lws *wsi, const void *in, size_t len)
{
	gws_context *ctx = c->ctx;
	bool bad_utf8 = c->rx_text && !utf8_valid(in, len);
	int verdict;

	gws_ctx_lock(ctx);
	verdict = rx_verdict_locked(c, len, bad_utf8);
	if (!verdict)
		rx_deliver_locked(c, wsi, in, len);
	gws_ctx_unlock(ctx);
	if (verdict)
		return rx_refuse(c, wsi, verdict);
	c->rx_in_message = false;
	rx_reset(c);
	return 0;
}

int gws_rx_data(struct gws_conn *c, struct lws *wsi, const void *in, size_t len,
                bool final, size_t remaining, bool binary)
{
	gws_context *ctx = c->ctx;
	uint64_t total;
	int verdict;

	if (!c->rx_in_message) {
		c->rx_in_message = true;
		c->rx_text = !binary;
		c->rx.len = 0;
	}
	if (final && !c->rx.len)
		return rx_complete(c, wsi, in, len);  /* the common case: in one piece */

	/* A message that does not arrive in one piece (lws hands over at most
	 * pt_serv_buf_size bytes per callback) is gathered in c->rx; total
	 * counts the rest of this frame, so an oversized one fails early. */
	total = (uint64_t)c->rx.len + len + (final ? 0 : remaining);
	gws_ctx_lock(ctx);
	verdict = rx_verdict_locked(c, total, false);
	gws_ctx_unlock(ctx);
	if (verdict)
		return rx_refuse(c, wsi, verdict);
	if (rx_reserve(c, (size_t)total, c->rx.len + len)) {
		gws_ctx_lock(ctx);
		gws_emit_log_locked(c->group, c->serial, 40,
		                    "Out of memory while receiving a message");
		gws_conn_report_closed_locked(c, -1, "", 0);
		gws_ctx_unlock(ctx);
		return -1;
	}
	/* (an empty fragment may come first: no buffer yet; a raw socket may
	 * have read straight into place, gws_rx_room()) */
	if (len && in != c->rx.data + c->rx.len)
		memcpy(c->rx.data + c->rx.len, in, len);
	c->rx.len += len;
	if (!final)
		return 0;
	return rx_complete(c, wsi, c->rx.data, c->rx.len);
}

uint8_t *gws_rx_room(struct gws_conn *c, size_t *room)
{
	if (!c->rx_in_message || !c->rx.data || c->rx.cap <= c->rx.len)
		return NULL;
	*room = c->rx.cap - c->rx.len;
	return c->rx.data + c->rx.len;
}

/* RECEIVE of lws' WebSocket roles.  Returns -1 when the connection must
 * be closed. */
static int on_receive(struct gws_conn *c, struct lws *wsi, const void *in, size_t len)
{
	return gws_rx_data(c, wsi, in, len, lws_is_final_fragment(wsi),
	                   lws_remaining_packet_payload(wsi), lws_frame_is_binary(wsi));
}

void gws_on_peer_close(struct gws_conn *c, const uint8_t *in, size_t len)
{
	gws_context *ctx = c->ctx;
	int code = len >= 2 ? (in[0] << 8) | in[1] : 0;
	const uint8_t *reason = len > 2 ? in + 2 : (const uint8_t *)"";
	size_t rlen = len > 2 ? len - 2 : 0;

	gws_ctx_lock(ctx);
	if (!c->closed_reported && c->state == GWS_STATE_OPEN) {
		c->state = GWS_STATE_CLOSING;
		c->close_code = code;
		if (rlen > sizeof(c->close_reason))
			rlen = sizeof(c->close_reason);
		memcpy(c->close_reason, reason, rlen);
		c->close_reason_len = rlen;
		gws_emit_locked(c->group, GWS_EV_CLOSING, c->serial, code, reason, rlen);
	}
	gws_ctx_unlock(ctx);
}

static void on_destroy(struct gws_conn *c, struct lws *wsi)
{
	gws_context *ctx = c->ctx;

	gws_ctx_lock(ctx);
	if (!c->closed_reported)
		gws_conn_report_closed_locked(c, c->state == GWS_STATE_CONNECTING ? -1 : c->close_code,
		                              c->close_reason, c->close_reason_len);
	gws_conn_clear_tx_locked(c);
	c->write_requested = false;
	gws_ctx_unlock(ctx);
	lws_set_opaque_user_data(wsi, NULL);
	c->wsi = NULL;
	gws_msg_unref(c->tx_cur);
	c->tx_cur = NULL;
	c->tx_off = 0;
	gws_bytes_free(&c->direct_rest);
	c->direct_rest_off = 0;
	gws_bytes_free(&c->rx);
	gws_wsc_free(c);
	if (c->wsi_ref) {
		c->wsi_ref = false;
		gws_conn_unref(c);
	}
}

/* A server socket was accepted (or adopted): it becomes a connection. */
static void on_server_wsi(struct lws *wsi)
{
	gws_context *ctx = ctx_of(wsi);
	struct gws_listener *l = lws_vhost_user(lws_get_vhost(wsi));
	struct gws_conn *c = ctx->adopting;
	uintptr_t ptr;

	if (c) {
		/* accept_stream(): the conn exists already. */
		ctx->adopting = NULL;
		gws_conn_ref(c);
		c->wsi = wsi;
		c->wsi_ref = true;
		lws_set_opaque_user_data(wsi, c);
		return;
	}
	if (!l)
		return;
	gws_ctx_lock(ctx);
	if (l->released || ctx->shut_down) {
		gws_ctx_unlock(ctx);
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	c = gws_conn_alloc_locked(l->group, &l->args.limits, false);
	if (!c) {
		gws_emit_log_locked(l->group, 0, 40, "Out of memory accepting a connection");
		gws_ctx_unlock(ctx);
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	gws_conn_ref(c);             /* one for the caller, one for the wsi */
	gws_listener_ref(l);
	c->listener = l;
	c->wsi = wsi;
	c->wsi_ref = true;
	c->state = GWS_STATE_CONNECTING;
	ptr = (uintptr_t)c;
	gws_emit_locked(l->group, GWS_EV_ACCEPTED, c->serial, 0, &ptr, sizeof(ptr));
	gws_ctx_unlock(ctx);
	lws_set_opaque_user_data(wsi, c);
}

static int append_lines(char **p, char *end, const char *lines)
{
	size_t n;

	if (!lines || !*lines)
		return 0;
	n = strlen(lines);
	if ((size_t)(end - *p) < n + 3)
		return -1;
	memcpy(*p, lines, n);
	*p += n;
	memcpy(*p, "\r\n", 2);
	*p += 2;
	**p = 0;
	return 0;
}

static int on_timer(struct gws_conn *c, struct lws *wsi)
{
	gws_context *ctx = c->ctx;
	int64_t ms;

	gws_ctx_lock(ctx);
	ms = c->heartbeat_ms;
	if (c->state != GWS_STATE_OPEN || ms <= 0) {
		gws_ctx_unlock(ctx);
		return 0;
	}
	if (c->awaiting_pong) {
		gws_emit_log_locked(c->group, c->serial, 30,
			"No pong within heartbeat_interval (%lld ms): dropping the connection",
			(long long)ms);
		gws_conn_report_closed_locked(c, -1, "", 0);
		gws_ctx_unlock(ctx);
		return -1;
	}
	c->ping_due = true;
	gws_ctx_unlock(ctx);
	lws_callback_on_writable(wsi);
	lws_set_timer_usecs(wsi, (lws_usec_t)ms * 1000);
	return 0;
}

int gws_lws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len)
{
	struct gws_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		/* Not WSI_CREATE: lws sets the opaque pointer after that one. */
		if (!c && (lws_vhost_user(lws_get_vhost(wsi)) || ctx_of(wsi)->adopting))
			on_server_wsi(wsi);
		return 0;

	case LWS_CALLBACK_HTTP:
		/* A plain HTTP request on a WebSocket port: Godot drops it. */
		return -1;

	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		struct gws_listener *l = lws_vhost_user(lws_get_vhost(wsi));

		/* We serve sub-protocols but the client offered none:
		 * Godot refuses the handshake. */
		if (l && l->nprotocols && !lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL))
			return 1;
		return 0;
	}

	case LWS_CALLBACK_ADD_HEADERS: {
		struct lws_process_html_args *a = in;
		struct gws_listener *l = lws_vhost_user(lws_get_vhost(wsi));
		const char *lines = c && c->headers ? c->headers : (l ? l->args.headers : NULL);

		if (a && lines) {
			char *p = a->p;

			if (append_lines(&p, a->p + a->max_len, lines))
				return -1;
			a->max_len -= (int)(p - a->p);
			a->p = p;
		}
		return 0;
	}

	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (c && c->headers) {
			char **p = in;

			if (append_lines(p, *p + len, c->headers))
				return -1;
		}
		return 0;

	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		if (c)
			return on_client_pre_establish(c, wsi);
		return 0;

	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c)
			gws_on_open(c, wsi);
		return 0;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c) {
			gws_ctx_lock(c->ctx);
			gws_emit_log_locked(c->group, c->serial, 30, "Connection failed: %s",
			                    in ? (const char *)in : "unknown error");
			gws_conn_report_closed_locked(c, -1, "", 0);
			gws_ctx_unlock(c->ctx);
		}
		return 0;

	/* connections on raw sockets: outgoing ones (wsclient.c), those of
	 * non-TLS listeners (wsserver.c); frames in wsproto.c */
	case LWS_CALLBACK_RAW_CONNECTED:
		if (c && c->wsc)
			return gws_wsc_connected(c, wsi);
		return 0;

	case LWS_CALLBACK_RAW_ADOPT:
		if (c && c->wsc)
			return gws_wsc_connected(c, wsi);
		if (!c && lws_vhost_user(lws_get_vhost(wsi))) {
			/* accepted by a listener, or adopted by accept_stream(): a
			 * connection, reading its request (adoption does not send
			 * NEW_CLIENT_INSTANTIATED) */
			on_server_wsi(wsi);
			c = lws_get_opaque_user_data(wsi);
			if (!c)
				return 0;
			if (gws_wss_start(c, wsi))
				return -1;
			if (c->accept_head.len) {
				/* what the program read of the request already */
				gws_bytes head = c->accept_head;
				int r;

				memset(&c->accept_head, 0, sizeof(c->accept_head));
				r = gws_wsc_rx(c, wsi, head.data, head.len);
				gws_bytes_free(&head);
				return r;
			}
		}
		return 0;

	case LWS_CALLBACK_RAW_RX:
		if (c && c->wsc)
			return gws_wsc_rx(c, wsi, in, len);
		return 0;

	case LWS_CALLBACK_RAW_WRITEABLE:
		if (c && c->wsc)
			return gws_wsc_writeable(c, wsi);
		return 0;

	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c)
			return on_receive(c, wsi, in, len);
		return 0;

	case LWS_CALLBACK_RECEIVE_PONG:
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		if (c)
			c->awaiting_pong = false;
		return 0;

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c)
			gws_on_peer_close(c, in, len);
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c)
			return gws_do_write(c, false);
		return 0;

	case LWS_CALLBACK_TIMER:
		if (c)
			return on_timer(c, wsi);
		return 0;

	case LWS_CALLBACK_PROTOCOL_DESTROY: {
		/* The vhost is gone: it no longer needs the listener, whose
		 * strings its protocol table points at.  lws sends this to the
		 * entries of its copy of the table in order, and each entry's
		 * name is one of the listener's strings: the listener may go
		 * only at the last entry (recognised by its name's address,
		 * never read), else lws would hand the next callbacks freed
		 * names (an accept_stream() peer whose vhost went with its
		 * context: the listener's last reference was the vhost's).
		 * (lws sends this only to vhosts that got PROTOCOL_INIT:
		 * gws_context_new() sees that every vhost does, at its creation.) */
		struct gws_listener *l = lws_vhost_user(lws_get_vhost(wsi));
		const struct lws_protocols *p = lws_get_protocol(wsi);

		if (l && p && l->vhost_ref && p->name == l->protocols[l->nprotocols].name) {
			l->vhost_ref = false;
			gws_listener_unref(l);
		}
		return 0;
	}

	case LWS_CALLBACK_WSI_DESTROY:
		if (c)
			on_destroy(c, wsi);
		return 0;

	/* TLS (client.c, tls.c).  The two LOAD_EXTRA reasons come with a
	 * fake wsi (only its vhost is set) and the vhost's SSL_CTX in user;
	 * listener vhosts are the ones with a vhost user. */
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS:
		if (!lws_vhost_user(lws_get_vhost(wsi)))
			gws_client_tls_setup(wsi, user);
		return 0;

	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: {
		struct gws_listener *l = lws_vhost_user(lws_get_vhost(wsi));

		if (l)
			gws_tls_server_setup(l, user);
		return 0;
	}

	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		/* Sent to the context's protocol 0 (the first vhost's: the
		 * plain client vhost, this callback) with the client wsi.
		 * user: X509_STORE_CTX, len: preverify_ok; 0 accepts. */
		if (c)
			return gws_client_verify(c, user, (int)len);
		return len ? 0 : 1;

	default:
		return 0;
	}
}

const struct lws_protocols gws_client_protocols[] = {
	{ "gws-client", gws_lws_callback, 0, 0, 0, NULL, GWS_TX_PACKET_SIZE },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
