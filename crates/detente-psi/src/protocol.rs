//! The two parties as explicit state machines with no I/O.
//!
//! ```text
//! querier                                   answerer
//! Querier::start(X, mode, rng)  ── Request ──▶ accept(header, policy, replay guard)
//!   a fresh key a, sends H(x)^a                  (cap and replay checked: no group op yet)
//!                                              AcceptedSession::respond(request, Y, rng)
//!                                                fresh key b; returns H(x)^ab (querier order
//!                                                or sorted) and tags T(H(y)^b)
//! Querier::finish(response)     ◀── Response ──
//!   (H(x)^ab)^(1/a) = H(x)^b; looks T(H(x)^b) up among the tags
//! ```
//!
//! `H` hashes a normalised item with SHA-512 into ristretto255 (`from_uniform_bytes`, the
//! RFC 9380 style hash-to-group of ristretto255) under a domain-separation tag that includes
//! the session id, so encodings from different sessions cannot be compared. `T` is SHA-512
//! over a second tag, the session id and the compressed point, truncated to ℓ bytes where
//! ℓ·8 ≥ 40 + ⌈log₂ n⌉ + ⌈log₂ m⌉: a querier item outside the answerer's set then matches one
//! of the m tags with probability at most m·2^-ℓ·8, and all n querier items together produce a
//! false match with probability at most n·m·2^-8ℓ ≤ 2^-40.
//!
//! Each scalar multiplication uses a key pre-divided by two and
//! [`RistrettoPoint::double_and_compress_batch`], which doubles and compresses a whole chunk
//! with one field inversion: the doubling restores the key, the batching removes the per-point
//! inversion that compression otherwise costs. Chunks run in parallel on all rayon threads.

use std::collections::HashSet;

use curve25519_dalek::ristretto::CompressedRistretto;
use curve25519_dalek::traits::Identity;
use curve25519_dalek::{RistrettoPoint, Scalar};
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use sha2::{Digest, Sha512};
use thiserror::Error;
use zeroize::Zeroize;

use crate::codec::{MAX_TAG_LEN, MIN_TAG_LEN, Mode, Request, RequestHeader, Response, SessionId};

const HASH_DST: &[u8] = b"detente-psi/v1/ristretto255-SHA512/hash-to-group";
const TAG_DST: &[u8] = b"detente-psi/v1/ristretto255-SHA512/tag";
/// Points per batch compression: large enough to amortise the inversion, small enough to
/// spread over threads and report progress often.
const CHUNK: usize = 2048;

/// Receives progress as items are processed (called from rayon threads).
pub trait Progress: Sync {
    /// `n` more items are done.
    fn advance(&self, n: u64);
}

/// No progress reporting.
impl Progress for () {
    fn advance(&self, _n: u64) {}
}

/// A protocol step that cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The request has more items than the answerer accepts (refused before any group operation).
    #[error("request has {count} items; this answerer accepts at most {max}")]
    TooManyItems {
        /// Items in the request.
        count: u64,
        /// Cap.
        max: u64,
    },
    /// This session id was used before.
    #[error("session {0} was already used; replay refused")]
    Replayed(SessionId),
    /// A message belongs to another session.
    #[error("message is for session {found}, expected {expected}")]
    SessionMismatch {
        /// Session of this state machine.
        expected: SessionId,
        /// Session in the message.
        found: SessionId,
    },
    /// The response is in another mode than requested.
    #[error("response mode {found:?} does not match the requested {expected:?}")]
    ModeMismatch {
        /// Requested mode.
        expected: Mode,
        /// Mode in the response.
        found: Mode,
    },
    /// The response echoes a different number of points than were sent.
    #[error("response has {found} points for the {expected} sent")]
    CountMismatch {
        /// Points sent.
        expected: usize,
        /// Points received.
        found: usize,
    },
    /// A compressed point is not a valid ristretto255 encoding (or is the identity).
    #[error("point {index} is not a valid ristretto255 element")]
    InvalidPoint {
        /// Position in the message.
        index: usize,
    },
    /// The answerer's tags are too short for the false-match bound.
    #[error("answerer tags are {found} bytes; {needed} are needed for a 2^-40 false-match bound")]
    TagsTooShort {
        /// Tag length required.
        needed: u8,
        /// Tag length received.
        found: u8,
    },
}

