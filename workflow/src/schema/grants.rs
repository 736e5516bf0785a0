//! A step's `grants`: each kind of grant read into its typed form, with clusters checked
//! against `[clusters.*]` and regions against `[aws] regions`. What the grants mean at
//! run time is in `crate::grants`.

use std::net::IpAddr;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::{Checker, kind, within};
use crate::cloud::CloudConfig;
use crate::grants::{
    AcceleratorGrant, AcceleratorSelector, DialGuard, Elbv2Grant, Grants, HostedZone,
    KUBERNETES_VERBS, KubernetesGrant, ProbeGrant, Route53Grant,
};

const GRANT_KEYS: &[&str] = &[
    "kubernetes",
    "route53",
    "global_accelerator",
    "elbv2",
    "probe",
    "identity",
];
const KUBERNETES_KEYS: &[&str] = &["clusters", "namespaces", "kinds", "verbs"];
const ROUTE53_KEYS: &[&str] = &["zones", "records"];
const ACCELERATOR_KEYS: &[&str] = &[
    "accelerators",
    "create",
    "max_dial_step",
    "min_dial",
    "max_dial",
    "regions",
];
const ELBV2_KEYS: &[&str] = &["regions"];
const PROBE_KEYS: &[&str] = &["hosts"];

const EMPTY_HELP: &str = "an empty list allows nothing: list what the grant allows, or remove it";
const NAMESPACE_HELP: &str = "a namespace has only lowercase letters, digits and `-` (at most 63), or is \"*\" for every namespace";
const KIND_HELP: &str = "a kind is a CamelCase name such as `Deployment`, or \"*\" for every kind";
const ZONE_HELP: &str =
    "name a hosted zone by its domain (\"example.com\") or its id (\"Z2BJ6XQ5FK7U4H\")";
const RECORD_HELP: &str =
    "write an exact name, `*.` and a name for every name below it, or \"*\" for any record";
const SELECTOR_HELP: &str = "select accelerators with \"name:NAME\", \"tag:KEY=VALUE\" or \"*\"";
const HOST_HELP: &str = "write a host name or an IP address (no scheme, port or path), `*.` and a name for every name below it, or \"*\"";

/// Kinds offered in hints when a kind is written in the wrong case.
const KNOWN_KINDS: &[&str] = &[
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "CronJob",
    "CustomResourceDefinition",
    "DaemonSet",
    "Deployment",
    "Endpoints",
    "EndpointSlice",
    "HorizontalPodAutoscaler",
    "Ingress",
    "IngressClass",
    "IngressClassParams",
    "Job",
    "Lease",
    "MutatingWebhookConfiguration",
    "Namespace",
    "NetworkPolicy",
    "Node",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "PodDisruptionBudget",
    "ReplicaSet",
    "Role",
    "RoleBinding",
    "Secret",
    "Service",
    "ServiceAccount",
    "StatefulSet",
    "TargetGroupBinding",
    "ValidatingWebhookConfiguration",
];

