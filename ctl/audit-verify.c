/*
 * audit-verify.c: the offline check of a shipped audit log (see
 * audit-verify.h and doc/audit-format.md).
 *
 * Everything read here is untrusted. This file must never print or
 * return a value read from the log (reports carry sequence numbers, line
 * numbers and fixed sentences only), never read a line without a bound,
 * and never accept a line it cannot parse completely. The hash is computed
 * by lib/audit-hash.c, the same code the daemon chains records with.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "ctl/audit-verify.h"
#include "lib/audit-hash.h"
#include "lib/audit-trust.h"

/* ---- parsing one line ---------------------------------------------------- */

/*
 * A canonical decimal integer: "0", or an optional '-' and digits without
 * a leading zero, within int64. Anything else is not what a writer made.
 */
static int parse_decimal(const char *s, size_t n, int64_t *ret)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (neg) {
		s++;
		n--;
	}
	if (n == 0 || n > 19 || (s[0] == '0' && (n > 1 || neg)))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	/* Two's complement: -(INT64_MAX + 1) is representable, its negation is not. */
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int get_int(json_t *o, const char *key, int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v)) {
		*ret = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return parse_decimal(json_string_value(v), json_string_length(v), ret);
	return -EBADMSG;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A text field, undoing the shipper's %HH escapes. A '%' not followed by
 * two hex digits, or a NUL (which no record holds), makes the line bad.
 */
static int get_text(json_t *o, const char *key, char **ret)
{
	json_t *v = json_object_get(o, key);
	const unsigned char *s;
	size_t n, j = 0;
	char *out;

	if (!json_is_string(v))
		return -EBADMSG;
	s = (const unsigned char *)json_string_value(v);
	n = json_string_length(v);
	out = malloc(n + 1);
	if (out == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int c = s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(out);
				return -EBADMSG;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0) {
			free(out);
			return -EBADMSG;
		}
		out[j++] = (char)c;
	}
	out[j] = '\0';
	*ret = out;
	return 0;
}

/* Exactly 2 * size lower-case hex digits. */
static int get_hex(json_t *o, const char *key, unsigned char *out, size_t size)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!json_is_string(v) || json_string_length(v) != 2 * size)
		return -EBADMSG;
	s = json_string_value(v);
	for (size_t i = 0; i < 2 * size; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -EBADMSG;
	for (size_t i = 0; i < size; i++)
		out[i] = (unsigned char)(hex_value((unsigned char)s[2 * i]) * 16 +
					 hex_value((unsigned char)s[2 * i + 1]));
	return 0;
}

void audit_log_entry_clear(struct audit_log_entry *e)
{
	if (e == NULL)
		return;
	free(e->principal);
	free(e->role);
	free(e->method);
	free(e->ids);
	free(e->fields);
	free(e->result);
	free(e->error);
	free(e->alert);
	memset(e, 0, sizeof(*e));
}

/* In the order of doc/audit-format.md; the messages name the field, never its value. */
#define NEED(expr, msg) do {                    \
		r = (expr);                     \
		if (r < 0) {                    \
			why = (msg);            \
			goto out;               \
		}                               \
	} while (0)

/*
 * Most members a line may have: the 20 of a record or checkpoint and the
 * fields syslog-ng adds (HOST, ISODATE, PROGRAM, ...), with room to spare.
 */
#define AUDIT_LOG_MEMBERS_MAX 128

/*
 * A line is one flat object of strings and numbers. Say before parsing
 * whether it has any other shape, since a parser builds a tree of it
 * first: a 32 MiB line of nested empty objects takes jansson gigabytes.
 * This is a bound on the input, not a parser: what passes is still parsed
 * and checked in full.
 */
static const char *shape_problem(const char *p, size_t n)
{
	bool in_string = false, escaped = false, opened = false;
	size_t members = 0;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (c == '[' || opened)
				return "a value is an object or an array";
			opened = true;
		} else if (c == ':' && ++members > AUDIT_LOG_MEMBERS_MAX) {
			return "too many members";
		}
	}
	return NULL;
}

