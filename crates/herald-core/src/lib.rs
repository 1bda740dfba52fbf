//! The heart of herald: the normalized [`Alert`] every source produces, the config loader with
//! located errors, the routing engine that picks sinks for an alert, and the [`Sink`] contract
//! every destination crate implements, and the [`Source`] contract every intake crate implements.
//!
//! This crate knows no HTTP framework, no database and no concrete sink: sources, stores,
//! sinks and the server depend on it, never the other way round.

pub mod alert;
pub mod config;
pub mod destination;
pub mod flood;
pub mod matcher;
pub mod network;
pub mod noise;
pub mod route;
pub mod sink;
pub mod source;
pub mod template;
pub mod testing;
pub mod text;
pub mod untrusted;

pub use alert::{Alert, Level, Tags};
pub use config::{ConfigError, ConfigErrors, Location, Secret};
pub use route::{RouteTree, Routing};
pub use sink::{Notification, Pace, Receipt, Sink, SinkError, SinkFactory, SinkRegistry, Thread};
pub use source::{Source, SourceFactory, SourceRegistry};
