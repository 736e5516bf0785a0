//! AWS Global Accelerator (awsJson1_1, `GlobalAccelerator_V20180706.<Op>`): accelerators,
//! listeners, endpoint groups and endpoints, with AWS's lifecycle rules (disable before
//! delete, no delete with children), IN_PROGRESS -> DEPLOYED after the transition delay,
//! two static IPv4 addresses and an `a<16 hex>.awsglobalaccelerator.com` name each.
//!
//! The data plane (a later issue) will listen on each accelerator's `ips` (loopback
//! addresses, so they can really be bound) and fill `Endpoint::health`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Aws, AwsState, Ctx, ids, page};

/// The target prefix of every operation.
pub const TARGET_PREFIX: &str = "GlobalAccelerator_V20180706.";
const MAX_ACCELERATORS: usize = 20;
const MAX_LISTENERS: usize = 10;
const MAX_ENDPOINTS: usize = 10;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct GaState {
    pub accelerators: Vec<Accelerator>,
    /// How many static address pairs have been handed out (they are never reused).
    #[serde(default)]
    pub ip_pairs_allocated: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accelerator {
    pub arn: String,
    pub name: String,
    pub ip_address_type: String,
    pub enabled: bool,
    /// The two static IPv4 addresses (loopback, from the sandbox's `NetBlock`, bound by
    /// the data plane's accelerator part).
    pub ips: Vec<String>,
    #[serde(default)]
    pub ipv6: Vec<String>,
    /// `a` + 16 hex; the DNS name is `<prefix>.awsglobalaccelerator.com`.
    pub dns_prefix: String,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// Status is IN_PROGRESS until this instant, DEPLOYED after.
    pub ready_at_ms: u64,
    pub idempotency_token: Option<String>,
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub flow_logs: FlowLogs,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FlowLogs {
    pub enabled: bool,
    pub s3_bucket: Option<String>,
    pub s3_prefix: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortRange {
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub port_ranges: Vec<PortRange>,
    pub protocol: String,
    pub client_affinity: String,
    pub idempotency_token: Option<String>,
    pub endpoint_groups: Vec<EndpointGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortOverride {
    pub listener_port: i64,
    pub endpoint_port: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointGroup {
    pub arn: String,
    pub region: String,
    pub endpoints: Vec<Endpoint>,
    pub traffic_dial: f64,
    pub health_check_port: i64,
    pub health_check_protocol: String,
    pub health_check_path: String,
    pub health_check_interval: i64,
    pub threshold_count: i64,
    pub port_overrides: Vec<PortOverride>,
    pub idempotency_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub weight: i64,
    pub client_ip_preservation: bool,
    pub added_ms: u64,
    /// Set by the data plane's health checks; until then an endpoint reads INITIAL and
    /// then HEALTHY once the transition delay has passed.
    #[serde(default)]
    pub health: Option<String>,
}

impl Accelerator {
    pub fn dns_name(&self) -> String {
        format!("{}.awsglobalaccelerator.com", self.dns_prefix)
    }

    fn status(&self, now: u64) -> &'static str {
        if now >= self.ready_at_ms {
            "DEPLOYED"
        } else {
            "IN_PROGRESS"
        }
    }

    /// Any change to the accelerator or its children redeploys it.
    fn touch(&mut self, ctx: &Ctx<'_>) {
        self.modified_ms = ctx.now;
        self.ready_at_ms = ctx.ready_at();
    }

    fn to_json(&self, now: u64) -> Value {
        let mut ip_sets =
            vec![json!({"IpFamily": "IPv4", "IpAddresses": self.ips, "IpAddressFamily": "IPv4"})];
        let mut v = json!({
            "AcceleratorArn": self.arn,
            "Name": self.name,
            "IpAddressType": self.ip_address_type,
            "Enabled": self.enabled,
            "DnsName": self.dns_name(),
            "Status": self.status(now),
            "CreatedTime": ids::epoch_seconds(self.created_ms),
            "LastModifiedTime": ids::epoch_seconds(self.modified_ms),
            "Events": [],
        });
        if self.ip_address_type == "DUAL_STACK" {
            ip_sets.push(
                json!({"IpFamily": "IPv6", "IpAddresses": self.ipv6, "IpAddressFamily": "IPv6"}),
            );
            v["DualStackDnsName"] = json!(format!(
                "{}.dualstack.awsglobalaccelerator.com",
                self.dns_prefix
            ));
        }
        v["IpSets"] = json!(ip_sets);
        v
    }
}

impl Listener {
    fn to_json(&self) -> Value {
        json!({
            "ListenerArn": self.arn,
            "PortRanges": self.port_ranges.iter().map(|p| json!({"FromPort": p.from, "ToPort": p.to})).collect::<Vec<_>>(),
            "Protocol": self.protocol,
            "ClientAffinity": self.client_affinity,
        })
    }
}

impl EndpointGroup {
    fn to_json(&self, now: u64, delay: u64) -> Value {
        let mut v = json!({
            "EndpointGroupArn": self.arn,
            "EndpointGroupRegion": self.region,
            "EndpointDescriptions": self.endpoints.iter().map(|e| e.to_json(now, delay)).collect::<Vec<_>>(),
            "TrafficDialPercentage": self.traffic_dial,
            "HealthCheckPort": self.health_check_port,
            "HealthCheckProtocol": self.health_check_protocol,
            "HealthCheckIntervalSeconds": self.health_check_interval,
            "ThresholdCount": self.threshold_count,
        });
        if self.health_check_protocol != "TCP" {
            v["HealthCheckPath"] = json!(self.health_check_path);
        }
        if !self.port_overrides.is_empty() {
            v["PortOverrides"] = json!(
                self.port_overrides
                    .iter()
                    .map(|p| json!({"ListenerPort": p.listener_port, "EndpointPort": p.endpoint_port}))
                    .collect::<Vec<_>>()
            );
        }
        v
    }
}

impl Endpoint {
    pub fn health_state(&self, now: u64, delay: u64) -> String {
        match &self.health {
            Some(h) => h.clone(),
            None if now >= self.added_ms + delay => "HEALTHY".into(),
            None => "INITIAL".into(),
        }
    }

    fn to_json(&self, now: u64, delay: u64) -> Value {
        json!({
            "EndpointId": self.id,
            "Weight": self.weight,
            "HealthState": self.health_state(now, delay),
            "ClientIPPreservationEnabled": self.client_ip_preservation,
        })
    }
}

/// The `n`-th static address pair. With the sandbox's loopback block, the pair slot
/// (50 per block) is the first from `n` (mod 50) that no existing accelerator uses, so
/// addresses are not reused while their accelerator lives; without one, the legacy
/// `127.100.x.y` pair.
fn static_ips(s: &AwsState, ctx: &Ctx<'_>, n: u32) -> Vec<String> {
    if let Some(net) = ctx.net {
        let used: std::collections::BTreeSet<&str> =
            s.ga.accelerators
                .iter()
                .flat_map(|a| a.ips.iter().map(String::as_str))
                .collect();
        for k in 0..50 {
            if let Some(pair) = net.accelerator_ips((n + k) % 50) {
                let pair = pair.map(|ip| ip.to_string());
                if pair.iter().all(|ip| !used.contains(ip.as_str())) {
                    return pair.to_vec();
                }
            }
        }
    }
    vec![
        format!("127.100.{}.{}", n / 127, 2 * (n % 127) + 1),
        format!("127.100.{}.{}", n / 127, 2 * (n % 127) + 2),
    ]
}

/// Serves one awsJson1_1 call. `target` is the whole `X-Amz-Target` header.
pub fn handle(aws: &Aws, region: &str, target: &str, body: &[u8]) -> ApiResult<Value> {
    let op = target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        ApiError::bad(
            "UnknownOperationException",
            format!("Unknown operation {target}"),
        )
    })?;
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad(
                "SerializationException",
                format!("Could not parse the request body as JSON: {e}"),
            )
        })?
    };
    let Value::Object(input) = input else {
        return Err(ApiError::bad(
            "SerializationException",
            "The request body must be a JSON object",
        ));
    };
    let input = Input(&input);
    let mutating = !(op.starts_with("Describe") || op.starts_with("List"));
    if !OPERATIONS.contains(&op) {
        return Err(ApiError::bad(
            "UnknownOperationException",
            format!("Unknown operation {op}"),
        ));
    }
    aws.with_state(region, mutating, |state, ctx| {
        dispatch(op, &input, state, ctx)
    })
}

