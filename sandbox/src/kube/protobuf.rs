//! Kubernetes' protobuf encoding, which kubectl's typed clients use for writes
//! (`kubectl create namespace|deployment|job|ingress|configmap|secret|service|role...`,
//! `expose`, `run`). A client-go typed client cannot fall back to JSON, so the kinds those commands
//! send are decoded here into the same JSON the rest of the server stores: an envelope
//! (`k8s\0` + `runtime.Unknown`), then the object by a field-number table per message.
//! Field numbers are those of k8s.io/api's generated.proto; unknown fields are skipped.

use serde_json::{Map, Value, json};

use super::admission::base64;
use super::status::ApiError;
use super::time;

#[derive(Clone, Copy)]
enum K {
    Str,
    Int,
    Bool,
    /// `bytes`, rendered base64 as in JSON.
    Bytes,
    Msg(fn() -> &'static [F]),
    /// A message whose fields are inlined into the parent (Go embedded structs).
    Inline(fn() -> &'static [F]),
    MapStr,
    MapBytes,
    /// map<string, Quantity>
    MapQuantity,
    IntOrString,
    Time,
}

/// One field: number, JSON name, kind, repeated.
#[derive(Clone, Copy)]
struct F(u32, &'static str, K, bool);

const fn f(n: u32, name: &'static str, k: K) -> F {
    F(n, name, k, false)
}

const fn r(n: u32, name: &'static str, k: K) -> F {
    F(n, name, k, true)
}

fn object_meta() -> &'static [F] {
    const S: &[F] = &[
        f(1, "name", K::Str),
        f(2, "generateName", K::Str),
        f(3, "namespace", K::Str),
        f(5, "uid", K::Str),
        f(6, "resourceVersion", K::Str),
        f(7, "generation", K::Int),
        f(8, "creationTimestamp", K::Time),
        f(9, "deletionTimestamp", K::Time),
        f(10, "deletionGracePeriodSeconds", K::Int),
        f(11, "labels", K::MapStr),
        f(12, "annotations", K::MapStr),
        r(13, "ownerReferences", K::Msg(owner_reference)),
        r(14, "finalizers", K::Str),
    ];
    S
}

fn owner_reference() -> &'static [F] {
    const S: &[F] = &[
        f(1, "kind", K::Str),
        f(3, "name", K::Str),
        f(4, "uid", K::Str),
        f(5, "apiVersion", K::Str),
        f(6, "controller", K::Bool),
        f(7, "blockOwnerDeletion", K::Bool),
    ];
    S
}

fn label_selector() -> &'static [F] {
    const S: &[F] = &[
        f(1, "matchLabels", K::MapStr),
        r(2, "matchExpressions", K::Msg(label_selector_requirement)),
    ];
    S
}

fn label_selector_requirement() -> &'static [F] {
    const S: &[F] = &[
        f(1, "key", K::Str),
        f(2, "operator", K::Str),
        r(3, "values", K::Str),
    ];
    S
}

fn namespace() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "spec", K::Msg(namespace_spec)),
    ];
    S
}

fn namespace_spec() -> &'static [F] {
    const S: &[F] = &[r(1, "finalizers", K::Str)];
    S
}

fn config_map() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "data", K::MapStr),
        f(3, "binaryData", K::MapBytes),
        f(4, "immutable", K::Bool),
    ];
    S
}

fn secret() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "data", K::MapBytes),
        f(3, "type", K::Str),
        f(4, "stringData", K::MapStr),
        f(5, "immutable", K::Bool),
    ];
    S
}

fn local_object_reference() -> &'static [F] {
    const S: &[F] = &[f(1, "name", K::Str)];
    S
}

fn object_reference() -> &'static [F] {
    const S: &[F] = &[
        f(1, "kind", K::Str),
        f(2, "namespace", K::Str),
        f(3, "name", K::Str),
        f(4, "uid", K::Str),
        f(5, "apiVersion", K::Str),
    ];
    S
}

