-- `herald why` and the explain API find an alert by its Request-ID, Sentry event id or issue id
-- (AdminStore::find_alert); without these each lookup would read every stored alert.
CREATE INDEX alerts_request_id ON alerts (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX alerts_event_id ON alerts ((alert ->> 'event_id'));
CREATE INDEX alerts_issue_id ON alerts ((alert ->> 'issue_id'));
