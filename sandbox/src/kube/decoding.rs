//! What kube-apiserver's decoder does to an object before anything else, from the Go
//! types of `go_types`: a value of the wrong JSON type for its field (`replicas: "3"`,
//! `containers: {}`, a label that is a number) cannot be decoded and the request is a
//! 400, never stored as sent; `fieldValidation=Strict` reports unknown fields, which
//! are otherwise dropped. Also the size limits validation puts on data and annotations.

use serde_json::Value;

use super::go_types::{self, Struct, Ty};
use super::resources::ResourceType;
use super::status::Cause;

/// A ConfigMap's data, or a Secret's, after decoding (`MaxSecretSize`).
pub const MAX_DATA_BYTES: usize = 1 << 20;
/// All annotations of one object, keys and values (`TotalAnnotationSizeLimitB`).
pub const MAX_ANNOTATION_BYTES: usize = 256 << 10;

/// Go's name for a JSON value's type in an unmarshal error.
fn go_json_type(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

/// How Go's decoder names a value it cannot store: a number that is one, but not of
/// the field's kind of number, is shown (`number 1.5`); other values by type.
fn unstorable(v: &Value, numeric_target: bool) -> String {
    match v {
        Value::Number(_) if numeric_target => go_json_type(v),
        Value::Number(_) => "number".into(),
        _ => go_json_type(v),
    }
}

/// Go's `base64.StdEncoding` decoding, for its error: the offset of the first byte
/// it refuses (`illegal base64 data at input byte 4`). Newlines are skipped.
fn base64_error(s: &str) -> Option<usize> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let src = s.as_bytes();
    let newline = |b: u8| b == b'\n' || b == b'\r';
    let mut si = 0;
    while si < src.len() {
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                return (j != 0).then_some(si - j);
            }
            let b = src[si];
            si += 1;
            if ALPHABET.contains(&b) {
                j += 1;
                continue;
            }
            if newline(b) {
                continue;
            }
            if b != b'=' || j < 2 {
                return Some(si - 1);
            }
            if j == 2 {
                while si < src.len() && newline(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return Some(src.len());
                }
                if src[si] != b'=' {
                    return Some(si - 1);
                }
                si += 1;
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            return (si < src.len()).then_some(si);
        }
    }
    None
}

/// Decodes `v` as Go type `ty`, the field `owner.path` of struct `owner`: the first
/// error, as Go's encoding/json words it.
fn check(v: &Value, ty: &Ty, owner: &str, path: &str) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    let fail = |what: String, ty: &str| {
        Err(format!(
            "json: cannot unmarshal {what} into Go struct field {owner}.{path} of type {ty}"
        ))
    };
    let int_fits = |ty: &Ty, v: &Value| match ty {
        Ty::Int64 => v.as_i64().is_some(),
        _ => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
    };
    match ty {
        Ty::Any => Ok(()),
        Ty::Str if v.is_string() => Ok(()),
        Ty::Bool if v.is_boolean() => Ok(()),
        Ty::Str | Ty::Bool => fail(unstorable(v, false), &ty.go_name()),
        Ty::Int32 | Ty::Int64 if int_fits(ty, v) => Ok(()),
        Ty::Int32 | Ty::Int64 => fail(unstorable(v, true), &ty.go_name()),
        Ty::IntOrStr if v.is_string() || int_fits(&Ty::Int32, v) => Ok(()),
        // IntOrString's own unmarshaller decodes into an int32, outside any struct.
        Ty::IntOrStr => Err(format!(
            "json: cannot unmarshal {} into Go value of type int32",
            unstorable(v, true)
        )),
        Ty::StrMap | Ty::ByteMap => {
            let Value::Object(m) = v else {
                return fail(unstorable(v, false), &ty.go_name());
            };
            for value in m.values() {
                match value {
                    Value::Null => {}
                    Value::String(s) if matches!(ty, Ty::ByteMap) => {
                        if let Some(at) = base64_error(s) {
                            return Err(format!("illegal base64 data at input byte {at}"));
                        }
                    }
                    Value::String(_) => {}
                    other if matches!(ty, Ty::ByteMap) => {
                        return fail(unstorable(other, false), "[]uint8");
                    }
                    other => return fail(unstorable(other, false), "string"),
                }
            }
            Ok(())
        }
        Ty::StrList => {
            let Value::Array(items) = v else {
                return fail(unstorable(v, false), "[]string");
            };
            match items.iter().find(|i| !i.is_string() && !i.is_null()) {
                Some(i) => fail(unstorable(i, false), "string"),
                None => Ok(()),
            }
        }
        Ty::Struct(s) => {
            let Value::Object(m) = v else {
                return fail(unstorable(v, false), &ty.go_name());
            };
            check_fields(m, s, path)
        }
        Ty::List(item) => {
            let Value::Array(items) = v else {
                return fail(unstorable(v, false), &ty.go_name());
            };
            items.iter().try_for_each(|i| check(i, item, owner, path))
        }
    }
}

