/*
 * group.c - per-group event buffers, draining and broadcast.
 *
 * A group is what one Python object polls: a WebSocketPeer (one connection)
 * or a WebSocketMultiplayerPeer (a listener and all its connections).  The
 * service thread appends events to events[cur]; gws_group_poll() swaps the
 * two buffers, so the caller parses one while the core fills the other, and
 * everything pending crosses the FFI boundary in a single call.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int gws_bytes_reserve(gws_bytes *b, size_t extra)
{
	size_t want = b->len + extra, cap;
	uint8_t *p;

	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int gws_bytes_append(gws_bytes *b, const void *data, size_t len)
{
	if (gws_bytes_reserve(b, len))
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void gws_bytes_free(gws_bytes *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- the block pool (internal.h) ---------------------------------------- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	void *p;
	size_t cap;
} pool[GWS_POOL_SLOTS];          /* [pool_lock] p == NULL: empty slot */
static size_t pool_bytes;        /* [pool_lock] */

void *gws_block_alloc(size_t size, size_t *cap)
{
	void *p = NULL;
	int i, best = -1;

	if (size >= GWS_BLOCK_MIN) {
		/* the smallest pooled block that fits */
		pthread_mutex_lock(&pool_lock);
		for (i = 0; i < GWS_POOL_SLOTS; i++)
			if (pool[i].p && pool[i].cap >= size &&
			    (best < 0 || pool[i].cap < pool[best].cap))
				best = i;
		if (best >= 0) {
			p = pool[best].p;
			*cap = pool[best].cap;
			pool[best].p = NULL;
			pool_bytes -= *cap;
		}
		pthread_mutex_unlock(&pool_lock);
		if (p)
			return p;
	}
	p = malloc(size ? size : 1);
	*cap = p ? size : 0;
	return p;
}

void gws_block_free(void *p, size_t cap)
{
	void *evicted = NULL;
	int i, slot = -1, smallest = -1;

	if (!p)
		return;
	if (cap < GWS_BLOCK_MIN || cap > GWS_POOL_BYTES) {
		free(p);
		return;
	}
	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < GWS_POOL_SLOTS; i++) {
		if (!pool[i].p) {
			if (slot < 0)
				slot = i;
		} else if (smallest < 0 || pool[i].cap < pool[smallest].cap) {
			smallest = i;
		}
	}
	/* Full: a larger block replaces the smallest one, so the pool follows
	 * the sizes in use. */
	if ((slot < 0 || pool_bytes + cap > GWS_POOL_BYTES) && smallest >= 0 &&
	    pool[smallest].cap < cap && pool_bytes - pool[smallest].cap + cap <= GWS_POOL_BYTES) {
		evicted = pool[smallest].p;
		pool_bytes -= pool[smallest].cap;
		pool[smallest].p = NULL;
		slot = smallest;
	}
	if (slot >= 0 && pool_bytes + cap <= GWS_POOL_BYTES) {
		pool[slot].p = p;
		pool[slot].cap = cap;
		pool_bytes += cap;
		p = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(evicted);
	free(p);
}

/* ---- groups ---------------------------------------------------------------- */

typedef struct gws_block_ref {
	void *p;
	size_t cap;
} gws_block_ref;

/* Frees the blocks listed in *list (taken over by the caller). */
static void free_blocks(gws_bytes *list)
{
	size_t i, n = list->len / sizeof(gws_block_ref);

	for (i = 0; i < n; i++) {
		gws_block_ref r;

		memcpy(&r, list->data + i * sizeof(r), sizeof(r));
		gws_block_free(r.p, r.cap);
	}
	gws_bytes_free(list);
}

void gws_group_ref(gws_group *g) { atomic_fetch_add(&g->refs, 1); }

void gws_group_unref(gws_group *g)
{
	gws_context *ctx;

	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	ctx = g->ctx;
	gws_bytes_free(&g->events[0]);
	gws_bytes_free(&g->events[1]);
	gws_bytes_free(&g->index[0]);
	gws_bytes_free(&g->index[1]);
	gws_bytes_free(&g->split_fmt);
	gws_bytes_free(&g->split_tags);
	free(g->tag_keys);
	free(g->tag_vals);
	free_blocks(&g->blocks[0]);
	free_blocks(&g->blocks[1]);
	free(g->dirty);
	gws_group_wait_free(g);
	free(g);
	gws_context_release(ctx);
}

