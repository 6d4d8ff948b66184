/*
 * context.c - the lws context, its service thread and the command queue.
 *
 * Only the service thread calls lws.  Other threads queue gws_cmd items under
 * ctx->lock and wake the thread with lws_cancel_service(), the one lws call
 * documented as safe from any thread.  One wake-up is in flight at a time
 * (wake_pending), so a burst of sends costs a single pipe write.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void gws_ctx_lock(gws_context *ctx) { pthread_mutex_lock(&ctx->lock); }
void gws_request_wake_locked(gws_context *ctx)
{
	if (ctx->threaded && !ctx->wake_pending && ctx->lws) {
		ctx->wake_pending = true;
		ctx->wake_request = true;
	}
}

void gws_ctx_wait_locked(gws_context *ctx)
{
	/* The wake-up normally waits for gws_ctx_unlock(); a waiter never
	 * reaches it, so it wakes the thread itself (rare, synchronous calls). */
	if (ctx->wake_request) {
		ctx->wake_request = false;
		if (ctx->lws)
			lws_cancel_service(ctx->lws);
		gws_service_kick(ctx);
	}
	pthread_cond_wait(&ctx->cond, &ctx->lock);
}

void gws_ctx_unlock(gws_context *ctx)
{
	struct lws_context *l = NULL;

	if (ctx->wake_request) {
		ctx->wake_request = false;
		l = ctx->lws;
		/* gws_context_shutdown() waits for wakers before it destroys lws */
		atomic_fetch_add(&ctx->wakers, 1);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (l) {
		/* The service thread parked for a waiter that runs the loop
		 * (wait.c): run the queue here rather than wake it. */
		if (!gws_service_run_parked(ctx)) {
			lws_cancel_service(l);
			gws_service_kick(ctx);
		}
		atomic_fetch_sub(&ctx->wakers, 1);
	}
}

void gws_context_ref(gws_context *ctx) { atomic_fetch_add(&ctx->refs, 1); }

void gws_context_release(gws_context *ctx)
{
	if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1)
		return;
	free(ctx->want_write);
	gws_client_vhosts_free(ctx);
	pthread_mutex_destroy(&ctx->lock);
	pthread_cond_destroy(&ctx->cond);
	pthread_mutex_destroy(&ctx->svc_lock);
	free(ctx->batch);
	free(ctx);
}

int gws_post_locked(gws_context *ctx, gws_cmd_type type, struct gws_conn *c,
                    struct gws_listener *l, int arg)
{
	gws_cmd *cmd;

	if (ctx->shut_down)
		return GWS_FAILED;
	cmd = calloc(1, sizeof(*cmd));
	if (!cmd)
		return GWS_ERR_OUT_OF_MEMORY;
	cmd->type = type;
	cmd->conn = c;
	cmd->listener = l;
	cmd->arg = arg;
	if (c)
		gws_conn_ref(c);
	if (l)
		gws_listener_ref(l);
	if (ctx->cmd_tail)
		ctx->cmd_tail->next = cmd;
	else
		ctx->cmd_head = cmd;
	ctx->cmd_tail = cmd;
	gws_request_wake_locked(ctx);
	return GWS_OK;
}

