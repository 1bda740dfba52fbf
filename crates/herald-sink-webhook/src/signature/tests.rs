//! Tests for the signature header: a known vector computed independently, and that the body
//! and timestamp are both covered.

use super::*;

#[test]
fn matches_a_known_vector() {
    // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
    assert_eq!(
        sign(b"s3cret", 1_700_000_000, br#"{"a":1}"#),
        "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
    );
}

#[test]
fn body_and_timestamp_are_both_signed() {
    let base = sign(b"k", 1, b"body");
    assert_ne!(base, sign(b"k", 1, b"bodY"));
    assert_ne!(
        base[base.find("v1=").unwrap()..],
        sign(b"k", 2, b"body")[base.find("v1=").unwrap()..]
    );
    assert_ne!(base, sign(b"K", 1, b"body"));
}
