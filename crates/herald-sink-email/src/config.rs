//! The email sink's settings as written in the config file, and the load-time checks that turn
//! them into ready-to-use values (parsed mailboxes, a port, a transport builder), each problem
//! reported at its line and column.

use std::time::Duration;

use herald_core::Secret;
use herald_core::config::{Diagnostics, Node, number};
use lettre::message::Mailbox;
use serde::Deserialize;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connect, then `STARTTLS`, which must succeed (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Implicit,
    /// No encryption at all (port 25 by default): only for a relay on the same host or network.
    None,
}

impl TlsMode {
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Starttls => 587,
            TlsMode::Implicit => 465,
            TlsMode::None => 25,
        }
    }
}

/// `type: email` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (checked against its TLS certificate) or address.
    pub host: String,
    /// The server's port; by default 587 for `starttls`, 465 for `implicit`, 25 for `none`.
    #[serde(default, deserialize_with = "number::opt_u64")]
    pub port: Option<u64>,
    /// `starttls` (default), `implicit` or `none`.
    #[serde(default)]
    pub tls: TlsMode,
    /// Login name, when the server wants one; needs `password`.
    pub username: Option<String>,
    /// Login password, usually `${SMTP_PASSWORD}`; needs `username`.
    pub password: Option<Secret>,
    /// The sender, `alerts@example.com` or `Herald <alerts@example.com>`.
    pub from: String,
    /// Recipients, at least one, in the same forms as `from`.
    pub to: Vec<String>,
    /// Subject template; printed values lose their line breaks. Default:
    /// `[{{ level }}] {{ project }}: {{ title }}`.
    pub subject: Option<String>,
    /// Template for the plain-text part, replacing the default summary.
    pub text: Option<String>,
    /// Template for the HTML part, replacing the default table; printed values are
    /// HTML-escaped.
    pub html: Option<String>,
    /// How long one attempt may take, connecting and the whole SMTP transaction included.
    #[serde(default = "default_timeout_seconds", deserialize_with = "number::u64")]
    pub timeout_seconds: u64,
}

fn default_timeout_seconds() -> u64 {
    10
}

/// The settings after their checks.
#[derive(Debug, Clone)]
pub struct Checked {
    pub port: u16,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub timeout: Duration,
}

/// Checks what serde could not: the port range, addresses, the login pair, the timeout.
pub fn check(config: &EmailConfig, section: &Node, diag: &mut Diagnostics) -> Option<Checked> {
    let at = |key: &str| section.get(key).unwrap_or(section);
    let mut ok = true;

    if config.host.trim().is_empty() {
        diag.error(
            at("host"),
            "email host is empty",
            Some("name the SMTP server, e.g. \"smtp.example.com\"".into()),
        );
        ok = false;
    }
    let port = match config.port {
        None => config.tls.default_port(),
        Some(p) => match u16::try_from(p) {
            Ok(p) if p > 0 => p,
            _ => {
                diag.error(
                    at("port"),
                    format!("port \"{p}\" is out of range"),
                    Some(format!(
                        "use 1 to 65535, or leave it out for {}",
                        config.tls.default_port()
                    )),
                );
                ok = false;
                0
            }
        },
    };
    let from = mailbox(&config.from, at("from"), "from", diag);
    let to_node = at("to");
    if config.to.is_empty() {
        diag.error(
            to_node,
            "\"to\" lists no recipient",
            Some("add at least one address, e.g. [\"oncall@example.com\"]".into()),
        );
        ok = false;
    }
    let mut to = Vec::with_capacity(config.to.len());
    for (i, address) in config.to.iter().enumerate() {
        let node = to_node.as_seq().and_then(|s| s.get(i)).unwrap_or(to_node);
        match mailbox(address, node, "to", diag) {
            Some(m) => to.push(m),
            None => ok = false,
        }
    }
    match (&config.username, &config.password) {
        (Some(_), None) => {
            diag.error(
                at("username"),
                "\"username\" is set but \"password\" is not",
                Some("add `password: ${SMTP_PASSWORD}`, or remove username".into()),
            );
            ok = false;
        }
        (None, Some(_)) => {
            diag.error(
                at("password"),
                "\"password\" is set but \"username\" is not",
                Some("add `username:`, or remove password".into()),
            );
            ok = false;
        }
        _ => {}
    }
    if config.timeout_seconds == 0 {
        diag.error(
            at("timeout_seconds"),
            "timeout_seconds \"0\" would fail every delivery",
            Some("use at least 1 (default 10)".into()),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Checked {
        port,
        from: from?,
        to,
        timeout: Duration::from_secs(config.timeout_seconds),
    })
}

fn mailbox(text: &str, at: &Node, key: &str, diag: &mut Diagnostics) -> Option<Mailbox> {
    match text.trim().parse::<Mailbox>() {
        Ok(m) => Some(m),
        Err(e) => {
            diag.error(
                at,
                format!("\"{key}\" address \"{}\" is not valid: {e}", at.shown()),
                Some("write name@example.com or \"Name <name@example.com>\"".into()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
