/*
 * gws.h - the whole C ABI of the godot-websocket core.
 *
 * The core runs libwebsockets (lws) on one service thread per context; lws is
 * never touched by any other thread.  Callers (the Python layer) post work
 * through the functions below, which lock, enqueue and wake the service
 * thread.  Nothing calls back into the caller: the core queues events
 * (connection accepted/opened/closing/closed, messages, log lines) per group,
 * and the caller drains a group's events with one call per poll.
 *
 * Every fallible call returns a Godot Error number (GWS_OK, GWS_FAILED, ...),
 * with the same values as Godot's @GlobalScope Error enum.
 *
 * Handles are opaque.  A gws_conn handle obtained from gws_conn_new() or from
 * a GWS_EV_ACCEPTED event is owned by the caller until gws_conn_release().
 */
#ifndef GWS_H
#define GWS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GWS_ABI_VERSION 2

/* Godot Error values used by the core (subset of @GlobalScope Error). */
enum {
	GWS_OK = 0,
	GWS_FAILED = 1,
	GWS_ERR_UNAVAILABLE = 2,
	GWS_ERR_UNCONFIGURED = 3,
	GWS_ERR_OUT_OF_MEMORY = 6,
	GWS_ERR_CANT_CREATE = 20,
	GWS_ERR_ALREADY_IN_USE = 22,
	GWS_ERR_CANT_CONNECT = 25,
	GWS_ERR_INVALID_PARAMETER = 31
};

/* Connection states, as Godot's WebSocketPeer.State. */
enum {
	GWS_STATE_CONNECTING = 0,
	GWS_STATE_OPEN = 1,
	GWS_STATE_CLOSING = 2,
	GWS_STATE_CLOSED = 3
};

/* Event types found in a drained group buffer. */
enum {
	/* A server accepted a TCP connection.  data: the new gws_conn pointer
	 * (uintptr_t, native endian), owned by the caller from now on. */
	GWS_EV_ACCEPTED = 1,
	/* The WebSocket handshake completed.  code: remote TCP port.
	 * data: "protocol\0host-header\0path\0remote-ip" (NUL separated). */
	GWS_EV_OPEN = 2,
	/* One whole message.  code: 1 text, 0 binary.  data: the payload. */
	GWS_EV_MESSAGE = 3,
	/* The remote sent a close frame (state CLOSING).  code: close code
	 * (0 if the frame had no status).  data: the reason (UTF-8). */
	GWS_EV_CLOSING = 4,
	/* The connection ended (state CLOSED); the last event of a connection.
	 * code: close code (-1 unclean).  data: the reason. */
	GWS_EV_CLOSED = 5,
	/* A log line from the core.  code: Python logging level (10..50). */
	GWS_EV_LOG = 6,
	/* One whole message, as GWS_EV_MESSAGE, whose payload was not copied
	 * into the buffer (large messages, reassembled by the core anyway).
	 * code: 1 text, 0 binary.  data: a gws_message_ref.  The payload stays
	 * valid as long as the buffer itself: until the next gws_group_poll()
	 * on the same group. */
	GWS_EV_MESSAGE_REF = 7
};

/* Data of a GWS_EV_MESSAGE_REF event (native endian). */
typedef struct gws_message_ref {
	uint64_t data;  /* const uint8_t * to the payload */
	uint64_t size;  /* payload bytes */
} gws_message_ref;

/* Header of one event inside a drained buffer.  It is followed by `size`
 * bytes of data and then zero padding up to a multiple of 8 bytes. */
typedef struct gws_event {
	uint32_t type;
	uint32_t conn;  /* serial of the connection (0 for group-level events) */
	int32_t code;
	uint32_t size;
} gws_event;

typedef struct gws_context gws_context;
typedef struct gws_group gws_group;
typedef struct gws_conn gws_conn;
typedef struct gws_listener gws_listener;

/* Per-connection limits, with Godot's meaning (spec 4.4/4.5). */
typedef struct gws_limits {
	int64_t inbound_buffer_size;   /* largest message accepted; inbound byte budget */
	int64_t outbound_buffer_size;  /* outbound byte budget; <= 0: unlimited */
	int64_t max_queued_packets;    /* message slots, each direction */
} gws_limits;

