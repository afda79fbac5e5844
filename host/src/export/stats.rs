//! What charts show, computed from the evidence without knowing any
//! integration: per kind, the distribution of each top-level field with few
//! distinct values (an account's state, a token's status, whether 2SV is
//! on) and the age of each top-level timestamp (when a token was created or
//! last used), measured from the end of the run.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A field with more distinct values than this is an identifier or free
/// text, not a category worth a chart.
const MAX_CATEGORIES: usize = 8;

/// Age buckets, in days, with their labels.
pub const AGE_BUCKETS: &[(i64, &str)] = &[
    (30, "< 30 days"),
    (90, "30–90 days"),
    (180, "90–180 days"),
    (365, "180–365 days"),
    (i64::MAX, "> 1 year"),
];

/// Per-kind figures of a bundle's evidence.
#[derive(Debug, Default)]
pub struct Stats {
    as_of: Option<OffsetDateTime>,
    /// Figures per evidence kind.
    pub kinds: BTreeMap<String, KindStats>,
}

/// One kind's figures.
#[derive(Debug, Default)]
pub struct KindStats {
    /// Records of the kind.
    pub records: u64,
    /// Field → value → records; `None` once the field had too many values.
    pub categories: BTreeMap<String, Option<BTreeMap<String, u64>>>,
    /// Timestamp field → records per [`AGE_BUCKETS`] entry.
    pub ages: BTreeMap<String, [u64; AGE_BUCKETS.len()]>,
    /// Field → records where it was null (a token never used, one that
    /// never expires).
    pub nulls: BTreeMap<String, u64>,
}

/// An RFC 3339 timestamp, as bundles and the APIs write them.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

impl Stats {
    /// Figures whose ages are measured from `as_of` (no ages without it).
    pub fn new(as_of: Option<OffsetDateTime>) -> Stats {
        Stats {
            as_of,
            kinds: BTreeMap::new(),
        }
    }

    /// Counts one record's top-level fields.
    pub fn add(&mut self, kind: &str, data: &Value) {
        let stats = self.kinds.entry(kind.to_owned()).or_default();
        stats.records += 1;
        let Value::Object(fields) = data else {
            return;
        };
        for (name, value) in fields {
            let time = value.as_str().and_then(parse_time);
            match (time, self.as_of) {
                (Some(at), Some(now)) => {
                    let days = (now - at).whole_days();
                    let bucket = AGE_BUCKETS.iter().position(|(max, _)| days < *max);
                    let ages = stats.ages.entry(name.clone()).or_default();
                    ages[bucket.unwrap_or(AGE_BUCKETS.len() - 1)] += 1;
                }
                _ if value.is_null() => *stats.nulls.entry(name.clone()).or_default() += 1,
                _ => {
                    if let Some(category) = category(value) {
                        count(&mut stats.categories, name, category);
                    }
                }
            }
        }
    }
}

/// The category a scalar value names, if it is one.
fn category(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if parse_time(s).is_none() => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn count(
    categories: &mut BTreeMap<String, Option<BTreeMap<String, u64>>>,
    field: &str,
    value: String,
) {
    let slot = categories
        .entry(field.to_owned())
        .or_insert_with(|| Some(BTreeMap::new()));
    if let Some(values) = slot {
        *values.entry(value).or_default() += 1;
        if values.len() > MAX_CATEGORIES {
            *slot = None;
        }
    }
}

impl KindStats {
    /// The fields worth a chart: between two and `MAX_CATEGORIES` values.
    pub fn charts(&self) -> impl Iterator<Item = (&str, &BTreeMap<String, u64>)> {
        self.categories
            .iter()
            .filter_map(|(field, values)| Some((field.as_str(), values.as_ref()?)))
            .filter(|(_, values)| values.len() >= 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn categories_and_ages_are_counted_and_identifiers_dropped() {
        let now = parse_time("2026-12-01T00:00:00Z");
        let mut stats = Stats::new(now);
        for i in 0..12 {
            let status = if i % 3 == 0 { "suspended" } else { "active" };
            let created = if i < 4 {
                "2026-11-20T00:00:00Z"
            } else {
                "2024-01-01T00:00:00Z"
            };
            let used = (i < 9).then_some(created);
            stats.add(
                "acme.user",
                &json!({"id": format!("u{i}"), "status": status, "mfa": i % 2 == 0, "createdAt": created, "usedAt": used}),
            );
        }
        let user = &stats.kinds["acme.user"];
        assert_eq!(user.records, 12);
        let charts: BTreeMap<&str, &BTreeMap<String, u64>> = user.charts().collect();
        assert_eq!(charts["status"]["active"], 8);
        assert_eq!(charts["status"]["suspended"], 4);
        assert_eq!(charts["mfa"]["true"], 6);
        assert!(!charts.contains_key("id"), "twelve ids are not categories");
        assert_eq!(user.ages["createdAt"], [4, 0, 0, 0, 8]);
        assert_eq!(user.ages["usedAt"], [4, 0, 0, 0, 5]);
        assert_eq!(user.nulls["usedAt"], 3);
    }
}