fn service_account() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        r(2, "secrets", K::Msg(object_reference)),
        r(3, "imagePullSecrets", K::Msg(local_object_reference)),
        f(4, "automountServiceAccountToken", K::Bool),
    ];
    S
}

fn service() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "spec", K::Msg(service_spec)),
    ];
    S
}

fn service_spec() -> &'static [F] {
    const S: &[F] = &[
        r(1, "ports", K::Msg(service_port)),
        f(2, "selector", K::MapStr),
        f(3, "clusterIP", K::Str),
        f(4, "type", K::Str),
        r(5, "externalIPs", K::Str),
        f(7, "sessionAffinity", K::Str),
        f(8, "loadBalancerIP", K::Str),
        r(9, "loadBalancerSourceRanges", K::Str),
        f(10, "externalName", K::Str),
        f(11, "externalTrafficPolicy", K::Str),
        f(13, "publishNotReadyAddresses", K::Bool),
        f(17, "ipFamilyPolicy", K::Str),
        r(18, "clusterIPs", K::Str),
        r(19, "ipFamilies", K::Str),
        f(22, "internalTrafficPolicy", K::Str),
    ];
    S
}

fn service_port() -> &'static [F] {
    const S: &[F] = &[
        f(1, "name", K::Str),
        f(2, "protocol", K::Str),
        f(3, "port", K::Int),
        f(4, "targetPort", K::IntOrString),
        f(5, "nodePort", K::Int),
        f(6, "appProtocol", K::Str),
    ];
    S
}

fn pod() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "spec", K::Msg(pod_spec)),
    ];
    S
}

fn pod_template_spec() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "spec", K::Msg(pod_spec)),
    ];
    S
}

fn pod_spec() -> &'static [F] {
    const S: &[F] = &[
        r(2, "containers", K::Msg(container)),
        f(3, "restartPolicy", K::Str),
        f(4, "terminationGracePeriodSeconds", K::Int),
        f(5, "activeDeadlineSeconds", K::Int),
        f(6, "dnsPolicy", K::Str),
        f(7, "nodeSelector", K::MapStr),
        f(8, "serviceAccountName", K::Str),
        f(9, "serviceAccount", K::Str),
        f(10, "nodeName", K::Str),
        f(11, "hostNetwork", K::Bool),
        r(15, "imagePullSecrets", K::Msg(local_object_reference)),
        f(16, "hostname", K::Str),
        f(17, "subdomain", K::Str),
        f(19, "schedulerName", K::Str),
        r(20, "initContainers", K::Msg(container)),
        f(21, "automountServiceAccountToken", K::Bool),
        f(24, "priorityClassName", K::Str),
        f(30, "enableServiceLinks", K::Bool),
    ];
    S
}

fn container() -> &'static [F] {
    const S: &[F] = &[
        f(1, "name", K::Str),
        f(2, "image", K::Str),
        r(3, "command", K::Str),
        r(4, "args", K::Str),
        f(5, "workingDir", K::Str),
        r(6, "ports", K::Msg(container_port)),
        r(7, "env", K::Msg(env_var)),
        f(8, "resources", K::Msg(resource_requirements)),
        f(13, "terminationMessagePath", K::Str),
        f(14, "imagePullPolicy", K::Str),
        f(16, "stdin", K::Bool),
        f(17, "stdinOnce", K::Bool),
        f(18, "tty", K::Bool),
        f(20, "terminationMessagePolicy", K::Str),
    ];
    S
}

fn container_port() -> &'static [F] {
    const S: &[F] = &[
        f(1, "name", K::Str),
        f(2, "hostPort", K::Int),
        f(3, "containerPort", K::Int),
        f(4, "protocol", K::Str),
        f(5, "hostIP", K::Str),
    ];
    S
}

fn env_var() -> &'static [F] {
    const S: &[F] = &[
        f(1, "name", K::Str),
        f(2, "value", K::Str),
        f(3, "valueFrom", K::Msg(env_var_source)),
    ];
    S
}

