//! Injected faults: the `--fault SPEC` grammar ([`Fault`]) and the per-request decisions it
//! drives ([`FaultEngine`]).
//!
//! Faults are deterministic: each counts the requests whose path it matches and fires on
//! fixed positions in that count, never on a random draw or the clock, so a test that makes
//! the same requests in the same order sees the same faults.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

/// One injected fault, parsed from a `--fault` SPEC.
///
/// ```text
/// SPEC    = KIND [ ":" OPTION *( "," OPTION ) ]
/// OPTION  = NAME "=" VALUE | FLAG
///
/// KIND            kind-specific options         effect when it fires
/// 429             retry-after=SECS (default 1)  429 errors[] body, X-RateLimit-Remaining 0,
///                 no-retry-after                X-RateLimit-Reset = now + SECS; Retry-After
///                                               too unless no-retry-after
/// 500|502|503|504                               that status, errors[] body
/// forbid                                        the gateway's Spring-style 403
/// reset                                         connection closed without a response
/// stall                                         headers and half the body, then nothing
/// slow-body       ms=MS (default 200),          the body in CHUNKS pieces, MS apart
///                 chunks=N (default 4)
/// malformed                                     the body cut in half (invalid JSON)
/// repeat-cursor                                 the next link repeats this page's cursor
/// latency         ms=MS (required)              MS more delay before responding
/// links           origin=request|URL            v1/events next links on another origin:
///                                               the request's Host, or URL
///
/// Options every kind takes:
///   path=SUBSTRING  only requests whose path contains SUBSTRING (default: all)
///   every=N         fire on the N-th matching request, the 2N-th, …   (default 1)
///   burst=B         and on the B-1 matching requests after each      (default 1, B <= N)
///   count=C         fire at most C times in all                      (default unlimited)
/// ```
///
/// Examples: `429:every=7,burst=3,retry-after=2`, `503:path=/users,count=1`,
/// `reset:every=9`, `slow-body:every=4,ms=200`, `malformed:path=/domains,count=1`,
/// `links:origin=request`. Several faults may be given; when more than one that replaces the
/// response fires on a request, the first given wins (likewise for body effects), while
/// latencies add up. `count` here caps the total number of firings; bursts are `burst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests`.
    RateLimited {
        retry_after_secs: u64,
        /// Whether `Retry-After` is sent; without it only `X-RateLimit-Reset` tells when.
        send_retry_after: bool,
        trigger: Trigger,
    },
    /// A 5xx from the API.
    ServerError { status: u16, trigger: Trigger },
    /// A Spring-style 403, as for a key lacking a scope.
    Forbid { trigger: Trigger },
    /// The connection is closed without a response.
    Reset { trigger: Trigger },
    /// Headers and half of the body are sent; the rest never comes.
    Stall { trigger: Trigger },
    /// The body is sent in `chunks` pieces `chunk_delay` apart.
    SlowBody {
        chunk_delay: Duration,
        chunks: usize,
        trigger: Trigger,
    },
    /// The body is truncated to half its length.
    Malformed { trigger: Trigger },
    /// `links.next` (or `meta.next`) names the page just served, so following it never ends.
    RepeatCursor { trigger: Trigger },
    /// Extra delay before the response.
    Latency { delay: Duration, trigger: Trigger },
    /// Pagination links that are full URLs use another origin than the public API's.
    Links {
        origin: LinkOrigin,
        trigger: Trigger,
    },
}

/// Which requests a fault fires on (see the grammar on [`Fault`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub path: Option<String>,
    pub every: u64,
    pub burst: u64,
    pub count: Option<u64>,
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger {
            path: None,
            every: 1,
            burst: 1,
            count: None,
        }
    }
}

/// The origin pagination links are built on under a `links` fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOrigin {
    /// `http://{Host header}`: the simulator's own address as the client reached it.
    Request,
    /// A fixed origin such as `https://other.example.net`, to test same-origin guards.
    Fixed(String),
}

/// Why a SPEC did not parse; names the SPEC and the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault `{spec}`: {problem}")]
pub struct FaultParseError {
    spec: String,
    problem: String,
}

impl Fault {
    pub fn trigger(&self) -> &Trigger {
        match self {
            Fault::RateLimited { trigger, .. }
            | Fault::ServerError { trigger, .. }
            | Fault::Forbid { trigger }
            | Fault::Reset { trigger }
            | Fault::Stall { trigger }
            | Fault::SlowBody { trigger, .. }
            | Fault::Malformed { trigger }
            | Fault::RepeatCursor { trigger }
            | Fault::Latency { trigger, .. }
            | Fault::Links { trigger, .. } => trigger,
        }
    }
}

