/*
 * internal.h - structures shared by the core's implementation files.
 *
 * Locking: one mutex per context (ctx->lock) guards every field marked
 * [L] below, for all groups, connections and listeners of that context.
 * Fields marked [S] belong to whoever holds ctx->svc_lock: the service
 * thread holds it at all times except while it waits in epoll or is parked
 * (or the polling thread during a no-thread service step); a waiter that
 * runs the loop while the service thread is parked holds it the same way
 * (wait.c); and a sender that gets it with trylock may write to a socket
 * itself (gws_direct_send()).  ctx->lock is
 * held only for queue operations, never across I/O; svc_lock is taken before
 * ctx->lock, never after.
 */
#ifndef GWS_INTERNAL_H
#define GWS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "gws.h"

/* Largest WebSocket frame header: 2 + 8 (length) + 4 (mask). */
#define GWS_MAX_FRAME_HEADER 14
/* Size of the buffer frames are gathered into before one write. */
#define GWS_WRITE_BATCH (256 * 1024)
/* A send this soon (ns) after the last direct one on the same connection ended is
 * queued instead: a burst then leaves in a few large writes of the service
 * thread rather than in one system call per message. */
#define GWS_DIRECT_GAP_NS 20000
/* A send on one connection this soon (ns) after the last one returned is
 * part of a burst, as a put_packet() loop makes them (~1 us apart; an echo's
 * round trip is tens of us).  On a threaded context the service thread
 * writes a burst's queued messages once per window (ctx->tx_defer_ns)
 * instead of being woken for every few: one wake-up and one send() per
 * window rather than one per ~5 messages (W2: 36k context switches for 300k
 * messages before).  The window is timed by epoll_wait(), whose timeout has
 * millisecond steps: a shorter window lasts 1 ms all the same. */
#define GWS_BURST_GAP_NS 5000
#define GWS_TX_DEFER_US_DEFAULT 1000
/* Read batching (wait.c): the longest nap (microseconds), and which share
 * of the program's average drain lag a nap lasts (1/N). */
#define GWS_RX_NAP_US_DEFAULT 1000
#define GWS_NAP_SHARE_DEFAULT 8
/* A connection with this much queued is written without waiting. */
#define GWS_TX_DEFER_MAX_BYTES (64 * 1024)
/* tx_packet_size of our lws protocols: the most lws hands to one send().
 * Left at 0, lws sends pt_serv_buf_size (64 KiB) per send() and copies the
 * rest of each batch into a buffer of its own, drained one 64 KiB send() per
 * trip through the event loop.  (lws_issue_raw() adds LWS_PRE + 4.) */
#define GWS_TX_PACKET_SIZE GWS_WRITE_BATCH

typedef struct gws_bytes {
	uint8_t *data;
	size_t len;
	size_t cap;
} gws_bytes;

int gws_bytes_reserve(gws_bytes *b, size_t extra);
int gws_bytes_append(gws_bytes *b, const void *data, size_t len);
void gws_bytes_free(gws_bytes *b);

/* Large buffers (GWS_BLOCK_MIN bytes and more: reassembled messages, queued
 * outgoing messages) go back to a small process-wide pool when freed and are
 * reused by the next allocation that fits.  Fresh memory of that size comes
 * from mmap() or a heap that malloc trims on every free, and its first touch
 * costs one page fault per 4 KiB: for a 1 MiB echo that was more than the
 * copying itself.  The pool keeps at most GWS_POOL_SLOTS blocks and
 * GWS_POOL_BYTES bytes; a block is plain malloc() memory, so free() is a
 * correct (only slower) way to get rid of one.  Thread-safe; its lock is a
 * leaf (taken with or without ctx->lock held, never the other way round). */
#define GWS_BLOCK_MIN (64 * 1024)
#define GWS_POOL_SLOTS 4
#define GWS_POOL_BYTES (16 * 1024 * 1024)
/* At least size bytes; *cap: how many the block really has. */
void *gws_block_alloc(size_t size, size_t *cap);
void gws_block_free(void *p, size_t cap);

/* One outgoing message, shared (read-only) by every connection it is queued
 * on: a broadcast costs one copy of the payload, not one per peer. */
typedef struct gws_msg {
	atomic_int refs;
	size_t cap;            /* bytes allocated for the whole struct (gws_block_free) */
	size_t len;
	uint8_t opcode;        /* 0x1 text, 0x2 binary */
	uint8_t data[];
} gws_msg;

