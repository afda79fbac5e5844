//! A minimal HTTP/1.1 client over a raw loopback socket, so tests see exactly what the
//! simulator writes (including truncated bodies and dropped connections).

use std::net::SocketAddr;
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const KEY: &str = "sim-api-key";
pub const PUBLIC_ORIGIN: &str = "https://api.atlassian.com";

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends raw request bytes and reads until the server closes, or `timeout` passes.
/// Returns what arrived and whether the read timed out.
pub async fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (received, true),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, false),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Parses a complete response; `None` if the head never arrived.
pub fn parse(raw: &[u8]) -> Option<Reply> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: raw[head_end + 4..].to_vec(),
    })
}

pub fn request_bytes(
    method: &str,
    target: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Vec<u8> {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: api.atlassian.com\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(key) = key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    if method == "POST" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    request.into_bytes()
}

/// A client of one simulator with one key.
pub struct Client {
    pub addr: SocketAddr,
    pub key: Option<String>,
    pub org: String,
}

impl Client {
    pub fn new(sim: &SimHandle) -> Client {
        Client {
            addr: sim.addr(),
            key: Some(KEY.to_owned()),
            org: sim.org_id().to_owned(),
        }
    }

    pub fn with_key(mut self, key: Option<&str>) -> Client {
        self.key = key.map(str::to_owned);
        self
    }

    /// `/admin/v1/orgs/{org}{suffix}`.
    pub fn v1(&self, suffix: &str) -> String {
        format!("/admin/v1/orgs/{}{suffix}", self.org)
    }

    /// `/admin/v2/orgs/{org}{suffix}`.
    pub fn v2(&self, suffix: &str) -> String {
        format!("/admin/v2/orgs/{}{suffix}", self.org)
    }

    pub async fn send(&self, method: &str, target: &str, body: Option<&Value>) -> Reply {
        let request = request_bytes(method, target, self.key.as_deref(), body);
        let (raw, timed_out) = exchange(self.addr, &request, Duration::from_secs(20)).await;
        assert!(!timed_out, "{method} {target} timed out");
        parse(&raw).unwrap_or_else(|| panic!("{method} {target}: no response"))
    }

    pub async fn get(&self, target: &str) -> Reply {
        self.send("GET", target, None).await
    }

    pub async fn post(&self, target: &str, body: &Value) -> Reply {
        self.send("POST", target, Some(body)).await
    }

    /// GETs `target` and asserts 200.
    pub async fn ok(&self, target: &str) -> Value {
        let reply = self.get(target).await;
        assert_eq!(
            reply.status,
            200,
            "GET {target}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }
}

/// The path and query of a full next-link URL on the public origin.
pub fn target_of(url: &str) -> String {
    url.strip_prefix(PUBLIC_ORIGIN)
        .unwrap_or_else(|| panic!("link {url} is not on {PUBLIC_ORIGIN}"))
        .to_owned()
}

pub async fn start(config: SimConfig) -> SimHandle {
    SimHandle::start(config).await.expect("simulator starts")
}

pub async fn start_default() -> SimHandle {
    start(SimConfig::default()).await
}