/* TLS material, all PEM text.  NULL members mean "not given". */
typedef struct gws_tls {
	const char *ca_pem;           /* client: trusted chain (NULL: system store) */
	const char *cert_pem;         /* server: certificate chain */
	const char *key_pem;          /* server: private key */
	const char *server_name;      /* client: name to verify / send as SNI */
	int verify;                   /* client: 0 = accept any certificate */
	int check_hostname;           /* client: verify the name as well */
} gws_tls;

/* Arguments of a client connection (the URL already parsed by the caller). */
typedef struct gws_connect_args {
	const char *address;      /* IP literal or host name to connect to */
	int port;
	const char *path;         /* request target, "/" at least */
	const char *host_header;  /* value of the Host header */
	const char *protocols;    /* comma-separated sub-protocols or NULL */
	const char *headers;      /* extra request header lines, "\r\n" separated, or NULL */
	const gws_tls *tls;       /* NULL for ws:// */
} gws_connect_args;

/* Arguments of a listening server. */
typedef struct gws_listen_args {
	int port;
	const char *bind_address;   /* NULL or "*" for every interface (dual stack) */
	const char *protocols;      /* comma-separated supported sub-protocols or NULL */
	const char *headers;        /* extra response header lines or NULL */
	const gws_tls *tls;         /* NULL for ws:// */
	gws_limits limits;          /* copied into every accepted connection */
} gws_listen_args;

/* ---- contexts ------------------------------------------------------------ */

/* threaded != 0: the core runs its own service thread.  threaded == 0: the
 * caller runs the service step through gws_group_poll()/gws_context_service(). */
int gws_context_new(int threaded, gws_context **out);
/* Closes every connection and listener, stops the thread.  Handles the caller
 * still holds stay valid to release; every other call on them fails. */
void gws_context_shutdown(gws_context *ctx);
/* Drops the caller's reference (after gws_context_shutdown). */
void gws_context_release(gws_context *ctx);
/* One non-blocking service step (no-thread mode; a no-op when threaded). */
void gws_context_service(gws_context *ctx);
int gws_context_is_threaded(const gws_context *ctx);
/* The event loop under lws, chosen at creation: for a threaded context
 * epoll through lws' libev plugin when it loads, else (and always without a
 * thread) lws' default poll() loop.  The environment variable
 * GODOT_WEBSOCKET_EVENT_LOOP=poll|libev|auto forces a choice. */
enum {
	GWS_EVENT_LOOP_POLL = 0,
	GWS_EVENT_LOOP_LIBEV = 1
};
int gws_context_event_loop(const gws_context *ctx);
/* How many naps the service thread took (read batching: it sleeps up to
 * 1 ms before waiting for socket events again while the program drains its
 * groups late anyway; GODOT_WEBSOCKET_RX_NAP_US sets the longest nap, 0 turns
 * naps off).  For tests and diagnostics. */
unsigned long gws_context_naps(gws_context *ctx);
/* lws log level bits (LLL_*) routed to GWS_EV_LOG of the affected group is not
 * possible for lws' own lines; they go to stderr when enabled here. */
void gws_set_lws_log_level(int level);

/* ---- groups -------------------------------------------------------------- */

/* auto_release != 0: drained messages no longer count against their
 * connection's inbound limits (the caller keeps its own unbounded queue, as
 * WebSocketMultiplayerPeer does).  Otherwise the caller returns the budget
 * with gws_conn_rx_release() when it consumes messages. */
int gws_group_new(gws_context *ctx, int auto_release, gws_group **out);
void gws_group_release(gws_group *g);
/* Service step (no-thread mode), then hands over every queued event.  The
 * buffer stays valid until the next gws_group_poll() on the same group. */
int gws_group_poll(gws_group *g, const uint8_t **out_buf, size_t *out_len);
/* gws_group_poll(), plus an index of the messages in the buffer, so the
 * caller can hand them on in bulk: for each GWS_EV_MESSAGE event, in order,
 * three uint32_t: its connection serial, the offset of its data in the
 * buffer and the offset just past the data.  *out_nother: how many events
 * of other types the buffer holds (0: messages only).  The index stays valid
 * as long as the buffer. */
int gws_group_poll_indexed(gws_group *g, const uint8_t **out_buf, size_t *out_len,
                           const uint32_t **out_index, size_t *out_nmsgs,
                           size_t *out_nother);
