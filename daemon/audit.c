/*
 * audit.c: the audit writer (see audit.h for the rules it keeps).
 *
 * Threads: audit_submit(), the timeout timer and the completion callback
 * run on the loop thread; writer_main() runs on its own thread with its
 * own database connection. They share only the queues below, under one
 * mutex. This module logs counts and failures, never a record's content.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include <sodium.h>

#include "daemon/audit.h"
#include "daemon/keys.h"
#include "daemon/log.h"
#include "daemon/store.h"
#include "daemon/util.h"
#include "lib/audit-hash.h"
#include "lib/audit-trust.h"

struct audit {
	uv_loop_t *loop;
	uv_async_t async;               /* the writer tells the loop a batch is done */
	uv_timer_t timer;               /* answers jobs stuck past the timeout */
	uv_prepare_t prepare;           /* wakes the writer before the loop sleeps */
	bool kick;                      /* jobs queued since, for a writer that waits */
	struct store *w;                /* the writer's connection */
	unsigned char sign_sk[64];      /* copied into this sodium_malloc'ed struct */
	unsigned char sign_pk[32];
	struct audit_config cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct audit_job *queue, *queue_tail;   /* waiting for the writer */
	int waiting;                    /* the writer is in a condition wait */
	bool gathering;                 /* ... in batch_gather(), which ends on its own */
	size_t recent_max;              /* the largest batch in the last second */
	int64_t recent_since_us;
	struct audit_job *inflight;             /* the writer's current batch */
	struct audit_job *done, *done_tail;     /* committed (or failed), for the loop */
	bool stopping;
	bool want_checkpoint;
	/*
	 * The writer found its files removed or replaced (files_still_ours());
	 * atomic, since it is set both with and without mu held.
	 */
	atomic_bool files_moved;
	/* The chain's head: the writer thread's alone (stats has a committed copy, under mu). */
	int64_t head_seq;
	unsigned char head_hash[32];
	int64_t last_cp_seq;
	int64_t last_cp_time_us;
	struct audit_stats stats;
	audit_commit_hook hook;
	void *hook_data;
	audit_ship_cursor_fn ship_fn;   /* set under mu */
	void *ship_data;
	int64_t ship_rec, ship_cp;      /* the shipper's cursor as last committed (writer only) */
	int handles_open;
};

/* ---- records ------------------------------------------------------------- */

void audit_rec_init(struct audit_rec *r)
{
	memset(r, 0, sizeof(*r));
}

void audit_rec_free(struct audit_rec *r)
{
	free(r->ids);
	r->ids = NULL;
	r->ids_len = r->ids_cap = 0;
}

int audit_rec_add_id(struct audit_rec *r, const char *id)
{
	size_t n = strlen(id), need = r->ids_len + n + 2;

	if (need > r->ids_cap) {
		size_t cap = r->ids_cap ? r->ids_cap * 2 : 64;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(r->ids, cap);
		if (p == NULL)
			return -ENOMEM;
		r->ids = p;
		r->ids_cap = cap;
	}
	if (r->ids_len > 0)
		r->ids[r->ids_len++] = ' ';
	memcpy(r->ids + r->ids_len, id, n + 1);
	r->ids_len += n;
	return 0;
}

const char *audit_result_of(const json_t *msg, const char **ret_error)
{
	static const struct {
		const char *error;
		const char *result;
	} map[] = {
		{ "io.roster.PermissionDenied", "denied" },
		{ "io.roster.AuthenticationRequired", "denied" },
		{ "io.roster.QuotaExceeded", "denied" },
		/* The two-person rule refused it. */
		{ "io.roster.ApprovalRequired", "denied" },
		{ "io.roster.ApprovalExpired", "denied" },
		{ "io.roster.ApprovalUsed", "denied" },
		{ "io.roster.SelfApproval", "denied" },
		{ "io.roster.TooManyRequests", "denied" },
		{ "org.varlink.service.PermissionDenied", "denied" },
		{ "io.roster.Locked", "locked" },
		{ "io.roster.NotFound", "not_found" },
		{ "org.varlink.service.InvalidParameter", "invalid" },
		{ "org.varlink.service.MethodNotFound", "invalid" },
		{ "org.varlink.service.InterfaceNotFound", "invalid" },
		{ "io.roster.ProtocolError", "invalid" },
	};
	const char *err = json_string_value(json_object_get(msg, "error"));

	*ret_error = err ? err : "";
	if (err == NULL)
		return msg ? "ok" : "error";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(err, map[i].error) == 0)
			return map[i].result;
	return "error";
}

bool audit_result_valid(const char *result)
{
	static const char *const results[] = { "ok", "denied", "not_found", "invalid", "error", "locked" };

	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		if (strcmp(result, results[i]) == 0)
			return true;
	return false;
}

struct audit_job *audit_job_new(void)
{
	struct audit_job *j = calloc(1, sizeof(*j));

	if (j != NULL)
		audit_rec_init(&j->rec);
	return j;
}

void audit_job_free(struct audit_job *j)
{
	if (j == NULL)
		return;
	audit_rec_free(&j->rec);
	json_decref(j->reply);
	json_decref(j->mctx);
	if (j->ctx_free != NULL)
		j->ctx_free(j->ctx);
	free(j);
}

