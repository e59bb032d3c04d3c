//! Contributor signatures on the wire (issue 13): the published extension definition and the
//! members' key bindings with their proofs of inclusion in the log.
//!
//! `GET /signatures/extension-definition` is public (it is the same object on every node).
//! `GET /log/keys` needs any authenticated member: member names are not secrets among a
//! node's members (they address TLP:RED objects and name contributors in receipts), and every
//! reader needs every contributor's binding to check signatures.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use detente_logentry::receipt::{KeyBindingReceipt, encode};
use detente_store::Store;

use crate::App;
use crate::error::ApiError;
use crate::log::{LogService, proof_error};

/// `GET /signatures/extension-definition`: the STIX `extension-definition` object.
pub(crate) async fn extension_definition() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/stix+json;version=2.1"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        detente_sign::EXTENSION_DEFINITION,
    )
        .into_response()
}

/// Every key binding, in log order, each with an inclusion proof against the latest
/// checkpoint. 503 while the newest binding is not yet in a checkpoint.
pub(crate) fn bindings<S: Store>(
    a: &App<S>,
    log: &LogService,
) -> Result<Vec<KeyBindingReceipt>, ApiError> {
    a.store
        .key_bindings()?
        .into_iter()
        .map(|b| {
            let (latest, proof) = log.prover.inclusion(b.log_index).map_err(proof_error)?;
            let checkpoint = String::from_utf8(latest.note.clone())
                .map_err(|e| ApiError::Internal(format!("checkpoint is not UTF-8: {e}")))?;
            Ok(KeyBindingReceipt {
                member: b.member,
                vkey: b.vkey,
                time: b.time,
                superseded_by: b.superseded_by,
                nonce: encode(&b.nonce),
                log_index: b.log_index,
                leaf: encode(&b.leaf),
                checkpoint,
                inclusion_proof: proof.iter().map(|h| h.to_base64()).collect(),
            })
        })
        .collect()
}
