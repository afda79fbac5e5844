//! HTTP over the host's `wasi:http/outgoing-handler`.
//!
//! [`send_all`] is the transport: it starts every request of a batch at once
//! (`outgoing-handler.handle` returns a future response immediately), runs
//! the caller's `meanwhile` work while the host carries them, then drives
//! them all, heads and bodies, with one `wasi:io/poll.poll` over every
//! pending pollable, so independent requests overlap without an async
//! runtime in the guest. [`Client`] adds what an integration wants on top:
//! typed errors for statuses, bounded retries, paging.
//!
//! Never set `authorization` or any secret yourself: the host injects the
//! secrets the manifest declares, so they never enter the component.

mod client;
mod wasi;

pub use client::{Client, Pages};
pub use wasi::send_all;

/// The HTTP methods an integration may use. There is no write method: a
/// manifest declares POST only for read-type endpoints such as searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`, for read-type endpoints the manifest names explicitly.
    Post,
}

impl Method {
    /// The upper-case name, as written in requests, manifests and sources.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One outgoing request, complete: the transport sends exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL, query included.
    pub url: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, for POST.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A GET of `url` without headers.
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A POST of `body` as JSON to `url`.
    pub fn post_json(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Request {
        Request {
            method: Method::Post,
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(body.into()),
        }
    }

    /// The same request with one more header (the name is lower-cased).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The evidence source this request is cited as.
    pub fn source(&self) -> crate::Source {
        crate::Source {
            method: self.method.as_str().to_owned(),
            url: self.url.clone(),
        }
    }
}

/// One response. Header names are lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Every header, names lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A response of `status` with `headers` and a text body, for tests.
    #[cfg(test)]
    pub(crate) fn fake(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// The body as UTF-8 text; evidence data must be an object or array
    /// value in it, cut out byte for byte.
    pub fn text(&self) -> Result<&str, crate::Error> {
        std::str::from_utf8(&self.body)
            .map_err(|e| crate::Error::Internal(format!("the response body is not UTF-8: {e}")))
    }
}

/// Why a request produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The host's egress policy refused the request. Never retried: the
    /// policy does not change during a run.
    Denied(String),
    /// A deadline passed before a response arrived.
    Timeout(String),
    /// DNS, connection, TLS or a reset mid-body.
    Network(String),
}