int gws_group_new(gws_context *ctx, int auto_release, gws_group **out)
{
	gws_group *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		return GWS_ERR_OUT_OF_MEMORY;
	atomic_init(&g->refs, 1);
	g->ctx = ctx;
	g->auto_release = auto_release != 0;
	g->efd = -1;
	gws_context_ref(ctx);
	*out = g;
	return GWS_OK;
}

void gws_group_release(gws_group *g)
{
	gws_context *ctx;
	struct gws_conn **orphans = NULL;
	size_t n = 0, cap = 0, off;
	gws_bytes *b;

	if (!g)
		return;
	/* A connection accepted after the caller's last poll is owned by the
	 * caller, who will never see its ACCEPTED event now: release it here,
	 * or it (and, through its reference, this group) would never be
	 * freed.  Only the undrained buffer is looked at: the other one was
	 * handed over by the last gws_group_poll(). */
	ctx = g->ctx;
	gws_ctx_lock(ctx);
	b = &g->events[g->cur];
	for (off = 0; off + sizeof(gws_event) <= b->len;) {
		gws_event ev;
		uintptr_t ptr;

		memcpy(&ev, b->data + off, sizeof(ev));
		if (ev.type == GWS_EV_ACCEPTED && ev.size == sizeof(ptr)) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct gws_conn **p = realloc(orphans, ncap * sizeof(*p));

				if (!p)
					break;
				orphans = p;
				cap = ncap;
			}
			memcpy(&ptr, b->data + off + sizeof(ev), sizeof(ptr));
			orphans[n++] = (struct gws_conn *)ptr;
			ev.type = 0;  /* consumed */
			memcpy(b->data + off, &ev, sizeof(ev));
		}
		off += sizeof(ev) + ((ev.size + 7u) & ~(size_t)7u);
	}
	gws_ctx_unlock(ctx);
	while (n)
		gws_conn_release(orphans[--n]);
	free(orphans);
	gws_group_unref(g);
}

void gws_emit_locked(gws_group *g, uint32_t type, uint32_t conn, int32_t code,
                     const void *data, size_t len)
{
	gws_bytes *b = &g->events[g->cur];
	gws_bytes *ix = &g->index[g->cur];
	size_t padded = (len + 7u) & ~(size_t)7u;
	gws_event ev;

	/* Offsets are 32-bit: a buffer stops growing at 4 GiB (the caller
	 * drains far more often; a message that big is refused by the limits). */
	if (len > UINT32_MAX || b->len + sizeof(ev) + padded > UINT32_MAX ||
	    gws_bytes_reserve(b, sizeof(ev) + padded) ||
	    (type == GWS_EV_MESSAGE && gws_bytes_reserve(ix, 3 * sizeof(uint32_t)))) {
		/* Out of memory: the event is lost. */
		return;
	}
	if (type == GWS_EV_MESSAGE) {
		uint32_t rec[3];

		rec[0] = conn;
		rec[1] = (uint32_t)(b->len + sizeof(ev));
		rec[2] = (uint32_t)(b->len + sizeof(ev) + len);
		memcpy(ix->data + ix->len, rec, sizeof(rec));
		ix->len += sizeof(rec);
	} else {
		g->nother[g->cur]++;
	}
	ev.type = type;
	ev.conn = conn;
	ev.code = code;
	ev.size = (uint32_t)len;
	memcpy(b->data + b->len, &ev, sizeof(ev));
	if (len)
		memcpy(b->data + b->len + sizeof(ev), data, len);
	if (padded != len)
		memset(b->data + b->len + sizeof(ev) + len, 0, padded - len);
	b->len += sizeof(ev) + padded;
	g->ctx->rx_queued += sizeof(ev) + len;
	gws_group_signal_locked(g);
}

