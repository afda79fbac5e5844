//! Evidence to the host.
//!
//! The host accepts a record only when its `source` is a request it carried
//! in this run and its `data` is, byte for byte, a whole JSON object or
//! array value of that response's body (kinds declared derived excepted), and checks the summary's per-kind
//! counts against what it received. [`Emitter`] keeps both right: the
//! source comes from the request, and every declared kind is counted, zero
//! included.

use crate::http::Request;
use crate::lend::watchdog::integration::{host as lent_host, types as lent};
use crate::{Error, KindCount, Summary};
use std::collections::BTreeMap;

/// Emits evidence and counts it per kind.
#[derive(Debug, Default)]
pub struct Emitter {
    counts: BTreeMap<String, u64>,
}

impl Emitter {
    /// An emitter counting `kinds` (the manifest's evidence kinds), each
    /// from zero, so that a kind with no record is reported as `0`.
    pub fn new<S: Into<String>>(kinds: impl IntoIterator<Item = S>) -> Emitter {
        Emitter {
            counts: kinds.into_iter().map(|k| (k.into(), 0)).collect(),
        }
    }

    /// Emits one record of `kind` read from the answer to `request`: `data`
    /// is the record's JSON as the response body gave it.
    pub fn emit(
        &mut self,
        request: &Request,
        kind: &str,
        id: &str,
        data: &str,
    ) -> Result<(), Error> {
        self.emit_batch(request, kind, [(id, data)])
    }

    /// Emits the records of one page in one batch: `(id, data)` pairs of
    /// `kind`, all read from the answer to `request`.
    pub fn emit_batch<'a>(
        &mut self,
        request: &Request,
        kind: &str,
        records: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), Error> {
        let method = request.method.as_str();
        let batch: Vec<lent::Evidence<'_>> = records
            .into_iter()
            .map(|(id, data)| lent::Evidence {
                kind,
                id,
                source: lent::Source {
                    method,
                    url: &request.url,
                },
                data,
            })
            .collect();
        let emitted = batch.len() as u64;
        emit_lent(&batch)?;
        *self.counts.entry(kind.to_owned()).or_default() += emitted;
        Ok(())
    }

    /// The counts per kind, in kind order.
    pub fn counts(&self) -> Vec<KindCount> {
        self.counts
            .iter()
            .map(|(kind, count)| KindCount {
                kind: kind.clone(),
                count: *count,
            })
            .collect()
    }

    /// A summary with these counts and no findings, warnings or checkpoint;
    /// add those to it as needed.
    pub fn summary(&self) -> Summary {
        Summary {
            counts: self.counts(),
            findings: Vec::new(),
            warnings: Vec::new(),
            checkpoint: None,
        }
    }
}

/// Borrowed evidence, as [`emit_lent`] takes it: the same record as
/// [`crate::Evidence`] with every text lent rather than owned.
pub use lent::{Evidence as LentEvidence, Source as LentSource};

/// Hands a batch to the host's `emit` without copying its text (the
/// bindings lend it). Prefer [`Emitter`], which also counts; this is for an
/// integration keeping its own counts.
pub fn emit_lent(batch: &[LentEvidence<'_>]) -> Result<(), Error> {
    lent_host::emit(batch).map_err(owned_error)
}

/// The host's refusal, in the crate's (owned) error type: the borrowing
/// bindings have their own copy of it.
fn owned_error(error: lent::Error) -> Error {
    match error {
        lent::Error::InvalidConfig(problems) => Error::InvalidConfig(
            problems
                .into_iter()
                .map(|p| crate::FieldProblem {
                    field: p.field,
                    problem: p.problem,
                })
                .collect(),
        ),
        other => Error::Internal(format!("the host refused evidence: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_kind_is_counted_from_zero_so_the_summary_reports_an_honest_zero() {
        let summary = Emitter::new(["acme.user", "acme.member"]).summary();
        let counts: Vec<(String, u64)> = summary
            .counts
            .into_iter()
            .map(|c| (c.kind, c.count))
            .collect();
        assert_eq!(
            counts,
            [("acme.member".to_owned(), 0), ("acme.user".to_owned(), 0)]
        );
    }
}
