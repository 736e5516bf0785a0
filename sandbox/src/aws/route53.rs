//! Amazon Route 53 (restXml under `/2013-04-01/`): hosted zones, all-or-nothing
//! ChangeResourceRecordSets with CREATE/UPSERT/DELETE and InvalidChangeBatch, alias
//! records, ListResourceRecordSets and GetChange going PENDING -> INSYNC. Ids are
//! returned in AWS's prefixed form (`/hostedzone/Z…`, `/change/C…`); inputs may carry
//! the prefix or not.

use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::xml::{self, Element, Writer};
use super::{ApiError, ApiResult, Aws, AwsState, Ctx, ids, xml_response};

pub const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
const NAME_SERVERS: [&str; 4] = [
    "ns-2048.awsdns-64.com.",
    "ns-2049.awsdns-65.net.",
    "ns-2050.awsdns-66.org.",
    "ns-2051.awsdns-67.co.uk.",
];
const MAX_RECORDS_PER_BATCH: usize = 1000;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Route53State {
    pub zones: Vec<HostedZone>,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostedZone {
    /// Bare id (`Z…`, 21 characters after the Z).
    pub id: String,
    /// Lower case, with the trailing dot.
    pub name: String,
    pub caller_reference: String,
    pub comment: Option<String>,
    pub private: bool,
    pub record_sets: Vec<RecordSet>,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AliasTarget {
    pub hosted_zone_id: String,
    pub dns_name: String,
    pub evaluate_target_health: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordSet {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub set_identifier: Option<String>,
    pub weight: Option<i64>,
    pub region: Option<String>,
    pub failover: Option<String>,
    pub multi_value_answer: Option<bool>,
    pub ttl: Option<i64>,
    pub records: Vec<String>,
    pub alias: Option<AliasTarget>,
    pub health_check_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// Bare id (`C…`).
    pub id: String,
    pub submitted_ms: u64,
    pub insync_at_ms: u64,
    pub comment: Option<String>,
}

impl Change {
    fn write(&self, w: &mut Writer, now: u64) {
        w.open("ChangeInfo")
            .leaf("Id", format!("/change/{}", self.id))
            .leaf(
                "Status",
                if now >= self.insync_at_ms {
                    "INSYNC"
                } else {
                    "PENDING"
                },
            )
            .leaf("SubmittedAt", ids::iso8601(self.submitted_ms))
            .opt_leaf("Comment", self.comment.as_deref())
            .close("ChangeInfo");
    }
}

/// Lower-cases a DNS name and makes it absolute.
fn normalize_name(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase().replace("\\052", "*");
    if n.ends_with('.') { n } else { format!("{n}.") }
}

/// Names on the wire escape `*` as AWS does.
fn wire_name(name: &str) -> String {
    name.replace('*', "\\052")
}

/// The sort key AWS lists by: labels reversed (`com.example.www.`).
fn reversed(name: &str) -> String {
    let mut labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    labels.reverse();
    labels.join(".")
}

fn bare_id<'a>(id: &'a str, prefix: &str) -> &'a str {
    let id = id.trim_start_matches('/');
    id.strip_prefix(prefix)
        .map(|s| s.trim_start_matches('/'))
        .unwrap_or(id)
}

impl HostedZone {
    fn write(&self, w: &mut Writer) {
        w.open("HostedZone")
            .leaf("Id", format!("/hostedzone/{}", self.id))
            .leaf("Name", wire_name(&self.name))
            .leaf("CallerReference", &self.caller_reference)
            .open("Config")
            .opt_leaf("Comment", self.comment.as_deref())
            .leaf("PrivateZone", self.private)
            .close("Config")
            .leaf("ResourceRecordSetCount", self.record_sets.len())
            .close("HostedZone");
    }

    fn sort(&mut self) {
        self.record_sets.sort_by(|a, b| {
            (reversed(&a.name), &a.rtype, &a.set_identifier).cmp(&(
                reversed(&b.name),
                &b.rtype,
                &b.set_identifier,
            ))
        });
    }
}

impl RecordSet {
    fn write(&self, w: &mut Writer) {
        w.open("ResourceRecordSet")
            .leaf("Name", wire_name(&self.name))
            .leaf("Type", &self.rtype)
            .opt_leaf("SetIdentifier", self.set_identifier.as_deref())
            .opt_leaf("Weight", self.weight)
            .opt_leaf("Region", self.region.as_deref())
            .opt_leaf("Failover", self.failover.as_deref())
            .opt_leaf("MultiValueAnswer", self.multi_value_answer)
            .opt_leaf("TTL", self.ttl);
        if !self.records.is_empty() {
            w.open("ResourceRecords");
            for r in &self.records {
                w.open("ResourceRecord")
                    .leaf("Value", r)
                    .close("ResourceRecord");
            }
            w.close("ResourceRecords");
        }
        if let Some(a) = &self.alias {
            w.open("AliasTarget")
                .leaf("HostedZoneId", &a.hosted_zone_id)
                .leaf("DNSName", &a.dns_name)
                .leaf("EvaluateTargetHealth", a.evaluate_target_health)
                .close("AliasTarget");
        }
        w.opt_leaf("HealthCheckId", self.health_check_id.as_deref());
        w.close("ResourceRecordSet");
    }

    /// `[name='x.example.com.', type='A']` (plus the set identifier when there is one).
    fn describe(&self) -> String {
        match &self.set_identifier {
            Some(id) => format!(
                "[name='{}', type='{}', set-identifier='{id}']",
                self.name, self.rtype
            ),
            None => format!("[name='{}', type='{}']", self.name, self.rtype),
        }
    }

    fn same_key(&self, other: &RecordSet) -> bool {
        self.name == other.name
            && self.rtype == other.rtype
            && self.set_identifier == other.set_identifier
    }
}

/// The Route 53 operations the sandbox serves (what `--faults` may name).
pub const OPERATIONS: &[&str] = &[
    "CreateHostedZone",
    "ListHostedZones",
    "ListHostedZonesByName",
    "GetHostedZoneCount",
    "GetHostedZone",
    "UpdateHostedZoneComment",
    "DeleteHostedZone",
    "ChangeResourceRecordSets",
    "ListResourceRecordSets",
    "ListTagsForResource",
    "ChangeTagsForResource",
    "GetChange",
];

/// The operation a request is for, by method and path (as [`handle`] routes it).
pub fn operation(method: &Method, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/2013-04-01/")?;
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    Some(match (method.clone(), segs.as_slice()) {
        (Method::POST, ["hostedzone"]) => "CreateHostedZone",
        (Method::GET, ["hostedzone"]) => "ListHostedZones",
        (Method::GET, ["hostedzonesbyname"]) => "ListHostedZonesByName",
        (Method::GET, ["hostedzonecount"]) => "GetHostedZoneCount",
        (Method::GET, ["hostedzone", _]) => "GetHostedZone",
        (Method::POST, ["hostedzone", _]) => "UpdateHostedZoneComment",
        (Method::DELETE, ["hostedzone", _]) => "DeleteHostedZone",
        (Method::POST, ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        (Method::GET, ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        (Method::GET, ["tags", "hostedzone", _]) => "ListTagsForResource",
        (Method::POST, ["tags", "hostedzone", _]) => "ChangeTagsForResource",
        (Method::GET, ["change", _]) => "GetChange",
        _ => return None,
    })
}

/// Serves one Route 53 call; `path` is the raw request path.
pub fn handle(
    aws: &Aws,
    region: &str,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> ApiResult<Response> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let rest = path.strip_prefix("/2013-04-01/").unwrap_or("");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let ok = |body: String| Ok(xml_response(200, body));
    match (method.clone(), segs.as_slice()) {
        (Method::POST, ["hostedzone"]) => {
            let root = parse_body(body, "CreateHostedZoneRequest")?;
            aws.with_state(region, true, |s, ctx| create_zone(&root, s, ctx))
        }
        (Method::GET, ["hostedzone"]) => aws
            .with_state(region, false, |s, _| {
                list_zones(s, param("marker"), param("maxitems"))
            })
            .and_then(ok),
        (Method::GET, ["hostedzonesbyname"]) => aws
            .with_state(region, false, |s, _| {
                list_zones_by_name(
                    s,
                    param("dnsname"),
                    param("hostedzoneid"),
                    param("maxitems"),
                )
            })
            .and_then(ok),
        (Method::GET, ["hostedzonecount"]) => aws
            .with_state(region, false, |s, _| {
                let mut w = Writer::new();
                w.open_ns("GetHostedZoneCountResponse", NAMESPACE)
                    .leaf("HostedZoneCount", s.route53.zones.len())
                    .close("GetHostedZoneCountResponse");
                Ok(w.finish())
            })
            .and_then(ok),
        (Method::GET, ["hostedzone", id]) => aws
            .with_state(region, false, |s, _| get_zone(s, id))
            .and_then(ok),
        (Method::POST, ["hostedzone", id]) => {
            let root = parse_body(body, "UpdateHostedZoneCommentRequest")?;
            aws.with_state(region, true, |s, _| {
                let z = find_zone_mut(s, id)?;
                z.comment = root.text_of("Comment");
                let mut w = Writer::new();
                w.open_ns("UpdateHostedZoneCommentResponse", NAMESPACE);
                z.write(&mut w);
                w.close("UpdateHostedZoneCommentResponse");
                Ok(w.finish())
            })
            .and_then(ok)
        }
        (Method::DELETE, ["hostedzone", id]) => aws
            .with_state(region, true, |s, ctx| delete_zone(s, ctx, id))
            .and_then(ok),
        (Method::POST, ["hostedzone", id, "rrset"]) => {
            let root = parse_body(body, "ChangeResourceRecordSetsRequest")?;
            aws.with_state(region, true, |s, ctx| change_record_sets(&root, s, ctx, id))
                .and_then(ok)
        }
        (Method::GET, ["hostedzone", id, "rrset"]) => aws
            .with_state(region, false, |s, _| {
                list_record_sets(
                    s,
                    id,
                    param("name"),
                    param("type"),
                    param("identifier"),
                    param("maxitems"),
                )
            })
            .and_then(ok),
        (Method::GET, ["tags", "hostedzone", id]) => aws
            .with_state(region, false, |s, _| {
                let z = find_zone(s, id)?;
                let mut w = Writer::new();
                w.open_ns("ListTagsForResourceResponse", NAMESPACE)
                    .open("ResourceTagSet")
                    .leaf("ResourceType", "hostedzone")
                    .leaf("ResourceId", &z.id)
                    .open("Tags");
                for (k, v) in &z.tags {
                    w.open("Tag").leaf("Key", k).leaf("Value", v).close("Tag");
                }
                w.close("Tags")
                    .close("ResourceTagSet")
                    .close("ListTagsForResourceResponse");
                Ok(w.finish())
            })
            .and_then(ok),
        (Method::POST, ["tags", "hostedzone", id]) => {
            let root = parse_body(body, "ChangeTagsForResourceRequest")?;
            aws.with_state(region, true, |s, _| {
                let z = find_zone_mut(s, id)?;
                if let Some(add) = root.child("AddTags") {
                    for t in add.children_named("Tag") {
                        let key = t
                            .text_of("Key")
                            .ok_or_else(|| ApiError::bad("InvalidInput", "A tag needs a Key"))?;
                        z.tags.insert(key, t.text_of("Value").unwrap_or_default());
                    }
                }
                if let Some(remove) = root.child("RemoveTagKeys") {
                    for k in remove.children_named("Key") {
                        z.tags.remove(k.text.trim());
                    }
                }
                if z.tags.len() > 50 {
                    return Err(ApiError::bad(
                        "InvalidInput",
                        "A hosted zone can have at most 50 tags",
                    ));
                }
                let mut w = Writer::new();
                w.open_ns("ChangeTagsForResourceResponse", NAMESPACE)
                    .close("ChangeTagsForResourceResponse");
                Ok(w.finish())
            })
            .and_then(ok)
        }
        (Method::GET, ["change", id]) => aws
            .with_state(region, false, |s, ctx| {
                let id = bare_id(id, "change");
                let c = s
                    .route53
                    .changes
                    .iter()
                    .find(|c| c.id == id)
                    .ok_or_else(|| {
                        ApiError::new(
                            404,
                            "NoSuchChange",
                            format!("A change with the specified change ID does not exist: {id}"),
                        )
                    })?;
                let mut w = Writer::new();
                w.open_ns("GetChangeResponse", NAMESPACE);
                c.write(&mut w, ctx.now);
                w.close("GetChangeResponse");
                Ok(w.finish())
            })
            .and_then(ok),
        _ => Err(ApiError::new(
            404,
            "UnknownOperationException",
            format!("No Route 53 operation matches {method} {path}"),
        )),
    }
}

fn parse_body(body: &[u8], root_name: &str) -> ApiResult<Element> {
    let root = xml::parse(body).map_err(|e| {
        ApiError::bad(
            "InvalidInput",
            format!("Could not parse the request body as XML: {e}"),
        )
    })?;
    if root.name != root_name {
        return Err(ApiError::bad(
            "InvalidInput",
            format!("Expected a {root_name} document, found {}", root.name),
        ));
    }
    Ok(root)
}

fn no_such_zone(id: &str) -> ApiError {
    ApiError::new(
        404,
        "NoSuchHostedZone",
        format!("No hosted zone found with ID: {id}"),
    )
}

fn find_zone<'a>(s: &'a AwsState, id: &str) -> ApiResult<&'a HostedZone> {
    let id = bare_id(id, "hostedzone");
    s.route53
        .zones
        .iter()
        .find(|z| z.id == id)
        .ok_or_else(|| no_such_zone(id))
}

fn find_zone_mut<'a>(s: &'a mut AwsState, id: &str) -> ApiResult<&'a mut HostedZone> {
    let id = bare_id(id, "hostedzone");
    s.route53
        .zones
        .iter_mut()
        .find(|z| z.id == id)
        .ok_or_else(|| no_such_zone(id))
}

