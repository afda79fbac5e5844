//! Support for the end-to-end tests: a loopback server for the probe test
//! component, and a harness that runs a component in the real host the way
//! the CLI does.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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
/// `/items` lists ids, `/echo` echoes the request headers it received,
/// `/huge` sends `huge_bytes` bytes.
pub struct ProbeServer {
    pub addr: SocketAddr,
    /// Every `authorization` header the server received.
    pub authorizations: Arc<Mutex<Vec<String>>>,
}

impl ProbeServer {
    pub async fn start(huge_bytes: usize) -> ProbeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let seen = authorizations.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            if let Some(auth) = request.headers().get("authorization") {
                                seen.lock()
                                    .unwrap()
                                    .push(auth.to_str().unwrap_or("").to_string());
                            }
                            let body = match request.uri().path() {
                                "/items" => Bytes::from_static(b"item-1,item-2,item-3"),
                                "/echo" => Bytes::from(
                                    request
                                        .headers()
                                        .iter()
                                        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
                                        .collect::<Vec<_>>()
                                        .join("\n"),
                                ),
                                "/huge" => Bytes::from(vec![b'x'; huge_bytes]),
                                _ => Bytes::from_static(b"not found"),
                            };
                            Ok::<_, hyper::Error>(Response::new(Full::new(body)))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ProbeServer {
            addr,
            authorizations,
        }
    }

    /// The `--route` that sends the probe's origin here.
    pub fn reroutes(&self) -> Reroutes {
        Reroutes::parse([format!("https://api.example.com=http://{}", self.addr).as_str()]).unwrap()
    }
}

/// A host set up like the CLI, writing bundles under a temporary folder.
pub struct Harness {
    pub runtime: Runtime,
    pub scratch: PathBuf,
}

impl Harness {
    pub fn new(name: &str) -> Harness {
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
            runtime: Runtime::new(None).unwrap(),
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
