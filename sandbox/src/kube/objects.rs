//! The write path every client request and every controller goes through: server-owned
//! metadata (uid, resourceVersion, generation, timestamps), defaulting and validation,
//! optimistic concurrency, subresources, finalizers and garbage collection.

use serde_json::{Value, json};

use super::managed_fields::{self, Scope, Writer};
use super::resources::{self, ResourceType};
use super::status::ApiError;
use super::store::{EventType, Store, meta_str};
use super::{Cluster, time};
use super::{admission, decoding, immutable};

/// How much of `generateName` a generated name keeps: 63 less the 5 random characters.
const MAX_GENERATED_PREFIX: usize = 58;

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// Who writes, recorded in managedFields as an update: the `fieldManager` or the
    /// user agent's product. `None` for the sandbox's own controllers, whose writes
    /// are not recorded, and for applies, which record themselves.
    pub field_manager: Option<String>,
    /// `fieldValidation=Strict`: unknown fields of built-in kinds are a 400.
    pub strict: bool,
    /// The subresource written (`status`, `scale`), or empty.
    pub subresource: String,
    /// The new object's managedFields were set by a server-side apply: keep them.
    pub applied: bool,
}

impl WriteOptions {
    /// Records this write's manager in `new`'s managedFields, if it is one to record.
    fn record(&self, rt: &ResourceType, part: Part, old: Option<&Value>, new: &mut Value) {
        if let Some(manager) = &self.field_manager {
            let writer = Writer {
                manager,
                subresource: &self.subresource,
                scope: Scope::of(rt.status, part),
            };
            managed_fields::record_update(old, new, &writer);
        }
    }
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

/// `DeleteOptions`, the parts we honour.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub orphan: bool,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// Everything but metadata and status: a change here bumps `metadata.generation`.
fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn namespace_of(rt: &ResourceType, obj: &Value) -> String {
    if rt.namespaced {
        meta_str(obj, "namespace").to_string()
    } else {
        String::new()
    }
}

impl Cluster {
    /// Every served resource: the built-ins and the installed CRDs' custom resources.
    pub fn types(&self) -> Vec<ResourceType> {
        let mut types = resources::builtin();
        let store = self.lock();
        types.extend(
            store
                .list("apiextensions.k8s.io/customresourcedefinitions", None)
                .filter_map(resources::from_crd),
        );
        types
    }

    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types().into_iter().find(|t| {
            t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version)
        })
    }

    pub fn builtin_type(plural: &str) -> ResourceType {
        resources::builtin_named(plural).expect("a built-in resource")
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.lock()
            .get(&rt.key(), ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// The objects of a resource (in one namespace, or all) and the list's resourceVersion.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Value>, u64) {
        let store = self.lock();
        (store.list(&rt.key(), ns).cloned().collect(), store.rv)
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        ns: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut store = self.lock();
        let (obj, change) = self.create_locked(&mut store, rt, ns, obj, opts)?;
        if let Some(change) = change {
            self.published(change);
        }
        Ok(obj)
    }

    fn create_locked(
        &self,
        store: &mut Store,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<(Value, Option<super::store::Change>), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        check_kind(rt, &mut obj)?;
        check_metadata(&obj)?;
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let meta = &mut obj["metadata"];
        if rt.namespaced {
            let body_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta["namespace"] = json!(ns);
            match store.get("/namespaces", "", ns) {
                None => {
                    return Err(ApiError::not_found(
                        &Cluster::builtin_type("namespaces"),
                        ns,
                    ));
                }
                Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        rt.qualified(),
                        meta_str(&obj, "name")
                    )));
                }
                _ => {}
            }
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        let meta = &mut obj["metadata"];
        let generate = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && !generate.is_empty()
        {
            // At most 58 characters of the prefix, so the name fits 63 (apimachinery's
            // `SimpleNameGenerator`).
            let prefix: String = generate.chars().take(MAX_GENERATED_PREFIX).collect();
            meta["name"] = json!(format!("{prefix}{}", time::suffix(5)));
        }
        let meta = meta.as_object_mut().expect("object");
        for k in [
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(k);
        }
        meta.insert("uid".into(), json!(time::uid()));
        meta.insert("creationTimestamp".into(), json!(time::now()));
        meta.insert("generation".into(), json!(1));
        if rt.status && rt.plural != "pods" {
            obj.as_object_mut().expect("object").remove("status");
        }
        if let Some(e) = decoding::typed_decoding_error(rt, &obj) {
            return Err(ApiError::bad_request(e));
        }
        if opts.strict
            && let Some(e) = decoding::strict_decoding_error(rt, &obj)
        {
            return Err(ApiError::bad_request(e));
        }
        decoding::prune_unknown(rt, &mut obj);
        check_schema(rt, &mut obj, opts.strict)?;
        admission::default(rt, &mut obj, None, store);
        opts.record(rt, Part::Main, None, &mut obj);
        let name = meta_str(&obj, "name").to_string();
        let causes = admission::validate(rt, &obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, &name, causes));
        }
        if store
            .get(&rt.key(), &namespace_of(rt, &obj), &name)
            .is_some()
        {
            return Err(ApiError::already_exists(rt, &name));
        }
        if opts.dry_run {
            return Ok((obj, None));
        }
        let (obj, change) = store.put(&rt.key(), obj, EventType::Added);
        Ok((obj, Some(change)))
    }

    /// PUT: replaces the object (or its status), checking resourceVersion if given.
    pub fn replace(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        part: Part,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.modify(rt, ns, name, part, opts, false, |_| Ok(obj))
    }

    /// Reads the object, lets `f` compute its new form, and stores that, all under the
    /// store lock. With `create_missing`, a missing object is created from `f(empty)`.
    #[allow(clippy::too_many_arguments)]
    pub fn modify(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        part: Part,
        opts: &WriteOptions,
        create_missing: bool,
        f: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut store = self.lock();
        let Some(old) = store.get(&rt.key(), ns, name).cloned() else {
            if create_missing {
                let mut obj = f(&json!({}))?;
                check_metadata(&obj)?;
                if obj.pointer("/metadata/name").is_none() {
                    set_path(&mut obj, &["metadata", "name"], json!(name));
                }
                let (obj, change) = self.create_locked(&mut store, rt, ns, obj, opts)?;
                if let Some(change) = change {
                    self.published(change);
                }
                return Ok(obj);
            }
            return Err(ApiError::not_found(rt, name));
        };
        let new = f(&old)?;
        let (obj, change) = self.update_locked(&mut store, rt, &old, new, part, opts)?;
        if let Some(change) = change {
            self.published(change);
        }
        Ok(obj)
    }

    fn update_locked(
        &self,
        store: &mut Store,
        rt: &ResourceType,
        old: &Value,
        mut new: Value,
        part: Part,
        opts: &WriteOptions,
    ) -> Result<(Value, Option<super::store::Change>), ApiError> {
        let name = meta_str(old, "name").to_string();
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        check_kind(rt, &mut new)?;
        check_metadata(&new)?;
        if !new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"] = json!({});
        }
        let body_name = meta_str(&new, "name");
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let body_ns = meta_str(&new, "namespace");
        if rt.namespaced && !body_ns.is_empty() && body_ns != meta_str(old, "namespace") {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let rv = meta_str(&new, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
            return Err(ApiError::conflict(rt, &name));
        }
        let mut obj = match part {
            Part::Status => {
                let mut o = old.clone();
                match new.get("status") {
                    Some(s) => o["status"] = s.clone(),
                    None => {
                        o.as_object_mut().expect("object").remove("status");
                    }
                }
                if opts.applied
                    && let Some(meta) = o["metadata"].as_object_mut()
                {
                    match new.pointer("/metadata/managedFields") {
                        Some(m) => meta.insert("managedFields".into(), m.clone()),
                        None => meta.remove("managedFields"),
                    };
                }
                o
            }
            Part::Main => {
                if rt.status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            new.as_object_mut().expect("object").remove("status");
                        }
                    }
                }
                new
            }
        };
        // Server-owned metadata survives any update.
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old["metadata"].get(k) {
                Some(v) => obj["metadata"][k] = v.clone(),
                None => {
                    obj["metadata"].as_object_mut().expect("object").remove(k);
                }
            }
        }
        obj["metadata"]["name"] = json!(name);
        if rt.namespaced {
            obj["metadata"]["namespace"] = json!(meta_str(old, "namespace"));
        }
        if let Some(e) = decoding::typed_decoding_error(rt, &obj) {
            return Err(ApiError::bad_request(e));
        }
        if opts.strict
            && let Some(e) = decoding::strict_decoding_error(rt, &obj)
        {
            return Err(ApiError::bad_request(e));
        }
        decoding::prune_unknown(rt, &mut obj);
        check_schema(rt, &mut obj, opts.strict)?;
        admission::default(rt, &mut obj, Some(old), store);
        if spec_part(&obj) != spec_part(old) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        opts.record(rt, part, Some(old), &mut obj);
        let mut causes = admission::validate(rt, &obj);
        causes.extend(immutable::update_causes(rt, old, &obj));
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, &name, causes));
        }
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if without_managed_time(&obj) == without_managed_time(old) {
            return Ok((old.clone(), None));
        }
        if opts.dry_run {
            return Ok((obj, None));
        }
        let finalizing = obj.pointer("/metadata/deletionTimestamp").is_some()
            && obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty())
            && rt.plural != "namespaces";
        if finalizing {
            store
                .objects
                .entry(rt.key())
                .or_default()
                .insert((namespace_of(rt, &obj), name.clone()), obj);
            let (obj, change) = store
                .remove(&rt.key(), &namespace_of(rt, old), &name)
                .expect("just stored");
            return Ok((obj, Some(change)));
        }
        let (obj, change) = store.put(&rt.key(), obj, EventType::Modified);
        Ok((obj, Some(change)))
    }

    /// DELETE: removes the object, or marks it for deletion while finalizers remain.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let mut store = self.lock();
        let old = store
            .get(&rt.key(), ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        if opts
            .precondition_uid
            .as_deref()
            .is_some_and(|u| u != meta_str(&old, "uid"))
            || opts
                .precondition_rv
                .as_deref()
                .is_some_and(|r| r != meta_str(&old, "resourceVersion"))
        {
            return Err(ApiError::conflict(rt, name));
        }
        if rt.plural == "namespaces" && ["default", "kube-system", "kube-public"].contains(&name) {
            return Err(ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            )));
        }
        if opts.dry_run {
            return Ok(old);
        }
        let has_finalizers = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers || rt.plural == "namespaces" {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(old);
            }
            let mut obj = old.clone();
            obj["metadata"]["deletionTimestamp"] = json!(time::now());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if rt.plural == "namespaces" {
                set_path(&mut obj, &["status", "phase"], json!("Terminating"));
            }
            let (obj, change) = store.put(&rt.key(), obj, EventType::Modified);
            self.published(change);
            return Ok(obj);
        }
        if opts.orphan {
            orphan_dependents(&mut store, meta_str(&old, "uid"), |c| self.published(c));
        }
        let (obj, change) = store.remove(&rt.key(), ns, name).expect("present");
        self.published(change);
        Ok(obj)
    }

    /// Objects in the store whose owners are all gone (garbage collection), as
    /// (resource key, namespace, name).
    pub(super) fn orphans(&self) -> Vec<(String, String, String)> {
        let store = self.lock();
        let uids: std::collections::HashSet<&str> = store
            .objects
            .values()
            .flat_map(|m| m.values())
            .map(|o| meta_str(o, "uid"))
            .collect();
        let mut out = Vec::new();
        for (res, m) in &store.objects {
            for ((ns, name), o) in m {
                let owners = o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array);
                let Some(owners) = owners.filter(|o| !o.is_empty()) else {
                    continue;
                };
                if owners
                    .iter()
                    .all(|r| !uids.contains(r.get("uid").and_then(Value::as_str).unwrap_or("")))
                {
                    out.push((res.clone(), ns.clone(), name.clone()));
                }
            }
        }
        out
    }

    /// Deletes by store key, ignoring a missing object (controllers' garbage collection).
    pub(super) fn delete_by_key(&self, resource: &str, ns: &str, name: &str) {
        if let Some(rt) = self.types().into_iter().find(|t| t.key() == resource) {
            let _ = self.delete(&rt, ns, name, &DeleteOptions::default());
        }
    }
}