fn env_var_source() -> &'static [F] {
    const S: &[F] = &[
        f(1, "fieldRef", K::Msg(object_field_selector)),
        f(3, "configMapKeyRef", K::Msg(key_selector)),
        f(4, "secretKeyRef", K::Msg(key_selector)),
    ];
    S
}

fn object_field_selector() -> &'static [F] {
    const S: &[F] = &[f(1, "apiVersion", K::Str), f(2, "fieldPath", K::Str)];
    S
}

fn key_selector() -> &'static [F] {
    const S: &[F] = &[
        f(1, "", K::Inline(local_object_reference)),
        f(2, "key", K::Str),
        f(3, "optional", K::Bool),
    ];
    S
}

fn resource_requirements() -> &'static [F] {
    const S: &[F] = &[
        f(1, "limits", K::MapQuantity),
        f(2, "requests", K::MapQuantity),
    ];
    S
}

fn ingress() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "spec", K::Msg(ingress_spec)),
    ];
    S
}

fn ingress_spec() -> &'static [F] {
    const S: &[F] = &[
        f(1, "defaultBackend", K::Msg(ingress_backend)),
        r(2, "tls", K::Msg(ingress_tls)),
        r(3, "rules", K::Msg(ingress_rule)),
        f(4, "ingressClassName", K::Str),
    ];
    S
}

fn ingress_backend() -> &'static [F] {
    const S: &[F] = &[f(4, "service", K::Msg(ingress_service_backend))];
    S
}

fn ingress_service_backend() -> &'static [F] {
    const S: &[F] = &[
        f(1, "name", K::Str),
        f(2, "port", K::Msg(service_backend_port)),
    ];
    S
}

fn service_backend_port() -> &'static [F] {
    const S: &[F] = &[f(1, "name", K::Str), f(2, "number", K::Int)];
    S
}

fn ingress_tls() -> &'static [F] {
    const S: &[F] = &[r(1, "hosts", K::Str), f(2, "secretName", K::Str)];
    S
}

fn ingress_rule() -> &'static [F] {
    // IngressRuleValue is inlined into the rule in JSON.
    const S: &[F] = &[
        f(1, "host", K::Str),
        f(2, "", K::Inline(ingress_rule_value)),
    ];
    S
}

fn ingress_rule_value() -> &'static [F] {
    const S: &[F] = &[f(1, "http", K::Msg(http_ingress_rule_value))];
    S
}

fn http_ingress_rule_value() -> &'static [F] {
    const S: &[F] = &[r(1, "paths", K::Msg(http_ingress_path))];
    S
}

fn http_ingress_path() -> &'static [F] {
    const S: &[F] = &[
        f(1, "path", K::Str),
        f(2, "backend", K::Msg(ingress_backend)),
        f(3, "pathType", K::Str),
    ];
    S
}

fn job() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "spec", K::Msg(job_spec)),
    ];
    S
}

fn job_spec() -> &'static [F] {
    const S: &[F] = &[
        f(1, "parallelism", K::Int),
        f(2, "completions", K::Int),
        f(3, "activeDeadlineSeconds", K::Int),
        f(4, "selector", K::Msg(label_selector)),
        f(5, "manualSelector", K::Bool),
        f(6, "template", K::Msg(pod_template_spec)),
        f(7, "backoffLimit", K::Int),
        f(8, "ttlSecondsAfterFinished", K::Int),
        f(9, "completionMode", K::Str),
        f(10, "suspend", K::Bool),
    ];
    S
}

fn deployment() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        f(2, "spec", K::Msg(deployment_spec)),
    ];
    S
}

fn deployment_spec() -> &'static [F] {
    const S: &[F] = &[
        f(1, "replicas", K::Int),
        f(2, "selector", K::Msg(label_selector)),
        f(3, "template", K::Msg(pod_template_spec)),
        f(4, "strategy", K::Msg(deployment_strategy)),
        f(5, "minReadySeconds", K::Int),
        f(6, "revisionHistoryLimit", K::Int),
        f(7, "paused", K::Bool),
        f(9, "progressDeadlineSeconds", K::Int),
    ];
    S
}

