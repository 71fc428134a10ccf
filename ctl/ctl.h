/*
 * ctl.h: what rosterctl's files share. Each ctl/cmd-<group>.c exports one
 * table of struct ctl_cmd (as tmux's cmd-*.c export a cmd_entry);
 * rosterctl.c parses the global options and dispatches; util.c holds the
 * printing, connection and passphrase helpers.
 *
 * Commands reach the daemon only through libroster, never print a
 * passphrase (nor a token, except the one the daemon returns once when it
 * is created), and print text that came from the daemon only through
 * ctl_put_safe() (or as JSON), so a stored value cannot drive the terminal.
 */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/roster.h"

/* Exit statuses: part of the command-line contract. */
enum ctl_exit {
	CTL_EXIT_OK = 0,        /* done */
	CTL_EXIT_FAIL = 1,      /* refused or failed; the reason was printed */
	CTL_EXIT_USAGE = 2,     /* bad command line; the usage line was printed */
};

/* Helpers return 0 or one of these, having already printed the reason. */
#define CTL_E_FAIL  (-1)
#define CTL_E_USAGE (-2)

/* The longest passphrase accepted, in bytes (the daemon's limit too). */
#define CTL_PASSPHRASE_MAX 1024

struct ctl_cmd;

struct ctl_ctx {
	const char *socket;             /* socket path, already resolved */
	const char *token_file;         /* --token-file: presented on connecting, or NULL */
	int json;                       /* --json: print one JSON document */
	struct roster *r;               /* opened by ctl_connect(), freed by main */
	const struct ctl_cmd *cmd;      /* the running command, for its usage line */
};

struct ctl_cmd {
	const char *group;      /* "client", or NULL for a top-level command */
	const char *name;
	const char *usage;      /* what follows "rosterctl [GROUP] NAME" */
	/*
	 * argv[0] is the full command name ("rosterctl client add") and
	 * getopt is reset, so exec parses its own options from argv[1].
	 * Returns an enum ctl_exit.
	 */
	int (*exec)(struct ctl_ctx *ctx, int argc, char **argv);
};

/* Command tables, each ended by an entry whose name is NULL. */
extern const struct ctl_cmd ctl_registry_cmds[];
extern const struct ctl_cmd ctl_client_cmds[];
extern const struct ctl_cmd ctl_principal_cmds[];     /* principal, token, whoami */
extern const struct ctl_cmd ctl_role_cmds[];
extern const struct ctl_cmd ctl_audit_cmds[];
extern const struct ctl_cmd ctl_canary_cmds[];
extern const struct ctl_cmd ctl_backup_cmds[];
extern const struct ctl_cmd ctl_key_cmds[];
extern const struct ctl_cmd ctl_export_cmds[];

/* The options of "client add", which "canary add" shares. */
#define CTL_CLIENT_ADD_USAGE \
	"--name N --kind K [--country CC] [--contact-name S] [--contact-email S] " \
	"[--contact-phone S] [--tier S] [--notes S] [--status S]"
/*
 * cmd-client.c: parse the options of "client add" (CTL_CLIENT_ADD_USAGE)
 * from argv, call method with {client} (io.roster.Clients.Create, or
 * io.roster.Admin.CanaryAdd), and print the new id (the reply with --json).
 * Returns an enum ctl_exit.
 */
int ctl_client_create(struct ctl_ctx *ctx, int argc, char **argv, const char *method);
/*
 * cmd-client.c: print a reply's "clients" as the table of "client list"
 * (ID NAME KIND COUNTRY STATUS), or the whole reply with --json. Returns 0
 * or CTL_E_FAIL.
 */
int ctl_print_clients(const struct ctl_ctx *ctx, const json_t *reply);

/*
 * cmd-audit.c: fetch the records matching params (an object of
 * io.roster.Audit.Query filters; "after" and "limit" are set here) page by
 * page, oldest first, passing each to fn, until limit records (0: all) have
 * been seen or fn returns 1. The daemon answers at most 1000 records a call,
 * so memory holds one page at a time. Returns 0, or CTL_E_FAIL: a failed
 * call's reason is printed here, while fn prints its own before it returns
 * a negative value.
 */
int ctl_audit_each(struct ctl_ctx *ctx, json_t *params, long long limit,
		   int (*fn)(const json_t *rec, void *data), void *data);

/* audit-report.c: "audit report", the incident scope report. */
#define CTL_AUDIT_REPORT_USAGE \
	"[--principal NAME] [--since TIME] [--until TIME] [--format text|json|html] " \
	"[--out FILE] [--log FILE --pubkey FILE] [--no-names]"
int ctl_audit_report(struct ctl_ctx *ctx, int argc, char **argv);

