//! herald's generic webhook sink (`type: webhook`): each notification becomes one JSON `POST`
//! to a URL you choose, signed when you give a secret, with an idempotency key so a receiver
//! can drop the repeats that retries may cause.
//!
//! # Config
//!
//! ```yaml
//! sinks:
//!   ops-hook:
//!     type: webhook
//!     url: https://hooks.example.com/herald      # required, http or https
//!     headers:                                   # optional, sent as given
//!       Authorization: Bearer ${OPS_HOOK_TOKEN}
//!       X-Team: payments
//!     secret: ${OPS_HOOK_SECRET}                 # optional: adds X-Herald-Signature
//!     timeout_seconds: 10                        # default 10, connecting included
//!     body: |                                    # optional: replaces the default body
//!       {"text": "[{{ level }}] {{ title }}", "link": "{{ url }}", "alert": {{ alert|tojson }}}
//! ```
//!
//! Every key is checked when the config loads: an unknown key (with the closest valid one), a
//! URL that does not parse or is not http(s), a header name or value HTTP cannot carry, a
//! header herald sets itself, a zero timeout, and a `body` template that has a syntax error,
//! uses an unknown variable or does not render to valid JSON for a sample alert.
//!
//! # What it sends
//!
//! `POST <url>` with these headers:
//!
//! - `Content-Type: application/json`
//! - `User-Agent: herald/<version>`
//! - `Idempotency-Key: <delivery id>`: the same on every attempt of one delivery
//! - your `headers`
//! - with `secret`: `X-Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`
//!
//! The default body:
//!
//! ```json
//! {
//!   "alert": {"source": "sentry", "resource": "event_alert", "action": "triggered",
//!             "project": "checkout", "level": "error", "environment": "production",
//!             "release": "1.2.3", "title": "TypeError: x is undefined",
//!             "culprit": "app/cart.js in total", "issue_id": "42", "short_id": "CHECKOUT-1",
//!             "url": "https://sentry.example.com/issues/42/", "timestamp": "2024-05-01T12:00:00Z",
//!             "tags": {"team": "payments"}, "rule": "prod errors", "event_id": "0123abcd"},
//!   "route": "prod-errors",
//!   "sink": "ops-hook",
//!   "delivery_id": "<the Idempotency-Key>"
//! }
//! ```
//!
//! `alert` is [`herald_core::Alert::to_json`]'s shape. A digest (several alerts in one message)
//! also has `"alerts": [...]` (every alert, oldest first; `alert` is the first of them) and
//! `"folded": n` (how many more were held back).
//!
//! With `body`, a minijinja template with the variables of [`herald_core::template::VARIABLES`]
//! replaces that document. Printed values are JSON-escaped but **not quoted**, so quote them
//! yourself: `"title": "{{ title }}"`. `{{ alert|tojson }}` prints a whole object. Alert text
//! cannot break out of its string, and a body that still ends up invalid is never sent: the
//! attempt fails as rejected.
//!
//! # Verifying the signature
//!
//! The header is `t=<unix seconds>,v1=<hex>`, where `<hex>` is the lowercase hex HMAC-SHA256,
//! keyed with the UTF-8 bytes of `secret`, of the bytes `<t>` `.` `<raw request body>`. A
//! receiver:
//!
//! 1. splits the header at `,` into `t=...` and `v1=...`;
//! 2. computes HMAC-SHA256(secret, `t + "." + body`) over the body exactly as received (before
//!    any JSON parsing);
//! 3. compares it with `v1` in constant time;
//! 4. refuses a `t` more than a few minutes away from its clock, which stops replays.
//!
//! In Python:
//!
//! ```python
//! import hmac, hashlib, time
//! def verify(secret: bytes, header: str, body: bytes, tolerance=300) -> bool:
//!     parts = dict(p.split("=", 1) for p in header.split(","))
//!     expected = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
//!     fresh = abs(time.time() - int(parts["t"])) <= tolerance
//!     return fresh and hmac.compare_digest(expected, parts["v1"])
//! ```
//!
//! [`sign`] is the function herald uses, for receivers written in Rust.
//!
//! # Responses
//!
//! | answer | result |
//! |---|---|
//! | 2xx | [`Receipt`](herald_core::Receipt) with the status and the first 200 characters of the body |
//! | 408, 429, 5xx | [`SinkError::Unavailable`](herald_core::SinkError), retried, not before `Retry-After` (seconds or an HTTP date) |
//! | 3xx and other 4xx | [`SinkError::Rejected`](herald_core::SinkError), not retried (redirects are not followed) |
//! | no connection, timeout | [`SinkError::Unreachable`](herald_core::SinkError), retried |
//!
//! A body template that renders invalid JSON is `Rejected` with status 0 (nothing was sent).
//!
//! Every webhook sink shares one HTTP client, so connections to a receiver are kept alive and
//! reused across deliveries and sinks.

pub mod config;
pub mod render;
pub mod signature;
pub mod sink;

pub use config::WebhookConfig;
pub use signature::sign;
pub use sink::{WebhookFactory, WebhookSink};
