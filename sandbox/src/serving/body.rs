//! Reading a request body whole, telling a body over the limit (413) from one the
//! client broke off or framed wrongly (400): both surface from hyper as body errors.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("reading the request body: {0}")]
    Broken(String),
}

/// The whole body, at most `max` bytes. A body declared too large is refused before
/// it is read: answering while the client is still uploading can reach it as a
/// connection reset instead of a 413 (curl waits for `100 Continue` on big bodies).
pub async fn read(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge(max));
    }
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return BodyError::TooLarge(max);
            }
            cause = c.source();
        }
        BodyError::Broken(e.to_string())
    })
}
