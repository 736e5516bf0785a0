//! The `--faults` language: which faults to inject, where and how often.
//!
//! A spec is a list of items separated by commas, semicolons or new lines (a file given
//! as `@PATH` may also hold `#` comments):
//!
//! ```text
//! [SCOPE:]KIND=RATE        SCOPE: *, aws, SERVICE or SERVICE.OPERATION (default *)
//! latency-ms=MS            the latency a `latency` fault adds (default 100)
//! retry-after=SECONDS      the Retry-After of a Kubernetes 429 (default 1, as kube-apiserver)
//! ```
//!
//! Services: `ga` (Global Accelerator), `route53`, `elbv2`, `sts`, `kube` (every cluster's
//! API server). Operations are the AWS operation names the sandbox serves
//! (`route53.ChangeResourceRecordSets`) and, for `kube`, the API verbs (`kube.patch`,
//! `kube.watch`, ...; `kube.discovery` for `/api`, `/apis`, `/openapi`, `/version`).
//! Kinds: `throttle`, `5xx`, `reset-before`, `reset-after`, `latency` everywhere;
//! `conflict` on `kube.update`/`kube.patch`; `gone` and `drop-watch` on `kube.watch`.
//! A rate is a probability per call, `0.1` or `10%`.
//!
//! For each call the most specific item of each kind wins (operation over service over
//! `aws` over `*`), and the kinds are exclusive: one roll picks at most one fault, so the
//! rates that apply to one operation must add up to at most 1. `5%` of `throttle` at `*`
//! and `0` at `route53.GetChange` means no throttling of GetChange.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A service whose calls can be faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Ga,
    Route53,
    Elbv2,
    Sts,
    Kube,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Ga,
        Service::Route53,
        Service::Elbv2,
        Service::Sts,
        Service::Kube,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Ga => "ga",
            Service::Route53 => "route53",
            Service::Elbv2 => "elbv2",
            Service::Sts => "sts",
            Service::Kube => "kube",
        }
    }

    fn parse(s: &str) -> Option<Service> {
        Some(match s {
            "ga" | "globalaccelerator" => Service::Ga,
            "route53" => Service::Route53,
            "elbv2" | "elasticloadbalancing" => Service::Elbv2,
            "sts" => Service::Sts,
            "kube" | "kubernetes" => Service::Kube,
            _ => return None,
        })
    }

    /// The operations the sandbox serves for this service: what a scope may name.
    pub fn operations(self) -> &'static [&'static str] {
        match self {
            Service::Ga => crate::aws::ga::OPERATIONS,
            Service::Route53 => crate::aws::route53::OPERATIONS,
            Service::Elbv2 => crate::aws::elbv2::OPERATIONS,
            Service::Sts => crate::aws::sts::OPERATIONS,
            Service::Kube => crate::kube::OPERATIONS,
        }
    }

    fn is_aws(self) -> bool {
        self != Service::Kube
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What goes wrong with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// The service's own throttling error (Kubernetes: 429 with Retry-After).
    #[serde(rename = "throttle")]
    Throttle,
    /// A 500 or 503 in the protocol's error shape.
    #[serde(rename = "5xx")]
    ServerError,
    /// The connection is reset before the request is applied: nothing changes.
    #[serde(rename = "reset-before")]
    ResetBefore,
    /// The request is applied, then the connection is reset instead of answering.
    #[serde(rename = "reset-after")]
    ResetAfter,
    /// The call is answered normally, `latency-ms` later.
    #[serde(rename = "latency")]
    Latency,
    /// Kubernetes update or patch: 409 Conflict, "the object has been modified".
    #[serde(rename = "conflict")]
    Conflict,
    /// Kubernetes watch: an ERROR event with 410 Expired ("too old resource version").
    #[serde(rename = "gone")]
    Gone,
    /// Kubernetes watch: the stream is cut mid-way, without its final chunk.
    #[serde(rename = "drop-watch")]
    DropWatch,
}

