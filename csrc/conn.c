/*
 * conn.c - connection objects: ownership, outbound queue and limits,
 * inbound budget, and the calls the caller makes on a connection.
 *
 * A connection is referenced by the caller's handle, by its lws wsi while
 * one exists, and by every queued command naming it; it is freed when the
 * last of those goes.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

gws_msg *gws_msg_new(const void *data, size_t len, int text)
{
	size_t cap;
	gws_msg *m = gws_block_alloc(sizeof(*m) + (len ? len : 1), &cap);

	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->cap = cap;
	m->len = len;
	m->opcode = text ? 0x1 : 0x2;
	if (len)
		memcpy(m->data, data, len);
	return m;
}

void gws_msg_unref(gws_msg *m)
{
	if (m && atomic_fetch_sub(&m->refs, 1) == 1)
		gws_block_free(m, m->cap);
}

void gws_conn_ref(struct gws_conn *c) { atomic_fetch_add(&c->refs, 1); }

static void free_args(struct gws_conn *c)
{
	free(c->address);
	free(c->path);
	free(c->host_header);
	free(c->protocols);
	free(c->headers);
	c->address = c->path = c->host_header = c->protocols = c->headers = NULL;
	gws_bytes_free(&c->accept_head);
	gws_tls_free(c->tls);
	c->tls = NULL;
}

void gws_conn_unref(struct gws_conn *c)
{
	gws_context *ctx;

	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	ctx = c->ctx;
	gws_ctx_lock(ctx);
	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else if (ctx->conns == c)
		ctx->conns = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	gws_conn_clear_tx_locked(c);
	gws_ctx_unlock(ctx);
	free(c->txq);
	gws_msg_unref(c->tx_cur);
	gws_bytes_free(&c->direct_rest);
	c->direct_rest_off = 0;
	if (c->fd >= 0)
		close(c->fd);
	free_args(c);
	gws_bytes_free(&c->rx);
	gws_wsc_free(c);
	if (c->listener)
		gws_listener_unref(c->listener);
	gws_group_unref(c->group);
	free(c);
}

struct gws_conn *gws_conn_alloc_locked(gws_group *g, const gws_limits *limits,
                                       bool is_client)
{
	gws_context *ctx = g->ctx;
	struct gws_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->ctx = ctx;
	c->group = g;
	gws_group_ref(g);
	c->serial = ctx->next_serial++;
	if (!ctx->next_serial)
		ctx->next_serial = 1;
	c->is_client = is_client;
	c->state = GWS_STATE_CLOSED;
	c->close_code = -1;
	c->fd = -1;
	c->limits = *limits;
	c->cnext = ctx->conns;
	if (ctx->conns)
		ctx->conns->cprev = c;
	ctx->conns = c;
	return c;
}

int gws_conn_new(gws_group *g, const gws_limits *limits, gws_conn **out)
{
	gws_context *ctx = g->ctx;
	struct gws_conn *c;

	*out = NULL;
	gws_ctx_lock(ctx);
	if (ctx->shut_down) {
		gws_ctx_unlock(ctx);
		return GWS_FAILED;
	}
	c = gws_conn_alloc_locked(g, limits, true);
	gws_ctx_unlock(ctx);
	if (!c)
		return GWS_ERR_OUT_OF_MEMORY;
	*out = c;
	return GWS_OK;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int gws_conn_connect(gws_conn *c, const gws_connect_args *a)
{
	gws_context *ctx = c->ctx;
	int r;

	if (!a->address || !a->path || !a->host_header || a->port <= 0 || a->port > 65535)
		return GWS_ERR_INVALID_PARAMETER;
	gws_ctx_lock(ctx);
	if (c->state == GWS_STATE_CONNECTING || c->state == GWS_STATE_OPEN ||
	    c->wsi || c->caller_released) {
		gws_ctx_unlock(ctx);
		return GWS_ERR_ALREADY_IN_USE;
	}
	free_args(c);
	c->address = strdup(a->address);
	c->path = strdup(a->path);
	c->host_header = strdup(a->host_header);
	c->protocols = dup_or_null(a->protocols);
	c->headers = dup_or_null(a->headers);
	c->tls = a->tls ? gws_tls_copy(a->tls) : NULL;
	c->port = a->port;
	if (!c->address || !c->path || !c->host_header || (a->tls && !c->tls)) {
		free_args(c);
		gws_ctx_unlock(ctx);
		return GWS_ERR_OUT_OF_MEMORY;
	}
	c->state = GWS_STATE_CONNECTING;
	c->closed_reported = false;
	c->close_requested = false;
	c->close_code = -1;
	c->close_reason_len = 0;
	c->rx_msgs_held = c->rx_bytes_held = 0;
	c->rx_paused = false;
	r = gws_post_locked(ctx, GWS_CMD_CONNECT, c, NULL, 0);
	if (r != GWS_OK)
		c->state = GWS_STATE_CLOSED;
	gws_ctx_unlock(ctx);
	return r;
}

uint32_t gws_conn_serial(const gws_conn *c) { return c->serial; }

int gws_conn_state(const gws_conn *c)
{
	int s;

	gws_ctx_lock(c->ctx);
	s = c->state;
	gws_ctx_unlock(c->ctx);
	return s;
}

/* Makes room in c's ring for `more` messages, growing it (doubling) once:
 * a batch is then queued whole or not at all.  Lock held. */
