/*
 * test-auditlog.c: unit tests for ctl/audit-verify.c, the offline check of
 * a shipped audit log, and for its line parser (also a fuzz target).
 *
 * The logs are made here the way syslog-ng writes them from rosterd's
 * messages (scripts/syslog-ng/roster.conf): one JSON object per line, every
 * value a string, text percent-encoded by the rule in daemon/shipper.h,
 * binary values in lower-case hex, plus syslog's header keys. Each test
 * damages such a log in one way and checks the verdict and the first bad
 * sequence number. Two known-answer hashes, computed independently of
 * lib/audit-hash.c, pin the canonical encoding of doc/audit-format.md.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "ctl/audit-verify.h"
#include "daemon/shipper.h"         /* SHIP_SAFE_BYTE: the encoder's rule */
#include "lib/audit-hash.h"
#include "lib/audit-trust.h"

/* --- making logs ----------------------------------------------------------- */

#define MAX_LINES 256
#define MAX_RECS 128

static unsigned char pk[32], sk[64];

struct rec {
	struct audit_fields f;
	char method[64];
	unsigned char prev[32];
	unsigned char hash[32];
};

struct tlog {
	char *line[MAX_LINES];
	int n;
	struct rec rec[MAX_RECS + 1];  /* by seq */
	int nrec;
};

static void keys_init(void)
{
	unsigned char seed[32];

	memset(seed, 0x42, sizeof(seed));
	ck_assert_int_eq(sodium_init() >= 0, 1);
	crypto_sign_seed_keypair(pk, sk, seed);
}

static char *hex(const unsigned char *p, size_t n, char *buf)
{
	sodium_bin2hex(buf, 2 * n + 1, p, n);
	return buf;
}

/* The shipper's text encoding, written independently of it. */
static char *pct(const char *s)
{
	char *o = malloc(strlen(s) * 3 + 1), *p = o;

	ck_assert_ptr_nonnull(o);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (SHIP_SAFE_BYTE(c))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = '\0';
	return o;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	ck_assert_int_eq(json_object_set_new(o, k, json_string(v)), 0);
}

static void set_text(json_t *o, const char *k, const char *v)
{
	char *e = pct(v);

	set_str(o, k, e);
	free(e);
}

static void set_int(json_t *o, const char *k, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	set_str(o, k, buf);
}

/* syslog-ng's header keys, which the verifier must ignore. */
static void set_header(json_t *o, const char *msgid)
{
	set_str(o, "PROGRAM", "rosterd");
	set_str(o, "PID", "4242");
	set_str(o, "HOST", "host");
	set_str(o, "MSGID", msgid);
	set_str(o, "PRIORITY", "info");
	set_str(o, "FACILITY", "authpriv");
	set_str(o, "ISODATE", "2023-11-14T22:13:20.000000+00:00");
}

static char *dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	ck_assert_ptr_nonnull(s);
	json_decref(o);
	return s;
}

static char *record_line(const struct rec *r)
{
	json_t *o = json_object();
	char h[65];

	set_str(o, "type", "record");
	set_int(o, "seq", r->f.seq);
	set_int(o, "time_us", r->f.time_us);
	set_text(o, "principal", r->f.principal);
	set_int(o, "uid", r->f.uid);
	set_int(o, "gid", r->f.gid);
	set_int(o, "pid", r->f.pid);
	set_text(o, "role", r->f.role);
	set_text(o, "method", r->f.method);
	set_text(o, "ids", r->f.ids);
	set_text(o, "fields", r->f.fields);
	set_int(o, "records", r->f.records);
	set_text(o, "result", r->f.result);
	set_text(o, "error", r->f.error);
	set_text(o, "alert", r->f.alert);
	set_str(o, "prev_hash", hex(r->prev, 32, h));
	set_str(o, "hash", hex(r->hash, 32, h));
	set_header(o, "AUDIT");
	return dump(o);
}

/* A checkpoint over (seq, hash, time) signed with secret key key_sk. */
static char *checkpoint_line_with(int64_t seq, const unsigned char hash[32], int64_t time_us,
				  const unsigned char *key_pk, const unsigned char *key_sk)
{
	unsigned char msg[AUDIT_CP_MSG_BYTES], sig[64];
	char h[129];
	json_t *o = json_object();

	audit_checkpoint_message(seq, hash, time_us, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), key_sk);
	set_str(o, "type", "checkpoint");
	set_int(o, "seq", seq);
	set_int(o, "time_us", time_us);
	set_str(o, "hash", hex(hash, 32, h));
	set_str(o, "pubkey", hex(key_pk, 32, h));
	set_str(o, "sig", hex(sig, 64, h));
	set_header(o, "CHECKPOINT");
	return dump(o);
}

static char *checkpoint_line(const struct tlog *t, int64_t seq)
{
	return checkpoint_line_with(seq, t->rec[seq].hash, t->rec[seq].f.time_us + 5, pk, sk);
}

static void add_line(struct tlog *t, char *line)
{
	ck_assert_int_lt(t->n, MAX_LINES);
	t->line[t->n++] = line;
}

/* Fill in record seq (fields vary with seq, some text needs escaping) after prev. */
static void make_record(struct tlog *t, int64_t seq, const unsigned char prev[32])
{
	static const char *const methods[] = {
		"io.roster.Clients.Get", "io.roster.Clients.Search", "x'y\"z\\w%41 q",
		"new\nline\ttab", "caf\xc3\xa9", "  spaced  ", "",
	};
	struct rec *r = &t->rec[seq];

	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", methods[seq % 7]);
	r->f.seq = seq;
	r->f.time_us = 1700000000000000 + seq * 1000;
	r->f.principal = seq % 3 ? "alice" : "unknown";
	r->f.uid = 1000 + seq % 4;
	r->f.gid = 1000;
	r->f.pid = 4000 + seq;
	r->f.role = seq % 3 ? "support" : "";
	r->f.method = r->method;
	r->f.ids = seq % 2 ? "0123456789abcdef0123456789abcdef" : "";
	r->f.fields = seq % 2 ? "identity contact" : "";
	r->f.records = seq % 2;
	r->f.result = seq % 5 ? "ok" : "denied";
	r->f.error = seq % 5 ? "" : "io.roster.PermissionDenied";
	r->f.alert = seq % 11 ? "" : "CANARY";
	memcpy(r->prev, prev, 32);
	audit_hash(r->prev, &r->f, r->hash);
}

/* nrec records, a checkpoint after every cp_every-th, and one after the last if final_cp. */
static void tlog_make(struct tlog *t, int nrec, int cp_every, bool final_cp)
{
	unsigned char zero[32] = { 0 };

	memset(t, 0, sizeof(*t));
	ck_assert_int_le(nrec, MAX_RECS);
	t->nrec = nrec;
	for (int64_t s = 1; s <= nrec; s++) {
		make_record(t, s, s == 1 ? zero : t->rec[s - 1].hash);
		add_line(t, record_line(&t->rec[s]));
		if ((cp_every > 0 && s % cp_every == 0) || (final_cp && s == nrec))
			add_line(t, checkpoint_line(t, s));
	}
}

static void tlog_free(struct tlog *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->line[i]);
	t->n = 0;
}

