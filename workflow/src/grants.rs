//! A step's grants (deny by default) and the matcher the host's capability layer calls
//! before every cloud call. Matching is pure and allocation-free until a call is denied;
//! then the message names exactly what was missing, for the plugin and the audit log.
//!
//! Names are stored as written, except DNS names (hosted zones, records, probe hosts),
//! which are stored lowercase without a trailing dot so matching only folds the caller's
//! side.

use std::fmt;
use std::net::IpAddr;

/// What a step may do outside its sandbox. The default grants nothing: such a step can
/// only log and use its own state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// `grants.kubernetes`: any entry may allow a call.
    pub kubernetes: Vec<KubernetesGrant>,
    /// `grants.route53`.
    pub route53: Vec<Route53Grant>,
    /// `grants.global_accelerator`.
    pub global_accelerator: Vec<AcceleratorGrant>,
    /// `grants.elbv2`.
    pub elbv2: Vec<Elbv2Grant>,
    /// `grants.probe`.
    pub probe: Vec<ProbeGrant>,
    /// `grants.identity`: may read the caller identity (STS GetCallerIdentity).
    pub identity: bool,
}

/// One entry of `grants.kubernetes`. Each list holds names or `"*"` for any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubernetesGrant {
    /// Names of `[clusters.*]` tables.
    pub clusters: Vec<String>,
    /// Namespaces of namespaced objects.
    pub namespaces: Vec<String>,
    /// Kinds, e.g. `Deployment`; a cluster-scoped kind must be named (see [`Grants::kubernetes`]).
    pub kinds: Vec<String>,
    /// Verbs, from [`KUBERNETES_VERBS`].
    pub verbs: Vec<String>,
}

/// The verbs a Kubernetes grant may list (besides `"*"`).
pub const KUBERNETES_VERBS: &[&str] = &[
    "get", "list", "watch", "apply", "create", "patch", "delete", "scale", "wait",
];

/// One entry of `grants.route53`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route53Grant {
    /// The hosted zones.
    pub zones: Vec<HostedZone>,
    /// Record names the step may change or read one by one: exact names, `*.` followed
    /// by a name (any name below it, not the name itself), or `"*"` for any record of the
    /// zones. Lowercase, without a trailing dot. Empty: zone-level calls only.
    pub records: Vec<String>,
}

/// A hosted zone, as a grant names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostedZone {
    /// By domain name, lowercase, without a trailing dot.
    Name(String),
    /// By id (`Z...`), without a `/hostedzone/` prefix.
    Id(String),
}

/// One entry of `grants.global_accelerator`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceleratorGrant {
    /// Which accelerators: any selector may match.
    pub accelerators: Vec<AcceleratorSelector>,
    /// `create`: whether the step may create accelerators its selectors match.
    pub create: bool,
    /// Guard rails on traffic-dial changes of the selected accelerators' endpoint
    /// groups (all unrestricted by default).
    pub guard: DialGuard,
}

/// Guard rails on what an UpdateEndpointGroup may do to a group's traffic dial. They
/// bound a routing policy's decisions (and any step holding the grant), so a buggy or
/// hostile policy cannot move more traffic, or touch other regions, than its owner
/// allowed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DialGuard {
    /// `max_dial_step`: the most a dial may move in one call, in percentage points.
    pub max_step: Option<f32>,
    /// `min_dial`: no dial may be set below this.
    pub min: Option<f32>,
    /// `max_dial`: no dial may be set above this.
    pub max: Option<f32>,
    /// `regions`: the endpoint groups' regions that may be changed; empty for all.
    pub regions: Vec<String>,
}

impl Eq for DialGuard {}

impl DialGuard {
    /// Whether the guard restricts nothing.
    pub fn is_open(&self) -> bool {
        self == &DialGuard::default()
    }

    /// May a group in `region` go from dial `from` to dial `to`? The error says which
    /// rail the change crosses.
    pub fn check(&self, region: &str, from: f32, to: f32) -> Result<(), String> {
        if !self.regions.is_empty() && !self.regions.iter().any(|r| r == region) {
            return Err(format!(
                "the guard rails allow changing only the endpoint groups in {}, not `{region}`",
                self.regions.join(", ")
            ));
        }
        if !to.is_finite() {
            return Err(format!("dial {to} is not a number"));
        }
        if let Some(min) = self.min.filter(|m| to < *m) {
            return Err(format!(
                "dial {to} is below the guard rail `min_dial = {min}`"
            ));
        }
        if let Some(max) = self.max.filter(|m| to > *m) {
            return Err(format!(
                "dial {to} is above the guard rail `max_dial = {max}`"
            ));
        }
        if let Some(step) = self.max_step.filter(|s| (to - from).abs() > *s + 1e-3) {
            return Err(format!(
                "moving the dial from {from} to {to} is more than the guard rail `max_dial_step = {step}`"
            ));
        }
        Ok(())
    }

