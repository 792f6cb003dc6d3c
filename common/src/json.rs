//! JSON response bodies, built with serde_json so that anything echoed from
//! the client or a child process is escaped correctly (RFC 8259 §7).

use serde_json::{Value, json};

use crate::response::{APPLICATION_JSON, Response, Status};

/// A response whose body is `value` as compact JSON followed by a newline.
/// Object keys keep the order they were inserted in (serde_json's
/// `preserve_order` feature), so clients that compare text see the same
/// order as the original NetServe.
pub fn response(status: Status, value: &Value) -> Response {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    Response {
        status,
        content_type: APPLICATION_JSON,
        extra_headers: Vec::new(),
        body,
    }
}

// ANCHOR: error
/// The error body every NetServe error uses: `{"status":"error","error":message}`.
pub fn error(status: Status, message: &str) -> Response {
    response(status, &json!({ "status": "error", "error": message }))
}
// ANCHOR_END: error

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_it_echoes() {
        let response = error(Status::BadRequest, "bad \"x\\y\"\n\u{1}");
        let text = String::from_utf8(response.body).unwrap();
        assert_eq!(
            text,
            "{\"status\":\"error\",\"error\":\"bad \\\"x\\\\y\\\"\\n\\u0001\"}\n"
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["error"], "bad \"x\\y\"\n\u{1}");
    }
}
