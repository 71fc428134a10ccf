-- Principals and roles. Capabilities and field classes are stored by name
-- (space-separated), never as bit positions, so the meaning of a row does
-- not depend on the order of an enum in some build of rosterd.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE roles (
  name          TEXT PRIMARY KEY NOT NULL,
  builtin       INTEGER NOT NULL DEFAULT 0,
  capabilities  TEXT NOT NULL,
  fields        TEXT NOT NULL,
  quota_n       INTEGER,            -- distinct records per window; NULL: none
  quota_window  INTEGER,            -- seconds
  lock_on_quota INTEGER NOT NULL DEFAULT 1,
  changed_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE principals (
  name          TEXT PRIMARY KEY NOT NULL,
  uid           INTEGER NOT NULL,
  role          TEXT NOT NULL REFERENCES roles (name),
  token_hash    BLOB,               -- keyed BLAKE2b-256 of the token; NULL: no token
  token_expires INTEGER,            -- microseconds since the epoch; NULL: never
  locked        INTEGER NOT NULL DEFAULT 0,
  locked_reason TEXT,
  last_seen     INTEGER,
  created_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX principals_uid ON principals (uid);

INSERT INTO roles (name, builtin, capabilities, fields, changed_at) VALUES
  ('admin', 1,
   'clients.get clients.search clients.list clients.create clients.update clients.delete clients.export audit.read audit.verify admin.principals admin.keys admin.backup admin.seal',
   'identity contact commercial internal', CAST(strftime('%s', 'now') AS INTEGER) * 1000000),
  ('auditor', 1, 'audit.read audit.verify', '',
   CAST(strftime('%s', 'now') AS INTEGER) * 1000000),
  ('service', 1, 'clients.get', 'identity',
   CAST(strftime('%s', 'now') AS INTEGER) * 1000000),
  ('support', 1, 'clients.get clients.search', 'identity contact',
   CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
