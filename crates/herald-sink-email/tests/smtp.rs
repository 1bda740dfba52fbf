//! The email sink against a real SMTP server on 127.0.0.1 (the `mailin` protocol library on a
//! plain socket): the message that arrives (envelope, subject, both MIME parts, escaping) and
//! how the server's refusals are classified.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;

use herald_core::config::Env;
use herald_core::{Alert, Level, Notification, Sink, SinkError, Tags};
use herald_sink_email::EmailFactory;
use mail_parser::{MessageParser, MimeHeaders};
use mailin::{Action, Handler, Response, SessionBuilder};
use tokio::sync::mpsc;

/// What the server does with a message.
#[derive(Clone, Copy)]
enum Mode {
    Accept,
    /// `451` for every recipient: greylisting. (Not after the data: `mailin` stays in its data
    /// state after refusing there, which no real server does.)
    Defer,
    /// `550` for every recipient: no such mailbox.
    Refuse,
}

/// One message as the server received it.
#[derive(Debug)]
struct Received {
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

#[derive(Clone)]
struct Recorder {
    mode: Mode,
    tx: mpsc::UnboundedSender<Received>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn rcpt(&mut self, _to: &str) -> Response {
        match self.mode {
            Mode::Refuse => Response::custom(550, "5.1.1 mailbox unavailable".into()),
            Mode::Defer => Response::custom(451, "4.7.1 greylisted, try again later".into()),
            Mode::Accept => mailin::response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let _ = self.tx.send(Received {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        });
        Response::custom(250, "2.0.0 Ok: queued as Q4F2A1C".into())
    }
}

/// Starts a server on a free port; returns the port and the messages it receives.
fn smtp_server(mode: Mode) -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let recorder = Recorder {
                mode,
                tx: tx.clone(),
                from: String::new(),
                to: vec![],
                data: vec![],
            };
            std::thread::spawn(move || serve(stream, recorder));
        }
    });
    (port, rx)
}

fn serve(stream: std::net::TcpStream, recorder: Recorder) {
    let ip: IpAddr = stream.peer_addr().unwrap().ip();
    let mut session = SessionBuilder::new("mx.test").build(ip, recorder);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let _ = session.greeting().write_to(&mut writer);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = session.process(&line);
        match response.action {
            Action::Reply => {
                let _ = response.write_to(&mut writer);
                let _ = writer.flush();
            }
            Action::Close | Action::UpgradeTls => {
                let _ = response.write_to(&mut writer);
                return;
            }
            Action::NoReply => {}
        }
    }
}

fn sink(port: u16, extra: &str) -> Arc<dyn Sink> {
    sink_with_timeout(port, 5, extra)
}

fn sink_with_timeout(port: u16, timeout: u64, extra: &str) -> Arc<dyn Sink> {
    let yaml = format!(
        "sinks:\n  email-oncall:\n    type: email\n    host: 127.0.0.1\n    port: {port}\n    \
         tls: none\n    from: \"Herald <alerts@example.com>\"\n    \
         to: [oncall@example.com, \"Ops <ops@example.com>\"]\n    timeout_seconds: {timeout}\n{extra}"
    );
    herald_core::testing::build_sink(
        EmailFactory,
        &yaml,
        &Env::from_pairs::<_, String, String>([]),
    )
    .into_result()
    .unwrap()
}

fn notification(title: &str) -> Notification {
    let alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("checkout".into()),
        level: Some(Level::Error),
        environment: Some("production".into()),
        title: title.into(),
        culprit: Some("app/cart.js in <total>".into()),
        url: Some("https://sentry.example.com/issues/42/".into()),
        tags: Tags(vec![("team".into(), "pay&ments".into())]),
        ..Alert::default()
    };
    Notification::single(Arc::new(alert), "prod-errors", "email-oncall", "dlv-1")
}

const HOSTILE: &str = "<!channel> <script>alert(1)</script> @everyone";