/* The index of the line holding record seq (or a checkpoint at seq). */
static int find_line(const struct tlog *t, int64_t seq, bool checkpoint)
{
	char want[64];

	snprintf(want, sizeof(want), "\"seq\":\"%" PRId64 "\"", seq);
	for (int i = 0; i < t->n; i++)
		if (strstr(t->line[i], want) &&
		    (strstr(t->line[i], "\"type\":\"checkpoint\"") != NULL) == checkpoint)
			return i;
	ck_abort_msg("no line for seq %" PRId64, seq);
	return -1;
}

static void remove_line(struct tlog *t, int i)
{
	free(t->line[i]);
	memmove(&t->line[i], &t->line[i + 1], (size_t)(t->n - i - 1) * sizeof(char *));
	t->n--;
}

static void insert_line(struct tlog *t, int at, char *line)
{
	ck_assert_int_lt(t->n, MAX_LINES);
	memmove(&t->line[at + 1], &t->line[at], (size_t)(t->n - at) * sizeof(char *));
	t->line[at] = line;
	t->n++;
}

/* Replace one string member of line i. */
static void edit_line(struct tlog *t, int i, const char *key, const char *value)
{
	json_error_t err;
	json_t *o = json_loads(t->line[i], 0, &err);

	ck_assert_ptr_nonnull(o);
	set_str(o, key, value);
	free(t->line[i]);
	t->line[i] = dump(o);
}

/*
 * Verify t's lines (and extra, if any) with n keys, oldest first (as `audit
 * pubkey --all` prints them).
 */
static int run_verify_with(const struct tlog *t, const char *extra,
			   const unsigned char (*keys)[32], size_t n,
			   const struct audit_verify_opts *opts, struct audit_verify_report *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *w = open_memstream(&buf, &len), *f;
	int r;

	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < t->n; i++)
		fprintf(w, "%s\n", t->line[i]);
	if (extra)
		fputs(extra, w);
	fclose(w);
	f = fmemopen(buf, len ? len : 1, "r");
	ck_assert_ptr_nonnull(f);
	if (len == 0)
		(void)getc(f);  /* fmemopen refuses size 0: consume the one byte */
	r = audit_verify_log_keys(f, keys, n, opts, rep);
	fclose(f);
	free(buf);
	return r;
}

/* The same with this file's one key. */
static int run_verify(const struct tlog *t, const char *extra, const struct audit_verify_opts *opts,
		      struct audit_verify_report *rep)
{
	return run_verify_with(t, extra, (const unsigned char (*)[32])pk, 1, opts, rep);
}

static int run_verify_keys(const struct tlog *t, const unsigned char (*keys)[32], size_t n,
			   const struct audit_verify_opts *opts, struct audit_verify_report *rep)
{
	return run_verify_with(t, NULL, keys, n, opts, rep);
}

static void verify_expect(const struct tlog *t, enum audit_verify_problem p, int64_t first_bad,
			  struct audit_verify_report *rep)
{
	ck_assert_int_eq(run_verify(t, NULL, NULL, rep), 0);
	ck_assert_msg(rep->problem == p, "problem %s, expected %s (%s)",
		      audit_verify_problem_name(rep->problem), audit_verify_problem_name(p),
		      rep->reason);
	ck_assert_int_eq(rep->ok, p == AUDIT_VERIFY_OK);
	ck_assert_int_eq(rep->first_bad_seq, first_bad);
}

/* --- the line parser ------------------------------------------------------- */

static int parse(const char *line, struct audit_log_entry *e, const char **why)
{
	return audit_log_parse_line(line, strlen(line), e, why);
}

START_TEST(test_parse_record_decodes_every_field)
{
	struct tlog t;
	struct audit_log_entry e;
	const char *why = NULL;

	keys_init();
	tlog_make(&t, 3, 0, false);
	ck_assert_int_eq(parse(t.line[1], &e, &why), 0);
	ck_assert_int_eq(e.type, AUDIT_LOG_RECORD);
	ck_assert_int_eq(e.seq, 2);
	ck_assert_int_eq(e.time_us, t.rec[2].f.time_us);
	ck_assert_str_eq(e.method, "x'y\"z\\w%41 q");  /* decoded, %41 stays literal */
	ck_assert_str_eq(e.principal, "alice");
	ck_assert_str_eq(e.role, "support");
	ck_assert_str_eq(e.ids, "");
	ck_assert_int_eq(e.uid, 1002);
	ck_assert_int_eq(memcmp(e.hash, t.rec[2].hash, 32), 0);
	ck_assert_int_eq(memcmp(e.prev_hash, t.rec[1].hash, 32), 0);
	audit_log_entry_clear(&e);
	ck_assert_int_eq(parse(t.line[2], &e, &why), 0);
	ck_assert_str_eq(e.method, "new\nline\ttab");
	audit_log_entry_clear(&e);
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_checkpoint)
{
	struct tlog t;
	struct audit_log_entry e;

	keys_init();
	tlog_make(&t, 2, 0, true);
	ck_assert_int_eq(parse(t.line[2], &e, NULL), 0);
	ck_assert_int_eq(e.type, AUDIT_LOG_CHECKPOINT);
	ck_assert_int_eq(e.seq, 2);
	ck_assert_int_eq(memcmp(e.pubkey, pk, 32), 0);
	ck_assert_int_eq(memcmp(e.hash, t.rec[2].hash, 32), 0);
	ck_assert_ptr_null(e.method);
	audit_log_entry_clear(&e);
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_json_integers_accepted)
{
	struct tlog t;
	struct audit_log_entry e;
	json_error_t err;
	json_t *o;
	char *s;

	keys_init();
	tlog_make(&t, 1, 0, false);
	o = json_loads(t.line[0], 0, &err);
	json_object_set_new(o, "seq", json_integer(1));
	json_object_set_new(o, "uid", json_integer(1001));
	s = dump(o);
	ck_assert_int_eq(parse(s, &e, NULL), 0);
	ck_assert_int_eq(e.seq, 1);
	ck_assert_int_eq(e.uid, 1001);
	audit_log_entry_clear(&e);
	free(s);
	tlog_free(&t);
}
END_TEST

/* Integers as syslog-ng writes them: only the canonical decimal form. */
START_TEST(test_parse_integer_forms)
{
	static const struct {
		const char *v;
		int ok;
		int64_t want;
	} cases[] = {
		{ "0", 1, 0 }, { "7", 1, 7 }, { "-5", 1, -5 },
		{ "9223372036854775807", 1, INT64_MAX },
		{ "-9223372036854775808", 1, INT64_MIN },
		{ "9223372036854775808", 0, 0 }, { "-9223372036854775809", 0, 0 },
		{ "007", 0, 0 }, { "+7", 0, 0 }, { "-0", 0, 0 }, { "", 0, 0 }, { "-", 0, 0 },
		{ "1e3", 0, 0 }, { " 7", 0, 0 }, { "7 ", 0, 0 }, { "0x10", 0, 0 },
		{ "99999999999999999999", 0, 0 },
	};
	struct tlog t;

	keys_init();
	tlog_make(&t, 1, 0, false);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct audit_log_entry e;
		const char *why = NULL;
		int r;

		edit_line(&t, 0, "uid", cases[i].v);
		r = parse(t.line[0], &e, &why);
		ck_assert_msg((r == 0) == cases[i].ok, "uid \"%s\": %d", cases[i].v, r);
		if (r == 0) {
			ck_assert_int_eq(e.uid, cases[i].want);
			audit_log_entry_clear(&e);
		} else {
			ck_assert_int_eq(r, -EBADMSG);
			ck_assert_ptr_nonnull(strstr(why, "uid"));
		}
	}
	tlog_free(&t);
}
END_TEST

