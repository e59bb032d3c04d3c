//! Responses and request parameters the endpoints share: TAXII and plain JSON bodies,
//! integer query parameters, the TAXII status resource.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use detente_taxii::media::TAXII_21;
use detente_taxii::time::format_micros;
use detente_taxii::{Status, StatusDetails};
use serde::Serialize;

use crate::Config;
use crate::error::ApiError;

/// A 200 (or other) response with a TAXII body.
pub(crate) fn taxii(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_21));
    r
}

/// A 200 with a JSON body (these endpoints are not TAXII resources).
pub(crate) fn json<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// The integer query parameter `name`, or `default` when absent (400 when not an integer).
pub(crate) fn int_param(query: &str, name: &str, default: i64) -> Result<i64, ApiError> {
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == name {
            return v.parse().map_err(|_| {
                ApiError::BadRequest(format!("`{name}` must be an integer, not {v:?}"))
            });
        }
    }
    Ok(default)
}

/// The `limit` query parameter of a paged JSON endpoint: the node's default page size when
/// absent, at least 1 and at most its largest page (400 when not an integer).
pub(crate) fn limit_param(query: &str, config: &Config) -> Result<usize, ApiError> {
    let limit = int_param(query, "limit", config.default_page_size as i64)?;
    // Below 1 means one item; the clamp below keeps the page inside the node's limit.
    Ok(usize::try_from(limit.max(1))
        .unwrap_or(1)
        .min(config.max_page_size))
}

/// Builds the TAXII status resource of a stored status record.
pub(crate) fn status_view(s: &detente_store::StatusRecord) -> Status {
    let d = |v: &[detente_store::StatusDetail]| -> Vec<StatusDetails> {
        v.iter()
            .map(|d| StatusDetails {
                id: d.id.clone(),
                version: d.version.clone(),
                message: d.message.clone(),
            })
            .collect()
    };
    // Each stored object's message says where its transparency-log receipt is.
    let mut successes = d(&s.successes);
    for x in &mut successes {
        if x.message.is_none() {
            let mut at = format!("/log/receipt/{}/{}", s.collection, x.id);
            if !x.version.is_empty() {
                at.push_str("?version=");
                at.extend(form_urlencoded::byte_serialize(x.version.as_bytes()));
            }
            x.message = Some(format!("receipt: {at}"));
        }
    }
    Status {
        id: s.id.clone(),
        status: "complete".to_owned(),
        request_timestamp: Some(format_micros(s.request_timestamp)),
        total_count: (s.successes.len() + s.failures.len()) as u64,
        success_count: s.successes.len() as u64,
        successes,
        failure_count: s.failures.len() as u64,
        failures: d(&s.failures),
        pending_count: 0,
        pendings: Vec::new(),
    }
}
