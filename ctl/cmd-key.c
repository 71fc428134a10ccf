/*
 * cmd-key.c: rosterctl's "key" commands: passwd (io.roster.Admin.Rekey with
 * a new passphrase) and rotate (Rekey with rotate: the data key, the audit
 * key, or both).
 *
 * Both passphrases go only into one roster_call_sensitive() and every copy
 * made here is wiped afterwards; they are never printed, logged, or taken
 * from the command line itself.
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <string.h>

#include "ctl/ctl.h"

/* Wipe jansson's copy of a secret string, then release it. */
static void secret_decref(json_t *s)
{
	if (s != NULL) {
		explicit_bzero((char *)json_string_value(s), json_string_length(s));
		json_decref(s);
	}
}

static int cmd_passwd(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'f' },
		{ "new-passphrase-file", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *params = NULL, *reply = NULL, *old_s = NULL, *new_s = NULL;
	const char *old_file = NULL, *new_file = NULL;
	char *old = NULL, *new = NULL;
	size_t old_len = 0, new_len = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			old_file = optarg;
			break;
		case 'n':
			new_file = optarg;
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (optind != argc)
		return ctl_usage(ctx);
	/* Connect first, so nobody types passphrases only to learn there is no daemon. */
	if (ctl_connect(ctx) < 0)
		return CTL_EXIT_FAIL;
	rc = ctl_passphrase_get(old_file, 0, &old, &old_len);
	if (rc == 0)
		rc = ctl_passphrase_get(new_file, 1, &new, &new_len);
	if (rc < 0) {
		rc = ctl_exit_for(ctx, rc);
		goto out;
	}
	rc = CTL_EXIT_FAIL;
	old_s = json_stringn(old, old_len);
	new_s = json_stringn(new, new_len);
	if (old_s == NULL || new_s == NULL) {
		ctl_warnx("a passphrase is not valid UTF-8");
		goto out;
	}
	params = json_object();
	if (params == NULL || json_object_set(params, "passphrase", old_s) < 0 ||
	    json_object_set(params, "new_passphrase", new_s) < 0) {
		ctl_warnx("out of memory");
		goto out;
	}
	if (roster_call_sensitive(ctx->r, "io.roster.Admin.Rekey", params, &reply) < 0) {
		ctl_fail(ctx);
		goto out;
	}
	if (ctx->json)
		ctl_print_json(reply);
	else
		puts("passphrase changed; the old one no longer unseals the registry");
	rc = CTL_EXIT_OK;
out:
	json_decref(params);
	secret_decref(old_s);
	secret_decref(new_s);
	json_decref(reply);
	ctl_passphrase_free(old);
	ctl_passphrase_free(new);
	return rc;
}

static int cmd_rotate(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'f' },
		{ "data-key", no_argument, NULL, 'd' },
		{ "audit-key", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *params = NULL, *reply = NULL, *pass_s = NULL, *what;
	const char *file = NULL;
	bool data = false, audit = false;
	char *pass = NULL;
	size_t len = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'd':
			data = true;
			break;
		case 'a':
			audit = true;
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (optind != argc)
		return ctl_usage(ctx);
	/* Neither named: the data key, the one that protects the clients at rest. */
	if (!data && !audit)
		data = true;
	if (ctl_connect(ctx) < 0)
		return CTL_EXIT_FAIL;
	rc = ctl_passphrase_get(file, 0, &pass, &len);
	if (rc < 0) {
		rc = ctl_exit_for(ctx, rc);
		goto out;
	}
	rc = CTL_EXIT_FAIL;
	pass_s = json_stringn(pass, len);
	if (pass_s == NULL) {
		ctl_warnx("the passphrase is not valid UTF-8");
		goto out;
	}
	what = json_array();
	params = json_object();
	if (what == NULL || params == NULL ||
	    (data && json_array_append_new(what, json_string("data")) < 0) ||
	    (audit && json_array_append_new(what, json_string("audit")) < 0) ||
	    json_object_set_new(params, "rotate", what) < 0 ||
	    json_object_set(params, "passphrase", pass_s) < 0) {
		ctl_warnx("out of memory");
		goto out;
	}
	if (roster_call_sensitive(ctx->r, "io.roster.Admin.Rekey", params, &reply) < 0) {
		ctl_fail(ctx);
		goto out;
	}
	if (ctx->json) {
		ctl_print_json(reply);
	} else {
		if (data)
			puts("data key rotated: the database is encrypted under a new key");
		if (audit)
			puts("audit key rotated: new checkpoints are signed with a new key (see "
			     "rosterctl audit pubkey --all)");
	}
	rc = CTL_EXIT_OK;
out:
	json_decref(params);
	secret_decref(pass_s);
	json_decref(reply);
	ctl_passphrase_free(pass);
	return rc;
}

const struct ctl_cmd ctl_key_cmds[] = {
	{ "key", "passwd", "[--passphrase-file OLD] [--new-passphrase-file NEW]", cmd_passwd },
	{ "key", "rotate", "[--data-key] [--audit-key] [--passphrase-file FILE]", cmd_rotate },
	{ NULL, NULL, NULL, NULL },
};
