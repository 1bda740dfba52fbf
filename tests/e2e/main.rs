//! End-to-end tests: they run the real `herald` binary the way a user does, on the example
//! configs in `config/` and the payloads in `tests/fixtures/` (and, when present, Sentry's own
//! published payloads in `../shared/fixtures/sentry`, read in place).

mod auth;
mod check;
mod cluster;
mod console;
mod deploy;
mod destinations;
mod frontdoor;
mod noise;
mod operate;
mod postgres;
mod route;
mod scripts;
mod sdk;
mod send_test;
mod serve;
mod signals;
mod standin;
mod support;
mod tidy;
mod untrusted;
mod why;
