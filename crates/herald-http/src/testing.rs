//! A scripted stand-in provider for sink tests (the `testing` feature, for dev-dependencies):
//! an HTTP server on 127.0.0.1 port 0 that records every request and gives the next scripted
//! answer, so a sink's test checks what the sink sent and how it reads the provider's real
//! success and error answers, with no network beyond loopback.
//!
//! ```text
//! let provider = StandIn::start(vec![Reply::json(200, r#"{"ok":true}"#)]).await;
//! let sink = build(&format!("... api_base: {} ...", provider.url()));
//! sink.deliver(&notification).await?;
//! assert_eq!(provider.seen()[0].path, "/api/chat.postMessage");
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    /// The body read as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: &'static str,
}

impl Reply {
    /// `status` with `body`, typed `application/json` when it looks like JSON and `text/html`
    /// otherwise (what providers' gateways answer errors with).
    pub fn new(status: u16, body: &'static str) -> Reply {
        Reply {
            status,
            headers: vec![],
            body,
        }
    }

    /// Adds a header (`Retry-After`, a request id).
    pub fn with(mut self, name: &'static str, value: &'static str) -> Reply {
        self.headers.push((name, value));
        self
    }
}

impl From<(u16, Vec<(&'static str, &'static str)>, &'static str)> for Reply {
    fn from(
        (status, headers, body): (u16, Vec<(&'static str, &'static str)>, &'static str),
    ) -> Self {
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// The running stand-in. It stops with the test's runtime.
#[derive(Debug)]
pub struct StandIn {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    /// Starts a stand-in giving `replies` in order (a `599` once they run out, which no test
    /// should expect).
    pub async fn start(replies: Vec<impl Into<Reply>>) -> StandIn {
        StandIn::start_with(replies, vec![]).await
    }

    /// Like [`StandIn::start`], adding `always` to every answer (a provider's request id).
    pub async fn start_with(
        replies: Vec<impl Into<Reply>>,
        always: Vec<(&'static str, &'static str)>,
    ) -> StandIn {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let replies: VecDeque<Reply> = replies.into_iter().map(Into::into).collect();
        let replies = Arc::new(Mutex::new(replies));
        let app = {
            let seen = seen.clone();
            axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let seen = seen.clone();
                    let replies = replies.clone();
                    let always = always.clone();
                    async move {
                        seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
                            method,
                            path: uri.path().to_owned(),
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        let reply = replies
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .pop_front()
                            .unwrap_or_else(|| Reply::new(599, ""));
                        answer(reply, &always)
                    }
                },
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the stand-in");
        let addr = listener.local_addr().expect("the stand-in's address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        StandIn { addr, seen }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn answer(
    reply: Reply,
    always: &[(&'static str, &'static str)],
) -> (StatusCode, HeaderMap, &'static str) {
    let mut headers = HeaderMap::new();
    let kind = if reply.body.starts_with('{') || reply.body.starts_with('[') {
        "application/json; charset=utf-8"
    } else {
        "text/html"
    };
    headers.insert("content-type", HeaderValue::from_static(kind));
    for (k, v) in always.iter().chain(&reply.headers) {
        headers.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, headers, reply.body)
}
