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
/// answered by [`health`], every other request is `404 Not Found`.
pub fn health_only(request: &Request) -> Response {
    if request.method == "GET" && request.path == "/health" {
        health(request)
    } else {
        Response::plain_status(Status::NotFound)
    }
}
// ANCHOR_END: handlers
