//! The emulated AWS account: Global Accelerator (awsJson1_1), Route 53 (restXml),
//! ELBv2 and STS (awsQuery) behind one loopback port. One handler reads the request,
//! checks its SigV4 signature, routes it by protocol and persists state after every
//! mutation, so stock SDKs and the `aws` CLI work against it unmodified.

pub mod elbv2;
pub mod ga;
mod ids;
pub mod route53;
pub(crate) mod sigv4;
pub mod sts;
mod xml;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use anyhow::Result;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::faults::conn::reset;
use crate::faults::{self, Conn, Faults};
use crate::persist;
use crate::serving::body::BodyError;

/// Requests larger than this are refused with the protocol's own error (HTTP 413).
pub const MAX_BODY: usize = 1024 * 1024;

/// Who the emulated account is and how it behaves; derived from `SandboxConfig`.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// How long IN_PROGRESS, PENDING and provisioning last.
    pub transition_delay_ms: u64,
    /// Where the account's state is snapshotted (JSON, replaced atomically).
    pub state_path: PathBuf,
    /// The sandbox's loopback block: accelerators' static IPs are allocated from it so
    /// parallel sandboxes never collide. None (library users without a data plane):
    /// the legacy `127.100.x.y` addresses.
    pub net: Option<crate::dataplane::NetBlock>,
}

/// Everything the account holds. Serialized whole to `state_path`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AwsState {
    #[serde(default)]
    pub ga: ga::GaState,
    #[serde(default)]
    pub route53: route53::Route53State,
    #[serde(default)]
    pub elbv2: elbv2::Elbv2State,
}

/// How many resources of each kind exist (for `runner sandbox status`).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResourceCounts {
    pub accelerators: usize,
    pub listeners: usize,
    pub endpoint_groups: usize,
    pub hosted_zones: usize,
    pub record_sets: usize,
    pub load_balancers: usize,
    pub target_groups: usize,
}

impl AwsState {
    pub fn counts(&self) -> ResourceCounts {
        let listeners = self.ga.accelerators.iter().flat_map(|a| &a.listeners);
        ResourceCounts {
            accelerators: self.ga.accelerators.len(),
            listeners: listeners.clone().count(),
            endpoint_groups: listeners.map(|l| l.endpoint_groups.len()).sum(),
            hosted_zones: self.route53.zones.len(),
            record_sets: self.route53.zones.iter().map(|z| z.record_sets.len()).sum(),
            load_balancers: self.elbv2.load_balancers.len(),
            target_groups: self.elbv2.target_groups.len(),
        }
    }
}

/// The running account: settings plus state behind one lock.
pub struct Aws {
    settings: AwsSettings,
    state: Mutex<Versioned>,
    /// The version last written to disk. Writers take this lock, not the state lock,
    /// so reads go on while a snapshot is being synced (group commit).
    saved: Mutex<u64>,
    /// Requests served (health checks aside), for tests that prove a call never
    /// reached the server: reported by `GET /_sandbox/health`.
    requests: std::sync::atomic::AtomicU64,
    /// The fault injector, when the sandbox runs with `--faults`.
    faults: OnceLock<Arc<Faults>>,
}

/// The state and a counter bumped by every mutation.
struct Versioned {
    state: AwsState,
    version: u64,
}

/// What a handler knows about the call it serves.
pub struct Ctx<'a> {
    pub now: u64,
    pub delay: u64,
    pub account: &'a str,
    /// From the SigV4 credential scope.
    pub region: String,
    /// Where static IPs come from (see [`AwsSettings::net`]).
    pub net: Option<crate::dataplane::NetBlock>,
}

impl Ctx<'_> {
    /// When a transition started now completes.
    pub fn ready_at(&self) -> u64 {
        self.now + self.delay
    }
}

/// An error in protocol-neutral form; each protocol renders it in its own shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A client error (HTTP 400).
    pub fn bad(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// The wire protocol a request speaks, which decides how its errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Json,
    RestXml,
    Query,
}

impl Aws {
    /// Opens the account, loading its snapshot if there is one.
    pub fn open(settings: AwsSettings) -> Result<Arc<Self>> {
        let state: AwsState = persist::load(&settings.state_path)?.unwrap_or_default();
        Ok(Arc::new(Self {
            settings,
            state: Mutex::new(Versioned { state, version: 0 }),
            saved: Mutex::new(0),
            requests: std::sync::atomic::AtomicU64::new(0),
            faults: OnceLock::new(),
        }))
    }