gws_msg *gws_msg_new(const void *data, size_t len, int text);
void gws_msg_unref(gws_msg *m);

typedef enum gws_cmd_type {
	GWS_CMD_CONNECT,
	GWS_CMD_ACCEPT_FD,
	GWS_CMD_CLOSE,        /* close frame after the queue */
	GWS_CMD_DROP,         /* drop TCP, no close frame */
	GWS_CMD_RX_RESUME,
	GWS_CMD_HEARTBEAT,
	GWS_CMD_NODELAY,
	GWS_CMD_LISTEN,
	GWS_CMD_UNLISTEN
} gws_cmd_type;

typedef struct gws_tls_vhost {
	char *ca_pem;                   /* NULL: the system trust store */
	struct lws_vhost *vhost;
	struct gws_tls_vhost *next;
} gws_tls_vhost;

typedef struct gws_cmd {
	gws_cmd_type type;
	struct gws_conn *conn;         /* holds a reference while queued */
	struct gws_listener *listener; /* likewise */
	int arg;
	struct gws_cmd *next;
} gws_cmd;

struct gws_context {
	atomic_int refs;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* signals finished synchronous commands */
	struct lws_context *lws;        /* [S] after creation */
	struct lws_vhost *client_vhost; /* [S] */
	bool threaded;
	pthread_t thread;
	/* Held by the service thread except while it waits for events; see
	 * the top of this file and evloop.c. */
	pthread_mutex_t svc_lock;
	bool direct_ok;                 /* senders may try gws_direct_send() */
	bool svc_held;                  /* [S] the service thread holds svc_lock */
	bool svc_lent;                  /* [S] ...and let it go for the wait */
	atomic_bool stopping;
	bool shut_down;                 /* [L] */
	bool wake_pending;              /* [L] a cancel_service is on its way */
	bool wake_request;              /* [L] gws_ctx_unlock() must wake the thread */
	atomic_int wakers;              /* threads inside lws_cancel_service() */
	gws_cmd *cmd_head, *cmd_tail;   /* [L] */
	struct gws_conn *conns;         /* [L] every live connection */
	struct gws_conn **want_write;   /* [L] conns that have new data to write */
	size_t nwant_write, capwant_write; /* [L] */
	/* [L] Nonzero while want_write holds only bursts' conns: the service
	 * thread writes them at this time (gws_now_ns()), or at once when
	 * anything else needs writing.  tx_defer_ns: the window, 0 = off. */
	_Atomic int64_t tx_defer_due;   /* (also read without the lock) */
	int64_t tx_defer_ns;
	int64_t tx_burst_gap_ns;        /* GWS_BURST_GAP_NS unless set */
	uint32_t next_serial;           /* [L] */
	uint8_t *batch;                 /* [S] write gathering buffer */
	struct gws_conn *adopting;      /* [S] conn whose fd is being adopted */
	struct gws_tls_vhost *tls_vhosts; /* [S] client vhosts by trust chain */
	uint8_t rnd[256];               /* [S] masking key pool */
	size_t rnd_off;                 /* [S] */
	int evloop;                     /* GWS_EVENT_LOOP_*, set at creation */
	void *evloop_handle;            /* [S] the libev loop (evloop.c) */
	void *evloop_watchers;          /* [S] its prepare and check watchers */
	lws_sorted_usec_list_t evloop_tick; /* [S] libev: bounds timer lateness */
	/* A thread in gws_group_wait() may run the event loop itself while the
	 * service thread is parked (wait.c, "driving"): */
	atomic_int park_req;            /* a waiter asks the service thread to park */
	atomic_bool parked;             /* it is parked (written under svc_lock) */
	atomic_bool driving;            /* a waiter runs the loop (set under svc_lock) */
	atomic_uint park_word;          /* futex of the parked service thread */
	atomic_llong drive_end_ns;      /* when the last driver left (CLOCK_MONOTONIC) */
	atomic_int sleepers;            /* waiters asleep on a group's futex */
	atomic_bool park_end;           /* a leaving driver: take the loop back now */
	atomic_llong inline_last_ns;    /* last gws_service_run_parked() try */
	/* Read batching (wait.c, "naps"): how long after the core signals a
	 * group the program drains it (a moving average, ns), the longest nap
	 * (0: never), and the service thread napping (kicks wake it). */
	atomic_llong drain_lag_ns;
	int64_t rx_nap_max_ns;
	int64_t rx_nap_share;           /* a nap: drain_lag_ns / this */
	atomic_bool napping;
	atomic_ulong naps;              /* naps taken (for tests) */
	/* [L] bytes of events queued since gws_service_nap() last got as far
	 * as the lock (it returns before that while no nap is due: then the
	 * first nap due may be skipped once for bytes of earlier steps) */
	uint64_t rx_queued;
};

