-- Retention (`storage.retention_days`): pruning an old alert deletes its `held_back` rows too,
-- and keeps any alert a pending digest still lists; both look rows up by alert.
CREATE INDEX held_back_alert ON held_back (alert_id);
