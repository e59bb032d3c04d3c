//! STIX timestamps: RFC 3339 in UTC with a literal `Z`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a STIX timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text does not have the shape `YYYY-MM-DDTHH:MM:SS[.s+]Z`.
    #[error("not an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.fraction]Z`: {0:?}")]
    Syntax(String),
    /// A field is out of range (month 13, February 30, hour 24, ...).
    #[error("timestamp field out of range: {0:?}")]
    Range(String),
}

/// A STIX timestamp: RFC 3339 in UTC with `Z`, any sub-second precision kept for display.
///
/// Equality, ordering and hashing go by the instant (to the nanosecond), so
/// `2016-01-01T00:00:00Z` equals `2016-01-01T00:00:00.000Z`; the text is kept as
/// received so that objects round-trip byte-faithfully.
#[derive(Clone)]
pub struct Timestamp {
    text: String,
    nanos: i128,
    /// Number of fractional-second digits given (0 if none).
    precision: u8,
}

impl Timestamp {
    /// Parses a STIX timestamp (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`, UTC only).
    pub fn parse(s: &str) -> Result<Timestamp, TimestampError> {
        let syntax = || TimestampError::Syntax(crate::error::cut(s));
        let range = || TimestampError::Range(crate::error::cut(s));
        let b = s.as_bytes();
        if b.len() < 20 || b[b.len() - 1] != b'Z' {
            return Err(syntax());
        }
        let digits = |from: usize, len: usize| decimal(b, from, len).ok_or_else(syntax);
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(syntax());
        }
        let year = digits(0, 4)?;
        let month = digits(5, 2)?;
        let day = digits(8, 2)?;
        let hour = digits(11, 2)?;
        let minute = digits(14, 2)?;
        let second = digits(17, 2)?;
        let rest = &b[19..b.len() - 1];
        let (frac_nanos, precision) = match rest {
            [] => (0u32, 0u8),
            [b'.', frac @ ..] if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {
                let mut n = 0u32;
                for i in 0..9 {
                    n = n * 10 + frac.get(i).map_or(0, |&c| u32::from(c - b'0'));
                }
                (n, u8::try_from(frac.len()).unwrap_or(u8::MAX))
            }
            _ => return Err(syntax()),
        };
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(i64::from(year), month)
            || hour > 23
            || minute > 59
            // 60 is allowed for a leap second, as RFC 3339 and the STIX schemas do.
            || second > 60
        {
            return Err(range());
        }
        let days = days_from_civil(i64::from(year), month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        let nanos = i128::from(secs) * 1_000_000_000 + i128::from(frac_nanos);
        Ok(Timestamp {
            text: s.to_owned(),
            nanos,
            precision,
        })
    }

    /// The timestamp as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Nanoseconds since the Unix epoch (digits beyond nanoseconds are truncated).
    pub fn unix_nanos(&self) -> i128 {
        self.nanos
    }

    /// How many fractional-second digits the text carries.
    pub fn precision(&self) -> u8 {
        self.precision
    }
}

/// Whether `year` is a leap year of the proleptic Gregorian calendar.
pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1-12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day count since 1970-01-01: the
/// inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both fit: day is 1..=31 and month 1..=12 by construction.
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats an instant as `YYYY-MM-DDTHH:MM:SS[.f]Z` with `digits` fractional digits (0-9,
/// truncated, not rounded) of `nanos` (0..1_000_000_000) after `secs` Unix seconds.
pub fn format_unix(secs: i64, nanos: u32, digits: u8) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    let digits = u32::from(digits.min(9));
    if digits > 0 {
        let frac = nanos.min(999_999_999) / 10u32.pow(9 - digits);
        out.push_str(&format!(".{frac:0width$}", width = digits as usize));
    }
    out.push('Z');
    out
}