int audit_log_parse_line(const char *line, size_t len, struct audit_log_entry *ret,
			 const char **ret_why)
{
	struct audit_log_entry e = { 0 };
	const char *why = NULL, *type;
	json_error_t jerr;
	json_t *o = NULL;
	int r = 0;

	why = shape_problem(line, len);
	if (why != NULL) {
		r = -EBADMSG;
		goto out;
	}
	/* Duplicate keys refused: one line must not say two things. */
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		/*
		 * jansson's own text may quote the line, which is never
		 * printed; this one is its fixed wording for a repeated key.
		 */
		why = strstr(jerr.text, "duplicate object key") != NULL
			? "a member appears twice" : "not valid JSON";
		r = -EBADMSG;
		goto out;
	}
	if (!json_is_object(o)) {
		why = "not a JSON object";
		r = -EBADMSG;
		goto out;
	}
	type = json_string_value(json_object_get(o, "type"));
	if (type == NULL) {
		why = "no \"type\"";
		r = -EBADMSG;
		goto out;
	}
	if (strcmp(type, "record") == 0)
		e.type = AUDIT_LOG_RECORD;
	else if (strcmp(type, "checkpoint") == 0)
		e.type = AUDIT_LOG_CHECKPOINT;
	else {
		why = "\"type\" is neither record nor checkpoint";
		r = -EBADMSG;
		goto out;
	}
	NEED(get_int(o, "seq", &e.seq), "\"seq\" is missing or malformed");
	if (e.seq < 1) {
		why = "\"seq\" is not positive";
		r = -EBADMSG;
		goto out;
	}
	/*
	 * The verifier computes the seq after the last one (the next expected,
	 * the first of a gap); INT64_MAX has none. No writer gets there.
	 */
	if (e.seq == INT64_MAX) {
		why = "\"seq\" is out of range";
		r = -EBADMSG;
		goto out;
	}
	NEED(get_int(o, "time_us", &e.time_us), "\"time_us\" is missing or malformed");
	NEED(get_hex(o, "hash", e.hash, sizeof(e.hash)), "\"hash\" is missing or malformed");
	if (e.type == AUDIT_LOG_CHECKPOINT) {
		NEED(get_hex(o, "pubkey", e.pubkey, sizeof(e.pubkey)),
		     "\"pubkey\" is missing or malformed");
		NEED(get_hex(o, "sig", e.sig, sizeof(e.sig)), "\"sig\" is missing or malformed");
		if (json_object_get(o, "next_pubkey") != NULL) {
			NEED(get_hex(o, "next_pubkey", e.next_pubkey, sizeof(e.next_pubkey)),
			     "\"next_pubkey\" is malformed");
			e.has_next_pubkey = true;
		}
		goto out;
	}
	NEED(get_text(o, "principal", &e.principal), "\"principal\" is missing or malformed");
	NEED(get_int(o, "uid", &e.uid), "\"uid\" is missing or malformed");
	NEED(get_int(o, "gid", &e.gid), "\"gid\" is missing or malformed");
	NEED(get_int(o, "pid", &e.pid), "\"pid\" is missing or malformed");
	NEED(get_text(o, "role", &e.role), "\"role\" is missing or malformed");
	NEED(get_text(o, "method", &e.method), "\"method\" is missing or malformed");
	NEED(get_text(o, "ids", &e.ids), "\"ids\" is missing or malformed");
	NEED(get_text(o, "fields", &e.fields), "\"fields\" is missing or malformed");
	NEED(get_int(o, "records", &e.records), "\"records\" is missing or malformed");
	NEED(get_text(o, "result", &e.result), "\"result\" is missing or malformed");
	NEED(get_text(o, "error", &e.error), "\"error\" is missing or malformed");
	NEED(get_text(o, "alert", &e.alert), "\"alert\" is missing or malformed");
	NEED(get_hex(o, "prev_hash", e.prev_hash, sizeof(e.prev_hash)),
	     "\"prev_hash\" is missing or malformed");
out:
	json_decref(o);
	if (r < 0) {
		audit_log_entry_clear(&e);
		if (r == -ENOMEM)
			why = "out of memory";
		if (ret_why)
			*ret_why = why;
		return r;
	}
	*ret = e;
	return 0;
}

#undef NEED

/* ---- verifying a file ----------------------------------------------------- */

struct seen {
	int64_t seq;                    /* 0: empty slot */
	unsigned char hash[32];
	bool signed_by_cp;              /* a checkpoint naming it has verified */
};

struct verifier {
	/* Trusted keys: the caller's, then those that trusted key rolls named. */
	struct audit_trust trust;
	bool allow_partial;
	struct audit_verify_report rep;
	bool started;
	unsigned char last_hash[32];
	struct seen *window;            /* AUDIT_VERIFY_WINDOW slots, by seq */
	struct seen pending[AUDIT_VERIFY_PENDING_MAX];
	int n_pending;
	char *line;
	size_t line_cap;
};

static void fail(struct verifier *v, enum audit_verify_problem p, int64_t seq, int64_t line,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct verifier *v, enum audit_verify_problem p, int64_t seq, int64_t line,
		 const char *fmt, ...)
{
	va_list ap;

	v->rep.ok = false;
	v->rep.problem = p;
	v->rep.first_bad_seq = seq;
	v->rep.bad_line = line;
	va_start(ap, fmt);
	vsnprintf(v->rep.reason, sizeof(v->rep.reason), fmt, ap);
	va_end(ap);
}

