//! Tests for the response helpers: the receipt excerpt.

use super::*;

#[test]
fn excerpt_keeps_the_first_200_characters() {
    let long = "é".repeat(300);
    assert_eq!(excerpt(long.as_bytes()).chars().count(), 200);
    assert_eq!(excerpt(b"  ok \n"), "ok");
}
