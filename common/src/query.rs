//! Decoding a query string as `application/x-www-form-urlencoded`
//! (WHATWG URL Standard §5.1), strictly.
//!
//! `policy=lru&cache_size=32` becomes `[("policy", "lru"), ("cache_size", "32")]`.
//! In names and values `+` stands for a space and `%XX` for the byte with hex
//! value XX. The standard's parser keeps a malformed escape such as `%zz` as
//! literal text; we refuse it instead, because a client that sent one almost
//! certainly meant something else, and guessing is how two programs come to
//! disagree about what a request said.

/// A query string that cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    /// The parameter's name as sent (still encoded), so the client can find it.
    pub parameter: String,
    /// What is wrong with it.
    pub detail: &'static str,
}

/// Splits `query` on `&` into name/value pairs and decodes each. A pair
/// without `=` has an empty value; empty pairs (`a=1&&b=2`) are skipped, as
/// the standard says.
///
/// # Errors
/// [`QueryError`] naming the parameter whose name or value has a malformed
/// `%` escape or does not decode to UTF-8.
pub fn parse(query: &str) -> Result<Vec<(String, String)>, QueryError> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let error = |detail| QueryError {
                parameter: name.to_owned(),
                detail,
            };
            Ok((decode(name).map_err(error)?, decode(value).map_err(error)?))
        })
        .collect()
}

// ANCHOR: decode
/// Decodes one name or value: `+` → space, `%XX` → byte XX, then UTF-8.
fn decode(text: &str) -> Result<String, &'static str> {
    // ANCHOR: milestone_4_2
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = input.next().and_then(hex_value);
                let low = input.next().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err("malformed percent-escape (expected % and two hex digits)");
                };
                bytes.push(high << 4 | low);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| "percent-escapes do not decode to UTF-8")
    // ANCHOR_END: milestone_4_2
}
// ANCHOR_END: decode

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        parse(query).expect("decodes")
    }

    #[test]
    fn decodes_pairs() {
        assert_eq!(
            pairs("policy=lru&cache_size=32"),
            [
                ("policy".into(), "lru".into()),
                ("cache_size".into(), "32".into())
            ]
        );
        assert_eq!(
            pairs("a=%6Cru+x%2B&&b&=c"),
            [
                ("a".into(), "lru x+".into()),
                ("b".into(), "".into()),
                ("".into(), "c".into()),
            ]
        );
        assert_eq!(pairs(""), []);
        assert_eq!(pairs("k=%C3%A9"), [("k".into(), "é".into())]);
    }

    #[test]
    fn rejects_malformed_escapes_naming_the_parameter() {
        for query in ["policy=%zz", "policy=%4", "policy=%", "policy=%FF"] {
            let error = parse(query).unwrap_err();
            assert_eq!(error.parameter, "policy", "{query}");
        }
        assert_eq!(parse("p%x=1").unwrap_err().parameter, "p%x");
    }
}
