/*
 * test-audit.c: unit tests for daemon/audit.c, the audit writer, driven for
 * real: a keyring made by keyring_create() at the cheapest Argon2id cost in a
 * private temporary directory, the encrypted database, a libuv loop on the
 * test's thread and the writer thread with its own connection.
 *
 * Covers: many jobs committed and answered, the reply-to-result mapping,
 * group commit, audit_verify() against tampering (edited, deleted, swapped
 * and rewritten records, truncation under a checkpoint, a forged signature,
 * another key), continuity across a restart, client changes committed with
 * their record or rolled back with an error reply, failing closed when the
 * trail cannot be written (and recovering), the reply timeout, checkpoints
 * on request and by count, and the canonical encoding of
 * doc/audit-format.md, pinned by building the bytes by hand here.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "daemon/audit.h"
#include "daemon/idfilter.h"
#include "daemon/keys.h"
#include "daemon/log.h"
#include "daemon/store.h"
#include "lib/audit-hash.h"

static const char PASS[] = "correct horse battery staple";
static const int64_t T0 = INT64_C(1700000000000000);    /* 2023-11-14T22:13:20Z */

static char base[PATH_MAX / 2];   /* made once in main() */
static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 16];
static struct keys *keys;
static uv_loop_t loop;

/* Done callbacks seen in this test (reset in setup: CK_FORK=no runs all in one process). */
static struct {
	int done;
	int ok;
	int failed;
} run;

/* One job's outcome, for the tests that look at each job. */
struct slot {
	int calls;
	int status;
};