    /// The dial closest to `to` that `check` allows from `from` (for a group whose
    /// region the guard allows): what a policy's decision is clamped to.
    pub fn clamp(&self, from: f32, to: f32) -> f32 {
        let mut dial = if to.is_finite() { to } else { from };
        dial = dial.clamp(self.min.unwrap_or(0.0), self.max.unwrap_or(100.0));
        if let Some(step) = self.max_step {
            dial = dial.clamp(from - step, from + step);
        }
        dial.clamp(0.0, 100.0)
    }
}

/// How a grant picks accelerators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceleratorSelector {
    /// `"*"`: every accelerator.
    Any,
    /// `"name:NAME"`: the accelerators with this exact name.
    Name(String),
    /// `"tag:KEY=VALUE"`: the accelerators with this tag.
    Tag {
        /// The tag key.
        key: String,
        /// The tag value (may be empty).
        value: String,
    },
}

/// One entry of `grants.elbv2`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elbv2Grant {
    /// Regions (or `"*"`) where the step may use Elastic Load Balancing.
    pub regions: Vec<String>,
}

/// One entry of `grants.probe`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeGrant {
    /// Hosts the step may probe: exact names or IP addresses, `*.` followed by a name, or
    /// `"*"`. Lowercase, without a trailing dot; IPv6 addresses without brackets.
    pub hosts: Vec<String>,
}

/// A call its step's grants do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{missing}")]
pub struct Denied {
    /// What was missing, as one sentence that ends with the grant to add it to, e.g.
    /// "no grant allows `apply` of Deployment in namespace `default` of cluster
    /// `primary` (grants.kubernetes)". It is also the `Display` of the error.
    pub missing: String,
}

impl Denied {
    fn new(missing: String) -> Self {
        Denied { missing }
    }
}

/// `"*"` or an exact entry.
fn any_or(list: &[String], wanted: &str) -> bool {
    list.iter().any(|s| s == "*" || s == wanted)
}

fn has_star(list: &[String]) -> bool {
    list.iter().any(|s| s == "*")
}

