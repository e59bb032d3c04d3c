//! Secrets and bearer tokens: generation, keyed hashing and verification.
//!
//! Member secrets and token secrets are 256-bit random values made by the node, never chosen
//! by people, so a slow password hash protects nothing that a keyed hash does not: they are
//! stored as `hmac-sha256$` + base64url(HMAC-SHA-256(node key, secret)), the key being the
//! store's named node secret `credentials`, and compared in constant time. A failed login
//! then costs one HMAC whether or not the name exists, and no memory.
//!
//! Data directories made before hold Argon2id PHC hashes. They still verify, but at most
//! [`LEGACY_CONCURRENCY`] at a time with at most [`LEGACY_WAITING`] waiting (more is refused
//! as busy), so a flood of wrong secrets costs bounded memory; the first successful login
//! replaces each by the HMAC form.

use std::sync::{Condvar, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use detente_store::Store;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The prefix of every bearer token: `dtk_<id>_<secret>`.
pub const TOKEN_PREFIX: &str = "dtk_";
/// The prefix of a keyed secret hash.
pub const HMAC_PREFIX: &str = "hmac-sha256$";
/// The store's name of the hashing key.
const KEY_NAME: &str = "credentials";
/// Argon2 verifications of legacy hashes running at once (each takes 19 MiB).
pub const LEGACY_CONCURRENCY: usize = 2;
/// Legacy verifications waiting for a turn before further ones are refused as busy. Each
/// waits on one of the node's store threads (at least 8): running and waiting ones together
/// leave most of them to other members.
pub const LEGACY_WAITING: usize = 2;
/// What an unknown name or token id is checked against, so it costs what a known one does.
const DUMMY_HASH: &str = "hmac-sha256$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Hashing or randomness failed.
#[derive(Debug, thiserror::Error)]
#[error("credential handling failed: {0}")]
pub struct CredentialError(String);

fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| CredentialError(e.to_string()))?;
    Ok(b)
}

/// 32 random bytes from the OS.
pub fn random_key() -> Result<Vec<u8>, CredentialError> {
    Ok(random_bytes::<32>()?.to_vec())
}

/// A new random secret (256 bits, base64url).
pub fn new_secret() -> Result<String, CredentialError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// The outcome of checking a secret against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The secret matches a keyed hash.
    Valid,
    /// The secret matches a legacy Argon2 hash, which should now be replaced.
    ValidLegacy,
    /// The secret does not match (or the hash is malformed).
    Invalid,
    /// Too many legacy verifications are running or waiting; nothing was checked.
    Busy,
}

/// Hashes and verifies secrets under the node's key.
pub struct Hasher {
    key: Vec<u8>,
    /// (running, waiting) legacy verifications.
    legacy: Mutex<(usize, usize)>,
    turn: Condvar,
}

impl Hasher {
    /// The hasher of the node whose store is `store`, creating its key on first use.
    pub fn of<S: Store + ?Sized>(store: &S) -> Result<Hasher, CredentialError> {
        let fresh = random_key()?;
        let key = store
            .secret(KEY_NAME, &|| fresh.clone())
            .map_err(|e| CredentialError(e.to_string()))?;
        if key.len() < 32 {
            return Err(CredentialError("the credentials key is too short".into()));
        }
        Ok(Hasher {
            key,
            legacy: Mutex::new((0, 0)),
            turn: Condvar::new(),
        })
    }

