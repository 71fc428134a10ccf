/*
 * audit-report.c: "rosterctl audit report", the incident scope report an
 * investigator hands over after a suspected breach: is the trail intact,
 * which principals did what from which uids and pids, which clients'
 * records (and which field classes) left the registry, when, and which
 * alerts fired.
 *
 * How it is built:
 *   1. Status names the chain's head; the report covers records up to it
 *      (its own later calls, such as the name look-ups, stay out of it).
 *   2. Audit.Verify checks the whole chain and every signature in the
 *      database. With --log and --pubkey the shipped syslog-ng copy is
 *      checked too (audit_verify_log(), the code of "audit verify --log")
 *      and then compared with the database record by record, both streamed
 *      in sequence order: records missing on either side, or present on
 *      both with different hashes, are listed.
 *   3. Audit.Query is paged (ctl_audit_each(), at most 1000 records a
 *      call) and every record is folded into per-principal and per-client
 *      counters at once: memory grows with principals, distinct clients,
 *      methods and minutes, never with the number of records.
 *   4. For an admin, the affected clients' names and countries are fetched
 *      with Clients.Get (canaries from CanaryList, so that the report does
 *      not set off their alarm); those calls are audited like any other.
 *   5. The result is one JSON document (schema/audit-report.schema.json);
 *      the text and HTML forms are drawn from that document alone.
 *
 * What it must never do: put a string from the trail or a client record
 * into HTML unescaped or onto a terminal unfiltered (ctl_put_safe()), load
 * anything from outside the HTML file (no scripts, fonts or URLs), or
 * overwrite a file: --out creates a new file, 0600, and refuses links.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl/audit-verify.h"
#include "ctl/ctl.h"
#include "lib/audit-hash.h"

/* Alerts kept per principal; more are counted only. */
#define ALERTS_MAX 1000
/* Distinct pids kept per principal; more are counted as "and more". */
#define PIDS_MAX 1000
/* Ranges of missing sequence numbers and differing records listed. */
#define RANGES_MAX 1000
/* Distinct (principal, second) cells kept for a fine-grained chart. */
#define SECONDS_MAX 100000

/* ---- the aggregate --------------------------------------------------------------- */

struct princ {
	char *name;
	int64_t calls, records, first_us, last_us;
	json_t *methods;        /* method -> { result -> count } */
	json_t *results;        /* result -> count */
	json_t *clients;        /* id -> true: clients disclosed to it */
	json_t *fields;         /* field class -> true */
	json_t *uids;           /* "uid" -> true */
	json_t *pids;           /* "pid" -> true, at most PIDS_MAX */
	bool pids_more;
	json_t *alerts;         /* array of alert objects, at most ALERTS_MAX */
	int64_t alerts_total;
	json_t *minutes;        /* "epoch minute" -> { calls, alerts[] } */
	json_t *seconds;        /* "epoch second" -> count (for the chart), or NULL */
};

struct agg {
	int64_t head;           /* the last seq covered */
	int64_t matched, first_seq, last_seq;
	struct princ *p;
	size_t n, cap;
	json_t *index;          /* principal name -> index in p */
	json_t *clients;        /* id -> { reads, first, last, principals{} } */
	int64_t alerts;
	int64_t seconds_cells;
	bool fine;              /* per-second counts kept */
	int64_t t0_us, t1_us;   /* the first and last record's time */
};

static void fmt_time(int64_t us, char buf[32])
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	size_t n;

	if (us < 0 || gmtime_r(&s, &tm) == NULL ||
	    (n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm)) == 0 || n > 20) {
		snprintf(buf, 32, "-");
		return;
	}
	snprintf(buf + n, 32 - n, ".%06dZ", (int)(us % 1000000));
}

/* A minute or second as "2026-11-26T05:31:00Z". */
static void fmt_second(int64_t sec, char buf[32])
{
	time_t s = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&s, &tm) == NULL) {
		snprintf(buf, 32, "-");
		return;
	}
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The daemon's record time, "2026-11-26T05:31:12.123456Z", to µs; -1 if malformed. */
static int64_t parse_time(const char *s)
{
	int64_t us;

	return audit_time_parse(s, &us) == 0 ? us : -1;
}

/* counter[key] += n in a JSON object of integers. */
static int bump(json_t *obj, const char *key, int64_t n)
{
	json_t *v = json_object_get(obj, key);

	if (v != NULL)
		return json_integer_set(v, json_integer_value(v) + n);
	return json_object_set_new(obj, key, json_integer(n));
}

static int set_true(json_t *obj, const char *key)
{
	return json_object_get(obj, key) ? 0 : json_object_set_new(obj, key, json_true());
}

/* What one principal's aggregate holds (not the struct itself, which lives in an array). */
static void princ_free(struct princ *p)
{
	free(p->name);
	json_decref(p->methods);
	json_decref(p->results);
	json_decref(p->clients);
	json_decref(p->fields);
	json_decref(p->uids);
	json_decref(p->pids);
	json_decref(p->alerts);
	json_decref(p->minutes);
	json_decref(p->seconds);
}

static struct princ *princ_get(struct agg *a, const char *name)
{
	json_t *i = json_object_get(a->index, name);
	struct princ *p;

	if (i != NULL)
		return &a->p[json_integer_value(i)];
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct princ *np = realloc(a->p, cap * sizeof(*np));

		if (np == NULL)
			return NULL;
		a->p = np;
		a->cap = cap;
	}
	p = &a->p[a->n];
	memset(p, 0, sizeof(*p));
	p->name = strdup(name);
	p->methods = json_object();
	p->results = json_object();
	p->clients = json_object();
	p->fields = json_object();
	p->uids = json_object();
	p->pids = json_object();
	p->alerts = json_array();
	p->minutes = json_object();
	p->seconds = a->fine ? json_object() : NULL;
	p->first_us = INT64_MAX;
	p->last_us = INT64_MIN;
	if (p->name == NULL || p->methods == NULL || p->results == NULL || p->clients == NULL ||
	    p->fields == NULL || p->uids == NULL || p->pids == NULL || p->alerts == NULL ||
	    p->minutes == NULL || (a->fine && p->seconds == NULL) ||
	    json_object_set_new(a->index, name, json_integer((json_int_t)a->n)) < 0) {
		princ_free(p);
		return NULL;
	}
	a->n++;
	return p;
}

static void agg_free(struct agg *a)
{
	for (size_t i = 0; i < a->n; i++)
		princ_free(&a->p[i]);
	free(a->p);
	json_decref(a->index);
	json_decref(a->clients);
}

/* Too many cells for a per-second chart: drop them all; the chart uses minutes. */
static void drop_seconds(struct agg *a)
{
	a->fine = false;
	for (size_t i = 0; i < a->n; i++) {
		json_decref(a->p[i].seconds);
		a->p[i].seconds = NULL;
	}
}

/*
 * Fold one record of an Audit.Query reply into the aggregate. Returns 0,
 * 1 past the head (stop), or -1 (out of memory or a malformed record, with
 * the reason printed).
 */
static int fold(const json_t *rec, void *data)
{
	struct agg *a = data;
	int64_t seq = json_integer_value(json_object_get(rec, "seq"));
	const char *principal = json_string_value(json_object_get(rec, "principal"));
	const char *method = json_string_value(json_object_get(rec, "method"));
	const char *result = json_string_value(json_object_get(rec, "result"));
	const char *alert = json_string_value(json_object_get(rec, "alert"));
	const json_t *ids = json_object_get(rec, "ids");
	const json_t *fields = json_object_get(rec, "fields");
	int64_t records = json_integer_value(json_object_get(rec, "records"));
	int64_t t = parse_time(json_string_value(json_object_get(rec, "time")));
	char key[32];
	struct princ *p;
	json_t *m, *v;
	size_t i;
	int r = 0;

	if (seq > a->head)
		return 1;
	if (principal == NULL || method == NULL || result == NULL || alert == NULL ||
	    !json_is_array(ids) || !json_is_array(fields) || t < 0) {
		ctl_warnx("the daemon's audit record %" PRId64 " is malformed", seq);
		return -1;
	}
	p = princ_get(a, principal);
	if (p == NULL)
		goto nomem;
	if (a->matched == 0)
		a->first_seq = seq;
	a->matched++;
	a->last_seq = seq;
	if (a->t0_us == 0 || t < a->t0_us)
		a->t0_us = t;
	if (t > a->t1_us)
		a->t1_us = t;
	p->calls++;
	if (t < p->first_us)
		p->first_us = t;
	if (t > p->last_us)
		p->last_us = t;
	m = json_object_get(p->methods, method);
	if (m == NULL) {
		m = json_object();
		if (m == NULL || json_object_set_new(p->methods, method, m) < 0)
			goto nomem;
	}
	r |= bump(m, result, 1) | bump(p->results, result, 1);
	snprintf(key, sizeof(key), "%" PRId64, (int64_t)json_integer_value(json_object_get(rec, "uid")));
	r |= set_true(p->uids, key);
	snprintf(key, sizeof(key), "%" PRId64, (int64_t)json_integer_value(json_object_get(rec, "pid")));
	if (json_object_get(p->pids, key) == NULL) {
		if (json_object_size(p->pids) < PIDS_MAX)
			r |= set_true(p->pids, key);
		else
			p->pids_more = true;
	}

	/* A disclosure: a successful call that returned client records. */
	if (strcmp(result, "ok") == 0 && records > 0) {
		p->records += records;
		json_array_foreach(fields, i, v)
			if (json_is_string(v))
				r |= set_true(p->fields, json_string_value(v));
		json_array_foreach(ids, i, v) {
			const char *id = json_string_value(v);
			json_t *c;

			if (id == NULL)
				continue;
			r |= set_true(p->clients, id);
			c = json_object_get(a->clients, id);
			if (c == NULL) {
				c = json_pack("{s:I, s:I, s:I, s:{}}", "reads", (json_int_t)0,
					      "first", (json_int_t)t, "last", (json_int_t)t, "principals");
				if (c == NULL || json_object_set_new(a->clients, id, c) < 0)
					goto nomem;
			}
			r |= bump(c, "reads", 1);
			if (t < json_integer_value(json_object_get(c, "first")))
				r |= json_object_set_new(c, "first", json_integer(t));
			if (t > json_integer_value(json_object_get(c, "last")))
				r |= json_object_set_new(c, "last", json_integer(t));
			r |= set_true(json_object_get(c, "principals"), principal);
		}
	}

	/* The timeline: calls per minute, alerts marked. */
	snprintf(key, sizeof(key), "%" PRId64, t / 60000000);
	m = json_object_get(p->minutes, key);
	if (m == NULL) {
		m = json_pack("{s:I, s:[]}", "calls", (json_int_t)0, "alerts");
		if (m == NULL || json_object_set_new(p->minutes, key, m) < 0)
			goto nomem;
	}
	r |= bump(m, "calls", 1);
	if (*alert)
		r |= json_array_append_new(json_object_get(m, "alerts"), json_string(alert));
	if (a->fine) {
		snprintf(key, sizeof(key), "%" PRId64, t / 1000000);
		if (json_object_get(p->seconds, key) == NULL && ++a->seconds_cells > SECONDS_MAX)
			drop_seconds(a);
		else
			r |= bump(p->seconds, key, 1);
	}

	if (*alert) {
		a->alerts++;
		p->alerts_total++;
		if (json_array_size(p->alerts) < ALERTS_MAX) {
			char ts[32];

			fmt_time(t, ts);
			r |= json_array_append_new(p->alerts, json_pack(
				"{s:I, s:s, s:s, s:s, s:s, s:s?, s:O, s:O, s:O}",
				"seq", (json_int_t)seq, "time", ts, "alert", alert,
				"method", method, "result", result,
				"error", json_string_value(json_object_get(rec, "error")),
				"uid", json_object_get(rec, "uid"), "pid", json_object_get(rec, "pid"),
				"ids", ids));
		}
	}
	if (r != 0)
		goto nomem;
	return 0;
nomem:
	ctl_warnx("out of memory");
	return -1;
}

