//! Compact binary messages with strict decoding.
//!
//! All integers are big-endian. Points are 32-byte compressed ristretto255 encodings; they are
//! kept as bytes here and only decompressed (a group operation) once the header has been
//! accepted.
//!
//! Request (querier → answerer), [`REQUEST_HEADER_LEN`] = 28 header bytes:
//!
//! ```text
//! 0..4    magic "DPSI"
//! 4       version (1)
//! 5       kind (1 = request)
//! 6       mode (0 = intersection, 1 = count-only)
//! 7       reserved, must be 0
//! 8..24   session id (16 random bytes chosen by the querier)
//! 24..28  n = number of querier points (u32)
//! 28..    n × 32 bytes: the querier's blinded items
//! ```
//!
//! Response (answerer → querier), [`RESPONSE_HEADER_LEN`] = 32 header bytes:
//!
//! ```text
//! 0..4    magic "DPSI"
//! 4       version (1)
//! 5       kind (2 = response)
//! 6       mode, echoed
//! 7       ℓ = tag length in bytes (5..=16)
//! 8..24   session id, echoed
//! 24..28  n, echoed
//! 28..32  m = number of answerer tags (u32)
//! 32..    n × 32 bytes: the querier's points blinded again by the answerer
//!         m × ℓ bytes: truncated hashes of the answerer's blinded items, sorted ascending
//! ```
//!
//! Decoding refuses anything but an exact length, so truncated or padded messages fail with
//! a [`DecodeError`] that says what is wrong.

use thiserror::Error;

/// Magic bytes opening every message.
pub const MAGIC: [u8; 4] = *b"DPSI";
/// Protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed request header; enough to check size caps before reading points.
pub const REQUEST_HEADER_LEN: usize = 28;
/// Length of the fixed response header.
pub const RESPONSE_HEADER_LEN: usize = 32;
/// Length of one compressed point.
pub const POINT_LEN: usize = 32;
/// Shortest tag length accepted (40 bits).
pub const MIN_TAG_LEN: u8 = 5;
/// Longest tag length accepted (128 bits, enough for 2^40 × 2^44 × 2^44 pairs).
pub const MAX_TAG_LEN: u8 = 16;

const KIND_REQUEST: u8 = 1;
const KIND_RESPONSE: u8 = 2;

/// Identifies one PSI session; bound into every hash so nothing carries over between sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; 16]);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What the querier learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The querier learns which of its items are in the intersection.
    Intersection,
    /// The querier learns only the size of the intersection.
    CountOnly,
}

impl Mode {
    fn to_byte(self) -> u8 {
        match self {
            Mode::Intersection => 0,
            Mode::CountOnly => 1,
        }
    }

    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        match b {
            0 => Ok(Mode::Intersection),
            1 => Ok(Mode::CountOnly),
            other => Err(DecodeError::BadMode(other)),
        }
    }
}

/// A malformed message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer bytes than the header (or the counts in it) require.
    #[error("message truncated: need {needed} bytes, got {got}")]
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// More bytes than the counts in the header account for.
    #[error("message has {extra} trailing bytes after the {expected} the header accounts for")]
    TrailingBytes {
        /// Bytes the header accounts for.
        expected: usize,
        /// Bytes beyond that.
        extra: usize,
    },
    /// The message does not start with `DPSI`.
    #[error("not a detente PSI message (bad magic)")]
    BadMagic,
    /// A protocol version this build does not speak.
    #[error("unsupported PSI protocol version {0} (this build speaks {VERSION})")]
    UnsupportedVersion(u8),
    /// A request where a response was expected, or the reverse.
    #[error("unexpected message kind {found} (expected {expected})")]
    WrongKind {
        /// Kind byte expected.
        expected: u8,
        /// Kind byte found.
        found: u8,
    },
    /// Unknown mode byte.
    #[error("unknown mode {0}")]
    BadMode(u8),
    /// The reserved byte is not zero.
    #[error("reserved header byte is {0}, must be 0")]
    Reserved(u8),
    /// Tag length outside 5..=16 bytes.
    #[error("tag length {0} bytes is outside {MIN_TAG_LEN}..={MAX_TAG_LEN}")]
    BadTagLength(u8),
    /// More items than the receiver accepts.
    #[error("{what} has {count} items; the limit is {max}")]
    TooManyItems {
        /// Which set.
        what: &'static str,
        /// Items declared in the header.
        count: u32,
        /// Largest count accepted.
        max: u32,
    },
    /// The answerer's tags are not in ascending order.
    #[error("answerer tags are not sorted")]
    TagsNotSorted,
}

/// The fixed part of a request, parseable from its first [`REQUEST_HEADER_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// Session id chosen by the querier.
    pub session: SessionId,
    /// Requested output.
    pub mode: Mode,
    /// Number of querier points that follow.
    pub count: u32,
}