/// The operations the sandbox serves (what `--faults` may name).
pub const OPERATIONS: &[&str] = &[
    "CreateAccelerator",
    "DescribeAccelerator",
    "ListAccelerators",
    "UpdateAccelerator",
    "DeleteAccelerator",
    "DescribeAcceleratorAttributes",
    "UpdateAcceleratorAttributes",
    "CreateListener",
    "DescribeListener",
    "ListListeners",
    "UpdateListener",
    "DeleteListener",
    "CreateEndpointGroup",
    "DescribeEndpointGroup",
    "ListEndpointGroups",
    "UpdateEndpointGroup",
    "DeleteEndpointGroup",
    "AddEndpoints",
    "RemoveEndpoints",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

fn dispatch(op: &str, i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    match op {
        "CreateAccelerator" => create_accelerator(i, s, ctx),
        "DescribeAccelerator" => {
            let a = find_acc(&s.ga, &i.req_str("AcceleratorArn")?)?;
            Ok(json!({"Accelerator": a.to_json(ctx.now)}))
        }
        "ListAccelerators" => {
            let all: Vec<Value> =
                s.ga.accelerators
                    .iter()
                    .map(|a| a.to_json(ctx.now))
                    .collect();
            list_page(i, &all, "Accelerators")
        }
        "UpdateAccelerator" => update_accelerator(i, s, ctx),
        "DeleteAccelerator" => delete_accelerator(i, s, ctx),
        "DescribeAcceleratorAttributes" => {
            let a = find_acc(&s.ga, &i.req_str("AcceleratorArn")?)?;
            Ok(json!({"AcceleratorAttributes": flow_logs_json(&a.flow_logs)}))
        }
        "UpdateAcceleratorAttributes" => {
            let arn = i.req_str("AcceleratorArn")?;
            let enabled = i.opt_bool("FlowLogsEnabled")?;
            let bucket = i.opt_str("FlowLogsS3Bucket")?;
            let prefix = i.opt_str("FlowLogsS3Prefix")?;
            let a = find_acc_mut(&mut s.ga, &arn)?;
            if let Some(e) = enabled {
                a.flow_logs.enabled = e;
            }
            if bucket.is_some() {
                a.flow_logs.s3_bucket = bucket;
            }
            if prefix.is_some() {
                a.flow_logs.s3_prefix = prefix;
            }
            if a.flow_logs.enabled && a.flow_logs.s3_bucket.is_none() {
                return Err(ApiError::bad(
                    "InvalidArgumentException",
                    "FlowLogsS3Bucket is required when flow logs are enabled",
                ));
            }
            a.touch(ctx);
            Ok(json!({"AcceleratorAttributes": flow_logs_json(&a.flow_logs)}))
        }
        "CreateListener" => create_listener(i, s, ctx),
        "DescribeListener" => {
            let (a, l) = find_listener(&s.ga, &i.req_str("ListenerArn")?)?;
            Ok(json!({"Listener": s.ga.accelerators[a].listeners[l].to_json()}))
        }
        "ListListeners" => {
            let acc = find_acc(&s.ga, &i.req_str("AcceleratorArn")?)?;
            let all: Vec<Value> = acc.listeners.iter().map(Listener::to_json).collect();
            list_page(i, &all, "Listeners")
        }
        "UpdateListener" => update_listener(i, s, ctx),
        "DeleteListener" => {
            let (a, l) = find_listener(&s.ga, &i.req_str("ListenerArn")?)?;
            let acc = &mut s.ga.accelerators[a];
            if !acc.listeners[l].endpoint_groups.is_empty() {
                return Err(ApiError::bad(
                    "AssociatedEndpointGroupFoundException",
                    "The listener can't be deleted because it has associated endpoint groups. Delete the endpoint groups first.",
                ));
            }
            acc.listeners.remove(l);
            acc.touch(ctx);
            Ok(json!({}))
        }
        "CreateEndpointGroup" => create_endpoint_group(i, s, ctx),
        "DescribeEndpointGroup" => {
            let (a, l, g) = find_group(&s.ga, &i.req_str("EndpointGroupArn")?)?;
            Ok(
                json!({"EndpointGroup": s.ga.accelerators[a].listeners[l].endpoint_groups[g].to_json(ctx.now, ctx.delay)}),
            )
        }
        "ListEndpointGroups" => {
            let (a, l) = find_listener(&s.ga, &i.req_str("ListenerArn")?)?;
            let all: Vec<Value> = s.ga.accelerators[a].listeners[l]
                .endpoint_groups
                .iter()
                .map(|g| g.to_json(ctx.now, ctx.delay))
                .collect();
            list_page(i, &all, "EndpointGroups")
        }
        "UpdateEndpointGroup" => update_endpoint_group(i, s, ctx),
        "DeleteEndpointGroup" => {
            let (a, l, g) = find_group(&s.ga, &i.req_str("EndpointGroupArn")?)?;
            let acc = &mut s.ga.accelerators[a];
            acc.listeners[l].endpoint_groups.remove(g);
            acc.touch(ctx);
            Ok(json!({}))
        }
        "AddEndpoints" => add_endpoints(i, s, ctx),
        "RemoveEndpoints" => {
            let arn = i.req_str("EndpointGroupArn")?;
            let ids = i.req_array("EndpointIdentifiers")?;
            if ids.is_empty() || ids.len() > MAX_ENDPOINTS {
                return Err(ApiError::bad(
                    "InvalidArgumentException",
                    "EndpointIdentifiers must have between 1 and 10 items",
                ));
            }
            let mut remove = Vec::new();
            for id in ids {
                remove.push(Input::object(id, "EndpointIdentifiers")?.req_str("EndpointId")?);
            }
            let (a, l, g) = find_group(&s.ga, &arn)?;
            let acc = &mut s.ga.accelerators[a];
            acc.listeners[l].endpoint_groups[g]
                .endpoints
                .retain(|e| !remove.contains(&e.id));
            acc.touch(ctx);
            Ok(json!({}))
        }
        "TagResource" => {
            let arn = i.req_str("ResourceArn")?;
            let tags = parse_tags(i.req_array("Tags")?)?;
            let acc = find_acc_mut(&mut s.ga, &arn)?;
            for t in tags {
                match acc.tags.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value,
                    None => acc.tags.push(t),
                }
            }
            if acc.tags.len() > 200 {
                return Err(ApiError::bad(
                    "InvalidArgumentException",
                    "A resource can have at most 200 tags",
                ));
            }
            Ok(json!({}))
        }
        "UntagResource" => {
            let arn = i.req_str("ResourceArn")?;
            let keys = i.req_array("TagKeys")?;
            let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
            // Untagging a resource that no longer exists succeeds, as on AWS.
            if let Ok(acc) = find_acc_mut(&mut s.ga, &arn) {
                acc.tags.retain(|t| !keys.contains(&t.key.as_str()));
            }
            Ok(json!({}))
        }
        "ListTagsForResource" => {
            let acc = find_acc(&s.ga, &i.req_str("ResourceArn")?)?;
            Ok(
                json!({"Tags": acc.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>()}),
            )
        }
        _ => Err(ApiError::bad(
            "UnknownOperationException",
            format!("Unknown operation {op}"),
        )),
    }
}

