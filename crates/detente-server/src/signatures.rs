//! Contributor signatures on the wire (issue 13): the published extension definition. The
//! members' key bindings with their proofs of inclusion are the log's (`GET /log/keys`,
//! [`crate::log`]).
//!
//! `GET /signatures/extension-definition` is public (it is the same object on every node).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

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