/* ---- comparing the shipped copy with the database ------------------------------ */

struct ranges {
	int64_t (*r)[2];
	size_t n;
	int64_t count;          /* sequence numbers in all ranges, listed or not */
	bool more;              /* ranges beyond RANGES_MAX were not listed */
};

static int ranges_add(struct ranges *rs, int64_t seq)
{
	rs->count++;
	if (rs->n > 0 && rs->r[rs->n - 1][1] == seq - 1) {
		rs->r[rs->n - 1][1] = seq;
		return 0;
	}
	if (rs->n == RANGES_MAX) {
		rs->more = true;
		return 0;
	}
	if (rs->r == NULL) {
		rs->r = calloc(RANGES_MAX, sizeof(*rs->r));
		if (rs->r == NULL)
			return -1;
	}
	rs->r[rs->n][0] = seq;
	rs->r[rs->n][1] = seq;
	rs->n++;
	return 0;
}

struct compare {
	struct audit_log_reader rd;
	struct audit_log_entry cur;
	bool have;
	int64_t head;
	int64_t log_max;        /* the highest seq taken from the file so far */
	int64_t beyond_head;    /* records in the file after the report's head */
	int64_t db_seen;
	struct ranges missing_log, missing_db, differing;
	int err;                /* a negative errno from reading the file */
	bool nomem;
};

/* The next record of the file in sequence order: re-deliveries are skipped. */
static int compare_advance(struct compare *c)
{
	for (;;) {
		int r;

		audit_log_entry_clear(&c->cur);
		c->have = false;
		r = audit_log_next_record(&c->rd, &c->cur);
		if (r <= 0)
			return r;
		if (c->cur.seq > c->head) {
			c->beyond_head++;
			continue;
		}
		if (c->cur.seq <= c->log_max)
			continue;       /* a re-delivery (or out of order: verify says so) */
		c->log_max = c->cur.seq;
		c->have = true;
		return 1;
	}
}

/* A JSON array of strings joined by single spaces, as the canonical encoding has them. */
static char *join_spaces(const json_t *arr)
{
	size_t n = 1, i;
	json_t *v;
	char *s, *p;

	json_array_foreach(arr, i, v)
		n += json_string_length(v) + 1;
	s = p = malloc(n);
	if (s == NULL)
		return NULL;
	*p = '\0';
	json_array_foreach(arr, i, v) {
		if (i > 0)
			*p++ = ' ';
		memcpy(p, json_string_value(v) ? json_string_value(v) : "", json_string_length(v));
		p += json_string_length(v);
		*p = '\0';
	}
	return s;
}

/*
 * The hash an Audit.Query record's fields and prev_hash give, as lower-case
 * hex in out. Returns 0, -EINVAL for a malformed record (out is then
 * empty and matches nothing), or -ENOMEM.
 */
static int db_record_hash(const json_t *rec, char out[65])
{
	unsigned char prev[32], h[32];
	const char *prev_hex = json_string_value(json_object_get(rec, "prev_hash"));
	struct audit_fields f = {
		.seq = json_integer_value(json_object_get(rec, "seq")),
		.time_us = parse_time(json_string_value(json_object_get(rec, "time"))),
		.principal = json_string_value(json_object_get(rec, "principal")),
		.uid = json_integer_value(json_object_get(rec, "uid")),
		.gid = json_integer_value(json_object_get(rec, "gid")),
		.pid = json_integer_value(json_object_get(rec, "pid")),
		.role = json_string_value(json_object_get(rec, "role")),
		.method = json_string_value(json_object_get(rec, "method")),
		.records = json_integer_value(json_object_get(rec, "records")),
		.result = json_string_value(json_object_get(rec, "result")),
		.error = json_string_value(json_object_get(rec, "error")),
		.alert = json_string_value(json_object_get(rec, "alert")),
	};
	char *ids, *fields;
	int r = -ENOMEM;

	out[0] = '\0';
	if (prev_hex == NULL || sodium_hex2bin(prev, sizeof(prev), prev_hex, strlen(prev_hex), NULL,
					       NULL, NULL) != 0 || f.principal == NULL ||
	    f.role == NULL || f.method == NULL || f.result == NULL || f.error == NULL ||
	    f.alert == NULL || f.time_us < 0)
		return -EINVAL;
	ids = join_spaces(json_object_get(rec, "ids"));
	fields = join_spaces(json_object_get(rec, "fields"));
	if (ids != NULL && fields != NULL) {
		f.ids = ids;
		f.fields = fields;
		audit_hash(prev, &f, h);
		sodium_bin2hex(out, 65, h, sizeof(h));
		r = 0;
	}
	free(ids);
	free(fields);
	return r;
}

static int compare_db(const json_t *rec, void *data)
{
	struct compare *c = data;
	int64_t seq = json_integer_value(json_object_get(rec, "seq"));
	const char *hash = json_string_value(json_object_get(rec, "hash"));
	char hex[65];

	if (seq > c->head)
		return 1;
	c->db_seen++;
	while (c->have && c->cur.seq < seq) {
		c->nomem = ranges_add(&c->missing_db, c->cur.seq) < 0;
		if (c->nomem || (c->err = compare_advance(c)) < 0)
			return -1;
	}
	if (c->have && c->cur.seq == seq) {
		unsigned char h[32];
		char hex2[65], hex3[65];

		/*
		 * The hashes both copies state, and those their fields give,
		 * must all be one: a record edited in place (in the file or in
		 * the database) keeps its old stated hash.
		 */
		audit_log_entry_hash(&c->cur, h);
		sodium_bin2hex(hex, sizeof(hex), c->cur.hash, sizeof(c->cur.hash));
		sodium_bin2hex(hex2, sizeof(hex2), h, sizeof(h));
		if (db_record_hash(rec, hex3) == -ENOMEM) {
			c->nomem = true;
			return -1;
		}
		if ((hash == NULL || strcmp(hex, hash) != 0 || strcmp(hex2, hash) != 0 ||
		     strcmp(hex3, hash) != 0) &&
		    (c->nomem = ranges_add(&c->differing, seq) < 0))
			return -1;
		if ((c->err = compare_advance(c)) < 0)
			return -1;
		return 0;
	}
	c->nomem = ranges_add(&c->missing_log, seq) < 0;
	return c->nomem ? -1 : 0;
}