fn flow_logs_json(f: &FlowLogs) -> Value {
    let mut v = json!({"FlowLogsEnabled": f.enabled});
    if let Some(b) = &f.s3_bucket {
        v["FlowLogsS3Bucket"] = json!(b);
    }
    if let Some(p) = &f.s3_prefix {
        v["FlowLogsS3Prefix"] = json!(p);
    }
    v
}

fn list_page(i: &Input<'_>, all: &[Value], key: &str) -> ApiResult<Value> {
    let max = match i.opt_i64("MaxResults")? {
        None => 10,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::bad(
                "InvalidArgumentException",
                format!("MaxResults must be between 1 and 100, got {n}"),
            ));
        }
    };
    let token = i.opt_str("NextToken")?;
    let (items, next) = page(all, token.as_deref(), max).ok_or_else(|| {
        ApiError::bad(
            "InvalidNextTokenException",
            "There isn't another item to return.",
        )
    })?;
    let mut v = json!({ key: items });
    if let Some(n) = next {
        v["NextToken"] = json!(n);
    }
    Ok(v)
}

fn validate_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(
            "InvalidArgumentException",
            format!(
                "Invalid accelerator name '{name}': it must be 1-64 characters, contain only alphanumerics, periods (.) or hyphens (-), and not begin or end with a hyphen or period"
            ),
        ))
    }
}

