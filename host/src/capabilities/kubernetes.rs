//! `kubernetes`: generic access to any kind in the workflow's clusters, objects crossing
//! the boundary as JSON. Every call is checked against `grants.kubernetes` for kind,
//! namespace and verb before a request leaves the host.

pub(crate) mod jsonpath;
mod manifest;
mod wait;

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{Resource, ResourceExt, TypeMeta};
use runner_workflow::Grants;
use serde_json::{Value, json};

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::kubernetes::*;
use crate::cloud::kinds::{self, KindInfo, group_version};
use crate::cloud::{Cloud, errors};

/// Field manager of every server-side apply, so `kubectl` shows who owns the fields.
const MANAGER: &str = "runner";
/// An object or list bigger than this is not something a plugin should hold in memory.
const MAX_JSON: usize = 8 << 20;
/// A patch is a manifest in all but name.
const MAX_PATCH: usize = manifest::MAX_MANIFEST;
const MAX_SELECTOR: usize = 4 << 10;
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// A page of `list`: small enough for the server, big enough to need few round trips.
const PAGE: u32 = 500;

fn invalid(message: impl Into<String>) -> PluginError {
    PluginError::Invalid(message.into())
}

/// `Deployment shop/web`, `Namespace shop`: how messages and the audit log name objects.
fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Serializes what goes back to the plugin, refusing what would be too big to hand over.
fn bounded_json(what: &str, value: &impl serde::Serialize) -> Result<String, PluginError> {
    let text = serde_json::to_string(value)
        .map_err(|e| PluginError::Internal(format!("{what}: cannot encode as JSON: {e}")))?;
    bounded(what, text)
}

fn bounded(what: &str, text: String) -> Result<String, PluginError> {
    if text.len() > MAX_JSON {
        return Err(invalid(format!(
            "{what} is {} bytes; the limit is 8 MiB",
            text.len()
        )));
    }
    Ok(text)
}

fn api_for(client: &kube::Client, info: &KindInfo, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if info.namespaced => Api::namespaced_with(client.clone(), ns, &info.resource),
        _ => Api::all_with(client.clone(), &info.resource),
    }
}

/// The scope of a kind when the call does not say it: a kind the host knows is checked
/// exactly; for another, the grant check waits for discovery, but a kind granted in
/// neither scope is refused before discovery sends anything.
fn precheck(
    grants: &Grants,
    cluster: &str,
    api_version: &str,
    kind: &str,
    namespace: &str,
    verb: &str,
) -> Result<(), PluginError> {
    match kinds::known(api_version, kind) {
        Some(info) => scoped(grants, cluster, &info, kind, namespace, verb),
        None => grants
            .kubernetes(cluster, Some(namespace), kind, verb)
            .or_else(|e| grants.kubernetes(cluster, None, kind, verb).map_err(|_| e))
            .map_err(super::denied),
    }
}

/// The exact grant check once the kind's scope is known.
fn scoped(
    grants: &Grants,
    cluster: &str,
    info: &KindInfo,
    kind: &str,
    namespace: &str,
    verb: &str,
) -> Result<(), PluginError> {
    let ns = info.namespaced.then_some(namespace);
    grants
        .kubernetes(cluster, ns, kind, verb)
        .map_err(super::denied)
}

/// An object a call names, resolved and allowed.
struct Target {
    client: kube::Client,
    info: KindInfo,
    api: Api<DynamicObject>,
    /// `Deployment shop/web in cluster `east``, for messages.
    what: String,
}

/// Checks an `object-ref` (shape, then grants, then scope) and resolves its kind. The
/// caller says the scope (a namespace or none), so the grant check needs no discovery.
async fn resolve(
    grants: &Grants,
    cloud: Option<Arc<Cloud>>,
    t: &ObjectRef,
    verb: &str,
) -> Result<Target, PluginError> {
    manifest::check_name(&t.name).map_err(|e| invalid(format!("name: {e}")))?;
    if let Some(ns) = &t.namespace {
        manifest::check_namespace(ns).map_err(|e| invalid(format!("namespace: {e}")))?;
    }
    group_version(&t.api_version)?;
    if t.kind.is_empty() {
        return Err(invalid("an object needs a `kind`"));
    }
    let scope = |info: &KindInfo| match (info.namespaced, &t.namespace) {
        (true, None) => Err(invalid(format!(
            "{} is namespaced: name the namespace of `{}`",
            t.kind, t.name
        ))),
        (false, Some(ns)) => Err(invalid(format!(
            "{} is cluster-scoped: `{}` has no namespace (got `{ns}`)",
            t.kind, t.name
        ))),
        _ => Ok(()),
    };
    if let Some(info) = kinds::known(&t.api_version, &t.kind) {
        scope(&info)?;
    }
    grants
        .kubernetes(&t.cluster, t.namespace.as_deref(), &t.kind, verb)
        .map_err(super::denied)?;
    let cloud = super::connected(cloud)?;
    let client = cloud.cluster(&t.cluster)?.client.clone();
    let info = cloud.kind(&t.cluster, &t.api_version, &t.kind).await?;
    scope(&info)?;
    let api = api_for(&client, &info, t.namespace.as_deref());
    Ok(Target {
        client,
        info,
        api,
        what: format!(
            "{} in cluster `{}`",
            describe(&t.kind, t.namespace.as_deref(), &t.name),
            t.cluster
        ),
    })
}

