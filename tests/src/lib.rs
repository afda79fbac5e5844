//! Support for the end-to-end tests: loopback servers for the probe test
//! component and for the Python example's API, and a harness that runs a
//! component in the real host the way the CLI does.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use watchdog_host::cache::Cache;
use watchdog_host::config::RunConfig;
use watchdog_host::egress::Reroutes;
use watchdog_host::log::{Level, RunLog};
use watchdog_host::run::{Collected, Failure, Loaded, Options};
use watchdog_host::runtime::Runtime;
use watchdog_host::sandbox::Limits;
use watchdog_host::secrets::{Scrubber, Secret};

/// The secret the probe tests hand to the host.
pub const PROBE_TOKEN: &str = "probe-token-5f2e9c1a";

/// A loopback stand-in for `https://api.example.com`, the probe's origin:
/// `/items` and `/groups` list records one a line (`{"id":"item-1"}`),
/// `POST /search` answers the page its body asks for (`{"page":2}`: records
/// `s-2-1` and `s-2-2`), `/echo` echoes the request headers it received as
/// `{"echo":"..."}`, `/huge` sends `huge_bytes` bytes, and any other path is
/// a 404. Plain HTTP, or TLS with a certificate of its own for `127.0.0.1`.
pub struct ProbeServer {
    pub addr: SocketAddr,
    /// Every `authorization` header the server received.
    pub authorizations: Arc<Mutex<Vec<String>>>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// With TLS, the server's self-signed certificate, for a client to trust.
    pub certificate: Option<CertificateDer<'static>>,
}

impl ProbeServer {
    pub async fn start(huge_bytes: usize) -> ProbeServer {
        ProbeServer::serve(huge_bytes, None).await
    }

    /// The server over TLS, its certificate self-signed for `127.0.0.1`.
    pub async fn start_tls(huge_bytes: usize) -> ProbeServer {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let certificate = key.cert.der().clone();
        let private =
            rustls::pki_types::PrivateKeyDer::try_from(key.key_pair.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], private)
        .unwrap();
        let mut server = ProbeServer::serve(
            huge_bytes,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await;
        server.certificate = Some(certificate);
        server
    }

    async fn serve(huge_bytes: usize, tls: Option<tokio_rustls::TlsAcceptor>) -> ProbeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (seen, accepted) = (authorizations.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::Relaxed);
                let seen = seen.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            if let Some(auth) = request.headers().get("authorization") {
                                seen.lock()
                                    .unwrap()
                                    .push(auth.to_str().unwrap_or("").to_string());
                            }
                            Ok::<_, hyper::Error>(probe_answer(request, huge_bytes).await)
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match tls {
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            http.serve_connection(TokioIo::new(stream), service).await
                        }
                    };
                });
            }
        });
        ProbeServer {
            addr,
            authorizations,
            connections,
            certificate: None,
        }
    }

    /// The `--route` that sends the probe's origin here.
    pub fn reroutes(&self) -> Reroutes {
        probe_reroutes(self.certificate.is_some(), self.addr)
    }
}

/// The `--route` that sends the probe's origin to `addr`.
fn probe_reroutes(tls: bool, addr: SocketAddr) -> Reroutes {
    let scheme = if tls { "https" } else { "http" };
    let route = format!("https://api.example.com={scheme}://{addr}");
    Reroutes::parse([route.as_str()]).unwrap()
}

/// The probe server's answer to one request.
async fn probe_answer(
    request: Request<hyper::body::Incoming>,
    huge_bytes: usize,
) -> Response<Full<Bytes>> {
    let body = match request.uri().path() {
        "/items" => {
            Bytes::from_static(b"{\"id\":\"item-1\"}\n{\"id\":\"item-2\"}\n{\"id\":\"item-3\"}")
        }
        "/groups" => Bytes::from_static(b"{\"id\":\"group-1\"}"),
        "/echo" => {
            let headers = request
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("\n");
            Bytes::from(serde_json::json!({ "echo": headers }).to_string())
        }
        "/search" => {
            let asked = request.into_body().collect().await.unwrap().to_bytes();
            let page = serde_json::from_slice::<serde_json::Value>(&asked).unwrap()["page"].clone();
            Bytes::from(format!(
                "{{\"id\":\"s-{page}-1\"}}\n{{\"id\":\"s-{page}-2\"}}"
            ))
        }
        "/huge" => Bytes::from(vec![b'x'; huge_bytes]),
        _ => {
            let mut response =
                Response::new(Full::new(Bytes::from_static(b"{\"error\":\"not found\"}")));
            *response.status_mut() = hyper::StatusCode::NOT_FOUND;
            return response;
        }
    };
    Response::new(Full::new(body))
}

/// A loopback stand-in for the probe's origin that speaks HTTP/1.1 by hand
/// and keeps the bytes of every request head it reads, for tests of what
/// the host puts on the wire. Every request gets a 200 with an empty body.
pub struct RawServer {
    pub addr: SocketAddr,
    /// Each request head as received, up to its blank line.
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl RawServer {
    pub async fn start() -> RawServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_raw(stream, seen.clone()));
            }
        });
        RawServer { addr, heads }
    }

    /// The `--route` that sends the probe's origin here.
    pub fn reroutes(&self) -> Reroutes {
        probe_reroutes(false, self.addr)
    }
}