fn ip_address_type(v: Option<String>) -> ApiResult<String> {
    match v.as_deref() {
        None => Ok("IPV4".into()),
        Some(t @ ("IPV4" | "DUAL_STACK")) => Ok(t.into()),
        Some(t) => Err(ApiError::bad(
            "InvalidArgumentException",
            format!("Invalid IpAddressType '{t}': expected IPV4 or DUAL_STACK"),
        )),
    }
}

fn create_accelerator(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let name = i.req_str("Name")?;
    let token = i.req_str("IdempotencyToken")?;
    validate_name(&name)?;
    let ip_type = ip_address_type(i.opt_str("IpAddressType")?)?;
    let enabled = i.opt_bool("Enabled")?.unwrap_or(true);
    let tags = match i.opt_array("Tags")? {
        Some(t) => parse_tags(t)?,
        None => Vec::new(),
    };
    let byoip = match i.opt_array("IpAddresses")? {
        Some(ips) if ips.len() > 2 => {
            return Err(ApiError::bad(
                "InvalidArgumentException",
                "At most two IpAddresses can be specified",
            ));
        }
        Some(ips) => ips
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        None => Vec::<String>::new(),
    };
    if let Some(existing) =
        s.ga.accelerators
            .iter()
            .find(|a| a.idempotency_token.as_deref() == Some(&token))
    {
        if existing.name != name {
            return Err(ApiError::bad(
                "InvalidArgumentException",
                "The IdempotencyToken was already used for a request with different parameters",
            ));
        }
        return Ok(json!({"Accelerator": existing.to_json(ctx.now)}));
    }
    if s.ga.accelerators.len() >= MAX_ACCELERATORS {
        return Err(ApiError::bad(
            "LimitExceededException",
            format!("An account can have at most {MAX_ACCELERATORS} accelerators"),
        ));
    }
    let n = s.ga.ip_pairs_allocated;
    s.ga.ip_pairs_allocated += 1;
    let mut ips = static_ips(s, ctx, n);
    for (slot, ip) in byoip.into_iter().enumerate() {
        ips[slot] = ip;
    }
    let ipv6 = if ip_type == "DUAL_STACK" {
        vec![
            format!("fd00:ec2:100::{:x}", 2 * n + 1),
            format!("fd00:ec2:100::{:x}", 2 * n + 2),
        ]
    } else {
        Vec::new()
    };
    let acc = Accelerator {
        arn: format!(
            "arn:aws:globalaccelerator::{}:accelerator/{}",
            ctx.account,
            ids::uuid()
        ),
        name,
        ip_address_type: ip_type,
        enabled,
        ips,
        ipv6,
        dns_prefix: format!("a{}", ids::hex(16)),
        created_ms: ctx.now,
        modified_ms: ctx.now,
        ready_at_ms: ctx.ready_at(),
        idempotency_token: Some(token),
        tags,
        flow_logs: FlowLogs::default(),
        listeners: Vec::new(),
    };
    let out = json!({"Accelerator": acc.to_json(ctx.now)});
    s.ga.accelerators.push(acc);
    Ok(out)
}

fn update_accelerator(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let arn = i.req_str("AcceleratorArn")?;
    let name = i.opt_str("Name")?;
    if let Some(n) = &name {
        validate_name(n)?;
    }
    let ip_type = match i.opt_str("IpAddressType")? {
        Some(t) => Some(ip_address_type(Some(t))?),
        None => None,
    };
    let enabled = i.opt_bool("Enabled")?;
    let acc = find_acc_mut(&mut s.ga, &arn)?;
    if let Some(n) = name {
        acc.name = n;
    }
    if let Some(t) = ip_type {
        acc.ip_address_type = t;
    }
    if let Some(e) = enabled {
        acc.enabled = e;
    }
    acc.touch(ctx);
    Ok(json!({"Accelerator": acc.to_json(ctx.now)}))
}