fn new_change(s: &mut AwsState, ctx: &Ctx<'_>, comment: Option<String>) -> Change {
    let c = Change {
        id: format!("C{}", ids::upper_alnum(20)),
        submitted_ms: ctx.now,
        insync_at_ms: ctx.ready_at(),
        comment,
    };
    s.route53.changes.push(c.clone());
    // Old changes are forgotten, as AWS forgets them after a while.
    if s.route53.changes.len() > 200 {
        s.route53.changes.remove(0);
    }
    c
}

fn valid_domain(name: &str) -> bool {
    let n = name.trim_end_matches('.');
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*')
        })
}

fn create_zone(root: &Element, s: &mut AwsState, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = root
        .text_of("Name")
        .ok_or_else(|| ApiError::bad("InvalidInput", "Name is required"))?;
    let caller = root
        .text_of("CallerReference")
        .ok_or_else(|| ApiError::bad("InvalidInput", "CallerReference is required"))?;
    if !valid_domain(&name) {
        return Err(ApiError::bad(
            "InvalidDomainName",
            format!("{name} is not a valid domain name"),
        ));
    }
    if s.route53.zones.iter().any(|z| z.caller_reference == caller) {
        return Err(ApiError::new(
            409,
            "HostedZoneAlreadyExists",
            format!(
                "A hosted zone has already been created with the specified caller reference: {caller}"
            ),
        ));
    }
    let config = root.child("HostedZoneConfig");
    let comment = config.and_then(|c| c.text_of("Comment"));
    let private = config
        .and_then(|c| c.text_of("PrivateZone"))
        .is_some_and(|p| p == "true")
        || root.child("VPC").is_some();
    let name = normalize_name(&name);
    let mut zone = HostedZone {
        id: format!("Z{}", ids::upper_alnum(21)),
        name: name.clone(),
        caller_reference: caller,
        comment,
        private,
        tags: Default::default(),
        record_sets: vec![
            RecordSet {
                name: name.clone(),
                rtype: "NS".into(),
                ttl: Some(172_800),
                records: NAME_SERVERS.iter().map(|s| s.to_string()).collect(),
                ..blank(&name)
            },
            RecordSet {
                name: name.clone(),
                rtype: "SOA".into(),
                ttl: Some(900),
                records: vec![format!(
                    "{} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400",
                    NAME_SERVERS[0]
                )],
                ..blank(&name)
            },
        ],
    };
    zone.sort();
    let change = new_change(s, ctx, None);
    let mut w = Writer::new();
    w.open_ns("CreateHostedZoneResponse", NAMESPACE);
    zone.write(&mut w);
    change.write(&mut w, ctx.now);
    write_delegation_set(&mut w);
    w.close("CreateHostedZoneResponse");
    let location = format!("/2013-04-01/hostedzone/{}", zone.id);
    s.route53.zones.push(zone);
    let mut r = xml_response(201, w.finish());
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

fn blank(name: &str) -> RecordSet {
    RecordSet {
        name: name.into(),
        rtype: String::new(),
        set_identifier: None,
        weight: None,
        region: None,
        failover: None,
        multi_value_answer: None,
        ttl: None,
        records: Vec::new(),
        alias: None,
        health_check_id: None,
    }
}

fn write_delegation_set(w: &mut Writer) {
    w.open("DelegationSet").open("NameServers");
    for ns in NAME_SERVERS {
        w.leaf("NameServer", ns.trim_end_matches('.'));
    }
    w.close("NameServers").close("DelegationSet");
}

fn max_items(v: Option<String>, default: usize, max: usize) -> ApiResult<usize> {
    match v {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(max)),
            _ => Err(ApiError::bad(
                "InvalidInput",
                format!("maxitems must be a positive integer, got '{s}'"),
            )),
        },
    }
}

