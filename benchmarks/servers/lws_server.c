/*
 * lws_server.c - the reference peer: a plain libwebsockets (4.1) WebSocket
 * server in C, written the way the lws examples are (one lws_write() per
 * WRITEABLE callback), to show what the library itself costs.
 *
 * Built on the fly by benchmarks/run.py:
 *   gcc -O2 -o lws_server lws_server.c $(pkg-config --cflags --libs libwebsockets) -lpthread
 *
 * Usage: lws_server PORT MODE      (PORT 0: any free port; MODE echo|sink)
 * Prints "READY <port>", then obeys one command per line on stdin (the common
 * server protocol of benchmarks/servers/README.md):
 *   EXPECT n            count received messages from 0; print "DONE n t_first t_last"
 *                       (CLOCK_MONOTONIC ns) when n have arrived
 *   COUNT               print "COUNT n"
 *   CONNS               print "CONNS n" (open WebSocket connections)
 *   BCAST k size        queue k binary messages of size bytes to every connection;
 *                       print "BCASTED t_start t_end"
 *   GAME hz secs size   broadcast a size-byte state (bytes 0..7: send time ns,
 *                       8..15: tick, 16..23: time the tick was due) hz times a second for secs seconds; print
 *                       "GAMEDONE ticks count" (inputs are counted as in sink mode)
 *   QUIT                exit
 * Binary frames only, no extensions (so no compression), no size limit
 * beyond memory.
 */
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MODE_ECHO, MODE_SINK };

struct msg {
	struct msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE + payload */
};

struct pss {
	struct pss *next, *prev;
	struct lws *wsi;
	/* echo */
	unsigned char *rx;
	size_t rx_len, rx_cap;
	struct msg *txh, *txt;
	/* broadcast */
	uint64_t bcast_left;
	/* game */
	uint64_t next_tick;
};

#define RING 256
static int mode = MODE_SINK;
static struct lws_context *context;
static struct pss *conns;
static long nconns;
static uint64_t count, expect, t_first, t_last;
static unsigned char *bcast_buf;
static size_t bcast_len;
static unsigned char *states[RING];
static size_t state_len;
static uint64_t ticks, ticks_total;
static lws_usec_t tick_us;
static uint64_t game_start;
static lws_sorted_usec_list_t game_sul;
static int quit;
static int game_on;

static pthread_mutex_t cmd_lock = PTHREAD_MUTEX_INITIALIZER;
static char cmd_buf[64][128];
static int cmd_n;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void game_tick(lws_sorted_usec_list_t *sul)
{
	unsigned char *s;
	struct pss *p;
	uint64_t t = now_ns(), sched;

	(void)sul;
	if (ticks >= ticks_total) {
		printf("GAMEDONE %llu %llu\n", (unsigned long long)ticks,
		       (unsigned long long)count);
		fflush(stdout);
		return;
	}
	s = states[ticks % RING] + LWS_PRE;
	memset(s, 0, state_len);
	memcpy(s, &t, 8);
	memcpy(s + 8, &ticks, 8);
	sched = game_start + ticks * (uint64_t)tick_us * 1000u;
	memcpy(s + 16, &sched, 8);
	ticks++;
	for (p = conns; p; p = p->next)
		lws_callback_on_writable(p->wsi);
	/* next tick at its due time, not tick_us after this one ran late */
	sched = game_start + ticks * (uint64_t)tick_us * 1000u;
	t = now_ns();
	lws_sul_schedule(context, 0, &game_sul, game_tick,
	                 sched > t ? (lws_usec_t)((sched - t) / 1000u) : 1);
}

static void run_command(const char *line)
{
	unsigned long long a = 0, b = 0, c = 0;
	double secs = 0;
	struct pss *p;

	if (sscanf(line, "EXPECT %llu", &a) == 1) {
		count = 0;
		t_first = t_last = 0;
		expect = a;
	} else if (!strncmp(line, "COUNT", 5)) {
		printf("COUNT %llu\n", (unsigned long long)count);
	} else if (!strncmp(line, "CONNS", 5)) {
		printf("CONNS %ld\n", nconns);
	} else if (sscanf(line, "BCAST %llu %llu", &a, &b) == 2) {
		uint64_t t0 = now_ns();

		free(bcast_buf);
		bcast_buf = calloc(1, LWS_PRE + b);
		bcast_len = b;
		for (p = conns; p; p = p->next) {
			p->bcast_left += a;
			lws_callback_on_writable(p->wsi);
		}
		printf("BCASTED %llu %llu\n", (unsigned long long)t0,
		       (unsigned long long)now_ns());
	} else if (sscanf(line, "GAME %llu %lf %llu", &a, &secs, &c) == 3) {
		int i;

		state_len = c;
		for (i = 0; i < RING; i++) {
			free(states[i]);
			states[i] = calloc(1, LWS_PRE + c);
		}
		ticks = 0;
		ticks_total = (uint64_t)((double)a * secs + 0.5);
		game_on = 1;
		tick_us = (lws_usec_t)(1000000 / a);
		for (p = conns; p; p = p->next)
			p->next_tick = 0;
		game_start = now_ns();
		lws_sul_schedule(context, 0, &game_sul, game_tick, 1);
	} else if (!strncmp(line, "QUIT", 4)) {
		quit = 1;
	}
	fflush(stdout);
}