fn delete_accelerator(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let arn = i.req_str("AcceleratorArn")?;
    let acc = find_acc(&s.ga, &arn)?;
    if acc.enabled {
        return Err(ApiError::bad(
            "AcceleratorNotDisabledException",
            "The accelerator can't be deleted because it isn't disabled. Disable the accelerator, wait for its status to be DEPLOYED, and then delete it.",
        ));
    }
    if !acc.listeners.is_empty() {
        return Err(ApiError::bad(
            "AssociatedListenerFoundException",
            "The accelerator can't be deleted because it has associated listeners. Delete the listeners first.",
        ));
    }
    if acc.status(ctx.now) != "DEPLOYED" {
        // As the AWS Load Balancer Controller observes: a disable still in progress
        // keeps the accelerator from being deleted.
        return Err(ApiError::bad(
            "AcceleratorNotDisabledException",
            "The accelerator is still being disabled. Wait for its status to be DEPLOYED, and then delete it.",
        ));
    }
    s.ga.accelerators.retain(|a| a.arn != arn);
    Ok(json!({}))
}

fn parse_port_ranges(v: &[Value]) -> ApiResult<Vec<PortRange>> {
    if v.is_empty() || v.len() > 10 {
        return Err(ApiError::bad(
            "InvalidArgumentException",
            "PortRanges must have between 1 and 10 items",
        ));
    }
    let mut out = Vec::new();
    for r in v {
        let r = Input::object(r, "PortRanges")?;
        let from = r.opt_i64("FromPort")?;
        let to = r.opt_i64("ToPort")?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(ApiError::bad(
                "InvalidPortRangeException",
                "A port range needs both FromPort and ToPort",
            ));
        };
        if !(1..=65535).contains(&from) || !(1..=65535).contains(&to) || from > to {
            return Err(ApiError::bad(
                "InvalidPortRangeException",
                format!("The port range {from}-{to} is not valid"),
            ));
        }
        out.push(PortRange { from, to });
    }
    for (n, a) in out.iter().enumerate() {
        if out[n + 1..]
            .iter()
            .any(|b| a.from <= b.to && b.from <= a.to)
        {
            return Err(ApiError::bad(
                "InvalidPortRangeException",
                "The port ranges overlap",
            ));
        }
    }
    Ok(out)
}