/* ---- the writer thread ------------------------------------------------------ */

static void field_names(unsigned fields, char *buf, size_t size)
{
	static const char *const names[] = { "identity", "contact", "commercial", "internal" };
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < 4; i++)
		if (fields & (1u << i)) {
			int n = snprintf(buf + off, size - off, "%s%s", off ? " " : "", names[i]);

			if (n > 0 && (size_t)n < size - off)
				off += (size_t)n;
		}
}

/* Append one job's record to the chain (writer thread, inside the batch). */
static int append(struct audit *a, struct audit_job *j)
{
	struct audit_fields f;
	unsigned char hash[32];
	char fields[64];
	const char *error;
	int r;

	field_names(j->rec.records > 0 ? j->rec.fields : 0, fields, sizeof(fields));
	f.seq = a->head_seq + 1;
	f.time_us = j->rec.time_us;
	f.principal = j->rec.principal[0] ? j->rec.principal : "unknown";
	f.uid = j->rec.uid;
	f.gid = j->rec.gid;
	f.pid = j->rec.pid;
	f.role = j->rec.role;
	f.method = j->rec.method;
	f.ids = j->rec.ids ? j->rec.ids : "";
	f.fields = fields;
	f.records = j->rec.records;
	f.result = audit_result_of(j->reply, &error);
	f.error = error;
	f.alert = j->rec.alert;
	audit_hash(a->head_hash, &f, hash);
	r = store_audit_append(a->w, &f, a->head_hash, hash);
	if (r < 0)
		return r;
	a->head_seq = f.seq;
	memcpy(a->head_hash, hash, 32);
	return 0;
}

static int checkpoint(struct audit *a)
{
	unsigned char msg[AUDIT_CP_MSG_BYTES], sig[64];
	int64_t now = now_usec();
	int r;

	audit_checkpoint_message(a->head_seq, a->head_hash, now, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), a->sign_sk);
	r = store_audit_checkpoint_add(a->w, a->head_seq, now, a->head_hash, a->sign_pk, sig);
	if (r == 0) {
		a->last_cp_seq = a->head_seq;
		a->last_cp_time_us = now;
	}
	return r;
}

static bool checkpoint_due(struct audit *a, bool by_time)
{
	int64_t since;

	if (a->head_seq == a->last_cp_seq)
		return false;
	/* (want_checkpoint is the loop's, read under the lock into the batch's cp.) */
	if (a->head_seq - a->last_cp_seq >= a->cfg.checkpoint_every)
		return true;
	if (!by_time)
		return false;
	/*
	 * The checkpoint's time is the wall clock's, which can be stepped back
	 * (NTP correcting a clock that ran ahead). The last one's time then lies
	 * ahead: the head is signed now, rather than left unsigned until the
	 * clock catches up with it, however long that is.
	 */
	since = now_usec() - a->last_cp_time_us;
	return since < 0 || since >= a->cfg.checkpoint_secs * 1000000;
}

/* A shipper's cursor to store with a batch: where it is, and whether it moved. */
struct ship_pos {
	int64_t rec, cp;
	bool moved;
};

static void ship_pos_read(struct audit *a, audit_ship_cursor_fn fn, void *data, struct ship_pos *p)
{
	p->rec = a->ship_rec;
	p->cp = a->ship_cp;
	if (fn != NULL)
		fn(data, &p->rec, &p->cp);
	p->moved = p->rec > a->ship_rec || p->cp > a->ship_cp;
}

/*
 * The batch the writer has open. Its jobs run as they arrive, inside one
 * transaction, while the loop thread is still reading the calls that will
 * join them; a batch that cannot commit is undone whole.
 */
struct batch {
	struct audit_job *head, *tail;  /* a->inflight, in order */
	size_t n;
	bool open;                      /* BEGIN IMMEDIATE is done */
	bool cp;                        /* a job asked for a checkpoint after its record */
	int r;                          /* the first failure; later jobs do not run */
	int64_t seq0, cp_seq0, cp_time0;
	unsigned char hash0[32];
};

static void batch_init(struct audit *a, struct batch *b)
{
	memset(b, 0, sizeof(*b));
	b->seq0 = a->head_seq;
	b->cp_seq0 = a->last_cp_seq;
	b->cp_time0 = a->last_cp_time_us;
	memcpy(b->hash0, a->head_hash, 32);
}

/* Run one job's change or lookup, if any, and append its record. */
static int run_job(struct audit *a, struct audit_job *j)
{
	int r;

	/* append() gives the record exactly this seq, right after mutate. */
	j->seq = a->head_seq + 1;
	if (j->mutate != NULL && j->plain) {
		j->mutate(a->w, j);
		/*
		 * A plain change that failed part-way cannot be undone alone,
		 * and an error SQLite answers by rolling back the whole
		 * transaction (I/O, corruption) leaves none to append to (each
		 * record would then commit on its own): either way the batch
		 * fails whole rather than commit part of it.
		 */
		if (j->abort_batch || !store_in_transaction(a->w))
			return -EIO;
	} else if (j->mutate != NULL) {
		r = store_tx(a->w, STORE_SAVEPOINT);
		if (r < 0)
			return r;
		j->mutate(a->w, j);
		if (j->reply == NULL || json_object_get(j->reply, "error") != NULL)
			r = store_tx(a->w, STORE_ROLLBACK_TO);
		if (r == 0)
			r = store_tx(a->w, STORE_RELEASE);
		if (r < 0)
			return r;
	}
	return append(a, j);
}

