//! `wait`: whether an object meets what a step waits for, and following a watch until
//! it does. The host waits on the server's events rather than polling, so a long wait
//! costs one open request, not a request a second.

use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject, WatchEvent, WatchParams};
use kube::core::ResourceExt;
use serde_json::Value;
use tokio::time::Instant;

use super::jsonpath::{self, Path};
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::kubernetes::WaitFor;
use crate::cloud::errors;

/// What a wait is for, parsed once before anything is sent.
#[derive(Debug)]
pub enum Goal {
    Condition { kind: String, status: String },
    Path { path: Path, value: Option<String> },
    Deleted,
}

impl Goal {
    pub fn new(for_: WaitFor) -> Result<Goal, String> {
        Ok(match for_ {
            WaitFor::Condition((kind, status)) => {
                if kind.is_empty() || status.is_empty() {
                    return Err("a condition wait needs a type and a status, such as (\"Available\", \"True\")".into());
                }
                Goal::Condition { kind, status }
            }
            WaitFor::Jsonpath((path, value)) => Goal::Path {
                path: jsonpath::parse(&path)?,
                value,
            },
            WaitFor::Deleted => Goal::Deleted,
        })
    }

    /// Whether the object as seen (`None`: it does not exist) is what the wait is for.
    pub fn met(&self, object: Option<&Value>) -> bool {
        match (self, object) {
            (Goal::Deleted, o) => o.is_none(),
            (_, None) => false,
            (Goal::Condition { kind, status }, Some(o)) => {
                matches!(condition(o, kind), Cond::Current { status: s, .. } if s.eq_ignore_ascii_case(status))
            }
            (Goal::Path { path, value }, Some(o)) => jsonpath::met(path, value.as_deref(), o),
        }
    }

    /// What the object last showed, for the timeout message.
    pub fn describe(&self, object: Option<&Value>) -> String {
        let Some(o) = object else {
            return "it did not exist".into();
        };
        match self {
            Goal::Deleted => match o.pointer("/metadata/deletionTimestamp") {
                Some(Value::String(_)) => {
                    let finalizers = o
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .map(|f| f.iter().map(jsonpath::text).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default();
                    if finalizers.is_empty() {
                        "it was being deleted".into()
                    } else {
                        format!("it was being deleted, held by finalizers {finalizers}")
                    }
                }
                _ => "it still existed".into(),
            },
            Goal::Condition { kind, status } => match condition(o, kind) {
                Cond::Missing => format!("condition {kind} was not reported (want {status:?})"),
                Cond::Stale {
                    status: s,
                    observed,
                    generation,
                } => format!(
                    "condition {kind} was {s:?} for an older generation (observed {observed}, current {generation}; want {status:?})"
                ),
                Cond::Current {
                    status: s,
                    reason,
                    message,
                } => {
                    let mut out = format!("condition {kind} was {s:?} (want {status:?})");
                    let detail = match (reason.is_empty(), message.is_empty()) {
                        (true, true) => String::new(),
                        (false, true) => reason,
                        (true, false) => message,
                        (false, false) => format!("{reason}: {message}"),
                    };
                    if !detail.is_empty() {
                        out.push_str(": ");
                        out.push_str(&crate::state::audit::clip(&detail, 300));
                    }
                    out
                }
            },
            Goal::Path { path, value } => {
                let seen = jsonpath::describe(path, o);
                match value {
                    Some(v) => format!("{seen} (want {v:?})"),
                    None => seen,
                }
            }
        }
    }
}

/// A `status.conditions` entry as far as a wait is concerned.
#[derive(Debug, PartialEq)]
enum Cond {
    Missing,
    /// Reported for an earlier spec: a Deployment still `Available` from before an
    /// update must not end a wait for the update.
    Stale {
        status: String,
        observed: i64,
        generation: i64,
    },
    Current {
        status: String,
        reason: String,
        message: String,
    },
}

/// The condition of type `kind`, matched case-insensitively as kubectl does.
fn condition(o: &Value, kind: &str) -> Cond {
    let Some(c) = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind))
            })
        })
    else {
        return Cond::Missing;
    };
    let text = |k: &str| {
        c.get(k)
            .map(|v| match v {
                Value::Null => String::new(),
                v => jsonpath::text(v),
            })
            .unwrap_or_default()
    };
    let status = text("status");
    if let Some(generation) = o.pointer("/metadata/generation").and_then(Value::as_i64) {
        let observed = [
            o.pointer("/status/observedGeneration"),
            c.get("observedGeneration"),
        ]
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .min();
        if let Some(observed) = observed
            && observed < generation
        {
            return Cond::Stale {
                status,
                observed,
                generation,
            };
        }
    }
    Cond::Current {
        status,
        reason: text("reason"),
        message: text("message"),
    }
}