/// An RFC 3339 date-time as logs write it, read by [`parse_rfc3339`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Unix seconds (the offset applied; a leap second `:60` counts as `:59`).
    pub secs: i64,
    /// Nanoseconds within the second (digits beyond the ninth are truncated).
    pub nanos: u32,
    /// Whether the text ended in `Z`/`z` rather than a numeric offset.
    pub utc: bool,
}

impl DateTime {
    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> i64 {
        self.secs * 1_000_000 + i64::from(self.nanos / 1000)
    }
}

/// The unsigned decimal number in `b[from..from + len]`; `None` when that is out of bounds or
/// holds a non-digit. Callers pass at most 4 digits, so it cannot overflow.
fn decimal(b: &[u8], from: usize, len: usize) -> Option<u32> {
    b.get(from..from + len)?.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parses an RFC 3339 date-time: `YYYY-MM-DD`, `T`, `t` or a space, `HH:MM:SS`, an optional
/// fraction of any length, then `Z`, `z` or `±HH:MM`. Every field is range-checked against the
/// calendar (no 31 February); `:60` is accepted as RFC 3339 allows a leap second.
pub fn parse_rfc3339(s: &str) -> Result<DateTime, TimestampError> {
    let syntax = || TimestampError::Syntax(crate::error::cut(s));
    let range = || TimestampError::Range(crate::error::cut(s));
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(syntax());
    }
    let num = |from: usize, len: usize| decimal(b, from, len).ok_or_else(syntax);
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(c - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(syntax());
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let (offset, utc) = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => (0, true),
        Some(&c @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return Err(range());
            }
            let o = i64::from(oh * 3600 + om * 60);
            (if c == b'+' { o } else { -o }, false)
        }
        _ => return Err(syntax()),
    };
    let year = i64::from(year);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(range());
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second.min(59))
        - offset;
    Ok(DateTime { secs, nanos, utc })
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Timestamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:00Z")
                .unwrap()
                .unix_nanos(),
            0
        );
        // 2016-04-06T20:03:48.000Z = 1459973028 s (checked with `date -u -d @1459973028`).
        let t = Timestamp::parse("2016-04-06T20:03:48.000Z").unwrap();
        assert_eq!(t.unix_nanos(), 1_459_973_028_000_000_000);
        assert_eq!(t.precision(), 3);
        assert_eq!(t.to_string(), "2016-04-06T20:03:48.000Z");
    }

    #[test]
    fn equal_by_instant_not_text() {
        let a = Timestamp::parse("2016-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse("2016-01-01T00:00:00.000Z").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.as_str(), b.as_str());
        let c = Timestamp::parse("2016-01-01T00:00:00.001Z").unwrap();
        assert!(c > a);
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "",
            "2016-01-01",
            "2016-01-01T00:00:00",
            "2016-01-01T00:00:00+00:00",
            "2016-01-01t00:00:00Z",
            "2016-01-01T00:00:00z",
            "2016-01-01T00:00:00.Z",
            "2016-1-01T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2015-02-29T00:00:00Z",
            "2016-01-01T24:00:00Z",
            "2016-01-01T00:00:61Z",
            "2016-01-01 00:00:00Z",
            "+016-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Timestamp::parse("2016-02-29T23:59:60.123456789123Z").is_ok());
    }

    #[test]
    fn rfc3339_checks_the_calendar() {
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-02-31T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-00-10T00:00:00Z",
            "2024-01-10T24:00:00Z",
            "2024-01-10T00:00:00+24:00",
            "2024-01-10T00:00:00.Z",
            "2024-01-10T00:00:00",
            "2024-01-10T00:00:00+0100",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        let t = parse_rfc3339("2024-02-29 23:59:60.5-01:30").unwrap();
        assert_eq!(format_unix(t.secs, t.nanos, 3), "2024-03-01T01:29:59.500Z");
        assert_eq!(
            format_unix(-1, 999_999_999, 6),
            "1969-12-31T23:59:59.999999Z"
        );
    }
}
