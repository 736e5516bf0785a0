//! What the sandbox's DNS server answers, read from the AWS state: the hosted zones'
//! record sets (alias records followed to an accelerator, an ALB or another record),
//! and the names AWS itself would serve: each accelerator's and each ALB's DNS name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::wire::{
    Answer, CLASS_ANY, CLASS_IN, Question, RData, Rcode, Record, TYPE_A, TYPE_AAAA, TYPE_ANY,
    TYPE_CNAME, TYPE_NS, TYPE_SOA, TYPE_TXT,
};
use crate::aws::AwsState;
use crate::aws::route53::{AliasTarget, HostedZone, RecordSet};

/// Global Accelerator's hosted zone id, the one alias records to an accelerator carry.
pub const GA_ZONE_ID: &str = "Z2BJ6XQ5FK7U4H";
/// What Route 53 answers alias records with (it has no TTL of its own).
const ALIAS_TTL: u32 = 60;
/// CNAMEs followed inside the sandbox's own data before the answer stops.
const MAX_CNAME_CHAIN: usize = 8;

/// Answers `q` from `state`. `home_region` picks among latency records.
pub fn answer(state: &AwsState, q: &Question, home_region: &str) -> Answer {
    if q.qclass != CLASS_IN && q.qclass != CLASS_ANY {
        return Answer::rcode(Rcode::Refused);
    }
    let name = normalize(&q.name);
    // ANY is answered as A: modern servers no longer enumerate (RFC 8482), and A is
    // what a person typing `dig ANY` wants to see here.
    let qtype = if q.qtype == TYPE_ANY { TYPE_A } else { q.qtype };
    let r = Resolver { state, home_region };
    let Some(found) = r.lookup(&name, qtype) else {
        return Answer::rcode(Rcode::Refused);
    };
    let mut next = cname_target(&found.records, qtype);
    let mut answer = Answer {
        rcode: found.rcode,
        aa: found.aa,
        answers: stamp(&q.name, found.records),
        authority: found.authority,
    };
    // A CNAME into names the sandbox serves is followed here, as an authoritative
    // server does within its own data; one to elsewhere is left to the client.
    let mut seen = vec![name];
    while let Some(target) = next.take() {
        let target_name = normalize(&target);
        if seen.contains(&target_name) || seen.len() > MAX_CNAME_CHAIN {
            break;
        }
        seen.push(target_name.clone());
        let Some(found) = r.lookup(&target_name, qtype) else {
            break;
        };
        next = cname_target(&found.records, qtype);
        // The status is the last name's (RFC 6604): a CNAME to a missing name is NXDOMAIN.
        answer.rcode = found.rcode;
        answer.authority = found.authority;
        answer.answers.extend(stamp(&target, found.records));
    }
    answer
}

/// The target of a CNAME among `records`, unless the CNAME itself was asked for.
fn cname_target(records: &[Data], qtype: u16) -> Option<String> {
    if qtype == TYPE_CNAME {
        return None;
    }
    records.iter().find_map(|d| match (&d.data, d.rtype) {
        (RData::Name(t), TYPE_CNAME) => Some(t.clone()),
        _ => None,
    })
}

/// Gives records their owner name.
fn stamp(owner: &str, records: Vec<Data>) -> Vec<Record> {
    records
        .into_iter()
        .map(|d| Record {
            name: owner.to_string(),
            rtype: d.rtype,
            ttl: d.ttl,
            data: d.data,
        })
        .collect()
}

/// Lower case with a trailing dot: how the state stores names.
fn normalize(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

/// One record's type, TTL and data, before it is given its owner name.
struct Data {
    rtype: u16,
    ttl: u32,
    data: RData,
}

/// The answer for one name (no CNAME following).
struct Found {
    rcode: Rcode,
    aa: bool,
    records: Vec<Data>,
    authority: Vec<Record>,
}

struct Resolver<'a> {
    state: &'a AwsState,
    home_region: &'a str,
}

