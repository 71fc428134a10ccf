/*
 * loadgen.c: the load generator of the Roster benchmark (scripts/bench).
 *
 * Opens C connections to rosterd and has each do io.roster.Clients.Get of
 * random ids (taken from a file, one id per line) in a closed loop: the
 * next call leaves as soon as the last reply arrived. T threads (--threads,
 * default one per connection; scripts/bench passes 2, as it gives pgbench
 * -j 2) share the connections out, and each waits on all of its own at
 * once (epoll), so one wake-up serves every reply that came together. That
 * needs the wire itself rather than libroster, whose calls block: a call is
 * one JSON object and a NUL, and so is its reply.
 *
 * After an optional warm-up it measures for S seconds, recording every
 * call's latency (CLOCK_MONOTONIC, from the call's send to its reply's
 * read) in a per-thread array allocated before the run, so the hot path
 * allocates nothing beyond parsing the reply. At the end it merges the
 * arrays and prints one JSON object on stdout:
 *
 *   {"clients":C,"seconds":S,"ops":N,"ops_per_sec":X,"p50_ms":..,
 *    "p99_ms":..,"p999_ms":..,"max_ms":..,"errors":E,"error_names":{..},
 *    "reconnects":N,"unrecorded":N,"cpu_s":..}
 *
 * ops counts the calls that completed inside the measured window, whatever
 * their result; errors counts those that failed, by error name (the
 * daemon's Varlink error, or "local.*" for the generator's own: a
 * connection lost with a call out, a reply that is not one, a second reply
 * to one call, after which the connection is opened again). A NotFound
 * means the id file does not match the registry. A lost connection is
 * opened again (reconnects). unrecorded counts calls beyond the latency
 * arrays (100,000 per connection and second: none in practice). cpu_s is
 * the load generator's own CPU time over the whole run, so its cost can be
 * set against the daemon's. Exit status: 0 when the run completed (even
 * with errors), 1 when it could not start (no ids, cannot connect or
 * authenticate), 2 on a usage error.
 *
 * SIGINT or SIGTERM ends the run early: the window then ends there,
 * "seconds" is what was measured of it, and the rates are over that.
 *
 * usage: loadgen --socket PATH --ids FILE --clients C --seconds S
 *                [--threads T] [--token-file F] [--warmup S]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define ID_LEN 32                       /* 128-bit ids as lower-case hex */
#define MAX_CLIENTS 4096
#define MAX_ERROR_KINDS 16
#define ERROR_NAME_MAX 96
/* Latency slots per thread and second: far above what one closed-loop connection can do. */
#define SLOTS_PER_SECOND 100000.0
/* The largest reply taken: a Get's reply is one client, a few KiB at most. */
#define REPLY_MAX (64 * 1024)

struct error_kind {
	char name[ERROR_NAME_MAX];
	uint64_t count;
};

/* One connection: one call in flight at a time. */
struct conn {
	int fd;                         /* -1 while broken */
	int busy;                       /* a call is out */
	int64_t start_ns;               /* when it left */
	size_t len;                     /* bytes held in in[] */
	char in[REPLY_MAX];             /* replies read, not yet taken */
};

/* One thread and the connections it drives. */
struct worker {
	pthread_t thread;
	int epfd;
	struct conn *conns;
	unsigned nconns;
	int64_t measure, end;           /* the window, CLOCK_MONOTONIC ns */
	uint64_t rng;                   /* xorshift64* state */
	uint32_t *lat_ns;               /* latency of each measured call, ns (clamped) */
	size_t cap;
	size_t n;                       /* latencies recorded */
	uint64_t ops;                   /* calls completed in the window */
	uint64_t unrecorded;            /* calls beyond cap (counted, latency not kept) */
	uint64_t errors;
	struct error_kind kinds[MAX_ERROR_KINDS];
	unsigned nkinds;
	uint64_t other_errors;          /* errors beyond MAX_ERROR_KINDS distinct names */
	uint64_t reconnects;
};

static const char *opt_socket;
static const char *opt_ids;
static const char *opt_token_file;
static unsigned opt_clients;
static unsigned opt_threads;            /* 0: one per connection */
static double opt_seconds;
static double opt_warmup;

static char (*ids)[ID_LEN + 1];
static size_t nids;
static char *token;

