//! Tests for [`decompress`]: the bodies sentry-python really sent (gzip and br), deflate in
//! both forms, the cap on output (a bomb stops at the cap, and a buffer never outgrows it),
//! and the statuses of the errors.

use std::io::Write;

use super::*;

const GZ: &[u8] = include_bytes!("../../tests/fixtures/python/key-error-gzip.envelope.gz");
const GZ_PLAIN: &[u8] = include_bytes!("../../tests/fixtures/python/key-error-gzip.envelope");
const BR: &[u8] = include_bytes!("../../tests/fixtures/python/key-error-br.envelope.br");
const BR_PLAIN: &[u8] = include_bytes!("../../tests/fixtures/python/key-error-br.envelope");

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn what_sentry_python_sent_decodes_to_what_it_meant() {
    assert_eq!(
        decompress(GZ, Some("gzip"), MAX_ENVELOPE_BYTES).unwrap(),
        GZ_PLAIN
    );
    assert_eq!(
        decompress(BR, Some("br"), MAX_ENVELOPE_BYTES).unwrap(),
        BR_PLAIN
    );
}

#[test]
fn deflate_is_read_wrapped_in_zlib_or_raw() {
    let data = b"{\"event_id\":\"x\"}\n".repeat(100);
    assert_eq!(
        decompress(&zlib(&data), Some("deflate"), 1 << 20).unwrap(),
        data
    );
    assert_eq!(
        decompress(&raw_deflate(&data), Some("Deflate"), 1 << 20).unwrap(),
        data
    );
}

#[test]
fn no_encoding_or_identity_passes_the_body_through_under_the_cap() {
    assert_eq!(decompress(b"abc", None, 3).unwrap(), b"abc");
    assert_eq!(decompress(b"abc", Some("identity"), 3).unwrap(), b"abc");
    assert_eq!(
        decompress(b"abcd", Some(""), 3).unwrap_err(),
        DecompressError::TooLarge { limit: 3 }
    );
}

#[test]
fn listed_codings_are_undone_last_first() {
    let data = b"payload".repeat(10);
    let body = {
        let mut e = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
        e.write_all(&gzip(&data)).unwrap();
        e.into_inner()
    };
    assert_eq!(decompress(&body, Some("gzip, br"), 1 << 20).unwrap(), data);
}

#[test]
fn a_bomb_is_refused_at_the_cap() {
    // 4 MiB of zeros gzip to about 4 KiB: a ratio of 1,000.
    let bomb = gzip(&vec![0u8; 4 << 20]);
    assert!(bomb.len() < 16 << 10, "{}", bomb.len());
    let limit = 256 << 10;
    for (body, coding) in [
        (bomb.clone(), "gzip"),
        (zlib(&vec![0u8; 4 << 20]), "deflate"),
    ] {
        assert_eq!(
            decompress(&body, Some(coding), limit).unwrap_err(),
            DecompressError::TooLarge { limit },
            "{coding}"
        );
    }
    assert_eq!(DecompressError::TooLarge { limit }.status(), 413);
}

#[test]
fn the_buffer_never_outgrows_the_cap() {
    // Just under the cap: doubling from 16 KiB would reach 1 MiB + 16 KiB without the cap.
    let limit = (1 << 20) + 100;
    let data = vec![7u8; limit];
    let out = decompress(&gzip(&data), Some("gzip"), limit).unwrap();
    assert_eq!(out.len(), limit);
    assert!(out.capacity() <= limit, "{}", out.capacity());
}

#[test]
fn corrupt_data_and_unknown_codings_are_refused() {
    let err = decompress(b"not gzip at all", Some("gzip"), 1 << 20).unwrap_err();
    assert!(
        matches!(
            err,
            DecompressError::Corrupt {
                encoding: "gzip",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.status(), 400);
    let truncated = &GZ[..GZ.len() / 2];
    let err = decompress(truncated, Some("gzip"), 1 << 20).unwrap_err();
    assert_eq!(err.status(), 400, "{err:?}");
    let err = decompress(b"\xff\xff\xff", Some("br"), 1 << 20).unwrap_err();
    assert!(
        matches!(err, DecompressError::Corrupt { encoding: "br", .. }),
        "{err:?}"
    );
    let err = decompress(b"x", Some("zstd"), 1 << 20).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported Content-Encoding \"zstd\" (supported: gzip, deflate, br)"
    );
    assert_eq!(err.status(), 415);
}
