/*
 * shipper.c: the audit shipper thread (see shipper.h for the wire format).
 *
 * Delivery is at least once, in order: the thread reads a batch after its
 * cursor, formats every row with eventlog (evt_rec_init, evt_tag_*,
 * evt_format), writes the whole batch itself, waits until syslog-ng has
 * read every byte of it (SIOCOUTQ drops to zero while the peer is still
 * there), and only then moves the cursor in the database. Any error closes
 * the connection; the next one starts SHIP_REWIND records before the
 * cursor, so what a dying syslog-ng held unwritten is sent again. The
 * verifier accepts such identical re-deliveries.
 *
 * This file must never call evt_log() (it goes through syslog(3), reports
 * success for lost messages and blocks while syslog-ng is frozen), never
 * block a request (the writer only calls shipper_kick(), an eventfd write),
 * never log a record's contents (only sequence numbers, counts and
 * errors), and never let SIGPIPE reach the process (MSG_NOSIGNAL).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <evtlog.h>

#include "daemon/log.h"
#include "daemon/shipper.h"
#include "daemon/store-ship.h"
#include "daemon/util.h"

/* Rows and bytes per batch: one cursor update per batch, bounded memory. */
#define SHIP_BATCH_ROWS 500
#define SHIP_BATCH_BYTES (1024 * 1024)

/* Reconnection backoff, doubling from the minimum. */
#define SHIP_BACKOFF_MIN_MS 100
#define SHIP_BACKOFF_MAX_MS 5000

/* Idle, look at the database this often even without a kick (a safety net). */
#define SHIP_IDLE_MS 1000

/* While waiting for syslog-ng to read a batch, poll the queue at most this far apart. */
#define SHIP_DRAIN_POLL_MAX_MS 5

/*
 * After a batch that did not take all there was room for, wait this long
 * before the next, so that records committed meanwhile go out together:
 * a batch per commit (one per call with a single caller) costs a read
 * transaction here and a wake-up and a write in syslog-ng for every
 * record. This is the most a record's shipping is delayed by it.
 */
#define SHIP_COALESCE_MS 5

/*
 * At a stop (shutdown, Seal, rotation) the audit writer has just signed the
 * head: the shipper keeps delivering for at most this long, so that the
 * shipped copy ends with that checkpoint rather than an unsigned tail. The
 * loop thread waits for it (take_down()), so it is short; whatever is left
 * goes out at the next start.
 */
#define SHIP_FINAL_MS 1000

/* syslog facility authpriv (10), as RFC 5424 PRI = facility * 8 + severity. */
#define SHIP_FACILITY 10

struct ship_buf {
	char *p;
	size_t len, cap;
};

struct shipper {
	pthread_t thread;
	bool thread_started;
	int wake_fd;                    /* eventfd: kicks and the stop request */
	atomic_bool stopping;

	/* Owned by the thread once it runs. */
	struct store_ship *db;
	char *sock_path;
	int fd;                         /* connection to syslog-ng, or -1 */
	EVTCONTEXT *evt;
	char hostname[256];
	long pid;
	int64_t done_rec, done_cp;      /* delivered and read by syslog-ng */
	int64_t next_rec, next_cp;      /* the next read starts after these */
	struct ship_buf batch;          /* the formatted batch being sent */
	struct ship_buf scratch;        /* one encoded value at a time */
	int64_t batch_rec, batch_cp;    /* the highest seqs in batch */
	int format_err;                 /* first error while formatting a batch */
	bool kicked;                    /* a kick came while busy: look again before idling */
	/*
	 * Set by shipper_stop() before stopping: a write or a drain under way
	 * goes on until then, and so does the delivery of what is left.
	 */
	_Atomic int64_t final_deadline;
	bool reported_outage;           /* said so once: no message per retry */
	int64_t outage_since_us;

	/* Read by shipper_status() and shipper_position() from any thread. */
	_Atomic int64_t shipped;
	_Atomic int64_t shipped_cp;
	_Atomic int64_t head;
	atomic_bool connected;
};

static int64_t mono_ms(void)
{
	return mono_usec() / 1000;
}

/* ---- buffers ------------------------------------------------------------ */

