//! The `--url` of a server that is already running: `http://HOST:PORT/PATH`.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// `HOST:PORT` as written (the port defaults to 80), for the `Host`
    /// header field and for labels.
    pub authority: String,
    /// The path and query, or `None` when the URL has none (or only `/`):
    /// then each scenario requests its own path.
    pub path: Option<String>,
}

impl HttpUrl {
    /// Parses `http://HOST[:PORT][/PATH[?QUERY]]`. Only plain `http` is
    /// supported: the stages speak nothing else.
    ///
    /// # Errors
    /// A message saying what is wrong with the URL.
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| format!("'{text}': only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("'{text}' has no host"));
        }
        let has_port = match authority.rfind(']') {
            // [::1]:8080 — a colon after the bracket.
            Some(bracket) => authority[bracket..].contains(':'),
            None => authority.contains(':'),
        };
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let path = match path {
            "" | "/" => None,
            path => Some(path.to_owned()),
        };
        Ok(HttpUrl { authority, path })
    }

    /// Resolves the host to the first address it has.
    ///
    /// # Errors
    /// A message if the name does not resolve.
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        self.authority
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve {}: {error}", self.authority))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.authority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let url = HttpUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.path, None);
        assert_eq!(
            HttpUrl::parse("http://localhost/").unwrap().authority,
            "localhost:80"
        );
        let url = HttpUrl::parse("http://[::1]:9000/run-cache-sim?policy=arc").unwrap();
        assert_eq!(url.authority, "[::1]:9000");
        assert_eq!(url.path.as_deref(), Some("/run-cache-sim?policy=arc"));
        assert_eq!(
            HttpUrl::parse("http://[::1]/").unwrap().authority,
            "[::1]:80"
        );
    }

    #[test]
    fn refuses_what_it_cannot_speak() {
        assert!(HttpUrl::parse("https://example.org").is_err());
        assert!(HttpUrl::parse("127.0.0.1:8080").is_err());
        assert!(HttpUrl::parse("http:///health").is_err());
    }

    #[test]
    fn resolves_literal_addresses() {
        let url = HttpUrl::parse("http://127.0.0.1:8080/health").unwrap();
        assert_eq!(url.resolve(), Ok(SocketAddr::from(([127, 0, 0, 1], 8080))));
    }
}
