-- The flood guard (herald_core::flood): a delivery over its sink's limit of messages a minute
-- is kept in `held_back` with the outcome `flooded` and the summary that names or counts it.
-- SQLite cannot change a CHECK constraint in place, so the table is copied into a new one.
CREATE TABLE held_back_new (
    delivery_id TEXT PRIMARY KEY,
    alert_id    TEXT NOT NULL REFERENCES alerts (id),
    route       TEXT NOT NULL,
    sink        TEXT NOT NULL,
    outcome     TEXT NOT NULL
                CHECK (outcome IN ('silenced', 'muted', 'duplicate', 'digest', 'throttled', 'flooded')),
    detail      TEXT,              -- the silence id or the interval name
    reason      TEXT NOT NULL,
    folded_into TEXT,
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER NOT NULL
);
INSERT INTO held_back_new SELECT delivery_id, alert_id, route, sink, outcome, detail, reason,
    folded_into, created_at, decided_at FROM held_back;
DROP TABLE held_back;
ALTER TABLE held_back_new RENAME TO held_back;
CREATE INDEX held_back_folded_into ON held_back (folded_into) WHERE folded_into IS NOT NULL;
CREATE INDEX held_back_alert ON held_back (alert_id);
