-- The flood guard (herald_core::flood): a delivery over its sink's limit of messages a minute
-- is kept in `held_back` with the outcome `flooded` and the summary that names or counts it.
ALTER TABLE held_back DROP CONSTRAINT held_back_outcome_check;
ALTER TABLE held_back ADD CONSTRAINT held_back_outcome_check
    CHECK (outcome IN ('silenced', 'muted', 'duplicate', 'digest', 'throttled', 'flooded'));