static int txq_reserve_locked(struct gws_conn *c, size_t more)
{
	size_t cap, i;
	gws_msg **q;

	if (c->tx_count + more <= c->txq_cap)
		return GWS_OK;
	cap = c->txq_cap ? c->txq_cap * 2 : 16;
	while (cap < c->tx_count + more)
		cap *= 2;
	q = malloc(cap * sizeof(*q));
	if (!q)
		return GWS_ERR_OUT_OF_MEMORY;
	for (i = 0; i < c->tx_count; i++)
		q[i] = c->txq[(c->txq_head + i) % c->txq_cap];
	free(c->txq);
	c->txq = q;
	c->txq_cap = cap;
	c->txq_head = 0;
	return GWS_OK;
}

static bool want_write_locked(struct gws_conn *c, int64_t defer_due);

/* Queues m; defer_due and *woke: as want_write_locked(). */
static int enqueue_locked(struct gws_conn *c, gws_msg *m, int64_t defer_due, bool *woke)
{
	if (txq_reserve_locked(c, 1) != GWS_OK)
		return GWS_ERR_OUT_OF_MEMORY;
	atomic_fetch_add(&m->refs, 1);
	c->txq[(c->txq_head + c->tx_count) % c->txq_cap] = m;
	c->tx_count++;
	c->tx_bytes += m->len;
	*woke = want_write_locked(c, defer_due);
	return GWS_OK;
}

int gws_conn_enqueue_locked(struct gws_conn *c, gws_msg *m)
{
	bool woke;

	return enqueue_locked(c, m, 0, &woke);
}

int gws_conn_enqueue_many_locked(struct gws_conn *c, gws_msg **ms, size_t count, bool add_refs)
{
	size_t pos, i, bytes = 0;

	if (!count)
		return GWS_OK;
	if (txq_reserve_locked(c, count) != GWS_OK)
		return GWS_ERR_OUT_OF_MEMORY;
	pos = (c->txq_head + c->tx_count) % c->txq_cap;
	for (i = 0; i < count; i++) {
		if (add_refs)
			atomic_fetch_add_explicit(&ms[i]->refs, 1, memory_order_relaxed);
		c->txq[pos] = ms[i];
		bytes += ms[i]->len;
		if (++pos == c->txq_cap)
			pos = 0;
	}
	c->tx_count += count;
	c->tx_bytes += bytes;
	gws_conn_want_write_locked(c);
	return GWS_OK;
}

/* Whether c's queue holds half of what its limits let it. */
static bool tx_half_full_locked(const struct gws_conn *c)
{
	return (c->limits.max_queued_packets > 0 &&
	        c->tx_count * 2 >= (uint64_t)c->limits.max_queued_packets) ||
	       (c->limits.outbound_buffer_size > 0 &&
	        c->tx_bytes * 2 >= (uint64_t)c->limits.outbound_buffer_size);
}

/* want_write_locked(): join the window already open, if any. */
#define DEFER_JOIN INT64_MAX

/* Puts c on the service thread's write list.  defer_due 0: written on the
 * thread's next turn (woken for it).  Else c is in a burst
 * (GWS_BURST_GAP_NS) and may wait until defer_due, as long as everything on
 * the list may wait: the thread is woken once, to learn the time, and
 * writes the list when it comes (gws_run_commands()).  DEFER_JOIN: may
 * wait for the window open now, else goes at once.  True when the service
 * thread was (or is being) asked to wake. */