impl Kind {
    /// In the order one roll walks them.
    pub const ALL: [Kind; 8] = [
        Kind::Throttle,
        Kind::ServerError,
        Kind::ResetBefore,
        Kind::ResetAfter,
        Kind::Latency,
        Kind::Conflict,
        Kind::Gone,
        Kind::DropWatch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Throttle => "throttle",
            Kind::ServerError => "5xx",
            Kind::ResetBefore => "reset-before",
            Kind::ResetAfter => "reset-after",
            Kind::Latency => "latency",
            Kind::Conflict => "conflict",
            Kind::Gone => "gone",
            Kind::DropWatch => "drop-watch",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether this kind of fault can happen on a call to `service` `op`.
    pub fn applies(self, service: Service, op: &str) -> bool {
        match self {
            Kind::Conflict => service == Service::Kube && matches!(op, "update" | "patch"),
            Kind::Gone | Kind::DropWatch => service == Service::Kube && op == "watch",
            _ => true,
        }
    }

    /// Where it can happen, for error messages.
    fn where_it_applies(self) -> &'static str {
        match self {
            Kind::Conflict => "kube.update and kube.patch",
            Kind::Gone | Kind::DropWatch => "kube.watch",
            _ => "every call",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which calls an item covers.
#[derive(Debug, Clone, PartialEq)]
enum Scope {
    All,
    Aws,
    Service(Service),
    Operation(Service, &'static str),
}

impl Scope {
    /// How specific the scope is: the most specific item of a kind wins.
    fn rank(&self) -> u8 {
        match self {
            Scope::All => 0,
            Scope::Aws => 1,
            Scope::Service(_) => 2,
            Scope::Operation(..) => 3,
        }
    }

    fn covers(&self, service: Service, op: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Aws => service.is_aws(),
            Scope::Service(s) => *s == service,
            Scope::Operation(s, o) => *s == service && *o == op,
        }
    }

    /// Whether `kind` can happen on at least one call in this scope.
    fn admits(&self, kind: Kind) -> bool {
        match self {
            Scope::All => true,
            Scope::Aws => !matches!(kind, Kind::Conflict | Kind::Gone | Kind::DropWatch),
            Scope::Service(s) => s.operations().iter().any(|op| kind.applies(*s, op)),
            Scope::Operation(s, op) => kind.applies(*s, op),
        }
    }
}

/// One `[SCOPE:]KIND=RATE` item.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    scope: Scope,
    kind: Kind,
    rate: f64,
}

/// Why a spec was refused. `field` is the item's left-hand side as written
/// (`route53.ChangeResourceRecordSets:throttle`), so the user sees what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The spec holds no item at all.
    #[error("--faults: the spec is empty; give at least one item such as `throttle=0.1`")]
    Empty,
    /// An item is not `[SCOPE:]KIND=RATE` or a setting.
    #[error(
        "--faults `{item}`: expected [SCOPE:]KIND=RATE (e.g. `ga:throttle=0.1`), latency-ms=MS or retry-after=SECONDS"
    )]
    Syntax { item: String },
    /// The scope names a service the sandbox does not have.
    #[error(
        "--faults `{field}`: unknown service `{service}` (known: *, aws, ga, route53, elbv2, sts, kube)"
    )]
    UnknownService { field: String, service: String },
    /// The scope names an operation the service does not serve.
    #[error("--faults `{field}`: {service} has no operation `{operation}` (it serves {known})")]
    UnknownOperation {
        field: String,
        service: Service,
        operation: String,
        known: String,
    },
    /// The kind is not one of the fault kinds.
    #[error(
        "--faults `{field}`: unknown fault kind `{kind}` (known: throttle, 5xx, reset-before, reset-after, latency, conflict, gone, drop-watch)"
    )]
    UnknownKind { field: String, kind: String },
    /// The kind can never happen in the scope (a conflict on Route 53).
    #[error("--faults `{field}`: a `{kind}` fault happens only on {applies}, never in this scope")]
    NotApplicable {
        field: String,
        kind: Kind,
        applies: &'static str,
    },
    /// The value is not a number.
    #[error("--faults `{field}`: `{value}` is not a number")]
    NotANumber { field: String, value: String },
    /// A rate below 0 or above 1.
    #[error("--faults `{field}`: rate {value} is outside 0-1")]
    RateOutOfRange { field: String, value: String },
    /// `@FILE` could not be read.
    #[error("--faults @{path}: cannot read the file: {error}")]
    File { path: String, error: String },
    /// The same item twice.
    #[error("--faults `{field}` is given twice")]
    Duplicate { field: String },
    /// The exclusive rates of one operation add up to more than 1.
    #[error(
        "--faults: the rates that apply to {service}.{operation} add up to {sum} ({parts}); one call gets at most one fault, so they must add up to at most 1"
    )]
    SumAboveOne {
        service: Service,
        operation: &'static str,
        sum: f64,
        parts: String,
    },
}

/// A parsed, validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    rules: Vec<Rule>,
    /// What a `latency` fault adds.
    pub latency_ms: u64,
    /// The Retry-After (seconds) of a Kubernetes 429.
    pub retry_after_s: u64,
}