/// The options of one SPEC, consumed as they are interpreted.
struct Options<'a> {
    kind: &'a str,
    given: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Options<'a> {
    fn parse(kind: &'a str, text: &'a str) -> Result<Options<'a>, String> {
        let mut given: Vec<(&str, Option<&str>)> = Vec::new();
        for option in text.split(',').filter(|o| !o.is_empty()) {
            let (name, value) = match option.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (option, None),
            };
            if given.iter().any(|(n, _)| *n == name) {
                return Err(format!("option `{name}` is given twice"));
            }
            given.push((name, value));
        }
        Ok(Options { kind, given })
    }

    fn take(&mut self, name: &str) -> Option<Option<&'a str>> {
        let at = self.given.iter().position(|(n, _)| *n == name)?;
        Some(self.given.remove(at).1)
    }

    fn value(&mut self, name: &str) -> Result<Option<&'a str>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(Some(value)) if !value.is_empty() => Ok(Some(value)),
            Some(_) => Err(format!("option `{name}` needs a value (`{name}=…`)")),
        }
    }

    fn number(&mut self, name: &str) -> Result<Option<u64>, String> {
        self.value(name)?
            .map(|v| match v.parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("`{name}={v}` is not a positive whole number")),
            })
            .transpose()
    }

    fn flag(&mut self, name: &str) -> Result<bool, String> {
        match self.take(name) {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(_)) => Err(format!("option `{name}` takes no value")),
        }
    }

    fn trigger(&mut self) -> Result<Trigger, String> {
        let defaults = Trigger::default();
        let trigger = Trigger {
            path: self.value("path")?.map(str::to_owned),
            every: self.number("every")?.unwrap_or(defaults.every),
            burst: self.number("burst")?.unwrap_or(defaults.burst),
            count: self.number("count")?,
        };
        if trigger.burst > trigger.every {
            return Err(format!(
                "`burst={}` must not exceed `every={}`",
                trigger.burst, trigger.every
            ));
        }
        Ok(trigger)
    }

    /// Fails on any option left over, listing what this kind accepts.
    fn finish(self, specific: &[&str]) -> Result<(), String> {
        match self.given.first() {
            None => Ok(()),
            Some((name, _)) => {
                let mut accepted = vec!["path", "every", "burst", "count"];
                accepted.extend_from_slice(specific);
                Err(format!(
                    "unknown option `{name}` for `{}` (accepted: {})",
                    self.kind,
                    accepted.join(", ")
                ))
            }
        }
    }
}

const KINDS: &str = "429, 500, 502, 503, 504, forbid, reset, stall, slow-body, malformed, repeat-cursor, latency, links";

fn parse_fault(spec: &str) -> Result<Fault, String> {
    let (kind, text) = spec.split_once(':').unwrap_or((spec, ""));
    let mut options = Options::parse(kind, text)?;
    let trigger = options.trigger()?;
    let (fault, specific): (Fault, &[&str]) = match kind {
        "429" => (
            Fault::RateLimited {
                retry_after_secs: options.number("retry-after")?.unwrap_or(1),
                send_retry_after: !options.flag("no-retry-after")?,
                trigger,
            },
            &["retry-after", "no-retry-after"],
        ),
        "500" | "502" | "503" | "504" => (
            Fault::ServerError {
                status: kind.parse().expect("matched a number"),
                trigger,
            },
            &[],
        ),
        "forbid" => (Fault::Forbid { trigger }, &[]),
        "reset" => (Fault::Reset { trigger }, &[]),
        "stall" => (Fault::Stall { trigger }, &[]),
        "malformed" => (Fault::Malformed { trigger }, &[]),
        "repeat-cursor" => (Fault::RepeatCursor { trigger }, &[]),
        "slow-body" => (
            Fault::SlowBody {
                chunk_delay: Duration::from_millis(options.number("ms")?.unwrap_or(200)),
                chunks: usize::try_from(options.number("chunks")?.unwrap_or(4))
                    .map_err(|_| "`chunks` is too large".to_owned())?,
                trigger,
            },
            &["ms", "chunks"],
        ),
        "latency" => (
            Fault::Latency {
                delay: Duration::from_millis(
                    options
                        .number("ms")?
                        .ok_or("`latency` needs `ms=MILLISECONDS`")?,
                ),
                trigger,
            },
            &["ms"],
        ),
        "links" => (
            Fault::Links {
                origin: link_origin(options.value("origin")?.ok_or(
                    "`links` needs `origin=request` or `origin=URL` (e.g. https://other.example.net)",
                )?)?,
                trigger,
            },
            &["origin"],
        ),
        "" => return Err(format!("no fault kind given (one of: {KINDS})")),
        other => return Err(format!("unknown fault kind `{other}` (one of: {KINDS})")),
    };
    options.finish(specific)?;
    Ok(fault)
}

