-- `herald why ID` (GET /api/v1/alerts/{id}/explain) looks an alert up by whichever id the
-- operator has: herald's own (the primary key), the webhook's Request-ID, or Sentry's event or
-- issue id, which live inside the stored alert JSON. Without these indexes each of the last
-- three would read every alert. The expressions must stay exactly as the queries write them
-- (sqlite/admin.rs) for SQLite to use them. An index entry's rowid follows insertion order,
-- so "the most recent alert of this issue" is the last entry, read without sorting.
CREATE INDEX alerts_request_id ON alerts (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX alerts_event_id ON alerts (json_extract(alert, '$.event_id'));
CREATE INDEX alerts_issue_id ON alerts (json_extract(alert, '$.issue_id'));
