//! The connections the host opens for a plugin's requests: kept alive and
//! reused per origin, and opened only to addresses the egress check approved.
//!
//! A fresh connection per request costs a TCP handshake and, for HTTPS, a
//! TLS handshake: round trips that every page of a cursor chain would pay
//! again. [`Connections`] keeps them in a pool instead. Its connector never
//! resolves a name itself: [`Outbound`](crate::outbound::Outbound) resolves
//! and checks the addresses of each request's origin, approves them here,
//! and a new connection goes only to an approved address. A name that
//! resolves to a public address for the check and to a private one a moment
//! later (DNS rebinding) therefore cannot redirect a connection.

use crate::egress::{Origin, Scheme};
use bytes::Bytes;
use http_body::{Body, Frame};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, ServerName};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// How long an idle connection stays in the pool.
const IDLE: Duration = Duration::from_secs(30);

/// Addresses approved per origin authority (`host:port`), the last
/// resolution that passed the egress check.
type Approved = Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>;

/// The pooled connections of a run.
pub struct Connections {
    client: Client<Connector, WasiBody>,
    approved: Approved,
}

/// The timeouts of one request, already bounded by the call's time left.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Until the response head, connecting included.
    pub first_byte: Duration,
    /// Between two pieces of the body.
    pub between_bytes: Duration,
}

impl Connections {
    /// Connections for a run: at most `per_origin` idle ones kept per
    /// origin, each opened within `connect_timeout`, HTTPS trusting the web
    /// PKI's roots and `extra_roots` (an operator's own certificate
    /// authority, such as a TLS-inspecting proxy's).
    pub fn new(
        connect_timeout: Duration,
        per_origin: usize,
        extra_roots: &[CertificateDer<'static>],
    ) -> Connections {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for root in extra_roots {
            // A certificate rustls cannot use as a root is left out; the
            // handshakes it should have allowed then fail and say so.
            let _ = roots.add(root.clone());
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let approved = Approved::default();
        let connector = Connector {
            approved: approved.clone(),
            tls: TlsConnector::from(Arc::new(tls)),
            connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE)
            .pool_max_idle_per_host(per_origin)
            .build(connector);
        Connections { client, approved }
    }

    /// Lets new connections to `origin` go to `addresses`, replacing what
    /// was approved for it before.
    pub fn approve(&self, origin: &Origin, addresses: Vec<SocketAddr>) {
        self.approved
            .lock()
            .expect("approvals lock")
            .insert(origin.authority(), addresses);
    }

    /// Sends `request` on a pooled connection (or a new one to an approved
    /// address) and returns the response with its body under
    /// `timeouts.between_bytes`.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        timeouts: Timeouts,
    ) -> Result<http::Response<WasiBody>, Unanswered> {
        let response = tokio::time::timeout(timeouts.first_byte, self.client.request(request))
            .await
            .map_err(|_| Unanswered {
                code: HttpError::ConnectionReadTimeout,
                detail: "no response head within the time allowed".to_owned(),
            })?
            .map_err(|e| classify(&e))?;
        Ok(response.map(|body| {
            TimedBody {
                inner: body,
                limit: timeouts.between_bytes,
                timer: Box::pin(tokio::time::sleep(timeouts.between_bytes)),
            }
            .boxed()
        }))
    }
}

/// Why a request got no response: the wasi-http error code the plugin
/// sees, and the detail the ledger and log keep (which may name what the
/// plugin must not learn, such as a resolved address).
#[derive(Debug)]
pub struct Unanswered {
    /// The wasi-http error code returned to the plugin.
    pub code: HttpError,
    /// What happened, for the ledger and log only, never the plugin.
    pub detail: String,
}

/// The wasi-http error code for a failed request, and the whole chain of
/// causes for the ledger.
fn classify(error: &hyper_util::client::legacy::Error) -> Unanswered {
    let mut detail = error.to_string();
    let mut code = if error.is_connect() {
        HttpError::ConnectionRefused
    } else {
        HttpError::HttpProtocolError
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::TimedOut {
                code = HttpError::ConnectionTimeout;
            }
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<TlsHandshake>()) {
                code = tls.code();
            }
        }
        source = cause.source();
    }
    Unanswered { code, detail }
}

/// A TLS handshake that failed after the TCP connection was made: told
/// apart from a refused connection, so the plugin gets a TLS error code
/// (a plain-HTTP server behind an `https` origin closes the handshake with
/// an end of file, which is no rustls error) and the ledger and log name
/// the origin and the cause.
#[derive(Debug, thiserror::Error)]
#[error("the TLS handshake with {origin} failed: {cause}")]
struct TlsHandshake {
    origin: Origin,
    cause: io::Error,
}

impl TlsHandshake {
    fn code(&self) -> HttpError {
        match self.cause.get_ref().and_then(|e| e.downcast_ref()) {
            Some(rustls::Error::InvalidCertificate(_)) => HttpError::TlsCertificateError,
            _ => HttpError::TlsProtocolError,
        }
    }
}

