/*
 * evloop.c - the event loop under lws: epoll (libev) when available, else
 * lws' default poll() loop.
 *
 * lws' default loop poll()s every socket on each wake-up, which costs most of
 * a core with a few thousand busy connections.  Debian's lws 4.1 ships
 * event-library plugins (package libwebsockets-evlib-ev: libev, epoll on
 * Linux); lws loads one from LWS_INSTALL_LIBDIR when the context is created
 * with its option bit (LWS_SERVER_OPTION_LIBEV) and fails the creation when
 * the plugin is missing, which is when we fall back to poll().
 *
 * We hand lws a *foreign* libev loop, created here, and step it ourselves:
 *  - the service thread keeps its structure: commands run between steps, a
 *    step blocks until an event, and lws_cancel_service() wakes it (lws'
 *    wake-up pipe is a watched fd).  lws_service() would instead run an
 *    evlib loop until it is broken, not one step;
 *  - lws' internal libev loop would install a process-wide SIGINT handler
 *    (ev_signal) and take Ctrl-C away from Python; foreign loops get none;
 *  - with libev every close is synchronous, as with poll(): the listener
 *    code relies on that.  (lws' libuv plugin closes handles asynchronously
 *    and defers vhost destruction until the loop has run, so it is not
 *    offered.)
 * libev itself is dlopen()ed, so the module does not depend on it.
 *
 * lws 4.1.6's libev plugin never moves its timer earlier while it is armed
 * (ev_timer_set() + ev_timer_start() on an active ev_timer is a no-op), so an
 * lws timer scheduled before the armed one (a heartbeat, a timeout) would
 * wait for the next socket event or for the armed one (up to 30 s).  A
 * timer of ours, re-armed from its own callback, keeps the armed deadline at
 * most one period ahead, so lws timers fire at most that late: every
 * GWS_EVLOOP_TICK_US while the context has connections, else every
 * GWS_EVLOOP_IDLE_TICK_US (a wake-up costs ~45 us of CPU here; the first
 * connection's timers may be that late once).  It is scheduled before the
 * loop first runs, so the bound holds from the start.
 *
 * Contexts without a thread (gws_context_service() steps inside the
 * caller's poll()) stay on poll(): lws_service() runs ripe timers and
 * forced work in the same call as the commands before it, which the libev
 * plugin only does from its idle watcher after a socket event.
 *
 * GODOT_WEBSOCKET_EVENT_LOOP=poll|libev forces a choice for threaded
 * contexts (unset or "auto": libev when it loads, else poll).  Only a forced
 * choice that fails says so, once, on stderr.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Bounds of the lateness of lws timers on libev (see above). */
#define GWS_EVLOOP_TICK_US 10000
#define GWS_EVLOOP_IDLE_TICK_US 250000

/* libev 4 ABI: the few calls we make, and their constants. */
#define GWS_EVRUN_NOWAIT 1
#define GWS_EVRUN_ONCE 2
#define GWS_EVFLAG_NOSIGMASK 0x00400000u  /* no signal watchers: leave the mask */

#define GWS_EV_MINPRI (-2)
#define GWS_EV_MAXPRI 2

/* libev 4's ev_prepare and ev_check (EV_WATCHER: default configuration,
 * which Debian's libev and lws' plugin use). */
typedef struct gws_ev_watcher {
	int active;
	int pending;
	int priority;
	void *data;
	void (*cb)(void *loop, struct gws_ev_watcher *w, int revents);
} gws_ev_watcher;

static struct {
	pthread_once_t once;
	bool ok;
	void *(*loop_new)(unsigned int flags);
	int (*run)(void *loop, int flags);
	void (*loop_destroy)(void *loop);
	void (*prepare_start)(void *loop, gws_ev_watcher *w);
	void (*prepare_stop)(void *loop, gws_ev_watcher *w);
	void (*check_start)(void *loop, gws_ev_watcher *w);
	void (*check_stop)(void *loop, gws_ev_watcher *w);
	void (*timer_start)(void *loop, void *w);
	void (*timer_stop)(void *loop, void *w);
	void (*now_update)(void *loop);
} ev = { PTHREAD_ONCE_INIT, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };

/* libev 4's ev_timer (EV_WATCHER_TIME + repeat, default configuration). */
typedef struct gws_ev_timer {
	int active;
	int pending;
	int priority;
	void *data;
	void (*cb)(void *loop, struct gws_ev_timer *w, int revents);
	double at;
	double repeat;
} gws_ev_timer;