static void setup(void)
{
	char kpath[sizeof(dir) + 16];

	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/%s", dir, STORE_FILE);
	snprintf(kpath, sizeof(kpath), "%s/%s", dir, KEYRING_FILE);
	keys = NULL;
	ck_assert_int_eq(keyring_create(kpath, PASS, strlen(PASS), crypto_pwhash_OPSLIMIT_MIN,
					crypto_pwhash_MEMLIMIT_MIN, &keys), 0);
	memset(&run, 0, sizeof(run));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

static void rm_tree(const char *path)
{
	(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void teardown(void)
{
	keys_free(keys);
	keys = NULL;
	rm_tree(dir);
}

/* --- helpers ------------------------------------------------------------ */

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct store *open_store(void)
{
	struct store *s = NULL;

	ck_assert_int_eq(store_open(dbpath, keys, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

static struct audit *start_writer(int64_t cp_every, int64_t cp_secs)
{
	struct audit_config cfg = { .checkpoint_every = cp_every, .checkpoint_secs = cp_secs };
	struct audit *a = NULL;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(audit_start(&a, &loop, dbpath, keys, &cfg), 0);
	ck_assert_ptr_nonnull(a);
	return a;
}

/* Stop the writer, let its handles close, and close the loop. */
static void stop_writer(struct audit *a)
{
	audit_stop(a);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void on_done(struct audit_job *j, int status)
{
	struct slot *sl = j->data;

	if (sl != NULL) {
		sl->calls++;
		sl->status = status;
	}
	run.done++;
	if (status == 0)
		run.ok++;
	else
		run.failed++;
}

/* A job for call number i; reply is JSON text (NULL: none). */
static struct audit_job *make_job(int64_t i, const char *principal, const char *method,
				  const char *reply, struct slot *sl)
{
	struct audit_job *j = audit_job_new();

	ck_assert_ptr_nonnull(j);
	j->rec.time_us = T0 + i;
	snprintf(j->rec.principal, sizeof(j->rec.principal), "%s", principal);
	j->rec.uid = (uid_t)(1000 + i);
	j->rec.gid = 100;
	j->rec.pid = (pid_t)(5000 + i);
	snprintf(j->rec.role, sizeof(j->rec.role), "reader");
	snprintf(j->rec.method, sizeof(j->rec.method), "%s", method);
	if (reply != NULL) {
		json_error_t err;

		j->reply = json_loads(reply, 0, &err);
		ck_assert_msg(j->reply != NULL, "bad test JSON: %s", err.text);
	}
	j->done = on_done;
	j->data = sl;
	return j;
}

/* Run the loop until want done callbacks have run in total; fail after secs. */
static void wait_done(int want, double secs)
{
	double end = mono() + secs;

	while (run.done < want) {
		ck_assert_msg(mono() < end, "only %d of %d done callbacks within %.0f s",
			      run.done, want, secs);
		uv_run(&loop, UV_RUN_ONCE);     /* the writer's 500 ms timer bounds each wait */
	}
}

/* Run the loop for secs. */
static void spin(double secs)
{
	double end = mono() + secs;

	while (mono() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(5000);
	}
}

/* Run the loop until pred(stats) holds; fail after secs. */
static void wait_stats(struct audit *a, bool (*pred)(const struct audit_stats *), double secs,
		       const char *what)
{
	double end = mono() + secs;
	struct audit_stats st;

	for (;;) {
		audit_get_stats(a, &st);
		if (pred(&st))
			return;
		ck_assert_msg(mono() < end, "not within %.0f s: %s", secs, what);
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(5000);
	}
}

static bool head_is_signed(const struct audit_stats *st)
{
	return st->head_seq > 0 && st->last_checkpoint_seq == st->head_seq;
}

static bool has_failed(const struct audit_stats *st)
{
	return st->failures > 0;
}

static const char OK_REPLY[] = "{\"parameters\":{}}";

/* Write n records (calls 1..n, principal "user<i>") with a fresh writer, and stop it. */
static void fill(int n)
{
	struct audit *a = start_writer(0, 0);
	int before = run.done;

	for (int i = 0; i < n; i++) {
		char who[32];

		snprintf(who, sizeof(who), "user%d", i + 1);
		audit_submit(a, make_job(i, who, "io.roster.Clients.Get", OK_REPLY, NULL));
	}
	wait_done(before + n, 60);
	ck_assert_int_eq(run.failed, 0);
	stop_writer(a);
}

static void verify_with(const unsigned char pk[32], struct audit_verify_result *vr)
{
	struct store *s = open_store();

	memset(vr, 0x5a, sizeof(*vr));
	ck_assert_int_eq(audit_verify(s, (const unsigned char (*)[32])pk, 1, NULL, vr), 0);
	store_close(s);
}

static void verify_ok(int64_t records)
{
	struct audit_verify_result vr;

	verify_with(keys->sign_pk, &vr);
	ck_assert_msg(vr.ok, "audit_verify: not ok at %" PRId64 ": %s", vr.first_bad, vr.problem);
	ck_assert_int_eq(vr.records, records);
	ck_assert_int_ge(vr.checkpoints, 1);
}

static void exec_ok(const char *sql)
{
	struct store *s = open_store();

	ck_assert_int_eq(store_exec(s, sql), 0);
	store_close(s);
}

/* Every record after after_seq, oldest first. */
static json_t *query_all(struct store *s, int64_t after_seq)
{
	struct audit_filter f;
	json_t *arr = NULL;

	memset(&f, 0, sizeof(f));
	f.after_seq = after_seq;
	f.limit = 100000;
	ck_assert_int_eq(store_audit_query(s, &f, &arr), 0);
	ck_assert_ptr_nonnull(arr);
	return arr;
}

static const char *str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	ck_assert_msg(v != NULL, "no string member %s", key);
	return v;
}

static int64_t num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "no integer member %s", key);
	return (int64_t)json_integer_value(v);
}

static int64_t head_seq_of_db(void)
{
	struct store *s = open_store();
	unsigned char h[32];
	int64_t seq = -1;

	ck_assert_int_eq(store_audit_head(s, &seq, h), 0);
	store_close(s);
	return seq;
}

static int64_t last_checkpoint_of_db(void)
{
	struct store *s = open_store();
	int64_t seq = -1, time_us = -1;

	ck_assert_int_eq(store_audit_last_checkpoint(s, &seq, &time_us), 0);
	store_close(s);
	return seq;
}

static int64_t client_count(void)
{
	struct store *s = open_store();
	int64_t n = -1;

	ck_assert_int_eq(store_client_count(s, &n), 0);
	store_close(s);
	return n;
}

/* --- the documented encoding, built by hand ----------------------------- */

struct bytes {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct bytes *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		ck_assert_ptr_nonnull(b->p);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

/* enc(x): 4-byte big-endian length, then the bytes. */
static void enc_text(struct bytes *b, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[4] = {
		(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
		(unsigned char)n
	};

	put(b, len, 4);
	put(b, s, n);
}

/* Integers: decimal ASCII, no sign, no leading zeros, "0" for zero. */
static void enc_uint(struct bytes *b, int64_t v)
{
	char digits[24], out[24];
	uint64_t u;
	int n = 0, k = 0;

	ck_assert_int_ge(v, 0);
	u = (uint64_t)v;
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	while (n > 0)
		out[k++] = digits[--n];
	out[k] = '\0';
	enc_text(b, out);
}

static void doc_hash(const unsigned char prev[32], const struct audit_fields *f,
		     unsigned char out[32])
{
	struct bytes b = { NULL, 0, 0 };

	put(&b, "roster.audit.v1", 15);
	put(&b, "", 1);                         /* 0x00 */
	put(&b, prev, 32);
	enc_uint(&b, f->seq);
	enc_uint(&b, f->time_us);
	enc_text(&b, f->principal);
	enc_uint(&b, f->uid);
	enc_uint(&b, f->gid);
	enc_uint(&b, f->pid);
	enc_text(&b, f->role);
	enc_text(&b, f->method);
	enc_text(&b, f->ids);
	enc_text(&b, f->fields);
	enc_uint(&b, f->records);
	enc_text(&b, f->result);
	enc_text(&b, f->error);
	enc_text(&b, f->alert);
	ck_assert_int_eq(crypto_generichash(out, 32, b.p, b.n, NULL, 0), 0);
	free(b.p);
}

static void u64be(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* "roster.checkpoint.v1" || 0x00 || u64be(seq) || hash || u64be(time_us) */
static void doc_cp_message(int64_t seq, const unsigned char hash[32], int64_t time_us,
			   unsigned char out[69])
{
	memcpy(out, "roster.checkpoint.v1", 20);
	out[20] = 0;
	u64be(out + 21, (uint64_t)seq);
	memcpy(out + 29, hash, 32);
	u64be(out + 61, (uint64_t)time_us);
}

static void hex(const unsigned char *bin, size_t n, char *out)
{
	sodium_bin2hex(out, n * 2 + 1, bin, n);
}

/* --- the whole trail, copied out with store_audit_walk ------------------ */

#define TRAIL_MAX 512
#define CP_MAX 64

struct trail {
	size_t n;
	struct audit_fields f[TRAIL_MAX];
	unsigned char prev[TRAIL_MAX][32], hash[TRAIL_MAX][32];
	size_t ncp;
	int64_t cp_seq[CP_MAX], cp_time[CP_MAX];
	unsigned char cp_hash[CP_MAX][32], cp_pk[CP_MAX][32], cp_sig[CP_MAX][64];
};

static const char *dup_text(const char *s)
{
	char *p = strdup(s);

	ck_assert_ptr_nonnull(p);
	return p;
}

static int collect_rec(const struct audit_fields *f, const unsigned char *prev,
		       const unsigned char *hash, void *data)
{
	struct trail *t = data;
	struct audit_fields *c;

	ck_assert_uint_lt(t->n, TRAIL_MAX);
	c = &t->f[t->n];
	*c = *f;
	c->principal = dup_text(f->principal);
	c->role = dup_text(f->role);
	c->method = dup_text(f->method);
	c->ids = dup_text(f->ids);
	c->fields = dup_text(f->fields);
	c->result = dup_text(f->result);
	c->error = dup_text(f->error);
	c->alert = dup_text(f->alert);
	memcpy(t->prev[t->n], prev, 32);
	memcpy(t->hash[t->n], hash, 32);
	t->n++;
	return 0;
}

static int collect_cp(int64_t seq, int64_t time_us, const unsigned char *hash,
		      const unsigned char *pubkey, const unsigned char *sig,
		      const unsigned char *next_pubkey, void *data)
{
	struct trail *t = data;

	ck_assert_ptr_null(next_pubkey);        /* no key roll in these trails */
	ck_assert_uint_lt(t->ncp, CP_MAX);
	t->cp_seq[t->ncp] = seq;
	t->cp_time[t->ncp] = time_us;
	memcpy(t->cp_hash[t->ncp], hash, 32);
	memcpy(t->cp_pk[t->ncp], pubkey, 32);
	memcpy(t->cp_sig[t->ncp], sig, 64);
	t->ncp++;
	return 0;
}

static struct trail *read_trail(void)
{
	struct trail *t = calloc(1, sizeof(*t));
	struct store *s = open_store();

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(store_audit_walk(s, collect_rec, collect_cp, t), 0);
	store_close(s);
	return t;
}

static void free_trail(struct trail *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free((char *)t->f[i].principal);
		free((char *)t->f[i].role);
		free((char *)t->f[i].method);
		free((char *)t->f[i].ids);
		free((char *)t->f[i].fields);
		free((char *)t->f[i].result);
		free((char *)t->f[i].error);
		free((char *)t->f[i].alert);
	}
	free(t);
}

/* --- 1. many jobs, results, verify --------------------------------------- */

static const struct {
	const char *reply;              /* NULL: the job carries no reply */
	const char *result;
	const char *error;
} KINDS[] = {
	{ "{\"parameters\":{}}", "ok", "" },
	{ "{\"error\":\"io.roster.NotFound\",\"parameters\":{}}", "not_found", "io.roster.NotFound" },
	{ "{\"error\":\"io.roster.PermissionDenied\",\"parameters\":{}}", "denied",
	  "io.roster.PermissionDenied" },
	{ "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"x\"}}",
	  "invalid", "org.varlink.service.InvalidParameter" },
	{ "{\"error\":\"io.roster.InternalError\",\"parameters\":{}}", "error",
	  "io.roster.InternalError" },
	{ "{\"error\":\"io.roster.Locked\",\"parameters\":{}}", "locked", "io.roster.Locked" },
	{ "{\"error\":\"io.roster.AuthenticationRequired\",\"parameters\":{}}", "denied",
	  "io.roster.AuthenticationRequired" },
	{ "{\"error\":\"io.roster.QuotaExceeded\",\"parameters\":{}}", "denied",
	  "io.roster.QuotaExceeded" },
	{ "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{}}", "invalid",
	  "org.varlink.service.MethodNotFound" },
	{ "{\"parameters\":{\"clients\":[]},\"continues\":false}", "ok", "" },
	{ NULL, "error", "" },
};
#define NKINDS (sizeof(KINDS) / sizeof(KINDS[0]))

static void id_of(int i, char out[ID_HEX_LEN + 1])
{
	snprintf(out, ID_HEX_LEN + 1, "%032x", (unsigned)i);
}

START_TEST(test_many_jobs_committed_verified_and_mapped)
{
	enum { N = 200 };
	static struct slot slots[N];
	struct audit *a = start_writer(0, 0);
	struct store *s;
	json_t *arr;
	char id[ID_HEX_LEN + 1];

	memset(slots, 0, sizeof(slots));
	for (int i = 0; i < N; i++) {
		char who[32], method[64];
		struct audit_job *j;

		snprintf(who, sizeof(who), "user%d", i % 13);
		snprintf(method, sizeof(method), "io.roster.Clients.M%d", i);
		slots[i].status = 12345;
		j = make_job(i, who, method, KINDS[i % NKINDS].reply, &slots[i]);
		if (i % 3 == 0) {
			id_of(i, id);
			ck_assert_int_eq(audit_rec_add_id(&j->rec, id), 0);
		}
		audit_submit(a, j);
	}
	wait_done(N, 60);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(slots[i].calls == 1, "job %d: done called %d times", i, slots[i].calls);
		ck_assert_msg(slots[i].status == 0, "job %d: status %d", i, slots[i].status);
	}
	ck_assert_int_eq(run.ok, N);
	stop_writer(a);
	ck_assert_int_eq(run.done, N);          /* nothing answered twice at stop */

	verify_ok(N);

	s = open_store();
	arr = query_all(s, 0);
	ck_assert_uint_eq(json_array_size(arr), N);
	for (int i = 0; i < N; i++) {
		const json_t *r = json_array_get(arr, (size_t)i);
		const json_t *ids = json_object_get(r, "ids");
		char who[32], method[64];

		snprintf(who, sizeof(who), "user%d", i % 13);
		snprintf(method, sizeof(method), "io.roster.Clients.M%d", i);
		ck_assert_int_eq(num(r, "seq"), i + 1);
		ck_assert_str_eq(str(r, "principal"), who);
		ck_assert_str_eq(str(r, "method"), method);
		ck_assert_str_eq(str(r, "role"), "reader");
		ck_assert_int_eq(num(r, "uid"), 1000 + i);
		ck_assert_int_eq(num(r, "gid"), 100);
		ck_assert_int_eq(num(r, "pid"), 5000 + i);
		ck_assert_msg(strcmp(str(r, "result"), KINDS[i % NKINDS].result) == 0,
			      "record %d (reply %s): result %s, expected %s", i + 1,
			      KINDS[i % NKINDS].reply ? KINDS[i % NKINDS].reply : "(none)",
			      str(r, "result"), KINDS[i % NKINDS].result);
		ck_assert_str_eq(str(r, "error"), KINDS[i % NKINDS].error);
		ck_assert_str_eq(str(r, "alert"), "");
		ck_assert(json_is_array(ids));
		if (i % 3 == 0) {
			id_of(i, id);
			ck_assert_uint_eq(json_array_size(ids), 1);
			ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), id);
		} else {
			ck_assert_uint_eq(json_array_size(ids), 0);
		}
		if (i > 0)
			ck_assert_str_eq(str(r, "prev_hash"),
					 str(json_array_get(arr, (size_t)i - 1), "hash"));
	}
	json_decref(arr);

	/* The id index: "who touched client X" finds exactly that record. */
	{
		struct audit_filter f;

		memset(&f, 0, sizeof(f));
		id_of(99, id);
		f.client = id;
		f.limit = 10;
		ck_assert_int_eq(store_audit_query(s, &f, &arr), 0);
		ck_assert_uint_eq(json_array_size(arr), 1);
		ck_assert_int_eq(num(json_array_get(arr, 0), "seq"), 100);
		json_decref(arr);
		memset(&f, 0, sizeof(f));
		f.result = "not_found";
		f.limit = 1000;
		ck_assert_int_eq(store_audit_query(s, &f, &arr), 0);
		ck_assert_uint_eq(json_array_size(arr), (N + NKINDS - 2) / NKINDS);
		json_decref(arr);
	}
	store_close(s);
}
END_TEST

START_TEST(test_result_of_mapping)
{
	const char *err = "unset";

	for (size_t k = 0; k < NKINDS; k++) {
		json_t *m = KINDS[k].reply ? json_loads(KINDS[k].reply, 0, NULL) : NULL;

		ck_assert_str_eq(audit_result_of(m, &err), KINDS[k].result);
		ck_assert_str_eq(err, KINDS[k].error);
		json_decref(m);
	}
}
END_TEST

/* --- 2. group commit ----------------------------------------------------- */

static int64_t hook_head = -1;
static int hook_calls;
static unsigned hook_effects;

static void on_commit(int64_t head_seq, unsigned effects, void *data)
{
	ck_assert_ptr_eq(data, &hook_head);
	ck_assert_int_ge(head_seq, hook_head);  /* never goes backwards */
	hook_head = head_seq;
	hook_calls++;
	hook_effects |= effects;
}

START_TEST(test_group_commit)
{
	enum { N = 200 };
	struct audit *a = start_writer(0, 0);
	struct audit_stats st;

	hook_head = 0;
	hook_calls = 0;
	audit_set_commit_hook(a, on_commit, &hook_head);
	for (int i = 0; i < N; i++)
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(N, 60);
	ck_assert_int_eq(run.ok, N);
	audit_get_stats(a, &st);
	ck_assert_int_eq(st.records, N);
	ck_assert_int_eq(st.head_seq, N);
	ck_assert_int_eq(st.failures, 0);
	ck_assert_int_ge(st.batches, 1);
	ck_assert_msg(st.batches < N, "%" PRId64 " batches for %d records: no group commit",
		      st.batches, N);
	ck_assert_int_ge(hook_calls, 1);
	ck_assert_int_eq(hook_head, N);
	stop_writer(a);
	verify_ok(N);
}
END_TEST

/* More than AUDIT_MAX_BATCH at once: split over batches, all committed, in order. */
START_TEST(test_more_than_max_batch)
{
	enum { N = AUDIT_MAX_BATCH + 100 };
	struct audit *a = start_writer(0, 0);
	struct audit_stats st;

	for (int i = 0; i < N; i++)
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(N, 90);
	audit_get_stats(a, &st);
	stop_writer(a);
	ck_assert_int_eq(run.ok, N);
	ck_assert_int_eq(st.records, N);
	ck_assert_int_ge(st.batches, 2);
	ck_assert_int_eq(st.failures, 0);
	verify_ok(N);
}
END_TEST

/* audit_stop commits what is still queued and answers it before returning. */
START_TEST(test_stop_commits_queued_jobs)
{
	enum { N = 50 };
	struct audit *a = start_writer(0, 0);

	for (int i = 0; i < N; i++)
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	audit_stop(a);                          /* the loop has not run at all */
	ck_assert_int_eq(run.done, N);
	ck_assert_int_eq(run.ok, N);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(run.done, N);
	verify_ok(N);
}
END_TEST

/*
 * A writer waiting for work is woken by audit_submit() itself, not only
 * when the loop next runs: the record is committed with the loop idle, well
 * inside the 10 s the writer would otherwise sleep.
 */
START_TEST(test_submit_wakes_an_idle_writer)
{
	struct audit *a = start_writer(0, 0);
	double end;

	usleep(200 * 1000);                     /* the writer is asleep by now */
	audit_submit(a, make_job(0, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	end = mono() + 3;
	while (head_seq_of_db() < 1 && mono() < end)
		usleep(10 * 1000);
	ck_assert_int_eq(head_seq_of_db(), 1);
	wait_done(1, 30);
	ck_assert_int_eq(run.ok, 1);
	stop_writer(a);
}
END_TEST

/* CPU time of the whole process, in seconds. */
static double cpu_seconds(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * An idle writer sleeps. Its waits are deadlines on the monotonic clock;
 * a deadline on one clock waited for on another would pass at once (or
 * never come), and the writer would spin or stall.
 */
START_TEST(test_idle_writer_sleeps)
{
	struct audit *a = start_writer(0, 1);
	double cpu0;

	/* The first record is signed at once (no checkpoint yet), the second not. */
	for (int i = 0; i < 2; i++) {
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
		wait_done(i + 1, 30);
	}
	ck_assert_int_eq(last_checkpoint_of_db(), 1);
	cpu0 = cpu_seconds();
	usleep(1500 * 1000);                    /* a checkpoint interval and a half */
	ck_assert_msg(cpu_seconds() - cpu0 < 0.3, "an idle writer used %.2f s of CPU in 1.5 s",
		      cpu_seconds() - cpu0);
	/* ...and its timed wait did end: the interval's checkpoint signed the head. */
	ck_assert_int_eq(last_checkpoint_of_db(), 2);
	stop_writer(a);
}
END_TEST

/* Set on the writer thread by mutate_note_ran(). */
static _Atomic int job_ran;

static void mutate_note_ran(struct store *w, struct audit_job *j)
{
	(void)w;
	atomic_store(&job_ran, 1);
	j->reply = json_pack("{s:{}}", "parameters");
}

/*
 * While a batch waits for the calls of concurrent callers, the calls that
 * have come already run: the first call's lookup runs before the others
 * are even submitted, and they still commit with it, in one batch. A
 * writer that ran a batch's jobs only once it had stopped gathering would
 * run the first call after the others came, or commit it alone. The rest
 * must come within the writer's quiet gap (AUDIT_GATHER_GAP_US), so a try
 * that a busy host delays is made again.
 */
START_TEST(test_jobs_run_while_the_batch_gathers)
{
	enum { CALLERS = 4, TRIES = 5 };
	struct audit *a = start_writer(0, 0);
	struct audit_stats st;
	int64_t i = 0;
	bool together = false;

	for (int t = 0; t < TRIES && !together; t++) {
		struct audit_job *first, *rest[CALLERS - 1];
		int64_t before;
		double end;

		/* CALLERS calls at once: the writer expects as many in a batch. */
		for (int k = 0; k < CALLERS; k++, i++)
			audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
		wait_done((int)i, 30);
		audit_get_stats(a, &st);
		before = st.batches;
		first = make_job(i++, "alice", "io.roster.Clients.Get", NULL, NULL);
		first->mutate = mutate_note_ran;
		first->plain = true;
		for (int k = 0; k < CALLERS - 1; k++)
			rest[k] = make_job(i++, "alice", "io.roster.Clients.Get", OK_REPLY, NULL);
		atomic_store(&job_ran, 0);
		audit_submit(a, first);
		end = mono() + 10;
		while (!atomic_load(&job_ran) && mono() < end)
			;               /* no sleep: the rest must come within the gap */
		ck_assert_msg(atomic_load(&job_ran), "the first call did not run within 10 s");
		for (int k = 0; k < CALLERS - 1; k++)
			audit_submit(a, rest[k]);
		uv_run(&loop, UV_RUN_NOWAIT);   /* the pass that wakes a gathering writer */
		wait_done((int)i, 30);
		audit_get_stats(a, &st);
		together = st.batches == before + 1;
	}
	ck_assert_msg(together, "in %d tries, the calls that came while the first one ran "
		      "never joined its batch", TRIES);
	ck_assert_int_eq(run.ok, (int)i);
	stop_writer(a);
	verify_ok(i);
}
END_TEST

/* The shipper's position as a test sets it; read by the writer thread. */
static _Atomic int64_t ship_rec, ship_cp;

static void ship_position(void *data, int64_t *ret_rec, int64_t *ret_cp)
{
	(void)data;
	*ret_rec = atomic_load(&ship_rec);
	*ret_cp = atomic_load(&ship_cp);
}

/* The stored cursor (audit_ship), read on a connection of the test's own. */
static void stored_cursor(int64_t *rec, int64_t *cp)
{
	struct store *s = open_store();

	ck_assert_int_eq(store_query_int(s, "SELECT record_seq FROM audit_ship WHERE id = 1", rec), 0);
	ck_assert_int_eq(store_query_int(s, "SELECT checkpoint_seq FROM audit_ship WHERE id = 1", cp), 0);
	store_close(s);
}

/* Tell the writer the shipper is at (rec, cp), make call i, and see (want_rec, want_cp) stored. */
static void call_with_position(struct audit *a, int i, int64_t rec, int64_t cp, int64_t want_rec,
			       int64_t want_cp)
{
	int64_t got_rec = -1, got_cp = -1;

	atomic_store(&ship_rec, rec);
	atomic_store(&ship_cp, cp);
	audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(i + 1, 30);
	stored_cursor(&got_rec, &got_cp);
	ck_assert_int_eq(got_rec, want_rec);
	ck_assert_int_eq(got_cp, want_cp);
}

/*
 * The writer stores the shipper's cursor: with a batch, never backwards,
 * and on its own after a quiet checkpoint interval when no call comes.
 */
START_TEST(test_writer_stores_ship_cursor)
{
	struct audit *a = start_writer(0, 1);
	int64_t rec = -1, cp = -1;
	double end;

	audit_set_ship_cursor(a, ship_position, NULL);
	call_with_position(a, 0, 7, 3, 7, 3);
	/* A position behind the stored one (it cannot happen) moves nothing. */
	call_with_position(a, 1, 5, 1, 7, 3);

	/* No call: stored within the checkpoint interval (1 s) all the same. */
	atomic_store(&ship_rec, 9);
	atomic_store(&ship_cp, 4);
	end = mono() + 10;
	do {
		spin(0.2);
		stored_cursor(&rec, &cp);
	} while (rec != 9 && mono() < end);
	ck_assert_int_eq(rec, 9);
	ck_assert_int_eq(cp, 4);

	stop_writer(a);
	ck_assert_int_eq(run.failed, 0);
}
END_TEST

/*
 * An idle writer stores a moved cursor within AUDIT_SHIP_STORE_MS, whatever
 * the checkpoint interval: a shipper catching up after an outage (23,000
 * records a second) with no call coming must not have an hour's progress,
 * or even 10 s of it, to resend after a crash: more than the offline
 * verifier recognises as re-delivery.
 */
START_TEST(test_idle_writer_stores_ship_cursor_soon)
{
	struct audit *a = start_writer(0, 3600);
	int64_t rec = -1, cp = -1;
	double t0, end;

	audit_set_ship_cursor(a, ship_position, NULL);
	call_with_position(a, 0, 1, 0, 1, 0);
	spin(0.5);                              /* the writer is idle */
	atomic_store(&ship_rec, 1);
	atomic_store(&ship_cp, 1);
	t0 = mono();
	end = t0 + 10;
	do {
		spin(0.05);
		stored_cursor(&rec, &cp);
	} while (cp != 1 && mono() < end);
	ck_assert_int_eq(rec, 1);
	ck_assert_int_eq(cp, 1);
	ck_assert_msg(mono() - t0 < 4 * AUDIT_SHIP_STORE_MS / 1000.0 + 1,
		      "the cursor was stored %.1f s after the shipper moved", mono() - t0);
	stop_writer(a);
	ck_assert_int_eq(run.failed, 0);
}
END_TEST

/* --- 3. tampering -------------------------------------------------------- */

static void expect_bad(int64_t first_bad, const char *problem_part)
{
	struct audit_verify_result vr;

	verify_with(keys->sign_pk, &vr);
	ck_assert_msg(!vr.ok, "tampering not detected");
	if (first_bad > 0)
		ck_assert_int_eq(vr.first_bad, first_bad);
	if (problem_part != NULL)
		ck_assert_msg(strstr(vr.problem, problem_part) != NULL,
			      "problem \"%s\" does not mention \"%s\"", vr.problem, problem_part);
}

START_TEST(test_tamper_edited_field)
{
	fill(20);
	verify_ok(20);
	exec_ok("UPDATE audit SET principal = 'mallory' WHERE seq = 5");
	expect_bad(5, "content");
}
END_TEST

START_TEST(test_tamper_edited_result)
{
	fill(20);
	exec_ok("UPDATE audit SET result = 'denied', error = 'io.roster.PermissionDenied' "
		"WHERE seq = 17");
	expect_bad(17, NULL);
}
END_TEST

START_TEST(test_tamper_deleted_record)
{
	fill(20);
	exec_ok("DELETE FROM audit WHERE seq = 3");
	expect_bad(3, "missing");
}
END_TEST

START_TEST(test_tamper_deleted_first_record)
{
	fill(20);
	exec_ok("DELETE FROM audit WHERE seq = 1");
	expect_bad(1, NULL);
}
END_TEST

START_TEST(test_tamper_swapped_principals)
{
	fill(20);
	exec_ok("UPDATE audit SET principal = CASE seq WHEN 4 THEN 'user7' ELSE 'user4' END "
		"WHERE seq IN (4, 7)");
	expect_bad(4, NULL);
}
END_TEST

START_TEST(test_tamper_swapped_records)
{
	/* Swap two whole rows, hashes included: the chain links no longer match. */
	fill(20);
	exec_ok("UPDATE audit SET seq = -8 WHERE seq = 8");
	exec_ok("UPDATE audit SET seq = 8 WHERE seq = 9");
	exec_ok("UPDATE audit SET seq = 9 WHERE seq = -8");
	expect_bad(8, NULL);
}
END_TEST

START_TEST(test_tamper_truncated_under_checkpoint)
{
	struct audit *a = start_writer(0, 0);
	struct audit_stats st;

	for (int i = 0; i < 10; i++)
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(10, 30);
	audit_request_checkpoint(a);
	wait_stats(a, head_is_signed, 10, "audit_request_checkpoint signs the head");
	audit_get_stats(a, &st);
	ck_assert_int_eq(st.last_checkpoint_seq, 10);
	for (int i = 10; i < 20; i++)
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(20, 30);
	stop_writer(a);                         /* signs record 20 on the way out */
	verify_ok(20);
	/* Cut the trail back to 15: the checkpoint of record 20 now covers records that are gone. */
	exec_ok("DELETE FROM audit WHERE seq > 15");
	expect_bad(20, "truncated");
	/* And back to 5: the checkpoint of record 10 as well. */
	exec_ok("DELETE FROM audit WHERE seq > 5");
	expect_bad(0, "truncated");
}
END_TEST

START_TEST(test_tamper_chain_rewritten_caught_by_checkpoint)
{
	/*
	 * The chain itself needs no secret: rewrite record 5 and recompute every
	 * later hash. Only a signed checkpoint at or after 5 can tell.
	 */
	struct trail *t;
	struct audit_verify_result vr;
	unsigned char running[32];
	int64_t cp_after = 0;
	struct store *s;

	fill(20);
	t = read_trail();
	ck_assert_uint_eq(t->n, 20);
	for (size_t k = 0; k < t->ncp; k++)
		if (t->cp_seq[k] >= 5 && (cp_after == 0 || t->cp_seq[k] < cp_after))
			cp_after = t->cp_seq[k];
	ck_assert_int_ge(cp_after, 5);

	s = open_store();
	memcpy(running, t->prev[4], 32);
	free((char *)t->f[4].principal);
	t->f[4].principal = dup_text("mallory");
	for (size_t i = 4; i < t->n; i++) {
		char sql[512], ph[65], hh[65];
		unsigned char h[32];

		doc_hash(running, &t->f[i], h);
		hex(running, 32, ph);
		hex(h, 32, hh);
		snprintf(sql, sizeof(sql), "UPDATE audit SET principal = '%s', prev_hash = X'%s', "
			 "hash = X'%s' WHERE seq = %" PRId64, t->f[i].principal, ph, hh, t->f[i].seq);
		ck_assert_int_eq(store_exec(s, sql), 0);
		memcpy(running, h, 32);
	}
	store_close(s);
	free_trail(t);

	verify_with(keys->sign_pk, &vr);
	ck_assert_msg(!vr.ok, "a rewritten chain passed verification");
	ck_assert_int_eq(vr.first_bad, cp_after);
	ck_assert_msg(strstr(vr.problem, "checkpoint") != NULL, "problem: %s", vr.problem);
}
END_TEST

START_TEST(test_tamper_forged_checkpoint_signature)
{
	fill(20);
	exec_ok("UPDATE audit_checkpoints SET sig = zeroblob(64) "
		"WHERE seq = (SELECT max(seq) FROM audit_checkpoints)");
	expect_bad(20, "signature");
}
END_TEST

START_TEST(test_verify_with_another_key_fails)
{
	unsigned char pk[32], sk[64];
	struct audit_verify_result vr;

	fill(20);
	crypto_sign_keypair(pk, sk);
	verify_with(pk, &vr);
	ck_assert(!vr.ok);
	ck_assert_msg(strstr(vr.problem, "key") != NULL, "problem: %s", vr.problem);
	verify_ok(20);
}
END_TEST

START_TEST(test_verify_empty_trail)
{
	struct audit_verify_result vr;

	fill(0);
	verify_with(keys->sign_pk, &vr);
	ck_assert(vr.ok);
	ck_assert_int_eq(vr.records, 0);
	ck_assert_int_eq(vr.checkpoints, 0);
}
END_TEST

/* --- 4. restart ---------------------------------------------------------- */

START_TEST(test_restart_continues_chain)
{
	enum { N = 200, M = 50 };
	struct audit *a;
	struct audit_stats st;
	struct store *s;
	json_t *arr, *before;

	fill(N);
	verify_ok(N);
	s = open_store();
	before = query_all(s, N - 1);           /* record N */
	store_close(s);
	ck_assert_uint_eq(json_array_size(before), 1);

	a = start_writer(0, 0);
	audit_get_stats(a, &st);
	ck_assert_int_eq(st.head_seq, N);
	ck_assert_int_ge(st.last_checkpoint_seq, N);     /* audit_stop signed the head */
	for (int i = 0; i < M; i++)
		audit_submit(a, make_job(N + i, "bob", "io.roster.Clients.List", OK_REPLY, NULL));
	wait_done(N + M, 60);
	ck_assert_int_eq(run.failed, 0);
	audit_get_stats(a, &st);
	ck_assert_int_eq(st.head_seq, N + M);
	ck_assert_int_eq(st.records, M);
	stop_writer(a);

	s = open_store();
	arr = query_all(s, N);
	ck_assert_uint_eq(json_array_size(arr), M);
	for (int i = 0; i < M; i++) {
		const json_t *r = json_array_get(arr, (size_t)i);

		ck_assert_int_eq(num(r, "seq"), N + 1 + i);
		ck_assert_str_eq(str(r, "principal"), "bob");
	}
	ck_assert_str_eq(str(json_array_get(arr, 0), "prev_hash"),
			 str(json_array_get(before, 0), "hash"));
	json_decref(arr);
	json_decref(before);
	store_close(s);
	verify_ok(N + M);
}
END_TEST

/* --- 5. changes with their records ---------------------------------------- */

static json_t *client_mctx(const char *name)
{
	json_t *m = json_pack("{s:{s:s, s:s}}", "client", "name", name, "kind", "enterprise");

	ck_assert_ptr_nonnull(m);
	return m;
}

static void mutate_create(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];
	int r = store_client_create(w, json_object_get(j->mctx, "client"), id);

	/* Runs on the writer thread: no ck_assert here, the reply tells. */
	if (r < 0) {
		j->reply = json_pack("{s:s, s:{}}", "error", "io.roster.InternalError", "parameters");
		return;
	}
	audit_rec_add_id(&j->rec, id);
	j->reply = json_pack("{s:{s:s, s:i}}", "parameters", "id", id, "version", 1);
}

/* Creates the client, then decides the call failed: the change must not stay. */
static void mutate_create_then_fail(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];

	if (store_client_create(w, json_object_get(j->mctx, "client"), id) < 0) {
		j->reply = json_pack("{s:s, s:{}}", "error", "io.roster.InternalError", "parameters");
		return;
	}
	audit_rec_add_id(&j->rec, id);
	j->reply = json_pack("{s:s, s:{}}", "error", "io.roster.Conflict", "parameters");
}

static struct audit_job *create_job(int64_t i, const char *name, audit_mutate_fn fn,
				    struct slot *sl)
{
	struct audit_job *j = make_job(i, "admin", "io.roster.Clients.Create", NULL, sl);

	j->mutate = fn;
	j->mctx = client_mctx(name);            /* audit_job_free() releases it */
	return j;
}

START_TEST(test_mutation_committed_with_its_record)
{
	struct audit *a = start_writer(0, 0);
	struct slot sl = { 0, 1 };
	struct store *s;
	json_t *arr, *c = NULL;
	const char *id;

	audit_submit(a, create_job(0, "Acme Widgets", mutate_create, &sl));
	wait_done(1, 30);
	ck_assert_int_eq(sl.calls, 1);
	ck_assert_int_eq(sl.status, 0);
	stop_writer(a);

	s = open_store();
	arr = query_all(s, 0);
	ck_assert_uint_eq(json_array_size(arr), 1);
	ck_assert_str_eq(str(json_array_get(arr, 0), "result"), "ok");
	ck_assert_str_eq(str(json_array_get(arr, 0), "method"), "io.roster.Clients.Create");
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(arr, 0), "ids")), 1);
	id = json_string_value(json_array_get(json_object_get(json_array_get(arr, 0), "ids"), 0));
	ck_assert_ptr_nonnull(id);
	ck_assert_int_eq(store_client_get(s, id, &c), 0);
	ck_assert_str_eq(str(c, "name"), "Acme Widgets");
	json_decref(c);
	json_decref(arr);
	store_close(s);
	ck_assert_int_eq(client_count(), 1);
	verify_ok(1);
}
END_TEST

/*
 * A plain job (a lookup) runs without a savepoint: a change it makes stays
 * even when its reply is an error (as a guessing lock stays with the
 * NotFound that completed the run), and its effects reach the commit hook.
 */
static void plain_create_then_fail(struct store *w, struct audit_job *j)
{
	mutate_create_then_fail(w, j);
	j->effects |= AUDIT_EFFECT_AUTH;
}

static void plain_read(struct store *w, struct audit_job *j)
{
	json_t *arr = NULL;
	bool more;

	/* The writer's connection sees what the batch wrote before it. */
	if (store_client_list(w, NULL, 10, &arr, &more) < 0 || arr == NULL) {
		j->reply = json_pack("{s:s, s:{}}", "error", "io.roster.InternalError", "parameters");
		return;
	}
	j->reply = json_pack("{s:{s:i}}", "parameters", "n", (json_int_t)json_array_size(arr));
	j->rec.records = (int64_t)json_array_size(arr);
	json_decref(arr);
}

START_TEST(test_plain_job_keeps_its_change_and_reports_effects)
{
	struct audit *a = start_writer(0, 0);
	struct slot sl[3];
	struct audit_job *j;
	struct store *s;
	json_t *arr;

	memset(sl, 0, sizeof(sl));
	hook_head = 0;
	hook_calls = 0;
	hook_effects = 0;
	audit_set_commit_hook(a, on_commit, &hook_head);
	j = create_job(0, "Kept Anyway", plain_create_then_fail, &sl[0]);
	j->plain = true;
	audit_submit(a, j);
	j = make_job(1, "alice", "io.roster.Clients.List", NULL, &sl[1]);
	j->mutate = plain_read;
	j->plain = true;
	audit_submit(a, j);
	wait_done(2, 30);
	ck_assert_int_eq(sl[0].status, 0);
	ck_assert_int_eq(sl[1].status, 0);
	ck_assert_uint_eq(hook_effects & AUDIT_EFFECT_AUTH, AUDIT_EFFECT_AUTH);
	stop_writer(a);

	ck_assert_int_eq(client_count(), 1);
	s = open_store();
	arr = query_all(s, 0);
	ck_assert_uint_eq(json_array_size(arr), 2);
	ck_assert_str_eq(str(json_array_get(arr, 0), "error"), "io.roster.Conflict");
	ck_assert_str_eq(str(json_array_get(arr, 1), "result"), "ok");
	ck_assert_int_eq(num(json_array_get(arr, 1), "records"), 1);
	json_decref(arr);
	store_close(s);
	verify_ok(2);
}
END_TEST

START_TEST(test_mutation_with_error_reply_rolled_back)
{
	struct audit *a = start_writer(0, 0);
	struct slot sl[5];
	struct store *s;
	json_t *arr;

	memset(sl, 0, sizeof(sl));
	/* In one go, so the failing ones share batches with the good ones. */
	audit_submit(a, create_job(0, "Good One", mutate_create, &sl[0]));
	audit_submit(a, create_job(1, "Bad One", mutate_create_then_fail, &sl[1]));
	audit_submit(a, create_job(2, "Good Two", mutate_create, &sl[2]));
	audit_submit(a, create_job(3, "Bad Two", mutate_create_then_fail, &sl[3]));
	audit_submit(a, create_job(4, "Good Three", mutate_create, &sl[4]));
	wait_done(5, 30);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(sl[i].calls, 1);
		ck_assert_int_eq(sl[i].status, 0);     /* the record committed; the reply says error */
	}
	stop_writer(a);

	ck_assert_int_eq(client_count(), 3);
	s = open_store();
	arr = query_all(s, 0);
	ck_assert_uint_eq(json_array_size(arr), 5);
	for (int i = 0; i < 5; i++) {
		const json_t *r = json_array_get(arr, (size_t)i);
		const char *id = json_string_value(json_array_get(json_object_get(r, "ids"), 0));
		json_t *c = NULL;
		bool bad_one = i % 2 == 1;

		ck_assert_int_eq(num(r, "seq"), i + 1);
		ck_assert_str_eq(str(r, "result"), bad_one ? "error" : "ok");
		ck_assert_str_eq(str(r, "error"), bad_one ? "io.roster.Conflict" : "");
		ck_assert_ptr_nonnull(id);
		ck_assert_int_eq(store_client_get(s, id, &c), bad_one ? -ENOENT : 0);
		json_decref(c);
	}
	json_decref(arr);
	store_close(s);
	verify_ok(5);
}
END_TEST

