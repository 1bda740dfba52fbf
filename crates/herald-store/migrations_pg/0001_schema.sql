-- herald's schema on PostgreSQL: the same tables as SQLite's migrations end with, written for
-- a server several herald instances share. Times are Unix milliseconds (BIGINT); every
-- integer is BIGINT so each reads back as Rust's i64. Ids are UUID v7 text compared bytewise
-- (COLLATE "C"), so newest-first paging orders them by creation time whatever the database's
-- locale.

CREATE TABLE alerts (
    id          TEXT COLLATE "C" PRIMARY KEY,
    source      TEXT NOT NULL,
    request_id  TEXT,
    endpoint    TEXT,               -- platform or legacy
    body_sha256 TEXT,               -- hex SHA-256 of raw
    received_at BIGINT NOT NULL,
    alert       JSONB NOT NULL,     -- Alert::to_json()
    raw         TEXT NOT NULL       -- the request body as received
);
-- A Request-ID deduplicates per source, endpoint and body. NULLs never collide, so alerts
-- without a request id are always new. Two instances inserting the same key at once: the
-- second waits for the first's commit and then stores nothing.
CREATE UNIQUE INDEX alerts_request_key ON alerts (source, endpoint, request_id, body_sha256);
-- Retention walks alerts oldest first.
CREATE INDEX alerts_received ON alerts (received_at, id);

CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    alert_id        TEXT COLLATE "C" NOT NULL REFERENCES alerts (id),
    route           TEXT NOT NULL,
    sink            TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- A lease: who holds the delivery (the store instance that leased it) and until when.
    -- Anyone may take it again once lease_until has passed; the holder lets an instance
    -- give back at start only the leases it held itself.
    lease_until     BIGINT,
    lease_holder    TEXT,
    last_error      TEXT,
    receipt         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_alert ON deliveries (alert_id);
CREATE INDEX deliveries_holder ON deliveries (lease_holder) WHERE status = 'in_flight';

CREATE TABLE noise_dedup (
    route      TEXT NOT NULL,
    sink       TEXT NOT NULL,
    key        TEXT NOT NULL,
    expires_at BIGINT,
    suppressed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (route, sink, key)
);

CREATE TABLE noise_windows (
    route        TEXT NOT NULL,
    sink         TEXT NOT NULL,
    window_start BIGINT,
    sent         BIGINT NOT NULL DEFAULT 0,
    carrier      TEXT,
    PRIMARY KEY (route, sink)
);

CREATE TABLE noise_groups (
    route        TEXT NOT NULL,
    sink         TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    lead         TEXT,
    release_at   BIGINT,
    last_sent_at BIGINT,
    PRIMARY KEY (route, sink, group_key)
);

CREATE TABLE noise_sends (
    delivery_id TEXT COLLATE "C" PRIMARY KEY,
    folded      BIGINT NOT NULL,
    decided_at  BIGINT NOT NULL
);

CREATE TABLE held_back (
    delivery_id TEXT COLLATE "C" PRIMARY KEY,
    alert_id    TEXT COLLATE "C" NOT NULL REFERENCES alerts (id),
    route       TEXT NOT NULL,
    sink        TEXT NOT NULL,
    outcome     TEXT NOT NULL
                CHECK (outcome IN ('silenced', 'muted', 'duplicate', 'digest', 'throttled')),
    detail      TEXT,
    reason      TEXT NOT NULL,
    folded_into TEXT COLLATE "C",
    created_at  BIGINT NOT NULL,
    decided_at  BIGINT NOT NULL
);
CREATE INDEX held_back_folded_into ON held_back (folded_into) WHERE folded_into IS NOT NULL;
CREATE INDEX held_back_alert ON held_back (alert_id);

CREATE TABLE silences (
    id         TEXT COLLATE "C" PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    author     TEXT NOT NULL,
    comment    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expired_at BIGINT
);

CREATE TABLE slack_threads (
    sink        TEXT NOT NULL,
    issue_id    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    destination TEXT NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (sink, issue_id)
);