/* Whether lws loaded the libev plugin: -1 no (a libev context failed where
 * a poll() one then worked: the plugin is missing), 0 not known, 1 yes.
 * After a failure no context retries (each try scans the library dir). */
static atomic_int ev_plugin = 0;

static void ev_load(void)
{
	void *h = dlopen("libev.so.4", RTLD_NOW | RTLD_LOCAL);
	int (*major)(void);

	if (!h)
		return;
	/* The handle is kept: lws' plugin links libev too, and the loops we
	 * create must outlive every context. */
	*(void **)&major = dlsym(h, "ev_version_major");
	*(void **)&ev.loop_new = dlsym(h, "ev_loop_new");
	*(void **)&ev.run = dlsym(h, "ev_run");
	*(void **)&ev.loop_destroy = dlsym(h, "ev_loop_destroy");
	*(void **)&ev.prepare_start = dlsym(h, "ev_prepare_start");
	*(void **)&ev.prepare_stop = dlsym(h, "ev_prepare_stop");
	*(void **)&ev.check_start = dlsym(h, "ev_check_start");
	*(void **)&ev.check_stop = dlsym(h, "ev_check_stop");
	*(void **)&ev.timer_start = dlsym(h, "ev_timer_start");
	*(void **)&ev.timer_stop = dlsym(h, "ev_timer_stop");
	*(void **)&ev.now_update = dlsym(h, "ev_now_update");
	ev.ok = major && major() == 4 && ev.loop_new && ev.run && ev.loop_destroy &&
	        ev.prepare_start && ev.prepare_stop && ev.check_start && ev.check_stop &&
	        ev.timer_start && ev.timer_stop && ev.now_update;
}

/* The loop asked for by GODOT_WEBSOCKET_EVENT_LOOP: -1 auto, -2 not
 * understood, -3 libuv (not offered), else a GWS_EVENT_LOOP_* value. */
static int requested_loop(void)
{
	const char *s = getenv("GODOT_WEBSOCKET_EVENT_LOOP");

	if (!s || !*s || !strcmp(s, "auto"))
		return -1;
	if (!strcmp(s, "poll"))
		return GWS_EVENT_LOOP_POLL;
	if (!strcmp(s, "libev"))
		return GWS_EVENT_LOOP_LIBEV;
	if (!strcmp(s, "libuv"))
		return -3;
	return -2;
}

static void forced_failure(const char *what)
{
	static atomic_bool said = false;

	if (!atomic_exchange(&said, true))
		fprintf(stderr, "godot_websocket: GODOT_WEBSOCKET_EVENT_LOOP: %s; "
		        "using poll()\n", what);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	gws_context *ctx = lws_container_of(sul, gws_context, evloop_tick);
	bool busy;

	gws_ctx_lock(ctx);
	busy = ctx->conns != NULL;
	gws_ctx_unlock(ctx);
	lws_sul_schedule(ctx->lws, 0, &ctx->evloop_tick, tick_cb,
	                 busy ? GWS_EVLOOP_TICK_US : GWS_EVLOOP_IDLE_TICK_US);
}

/* The service thread lends svc_lock out for exactly the time it waits in
 * epoll: libev runs prepare watchers right before its backend poll and check
 * watchers right after it, before any I/O or timer callback (the check
 * watcher has the highest priority; the prepare watcher the lowest, so it
 * runs after anything else pending).  Only libev's own bookkeeping runs
 * between the two, never lws. */
static void before_wait(void *loop, gws_ev_watcher *w, int revents)
{
	gws_context *ctx = w->data;

	(void)loop;
	(void)revents;
	if (ctx->svc_held) {
		ctx->svc_held = false;
		ctx->svc_lent = true;
		pthread_mutex_unlock(&ctx->svc_lock);
	}
}

static void after_wait(void *loop, gws_ev_watcher *w, int revents)
{
	gws_context *ctx = w->data;

	(void)loop;
	(void)revents;
	if (ctx->svc_lent) {
		pthread_mutex_lock(&ctx->svc_lock);
		ctx->svc_lent = false;
		ctx->svc_held = true;
		/* Awake: the thread runs the command queue before it waits
		 * again (service_main()), so senders need not wake it until
		 * gws_run_commands() clears this. */
		pthread_mutex_lock(&ctx->lock);
		ctx->wake_pending = true;
		pthread_mutex_unlock(&ctx->lock);
	}
}

static struct lws_context *create_on_libev(gws_context *ctx,
                                           struct lws_context_creation_info *info)
{
	struct lws_context_creation_info i = *info;
	struct lws_context *l;
	void *loops[1];
	gws_ev_watcher *w;