pub fn to_value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

fn gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}

/// Follows `name` until `goal` holds, returning the object then (`None` once deleted).
/// The caller bounds the whole wait; `last` keeps what was seen for its message.
/// `deadline` only sizes each watch request, so none outlives the wait.
pub async fn follow(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    goal: &Goal,
    last: &mut Option<Value>,
    deadline: Instant,
) -> Result<Option<Value>, PluginError> {
    let kube_err = |verb: &str, e| errors::kube(&format!("{verb} {what}"), e);
    loop {
        let current = api.get_opt(name).await.map_err(|e| kube_err("get", e))?;
        let mut version = current
            .as_ref()
            .and_then(|o| o.resource_version())
            .unwrap_or_else(|| "0".into());
        *last = current.as_ref().map(to_value);
        if goal.met(last.as_ref()) {
            return Ok(last.take());
        }
        // Watches from `version`; a 410 (the version is too old) breaks out to a new get.
        'watch: loop {
            let secs = deadline
                .saturating_duration_since(Instant::now())
                .as_secs()
                .saturating_add(1)
                .min(290) as u32;
            let params = WatchParams::default()
                .fields(&format!("metadata.name={name}"))
                .timeout(secs);
            let opened = Instant::now();
            let stream = match api.watch(&params, &version).await {
                Ok(s) => s,
                Err(e) if gone(&e) => break 'watch,
                Err(e) => return Err(kube_err("watch", e)),
            };
            let mut stream = std::pin::pin!(stream);
            let mut events = 0u64;
            while let Some(event) = stream.next().await {
                events += 1;
                match event {
                    Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                        // The field selector already filters; a server without it must not
                        // make another object's events count.
                        if o.metadata.name.as_deref() != Some(name) {
                            continue;
                        }
                        if let Some(v) = o.resource_version() {
                            version = v;
                        }
                        *last = Some(to_value(&o));
                        if goal.met(last.as_ref()) {
                            return Ok(last.take());
                        }
                    }
                    Ok(WatchEvent::Deleted(o)) => {
                        if o.metadata.name.as_deref() != Some(name) {
                            continue;
                        }
                        if let Some(v) = o.resource_version() {
                            version = v;
                        }
                        *last = None;
                        if goal.met(None) {
                            return Ok(None);
                        }
                    }
                    Ok(WatchEvent::Bookmark(b)) => version = b.metadata.resource_version,
                    Ok(WatchEvent::Error(s)) if s.code == 410 => break 'watch,
                    Ok(WatchEvent::Error(s)) => return Err(kube_err("watch", kube::Error::Api(s))),
                    Err(e) if gone(&e) => break 'watch,
                    // The connection broke: resume from the last version seen.
                    Err(kube::Error::ReadEvents(_)) => break,
                    Err(e) => return Err(kube_err("watch", e)),
                }
            }
            // A server that ends watches at once must not turn this into a busy loop.
            if events == 0 && opened.elapsed() < Duration::from_secs(1) {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(kind: &str, status: &str) -> Goal {
        Goal::new(WaitFor::Condition((kind.into(), status.into()))).unwrap()
    }

    #[test]
    fn conditions() {
        let mut d = json!({
            "metadata": {"name": "web", "generation": 2},
            "status": {"observedGeneration": 2, "conditions": [
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                 "message": "Deployment does not have minimum availability."}
            ]}
        });
        let available = cond("Available", "True");
        assert!(!available.met(Some(&d)));
        assert_eq!(
            available.describe(Some(&d)),
            "condition Available was \"False\" (want \"True\"): MinimumReplicasUnavailable: Deployment does not have minimum availability."
        );
        assert!(cond("Progressing", "True").met(Some(&d)));
        assert!(cond("progressing", "true").met(Some(&d)));
        assert!(cond("Available", "False").met(Some(&d)));
        assert!(!cond("Ready", "True").met(Some(&d)));
        assert_eq!(
            cond("Ready", "True").describe(Some(&d)),
            "condition Ready was not reported (want \"True\")"
        );
        assert!(!available.met(None));
        assert_eq!(available.describe(None), "it did not exist");

        d["status"]["conditions"][1]["status"] = json!("True");
        assert!(available.met(Some(&d)));
        // A newer spec than the status describes: the condition is stale.
        d["metadata"]["generation"] = json!(3);
        assert!(!available.met(Some(&d)));
        assert!(available.describe(Some(&d)).contains("older generation"));
        d["status"]["observedGeneration"] = json!(3);
        assert!(available.met(Some(&d)));
        d["status"]["conditions"][1]["observedGeneration"] = json!(2);
        assert!(!available.met(Some(&d)));
        // Objects without generations (most custom resources' conditions) still match.
        let plain = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(cond("Ready", "True").met(Some(&plain)));
        assert!(!cond("Ready", "True").met(Some(&json!({"status": {}}))));
        assert!(Goal::new(WaitFor::Condition(("".into(), "True".into()))).is_err());
    }

    #[test]
    fn deleted_and_paths() {
        let deleted = Goal::new(WaitFor::Deleted).unwrap();
        assert!(deleted.met(None));
        let o = json!({"metadata": {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z",
            "finalizers": ["example.com/x"]}});
        assert!(!deleted.met(Some(&o)));
        assert_eq!(
            deleted.describe(Some(&o)),
            "it was being deleted, held by finalizers example.com/x"
        );
        let p = Goal::new(WaitFor::Jsonpath((
            "{.status.phase}".into(),
            Some("Running".into()),
        )))
        .unwrap();
        assert!(p.met(Some(&json!({"status": {"phase": "Running"}}))));
        assert!(!p.met(Some(&json!({"status": {"phase": "Pending"}}))));
        assert_eq!(
            p.describe(Some(&json!({"status": {"phase": "Pending"}}))),
            "jsonpath {.status.phase} was \"Pending\" (want \"Running\")"
        );
        assert!(Goal::new(WaitFor::Jsonpath(("{.items[*]}".into(), None))).is_err());
    }

    /// Watches that end in 410 Gone or are cut mid-stream, and gets that fail, are
    /// followed through until the change the wait is for arrives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_rides_out_expired_and_dropped_watches() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::api::{ApiResource, Patch, PatchParams, PostParams};

        let dir = tempfile::tempdir().unwrap();
        let mut cfg = runner_sandbox::SandboxConfig::new(dir.path().into());
        cfg.clusters.truncate(1);
        cfg.transition_delay = Duration::from_millis(20);
        let spec = "kube.watch:gone=0.3,kube.watch:drop-watch=0.7,kube.get:5xx=0.3,kube.get:reset-before=0.2,kube.patch:conflict=0.5";
        cfg.faults = Some(runner_sandbox::faults::FaultConfig::from_arg(spec, 7).unwrap());
        let sb = runner_sandbox::Sandbox::start(cfg).await.unwrap();
        let kubeconfig = kube::config::Kubeconfig::read_from(&sb.endpoints().kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = crate::cloud::retry::client(config, Duration::from_millis(5)).unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "w"}, "data": {"k": "v"}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
        let later = cms.clone();
        let change = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            // Conflicts half the time: the retry layer sends it again.
            later
                .patch(
                    "w",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"k": "w"}})),
                )
                .await
                .unwrap();
        });
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, "default", &ApiResource::erase::<ConfigMap>(&()));
        let goal = Goal::new(WaitFor::Jsonpath(("{.data.k}".into(), Some("w".into())))).unwrap();
        let mut last = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        let got = follow(&api, "w", "ConfigMap default/w", &goal, &mut last, deadline)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got["data"]["k"], "w");
        change.await.unwrap();
        let counts = sb.fault_counts().unwrap();
        let watch = &counts.by_operation["kube.watch"];
        assert!(
            watch.get("gone").is_some() && watch.get("drop-watch").is_some(),
            "{counts:#?}"
        );
        sb.shutdown().await.unwrap();
    }
}
