/*
 * loadgen.c: the load generator of the Roster benchmark (scripts/bench).
 *
 * Starts C threads, each with its own libroster connection to rosterd, and
 * has each do io.roster.Clients.Get of random ids (taken from a file, one
 * id per line) in a closed loop: the next call leaves as soon as the last
 * reply arrived. After an optional warm-up it measures for S seconds,
 * recording every call's latency (CLOCK_MONOTONIC) in a per-thread array
 * allocated before the run, so the hot path allocates nothing beyond what
 * libroster itself does. At the end it merges the arrays and prints one
 * JSON object on stdout:
 *
 *   {"clients":C,"seconds":S,"ops":N,"ops_per_sec":X,"p50_ms":..,
 *    "p99_ms":..,"p999_ms":..,"max_ms":..,"errors":E,"error_names":{..},
 *    "reconnects":N,"unrecorded":N,"cpu_s":..}
 *
 * ops counts the calls that completed inside the measured window, whatever
 * their result; errors counts those that failed, by error name (the
 * daemon's Varlink error, or "local.*" for the library's own failures). A
 * NotFound means the id file does not match the registry. A lost
 * connection is opened again (reconnects). unrecorded counts calls beyond
 * the latency arrays (100,000 per thread and second: none in practice).
 * cpu_s is the load generator's own CPU time over the whole run, so its
 * cost can be set against the daemon's. Exit status: 0 when the run completed (even with errors), 1
 * when it could not start (no ids, cannot connect or authenticate), 2 on a
 * usage error.
 *
 * usage: loadgen --socket PATH --ids FILE --clients C --seconds S
 *                [--token-file F] [--warmup S]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "roster.h"

#define ID_LEN 32                       /* 128-bit ids as lower-case hex */
#define MAX_CLIENTS 4096
#define MAX_ERROR_KINDS 16
#define ERROR_NAME_MAX 96
/* Latency slots per thread and second: far above what one closed-loop connection can do. */
#define SLOTS_PER_SECOND 100000.0

struct error_kind {
	char name[ERROR_NAME_MAX];
	uint64_t count;
};

