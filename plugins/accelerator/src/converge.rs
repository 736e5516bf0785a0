//! `run`: finds or creates the accelerator, its listener and its endpoint groups, and
//! updates only what differs, so a converged accelerator costs read calls only.

use runner_plugin::global_accelerator::{
    self as ga, Accelerator, CreateAcceleratorInput, CreateEndpointGroupInput, CreateListenerInput,
    EndpointGroup, Listener, UpdateEndpointGroupInput,
};
use runner_plugin::{Error, Invocation, Tag, info, poll::idempotency_token, state};
use serde_json::{Map, Value, json};

use crate::params::{Endpoint, Group, Params};
use runner_plugin::remember;

use crate::util::{ctx, find_by_name, wait_deployed};

/// What the run did, for the `change` output.
#[derive(Default)]
struct Change {
    created: bool,
    updated: bool,
}

impl Change {
    fn as_str(&self) -> &'static str {
        match (self.created, self.updated) {
            (true, _) => "created",
            (false, true) => "updated",
            _ => "unchanged",
        }
    }
}

pub fn run(input: &Invocation) -> Result<String, Error> {
    let p: Params = runner_plugin::params(&input.params)?;
    p.check()?;
    let mut ch = Change::default();
    let acc = ensure_accelerator(&p, input, &mut ch)?;
    ensure_tags(&p, &acc.arn, &mut ch)?;
    let listener = ensure_listener(&p, &acc.arn, input, &mut ch)?;
    let groups = ensure_groups(&p, &listener.arn, input, &mut ch)?;
    let acc = wait_deployed(&acc.arn, p.timeout_ms)?;
    let ips: Vec<&str> = acc
        .ip_sets
        .iter()
        .filter(|s| s.family.eq_ignore_ascii_case("ipv4"))
        .flat_map(|s| s.addresses.iter().map(String::as_str))
        .collect();
    runner_plugin::outputs(&json!({
        "accelerator_arn": acc.arn,
        "name": acc.name,
        "dns_name": acc.dns_name,
        "ip_addresses": ips,
        "listener_arn": listener.arn,
        "endpoint_groups": groups,
        "change": ch.as_str(),
    }))
}

fn ensure_accelerator(
    p: &Params,
    input: &Invocation,
    ch: &mut Change,
) -> Result<Accelerator, Error> {
    let Some(acc) = find_by_name(&p.name)? else {
        let tags = p
            .tags
            .iter()
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        let acc = ga::create_accelerator(&CreateAcceleratorInput {
            name: p.name.clone(),
            ip_address_type: p.ip_address_type.clone(),
            enabled: true,
            tags,
            idempotency_token: idempotency_token(&input.run, &input.step, "accelerator"),
        })
        .map_err(ctx(format!("creating accelerator `{}`", p.name)))?;
        remember("accelerator_arn", &acc.arn)?;
        info(
            "created accelerator",
            &[("name", &acc.name), ("arn", &acc.arn)],
        );
        ch.created = true;
        return Ok(acc);
    };
    remember("accelerator_arn", &acc.arn)?;
    if let Some(t) = &p.ip_address_type
        && *t != acc.ip_address_type
    {
        // UpdateAccelerator cannot change it here, and replacing the accelerator
        // would lose its static IPs: a person has to decide.
        return Err(Error::Conflict(format!(
            "accelerator: `{}` ({}) has ip_address_type {}, not {t}; delete it or declare {}",
            p.name, acc.arn, acc.ip_address_type, acc.ip_address_type
        )));
    }
    if acc.enabled {
        return Ok(acc);
    }
    let acc = ga::update_accelerator(&acc.arn, None, Some(true))
        .map_err(ctx(format!("enabling accelerator {}", acc.arn)))?;
    info("enabled accelerator", &[("arn", &acc.arn)]);
    ch.updated = true;
    Ok(acc)
}

/// Adds missing or different tags; tags the workflow does not mention are left alone.
fn ensure_tags(p: &Params, arn: &str, ch: &mut Change) -> Result<(), Error> {
    if p.tags.is_empty() {
        return Ok(());
    }
    let have = ga::list_tags_for_resource(arn).map_err(ctx(format!("listing tags of {arn}")))?;
    let missing: Vec<Tag> = p
        .tags
        .iter()
        .filter(|(k, v)| !have.iter().any(|t| &t.key == *k && &t.value == *v))
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    ga::tag_resource(arn, &missing).map_err(ctx(format!("tagging {arn}")))?;
    let keys: Vec<&str> = missing.iter().map(|t| t.key.as_str()).collect();
    info(
        "tagged accelerator",
        &[("arn", arn), ("keys", &keys.join(","))],
    );
    ch.updated = true;
    Ok(())
}

fn listener_matches(p: &Params, l: &Listener) -> bool {
    let mut have: Vec<(u16, u16)> = l
        .port_ranges
        .iter()
        .map(|r| (r.from_port, r.to_port))
        .collect();
    have.sort_unstable();
    let want: Vec<(u16, u16)> = p
        .listener
        .ranges()
        .iter()
        .map(|r| (r.from_port, r.to_port))
        .collect();
    l.protocol == p.listener.protocol
        && have == want
        && p.listener
            .client_affinity
            .as_ref()
            .is_none_or(|a| *a == l.client_affinity)
}

