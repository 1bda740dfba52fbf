-- herald's durable state: every accepted alert and one delivery row per (alert, route, sink).
-- Times are Unix milliseconds (INTEGER) so that "due" and "lease expired" are plain integer
-- comparisons that the indexes below can serve.

CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,      -- UUID v7, sortable by creation time
    source      TEXT NOT NULL,         -- configured source name (`sentry`)
    request_id  TEXT,                  -- the source's delivery id (Sentry's Request-ID), if any
    received_at INTEGER NOT NULL,
    alert       TEXT NOT NULL,         -- Alert::to_json()
    raw         TEXT NOT NULL          -- the request body as received
);

-- A webhook sent twice with the same Request-ID is stored once. NULLs never collide, so
-- alerts without a request id are always new.
CREATE UNIQUE INDEX alerts_source_request_id ON alerts (source, request_id);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,  -- UUID v7; the idempotency key sent to the sink
    alert_id        TEXT NOT NULL REFERENCES alerts (id),
    route           TEXT NOT NULL,
    sink            TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    receipt         TEXT,              -- herald_core::Receipt as JSON, once delivered
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Partial indexes: workers only ever scan the small set of live rows, never the history.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_alert ON deliveries (alert_id);