struct worker {
	pthread_t thread;
	struct roster *r;
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
static double opt_seconds;
static double opt_warmup;

static char (*ids)[ID_LEN + 1];
static size_t nids;
static char *token;

static pthread_barrier_t start_barrier;
static struct timespec t_measure, t_end;  /* set by the main thread before the barrier */

static void usage(FILE *f)
{
	fputs("usage: loadgen --socket PATH --ids FILE --clients C --seconds S\n"
	      "               [--token-file F] [--warmup S]\n", f);
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

/* Connect (and authenticate with the token, if any). Returns 0 or a roster_error code. */
static int worker_connect(struct worker *w)
{
	int rc;

	rc = roster_connect(opt_socket, &w->r);
	if (rc < 0) {
		w->r = NULL;
		return rc;
	}
	if (token != NULL) {
		rc = roster_authenticate(w->r, token);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A name for a failure of the library itself (no Varlink error name). */
static const char *local_error_name(int rc)
{
	switch (rc) {
	case ROSTER_E_CONNECT: return "local.Connect";
	case ROSTER_E_IO: return "local.ConnectionLost";
	case ROSTER_E_PROTOCOL: return "local.Protocol";
	case ROSTER_E_NOMEM: return "local.NoMemory";
	case ROSTER_E_ARGS: return "local.Arguments";
	case ROSTER_E_TOOBIG: return "local.TooBig";
	default: return "local.Other";
	}
}

/* Count one failed call under its error name. Not on the success path. */
static void count_error(struct worker *w, int rc)
{
	const char *name = w->r != NULL ? roster_error_name(w->r) : NULL;
	char buf[ERROR_NAME_MAX];
	size_t j = 0;

	w->errors++;
	if (name == NULL)
		name = local_error_name(rc);
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

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	int64_t measure, end;
	struct timespec t0, t1;

	/* The main thread sets the window before it reaches the barrier. */
	pthread_barrier_wait(&start_barrier);
	measure = ts_ns(&t_measure);
	end = ts_ns(&t_end);
	for (;;) {
		const char *id = ids[rng_next(&w->rng) % nids];
		json_t *client = NULL;
		int64_t start_ns, done_ns;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		start_ns = ts_ns(&t0);
		if (start_ns >= end)
			break;
		if (w->r == NULL) {
			/* The connection was lost: reconnect, without spinning if the daemon is gone. */
			if (worker_connect(w) < 0) {
				roster_free(w->r);
				w->r = NULL;
				nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
			} else {
				w->reconnects++;
			}
			continue;
		}
		rc = roster_client_get(w->r, id, &client);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		done_ns = ts_ns(&t1);
		if (rc == 0)
			json_decref(client);
		/* A call counts if it left and came back inside the window. */
		if (start_ns < measure || done_ns > end) {
			if (rc == ROSTER_E_IO || rc == ROSTER_E_PROTOCOL) {
				roster_free(w->r);
				w->r = NULL;
			}
			continue;
		}
		w->ops++;
		if (w->n < w->cap) {
			int64_t d = done_ns - start_ns;

			w->lat_ns[w->n++] = d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
		} else {
			w->unrecorded++;
		}
		if (rc < 0) {
			count_error(w, rc);
			if (rc == ROSTER_E_IO || rc == ROSTER_E_PROTOCOL) {
				roster_free(w->r);
				w->r = NULL;
			}
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct error_kind all[MAX_ERROR_KINDS];
	unsigned nall = 0;
	struct worker *workers;
	uint64_t ops = 0, errors = 0, other = 0, unrecorded = 0, reconnects = 0, seed;
	uint32_t *lat;
	size_t nlat = 0;
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
		case 'c': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > MAX_CLIENTS) {
				fprintf(stderr, "loadgen: --clients: not a number in [1, %d]: %s\n",
					MAX_CLIENTS, optarg);
				return 2;
			}
			opt_clients = (unsigned)v;
			break;
		}
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
	if (load_ids(opt_ids) < 0)
		return 1;
	if (opt_token_file != NULL && load_token(opt_token_file) < 0)
		return 1;

	workers = calloc(opt_clients, sizeof(*workers));
	if (workers == NULL) {
		fputs("loadgen: out of memory\n", stderr);
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	seed = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 20) ^ (uint64_t)getpid();
	for (unsigned i = 0; i < opt_clients; i++) {
		struct worker *w = &workers[i];
		int rc;

		w->rng = (seed + 0x9E3779B97F4A7C15ULL * (i + 1)) | 1;
		w->cap = (size_t)(opt_seconds * SLOTS_PER_SECOND) + 1024;
		/* Untouched pages cost nothing; the ones used are faulted in before the window. */
		w->lat_ns = malloc(w->cap * sizeof(*w->lat_ns));
		if (w->lat_ns == NULL) {
			fputs("loadgen: out of memory\n", stderr);
			return 1;
		}
		rc = worker_connect(w);
		if (rc < 0) {
			fprintf(stderr, "loadgen: client %u: %s: %s\n", i,
				rc == ROSTER_E_CONNECT ? "cannot connect" : "cannot authenticate",
				w->r != NULL ? roster_error_message(w->r) : roster_strerror(rc));
			return 1;
		}
	}
	/* Fault in the pages a thread can be expected to use, so the window pays no page faults. */
	for (unsigned i = 0; i < opt_clients; i++) {
		size_t expect = (size_t)(opt_seconds * 40000.0 / opt_clients) + 1024;

		memset(workers[i].lat_ns, 0,
		       (expect < workers[i].cap ? expect : workers[i].cap) * sizeof(uint32_t));
	}
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
		token = NULL;
	}

	if (pthread_barrier_init(&start_barrier, NULL, opt_clients + 1) != 0) {
		fputs("loadgen: pthread_barrier_init failed\n", stderr);
		return 1;
	}
	for (unsigned i = 0; i < opt_clients; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) != 0) {
			fputs("loadgen: pthread_create failed\n", stderr);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	t_measure = ts_add(now, opt_warmup);
	t_end = ts_add(t_measure, opt_seconds);
	pthread_barrier_wait(&start_barrier);
	for (unsigned i = 0; i < opt_clients; i++)
		pthread_join(workers[i].thread, NULL);

	for (unsigned i = 0; i < opt_clients; i++) {
		const struct worker *w = &workers[i];

		ops += w->ops;
		errors += w->errors;
		unrecorded += w->unrecorded;
		reconnects += w->reconnects;
		nlat += w->n;
		merge_errors(all, &nall, &other, w);
	}
	lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	if (lat == NULL) {
		fputs("loadgen: out of memory\n", stderr);
		return 1;
	}
	nlat = 0;
	for (unsigned i = 0; i < opt_clients; i++) {
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
	       opt_clients, opt_seconds, ops, (double)ops / opt_seconds,
	       pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.99), pct_ms(lat, nlat, 0.999),
	       nlat ? lat[nlat - 1] / 1e6 : 0.0, errors);
	for (unsigned k = 0; k < nall; k++)
		printf("%s\"%s\":%" PRIu64, k ? "," : "", all[k].name, all[k].count);
	if (other > 0)
		printf("%s\"other\":%" PRIu64, nall ? "," : "", other);
	printf("},\"reconnects\":%" PRIu64 ",\"unrecorded\":%" PRIu64 ",\"cpu_s\":%.2f}\n",
	       reconnects, unrecorded, cpu);

	for (unsigned i = 0; i < opt_clients; i++) {
		roster_free(workers[i].r);
		free(workers[i].lat_ns);
	}
	free(workers);
	free(lat);
	free(ids);
	pthread_barrier_destroy(&start_barrier);
	return 0;
}