impl Resolver<'_> {
    /// `None` when the sandbox knows nothing about `name` (REFUSED).
    fn lookup(&self, name: &str, qtype: u16) -> Option<Found> {
        if let Some(records) = self.aws_name(name, qtype) {
            return Some(Found {
                rcode: Rcode::NoError,
                aa: true,
                records,
                authority: Vec::new(),
            });
        }
        let zone = self.zone_of(name)?;
        let soa = zone_soa(zone);
        let sets = self.sets_at(zone, name);
        if sets.is_empty() && !is_empty_non_terminal(zone, name) {
            return Some(Found {
                rcode: Rcode::NxDomain,
                aa: true,
                records: Vec::new(),
                authority: soa.into_iter().collect(),
            });
        }
        let mut records = self.records_of(&sets, qtype, 0);
        if records.is_empty() && qtype != TYPE_CNAME {
            records = self.records_of(&sets, TYPE_CNAME, 0);
        }
        let authority = if records.is_empty() {
            soa.into_iter().collect()
        } else {
            Vec::new()
        };
        Some(Found {
            rcode: Rcode::NoError,
            aa: true,
            records,
            authority,
        })
    }

    /// An accelerator's or ALB's own DNS name, which AWS answers outside any zone.
    fn aws_name(&self, name: &str, qtype: u16) -> Option<Vec<Data>> {
        for a in &self.state.ga.accelerators {
            let plain = normalize(&a.dns_name());
            let dual = format!("{}.dualstack.awsglobalaccelerator.com.", a.dns_prefix);
            if name == plain || name == dual {
                let v6 = if name == dual { &a.ipv6[..] } else { &[][..] };
                return Some(ip_records(&a.ips, v6, qtype));
            }
        }
        let bare = name.strip_prefix("dualstack.").unwrap_or(name);
        let lb = self
            .state
            .elbv2
            .load_balancers
            .iter()
            .find(|lb| normalize(&lb.dns_name) == bare)?;
        let ips: Vec<String> = lb
            .listen
            .as_deref()
            .and_then(listen_ip)
            .into_iter()
            .collect();
        Some(ip_records(&ips, &[], qtype))
    }

    /// The hosted zone `name` falls in: the longest suffix match, public before private.
    fn zone_of(&self, name: &str) -> Option<&HostedZone> {
        self.state
            .route53
            .zones
            .iter()
            .filter(|z| in_zone(name, &z.name))
            .max_by_key(|z| (z.name.len(), !z.private))
    }

    /// The record sets for `name`, or the closest wildcard's (RFC 4592, simplified).
    fn sets_at<'z>(&self, zone: &'z HostedZone, name: &str) -> Vec<&'z RecordSet> {
        let exact: Vec<_> = zone.record_sets.iter().filter(|r| r.name == name).collect();
        if !exact.is_empty() || is_empty_non_terminal(zone, name) {
            return exact;
        }
        let mut parent = name;
        while let Some((_, rest)) = parent.split_once('.') {
            if rest.is_empty() || !in_zone(rest, &zone.name) {
                break;
            }
            let wild = format!("*.{rest}");
            let sets: Vec<_> = zone.record_sets.iter().filter(|r| r.name == wild).collect();
            if !sets.is_empty() {
                return sets;
            }
            parent = rest;
        }
        Vec::new()
    }

    /// The records of `rtype` among `sets`, alias targets followed `depth` levels deep.
    fn records_of(&self, sets: &[&RecordSet], rtype: u16, depth: usize) -> Vec<Data> {
        let typed: Vec<&RecordSet> = sets
            .iter()
            .copied()
            .filter(|r| type_code(&r.rtype) == Some(rtype))
            .collect();
        let mut out = Vec::new();
        for rs in self.select(typed) {
            match &rs.alias {
                Some(alias) => out.extend(self.alias(alias, rtype, depth)),
                None => {
                    let ttl = ttl(rs.ttl);
                    out.extend(rs.records.iter().filter_map(|v| {
                        let data = parse_value(rtype, v);
                        if data.is_none() {
                            tracing::warn!(name = %rs.name, value = %v, "DNS: a stored value that cannot be served");
                        }
                        Some(Data {
                            rtype,
                            ttl,
                            data: data?,
                        })
                    }));
                }
            }
        }
        out
    }

    /// Routing policies, as far as a sandbox with no health checks can follow them:
    /// failover serves PRIMARY, latency the home region's, weighted one set drawn by
    /// weight, multivalue all of them.
    fn select<'r>(&self, sets: Vec<&'r RecordSet>) -> Vec<&'r RecordSet> {
        if sets.len() < 2 || sets.iter().all(|s| s.set_identifier.is_none()) {
            return sets;
        }
        if sets.iter().any(|s| s.failover.is_some()) {
            let primary: Vec<_> = sets
                .iter()
                .copied()
                .filter(|s| s.failover.as_deref() == Some("PRIMARY"))
                .collect();
            return if primary.is_empty() { sets } else { primary };
        }
        if sets.iter().any(|s| s.region.is_some()) {
            let home = sets
                .iter()
                .copied()
                .find(|s| s.region.as_deref() == Some(self.home_region))
                .unwrap_or(sets[0]);
            return vec![home];
        }
        if sets.iter().any(|s| s.weight.is_some()) {
            let total: u64 = sets
                .iter()
                .map(|s| s.weight.unwrap_or(0).max(0) as u64)
                .sum();
            let mut bytes = [0u8; 8];
            let _ = getrandom::fill(&mut bytes);
            let roll = u64::from_le_bytes(bytes);
            if total == 0 {
                return vec![sets[(roll % sets.len() as u64) as usize]];
            }
            let mut pick = roll % total;
            for s in &sets {
                let w = s.weight.unwrap_or(0).max(0) as u64;
                if pick < w {
                    return vec![s];
                }
                pick -= w;
            }
        }
        sets
    }

    /// An alias record's answer: the accelerator's static IPs, the ALB's address, or
    /// the target record's own answer (followed once; deeper targets answer nothing,
    /// which is also what stops a loop of aliases).
    fn alias(&self, alias: &AliasTarget, rtype: u16, depth: usize) -> Vec<Data> {
        let target = normalize(&alias.dns_name);
        let is_ga =
            alias.hosted_zone_id == GA_ZONE_ID || target.ends_with(".awsglobalaccelerator.com.");
        if is_ga || self.is_lb_name(&target) {
            let mut records = self.aws_name(&target, rtype).unwrap_or_default();
            for r in &mut records {
                r.ttl = ALIAS_TTL;
            }
            return records;
        }
        if depth >= 1 {
            return Vec::new();
        }
        let Some(zone) = self.zone_of(&target) else {
            return Vec::new();
        };
        let sets = self.sets_at(zone, &target);
        self.records_of(&sets, rtype, depth + 1)
    }

    fn is_lb_name(&self, name: &str) -> bool {
        let bare = name.strip_prefix("dualstack.").unwrap_or(name);
        self.state
            .elbv2
            .load_balancers
            .iter()
            .any(|lb| normalize(&lb.dns_name) == bare)
    }
}

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || zone == "." || name.ends_with(&format!(".{zone}"))
}