static pthread_barrier_t start_barrier;
/* SIGINT or SIGTERM: end the run now and report what ran (see the top). */
static volatile sig_atomic_t stop_now;
#define STOP_POLL_MS 100

static void on_stop(int sig)
{
	(void)sig;
	stop_now = 1;
}
static struct timespec t_measure, t_end;  /* set by the main thread before the barrier */

static void usage(FILE *f)
{
	fputs("usage: loadgen --socket PATH --ids FILE --clients C --seconds S\n"
	      "               [--threads T] [--token-file F] [--warmup S]\n", f);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct timespec ts_add(struct timespec t, double sec)
{
	int64_t ns = ts_ns(&t) + (int64_t)(sec * 1e9);

	t.tv_sec = (time_t)(ns / 1000000000);
	t.tv_nsec = (long)(ns % 1000000000);
	return t;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Parse a number of seconds (decimals allowed) in [min, max]. */
static int parse_seconds(const char *name, const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
		fprintf(stderr, "loadgen: %s: not a number of seconds in [%g, %g]: %s\n",
			name, min, max, s);
		return -1;
	}
	*ret = v;
	return 0;
}

/* Parse a count of connections or threads in [1, MAX_CLIENTS]. */
static int parse_count(const char *name, const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > MAX_CLIENTS) {
		fprintf(stderr, "loadgen: %s: not a number in [1, %d]: %s\n", name, MAX_CLIENTS, s);
		return -1;
	}
	*ret = (unsigned)v;
	return 0;
}