static void run_one(gws_context *ctx, gws_cmd *cmd)
{
	struct gws_conn *c = cmd->conn;
	struct lws *wsi = c ? c->wsi : NULL;

	switch (cmd->type) {
	case GWS_CMD_CONNECT:
		gws_client_connect(c);
		break;
	case GWS_CMD_ACCEPT_FD: {
		lws_sock_file_fd_type fd;
		struct lws_vhost *vh = c->listener ? c->listener->vhost : NULL;
		struct lws *nw = NULL;

		fd.sockfd = c->fd;
		c->fd = -1;
		if (vh && fd.sockfd >= 0) {
			int fl = fcntl(fd.sockfd, F_GETFL);

			if (fl >= 0 && !(fl & O_NONBLOCK))
				fcntl(fd.sockfd, F_SETFL, fl | O_NONBLOCK);
			/* A raw socket on the conn's own vhost (a listener that
			 * listens nowhere): on_server_wsi() binds the new wsi to
			 * this conn and wsserver.c reads the request.  (Adopted
			 * as HTTP, lws would choose the vhost by Host header.) */
			ctx->adopting = c;
			nw = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_SOCKET, fd, NULL, NULL);
			ctx->adopting = NULL;
		}
		if (!nw) {
			if (!vh && fd.sockfd >= 0)
				close(fd.sockfd);
			gws_ctx_lock(ctx);
			gws_emit_log_locked(c->group, c->serial, 40,
			                    "accept_stream: could not adopt the socket");
			gws_conn_report_closed_locked(c, -1, "", 0);
			gws_ctx_unlock(ctx);
		}
		break;
	}
	case GWS_CMD_CLOSE:
		if (wsi)
			lws_callback_on_writable(wsi);
		break;
	case GWS_CMD_DROP:
		if (wsi && !c->dropping) {
			bool owed;

			/* A connection the core failed (1009, 1007) may still
			 * owe its close frame: the write path sends it, then
			 * drops.  (close(-1) and release clear the request.) */
			gws_ctx_lock(ctx);
			owed = c->close_requested;
			gws_ctx_unlock(ctx);
			c->dropping = true;
			if (owed) {
				lws_callback_on_writable(wsi);
				/* in case the socket never drains */
				lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 5);
			} else
				lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
		break;
	case GWS_CMD_RX_RESUME:
		if (wsi) {
			bool resume;

			gws_ctx_lock(ctx);
			resume = c->rx_paused && !gws_conn_rx_over_limit_locked(c);
			if (resume)
				c->rx_paused = false;
			gws_ctx_unlock(ctx);
			if (resume) {
				lws_rx_flow_control(wsi, 1);
				gws_wsc_resume(c);  /* raw client: what it kept */
			}
		}
		break;
	case GWS_CMD_HEARTBEAT:
		if (wsi) {
			int64_t ms;

			gws_ctx_lock(ctx);
			ms = c->heartbeat_ms;
			gws_ctx_unlock(ctx);
			c->awaiting_pong = false;
			/* The first ping goes out at once, as in Godot, whose
			 * "last ping" time starts at 0. */
			lws_set_timer_usecs(wsi, ms > 0 ? 1 : LWS_SET_TIMER_USEC_CANCEL);
		}
		break;
	case GWS_CMD_NODELAY:
		if (wsi) {
			int one = cmd->arg ? 1 : 0;
			int fd = lws_get_socket_fd(wsi);

			if (fd >= 0)
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		break;
	case GWS_CMD_LISTEN: {
		struct gws_listener *l = cmd->listener;
		int r = gws_listener_create_vhost(l);

		gws_ctx_lock(ctx);
		l->result = r;
		l->done = true;
		pthread_cond_broadcast(&ctx->cond);
		gws_ctx_unlock(ctx);
		break;
	}
	case GWS_CMD_UNLISTEN:
		gws_listener_stop(cmd->listener);
		break;
	}
}

int64_t gws_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long gws_env_long(const char *name, long dflt, long min, long max)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return dflt;
	v = strtol(s, &end, 10);
	return !*end && v >= min && v <= max ? v : dflt;
}

int64_t gws_tx_defer_left(gws_context *ctx)
{
	/* (no lock: a window opened or ended after this read wakes the
	 * thread anyway) */
	int64_t due = atomic_load(&ctx->tx_defer_due), left;

	if (!due)
		return 0;
	left = due - gws_now_ns();
	return left > 0 ? left : 0;
}

