//! Latency histograms, error counts, and how their numbers are printed.

use std::fmt;

use hdrhistogram::Histogram;

/// The largest latency a histogram records, in µs (60 s). Longer values are
/// clamped to it; the client's timeout is far shorter.
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// An empty latency histogram in µs, from 1 µs to [`MAX_LATENCY_US`], with 3
/// significant digits (every value within 0.1 %).
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy hdrhistogram's rules
    // (low >= 1, high >= 2 * low, sigfig <= 5), so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant, valid histogram bounds")
}

/// The latency percentiles of the successful requests of one run, in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// The median.
    pub p50_us: u64,
    /// 90 % of requests were answered at least this fast.
    pub p90_us: u64,
    /// 99 % of requests were answered at least this fast.
    pub p99_us: u64,
    /// The slowest request.
    pub max_us: u64,
}

impl Latency {
    /// The percentiles of `histogram`, or `None` if it is empty.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        Some(Latency {
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        })
    }
}

/// Why requests failed, counted by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    /// `connect` refused (ECONNREFUSED): nothing listening, or the listen
    /// queue overflowed and the kernel answered with a reset.
    pub refused: u64,
    /// The connection was reset (ECONNRESET, EPIPE) or closed before a
    /// whole status line arrived.
    pub reset: u64,
    /// No answer within the client's timeout (connect, write or read).
    pub timeout: u64,
    /// A complete response whose status code is not 2xx (e.g. 503 when the
    /// pool's queue is full, 501 from stage 04's simulator).
    pub non_2xx: u64,
    /// Errors on the client's side, not the server's: no free local port
    /// (EADDRNOTAVAIL) or no free file descriptor (EMFILE, ENFILE). These
    /// mean the load generator, not the server, ran out of something.
    pub client: u64,
    /// Anything else: a response that is not HTTP, another OS error.
    pub other: u64,
}

impl Errors {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Errors) {
        self.refused += other.refused;
        self.reset += other.reset;
        self.timeout += other.timeout;
        self.non_2xx += other.non_2xx;
        self.client += other.client;
        self.other += other.other;
    }
}

impl fmt::Display for Errors {
    /// `0`, or the non-zero kinds: `12 timeout, 3 reset`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = [
            (self.refused, "refused"),
            (self.reset, "reset"),
            (self.timeout, "timeout"),
            (self.non_2xx, "non-2xx"),
            (self.client, "client"),
            (self.other, "other"),
        ];
        let parts: Vec<String> = kinds
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, kind)| format!("{count} {kind}"))
            .collect();
        if parts.is_empty() {
            write!(f, "0")
        } else {
            write!(f, "{}", parts.join(", "))
        }
    }
}

/// A latency in µs as milliseconds with three significant digits where
/// that is meaningful: `0.213`, `4.52`, `17.3`, `250`, `2001`.
pub fn format_ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A whole number with thin groups of three digits for reading: `24,310`.
pub fn format_count(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Memory in KiB as MiB with one decimal: `2.5`.
pub fn format_mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut histogram = new_histogram();
        // 1..=1000 µs, once each.
        for us in 1..=1000 {
            histogram.record(us).unwrap();
        }
        let latency = Latency::from_histogram(&histogram).unwrap();
        assert_eq!(latency.p50_us, 500);
        assert_eq!(latency.p90_us, 900);
        assert_eq!(latency.p99_us, 990);
        assert_eq!(latency.max_us, 1000);
        assert_eq!(Latency::from_histogram(&new_histogram()), None);
    }

    #[test]
    fn milliseconds_keep_three_significant_digits() {
        assert_eq!(format_ms(213), "0.213");
        assert_eq!(format_ms(4_523), "4.52");
        assert_eq!(format_ms(17_349), "17.3");
        assert_eq!(format_ms(250_400), "250");
        assert_eq!(format_ms(2_001_000), "2001");
    }

    #[test]
    fn counts_and_memory() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(24_310), "24,310");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_mib(2560), "2.5");
    }

    #[test]
    fn errors_list_only_what_happened() {
        let mut errors = Errors::default();
        assert_eq!(errors.to_string(), "0");
        errors.add(&Errors {
            timeout: 12,
            reset: 3,
            ..Errors::default()
        });
        errors.client += 1;
        assert_eq!(errors.to_string(), "3 reset, 12 timeout, 1 client");
    }
}