/// Tracks session ids an answerer has served; the caller keeps (and may persist) the state.
pub trait ReplayGuard {
    /// Records `session`; returns false if it had been recorded before.
    fn first_use(&mut self, session: SessionId) -> bool;
}

impl ReplayGuard for HashSet<SessionId> {
    fn first_use(&mut self, session: SessionId) -> bool {
        self.insert(session)
    }
}

/// What the querier learns at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Indices (into the querier's item slice, ascending) of the items in the intersection.
    Intersection(Vec<usize>),
    /// The intersection size only.
    Count(usize),
}

/// Tag length in bytes for `n` querier items against `m` answerer items.
pub fn tag_len_for(n: usize, m: usize) -> u8 {
    let bits = 40 + ceil_log2(n) + ceil_log2(m);
    u8::try_from(bits.div_ceil(8))
        .unwrap_or(MAX_TAG_LEN)
        .clamp(MIN_TAG_LEN, MAX_TAG_LEN)
}

fn ceil_log2(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// Hashes one normalised item into the group, bound to the session.
pub fn hash_to_group(session: &SessionId, item: &[u8]) -> RistrettoPoint {
    let mut h = Sha512::new();
    h.update([HASH_DST.len() as u8]);
    h.update(HASH_DST);
    h.update(session.0);
    h.update((item.len() as u64).to_be_bytes());
    h.update(item);
    RistrettoPoint::from_uniform_bytes(&h.finalize().into())
}

fn tag(session: &SessionId, point: &[u8; 32], tag_len: u8) -> u128 {
    let mut h = Sha512::new();
    h.update([TAG_DST.len() as u8]);
    h.update(TAG_DST);
    h.update(session.0);
    h.update(point);
    h.finalize()[..usize::from(tag_len)]
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b))
}

fn random_scalar<R: CryptoRngCore + ?Sized>(rng: &mut R) -> Scalar {
    loop {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        let s = Scalar::from_bytes_mod_order_wide(&wide);
        wide.zeroize();
        if s != Scalar::ZERO {
            return s;
        }
    }
}

/// `k / 2`, so that doubling during batch compression yields `k · P`.
fn halved(k: &Scalar) -> Scalar {
    k * Scalar::from(2u8).invert()
}

fn compress_chunk(out: &mut [[u8; 32]], points: &[RistrettoPoint]) {
    for (dst, c) in out
        .iter_mut()
        .zip(RistrettoPoint::double_and_compress_batch(points))
    {
        *dst = c.to_bytes();
    }
}

/// `compress(2·half·H(item))` for every item, in order.
fn blind_items<I: AsRef<[u8]> + Sync>(
    session: &SessionId,
    items: &[I],
    half: &Scalar,
    progress: &dyn Progress,
) -> Vec<[u8; 32]> {
    let mut out = vec![[0u8; 32]; items.len()];
    out.par_chunks_mut(CHUNK)
        .zip(items.par_chunks(CHUNK))
        .for_each(|(out, items)| {
            let points: Vec<RistrettoPoint> = items
                .iter()
                .map(|item| hash_to_group(session, item.as_ref()) * half)
                .collect();
            compress_chunk(out, &points);
            progress.advance(items.len() as u64);
        });
    out
}

