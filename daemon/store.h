/*
 * store.h: the encrypted database. The only module that touches SQLCipher.
 *
 * The database is opened with the raw data key (never a passphrase), page
 * size 4096, WAL, synchronous=FULL, foreign keys, secure_delete and
 * in-memory temporary storage (so no unencrypted temporary file is ever
 * written). store_open() refuses to continue unless SQLCipher answers
 * "PRAGMA cipher_version": linked against plain SQLite, PRAGMA key is a
 * silent no-op and the file would be plaintext.
 *
 * Client records cross this interface as jansson objects already validated
 * by validate.c. The store never logs a field value and never sees a
 * passphrase. Every statement is prepared once at open time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "daemon/keys.h"
#include "daemon/util.h"

#define STORE_FILE "roster.db"

struct store;

/*
 * Open (creating if needed) the database at path with the DEK in k, check
 * that it is encrypted and that the key opens it, and apply any pending
 * migrations. Returns 0 and *ret, or -EACCES (the key does not open the
 * file), -ENOTSUP (not linked against SQLCipher), -EPROTO (the database is
 * from a newer rosterd), -EIO.
 */
int store_open(const char *path, const struct keys *k, struct store **ret);

/* Close the database and free s. store_close(NULL) does nothing. */
void store_close(struct store *s);

/* SQLCipher's version string (owned by s). */
const char *store_cipher_version(const struct store *s);

/* Highest migration applied. */
int store_schema_version(const struct store *s);

int store_client_count(struct store *s, int64_t *ret);

/* Returns 0 and a new object in *ret, -ENOENT, or -EIO. */
int store_client_get(struct store *s, const char *id, json_t **ret);

/* Clients whose name contains query (ASCII case-insensitive), by name. */
int store_client_search(struct store *s, const char *query, int limit, json_t **ret_array);

/*
 * Up to limit clients with ids greater than after (NULL: from the start),
 * in id order. *ret_more is set when more clients follow.
 */
int store_client_list(struct store *s, const char *after, int limit,
		      json_t **ret_array, bool *ret_more);

/* Insert a validated ClientInput; writes the new id into ret_id. */
int store_client_create(struct store *s, const json_t *input, char ret_id[ID_HEX_LEN + 1]);

/*
 * Apply validated changes if the record is at version. Returns 0 and the
 * new version in *ret_version; -ENOENT; -ESTALE with the current version in
 * *ret_version; or -EIO.
 */
int store_client_update(struct store *s, const char *id, const json_t *changes,
			int64_t version, int64_t *ret_version);

/* Returns 0, -ENOENT or -EIO. */
int store_client_delete(struct store *s, const char *id);