/* "rosterctl: ..." and a newline on stderr. */
void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print prefix, then cmd's name and usage ("client get ID"), then a newline, to f. */
void ctl_print_usage(FILE *f, const char *prefix, const struct ctl_cmd *cmd);
/* Print the running command's usage line to stderr; returns CTL_EXIT_USAGE. */
int ctl_usage(const struct ctl_ctx *ctx);
/* Print the running command's usage line to stdout (for --help); returns CTL_EXIT_OK. */
int ctl_help(const struct ctl_ctx *ctx);
/* Map a helper's 0 / CTL_E_FAIL / CTL_E_USAGE to an exit status, printing usage for the last. */
int ctl_exit_for(const struct ctl_ctx *ctx, int r);

/*
 * Parse the command line of a command that takes no options but --help and
 * exactly n operands, left at argv[optind]. Returns -1 when the command
 * should go on, else the exit status it should return.
 */
int ctl_operands(struct ctl_ctx *ctx, int argc, char **argv, int n);

/*
 * Connect ctx->r to ctx->socket unless already connected, and then, with
 * ctx->token_file set, present the token in that file (io.roster.Admin.
 * Authenticate; the file obeys the rules of passphrase files; skipped while
 * the registry is sealed or uninitialized). Returns 0 or CTL_E_FAIL, with
 * ctx->r left NULL when the token was refused.
 */
int ctl_connect(struct ctl_ctx *ctx);
/*
 * Connect and call method with params (a new reference, consumed; NULL
 * means it could not be built). On success *ret_reply is the reply's
 * parameters (a new reference). Returns 0 or CTL_E_FAIL, with the reason
 * printed.
 */
int ctl_call(struct ctl_ctx *ctx, const char *method, json_t *params, json_t **ret_reply);
/* The reply member key of type t (borrowed), or NULL with the reason printed. */
json_t *ctl_member(const json_t *reply, const char *key, json_type t);
/* Print the last libroster failure on ctx->r as "rosterctl: NAME: sentence"; returns CTL_EXIT_FAIL. */
int ctl_fail(const struct ctl_ctx *ctx);
/* Print the last libroster failure on r after a prefix such as "FILE:LINE: ". */
void ctl_print_error(FILE *f, const struct roster *r);

/*
 * Write s with control characters escaped (\n, \t, \r, \xNN, \u0080-\u009f)
 * so that it stays on one line and cannot send terminal escapes. Returns
 * the number of character cells written (one per code point: wide
 * characters are not measured).
 */
size_t ctl_put_safe(FILE *f, const char *s);
/* Write a JSON value for a person: strings escaped as above, integers in decimal, else compact JSON. */
void ctl_put_value(FILE *f, const json_t *v);
/* Print "key: value" for each key of keys (NULL-ended) present in obj. */
void ctl_print_fields(const json_t *obj, const char *const keys[]);
/*
 * Print "key: value" for every key of keys (NULL-ended), in that order:
 * "-" for an absent or null value, "yes" or "no" for a boolean, the
 * elements of an array separated by spaces ("-" for none), else as
 * ctl_put_value().
 */
void ctl_print_record(const json_t *obj, const char *const keys[]);
/*
 * Join a JSON array of strings with sep into a malloc'ed string, "-" for an
 * empty array (so that a table column always has a word). Returns NULL,
 * with the reason printed, if strings is not an array of strings.
 */
char *ctl_join(const json_t *strings, const char *sep);
/* Print j to stdout as JSON indented by 2, then a newline. */
void ctl_print_json(const json_t *j);
/*
 * Print an aligned table to stdout: a header row, then nrows rows of ncols
 * cells (row-major, borrowed). Columns are separated by two spaces.
 */
int ctl_print_table(size_t ncols, const char *const headers[], const char *const cells[],
		    size_t nrows);

/* Parse s as a decimal integer in [min, max] for option opt. Returns 0 or CTL_E_USAGE. */
int ctl_parse_int(const char *opt, const char *s, long long min, long long max,
		  long long *ret);

/*
 * Parse s as a duration for option opt: a number of seconds, or a number
 * followed by s, m, h or d (30s, 15m, 12h, 90d). Stores seconds, 1 to
 * INT_MAX. Returns 0 or CTL_E_USAGE.
 */
int ctl_parse_duration(const char *opt, const char *s, long long *ret);

/*
 * Get a passphrase: from file when not NULL (which must not be accessible
 * to group or others; one trailing newline is dropped), else by prompting on
 * /dev/tty without echo, twice when confirm is set. On success *ret_pass is
 * a malloc'ed NUL-terminated passphrase of *ret_len bytes, released with
 * ctl_passphrase_free(). Returns 0, CTL_E_FAIL, or CTL_E_USAGE when there is
 * no terminal to prompt on.
 */
int ctl_passphrase_get(const char *file, int confirm, char **ret_pass, size_t *ret_len);
/* Wipe and free a passphrase from ctl_passphrase_get(); NULL is a no-op. */
void ctl_passphrase_free(char *pass);
