/*
 * cmd-client.c: rosterctl's "client" commands, one per io.roster.Clients
 * method: add, get, search, list, update, rm, and import (Import, in chunks).
 *
 * The daemon alone decides what a valid record is; the only checks made
 * here are the ones that let "client import" refuse a bad file before it
 * writes anything. Text from the daemon is printed only through
 * ctl_put_safe() or as JSON.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/frame.h"

/* The ClientInput fields and the options that set them. */
static const struct input_field {
	const char *option;
	const char *key;
} input_fields[] = {
	{ "name", "name" },
	{ "kind", "kind" },
	{ "country", "country" },
	{ "contact-name", "contact_name" },
	{ "contact-email", "contact_email" },
	{ "contact-phone", "contact_phone" },
	{ "tier", "tier" },
	{ "notes", "notes" },
	{ "status", "status" },
};
#define N_INPUT_FIELDS (sizeof(input_fields) / sizeof(input_fields[0]))

/* Long-option values above every character, so they never clash with short ones. */
enum {
	OPT_FIELD = 0x100,              /* + index into input_fields */
	OPT_VERSION = 0x200,
	OPT_LIMIT,
	OPT_AFTER,
	OPT_APPROVAL,
};

/* "client import" refuses longer lines; a record is far smaller. */
#define IMPORT_MAX_LINE (64u * 1024u)
/*
 * Clients per io.roster.Clients.Import call: the daemon's limit, and a
 * request well inside its frame limit (FRAME_MAX_SIZE) with room for the
 * envelope.
 */
#define IMPORT_CHUNK_MAX 100
#define IMPORT_CHUNK_BYTES (FRAME_MAX_SIZE - 4096u)


/*
 * Parse the --FIELD options of "client add" and "client update" into a new
 * object *ret_fields, and --version into *version when version is not NULL.
 * Returns -1 when the command should go on, else its exit status.
 */
static int parse_fields(struct ctl_ctx *ctx, int argc, char **argv, json_t **ret_fields,
			long long *version)
{
	struct option opts[N_INPUT_FIELDS + 3];
	json_t *fields;
	size_t n;
	int c, rc = -1;

	for (n = 0; n < N_INPUT_FIELDS; n++)
		opts[n] = (struct option){ input_fields[n].option, required_argument, NULL,
					   OPT_FIELD + (int)n };
	if (version != NULL)
		opts[n++] = (struct option){ "version", required_argument, NULL, OPT_VERSION };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };

	fields = json_object();
	if (fields == NULL) {
		ctl_warnx("out of memory");
		return CTL_EXIT_FAIL;
	}
	while (rc < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			rc = ctl_help(ctx);
		} else if (c == OPT_VERSION) {
			if (ctl_parse_int("--version", optarg, 1, LLONG_MAX, version) < 0)
				rc = ctl_usage(ctx);
		} else if (c >= OPT_FIELD && c < OPT_FIELD + (int)N_INPUT_FIELDS) {
			const struct input_field *f = &input_fields[c - OPT_FIELD];

			if (json_object_set_new(fields, f->key, json_string(optarg)) < 0) {
				ctl_warnx("--%s: not valid UTF-8", f->option);
				rc = ctl_usage(ctx);
			}
		} else {
			rc = ctl_usage(ctx);
		}
	}
	if (rc >= 0) {
		json_decref(fields);
		return rc;
	}
	*ret_fields = fields;
	return -1;
}

/*
 * Parse the options of "client search" and "client list" (--limit, and
 * --after and --approval when with_after) into params, and check for
 * noperands operands.
 * Returns -1 when the command should go on, else its exit status.
 */