static int is_id(const char *s, size_t len)
{
	if (len != ID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Read the id file: one id per line, blank lines ignored. */
static int load_ids(const char *file)
{
	char *line = NULL;
	size_t lcap = 0, cap = 0;
	unsigned long lineno = 0;
	ssize_t len;
	FILE *f;
	int rc = -1;

	f = fopen(file, "re");
	if (f == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &lcap, f)) != -1) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
				   line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (!is_id(line, (size_t)len)) {
			fprintf(stderr, "loadgen: %s:%lu: not a client id (32 lower-case hex digits)\n",
				file, lineno);
			goto out;
		}
		if (nids == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			char (*n)[ID_LEN + 1] = reallocarray(ids, ncap, sizeof(*ids));

			if (n == NULL) {
				fputs("loadgen: out of memory\n", stderr);
				goto out;
			}
			ids = n;
			cap = ncap;
		}
		memcpy(ids[nids++], line, ID_LEN + 1);
	}
	if (ferror(f)) {
		fprintf(stderr, "loadgen: %s: read error\n", file);
		goto out;
	}
	if (nids == 0) {
		fprintf(stderr, "loadgen: %s: no ids\n", file);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

static int load_token(const char *file)
{
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	FILE *f;

	f = fopen(file, "re");
	if (f == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", file, strerror(errno));
		return -1;
	}
	len = getline(&line, &lcap, f);
	fclose(f);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (len <= 0) {
		fprintf(stderr, "loadgen: %s: no token\n", file);
		free(line);
		return -1;
	}
	token = line;
	return 0;
}

/*
 * The wire, spoken directly: libroster's calls block, so driving many
 * connections from one thread needs the socket itself. A call is one JSON
 * object and a NUL; so is its reply (README "Wire protocol").
 */

/* Send all of len bytes on a blocking or non-blocking socket. Returns 0 or -errno. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/*
			 * A call is about 100 bytes and each connection has one
			 * in flight, so a full send buffer means the daemon has
			 * stopped reading: wait for room rather than spin.
			 */
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			if (poll(&p, 1, 1000) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Take the first complete reply out of c->in: returns 1 and sets *ret_len to
 * its length (the text starts at c->in), 0 when none is complete yet.
 */
static int reply_peek(const struct conn *c, size_t *ret_len)
{
	const char *nul = memchr(c->in, '\0', c->len);

	if (nul == NULL)
		return 0;
	*ret_len = (size_t)(nul - c->in);
	return 1;
}

static void reply_consume(struct conn *c, size_t len)
{
	c->len -= len + 1;
	memmove(c->in, c->in + len + 1, c->len);
}

/*
 * Judge one reply: NULL when it is a successful Get (it carries a client),
 * else the error's name (a Varlink error, or "local.Protocol" for a reply
 * that is not one), copied into buf.
 */
static const char *reply_error(const char *text, size_t len, char *buf, size_t size)
{
	json_t *msg = json_loadb(text, len, 0, NULL);
	const char *err = "local.Protocol";
	json_t *e;

	if (msg == NULL)
		goto out;
	e = json_object_get(msg, "error");
	if (json_is_string(e)) {
		snprintf(buf, size, "%s", json_string_value(e));
		json_decref(msg);
		return buf;
	}
	if (e == NULL && json_is_object(json_object_get(json_object_get(msg, "parameters"), "client")))
		err = NULL;
	json_decref(msg);
out:
	if (err != NULL)
		snprintf(buf, size, "%s", err);
	return err != NULL ? buf : NULL;
}

/* Read one whole reply from a blocking socket (authentication only). Returns 0 or -1. */
static int read_reply_blocking(struct conn *c, size_t *ret_len)
{
	while (!reply_peek(c, ret_len)) {
		ssize_t n;

		if (c->len == sizeof(c->in))
			return -1;
		n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
	return 0;
}

/*
 * Connect, authenticate with the token if there is one, and leave the
 * socket non-blocking. Returns 0, or -1 with a reason in why.
 */
static int conn_open(struct conn *c, char *why, size_t size)
{
	static const struct timeval open_timeout = { .tv_sec = 1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;

	c->len = 0;
	c->busy = 0;
	if (strlen(opt_socket) >= sizeof(sa.sun_path)) {
		snprintf(why, size, "%s: path too long", opt_socket);
		return -1;
	}
	memcpy(sa.sun_path, opt_socket, strlen(opt_socket) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/*
	 * Opening is the one blocking step, and a reconnect takes it on a
	 * thread that drives other connections too: a daemon whose backlog is
	 * full, or that does not answer the token, costs them a second at
	 * most (on a Unix socket the send timeout bounds connect() too).
	 */
	if (c->fd >= 0 && (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &open_timeout,
				      sizeof(open_timeout)) < 0 ||
			   setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &open_timeout,
				      sizeof(open_timeout)) < 0)) {
		snprintf(why, size, "setsockopt: %s", strerror(errno));
		goto fail;
	}
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, size, "cannot connect to %s: %s", opt_socket, strerror(errno));
		goto fail;
	}
	if (token != NULL) {
		json_t *call = json_pack("{s:s,s:{s:s}}", "method", "io.roster.Admin.Authenticate",
					 "parameters", "token", token);
		char *text = call != NULL ? json_dumps(call, JSON_COMPACT) : NULL;
		char ebuf[ERROR_NAME_MAX];
		json_t *reply;
		int rc;

		json_decref(call);
		if (text == NULL) {
			snprintf(why, size, "cannot encode the token");
			goto fail;
		}
		rc = send_all(c->fd, text, strlen(text) + 1);
		explicit_bzero(text, strlen(text));
		free(text);
		if (rc < 0 || read_reply_blocking(c, &len) < 0) {
			snprintf(why, size, "connection lost while authenticating");
			goto fail;
		}
		reply = json_loadb(c->in, len, 0, NULL);
		if (!json_is_object(reply) || json_object_get(reply, "error") != NULL) {
			snprintf(why, size, "cannot authenticate: %s",
				 reply_error(c->in, len, ebuf, sizeof(ebuf)));
			json_decref(reply);
			goto fail;
		}
		json_decref(reply);
		reply_consume(c, len);
	}
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(why, size, "fcntl: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return -1;
}

/* Send the next Get on c; the call's clock starts here. Returns 0 or -1. */
static int conn_send_get(struct worker *w, struct conn *c)
{
	char call[160];
	struct timespec t;
	int n;

	n = snprintf(call, sizeof(call),
		     "{\"method\":\"io.roster.Clients.Get\",\"parameters\":{\"id\":\"%s\"}}",
		     ids[rng_next(&w->rng) % nids]);
	clock_gettime(CLOCK_MONOTONIC, &t);
	c->start_ns = ts_ns(&t);
	if (send_all(c->fd, call, (size_t)n + 1) < 0)
		return -1;
	c->busy = 1;
	return 0;
}

/* Count one failed call under its error name. Not on the success path. */
static void count_error(struct worker *w, const char *name)
{
	char buf[ERROR_NAME_MAX];
	size_t j = 0;

	w->errors++;
	/* Keep the name JSON-safe without escaping: letters, digits and a few marks. */
	for (size_t i = 0; name[i] != '\0' && j < sizeof(buf) - 1; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			buf[j++] = c;
	}
	buf[j] = '\0';
	for (unsigned k = 0; k < w->nkinds; k++) {
		if (strcmp(w->kinds[k].name, buf) == 0) {
			w->kinds[k].count++;
			return;
		}
	}
	if (w->nkinds < MAX_ERROR_KINDS) {
		memcpy(w->kinds[w->nkinds].name, buf, j + 1);
		w->kinds[w->nkinds++].count = 1;
	} else {
		w->other_errors++;
	}
}

/* Record a call that ended at done_ns, with error name err (NULL: it succeeded). */
static void record_call(struct worker *w, const struct conn *c, int64_t done_ns, const char *err)
{
	/* A call counts if it left and came back inside the window. */
	if (c->start_ns < w->measure || done_ns > w->end)
		return;
	w->ops++;
	if (w->n < w->cap) {
		int64_t d = done_ns - c->start_ns;

		w->lat_ns[w->n++] = d < 0 ? 0 : d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	} else {
		w->unrecorded++;
	}
	if (err != NULL)
		count_error(w, err);
}

/* The connection broke: count its call as lost and close it; the loop opens it again. */
static void conn_lost(struct worker *w, struct conn *c, int64_t now_ns)
{
	if (c->busy)
		record_call(w, c, now_ns, "local.ConnectionLost");
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->busy = 0;
	c->len = 0;
}

/* (Re)open c, register it with the thread's epoll set and start its first call. */
static int conn_start(struct worker *w, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN };
	char why[256];

	/* Open at start-up by main(); here again only after it broke. */
	if (c->fd < 0) {
		if (conn_open(c, why, sizeof(why)) < 0)
			return -1;
		w->reconnects++;
	}
	ev.data.ptr = c;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 || conn_send_get(w, c) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

/* Read what c's socket holds and finish every complete reply: each one sends the next call. */
static void conn_readable(struct worker *w, struct conn *c)
{
	struct timespec t;
	int64_t now_ns;
	ssize_t n;
	size_t len;

	for (;;) {
		n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t);
	now_ns = ts_ns(&t);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		conn_lost(w, c, now_ns);
		return;
	}
	c->len += (size_t)n;
	if (reply_peek(c, &len)) {
		char ebuf[ERROR_NAME_MAX];

		if (!c->busy) {
			conn_lost(w, c, now_ns);
			return;
		}
		c->busy = 0;
		record_call(w, c, now_ns, reply_error(c->in, len, ebuf, sizeof(ebuf)));
		reply_consume(c, len);
		/*
		 * One call is out at a time, so one reply comes back: anything
		 * after it breaks the protocol, and taking it for the reply to
		 * the next call would count a call that was never answered.
		 */
		if (c->len > 0) {
			if (now_ns >= w->measure && now_ns <= w->end)
				count_error(w, "local.Protocol");
			conn_lost(w, c, now_ns);
			return;
		}
		if (now_ns < w->end && conn_send_get(w, c) < 0)
			conn_lost(w, c, now_ns);
		return;
	}
	/* A reply larger than the buffer cannot be a Get's: give up on the connection. */
	if (c->len == sizeof(c->in))
		conn_lost(w, c, now_ns);
}

/*
 * One thread drives its connections together, as pgbench -j does: one
 * epoll set, and every connection that has its reply sends its next call
 * at once. So the thread wakes once for all the replies that arrived
 * together, not once per connection.
 */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];
	struct timespec t;

	/* The main thread sets the window before it reaches the barrier. */
	pthread_barrier_wait(&start_barrier);
	w->measure = ts_ns(&t_measure);
	w->end = ts_ns(&t_end);
	for (unsigned i = 0; i < w->nconns; i++)
		(void)conn_start(w, &w->conns[i]);     /* one that fails is retried in the loop */
	for (;;) {
		int64_t now_ns;
		int n, timeout = -1;

		clock_gettime(CLOCK_MONOTONIC, &t);
		now_ns = ts_ns(&t);
		if (now_ns >= w->end || stop_now)
			break;
		/* A connection that broke is opened again, without spinning if the daemon is gone. */
		for (unsigned i = 0; i < w->nconns; i++)
			if (w->conns[i].fd < 0 && conn_start(w, &w->conns[i]) < 0)
				timeout = 10;
		if (timeout < 0 || (w->end - now_ns) / 1000000 < timeout)
			timeout = (int)((w->end - now_ns) / 1000000) + 1;
		/* A stop signal reaches one thread: the others see the flag this soon. */
		if (timeout > STOP_POLL_MS)
			timeout = STOP_POLL_MS;
		n = epoll_wait(w->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (n < 0 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->fd >= 0)
				conn_readable(w, c);
		}
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0..1] of n sorted values, in ms. */
static double pct_ms(const uint32_t *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0.0;
	rank = (size_t)(p * (double)n);
	if ((double)rank < p * (double)n)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1] / 1e6;
}

