/*
 * cmd-export.c: rosterctl's "export" commands, the two-person rule:
 * request (io.roster.Clients.ExportRequest), approve (ExportApprove, by an
 * admin on another uid) and run (Export, streamed, by the requester).
 *
 * "export run" writes the registry in this process, so the file belongs to
 * the admin who runs it. It is created before the daemon is asked (a bad
 * path never uses up an approval), new and private from the first byte
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), and removed again if the export
 * does not complete, so no partial copy is left behind. Text from the
 * daemon is printed only through ctl_put_safe() or as JSON.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"

static int cmd_request(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL, *id, *expires;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 0);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Clients.ExportRequest", json_object(), &reply) < 0)
		goto out;
	if ((id = ctl_member(reply, "id", JSON_STRING)) == NULL ||
	    (expires = ctl_member(reply, "expires_in", JSON_INTEGER)) == NULL)
		goto out;
	if (ctx->json) {
		ctl_print_json(reply);
	} else {
		/* The id alone on stdout, for scripts; what to do next on stderr. */
		ctl_put_safe(stdout, json_string_value(id));
		putchar('\n');
		fprintf(stderr, "rosterctl: an admin on another uid must now run "
			"'rosterctl export approve ");
		ctl_put_safe(stderr, json_string_value(id));
		fprintf(stderr, "' within %" JSON_INTEGER_FORMAT " s\n", json_integer_value(expires));
	}
	rc = CTL_EXIT_OK;
out:
	json_decref(reply);
	return rc;
}

static int cmd_approve(struct ctl_ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL, *who, *uid, *expires;
	int rc;

	rc = ctl_operands(ctx, argc, argv, 1);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAIL;
	if (ctl_call(ctx, "io.roster.Clients.ExportApprove", json_pack("{s:s}", "id", argv[optind]),
		     &reply) < 0)
		goto out;
	if ((who = ctl_member(reply, "requester", JSON_STRING)) == NULL ||
	    (uid = ctl_member(reply, "uid", JSON_INTEGER)) == NULL ||
	    (expires = ctl_member(reply, "expires_in", JSON_INTEGER)) == NULL)
		goto out;
	if (ctx->json) {
		ctl_print_json(reply);
	} else {
		fputs("approved: export ", stdout);
		ctl_put_safe(stdout, argv[optind]);
		fputs(" requested by ", stdout);
		ctl_put_safe(stdout, json_string_value(who));
		printf(" (uid %" JSON_INTEGER_FORMAT "), good for one run within %"
		       JSON_INTEGER_FORMAT " s\n", json_integer_value(uid),
		       json_integer_value(expires));
	}
	rc = CTL_EXIT_OK;
out:
	json_decref(reply);
	return rc;
}

struct run_state {
	FILE *f;
	long long written;
	long long exported;             /* from the last reply; -1 until it arrives */
};

/* One reply of the stream: a client to write, or the last one with the count. */
static int run_each(json_t *params, void *data)
{
	struct run_state *st = data;
	const json_t *client = json_object_get(params, "client");
	const json_t *n = json_object_get(params, "exported");

	if (json_is_object(client)) {
		if (json_dumpf(client, st->f, JSON_COMPACT) < 0 || fputc('\n', st->f) == EOF) {
			ctl_warnx("cannot write the export: %s", strerror(errno));
			return -1;
		}
		st->written++;
	} else if (json_is_integer(n)) {
		st->exported = json_integer_value(n);
	}
	return 0;
}

static int cmd_run(struct ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_state st = { NULL, 0, -1 };
	const char *out = NULL, *id;
	json_t *params = NULL;
	int opt, fd = -1, r, rc = CTL_EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'o')
			out = optarg;
		else
			return opt == 'h' ? ctl_help(ctx) : ctl_usage(ctx);
	}
	if (argc - optind != 1 || out == NULL)
		return ctl_usage(ctx);
	id = argv[optind];
	params = json_pack("{s:s}", "approval", id);
	if (params == NULL) {
		ctl_warnx("the request id is not valid UTF-8");
		return CTL_EXIT_USAGE;
	}
	/* New, never a link, private from the first byte: it will hold every client. */
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || (st.f = fdopen(fd, "w")) == NULL) {
		ctl_warnx("%s: %s", out, strerror(errno));
		if (fd >= 0)
			close(fd);
		json_decref(params);
		return CTL_EXIT_FAIL;
	}
	if (ctl_connect(ctx) < 0)
		goto out;
	r = roster_call_more(ctx->r, "io.roster.Clients.Export", params, run_each, &st);
	if (r != 0) {
		if (r < 0 && r != -1)
			ctl_fail(ctx);
		goto out;
	}
	if (st.exported != st.written) {
		ctl_warnx("the daemon said it exported %lld clients, but %lld arrived", st.exported,
			  st.written);
		goto out;
	}
	if (fflush(st.f) != 0 || fsync(fileno(st.f)) != 0) {
		ctl_warnx("%s: %s", out, strerror(errno));
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	if (rc != CTL_EXIT_OK) {
		/* No partial copy: empty what was written, then remove the file this command made. */
		bool kept = ftruncate(fileno(st.f), 0) != 0;

		kept |= unlink(out) != 0;
		if (kept)
			ctl_warnx("%s: could not remove the incomplete export: %s", out, strerror(errno));
		else
			ctl_warnx("%s: export incomplete; the file was removed", out);
	}
	if (fclose(st.f) != 0 && rc == CTL_EXIT_OK) {
		ctl_warnx("%s: %s", out, strerror(errno));
		unlink(out);
		rc = CTL_EXIT_FAIL;
	}
	if (rc == CTL_EXIT_OK) {
		if (ctx->json) {
			json_t *doc = json_pack("{s:I, s:s}", "exported", (json_int_t)st.written,
						"file", out);

			if (doc != NULL)
				ctl_print_json(doc);
			json_decref(doc);
		} else {
			printf("exported %lld client%s to ", st.written, st.written == 1 ? "" : "s");
			ctl_put_safe(stdout, out);
			putchar('\n');
		}
	}
	json_decref(params);
	return rc;
}

const struct ctl_cmd ctl_export_cmds[] = {
	{ "export", "request", "", cmd_request },
	{ "export", "approve", "ID", cmd_approve },
	{ "export", "run", "ID --out FILE", cmd_run },
	{ NULL, NULL, NULL, NULL },
};