struct gws_group {
	atomic_int refs;
	gws_context *ctx;
	bool auto_release;
	gws_bytes events[2];            /* [L] events[cur] is filled by the core */
	gws_bytes index[2];             /* [L] message index of events[i] */
	size_t nother[2];               /* [L] events[i]: events other than messages */
	gws_bytes split_fmt;            /* gws_group_poll_split(): the caller's thread only */
	gws_bytes split_tags;           /* its tags of the indexed messages (int32) */
	uint32_t *tag_keys;             /* serial -> tag (gws_group_set_tag()), open */
	int32_t *tag_vals;              /* addressing; key 0 = empty; caller's thread */
	size_t tag_cap, tag_count;
	/* [L] blocks[i]: the (pointer, capacity) pairs of the message payloads
	 * that GWS_EV_MESSAGE_REF events of events[i] point into; they live as
	 * long as that buffer (freed when it is reused or the group goes). */
	gws_bytes blocks[2];
	int cur;                        /* [L] */
	struct gws_conn **dirty;        /* [L] auto_release: conns to credit at drain */
	size_t ndirty, capdirty;        /* [L] */
	struct gws_conn *members;       /* [L] broadcast list */
	/* 1 while events[cur] holds events; written under the lock with
	 * atomic stores, read by the caller without it (gws_group_events_flag).
	 * Also the futex word of gws_group_wait() (wait.c). */
	volatile uint32_t has_events;
	int64_t signal_ns;              /* [L] when has_events last became 1 */
	/* Threads inside gws_group_wait() that may sleep on has_events: only
	 * then does setting it cost a futex wake-up (wait.c). */
	atomic_int waiters;
	/* gws_group_fd(): an eventfd readable while has_events is 1; -1 until
	 * asked for.  [L] efd_set: it holds a count (written, not yet read). */
	int efd;
	bool efd_set;
};

/* A connection on a raw lws socket whose WebSocket protocol is the core's:
 * a ws:// client (wsclient.c) or a connection of a non-TLS listener
 * (wsserver.c); frames for both in wsproto.c.  The role is !c->is_client.
 * [S] */
enum { WSC_CONNECTING, WSC_REQUEST, WSC_RESPONSE, WSC_OPEN, WSS_REQUEST };

struct gws_wsc {
	int phase;
	char accept[32];               /* the Sec-WebSocket-Accept we expect */
	gws_bytes out;                 /* the request, until it is written */
	gws_bytes in;                  /* response / request head so far; later
	                                * input kept while reading is paused */
	/* frame parser */
	uint8_t hdr[14];
	uint8_t hlen;                  /* header bytes gathered */
	uint8_t checked;               /* server: header bytes checked so far */
	bool skip;                     /* server: payload of a failed frame, skipped */
	bool in_frame;                 /* header done, payload under way */
	bool fin, masked;
	uint8_t op;                    /* opcode of the current frame */
	uint8_t msg_op;                /* 1/2 while a fragmented message is open */
	uint8_t mask[4];
	uint64_t left;                 /* payload bytes of the frame still to come */
	uint64_t off;                  /* payload bytes of the frame seen (masking) */
	uint8_t ctl[125];              /* control frame payload */
	uint8_t ctl_len;
	/* owed control frames, written at the next frame boundary */
	bool pong_due, echo_due;
	uint8_t pong[125], echo[125];
	uint8_t pong_len, echo_len;
	bool paused;                   /* back-pressure, or failed (1009, 1007) until
	                                * our close is out: input is kept in `in` */
	bool halted;                   /* closed by the peer, or being dropped: read no more */
	bool await_close;              /* our close frame is out: wait for the reply */
};

struct gws_conn {
	atomic_int refs;                /* caller handle + lws wsi + queued commands */
	gws_context *ctx;
	gws_group *group;
	uint32_t serial;
	bool is_client;
	bool caller_released;           /* [L] */

