-- A Request-ID deduplicates only within one source's endpoint (each has its own credential)
-- and only for the same body: whoever can reach one endpoint must not be able to suppress
-- alerts sent through the other, or a later alert, by sending its Request-ID first. Rows from
-- before have no endpoint or hash (SQLite cannot hash in SQL); NULLs never collide, so such a
-- row is never taken for the first of a redelivery.
ALTER TABLE alerts ADD COLUMN endpoint TEXT;
ALTER TABLE alerts ADD COLUMN body_sha256 TEXT;
DROP INDEX alerts_source_request_id;
CREATE UNIQUE INDEX alerts_request_key ON alerts (source, endpoint, request_id, body_sha256);
