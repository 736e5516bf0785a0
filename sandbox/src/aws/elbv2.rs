//! Elastic Load Balancing v2 (awsQuery, Version 2015-12-01), per region (the region
//! comes from the SigV4 scope): load balancers (created by the Load Balancer Controller
//! stand-in through `provider::LoadBalancers`, or by CreateLoadBalancer), target groups,
//! targets and their health, tags. Load balancers go provisioning -> active after the
//! transition delay. The data plane (a later issue) will give each ALB a listen address
//! (`LoadBalancer::listen`) and drive `Target::health`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::xml::Writer;
use super::{ApiError, ApiResult, Aws, AwsState, Ctx, ids, page};
use crate::provider::{AlbBackend, AlbInfo, AlbRequest, LoadBalancers};

pub const VERSION: &str = "2015-12-01";
pub const NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Elbv2State {
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
}

/// The Ingress an ALB was created for by the controller stand-in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IngressOwner {
    pub cluster: String,
    pub namespace: String,
    pub ingress: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub region: String,
    pub dns_name: String,
    pub scheme: String,
    pub lb_type: String,
    pub ip_address_type: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub created_ms: u64,
    /// State is `provisioning` until this instant, `active` after.
    pub active_at_ms: u64,
    pub tags: BTreeMap<String, String>,
    pub owner: Option<IngressOwner>,
    /// Where the data plane will accept this ALB's traffic (unset until it exists).
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub listeners: Vec<ElbListener>,
}

/// A load balancer listener: a port and what to do with its requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElbListener {
    pub arn: String,
    pub port: i64,
    pub protocol: String,
    pub default_actions: Vec<ElbAction>,
}

/// `forward` (to `target_group_arn`) or `fixed-response`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ElbAction {
    pub action_type: String,
    pub target_group_arn: Option<String>,
    pub status_code: Option<String>,
    pub content_type: Option<String>,
    pub message_body: Option<String>,
}

impl LoadBalancer {
    pub fn state(&self, now: u64) -> &'static str {
        if now >= self.active_at_ms {
            "active"
        } else {
            "provisioning"
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub region: String,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub vpc_id: Option<String>,
    pub target_type: String,
    pub health_check_protocol: Option<String>,
    pub health_check_port: String,
    pub health_check_path: Option<String>,
    pub health_check_enabled: bool,
    pub health_check_interval: i64,
    pub health_check_timeout: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    pub matcher: Option<String>,
    pub load_balancer_arns: Vec<String>,
    pub targets: Vec<Target>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub port: Option<i64>,
    pub registered_ms: u64,
    /// Set by the data plane's health checks (`initial`, `healthy`, `unhealthy`); unset
    /// reads `initial` for the transition delay, then `healthy`.
    #[serde(default)]
    pub health: Option<String>,
    /// Left the Service's endpoints: gets no new traffic and is deregistered once its
    /// health checks fail (the controller stand-in's deregistration).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
}

/// Canonical hosted zone ids of ALBs per region (what alias records point at).
pub fn canonical_zone(region: &str) -> &'static str {
    match region {
        "us-east-1" => "Z35SXDOTRQ7X7K",
        "us-east-2" => "Z3AADJGX6KTTL2",
        "us-west-1" => "Z368ELLRRE2KJ0",
        "us-west-2" => "Z1H1FL5HABSF5",
        "eu-west-1" => "Z32O12XQLNTSW2",
        "eu-central-1" => "Z215JYRZR1TBD5",
        "ap-southeast-1" => "Z1LMS91P8CMLE5",
        "ap-northeast-1" => "Z14GRHDCWA56QT",
        _ => "Z35SXDOTRQ7X7K",
    }
}

/// The name the AWS Load Balancer Controller gives an implicit-group Ingress's ALB
/// (`pkg/ingress/model_build_load_balancer.go`).
pub fn controller_alb_name(cluster: &str, namespace: &str, ingress: &str, scheme: &str) -> String {
    let mut h = Sha256::new();
    h.update(cluster.as_bytes());
    h.update(format!("{namespace}/{ingress}").as_bytes());
    h.update(scheme.as_bytes());
    controller_name(namespace, ingress, h)
}

/// `k8s-<a[:8]>-<b[:8]>-<10 hex of the hash>`, with only the alphanumerics of `a` and
/// `b`: how the controller names what it creates.
fn controller_name(a: &str, b: &str, hash: Sha256) -> String {
    let hash = hex::encode(hash.finalize());
    let clean = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(8)
            .collect::<String>()
    };
    format!("k8s-{}-{}-{}", clean(a), clean(b), &hash[..10])
}

/// The form parameters of an awsQuery request.
pub(crate) struct Params<'a>(pub &'a [(String, String)]);

impl Params<'_> {
    pub fn get(&self, k: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    pub fn req(&self, k: &str) -> ApiResult<String> {
        self.get(k).filter(|v| !v.is_empty()).ok_or_else(|| {
            let member = format!("{}{}", k[..1].to_ascii_lowercase(), &k[1..]);
            ApiError::bad(
                "ValidationError",
                format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"),
            )
        })
    }

    /// `Prefix.member.N` values in N order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let head = format!("{prefix}.member.");
        let mut items: Vec<(usize, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&head)
                    .and_then(|n| n.parse().ok())
                    .map(|n| (n, v.clone()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `Prefix.member.N.Field` structures in N order, as field maps.
    pub fn structs(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let head = format!("{prefix}.member.");
        let mut out: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in self.0 {
            if let Some(rest) = k.strip_prefix(&head)
                && let Some((n, field)) = rest.split_once('.')
                && let Ok(n) = n.parse::<usize>()
            {
                out.entry(n)
                    .or_default()
                    .insert(field.to_string(), v.clone());
            }
        }
        out.into_values().collect()
    }

    fn int(&self, k: &str) -> ApiResult<Option<i64>> {
        self.get(k)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad(
                        "ValidationError",
                        format!("{k} must be an integer, got '{v}'"),
                    )
                })
            })
            .transpose()
    }
}

