-- One row that readiness checks rewrite after a failed commit (disk full, read-only file),
-- to learn whether the store can write again without waiting for the next alert.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
