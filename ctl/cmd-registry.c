/*
 * cmd-registry.c: rosterctl's commands for the registry's state, one per
 * io.roster.Admin method: init, status, unseal, seal.
 *
 * A passphrase read here goes only into one roster_call_sensitive() and
 * every copy this file makes is wiped afterwards; it is never printed,
 * logged, or taken from the command line itself.
 */
#include "config.h"

#include <getopt.h>
#include <string.h>

#include "ctl/ctl.h"

/* Print a successful reply: the parameters with --json, else done (if any). */
static void print_done(const struct ctl_ctx *ctx, const json_t *reply, const char *done)
{
	if (ctx->json)
		ctl_print_json(reply);
	else if (done != NULL)
		puts(done);
}

/* Init and Unseal: read a passphrase, send it, wipe it. */
static int passphrase_call(struct ctl_ctx *ctx, int argc, char **argv, const char *method,
			   int confirm, const char *done)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *params = NULL, *reply = NULL, *secret = NULL;
	const char *file = NULL;
	char *pass = NULL;
	size_t len = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'h':
			return ctl_help(ctx);
		default:
			return ctl_usage(ctx);
		}
	}
	if (optind != argc)
		return ctl_usage(ctx);
	/* Connect first, so nobody types a passphrase only to learn there is no daemon. */
	if (ctl_connect(ctx) < 0)
		return CTL_EXIT_FAIL;
	rc = ctl_passphrase_get(file, confirm, &pass, &len);
	if (rc < 0)
		return ctl_exit_for(ctx, rc);

	rc = CTL_EXIT_FAIL;
	secret = json_stringn(pass, len);
	if (secret == NULL) {
		ctl_warnx("the passphrase is not valid UTF-8");
		goto out;
	}
	params = json_object();
	if (params == NULL || json_object_set(params, "passphrase", secret) < 0) {
		ctl_warnx("out of memory");
		goto out;
	}
	if (roster_call_sensitive(ctx->r, method, params, &reply) < 0) {
		ctl_fail(ctx);
		goto out;
	}
	print_done(ctx, reply, done);
	rc = CTL_EXIT_OK;
out:
	json_decref(params);
	if (secret != NULL) {
		/* jansson frees strings without wiping them; its copy is ours to clear. */
		explicit_bzero((char *)json_string_value(secret), json_string_length(secret));
		json_decref(secret);
	}
	json_decref(reply);
	ctl_passphrase_free(pass);
	return rc;
}

static int cmd_init(struct ctl_ctx *ctx, int argc, char **argv)
{
	return passphrase_call(ctx, argc, argv, "io.roster.Admin.Init", 1,
			       "registry initialized and unsealed");
}

static int cmd_unseal(struct ctl_ctx *ctx, int argc, char **argv)
{
	return passphrase_call(ctx, argc, argv, "io.roster.Admin.Unseal", 0, "registry unsealed");
}

/* Status and Seal: no parameters, one reply. */
static int simple_call(struct ctl_ctx *ctx, int argc, char **argv, const char *method,
		       const char *const keys[], const char *done)
{
	json_t *reply = NULL;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 0);
	if (rc >= 0)
		return rc;
	if (ctl_connect(ctx) < 0)
		return CTL_EXIT_FAIL;
	if (roster_call(ctx->r, method, NULL, &reply) < 0)
		return ctl_fail(ctx);
	if (keys != NULL && !ctx->json)
		ctl_print_fields(reply, keys);
	else
		print_done(ctx, reply, done);
	json_decref(reply);
	return CTL_EXIT_OK;
}

static int cmd_status(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const char *const keys[] = {
		"state", "version", "uptime", "connections", "clients", "cipher_version",
		"audit_head", "audit_records", "audit_batches", "audit_failures", "audit_checkpoint",
		"audit_shipped", "audit_ship_lag", "audit_ship_connected", NULL,
	};

	return simple_call(ctx, argc, argv, "io.roster.Admin.Status", keys, NULL);
}

static int cmd_seal(struct ctl_ctx *ctx, int argc, char **argv)
{
	return simple_call(ctx, argc, argv, "io.roster.Admin.Seal", NULL, "registry sealed");
}

const struct ctl_cmd ctl_registry_cmds[] = {
	{ NULL, "init", "[--passphrase-file FILE]", cmd_init },
	{ NULL, "status", "", cmd_status },
	{ NULL, "unseal", "[--passphrase-file FILE]", cmd_unseal },
	{ NULL, "seal", "", cmd_seal },
	{ NULL, NULL, NULL, NULL },
};