    /// Makes this account's calls subject to `faults` (once, before serving).
    pub fn inject_faults(&self, faults: Arc<Faults>) {
        let _ = self.faults.set(faults);
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// A copy of the whole state (tests, status).
    pub fn snapshot(&self) -> AwsState {
        self.lock().state.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Versioned> {
        // A panic while holding the lock must not take the whole account down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the snapshot now.
    pub fn save(&self) -> Result<()> {
        let (version, bytes) = {
            let v = self.lock();
            (v.version, serde_json::to_vec_pretty(&v.state)?)
        };
        self.write_version(version, &bytes, true)
    }

    /// Writes snapshot `version` unless a newer one is already on disk (it contains
    /// this version's changes too), so concurrent writers share one sync.
    fn write_version(&self, version: u64, bytes: &[u8], force: bool) -> Result<()> {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if *saved >= version && !force {
            return Ok(());
        }
        persist::save_bytes(&self.settings.state_path, bytes)?;
        *saved = (*saved).max(version);
        Ok(())
    }

    /// Runs `f` on the state with a context for `region`. When `mutating` and `f`
    /// succeeded, the new state is serialized under the lock and written after it is
    /// released; the call returns once that (or a newer) snapshot is on disk, so an
    /// acknowledged change survives a crash.
    pub(crate) fn with_state<T>(
        &self,
        region: &str,
        mutating: bool,
        f: impl FnOnce(&mut AwsState, &Ctx<'_>) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let ctx = Ctx {
            now: ids::now_ms(),
            delay: self.settings.transition_delay_ms,
            account: &self.settings.account_id,
            region: region.to_string(),
            net: self.settings.net,
        };
        let (out, pending) = {
            let mut guard = self.lock();
            if !mutating {
                (f(&mut guard.state, &ctx)?, None)
            } else {
                // Work on a copy: a request that fails halfway changes nothing.
                let mut next = guard.state.clone();
                let out = f(&mut next, &ctx)?;
                guard.state = next;
                guard.version += 1;
                let bytes = serde_json::to_vec_pretty(&guard.state).map_err(|e| {
                    ApiError::new(
                        500,
                        "InternalFailure",
                        format!("serializing state failed: {e}"),
                    )
                })?;
                (out, Some((guard.version, bytes)))
            }
        };
        if let Some((version, bytes)) = pending
            && let Err(e) = self.write_version(version, &bytes, false)
        {
            tracing::error!(error = %e, "saving the sandbox AWS state failed");
            return Err(ApiError::new(
                500,
                "InternalFailure",
                format!("saving state failed: {e}"),
            ));
        }
        Ok(out)
    }

    /// Sets where a load balancer's data plane listens (`ip:port`, or None), as the
    /// ALB data plane does; for tests that stand in for it. False if no such ARN.
    #[doc(hidden)]
    pub fn set_load_balancer_listen(&self, arn: &str, listen: Option<String>) -> bool {
        self.with_state("", true, |s, _| {
            let lb = s.elbv2.load_balancers.iter_mut().find(|l| l.arn == arn);
            Ok(lb.map(|l| l.listen = listen).is_some())
        })
        .unwrap_or(false)
    }

    /// Sets the health of every accelerator endpoint whose id is `endpoint_id`
    /// (`HEALTHY`, `UNHEALTHY`, or None for the INITIAL-then-HEALTHY default), as the
    /// ALB health checks do; for tests that stand in for them. Returns how many changed.
    #[doc(hidden)]
    pub fn set_endpoint_health(&self, endpoint_id: &str, health: Option<String>) -> usize {
        self.with_state("", true, |s, _| {
            let mut n = 0;
            let endpoints =
                s.ga.accelerators
                    .iter_mut()
                    .flat_map(|a| &mut a.listeners)
                    .flat_map(|l| &mut l.endpoint_groups)
                    .flat_map(|g| &mut g.endpoints);
            for e in endpoints.filter(|e| e.id == endpoint_id) {
                e.health = health.clone();
                n += 1;
            }
            Ok(n)
        })
        .unwrap_or(0)
    }

    /// The axum router serving every AWS API (and `/_sandbox/health`).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }
}

fn classify(req: &Request) -> Protocol {
    if req.headers().contains_key("x-amz-target") {
        Protocol::Json
    } else if req.uri().path().starts_with("/2013-04-01/") {
        Protocol::RestXml
    } else {
        Protocol::Query
    }
}

async fn handle(State(aws): State<Arc<Aws>>, req: Request) -> Response {
    if req.uri().path() == "/_sandbox/health" && req.method() == Method::GET {
        let counts = aws.snapshot().counts();
        let requests = aws.requests.load(std::sync::atomic::Ordering::SeqCst);
        let mut body = serde_json::json!({"status": "running", "services": ["globalaccelerator", "route53", "elasticloadbalancing", "sts"], "resources": counts, "requests": requests});
        if let Some(f) = aws.faults.get() {
            // Live, unlike faults.json (written every 200 ms): for tests and scripts.
            body["faults"] = serde_json::to_value(f.counts()).unwrap_or_default();
        }
        return json_response(200, body.to_string());
    }
    if let Some(paused) = match req.uri().path() {
        "/_sandbox/faults/pause" => Some(true),
        "/_sandbox/faults/resume" => Some(false),
        _ => None,
    } && req.method() == Method::POST
    {
        let Some(f) = aws.faults.get() else {
            let body = serde_json::json!({"message": "this sandbox runs without --faults"});
            return json_response(404, body.to_string());
        };
        f.pause(paused);
        return json_response(200, serde_json::to_string(&f.counts()).unwrap_or_default());
    }
    aws.requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let conn = Conn::of(&req);
    let proto = classify(&req);
    let (parts, body) = req.into_parts();
    let body = match crate::serving::body::read(&parts.headers, body, MAX_BODY).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => {
            let e = ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request body exceeds the limit of {MAX_BODY} bytes"),
            );
            return render_error(proto, "", &e);
        }
        Err(e @ BodyError::Broken(_)) => {
            let e = ApiError::bad("MalformedInput", e.to_string());
            return render_error(proto, "", &e);
        }
    };
    let signed = sigv4::SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let scope = match sigv4::verify(
        &signed,
        &aws.settings.access_key_id,
        &aws.settings.secret_access_key,
        ids::now_ms() / 1000,
    )
    .and_then(|scope| match endpoint(proto, &parts, &body, &scope) {
        Some((service, regions)) => sigv4::check_scope(&scope, service, regions).map(|()| scope),
        None => Ok(scope),
    }) {
        Ok(scope) => scope,
        Err(e) => {
            let service = query_service(&parts, &body, None);
            return render_error(proto, service, &auth_error(proto, e));
        }
    };
    // Faults are rolled once the caller is known and before anything is applied, for
    // the operations the sandbox serves (a malformed call is answered as usual).
    let fault = match (aws.faults.get(), operation(proto, &parts, &body, &scope)) {
        (Some(faults), Some((service, op))) => faults
            .decide(service, op)
            .map(|f| (f, fault_error(service, op, &f))),
        _ => None,
    };
    let error_service = match proto {
        Protocol::Json => "",
        Protocol::RestXml => "route53",
        Protocol::Query => query_service(&parts, &body, Some(&scope.service)),
    };
    match &fault {
        Some((f, _)) if f.kind == faults::Kind::Latency => tokio::time::sleep(f.latency).await,
        Some((f, _)) if f.kind == faults::Kind::ResetBefore => return reset(conn.as_ref()),
        Some((_, Some(e))) => return render_error(proto, error_service, e),
        _ => {}
    }
    let response = serve_call(&aws, proto, &parts, &body, &scope);
    match fault {
        // Applied (or refused: the client cannot tell), but never answered.
        Some((f, _)) if f.kind == faults::Kind::ResetAfter => reset(conn.as_ref()),
        _ => response,
    }
}

/// The signing name and regions of the endpoint a request addressed, as AWS would
/// know it from the host name; the sandbox serves every service on one address, so it
/// reads the protocol and the awsQuery API version instead. None for a request no
/// service here understands (answered as such later).
fn endpoint(
    proto: Protocol,
    parts: &axum::http::request::Parts,
    body: &[u8],
    scope: &sigv4::Scope,
) -> Option<(&'static str, sigv4::Regions)> {
    use sigv4::Regions;
    match proto {
        Protocol::Json => {
            let target = parts.headers.get("x-amz-target")?.to_str().ok()?;
            target
                .starts_with(ga::TARGET_PREFIX)
                .then_some(("globalaccelerator", Regions::Only(GA_REGION)))
        }
        Protocol::RestXml => Some(("route53", Regions::Only(ROUTE53_REGION))),
        // The API version names the service; without a known one, the signing name.
        Protocol::Query => {
            let named = match query_service(parts, body, None) {
                "" => query_service(parts, body, Some(&scope.service)),
                named => named,
            };
            Some((signing_name(named)?, Regions::Any))
        }
    }
}

/// Global Accelerator's API endpoint exists in this region only.
const GA_REGION: &str = "us-west-2";
/// Route 53 is global; its requests are signed for this region.
const ROUTE53_REGION: &str = "us-east-1";

fn signing_name(service: &str) -> Option<&'static str> {
    ["elasticloadbalancing", "sts"]
        .into_iter()
        .find(|s| *s == service)
}