/*
 * seq INT64_MAX has no successor for the verifier to expect (found by the
 * auditlog fuzz target: signed overflow with allow_partial); it is refused.
 */
START_TEST(test_parse_seq_range)
{
	struct audit_log_entry e;
	const char *why = NULL;
	struct tlog t;

	keys_init();
	tlog_make(&t, 1, 0, false);
	edit_line(&t, 0, "seq", "9223372036854775807");
	ck_assert_int_eq(parse(t.line[0], &e, &why), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(why, "seq"));
	edit_line(&t, 0, "seq", "9223372036854775806");
	ck_assert_int_eq(parse(t.line[0], &e, &why), 0);
	ck_assert_int_eq(e.seq, INT64_MAX - 1);
	audit_log_entry_clear(&e);
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_percent_escapes)
{
	static const struct {
		const char *v;
		const char *want;       /* NULL: refused */
	} cases[] = {
		{ "a%27b", "a'b" }, { "%5c%5C", "\\\\" }, { "%C3%A9", "\xc3\xa9" },
		{ "%25", "%" }, { "raw 'quote'", "raw 'quote'" },
		{ "%", NULL }, { "%4", NULL }, { "a%G1", NULL }, { "%00", NULL }, { "x%0", NULL },
	};
	struct tlog t;

	keys_init();
	tlog_make(&t, 1, 0, false);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct audit_log_entry e;
		int r;

		edit_line(&t, 0, "method", cases[i].v);
		r = parse(t.line[0], &e, NULL);
		if (cases[i].want == NULL) {
			ck_assert_msg(r == -EBADMSG, "method \"%s\" accepted", cases[i].v);
		} else {
			ck_assert_msg(r == 0, "method \"%s\" refused", cases[i].v);
			ck_assert_str_eq(e.method, cases[i].want);
			audit_log_entry_clear(&e);
		}
	}
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_hex_strict)
{
	struct tlog t;
	struct audit_log_entry e;
	char h[65];

	keys_init();
	tlog_make(&t, 1, 0, false);
	hex(t.rec[1].hash, 32, h);
	for (char *p = h; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	edit_line(&t, 0, "hash", h);
	ck_assert_int_eq(parse(t.line[0], &e, NULL), -EBADMSG);         /* upper case */
	edit_line(&t, 0, "hash", "00");
	ck_assert_int_eq(parse(t.line[0], &e, NULL), -EBADMSG);         /* short */
	edit_line(&t, 0, "prev_hash", "zz00000000000000000000000000000000000000000000000000000000000000");
	ck_assert_int_eq(parse(t.line[0], &e, NULL), -EBADMSG);         /* not hex */
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_every_field_required)
{
	static const char *const rec_keys[] = {
		"type", "seq", "time_us", "principal", "uid", "gid", "pid", "role", "method",
		"ids", "fields", "records", "result", "error", "alert", "prev_hash", "hash",
	};
	static const char *const cp_keys[] = { "seq", "time_us", "hash", "pubkey", "sig" };
	struct tlog t;

	keys_init();
	tlog_make(&t, 1, 0, true);
	for (size_t i = 0; i < sizeof(rec_keys) / sizeof(rec_keys[0]); i++) {
		struct audit_log_entry e;
		json_error_t err;
		json_t *o = json_loads(t.line[0], 0, &err);
		const char *why = NULL;
		char *s;

		json_object_del(o, rec_keys[i]);
		s = dump(o);
		ck_assert_msg(parse(s, &e, &why) == -EBADMSG, "record without %s accepted",
			      rec_keys[i]);
		ck_assert_ptr_nonnull(why);
		free(s);
	}
	for (size_t i = 0; i < sizeof(cp_keys) / sizeof(cp_keys[0]); i++) {
		struct audit_log_entry e;
		json_error_t err;
		json_t *o = json_loads(t.line[1], 0, &err);
		const char *why = NULL;
		char *s;

		json_object_del(o, cp_keys[i]);
		s = dump(o);
		ck_assert_msg(parse(s, &e, &why) == -EBADMSG, "checkpoint without %s accepted",
			      cp_keys[i]);
		ck_assert_ptr_nonnull(strstr(why, cp_keys[i]));
		free(s);
	}
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_refuses_non_entries)
{
	static const char *const bad[] = {
		"", "{", "[]", "42", "\"record\"", "{}", "{\"type\":\"record\"}",
		"{\"type\":\"other\",\"seq\":\"1\"}", "{\"type\":7}",
		"{\"type\":\"checkpoint\",\"type\":\"checkpoint\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct audit_log_entry e;
		const char *why = NULL;

		ck_assert_msg(parse(bad[i], &e, &why) == -EBADMSG, "\"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(test_parse_duplicate_key_refused)
{
	struct tlog t;
	struct audit_log_entry e;
	char *s;
	size_t n;

	keys_init();
	tlog_make(&t, 1, 0, false);
	/* A second "result" at the end: one line must not say two things. */
	n = strlen(t.line[0]);
	s = malloc(n + 32);
	memcpy(s, t.line[0], n - 1);
	strcpy(s + n - 1, ",\"result\":\"ok\"}");
	ck_assert_int_eq(parse(s, &e, NULL), -EBADMSG);
	free(s);
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_seq_must_be_positive)
{
	struct tlog t;
	struct audit_log_entry e;

	keys_init();
	tlog_make(&t, 1, 0, false);
	edit_line(&t, 0, "seq", "0");
	ck_assert_int_eq(parse(t.line[0], &e, NULL), -EBADMSG);
	edit_line(&t, 0, "seq", "-1");
	ck_assert_int_eq(parse(t.line[0], &e, NULL), -EBADMSG);
	tlog_free(&t);
}
END_TEST

START_TEST(test_parse_failure_leaves_ret_untouched)
{
	struct audit_log_entry e;

	memset(&e, 0x5a, sizeof(e));
	ck_assert_int_eq(parse("{\"type\":\"record\",\"seq\":\"1\"}", &e, NULL), -EBADMSG);
	ck_assert_int_eq(e.seq, 0x5a5a5a5a5a5a5a5a);
}
END_TEST

/* Independent BLAKE2b-256 values (Python hashlib) for two records. */
START_TEST(test_hash_known_answers)
{
	static const char want1[] = "57b8c2c6432ef0899f3ff106f0540410af7a7e022f01e4319e34876a07b00bff";
	static const char want2[] = "7597d0f716b96f017323f0252d3ed358abed158277f37e871f068266361d286d";
	struct audit_fields f1 = {
		.seq = 1, .time_us = 1700000000000000, .principal = "alice", .uid = 1000,
		.gid = 1000, .pid = 4242, .role = "support", .method = "io.roster.Clients.Get",
		.ids = "0123456789abcdef0123456789abcdef", .fields = "identity contact",
		.records = 1, .result = "ok", .error = "", .alert = "",
	};
	struct audit_fields f2 = {
		.seq = 2, .time_us = 1700000000000001, .principal = "unknown", .uid = 0,
		.gid = 0, .pid = 1, .role = "", .method = "x'y\"z\\%\n\xc3\xa9", .ids = "",
		.fields = "", .records = 0, .result = "invalid",
		.error = "org.varlink.service.InvalidParameter", .alert = "",
	};
	unsigned char zero[32] = { 0 }, h1[32], h2[32];
	char buf[65];

	ck_assert_int_eq(sodium_init() >= 0, 1);
	audit_hash(zero, &f1, h1);
	ck_assert_str_eq(hex(h1, 32, buf), want1);
	audit_hash(h1, &f2, h2);
	ck_assert_str_eq(hex(h2, 32, buf), want2);
}
END_TEST

/* --- verifying ---------------------------------------------------------------- */

/*
 * The reader "audit report" compares a copy with: records in file order,
 * checkpoints and unreadable lines passed over (and counted), and the hash
 * of a line's fields, which an edit changes while the line's own "hash"
 * member stays as it was.
 */
START_TEST(test_reader_records_and_fields_hash)
{
	struct tlog t;
	struct audit_log_reader rd = { 0 };
	struct audit_log_entry e;
	unsigned char h[32];
	char *buf = NULL;
	size_t len = 0;
	FILE *w, *f;
	int64_t want = 1;

	keys_init();
	tlog_make(&t, 12, 5, true);
	ck_assert_str_eq(t.rec[7].f.result, "ok");
	edit_line(&t, find_line(&t, 7, false), "result", "denied");
	w = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < t.n; i++)
		fprintf(w, "%s\n%s", t.line[i], i == 3 ? "not json\n\n" : "");
	fclose(w);
	f = fmemopen(buf, len, "r");
	ck_assert_ptr_nonnull(f);
	rd.f = f;
	while (audit_log_next_record(&rd, &e) == 1) {
		ck_assert_int_eq(e.type, AUDIT_LOG_RECORD);
		ck_assert_int_eq(e.seq, want);
		audit_log_entry_hash(&e, h);
		/* Every line states its true hash, but record 7's fields were edited. */
		ck_assert(sodium_memcmp(e.hash, t.rec[want].hash, 32) == 0);
		ck_assert((sodium_memcmp(h, e.hash, 32) == 0) == (want != 7));
		audit_log_entry_clear(&e);
		want++;
	}
	ck_assert_int_eq(want, 13);
	ck_assert_int_eq(rd.skipped, 1);
	ck_assert_int_eq(rd.line_no, t.n + 2);
	audit_log_reader_clear(&rd);
	audit_log_reader_clear(&rd);    /* twice is harmless */
	audit_log_reader_clear(NULL);
	fclose(f);
	free(buf);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_good_log)
{
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	tlog_make(&t, 25, 10, true);
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	ck_assert_int_eq(rep.records, 25);
	ck_assert_int_eq(rep.checkpoints, 3);
	ck_assert_int_eq(rep.first_seq, 1);
	ck_assert_int_eq(rep.last_seq, 25);
	ck_assert_int_eq(rep.last_checkpoint_seq, 25);
	ck_assert_int_eq(rep.unsigned_tail, 0);
	ck_assert_int_eq(rep.lines, 28);
	ck_assert_str_eq(rep.reason, "");
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_unsigned_tail_reported)
{
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	tlog_make(&t, 25, 10, false);
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	ck_assert_int_eq(rep.last_checkpoint_seq, 20);
	ck_assert_int_eq(rep.unsigned_tail, 5);
	tlog_free(&t);
	/*
	 * No checkpoint at all: anyone can compute a chain, so nothing shows
	 * the registry wrote it, whatever key is given.
	 */
	tlog_make(&t, 5, 0, false);
	verify_expect(&t, AUDIT_VERIFY_UNSIGNED, 1, &rep);
	ck_assert_int_eq(rep.unsigned_tail, 5);
	ck_assert_int_eq(rep.checkpoints, 0);
	tlog_free(&t);
}
END_TEST

/* --max-unsigned: a longer tail than allowed fails, naming its first record. */
START_TEST(test_verify_max_unsigned)
{
	struct audit_verify_opts strict = { .limit_unsigned = true, .max_unsigned = 4 };
	struct audit_verify_opts enough = { .limit_unsigned = true, .max_unsigned = 5 };
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	tlog_make(&t, 25, 10, false);
	ck_assert_int_eq(run_verify(&t, NULL, &strict, &rep), 0);
	ck_assert_int_eq(rep.problem, AUDIT_VERIFY_UNSIGNED);
	ck_assert_int_eq(rep.first_bad_seq, 21);
	ck_assert_int_eq(run_verify(&t, NULL, &enough, &rep), 0);
	ck_assert_int_eq(rep.ok, 1);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_edited_field)
{
	static const char *const keys[] = { "principal", "method", "records", "result", "uid",
					    "time_us", "ids", "alert" };
	struct audit_verify_report rep;

	keys_init();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct tlog t;

		tlog_make(&t, 20, 10, true);
		edit_line(&t, find_line(&t, 13, false), keys[i], "1234");
		verify_expect(&t, AUDIT_VERIFY_EDITED, 13, &rep);
		ck_assert_int_eq(rep.records, 12);
		tlog_free(&t);
	}
}
END_TEST

START_TEST(test_verify_edited_and_rehashed)
{
	struct tlog t;
	struct audit_verify_report rep;
	int i;

	keys_init();
	tlog_make(&t, 20, 0, false);
	/* The forger recomputes record 7's hash: record 8 no longer links to it. */
	t.rec[7].f.principal = "mallory";
	audit_hash(t.rec[7].prev, &t.rec[7].f, t.rec[7].hash);
	i = find_line(&t, 7, false);
	free(t.line[i]);
	t.line[i] = record_line(&t.rec[7]);
	verify_expect(&t, AUDIT_VERIFY_BROKEN_LINK, 7, &rep);
	ck_assert_int_eq(rep.bad_line, i + 2);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_rewritten_tail_caught_by_checkpoint)
{
	struct tlog t;
	struct audit_verify_report rep;
	unsigned char prev[32];
	int i;

	keys_init();
	tlog_make(&t, 10, 5, true);   /* checkpoints at 5 and 10 */
	/*
	 * Rewrite records 9 and 10 with a consistent chain: only the signature
	 * tells, and it tells that one of those after the checkpoint at 5 was.
	 */
	t.rec[9].f.principal = "mallory";
	for (int s = 9; s <= 10; s++) {
		memcpy(prev, t.rec[s - 1].hash, 32);
		memcpy(t.rec[s].prev, prev, 32);
		audit_hash(t.rec[s].prev, &t.rec[s].f, t.rec[s].hash);
		i = find_line(&t, s, false);
		free(t.line[i]);
		t.line[i] = record_line(&t.rec[s]);
	}
	verify_expect(&t, AUDIT_VERIFY_CHECKPOINT_MISMATCH, 6, &rep);
	ck_assert_ptr_nonnull(strstr(rep.reason, "one of records 6..10"));
	/* What is proven stops at the checkpoint before. */
	ck_assert_int_eq(rep.last_seq, 5);
	ck_assert_int_eq(rep.records, 5);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_deleted_line)
{
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	tlog_make(&t, 20, 10, true);
	remove_line(&t, find_line(&t, 5, false));
	verify_expect(&t, AUDIT_VERIFY_MISSING, 5, &rep);
	ck_assert_int_eq(rep.bad_line, 5);
	ck_assert_ptr_nonnull(strstr(rep.reason, "record 5 is missing"));
	tlog_free(&t);

	tlog_make(&t, 20, 10, true);
	for (int k = 0; k < 3; k++)
		remove_line(&t, find_line(&t, 5 + k, false));
	verify_expect(&t, AUDIT_VERIFY_MISSING, 5, &rep);
	ck_assert_ptr_nonnull(strstr(rep.reason, "5..7"));
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_first_line_deleted)
{
	struct tlog t;
	struct audit_verify_report rep;
	struct audit_verify_opts partial = { .allow_partial = true };

	keys_init();
	tlog_make(&t, 20, 10, true);
	remove_line(&t, 0);
	verify_expect(&t, AUDIT_VERIFY_HEAD_MISSING, 1, &rep);
	/* A rotated file may start later, if the caller says so. */
	ck_assert_int_eq(run_verify(&t, NULL, &partial, &rep), 0);
	ck_assert_int_eq(rep.ok, 1);
	ck_assert_int_eq(rep.first_seq, 2);
	ck_assert_int_eq(rep.records, 19);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_reordered)
{
	struct tlog t;
	struct audit_verify_report rep;
	int i;
	char *tmp;

	keys_init();
	tlog_make(&t, 20, 0, false);
	i = find_line(&t, 8, false);
	tmp = t.line[i];
	t.line[i] = t.line[i + 1];
	t.line[i + 1] = tmp;
	verify_expect(&t, AUDIT_VERIFY_REORDERED, 8, &rep);
	tlog_free(&t);

	/* Moved far down. */
	tlog_make(&t, 20, 0, false);
	i = find_line(&t, 3, false);
	tmp = t.line[i];
	memmove(&t.line[i], &t.line[i + 1], (size_t)(15 - i) * sizeof(char *));
	t.line[15] = tmp;
	verify_expect(&t, AUDIT_VERIFY_REORDERED, 3, &rep);
	ck_assert_ptr_nonnull(strstr(rep.reason, "found at line 16"));
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_redelivery_accepted)
{
	struct tlog t;
	struct audit_verify_report rep;
	int from, to;

	keys_init();
	tlog_make(&t, 30, 10, true);
	/* A shipper reconnected after record 25 and resent from record 12. */
	from = find_line(&t, 12, false);
	to = find_line(&t, 25, false);
	for (int k = from; k <= to; k++)
		insert_line(&t, to + 1 + (k - from), strdup(t.line[k]));
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	ck_assert_int_eq(rep.records, 30);
	ck_assert_int_eq(rep.redelivered, to - from + 1);
	ck_assert_int_eq(rep.checkpoints, 3);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_duplicate_with_other_contents)
{
	struct tlog t, alt;
	struct audit_verify_report rep;

	keys_init();
	tlog_make(&t, 20, 0, false);
	/* Another, self-consistent record 9 appended later. */
	memset(&alt, 0, sizeof(alt));
	alt.rec[9] = t.rec[9];
	alt.rec[9].f.method = "io.roster.Clients.Delete";
	audit_hash(alt.rec[9].prev, &alt.rec[9].f, alt.rec[9].hash);
	add_line(&t, record_line(&alt.rec[9]));
	verify_expect(&t, AUDIT_VERIFY_DUPLICATE, 9, &rep);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_truncated_before_checkpoint)
{
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	tlog_make(&t, 20, 10, true);
	/* Records 17..20 cut, the checkpoint over 20 (the last line) kept. */
	for (int s = 17; s <= 20; s++)
		remove_line(&t, find_line(&t, s, false));
	verify_expect(&t, AUDIT_VERIFY_TRUNCATED, 17, &rep);
	ck_assert_ptr_nonnull(strstr(rep.reason, "17..20"));
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_checkpoint_before_its_record)
{
	struct tlog t;
	struct audit_verify_report rep;
	int i;
	char *cp;

	keys_init();
	tlog_make(&t, 12, 10, false);
	/* The checkpoint line put just before record 10: still checked, still fine. */
	i = find_line(&t, 10, true);
	cp = t.line[i];
	t.line[i] = t.line[i - 1];
	t.line[i - 1] = cp;
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	ck_assert_int_eq(rep.last_checkpoint_seq, 10);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_wrong_key_and_bad_signature)
{
	struct tlog t;
	struct audit_verify_report rep;
	unsigned char opk[32], osk[64];
	char sig[129];
	int i;

	keys_init();
	crypto_sign_keypair(opk, osk);
	tlog_make(&t, 12, 0, false);
	insert_line(&t, find_line(&t, 10, false) + 1,
		    checkpoint_line_with(10, t.rec[10].hash, 1, opk, osk));
	verify_expect(&t, AUDIT_VERIFY_WRONG_KEY, 10, &rep);
	tlog_free(&t);

	/* Signed by another key but claiming ours. */
	tlog_make(&t, 12, 10, false);
	i = find_line(&t, 10, true);
	{
		unsigned char msg[AUDIT_CP_MSG_BYTES], s[64];

		/* checkpoint_line() signs the record's time + 5. */
		audit_checkpoint_message(10, t.rec[10].hash, t.rec[10].f.time_us + 5, msg);
		crypto_sign_detached(s, NULL, msg, sizeof(msg), osk);
		edit_line(&t, i, "sig", hex(s, 64, sig));
	}
	verify_expect(&t, AUDIT_VERIFY_BAD_SIGNATURE, 10, &rep);
	tlog_free(&t);

	/* A signed time changed. */
	tlog_make(&t, 12, 10, false);
	edit_line(&t, find_line(&t, 10, true), "time_us", "1");
	verify_expect(&t, AUDIT_VERIFY_BAD_SIGNATURE, 10, &rep);
	tlog_free(&t);
}
END_TEST


/* A key roll: a checkpoint at seq signed with key_sk naming next_pk. */
static char *keyroll_line(int64_t seq, const unsigned char hash[32], int64_t time_us,
			  const unsigned char *key_pk, const unsigned char *key_sk,
			  const unsigned char *next_pk)
{
	unsigned char msg[AUDIT_KEYROLL_MSG_BYTES], sig[64];
	char h[129];
	json_t *o = json_object();

	audit_keyroll_message(seq, hash, time_us, next_pk, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), key_sk);
	set_str(o, "type", "checkpoint");
	set_int(o, "seq", seq);
	set_int(o, "time_us", time_us);
	set_str(o, "hash", hex(hash, 32, h));
	set_str(o, "pubkey", hex(key_pk, 32, h));
	set_str(o, "sig", hex(sig, 64, h));
	set_str(o, "next_pubkey", hex(next_pk, 32, h));
	set_header(o, "CHECKPOINT");
	return dump(o);
}

/* The rules of lib/audit-trust.c, one checkpoint at a time. */
START_TEST(test_trust_retires_a_rolled_key)
{
	unsigned char a[32], b[32], c[32], n[32];
	struct audit_trust t;
	const char *why = NULL;

	memset(a, 1, 32);
	memset(b, 2, 32);
	memset(c, 3, 32);
	memset(n, 4, 32);
	ck_assert_int_eq(audit_trust_init(&t, (const unsigned char (*)[32])a, 1), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 3, b, NULL, &why), -EPERM);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 5, a, b, &why), 0);     /* roll A -> B */
	/* B has not signed yet: A may still (a crash before the keyring was written). */
	ck_assert_int_eq(audit_trust_checkpoint(&t, 8, a, NULL, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 10, b, NULL, &why), 0);
	/* Now A is retired at 5: nothing later, no other roll; the same roll again is fine. */
	ck_assert_int_eq(audit_trust_checkpoint(&t, 12, a, NULL, &why), -EPERM);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 4, a, NULL, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 5, a, b, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 5, a, c, &why), -EPERM);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 4, a, c, &why), -EPERM);
	ck_assert_int_eq(audit_trust_knows(&t, c), 0);
	/* B rolls to C; C signs; B is retired at 20. */
	ck_assert_int_eq(audit_trust_checkpoint(&t, 20, b, c, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 25, c, NULL, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 22, b, NULL, &why), -EPERM);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 20, b, NULL, &why), 0);
	/* A roll to a key already in the chain, or to itself, hands nothing on. */
	ck_assert_int_eq(audit_trust_checkpoint(&t, 30, c, a, &why), -EPERM);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 31, c, c, &why), -EPERM);

	/* The crash case: A -> N never took effect; A rolls again, to B, which signs. */
	ck_assert_int_eq(audit_trust_init(&t, (const unsigned char (*)[32])a, 1), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 5, a, n, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 8, a, NULL, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 9, a, b, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 10, b, NULL, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 9, a, NULL, &why), 0);
	ck_assert_int_eq(audit_trust_checkpoint(&t, 11, a, NULL, &why), -EPERM);
	ck_assert_int_eq(audit_trust_init(&t, NULL, 0), -EINVAL);
}
END_TEST