fn orphan_dependents(store: &mut Store, uid: &str, mut publish: impl FnMut(super::store::Change)) {
    let mut changed = Vec::new();
    for (res, m) in &store.objects {
        for o in m.values() {
            let Some(refs) = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
            else {
                continue;
            };
            if refs
                .iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
            {
                let mut o = o.clone();
                let refs: Vec<Value> = refs
                    .iter()
                    .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                    .cloned()
                    .collect();
                o["metadata"]["ownerReferences"] = json!(refs);
                changed.push((res.clone(), o));
            }
        }
    }
    for (res, o) in changed {
        let (_, change) = store.put(&res, o, EventType::Modified);
        publish(change);
    }
}

/// `v.a.b.c = x`, turning anything on the way that is not an object into one (user data
/// may hold a string where an object belongs; indexing it would panic).
pub(super) fn set_path(v: &mut Value, path: &[&str], x: Value) {
    let mut cur = v;
    for p in path {
        if !cur.is_object() {
            *cur = json!({});
        }
        cur = cur
            .as_object_mut()
            .expect("just made an object")
            .entry(p.to_string())
            .or_insert(Value::Null);
    }
    *cur = x;
}

/// The object without managedFields timestamps: a write that changes nothing else is a
/// no-op (no new resourceVersion).
fn without_managed_time(v: &Value) -> Value {
    let mut v = v.clone();
    let entries = v
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut);
    for e in entries.into_iter().flatten() {
        if let Some(e) = e.as_object_mut() {
            e.remove("time");
        }
    }
    v
}