	/* [L] state shared with the caller */
	int state;
	bool closed_reported;           /* CLOSED event emitted; nothing follows */
	bool close_requested;           /* a close frame is wanted after the queue */
	int close_code;
	char close_reason[124];
	size_t close_reason_len;
	gws_limits limits;
	uint64_t rx_msgs_held, rx_bytes_held;  /* delivered, not yet released */
	bool rx_paused;
	bool in_dirty;
	gws_msg **txq;                  /* ring of queued messages (no malloc per send) */
	size_t txq_head, txq_cap;
	uint64_t tx_count, tx_bytes;    /* messages in txq and their payload bytes */
	gws_msg *tx_cur;                /* [S] message being written, taken off txq */
	size_t tx_off;                  /* [S] payload bytes of tx_cur written */
	uint8_t tx_mask[4];             /* [S] client: mask of tx_cur */
	gws_bytes direct_rest;          /* [S] framed bytes a direct send left over */
	size_t direct_rest_off;         /* [S] ...of which this many are written */
	uint64_t direct_last_ns;        /* [S] time of the last direct send */
	gws_bytes accept_head;          /* accept_stream(): request bytes read before */
	_Atomic int64_t last_send_ns;   /* when the last gws_conn_send() returned */
	bool wsi_ref;                   /* [S] the wsi holds a reference */
	bool write_requested;
	bool tx_full_logged;            /* an overflow was logged; reset when drained */
	int64_t heartbeat_ms;
	bool member;
	struct gws_conn *mprev, *mnext; /* group member list */
	struct gws_conn *cprev, *cnext; /* context list */

	/* connect / accept arguments, freed once used [L] */
	char *address, *path, *host_header, *protocols, *headers;
	int port;
	int fd;
	gws_tls *tls;

	/* [S] service-thread state */
	struct lws *wsi;
	gws_bytes rx;                   /* message being reassembled */
	bool rx_text;
	bool rx_in_message;
	bool ping_due, awaiting_pong;
	bool dropping;
	struct gws_listener *listener;
	struct gws_wsc *wsc;            /* [S] raw-socket client (wsclient.c), else NULL */
};

struct gws_listener {
	atomic_int refs;
	gws_context *ctx;
	gws_group *group;
	gws_listen_args args;           /* strings owned (copies) */
	gws_tls tls;                    /* copies */
	struct lws_vhost *vhost;        /* [S] */
	struct lws_protocols *protocols;/* protocol table of the vhost */
	char **protocol_names;
	size_t nprotocols;
	int port;                       /* bound port */
	int result;                     /* [L] of the synchronous LISTEN */
	bool done;                      /* [L] */
	bool released;                  /* [L] */
	bool stopped;                   /* [L] the UNLISTEN command ran */
	bool vhost_ref;                 /* [S] the vhost holds a reference */
	bool raw;                       /* connections are raw sockets (wsserver.c) */
};

/* context.c */
void gws_ctx_lock(gws_context *ctx);
/* Unlocks, then wakes the service thread if work was queued meanwhile: the
 * wake-up (a pipe write) happens outside the lock, so the lock is never held
 * across a system call. */
void gws_ctx_unlock(gws_context *ctx);
/* Asks for a wake-up at the next gws_ctx_unlock(); lock held. */
void gws_request_wake_locked(gws_context *ctx);
/* pthread_cond_wait() on ctx->cond, delivering a pending wake-up first. */
void gws_ctx_wait_locked(gws_context *ctx);
/* Queues a command (takes references on conn/listener); caller holds lock. */
int gws_post_locked(gws_context *ctx, gws_cmd_type type, struct gws_conn *c,
                    struct gws_listener *l, int arg);
void gws_context_ref(gws_context *ctx);
int gws_run_commands(gws_context *ctx);  /* [S] */
/* ns until a deferred burst is due (see GWS_BURST_GAP_NS); 0: none. */
int64_t gws_tx_defer_left(gws_context *ctx);
/* CLOCK_MONOTONIC in ns. */
int64_t gws_now_ns(void);
/* The integer in environment variable name, if it is one in [min, max];
 * else dflt. */
long gws_env_long(const char *name, long dflt, long min, long max);

