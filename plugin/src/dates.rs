//! Timestamps as the Admin APIs and HTTP write them, converted to and from
//! Unix epoch milliseconds (the unit of the host clock and of the audit-log
//! `from`/`to` parameters).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// An ISO 8601 / RFC 3339 date-time such as `2025-05-12T20:20:50.521Z` or
/// `2025-06-06T06:03:27.122+00:00` (user activity, token dates,
/// `X-RateLimit-Reset`).
pub fn parse_iso_ms(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok().map(to_ms)
}

/// An HTTP date in the IMF-fixdate form `Sun, 06 Nov 1994 08:49:37 GMT`, the
/// one `Retry-After` may carry (RFC 9110 §5.6.7 requires senders to use it).
pub fn parse_http_date_ms(text: &str) -> Option<i64> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(text.trim(), format)
        .ok()
        .map(|t| to_ms(t.assume_utc()))
}

/// Milliseconds as RFC 3339, for messages; the raw number if out of range.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms_of_the_api_are_read() {
        assert_eq!(parse_iso_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_iso_ms("1970-01-01T00:00:01.250Z"), Some(1250));
        assert_eq!(parse_iso_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_iso_ms("yesterday"), None);
    }

    #[test]
    fn http_dates_are_read() {
        assert_eq!(
            parse_http_date_ms("Thu, 01 Jan 1970 00:01:00 GMT"),
            Some(60_000)
        );
        assert_eq!(parse_http_date_ms("01 Jan 1970 00:01:00"), None);
    }

    #[test]
    fn millis_are_formatted() {
        assert_eq!(format_ms(1250), "1970-01-01T00:00:01.25Z");
    }
}
