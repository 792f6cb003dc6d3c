//! Routing: method + path → handler, with the answers RFC 9110 prescribes
//! when nothing matches.
//!
//! - No route has the path: `404 Not Found`.
//! - Routes have the path but not the method: `405 Method Not Allowed` with an
//!   `Allow` header field listing the methods that would work (RFC 9110
//!   §15.5.6). Unknown methods (`BREW`) get the same answer.
//! - `HEAD` is answered by the `GET` handler; the connection then sends the
//!   header fields without the body (RFC 9110 §9.3.2).

use crate::json;
use crate::request::Request;
use crate::response::{Response, Status};

/// A request handler. `Send + Sync` because one router is shared by every
/// worker thread. It answers with a [`Response`], or with `T` when the
/// answer is something else: stage 07's handlers may answer "start a
/// simulation", which its event loop turns into a response later.
pub type Handler<T = Response> = Box<dyn Fn(&Request) -> T + Send + Sync>;

struct Route<T> {
    method: &'static str,
    path: &'static str,
    handler: Handler<T>,
}

/// A table of routes, matched by exact path (no patterns: NetServe has two
/// fixed paths, and a linear scan of two entries is the fastest lookup).
/// Handlers answer `T`, a [`Response`] unless said otherwise.
pub struct Router<T = Response> {
    routes: Vec<Route<T>>,
}

impl<T> Default for Router<T> {
    fn default() -> Router<T> {
        Router { routes: Vec::new() }
    }
}

impl<T: From<Response>> Router<T> {
    /// An empty router: every request is a 404.
    pub fn new() -> Router<T> {
        Router::default()
    }

    /// Adds a route. `method` is case-sensitive, as methods are
    /// (RFC 9110 §9.1); a `GET` route answers `HEAD` too.
    pub fn route(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: impl Fn(&Request) -> T + Send + Sync + 'static,
    ) -> Router<T> {
        self.routes.push(Route {
            method,
            path,
            handler: Box::new(handler),
        });
        self
    }

    // ANCHOR: handle
    /// Answers `request` with the matching handler, or with 404 or 405.
    pub fn handle(&self, request: &Request) -> T {
        // ANCHOR: milestone_4_1
        let on_path = || {
            self.routes
                .iter()
                .filter(|route| route.path == request.path)
        };
        // HEAD is GET without the body.
        let method = if request.method == "HEAD" {
            "GET"
        } else {
            request.method.as_str()
        };
        if let Some(route) = on_path().find(|route| route.method == method) {
            return (route.handler)(request);
        }

        let mut allowed: Vec<&str> = on_path().map(|route| route.method).collect();
        if allowed.is_empty() {
            return json::error(Status::NotFound, &format!("no route for {}", request.path)).into();
        }
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        json::error(
            Status::MethodNotAllowed,
            &format!("{} is not allowed on {}", request.method, request.path),
        )
        .with_header("Allow", allowed.join(", "))
        .into()
        // ANCHOR_END: milestone_4_1
    }
    // ANCHOR_END: handle
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Framing, Version};

    fn request(method: &str, path: &str) -> Request {
        Request {
            method: method.to_owned(),
            target: path.to_owned(),
            path: path.to_owned(),
            query: None,
            version: Version::Http11,
            headers: Vec::new(),
            framing: Framing::NoBody,
        }
    }

    fn router() -> Router {
        Router::new().route("GET", "/health", |_| Response::text(Status::Ok, "OK"))
    }

    #[test]
    fn routes_get_and_head() {
        assert_eq!(
            router().handle(&request("GET", "/health")).status,
            Status::Ok
        );
        assert_eq!(
            router().handle(&request("HEAD", "/health")).status,
            Status::Ok
        );
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
        assert_eq!(
            router().handle(&request("GET", "/nope")).status,
            Status::NotFound
        );
        for method in ["POST", "DELETE", "BREW", "get"] {
            let response = router().handle(&request(method, "/health"));
            assert_eq!(response.status, Status::MethodNotAllowed, "{method}");
            assert_eq!(response.extra_headers, [("Allow", "GET, HEAD".to_owned())]);
        }
    }
}