const volatile uint32_t *gws_group_events_flag(const gws_group *g)
{
	return &g->has_events;
}

void gws_emit_message_block_locked(gws_group *g, uint32_t conn, int32_t code,
                                   uint8_t *data, size_t len, size_t cap)
{
	gws_block_ref r = { data, cap };
	gws_message_ref ref = { (uint64_t)(uintptr_t)data, (uint64_t)len };
	gws_bytes *list = &g->blocks[g->cur];
	gws_bytes *b = &g->events[g->cur];
	size_t before = b->len;

	if (gws_bytes_reserve(list, sizeof(r)) == 0) {
		gws_emit_locked(g, GWS_EV_MESSAGE_REF, conn, code, &ref, sizeof(ref));
		if (b->len != before) {
			g->ctx->rx_queued += len;
			gws_bytes_append(list, &r, sizeof(r));  /* reserved: cannot fail */
			return;
		}
	}
	/* out of memory: the copy is all we can try */
	gws_emit_locked(g, GWS_EV_MESSAGE, conn, code, data, len);
	gws_block_free(data, cap);
}

void gws_emit_log_locked(gws_group *g, uint32_t conn, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	gws_emit_locked(g, GWS_EV_LOG, conn, level, line, (size_t)n);
}

void gws_group_mark_dirty_locked(gws_group *g, struct gws_conn *c)
{
	if (c->in_dirty)
		return;
	if (g->ndirty == g->capdirty) {
		size_t cap = g->capdirty ? g->capdirty * 2 : 16;
		struct gws_conn **p = realloc(g->dirty, cap * sizeof(*p));

		if (!p)
			return; /* credited later by rx_release or never paused */
		g->dirty = p;
		g->capdirty = cap;
	}
	gws_conn_ref(c);
	c->in_dirty = true;
	g->dirty[g->ndirty++] = c;
}

int gws_group_poll(gws_group *g, const uint8_t **out_buf, size_t *out_len)
{
	const uint32_t *index;
	size_t nmsgs, nother;

	return gws_group_poll_indexed(g, out_buf, out_len, &index, &nmsgs, &nother);
}

int gws_group_poll_indexed(gws_group *g, const uint8_t **out_buf, size_t *out_len,
                           const uint32_t **out_index, size_t *out_nmsgs,
                           size_t *out_nother)
{
	gws_context *ctx = g->ctx;
	struct gws_conn **dirty;
	size_t ndirty, i;
	gws_bytes *b, *ix, handed;
	int old;

	if (!ctx->threaded)
		gws_context_service(ctx);

	gws_ctx_lock(ctx);
	old = g->cur;
	b = &g->events[old];
	ix = &g->index[old];
	*out_nother = g->nother[old];
	g->cur ^= 1;
	g->events[g->cur].len = 0;
	g->index[g->cur].len = 0;
	g->nother[g->cur] = 0;
	gws_group_unsignal_locked(g);
	/* The payloads the previous poll handed over go with their buffer. */
	handed = g->blocks[g->cur];
	memset(&g->blocks[g->cur], 0, sizeof(handed));
	/* Auto-release groups: what the caller now holds no longer counts
	 * against the connections' inbound budgets. */
	/* The array is taken over whole: once the lock is released the service
	 * thread starts a new one, and the references are dropped outside the
	 * lock (gws_conn_unref() takes it). */
	dirty = g->dirty;
	ndirty = g->ndirty;
	g->dirty = NULL;
	g->ndirty = g->capdirty = 0;
	for (i = 0; i < ndirty; i++) {
		struct gws_conn *c = dirty[i];

		c->in_dirty = false;
		gws_conn_credit_rx_locked(c, c->rx_msgs_held, c->rx_bytes_held);
	}
	gws_ctx_unlock(ctx);
	for (i = 0; i < ndirty; i++)
		gws_conn_unref(dirty[i]);
	free(dirty);
	if (handed.data)
		free_blocks(&handed);

	*out_buf = b->data;
	*out_len = b->len;
	*out_index = (const uint32_t *)ix->data;
	*out_nmsgs = ix->len / (3 * sizeof(uint32_t));
	return GWS_OK;
}

