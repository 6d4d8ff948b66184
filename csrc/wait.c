/*
 * wait.c - blocking until a group has events: gws_group_wait() and
 * gws_group_fd() (an addition to Godot's API, which only polls).
 *
 * A group's has_events word (group.c) goes 0 -> 1 when the core queues the
 * first event after a drain, and back to 0 when the caller drains.  That
 * one transition is where a waiter is woken:
 *  - gws_group_wait() on a threaded context sleeps on the word itself (a
 *    futex).  The core makes the FUTEX_WAKE system call only while a waiter
 *    is registered (g->waiters), so a program that never waits pays nothing
 *    but the load of that counter.  The classic pairing makes it lose no
 *    wake-up: the core stores has_events = 1 and then reads waiters, the
 *    waiter increments waiters and then (inside FUTEX_WAIT, atomically with
 *    the kernel's wake-up) reads has_events, all sequentially consistent:
 *    one of the two sees the other's write.
 *    Before it sleeps a waiter may spin for a few microseconds
 *    (GODOT_WEBSOCKET_WAIT_SPIN_US, default GWS_WAIT_SPIN_US) reading the
 *    word and yielding the CPU, which saves the wake-up latency of a
 *    sleeping thread when the event is that close; see docs/performance.md
 *    ("Blocking wait").
 *  - Better still, on the libev loop a waiter runs the event loop itself
 *    ("drives") while the service thread is parked: an event then costs one
 *    thread wake-up (the waiter's, in epoll_wait), not two (the service
 *    thread's, then the waiter's), as without a thread.  A waiter asks with
 *    park_req; the service thread parks (releases svc_lock, sleeps on
 *    park_word) the next time it would block, and from then on a waiter
 *    that gets svc_lock while `parked` is set runs the loop (commands, lws,
 *    timers) until its group has events or its deadline.  `parked` is only
 *    cleared, and `driving` only set, under svc_lock, so a driver that holds
 *    it knows the service thread stays out; a driver lends svc_lock during
 *    epoll_wait exactly as the service thread does (direct sends go on).
 *    The service thread takes the loop back when commands are queued and
 *    nobody runs the loop, when a leaving driver knows of other waiters
 *    asleep (park_end), or when no waiter ran the loop for 2 ms (GODOT_WEBSOCKET_WAIT_PARK_US): a
 *    threaded context still does its I/O while the caller computes, at most
 *    that much later.  Commands queued while it is parked and nobody drives
 *    are run by the queuing thread itself (gws_service_run_parked(), from
 *    gws_ctx_unlock()) instead of waking it.  GODOT_WEBSOCKET_WAIT_DRIVE=0
 *    turns driving off (for comparisons).
 *  - gws_group_fd() is an eventfd, created on first use, that holds a count
 *    while has_events is 1 (written at the 0 -> 1 transition, read back at
 *    the drain, both under the context lock so the two cannot cross), for
 *    select()/poll()/epoll and event loops (asyncio's add_reader()).
 *  - Naps (read batching).  A game loop drains its groups at its frame rate,
 *    so what arrives waits in the queue for most of a frame anyway; the
 *    service thread woken for every incoming message (2,000 clients at
 *    20 Hz: ~25k epoll_wait()s and ~5k context switches a second) pays for
 *    wake-ups nobody profits from.  The core keeps a moving average of how
 *    late after the signal (has_events 0 -> 1) each drain comes, and before
 *    each blocking step the service thread sleeps 1/8 of it (tests change
 *    the share with GODOT_WEBSOCKET_RX_NAP_SHARE), at most
 *    GODOT_WEBSOCKET_RX_NAP_US (default 1 ms, 0: never), so one wake-up
 *    reads what many sockets sent.  Naps under 100 us are not taken: a
 *    program that polls in a tight loop, waits (wait(), a driver) or reacts
 *    to the eventfd drains within microseconds and never naps.  Nor does a
 *    step that queued 64 KiB or more get one: a stream, not a trickle.  A
 *    nap lends svc_lock as epoll_wait does (direct sends go on) and ends
 *    early when a command or a write is queued (gws_service_kick() sees
 *    `napping`), so it only delays reading, and then by 1/8 of the delay
 *    the program adds itself.
 *  - Without a service thread nothing happens between the caller's calls,
 *    so gws_group_wait() is the service step itself, run blocking: lws'
 *    poll() loop sleeps until a socket event or its next timer, and a timer
 *    of ours at the deadline bounds the sleep.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Default spin before a threaded wait sleeps (microseconds). */
