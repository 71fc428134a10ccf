-- Audit-key rotation: a checkpoint that carries next_pubkey is a key roll,
-- signed by the key being retired over the keyroll message (doc/audit-format.md),
-- naming the key that signs every later checkpoint. NULL for other checkpoints.
ALTER TABLE audit_checkpoints ADD COLUMN next_pubkey BLOB;
