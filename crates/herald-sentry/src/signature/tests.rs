//! Tests for request authentication: good, wrong, missing and truncated signatures, stale and
//! unreadable timestamps, legacy tokens, and the per-source policy.

use super::*;

const BODY: &[u8] = br#"{"action":"created","data":{"issue":{"id":"1"}}}"#;

fn secret() -> Secret {
    Secret::new("herald-client-secret")
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_000).unwrap()
}

#[test]
fn sign_matches_a_known_hmac_sha256_vector() {
    // RFC 4231 test case 2 ("Jefe").
    assert_eq!(
        sign(&Secret::new("Jefe"), b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn good_signature_is_accepted() {
    let signature = sign(&secret(), BODY);
    assert_eq!(signature.len(), 64);
    assert_eq!(verify_signature(&secret(), BODY, Some(&signature)), Ok(()));
    // Surrounding whitespace from a proxy does not matter.
    let padded = format!(" {signature} ");
    assert_eq!(verify_signature(&secret(), BODY, Some(&padded)), Ok(()));
}

#[test]
fn signature_of_the_empty_body_is_checked_too() {
    let signature = sign(&secret(), b"");
    assert_eq!(verify_signature(&secret(), b"", Some(&signature)), Ok(()));
    assert!(verify_signature(&secret(), b" ", Some(&signature)).is_err());
}

#[test]
fn wrong_signature_is_refused() {
    let other = sign(&Secret::new("another-secret"), BODY);
    assert_eq!(
        verify_signature(&secret(), BODY, Some(&other)),
        Err(SignatureError::WrongSignature {
            given: other.clone()
        })
    );
    // A changed body with the old signature fails.
    let signature = sign(&secret(), BODY);
    assert!(verify_signature(&secret(), b"{}", Some(&signature)).is_err());
}

#[test]
fn missing_signature_is_its_own_error() {
    assert_eq!(
        verify_signature(&secret(), BODY, None),
        Err(SignatureError::MissingSignature)
    );
    assert_eq!(
        verify_signature(&secret(), BODY, Some("  ")),
        Err(SignatureError::MissingSignature)
    );
}

#[test]
fn truncated_or_non_hex_signatures_are_refused() {
    // A prefix comparison would accept these; the full-length MAC comparison must not.
    let signature = sign(&secret(), BODY);
    assert!(verify_signature(&secret(), BODY, Some(&signature[..32])).is_err());
    assert!(verify_signature(&secret(), BODY, Some(&signature[..1])).is_err());
    assert!(verify_signature(&secret(), BODY, Some("sha256=zz")).is_err());
}

#[test]
fn error_messages_never_show_the_secret_and_stay_short() {
    let long = "a".repeat(500);
    let err = verify_signature(&secret(), BODY, Some(&long)).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("herald-client-secret"), "{text}");
    assert!(text.len() < 300, "{text}");
}

#[test]
fn fresh_timestamps_pass_in_both_directions() {
    let max = Duration::from_secs(300);
    assert_eq!(check_timestamp(Some("1700000000"), max, now()), Ok(()));
    assert_eq!(check_timestamp(Some("1699999700"), max, now()), Ok(()));
    assert_eq!(check_timestamp(Some("1700000300"), max, now()), Ok(()));
    assert_eq!(check_timestamp(Some("1700000000.4"), max, now()), Ok(()));
}

#[test]
fn stale_or_future_timestamps_are_refused() {
    let max = Duration::from_secs(300);
    assert_eq!(
        check_timestamp(Some("1699999699"), max, now()),
        Err(SignatureError::StaleTimestamp {
            given: "1699999699".into(),
            skew_seconds: 301,
            max_seconds: 300
        })
    );
    assert!(matches!(
        check_timestamp(Some("1700000301"), max, now()),
        Err(SignatureError::StaleTimestamp {
            skew_seconds: 301,
            ..
        })
    ));
}

#[test]
fn missing_or_unreadable_timestamps_are_refused() {
    let max = Duration::from_secs(300);
    assert_eq!(
        check_timestamp(None, max, now()),
        Err(SignatureError::MissingTimestamp)
    );
    for bad in ["yesterday", "NaN", "inf", "1e400", "-"] {
        assert_eq!(
            check_timestamp(Some(bad), max, now()),
            Err(SignatureError::BadTimestamp { given: bad.into() }),
            "{bad}"
        );
    }
    // Extreme but well-formed values are stale, not a panic.
    assert!(matches!(
        check_timestamp(Some("-9223372036854775808"), max, now()),
        Err(SignatureError::StaleTimestamp { .. })
    ));
}

#[test]
fn tokens_are_compared_exactly() {
    let expected = Secret::new("legacy-t0ken");
    assert_eq!(verify_token(&expected, Some("legacy-t0ken")), Ok(()));
    assert_eq!(
        verify_token(&expected, Some("legacy-t0ke")),
        Err(SignatureError::WrongToken)
    );
    assert_eq!(
        verify_token(&expected, Some("legacy-t0ken ")),
        Err(SignatureError::WrongToken)
    );
    assert_eq!(
        verify_token(&expected, None),
        Err(SignatureError::MissingToken)
    );
    assert_eq!(
        verify_token(&expected, Some("")),
        Err(SignatureError::MissingToken)
    );
}

fn config(client_secret: bool, legacy_token: bool, skew: Option<u64>) -> SourceConfig {
    SourceConfig {
        kind: Some("sentry".into()),
        client_secret: client_secret.then(secret),
        legacy_token: legacy_token.then(|| Secret::new("legacy-t0ken")),
        max_skew_seconds: skew,
        insecure: false,
    }
}

#[test]
fn policy_for_integration_platform_requests() {
    let signature = sign(&secret(), BODY);
    let signed = Credentials {
        resource: Some("issue"),
        signature: Some(&signature),
        timestamp: Some("1700000000"),
        token: None,
    };
    let unsigned = Credentials {
        signature: None,
        ..signed
    };
    assert_eq!(
        config(true, false, None).authenticate(signed, BODY, now()),
        Ok(())
    );
    assert_eq!(
        config(true, false, None).authenticate(unsigned, BODY, now()),
        Err(SignatureError::MissingSignature)
    );
    let later = jiff::Timestamp::from_second(1_700_001_000).unwrap();
    assert!(matches!(
        config(true, false, Some(300)).authenticate(signed, BODY, later),
        Err(SignatureError::StaleTimestamp { .. })
    ));
    assert_eq!(
        config(true, false, None).authenticate(signed, BODY, later),
        Ok(())
    );
}

#[test]
fn policy_for_legacy_requests() {
    let legacy = |token| Credentials {
        token,
        ..Credentials::default()
    };
    assert_eq!(
        config(true, true, None).authenticate(legacy(Some("legacy-t0ken")), BODY, now()),
        Ok(())
    );
    assert_eq!(
        config(true, true, None).authenticate(legacy(Some("nope")), BODY, now()),
        Err(SignatureError::WrongToken)
    );
    assert_eq!(
        config(true, false, None).authenticate(legacy(None), BODY, now()),
        Err(SignatureError::LegacyNotAllowed)
    );
}

#[test]
fn a_platform_request_is_refused_by_a_source_with_only_a_legacy_token() {
    // The headline attack: with client_secret empty, an unsigned integration-platform request
    // (and one signed with any key, and one with a stale timestamp) must not pass.
    let anyone = sign(&Secret::new("anything"), BODY);
    for signature in [None, Some(anyone.as_str())] {
        let request = Credentials {
            resource: Some("issue"),
            signature,
            timestamp: Some("1"),
            token: Some("legacy-t0ken"),
        };
        assert_eq!(
            config(false, true, Some(300)).authenticate(request, BODY, now()),
            Err(SignatureError::PlatformNotAllowed)
        );
    }
}

#[test]
fn a_legacy_request_is_refused_by_a_source_with_only_a_client_secret() {
    // Neither the secret itself as a token nor a valid body signature opens the legacy door.
    let signature = sign(&secret(), BODY);
    let request = Credentials {
        resource: None,
        signature: Some(&signature),
        timestamp: Some("1700000000"),
        token: Some("herald-client-secret"),
    };
    assert_eq!(
        config(true, false, None).authenticate(request, BODY, now()),
        Err(SignatureError::LegacyNotAllowed)
    );
}

#[test]
fn a_source_without_credentials_refuses_everything_unless_insecure() {
    let platform = Credentials {
        resource: Some("issue"),
        ..Credentials::default()
    };
    let legacy = Credentials::default();
    let closed = config(false, false, None);
    assert_eq!(
        closed.authenticate(platform, BODY, now()),
        Err(SignatureError::PlatformNotAllowed)
    );
    assert_eq!(
        closed.authenticate(legacy, BODY, now()),
        Err(SignatureError::LegacyNotAllowed)
    );
    let open = SourceConfig {
        insecure: true,
        ..closed
    };
    assert_eq!(open.authenticate(platform, BODY, now()), Ok(()));
    assert_eq!(open.authenticate(legacy, BODY, now()), Ok(()));
}