    fn mac(&self, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(secret.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The stored form of a secret.
    pub fn hash(&self, secret: &str) -> String {
        format!("{HMAC_PREFIX}{}", self.mac(secret))
    }

    /// Checks `secret` against a stored hash.
    pub fn verify(&self, secret: &str, stored: &str) -> Verdict {
        if let Some(want) = stored.strip_prefix(HMAC_PREFIX) {
            let got = self.mac(secret);
            return if bool::from(got.as_bytes().ct_eq(want.as_bytes())) {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
        }
        match PasswordHash::new(stored) {
            Ok(h) => self.verify_legacy(secret, &h),
            Err(_) => Verdict::Invalid,
        }
    }

    /// Does the work of [`Hasher::verify`] for a name or token id that does not exist.
    pub fn verify_nothing(&self, secret: &str) {
        let _ = self.verify(secret, DUMMY_HASH);
    }

    fn verify_legacy(&self, secret: &str, hash: &PasswordHash<'_>) -> Verdict {
        {
            let Ok(mut g) = self.legacy.lock() else {
                return Verdict::Busy;
            };
            if g.1 >= LEGACY_WAITING {
                return Verdict::Busy;
            }
            g.1 += 1;
            while g.0 >= LEGACY_CONCURRENCY {
                g = match self.turn.wait(g) {
                    Ok(g) => g,
                    Err(_) => return Verdict::Busy,
                };
            }
            g.1 -= 1;
            g.0 += 1;
        }
        let ok = Argon2::default()
            .verify_password(secret.as_bytes(), hash)
            .is_ok();
        if let Ok(mut g) = self.legacy.lock() {
            g.0 -= 1;
        }
        self.turn.notify_one();
        if ok {
            Verdict::ValidLegacy
        } else {
            Verdict::Invalid
        }
    }
}

/// A new bearer token: (token id, secret part, full token string).
pub fn new_token() -> Result<(String, String, String), CredentialError> {
    let id: String = random_bytes::<8>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let secret = new_secret()?;
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    Ok((id, secret, token))
}

/// Splits a bearer token into (id, secret part).
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|c| c.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn hasher(key: &[u8]) -> Hasher {
        Hasher {
            key: key.to_vec(),
            legacy: Mutex::new((0, 0)),
            turn: Condvar::new(),
        }
    }

    #[test]
    fn hash_and_verify() {
        let h = hasher(&[7; 32]);
        let s = new_secret().unwrap();
        let stored = h.hash(&s);
        assert!(stored.starts_with(HMAC_PREFIX));
        assert_eq!(h.verify(&s, &stored), Verdict::Valid);
        assert_eq!(h.verify("wrong", &stored), Verdict::Invalid);
        assert_eq!(h.verify(&s, "not a hash"), Verdict::Invalid);
        assert_eq!(h.verify(&s, DUMMY_HASH), Verdict::Invalid);
        // Another node's key does not verify this node's hashes.
        assert_eq!(hasher(&[8; 32]).verify(&s, &stored), Verdict::Invalid);
    }

    #[test]
    fn legacy_argon2_hashes_still_verify() {
        let h = hasher(&[7; 32]);
        let salt = SaltString::encode_b64(&[1; 16]).unwrap();
        let phc = Argon2::default()
            .hash_password(b"old secret", &salt)
            .unwrap()
            .to_string();
        assert_eq!(h.verify("old secret", &phc), Verdict::ValidLegacy);
        assert_eq!(h.verify("wrong", &phc), Verdict::Invalid);
        assert_eq!(*h.legacy.lock().unwrap(), (0, 0));
    }

    #[test]
    fn legacy_verifications_beyond_the_queue_are_busy() {
        let h = hasher(&[7; 32]);
        *h.legacy.lock().unwrap() = (LEGACY_CONCURRENCY, LEGACY_WAITING);
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$\
                   0Fn8a0X5mXn3nqG2Yl6m0g8fGv7g8S8nq5Nq0d1hX0c";
        assert_eq!(h.verify("x", phc), Verdict::Busy);
    }

    #[test]
    fn tokens_split() {
        let (id, secret, token) = new_token().unwrap();
        assert_eq!(split_token(&token), Some((id.as_str(), secret.as_str())));
        assert_eq!(split_token("dtk_zz_x"), None);
        assert_eq!(split_token("Basic abc"), None);
    }
}