fn link_origin(value: &str) -> Result<LinkOrigin, String> {
    if value == "request" {
        return Ok(LinkOrigin::Request);
    }
    let url = url::Url::parse(value).map_err(|e| format!("`origin={value}`: {e}"))?;
    let origin = url.origin();
    if !matches!(url.scheme(), "http" | "https") || !origin.is_tuple() || url.path() != "/" {
        return Err(format!(
            "`origin={value}` must be `request` or an http(s) origin without a path"
        ));
    }
    Ok(LinkOrigin::Fixed(origin.ascii_serialization()))
}

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(spec: &str) -> Result<Fault, FaultParseError> {
        parse_fault(spec).map_err(|problem| FaultParseError {
            spec: spec.to_owned(),
            problem,
        })
    }
}

/// What replaces the response when a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replacement {
    RateLimited {
        retry_after_secs: u64,
        send_retry_after: bool,
    },
    ServerError(StatusCode),
    Forbid,
    Reset,
}

/// How the body of the real response is delivered when a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEffect {
    Stall,
    Slow {
        chunk_delay: Duration,
        chunks: usize,
    },
    Malformed,
}

/// The faults' combined decision for one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub delay: Duration,
    pub replacement: Option<Replacement>,
    pub body: Option<BodyEffect>,
    pub repeat_cursor: bool,
    pub link_origin: Option<LinkOrigin>,
}

/// A fault and its counters.
struct Armed {
    fault: Fault,
    /// Matching requests seen.
    seen: AtomicU64,
    /// Times fired.
    fired: AtomicU64,
}

impl Armed {
    /// Counts a matching request and says whether the fault fires on it.
    fn fires(&self, path: &str) -> bool {
        let trigger = self.fault.trigger();
        if trigger.path.as_deref().is_some_and(|p| !path.contains(p)) {
            return false;
        }
        let m = self.seen.fetch_add(1, Ordering::AcqRel) + 1;
        if m < trigger.every || (m - trigger.every) % trigger.every >= trigger.burst {
            return false;
        }
        let cap = trigger.count.unwrap_or(u64::MAX);
        self.fired
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                (f < cap).then_some(f + 1)
            })
            .is_ok()
    }
}

/// The configured faults, armed.
pub(crate) struct FaultEngine {
    armed: Vec<Armed>,
}