static int buf_reserve(struct ship_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_append(struct ship_buf *b, const char *p, size_t n)
{
	int r = buf_reserve(b, n);

	if (r < 0)
		return r;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* ---- formatting --------------------------------------------------------- */

/* Text as the shipped copy carries it: SHIP_SAFE_BYTE as is, the rest %HH. */
static const char *encode_text(struct ship_buf *sc, struct ship_bytes v)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o;

	sc->len = 0;
	if (v.n > (SIZE_MAX - 1) / 3 || buf_reserve(sc, v.n * 3 + 1) < 0)
		return NULL;
	o = sc->p;
	for (size_t i = 0; i < v.n; i++) {
		unsigned char c = v.p[i];

		if (SHIP_SAFE_BYTE(c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return sc->p;
}

static const char *encode_hex(struct ship_buf *sc, struct ship_bytes v)
{
	static const char hex[] = "0123456789abcdef";

	sc->len = 0;
	if (v.n > (SIZE_MAX - 1) / 2 || buf_reserve(sc, v.n * 2 + 1) < 0)
		return NULL;
	for (size_t i = 0; i < v.n; i++) {
		sc->p[2 * i] = hex[v.p[i] >> 4];
		sc->p[2 * i + 1] = hex[v.p[i] & 15];
	}
	sc->p[2 * v.n] = '\0';
	return sc->p;
}

/*
 * Add a tag, or remember that one could not be made. evt_tag_* return NULL
 * when out of memory, and evt_rec_add_tag() must not see that.
 */
static void add_tag(EVTREC *e, EVTTAG *t, int *err)
{
	if (t == NULL) {
		*err = -ENOMEM;
		return;
	}
	evt_rec_add_tag(e, t);
}

static void tag_str(EVTREC *e, const char *name, const char *value, int *err)
{
	if (value == NULL) {
		*err = -ENOMEM;
		return;
	}
	add_tag(e, evt_tag_str(name, value), err);
}

static void tag_int(EVTREC *e, const char *name, int64_t v, int *err)
{
	add_tag(e, evt_tag_long(name, (long long)v), err);
}

static void tag_text(struct shipper *s, EVTREC *e, const char *name, struct ship_bytes v,
		     int *err)
{
	tag_str(e, name, encode_text(&s->scratch, v), err);
}

static void tag_hex(struct shipper *s, EVTREC *e, const char *name, struct ship_bytes v,
		    int *err)
{
	tag_str(e, name, encode_hex(&s->scratch, v), err);
}

/* RFC 5424 TIMESTAMP in UTC with microseconds, or the NILVALUE "-". */
static void format_timestamp(int64_t usec, char *buf, size_t size)
{
	time_t t;
	struct tm tm;

	if (usec < 0) {
		snprintf(buf, size, "-");
		return;
	}
	t = (time_t)(usec / 1000000);
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) {
		snprintf(buf, size, "-");
		return;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(usec % 1000000));
}

/* RFC 5424 MSGID for a record: its alert id if that is a clean one, else AUDIT. */
static const char *record_msgid(struct ship_bytes alert, char *buf, size_t size)
{
	if (alert.n == 0)
		return "AUDIT";
	if (alert.n >= size || alert.n > 32)
		return "ALERT";
	for (size_t i = 0; i < alert.n; i++) {
		unsigned char c = alert.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return "ALERT";
	}
	memcpy(buf, alert.p, alert.n);
	buf[alert.n] = '\0';
	return buf;
}

/* Append "<PRI>1 TIMESTAMP HOSTNAME rosterd PID MSGID - " evt_format(e) "\n" to the batch. */
static int append_message(struct shipper *s, EVTREC *e, int severity, int64_t time_us,
			  const char *msgid, int64_t seq)
{
	char ts[80], hdr[512];
	char *msg;
	size_t mlen;
	int n, r;

	msg = evt_format(e);
	if (msg == NULL)
		return -ENOMEM;
	format_timestamp(time_us, ts, sizeof(ts));
	n = snprintf(hdr, sizeof(hdr), "<%d>1 %s %s rosterd %ld %s - ",
		     SHIP_FACILITY * 8 + severity, ts, s->hostname, s->pid, msgid);
	mlen = strlen(msg);
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		r = -EINVAL;
		goto out;
	}
	if ((size_t)n + mlen + 1 > SHIP_MSG_MAX)
		log_err("audit shipper: the message for seq %" PRId64 " has %zu bytes, more than "
			"the %d syslog-ng is configured to take; it will arrive split",
			seq, (size_t)n + mlen + 1, SHIP_MSG_MAX);
	r = buf_reserve(&s->batch, (size_t)n + mlen + 1);
	if (r < 0)
		goto out;
	(void)buf_append(&s->batch, hdr, (size_t)n);
	(void)buf_append(&s->batch, msg, mlen);
	(void)buf_append(&s->batch, "\n", 1);
out:
	free(msg);              /* evt_format() returns malloc'ed memory */
	return r;
}

static int on_record(const struct ship_record *rec, void *data)
{
	struct shipper *s = data;
	char alert[40];
	const char *msgid = record_msgid(rec->alert, alert, sizeof(alert));
	int sev = rec->alert.n ? EVT_PRI_ALERT : EVT_PRI_INFO;
	EVTREC *e;
	int err = 0;

	e = evt_rec_init(s->evt, sev, "roster audit record");
	if (e == NULL)
		return s->format_err = -ENOMEM;
	/* doc/audit-format.md's order, so that the message reads like the contract. */
	tag_str(e, "type", "record", &err);
	tag_int(e, "seq", rec->seq, &err);
	tag_int(e, "time_us", rec->time_us, &err);
	tag_text(s, e, "principal", rec->principal, &err);
	tag_int(e, "uid", rec->uid, &err);
	tag_int(e, "gid", rec->gid, &err);
	tag_int(e, "pid", rec->pid, &err);
	tag_text(s, e, "role", rec->role, &err);
	tag_text(s, e, "method", rec->method, &err);
	tag_text(s, e, "ids", rec->ids, &err);
	tag_text(s, e, "fields", rec->fields, &err);
	tag_int(e, "records", rec->records, &err);
	tag_text(s, e, "result", rec->result, &err);
	tag_text(s, e, "error", rec->error, &err);
	tag_text(s, e, "alert", rec->alert, &err);
	tag_hex(s, e, "prev_hash", rec->prev_hash, &err);
	tag_hex(s, e, "hash", rec->hash, &err);
	if (err == 0)
		err = append_message(s, e, sev, rec->time_us, msgid, rec->seq);
	evt_rec_free(e);
	if (err < 0)
		return s->format_err = err;
	s->batch_rec = rec->seq;
	return s->batch.len >= SHIP_BATCH_BYTES ? 1 : 0;
}

static int on_checkpoint(const struct ship_checkpoint *c, void *data)
{
	struct shipper *s = data;
	EVTREC *e;
	int err = 0;

	e = evt_rec_init(s->evt, EVT_PRI_INFO, "roster audit checkpoint");
	if (e == NULL)
		return s->format_err = -ENOMEM;
	tag_str(e, "type", "checkpoint", &err);
	tag_int(e, "seq", c->seq, &err);
	tag_int(e, "time_us", c->time_us, &err);
	tag_hex(s, e, "hash", c->hash, &err);
	tag_hex(s, e, "pubkey", c->pubkey, &err);
	tag_hex(s, e, "sig", c->sig, &err);
	/* A key roll: signed by pubkey over the keyroll message, naming the next key. */
	if (c->next_pubkey.n > 0)
		tag_hex(s, e, "next_pubkey", c->next_pubkey, &err);
	if (err == 0)
		err = append_message(s, e, EVT_PRI_INFO, c->time_us, "CHECKPOINT", c->seq);
	evt_rec_free(e);
	if (err < 0)
		return s->format_err = err;
	s->batch_cp = c->seq;
	return s->batch.len >= SHIP_BATCH_BYTES ? 1 : 0;
}

static const struct store_ship_ops ship_ops = {
	.record = on_record,
	.checkpoint = on_checkpoint,
};

/* ---- waiting ------------------------------------------------------------- */

/* Take the kicks out of the eventfd; their only job was to wake us. */
static void drain_wake(struct shipper *s)
{
	uint64_t n;

	while (read(s->wake_fd, &n, sizeof(n)) > 0)
		;
}

static void refresh_head(struct shipper *s)
{
	int64_t head;

	if (store_ship_head(s->db, &head) == 0)
		atomic_store(&s->head, head);
}

/*
 * Whether a wait must end because the shipper is stopping. A write or a
 * drain (delivering) goes on until the final deadline, so that the batch
 * under way, and then what the writer committed last, still reach
 * syslog-ng; any other wait (idle, backoff) ends at once.
 */
static bool cancelled(struct shipper *s, bool delivering)
{
	if (!atomic_load(&s->stopping))
		return false;
	return !delivering || mono_ms() >= atomic_load(&s->final_deadline);
}

/*
 * Wait up to timeout_ms (-1: no limit) for fd (if >= 0) to report events
 * or an error. A kick ends the wait only if wake_on_kick (the idle wait);
 * otherwise it is remembered in s->kicked and refreshes the head, so that
 * Status shows the lag during an outage. Returns 1 when fd is ready, 0 on
 * timeout or kick, -ECANCELED when the shipper is stopping (for a wait on
 * a write or a drain, once the final deadline has passed).
 */
static int wait_fd(struct shipper *s, int fd, short events, int timeout_ms, bool wake_on_kick)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	bool delivering = fd >= 0 && !wake_on_kick;

	if (wake_on_kick && s->kicked) {
		s->kicked = false;
		return 0;
	}
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = s->wake_fd, .events = POLLIN },
			{ .fd = fd, .events = events },
		};
		int left = -1, n;

		if (cancelled(s, delivering))
			return -ECANCELED;
		/* Stopping while delivering: wake at the final deadline at the latest. */
		if (atomic_load(&s->stopping) &&
		    (deadline < 0 || deadline > atomic_load(&s->final_deadline)))
			deadline = atomic_load(&s->final_deadline);
		if (deadline >= 0) {
			int64_t now = mono_ms();

			if (now >= deadline)
				return 0;
			left = (int)(deadline - now);
		}
		n = poll(p, fd >= 0 ? 2 : 1, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* poll() on two valid fds fails only without memory: wait a little. */
			log_err("audit shipper: poll: %s", strerror(errno));
			(void)poll(NULL, 0, 10);
			continue;
		}
		if (fd >= 0 && p[1].revents)
			return 1;
		if (p[0].revents) {
			drain_wake(s);
			if (cancelled(s, delivering))
				return -ECANCELED;
			if (wake_on_kick)
				return 0;
			s->kicked = true;
			refresh_head(s);
		}
	}
}