static json_t *ranges_json(const struct ranges *rs, int64_t lo_cut, int64_t hi_cut)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < rs->n; i++) {
		int64_t lo = rs->r[i][0] > lo_cut ? rs->r[i][0] : lo_cut;
		int64_t hi = rs->r[i][1] < hi_cut ? rs->r[i][1] : hi_cut;

		if (lo <= hi && json_array_append_new(a, json_pack("[I, I]", (json_int_t)lo,
								   (json_int_t)hi)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int64_t ranges_count(const struct ranges *rs, int64_t lo_cut, int64_t hi_cut)
{
	int64_t n = 0;

	for (size_t i = 0; i < rs->n; i++) {
		int64_t lo = rs->r[i][0] > lo_cut ? rs->r[i][0] : lo_cut;
		int64_t hi = rs->r[i][1] < hi_cut ? rs->r[i][1] : hi_cut;

		if (lo <= hi)
			n += hi - lo + 1;
	}
	return n;
}

/*
 * Check the shipped copy and compare it with the database's records 1..head.
 * shipped is the daemon's own account of what it delivered (-1: unknown).
 * Returns the "shipped" member of the report, or NULL with the reason
 * printed. *ret_ok says whether it speaks for an intact trail; *ret_why
 * is a sentence for the verdict when not.
 */
static json_t *check_log(struct ctl_ctx *ctx, const char *log_path, const char *pk_path,
			 int64_t head, int64_t shipped, bool *ret_ok, char *why, size_t why_size)
{
	struct audit_verify_report rep;
	struct compare c;
	unsigned char pk[AUDIT_PUBKEYS_MAX][32];
	size_t n_pk = 0;
	json_t *params = NULL, *o = NULL, *tail;
	int64_t missing, tail_missing, unshipped_hi;
	FILE *f;
	int r;

	memset(&c, 0, sizeof(c));
	r = audit_pubkeys_load(pk_path, pk, AUDIT_PUBKEYS_MAX, &n_pk);
	if (r < 0) {
		ctl_warnx("%s: %s", pk_path, r == -EINVAL
			  ? "not audit public keys (64 hex digits, one per line)" : strerror(-r));
		return NULL;
	}
	f = audit_file_open(log_path);
	if (f == NULL) {
		ctl_warnx("%s: %s", log_path, strerror(errno));
		return NULL;
	}
	r = audit_verify_log_keys(f, (const unsigned char (*)[32])pk, n_pk, NULL, &rep);
	if (r < 0) {
		ctl_warnx("%s: %s", log_path, strerror(-r));
		goto out;
	}
	/* Then the same file again, record by record beside the database's. */
	rewind(f);
	c.rd.f = f;
	c.head = head;
	params = json_object();
	if (params == NULL || (c.err = compare_advance(&c)) < 0 ||
	    ctl_audit_each(ctx, params, 0, compare_db, &c) < 0) {
		/* A failed call was reported by ctl_audit_each(); the file and memory are ours. */
		if (c.err < 0)
			ctl_warnx("%s: %s", log_path, strerror(-c.err));
		else if (params == NULL || c.nomem)
			ctl_warnx("out of memory");
		goto out;
	}
	while (c.have) {
		if (ranges_add(&c.missing_db, c.cur.seq) < 0 || (c.err = compare_advance(&c)) < 0) {
			ctl_warnx("%s: %s", log_path, c.err < 0 ? strerror(-c.err) : "out of memory");
			goto out;
		}
	}
	/*
	 * Records after the file's last one are either not shipped yet or cut
	 * off. The daemon knows how far it has delivered: missing up to there
	 * is loss, beyond it is lag.
	 */
	unshipped_hi = shipped >= 0 && shipped >= c.log_max ? shipped : c.log_max;
	missing = ranges_count(&c.missing_log, 1, unshipped_hi);
	tail_missing = ranges_count(&c.missing_log, unshipped_hi + 1, head);
	tail = tail_missing > 0 ? json_pack("[I, I]", (json_int_t)(unshipped_hi + 1), (json_int_t)head)
				: json_null();
	o = audit_verify_report_json(&rep);
	if (o == NULL || tail == NULL ||
	    json_object_set_new(o, "file", json_string(log_path)) < 0 ||
	    json_object_set_new(o, "compared_through", json_integer(head)) < 0 ||
	    json_object_set_new(o, "copy_last_seq", json_integer(c.log_max)) < 0 ||
	    json_object_set_new(o, "daemon_shipped", shipped >= 0 ? json_integer(shipped)
								     : json_null()) < 0 ||
	    json_object_set_new(o, "missing_in_log", ranges_json(&c.missing_log, 1, unshipped_hi)) < 0 ||
	    json_object_set_new(o, "missing_in_log_count", json_integer(missing)) < 0 ||
	    json_object_set_new(o, "missing_in_database",
				ranges_json(&c.missing_db, 1, INT64_MAX)) < 0 ||
	    json_object_set_new(o, "missing_in_database_count",
				json_integer(c.missing_db.count)) < 0 ||
	    json_object_set_new(o, "differing", ranges_json(&c.differing, 1, INT64_MAX)) < 0 ||
	    json_object_set_new(o, "differing_count", json_integer(c.differing.count)) < 0 ||
	    json_object_set_new(o, "not_yet_shipped", tail) < 0 ||
	    json_object_set_new(o, "lists_truncated", json_boolean(c.missing_log.more ||
								   c.missing_db.more ||
								   c.differing.more)) < 0) {
		ctl_warnx("out of memory");
		json_decref(o);
		o = NULL;
		goto out;
	}
	*ret_ok = rep.ok && missing == 0 && c.missing_db.count == 0 && c.differing.count == 0;
	if (!rep.ok)
		snprintf(why, why_size, "the shipped copy does not verify: %s", rep.reason);
	else if (c.differing.count > 0)
		snprintf(why, why_size, "%" PRId64 " records differ between the database and the "
			 "shipped copy (the first at seq %" PRId64 ")", c.differing.count,
			 c.differing.r[0][0]);
	else if (ranges_count(&c.missing_log, 1, c.log_max) > 0)
		snprintf(why, why_size, "%" PRId64 " records of the database are missing from the "
			 "shipped copy (the first at seq %" PRId64 ")",
			 ranges_count(&c.missing_log, 1, c.log_max), c.missing_log.r[0][0]);
	else if (missing > 0)
		snprintf(why, why_size, "the shipped copy ends at seq %" PRId64 " but the daemon has "
			 "delivered records up to seq %" PRId64 ": %" PRId64 " records were cut off "
			 "(or the copy is older than this report)", c.log_max, unshipped_hi, missing);
	else if (c.missing_db.count > 0)
		snprintf(why, why_size, "%" PRId64 " records of the shipped copy are missing from "
			 "the database (the first at seq %" PRId64 ")", c.missing_db.count,
			 c.missing_db.r[0][0]);
out:
	audit_log_entry_clear(&c.cur);
	audit_log_reader_clear(&c.rd);
	free(c.missing_log.r);
	free(c.missing_db.r);
	free(c.differing.r);
	json_decref(params);
	fclose(f);
	return o;
}

/* ---- building the document ----------------------------------------------------- */

static int cmp_int_keys(const void *x, const void *y)
{
	int64_t a = strtoll(*(const char *const *)x, NULL, 10);
	int64_t b = strtoll(*(const char *const *)y, NULL, 10);

	return a < b ? -1 : a > b;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys of obj, sorted numerically (numeric) or as strings; NULL without memory. */
static const char **sorted_keys(const json_t *obj, bool numeric)
{
	const char **k = calloc(json_object_size(obj) + 1, sizeof(*k));
	const char *key;
	json_t *v;
	size_t n = 0;

	if (k == NULL)
		return NULL;
	json_object_foreach((json_t *)obj, key, v)
		k[n++] = key;
	qsort(k, n, sizeof(*k), numeric ? cmp_int_keys : cmp_str);
	return k;
}

/* An array of the (sorted) keys of a set, as integers or strings. */
static json_t *set_array(const json_t *set, bool numeric)
{
	const char **k = sorted_keys(set, numeric);
	json_t *a = json_array();

	for (size_t i = 0; k != NULL && a != NULL && k[i] != NULL; i++)
		json_array_append_new(a, numeric ? json_integer(strtoll(k[i], NULL, 10))
						 : json_string(k[i]));
	if (k == NULL) {
		json_decref(a);
		a = NULL;
	}
	free(k);
	return a;
}

/* Field classes in the order of the design (identity contact commercial internal), then others. */
static json_t *fields_array(const json_t *set)
{
	static const char *const order[] = { "identity", "contact", "commercial", "internal" };
	json_t *a = json_array(), *rest = set_array(set, false), *v;
	size_t i;

	if (a == NULL || rest == NULL) {
		json_decref(a);
		json_decref(rest);
		return NULL;
	}
	for (i = 0; i < 4; i++)
		if (json_object_get(set, order[i]))
			json_array_append_new(a, json_string(order[i]));
	json_array_foreach(rest, i, v) {
		bool known = false;

		for (size_t j = 0; j < 4; j++)
			known |= strcmp(json_string_value(v), order[j]) == 0;
		if (!known)
			json_array_append(a, v);
	}
	json_decref(rest);
	return a;
}

static json_t *princ_json(const struct princ *p)
{
	char first[32], last[32];
	const char **mk = sorted_keys(p->methods, false);
	json_t *by = json_array(), *o;

	fmt_time(p->first_us, first);
	fmt_time(p->last_us, last);
	for (size_t i = 0; mk != NULL && by != NULL && mk[i] != NULL; i++) {
		json_t *m = json_object_get(p->methods, mk[i]);
		const char **rk = sorted_keys(m, false);

		for (size_t j = 0; rk != NULL && rk[j] != NULL; j++)
			json_array_append_new(by, json_pack("{s:s, s:s, s:O}", "method", mk[i],
							    "result", rk[j], "calls",
							    json_object_get(m, rk[j])));
		free(rk);
	}
	free(mk);
	o = json_pack("{s:s, s:I, s:O, s:o, s:I, s:I, s:o, s:s, s:s, s:o, s:o, s:b, s:I, s:O}",
		      "name", p->name, "calls", (json_int_t)p->calls, "calls_by_result", p->results,
		      "calls_by_method", by,
		      "clients_disclosed", (json_int_t)json_object_size(p->clients),
		      "records_returned", (json_int_t)p->records,
		      "fields_disclosed", fields_array(p->fields),
		      "first_access", first, "last_access", last,
		      "uids", set_array(p->uids, true), "pids", set_array(p->pids, true),
		      "pids_truncated", p->pids_more,
		      "alerts_total", (json_int_t)p->alerts_total, "alerts", p->alerts);
	return o;
}

struct names {
	bool admin;             /* names and countries fetched */
	char mode_reason[256];
	int64_t lookups;
	json_t *canaries;       /* id -> { name, country } from CanaryList */
};

/* name and country of a client for an admin: from CanaryList, else Clients.Get. */
static int lookup_client(struct ctl_ctx *ctx, struct names *nm, const char *id, json_t *out)
{
	json_t *params, *reply = NULL, *c, *cl;
	const char *err;

	c = json_object_get(nm->canaries, id);
	if (c != NULL) {
		json_object_set(out, "name", json_object_get(c, "name"));
		json_object_set(out, "country", json_object_get(c, "country"));
		json_object_set_new(out, "canary", json_true());
		return 0;
	}
	params = json_pack("{s:s}", "id", id);
	if (params == NULL)
		return -1;
	nm->lookups++;
	if (roster_call(ctx->r, "io.roster.Clients.Get", params, &reply) < 0) {
		json_decref(params);
		err = roster_error_name(ctx->r);
		if (err != NULL && strcmp(err, "io.roster.NotFound") == 0) {
			/* Deleted since it was read: the id is all there is. */
			json_object_set_new(out, "deleted", json_true());
			return 0;
		}
		ctl_fail(ctx);
		return -1;
	}
	json_decref(params);
	cl = json_object_get(reply, "client");
	json_object_set(out, "name", json_object_get(cl, "name"));
	json_object_set(out, "country", json_object_get(cl, "country"));
	json_decref(reply);
	return 0;
}

static int cmp_client_first(const void *x, const void *y)
{
	const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	int64_t fa = json_integer_value(json_object_get(a, "first_us"));
	int64_t fb = json_integer_value(json_object_get(b, "first_us"));

	if (fa != fb)
		return fa < fb ? -1 : 1;
	return strcmp(json_string_value(json_object_get(a, "id")),
		      json_string_value(json_object_get(b, "id")));
}

/* The affected clients, in the order they were first read. */
static json_t *clients_json(struct ctl_ctx *ctx, const struct agg *a, struct names *nm)
{
	size_t n = json_object_size(a->clients), i = 0;
	json_t **v = calloc(n + 1, sizeof(*v)), *arr = json_array(), *c;
	const char *id;

	if (v == NULL || arr == NULL)
		goto fail;
	json_object_foreach(a->clients, id, c) {
		char first[32], last[32];

		fmt_time(json_integer_value(json_object_get(c, "first")), first);
		fmt_time(json_integer_value(json_object_get(c, "last")), last);
		v[i] = json_pack("{s:s, s:o, s:O, s:s, s:s, s:O}", "id", id,
				 "principals", set_array(json_object_get(c, "principals"), false),
				 "reads", json_object_get(c, "reads"), "first_read", first,
				 "last_read", last, "first_us", json_object_get(c, "first"));
		if (v[i] == NULL)
			goto fail;
		i++;
	}
	qsort(v, n, sizeof(*v), cmp_client_first);
	for (i = 0; i < n; i++) {
		json_object_del(v[i], "first_us");
		if (nm->admin && lookup_client(ctx, nm, json_string_value(json_object_get(v[i], "id")),
					       v[i]) < 0)
			goto fail;
		json_array_append_new(arr, v[i]);
		v[i] = NULL;
	}
	free(v);
	return arr;
fail:
	for (i = 0; v != NULL && i < n; i++)
		json_decref(v[i]);
	free(v);
	json_decref(arr);
	return NULL;
}

/* The timeline: per principal, calls per minute (sparse), and every alert. */
static json_t *timeline_json(const struct agg *a, bool fine)
{
	json_t *series = json_array(), *alerts = json_array(), *o;

	for (size_t i = 0; series != NULL && i < a->n; i++) {
		const struct princ *p = &a->p[i];
		const char **k = sorted_keys(p->minutes, true);
		json_t *pts = json_array(), *al;
		size_t j, x;

		for (j = 0; k != NULL && pts != NULL && k[j] != NULL; j++) {
			json_t *m = json_object_get(p->minutes, k[j]);
			char ts[32];

			fmt_second(strtoll(k[j], NULL, 10) * 60, ts);
			json_array_append_new(pts, json_pack("{s:s, s:O, s:O}", "minute", ts,
							     "calls", json_object_get(m, "calls"),
							     "alerts", json_object_get(m, "alerts")));
		}
		free(k);
		o = json_pack("{s:s, s:o}", "principal", p->name, "minutes", pts);
		if (fine && p->seconds != NULL) {
			const char **sk = sorted_keys(p->seconds, true);
			json_t *sec = json_array();

			for (j = 0; sk != NULL && sec != NULL && sk[j] != NULL; j++)
				json_array_append_new(sec, json_pack(
					"[I, O]", (json_int_t)strtoll(sk[j], NULL, 10),
					json_object_get(p->seconds, sk[j])));
			free(sk);
			json_object_set_new(o, "seconds", sec);
		}
		json_array_append_new(series, o);
		json_array_foreach(p->alerts, x, al)
			json_array_append_new(alerts, json_pack("{s:s, s:O, s:O, s:O}", "principal",
								p->name, "time", json_object_get(al, "time"),
								"alert", json_object_get(al, "alert"),
								"seq", json_object_get(al, "seq")));
	}
	return json_pack("{s:s, s:o, s:o}", "unit", "minute", "series", series, "alerts", alerts);
}

/* ---- text ------------------------------------------------------------------------ */

static void put_padded(FILE *f, const char *s, size_t width, bool last)
{
	size_t n = ctl_put_safe(f, s ? s : "-");

	if (!last)
		for (; n < width + 2; n++)
			fputc(' ', f);
}

/* An aligned table of strings (cells row-major), indented by two spaces. */
static void put_table(FILE *f, size_t ncols, const char *const *headers, const char **cells,
		      size_t nrows)
{
	size_t w[16] = { 0 };

	for (size_t c = 0; c < ncols; c++) {
		w[c] = strlen(headers[c]);
		for (size_t r = 0; r < nrows; r++) {
			const char *s = cells[r * ncols + c];
			size_t l = s ? strlen(s) : 1;

			if (l > w[c])
				w[c] = l;
		}
	}
	fputs("  ", f);
	for (size_t c = 0; c < ncols; c++)
		put_padded(f, headers[c], w[c], c + 1 == ncols);
	fputc('\n', f);
	for (size_t r = 0; r < nrows; r++) {
		fputs("  ", f);
		for (size_t c = 0; c < ncols; c++)
			put_padded(f, cells[r * ncols + c], w[c], c + 1 == ncols);
		fputc('\n', f);
	}
}

/* A JSON array of strings or integers joined by sep into buf (truncated with "..."). */
static const char *join(const json_t *arr, const char *sep, char *buf, size_t size)
{
	size_t i, used = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		char num[32];
		const char *s = json_is_integer(v) ? num : json_string_value(v);
		int n;

		if (json_is_integer(v))
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		n = snprintf(buf + used, size - used, "%s%s", i ? sep : "", s ? s : "?");
		if (n < 0 || (size_t)n >= size - used) {
			if (size > 4)
				strcpy(buf + size - 4, "...");
			break;
		}
		used += (size_t)n;
	}
	if (i == 0 && size > 1)
		strcpy(buf, "-");
	return buf;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

/* --since/--until for people: Unix seconds shown as a UTC time, anything else as given. */
static const char *scope_time(const json_t *scope, const char *key, char buf[32])
{
	const char *s = jstr(scope, key);
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 12 || s[n] != '\0')
		return s;
	fmt_second(strtoll(s, NULL, 10), buf);
	return buf;
}

static void put_line(FILE *f, const char *label, const char *value)
{
	fputs(label, f);
	ctl_put_safe(f, value);
	fputc('\n', f);
}

static int render_text(FILE *f, const json_t *doc)
{
	const json_t *integ = json_object_get(doc, "integrity");
	const json_t *scope = json_object_get(doc, "scope");
	const json_t *sum = json_object_get(doc, "summary");
	const json_t *names = json_object_get(doc, "names");
	const json_t *pr, *p, *cl, *c, *sh;
	char buf[4096], tbuf[32];
	size_t i, j;

	/* The verdict, always the first line. */
	fprintf(f, "INTEGRITY: %s: ", jstr(integ, "verdict_label"));
	ctl_put_safe(f, jstr(integ, "summary"));
	fputc('\n', f);
	fputc('\n', f);
	put_line(f, "Roster incident scope report, generated ", jstr(doc, "generated"));
	fputs("Scope: principal ", f);
	ctl_put_safe(f, json_is_string(json_object_get(scope, "principal")) ? jstr(scope, "principal")
									    : "(all)");
	fputs(", since ", f);
	ctl_put_safe(f, scope_time(scope, "since", tbuf));
	fputs(", until ", f);
	ctl_put_safe(f, scope_time(scope, "until", tbuf));
	fprintf(f, "; %" JSON_INTEGER_FORMAT " matching records of seq 1..%" JSON_INTEGER_FORMAT "\n",
		json_integer_value(json_object_get(scope, "records")),
		json_integer_value(json_object_get(scope, "head_seq")));
	put_line(f, "", jstr(names, "explanation"));
	fprintf(f, "Affected clients: %" JSON_INTEGER_FORMAT "; alerts: %" JSON_INTEGER_FORMAT
		"; principals involved: ", json_integer_value(json_object_get(sum, "affected_clients")),
		json_integer_value(json_object_get(sum, "alerts")));
	ctl_put_safe(f, join(json_object_get(sum, "principals"), ", ", buf, sizeof(buf)));
	fputc('\n', f);

	fputs("\nINTEGRITY\n", f);
	p = json_object_get(integ, "database");
	if (json_is_true(json_object_get(p, "checked")))
		fprintf(f, "  database: %s, %" JSON_INTEGER_FORMAT " records, %" JSON_INTEGER_FORMAT
			" checkpoints verified\n", json_is_true(json_object_get(p, "ok")) ? "ok" : "FAILED",
			json_integer_value(json_object_get(p, "records")),
			json_integer_value(json_object_get(p, "checkpoints")));
	else
		put_line(f, "  database: not verified: ", jstr(p, "error"));
	if (json_is_integer(json_object_get(p, "first_bad")))
		fprintf(f, "  database: first bad seq %" JSON_INTEGER_FORMAT " (%s)\n",
			json_integer_value(json_object_get(p, "first_bad")), jstr(p, "problem"));
	sh = json_object_get(integ, "shipped");
	if (json_is_object(sh)) {
		put_line(f, "  shipped copy: ", jstr(sh, "file"));
		fprintf(f, "  shipped copy: %s, %" JSON_INTEGER_FORMAT " records, %" JSON_INTEGER_FORMAT
			" checkpoints verified\n", json_is_true(json_object_get(sh, "ok")) ? "ok" : "FAILED",
			json_integer_value(json_object_get(sh, "records")),
			json_integer_value(json_object_get(sh, "checkpoints")));
		if (!json_is_true(json_object_get(sh, "ok")))
			put_line(f, "  shipped copy: ", jstr(sh, "reason"));
		static const char *const lists[][2] = {
			{ "missing_in_log", "missing from the shipped copy" },
			{ "missing_in_database", "missing from the database" },
			{ "differing", "different in the two copies" },
		};
		for (i = 0; i < 3; i++) {
			const json_t *l = json_object_get(sh, lists[i][0]), *r;
			char key[64];

			snprintf(key, sizeof(key), "%s_count", lists[i][0]);
			fprintf(f, "  records %s: %" JSON_INTEGER_FORMAT, lists[i][1],
				json_integer_value(json_object_get(sh, key)));
			json_array_foreach(l, j, r)
				fprintf(f, "%s%" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT,
					j ? ", " : " (seq ", json_integer_value(json_array_get(r, 0)),
					json_integer_value(json_array_get(r, 1)));
			fputs(json_array_size(l) ? ")\n" : "\n", f);
		}
		if (json_is_array(json_object_get(sh, "not_yet_shipped")))
			fprintf(f, "  not in the copy, and not shipped yet by the daemon's account: seq %"
				JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT "\n",
				json_integer_value(json_array_get(json_object_get(sh, "not_yet_shipped"), 0)),
				json_integer_value(json_array_get(json_object_get(sh, "not_yet_shipped"), 1)));
		if (json_integer_value(json_object_get(sh, "unsigned_tail")) > 0)
			fprintf(f, "  note: the copy's last %" JSON_INTEGER_FORMAT " records are not signed "
				"yet\n", json_integer_value(json_object_get(sh, "unsigned_tail")));
	} else {
		fputs("  shipped copy: not compared (no --log)\n", f);
	}

	pr = json_object_get(doc, "principals");
	json_array_foreach(pr, i, p) {
		const json_t *by = json_object_get(p, "calls_by_method"), *m, *al = json_object_get(p, "alerts");
		const char **cells;

		fputs("\nPRINCIPAL ", f);
		ctl_put_safe(f, jstr(p, "name"));
		fprintf(f, "\n  calls: %" JSON_INTEGER_FORMAT "  clients disclosed: %" JSON_INTEGER_FORMAT
			"  records returned: %" JSON_INTEGER_FORMAT "  alerts: %" JSON_INTEGER_FORMAT "\n",
			json_integer_value(json_object_get(p, "calls")),
			json_integer_value(json_object_get(p, "clients_disclosed")),
			json_integer_value(json_object_get(p, "records_returned")),
			json_integer_value(json_object_get(p, "alerts_total")));
		put_line(f, "  field classes disclosed: ",
			 join(json_object_get(p, "fields_disclosed"), " ", buf, sizeof(buf)));
		fputs("  first access: ", f);
		ctl_put_safe(f, jstr(p, "first_access"));
		put_line(f, "  last access: ", jstr(p, "last_access"));
		put_line(f, "  uids: ", join(json_object_get(p, "uids"), " ", buf, sizeof(buf)));
		put_line(f, "  pids: ", join(json_object_get(p, "pids"), " ", buf, sizeof(buf)));
		cells = calloc(json_array_size(by) * 3 + json_array_size(al) * 6 + 1, sizeof(*cells));
		if (cells == NULL)
			return -1;
		{
			static const char *const h[] = { "METHOD", "RESULT", "CALLS" };
			char (*num)[24] = calloc(json_array_size(by) + json_array_size(al) * 3 + 1,
						 sizeof(*num));

			if (num == NULL) {
				free(cells);
				return -1;
			}
			json_array_foreach(by, j, m) {
				const char *meth = jstr(m, "method");

				cells[j * 3] = *meth ? meth : "(not a call)";
				cells[j * 3 + 1] = jstr(m, "result");
				snprintf(num[j], 24, "%" JSON_INTEGER_FORMAT,
					 json_integer_value(json_object_get(m, "calls")));
				cells[j * 3 + 2] = num[j];
			}
			put_table(f, 3, h, cells, json_array_size(by));
			if (json_array_size(al) > 0) {
				static const char *const ha[] = { "TIME", "ALERT", "METHOD", "UID", "PID", "SEQ" };
				size_t base = json_array_size(by);

				fputs("  alerts:\n", f);
				json_array_foreach(al, j, m) {
					const char **row = cells + j * 6;

					row[0] = jstr(m, "time");
					row[1] = jstr(m, "alert");
					row[2] = jstr(m, "method");
					snprintf(num[base + j * 3], 24, "%" JSON_INTEGER_FORMAT,
						 json_integer_value(json_object_get(m, "uid")));
					snprintf(num[base + j * 3 + 1], 24, "%" JSON_INTEGER_FORMAT,
						 json_integer_value(json_object_get(m, "pid")));
					snprintf(num[base + j * 3 + 2], 24, "%" JSON_INTEGER_FORMAT,
						 json_integer_value(json_object_get(m, "seq")));
					row[3] = num[base + j * 3];
					row[4] = num[base + j * 3 + 1];
					row[5] = num[base + j * 3 + 2];
				}
				put_table(f, 6, ha, cells, json_array_size(al));
			}
			free(num);
		}
		free(cells);
	}

	fputs("\nTIMELINE (calls per minute; * an alert in that minute)\n", f);
	{
		const json_t *series = json_object_get(json_object_get(doc, "timeline"), "series"), *s, *pt;

		json_array_foreach(series, i, s) {
			json_array_foreach(json_object_get(s, "minutes"), j, pt) {
				const json_t *al = json_object_get(pt, "alerts");

				fputs("  ", f);
				ctl_put_safe(f, jstr(pt, "minute"));
				fputs("  ", f);
				ctl_put_safe(f, jstr(s, "principal"));
				fprintf(f, "  %" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(pt, "calls")));
				if (json_array_size(al) > 0) {
					fputs("  * ", f);
					ctl_put_safe(f, join(al, " ", buf, sizeof(buf)));
				}
				fputc('\n', f);
			}
		}
	}

	cl = json_object_get(doc, "clients");
	fprintf(f, "\nAFFECTED CLIENTS (%zu)\n", json_array_size(cl));
	if (json_array_size(cl) > 0) {
		static const char *const h[] = { "ID", "NAME", "COUNTRY", "READ BY", "READS", "FIRST", "LAST" };
		const char **cells = calloc(json_array_size(cl) * 7 + 1, sizeof(*cells));
		char (*num)[24] = calloc(json_array_size(cl) + 1, sizeof(*num));
		char (*by)[256] = calloc(json_array_size(cl) + 1, sizeof(*by));

		if (cells == NULL || num == NULL || by == NULL) {
			free(cells);
			free(num);
			free(by);
			return -1;
		}
		json_array_foreach(cl, i, c) {
			const char **row = cells + i * 7;
			bool admin = json_is_true(json_object_get(names, "shown"));

			row[0] = jstr(c, "id");
			row[1] = !admin ? "(hidden)" : json_is_true(json_object_get(c, "deleted"))
				? "(deleted)" : jstr(c, "name");
			row[2] = admin ? jstr(c, "country") : "(hidden)";
			row[3] = join(json_object_get(c, "principals"), ",", by[i], sizeof(by[i]));
			snprintf(num[i], 24, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(c, "reads")));
			row[4] = num[i];
			row[5] = jstr(c, "first_read");
			row[6] = jstr(c, "last_read");
		}
		put_table(f, 7, h, cells, json_array_size(cl));
		free(cells);
		free(num);
		free(by);
	}
	return ferror(f) ? -1 : 0;
}

/* ---- HTML -------------------------------------------------------------------------- */

/*
 * Text from the trail or a client record, escaped for HTML element content
 * and attribute values alike; control characters are shown as \xNN.
 */
static void put_html(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : "-"); *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\x%02x", *p);
			else
				fputc(*p, f);
		}
	}
}