/*
 * Changes that run without a savepoint (call_write_bulk(), as Import and
 * Create do) must never be committed in part. The batch is made
 * deterministic: a first job holds the writer for a moment, so the jobs
 * submitted meanwhile make up the next batch together.
 */
static int slow_started;

static void plain_slow(struct store *w, struct audit_job *j)
{
	(void)w;
	__atomic_store_n(&slow_started, 1, __ATOMIC_SEQ_CST);
	usleep(300000);
	j->reply = json_pack("{s:{}}", "parameters");
}

/* Three clients written, then a storage failure on the fourth. */
static void bulk_create_then_abort(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];

	for (int i = 0; i < 3; i++)
		if (store_client_create(w, json_object_get(j->mctx, "client"), id) == 0)
			audit_rec_add_id(&j->rec, id);
	j->abort_batch = true;
	j->reply = json_pack("{s:s, s:{}}", "error", "io.roster.InternalError", "parameters");
}

/*
 * A client written, then the transaction ends under the job, as SQLite
 * ends it itself on an I/O error or corruption; the reply says nothing.
 */
static void plain_create_then_lose_transaction(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1] = "";

	if (store_client_create(w, json_object_get(j->mctx, "client"), id) == 0)
		audit_rec_add_id(&j->rec, id);
	(void)store_exec(w, "ROLLBACK");
	j->reply = json_pack("{s:{s:s, s:i}}", "parameters", "id", id, "version", 1);
}