fn args_of(t: &ObjectRef) -> String {
    format!(
        "{} {} {}",
        t.cluster,
        t.api_version,
        describe(&t.kind, t.namespace.as_deref(), &t.name)
    )
}

/// Lists and other objects without `apiVersion`/`kind` (list items) get them back, so a
/// plugin can hand any object it received to `apply`.
fn typed(mut o: DynamicObject, info: &KindInfo) -> DynamicObject {
    if o.types.is_none() {
        o.types = Some(TypeMeta {
            api_version: info.resource.api_version.clone(),
            kind: info.resource.kind.clone(),
        });
    }
    o
}

/// One object of a manifest, ready to send.
struct Planned {
    info: KindInfo,
    namespace: Option<String>,
    item: manifest::Item,
}

async fn apply(
    grants: &Grants,
    cloud: Option<Arc<Cloud>>,
    cluster: &str,
    namespace: Option<&str>,
    text: &str,
) -> Result<Vec<Applied>, PluginError> {
    let default_ns = namespace.unwrap_or("default");
    manifest::check_namespace(default_ns).map_err(|e| invalid(format!("namespace: {e}")))?;
    let items = manifest::parse(text).map_err(invalid)?;
    // Every object is allowed before the first is sent (and before any discovery).
    for it in &items {
        let ns = it.namespace.as_deref().unwrap_or(default_ns);
        precheck(grants, cluster, &it.api_version, &it.kind, ns, "apply")?;
    }
    let cloud = super::connected(cloud)?;
    let client = cloud.cluster(cluster)?.client.clone();
    let mut plan = Vec::with_capacity(items.len());
    for mut item in items {
        let info = cloud
            .kind(cluster, &item.api_version, &item.kind)
            .await
            .map_err(|e| prefixed(&item.place, e))?;
        let namespace = if info.namespaced {
            let ns = item.namespace.as_deref().unwrap_or(default_ns).to_string();
            item.object["metadata"]["namespace"] = json!(ns);
            Some(ns)
        } else if let Some(ns) = &item.namespace {
            return Err(invalid(format!(
                "{}: {} is cluster-scoped but has metadata.namespace `{ns}`",
                item.place, item.kind
            )));
        } else {
            None
        };
        scoped(
            grants,
            cluster,
            &info,
            &item.kind,
            namespace.as_deref().unwrap_or(default_ns),
            "apply",
        )?;
        plan.push(Planned {
            info,
            namespace,
            item,
        });
    }
    let total = plan.len();
    let mut applied = Vec::with_capacity(total);
    let params = PatchParams::apply(MANAGER).force();
    for (i, p) in plan.into_iter().enumerate() {
        let what = describe(&p.item.kind, p.namespace.as_deref(), &p.item.name);
        let fail = |verb: &str, e: kube::Error| {
            let e = errors::kube(&format!("{verb} {what}"), e);
            if i == 0 {
                e
            } else {
                prefixed(
                    &format!(
                        "{} ({i} of {total} objects were applied before it)",
                        p.item.place
                    ),
                    e,
                )
            }
        };
        let api = api_for(&client, &p.info, p.namespace.as_deref());
        let before = api
            .get_opt(&p.item.name)
            .await
            .map_err(|e| fail("get", e))?;
        let after = api
            .patch(&p.item.name, &params, &Patch::Apply(&p.item.object))
            .await
            .map_err(|e| fail("apply", e))?;
        let outcome = match before {
            None => ApplyOutcome::Created,
            Some(b) if b.resource_version() == after.resource_version() => ApplyOutcome::Unchanged,
            Some(_) => ApplyOutcome::Configured,
        };
        applied.push(Applied {
            api_version: p.item.api_version,
            kind: p.item.kind,
            namespace: p.namespace,
            name: p.item.name,
            outcome,
        });
    }
    Ok(applied)
}

