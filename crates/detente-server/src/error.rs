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
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
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
        if matches!(self, ApiError::Unavailable(_)) {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
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