static struct seen *window_find(struct verifier *v, int64_t seq)
{
	struct seen *s = &v->window[(uint64_t)seq % AUDIT_VERIFY_WINDOW];

	return s->seq == seq ? s : NULL;
}

/*
 * Read one line into *line (NUL-terminated, newline dropped), growing it
 * up to AUDIT_LOG_LINE_MAX + 1 bytes. Returns 1 with *ret_len, 0 at the end
 * of the file, -E2BIG for a longer line (consumed), -EIO or -ENOMEM.
 */
static int read_line_buf(char **line, size_t *line_cap, FILE *f, size_t *ret_len)
{
	size_t n = 0;
	bool too_long = false;
	int c;

	if (*line == NULL) {
		/* Room for the NUL even when the first line is empty. */
		*line = malloc(4096);
		if (*line == NULL)
			return -ENOMEM;
		*line_cap = 4096;
	}
	while ((c = getc_unlocked(f)) != EOF && c != '\n') {
		if (too_long)
			continue;
		if (n + 1 >= *line_cap) {
			size_t cap = *line_cap ? *line_cap * 2 : 4096;
			char *p;

			if (n + 1 > AUDIT_LOG_LINE_MAX) {
				too_long = true;
				continue;
			}
			if (cap > AUDIT_LOG_LINE_MAX + 1)
				cap = AUDIT_LOG_LINE_MAX + 1;
			p = realloc(*line, cap);
			if (p == NULL)
				return -ENOMEM;
			*line = p;
			*line_cap = cap;
		}
		(*line)[n++] = (char)c;
	}
	if (ferror(f))
		return -EIO;
	if (c == EOF && n == 0 && !too_long)
		return 0;
	if (too_long)
		return -E2BIG;
	(*line)[n] = '\0';
	*ret_len = n;
	return 1;
}