/// The operations the sandbox serves (what `--faults` may name).
pub const OPERATIONS: &[&str] = &[
    "CreateLoadBalancer",
    "DeleteLoadBalancer",
    "DescribeLoadBalancers",
    "CreateTargetGroup",
    "DeleteTargetGroup",
    "DescribeTargetGroups",
    "RegisterTargets",
    "DeregisterTargets",
    "DescribeTargetHealth",
    "AddTags",
    "RemoveTags",
    "DescribeTags",
    "CreateListener",
    "DescribeListeners",
    "DeleteListener",
];

/// Serves one ELBv2 awsQuery call and returns the XML body.
pub fn handle(aws: &Aws, region: &str, params: &[(String, String)]) -> ApiResult<String> {
    let p = Params(params);
    let action = p.get("Action").ok_or_else(|| {
        ApiError::bad(
            "MissingAction",
            "The request must contain the parameter Action",
        )
    })?;
    let version = p.get("Version").unwrap_or_default();
    if version != VERSION {
        return Err(ApiError::bad(
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        ));
    }
    if !OPERATIONS.contains(&action.as_str()) {
        return Err(ApiError::bad(
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        ));
    }
    let mutating = !action.starts_with("Describe");
    let result = aws.with_state(region, mutating, |s, ctx| dispatch(&action, &p, s, ctx))?;
    let mut w = Writer::new();
    w.open_ns(&format!("{action}Response"), NAMESPACE);
    w.open(&format!("{action}Result"));
    let mut out = w.finish();
    out.push_str(&result);
    let mut tail = Writer::default();
    tail.close(&format!("{action}Result"))
        .open("ResponseMetadata")
        .leaf("RequestId", ids::uuid())
        .close("ResponseMetadata")
        .close(&format!("{action}Response"));
    out.push_str(&tail.finish());
    Ok(out)
}

fn lb_not_found() -> ApiError {
    ApiError::bad(
        "LoadBalancerNotFound",
        "One or more load balancers not found",
    )
}

fn tg_not_found() -> ApiError {
    ApiError::bad("TargetGroupNotFound", "One or more target groups not found")
}

fn page_size(p: &Params<'_>) -> ApiResult<usize> {
    match p.int("PageSize")? {
        None => Ok(400),
        Some(n) if (1..=400).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::bad(
            "ValidationError",
            format!(
                "1 validation error detected: Value '{n}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 400"
            ),
        )),
    }
}

