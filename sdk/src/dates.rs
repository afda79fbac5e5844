//! Times as APIs write them, in Unix epoch milliseconds (the unit of the
//! host clock): the ISO 8601 forms seen in the wild, and the HTTP date of
//! `Retry-After`.

use std::borrow::Cow;

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// An ISO 8601 date-time in epoch milliseconds, in any of the forms APIs
/// are seen to write: RFC 3339 (`2025-05-12T20:20:50.521Z`,
/// `2025-06-06T06:03:27.122+00:00`), minute precision
/// (`2026-12-01T18:05Z`), an offset without a colon (`+0000`), or a bare
/// date (`2025-06-01`, midnight UTC).
pub fn parse_iso8601_ms(text: &str) -> Option<i64> {
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

/// An HTTP date in epoch milliseconds, in the IMF-fixdate form
/// `Sun, 06 Nov 1994 08:49:37 GMT` that `Retry-After` may carry (RFC 9110
/// §5.6.7 requires senders to use it).
pub fn parse_http_date_ms(text: &str) -> Option<i64> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(text.trim(), format)
        .ok()
        .map(|t| to_ms(t.assume_utc()))
}

fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_iso_form_apis_write_is_read() {
        for (text, ms) in [
            ("1970-01-01T00:00:01Z", 1000),
            ("1970-01-01T00:00:01.250Z", 1250),
            ("1970-01-01T01:00:00+01:00", 0),
            ("1970-01-01T00:01Z", 60_000),
            ("1970-01-01T00:01:00.000+0000", 60_000),
            ("1970-01-01T01:01:00+0100", 60_000),
            ("1970-01-01T01:01+01:00", 60_000),
            ("1970-01-01T00:01:00.5-0000", 60_500),
            ("1970-01-02", 86_400_000),
        ] {
            assert_eq!(parse_iso8601_ms(text), Some(ms), "{text}");
        }
        for bad in [
            "",
            "<string>",
            "yesterday",
            "1970-13-01T00:00Z",
            "12/01/2026",
            "1970-01-01T25:00Z",
        ] {
            assert_eq!(parse_iso8601_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_imf_fixdate_http_dates_are_read() {
        assert_eq!(
            parse_http_date_ms("Thu, 01 Jan 1970 00:01:00 GMT"),
            Some(60_000)
        );
        assert_eq!(parse_http_date_ms("01 Jan 1970 00:01:00"), None);
    }
}
