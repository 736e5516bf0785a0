//! Query parameters decoded as kube-apiserver decodes them: a value its parameter codec
//! cannot convert is a 400, an option its validation refuses a 422, never ignored. A
//! sandbox that read `dryRun=Foo` as "not a dry run" would persist what the real server
//! refuses.

use axum::http::Method;

use super::managed_fields::MAX_MANAGER_BYTES;
use super::status::{ApiError, Cause};

/// Go's `strconv.ParseBool`, which the parameter codec uses.
pub fn boolean(v: &str) -> Result<bool, ApiError> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "strconv.ParseBool: parsing {v:?}: invalid syntax"
        ))),
    }
}

/// Go's `strconv.ParseInt(v, 10, 64)`.
pub fn int64(v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: {why}"))
    })
}

/// A resource version is empty or the decimal number the store hands out.
pub fn resource_version(v: String) -> Result<String, ApiError> {
    if v.is_empty() || v.parse::<u64>().is_ok() {
        Ok(v)
    } else {
        Err(ApiError::bad_request(format!(
            "invalid resource version {v:?}"
        )))
    }
}

/// The options kind a write's validation names.
fn options_kind(method: &Method) -> &'static str {
    match *method {
        Method::POST => "CreateOptions",
        Method::PUT => "UpdateOptions",
        Method::PATCH => "PatchOptions",
        Method::DELETE => "DeleteOptions",
        _ => "ListOptions",
    }
}

/// `dryRun` takes only `All`.
pub fn dry_run(method: &Method, v: &str) -> Result<bool, ApiError> {
    if v == "All" {
        return Ok(true);
    }
    Err(ApiError::invalid_options(
        options_kind(method),
        vec![Cause {
            reason: "FieldValueNotSupported",
            field: "dryRun".into(),
            message: format!("Unsupported value: []string{{{v:?}}}: supported values: \"All\""),
        }],
    ))
}

/// `fieldValidation` is `Ignore`, `Warn` or `Strict`; true for `Strict`.
pub fn field_validation(method: &Method, v: &str) -> Result<bool, ApiError> {
    match v {
        "Strict" => Ok(true),
        "" | "Ignore" | "Warn" => Ok(false),
        _ => Err(ApiError::invalid_options(
            options_kind(method),
            vec![Cause::not_supported(
                "fieldValidation",
                v,
                &["Ignore", "Strict", "Warn"],
            )],
        )),
    }
}

/// `propagationPolicy` is `Orphan`, `Background` or `Foreground`.
pub fn propagation(v: &str) -> Result<String, ApiError> {
    match v {
        "Orphan" | "Background" | "Foreground" => Ok(v.to_string()),
        _ => Err(ApiError::invalid_options(
            "DeleteOptions",
            vec![Cause::not_supported(
                "propagationPolicy",
                v,
                &["Foreground", "Background", "Orphan"],
            )],
        )),
    }
}

/// The write options a patch's type constrains (`ValidatePatchOptions`): an apply must
/// name its manager, and `force` is for applies only (even `force=false`).
pub fn patch_options(
    apply: bool,
    field_manager: &str,
    force: Option<bool>,
) -> Result<(), ApiError> {
    if apply && field_manager.is_empty() {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            vec![Cause::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    if !apply && force.is_some() {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            vec![Cause::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
        ));
    }
    Ok(())
}

/// `fieldManager`: at most 128 bytes, printable characters only
/// (`ValidateFieldManager`).
pub fn field_manager(method: &Method, v: &str) -> Result<String, ApiError> {
    if v.len() > MAX_MANAGER_BYTES {
        return Err(ApiError::invalid_options(
            options_kind(method),
            vec![Cause::too_long("fieldManager", MAX_MANAGER_BYTES)],
        ));
    }
    if let Some((i, c)) = v.char_indices().find(|(_, c)| c.is_control()) {
        return Err(ApiError::invalid_options(
            options_kind(method),
            vec![Cause::invalid(
                "fieldManager",
                &v.escape_default().to_string(),
                &format!("invalid character U+{:04X} (at position {i})", c as u32),
            )],
        ));
    }
    Ok(v.to_string())
}

/// What a list or watch asks for, as `ValidateListOptions` checks it.
pub struct ListOptions<'a> {
    pub watch: bool,
    pub resource_version: Option<&'a str>,
    pub resource_version_match: Option<&'a str>,
    pub send_initial_events: Option<bool>,
    pub continue_token: Option<&'a str>,
}

