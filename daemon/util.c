/*
 * util.c: see util.h. Nothing here logs a secret; read_secret_fd() keeps
 * what it reads in locked memory only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/log.h"
#include "daemon/util.h"

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *name)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	(void)pthread_setname_np(*t, name);
	return 0;
}

int64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void format_rfc3339(int64_t usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void id_generate(char buf[ID_HEX_LEN + 1])
{
	unsigned char raw[ID_HEX_LEN / 2];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(buf, ID_HEX_LEN + 1, raw, sizeof(raw));
}

bool id_valid(const char *s)
{
	size_t i;

	for (i = 0; i < ID_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int check_private_dir(const char *path, uid_t uid)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		int r = -errno;

		log_err("%s: %s", path, strerror(errno));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s: not a directory", path);
		return -ENOTDIR;
	}
	if (st.st_uid != uid && st.st_uid != 0) {
		log_err("%s: owned by uid %u, expected %u or root", path,
			(unsigned)st.st_uid, (unsigned)uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_err("%s: writable by group or others (mode %04o); refusing to use it",
			path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int check_private_file(int fd, const char *path, uid_t uid, bool secret)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int r = -errno;

		log_err("%s: %s", path, strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_uid != uid && st.st_uid != 0) {
		log_err("%s: owned by uid %u, expected %u or root; refusing to use it", path,
			(unsigned)st.st_uid, (unsigned)uid);
		return -EPERM;
	}
	if (st.st_mode & (secret ? (mode_t)(S_IRWXG | S_IRWXO) : (mode_t)(S_IWGRP | S_IWOTH))) {
		log_err("%s: %s by group or others (mode %04o); refusing to use it", path,
			secret ? "accessible" : "writable", (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int read_secret_fd(int fd, size_t max, char **ret)
{
	char *buf;
	size_t len = 0;
	ssize_t n;

	buf = sodium_malloc(max + 2);
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			sodium_free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			sodium_free(buf);
			return -EMSGSIZE;
		}
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (strlen(buf) != len) {      /* an embedded NUL would cut the secret short */
		sodium_free(buf);
		return -EINVAL;
	}
	*ret = buf;
	return 0;
}

int fsync_parent_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (copy == NULL)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096];
	const char *p = data;
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return fsync_parent_dir(path);
fail:
	r = -errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}