int gws_run_commands(gws_context *ctx)
{
	gws_cmd *cmd, *next;
	struct gws_conn **want = NULL;
	size_t nwant = 0, i;
	int n = 0;

	gws_ctx_lock(ctx);
	cmd = ctx->cmd_head;
	ctx->cmd_head = ctx->cmd_tail = NULL;
	ctx->wake_pending = false;
	/* Bursts' writes wait for their time (the caller's step ends then),
	 * unless the context is going away. */
	if (ctx->tx_defer_due && !atomic_load(&ctx->stopping) &&
	    gws_now_ns() < ctx->tx_defer_due) {
		/* left for later */
	} else {
		ctx->tx_defer_due = 0;
		want = ctx->want_write;
		nwant = ctx->nwant_write;
		ctx->want_write = NULL;
		ctx->nwant_write = ctx->capwant_write = 0;
	}
	gws_ctx_unlock(ctx);

	for (i = 0; i < nwant; i++) {
		struct gws_conn *c = want[i];

		/* Write at once rather than asking lws for WRITEABLE: that would
		 * cost a round through poll() before the data leaves.  lws keeps
		 * whatever the socket does not take and sends it first later. */
		if (c->wsi && gws_do_write(c, true) < 0 && c->wsi && !c->dropping) {
			c->dropping = true;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
		gws_conn_unref(c);
	}
	free(want);

	for (; cmd; cmd = next) {
		next = cmd->next;
		run_one(ctx, cmd);
		if (cmd->conn)
			gws_conn_unref(cmd->conn);
		if (cmd->listener)
			gws_listener_unref(cmd->listener);
		free(cmd);
		n++;
	}
	return n;
}

static void *service_main(void *arg)
{
	gws_context *ctx = arg;
	sigset_t all;

	/* Signals (Ctrl-C) belong to the interpreter's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* Let go only while waiting for events (evloop.c). */
	pthread_mutex_lock(&ctx->svc_lock);
	ctx->svc_held = true;
	while (!atomic_load(&ctx->stopping)) {
		int64_t defer_left;

		gws_run_commands(ctx);
		/* a waiter would rather run the loop itself (wait.c) */
		if (atomic_load(&ctx->park_req)) {
			gws_service_park(ctx);
			continue;
		}
		/* deferred writes exist only on libev contexts (direct_ok) */
		defer_left = gws_tx_defer_left(ctx);
		if (defer_left > 0) {
			gws_evloop_step_for(ctx, defer_left);
			continue;
		}
		/* a program that drains late anyway: let reads gather (wait.c) */
		gws_service_nap(ctx);
		if (gws_evloop_step(ctx, true) < 0)
			break;
	}
	gws_run_commands(ctx);
	ctx->svc_held = false;
	pthread_mutex_unlock(&ctx->svc_lock);
	return NULL;
}

static int log_level = 0;

void gws_set_lws_log_level(int level)
{
	log_level = level;
	lws_set_log_level(level, NULL);
}

int gws_context_new(int threaded, gws_context **out)
{
	struct lws_context_creation_info info;
	gws_context *ctx;

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return GWS_ERR_OUT_OF_MEMORY;
	ctx->batch = malloc(GWS_WRITE_BATCH);
	if (!ctx->batch) {
		free(ctx);
		return GWS_ERR_OUT_OF_MEMORY;
	}
	atomic_init(&ctx->refs, 1);
	atomic_init(&ctx->stopping, false);
	atomic_init(&ctx->wakers, 0);
	{
		/* Both locks are held for short stretches by the two threads in
		 * turn (a queue operation; one send()): spinning a little before
		 * sleeping saves a futex wait and wake-up on most collisions. */
		pthread_mutexattr_t attr;

		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
		pthread_mutex_init(&ctx->lock, &attr);
		pthread_mutex_init(&ctx->svc_lock, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	pthread_cond_init(&ctx->cond, NULL);
	ctx->threaded = threaded != 0;
	ctx->next_serial = 1;
	ctx->rnd_off = sizeof(ctx->rnd);
	lws_set_log_level(log_level, NULL);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	/* No LWS_SERVER_OPTION_VALIDATE_UTF8: callback.c validates text
	 * messages itself and fails them with 1007 as Godot does (lws would
	 * send its own close frame without telling us). */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	               LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = ctx;
	/* One thread of service; no internal timeouts of ours beyond lws'
	 * own handshake guards. */
	info.count_threads = 1;
	/* lws reads into this per-thread buffer: 4 KiB by default, which costs
	 * a trip through the event loop per 4 KiB of a large message.  It is
	 * per thread, not per connection, so a larger one is cheap. */
	info.pt_serv_buf_size = 64 * 1024;
	info.fd_limit_per_thread = 0;
	info.timeout_secs = 20;
	/* epoll (lws' libev plugin) when it loads, else poll(): evloop.c */
	ctx->lws = gws_evloop_create(ctx, &info);
	if (!ctx->lws) {
		gws_context_release(ctx);
		return GWS_ERR_CANT_CREATE;
	}
	/* Initialise the vhosts' protocols now rather than in the first
	 * service step.  lws 4.1 defers this to a timer that fires in the
	 * first service step, and until then lws_create_vhost() skips
	 * LWS_CALLBACK_PROTOCOL_INIT; a vhost never initialised also never
	 * gets LWS_CALLBACK_PROTOCOL_DESTROY, in lws_vhost_destroy() and
	 * lws_context_destroy() alike.  That callback is where a listener's
	 * vhost drops its reference to the listener (callback.c), so a
	 * server created and closed on a no-thread context before its first
	 * poll() leaked the listener, its group and this context (and a
	 * threaded context did the same if shut down before its thread's
	 * first step).  Once init is done, each later vhost is initialised
	 * as lws_create_vhost() creates it; the deferred step finds nothing
	 * left to do. */
	if (lws_protocol_init(ctx->lws)) {
		gws_evloop_destroy(ctx);
		ctx->lws = NULL;
		gws_context_release(ctx);
		return GWS_ERR_CANT_CREATE;
	}
	/* Direct sends need the service thread to let go of svc_lock while
	 * it waits, which only the libev loop lets it do (lws_service() waits
	 * inside).  A no-thread context keeps all I/O inside poll(), as Godot
	 * does (its sends leave in poll()).  GODOT_WEBSOCKET_DIRECT_SEND=0
	 * turns them off (for comparisons). */
	{
		const char *env = getenv("GODOT_WEBSOCKET_DIRECT_SEND");

		ctx->direct_ok = ctx->threaded && ctx->evloop == GWS_EVENT_LOOP_LIBEV &&
		                 !(env && !strcmp(env, "0"));
	}
	/* Bursts wait for one write per window (GWS_BURST_GAP_NS; needs the
	 * libev loop's timed step).  GODOT_WEBSOCKET_TX_DEFER_US sets the
	 * window, 0 turns it off (for comparisons); ..._TX_BURST_GAP_US the gap
	 * (tests stretch both, to see the window's edges on slow builds). */
	if (ctx->direct_ok) {
		ctx->tx_defer_ns = (int64_t)gws_env_long("GODOT_WEBSOCKET_TX_DEFER_US",
		                                         GWS_TX_DEFER_US_DEFAULT, 0, 1000000) * 1000;
		ctx->tx_burst_gap_ns = (int64_t)gws_env_long("GODOT_WEBSOCKET_TX_BURST_GAP_US",
		                                             GWS_BURST_GAP_NS / 1000, 0, 1000000) * 1000;
	}
	/* Read batching (wait.c, "naps"): threaded contexts only.
	 * GODOT_WEBSOCKET_RX_NAP_US sets the longest nap, 0 turns naps off;
	 * ..._RX_NAP_SHARE the share of the drain lag (tests stretch naps). */
	if (ctx->threaded)
		ctx->rx_nap_max_ns = (int64_t)gws_env_long("GODOT_WEBSOCKET_RX_NAP_US",
		                                           GWS_RX_NAP_US_DEFAULT, 0, 1000000) * 1000;
	ctx->rx_nap_share = gws_env_long("GODOT_WEBSOCKET_RX_NAP_SHARE", GWS_NAP_SHARE_DEFAULT,
	                                 1, 1000);
	if (gws_client_vhost_for(ctx, NULL, &ctx->client_vhost) != GWS_OK) {
		gws_evloop_destroy(ctx);
		ctx->lws = NULL;
		gws_context_release(ctx);
		return GWS_ERR_CANT_CREATE;
	}
	if (ctx->threaded &&
	    pthread_create(&ctx->thread, NULL, service_main, ctx) != 0) {
		gws_evloop_destroy(ctx);
		ctx->lws = NULL;
		gws_context_release(ctx);
		return GWS_ERR_CANT_CREATE;
	}
	*out = ctx;
	return GWS_OK;
}

int gws_context_is_threaded(const gws_context *ctx) { return ctx->threaded; }
int gws_context_event_loop(const gws_context *ctx) { return ctx->evloop; }

void gws_context_service(gws_context *ctx)
{
	if (ctx->threaded || !ctx->lws)
		return;
	pthread_mutex_lock(&ctx->svc_lock);
	gws_run_commands(ctx);
	gws_evloop_step(ctx, false);
	gws_run_commands(ctx);
	pthread_mutex_unlock(&ctx->svc_lock);
}

void gws_context_shutdown(gws_context *ctx)
{
	struct gws_conn *c;

	if (!ctx)
		return;
	gws_ctx_lock(ctx);
	if (ctx->shut_down) {
		gws_ctx_unlock(ctx);
		return;
	}
	ctx->shut_down = true;
	/* Every connection reports CLOSED now; lws tears the sockets down. */
	for (c = ctx->conns; c; c = c->cnext)
		gws_conn_report_closed_locked(c, -1, "", 0);
	gws_ctx_unlock(ctx);

	if (ctx->threaded) {
		atomic_store(&ctx->stopping, true);
		lws_cancel_service(ctx->lws);
		gws_service_kick(ctx);
		pthread_join(ctx->thread, NULL);
	}
	/* From here this thread is the service thread (direct sends stay out). */
	pthread_mutex_lock(&ctx->svc_lock);
	if (!ctx->threaded)
		gws_run_commands(ctx);
	while (atomic_load(&ctx->wakers) > 0)
		sched_yield();
	/* Destroying the context closes every wsi; the callbacks run here, on
	 * this thread, which is now the only one that touches lws. */
	gws_evloop_destroy(ctx);
	gws_ctx_lock(ctx);
	ctx->lws = NULL;
	gws_ctx_unlock(ctx);
	/* Commands queued by callbacks during destruction are dropped. */
	gws_run_commands(ctx);
	pthread_mutex_unlock(&ctx->svc_lock);
}
