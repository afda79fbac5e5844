//! Support for the end-to-end tests: loopback servers for the probe test
//! component and for the Python example's API, and a harness that runs a
//! component in the real host the way the CLI does.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use watchdog_host::bundle;
use watchdog_host::cache::Cache;
use watchdog_host::config::RunConfig;
use watchdog_host::egress::Reroutes;
use watchdog_host::log::{Level, RunLog};
use watchdog_host::run::{Collected, Failure, Loaded, Options};
use watchdog_host::runtime::Runtime;
use watchdog_host::sandbox::Limits;
use watchdog_host::secrets::{Scrubber, Secret};
use watchdog_host::tape::Tape;

/// The secret the probe tests hand to the host.
pub const PROBE_TOKEN: &str = "probe-token-5f2e9c1a";

/// A loopback stand-in for `https://api.example.com`, the probe's origin:
/// `/items` lists records one a line (`{"id":"item-1"}`) in a JSON array
/// whose `[`, `,` and `]` stand on lines of their own (a record must be a
/// value of a JSON body), `/groups` is one such record, `POST /search`
/// answers the page its body asks for as `/items` lists (`{"page":2}`:
/// records `s-2-1` and `s-2-2`), `/echo` echoes the request headers it received as
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
        "/items" => Bytes::from_static(
            b"[\n{\"id\":\"item-1\"}\n,\n{\"id\":\"item-2\"}\n,\n{\"id\":\"item-3\"}\n]",
        ),
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
                "[\n{{\"id\":\"s-{page}-1\"}}\n,\n{{\"id\":\"s-{page}-2\"}}\n]"
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

/// A loopback stand-in for the probe's origin that speaks HTTP/1.1 by hand:
/// it keeps the head of every request it reads, for tests of what the host
/// puts on the wire, and answers with raw bytes a well-behaved HTTP library
/// would not write (a body one byte per chunk, trailers, header bytes
/// outside ASCII, a header named after a secret). `answer` maps a request
/// path to the whole response.
pub struct RawServer {
    pub addr: SocketAddr,
    /// The head of every request received, as text, up to its blank line.
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// An empty 200 that keeps the connection open.
pub const EMPTY_OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

impl RawServer {
    pub async fn start(answer: fn(&str) -> Vec<u8>) -> RawServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(RawServer::serve(stream, answer, seen.clone()));
            }
        });
        RawServer { addr, requests }
    }

    /// Answers the requests of one kept-alive connection. A body framed by
    /// `content-length` is read; any other framing (chunked) ends the
    /// connection after the answer, since its body is not read.
    async fn serve(
        mut stream: tokio::net::TcpStream,
        answer: fn(&str) -> Vec<u8>,
        seen: Arc<Mutex<Vec<String>>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = Vec::new();
        loop {
            let end = loop {
                if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            buffer.drain(..end);
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse::<usize>().ok());
            let framed = length.is_some() || !lower.contains("transfer-encoding");
            while buffer.len() < length.unwrap_or(0) {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            buffer.drain(..length.unwrap_or(0));
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            seen.lock().unwrap().push(head);
            if stream.write_all(&answer(&path)).await.is_err() || !framed {
                return;
            }
        }
    }

    /// The `--route` that sends the probe's origin here.
    pub fn reroutes(&self) -> Reroutes {
        probe_reroutes(false, self.addr)
    }
}

/// The spellings an upstream might reflect a secret in, written here
/// independently of the host's scrubber: JSON with `/` escaped and with
/// every character `\u`-escaped, base64 and base64url, hex in both cases,
/// percent-encoded, and base64 of the secret inside longer text at each of
/// the three byte alignments.
pub fn reflections(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let bytes = secret.as_bytes();
    vec![
        secret.replace('/', "\\/"),
        secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect(),
        secret
            .chars()
            .map(|c| format!("\\u{:04X}", c as u32))
            .collect(),
        STANDARD.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
        bytes.iter().map(|b| format!("{b:02X}")).collect(),
        bytes.iter().map(|b| format!("%{b:02X}")).collect(),
        STANDARD.encode(format!("user@example.com:{secret}")),
        STANDARD.encode(format!("{secret}xy")),
        STANDARD.encode(format!("a{secret}")),
    ]
}

/// A chunked response, one byte per chunk, that reflects `secret` in every
/// one of [`reflections`], in a header value holding a byte outside ASCII,
/// as a header name, and in a trailer.
pub fn reflecting_response(secret: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n");
    out.extend_from_slice(b"x-echo: \xe9 ");
    out.extend_from_slice(secret.as_bytes());
    out.extend_from_slice(format!("\r\n{secret}: 1\r\ntrailer: x-trailer\r\n\r\n").as_bytes());
    for byte in reflections(secret).join(" | ").bytes() {
        out.extend_from_slice(b"1\r\n");
        out.push(byte);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\nx-trailer: {secret}\r\n\r\n").as_bytes());
    out
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

    /// Collects into a fresh bundle folder named `bundle`. Every collection
    /// of the end-to-end tests checks that `run.json`'s counts are the
    /// records `evidence.jsonl` holds.
    pub async fn collect(
        &self,
        loaded: &Loaded,
        config: &RunConfig,
        options: &Options,
        bundle: &str,
        checkpoint: Option<String>,
    ) -> Result<Collected, Failure> {
        let collected = loaded
            .collect(config, options, &self.scratch.join(bundle), checkpoint)
            .await?;
        assert_counts_are_the_evidence(&collected);
        Ok(collected)
    }

    /// Records a collection of the well-behaved `probe` served through
    /// `reroutes` into `recording/` under the scratch folder; returns it.
    pub async fn record_well_behaved_probe(&self, probe: &str, reroutes: Reroutes) -> PathBuf {
        let recording = self.scratch.join("recording");
        let mut options = self.options(Limits::default(), reroutes);
        options.tape = Tape::Record(recording.clone());
        let loaded = self.open(probe, &options).await;
        let behaved = config(&[("behaviour", "well-behaved")], &[("token", PROBE_TOKEN)]);
        let collected = self
            .collect(&loaded, &behaved, &options, "live", None)
            .await
            .unwrap();
        assert!(collected.failure.is_none(), "{:?}", collected.failure);
        recording
    }
}

/// `run.json`'s count of each kind equals that kind's lines in
/// `evidence.jsonl`.
pub fn assert_counts_are_the_evidence(collected: &Collected) {
    let text = std::fs::read_to_string(collected.dir.join(bundle::EVIDENCE_FILE)).unwrap();
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines() {
        let record: bundle::Record = serde_json::from_str(line).unwrap();
        *lines.entry(record.kind).or_default() += 1;
    }
    let counted: BTreeMap<String, u64> = collected
        .run
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    assert_eq!(counted, lines, "run.json's counts against evidence.jsonl");
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
            .map(|(k, v)| (k.to_string(), Secret::new(*v).expect("a test secret")))
            .collect(),
    }
}

/// Every file of a bundle folder (not of its subfolders), concatenated, for
/// The entries of a bundle's ledger, its chain checked.
pub fn ledger_entries(dir: &Path) -> Vec<watchdog_host::ledger::Entry> {
    let file = std::fs::File::open(dir.join(bundle::LEDGER_FILE)).unwrap();
    watchdog_host::ledger::verify(std::io::BufReader::new(file))
        .unwrap()
        .entries
}

/// "never appears" checks.
pub fn bundle_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
    }
    text
}
