//! The host owns content encoding, so that the scrubber sees the bytes a
//! plugin will read.
//!
//! A plugin that could ask for `accept-encoding: gzip` would get a secret the
//! upstream reflected in a compressed body, which no byte scrubber can
//! recognise, and gunzip it itself. So the host replaces whatever the plugin
//! asked with `accept-encoding: identity`, and refuses a response that
//! arrives encoded all the same (with the wasi:http error
//! `HTTP-response-content-coding`) rather than decode it: a conforming server
//! does not encode what was asked for as identity, and refusing leaves no
//! decompression, and no decompression bomb, in the host.

use http::HeaderMap;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, HeaderValue};

/// The only content coding the host accepts.
const IDENTITY: &str = "identity";

/// An upstream answered in a content coding the host did not ask for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the response is in content coding `{coding}`, but the host asked for identity")]
pub struct Encoded {
    /// The coding as the upstream named it, control characters escaped.
    pub coding: String,
}

/// Replaces any `accept-encoding` the plugin set with the host's own.
pub fn own_request(headers: &mut HeaderMap) {
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(IDENTITY));
}

/// Refuses a response whose body is in any coding but identity.
pub fn check_response(headers: &HeaderMap) -> Result<(), Encoded> {
    for value in headers.get_all(CONTENT_ENCODING) {
        let coding = String::from_utf8_lossy(value.as_bytes());
        let plain = coding
            .split(',')
            .map(str::trim)
            .all(|c| c.is_empty() || c.eq_ignore_ascii_case(IDENTITY));
        if !plain {
            return Err(Encoded {
                coding: coding.escape_debug().to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugins_accept_encoding_is_replaced_by_identity() {
        let mut headers = HeaderMap::new();
        headers.append(ACCEPT_ENCODING, "gzip".parse().unwrap());
        headers.append(ACCEPT_ENCODING, "br, deflate".parse().unwrap());
        own_request(&mut headers);
        let values: Vec<_> = headers.get_all(ACCEPT_ENCODING).iter().collect();
        assert_eq!(values, ["identity"]);
    }

    #[test]
    fn only_an_identity_response_is_accepted() {
        let with = |coding: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_ENCODING, coding.parse().unwrap());
            check_response(&headers)
        };
        assert_eq!(check_response(&HeaderMap::new()), Ok(()));
        assert_eq!(with("identity"), Ok(()));
        assert_eq!(
            with("gzip"),
            Err(Encoded {
                coding: "gzip".into()
            })
        );
        assert!(with("identity, br").is_err());
    }
}