static size_t tag_slot(uint32_t serial, size_t cap)
{
	return (size_t)(serial * 2654435761u) & (cap - 1);
}

static int32_t tag_get(const gws_group *g, uint32_t serial)
{
	size_t i;

	if (!g->tag_count)
		return 0;
	for (i = tag_slot(serial, g->tag_cap); g->tag_keys[i]; i = (i + 1) & (g->tag_cap - 1))
		if (g->tag_keys[i] == serial)
			return g->tag_vals[i];
	return 0;
}

static void tag_remove(gws_group *g, uint32_t serial)
{
	size_t mask = g->tag_cap - 1, i, j;

	if (!g->tag_count)
		return;
	for (i = tag_slot(serial, g->tag_cap); g->tag_keys[i]; i = (i + 1) & mask)
		if (g->tag_keys[i] == serial)
			break;
	if (!g->tag_keys[i])
		return;
	g->tag_keys[i] = 0;
	g->tag_count--;
	/* backward-shift deletion: re-place the rest of the probe run */
	for (j = (i + 1) & mask; g->tag_keys[j]; j = (j + 1) & mask) {
		uint32_t k = g->tag_keys[j];
		int32_t v = g->tag_vals[j];
		size_t h;

		g->tag_keys[j] = 0;
		for (h = tag_slot(k, g->tag_cap); g->tag_keys[h]; h = (h + 1) & mask)
			;
		g->tag_keys[h] = k;
		g->tag_vals[h] = v;
	}
}

static int tag_put(gws_group *g, uint32_t serial, int32_t tag)
{
	size_t i, mask;

	if ((g->tag_count + 1) * 2 > g->tag_cap) {
		size_t cap = g->tag_cap ? g->tag_cap * 2 : 64, n;
		uint32_t *keys = calloc(cap, sizeof(*keys));
		int32_t *vals = calloc(cap, sizeof(*vals));

		if (!keys || !vals) {
			free(keys);
			free(vals);
			return GWS_ERR_OUT_OF_MEMORY;
		}
		for (n = 0; n < g->tag_cap; n++) {
			if (!g->tag_keys[n])
				continue;
			for (i = tag_slot(g->tag_keys[n], cap); keys[i]; i = (i + 1) & (cap - 1))
				;
			keys[i] = g->tag_keys[n];
			vals[i] = g->tag_vals[n];
		}
		free(g->tag_keys);
		free(g->tag_vals);
		g->tag_keys = keys;
		g->tag_vals = vals;
		g->tag_cap = cap;
	}
	mask = g->tag_cap - 1;
	for (i = tag_slot(serial, g->tag_cap); g->tag_keys[i]; i = (i + 1) & mask)
		if (g->tag_keys[i] == serial) {
			g->tag_vals[i] = tag;
			return GWS_OK;
		}
	g->tag_keys[i] = serial;
	g->tag_vals[i] = tag;
	g->tag_count++;
	return GWS_OK;
}

int gws_group_set_tag(gws_group *g, uint32_t serial, int32_t tag)
{
	if (!serial)
		return GWS_ERR_INVALID_PARAMETER;
	if (!tag) {
		tag_remove(g, serial);
		return GWS_OK;
	}
	return tag_put(g, serial, tag);
}