/// The accelerator ends with exactly the declared listener: others would hold ports the
/// declared one needs, and GA cannot change a listener's ports in place here.
fn ensure_listener(
    p: &Params,
    acc: &str,
    input: &Invocation,
    ch: &mut Change,
) -> Result<Listener, Error> {
    let listeners = ga::list_listeners(acc).map_err(ctx(format!("listing listeners of {acc}")))?;
    let (keep, other): (Vec<Listener>, Vec<Listener>) =
        listeners.into_iter().partition(|l| listener_matches(p, l));
    let mut keep = keep.into_iter();
    let found = keep.next();
    for l in other.iter().chain(keep.as_slice()) {
        delete_listener(l)?;
        ch.updated = true;
    }
    if let Some(l) = found {
        remember("listener_arn", &l.arn)?;
        return Ok(l);
    }
    let l = ga::create_listener(&CreateListenerInput {
        accelerator_arn: acc.to_string(),
        protocol: p.listener.protocol.clone(),
        port_ranges: p.listener.ranges(),
        client_affinity: p.listener.client_affinity.clone(),
        idempotency_token: idempotency_token(&input.run, &input.step, "listener"),
    })
    .map_err(ctx(format!("creating listener on {acc}")))?;
    remember("listener_arn", &l.arn)?;
    info(
        "created listener",
        &[("arn", &l.arn), ("protocol", &l.protocol)],
    );
    ch.created = true;
    Ok(l)
}

fn delete_listener(l: &Listener) -> Result<(), Error> {
    let groups =
        ga::list_endpoint_groups(&l.arn).map_err(ctx(format!("listing groups of {}", l.arn)))?;
    for g in groups {
        ga::delete_endpoint_group(&g.arn)
            .map_err(ctx(format!("deleting endpoint group {}", g.arn)))?;
        let key = format!("group:{}", g.region);
        if state::get(&key).as_deref() == Some(g.arn.as_str()) {
            state::delete(&key)?;
        }
        info(
            "deleted endpoint group of an undeclared listener",
            &[("region", &g.region), ("arn", &g.arn)],
        );
    }
    ga::delete_listener(&l.arn).map_err(ctx(format!("deleting listener {}", l.arn)))?;
    info("deleted undeclared listener", &[("arn", &l.arn)]);
    Ok(())
}

/// Creates, updates or deletes groups so there is one per declared region, as declared;
/// returns region → ARN.
fn ensure_groups(
    p: &Params,
    listener: &str,
    input: &Invocation,
    ch: &mut Change,
) -> Result<Value, Error> {
    let have = ga::list_endpoint_groups(listener)
        .map_err(ctx(format!("listing endpoint groups of {listener}")))?;
    let mut out = Map::new();
    for g in &p.endpoint_groups {
        let arn = match have.iter().find(|h| h.region == g.region) {
            Some(h) => {
                if let Some(update) = group_update(g, h) {
                    ga::update_endpoint_group(&update).map_err(ctx(format!(
                        "updating endpoint group {} ({})",
                        h.arn, g.region
                    )))?;
                    info(
                        "updated endpoint group",
                        &[("region", &g.region), ("arn", &h.arn)],
                    );
                    ch.updated = true;
                }
                h.arn.clone()
            }
            None => {
                let created = ga::create_endpoint_group(&CreateEndpointGroupInput {
                    listener_arn: listener.to_string(),
                    region: g.region.clone(),
                    endpoints: g.endpoints.iter().map(|e| e.to_wit(None)).collect(),
                    traffic_dial_percentage: Some(g.traffic_dial.unwrap_or(100.0)),
                    health_check: g.health_check.to_wit(),
                    idempotency_token: idempotency_token(
                        &input.run,
                        &input.step,
                        &format!("group:{}", g.region),
                    ),
                })
                .map_err(ctx(format!("creating endpoint group in {}", g.region)))?;
                info(
                    "created endpoint group",
                    &[("region", &g.region), ("arn", &created.arn)],
                );
                ch.created = true;
                created.arn
            }
        };
        remember(&format!("group:{}", g.region), &arn)?;
        out.insert(g.region.clone(), Value::String(arn));
    }
    for h in have
        .iter()
        .filter(|h| !p.endpoint_groups.iter().any(|g| g.region == h.region))
    {
        ga::delete_endpoint_group(&h.arn).map_err(ctx(format!(
            "deleting undeclared endpoint group {} ({})",
            h.arn, h.region
        )))?;
        state::delete(&format!("group:{}", h.region))?;
        info(
            "deleted undeclared endpoint group",
            &[("region", &h.region), ("arn", &h.arn)],
        );
        ch.updated = true;
    }
    Ok(Value::Object(out))
}

/// The update that brings `have` to `want`, or `None` when nothing declared differs.
fn group_update(want: &Group, have: &EndpointGroup) -> Option<UpdateEndpointGroupInput> {
    let endpoints = endpoints_differ(&want.endpoints, have);
    let dial = want
        .traffic_dial
        .filter(|d| (d - have.traffic_dial_percentage).abs() > 0.001);
    let health = want.health_check.differs(have);
    (endpoints || dial.is_some() || health).then(|| UpdateEndpointGroupInput {
        endpoint_group_arn: have.arn.clone(),
        endpoints: endpoints.then(|| {
            want.endpoints
                .iter()
                .map(|e| {
                    let current = have.endpoints.iter().find(|h| h.endpoint_id == e.id);
                    e.to_wit(current.map(|h| h.weight))
                })
                .collect()
        }),
        traffic_dial_percentage: dial,
        health_check: want.health_check.to_wit(),
    })
}

fn endpoints_differ(want: &[Endpoint], have: &EndpointGroup) -> bool {
    want.len() != have.endpoints.len()
        || want.iter().any(|w| {
            !have.endpoints.iter().any(|h| {
                h.endpoint_id == w.id
                    && w.weight.is_none_or(|n| n == h.weight)
                    && h.client_ip_preservation_enabled == w.client_ip_preservation
            })
        })
}