/// A name with no records of its own but records below it exists (RFC 8020 aside):
/// it gets NODATA, not NXDOMAIN.
fn is_empty_non_terminal(zone: &HostedZone, name: &str) -> bool {
    let suffix = format!(".{name}");
    zone.record_sets.iter().any(|r| r.name.ends_with(&suffix))
}

/// The zone's SOA for the authority section, with the negative-caching TTL
/// (the smaller of its TTL and its minimum, RFC 2308 §5).
fn zone_soa(zone: &HostedZone) -> Option<Record> {
    let rs = zone
        .record_sets
        .iter()
        .find(|r| r.name == zone.name && r.rtype == "SOA")?;
    let data = parse_value(TYPE_SOA, rs.records.first()?)?;
    let ttl = match &data {
        RData::Soa { minimum, .. } => ttl(rs.ttl).min(*minimum),
        _ => ttl(rs.ttl),
    };
    Some(Record {
        name: zone.name.clone(),
        rtype: TYPE_SOA,
        ttl,
        data,
    })
}

fn type_code(rtype: &str) -> Option<u16> {
    Some(match rtype {
        "A" => TYPE_A,
        "AAAA" => TYPE_AAAA,
        "CNAME" => TYPE_CNAME,
        "TXT" => TYPE_TXT,
        "NS" => TYPE_NS,
        "SOA" => TYPE_SOA,
        _ => return None,
    })
}

fn ttl(stored: Option<i64>) -> u32 {
    stored.unwrap_or(300).clamp(0, i64::from(i32::MAX)) as u32
}

/// The IP of an `ip:port` listen address.
fn listen_ip(listen: &str) -> Option<String> {
    let addr: std::net::SocketAddr = listen.parse().ok()?;
    Some(addr.ip().to_string())
}