static int read_line(struct verifier *v, FILE *f, size_t *ret_len)
{
	return read_line_buf(&v->line, &v->line_cap, f, ret_len);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

void audit_log_entry_hash(const struct audit_log_entry *e, unsigned char out[32])
{
	struct audit_fields f = {
		.seq = e->seq, .time_us = e->time_us, .principal = e->principal,
		.uid = e->uid, .gid = e->gid, .pid = e->pid, .role = e->role,
		.method = e->method, .ids = e->ids, .fields = e->fields,
		.records = e->records, .result = e->result, .error = e->error,
		.alert = e->alert,
	};

	audit_hash(e->prev_hash, &f, out);
}

/*
 * A verified checkpoint met its record (rec, in the window): compare the
 * hashes. Returns false on a problem.
 */
static bool checkpoint_matches(struct verifier *v, const unsigned char hash[32],
			       struct seen *rec, int64_t line)
{
	int64_t seq = rec->seq, lo;

	if (sodium_memcmp(hash, rec->hash, 32) != 0) {
		/*
		 * The chain up to the last checkpoint that verified is proven;
		 * the record altered (its hash and those after it recomputed)
		 * is one of those after it, up to this one.
		 */
		lo = v->rep.last_checkpoint_seq < seq ? v->rep.last_checkpoint_seq + 1 : seq;
		if (lo < v->rep.first_seq)
			lo = v->rep.first_seq;
		if (lo == seq)
			fail(v, AUDIT_VERIFY_CHECKPOINT_MISMATCH, seq, line,
			     "the checkpoint at seq %" PRId64 " signs another hash than record %"
			     PRId64 "'s: that record was altered", seq, seq);
		else
			fail(v, AUDIT_VERIFY_CHECKPOINT_MISMATCH, lo, line,
			     "the checkpoint at seq %" PRId64 " signs another hash than record %"
			     PRId64 "'s: one of records %" PRId64 "..%" PRId64 " was altered "
			     "(the checkpoint before them verified)", seq, seq, lo, seq);
		/* What is proven ends before them. */
		if (v->rep.last_seq >= lo) {
			v->rep.records -= v->rep.last_seq - lo + 1;
			v->rep.last_seq = lo - 1;
		}
		return false;
	}
	if (rec->signed_by_cp) {
		v->rep.redelivered++;
		return true;
	}
	rec->signed_by_cp = true;
	v->rep.checkpoints++;
	if (seq > v->rep.last_checkpoint_seq)
		v->rep.last_checkpoint_seq = seq;
	return true;
}

static bool on_checkpoint(struct verifier *v, const struct audit_log_entry *e, int64_t line)
{
	unsigned char msg[AUDIT_KEYROLL_MSG_BYTES];
	const char *why = NULL;
	size_t len;
	struct seen *s;
	int r;

	if (!audit_trust_knows(&v->trust, e->pubkey)) {
		fail(v, AUDIT_VERIFY_WRONG_KEY, e->seq, line,
		     "the checkpoint at seq %" PRId64 " was made with another key than the "
		     "audit public keys given (or named by a key roll before it)", e->seq);
		return false;
	}
	if (e->has_next_pubkey) {
		audit_keyroll_message(e->seq, e->hash, e->time_us, e->next_pubkey, msg);
		len = AUDIT_KEYROLL_MSG_BYTES;
	} else {
		audit_checkpoint_message(e->seq, e->hash, e->time_us, msg);
		len = AUDIT_CP_MSG_BYTES;
	}
	if (crypto_sign_verify_detached(e->sig, msg, len, e->pubkey) != 0) {
		fail(v, AUDIT_VERIFY_BAD_SIGNATURE, e->seq, line,
		     "the signature of the %s at seq %" PRId64 " does not verify: "
		     "it was altered or forged", e->has_next_pubkey ? "key roll" : "checkpoint",
		     e->seq);
		return false;
	}
	/*
	 * Signed by a known key, but is that key in force at this seq? A key
	 * roll signed by one also makes the key it names trusted from here on.
	 */
	r = audit_trust_checkpoint(&v->trust, e->seq, e->pubkey,
				   e->has_next_pubkey ? e->next_pubkey : NULL, &why);
	if (r == -E2BIG) {
		fail(v, AUDIT_VERIFY_WRONG_KEY, e->seq, line,
		     "more key rolls than a registry can make (at seq %" PRId64 ")", e->seq);
		return false;
	}
	if (r < 0) {
		fail(v, AUDIT_VERIFY_WRONG_KEY, e->seq, line,
		     "the %s at seq %" PRId64 " does not count: %s",
		     e->has_next_pubkey ? "key roll" : "checkpoint", e->seq, why);
		return false;
	}
	if (v->started && e->seq <= v->rep.last_seq) {
		s = window_find(v, e->seq);
		if (s != NULL)
			return checkpoint_matches(v, e->hash, s, line);
		if (e->seq < v->rep.first_seq)
			return true;    /* a rotated-away record: nothing to compare with */
		fail(v, AUDIT_VERIFY_REORDERED, e->seq, line,
		     "the checkpoint at seq %" PRId64 " comes long after its record "
		     "(more than %d records later): out of order", e->seq, AUDIT_VERIFY_WINDOW);
		return false;
	}
	/* Its record has not come yet: hold it until it does. */
	for (int i = 0; i < v->n_pending; i++)
		if (v->pending[i].seq == e->seq) {
			if (sodium_memcmp(v->pending[i].hash, e->hash, 32) != 0) {
				fail(v, AUDIT_VERIFY_DUPLICATE, e->seq, line,
				     "two checkpoints at seq %" PRId64 " sign different hashes",
				     e->seq);
				return false;
			}
			v->rep.redelivered++;
			return true;
		}
	if (v->n_pending == AUDIT_VERIFY_PENDING_MAX) {
		fail(v, AUDIT_VERIFY_REORDERED, e->seq, line,
		     "more than %d checkpoints come before their records: out of order",
		     AUDIT_VERIFY_PENDING_MAX);
		return false;
	}
	v->pending[v->n_pending].seq = e->seq;
	memcpy(v->pending[v->n_pending].hash, e->hash, 32);
	v->n_pending++;
	return true;
}

/*
 * After a gap [lo, hi] at line: is record lo, the first one missing, further
 * on (reordered) or nowhere (deleted)? Only lo is looked for: a later record
 * of the gap found first says nothing of where lo went.
 */
static void classify_gap(struct verifier *v, FILE *f, int64_t lo, int64_t hi, int64_t line,
			 int64_t seen_seq)
{
	int64_t at = line;
	size_t len;

	for (;;) {
		struct audit_log_entry e;
		int r = read_line(v, f, &len);

		if (r == 0 || r == -EIO || r == -ENOMEM)
			break;
		at++;
		if (r < 0 || audit_log_parse_line(v->line, len, &e, NULL) < 0)
			continue;
		if (e.type == AUDIT_LOG_RECORD && e.seq == lo) {
			fail(v, AUDIT_VERIFY_REORDERED, lo, line,
			     "record %" PRId64 " is out of order: expected at line %" PRId64
			     " (which holds record %" PRId64 "), found at line %" PRId64,
			     lo, line, seen_seq, at);
			audit_log_entry_clear(&e);
			return;
		}
		audit_log_entry_clear(&e);
	}
	if (lo == hi)
		fail(v, AUDIT_VERIFY_MISSING, lo, line,
		     "record %" PRId64 " is missing (the next line holds record %" PRId64
		     "): deleted", lo, seen_seq);
	else
		fail(v, AUDIT_VERIFY_MISSING, lo, line,
		     "records %" PRId64 "..%" PRId64 " are missing (the next line holds record %"
		     PRId64 "): deleted", lo, hi, seen_seq);
}

static bool on_record(struct verifier *v, FILE *f, const struct audit_log_entry *e,
		      int64_t line)
{
	static const unsigned char zero[32];
	unsigned char h[32];
	struct seen *s;

	audit_log_entry_hash(e, h);
	if (sodium_memcmp(h, e->hash, 32) != 0) {
		/*
		 * The seq is one of the fields that may have been edited: past
		 * the next one expected, name the one expected there.
		 */
		if (v->started && e->seq > v->rep.last_seq + 1)
			fail(v, AUDIT_VERIFY_EDITED, v->rep.last_seq + 1, line,
			     "line %" PRId64 " holds a record whose hash does not match its "
			     "fields, where record %" PRId64 " was expected: it was edited "
			     "(its seq says %" PRId64 ")", line, v->rep.last_seq + 1, e->seq);
		else
			fail(v, AUDIT_VERIFY_EDITED, e->seq, line,
			     "record %" PRId64 "'s hash does not match its fields: the record "
			     "was edited", e->seq);
		return false;
	}
	if (!v->started) {
		if (e->seq != 1 && !v->allow_partial) {
			if (e->seq == 2)
				fail(v, AUDIT_VERIFY_HEAD_MISSING, 1, line,
				     "the log starts at record 2: record 1 is missing (deleted, "
				     "or rotated into another file)");
			else
				fail(v, AUDIT_VERIFY_HEAD_MISSING, 1, line,
				     "the log starts at record %" PRId64 ": records 1..%" PRId64
				     " are missing (deleted, or rotated into another file)",
				     e->seq, e->seq - 1);
			return false;
		}
		if (e->seq == 1 && sodium_memcmp(e->prev_hash, zero, 32) != 0) {
			fail(v, AUDIT_VERIFY_BROKEN_LINK, 1, line,
			     "record 1's prev_hash is not all zeros");
			return false;
		}
		v->started = true;
		v->rep.first_seq = e->seq;
	} else if (e->seq <= v->rep.last_seq) {
		s = window_find(v, e->seq);
		if (s != NULL && sodium_memcmp(s->hash, e->hash, 32) == 0) {
			v->rep.redelivered++;   /* a resend after a reconnection */
			return true;
		}
		if (s != NULL) {
			fail(v, AUDIT_VERIFY_DUPLICATE, e->seq, line,
			     "record %" PRId64 " appears twice with different contents", e->seq);
			return false;
		}
		fail(v, AUDIT_VERIFY_REORDERED, e->seq, line,
		     "record %" PRId64 " comes after record %" PRId64 ": the log is out of order",
		     e->seq, v->rep.last_seq);
		return false;
	} else if (e->seq > v->rep.last_seq + 1) {
		classify_gap(v, f, v->rep.last_seq + 1, e->seq - 1, line, e->seq);
		return false;
	} else if (sodium_memcmp(e->prev_hash, v->last_hash, 32) != 0) {
		/*
		 * The record itself is consistent, so the one before was
		 * rewritten with a recomputed hash, or this one's link was.
		 * A checkpoint that verified on the one before proves it.
		 */
		if (v->rep.last_checkpoint_seq >= v->rep.last_seq)
			fail(v, AUDIT_VERIFY_BROKEN_LINK, e->seq, line,
			     "record %" PRId64 " does not link to record %" PRId64 "'s hash, "
			     "which a checkpoint signs: record %" PRId64 " was altered and its "
			     "hash recomputed", e->seq, v->rep.last_seq, e->seq);
		else
			fail(v, AUDIT_VERIFY_BROKEN_LINK, v->rep.last_seq, line,
			     "record %" PRId64 " does not link to record %" PRId64 "'s hash: "
			     "record %" PRId64 " was altered and its hash recomputed (or record %"
			     PRId64 "'s link was)", e->seq, v->rep.last_seq, v->rep.last_seq,
			     e->seq);
		return false;
	}
	v->rep.records++;
	v->rep.last_seq = e->seq;
	memcpy(v->last_hash, e->hash, 32);
	s = &v->window[(uint64_t)e->seq % AUDIT_VERIFY_WINDOW];
	s->seq = e->seq;
	memcpy(s->hash, e->hash, 32);
	s->signed_by_cp = false;
	for (int i = 0; i < v->n_pending; i++)
		if (v->pending[i].seq == e->seq) {
			struct seen p = v->pending[i];

			v->pending[i] = v->pending[--v->n_pending];
			return checkpoint_matches(v, p.hash, s, line);
		}
	return true;
}

/* " (after record N)" for a damaged line's report, or "" before the first record. */
static const char *after_record(const struct verifier *v, char *buf, size_t size)
{
	if (v->rep.last_seq == 0)
		return "";
	snprintf(buf, size, " (after record %" PRId64 ")", v->rep.last_seq);
	return buf;
}

static int verify_log(struct verifier *vp, FILE *log, const struct audit_verify_opts *opts,
		      struct audit_verify_report *ret)
{
	int64_t line = 0;
	size_t len;
	int r;

	if (sodium_init() < 0)
		return -EIO;
	vp->allow_partial = opts != NULL && opts->allow_partial;
	vp->rep.ok = true;
	vp->window = calloc(AUDIT_VERIFY_WINDOW, sizeof(*vp->window));
	if (vp->window == NULL)
		return -ENOMEM;
	for (;;) {
		struct audit_log_entry e;
		const char *why = "malformed";
		char after[48];
		bool good;

		r = read_line(vp, log, &len);
		if (r == 0)
			break;
		line++;
		/*
		 * Which seq a damaged line held is unknown (it may be a
		 * re-delivery, or a checkpoint): no first bad seq is named,
		 * only the line and the last record verified before it.
		 */
		if (r == -E2BIG) {
			fail(vp, AUDIT_VERIFY_BAD_LINE, 0, line,
			     "line %" PRId64 "%s is longer than %d bytes", line,
			     after_record(vp, after, sizeof(after)), AUDIT_LOG_LINE_MAX);
			break;
		}
		if (r < 0)
			goto out;
		if (blank(vp->line, len))
			continue;
		vp->rep.lines++;
		r = audit_log_parse_line(vp->line, len, &e, &why);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			fail(vp, AUDIT_VERIFY_BAD_LINE, 0, line,
			     "line %" PRId64 "%s is not a valid audit entry: %s", line,
			     after_record(vp, after, sizeof(after)), why);
			break;
		}
		good = e.type == AUDIT_LOG_RECORD ? on_record(vp, log, &e, line)
						  : on_checkpoint(vp, &e, line);
		audit_log_entry_clear(&e);
		if (!good)
			break;
	}
	if (vp->rep.ok && vp->n_pending > 0) {
		int64_t hi = 0;

		for (int i = 0; i < vp->n_pending; i++)
			if (vp->pending[i].seq > hi)
				hi = vp->pending[i].seq;
		fail(vp, AUDIT_VERIFY_TRUNCATED, vp->rep.last_seq + 1, 0,
		     "a checkpoint signs record %" PRId64 " but the log ends at record %" PRId64
		     ": records %" PRId64 "..%" PRId64 " were cut off", hi, vp->rep.last_seq,
		     vp->rep.last_seq + 1, hi);
	}
	if (vp->rep.ok && vp->rep.records == 0)
		fail(vp, AUDIT_VERIFY_EMPTY, 0, 0, "the log holds no audit record");
	vp->rep.keys_unseen = audit_trust_unseen(&vp->trust);
	if (vp->rep.records > 0) {
		int64_t signed_to = vp->rep.last_checkpoint_seq > vp->rep.first_seq - 1
			? vp->rep.last_checkpoint_seq : vp->rep.first_seq - 1;

		vp->rep.unsigned_tail = vp->rep.last_seq > signed_to ? vp->rep.last_seq - signed_to : 0;
	}
	/*
	 * Anyone can compute a chain of hashes: without a checkpoint signed
	 * by the audit key, nothing shows that the registry wrote these
	 * records rather than whoever made the file.
	 */
	if (vp->rep.ok && vp->rep.checkpoints == 0)
		fail(vp, AUDIT_VERIFY_UNSIGNED, vp->rep.first_seq, 0,
		     "no checkpoint in the log verifies: its %" PRId64 " records are chained, "
		     "but nothing signed by the audit key vouches for them", vp->rep.records);
	else if (vp->rep.ok && opts != NULL && opts->limit_unsigned &&
		 vp->rep.unsigned_tail > opts->max_unsigned)
		fail(vp, AUDIT_VERIFY_UNSIGNED, vp->rep.last_seq - vp->rep.unsigned_tail + 1, 0,
		     "%" PRId64 " records after the last checkpoint (seq %" PRId64 "..%" PRId64
		     ") are not signed, more than the %" PRId64 " allowed",
		     vp->rep.unsigned_tail, vp->rep.last_seq - vp->rep.unsigned_tail + 1,
		     vp->rep.last_seq, opts->max_unsigned);
	*ret = vp->rep;
	r = 0;
out:
	free(vp->window);
	free(vp->line);
	return r;
}