fn list_zones(s: &AwsState, marker: Option<String>, max: Option<String>) -> ApiResult<String> {
    let max = max_items(max, 100, 100)?;
    let zones = &s.route53.zones;
    let start = match &marker {
        None => 0,
        Some(m) => zones
            .iter()
            .position(|z| z.id == bare_id(m, "hostedzone"))
            .ok_or_else(|| ApiError::bad("InvalidInput", format!("Invalid marker {m}")))?,
    };
    let end = (start + max).min(zones.len());
    let mut w = Writer::new();
    w.open_ns("ListHostedZonesResponse", NAMESPACE)
        .open("HostedZones");
    for z in &zones[start..end] {
        z.write(&mut w);
    }
    w.close("HostedZones");
    w.opt_leaf("Marker", marker.as_deref());
    w.leaf("IsTruncated", end < zones.len());
    if end < zones.len() {
        w.leaf("NextMarker", &zones[end].id);
    }
    w.leaf("MaxItems", max).close("ListHostedZonesResponse");
    Ok(w.finish())
}

fn list_zones_by_name(
    s: &AwsState,
    dns: Option<String>,
    zone_id: Option<String>,
    max: Option<String>,
) -> ApiResult<String> {
    let max = max_items(max, 100, 100)?;
    if zone_id.is_some() && dns.is_none() {
        return Err(ApiError::bad(
            "InvalidInput",
            "hostedzoneid requires dnsname",
        ));
    }
    let mut zones: Vec<&HostedZone> = s.route53.zones.iter().collect();
    zones.sort_by(|a, b| (reversed(&a.name), &a.id).cmp(&(reversed(&b.name), &b.id)));
    let start_key = dns.as_deref().map(|d| {
        (
            reversed(&normalize_name(d)),
            zone_id
                .as_deref()
                .map(|z| bare_id(z, "hostedzone"))
                .unwrap_or(""),
        )
    });
    let from: Vec<&HostedZone> = zones
        .into_iter()
        .filter(|z| match &start_key {
            None => true,
            Some((name, id)) => (reversed(&z.name).as_str(), z.id.as_str()) >= (name.as_str(), *id),
        })
        .collect();
    let mut w = Writer::new();
    w.open_ns("ListHostedZonesByNameResponse", NAMESPACE)
        .open("HostedZones");
    for z in from.iter().take(max) {
        z.write(&mut w);
    }
    w.close("HostedZones");
    w.opt_leaf("DNSName", dns.as_deref());
    w.opt_leaf("HostedZoneId", zone_id.as_deref());
    w.leaf("IsTruncated", from.len() > max);
    if let Some(next) = from.get(max) {
        w.leaf("NextDNSName", wire_name(&next.name))
            .leaf("NextHostedZoneId", &next.id);
    }
    w.leaf("MaxItems", max)
        .close("ListHostedZonesByNameResponse");
    Ok(w.finish())
}