fn check_overlap(
    acc: &Accelerator,
    skip: Option<&str>,
    protocol: &str,
    ranges: &[PortRange],
) -> ApiResult<()> {
    for l in acc
        .listeners
        .iter()
        .filter(|l| Some(l.arn.as_str()) != skip && l.protocol == protocol)
    {
        for a in ranges {
            if l.port_ranges
                .iter()
                .any(|b| a.from <= b.to && b.from <= a.to)
            {
                return Err(ApiError::bad(
                    "InvalidPortRangeException",
                    format!(
                        "The port range {}-{} overlaps a port range of listener {}",
                        a.from, a.to, l.arn
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn enum_value(
    v: Option<String>,
    field: &str,
    allowed: &[&str],
    default: &str,
) -> ApiResult<String> {
    match v {
        None => Ok(default.into()),
        Some(x) if allowed.contains(&x.as_str()) => Ok(x),
        Some(x) => Err(ApiError::bad(
            "InvalidArgumentException",
            format!(
                "Invalid {field} '{x}': expected one of {}",
                allowed.join(", ")
            ),
        )),
    }
}

fn create_listener(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let arn = i.req_str("AcceleratorArn")?;
    let ranges = parse_port_ranges(i.req_array("PortRanges")?)?;
    let protocol = enum_value(
        Some(i.req_str("Protocol")?),
        "Protocol",
        &["TCP", "UDP"],
        "TCP",
    )?;
    let affinity = enum_value(
        i.opt_str("ClientAffinity")?,
        "ClientAffinity",
        &["NONE", "SOURCE_IP"],
        "NONE",
    )?;
    let token = i.req_str("IdempotencyToken")?;
    let acc = find_acc_mut(&mut s.ga, &arn)?;
    if let Some(l) = acc
        .listeners
        .iter()
        .find(|l| l.idempotency_token.as_deref() == Some(&token))
    {
        return Ok(json!({"Listener": l.to_json()}));
    }
    if acc.listeners.len() >= MAX_LISTENERS {
        return Err(ApiError::bad(
            "LimitExceededException",
            format!("An accelerator can have at most {MAX_LISTENERS} listeners"),
        ));
    }
    check_overlap(acc, None, &protocol, &ranges)?;
    let l = Listener {
        arn: format!("{}/listener/{}", acc.arn, ids::hex(8)),
        port_ranges: ranges,
        protocol,
        client_affinity: affinity,
        idempotency_token: Some(token),
        endpoint_groups: Vec::new(),
    };
    let out = json!({"Listener": l.to_json()});
    acc.listeners.push(l);
    acc.touch(ctx);
    Ok(out)
}

fn update_listener(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let arn = i.req_str("ListenerArn")?;
    let ranges = match i.opt_array("PortRanges")? {
        Some(r) => Some(parse_port_ranges(r)?),
        None => None,
    };
    let protocol = match i.opt_str("Protocol")? {
        Some(p) => Some(enum_value(Some(p), "Protocol", &["TCP", "UDP"], "TCP")?),
        None => None,
    };
    let affinity = match i.opt_str("ClientAffinity")? {
        Some(p) => Some(enum_value(
            Some(p),
            "ClientAffinity",
            &["NONE", "SOURCE_IP"],
            "NONE",
        )?),
        None => None,
    };
    let (a, l) = find_listener(&s.ga, &arn)?;
    let acc = &mut s.ga.accelerators[a];
    let cur = &acc.listeners[l];
    let new_protocol = protocol.unwrap_or_else(|| cur.protocol.clone());
    let new_ranges = ranges.unwrap_or_else(|| cur.port_ranges.clone());
    check_overlap(acc, Some(&arn), &new_protocol, &new_ranges)?;
    let lst = &mut acc.listeners[l];
    lst.protocol = new_protocol;
    lst.port_ranges = new_ranges;
    if let Some(a) = affinity {
        lst.client_affinity = a;
    }
    let out = json!({"Listener": lst.to_json()});
    acc.touch(ctx);
    Ok(out)
}

/// Endpoint configurations as given, validated; ALBs/NLBs must exist in the group's
/// region and be active ("A resource must be valid and active when you add it").
fn parse_endpoints(
    v: &[Value],
    region: &str,
    s: &AwsState,
    ctx: &Ctx<'_>,
) -> ApiResult<Vec<Endpoint>> {
    if v.len() > MAX_ENDPOINTS {
        return Err(ApiError::bad(
            "LimitExceededException",
            format!("An endpoint group can have at most {MAX_ENDPOINTS} endpoints"),
        ));
    }
    let mut out: Vec<Endpoint> = Vec::new();
    for e in v {
        let e = Input::object(e, "EndpointConfigurations")?;
        let Some(id) = e.opt_str("EndpointId")? else {
            return Err(ApiError::bad(
                "InvalidArgumentException",
                "EndpointId is required for each endpoint configuration",
            ));
        };
        let weight = e.opt_i64("Weight")?.unwrap_or(128);
        if !(0..=255).contains(&weight) {
            return Err(ApiError::bad(
                "InvalidArgumentException",
                format!("Weight {weight} is not between 0 and 255"),
            ));
        }
        let is_alb = id.contains(":loadbalancer/app/");
        if id.starts_with("arn:aws:elasticloadbalancing:") {
            match s.elbv2.load_balancers.iter().find(|lb| lb.arn == id) {
                None => {
                    return Err(ApiError::bad(
                        "InvalidArgumentException",
                        format!("The endpoint {id} does not exist"),
                    ));
                }
                Some(lb) if lb.region != region => {
                    return Err(ApiError::bad(
                        "InvalidArgumentException",
                        format!(
                            "The endpoint {id} is in {} but the endpoint group is in {region}",
                            lb.region
                        ),
                    ));
                }
                Some(lb) if lb.state(ctx.now) != "active" => {
                    return Err(ApiError::bad(
                        "InvalidArgumentException",
                        format!("The endpoint {id} is not active yet"),
                    ));
                }
                Some(_) => {}
            }
        }
        let preserve = e.opt_bool("ClientIPPreservationEnabled")?.unwrap_or(is_alb);
        if out.iter().any(|x| x.id == id) {
            return Err(ApiError::bad(
                "InvalidArgumentException",
                format!("The endpoint {id} is specified more than once"),
            ));
        }
        out.push(Endpoint {
            id,
            weight,
            client_ip_preservation: preserve,
            added_ms: ctx.now,
            health: None,
        });
    }
    Ok(out)
}

struct HealthSettings {
    dial: Option<f64>,
    port: Option<i64>,
    protocol: Option<String>,
    path: Option<String>,
    interval: Option<i64>,
    threshold: Option<i64>,
    overrides: Option<Vec<PortOverride>>,
}

fn parse_health(i: &Input<'_>) -> ApiResult<HealthSettings> {
    let bad = |m: String| ApiError::bad("InvalidArgumentException", m);
    let dial = i.opt_f64("TrafficDialPercentage")?;
    if let Some(d) = dial
        && !(0.0..=100.0).contains(&d)
    {
        return Err(bad(format!(
            "TrafficDialPercentage {d} is not between 0 and 100"
        )));
    }
    let port = i.opt_i64("HealthCheckPort")?;
    if let Some(p) = port
        && !(1..=65535).contains(&p)
    {
        return Err(bad(format!(
            "HealthCheckPort {p} is not between 1 and 65535"
        )));
    }
    let protocol = match i.opt_str("HealthCheckProtocol")? {
        Some(p) => Some(enum_value(
            Some(p),
            "HealthCheckProtocol",
            &["TCP", "HTTP", "HTTPS"],
            "TCP",
        )?),
        None => None,
    };
    let path = i.opt_str("HealthCheckPath")?;
    if let Some(p) = &path {
        let ok = p.starts_with('/')
            && p.len() <= 255
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-@:%_\\+.~#?&/=".contains(c));
        if !ok {
            return Err(bad(format!("HealthCheckPath '{p}' is not valid")));
        }
    }
    let interval = i.opt_i64("HealthCheckIntervalSeconds")?;
    if let Some(n) = interval
        && n != 10
        && n != 30
    {
        return Err(bad(format!(
            "HealthCheckIntervalSeconds {n} is not valid: expected values are: 10 or 30"
        )));
    }
    let threshold = i.opt_i64("ThresholdCount")?;
    if let Some(n) = threshold
        && !(1..=10).contains(&n)
    {
        return Err(bad(format!("ThresholdCount {n} is not between 1 and 10")));
    }
    let overrides = match i.opt_array("PortOverrides")? {
        None => None,
        Some(list) => {
            if list.len() > 10 {
                return Err(bad("At most 10 PortOverrides are allowed".into()));
            }
            let mut out = Vec::new();
            for o in list {
                let o = Input::object(o, "PortOverrides")?;
                let (Some(lp), Some(ep)) = (o.opt_i64("ListenerPort")?, o.opt_i64("EndpointPort")?)
                else {
                    return Err(bad(
                        "A port override needs ListenerPort and EndpointPort".into()
                    ));
                };
                out.push(PortOverride {
                    listener_port: lp,
                    endpoint_port: ep,
                });
            }
            Some(out)
        }
    };
    Ok(HealthSettings {
        dial,
        port,
        protocol,
        path,
        interval,
        threshold,
        overrides,
    })
}

fn create_endpoint_group(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let listener_arn = i.req_str("ListenerArn")?;
    let region = i.req_str("EndpointGroupRegion")?;
    let token = i.req_str("IdempotencyToken")?;
    let h = parse_health(i)?;
    let configs = i
        .opt_array("EndpointConfigurations")?
        .cloned()
        .unwrap_or_default();
    let (a, l) = find_listener(&s.ga, &listener_arn)?;
    let endpoints = parse_endpoints(&configs, &region, s, ctx)?;
    let listener = &s.ga.accelerators[a].listeners[l];
    if let Some(g) = listener
        .endpoint_groups
        .iter()
        .find(|g| g.idempotency_token.as_deref() == Some(&token))
    {
        return Ok(json!({"EndpointGroup": g.to_json(ctx.now, ctx.delay)}));
    }
    if listener.endpoint_groups.iter().any(|g| g.region == region) {
        return Err(ApiError::bad(
            "EndpointGroupAlreadyExistsException",
            format!(
                "An endpoint group for region {region} already exists for listener {listener_arn}"
            ),
        ));
    }
    let group = EndpointGroup {
        arn: format!("{listener_arn}/endpoint-group/{}", ids::hex(12)),
        region,
        endpoints,
        traffic_dial: h.dial.unwrap_or(100.0),
        health_check_port: h.port.unwrap_or(listener.port_ranges[0].from),
        health_check_protocol: h.protocol.unwrap_or_else(|| "TCP".into()),
        health_check_path: h.path.unwrap_or_else(|| "/".into()),
        health_check_interval: h.interval.unwrap_or(30),
        threshold_count: h.threshold.unwrap_or(3),
        port_overrides: h.overrides.unwrap_or_default(),
        idempotency_token: Some(token),
    };
    let out = json!({"EndpointGroup": group.to_json(ctx.now, ctx.delay)});
    let acc = &mut s.ga.accelerators[a];
    acc.listeners[l].endpoint_groups.push(group);
    acc.touch(ctx);
    Ok(out)
}

fn update_endpoint_group(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let arn = i.req_str("EndpointGroupArn")?;
    let h = parse_health(i)?;
    let configs = i.opt_array("EndpointConfigurations")?.cloned();
    let (a, l, g) = find_group(&s.ga, &arn)?;
    let region = s.ga.accelerators[a].listeners[l].endpoint_groups[g]
        .region
        .clone();
    let new_endpoints = match configs {
        Some(c) => Some(parse_endpoints(&c, &region, s, ctx)?),
        None => None,
    };
    let acc = &mut s.ga.accelerators[a];
    let group = &mut acc.listeners[l].endpoint_groups[g];
    if let Some(mut eps) = new_endpoints {
        // An endpoint that stays keeps its health history.
        for e in &mut eps {
            if let Some(old) = group.endpoints.iter().find(|o| o.id == e.id) {
                e.added_ms = old.added_ms;
                e.health = old.health.clone();
            }
        }
        group.endpoints = eps;
    }
    if let Some(d) = h.dial {
        group.traffic_dial = d;
    }
    if let Some(p) = h.port {
        group.health_check_port = p;
    }
    if let Some(p) = h.protocol {
        group.health_check_protocol = p;
    }
    if let Some(p) = h.path {
        group.health_check_path = p;
    }
    if let Some(n) = h.interval {
        group.health_check_interval = n;
    }
    if let Some(n) = h.threshold {
        group.threshold_count = n;
    }
    if let Some(o) = h.overrides {
        group.port_overrides = o;
    }
    let out = json!({"EndpointGroup": group.to_json(ctx.now, ctx.delay)});
    acc.touch(ctx);
    Ok(out)
}

fn add_endpoints(i: &Input<'_>, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Value> {
    let arn = i.req_str("EndpointGroupArn")?;
    let configs = i.req_array("EndpointConfigurations")?.clone();
    if configs.is_empty() {
        return Err(ApiError::bad(
            "InvalidArgumentException",
            "EndpointConfigurations must not be empty",
        ));
    }
    let (a, l, g) = find_group(&s.ga, &arn)?;
    let region = s.ga.accelerators[a].listeners[l].endpoint_groups[g]
        .region
        .clone();
    let added = parse_endpoints(&configs, &region, s, ctx)?;
    let acc = &mut s.ga.accelerators[a];
    let group = &mut acc.listeners[l].endpoint_groups[g];
    let mut described = Vec::new();
    for e in added {
        described.push(e.to_json(ctx.now, ctx.delay));
        match group.endpoints.iter_mut().find(|x| x.id == e.id) {
            Some(x) => {
                x.weight = e.weight;
                x.client_ip_preservation = e.client_ip_preservation;
            }
            None => group.endpoints.push(e),
        }
    }
    if group.endpoints.len() > MAX_ENDPOINTS {
        return Err(ApiError::bad(
            "LimitExceededException",
            format!("An endpoint group can have at most {MAX_ENDPOINTS} endpoints"),
        ));
    }
    acc.touch(ctx);
    Ok(json!({"EndpointDescriptions": described, "EndpointGroupArn": arn}))
}

fn parse_tags(v: &[Value]) -> ApiResult<Vec<Tag>> {
    let mut out = Vec::new();
    for t in v {
        let t = Input::object(t, "Tags")?;
        let key = t.req_str("Key")?;
        let value = t.req_str("Value")?;
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(ApiError::bad(
                "InvalidArgumentException",
                format!("Tag '{key}' is not valid"),
            ));
        }
        out.push(Tag { key, value });
    }
    Ok(out)
}

fn acc_not_found(arn: &str) -> ApiError {
    ApiError::bad(
        "AcceleratorNotFoundException",
        format!("The accelerator {arn} was not found"),
    )
}

fn find_acc<'a>(ga: &'a GaState, arn: &str) -> ApiResult<&'a Accelerator> {
    ga.accelerators
        .iter()
        .find(|a| a.arn == arn)
        .ok_or_else(|| acc_not_found(arn))
}

fn find_acc_mut<'a>(ga: &'a mut GaState, arn: &str) -> ApiResult<&'a mut Accelerator> {
    ga.accelerators
        .iter_mut()
        .find(|a| a.arn == arn)
        .ok_or_else(|| acc_not_found(arn))
}

fn find_listener(ga: &GaState, arn: &str) -> ApiResult<(usize, usize)> {
    for (a, acc) in ga.accelerators.iter().enumerate() {
        if let Some(l) = acc.listeners.iter().position(|l| l.arn == arn) {
            return Ok((a, l));
        }
    }
    Err(ApiError::bad(
        "ListenerNotFoundException",
        format!("The listener {arn} was not found"),
    ))
}

fn find_group(ga: &GaState, arn: &str) -> ApiResult<(usize, usize, usize)> {
    for (a, acc) in ga.accelerators.iter().enumerate() {
        for (l, lst) in acc.listeners.iter().enumerate() {
            if let Some(g) = lst.endpoint_groups.iter().position(|g| g.arn == arn) {
                return Ok((a, l, g));
            }
        }
    }
    Err(ApiError::bad(
        "EndpointGroupNotFoundException",
        format!("The endpoint group {arn} was not found"),
    ))
}

/// Typed access to a JSON request object: wrong types are SerializationExceptions,
/// missing required members InvalidArgumentExceptions, as AWS reports them.
struct Input<'a>(&'a Map<String, Value>);

impl<'a> Input<'a> {
    fn object(v: &'a Value, field: &str) -> ApiResult<Input<'a>> {
        v.as_object().map(Input).ok_or_else(|| {
            ApiError::bad(
                "SerializationException",
                format!("Each item of {field} must be an object"),
            )
        })
    }

    fn wrong_type(key: &str, what: &str) -> ApiError {
        ApiError::bad("SerializationException", format!("{key} must be {what}"))
    }

    fn missing(key: &str) -> ApiError {
        ApiError::bad("InvalidArgumentException", format!("{key} is required"))
    }

    fn opt_str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Self::wrong_type(key, "a string")),
        }
    }

    fn req_str(&self, key: &str) -> ApiResult<String> {
        self.opt_str(key)?.ok_or_else(|| Self::missing(key))
    }

    fn opt_bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong_type(key, "a boolean")),
        }
    }

    fn opt_i64(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::wrong_type(key, "an integer")),
            Some(_) => Err(Self::wrong_type(key, "an integer")),
        }
    }

    fn opt_f64(&self, key: &str) -> ApiResult<Option<f64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(Self::wrong_type(key, "a number")),
        }
    }

    fn opt_array(&self, key: &str) -> ApiResult<Option<&'a Vec<Value>>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(Self::wrong_type(key, "a list")),
        }
    }

    fn req_array(&self, key: &str) -> ApiResult<&'a Vec<Value>> {
        self.opt_array(key)?.ok_or_else(|| Self::missing(key))
    }
}
