-- The client registry. Ids are random (see store.c); time columns are
-- microseconds since the Unix epoch, UTC.
CREATE TABLE clients (
  id            TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 32),
  name          TEXT NOT NULL,
  kind          TEXT NOT NULL,
  country       TEXT,
  contact_name  TEXT,
  contact_email TEXT,
  contact_phone TEXT,
  tier          TEXT,
  notes         TEXT,
  status        TEXT NOT NULL DEFAULT 'active',
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  version       INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;

CREATE INDEX clients_name ON clients (name COLLATE NOCASE);