/// `resourceVersionMatch` and `sendInitialEvents` only in the combinations the server
/// can honour: every violation is one cause of a 422 `ListOptions`.
pub fn list_options(o: &ListOptions) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let rv = o.resource_version.unwrap_or("");
    let rv_match = o.resource_version_match.unwrap_or("");
    let continuing = o.continue_token.is_some_and(|c| !c.is_empty());
    let forbidden = |why: &str| Cause::forbidden("resourceVersionMatch", why);
    if o.watch {
        if o.send_initial_events.is_some() && rv_match != "NotOlderThan" {
            causes.push(forbidden(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !rv_match.is_empty() {
            if o.send_initial_events.is_none() {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if rv_match != "NotOlderThan" {
                causes.push(Cause::not_supported(
                    "resourceVersionMatch",
                    rv_match,
                    &["NotOlderThan"],
                ));
            }
            if continuing {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
    } else {
        if !rv_match.is_empty() {
            if rv.is_empty() {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if continuing {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if rv_match != "Exact" && rv_match != "NotOlderThan" {
                causes.push(Cause::not_supported(
                    "resourceVersionMatch",
                    rv_match,
                    &["Exact", "NotOlderThan", ""],
                ));
            }
            if rv_match == "Exact" && rv == "0" {
                causes.push(forbidden(
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if o.send_initial_events.is_some() {
            causes.push(Cause::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_options("ListOptions", causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_parameter_codec_cannot_convert_are_400() {
        assert!(boolean("True").unwrap());
        assert!(!boolean("0").unwrap());
        assert_eq!(boolean("yes").unwrap_err().code, 400);
        assert_eq!(int64("-5").unwrap(), -5);
        let e = int64("99999999999999999999").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                400,
                "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
            )
        );
        assert_eq!(int64("1e3").unwrap_err().code, 400);
        assert_eq!(resource_version("abc".into()).unwrap_err().code, 400);
        assert_eq!(resource_version("42".into()).unwrap(), "42");
    }

    #[test]
    fn options_validation_refuses_unknown_values_with_422() {
        assert!(dry_run(&Method::POST, "All").unwrap());
        let e = dry_run(&Method::POST, "Foo").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Foo\"}: supported values: \"All\""
        );
        assert_eq!(
            field_validation(&Method::PATCH, "strict").unwrap_err().code,
            422
        );
        assert!(field_validation(&Method::PUT, "Strict").unwrap());
        assert_eq!(propagation("Sometimes").unwrap_err().code, 422);
    }

    #[test]
    fn resource_version_match_and_send_initial_events_only_where_they_mean_something() {
        let list = |rv: Option<&'static str>, m: Option<&'static str>, initial: Option<bool>| {
            ListOptions {
                watch: false,
                resource_version: rv,
                resource_version_match: m,
                send_initial_events: initial,
                continue_token: None,
            }
        };
        let message = |o: ListOptions| list_options(&o).unwrap_err().message;
        assert_eq!(
            message(list(None, Some("NotOlderThan"), None)),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        assert_eq!(
            message(list(None, Some("Newest"), None)),
            "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, resourceVersionMatch: Unsupported value: \"Newest\": supported values: \"Exact\", \"NotOlderThan\", \"\"]"
        );
        assert_eq!(
            message(list(Some("0"), Some("Exact"), None)),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""
        );
        assert_eq!(
            message(list(None, None, Some(true))),
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
        );
        assert!(list_options(&list(Some("5"), Some("NotOlderThan"), None)).is_ok());
        // A watch: kube-rs' streaming list is fine, a bare sendInitialEvents is not.
        let watch = |m: Option<&'static str>, initial: Option<bool>| ListOptions {
            watch: true,
            ..list(None, m, initial)
        };
        assert!(list_options(&watch(Some("NotOlderThan"), Some(true))).is_ok());
        assert_eq!(
            message(watch(None, Some(true))),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        );
        assert_eq!(
            list_options(&watch(Some("NotOlderThan"), None))
                .unwrap_err()
                .code,
            422
        );
    }
}