static void batch_fails_whole(audit_mutate_fn failing)
{
	struct audit *a = start_writer(0, 0);
	struct slot sl[5];
	struct audit_job *j;
	struct store *s;
	json_t *arr;

	memset(sl, 0, sizeof(sl));
	j = make_job(0, "alice", "io.roster.Clients.Get", NULL, &sl[0]);
	j->mutate = plain_slow;
	j->plain = true;
	__atomic_store_n(&slow_started, 0, __ATOMIC_SEQ_CST);
	audit_submit(a, j);
	while (!__atomic_load_n(&slow_started, __ATOMIC_SEQ_CST))
		usleep(1000);
	audit_submit(a, create_job(1, "Good One", mutate_create, &sl[1]));
	j = create_job(2, "Bulk", failing, &sl[2]);
	j->plain = true;
	audit_submit(a, j);
	audit_submit(a, create_job(3, "Good Two", mutate_create, &sl[3]));
	wait_done(4, 30);
	ck_assert_int_eq(sl[0].status, 0);
	/* Everything in the failing job's batch is answered AuditUnavailable... */
	for (int i = 1; i < 4; i++) {
		ck_assert_int_eq(sl[i].calls, 1);
		ck_assert_msg(sl[i].status < 0, "job %d answered with status %d", i, sl[i].status);
	}
	/* ...and the writer goes on, the chain without a gap. */
	audit_submit(a, create_job(4, "After", mutate_create, &sl[4]));
	wait_done(5, 30);
	ck_assert_int_eq(sl[4].status, 0);
	stop_writer(a);

	/* Nothing of that batch: no client, and no record committed on its own. */
	ck_assert_int_eq(client_count(), 1);
	ck_assert_int_eq(head_seq_of_db(), 2);
	s = open_store();
	arr = query_all(s, 0);
	ck_assert_uint_eq(json_array_size(arr), 2);
	ck_assert_str_eq(str(json_array_get(arr, 0), "method"), "io.roster.Clients.Get");
	ck_assert_str_eq(str(json_array_get(arr, 1), "method"), "io.roster.Clients.Create");
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(arr, 1), "ids")), 1);
	json_decref(arr);
	store_close(s);
	verify_ok(2);
}

START_TEST(test_bulk_job_that_fails_takes_its_batch_with_it)
{
	batch_fails_whole(bulk_create_then_abort);
}
END_TEST

START_TEST(test_plain_job_that_loses_the_transaction_fails_its_batch)
{
	batch_fails_whole(plain_create_then_lose_transaction);
}
END_TEST

/*
 * Clients created with their record's seq noted in their rows (as Import
 * and Create do): a query by client finds that record while the client
 * exists and after it is deleted. A change rolled back with its savepoint
 * still has its record, which names the id it tried.
 */
static void bulk_create_three(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];

	for (int i = 0; i < 3; i++)
		if (store_client_create_at(w, json_object_get(j->mctx, "client"), j->seq, id) < 0 ||
		    audit_rec_add_id(&j->rec, id) < 0)
			j->abort_batch = true;
	j->reply = json_pack("{s:{}}", "parameters");
}

