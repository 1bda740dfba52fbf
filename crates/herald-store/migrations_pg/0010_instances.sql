-- The herald instances sharing this database, one row each while it runs: the id written as
-- `deliveries.lease_holder` on the leases it takes, and, for the people looking at the table,
-- where it runs and when it was last heard of. An instance refreshes `last_seen` every few
-- seconds and deletes its row when it stops; a row left by an instance that died is deleted
-- by the others a day later. Leases do not depend on this table: they expire on their own.
CREATE TABLE instances (
    id         TEXT COLLATE "C" PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);