static int batch_begin(struct audit *a, struct batch *b)
{
	if (b->r == 0 && !b->open) {
		b->r = store_tx(a->w, STORE_BEGIN);
		b->open = b->r == 0;
	}
	return b->r;
}

/* Run the jobs from `from` to the end of the batch (without the lock). */
static void batch_run(struct audit *a, struct batch *b, struct audit_job *from)
{
	if (batch_begin(a, b) < 0)
		return;
	for (struct audit_job *j = from; j != NULL && b->r == 0; j = j->next)
		b->r = run_job(a, j);
}

/*
 * After a commit: are the database and its WAL still the files at their
 * paths (store_files_moved())? If the WAL was removed or replaced, what
 * SQLite committed since it was last copied into the database lives only
 * in the open, unlinked file: the batch just committed, and earlier ones
 * already answered. A FULL checkpoint copies all of it into the database
 * and syncs it, so nothing acknowledged is lost and this batch may be
 * answered. Either way the files must be opened afresh: the loop is told
 * (files_moved, read by drain_done()) and seals the registry. A database
 * file replaced under the daemon cannot be saved so: its batch fails.
 * Returns 0, or -EIO with the batch committed in the old files only, its
 * calls to be answered AuditUnavailable (the head stays where it is: the
 * records are in the chain).
 */
static int files_still_ours(struct audit *a)
{
	int moved = store_files_moved(a->w), r;

	if (moved == 0)
		return 0;
	if (!atomic_load(&a->files_moved))
		log_err("ALERT STORAGE: the database's %s was removed or replaced while the daemon "
			"ran; what was committed since would be lost at the next start. %s The "
			"registry seals itself: unseal it to open the files afresh.",
			moved == STORE_MOVED_WAL ? "WAL file (roster.db-wal)" : "file (roster.db)",
			moved == STORE_MOVED_WAL ? "Copying it into the database now." :
			"Later calls fail.");
	atomic_store(&a->files_moved, true);
	if (moved == STORE_MOVED_DB)
		return -EIO;
	r = store_checkpoint_all(a->w);
	if (r < 0)
		log_err("audit: the WAL could not be copied into the database (%s); the batch's "
			"calls are answered io.roster.AuditUnavailable", strerror(-r));
	return r < 0 ? -EIO : 0;
}

/*
 * End the batch: sign the head if a checkpoint is due or asked for (cp),
 * store the shipper's cursor if ship (may be NULL) says it moved, and
 * commit, all in the same transaction. Returns 0, or a negative errno with
 * nothing of the batch written and the chain's head as it was before it,
 * or -EIO from files_still_ours() with the batch committed.
 */
static int batch_commit(struct audit *a, struct batch *b, bool cp, const struct ship_pos *ship)
{
	int r = batch_begin(a, b);

	/* Only a head not yet signed gets a checkpoint: never twice, never for nothing. */
	if (r == 0 && a->head_seq > a->last_cp_seq && (cp || checkpoint_due(a, true)))
		r = checkpoint(a);
	if (r == 0 && ship != NULL && ship->moved)
		r = store_audit_ship_advance(a->w, ship->rec, ship->cp);
	if (r == 0)
		r = store_tx(a->w, STORE_COMMIT);
	if (r == 0 && ship != NULL && ship->moved) {
		a->ship_rec = ship->rec;
		a->ship_cp = ship->cp;
	}
	if (r < 0) {
		/* SQLite may have rolled it back already (see run_job()). */
		if (store_in_transaction(a->w))
			(void)store_tx(a->w, STORE_ROLLBACK);
		a->head_seq = b->seq0;
		memcpy(a->head_hash, b->hash0, 32);
		a->last_cp_seq = b->cp_seq0;
		a->last_cp_time_us = b->cp_time0;
		return r;
	}
	return files_still_ours(a);
}