/// The same error kind with where it happened in front of its message.
fn prefixed(place: &str, e: PluginError) -> PluginError {
    let at = |m: String| format!("{place}: {m}");
    match e {
        PluginError::Denied(m) => PluginError::Denied(at(m)),
        PluginError::NotFound(m) => PluginError::NotFound(at(m)),
        PluginError::Conflict(m) => PluginError::Conflict(at(m)),
        PluginError::Invalid(m) => PluginError::Invalid(at(m)),
        PluginError::Throttled(m) => PluginError::Throttled(at(m)),
        PluginError::Unavailable(m) => PluginError::Unavailable(at(m)),
        PluginError::Timeout(m) => PluginError::Timeout(at(m)),
        PluginError::Internal(m) => PluginError::Internal(at(m)),
    }
}

async fn list(
    grants: &Grants,
    cloud: Option<Arc<Cloud>>,
    cluster: &str,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Result<String, PluginError> {
    group_version(api_version)?;
    if kind.is_empty() {
        return Err(invalid("a list needs a `kind`"));
    }
    let ns = namespace.unwrap_or("default");
    if ns != "*" {
        manifest::check_namespace(ns).map_err(|e| invalid(format!("namespace: {e}")))?;
    }
    if let Some(s) = selector
        && s.len() > MAX_SELECTOR
    {
        return Err(invalid(format!(
            "the label selector is {} bytes; the limit is 4 KiB",
            s.len()
        )));
    }
    precheck(grants, cluster, api_version, kind, ns, "list")?;
    let cloud = super::connected(cloud)?;
    let client = cloud.cluster(cluster)?.client.clone();
    let info = cloud.kind(cluster, api_version, kind).await?;
    scoped(grants, cluster, &info, kind, ns, "list")?;
    let api = api_for(&client, &info, (ns != "*").then_some(ns));
    let what = match (info.namespaced, ns) {
        (true, "*") => format!("list {kind} in all namespaces"),
        (true, ns) => format!("list {kind} in namespace {ns}"),
        (false, _) => format!("list {kind}"),
    };
    let mut params = ListParams::default().limit(PAGE);
    if let Some(s) = selector.filter(|s| !s.is_empty()) {
        params = params.labels(s);
    }
    let mut out = String::from("[");
    let mut count = 0usize;
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| errors::kube(&what, e))?;
        for item in page.items {
            let text = serde_json::to_string(&typed(item, &info))
                .map_err(|e| PluginError::Internal(format!("{what}: cannot encode: {e}")))?;
            if count > 0 {
                out.push(',');
            }
            out.push_str(&text);
            count += 1;
            if out.len() > MAX_JSON {
                return Err(invalid(format!(
                    "the list ({what}) is over {} bytes after {count} objects; the limit is 8 MiB (narrow it with a label selector)",
                    out.len()
                )));
            }
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    out.push(']');
    bounded(&format!("the list ({what})"), out)
}

async fn patch(
    grants: &Grants,
    cloud: Option<Arc<Cloud>>,
    target: &ObjectRef,
    patch_type: PatchType,
    text: &str,
) -> Result<String, PluginError> {
    if text.len() > MAX_PATCH {
        return Err(invalid(format!(
            "the patch is {} bytes; the limit is 4 MiB",
            text.len()
        )));
    }
    let mut body: Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("the patch is not JSON: {e}")))?;
    match (patch_type, &body) {
        (PatchType::Json, Value::Array(_)) => {}
        (PatchType::Json, _) => {
            return Err(invalid(
                "a JSON patch is an array of operations, such as [{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":2}]",
            ));
        }
        (_, Value::Object(_)) => {}
        (_, _) => {
            return Err(invalid(
                "a merge, strategic or apply patch is a JSON object",
            ));
        }
    }
    if let PatchType::Apply = patch_type {
        complete_apply_patch(&mut body, target)?;
    }
    let t = resolve(grants, cloud, target, "patch").await?;
    let name = target.name.as_str();
    let fail = |e| errors::kube(&format!("patch {}", t.what), e);
    let patched = match patch_type {
        PatchType::Merge => t
            .api
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(fail)?,
        PatchType::Strategic => t
            .api
            .patch(name, &PatchParams::default(), &Patch::Strategic(&body))
            .await
            .map_err(fail)?,
        PatchType::Apply => t
            .api
            .patch(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(fail)?,
        PatchType::Json => {
            // kube's `Patch::Json` needs the `json-patch` crate only to hold the
            // operations; the server parses them, so the body goes as it came.
            let url = DynamicObject::url_path(&t.info.resource, target.namespace.as_deref());
            let mut req = kube::core::Request::new(url)
                .patch(name, &PatchParams::default(), &Patch::Merge(&body))
                .map_err(|e| PluginError::Internal(format!("patch {}: {e}", t.what)))?;
            req.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json-patch+json"),
            );
            t.client.request::<DynamicObject>(req).await.map_err(fail)?
        }
    };
    bounded_json(&t.what, &typed(patched, &t.info))
}