/// `compress(2·half·P)` for every compressed `P`, in order; refuses invalid encodings.
fn reblind(
    points: &[[u8; 32]],
    half: &Scalar,
    progress: &dyn Progress,
) -> Result<Vec<[u8; 32]>, ProtocolError> {
    let mut out = vec![[0u8; 32]; points.len()];
    out.par_chunks_mut(CHUNK)
        .zip(points.par_chunks(CHUNK))
        .enumerate()
        .try_for_each(|(chunk, (out, input))| {
            let decoded = input
                .iter()
                .enumerate()
                .map(|(i, bytes)| {
                    CompressedRistretto(*bytes)
                        .decompress()
                        .filter(|p| *p != RistrettoPoint::identity())
                        .map(|p| p * half)
                        .ok_or(ProtocolError::InvalidPoint {
                            index: chunk * CHUNK + i,
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            compress_chunk(out, &decoded);
            progress.advance(input.len() as u64);
            Ok(())
        })?;
    Ok(out)
}

/// The querying party after sending its request, waiting for the response.
pub struct Querier {
    session: SessionId,
    mode: Mode,
    count: usize,
    /// `a⁻¹ / 2`: removes the querier's blinding.
    unblind_half: Scalar,
}

impl Drop for Querier {
    fn drop(&mut self) {
        self.unblind_half.zeroize();
    }
}

impl Querier {
    /// Starts a session over `items` (distinct, normalised values): draws a fresh session id
    /// and key from `rng` and returns the request to send.
    pub fn start<I, R>(
        items: &[I],
        mode: Mode,
        rng: &mut R,
        progress: &dyn Progress,
    ) -> Result<(Querier, Request), ProtocolError>
    where
        I: AsRef<[u8]> + Sync,
        R: CryptoRngCore + ?Sized,
    {
        let count = u32::try_from(items.len()).map_err(|_| ProtocolError::TooManyItems {
            count: items.len() as u64,
            max: u64::from(u32::MAX),
        })?;
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let session = SessionId(id);
        let mut key = random_scalar(rng);
        let mut half = halved(&key);
        let unblind_half = halved(&key.invert());
        let points = blind_items(&session, items, &half, progress);
        key.zeroize();
        half.zeroize();
        let request = Request {
            header: RequestHeader {
                session,
                mode,
                count,
            },
            points,
        };
        let querier = Querier {
            session,
            mode,
            count: items.len(),
            unblind_half,
        };
        Ok((querier, request))
    }

    /// The session this querier runs.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// Checks the response against the request, removes the querier's blinding and looks the
    /// results up among the answerer's tags.
    pub fn finish(
        self,
        response: &Response,
        progress: &dyn Progress,
    ) -> Result<Outcome, ProtocolError> {
        if response.session != self.session {
            return Err(ProtocolError::SessionMismatch {
                expected: self.session,
                found: response.session,
            });
        }
        if response.mode != self.mode {
            return Err(ProtocolError::ModeMismatch {
                expected: self.mode,
                found: response.mode,
            });
        }
        if response.points.len() != self.count {
            return Err(ProtocolError::CountMismatch {
                expected: self.count,
                found: response.points.len(),
            });
        }
        let needed = tag_len_for(self.count, response.tags.len());
        if response.tag_len < needed {
            return Err(ProtocolError::TagsTooShort {
                needed,
                found: response.tag_len,
            });
        }
        let unblinded = reblind(&response.points, &self.unblind_half, progress)?;
        let session = self.session;
        let found: Vec<bool> = unblinded
            .par_iter()
            .map(|p| {
                response
                    .tags
                    .binary_search(&tag(&session, p, response.tag_len))
                    .is_ok()
            })
            .collect();
        Ok(match self.mode {
            Mode::Intersection => Outcome::Intersection(
                found
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &hit)| hit.then_some(i))
                    .collect(),
            ),
            Mode::CountOnly => Outcome::Count(found.iter().filter(|&&hit| hit).count()),
        })
    }
}

/// Limits the answerer enforces before doing any group operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswererPolicy {
    /// Largest querier set accepted in one session.
    pub max_request_items: u32,
}

/// Checks a request header: the size cap first, then the replay guard. No group operation
/// happens here, so an oversized or replayed request costs the answerer nothing.
pub fn accept(
    header: &RequestHeader,
    policy: &AnswererPolicy,
    replay: &mut dyn ReplayGuard,
) -> Result<AcceptedSession, ProtocolError> {
    if header.count > policy.max_request_items {
        return Err(ProtocolError::TooManyItems {
            count: u64::from(header.count),
            max: u64::from(policy.max_request_items),
        });
    }
    if !replay.first_use(header.session) {
        return Err(ProtocolError::Replayed(header.session));
    }
    Ok(AcceptedSession { header: *header })
}

/// An answerer session whose header passed [`accept`].
#[derive(Debug)]
pub struct AcceptedSession {
    header: RequestHeader,
}

impl AcceptedSession {
    /// The accepted header.
    pub fn header(&self) -> &RequestHeader {
        &self.header
    }

    /// Computes the response over the answerer's `own_items` (distinct, normalised values)
    /// with a fresh key drawn from `rng`. Progress counts request points plus own items.
    pub fn respond<I, R>(
        self,
        request: &Request,
        own_items: &[I],
        rng: &mut R,
        progress: &dyn Progress,
    ) -> Result<Response, ProtocolError>
    where
        I: AsRef<[u8]> + Sync,
        R: CryptoRngCore + ?Sized,
    {
        if request.header.session != self.header.session {
            return Err(ProtocolError::SessionMismatch {
                expected: self.header.session,
                found: request.header.session,
            });
        }
        if request.points.len() != self.header.count as usize {
            return Err(ProtocolError::CountMismatch {
                expected: self.header.count as usize,
                found: request.points.len(),
            });
        }
        let own_count =
            u32::try_from(own_items.len()).map_err(|_| ProtocolError::TooManyItems {
                count: own_items.len() as u64,
                max: u64::from(u32::MAX),
            })?;
        let session = self.header.session;
        let mut key = random_scalar(rng);
        let mut half = halved(&key);
        key.zeroize();
        let mut points = reblind(&request.points, &half, progress)?;
        if self.header.mode == Mode::CountOnly {
            // Double-blinded points are pseudorandom under the fresh key, so sorting them is
            // a uniformly random permutation from the querier's point of view.
            points.par_sort_unstable();
        }
        let tag_len = tag_len_for(points.len(), own_count as usize);
        let mut tags: Vec<u128> = blind_items(&session, own_items, &half, progress)
            .par_iter()
            .map(|p| tag(&session, p, tag_len))
            .collect();
        half.zeroize();
        tags.par_sort_unstable();
        Ok(Response {
            session,
            mode: self.header.mode,
            tag_len,
            points,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_length_meets_the_bound() {
        assert_eq!(tag_len_for(0, 0), 5);
        assert_eq!(tag_len_for(1, 1), 5);
        assert_eq!(tag_len_for(2, 2), 6); // 42 bits
        assert_eq!(tag_len_for(1_000_000, 1_000_000), 10); // 80 bits
        assert_eq!(tag_len_for(1 << 20, (1 << 20) + 1), 11); // 81 bits
        for (n, m) in [
            (3usize, 5usize),
            (100_000, 1_000_000),
            (u32::MAX as usize, 7),
        ] {
            let bits = 8 * u32::from(tag_len_for(n, m));
            assert!(f64::from(bits) >= 40.0 + (n as f64).log2() + (m as f64).log2());
        }
    }

    #[test]
    fn halved_key_and_batch_compression_give_the_plain_product() {
        let session = SessionId([1; 16]);
        let k = Scalar::from(123_456_789u64);
        let items = ["domain:a.example", "ip:192.0.2.1", "md5:00"];
        let got = blind_items(&session, &items, &halved(&k), &());
        for (item, got) in items.iter().zip(&got) {
            let want = (hash_to_group(&session, item.as_bytes()) * k).compress();
            assert_eq!(&want.to_bytes(), got);
        }
    }

    #[test]
    fn session_id_separates_hashes() {
        let a = hash_to_group(&SessionId([1; 16]), b"domain:a.example");
        let b = hash_to_group(&SessionId([2; 16]), b"domain:a.example");
        assert_ne!(a, b);
    }

    #[test]
    fn reblind_rejects_invalid_and_identity_points() {
        let half = halved(&Scalar::from(5u8));
        let mut bad = [0xffu8; 32];
        bad[31] = 0x7f;
        assert_eq!(
            reblind(&[bad], &half, &()),
            Err(ProtocolError::InvalidPoint { index: 0 })
        );
        let identity = RistrettoPoint::identity().compress().to_bytes();
        let good = hash_to_group(&SessionId([0; 16]), b"x")
            .compress()
            .to_bytes();
        assert_eq!(
            reblind(&[good, identity], &half, &()),
            Err(ProtocolError::InvalidPoint { index: 1 })
        );
    }
}
