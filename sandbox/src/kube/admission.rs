//! What the API server does to an object before storing it: defaulting (the fields a
//! real server fills in, such as a Service's clusterIP and nodePorts) and validation
//! (the 422 Invalid rules clients rely on: names, labels, selectors, required fields),
//! and custom resources checked against their CRD's schema.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::names;
use super::objects::set_path;
use super::resources::ResourceType;
use super::selector;
use super::status::Cause;
use super::store::Store;

/// Validates an object about to be stored. `name` is the final name.
pub fn validate(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    validate_metadata(rt, obj, name, &mut causes);
    causes.extend(super::decoding::size_causes(rt, obj));
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") => {
            validate_workload(obj, &mut causes)
        }
        ("", "pods") => validate_pod_spec(obj.get("spec"), "spec", &mut causes),
        ("batch", "jobs") => {
            let spec = obj.pointer("/spec/template/spec");
            validate_pod_spec(spec, "spec.template.spec", &mut causes);
            let policy = spec
                .and_then(|s| s.get("restartPolicy"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if policy != "Never" && policy != "OnFailure" {
                causes.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: "spec.template.spec.restartPolicy".into(),
                    message: format!("Unsupported value: \"{policy}\": supported values: \"OnFailure\", \"Never\""),
                });
            }
        }
        ("", "services") => validate_service(obj, &mut causes),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            validate_crd(obj, name, &mut causes)
        }
        _ => {}
    }
    causes
}

/// Causes for every message of `check` on `value`, at `field`.
fn each(causes: &mut Vec<Cause>, field: &str, value: &str, messages: Vec<String>) {
    causes.extend(messages.iter().map(|m| Cause::invalid(field, value, m)));
}

/// `ValidateObjectMeta`: the name (and generateName prefix) in the syntax the kind
/// requires, label and annotation keys, label values, finalizers.
fn validate_metadata(rt: &ResourceType, obj: &Value, name: &str, causes: &mut Vec<Cause>) {
    let syntax: fn(&str) -> Vec<String> = match (rt.group.as_str(), rt.plural.as_str()) {
        ("rbac.authorization.k8s.io", _) => path_segment,
        ("", "namespaces") => names::dns1123_label,
        ("", "services") => names::dns1035_label,
        _ => names::dns1123_subdomain,
    };
    let meta = |k: &str| obj.pointer(&format!("/metadata/{k}"));
    if let Some(prefix) = meta("generateName")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
    {
        each(
            causes,
            "metadata.generateName",
            prefix,
            syntax(&names::as_prefix(prefix)),
        );
    }
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        each(causes, "metadata.name", name, syntax(name));
    }
    for (k, v) in meta("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        each(causes, "metadata.labels", k, names::qualified_name(k));
        if let Some(v) = v.as_str() {
            each(causes, "metadata.labels", v, names::label_value(v));
        }
    }
    for k in meta("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        each(
            causes,
            "metadata.annotations",
            k,
            names::qualified_name(&k.to_lowercase()),
        );
    }
    for f in meta("finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        each(causes, "metadata.finalizers", f, names::qualified_name(f));
    }
}