	pthread_once(&ev.once, ev_load);
	if (!ev.ok || atomic_load(&ev_plugin) < 0)
		return NULL;
	w = calloc(2, sizeof(*w));
	if (!w)
		return NULL;
	loops[0] = ev.loop_new(GWS_EVFLAG_NOSIGMASK);  /* best backend: epoll */
	if (!loops[0]) {
		free(w);
		return NULL;
	}
	i.options |= LWS_SERVER_OPTION_LIBEV;
	i.foreign_loops = loops;
	l = lws_create_context(&i);
	if (!l) {
		ev.loop_destroy(loops[0]);
		free(w);
		return NULL;
	}
	atomic_store(&ev_plugin, 1);
	ctx->evloop = GWS_EVENT_LOOP_LIBEV;
	ctx->evloop_handle = loops[0];
	ctx->evloop_watchers = w;
	w[0].priority = GWS_EV_MINPRI;
	w[0].data = ctx;
	w[0].cb = before_wait;
	ev.prepare_start(loops[0], &w[0]);
	w[1].priority = GWS_EV_MAXPRI;
	w[1].data = ctx;
	w[1].cb = after_wait;
	ev.check_start(loops[0], &w[1]);
	lws_sul_schedule(l, 0, &ctx->evloop_tick, tick_cb, GWS_EVLOOP_TICK_US);
	return l;
}

struct lws_context *gws_evloop_create(gws_context *ctx,
                                      const struct lws_context_creation_info *info)
{
	struct lws_context_creation_info i = *info;
	int want = requested_loop();
	struct lws_context *l = NULL;

	ctx->evloop = GWS_EVENT_LOOP_POLL;
	ctx->evloop_handle = NULL;
	if (want == -2)
		forced_failure("unknown value (poll, libev or auto)");
	if (want == -3)
		forced_failure("libuv is not supported (lws 4.1's libuv plugin "
		               "closes sockets asynchronously)");
	if (ctx->threaded && (want == -1 || want == GWS_EVENT_LOOP_LIBEV)) {
		l = create_on_libev(ctx, &i);
		if (l)
			return l;
		if (want == GWS_EVENT_LOOP_LIBEV)
			forced_failure(ev.ok ? "lws' libev plugin did not load "
			                       "(package libwebsockets-evlib-ev)"
			                     : "libev (libev.so.4) did not load");
		l = lws_create_context(&i);
		if (l && ev.ok && atomic_load(&ev_plugin) == 0)
			atomic_store(&ev_plugin, -1);
		return l;
	}
	return lws_create_context(&i);
}

int gws_evloop_step(gws_context *ctx, bool block)
{
	if (ctx->evloop == GWS_EVENT_LOOP_LIBEV) {
		ev.run(ctx->evloop_handle, block ? GWS_EVRUN_ONCE : GWS_EVRUN_NOWAIT);
		/* (ev_break() between the two watchers would skip the check) */
		after_wait(NULL, &((gws_ev_watcher *)ctx->evloop_watchers)[1], 0);
		return 0;
	}
	/* poll(): 0 waits for the next event or lws timer, -1 does not wait. */
	return lws_service(ctx->lws, block ? 0 : -1);
}

static void step_timer_cb(void *loop, gws_ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;  /* its only job is to end ev_run()'s wait */
}

void gws_evloop_step_for(gws_context *ctx, int64_t timeout_ns)
{
	gws_ev_timer t;

	memset(&t, 0, sizeof(t));
	t.cb = step_timer_cb;
	t.at = timeout_ns > 0 ? (double)timeout_ns / 1e9 : 0.0;
	ev.now_update(ctx->evloop_handle);  /* "at" counts from libev's cached now */
	ev.timer_start(ctx->evloop_handle, &t);
	gws_evloop_step(ctx, true);
	ev.timer_stop(ctx->evloop_handle, &t);
}

void gws_evloop_destroy(gws_context *ctx)
{
	/* With libev every wsi closes (and its callbacks run) inside
	 * lws_context_destroy(), as with poll(); lws leaves a foreign loop to
	 * its owner. */
	lws_context_destroy(ctx->lws);
	if (ctx->evloop == GWS_EVENT_LOOP_LIBEV && ctx->evloop_handle) {
		gws_ev_watcher *w = ctx->evloop_watchers;

		ev.prepare_stop(ctx->evloop_handle, &w[0]);
		ev.check_stop(ctx->evloop_handle, &w[1]);
		ev.loop_destroy(ctx->evloop_handle);
		ctx->evloop_handle = NULL;
		free(w);
		ctx->evloop_watchers = NULL;
	}
}