static bool want_write_locked(struct gws_conn *c, int64_t defer_due)
{
	gws_context *ctx = c->ctx;

	if (defer_due == DEFER_JOIN)
		defer_due = ctx->tx_defer_due;
	/* A parked service thread leaves the loop to a waiter (wait.c), which
	 * does not time deferred writes; a large queue goes at once, and so
	 * does one half way to its limits (Godot's defaults: 2048 packets,
	 * 64 KiB), so that a burst that keeps the thread busy is not refused
	 * for want of a write. */
	if (defer_due && (atomic_load(&ctx->parked) || c->tx_bytes >= GWS_TX_DEFER_MAX_BYTES ||
	                  tx_half_full_locked(c)))
		defer_due = 0;
	if (c->write_requested) {
		if (!defer_due && ctx->tx_defer_due) {
			ctx->tx_defer_due = 0;
			gws_request_wake_locked(ctx);
			return true;
		}
		return false;
	}
	/* The service thread writes (or asks lws for WRITEABLE) on its next
	 * turn. */
	if (ctx->nwant_write == ctx->capwant_write) {
		size_t cap = ctx->capwant_write ? ctx->capwant_write * 2 : 64;
		struct gws_conn **w = realloc(ctx->want_write, cap * sizeof(*w));

		if (!w)
			return false;  /* written with the next request */
		ctx->want_write = w;
		ctx->capwant_write = cap;
	}
	gws_conn_ref(c);
	ctx->want_write[ctx->nwant_write++] = c;
	c->write_requested = true;
	if (!defer_due) {
		ctx->tx_defer_due = 0;
		gws_request_wake_locked(ctx);
		return true;
	}
	if (ctx->nwant_write == 1) {
		/* the first of a window: the wake-up tells the thread when */
		ctx->tx_defer_due = defer_due;
		gws_request_wake_locked(ctx);
		return true;
	}
	/* else the list is already due: at its time, or (tx_defer_due 0) at
	 * once */
	return false;
}

void gws_conn_want_write_locked(struct gws_conn *c)
{
	(void)want_write_locked(c, 0);
}

bool gws_conn_tx_room_locked(const struct gws_conn *c, size_t len)
{
	if (c->limits.max_queued_packets <= 0 ||
	    c->tx_count >= (uint64_t)c->limits.max_queued_packets)
		return false;
	return c->limits.outbound_buffer_size <= 0 ||
	       c->tx_bytes + len <= (uint64_t)c->limits.outbound_buffer_size;
}

/* gws_conn_send() minus the burst bookkeeping; *slow: it made a system
 * call (a direct send, a wake-up of the service thread). */
static int conn_send(gws_conn *c, const char *data, size_t len, int text, int64_t now,
                     bool *slow)
{
	gws_context *ctx = c->ctx;
	int64_t defer_due = 0;
	gws_msg *m;
	int r;

	if (ctx->direct_ok) {
		/* The gap counts from the end of the connection's last send,
		 * so that one slow send (a system call) does not end a burst. */
		int64_t last = atomic_load_explicit(&c->last_send_ns, memory_order_relaxed);
		/* While bursts wait for their window (on any connection), a
		 * send joins it rather than costing a system call of its own
		 * now and a wake-up of the service thread. */
		bool window = ctx->tx_defer_ns &&
		              atomic_load_explicit(&ctx->tx_defer_due, memory_order_relaxed);

		if (!window && gws_direct_send(c, data, len, text, now) == GWS_OK) {
			*slow = true;
			return GWS_OK;
		}
		if (ctx->tx_defer_ns && now - last < ctx->tx_burst_gap_ns)
			defer_due = now + ctx->tx_defer_ns;
		else if (window)
			defer_due = DEFER_JOIN;
	}
	/* Copy before taking the lock, so the lock is held for the queue
	 * operation only; a refused send costs one wasted copy. */
	m = gws_msg_new(data, len, text);
	if (!m)
		return GWS_ERR_OUT_OF_MEMORY;
	gws_ctx_lock(ctx);
	if (c->state != GWS_STATE_OPEN || c->close_requested)
		r = GWS_FAILED;
	else if (!gws_conn_tx_room_locked(c, len))
		r = GWS_ERR_OUT_OF_MEMORY;
	else
		r = enqueue_locked(c, m, defer_due, slow);
	gws_ctx_unlock(ctx);
	gws_msg_unref(m);
	return r;
}

