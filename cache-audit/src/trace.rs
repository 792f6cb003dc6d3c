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
//!
//! The file is parsed as it is read, a chunk at a time, and a line may be at
//! most [`MAX_LINE_BYTES`] long. So loading stops at the first bad line
//! without reading the rest, and its memory grows with the number of requests
//! (4 bytes each) and of distinct keys, never with the size of the file or
//! the length of a line: even `/dev/zero`, one endless line, fails after
//! reading 128 KiB.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::path::Path;

/// Most requests a trace may have: positions must fit in a `u32` below
/// `u32::MAX`, which the policies use as "none".
pub const MAX_REQUESTS: usize = (u32::MAX - 1) as usize;

/// Longest line a trace may have, in bytes, not counting its `\n` (the `\r`
/// of a CRLF ending counts). A request line is a few bytes; the limit is there
/// so that a file without newlines (binary data, `/dev/zero`) is an error
/// instead of a line that fills memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Size of the buffer the file is read into, in bytes. It holds the
/// unfinished last line of one read (at most [`MAX_LINE_BYTES`]) followed by
/// the next read, so it is larger than a line by the 64 KiB of a read: few
/// system calls, and a fixed amount of memory whatever the file holds.
const BUFFER_BYTES: usize = MAX_LINE_BYTES + 64 * 1024;

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
    /// A line is longer than [`MAX_LINE_BYTES`].
    LineTooLong {
        /// 1-based line number.
        line: u64,
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
            TraceError::LineTooLong { line } => {
                write!(f, "line {line}: longer than {MAX_LINE_BYTES} bytes")
            }
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
/// # Errors
/// [`TraceError::Io`] if the file cannot be opened or read,
/// [`TraceError::Malformed`] or [`TraceError::LineTooLong`] for the first bad
/// line, [`TraceError::TooLong`].
pub fn load(path: &Path) -> Result<Trace, TraceError> {
    read(File::open(path)?)
}

/// Read and parse a trace (see the module documentation) from `input`,
/// stopping at the first bad line.
///
/// The input is read in chunks into one fixed buffer of 128 KiB,
/// and each chunk's complete lines are parsed straight from the buffer, with
/// no copy and no function call per line. The unfinished line at the end of a
/// chunk is moved to the front of the buffer and completed by the next read.
/// (Loading is most of a run's time: reading line by line with
/// `BufRead::read_until` instead made a whole run of the benchmark's trace
/// execute 40 % more instructions.)
///
/// # Errors
/// As [`load`].
pub fn read(mut input: impl Read) -> Result<Trace, TraceError> {
    let mut parser = Parser::default();
    let mut buffer = vec![0u8; BUFFER_BYTES];
    // `buffer[..filled]` holds bytes read but not parsed yet: the start of
    // a line whose `\n` has not been read.
    let mut filled = 0;
    loop {
        let kept = filled;
        let bytes_read = read_some(&mut input, &mut buffer[filled..])?;
        let at_end = bytes_read == 0;
        filled += bytes_read;
        // The complete lines: up to the last `\n`, or at the end of the file
        // everything (the last line need not end in `\n`). Only the bytes just
        // read are searched: the `kept` ones hold no `\n`, and searching them
        // again after every read would be quadratic for a long line arriving
        // in small reads (from a pipe, say).
        let complete = if at_end {
            filled
        } else {
            match buffer[kept..filled].iter().rposition(|&byte| byte == b'\n') {
                Some(newline) => kept + newline + 1,
                None => 0,
            }
        };
        parser.parse_lines(&buffer[..complete])?;
        if at_end {
            return Ok(parser.finish());
        }
        // What is left is the start of the next line. If it is already too
        // long, stop here rather than read the rest of it.
        let unfinished = filled - complete;
        if unfinished > MAX_LINE_BYTES {
            return Err(TraceError::LineTooLong {
                line: parser.lines + 1,
            });
        }
        // Since `unfinished <= MAX_LINE_BYTES`, at least 64 KiB of the buffer
        // are free for the next read: a read into an empty slice would return
        // 0 and look like the end of the file.
        buffer.copy_within(complete..filled, 0);
        filled = unfinished;
    }
}

/// One `read` into `buffer`, retried if a signal interrupted it; the number
/// of bytes read, 0 at the end of the input.
fn read_some(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buffer) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// The state of a trace being parsed line by line.
#[derive(Debug, Default)]
struct Parser {
    interner: Interner,
    /// One key id per request so far.
    keys: Vec<u32>,
    /// Number of lines parsed so far.
    lines: u64,
}

impl Parser {
    /// Parse `bytes`, whole lines each ending in `\n` (except perhaps the
    /// last line of the file).
    fn parse_lines(&mut self, bytes: &[u8]) -> Result<(), TraceError> {
        for line in bytes.split_inclusive(|&byte| byte == b'\n') {
            self.lines += 1;
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            // Checked here too, not only for the unfinished line in `read`: a
            // line can start at the end of one read and end in the next.
            if line.len() > MAX_LINE_BYTES {
                return Err(TraceError::LineTooLong { line: self.lines });
            }
            match parse_line(line) {
                Line::Skip => {}
                Line::Request(key) => {
                    if self.keys.len() >= MAX_REQUESTS {
                        return Err(TraceError::TooLong);
                    }
                    self.keys.push(self.interner.id(key));
                }
                Line::Malformed => {
                    return Err(TraceError::Malformed {
                        line: self.lines,
                        text: excerpt(line),
                    });
                }
            }
        }
        Ok(())
    }

    /// The trace parsed.
    fn finish(self) -> Trace {
        Trace {
            distinct_keys: self.interner.len(),
            keys: self.keys,
        }
    }
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

    /// Parse a trace held in memory (a byte slice is a `BufRead`).
    fn parse(bytes: &[u8]) -> Result<Trace, TraceError> {
        read(bytes)
    }

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

    /// A reader that hands out at most `step` bytes per `read`, and fails
    /// every other call with `Interrupted`, as a signal arriving during a read
    /// would: lines then end up split across reads in every possible way.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
        interrupt: bool,
    }

    impl<'a> Trickle<'a> {
        fn new(bytes: &'a [u8], step: usize) -> Trickle<'a> {
            Trickle {
                bytes,
                step,
                interrupt: true,
            }
        }
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let count = self.step.min(buffer.len()).min(self.bytes.len());
            buffer[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    /// Read sizes that put line ends everywhere relative to the buffer.
    const STEPS: [usize; 7] = [
        1,
        2,
        7,
        4096,
        MAX_LINE_BYTES - 1,
        MAX_LINE_BYTES + 1,
        usize::MAX,
    ];

    #[test]
    fn lines_split_across_reads_parse_the_same() {
        let longest_key = "k".repeat(MAX_LINE_BYTES - 2);
        let text = format!("# header\r\nR a\nW {longest_key}\n\nR b\r\nR {longest_key}\nR a");
        let expected = Trace {
            keys: vec![0, 1, 2, 1, 0],
            distinct_keys: 3,
        };
        for step in STEPS {
            let trace = read(Trickle::new(text.as_bytes(), step)).unwrap();
            assert_eq!(trace, expected, "reads of {step} bytes");
        }
    }

    #[test]
    fn a_line_may_be_max_line_bytes_long_and_no_longer() {
        let longest = format!("R {}", "k".repeat(MAX_LINE_BYTES - 2));
        let too_long = format!("R {}", "k".repeat(MAX_LINE_BYTES - 1));
        assert_eq!(longest.len(), MAX_LINE_BYTES);
        for step in STEPS {
            // The longest line passes, at the end of the file or not.
            for ending in ["", "\n", "\nR 2"] {
                let text = format!("R 1\n{longest}{ending}");
                assert!(read(Trickle::new(text.as_bytes(), step)).is_ok());
            }
            // One byte more fails, naming the line, however it ends.
            // (The `\r` of a CRLF ending is part of the line.)
            for ending in ["", "\n", "\nR 2\n", "\r\n"] {
                let text = format!("R 1\n# c\n{too_long}{ending}");
                match read(Trickle::new(text.as_bytes(), step)) {
                    Err(err @ TraceError::LineTooLong { line: 3 }) => {
                        assert_eq!(err.to_string(), "line 3: longer than 65536 bytes");
                    }
                    other => panic!("reads of {step} bytes, ending {ending:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_line_too_long_is_not_read_to_its_end() {
        let endless = vec![b'R'; 10 * 1024 * 1024];
        for step in [4096, usize::MAX] {
            let mut input = Trickle::new(&endless, step);
            assert!(matches!(
                read(&mut input),
                Err(TraceError::LineTooLong { line: 1 })
            ));
            // At most one buffer's worth was read.
            let consumed = endless.len() - input.bytes.len();
            assert!(consumed <= BUFFER_BYTES, "{consumed} bytes read");
        }
    }

    #[test]
    fn an_empty_line_at_the_end_of_a_read_is_still_counted() {
        // Line numbers stay right when a read ends exactly after a `\n`.
        for step in STEPS {
            let text = "R 1\n\n\nbad\n";
            match read(Trickle::new(text.as_bytes(), step)) {
                Err(TraceError::Malformed { line: 4, .. }) => {}
                other => panic!("reads of {step} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn from_keys_interns_numbers() {
        let trace = Trace::from_keys([7, 7, 1_000_000, 7]);
        assert_eq!(trace.keys, [0, 0, 1, 0]);
        assert_eq!(trace.distinct_keys, 2);
    }
}
