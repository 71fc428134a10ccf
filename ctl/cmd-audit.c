/*
 * cmd-audit.c: rosterctl's "audit" commands, for investigators:
 * query (io.roster.Audit.Query, paged), export (every matching record as
 * JSON lines to a file created 0600), verify (Audit.Verify: the daemon's
 * chain and signatures), pubkey (Audit.PublicKey), checkpoint, and tail
 * (Audit.Tail, streamed with Varlink's "more"); report is in
 * audit-report.c.
 *
 * Records hold ids and the names of principals and methods, never client
 * field values; even so they are printed only through ctl_put_safe() or as
 * JSON.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/audit-verify.h"
#include "ctl/ctl.h"

enum {
	OPT_CLIENT = 0x100,
	OPT_PRINCIPAL,
	OPT_METHOD,
	OPT_RESULT,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_LIMIT,
	OPT_ALERTS,
	OPT_OUT,
	OPT_HELP,
};

static const struct option filter_opts[] = {
	{ "client", required_argument, NULL, OPT_CLIENT },
	{ "principal", required_argument, NULL, OPT_PRINCIPAL },
	{ "method", required_argument, NULL, OPT_METHOD },
	{ "result", required_argument, NULL, OPT_RESULT },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "alerts", no_argument, NULL, OPT_ALERTS },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/*
 * Parse the filter options into params (a new object). *ret_limit is the
 * --limit given (0 for none); *ret_out the --out file when allowed.
 * Returns -1 to go on, else an exit status.
 */
static int parse_filters(struct ctl_ctx *ctx, int argc, char **argv, bool allow_out,
			 json_t **ret_params, long long *ret_limit, const char **ret_out)
{
	json_t *p = json_object();
	long long limit = 0;
	int opt;

	if (p == NULL)
		return CTL_EXIT_FAIL;
	while ((opt = getopt_long(argc, argv, "", filter_opts, NULL)) != -1) {
		const char *key = NULL;

		switch (opt) {
		case OPT_CLIENT: key = "client"; break;
		case OPT_PRINCIPAL: key = "principal"; break;
		case OPT_METHOD: key = "method"; break;
		case OPT_RESULT: key = "result"; break;
		case OPT_SINCE: key = "since"; break;
		case OPT_UNTIL: key = "until"; break;
		case OPT_ALERTS:
			json_object_set_new(p, "alerts", json_true());
			continue;
		case OPT_LIMIT:
			if (ctl_parse_int("--limit", optarg, 1, 1000000000, &limit) < 0)
				goto usage;
			continue;
		case OPT_OUT:
			if (!allow_out)
				goto usage;
			*ret_out = optarg;
			continue;
		case OPT_HELP:
			json_decref(p);
			return ctl_help(ctx);
		default:
			goto usage;
		}
		json_object_set_new(p, key, json_string(optarg));
	}
	if (optind != argc)
		goto usage;
	*ret_params = p;
	*ret_limit = limit;
	return -1;
usage:
	json_decref(p);
	return ctl_usage(ctx);
}

int ctl_audit_each(struct ctl_ctx *ctx, json_t *params, long long limit,
		   int (*fn)(const json_t *rec, void *data), void *data)
{
	long long seen = 0;
	json_int_t after = 0;

	for (;;) {
		json_t *reply = NULL, *recs, *rec;
		long long page = 1000;
		size_t i;

		if (limit > 0 && limit - seen < page)
			page = limit - seen;
		json_object_set_new(params, "after", json_integer(after));
		json_object_set_new(params, "limit", json_integer(page));
		if (ctl_call(ctx, "io.roster.Audit.Query", json_incref(params), &reply) < 0)
			return CTL_E_FAIL;
		recs = ctl_member(reply, "records", JSON_ARRAY);
		if (recs == NULL) {
			json_decref(reply);
			return CTL_E_FAIL;
		}
		json_array_foreach(recs, i, rec) {
			int r = fn(rec, data);

			if (r != 0) {
				json_decref(reply);
				return r < 0 ? CTL_E_FAIL : 0;
			}
			after = json_integer_value(json_object_get(rec, "seq"));
			seen++;
		}
		i = json_array_size(recs);
		json_decref(reply);
		if ((long long)i < page || (limit > 0 && seen >= limit))
			return 0;
	}
}

