//! Cloud errors onto the plugin contract's error variant, so a plugin branches on a
//! kind (`not-found`, `throttled`, ...) and never parses an SDK's message. The message
//! keeps the service's own code and text, because that is what an operator searches for.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::bindings::PluginError;

/// The error kinds of the contract, without their messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Denied,
    NotFound,
    Conflict,
    Invalid,
    Throttled,
    Unavailable,
    Timeout,
    Internal,
}

impl Kind {
    pub fn with(self, message: String) -> PluginError {
        match self {
            Kind::Denied => PluginError::Denied(message),
            Kind::NotFound => PluginError::NotFound(message),
            Kind::Conflict => PluginError::Conflict(message),
            Kind::Invalid => PluginError::Invalid(message),
            Kind::Throttled => PluginError::Throttled(message),
            Kind::Unavailable => PluginError::Unavailable(message),
            Kind::Timeout => PluginError::Timeout(message),
            Kind::Internal => PluginError::Internal(message),
        }
    }
}

/// The kind of an AWS error code (as in `<Code>` or `__type`), falling back on the
/// HTTP status for codes this table does not know.
pub fn aws_kind(code: &str, status: Option<u16>) -> Kind {
    const THROTTLED: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "BandwidthLimitExceeded",
    ];
    const DENIED: &[&str] = &[
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "OperationNotPermitted",
        "OperationNotPermittedException",
    ];
    const CONFLICT: &[&str] = &[
        "ConflictException",
        "ConcurrentModification",
        "AcceleratorNotDisabledException",
        "AssociatedListenerFoundException",
        "AssociatedEndpointGroupFoundException",
        "EndpointGroupAlreadyExistsException",
        "HostedZoneAlreadyExists",
        "HostedZoneNotEmpty",
        "ResourceInUse",
        "ResourceInUseException",
        "DuplicateLoadBalancerName",
        "DuplicateTargetGroupName",
        "DuplicateListener",
        "DuplicateTagKeys",
        "InvalidChangeBatch",
    ];
    const UNAVAILABLE: &[&str] = &[
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalServerError",
    ];
    if THROTTLED.contains(&code) {
        Kind::Throttled
    } else if DENIED.contains(&code) {
        Kind::Denied
    } else if CONFLICT.contains(&code) || code.contains("AlreadyExists") {
        Kind::Conflict
    } else if UNAVAILABLE.contains(&code) {
        Kind::Unavailable
    } else if code.contains("NotFound") || code.starts_with("NoSuch") {
        Kind::NotFound
    } else if code.starts_with("Invalid")
        || code.starts_with("Validation")
        || code.contains("LimitExceeded")
        || code.starts_with("TooMany")
    {
        Kind::Invalid
    } else {
        status.map_or(Kind::Internal, http_kind)
    }
}

/// The kind of an HTTP status without a code the table knows.
pub fn http_kind(status: u16) -> Kind {
    match status {
        401 | 403 => Kind::Denied,
        404 | 410 => Kind::NotFound,
        409 => Kind::Conflict,
        429 => Kind::Throttled,
        408 | 504 => Kind::Timeout,
        400..=499 => Kind::Invalid,
        500..=599 => Kind::Unavailable,
        _ => Kind::Internal,
    }
}

/// An aws-sdk-rust error (after the SDK's own retries) as a plugin error; `op` is the
/// API operation, e.g. `CreateAccelerator`.
pub fn sdk<E>(op: &str, err: SdkError<E, HttpResponse>) -> PluginError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            let code = e.code().unwrap_or("");
            let message = e.message().unwrap_or("");
            let text = match (code, message) {
                ("", "") => format!("{op}: HTTP {status}"),
                ("", m) => format!("{op}: HTTP {status}: {m}"),
                (c, "") => format!("{op}: {c}"),
                (c, m) => format!("{op}: {c}: {m}"),
            };
            aws_kind(code, Some(status)).with(text)
        }
        SdkError::TimeoutError(_) => Kind::Timeout.with(format!("{op}: timed out")),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                Kind::Timeout
            } else {
                Kind::Unavailable
            };
            kind.with(format!(
                "{op}: could not reach the service: {}",
                chain(&err)
            ))
        }
        SdkError::ResponseError(_) => {
            Kind::Unavailable.with(format!("{op}: unreadable response: {}", chain(&err)))
        }
        SdkError::ConstructionFailure(_) => {
            Kind::Invalid.with(format!("{op}: invalid request: {}", chain(&err)))
        }
        _ => Kind::Internal.with(format!("{op}: {}", chain(&err))),
    }
}

/// A kube-rs error as a plugin error; `what` says what was being done.
pub fn kube(what: &str, err: kube::Error) -> PluginError {
    match &err {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!("{}: ", status.reason)
            };
            let kind = match status.reason.as_str() {
                "AlreadyExists" | "Conflict" => Kind::Conflict,
                "NotFound" => Kind::NotFound,
                "Forbidden" | "Unauthorized" => Kind::Denied,
                "Invalid" | "BadRequest" => Kind::Invalid,
                "TooManyRequests" => Kind::Throttled,
                "Timeout" => Kind::Timeout,
                _ => http_kind(status.code),
            };
            kind.with(format!("{what}: {reason}{}", status.message))
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => Kind::Unavailable.with(format!(
            "{what}: could not reach the Kubernetes API: {}",
            chain(&err)
        )),
        kube::Error::BuildRequest(_) => {
            Kind::Invalid.with(format!("{what}: invalid request: {}", chain(&err)))
        }
        _ => Kind::Internal.with(format!("{what}: {}", chain(&err))),
    }
}

/// An error and its sources, on one line.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(aws_kind("ThrottlingException", Some(400)), Kind::Throttled);
        assert_eq!(aws_kind("Throttling", Some(400)), Kind::Throttled);
        assert_eq!(
            aws_kind("AcceleratorNotFoundException", Some(400)),
            Kind::NotFound
        );
        assert_eq!(aws_kind("NoSuchHostedZone", Some(404)), Kind::NotFound);
        assert_eq!(aws_kind("LoadBalancerNotFound", Some(400)), Kind::NotFound);
        assert_eq!(aws_kind("AccessDeniedException", Some(400)), Kind::Denied);
        assert_eq!(aws_kind("AccessDenied", Some(403)), Kind::Denied);
        assert_eq!(
            aws_kind("AcceleratorNotDisabledException", Some(400)),
            Kind::Conflict
        );
        assert_eq!(
            aws_kind("InvalidArgumentException", Some(400)),
            Kind::Invalid
        );
        assert_eq!(aws_kind("ValidationError", Some(400)), Kind::Invalid);
        assert_eq!(aws_kind("InvalidChangeBatch", Some(400)), Kind::Conflict);
        assert_eq!(aws_kind("ServiceUnavailable", Some(503)), Kind::Unavailable);
        assert_eq!(aws_kind("", Some(503)), Kind::Unavailable);
        assert_eq!(aws_kind("Weird", Some(404)), Kind::NotFound);
        assert_eq!(aws_kind("Weird", None), Kind::Internal);
    }
}