static void *stdin_main(void *arg)
{
	char line[128];

	(void)arg;
	while (fgets(line, sizeof(line), stdin)) {
		pthread_mutex_lock(&cmd_lock);
		if (cmd_n < 64)
			memcpy(cmd_buf[cmd_n++], line, sizeof(line));
		pthread_mutex_unlock(&cmd_lock);
		lws_cancel_service(context);
	}
	pthread_mutex_lock(&cmd_lock);
	if (cmd_n < 64)
		strcpy(cmd_buf[cmd_n++], "QUIT\n");
	pthread_mutex_unlock(&cmd_lock);
	lws_cancel_service(context);
	return NULL;
}

static int on_write(struct pss *p)
{
	if (p->txh) {
		struct msg *m = p->txh;
		int r = lws_write(p->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_BINARY);

		p->txh = m->next;
		if (!p->txh)
			p->txt = NULL;
		free(m);
		if (r < 0)
			return -1;
	} else if (game_on && p->next_tick < ticks) {
		if (ticks - p->next_tick >= RING)
			p->next_tick = ticks - RING + 1; /* never happens unless a client stalls */
		if (lws_write(p->wsi, states[p->next_tick % RING] + LWS_PRE, state_len,
		              LWS_WRITE_BINARY) < 0)
			return -1;
		p->next_tick++;
	} else if (p->bcast_left) {
		if (lws_write(p->wsi, bcast_buf + LWS_PRE, bcast_len, LWS_WRITE_BINARY) < 0)
			return -1;
		p->bcast_left--;
	}
	if (p->txh || p->bcast_left || (game_on && p->next_tick < ticks))
		lws_callback_on_writable(p->wsi);
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                    void *in, size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
		char local[64][128];
		int i, n;

		pthread_mutex_lock(&cmd_lock);
		n = cmd_n;
		memcpy(local, cmd_buf, sizeof(local[0]) * (size_t)n);
		cmd_n = 0;
		pthread_mutex_unlock(&cmd_lock);
		for (i = 0; i < n; i++)
			run_command(local[i]);
		break;
	}
	case LWS_CALLBACK_ESTABLISHED:
		memset(p, 0, sizeof(*p));
		p->wsi = wsi;
		p->next = conns;
		if (conns)
			conns->prev = p;
		conns = p;
		p->next_tick = ticks;
		nconns++;
		break;
	case LWS_CALLBACK_CLOSED:
		if (p->prev)
			p->prev->next = p->next;
		else if (conns == p)
			conns = p->next;
		if (p->next)
			p->next->prev = p->prev;
		nconns--;
		free(p->rx);
		while (p->txh) {
			struct msg *m = p->txh;

			p->txh = m->next;
			free(m);
		}
		break;
	case LWS_CALLBACK_RECEIVE: {
		int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);

		if (mode == MODE_ECHO) {
			struct msg *m;

			if (p->rx_len + len > p->rx_cap) {
				size_t cap = p->rx_cap ? p->rx_cap : 4096;
				unsigned char *nb;

				while (cap < p->rx_len + len)
					cap *= 2;
				nb = realloc(p->rx, cap);
				if (!nb)
					return -1;
				p->rx = nb;
				p->rx_cap = cap;
			}
			memcpy(p->rx + p->rx_len, in, len);
			p->rx_len += len;
			if (!final)
				break;
			m = malloc(sizeof(*m) + LWS_PRE + p->rx_len);
			if (!m)
				return -1;
			m->next = NULL;
			m->len = p->rx_len;
			memcpy(m->buf + LWS_PRE, p->rx, p->rx_len);
			p->rx_len = 0;
			if (p->rx_cap > 65536) {
				free(p->rx);
				p->rx = NULL;
				p->rx_cap = 0;
			}
			if (p->txt)
				p->txt->next = m;
			else
				p->txh = m;
			p->txt = m;
			lws_callback_on_writable(wsi);
		} else if (final) {
			uint64_t t;

			t = now_ns();
			if (!count)
				t_first = t;
			count++;
			t_last = t;
			if (expect && count == expect) {
				printf("DONE %llu %llu %llu\n", (unsigned long long)count,
				       (unsigned long long)t_first, (unsigned long long)t_last);
				fflush(stdout);
			}
		}
		break;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_write(p);
	default:
		break;
	}
	return 0;
}

static struct lws_protocols protocols[] = {
	{ "bench", callback, sizeof(struct pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	pthread_t th;
	struct lws_vhost *vh;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT echo|sink\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[2], "echo"))
		mode = MODE_ECHO;
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = atoi(argv[1]);
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.timeout_secs = 30;
	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "lws_create_context failed\n");
		return 1;
	}
	vh = lws_get_vhost_by_name(context, "default");
	printf("READY %d\n", vh ? lws_get_vhost_listen_port(vh) : info.port);
	fflush(stdout);
	pthread_create(&th, NULL, stdin_main, NULL);
	while (!quit && lws_service(context, 0) >= 0)
		;
	lws_context_destroy(context);
	return 0;
}
