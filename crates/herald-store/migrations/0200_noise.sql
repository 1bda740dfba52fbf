-- Noise control state (herald_core::noise): dedup entries, throttle windows, digest buffers,
-- the record of every delivery held back instead of sent on its own, silences, and the Slack
-- messages later events of an issue thread under. All of it lives here so that a restart
-- loses neither a buffered digest nor a silence. Times are Unix milliseconds.

-- One entry per (route, sink, "issue_id:action"): sent until expires_at, duplicates counted.
CREATE TABLE noise_dedup (
    route      TEXT NOT NULL,
    sink       TEXT NOT NULL,
    key        TEXT NOT NULL,
    expires_at INTEGER,
    suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (route, sink, key)
) WITHOUT ROWID;

-- The current throttle window of a (route, sink) and the held delivery that carries the count
-- of what the window turned away.
CREATE TABLE noise_windows (
    route        TEXT NOT NULL,
    sink         TEXT NOT NULL,
    window_start INTEGER,
    sent         INTEGER NOT NULL DEFAULT 0,
    carrier      TEXT,
    PRIMARY KEY (route, sink)
) WITHOUT ROWID;

-- The digest of a (route, sink, group): the held lead delivery whose message lists the group.
CREATE TABLE noise_groups (
    route        TEXT NOT NULL,
    sink         TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    lead         TEXT,
    release_at   INTEGER,
    last_sent_at INTEGER,
    PRIMARY KEY (route, sink, group_key)
) WITHOUT ROWID;

-- Deliveries the noise stage let through, so a retry of one is not decided a second time.
CREATE TABLE noise_sends (
    delivery_id TEXT PRIMARY KEY,
    folded      INTEGER NOT NULL,
    decided_at  INTEGER NOT NULL
);

-- Every delivery not sent on its own: the row leaves `deliveries` and is kept here with why
-- (outcome silenced, muted, duplicate, digest or throttled) and, for digest and throttled,
-- the delivery whose message lists or counts it.
CREATE TABLE held_back (
    delivery_id TEXT PRIMARY KEY,
    alert_id    TEXT NOT NULL REFERENCES alerts (id),
    route       TEXT NOT NULL,
    sink        TEXT NOT NULL,
    outcome     TEXT NOT NULL
                CHECK (outcome IN ('silenced', 'muted', 'duplicate', 'digest', 'throttled')),
    detail      TEXT,              -- the silence id or the interval name
    reason      TEXT NOT NULL,
    folded_into TEXT,
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER NOT NULL
);
CREATE INDEX held_back_folded_into ON held_back (folded_into) WHERE folded_into IS NOT NULL;

CREATE TABLE silences (
    id         TEXT PRIMARY KEY,   -- UUID v7
    matchers   TEXT NOT NULL,      -- a route's `match` as JSON
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    author     TEXT NOT NULL,
    comment    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expired_at INTEGER             -- set when expired by hand before ends_at
);

-- The first Slack message of a Sentry issue per sink, which later events update and reply to.
CREATE TABLE slack_threads (
    sink       TEXT NOT NULL,
    issue_id   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sink, issue_id)
) WITHOUT ROWID;