/* ---- the connection -------------------------------------------------------- */

static void ship_disconnect(struct shipper *s, int err)
{
	if (s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	atomic_store(&s->connected, false);
	if (err != 0 && err != -ECANCELED) {
		log_warn("audit shipper: lost the connection to syslog-ng at %s (%s); "
			 "%" PRId64 " records await delivery", s->sock_path, strerror(-err),
			 atomic_load(&s->head) - s->done_rec);
		s->reported_outage = true;
		s->outage_since_us = now_usec();
	}
}

static int ship_connect(struct shipper *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	/* Length checked in shipper_start(). */
	memcpy(sa.sun_path, s->sock_path, strlen(s->sock_path) + 1);
	/* Non-blocking, so a stopped or frozen syslog-ng never holds the thread. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* EAGAIN: syslog-ng's backlog is full. It counts as not there; retry later. */
		r = -errno;
		close(fd);
		if (!s->reported_outage) {
			log_warn("audit shipper: cannot connect to syslog-ng at %s (%s); "
				 "retrying, nothing is lost meanwhile", s->sock_path, strerror(-r));
			s->reported_outage = true;
			s->outage_since_us = now_usec();
		}
		return r;
	}
	s->fd = fd;
	atomic_store(&s->connected, true);
	/*
	 * Start SHIP_REWIND records back: whatever the last syslog-ng had read
	 * but not written (it died, or the host lost power before its file
	 * reached the disk) is sent again. Checkpoints follow their records.
	 */
	s->next_rec = s->done_rec > SHIP_REWIND ? s->done_rec - SHIP_REWIND : 0;
	s->next_cp = s->done_cp < s->next_rec ? s->done_cp : s->next_rec;
	if (s->reported_outage)
		log_info("audit shipper: connected to syslog-ng at %s again after %.1f s; "
			 "resending from seq %" PRId64, s->sock_path,
			 (double)(now_usec() - s->outage_since_us) / 1e6, s->next_rec + 1);
	else
		log_info("audit shipper: connected to syslog-ng at %s; sending from seq %" PRId64,
			 s->sock_path, s->next_rec + 1);
	s->reported_outage = false;
	return 0;
}

