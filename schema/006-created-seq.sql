-- The audit record that created a client. "Which records name client X"
-- (audit_ids) then needs no row for the record that created X, and a bulk
-- import writes no audit_ids row per new client: each was a random page of
-- that index, encrypted at every commit. When X is deleted, the value
-- moves to audit_ids (store.c), so the answer outlives the client. NULL for
-- clients created before this migration, whose creation has its audit_ids
-- row.
ALTER TABLE clients ADD COLUMN created_seq INTEGER;
