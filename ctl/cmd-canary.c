/*
 * cmd-canary.c: rosterctl's "canary" commands, one per io.roster.Admin
 * method: add (CanaryAdd), list (CanaryList).
 *
 * A canary is a client record that looks like any other to everyone but
 * the admins who list it here; any read, search hit or list page that
 * includes it raises a CANARY alert. "canary add" takes exactly the options
 * of "client add" and shares its code (ctl_client_create()); "canary list"
 * prints the table of "client list" (ctl_print_clients()). Text from the
 * daemon is printed only through ctl_put_safe() or as JSON.
 */
#include "config.h"

#include "ctl/ctl.h"

static int cmd_add(struct ctl_ctx *ctx, int argc, char **argv)
{
	return ctl_client_create(ctx, argc, argv, "io.roster.Admin.CanaryAdd");
}

static int cmd_list(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 0);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Admin.CanaryList", json_object(), &reply) == 0 &&
	    ctl_print_clients(ctx, reply) == 0)
		rc = CTL_EXIT_OK;
	json_decref(reply);
	return rc;
}

const struct ctl_cmd ctl_canary_cmds[] = {
	{ "canary", "add", CTL_CLIENT_ADD_USAGE, cmd_add },
	{ "canary", "list", "", cmd_list },
	{ NULL, NULL, NULL, NULL },
};