static void add_usec(struct timespec *ts, int64_t usec)
{
	ts->tv_nsec += (long)(usec % 1000000) * 1000;
	ts->tv_sec += (time_t)(usec / 1000000) + ts->tv_nsec / 1000000000;
	ts->tv_nsec %= 1000000000;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Move up to AUDIT_MAX_BATCH jobs in all from the queue to the end of the
 * batch, where the timer still sees them (a->inflight). Returns the first
 * one taken, or NULL. Called with a->mu held.
 */
static struct audit_job *batch_take(struct audit *a, struct batch *b)
{
	struct audit_job *first = a->queue, *last = NULL;
	size_t n = 0;

	for (struct audit_job *j = first; j != NULL && b->n + n < AUDIT_MAX_BATCH; j = j->next, n++) {
		j->in_writer = true;
		b->cp |= j->checkpoint;
		last = j;
	}
	if (last == NULL)
		return NULL;
	a->queue = last->next;
	if (a->queue == NULL)
		a->queue_tail = NULL;
	last->next = NULL;
	if (b->tail != NULL)
		b->tail->next = first;
	else
		b->head = a->inflight = first;
	b->tail = last;
	b->n += n;
	return first;
}

/*
 * Group commit, the way PostgreSQL's commit_delay works: when several
 * callers have been active lately, the batch stays open while their calls
 * keep arriving, so one fsync serves them all instead of splitting them
 * across two or three. A single caller never waits. Unlike a plain delay,
 * the jobs that have come run while the batch waits for the rest, so the
 * wait costs the writer's work nothing. The batch ends when the queue is
 * empty and: as many callers as the largest batch of the last second have
 * come (so a steady set of callers is not kept waiting for a gap), or none
 * came for AUDIT_GATHER_GAP_US, or AUDIT_GATHER_MAX_US has passed since it
 * began. Called with a->mu held; returns with it held.
 */
static void batch_gather(struct audit *a, struct batch *b)
{
	struct timespec now, end, gap_end;
	bool gathering = a->recent_max >= 2 && !a->stopping;

	clock_gettime(CLOCK_MONOTONIC, &end);
	add_usec(&end, AUDIT_GATHER_MAX_US);
	a->gathering = gathering;
	for (;;) {
		struct audit_job *from = batch_take(a, b);

		if (from != NULL) {
			pthread_mutex_unlock(&a->mu);
			batch_run(a, b, from);
			pthread_mutex_lock(&a->mu);
		}
		if (!gathering || b->r < 0 || b->n >= AUDIT_MAX_BATCH || a->stopping)
			break;
		if (a->queue != NULL)
			continue;
		if (b->n >= a->recent_max)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!before(&now, &end))
			break;
		gap_end = now;
		add_usec(&gap_end, AUDIT_GATHER_GAP_US);
		if (before(&end, &gap_end))
			gap_end = end;
		while (a->queue == NULL && !a->stopping) {
			int r;

			a->waiting++;
			r = pthread_cond_timedwait(&a->cv, &a->mu, &gap_end);
			a->waiting--;
			if (r == ETIMEDOUT)
				break;
		}
		if (a->queue == NULL)
			break;
	}
	a->gathering = false;
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		struct timespec until;
		audit_ship_cursor_fn ship_fn;
		void *ship_data;
		struct ship_pos ship;
		struct batch b;
		bool cp;
		int r;

		while (a->queue == NULL && !a->stopping && !(a->want_checkpoint && a->head_seq > a->last_cp_seq)) {
			int w;

			clock_gettime(CLOCK_MONOTONIC, &until);
			/* Also the time rule's tick: checkpoint_interval is at least 1 s. */
			add_usec(&until, AUDIT_SHIP_STORE_MS * 1000);
			a->waiting++;
			w = pthread_cond_timedwait(&a->cv, &a->mu, &until);
			a->waiting--;
			if (w == ETIMEDOUT)
				break;
		}
		if (a->queue == NULL && a->stopping)
			break;
		batch_init(a, &b);
		batch_gather(a, &b);
		if (mono_usec() - a->recent_since_us > 1000000) {
			a->recent_max = b.n;
			a->recent_since_us = mono_usec();
		} else if (b.n > a->recent_max) {
			a->recent_max = b.n;
		}
		/* Asked for while the batch ran, or by a job in it: its records are signed with it. */
		cp = a->want_checkpoint || b.cp;
		a->want_checkpoint = false;
		ship_fn = a->ship_fn;
		ship_data = a->ship_data;
		pthread_mutex_unlock(&a->mu);

		ship_pos_read(a, ship_fn, ship_data, &ship);
		if (b.n == 0 && !checkpoint_due(a, true) && !cp && !ship.moved) {
			/*
			 * Idle: look at the files on this tick too (at most every
			 * AUDIT_SHIP_STORE_MS), so that a WAL removed while no call
			 * comes is copied back before a crash can lose it, not at
			 * the next commit; the loop is woken to seal.
			 */
			if (!atomic_load(&a->files_moved)) {
				(void)files_still_ours(a);      /* it logs; no batch to fail */
				if (atomic_load(&a->files_moved))
					uv_async_send(&a->async);
			}
			pthread_mutex_lock(&a->mu);
			continue;
		}
		r = batch_commit(a, &b, cp, &ship);
		if (r < 0)
			log_err("audit: a batch of %zu records could not be committed; its calls are "
				"answered io.roster.AuditUnavailable", b.n);

		pthread_mutex_lock(&a->mu);
		a->inflight = NULL;
		for (struct audit_job *j = b.head; j != NULL; j = j->next) {
			j->status = r;
			if (r == 0)
				a->stats.clients += j->clients_delta;
		}
		if (b.head != NULL) {
			if (a->done_tail)
				a->done_tail->next = b.head;
			else
				a->done = b.head;
			a->done_tail = b.tail;
		}
		a->stats.head_seq = a->head_seq;
		a->stats.last_checkpoint_seq = a->last_cp_seq;
		if (r == 0) {
			a->stats.records += (int64_t)b.n;
			a->stats.batches += b.n > 0;
		} else {
			a->stats.failures++;
		}
		uv_async_send(&a->async);
	}
	/* A last checkpoint on the way out, so a clean stop leaves a signed head. */
	if (a->head_seq > a->last_cp_seq) {
		struct batch b;

		batch_init(a, &b);
		if (batch_commit(a, &b, true, NULL) == 0)
			a->stats.last_checkpoint_seq = a->last_cp_seq;
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ---- the loop side ------------------------------------------------------------ */

/* Answer and free the jobs the writer has finished (loop thread). */
static void drain_done(struct audit *a)
{
	struct audit_job *list;
	unsigned effects = 0;
	int64_t head;

	pthread_mutex_lock(&a->mu);
	list = a->done;
	a->done = a->done_tail = NULL;
	/* Committed: a->head_seq is the writer's alone, and may be mid-batch. */
	head = a->stats.head_seq;
	pthread_mutex_unlock(&a->mu);
	while (list != NULL) {
		struct audit_job *j = list;

		list = j->next;
		j->next = NULL;
		/* Even a job answered by the timer has its effects once committed. */
		if (j->status == 0)
			effects |= j->effects;
		if (!j->answered) {
			j->answered = true;
			if (j->done)
				j->done(j, j->status);
		}
		audit_job_free(j);
	}
	if (atomic_load(&a->files_moved))
		effects |= AUDIT_EFFECT_SEAL;
	if (a->hook)
		a->hook(head, effects, a->hook_data);
}

static void on_async(uv_async_t *h)
{
	drain_done(h->data);
}

/*
 * Runs before each wait of the loop for I/O, so after every callback that
 * may have submitted: a writer gathering a batch is woken once for the
 * calls of a pass (audit_submit() wakes an idle one itself), with the lock
 * already free (a writer woken under it would only sleep again on the
 * mutex). A job queued while the writer was not waiting is seen when it
 * next looks (under the lock), so none is missed.
 */
static void on_prepare(uv_prepare_t *h)
{
	struct audit *a = h->data;

	if (a->kick) {
		a->kick = false;
		pthread_cond_signal(&a->cv);
	}
}

/*
 * A job waiting past the timeout is answered AuditUnavailable now. One still
 * queued keeps its place, but will not run its change, and its record will
 * say AuditUnavailable: the trail shows exactly what the caller was told.
 * One the writer already holds may still commit later (change and record
 * together); the caller was told it failed, and the trail shows what
 * happened. The callbacks run after the lock is released, since they may
 * start the connection's next call, which submits.
 */
static void on_timer(uv_timer_t *t)
{
	struct audit *a = t->data;
	int64_t now = (int64_t)uv_now(a->loop);
	struct audit_job **late = NULL;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&a->mu);
	for (int pass = 0; pass < 2; pass++)
		for (struct audit_job *j = pass ? a->inflight : a->queue; j != NULL; j = j->next) {
			if (j->answered || now - j->queued_ms < AUDIT_REPLY_TIMEOUT_MS)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct audit_job **p = realloc(late, ncap * sizeof(*late));

				if (p == NULL)
					break;      /* answered at the next tick */
				late = p;
				cap = ncap;
			}
			if (!j->in_writer) {
				json_decref(j->reply);
				j->reply = json_pack("{s:s, s:{s:s}}", "error", "io.roster.AuditUnavailable",
						     "parameters", "message", "the record was not committed in time");
				j->mutate = NULL;
			}
			late[n++] = j;
		}
	pthread_mutex_unlock(&a->mu);
	if (n > 0)
		log_err("audit: %zu records not committed within %d ms; answering AuditUnavailable",
			n, AUDIT_REPLY_TIMEOUT_MS);
	/*
	 * Only the loop thread frees jobs, so these stay valid until their
	 * batch is drained, which happens here only if a callback stops the
	 * writer: a Seal answered AuditUnavailable still seals (call_audited()),
	 * and audit_stop() commits what is left and answers and frees every
	 * job, these too. So a job is marked answered only as it is answered,
	 * and once the writer is stopped the rest are left to audit_stop(),
	 * which has answered them with what their batch did. (a itself stays
	 * valid until its handles' close callbacks, after this returns; its
	 * mutex does not, and stopping is only ever written on this thread.)
	 */
	for (size_t i = 0; i < n && !a->stopping; i++) {
		late[i]->answered = true;
		if (late[i]->done)
			late[i]->done(late[i], -ETIMEDOUT);
	}
	free(late);
}

