/*
 * util.c: rosterctl's shared helpers: error and usage messages, connecting
 * (and presenting a token), safe printing of daemon-supplied text, tables,
 * JSON output, and reading a passphrase or token from a file, or a
 * passphrase from the terminal without echo.
 *
 * Nothing here prints a passphrase or a token read from a file, leaves one
 * in memory it frees without wiping, or leaves the terminal with echo
 * turned off.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "ctl/ctl.h"

void ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("rosterctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void ctl_print_usage(FILE *f, const char *prefix, const struct ctl_cmd *cmd)
{
	fprintf(f, "%s%s%s%s%s%s\n", prefix, cmd->group ? cmd->group : "",
		cmd->group ? " " : "", cmd->name, *cmd->usage ? " " : "", cmd->usage);
}

int ctl_usage(const struct ctl_ctx *ctx)
{
	ctl_print_usage(stderr, "usage: rosterctl ", ctx->cmd);
	return CTL_EXIT_USAGE;
}

int ctl_help(const struct ctl_ctx *ctx)
{
	ctl_print_usage(stdout, "usage: rosterctl ", ctx->cmd);
	return CTL_EXIT_OK;
}

int ctl_exit_for(const struct ctl_ctx *ctx, int r)
{
	if (r == 0)
		return CTL_EXIT_OK;
	if (r == CTL_E_USAGE)
		return ctl_usage(ctx);
	return CTL_EXIT_FAIL;
}

int ctl_operands(struct ctl_ctx *ctx, int argc, char **argv, int n)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	c = getopt_long(argc, argv, "h", opts, NULL);
	if (c == 'h')
		return ctl_help(ctx);
	if (c != -1 || argc - optind != n)
		return ctl_usage(ctx);
	return -1;
}

static int get_secret(const char *file, const char *what, int confirm, char **ret_pass,
		      size_t *ret_len);

/* Present the token in ctx->token_file on the new connection ctx->r. */
static int authenticate(struct ctl_ctx *ctx)
{
	char *token = NULL;
	size_t len = 0;
	int rc;

	rc = get_secret(ctx->token_file, "token", 0, &token, &len);
	if (rc < 0)
		return rc;
	rc = roster_authenticate(ctx->r, token);
	ctl_passphrase_free(token);
	/*
	 * Tokens are checked against the encrypted database: while it is
	 * closed, go on without, so that the public calls (status, whoami)
	 * still work; any other call is refused on its own.
	 */
	if (rc == ROSTER_E_SEALED || rc == ROSTER_E_UNINITIALIZED)
		return 0;
	if (rc < 0) {
		fputs("rosterctl: ", stderr);
		ctl_put_safe(stderr, ctx->token_file);
		fputs(": ", stderr);
		ctl_print_error(stderr, ctx->r);
		return CTL_E_FAIL;
	}
	return 0;
}

int ctl_connect(struct ctl_ctx *ctx)
{
	int rc, e;

	if (ctx->r != NULL)
		return 0;
	rc = roster_connect(ctx->socket, &ctx->r);
	if (rc < 0) {
		e = errno;
		fputs("rosterctl: cannot connect to ", stderr);
		ctl_put_safe(stderr, ctx->socket);
		fprintf(stderr, ": %s\n", rc == ROSTER_E_NOMEM ? "out of memory" : strerror(e));
		return CTL_E_FAIL;
	}
	/* A connection whose token was refused is no use to anything after. */
	if (ctx->token_file != NULL && authenticate(ctx) < 0) {
		roster_free(ctx->r);
		ctx->r = NULL;
		return CTL_E_FAIL;
	}
	return 0;
}

int ctl_call(struct ctl_ctx *ctx, const char *method, json_t *params, json_t **ret_reply)
{
	int rc = CTL_E_FAIL;

	if (params == NULL) {
		/* jansson refuses strings that are not UTF-8; running out of memory is far rarer. */
		ctl_warnx("cannot encode the request: an argument is not valid UTF-8");
		return CTL_E_FAIL;
	}
	if (ctl_connect(ctx) < 0)
		goto out;
	if (roster_call(ctx->r, method, params, ret_reply) < 0) {
		ctl_fail(ctx);
		goto out;
	}
	rc = 0;
out:
	json_decref(params);
	return rc;
}