#define GWS_WAIT_SPIN_US 50
/* Longest single sleep of a no-thread wait without a deadline. */
#define GWS_WAIT_NOTHREAD_SLICE_US 1000000
/* The service thread takes the loop back when no waiter ran it for this
 * long (ns; wait.c "driving"). */
#define GWS_PARK_NS_DEFAULT 2000000
/* Longest single stretch a waiter runs the loop (ns). */
#define GWS_DRIVE_SLICE_NS 1000000000
/* How soon the deadline timer of a no-thread wait fires again (see
 * wait_timer_cb()). */
#define GWS_WAIT_REARM_US 1000
/* Naps (see the top): the moving average of drain lags weighs each new one
 * 1/GWS_NAP_LAG_WEIGHT; a nap lasts that average / ctx->rx_nap_share
 * (GWS_NAP_SHARE_DEFAULT), at most ctx->rx_nap_max_ns, and none shorter
 * than GWS_NAP_MIN_NS is taken. */
#define GWS_NAP_LAG_WEIGHT 8
#define GWS_NAP_MIN_NS 100000
/* No nap after a step that queued this much (bytes) for the program: a
 * stream that fills the queues this fast gains nothing from fewer wake-ups
 * (each reads plenty already) and would only be slowed (W2: up to 20 %). */
#define GWS_NAP_MAX_READ (64 * 1024)

static pthread_once_t spin_once = PTHREAD_ONCE_INIT;
static int64_t spin_ns = (int64_t)GWS_WAIT_SPIN_US * 1000;

static bool spin_yield = true;
static bool drive_on = true;
static int64_t park_ns = GWS_PARK_NS_DEFAULT;

static void spin_load(void)
{
	const char *y = getenv("GODOT_WEBSOCKET_WAIT_SPIN_YIELD");
	const char *d = getenv("GODOT_WEBSOCKET_WAIT_DRIVE");

	if (d && !strcmp(d, "0"))
		drive_on = false;
	if (y && !strcmp(y, "0"))
		spin_yield = false;
	park_ns = (int64_t)gws_env_long("GODOT_WEBSOCKET_WAIT_PARK_US", park_ns / 1000, 1,
	                                1000000) * 1000;
	spin_ns = (int64_t)gws_env_long("GODOT_WEBSOCKET_WAIT_SPIN_US", spin_ns / 1000, 0,
	                                1000000) * 1000;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline uint32_t flag(const gws_group *g)
{
	return __atomic_load_n(&g->has_events, __ATOMIC_SEQ_CST);
}

void gws_group_signal_locked(gws_group *g)
{
	if (g->has_events)
		return;  /* only the lock holder writes it: already set */
	if (g->ctx->rx_nap_max_ns)
		g->signal_ns = gws_now_ns();
	__atomic_store_n(&g->has_events, 1u, __ATOMIC_SEQ_CST);
	if (atomic_load(&g->waiters) > 0)
		syscall(SYS_futex, (uint32_t *)&g->has_events, FUTEX_WAKE_PRIVATE, INT_MAX,
		        NULL, NULL, 0);
	if (g->efd >= 0 && !g->efd_set) {
		uint64_t one = 1;

		g->efd_set = write(g->efd, &one, sizeof(one)) == sizeof(one);
	}
}

void gws_group_unsignal_locked(gws_group *g)
{
	gws_context *ctx = g->ctx;

	if (g->has_events && ctx->rx_nap_max_ns) {
		/* how late this drain came: the average that sizes naps */
		int64_t lag = gws_now_ns() - g->signal_ns;
		int64_t avg = atomic_load(&ctx->drain_lag_ns);

		if (lag < 0)
			lag = 0;
		atomic_store(&ctx->drain_lag_ns, avg + (lag - avg) / GWS_NAP_LAG_WEIGHT);
	}
	__atomic_store_n(&g->has_events, 0u, __ATOMIC_RELAXED);
	if (g->efd_set) {
		uint64_t n;

		g->efd_set = false;
		if (read(g->efd, &n, sizeof(n)) < 0)
			(void)0;  /* EAGAIN: nothing to reset */
	}
}

void gws_group_wait_free(gws_group *g)
{
	if (g->efd >= 0)
		close(g->efd);
	g->efd = -1;
}

int gws_group_fd(gws_group *g)
{
	gws_context *ctx = g->ctx;
	int fd;

	if (!ctx->threaded)
		return -1;
	gws_ctx_lock(ctx);
	if (g->efd < 0) {
		g->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g->efd >= 0 && g->has_events) {
			uint64_t one = 1;

			g->efd_set = write(g->efd, &one, sizeof(one)) == sizeof(one);
		}
	}
	fd = g->efd;
	gws_ctx_unlock(ctx);
	return fd;
}

