//! Why a sink could not talk to its destination, in the words an operator acts on: connection
//! refused, name not resolved, TLS failure, timeout, connection reset, or closed without an
//! answer. Sinks reach their providers through different clients (reqwest, lettre), whose
//! errors bury the cause several `source()`s deep; [`NetworkCause::of`] walks that chain once
//! for all of them, looking only at standard I/O error kinds and the texts resolvers and TLS
//! libraries use, so this crate stays free of any client library. The descriptions never
//! contain a URL: a webhook URL or a query string may carry a credential.

use std::error::Error;
use std::io::ErrorKind;
use std::time::Duration;

/// The cause of a failed connection or exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkCause {
    /// Nothing listens at that address and port.
    Refused,
    /// The host name does not resolve (a typo, or this machine's DNS).
    NameNotResolved,
    /// The TLS handshake failed: a certificate, or not TLS at all on that port.
    Tls,
    /// No answer within the time allowed.
    Timeout,
    /// The other side (or something in between) reset the connection.
    Reset,
    /// The connection was closed before a complete answer came.
    Closed,
}

impl NetworkCause {
    /// The cause found in `error` or one of its sources, if any is recognised.
    pub fn of(error: &(dyn Error + 'static)) -> Option<NetworkCause> {
        let mut found = None;
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(cause) = Self::one(e) {
                // The deepest recognised cause is the most precise one (an I/O kind under a
                // client's generic "connect error"), except that a TLS failure is kept over
                // the I/O error that carries it.
                if found != Some(NetworkCause::Tls) {
                    found = Some(cause);
                }
            }
            current = e.source();
        }
        found
    }

    fn one(e: &(dyn Error + 'static)) -> Option<NetworkCause> {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return Some(NetworkCause::Refused),
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe => {
                    return Some(NetworkCause::Reset);
                }
                ErrorKind::TimedOut => return Some(NetworkCause::Timeout),
                _ => {}
            }
        }
        let text = e.to_string().to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
        if has(&[
            "dns error",
            "failed to lookup address",
            "name or service not known",
            "no address associated",
            "nodename nor servname",
            "temporary failure in name resolution",
        ]) {
            Some(NetworkCause::NameNotResolved)
        } else if has(&[
            "certificate",
            "tls",
            "ssl",
            "handshake",
            "corrupt message",
            "peer misbehaved",
        ]) {
            Some(NetworkCause::Tls)
        } else if has(&["connection refused"]) {
            Some(NetworkCause::Refused)
        } else if has(&["connection reset"]) {
            Some(NetworkCause::Reset)
        } else if has(&["timed out", "deadline has elapsed"]) {
            Some(NetworkCause::Timeout)
        } else if has(&[
            "connection closed before message completed",
            "unexpected end of file",
            "unexpected eof",
        ]) {
            Some(NetworkCause::Closed)
        } else {
            None
        }
    }

    /// One sentence naming the cause and what to check, about `peer` (a provider's name or a
    /// host, never a URL); `timeout` is the time that was allowed.
    pub fn describe(self, peer: &str, timeout: Duration) -> String {
        match self {
            NetworkCause::Refused => format!(
                "cannot connect to {peer}: connection refused; check the host and port, and that the service is up"
            ),
            NetworkCause::NameNotResolved => format!(
                "cannot connect to {peer}: name not resolved; check the host name and this machine's DNS"
            ),
            NetworkCause::Tls => format!(
                "cannot connect to {peer}: tls failure; check that the port serves https and that its certificate is valid for the host"
            ),
            NetworkCause::Timeout => format!(
                "no answer from {peer} within {} (timeout); raise timeout_seconds if it is only slow",
                seconds(timeout)
            ),
            NetworkCause::Reset => format!(
                "connection to {peer} reset; the service, or a proxy or firewall in between, cut it"
            ),
            NetworkCause::Closed => {
                format!("{peer} closed the connection without a complete answer")
            }
        }
    }
}

/// `10 seconds`, `1 second`, or `250 ms` below a second.
fn seconds(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{} ms", d.as_millis()),
        1 => "1 second".to_owned(),
        n => format!("{n} seconds"),
    }
}

/// The innermost message of an error chain: for an error no [`NetworkCause`] matches, the
/// most specific text there is.
pub fn innermost(error: &(dyn Error + 'static)) -> String {
    let mut last = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests;
