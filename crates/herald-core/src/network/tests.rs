//! Network causes found in real errors from real local sockets: a closed port and a name under
//! `.invalid` (which never resolves, so no network is needed); herald-http's tests add the
//! causes only an HTTP exchange shows (timeout, reset, TLS, closed).

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use expect_test::expect;

use super::*;

fn closed_port() -> u16 {
    // Bound then dropped: nothing listens there any more.
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_closed_port_is_refused() {
    let e = TcpStream::connect(("127.0.0.1", closed_port())).unwrap_err();
    assert_eq!(NetworkCause::of(&e), Some(NetworkCause::Refused));
}

#[test]
fn an_invalid_name_is_not_resolved() {
    let e = "nonexistent.invalid:443".to_socket_addrs().unwrap_err();
    assert_eq!(NetworkCause::of(&e), Some(NetworkCause::NameNotResolved));
}

#[test]
fn a_cause_deep_in_the_chain_is_found() {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let inner = TcpStream::connect(("127.0.0.1", closed_port())).unwrap_err();
    assert_eq!(NetworkCause::of(&Outer(inner)), Some(NetworkCause::Refused));
    let other = std::io::Error::other("something else");
    assert_eq!(NetworkCause::of(&other), None);
    assert_eq!(innermost(&Outer(other)), "something else");
}

#[test]
fn descriptions_name_the_cause_and_a_hint() {
    let d = |c: NetworkCause| c.describe("slack", Duration::from_secs(10));
    expect![[r#"cannot connect to slack: connection refused; check the host and port, and that the service is up"#]]
        .assert_eq(&d(NetworkCause::Refused));
    expect![[
        r#"cannot connect to slack: name not resolved; check the host name and this machine's DNS"#
    ]]
    .assert_eq(&d(NetworkCause::NameNotResolved));
    expect![[r#"cannot connect to slack: tls failure; check that the port serves https and that its certificate is valid for the host"#]]
        .assert_eq(&d(NetworkCause::Tls));
    expect![[r#"no answer from slack within 10 seconds (timeout); raise timeout_seconds if it is only slow"#]]
        .assert_eq(&d(NetworkCause::Timeout));
    expect![[
        r#"connection to slack reset; the service, or a proxy or firewall in between, cut it"#
    ]]
    .assert_eq(&d(NetworkCause::Reset));
    expect![[r#"slack closed the connection without a complete answer"#]]
        .assert_eq(&d(NetworkCause::Closed));
    assert_eq!(
        NetworkCause::Timeout.describe("line", Duration::from_millis(250)),
        "no answer from line within 250 ms (timeout); raise timeout_seconds if it is only slow"
    );
}

#[test]
fn io_error_kinds_name_their_cause_whatever_the_text() {
    use std::io::{Error, ErrorKind};
    for (kind, cause) in [
        (ErrorKind::ConnectionRefused, NetworkCause::Refused),
        (ErrorKind::ConnectionReset, NetworkCause::Reset),
        (ErrorKind::ConnectionAborted, NetworkCause::Reset),
        (ErrorKind::BrokenPipe, NetworkCause::Reset),
        (ErrorKind::TimedOut, NetworkCause::Timeout),
    ] {
        let e = Error::new(kind, "opaque");
        assert_eq!(NetworkCause::of(&e), Some(cause), "{kind:?}");
    }
}