/* gws_group_poll_indexed(), plus a Python struct format that unpacks the
 * payloads of the indexed messages, in order, from the buffer: "=" then, per
 * message, "<gap>x<len>s" ("<gap>x" left out when 0), gap being the bytes
 * since the previous message's end.  *out_nempty: how many of them are empty.
 * *out_tags: per indexed message, the tag its connection's serial has
 * (gws_group_set_tag()), 0 for none; *out_nuntagged: how many have none.
 * The format (not NUL-terminated; NULL when there is no message) and the tags
 * stay valid until the next poll of the group; the caller polls from one
 * thread. */
int gws_group_poll_split(gws_group *g, const uint8_t **out_buf, size_t *out_len,
                         const uint32_t **out_index, size_t *out_nmsgs, size_t *out_nother,
                         const char **out_fmt, size_t *out_fmt_len, size_t *out_nempty,
                         const int32_t **out_tags, size_t *out_nuntagged);
/* Names a connection of the group by a caller's number (tag != 0; 0 removes
 * it), reported by gws_group_poll_split().  A table of the caller's: set,
 * removed and read only by the thread that polls the group. */
int gws_group_set_tag(gws_group *g, uint32_t serial, int32_t tag);
/* A word that is nonzero while the group has undrained events, readable
 * without a call or a lock (an idle poll then costs one memory read).  A
 * zero read may miss an event being queued at that moment, which the next
 * read sees.  A threaded context only: otherwise gws_group_poll() is also
 * the service step and must be called anyway.  Valid as long as g. */
const volatile uint32_t *gws_group_events_flag(const gws_group *g);
/* Blocks until the group has undrained events (1) or timeout_us
 * microseconds have passed without any (0); timeout_us < 0: no limit, 0:
 * only look.  -1: a signal interrupted the sleep (the caller handles its
 * signals and may wait again).  Threaded context: sleeps on the group's
 * events word; the service thread wakes it when it queues the first event
 * after a drain (a system call only while someone waits).  Without a
 * thread: the service step, blocking until an event of this group or the
 * deadline.  Not in Godot (see docs/differences.md). */
int gws_group_wait(gws_group *g, int64_t timeout_us);
/* A file descriptor (an eventfd) that is readable while the group has
 * undrained events: for select()/poll()/epoll and event loops.  Created on
 * the first call and owned by the group (closed by gws_group_release()):
 * never read or close it; gws_group_poll() resets it.  -1 for a context
 * without a thread (nothing would make it readable) or if the eventfd
 * could not be created. */
int gws_group_fd(gws_group *g);
/* Sends one message to every member connection of the group except
 * `exclude` (may be NULL); members share one copy of the payload.  Returns
 * the number of connections it was queued for, or -1 on allocation failure. */
int64_t gws_group_broadcast(gws_group *g, const char *data, size_t len, int text,
                            const gws_conn *exclude);
/* gws_group_broadcast() of n messages at once (one lock): message i is the
 * lens[i] bytes that follow messages 0..i-1 in `data`.  A member gets all n or,
 * if its queue has no room for all of them, none (logged once per overflow
 * episode, as for gws_group_broadcast()).  Returns the number of connections
 * the messages were queued for, or -1 on allocation failure. */
int64_t gws_group_broadcast_many(gws_group *g, const char *data, const size_t *lens,
                                 size_t n, int text, const gws_conn *exclude);

/* ---- connections --------------------------------------------------------- */

int gws_conn_new(gws_group *g, const gws_limits *limits, gws_conn **out);
int gws_conn_connect(gws_conn *c, const gws_connect_args *args);
/* Adopts a connected TCP socket as the server side of a WebSocket: the core
 * reads the HTTP upgrade request from it, after head[0..head_len) (what the
 * caller read of the request already; may be empty), and answers it with
 * the core's own handshake (wsserver.c).  On GWS_OK the core owns fd; on an
 * error the caller keeps it.  GWS_ERR_UNAVAILABLE with
 * GODOT_WEBSOCKET_SERVER=lws (lws 4.1 would pick the server settings of an
 * adopted socket from its Host header among all servers). */
int gws_conn_accept_fd(gws_conn *c, int fd, const char *protocols, const char *headers,
                       const char *head, size_t head_len);