/* evloop.c - the event loop under lws (libev/epoll or poll) */
/* lws_create_context() on the loop GODOT_WEBSOCKET_EVENT_LOOP asks for, or
 * libev when it loads, else poll(); sets ctx->evloop.  NULL on failure. */
struct lws_context *gws_evloop_create(gws_context *ctx,
                                      const struct lws_context_creation_info *info);
/* One service step: blocking (until an event, lws timer or
 * lws_cancel_service()) or not.  < 0 when lws is done.  [S] */
int gws_evloop_step(gws_context *ctx, bool block);
/* libev only: one blocking step that returns after at most timeout_ns.  [S] */
void gws_evloop_step_for(gws_context *ctx, int64_t timeout_ns);
/* lws_context_destroy(ctx->lws), then the loop. */
void gws_evloop_destroy(gws_context *ctx);

/* wait.c - the service thread's side of driving */
/* Parks the service thread (svc_lock held, released while parked) until no
 * waiter drives and none did for a while, or a command needs it.  [S] */
void gws_service_park(gws_context *ctx);
/* Wakes the parked service thread (a command was queued).  Any thread. */
void gws_service_kick(gws_context *ctx);
/* While the service thread is parked and no waiter runs the loop: runs the
 * command queue on this thread (true), else false.  No lock held. */
bool gws_service_run_parked(gws_context *ctx);

/* group.c - all under lock */
void gws_emit_locked(gws_group *g, uint32_t type, uint32_t conn, int32_t code,
                     const void *data, size_t len);
void gws_emit_log_locked(gws_group *g, uint32_t conn, int level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A whole message whose payload is a block (gws_block_alloc, cap bytes): a
 * GWS_EV_MESSAGE_REF event pointing at it; the group takes the block over
 * (on allocation failure it copies the payload into a GWS_EV_MESSAGE and
 * frees the block).  code: 1 text, 0 binary. */
void gws_emit_message_block_locked(gws_group *g, uint32_t conn, int32_t code,
                                   uint8_t *data, size_t len, size_t cap);
void gws_group_ref(gws_group *g);
void gws_group_unref(gws_group *g);
void gws_group_mark_dirty_locked(gws_group *g, struct gws_conn *c);

/* wait.c - waking gws_group_wait() and gws_group_fd() */
/* Sets has_events (once per drain), waking sleeping waiters and making the
 * eventfd readable.  Lock held. */
void gws_group_signal_locked(gws_group *g);
/* Clears has_events (the buffers were swapped) and the eventfd.  Lock held. */
void gws_group_unsignal_locked(gws_group *g);
/* The service thread sleeps a little before it waits for events again, when
 * the program drains its groups late anyway (read batching). */
void gws_service_nap(gws_context *ctx);
/* Closes the eventfd, if any (the group is being freed). */
void gws_group_wait_free(gws_group *g);

/* conn.c */
struct gws_conn *gws_conn_alloc_locked(gws_group *g, const gws_limits *limits,
                                       bool is_client);
void gws_conn_ref(struct gws_conn *c);
void gws_conn_unref(struct gws_conn *c);
/* Marks the connection CLOSED for the caller (once). Lock held. */
void gws_conn_report_closed_locked(struct gws_conn *c, int code,
                                   const char *reason, size_t reason_len);
void gws_conn_clear_tx_locked(struct gws_conn *c);
/* Whether the outbound limits (Godot's, spec 4.5) admit len more bytes. */
bool gws_conn_tx_room_locked(const struct gws_conn *c, size_t len);
/* Room for `count` more messages of `bytes` bytes in all. */
bool gws_conn_tx_room_many_locked(const struct gws_conn *c, size_t count, size_t bytes);
/* The non-empty messages of a batch (gws_conn_send_many()), copied: *out_count
 * of them, *out_bytes bytes in all; NULL on allocation failure.  Release with
 * gws_msgs_free(). */
gws_msg **gws_msgs_new(const char *data, const size_t *lens, size_t n, int text,
                       size_t *out_count, size_t *out_bytes);
void gws_msgs_free(gws_msg **ms, size_t count);
/* Queues m (taking a reference) and schedules a write.  Lock held. */
int gws_conn_enqueue_locked(struct gws_conn *c, gws_msg *m);
/* Appends count messages in order, all or nothing (GWS_ERR_OUT_OF_MEMORY when
 * the queue cannot grow); the caller checked the limits.  With !add_refs the
 * caller adds the references itself before it unlocks (a broadcast adds each
 * message's references once, for every connection). */
int gws_conn_enqueue_many_locked(struct gws_conn *c, gws_msg **ms, size_t count, bool add_refs);
/* Has the service thread write c's queue on its next turn.  Lock held. */
void gws_conn_want_write_locked(struct gws_conn *c);
void gws_conn_credit_rx_locked(struct gws_conn *c, uint64_t msgs, uint64_t bytes);
bool gws_conn_rx_over_limit_locked(const struct gws_conn *c);

/* frame.c */
size_t gws_frame_header(uint8_t *out, uint8_t opcode, size_t len, const uint8_t *mask);
void gws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);
void gws_mask_key(gws_context *ctx, uint8_t out[4]);  /* [S] */