json_t *ctl_member(const json_t *reply, const char *key, json_type t)
{
	json_t *v = json_object_get(reply, key);

	if (v == NULL || json_typeof(v) != t) {
		ctl_warnx("the daemon's reply has no valid \"%s\"", key);
		return NULL;
	}
	return v;
}

void ctl_print_error(FILE *f, const struct roster *r)
{
	const char *name = roster_error_name(r);

	if (name != NULL) {
		ctl_put_safe(f, name);
		fputs(": ", f);
	}
	ctl_put_safe(f, roster_error_message(r));
	fputc('\n', f);
}

int ctl_fail(const struct ctl_ctx *ctx)
{
	fputs("rosterctl: ", stderr);
	ctl_print_error(stderr, ctx->r);
	return CTL_EXIT_FAIL;
}

/* With f NULL, only measures. */
size_t ctl_put_safe(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t cells = 0;

	for (; *p != '\0'; p++) {
		const char *out = NULL;

		if (*p == '\n')
			out = "\\n";
		else if (*p == '\t')
			out = "\\t";
		else if (*p == '\r')
			out = "\\r";
		else if (*p < 0x20 || *p == 0x7f)
			out = (snprintf(esc, sizeof(esc), "\\x%02x", *p), esc);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* C1 controls, U+0080 to U+009F, which some terminals obey. */
			snprintf(esc, sizeof(esc), "\\u%04x", p[1]);
			out = esc;
			p++;
		}
		if (out != NULL) {
			if (f != NULL)
				fputs(out, f);
			cells += strlen(out);
			continue;
		}
		if (f != NULL)
			fputc(*p, f);
		/* UTF-8 continuation bytes do not start a new character. */
		if ((*p & 0xc0) != 0x80)
			cells++;
	}
	return cells;
}

void ctl_put_value(FILE *f, const json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		ctl_put_safe(f, json_string_value(v));
	} else if (json_is_integer(v)) {
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s != NULL)
			ctl_put_safe(f, s);
		free(s);
	}
}

void ctl_print_fields(const json_t *obj, const char *const keys[])
{
	for (size_t i = 0; keys[i] != NULL; i++) {
		const json_t *v = json_object_get(obj, keys[i]);

		if (v == NULL)
			continue;
		printf("%s: ", keys[i]);
		ctl_put_value(stdout, v);
		putchar('\n');
	}
}

char *ctl_join(const json_t *strings, const char *sep)
{
	size_t n = json_array_size(strings), len = 0, seplen = strlen(sep);
	const json_t *v;
	size_t i;
	char *s, *p;

	if (!json_is_array(strings)) {
		ctl_warnx("the daemon's reply has a malformed list");
		return NULL;
	}
	json_array_foreach(strings, i, v) {
		if (!json_is_string(v)) {
			ctl_warnx("the daemon's reply has a malformed list");
			return NULL;
		}
		/* Bounded by the size of one reply, so this cannot overflow. */
		len += json_string_length(v) + seplen;
	}
	s = malloc(n == 0 ? 2 : len + 1);
	if (s == NULL) {
		ctl_warnx("out of memory");
		return NULL;
	}
	if (n == 0)
		return strcpy(s, "-");
	p = s;
	json_array_foreach(strings, i, v) {
		if (i > 0) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		/* A NUL inside a string (\u0000) ends the element here, as ctl_put_safe() would. */
		p = stpcpy(p, json_string_value(v));
	}
	*p = '\0';
	return s;
}

void ctl_print_record(const json_t *obj, const char *const keys[])
{
	for (size_t i = 0; keys[i] != NULL; i++) {
		const json_t *v = json_object_get(obj, keys[i]);

		printf("%s: ", keys[i]);
		if (v == NULL || json_is_null(v)) {
			fputs("-", stdout);
		} else if (json_is_boolean(v)) {
			fputs(json_is_true(v) ? "yes" : "no", stdout);
		} else if (json_is_array(v)) {
			const json_t *e;
			size_t j;

			if (json_array_size(v) == 0)
				fputs("-", stdout);
			json_array_foreach(v, j, e) {
				if (j > 0)
					putchar(' ');
				ctl_put_value(stdout, e);
			}
		} else {
			ctl_put_value(stdout, v);
		}
		putchar('\n');
	}
}