/// The service and operation of an authenticated request, as `--faults` names them.
fn operation(
    proto: Protocol,
    parts: &axum::http::request::Parts,
    body: &[u8],
    scope: &sigv4::Scope,
) -> Option<(faults::Service, &'static str)> {
    let known = |service: faults::Service, op: &str| {
        service
            .operations()
            .iter()
            .find(|o| **o == op)
            .map(|o| (service, *o))
    };
    match proto {
        Protocol::Json => {
            let target = parts.headers.get("x-amz-target")?.to_str().ok()?;
            known(faults::Service::Ga, target.strip_prefix(ga::TARGET_PREFIX)?)
        }
        Protocol::RestXml => route53::operation(&parts.method, parts.uri.path())
            .map(|op| (faults::Service::Route53, op)),
        Protocol::Query => {
            let service = match query_service(parts, body, Some(&scope.service)) {
                "elasticloadbalancing" => faults::Service::Elbv2,
                "sts" => faults::Service::Sts,
                _ => return None,
            };
            let action = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .chain(form_urlencoded::parse(body))
                .find(|(k, _)| k == "Action")?
                .1;
            known(service, &action)
        }
    }
}

/// The error a throttle or 5xx fault answers with, in the service's own terms (None for
/// the other kinds). Throttling is HTTP 400 in all four services: GA's awsJson
/// `ThrottlingException`; Route 53's `PriorRequestNotComplete` for a change batch sent
/// while another is processed, else `Throttling`; ELBv2's and STS's awsQuery `Throttling`.
fn fault_error(service: faults::Service, op: &str, f: &faults::Fault) -> Option<ApiError> {
    use faults::{Kind, Service};
    Some(match (f.kind, service) {
        (Kind::Throttle, Service::Ga) => ApiError::bad("ThrottlingException", "Rate exceeded"),
        (Kind::Throttle, Service::Route53) if op == "ChangeResourceRecordSets" => ApiError::bad(
            "PriorRequestNotComplete",
            "The request was rejected because Route 53 was still processing a prior request.",
        ),
        (Kind::Throttle, _) => ApiError::bad("Throttling", "Rate exceeded"),
        (Kind::ServerError, _) if f.unavailable() => ApiError::new(
            503,
            if service == Service::Ga {
                "ServiceUnavailableException"
            } else {
                "ServiceUnavailable"
            },
            "Service is unavailable. Please try again later.",
        ),
        (Kind::ServerError, Service::Ga) => ApiError::new(
            500,
            "InternalServiceErrorException",
            "There was an internal error for AWS Global Accelerator.",
        ),
        (Kind::ServerError, _) => ApiError::new(
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
        _ => return None,
    })
}

/// Serves one authenticated call.
fn serve_call(
    aws: &Aws,
    proto: Protocol,
    parts: &axum::http::request::Parts,
    body: &[u8],
    scope: &sigv4::Scope,
) -> Response {
    match proto {
        Protocol::Json => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            match ga::handle(aws, &scope.region, target, body) {
                Ok(v) => json_response(200, v.to_string()),
                Err(e) => render_error(proto, "", &e),
            }
        }
        Protocol::RestXml => {
            let path = parts.uri.path().to_string();
            let query = parts.uri.query().unwrap_or("");
            match route53::handle(aws, &scope.region, &parts.method, &path, query, body) {
                Ok(r) => r,
                Err(e) => render_error(proto, "route53", &e),
            }
        }
        Protocol::Query => {
            let mut params: Vec<(String, String)> =
                form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            params.extend(form_urlencoded::parse(body).into_owned());
            let service = query_service(parts, body, Some(&scope.service));
            let result = match service {
                "elasticloadbalancing" => elbv2::handle(aws, &scope.region, &params),
                "sts" => sts::handle(aws, &scope.region, &params),
                _ => Err(ApiError::bad(
                    "InvalidAction",
                    format!(
                        "The service {} is not emulated by this sandbox",
                        scope.service
                    ),
                )),
            };
            match result {
                Ok(body) => xml_response(200, body),
                Err(e) => render_error(proto, service, &e),
            }
        }
    }
}

