//! Request bodies as the SDK compressed them (`Content-Encoding`: gzip, deflate in its zlib
//! or raw form, br, or a list of them), decoded as a stream into a buffer that never grows
//! past a hard cap: a decompression bomb is refused after at most the cap of output, and the
//! buffer's capacity never exceeds the cap, whatever the ratio.

use std::io::Read;

/// The largest envelope accepted after decompression, by default (Sentry's own limit for an
/// envelope is larger, but its events are capped at 1 MiB and herald keeps no attachments).
pub const MAX_ENVELOPE_BYTES: usize = 20 * 1024 * 1024;

/// A body that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    #[error("the body is larger than {limit} bytes after decompression")]
    TooLarge { limit: usize },
    #[error("the body is not valid {encoding} data: {detail}")]
    Corrupt {
        encoding: &'static str,
        detail: String,
    },
    #[error("unsupported Content-Encoding \"{0}\" (supported: gzip, deflate, br)")]
    Unsupported(String),
}

impl DecompressError {
    /// `413` for too large, `415` for an encoding herald does not read, `400` for corrupt data.
    pub fn status(&self) -> u16 {
        match self {
            DecompressError::TooLarge { .. } => 413,
            DecompressError::Unsupported(_) => 415,
            DecompressError::Corrupt { .. } => 400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
        }
    }
}

/// Reads a `Content-Encoding` value: codings in the order they were applied; `identity` and
/// an empty value mean none.
fn codings(header: &str) -> Result<Vec<Coding>, DecompressError> {
    header
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .map(|c| match c.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Ok(Coding::Gzip),
            "deflate" => Ok(Coding::Deflate),
            "br" => Ok(Coding::Brotli),
            _ => Err(DecompressError::Unsupported(c.to_owned())),
        })
        .collect()
}

/// `body` decoded as `content_encoding` says (`None`: as it is), at most `limit` bytes of
/// output. Codings listed together (`gzip, br`) are undone last first, each held to `limit`.
pub fn decompress(
    body: &[u8],
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let codings = codings(content_encoding.unwrap_or(""))?;
    let Some((last, earlier)) = codings.split_last() else {
        if body.len() > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        return Ok(body.to_vec());
    };
    let mut out = decode(body, *last, limit)?;
    for coding in earlier.iter().rev() {
        out = decode(&out, *coding, limit)?;
    }
    Ok(out)
}

fn decode(input: &[u8], coding: Coding, limit: usize) -> Result<Vec<u8>, DecompressError> {
    match coding {
        Coding::Gzip => capped(flate2::read::MultiGzDecoder::new(input), coding, limit),
        Coding::Deflate if is_zlib(input) => {
            capped(flate2::read::ZlibDecoder::new(input), coding, limit)
        }
        Coding::Deflate => capped(flate2::read::DeflateDecoder::new(input), coding, limit),
        Coding::Brotli => capped(brotli::Decompressor::new(input, 64 * 1024), coding, limit),
    }
}

/// HTTP's `deflate` is meant to be zlib-wrapped, but some clients send raw deflate: a zlib
/// stream starts with a header whose method is 8 and whose two bytes are a multiple of 31.
fn is_zlib(input: &[u8]) -> bool {
    match input {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Reads `reader` to its end into a buffer of at most `limit` bytes, growing it by doubling
/// but never past `limit`, and stops with [`DecompressError::TooLarge`] at the first byte
/// beyond.
fn capped(mut reader: impl Read, coding: Coding, limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DecompressError::Corrupt {
                    encoding: coding.name(),
                    detail: e.to_string().to_lowercase(),
                });
            }
        };
        let wanted = out.len() + n;
        if wanted > limit {
            return Err(DecompressError::TooLarge { limit });
        }
        if wanted > out.capacity() {
            let grown = (out.capacity() * 2).max(wanted).min(limit);
            out.reserve_exact(grown - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests;
