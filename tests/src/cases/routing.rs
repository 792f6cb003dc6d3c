//! Stage 04: requests parsed into method, path and query, routed; 405 with Allow; HEAD; and the
//! validation of `/run-cache-sim`'s query (DESIGN "/run-cache-sim").

use crate::cases::expect_status;
use crate::target::Target;
use harness::client::{self, Response};

/// The methods every route allows (RFC 9110 §10.2.1 `Allow`).
const ALLOW: &str = "GET, HEAD";

/// Checks a complete 405 Method Not Allowed carrying `Allow: GET, HEAD` (RFC 9110 §15.5.6).
fn expect_405(target: &Target, request: &[u8]) -> Result<(), String> {
    let response = expect_status(target, request, 405)?;
    response.expect_header("Allow", ALLOW)
}

/// `POST /health` answers 405 with `Allow: GET, HEAD` (RFC 9110 §15.5.6).
pub fn post_health_405(target: &Target) -> Result<(), String> {
    expect_405(
        target,
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
}

/// `DELETE /run-cache-sim` answers 405 with `Allow: GET, HEAD` (RFC 9110 §15.5.6).
pub fn delete_run_cache_sim_405(target: &Target) -> Result<(), String> {
    expect_405(target, b"DELETE /run-cache-sim HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// An unknown method (`BREW /health`) answers 405 with `Allow` too (DESIGN "Decided conventions").
pub fn unknown_method_405(target: &Target) -> Result<(), String> {
    expect_405(target, b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// `HEAD /health` answers 200 with GET's Content-Type and Content-Length and no body bytes at all
/// (RFC 9110 §9.3.2).
pub fn head_has_no_body(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let get = client::get(server.addr(), "/health")?;
    get.expect_status(200)?;
    // `close`: a response to HEAD has no body to end it, so the close ends it (stage 07 would
    // otherwise keep the connection open).
    let head = client::exchange(
        server.addr(),
        b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )?;
    head.expect_status(200)?;
    for name in ["Content-Type", "Content-Length"] {
        if head.header(name) != get.header(name) {
            return Err(format!(
                "HEAD answered {name}: {:?}, GET answered {:?}",
                head.header(name),
                get.header(name)
            ));
        }
    }
    if !head.body.is_empty() {
        return Err(format!(
            "HEAD response carried {} bytes after its head: {}",
            head.body.len(),
            client::excerpt(&head.body)
        ));
    }
    Ok(())
}

/// Checks a complete JSON error: `status`, `Content-Type: application/json`, and a body
/// `{"status":"error","error":"…"}` whose message mentions `names` (DESIGN "/run-cache-sim").
pub(crate) fn expect_json_error(
    response: &Response,
    status: u16,
    names: &str,
) -> Result<(), String> {
    response.expect_status(status)?;
    response.expect_header_prefix("Content-Type", "application/json")?;
    response.expect_complete()?;
    let json = response.json()?;
    if json.get("status").and_then(|s| s.as_str()) != Some("error") {
        return Err(format!("JSON body lacks \"status\":\"error\": {json}"));
    }
    let Some(message) = json.get("error").and_then(|e| e.as_str()) else {
        return Err(format!("JSON body lacks a string \"error\": {json}"));
    };
    if !message.contains(names) {
        return Err(format!(
            "the error message should name {names:?}: {message:?}"
        ));
    }
    Ok(())
}

/// Sends `GET /run-cache-sim?{query}` for each query to one server, checks for a 400 JSON
/// error naming `parameter` and reports every query that did not get one.
fn expect_all_rejected(target: &Target, queries: &[&str], parameter: &str) -> Result<(), String> {
    let server = target.start()?;
    let rejected = |query: &str| {
        let response = client::get(server.addr(), &format!("/run-cache-sim?{query}"))?;
        expect_json_error(&response, 400, parameter).map_err(|e| format!("?{query}: {e}"))
    };
    let failures: Vec<String> = queries
        .iter()
        .filter_map(|query| rejected(query).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Without `policy` (required) the answer is 400 with a JSON error naming it (DESIGN).
pub fn sim_missing_policy_400(target: &Target) -> Result<(), String> {
    expect_all_rejected(target, &["", "cache_size=32", "trace=loop"], "policy")
}

/// A policy outside fifo, lru, lfu, arc, belady is a 400 naming `policy` (DESIGN).
pub fn sim_unknown_policy_400(target: &Target) -> Result<(), String> {
    expect_all_rejected(target, &["policy=mru", "policy=lru2", "policy="], "policy")
}

/// A trace outside loop, scan, skewed, hot_cold is a 400 naming `trace`, including a path
/// (DESIGN: values are matched against allowlists).
pub fn sim_unknown_trace_400(target: &Target) -> Result<(), String> {
    expect_all_rejected(
        target,
        &[
            "policy=lru&trace=zipf",
            "policy=lru&trace=../../etc/passwd",
            "policy=lru&trace=hot+cold",
        ],
        "trace",
    )
}

/// cache_size must be a plain decimal integer in 1..=1000000000: `0`, `-1`, `5abc`, `+5`
/// (decodes to " 5"), `1e3`, `99999999999` and an empty value are 400s naming it (DESIGN).
pub fn sim_bad_cache_size_400(target: &Target) -> Result<(), String> {
    expect_all_rejected(
        target,
        &[
            "policy=lru&cache_size=0",
            "policy=lru&cache_size=-1",
            "policy=lru&cache_size=5abc",
            "policy=lru&cache_size=+5",
            "policy=lru&cache_size=1e3",
            "policy=lru&cache_size=99999999999",
            "policy=lru&cache_size=1000000001",
            "policy=lru&cache_size=",
        ],
        "cache_size",
    )
}

/// A parameter given twice is a 400 naming it, even with equal values (DESIGN).
pub fn sim_repeated_parameter_400(target: &Target) -> Result<(), String> {
    expect_all_rejected(target, &["policy=lru&policy=lru"], "policy")
}

/// An unknown parameter is a 400 naming it (DESIGN).
pub fn sim_unknown_parameter_400(target: &Target) -> Result<(), String> {
    expect_all_rejected(target, &["policy=lru&colour=red"], "colour")
}

/// A malformed percent escape (`%zz`, a truncated `%4`) is a 400 naming the parameter
/// (application/x-www-form-urlencoded, WHATWG URL §5.1).
pub fn sim_malformed_escape_400(target: &Target) -> Result<(), String> {
    expect_all_rejected(target, &["policy=%zz", "policy=%4"], "policy")
}

/// Percent-encoded valid values are decoded and accepted (`policy=%6Cru` is lru): 501 in
/// stage 04, 200 from stage 05 on (WHATWG URL §5.1; DESIGN).
pub fn sim_percent_encoded_value_accepted(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let response = client::get(server.addr(), "/run-cache-sim?policy=%6Cru&trace=l%6Fop")?;
    if target.stage <= 4 {
        return expect_json_error(&response, 501, "");
    }
    response.expect_status(200)?;
    let json = response.json()?;
    if json.get("policy").and_then(|p| p.as_str()) != Some("lru") {
        return Err(format!("expected \"policy\":\"lru\": {json}"));
    }
    Ok(())
}

/// Stage 04's limitation: a valid request answers 501 with a JSON error, the backend arrives in
/// stage 05 (DESIGN "Stage matrix").
pub fn sim_valid_request_501(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let response = client::get(server.addr(), "/run-cache-sim?policy=lru")?;
    expect_json_error(&response, 501, "")
}