fn dispatch(action: &str, p: &Params<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<String> {
    let mut w = Writer::default();
    match action {
        "CreateLoadBalancer" => {
            let lb = create_load_balancer(p, s, ctx)?;
            w.open("LoadBalancers");
            write_lb(&mut w, lb, ctx.now);
            w.close("LoadBalancers");
        }
        "DeleteLoadBalancer" => {
            let arn = p.req("LoadBalancerArn")?;
            // Deleting a load balancer that does not exist succeeds, as on AWS.
            s.elbv2.load_balancers.retain(|lb| lb.arn != arn);
            relink_target_groups(s);
        }
        "DescribeLoadBalancers" => {
            let arns = p.list("LoadBalancerArns");
            let names = p.list("Names");
            if !arns.is_empty() && !names.is_empty() {
                return Err(ApiError::bad(
                    "ValidationError",
                    "Load balancer names and load balancer ARNs cannot be specified at the same time",
                ));
            }
            let in_region: Vec<&LoadBalancer> = s
                .elbv2
                .load_balancers
                .iter()
                .filter(|lb| lb.region == ctx.region)
                .collect();
            let selected: Vec<&LoadBalancer> = if !arns.is_empty() {
                pick(&in_region, &arns, |lb| &lb.arn, lb_not_found)?
            } else if !names.is_empty() {
                pick(&in_region, &names, |lb| &lb.name, lb_not_found)?
            } else {
                in_region
            };
            let size = page_size(p)?;
            let (items, next) = page(&selected, p.get("Marker").as_deref(), size)
                .ok_or_else(|| ApiError::bad("ValidationError", "The marker is not valid"))?;
            w.open("LoadBalancers");
            for lb in items {
                write_lb(&mut w, lb, ctx.now);
            }
            w.close("LoadBalancers");
            w.opt_leaf("NextMarker", next);
        }
        "CreateTargetGroup" => {
            let tg = create_target_group(p, s, ctx)?;
            w.open("TargetGroups");
            write_tg(&mut w, tg);
            w.close("TargetGroups");
        }
        "DeleteTargetGroup" => {
            let arn = p.req("TargetGroupArn")?;
            if let Some(tg) = s.elbv2.target_groups.iter().find(|t| t.arn == arn)
                && !tg.load_balancer_arns.is_empty()
            {
                return Err(ApiError::bad(
                    "ResourceInUse",
                    format!("Target group '{arn}' is currently in use by a listener or a rule"),
                ));
            }
            s.elbv2.target_groups.retain(|t| t.arn != arn);
        }
        "DescribeTargetGroups" => {
            let arns = p.list("TargetGroupArns");
            let names = p.list("Names");
            let lb_arn = p.get("LoadBalancerArn");
            let in_region: Vec<&TargetGroup> = s
                .elbv2
                .target_groups
                .iter()
                .filter(|t| t.region == ctx.region)
                .collect();
            let selected: Vec<&TargetGroup> = if let Some(lb) = &lb_arn {
                if !s.elbv2.load_balancers.iter().any(|l| l.arn == *lb) {
                    return Err(lb_not_found());
                }
                in_region
                    .into_iter()
                    .filter(|t| t.load_balancer_arns.contains(lb))
                    .collect()
            } else if !arns.is_empty() {
                pick(&in_region, &arns, |t| &t.arn, tg_not_found)?
            } else if !names.is_empty() {
                pick(&in_region, &names, |t| &t.name, tg_not_found)?
            } else {
                in_region
            };
            let size = page_size(p)?;
            let (items, next) = page(&selected, p.get("Marker").as_deref(), size)
                .ok_or_else(|| ApiError::bad("ValidationError", "The marker is not valid"))?;
            w.open("TargetGroups");
            for tg in items {
                write_tg(&mut w, tg);
            }
            w.close("TargetGroups");
            w.opt_leaf("NextMarker", next);
        }
        "RegisterTargets" | "DeregisterTargets" => {
            let arn = p.req("TargetGroupArn")?;
            let targets = p.structs("Targets");
            if targets.is_empty() {
                p.req("Targets")?;
            }
            let mut parsed = Vec::new();
            for t in &targets {
                let id = t
                    .get("Id")
                    .cloned()
                    .ok_or_else(|| ApiError::bad("ValidationError", "Each target needs an Id"))?;
                let port = match t.get("Port") {
                    Some(v) => Some(
                        v.parse::<i64>()
                            .ok()
                            .filter(|n| (1..=65535).contains(n))
                            .ok_or_else(|| {
                                ApiError::bad(
                                    "InvalidTarget",
                                    format!("The port {v} of target {id} is not valid"),
                                )
                            })?,
                    ),
                    None => None,
                };
                parsed.push((id, port));
            }
            let tg = s
                .elbv2
                .target_groups
                .iter_mut()
                .find(|t| t.arn == arn)
                .ok_or_else(tg_not_found)?;
            for (id, port) in parsed {
                let port = port.or(tg.port);
                let pos = tg.targets.iter().position(|t| t.id == id && t.port == port);
                match (action, pos) {
                    ("RegisterTargets", None) => tg.targets.push(Target {
                        id,
                        port,
                        registered_ms: ctx.now,
                        health: None,
                        draining: false,
                    }),
                    ("DeregisterTargets", Some(i)) => {
                        tg.targets.remove(i);
                    }
                    ("DeregisterTargets", None) => {
                        return Err(ApiError::bad(
                            "InvalidTarget",
                            format!(
                                "The following targets are not registered in target group '{arn}': '{id}'"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        "DescribeTargetHealth" => {
            let arn = p.req("TargetGroupArn")?;
            let tg = s
                .elbv2
                .target_groups
                .iter()
                .find(|t| t.arn == arn)
                .ok_or_else(tg_not_found)?;
            let asked = p.structs("Targets");
            w.open("TargetHealthDescriptions");
            if asked.is_empty() {
                for t in &tg.targets {
                    write_target_health(&mut w, tg, &t.id, t.port, Some(t), ctx);
                }
            } else {
                for a in &asked {
                    let id = a.get("Id").cloned().unwrap_or_default();
                    let port = a.get("Port").and_then(|v| v.parse().ok()).or(tg.port);
                    let found = tg.targets.iter().find(|t| t.id == id && t.port == port);
                    write_target_health(&mut w, tg, &id, port, found, ctx);
                }
            }
            w.close("TargetHealthDescriptions");
        }
        "AddTags" | "RemoveTags" => {
            let arns = p.list("ResourceArns");
            if arns.is_empty() {
                p.req("ResourceArns")?;
            }
            let tags = p.structs("Tags");
            let keys = p.list("TagKeys");
            for arn in &arns {
                let map = tags_of(s, arn)?;
                if action == "AddTags" {
                    for t in &tags {
                        let key = t.get("Key").cloned().ok_or_else(|| {
                            ApiError::bad("ValidationError", "Each tag needs a Key")
                        })?;
                        map.insert(key, t.get("Value").cloned().unwrap_or_default());
                    }
                    if map.len() > 50 {
                        return Err(ApiError::bad(
                            "TooManyTags",
                            "The quota for the number of tags that can be assigned to a load balancer has been reached",
                        ));
                    }
                } else {
                    for k in &keys {
                        map.remove(k);
                    }
                }
            }
        }
        "CreateListener" => {
            let l = create_listener(p, s, ctx)?;
            w.open("Listeners");
            write_listener(&mut w, &l);
            w.close("Listeners");
        }
        "DescribeListeners" => {
            let lb_arn = p.get("LoadBalancerArn");
            let arns = p.list("ListenerArns");
            let listeners: Vec<(String, ElbListener)> = match &lb_arn {
                Some(a) => {
                    let lb = s
                        .elbv2
                        .load_balancers
                        .iter()
                        .find(|lb| lb.arn == *a)
                        .ok_or_else(lb_not_found)?;
                    lb.listeners
                        .iter()
                        .map(|l| (lb.arn.clone(), l.clone()))
                        .collect()
                }
                None if !arns.is_empty() => arns
                    .iter()
                    .map(|a| find_listener(s, a).map(|(lb, l)| (lb.arn.clone(), l.clone())))
                    .collect::<ApiResult<_>>()?,
                None => {
                    return Err(ApiError::bad(
                        "ValidationError",
                        "You must specify either listener ARNs or a load balancer ARN",
                    ));
                }
            };
            let size = page_size(p)?;
            let (items, next) = page(&listeners, p.get("Marker").as_deref(), size)
                .ok_or_else(|| ApiError::bad("ValidationError", "The marker is not valid"))?;
            w.open("Listeners");
            for (lb_arn, l) in &items {
                write_listener_of(&mut w, lb_arn, l);
            }
            w.close("Listeners");
            w.opt_leaf("NextMarker", next);
        }
        "DeleteListener" => {
            let arn = p.req("ListenerArn")?;
            let lb_arn = find_listener(s, &arn)?.0.arn.clone();
            let lb = s
                .elbv2
                .load_balancers
                .iter_mut()
                .find(|lb| lb.arn == lb_arn)
                .expect("found above");
            lb.listeners.retain(|l| l.arn != arn);
            relink_target_groups(s);
        }
        "DescribeTags" => {
            let arns = p.list("ResourceArns");
            if arns.is_empty() {
                p.req("ResourceArns")?;
            }
            w.open("TagDescriptions");
            for arn in &arns {
                let tags = tags_of(s, arn)?.clone();
                w.open("member").leaf("ResourceArn", arn).open("Tags");
                for (k, v) in &tags {
                    w.open("member")
                        .leaf("Key", k)
                        .leaf("Value", v)
                        .close("member");
                }
                w.close("Tags").close("member");
            }
            w.close("TagDescriptions");
        }
        _ => {
            return Err(ApiError::bad(
                "InvalidAction",
                format!("Could not find operation {action} for version {VERSION}"),
            ));
        }
    }
    Ok(w.finish())
}

fn listener_not_found() -> ApiError {
    ApiError::bad("ListenerNotFound", "One or more listeners not found")
}

fn find_listener<'a>(s: &'a AwsState, arn: &str) -> ApiResult<(&'a LoadBalancer, &'a ElbListener)> {
    s.elbv2
        .load_balancers
        .iter()
        .find_map(|lb| lb.listeners.iter().find(|l| l.arn == arn).map(|l| (lb, l)))
        .ok_or_else(listener_not_found)
}

/// A target group's `LoadBalancerArns` are the load balancers whose listeners forward to it.
fn relink_target_groups(s: &mut AwsState) {
    for tg in &mut s.elbv2.target_groups {
        tg.load_balancer_arns = s
            .elbv2
            .load_balancers
            .iter()
            .filter(|lb| {
                lb.listeners
                    .iter()
                    .flat_map(|l| &l.default_actions)
                    .any(|a| a.target_group_arn.as_deref() == Some(tg.arn.as_str()))
            })
            .map(|lb| lb.arn.clone())
            .collect();
    }
}

fn create_listener(p: &Params<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<ElbListener> {
    let lb_arn = p.req("LoadBalancerArn")?;
    let Some(port) = p.int("Port")? else {
        return Err(ApiError::bad(
            "ValidationError",
            "1 validation error detected: Value null at 'port' failed to satisfy constraint: Member must not be null",
        ));
    };
    if !(1..=65535).contains(&port) {
        return Err(ApiError::bad(
            "ValidationError",
            format!("Port {port} is not between 1 and 65535"),
        ));
    }
    let protocol = p.get("Protocol").unwrap_or_else(|| "HTTP".into());
    if !["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"].contains(&protocol.as_str()) {
        return Err(ApiError::bad(
            "ValidationError",
            format!("Protocol '{protocol}' is not valid"),
        ));
    }
    let mut actions = Vec::new();
    for a in p.structs("DefaultActions") {
        let action_type = a
            .get("Type")
            .cloned()
            .ok_or_else(|| ApiError::bad("ValidationError", "Each default action needs a Type"))?;
        let target_group_arn = a
            .get("TargetGroupArn")
            .or_else(|| a.get("ForwardConfig.TargetGroups.member.1.TargetGroupArn"))
            .cloned();
        match action_type.as_str() {
            "forward" => {
                let tg = target_group_arn.as_deref().ok_or_else(|| {
                    ApiError::bad("ValidationError", "A forward action needs a TargetGroupArn")
                })?;
                if !s.elbv2.target_groups.iter().any(|t| t.arn == tg) {
                    return Err(tg_not_found());
                }
            }
            "fixed-response" | "redirect" => {}
            other => {
                return Err(ApiError::bad(
                    "ValidationError",
                    format!("Action type '{other}' is not supported"),
                ));
            }
        }
        actions.push(ElbAction {
            action_type,
            target_group_arn,
            status_code: a.get("FixedResponseConfig.StatusCode").cloned(),
            content_type: a.get("FixedResponseConfig.ContentType").cloned(),
            message_body: a.get("FixedResponseConfig.MessageBody").cloned(),
        });
    }
    if actions.is_empty() {
        return Err(ApiError::bad(
            "ValidationError",
            "1 validation error detected: Value null at 'defaultActions' failed to satisfy constraint: Member must not be null",
        ));
    }
    let lb = s
        .elbv2
        .load_balancers
        .iter_mut()
        .find(|lb| lb.arn == lb_arn)
        .ok_or_else(lb_not_found)?;
    if let Some(l) = lb.listeners.iter().find(|l| l.port == port) {
        if l.protocol == protocol && l.default_actions == actions {
            return Ok(l.clone());
        }
        return Err(ApiError::bad(
            "DuplicateListener",
            "A listener already exists on this port for this load balancer",
        ));
    }
    let suffix = lb
        .arn
        .split_once(":loadbalancer/")
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    let l = ElbListener {
        arn: format!(
            "arn:aws:elasticloadbalancing:{}:{}:listener/{suffix}/{}",
            lb.region,
            ctx.account,
            ids::hex(16)
        ),
        port,
        protocol,
        default_actions: actions,
    };
    lb.listeners.push(l.clone());
    relink_target_groups(s);
    Ok(l)
}

fn write_listener(w: &mut Writer, l: &ElbListener) {
    let lb_arn = l.arn.replace(":listener/", ":loadbalancer/");
    let lb_arn = lb_arn
        .rsplit_once('/')
        .map(|(a, _)| a.to_string())
        .unwrap_or_default();
    write_listener_of(w, &lb_arn, l);
}

fn write_listener_of(w: &mut Writer, lb_arn: &str, l: &ElbListener) {
    w.open("member")
        .leaf("ListenerArn", &l.arn)
        .leaf("LoadBalancerArn", lb_arn)
        .leaf("Port", l.port)
        .leaf("Protocol", &l.protocol)
        .open("DefaultActions");
    for (i, a) in l.default_actions.iter().enumerate() {
        w.open("member")
            .leaf("Type", &a.action_type)
            .leaf("Order", i + 1)
            .opt_leaf("TargetGroupArn", a.target_group_arn.as_deref());
        if a.action_type == "fixed-response" {
            w.open("FixedResponseConfig")
                .opt_leaf("StatusCode", a.status_code.as_deref())
                .opt_leaf("ContentType", a.content_type.as_deref())
                .opt_leaf("MessageBody", a.message_body.as_deref())
                .close("FixedResponseConfig");
        }
        w.close("member");
    }
    w.close("DefaultActions").close("member");
}

fn tags_of<'a>(s: &'a mut AwsState, arn: &str) -> ApiResult<&'a mut BTreeMap<String, String>> {
    if arn.contains(":targetgroup/") {
        return s
            .elbv2
            .target_groups
            .iter_mut()
            .find(|t| t.arn == arn)
            .map(|t| &mut t.tags)
            .ok_or_else(tg_not_found);
    }
    s.elbv2
        .load_balancers
        .iter_mut()
        .find(|l| l.arn == arn)
        .map(|l| &mut l.tags)
        .ok_or_else(lb_not_found)
}

fn write_target_health(
    w: &mut Writer,
    tg: &TargetGroup,
    id: &str,
    port: Option<i64>,
    t: Option<&Target>,
    ctx: &Ctx<'_>,
) {
    let (state, reason, description) = match t {
        None => (
            "unused",
            Some("Target.NotRegistered"),
            Some("Target is not registered to the target group"),
        ),
        Some(_) if tg.load_balancer_arns.is_empty() => (
            "unused",
            Some("Target.NotInUse"),
            Some("Target group is not configured to receive traffic from the load balancer"),
        ),
        Some(t) => match t.health.as_deref() {
            h if t.draining && h != Some("unhealthy") => (
                "draining",
                Some("Target.DeregistrationInProgress"),
                Some("Target deregistration is in progress"),
            ),
            Some("initial") => (
                "initial",
                Some("Elb.InitialHealthChecking"),
                Some("Initial health checks in progress"),
            ),
            Some("healthy") => ("healthy", None, None),
            Some("unhealthy") => (
                "unhealthy",
                Some("Target.FailedHealthChecks"),
                Some("Health checks failed"),
            ),
            Some(_) | None if ctx.now < t.registered_ms + ctx.delay => (
                "initial",
                Some("Elb.RegistrationInProgress"),
                Some("Target registration is in progress"),
            ),
            _ => ("healthy", None, None),
        },
    };
    w.open("member")
        .open("Target")
        .leaf("Id", id)
        .opt_leaf("Port", port)
        .close("Target");
    w.leaf(
        "HealthCheckPort",
        if tg.health_check_port == "traffic-port" {
            port.map(|p| p.to_string()).unwrap_or_default()
        } else {
            tg.health_check_port.clone()
        },
    );
    w.open("TargetHealth")
        .leaf("State", state)
        .opt_leaf("Reason", reason)
        .opt_leaf("Description", description)
        .close("TargetHealth");
    w.close("member");
}

fn write_lb(w: &mut Writer, lb: &LoadBalancer, now: u64) {
    w.open("member")
        .leaf("LoadBalancerArn", &lb.arn)
        .leaf("DNSName", &lb.dns_name)
        .leaf("CanonicalHostedZoneId", canonical_zone(&lb.region))
        .leaf("CreatedTime", ids::iso8601(lb.created_ms))
        .leaf("LoadBalancerName", &lb.name)
        .leaf("Scheme", &lb.scheme)
        .leaf("VpcId", &lb.vpc_id)
        .open("State")
        .leaf("Code", lb.state(now))
        .close("State")
        .leaf("Type", &lb.lb_type)
        .open("AvailabilityZones");
    for (i, subnet) in lb.subnets.iter().enumerate() {
        let zone = format!("{}{}", lb.region, (b'a' + (i % 6) as u8) as char);
        w.open("member")
            .leaf("ZoneName", zone)
            .leaf("SubnetId", subnet)
            .close("member");
    }
    w.close("AvailabilityZones").open("SecurityGroups");
    for sg in &lb.security_groups {
        w.leaf("member", sg);
    }
    w.close("SecurityGroups")
        .leaf("IpAddressType", &lb.ip_address_type)
        .close("member");
}

fn write_tg(w: &mut Writer, tg: &TargetGroup) {
    w.open("member")
        .leaf("TargetGroupArn", &tg.arn)
        .leaf("TargetGroupName", &tg.name)
        .opt_leaf("Protocol", tg.protocol.as_deref())
        .opt_leaf("Port", tg.port)
        .opt_leaf("VpcId", tg.vpc_id.as_deref())
        .opt_leaf("HealthCheckProtocol", tg.health_check_protocol.as_deref())
        .leaf("HealthCheckPort", &tg.health_check_port)
        .leaf("HealthCheckEnabled", tg.health_check_enabled)
        .leaf("HealthCheckIntervalSeconds", tg.health_check_interval)
        .leaf("HealthCheckTimeoutSeconds", tg.health_check_timeout)
        .leaf("HealthyThresholdCount", tg.healthy_threshold)
        .leaf("UnhealthyThresholdCount", tg.unhealthy_threshold)
        .opt_leaf("HealthCheckPath", tg.health_check_path.as_deref());
    if let Some(m) = &tg.matcher {
        w.open("Matcher").leaf("HttpCode", m).close("Matcher");
    }
    w.open("LoadBalancerArns");
    for a in &tg.load_balancer_arns {
        w.leaf("member", a);
    }
    w.close("LoadBalancerArns")
        .leaf("TargetType", &tg.target_type);
    if tg
        .protocol
        .as_deref()
        .is_some_and(|p| p == "HTTP" || p == "HTTPS")
    {
        w.leaf("ProtocolVersion", "HTTP1");
    }
    w.leaf("IpAddressType", "ipv4").close("member");
}

fn validate_lb_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.starts_with("internal-");
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(
            "ValidationError",
            format!(
                "The load balancer name '{name}' is not valid: at most 32 alphanumerics or hyphens, not beginning or ending with a hyphen, not beginning with 'internal-'"
            ),
        ))
    }
}

/// Builds a load balancer record the way AWS names it.
fn new_lb(name: &str, region: &str, scheme: &str, ctx: &Ctx<'_>) -> LoadBalancer {
    let prefix = if scheme == "internal" {
        "internal-"
    } else {
        ""
    };
    LoadBalancer {
        arn: format!(
            "arn:aws:elasticloadbalancing:{region}:{}:loadbalancer/app/{name}/{}",
            ctx.account,
            ids::hex(16)
        ),
        name: name.to_string(),
        region: region.to_string(),
        dns_name: format!(
            "{prefix}{name}-{}.{region}.elb.amazonaws.com",
            ids::decimal(9)
        ),
        scheme: scheme.to_string(),
        lb_type: "application".into(),
        ip_address_type: "ipv4".into(),
        vpc_id: format!(
            "vpc-{}",
            &hex::encode(Sha256::digest(region.as_bytes()))[..17]
        ),
        subnets: Vec::new(),
        security_groups: Vec::new(),
        created_ms: ctx.now,
        active_at_ms: ctx.ready_at(),
        tags: BTreeMap::new(),
        owner: None,
        listen: None,
        listeners: Vec::new(),
    }
}

fn create_load_balancer<'a>(
    p: &Params<'_>,
    s: &'a mut AwsState,
    ctx: &Ctx<'_>,
) -> ApiResult<&'a LoadBalancer> {
    let name = p.req("Name")?;
    validate_lb_name(&name)?;
    let scheme = p.get("Scheme").unwrap_or_else(|| "internet-facing".into());
    if scheme != "internet-facing" && scheme != "internal" {
        return Err(ApiError::bad(
            "ValidationError",
            format!("Scheme '{scheme}' is not valid"),
        ));
    }
    let lb_type = p.get("Type").unwrap_or_else(|| "application".into());
    if !["application", "network", "gateway"].contains(&lb_type.as_str()) {
        return Err(ApiError::bad(
            "ValidationError",
            format!("Type '{lb_type}' is not valid"),
        ));
    }
    let mut subnets = p.list("Subnets");
    subnets.extend(
        p.structs("SubnetMappings")
            .into_iter()
            .filter_map(|m| m.get("SubnetId").cloned()),
    );
    if lb_type == "application" && subnets.len() < 2 {
        return Err(ApiError::bad(
            "ValidationError",
            "At least two subnets in two different Availability Zones must be specified",
        ));
    }
    let tags: BTreeMap<String, String> = p
        .structs("Tags")
        .into_iter()
        .filter_map(|t| {
            Some((
                t.get("Key")?.clone(),
                t.get("Value").cloned().unwrap_or_default(),
            ))
        })
        .collect();
    if let Some(i) = s
        .elbv2
        .load_balancers
        .iter()
        .position(|lb| lb.name == name && lb.region == ctx.region)
    {
        // CreateLoadBalancer is idempotent for the same name and settings.
        let lb = &s.elbv2.load_balancers[i];
        if lb.scheme != scheme || lb.lb_type != lb_type {
            return Err(ApiError::bad(
                "DuplicateLoadBalancerName",
                "A load balancer with the same name exists, but with different settings",
            ));
        }
        return Ok(&s.elbv2.load_balancers[i]);
    }
    let mut lb = new_lb(&name, &ctx.region, &scheme, ctx);
    if lb_type == "network" {
        lb.arn = lb.arn.replace(":loadbalancer/app/", ":loadbalancer/net/");
    }
    lb.lb_type = lb_type;
    lb.subnets = subnets;
    lb.security_groups = p.list("SecurityGroups");
    lb.ip_address_type = p.get("IpAddressType").unwrap_or_else(|| "ipv4".into());
    lb.tags = tags;
    s.elbv2.load_balancers.push(lb);
    Ok(s.elbv2.load_balancers.last().expect("just pushed"))
}

fn create_target_group<'a>(
    p: &Params<'_>,
    s: &'a mut AwsState,
    ctx: &Ctx<'_>,
) -> ApiResult<&'a TargetGroup> {
    let name = p.req("Name")?;
    if name.is_empty()
        || name.len() > 32
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || name.starts_with('-')
        || name.ends_with('-')
    {
        return Err(ApiError::bad(
            "ValidationError",
            format!(
                "Target group name '{name}' is not valid: at most 32 alphanumerics or hyphens, not beginning or ending with a hyphen"
            ),
        ));
    }
    let target_type = p.get("TargetType").unwrap_or_else(|| "instance".into());
    if !["instance", "ip", "lambda", "alb"].contains(&target_type.as_str()) {
        return Err(ApiError::bad(
            "ValidationError",
            format!("Target type '{target_type}' is not valid"),
        ));
    }
    let protocol = p.get("Protocol");
    let port = p.int("Port")?;
    if target_type != "lambda" && (protocol.is_none() || port.is_none() || p.get("VpcId").is_none())
    {
        return Err(ApiError::bad(
            "ValidationError",
            "A protocol, a port and a VPC ID must be specified for target groups whose target type is not lambda",
        ));
    }
    if let Some(n) = port
        && !(1..=65535).contains(&n)
    {
        return Err(ApiError::bad(
            "ValidationError",
            format!("Port {n} is not between 1 and 65535"),
        ));
    }
    let http = protocol
        .as_deref()
        .is_some_and(|p| p == "HTTP" || p == "HTTPS");
    let hc_protocol = p.get("HealthCheckProtocol").or_else(|| protocol.clone());
    let hc_http = hc_protocol
        .as_deref()
        .is_some_and(|p| p == "HTTP" || p == "HTTPS");
    let tags: BTreeMap<String, String> = p
        .structs("Tags")
        .into_iter()
        .filter_map(|t| {
            Some((
                t.get("Key")?.clone(),
                t.get("Value").cloned().unwrap_or_default(),
            ))
        })
        .collect();
    let tg = TargetGroup {
        arn: format!(
            "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{name}/{}",
            ctx.region,
            ctx.account,
            ids::hex(16)
        ),
        name: name.clone(),
        region: ctx.region.clone(),
        protocol,
        port,
        vpc_id: p.get("VpcId"),
        target_type,
        health_check_protocol: hc_protocol,
        health_check_port: p
            .get("HealthCheckPort")
            .unwrap_or_else(|| "traffic-port".into()),
        health_check_path: p
            .get("HealthCheckPath")
            .or_else(|| hc_http.then(|| "/".into())),
        health_check_enabled: p.get("HealthCheckEnabled").is_none_or(|v| v == "true"),
        health_check_interval: p.int("HealthCheckIntervalSeconds")?.unwrap_or(30),
        health_check_timeout: p.int("HealthCheckTimeoutSeconds")?.unwrap_or(if http {
            5
        } else {
            10
        }),
        healthy_threshold: p.int("HealthyThresholdCount")?.unwrap_or(5),
        unhealthy_threshold: p.int("UnhealthyThresholdCount")?.unwrap_or(2),
        matcher: p
            .get("Matcher.HttpCode")
            .or_else(|| hc_http.then(|| "200".into())),
        load_balancer_arns: Vec::new(),
        targets: Vec::new(),
        tags,
    };
    if let Some(i) = s
        .elbv2
        .target_groups
        .iter()
        .position(|t| t.name == name && t.region == ctx.region)
    {
        let old = &s.elbv2.target_groups[i];
        if old.protocol != tg.protocol
            || old.port != tg.port
            || old.vpc_id != tg.vpc_id
            || old.target_type != tg.target_type
        {
            return Err(ApiError::bad(
                "DuplicateTargetGroupName",
                "A target group with the same name exists, but with different settings",
            ));
        }
        return Ok(&s.elbv2.target_groups[i]);
    }
    s.elbv2.target_groups.push(tg);
    Ok(s.elbv2.target_groups.last().expect("just pushed"))
}

