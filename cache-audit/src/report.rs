//! The results of a run, as printed on stdout and appended to `--out FILE.csv`.
//!
//! The stdout layout is the original CacheAudit's, byte for byte, because the
//! NetServe server parses it (`Hit Rate:`, `Hits:`, `Misses:`, `Runtime:`):
//!
//! ```text
//! Trace:       cache-audit/traces/synthetic/hot_cold.txt
//! Requests:    825
//! Unique keys: 605
//! Policy:      arc
//! Cache size:  10
//!
//! --- Results ---
//! Hit Rate:   26.67%
//! Hits:       220
//! Misses:     605
//! Runtime:    0 ms
//! ```

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use crate::{Outcome, PolicyKind};

/// The first line of a CSV file written by `--out`.
pub const CSV_HEADER: &str = "policy,trace,cache_size,hit_rate,hits,misses,runtime_ms";

/// Everything one run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The trace path exactly as given on the command line.
    pub trace_path: String,
    /// The trace's name in the CSV: the file name without its extension.
    pub trace_name: String,
    /// Number of distinct keys in the trace.
    pub unique_keys: usize,
    /// The policy simulated.
    pub policy: PolicyKind,
    /// Cache size, in keys.
    pub cache_size: u64,
    /// Hits, misses and requests.
    pub outcome: Outcome,
    /// Wall-clock time of the simulation, in whole milliseconds (truncated),
    /// not counting the loading of the trace.
    pub runtime_ms: u128,
}

impl Report {
    /// The text printed on stdout (see the module documentation), ending with
    /// a newline. The hit rate is a percentage with 2 decimals.
    pub fn stdout_text(&self) -> String {
        let outcome = &self.outcome;
        format!(
            "Trace:       {}\n\
             Requests:    {}\n\
             Unique keys: {}\n\
             Policy:      {}\n\
             Cache size:  {}\n\
             \n\
             --- Results ---\n\
             Hit Rate:   {:.2}%\n\
             Hits:       {}\n\
             Misses:     {}\n\
             Runtime:    {} ms\n",
            self.trace_path,
            outcome.requests,
            self.unique_keys,
            self.policy,
            self.cache_size,
            outcome.hit_ratio() * 100.0,
            outcome.hits,
            outcome.misses,
            self.runtime_ms,
        )
    }

    /// One CSV record for [`CSV_HEADER`], ending with a newline; the hit rate
    /// is a fraction with 6 decimals.
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{},{:.6},{},{},{}\n",
            self.policy,
            csv_field(&self.trace_name),
            self.cache_size,
            self.outcome.hit_ratio(),
            self.outcome.hits,
            self.outcome.misses,
            self.runtime_ms,
        )
    }

    /// Append [`Report::csv_row`] to the CSV file at `path`, writing
    /// [`CSV_HEADER`] first if (and only if) this call creates the file.
    ///
    /// # Errors
    /// Any I/O error opening or writing the file.
    pub fn append_csv(&self, path: &Path) -> io::Result<()> {
        // Try to create the file first, so that "did we create it?" is
        // answered by the file system itself rather than by a separate
        // existence check that another process could race.
        let (mut file, created) = match OpenOptions::new().append(true).create_new(true).open(path)
        {
            Ok(file) => (file, true),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                (OpenOptions::new().append(true).open(path)?, false)
            }
            Err(err) => return Err(err),
        };
        let mut text = String::new();
        if created {
            text.push_str(CSV_HEADER);
            text.push('\n');
        }
        text.push_str(&self.csv_row());
        // One write of the whole text: with O_APPEND, concurrent runs
        // appending to the same file do not interleave within a record.
        file.write_all(text.as_bytes())?;
        file.flush()
    }
}

/// `text` as one CSV field (RFC 4180): quoted, with quotes doubled, only when
/// it contains a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot_cold_arc() -> Report {
        Report {
            trace_path: "cache-audit/traces/synthetic/hot_cold.txt".into(),
            trace_name: "hot_cold".into(),
            unique_keys: 605,
            policy: PolicyKind::Arc,
            cache_size: 10,
            outcome: Outcome {
                requests: 825,
                hits: 220,
                misses: 605,
            },
            runtime_ms: 0,
        }
    }

    #[test]
    fn stdout_matches_the_original_layout() {
        let expected = "\
Trace:       cache-audit/traces/synthetic/hot_cold.txt
Requests:    825
Unique keys: 605
Policy:      arc
Cache size:  10

--- Results ---
Hit Rate:   26.67%
Hits:       220
Misses:     605
Runtime:    0 ms
";
        assert_eq!(hot_cold_arc().stdout_text(), expected);
    }

    #[test]
    fn empty_trace_prints_a_zero_hit_rate() {
        let mut report = hot_cold_arc();
        report.outcome = Outcome {
            requests: 0,
            hits: 0,
            misses: 0,
        };
        assert!(report.stdout_text().contains("\nHit Rate:   0.00%\n"));
    }

    #[test]
    fn csv_row_has_a_six_decimal_fraction() {
        assert_eq!(
            hot_cold_arc().csv_row(),
            "arc,hot_cold,10,0.266667,220,605,0\n"
        );
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("loop"), "loop");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