/* callback.c */
int gws_lws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len);
extern const struct lws_protocols gws_client_protocols[];
/* [S] Writes queued frames.  direct: called outside the WRITEABLE callback
 * (right after new data was queued, saving a trip through poll()); then the
 * special cases (ping, close, partial message) are left to the callback.
 * Returns -1 when the connection must be closed. */
int gws_do_write(struct gws_conn *c, bool direct);
/* gws_conn_send() from the caller's thread straight to the socket, when the
 * service thread is parked in its wait (svc_lock free) and nothing else of c
 * is queued: saves the wake-up of the service thread and one trip through
 * its loop per message, and for a large message the copies into a gws_msg
 * and the write batch.  Any size: a server sends from the caller's buffer
 * (only what the socket did not take is copied), a client from its masked
 * copy (in the write batch, or a pool block kept as the rest).  GWS_OK when
 * sent (a rest is written by the service thread next, a batch at a time),
 * -1 when the caller must queue. */
int gws_direct_send(struct gws_conn *c, const char *data, size_t len, int text, int64_t now);

/* The parts of callback.c that wsclient.c shares.  [S] */
void gws_on_open(struct gws_conn *c, struct lws *wsi);
void gws_on_peer_close(struct gws_conn *c, const uint8_t *in, size_t len);
/* Payload of a data frame (or part of one): final: the message ends with
 * it; remaining: bytes of this frame still to come; binary: the message's
 * type.  Returns -1 when the connection must be closed. */
int gws_rx_data(struct gws_conn *c, struct lws *wsi, const void *in, size_t len,
                bool final, size_t remaining, bool binary);
/* Where the rest of the message being gathered may be read straight into
 * (then handed to gws_rx_data() in place), and *room: how many bytes fit
 * there; NULL when there is no such room. */
uint8_t *gws_rx_room(struct gws_conn *c, size_t *room);

/* wsclient.c - WebSocket client handshake on a raw lws socket.  [S] */
/* Whether outgoing connections use it (GODOT_WEBSOCKET_CLIENT != "lws");
 * defined in wsproto.c with its server twin. */
bool gws_wsc_enabled(void);
/* Sets up c->wsc (the request to send) before the raw connection is made. */
int gws_wsc_start(struct gws_conn *c);
/* LWS_CALLBACK_RAW_CONNECTED / _ADOPT of a client.  -1: close. */
int gws_wsc_connected(struct gws_conn *c, struct lws *wsi);
/* Writes the request (phase WSC_REQUEST).  -1: close. */
int gws_wsc_send_request(struct gws_conn *c, struct lws *wsi);
/* Bytes of the response (phase WSC_RESPONSE), then of frames.  -1: close. */
int gws_wsc_on_response(struct gws_conn *c, struct lws *wsi, uint8_t *in, size_t len);

/* wsserver.c - WebSocket server handshake on a raw lws socket.  [S] */
/* Whether non-TLS listeners use it (GODOT_WEBSOCKET_SERVER != "lws");
 * defined in wsproto.c. */
bool gws_wss_enabled(void);
/* LWS_CALLBACK_RAW_ADOPT of a listener's connection (c made by
 * on_server_wsi()): sets up c->wsc to read the request.  -1: close. */
int gws_wss_start(struct gws_conn *c, struct lws *wsi);
/* Bytes of the request (phase WSS_REQUEST), then of frames.  -1: close. */
int gws_wss_on_request(struct gws_conn *c, struct lws *wsi, uint8_t *in, size_t len);

