//! `EmailSink`: one SMTP transaction per attempt over a pooled connection, then the server's
//! reply sorted into a receipt or a [`SinkError`].

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use herald_core::network::NetworkCause;
use herald_core::sink::SinkContext;
use herald_core::{Notification, Receipt, Sink, SinkError, SinkFactory};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{EmailConfig, TlsMode, check};
use crate::render::EmailTemplates;

/// Builds `type: email` sinks.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailFactory;

impl SinkFactory for EmailFactory {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<EmailConfig>(ctx.node)?;
        let checked = check(&config, ctx.node, ctx.diag);
        let templates = EmailTemplates::compile(
            config.subject.as_deref(),
            config.text.as_deref(),
            config.html.as_deref(),
            ctx.node,
            ctx.diag,
        );
        let (checked, templates) = (checked?, templates?);
        let host = config.host.trim();
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            mode => match TlsParameters::new(host.to_owned()) {
                Ok(params) if mode == TlsMode::Starttls => Tls::Required(params),
                Ok(params) => Tls::Wrapper(params),
                Err(e) => {
                    let at = ctx.node.get("host").unwrap_or(ctx.node);
                    ctx.diag.error(
                        at,
                        format!("email host \"{host}\" cannot be used with TLS: {e}"),
                        Some("use the name on the server's certificate, or `tls: none`".into()),
                    );
                    return None;
                }
            },
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(checked.port)
            .tls(tls)
            .timeout(Some(checked.timeout))
            .pool_config(PoolConfig::new().max_size(8));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Some(Arc::new(EmailSink {
            name: ctx.name.to_owned(),
            host: host.to_owned(),
            port: checked.port,
            from: checked.from,
            to: checked.to,
            templates,
            timeout: checked.timeout,
            builder,
            transport: OnceLock::new(),
        }))
    }
}

/// Sends each notification as one email to a fixed list of recipients.
pub struct EmailSink {
    name: String,
    host: String,
    port: u16,
    from: Mailbox,
    to: Vec<Mailbox>,
    templates: EmailTemplates,
    /// Bound on one whole attempt: lettre's own timeout covers connecting but not a server
    /// that goes quiet in the middle of a transaction.
    timeout: std::time::Duration,
    /// Holds the credentials; never printed.
    builder: AsyncSmtpTransportBuilder,
    /// Built on the first delivery, because lettre's pool starts a cleanup task that needs the
    /// async runtime, which `herald check` does not run; reused for every later one.
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
}

impl std::fmt::Debug for EmailSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSink")
            .field("name", &self.name)
            .field("server", &format_args!("{}:{}", self.host, self.port))
            .field("from", &self.from.email.to_string())
            .field("to", &self.to.len())
            .finish()
    }
}

impl EmailSink {
    fn transport(&self) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.transport.get_or_init(|| self.builder.clone().build())
    }

    /// The message this sink sends for a notification, as it goes over the wire.
    pub fn message(&self, n: &Notification) -> Result<lettre::Message, String> {
        self.templates.message(n, &self.from, &self.to)
    }
}

#[async_trait]
impl Sink for EmailSink {
    fn kind(&self) -> &'static str {
        "email"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let message = self.message(n).map_err(SinkError::refused)?;
        let sent = tokio::time::timeout(self.timeout, self.transport().send(message)).await;
        let Ok(sent) = sent else {
            return Err(SinkError::Unreachable {
                detail: NetworkCause::Timeout.describe(
                    &format!("smtp server {}:{}", self.host, self.port),
                    self.timeout,
                ),
                source: None,
            });
        };
        match sent {
            Ok(response) => {
                let reply = response.message().collect::<Vec<_>>().join(" ");
                Ok(Receipt {
                    status: Some(u16::from(response.code())),
                    message_id: (!reply.is_empty()).then(|| reply.clone()),
                    channel: None,
                    destination: None,
                    detail: Some(format!("{} {reply}", response.code())),
                    thread: None,
                })
            }
            Err(e) => Err(classify(&self.host, self.port, self.timeout, e)),
        }
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        let message = self.message(n)?;
        Ok(String::from_utf8_lossy(&message.formatted()).into_owned())
    }
}

/// Sorts an SMTP failure: a 4xx reply is worth a retry, a 5xx reply is final, anything else
/// (connection, TLS, timeout, a garbled reply) means the server could not be talked to. Each
/// says what to check: the reply code's usual meaning, or the network cause.
pub fn classify(
    host: &str,
    port: u16,
    timeout: std::time::Duration,
    e: lettre::transport::smtp::Error,
) -> SinkError {
    let status = e.status().map(u16::from);
    let hint = status
        .and_then(reply_hint)
        .map(|h| format!("; {h}"))
        .unwrap_or_default();
    let peer = format!("smtp server {host}:{port}");
    if e.is_transient() {
        SinkError::Unavailable {
            status,
            retry_after: None,
            detail: format!("{peer} deferred the message: {e}{hint}"),
        }
    } else if e.is_permanent() {
        SinkError::Rejected {
            status,
            detail: format!("{peer} refused the message: {e}{hint}"),
        }
    } else {
        let detail = if e.is_timeout() {
            NetworkCause::Timeout.describe(&peer, timeout)
        } else if e.is_tls() {
            NetworkCause::Tls.describe(&peer, timeout)
        } else if let Some(cause) = NetworkCause::of(&e) {
            cause.describe(&peer, timeout)
        } else {
            format!(
                "cannot talk to {peer}: {}",
                herald_core::network::innermost(&e)
            )
        };
        SinkError::unreachable(detail, e)
    }
}

/// What an SMTP reply code usually means and what to check (RFC 5321 section 4.2.2 and the
/// codes servers commonly use for authentication and policy).
pub fn reply_hint(code: u16) -> Option<&'static str> {
    Some(match code {
        421 => "the server is busy or shutting down; herald retries",
        450 | 451 => "the server cannot take it now (greylisting, a busy mailbox); herald retries",
        452 => "the server is out of storage or has too many recipients; herald retries",
        454 => "TLS or authentication is unavailable for now; herald retries",
        530 => "the server requires authentication: set username and password",
        534 | 535 => {
            "the server refused the login: check username and password (an app password where the provider needs one)"
        }
        538 => "the server requires TLS for this login: use tls: starttls or implicit",
        550 => {
            "the mailbox is unavailable or the server does not relay for this sender: check to, and that from may send through this server"
        }
        551 | 553 => "the address is not accepted: check from and to",
        552 => "the message is too large for the server",
        554 => {
            "the server refused the transaction, often for its policy (relaying, spam): check from and the server's logs"
        }
        _ => return None,
    })
}
