//! Tests of the dispatcher against a real SQLite store and a recording sink, time passed in explicitly or through a paused Tokio clock.