static int parse_page(struct ctl_ctx *ctx, int argc, char **argv, int with_after, int noperands,
		      json_t *params)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "approval", required_argument, NULL, OPT_APPROVAL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long limit;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LIMIT:
			/* The daemon sets the real ceiling; this only keeps the value an int. */
			if (ctl_parse_int("--limit", optarg, 1, INT_MAX, &limit) < 0)
				return ctl_usage(ctx);
			json_object_set_new(params, "limit", json_integer(limit));
			break;
		case OPT_AFTER:
		case OPT_APPROVAL:
			if (!with_after)
				return ctl_usage(ctx);
			if (json_object_set_new(params, c == OPT_AFTER ? "after" : "approval",
						json_string(optarg)) < 0) {
				ctl_warnx("--%s: not valid UTF-8", c == OPT_AFTER ? "after" : "approval");
				return ctl_usage(ctx);
			}
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (argc - optind != noperands)
		return ctl_usage(ctx);
	return -1;
}

/* Print a reply's "clients" as a table, or the whole reply with --json (see ctl.h). */
int ctl_print_clients(const struct ctl_ctx *ctx, const json_t *reply)
{
	static const char *const headers[] = { "ID", "NAME", "KIND", "COUNTRY", "STATUS" };
	static const char *const keys[] = { "id", "name", "kind", "country", "status" };
	enum { NCOLS = 5 };
	const json_t *clients;
	const char **cells;
	size_t n;
	int rc;

	clients = ctl_member(reply, "clients", JSON_ARRAY);
	if (clients == NULL)
		return CTL_E_FAIL;
	if (ctx->json) {
		ctl_print_json(reply);
		return 0;
	}
	/* n is bounded by what fits in one 64 KiB reply, so n * NCOLS cannot overflow. */
	n = json_array_size(clients);
	cells = calloc(n * NCOLS + 1, sizeof(*cells));
	if (cells == NULL) {
		ctl_warnx("out of memory");
		return CTL_E_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < NCOLS; c++) {
			const json_t *client = json_array_get(clients, i);
			const char *s = json_string_value(json_object_get(client, keys[c]));

			/* Hidden and empty fields alike show as "-", so every column has a word. */
			cells[i * NCOLS + c] = s != NULL && *s != '\0' ? s : "-";
		}
	rc = ctl_print_table(NCOLS, headers, cells, n);
	free(cells);
	return rc;
}

/* "client add" and "canary add": the same options, a different method (see ctl.h). */
int ctl_client_create(struct ctl_ctx *ctx, int argc, char **argv, const char *method)
{
	json_t *client = NULL, *reply = NULL, *id;
	int rc;

	rc = parse_fields(ctx, argc, argv, &client, NULL);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		rc = ctl_usage(ctx);
		goto out;
	}
	if (json_object_get(client, "name") == NULL || json_object_get(client, "kind") == NULL) {
		ctl_warnx("--name and --kind are required");
		rc = ctl_usage(ctx);
		goto out;
	}
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, method, json_pack("{s:O}", "client", client), &reply) < 0)
		goto out;
	id = ctl_member(reply, "id", JSON_STRING);
	if (id == NULL)
		goto out;
	if (ctx->json) {
		ctl_print_json(reply);
	} else {
		ctl_put_safe(stdout, json_string_value(id));
		putchar('\n');
	}
	rc = CTL_EXIT_OK;
out:
	json_decref(client);
	json_decref(reply);
	return rc;
}

static int cmd_add(struct ctl_ctx *ctx, int argc, char **argv)
{
	return ctl_client_create(ctx, argc, argv, "io.roster.Clients.Create");
}

static int cmd_get(struct ctl_ctx *ctx, int argc, char **argv)
{
	/* The order "client get" prints fields in; absent (hidden) fields are skipped. */
	static const char *const keys[] = {
		"id", "name", "kind", "country", "status", "contact_name", "contact_email",
		"contact_phone", "tier", "notes", "created_at", "updated_at", "version", NULL,
	};
	json_t *reply = NULL, *client;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 1);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Clients.Get", json_pack("{s:s}", "id", argv[optind]), &reply) < 0)
		goto out;
	client = ctl_member(reply, "client", JSON_OBJECT);
	if (client == NULL)
		goto out;
	if (ctx->json)
		ctl_print_json(reply);
	else
		ctl_print_fields(client, keys);
	rc = CTL_EXIT_OK;
out:
	json_decref(reply);
	return rc;
}

