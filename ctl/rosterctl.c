/*
 * rosterctl.c: the admin tool's entry point. It parses the global options,
 * which must come before COMMAND, finds COMMAND in the tables exported by
 * the ctl/cmd-*.c files, and runs it.
 *
 * This file never talks to the daemon and never reads a secret: commands
 * do, through util.c and libroster.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

static const struct ctl_cmd *const cmd_tables[] = {
	ctl_registry_cmds,
	ctl_client_cmds,
	ctl_principal_cmds,
	ctl_role_cmds,
	ctl_audit_cmds,
	ctl_canary_cmds,
	ctl_key_cmds,
	ctl_backup_cmds,
	ctl_export_cmds,
};
#define N_TABLES (sizeof(cmd_tables) / sizeof(cmd_tables[0]))

static int same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The command called name in group (NULL for top-level commands), or NULL. */
static const struct ctl_cmd *find_cmd(const char *group, const char *name)
{
	for (size_t t = 0; t < N_TABLES; t++)
		for (const struct ctl_cmd *c = cmd_tables[t]; c->name != NULL; c++)
			if (same(c->group, group) && strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

static int is_group(const char *name)
{
	for (size_t t = 0; t < N_TABLES; t++)
		for (const struct ctl_cmd *c = cmd_tables[t]; c->name != NULL; c++)
			if (same(c->group, name))
				return 1;
	return 0;
}

/* Print the usage line of every command in group, or of all when group is NULL. */
static void list_cmds(FILE *f, const char *group)
{
	for (size_t t = 0; t < N_TABLES; t++)
		for (const struct ctl_cmd *c = cmd_tables[t]; c->name != NULL; c++)
			if (group == NULL || same(c->group, group))
				ctl_print_usage(f, "  ", c);
}

static const char synopsis[] =
	"usage: rosterctl [--socket PATH] [--token-file FILE] [--json] COMMAND [ARG...]\n";

static void help(void)
{
	fputs(synopsis, stdout);
	fputs("\nCommands:\n", stdout);
	list_cmds(stdout, NULL);
	fputs("  help\n", stdout);
	printf("\nOptions (before COMMAND):\n"
	       "  --socket PATH      the daemon's socket (default: $ROSTER_SOCKET, else %s)\n"
	       "  --token-file FILE  present the principal's token in FILE on connecting\n"
	       "                     (default: $ROSTER_TOKEN_FILE, else none)\n"
	       "  --json             print one JSON document instead of text\n"
	       "  --help             print this help\n"
	       "  --version          print the version\n"
	       "\nExit status: 0 success, 1 refused or failed, 2 usage error.\n",
	       ROSTER_DEFAULT_SOCKET);
}

static int usage_error(void)
{
	fputs(synopsis, stderr);
	fputs("run 'rosterctl help' for the list of commands\n", stderr);
	return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "token-file", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_ctx ctx = { 0 };
	const struct ctl_cmd *cmd;
	const char *group = NULL;
	char progname[64];
	int c, rc;

	ctx.socket = getenv("ROSTER_SOCKET");
	if (ctx.socket == NULL || *ctx.socket == '\0')
		ctx.socket = ROSTER_DEFAULT_SOCKET;
	ctx.token_file = getenv("ROSTER_TOKEN_FILE");
	if (ctx.token_file != NULL && *ctx.token_file == '\0')
		ctx.token_file = NULL;
	/* "+" stops at the first operand, COMMAND, leaving its options to it. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctx.socket = optarg;
			break;
		case 't':
			ctx.token_file = optarg;
			break;
		case 'j':
			ctx.json = 1;
			break;
		case 'h':
			help();
			return CTL_EXIT_OK;
		case 'V':
			puts("rosterctl " PACKAGE_VERSION);
			return CTL_EXIT_OK;
		default:
			return usage_error();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		ctl_warnx("missing command");
		return usage_error();
	}
	if (strcmp(argv[0], "help") == 0) {
		help();
		return CTL_EXIT_OK;
	}
	if (is_group(argv[0])) {
		group = argv[0];
		if (argc == 1) {
			ctl_warnx("missing %s command", group);
			list_cmds(stderr, group);
			return CTL_EXIT_USAGE;
		}
		if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0) {
			list_cmds(stdout, group);
			return CTL_EXIT_OK;
		}
		argc--;
		argv++;
	}
	cmd = find_cmd(group, argv[0]);
	if (cmd == NULL) {
		ctl_warnx("unknown command '%s%s%s'", group ? group : "", group ? " " : "", argv[0]);
		return usage_error();
	}

	/* getopt names the program in its messages: make that the command. */
	snprintf(progname, sizeof(progname), "rosterctl %s%s%s", group ? group : "",
		 group ? " " : "", cmd->name);
	argv[0] = progname;
	ctx.cmd = cmd;
	/*
	 * optind 0 makes glibc's getopt start afresh: it forgets the "+" mode
	 * and the position left by the global parse, and scans from argv[1].
	 */
	optind = 0;
	rc = cmd->exec(&ctx, argc, argv);
	roster_free(ctx.r);
	/* A full disk or closed pipe must not pass for success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx("cannot write the output: %s", strerror(errno));
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_FAIL;
	}
	return rc;
}