/// A and AAAA records for a set of addresses (other types: none, i.e. NODATA).
fn ip_records(v4: &[String], v6: &[String], qtype: u16) -> Vec<Data> {
    let ips = match qtype {
        TYPE_A => v4,
        TYPE_AAAA => v6,
        _ => &[][..],
    };
    ips.iter()
        .filter_map(|ip| match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) if qtype == TYPE_A => Some(RData::A(v4)),
            IpAddr::V6(v6) if qtype == TYPE_AAAA => Some(RData::Aaaa(v6)),
            _ => None,
        })
        .map(|data| Data {
            rtype: qtype,
            ttl: ALIAS_TTL,
            data,
        })
        .collect()
}

/// A stored Route 53 value (zone-file presentation) as record data.
fn parse_value(rtype: u16, v: &str) -> Option<RData> {
    let v = v.trim();
    Some(match rtype {
        TYPE_A => RData::A(v.parse::<Ipv4Addr>().ok()?),
        TYPE_AAAA => RData::Aaaa(v.parse::<Ipv6Addr>().ok()?),
        TYPE_CNAME | TYPE_NS => RData::Name(normalize(v)),
        TYPE_SOA => {
            let f: Vec<&str> = v.split_whitespace().collect();
            let [mname, rname, nums @ ..] = f.as_slice() else {
                return None;
            };
            let nums: Vec<u32> = nums.iter().map(|n| n.parse().ok()).collect::<Option<_>>()?;
            let [serial, refresh, retry, expire, minimum] = nums.as_slice() else {
                return None;
            };
            RData::Soa {
                mname: normalize(mname),
                rname: normalize(rname),
                serial: *serial,
                refresh: *refresh,
                retry: *retry,
                expire: *expire,
                minimum: *minimum,
            }
        }
        TYPE_TXT => RData::Txt(txt_strings(v)),
        _ => return None,
    })
}

