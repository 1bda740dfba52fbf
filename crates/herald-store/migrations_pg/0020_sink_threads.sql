-- Conversations are a sink capability, not Slack's alone: one table for every sink that
-- threads, keyed by (sink, key) where the key is the issue id, with the sink's own opaque
-- reference. The Slack threads kept so far move over, their channel id and `ts` written as the
-- JSON reference the Slack sink reads (`{"channel": ..., "ts": ...}`).
CREATE TABLE sink_threads (
    sink        TEXT NOT NULL,
    thread_key  TEXT NOT NULL,
    reference   TEXT NOT NULL,
    destination TEXT NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (sink, thread_key)
);

INSERT INTO sink_threads (sink, thread_key, reference, destination, updated_at)
SELECT sink, issue_id, json_build_object('channel', channel, 'ts', ts)::text, destination, updated_at
FROM slack_threads;

DROP TABLE slack_threads;