impl FaultSpec {
    /// Parses and validates `text` (the inline form, or a file's contents).
    pub fn parse(text: &str) -> Result<FaultSpec, SpecError> {
        let mut spec = FaultSpec {
            rules: Vec::new(),
            latency_ms: 100,
            retry_after_s: 1,
        };
        let mut seen = std::collections::HashSet::new();
        for item in items(text) {
            let (field, value) = item
                .split_once('=')
                .map(|(f, v)| (f.trim(), v.trim()))
                .filter(|(f, v)| !f.is_empty() && !v.is_empty())
                .ok_or_else(|| SpecError::Syntax { item: item.into() })?;
            if !seen.insert(field.to_string()) {
                return Err(SpecError::Duplicate {
                    field: field.into(),
                });
            }
            match field {
                "latency-ms" => spec.latency_ms = whole(field, value)?,
                "retry-after" => spec.retry_after_s = whole(field, value)?,
                _ => spec.rules.push(rule(field, value)?),
            }
        }
        if spec.rules.is_empty() {
            return Err(SpecError::Empty);
        }
        spec.check_sums()?;
        Ok(spec)
    }

    /// The rate of `kind` on a call to `service` `op`: the most specific item's.
    pub fn rate(&self, service: Service, op: &str, kind: Kind) -> f64 {
        if !kind.applies(service, op) {
            return 0.0;
        }
        self.rules
            .iter()
            .filter(|r| r.kind == kind && r.scope.covers(service, op))
            .max_by_key(|r| r.scope.rank())
            .map_or(0.0, |r| r.rate)
    }

