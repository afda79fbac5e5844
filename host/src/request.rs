//! Requests as standard clients send them, and identifiable in the ledger.
//!
//! A plugin streams its request body through `wasi:http`, which would go
//! upstream with `transfer-encoding: chunked` and no `content-length`; some
//! gateways refuse that (411). The host reads the body whole first (a
//! read-only search's body is small: at most [`MAX_REQUEST_BODY`] bytes, a
//! larger one is refused), sends it with its `content-length`, and hashes
//! it, so the ledger tells apart the pages of a POST search that share one
//! URL. Every request names its client in `user-agent`: the integration and
//! its version, then this host (`probe/0.1.0 watchdog-host/0.1.0`). The
//! host's value always leads; a plugin's own `user-agent` is kept after it,
//! so it can name its HTTP library but never pass for another client.

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING, USER_AGENT};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// The largest request body the host sends.
pub const MAX_REQUEST_BODY: u64 = 1 << 20;

/// Why a request was not sent.
#[derive(Debug, thiserror::Error)]
pub enum RequestRefused {
    /// The body is larger than [`MAX_REQUEST_BODY`]; nothing was sent.
    #[error("the request body exceeds the host's {MAX_REQUEST_BODY}-byte cap")]
    BodyTooLarge,
    /// The plugin's body stream failed while the host read it; the plugin
    /// gets its own error back.
    #[error("the plugin's request body failed: {0}")]
    Body(HttpError),
}

impl RequestRefused {
    /// What the plugin is told.
    pub fn code(self) -> HttpError {
        match self {
            RequestRefused::BodyTooLarge => HttpError::HttpRequestBodySize(Some(MAX_REQUEST_BODY)),
            RequestRefused::Body(code) => code,
        }
    }
}

/// A request ready to leave, and the SHA-256 of its body when it has one.
pub struct Prepared {
    /// The request to send: the host's `user-agent` first, the body whole
    /// with its `content-length`, no `transfer-encoding`.
    pub request: http::Request<WasiBody>,
    /// The body as sent, kept for a recording of the run.
    pub body: Bytes,
    /// SHA-256 of the body in lower-case hex, for the ledger; `None` when
    /// the request has no body.
    pub body_sha256: Option<String>,
}

/// The `user-agent` the host sends for an integration: `<id>/<version>`
/// (characters a product token cannot hold become `-`), then the host's.
pub fn user_agent(integration: Option<(&str, &str)>) -> HeaderValue {
    let host = concat!("watchdog-host/", env!("CARGO_PKG_VERSION"));
    let value = match integration {
        Some((id, version)) => format!("{}/{} {host}", token(id), token(version)),
        None => host.to_owned(),
    };
    HeaderValue::from_str(&value).expect("product tokens are valid header text")
}

/// `text` as an RFC 9110 token.
fn token(text: &str) -> String {
    let keep = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let token: String = text
        .chars()
        .map(|c| if keep(c) { c } else { '-' })
        .collect();
    if token.is_empty() {
        "-".to_owned()
    } else {
        token
    }
}

/// Reads the plugin's request body whole and frames the request as a
/// standard client would: `content-length` for a body (and for an empty
/// POST), never `transfer-encoding`, and the host's `user-agent` first.
pub async fn prepare(
    request: http::Request<WasiBody>,
    user_agent: &HeaderValue,
) -> Result<Prepared, RequestRefused> {
    let (mut parts, body) = request.into_parts();
    let body = read_capped(body).await?;
    let headers = &mut parts.headers;
    headers.remove(TRANSFER_ENCODING);
    headers.remove(CONTENT_LENGTH);
    if !body.is_empty() || parts.method == http::Method::POST {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let agent = match headers.get(USER_AGENT).map(HeaderValue::as_bytes) {
        Some(own) if !own.is_empty() => {
            HeaderValue::from_bytes(&[user_agent.as_bytes(), b" ", own].concat())
                .unwrap_or_else(|_| user_agent.clone())
        }
        _ => user_agent.clone(),
    };
    headers.insert(USER_AGENT, agent);
    let body_sha256 = (!body.is_empty()).then(|| hex::encode(Sha256::digest(&body)));
    let full = Full::new(body.clone())
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok(Prepared {
        request: http::Request::from_parts(parts, full),
        body,
        body_sha256,
    })
}

/// The whole body, refused once it passes [`MAX_REQUEST_BODY`].
async fn read_capped(mut body: WasiBody) -> Result<Bytes, RequestRefused> {
    let mut whole = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(RequestRefused::Body)?;
        if let Ok(data) = frame.into_data() {
            if whole.len() as u64 + data.len() as u64 > MAX_REQUEST_BODY {
                return Err(RequestRefused::BodyTooLarge);
            }
            whole.extend_from_slice(&data);
        }
    }
    Ok(whole.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, body: &'static [u8], agent: Option<&str>) -> http::Request<WasiBody> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri("https://api.example.com/search")
            .header(TRANSFER_ENCODING, "chunked");
        if let Some(agent) = agent {
            builder = builder.header(USER_AGENT, agent);
        }
        let body = Full::new(Bytes::from_static(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        builder.body(body).unwrap()
    }

    #[tokio::test]
    async fn a_body_goes_with_its_length_and_hash_and_the_host_names_the_client() {
        let agent = user_agent(Some(("probe", "0.1.0")));
        let prepared = prepare(request("POST", b"{\"page\":2}", None), &agent)
            .await
            .unwrap();
        let headers = prepared.request.headers();
        assert_eq!(headers[CONTENT_LENGTH], "10");
        assert!(headers.get(TRANSFER_ENCODING).is_none());
        assert_eq!(
            headers[USER_AGENT],
            concat!("probe/0.1.0 watchdog-host/", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            prepared.body_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(b"{\"page\":2}")).as_str())
        );
    }

    #[tokio::test]
    async fn a_get_without_a_body_has_no_length_and_no_hash() {
        let agent = user_agent(Some(("probe", "0.1.0")));
        let prepared = prepare(request("GET", b"", None), &agent).await.unwrap();
        assert!(prepared.request.headers().get(CONTENT_LENGTH).is_none());
        assert_eq!(prepared.body_sha256, None);
    }

    #[tokio::test]
    async fn a_plugins_user_agent_follows_the_hosts() {
        let agent = user_agent(Some(("probe", "1.0 beta\n")));
        let prepared = prepare(request("GET", b"", Some("curl/8.0")), &agent)
            .await
            .unwrap();
        assert_eq!(
            prepared.request.headers()[USER_AGENT],
            concat!(
                "probe/1.0-beta- watchdog-host/",
                env!("CARGO_PKG_VERSION"),
                " curl/8.0"
            )
        );
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_refused() {
        let big: &'static [u8] = vec![b'x'; MAX_REQUEST_BODY as usize + 1].leak();
        let refused = prepare(request("POST", big, None), &user_agent(None)).await;
        assert!(matches!(refused, Err(RequestRefused::BodyTooLarge)));
    }
}
