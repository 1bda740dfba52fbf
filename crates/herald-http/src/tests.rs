//! Unit tests for the shared HTTP plumbing: Retry-After forms, network errors that name the
//! provider but never the URL, and `send`'s answer (status, headers, a bounded body).

use super::*;

#[test]
fn retry_after_takes_seconds() {
    assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
    assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
}

#[test]
fn retry_after_takes_an_http_date() {
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(90);
    let text = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&later)
        .unwrap();
    assert!(text.ends_with("GMT"), "{text}");
    let wait = parse_retry_after(&text).unwrap();
    assert!(
        wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
        "{wait:?}"
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(Duration::ZERO)
    );
}

#[test]
fn retry_after_ignores_nonsense() {
    assert_eq!(parse_retry_after("soon"), None);
    assert_eq!(parse_retry_after("-3"), None);
}

#[tokio::test]
async fn a_refused_connection_names_the_provider_not_the_url() {
    // Port 1 on loopback is closed on any sane machine: the connection is refused at once.
    let url = "http://127.0.0.1:1/services/T000/B000/SECRETPART";
    let e = client().unwrap().post(url).send().await.unwrap_err();
    let err = network_error("slack", e, Duration::from_secs(5));
    assert!(err.is_retryable());
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" / {s}"));
        source = s.source();
    }
    assert!(text.starts_with("cannot connect to slack"), "{text}");
    assert!(!text.contains("SECRETPART"), "{text}");
}

/// `network_error` of one request to `url` with `timeout`, as its message.
async fn failure(url: &str, timeout: Duration) -> String {
    let e = client()
        .unwrap()
        .post(url)
        .timeout(timeout)
        .body("{}")
        .send()
        .await
        .unwrap_err();
    let err = network_error("slack", e, timeout);
    assert!(err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(!text.contains("SECRETPART"), "{text}");
    text
}

/// A local listener and what it does with each connection.
async fn peer<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// Reads until the end of the request's headers (or of the stream).
async fn read_request(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_closed_port_says_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = failure(
        &format!("http://127.0.0.1:{port}/services/SECRETPART"),
        Duration::from_secs(5),
    )
    .await;
    expect_test::expect![[r#"cannot connect to slack: connection refused; check the host and port, and that the service is up"#]].assert_eq(&text);
}

#[tokio::test]
async fn an_unknown_host_says_name_not_resolved() {
    // `.invalid` never resolves (RFC 2606), with or without a network.
    let text = failure(
        "http://nonexistent.invalid/services/SECRETPART",
        Duration::from_secs(5),
    )
    .await;
    expect_test::expect![[
        r#"cannot connect to slack: name not resolved; check the host name and this machine's DNS"#
    ]]
    .assert_eq(&text);
}

#[tokio::test]
async fn a_peer_that_never_answers_says_timeout() {
    let addr = peer(|mut stream| async move {
        read_request(&mut stream).await;
        // Holds the connection open without a word until the client gives up.
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut [0u8; 1]).await;
    })
    .await;
    let text = failure(
        &format!("http://{addr}/SECRETPART"),
        Duration::from_millis(300),
    )
    .await;
    expect_test::expect![[
        r#"no answer from slack within 300 ms (timeout); raise timeout_seconds if it is only slow"#
    ]]
    .assert_eq(&text);
}

#[tokio::test]
async fn a_peer_that_resets_says_connection_reset() {
    let addr = peer(|mut stream| async move {
        read_request(&mut stream).await;
        // Linger zero: closing sends RST instead of FIN.
        #[allow(deprecated)]
        stream.set_linger(Some(Duration::ZERO)).unwrap();
        drop(stream);
    })
    .await;
    let text = failure(&format!("http://{addr}/SECRETPART"), Duration::from_secs(5)).await;
    expect_test::expect![[
        r#"connection to slack reset; the service, or a proxy or firewall in between, cut it"#
    ]]
    .assert_eq(&text);
}

#[tokio::test]
async fn a_peer_that_closes_without_answering_says_so() {
    let addr = peer(|mut stream| async move {
        read_request(&mut stream).await;
        drop(stream);
    })
    .await;
    let text = failure(&format!("http://{addr}/SECRETPART"), Duration::from_secs(5)).await;
    expect_test::expect![[r#"slack closed the connection without a complete answer"#]]
        .assert_eq(&text);
}

#[tokio::test]
async fn plain_http_behind_an_https_url_says_tls_failure() {
    let addr = peer(|mut stream| async move {
        use tokio::io::AsyncWriteExt;
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut [0u8; 1024]).await;
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
    })
    .await;
    let text = failure(
        &format!("https://{addr}/SECRETPART"),
        Duration::from_secs(5),
    )
    .await;
    expect_test::expect![[r#"cannot connect to slack: tls failure; check that the port serves https and that its certificate is valid for the host"#]].assert_eq(&text);
}

/// A peer answering every request with `status` and a body announced as `announced` bytes,
/// of which it sends `sent` before closing.
async fn answering(status: u16, announced: usize, sent: usize) -> std::net::SocketAddr {
    peer(move |mut stream| async move {
        use tokio::io::AsyncWriteExt;
        read_request(&mut stream).await;
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {announced}\r\nretry-after: 3\r\nconnection: close\r\n\r\n"
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&vec![b'x'; sent]).await;
    })
    .await
}

async fn answer_of(addr: std::net::SocketAddr) -> Result<Answer, SinkError> {
    let request = client()
        .unwrap()
        .post(format!("http://{addr}/SECRETPART"))
        .body("{}");
    send("slack", request, Duration::from_secs(5)).await
}

#[tokio::test]
async fn send_returns_the_status_headers_and_a_bounded_body() {
    let big = MAX_ANSWER_BYTES * 3;
    let answer = answer_of(answering(503, big, big).await).await.unwrap();
    assert_eq!(answer.status, 503);
    assert!(!answer.is_success());
    assert_eq!(answer.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(answer.text.len(), MAX_ANSWER_BYTES);
}

#[tokio::test]
async fn a_body_that_breaks_off_fails_an_error_answer_but_not_a_success() {
    let failed = answer_of(answering(500, 100, 10).await).await.unwrap_err();
    assert!(failed.is_retryable());
    assert!(!failed.to_string().contains("SECRETPART"), "{failed}");
    let taken = answer_of(answering(200, 100, 10).await).await.unwrap();
    assert!(taken.is_success());
    assert!(
        taken
            .text
            .starts_with("xxxxxxxxxx(response body unreadable: "),
        "{}",
        taken.text
    );
}