fn get_zone(s: &AwsState, id: &str) -> ApiResult<String> {
    let z = find_zone(s, id)?;
    let mut w = Writer::new();
    w.open_ns("GetHostedZoneResponse", NAMESPACE);
    z.write(&mut w);
    write_delegation_set(&mut w);
    w.close("GetHostedZoneResponse");
    Ok(w.finish())
}

fn delete_zone(s: &mut AwsState, ctx: &Ctx<'_>, id: &str) -> ApiResult<String> {
    let z = find_zone(s, id)?;
    let zid = z.id.clone();
    if z.record_sets
        .iter()
        .any(|r| !(r.name == z.name && (r.rtype == "SOA" || r.rtype == "NS")))
    {
        return Err(ApiError::bad(
            "HostedZoneNotEmpty",
            "The specified hosted zone contains non-required resource record sets and so cannot be deleted.",
        ));
    }
    s.route53.zones.retain(|z| z.id != zid);
    let change = new_change(s, ctx, None);
    let mut w = Writer::new();
    w.open_ns("DeleteHostedZoneResponse", NAMESPACE);
    change.write(&mut w, ctx.now);
    w.close("DeleteHostedZoneResponse");
    Ok(w.finish())
}

fn parse_record_set(e: &Element) -> ApiResult<RecordSet> {
    let bad = |m: String| ApiError::bad("InvalidInput", m);
    let name = e
        .text_of("Name")
        .ok_or_else(|| bad("ResourceRecordSet Name is required".into()))?;
    let rtype = e
        .text_of("Type")
        .ok_or_else(|| bad("ResourceRecordSet Type is required".into()))?;
    const TYPES: &[&str] = &[
        "SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS",
        "TLSA", "SSHFP", "SVCB", "HTTPS",
    ];
    if !TYPES.contains(&rtype.as_str()) {
        return Err(bad(format!(
            "Invalid request: Expected one of {TYPES:?} for Type, got {rtype}"
        )));
    }
    let int = |k: &str| -> ApiResult<Option<i64>> {
        e.text_of(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| bad(format!("{k} must be an integer, got '{v}'")))
            })
            .transpose()
    };
    let ttl = int("TTL")?;
    let weight = int("Weight")?;
    let records: Vec<String> = e
        .child("ResourceRecords")
        .map(|rr| {
            rr.children_named("ResourceRecord")
                .filter_map(|r| r.text_of("Value"))
                .collect()
        })
        .unwrap_or_default();
    let alias = match e.child("AliasTarget") {
        None => None,
        Some(a) => {
            let (Some(zone), Some(dns), Some(eval)) = (
                a.text_of("HostedZoneId"),
                a.text_of("DNSName"),
                a.text_of("EvaluateTargetHealth"),
            ) else {
                return Err(bad(
                    "AliasTarget requires HostedZoneId, DNSName and EvaluateTargetHealth".into(),
                ));
            };
            Some(AliasTarget {
                hosted_zone_id: zone,
                dns_name: normalize_name(&dns),
                evaluate_target_health: eval == "true",
            })
        }
    };
    let name = normalize_name(&name);
    if alias.is_some() && (ttl.is_some() || !records.is_empty()) {
        return Err(bad(format!(
            "Invalid request: an alias record [name='{name}', type='{rtype}'] must not have TTL or ResourceRecords"
        )));
    }
    if alias.is_none() && (records.is_empty() || ttl.is_none()) {
        return Err(bad(format!(
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]], but found none in Change with [Action=?, Name={name}, Type={rtype}, SetIdentifier=null]"
        )));
    }
    Ok(RecordSet {
        name,
        rtype,
        set_identifier: e.text_of("SetIdentifier"),
        weight,
        region: e.text_of("Region"),
        failover: e.text_of("Failover"),
        multi_value_answer: e.text_of("MultiValueAnswer").map(|v| v == "true"),
        ttl,
        records,
        alias,
        health_check_id: e.text_of("HealthCheckId"),
    })
}