static void put_html_int(FILE *f, const json_t *v)
{
	fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
}

/* Colours for principals in the chart and its legend; alerts are red. */
static const char *const palette[] = {
	"#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#64748b",
};
#define PALETTE_N (sizeof(palette) / sizeof(palette[0]))

static const char css[] =
	":root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--soft:#f4f6f9;--ok:#15803d;"
	"--bad:#b91c1c;--unk:#b45309}"
	"*{box-sizing:border-box}"
	"body{margin:0;background:#eef1f5;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"
	"'Segoe UI',Roboto,'Helvetica Neue','DejaVu Sans',Arial,sans-serif}"
	"main{max-width:1120px;margin:24px auto;background:#fff;padding:32px 40px;"
	"border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08)}"
	"header{border-bottom:2px solid var(--ink);padding-bottom:12px;margin-bottom:20px}"
	"h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;"
	"border-bottom:1px solid var(--line)}h3{font-size:15px;margin:18px 0 8px}"
	".meta{color:var(--muted);font-size:12.5px}.meta b{color:var(--ink);font-weight:600}"
	".summary{border:1px solid var(--line);border-left:8px solid var(--unk);border-radius:8px;"
	"padding:16px 20px;display:grid;grid-template-columns:1.3fr 2fr;gap:18px;"
	"break-inside:avoid}"
	".summary.ok{border-left-color:var(--ok)}.summary.bad{border-left-color:var(--bad);"
	"background:#fff5f5}"
	".verdict .k{font-size:11px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}"
	".verdict .v{font-size:26px;font-weight:700;margin:2px 0 6px}"
	".ok .verdict .v{color:var(--ok)}.bad .verdict .v{color:var(--bad)}"
	".unk .verdict .v{color:var(--unk)}.verdict p{margin:0;font-size:13px}"
	".tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}"
	".tile{background:var(--soft);border-radius:6px;padding:10px 12px}"
	".tile .n{font-size:24px;font-weight:700}.tile .k{font-size:12px;color:var(--muted)}"
	".tile .d{font-size:11.5px;margin-top:4px;word-break:break-word}"
	".chart{border:1px solid var(--line);border-radius:8px;padding:10px 12px;break-inside:avoid}"
	".chart svg{width:100%;height:auto;display:block}"
	".legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:12.5px;margin:6px 4px 0}"
	".legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;"
	"vertical-align:-1px}"
	"table{border-collapse:collapse;width:100%;font-size:12.5px;margin:6px 0 12px}"
	"th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}"
	"th{background:var(--soft);font-weight:600;font-size:11.5px;text-transform:uppercase;"
	"letter-spacing:.03em;color:#3b4654;white-space:nowrap}"
	"tbody tr:nth-child(even) td{background:#fafbfc}"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
	"td.t{white-space:nowrap;font-variant-numeric:tabular-nums}"
	".mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11.5px}"
	".badge{display:inline-block;font-size:10.5px;font-weight:700;padding:1px 6px;"
	"border-radius:9px;background:#fee2e2;color:var(--bad);margin-left:4px}"
	".badge.g{background:#e2e8f0;color:#334155}"
	".principal{border:1px solid var(--line);border-radius:8px;padding:4px 16px 6px;"
	"margin:12px 0;break-inside:avoid-page}"
	".facts{display:grid;grid-template-columns:repeat(4,1fr);gap:4px 16px;font-size:12.5px;"
	"margin:6px 0 8px}.facts div span{color:var(--muted);display:block;font-size:11px}"
	".note{color:var(--muted);font-size:12px}"
	"footer{margin-top:28px;color:var(--muted);font-size:11.5px;border-top:1px solid var(--line);"
	"padding-top:8px}"
	"@media print{@page{size:A4;margin:14mm}body{background:#fff;font-size:10.5pt}"
	"main{box-shadow:none;margin:0;padding:0;max-width:none}"
	".summary,.chart,.tile{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
	"thead{display:table-header-group}tr{break-inside:avoid}h2{break-after:avoid}}"
	"@media (max-width:760px){.summary{grid-template-columns:1fr}"
	".tiles,.facts{grid-template-columns:repeat(2,1fr)}main{padding:20px}}";

