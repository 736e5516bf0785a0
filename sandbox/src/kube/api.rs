//! The HTTP face of a cluster: version, health, discovery, OpenAPI, and the REST verbs on
//! every resource path, including watch streams. Every failure is a `Status` object.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::managed_fields::{self, Scope, Writer};
use super::objects::{DeleteOptions, Part, WriteOptions, set_path};
use super::query;
use super::resources::ResourceType;
use super::selector::{self, Requirement};
use super::status::ApiError;
use super::store::{Change, EventType, meta_str};
use super::{Cluster, patch, table};
use crate::faults::conn::reset;
use crate::faults::{Conn, Fault, Kind};

/// Bodies larger than this get 413, as the real API server's limit (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn router(cluster: Arc<Cluster>) -> Router {
    Router::new().fallback(handle).with_state(cluster)
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.to_status())
}

async fn handle(State(cluster): State<Arc<Cluster>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path == "/_sandbox/requests" && method == axum::http::Method::GET {
        let n = cluster.requests.load(std::sync::atomic::Ordering::SeqCst);
        return json_response(StatusCode::OK, &serde_json::json!({ "requests": n }));
    }
    cluster
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let conn = Conn::of(&req);
    // A bug must cost one request a 500, never the server.
    let result = std::panic::AssertUnwindSafe(dispatch(&cluster, req, conn))
        .catch_unwind()
        .await;
    let result =
        result.unwrap_or_else(|_| Err(ApiError::internal("the request could not be handled")));
    match result {
        Ok(r) => {
            tracing::debug!(cluster = %cluster.name, %method, %path, code = r.status().as_u16());
            r
        }
        Err(e) => {
            tracing::debug!(cluster = %cluster.name, %method, %path, code = e.code, "{}", e.message);
            error_response(&e)
        }
    }
}

/// kube-apiserver's bound on a JSON patch (`maxJSONPatchOperations`): past it, 413.
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// The query parameters we understand.
#[derive(Default)]
struct Params {
    label: Vec<Requirement>,
    field: Vec<Requirement>,
    watch: bool,
    resource_version: Option<String>,
    timeout: Option<u64>,
    /// `sendInitialEvents`, whose mere presence matters to validation.
    send_initial: Option<bool>,
    resource_version_match: Option<String>,
    bookmarks: bool,
    dry_run: bool,
    field_manager: Option<String>,
    /// `force`, which only an apply may carry.
    force: Option<bool>,
    propagation: Option<String>,
    strict: bool,
    metadata_only: bool,
    limit: Option<usize>,
    continue_token: Option<String>,
}

fn params(req: &Request, rt: Option<&ResourceType>) -> Result<Params, ApiError> {
    let q: Query<Vec<(String, String)>> = Query::try_from_uri(req.uri())
        .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
    let mut p = Params::default();
    for (k, v) in q.0 {
        match k.as_str() {
            "labelSelector" => {
                p.label = selector::parse_labels(&v).map_err(ApiError::bad_request)?
            }
            "fieldSelector" => {
                p.field = selector::parse_fields(&v).map_err(ApiError::bad_request)?;
                if let Some(rt) = rt {
                    for r in &p.field {
                        let (Requirement::Eq(f, _) | Requirement::NotEq(f, _)) = r else {
                            continue;
                        };
                        if !field_supported(rt, f) {
                            return Err(ApiError::bad_request(format!(
                                "field label not supported: {f}"
                            )));
                        }
                    }
                }
            }
            "watch" => p.watch = query::boolean(&v)?,
            "resourceVersion" => p.resource_version = Some(query::resource_version(v)?),
            // Negative is no timeout, as a Go duration of it would be.
            "timeoutSeconds" => p.timeout = u64::try_from(query::int64(&v)?).ok(),
            "sendInitialEvents" => p.send_initial = Some(query::boolean(&v)?),
            "resourceVersionMatch" => p.resource_version_match = Some(v),
            "allowWatchBookmarks" => p.bookmarks = query::boolean(&v)?,
            "dryRun" => p.dry_run = query::dry_run(req.method(), &v)?,
            // Only the options of a write have a manager to validate.
            "fieldManager"
                if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) =>
            {
                p.field_manager = Some(query::field_manager(req.method(), &v)?)
            }
            "force" => p.force = Some(query::boolean(&v)?),
            "fieldValidation" => p.strict = query::field_validation(req.method(), &v)?,
            // kube-apiserver treats a limit of 0 or less as no limit.
            "limit" => p.limit = usize::try_from(query::int64(&v)?).ok(),
            "continue" => p.continue_token = Some(v),
            "propagationPolicy" => p.propagation = Some(query::propagation(&v)?),
            _ => {}
        }
    }
    if req.method() == Method::PATCH {
        let manager = p.field_manager.as_deref().unwrap_or("");
        query::patch_options(is_apply(content_type(req)), manager, p.force)?;
    }
    Ok(p)
}

/// The media type of a request's body, without parameters.
fn content_type(req: &Request) -> &str {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
}

fn is_apply(content_type: &str) -> bool {
    content_type.starts_with("application/apply-patch")
}

fn field_supported(rt: &ResourceType, f: &str) -> bool {
    if f == "metadata.name" || f == "metadata.namespace" {
        return true;
    }
    match rt.plural.as_str() {
        "pods" => [
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
        .contains(&f),
        "events" => {
            f.starts_with("involvedObject.")
                || ["reason", "reportingComponent", "source", "type"].contains(&f)
        }
        "secrets" => f == "type",
        "nodes" => f == "spec.unschedulable",
        _ => false,
    }
}

async fn read_body(req: axum::extract::Request) -> Result<Bytes, ApiError> {
    use crate::serving::body::{self, BodyError};
    let (parts, req_body) = req.into_parts();
    body::read(&parts.headers, req_body, MAX_BODY)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(_) => ApiError::too_large(format_args!("limit is {MAX_BODY}")),
            BodyError::Broken(_) => ApiError::bad_request(e.to_string()),
        })
}

/// The body of a create or update, in whichever encoding the client chose.
fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "" | "application/json" | "*/*" => parse_json(body),
        "application/vnd.kubernetes.protobuf" => super::protobuf::decode(body),
        other => Err(ApiError::unsupported_media(other)),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

