-- The channel herald asked for when it posted an issue's first Slack message (as configured or
-- rendered, `#alerts-payments`), beside the channel id Slack answered with. A later event
-- replies in the thread only when it goes to that same channel. Threads kept before this
-- have none, so their issues' next events start a new thread.
ALTER TABLE slack_threads ADD COLUMN destination TEXT NOT NULL DEFAULT '';
