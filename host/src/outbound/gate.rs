//! Whether a request may leave at all: the plugin's framing, its body, and
//! the grant's egress policy. Pure policy: nothing here touches the network,
//! so a refusal costs nothing and is decided the same way live or replayed.

use super::Refused;
use crate::egress::{Denial, Origin, ReadMethod, check_framing};
use crate::grant::Grant;
use crate::request::{self, Prepared};
use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, Full};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi_http::WasiBody;

/// The admission gate of a run: its grant and what the host says it is.
pub(super) struct Gate {
    grant: Arc<Grant>,
    /// What every request says in `user-agent`.
    user_agent: http::HeaderValue,
}

/// A request as the host frames it, or why it may not leave.
pub(super) struct Framed {
    /// The SHA-256 of its body, kept in the ledger even for a refusal.
    pub request_sha256: Option<String>,
    pub ready: Result<Prepared, Refused>,
}

impl Gate {
    pub(super) fn new(grant: Arc<Grant>) -> Gate {
        let user_agent = request::user_agent(
            grant
                .integration
                .as_ref()
                .map(|(id, version)| (id.as_str(), version.as_str())),
        );
        Gate { grant, user_agent }
    }

    /// Screens what the plugin set, then frames the request the host's way
    /// (length, user agent). A request screened out is still read, so its
    /// ledger entry names the body it tried to send.
    pub(super) async fn frame(&self, mut request: http::Request<WasiBody>) -> Framed {
        let screened = screen(&mut request);
        let prepared = request::prepare(request, &self.user_agent).await;
        let request_sha256 = prepared.as_ref().ok().and_then(|p| p.body_sha256.clone());
        let ready = match (screened, prepared) {
            (Err(denial), _) => Err(denial.into()),
            (Ok(()), Err(refused)) => Err(refused.into()),
            (Ok(()), Ok(prepared)) => Ok(prepared),
        };
        Framed {
            request_sha256,
            ready,
        }
    }

    /// Decides whether the egress policy lets `method` reach `uri`, and for
    /// which origin.
    pub(super) fn admit(&self, method: &str, uri: &http::Uri) -> Result<Origin, Refused> {
        self.grant.egress.check(method, uri)?;
        Ok(Origin::of_uri(uri).expect("the policy admitted an absolute URI"))
    }
}

/// Refuses a request that frames itself or carries a body on a read without
/// one. A GET or HEAD leaves with an empty body whatever the plugin does: a
/// body it already wrote is refused, and one it writes later goes nowhere.
fn screen(request: &mut http::Request<WasiBody>) -> Result<(), Denial> {
    check_framing(request.uri(), request.headers())?;
    let method = match *request.method() {
        http::Method::GET => ReadMethod::Get,
        http::Method::HEAD => ReadMethod::Head,
        _ => return Ok(()),
    };
    let mut body = std::mem::replace(
        request.body_mut(),
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let mut cx = Context::from_waker(std::task::Waker::noop());
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(None) | Poll::Pending => return Ok(()),
            Poll::Ready(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {}
            Poll::Ready(Some(_)) => return Err(Denial::BodyOnRead { method }),
        }
    }
}
