//! Retries of Kubernetes API requests, one layer under every kube `Client` of a run
//! (the AWS clients use the SDK's standard retry, see `connect`). kube-rs's own policy
//! retries only 429, 503 and 504; a cluster behind a load balancer also answers 500 and
//! 502, resets connections, and an optimistic-concurrency 409 is cured by sending the
//! patch again. Everything the host sends is safe to resend: reads, server-side apply
//! and merge patches (idempotent), and deletes (a repeated delete answers 404, which the
//! capability reports as "already gone"); the host never POSTs a create.

use std::time::Duration;

use hyper::{Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::BoxError;
use tower::retry::Policy;

/// How many times one request is sent at most.
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest a `Retry-After` is honoured; longer ones are capped (a step has a deadline).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The retry policy of one request: exponential backoff with jitter from `base`, at most
/// [`MAX_ATTEMPTS`] attempts, honouring `Retry-After`.
#[derive(Debug, Clone)]
pub struct KubeRetry {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl KubeRetry {
    /// `base` is the first backoff (doubled each retry, up to `cap`).
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 1,
        }
    }

    fn backoff(&self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1 << (self.attempt - 1).min(16))
            .min(self.cap);
        // Jitter keeps retries of parallel steps from arriving in lockstep.
        exp.mul_f64(0.5 + jitter() / 2.0)
    }
}

/// A number in 0..1 that differs from call to call: std's `RandomState` is randomly
/// keyed per instance, which is all jitter needs.
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8) as f64 / u64::MAX as f64
}

/// A kube client for `config` whose requests are retried by [`KubeRetry`] (in place of
/// kube-rs's default retries, which cover only 429, 503 and 504).
pub fn client(
    mut config: kube::Config,
    first_backoff: Duration,
) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    let retry =
        tower::retry::RetryLayer::new(KubeRetry::new(first_backoff, Duration::from_secs(2)));
    Ok(kube::client::ClientBuilder::try_from(config)?
        // Retry needs a service it can clone: the buffer's handle is one.
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&retry)
        .build())
}

/// Whether a response status is worth sending the same request again for.
pub fn transient_status(method: &Method, status: StatusCode) -> bool {
    match status.as_u16() {
        429 | 500 | 502 | 503 | 504 => true,
        // The object changed under the request: a patch (no resourceVersion in it, as the
        // host sends them) applies to the latest version when sent again.
        409 => method == Method::PATCH,
        _ => false,
    }
}

fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let secs: u64 = response
        .headers()
        .get(hyper::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

impl<B> Policy<Request<Body>, Response<B>, BoxError> for KubeRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        if self.attempt >= MAX_ATTEMPTS {
            return None;
        }
        let delay = match result {
            Ok(r) if transient_status(req.method(), r.status()) => {
                retry_after(r).unwrap_or_else(|| self.backoff())
            }
            Ok(_) => return None,
            // The connection failed or was reset: nothing came back.
            Err(_) => self.backoff(),
        };
        tracing::debug!(
            method = %req.method(),
            uri = %req.uri(),
            attempt = self.attempt,
            outcome = %match result {
                Ok(r) => r.status().to_string(),
                Err(e) => e.to_string(),
            },
            ?delay,
            "retrying a Kubernetes request"
        );
        self.attempt += 1;
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        // Streaming bodies cannot be replayed; the host sends none.
        let body = req.body().try_clone()?;
        let mut clone = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(body)
            .ok()?;
        *clone.headers_mut() = req.headers().clone();
        *clone.extensions_mut() = req.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_is_retried() {
        assert!(transient_status(
            &Method::GET,
            StatusCode::TOO_MANY_REQUESTS
        ));
        assert!(transient_status(
            &Method::GET,
            StatusCode::INTERNAL_SERVER_ERROR
        ));
        assert!(transient_status(&Method::PATCH, StatusCode::CONFLICT));
        assert!(!transient_status(&Method::PUT, StatusCode::CONFLICT));
        assert!(!transient_status(&Method::GET, StatusCode::NOT_FOUND));
        assert!(!transient_status(
            &Method::PATCH,
            StatusCode::UNPROCESSABLE_ENTITY
        ));

        let mut p = KubeRetry::new(Duration::from_millis(10), Duration::from_millis(40));
        let mut req = Request::new(Body::empty());
        let mut attempts = 1;
        let mut failed: Result<Response<()>, BoxError> = Err("connection reset".into());
        while p.retry(&mut req, &mut failed).is_some() {
            attempts += 1;
            assert!(p.backoff() <= Duration::from_millis(40));
        }
        assert_eq!(attempts, MAX_ATTEMPTS);

        let mut p = KubeRetry::new(Duration::from_millis(10), Duration::from_millis(40));
        let mut throttled: Result<Response<()>, BoxError> = Ok(Response::builder()
            .status(429)
            .header("retry-after", "3")
            .body(())
            .unwrap());
        let sleep = p.retry(&mut req, &mut throttled).unwrap();
        let left = sleep.deadline() - tokio::time::Instant::now();
        assert!(left > Duration::from_millis(2900), "{left:?}");
        let mut ok: Result<Response<()>, BoxError> = Ok(Response::new(()));
        assert!(p.retry(&mut req, &mut ok).is_none());
    }
}
