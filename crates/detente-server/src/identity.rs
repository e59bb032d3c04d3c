//! `GET /whoami`: the authenticated member and its STIX identity on this node, so a member's
//! tools (`detente scan --push`) can name the member as the sighting party
//! (`where_sighted_refs`) without inventing an identity per machine.
//!
//! The identity id is a UUIDv5 of the member name under a namespace made randomly once per
//! node, so it is stable across restarts and distinct between nodes; its `created` is when
//! that namespace was made, so the object never gains spurious versions.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use detente_store::Store;
use detente_taxii::time::format_micros;
use serde_json::json;

use crate::App;
use crate::error::ApiError;

/// Bytes of the stored namespace secret: a 16-byte UUID namespace, then the creation time
/// (µs since the epoch, big-endian).
const SECRET_LEN: usize = 24;

/// A new namespace secret.
pub(crate) fn init() -> Vec<u8> {
    let mut v = uuid::Uuid::new_v4().as_bytes().to_vec();
    v.extend_from_slice(&crate::now_micros().to_be_bytes());
    v
}

/// The STIX identity of `member` on the node whose namespace secret is `secret`.
pub(crate) fn identity(secret: &[u8], member: &str) -> Result<serde_json::Value, ApiError> {
    let (ns, created) = secret
        .split_first_chunk::<16>()
        .and_then(|(ns, rest)| Some((ns, i64::from_be_bytes(*rest.first_chunk::<8>()?))))
        .filter(|_| secret.len() == SECRET_LEN)
        .ok_or_else(|| ApiError::Internal("the identity namespace secret is malformed".into()))?;
    let id = uuid::Uuid::new_v5(&uuid::Uuid::from_bytes(*ns), member.as_bytes());
    let created = format_micros(created);
    Ok(json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": format!("identity--{id}"),
        "created": created,
        "modified": created,
        "name": member,
        "identity_class": "organization",
    }))
}

/// `GET /whoami`.
pub(crate) async fn whoami<S: Store>(State(app): State<Arc<App<S>>>, req: Request) -> Response {
    let authz = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let answer = crate::access::blocking(&app, move |a| {
        let p = a.auth.authenticate(&*a.store, authz.as_deref())?;
        let body = json!({
            "member": p.member.name,
            "role": p.member.role.as_str(),
            "identity": identity(&a.identity_secret, &p.member.name)?,
        });
        Ok(body.to_string())
    })
    .await;
    match answer {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_stable_per_node_and_member() {
        let a = init();
        let b = init();
        let alice = identity(&a, "alice").unwrap();
        assert_eq!(alice, identity(&a, "alice").unwrap());
        assert_ne!(alice["id"], identity(&a, "bob").unwrap()["id"]);
        assert_ne!(alice["id"], identity(&b, "alice").unwrap()["id"]);
        assert_eq!(alice["created"], alice["modified"]);
        detente_stix::validate_object(&alice).unwrap();
        assert!(identity(&a[..10], "alice").is_err());
    }
}