uint32_t gws_conn_serial(const gws_conn *c);
/* State as seen by the core (the caller keeps its own, event-driven view). */
int gws_conn_state(const gws_conn *c);
/* GWS_OK, GWS_FAILED (not open), GWS_ERR_OUT_OF_MEMORY (limits reached). */
int gws_conn_send(gws_conn *c, const char *data, size_t len, int text);
/* n messages at once, all or nothing, under one lock: message i is the lens[i]
 * bytes that follow messages 0..i-1 in `data` (empty messages are skipped).
 * GWS_OK: all queued, in order; GWS_FAILED (not open) or GWS_ERR_OUT_OF_MEMORY
 * (the queue has no room for all of them within max_queued_packets and
 * outbound_buffer_size, or allocation failed): none queued.  Never writes to
 * the socket itself (no direct send): the service thread (or the next service
 * step of a no-thread context) writes the batch. */
int gws_conn_send_many(gws_conn *c, const char *data, const size_t *lens, size_t n, int text);
/* code < 0: drop TCP at once, no close frame.  Otherwise send a close frame
 * with code and reason after the queued messages and wait for the reply. */
int gws_conn_close(gws_conn *c, int code, const char *reason, size_t reason_len);
/* Members receive gws_group_broadcast(). */
void gws_conn_set_member(gws_conn *c, int member);
void gws_conn_set_limits(gws_conn *c, const gws_limits *limits);
void gws_conn_set_heartbeat(gws_conn *c, int64_t interval_ms);
void gws_conn_set_no_delay(gws_conn *c, int enabled);
int64_t gws_conn_outbound_buffered(const gws_conn *c);
/* The caller consumed `msgs` messages of `bytes` bytes delivered earlier. */
void gws_conn_rx_release(gws_conn *c, uint64_t msgs, uint64_t bytes);
/* Drops the caller's handle; a connection that is still up is dropped
 * without a close frame (as Godot does when a WebSocketPeer is freed). */
void gws_conn_release(gws_conn *c);

/* ---- listeners ----------------------------------------------------------- */

/* Accepted connections report GWS_EV_ACCEPTED in group g.
 * GWS_ERR_ALREADY_IN_USE when the address cannot be bound. */
int gws_listener_new(gws_group *g, const gws_listen_args *args, gws_listener **out);
int gws_listener_port(const gws_listener *l);
/* Limits given to connections accepted from now on (as gws_listen_args.limits). */
void gws_listener_set_limits(gws_listener *l, const gws_limits *limits);
/* Stops listening and drops every connection the listener accepted. */
void gws_listener_release(gws_listener *l);

/* ---- certificates and keys (OpenSSL) -------------------------------------- */

/* Strings returned through `char **out` parameters below belong to the
 * caller: free them with gws_free().  On failure gws_crypto_last_error()
 * says why (per thread, until the next failing call). */
void gws_free(void *p);
const char *gws_crypto_last_error(void);
/* Certificates as Godot's X509Certificate.load: every CERTIFICATE block of
 * PEM data (malformed blocks skipped while one is good), else one DER
 * certificate.  *out_pem: them as PEM; *out_count: how many; *out_skipped:
 * blocks left out.  GWS_FAILED when there is no good certificate. */
int gws_x509_parse(const uint8_t *data, size_t len, char **out_pem, int *out_count,
                   int *out_skipped);
/* A key as Godot's CryptoKey.load: a private key (public_only == 0) or a
 * public key, PEM or DER.  *out_pem: the key as PEM - the public half when
 * out_public != 0 or public_only != 0, else the private key (RSA/EC in their
 * traditional form, as mbedtls writes them).  GWS_FAILED if unreadable. */
int gws_key_parse(const uint8_t *data, size_t len, int public_only, int out_public,
                  char **out_pem);
/* Crypto.generate_rsa: a new RSA key (exponent 65537), private key PEM. */
int gws_key_generate_rsa(int bits, char **out_pem);
/* Crypto.generate_self_signed_certificate: subject = issuer = issuer_name
 * ("CN=...,O=...,C=..."), validity "YYYYMMDDhhmmss" (UTC), random serial,
 * CA:TRUE pathlen 0, SHA-256, signed with key_pem.  alt_names (not in
 * Godot): NULL/"" or comma-separated DNS names and IP literals for a
 * subjectAltName extension.  GWS_ERR_INVALID_PARAMETER for a bad name,
 * time or alt name; GWS_FAILED otherwise. */
int gws_x509_self_signed(const char *key_pem, const char *issuer_name, const char *not_before,
                         const char *not_after, const char *alt_names, char **out_pem);

#ifdef __cplusplus
}
#endif
#endif
