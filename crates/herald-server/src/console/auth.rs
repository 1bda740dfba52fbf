//! The console's sign-in and its protection against cross-site requests, kept stateless so
//! that any instance sharing a PostgreSQL store accepts a session another one issued.
//!
//! A session cookie is `<expiry>.<nonce>.<mac>`: the expiry in Unix seconds, a random nonce
//! (so two sign-ins in one second get different cookies) and an HMAC-SHA256 of both under a
//! key derived from `server.admin_token`. The token itself is never in the cookie, and
//! changing the token ends every session at once. A form's CSRF token is an HMAC of the
//! session cookie under the same key with another label, so it is bound to one session and
//! cannot be made without the key; the gate compares it in constant time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The cookie's name.
pub const COOKIE: &str = "herald_session";

/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 12 * 60 * 60;

/// The console's key, derived from the admin token (never the token itself).
#[derive(Clone)]
pub struct Keys {
    key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

impl Keys {
    pub fn from_token(token: &str) -> Keys {
        let mut mac = HmacSha256::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
        mac.update(b"herald console session key v1");
        Keys {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, label: &[u8], message: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(label);
        mac.update(b"\0");
        mac.update(message);
        mac
    }

    /// A new session cookie value that ends at `now + SESSION_SECONDS`.
    pub fn issue(&self, now: i64, nonce: u64) -> String {
        let body = format!("{}.{nonce:016x}", now.saturating_add(SESSION_SECONDS));
        let mac = self
            .mac(b"session", body.as_bytes())
            .finalize()
            .into_bytes();
        format!("{body}.{}", hex::encode(mac))
    }

    /// Whether `cookie` is a session this key issued that has not ended at `now`.
    pub fn verify(&self, cookie: &str, now: i64) -> bool {
        let Some((body, mac)) = cookie.rsplit_once('.') else {
            return false;
        };
        let Ok(mac) = hex::decode(mac) else {
            return false;
        };
        if self
            .mac(b"session", body.as_bytes())
            .verify_slice(&mac)
            .is_err()
        {
            return false;
        }
        body.split_once('.')
            .and_then(|(expiry, _)| expiry.parse::<i64>().ok())
            .is_some_and(|expiry| now < expiry)
    }

    /// The CSRF token of the session `cookie`.
    pub fn csrf(&self, cookie: &str) -> String {
        hex::encode(self.mac(b"csrf", cookie.as_bytes()).finalize().into_bytes())
    }

    /// Whether `given` is the CSRF token of the session `cookie` (constant time).
    pub fn csrf_matches(&self, cookie: &str, given: &str) -> bool {
        let want = self.csrf(cookie);
        want.len() == given.len() && bool::from(want.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// Whether `given` is the admin token, compared in constant time over SHA-256 digests so that
/// neither the content nor the length leaks (as the admin API compares its bearer token).
pub fn token_matches(token: &str, given: &str) -> bool {
    let want = Sha256::digest(token.as_bytes());
    let got = Sha256::digest(given.as_bytes());
    bool::from(want.ct_eq(&got))
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
