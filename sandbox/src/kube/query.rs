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
        Cause {
            reason: "FieldValueNotSupported",
            field: "dryRun".into(),
            message: format!("Unsupported value: []string{{{v:?}}}: supported values: \"All\""),
        },
    ))
}

/// `fieldValidation` is `Ignore`, `Warn` or `Strict`; true for `Strict`.
pub fn field_validation(method: &Method, v: &str) -> Result<bool, ApiError> {
    match v {
        "Strict" => Ok(true),
        "" | "Ignore" | "Warn" => Ok(false),
        _ => Err(ApiError::invalid_options(
            options_kind(method),
            Cause::not_supported("fieldValidation", v, &["Ignore", "Strict", "Warn"]),
        )),
    }
}

/// `propagationPolicy` is `Orphan`, `Background` or `Foreground`.
pub fn propagation(v: &str) -> Result<String, ApiError> {
    match v {
        "Orphan" | "Background" | "Foreground" => Ok(v.to_string()),
        _ => Err(ApiError::invalid_options(
            "DeleteOptions",
            Cause::not_supported(
                "propagationPolicy",
                v,
                &["Foreground", "Background", "Orphan"],
            ),
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
            Cause::required("fieldManager", "is required for apply patch"),
        ));
    }
    if !apply && force.is_some() {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            Cause::forbidden("force", "may not be specified for non-apply patch"),
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
            Cause::too_long("fieldManager", MAX_MANAGER_BYTES),
        ));
    }
    if let Some((i, c)) = v.char_indices().find(|(_, c)| c.is_control()) {
        return Err(ApiError::invalid_options(
            options_kind(method),
            Cause::invalid(
                "fieldManager",
                &v.escape_default().to_string(),
                &format!("invalid character U+{:04X} (at position {i})", c as u32),
            ),
        ));
    }
    Ok(v.to_string())
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
}