impl FaultEngine {
    pub(crate) fn new(faults: Vec<Fault>) -> FaultEngine {
        FaultEngine {
            armed: faults
                .into_iter()
                .map(|fault| Armed {
                    fault,
                    seen: AtomicU64::new(0),
                    fired: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// Decides what the faults do to a request for `path`. Every fault counts the request.
    pub(crate) fn plan(&self, path: &str) -> Plan {
        let mut plan = Plan::default();
        for armed in self.armed.iter().filter(|a| a.fires(path)) {
            let replacement = match &armed.fault {
                Fault::RateLimited {
                    retry_after_secs,
                    send_retry_after,
                    ..
                } => Some(Replacement::RateLimited {
                    retry_after_secs: *retry_after_secs,
                    send_retry_after: *send_retry_after,
                }),
                Fault::ServerError { status, .. } => Some(Replacement::ServerError(
                    StatusCode::from_u16(*status).expect("parsed from a known status"),
                )),
                Fault::Forbid { .. } => Some(Replacement::Forbid),
                Fault::Reset { .. } => Some(Replacement::Reset),
                _ => None,
            };
            let body = match &armed.fault {
                Fault::Stall { .. } => Some(BodyEffect::Stall),
                Fault::SlowBody {
                    chunk_delay,
                    chunks,
                    ..
                } => Some(BodyEffect::Slow {
                    chunk_delay: *chunk_delay,
                    chunks: *chunks,
                }),
                Fault::Malformed { .. } => Some(BodyEffect::Malformed),
                _ => None,
            };
            plan.replacement = plan.replacement.or(replacement);
            plan.body = plan.body.or(body);
            match &armed.fault {
                Fault::Latency { delay, .. } => plan.delay += *delay,
                Fault::RepeatCursor { .. } => plan.repeat_cursor = true,
                Fault::Links { origin, .. } => {
                    plan.link_origin.get_or_insert_with(|| origin.clone());
                }
                _ => {}
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(spec: &str) -> String {
        spec.parse::<Fault>().unwrap_err().to_string()
    }

    #[test]
    fn parses_every_kind_with_defaults() {
        assert_eq!(
            "429:every=7,burst=3".parse(),
            Ok(Fault::RateLimited {
                retry_after_secs: 1,
                send_retry_after: true,
                trigger: Trigger {
                    every: 7,
                    burst: 3,
                    ..Trigger::default()
                }
            })
        );
        assert_eq!(
            "429:no-retry-after,retry-after=5".parse::<Fault>(),
            Ok(Fault::RateLimited {
                retry_after_secs: 5,
                send_retry_after: false,
                trigger: Trigger::default()
            })
        );
        assert_eq!(
            "503:path=/users,count=1".parse(),
            Ok(Fault::ServerError {
                status: 503,
                trigger: Trigger {
                    path: Some("/users".into()),
                    count: Some(1),
                    ..Trigger::default()
                }
            })
        );
        assert_eq!(
            "slow-body:every=4,ms=50".parse::<Fault>().map(|f| matches!(
                f,
                Fault::SlowBody { chunk_delay, chunks: 4, .. } if chunk_delay == Duration::from_millis(50)
            )),
            Ok(true)
        );
        assert_eq!(
            "links:origin=https://other.example.net".parse::<Fault>(),
            Ok(Fault::Links {
                origin: LinkOrigin::Fixed("https://other.example.net".into()),
                trigger: Trigger::default()
            })
        );
        for spec in [
            "500",
            "502",
            "504",
            "forbid:path=/events",
            "reset:every=9",
            "stall",
            "malformed:path=/domains,count=1",
            "repeat-cursor:path=/users",
            "latency:ms=50",
            "links:origin=request",
        ] {
            assert!(spec.parse::<Fault>().is_ok(), "{spec}");
        }
    }

    #[test]
    fn parse_errors_name_the_bad_part() {
        assert_eq!(
            error("429:evry=7"),
            "invalid fault `429:evry=7`: unknown option `evry` for `429` (accepted: path, every, \
             burst, count, retry-after, no-retry-after)"
        );
        assert!(error("418").contains("unknown fault kind `418`"));
        assert!(error("").contains("no fault kind given"));
        assert!(error("500:every=0").contains("`every=0` is not a positive whole number"));
        assert!(error("500:every=x").contains("`every=x`"));
        assert!(error("500:every=2,burst=3").contains("must not exceed"));
        assert!(error("500:count=1,count=2").contains("given twice"));
        assert!(error("latency").contains("needs `ms="));
        assert!(error("429:no-retry-after=1").contains("takes no value"));
        assert!(error("reset:path").contains("needs a value"));
        assert!(error("links:origin=ftp://x.example.net").contains("http(s) origin"));
        assert!(error("links:origin=https://x.example.net/a").contains("without a path"));
    }

    #[test]
    fn every_and_burst_fire_on_fixed_positions_up_to_count() {
        let engine = FaultEngine::new(vec!["500:every=3,burst=2,count=3".parse().unwrap()]);
        let fired: Vec<bool> = (0..10)
            .map(|_| engine.plan("/x").replacement.is_some())
            .collect();
        assert_eq!(
            fired,
            [
                false, false, true, true, false, true, false, false, false, false
            ]
        );
    }

    #[test]
    fn path_scopes_the_count_and_first_fault_wins() {
        let engine = FaultEngine::new(vec![
            "503:path=/users,every=2".parse().unwrap(),
            "500".parse().unwrap(),
            "latency:ms=5".parse().unwrap(),
            "latency:ms=7,path=/users".parse().unwrap(),
        ]);
        let other = engine.plan("/domains");
        assert_eq!(
            other.replacement,
            Some(Replacement::ServerError(StatusCode::INTERNAL_SERVER_ERROR))
        );
        assert_eq!(other.delay, Duration::from_millis(5));
        assert_eq!(
            engine.plan("/users").replacement,
            Some(Replacement::ServerError(StatusCode::INTERNAL_SERVER_ERROR))
        );
        let second = engine.plan("/users");
        assert_eq!(
            second.replacement,
            Some(Replacement::ServerError(StatusCode::SERVICE_UNAVAILABLE))
        );
        assert_eq!(second.delay, Duration::from_millis(12));
    }
}
