/*
 * cmd-principal.c: rosterctl's commands for identities, one per
 * io.roster.Admin method: principal add, list, rm, lock, unlock (Principal*),
 * token rotate (TokenRotate), and whoami (WhoAmI).
 *
 * A token exists in clear only in the reply to PrincipalAdd or TokenRotate:
 * this file prints it once, on stdout alone, wipes the reply's copy, and
 * never writes it anywhere else. Text from the daemon is printed only
 * through ctl_put_safe() or as JSON.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

/* Long-option values above every character, so they never clash with short ones. */
enum {
	OPT_UID = 0x100,
	OPT_ROLE,
	OPT_TOKEN,
	OPT_EXPIRES,
};

/*
 * Print the token a reply carries (alone on stdout, or the whole reply with
 * --json), say on stderr that it is not shown again, and wipe it from the
 * reply. Returns 0 or CTL_E_FAIL.
 */
static int print_token(const struct ctl_ctx *ctx, json_t *reply)
{
	json_t *token = ctl_member(reply, "token", JSON_STRING);

	if (token == NULL)
		return CTL_E_FAIL;
	if (ctx->json) {
		ctl_print_json(reply);
	} else {
		ctl_put_safe(stdout, json_string_value(token));
		putchar('\n');
	}
	ctl_warnx("this token is shown only once: store it now where only its service can "
		  "read it (mode 0600)");
	/* jansson frees strings without wiping them; the copy in reply is ours to clear. */
	explicit_bzero((char *)json_string_value(token), json_string_length(token));
	return 0;
}

static int cmd_add(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uid", required_argument, NULL, OPT_UID },
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "token", no_argument, NULL, OPT_TOKEN },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *params, *reply = NULL;
	const char *role = NULL;
	long long uid = -1, expires = 0;
	int c, token = 0, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_UID:
			/* (uid_t)-1 means "no uid" to the kernel, so it is nobody's. */
			if (ctl_parse_int("--uid", optarg, 0, UINT32_MAX - 1, &uid) < 0)
				return ctl_usage(ctx);
			break;
		case OPT_ROLE:
			role = optarg;
			break;
		case OPT_TOKEN:
			token = 1;
			break;
		case OPT_EXPIRES:
			if (ctl_parse_duration("--expires", optarg, &expires) < 0)
				return ctl_usage(ctx);
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (argc - optind != 1)
		return ctl_usage(ctx);
	if (uid < 0 || role == NULL) {
		ctl_warnx("--uid and --role are required");
		return ctl_usage(ctx);
	}
	if (expires > 0 && !token) {
		ctl_warnx("--expires sets when the token stops working; it needs --token");
		return ctl_usage(ctx);
	}
	params = json_pack("{s:s, s:I, s:s}", "name", argv[optind], "uid", (json_int_t)uid,
			   "role", role);
	if (params != NULL && token &&
	    (json_object_set_new(params, "token", json_true()) < 0 ||
	     (expires > 0 &&
	      json_object_set_new(params, "expires", json_integer(expires)) < 0))) {
		json_decref(params);
		params = NULL;
	}
	if (ctl_call(ctx, "io.roster.Admin.PrincipalAdd", params, &reply) < 0)
		return CTL_EXIT_FAIL;
	rc = CTL_EXIT_OK;
	if (token) {
		if (print_token(ctx, reply) < 0)
			rc = CTL_EXIT_FAIL;
	} else if (ctx->json) {
		ctl_print_json(reply);
	}
	json_decref(reply);
	return rc;
}

/* One row of "principal list": the cells that are not borrowed from the reply. */
struct list_row {
	char uid[24];
	char *locked;           /* "no", "yes" or "yes (REASON)", malloc'ed */
};

