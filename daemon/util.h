/*
 * util.h: small helpers shared by the daemon's modules: time, ids, strict
 * number parsing, and file checks used before trusting a path.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Length of a client id in hex digits (128 bits). */
#define ID_HEX_LEN 32

/*
 * Start one of the daemon's worker threads: with every signal blocked
 * (signals are the main loop's) and named (at most 15 characters) for top -H
 * and /proc/PID/task/N/comm. 0 or a negative errno.
 */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *name);

/* Microseconds since the Unix epoch, UTC. */
int64_t now_usec(void);
/* Microseconds on a clock that never steps: for intervals, never for timestamps. */
int64_t mono_usec(void);

/* Format usec as RFC 3339 UTC ("2026-11-26T02:47:01Z") into buf (>= 21 bytes). */
void format_rfc3339(int64_t usec, char *buf, size_t size);

/* Write a new random id (ID_HEX_LEN hex digits and a NUL) into buf. */
void id_generate(char buf[ID_HEX_LEN + 1]);

/* True if s is exactly ID_HEX_LEN lower-case hex digits. */
bool id_valid(const char *s);

/*
 * Parse a whole decimal string into [min, max]. Returns 0 or -EINVAL /
 * -ERANGE; *ret untouched on failure.
 */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/*
 * Check that path is a directory owned by uid (or by root) and not writable
 * by group or others. Returns 0 or a negative errno; on failure a sentence
 * explaining why is logged.
 */
int check_private_dir(const char *path, uid_t uid);

/*
 * The same for an open file (fd, named path in messages): a regular file
 * owned by uid or by root, not writable by group or others, and when secret
 * is true not readable by them either. Returns 0 or a negative errno, with
 * the reason logged.
 */
int check_private_file(int fd, const char *path, uid_t uid, bool secret);

/*
 * Read a secret from an open fd (at most max bytes, one trailing newline
 * removed) into sodium_malloc'ed memory. Returns 0 and *ret (caller frees
 * with sodium_free) or a negative errno.
 */
int read_secret_fd(int fd, size_t max, char **ret);

/*
 * Write data to path atomically: a temporary file in the same directory with
 * the given mode, fsync, rename, fsync of the directory. Returns 0 or a
 * negative errno.
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Big-endian integers of n bytes (n <= 8), as the keyring and backup
 * formats store them.
 */
static inline void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static inline uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* fsync the directory that holds path, so that a new name in it survives a crash. */
int fsync_parent_dir(const char *path);
