/*
 * fuzz-auditlog.c: libFuzzer target for the offline audit-log verifier in
 * ctl/audit-verify.c: audit_log_parse_line(), the parser of one shipped
 * JSON line, and audit_verify_log(), which reads a whole file of them. The
 * shipped log is untrusted input by design (anyone who can write the log
 * host's disk can write it).
 *
 * The whole input is parsed as one line; then it is verified as a file read
 * from memory, as a rotated file (allow_partial) when it starts with a
 * blank line. The verifying key is taken from the first checkpoint line
 * that parses, so a real shipped log in the corpus (tests/fuzz/corpus/
 * auditlog) passes, and its mutations reach the checks behind a good
 * signature. The target aborts when a result is not one of the documented
 * ones or a report contradicts itself.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ctl/audit-verify.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}

static void check_entry(const struct audit_log_entry *e)
{
	const char *const texts[] = { e->principal, e->role, e->method, e->ids,
				      e->fields, e->result, e->error, e->alert };

	if (e->seq < 1)
		abort();
	if (e->type == AUDIT_LOG_CHECKPOINT) {
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			if (texts[i] != NULL)
				abort();
	} else if (e->type == AUDIT_LOG_RECORD) {
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			if (texts[i] == NULL)
				abort();
	} else {
		abort();
	}
}

/* The public key of the first checkpoint line that parses, if any. */
static int find_pubkey(const uint8_t *data, size_t size, unsigned char pk[32])
{
	const uint8_t *p = data, *end = data + size;

	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		struct audit_log_entry e;

		if (audit_log_parse_line((const char *)p, n, &e, NULL) == 0) {
			int found = e.type == AUDIT_LOG_CHECKPOINT;

			if (found)
				memcpy(pk, e.pubkey, 32);
			audit_log_entry_clear(&e);
			if (found)
				return 1;
		}
		p += n + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_verify_opts opts = { 0 };
	struct audit_verify_report rep;
	struct audit_log_entry e;
	unsigned char pk[32] = { 0 };
	const char *why = NULL;
	FILE *f;
	int r;

	r = audit_log_parse_line((const char *)data, size, &e, &why);
	if (r == 0) {
		check_entry(&e);
		audit_log_entry_clear(&e);
	} else if (r != -EBADMSG || why == NULL) {
		abort();
	}

	if (size == 0)
		return 0;       /* fmemopen refuses an empty buffer */
	(void)find_pubkey(data, size, pk);
	f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	/* A leading blank line (which the verifier skips) asks for a rotated file's rules. */
	opts.allow_partial = data[0] == '\n';
	r = audit_verify_log_opts(f, pk, &opts, &rep);
	fclose(f);
	if (r != 0)
		abort();        /* reading memory cannot fail; no allocation is that big */
	if (rep.ok != (rep.problem == AUDIT_VERIFY_OK) ||
	    (rep.ok && (rep.records < 1 || rep.first_seq < 1 || rep.last_seq < rep.first_seq ||
			rep.unsigned_tail < 0 || rep.unsigned_tail > rep.records)) ||
	    (!rep.ok && rep.reason[0] == '\0') ||
	    memchr(rep.reason, '\0', sizeof(rep.reason)) == NULL ||
	    audit_verify_problem_name(rep.problem) == NULL)
		abort();
	return 0;
}