/// A server-side apply body must name what it applies to; a partial object from a
/// plugin gets the target's identity, and one naming another object is refused.
fn complete_apply_patch(body: &mut Value, t: &ObjectRef) -> Result<(), PluginError> {
    let mut set = |pointer: &str, value: &str, parent: &str, key: &str| match body.pointer(pointer)
    {
        None | Some(Value::Null) => {
            let slot = if parent.is_empty() {
                &mut *body
            } else {
                let b = &mut *body;
                if !b.get(parent).is_some_and(Value::is_object) {
                    b[parent] = json!({});
                }
                &mut b[parent]
            };
            slot[key] = json!(value);
            Ok(())
        }
        Some(Value::String(s)) if s == value => Ok(()),
        Some(other) => Err(invalid(format!(
            "the apply patch has {} {other}, but the target's is {value:?}",
            pointer.trim_start_matches('/').replace('/', ".")
        ))),
    };
    set("/apiVersion", &t.api_version, "", "apiVersion")?;
    set("/kind", &t.kind, "", "kind")?;
    set("/metadata/name", &t.name, "metadata", "name")?;
    if let Some(ns) = &t.namespace {
        set("/metadata/namespace", ns, "metadata", "namespace")?;
    }
    Ok(())
}

/// The kinds with a `scale` subresource that `scale` is for.
const SCALABLE: &[&str] = &["Deployment", "StatefulSet", "ReplicaSet"];