fn deployment_strategy() -> &'static [F] {
    const S: &[F] = &[
        f(1, "type", K::Str),
        f(2, "rollingUpdate", K::Msg(rolling_update)),
    ];
    S
}

fn rolling_update() -> &'static [F] {
    const S: &[F] = &[
        f(1, "maxUnavailable", K::IntOrString),
        f(2, "maxSurge", K::IntOrString),
    ];
    S
}

fn role() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        r(2, "rules", K::Msg(policy_rule)),
    ];
    S
}

fn policy_rule() -> &'static [F] {
    const S: &[F] = &[
        r(1, "verbs", K::Str),
        r(2, "apiGroups", K::Str),
        r(3, "resources", K::Str),
        r(4, "resourceNames", K::Str),
        r(5, "nonResourceURLs", K::Str),
    ];
    S
}

fn role_binding() -> &'static [F] {
    const S: &[F] = &[
        f(1, "metadata", K::Msg(object_meta)),
        r(2, "subjects", K::Msg(subject)),
        f(3, "roleRef", K::Msg(role_ref)),
    ];
    S
}

fn subject() -> &'static [F] {
    const S: &[F] = &[
        f(1, "kind", K::Str),
        f(2, "apiGroup", K::Str),
        f(3, "name", K::Str),
        f(4, "namespace", K::Str),
    ];
    S
}

fn role_ref() -> &'static [F] {
    const S: &[F] = &[
        f(1, "apiGroup", K::Str),
        f(2, "kind", K::Str),
        f(3, "name", K::Str),
    ];
    S
}

fn type_meta() -> &'static [F] {
    const S: &[F] = &[f(1, "apiVersion", K::Str), f(2, "kind", K::Str)];
    S
}

/// The kinds we decode, by (apiVersion, kind).
fn schema_of(api_version: &str, kind: &str) -> Option<&'static [F]> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => namespace(),
        ("v1", "ConfigMap") => config_map(),
        ("v1", "Secret") => secret(),
        ("v1", "ServiceAccount") => service_account(),
        ("v1", "Service") => service(),
        ("v1", "Pod") => pod(),
        ("apps/v1", "Deployment") => deployment(),
        ("batch/v1", "Job") => job(),
        ("networking.k8s.io/v1", "Ingress") => ingress(),
        ("rbac.authorization.k8s.io/v1", "Role" | "ClusterRole") => role(),
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => role_binding(),
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed() -> ApiError {
    ApiError::bad_request("the protobuf body of the request is malformed")
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(malformed)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed())
    }

    fn bytes(&mut self) -> Result<&'a [u8], ApiError> {
        let n = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(malformed)?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// Next (field number, wire type), or None at the end.
    fn tag(&mut self) -> Result<Option<(u32, u8)>, ApiError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let t = self.varint()?;
        Ok(Some(((t >> 3) as u32, (t & 7) as u8)))
    }

    fn skip(&mut self, wire: u8) -> Result<(), ApiError> {
        match wire {
            0 => {
                self.varint()?;
            }
            1 => self.pos += 8,
            2 => {
                self.bytes()?;
            }
            5 => self.pos += 4,
            _ => return Err(malformed()),
        }
        if self.pos > self.buf.len() {
            Err(malformed())
        } else {
            Ok(())
        }
    }
}

fn utf8(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| malformed())
}

/// Decodes a map entry message {key = 1, value = 2}.
fn map_entry(
    b: &[u8],
    value: impl Fn(&[u8]) -> Result<Value, ApiError>,
) -> Result<(String, Value), ApiError> {
    let mut rd = Reader { buf: b, pos: 0 };
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((n, w)) = rd.tag()? {
        match (n, w) {
            (1, 2) => k = utf8(rd.bytes()?)?,
            (2, 2) => v = value(rd.bytes()?)?,
            _ => rd.skip(w)?,
        }
    }
    Ok((k, v))
}