/* Write all of p, however syslog-ng takes it. */
static int ship_write(struct shipper *s, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Flow control: syslog-ng is not reading. Wait as long as it takes. */
			int r = wait_fd(s, s->fd, POLLOUT, -1, false);

			if (r < 0)
				return r;
			continue;
		}
		return w < 0 ? -errno : -EIO;
	}
	return 0;
}

/* 0 while the peer is there (no EOF), -EPIPE once it closed, or another error. */
static int peer_alive(struct shipper *s)
{
	char junk[256];

	for (;;) {
		ssize_t n = recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (n > 0)
			continue;       /* syslog-ng says nothing to us; ignore it if it does */
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
}

/*
 * Wait until syslog-ng has read everything written. The order matters: a
 * dying peer's unread data is discarded, which also empties our queue, so
 * the queue is read first and the peer's presence checked after it.
 */
static int ship_drain(struct shipper *s)
{
	int wait_ms = 1;

	for (;;) {
		int outq, r;

		if (ioctl(s->fd, SIOCOUTQ, &outq) < 0)
			return -errno;
		r = peer_alive(s);
		if (r < 0)
			return r;
		if (outq == 0)
			return 0;
		r = wait_fd(s, s->fd, POLLIN, wait_ms, false);
		if (r < 0)
			return r;
		if (wait_ms < SHIP_DRAIN_POLL_MAX_MS)
			wait_ms *= 2;
	}
}

/*
 * Ship one batch. Returns the number of rows sent (0: nothing new), or a
 * negative errno; a socket error has closed the connection.
 */
static int ship_batch(struct shipper *s)
{
	int n, r;

	s->batch.len = 0;
	s->batch_rec = s->next_rec;
	s->batch_cp = s->next_cp;
	s->format_err = 0;
	n = store_ship_read(s->db, s->next_rec, s->next_cp, SHIP_BATCH_ROWS, &ship_ops, s);
	if (n < 0) {
		if (s->format_err == 0)
			return n;       /* the database; logged by store-ship.c */
		log_err("audit shipper: cannot format a message: %s", strerror(-s->format_err));
		return s->format_err;
	}
	if (n == 0)
		return 0;
	r = ship_write(s, s->batch.p, s->batch.len);
	if (r == 0)
		r = ship_drain(s);
	if (r < 0) {
		ship_disconnect(s, r);
		return r;
	}
	s->next_rec = s->batch_rec;
	s->next_cp = s->batch_cp;
	if (s->batch_rec > s->done_rec)
		s->done_rec = s->batch_rec;
	if (s->batch_cp > s->done_cp)
		s->done_cp = s->batch_cp;
	atomic_store(&s->shipped_cp, s->done_cp);
	atomic_store(&s->shipped, s->done_rec);
	/*
	 * The bytes are with syslog-ng. The audit writer stores the cursor
	 * with its next batch (shipper_position(), audit_set_ship_cursor()):
	 * a commit here would empty the writer's page cache. What a crash
	 * loses of it is resent after the restart, as after any reconnection.
	 */
	return n;
}

static void *ship_main(void *arg)
{
	struct shipper *s = arg;
	int backoff = SHIP_BACKOFF_MIN_MS;

	while (!atomic_load(&s->stopping)) {
		int r;

		refresh_head(s);
		r = s->fd < 0 ? ship_connect(s) : 0;
		if (r == 0)
			r = ship_batch(s);
		if (r > 0)
			backoff = SHIP_BACKOFF_MIN_MS;  /* syslog-ng took something: it works */
		if (r >= SHIP_BATCH_ROWS || (r > 0 && s->batch.len >= SHIP_BATCH_BYTES))
			continue;                       /* more may be waiting */
		/* Kicks meanwhile are kept (s->kicked): the wait below then ends at once. */
		if (r > 0 && wait_fd(s, -1, 0, SHIP_COALESCE_MS, false) == -ECANCELED)
			break;
		if (r >= 0) {
			/* Idle: wake on a kick, on syslog-ng going away (EOF), or now and then. */
			r = wait_fd(s, s->fd, POLLIN, SHIP_IDLE_MS, true);
			if (r > 0 && (r = peer_alive(s)) < 0)
				ship_disconnect(s, r);
			else if (r > 0)
				r = 0;
		}
		if (r == -ECANCELED)
			break;
		if (r < 0) {
			/*
			 * Connection refused or lost, or the database failed: wait,
			 * longer each time until something is delivered, so that a
			 * peer that accepts and hangs up at once is not a busy loop.
			 */
			if (wait_fd(s, -1, 0, backoff, false) < 0)
				break;
			backoff = backoff * 2 > SHIP_BACKOFF_MAX_MS ? SHIP_BACKOFF_MAX_MS : backoff * 2;
		}
	}
	/*
	 * A stop: the writer, stopped first, has signed the head. Deliver
	 * what is left while syslog-ng takes it, until the final deadline
	 * (shipper_stop()), so that the copy ends with that checkpoint.
	 */
	if (s->fd >= 0) {
		for (;;) {
			refresh_head(s);
			if (ship_batch(s) <= 0)
				break;
		}
	}
	ship_disconnect(s, 0);
	return NULL;
}

/* ---- the interface ---------------------------------------------------------- */

/* RFC 5424 HOSTNAME: printable US-ASCII, no spaces, at most 255; "-" if unknown. */
static void get_hostname(char *buf, size_t size)
{
	size_t i;

	if (gethostname(buf, size) < 0 || buf[0] == '\0') {
		snprintf(buf, size, "-");
		return;
	}
	buf[size - 1] = '\0';
	for (i = 0; buf[i]; i++)
		if (buf[i] < 33 || buf[i] > 126)
			buf[i] = '-';
}

static void shipper_free(struct shipper *s)
{
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->fd >= 0)
		close(s->fd);
	store_ship_close(s->db);
	if (s->evt != NULL)
		evt_ctx_free(s->evt);
	free(s->batch.p);
	free(s->scratch.p);
	free(s->sock_path);
	free(s);
}