/// What AWS says about values a record of this type cannot hold.
fn invalid_values(rr: &RecordSet) -> Vec<String> {
    let mut out = Vec::new();
    for v in &rr.records {
        let problem = match rr.rtype.as_str() {
            "A" if v.parse::<std::net::Ipv4Addr>().is_err() => {
                Some("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)")
            }
            "AAAA" if v.parse::<std::net::Ipv6Addr>().is_err() => {
                Some("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)")
            }
            _ => None,
        };
        if let Some(p) = problem {
            out.push(format!(
                "Invalid Resource Record: 'FATAL problem: {p} encountered with '{v}''"
            ));
        }
    }
    if rr.rtype == "CNAME" && rr.records.len() > 1 {
        out.push(format!(
            "RRSet of type CNAME with DNS name {} contains more than one value",
            rr.name
        ));
    }
    if let Some(ttl) = rr.ttl
        && !(0..=2_147_483_647).contains(&ttl)
    {
        out.push(format!(
            "TTL {ttl} of RRSet with DNS name {} is out of range",
            rr.name
        ));
    }
    out
}

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

fn change_record_sets(
    root: &Element,
    s: &mut AwsState,
    ctx: &Ctx<'_>,
    id: &str,
) -> ApiResult<String> {
    let batch = root
        .child("ChangeBatch")
        .ok_or_else(|| ApiError::bad("InvalidInput", "ChangeBatch is required"))?;
    let comment = batch.text_of("Comment");
    let changes: Vec<&Element> = batch
        .child("Changes")
        .map(|c| c.children_named("Change").collect())
        .unwrap_or_default();
    if changes.is_empty() {
        return Err(ApiError::bad(
            "InvalidInput",
            "Invalid request: the change batch must contain at least one change",
        ));
    }
    let mut parsed = Vec::new();
    for c in &changes {
        let action = c
            .text_of("Action")
            .ok_or_else(|| ApiError::bad("InvalidInput", "Change Action is required"))?;
        if !["CREATE", "DELETE", "UPSERT"].contains(&action.as_str()) {
            return Err(ApiError::bad(
                "InvalidInput",
                format!(
                    "Invalid request: Expected one of [CREATE, DELETE, UPSERT] for Action, got {action}"
                ),
            ));
        }
        let rrset = c
            .child("ResourceRecordSet")
            .ok_or_else(|| ApiError::bad("InvalidInput", "Change ResourceRecordSet is required"))?;
        parsed.push((action, parse_record_set(rrset)?));
    }
    let zone = find_zone_mut(s, id)?;
    let count: usize = parsed
        .iter()
        .map(|(a, r)| r.records.len() * if a == "UPSERT" { 2 } else { 1 })
        .sum();
    if count > MAX_RECORDS_PER_BATCH {
        return Err(ApiError::bad(
            "InvalidChangeBatch",
            "[Number of records limit of 1000 exceeded.]",
        ));
    }
    // All or nothing: apply to a copy, commit only if every change succeeded.
    let mut records = zone.record_sets.clone();
    let mut errors = Vec::new();
    for (action, rr) in &parsed {
        errors.extend(invalid_values(rr));
        if !in_zone(&rr.name, &zone.name) {
            errors.push(format!(
                "RRSet with DNS name {} is not permitted in zone {}",
                rr.name, zone.name
            ));
            continue;
        }
        let existing = records.iter().position(|r| r.same_key(rr));
        match (action.as_str(), existing) {
            ("CREATE", Some(_)) => errors.push(format!("Tried to create resource record set {} but it already exists", rr.describe())),
            ("CREATE", None) | ("UPSERT", None) => records.push(rr.clone()),
            ("UPSERT", Some(i)) => records[i] = rr.clone(),
            ("DELETE", None) => errors.push(format!("Tried to delete resource record set {} but it was not found", rr.describe())),
            ("DELETE", Some(i)) if records[i] != *rr => errors.push(format!(
                "Tried to delete resource record set {} but the values provided do not match the current values",
                rr.describe()
            )),
            ("DELETE", Some(i)) => {
                if rr.name == zone.name && (rr.rtype == "SOA" || rr.rtype == "NS") {
                    errors.push(format!("A HostedZone must contain at least one NS record and one SOA record for the zone itself: {}", rr.describe()));
                } else {
                    records.remove(i);
                }
            }
            _ => {}
        }
        if rr.rtype == "CNAME" && rr.name == zone.name {
            errors.push(format!(
                "RRSet of type CNAME with DNS name {} is not permitted at apex in zone {}",
                rr.name, zone.name
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::bad(
            "InvalidChangeBatch",
            format!("[{}]", errors.join(", ")),
        ));
    }
    zone.record_sets = records;
    zone.sort();
    let change = new_change(s, ctx, comment);
    let mut w = Writer::new();
    w.open_ns("ChangeResourceRecordSetsResponse", NAMESPACE);
    change.write(&mut w, ctx.now);
    w.close("ChangeResourceRecordSetsResponse");
    Ok(w.finish())
}

fn list_record_sets(
    s: &AwsState,
    id: &str,
    name: Option<String>,
    rtype: Option<String>,
    identifier: Option<String>,
    max: Option<String>,
) -> ApiResult<String> {
    let zone = find_zone(s, id)?;
    let max = max_items(max, 300, 300)?;
    if rtype.is_some() && name.is_none() {
        return Err(ApiError::bad(
            "InvalidInput",
            "The type parameter requires the name parameter",
        ));
    }
    let start = name.as_deref().map(|n| {
        (
            reversed(&normalize_name(n)),
            rtype.clone().unwrap_or_default(),
            identifier.clone(),
        )
    });
    let from: Vec<&RecordSet> = zone
        .record_sets
        .iter()
        .filter(|r| match &start {
            None => true,
            Some(k) => (reversed(&r.name), r.rtype.clone(), r.set_identifier.clone()) >= k.clone(),
        })
        .collect();
    let mut w = Writer::new();
    w.open_ns("ListResourceRecordSetsResponse", NAMESPACE)
        .open("ResourceRecordSets");
    for r in from.iter().take(max) {
        r.write(&mut w);
    }
    w.close("ResourceRecordSets");
    w.leaf("IsTruncated", from.len() > max);
    if let Some(next) = from.get(max) {
        w.leaf("NextRecordName", wire_name(&next.name))
            .leaf("NextRecordType", &next.rtype);
        w.opt_leaf("NextRecordIdentifier", next.set_identifier.as_deref());
    }
    w.leaf("MaxItems", max)
        .close("ListResourceRecordSetsResponse");
    Ok(w.finish())
}