/// `as=PartialObjectMetadata` (kube-rs' metadata API): objects reduced to their metadata.
fn wants_metadata(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

/// Decodes `%XX` escapes in one path segment (invalid escapes are kept as they are).
fn percent_decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn dispatch(
    cluster: &Arc<Cluster>,
    req: Request,
    conn: Option<Conn>,
) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let decoded: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let get = req.method() == Method::GET;
    let resource_path = matches!(
        segs.as_slice(),
        ["api", "v1", _, ..] | ["apis", _, _, _, ..]
    );
    if !resource_path
        && let Some(f) = cluster.fault("discovery")
        && let Some(answer) = fault_answer(&f, None, conn.as_ref()).await
    {
        return answer;
    }
    match segs.as_slice() {
        ["version"] if get => Ok(json_response(StatusCode::OK, &version())),
        ["healthz" | "readyz" | "livez", ..] if get => Ok((StatusCode::OK, "ok").into_response()),
        ["api" | "apis"] if get && wants_aggregated(req.headers()) => {
            let types = cluster.types();
            let legacy = segs[0] == "api";
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, AGGREGATED)],
                aggregated_discovery(&types, legacy).to_string(),
            )
                .into_response())
        }
        ["api"] if get => Ok(json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}),
        )),
        ["apis"] if get => Ok(json_response(StatusCode::OK, &group_list(&cluster.types()))),
        ["api", "v1"] if get => Ok(json_response(
            StatusCode::OK,
            &resource_list(&cluster.types(), "", "v1"),
        )),
        ["apis", g] if get => {
            let groups = group_list(&cluster.types());
            groups["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|x| x["name"] == *g))
                .map(|x| {
                    let mut x = x.clone();
                    x["kind"] = json!("APIGroup");
                    x["apiVersion"] = json!("v1");
                    json_response(StatusCode::OK, &x)
                })
                .ok_or_else(ApiError::path_not_found)
        }
        ["apis", g, v] if get => {
            let types = cluster.types();
            if !types
                .iter()
                .any(|t| t.group == *g && t.versions.iter().any(|x| x == v))
            {
                return Err(ApiError::path_not_found());
            }
            Ok(json_response(StatusCode::OK, &resource_list(&types, g, v)))
        }
        ["openapi", "v3"] if get => Ok(json_response(
            StatusCode::OK,
            &openapi_root(&cluster.types()),
        )),
        ["openapi", "v3", rest @ ..] if get => {
            let gv = rest.join("/");
            openapi_doc(&cluster.types(), &gv)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::path_not_found)
        }
        ["api", "v1", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            resource_request(cluster, "", "v1", &rest, req, conn).await
        }
        ["apis", g, v, rest @ ..] => {
            let (g, v) = (g.to_string(), v.to_string());
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            resource_request(cluster, &g, &v, &rest, req, conn).await
        }
        _ if !get => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::path_not_found()),
    }
}

fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-runner-sandbox", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"})
}

/// The media type of aggregated discovery, which kubectl asks for first.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.replace(' ', "") == AGGREGATED))
}

