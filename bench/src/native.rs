//! The integration's logic outside the sandbox, the baseline of figure 1:
//! [`NativeTransport`], HTTP/1.1 over a keep-alive hyper client, and
//! [`JsonlSink`], which writes evidence lines to a file as the host's bundle
//! does. With no host in between, the transport reroutes the API origin to the
//! simulator and adds the `Authorization` header itself.
//!
//! [`Recorder`] keeps every request a collection sends, so that figure 5 can
//! fetch the same pages again with the plain transport and nothing else.

use crate::sim::{API_KEY, API_ORIGIN};
use anyhow::Context;
use atlassian_cloud_admin::{
    Error, Evidence, Level, Method, Request, Response, Sink, Transport, TransportError,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;
use watchdog_host::bundle::write_line;

/// How long a response may take: the host's default read timeout.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// A blocking [`Transport`]: a batch's requests run as concurrent tasks on a
/// multi-threaded runtime, the caller's `meanwhile` work runs while they are
/// in flight, then the batch is waited for whole, as the wasm glue does with
/// one `poll` over every pending request.
pub struct NativeTransport {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpConnector, Full<Bytes>>,
    /// The simulator's `http://127.0.0.1:PORT`, standing in for [`API_ORIGIN`].
    target: String,
}

impl NativeTransport {
    pub fn new(target: String) -> anyhow::Result<NativeTransport> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("native-http")
            .enable_all()
            .build()
            .context("starting the native transport's runtime")?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(NativeTransport {
            runtime,
            client,
            target,
        })
    }

    /// The request as it leaves: on the simulator, with the key.
    fn outgoing(&self, request: Request) -> Result<http::Request<Full<Bytes>>, TransportError> {
        let url = match request.url.strip_prefix(API_ORIGIN) {
            Some(rest) => format!("{}{rest}", self.target),
            None => request.url,
        };
        let method = match request.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
        };
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::AUTHORIZATION, format!("Bearer {API_KEY}"));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(Bytes::from(request.body.unwrap_or_default())))
            .map_err(|e| TransportError::Network(format!("{url}: {e}")))
    }
}

impl Transport for NativeTransport {
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>> {
        let outgoing: Vec<_> = requests.into_iter().map(|r| self.outgoing(r)).collect();
        let tasks: Vec<_> = outgoing
            .into_iter()
            .map(|request| {
                let client = self.client.clone();
                self.runtime
                    .spawn(async move { exchange(&client, request?).await })
            })
            .collect();
        meanwhile();
        self.runtime.block_on(async {
            let mut results = Vec::with_capacity(tasks.len());
            for task in tasks {
                results.push(task.await.unwrap_or_else(|e| {
                    Err(TransportError::Network(format!("request task failed: {e}")))
                }));
            }
            results
        })
    }
}

/// One request and its whole response.
async fn exchange(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> Result<Response, TransportError> {
    let network = |e: &dyn std::fmt::Display| TransportError::Network(e.to_string());
    let read = async {
        let response = client.request(request).await.map_err(|e| network(&e))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| network(&e))?.to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: body.to_vec(),
        })
    };
    tokio::time::timeout(RESPONSE_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Err(TransportError::Timeout("no response in time".into())))
}

/// A [`Transport`] that keeps a copy of every request it passes on.
pub struct Recorder<T> {
    pub inner: T,
    pub requests: Vec<Request>,
}

impl<T: Transport> Transport for Recorder<T> {
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>> {
        self.requests.extend(requests.iter().cloned());
        self.inner.send_all(requests, meanwhile)
    }

    fn sleep(&mut self, duration: Duration) {
        self.inner.sleep(duration);
    }

    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }

    fn random_u64(&mut self) -> u64 {
        self.inner.random_u64()
    }
}

/// Evidence as lines of `evidence.jsonl` (without the ledger reference
/// there is no ledger natively), and the log as lines of text.
pub struct JsonlSink {
    evidence: BufWriter<File>,
    log: BufWriter<File>,
}

/// An evidence line but its data, as [`watchdog_host::bundle::write_line`]
/// takes it.
#[derive(Serialize)]
struct Head<'a> {
    kind: &'a str,
    id: &'a str,
    collected_at: &'a str,
    source: LineSource<'a>,
}

#[derive(Serialize)]
struct LineSource<'a> {
    method: &'a str,
    url: &'a str,
}

impl JsonlSink {
    /// Creates `evidence.jsonl` and `log.txt` in `dir`.
    pub fn create(dir: &Path) -> std::io::Result<JsonlSink> {
        Ok(JsonlSink {
            evidence: BufWriter::new(File::create(dir.join("evidence.jsonl"))?),
            log: BufWriter::new(File::create(dir.join("log.txt"))?),
        })
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.evidence.flush()?;
        self.log.flush()
    }
}

impl Sink for JsonlSink {
    fn emit(&mut self, batch: Vec<Evidence<'_>>) -> Result<(), Error> {
        let collected_at = watchdog_host::now_rfc3339();
        let mut line = Vec::new();
        for evidence in &batch {
            line.clear();
            let head = Head {
                kind: &evidence.kind,
                id: &evidence.id,
                collected_at: &collected_at,
                source: LineSource {
                    method: &evidence.source.method,
                    url: &evidence.source.url,
                },
            };
            let written = jsontext::validate(&evidence.data)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    write_line(&mut line, &head, &evidence.data).map_err(|e| e.to_string())
                })
                .and_then(|()| self.evidence.write_all(&line).map_err(|e| e.to_string()));
            written.map_err(|why| Error::Internal(format!("cannot write evidence: {why}")))?;
        }
        Ok(())
    }

    fn log(&mut self, level: Level, message: &str) {
        let _ = writeln!(self.log, "{level:?} {message}");
    }
}
