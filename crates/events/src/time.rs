//! Timestamps as producers send them.
//!
//! evbench writes integer epoch milliseconds. Other producers (the study's Python generator among
//! them) may send epoch seconds, integer or fractional, or `YYYY-MM-DD HH:MM:SS` / RFC 3339 strings;
//! all are read here into epoch milliseconds (UTC).

use crate::{Error, Result};

/// Integers below this are epoch seconds, above it epoch milliseconds: 10^11 s is the year 5138,
/// 10^11 ms is March 1973, so no timestamp this platform will see is ambiguous.
const SECONDS_LIMIT: i64 = 100_000_000_000;

/// An integer timestamp, in epoch seconds or milliseconds, as epoch milliseconds.
pub fn from_integer(value: i64) -> Result<i64> {
    if value < 0 {
        return Err(Error::Timestamp(format!("negative epoch {value}")));
    }
    if value < SECONDS_LIMIT {
        Ok(value * 1000)
    } else {
        Ok(value)
    }
}

/// A fractional timestamp: epoch seconds (milliseconds when it is beyond the seconds range).
pub fn from_float(value: f64) -> Result<i64> {
    if !value.is_finite() || value < 0.0 {
        return Err(Error::Timestamp(format!("not a usable epoch: {value}")));
    }
    if value < SECONDS_LIMIT as f64 {
        Ok((value * 1000.0).round() as i64)
    } else if value < 9.0e15 {
        Ok(value.round() as i64)
    } else {
        Err(Error::Timestamp(format!("epoch out of range: {value}")))
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` (UTC) or RFC 3339 (`T` separator, `Z` or `±HH:MM` offset).
pub fn from_text(text: &str) -> Result<i64> {
    parse_text(text.trim()).ok_or_else(|| Error::Timestamp(format!("unreadable date {text:?}")))
}

fn parse_text(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T' | b't') {
        // A number sent as a string ("1700000000") is still a timestamp.
        return s.parse::<i64>().ok().and_then(|v| from_integer(v).ok());
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, c) in tail[..n.min(3)].iter().enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &tail[n..];
    }
    let offset_minutes = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let minutes = digits(&[*h1, *h2])? * 60 + digits(&[*m1, *m2])?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM:SS.mmm` (UTC), for people and for ClickHouse.
pub fn format_utc(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms_of_day = epoch_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{ms:03}")
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_forms() {
        assert_eq!(from_integer(1_700_000_000).unwrap(), 1_700_000_000_000);
        assert_eq!(from_integer(1_700_000_000_123).unwrap(), 1_700_000_000_123);
        assert!(from_integer(-1).is_err());
    }

    #[test]
    fn float_forms() {
        assert_eq!(from_float(1_700_000_000.25).unwrap(), 1_700_000_000_250);
        assert!(from_float(f64::NAN).is_err());
    }

    #[test]
    fn text_forms() {
        assert_eq!(from_text("1970-01-01 00:00:00").unwrap(), 0);
        assert_eq!(from_text("2023-11-14 22:13:20").unwrap(), 1_700_000_000_000);
        assert_eq!(
            from_text("2023-11-14T22:13:20.5Z").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(
            from_text("2023-11-15T00:13:20+02:00").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(from_text("1700000000").unwrap(), 1_700_000_000_000);
        assert!(from_text("2023-02-29 00:00:00").is_err());
        assert!(from_text("2023-11-14 25:00:00").is_err());
        assert!(from_text("yesterday").is_err());
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [0, 1_700_000_000_123, 951_782_400_000 /* 2000-02-29 */] {
            assert_eq!(from_text(&format_utc(ms)).unwrap(), ms);
        }
    }
}
