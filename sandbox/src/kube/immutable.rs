//! The fields kube-apiserver refuses to change once set, checked on every update with
//! its messages (k8s.io/kubernetes `ValidateXUpdate`, v1.32): a workload's selector, most
//! of a StatefulSet's spec, a Job's pod template, a Service's cluster IP, the data of an
//! immutable ConfigMap or Secret, a Secret's type, and finalizers added to an object
//! being deleted.

use serde_json::{Map, Value};

use super::resources::ResourceType;
use super::status::Cause;

/// Equality as apimachinery's `Semantic.DeepEqual` sees it: a missing, null or empty
/// map or list is the same as any other.
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn normal(v: Option<&Value>) -> Option<Value> {
        match v? {
            Value::Null => None,
            Value::Object(m) => {
                let m: Map<String, Value> = m
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), normal(Some(v))?)))
                    .collect();
                (!m.is_empty()).then_some(Value::Object(m))
            }
            Value::Array(a) if a.is_empty() => None,
            v => Some(v.clone()),
        }
    }
    normal(a) == normal(b)
}

/// A JSON string in Go's `%q`.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Go's `%#v` of a `[]string`.
fn go_strings(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => "[]string(nil)".into(),
        Some(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| quoted(i.as_str().unwrap_or("")))
                .collect();
            format!("[]string{{{}}}", items.join(", "))
        }
    }
}