/// Opens connections to approved addresses, with TLS for `https`.
#[derive(Clone)]
struct Connector {
    approved: Approved,
    tls: TlsConnector,
    connect_timeout: Duration,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = Conn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Conn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(uri).await })
    }
}

impl Connector {
    async fn connect(self, uri: http::Uri) -> io::Result<Conn> {
        let refused = |why: String| io::Error::new(io::ErrorKind::ConnectionRefused, why);
        let origin = Origin::of_uri(&uri)
            .ok_or_else(|| refused(format!("{uri} is not a URL the host connects to")))?;
        let addresses = self
            .approved
            .lock()
            .expect("approvals lock")
            .get(&origin.authority())
            .cloned()
            .unwrap_or_default();
        if addresses.is_empty() {
            return Err(refused(format!(
                "no address of {origin} was approved by the egress check"
            )));
        }
        let mut last = None;
        let mut tcp = None;
        for address in addresses {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => {
                    tcp = Some(stream);
                    break;
                }
                Ok(Err(e)) => last = Some(e),
                Err(_) => {
                    last = Some(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connecting to {address} timed out"),
                    ))
                }
            }
        }
        let tcp = tcp.ok_or_else(|| last.expect("at least one address was tried"))?;
        tcp.set_nodelay(true)?;
        if origin.scheme() == Scheme::Http {
            return Ok(Conn(TokioIo::new(Stream::Plain(tcp))));
        }
        let name = ServerName::try_from(origin.host())
            .map_err(|e| refused(format!("{} is not a TLS server name: {e}", origin.host())))?
            .to_owned();
        // A server that takes the connection but never finishes the
        // handshake would otherwise hold it, and a pool's background
        // connect, forever.
        let tls = tokio::time::timeout(self.connect_timeout, self.tls.connect(name, tcp))
            .await
            .map_err(|_| {
                let why = format!("the TLS handshake with {origin} timed out");
                io::Error::new(io::ErrorKind::TimedOut, why)
            })?
            .map_err(|cause| io::Error::other(TlsHandshake { origin, cause }))?;
        Ok(Conn(TokioIo::new(Stream::Tls(Box::new(tls)))))
    }
}

/// A connection, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// What the pool holds: a [`Stream`] as hyper reads and writes it.
struct Conn(TokioIo<Stream>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// A response body that fails if the next piece takes longer than `limit`.
struct TimedBody {
    inner: hyper::body::Incoming,
    limit: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn boxed(self) -> WasiBody {
        http_body_util::BodyExt::boxed_unsync(self)
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.limit;
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::AsyncWriteExt;

    fn get(url: &str) -> http::Request<WasiBody> {
        let body = Empty::<Bytes>::new().map_err(|never| match never {});
        http::Request::get(url).body(body.boxed_unsync()).unwrap()
    }

    const TIMEOUTS: Timeouts = Timeouts {
        first_byte: Duration::from_secs(5),
        between_bytes: Duration::from_secs(5),
    };

    #[tokio::test]
    async fn a_connection_goes_only_to_an_approved_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let url = format!("http://{address}/x");
        let connections = Connections::new(Duration::from_secs(5), 2, &[]);

        let Unanswered { code, detail } = connections.send(get(&url), TIMEOUTS).await.unwrap_err();
        assert!(matches!(code, HttpError::ConnectionRefused), "{code:?}");
        assert!(detail.contains("approved"), "{detail}");

        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut request).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
        });
        let origin = Origin::parse(&format!("http://{address}")).unwrap();
        connections.approve(&origin, vec![address]);
        let response = connections.send(get(&url), TIMEOUTS).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
    }

    /// A plain-HTTP server's answer to a TLS client hello: a 400, or nothing.
    async fn plain_http_server(reply: &'static [u8]) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut hello = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut hello).await;
            let _ = stream.write_all(reply).await;
        });
        address
    }

    #[tokio::test]
    async fn a_tls_handshake_with_a_plain_http_server_is_a_tls_error_naming_the_origin() {
        let replies: [(&[u8], &str); 2] = [
            (
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
                "received corrupt message of type InvalidContentType",
            ),
            (b"", "tls handshake eof"),
        ];
        for (reply, cause) in replies {
            let address = plain_http_server(reply).await;
            let origin = Origin::parse(&format!("https://{address}")).unwrap();
            let connections = Connections::new(Duration::from_secs(5), 2, &[]);
            connections.approve(&origin, vec![address]);

            let url = format!("https://{address}/x");
            let Unanswered { code, detail } =
                connections.send(get(&url), TIMEOUTS).await.unwrap_err();
            assert!(matches!(code, HttpError::TlsProtocolError), "{code:?}");
            assert_eq!(
                detail,
                format!("client error (Connect): the TLS handshake with {origin} failed: {cause}")
            );
        }
    }
}
