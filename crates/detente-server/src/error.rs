//! [`ApiError`]: every failure the node reports, rendered as a TAXII error resource.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use detente_taxii::ErrorMessage;
use detente_taxii::media::TAXII_21;

/// A failed request. Internal causes are logged, never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a malformed request (query, cursor, body).
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong credentials.
    #[error("authentication required")]
    Unauthorized,
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// 405: the resource exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 406: the Accept header asks for something other than TAXII 2.1.
    #[error("the Accept header must include application/taxii+json;version=2.1")]
    NotAcceptable,
    /// 408: the request body did not arrive within the body timeout.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 409: a concurrent change kept conflicting with this one (after the node's retries);
    /// nothing changed and the request may be repeated.
    #[error("a concurrent change conflicted with this request; nothing was changed, retry it")]
    Conflict,
    /// 413: the body exceeds max_content_length.
    #[error("the request body exceeds max_content_length ({0} bytes)")]
    TooLarge(usize),
    /// 415: the body is not TAXII 2.1.
    #[error("the Content-Type must be application/taxii+json;version=2.1")]
    UnsupportedMediaType,
    /// 422: a well-formed body the node cannot process.
    #[error("{0}")]
    Unprocessable(String),
    /// 503: not ready yet; retry after a second.
    #[error("{0}")]
    Unavailable(String),
    /// 503: the store cannot be reached now; retry after this many seconds (the cause is
    /// logged only).
    #[error("storage is unavailable; retry later")]
    StoreUnavailable {
        /// Seconds for `Retry-After`.
        retry_after: u64,
        /// Why, for the log.
        cause: String,
    },
    /// 500: a storage or internal failure (details logged only).
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) | ApiError::StoreUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<detente_store::StoreError> for ApiError {
    fn from(e: detente_store::StoreError) -> Self {
        match e {
            detente_store::StoreError::NotFound(what) => {
                ApiError::NotFound(format!("{what} not found"))
            }
            detente_store::StoreError::Conflict(cause) => {
                tracing::warn!(%cause, "store conflict persisted through retries");
                ApiError::Conflict
            }
            detente_store::StoreError::Unavailable {
                reason,
                retry_after,
            } => ApiError::StoreUnavailable {
                retry_after: retry_after.as_secs().max(1),
                cause: reason,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::StoreUnavailable { cause, .. } => {
                tracing::warn!(%cause, "store unavailable")
            }
            _ => {}
        }
        let title = status.canonical_reason().unwrap_or("error").to_owned();
        let body = ErrorMessage {
            title,
            description: Some(self.to_string()),
            http_status: Some(status.as_u16().to_string()),
        };
        let json = serde_json::to_string(&body).unwrap_or_else(|_| "{\"title\":\"error\"}".into());
        let mut resp = (status, json).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_21));
        match &self {
            ApiError::Unavailable(_) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::StoreUnavailable { retry_after, .. } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        if matches!(self, ApiError::Unauthorized) {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"detente\", Bearer realm=\"detente\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detente_store::StoreError;

    #[test]
    fn retryable_store_errors_become_409_and_503_with_retry_after() {
        let r = ApiError::from(StoreError::Conflict("could not serialize".into())).into_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let r = ApiError::from(StoreError::Unavailable {
            reason: "connection refused to 10.0.0.7".into(),
            retry_after: std::time::Duration::from_secs(3),
        })
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        // The cause stays in the log, not in the answer.
        let e = ApiError::from(StoreError::Unavailable {
            reason: "connection refused to 10.0.0.7".into(),
            retry_after: std::time::Duration::from_millis(10),
        });
        assert!(!e.to_string().contains("10.0.0.7"));
        assert_eq!(
            e.into_response().headers()[header::RETRY_AFTER],
            "1",
            "never Retry-After: 0"
        );
    }
}