impl RequestHeader {
    /// Parses the header from the start of `bytes` (extra bytes are ignored).
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let head = bytes
            .get(..REQUEST_HEADER_LEN)
            .ok_or(DecodeError::Truncated {
                needed: REQUEST_HEADER_LEN,
                got: bytes.len(),
            })?;
        check_prefix(head, KIND_REQUEST)?;
        let mode = Mode::from_byte(head[6])?;
        if head[7] != 0 {
            return Err(DecodeError::Reserved(head[7]));
        }
        Ok(RequestHeader {
            session: SessionId(array16(&head[8..24])),
            mode,
            count: be_u32(&head[24..28]),
        })
    }

    /// Total message length implied by this header.
    pub fn message_len(&self) -> usize {
        REQUEST_HEADER_LEN + self.count as usize * POINT_LEN
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[VERSION, KIND_REQUEST, self.mode.to_byte(), 0]);
        out.extend_from_slice(&self.session.0);
        out.extend_from_slice(&self.count.to_be_bytes());
    }
}

/// The querier's message: its items blinded with its session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Fixed header.
    pub header: RequestHeader,
    /// Compressed blinded points, `header.count` of them.
    pub points: Vec<[u8; 32]>,
}

impl Request {
    /// Serialises the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header.message_len());
        self.header.write(&mut out);
        for p in &self.points {
            out.extend_from_slice(p);
        }
        out
    }

    /// Parses a whole request, refusing more than `max_items` points before looking at them.
    pub fn decode(bytes: &[u8], max_items: u32) -> Result<Self, DecodeError> {
        let header = RequestHeader::parse(bytes)?;
        if header.count > max_items {
            return Err(DecodeError::TooManyItems {
                what: "request",
                count: header.count,
                max: max_items,
            });
        }
        check_len(bytes.len(), header.message_len())?;
        let points = bytes[REQUEST_HEADER_LEN..]
            .chunks_exact(POINT_LEN)
            .map(array32)
            .collect();
        Ok(Request { header, points })
    }
}

/// The answerer's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Session id echoed from the request.
    pub session: SessionId,
    /// Mode echoed from the request.
    pub mode: Mode,
    /// Tag length in bytes.
    pub tag_len: u8,
    /// The querier's points blinded again (querier order, or sorted in count-only mode).
    pub points: Vec<[u8; 32]>,
    /// Truncated hashes of the answerer's blinded items, ascending, as big-endian integers.
    pub tags: Vec<u128>,
}

impl Response {
    /// Serialised length.
    pub fn encoded_len(&self) -> usize {
        RESPONSE_HEADER_LEN
            + self.points.len() * POINT_LEN
            + self.tags.len() * self.tag_len as usize
    }

