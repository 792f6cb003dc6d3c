//! Trace files: reading them, and interning their keys to dense ids.
//!
//! A trace is a text file with one request per line:
//!
//! ```text
//! # a comment
//! R 42
//! W user:17
//! ```
//!
//! `R <key>` is a read, `W <key>` a write; both count as one access. A key is
//! any run of non-whitespace bytes. Blank lines and lines whose first
//! non-blank character is `#` are skipped, and a line may end in CRLF. Any
//! other line is an error that names its line number: a trace that silently
//! loses requests would give wrong hit ratios.
//!
//! Each distinct key gets an id `0, 1, 2, ...` in order of first appearance,
//! so the policies can index plain vectors by key instead of hashing strings
//! on every access. Keys are hashed once, here, while loading.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::path::Path;

/// Most requests a trace may have: positions must fit in a `u32` below
/// `u32::MAX`, which the policies use as "none".
pub const MAX_REQUESTS: usize = (u32::MAX - 1) as usize;

/// A trace in memory, its keys interned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// One key id per request, in trace order; each id is below
    /// `distinct_keys`.
    pub keys: Vec<u32>,
    /// Number of distinct keys. Ids are given in order of first appearance.
    pub distinct_keys: usize,
}

impl Trace {
    /// Build a trace from arbitrary numeric keys (tests, benchmarks),
    /// interning them to dense ids in order of first appearance.
    ///
    /// # Panics
    /// If `keys` has [`MAX_REQUESTS`] or more items.
    pub fn from_keys<I: IntoIterator<Item = u64>>(keys: I) -> Trace {
        let mut interner = Interner::default();
        let keys: Vec<u32> = keys
            .into_iter()
            .map(|key| interner.id(&key.to_le_bytes()))
            .collect();
        assert!(keys.len() <= MAX_REQUESTS, "trace too long");
        Trace {
            keys,
            distinct_keys: interner.len(),
        }
    }

    /// Number of requests.
    pub fn requests(&self) -> u64 {
        self.keys.len() as u64
    }
}

/// Why a trace could not be loaded.
#[derive(Debug)]
pub enum TraceError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// A line is neither a request, a comment nor blank.
    Malformed {
        /// 1-based line number.
        line: u64,
        /// The start of the offending line, for the error message.
        text: String,
    },
    /// The trace has more than [`MAX_REQUESTS`] requests.
    TooLong,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(err) => write!(f, "{err}"),
            // `{:?}` quotes the text and escapes control characters, so the
            // message stays on one line whatever the file contains.
            TraceError::Malformed { line, text } => write!(
                f,
                "line {line}: expected `R <key>` or `W <key>`, found {text:?}"
            ),
            TraceError::TooLong => write!(f, "more than {MAX_REQUESTS} requests"),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<io::Error> for TraceError {
    fn from(err: io::Error) -> TraceError {
        TraceError::Io(err)
    }
}

/// Load the trace file at `path`.
///
/// The file is read whole, then parsed: one pass over a byte slice is several
/// times faster than reading it line by line, and the file (about 7 bytes per
/// request) is of the same order as the 4 bytes per request the trace keeps.
///
/// # Errors
/// [`TraceError::Io`] if the file cannot be opened or read,
/// [`TraceError::Malformed`] for the first bad line, [`TraceError::TooLong`].
pub fn load(path: &Path) -> Result<Trace, TraceError> {
    parse(&fs::read(path)?)
}

/// Parse the bytes of a trace file (see the module documentation).
///
/// # Errors
/// As [`load`], except for I/O.
pub fn parse(bytes: &[u8]) -> Result<Trace, TraceError> {
    let mut interner = Interner::default();
    let mut keys = Vec::new();
    // After a final `\n`, `split` yields one more, empty, line: it is blank,
    // so it is skipped like any other.
    for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        match parse_line(line) {
            Line::Skip => {}
            Line::Request(key) => {
                if keys.len() >= MAX_REQUESTS {
                    return Err(TraceError::TooLong);
                }
                keys.push(interner.id(key));
            }
            Line::Malformed => {
                return Err(TraceError::Malformed {
                    line: index as u64 + 1,
                    text: excerpt(line),
                });
            }
        }
    }
    Ok(Trace {
        keys,
        distinct_keys: interner.len(),
    })
}

/// What one line of a trace holds.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// Blank or a comment.
    Skip,
    /// A request for this key.
    Request(&'a [u8]),
    /// Anything else.
    Malformed,
}

fn parse_line(line: &[u8]) -> Line<'_> {
    // Trimming ASCII whitespace also drops the `\r` of a CRLF line ending.
    match line.trim_ascii() {
        [] | [b'#', ..] => Line::Skip,
        [b'R' | b'W', rest @ ..] => {
            // Whitespace must separate the operation from the key, and the
            // key is a single word.
            let key = rest.trim_ascii_start();
            let separated = key.len() < rest.len();
            if separated && !key.is_empty() && !key.iter().any(u8::is_ascii_whitespace) {
                Line::Request(key)
            } else {
                Line::Malformed
            }
        }
        _ => Line::Malformed,
    }
}

/// The start of a bad line, at most 60 characters, for an error message.
fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let mut short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    short
}