impl Checker<'_> {
    /// The typed form of a step's `grants` table.
    pub(super) fn grants(
        &mut self,
        table: &DeTable<'_>,
        step_scope: &str,
        cloud: &CloudConfig,
    ) -> Grants {
        let scope = format!("`grants` of {step_scope}");
        self.unknown_keys(table, GRANT_KEYS, &scope);
        let mut grants = Grants::default();
        let entry_scope = |key: &str| format!("`grants.{key}` of {step_scope}");
        for (entry, at) in self.grant_entries(table, "kubernetes", &scope) {
            let grant = self.kubernetes_grant(entry, at, &entry_scope("kubernetes"), cloud);
            grants.kubernetes.push(grant);
        }
        for (entry, at) in self.grant_entries(table, "route53", &scope) {
            let grant = self.route53_grant(entry, at, &entry_scope("route53"));
            grants.route53.push(grant);
        }
        for (entry, at) in self.grant_entries(table, "global_accelerator", &scope) {
            let grant =
                self.accelerator_grant(entry, at, &entry_scope("global_accelerator"), cloud);
            grants.global_accelerator.push(grant);
        }
        for (entry, at) in self.grant_entries(table, "elbv2", &scope) {
            let grant = self.elbv2_grant(entry, at, &entry_scope("elbv2"), cloud);
            grants.elbv2.push(grant);
        }
        for (entry, at) in self.grant_entries(table, "probe", &scope) {
            let grant = self.probe_grant(entry, at, &entry_scope("probe"));
            grants.probe.push(grant);
        }
        if let Some(value) = table.get("identity") {
            match value.get_ref() {
                DeValue::Boolean(b) => grants.identity = *b,
                _ => self.wrong_type("identity", &scope, value, "a boolean"),
            }
        }
        grants
    }

    /// The grant tables at `key`: one table, or an array of them.
    fn grant_entries<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
        scope: &str,
    ) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
        let Some(value) = table.get(key) else {
            return Vec::new();
        };
        match value.get_ref() {
            DeValue::Table(t) => vec![(t, value.span())],
            DeValue::Array(items) => {
                let mut entries = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => entries.push((t, item.span())),
                        other => {
                            let message = format!(
                                "wrong type for an entry of `{key}`{}: expected a table, found {}",
                                within(scope),
                                kind(other)
                            );
                            self.report(item.span(), message, None);
                        }
                    }
                }
                entries
            }
            _ => {
                self.wrong_type(key, scope, value, "a table or an array of tables");
                Vec::new()
            }
        }
    }

    /// The list at `key` of a grant, which must be present.
    fn required_list(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        scope: &str,
        at: &Range<usize>,
        help: &str,
    ) -> Vec<(String, Range<usize>)> {
        if !table.contains_key(key) {
            self.missing(key, scope, at.clone(), Some(help.into()));
        }
        let list = self.string_list(table, key, scope, EMPTY_HELP);
        list.unwrap_or_default()
            .into_iter()
            .map(|(text, at)| (text.into_owned(), at))
            .collect()
    }

    fn kubernetes_grant(
        &mut self,
        table: &DeTable<'_>,
        at: Range<usize>,
        scope: &str,
        cloud: &CloudConfig,
    ) -> KubernetesGrant {
        self.unknown_keys(table, KUBERNETES_KEYS, scope);
        let clusters = self.required_list(
            table,
            "clusters",
            scope,
            &at,
            "name clusters declared as [clusters.NAME], or write [\"*\"] for all of them",
        );
        for (name, span) in &clusters {
            if self.full() {
                break;
            }
            if name != "*" && !cloud.clusters.contains_key(name) {
                let help = self
                    .hints
                    .did_you_mean(name, cloud.clusters.keys().map(String::as_str))
                    .or_else(|| Some(format!("declare it as [clusters.{name}] with its `region`")));
                self.report(
                    span.clone(),
                    format!("unknown cluster `{name}`{}", within(scope)),
                    help,
                );
            }
        }
        let namespaces = self.required_list(
            table,
            "namespaces",
            scope,
            &at,
            "list namespaces, or write [\"*\"] for all of them",
        );
        for (namespace, span) in &namespaces {
            if *namespace != "*" && !is_dns_label(namespace) {
                self.report(
                    span.clone(),
                    format!("invalid namespace `{namespace}`{}", within(scope)),
                    Some(NAMESPACE_HELP.into()),
                );
            }
        }
        let kinds = self.required_list(
            table,
            "kinds",
            scope,
            &at,
            "list kinds such as \"Deployment\", or write [\"*\"] for all of them",
        );
        for (kind, span) in &kinds {
            if *kind != "*" && !is_kind(kind) {
                let help = KNOWN_KINDS
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(kind))
                    .map(|k| format!("did you mean `{k}`?"))
                    .or_else(|| Some(KIND_HELP.into()));
                self.report(
                    span.clone(),
                    format!("invalid kind `{kind}`{}", within(scope)),
                    help,
                );
            }
        }
        let verbs_help = format!(
            "verbs are {}, or \"*\" for all",
            KUBERNETES_VERBS.join(", ")
        );
        let verbs = self.required_list(table, "verbs", scope, &at, &verbs_help);
        for (verb, span) in &verbs {
            if verb != "*" && !KUBERNETES_VERBS.contains(&verb.as_str()) {
                let help = self
                    .hints
                    .did_you_mean(verb, KUBERNETES_VERBS.iter().copied())
                    .or_else(|| Some(verbs_help.clone()));
                self.report(
                    span.clone(),
                    format!("unknown verb `{verb}`{}", within(scope)),
                    help,
                );
            }
        }
        let owned = |list: Vec<(String, Range<usize>)>| list.into_iter().map(|(s, _)| s).collect();
        KubernetesGrant {
            clusters: owned(clusters),
            namespaces: owned(namespaces),
            kinds: owned(kinds),
            verbs: owned(verbs),
        }
    }

    fn route53_grant(
        &mut self,
        table: &DeTable<'_>,
        at: Range<usize>,
        scope: &str,
    ) -> Route53Grant {
        self.unknown_keys(table, ROUTE53_KEYS, scope);
        let mut zones = Vec::new();
        for (zone, span) in self.required_list(table, "zones", scope, &at, ZONE_HELP) {
            let id = zone.strip_prefix("/hostedzone/").unwrap_or(&zone);
            if is_zone_id(id) {
                zones.push(HostedZone::Id(id.to_owned()));
            } else if is_dns_name(&zone) {
                zones.push(HostedZone::Name(normalize_name(&zone)));
            } else {
                self.report(
                    span,
                    format!("invalid hosted zone `{zone}`{}", within(scope)),
                    Some(ZONE_HELP.into()),
                );
            }
        }
        let zone_names: Vec<&str> = zones
            .iter()
            .filter_map(|z| match z {
                HostedZone::Name(name) => Some(name.as_str()),
                HostedZone::Id(_) => None,
            })
            .collect();
        // Records can be checked against the zones only when every zone is named.
        let check_inside = !zone_names.is_empty() && zone_names.len() == zones.len();
        let mut records = Vec::new();
        let listed = self
            .string_list(table, "records", scope, EMPTY_HELP)
            .unwrap_or_default();
        for (record, span) in listed {
            let name = record.strip_prefix("*.").unwrap_or(&record);
            if record != "*" && !is_dns_name(name) {
                self.report(
                    span,
                    format!("invalid record name `{record}`{}", within(scope)),
                    Some(RECORD_HELP.into()),
                );
                continue;
            }
            let normalized = normalize_name(&record);
            let name = normalized.strip_prefix("*.").unwrap_or(&normalized);
            if check_inside && record != "*" && !zone_names.iter().any(|z| is_within(name, z)) {
                self.report(
                    span,
                    format!("record `{record}`{} is in none of its zones", within(scope)),
                    Some(format!(
                        "the zones of this grant: {}",
                        zone_names.join(", ")
                    )),
                );
                continue;
            }
            records.push(normalized);
        }
        Route53Grant { zones, records }
    }

    fn accelerator_grant(
        &mut self,
        table: &DeTable<'_>,
        at: Range<usize>,
        scope: &str,
        cloud: &CloudConfig,
    ) -> AcceleratorGrant {
        self.unknown_keys(table, ACCELERATOR_KEYS, scope);
        let mut accelerators = Vec::new();
        for (text, span) in self.required_list(table, "accelerators", scope, &at, SELECTOR_HELP) {
            match parse_selector(&text) {
                Some(selector) => accelerators.push(selector),
                None => {
                    let help = if is_accelerator_name(&text) {
                        format!("did you mean `name:{text}`?")
                    } else {
                        SELECTOR_HELP.into()
                    };
                    self.report(
                        span,
                        format!("invalid accelerator selector `{text}`{}", within(scope)),
                        Some(help),
                    );
                }
            }
        }
        let create = match table.get("create") {
            Some(value) => match value.get_ref() {
                DeValue::Boolean(b) => *b,
                _ => {
                    self.wrong_type("create", scope, value, "a boolean");
                    false
                }
            },
            None => false,
        };
        let guard = self.dial_guard(table, at, scope, cloud);
        AcceleratorGrant {
            accelerators,
            create,
            guard,
        }
    }

    /// The guard rails of a `global_accelerator` grant: dials are percentages, and
    /// `regions` are checked as any region is.
    fn dial_guard(
        &mut self,
        table: &DeTable<'_>,
        at: Range<usize>,
        scope: &str,
        cloud: &CloudConfig,
    ) -> DialGuard {
        let mut percent = |key: &str| {
            let value = table.get(key)?;
            let number = match value.get_ref() {
                DeValue::Integer(i) => i.as_str().parse::<f64>().ok(),
                DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
                _ => None,
            };
            match number {
                Some(n) if (0.0..=100.0).contains(&n) => Some(n as f32),
                Some(_) => {
                    self.report(
                        value.span(),
                        format!("`{key}`{} must be between 0 and 100", within(scope)),
                        Some("dials are percentages of traffic".into()),
                    );
                    None
                }
                None => {
                    self.wrong_type(key, scope, value, "a number");
                    None
                }
            }
        };
        let max_step = percent("max_dial_step");
        let min = percent("min_dial");
        let max = percent("max_dial");
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            self.report(
                at.clone(),
                format!(
                    "`min_dial` ({lo}) is above `max_dial` ({hi}){}",
                    within(scope)
                ),
                None,
            );
        }
        let mut regions = Vec::new();
        if table.contains_key("regions") {
            let help = "list the regions whose endpoint groups may be changed, or remove `regions`";
            for (region, span) in self
                .string_list(table, "regions", scope, help)
                .unwrap_or_default()
            {
                if self.region(&region, span.clone(), scope) {
                    self.within_aws_regions(&region, span, scope, &cloud.aws);
                    regions.push(region.into_owned());
                }
            }
        }
        DialGuard {
            max_step,
            min,
            max,
            regions,
        }
    }

    fn elbv2_grant(
        &mut self,
        table: &DeTable<'_>,
        at: Range<usize>,
        scope: &str,
        cloud: &CloudConfig,
    ) -> Elbv2Grant {
        self.unknown_keys(table, ELBV2_KEYS, scope);
        let listed = self.required_list(
            table,
            "regions",
            scope,
            &at,
            "list regions such as \"us-east-1\", or write [\"*\"] for all of them",
        );
        let mut regions = Vec::new();
        for (region, span) in listed {
            if region == "*" {
                regions.push(region);
            } else if self.region(&region, span.clone(), scope) {
                self.within_aws_regions(&region, span, scope, &cloud.aws);
                regions.push(region);
            }
        }
        Elbv2Grant { regions }
    }

    fn probe_grant(&mut self, table: &DeTable<'_>, at: Range<usize>, scope: &str) -> ProbeGrant {
        self.unknown_keys(table, PROBE_KEYS, scope);
        let mut hosts = Vec::new();
        for (host, span) in self.required_list(table, "hosts", scope, &at, HOST_HELP) {
            match normalize_host(&host) {
                Some(host) => hosts.push(host),
                None => self.report(
                    span,
                    format!("invalid probe host `{host}`{}", within(scope)),
                    Some(HOST_HELP.into()),
                ),
            }
        }
        ProbeGrant { hosts }
    }
}