int audit_verify_log_keys(FILE *log, const unsigned char (*keys)[32], size_t n_keys,
			  const struct audit_verify_opts *opts, struct audit_verify_report *ret)
{
	struct verifier *vp;
	int r;

	if (n_keys == 0 || n_keys > AUDIT_PUBKEYS_MAX)
		return -EINVAL;
	vp = calloc(1, sizeof(*vp));
	if (vp == NULL)
		return -ENOMEM;
	r = audit_trust_init(&vp->trust, keys, n_keys);
	if (r == 0)
		r = verify_log(vp, log, opts, ret);
	free(vp);
	return r;
}

int audit_verify_log_opts(FILE *log, const unsigned char pubkey[32],
			  const struct audit_verify_opts *opts, struct audit_verify_report *ret)
{
	return audit_verify_log_keys(log, (const unsigned char (*)[32])pubkey, 1, opts, ret);
}

int audit_verify_log(FILE *log, const unsigned char pubkey[32], struct audit_verify_report *ret)
{
	return audit_verify_log_opts(log, pubkey, NULL, ret);
}

/* ---- reading records in file order ---------------------------------------------- */

int audit_log_next_record(struct audit_log_reader *r, struct audit_log_entry *ret)
{
	for (;;) {
		struct audit_log_entry e;
		size_t len;
		int n = read_line_buf(&r->line, &r->line_cap, r->f, &len);

		if (n == 0 || n == -EIO || n == -ENOMEM)
			return n;
		r->line_no++;
		if (n < 0 || blank(r->line, len)) {
			if (n < 0)
				r->skipped++;
			continue;
		}
		n = audit_log_parse_line(r->line, len, &e, NULL);
		if (n == -ENOMEM)
			return n;
		if (n < 0) {
			r->skipped++;
			continue;
		}
		if (e.type != AUDIT_LOG_RECORD) {
			audit_log_entry_clear(&e);
			continue;
		}
		*ret = e;
		return 1;
	}
}