/// Gives each distinct key the next free id.
///
/// Keys shorter than 16 bytes (in practice nearly all: ids, block numbers,
/// short names) are packed into a `u128` together with their length, so the
/// table stores them inline: no allocation per key, and a lookup compares
/// two integers instead of following a pointer to compare bytes. Longer keys
/// are stored as boxed byte strings.
#[derive(Debug, Default)]
struct Interner {
    /// Ids of keys shorter than 16 bytes, by [`pack`]ed key.
    short: HashMap<u128, u32, BuildHasherDefault<KeyHasher>>,
    /// Ids of keys of 16 bytes or more.
    long: HashMap<Box<[u8]>, u32, BuildHasherDefault<KeyHasher>>,
}

impl Interner {
    /// The id of `key`, assigning a new one on first sight.
    fn id(&mut self, key: &[u8]) -> u32 {
        // At most one new key per request, and requests are capped below
        // u32::MAX, so a new id fits.
        let next_id = self.len() as u32;
        match pack(key) {
            Some(packed) => *self.short.entry(packed).or_insert(next_id),
            None => {
                if let Some(&id) = self.long.get(key) {
                    return id;
                }
                self.long.insert(key.into(), next_id);
                next_id
            }
        }
    }

    /// Number of distinct keys seen.
    fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }
}

/// A key shorter than 16 bytes as one integer: its bytes, zero-padded, with
/// the length in the last byte, so that `a` and `a\0` stay distinct.
fn pack(key: &[u8]) -> Option<u128> {
    if key.len() >= 16 {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..key.len()].copy_from_slice(key);
    bytes[15] = key.len() as u8;
    Some(u128::from_le_bytes(bytes))
}

/// A fast, non-cryptographic hash for keys (the multiply-rotate scheme of
/// rustc's FxHasher). std's default SipHash resists hash flooding by
/// adversarial input, which a trace file the user chose to simulate is not;
/// interning is most of the loading time, and this hash makes it about twice
/// as fast.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher {
    hash: u64,
}

impl KeyHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // A multiplication only carries information upwards, so the low
        // bits, which pick the bucket, depend on the key's first bytes alone;
        // rotating brings well-mixed high bits down (as rustc-hash 2 does).
        self.hash.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Trace, TraceError> {
        parse(text.as_bytes())
    }

    #[test]
    fn last_line_needs_no_newline() {
        assert_eq!(parse_str("R 1\nR 2").unwrap().keys, [0, 1]);
        assert_eq!(parse_str("R 1\nR 2\n").unwrap().keys, [0, 1]);
        assert_eq!(parse_str("\n").unwrap(), Trace::default());
    }

    #[test]
    fn interns_keys_in_order_of_first_appearance() {
        let trace = parse_str("R b\nR a\nW b\nR c\nR a\n").unwrap();
        assert_eq!(trace.keys, [0, 1, 0, 2, 1]);
        assert_eq!(trace.distinct_keys, 3);
        assert_eq!(trace.requests(), 5);
    }

    #[test]
    fn skips_blank_lines_and_comments_and_accepts_crlf() {
        let text = "# header\r\n\r\n  \t\nR 1\r\n   # indented comment\nW 2\r\nR 1";
        let trace = parse_str(text).unwrap();
        assert_eq!(trace.keys, [0, 1, 0]);
    }

    #[test]
    fn empty_input_is_an_empty_trace() {
        assert_eq!(parse_str("").unwrap(), Trace::default());
    }

    #[test]
    fn malformed_lines_name_their_line_number() {
        for (text, line) in [
            ("R 1\nX 2\n", 2),
            ("R 1\n\n# c\nR\n", 4),
            ("R 1 2\n", 1),
            ("r 1\n", 1),
            ("1\n", 1),
            ("RR 1\n", 1),
            ("R1\n", 1),
            ("W\t\n", 1),
        ] {
            match parse_str(text) {
                Err(TraceError::Malformed { line: found, .. }) => {
                    assert_eq!(found, line, "{text:?}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn error_message_is_one_line_and_short() {
        let long = format!("bad\tline\u{7} {}\n", "x".repeat(200));
        let err = parse_str(&long).unwrap_err().to_string();
        assert!(!err.contains('\n'));
        assert!(err.starts_with("line 1: expected `R <key>` or `W <key>`, found \"bad\\tline"));
        assert!(err.len() < 140, "{err}");
    }

    #[test]
    fn keys_may_be_any_bytes() {
        let trace = parse(b"R \xff\xfe\nR k\xc3\xa9\nR \xff\xfe\n").unwrap();
        assert_eq!(trace.keys, [0, 1, 0]);
    }

    #[test]
    fn short_and_long_keys_are_told_apart() {
        let long = "k".repeat(16);
        let text = format!(
            "R a\nR a\0\nR {long}\nR a\nR {long}\nR {}\n",
            "k".repeat(15)
        );
        let trace = parse_str(&text).unwrap();
        assert_eq!(trace.keys, [0, 1, 2, 0, 2, 3]);
        assert_eq!(trace.distinct_keys, 4);
    }

    #[test]
    fn from_keys_interns_numbers() {
        let trace = Trace::from_keys([7, 7, 1_000_000, 7]);
        assert_eq!(trace.keys, [0, 0, 1, 0]);
        assert_eq!(trace.distinct_keys, 2);
    }
}
