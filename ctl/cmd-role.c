/*
 * cmd-role.c: rosterctl's "role" commands, one per io.roster.Admin method:
 * list (RoleList), show (RoleShow), add (RoleAdd), rm (RoleRemove).
 *
 * The daemon alone decides which capabilities, field classes and quotas
 * exist and which roles may change (quota and --guessing values included:
 * "N/WINDOW" is passed on as given); this file only splits comma-separated
 * lists and never fills in a capability the admin did not name. Text from
 * the daemon is printed only through ctl_put_safe() or as JSON.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

/* Long-option values above every character, so they never clash with short ones. */
enum {
	OPT_CAP = 0x100,
	OPT_FIELDS,
	OPT_QUOTA,
	OPT_NO_LOCK,
	OPT_REPLACE,
	OPT_GUESSING,
};

/* The keys "role show" prints, in order. */
static const char *const role_keys[] = {
	"name", "builtin", "capabilities", "fields", "quota", "lock_on_quota", "guessing",
	"principals", "changed_at", NULL,
};

static int cmd_list(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const char *const headers[] = {
		"NAME", "BUILTIN", "CAPABILITIES", "FIELDS", "QUOTA", "PRINCIPALS",
	};
	enum { NCOLS = 6 };
	/* The cells of one row that are not borrowed from the reply. */
	struct row {
		char *caps, *fields;
		char principals[24];
	} *rows = NULL;
	const char **cells = NULL;
	json_t *reply = NULL, *roles, *role;
	size_t n = 0, i;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 0);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Admin.RoleList", json_object(), &reply) < 0)
		goto out;
	roles = ctl_member(reply, "roles", JSON_ARRAY);
	if (roles == NULL)
		goto out;
	if (ctx->json) {
		ctl_print_json(reply);
		rc = CTL_EXIT_OK;
		goto out;
	}
	/* n is bounded by what fits in one reply, so n * NCOLS cannot overflow. */
	n = json_array_size(roles);
	rows = calloc(n + 1, sizeof(*rows));
	cells = calloc(n * NCOLS + 1, sizeof(*cells));
	if (rows == NULL || cells == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	json_array_foreach(roles, i, role) {
		const char **row = cells + i * NCOLS;
		const char *s;

		/* Commas, not spaces: the table's columns are separated by spaces. */
		rows[i].caps = ctl_join(json_object_get(role, "capabilities"), ",");
		rows[i].fields = ctl_join(json_object_get(role, "fields"), ",");
		if (rows[i].caps == NULL || rows[i].fields == NULL)
			goto out;
		snprintf(rows[i].principals, sizeof(rows[i].principals), "%zu",
			 json_array_size(json_object_get(role, "principals")));
		s = json_string_value(json_object_get(role, "name"));
		row[0] = s != NULL ? s : "-";
		row[1] = json_is_true(json_object_get(role, "builtin")) ? "yes" : "no";
		row[2] = rows[i].caps;
		row[3] = rows[i].fields;
		s = json_string_value(json_object_get(role, "quota"));
		row[4] = s != NULL && *s != '\0' ? s : "-";
		row[5] = rows[i].principals;
	}
	if (ctl_print_table(NCOLS, headers, cells, n) == 0)
		rc = CTL_EXIT_OK;
out:
	for (i = 0; rows != NULL && i < n; i++) {
		free(rows[i].caps);
		free(rows[i].fields);
	}
	free(rows);
	free(cells);
	json_decref(reply);
	return rc;
}

static int cmd_show(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL, *role;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 1);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Admin.RoleShow", json_pack("{s:s}", "name", argv[optind]),
		     &reply) < 0)
		goto out;
	role = ctl_member(reply, "role", JSON_OBJECT);
	if (role == NULL)
		goto out;
	if (ctx->json)
		ctl_print_json(reply);
	else
		ctl_print_record(role, role_keys);
	rc = CTL_EXIT_OK;
out:
	json_decref(reply);
	return rc;
}

/*
 * Append the comma-separated items of arg (an --opt value) to the array
 * list. Returns 0, or CTL_E_USAGE for an empty item or text that is not
 * UTF-8, or CTL_E_FAIL.
 */
static int append_items(json_t *list, const char *opt, const char *arg)
{
	const char *p = arg;

	for (;;) {
		size_t len = strcspn(p, ",");
		json_t *item;

		if (len == 0) {
			ctl_warnx("--%s: an empty name in \"%s\"", opt, arg);
			return CTL_E_USAGE;
		}
		item = json_stringn(p, len);
		if (item == NULL) {
			ctl_warnx("--%s: not valid UTF-8", opt);
			return CTL_E_USAGE;
		}
		if (json_array_append_new(list, item) < 0) {
			ctl_warnx("out of memory");
			return CTL_E_FAIL;
		}
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

static int cmd_add(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cap", required_argument, NULL, OPT_CAP },
		{ "fields", required_argument, NULL, OPT_FIELDS },
		{ "quota", required_argument, NULL, OPT_QUOTA },
		{ "no-lock", no_argument, NULL, OPT_NO_LOCK },
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ "guessing", required_argument, NULL, OPT_GUESSING },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *caps, *fields, *reply = NULL;
	const char *quota = NULL, *guessing = NULL;
	int c, lock = 1, replace = 0, rc = -1, r;

	caps = json_array();
	fields = json_array();
	if (caps == NULL || fields == NULL) {
		ctl_warnx("out of memory");
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	while (rc < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CAP:
		case OPT_FIELDS:
			r = append_items(c == OPT_CAP ? caps : fields,
					 c == OPT_CAP ? "cap" : "fields", optarg);
			if (r < 0)
				rc = ctl_exit_for(ctx, r);
			break;
		case OPT_QUOTA:
			quota = optarg;
			break;
		case OPT_GUESSING:
			guessing = optarg;
			break;
		case OPT_NO_LOCK:
			lock = 0;
			break;
		case OPT_REPLACE:
			replace = 1;
			break;
		case 'h':
			rc = ctl_help(ctx);
			break;
		default:
			rc = ctl_usage(ctx);
			break;
		}
	}
	if (rc >= 0)
		goto out;
	if (argc - optind != 1) {
		rc = ctl_usage(ctx);
		goto out;
	}
	/* A role that can do nothing is far more likely a mistake than a wish. */
	if (json_array_size(caps) == 0) {
		ctl_warnx("--cap is required: name at least one capability");
		rc = ctl_usage(ctx);
		goto out;
	}
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Admin.RoleAdd",
		     json_pack("{s:s, s:O, s:O, s:b, s:b, s:s*, s:s*}", "name", argv[optind],
			       "capabilities", caps, "fields", fields, "lock_on_quota", lock,
			       "replace", replace, "quota", quota, "guessing", guessing),
		     &reply) < 0)
		goto out;
	if (ctx->json)
		ctl_print_json(reply);
	rc = CTL_EXIT_OK;
out:
	json_decref(caps);
	json_decref(fields);
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
	if (ctl_call(ctx, "io.roster.Admin.RoleRemove", json_pack("{s:s}", "name", argv[optind]),
		     &reply) < 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_print_json(reply);
	json_decref(reply);
	return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_role_cmds[] = {
	{ "role", "list", "", cmd_list },
	{ "role", "show", "NAME", cmd_show },
	{ "role", "add",
	  "NAME --cap CAP[,CAP...] ... [--fields CLASS[,CLASS...] ...] [--quota N/WINDOW] "
	  "[--no-lock] [--guessing N/WINDOW] [--replace]", cmd_add },
	{ "role", "rm", "NAME", cmd_rm },
	{ NULL, NULL, NULL, NULL },
};
