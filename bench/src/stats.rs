//! Latency percentiles, and how the numbers are printed.

use hdrhistogram::Histogram;

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
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        // 1..=1000 µs, once each.
        for us in 1..=1000 {
            histogram.record(us).unwrap();
        }
        let latency = Latency::from_histogram(&histogram).unwrap();
        assert_eq!(latency.p50_us, 500);
        assert_eq!(latency.p90_us, 900);
        assert_eq!(latency.p99_us, 990);
        assert_eq!(latency.max_us, 1000);
        assert_eq!(Latency::from_histogram(&Histogram::new(3).unwrap()), None);
    }

    #[test]
    fn milliseconds_keep_three_significant_digits() {
        assert_eq!(format_ms(213), "0.213");
        assert_eq!(format_ms(4_523), "4.52");
        assert_eq!(format_ms(17_349), "17.3");
        assert_eq!(format_ms(250_400), "250");
        assert_eq!(format_ms(2_001_000), "2001");
    }
}
