//! Timestamps as the Admin APIs and HTTP write them, converted to and from
//! Unix epoch milliseconds (the unit of the host clock and of the audit-log
//! `from`/`to` parameters).

use std::borrow::Cow;

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// An ISO 8601 date-time in any of the forms the Admin APIs are seen or
/// documented to write (notes §0): RFC 3339 (`2025-05-12T20:20:50.521Z`,
/// `2025-06-06T06:03:27.122+00:00`), minute precision
/// (`2026-12-01T18:05Z`, the gateway's `X-RateLimit-Reset`), an offset
/// without a colon (`+0000`), or a bare date (`2025-06-01`, midnight UTC).
/// Token dates are undocumented in form, so every one of these is read.
pub fn parse_iso_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(to_ms(t));
    }
    let text = colon_in_offset(text);
    OffsetDateTime::parse(&text, &Iso8601::PARSING)
        .ok()
        .or_else(|| {
            Date::parse(&text, &Iso8601::PARSING)
                .ok()
                .map(|d| d.midnight().assume_utc())
        })
        .map(to_ms)
}

/// `…+0000` as `…+00:00`, so that an extended-format date-time with a
/// basic-format offset (a mix ISO 8601 does not allow but servers write)
/// reads as one format.
fn colon_in_offset(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let basic_offset = n > 5
        && matches!(bytes[n - 5], b'+' | b'-')
        && bytes[n - 4..].iter().all(u8::is_ascii_digit)
        && text.contains('T');
    if basic_offset {
        Cow::Owned(format!("{}:{}", &text[..n - 2], &text[n - 2..]))
    } else {
        Cow::Borrowed(text)
    }
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
    fn every_iso_form_the_admin_apis_write_is_read() {
        for (text, ms) in [
            ("1970-01-01T00:01Z", 60_000),
            ("1970-01-01T00:01:00Z", 60_000),
            ("1970-01-01T00:01:00.000+0000", 60_000),
            ("1970-01-01T01:01:00+0100", 60_000),
            ("1970-01-01T01:01+01:00", 60_000),
            ("1970-01-01T00:01:00.5-0000", 60_500),
            ("1970-01-02", DAY_MS),
        ] {
            assert_eq!(parse_iso_ms(text), Some(ms), "{text}");
        }
        for bad in [
            "",
            "<string>",
            "1970-13-01T00:00Z",
            "12/01/2026",
            "1970-01-01T25:00Z",
        ] {
            assert_eq!(parse_iso_ms(bad), None, "{bad}");
        }
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
