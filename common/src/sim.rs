//! The parameters of `GET /run-cache-sim`, validated against allowlists.
//!
//! `policy` (required), `cache_size` (default 32) and `trace` (default
//! `loop`) are the whole interface. Every value is checked against a fixed
//! list or range *here*, before anything runs, so the backend only ever sees
//! values from those lists: the child process gets them as separate
//! arguments, never through a shell, and could not be tricked even if it did.
//!
//! What comes back, cache-audit's report and the JSON answer made from it,
//! is [`report`] (stage 05 on, feature `backend`).

#[cfg(feature = "backend")]
pub mod report;

use crate::json;
use crate::query;
use crate::response::{Response, Status};

/// The replacement policies cache-audit implements.
pub const POLICIES: [&str; 5] = ["fifo", "lru", "lfu", "arc", "belady"];

/// The bundled traces, by file stem (`<traces-dir>/<trace>.txt`).
pub const TRACES: [&str; 4] = ["loop", "scan", "skewed", "hot_cold"];

/// The largest `cache_size` accepted, in entries.
pub const MAX_CACHE_SIZE: u64 = 1_000_000_000;

/// `cache_size` when the query does not give one, in entries.
pub const DEFAULT_CACHE_SIZE: u64 = 32;

/// `trace` when the query does not give one.
pub const DEFAULT_TRACE: &str = "loop";

/// A validated simulation request. The `&'static str`s point into
/// [`POLICIES`] and [`TRACES`]: they cannot hold anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimParams {
    /// One of [`POLICIES`].
    pub policy: &'static str,
    /// Cache capacity in entries, 1..=[`MAX_CACHE_SIZE`].
    pub cache_size: u64,
    /// One of [`TRACES`].
    pub trace: &'static str,
}

/// Why a query was refused; becomes a `400` JSON error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError(pub String);

impl ParamError {
    /// `400 Bad Request` with `{"status":"error","error":"…"}`.
    pub fn response(&self) -> Response {
        json::error(Status::BadRequest, &self.0)
    }
}

// ANCHOR: parse_params
/// Parses and validates the raw query string of a `/run-cache-sim` request.
///
/// # Errors
/// A [`ParamError`] naming the parameter and the allowed values for: a
/// malformed escape, an unknown or repeated parameter, a missing `policy`, a
/// value outside its list, or a `cache_size` that is not a plain decimal
/// integer in range (`+5`, `5abc`, `1e3`, `-1`, empty and `0` are all
/// refused; an empty value does not mean "use the default").
pub fn parse_params(query: Option<&str>) -> Result<SimParams, ParamError> {
    let pairs = query::parse(query.unwrap_or("")).map_err(|error| {
        ParamError(format!("parameter '{}': {}", error.parameter, error.detail))
    })?;

    let (mut policy, mut cache_size, mut trace) = (None, None, None);
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "policy" => &mut policy,
            "cache_size" => &mut cache_size,
            "trace" => &mut trace,
            _ => {
                return Err(ParamError(format!(
                    "unknown parameter '{name}'; expected policy, cache_size, trace"
                )));
            }
        };
        if slot.is_some() {
            return Err(ParamError(format!(
                "parameter '{name}' given more than once"
            )));
        }
        *slot = Some(value);
    }

    let Some(policy) = policy else {
        return Err(ParamError(format!(
            "missing parameter 'policy'; expected one of {}",
            POLICIES.join(", ")
        )));
    };
    Ok(SimParams {
        policy: one_of("policy", &policy, &POLICIES)?,
        cache_size: match cache_size {
            Some(text) => parse_cache_size(&text)?,
            None => DEFAULT_CACHE_SIZE,
        },
        trace: match trace {
            Some(text) => one_of("trace", &text, &TRACES)?,
            None => DEFAULT_TRACE,
        },
    })
}
// ANCHOR_END: parse_params

/// The entry of `allowed` equal to `value`, exactly (case-sensitive).
fn one_of(name: &str, value: &str, allowed: &[&'static str]) -> Result<&'static str, ParamError> {
    allowed
        .iter()
        .find(|candidate| **candidate == value)
        .copied()
        .ok_or_else(|| {
            ParamError(format!(
                "invalid {name} '{value}'; expected one of {}",
                allowed.join(", ")
            ))
        })
}

/// A plain decimal integer, ASCII digits only, in 1..=[`MAX_CACHE_SIZE`].
/// `str::parse` alone would accept a leading `+`.
fn parse_cache_size(text: &str) -> Result<u64, ParamError> {
    let digits_only = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(size) if digits_only && (1..=MAX_CACHE_SIZE).contains(&size) => Ok(size),
        _ => Err(ParamError(format!(
            "invalid cache_size '{text}'; expected an integer from 1 to {MAX_CACHE_SIZE}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Result<SimParams, ParamError> {
        parse_params(Some(query))
    }

    #[test]
    fn defaults_and_valid_values() {
        let expected = SimParams {
            policy: "lru",
            cache_size: 32,
            trace: "loop",
        };
        assert_eq!(params("policy=lru"), Ok(expected));
        assert_eq!(params("policy=%6Cru"), Ok(expected));
        assert_eq!(
            params("trace=hot_cold&cache_size=1000000000&policy=belady"),
            Ok(SimParams {
                policy: "belady",
                cache_size: MAX_CACHE_SIZE,
                trace: "hot_cold",
            })
        );
    }

    #[test]
    fn every_bad_value_names_its_parameter() {
        let cases = [
            ("", "policy"),
            ("cache_size=10", "policy"),
            ("policy=LRU", "policy"),
            ("policy=lru%20", "policy"),
            ("policy=lru&trace=zipf", "trace"),
            ("policy=lru&policy=lru", "policy"),
            ("policy=lru&colour=red", "colour"),
            ("policy=%zz", "policy"),
            ("policy=%4", "policy"),
        ];
        for (query, parameter) in cases {
            let ParamError(message) = params(query).unwrap_err();
            assert!(message.contains(parameter), "{query:?}: {message}");
        }
        for size in [
            "0",
            "-1",
            "5abc",
            "+5",
            "%2B5",
            "1e3",
            "99999999999",
            "",
            "1000000001",
            " 5",
        ] {
            let query = format!("policy=lru&cache_size={size}");
            let ParamError(message) = params(&query).unwrap_err();
            assert!(message.contains("cache_size"), "{query:?}: {message}");
        }
    }
}
