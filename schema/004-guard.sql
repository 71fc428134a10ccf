-- Guard (breach containment): id-guessing limits per role, and canary
-- clients. A canary looks like any client to everyone but an admin listing
-- canaries; reading one raises an alert.
ALTER TABLE roles ADD COLUMN guess_n INTEGER NOT NULL DEFAULT 20;
ALTER TABLE roles ADD COLUMN guess_window INTEGER NOT NULL DEFAULT 600;
ALTER TABLE clients ADD COLUMN canary INTEGER NOT NULL DEFAULT 0;
CREATE INDEX clients_canary ON clients (canary) WHERE canary = 1;
-- When an admin last unlocked (or reset) the principal: guard counts start
-- again from here, so an unlock gives a fresh window.
ALTER TABLE principals ADD COLUMN guard_reset INTEGER NOT NULL DEFAULT 0;
