//! Reading a request body whole, telling a body over the limit (413) from one the
//! client broke off or framed wrongly (400): both surface from hyper as body errors.

use axum::body::{Body, Bytes};

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("reading the request body: {0}")]
    Broken(String),
}

/// The whole body, at most `max` bytes.
pub async fn read(body: Body, max: usize) -> Result<Bytes, BodyError> {
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