void audit_log_reader_clear(struct audit_log_reader *r)
{
	if (r == NULL)
		return;
	free(r->line);
	r->line = NULL;
	r->line_cap = 0;
}

/* ---- reporting -------------------------------------------------------------- */

const char *audit_verify_problem_name(enum audit_verify_problem p)
{
	switch (p) {
	case AUDIT_VERIFY_OK:
		return "ok";
	case AUDIT_VERIFY_BAD_LINE:
		return "bad_line";
	case AUDIT_VERIFY_EDITED:
		return "edited";
	case AUDIT_VERIFY_BROKEN_LINK:
		return "broken_link";
	case AUDIT_VERIFY_MISSING:
		return "missing";
	case AUDIT_VERIFY_REORDERED:
		return "reordered";
	case AUDIT_VERIFY_DUPLICATE:
		return "duplicate";
	case AUDIT_VERIFY_WRONG_KEY:
		return "wrong_key";
	case AUDIT_VERIFY_BAD_SIGNATURE:
		return "bad_signature";
	case AUDIT_VERIFY_CHECKPOINT_MISMATCH:
		return "checkpoint_mismatch";
	case AUDIT_VERIFY_TRUNCATED:
		return "truncated";
	case AUDIT_VERIFY_HEAD_MISSING:
		return "head_missing";
	case AUDIT_VERIFY_EMPTY:
		return "empty";
	case AUDIT_VERIFY_UNSIGNED:
		return "unsigned";
	}
	return "unknown";
}

