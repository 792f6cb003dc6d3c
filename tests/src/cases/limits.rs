//! The request head limits, checked exactly at their boundaries: 8192 bytes of head, 100 header
//! fields, 4096 bytes of request target (DESIGN "HTTP behaviour").

use crate::cases::expect_status;
use crate::target::Target;

/// The largest head the server must accept, in bytes: request line + header fields + the final
/// empty line.
const MAX_HEAD_BYTES: usize = 8192;

/// The most header fields the server must accept.
const MAX_HEADER_FIELDS: usize = 100;

/// The longest request target the server must accept, in bytes.
const MAX_TARGET_BYTES: usize = 4096;

/// A valid `GET /health` head of exactly `total` bytes, padded with an `X-Pad` field.
fn head_of_size(total: usize) -> Result<Vec<u8>, String> {
    let start = "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let padding = total
        .checked_sub(start.len() + end.len())
        .ok_or("head size too small for the request")?;
    let head = format!("{start}{}{end}", "a".repeat(padding));
    debug_assert_eq!(head.len(), total);
    Ok(head.into_bytes())
}

/// A valid `GET /health` head with exactly `fields` header fields (Host plus `X-Fn` fields).
fn head_with_fields(fields: usize) -> Vec<u8> {
    let mut head = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for n in 1..fields {
        head.push_str(&format!("X-F{n}: v\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A `GET` whose request target (`/aaa…`) is exactly `length` bytes.
fn request_with_target(length: usize) -> Vec<u8> {
    let target = format!("/{}", "a".repeat(length.saturating_sub(1)));
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// A head of 8191 bytes is served: 200 (DESIGN: head at most 8 KiB).
pub fn head_of_8191_bytes_ok(target: &Target) -> Result<(), String> {
    expect_status(target, &head_of_size(MAX_HEAD_BYTES - 1)?, 200).map(|_| ())
}

/// A head of exactly 8192 bytes, the limit itself, is served: 200 (DESIGN: "at most 8 KiB").
pub fn head_of_8192_bytes_ok(target: &Target) -> Result<(), String> {
    expect_status(target, &head_of_size(MAX_HEAD_BYTES)?, 200).map(|_| ())
}

/// A head of 8193 bytes answers 431 Request Header Fields Too Large (RFC 6585 §5).
pub fn head_of_8193_bytes_431(target: &Target) -> Result<(), String> {
    expect_status(target, &head_of_size(MAX_HEAD_BYTES + 1)?, 431).map(|_| ())
}

/// 100 header fields are served: 200 (DESIGN: at most 100 header fields).
pub fn hundred_header_fields_ok(target: &Target) -> Result<(), String> {
    expect_status(target, &head_with_fields(MAX_HEADER_FIELDS), 200).map(|_| ())
}

/// 101 header fields answer 431 (RFC 6585 §5).
pub fn hundred_and_one_header_fields_431(target: &Target) -> Result<(), String> {
    expect_status(target, &head_with_fields(MAX_HEADER_FIELDS + 1), 431).map(|_| ())
}

/// A 4096-byte request target is within the limit: an ordinary 404, not 414 (DESIGN).
pub fn target_of_4096_bytes_not_414(target: &Target) -> Result<(), String> {
    expect_status(target, &request_with_target(MAX_TARGET_BYTES), 404).map(|_| ())
}

/// A 4097-byte request target answers 414 URI Too Long (RFC 9110 §15.5.15).
pub fn target_of_4097_bytes_414(target: &Target) -> Result<(), String> {
    expect_status(target, &request_with_target(MAX_TARGET_BYTES + 1), 414).map(|_| ())
}