void audit_submit(struct audit *a, struct audit_job *j)
{
	bool wake = false;

	j->queued_ms = (int64_t)uv_now(a->loop);
	j->next = NULL;
	pthread_mutex_lock(&a->mu);
	if (a->queue_tail)
		a->queue_tail->next = j;
	else
		a->queue = j;
	a->queue_tail = j;
	/*
	 * A busy writer takes the queue when it is done: wake it only if it
	 * waits. An idle one is woken now; one gathering a batch only once for
	 * all the calls that this pass of the loop reads (on_prepare), not for
	 * each, and its gather ends on its own timeouts even if no pass comes.
	 * Both after the lock is released (see on_prepare).
	 */
	if (a->waiting > 0 && !a->gathering)
		wake = true;
	else if (a->waiting > 0)
		a->kick = true;
	pthread_mutex_unlock(&a->mu);
	if (wake)
		pthread_cond_signal(&a->cv);
}

void audit_set_ship_cursor(struct audit *a, audit_ship_cursor_fn fn, void *data)
{
	pthread_mutex_lock(&a->mu);
	a->ship_fn = fn;
	a->ship_data = data;
	pthread_mutex_unlock(&a->mu);
}

void audit_request_checkpoint(struct audit *a)
{
	pthread_mutex_lock(&a->mu);
	a->want_checkpoint = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

void audit_get_stats(struct audit *a, struct audit_stats *ret)
{
	pthread_mutex_lock(&a->mu);
	*ret = a->stats;
	pthread_mutex_unlock(&a->mu);
}

void audit_set_commit_hook(struct audit *a, audit_commit_hook hook, void *data)
{
	a->hook = hook;
	a->hook_data = data;
}

int audit_start(struct audit **ret, uv_loop_t *loop, const char *db_path, const struct keys *k,
		const struct audit_config *cfg)
{
	struct audit *a;
	pthread_condattr_t cattr;
	int r;

	/* Locked memory: the struct holds a copy of the signing key. */
	a = sodium_malloc(sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	memset(a, 0, sizeof(*a));
	a->loop = loop;
	a->cfg = *cfg;
	if (a->cfg.checkpoint_every < 1)
		a->cfg.checkpoint_every = AUDIT_DEFAULT_CP_EVERY;
	if (a->cfg.checkpoint_secs < 1)
		a->cfg.checkpoint_secs = AUDIT_DEFAULT_CP_SECS;
	memcpy(a->sign_sk, k->sign_sk, 64);
	memcpy(a->sign_pk, k->sign_pk, 32);
	r = store_open(db_path, k, &a->w);
	if (r == 0)
		r = store_set_cache_kib(a->w, AUDIT_WRITER_CACHE_KIB);
	if (r == 0) {
		store_wal_restarts(a->w);
		store_files_note(a->w);
	}
	if (r == 0)
		r = store_audit_head(a->w, &a->head_seq, a->head_hash);
	if (r == 0)
		r = store_audit_last_checkpoint(a->w, &a->last_cp_seq, &a->last_cp_time_us);
	/* Once per start; the writer keeps it from here (audit_stats.clients). */
	if (r == 0)
		r = store_client_count(a->w, &a->stats.clients);
	if (r < 0) {
		store_close(a->w);
		sodium_free(a);
		return r;
	}
	a->stats.head_seq = a->head_seq;
	a->stats.last_checkpoint_seq = a->last_cp_seq;
	pthread_mutex_init(&a->mu, NULL);
	/*
	 * The writer's waits are deadlines on the monotonic clock: a wall
	 * clock stepped back (NTP, an operator) must not stretch a 200 µs
	 * gather, or a checkpoint interval, by the size of the step.
	 */
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &cattr);
	pthread_condattr_destroy(&cattr);
	uv_async_init(loop, &a->async, on_async);
	uv_timer_init(loop, &a->timer);
	uv_prepare_init(loop, &a->prepare);
	a->async.data = a->timer.data = a->prepare.data = a;
	a->handles_open = 3;
	uv_timer_start(&a->timer, on_timer, 500, 500);
	uv_prepare_start(&a->prepare, on_prepare);
	uv_unref((uv_handle_t *)&a->prepare);   /* it has work only when others do */
	if (thread_start(&a->thread, writer_main, a, "rosterd-audit") < 0) {
		log_err("audit: cannot start the writer thread");
		store_close(a->w);
		uv_close((uv_handle_t *)&a->async, NULL);
		uv_close((uv_handle_t *)&a->timer, NULL);
		uv_close((uv_handle_t *)&a->prepare, NULL);
		/* The handles reference a; it is leaked rather than freed under them. */
		return -EAGAIN;
	}
	log_info("audit: chain head at record %lld, last checkpoint at %lld",
		 (long long)a->head_seq, (long long)a->last_cp_seq);
	*ret = a;
	return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct audit *a = h->data;

	if (--a->handles_open == 0)
		sodium_free(a);         /* wipes the signing key copy */
}

void audit_stop(struct audit *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	drain_done(a);
	log_info("audit: stopped at record %lld (%lld records in %lld batches this run)",
		 (long long)a->head_seq, (long long)a->stats.records, (long long)a->stats.batches);
	store_close(a->w);
	a->w = NULL;
	uv_prepare_stop(&a->prepare);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	uv_timer_stop(&a->timer);
	uv_close((uv_handle_t *)&a->async, on_handle_closed);
	uv_close((uv_handle_t *)&a->timer, on_handle_closed);
	uv_close((uv_handle_t *)&a->prepare, on_handle_closed);
}

/* ---- verification ------------------------------------------------------------ */

/*
 * The checkpoints (read first, signatures checked, trust carried through
 * the key rolls) and what the record walks found. The walk itself is split
 * into ranges of seq, each with its own connection when there are two:
 * every record carries its prev_hash, so a range can be checked on its
 * own, and the ranges are stitched together afterwards (the first record
 * of a range must name the last hash of the one before).
 */
struct verify {
	/* The keys trusted so far: the caller's, and those key rolls signed by them named. */
	struct audit_trust trust;
	int64_t checkpoints;
	int64_t *cp_seq;
	unsigned char (*cp_hash)[32];
	size_t n_cp;
	int64_t first_bad;
	char problem[160];
};

/* One range of records [from, to], walked by one connection. */
struct vrange {
	const struct verify *v;
	int64_t from, to;
	int64_t expect_seq;
	unsigned char running[32];
	unsigned char first_prev[32];   /* as stored in record from (checked when stitching) */
	size_t cp_next;
	int64_t records;
	int64_t first_bad;
	char problem[160];
	/* For the second thread. */
	const char *db_path;
	const struct keys *keys;
	int result;
};

static int bad(struct verify *v, int64_t seq, const char *why)
{
	v->first_bad = seq;
	snprintf(v->problem, sizeof(v->problem), "%s", why);
	return 1;
}

static int bad_range(struct vrange *r, int64_t seq, const char *why)
{
	r->first_bad = seq;
	snprintf(r->problem, sizeof(r->problem), "%s", why);
	return 1;
}

static int verify_cp(int64_t seq, int64_t time_us, const unsigned char *hash,
		     const unsigned char *pubkey, const unsigned char *sig,
		     const unsigned char *next_pubkey, void *data)
{
	struct verify *v = data;
	unsigned char msg[AUDIT_KEYROLL_MSG_BYTES];
	const char *why;
	size_t len;
	void *p;
	int r;

	if (next_pubkey != NULL) {
		audit_keyroll_message(seq, hash, time_us, next_pubkey, msg);
		len = AUDIT_KEYROLL_MSG_BYTES;
	} else {
		audit_checkpoint_message(seq, hash, time_us, msg);
		len = AUDIT_CP_MSG_BYTES;
	}
	if (crypto_sign_verify_detached(sig, msg, len, pubkey) != 0)
		return bad(v, seq, next_pubkey ? "a key roll's signature does not verify"
					       : "a checkpoint's signature does not verify");
	if (!audit_trust_knows(&v->trust, pubkey))
		return bad(v, seq, "a checkpoint is signed by a key that is not this registry's");
	/*
	 * Checkpoints come in seq order: a key is trusted from its roll on,
	 * and the key it replaced up to that roll once the new one signs.
	 */
	r = audit_trust_checkpoint(&v->trust, seq, pubkey, next_pubkey, &why);
	if (r == -EPERM)
		return bad(v, seq, next_pubkey ? "a key roll is signed by a retired audit key"
					       : "a checkpoint is signed by a retired audit key");
	if (r < 0)
		return r;
	if ((p = realloc(v->cp_seq, (v->n_cp + 1) * sizeof(*v->cp_seq))) == NULL)
		return -ENOMEM;
	v->cp_seq = p;
	if ((p = realloc(v->cp_hash, (v->n_cp + 1) * sizeof(*v->cp_hash))) == NULL)
		return -ENOMEM;
	v->cp_hash = p;
	v->cp_seq[v->n_cp] = seq;
	memcpy(v->cp_hash[v->n_cp], hash, 32);
	v->n_cp++;
	v->checkpoints++;
	return 0;
}

static int verify_rec(const struct audit_fields *f, const unsigned char *prev,
		      const unsigned char *hash, void *data)
{
	struct vrange *r = data;
	const struct verify *v = r->v;
	unsigned char h[32];

	if (f->seq != r->expect_seq)
		return bad_range(r, r->expect_seq, f->seq > r->expect_seq ? "records are missing"
					       : "records are out of order or repeated");
	if (f->seq == r->from && r->from > 1) {
		/* Taken on trust here; stitching checks it against the range before. */
		memcpy(r->first_prev, prev, 32);
		memcpy(r->running, prev, 32);
	}
	/*
	 * Plain memcmp: these hashes are public (shipped with every record), so
	 * a constant-time compare protects nothing here and costs a tenth of
	 * the walk.
	 */
	if (memcmp(prev, r->running, 32) != 0)
		return bad_range(r, f->seq, "prev_hash does not match the previous record");
	audit_hash(r->running, f, h);
	if (memcmp(h, hash, 32) != 0)
		return bad_range(r, f->seq, "the record's content does not match its hash");
	while (r->cp_next < v->n_cp && v->cp_seq[r->cp_next] < f->seq)
		r->cp_next++;       /* a checkpoint for a record that does not exist is caught below */
	if (r->cp_next < v->n_cp && v->cp_seq[r->cp_next] == f->seq) {
		if (memcmp(v->cp_hash[r->cp_next], h, 32) != 0)
			return bad_range(r, f->seq, "a signed checkpoint disagrees with the chain");
		r->cp_next++;
	}
	memcpy(r->running, h, 32);
	r->expect_seq++;
	r->records++;
	return 0;
}

/* Below this many records the second connection and thread cost more than they save. */
#define AUDIT_VERIFY_SPLIT_MIN 20000

static void range_init(struct vrange *r, const struct verify *v, int64_t from, int64_t to)
{
	memset(r, 0, sizeof(*r));
	r->v = v;
	r->from = from;
	r->to = to;
	r->expect_seq = from;
	/* The first checkpoint at or after from. */
	while (r->cp_next < v->n_cp && v->cp_seq[r->cp_next] < from)
		r->cp_next++;
}

static int walk_range(struct store *s, struct vrange *r)
{
	int rc = store_audit_walk_range(s, r->from, r->to, verify_rec, NULL, r);

	/* A range that ends early lost its last records. */
	if (rc == 0 && r->expect_seq <= r->to)
		rc = bad_range(r, r->expect_seq, "records are missing");
	return rc;
}

static void *range_thread(void *arg)
{
	struct vrange *r = arg;
	struct store *s = NULL;

	r->result = store_open_private(r->db_path, r->keys, &s);
	if (r->result == 0)
		r->result = walk_range(s, r);
	store_close(s);
	return NULL;
}

/*
 * The checkpoints first, then the head: every checkpoint committed by then
 * covers a record at or below the head, so one above it means records were
 * cut off. Records appended after the head was read are left out.
 */
static int verify_start(struct store *s, const unsigned char (*pubkeys)[32], size_t n_pubkeys,
			struct verify *v, int64_t *ret_head)
{
	unsigned char hh[32];
	int r = 0;

	memset(v, 0, sizeof(*v));
	r = audit_trust_init(&v->trust, pubkeys, n_pubkeys);
	if (r == 0)
		r = store_audit_walk_range(s, 1, INT64_MAX, NULL, verify_cp, v);
	if (r == 0)
		r = store_audit_head(s, ret_head, hh);
	return r;
}

static int verify_finish(struct verify *v, struct vrange *ranges, size_t n, int r,
			 const unsigned char *current, struct audit_verify_result *ret)
{
	int64_t records = 0;

	/* The first range that found a problem has the first bad record. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (ranges[i].result < 0) {
			r = ranges[i].result;
			break;
		}
		records += ranges[i].records;
		/*
		 * The seam before the range comes first (its first record), unless
		 * the range's own problem is that very record (it is missing).
		 */
		if (i > 0 && !(ranges[i].result > 0 && ranges[i].first_bad == ranges[i].from) &&
		    memcmp(ranges[i].first_prev, ranges[i - 1].running, 32) != 0) {
			r = bad(v, ranges[i].from, "prev_hash does not match the previous record");
			break;
		}
		if (ranges[i].result > 0) {
			v->first_bad = ranges[i].first_bad;
			memcpy(v->problem, ranges[i].problem, sizeof(v->problem));
			r = 1;
			break;
		}
	}
	if (r == 0 && v->n_cp > 0 && n > 0 && v->cp_seq[v->n_cp - 1] > ranges[n - 1].to)
		r = bad(v, v->cp_seq[v->n_cp - 1], "a signed checkpoint covers records that are gone "
			"(the chain was truncated)");
	if (r == 0 && current != NULL && !audit_trust_knows(&v->trust, current))
		r = bad(v, n > 0 ? ranges[n - 1].to : 0, "the audit key in use was never announced by "
			"a key roll in the chain");
	free(v->cp_seq);
	free(v->cp_hash);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->ok = r == 0;
	ret->records = records;
	ret->checkpoints = v->checkpoints;
	ret->first_bad = v->first_bad;
	memcpy(ret->problem, v->problem, sizeof(ret->problem));
	return 0;
}

