//! Authentication (HTTP Basic and Bearer tokens) with a verified-credential cache, and
//! the per-collection permission rules.
//!
//! Checking a secret costs one HMAC ([`crate::credentials`]) whether or not the name or
//! token exists, so failures are cheap, uncached and tell nothing about which names exist.
//! A verified `Authorization` header is cached in memory for [`CACHE_TTL`] (it saves the
//! member and grant lookups), keyed by an HMAC of the header under a per-process key (the
//! cache never holds a secret). The cache is dropped whenever the store's generation
//! changes, i.e. on any member, grant, token or collection change, including changes made
//! by the CLI while the node runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use detente_store::{Access, Member, Role, Store, Viewer};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::credentials::{Hasher, Verdict, split_token};
use crate::error::ApiError;

/// How long a verified credential stays cached.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// The most cached credentials; the cache is emptied when it is full.
const CACHE_MAX: usize = 10_000;

/// An authenticated member and its grants.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The member (its secret hash is not kept).
    pub member: Member,
    /// Grants by collection id.
    pub grants: HashMap<String, Access>,
}

impl Principal {
    /// (can_read, can_write) on a collection, per the member's role and grants.
    pub fn access(&self, collection: &str) -> (bool, bool) {
        match self.member.role {
            Role::Admin => (true, true),
            Role::Contributor => self
                .grants
                .get(collection)
                .map_or((false, false), |a| (a.read(), a.write())),
            Role::Reader => self
                .grants
                .get(collection)
                .map_or((false, false), |a| (a.read(), false)),
        }
    }

    /// The TLP viewer for store queries.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            member: self.member.id,
            name: self.member.name.clone(),
            clearance: self.member.clearance.level(),
        }
    }
}

struct CacheState {
    generation: u64,
    entries: HashMap<[u8; 32], (Arc<Principal>, Instant)>,
}

/// The verified-credential cache.
pub struct Authenticator {
    key: Vec<u8>,
    hasher: Hasher,
    state: Mutex<CacheState>,
}

impl Authenticator {
    /// A cache keyed under `key` (random per process), checking secrets with `hasher`.
    pub fn new(key: Vec<u8>, hasher: Hasher) -> Self {
        Authenticator {
            key,
            hasher,
            state: Mutex::new(CacheState {
                generation: u64::MAX,
                entries: HashMap::new(),
            }),
        }
    }

    fn mac(&self, header: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(header);
        mac.finalize().into_bytes().into()
    }

    /// Authenticates an `Authorization` header value; blocking (store).
    pub fn authenticate<S: Store>(
        &self,
        store: &S,
        header: Option<&[u8]>,
    ) -> Result<Arc<Principal>, ApiError> {
        let header = header.ok_or(ApiError::Unauthorized)?;
        let generation = store.generation()?;
        let key = self.mac(header);
        {
            let mut st = self
                .state
                .lock()
                .map_err(|_| ApiError::Internal("auth cache poisoned".into()))?;
            if st.generation != generation {
                st.entries.clear();
                st.generation = generation;
            }
            if let Some((p, at)) = st.entries.get(&key)
                && at.elapsed() < CACHE_TTL
            {
                return Ok(p.clone());
            }
        }
        let principal = Arc::new(verify(store, &self.hasher, header)?);
        let mut st = self
            .state
            .lock()
            .map_err(|_| ApiError::Internal("auth cache poisoned".into()))?;
        if st.generation == generation {
            if st.entries.len() >= CACHE_MAX {
                st.entries.clear();
            }
            st.entries.insert(key, (principal.clone(), Instant::now()));
        }
        Ok(principal)
    }
}

/// Checks credentials against the store (the uncached path).
fn verify<S: Store>(store: &S, hasher: &Hasher, header: &[u8]) -> Result<Principal, ApiError> {
    let header = std::str::from_utf8(header).map_err(|_| ApiError::Unauthorized)?;
    let (scheme, value) = header
        .trim()
        .split_once(' ')
        .ok_or(ApiError::Unauthorized)?;
    let value = value.trim();
    let member = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(value).map_err(|_| ApiError::Unauthorized)?;
        let decoded = String::from_utf8(decoded).map_err(|_| ApiError::Unauthorized)?;
        let (name, secret) = decoded.split_once(':').ok_or(ApiError::Unauthorized)?;
        let Some(member) = store.member_by_name(name)? else {
            hasher.verify_nothing(secret);
            return Err(ApiError::Unauthorized);
        };
        check(hasher, secret, &member.secret_hash, |new| {
            store.upgrade_secret_hash(name, &member.secret_hash, new)
        })?;
        member
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let (id, secret) = split_token(value).ok_or(ApiError::Unauthorized)?;
        let Some(token) = store.token(id)? else {
            hasher.verify_nothing(secret);
            return Err(ApiError::Unauthorized);
        };
        check(hasher, secret, &token.secret_hash, |new| {
            store.upgrade_token_hash(id, &token.secret_hash, new)
        })?;
        if token.revoked {
            return Err(ApiError::Unauthorized);
        }
        store
            .member_by_id(token.member)?
            .ok_or(ApiError::Unauthorized)?
    } else {
        return Err(ApiError::Unauthorized);
    };
    if member.disabled {
        return Err(ApiError::Unauthorized);
    }
    let grants = store.grants_of(member.id)?.into_iter().collect();
    Ok(Principal {
        member: Member {
            secret_hash: String::new(),
            ..member
        },
        grants,
    })
}

/// Checks `secret` against `stored`; a legacy hash that matches is replaced by `upgrade`
/// (a failure to replace it is logged, and the login still succeeds).
fn check(
    hasher: &Hasher,
    secret: &str,
    stored: &str,
    upgrade: impl FnOnce(&str) -> detente_store::Result<bool>,
) -> Result<(), ApiError> {
    match hasher.verify(secret, stored) {
        Verdict::Valid => Ok(()),
        Verdict::ValidLegacy => {
            if let Err(e) = upgrade(&hasher.hash(secret)) {
                tracing::warn!(error = %e, "couldn't replace a legacy secret hash");
            }
            Ok(())
        }
        Verdict::Invalid => Err(ApiError::Unauthorized),
        Verdict::Busy => Err(ApiError::Unavailable(
            "too many logins with old-style secret hashes are in progress; retry shortly".into(),
        )),
    }
}