fn quantity(b: &[u8]) -> Result<Value, ApiError> {
    let mut rd = Reader { buf: b, pos: 0 };
    let mut s = String::new();
    while let Some((n, w)) = rd.tag()? {
        if (n, w) == (1, 2) {
            s = utf8(rd.bytes()?)?
        } else {
            rd.skip(w)?
        }
    }
    Ok(json!(s))
}

fn message(b: &[u8], schema: &[F]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut rd = Reader { buf: b, pos: 0 };
    while let Some((n, wire)) = rd.tag()? {
        let Some(F(_, name, kind, repeated)) = schema.iter().find(|x| x.0 == n).copied() else {
            rd.skip(wire)?;
            continue;
        };
        let value = match (kind, wire) {
            (K::Int, 0) => json!(rd.varint()? as i64),
            (K::Bool, 0) => json!(rd.varint()? != 0),
            (K::Str, 2) => json!(utf8(rd.bytes()?)?),
            (K::Bytes, 2) => json!(base64(rd.bytes()?)),
            (K::Msg(s), 2) => Value::Object(message(rd.bytes()?, s())?),
            (K::Inline(s), 2) => {
                out.extend(message(rd.bytes()?, s())?);
                continue;
            }
            (K::MapStr | K::MapBytes | K::MapQuantity, 2) => {
                let (k, v) = match kind {
                    K::MapStr => map_entry(rd.bytes()?, |b| Ok(json!(utf8(b)?)))?,
                    K::MapBytes => map_entry(rd.bytes()?, |b| Ok(json!(base64(b))))?,
                    _ => map_entry(rd.bytes()?, quantity)?,
                };
                let m = out.entry(name).or_insert_with(|| json!({}));
                m[k] = v;
                continue;
            }
            (K::IntOrString, 2) => {
                let m = message(
                    rd.bytes()?,
                    &[
                        f(1, "type", K::Int),
                        f(2, "intVal", K::Int),
                        f(3, "strVal", K::Str),
                    ],
                )?;
                if m.get("type").and_then(Value::as_i64) == Some(1) {
                    m.get("strVal").cloned().unwrap_or(json!(""))
                } else {
                    m.get("intVal").cloned().unwrap_or(json!(0))
                }
            }
            (K::Time, 2) => {
                let m = message(rd.bytes()?, &[f(1, "seconds", K::Int)])?;
                json!(time::rfc3339(
                    m.get("seconds").and_then(Value::as_i64).unwrap_or(0)
                ))
            }
            // Packed repeated varints are not used by the kinds above.
            _ => return Err(malformed()),
        };
        if repeated {
            match out.entry(name).or_insert_with(|| json!([])) {
                Value::Array(a) => a.push(value),
                _ => return Err(malformed()),
            }
        } else {
            out.insert(name.to_string(), value);
        }
    }
    Ok(out)
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body.strip_prefix(b"k8s\0").ok_or_else(malformed)?;
    let unknown = message(
        rest,
        &[f(1, "typeMeta", K::Msg(type_meta)), f(2, "raw", K::Bytes)],
    )?;
    let api_version = unknown
        .get("typeMeta")
        .and_then(|t| t.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = unknown
        .get("typeMeta")
        .and_then(|t| t.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(schema) = schema_of(api_version, kind) else {
        return Err(ApiError::unsupported_media(&format!(
            "application/vnd.kubernetes.protobuf ({api_version} {kind})"
        )));
    };
    // `raw` came back base64 from the generic decoder; take the bytes again directly.
    let mut rd = Reader { buf: rest, pos: 0 };
    let mut raw: &[u8] = &[];
    while let Some((n, w)) = rd.tag()? {
        if (n, w) == (2, 2) {
            raw = rd.bytes()?
        } else {
            rd.skip(w)?
        }
    }
    let mut obj = message(raw, schema)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3 | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_namespace() {
        let meta = [
            field(1, b"scratch"),
            field(11, &[field(1, b"a"), field(2, b"b")].concat()),
        ]
        .concat();
        let raw = field(1, &meta);
        let tm = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch", "labels": {"a": "b"}}})
        );
        assert!(decode(b"k8s\0\x0a\xff").is_err());
    }
}
