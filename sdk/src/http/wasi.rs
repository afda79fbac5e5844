//! The transport over `wasi:http`; see the parent module.

use super::{Method, Request, Response, TransportError};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, Scheme,
};
use wasi::io::streams::{InputStream, StreamError};
use wasip2 as wasi;

/// One request of a batch on its way.
enum InFlight {
    Head(FutureIncomingResponse),
    Body {
        status: u16,
        headers: Vec<(String, String)>,
        // Declared before `body`: the stream is a child of the body resource
        // and must be dropped first.
        stream: InputStream,
        body: IncomingBody,
        bytes: Vec<u8>,
    },
    Done(Result<Response, TransportError>),
}

/// Sends the requests concurrently and returns their results in the same
/// order: every request is started, `meanwhile` runs once while they are on
/// their way, then one `wasi:io/poll.poll` over all pending heads and bodies
/// at a time drives them to the end, so the batch takes as long as its
/// slowest request, not the sum.
pub fn send_all(
    requests: &[Request],
    meanwhile: &mut dyn FnMut(),
) -> Vec<Result<Response, TransportError>> {
    let mut flights: Vec<InFlight> = requests
        .iter()
        .map(|r| match start(r) {
            Ok(future) => InFlight::Head(future),
            Err(e) => InFlight::Done(Err(e)),
        })
        .collect();
    meanwhile();
    loop {
        let pending: Vec<usize> = (0..flights.len())
            .filter(|&i| !matches!(flights[i], InFlight::Done(_)))
            .collect();
        if pending.is_empty() {
            break;
        }
        let pollables: Vec<_> = pending
            .iter()
            .map(|&i| match &flights[i] {
                InFlight::Head(future) => future.subscribe(),
                InFlight::Body { stream, .. } => stream.subscribe(),
                InFlight::Done(_) => unreachable!("filtered out above"),
            })
            .collect();
        let refs: Vec<_> = pollables.iter().collect();
        let ready = wasi::io::poll::poll(&refs);
        drop(pollables);
        for index in ready {
            let i = pending[index as usize];
            let flight = std::mem::replace(&mut flights[i], InFlight::Done(Err(lost())));
            flights[i] = advance(flight);
        }
    }
    flights
        .into_iter()
        .map(|f| match f {
            InFlight::Done(result) => result,
            _ => Err(lost()),
        })
        .collect()
}

fn lost() -> TransportError {
    TransportError::Network("the request was lost by the transport".into())
}

/// Starts one request; the response arrives later on the returned future.
fn start(request: &Request) -> Result<FutureIncomingResponse, TransportError> {
    let invalid = |why: &str| TransportError::Network(format!("{why}: {}", request.url));
    let (scheme, rest) = request
        .url
        .split_once("://")
        .ok_or_else(|| invalid("not an absolute URL"))?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    let fields = Fields::from_list(&headers).map_err(|e| invalid(&format!("header {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
    };
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        _ => return Err(invalid("unsupported scheme")),
    };
    outgoing
        .set_method(&method)
        .and_then(|()| outgoing.set_scheme(Some(&scheme)))
        .and_then(|()| outgoing.set_authority(Some(authority)))
        .and_then(|()| outgoing.set_path_with_query(Some(&path)))
        .map_err(|()| invalid("the host refused the request line"))?;
    let body = outgoing.body().map_err(|()| invalid("no request body"))?;
    if let Some(bytes) = &request.body {
        let stream = body
            .write()
            .map_err(|()| invalid("no request body stream"))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| TransportError::Network(format!("writing the request body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(http_error)?;
    outgoing_handler::handle(outgoing, None).map_err(http_error)
}

/// The most a response's announced length reserves ahead of its bytes.
const RESERVED_BODY: usize = 16 << 20;

/// Moves a request one step on, after its pollable fired.
fn advance(flight: InFlight) -> InFlight {
    match flight {
        InFlight::Head(future) => match future.get() {
            None => InFlight::Head(future),
            Some(Err(())) => InFlight::Done(Err(lost())),
            Some(Ok(Err(code))) => InFlight::Done(Err(http_error(code))),
            Some(Ok(Ok(response))) => {
                let status = response.status();
                let headers: Vec<(String, String)> = response
                    .headers()
                    .entries()
                    .into_iter()
                    .map(|(n, v)| {
                        (
                            n.to_ascii_lowercase(),
                            String::from_utf8_lossy(&v).into_owned(),
                        )
                    })
                    .collect();
                // Room for the whole body when its length is announced, so
                // that a page is not copied again each time it outgrows its
                // buffer; only up to a bound, as an announcement is not a body.
                let announced = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .and_then(|(_, value)| value.parse::<usize>().ok())
                    .unwrap_or(0);
                let Ok(body) = response.consume() else {
                    return InFlight::Done(Err(lost()));
                };
                let Ok(stream) = body.stream() else {
                    return InFlight::Done(Err(lost()));
                };
                InFlight::Body {
                    status,
                    headers,
                    stream,
                    body,
                    bytes: Vec::with_capacity(announced.min(RESERVED_BODY)),
                }
            }
        },
        InFlight::Body {
            status,
            headers,
            stream,
            body,
            mut bytes,
        } => loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => {
                    return InFlight::Body {
                        status,
                        headers,
                        stream,
                        body,
                        bytes,
                    };
                }
                Ok(chunk) => bytes.extend(chunk),
                Err(StreamError::Closed) => {
                    drop(stream);
                    return InFlight::Done(finish_body(body).map(|()| Response {
                        status,
                        headers,
                        body: bytes,
                    }));
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    let error = match wasi::http::types::http_error_code(&e) {
                        Some(code) => http_error(code),
                        None => TransportError::Network(e.to_debug_string()),
                    };
                    // The stream is the body's child: it must go first.
                    drop(stream);
                    drop(body);
                    return InFlight::Done(Err(error));
                }
            }
        },
        done @ InFlight::Done(_) => done,
    }
}

/// Waits for the body's trailers, where a failure after the last byte shows.
fn finish_body(body: IncomingBody) -> Result<(), TransportError> {
    let trailers = IncomingBody::finish(body);
    trailers.subscribe().block();
    match trailers.get() {
        Some(Ok(Err(code))) => Err(http_error(code)),
        _ => Ok(()),
    }
}

fn http_error(code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            TransportError::Denied(format!("the host refused the request: {code:?}"))
        }
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => TransportError::Timeout(format!("{code:?}")),
        other => TransportError::Network(format!("{other:?}")),
    }
}