/*
 * A stolen retired key: after a roll whose new key has signed, the old key
 * can neither sign a later checkpoint nor roll trust on to a key of its own.
 */
START_TEST(test_verify_retired_key_signs_nothing_later)
{
	unsigned char bpk[32], bsk[64], cpk[32], csk[64];
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	crypto_sign_keypair(bpk, bsk);
	crypto_sign_keypair(cpk, csk);
	for (int bad = 0; bad < 3; bad++) {
		tlog_make(&t, 12, 0, false);
		insert_line(&t, find_line(&t, 5, false) + 1,
			    keyroll_line(5, t.rec[5].hash, 7, pk, sk, bpk));
		insert_line(&t, find_line(&t, 8, false) + 1,
			    checkpoint_line_with(8, t.rec[8].hash, 9, bpk, bsk));
		if (bad == 0)           /* the new key signs on: clean */
			insert_line(&t, find_line(&t, 12, false) + 1,
				    checkpoint_line_with(12, t.rec[12].hash, 13, bpk, bsk));
		else if (bad == 1)      /* the old key signs after its successor did */
			insert_line(&t, find_line(&t, 12, false) + 1,
				    checkpoint_line_with(12, t.rec[12].hash, 13, pk, sk));
		else                    /* the old key rolls to a key of the thief's */
			insert_line(&t, find_line(&t, 10, false) + 1,
				    keyroll_line(10, t.rec[10].hash, 11, pk, sk, cpk));
		if (bad == 0) {
			verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
			ck_assert_int_eq(rep.checkpoints, 3);
		} else {
			verify_expect(&t, AUDIT_VERIFY_WRONG_KEY, bad == 1 ? 12 : 10, &rep);
			ck_assert_ptr_nonnull(strstr(rep.reason, "retired"));
		}
		tlog_free(&t);
	}
}
END_TEST

