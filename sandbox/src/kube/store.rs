//! The object store of one cluster: every object as JSON, keyed by resource, namespace
//! and name, one resourceVersion counter for the whole cluster, and a short history of
//! changes so that watches can resume from a resourceVersion.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many past changes a watch can resume from; older resourceVersions get 410 Gone.
const HISTORY: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as fanned out to watches.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub kind: EventType,
    /// Store key of the resource (`apps/deployments`).
    pub resource: String,
    pub object: Arc<Value>,
}

/// (namespace, name); the namespace is empty for cluster-scoped objects.
pub type ObjKey = (String, String);

#[derive(Default)]
pub struct Store {
    pub rv: u64,
    pub objects: BTreeMap<String, BTreeMap<ObjKey, Value>>,
    pub history: VecDeque<Change>,
}

#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub resource_version: u64,
    pub objects: Vec<StoredObject>,
}

#[derive(Serialize, Deserialize)]
pub struct StoredObject {
    pub resource: String,
    pub object: Value,
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl Store {
    pub fn from_snapshot(s: Snapshot) -> Store {
        let mut store = Store {
            rv: s.resource_version,
            ..Store::default()
        };
        for o in s.objects {
            let key = (
                meta_str(&o.object, "namespace").to_string(),
                meta_str(&o.object, "name").to_string(),
            );
            store
                .objects
                .entry(o.resource)
                .or_default()
                .insert(key, o.object);
        }
        store
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            resource_version: self.rv,
            objects: self
                .objects
                .iter()
                .flat_map(|(r, m)| {
                    m.values().map(|o| StoredObject {
                        resource: r.clone(),
                        object: o.clone(),
                    })
                })
                .collect(),
        }
    }

    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(resource)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of a resource, optionally within one namespace, in name order.
    pub fn list<'a>(
        &'a self,
        resource: &str,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .get(resource)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |((n, _), _)| ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v)
    }

    /// Stores `obj` (whose metadata is already complete but for resourceVersion), bumps the
    /// resourceVersion and records the change. Returns the stored object.
    pub fn put(&mut self, resource: &str, mut obj: Value, kind: EventType) -> (Value, Change) {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let key = (
            meta_str(&obj, "namespace").to_string(),
            meta_str(&obj, "name").to_string(),
        );
        self.objects
            .entry(resource.to_string())
            .or_default()
            .insert(key, obj.clone());
        let change = self.record(resource, obj.clone(), kind);
        (obj, change)
    }

    /// Removes an object; the DELETED event carries a fresh resourceVersion, as Kubernetes does.
    pub fn remove(&mut self, resource: &str, ns: &str, name: &str) -> Option<(Value, Change)> {
        let mut obj = self
            .objects
            .get_mut(resource)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let change = self.record(resource, obj.clone(), EventType::Deleted);
        Some((obj, change))
    }

    fn record(&mut self, resource: &str, obj: Value, kind: EventType) -> Change {
        let change = Change {
            rv: self.rv,
            kind,
            resource: resource.to_string(),
            object: Arc::new(obj),
        };
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        change
    }

    /// Changes after `rv`, or `None` when the history no longer reaches back that far.
    pub fn since(&self, rv: u64) -> Option<Vec<Change>> {
        if rv >= self.rv {
            return Some(Vec::new());
        }
        match self.history.front() {
            Some(first) if first.rv <= rv + 1 => {
                Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
            }
            // Nothing recorded since a restart: only the current rv can be resumed.
            _ => None,
        }
    }
}
