//! Carries an admitted request over the network: resolves its origin and
//! approves the addresses the pooled [`Connections`] may reach, applies a
//! developer reroute, strips the headers the host owns and injects the
//! secret headers for that origin only, bounds timeouts by the call's
//! remaining time, and holds the request's place under the cap on requests
//! in flight.

use super::{Carried, NotCarried, Refused};
use crate::connect::{Connections, Timeouts, Unanswered};
use crate::egress::{Denial, Origin, forbidden_address_class};
use crate::encoding;
use crate::grant::Grant;
use crate::ledger::Refusal;
use crate::sandbox::Limits;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// The network side of a run's outbound traffic.
pub(super) struct Carrier {
    grant: Arc<Grant>,
    limits: Limits,
    connections: Connections,
    in_flight: Arc<Semaphore>,
    /// When the current call must end.
    deadline: Mutex<Instant>,
}

impl Carrier {
    /// `roots` are certificate authorities HTTPS trusts beside the web PKI's.
    pub(super) fn new(
        grant: Arc<Grant>,
        limits: Limits,
        roots: &[CertificateDer<'static>],
    ) -> Carrier {
        let in_flight = limits.requests_in_flight.max(1);
        Carrier {
            connections: Connections::new(limits.connect_timeout, in_flight, roots),
            in_flight: Arc::new(Semaphore::new(in_flight)),
            grant,
            limits,
            deadline: Mutex::new(Instant::now() + limits.wall_per_call),
        }
    }

    pub(super) fn set_deadline(&self, deadline: Instant) {
        *self.deadline.lock().expect("deadline lock") = deadline;
    }

    fn remaining(&self) -> Duration {
        self.deadline
            .lock()
            .expect("deadline lock")
            .saturating_duration_since(Instant::now())
    }

    /// Resolves the origin a request will really reach and approves its
    /// addresses for the pool; a public origin resolving to an address the
    /// plugin must not reach is refused.
    pub(super) async fn approve(&self, origin: &Origin) -> Result<(), Refused> {
        match self.grant.reroutes.target(origin) {
            // A developer's reroute goes where it says, loopback included.
            Some(target) => {
                let addresses = self.resolve(target).await?;
                self.connections.approve(target, addresses);
            }
            None => {
                let addresses = self.resolve(origin).await?;
                refuse_forbidden(origin, &addresses)?;
                self.connections.approve(origin, addresses);
            }
        }
        Ok(())
    }

    /// The addresses `origin`'s name resolves to.
    async fn resolve(&self, origin: &Origin) -> Result<Vec<SocketAddr>, Refused> {
        let lookup = tokio::net::lookup_host((origin.host(), origin.port()));
        let addresses = tokio::time::timeout(self.limits.connect_timeout, lookup)
            .await
            .map_err(|_| {
                let detail = "DNS lookup timed out".to_owned();
                Refused::new(Refusal::Dns, HttpError::DnsTimeout, detail)
            })?
            .map_err(|e| {
                let code = HttpError::DnsError {
                    rcode: None,
                    info_code: None,
                };
                Refused::new(Refusal::Dns, code, format!("DNS lookup failed: {e}"))
            })?;
        Ok(addresses.collect())
    }

    /// Sends an approved request: rerouted if a developer asked, with the
    /// secret headers, timeouts bounded by the call's remaining time, within
    /// the cap on requests in flight.
    pub(super) async fn carry(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        origin: &Origin,
    ) -> Result<Carried, NotCarried> {
        let target = self.grant.reroutes.target(origin).cloned();
        if let Some(target) = &target {
            *request.uri_mut() = reroute(request.uri(), target);
        }
        self.inject_secrets(origin, request.headers_mut());
        let timeouts = self.timeouts(options);
        let slot = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let sent = self.connections.send(request, timeouts).await;
        let routed_to = target.map(|t| t.to_string());
        let sent = sent.and_then(|response| {
            encoding::check_response(response.headers())
                .map(|()| response)
                .map_err(|encoded| Unanswered {
                    code: HttpError::HttpResponseContentCoding(Some(encoded.coding.clone())),
                    detail: encoded.to_string(),
                })
        });
        match sent {
            Ok(response) => Ok(Carried {
                response,
                routed_to,
                slot: Some(slot),
            }),
            Err(Unanswered { code, detail }) => Err(NotCarried {
                why: Unanswered {
                    detail: self.grant.scrubber.text(&detail).into_owned(),
                    code,
                },
                routed_to,
            }),
        }
    }

    /// The plugin's timeouts, never longer than the run's read timeout or
    /// the call's remaining time. The connect timeout is the run's, in the
    /// pool's connector; the time to the response head, connecting
    /// included, is `first_byte`.
    fn timeouts(&self, options: Option<RequestOptions>) -> Timeouts {
        let remaining = self.remaining();
        let bound = |asked: Option<Duration>| {
            asked
                .unwrap_or(self.limits.read_timeout)
                .min(self.limits.read_timeout)
                .min(remaining)
        };
        Timeouts {
            first_byte: bound(options.and_then(|o| o.first_byte_timeout)),
            between_bytes: bound(options.and_then(|o| o.between_bytes_timeout)),
        }
    }

    /// Leaves the host's headers to the host and gives `origin` its secret
    /// headers, whatever the plugin set in their place.
    fn inject_secrets(&self, origin: &Origin, headers: &mut http::HeaderMap) {
        encoding::own_request(headers);
        for reserved in self.grant.reserved_headers() {
            headers.remove(reserved);
        }
        for secret in &self.grant.secret_headers {
            if &secret.origin == origin
                && let Ok(mut value) = http::HeaderValue::from_str(secret.value.expose())
            {
                value.set_sensitive(true);
                headers.insert(secret.header.clone(), value);
            }
        }
    }
}

/// Refuses a public origin whose name resolves to an address the plugin
/// must not reach (a metadata service, the LAN, this machine).
fn refuse_forbidden(origin: &Origin, addresses: &[SocketAddr]) -> Result<(), Denial> {
    for address in addresses {
        if let Some(class) = forbidden_address_class(address.ip()) {
            return Err(Denial::ForbiddenAddress {
                origin: origin.clone(),
                address: address.ip(),
                class,
            });
        }
    }
    Ok(())
}

/// The same URL on the rerouted origin.
fn reroute(uri: &http::Uri, target: &Origin) -> http::Uri {
    let scheme = match target.scheme() {
        crate::egress::Scheme::Http => "http",
        crate::egress::Scheme::Https => "https",
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{}{path}", target.authority())
        .parse()
        .expect("an origin and a valid path make a valid URI")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::Reroutes;
    use crate::outbound::tests::grant;

    fn carrier(origin: &str, reroutes: Reroutes) -> Carrier {
        Carrier::new(grant(origin, reroutes), Limits::default(), &[])
    }

    #[tokio::test]
    async fn a_declared_origin_resolving_to_loopback_is_refused() {
        let carrier = carrier("http://localhost:9", Reroutes::default());
        let origin = Origin::parse("http://localhost:9").unwrap();
        let Refused {
            kind,
            why: Unanswered { detail: why, code },
        } = carrier.approve(&origin).await.unwrap_err();
        assert_eq!(kind, Refusal::ForbiddenAddress);
        assert!(
            matches!(code, HttpError::DestinationIpProhibited),
            "{code:?}"
        );
        assert!(why.contains("loopback"), "{why}");
    }

    #[tokio::test]
    async fn a_rerouted_origin_may_reach_loopback() {
        let reroutes = Reroutes::parse(["http://localhost:9=http://127.0.0.1:9"]).unwrap();
        let carrier = carrier("http://localhost:9", reroutes);
        let origin = Origin::parse("http://localhost:9").unwrap();
        assert!(carrier.approve(&origin).await.is_ok());
    }

    #[test]
    fn secrets_go_only_to_their_origin_and_replace_the_plugins_value() {
        let carrier = carrier("https://api.example.com", Reroutes::default());
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer forged".parse().unwrap());
        carrier.inject_secrets(
            &Origin::parse("https://api.example.com").unwrap(),
            &mut headers,
        );
        assert_eq!(headers["authorization"], "Bearer k-0123456789");
        assert!(headers["authorization"].is_sensitive());

        let mut elsewhere = http::HeaderMap::new();
        elsewhere.insert("authorization", "Bearer forged".parse().unwrap());
        carrier.inject_secrets(
            &Origin::parse("https://other.example.com").unwrap(),
            &mut elsewhere,
        );
        assert!(
            elsewhere.get("authorization").is_none(),
            "stripped, not injected"
        );
    }
}
