/*
 * fsyncrate.c: the disk's own durable-write rate, for the Roster benchmark.
 *
 * rosterd's promise is that no reply leaves before its audit record is on
 * disk, and group commit is what makes that cheap: one fdatasync serves a
 * whole batch of calls. To judge it, scripts/bench compares audited lookups
 * per second with the rate at which this disk can make anything durable at
 * all, measured here in the directory the daemon's state lives in.
 *
 * fsyncrate creates a temporary file in DIR, preallocates 1 MiB of it (made
 * durable first), then for S seconds writes 4 KiB and calls fdatasync in a
 * loop, cycling over that region as a write-ahead log does once it is
 * reused (--append writes at the end instead, growing the file, so every
 * sync also carries the size change). It removes the file and prints one
 * JSON object on stdout:
 *
 *   {"fdatasync_per_sec":X,"avg_us":Y,"p50_us":..,"p99_us":..,"max_us":..,
 *    "n":N,"seconds":S,"mode":"overwrite"}
 *
 * usage: fsyncrate [--seconds S] [--append] DIR
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096
#define REGION_BLOCKS 256               /* 1 MiB, reused in overwrite mode */
#define MAX_SAMPLES (1u << 22)          /* latencies kept (4M × 4 bytes) */

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static double pct_us(const uint32_t *v, size_t n, double p)
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
	return v[rank - 1] / 1e3;
}

static void usage(FILE *f)
{
	fputs("usage: fsyncrate [--seconds S] [--append] DIR\n", f);
}

/* Write all of buf at off (off < 0: at the current end, O_APPEND). */
static int write_block(int fd, const unsigned char *buf, off_t off)
{
	ssize_t n = off < 0 ? write(fd, buf, BLOCK) : pwrite(fd, buf, BLOCK, off);

	if (n != BLOCK) {
		fprintf(stderr, "fsyncrate: write: %s\n", n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "append", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static unsigned char buf[BLOCK] __attribute__((aligned(BLOCK)));
	double seconds = 5.0;
	int append = 0, fd, c, rc = 1;
	char *path = NULL, *end;
	uint32_t *lat = NULL;
	uint64_t n = 0, total_ns = 0;
	size_t nlat = 0;
	int64_t start, deadline, elapsed;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(seconds >= 0.1 &&
									    seconds <= 3600)) {
				fprintf(stderr, "fsyncrate: --seconds: not in [0.1, 3600]: %s\n", optarg);
				return 2;
			}
			break;
		case 'a':
			append = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return 2;
	}
	if (asprintf(&path, "%s/fsyncrate.XXXXXX", argv[optind]) < 0) {
		fputs("fsyncrate: out of memory\n", stderr);
		return 1;
	}
	fd = mkostemp(path, O_CLOEXEC | (append ? O_APPEND : 0));
	if (fd < 0) {
		fprintf(stderr, "fsyncrate: %s: %s\n", path, strerror(errno));
		free(path);
		return 1;
	}
	lat = malloc(MAX_SAMPLES * sizeof(*lat));
	if (lat == NULL) {
		fputs("fsyncrate: out of memory\n", stderr);
		goto out;
	}
	/* Random-looking contents, so no layer below can compress or dedupe them away. */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)((i * 2654435761u) >> 13);
	if (!append) {
		for (off_t b = 0; b < REGION_BLOCKS; b++)
			if (write_block(fd, buf, b * BLOCK) < 0)
				goto out;
		if (fsync(fd) < 0) {
			fprintf(stderr, "fsyncrate: fsync: %s\n", strerror(errno));
			goto out;
		}
	}

	start = now_ns();
	deadline = start + (int64_t)(seconds * 1e9);
	for (;;) {
		int64_t t0 = now_ns(), t1;

		if (t0 >= deadline)
			break;
		buf[n % BLOCK] ^= 0x5a;         /* every write differs from the last */
		if (write_block(fd, buf, append ? -1 : (off_t)(n % REGION_BLOCKS) * BLOCK) < 0)
			goto out;
		if (fdatasync(fd) < 0) {
			fprintf(stderr, "fsyncrate: fdatasync: %s\n", strerror(errno));
			goto out;
		}
		t1 = now_ns();
		n++;
		total_ns += (uint64_t)(t1 - t0);
		if (nlat < MAX_SAMPLES)
			lat[nlat++] = t1 - t0 > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
	}
	elapsed = now_ns() - start;
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("{\"fdatasync_per_sec\":%.1f,\"avg_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
	       "\"max_us\":%.1f,\"n\":%llu,\"seconds\":%.3f,\"mode\":\"%s\"}\n",
	       n / (elapsed / 1e9), n ? total_ns / 1e3 / n : 0.0,
	       pct_us(lat, nlat, 0.50), pct_us(lat, nlat, 0.99),
	       nlat ? lat[nlat - 1] / 1e3 : 0.0, (unsigned long long)n, elapsed / 1e9,
	       append ? "append" : "overwrite");
	rc = 0;
out:
	close(fd);
	unlink(path);
	free(path);
	free(lat);
	return rc;
}