void audit_verify_print(FILE *f, const struct audit_verify_report *r)
{
	if (r->ok) {
		fprintf(f, "ok: %" PRId64 " records (seq %" PRId64 "..%" PRId64 "), %" PRId64
			" checkpoints verified", r->records, r->first_seq, r->last_seq,
			r->checkpoints);
		if (r->last_checkpoint_seq > 0)
			fprintf(f, ", the last at seq %" PRId64, r->last_checkpoint_seq);
		fputc('\n', f);
	} else {
		/* Unsigned records are chained, every one; signed only up to the last checkpoint. */
		bool unsigned_fail = r->problem == AUDIT_VERIFY_UNSIGNED;

		fprintf(f, "FAILED: %s\n", r->reason);
		if (r->first_bad_seq > 0)
			fprintf(f, "first bad seq: %" PRId64 "\n", r->first_bad_seq);
		if (r->bad_line > 0)
			fprintf(f, "at line: %" PRId64 "\n", r->bad_line);
		fprintf(f, "%s: %" PRId64 " records", unsigned_fail ? "chained" : "verified before it",
			r->records);
		if (r->records > 0)
			fprintf(f, " (seq %" PRId64 "..%" PRId64 ")", r->first_seq, r->last_seq);
		if (unsigned_fail && r->last_checkpoint_seq > 0)
			fprintf(f, "; signed up to seq %" PRId64, r->last_checkpoint_seq);
		fprintf(f, ", %" PRId64 " checkpoints\n", r->checkpoints);
	}
	if (r->ok && r->first_seq > 1)
		fprintf(f, "note: the log starts at seq %" PRId64 "; records before it are not "
			"in this file\n", r->first_seq);
	if (r->ok && r->unsigned_tail > 0)
		fprintf(f, "note: the %" PRId64 " records after the last checkpoint (seq %" PRId64
			"..%" PRId64 ") are chained but not signed yet: whoever held the file could "
			"have altered, added or cut them off unseen\n",
			r->unsigned_tail, r->last_seq - r->unsigned_tail + 1, r->last_seq);
	if (r->redelivered > 0)
		fprintf(f, "note: %" PRId64 " identical re-deliveries ignored\n", r->redelivered);
	if (r->ok && r->keys_unseen > 0)
		fprintf(f, "note: %d of the keys given sign nothing in this file: so looks a copy "
			"made before the rotation to them, and so does one cut before their first "
			"checkpoint, whatever an older key signed after the cut\n", r->keys_unseen);
}