/* wsproto.c - frames on a raw lws socket, both roles.  [S] */
void gws_wsc_free(struct gws_conn *c);
/* The Sec-WebSocket-Accept for a Sec-WebSocket-Key of n bytes (n <= 100):
 * base64(SHA-1(key + RFC 6455's GUID)), 28 characters and a NUL in out.
 * False if hashing failed.  The client computes what it expects, the server
 * what it answers. */
bool gws_ws_accept(const char *key, size_t n, char out[29]);
/* gws_bytes_append() of a C string: nonzero on allocation failure, so a
 * request or response head is built as `bad = puts(..) || puts(..)`. */
int gws_bytes_puts(gws_bytes *b, const char *s);
/* HTTP heads (the client's response, the server's request): a header's
 * first value and how many times it came; blanks (SP, HT) trimmed off both
 * ends of s[0..*n); the next line at *p (*line, *len without CR LF; *p moves
 * past it), false at the blank line that ends the head or with no LF left
 * before end. */
typedef struct gws_head_field {
	const char *v;
	size_t n;
	int count;
} gws_head_field;
void gws_trim(const char **s, size_t *n);
bool gws_head_line(const char **p, const char *end, const char **line, size_t *len);
/* LWS_CALLBACK_RAW_RX, _WRITEABLE of a raw-socket connection.  -1: close. */
int gws_wsc_rx(struct gws_conn *c, struct lws *wsi, void *in, size_t len);
/* Frames in p[0..n) (payload is unmasked in place).  -1: close. */
int gws_wsc_parse(struct gws_conn *c, struct lws *wsi, uint8_t *p, size_t n);
/* The handshake is done (head of headlen bytes at the start of w->in):
 * OPEN, then the frames that came with the head.  -1: close. */
int gws_wsc_opened(struct gws_conn *c, struct lws *wsi, size_t headlen);
int gws_wsc_writeable(struct gws_conn *c, struct lws *wsi);
/* Reading resumed (back-pressure over): parse what was kept. */
void gws_wsc_resume(struct gws_conn *c);
/* For gws_do_write(), at a frame boundary: owed pong and close echo
 * (*hang_up: the echo is in, close after writing); at most
 * 2 * (GWS_MAX_FRAME_HEADER + 125) bytes. */
bool gws_wsc_control_due(const struct gws_conn *c);
size_t gws_wsc_put_control(struct gws_conn *c, uint8_t *out, bool *hang_up);
/* Writes our close frame (code 0: no body); wait: keep the connection until
 * the reply or a timeout (0), else -1 (close now). */
int gws_wsc_close(struct gws_conn *c, int code, const char *reason, size_t reason_len,
                  bool wait);

/* listener.c */
int gws_listener_create_vhost(struct gws_listener *l);  /* [S] */
/* Closes the listening socket now and destroys the vhost.  [S] */
void gws_listener_stop(struct gws_listener *l);
void gws_listener_unref(struct gws_listener *l);
void gws_listener_ref(struct gws_listener *l);

/* client.c */
void gws_client_connect(struct gws_conn *c);  /* [S] */
int gws_client_vhost_for(gws_context *ctx, const gws_tls *tls, struct lws_vhost **out); /* [S] */
/* Frees the list of TLS client vhosts (the vhosts die with the lws context). */
void gws_client_vhosts_free(gws_context *ctx);
gws_tls *gws_tls_copy(const gws_tls *t);
void gws_tls_free(gws_tls *t);
/* LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS of a client vhost:
 * trust store and SNI of its SSL_CTX.  [S] */
void gws_client_tls_setup(struct lws *wsi, void *ssl_ctx);
/* LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: 0 accepts the
 * certificate at the X509_STORE_CTX's depth, 1 refuses it (logged).  [S] */
int gws_client_verify(struct gws_conn *c, void *x509_store_ctx, int preverify_ok);

/* tls.c */
struct stack_st_X509;
/* Every certificate of PEM (or one DER) data, appended to chain; *skipped:
 * malformed PEM blocks left out.  GWS_FAILED if there is none. */
int gws_x509_read_chain(const uint8_t *data, size_t len, struct stack_st_X509 *chain,
                        int *skipped);
/* LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS of a listener's vhost:
 * loads its certificate chain and key.  [S] */
void gws_tls_server_setup(struct gws_listener *l, void *ssl_ctx);

#endif