/// `apidiscovery.k8s.io/v2` APIGroupDiscoveryList: every group, version and resource in
/// one answer (`/api` lists the core group, `/apis` the others).
fn aggregated_discovery(types: &[ResourceType], legacy: bool) -> Value {
    let groups: Vec<(String, Vec<String>)> = if legacy {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        groups_in_order(types)
    };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = types
                        .iter()
                        .filter(|t| t.group == g && t.versions.contains(v))
                        .map(|t| {
                            let kind = json!({"group": g, "version": v, "kind": t.kind});
                            let mut subs = Vec::new();
                            if t.status {
                                subs.push(json!({"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}));
                            }
                            if t.scale {
                                subs.push(json!({"subresource": "scale",
                                    "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                                    "verbs": ["get", "patch", "update"]}));
                            }
                            let mut r = json!({"resource": t.plural, "responseKind": kind,
                                "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": t.singular, "verbs": t.verbs()});
                            if !t.short_names.is_empty() {
                                r["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                r["categories"] = json!(t.categories);
                            }
                            if !subs.is_empty() {
                                r["subresources"] = json!(subs);
                            }
                            r
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn groups_in_order(types: &[ResourceType]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, vs)) => {
                for v in &t.versions {
                    if !vs.contains(v) {
                        vs.push(v.clone());
                    }
                }
            }
            None => out.push((t.group.clone(), t.versions.clone())),
        }
    }
    out
}

fn group_list(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = groups_in_order(types)
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Value {
    let resources: Vec<Value> = types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .flat_map(ResourceType::discovery)
        .collect();
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// OpenAPI v3 discovery: one document per group-version. The documents are minimal:
/// they declare, per kind, the PATCH operation and its `fieldValidation` parameter, which
/// is what kubectl checks before it leaves validation to the server (instead of failing
/// to download a full schema).
fn openapi_root(types: &[ResourceType]) -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=sandbox"}),
    );
    for (g, vs) in groups_in_order(types) {
        for v in vs {
            let p = gv_path(&g, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=sandbox")}),
            );
        }
    }
    json!({"paths": paths})
}

fn openapi_doc(types: &[ResourceType], gv: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for t in types {
        for v in &t.versions {
            if gv_path(&t.group, v) != gv {
                continue;
            }
            let path = if t.namespaced {
                format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
            } else {
                format!("/{gv}/{}/{{name}}", t.plural)
            };
            let gvk = json!({"group": t.group, "version": v, "kind": t.kind});
            let params = json!([
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            ]);
            let op = |verb: &str| {
                json!({"operationId": format!("{verb}{}", t.kind), "parameters": params,
                "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk, "responses": {"200": {"description": "OK"}}})
            };
            paths.insert(path, json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
        }
    }
    if paths.is_empty() {
        return None;
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
        "components": {"schemas": {}}}),
    )
}

/// A parsed resource path.
struct Target {
    rt: ResourceType,
    version: String,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_target(
    cluster: &Cluster,
    group: &str,
    version: &str,
    rest: &[String],
) -> Result<Target, ApiError> {
    let (ns, plural, name, sub) = match rest {
        [n, ns, sub] if n == "namespaces" && (sub == "status" || sub == "finalize") => {
            (None, n.clone(), Some(ns.clone()), Some(sub.clone()))
        }
        [n, ns, plural, tail @ ..] if n == "namespaces" && tail.len() <= 2 => (
            Some(ns.clone()),
            plural.clone(),
            tail.first().cloned(),
            tail.get(1).cloned(),
        ),
        [plural, tail @ ..] if tail.len() <= 2 => (
            None,
            plural.clone(),
            tail.first().cloned(),
            tail.get(1).cloned(),
        ),
        _ => return Err(ApiError::path_not_found()),
    };
    let rt = cluster
        .find_type(group, version, &plural)
        .ok_or_else(ApiError::path_not_found)?;
    if ns.is_some() && !rt.namespaced {
        return Err(ApiError::path_not_found());
    }
    if rt.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::path_not_found());
    }
    match sub.as_deref() {
        None => {}
        Some("status") if rt.status => {}
        Some("scale") if rt.scale => {}
        Some("finalize") if rt.plural == "namespaces" => {}
        Some("log") if rt.plural == "pods" => {}
        _ => return Err(ApiError::path_not_found()),
    }
    Ok(Target {
        rt,
        version: version.to_string(),
        ns,
        name,
        sub,
    })
}

/// Sets the apiVersion a client asked through (custom resources may serve several).
fn present(t: &Target, mut obj: Value) -> Value {
    if obj.is_object() && obj.get("kind").and_then(Value::as_str) == Some(t.rt.kind.as_str()) {
        obj["apiVersion"] = json!(t.rt.group_version(&t.version));
    }
    obj
}

/// A request on a resource path. A change is on disk before it is acknowledged, so a
/// killed sandbox loses nothing a client was told succeeded (controllers' own writes
/// are saved by the periodic flush, and redone by the controllers after a restart).
/// With `--faults`, the call is rolled for once its verb is known.
async fn resource_request(
    cluster: &Arc<Cluster>,
    group: &str,
    version: &str,
    rest: &[String],
    req: Request,
    conn: Option<Conn>,
) -> Result<Response, ApiError> {
    let t = parse_target(cluster, group, version, rest)?;
    let watching = params(&req, Some(&t.rt))?.watch;
    let fault = cluster.fault(verb(req.method(), &t, watching));
    let mut drop_watch = None;
    if let Some(f) = &fault {
        if let Some(answer) = fault_answer(f, Some(&t), conn.as_ref()).await {
            return answer;
        }
        if f.kind == Kind::DropWatch {
            drop_watch = Some((Instant::now() + f.drop_after(), conn.clone()));
        }
    }
    let mutating = req.method() != Method::GET;
    let mut result = resource_call(cluster, t, req, drop_watch).await;
    if mutating && result.is_ok() {
        result = cluster
            .flush()
            .map_err(|e| ApiError::internal(format!("storing the change failed: {e:#}")))
            .and(result);
    }
    if fault.is_some_and(|f| f.kind == Kind::ResetAfter) {
        // Served (applied and stored, or refused), but the client never hears of it.
        return Ok(reset(conn.as_ref()));
    }
    result
}

/// The API verb of a resource request, as RBAC and `--faults` name it.
fn verb(method: &Method, t: &Target, watching: bool) -> &'static str {
    match (method.clone(), t.name.is_some()) {
        (Method::GET, true) => "get",
        (Method::GET, false) if watching => "watch",
        (Method::GET, false) => "list",
        (Method::POST, _) => "create",
        (Method::PUT, _) => "update",
        (Method::PATCH, _) => "patch",
        (Method::DELETE, true) => "delete",
        (Method::DELETE, false) => "deletecollection",
        _ => "other",
    }
}

/// How a fault answers before the request is served, as kube-apiserver would: `None`
/// when the request goes on (latency slept, reset-after and drop-watch come later).
async fn fault_answer(
    f: &Fault,
    t: Option<&Target>,
    conn: Option<&Conn>,
) -> Option<Result<Response, ApiError>> {
    match f.kind {
        Kind::Latency => {
            tokio::time::sleep(f.latency).await;
            None
        }
        Kind::ResetBefore => Some(Ok(reset(conn))),
        // API Priority and Fairness's rejection: 429, Retry-After and a Status.
        Kind::Throttle => {
            let e = ApiError::too_many_requests(f.retry_after_s);
            let mut r = error_response(&e);
            r.headers_mut()
                .insert(header::RETRY_AFTER, f.retry_after_s.into());
            Some(Ok(r))
        }
        Kind::ServerError if f.unavailable() => Some(Err(ApiError::unavailable())),
        Kind::ServerError => Some(Err(ApiError::internal(
            "Internal error occurred: the server could not complete the request",
        ))),
        Kind::Conflict => {
            let t = t?;
            Some(Err(ApiError::conflict(&t.rt, t.name.as_deref()?)))
        }
        // What a watch from a compacted resourceVersion gets: 200, one ERROR event.
        Kind::Gone => {
            let e = ApiError::gone("too old resource version: the watch cache was compacted");
            Some(Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                event_line("ERROR", &e.to_status()),
            )
                .into_response()))
        }
        Kind::ResetAfter | Kind::DropWatch => None,
    }
}

async fn resource_call(
    cluster: &Arc<Cluster>,
    t: Target,
    req: Request,
    drop_watch: Option<(Instant, Option<Conn>)>,
) -> Result<Response, ApiError> {
    let mut p = params(&req, Some(&t.rt))?;
    p.metadata_only = !wants_table(req.headers()) && wants_metadata(req.headers());
    let table = wants_table(req.headers());
    let metadata_only = !table && wants_metadata(req.headers());
    let content_type = content_type(&req).to_string();
    let method = req.method().clone();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let opts = WriteOptions {
        dry_run: p.dry_run,
        field_manager: Some(managed_fields::manager_of(
            p.field_manager.as_deref(),
            user_agent,
        )),
        strict: p.strict,
        subresource: t.sub.clone().unwrap_or_default(),
        applied: false,
    };
    let ns = t.ns.clone().unwrap_or_default();
    if t.rt.group == "authorization.k8s.io" && (method != Method::POST || t.name.is_some()) {
        return Err(ApiError::method_not_allowed());
    }
    if t.name.is_none() && (method == Method::GET || method == Method::DELETE) {
        query::list_options(&query::ListOptions {
            watch: p.watch,
            resource_version: p.resource_version.as_deref(),
            resource_version_match: p.resource_version_match.as_deref(),
            send_initial_events: p.send_initial,
            continue_token: p.continue_token.as_deref(),
        })?;
    }
    match (method, t.name.clone()) {
        (Method::GET, None) if p.watch => watch(cluster, &t, &p, table, drop_watch),
        (Method::GET, None) => {
            let (items, rv) = cluster.list(&t.rt, t.ns.as_deref());
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| selected(&p, o))
                .map(|o| present(&t, o))
                .collect();
            let (items, more) = page(items, &p)?;
            let mut list = if table {
                table::table(&t.rt, &items, rv)
            } else if metadata_only {
                let items: Vec<Value> = items.iter().map(partial_metadata).collect();
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": rv.to_string()}, "items": items})
            } else {
                json!({"kind": t.rt.list_kind, "apiVersion": t.rt.group_version(&t.version),
                    "metadata": {"resourceVersion": rv.to_string()}, "items": items})
            };
            if let Some((token, remaining)) = more {
                list["metadata"]["continue"] = json!(token);
                if let Some(n) = remaining {
                    list["metadata"]["remainingItemCount"] = json!(n);
                }
            }
            Ok(json_response(StatusCode::OK, &list))
        }
        (Method::GET, Some(name)) => {
            let obj = cluster.get(&t.rt, &ns, &name)?;
            if t.sub.as_deref() == Some("log") {
                // The data plane runs no containers yet: their logs are empty.
                return Ok(
                    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response()
                );
            }
            if t.sub.as_deref() == Some("scale") {
                return Ok(json_response(StatusCode::OK, &scale_of(&obj)));
            }
            if table {
                let rv = cluster.resource_version();
                return Ok(json_response(
                    StatusCode::OK,
                    &table::table(&t.rt, &[present(&t, obj)], rv),
                ));
            }
            if metadata_only {
                return Ok(json_response(StatusCode::OK, &partial_metadata(&obj)));
            }
            Ok(json_response(StatusCode::OK, &present(&t, obj)))
        }
        (Method::POST, None) if t.rt.group == "authorization.k8s.io" => {
            // The sandbox has no authorization: every review allows everything.
            let body = read_body(req).await?;
            let spec = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b.get("spec").cloned())
                .unwrap_or(json!({}));
            let status = if t.rt.kind == "SelfSubjectRulesReview" {
                json!({"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": false})
            } else {
                json!({"allowed": true, "reason": "the sandbox authorizes every request"})
            };
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": t.rt.kind, "apiVersion": t.rt.api_version(), "metadata": {},
                    "spec": spec, "status": status}),
            ))
        }
        (Method::POST, None) => {
            if t.rt.namespaced && t.ns.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let body = decode_body(&content_type, &read_body(req).await?)?;
            let obj = cluster.create(&t.rt, &ns, body, &opts)?;
            Ok(json_response(StatusCode::CREATED, &present(&t, obj)))
        }
        (Method::PUT, Some(name)) => {
            let body = decode_body(&content_type, &read_body(req).await?)?;
            if t.sub.as_deref() == Some("scale") {
                let replicas = body.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
                let rv = body.pointer("/metadata/resourceVersion").cloned();
                return scale_update(cluster, &t, &ns, &name, &opts, replicas, rv);
            }
            let part = if t.sub.as_deref() == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let obj = cluster.replace(&t.rt, &ns, &name, part, body, &opts)?;
            Ok(json_response(StatusCode::OK, &present(&t, obj)))
        }
        (Method::PATCH, Some(name)) => {
            let body = read_body(req).await?;
            patch_request(
                cluster,
                &t,
                &ns,
                &name,
                &content_type,
                &body,
                &opts,
                p.force,
            )
            .map(|o| json_response(StatusCode::OK, &o))
        }
        (Method::DELETE, Some(name)) => {
            let body = read_body(req).await?;
            let dopts = delete_options(&body, &p)?;
            let before = cluster.get(&t.rt, &ns, &name)?;
            let obj = cluster.delete(&t.rt, &ns, &name, &dopts)?;
            if obj.pointer("/metadata/deletionTimestamp").is_some()
                && before.pointer("/metadata/finalizers").is_some()
                || t.rt.plural == "namespaces"
            {
                return Ok(json_response(StatusCode::OK, &present(&t, obj)));
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": t.rt.group, "kind": t.rt.plural, "uid": meta_str(&obj, "uid")}}),
            ))
        }
        (Method::DELETE, None) => {
            let body = read_body(req).await?;
            let dopts = delete_options(&body, &p)?;
            let (items, rv) = cluster.list(&t.rt, t.ns.as_deref());
            let mut deleted = Vec::new();
            for o in items.into_iter().filter(|o| selected(&p, o)) {
                if let Ok(d) = cluster.delete(
                    &t.rt,
                    meta_str(&o, "namespace"),
                    meta_str(&o, "name"),
                    &dopts,
                ) {
                    deleted.push(present(&t, d));
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": t.rt.list_kind, "apiVersion": t.rt.group_version(&t.version),
                    "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// One page of a list: items are in (namespace, name) order and the continue token
/// names the last item returned. With the token, the rest of the list and, when no
/// selector filtered it, how many items remain (kube-apiserver counts only then).
#[allow(clippy::type_complexity)]
fn page(
    mut items: Vec<Value>,
    p: &Params,
) -> Result<(Vec<Value>, Option<(String, Option<usize>)>), ApiError> {
    let key = |o: &Value| {
        (
            meta_str(o, "namespace").to_string(),
            meta_str(o, "name").to_string(),
        )
    };
    if let Some(token) = p.continue_token.as_deref().filter(|t| !t.is_empty()) {
        if p.resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty() && rv != "0")
        {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let after = hex::decode(token)
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
            .and_then(|s| {
                s.split_once('/')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| "encoded start key empty".to_string())
            })
            .map_err(|why| {
                ApiError::bad_request(format!(
                    "invalid continue token: continue key is not valid: {why}"
                ))
            })?;
        items.retain(|o| key(o) > after);
    }
    let Some(limit) = p.limit.filter(|l| *l > 0 && items.len() > *l) else {
        return Ok((items, None));
    };
    let remaining = items.len() - limit;
    items.truncate(limit);
    let (ns, name) = items.last().map(key).unwrap_or_default();
    let counted = p.label.is_empty() && p.field.is_empty();
    Ok((
        items,
        Some((
            hex::encode(format!("{ns}/{name}")),
            counted.then_some(remaining),
        )),
    ))
}

fn selected(p: &Params, o: &Value) -> bool {
    selector::matches(
        &p.label,
        o.pointer("/metadata/labels").and_then(Value::as_object),
    ) && selector::matches_fields(&p.field, o)
}

fn delete_options(body: &[u8], p: &Params) -> Result<DeleteOptions, ApiError> {
    let mut d = DeleteOptions {
        dry_run: p.dry_run,
        ..DeleteOptions::default()
    };
    let mut policy = p.propagation.clone();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v = parse_json(body)?;
        if let Some(pp) = v.get("propagationPolicy").and_then(Value::as_str) {
            policy = Some(query::propagation(pp)?);
        }
        if v.get("orphanDependents") == Some(&json!(true)) {
            policy = Some("Orphan".into());
        }
        d.precondition_uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from);
        d.precondition_rv = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from);
        if let Some(values) = v.get("dryRun").and_then(Value::as_array) {
            for value in values {
                d.dry_run |= query::dry_run(&Method::DELETE, value.as_str().unwrap_or(""))?;
            }
        }
    }
    d.orphan = policy.as_deref() == Some("Orphan");
    Ok(d)
}

