//! What `GET /run-cache-sim` answers: cache-audit's report, parsed and
//! checked against the parameters ([`super::SimParams`]), and the JSON body
//! made from it.
//!
//! Separate from running the child ([`crate::backend`], [`crate::child`]):
//! this module only sees the bytes the child printed. Anything unexpected is
//! an error, never a 200 with invented numbers.

use serde_json::json;

use super::SimParams;
use crate::json;
use crate::response::Response;
use crate::response::Status;

/// What cache-audit reported, in the units it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// Accesses that found their key in the cache.
    pub hits: u64,
    /// Accesses that did not.
    pub misses: u64,
    /// Simulation time in whole milliseconds.
    pub runtime_ms: u64,
}

/// The labels of cache-audit's report that the server reads.
const REPORT_LABELS: [&str; 7] = [
    "Requests",
    "Policy",
    "Cache size",
    "Hit Rate",
    "Hits",
    "Misses",
    "Runtime",
];

/// Parses cache-audit's report and checks that it is one consistent answer
/// to `params`. Reads `Label: value` lines, tolerant of spacing around label
/// and value. Required: `Hit Rate:` (a percentage), `Hits:` and `Misses:`
/// (whole numbers) and `Runtime:` (whole milliseconds). Checked when present:
/// `Requests:` equals hits + misses, `Policy:` and `Cache size:` are what was
/// asked for. `Hit Rate:` must agree with the counts to its 2 printed
/// decimals, and no label may appear twice: a wrong or doubled report is an
/// error, never a 200 with numbers nobody computed for this request.
///
/// # Errors
/// A short description of the first problem found.
pub fn parse_report(stdout: &str, params: &SimParams) -> Result<Report, String> {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for line in stdout.lines() {
        let Some((label, value)) = line.split_once(':') else {
            continue;
        };
        let (label, value) = (label.trim(), value.trim());
        if !REPORT_LABELS.contains(&label) {
            continue;
        }
        if fields.iter().any(|(seen, _)| *seen == label) {
            return Err(format!("'{label}:' appears twice"));
        }
        fields.push((label, value));
    }
    let field = |label: &str| {
        fields
            .iter()
            .find(|(seen, _)| *seen == label)
            .map(|(_, value)| *value)
    };
    let number = |label: &str, unit: &str| -> Result<Option<u64>, String> {
        let Some(value) = field(label) else {
            return Ok(None);
        };
        let digits = value.strip_suffix(unit).unwrap_or(value).trim_end();
        match digits.parse() {
            Ok(number) => Ok(Some(number)),
            Err(_) => Err(format!("'{label}:' is not a whole number: '{value}'")),
        }
    };
    let required = |label: &str, unit: &str| -> Result<u64, String> {
        number(label, unit)?.ok_or_else(|| format!("no '{label}:' line"))
    };

    let report = Report {
        hits: required("Hits", "")?,
        misses: required("Misses", "")?,
        runtime_ms: required("Runtime", "ms")?,
    };
    let requests = report
        .hits
        .checked_add(report.misses)
        .ok_or("'Hits:' + 'Misses:' overflows")?;

    let hit_rate = field("Hit Rate").ok_or("no 'Hit Rate:' line")?;
    let percent = hit_rate
        .strip_suffix('%')
        .and_then(|number| number.trim_end().parse::<f64>().ok())
        .filter(|percent| percent.is_finite())
        .ok_or_else(|| format!("'Hit Rate:' is not a percentage: '{hit_rate}'"))?;
    let expected = if requests == 0 {
        0.0
    } else {
        100.0 * report.hits as f64 / requests as f64
    };
    // Printed with 2 decimals: at most half a unit of the last digit off.
    if (percent - expected).abs() > 0.005 + 1e-9 {
        return Err(format!(
            "'Hit Rate: {hit_rate}' disagrees with {} hits of {requests}",
            report.hits
        ));
    }

    if let Some(printed) = number("Requests", "")? {
        if printed != requests {
            return Err(format!(
                "'Requests: {printed}' is not hits + misses = {requests}"
            ));
        }
    }
    if let Some(policy) = field("Policy") {
        if !policy.eq_ignore_ascii_case(params.policy) {
            return Err(format!(
                "it simulated policy '{policy}', not '{}'",
                params.policy
            ));
        }
    }
    if let Some(size) = number("Cache size", "")? {
        if size != params.cache_size {
            return Err(format!(
                "it simulated cache size {size}, not {}",
                params.cache_size
            ));
        }
    }
    Ok(report)
}

