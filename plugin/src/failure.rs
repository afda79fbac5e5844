//! Why an operation failed, as the integration reasons about it. The
//! contract's [`Error`] is what the host is told; it has no room for the
//! distinctions the collection and the diagnosis act on (a 403 that names
//! the organization's plan, a body that could not be read, a chain of pages
//! that cannot go on), so those lived in message text and status-0
//! sentinels. [`Failure`] keeps them typed, and is turned into an [`Error`]
//! only where the integration answers the host (`Integration`'s methods and
//! a warning's cause).

use std::fmt;
use std::time::Duration;

use crate::contract::{Error, FieldProblem};
use crate::pagination::BodyFault;
use crate::upstream::quote;
use crate::urls::LinkRefusal;

/// Why an operation failed. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The configuration is missing or malformed fields.
    InvalidConfig(Vec<FieldProblem>),
    /// Atlassian answered 401.
    Unauthorized(String),
    /// Atlassian answered 403 about `resource`.
    Forbidden {
        resource: String,
        refusal: Refusal,
        detail: String,
    },
    /// Atlassian answered 404.
    NotFound(String),
    /// Atlassian kept answering 429; `retry_after` is the last wait it asked for.
    RateLimited {
        retry_after: Option<Duration>,
        detail: String,
    },
    /// Atlassian answered a final error status other than those above.
    Status { status: u16, detail: String },
    /// A 2xx answer to `request` (its method and URL) whose body is not
    /// what the endpoint returns.
    Unusable { request: String, fault: BodyFault },
    /// A chain of pages that cannot go on; `chain` is its method and URL.
    ChainStopped { chain: String, stop: ChainStop },
    /// No answer: the connection failed, or the host's egress policy
    /// refused the request.
    Network(String),
    /// No answer in time.
    Timeout(String),
    /// The host refused evidence the integration emitted; passed on as is.
    Host(Error),
    /// A bug in the integration.
    Internal(String),
}

/// Why a 403 was given, which decides the operator's remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The answer names the organization's plan, which lacks this (`plan`
    /// says what is needed): nothing to change in the key.
    Plan(&'static str),
    /// The key lacks `scope`; for an endpoint a plan gates, the plan may
    /// lack it instead (`plan`).
    Scope {
        scope: String,
        plan: Option<&'static str>,
    },
    /// The endpoint is not documented for keys with scopes; for an endpoint
    /// a plan gates, the plan may lack it instead (`plan`).
    UnscopedKey { plan: Option<&'static str> },
}

impl Refusal {
    /// The scope the key lacks, as the contract's `forbidden.missing` says it.
    pub fn missing(&self) -> Option<&str> {
        match self {
            Refusal::Scope { scope, .. } => Some(scope),
            Refusal::Plan(_) | Refusal::UnscopedKey { .. } => None,
        }
    }
}

/// Why a chain of pages stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainStop {
    /// It did not end within this many pages.
    #[error("the list did not end within {0} pages")]
    TooLong(u32),
    /// The next page (shown shortened) was already announced in the chain.
    #[error("cursor repeated: the next page {0:?} was already announced in this chain")]
    CursorRepeated(String),
    /// The next link cannot be followed.
    #[error("next link refused: {0}")]
    LinkRefused(LinkRefusal),
}

impl Failure {
    /// Whether Atlassian answered, but not usefully: an error status other
    /// than 401/403/404/429, an unusable body or a chain that cannot go on
    /// (the contract's `upstream-failure`).
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            Failure::Status { .. } | Failure::Unusable { .. } | Failure::ChainStopped { .. }
        )
    }

    /// Whether the organization's plan refused it: what was refused is a
    /// control the plan does not offer, not a key to fix.
    pub fn refused_by_plan(&self) -> bool {
        matches!(
            self,
            Failure::Forbidden {
                refusal: Refusal::Plan(_),
                ..
            }
        )
    }
}

/// The contract's form. A body or chain that could not be read is an
/// `upstream-failure` with status 0, as the WIT specifies.
impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        match failure {
            Failure::InvalidConfig(problems) => Error::InvalidConfig(problems),
            Failure::Unauthorized(detail) => Error::Unauthorized(detail),
            Failure::Forbidden {
                resource,
                refusal,
                detail,
            } => Error::Forbidden {
                resource,
                missing: refusal.missing().map(str::to_owned),
                detail,
            },
            Failure::NotFound(detail) => Error::NotFound(detail),
            Failure::RateLimited {
                retry_after,
                detail,
            } => Error::RateLimited {
                retry_after_ms: retry_after
                    .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
                detail,
            },
            Failure::Status { status, detail } => Error::Upstream { status, detail },
            Failure::Unusable { request, fault } => Error::Upstream {
                status: 0,
                detail: format!(
                    "{request} answered an unusable body: {}",
                    quote(&fault.to_string())
                ),
            },
            Failure::ChainStopped { chain, stop } => Error::Upstream {
                status: 0,
                detail: format!("{chain}: {stop}"),
            },
            Failure::Network(detail) => Error::Network(detail),
            Failure::Timeout(detail) => Error::Timeout(detail),
            Failure::Host(error) => error,
            Failure::Internal(detail) => Error::Internal(detail),
        }
    }
}

/// As the contract's error reads, so that messages quoting a failure say
/// what the host would show for it.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Error::from(self.clone()).fmt(f)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_body_or_chain_is_an_upstream_failure_with_status_0() {
        let unusable = Failure::Unusable {
            request: "GET https://api.example.com/x".into(),
            fault: BodyFault::NoData,
        };
        assert_eq!(
            Error::from(unusable),
            Error::Upstream {
                status: 0,
                detail: r#"GET https://api.example.com/x answered an unusable body: no "data""#
                    .into()
            }
        );
        let stopped = Failure::ChainStopped {
            chain: "GET https://api.example.com/x".into(),
            stop: ChainStop::TooLong(2),
        };
        assert_eq!(
            Error::from(stopped),
            Error::Upstream {
                status: 0,
                detail: "GET https://api.example.com/x: the list did not end within 2 pages".into()
            }
        );
    }

    #[test]
    fn a_forbidden_names_the_missing_scope_only_for_a_scope_refusal() {
        let forbidden = |refusal| Failure::Forbidden {
            resource: "users".into(),
            refusal,
            detail: "d".into(),
        };
        let scope = forbidden(Refusal::Scope {
            scope: "read:example:admin".into(),
            plan: None,
        });
        assert!(
            matches!(Error::from(scope), Error::Forbidden { missing: Some(s), .. } if s == "read:example:admin")
        );
        for refusal in [Refusal::Plan("a plan"), Refusal::UnscopedKey { plan: None }] {
            assert!(matches!(
                Error::from(forbidden(refusal)),
                Error::Forbidden { missing: None, .. }
            ));
        }
    }

    #[test]
    fn a_rate_limit_wait_is_given_in_milliseconds() {
        let limited = Failure::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            detail: "d".into(),
        };
        assert!(matches!(
            Error::from(limited),
            Error::RateLimited {
                retry_after_ms: Some(2000),
                ..
            }
        ));
    }
}
