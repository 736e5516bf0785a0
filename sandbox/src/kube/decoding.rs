//! The typed decoding kube-apiserver does before anything else: a field whose Go type
//! is `map[string]string` (labels, annotations, a ConfigMap's or Secret's data) that
//! arrives as a number, a list or a map of non-strings cannot be decoded, and the
//! request is a 400, not stored as sent. Also the size limits validation puts on them.

use serde_json::Value;

use super::resources::ResourceType;
use super::status::Cause;

/// A ConfigMap's data, or a Secret's, after decoding (`MaxSecretSize`).
pub const MAX_DATA_BYTES: usize = 1 << 20;
/// All annotations of one object, keys and values (`TotalAnnotationSizeLimitB`).
pub const MAX_ANNOTATION_BYTES: usize = 256 << 10;

/// The `map[string]string` fields of `rt`, as (JSON pointer, Go struct field).
fn string_maps(rt: &ResourceType) -> Vec<(&'static str, &'static str)> {
    let mut maps = vec![
        ("/metadata/labels", "ObjectMeta.metadata.labels"),
        ("/metadata/annotations", "ObjectMeta.metadata.annotations"),
    ];
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "ConfigMap") => {
            maps.push(("/data", "ConfigMap.data"));
            maps.push(("/binaryData", "ConfigMap.binaryData"));
        }
        ("", "Secret") => {
            maps.push(("/data", "Secret.data"));
            maps.push(("/stringData", "Secret.stringData"));
        }
        _ => {}
    }
    maps
}

/// Go's name for a JSON value's type in an unmarshal error.
fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The 400 message for an object whose string maps cannot be decoded, as the
/// apiserver's serializer words it.
pub fn typed_decoding_error(rt: &ResourceType, obj: &Value) -> Option<String> {
    let fail = |detail: String| {
        Some(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: json: {detail}",
            kind = rt.kind,
            version = rt.versions[0]
        ))
    };
    for (pointer, field) in string_maps(rt) {
        match obj.pointer(pointer) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                if let Some(v) = map.values().find(|v| !v.is_string() && !v.is_null()) {
                    return fail(format!(
                        "cannot unmarshal {} into Go struct field {field} of type string",
                        go_json_type(v)
                    ));
                }
            }
            Some(other) => {
                return fail(format!(
                    "cannot unmarshal {} into Go struct field {field} of type map[string]string",
                    go_json_type(other)
                ));
            }
        }
    }
    None
}

fn string_entries_len(v: Option<&Value>, value_len: impl Fn(&str) -> usize) -> usize {
    v.and_then(Value::as_object).map_or(0, |m| {
        m.iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, &value_len))
            .sum()
    })
}

/// Bytes that base64 text decodes to.
fn decoded_len(b64: &str) -> usize {
    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(padding)
}

/// The size limits validation enforces on data and annotations.
pub fn size_causes(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let too_long = |field: &str, max: usize| Cause {
        reason: "FieldValueTooLong",
        field: field.into(),
        message: format!("Too long: may not be more than {max} bytes"),
    };
    let annotations = string_entries_len(obj.pointer("/metadata/annotations"), str::len);
    if annotations > MAX_ANNOTATION_BYTES {
        causes.push(too_long("metadata.annotations", MAX_ANNOTATION_BYTES));
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "ConfigMap") => {
            let size = string_entries_len(obj.get("data"), str::len)
                + string_entries_len(obj.get("binaryData"), decoded_len);
            if size > MAX_DATA_BYTES {
                causes.push(too_long("[]", MAX_DATA_BYTES));
            }
        }
        ("", "Secret") => {
            let size = string_entries_len(obj.get("data"), decoded_len)
                + string_entries_len(obj.get("stringData"), str::len);
            if size > MAX_DATA_BYTES {
                causes.push(too_long("data", MAX_DATA_BYTES));
            }
        }
        _ => {}
    }
    causes
}
