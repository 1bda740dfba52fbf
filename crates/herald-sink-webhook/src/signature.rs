//! The `X-Herald-Signature` header: an HMAC-SHA256 over the timestamp and the exact body bytes,
//! so a receiver can check both who sent a request and that it is fresh.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(t.len() + 70);
    out.push_str("t=");
    out.push_str(&t);
    out.push_str(",v1=");
    out.push_str(&hex::encode(digest));
    out
}

#[cfg(test)]
mod tests;