/* A "nice" bucket size in seconds giving at most about 90 bars over span seconds. */
static int64_t bucket_for(int64_t span, bool fine)
{
	static const int64_t steps[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
					 7200, 10800, 21600, 43200, 86400, 172800, 604800 };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if ((fine || steps[i] >= 60) && span / steps[i] < 90)
			return steps[i];
	return (span / 90 / 604800 + 1) * 604800;
}

/* The top of the y axis: v rounded up to a multiple of a 1-2-5 step giving at most 5 steps. */
static int64_t nice_ceiling(int64_t v, int64_t *ret_step)
{
	static const int64_t mult[] = { 1, 2, 5 };
	int64_t base = 1;

	for (;;) {
		for (size_t i = 0; i < 3; i++) {
			int64_t step = base * mult[i];

			if ((v + step - 1) / step <= 5) {
				*ret_step = step;
				return (v + step - 1) / step * step;
			}
		}
		base *= 10;
	}
}

static void fmt_tick(int64_t sec, int64_t span, char buf[32])
{
	time_t s = (time_t)sec;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, 32, span > 86400 ? "%m-%d %H:%M" : span >= 600 ? "%H:%M" : "%H:%M:%S", &tm);
}

/* The timeline as an inline SVG bar chart: calls per bucket, stacked by principal; alerts marked. */
static int render_chart(FILE *f, const json_t *doc)
{
	const json_t *tl = json_object_get(doc, "timeline");
	const json_t *series = json_object_get(tl, "series"), *alerts = json_object_get(tl, "alerts");
	const json_t *s, *pt, *al;
	const double W = 1000, H = 330, L = 56, R = 18, TOP = 62, B = 40;
	const double PW = W - L - R, PH = H - TOP - B;
	int64_t t0 = INT64_MAX, t1 = INT64_MIN, bucket, nb, ymax = 0, step, top;
	int64_t *cnt, *stack;
	size_t np = json_array_size(series), i, j;
	bool fine = true;

	json_array_foreach(series, i, s) {
		if (!json_is_array(json_object_get(s, "seconds")))
			fine = false;
		json_array_foreach(json_object_get(s, "minutes"), j, pt) {
			int64_t m = parse_time(jstr(pt, "minute")) / 1000000;

			if (m < t0)
				t0 = m;
			if (m + 59 > t1)
				t1 = m + 59;
		}
	}
	if (fine) {
		t0 = INT64_MAX;
		t1 = INT64_MIN;
		json_array_foreach(series, i, s)
			json_array_foreach(json_object_get(s, "seconds"), j, pt) {
				int64_t sec = json_integer_value(json_array_get(pt, 0));

				if (sec < t0)
					t0 = sec;
				if (sec > t1)
					t1 = sec;
			}
	}
	fprintf(f, "<div class=\"chart\"><svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		"aria-label=\"calls over time by principal\" "
		"font-family=\"system-ui,'DejaVu Sans',Arial,sans-serif\" font-size=\"12\">", W, H);
	if (t0 > t1) {
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#5f6b7a\">"
			"No calls in this scope.</text></svg></div>\n", W / 2, H / 2);
		return 0;
	}
	bucket = bucket_for(t1 - t0 + 1, fine);
	t0 = t0 / bucket * bucket;
	nb = t1 / bucket - t0 / bucket + 1;
	if (nb < 12) {
		/* Centre a short incident with some quiet on either side. */
		int64_t pad = (12 - nb) / 2;

		t0 -= pad * bucket;
		nb = 12;
	}
	cnt = calloc((size_t)nb * (np ? np : 1), sizeof(*cnt));
	stack = calloc((size_t)nb, sizeof(*stack));
	if (cnt == NULL || stack == NULL) {
		free(cnt);
		free(stack);
		return -1;
	}
	json_array_foreach(series, i, s) {
		if (fine) {
			json_array_foreach(json_object_get(s, "seconds"), j, pt) {
				int64_t b = (json_integer_value(json_array_get(pt, 0)) - t0) / bucket;

				if (b >= 0 && b < nb)
					cnt[i * nb + b] += json_integer_value(json_array_get(pt, 1));
			}
		} else {
			json_array_foreach(json_object_get(s, "minutes"), j, pt) {
				int64_t b = (parse_time(jstr(pt, "minute")) / 1000000 - t0) / bucket;

				if (b >= 0 && b < nb)
					cnt[i * nb + b] += json_integer_value(json_object_get(pt, "calls"));
			}
		}
	}
	for (int64_t b = 0; b < nb; b++) {
		int64_t sum = 0;

		for (i = 0; i < np; i++)
			sum += cnt[i * nb + b];
		if (sum > ymax)
			ymax = sum;
	}
	top = nice_ceiling(ymax > 0 ? ymax : 1, &step);
	/* Grid and y axis. */
	for (int64_t y = 0; y <= top; y += step) {
		double py = TOP + PH - PH * (double)y / (double)top;

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#5f6b7a\">%" PRId64 "</text>",
			L, py, W - R, py, y ? "#e5e9ef" : "#9aa5b1", L - 8, py + 4, y);
	}
	{
		char unit[32];

		if (bucket == 1 || bucket == 60 || bucket == 3600 || bucket == 86400)
			snprintf(unit, sizeof(unit), "%s", bucket == 1 ? "second" : bucket == 60 ? "minute"
				 : bucket == 3600 ? "hour" : "day");
		else
			snprintf(unit, sizeof(unit), "%" PRId64 " %s",
				 bucket >= 3600 ? bucket / 3600 : bucket >= 60 ? bucket / 60 : bucket,
				 bucket >= 3600 ? "h" : bucket >= 60 ? "min" : "s");
		fprintf(f, "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" "
			"text-anchor=\"middle\" fill=\"#5f6b7a\">calls per %s</text>", TOP + PH / 2,
			TOP + PH / 2, unit);
	}
	/* Bars, stacked by principal. */
	{
		double bw = PW / (double)nb, gap = bw > 6 ? bw * 0.18 : 0;

		for (i = 0; i < np; i++)
			for (int64_t b = 0; b < nb; b++) {
				int64_t c = cnt[i * nb + b];
				double h, y;

				if (c == 0)
					continue;
				h = PH * (double)c / (double)top;
				y = TOP + PH - PH * (double)(stack[b] + c) / (double)top;
				stack[b] += c;
				fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
					"fill=\"%s\"><title>", L + bw * (double)b + gap / 2, y, bw - gap, h,
					palette[i % PALETTE_N]);
				put_html(f, jstr(json_array_get(series, i), "principal"));
				fprintf(f, ": %" PRId64 " calls</title></rect>", c);
			}
		/* X axis ticks: about seven labels. */
		for (int64_t b = 0; b <= nb; b += (nb + 6) / 7) {
			char tick[32];
			double x = L + bw * (double)b;

			fmt_tick(t0 + b * bucket, nb * bucket, tick);
			/* The last label ends at the plot's edge rather than past it. */
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9aa5b1\"/>"
				"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#5f6b7a\">%s</text>",
				x, TOP + PH, x, TOP + PH + 5, x, TOP + PH + 19,
				x > W - R - 40 ? "end" : "middle", tick);
		}
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#5f6b7a\" "
			"font-size=\"11\">time (UTC)</text>", W - R, H - 2);
	}
	/* Alerts: a red line at the moment, labelled in one of three rows above the plot. */
	json_array_foreach(alerts, i, al) {
		double x = L + PW * (double)(parse_time(jstr(al, "time")) / 1e6 - (double)t0) /
			   (double)(nb * bucket);
		double ly = 16 + 15 * (double)(i % 3);
		bool right = x > W - 180;

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dc2626\" "
			"stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>"
			"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#dc2626\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#b91c1c\" font-size=\"11.5\" "
			"font-weight=\"600\">", x, ly + 3, x, TOP + PH, x, ly + 3, right ? x - 6 : x + 6,
			ly + 7, right ? "end" : "start");
		put_html(f, jstr(al, "alert"));
		fputs(" \xc2\xb7 ", f);
		put_html(f, jstr(al, "principal"));
		fputs("</text>", f);
	}
	fputs("</svg><div class=\"legend\">", f);
	json_array_foreach(series, i, s) {
		fprintf(f, "<span><i style=\"background:%s\"></i>", palette[i % PALETTE_N]);
		put_html(f, jstr(s, "principal"));
		fputs("</span>", f);
	}
	fputs("<span><i style=\"background:#dc2626;height:3px;vertical-align:3px\"></i>alert</span>"
	      "</div></div>\n", f);
	free(cnt);
	free(stack);
	return 0;
}