impl LoadBalancers for Aws {
    fn ensure_ingress_alb(&self, req: &AlbRequest) -> anyhow::Result<AlbInfo> {
        let owner = IngressOwner {
            cluster: req.cluster.clone(),
            namespace: req.namespace.clone(),
            ingress: req.ingress.clone(),
        };
        let scheme = if req.scheme == "internal" {
            "internal"
        } else {
            "internet-facing"
        };
        let info = |lb: &LoadBalancer| AlbInfo {
            arn: lb.arn.clone(),
            dns_name: lb.dns_name.clone(),
            name: lb.name.clone(),
        };
        self.with_state(&req.region, true, |s, ctx| {
            if let Some(lb) = s
                .elbv2
                .load_balancers
                .iter_mut()
                .find(|lb| lb.owner.as_ref() == Some(&owner))
            {
                // Tags follow the Ingress, as the controller reconciles them.
                for (k, v) in &req.tags {
                    lb.tags.insert(k.clone(), v.clone());
                }
                return Ok(info(lb));
            }
            let name = controller_alb_name(&req.cluster, &req.namespace, &req.ingress, scheme);
            let mut lb = new_lb(&name, &req.region, scheme, ctx);
            lb.subnets = (0..2)
                .map(|i| {
                    format!(
                        "subnet-{}",
                        &hex::encode(Sha256::digest(format!("{}{i}", req.region)))[..17]
                    )
                })
                .collect();
            lb.security_groups = vec![format!(
                "sg-{}",
                &hex::encode(Sha256::digest(name.as_bytes()))[..17]
            )];
            lb.tags = req.tags.clone();
            lb.tags
                .insert("elbv2.k8s.aws/cluster".into(), req.cluster.clone());
            lb.tags.insert(
                "ingress.k8s.aws/stack".into(),
                format!("{}/{}", req.namespace, req.ingress),
            );
            lb.tags
                .insert("ingress.k8s.aws/resource".into(), "LoadBalancer".into());
            lb.owner = Some(owner.clone());
            let out = info(&lb);
            s.elbv2.load_balancers.push(lb);
            Ok(out)
        })
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    }

