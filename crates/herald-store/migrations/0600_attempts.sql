-- Every attempt of every delivery, written in the same transaction as the outcome it led to,
-- so a delivery that succeeded after retries keeps its earlier errors here (its last_error is
-- cleared) and an operator sees each attempt: when, how it ended, the provider's status (NULL
-- for a network cause or a timeout), its error and how long it took. Retention deletes an
-- alert's attempts with its deliveries.
-- No foreign key: a delivery that failed before the noise stage held it back (a silence made
-- between two attempts) leaves `deliveries` for `held_back` under the same id, and its
-- attempts stay its history there.
-- `number` counts a delivery's attempts from 1; the primary key is also the index a
-- delivery's history is read through, and WITHOUT ROWID keeps a delivery's attempts together
-- in it.
CREATE TABLE attempts (
    delivery_id TEXT NOT NULL,
    number      INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'retried', 'dead')),
    status      INTEGER,
    error       TEXT,
    latency_ms  INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