/// Go's `%#v` of a `metav1.LabelSelector`, as a 422 shows one; `null` for none.
fn go_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return "null".into();
    };
    let labels = match sel.get("matchLabels").and_then(Value::as_object) {
        None => "map[string]string(nil)".into(),
        Some(m) => {
            let pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", quoted(k), quoted(v.as_str().unwrap_or(""))))
                .collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
    };
    let expressions = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".into(),
        Some(reqs) => {
            let reqs: Vec<String> = reqs
                .iter()
                .map(|r| {
                    let s = |k: &str| quoted(r.get(k).and_then(Value::as_str).unwrap_or(""));
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        s("key"),
                        s("operator"),
                        go_strings(r.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", reqs.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

/// `ValidateImmutableField`'s cause: the new value, shown as Go shows it.
fn immutable(field: &str, shown: String) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field.into(),
        message: format!("Invalid value: {shown}: field is immutable"),
    }
}

/// The causes of refusing `new` as an update of `old`.
pub fn update_causes(rt: &ResourceType, old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let at = |v: &Value, p: &str| v.pointer(p).cloned();
    let changed = |p: &str| !same(old.pointer(p), new.pointer(p));
    if let Some(added) = new_finalizers(old, new) {
        causes.push(Cause::forbidden(
            "metadata.finalizers",
            &format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{added}}}"),
        ));
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment" | "DaemonSet") if changed("/spec/selector") => causes.push(
            immutable("spec.selector", go_selector(new.pointer("/spec/selector"))),
        ),
        ("apps", "StatefulSet") => {
            const MUTABLE: &[&str] = &[
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            let rest = |v: &Value| {
                let mut spec = at(v, "/spec").unwrap_or(Value::Null);
                if let Some(m) = spec.as_object_mut() {
                    m.retain(|k, _| !MUTABLE.contains(&k.as_str()));
                }
                spec
            };
            if !same(Some(&rest(old)), Some(&rest(new))) {
                causes.push(Cause::forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        ("batch", "Job") => {
            if changed("/spec/selector") {
                causes.push(immutable(
                    "spec.selector",
                    go_selector(new.pointer("/spec/selector")),
                ));
            }
            // A suspended Job's template may still be adjusted before it starts.
            let suspended = old.pointer("/spec/suspend") == Some(&Value::Bool(true));
            if changed("/spec/template") && !suspended {
                causes.push(immutable(
                    "spec.template",
                    "core.PodTemplateSpec{...}".into(),
                ));
            }
            if changed("/spec/completionMode") {
                let mode = new.pointer("/spec/completionMode").and_then(Value::as_str);
                causes.push(immutable(
                    "spec.completionMode",
                    mode.map_or("null".into(), quoted),
                ));
            }
            let elastic = new.pointer("/spec/completionMode") == Some(&Value::from("Indexed"))
                && new.pointer("/spec/completions") == new.pointer("/spec/parallelism");
            if changed("/spec/completions") && !elastic {
                let n = new
                    .pointer("/spec/completions")
                    .map_or("null".into(), Value::to_string);
                causes.push(immutable("spec.completions", n));
            }
        }
        ("", "Service") => {
            let ip = |v: &Value| {
                v.pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let external =
                |v: &Value| v.pointer("/spec/type") == Some(&Value::from("ExternalName"));
            let (before, after) = (ip(old), ip(new));
            let headless = before == "None" && after == "None";
            if !external(old)
                && !external(new)
                && !headless
                && !before.is_empty()
                && before != after
            {
                causes.push(Cause {
                    reason: "FieldValueInvalid",
                    field: "spec.clusterIPs[0]".into(),
                    message: format!(
                        "Invalid value: {}: may not change once set",
                        go_strings(new.pointer("/spec/clusterIPs"))
                    ),
                });
            }
        }
        ("", "ConfigMap" | "Secret") => {
            if old.get("immutable") == Some(&Value::Bool(true)) {
                let why = "field is immutable when `immutable` is set";
                if new.get("immutable") != Some(&Value::Bool(true)) {
                    causes.push(Cause::forbidden("immutable", why));
                }
                for field in ["data", "binaryData"] {
                    if !same(old.get(field), new.get(field)) {
                        causes.push(Cause::forbidden(field, why));
                    }
                }
            }
            if rt.kind == "Secret" && old.get("type") != new.get("type") {
                let ty = new.get("type").and_then(Value::as_str).unwrap_or("");
                causes.push(immutable("type", quoted(ty)));
            }
        }
        _ => {}
    }
    causes
}

/// Finalizers `new` adds to an object that is being deleted, as Go prints the list.
fn new_finalizers(old: &Value, new: &Value) -> Option<String> {
    old.pointer("/metadata/deletionTimestamp")?;
    let list = |v: &Value| -> Vec<String> {
        v.pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    };
    let before = list(old);
    let mut added: Vec<String> = list(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    added.sort();
    added.dedup();
    (!added.is_empty()).then(|| {
        added
            .iter()
            .map(|f| quoted(f))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin(plural: &str) -> ResourceType {
        super::super::resources::builtin_named(plural).unwrap()
    }

    fn messages(plural: &str, old: Value, new: Value) -> Vec<String> {
        update_causes(&builtin(plural), &old, &new)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn immutable_fields_are_refused_with_kube_apiservers_words() {
        let deploy = |sel: Value| json!({"spec": {"selector": sel, "replicas": 1}});
        assert_eq!(
            messages(
                "deployments",
                deploy(json!({"matchLabels": {"app": "a"}})),
                deploy(json!({"matchLabels": {"app": "b"}}))
            ),
            [
                r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"b"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
            ]
        );
        // Only the selector: replicas may change, and an empty list is no list.
        assert!(messages("deployments",
            json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "replicas": 1}}),
            json!({"spec": {"selector": {"matchLabels": {"app": "a"}, "matchExpressions": []}, "replicas": 3}})).is_empty());
        let sts = |claims: Value, replicas: i64| json!({"spec": {"replicas": replicas, "serviceName": "s", "volumeClaimTemplates": claims}});
        assert!(messages("statefulsets", sts(json!([]), 1), sts(json!([]), 5)).is_empty());
        assert_eq!(
            messages(
                "statefulsets",
                sts(json!([]), 1),
                sts(json!([{"metadata": {"name": "data"}}]), 1)
            ),
            [
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
            ]
        );
        let svc =
            |ip: &str| json!({"spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip]}});
        assert_eq!(
            messages("services", svc("10.96.0.10"), svc("10.96.0.99")),
            [
                r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set"#
            ]
        );
        assert!(messages("services", svc("10.96.0.10"), svc("10.96.0.10")).is_empty());
        let cm = |immutable: bool, v: &str| json!({"immutable": immutable, "data": {"k": v}});
        assert_eq!(
            messages("configmaps", cm(true, "1"), cm(false, "2")),
            [
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
        assert!(messages("configmaps", cm(false, "1"), cm(true, "2")).is_empty());
        assert_eq!(
            messages(
                "secrets",
                json!({"type": "Opaque"}),
                json!({"type": "kubernetes.io/tls"})
            ),
            [r#"type: Invalid value: "kubernetes.io/tls": field is immutable"#]
        );
        let job = |image: &str| json!({"spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        assert_eq!(
            messages("jobs", job("a"), job("b")),
            ["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"]
        );
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/x"]}});
        let more = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/x", "b/y"]}});
        assert_eq!(
            messages("configmaps", deleting, more),
            [
                r#"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"b/y"}"#
            ]
        );
    }
}