int gws_conn_send(gws_conn *c, const char *data, size_t len, int text)
{
	bool slow = false;
	int64_t now;
	int r;

	if (!c->ctx->direct_ok)
		return conn_send(c, data, len, text, 0, &slow);
	now = gws_now_ns();
	r = conn_send(c, data, len, text, now, &slow);
	/* A burst's next send counts from the end of this one: a system call
	 * here may take longer than the gap (a queued send takes ~0.2 us). */
	atomic_store_explicit(&c->last_send_ns, slow ? gws_now_ns() : now, memory_order_relaxed);
	return r;
}

gws_msg **gws_msgs_new(const char *data, const size_t *lens, size_t n, int text,
                       size_t *out_count, size_t *out_bytes)
{
	gws_msg **ms = malloc((n ? n : 1) * sizeof(*ms));
	size_t i, k = 0, bytes = 0, off = 0;

	if (!ms)
		return NULL;
	for (i = 0; i < n; i++) {
		size_t len = lens[i];

		if (!len)
			continue;  /* as put_packet(): an empty packet sends nothing */
		ms[k] = gws_msg_new(data + off, len, text);
		if (!ms[k]) {
			gws_msgs_free(ms, k);
			return NULL;
		}
		k++;
		off += len;
		bytes += len;
	}
	*out_count = k;
	*out_bytes = bytes;
	return ms;
}

void gws_msgs_free(gws_msg **ms, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		gws_msg_unref(ms[i]);
	free(ms);
}

bool gws_conn_tx_room_many_locked(const struct gws_conn *c, size_t count, size_t bytes)
{
	if (!count)
		return true;
	if (c->limits.max_queued_packets <= 0 ||
	    c->tx_count + count > (uint64_t)c->limits.max_queued_packets)
		return false;
	return c->limits.outbound_buffer_size <= 0 ||
	       c->tx_bytes + bytes <= (uint64_t)c->limits.outbound_buffer_size;
}

int gws_conn_send_many(gws_conn *c, const char *data, const size_t *lens, size_t n, int text)
{
	gws_context *ctx = c->ctx;
	size_t count, bytes;
	gws_msg **ms;
	int r;

	/* Copy before taking the lock, as gws_conn_send() does. */
	ms = gws_msgs_new(data, lens, n, text, &count, &bytes);
	if (!ms)
		return GWS_ERR_OUT_OF_MEMORY;
	gws_ctx_lock(ctx);
	if (c->state != GWS_STATE_OPEN || c->close_requested)
		r = GWS_FAILED;
	else if (!gws_conn_tx_room_many_locked(c, count, bytes))
		r = GWS_ERR_OUT_OF_MEMORY;
	else
		r = gws_conn_enqueue_many_locked(c, ms, count, true);
	gws_ctx_unlock(ctx);
	gws_msgs_free(ms, count);
	return r;
}

void gws_conn_clear_tx_locked(struct gws_conn *c)
{
	size_t i;

	for (i = 0; i < c->tx_count; i++)
		gws_msg_unref(c->txq[(c->txq_head + i) % c->txq_cap]);
	c->txq_head = 0;
	c->tx_count = c->tx_bytes = 0;
}

static void member_remove_locked(struct gws_conn *c)
{
	gws_group *g = c->group;

	if (!c->member)
		return;
	if (c->mprev)
		c->mprev->mnext = c->mnext;
	else
		g->members = c->mnext;
	if (c->mnext)
		c->mnext->mprev = c->mprev;
	c->mprev = c->mnext = NULL;
	c->member = false;
}

void gws_conn_report_closed_locked(struct gws_conn *c, int code,
                                   const char *reason, size_t reason_len)
{
	if (c->closed_reported)
		return;
	c->closed_reported = true;
	c->state = GWS_STATE_CLOSED;
	c->close_code = code;
	if (reason_len > sizeof(c->close_reason))
		reason_len = sizeof(c->close_reason);
	if (reason_len)
		memcpy(c->close_reason, reason, reason_len);
	c->close_reason_len = reason_len;
	member_remove_locked(c);
	gws_emit_locked(c->group, GWS_EV_CLOSED, c->serial, code, reason, reason_len);
}

