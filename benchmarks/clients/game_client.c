/*
 * game_client.c - the W6 load: N game clients in one C process (epoll).
 *
 * The driver (benchmarks/run.py) opens the N WebSocket connections itself
 * (handshake and, for Godot's multiplayer protocol, the id message already
 * read) and hands the sockets to this program as inherited descriptors:
 *
 *   game_client HZ SECS IN_SIZE STATE_SIZE GRACE_S FD...
 *
 * Every client sends an IN_SIZE-byte masked binary input HZ times a second for
 * SECS seconds (IN_SIZE 0: they send nothing), the N clients' phases spread evenly over the period; every
 * STATE_SIZE-byte message received counts as a state, whose first 8 bytes are
 * the server's CLOCK_MONOTONIC send time in ns (little endian): latency = now -
 * that; bytes 16..23, when the state has them, are the time the server's tick was
 * due, giving a second latency that also counts a late server tick.  Ends when all inputs are sent and N * HZ * SECS states arrived, or
 * GRACE_S seconds after the last input.  Prints one JSON line.
 *
 * Written in C so that the client's own cost (40,000 sends and 40,000 receives
 * a second at N = 2000) does not dominate the latencies it measures.
 * Built on the fly by run.py: gcc -O2 -o game_client game_client.c
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RXCAP 16384

struct cl {
	int fd;
	size_t len;
	unsigned char pend[256];
	size_t npend;
	unsigned char buf[RXCAP];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)(q / 100.0 * (double)(n - 1) + 0.5);
	return v[k < n ? k : n - 1];
}

int main(int argc, char **argv)
{
	int hz, n, i, ep, maxfd = 0;
	double secs, grace;
	size_t in_size, state_size, frame_len, nlat = 0, cap;
	unsigned char frame[256];
	struct cl *cls, **byfd;
	uint64_t *lat, *lat2, period, rounds, total, k = 0, t0, hard_end, states = 0, expected;
	uint64_t blocked = 0, other = 0;
	struct epoll_event evs[512];
	struct rusage ru;

	if (argc < 7) {
		fprintf(stderr, "usage: %s HZ SECS IN_SIZE STATE_SIZE GRACE_S FD...\n", argv[0]);
		return 2;
	}
	hz = atoi(argv[1]);
	secs = atof(argv[2]);
	in_size = (size_t)atol(argv[3]);
	state_size = (size_t)atol(argv[4]);
	grace = atof(argv[5]);
	n = argc - 6;
	if (in_size > 125 || hz <= 0 || n <= 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	/* one masked binary frame, payload all zeros: masked bytes = the key */
	frame[0] = 0x82;
	frame[1] = 0x80 | (unsigned char)in_size;
	srand((unsigned)now_ns());
	for (i = 0; i < 4; i++)
		frame[2 + i] = (unsigned char)(rand() & 0xff);
	for (i = 0; i < (int)in_size; i++)
		frame[6 + i] = frame[2 + (i & 3)];
	frame_len = 6 + in_size;

	cls = calloc((size_t)n, sizeof(*cls));
	for (i = 0; i < n; i++) {
		cls[i].fd = atoi(argv[6 + i]);
		if (cls[i].fd > maxfd)
			maxfd = cls[i].fd;
	}
	byfd = calloc((size_t)maxfd + 1, sizeof(*byfd));
	ep = epoll_create1(0);
	for (i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cls[i] };

		byfd[cls[i].fd] = &cls[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cls[i].fd, &ev)) {
			perror("epoll_ctl");
			return 1;
		}
	}
	period = (uint64_t)(1e9 / hz);
	rounds = (uint64_t)(hz * secs + 0.5);
	expected = rounds * (uint64_t)n;
	total = in_size ? expected : 0;  /* IN_SIZE 0: the clients only listen */
	cap = (size_t)expected + 1024;
	lat = malloc(cap * sizeof(*lat));
	lat2 = malloc(cap * sizeof(*lat2));
	t0 = now_ns() + 20000000u;
	hard_end = t0 + rounds * period + (uint64_t)(grace * 1e9);

	for (;;) {
		uint64_t now = now_ns(), due;
		int timeout, m, j;

		while (k < total) {
			uint64_t r = k / (uint64_t)n, c = k % (uint64_t)n;
			struct cl *cl = &cls[c];
			ssize_t s;

			due = t0 + r * period + (c * period) / (uint64_t)n;
			if (due > now)
				break;
			if (cl->npend + frame_len <= sizeof(cl->pend)) {
				memcpy(cl->pend + cl->npend, frame, frame_len);
				cl->npend += frame_len;
			}
			s = send(cl->fd, cl->pend, cl->npend, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (s < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				perror("send");
				return 1;
			}
			if (s < 0)
				s = 0;
			if ((size_t)s < cl->npend) {
				blocked++;
				memmove(cl->pend, cl->pend + s, cl->npend - (size_t)s);
			}
			cl->npend -= (size_t)s;
			k++;
		}
		if (k >= total && (states >= expected || now > hard_end))
			break;
		if (k < total) {
			uint64_t r = k / (uint64_t)n, c = k % (uint64_t)n;

			due = t0 + r * period + (c * period) / (uint64_t)n;
			timeout = due > now ? (int)((due - now + 999999) / 1000000) : 0;
		} else {
			timeout = 50;
		}
		m = epoll_wait(ep, evs, 512, timeout);
		if (m < 0 && errno != EINTR) {
			perror("epoll_wait");
			return 1;
		}
		for (j = 0; j < m; j++) {
			struct cl *cl = evs[j].data.ptr;
			ssize_t r = recv(cl->fd, cl->buf + cl->len, RXCAP - cl->len, MSG_DONTWAIT);
			size_t pos = 0;
			uint64_t t;

			if (r == 0) {
				fprintf(stderr, "connection closed by the server\n");
				return 1;
			}
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					continue;
				perror("recv");
				return 1;
			}
			t = now_ns();
			cl->len += (size_t)r;
			while (cl->len - pos >= 2) {
				uint64_t ln = cl->buf[pos + 1] & 0x7f;
				size_t hl = 2;

				if (ln == 126) {
					if (cl->len - pos < 4)
						break;
					ln = ((uint64_t)cl->buf[pos + 2] << 8) | cl->buf[pos + 3];
					hl = 4;
				} else if (ln == 127) {
					fprintf(stderr, "unexpected large frame\n");
					return 1;
				}
				if (cl->len - pos < hl + ln)
					break;
				if (ln == state_size && ln >= 24) {
					uint64_t ts, due;

					memcpy(&ts, cl->buf + pos + hl, 8);
					memcpy(&due, cl->buf + pos + hl + 16, 8);
					if (nlat < cap) {
						lat2[nlat] = t > due ? t - due : 0;
						lat[nlat++] = t > ts ? t - ts : 0;
					}
					states++;
				} else {
					other++;
				}
				pos += hl + (size_t)ln;
			}
			if (pos) {
				memmove(cl->buf, cl->buf + pos, cl->len - pos);
				cl->len -= pos;
			}
		}
	}
	qsort(lat, nlat, sizeof(*lat), cmp);
	qsort(lat2, nlat, sizeof(*lat2), cmp);
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"inputs_sent\": %llu, \"inputs_blocked\": %llu, \"states_received\": %llu, "
	       "\"states_expected\": %llu, \"other_frames\": %llu, "
	       "\"p50_ns\": %llu, \"p90_ns\": %llu, \"p99_ns\": %llu, \"p999_ns\": %llu, "
	       "\"max_ns\": %llu, \"due_p50_ns\": %llu, \"due_p99_ns\": %llu, "
	       "\"due_max_ns\": %llu, \"t_start_ns\": %llu, \"t_end_ns\": %llu, \"cpu_s\": %.3f}\n",
	       (unsigned long long)k, (unsigned long long)blocked,
	       (unsigned long long)states, (unsigned long long)expected,
	       (unsigned long long)other,
	       (unsigned long long)pct(lat, nlat, 50), (unsigned long long)pct(lat, nlat, 90),
	       (unsigned long long)pct(lat, nlat, 99), (unsigned long long)pct(lat, nlat, 99.9),
	       (unsigned long long)(nlat ? lat[nlat - 1] : 0),
	       (unsigned long long)pct(lat2, nlat, 50), (unsigned long long)pct(lat2, nlat, 99),
	       (unsigned long long)(nlat ? lat2[nlat - 1] : 0),
	       (unsigned long long)t0, (unsigned long long)now_ns(),
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
}