/* Search and List differ only in their options. */
static int page_call(struct ctl_ctx *ctx, int argc, char **argv, int is_list)
{
	json_t *params, *reply = NULL;
	const char *next;
	int rc;

	params = json_object();
	if (params == NULL) {
		ctl_warnx("out of memory");
		return CTL_EXIT_FAIL;
	}
	rc = parse_page(ctx, argc, argv, is_list, is_list ? 0 : 1, params);
	if (rc >= 0)
		goto out;
	rc = CTL_EXIT_FAIL;
	if (!is_list && json_object_set_new(params, "query", json_string(argv[optind])) < 0) {
		ctl_warnx("the search text is not valid UTF-8");
		goto out;
	}
	rc = ctl_call(ctx, is_list ? "io.roster.Clients.List" : "io.roster.Clients.Search",
		  json_incref(params), &reply);
	if (rc == 0)
		rc = ctl_print_clients(ctx, reply);
	if (rc < 0) {
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	/* On stderr, so that stdout stays a table (or one JSON document). */
	next = json_string_value(json_object_get(reply, "next"));
	if (is_list && next != NULL && !ctx->json) {
		fputs("next: ", stderr);
		ctl_put_safe(stderr, next);
		fputc('\n', stderr);
		/* Paging on is the two-person rule's business: say so before it is refused. */
		if (json_object_get(params, "approval") == NULL)
			fputs("rosterctl: more clients follow; listing past the first page needs an "
			      "approved export request (rosterctl export request)\n", stderr);
	}
	rc = CTL_EXIT_OK;
out:
	json_decref(params);
	json_decref(reply);
	return rc;
}

static int cmd_search(struct ctl_ctx *ctx, int argc, char **argv)
{
	return page_call(ctx, argc, argv, 0);
}

static int cmd_list(struct ctl_ctx *ctx, int argc, char **argv)
{
	return page_call(ctx, argc, argv, 1);
}

/*
 * Update needs the version the change is based on. With --version the
 * caller names the version it saw, and the daemon refuses the change
 * (Conflict) if anyone changed the record since: that is safe. Without it
 * this command reads the current version first and applies the change on top
 * of whatever the record now holds; a change made by someone else between
 * the caller's last look and this read is then silently built upon.
 */
static int cmd_update(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *changes = NULL, *reply = NULL, *current = NULL, *v;
	long long version = -1;
	const char *id;
	int rc;

	rc = parse_fields(ctx, argc, argv, &changes, &version);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1) {
		rc = ctl_usage(ctx);
		goto out;
	}
	if (json_object_size(changes) == 0) {
		ctl_warnx("nothing to change: give at least one --FIELD option");
		rc = ctl_usage(ctx);
		goto out;
	}
	id = argv[optind];
	rc = CTL_EXIT_FAIL;
	if (version < 0) {
		if (ctl_connect(ctx) < 0)
			goto out;
		if (roster_client_get(ctx->r, id, &current) < 0) {
			ctl_fail(ctx);
			goto out;
		}
		v = ctl_member(current, "version", JSON_INTEGER);
		if (v == NULL)
			goto out;
		version = json_integer_value(v);
	}
	if (ctl_call(ctx, "io.roster.Clients.Update",
		 json_pack("{s:s, s:O, s:I}", "id", id, "changes", changes, "version",
			   (json_int_t)version), &reply) < 0)
		goto out;
	v = ctl_member(reply, "version", JSON_INTEGER);
	if (v == NULL)
		goto out;
	if (ctx->json)
		ctl_print_json(reply);
	else
		printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
	rc = CTL_EXIT_OK;
out:
	json_decref(changes);
	json_decref(current);
	json_decref(reply);
	return rc;
}

static int cmd_rm(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 1);
	if (rc >= 0)
		return rc;
	if (ctl_call(ctx, "io.roster.Clients.Delete", json_pack("{s:s}", "id", argv[optind]),
		 &reply) < 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_print_json(reply);
	json_decref(reply);
	return CTL_EXIT_OK;
}

/* ---- client import ---------------------------------------------------- */