struct table {
	json_t *rows;          /* collected for alignment */
};

static int collect(const json_t *rec, void *data)
{
	struct table *t = data;

	return json_array_append(t->rows, (json_t *)rec);
}

static int cmd_query(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const char *const headers[] = {
		"SEQ", "TIME", "PRINCIPAL", "UID", "PID", "METHOD", "RESULT", "RECORDS", "IDS", "ALERT",
	};
	enum { NCOLS = 10 };
	struct table t = { json_array() };
	json_t *params = NULL, *rec;
	char (*nums)[4][24] = NULL;
	char **ids = NULL;
	const char **cells = NULL;
	const char *out = NULL;
	long long limit;
	size_t n, i;
	int rc;

	rc = parse_filters(ctx, argc, argv, false, &params, &limit, &out);
	if (rc >= 0) {
		json_decref(t.rows);
		return rc;
	}
	rc = CTL_EXIT_FAIL;
	if (t.rows == NULL || ctl_audit_each(ctx, params, limit ? limit : 100, collect, &t) < 0)
		goto out;
	if (ctx->json) {
		json_t *doc = json_pack("{s:O}", "records", t.rows);

		ctl_print_json(doc);
		json_decref(doc);
		rc = CTL_EXIT_OK;
		goto out;
	}
	n = json_array_size(t.rows);
	nums = calloc(n + 1, sizeof(*nums));
	ids = calloc(n + 1, sizeof(*ids));
	cells = calloc(n * NCOLS + 1, sizeof(*cells));
	if (nums == NULL || ids == NULL || cells == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	json_array_foreach(t.rows, i, rec) {
		const char **row = cells + i * NCOLS;
		const char *alert = json_string_value(json_object_get(rec, "alert"));

		snprintf(nums[i][0], 24, "%lld", (long long)json_integer_value(json_object_get(rec, "seq")));
		snprintf(nums[i][1], 24, "%lld", (long long)json_integer_value(json_object_get(rec, "uid")));
		snprintf(nums[i][2], 24, "%lld", (long long)json_integer_value(json_object_get(rec, "pid")));
		snprintf(nums[i][3], 24, "%lld",
			 (long long)json_integer_value(json_object_get(rec, "records")));
		ids[i] = ctl_join(json_object_get(rec, "ids"), ",");
		if (ids[i] == NULL)
			goto out;
		row[0] = nums[i][0];
		row[1] = json_string_value(json_object_get(rec, "time"));
		row[2] = json_string_value(json_object_get(rec, "principal"));
		row[3] = nums[i][1];
		row[4] = nums[i][2];
		row[5] = json_string_value(json_object_get(rec, "method"));
		if (row[5] == NULL || *row[5] == '\0')
			row[5] = "(not a call)";
		row[6] = json_string_value(json_object_get(rec, "result"));
		row[7] = nums[i][3];
		row[8] = ids[i];
		row[9] = alert && *alert ? alert : "-";
	}
	rc = ctl_print_table(NCOLS, headers, cells, n) < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
	if (ids != NULL)
		for (i = 0; i < json_array_size(t.rows); i++)
			free(ids[i]);
	free(ids);
	free(nums);
	free(cells);
	json_decref(t.rows);
	json_decref(params);
	return rc;
}

static int write_line(const json_t *rec, void *data)
{
	FILE *f = data;

	if (json_dumpf(rec, f, JSON_COMPACT) < 0 || fputc('\n', f) == EOF) {
		ctl_warnx("cannot write the export: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int cmd_export(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *params = NULL;
	const char *out = NULL;
	long long limit;
	FILE *f = NULL;
	int fd, rc;

	rc = parse_filters(ctx, argc, argv, true, &params, &limit, &out);
	if (rc >= 0)
		return rc;
	if (out == NULL) {
		json_decref(params);
		return ctl_usage(ctx);
	}
	rc = CTL_EXIT_FAIL;
	/* A new file, private from the first byte: exports name principals and client ids. */
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		ctl_warnx("%s: %s", out, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (ctl_audit_each(ctx, params, limit, write_line, f) != 0)
		goto out;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		ctl_warnx("%s: %s", out, strerror(errno));
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	if (f != NULL && rc != CTL_EXIT_OK) {
		/*
		 * As "export run" does: no partial copy that looks complete, and
		 * no empty file left to make the retry fail with "File exists".
		 */
		bool kept = ftruncate(fileno(f), 0) != 0;

		kept |= unlink(out) != 0;
		if (kept)
			ctl_warnx("%s: could not remove the incomplete export: %s", out, strerror(errno));
		else
			ctl_warnx("%s: export incomplete; the file was removed", out);
	}
	if (f != NULL && fclose(f) != 0 && rc == CTL_EXIT_OK) {
		ctl_warnx("%s: %s", out, strerror(errno));
		unlink(out);
		rc = CTL_EXIT_FAIL;
	}
	json_decref(params);
	return rc;
}

/* audit verify --log FILE --pubkey FILE: the shipped copy, offline. */
static int verify_log(struct ctl_ctx *ctx, const char *log_path, const char *pk_path,
		      const struct audit_verify_opts *opts)
{
	struct audit_verify_report rep;
	unsigned char pk[AUDIT_PUBKEYS_MAX][32];
	size_t n_pk = 0;
	FILE *f;
	int r;

	r = audit_pubkeys_load(pk_path, pk, AUDIT_PUBKEYS_MAX, &n_pk);
	if (r < 0) {
		ctl_warnx("%s: %s", pk_path, r == -EINVAL
			  ? "not audit public keys (64 hex digits, one per line)" : strerror(-r));
		return CTL_EXIT_FAIL;
	}
	f = audit_file_open(log_path);
	if (f == NULL) {
		ctl_warnx("%s: %s", log_path, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	r = audit_verify_log_keys(f, (const unsigned char (*)[32])pk, n_pk, opts, &rep);
	fclose(f);
	if (r < 0) {
		ctl_warnx("%s: %s", log_path, strerror(-r));
		return CTL_EXIT_FAIL;
	}
	if (ctx->json) {
		json_t *j = audit_verify_report_json(&rep);

		if (j == NULL)
			return CTL_EXIT_FAIL;
		ctl_print_json(j);
		json_decref(j);
	} else {
		audit_verify_print(stdout, &rep);
	}
	return rep.ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

static int cmd_verify_daemon(struct ctl_ctx *ctx, int argc, char **argv);

static int cmd_verify(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "pubkey", required_argument, NULL, 'k' },
		{ "max-unsigned", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct audit_verify_opts vopts = { 0 };
	const char *log_path = NULL, *pk_path = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log_path = optarg;
			break;
		case 'k':
			pk_path = optarg;
			break;
		case 'u': {
			long long n;

			if (ctl_parse_int("--max-unsigned", optarg, 0, INT64_MAX, &n) < 0)
				return CTL_EXIT_USAGE;
			vopts.max_unsigned = n;
			vopts.limit_unsigned = true;
			break;
		}
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	/* The limit is about a shipped copy; the daemon's own chain has no unsigned tail to fear. */
	if (optind != argc || (log_path == NULL) != (pk_path == NULL) ||
	    (vopts.limit_unsigned && log_path == NULL))
		return ctl_usage(ctx);
	if (log_path != NULL)
		return verify_log(ctx, log_path, pk_path, &vopts);
	return cmd_verify_daemon(ctx, argc, argv);
}

static int cmd_verify_daemon(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const char *const keys[] = { "ok", "records", "checkpoints", "first_bad", "problem", NULL };
	json_t *reply = NULL;
	int rc;

	(void)argc;
	(void)argv;
	if (ctl_call(ctx, "io.roster.Audit.Verify", json_object(), &reply) < 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_print_json(reply);
	else
		ctl_print_record(reply, keys);
	/* A broken chain is a failed check: exit 1, so scripts notice. */
	rc = json_is_true(json_object_get(reply, "ok")) ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	if (rc != CTL_EXIT_OK && !ctx->json)
		ctl_warnx("the audit trail does not verify");
	json_decref(reply);
	return rc;
}

static int cmd_pubkey(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *reply = NULL, *pk, *prev, *e;
	bool all = false;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (optind != argc)
		return ctl_usage(ctx);
	if (ctl_call(ctx, "io.roster.Audit.PublicKey", json_object(), &reply) < 0)
		return CTL_EXIT_FAIL;
	pk = ctl_member(reply, "pubkey", JSON_STRING);
	prev = json_object_get(reply, "previous");
	if (pk != NULL) {
		if (ctx->json) {
			ctl_print_json(reply);
		} else {
			/*
			 * --all: the earlier keys first, oldest first, then the one in
			 * use; the file "audit verify --log --pubkey" takes.
			 */
			if (all)
				json_array_foreach(prev, i, e)
					if (json_is_string(e))
						printf("%s\n", json_string_value(e));
			printf("%s\n", json_string_value(pk));
		}
	}
	json_decref(reply);
	return pk != NULL ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

static int cmd_checkpoint(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 0);
	if (rc >= 0)
		return rc;
	if (ctl_call(ctx, "io.roster.Audit.Checkpoint", json_object(), &reply) < 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_print_json(reply);
	json_decref(reply);
	return CTL_EXIT_OK;
}

/* One line per record as it arrives; flushed, so a pipe sees it at once. */
static int print_tail(json_t *params, void *data)
{
	struct ctl_ctx *ctx = data;
	json_t *rec = json_object_get(params, "record");
	char *ids;

	if (rec == NULL)
		return 0;
	if (ctx->json) {
		json_dumpf(rec, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		const char *m = json_string_value(json_object_get(rec, "method"));
		const char *alert = json_string_value(json_object_get(rec, "alert"));

		ids = ctl_join(json_object_get(rec, "ids"), ",");
		printf("%lld ", (long long)json_integer_value(json_object_get(rec, "seq")));
		ctl_put_safe(stdout, json_string_value(json_object_get(rec, "time")));
		putchar(' ');
		ctl_put_safe(stdout, json_string_value(json_object_get(rec, "principal")));
		printf(" uid=%lld pid=%lld ", (long long)json_integer_value(json_object_get(rec, "uid")),
		       (long long)json_integer_value(json_object_get(rec, "pid")));
		ctl_put_safe(stdout, m && *m ? m : "(not a call)");
		putchar(' ');
		ctl_put_safe(stdout, json_string_value(json_object_get(rec, "result")));
		printf(" records=%lld ids=", (long long)json_integer_value(json_object_get(rec, "records")));
		ctl_put_safe(stdout, ids ? ids : "-");
		if (alert && *alert) {
			printf(" ALERT=");
			ctl_put_safe(stdout, alert);
		}
		putchar('\n');
		free(ids);
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

static int cmd_tail(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "after", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *params = json_object();
	long long after = -1;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'a' && ctl_parse_int("--after", optarg, 0, (1LL << 62), &after) == 0)
			continue;
		json_decref(params);
		return opt == 'h' ? ctl_help(ctx) : ctl_usage(ctx);
	}
	if (optind != argc || params == NULL) {
		json_decref(params);
		return ctl_usage(ctx);
	}
	if (after >= 0)
		json_object_set_new(params, "after", json_integer(after));
	if (ctl_connect(ctx) < 0) {
		json_decref(params);
		return CTL_EXIT_FAIL;
	}
	r = roster_call_more(ctx->r, "io.roster.Audit.Tail", params, print_tail, ctx);
	json_decref(params);
	if (r != 0)
		return r < 0 && r != -1 ? ctl_fail(ctx) : CTL_EXIT_FAIL;
	return CTL_EXIT_OK;
}

#define FILTERS "[--client ID] [--principal NAME] [--method M] [--result R] [--alerts] " \
	"[--since TIME] [--until TIME] [--limit N]"

const struct ctl_cmd ctl_audit_cmds[] = {
	{ "audit", "query", FILTERS, cmd_query },
	{ "audit", "export", "--out FILE " FILTERS, cmd_export },
	{ "audit", "verify", "[--log FILE --pubkey FILE [--max-unsigned N]]", cmd_verify },
	{ "audit", "pubkey", "[--all]", cmd_pubkey },
	{ "audit", "checkpoint", "", cmd_checkpoint },
	{ "audit", "tail", "[--after SEQ]", cmd_tail },
	{ "audit", "report", CTL_AUDIT_REPORT_USAGE, ctl_audit_report },
	{ NULL, NULL, NULL, NULL },
};