json_t *audit_verify_report_json(const struct audit_verify_report *r)
{
	json_t *o = json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}",
			      "ok", r->ok, "problem", audit_verify_problem_name(r->problem),
			      "lines", (json_int_t)r->lines,
			      "records", (json_int_t)r->records,
			      "checkpoints", (json_int_t)r->checkpoints,
			      "redelivered", (json_int_t)r->redelivered,
			      "first_seq", (json_int_t)r->first_seq,
			      "last_seq", (json_int_t)r->last_seq,
			      "last_checkpoint_seq", (json_int_t)r->last_checkpoint_seq,
			      "unsigned_tail", (json_int_t)r->unsigned_tail,
			      "keys_unseen", r->keys_unseen);

	if (o == NULL)
		return NULL;
	if (!r->ok && (json_object_set_new(o, "first_bad", r->first_bad_seq > 0
					   ? json_integer(r->first_bad_seq) : json_null()) < 0 ||
		       json_object_set_new(o, "line", r->bad_line > 0
					   ? json_integer(r->bad_line) : json_null()) < 0 ||
		       json_object_set_new(o, "reason", json_string(r->reason)) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- the public key ---------------------------------------------------------- */

int audit_pubkey_parse(const char *text, unsigned char ret[32])
{
	unsigned char k[32];
	const char *p = text;
	size_t n = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	while ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f') ||
	       (p[n] >= 'A' && p[n] <= 'F'))
		n++;
	if (n != 64)
		return -EINVAL;
	for (size_t i = 0; i < 32; i++)
		k[i] = (unsigned char)(hex_value((unsigned char)p[2 * i]) * 16 +
				       hex_value((unsigned char)p[2 * i + 1]));
	for (p += n; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			return -EINVAL;
	memcpy(ret, k, 32);
	return 0;
}

/*
 * A key file into buf (size bytes with the NUL): -EINVAL when it is longer
 * than any key file could be or holds a NUL, else 0 or -errno.
 */
FILE *audit_file_open(const char *path)
{
	FILE *f = fopen(path, "re");
	struct stat st;

	if (f != NULL && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	return f;
}

static int read_key_file(const char *path, char *buf, size_t size)
{
	size_t n;
	FILE *f;
	int r;

	f = audit_file_open(path);
	if (f == NULL)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	r = ferror(f) ? -EIO : 0;
	if (r == 0 && !feof(f))
		r = -EINVAL;            /* longer than any key file */
	fclose(f);
	if (r < 0)
		return r;
	buf[n] = '\0';
	return strlen(buf) == n ? 0 : -EINVAL;     /* a NUL inside */
}

int audit_pubkey_load(const char *path, unsigned char ret[32])
{
	char buf[1025];
	int r = read_key_file(path, buf, sizeof(buf));

	return r < 0 ? r : audit_pubkey_parse(buf, ret);
}

int audit_pubkeys_load(const char *path, unsigned char (*ret)[32], size_t max, size_t *ret_n)
{
	/* 64 hex digits and a newline per key, with room for white space. */
	char buf[AUDIT_PUBKEYS_MAX * 80 + 1], *line, *save = NULL;
	unsigned char k[AUDIT_PUBKEYS_MAX][32];
	size_t n = 0;
	int r;

	if (max > AUDIT_PUBKEYS_MAX)
		max = AUDIT_PUBKEYS_MAX;
	r = read_key_file(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strspn(line, " \t\r") == strlen(line))
			continue;       /* a blank line */
		if (n == max || audit_pubkey_parse(line, k[n]) < 0)
			return -EINVAL;
		n++;
	}
	if (n == 0)
		return -EINVAL;
	memcpy(ret, k, n * 32);
	*ret_n = n;
	return 0;
}