#[tokio::test]
async fn a_message_arrives_with_subject_text_and_escaped_html() {
    let (port, mut received) = smtp_server(Mode::Accept);
    let receipt = sink(port, "")
        .deliver(&notification(HOSTILE))
        .await
        .unwrap();
    assert_eq!(receipt.status, Some(250));
    assert_eq!(
        receipt.message_id.as_deref(),
        Some("2.0.0 Ok: queued as Q4F2A1C")
    );

    let mail = received.recv().await.unwrap();
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, ["oncall@example.com", "ops@example.com"]);
    let message = MessageParser::default().parse(&mail.data).unwrap();
    assert_eq!(
        message.subject(),
        Some(format!("[error] checkout: {HOSTILE}").as_str())
    );
    let content_type = message.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );

    let text = message.body_text(0).unwrap();
    assert!(text.starts_with(&format!("[error] {HOSTILE}")), "{text}");
    assert!(
        text.contains("Culprit:     app/cart.js in <total>"),
        "{text}"
    );
    assert!(text.contains("  team: pay&ments"), "{text}");
    assert!(
        text.contains("https://sentry.example.com/issues/42/"),
        "{text}"
    );

    let html = message.body_html(0).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; @everyone"),
        "{html}"
    );
    assert!(
        html.contains("<code>app/cart.js in &lt;total&gt;</code>"),
        "{html}"
    );
    assert!(html.contains("team=pay&amp;ments"), "{html}");
    assert!(
        html.contains(r#"<a href="https://sentry.example.com/issues/42/">"#),
        "{html}"
    );
}

#[tokio::test]
async fn line_breaks_in_alert_text_cannot_add_headers() {
    let (port, mut received) = smtp_server(Mode::Accept);
    let title = "boom\r\nBcc: thief@example.net\r\nX-Evil: 1";
    sink(port, "").deliver(&notification(title)).await.unwrap();
    let mail = received.recv().await.unwrap();
    assert_eq!(mail.to, ["oncall@example.com", "ops@example.com"]);
    let message = MessageParser::default().parse(&mail.data).unwrap();
    assert_eq!(
        message.subject(),
        Some("[error] checkout: boom  Bcc: thief@example.net  X-Evil: 1")
    );
    assert!(message.header("X-Evil").is_none());
    assert!(message.bcc().is_none());
}

#[tokio::test]
async fn custom_templates_replace_subject_and_parts() {
    let (port, mut received) = smtp_server(Mode::Accept);
    let extra = "    subject: \"{{ environment }} | {{ title }}\"\n    \
                 text: \"T={{ title }}\"\n    html: \"<p>{{ title }}</p>\"\n";
    sink(port, extra)
        .deliver(&notification("a<b"))
        .await
        .unwrap();
    let mail = received.recv().await.unwrap();
    let message = MessageParser::default().parse(&mail.data).unwrap();
    assert_eq!(message.subject(), Some("production | a<b"));
    assert_eq!(message.body_text(0).unwrap().trim(), "T=a<b");
    assert_eq!(message.body_html(0).unwrap().trim(), "<p>a&lt;b</p>");
}

#[tokio::test]
async fn a_temporary_refusal_is_unavailable() {
    let (port, _received) = smtp_server(Mode::Defer);
    let err = sink(port, "")
        .deliver(&notification("x"))
        .await
        .unwrap_err();
    match &err {
        SinkError::Unavailable { status, detail, .. } => {
            assert_eq!(*status, Some(451));
            let detail = detail.replace(&port.to_string(), "PORT");
            expect_test::expect![[r#"smtp server 127.0.0.1:PORT deferred the message: transient error (451): 4.7.1 greylisted, try again later; the server cannot take it now (greylisting, a busy mailbox); herald retries"#]].assert_eq(&detail);
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_permanent_refusal_is_rejected() {
    let (port, _received) = smtp_server(Mode::Refuse);
    let err = sink(port, "")
        .deliver(&notification("x"))
        .await
        .unwrap_err();
    match &err {
        SinkError::Rejected { status, detail } => {
            assert_eq!(*status, Some(550));
            let detail = detail.replace(&port.to_string(), "PORT");
            expect_test::expect![[r#"smtp server 127.0.0.1:PORT refused the message: permanent error (550): 5.1.1 mailbox unavailable; the mailbox is unavailable or the server does not relay for this sender: check to, and that from may send through this server"#]].assert_eq(&detail);
        }
        other => panic!("expected rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = sink(port, "")
        .deliver(&notification("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unreachable { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot connect to smtp server 127.0.0.1:{port}: connection refused; check the host and port, and that the service is up"
        )
    );
}

#[tokio::test]
async fn a_server_that_goes_quiet_times_out_as_unreachable() {
    // Accepts the connection and never says a word, not even the greeting.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let started = std::time::Instant::now();
    let err = sink_with_timeout(port, 1, "")
        .deliver(&notification("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unreachable { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "no answer from smtp server 127.0.0.1:{port} within 1 second (timeout); raise timeout_seconds if it is only slow"
        )
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