static void create_at_then_fail(struct store *w, struct audit_job *j)
{
	char id[ID_HEX_LEN + 1];

	if (store_client_create_at(w, json_object_get(j->mctx, "client"), j->seq, id) == 0)
		audit_rec_add_id(&j->rec, id);
	j->reply = json_pack("{s:s, s:{}}", "error", "io.roster.Conflict", "parameters");
}

static char doomed[ID_HEX_LEN + 1];

static void delete_doomed(struct store *w, struct audit_job *j)
{
	audit_rec_add_id(&j->rec, doomed);
	j->reply = store_client_delete(w, doomed) == 0 ? json_pack("{s:{}}", "parameters")
		   : json_pack("{s:s, s:{}}", "error", "io.roster.NotFound", "parameters");
}

/* The seqs of the records a query by client finds, as "1 3" (no trailing blank). */
static void seqs_for(const char *client, char *out, size_t size)
{
	struct store *s = open_store();
	struct audit_filter f;
	json_t *arr = NULL, *r;
	size_t i, off = 0;

	memset(&f, 0, sizeof(f));
	f.client = client;
	f.limit = 100;
	ck_assert_int_eq(store_audit_query(s, &f, &arr), 0);
	out[0] = '\0';
	json_array_foreach(arr, i, r)
		off += (size_t)snprintf(out + off, size - off, "%s%lld", i ? " " : "",
					(long long)num(r, "seq"));
	json_decref(arr);
	store_close(s);
}

START_TEST(test_query_by_client_finds_records_of_created_clients)
{
	struct audit *a = start_writer(0, 0);
	struct slot sl[4];
	struct audit_job *j;
	struct store *s;
	json_t *arr;
	char ids[3][ID_HEX_LEN + 1], failed_id[ID_HEX_LEN + 1], got[64];

	memset(sl, 0, sizeof(sl));
	j = create_job(0, "Bulk", bulk_create_three, &sl[0]);
	j->plain = true;
	audit_submit(a, j);
	wait_done(1, 30);
	ck_assert_int_eq(sl[0].status, 0);
	audit_submit(a, create_job(1, "Refused", create_at_then_fail, &sl[1]));
	wait_done(2, 30);

	s = open_store();
	arr = query_all(s, 0);
	for (int i = 0; i < 3; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_array_get(
			 json_object_get(json_array_get(arr, 0), "ids"), (size_t)i)));
	snprintf(failed_id, sizeof(failed_id), "%s", json_string_value(json_array_get(
		 json_object_get(json_array_get(arr, 1), "ids"), 0)));
	json_decref(arr);
	store_close(s);

	/* Record 3 reads ids[1]; record 4 deletes ids[0]. */
	j = make_job(2, "alice", "io.roster.Clients.Get", OK_REPLY, &sl[2]);
	ck_assert_int_eq(audit_rec_add_id(&j->rec, ids[1]), 0);
	audit_submit(a, j);
	snprintf(doomed, sizeof(doomed), "%s", ids[0]);
	j = make_job(3, "admin", "io.roster.Clients.Delete", NULL, &sl[3]);
	j->mutate = delete_doomed;
	audit_submit(a, j);
	wait_done(4, 30);
	for (int i = 1; i < 4; i++)
		ck_assert_int_eq(sl[i].status, 0);
	stop_writer(a);

	ck_assert_int_eq(client_count(), 2);
	seqs_for(ids[0], got, sizeof(got));
	ck_assert_str_eq(got, "1 4");           /* created, then deleted: both found */
	seqs_for(ids[1], got, sizeof(got));
	ck_assert_str_eq(got, "1 3");
	seqs_for(ids[2], got, sizeof(got));
	ck_assert_str_eq(got, "1");
	seqs_for(failed_id, got, sizeof(got));
	ck_assert_str_eq(got, "2");             /* rolled back: its record is still found */
	verify_ok(4);
}
END_TEST

/* --- 6. failing closed --------------------------------------------------- */

START_TEST(test_fail_closed_when_records_cannot_be_written)
{
	enum { GOOD = 5, BAD = 10 };
	struct audit *a = start_writer(0, 0);
	struct slot sl[BAD];
	struct audit_stats st;

	for (int i = 0; i < GOOD; i++)
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(GOOD, 30);
	ck_assert_int_eq(run.ok, GOOD);

	exec_ok("CREATE TRIGGER audit_block BEFORE INSERT ON audit "
		"BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END");
	memset(sl, 0, sizeof(sl));
	for (int i = 0; i < BAD; i++) {
		if (i == 4)
			audit_submit(a, create_job(GOOD + i, "Never Stored", mutate_create, &sl[i]));
		else
			audit_submit(a, make_job(GOOD + i, "alice", "io.roster.Clients.Get",
						 OK_REPLY, &sl[i]));
	}
	wait_done(GOOD + BAD, 30);
	for (int i = 0; i < BAD; i++) {
		ck_assert_int_eq(sl[i].calls, 1);
		ck_assert_msg(sl[i].status < 0, "job %d answered with status %d", i, sl[i].status);
	}
	audit_get_stats(a, &st);
	ck_assert_int_gt(st.failures, 0);
	ck_assert_int_eq(st.records, GOOD);
	ck_assert_int_eq(st.head_seq, GOOD);
	ck_assert_int_eq(head_seq_of_db(), GOOD);
	ck_assert_int_eq(client_count(), 0);

	/* Once the trail can be written again, the chain goes on without a gap. */
	exec_ok("DROP TRIGGER audit_block");
	for (int i = 0; i < 3; i++)
		audit_submit(a, make_job(100 + i, "carol", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(GOOD + BAD + 3, 30);
	ck_assert_int_eq(run.ok, GOOD + 3);
	stop_writer(a);
	ck_assert_int_eq(head_seq_of_db(), GOOD + 3);
	verify_ok(GOOD + 3);
}
END_TEST

/* Append one chained record naming ids (a space-separated list) to s's trail. */
static void append_naming(struct store *s, const char *ids)
{
	struct audit_fields f = {
		.principal = "alice", .role = "service", .method = "io.roster.Clients.Get",
		.ids = ids, .fields = "", .result = "ok", .error = "", .alert = "",
	};
	unsigned char prev[32], hash[32];

	ck_assert_int_eq(store_audit_head(s, &f.seq, prev), 0);
	f.seq++;
	f.time_us = 1764132000000000 + f.seq;
	audit_hash(prev, &f, hash);
	ck_assert_int_eq(store_audit_append(s, &f, prev, hash), 0);
}

/* Up to limit seqs (after after) of the records a query by client finds, into out[]. */
static size_t found_for(struct store *s, const char *client, int64_t after, int limit,
			int64_t *out)
{
	struct audit_filter f;
	json_t *arr = NULL, *r;
	size_t i;

	memset(&f, 0, sizeof(f));
	f.client = client;
	f.after_seq = after;
	f.limit = limit;
	ck_assert_int_eq(store_audit_query(s, &f, &arr), 0);
	json_array_foreach(arr, i, r)
		out[i] = num(r, "seq");
	i = json_array_size(arr);
	json_decref(arr);
	return i;
}

/* A query by client (after after) finds exactly one record, seq. */
static void found_only(struct store *s, const char *client, int64_t after, int64_t seq)
{
	int64_t got[2];

	ck_assert_uint_eq(found_for(s, client, after, 2, got), 1);
	ck_assert_int_eq(got[0], seq);
}

static int64_t count_of(struct store *s, const char *sql)
{
	int64_t n = -1;

	ck_assert_int_eq(store_query_int(s, sql, &n), 0);
	return n;
}

/*
 * The id filters over several closed blocks and the open one: a query by
 * client finds exactly the records that name it, in order, with the limit
 * and the after cursor, and nothing for an id no record names or for a
 * word that is only part of an id.
 */
enum { FILTER_RECORDS = 10000 };

static void ids_of_record(int64_t seq, char *out, size_t size)
{
	char a[ID_HEX_LEN + 1], b[ID_HEX_LEN + 1];

	id_of((int)(seq % 997), a);
	id_of(5000 + (int)(seq % 13), b);
	if (seq % 7 == 0)
		snprintf(out, size, "%s", "");
	else if (seq % 5 == 0)
		snprintf(out, size, "%s %s", a, b);
	else
		snprintf(out, size, "%s", a);
}

static bool record_names(int64_t seq, const char *id)
{
	char ids[2 * ID_HEX_LEN + 2];

	ids_of_record(seq, ids, sizeof(ids));
	return strstr(ids, id) != NULL;
}

START_TEST(test_id_filters_find_every_record_of_a_client)
{
	static int64_t got[FILTER_RECORDS];
	struct store *s = open_store();
	const int probe[] = { 0, 1, 500, 996, 5003 };
	char ids[2 * ID_HEX_LEN + 2], id[ID_HEX_LEN + 1];
	int64_t blocks;

	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	for (int64_t seq = 1; seq <= FILTER_RECORDS; seq++) {
		ids_of_record(seq, ids, sizeof(ids));
		append_naming(s, ids);
	}
	append_naming(s, "x1 x12");
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);

	/* Closed blocks cover the trail from 1 without a gap, each with a full filter. */
	blocks = count_of(s, "SELECT count(*) FROM audit_idfilters");
	ck_assert_int_ge(blocks, 2);
	ck_assert_int_eq(count_of(s, "SELECT count(*) FROM audit_idfilters WHERE "
				  "length(bits) <> 8192"), 0);
	ck_assert_int_eq(count_of(s, "SELECT min(first_seq) FROM audit_idfilters"), 1);
	ck_assert_int_eq(count_of(s, "SELECT count(*) FROM audit_idfilters a WHERE first_seq > 1 "
				  "AND NOT EXISTS (SELECT 1 FROM audit_idfilters b "
				  "WHERE b.last_seq = a.first_seq - 1)"), 0);
	ck_assert_int_lt(count_of(s, "SELECT max(last_seq) FROM audit_idfilters"), FILTER_RECORDS);

	for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
		size_t n, want = 0;

		id_of(probe[k], id);
		n = found_for(s, id, 0, FILTER_RECORDS, got);
		for (int64_t seq = 1; seq <= FILTER_RECORDS; seq++)
			if (record_names(seq, id)) {
				ck_assert_msg(want < n && got[want] == seq,
					      "client %d: record %" PRId64 " not found", probe[k], seq);
				want++;
			}
		ck_assert_uint_eq(n, want);
		ck_assert_uint_gt(n, 0);
	}
	/* The limit and the cursor: the next 7 after record 6,000 (one record in 65 names it). */
	id_of(5003, id);
	ck_assert_uint_eq(found_for(s, id, 6000, 7, got), 7);
	ck_assert_int_gt(got[0], 6000);
	for (int i = 0; i < 7; i++) {
		ck_assert(record_names(got[i], id));
		if (i > 0)
			ck_assert_int_gt(got[i], got[i - 1]);
		for (int64_t seq = i ? got[i - 1] + 1 : 6001; seq < got[i]; seq++)
			ck_assert(!record_names(seq, id));
	}
	id_of(999, id);
	ck_assert_uint_eq(found_for(s, id, 0, 100, got), 0);
	found_only(s, "x1", 0, FILTER_RECORDS + 1);
	ck_assert_uint_eq(found_for(s, "x", 0, 100, got), 0);
	found_only(s, "x12", 0, FILTER_RECORDS + 1);
	ck_assert_uint_eq(found_for(s, "x1 x12", 0, 100, got), 0);     /* one id, not two */
	ck_assert_uint_eq(found_for(s, "", 0, 100, got), 0);
	store_close(s);
}
END_TEST

/*
 * The connection that appends keeps its open block in memory. A batch
 * rolled back after closing a block, or records appended meanwhile by
 * another connection, must not leave records outside every filter: the
 * block is read again from the database.
 */