int gws_conn_close(gws_conn *c, int code, const char *reason, size_t reason_len)
{
	gws_context *ctx = c->ctx;
	int r = GWS_OK;

	gws_ctx_lock(ctx);
	if (code < 0 || c->state == GWS_STATE_CONNECTING) {
		/* Immediate: no close frame; queued data is discarded. */
		c->close_requested = false;
		if (c->state != GWS_STATE_CLOSED) {
			gws_conn_clear_tx_locked(c);
			gws_conn_report_closed_locked(c, c->close_code, "", 0);
		}
		r = gws_post_locked(ctx, GWS_CMD_DROP, c, NULL, 0);
	} else if (c->state == GWS_STATE_OPEN && !c->close_requested) {
		if (reason_len > 123)
			reason_len = 123;
		c->close_requested = true;
		c->state = GWS_STATE_CLOSING;
		/* Until the peer answers, the code we sent is the best answer
		 * to get_close_code(); lws does not expose the echo. */
		c->close_code = code;
		if (reason_len)
			memcpy(c->close_reason, reason, reason_len);
		c->close_reason_len = reason_len;
		member_remove_locked(c);
		r = gws_post_locked(ctx, GWS_CMD_CLOSE, c, NULL, code);
	}
	gws_ctx_unlock(ctx);
	return r;
}

void gws_conn_set_member(gws_conn *c, int member)
{
	gws_group *g = c->group;

	gws_ctx_lock(c->ctx);
	if (member && !c->member && c->state == GWS_STATE_OPEN) {
		c->member = true;
		c->mprev = NULL;
		c->mnext = g->members;
		if (g->members)
			g->members->mprev = c;
		g->members = c;
	} else if (!member) {
		member_remove_locked(c);
	}
	gws_ctx_unlock(c->ctx);
}

void gws_conn_set_limits(gws_conn *c, const gws_limits *limits)
{
	gws_ctx_lock(c->ctx);
	c->limits = *limits;
	gws_ctx_unlock(c->ctx);
}

void gws_conn_set_heartbeat(gws_conn *c, int64_t interval_ms)
{
	gws_ctx_lock(c->ctx);
	if (c->heartbeat_ms != interval_ms) {
		c->heartbeat_ms = interval_ms;
		if (c->state == GWS_STATE_OPEN)
			gws_post_locked(c->ctx, GWS_CMD_HEARTBEAT, c, NULL, 0);
	}
	gws_ctx_unlock(c->ctx);
}

void gws_conn_set_no_delay(gws_conn *c, int enabled)
{
	gws_ctx_lock(c->ctx);
	gws_post_locked(c->ctx, GWS_CMD_NODELAY, c, NULL, enabled);
	gws_ctx_unlock(c->ctx);
}

int64_t gws_conn_outbound_buffered(const gws_conn *c)
{
	int64_t n;

	gws_ctx_lock(c->ctx);
	n = c->state == GWS_STATE_OPEN ? (int64_t)c->tx_bytes : 0;
	gws_ctx_unlock(c->ctx);
	return n;
}

bool gws_conn_rx_over_limit_locked(const struct gws_conn *c)
{
	return (c->limits.max_queued_packets > 0 &&
	        c->rx_msgs_held >= (uint64_t)c->limits.max_queued_packets) ||
	       (c->limits.inbound_buffer_size > 0 &&
	        c->rx_bytes_held >= (uint64_t)c->limits.inbound_buffer_size);
}

void gws_conn_credit_rx_locked(struct gws_conn *c, uint64_t msgs, uint64_t bytes)
{
	c->rx_msgs_held -= msgs < c->rx_msgs_held ? msgs : c->rx_msgs_held;
	c->rx_bytes_held -= bytes < c->rx_bytes_held ? bytes : c->rx_bytes_held;
	if (c->rx_paused && !gws_conn_rx_over_limit_locked(c))
		gws_post_locked(c->ctx, GWS_CMD_RX_RESUME, c, NULL, 0);
}

void gws_conn_rx_release(gws_conn *c, uint64_t msgs, uint64_t bytes)
{
	gws_ctx_lock(c->ctx);
	gws_conn_credit_rx_locked(c, msgs, bytes);
	gws_ctx_unlock(c->ctx);
}

void gws_conn_release(gws_conn *c)
{
	gws_context *ctx;
	bool closing;

	if (!c)
		return;
	ctx = c->ctx;
	gws_ctx_lock(ctx);
	c->caller_released = true;
	member_remove_locked(c);
	/* A closing handshake under way is left to finish (lws bounds it with
	 * its close timeout); anything else is dropped now. */
	closing = c->state == GWS_STATE_CLOSING && !c->closed_reported;
	if (!c->closed_reported) {
		if (!closing)
			gws_conn_clear_tx_locked(c);
		c->closed_reported = true;  /* nobody listens any more */
		c->state = GWS_STATE_CLOSED;
	}
	if (!closing)
		gws_post_locked(ctx, GWS_CMD_DROP, c, NULL, 0);
	gws_ctx_unlock(ctx);
	gws_conn_unref(c);
}
