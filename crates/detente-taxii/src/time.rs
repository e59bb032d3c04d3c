//! TAXII timestamps: `YYYY-MM-DDTHH:MM:SS.ssssssZ`, microsecond precision, UTC.
//!
//! The node keeps `date_added` as microseconds since the Unix epoch.

use thiserror::Error;

/// A string that is not an RFC 3339 UTC timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS[.ssssss]Z")]
pub struct TimeError(pub String);

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats microseconds since the epoch as a TAXII timestamp.
pub fn format_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses an RFC 3339 UTC timestamp (`Z`, up to 9 fractional digits) into microseconds
/// since the epoch; digits beyond the microsecond are truncated.
pub fn parse_micros(s: &str) -> Result<i64, TimeError> {
    let err = || TimeError(s.to_owned());
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return Err(err());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, TimeError> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| err())
        } else {
            Err(err())
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(err());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > mdays[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || se > 60
    {
        return Err(err());
    }
    let rest = &s[19..];
    let frac_digits = match rest.strip_prefix('.') {
        Some(r) => r.strip_suffix(['Z', 'z']).ok_or_else(err)?,
        None if rest.eq_ignore_ascii_case("z") => "",
        None => return Err(err()),
    };
    if rest.starts_with('.')
        && (frac_digits.is_empty()
            || frac_digits.len() > 9
            || !frac_digits.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(err());
    }
    let mut micros = 0i64;
    for i in 0..6 {
        micros = micros * 10
            + frac_digits
                .as_bytes()
                .get(i)
                .map_or(0, |c| i64::from(c - b'0'));
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se.min(59);
    Ok(secs * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            parse_micros("2021-06-10T12:34:56.789Z").unwrap(),
            1_623_328_496_789_000
        );
        assert_eq!(
            format_micros(1_623_328_496_789_000),
            "2021-06-10T12:34:56.789000Z"
        );
        assert_eq!(
            parse_micros("2000-02-29T00:00:00Z").unwrap(),
            951_782_400_000_000
        );
        for bad in [
            "",
            "2021-13-01T00:00:00Z",
            "2021-02-30T00:00:00Z",
            "2021-06-10 12:34:56Z",
            "2021-06-10T12:34:56",
            "2021-06-10T12:34:56.Z",
            "2021-06-10T12:34:56+01:00",
            "2021-06-10T12:34:56.1234567890Z",
            "2021-06-1xT12:34:56Z",
        ] {
            assert!(parse_micros(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(us in -62_135_596_800_000_000i64..253_402_300_799_999_999i64) {
            prop_assert_eq!(parse_micros(&format_micros(us)).unwrap(), us);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_micros(&s);
        }
    }
}
