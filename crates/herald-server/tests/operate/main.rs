//! Operating herald-server: config reloads (applied, refused, a sink removed) and the admin
//! API (auth, filters, paging, retries, routes, route-test, where an alert went). The metrics have their own test
//! binary (`tests/metrics.rs`), since their recorder is global to a process.

mod admin;
mod explain;
mod reload;
mod support;