struct import_rec {
	unsigned long line;     /* 1-based line number in the file */
	size_t len;             /* the line's length: at least its compact encoding's */
	json_t *client;         /* the parsed ClientInput, owned */
};

/* Print "FILE:LINE: message" to stderr, escaped, as compilers do. */
__attribute__((format(printf, 3, 4)))
static void line_error(const char *file, unsigned long line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	ctl_put_safe(stderr, file);
	fprintf(stderr, ":%lu: ", line);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	ctl_put_safe(stderr, msg != NULL ? msg : "out of memory");
	fputc('\n', stderr);
	free(msg);
}

/*
 * Read one line of at most max bytes (newline excluded) into buf, which
 * holds max + 1. Returns 1, 0 at the end of the file, -E2BIG for a longer
 * line (which is skipped whole), or -EIO.
 */
static int read_line(FILE *f, char *buf, size_t max, size_t *ret_len)
{
	size_t len = 0;
	int ch, too_long = 0;

	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (len < max)
			buf[len++] = (char)ch;
		else
			too_long = 1;
	}
	if (ferror(f))
		return -EIO;
	if (ch == EOF && len == 0 && !too_long)
		return 0;
	buf[len] = '\0';
	*ret_len = len;
	return too_long ? -E2BIG : 1;
}

static int is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Check one line's value against ClientInput; prints each problem and returns how many. */
static int check_input(const char *file, unsigned long line, json_t *j)
{
	const char *key;
	json_t *v;
	int bad = 0;

	if (!json_is_object(j)) {
		line_error(file, line, "not a JSON object");
		return 1;
	}
	json_object_foreach(j, key, v) {
		size_t i;

		for (i = 0; i < N_INPUT_FIELDS; i++)
			if (strcmp(key, input_fields[i].key) == 0)
				break;
		if (i == N_INPUT_FIELDS) {
			line_error(file, line, "unknown field \"%s\"", key);
			bad++;
		} else if (!json_is_string(v)) {
			line_error(file, line, "field \"%s\" is not a string", key);
			bad++;
		}
	}
	/* Create needs these two; saying so now is better than undoing later. */
	if (json_object_get(j, "name") == NULL) {
		line_error(file, line, "missing field \"name\"");
		bad++;
	}
	if (json_object_get(j, "kind") == NULL) {
		line_error(file, line, "missing field \"kind\"");
		bad++;
	}
	return bad;
}

/*
 * Read and check every line of file. On success *ret_recs holds *ret_n
 * records (the caller frees them with free_recs()). Returns 0, or
 * CTL_E_FAIL after printing every bad line.
 */