/* Add worker w's error counts to the merged table. */
static void merge_errors(struct error_kind *all, unsigned *nall, uint64_t *other,
			 const struct worker *w)
{
	*other += w->other_errors;
	for (unsigned k = 0; k < w->nkinds; k++) {
		unsigned j;

		for (j = 0; j < *nall; j++)
			if (strcmp(all[j].name, w->kinds[k].name) == 0)
				break;
		if (j < *nall) {
			all[j].count += w->kinds[k].count;
		} else if (*nall < MAX_ERROR_KINDS) {
			all[j] = w->kinds[k];
			(*nall)++;
		} else {
			*other += w->kinds[k].count;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ids", required_argument, NULL, 'i' },
		{ "clients", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 't' },
		{ "token-file", required_argument, NULL, 'k' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct error_kind all[MAX_ERROR_KINDS];
	unsigned nall = 0;
	struct worker *workers = NULL;
	struct conn *conns = NULL;
	uint64_t ops = 0, errors = 0, other = 0, unrecorded = 0, reconnects = 0, seed;
	uint32_t *lat = NULL;
	size_t nlat = 0;
	double measured;
	int rc = 1;
	struct timespec now;
	struct rusage ru;
	double cpu;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt_socket = optarg;
			break;
		case 'i':
			opt_ids = optarg;
			break;
		case 'c':
			if (parse_count("--clients", optarg, &opt_clients) < 0)
				return 2;
			break;
		case 'j':
			if (parse_count("--threads", optarg, &opt_threads) < 0)
				return 2;
			break;
		case 't':
			if (parse_seconds("--seconds", optarg, 0.1, 86400, &opt_seconds) < 0)
				return 2;
			break;
		case 'k':
			opt_token_file = optarg;
			break;
		case 'w':
			if (parse_seconds("--warmup", optarg, 0, 3600, &opt_warmup) < 0)
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || opt_socket == NULL || opt_ids == NULL || opt_clients == 0 ||
	    opt_seconds == 0) {
		usage(stderr);
		return 2;
	}
	measured = opt_seconds;
	if (load_ids(opt_ids) < 0 || (opt_token_file != NULL && load_token(opt_token_file) < 0))
		goto out;

	if (opt_threads == 0 || opt_threads > opt_clients)
		opt_threads = opt_clients;
	workers = calloc(opt_threads, sizeof(*workers));
	conns = calloc(opt_clients, sizeof(*conns));
	if (workers == NULL || conns == NULL) {
		fputs("loadgen: out of memory\n", stderr);
		goto out;
	}
	for (unsigned i = 0; i < opt_clients; i++)
		conns[i].fd = -1;
	for (unsigned i = 0; i < opt_threads; i++)
		workers[i].epfd = -1;
	clock_gettime(CLOCK_REALTIME, &now);
	seed = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 20) ^ (uint64_t)getpid();
	for (unsigned i = 0; i < opt_clients; i++) {
		char why[256];

		if (conn_open(&conns[i], why, sizeof(why)) < 0) {
			fprintf(stderr, "loadgen: client %u: %s\n", i, why);
			goto out;
		}
	}
	for (unsigned i = 0; i < opt_threads; i++) {
		struct worker *w = &workers[i];
		/* Connections are dealt out as evenly as they go: C / T each, the first C % T one more. */
		unsigned first = (unsigned)((uint64_t)opt_clients * i / opt_threads);
		unsigned last = (unsigned)((uint64_t)opt_clients * (i + 1) / opt_threads);

		w->conns = conns + first;
		w->nconns = last - first;
		w->rng = (seed + 0x9E3779B97F4A7C15ULL * (i + 1)) | 1;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->cap = (size_t)(opt_seconds * SLOTS_PER_SECOND * w->nconns) + 1024;
		/* Untouched pages cost nothing; the ones used are faulted in before the window. */
		w->lat_ns = malloc(w->cap * sizeof(*w->lat_ns));
		if (w->epfd < 0 || w->lat_ns == NULL) {
			fputs("loadgen: out of memory\n", stderr);
			goto out;
		}
		/* Fault in the pages a thread can be expected to use, so the window pays no page faults. */
		{
			size_t expect = (size_t)(opt_seconds * 40000.0 * w->nconns / opt_clients) + 1024;

			memset(w->lat_ns, 0, (expect < w->cap ? expect : w->cap) * sizeof(uint32_t));
		}
	}

	{
		struct sigaction sa = { .sa_handler = on_stop };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (pthread_barrier_init(&start_barrier, NULL, opt_threads + 1) != 0) {
		fputs("loadgen: pthread_barrier_init failed\n", stderr);
		goto out;
	}
	for (unsigned i = 0; i < opt_threads; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) != 0) {
			/* The threads started wait at the barrier for good: no clean-up. */
			fputs("loadgen: pthread_create failed\n", stderr);
			exit(1);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	t_measure = ts_add(now, opt_warmup);
	t_end = ts_add(t_measure, opt_seconds);
	pthread_barrier_wait(&start_barrier);
	for (unsigned i = 0; i < opt_threads; i++)
		pthread_join(workers[i].thread, NULL);
	/* Stopped early, the window ran until now (or did not start). */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ts_ns(&now) < ts_ns(&t_end)) {
		int64_t ran = ts_ns(&now) - ts_ns(&t_measure);

		measured = ran > 0 ? (double)ran / 1e9 : 0.0;
	}

	for (unsigned i = 0; i < opt_threads; i++) {
		const struct worker *w = &workers[i];

		ops += w->ops;
		errors += w->errors;
		unrecorded += w->unrecorded;
		reconnects += w->reconnects;
		nlat += w->n;
		merge_errors(all, &nall, &other, w);
	}
	pthread_barrier_destroy(&start_barrier);
	lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	if (lat == NULL) {
		fputs("loadgen: out of memory\n", stderr);
		goto out;
	}
	nlat = 0;
	for (unsigned i = 0; i < opt_threads; i++) {
		memcpy(lat + nlat, workers[i].lat_ns, workers[i].n * sizeof(*lat));
		nlat += workers[i].n;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

	printf("{\"clients\":%u,\"seconds\":%g,\"ops\":%" PRIu64 ",\"ops_per_sec\":%.1f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
	       "\"errors\":%" PRIu64 ",\"error_names\":{",
	       opt_clients, measured, ops, measured > 0 ? (double)ops / measured : 0.0,
	       pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.99), pct_ms(lat, nlat, 0.999),
	       nlat ? lat[nlat - 1] / 1e6 : 0.0, errors);
	for (unsigned k = 0; k < nall; k++)
		printf("%s\"%s\":%" PRIu64, k ? "," : "", all[k].name, all[k].count);
	if (other > 0)
		printf("%s\"other\":%" PRIu64, nall ? "," : "", other);
	printf("},\"reconnects\":%" PRIu64 ",\"unrecorded\":%" PRIu64 ",\"cpu_s\":%.2f}\n",
	       reconnects, unrecorded, cpu);

	rc = 0;
out:
	for (unsigned i = 0; conns != NULL && i < opt_clients; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	for (unsigned i = 0; workers != NULL && i < opt_threads; i++) {
		if (workers[i].epfd >= 0)
			close(workers[i].epfd);
		free(workers[i].lat_ns);
	}
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	free(workers);
	free(conns);
	free(lat);
	free(ids);
	return rc;
}