/// Which awsQuery service a request is for: the signing name, else the API version.
fn query_service<'a>(
    parts: &axum::http::request::Parts,
    body: &[u8],
    signed: Option<&'a str>,
) -> &'a str {
    match signed {
        Some("elasticloadbalancing") => return "elasticloadbalancing",
        Some("sts") => return "sts",
        _ => {}
    }
    let version = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .chain(form_urlencoded::parse(body))
        .find(|(k, _)| k == "Version")
        .map(|(_, v)| v.into_owned());
    match version.as_deref() {
        Some(elbv2::VERSION) => "elasticloadbalancing",
        Some(sts::VERSION) => "sts",
        _ => "",
    }
}

fn auth_error(proto: Protocol, e: sigv4::AuthError) -> ApiError {
    use sigv4::AuthError::*;
    let json = proto == Protocol::Json;
    let (code, message) = match e {
        Missing if json => ("MissingAuthenticationTokenException", "Missing Authentication Token".to_string()),
        Missing => ("MissingAuthenticationToken", "Request is missing Authentication Token".to_string()),
        Malformed(m) if json => ("IncompleteSignatureException", m),
        Malformed(m) => ("IncompleteSignature", m),
        UnknownKey if json => ("UnrecognizedClientException", "The security token included in the request is invalid.".into()),
        UnknownKey => ("InvalidClientTokenId", "The security token included in the request is invalid.".into()),
        Expired(m) | WrongScope(m) => (if json { "InvalidSignatureException" } else { "SignatureDoesNotMatch" }, m),
        BadSignature => (
            if json { "InvalidSignatureException" } else { "SignatureDoesNotMatch" },
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        ),
    };
    ApiError::new(403, code, message)
}