/* ---- driving: the waiter runs the event loop ------------------------------ */

static void futex_wait_ns(atomic_uint *word, unsigned seq, int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
}

void gws_service_kick(gws_context *ctx)
{
	if (!atomic_load(&ctx->parked) && !atomic_load(&ctx->napping))
		return;
	atomic_fetch_add(&ctx->park_word, 1);
	syscall(SYS_futex, (uint32_t *)&ctx->park_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

bool gws_service_run_parked(gws_context *ctx)
{
	int64_t now;

	if (!atomic_load(&ctx->parked) || atomic_load(&ctx->driving))
		return false;
	/* A burst (as in gws_direct_send()): the service thread takes the
	 * loop back and batches it, rather than a write per command here. */
	now = gws_now_ns();
	if (now - atomic_exchange(&ctx->inline_last_ns, now) < GWS_DIRECT_GAP_NS)
		return false;
	if (pthread_mutex_trylock(&ctx->svc_lock))
		return false;
	if (!atomic_load(&ctx->parked) || atomic_load(&ctx->driving) || !ctx->lws ||
	    atomic_load(&ctx->stopping)) {
		pthread_mutex_unlock(&ctx->svc_lock);
		return false;
	}
	ctx->svc_held = true;
	gws_run_commands(ctx);
	ctx->svc_held = false;
	/* (a burst counts from the end of a long run: writes to many peers) */
	atomic_store(&ctx->inline_last_ns, gws_now_ns());
	pthread_mutex_unlock(&ctx->svc_lock);
	return true;
}

void gws_service_park(gws_context *ctx)
{
	ctx->svc_held = false;
	atomic_store(&ctx->parked, true);
	/* A waiter driving the loop does not time bursts' writes: whatever
	 * waits for its window goes now (and no new window opens while parked,
	 * want_write_locked() sees parked). */
	pthread_mutex_lock(&ctx->lock);
	ctx->tx_defer_due = 0;
	pthread_mutex_unlock(&ctx->lock);
	pthread_mutex_unlock(&ctx->svc_lock);
	for (;;) {
		unsigned seq = atomic_load(&ctx->park_word);
		bool resume = atomic_load(&ctx->stopping);

		if (!resume) {
			/* work for the loop and nobody to run it (a driver runs
			 * commands itself: lws_cancel_service() wakes it) */
			pthread_mutex_lock(&ctx->lock);
			resume = ctx->cmd_head || ctx->nwant_write;
			pthread_mutex_unlock(&ctx->lock);
		}
		if (!resume && !atomic_load(&ctx->driving))
			resume = atomic_exchange(&ctx->park_end, false) ||
			         gws_now_ns() - atomic_load(&ctx->drive_end_ns) >= park_ns;
		if (resume) {
			pthread_mutex_lock(&ctx->svc_lock);
			if (!atomic_load(&ctx->driving)) {
				atomic_store(&ctx->park_req, 0);
				atomic_store(&ctx->parked, false);
				ctx->svc_held = true;
				return;
			}
			/* (lent by a driver waiting in epoll) */
			pthread_mutex_unlock(&ctx->svc_lock);
		}
		futex_wait_ns(&ctx->park_word, seq, park_ns);
	}
}

/* ---- naps: read batching ----------------------------------------------------- */

void gws_service_nap(gws_context *ctx)
{
	int64_t ns = ctx->rx_nap_max_ns, lag;
	unsigned seq = 0;
	bool skip;

	if (!ns)
		return;
	lag = atomic_load(&ctx->drain_lag_ns) / ctx->rx_nap_share;
	if (lag < ns)
		ns = lag;
	/* (not worth two context switches; and whoever waits or drives
	 * wants the events now) */
	if (ns < GWS_NAP_MIN_NS || atomic_load(&ctx->park_req) ||
	    atomic_load(&ctx->sleepers) > 0 || atomic_load(&ctx->stopping))
		return;
	pthread_mutex_lock(&ctx->lock);
	/* After gws_run_commands() nothing is pending; anything queued since
	 * means work now.  Requests made from here on see `napping` and kick
	 * (gws_ctx_unlock() -> gws_service_kick()). */
	skip = ctx->cmd_head || ctx->nwant_write || ctx->tx_defer_due || ctx->wake_pending ||
	       ctx->rx_queued >= GWS_NAP_MAX_READ;
	ctx->rx_queued = 0;
	if (!skip) {
		seq = atomic_load(&ctx->park_word);
		atomic_store(&ctx->napping, true);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (skip)
		return;
	/* svc_lock is lent as during epoll_wait: direct sends go on */
	ctx->svc_held = false;
	pthread_mutex_unlock(&ctx->svc_lock);
	futex_wait_ns(&ctx->park_word, seq, ns);
	pthread_mutex_lock(&ctx->svc_lock);
	ctx->svc_held = true;
	atomic_store(&ctx->napping, false);
	atomic_fetch_add(&ctx->naps, 1);
}

unsigned long gws_context_naps(gws_context *ctx) { return atomic_load(&ctx->naps); }

/* Runs the event loop on this thread until the group has events or the
 * deadline, if the service thread is parked; else returns 0 at once. */
static int drive(gws_group *g, int64_t deadline, int *result)
{
	gws_context *ctx = g->ctx;
	int64_t spin_end;
	int r = 0;

	if (!drive_on || ctx->evloop != GWS_EVENT_LOOP_LIBEV)
		return 0;
	if (!atomic_load(&ctx->park_req))
		atomic_store(&ctx->park_req, 1);  /* parks after its next wake-up */
	/* counts as driving for gws_service_park(): stay parked a while */
	atomic_store(&ctx->drive_end_ns, gws_now_ns());
	if (!atomic_load(&ctx->parked) || pthread_mutex_trylock(&ctx->svc_lock))
		return 0;
	/* parked is cleared under svc_lock: with it held, it stays parked */
	if (!atomic_load(&ctx->parked) || atomic_load(&ctx->driving) ||
	    atomic_load(&ctx->stopping) || !ctx->lws) {
		pthread_mutex_unlock(&ctx->svc_lock);
		return 0;
	}
	atomic_store(&ctx->driving, true);
	ctx->svc_held = true;
	spin_end = gws_now_ns() + spin_ns;
	for (;;) {
		int64_t now, left;

		gws_run_commands(ctx);
		if (flag(g)) {
			r = 1;
			break;
		}
		now = gws_now_ns();
		left = deadline - now;
		if (left <= 0 || atomic_load(&ctx->stopping))
			break;
		if (now < spin_end) {
			/* spin first: non-blocking steps, so that an event that
			 * comes this soon finds the thread (and its CPU) awake */
			gws_evloop_step(ctx, false);
			if (spin_yield)
				sched_yield();
			continue;
		}
		gws_evloop_step_for(ctx, left < GWS_DRIVE_SLICE_NS ? left : GWS_DRIVE_SLICE_NS);
	}
	ctx->svc_held = false;
	atomic_store(&ctx->drive_end_ns, gws_now_ns());
	atomic_store(&ctx->driving, false);
	pthread_mutex_unlock(&ctx->svc_lock);
	/* someone asleep on a group needs the loop run: the service thread */
	if (atomic_load(&ctx->sleepers) > 0) {
		atomic_store(&ctx->park_end, true);
		gws_service_kick(ctx);
	}
	*result = r;
	return 1;
}

/* Sleeps until has_events or the deadline (-1: none); 1, 0, or -1 (EINTR). */
static int wait_threaded(gws_group *g, int64_t timeout_us)
{
	int64_t start, deadline;
	int r = 0;

	if (flag(g))
		return 1;
	if (timeout_us == 0)
		return 0;
	pthread_once(&spin_once, spin_load);
	start = gws_now_ns();
	deadline = timeout_us < 0 ? INT64_MAX : start + timeout_us * 1000;
	if (drive(g, timeout_us < 0 ? start + GWS_DRIVE_SLICE_NS : deadline, &r)) {
		if (r || timeout_us >= 0)
			return r;
		return -1;  /* no limit: the caller comes back (signals checked) */
	}
	if (spin_ns > 0) {
		int64_t spin_end = start + spin_ns < deadline ? start + spin_ns : deadline;

		for (;;) {
			if (flag(g))
				return 1;
			if (spin_yield)
				sched_yield();  /* other runnable threads first (2 CPUs) */
			else
				cpu_relax();
			if (gws_now_ns() >= spin_end)
				break;
		}
	}
	atomic_fetch_add(&g->waiters, 1);
	atomic_fetch_add(&g->ctx->sleepers, 1);
	for (;;) {
		struct timespec ts, *tsp = NULL;

		if (flag(g)) {
			r = 1;
			break;
		}
		if (timeout_us >= 0) {
			int64_t left = deadline - gws_now_ns();

			if (left <= 0)
				break;
			ts.tv_sec = (time_t)(left / 1000000000);
			ts.tv_nsec = (long)(left % 1000000000);
			tsp = &ts;
		}
		if (syscall(SYS_futex, (uint32_t *)&g->has_events, FUTEX_WAIT_PRIVATE, 0u, tsp,
		            NULL, 0) < 0 && errno == EINTR) {
			r = flag(g) ? 1 : -1;
			break;
		}
	}
	atomic_fetch_sub(&g->ctx->sleepers, 1);
	atomic_fetch_sub(&g->waiters, 1);
	return r;
}

/* Its job is to end lws_service()'s sleep at the deadline.  lws runs ripe
 * timers *before* it computes how long to sleep, so a timer that is already
 * due then (the thread was preempted in between) would leave the sleep
 * unbounded: it re-arms itself a little later, which bounds it anyway. */
typedef struct wait_timer {
	lws_sorted_usec_list_t sul;
	gws_context *ctx;
} wait_timer;

static void wait_timer_cb(lws_sorted_usec_list_t *sul)
{
	wait_timer *t = lws_container_of(sul, wait_timer, sul);

	lws_sul_schedule(t->ctx->lws, 0, sul, wait_timer_cb, GWS_WAIT_REARM_US);
}

/* The service step, blocking until the group has events or the deadline. */
static int wait_nothread(gws_group *g, int64_t timeout_us)
{
	gws_context *ctx = g->ctx;
	wait_timer t;
	lws_sorted_usec_list_t *sul = &t.sul;
	int64_t deadline = timeout_us < 0 ? -1 : gws_now_ns() + timeout_us * 1000;
	int64_t spin_end;
	int r;

	memset(&t, 0, sizeof(t));
	t.ctx = ctx;
	pthread_mutex_lock(&ctx->svc_lock);
	if (!ctx->lws) {
		/* shut down: nothing will ever arrive */
		pthread_mutex_unlock(&ctx->svc_lock);
		if (timeout_us != 0) {
			struct timespec ts;
			int64_t us = timeout_us < 0 ? GWS_WAIT_NOTHREAD_SLICE_US : timeout_us;

			ts.tv_sec = (time_t)(us / 1000000);
			ts.tv_nsec = (long)(us % 1000000) * 1000;
			if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
				return flag(g) ? 1 : -1;
		}
		return flag(g) ? 1 : 0;
	}
	/* first the non-blocking step gws_context_service() does, repeated
	 * for the spin time (see drive()) */
	pthread_once(&spin_once, spin_load);
	spin_end = gws_now_ns() + (timeout_us ? spin_ns : 0);
	for (;;) {
		gws_run_commands(ctx);
		gws_evloop_step(ctx, false);
		gws_run_commands(ctx);
		if (flag(g) || gws_now_ns() >= spin_end ||
		    (deadline >= 0 && gws_now_ns() >= deadline))
			break;
		if (spin_yield)
			sched_yield();
	}
	while (!flag(g)) {
		int64_t left = GWS_WAIT_NOTHREAD_SLICE_US;

		if (deadline >= 0) {
			left = (deadline - gws_now_ns() + 999) / 1000;
			if (left <= 0)
				break;
		}
		lws_sul_schedule(ctx->lws, 0, sul, wait_timer_cb, (lws_usec_t)left);
		if (gws_evloop_step(ctx, true) < 0)
			break;
		gws_run_commands(ctx);
	}
	lws_sul_cancel(sul);
	r = flag(g) ? 1 : 0;
	pthread_mutex_unlock(&ctx->svc_lock);
	return r;
}

int gws_group_wait(gws_group *g, int64_t timeout_us)
{
	int r;

	if (flag(g))
		return 1;  /* the common case in a busy loop: no reference needed */
	/* The caller's handle may be released by another thread as soon as
	 * this returns (it holds the group only through Python objects): our
	 * own reference orders every access here before the free. */
	gws_group_ref(g);
	r = g->ctx->threaded ? wait_threaded(g, timeout_us) : wait_nothread(g, timeout_us);
	gws_group_unref(g);
	return r;
}