START_TEST(test_id_filter_block_survives_rollback_and_other_writers)
{
	int64_t got[4];
	struct store *s = open_store(), *t;
	char id[ID_HEX_LEN + 1];
	int64_t seq;

	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	for (seq = 1; seq < IDFILTER_BLOCK_MAX; seq++) {
		id_of((int)seq, id);
		append_naming(s, id);
	}
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	/* Record 4096 closes the block; the transaction is rolled back. */
	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	append_naming(s, "aaaa");
	append_naming(s, "bbbb");
	ck_assert_int_eq(count_of(s, "SELECT count(*) FROM audit_idfilters"), 1);
	ck_assert_int_eq(store_exec(s, "ROLLBACK"), 0);
	ck_assert_int_eq(count_of(s, "SELECT count(*) FROM audit_idfilters"), 0);

	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	append_naming(s, "cccc");                                       /* 4096 again */
	for (seq = IDFILTER_BLOCK_MAX + 1; seq < 2 * IDFILTER_BLOCK_MAX - 1; seq++) {
		id_of((int)seq, id);
		append_naming(s, id);
	}
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	/* Another connection appends 8191; s then appends 8192, which closes the block. */
	t = open_store();
	ck_assert_int_eq(store_exec(t, "BEGIN IMMEDIATE"), 0);
	append_naming(t, "dddd");
	ck_assert_int_eq(store_exec(t, "COMMIT"), 0);
	store_close(t);
	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	append_naming(s, "eeee");
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	ck_assert_int_eq(count_of(s, "SELECT count(*) FROM audit_idfilters"), 2);
	ck_assert_int_eq(count_of(s, "SELECT max(last_seq) FROM audit_idfilters"),
			 2 * IDFILTER_BLOCK_MAX);

	ck_assert_uint_eq(found_for(s, "aaaa", 0, 4, got), 0);
	found_only(s, "cccc", 0, IDFILTER_BLOCK_MAX);
	found_only(s, "dddd", 0, 2 * IDFILTER_BLOCK_MAX - 1);
	found_only(s, "eeee", 0, 2 * IDFILTER_BLOCK_MAX);
	id_of(7, id);
	found_only(s, id, 0, 7);
	store_close(s);
}
END_TEST

/*
 * A registry migrated from before the filters: its records are one block
 * with an empty filter (what migration 007 writes), found through the old
 * index; the records after it through the filters.
 */
START_TEST(test_id_filters_after_migration_from_the_old_index)
{
	int64_t got[4];
	struct store *s = open_store();
	char id[ID_HEX_LEN + 1];

	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	for (int i = 1; i <= 50; i++) {
		id_of(i, id);
		append_naming(s, id);
	}
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	store_close(s);
	/* As before 007: index rows, and no filter but the migration's empty one. */
	exec_ok("DELETE FROM audit_idfilters; "
		"INSERT INTO audit_ids (client_id, seq) SELECT ids, seq FROM audit; "
		"INSERT INTO audit_idfilters (last_seq, first_seq, bits) "
		"SELECT seq, 1, x'' FROM audit ORDER BY seq DESC LIMIT 1");
	s = open_store();
	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	for (int i = 51; i <= 60; i++) {
		id_of(i % 50, id);              /* ids 1 to 9 and 0 again */
		append_naming(s, id);
	}
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	ck_assert_int_eq(count_of(s, "SELECT count(*) FROM audit_ids"), 50);   /* no new rows */
	id_of(3, id);
	ck_assert_uint_eq(found_for(s, id, 0, 4, got), 2);
	ck_assert_int_eq(got[0], 3);
	ck_assert_int_eq(got[1], 53);
	found_only(s, id, 3, 53);
	id_of(50, id);
	found_only(s, id, 0, 50);
	store_close(s);
}
END_TEST

/* A full block's filter: every id it was given, and few others. */
START_TEST(test_idfilter_holds_its_ids_and_rarely_others)
{
	static unsigned char bits[IDFILTER_BYTES];
	char id[ID_HEX_LEN + 1];
	int maybe = 0;

	ck_assert(!idfilter_may_have(bits, 0, "anything", 8));     /* the old index's block */
	ck_assert(idfilter_may_have(bits, 16, "anything", 8));     /* a filter not understood */
	for (int i = 0; i < IDFILTER_BLOCK_MAX; i++) {
		id_of(i, id);
		idfilter_add(bits, id, strlen(id));
	}
	for (int i = 0; i < IDFILTER_BLOCK_MAX; i++) {
		id_of(i, id);
		ck_assert(idfilter_may_have(bits, sizeof(bits), id, strlen(id)));
	}
	for (int i = 0; i < 100000; i++) {
		id_of(1000000 + i, id);
		maybe += idfilter_may_have(bits, sizeof(bits), id, strlen(id));
	}
	/* About 0.24% in theory; 0.5% would mean the hashing is off. */
	ck_assert_msg(maybe < 500, "%d of 100,000 absent ids said maybe", maybe);
	ck_assert_uint_eq(idfilter_add_words(bits, "  a bb  ccc "), 3);
	ck_assert(idfilter_may_have(bits, sizeof(bits), "bb", 2));
}
END_TEST

/*
 * Closing a block is part of the batch: when its filter cannot be stored,
 * the batch fails whole, every call in it is answered with a failure, and
 * once the filter can be stored the chain and the filters go on whole.
 */
START_TEST(test_fail_closed_when_id_filter_cannot_be_stored)
{
	enum { BEFORE = IDFILTER_BLOCK_MAX - 3, BAD = 8 };
	struct store *s = open_store();
	struct slot sl[BAD];
	struct audit_stats st;
	struct audit *a;
	char id[ID_HEX_LEN + 1];
	int64_t head, got[4];
	int ok = 0;

	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	for (int i = 0; i < BEFORE; i++)
		append_naming(s, "");
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	ck_assert_int_eq(store_exec(s, "CREATE TRIGGER filter_block BEFORE INSERT ON "
				    "audit_idfilters BEGIN SELECT RAISE(ABORT, 'blocked by the test'); "
				    "END"), 0);
	store_close(s);

	a = start_writer(0, 0);
	memset(sl, 0, sizeof(sl));
	for (int i = 0; i < BAD; i++) {
		struct audit_job *j = make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, &sl[i]);

		id_of(100 + i, id);
		ck_assert_int_eq(audit_rec_add_id(&j->rec, id), 0);
		audit_submit(a, j);
	}
	wait_done(BAD, 30);
	for (int i = 0; i < BAD; i++) {
		ck_assert_int_eq(sl[i].calls, 1);
		ok += sl[i].status == 0;
	}
	audit_get_stats(a, &st);
	ck_assert_int_gt(st.failures, 0);
	head = head_seq_of_db();
	ck_assert_int_lt(head, IDFILTER_BLOCK_MAX);     /* the block never closed */
	ck_assert_int_eq(head, BEFORE + ok);
	ck_assert_int_eq(st.records, ok);

	exec_ok("DROP TRIGGER filter_block");
	for (int i = 0; i < 5; i++) {
		struct audit_job *j = make_job(200 + i, "carol", "io.roster.Clients.Get", OK_REPLY,
					       NULL);

		id_of(200 + i, id);
		ck_assert_int_eq(audit_rec_add_id(&j->rec, id), 0);
		audit_submit(a, j);
	}
	wait_done(BAD + 5, 30);
	stop_writer(a);
	ck_assert_int_eq(head_seq_of_db(), head + 5);
	verify_ok(head + 5);
	s = open_store();
	ck_assert_int_eq(count_of(s, "SELECT count(*) FROM audit_idfilters"), 1);
	for (int i = 0; i < 5; i++) {
		id_of(200 + i, id);
		found_only(s, id, 0, head + 1 + i);
	}
	/* The calls that failed left no record, so nothing names their ids. */
	for (int i = 0; i < BAD; i++) {
		id_of(100 + i, id);
		ck_assert_uint_eq(found_for(s, id, 0, 4, got), sl[i].status == 0 ? 1 : 0);
	}
	store_close(s);
}
END_TEST

/*
 * A database locked by someone else past AUDIT_REPLY_TIMEOUT_MS: the caller
 * is answered (once) with a failure instead of hanging, nothing is written,
 * and the writer carries on once the lock is gone.
 */
START_TEST(test_locked_database_answers_once_and_recovers)
{
	struct audit *a = start_writer(0, 0);
	struct slot sl = { 0, 0 }, sl2 = { 0, 1 };
	struct store *s = open_store();
	double t0;

	ck_assert_int_eq(store_exec(s, "BEGIN IMMEDIATE"), 0);
	t0 = mono();
	audit_submit(a, make_job(0, "alice", "io.roster.Clients.Get", OK_REPLY, &sl));
	wait_done(1, 20);
	ck_assert_int_eq(sl.calls, 1);
	ck_assert_int_lt(sl.status, 0);
	ck_assert_msg(mono() - t0 >= AUDIT_REPLY_TIMEOUT_MS / 1000.0 - 0.5,
		      "answered after %.2f s, before the timeout", mono() - t0);
	wait_stats(a, has_failed, 20, "the writer gives up on the locked database");
	spin(0.6);                              /* let the failed batch come back */
	ck_assert_int_eq(sl.calls, 1);          /* not answered a second time */
	ck_assert_int_eq(store_exec(s, "COMMIT"), 0);
	store_close(s);
	ck_assert_int_eq(head_seq_of_db(), 0);

	audit_submit(a, make_job(1, "alice", "io.roster.Clients.Get", OK_REPLY, &sl2));
	wait_done(2, 30);
	ck_assert_int_eq(sl2.status, 0);
	ck_assert_int_eq(sl.calls, 1);
	stop_writer(a);
	ck_assert_int_eq(run.done, 2);
	verify_ok(1);
}
END_TEST

/*
 * A job the writer holds past AUDIT_REPLY_TIMEOUT_MS (here: a change that
 * takes 6.5 s, as a stuck disk would) and one queued behind it are both
 * answered -ETIMEDOUT, once. The done callback must run without audit's
 * lock held: the daemon's callback (server.c call_audited -> call_send ->
 * conn_process) goes on to the connection's next call and so to
 * audit_submit(), which takes that lock. A helper thread probes the lock
 * with audit_get_stats() while the callback runs.
 */
static struct audit *probe_audit;
static pthread_t probe_thread;
static bool probe_started;
static int probe_got_lock;              /* set by the helper (atomics) */
static bool probe_lock_held;

