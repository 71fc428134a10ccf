-- The audit trail: one row per call, hash-chained (see doc/audit-format.md),
-- checkpoints signed with the audit key, and the shipping cursor.
CREATE TABLE audit (
  seq       INTEGER PRIMARY KEY NOT NULL,  -- 1, 2, 3, ... without gaps
  time_us   INTEGER NOT NULL,              -- microseconds since the epoch, UTC
  principal TEXT NOT NULL,                 -- 'unknown' when the caller is none
  uid       INTEGER NOT NULL,
  gid       INTEGER NOT NULL,
  pid       INTEGER NOT NULL,
  role      TEXT NOT NULL,                 -- '' when none
  method    TEXT NOT NULL,
  ids       TEXT NOT NULL,                 -- client ids touched, space-separated
  fields    TEXT NOT NULL,                 -- field classes disclosed, space-separated
  records   INTEGER NOT NULL,              -- client records returned
  result    TEXT NOT NULL,                 -- ok denied not_found invalid error locked
  error     TEXT NOT NULL,                 -- the Varlink error name, '' when ok
  alert     TEXT NOT NULL,                 -- alert id (CANARY, QUOTA, ...), '' when none
  prev_hash BLOB NOT NULL,
  hash      BLOB NOT NULL
);

-- "Who saw client X" without scanning every record.
CREATE TABLE audit_ids (
  client_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;

CREATE INDEX audit_principal ON audit (principal, seq);
CREATE INDEX audit_time ON audit (time_us);

CREATE TABLE audit_checkpoints (
  seq     INTEGER PRIMARY KEY NOT NULL,    -- the last record it covers
  time_us INTEGER NOT NULL,
  hash    BLOB NOT NULL,                   -- that record's hash
  pubkey  BLOB NOT NULL,                   -- the Ed25519 key that signed it
  sig     BLOB NOT NULL
);

-- How far the shipper has delivered to syslog-ng.
CREATE TABLE audit_ship (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  record_seq     INTEGER NOT NULL,
  checkpoint_seq INTEGER NOT NULL
);
INSERT INTO audit_ship (id, record_seq, checkpoint_seq) VALUES (1, 0, 0);