/*
 * A record time for a table cell: "2026-11-26 05:49:41" on one line, the
 * full time with microseconds in a tooltip (and in the JSON form).
 */
static void html_time(FILE *f, const char *t)
{
	char shown[20];

	fputs("<td class=\"t\" title=\"", f);
	put_html(f, t);
	fputs("\">", f);
	if (t != NULL && strlen(t) >= 19) {
		memcpy(shown, t, 19);
		shown[10] = ' ';
		shown[19] = '\0';
		put_html(f, shown);
	} else {
		put_html(f, t);
	}
	fputs("</td>", f);
}

static void html_cell(FILE *f, const char *cls, const char *s)
{
	fprintf(f, "<td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
	put_html(f, s);
	fputs("</td>", f);
}

static void html_num(FILE *f, const json_t *v)
{
	fputs("<td class=\"n\">", f);
	put_html_int(f, v);
	fputs("</td>", f);
}

static int render_html(FILE *f, const json_t *doc)
{
	const json_t *integ = json_object_get(doc, "integrity");
	const json_t *scope = json_object_get(doc, "scope");
	const json_t *sum = json_object_get(doc, "summary");
	const json_t *names = json_object_get(doc, "names");
	const json_t *db = json_object_get(integ, "database"), *sh = json_object_get(integ, "shipped");
	const json_t *p, *c, *m, *v;
	const char *verdict = jstr(integ, "verdict"), *key;
	bool shown = json_is_true(json_object_get(names, "shown"));
	char buf[4096], tbuf[32];
	size_t i, j;

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; img-src data:\">"
	      "<title>Incident scope report \xe2\x80\x94 ", f);
	put_html(f, jstr(doc, "generated"));
	fprintf(f, "</title><style>%s</style></head><body><main>\n", css);

	fputs("<header><h1>Incident scope report</h1><div class=\"meta\">Roster audit trail \xc2\xb7 "
	      "generated <b>", f);
	put_html(f, jstr(doc, "generated"));
	fputs("</b> \xc2\xb7 principal <b>", f);
	put_html(f, json_is_string(json_object_get(scope, "principal")) ? jstr(scope, "principal")
									  : "all");
	fputs("</b> \xc2\xb7 since <b>", f);
	put_html(f, scope_time(scope, "since", tbuf));
	fputs("</b> \xc2\xb7 until <b>", f);
	put_html(f, scope_time(scope, "until", tbuf));
	fprintf(f, "</b> \xc2\xb7 records up to seq <b>%" JSON_INTEGER_FORMAT "</b></div></header>\n",
		json_integer_value(json_object_get(scope, "head_seq")));

	/* The summary box: the verdict first. */
	fprintf(f, "<section class=\"summary %s\"><div class=\"verdict\"><div class=\"k\">Integrity of "
		"the audit trail</div><div class=\"v\">", strcmp(verdict, "intact") == 0 ? "ok"
		: strcmp(verdict, "failed") == 0 ? "bad" : "unk");
	put_html(f, jstr(integ, "verdict_label"));
	fputs("</div><p>", f);
	put_html(f, jstr(integ, "summary"));
	fputs("</p></div><div class=\"tiles\">", f);
	fputs("<div class=\"tile\"><div class=\"n\">", f);
	put_html_int(f, json_object_get(sum, "affected_clients"));
	fputs("</div><div class=\"k\">affected clients</div><div class=\"d\">", f);
	put_html(f, shown ? "names shown (admin)" : "ids only");
	fputs("</div></div><div class=\"tile\"><div class=\"n\">", f);
	fprintf(f, "%zu", json_array_size(json_object_get(sum, "principals")));
	fputs("</div><div class=\"k\">principals involved</div><div class=\"d\">", f);
	put_html(f, join(json_object_get(sum, "principals"), ", ", buf, sizeof(buf)));
	fputs("</div></div><div class=\"tile\"><div class=\"n\">", f);
	put_html_int(f, json_object_get(sum, "alerts"));
	fputs("</div><div class=\"k\">alerts</div><div class=\"d\">", f);
	json_object_foreach((json_t *)json_object_get(sum, "alerts_by_type"), key, v) {
		fputs("<span class=\"badge\">", f);
		put_html(f, key);
		fprintf(f, " \xc3\x97%" JSON_INTEGER_FORMAT "</span> ", json_integer_value(v));
	}
	if (json_object_size(json_object_get(sum, "alerts_by_type")) == 0)
		fputs("none", f);
	fputs("</div></div><div class=\"tile\"><div class=\"n\">", f);
	put_html_int(f, json_object_get(scope, "records"));
	fputs("</div><div class=\"k\">calls in scope</div><div class=\"d\">", f);
	if (json_integer_value(json_object_get(scope, "records")) > 0)
		fprintf(f, "seq %" JSON_INTEGER_FORMAT "\xe2\x80\x93%" JSON_INTEGER_FORMAT,
			json_integer_value(json_object_get(scope, "first_seq")),
			json_integer_value(json_object_get(scope, "last_seq")));
	fputs("</div></div></div></section>\n", f);

	fputs("<h2>Timeline</h2>\n", f);
	if (render_chart(f, doc) < 0)
		return -1;

	/* Integrity in detail. */
	fputs("<h2>Integrity</h2><table><thead><tr><th>Copy</th><th>Verdict</th><th class=\"n\">"
	      "Records</th><th class=\"n\">Checkpoints</th><th>Details</th></tr></thead><tbody>", f);
	fputs("<tr><td>database (Audit.Verify)</td>", f);
	if (json_is_true(json_object_get(db, "checked"))) {
		html_cell(f, NULL, json_is_true(json_object_get(db, "ok")) ? "verified" : "FAILED");
		html_num(f, json_object_get(db, "records"));
		html_num(f, json_object_get(db, "checkpoints"));
		if (json_is_integer(json_object_get(db, "first_bad")))
			snprintf(buf, sizeof(buf), "first bad seq %" JSON_INTEGER_FORMAT " (%s)",
				 json_integer_value(json_object_get(db, "first_bad")), jstr(db, "problem"));
		else
			snprintf(buf, sizeof(buf), "chain and every checkpoint signature verified");
		html_cell(f, NULL, buf);
	} else {
		html_cell(f, NULL, "not verified");
		html_cell(f, "n", "-");
		html_cell(f, "n", "-");
		html_cell(f, NULL, jstr(db, "error"));
	}
	fputs("</tr>", f);
	if (json_is_object(sh)) {
		fputs("<tr><td>shipped copy <span class=\"mono\">", f);
		put_html(f, jstr(sh, "file"));
		fputs("</span></td>", f);
		html_cell(f, NULL, json_is_true(json_object_get(sh, "ok")) ? "verified" : "FAILED");
		html_num(f, json_object_get(sh, "records"));
		html_num(f, json_object_get(sh, "checkpoints"));
		fputs("<td>", f);
		if (!json_is_true(json_object_get(sh, "ok"))) {
			put_html(f, jstr(sh, "reason"));
			fputs("<br>", f);
		}
		{
			static const char *const lists[][2] = {
				{ "missing_in_log", "missing from the shipped copy" },
				{ "missing_in_database", "missing from the database" },
				{ "differing", "differing between the copies" },
			};

			for (i = 0; i < 3; i++) {
				const json_t *l = json_object_get(sh, lists[i][0]), *r;
				char k2[64];

				snprintf(k2, sizeof(k2), "%s_count", lists[i][0]);
				fprintf(f, "%" JSON_INTEGER_FORMAT " record%s %s",
					json_integer_value(json_object_get(sh, k2)),
					json_integer_value(json_object_get(sh, k2)) == 1 ? "" : "s",
					lists[i][1]);
				json_array_foreach(l, j, r)
					fprintf(f, "%sseq %" JSON_INTEGER_FORMAT "\xe2\x80\x93%"
						JSON_INTEGER_FORMAT, j ? ", " : ": ",
						json_integer_value(json_array_get(r, 0)),
						json_integer_value(json_array_get(r, 1)));
				fputs("<br>", f);
			}
		}
		if (json_is_array(json_object_get(sh, "not_yet_shipped")))
			fprintf(f, "not shipped yet: seq %" JSON_INTEGER_FORMAT "\xe2\x80\x93%"
				JSON_INTEGER_FORMAT "<br>",
				json_integer_value(json_array_get(json_object_get(sh, "not_yet_shipped"), 0)),
				json_integer_value(json_array_get(json_object_get(sh, "not_yet_shipped"), 1)));
		if (json_integer_value(json_object_get(sh, "unsigned_tail")) > 0)
			fprintf(f, "<span class=\"note\">the last %" JSON_INTEGER_FORMAT " records of the "
				"copy are not signed yet</span>",
				json_integer_value(json_object_get(sh, "unsigned_tail")));
		fputs("</td></tr>", f);
	} else {
		fputs("<tr><td>shipped copy</td><td>not compared</td><td class=\"n\">-</td>"
		      "<td class=\"n\">-</td><td class=\"note\">run with --log FILE --pubkey FILE to "
		      "compare syslog-ng's copy with the database</td></tr>", f);
	}
	fputs("</tbody></table>\n", f);

	/* Principals: an overview, then each in detail. */
	fputs("<h2>Principals</h2><table><thead><tr><th>Principal</th><th class=\"n\">Calls</th>"
	      "<th class=\"n\">Clients disclosed</th><th class=\"n\">Records returned</th>"
	      "<th>Field classes</th><th>First access</th><th>Last access</th><th>UIDs</th>"
	      "<th>Alerts</th></tr></thead><tbody>", f);
	json_array_foreach(json_object_get(doc, "principals"), i, p) {
		const json_t *al;

		fputs("<tr><td><b>", f);
		put_html(f, jstr(p, "name"));
		fputs("</b></td>", f);
		html_num(f, json_object_get(p, "calls"));
		html_num(f, json_object_get(p, "clients_disclosed"));
		html_num(f, json_object_get(p, "records_returned"));
		html_cell(f, NULL, join(json_object_get(p, "fields_disclosed"), ", ", buf, sizeof(buf)));
		html_time(f, jstr(p, "first_access"));
		html_time(f, jstr(p, "last_access"));
		html_cell(f, NULL, join(json_object_get(p, "uids"), ", ", buf, sizeof(buf)));
		fputs("<td>", f);
		json_array_foreach(json_object_get(p, "alerts"), j, al) {
			fputs("<span class=\"badge\">", f);
			put_html(f, jstr(al, "alert"));
			fputs("</span>", f);
		}
		fputs("</td></tr>", f);
	}
	fputs("</tbody></table>\n", f);
	json_array_foreach(json_object_get(doc, "principals"), i, p) {
		fputs("<div class=\"principal\"><h3>", f);
		put_html(f, jstr(p, "name"));
		fputs("</h3><div class=\"facts\"><div><span>uids seen</span>", f);
		put_html(f, join(json_object_get(p, "uids"), ", ", buf, sizeof(buf)));
		fputs("</div><div><span>pids seen</span>", f);
		put_html(f, join(json_object_get(p, "pids"), ", ", buf, sizeof(buf)));
		if (json_is_true(json_object_get(p, "pids_truncated")))
			fputs(" and more", f);
		fputs("</div><div><span>first access</span>", f);
		put_html(f, jstr(p, "first_access"));
		fputs("</div><div><span>last access</span>", f);
		put_html(f, jstr(p, "last_access"));
		fputs("</div></div><table><thead><tr><th>Method</th><th>Result</th><th class=\"n\">Calls"
		      "</th></tr></thead><tbody>", f);
		json_array_foreach(json_object_get(p, "calls_by_method"), j, m) {
			const char *meth = jstr(m, "method");

			fputs("<tr>", f);
			html_cell(f, "mono", *meth ? meth : "(not a call)");
			html_cell(f, NULL, jstr(m, "result"));
			html_num(f, json_object_get(m, "calls"));
			fputs("</tr>", f);
		}
		fputs("</tbody></table>", f);
		if (json_array_size(json_object_get(p, "alerts")) > 0) {
			fputs("<table><thead><tr><th>Alert</th><th>Time (UTC)</th><th>Method</th><th>Result"
			      "</th><th class=\"n\">UID</th><th class=\"n\">PID</th><th class=\"n\">Seq</th>"
			      "</tr></thead><tbody>", f);
			json_array_foreach(json_object_get(p, "alerts"), j, m) {
				fputs("<tr><td><span class=\"badge\">", f);
				put_html(f, jstr(m, "alert"));
				fputs("</span></td>", f);
				html_cell(f, "mono", jstr(m, "time"));
				html_cell(f, "mono", jstr(m, "method"));
				html_cell(f, NULL, jstr(m, "result"));
				html_num(f, json_object_get(m, "uid"));
				html_num(f, json_object_get(m, "pid"));
				html_num(f, json_object_get(m, "seq"));
				fputs("</tr>", f);
			}
			fputs("</tbody></table>", f);
		}
		fputs("</div>\n", f);
	}

	/* The affected clients. */
	fputs("<h2>Affected clients</h2><p class=\"note\">", f);
	put_html(f, jstr(names, "explanation"));
	fputs("</p><table><thead><tr><th class=\"n\">#</th><th>Client id</th>", f);
	if (shown)
		fputs("<th>Name</th><th>Country</th>", f);
	fputs("<th>Read by</th><th class=\"n\">Reads</th><th>First read</th><th>Last read</th></tr>"
	      "</thead><tbody>", f);
	json_array_foreach(json_object_get(doc, "clients"), i, c) {
		fprintf(f, "<tr><td class=\"n\">%zu</td>", i + 1);
		html_cell(f, "mono", jstr(c, "id"));
		if (shown) {
			fputs("<td>", f);
			if (json_is_true(json_object_get(c, "deleted")))
				fputs("<span class=\"note\">(deleted since)</span>", f);
			else
				put_html(f, jstr(c, "name"));
			if (json_is_true(json_object_get(c, "canary")))
				fputs("<span class=\"badge\">canary</span>", f);
			fputs("</td>", f);
			html_cell(f, NULL, jstr(c, "country"));
		}
		html_cell(f, NULL, join(json_object_get(c, "principals"), ", ", buf, sizeof(buf)));
		html_num(f, json_object_get(c, "reads"));
		html_time(f, jstr(c, "first_read"));
		html_time(f, jstr(c, "last_read"));
		fputs("</tr>", f);
	}
	if (json_array_size(json_object_get(doc, "clients")) == 0)
		fprintf(f, "<tr><td colspan=\"%d\" class=\"note\">No client record was disclosed in this "
			"scope.</td></tr>", shown ? 8 : 6);
	fputs("</tbody></table>\n<footer>Made by rosterctl audit report from the audit trail. A "
	      "disclosure is a successful call that returned client records; times are UTC. The "
	      "JSON form (--format json) carries the same figures for other tools "
	      "(schema/audit-report.schema.json).</footer></main></body></html>\n", f);
	return ferror(f) ? -1 : 0;
}

