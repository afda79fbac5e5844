//! Timestamps as the Admin APIs write them, converted to and from Unix
//! epoch milliseconds (the unit of the host clock and of the audit-log
//! `from`/`to` parameters). Reading is the SDK's
//! ([`watchdog_sdk::dates`]), which reads every ISO 8601 form the Admin
//! APIs are seen or documented to write (notes §0); token dates are
//! undocumented in form, so every one of those is read.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use watchdog_sdk::dates::parse_iso8601_ms;

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Milliseconds as RFC 3339, for messages; the raw number if out of range.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_are_formatted() {
        assert_eq!(format_ms(1250), "1970-01-01T00:00:01.25Z");
    }
}
