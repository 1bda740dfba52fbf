-- The issues of sources that group events themselves (the SDK source): first and last seen
-- and how many events, per source and issue id. One upsert per event tells whether it was the
-- issue's first (`events` = 1 after it), which decides the alert's `action: created`; the
-- row lock of ON CONFLICT makes two instances agree on which event that was.
CREATE TABLE issues (
    source     TEXT NOT NULL,
    issue_id   TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    events     BIGINT NOT NULL,
    PRIMARY KEY (source, issue_id)
);