int shipper_start(struct shipper **ret, const char *db_path, const struct keys *k,
		  const char *syslog_socket)
{
	struct sockaddr_un sa;
	struct shipper *s;
	int r;

	if (syslog_socket == NULL || syslog_socket[0] == '\0')
		return -EINVAL;
	if (strlen(syslog_socket) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->fd = -1;
	s->wake_fd = -1;
	atomic_init(&s->stopping, false);
	atomic_init(&s->connected, false);
	atomic_init(&s->shipped, 0);
	atomic_init(&s->shipped_cp, 0);
	atomic_init(&s->head, 0);
	s->sock_path = strdup(syslog_socket);
	if (s->sock_path == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = store_ship_open(db_path, k, &s->db);
	if (r < 0)
		goto fail;
	r = store_ship_cursor(s->db, &s->done_rec, &s->done_cp);
	if (r < 0)
		goto fail;
	atomic_store(&s->shipped_cp, s->done_cp);
	atomic_store(&s->shipped, s->done_rec);
	refresh_head(s);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	/* Our own context: eventlog's are not safe to share between threads. */
	s->evt = evt_ctx_init("rosterd", EVT_FAC_AUTHPRIV);
	if (s->evt == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	get_hostname(s->hostname, sizeof(s->hostname));
	s->pid = (long)getpid();
	r = thread_start(&s->thread, ship_main, s, "rosterd-ship");
	if (r < 0)
		goto fail;
	s->thread_started = true;
	*ret = s;
	return 0;
fail:
	shipper_free(s);
	return r;
}

void shipper_kick(struct shipper *s)
{
	uint64_t one = 1;

	if (s == NULL)
		return;
	/* Fails only if the counter would overflow, and then the thread is awake anyway. */
	(void)!write(s->wake_fd, &one, sizeof(one));
}

void shipper_stop(struct shipper *s)
{
	if (s == NULL)
		return;
	/* The deadline first: a thread that sees stopping must see it too. */
	atomic_store(&s->final_deadline, mono_ms() + SHIP_FINAL_MS);
	atomic_store(&s->stopping, true);
	shipper_kick(s);
	if (s->thread_started) {
		pthread_join(s->thread, NULL);
		/*
		 * The registry has stopped the audit writer, which stored the
		 * cursor while it ran. What was delivered since is stored here,
		 * so a clean stop resends nothing beyond the rewind of every
		 * reconnection.
		 */
		(void)store_ship_advance(s->db, s->done_rec, s->done_cp);
	}
	shipper_free(s);
}

void shipper_position(void *shipper, int64_t *ret_record_seq, int64_t *ret_checkpoint_seq)
{
	struct shipper *s = shipper;

	/* Each only grows, and the store takes the larger of old and new: no lock needed. */
	*ret_checkpoint_seq = atomic_load(&s->shipped_cp);
	*ret_record_seq = atomic_load(&s->shipped);
}

void shipper_status(struct shipper *s, int64_t *ret_shipped_seq, int64_t *ret_head_seq,
		    bool *ret_connected)
{
	if (s == NULL)
		return;
	if (ret_shipped_seq)
		*ret_shipped_seq = atomic_load(&s->shipped);
	if (ret_head_seq)
		*ret_head_seq = atomic_load(&s->head);
	if (ret_connected)
		*ret_connected = atomic_load(&s->connected);
}