    /// Serialises the response (counts are bounded by the caps, so they fit the u32 fields).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[VERSION, KIND_RESPONSE, self.mode.to_byte(), self.tag_len]);
        out.extend_from_slice(&self.session.0);
        out.extend_from_slice(&count_u32(self.points.len()).to_be_bytes());
        out.extend_from_slice(&count_u32(self.tags.len()).to_be_bytes());
        for p in &self.points {
            out.extend_from_slice(p);
        }
        let len = usize::from(self.tag_len).min(16);
        for t in &self.tags {
            out.extend_from_slice(&t.to_be_bytes()[16 - len..]);
        }
        out
    }

    /// Parses a whole response, refusing more than `max_points` echoed points or `max_tags`
    /// answerer tags.
    pub fn decode(bytes: &[u8], max_points: u32, max_tags: u32) -> Result<Self, DecodeError> {
        let head = bytes
            .get(..RESPONSE_HEADER_LEN)
            .ok_or(DecodeError::Truncated {
                needed: RESPONSE_HEADER_LEN,
                got: bytes.len(),
            })?;
        check_prefix(head, KIND_RESPONSE)?;
        let mode = Mode::from_byte(head[6])?;
        let tag_len = head[7];
        if !(MIN_TAG_LEN..=MAX_TAG_LEN).contains(&tag_len) {
            return Err(DecodeError::BadTagLength(tag_len));
        }
        let session = SessionId(array16(&head[8..24]));
        let n = be_u32(&head[24..28]);
        let m = be_u32(&head[28..32]);
        for (what, count, max) in [("response", n, max_points), ("answerer set", m, max_tags)] {
            if count > max {
                return Err(DecodeError::TooManyItems { what, count, max });
            }
        }
        let points_end = RESPONSE_HEADER_LEN + n as usize * POINT_LEN;
        check_len(bytes.len(), points_end + m as usize * tag_len as usize)?;
        let points = bytes[RESPONSE_HEADER_LEN..points_end]
            .chunks_exact(POINT_LEN)
            .map(array32)
            .collect();
        let tags: Vec<u128> = bytes[points_end..]
            .chunks_exact(tag_len as usize)
            .map(|c| c.iter().fold(0u128, |acc, &b| (acc << 8) | u128::from(b)))
            .collect();
        if tags.windows(2).any(|w| w[0] > w[1]) {
            return Err(DecodeError::TagsNotSorted);
        }
        Ok(Response {
            session,
            mode,
            tag_len,
            points,
            tags,
        })
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn check_prefix(head: &[u8], kind: u8) -> Result<(), DecodeError> {
    if head[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if head[4] != VERSION {
        return Err(DecodeError::UnsupportedVersion(head[4]));
    }
    if head[5] != kind {
        return Err(DecodeError::WrongKind {
            expected: kind,
            found: head[5],
        });
    }
    Ok(())
}

fn check_len(got: usize, expected: usize) -> Result<(), DecodeError> {
    if got < expected {
        Err(DecodeError::Truncated {
            needed: expected,
            got,
        })
    } else if got > expected {
        Err(DecodeError::TrailingBytes {
            expected,
            extra: got - expected,
        })
    } else {
        Ok(())
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn array16(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    a
}

fn array32(b: &[u8]) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(n: usize) -> Request {
        Request {
            header: RequestHeader {
                session: SessionId([7; 16]),
                mode: Mode::Intersection,
                count: n as u32,
            },
            points: (0..n).map(|i| [i as u8; 32]).collect(),
        }
    }

    #[test]
    fn request_round_trip_and_exact_length() {
        let bytes = request(3).encode();
        assert_eq!(bytes.len(), REQUEST_HEADER_LEN + 3 * 32);
        assert_eq!(Request::decode(&bytes, 10).unwrap(), request(3));
        assert_eq!(
            Request::decode(&bytes[..bytes.len() - 1], 10),
            Err(DecodeError::Truncated {
                needed: bytes.len(),
                got: bytes.len() - 1
            })
        );
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            Request::decode(&long, 10),
            Err(DecodeError::TrailingBytes { extra: 1, .. })
        ));
    }

    #[test]
    fn cap_is_checked_from_the_header_alone() {
        let bytes = request(5).encode();
        // Only the header is present: the cap is still enforced, not a truncation error.
        assert_eq!(
            Request::decode(&bytes[..REQUEST_HEADER_LEN], 4),
            Err(DecodeError::TooManyItems {
                what: "request",
                count: 5,
                max: 4
            })
        );
    }

    #[test]
    fn header_fields_are_strict() {
        let good = request(0).encode();
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(RequestHeader::parse(&b), Err(DecodeError::BadMagic));
        let mut b = good.clone();
        b[4] = 9;
        assert_eq!(
            RequestHeader::parse(&b),
            Err(DecodeError::UnsupportedVersion(9))
        );
        let mut b = good.clone();
        b[5] = 2;
        assert!(matches!(
            RequestHeader::parse(&b),
            Err(DecodeError::WrongKind { .. })
        ));
        let mut b = good.clone();
        b[6] = 5;
        assert_eq!(RequestHeader::parse(&b), Err(DecodeError::BadMode(5)));
        let mut b = good;
        b[7] = 1;
        assert_eq!(RequestHeader::parse(&b), Err(DecodeError::Reserved(1)));
    }

    fn response_strategy() -> impl Strategy<Value = Response> {
        (
            any::<[u8; 16]>(),
            any::<bool>(),
            MIN_TAG_LEN..=MAX_TAG_LEN,
            prop::collection::vec(any::<[u8; 32]>(), 0..8),
            prop::collection::vec(any::<u128>(), 0..8),
        )
            .prop_map(|(sid, count_only, tag_len, points, tags)| {
                let mask = if tag_len == 16 {
                    u128::MAX
                } else {
                    (1u128 << (8 * u32::from(tag_len))) - 1
                };
                let mut tags: Vec<u128> = tags.into_iter().map(|t| t & mask).collect();
                tags.sort_unstable();
                Response {
                    session: SessionId(sid),
                    mode: if count_only {
                        Mode::CountOnly
                    } else {
                        Mode::Intersection
                    },
                    tag_len,
                    points,
                    tags,
                }
            })
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = Request::decode(&bytes, u32::MAX);
            let _ = Response::decode(&bytes, u32::MAX, u32::MAX);
        }

        #[test]
        fn request_round_trips(sid in any::<[u8; 16]>(), count_only in any::<bool>(),
                               points in prop::collection::vec(any::<[u8; 32]>(), 0..16)) {
            let req = Request {
                header: RequestHeader {
                    session: SessionId(sid),
                    mode: if count_only { Mode::CountOnly } else { Mode::Intersection },
                    count: points.len() as u32,
                },
                points,
            };
            prop_assert_eq!(Request::decode(&req.encode(), u32::MAX).unwrap(), req);
        }

        #[test]
        fn response_round_trips(resp in response_strategy()) {
            let bytes = resp.encode();
            prop_assert_eq!(bytes.len(), resp.encoded_len());
            prop_assert_eq!(Response::decode(&bytes, u32::MAX, u32::MAX).unwrap(), resp);
        }

        #[test]
        fn every_truncation_of_a_valid_response_is_an_error(resp in response_strategy(), cut in 0usize..1000) {
            let bytes = resp.encode();
            let cut = cut % bytes.len();
            prop_assert!(Response::decode(&bytes[..cut], u32::MAX, u32::MAX).is_err());
        }

        #[test]
        fn mutated_requests_never_panic(n in 0usize..6, pos in any::<usize>(), val in any::<u8>()) {
            let mut bytes = request(n).encode();
            let i = pos % bytes.len();
            bytes[i] = val;
            let _ = Request::decode(&bytes, 8);
        }
    }
}
