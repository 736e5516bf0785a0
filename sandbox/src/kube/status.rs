//! Kubernetes-shaped errors: every failure leaves the API as a `Status` object with the
//! code, reason and (for 422) the causes that kubectl and kube-rs know how to print.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// A failed API request, rendered as a `metav1.Status`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// One field-level cause of a 422 Invalid.
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        let mut e = ApiError::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", rt.qualified(), name),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.plural}));
        e
    }

    pub fn path_not_found() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        let mut e = ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", rt.qualified(), name),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.plural}));
        e
    }

    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        let mut e = ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                rt.qualified(),
                name
            ),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.plural}));
        e
    }

    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::invalid_in(&rt.group, &rt.kind, name, causes)
    }

    /// 422 Invalid for object `name` of `kind` in `group`, as `NewInvalid` words it: one
    /// cause inline, several as a bracketed list.
    fn invalid_in(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let summary: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let kind_group = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let message = if summary.len() == 1 {
            format!("{kind_group} \"{name}\" is invalid: {}", summary[0])
        } else {
            format!(
                "{kind_group} \"{name}\" is invalid: [{}]",
                summary.join(", ")
            )
        };
        let mut e = ApiError::new(422, "Invalid", message);
        e.details = Some(json!({
            "name": name, "group": group, "kind": kind,
            "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
        }));
        e
    }

    /// A request option the server refuses, as kube-apiserver's handlers report it:
    /// 422 `CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ...`.
    pub fn invalid_options(kind: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::invalid_in("meta.k8s.io", kind, "", causes)
    }

    /// A 409 whose causes say which fields conflict (server-side apply's), without the
    /// object's name, as kube-apiserver's `NewApplyConflict` leaves it out.
    pub fn conflict_with_causes(message: String, causes: Vec<Value>) -> ApiError {
        let mut e = ApiError::new(409, "Conflict", message);
        e.details = Some(json!({ "causes": causes }));
        e
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 413, as kube-apiserver's `NewRequestEntityTooLargeError` words it.
    pub fn too_large(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: {detail}"),
        )
    }

    pub fn unsupported_media(ct: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/vnd.kubernetes.protobuf (the built-in kinds kubectl's typed clients write), application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (as JSON) (got {ct:?})"
            ),
        )
    }

    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// What API Priority and Fairness answers when it sheds a request (with a
    /// `Retry-After` header of the same seconds).
    pub fn too_many_requests(retry_after_s: u64) -> ApiError {
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        e.details = Some(json!({"retryAfterSeconds": retry_after_s}));
        e
    }

    pub fn unavailable() -> ApiError {
        ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl Cause {
    pub fn required(field: &str, what: &str) -> Cause {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: format!("Required value: {what}"),
        }
    }

    pub fn invalid(field: &str, value: &str, why: &str) -> Cause {
        Cause {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: \"{value}\": {why}"),
        }
    }

    pub fn forbidden(field: &str, why: &str) -> Cause {
        Cause {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {why}"),
        }
    }

    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> Cause {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
        }
    }

    pub fn too_long(field: &str, max: usize) -> Cause {
        Cause {
            reason: "FieldValueTooLong",
            field: field.into(),
            message: format!("Too long: may not be more than {max} bytes"),
        }
    }
}
