/*
 * audit-verify.h: the offline check of a shipped audit log, the JSON lines
 * scripts/syslog-ng/roster.conf writes (one per record or checkpoint). It
 * needs no daemon and no secret: only the file and the audit public key.
 *
 * What it proves: every record's hash matches its fields and links to the
 * one before (doc/audit-format.md), sequence numbers run 1, 2, 3, ...
 * without a gap, and every checkpoint is signed by the given key and names
 * a record hash that is in the file. Edits, deletions, reordering, foreign
 * checkpoints and truncation before the last checkpoint are reported with
 * the first bad sequence number. Records after the last checkpoint are
 * chained but unsigned: whoever held the file could have altered, added or
 * cut them off unseen, so the report says how many there are (and a limit
 * can make them fail it); a log in which no checkpoint verifies proves
 * nothing about who wrote it, and fails.
 *
 * A shipper resends after reconnecting, so a record may appear again later
 * with the very same contents; such re-deliveries (within the last
 * AUDIT_VERIFY_WINDOW records) are counted and otherwise ignored. The same
 * sequence number with other contents is a problem.
 *
 * The file is untrusted input. Nothing read from it is ever printed: the
 * report names sequence numbers, line numbers and field names only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Longest line read (a record naming very many client ids is long). */
#define AUDIT_LOG_LINE_MAX (32 * 1024 * 1024)

/*
 * Recent records remembered (2.5 MiB) to recognise re-deliveries and check
 * checkpoints: more than a shipper resends after a reconnection
 * (SHIP_REWIND) or a crash (that, plus the shipping since the cursor was
 * last stored: at most AUDIT_SHIP_STORE_MS of it, about 6,000 records at
 * the catch-up rate measured on a 2-core machine, 23,000 a second).
 */
#ifndef AUDIT_VERIFY_WINDOW
/*
 * Overridable at compile time for the fuzz target only (scripts/fuzz builds
 * it with a window of 8): the 2.5 MiB allocation per input would cost most
 * of its time, and a small window lets short inputs reach the out-of-window
 * paths.
 */
#define AUDIT_VERIFY_WINDOW 65536
#endif

/* Checkpoints seen before their record, waiting for it. */
#define AUDIT_VERIFY_PENDING_MAX 16

enum audit_log_type {
	AUDIT_LOG_RECORD = 1,
	AUDIT_LOG_CHECKPOINT = 2,
};

/*
 * One parsed line. Text fields are decoded (percent-escapes undone) and
 * NUL-terminated; they never contain a NUL. For a checkpoint the record
 * fields are empty (NULL strings) and hash is the covered record's hash.
 */
struct audit_log_entry {
	enum audit_log_type type;
	int64_t seq;
	int64_t time_us;
	char *principal;
	int64_t uid;
	int64_t gid;
	int64_t pid;
	char *role;
	char *method;
	char *ids;
	char *fields;
	int64_t records;
	char *result;
	char *error;
	char *alert;
	unsigned char prev_hash[32];
	unsigned char hash[32];
	unsigned char pubkey[32];
	unsigned char sig[64];
	/* A key roll (a checkpoint with "next_pubkey"): the key it hands over to. */
	bool has_next_pubkey;
	unsigned char next_pubkey[32];
};

/*
 * Parse one line (without its newline; need not be NUL-terminated) of a
 * shipped log: a JSON object with "type" "record" or "checkpoint" and the
 * fields of doc/audit-format.md. Integers may be JSON integers or decimal
 * strings in canonical form (what syslog-ng writes); text fields are
 * percent-decoded; hashes, keys and signatures are lower-case hex; other
 * keys are ignored; duplicate keys are refused. Returns 0 and fills *ret
 * (free its strings with audit_log_entry_clear()), -EBADMSG with a static
 * description in *ret_why (which may be NULL), or -ENOMEM. *ret is
 * untouched on failure.
 */
int audit_log_parse_line(const char *line, size_t len, struct audit_log_entry *ret,
			 const char **ret_why);

/*
 * The hash a record's fields and prev_hash give (doc/audit-format.md),
 * whatever its "hash" field says. e must be a record, not a checkpoint.
 */
void audit_log_entry_hash(const struct audit_log_entry *e, unsigned char out[32]);

/* Free the strings of e and zero it. NULL does nothing. */
void audit_log_entry_clear(struct audit_log_entry *e);

enum audit_verify_problem {
	AUDIT_VERIFY_OK = 0,
	AUDIT_VERIFY_BAD_LINE,          /* not a well-formed audit line */
	AUDIT_VERIFY_EDITED,            /* a record's hash does not match its fields */
	AUDIT_VERIFY_BROKEN_LINK,       /* prev_hash is not the previous record's hash */
	AUDIT_VERIFY_MISSING,           /* a gap in the sequence: records deleted */
	AUDIT_VERIFY_REORDERED,         /* a record or checkpoint out of place */
	AUDIT_VERIFY_DUPLICATE,         /* one seq with two different contents */
	AUDIT_VERIFY_WRONG_KEY,         /* a checkpoint from another key */
	AUDIT_VERIFY_BAD_SIGNATURE,     /* a checkpoint's signature does not verify */
	AUDIT_VERIFY_CHECKPOINT_MISMATCH, /* a checkpoint names another hash than its record's */
	AUDIT_VERIFY_TRUNCATED,         /* records a checkpoint covers are missing at the end */
	AUDIT_VERIFY_HEAD_MISSING,      /* the log does not start at seq 1 */
	AUDIT_VERIFY_EMPTY,             /* no record at all */
	AUDIT_VERIFY_UNSIGNED,          /* no checkpoint verified, or a longer unsigned tail than allowed */
};