/* ---- the command ------------------------------------------------------------------ */

/* Principals with alerts first, then by clients disclosed, calls, and name. */
static int cmp_princ(const void *x, const void *y)
{
	const struct princ *a = x, *b = y;
	size_t ca = json_object_size(a->clients), cb = json_object_size(b->clients);

	if ((a->alerts_total > 0) != (b->alerts_total > 0))
		return a->alerts_total > 0 ? -1 : 1;
	if (ca != cb)
		return ca > cb ? -1 : 1;
	if (a->calls != b->calls)
		return a->calls > b->calls ? -1 : 1;
	return strcmp(a->name, b->name);
}

/*
 * Decide whether names are shown: only to an admin (WhoAmI's role), and
 * the registry is unsealed, since the trail could not be read otherwise.
 */
static int names_mode(struct ctl_ctx *ctx, struct names *nm, bool no_names)
{
	json_t *who = NULL, *canaries = NULL, *c;
	const char *role, *principal;
	size_t i;

	if (ctl_call(ctx, "io.roster.Admin.WhoAmI", json_object(), &who) < 0)
		return -1;
	role = json_string_value(json_object_get(who, "role"));
	principal = json_is_true(json_object_get(who, "bootstrap")) ? "bootstrap"
		: json_string_value(json_object_get(who, "principal"));
	if (no_names) {
		snprintf(nm->mode_reason, sizeof(nm->mode_reason),
			 "Client ids only: --no-names was given.");
	} else if (role == NULL || strcmp(role, "admin") != 0) {
		snprintf(nm->mode_reason, sizeof(nm->mode_reason),
			 "Client ids only: names and countries are shown only when an admin runs the "
			 "report on an unsealed registry, and this caller's role is %s.",
			 role ? role : "none");
	} else {
		nm->admin = true;
		if (ctl_call(ctx, "io.roster.Admin.CanaryList", json_object(), &canaries) < 0) {
			json_decref(who);
			return -1;
		}
		nm->canaries = json_object();
		json_array_foreach(json_object_get(canaries, "clients"), i, c)
			json_object_set_new(nm->canaries, jstr(c, "id"),
					    json_pack("{s:O?, s:O?}", "name", json_object_get(c, "name"),
						      "country", json_object_get(c, "country")));
		json_decref(canaries);
		snprintf(nm->mode_reason, sizeof(nm->mode_reason),
			 "Names and countries shown: run by an admin (principal %s) on an unsealed "
			 "registry. Each name was read with io.roster.Clients.Get (canaries from "
			 "CanaryList), and those reads are themselves in the audit trail after this "
			 "report's last record.", principal ? principal : "?");
	}
	json_decref(who);
	return 0;
}