/* Appends the decimal digits of v. */
static char *put_uint(char *p, uint32_t v)
{
	char tmp[10];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

int gws_group_poll_split(gws_group *g, const uint8_t **out_buf, size_t *out_len,
                         const uint32_t **out_index, size_t *out_nmsgs, size_t *out_nother,
                         const char **out_fmt, size_t *out_fmt_len, size_t *out_nempty,
                         const int32_t **out_tags, size_t *out_nuntagged)
{
	gws_bytes *f = &g->split_fmt, *t = &g->split_tags;
	size_t i, n, nempty = 0, nuntagged = 0;
	uint32_t prev = 0;
	const uint32_t *ix;
	int32_t *tags;
	char *p;
	int r = gws_group_poll_indexed(g, out_buf, out_len, out_index, out_nmsgs, out_nother);

	*out_fmt = NULL;
	*out_fmt_len = 0;
	*out_nempty = 0;
	*out_tags = NULL;
	*out_nuntagged = 0;
	n = *out_nmsgs;
	if (r != GWS_OK || !n)
		return r;
	/* per message at most "4294967295x4294967295s": 22 bytes, plus "=" */
	f->len = t->len = 0;
	if (gws_bytes_reserve(f, 1 + 22 * n) || gws_bytes_reserve(t, n * sizeof(int32_t)))
		return GWS_ERR_OUT_OF_MEMORY;
	ix = *out_index;
	p = (char *)f->data;
	tags = (int32_t *)t->data;
	*p++ = '=';
	for (i = 0; i < n; i++, ix += 3) {
		if (ix[1] != prev) {
			p = put_uint(p, ix[1] - prev);
			*p++ = 'x';
		}
		p = put_uint(p, ix[2] - ix[1]);
		*p++ = 's';
		if (ix[2] == ix[1])
			nempty++;
		prev = ix[2];
		tags[i] = tag_get(g, ix[0]);
		if (!tags[i])
			nuntagged++;
	}
	f->len = (size_t)(p - (char *)f->data);
	*out_fmt = (const char *)f->data;
	*out_fmt_len = f->len;
	*out_nempty = nempty;
	*out_tags = tags;
	*out_nuntagged = nuntagged;
	return GWS_OK;
}

/* Whether member c gets a broadcast (room: its queue has room for it).  A
 * member skipped for want of room is logged once per overflow episode, not
 * once per message: a stalled peer under a broadcast would flood the log. */
static bool takes_broadcast_locked(gws_group *g, struct gws_conn *c, const gws_conn *exclude,
                                   bool room)
{
	if (c == exclude || c->state != GWS_STATE_OPEN || c->close_requested)
		return false;
	if (room)
		return true;
	if (!c->tx_full_logged) {
		c->tx_full_logged = true;
		gws_emit_log_locked(g, c->serial, 40,
			"Send failed on connection %u: outbound queue full (ERR_OUT_OF_MEMORY); "
			"further drops are not logged until it drains", c->serial);
	}
	return false;
}

int64_t gws_group_broadcast(gws_group *g, const char *data, size_t len, int text,
                            const gws_conn *exclude)
{
	gws_context *ctx = g->ctx;
	struct gws_conn *c;
	int64_t n = 0;
	gws_msg *m = gws_msg_new(data, len, text);

	if (!m)
		return -1;
	gws_ctx_lock(ctx);
	for (c = g->members; c; c = c->mnext) {
		if (!takes_broadcast_locked(g, c, exclude, gws_conn_tx_room_locked(c, len)))
			continue;
		if (gws_conn_enqueue_locked(c, m) == GWS_OK)
			n++;
	}
	gws_ctx_unlock(ctx);
	gws_msg_unref(m);
	return n;
}

int64_t gws_group_broadcast_many(gws_group *g, const char *data, const size_t *lens,
                                 size_t n, int text, const gws_conn *exclude)
{
	gws_context *ctx = g->ctx;
	struct gws_conn *c;
	int64_t nconns = 0;
	size_t count, bytes, i;
	gws_msg **ms = gws_msgs_new(data, lens, n, text, &count, &bytes);

	if (!ms)
		return -1;
	if (!count) {
		gws_msgs_free(ms, 0);
		return 0;
	}
	gws_ctx_lock(ctx);
	for (c = g->members; c; c = c->mnext) {
		if (!takes_broadcast_locked(g, c, exclude,
		                            gws_conn_tx_room_many_locked(c, count, bytes)))
			continue;
		if (gws_conn_enqueue_many_locked(c, ms, count, false) == GWS_OK)
			nconns++;
	}
	/* Each queue's references, added once per message while the lock still
	 * keeps every other thread away from these queues. */
	if (nconns)
		for (i = 0; i < count; i++)
			atomic_fetch_add(&ms[i]->refs, (int)nconns);
	gws_ctx_unlock(ctx);
	gws_msgs_free(ms, count);
	return nconns;
}
