//! TAXII timestamps: `YYYY-MM-DDTHH:MM:SS.ssssssZ`, microsecond precision, UTC.
//!
//! The node keeps `date_added` as microseconds since the Unix epoch.

use detente_stix::timestamp::{format_unix, parse_rfc3339};
use thiserror::Error;

/// A string that is not an RFC 3339 UTC timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a timestamp of the form YYYY-MM-DDTHH:MM:SS[.ssssss]Z")]
pub struct TimeError(pub String);

/// Formats microseconds since the epoch as a TAXII timestamp.
pub fn format_micros(micros: i64) -> String {
    let frac = u32::try_from(micros.rem_euclid(1_000_000)).unwrap_or(0);
    format_unix(micros.div_euclid(1_000_000), frac * 1000, 6)
}

/// Parses an RFC 3339 UTC timestamp (`Z`, up to 9 fractional digits) into microseconds
/// since the epoch; digits beyond the microsecond are truncated.
pub fn parse_micros(s: &str) -> Result<i64, TimeError> {
    let err = || TimeError(s.to_owned());
    // TAXII timestamps are UTC with `T`: no numeric offset, no space, at most 9 digits.
    if s.as_bytes().get(10) == Some(&b' ') || s.len() > 30 {
        return Err(err());
    }
    match parse_rfc3339(s) {
        Ok(t) if t.utc => Ok(t.unix_micros()),
        _ => Err(err()),
    }
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
