-- "Which records name client X" without an index row per record: the trail
-- is cut into blocks of consecutive records, and each closed block keeps a
-- Bloom filter of the ids its records name (daemon/idfilter.h,
-- doc/audit-format.md). The writer closes a block in the transaction of its
-- last record, so filters and records never disagree. audit_ids keeps the
-- rows written before this migration, and those of deleted clients' creating
-- records (store_client_delete()); no new record adds a row.
CREATE TABLE audit_idfilters (
  last_seq  INTEGER PRIMARY KEY NOT NULL,  -- the block's last record
  first_seq INTEGER NOT NULL,              -- its first
  bits      BLOB NOT NULL                  -- the filter; empty: covered by audit_ids
);
-- The records written before: one block whose empty filter names nothing,
-- since audit_ids already indexes them.
INSERT INTO audit_idfilters (last_seq, first_seq, bits)
  SELECT seq, 1, x'' FROM audit ORDER BY seq DESC LIMIT 1;
