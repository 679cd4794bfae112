//! Time as the core counts it (epoch milliseconds) and as Postgres and the provider write it
//! (ISO-8601 text), plus the conversions every SQL transition needs.
//!
//! The core reads no clock: the shell passes `now_ms` in. PostgREST returns `timestamptz`
//! columns as `2026-11-30T04:15:10.123456+00:00`; RPC arguments accept the same text, which
//! [`format_iso8601`] writes.

/// `now_ms` plus `wait_ms`, saturating instead of overflowing.
pub fn after(now_ms: i64, wait_ms: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(wait_ms).unwrap_or(i64::MAX))
}

/// Whole seconds from `now_ms` until `until_ms`, rounded up, never negative: the
/// `p_delay_seconds` every SQL transition takes.
pub fn delay_seconds(until_ms: i64, now_ms: i64) -> i32 {
    let wait_ms = until_ms.saturating_sub(now_ms).max(0).unsigned_abs();
    i32::try_from(wait_ms.div_ceil(1000)).unwrap_or(i32::MAX)
}

/// Epoch ms as `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC), the form a `timestamptz` argument accepts.
pub fn format_iso8601(ms: i64) -> String {
    let (days, day_ms) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let seconds = day_ms / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        day_ms % 1000
    )
}

/// The date of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|±HH[:MM]]` (no zone means UTC) to epoch ms.
pub fn parse_iso8601_ms(text: &str) -> Option<i64> {
    let s = text.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(s, 0, 4)?, digits(s, 5, 7)?, digits(s, 8, 10)?);
    let (hour, minute, second) = (digits(s, 11, 13)?, digits(s, 14, 16)?, digits(s, 17, 19)?);
    let in_range = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60; // 60: a leap second
    if !in_range {
        return None;
    }
    let (millis, zone) = fraction(&s[19..])?;
    let offset_minutes = zone_offset_minutes(zone)?;
    let days = days_from_civil(year, month, day);
    let seconds = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60 + second;
    Some(seconds * 1000 + millis)
}

fn digits(s: &str, from: usize, to: usize) -> Option<i64> {
    let part = s.get(from..to)?;
    if !part.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Splits `.123Z` into milliseconds and the zone suffix.
fn fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(after_dot) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    let padded = format!("{:0<3}", &after_dot[..len.min(3)]);
    Some((padded.parse().ok()?, &after_dot[len..]))
}

fn zone_offset_minutes(zone: &str) -> Option<i64> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = zone[1..].replace(':', "");
    let (hours, minutes) = match body.len() {
        2 => (digits(&body, 0, 2)?, 0),
        4 => (digits(&body, 0, 2)?, digits(&body, 2, 4)?),
        _ => return None,
    };
    Some(sign * (hours * 60 + minutes))
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        for ms in [
            0,
            1_700_000_000_123,
            951_782_400_000,
            -86_400_000,
            4_102_444_799_999,
        ] {
            assert_eq!(parse_iso8601_ms(&format_iso8601(ms)), Some(ms), "{ms}");
        }
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn reads_postgrest_timestamps() {
        assert_eq!(
            parse_iso8601_ms("2023-11-14T22:13:20.123456+00:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_iso8601_ms("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000_000)
        );
    }

    #[test]
    fn delays_round_up_and_never_go_negative() {
        assert_eq!(delay_seconds(1_001, 0), 2);
        assert_eq!(delay_seconds(1_000, 0), 1);
        assert_eq!(delay_seconds(0, 5_000), 0);
        assert_eq!(after(i64::MAX - 1, 10), i64::MAX);
    }
}
