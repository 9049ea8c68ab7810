//! Just enough date handling for `date-format`: RFC 3339 in, a strftime-like
//! pattern (`%Y %m %d %H %M %S %%`) out, always in UTC.

use std::fmt::Write as _;

/// A calendar instant in UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// One part of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePiece<'a> {
    Literal(&'a str),
    /// `%Y`: the year, at least four digits.
    Year,
    /// `%m`: 01-12.
    Month,
    /// `%d`: 01-31.
    Day,
    /// `%H`: 00-23.
    Hour,
    /// `%M`: 00-59.
    Minute,
    /// `%S`: 00-60.
    Second,
    /// `%%`: a literal `%`.
    Percent,
}

/// Compiles a pattern; the error names the offending directive.
pub fn compile_pattern(pattern: &str) -> Result<Vec<DatePiece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut chars = pattern.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '%' {
            continue;
        }
        if literal_start < i {
            pieces.push(DatePiece::Literal(&pattern[literal_start..i]));
        }
        let piece = match chars.next() {
            Some((_, 'Y')) => DatePiece::Year,
            Some((_, 'm')) => DatePiece::Month,
            Some((_, 'd')) => DatePiece::Day,
            Some((_, 'H')) => DatePiece::Hour,
            Some((_, 'M')) => DatePiece::Minute,
            Some((_, 'S')) => DatePiece::Second,
            Some((_, '%')) => DatePiece::Percent,
            Some((_, other)) => return Err(format!("unknown directive `%{other}`")),
            None => return Err("a lone `%` at the end".to_owned()),
        };
        pieces.push(piece);
        literal_start = chars.offset();
    }
    if literal_start < pattern.len() {
        pieces.push(DatePiece::Literal(&pattern[literal_start..]));
    }
    // `YYYY-MM-DD` (another library's syntax) would copy the same text into
    // every record instead of a date.
    if !pieces
        .iter()
        .any(|p| !matches!(p, DatePiece::Literal(_) | DatePiece::Percent))
    {
        return Err(format!(
            "`{pattern}` has no date directive: use %Y %m %d %H %M %S (e.g. `%Y-%m-%d`)"
        ));
    }
    Ok(pieces)
}

