//! Sentry's envelope format, which current SDKs send to `/api/{id}/envelope/`: a JSON header
//! line, then items, each an item-header line (`{"type":"event","length":N}`) and its payload
//! (`length` bytes, or when `length` is absent up to the next newline). The one `event` item
//! becomes an event; every other item type is counted under a fixed label and dropped, since
//! herald alerts on errors and messages only. Older SDKs send one event as JSON to
//! `/api/{id}/store/`, which [`parse_store`] reads.

use serde_json::{Map, Value};

/// The largest event item accepted, after decompression (Sentry's limit too).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// What an envelope held, as herald keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// The header's `event_id`, the fallback when the event itself has none.
    pub event_id: Option<String>,
    /// The header's `dsn`, which carries the public key when a tunnel forwarded the envelope.
    pub dsn: Option<String>,
    /// The `event` item's payload (errors, messages, log records), when there is one.
    pub event: Option<Map<String, Value>>,
    /// The items dropped, counted by type.
    pub dropped: Dropped,
}

/// Dropped items by type: labels come from a fixed list (see [`item_label`]), so a metric
/// labelled with them has a bounded set of series whatever the SDK sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped(Vec<(&'static str, u32)>);

impl Dropped {
    fn add(&mut self, label: &'static str) {
        match self.0.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => self.0.push((label, 1)),
        }
    }

    /// Each label with its count, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The item types herald knows by name; anything else counts as `other`.
pub const ITEM_LABELS: &[&str] = &[
    "transaction",
    "session",
    "sessions",
    "client_report",
    "attachment",
    "profile",
    "profile_chunk",
    "check_in",
    "log",
    "otel_log",
    "span",
    "otel_span",
    "trace_metric",
    "statsd",
    "metric_buckets",
    "replay_event",
    "replay_recording",
    "replay_video",
    "user_report",
    "feedback",
    "security",
    "raw_security",
    "nel",
    "form_data",
    "unreal_report",
    "other",
];

/// The fixed label of an item type: the type itself when listed in [`ITEM_LABELS`], else
/// `other`.
pub fn item_label(item_type: &str) -> &'static str {
    ITEM_LABELS
        .iter()
        .find(|l| **l == item_type)
        .copied()
        .unwrap_or("other")
}

/// A body that is not an envelope (or event) herald can read; [`EnvelopeError::status`] is
/// the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the envelope header (first line) is not a JSON object: {0}")]
    Header(String),
    #[error("the header of item {index} is not a JSON object with a \"type\": {detail}")]
    ItemHeader { index: usize, detail: String },
    #[error(
        "item {index} ({item_type}) declares a length of {length} bytes, but only {available} follow"
    )]
    Truncated {
        index: usize,
        item_type: String,
        length: u64,
        available: usize,
    },
    #[error("the event is {size} bytes, more than the limit of {limit} bytes")]
    EventTooLarge { size: usize, limit: usize },
    #[error("the event is not a JSON object: {0}")]
    Event(String),
    #[error("the envelope holds more than one event item (SDKs send one per envelope)")]
    DuplicateEvent,
}

impl EnvelopeError {
    /// `413` for an event over the limit, `400` for the rest.
    pub fn status(&self) -> u16 {
        match self {
            EnvelopeError::EventTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// The next line of `input` without its `\n`, and what follows it.
fn line(input: &[u8]) -> (&[u8], &[u8]) {
    match input.iter().position(|b| *b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[]),
    }
}

fn json_error(e: &serde_json::Error) -> String {
    e.to_string()
}

/// Reads an envelope (already decompressed). `max_event` caps the event item.
pub fn parse_envelope(body: &[u8], max_event: usize) -> Result<Envelope, EnvelopeError> {
    let (header, mut rest) = line(body);
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| EnvelopeError::Header(json_error(&e)))?;
    let mut envelope = Envelope {
        event_id: header
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        dsn: header.get("dsn").and_then(Value::as_str).map(str::to_owned),
        ..Envelope::default()
    };
    let mut index = 0;
    while !rest.is_empty() {
        let (item_header, after) = line(rest);
        // Blank lines between items (and a trailing newline) carry nothing.
        if item_header.trim_ascii().is_empty() {
            rest = after;
            continue;
        }
        index += 1;
        let item_header: Map<String, Value> =
            serde_json::from_slice(item_header).map_err(|e| EnvelopeError::ItemHeader {
                index,
                detail: json_error(&e),
            })?;
        let item_type = match item_header.get("type") {
            Some(Value::String(t)) => t.clone(),
            _ => {
                return Err(EnvelopeError::ItemHeader {
                    index,
                    detail: "\"type\" is missing or not text".into(),
                });
            }
        };
        let payload = match item_header.get("length") {
            None | Some(Value::Null) => {
                let (payload, after) = line(after);
                rest = after;
                payload
            }
            Some(length) => {
                let Some(length) = length.as_u64() else {
                    return Err(EnvelopeError::ItemHeader {
                        index,
                        detail: format!("\"length\" is {length}, expected a whole number"),
                    });
                };
                let Some(payload) = usize::try_from(length).ok().and_then(|n| after.get(..n))
                else {
                    return Err(EnvelopeError::Truncated {
                        index,
                        item_type,
                        length,
                        available: after.len(),
                    });
                };
                let after = &after[payload.len()..];
                rest = after.strip_prefix(b"\n").unwrap_or(after);
                payload
            }
        };
        if item_type == "event" {
            if envelope.event.is_some() {
                return Err(EnvelopeError::DuplicateEvent);
            }
            envelope.event = Some(event(payload, max_event)?);
        } else {
            envelope.dropped.add(item_label(&item_type));
        }
    }
    Ok(envelope)
}

/// Reads a `/store/` body: one event as JSON.
pub fn parse_store(body: &[u8], max_event: usize) -> Result<Envelope, EnvelopeError> {
    Ok(Envelope {
        event: Some(event(body, max_event)?),
        ..Envelope::default()
    })
}

fn event(payload: &[u8], max_event: usize) -> Result<Map<String, Value>, EnvelopeError> {
    if payload.len() > max_event {
        return Err(EnvelopeError::EventTooLarge {
            size: payload.len(),
            limit: max_event,
        });
    }
    serde_json::from_slice(payload).map_err(|e| EnvelopeError::Event(json_error(&e)))
}

#[cfg(test)]
mod tests;