void ctl_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
}

static void table_row(const size_t *width, size_t ncols, const char *const row[])
{
	for (size_t c = 0; c < ncols; c++) {
		size_t w = ctl_put_safe(stdout, row[c]);

		/* The last column is not padded, so lines carry no trailing blanks. */
		if (c + 1 < ncols)
			printf("%*s", (int)(width[c] - w + 2), "");
	}
	putchar('\n');
}

int ctl_print_table(size_t ncols, const char *const headers[], const char *const cells[],
		    size_t nrows)
{
	size_t *width;

	width = calloc(ncols, sizeof(*width));
	if (width == NULL) {
		ctl_warnx("out of memory");
		return CTL_E_FAIL;
	}
	for (size_t c = 0; c < ncols; c++) {
		width[c] = ctl_put_safe(NULL, headers[c]);
		for (size_t r = 0; r < nrows; r++) {
			size_t w = ctl_put_safe(NULL, cells[r * ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	table_row(width, ncols, headers);
	for (size_t r = 0; r < nrows; r++)
		table_row(width, ncols, cells + r * ncols);
	free(width);
	return 0;
}

int ctl_parse_int(const char *opt, const char *s, long long min, long long max,
		  long long *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		ctl_warnx("%s: expected an integer from %lld to %lld", opt, min, max);
		return CTL_E_USAGE;
	}
	*ret = v;
	return 0;
}

int ctl_parse_duration(const char *opt, const char *s, long long *ret)
{
	static const struct {
		char unit;
		long long seconds;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	long long n, mult = 1;
	char *end;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (*end != '\0' && end[1] == '\0')
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].unit) {
				mult = units[i].seconds;
				end++;
				break;
			}
	/* Digits only: strtoll would also take blanks and a sign. */
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || n < 1 || n > INT_MAX / mult) {
		ctl_warnx("%s: expected a duration such as 30s, 15m, 12h or 90d (at most %d seconds)",
			  opt, INT_MAX);
		return CTL_E_USAGE;
	}
	*ret = n * mult;
	return 0;
}

/*
 * Every passphrase buffer has this size: room for the passphrase, a trailing
 * newline, one byte to detect excess, and a NUL. One size means a buffer is
 * always wiped whole, whatever was read into it.
 */
#define PASS_BUF_SIZE (CTL_PASSPHRASE_MAX + 3)

void ctl_passphrase_free(char *pass)
{
	if (pass == NULL)
		return;
	explicit_bzero(pass, PASS_BUF_SIZE);
	free(pass);
}

/*
 * Read a passphrase or token (what) file into buf (cap bytes). The file
 * must be a regular file or a pipe (so that --passphrase-file <(...) works)
 * that neither group nor others may read or write: a readable copy is a
 * leaked secret, and a writable one lets someone choose the passphrase that
 * Init will use.
 */
static int read_secret_file(const char *path, const char *what, char *buf, size_t cap,
			    size_t *ret_len)
{
	struct stat st;
	size_t len = 0;
	int fd, rc = CTL_E_FAIL;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ctl_warnx("%s: %s", path, strerror(errno));
		return CTL_E_FAIL;
	}
	if (fstat(fd, &st) < 0) {
		ctl_warnx("%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		ctl_warnx("%s: not a regular file or a pipe", path);
		goto out;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		ctl_warnx("%s: group or others may read or write it (mode %04o); run chmod 600 on it",
			  path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ctl_warnx("%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	/* cap leaves room for the passphrase, a newline and one byte more to detect excess. */
	if (len > CTL_PASSPHRASE_MAX) {
		ctl_warnx("%s: the %s is longer than %d bytes", path, what, CTL_PASSPHRASE_MAX);
		goto out;
	}
	if (len == 0) {
		ctl_warnx("%s: the %s is empty", path, what);
		goto out;
	}
	*ret_len = len;
	rc = 0;
out:
	close(fd);
	return rc;
}

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
	caught_signal = sig;
}

/*
 * Prompt on the terminal and read one line with echo off. Signals that
 * would end the process are caught while echo is off, so the terminal is
 * restored first and the signal then delivered again. Returns the length, 0
 * on an empty line or end of input, -E2BIG for a line longer than cap, or
 * -errno.
 */
static ssize_t prompt_line(int tty, const char *prompt, char *buf, size_t cap)
{
	static const int sigs[] = { SIGINT, SIGHUP, SIGQUIT, SIGTERM };
	struct sigaction sa = { .sa_handler = on_signal }, old[4];
	struct termios saved, noecho;
	ssize_t rc = 0;
	size_t len = 0;
	int too_long = 0;
	char ch;

	if (tcgetattr(tty, &saved) < 0)
		return -errno;
	/* No SA_RESTART: read() must return so that the terminal can be restored. */
	sigemptyset(&sa.sa_mask);
	caught_signal = 0;
	for (size_t i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	noecho = saved;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	if (write(tty, prompt, strlen(prompt)) < 0 || tcsetattr(tty, TCSAFLUSH, &noecho) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = read(tty, &ch, 1);

		if (n < 0 && errno == EINTR && !caught_signal)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0 || ch == '\n')
			break;
		if (len < cap)
			buf[len++] = ch;
		else
			too_long = 1;
	}
	ch = 0;
	if (rc == 0)
		rc = too_long ? -E2BIG : (ssize_t)len;
	tcsetattr(tty, TCSAFLUSH, &saved);
out:
	for (size_t i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (caught_signal) {
		explicit_bzero(buf, cap);
		(void)!write(tty, "\n", 1);
		raise(caught_signal);
	}
	return rc;
}

static int prompt_passphrase(int confirm, char *buf, size_t cap, size_t *ret_len)
{
	char *again = NULL;
	ssize_t n, m;
	int tty, rc = CTL_E_FAIL;

	tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (tty < 0) {
		ctl_warnx("no terminal to ask for the passphrase on; pass --passphrase-file FILE");
		return CTL_E_USAGE;
	}
	n = prompt_line(tty, confirm ? "New passphrase: " : "Passphrase: ", buf, cap);
	if (n == -E2BIG) {
		ctl_warnx("the passphrase is longer than %d bytes", CTL_PASSPHRASE_MAX);
		goto out;
	}
	if (n < 0) {
		ctl_warnx("cannot read the passphrase from the terminal: %s", strerror((int)-n));
		goto out;
	}
	if (n == 0) {
		ctl_warnx("no passphrase entered");
		goto out;
	}
	if (confirm) {
		again = malloc(PASS_BUF_SIZE);
		if (again == NULL) {
			ctl_warnx("out of memory");
			goto out;
		}
		m = prompt_line(tty, "Repeat the passphrase: ", again, cap);
		if (m != n || memcmp(buf, again, (size_t)n) != 0) {
			ctl_warnx("the passphrases do not match");
			goto out;
		}
	}
	*ret_len = (size_t)n;
	rc = 0;
out:
	ctl_passphrase_free(again);
	close(tty);
	return rc;
}

/*
 * The passphrase (what "passphrase") or token (what "token") from file, or
 * with file NULL a passphrase typed on the terminal. As ctl_passphrase_get().
 */
static int get_secret(const char *file, const char *what, int confirm, char **ret_pass,
		      size_t *ret_len)
{
	size_t len = 0;
	char *buf;
	int rc;

	buf = malloc(PASS_BUF_SIZE);
	if (buf == NULL) {
		ctl_warnx("out of memory");
		return CTL_E_FAIL;
	}
	if (file != NULL)
		rc = read_secret_file(file, what, buf, PASS_BUF_SIZE - 1, &len);
	else
		rc = prompt_passphrase(confirm, buf, CTL_PASSPHRASE_MAX + 1, &len);
	/* The daemon takes the secret as a JSON string; a NUL would cut it short. */
	if (rc == 0 && memchr(buf, '\0', len) != NULL) {
		ctl_warnx("the %s contains a NUL byte", what);
		rc = CTL_E_FAIL;
	}
	if (rc < 0) {
		ctl_passphrase_free(buf);
		return rc;
	}
	buf[len] = '\0';
	*ret_pass = buf;
	*ret_len = len;
	return 0;
}

int ctl_passphrase_get(const char *file, int confirm, char **ret_pass, size_t *ret_len)
{
	return get_secret(file, "passphrase", confirm, ret_pass, ret_len);
}
