//! Server-side printing: `kubectl get` asks for `as=Table` and prints the columns the
//! server chooses, so the common kinds get the columns a real cluster shows.

use serde_json::{Value, json};

use super::resources::ResourceType;
use super::time;

fn s(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn n(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

/// Evaluates the simple JSONPaths CRDs use for printer columns (`.spec.a.b`, `.x[0].y`).
fn json_path(obj: &Value, path: &str) -> Value {
    let mut cur = obj;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        cur = match cur.get(name) {
            Some(v) => v,
            None => return Value::Null,
        };
        if let Some(i) = index {
            cur = match cur.get(i) {
                Some(v) => v,
                None => return Value::Null,
            };
        }
    }
    cur.clone()
}

/// Kind-specific columns between NAME and AGE: (headers, cells for one object).
fn columns(rt: &ResourceType, obj: &Value) -> (Vec<String>, Vec<Value>) {
    if !rt.printer_columns.is_empty() {
        return (
            rt.printer_columns
                .iter()
                .filter(|(n, _)| n != "Age")
                .map(|(n, _)| n.clone())
                .collect(),
            rt.printer_columns
                .iter()
                .filter(|(n, _)| n != "Age")
                .map(|(_, p)| match json_path(obj, p) {
                    Value::Null => json!("<none>"),
                    Value::String(s) => json!(s),
                    v => json!(v.to_string()),
                })
                .collect(),
        );
    }
    let (h, c) = builtin_columns(rt, obj);
    (h.into_iter().map(String::from).collect(), c)
}

fn builtin_columns(rt: &ResourceType, obj: &Value) -> (Vec<&'static str>, Vec<Value>) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "nodes") => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let roles: Vec<&str> = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            (
                vec!["Status", "Roles", "Version"],
                vec![
                    json!(if ready { "Ready" } else { "NotReady" }),
                    json!(if roles.is_empty() {
                        "<none>".to_string()
                    } else {
                        roles.join(",")
                    }),
                    json!(s(obj.pointer("/status/nodeInfo/kubeletVersion"))),
                ],
            )
        }
        ("apps", "deployments") => (
            vec!["Ready", "Up-to-date", "Available"],
            vec![
                json!(format!(
                    "{}/{}",
                    n(obj, "/status/readyReplicas"),
                    n(obj, "/spec/replicas")
                )),
                json!(n(obj, "/status/updatedReplicas")),
                json!(n(obj, "/status/availableReplicas")),
            ],
        ),
        ("batch", "jobs") => {
            let done = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Complete" && c["status"] == "True");
            (
                vec!["Status", "Completions"],
                vec![
                    json!(if done { "Complete" } else { "Running" }),
                    json!(format!(
                        "{}/{}",
                        n(obj, "/status/succeeded"),
                        n(obj, "/spec/completions")
                    )),
                ],
            )
        }
        ("apps", "replicasets") => (
            vec!["Desired", "Current", "Ready"],
            vec![
                json!(n(obj, "/spec/replicas")),
                json!(n(obj, "/status/replicas")),
                json!(n(obj, "/status/readyReplicas")),
            ],
        ),
        ("", "pods") => {
            let cs = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = cs
                .iter()
                .filter(|c| c.get("ready") == Some(&json!(true)))
                .count();
            let phase = if obj.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                s(obj.pointer("/status/phase"))
            };
            (
                vec!["Ready", "Status", "Restarts"],
                vec![json!(format!("{ready}/{total}")), json!(phase), json!(0)],
            )
        }
        ("", "services") => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| match p.get("nodePort") {
                    Some(np) => format!("{}:{}/{}", s(p.get("port")), np, s(p.get("protocol"))),
                    None => format!("{}/{}", s(p.get("port")), s(p.get("protocol"))),
                })
                .collect();
            let external = obj
                .pointer("/status/loadBalancer/ingress/0")
                .map(|i| s(i.get("hostname").or(i.get("ip"))))
                .unwrap_or_else(|| "<none>".into());
            (
                vec!["Type", "Cluster-IP", "External-IP", "Port(s)"],
                vec![
                    json!(s(obj.pointer("/spec/type"))),
                    json!(s(obj.pointer("/spec/clusterIP"))),
                    json!(external),
                    json!(or_none(ports.join(","))),
                ],
            )
        }
        ("networking.k8s.io", "ingresses") => {
            let hosts: Vec<String> = obj
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| s(r.get("host")))
                .map(|h| if h.is_empty() { "*".into() } else { h })
                .collect();
            let addrs: Vec<String> = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| s(i.get("hostname").or(i.get("ip"))))
                .collect();
            let class = s(obj.pointer("/spec/ingressClassName"));
            (
                vec!["Class", "Hosts", "Address", "Ports"],
                vec![
                    json!(or_none(class)),
                    json!(hosts.join(",")),
                    json!(addrs.join(",")),
                    json!("80"),
                ],
            )
        }
        ("", "namespaces") => (vec!["Status"], vec![json!(s(obj.pointer("/status/phase")))]),
        ("", "endpoints") => {
            let eps: Vec<String> = obj
                .pointer("/subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|ss| {
                    let ips: Vec<String> = ss
                        .get("addresses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|a| s(a.get("ip")))
                        .collect();
                    let ports: Vec<String> = ss
                        .get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|p| s(p.get("port")))
                        .collect();
                    ips.into_iter().flat_map(move |ip| {
                        ports
                            .iter()
                            .map(move |p| format!("{ip}:{p}"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            (vec!["Endpoints"], vec![json!(or_none(eps.join(",")))])
        }
        _ => (vec![], vec![]),
    }
}

/// Columns `kubectl get -o wide` adds after AGE (priority 1).
fn wide_columns(rt: &ResourceType, obj: &Value) -> (Vec<&'static str>, Vec<Value>) {
    let containers = || {
        obj.pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let joined = |items: Vec<Value>, key: &str| {
        items
            .iter()
            .map(|c| s(c.get(key)))
            .collect::<Vec<_>>()
            .join(",")
    };
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => (
            vec!["IP", "Node"],
            vec![
                json!(or_none(s(obj.pointer("/status/podIP")))),
                json!(or_none(s(obj.pointer("/spec/nodeName")))),
            ],
        ),
        ("apps", "deployments" | "replicasets") => (
            vec!["Containers", "Images", "Selector"],
            vec![
                json!(joined(containers(), "name")),
                json!(joined(containers(), "image")),
                json!(
                    obj.pointer("/spec/selector")
                        .map(super::selector::to_string)
                        .unwrap_or_default()
                ),
            ],
        ),
        ("", "services") => {
            let sel = obj
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", s(Some(v))))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            (vec!["Selector"], vec![json!(or_none(sel))])
        }
        _ => (vec![], vec![]),
    }
}

fn partial(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": o.get("metadata").cloned().unwrap_or(json!({}))})
}

/// Events print without a name column, as on a real cluster.
fn event_table(objs: &[Value], rv: u64) -> Value {
    let col = |name: &str| json!({"name": name, "type": "string", "format": "", "description": "", "priority": 0});
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let seen = o.pointer("/lastTimestamp").or(o.pointer("/metadata/creationTimestamp"));
            let involved = format!(
                "{}/{}",
                s(o.pointer("/involvedObject/kind")).to_ascii_lowercase(),
                s(o.pointer("/involvedObject/name"))
            );
            json!({"cells": [time::age(&s(seen)), s(o.get("type")), s(o.get("reason")), involved, s(o.get("message"))],
                "object": partial(o)})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Message")],
        "rows": rows})
}

/// A `meta.k8s.io/v1` Table of the objects.
pub fn table(rt: &ResourceType, objs: &[Value], rv: u64) -> Value {
    if rt.group.is_empty() && rt.plural == "events" {
        return event_table(objs, rv);
    }
    let sample = objs.first().cloned().unwrap_or(json!({}));
    let (headers, _) = columns(rt, &sample);
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for h in &headers {
        defs.push(
            json!({"name": h, "type": "string", "format": "", "description": "", "priority": 0}),
        );
    }
    defs.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0}));
    for h in wide_columns(rt, &sample).0 {
        defs.push(
            json!({"name": h, "type": "string", "format": "", "description": "", "priority": 1}),
        );
    }
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let mut cells = vec![json!(
                o.pointer("/metadata/name").cloned().unwrap_or(json!(""))
            )];
            cells.extend(columns(rt, o).1);
            cells.push(json!(time::age(
                o.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            )));
            cells.extend(wide_columns(rt, o).1);
            json!({"cells": cells, "object": {
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
            }})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": defs, "rows": rows})
}