static void *probe_main(void *arg)
{
	struct audit_stats st;

	audit_get_stats(arg, &st);
	__atomic_store_n(&probe_got_lock, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void on_done_probe(struct audit_job *j, int status)
{
	on_done(j, status);
	if (probe_started)
		return;
	probe_started = pthread_create(&probe_thread, NULL, probe_main, probe_audit) == 0;
	if (probe_started) {
		double end = mono() + 2.0;

		while (!__atomic_load_n(&probe_got_lock, __ATOMIC_SEQ_CST) && mono() < end)
			usleep(1000);
		probe_lock_held = !__atomic_load_n(&probe_got_lock, __ATOMIC_SEQ_CST);
	}
}

static void mutate_slow(struct store *w, struct audit_job *j)
{
	(void)w;
	usleep(6500 * 1000);
	j->reply = json_pack("{s:{}}", "parameters");
}

START_TEST(test_timeout_answers_held_and_queued_jobs_once)
{
	struct audit *a = start_writer(0, 0);
	struct slot held = { 0, 1 }, queued = { 0, 1 }, later = { 0, 1 };
	struct audit_job *j;
	struct audit_stats st;
	struct store *s;
	json_t *arr;
	int64_t n;
	double t0 = mono();

	probe_audit = a;
	probe_started = false;
	probe_lock_held = false;
	__atomic_store_n(&probe_got_lock, 0, __ATOMIC_SEQ_CST);
	j = make_job(0, "alice", "io.roster.Clients.Update", NULL, &held);
	j->mutate = mutate_slow;
	j->done = on_done_probe;
	audit_submit(a, j);
	spin(0.2);                              /* the writer has taken it */
	audit_submit(a, make_job(1, "bob", "io.roster.Clients.Get", OK_REPLY, &queued));
	wait_done(2, 20);
	ck_assert_int_eq(held.calls, 1);
	ck_assert_int_eq(held.status, -ETIMEDOUT);
	ck_assert_int_eq(queued.calls, 1);
	ck_assert_int_eq(queued.status, -ETIMEDOUT);
	ck_assert_msg(mono() - t0 >= AUDIT_REPLY_TIMEOUT_MS / 1000.0 - 0.5, "answered too early");
	if (probe_started)
		pthread_join(probe_thread, NULL);

	/* The queue is sound after the expiry: a new job goes through. */
	audit_submit(a, make_job(2, "carol", "io.roster.Clients.Get", OK_REPLY, &later));
	wait_done(3, 30);
	ck_assert_int_eq(later.status, 0);
	spin(0.6);
	ck_assert_int_eq(held.calls, 1);        /* its late commit did not answer it again */
	audit_get_stats(a, &st);
	stop_writer(a);
	ck_assert_int_eq(run.done, 3);
	ck_assert_int_eq(st.failures, 0);

	/*
	 * The held job's record committed late (its caller was told it failed),
	 * then carol's. Bob's is there only if the writer took it before it
	 * expired in the queue (the timer ticks every 500 ms).
	 */
	s = open_store();
	arr = query_all(s, 0);
	ck_assert_uint_ge(json_array_size(arr), 2);
	ck_assert_uint_le(json_array_size(arr), 3);
	ck_assert_str_eq(str(json_array_get(arr, 0), "principal"), "alice");
	if (json_array_size(arr) == 3)
		ck_assert_str_eq(str(json_array_get(arr, 1), "principal"), "bob");
	ck_assert_str_eq(str(json_array_get(arr, json_array_size(arr) - 1), "principal"), "carol");
	n = (int64_t)json_array_size(arr);
	json_decref(arr);
	store_close(s);
	verify_ok(n);

	ck_assert_msg(probe_started, "probe thread not started");
	ck_assert_msg(!probe_lock_held, "done() for a job the writer holds was called with the "
		      "audit mutex held (on_timer); a done callback that calls audit_submit() or "
		      "audit_get_stats() deadlocks the loop thread");
}
END_TEST

/*
 * A Seal that times out still seals, and sealing stops the writer from
 * inside the timer's callback: audit_stop() then commits, answers and frees
 * every job, the timer's other late jobs too. Each must be answered once,
 * and the timer must not touch them after (ASan, in the sanitizer build,
 * caught exactly that).
 */
static struct audit *seal_stops;

static void on_done_seal(struct audit_job *j, int status)
{
	struct audit *a = seal_stops;

	on_done(j, status);
	seal_stops = NULL;
	if (a != NULL)
		audit_stop(a);          /* registry_seal() -> take_down() -> audit_stop() */
}

START_TEST(test_timed_out_seal_stopping_the_writer_answers_each_job_once)
{
	struct audit *a = start_writer(0, 0);
	struct slot held = { 0, 1 }, seal = { 0, 1 }, queued = { 0, 1 };
	struct audit_job *j;
	struct store *s;
	json_t *arr;

	j = make_job(0, "alice", "io.roster.Clients.Update", NULL, &held);
	j->mutate = mutate_slow;                /* the writer is stuck 6.5 s */
	audit_submit(a, j);
	spin(0.2);
	j = make_job(1, "admin", "io.roster.Admin.Seal", OK_REPLY, &seal);
	j->done = on_done_seal;
	seal_stops = a;
	audit_submit(a, j);
	audit_submit(a, make_job(2, "bob", "io.roster.Clients.Get", OK_REPLY, &queued));
	/*
	 * The timer answers the held job alone or with the queued ones; the
	 * queued ones in queue order, the Seal first, so that bob is still to
	 * be answered when the Seal's callback stops the writer.
	 */
	for (double end = mono() + 20; seal.calls == 0; uv_run(&loop, UV_RUN_ONCE))
		ck_assert_msg(mono() < end, "the Seal was not answered within 20 s");
	ck_assert_ptr_null(seal_stops);
	ck_assert_int_eq(seal.calls, 1);
	ck_assert_int_eq(seal.status, -ETIMEDOUT);
	/* audit_stop() answered bob when his batch committed, with what it said. */
	ck_assert_int_eq(queued.calls, 1);
	ck_assert_int_eq(queued.status, 0);
	ck_assert_int_eq(held.calls, 1);
	ck_assert_int_eq(run.done, 3);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(run.done, 3);

	/* All three records are on the trail, the late ones as what their callers were told. */
	s = open_store();
	arr = query_all(s, 0);
	ck_assert_uint_eq(json_array_size(arr), 3);
	ck_assert_str_eq(str(json_array_get(arr, 1), "error"), "io.roster.AuditUnavailable");
	ck_assert_str_eq(str(json_array_get(arr, 2), "error"), "io.roster.AuditUnavailable");
	json_decref(arr);
	store_close(s);
	verify_ok(3);
}
END_TEST

/* --- checkpoints --------------------------------------------------------- */

START_TEST(test_request_checkpoint_signs_head)
{
	struct audit *a = start_writer(1000, 3600);
	struct audit_stats st;

	/* One at a time, so later records are not in a batch that was checkpointed. */
	for (int i = 0; i < 5; i++) {
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
		wait_done(i + 1, 30);
	}
	audit_get_stats(a, &st);
	ck_assert_int_eq(st.head_seq, 5);
	ck_assert_int_lt(st.last_checkpoint_seq, 5);
	audit_request_checkpoint(a);
	wait_stats(a, head_is_signed, 10, "audit_request_checkpoint signs the head");
	audit_get_stats(a, &st);
	ck_assert_int_eq(st.failures, 0);
	stop_writer(a);
	verify_ok(5);
}
END_TEST

/*
 * io.roster.Audit.Checkpoint's job: the checkpoint signs the head after its
 * own record, in its own batch, even when it comes while the writer is in
 * the middle of another batch (which must not take the checkpoint instead,
 * leaving the call's record to a batch without one). The slow job keeps
 * the writer busy while the checkpoint job waits in the queue.
 */
static void mutate_brief(struct store *w, struct audit_job *j)
{
	(void)w;
	usleep(300 * 1000);
	j->reply = json_pack("{s:{}}", "parameters");
}

START_TEST(test_checkpoint_job_is_signed_in_its_own_batch)
{
	struct audit *a = start_writer(1000, 3600);
	struct slot cp = { 0, 1 };
	struct audit_stats st;
	struct audit_job *j;
	struct trail *t;
	bool covered = false;

	/* The first batch is signed by the time rule (no checkpoint yet): out of the way. */
	audit_submit(a, make_job(0, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(1, 30);
	j = make_job(1, "alice", "io.roster.Clients.Update", NULL, NULL);
	j->mutate = mutate_brief;
	audit_submit(a, j);
	spin(0.1);                              /* the writer is in this batch */
	j = make_job(2, "admin", "io.roster.Audit.Checkpoint", OK_REPLY, &cp);
	j->checkpoint = true;
	audit_submit(a, j);
	wait_done(3, 30);
	ck_assert_int_eq(cp.status, 0);
	audit_get_stats(a, &st);
	ck_assert_int_eq(st.head_seq, 3);
	ck_assert_int_eq(st.last_checkpoint_seq, 3);
	stop_writer(a);
	/* And only where asked: the batch it came during carried no checkpoint. */
	t = read_trail();
	for (size_t k = 0; k < t->ncp; k++) {
		ck_assert_int_ne(t->cp_seq[k], 2);
		covered |= t->cp_seq[k] == 3;
	}
	ck_assert(covered);
	free_trail(t);
	verify_ok(3);
}
END_TEST

/*
 * Asking for a checkpoint when the head is already signed should do nothing
 * (or add nothing harmful); it must not make the writer fail.
 */
START_TEST(test_request_checkpoint_with_nothing_new_is_harmless)
{
	struct audit *a = start_writer(1000, 1);
	struct audit_stats st;
	struct audit_verify_result vr;

	for (int i = 0; i < 3; i++)
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(3, 30);
	wait_stats(a, head_is_signed, 10, "the time rule signs the head");
	audit_request_checkpoint(a);
	spin(2.5);                              /* more than checkpoint_secs */
	audit_get_stats(a, &st);
	stop_writer(a);                         /* before asserting: CK_FORK=no goes on */
	verify_with(keys->sign_pk, &vr);
	ck_assert(vr.ok);
	ck_assert_msg(st.failures == 0, "audit_request_checkpoint with the head already signed: "
		      "%" PRId64 " failed batch(es) (head %" PRId64 ", last checkpoint %" PRId64 ")",
		      st.failures, st.head_seq, st.last_checkpoint_seq);
}
END_TEST

/*
 * The time rule after the wall clock was stepped back (say NTP correcting a
 * clock that ran an hour ahead): the last checkpoint's time lies ahead, and
 * the head must still be signed within checkpoint_secs, not an hour later.
 */
START_TEST(test_time_rule_signs_after_the_clock_stepped_back)
{
	struct audit *a = start_writer(1000, 1);
	struct store *s;

	audit_submit(a, make_job(0, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(1, 30);
	stop_writer(a);                         /* signs record 1 */
	s = open_store();
	ck_assert_int_eq(store_exec(s, "UPDATE audit_checkpoints SET time_us = time_us + 3600000000"),
			 0);
	store_close(s);
	a = start_writer(1000, 1);
	audit_submit(a, make_job(1, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
	wait_done(2, 30);
	wait_stats(a, head_is_signed, 10, "the time rule signs the head after the clock went back");
	stop_writer(a);
}
END_TEST

/* Same on an empty trail: no checkpoint of record 0 should appear. */
START_TEST(test_request_checkpoint_on_empty_trail_adds_nothing)
{
	struct audit *a = start_writer(1000, 1);
	struct audit_stats st;
	struct trail *t;

	audit_request_checkpoint(a);
	spin(2.5);
	audit_get_stats(a, &st);
	stop_writer(a);
	ck_assert_int_eq(st.failures, 0);
	t = read_trail();
	ck_assert_uint_eq(t->n, 0);
	ck_assert_msg(t->ncp == 0, "%zu checkpoint(s) on an empty trail (first at seq %" PRId64 ")",
		      t->ncp, t->ncp ? t->cp_seq[0] : 0);
	free_trail(t);
}
END_TEST

START_TEST(test_checkpoint_every_n_records)
{
	enum { N = 25, EVERY = 10 };
	struct audit *a = start_writer(EVERY, 3600);
	struct trail *t;
	int64_t last = 0;

	for (int i = 0; i < N; i++) {
		audit_submit(a, make_job(i, "alice", "io.roster.Clients.Get", OK_REPLY, NULL));
		wait_done(i + 1, 30);
	}
	stop_writer(a);
	t = read_trail();
	ck_assert_uint_eq(t->n, N);
	ck_assert_uint_ge(t->ncp, N / EVERY);
	for (size_t k = 0; k < t->ncp; k++) {
		ck_assert_msg(t->cp_seq[k] - last <= EVERY, "checkpoints at %" PRId64 " and %" PRId64,
			      last, t->cp_seq[k]);
		last = t->cp_seq[k];
	}
	ck_assert_int_eq(last, N);              /* the stop signed the head */
	free_trail(t);
	verify_ok(N);
}
END_TEST

/* --- 7. the canonical encoding ------------------------------------------- */

START_TEST(test_hash_of_known_record_is_pinned)
{
	unsigned char prev[32], got[32], mine[32], want[32];
	struct audit_fields f = {
		.seq = 42, .time_us = INT64_C(1700000000123456), .principal = "alice",
		.uid = 1000, .gid = 100, .pid = 4242, .role = "reader",
		.method = "io.roster.Clients.Get",
		.ids = "0123456789abcdef0123456789abcdef fedcba9876543210fedcba9876543210",
		.fields = "identity contact", .records = 2, .result = "ok", .error = "",
		.alert = "CANARY",
	};
	struct audit_fields z = {
		.seq = 1, .time_us = 0, .principal = "unknown", .uid = 0, .gid = 0, .pid = 0,
		.role = "", .method = "", .ids = "", .fields = "", .records = 0,
		.result = "error", .error = "", .alert = "",
	};

	for (int i = 0; i < 32; i++)
		prev[i] = (unsigned char)i;
	audit_hash(prev, &f, got);
	doc_hash(prev, &f, mine);
	ck_assert_mem_eq(got, mine, 32);
	/* Computed outside C (Python hashlib.blake2b, digest_size=32) over the same bytes. */
	ck_assert_int_eq(sodium_hex2bin(want, 32, "ed8efb136c3b7c1af3a877fb0064135f"
					"c7776bd63fab5a2551697c0d2bdf6d10", 64, NULL, NULL, NULL), 0);
	ck_assert_mem_eq(got, want, 32);

	memset(prev, 0, sizeof(prev));
	audit_hash(prev, &z, got);
	doc_hash(prev, &z, mine);
	ck_assert_mem_eq(got, mine, 32);
	ck_assert_int_eq(sodium_hex2bin(want, 32, "8c33d6fd5b3281671d28aa8a9019389a"
					"6431c14865f3fa3819ada0dc2d8ab905", 64, NULL, NULL, NULL), 0);
	ck_assert_mem_eq(got, want, 32);

	/* Every field is covered: changing any one changes the hash. */
	{
		struct audit_fields g;
		unsigned char base_h[32], h[32];

		for (int i = 0; i < 32; i++)
			prev[i] = (unsigned char)i;
		audit_hash(prev, &f, base_h);
		for (int k = 0; k < 14; k++) {
			g = f;
			switch (k) {
			case 0: g.seq++; break;
			case 1: g.time_us++; break;
			case 2: g.principal = "alicf"; break;
			case 3: g.uid++; break;
			case 4: g.gid++; break;
			case 5: g.pid++; break;
			case 6: g.role = "admin"; break;
			case 7: g.method = "io.roster.Clients.Lis"; break;
			case 8: g.ids = "0123456789abcdef0123456789abcdef"; break;
			case 9: g.fields = "identity"; break;
			case 10: g.records++; break;
			case 11: g.result = "denied"; break;
			case 12: g.error = "x"; break;
			default: g.alert = ""; break;
			}
			audit_hash(prev, &g, h);
			ck_assert_msg(memcmp(h, base_h, 32) != 0, "field %d is not covered", k + 1);
		}
		/* Lengths keep the boundaries: moving a byte between fields changes it. */
		g = f;
		g.role = "readeri";
		g.method = "o.roster.Clients.Get";
		audit_hash(prev, &g, h);
		ck_assert(memcmp(h, base_h, 32) != 0);
		prev[31] ^= 1;
		audit_hash(prev, &f, h);
		ck_assert(memcmp(h, base_h, 32) != 0);
	}
}
END_TEST

START_TEST(test_checkpoint_message_is_pinned)
{
	unsigned char hash[32], got[AUDIT_CP_MSG_BYTES], mine[69], want[69];
	static const char want_hex[] =
		"726f737465722e636865636b706f696e742e7631"      /* "roster.checkpoint.v1" */
		"00"
		"000000000000002a"                              /* seq 42 */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		"00060a2418202240";                             /* 1700000000123456 */

	ck_assert_int_eq(AUDIT_CP_MSG_BYTES, 69);
	for (int i = 0; i < 32; i++)
		hash[i] = (unsigned char)i;
	audit_checkpoint_message(42, hash, INT64_C(1700000000123456), got);
	doc_cp_message(42, hash, INT64_C(1700000000123456), mine);
	ck_assert_mem_eq(got, mine, 69);
	ck_assert_int_eq(sodium_hex2bin(want, sizeof(want), want_hex, strlen(want_hex), NULL, NULL,
					NULL), 0);
	ck_assert_mem_eq(got, want, 69);
}
END_TEST

/* Query filters and the report read record times with this parser (lib/audit-hash.h). */
START_TEST(test_time_parse_keeps_the_fraction)
{
	static const char *const bad[] = {
		"", "2026-11-26", "2026-11-26T05:31:12", "2026-11-26T05:31:12.Z",
		"2026-11-26T05:31:12+00:00", "2026-11-26T05:31:12Zx", "2026-11-26T05:31:12.5", "now",
		" 2026-11-26T05:31:12Z", "2026-02-31T00:00:00Z", "2026-11-26T23:59:61Z",
		"2026-11-26T23:59:60Z", "2026-11-26T24:00:00Z", "2026-13-01T00:00:00Z",
	};
	const int64_t t = INT64_C(1795671072) * 1000000;     /* 2026-11-26T05:31:12Z */
	int64_t us;

	ck_assert_int_eq(audit_time_parse("2026-11-26T05:31:12Z", &us), 0);
	ck_assert_int_eq(us, t);
	ck_assert_int_eq(audit_time_parse("2026-11-26T05:31:12.5Z", &us), 0);
	ck_assert_int_eq(us, t + 500000);
	ck_assert_int_eq(audit_time_parse("2024-02-29T00:00:00Z", &us), 0);    /* a leap year's */
	ck_assert_int_eq(us, INT64_C(1709164800) * 1000000);
	ck_assert_int_eq(audit_time_parse("2026-11-26T05:31:12.000001Z", &us), 0);
	ck_assert_int_eq(us, t + 1);
	/* Below a microsecond is below what a record can show: dropped. */
	ck_assert_int_eq(audit_time_parse("2026-11-26T05:31:12.1234569Z", &us), 0);
	ck_assert_int_eq(us, t + 123456);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		us = 7;
		ck_assert_msg(audit_time_parse(bad[i], &us) == -EINVAL, "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(us, 7);
	}
	ck_assert_int_eq(audit_time_parse(NULL, &us), -EINVAL);
}
END_TEST

/*
 * What the writer stores follows doc/audit-format.md: every hash recomputed
 * from the stored fields with the hand-built encoding, every prev_hash, every
 * checkpoint's signature over the hand-built message with the keyring's
 * public key. Also the writer's own field mapping: no principal is stored as
 * "unknown", field classes only when records were returned.
 */
START_TEST(test_written_trail_follows_documented_format)
{
	enum { N = 30 };
	struct audit *a = start_writer(7, 3600);
	struct trail *t;
	unsigned char running[32];

	for (int i = 0; i < N; i++) {
		struct audit_job *j = make_job(i, i % 5 == 0 ? "" : "dave", "io.roster.Clients.Get",
					       KINDS[i % NKINDS].reply, NULL);
		char id[ID_HEX_LEN + 1];

		j->rec.fields = 1u | 4u;        /* identity, commercial */
		j->rec.records = i % 2;         /* classes count only when records were returned */
		if (i % 4 == 0)
			snprintf(j->rec.alert, sizeof(j->rec.alert), "CANARY");
		id_of(i, id);
		ck_assert_int_eq(audit_rec_add_id(&j->rec, id), 0);
		id_of(i + 1000, id);
		ck_assert_int_eq(audit_rec_add_id(&j->rec, id), 0);
		audit_submit(a, j);
		if (i % 6 == 5)
			wait_done(i + 1, 30);   /* several batches, so several checkpoints */
	}
	wait_done(N, 30);
	stop_writer(a);

	t = read_trail();
	ck_assert_uint_eq(t->n, N);
	ck_assert_uint_ge(t->ncp, 2);
	memset(running, 0, sizeof(running));
	for (size_t i = 0; i < t->n; i++) {
		const struct audit_fields *f = &t->f[i];
		unsigned char h[32];
		char id1[ID_HEX_LEN + 1], id2[ID_HEX_LEN + 1], ids[2 * ID_HEX_LEN + 2];

		ck_assert_int_eq(f->seq, (int64_t)i + 1);
		ck_assert_int_eq(f->time_us, T0 + (int64_t)i);
		ck_assert_str_eq(f->principal, i % 5 == 0 ? "unknown" : "dave");
		ck_assert_str_eq(f->fields, i % 2 ? "identity commercial" : "");
		ck_assert_int_eq(f->records, (int64_t)(i % 2));
		ck_assert_str_eq(f->alert, i % 4 == 0 ? "CANARY" : "");
		ck_assert_str_eq(f->result, KINDS[i % NKINDS].result);
		id_of((int)i, id1);
		id_of((int)i + 1000, id2);
		snprintf(ids, sizeof(ids), "%s %s", id1, id2);
		ck_assert_str_eq(f->ids, ids);
		ck_assert_mem_eq(t->prev[i], running, 32);
		doc_hash(running, f, h);
		ck_assert_msg(memcmp(h, t->hash[i], 32) == 0,
			      "record %zu: stored hash differs from the documented encoding", i + 1);
		memcpy(running, h, 32);
	}
	for (size_t k = 0; k < t->ncp; k++) {
		unsigned char msg[69];
		int64_t seq = t->cp_seq[k];

		ck_assert_int_ge(seq, 1);
		ck_assert_int_le(seq, N);
		ck_assert_mem_eq(t->cp_hash[k], t->hash[seq - 1], 32);
		ck_assert_mem_eq(t->cp_pk[k], keys->sign_pk, 32);
		doc_cp_message(seq, t->cp_hash[k], t->cp_time[k], msg);
		ck_assert_msg(crypto_sign_verify_detached(t->cp_sig[k], msg, sizeof(msg),
							  keys->sign_pk) == 0,
			      "checkpoint at %" PRId64 ": signature over the documented message "
			      "does not verify", seq);
	}
	free_trail(t);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc;

	tc = tcase_create("writer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_many_jobs_committed_verified_and_mapped);
	tcase_add_test(tc, test_result_of_mapping);
	tcase_add_test(tc, test_group_commit);
	tcase_add_test(tc, test_more_than_max_batch);
	tcase_add_test(tc, test_stop_commits_queued_jobs);
	tcase_add_test(tc, test_submit_wakes_an_idle_writer);
	tcase_add_test(tc, test_idle_writer_sleeps);
	tcase_add_test(tc, test_jobs_run_while_the_batch_gathers);
	tcase_add_test(tc, test_writer_stores_ship_cursor);
	tcase_add_test(tc, test_idle_writer_stores_ship_cursor_soon);
	tcase_add_test(tc, test_restart_continues_chain);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tamper_edited_field);
	tcase_add_test(tc, test_tamper_edited_result);
	tcase_add_test(tc, test_tamper_deleted_record);
	tcase_add_test(tc, test_tamper_deleted_first_record);
	tcase_add_test(tc, test_tamper_swapped_principals);
	tcase_add_test(tc, test_tamper_swapped_records);
	tcase_add_test(tc, test_tamper_truncated_under_checkpoint);
	tcase_add_test(tc, test_tamper_chain_rewritten_caught_by_checkpoint);
	tcase_add_test(tc, test_tamper_forged_checkpoint_signature);
	tcase_add_test(tc, test_verify_with_another_key_fails);
	tcase_add_test(tc, test_verify_empty_trail);
	suite_add_tcase(s, tc);

	tc = tcase_create("changes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_mutation_committed_with_its_record);
	tcase_add_test(tc, test_mutation_with_error_reply_rolled_back);
	tcase_add_test(tc, test_plain_job_keeps_its_change_and_reports_effects);
	tcase_add_test(tc, test_bulk_job_that_fails_takes_its_batch_with_it);
	tcase_add_test(tc, test_plain_job_that_loses_the_transaction_fails_its_batch);
	tcase_add_test(tc, test_query_by_client_finds_records_of_created_clients);
	tcase_add_test(tc, test_id_filters_find_every_record_of_a_client);
	tcase_add_test(tc, test_id_filter_block_survives_rollback_and_other_writers);
	tcase_add_test(tc, test_id_filters_after_migration_from_the_old_index);
	tcase_add_test(tc, test_idfilter_holds_its_ids_and_rarely_others);
	suite_add_tcase(s, tc);

	tc = tcase_create("fail-closed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fail_closed_when_records_cannot_be_written);
	tcase_add_test(tc, test_fail_closed_when_id_filter_cannot_be_stored);
	tcase_add_test(tc, test_locked_database_answers_once_and_recovers);
	tcase_add_test(tc, test_timeout_answers_held_and_queued_jobs_once);
	tcase_add_test(tc, test_timed_out_seal_stopping_the_writer_answers_each_job_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("checkpoints");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_request_checkpoint_signs_head);
	tcase_add_test(tc, test_checkpoint_job_is_signed_in_its_own_batch);
	tcase_add_test(tc, test_request_checkpoint_with_nothing_new_is_harmless);
	tcase_add_test(tc, test_request_checkpoint_on_empty_trail_adds_nothing);
	tcase_add_test(tc, test_time_rule_signs_after_the_clock_stepped_back);
	tcase_add_test(tc, test_checkpoint_every_n_records);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hash_of_known_record_is_pinned);
	tcase_add_test(tc, test_checkpoint_message_is_pinned);
	tcase_add_test(tc, test_time_parse_keeps_the_fraction);
	tcase_add_test(tc, test_written_trail_follows_documented_format);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failures;

	if (sodium_init() < 0)
		return 1;
	snprintf(base, sizeof(base), "%s/test-audit-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(base) == NULL)
		return 1;
	/* The writer logs start, stop and (in the failure tests) failures; keep errors only. */
	log_set_level(LOG_LVL_ERR);
	sr = srunner_create(audit_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(base);
	return failures ? 1 : 0;
}
