//! The organization's admin API keys and their expiry: monitoring stops
//! the day the key WatchDog uses expires (keys last at most a year), and no
//! API tells which key is the caller's, so every key expiring soon is named.

use crate::dates::{DAY_MS, format_ms, parse_iso8601_ms};
use crate::fields;

/// Keys expiring within this many days are named in a warning.
pub const EXPIRY_NOTICE_DAYS: i64 = 30;

/// The keys read so far that expire soon, and those whose expiry could not
/// be read.
#[derive(Debug, Default)]
pub struct Expiring {
    now_ms: i64,
    soon: Vec<(String, i64)>,
    unreadable: Vec<String>,
}

impl Expiring {
    pub fn new(now_ms: i64) -> Expiring {
        Expiring {
            now_ms,
            ..Expiring::default()
        }
    }

    /// Notes one key record. The list's field names are unconfirmed: the
    /// expiry is read from `expiresAt` (as on user API tokens), else
    /// `expirationDate`; the name from `label`, else `name`, else the id.
    pub fn observe(&mut self, id: &str, record: &str) {
        let [expires, expiration, label, name] = fields::strings(
            record,
            [&["expiresAt"], &["expirationDate"], &["label"], &["name"]],
        );
        let shown = label
            .or(name)
            .map_or_else(|| id.to_owned(), |n| n.into_owned());
        match expires.or(expiration).and_then(|t| parse_iso8601_ms(&t)) {
            Some(at) if at < self.now_ms + EXPIRY_NOTICE_DAYS * DAY_MS => {
                self.soon.push((shown, at));
            }
            Some(_) => {}
            None => self.unreadable.push(shown),
        }
    }

    /// The warning to give, if any key expires soon or has no readable expiry.
    pub fn warning(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.soon.is_empty() {
            let mut soon = self.soon.clone();
            soon.sort_by_key(|(_, at)| *at);
            let named: Vec<String> = soon
                .iter()
                .map(|(name, at)| {
                    let verb = if *at <= self.now_ms {
                        "expired"
                    } else {
                        "expires"
                    };
                    format!("{name} ({verb} {})", format_ms(*at))
                })
                .collect();
            parts.push(format!(
                "{} organization API keys expire within {EXPIRY_NOTICE_DAYS} days: {}. Monitoring stops when the key WatchDog uses expires: create a new key (admin.atlassian.com → Settings → API keys) and update WatchDog before then.",
                soon.len(),
                named.join(", ")
            ));
        }
        if !self.unreadable.is_empty() {
            parts.push(format!(
                "The expiry date of {} could not be read: check it in admin.atlassian.com → Settings → API keys.",
                self.unreadable.join(", ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_892_800_000; // 2025-12-05T00:00:00Z

    #[test]
    fn keys_expiring_within_30_days_are_named_soonest_first() {
        let mut keys = Expiring::new(NOW);
        keys.observe(
            "k1",
            r#"{"id":"k1","label":"watchdog","expiresAt":"2026-06-01T00:00:00Z"}"#,
        );
        keys.observe(
            "k2",
            r#"{"id":"k2","label":"scim","expiresAt":"2025-12-20T00:00:00Z"}"#,
        );
        keys.observe(
            "k3",
            r#"{"id":"k3","name":"old","expirationDate":"2025-12-10T08:00:00+00:00"}"#,
        );
        keys.observe(
            "k4",
            r#"{"id":"k4","label":"gone","expiresAt":"2025-12-01T00:00:00Z"}"#,
        );
        let warning = keys.warning().unwrap();
        assert!(
            warning.starts_with(
                "3 organization API keys expire within 30 days: gone (expired 2025-12-01"
            ),
            "{warning}"
        );
        assert!(
            warning.find("old (expires").unwrap() < warning.find("scim (expires").unwrap(),
            "{warning}"
        );
        assert!(!warning.contains("watchdog"), "{warning}");
    }

    #[test]
    fn an_unreadable_expiry_is_said_never_taken_as_fine() {
        let mut keys = Expiring::new(NOW);
        keys.observe("k9", r#"{"id":"k9","expiresAt":"next year"}"#);
        assert_eq!(
            keys.warning().as_deref(),
            Some(
                "The expiry date of k9 could not be read: check it in admin.atlassian.com → Settings → API keys."
            )
        );
        let mut fine = Expiring::new(NOW);
        fine.observe("k1", r#"{"id":"k1","expiresAt":"2027-01-01T00:00:00Z"}"#);
        assert_eq!(fine.warning(), None);
    }
}