    fn ensure_ingress_backend(&self, req: &AlbRequest, backend: &AlbBackend) -> anyhow::Result<()> {
        // Look first without writing: most passes change nothing.
        let changed = self
            .with_state(&req.region, false, |s, ctx| {
                let mut copy = s.elbv2.clone();
                Ok(apply_backend(&mut copy, req, backend, ctx))
            })
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        if changed {
            self.with_state(&req.region, true, |s, ctx| {
                apply_backend(&mut s.elbv2, req, backend, ctx);
                Ok(())
            })
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        }
        Ok(())
    }

    fn delete_ingress_alb(
        &self,
        cluster: &str,
        namespace: &str,
        ingress: &str,
    ) -> anyhow::Result<()> {
        let owner = IngressOwner {
            cluster: cluster.into(),
            namespace: namespace.into(),
            ingress: ingress.into(),
        };
        self.with_state("", true, |s, _| {
            let gone: Vec<String> = s
                .elbv2
                .load_balancers
                .iter()
                .filter(|lb| lb.owner.as_ref() == Some(&owner))
                .map(|lb| lb.arn.clone())
                .collect();
            s.elbv2
                .load_balancers
                .retain(|lb| lb.owner.as_ref() != Some(&owner));
            // The controller's target groups of this Ingress go with it.
            let stack = format!("{namespace}/{ingress}");
            s.elbv2.target_groups.retain(|tg| {
                !(tg.tags.get("elbv2.k8s.aws/cluster").map(String::as_str) == Some(cluster)
                    && tg.tags.get("ingress.k8s.aws/stack") == Some(&stack)
                    && tg.load_balancer_arns.iter().all(|a| gone.contains(a)))
            });
            for tg in &mut s.elbv2.target_groups {
                tg.load_balancer_arns.retain(|a| !gone.contains(a));
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    }
}

/// The name the controller gives a Service's target group: `k8s-<ns[:8]>-<svc[:8]>-<10 hex>`,
/// the hash over cluster, stack, Service, port, protocol and target type.
pub fn controller_tg_name(
    cluster: &str,
    stack: &str,
    namespace: &str,
    service: &str,
    port: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [cluster, stack, namespace, service, port, "HTTP", "ip"] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    controller_name(namespace, service, h)
}

/// Makes the Ingress's target group, listener and targets what the controller wants;
/// true when anything changed.
fn apply_backend(
    s: &mut Elbv2State,
    req: &AlbRequest,
    backend: &AlbBackend,
    ctx: &Ctx<'_>,
) -> bool {
    let owner = IngressOwner {
        cluster: req.cluster.clone(),
        namespace: req.namespace.clone(),
        ingress: req.ingress.clone(),
    };
    let Some(lb) = s
        .load_balancers
        .iter()
        .find(|lb| lb.owner.as_ref() == Some(&owner))
    else {
        return false;
    };
    let lb_arn = lb.arn.clone();
    let vpc = lb.vpc_id.clone();
    let stack = req
        .tags
        .get("ingress.k8s.aws/stack")
        .cloned()
        .unwrap_or_else(|| format!("{}/{}", req.namespace, req.ingress));
    let name = controller_tg_name(
        &req.cluster,
        &stack,
        &req.namespace,
        &backend.service,
        &backend.service_port,
    );
    let mut changed = false;
    let tg_arn = match s
        .target_groups
        .iter()
        .position(|t| t.name == name && t.region == req.region)
    {
        Some(i) => s.target_groups[i].arn.clone(),
        None => {
            let arn = format!(
                "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{name}/{}",
                req.region,
                ctx.account,
                &hex::encode(Sha256::digest(format!("{lb_arn}{name}").as_bytes()))[..16]
            );
            let mut tags = BTreeMap::new();
            tags.insert("elbv2.k8s.aws/cluster".to_string(), req.cluster.clone());
            tags.insert("ingress.k8s.aws/stack".to_string(), stack.clone());
            tags.insert(
                "ingress.k8s.aws/resource".to_string(),
                format!(
                    "{}/{}-{}:{}",
                    req.namespace, req.ingress, backend.service, backend.service_port
                ),
            );
            s.target_groups.push(TargetGroup {
                arn: arn.clone(),
                name: name.clone(),
                region: req.region.clone(),
                protocol: Some("HTTP".into()),
                port: Some(backend.target_port),
                vpc_id: Some(vpc),
                target_type: "ip".into(),
                health_check_protocol: Some("HTTP".into()),
                health_check_port: "traffic-port".into(),
                health_check_path: None,
                health_check_enabled: true,
                health_check_interval: 0,
                health_check_timeout: 0,
                healthy_threshold: 0,
                unhealthy_threshold: 0,
                matcher: None,
                load_balancer_arns: Vec::new(),
                targets: Vec::new(),
                tags,
            });
            changed = true;
            arn
        }
    };
    let tg = s
        .target_groups
        .iter_mut()
        .find(|t| t.arn == tg_arn)
        .expect("found or pushed");
    let set = |changed: &mut bool, field: &mut i64, v: i64| {
        if *field != v {
            *field = v;
            *changed = true;
        }
    };
    set(
        &mut changed,
        &mut tg.health_check_interval,
        backend.health_check_interval,
    );
    set(
        &mut changed,
        &mut tg.health_check_timeout,
        backend.health_check_timeout,
    );
    set(
        &mut changed,
        &mut tg.healthy_threshold,
        backend.healthy_threshold,
    );
    set(
        &mut changed,
        &mut tg.unhealthy_threshold,
        backend.unhealthy_threshold,
    );
    if tg.port != Some(backend.target_port) {
        tg.port = Some(backend.target_port);
        changed = true;
    }
    if tg.health_check_path.as_deref() != Some(backend.health_check_path.as_str()) {
        tg.health_check_path = Some(backend.health_check_path.clone());
        changed = true;
    }
    if tg.matcher.as_deref() != Some(backend.matcher.as_str()) {
        tg.matcher = Some(backend.matcher.clone());
        changed = true;
    }
    if !tg.load_balancer_arns.contains(&lb_arn) {
        tg.load_balancer_arns.push(lb_arn.clone());
        changed = true;
    }
    // Targets: the ready endpoints; the others drain until their checks fail.
    // Removing them (once unhealthy, after the deregistration delay) is the data plane's.
    for t in &mut tg.targets {
        let wanted = backend
            .targets
            .iter()
            .any(|(ip, p)| *ip == t.id && Some(*p) == t.port);
        if t.draining == wanted {
            t.draining = !wanted;
            changed = true;
        }
    }
    for (ip, port) in &backend.targets {
        if !tg
            .targets
            .iter()
            .any(|t| t.id == *ip && t.port == Some(*port))
        {
            tg.targets.push(Target {
                id: ip.clone(),
                port: Some(*port),
                registered_ms: ctx.now,
                health: None,
                draining: false,
            });
            changed = true;
        }
    }
    // The HTTP:80 listener forwarding to the group.
    let lb = s
        .load_balancers
        .iter_mut()
        .find(|l| l.arn == lb_arn)
        .expect("found above");
    let forward = vec![ElbAction {
        action_type: "forward".into(),
        target_group_arn: Some(tg_arn.clone()),
        status_code: None,
        content_type: None,
        message_body: None,
    }];
    match lb.listeners.iter_mut().find(|l| l.port == 80) {
        Some(l) if l.default_actions == forward => {}
        Some(l) => {
            l.default_actions = forward;
            changed = true;
        }
        None => {
            let arn = format!(
                "arn:aws:elasticloadbalancing:{}:{}:listener/app/{}/{}/{}",
                req.region,
                ctx.account,
                lb.name,
                lb.arn.rsplit('/').next().unwrap_or(""),
                &hex::encode(Sha256::digest(format!("{}:80", lb.arn).as_bytes()))[..16]
            );
            lb.listeners.push(ElbListener {
                arn,
                port: 80,
                protocol: "HTTP".into(),
                default_actions: forward,
            });
            changed = true;
        }
    }
    changed
}

/// The items named in `wanted` (by ARN or name), in the order asked for; any name
/// that matches nothing is the API's not-found error, as AWS answers.
fn pick<'a, T>(
    items: &[&'a T],
    wanted: &[String],
    key: impl Fn(&T) -> &String,
    not_found: impl Fn() -> ApiError,
) -> ApiResult<Vec<&'a T>> {
    wanted
        .iter()
        .map(|w| {
            items
                .iter()
                .copied()
                .find(|i| key(i) == w)
                .ok_or_else(&not_found)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_albs_like_the_controller() {
        let name = controller_alb_name("primary", "default", "py-az-ingress", "internet-facing");
        assert!(name.starts_with("k8s-default-pyazingr-"), "{name}");
        assert_eq!(name.len(), "k8s-default-pyazingr-".len() + 10);
        assert!(name.len() <= 32);
    }
}