/// The `autoscaling/v1` Scale of a Deployment or ReplicaSet (or a custom resource).
fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": obj.pointer("/spec/selector").map(selector::to_string).unwrap_or_default()},
    })
}

fn scale_update(
    cluster: &Cluster,
    t: &Target,
    ns: &str,
    name: &str,
    opts: &WriteOptions,
    replicas: Value,
    rv: Option<Value>,
) -> Result<Response, ApiError> {
    let Some(n) = replicas.as_i64().filter(|n| *n >= 0) else {
        return Err(ApiError::invalid(
            &t.rt,
            name,
            vec![super::status::Cause::invalid(
                "spec.replicas",
                &replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        ));
    };
    let obj = cluster.modify(&t.rt, ns, name, Part::Main, opts, false, |old| {
        let mut new = old.clone();
        if let Some(rv) = rv
            .clone()
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            new["metadata"]["resourceVersion"] = rv;
        }
        set_path(&mut new, &["spec", "replicas"], json!(n));
        Ok(new)
    })?;
    Ok(json_response(StatusCode::OK, &scale_of(&obj)))
}

/// Applies a merge, strategic or JSON patch to `doc`.
fn patch_doc(
    ct: &str,
    doc: &mut Value,
    patch_body: &Value,
    t: &Target,
    name: &str,
) -> Result<(), ApiError> {
    match ct {
        "application/merge-patch+json" => patch::merge(doc, patch_body),
        "application/strategic-merge-patch+json" => patch::strategic(doc, patch_body),
        "application/json-patch+json" => {
            let ops = patch_body.as_array().map_or(0, Vec::len);
            if ops > MAX_JSON_PATCH_OPERATIONS {
                return Err(ApiError::too_large(format_args!(
                    "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {ops}"
                )));
            }
            let mut copy = doc.clone();
            patch::json_patch(&mut copy, patch_body).map_err(|e| {
                ApiError::invalid(
                    &t.rt,
                    name,
                    vec![super::status::Cause {
                        reason: "FieldValueInvalid",
                        field: "patch".into(),
                        message: e,
                    }],
                )
            })?;
            *doc = copy;
        }
        other => return Err(ApiError::unsupported_media(other)),
    }
    Ok(())
}

/// An apply's configuration names the kind and version of the path it is sent to
/// (kube-apiserver's version check: `invalid object type: apps/v2, Kind=Deployment`).
fn check_applied_kind(t: &Target, config: &Value) -> Result<(), ApiError> {
    let api_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version == t.rt.group_version(&t.version) && kind == t.rt.kind {
        return Ok(());
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Err(ApiError::bad_request(format!(
        "invalid object type: {group}/{version}, Kind={kind}"
    )))
}

#[allow(clippy::too_many_arguments)]
fn patch_request(
    cluster: &Cluster,
    t: &Target,
    ns: &str,
    name: &str,
    ct: &str,
    body: &[u8],
    opts: &WriteOptions,
    force: Option<bool>,
) -> Result<Value, ApiError> {
    const TYPES: &[&str] = &[
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
        "application/apply-patch+cbor",
    ];
    if !TYPES.contains(&ct) {
        return Err(ApiError::unsupported_media(ct));
    }
    let patch_body = parse_json(body)?;
    if ct == "application/json-patch+json" && !patch_body.is_array() {
        return Err(ApiError::bad_request(
            "a JSON patch must be an array of operations",
        ));
    }
    if ct != "application/json-patch+json" && !patch_body.is_object() {
        return Err(ApiError::bad_request("a patch must be a JSON object"));
    }
    if t.sub.as_deref() == Some("scale") {
        // The Scale is patched, then its replicas written to the object: an update of
        // the `scale` subresource, applies included.
        let old = cluster.get(&t.rt, ns, name)?;
        let mut s = scale_of(&old);
        if is_apply(ct) {
            patch::apply(&mut s, &patch_body);
        } else {
            patch_doc(ct, &mut s, &patch_body, t, name)?;
        }
        let replicas = s.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        let rv = patch_body.pointer("/metadata/resourceVersion").cloned();
        scale_update(cluster, t, ns, name, opts, replicas, rv)?;
        return Ok(scale_of(&cluster.get(&t.rt, ns, name)?));
    }
    let part = if t.sub.as_deref() == Some("status") {
        Part::Status
    } else {
        Part::Main
    };
    if !is_apply(ct) {
        // A resourceVersion the patch leaves in place is the stored one; one it sets
        // is a precondition, checked as an update's.
        let obj = cluster.modify(&t.rt, ns, name, part, opts, false, |old| {
            let mut doc = old.clone();
            patch_doc(ct, &mut doc, &patch_body, t, name)?;
            Ok(doc)
        })?;
        return Ok(present(t, obj));
    }
    check_applied_kind(t, &patch_body)?;
    let manager = opts.field_manager.clone().unwrap_or_default();
    let writer = Writer {
        manager: &manager,
        subresource: t.sub.as_deref().unwrap_or(""),
        scope: Scope::of(t.rt.status, part),
    };
    // The apply records its own managedFields entry.
    let opts = WriteOptions {
        field_manager: None,
        applied: true,
        ..opts.clone()
    };
    let force = force.unwrap_or(false);
    let obj = cluster.modify(&t.rt, ns, name, part, &opts, true, |old| {
        managed_fields::apply(old, &patch_body, &writer, force)
    })?;
    Ok(present(t, obj))
}

// ---- watch ----------------------------------------------------------------------------

struct WatchState {
    queue: VecDeque<Bytes>,
    rx: broadcast::Receiver<Change>,
    resource: String,
    ns: Option<String>,
    label: Vec<Requirement>,
    field: Vec<Requirement>,
    deadline: Option<Instant>,
    last_rv: u64,
    table: Option<ResourceType>,
    metadata_only: bool,
    version: String,
    done: bool,
    /// With a selector: the objects (namespace/name) the client currently sees, so that
    /// an object leaving the selection is a DELETED and one entering it an ADDED.
    seen: HashSet<String>,
    /// `allowWatchBookmarks`: the stream ends with a BOOKMARK carrying the latest
    /// resourceVersion, so a resumed watch starts from there.
    bookmark: Option<Value>,
    serving: tokio::sync::watch::Receiver<bool>,
    /// `--faults` drop-watch: when to cut the stream (and its connection).
    drop_at: Option<(Instant, Option<Conn>)>,
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

impl WatchState {
    fn render(&self, kind: EventType, obj: &Value, rt_version: &str) -> Bytes {
        let mut obj = obj.clone();
        if obj.is_object()
            && let Some(gv) = obj.get("apiVersion").and_then(Value::as_str)
            && gv.contains('/')
        {
            let group = gv.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            obj["apiVersion"] = json!(format!("{group}/{rt_version}"));
        }
        match &self.table {
            Some(rt) => {
                let rv = meta_str(&obj, "resourceVersion").parse().unwrap_or(0);
                event_line(kind.as_str(), &table::table(rt, &[obj], rv))
            }
            None if self.metadata_only => event_line(kind.as_str(), &partial_metadata(&obj)),
            None => event_line(kind.as_str(), &obj),
        }
    }

    fn in_scope(&self, c: &Change) -> bool {
        c.resource == self.resource
            && self
                .ns
                .as_deref()
                .is_none_or(|ns| ns == meta_str(&c.object, "namespace"))
    }

    fn selective(&self) -> bool {
        !self.label.is_empty() || !self.field.is_empty()
    }

    /// The event a client should see for a live change, if any.
    fn translate(&mut self, c: &Change) -> Option<EventType> {
        if !self.in_scope(c) {
            return None;
        }
        let matches = self.wanted(c);
        if !self.selective() {
            return Some(c.kind);
        }
        let key = format!(
            "{}/{}",
            meta_str(&c.object, "namespace"),
            meta_str(&c.object, "name")
        );
        let was = self.seen.contains(&key);
        match (c.kind, matches, was) {
            (EventType::Deleted, m, w) => {
                self.seen.remove(&key);
                (m || w).then_some(EventType::Deleted)
            }
            (_, true, false) => {
                self.seen.insert(key);
                Some(EventType::Added)
            }
            (kind, true, true) => Some(kind),
            (_, false, true) => {
                self.seen.remove(&key);
                Some(EventType::Deleted)
            }
            (_, false, false) => None,
        }
    }

    fn wanted(&self, c: &Change) -> bool {
        self.in_scope(c)
            && selector::matches(
                &self.label,
                c.object
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object),
            )
            && selector::matches_fields(&self.field, &c.object)
    }
}

fn watch(
    cluster: &Arc<Cluster>,
    t: &Target,
    p: &Params,
    table: bool,
    drop_at: Option<(Instant, Option<Conn>)>,
) -> Result<Response, ApiError> {
    let rv: Option<u64> = match p.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
        ),
    };
    let mut state;
    {
        let store = cluster.lock();
        let rx = cluster.changes.subscribe();
        state = WatchState {
            queue: VecDeque::new(),
            rx,
            resource: t.rt.key(),
            ns: t.ns.clone(),
            label: p.label.clone(),
            field: p.field.clone(),
            // A timeout past what an Instant can hold is no deadline, not a panic.
            deadline: p
                .timeout
                .and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
            last_rv: store.rv,
            table: table.then(|| t.rt.clone()),
            metadata_only: p.metadata_only,
            version: t.version.clone(),
            done: false,
            seen: HashSet::new(),
            serving: cluster.serving.subscribe(),
            drop_at,
            bookmark: p.bookmarks.then(
                || json!({"kind": t.rt.kind, "apiVersion": t.rt.group_version(&t.version), "metadata": {}}),
            ),
        };
        for o in store.list(&t.rt.key(), t.ns.as_deref()) {
            let labels = o.pointer("/metadata/labels").and_then(Value::as_object);
            if state.selective()
                && selector::matches(&state.label, labels)
                && selector::matches_fields(&state.field, o)
            {
                state.seen.insert(format!(
                    "{}/{}",
                    meta_str(o, "namespace"),
                    meta_str(o, "name")
                ));
            }
        }
        match rv {
            Some(rv) if p.send_initial != Some(true) => match store.since(rv) {
                Some(changes) => {
                    let lines: Vec<Bytes> = changes
                        .iter()
                        .filter(|c| state.wanted(c))
                        .map(|c| state.render(c.kind, &c.object, &t.version))
                        .collect();
                    state.queue.extend(lines);
                }
                None => {
                    let e =
                        ApiError::gone(format!("too old resource version: {rv} ({})", store.rv));
                    state.queue.push_back(event_line("ERROR", &e.to_status()));
                    state.done = true;
                }
            },
            _ => {
                for o in store.list(&t.rt.key(), t.ns.as_deref()) {
                    let c = Change {
                        rv: 0,
                        kind: EventType::Added,
                        resource: t.rt.key(),
                        object: Arc::new(o.clone()),
                    };
                    if state.wanted(&c) {
                        let line = state.render(EventType::Added, o, &t.version);
                        state.queue.push_back(line);
                    }
                }
                if p.send_initial == Some(true) && p.bookmarks {
                    let bm = json!({"kind": t.rt.kind, "apiVersion": t.rt.group_version(&t.version),
                        "metadata": {"resourceVersion": store.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                    state.queue.push_back(event_line("BOOKMARK", &bm));
                }
            }
        }
    }
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.queue.pop_front() {
                return Some((Ok::<Bytes, std::io::Error>(line), st));
            }
            if st.done {
                return None;
            }
            if let Some((at, conn)) = &st.drop_at
                && Instant::now() >= *at
            {
                // Cut mid-stream: no final chunk, the client sees the connection drop.
                if let Some(c) = conn {
                    c.cut();
                }
                st.done = true;
                return Some((
                    Err(std::io::Error::other("watch dropped (fault injection)")),
                    st,
                ));
            }
            let drop_at = st.drop_at.as_ref().map(|(at, _)| *at);
            let deadline = st.deadline;
            let rx = &mut st.rx;
            let received = async move {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            let serving = &mut st.serving;
            let next = tokio::select! {
                // The server stopped: end the stream (the client reconnects elsewhere).
                _ = serving.wait_for(|s| !*s) => return None,
                _ = tokio::time::sleep_until(drop_at.unwrap_or_else(Instant::now)), if drop_at.is_some() => continue,
                r = received => r,
            };
            let Some(next) = next else {
                let mut bm = st.bookmark.take()?;
                bm["metadata"]["resourceVersion"] = json!(st.last_rv.to_string());
                st.done = true;
                return Some((Ok(event_line("BOOKMARK", &bm)), st));
            };
            match next {
                Ok(c) if c.rv > st.last_rv => {
                    st.last_rv = c.rv;
                    if let Some(kind) = st.translate(&c) {
                        let version = st.version.clone();
                        let line = st.render(kind, &c.object, &version);
                        return Some((Ok(line), st));
                    }
                }
                Ok(_) => {}
                // Too slow a reader, or the cluster is gone: end the watch; clients re-list.
                Err(_) => return None,
            }
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .expect("a valid response"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClusterSpec, SandboxConfig};
    use crate::provider::{AlbInfo, AlbRequest, LoadBalancers};

    struct NoLbs;

    impl LoadBalancers for NoLbs {
        fn ensure_ingress_alb(&self, _: &AlbRequest) -> anyhow::Result<AlbInfo> {
            anyhow::bail!("no ALBs here")
        }

        fn delete_ingress_alb(&self, _: &str, _: &str, _: &str) -> anyhow::Result<()> {
            Ok(())
        }
    }

    /// Every JSON pointer inside `v`.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(c, p, out);
            }),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(c, p, out);
            }),
            _ => {}
        }
    }

    /// The status code of a request; its body is not read (a watch's never ends).
    async fn call(c: &Arc<Cluster>, method: Method, path: &str, ct: &str, body: String) -> u16 {
        // Not through `handle`: a panic must fail this test, not become a 500.
        match dispatch(c, built(method, path, ct, body), None).await {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.code,
        }
    }

    fn built(method: Method, path: &str, ct: &str, body: String) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap()
    }

    /// The status code and the body (a Status for an error) of a request.
    async fn request(
        c: &Arc<Cluster>,
        method: Method,
        path: &str,
        ct: &str,
        body: String,
    ) -> (u16, Value) {
        match dispatch(c, built(method, path, ct, body), None).await {
            Ok(r) => {
                let code = r.status().as_u16();
                let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default();
                (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
            }
            Err(e) => (e.code, e.to_status()),
        }
    }

    /// The message of a request's error.
    async fn refusal(
        c: &Arc<Cluster>,
        method: Method,
        path: &str,
        ct: &str,
        body: String,
    ) -> (u16, String) {
        let (code, status) = request(c, method, path, ct, body).await;
        (code, status["message"].as_str().unwrap_or("").to_string())
    }

    /// A cluster of its own in `dir`, without ALBs.
    fn cluster(dir: &std::path::Path) -> Arc<Cluster> {
        let mut cfg = SandboxConfig::new(dir.to_path_buf());
        cfg.transition_delay = Duration::ZERO;
        let spec = ClusterSpec {
            name: "fuzz".into(),
            region: "us-east-1".into(),
        };
        Cluster::open(&spec, &cfg, Arc::new(NoLbs)).unwrap()
    }

    const CM: &str = "/api/v1/namespaces/default/configmaps";

    async fn exists(c: &Arc<Cluster>, path: &str) -> bool {
        call(c, Method::GET, path, "", String::new()).await == 200
    }

    /// Malformed query parameters are refused as the apiserver's parameter codec (400)
    /// and options validation (422) refuse them, and a refused dry run stores nothing.
    #[tokio::test]
    async fn malformed_query_parameters_are_refused_and_store_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let body = json!({"metadata": {"name": "q"}, "data": {"a": "b"}}).to_string();
        for (query, code) in [
            ("dryRun=Foo", 422),
            ("dryRun=all", 422),
            ("fieldValidation=strict", 422),
            ("fieldValidation=Nope", 422),
        ] {
            let got = call(
                &c,
                Method::POST,
                &format!("{CM}?{query}"),
                "application/json",
                body.clone(),
            )
            .await;
            assert_eq!(got, code, "{query}");
            assert!(
                !exists(&c, &format!("{CM}/q")).await,
                "{query} stored the object"
            );
        }
        for query in [
            "limit=abc",
            "limit=1.5",
            "timeoutSeconds=soon",
            "watch=yes",
            "resourceVersion=abc",
            "allowWatchBookmarks=maybe",
            "labelSelector=a%20in%20(",
        ] {
            let got = call(&c, Method::GET, &format!("{CM}?{query}"), "", String::new()).await;
            assert_eq!(got, 400, "{query}");
        }
        let got = call(
            &c,
            Method::DELETE,
            &format!("{CM}/x?propagationPolicy=Later"),
            "",
            String::new(),
        )
        .await;
        assert_eq!(got, 422);
        assert_eq!(
            call(
                &c,
                Method::POST,
                &format!("{CM}?dryRun=All"),
                "application/json",
                body
            )
            .await,
            201
        );
        assert!(
            !exists(&c, &format!("{CM}/q")).await,
            "a dry run stores nothing"
        );
    }

    /// A watch asking for a timeout no clock can hold is served, not a worker panic.
    #[tokio::test]
    async fn a_watch_with_a_huge_timeout_does_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        for t in ["9223372036854775807", "-1"] {
            let got = call(
                &c,
                Method::GET,
                &format!("{CM}?watch=true&timeoutSeconds={t}"),
                "",
                String::new(),
            )
            .await;
            assert_eq!(got, 200, "timeoutSeconds={t}");
        }
        // Past int64, the parameter codec refuses it.
        let got = call(
            &c,
            Method::GET,
            &format!("{CM}?watch=true&timeoutSeconds=18446744073709551616"),
            "",
            String::new(),
        )
        .await;
        assert_eq!(got, 400);
    }

    #[tokio::test]
    async fn a_json_patch_of_more_than_ten_thousand_operations_is_413() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let body = json!({"metadata": {"name": "p"}, "data": {"a": "b"}}).to_string();
        assert_eq!(
            call(&c, Method::POST, CM, "application/json", body).await,
            201
        );
        let ops = |n: usize| {
            serde_json::to_string(&vec![
                json!({"op": "replace", "path": "/data/a", "value": "c"});
                n
            ])
            .unwrap()
        };
        let path = format!("{CM}/p");
        assert_eq!(
            call(
                &c,
                Method::PATCH,
                &path,
                "application/json-patch+json",
                ops(10_001)
            )
            .await,
            413
        );
        assert_eq!(
            call(
                &c,
                Method::PATCH,
                &path,
                "application/json-patch+json",
                ops(10_000)
            )
            .await,
            200
        );
    }

    /// `map[string]string` fields that are not are a 400 from typed decoding; data and
    /// annotations past their limits a 422; nothing of either is stored.
    #[tokio::test]
    async fn wrongly_typed_maps_and_oversized_data_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let big = "x".repeat((1 << 20) + 1);
        for (obj, code) in [
            (json!({"metadata": {"name": "t"}, "data": 5}), 400),
            (json!({"metadata": {"name": "t"}, "data": ["a"]}), 400),
            (
                json!({"metadata": {"name": "t"}, "data": {"a": {"b": "c"}}}),
                400,
            ),
            (json!({"metadata": {"name": "t"}, "data": {"a": 1}}), 400),
            (json!({"metadata": {"name": "t", "labels": 7}}), 400),
            (
                json!({"metadata": {"name": "t", "annotations": {"a": true}}}),
                400,
            ),
            (json!({"metadata": {"name": "t"}, "data": {"a": big}}), 422),
            (
                json!({"metadata": {"name": "t", "annotations": {"a": "y".repeat(256 << 10)}}}),
                422,
            ),
        ] {
            let got = call(&c, Method::POST, CM, "application/json", obj.to_string()).await;
            assert_eq!(
                got,
                code,
                "{}",
                &obj.to_string()[..obj.to_string().len().min(80)]
            );
            assert!(!exists(&c, &format!("{CM}/t")).await);
        }
        let secret =
            json!({"metadata": {"name": "s"}, "stringData": {"k": "z".repeat((1 << 20) + 1)}});
        let got = call(
            &c,
            Method::POST,
            "/api/v1/namespaces/default/secrets",
            "application/json",
            secret.to_string(),
        )
        .await;
        assert_eq!(got, 422);
    }

    /// kube-apiserver reads at most 3 MiB of a body (`MaxRequestBodyBytes`), whether
    /// the length is declared or not.
    #[tokio::test]
    async fn a_body_over_three_mebibytes_is_413() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let big =
            json!({"metadata": {"name": "big"}, "data": {"a": "x".repeat(MAX_BODY)}}).to_string();
        assert_eq!(
            refusal(&c, Method::POST, CM, "application/json", big).await,
            (
                413,
                "Request entity too large: limit is 3145728".to_string()
            )
        );
        let req = Request::builder()
            .method(Method::POST)
            .uri(CM)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, MAX_BODY + 1)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            dispatch(&c, req, None).await.err().map(|e| e.code),
            Some(413)
        );
        // Just under the limit, the body is read (and its data is then too large: 422).
        let under = json!({"metadata": {"name": "u"}, "data": {"a": "x".repeat(MAX_BODY - 64)}})
            .to_string();
        assert!(under.len() <= MAX_BODY);
        assert_eq!(
            call(&c, Method::POST, CM, "application/json", under).await,
            422
        );
    }

    /// The `copy` operations of one JSON patch may add at most 3 MiB
    /// (`JSONPatchMaxCopyBytes`): a patch that doubles a document 30 times is a 422,
    /// not gigabytes of memory.
    #[tokio::test]
    async fn json_patch_copies_are_bounded_to_three_mebibytes() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let body =
            json!({"metadata": {"name": "p", "annotations": {"a": "x".repeat(1024)}}}).to_string();
        assert_eq!(
            call(&c, Method::POST, CM, "application/json", body).await,
            201
        );
        let doubling: Vec<Value> = (0..30)
            .map(|i| json!({"op": "copy", "from": "/metadata/annotations", "path": format!("/metadata/annotations/c{i}")}))
            .collect();
        let (code, message) = refusal(
            &c,
            Method::PATCH,
            &format!("{CM}/p"),
            "application/json-patch+json",
            json!(doubling).to_string(),
        )
        .await;
        assert_eq!(code, 422);
        assert!(
            message
                .contains("Unable to complete the copy, the accumulated size increase of copy is"),
            "{message}"
        );
    }

    /// List and watch options as `ValidateListOptions` and the storage check them, and
    /// label selectors as `labels.Parse` does.
    #[tokio::test]
    async fn list_options_and_selectors_are_refused_as_kube_apiserver_refuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        for (query, code, message) in [
            (
                "resourceVersionMatch=NotOlderThan",
                422,
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            ),
            (
                "sendInitialEvents=true",
                422,
                "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
            ),
            (
                "watch=true&sendInitialEvents=true",
                422,
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ),
            (
                "limit=1&continue=zz",
                400,
                "invalid continue token: continue key is not valid: Invalid character 'z' at position 0",
            ),
            (
                "limit=1&continue=612f62&resourceVersion=5",
                400,
                "specifying resource version is not allowed when using continue",
            ),
        ] {
            let got = refusal(&c, Method::GET, &format!("{CM}?{query}"), "", String::new()).await;
            assert_eq!(got, (code, message.to_string()), "{query}");
        }
        let long = "v".repeat(64);
        let got = refusal(
            &c,
            Method::GET,
            &format!("{CM}?labelSelector=app%3D{long}"),
            "",
            String::new(),
        )
        .await;
        assert_eq!(
            got,
            (
                400,
                format!(
                    "unable to parse requirement: values[0][app]: Invalid value: \"{long}\": must be no more than 63 characters"
                )
            )
        );
        let got = refusal(
            &c,
            Method::GET,
            &format!("{CM}?labelSelector=a/b/c"),
            "",
            String::new(),
        )
        .await;
        assert_eq!(got.0, 400);
        assert!(got.1.starts_with("unable to parse requirement: key: Invalid value: \"a/b/c\": a qualified name must consist of"), "{}", got.1);
        // kube-rs' streaming list is accepted.
        let got = call(&c, Method::GET, &format!("{CM}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"), "", String::new()).await;
        assert_eq!(got, 200);
    }

    /// A page says how many items remain only when no selector filtered the list, as
    /// kube-apiserver counts them only then; the pages together are the whole list.
    #[tokio::test]
    async fn paging_counts_what_remains_only_without_a_selector() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        for i in 0..5 {
            let body =
                json!({"metadata": {"name": format!("c{i}"), "labels": {"k": "v"}}}).to_string();
            assert_eq!(
                call(&c, Method::POST, CM, "application/json", body).await,
                201
            );
        }
        let (_, first) =
            request(&c, Method::GET, &format!("{CM}?limit=2"), "", String::new()).await;
        assert_eq!(first["metadata"]["remainingItemCount"], 3);
        let (_, selected) = request(
            &c,
            Method::GET,
            &format!("{CM}?limit=2&labelSelector=k%3Dv"),
            "",
            String::new(),
        )
        .await;
        assert!(
            selected["metadata"].get("remainingItemCount").is_none(),
            "{selected}"
        );
        let mut names = Vec::new();
        let mut token = String::new();
        loop {
            let (code, page) = request(
                &c,
                Method::GET,
                &format!("{CM}?limit=2&labelSelector=k%3Dv&continue={token}"),
                "",
                String::new(),
            )
            .await;
            assert_eq!(code, 200);
            names.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["metadata"]["name"].as_str().unwrap().to_string()),
            );
            match page["metadata"]["continue"].as_str() {
                Some(t) => token = t.to_string(),
                None => break,
            }
        }
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
    }

    /// Names and generateName prefixes in the syntax of their kind, and a generated
    /// name never longer than 63 characters.
    #[tokio::test]
    async fn names_and_generated_names_follow_their_kinds_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let long = "g".repeat(70);
        let (code, cm) = request(
            &c,
            Method::POST,
            CM,
            "application/json",
            json!({"metadata": {"generateName": long}}).to_string(),
        )
        .await;
        assert_eq!(code, 201, "{cm}");
        assert_eq!(cm["metadata"]["name"].as_str().unwrap().len(), 63);
        let (code, message) = refusal(
            &c,
            Method::POST,
            CM,
            "application/json",
            json!({"metadata": {"generateName": "Web-"}}).to_string(),
        )
        .await;
        assert_eq!(code, 422);
        assert!(message.starts_with("ConfigMap \"Web-"), "{message}");
        assert!(
            message.contains(
                "metadata.generateName: Invalid value: \"Web-\": a lowercase RFC 1123 subdomain"
            ),
            "{message}"
        );
        // A Service's name is a DNS-1035 label: it starts with a letter.
        let svc =
            json!({"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}).to_string();
        let (code, message) = refusal(
            &c,
            Method::POST,
            "/api/v1/namespaces/default/services",
            "application/json",
            svc,
        )
        .await;
        assert_eq!(code, 422);
        assert!(
            message.contains(
                "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of"
            ),
            "{message}"
        );
        let label =
            json!({"metadata": {"name": "l", "labels": {"app": "v".repeat(64)}}}).to_string();
        let (code, message) = refusal(&c, Method::POST, CM, "application/json", label).await;
        assert_eq!(code, 422);
        assert!(
            message.ends_with(": must be no more than 63 characters"),
            "{message}"
        );
    }

    /// Updates that change what kube-apiserver keeps immutable are 422s, however they
    /// arrive (PUT, merge patch, apply); the object is unchanged.
    #[tokio::test]
    async fn immutable_fields_refuse_updates_by_every_verb() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let deploys = "/apis/apps/v1/namespaces/default/deployments";
        let deploy = |app: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": app}}, "template": {"metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
        };
        assert_eq!(
            call(
                &c,
                Method::POST,
                deploys,
                "application/json",
                deploy("a").to_string()
            )
            .await,
            201
        );
        let expected = "Deployment.apps \"d\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable";
        let item = format!("{deploys}/d");
        for (method, path, ct) in [
            (Method::PUT, item.clone(), "application/json"),
            (Method::PATCH, item.clone(), "application/merge-patch+json"),
            (
                Method::PATCH,
                format!("{item}?fieldManager=m&force=true"),
                "application/apply-patch+yaml",
            ),
        ] {
            let got = refusal(&c, method.clone(), &path, ct, deploy("b").to_string()).await;
            assert_eq!(got, (422, expected.to_string()), "{method} {ct}");
        }
        let (_, d) = request(&c, Method::GET, &item, "", String::new()).await;
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "a");
        // Typed decoding comes first: a wrong type is a 400 whatever else is wrong.
        let mut typo = deploy("a");
        typo["spec"]["replicas"] = json!("3");
        let got = refusal(&c, Method::PUT, &item, "application/json", typo.to_string()).await;
        assert_eq!(got, (400, "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32".to_string()));
    }

    /// Objects with any one field replaced by a value of the wrong type are refused
    /// with a 4xx or stored; nothing panics, neither the API nor the controllers.
    #[tokio::test]
    async fn wrongly_typed_fields_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path());
        let template = json!({"metadata": {"labels": {"app": "a"}, "annotations": {"x": "y"}},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "name": "http"}],
                "env": [{"name": "A", "value": "1"}]}]}});
        let samples = [
            (
                "/apis/apps/v1/namespaces/default/deployments",
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "labels": {"app": "a"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}}, "template": template,
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}}}),
            ),
            (
                "/api/v1/namespaces/default/services",
                json!({"metadata": {"name": "s"},
                "spec": {"type": "NodePort", "selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": "http", "nodePort": 30080}]}}),
            ),
            (
                "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
                json!({"metadata": {"name": "i",
                "annotations": {"kubernetes.io/ingress.class": "alb", "alb.ingress.kubernetes.io/tags": "a=b"}},
                "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
            ),
            (
                "/api/v1/namespaces/default/pods",
                json!({"metadata": {"name": "p", "labels": {"app": "a"},
                "ownerReferences": [{"uid": "u", "kind": "ReplicaSet", "name": "r", "apiVersion": "apps/v1"}]},
                "spec": template["spec"].clone()}),
            ),
            (
                "/api/v1/namespaces/default/configmaps",
                json!({"metadata": {"name": "c", "finalizers": ["f"]}, "data": {"a": "b"}}),
            ),
            (
                "/apis/apps/v1/namespaces/default/statefulsets",
                json!({"metadata": {"name": "ss"}, "spec": {"replicas": 2, "serviceName": "s",
                    "selector": {"matchLabels": {"app": "a"}}, "template": template}}),
            ),
            (
                "/apis/apps/v1/namespaces/default/daemonsets",
                json!({"metadata": {"name": "ds"}, "spec": {
                    "selector": {"matchLabels": {"app": "a"}}, "template": template}}),
            ),
            (
                "/apis/batch/v1/namespaces/default/jobs",
                json!({"metadata": {"name": "j"}, "spec": {"completions": 2, "template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}),
            ),
        ];
        // The controller's deployment is Available, so the ALB path runs too.
        let lbc = json!({"metadata": {"name": "aws-load-balancer-controller"}, "spec": {"replicas": 0,
            "selector": {"matchLabels": {"app": "lbc"}}, "template": {"metadata": {"labels": {"app": "lbc"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let code = call(
            &c,
            Method::POST,
            "/apis/apps/v1/namespaces/kube-system/deployments",
            "application/json",
            lbc.to_string(),
        )
        .await;
        assert_eq!(code, 201);
        super::super::controllers::reconcile(&c);
        super::super::controllers::reconcile(&c);
        assert!(super::super::controllers::lbc_installed(&c));
        let wrong = [
            json!("x"),
            json!(-5),
            json!([1]),
            json!({"a": 1}),
            Value::Null,
            json!(true),
        ];
        let mut n = 0;
        for (path, sample) in samples {
            let mut ptrs = Vec::new();
            pointers(&sample, String::new(), &mut ptrs);
            for p in &ptrs {
                for w in &wrong {
                    let mut obj = sample.clone();
                    *obj.pointer_mut(p).unwrap() = w.clone();
                    let name = format!("n{n}");
                    n += 1;
                    if obj.pointer("/metadata/name").is_some_and(Value::is_string) {
                        obj["metadata"]["name"] = json!(name);
                    }
                    let code =
                        call(&c, Method::POST, path, "application/json", obj.to_string()).await;
                    assert!(code < 500, "POST {path} with {p} = {w}: {code}");
                    let item = format!("{path}/{}", sample["metadata"]["name"].as_str().unwrap());
                    call(
                        &c,
                        Method::POST,
                        path,
                        "application/json",
                        sample.to_string(),
                    )
                    .await;
                    for ct in [
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                    ] {
                        let code = call(&c, Method::PATCH, &item, ct, obj.to_string()).await;
                        assert!(code < 500, "PATCH {item} ({ct}) with {p} = {w}: {code}");
                    }
                    let code = call(
                        &c,
                        Method::PUT,
                        &format!("{item}/status"),
                        "application/json",
                        obj.to_string(),
                    )
                    .await;
                    assert!(code < 500, "PUT status {item} with {p} = {w}: {code}");
                    super::super::controllers::reconcile(&c);
                    // Keep the store small: the next case starts from the sample again.
                    call(
                        &c,
                        Method::DELETE,
                        &format!("{path}/{name}"),
                        "",
                        String::new(),
                    )
                    .await;
                    super::super::controllers::reconcile(&c);
                }
            }
        }
        // The cluster still answers.
        let code = call(
            &c,
            Method::GET,
            "/api/v1/namespaces/default/pods",
            "",
            String::new(),
        )
        .await;
        assert_eq!(code, 200);
    }
}
