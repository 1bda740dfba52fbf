//! herald's email sink (`type: email`): each notification becomes one email, a
//! multipart/alternative message with a plain-text part and an HTML part, sent over SMTP with
//! `lettre` on a pooled connection.
//!
//! # Config
//!
//! ```yaml
//! sinks:
//!   email-oncall:
//!     type: email
//!     host: smtp.example.com          # required
//!     port: 587                       # default by tls: 587 starttls, 465 implicit, 25 none
//!     tls: starttls                   # starttls (default) | implicit | none
//!     username: herald                # optional; needs password
//!     password: ${SMTP_PASSWORD}      # optional; needs username
//!     from: "Herald <alerts@example.com>"
//!     to: [oncall@example.com, "Ops <ops@example.com>"]   # at least one
//!     subject: "[{{ level }}] {{ project }}: {{ title }}" # template, this is the default
//!     text: "..."                     # optional template replacing the plain-text part
//!     html: "..."                     # optional template replacing the HTML part
//!     timeout_seconds: 10             # default 10: the whole attempt, connecting included
//! ```
//!
//! Checked when the config loads: unknown keys (with the closest valid one), addresses in
//! `from` and each `to` entry, an empty `to`, the port range, a `username` without a
//! `password` or the reverse, a zero timeout, a TLS host name that cannot be checked against
//! a certificate, and template syntax and variable names.
//!
//! # What it sends
//!
//! - **Subject**: the `subject` template on one line. Printed values lose their control
//!   characters, and the result is joined onto one line and cut at 200 characters, so alert
//!   text can never start a new header.
//! - **Text part**: level, title, project, environment, culprit, release, tags and the link;
//!   for a digest the other alerts and the number folded away. Values are printed as they are.
//! - **HTML part**: the same as a small table, every printed value HTML-escaped with
//!   [`herald_core::template::escape_html`] (the link only when it is `http(s)://`). A custom
//!   `html` template gets the same escaping unless it marks a value `|safe`.
//!
//! Templates see the variables of [`herald_core::template::VARIABLES`].
//!
//! # Replies
//!
//! | SMTP outcome | result |
//! |---|---|
//! | accepted (2xx after the data) | [`Receipt`](herald_core::Receipt): `status` is the reply code, `message_id` the reply text (usually the server's queue id, "queued as 4F2A1C") |
//! | transient 4xx reply (greylisting, mailbox busy, 421) | [`SinkError::Unavailable`](herald_core::SinkError), retried |
//! | permanent 5xx reply (unknown mailbox, refused sender, auth failed) | [`SinkError::Rejected`](herald_core::SinkError), not retried |
//! | connection refused, TLS failure, timeout, garbled reply | [`SinkError::Unreachable`](herald_core::SinkError), retried |
//!
//! One transport per sink keeps up to 8 connections open and reuses them between deliveries;
//! it is created on the first delivery (its pool needs the async runtime).

pub mod config;
pub mod render;
pub mod sink;

pub use config::{EmailConfig, TlsMode};
pub use sink::{EmailFactory, EmailSink};
