//! The `/health` endpoint, and the whole of what stages 01-03 serve.

use crate::request::Request;
use crate::response::{Response, Status};

// ANCHOR: handlers
/// `GET /health`: `200 OK` with the body `OK\n`. It touches no shared state,
/// so its throughput measures the server itself.
pub fn health(_request: &Request) -> Response {
    Response::text(Status::Ok, "OK")
}

/// The handler of stages 01-03, which have no router yet: `GET /health` is
/// answered by [`health`], every other request is `404 Not Found`. `HEAD`
/// is answered like `GET` (the connection leaves the body out): a server
/// that supports GET must support HEAD (RFC 9110 §9.1).
pub fn health_only(request: &Request) -> Response {
    let get_or_head = request.method == "GET" || request.method == "HEAD";
    if get_or_head && request.path == "/health" {
        health(request)
    } else {
        Response::plain_status(Status::NotFound)
    }
}
// ANCHOR_END: handlers
