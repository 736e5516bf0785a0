//! The controllers of an emulated cluster, level-triggered: after every write (and on a
//! short tick, for timed transitions) each one compares what is stored with what should
//! be and writes the difference. Deployment → ReplicaSet → Pods (ready after the
//! transition delay; rolling updates within maxSurge/maxUnavailable), StatefulSets and
//! DaemonSets (ordered and per-node pods), Jobs (pods that succeed after the delay), Service Endpoints and EndpointSlices, namespace, owner and
//! Event garbage collection, and the AWS Load Balancer Controller's handling of Ingresses
//! of class `alb` (ALB through [`crate::provider::LoadBalancers`], finalizer, address).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::objects::{WriteOptions, set_path};
use super::resources::ResourceType;
use super::selector;
use super::store::{EventType, meta_str};
use super::{Cluster, time};
use crate::provider::{AlbBackend, AlbRequest};

/// The finalizer the real AWS Load Balancer Controller puts on Ingresses it manages.
pub const ALB_FINALIZER: &str = "ingress.k8s.aws/resources";
const LBC_NAMESPACE: &str = "kube-system";
const LBC_NAME: &str = "aws-load-balancer-controller";
const NODE_IP: &str = "172.18.0.2";

pub async fn run(c: Arc<Cluster>) {
    let tick = (c.transition_delay / 4).clamp(Duration::from_millis(5), Duration::from_millis(100));
    loop {
        // Tick only while a timed transition is pending; otherwise wait for a write.
        let pending = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reconcile(&c)))
            .unwrap_or_else(|_| {
                tracing::error!(cluster = %c.name, "a controller pass failed; retrying");
                true
            });
        let wait = if pending {
            tick
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = c.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn t(plural: &str) -> ResourceType {
    Cluster::builtin_type(plural)
}

/// One pass of every controller; true when a timed transition is still pending.
pub(super) fn reconcile(c: &Cluster) -> bool {
    for (res, ns, name) in c.orphans() {
        c.delete_by_key(&res, &ns, &name);
    }
    drop_undefined_custom_resources(c);
    expire_events(c);
    namespaces(c);
    deployments(c);
    replicasets(c);
    jobs(c);
    stateful_sets_and_daemon_sets(c);
    let pods_pending = pods(c);
    endpoints(c);
    let ingresses_pending = ingresses(c);
    pods_pending || ingresses_pending
}

impl Cluster {
    /// Creates the namespaces and the node every cluster starts with.
    pub(super) fn bootstrap(&self) {
        let opts = WriteOptions::default();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if self.get(&t("namespaces"), "", ns).is_err() {
                let _ = self.create(
                    &t("namespaces"),
                    "",
                    json!({"metadata": {"name": ns}}),
                    &opts,
                );
            }
        }
        if self.get(&t("services"), "default", "kubernetes").is_err() {
            let svc = json!({"metadata": {"name": "kubernetes", "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
            let _ = self.create(&t("services"), "default", svc, &opts);
        }
        let node = format!("sandbox-{}-node", self.name);
        if self.get(&t("nodes"), "", &node).is_err() {
            let now = time::now();
            let _ = self.create(
                &t("nodes"),
                "",
                json!({
                    "metadata": {"name": node, "labels": {
                        "kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/region": self.region, "topology.kubernetes.io/zone": format!("{}a", self.region),
                        "node-role.kubernetes.io/control-plane": ""}},
                    "spec": {"podCIDR": "10.244.0.0/16"},
                }),
                &opts,
            );
            let _ = self.controller_write(&t("nodes"), "", &node, |n| {
                n["status"] = json!({
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
                    "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": node}],
                    "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                    "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                    "nodeInfo": {"kubeletVersion": "v1.32.0", "containerRuntimeVersion": "sandbox://1.0", "operatingSystem": "linux", "architecture": "amd64"},
                });
            });
        }
    }

    /// A controller's read-modify-write of one object, stored as computed (no
    /// subresource rules); a no-op when nothing changed. Returns the stored object.
    fn controller_write(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let mut store = self.lock();
        let old = store.get(&rt.key(), ns, name)?.clone();
        let mut new = old.clone();
        f(&mut new);
        if new == old {
            return Some(old);
        }
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some()
            && new
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty())
            && rt.plural != "namespaces";
        if deleting {
            let (obj, change) = store.remove(&rt.key(), ns, name)?;
            self.published(change);
            return Some(obj);
        }
        let (obj, change) = store.put(&rt.key(), new, EventType::Modified);
        self.published(change);
        Some(obj)
    }

    fn elapsed_since_first_seen(&self, key: &str) -> Duration {
        let mut timers = self.timers.lock().unwrap_or_else(|p| p.into_inner());
        timers
            .entry(key.to_string())
            .or_insert_with(Instant::now)
            .elapsed()
    }

    /// Records a core/v1 Event about `obj`.
    fn event(&self, obj: &Value, kind_type: &str, reason: &str, message: &str, component: &str) {
        let ns = match meta_str(obj, "namespace") {
            "" => "default",
            ns => ns,
        };
        let now = time::now();
        let ev = json!({
            "metadata": {"name": format!("{}.{}", meta_str(obj, "name"), time::suffix(10)), "namespace": ns},
            "involvedObject": {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "namespace": meta_str(obj, "namespace"),
                "name": meta_str(obj, "name"), "uid": meta_str(obj, "uid"), "resourceVersion": meta_str(obj, "resourceVersion")},
            "reason": reason, "message": message, "type": kind_type,
            "source": {"component": component}, "reportingComponent": component, "reportingInstance": "",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let _ = self.create(&t("events"), ns, ev, &WriteOptions::default());
    }
}

/// Events live an hour, as with the API server's default `--event-ttl`.
const EVENT_TTL_SECS: i64 = 3600;

/// Deletes expired Events, at most once a minute.
fn expire_events(c: &Cluster) {
    {
        let mut timers = c.timers.lock().unwrap_or_else(|p| p.into_inner());
        let last = timers
            .entry("gc:events".into())
            .or_insert_with(Instant::now);
        if last.elapsed() < Duration::from_secs(60) {
            return;
        }
        *last = Instant::now();
    }
    let (events, _) = c.list(&t("events"), None);
    let cutoff = time::unix_now() - EVENT_TTL_SECS;
    for e in events {
        let seen = e
            .get("lastTimestamp")
            .and_then(Value::as_str)
            .or_else(|| {
                e.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
            })
            .and_then(time::parse_rfc3339);
        if seen.is_some_and(|s| s < cutoff) {
            let _ = c.delete(
                &t("events"),
                meta_str(&e, "namespace"),
                meta_str(&e, "name"),
                &Default::default(),
            );
        }
    }
}

/// Deleting a CRD deletes its custom resources.
fn drop_undefined_custom_resources(c: &Cluster) {
    let keys: BTreeSet<String> = c.types().iter().map(ResourceType::key).collect();
    let mut store = c.lock();
    let stale: Vec<String> = store
        .objects
        .keys()
        .filter(|k| !keys.contains(*k))
        .cloned()
        .collect();
    for res in stale {
        let names: Vec<(String, String)> = store.objects[&res].keys().cloned().collect();
        for (ns, name) in names {
            if let Some((_, change)) = store.remove(&res, &ns, &name) {
                c.published(change);
            }
        }
        store.objects.remove(&res);
    }
}

fn is_deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some()
}

/// Objects by the uid of their controlling owner.
fn by_owner(items: &[Value]) -> HashMap<&str, Vec<&Value>> {
    let mut index: HashMap<&str, Vec<&Value>> = HashMap::new();
    for o in items {
        let refs = o
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array);
        if let Some(r) = refs
            .into_iter()
            .flatten()
            .find(|r| r["controller"] == json!(true))
            && let Some(uid) = r["uid"].as_str()
        {
            index.entry(uid).or_default().push(o);
        }
    }
    index
}