/// RBAC names only need to be usable as one path segment.
fn path_segment(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

fn validate_workload(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    if let Some(r) = spec.and_then(|s| s.get("replicas"))
        && r.as_i64().is_none_or(|r| r < 0)
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            &r.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    let selector = spec.and_then(|s| s.get("selector"));
    let labels = spec
        .and_then(|s| s.pointer("/template/metadata/labels"))
        .cloned()
        .unwrap_or(json!({}));
    match selector {
        None => causes.push(Cause::required("spec.selector", "")),
        Some(sel) if selector::is_empty(sel) => causes.push(Cause::invalid(
            "spec.selector",
            "{}",
            "empty selector is invalid for deployment",
        )),
        Some(sel) => {
            if !selector::matches_selector(sel, labels.as_object()) {
                causes.push(Cause::invalid(
                    "spec.template.metadata.labels",
                    &labels.to_string(),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    validate_pod_spec(
        spec.and_then(|s| s.pointer("/template/spec")),
        "spec.template.spec",
        causes,
    );
}

fn validate_pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match containers {
        None => causes.push(Cause::required(&format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => {
            causes.push(Cause::required(&format!("{path}.containers"), ""))
        }
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    causes.push(Cause::required(&format!("{path}.containers[{i}].name"), ""));
                } else {
                    let field = format!("{path}.containers[{i}].name");
                    each(causes, &field, name, names::dns1123_label(name));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    causes.push(Cause::required(
                        &format!("{path}.containers[{i}].image"),
                        "",
                    ));
                }
                for (j, p) in c
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                    if !(1..=65535).contains(&port) {
                        causes.push(Cause::invalid(
                            &format!("{path}.containers[{i}].ports[{j}].containerPort"),
                            &port.to_string(),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                }
            }
        }
    }
}

fn validate_service(obj: &Value, causes: &mut Vec<Cause>) {
    let ty = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty) {
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: "spec.type".into(),
            message: format!("Unsupported value: \"{ty}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
        });
    }
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if ports.is_none_or(|p| p.is_empty())
        && ty != "ExternalName"
        && obj.pointer("/spec/clusterIP") != Some(&json!("None"))
    {
        causes.push(Cause::required("spec.ports", ""));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            causes.push(Cause::invalid(
                &format!("spec.ports[{i}].port"),
                &port.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(np) = p.get("nodePort").and_then(Value::as_i64)
            && np != 0
            && !(30000..=32767).contains(&np)
        {
            causes.push(Cause::invalid(
                &format!("spec.ports[{i}].nodePort"),
                &np.to_string(),
                "provided port is not in the valid range. The range of valid ports is 30000-32767",
            ));
        }
    }
}

fn validate_crd(obj: &Value, name: &str, causes: &mut Vec<Cause>) {
    let group = obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    if group.is_empty() {
        causes.push(Cause::required("spec.group", ""));
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural", ""));
    }
    if obj
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        causes.push(Cause::required("spec.names.kind", ""));
    }
    if obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .is_none_or(|v| v.is_empty())
    {
        causes.push(Cause::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
}

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("just made an object")
}

fn default_field(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    let m = spec.as_object_mut().expect("object");
    default_field(m, "restartPolicy", json!("Always"));
    default_field(m, "dnsPolicy", json!("ClusterFirst"));
    default_field(m, "schedulerName", json!("default-scheduler"));
    default_field(m, "terminationGracePeriodSeconds", json!(30));
    default_field(m, "securityContext", json!({}));
    for key in ["containers", "initContainers"] {
        for c in m
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(c) = c.as_object_mut() else { continue };
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let last = image.rsplit('/').next().unwrap_or("");
            let pull = if image.contains('@') || (last.contains(':') && !last.ends_with(":latest"))
            {
                "IfNotPresent"
            } else {
                "Always"
            };
            default_field(c, "imagePullPolicy", json!(pull));
            default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
            default_field(c, "terminationMessagePolicy", json!("File"));
            default_field(c, "resources", json!({}));
            for p in c
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(p) = p.as_object_mut() {
                    default_field(p, "protocol", json!("TCP"));
                }
            }
        }
    }
}

/// Fills in the fields the server owns or defaults. `old` is the stored object on update.
pub fn default(rt: &ResourceType, obj: &mut Value, old: Option<&Value>, store: &Store) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let labels = obj_mut(obj, "metadata")
                .entry("labels")
                .or_insert(json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = json!(name);
            default_field(obj_mut(obj, "spec"), "finalizers", json!(["kubernetes"]));
            default_field(obj_mut(obj, "status"), "phase", json!("Active"));
        }
        ("apps", "deployments") => {
            let spec = obj_mut(obj, "spec");
            default_field(spec, "replicas", json!(1));
            default_field(spec, "revisionHistoryLimit", json!(10));
            default_field(spec, "progressDeadlineSeconds", json!(600));
            default_field(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            if let Some(t) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
                default_pod_spec(t);
            }
        }
        ("batch", "jobs") => default_job(obj),
        ("apps", "replicasets" | "statefulsets" | "daemonsets") => {
            let spec = obj_mut(obj, "spec");
            match rt.plural.as_str() {
                "daemonsets" => default_field(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                ),
                "statefulsets" => {
                    default_field(spec, "replicas", json!(1));
                    default_field(spec, "podManagementPolicy", json!("OrderedReady"));
                    default_field(
                        spec,
                        "updateStrategy",
                        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                    );
                }
                _ => default_field(spec, "replicas", json!(1)),
            }
            if rt.plural != "replicasets" {
                default_field(spec, "revisionHistoryLimit", json!(10));
            }
            if let Some(t) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
                default_pod_spec(t);
            }
        }
        ("", "pods") => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
            default_field(obj_mut(obj, "status"), "phase", json!("Pending"));
        }
        ("", "services") => default_service(obj, old, store),
        ("", "secrets") => {
            let m = obj.as_object_mut().expect("object");
            default_field(m, "type", json!("Opaque"));
            if let Some(Value::Object(sd)) = m.remove("stringData") {
                let data = obj_mut(obj, "data");
                for (k, v) in sd {
                    data.insert(k, json!(base64(v.as_str().unwrap_or("").as_bytes())));
                }
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect();
            // The conditions never change once set: keep their times, so re-applying an
            // unchanged CRD is a no-op (same resourceVersion), as on a real API server.
            let now = old
                .and_then(|o| o.pointer("/status/conditions/0/lastTransitionTime"))
                .cloned()
                .unwrap_or_else(|| json!(super::time::now()));
            let status = obj_mut(obj, "status");
            status.insert("acceptedNames".into(), names);
            status.insert("storedVersions".into(), json!(stored));
            status.insert(
                "conditions".into(),
                json!([
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
                ]),
            );
        }
        _ => {}
    }
}

/// A Job selects its pods by its own uid, as the Job controller's defaulting does.
fn default_job(obj: &mut Value) {
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let spec = obj_mut(obj, "spec");
    default_field(spec, "parallelism", json!(1));
    default_field(spec, "completions", json!(1));
    default_field(spec, "backoffLimit", json!(6));
    default_field(spec, "completionMode", json!("NonIndexed"));
    default_field(spec, "suspend", json!(false));
    let manual = spec.get("manualSelector") == Some(&json!(true));
    if !manual && !uid.is_empty() {
        default_field(
            spec,
            "selector",
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
        let mut labels = obj
            .pointer("/spec/template/metadata/labels")
            .filter(|l| l.is_object())
            .cloned()
            .unwrap_or(json!({}));
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels[k] = json!(v);
        }
        set_path(obj, &["spec", "template", "metadata", "labels"], labels);
    }
    if let Some(t) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(t);
    }
}