fn request_id() -> String {
    ids::uuid()
}

fn json_response(status: u16, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    add_request_id(&mut r);
    r
}

pub(crate) fn xml_response(status: u16, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    add_request_id(&mut r);
    r
}

fn add_request_id(r: &mut Response) {
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("x-amzn-requestid", v.clone());
        r.headers_mut().insert("x-amz-request-id", v);
    }
}

fn render_error(proto: Protocol, service: &str, e: &ApiError) -> Response {
    match proto {
        Protocol::Json => {
            let body = serde_json::json!({"__type": e.code, "message": e.message});
            let mut r = json_response(e.status, body.to_string());
            if let Ok(v) = HeaderValue::from_str(&e.code) {
                r.headers_mut().insert("x-amzn-errortype", v);
            }
            r
        }
        Protocol::RestXml | Protocol::Query => {
            let ns = match (proto, service) {
                (Protocol::RestXml, _) => route53::NAMESPACE,
                (_, "sts") => sts::NAMESPACE,
                _ => elbv2::NAMESPACE,
            };
            let mut w = xml::Writer::new();
            w.open_ns("ErrorResponse", ns)
                .open("Error")
                .leaf(
                    "Type",
                    if e.status >= 500 {
                        "Receiver"
                    } else {
                        "Sender"
                    },
                )
                .leaf("Code", &e.code)
                .leaf("Message", &e.message)
                .close("Error")
                .leaf("RequestId", request_id())
                .close("ErrorResponse");
            xml_response(e.status, w.finish())
        }
    }
}

/// Paginates `items` from `offset` (an opaque marker that is the decimal index).
pub(crate) fn page<T: Clone>(
    items: &[T],
    marker: Option<&str>,
    size: usize,
) -> Option<(Vec<T>, Option<String>)> {
    let start = match marker {
        None => 0,
        Some(m) => m.parse::<usize>().ok().filter(|n| *n <= items.len())?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Some((items[start..end].to_vec(), next))
}