/// Answers requests on one connection until it closes. A body framed by
/// `content-length` is read and the connection kept; any other framing
/// ends the connection after the answer.
async fn serve_raw(stream: tokio::net::TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::io::BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let lower = head.to_ascii_lowercase();
        let length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok());
        heads.lock().unwrap().push(head);
        let keep = length.is_some() || !lower.contains("transfer-encoding");
        let mut body = vec![0; length.unwrap_or(0)];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let answer = if keep {
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        } else {
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        };
        if stream.get_mut().write_all(answer.as_bytes()).await.is_err() || !keep {
            return;
        }
    }
}

/// The secret the Python example's tests hand to the host.
pub const HELLO_TOKEN: &str = "hello-token-8d3b6e20";
/// The team the Hello Team API serves.
pub const HELLO_TEAM: &str = "t-100";

/// A loopback stand-in for the Hello Team API at `https://api.example.com`,
/// the "public" API of the Python example (`examples/python-hello`):
/// `GET /v1/teams/t-100` is the team, `GET /v1/teams/t-100/members[?page=N]`
/// its members two a page; any other team is 404, and a request without
/// `authorization: Bearer HELLO_TOKEN` is 401.
pub struct HelloServer {
    pub addr: SocketAddr,
}

impl HelloServer {
    /// Members as `(id, two-step verification on)`.
    pub const MEMBERS: [(&'static str, bool); 5] = [
        ("m-1", true),
        ("m-2", false),
        ("m-3", true),
        ("m-4", true),
        ("m-5", false),
    ];

    pub async fn start() -> HelloServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service =
                        service_fn(|request: Request<hyper::body::Incoming>| async move {
                            let (status, body) = HelloServer::answer(&request);
                            Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body.to_string())))
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HelloServer { addr }
    }

    fn answer<B>(request: &Request<B>) -> (u16, serde_json::Value) {
        let authorized = request
            .headers()
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == format!("Bearer {HELLO_TOKEN}").as_bytes());
        if !authorized {
            return (401, serde_json::json!({"error": "unauthorized"}));
        }
        let team = format!("/v1/teams/{HELLO_TEAM}");
        let path = request.uri().path();
        if path == team {
            return (
                200,
                serde_json::json!({"id": HELLO_TEAM, "name": "Example Team"}),
            );
        }
        if path != format!("{team}/members") {
            return (404, serde_json::json!({"error": "not found"}));
        }
        let page: usize = request
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("page="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let members: Vec<serde_json::Value> = HelloServer::MEMBERS
            .iter()
            .skip((page - 1) * 2)
            .take(2)
            .map(|(id, mfa)| {
                serde_json::json!({"id": id, "email": format!("{id}@example.com"), "mfa": mfa})
            })
            .collect();
        let next = (page * 2 < HelloServer::MEMBERS.len()).then_some(page + 1);
        (
            200,
            serde_json::json!({"members": members, "next_page": next}),
        )
    }

    /// The `--route` that sends the API's origin here.
    pub fn reroutes(&self) -> Reroutes {
        Reroutes::parse([format!("https://api.example.com=http://{}", self.addr).as_str()]).unwrap()
    }
}

/// The Python example component, built by `examples/python-hello/build`
/// (which `scripts/test` runs before the tests).
pub fn python_hello() -> PathBuf {
    let path = std::env::var_os("WATCHDOG_PYTHON_HELLO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/examples/python-hello.wasm")
        });
    assert!(
        path.exists(),
        "{} is missing: build it with examples/python-hello/build (./scripts/test does)",
        path.display()
    );
    path
}

/// A host set up like the CLI, writing bundles under a temporary folder.
pub struct Harness {
    pub runtime: Runtime,
    pub scratch: PathBuf,
}

impl Harness {
    pub fn new(name: &str) -> Harness {
        Harness::with_cache(name, None)
    }

    /// A harness whose runtime keeps precompiled components in `cache`, for
    /// components too large to compile in every test.
    pub fn cached(name: &str, cache: &Path) -> Harness {
        Harness::with_cache(name, Some(Cache::new(cache.to_path_buf())))
    }

    fn with_cache(name: &str, cache: Option<Cache>) -> Harness {
        let scratch = std::env::temp_dir().join(format!(
            "watchdog-e2e-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&scratch).unwrap();
        Harness {
            runtime: Runtime::new(cache).unwrap(),
            scratch,
        }
    }

    pub fn options(&self, limits: Limits, reroutes: Reroutes) -> Options {
        Options::new(
            limits,
            reroutes,
            RunLog::new(Some(Level::Error), Scrubber::default()),
        )
    }

    pub async fn open(&self, component: &str, options: &Options) -> Loaded {
        Loaded::open(&self.runtime, Path::new(component), options)
            .await
            .unwrap_or_else(|e| panic!("loading {component}: {e}"))
    }

    /// Collects into a fresh bundle folder named `bundle`.
    pub async fn collect(
        &self,
        loaded: &Loaded,
        config: &RunConfig,
        options: &Options,
        bundle: &str,
        checkpoint: Option<String>,
    ) -> Result<Collected, Failure> {
        loaded
            .collect(config, options, &self.scratch.join(bundle), checkpoint)
            .await
    }
}

/// A configuration with the given values and secrets.
pub fn config(values: &[(&str, &str)], secrets: &[(&str, &str)]) -> RunConfig {
    RunConfig {
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect(),
    }
}

/// Every file of a bundle folder, concatenated, for "never appears" checks.
pub fn bundle_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
    }
    text
}