/// A DNS name as given by a caller: without one trailing dot (compared ASCII
/// case-insensitively afterwards).
fn trim_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// Whether `pattern` (lowercase, no trailing dot: an exact name, `*.` and a name, or
/// `*`) matches `name` (already trimmed, any case).
fn name_matches(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix('*') {
        // The suffix keeps its dot, so `*.example.com` cannot match `example.com` or
        // `badexample.com`.
        Some(suffix) => {
            name.len() > suffix.len()
                && name.is_char_boundary(name.len() - suffix.len())
                && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
        None => pattern.eq_ignore_ascii_case(name),
    }
}

impl Grants {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self == &Grants::default()
    }

    /// May the step call `verb` on a `kind` object in `cluster`?
    ///
    /// `namespace` is the object's namespace; `Some("*")` is a call across all
    /// namespaces (a list or watch), which needs a grant with `namespaces = ["*"]`;
    /// `None` is a cluster-scoped object (a Namespace, a ClusterRole, a CRD, ...), which
    /// no namespace list covers: the grant must name its kind, or have both `kinds` and
    /// `namespaces` set to `["*"]`.
    pub fn kubernetes(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        kind: &str,
        verb: &str,
    ) -> Result<(), Denied> {
        let allowed = self.kubernetes.iter().any(|g| {
            any_or(&g.clusters, cluster)
                && any_or(&g.verbs, verb)
                && match namespace {
                    Some("*") => has_star(&g.namespaces) && any_or(&g.kinds, kind),
                    Some(ns) => any_or(&g.namespaces, ns) && any_or(&g.kinds, kind),
                    None => {
                        g.kinds.iter().any(|k| k == kind)
                            || (has_star(&g.kinds) && has_star(&g.namespaces))
                    }
                }
        });
        if allowed {
            return Ok(());
        }
        let place = match namespace {
            Some("*") => " in all namespaces".to_owned(),
            Some(ns) => format!(" in namespace `{ns}`"),
            None => String::new(),
        };
        Err(Denied::new(format!(
            "no grant allows `{verb}` of {kind}{place} of cluster `{cluster}` (grants.kubernetes)"
        )))
    }

    /// May the step use hosted zone `zone` (its name, or its id when that is all the
    /// host knows), and, with `record_name`, that record of it? A zone granted by name
    /// matches only a name, one granted by id only an id; [`Grants::route53_zone`]
    /// checks both at once. Names compare case-insensitively, ignoring a trailing dot.
    pub fn route53(&self, zone: &str, record_name: Option<&str>) -> Result<(), Denied> {
        let zone_matches = |z: &HostedZone| match z {
            HostedZone::Name(name) => name.eq_ignore_ascii_case(trim_dot(zone)),
            HostedZone::Id(id) => id == zone.strip_prefix("/hostedzone/").unwrap_or(zone),
        };
        self.route53_check(zone_matches, record_name)
            .map_err(|()| Self::route53_denied(&format!("`{zone}`"), record_name))
    }

    /// [`Grants::route53`] for a zone whose id and name are both known: a grant of either
    /// allows it.
    pub fn route53_zone(
        &self,
        zone_id: &str,
        zone_name: &str,
        record_name: Option<&str>,
    ) -> Result<(), Denied> {
        let id = zone_id.strip_prefix("/hostedzone/").unwrap_or(zone_id);
        let zone_matches = |z: &HostedZone| match z {
            HostedZone::Name(name) => name.eq_ignore_ascii_case(trim_dot(zone_name)),
            HostedZone::Id(granted) => granted == id,
        };
        self.route53_check(zone_matches, record_name)
            .map_err(|()| Self::route53_denied(&format!("`{zone_name}` ({id})"), record_name))
    }

    fn route53_check(
        &self,
        zone_matches: impl Fn(&HostedZone) -> bool,
        record_name: Option<&str>,
    ) -> Result<(), ()> {
        let record = record_name.map(trim_dot);
        let allowed = self.route53.iter().any(|g| {
            g.zones.iter().any(&zone_matches)
                && record.is_none_or(|r| g.records.iter().any(|p| name_matches(p, r)))
        });
        if allowed { Ok(()) } else { Err(()) }
    }

    fn route53_denied(zone: &str, record_name: Option<&str>) -> Denied {
        Denied::new(match record_name {
            Some(record) => {
                format!("no grant allows record `{record}` in hosted zone {zone} (grants.route53)")
            }
            None => format!("no grant allows hosted zone {zone} (grants.route53)"),
        })
    }

    /// May the step act on the accelerator called `name` with `tags`, or create it
    /// (`creating`)? Creating needs a grant with `create = true` whose selectors match
    /// the new accelerator's name or tags. A call on no particular accelerator (`None`
    /// and no tags: listing) is allowed by any accelerator grant; the host then shows the
    /// step only the accelerators it may use. Listeners and endpoint groups are checked
    /// as their accelerator.
    pub fn accelerator(
        &self,
        name: Option<&str>,
        tags: &[(String, String)],
        creating: bool,
    ) -> Result<(), Denied> {
        let listing = name.is_none() && tags.is_empty() && !creating;
        let allowed = self.global_accelerator.iter().any(|g| {
            (g.create || !creating)
                && (listing || g.accelerators.iter().any(|s| s.matches(name, tags)))
        });
        if allowed {
            return Ok(());
        }
        if listing {
            return Err(Denied::new(
                "no grant allows listing accelerators (grants.global_accelerator)".to_owned(),
            ));
        }
        let mut what = String::from("accelerator");
        if let Some(name) = name {
            what.push_str(&format!(" `{name}`"));
        }
        if !tags.is_empty() {
            let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            what.push_str(&format!(" tagged {}", tags.join(", ")));
        }
        Err(Denied::new(if creating {
            format!(
                "no grant allows creating {what} (grants.global_accelerator with `create = true`)"
            )
        } else {
            format!("no grant allows {what} (grants.global_accelerator)")
        }))
    }

    /// The guard rails that apply to the accelerator called `name` with `tags`: those
    /// of the first grant entry that selects it, open when none does. Entries are
    /// alternatives, so a change is allowed when any selecting entry allows it
    /// ([`Grants::dial_change`]); a policy's decisions are clamped to the first.
    pub fn dial_guard(&self, name: &str, tags: &[(String, String)]) -> DialGuard {
        self.global_accelerator
            .iter()
            .find(|g| g.accelerators.iter().any(|s| s.matches(Some(name), tags)))
            .map(|g| g.guard.clone())
            .unwrap_or_default()
    }

    /// Whether any grant entry that selects the accelerator has guard rails: only then
    /// does the host need to read an endpoint group before changing it.
    pub fn has_dial_guards(&self) -> bool {
        self.global_accelerator.iter().any(|g| !g.guard.is_open())
    }

    /// May the step move the dial of an endpoint group in `region` of accelerator `name`
    /// from `from` to `to`? Checked after [`Grants::accelerator`] allowed the call.
    pub fn dial_change(
        &self,
        name: &str,
        tags: &[(String, String)],
        region: &str,
        from: f32,
        to: f32,
    ) -> Result<(), Denied> {
        let mut refusal = None;
        for g in &self.global_accelerator {
            if !g.accelerators.iter().any(|s| s.matches(Some(name), tags)) {
                continue;
            }
            match g.guard.check(region, from, to) {
                Ok(()) => return Ok(()),
                Err(why) => refusal = refusal.or(Some(why)),
            }
        }
        Err(Denied::new(format!(
            "{} (grants.global_accelerator of accelerator `{name}`)",
            refusal.unwrap_or_else(|| "no grant selects this accelerator".into())
        )))
    }

    /// May the step use Elastic Load Balancing v2 in `region`?
    pub fn elbv2(&self, region: &str) -> Result<(), Denied> {
        if self.elbv2.iter().any(|g| any_or(&g.regions, region)) {
            return Ok(());
        }
        Err(Denied::new(format!(
            "no grant allows Elastic Load Balancing in region `{region}` (grants.elbv2)"
        )))
    }

    /// May the step probe `host` (a URL's host: a name or an IP address, IPv6 with or
    /// without brackets)?
    pub fn probe(&self, host: &str) -> Result<(), Denied> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let bare = trim_dot(bare);
        // IPv6 has many spellings of one address: compare those by value.
        let v6 = bare
            .contains(':')
            .then(|| bare.parse::<IpAddr>().ok())
            .flatten();
        let allowed = self.probe.iter().any(|g| {
            g.hosts.iter().any(|p| match v6 {
                Some(addr) if p != "*" => p.parse::<IpAddr>().is_ok_and(|a| a == addr),
                _ => name_matches(p, bare),
            })
        });
        if allowed {
            return Ok(());
        }
        Err(Denied::new(format!(
            "no grant allows probing host `{host}` (grants.probe)"
        )))
    }

    /// May the step read the caller identity?
    pub fn identity(&self) -> Result<(), Denied> {
        if self.identity {
            return Ok(());
        }
        Err(Denied::new(
            "no grant allows reading the caller identity (grants.identity)".to_owned(),
        ))
    }

    /// One line per grant, for `runner validate`; empty when nothing is granted.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for g in &self.kubernetes {
            lines.push(format!(
                "kubernetes: clusters {}; namespaces {}; kinds {}; verbs {}",
                g.clusters.join(", "),
                g.namespaces.join(", "),
                g.kinds.join(", "),
                g.verbs.join(", ")
            ));
        }
        for g in &self.route53 {
            let zones: Vec<&str> = g
                .zones
                .iter()
                .map(|z| match z {
                    HostedZone::Name(s) | HostedZone::Id(s) => s.as_str(),
                })
                .collect();
            let records = if g.records.is_empty() {
                "none (zone-level calls only)".to_owned()
            } else {
                g.records.join(", ")
            };
            lines.push(format!(
                "route53: zones {}; records {records}",
                zones.join(", ")
            ));
        }
        for g in &self.global_accelerator {
            let selectors: Vec<String> = g.accelerators.iter().map(|s| s.to_string()).collect();
            let create = if g.create {
                "may create"
            } else {
                "may not create"
            };
            let mut rails = Vec::new();
            if let Some(step) = g.guard.max_step {
                rails.push(format!("max_dial_step {step}"));
            }
            if let Some(min) = g.guard.min {
                rails.push(format!("min_dial {min}"));
            }
            if let Some(max) = g.guard.max {
                rails.push(format!("max_dial {max}"));
            }
            if !g.guard.regions.is_empty() {
                rails.push(format!("dials of {} only", g.guard.regions.join(", ")));
            }
            let rails = if rails.is_empty() {
                String::new()
            } else {
                format!("; guard rails: {}", rails.join(", "))
            };
            lines.push(format!(
                "global_accelerator: accelerators {}; {create}{rails}",
                selectors.join(", ")
            ));
        }
        for g in &self.elbv2 {
            lines.push(format!("elbv2: regions {}", g.regions.join(", ")));
        }
        for g in &self.probe {
            lines.push(format!("probe: hosts {}", g.hosts.join(", ")));
        }
        if self.identity {
            lines.push("identity: may read the caller identity".to_owned());
        }
        lines
    }
}

impl AcceleratorSelector {
    fn matches(&self, name: Option<&str>, tags: &[(String, String)]) -> bool {
        match self {
            AcceleratorSelector::Any => true,
            AcceleratorSelector::Name(wanted) => name == Some(wanted.as_str()),
            AcceleratorSelector::Tag { key, value } => {
                tags.iter().any(|(k, v)| k == key && v == value)
            }
        }
    }
}

/// As written in the workflow: `*`, `name:NAME` or `tag:KEY=VALUE`.
impl fmt::Display for AcceleratorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceleratorSelector::Any => f.write_str("*"),
            AcceleratorSelector::Name(name) => write!(f, "name:{name}"),
            AcceleratorSelector::Tag { key, value } => write!(f, "tag:{key}={value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_need_a_label_before_the_suffix() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(name_matches("*.example.com", "A.B.Example.COM"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "badexample.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(name_matches("example.com", "EXAMPLE.com"));
        assert!(name_matches("*", "anything"));
        assert!(!name_matches("*.é.com", "x.com"));
    }
}
