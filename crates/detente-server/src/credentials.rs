//! Secrets and bearer tokens: generation, Argon2 hashing and verification.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The prefix of every bearer token: `dtk_<id>_<secret>`.
pub const TOKEN_PREFIX: &str = "dtk_";

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

/// The Argon2id PHC hash of a secret.
pub fn hash_secret(secret: &str) -> Result<String, CredentialError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| CredentialError(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CredentialError(e.to_string()))
}

/// Whether `secret` matches the PHC hash (false on a malformed hash).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
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

    #[test]
    fn hash_and_verify() {
        let s = new_secret().unwrap();
        let h = hash_secret(&s).unwrap();
        assert!(verify_secret(&s, &h));
        assert!(!verify_secret("wrong", &h));
        assert!(!verify_secret(&s, "not a hash"));
    }

    #[test]
    fn tokens_split() {
        let (id, secret, token) = new_token().unwrap();
        assert_eq!(split_token(&token), Some((id.as_str(), secret.as_str())));
        assert_eq!(split_token("dtk_zz_x"), None);
        assert_eq!(split_token("Basic abc"), None);
    }
}