/// Formats `at` with a compiled pattern.
pub fn format(at: &DateTime, pieces: &[DatePiece<'_>]) -> String {
    let mut out = String::with_capacity(24);
    for piece in pieces {
        // Writing to a String cannot fail.
        let _ = match piece {
            DatePiece::Literal(s) => {
                out.push_str(s);
                Ok(())
            }
            DatePiece::Year => write!(out, "{:04}", at.year),
            DatePiece::Month => write!(out, "{:02}", at.month),
            DatePiece::Day => write!(out, "{:02}", at.day),
            DatePiece::Hour => write!(out, "{:02}", at.hour),
            DatePiece::Minute => write!(out, "{:02}", at.minute),
            DatePiece::Second => write!(out, "{:02}", at.second),
            DatePiece::Percent => {
                out.push('%');
                Ok(())
            }
        };
    }
    out
}

/// Reads an RFC 3339 date-time (`2015-05-12T15:50:38Z`,
/// `2015-05-12T17:50:38.123+02:00`) or full-date (`2015-05-12`, read as
/// midnight UTC), converting any offset to UTC.
///
/// Lenient where it costs nothing: `t`/`z` and a space separator are
/// accepted, seconds may be left out, a missing offset means UTC, and
/// fractional seconds are dropped.
pub fn parse_rfc3339(text: &str) -> Option<DateTime> {
    let b = text.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut at = DateTime {
        year,
        month: month as u8,
        day: day as u8,
        hour: 0,
        minute: 0,
        second: 0,
    };
    if b.len() == 10 {
        return Some(at);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let mut i = 16;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = digits(b, i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset_minutes = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let (om, end) = if b.get(i + 3) == Some(&b':') {
                (digits(b, i + 4, 2)?, i + 6)
            } else {
                (digits(b, i + 3, 2)?, i + 5)
            };
            if end != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if sign == b'-' { -minutes } else { minutes }
        }
        Some(_) => return None,
    };
    at.hour = hour as u8;
    at.minute = minute as u8;
    at.second = second as u8;
    if offset_minutes != 0 {
        at = shift_minutes(&at, -offset_minutes);
    }
    Some(at)
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    let slice = b.get(start..start + len)?;
    slice.iter().try_fold(0i64, |acc, &c| {
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

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

fn shift_minutes(at: &DateTime, minutes: i64) -> DateTime {
    let total = days_from_civil(at.year, i64::from(at.month), i64::from(at.day)) * 1440
        + i64::from(at.hour) * 60
        + i64::from(at.minute)
        + minutes;
    let (year, month, day) = civil_from_days(total.div_euclid(1440));
    let in_day = total.rem_euclid(1440);
    DateTime {
        year,
        month,
        day,
        hour: (in_day / 60) as u8,
        minute: (in_day % 60) as u8,
        second: at.second,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str, pattern: &str) -> Option<String> {
        let pieces = compile_pattern(pattern).ok()?;
        parse_rfc3339(text).map(|at| format(&at, &pieces))
    }

    #[test]
    fn formats_all_directives() {
        assert_eq!(
            fmt("2015-05-12T15:50:38Z", "%Y-%m-%d %H:%M:%S 100%%").as_deref(),
            Some("2015-05-12 15:50:38 100%")
        );
        assert_eq!(
            fmt("2015-05-12T15:50:38Z", "%d/%m/%Y").as_deref(),
            Some("12/05/2015")
        );
        // A pattern with no directive is refused (see below), not copied.
        assert_eq!(fmt("2015-05-12T15:50:38Z", "no directives, é"), None);
    }

    #[test]
    fn reads_rfc3339_variants() {
        let iso = "%Y-%m-%dT%H:%M:%SZ";
        assert_eq!(
            fmt("2015-05-12t15:50:38.123456z", iso).as_deref(),
            Some("2015-05-12T15:50:38Z")
        );
        assert_eq!(
            fmt("2015-05-12 15:50", iso).as_deref(),
            Some("2015-05-12T15:50:00Z")
        );
        assert_eq!(
            fmt("2015-05-12", iso).as_deref(),
            Some("2015-05-12T00:00:00Z")
        );
        // Offsets convert to UTC, across day, month and year boundaries.
        assert_eq!(
            fmt("2016-01-01T01:30:00+02:00", iso).as_deref(),
            Some("2015-12-31T23:30:00Z")
        );
        assert_eq!(
            fmt("2016-02-28T22:00:00-0330", iso).as_deref(),
            Some("2016-02-29T01:30:00Z")
        );
        assert_eq!(
            fmt("2000-02-29T00:00:00+00:00", iso).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
    }

    #[test]
    fn rejects_non_dates() {
        for bad in [
            "",
            "yesterday",
            "2015-13-01",
            "2015-02-29",
            "1900-02-29T00:00:00Z",
            "2015-05-12T24:00:00Z",
            "2015-05-12T15:60:00Z",
            "2015-05-12T15:50:38Zjunk",
            "2015-05-12T15:50:38+25:00",
            "2015-05-12T15:50:38.Z",
            "2015/05/12",
            "15:50:38",
            "２０１５-05-12",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        // A missing offset is read as UTC.
        assert!(parse_rfc3339("2015-05-12T15:50:38").is_some());
    }

    #[test]
    fn pattern_errors_name_the_directive() {
        assert_eq!(
            compile_pattern("YYYY-MM-DD"),
            Err(
                "`YYYY-MM-DD` has no date directive: use %Y %m %d %H %M %S (e.g. `%Y-%m-%d`)"
                    .to_owned()
            )
        );
        assert_eq!(
            compile_pattern("%Y-%q"),
            Err("unknown directive `%q`".to_owned())
        );
        assert_eq!(
            compile_pattern("%Y%"),
            Err("a lone `%` at the end".to_owned())
        );
        assert_eq!(
            compile_pattern("%é"),
            Err("unknown directive `%é`".to_owned())
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }
}
