/*
 * shipper.h: the audit shipper. One thread copies every committed audit
 * record and checkpoint, in order, to syslog-ng over a Unix stream socket,
 * from a cursor persisted in the database (audit_ship), so that an outage
 * of syslog-ng delays the copy but loses nothing.
 *
 * The shipper only reads the audit trail (on its own database connection,
 * see store-ship.h) and never blocks a request: the writer's only calls
 * are shipper_kick() and shipper_position(), and the writer stores the
 * cursor in its own batches. It never calls eventlog's evt_log() (which
 * loses messages silently and blocks), never logs a record's contents,
 * only counts and errors.
 *
 * Wire format (see scripts/syslog-ng/roster.conf, which parses it): one
 * RFC 5424 message per line, newline-terminated (syslog-ng's unix-stream
 * source reads lines, also with flags(syslog-protocol); octet counting is
 * not understood there):
 *
 *   <PRI>1 TIMESTAMP HOSTNAME rosterd PID MSGID - MSG
 *
 * facility authpriv; severity info, or alert for a record with an alert;
 * MSGID AUDIT, CHECKPOINT, or the alert id; TIMESTAMP the record's own time
 * (UTC, microseconds); MSG eventlog's evt_format() of the fields of
 * doc/audit-format.md plus type=record|checkpoint, binary values in
 * lower-case hex and text values percent-encoded (SHIP_SAFE_BYTE below),
 * so that no value can end a quoted string or hide behind an escape.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon/keys.h"

/*
 * Text bytes that go out as they are; every other byte (controls, DEL,
 * non-ASCII, and % ' " \) goes out as %HH with upper-case hex. The
 * offline verifier decodes the same way (ctl/audit-verify.c).
 */
#define SHIP_SAFE_BYTE(c) ((c) >= 0x20 && (c) <= 0x7e && (c) != '%' && (c) != '\'' && \
			   (c) != '"' && (c) != '\\')

/*
 * The largest message sent. roster.conf's log-msg-size() must be at least
 * this; a longer record is still sent (and syslog-ng splits it, which the
 * verifier reports at that record), with an error logged.
 */
#define SHIP_MSG_MAX (16 * 1024 * 1024)

/*
 * After every (re)connection the shipper resends this many records from
 * before its cursor: messages syslog-ng had read but not yet written when
 * it died are gone. Its flow-control window (log-iw-size divided by
 * max-connections in roster.conf, 1000) bounds how many it holds, plus what
 * it had already read into its buffer past a full window: up to one of
 * our batches (SHIP_BATCH_ROWS, 500; 999 to 1,009 were seen lost with a
 * window of 1000, so a rewind of exactly the window lost records). The
 * verifier accepts identical re-deliveries.
 */
#define SHIP_REWIND 2000

struct shipper;

/*
 * Open a database connection of its own to db_path with the DEK in k (not
 * kept: k may be freed once this returns) and start the shipper thread,
 * which delivers to the Unix stream socket at syslog_socket (copied). A
 * missing or dead socket is not an error here: the thread retries with
 * backoff. Returns 0 and *ret (shipper_stop() frees it), or -EINVAL (no
 * syslog_socket), -ENAMETOOLONG (too long for a socket address), an error
 * of store_ship_open(), or another negative errno.
 */
int shipper_start(struct shipper **ret, const char *db_path, const struct keys *k,
		  const char *syslog_socket);

/*
 * New records or checkpoints were committed. Never blocks; callable from
 * any thread (one eventfd write). shipper_kick(NULL) does nothing.
 */
void shipper_kick(struct shipper *s);

/*
 * Stop the thread (abandoning a write that syslog-ng does not take; it is
 * resent from the cursor next time), close the connection and the database
 * and free s. shipper_stop(NULL) does nothing.
 */
void shipper_stop(struct shipper *s);

/*
 * The last record delivered (the cursor, which the audit writer stores),
 * the last record committed as the shipper last saw it, and whether it is
 * connected to syslog-ng now. Any ret_ may be NULL; shipper_status(NULL,
 * ...) leaves them all untouched. Callable from any thread.
 */
void shipper_status(struct shipper *s, int64_t *ret_shipped_seq, int64_t *ret_head_seq,
		    bool *ret_connected);

/*
 * The last record and checkpoint delivered, for the audit writer to store
 * as the cursor (an audit_ship_cursor_fn, hence the void *: a struct
 * shipper). While it runs the shipper commits nothing to the database
 * itself; shipper_stop() stores what the writer has not.
 */
void shipper_position(void *shipper, int64_t *ret_record_seq, int64_t *ret_checkpoint_seq);
