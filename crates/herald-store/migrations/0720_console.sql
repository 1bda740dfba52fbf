-- The console's dead-letter page and its overview count the dead deliveries waiting for an
-- operator. Dead ones are rare, so a partial index of their ids costs the hot path nothing
-- (no row enters it until a delivery dies) and lets a page of them, newest first, read only
-- them instead of walking the whole history.
CREATE INDEX deliveries_dead ON deliveries (id) WHERE status = 'dead';
