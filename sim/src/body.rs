//! Response bodies, including the misbehaving deliveries faults ask for.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::faults::BodyEffect;

/// A response body. Every variant declares the full length of the real body, so a client
/// reading a stalled body waits for bytes that never come rather than seeing a clean end.
pub(crate) enum SimBody {
    /// The whole body at once.
    Whole(Option<Bytes>),
    /// Chunks separated by a delay.
    Trickle {
        chunks: VecDeque<Bytes>,
        delay: Duration,
        timer: Option<Pin<Box<Sleep>>>,
        len: u64,
    },
    /// The head, then nothing, ever.
    Stall { head: Option<Bytes>, len: u64 },
}

impl SimBody {
    /// `body` delivered as `effect` says (whole when `None`).
    pub(crate) fn new(body: Vec<u8>, effect: Option<BodyEffect>) -> SimBody {
        let mut body = Bytes::from(body);
        let len = body.len() as u64;
        match effect {
            None => SimBody::Whole(Some(body)),
            Some(BodyEffect::Malformed) => {
                body.truncate(body.len() / 2);
                SimBody::Whole(Some(body))
            }
            Some(BodyEffect::Stall) => SimBody::Stall {
                head: Some(body.slice(..body.len() / 2)),
                len,
            },
            Some(BodyEffect::Slow {
                chunk_delay,
                chunks,
            }) => {
                let size = body.len().div_ceil(chunks.max(1)).max(1);
                let mut pieces = VecDeque::new();
                while !body.is_empty() {
                    pieces.push_back(body.split_to(size.min(body.len())));
                }
                SimBody::Trickle {
                    chunks: pieces,
                    delay: chunk_delay,
                    timer: None,
                    len,
                }
            }
        }
    }

    /// The `Content-Length` to declare.
    pub(crate) fn declared_len(&self) -> u64 {
        match self {
            SimBody::Whole(body) => body.as_ref().map_or(0, |b| b.len() as u64),
            SimBody::Trickle { len, .. } | SimBody::Stall { len, .. } => *len,
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            SimBody::Whole(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Trickle {
                chunks,
                delay,
                timer,
                ..
            } => {
                if let Some(sleep) = timer {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *timer = None;
                }
                let chunk = chunks.pop_front();
                if chunk.is_some() && !chunks.is_empty() {
                    *timer = Some(Box::pin(tokio::time::sleep(*delay)));
                }
                Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
            }
            // Pending without arranging a wake-up: the body never completes. The connection
            // ends when the client gives up or the simulator shuts down.
            SimBody::Stall { head, .. } => match head.take() {
                Some(head) => Poll::Ready(Some(Ok(Frame::data(head)))),
                None => Poll::Pending,
            },
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared_len())
    }
}