/// Splits a TXT value as Route 53 stores it (`"a b" "c"`, `\"` and `\ddd` escapes,
/// or one unquoted word) into character strings of at most 255 bytes.
fn txt_strings(v: &str) -> Vec<Vec<u8>> {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = bytes[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut s = Vec::new();
        while i < bytes.len() {
            let b = bytes[i];
            if (quoted && b == b'"') || (!quoted && b.is_ascii_whitespace()) {
                i += 1;
                break;
            }
            if b == b'\\' && i + 1 < bytes.len() {
                let digits = bytes
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits
                    && let Ok(n) = std::str::from_utf8(d).unwrap_or("").parse::<u8>()
                {
                    s.push(n);
                    i += 4;
                    continue;
                }
                s.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            s.push(b);
            i += 1;
        }
        out.extend(s.chunks(255).map(<[u8]>::to_vec));
        if s.is_empty() {
            out.push(Vec::new());
        }
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::LoadBalancer;
    use crate::aws::ga::Accelerator;

    fn rs(name: &str, rtype: &str, records: &[&str]) -> RecordSet {
        RecordSet {
            name: name.into(),
            rtype: rtype.into(),
            set_identifier: None,
            weight: None,
            region: None,
            failover: None,
            multi_value_answer: None,
            ttl: Some(300),
            records: records.iter().map(|s| s.to_string()).collect(),
            alias: None,
            health_check_id: None,
        }
    }

    fn alias(name: &str, zone: &str, target: &str) -> RecordSet {
        RecordSet {
            ttl: None,
            alias: Some(AliasTarget {
                hosted_zone_id: zone.into(),
                dns_name: target.into(),
                evaluate_target_health: false,
            }),
            ..rs(name, "A", &[])
        }
    }

    fn state() -> AwsState {
        let mut s = AwsState::default();
        let acc: Accelerator = serde_json::from_value(serde_json::json!({
            "arn": "arn:aws:globalaccelerator::000000000000:accelerator/x",
            "name": "multi-region", "ip_address_type": "IPV4", "enabled": true,
            "ips": ["127.150.7.1", "127.150.7.2"], "dns_prefix": "a0123456789abcdef",
            "created_ms": 0, "modified_ms": 0, "ready_at_ms": 0,
            "idempotency_token": null, "tags": [], "listeners": []
        }))
        .unwrap();
        s.ga.accelerators.push(acc);
        let lb: LoadBalancer = serde_json::from_value(serde_json::json!({
            "arn": "arn:lb", "name": "k8s-lb", "region": "us-east-1",
            "dns_name": "k8s-lb-1.us-east-1.elb.amazonaws.com", "scheme": "internet-facing",
            "lb_type": "application", "ip_address_type": "ipv4", "vpc_id": "vpc-1",
            "subnets": [], "security_groups": [], "created_ms": 0, "active_at_ms": 0,
            "tags": {}, "owner": null, "listen": "127.150.7.101:80"
        }))
        .unwrap();
        s.elbv2.load_balancers.push(lb);
        let z = "example.com.";
        s.route53.zones.push(HostedZone {
            id: "Z1".into(),
            name: z.into(),
            caller_reference: "c".into(),
            comment: None,
            private: false,
            tags: Default::default(),
            record_sets: vec![
                rs(z, "NS", &["ns-2048.awsdns-64.com."]),
                RecordSet {
                    ttl: Some(900),
                    ..rs(
                        z,
                        "SOA",
                        &["ns-2048.awsdns-64.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"],
                    )
                },
                rs("www.example.com.", "A", &["192.0.2.10"]),
                rs("txt.example.com.", "TXT", &[r#""hello world" "two""#, "bare"]),
                rs("web.example.com.", "CNAME", &["www.example.com"]),
                rs("out.example.com.", "CNAME", &["elsewhere.org."]),
                rs("loop.example.com.", "CNAME", &["loop.example.com."]),
                alias("multi-region.example.com.", GA_ZONE_ID, "a0123456789abcdef.awsglobalaccelerator.com."),
                alias("alb.example.com.", "Z35SXDOTRQ7X7K", "dualstack.K8S-LB-1.us-east-1.elb.amazonaws.com"),
                alias("chase.example.com.", "Z1", "multi-region.example.com."),
                alias("self.example.com.", "Z1", "self.example.com."),
                rs("*.wild.example.com.", "A", &["192.0.2.20"]),
                rs("deep.below.example.com.", "A", &["192.0.2.30"]),
            ],
        });
        s
    }

    fn ask(name: &str, qtype: u16) -> Answer {
        answer(
            &state(),
            &Question {
                name: name.into(),
                qtype,
                qclass: CLASS_IN,
            },
            "us-east-1",
        )
    }

    fn values(a: &Answer) -> Vec<String> {
        a.answers
            .iter()
            .map(|r| match &r.data {
                RData::A(ip) => ip.to_string(),
                RData::Aaaa(ip) => ip.to_string(),
                RData::Name(n) => n.clone(),
                RData::Txt(t) => t
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join("|"),
                RData::Soa { mname, .. } => mname.clone(),
            })
            .collect()
    }

    #[test]
    fn zone_records_answer_as_stored() {
        let a = ask("WWW.Example.COM", TYPE_A);
        assert_eq!((a.rcode, a.aa), (Rcode::NoError, true));
        assert_eq!(values(&a), ["192.0.2.10"]);
        assert_eq!(
            a.answers[0].name, "WWW.Example.COM",
            "the owner echoes the question"
        );
        assert_eq!(a.answers[0].ttl, 300);
        assert_eq!(
            values(&ask("txt.example.com.", TYPE_TXT)),
            ["hello world|two", "bare"]
        );
        assert_eq!(
            values(&ask("example.com.", TYPE_SOA)),
            ["ns-2048.awsdns-64.com."]
        );
        assert_eq!(
            values(&ask("example.com.", TYPE_NS)),
            ["ns-2048.awsdns-64.com."]
        );
        assert_eq!(values(&ask("x.wild.example.com.", TYPE_A)), ["192.0.2.20"]);
    }

    #[test]
    fn aliases_follow_to_accelerators_albs_and_records() {
        let a = ask("multi-region.example.com.", TYPE_A);
        assert_eq!(values(&a), ["127.150.7.1", "127.150.7.2"]);
        assert!(a.answers.iter().all(|r| r.ttl == ALIAS_TTL));
        assert_eq!(values(&ask("alb.example.com.", TYPE_A)), ["127.150.7.101"]);
        assert_eq!(
            values(&ask("chase.example.com.", TYPE_A)),
            ["127.150.7.1", "127.150.7.2"]
        );
        let looped = ask("self.example.com.", TYPE_A);
        assert_eq!((looped.rcode, looped.answers.len()), (Rcode::NoError, 0));
        assert_eq!(looped.authority[0].rtype, TYPE_SOA);
        // ANY is A.
        assert_eq!(values(&ask("multi-region.example.com.", TYPE_ANY)).len(), 2);
    }

    #[test]
    fn aws_names_answer_outside_zones() {
        let a = ask("a0123456789abcdef.awsglobalaccelerator.com", TYPE_A);
        assert_eq!((a.rcode, values(&a).len()), (Rcode::NoError, 2));
        assert_eq!(
            values(&ask("k8s-lb-1.us-east-1.elb.amazonaws.com.", TYPE_A)),
            ["127.150.7.101"]
        );
        let mut s = state();
        s.elbv2.load_balancers[0].listen = None;
        let q = Question {
            name: "k8s-lb-1.us-east-1.elb.amazonaws.com.".into(),
            qtype: TYPE_A,
            qclass: CLASS_IN,
        };
        let a = answer(&s, &q, "us-east-1");
        assert_eq!((a.rcode, a.answers.len()), (Rcode::NoError, 0));
    }

    #[test]
    fn cnames_are_followed_inside_the_sandbox() {
        let a = ask("web.example.com.", TYPE_A);
        assert_eq!(values(&a), ["www.example.com.", "192.0.2.10"]);
        assert_eq!(a.answers[1].name, "www.example.com.");
        let out = ask("out.example.com.", TYPE_A);
        assert_eq!(
            (out.rcode, values(&out)),
            (Rcode::NoError, vec!["elsewhere.org.".to_string()])
        );
        assert_eq!(
            values(&ask("loop.example.com.", TYPE_A)),
            ["loop.example.com."]
        );
        assert_eq!(
            values(&ask("web.example.com.", TYPE_CNAME)),
            ["www.example.com."]
        );
    }

    #[test]
    fn missing_names_and_types() {
        let a = ask("nope.example.com.", TYPE_A);
        assert_eq!((a.rcode, a.aa, a.answers.len()), (Rcode::NxDomain, true, 0));
        assert_eq!(a.authority[0].rtype, TYPE_SOA);
        assert_eq!(a.authority[0].ttl, 900);
        let a = ask("www.example.com.", TYPE_AAAA);
        assert_eq!(
            (a.rcode, a.answers.len(), a.authority.len()),
            (Rcode::NoError, 0, 1)
        );
        let a = ask("below.example.com.", TYPE_A);
        assert_eq!(
            (a.rcode, a.answers.len()),
            (Rcode::NoError, 0),
            "an empty non-terminal"
        );
        assert_eq!(ask("example.org.", TYPE_A).rcode, Rcode::Refused);
        assert_eq!(ask(".", TYPE_NS).rcode, Rcode::Refused);
        let chaos = Question {
            name: "version.bind.".into(),
            qtype: TYPE_TXT,
            qclass: 3,
        };
        assert_eq!(answer(&state(), &chaos, "us-east-1").rcode, Rcode::Refused);
    }

    #[test]
    fn routing_policies_pick_sets() {
        let mut s = state();
        let zone = &mut s.route53.zones[0];
        for (id, failover, ip) in [
            ("a", "SECONDARY", "192.0.2.2"),
            ("b", "PRIMARY", "192.0.2.1"),
        ] {
            zone.record_sets.push(RecordSet {
                set_identifier: Some(id.into()),
                failover: Some(failover.into()),
                ..rs("fo.example.com.", "A", &[ip])
            });
        }
        let q = Question {
            name: "fo.example.com.".into(),
            qtype: TYPE_A,
            qclass: CLASS_IN,
        };
        assert_eq!(values(&answer(&s, &q, "us-east-1")), ["192.0.2.1"]);
    }

    #[test]
    fn txt_values_split_like_zone_files() {
        assert_eq!(
            txt_strings(r#""a \"q\" \065" b"#),
            vec![b"a \"q\" A".to_vec(), b"b".to_vec()]
        );
        assert_eq!(txt_strings(r#""""#), vec![Vec::<u8>::new()]);
        let long = format!("\"{}\"", "x".repeat(300));
        assert_eq!(
            txt_strings(&long).iter().map(Vec::len).collect::<Vec<_>>(),
            [255, 45]
        );
    }
}
