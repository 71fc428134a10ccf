/*
 * store-internal.h: for the files that touch SQLCipher (store.c and
 * store-ship.c) and no others. One function opens and keys a connection,
 * so the checks that keep the file encrypted exist exactly once.
 */
#pragma once

#include <stddef.h>
#include <sqlcipher/sqlite3.h>

#include "daemon/keys.h"

/*
 * Open path (SQLITE_OPEN_READWRITE, plus flags), set a busy timeout, key it
 * with the raw DEK, refuse unless SQLCipher answers "PRAGMA cipher_version"
 * (plain SQLite would silently write plaintext), set the page size (it is
 * not stored in the file) and make the first read, which is where a wrong
 * key shows. who names the caller in log lines. Returns 0 with *ret_db and
 * the cipher version in cipher_version; -EACCES (the key does not open
 * it), -ENOTSUP (not SQLCipher), -EIO or -ENOMEM, with *ret_db untouched.
 */
int store_connect(const char *path, const struct keys *k, int flags, const char *who,
		  sqlite3 **ret_db, char *cipher_version, size_t cvlen);

/*
 * Run a one-row, one-column query and copy its text into buf (size bytes).
 * Returns 1 if a row came, 0 if none; *ret_rc (may be NULL) gets the
 * SQLite result, SQLITE_OK when the query ran.
 */
int store_query_text(sqlite3 *db, const char *sql, char *buf, size_t size, int *ret_rc);

/*
 * Move the shipper's cursor forward to ?1 (record) and ?2 (checkpoint):
 * the audit writer runs it in its batches, the shipper when it stops.
 * max(): the cursor never moves back, whatever a caller passes.
 */
#define STORE_SHIP_ADVANCE_SQL "UPDATE audit_ship SET record_seq = max(record_seq, ?1), " \
			       "checkpoint_seq = max(checkpoint_seq, ?2) WHERE id = 1"