int audit_verify(struct store *s, const unsigned char (*pubkeys)[32], size_t n_pubkeys,
		 const unsigned char *current, struct audit_verify_result *ret)
{
	struct verify v;
	struct vrange range;
	int64_t head = 0;
	int r;

	r = verify_start(s, pubkeys, n_pubkeys, &v, &head);
	if (r != 0)
		return verify_finish(&v, NULL, 0, r, current, ret);
	range_init(&range, &v, 1, head);
	range.result = walk_range(s, &range);
	return verify_finish(&v, &range, 1, 0, current, ret);
}

int audit_verify_path(const char *db_path, const struct keys *k, struct audit_verify_result *ret)
{
	/* Trust starts from the first audit key; the rolls must lead to the one in use. */
	const unsigned char (*first)[32] = k->n_retired > 0 ? &k->retired_pk[0] : &k->sign_pk;
	struct vrange ranges[2];
	struct store *s = NULL;
	struct verify v;
	pthread_t th;
	int64_t head = 0, mid;
	bool threaded = false;
	int r;

	memset(&v, 0, sizeof(v));
	r = store_open_private(db_path, k, &s);
	if (r == 0)
		r = verify_start(s, first, 1, &v, &head);
	if (r != 0) {
		store_close(s);
		return verify_finish(&v, NULL, 0, r, k->sign_pk, ret);
	}
	/* Two halves on two connections, the second on a thread of its own. */
	mid = head / 2;
	range_init(&ranges[0], &v, 1, mid);
	range_init(&ranges[1], &v, mid + 1, head);
	ranges[1].db_path = db_path;
	ranges[1].keys = k;
	if (head >= AUDIT_VERIFY_SPLIT_MIN)
		threaded = pthread_create(&th, NULL, range_thread, &ranges[1]) == 0;
	ranges[0].result = walk_range(s, &ranges[0]);
	if (threaded)
		pthread_join(th, NULL);
	else if (ranges[0].result == 0)
		ranges[1].result = walk_range(s, &ranges[1]);
	store_close(s);
	return verify_finish(&v, ranges, 2, 0, k->sign_pk, ret);
}