static int cmd_list(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const char *const headers[] = {
		"NAME", "UID", "ROLE", "TOKEN", "LOCKED", "LAST SEEN",
	};
	enum { NCOLS = 6 };
	struct list_row *rows = NULL;
	const char **cells = NULL;
	json_t *reply = NULL, *principals, *p;
	size_t n = 0, i;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 0);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Admin.PrincipalList", json_object(), &reply) < 0)
		goto out;
	principals = ctl_member(reply, "principals", JSON_ARRAY);
	if (principals == NULL)
		goto out;
	if (ctx->json) {
		ctl_print_json(reply);
		rc = CTL_EXIT_OK;
		goto out;
	}
	/* n is bounded by what fits in one reply, so n * NCOLS cannot overflow. */
	n = json_array_size(principals);
	rows = calloc(n + 1, sizeof(*rows));
	cells = calloc(n * NCOLS + 1, sizeof(*cells));
	if (rows == NULL || cells == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	json_array_foreach(principals, i, p) {
		const char **row = cells + i * NCOLS;
		const char *reason = json_string_value(json_object_get(p, "locked_reason"));
		const json_t *uid = json_object_get(p, "uid");
		const char *s;

		if (json_is_integer(uid))
			snprintf(rows[i].uid, sizeof(rows[i].uid), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(uid));
		else
			strcpy(rows[i].uid, "-");
		if (!json_is_true(json_object_get(p, "locked")))
			rows[i].locked = strdup("no");
		else if (reason == NULL || *reason == '\0')
			rows[i].locked = strdup("yes");
		else if (asprintf(&rows[i].locked, "yes (%s)", reason) < 0)
			rows[i].locked = NULL;
		if (rows[i].locked == NULL) {
			ctl_warnx("out of memory");
			goto out;
		}
		s = json_string_value(json_object_get(p, "name"));
		row[0] = s != NULL ? s : "-";
		row[1] = rows[i].uid;
		s = json_string_value(json_object_get(p, "role"));
		row[2] = s != NULL ? s : "-";
		row[3] = json_is_true(json_object_get(p, "token")) ? "yes" : "no";
		row[4] = rows[i].locked;
		s = json_string_value(json_object_get(p, "last_seen"));
		row[5] = s != NULL && *s != '\0' ? s : "-";
	}
	if (ctl_print_table(NCOLS, headers, cells, n) == 0)
		rc = CTL_EXIT_OK;
out:
	for (i = 0; rows != NULL && i < n; i++)
		free(rows[i].locked);
	free(rows);
	free(cells);
	json_decref(reply);
	return rc;
}

/* rm, lock, unlock: one NAME, nothing printed but the reply with --json. */
static int name_call(struct ctl_ctx *ctx, int argc, char **argv, const char *method)
{
	json_t *reply = NULL;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 1);
	if (rc >= 0)
		return rc;
	if (ctl_call(ctx, method, json_pack("{s:s}", "name", argv[optind]), &reply) < 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_print_json(reply);
	json_decref(reply);
	return CTL_EXIT_OK;
}

static int cmd_rm(struct ctl_ctx *ctx, int argc, char **argv)
{
	return name_call(ctx, argc, argv, "io.roster.Admin.PrincipalRemove");
}

static int cmd_lock(struct ctl_ctx *ctx, int argc, char **argv)
{
	return name_call(ctx, argc, argv, "io.roster.Admin.PrincipalLock");
}

static int cmd_unlock(struct ctl_ctx *ctx, int argc, char **argv)
{
	return name_call(ctx, argc, argv, "io.roster.Admin.PrincipalUnlock");
}

static int cmd_token_rotate(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *params, *reply = NULL;
	long long expires = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_EXPIRES:
			if (ctl_parse_duration("--expires", optarg, &expires) < 0)
				return ctl_usage(ctx);
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (argc - optind != 1)
		return ctl_usage(ctx);
	params = expires > 0
		 ? json_pack("{s:s, s:I}", "name", argv[optind], "expires", (json_int_t)expires)
		 : json_pack("{s:s}", "name", argv[optind]);
	if (ctl_call(ctx, "io.roster.Admin.TokenRotate", params, &reply) < 0)
		return CTL_EXIT_FAIL;
	rc = print_token(ctx, reply) < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
	json_decref(reply);
	return rc;
}

static int cmd_whoami(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const char *const keys[] = {
		"principal", "role", "uid", "gid", "pid", "capabilities", "fields", "bootstrap",
		NULL,
	};
	json_t *reply = NULL;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 0);
	if (rc >= 0)
		return rc;
	if (ctl_call(ctx, "io.roster.Admin.WhoAmI", json_object(), &reply) < 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_print_json(reply);
	else
		ctl_print_record(reply, keys);
	json_decref(reply);
	return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_principal_cmds[] = {
	{ "principal", "add", "NAME --uid UID --role ROLE [--token] [--expires DURATION]", cmd_add },
	{ "principal", "list", "", cmd_list },
	{ "principal", "rm", "NAME", cmd_rm },
	{ "principal", "lock", "NAME", cmd_lock },
	{ "principal", "unlock", "NAME", cmd_unlock },
	{ "token", "rotate", "NAME [--expires DURATION]", cmd_token_rotate },
	{ NULL, "whoami", "", cmd_whoami },
	{ NULL, NULL, NULL, NULL },
};
