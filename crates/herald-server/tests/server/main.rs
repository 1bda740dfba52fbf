//! herald-server's tests: the HTTP answers for every kind of request (`hooks`), the delivery
//! state machine with time passed in explicitly or through a paused Tokio clock
//! (`delivery`), `serve` on a real listener with shutdown (`serving`), and the source seam
//! with a source kind the server never names (`sources`). All of them run
//! against a real SQLite store in a temporary folder and recording sinks (`support`).

mod delivery;
mod hooks;
mod serving;
mod sources;
mod support;