static int write_out(const char *out, const char *format, const json_t *doc)
{
	FILE *f = stdout;
	int fd = -1, r;

	if (out != NULL) {
		/* A new private file: the report names principals, uids and client ids. */
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
			ctl_warnx("%s: %s", out, errno == EEXIST ? "exists; the report never overwrites a file"
							       : strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	if (strcmp(format, "json") == 0)
		r = json_dumpf(doc, f, JSON_INDENT(2)) < 0 || fputc('\n', f) == EOF ? -1 : 0;
	else if (strcmp(format, "html") == 0)
		r = render_html(f, doc);
	else
		r = render_text(f, doc);
	if (out != NULL) {
		if (fclose(f) != 0)
			r = -1;
	} else if (fflush(f) != 0) {
		r = -1;
	}
	if (r < 0)
		ctl_warnx("%s: cannot write the report: %s", out ? out : "standard output",
			  strerror(errno));
	return r;
}

int ctl_audit_report(struct ctl_ctx *ctx, int argc, char **argv)
{
	enum { O_PRINCIPAL = 0x100, O_SINCE, O_UNTIL, O_FORMAT, O_OUT, O_LOG, O_PUBKEY, O_NONAMES,
	       O_HELP };
	static const struct option opts[] = {
		{ "principal", required_argument, NULL, O_PRINCIPAL },
		{ "since", required_argument, NULL, O_SINCE },
		{ "until", required_argument, NULL, O_UNTIL },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "out", required_argument, NULL, O_OUT },
		{ "log", required_argument, NULL, O_LOG },
		{ "pubkey", required_argument, NULL, O_PUBKEY },
		{ "no-names", no_argument, NULL, O_NONAMES },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *principal = NULL, *since = NULL, *until = NULL, *format = NULL, *out = NULL;
	const char *log_path = NULL, *pk_path = NULL;
	struct agg a = { 0 };
	struct names nm = { 0 };
	json_t *status = NULL, *verify = NULL, *params = NULL, *doc = NULL, *db = NULL, *shipped = json_null();
	json_t *pr = NULL, *by_type = NULL, *pnames = NULL, *clients = NULL;
	char why[512] = "", summary[1024], gen[32];
	bool db_ok = false, db_checked = false, log_ok = true;
	int64_t shipped_seq = -1;
	const char *verdict, *label;
	int opt, rc = CTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case O_PRINCIPAL: principal = optarg; break;
		case O_SINCE: since = optarg; break;
		case O_UNTIL: until = optarg; break;
		case O_FORMAT: format = optarg; break;
		case O_OUT: out = optarg; break;
		case O_LOG: log_path = optarg; break;
		case O_PUBKEY: pk_path = optarg; break;
		case O_NONAMES: nm.mode_reason[0] = 1; break;
		case O_HELP: return ctl_help(ctx);
		default: return ctl_usage(ctx);
		}
	}
	if (format == NULL)
		format = ctx->json ? "json" : "text";
	if (optind != argc || (log_path == NULL) != (pk_path == NULL) ||
	    (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && strcmp(format, "html") != 0))
		return ctl_usage(ctx);

	/* 1. The head: the report covers records 1..head, whatever comes while it runs. */
	if (ctl_call(ctx, "io.roster.Admin.Status", json_object(), &status) < 0)
		goto out;
	if (strcmp(jstr(status, "state"), "unsealed") != 0) {
		ctl_warnx("the registry is %s: the report reads the trail from the unsealed registry "
			  "(\"rosterctl audit verify --log\" checks a shipped copy without it)",
			  jstr(status, "state"));
		goto out;
	}
	a.head = json_integer_value(json_object_get(status, "audit_head"));
	if (json_is_integer(json_object_get(status, "audit_shipped")))
		shipped_seq = json_integer_value(json_object_get(status, "audit_shipped"));

	/* 2. Integrity, over the whole chain whatever the filters. */
	if (ctl_connect(ctx) < 0)
		goto out;
	params = json_object();
	if (params != NULL && roster_call(ctx->r, "io.roster.Audit.Verify", params, &verify) == 0) {
		db_checked = true;
		db_ok = json_is_true(json_object_get(verify, "ok"));
		db = json_pack("{s:b, s:b, s:O, s:O, s:O?, s:O?}", "checked", 1, "ok", db_ok,
			       "records", json_object_get(verify, "records"),
			       "checkpoints", json_object_get(verify, "checkpoints"),
			       "first_bad", json_object_get(verify, "first_bad"),
			       "problem", json_object_get(verify, "problem"));
		if (!db_ok)
			snprintf(why, sizeof(why), "the database's audit chain does not verify: the first "
				 "bad record is seq %" JSON_INTEGER_FORMAT " (%s)",
				 json_integer_value(json_object_get(verify, "first_bad")),
				 jstr(verify, "problem"));
	} else {
		const char *err = roster_error_name(ctx->r);

		db = json_pack("{s:b, s:b, s:s}", "checked", 0, "ok", 0, "error",
			       err ? err : "the call failed");
	}
	json_decref(params);
	params = NULL;
	if (db == NULL)
		goto nomem;
	if (log_path != NULL) {
		char log_why[512] = "";

		json_decref(shipped);
		shipped = check_log(ctx, log_path, pk_path, a.head, shipped_seq, &log_ok, log_why,
				    sizeof(log_why));
		if (shipped == NULL)
			goto out;
		if (!log_ok && why[0] == '\0')
			snprintf(why, sizeof(why), "%s", log_why);
		else if (!log_ok)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), "; and %s", log_why);
	}

	/* 3. The records in scope, folded as they come. */
	a.index = json_object();
	a.clients = json_object();
	a.fine = true;
	params = json_object();
	if (a.index == NULL || a.clients == NULL || params == NULL)
		goto nomem;
	if ((principal && json_object_set_new(params, "principal", json_string(principal)) < 0) ||
	    (since && json_object_set_new(params, "since", json_string(since)) < 0) ||
	    (until && json_object_set_new(params, "until", json_string(until)) < 0)) {
		ctl_warnx("an option is not valid UTF-8");
		goto out;
	}
	if (ctl_audit_each(ctx, params, 0, fold, &a) < 0)
		goto out;
	if (a.n > 1)
		qsort(a.p, a.n, sizeof(*a.p), cmp_princ);

	/* 4. Names, for an admin. */
	{
		bool no_names = nm.mode_reason[0] == 1;

		nm.mode_reason[0] = '\0';
		if (names_mode(ctx, &nm, no_names) < 0)
			goto out;
	}

	/* 5. The document. */
	if (db_checked && db_ok && log_ok) {
		verdict = "intact";
		label = "INTACT";
		snprintf(summary, sizeof(summary), "The chain and every checkpoint signature verify "
			 "over all %" JSON_INTEGER_FORMAT " records of the database%s.",
			 json_integer_value(json_object_get(db, "records")),
			 log_path ? ", and the shipped copy verifies and matches it" : "");
	} else if ((db_checked && !db_ok) || !log_ok) {
		verdict = "failed";
		label = "FAILED";
		snprintf(summary, sizeof(summary), "The audit trail has been tampered with or damaged: "
			 "%s. Figures below come from the database's records and may be incomplete.", why);
	} else {
		verdict = "unverified";
		label = "NOT VERIFIED";
		snprintf(summary, sizeof(summary), "The daemon did not verify the chain for this caller "
			 "(%s); the figures below are unverified.", jstr(db, "error"));
	}
	fmt_time((int64_t)time(NULL) * 1000000, gen);
	gen[19] = 'Z';
	gen[20] = '\0';
	clients = clients_json(ctx, &a, &nm);
	if (clients == NULL)
		goto out;
	pr = json_array();
	pnames = json_array();
	by_type = json_object();
	if (pr == NULL || pnames == NULL || by_type == NULL)
		goto nomem;
	for (size_t i = 0; i < a.n; i++) {
		json_t *al;
		size_t j;

		json_array_append_new(pr, princ_json(&a.p[i]));
		json_array_append_new(pnames, json_string(a.p[i].name));
		json_array_foreach(a.p[i].alerts, j, al)
			bump(by_type, jstr(al, "alert"), 1);
	}
	doc = json_pack("{s:s, s:i, s:s, s:{s:s, s:s, s:s, s:o, s:o}, s:{s:s?, s:s?, s:s?, s:I, s:I, "
			"s:I, s:I}, s:{s:b, s:s, s:I}, s:{s:I, s:o, s:I, s:o}, s:o, s:o?, s:o?}",
			"report", "roster.audit-report", "version", 1, "generated", gen,
			"integrity", "verdict", verdict, "verdict_label", label, "summary", summary,
			"database", db, "shipped", shipped,
			"scope", "principal", principal, "since", since, "until", until,
			"head_seq", (json_int_t)a.head, "records", (json_int_t)a.matched,
			"first_seq", (json_int_t)a.first_seq, "last_seq", (json_int_t)a.last_seq,
			"names", "shown", nm.admin, "explanation", nm.mode_reason,
			"lookups", (json_int_t)0,
			"summary", "affected_clients", (json_int_t)json_object_size(a.clients),
			"principals", pnames, "alerts", (json_int_t)a.alerts, "alerts_by_type", by_type,
			"principals", pr,
			"clients", clients,
			"timeline", timeline_json(&a, a.fine));
	/* json_pack's "o" took these, whether it succeeded or not. */
	db = shipped = pr = pnames = by_type = clients = NULL;
	if (doc == NULL)
		goto nomem;
	json_object_set_new(json_object_get(doc, "names"), "lookups", json_integer(nm.lookups));
	if (write_out(out, format, doc) == 0)
		rc = CTL_EXIT_OK;
	/* A report on a trail that does not verify is a failed check: exit 1 after writing it. */
	if (rc == CTL_EXIT_OK && strcmp(verdict, "intact") != 0)
		rc = CTL_EXIT_FAIL;
	goto out;
nomem:
	ctl_warnx("out of memory");
out:
	json_decref(status);
	json_decref(verify);
	json_decref(params);
	json_decref(db);
	json_decref(shipped);
	json_decref(clients);
	json_decref(pr);
	json_decref(pnames);
	json_decref(by_type);
	json_decref(doc);
	json_decref(nm.canaries);
	agg_free(&a);
	return rc;
}