/// A Kubernetes namespace name: an RFC 1123 label.
fn is_dns_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

/// A Kubernetes kind: a letter in upper case, then letters and digits.
fn is_kind(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// A Route 53 hosted zone id: `Z` and upper-case letters and digits.
fn is_zone_id(text: &str) -> bool {
    text.len() > 1
        && text.starts_with('Z')
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A DNS name, one trailing dot allowed: labels of 1 to 63 letters, digits, `-` and `_`.
fn is_dns_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Lowercase, without a trailing dot: the form grants store names in.
fn normalize_name(text: &str) -> String {
    text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase()
}

/// Whether `name` is `zone` or below it.
fn is_within(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// An accelerator name as Global Accelerator allows it.
fn is_accelerator_name(text: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    (1..=64).contains(&text.len())
        && text.bytes().all(ok)
        && !text.starts_with(['.', '-'])
        && !text.ends_with(['.', '-'])
}

fn parse_selector(text: &str) -> Option<AcceleratorSelector> {
    if text == "*" {
        return Some(AcceleratorSelector::Any);
    }
    if let Some(name) = text.strip_prefix("name:") {
        return is_accelerator_name(name).then(|| AcceleratorSelector::Name(name.to_owned()));
    }
    let (key, value) = text.strip_prefix("tag:")?.split_once('=')?;
    (!key.is_empty() && key.len() <= 128 && value.len() <= 256).then(|| AcceleratorSelector::Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// A probe host pattern in stored form, or `None` if it is not one.
fn normalize_host(text: &str) -> Option<String> {
    if text == "*" {
        return Some(text.to_owned());
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(addr) = bare.parse::<IpAddr>() {
        return Some(addr.to_string());
    }
    let name = text.strip_prefix("*.").unwrap_or(text);
    is_dns_name(name).then(|| normalize_name(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_shapes() {
        assert!(is_dns_label("kube-system"));
        assert!(!is_dns_label("Kube"));
        assert!(!is_dns_label("-a"));
        assert!(is_kind("ClusterRole"));
        assert!(!is_kind("deployment"));
        assert!(is_zone_id("Z2BJ6XQ5FK7U4H"));
        assert!(!is_zone_id("example.com"));
        assert!(is_dns_name("Example.com."));
        assert!(!is_dns_name("a..b"));
        assert!(is_within("a.example.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com"));
        assert_eq!(normalize_host("[::1]").as_deref(), Some("::1"));
        assert_eq!(
            normalize_host("*.Example.com.").as_deref(),
            Some("*.example.com")
        );
        assert_eq!(normalize_host("https://x/"), None);
        assert_eq!(
            parse_selector("tag:team="),
            Some(AcceleratorSelector::Tag {
                key: "team".into(),
                value: String::new()
            })
        );
        assert_eq!(parse_selector("failover-demo"), None);
    }
}