/*
 * The thief of a retired key A removes the roll's line, so that the file
 * never shows A handing over to B. Given both keys (oldest first), B's
 * signature retires A anyway.
 */
START_TEST(test_verify_retired_key_with_the_roll_line_removed)
{
	unsigned char keys[2][32], bsk[64];
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	memcpy(keys[0], pk, 32);
	crypto_sign_keypair(keys[1], bsk);
	tlog_make(&t, 12, 0, false);
	insert_line(&t, find_line(&t, 5, false) + 1,
		    keyroll_line(5, t.rec[5].hash, 7, pk, sk, keys[1]));
	insert_line(&t, find_line(&t, 8, false) + 1,
		    checkpoint_line_with(8, t.rec[8].hash, 9, keys[1], bsk));
	insert_line(&t, find_line(&t, 12, false) + 1,
		    checkpoint_line_with(12, t.rec[12].hash, 13, pk, sk));
	remove_line(&t, find_line(&t, 5, true));
	ck_assert_int_eq(run_verify_keys(&t, (const unsigned char (*)[32])keys, 2, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, AUDIT_VERIFY_WRONG_KEY);
	ck_assert_int_eq(rep.first_bad_seq, 12);
	tlog_free(&t);
}
END_TEST

/*
 * Cut before B's first checkpoint, with a tail signed by the old key A: a
 * roll to a key the caller gave retires A at once. With A alone given the
 * file is indistinguishable from one made before the rotation; with both
 * given and the roll's line gone too, the report says B signs nothing.
 */
START_TEST(test_verify_roll_to_a_given_key_retires_at_once)
{
	unsigned char keys[2][32], bsk[64];
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	memcpy(keys[0], pk, 32);
	crypto_sign_keypair(keys[1], bsk);
	tlog_make(&t, 12, 0, false);
	insert_line(&t, find_line(&t, 5, false) + 1,
		    keyroll_line(5, t.rec[5].hash, 7, pk, sk, keys[1]));
	insert_line(&t, find_line(&t, 12, false) + 1,
		    checkpoint_line_with(12, t.rec[12].hash, 13, pk, sk));
	ck_assert_int_eq(run_verify_keys(&t, (const unsigned char (*)[32])keys, 2, NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, AUDIT_VERIFY_WRONG_KEY);
	ck_assert_int_eq(rep.first_bad_seq, 12);
	ck_assert_int_eq(run_verify_keys(&t, (const unsigned char (*)[32])keys, 1, NULL, &rep), 0);
	ck_assert_int_eq(rep.ok, 1);
	remove_line(&t, find_line(&t, 5, true));
	ck_assert_int_eq(run_verify_keys(&t, (const unsigned char (*)[32])keys, 2, NULL, &rep), 0);
	ck_assert_int_eq(rep.ok, 1);
	ck_assert_int_eq(rep.keys_unseen, 1);
	tlog_free(&t);
}
END_TEST

/*
 * The old key went on signing after its roll (the keyring was written, but
 * the rotation was reported failed, so the key stayed in use until the next
 * start); B signs later, and a reconnection sends A's checkpoint again: a
 * genuine log, which must verify.
 */
START_TEST(test_verify_old_checkpoint_redelivered_after_the_successor)
{
	unsigned char bpk[32], bsk[64];
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	crypto_sign_keypair(bpk, bsk);
	tlog_make(&t, 12, 0, false);
	insert_line(&t, find_line(&t, 5, false) + 1, keyroll_line(5, t.rec[5].hash, 7, pk, sk, bpk));
	insert_line(&t, find_line(&t, 7, false) + 1,
		    checkpoint_line_with(7, t.rec[7].hash, 8, pk, sk));
	insert_line(&t, find_line(&t, 10, false) + 1,
		    checkpoint_line_with(10, t.rec[10].hash, 11, bpk, bsk));
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	add_line(&t, checkpoint_line_with(7, t.rec[7].hash, 8, pk, sk));
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	ck_assert_int_eq(rep.redelivered, 1);
	/* But A signs nothing new past what it was seen to sign. */
	add_line(&t, checkpoint_line_with(9, t.rec[9].hash, 10, pk, sk));
	verify_expect(&t, AUDIT_VERIFY_WRONG_KEY, 9, &rep);
	tlog_free(&t);
}
END_TEST

/* A checkpoint delivered late is a checkpoint verified, not a re-delivery. */
START_TEST(test_verify_late_checkpoint_counted)
{
	struct tlog t;
	struct audit_verify_report rep;
	int i;

	keys_init();
	tlog_make(&t, 20, 5, false);
	i = find_line(&t, 10, true);
	add_line(&t, strdup(t.line[i]));
	remove_line(&t, i);
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	ck_assert_int_eq(rep.checkpoints, 4);
	ck_assert_int_eq(rep.redelivered, 0);
	/* And one delivered twice is counted once. */
	add_line(&t, strdup(t.line[find_line(&t, 15, true)]));
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	ck_assert_int_eq(rep.checkpoints, 4);
	ck_assert_int_eq(rep.redelivered, 1);
	tlog_free(&t);
}
END_TEST

/*
 * A record whose prev_hash was changed (and its hash recomputed) right
 * after a checkpoint: the checkpoint proves the record before, so the
 * record itself is named.
 */
START_TEST(test_verify_link_after_checkpoint_names_the_record)
{
	struct tlog t;
	struct audit_verify_report rep;
	int i;

	keys_init();
	for (int cp_every = 5; cp_every >= 0; cp_every -= 5) {
		tlog_make(&t, 12, cp_every, true);
		memset(t.rec[6].prev, 0, 32);
		audit_hash(t.rec[6].prev, &t.rec[6].f, t.rec[6].hash);
		i = find_line(&t, 6, false);
		free(t.line[i]);
		t.line[i] = record_line(&t.rec[6]);
		/* Without a checkpoint on the one before, either may be at fault: the earlier is named. */
		verify_expect(&t, AUDIT_VERIFY_BROKEN_LINK, cp_every ? 6 : 5, &rep);
		tlog_free(&t);
	}
}
END_TEST

/* Two records swapped far apart: the first one out of place is named, where it is. */
START_TEST(test_verify_swap_names_the_first_record)
{
	struct tlog t;
	struct audit_verify_report rep;
	int a, b;
	char *tmp, line[32];

	keys_init();
	tlog_make(&t, 30, 0, true);
	a = find_line(&t, 10, false);
	b = find_line(&t, 20, false);
	tmp = t.line[a];
	t.line[a] = t.line[b];
	t.line[b] = tmp;
	verify_expect(&t, AUDIT_VERIFY_REORDERED, 10, &rep);
	snprintf(line, sizeof(line), "found at line %d", b + 1);
	ck_assert_msg(strstr(rep.reason, "record 10 is out of order") && strstr(rep.reason, line),
		      "%s", rep.reason);
	tlog_free(&t);
}
END_TEST

/* An edited seq (hash not recomputed) names the record expected there, not the seq written. */
START_TEST(test_verify_edited_seq_names_the_expected_record)
{
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	tlog_make(&t, 12, 0, true);
	edit_line(&t, find_line(&t, 7, false), "seq", "9000000000000000000");
	verify_expect(&t, AUDIT_VERIFY_EDITED, 7, &rep);
	tlog_free(&t);
}
END_TEST

/* A line is a flat object: nesting is refused before any tree is built. */
START_TEST(test_parse_refuses_nesting_and_says_why)
{
	struct audit_log_entry e;
	const char *why = NULL;
	char *big;
	size_t n = 8 * 1024 * 1024, at;

	ck_assert_int_eq(parse("{\"type\":\"record\",\"x\":{}}", &e, &why), -EBADMSG);
	ck_assert_str_eq(why, "a value is an object or an array");
	ck_assert_int_eq(parse("{\"type\":\"record\",\"x\":[1]}", &e, &why), -EBADMSG);
	ck_assert_str_eq(why, "a value is an object or an array");
	/* Brackets inside strings are text. */
	ck_assert_int_eq(parse("{\"type\":\"re{co[rd\\\"\"}", &e, &why), -EBADMSG);
	ck_assert_str_eq(why, "\"type\" is neither record nor checkpoint");
	ck_assert_int_eq(parse("{\"type\":\"record\",\"type\":\"record\"}", &e, &why), -EBADMSG);
	ck_assert_str_eq(why, "a member appears twice");
	/* 8 MiB of nested empty objects: refused at once (jansson took ~600 MiB for it). */
	big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	at = (size_t)sprintf(big, "{\"type\":\"record\",\"x\":[");
	while (at + 4 < n) {
		memcpy(big + at, "{},", 3);
		at += 3;
	}
	memcpy(big + at, "{}]}", 4);
	ck_assert_int_eq(audit_log_parse_line(big, at + 4, &e, &why), -EBADMSG);
	ck_assert_str_eq(why, "a value is an object or an array");
	free(big);
}
END_TEST

START_TEST(test_verify_bad_line_named)
{
	struct tlog t;
	struct audit_verify_report rep;
	int i;

	keys_init();
	tlog_make(&t, 10, 0, false);
	i = find_line(&t, 6, false);
	free(t.line[i]);
	t.line[i] = strdup("not json at all");
	/* Which seq the line held is unknown: the line is named, and what came before. */
	verify_expect(&t, AUDIT_VERIFY_BAD_LINE, 0, &rep);
	ck_assert_int_eq(rep.bad_line, i + 1);
	ck_assert_ptr_nonnull(strstr(rep.reason, "not valid JSON"));
	ck_assert_ptr_nonnull(strstr(rep.reason, "after record 5"));
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_empty_and_blank_lines)
{
	struct tlog t;
	struct audit_verify_report rep;

	keys_init();
	memset(&t, 0, sizeof(t));
	verify_expect(&t, AUDIT_VERIFY_EMPTY, 0, &rep);
	ck_assert_int_eq(run_verify(&t, "\n  \n\r\n", NULL, &rep), 0);
	ck_assert_int_eq(rep.problem, AUDIT_VERIFY_EMPTY);
	/* Blank lines between entries and a missing final newline are harmless. */
	tlog_make(&t, 3, 0, true);
	insert_line(&t, 1, strdup(""));
	ck_assert_int_eq(run_verify(&t, "\n", NULL, &rep), 0);
	ck_assert_int_eq(rep.ok, 1);
	ck_assert_int_eq(rep.records, 3);
	tlog_free(&t);
}
END_TEST

START_TEST(test_verify_line_too_long)
{
	struct tlog t;
	struct audit_verify_report rep;
	char *big = malloc(AUDIT_LOG_LINE_MAX + 16);

	keys_init();
	tlog_make(&t, 3, 0, false);
	memset(big, 'x', AUDIT_LOG_LINE_MAX + 10);
	big[AUDIT_LOG_LINE_MAX + 10] = '\0';
	insert_line(&t, 2, big);
	verify_expect(&t, AUDIT_VERIFY_BAD_LINE, 0, &rep);
	ck_assert_int_eq(rep.bad_line, 3);
	tlog_free(&t);
}
END_TEST

/* The report repeats nothing from the file, only numbers and its own words. */
START_TEST(test_report_never_echoes_the_log)
{
	struct tlog t;
	struct audit_verify_report rep;
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	json_t *j;
	char *js;
	int i;

	keys_init();
	tlog_make(&t, 10, 0, false);
	i = find_line(&t, 4, false);
	edit_line(&t, i, "method", "EVIL\x1b[2Jmarker");
	edit_line(&t, i + 1, "seq", "EVILseq");
	verify_expect(&t, AUDIT_VERIFY_EDITED, 4, &rep);
	f = open_memstream(&out, &len);
	audit_verify_print(f, &rep);
	fclose(f);
	ck_assert_ptr_null(strstr(out, "EVIL"));
	ck_assert_ptr_nonnull(strstr(out, "FAILED"));
	ck_assert_ptr_nonnull(strstr(out, "4"));
	free(out);
	j = audit_verify_report_json(&rep);
	ck_assert_ptr_nonnull(j);
	js = json_dumps(j, 0);
	ck_assert_ptr_null(strstr(js, "EVIL"));
	ck_assert_ptr_nonnull(strstr(js, "\"problem\": \"edited\""));
	ck_assert_ptr_nonnull(strstr(js, "\"first_bad\": 4"));
	free(js);
	json_decref(j);
	tlog_free(&t);
}
END_TEST

START_TEST(test_report_json_when_ok)
{
	struct tlog t;
	struct audit_verify_report rep;
	json_t *j;

	keys_init();
	tlog_make(&t, 5, 0, true);
	verify_expect(&t, AUDIT_VERIFY_OK, 0, &rep);
	j = audit_verify_report_json(&rep);
	ck_assert_int_eq(json_is_true(json_object_get(j, "ok")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "records")), 5);
	ck_assert_ptr_null(json_object_get(j, "first_bad"));
	json_decref(j);
	tlog_free(&t);
}
END_TEST

START_TEST(test_pubkey_parse)
{
	unsigned char k[32], want[32];
	char h[65], buf[128];

	keys_init();
	memcpy(want, pk, 32);
	hex(pk, 32, h);
	ck_assert_int_eq(audit_pubkey_parse(h, k), 0);
	ck_assert_int_eq(memcmp(k, want, 32), 0);
	snprintf(buf, sizeof(buf), "  %s\n", h);
	ck_assert_int_eq(audit_pubkey_parse(buf, k), 0);
	memset(k, 0, 32);
	snprintf(buf, sizeof(buf), "%s junk", h);
	ck_assert_int_eq(audit_pubkey_parse(buf, k), -EINVAL);
	ck_assert_int_eq(k[0], 0);      /* untouched */
	ck_assert_int_eq(audit_pubkey_parse(h + 2, k), -EINVAL);
	snprintf(buf, sizeof(buf), "%s00", h);
	ck_assert_int_eq(audit_pubkey_parse(buf, k), -EINVAL);
	ck_assert_int_eq(audit_pubkey_parse("", k), -EINVAL);
	ck_assert_int_eq(audit_pubkey_load("/nonexistent/roster/pubkey", k), -ENOENT);
}
END_TEST

static Suite *auditlog_suite(void)
{
	Suite *s = suite_create("auditlog");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_record_decodes_every_field);
	tcase_add_test(tc, test_parse_checkpoint);
	tcase_add_test(tc, test_parse_refuses_nesting_and_says_why);
	tcase_add_test(tc, test_parse_json_integers_accepted);
	tcase_add_test(tc, test_parse_integer_forms);
	tcase_add_test(tc, test_parse_seq_range);
	tcase_add_test(tc, test_parse_percent_escapes);
	tcase_add_test(tc, test_parse_hex_strict);
	tcase_add_test(tc, test_parse_every_field_required);
	tcase_add_test(tc, test_parse_refuses_non_entries);
	tcase_add_test(tc, test_parse_duplicate_key_refused);
	tcase_add_test(tc, test_parse_seq_must_be_positive);
	tcase_add_test(tc, test_parse_failure_leaves_ret_untouched);
	tcase_add_test(tc, test_hash_known_answers);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_verify_good_log);
	tcase_add_test(tc, test_verify_unsigned_tail_reported);
	tcase_add_test(tc, test_verify_edited_field);
	tcase_add_test(tc, test_verify_edited_and_rehashed);
	tcase_add_test(tc, test_verify_rewritten_tail_caught_by_checkpoint);
	tcase_add_test(tc, test_verify_deleted_line);
	tcase_add_test(tc, test_verify_first_line_deleted);
	tcase_add_test(tc, test_verify_reordered);
	tcase_add_test(tc, test_verify_redelivery_accepted);
	tcase_add_test(tc, test_verify_duplicate_with_other_contents);
	tcase_add_test(tc, test_verify_truncated_before_checkpoint);
	tcase_add_test(tc, test_verify_checkpoint_before_its_record);
	tcase_add_test(tc, test_verify_wrong_key_and_bad_signature);
	tcase_add_test(tc, test_verify_bad_line_named);
	tcase_add_test(tc, test_verify_max_unsigned);
	tcase_add_test(tc, test_trust_retires_a_rolled_key);
	tcase_add_test(tc, test_verify_retired_key_signs_nothing_later);
	tcase_add_test(tc, test_verify_late_checkpoint_counted);
	tcase_add_test(tc, test_verify_retired_key_with_the_roll_line_removed);
	tcase_add_test(tc, test_verify_roll_to_a_given_key_retires_at_once);
	tcase_add_test(tc, test_verify_old_checkpoint_redelivered_after_the_successor);
	tcase_add_test(tc, test_verify_link_after_checkpoint_names_the_record);
	tcase_add_test(tc, test_verify_swap_names_the_first_record);
	tcase_add_test(tc, test_verify_edited_seq_names_the_expected_record);
	tcase_add_test(tc, test_verify_empty_and_blank_lines);
	tcase_add_test(tc, test_verify_line_too_long);
	tcase_add_test(tc, test_report_never_echoes_the_log);
	tcase_add_test(tc, test_report_json_when_ok);
	tcase_add_test(tc, test_pubkey_parse);
	tcase_add_test(tc, test_reader_records_and_fields_hash);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(auditlog_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