/// The success body, with the original NetServe's keys in its order.
/// `hit_rate` is hits / (hits + misses) rounded to 4 decimals (0 for an
/// empty trace), recomputed from the counts rather than taken from the
/// rounded percentage cache-audit prints.
pub fn report_response(params: &SimParams, report: &Report) -> Response {
    let accesses = report.hits as f64 + report.misses as f64;
    let hit_rate = if accesses == 0.0 {
        0.0
    } else {
        (report.hits as f64 / accesses * 10_000.0).round() / 10_000.0
    };
    json::response(
        Status::Ok,
        &json!({
            "status": "ok",
            "policy": params.policy,
            "cache_size": params.cache_size,
            "trace": params.trace,
            "hit_rate": hit_rate,
            "hits": report.hits,
            "misses": report.misses,
            "runtime_ms": report.runtime_ms,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARC_10: SimParams = SimParams {
        policy: "arc",
        cache_size: 10,
        trace: "hot_cold",
    };

    const REPORT: &str = "Trace:       cache-audit/traces/synthetic/hot_cold.txt
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

    #[test]
    fn parses_the_report() {
        let expected = Report {
            hits: 220,
            misses: 605,
            runtime_ms: 0,
        };
        assert_eq!(parse_report(REPORT, &ARC_10), Ok(expected));
        let squeezed = "Hit Rate:26.67 %\r\nHits:220\r\nMisses:   605\r\n  Runtime :0ms\r\n";
        assert_eq!(parse_report(squeezed, &ARC_10), Ok(expected));
        let shouting = REPORT.replace("Policy:      arc", "Policy: ARC");
        assert_eq!(parse_report(&shouting, &ARC_10), Ok(expected));
    }

    #[test]
    fn refuses_incomplete_or_garbled_reports() {
        let garbled = |from: &str, to: &str| parse_report(&REPORT.replace(from, to), &ARC_10);
        assert!(parse_report("", &ARC_10).is_err());
        assert!(garbled("Misses:     605", "Misses: many").is_err());
        assert!(garbled("Hit Rate:   26.67%", "Hit Rate: NaN").is_err());
        assert!(garbled("Hit Rate:   26.67%", "Hit Rate: inf%").is_err());
        assert!(garbled("Runtime:    0 ms\n", "").is_err());
        assert!(garbled("Hits:       220", "Hits: -3").is_err());
        assert!(garbled("Hits:       220", "Hits: 18446744073709551615").is_err());
    }

    #[test]
    fn refuses_reports_that_do_not_add_up_or_answer_another_question() {
        let garbled = |from: &str, to: &str| parse_report(&REPORT.replace(from, to), &ARC_10);
        // Numbers that contradict each other.
        assert!(garbled("Hits:       220", "Hits:       999999").is_err());
        assert!(garbled("Hit Rate:   26.67%", "Hit Rate:   26.68%").is_err());
        assert!(garbled("Requests:    825", "Requests:    826").is_err());
        // A report for another policy or size.
        assert!(garbled("Policy:      arc", "Policy:      fifo").is_err());
        assert!(garbled("Cache size:  10", "Cache size:  11").is_err());
        // Two reports back to back.
        assert!(parse_report(&format!("{REPORT}{REPORT}"), &ARC_10).is_err());
        // An empty trace is consistent: 0 of 0 at 0.00%.
        let empty = "Requests: 0\nHit Rate: 0.00%\nHits: 0\nMisses: 0\nRuntime: 0 ms\n";
        assert!(parse_report(empty, &ARC_10).is_ok());
    }

    #[test]
    fn response_keys_are_in_the_original_order() {
        let params = SimParams {
            policy: "lru",
            cache_size: 32,
            trace: "loop",
        };
        let report = Report {
            hits: 570,
            misses: 30,
            runtime_ms: 0,
        };
        let body = String::from_utf8(report_response(&params, &report).body).unwrap();
        assert_eq!(
            body,
            "{\"status\":\"ok\",\"policy\":\"lru\",\"cache_size\":32,\"trace\":\"loop\",\"hit_rate\":0.95,\"hits\":570,\"misses\":30,\"runtime_ms\":0}\n"
        );
    }
}