struct audit_verify_opts {
	/*
	 * Accept a log that starts after seq 1 (a rotated file): its first
	 * record's prev_hash is then taken as given.
	 */
	bool allow_partial;
	/*
	 * Fail if more than max_unsigned records follow the last verified
	 * checkpoint (when limit_unsigned): records no signature covers could
	 * have been altered, added or cut off by whoever held the file.
	 */
	bool limit_unsigned;
	int64_t max_unsigned;
};

struct audit_verify_report {
	bool ok;
	enum audit_verify_problem problem;
	int64_t first_bad_seq;          /* the first bad record's seq; 0 if ok or unknown */
	int64_t bad_line;               /* its line in the file (from 1); 0 if none */
	char reason[256];               /* one sentence; "" if ok */
	int64_t lines;                  /* non-empty lines read */
	int64_t records;                /* distinct records verified */
	int64_t checkpoints;            /* distinct checkpoints verified */
	int64_t redelivered;            /* identical re-deliveries ignored */
	int64_t first_seq, last_seq;    /* of the records verified; 0 if none */
	int64_t last_checkpoint_seq;    /* of the last checkpoint verified; 0 if none */
	int64_t unsigned_tail;          /* records after it (all of them if none) */
	int keys_unseen;                /* keys given that sign nothing in the file */
};

/*
 * Verify the shipped log read from log (to its end, or to the first
 * problem) against the audit public key. Returns 0 with the verdict in
 * *ret (ret->ok), or a negative errno if the check could not be made
 * (-EIO reading, -ENOMEM); *ret is untouched then. opts may be NULL.
 */
int audit_verify_log(FILE *log, const unsigned char pubkey[32], struct audit_verify_report *ret);
int audit_verify_log_opts(FILE *log, const unsigned char pubkey[32],
			  const struct audit_verify_opts *opts, struct audit_verify_report *ret);

/*
 * The same with n_keys trusted keys (at most AUDIT_PUBKEYS_MAX). A
 * checkpoint must be signed by a trusted key; a key roll signed by one
 * makes the key it names trusted from there on, so the registry's first
 * key alone verifies a log across every audit-key rotation.
 */
#define AUDIT_PUBKEYS_MAX 32
int audit_verify_log_keys(FILE *log, const unsigned char (*keys)[32], size_t n_keys,
			  const struct audit_verify_opts *opts, struct audit_verify_report *ret);

/*
 * Records of a shipped log one by one, in file order, for a caller that
 * compares them with another copy (rosterctl audit report). Set f and zero
 * the rest; free with audit_log_reader_clear() (which leaves f open).
 * Checkpoints are passed over; lines that do not parse (or are longer than
 * AUDIT_LOG_LINE_MAX) are counted in skipped and passed over, since
 * audit_verify_log() is what judges them.
 */
struct audit_log_reader {
	FILE *f;
	char *line;
	size_t line_cap;
	int64_t line_no;                /* lines read so far */
	int64_t skipped;                /* lines passed over as unreadable */
};

/*
 * The next record: returns 1 and *ret (free with audit_log_entry_clear()),
 * 0 at the end of the file, -EIO or -ENOMEM.
 */
int audit_log_next_record(struct audit_log_reader *r, struct audit_log_entry *ret);

/* Free r's buffer; NULL does nothing. */
void audit_log_reader_clear(struct audit_log_reader *r);

/* A short stable name for a problem ("edited", "missing", ...; "ok"). */
const char *audit_verify_problem_name(enum audit_verify_problem p);

/* Print the report for people: the verdict first, then the counts and caveats. */
void audit_verify_print(FILE *f, const struct audit_verify_report *r);

/* The report as a new JSON object (NULL without memory); caller json_decref()s it. */
json_t *audit_verify_report_json(const struct audit_verify_report *r);

/*
 * Read an audit public key: 64 hex digits, as `rosterctl audit pubkey`
 * prints them, with surrounding white space allowed and nothing else.
 * Returns 0 and ret, or -EINVAL; ret untouched on failure.
 */
int audit_pubkey_parse(const char *text, unsigned char ret[32]);

/* The same from a file (at most 1 KiB read). Returns 0, -EINVAL or -errno. */
int audit_pubkey_load(const char *path, unsigned char ret[32]);

/*
 * Read one or more keys, one per line (`rosterctl audit pubkey --all`
 * prints them so), at most max and AUDIT_PUBKEYS_MAX. Returns 0 with the
 * keys in ret and their number in *ret_n, -EINVAL (a line that is not a
 * key, too many, or none) or -errno.
 */
int audit_pubkeys_load(const char *path, unsigned char (*ret)[32], size_t max, size_t *ret_n);

/*
 * fopen(path, "re") for a shipped log or a key file; NULL with errno set.
 * A directory is refused here with EISDIR: fopen() takes one, and reading
 * it later fails with nothing better than an I/O error.
 */
FILE *audit_file_open(const char *path);
