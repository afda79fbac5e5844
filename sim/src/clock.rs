//! Time: the population's fixed "now", and the timestamp formats the API writes.
//!
//! Every timestamp in the generated organization is an offset from [`NOW_MS`], never from the
//! wall clock, so a seed always yields byte-identical data. The wall clock is read only for
//! metadata about the live server itself (rate-limit windows, the gateway's 403 `timestamp`).

use std::time::{SystemTime, UNIX_EPOCH};

/// The population's "now": 2026-11-24T00:00:00Z, in Unix epoch milliseconds.
///
/// Activity the population calls *recent* lies 1 to 14 days before it and activity it calls
/// *stale* lies more than 200 days before it, with nothing in between. A 90-day inactivity check
/// evaluated with the real clock therefore gives the same answer as one evaluated at `NOW_MS`
/// for any run until about 2027-02-08 (76 days after it); move this constant forward (and keep
/// it on a day boundary) if the simulator is still in use after that.
pub const NOW_MS: i64 = 1_795_478_400_000;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// The civil (proleptic Gregorian) date of a day number counted from 1970-01-01, by Howard
/// Hinnant's `civil_from_days`. Formatting by hand rather than through a formatting library
/// keeps timestamps cheap: a page of 500 events writes 1,000 of them.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends `value` as exactly `width` decimal digits (zero-padded).
fn push_digits(out: &mut String, value: i64, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10_i64.pow(place)).rem_euclid(10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, then `.mmm` if `millis`, then `suffix`. Years are 1970..=9999.
fn format(ms: i64, millis: bool, suffix: &str) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    let mut out = String::with_capacity(29);
    for (separator, value, width) in [
        ("", year, 4),
        ("-", i64::from(month), 2),
        ("-", i64::from(day), 2),
        ("T", in_day / 3_600_000, 2),
        (":", in_day / 60_000 % 60, 2),
        (":", in_day / 1_000 % 60, 2),
    ] {
        out.push_str(separator);
        push_digits(&mut out, value, width);
    }
    if millis {
        out.push('.');
        push_digits(&mut out, in_day % 1_000, 3);
    }
    out.push_str(suffix);
    out
}

/// `2026-11-24T00:00:00.000Z`: the events API and v1 users API style.
pub(crate) fn iso_millis(ms: i64) -> String {
    format(ms, true, "Z")
}

/// `2026-11-24T00:00:00Z`: the v2 directory, policy, workspace and token APIs' style.
pub(crate) fn iso_seconds(ms: i64) -> String {
    format(ms, false, "Z")
}

/// `2026-11-24T00:00:00.000+0000`: an offset without a colon, as Java services write it (the
/// token APIs' dates, whose form is undocumented).
pub(crate) fn iso_basic_offset(ms: i64) -> String {
    format(ms, true, "+0000")
}

/// `2026-11-24T18:05Z`: minute precision, the gateway's `X-RateLimit-Reset` (notes §0). The
/// time is rounded up to the next minute, so the reset is never announced early.
pub(crate) fn iso_minutes(ms: i64) -> String {
    let minute = 60_000;
    let up = ms.div_euclid(minute) * minute + if ms % minute == 0 { 0 } else { minute };
    let mut text = format(up, false, "Z");
    text.replace_range(16..19, "");
    text
}

/// `2026-11-24T00:00:00.000+00:00`: the Spring gateway's error `timestamp` style.
pub(crate) fn spring_timestamp(ms: i64) -> String {
    format(ms, true, "+00:00")
}

/// The real time, for metadata about the running server only.
pub(crate) fn wall_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_forms_are_written_as_documented() {
        assert_eq!(iso_basic_offset(NOW_MS), "2026-11-24T00:00:00.000+0000");
        assert_eq!(iso_minutes(NOW_MS), "2026-11-24T00:00Z");
        assert_eq!(iso_minutes(NOW_MS + 1), "2026-11-24T00:01Z");
    }

    #[test]
    fn now_is_the_documented_day() {
        assert_eq!(iso_millis(NOW_MS), "2026-11-24T00:00:00.000Z");
        assert_eq!(NOW_MS % DAY_MS, 0);
    }

    #[test]
    fn civil_dates_are_right_across_leap_years_and_centuries() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (19_782, (2024, 2, 29)),
            (20_781, (2026, 11, 24)),
            (47_540, (2100, 2, 28)),
            (47_541, (2100, 3, 1)),
        ] {
            assert_eq!(civil_from_days(days), date, "day {days}");
        }
    }

    #[test]
    fn formats_match_the_api_styles() {
        let t = NOW_MS + 3_723_456;
        assert_eq!(iso_millis(t), "2026-11-24T01:02:03.456Z");
        assert_eq!(iso_seconds(t), "2026-11-24T01:02:03Z");
        assert_eq!(spring_timestamp(t), "2026-11-24T01:02:03.456+00:00");
    }
}