fn owned_by<'a>(index: &HashMap<&str, Vec<&'a Value>>, uid: &str) -> Vec<&'a Value> {
    index.get(uid).cloned().unwrap_or_default()
}

fn owner_ref(owner: &Value) -> Value {
    json!([{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
}

/// Every active namespace has a `default` ServiceAccount and the `kube-root-ca.crt`
/// ConfigMap, as on a real cluster; a deleted one is emptied, then removed.
fn namespaces(c: &Cluster) {
    let (namespaces, _) = c.list(&t("namespaces"), None);
    let opts = WriteOptions::default();
    for ns in namespaces.iter().filter(|n| !is_deleting(n)) {
        let name = meta_str(ns, "name");
        if c.get(&t("serviceaccounts"), name, "default").is_err() {
            let _ = c.create(
                &t("serviceaccounts"),
                name,
                json!({"metadata": {"name": "default"}}),
                &opts,
            );
        }
        if c.get(&t("configmaps"), name, "kube-root-ca.crt").is_err() {
            let cm = json!({"metadata": {"name": "kube-root-ca.crt", "annotations": {
                    "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": "# The sandbox serves plain HTTP on loopback: no CA.\n"}});
            let _ = c.create(&t("configmaps"), name, cm, &opts);
        }
    }
    for ns in namespaces.iter().filter(|n| is_deleting(n)) {
        let name = meta_str(ns, "name");
        let mut remaining = 0;
        for rt in c.types().into_iter().filter(|rt| rt.namespaced) {
            let (items, _) = c.list(&rt, Some(name));
            for o in items {
                remaining += 1;
                if !is_deleting(&o) {
                    let _ = c.delete(&rt, name, meta_str(&o, "name"), &Default::default());
                }
            }
        }
        if remaining > 0 {
            continue;
        }
        // Empty: the namespace controller's own finalizer (`spec.finalizers`) is done.
        // The namespace goes only when no other finalizer (`metadata.finalizers`, set
        // by anyone) holds it; until then it stays Terminating and refuses content.
        let held = ns
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let mut store = c.lock();
        if held {
            if ns.pointer("/spec/finalizers").is_some() {
                let mut finalized = ns.clone();
                if let Some(spec) = finalized.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
                let (_, change) = store.put("/namespaces", finalized, EventType::Modified);
                c.published(change);
            }
        } else if let Some((_, change)) = store.remove("/namespaces", "", name) {
            c.published(change);
        }
    }
}

fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) if s.ends_with('%') => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(25);
            if round_up {
                (total * p + 99) / 100
            } else {
                total * p / 100
            }
        }
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => {
            if round_up {
                (total * 25 + 99) / 100
            } else {
                total * 25 / 100
            }
        }
    }
}

fn condition(conds: &[Value], ty: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = time::now();
    match conds.iter().find(|c| c["type"] == ty) {
        Some(old) if old["status"] == status && old["reason"] == reason => old.clone(),
        Some(old) => {
            let transition = if old["status"] == status {
                old["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            json!({"type": ty, "status": status, "reason": reason, "message": message, "lastUpdateTime": now, "lastTransitionTime": transition})
        }
        None => {
            json!({"type": ty, "status": status, "reason": reason, "message": message, "lastUpdateTime": now, "lastTransitionTime": now})
        }
    }
}

/// (maxSurge, maxUnavailable) of a Deployment's rolling update, resolved against
/// `desired` the way the deployment controller does (surge rounds up, unavailable down).
fn rolling_limits(d: &Value, desired: i64) -> (i64, i64) {
    if d.pointer("/spec/strategy/type") == Some(&json!("Recreate")) {
        return (0, 0);
    }
    let surge = int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
        desired,
        true,
    );
    let unavailable = int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        desired,
        false,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1.min(desired))
    } else {
        (surge, unavailable)
    }
}

/// Drops `null`s, which clients write for unset fields (`creationTimestamp: null`).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, c)| !c.is_null())
                .map(|(k, c)| (k.clone(), without_nulls(c)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        v => v.clone(),
    }
}

/// The pod-template-hash: equal templates (as `rollout undo` writes back) hash equal.
fn template_hash(template: &Value) -> String {
    let mut template = without_nulls(template);
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("pod-template-hash");
    }
    let digest = Sha256::digest(sorted_keys(&template).to_string().as_bytes());
    time::safe_encode(&digest, 10)
}

/// The value with every object's keys in order. serde_json keeps insertion order when
/// any crate in the build enables its `preserve_order` feature (the AWS SDK's HTTP
/// client does), and a template read back from a ReplicaSet must hash as it did.
fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;

    #[test]
    fn template_hash_ignores_key_order() {
        let a: Value = serde_json::from_str(
            r#"{"metadata":{"labels":{"app":"x","tier":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"spec":{"containers":[{"image":"i","name":"c"}]},"metadata":{"labels":{"pod-template-hash":"h","tier":"web","app":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(template_hash(&a), template_hash(&b));
    }
}