fn check_fields(m: &serde_json::Map<String, Value>, s: &Struct, path: &str) -> Result<(), String> {
    for (k, child) in m {
        if let Some(t) = s.field(k) {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            check(child, t, s.name, &p)?;
        }
    }
    Ok(())
}

/// The 400 message for an object whose fields cannot be decoded into their Go types,
/// as the apiserver's serializer words it. Kinds not modelled in `go_types` (custom
/// resources among them) have their metadata checked.
pub fn typed_decoding_error(rt: &ResourceType, obj: &Value) -> Option<String> {
    let detail = match (go_types::of_kind(&rt.group, &rt.kind), obj) {
        (Some(s), Value::Object(m)) => check_fields(m, s, ""),
        _ => obj.get("metadata").map_or(Ok(()), |m| {
            check(m, &go_types::OBJECT_META, &rt.kind, "metadata")
        }),
    }
    .err()?;
    Some(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}",
        kind = rt.kind,
        version = rt.versions[0]
    ))
}

fn unknown_in(v: &Value, ty: &Ty, path: &str, out: &mut Vec<String>) {
    match (ty, v) {
        (Ty::Struct(s), Value::Object(m)) => {
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match s.field(k) {
                    Some(t) => unknown_in(child, t, &p, out),
                    None if !s.open => out.push(p),
                    None => {}
                }
            }
        }
        (Ty::List(item), Value::Array(a)) => {
            for (i, x) in a.iter().enumerate() {
                unknown_in(x, item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn prune_in(v: &mut Value, ty: &Ty) {
    match (ty, v) {
        (Ty::Struct(s), Value::Object(m)) => {
            if !s.open {
                m.retain(|k, _| s.field(k).is_some());
            }
            for (k, child) in m.iter_mut() {
                if let Some(t) = s.field(k) {
                    prune_in(child, t);
                }
            }
        }
        (Ty::List(item), Value::Array(a)) => a.iter_mut().for_each(|x| prune_in(x, item)),
        _ => {}
    }
}

/// Without strict validation, unknown fields of built-in kinds are dropped, as the API
/// server's decoder does.
pub fn prune_unknown(rt: &ResourceType, obj: &mut Value) {
    if let Some(s) = go_types::of_kind(&rt.group, &rt.kind) {
        prune_in(obj, &Ty::Struct(s));
    }
}

/// `fieldValidation=Strict`: the fields of a built-in object that its type does not
/// have, as the API server's strict decoding error names them.
pub fn strict_decoding_error(rt: &ResourceType, obj: &Value) -> Option<String> {
    let s = go_types::of_kind(&rt.group, &rt.kind)?;
    let mut unknown = Vec::new();
    unknown_in(obj, &Ty::Struct(s), "", &mut unknown);
    if unknown.is_empty() {
        return None;
    }
    let list: Vec<String> = unknown
        .iter()
        .map(|u| format!("unknown field \"{u}\""))
        .collect();
    Some(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        list.join(", "),
        kind = rt.kind,
        version = rt.versions[0]
    ))
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
    let annotations = string_entries_len(obj.pointer("/metadata/annotations"), str::len);
    if annotations > MAX_ANNOTATION_BYTES {
        causes.push(Cause::too_long(
            "metadata.annotations",
            MAX_ANNOTATION_BYTES,
        ));
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "ConfigMap") => {
            let size = string_entries_len(obj.get("data"), str::len)
                + string_entries_len(obj.get("binaryData"), decoded_len);
            if size > MAX_DATA_BYTES {
                causes.push(Cause::too_long("[]", MAX_DATA_BYTES));
            }
        }
        ("", "Secret") => {
            let size = string_entries_len(obj.get("data"), decoded_len)
                + string_entries_len(obj.get("stringData"), str::len);
            if size > MAX_DATA_BYTES {
                causes.push(Cause::too_long("data", MAX_DATA_BYTES));
            }
        }
        _ => {}
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin(plural: &str) -> ResourceType {
        super::super::resources::builtin_named(plural).unwrap()
    }

    fn error(plural: &str, obj: Value) -> Option<String> {
        typed_decoding_error(&builtin(plural), &obj)
    }

    /// Values of the wrong JSON type for the built-in kinds' typed fields are refused
    /// with Go's unmarshal error, naming the innermost struct and the field's full path.
    #[test]
    fn wrongly_typed_fields_are_refused_with_gos_unmarshal_error() {
        let deploy = |spec: Value| json!({"metadata": {"name": "d"}, "spec": spec});
        for (plural, obj, message) in [
            (
                "deployments",
                deploy(json!({"replicas": "3"})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
            ),
            (
                "deployments",
                deploy(json!({"replicas": 1.5})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
            ),
            (
                "deployments",
                deploy(json!({"replicas": 3_000_000_000_i64})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32",
            ),
            (
                "deployments",
                deploy(json!({"paused": "yes"})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
            ),
            (
                "deployments",
                deploy(json!({"template": {"spec": {"containers": {"name": "c"}}}})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container",
            ),
            (
                "deployments",
                deploy(json!({"template": {"spec": {"containers": ["c"]}}})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type v1.Container",
            ),
            (
                "deployments",
                deploy(
                    json!({"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]}}}),
                ),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32",
            ),
            (
                "deployments",
                deploy(json!({"template": {"metadata": {"labels": {"app": 1}}}})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal number into Go struct field ObjectMeta.spec.template.metadata.labels of type string",
            ),
            (
                "deployments",
                deploy(json!({"selector": {"matchLabels": ["a"]}})),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal array into Go struct field LabelSelector.spec.selector.matchLabels of type map[string]string",
            ),
            (
                "deployments",
                json!({"metadata": {"name": 5}}),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string",
            ),
            (
                "deployments",
                json!({"metadata": "x"}),
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field Deployment.metadata of type v1.ObjectMeta",
            ),
            (
                "statefulsets",
                json!({"spec": {"replicas": true}}),
                "StatefulSet in version \"v1\" cannot be handled as a StatefulSet: json: cannot unmarshal bool into Go struct field StatefulSetSpec.spec.replicas of type int32",
            ),
            (
                "services",
                json!({"spec": {"ports": [{"port": "80"}]}}),
                "Service in version \"v1\" cannot be handled as a Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32",
            ),
            (
                "services",
                json!({"spec": {"ports": [{"port": 80, "targetPort": true}]}}),
                "Service in version \"v1\" cannot be handled as a Service: json: cannot unmarshal bool into Go value of type int32",
            ),
            (
                "ingresses",
                json!({"spec": {"rules": {"host": "a"}}}),
                "Ingress in version \"v1\" cannot be handled as a Ingress: json: cannot unmarshal object into Go struct field IngressSpec.spec.rules of type []v1.IngressRule",
            ),
            (
                "ingresses",
                json!({"spec": {"rules": [{"http": {"paths": [{"backend": {"service": {"name": "s", "port": {"number": "80"}}}}]}}]}}),
                "Ingress in version \"v1\" cannot be handled as a Ingress: json: cannot unmarshal string into Go struct field ServiceBackendPort.spec.rules.http.paths.backend.service.port.number of type int32",
            ),
            (
                "configmaps",
                json!({"data": 5}),
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type map[string]string",
            ),
            (
                "configmaps",
                json!({"immutable": "true"}),
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal string into Go struct field ConfigMap.immutable of type bool",
            ),
            (
                "secrets",
                json!({"data": {"k": "not base64!"}}),
                "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3",
            ),
            (
                "jobs",
                json!({"spec": {"backoffLimit": "6"}}),
                "Job in version \"v1\" cannot be handled as a Job: json: cannot unmarshal string into Go struct field JobSpec.spec.backoffLimit of type int32",
            ),
            (
                "nodes",
                json!({"metadata": {"labels": {"a": [1]}}}),
                "Node in version \"v1\" cannot be handled as a Node: json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type string",
            ),
        ] {
            assert_eq!(
                error(plural, obj.clone()).as_deref(),
                Some(message),
                "{obj}"
            );
        }
        // Well-typed values, nulls and int-or-strings pass.
        for (plural, obj) in [
            (
                "deployments",
                deploy(
                    json!({"replicas": 3, "paused": null, "template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}}),
                ),
            ),
            (
                "services",
                json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}}),
            ),
            (
                "secrets",
                json!({"data": {"k": "aGVsbG8=", "l": "YQ==\n", "m": ""}}),
            ),
        ] {
            assert_eq!(error(plural, obj.clone()), None, "{obj}");
        }
    }

    #[test]
    fn base64_errors_name_the_byte_go_names() {
        for (text, at) in [
            ("aGVsbG8=", None),
            ("aGVsbG8", Some(4)),
            ("abc", Some(0)),
            ("ab=c", Some(2)),
            ("a===", Some(1)),
            ("YQ==YQ==", Some(4)),
            ("ab\ncd", None),
            ("ab*d", Some(2)),
            ("ab=", Some(3)),
        ] {
            assert_eq!(base64_error(text), at, "{text:?}");
        }
    }
}