static int load_file(const char *file, struct import_rec **ret_recs, size_t *ret_n)
{
	struct import_rec *recs = NULL;
	size_t n = 0, cap = 0;
	unsigned long lineno = 0, bad = 0;
	char *buf = NULL;
	FILE *f;
	int rc = CTL_E_FAIL;

	f = fopen(file, "re");
	if (f == NULL) {
		ctl_warnx("%s: %s", file, strerror(errno));
		return CTL_E_FAIL;
	}
	buf = malloc(IMPORT_MAX_LINE + 1);
	if (buf == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	for (;;) {
		json_error_t jerr;
		size_t len = 0;
		json_t *j;
		int r;

		r = read_line(f, buf, IMPORT_MAX_LINE, &len);
		if (r == 0)
			break;
		lineno++;
		if (r == -EIO) {
			ctl_warnx("%s: read error", file);
			goto out;
		}
		if (r == -E2BIG) {
			line_error(file, lineno, "line longer than %u bytes", IMPORT_MAX_LINE);
			bad++;
			continue;
		}
		if (is_blank(buf, len))
			continue;
		j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
		if (j == NULL) {
			line_error(file, lineno, "invalid JSON at column %d: %s", jerr.column, jerr.text);
			bad++;
			continue;
		}
		if (check_input(file, lineno, j) > 0) {
			json_decref(j);
			bad++;
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct import_rec *nr = reallocarray(recs, ncap, sizeof(*recs));

			if (nr == NULL) {
				json_decref(j);
				ctl_warnx("out of memory");
				goto out;
			}
			recs = nr;
			cap = ncap;
		}
		recs[n++] = (struct import_rec){ lineno, len, j };
	}
	if (bad > 0) {
		ctl_warnx("%s: %lu bad line%s; nothing imported", file, bad, bad == 1 ? "" : "s");
		goto out;
	}
	*ret_recs = recs;
	*ret_n = n;
	recs = NULL;
	n = 0;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		json_decref(recs[i].client);
	free(recs);
	free(buf);
	fclose(f);
	return rc;
}

/*
 * Undo a failed import by deleting, newest first, the n clients it created,
 * so that an import adds every line or none. The daemon has no transaction
 * or dry run to offer, so this is the best available: the records existed
 * for a moment, and their creation and deletion are both in the audit trail.
 */
static void rollback(struct ctl_ctx *ctx, const char *file, char **ids, size_t n)
{
	size_t failed = 0;

	if (n == 0) {
		ctl_warnx("%s: nothing imported", file);
		return;
	}
	/* A failure in the connection itself leaves it closed; the deletes need a new one. */
	if (roster_error_name(ctx->r) == NULL) {
		roster_free(ctx->r);
		ctx->r = NULL;
		if (ctl_connect(ctx) < 0)
			failed = n;
	}
	for (size_t i = n; failed < n && i-- > 0;) {
		int r = roster_client_delete(ctx->r, ids[i]);

		/* Already deleted by someone else is as good as deleted here. */
		if (r < 0 && r != ROSTER_E_NOTFOUND) {
			fputs("rosterctl: cannot delete ", stderr);
			ctl_put_safe(stderr, ids[i]);
			fputs(": ", stderr);
			ctl_print_error(stderr, ctx->r);
			failed++;
		}
	}
	if (failed == 0)
		ctl_warnx("%s: nothing imported; deleted the %zu client%s created before the failure",
			  file, n, n == 1 ? "" : "s");
	else
		ctl_warnx("%s: import failed; %zu of the %zu client%s created before the failure "
			  "could not be deleted", file, failed, n, n == 1 ? "" : "s");
}

/*
 * How many of the next n records go in one Import call. A record's compact
 * encoding is never longer than its line: every value is a string (checked
 * on loading), and re-encoding one only drops whitespace and turns escapes
 * into the characters or the same escapes. So the line lengths bound the
 * frame without encoding every record once more just to measure it (which
 * cost a fifth of rosterctl's time).
 */
static size_t next_chunk(const struct import_rec *recs, size_t n)
{
	size_t k = 0, bytes = 0;

	while (k < n && k < IMPORT_CHUNK_MAX) {
		size_t sz = recs[k].len + 1;

		if (k > 0 && bytes + sz > IMPORT_CHUNK_BYTES)
			break;
		bytes += sz;
		k++;
	}
	return k;
}

/*
 * Import n records in one call; their new ids go to ids[0..n). Returns 0,
 * or the libroster error after printing it against the line it concerns.
 */
static int import_chunk(struct ctl_ctx *ctx, const char *file, const struct import_rec *recs,
			size_t n, char **ids)
{
	json_t *arr = json_array(), *params, *reply = NULL, *got;
	const char *param;
	unsigned long bad_line = recs[0].line;
	int r;

	for (size_t i = 0; arr != NULL && i < n; i++)
		if (json_array_append(arr, recs[i].client) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	params = arr ? json_pack("{s:o}", "clients", arr) : NULL;
	if (params == NULL) {
		ctl_warnx("out of memory");
		return ROSTER_E_NOMEM;
	}
	r = roster_call(ctx->r, "io.roster.Clients.Import", params, &reply);
	json_decref(params);
	if (r == 0) {
		got = json_object_get(reply, "ids");
		if (json_array_size(got) != n) {
			json_decref(reply);
			ctl_warnx("the daemon's answer to Import has %zu ids for %zu clients",
				  json_array_size(got), n);
			return ROSTER_E_PROTOCOL;
		}
		for (size_t i = 0; i < n; i++) {
			const char *id = json_string_value(json_array_get(got, i));

			ids[i] = id ? strdup(id) : NULL;
			if (ids[i] == NULL) {
				json_decref(reply);
				ctl_warnx("out of memory");
				return ROSTER_E_NOMEM;
			}
		}
		json_decref(reply);
		return 0;
	}
	param = json_string_value(json_object_get(roster_error_parameters(ctx->r), "parameter"));
	if (r == ROSTER_E_INVALID && param != NULL) {
		/* "clients[N].field": the daemon names the entry; tell the line. */
		unsigned long idx;
		int used = 0;

		if (sscanf(param, "clients[%lu]%n", &idx, &used) == 1 && used > 0 && idx < n) {
			bad_line = recs[idx].line;
			param += used;
			param += *param == '.';
		}
		line_error(file, bad_line, "parameter %s invalid", *param ? param : "(the record)");
	} else {
		line_error(file, bad_line, "%s%s%s",
			   roster_error_name(ctx->r) ? roster_error_name(ctx->r) : "",
			   roster_error_name(ctx->r) ? ": " : "", roster_error_message(ctx->r));
	}
	return r;
}

static int cmd_import(struct ctl_ctx *ctx, int argc, char **argv)
{
	struct import_rec *recs = NULL;
	json_t *out_ids = NULL, *doc = NULL;
	char **ids = NULL;
	size_t n = 0, done = 0;
	const char *file;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 1);
	if (rc >= 0)
		return rc;
	file = argv[optind];
	/* Every line is checked before the daemon sees any. */
	if (load_file(file, &recs, &n) < 0)
		return CTL_EXIT_FAIL;
	rc = CTL_EXIT_FAIL;
	ids = calloc(n + 1, sizeof(*ids));
	if (ids == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	if (n > 0 && ctl_connect(ctx) < 0)
		goto out;
	/*
	 * In chunks, each all-or-none in the daemon (one transaction, one audit
	 * record): a bulk load costs a few hundred commits, not one per line.
	 */
	while (done < n) {
		size_t k = next_chunk(recs + done, n - done);
		int r = import_chunk(ctx, file, recs + done, k, ids + done);

		if (r == ROSTER_E_IO)
			line_error(file, recs[done].line,
				   "lines %lu to %lu may have been imported before the connection "
				   "failed; check with 'rosterctl client search'",
				   recs[done].line, recs[done + k - 1].line);
		if (r < 0) {
			rollback(ctx, file, ids, done);
			goto out;
		}
		done += k;
	}
	if (ctx->json) {
		out_ids = json_array();
		for (size_t i = 0; out_ids != NULL && i < n; i++)
			json_array_append_new(out_ids, json_string(ids[i]));
		doc = json_pack("{s:I, s:O}", "imported", (json_int_t)n, "ids", out_ids);
		if (doc == NULL) {
			ctl_warnx("out of memory");
			goto out;
		}
		ctl_print_json(doc);
	} else {
		printf("imported %zu client%s\n", n, n == 1 ? "" : "s");
	}
	rc = CTL_EXIT_OK;
out:
	for (size_t i = 0; i < n; i++) {
		json_decref(recs[i].client);
		if (ids != NULL)
			free(ids[i]);
	}
	free(recs);
	free(ids);
	json_decref(out_ids);
	json_decref(doc);
	return rc;
}

const struct ctl_cmd ctl_client_cmds[] = {
	{ "client", "add", CTL_CLIENT_ADD_USAGE, cmd_add },
	{ "client", "get", "ID", cmd_get },
	{ "client", "search", "TEXT [--limit N]", cmd_search },
	{ "client", "list", "[--approval REQUEST] [--after ID] [--limit N]", cmd_list },
	{ "client", "update",
	  "ID [--name N] [--kind K] [--country CC] [--contact-name S] [--contact-email S] "
	  "[--contact-phone S] [--tier S] [--notes S] [--status S] [--version N]", cmd_update },
	{ "client", "rm", "ID", cmd_rm },
	{ "client", "import", "FILE.jsonl", cmd_import },
	{ NULL, NULL, NULL, NULL },
};