impl Host for StepHost {
    async fn apply(
        &mut self,
        cluster: String,
        namespace: Option<String>,
        manifest: String,
    ) -> wasmtime::Result<Result<Vec<Applied>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!(
            "{cluster} namespace={} ({} bytes)",
            namespace.as_deref().unwrap_or("default"),
            manifest.len()
        );
        Ok(self
            .audited("kubernetes", "apply", args, async move {
                apply(&grants, cloud, &cluster, namespace.as_deref(), &manifest).await
            })
            .await)
    }

    async fn get(&mut self, target: ObjectRef) -> wasmtime::Result<Result<Json, Error>> {
        let (grants, cloud) = self.reach();
        let args = args_of(&target);
        Ok(self
            .audited("kubernetes", "get", args, async move {
                let t = resolve(&grants, cloud, &target, "get").await?;
                match t.api.get_opt(&target.name).await {
                    Ok(Some(o)) => bounded_json(&t.what, &typed(o, &t.info)),
                    Ok(None) => Err(PluginError::NotFound(format!("no {}", t.what))),
                    Err(e) => Err(errors::kube(&format!("get {}", t.what), e)),
                }
            })
            .await)
    }

    async fn list(
        &mut self,
        cluster: String,
        api_version: String,
        kind: String,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> wasmtime::Result<Result<Json, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!(
            "{cluster} {api_version} {kind} namespace={} selector={}",
            namespace.as_deref().unwrap_or("default"),
            label_selector.as_deref().unwrap_or("")
        );
        Ok(self
            .audited("kubernetes", "list", args, async move {
                list(
                    &grants,
                    cloud,
                    &cluster,
                    &api_version,
                    &kind,
                    namespace.as_deref(),
                    label_selector.as_deref(),
                )
                .await
            })
            .await)
    }

    async fn patch(
        &mut self,
        target: ObjectRef,
        patch_type: PatchType,
        patch: Json,
    ) -> wasmtime::Result<Result<Json, Error>> {
        let (grants, cloud) = self.reach();
        let kind = match patch_type {
            PatchType::Merge => "merge",
            PatchType::Strategic => "strategic",
            PatchType::Json => "json",
            PatchType::Apply => "apply",
        };
        let args = format!("{} {kind} ({} bytes)", args_of(&target), patch.len());
        Ok(self
            .audited("kubernetes", "patch", args, async move {
                self::patch(&grants, cloud, &target, patch_type, &patch).await
            })
            .await)
    }

    async fn delete(&mut self, target: ObjectRef) -> wasmtime::Result<Result<bool, Error>> {
        let (grants, cloud) = self.reach();
        let args = args_of(&target);
        Ok(self
            .audited("kubernetes", "delete", args, async move {
                let t = resolve(&grants, cloud, &target, "delete").await?;
                match t
                    .api
                    .delete(&target.name, &DeleteParams::foreground())
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
                    Err(e) => Err(errors::kube(&format!("delete {}", t.what), e)),
                }
            })
            .await)
    }

    async fn scale(
        &mut self,
        target: ObjectRef,
        replicas: u32,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{} replicas={replicas}", args_of(&target));
        Ok(self
            .audited("kubernetes", "scale", args, async move {
                let group = group_version(&target.api_version)?.0;
                if group != "apps" || !SCALABLE.contains(&target.kind.as_str()) {
                    return Err(invalid(format!(
                        "scale is for Deployment, StatefulSet and ReplicaSet (apps/v1), not {} ({})",
                        target.kind, target.api_version
                    )));
                }
                let replicas = i32::try_from(replicas)
                    .map_err(|_| invalid(format!("{replicas} replicas is too many")))?;
                let t = resolve(&grants, cloud, &target, "scale").await?;
                t.api
                    .patch_scale(
                        &target.name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
                    )
                    .await
                    .map_err(|e| errors::kube(&format!("scale {}", t.what), e))?;
                Ok(())
            })
            .await)
    }

    async fn wait(
        &mut self,
        target: ObjectRef,
        for_: WaitFor,
        timeout_ms: u64,
    ) -> wasmtime::Result<Result<Json, Error>> {
        let (grants, cloud) = self.reach();
        let goal_text = match &for_ {
            WaitFor::Condition((t, s)) => format!("condition={t}={s}"),
            WaitFor::Jsonpath((p, Some(v))) => format!("jsonpath={p}={v}"),
            WaitFor::Jsonpath((p, None)) => format!("jsonpath={p}"),
            WaitFor::Deleted => "deleted".into(),
        };
        let args = format!("{} {goal_text} timeout={timeout_ms}ms", args_of(&target));
        Ok(self
            .audited("kubernetes", "wait", args, async move {
                if timeout_ms == 0 {
                    return Err(invalid("a wait needs a timeout above 0 ms"));
                }
                let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
                let goal = wait::Goal::new(for_).map_err(invalid)?;
                let t = resolve(&grants, cloud, &target, "wait").await?;
                let deadline = tokio::time::Instant::now() + timeout;
                let mut last = None;
                let followed = tokio::time::timeout_at(
                    deadline,
                    wait::follow(&t.api, &target.name, &t.what, &goal, &mut last, deadline),
                )
                .await;
                match followed {
                    Ok(Ok(Some(o))) => bounded(&t.what, o.to_string()),
                    Ok(Ok(None)) => Ok("null".into()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(PluginError::Timeout(format!(
                        "{} did not meet {goal_text} within {}: {}",
                        t.what,
                        human(timeout),
                        goal.describe(last.as_ref())
                    ))),
                }
            })
            .await)
    }
}

fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oref(ns: Option<&str>) -> ObjectRef {
        ObjectRef {
            cluster: "east".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: ns.map(Into::into),
            name: "web".into(),
        }
    }

    #[test]
    fn apply_patches_get_the_targets_identity() {
        let mut body = json!({"spec": {"replicas": 2}});
        complete_apply_patch(&mut body, &oref(Some("shop"))).unwrap();
        assert_eq!(
            body,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2}})
        );
        let mut same = body.clone();
        complete_apply_patch(&mut same, &oref(Some("shop"))).unwrap();
        assert_eq!(same, body);
        let mut other = json!({"metadata": {"name": "api"}});
        let err = complete_apply_patch(&mut other, &oref(Some("shop"))).unwrap_err();
        assert!(matches!(err, PluginError::Invalid(m) if m.contains("metadata.name")));
    }

    #[test]
    fn objects_are_named_with_their_scope() {
        assert_eq!(
            describe("Deployment", Some("shop"), "web"),
            "Deployment shop/web"
        );
        assert_eq!(describe("Namespace", None, "shop"), "Namespace shop");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(20)), "20ms");
    }

    #[test]
    fn bounds_what_it_returns() {
        assert!(bounded("x", "a".repeat(MAX_JSON)).is_ok());
        let err = bounded("Deployment shop/web", "a".repeat(MAX_JSON + 1)).unwrap_err();
        assert!(
            matches!(err, PluginError::Invalid(m) if m == format!("Deployment shop/web is {} bytes; the limit is 8 MiB", MAX_JSON + 1))
        );
    }
}