/// `spec.replicas`, which Kubernetes defaults to 1 for every workload kind.
fn desired_replicas(workload: &Value) -> i64 {
    workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn deployments(c: &Cluster) {
    let (deploys, _) = c.list(&t("deployments"), None);
    let (all_rs, _) = c.list(&t("replicasets"), None);
    let rs_by_owner = by_owner(&all_rs);
    for d in deploys.iter().filter(|d| !is_deleting(d)) {
        let ns = meta_str(d, "namespace");
        let name = meta_str(d, "name");
        let uid = meta_str(d, "uid");
        let desired = desired_replicas(d);
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let rs_name = format!("{name}-{hash}");
        let owned: Vec<&Value> = owned_by(&rs_by_owner, uid);
        let revision = |rs: &Value| -> i64 {
            rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        let new_rs = owned
            .iter()
            .find(|rs| meta_str(rs, "name") == rs_name)
            .copied();
        let old_rs: Vec<&Value> = owned
            .iter()
            .filter(|rs| meta_str(rs, "name") != rs_name)
            .copied()
            .collect();
        let spec_replicas = |rs: &Value| {
            rs.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        let old_total: i64 = old_rs.iter().map(|rs| spec_replicas(rs)).sum();
        let old_pods: i64 = old_rs
            .iter()
            .map(|rs| {
                rs.pointer("/status/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            })
            .sum();
        let recreate = d.pointer("/spec/strategy/type") == Some(&json!("Recreate"));
        let (max_surge, max_unavailable) = rolling_limits(d, desired);
        let new_spec = new_rs.map(spec_replicas).unwrap_or(0);
        let new_available = new_rs
            .and_then(|rs| {
                rs.pointer("/status/availableReplicas")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(0);
        // How many replicas the new ReplicaSet should have now (rolling update limits).
        let new_target = if old_total == 0 && (!recreate || old_pods == 0) {
            desired
        } else if recreate {
            0
        } else {
            let room = desired + max_surge - (old_total + new_spec);
            (new_spec + room.max(0))
                .min(desired)
                .max(new_spec.min(desired))
        };
        let mut created = false;
        // A paused Deployment does not roll out a new template.
        let paused = d.pointer("/spec/paused") == Some(&json!(true));
        if !(paused && new_rs.is_none()) {
            match new_rs {
                None => {
                    let rev = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
                    let mut labels = template
                        .pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(json!({}));
                    labels["pod-template-hash"] = json!(hash);
                    let mut tmpl = template.clone();
                    set_path(&mut tmpl, &["metadata", "labels"], labels.clone());
                    let mut sel = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
                    set_path(&mut sel, &["matchLabels", "pod-template-hash"], json!(hash));
                    let rs = json!({
                        "apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": rs_name, "namespace": ns, "labels": labels, "ownerReferences": owner_ref(d),
                            "annotations": {"deployment.kubernetes.io/revision": rev.to_string(),
                                "deployment.kubernetes.io/desired-replicas": desired.to_string()}},
                        "spec": {"replicas": new_target, "selector": sel, "template": tmpl},
                    });
                    if c.create(&t("replicasets"), ns, rs, &WriteOptions::default())
                        .is_ok()
                    {
                        created = true;
                        c.event(
                            d,
                            "Normal",
                            "ScalingReplicaSet",
                            &format!("Scaled up replica set {rs_name} from 0 to {new_target}"),
                            "deployment-controller",
                        );
                        c.controller_write(&t("deployments"), ns, name, |d| {
                            d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                                json!(rev.to_string());
                        });
                    }
                }
                Some(_) if new_spec != new_target => {
                    c.controller_write(&t("replicasets"), ns, &rs_name, |rs| {
                        rs["spec"]["replicas"] = json!(new_target);
                        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                            json!(desired.to_string());
                    });
                    let verb = if new_target > new_spec { "up" } else { "down" };
                    c.event(
                        d,
                        "Normal",
                        "ScalingReplicaSet",
                        &format!(
                            "Scaled {verb} replica set {rs_name} from {new_spec} to {new_target}"
                        ),
                        "deployment-controller",
                    );
                }
                Some(_) => {}
            }
            // Old ReplicaSets scale down as far as availability allows (all at once for Recreate).
            let mut may_remove = if recreate {
                old_total
            } else {
                let min_available = desired - max_unavailable;
                let new_unavailable = (new_spec - new_available).max(0);
                (old_total + new_spec - min_available - new_unavailable).max(0)
            };
            for old in old_rs {
                let cur = spec_replicas(old);
                let down = cur.min(may_remove);
                if down <= 0 {
                    continue;
                }
                may_remove -= down;
                let old_name = meta_str(old, "name").to_string();
                c.controller_write(&t("replicasets"), ns, &old_name, |rs| {
                    rs["spec"]["replicas"] = json!(cur - down)
                });
                c.event(
                    d,
                    "Normal",
                    "ScalingReplicaSet",
                    &format!(
                        "Scaled down replica set {old_name} from {cur} to {}",
                        cur - down
                    ),
                    "deployment-controller",
                );
            }
        }
        // Status from the ReplicaSets' own status.
        let sum = |ptr: &str| {
            owned
                .iter()
                .map(|rs| rs.pointer(ptr).and_then(Value::as_i64).unwrap_or(0))
                .sum::<i64>()
        };
        let replicas = sum("/status/replicas");
        let ready = sum("/status/readyReplicas");
        let available = sum("/status/availableReplicas");
        let updated = if created {
            0
        } else {
            new_rs
                .map(|rs| {
                    rs.pointer("/status/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                })
                .unwrap_or(0)
        };
        let generation = d
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let conds: Vec<Value> = d
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let available_cond = if available >= desired - max_unavailable {
            condition(
                &conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            condition(
                &conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        let complete =
            updated == desired && replicas == desired && available >= desired && !created;
        let progressing = if paused {
            condition(
                &conds,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
            )
        } else if complete {
            condition(
                &conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            )
        } else if created {
            condition(
                &conds,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                &format!("Created new replica set \"{rs_name}\""),
            )
        } else {
            condition(
                &conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{rs_name}\" is progressing."),
            )
        };
        let mut status = json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": available,
            "conditions": [available_cond, progressing],
        });
        if desired - available > 0 {
            status["unavailableReplicas"] = json!(desired - available);
        }
        for k in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            if status[k] == 0 {
                status.as_object_mut().expect("object").remove(k);
            }
        }
        c.controller_write(&t("deployments"), ns, name, |d| d["status"] = status);
    }
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn replicasets(c: &Cluster) {
    let (all_rs, _) = c.list(&t("replicasets"), None);
    let (pods, _) = c.list(&t("pods"), None);
    let pods_by_owner = by_owner(&pods);
    for rs in all_rs.iter().filter(|rs| !is_deleting(rs)) {
        let ns = meta_str(rs, "namespace");
        let name = meta_str(rs, "name");
        let desired = desired_replicas(rs);
        let mut mine: Vec<&Value> = owned_by(&pods_by_owner, meta_str(rs, "uid"))
            .into_iter()
            .filter(|p| !is_deleting(p))
            .collect();
        let have = mine.len() as i64;
        if have < desired {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in have..desired {
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"generateName": format!("{name}-"), "namespace": ns,
                        "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                        "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                        "ownerReferences": owner_ref(rs)},
                    "spec": template.get("spec").cloned().unwrap_or(json!({})),
                });
                if let Ok(p) = c.create(&t("pods"), ns, pod, &WriteOptions::default()) {
                    c.event(
                        rs,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", meta_str(&p, "name")),
                        "replicaset-controller",
                    );
                }
            }
        } else if have > desired {
            // Remove not-ready pods first, then the newest.
            mine.sort_by_key(|p| {
                (
                    is_ready(p),
                    std::cmp::Reverse(meta_str(p, "creationTimestamp").to_string()),
                )
            });
            for p in mine.iter().take((have - desired) as usize) {
                let pname = meta_str(p, "name").to_string();
                if c.delete(&t("pods"), ns, &pname, &Default::default())
                    .is_ok()
                {
                    c.event(
                        rs,
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted pod: {pname}"),
                        "replicaset-controller",
                    );
                }
            }
        }
        if have != desired {
            // Pods were just created or deleted; the next pass (woken by those writes)
            // reports the status.
            continue;
        }
        let live = mine;
        let ready = live.iter().filter(|p| is_ready(p)).count() as i64;
        let generation = rs
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let mut status = json!({"replicas": live.len(), "fullyLabeledReplicas": live.len(), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": generation});
        for k in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
            if status[k] == 0 {
                status.as_object_mut().expect("object").remove(k);
            }
        }
        c.controller_write(&t("replicasets"), ns, name, |rs| rs["status"] = status);
    }
}

fn pods(c: &Cluster) -> bool {
    let mut pending = false;
    let (pods, _) = c.list(&t("pods"), None);
    let mut used: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| {
            p.pointer("/status/podIP")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    let node = format!("sandbox-{}-node", c.name);
    for p in pods.iter().filter(|p| !is_deleting(p)) {
        if is_ready(p) || p.pointer("/status/phase") == Some(&json!("Succeeded")) {
            continue;
        }
        let ns = meta_str(p, "namespace");
        let name = meta_str(p, "name");
        let waited = c.elapsed_since_first_seen(meta_str(p, "uid"));
        let ip = match p.pointer("/status/podIP").and_then(Value::as_str) {
            Some(ip) => ip.to_string(),
            None => {
                let ip = (0u32..65_000)
                    .map(|n| format!("10.244.{}.{}", n / 254, n % 254 + 2))
                    .find(|ip| !used.contains(ip))
                    .unwrap_or_default();
                used.insert(ip.clone());
                ip
            }
        };
        let ready = waited >= c.transition_delay;
        pending |= !ready;
        let now = time::now();
        // A Job's pod runs to completion: it succeeds when it would have become ready.
        let owned_by_job = p
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| refs.iter().any(|r| r["kind"] == "Job"));
        if owned_by_job && ready {
            c.controller_write(&t("pods"), ns, name, |p| {
                if p.pointer("/spec/nodeName").is_none() {
                    set_path(p, &["spec", "nodeName"], json!(node));
                }
                let started = p.pointer("/status/startTime").cloned().unwrap_or(json!(now));
                let statuses: Vec<Value> = p
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|ctr| {
                        json!({"name": ctr["name"], "image": ctr["image"], "imageID": "", "ready": false, "started": false,
                            "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                "startedAt": started, "finishedAt": now}}})
                    })
                    .collect();
                let cond = |ty: &str, s: &str| json!({"type": ty, "status": s, "lastProbeTime": null, "lastTransitionTime": now});
                p["status"] = json!({
                    "phase": "Succeeded", "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}], "podIP": ip, "podIPs": [{"ip": ip}],
                    "startTime": started, "qosClass": "BestEffort",
                    "conditions": [cond("PodReadyToStartContainers", "False"), cond("Initialized", "True"),
                        cond("Ready", "False"), cond("ContainersReady", "False"), cond("PodScheduled", "True")],
                    "containerStatuses": statuses,
                });
            });
            continue;
        }
        c.controller_write(&t("pods"), ns, name, |p| {
            if p.pointer("/spec/nodeName").is_none() {
                p["spec"]["nodeName"] = json!(node);
            }
            let started = p.pointer("/status/startTime").cloned().unwrap_or(json!(now));
            let st = if ready { "True" } else { "False" };
            let statuses: Vec<Value> = p
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|ctr| {
                    let state = if ready {
                        json!({"running": {"startedAt": now}})
                    } else {
                        json!({"waiting": {"reason": "ContainerCreating"}})
                    };
                    json!({"name": ctr["name"], "image": ctr["image"], "imageID": "", "ready": ready, "started": ready,
                        "restartCount": 0, "state": state,
                        "containerID": if ready { json!(format!("containerd://{}", time::uid().replace('-', ""))) } else { Value::Null }})
                })
                .collect();
            let cond = |ty: &str, s: &str| json!({"type": ty, "status": s, "lastProbeTime": null, "lastTransitionTime": now});
            p["status"] = json!({
                "phase": if ready { "Running" } else { "Pending" },
                "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}], "podIP": ip, "podIPs": [{"ip": ip}],
                "startTime": started, "qosClass": "BestEffort",
                "conditions": [cond("PodReadyToStartContainers", st), cond("Initialized", "True"), cond("Ready", st),
                    cond("ContainersReady", st), cond("PodScheduled", "True")],
                "containerStatuses": statuses,
            });
        });
    }
    pending
}

/// The ordinal of a StatefulSet pod (`<set>-<n>`).
fn ordinal(pod: &Value, set: &str) -> Option<i64> {
    meta_str(pod, "name")
        .strip_prefix(set)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// StatefulSets: pods `<name>-0..N-1`, each created once the lower ones are ready,
/// removed from the highest ordinal down, replaced one at a time (highest first) when
/// the template changes. DaemonSets: one pod on the cluster's single node, replaced
/// when the template changes.
fn stateful_sets_and_daemon_sets(c: &Cluster) {
    let (sts, _) = c.list(&t("statefulsets"), None);
    let (dss, _) = c.list(&t("daemonsets"), None);
    if sts.is_empty() && dss.is_empty() {
        return;
    }
    let (pods, _) = c.list(&t("pods"), None);
    let by = by_owner(&pods);
    let node = format!("sandbox-{}-node", c.name);
    let revision_of = |p: &Value| {
        p.pointer("/metadata/labels/controller-revision-hash")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for (plural, sets) in [("statefulsets", &sts), ("daemonsets", &dss)] {
        let stateful = plural == "statefulsets";
        for set in sets.iter().filter(|s| !is_deleting(s)) {
            let ns = meta_str(set, "namespace");
            let name = meta_str(set, "name");
            let desired = if stateful { desired_replicas(set) } else { 1 };
            let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let revision = format!("{name}-{}", template_hash(&template));
            let mine: Vec<&Value> = owned_by(&by, meta_str(set, "uid"))
                .into_iter()
                .filter(|p| !is_deleting(p))
                .collect();
            let all_ready = mine.iter().all(|p| is_ready(p));
            let new_pod = |pod_name: Option<String>| {
                let mut labels = template
                    .pointer("/metadata/labels")
                    .cloned()
                    .unwrap_or(json!({}));
                if !labels.is_object() {
                    labels = json!({});
                }
                labels["controller-revision-hash"] = json!(revision);
                let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
                let mut meta = json!({"namespace": ns, "ownerReferences": owner_ref(set)});
                match &pod_name {
                    Some(n) => {
                        labels["statefulset.kubernetes.io/pod-name"] = json!(n);
                        meta["name"] = json!(n);
                        set_path(&mut spec, &["hostname"], json!(n));
                        if let Some(svc) =
                            set.pointer("/spec/serviceName").filter(|s| s.is_string())
                        {
                            set_path(&mut spec, &["subdomain"], svc.clone());
                        }
                    }
                    None => {
                        meta["generateName"] = json!(format!("{name}-"));
                        set_path(&mut spec, &["nodeName"], json!(node));
                    }
                }
                meta["labels"] = labels;
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
            };
            if stateful {
                let mut changed = false;
                for p in mine
                    .iter()
                    .filter(|p| ordinal(p, name).is_none_or(|o| o >= desired))
                {
                    let _ = c.delete(&t("pods"), ns, meta_str(p, "name"), &Default::default());
                    changed = true;
                }
                let present: BTreeSet<i64> = mine.iter().filter_map(|p| ordinal(p, name)).collect();
                if !changed
                    && all_ready
                    && let Some(i) = (0..desired).find(|i| !present.contains(i))
                {
                    let _ = c.create(
                        &t("pods"),
                        ns,
                        new_pod(Some(format!("{name}-{i}"))),
                        &WriteOptions::default(),
                    );
                    changed = true;
                }
                // Roll the template out from the highest ordinal, one ready pod at a time.
                if !changed
                    && all_ready
                    && let Some(p) = mine
                        .iter()
                        .filter(|p| revision_of(p) != revision)
                        .max_by_key(|p| ordinal(p, name).unwrap_or(-1))
                {
                    let _ = c.delete(&t("pods"), ns, meta_str(p, "name"), &Default::default());
                }
            } else if mine.is_empty() {
                let _ = c.create(&t("pods"), ns, new_pod(None), &WriteOptions::default());
            } else {
                for p in mine.iter().filter(|p| revision_of(p) != revision) {
                    let _ = c.delete(&t("pods"), ns, meta_str(p, "name"), &Default::default());
                }
            }
            let count = mine.len() as i64;
            let ready = mine.iter().filter(|p| is_ready(p)).count() as i64;
            let updated = mine.iter().filter(|p| revision_of(p) == revision).count() as i64;
            let generation = set
                .pointer("/metadata/generation")
                .cloned()
                .unwrap_or(json!(1));
            let status = if stateful {
                let current = if updated == count {
                    revision.clone()
                } else {
                    set.pointer("/status/currentRevision")
                        .and_then(Value::as_str)
                        .unwrap_or(&revision)
                        .to_string()
                };
                json!({"observedGeneration": generation, "replicas": count, "readyReplicas": ready,
                    "currentReplicas": if current == revision { updated } else { count - updated },
                    "updatedReplicas": updated, "availableReplicas": ready,
                    "currentRevision": current, "updateRevision": revision, "collisionCount": 0})
            } else {
                json!({"observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": count,
                    "numberReady": ready, "updatedNumberScheduled": updated, "numberAvailable": ready,
                    "numberMisscheduled": 0})
            };
            c.controller_write(&t(plural), ns, name, |s| s["status"] = status);
        }
    }
}

/// Jobs: pods up to `parallelism` until `completions` of them have succeeded, then the
/// Complete condition (what `kubectl wait --for=condition=complete` waits for).
fn jobs(c: &Cluster) {
    let (jobs, _) = c.list(&t("jobs"), None);
    if jobs.is_empty() {
        return;
    }
    let (pods, _) = c.list(&t("pods"), None);
    let pods_by_owner = by_owner(&pods);
    for job in jobs.iter().filter(|j| !is_deleting(j)) {
        let ns = meta_str(job, "namespace");
        let name = meta_str(job, "name");
        let num = |p: &str, d: i64| job.pointer(p).and_then(Value::as_i64).unwrap_or(d);
        let (completions, parallelism) = (num("/spec/completions", 1), num("/spec/parallelism", 1));
        let complete = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            });
        let mine: Vec<&Value> = owned_by(&pods_by_owner, meta_str(job, "uid"))
            .into_iter()
            .filter(|p| !is_deleting(p))
            .collect();
        let succeeded = mine
            .iter()
            .filter(|p| p.pointer("/status/phase") == Some(&json!("Succeeded")))
            .count() as i64;
        let active = mine.len() as i64 - succeeded;
        let suspended = job.pointer("/spec/suspend") == Some(&json!(true));
        if !complete && !suspended {
            let want = (parallelism - active)
                .min(completions - succeeded - active)
                .max(0);
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in 0..want {
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"generateName": format!("{name}-"), "namespace": ns,
                        "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                        "ownerReferences": owner_ref(job)},
                    "spec": template.get("spec").cloned().unwrap_or(json!({})),
                });
                if let Ok(p) = c.create(&t("pods"), ns, pod, &WriteOptions::default()) {
                    c.event(
                        job,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", meta_str(&p, "name")),
                        "job-controller",
                    );
                }
            }
        }
        let now = time::now();
        let ready = mine.iter().filter(|p| is_ready(p)).count();
        let done = succeeded >= completions;
        c.controller_write(&t("jobs"), ns, name, |j| {
            let start = j.pointer("/status/startTime").cloned().unwrap_or(json!(now));
            let mut status = json!({"startTime": start, "active": active, "succeeded": succeeded,
                "ready": ready, "terminating": 0, "uncountedTerminatedPods": {}});
            if active == 0 {
                status.as_object_mut().expect("object").remove("active");
            }
            if done {
                let finished = j.pointer("/status/completionTime").cloned().unwrap_or(json!(now));
                let cond = |ty: &str, reason: &str| json!({"type": ty, "status": "True", "reason": reason,
                    "message": "Reached expected number of succeeded pods", "lastProbeTime": finished, "lastTransitionTime": finished});
                status["completionTime"] = finished.clone();
                status["conditions"] = json!([cond("SuccessCriteriaMet", "CompletionsReached"), cond("Complete", "CompletionsReached")]);
            }
            j["status"] = status;
        });
        if done && !complete {
            c.event(
                job,
                "Normal",
                "Completed",
                "Job completed",
                "job-controller",
            );
        }
    }
}

/// Resolves a Service's targetPort (a number or a container port name) on one pod.
fn target_port(port: &Value, pod: &Value) -> Option<i64> {
    match port.get("targetPort").or(port.get("port")) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort").and_then(Value::as_i64))
            .or_else(|| name.parse().ok()),
        _ => None,
    }
}

/// Ready addresses, not-ready addresses, ports.
type Subset = (Vec<Value>, Vec<Value>, Vec<Value>);

fn endpoints(c: &Cluster) {
    let (services, _) = c.list(&t("services"), None);
    let (pods, _) = c.list(&t("pods"), None);
    let (eps, _) = c.list(&t("endpoints"), None);
    let managed = |e: &Value| {
        e.pointer("/metadata/labels/endpointslice.kubernetes.io~1skip-mirror")
            == Some(&json!("true"))
    };
    let (slices, _) = c.list(&t("endpointslices"), None);
    let mut wanted = BTreeSet::new();
    let mut wanted_slices = BTreeSet::new();
    for svc in &services {
        let Some(sel) = svc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        if svc.pointer("/spec/type") == Some(&json!("ExternalName")) {
            continue;
        }
        let ns = meta_str(svc, "namespace");
        let name = meta_str(svc, "name");
        wanted.insert((ns.to_string(), name.to_string()));
        let selected: Vec<&Value> = pods
            .iter()
            .filter(|p| meta_str(p, "namespace") == ns && !is_deleting(p))
            .filter(|p| {
                selector::matches_map(
                    sel,
                    p.pointer("/metadata/labels").and_then(Value::as_object),
                )
            })
            .filter(|p| p.pointer("/status/podIP").is_some())
            .collect();
        let svc_ports: Vec<Value> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Pods grouped by their resolved port set, as the endpoints controller does.
        let mut subsets: BTreeMap<String, Subset> = BTreeMap::new();
        for p in selected {
            let ports: Vec<Value> = svc_ports
                .iter()
                .filter_map(|sp| {
                    let mut port = json!({"port": target_port(sp, p)?, "protocol": sp.get("protocol").cloned().unwrap_or(json!("TCP"))});
                    if let Some(n) = sp.get("name").filter(|n| n.as_str().is_some_and(|s| !s.is_empty())) {
                        port["name"] = n.clone();
                    }
                    Some(port)
                })
                .collect();
            let key = Value::Array(ports.clone()).to_string();
            let addr = json!({"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}});
            let entry = subsets
                .entry(key)
                .or_insert_with(|| (Vec::new(), Vec::new(), ports));
            if is_ready(p) {
                entry.0.push(addr)
            } else {
                entry.1.push(addr)
            }
        }
        for (ns, slice) in endpoint_slices(c, svc, &subsets) {
            wanted_slices.insert((ns.clone(), meta_str(&slice, "name").to_string()));
            let slice_name = meta_str(&slice, "name").to_string();
            if c.get(&t("endpointslices"), &ns, &slice_name).is_err() {
                let _ = c.create(&t("endpointslices"), &ns, slice, &WriteOptions::default());
            } else {
                c.controller_write(&t("endpointslices"), &ns, &slice_name, |e| {
                    e["endpoints"] = slice["endpoints"].clone();
                    e["ports"] = slice["ports"].clone();
                    e["metadata"]["labels"] = slice["metadata"]["labels"].clone();
                });
            }
        }
        let subsets: Vec<Value> = subsets
            .into_values()
            .map(|(mut ready, mut not_ready, ports)| {
                ready.sort_by(|a, b| a["ip"].to_string().cmp(&b["ip"].to_string()));
                not_ready.sort_by(|a, b| a["ip"].to_string().cmp(&b["ip"].to_string()));
                let mut s = json!({"ports": ports});
                if !ready.is_empty() {
                    s["addresses"] = json!(ready);
                }
                if !not_ready.is_empty() {
                    s["notReadyAddresses"] = json!(not_ready);
                }
                s
            })
            .collect();
        let mut labels = svc
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels["endpointslice.kubernetes.io/skip-mirror"] = json!("true");
        if c.get(&t("endpoints"), ns, name).is_err() {
            let ep = json!({"metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets});
            let _ = c.create(&t("endpoints"), ns, ep, &WriteOptions::default());
        } else {
            c.controller_write(&t("endpoints"), ns, name, |e| {
                e["subsets"] = json!(subsets);
                e["metadata"]["labels"] = labels;
            });
        }
    }
    let managed_slice = |e: &Value| {
        e.pointer("/metadata/labels/endpointslice.kubernetes.io~1managed-by")
            == Some(&json!(SLICE_MANAGER))
    };
    for e in slices.iter().filter(|e| managed_slice(e)) {
        let key = (
            meta_str(e, "namespace").to_string(),
            meta_str(e, "name").to_string(),
        );
        if !wanted_slices.contains(&key) {
            let _ = c.delete(&t("endpointslices"), &key.0, &key.1, &Default::default());
        }
    }
    for e in eps.iter().filter(|e| managed(e)) {
        let key = (
            meta_str(e, "namespace").to_string(),
            meta_str(e, "name").to_string(),
        );
        if !wanted.contains(&key) {
            let _ = c.delete(&t("endpoints"), &key.0, &key.1, &Default::default());
        }
    }
}

const SLICE_MANAGER: &str = "endpointslice-controller.k8s.io";

/// The EndpointSlices (discovery.k8s.io/v1) of a Service: one per resolved port set,
/// named after the Service and that set, owned by the Service.
fn endpoint_slices(
    c: &Cluster,
    svc: &Value,
    groups: &BTreeMap<String, Subset>,
) -> Vec<(String, Value)> {
    let ns = meta_str(svc, "namespace").to_string();
    let name = meta_str(svc, "name");
    let mut labels = svc
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if !labels.is_object() {
        labels = json!({});
    }
    labels["kubernetes.io/service-name"] = json!(name);
    labels["endpointslice.kubernetes.io/managed-by"] = json!(SLICE_MANAGER);
    let zone = format!("{}a", c.region);
    let endpoint = |addr: &Value, ready: bool| {
        json!({"addresses": [addr["ip"]], "conditions": {"ready": ready, "serving": ready, "terminating": false},
            "nodeName": addr["nodeName"], "targetRef": addr["targetRef"], "zone": zone})
    };
    let mut groups: Vec<(&String, &Subset)> = groups.iter().collect();
    let empty: Subset = (Vec::new(), Vec::new(), Vec::new());
    let none = String::new();
    if groups.is_empty() {
        groups.push((&none, &empty));
    }
    groups
        .into_iter()
        .map(|(key, (ready, not_ready, ports))| {
            let digest = Sha256::digest(format!("{name}/{key}").as_bytes());
            let ports: Vec<Value> = ports
                .iter()
                .map(|p| json!({"name": p.get("name").cloned().unwrap_or(json!("")), "port": p["port"], "protocol": p["protocol"]}))
                .collect();
            let mut endpoints: Vec<Value> = ready.iter().map(|a| endpoint(a, true)).collect();
            endpoints.extend(not_ready.iter().map(|a| endpoint(a, false)));
            endpoints.sort_by(|a, b| a["addresses"].to_string().cmp(&b["addresses"].to_string()));
            let slice = json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{name}-{}", time::safe_encode(&digest, 5)), "namespace": ns,
                    "labels": labels, "ownerReferences": owner_ref(svc)},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
            });
            (ns.clone(), slice)
        })
        .collect()
}

/// Is the AWS Load Balancer Controller installed and Available in this cluster?
pub(super) fn lbc_installed(c: &Cluster) -> bool {
    c.get(&t("deployments"), LBC_NAMESPACE, LBC_NAME)
        .is_ok_and(|d| {
            d.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Available" && c["status"] == "True")
                })
        })
}

/// Is this Ingress the controller's? Class `alb` (by name or the legacy annotation), or
/// any IngressClass whose controller is `ingress.k8s.aws/alb`, or no class at all when
/// such an IngressClass is the cluster default.
fn is_alb_ingress(ing: &Value, classes: &[Value]) -> bool {
    let ours = |c: &&Value| c.pointer("/spec/controller") == Some(&json!("ingress.k8s.aws/alb"));
    let legacy = ing.pointer("/metadata/annotations/kubernetes.io~1ingress.class");
    match (
        ing.pointer("/spec/ingressClassName")
            .and_then(Value::as_str),
        legacy,
    ) {
        (_, Some(v)) => v == "alb",
        (Some("alb"), None) => true,
        (Some(name), None) => classes
            .iter()
            .filter(ours)
            .any(|c| meta_str(c, "name") == name),
        (None, None) => classes.iter().filter(ours).any(|c| {
            c.pointer("/metadata/annotations/ingressclass.kubernetes.io~1is-default-class")
                == Some(&json!("true"))
        }),
    }
}

fn alb_request(c: &Cluster, ing: &Value) -> AlbRequest {
    let ns = meta_str(ing, "namespace");
    let name = meta_str(ing, "name");
    let ann = |k: &str| {
        ing.pointer(&format!("/metadata/annotations/{}", k.replace('/', "~1")))
            .and_then(Value::as_str)
    };
    let scheme = ann("alb.ingress.kubernetes.io/scheme")
        .unwrap_or("internal")
        .to_string();
    let mut tags = BTreeMap::new();
    for kv in ann("alb.ingress.kubernetes.io/tags")
        .unwrap_or("")
        .split(',')
    {
        if let Some((k, v)) = kv.split_once('=') {
            tags.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    tags.insert("elbv2.k8s.aws/cluster".into(), c.name.clone());
    // An IngressGroup's stack is the group; an implicit group's is namespace/name.
    let stack = match ann("alb.ingress.kubernetes.io/group.name") {
        Some(group) if !group.is_empty() => group.to_string(),
        _ => format!("{ns}/{name}"),
    };
    tags.insert("ingress.k8s.aws/stack".into(), stack);
    tags.insert("ingress.k8s.aws/resource".into(), "LoadBalancer".into());
    AlbRequest {
        cluster: c.name.clone(),
        region: c.region.clone(),
        namespace: ns.into(),
        ingress: name.into(),
        scheme,
        tags,
    }
}

/// The Ingress's backend as the controller builds its target group (IP target mode):
/// the default backend, else the first rule's first path; health check from the
/// annotations with the controller's defaults; targets the Service's ready endpoints.
fn alb_backend(c: &Cluster, ing: &Value) -> Option<AlbBackend> {
    let ns = meta_str(ing, "namespace");
    let ann = |k: &str| {
        ing.pointer(&format!(
            "/metadata/annotations/alb.ingress.kubernetes.io~1{k}"
        ))
        .and_then(Value::as_str)
    };
    let num = |k: &str, default: i64| {
        ann(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(default)
    };
    let backend = ing
        .pointer("/spec/defaultBackend/service")
        .or_else(|| ing.pointer("/spec/rules/0/http/paths/0/backend/service"))?;
    let service = backend.get("name").and_then(Value::as_str)?.to_string();
    let port = backend.get("port")?;
    let service_port = match (port.get("number").and_then(Value::as_i64), port.get("name")) {
        (Some(n), _) => n.to_string(),
        (None, Some(Value::String(n))) => n.clone(),
        _ => return None,
    };
    let svc = c.get(&t("services"), ns, &service).ok()?;
    let sp = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)?
        .iter()
        .find(|p| {
            p.get("port").and_then(Value::as_i64).map(|n| n.to_string())
                == Some(service_port.clone())
                || p.get("name").and_then(Value::as_str) == Some(service_port.as_str())
        })?
        .clone();
    let port_name = sp.get("name").and_then(Value::as_str).unwrap_or("");
    let mut targets = Vec::new();
    let mut resolved = None;
    if let Ok(ep) = c.get(&t("endpoints"), ns, &service) {
        for subset in ep
            .get("subsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(p) = subset
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
                .and_then(|p| p.get("port").and_then(Value::as_i64))
            else {
                continue;
            };
            resolved.get_or_insert(p);
            for a in subset
                .get("addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(ip) = a.get("ip").and_then(Value::as_str) {
                    targets.push((ip.to_string(), p));
                }
            }
        }
    }
    targets.sort();
    targets.dedup();
    let target_port = match sp.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(n)) => n.parse().ok().or(resolved),
        _ => sp.get("port").and_then(Value::as_i64),
    }
    .or(resolved)?;
    Some(AlbBackend {
        service,
        service_port,
        target_port,
        health_check_path: ann("healthcheck-path").unwrap_or("/").to_string(),
        health_check_interval: num("healthcheck-interval-seconds", 15),
        health_check_timeout: num("healthcheck-timeout-seconds", 5),
        healthy_threshold: num("healthy-threshold-count", 2),
        unhealthy_threshold: num("unhealthy-threshold-count", 2),
        matcher: ann("success-codes").unwrap_or("200").to_string(),
        targets,
    })
}

fn ingresses(c: &Cluster) -> bool {
    let mut pending = false;
    let (ings, _) = c.list(&t("ingresses"), None);
    let installed = lbc_installed(c);
    let rt = t("ingresses");
    let (classes, _) = c.list(&t("ingressclasses"), None);
    for ing in &ings {
        let ns = meta_str(ing, "namespace");
        let name = meta_str(ing, "name");
        let uid = meta_str(ing, "uid");
        let finalizers: Vec<Value> = ing
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has_finalizer = finalizers.contains(&json!(ALB_FINALIZER));
        let ours = is_alb_ingress(ing, &classes);
        if !installed || !(ours || has_finalizer) {
            continue;
        }
        // Deleted, or no longer of class alb: the ALB goes, then the finalizer (and the
        // address, for an Ingress that stays).
        if is_deleting(ing) || !ours {
            if has_finalizer {
                match c.lbs.delete_ingress_alb(&c.name, ns, name) {
                    Ok(()) => {
                        c.controller_write(&rt, ns, name, |i| {
                            let rest: Vec<Value> = finalizers
                                .iter()
                                .filter(|f| **f != json!(ALB_FINALIZER))
                                .cloned()
                                .collect();
                            if rest.is_empty() {
                                if let Some(m) = i["metadata"].as_object_mut() {
                                    m.remove("finalizers");
                                }
                            } else {
                                i["metadata"]["finalizers"] = json!(rest);
                            }
                            if !ours {
                                set_path(i, &["status", "loadBalancer"], json!({}));
                            }
                        });
                        c.albs
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .retain(|k, _| !k.starts_with(&format!("alb:{uid}:")));
                    }
                    Err(e) => {
                        pending = true;
                        tracing::warn!(cluster = %c.name, "deleting the ALB of {ns}/{name}: {e:#}")
                    }
                }
            }
            continue;
        }
        if !has_finalizer {
            c.controller_write(&rt, ns, name, |i| {
                let mut f = finalizers.clone();
                f.push(json!(ALB_FINALIZER));
                i["metadata"]["finalizers"] = json!(f);
            });
            continue;
        }
        // Provision (idempotently) once per spec generation; publish the address after the delay.
        let generation = ing
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let key = format!("alb:{uid}:{generation}");
        let waited = c.elapsed_since_first_seen(&key);
        let cached = c
            .albs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let ensured = match cached {
            Some(info) => Ok(info),
            None => c.lbs.ensure_ingress_alb(&alb_request(c, ing)),
        };
        let info = match ensured {
            Ok(info) => {
                c.albs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), info.clone());
                info
            }
            Err(e) => {
                pending = true;
                if waited < c.transition_delay.max(Duration::from_millis(1)) * 2 {
                    c.event(
                        ing,
                        "Warning",
                        "FailedDeployModel",
                        &format!("Failed deploy model due to {e:#}"),
                        "ingress",
                    );
                }
                continue;
            }
        };
        // Target group, listener and targets follow the backend Service's endpoints
        // (the provider writes only when something changed).
        if let Some(backend) = alb_backend(c, ing)
            && let Err(e) = c.lbs.ensure_ingress_backend(&alb_request(c, ing), &backend)
        {
            pending = true;
            tracing::warn!(cluster = %c.name, "target group of {ns}/{name}: {e:#}");
        }
        if waited < c.transition_delay {
            pending = true;
            continue;
        }
        let current = ing
            .pointer("/status/loadBalancer/ingress/0/hostname")
            .and_then(Value::as_str);
        if current != Some(info.dns_name.as_str()) {
            c.controller_write(&rt, ns, name, |i| {
                set_path(
                    i,
                    &["status", "loadBalancer"],
                    json!({"ingress": [{"hostname": info.dns_name}]}),
                );
            });
            c.event(
                ing,
                "Normal",
                "SuccessfullyReconciled",
                "Successfully reconciled",
                "ingress",
            );
        }
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_ingresses_are_the_controllers() {
        let class = |name: &str, default: bool| {
            json!({"metadata": {"name": name, "annotations": {"ingressclass.kubernetes.io/is-default-class": default.to_string()}},
                "spec": {"controller": "ingress.k8s.aws/alb"}})
        };
        let classes = [class("shared-alb", true)];
        let ing = |spec: Value, ann: Value| json!({"metadata": {"annotations": ann}, "spec": spec});
        assert!(is_alb_ingress(
            &ing(json!({"ingressClassName": "alb"}), json!({})),
            &[]
        ));
        assert!(is_alb_ingress(
            &ing(json!({}), json!({"kubernetes.io/ingress.class": "alb"})),
            &[]
        ));
        assert!(!is_alb_ingress(
            &ing(json!({}), json!({"kubernetes.io/ingress.class": "nginx"})),
            &classes
        ));
        assert!(is_alb_ingress(
            &ing(json!({"ingressClassName": "shared-alb"}), json!({})),
            &classes
        ));
        assert!(!is_alb_ingress(
            &ing(json!({"ingressClassName": "nginx"}), json!({})),
            &classes
        ));
        assert!(is_alb_ingress(&ing(json!({}), json!({})), &classes));
        assert!(!is_alb_ingress(
            &ing(json!({}), json!({})),
            &[class("x", false)]
        ));
    }

    #[test]
    fn rolling_limits_round_like_the_deployment_controller() {
        let d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        assert_eq!(rolling_limits(&d, 3), (1, 0));
        assert_eq!(rolling_limits(&d, 4), (1, 1));
        let d =
            json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!(rolling_limits(&d, 3), (0, 1));
    }
}