    /// Every operation's rates must fit in one roll.
    fn check_sums(&self) -> Result<(), SpecError> {
        for service in Service::ALL {
            for op in service.operations() {
                let parts: Vec<(Kind, f64)> = Kind::ALL
                    .into_iter()
                    .map(|k| (k, self.rate(service, op, k)))
                    .filter(|(_, r)| *r > 0.0)
                    .collect();
                let sum: f64 = parts.iter().map(|(_, r)| r).sum();
                if sum > 1.0 + 1e-9 {
                    return Err(SpecError::SumAboveOne {
                        service,
                        operation: op,
                        sum: (sum * 1e6).round() / 1e6,
                        parts: parts
                            .iter()
                            .map(|(k, r)| format!("{k} {r}"))
                            .collect::<Vec<_>>()
                            .join(" + "),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The items of a spec's text: split at commas, semicolons and new lines, without
/// `#` comments and blanks.
pub fn items(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split_once('#').map_or(l, |(before, _)| before))
        .flat_map(|l| l.split([',', ';']))
        .map(str::trim)
        .filter(|i| !i.is_empty())
}

fn whole(field: &str, value: &str) -> Result<u64, SpecError> {
    value.parse().map_err(|_| SpecError::NotANumber {
        field: field.into(),
        value: value.into(),
    })
}

fn rule(field: &str, value: &str) -> Result<Rule, SpecError> {
    let (scope_text, kind_text) = match field.split_once(':') {
        Some((s, k)) => (s.trim(), k.trim()),
        None => ("*", field),
    };
    let kind = Kind::parse(kind_text).ok_or_else(|| SpecError::UnknownKind {
        field: field.into(),
        kind: kind_text.into(),
    })?;
    let scope = scope(field, scope_text)?;
    if !scope.admits(kind) {
        return Err(SpecError::NotApplicable {
            field: field.into(),
            kind,
            applies: kind.where_it_applies(),
        });
    }
    let rate = match value.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => value.parse::<f64>(),
    }
    .map_err(|_| SpecError::NotANumber {
        field: field.into(),
        value: value.into(),
    })?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(SpecError::RateOutOfRange {
            field: field.into(),
            value: value.into(),
        });
    }
    Ok(Rule { scope, kind, rate })
}

fn scope(field: &str, text: &str) -> Result<Scope, SpecError> {
    match text {
        "*" | "all" => return Ok(Scope::All),
        "aws" => return Ok(Scope::Aws),
        _ => {}
    }
    let (service_text, op) = match text.split_once('.') {
        Some((s, o)) => (s, Some(o)),
        None => (text, None),
    };
    let service = Service::parse(service_text).ok_or_else(|| SpecError::UnknownService {
        field: field.into(),
        service: service_text.into(),
    })?;
    let Some(op) = op else {
        return Ok(Scope::Service(service));
    };
    let known = service.operations();
    known
        .iter()
        .find(|o| **o == op)
        .map(|o| Scope::Operation(service, o))
        .ok_or_else(|| SpecError::UnknownOperation {
            field: field.into(),
            service,
            operation: op.into(),
            known: known.join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_item_of_a_kind_wins() {
        let s = FaultSpec::parse(
            "throttle=0.1, aws:throttle=20%, route53:throttle=0.3; route53.GetChange:throttle=0\n\
             # a comment\n kube:conflict=0.5 # trailing comment\nlatency-ms=7,retry-after=0",
        )
        .unwrap();
        assert_eq!(s.rate(Service::Kube, "get", Kind::Throttle), 0.1);
        assert_eq!(
            s.rate(Service::Ga, "CreateAccelerator", Kind::Throttle),
            0.2
        );
        assert_eq!(
            s.rate(Service::Route53, "ChangeResourceRecordSets", Kind::Throttle),
            0.3
        );
        assert_eq!(s.rate(Service::Route53, "GetChange", Kind::Throttle), 0.0);
        assert_eq!(s.rate(Service::Kube, "patch", Kind::Conflict), 0.5);
        assert_eq!(s.rate(Service::Kube, "get", Kind::Conflict), 0.0);
        assert_eq!(
            s.rate(Service::Ga, "ListAccelerators", Kind::ServerError),
            0.0
        );
        assert_eq!((s.latency_ms, s.retry_after_s), (7, 0));
        // Kinds that only exist on some calls apply only there, whatever the scope.
        let s = FaultSpec::parse("gone=0.2,drop-watch=0.2,conflict=0.3,5xx=0.1").unwrap();
        assert_eq!(s.rate(Service::Kube, "watch", Kind::Gone), 0.2);
        assert_eq!(s.rate(Service::Kube, "list", Kind::Gone), 0.0);
        assert_eq!(s.rate(Service::Kube, "update", Kind::Conflict), 0.3);
        assert_eq!(
            s.rate(Service::Sts, "GetCallerIdentity", Kind::ServerError),
            0.1
        );
    }

    #[test]
    fn bad_specs_name_the_field() {
        let err = |t: &str| FaultSpec::parse(t).unwrap_err().to_string();
        assert_eq!(
            err("s3:throttle=0.1"),
            "--faults `s3:throttle`: unknown service `s3` (known: *, aws, ga, route53, elbv2, sts, kube)"
        );
        assert!(
            err("route53.CreateBucket:5xx=0.1").starts_with(
                "--faults `route53.CreateBucket:5xx`: route53 has no operation `CreateBucket` (it serves CreateHostedZone, "
            ),
            "{}",
            err("route53.CreateBucket:5xx=0.1")
        );
        assert!(err("kube.exec:throttle=0.1").contains("kube has no operation `exec`"));
        assert_eq!(
            err("ga:throttle=1.5"),
            "--faults `ga:throttle`: rate 1.5 is outside 0-1"
        );
        assert_eq!(
            err("throttle=-0.1"),
            "--faults `throttle`: rate -0.1 is outside 0-1"
        );
        assert_eq!(
            err("throttle=120%"),
            "--faults `throttle`: rate 120% is outside 0-1"
        );
        assert_eq!(
            err("throttle=lots"),
            "--faults `throttle`: `lots` is not a number"
        );
        assert!(
            err("ga:explode=0.1")
                .starts_with("--faults `ga:explode`: unknown fault kind `explode`")
        );
        assert_eq!(
            err("route53:conflict=0.1"),
            "--faults `route53:conflict`: a `conflict` fault happens only on kube.update and kube.patch, never in this scope"
        );
        assert!(err("kube.get:gone=0.1").contains("only on kube.watch"));
        assert!(err("bad").starts_with("--faults `bad`: expected [SCOPE:]KIND=RATE"));
        assert!(err("throttle=").starts_with("--faults `throttle=`: expected"));
        assert_eq!(
            err("throttle=0.1,throttle=0.2"),
            "--faults `throttle` is given twice"
        );
        assert_eq!(
            err(" , # nothing"),
            FaultSpec::parse("").unwrap_err().to_string()
        );
        assert_eq!(
            err("latency-ms=soon"),
            "--faults `latency-ms`: `soon` is not a number"
        );
        assert_eq!(
            err("kube.patch:conflict=0.6,throttle=0.5"),
            "--faults: the rates that apply to kube.patch add up to 1.1 (throttle 0.5 + conflict 0.6); one call gets at most one fault, so they must add up to at most 1"
        );
        // Full rates on one operation are fine.
        assert!(FaultSpec::parse("ga.CreateAccelerator:5xx=1").is_ok());
        assert!(FaultSpec::parse("ga:throttle=0%").is_ok());
    }
}