fn default_service(obj: &mut Value, old: Option<&Value>, store: &Store) {
    let spec = obj_mut(obj, "spec");
    default_field(spec, "type", json!("ClusterIP"));
    default_field(spec, "sessionAffinity", json!("None"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty == "ExternalName" {
        return;
    }
    default_field(spec, "internalTrafficPolicy", json!("Cluster"));
    default_field(spec, "ipFamilies", json!(["IPv4"]));
    default_field(spec, "ipFamilyPolicy", json!("SingleStack"));
    if ty == "NodePort" || ty == "LoadBalancer" {
        default_field(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    // The clusterIP and nodePorts are immutable once allocated: keep the old ones.
    let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned();
    if spec
        .get("clusterIP")
        .is_none_or(|v| v.as_str().unwrap_or("").is_empty())
    {
        let ip = old_ip.unwrap_or_else(|| json!(allocate_cluster_ip(store)));
        spec.insert("clusterIP".into(), ip);
    }
    let ip = spec["clusterIP"].clone();
    spec.insert("clusterIPs".into(), json!([ip]));
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut used = used_node_ports(store);
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(p) = p.as_object_mut() else { continue };
        default_field(p, "protocol", json!("TCP"));
        if let Some(port) = p.get("port").cloned() {
            default_field(p, "targetPort", port);
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                let previous = old_ports
                    .iter()
                    .find(|o| o.get("port") == p.get("port") && o.get("nodePort").is_some())
                    .and_then(|o| o.get("nodePort").cloned());
                let np = previous.unwrap_or_else(|| {
                    let np = (30000..=32767).find(|n| !used.contains(n)).unwrap_or(30000);
                    used.insert(np);
                    json!(np)
                });
                p.insert("nodePort".into(), np);
            }
        } else {
            p.remove("nodePort");
        }
    }
    default_field(obj_mut(obj, "status"), "loadBalancer", json!({}));
}

fn used_node_ports(store: &Store) -> BTreeSet<i64> {
    store
        .list("/services", None)
        .flat_map(|s| {
            s.pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
        .collect()
}

fn allocate_cluster_ip(store: &Store) -> String {
    let used: BTreeSet<String> = store
        .list("/services", None)
        .filter_map(|s| {
            s.pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    (10u32..65_000)
        .map(|n| format!("10.96.{}.{}", n / 254, n % 254 + 1))
        .find(|ip| !used.contains(ip))
        .unwrap_or_else(|| "10.96.255.254".into())
}

/// Standard base64 (for Secret `stringData`).
pub fn base64(input: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What checking a custom resource against its CRD's structural schema found.
#[derive(Default)]
pub struct SchemaReport {
    pub unknown: Vec<String>,
    pub causes: Vec<Cause>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn schema_walk(v: &mut Value, schema: &Value, path: &str, report: &mut SchemaReport) {
    let sub = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    if schema.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
        if !(v.is_string() || type_name(v) == "integer") {
            report.causes.push(Cause::invalid(
                path,
                &v.to_string(),
                &format!("{path} in body must be of type int-or-string"),
            ));
        }
        return;
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(v);
        let ok = actual == ty || (ty == "number" && actual == "integer");
        if !ok {
            let shown = match v {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            report.causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                field: path.to_string(),
                message: format!(
                    "Invalid value: \"{actual}\": {path} in body must be of type {ty}: \"{shown}\""
                ),
            });
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        report.causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: path.to_string(),
            message: format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        });
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            for (k, d) in props.into_iter().flatten() {
                if !m.contains_key(k)
                    && let Some(default) = d.get("default")
                {
                    m.insert(k.clone(), default.clone());
                }
            }
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = r.as_str()
                    && m.get(r).is_none_or(Value::is_null)
                {
                    report.causes.push(Cause::required(&sub(r), ""));
                }
            }
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                // The object's own envelope is the API server's, not the schema's.
                if path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&k.as_str()) {
                    continue;
                }
                let child_schema = props.and_then(|p| p.get(&k)).or(additional);
                match child_schema {
                    Some(cs) => {
                        if m.get(&k).is_some_and(Value::is_null)
                            && cs.get("nullable") != Some(&json!(true))
                        {
                            m.remove(&k);
                            continue;
                        }
                        schema_walk(m.get_mut(&k).expect("present"), cs, &sub(&k), report)
                    }
                    None if preserve || (props.is_none() && schema.get("type").is_none()) => {}
                    None => {
                        report.unknown.push(sub(&k));
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    schema_walk(item, item_schema, &format!("{path}[{i}]"), report);
                }
            }
        }
        _ => {}
    }
}

/// Prunes unknown fields, applies defaults and type-checks a custom resource against
/// its CRD's `openAPIV3Schema`, as the API server does for structural schemas.
pub fn check_custom(schema: &Value, obj: &mut Value) -> SchemaReport {
    let mut report = SchemaReport::default();
    schema_walk(obj, schema, "", &mut report);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi!"), "aGkh");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