/// A custom resource against its CRD's schema: unknown fields are a 400 under
/// `fieldValidation=Strict` and pruned otherwise; wrong types, enums and required
/// fields are a 422.
fn check_schema(rt: &ResourceType, obj: &mut Value, strict: bool) -> Result<(), ApiError> {
    let Some(schema) = &rt.schema else {
        return Ok(());
    };
    let report = admission::check_custom(schema, obj);
    if strict && !report.unknown.is_empty() {
        let list: Vec<String> = report
            .unknown
            .iter()
            .map(|u| format!("unknown field \"{u}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            list.join(", "),
            kind = rt.kind,
            version = rt.versions[0]
        )));
    }
    if !report.causes.is_empty() {
        return Err(ApiError::invalid(rt, meta_str(obj, "name"), report.causes));
    }
    Ok(())
}

/// `metadata`, when present, must be an object (the decoder of a real server refuses it).
fn check_metadata(obj: &Value) -> Result<(), ApiError> {
    match obj.get("metadata") {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "json: cannot unmarshal the value of \"metadata\" into Go struct field of type v1.ObjectMeta",
        )),
    }
}

/// Sets `apiVersion`/`kind` when missing; refuses a body of another kind.
fn check_kind(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind of the provided object ({kind}) does not match the resource ({})",
            rt.kind
        )));
    }
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    if !api_version.is_empty() && group != rt.group {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    obj["kind"] = json!(rt.kind);
    if api_version.is_empty() {
        obj["apiVersion"] = json!(rt.api_version());
    }
    Ok(())
}
