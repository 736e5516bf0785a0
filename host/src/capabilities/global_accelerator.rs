//! `global-accelerator`: typed Global Accelerator calls on the run's client (always
//! us-west-2). Grants name accelerators by name or tag, but most calls name an ARN, so
//! the host keeps what it learns of each accelerator (name, tags) and reads it, never
//! writes, when a step names one this run has not seen. Listeners and endpoint groups
//! are checked as the accelerator in their ARN.

use std::sync::Arc;

use aws_sdk_globalaccelerator as ga;
use aws_sdk_globalaccelerator::types as t;
use runner_workflow::Grants;

use super::{StepHost, all_pages, connected, denied};
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::global_accelerator::*;
use crate::bindings::runner::plugin::types::Tag;
use crate::cloud::errors::sdk;
use crate::cloud::{AcceleratorFacts, Cloud};

/// Most accelerators, listeners or endpoint groups one listing returns.
const MAX_ITEMS: usize = 1000;

/// The accelerator ARN inside a listener or endpoint group ARN
/// (`arn:aws:globalaccelerator::ACCOUNT:accelerator/ID[/listener/...]`).
pub fn accelerator_arn_of(arn: &str) -> Result<&str, PluginError> {
    let invalid = || PluginError::Invalid(format!("`{arn}` is not a Global Accelerator ARN"));
    if !arn.starts_with("arn:") || !arn.contains(":globalaccelerator::") {
        return Err(invalid());
    }
    let at = arn.find(":accelerator/").ok_or_else(invalid)? + ":accelerator/".len();
    let end = arn[at..].find('/').map_or(arn.len(), |i| at + i);
    if end == at {
        return Err(invalid());
    }
    Ok(&arn[..end])
}

fn tags_of(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

fn sdk_tags(tags: &[Tag]) -> Result<Vec<t::Tag>, PluginError> {
    tags.iter()
        .map(|tag| {
            t::Tag::builder()
                .key(&tag.key)
                .value(&tag.value)
                .build()
                .map_err(|e| PluginError::Invalid(format!("tag `{}`: {e}", tag.key)))
        })
        .collect()
}

/// Reads (never writes) what the host needs to check a grant: the name, and the tags
/// when `with_tags`.
async fn lookup(
    cloud: &Cloud,
    arn: &str,
    with_tags: bool,
) -> Result<AcceleratorFacts, PluginError> {
    let mut facts = match cloud.known_accelerator(arn) {
        Some(f) => f,
        None => {
            let out = cloud
                .ga
                .describe_accelerator()
                .accelerator_arn(arn)
                .send()
                .await
                .map_err(|e| sdk("DescribeAccelerator", e))?;
            let name = out
                .accelerator()
                .and_then(|a| a.name())
                .unwrap_or_default()
                .to_string();
            AcceleratorFacts { name, tags: None }
        }
    };
    if with_tags && facts.tags.is_none() {
        let out = cloud
            .ga
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| sdk("ListTagsForResource", e))?;
        facts.tags = Some(
            out.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        );
    }
    cloud.learn_accelerator(arn, facts.clone());
    Ok(facts)
}

/// The run's cloud once the step may act on the accelerator of `arn`.
async fn on_arn(
    grants: &Grants,
    cloud: Option<Arc<Cloud>>,
    arn: &str,
) -> Result<Arc<Cloud>, PluginError> {
    grants.accelerator(None, &[], false).map_err(denied)?;
    let cloud = connected(cloud)?;
    check_arn(grants, &cloud, arn).await?;
    Ok(cloud)
}

/// Do the guard rails of the grants allow moving the group's dial to `to`? Reads the
/// group (its region and current dial) first: a guard bounds the change, not the value.
async fn check_dial_guard(
    grants: &Grants,
    cloud: &Cloud,
    group_arn: &str,
    to: f32,
) -> Result<(), PluginError> {
    let accelerator = accelerator_arn_of(group_arn)?;
    let facts = lookup(cloud, accelerator, has_tag_selectors(grants)).await?;
    let out = cloud
        .ga
        .describe_endpoint_group()
        .endpoint_group_arn(group_arn)
        .send()
        .await
        .map_err(|e| sdk("DescribeEndpointGroup", e))?;
    let group = out.endpoint_group().ok_or_else(|| {
        PluginError::Internal("DescribeEndpointGroup returned no endpoint group".into())
    })?;
    let region = group.endpoint_group_region().unwrap_or_default();
    let from = group.traffic_dial_percentage().unwrap_or(100.0);
    grants
        .dial_change(
            &facts.name,
            facts.tags.as_deref().unwrap_or_default(),
            region,
            from,
            to,
        )
        .map_err(denied)
}

/// Whether any grant entry selects accelerators by tag (then tags must be read).
fn has_tag_selectors(grants: &Grants) -> bool {
    grants.global_accelerator.iter().any(|g| {
        g.accelerators
            .iter()
            .any(|s| matches!(s, runner_workflow::AcceleratorSelector::Tag { .. }))
    })
}

/// May the step act on the accelerator of `arn` (itself, or a listener or endpoint
/// group of it)? A step with no accelerator grant is refused before any lookup.
async fn check_arn(grants: &Grants, cloud: &Cloud, arn: &str) -> Result<(), PluginError> {
    grants.accelerator(None, &[], false).map_err(denied)?;
    let accelerator = accelerator_arn_of(arn)?;
    let facts = lookup(cloud, accelerator, false).await?;
    if grants.accelerator(Some(&facts.name), &[], false).is_ok() {
        return Ok(());
    }
    let tags = if has_tag_selectors(grants) {
        lookup(cloud, accelerator, true)
            .await?
            .tags
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    grants
        .accelerator(Some(&facts.name), &tags, false)
        .map_err(denied)
}

fn accelerator(a: &t::Accelerator) -> Accelerator {
    Accelerator {
        arn: a.accelerator_arn().unwrap_or_default().into(),
        name: a.name().unwrap_or_default().into(),
        status: a.status().map(|s| s.as_str()).unwrap_or_default().into(),
        enabled: a.enabled().unwrap_or(false),
        dns_name: a.dns_name().unwrap_or_default().into(),
        ip_address_type: a
            .ip_address_type()
            .map(|s| s.as_str())
            .unwrap_or_default()
            .into(),
        ip_sets: a
            .ip_sets()
            .iter()
            .map(|s| IpSet {
                family: s
                    .ip_address_family()
                    .map(|f| f.as_str().to_string())
                    .unwrap_or_default(),
                addresses: s.ip_addresses().to_vec(),
            })
            .collect(),
        created_time: a.created_time().map_or(0, |d| d.secs().max(0) as u64),
    }
}

fn listener(l: &t::Listener) -> Listener {
    Listener {
        arn: l.listener_arn().unwrap_or_default().into(),
        protocol: l.protocol().map(|p| p.as_str()).unwrap_or_default().into(),
        port_ranges: l
            .port_ranges()
            .iter()
            .map(|r| PortRange {
                from_port: r.from_port().unwrap_or(0).clamp(0, 65535) as u16,
                to_port: r.to_port().unwrap_or(0).clamp(0, 65535) as u16,
            })
            .collect(),
        client_affinity: l
            .client_affinity()
            .map(|c| c.as_str())
            .unwrap_or("NONE")
            .into(),
    }
}

fn endpoint_group(g: &t::EndpointGroup) -> EndpointGroup {
    EndpointGroup {
        arn: g.endpoint_group_arn().unwrap_or_default().into(),
        region: g.endpoint_group_region().unwrap_or_default().into(),
        endpoints: g
            .endpoint_descriptions()
            .iter()
            .map(|e| EndpointDescription {
                endpoint_id: e.endpoint_id().unwrap_or_default().into(),
                weight: e.weight().unwrap_or(0).clamp(0, 255) as u8,
                health_state: e
                    .health_state()
                    .map(|h| h.as_str())
                    .unwrap_or("INITIAL")
                    .into(),
                health_reason: e.health_reason().map(str::to_string),
                client_ip_preservation_enabled: e.client_ip_preservation_enabled().unwrap_or(false),
            })
            .collect(),
        traffic_dial_percentage: g.traffic_dial_percentage().unwrap_or(100.0),
        health_check_protocol: g
            .health_check_protocol()
            .map(|p| p.as_str())
            .unwrap_or("TCP")
            .into(),
        health_check_port: g.health_check_port().unwrap_or(0).clamp(0, 65535) as u16,
        health_check_path: g.health_check_path().map(str::to_string),
        health_check_interval_seconds: g
            .health_check_interval_seconds()
            .unwrap_or(30)
            .clamp(0, 255) as u8,
        threshold_count: g.threshold_count().unwrap_or(3).clamp(0, 255) as u8,
    }
}

fn endpoint_configs(list: &[EndpointConfiguration]) -> Vec<t::EndpointConfiguration> {
    list.iter()
        .map(|e| {
            t::EndpointConfiguration::builder()
                .endpoint_id(&e.endpoint_id)
                .set_weight(e.weight.map(i32::from))
                .set_client_ip_preservation_enabled(e.client_ip_preservation_enabled)
                .build()
        })
        .collect()
}

fn dial(value: Option<f32>) -> Result<Option<f32>, PluginError> {
    match value {
        Some(d) if !(0.0..=100.0).contains(&d) => Err(PluginError::Invalid(format!(
            "traffic dial {d} is outside 0-100"
        ))),
        other => Ok(other),
    }
}

fn learn(cloud: &Cloud, a: &Accelerator, tags: Option<Vec<(String, String)>>) {
    let tags = tags.or_else(|| cloud.known_accelerator(&a.arn).and_then(|f| f.tags));
    cloud.learn_accelerator(
        &a.arn,
        AcceleratorFacts {
            name: a.name.clone(),
            tags,
        },
    );
}

/// Lists every accelerator, keeping those the grants allow.
async fn list_allowed(
    grants: &Grants,
    cloud: &Arc<Cloud>,
) -> Result<Vec<Accelerator>, PluginError> {
    grants.accelerator(None, &[], false).map_err(denied)?;
    let ga = &cloud.ga;
    let all = all_pages(MAX_ITEMS, |token| async move {
        let out = ga
            .list_accelerators()
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk("ListAccelerators", e))?;
        let items = out.accelerators().iter().map(accelerator).collect();
        Ok((items, out.next_token().map(str::to_string)))
    })
    .await?;
    let mut allowed = Vec::new();
    for a in all {
        learn(cloud, &a, None);
        if check_arn(grants, cloud, &a.arn).await.is_ok() {
            allowed.push(a);
        }
    }
    Ok(allowed)
}

impl Host for StepHost {
    async fn list_accelerators(&mut self) -> wasmtime::Result<Result<Vec<Accelerator>, Error>> {
        let (grants, cloud) = self.reach();
        Ok(self
            .audited(
                "global-accelerator",
                "list-accelerators",
                String::new(),
                async move {
                    grants.accelerator(None, &[], false).map_err(denied)?;
                    list_allowed(&grants, &connected(cloud)?).await
                },
            )
            .await)
    }

    async fn describe_accelerator(
        &mut self,
        arn: String,
    ) -> wasmtime::Result<Result<Accelerator, Error>> {
        let (grants, cloud) = self.reach();
        let args = arn.clone();
        Ok(self
            .audited(
                "global-accelerator",
                "describe-accelerator",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &arn).await?;
                    let out = cloud
                        .ga
                        .describe_accelerator()
                        .accelerator_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| sdk("DescribeAccelerator", e))?;
                    let a = out.accelerator().map(accelerator).ok_or_else(|| {
                        PluginError::NotFound(format!("accelerator {arn} not found"))
                    })?;
                    learn(&cloud, &a, None);
                    Ok(a)
                },
            )
            .await)
    }

    async fn create_accelerator(
        &mut self,
        input: CreateAcceleratorInput,
    ) -> wasmtime::Result<Result<Accelerator, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("name {:?}, {} tags", input.name, input.tags.len());
        Ok(self
            .audited(
                "global-accelerator",
                "create-accelerator",
                args,
                async move {
                    let tags = tags_of(&input.tags);
                    grants
                        .accelerator(Some(&input.name), &tags, true)
                        .map_err(denied)?;
                    let cloud = connected(cloud)?;
                    let out = cloud
                        .ga
                        .create_accelerator()
                        .name(&input.name)
                        .set_ip_address_type(
                            input.ip_address_type.as_deref().map(t::IpAddressType::from),
                        )
                        .enabled(input.enabled)
                        .set_tags(Some(sdk_tags(&input.tags)?))
                        .idempotency_token(&input.idempotency_token)
                        .send()
                        .await
                        .map_err(|e| sdk("CreateAccelerator", e))?;
                    let a = out.accelerator().map(accelerator).ok_or_else(|| {
                        PluginError::Internal("CreateAccelerator returned no accelerator".into())
                    })?;
                    learn(&cloud, &a, Some(tags));
                    Ok(a)
                },
            )
            .await)
    }

    async fn update_accelerator(
        &mut self,
        arn: String,
        name: Option<String>,
        enabled: Option<bool>,
    ) -> wasmtime::Result<Result<Accelerator, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{arn} name {name:?} enabled {enabled:?}");
        Ok(self
            .audited(
                "global-accelerator",
                "update-accelerator",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &arn).await?;
                    if let Some(new) = &name {
                        // A rename must not move an accelerator out of (or into) reach.
                        let tags = lookup(&cloud, &arn, has_tag_selectors(&grants))
                            .await?
                            .tags
                            .unwrap_or_default();
                        grants
                            .accelerator(Some(new), &tags, false)
                            .map_err(denied)?;
                    }
                    let out = cloud
                        .ga
                        .update_accelerator()
                        .accelerator_arn(&arn)
                        .set_name(name)
                        .set_enabled(enabled)
                        .send()
                        .await
                        .map_err(|e| sdk("UpdateAccelerator", e))?;
                    let a = out.accelerator().map(accelerator).ok_or_else(|| {
                        PluginError::Internal("UpdateAccelerator returned no accelerator".into())
                    })?;
                    learn(&cloud, &a, None);
                    Ok(a)
                },
            )
            .await)
    }

    async fn delete_accelerator(&mut self, arn: String) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = arn.clone();
        Ok(self
            .audited(
                "global-accelerator",
                "delete-accelerator",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &arn).await?;
                    cloud
                        .ga
                        .delete_accelerator()
                        .accelerator_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| sdk("DeleteAccelerator", e))?;
                    cloud.forget_accelerator(&arn);
                    Ok(())
                },
            )
            .await)
    }

    async fn list_listeners(
        &mut self,
        accelerator_arn: String,
    ) -> wasmtime::Result<Result<Vec<Listener>, Error>> {
        let (grants, cloud) = self.reach();
        let args = accelerator_arn.clone();
        Ok(self
            .audited("global-accelerator", "list-listeners", args, async move {
                let cloud = on_arn(&grants, cloud, &accelerator_arn).await?;
                let (ga, arn) = (&cloud.ga, &accelerator_arn);
                all_pages(MAX_ITEMS, |token| async move {
                    let out = ga
                        .list_listeners()
                        .accelerator_arn(arn)
                        .max_results(100)
                        .set_next_token(token)
                        .send()
                        .await
                        .map_err(|e| sdk("ListListeners", e))?;
                    let items = out.listeners().iter().map(listener).collect();
                    Ok((items, out.next_token().map(str::to_string)))
                })
                .await
            })
            .await)
    }

    async fn create_listener(
        &mut self,
        input: CreateListenerInput,
    ) -> wasmtime::Result<Result<Listener, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!(
            "{} {} {:?}",
            input.accelerator_arn,
            input.protocol,
            input
                .port_ranges
                .iter()
                .map(|r| (r.from_port, r.to_port))
                .collect::<Vec<_>>()
        );
        Ok(self
            .audited("global-accelerator", "create-listener", args, async move {
                let cloud = on_arn(&grants, cloud, &input.accelerator_arn).await?;
                let ranges = input
                    .port_ranges
                    .iter()
                    .map(|r| {
                        t::PortRange::builder()
                            .from_port(i32::from(r.from_port))
                            .to_port(i32::from(r.to_port))
                            .build()
                    })
                    .collect();
                let out = cloud
                    .ga
                    .create_listener()
                    .accelerator_arn(&input.accelerator_arn)
                    .protocol(t::Protocol::from(input.protocol.as_str()))
                    .set_port_ranges(Some(ranges))
                    .set_client_affinity(
                        input
                            .client_affinity
                            .as_deref()
                            .map(t::ClientAffinity::from),
                    )
                    .idempotency_token(&input.idempotency_token)
                    .send()
                    .await
                    .map_err(|e| sdk("CreateListener", e))?;
                out.listener().map(listener).ok_or_else(|| {
                    PluginError::Internal("CreateListener returned no listener".into())
                })
            })
            .await)
    }

    async fn delete_listener(&mut self, arn: String) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = arn.clone();
        Ok(self
            .audited("global-accelerator", "delete-listener", args, async move {
                let cloud = on_arn(&grants, cloud, &arn).await?;
                cloud
                    .ga
                    .delete_listener()
                    .listener_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| sdk("DeleteListener", e))?;
                Ok(())
            })
            .await)
    }

    async fn list_endpoint_groups(
        &mut self,
        listener_arn: String,
    ) -> wasmtime::Result<Result<Vec<EndpointGroup>, Error>> {
        let (grants, cloud) = self.reach();
        let args = listener_arn.clone();
        Ok(self
            .audited(
                "global-accelerator",
                "list-endpoint-groups",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &listener_arn).await?;
                    let (ga, arn) = (&cloud.ga, &listener_arn);
                    all_pages(MAX_ITEMS, |token| async move {
                        let out = ga
                            .list_endpoint_groups()
                            .listener_arn(arn)
                            .max_results(100)
                            .set_next_token(token)
                            .send()
                            .await
                            .map_err(|e| sdk("ListEndpointGroups", e))?;
                        let items = out.endpoint_groups().iter().map(endpoint_group).collect();
                        Ok((items, out.next_token().map(str::to_string)))
                    })
                    .await
                },
            )
            .await)
    }

    async fn describe_endpoint_group(
        &mut self,
        arn: String,
    ) -> wasmtime::Result<Result<EndpointGroup, Error>> {
        let (grants, cloud) = self.reach();
        let args = arn.clone();
        Ok(self
            .audited(
                "global-accelerator",
                "describe-endpoint-group",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &arn).await?;
                    let out = cloud
                        .ga
                        .describe_endpoint_group()
                        .endpoint_group_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| sdk("DescribeEndpointGroup", e))?;
                    out.endpoint_group().map(endpoint_group).ok_or_else(|| {
                        PluginError::NotFound(format!("endpoint group {arn} not found"))
                    })
                },
            )
            .await)
    }

    async fn create_endpoint_group(
        &mut self,
        input: CreateEndpointGroupInput,
    ) -> wasmtime::Result<Result<EndpointGroup, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!(
            "{} region {} {} endpoints dial {:?}",
            input.listener_arn,
            input.region,
            input.endpoints.len(),
            input.traffic_dial_percentage
        );
        Ok(self
            .audited(
                "global-accelerator",
                "create-endpoint-group",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &input.listener_arn).await?;
                    let hc = &input.health_check;
                    let out = cloud
                        .ga
                        .create_endpoint_group()
                        .listener_arn(&input.listener_arn)
                        .endpoint_group_region(&input.region)
                        .set_endpoint_configurations(Some(endpoint_configs(&input.endpoints)))
                        .set_traffic_dial_percentage(dial(input.traffic_dial_percentage)?)
                        .set_health_check_protocol(
                            hc.protocol.as_deref().map(t::HealthCheckProtocol::from),
                        )
                        .set_health_check_port(hc.port.map(i32::from))
                        .set_health_check_path(hc.path.clone())
                        .set_health_check_interval_seconds(hc.interval_seconds.map(i32::from))
                        .set_threshold_count(hc.threshold_count.map(i32::from))
                        .idempotency_token(&input.idempotency_token)
                        .send()
                        .await
                        .map_err(|e| sdk("CreateEndpointGroup", e))?;
                    out.endpoint_group().map(endpoint_group).ok_or_else(|| {
                        PluginError::Internal(
                            "CreateEndpointGroup returned no endpoint group".into(),
                        )
                    })
                },
            )
            .await)
    }

    async fn update_endpoint_group(
        &mut self,
        input: UpdateEndpointGroupInput,
    ) -> wasmtime::Result<Result<EndpointGroup, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!(
            "{} dial {:?} endpoints {:?}",
            input.endpoint_group_arn,
            input.traffic_dial_percentage,
            input.endpoints.as_ref().map(Vec::len)
        );
        Ok(self
            .audited(
                "global-accelerator",
                "update-endpoint-group",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &input.endpoint_group_arn).await?;
                    if let Some(to) = input.traffic_dial_percentage
                        && grants.has_dial_guards()
                    {
                        check_dial_guard(&grants, &cloud, &input.endpoint_group_arn, to).await?;
                    }
                    let hc = &input.health_check;
                    let out = cloud
                        .ga
                        .update_endpoint_group()
                        .endpoint_group_arn(&input.endpoint_group_arn)
                        .set_endpoint_configurations(
                            input.endpoints.as_deref().map(endpoint_configs),
                        )
                        .set_traffic_dial_percentage(dial(input.traffic_dial_percentage)?)
                        .set_health_check_protocol(
                            hc.protocol.as_deref().map(t::HealthCheckProtocol::from),
                        )
                        .set_health_check_port(hc.port.map(i32::from))
                        .set_health_check_path(hc.path.clone())
                        .set_health_check_interval_seconds(hc.interval_seconds.map(i32::from))
                        .set_threshold_count(hc.threshold_count.map(i32::from))
                        .send()
                        .await
                        .map_err(|e| sdk("UpdateEndpointGroup", e))?;
                    out.endpoint_group().map(endpoint_group).ok_or_else(|| {
                        PluginError::Internal(
                            "UpdateEndpointGroup returned no endpoint group".into(),
                        )
                    })
                },
            )
            .await)
    }

    async fn delete_endpoint_group(&mut self, arn: String) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = arn.clone();
        Ok(self
            .audited(
                "global-accelerator",
                "delete-endpoint-group",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &arn).await?;
                    cloud
                        .ga
                        .delete_endpoint_group()
                        .endpoint_group_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| sdk("DeleteEndpointGroup", e))?;
                    Ok(())
                },
            )
            .await)
    }

    async fn list_tags_for_resource(
        &mut self,
        arn: String,
    ) -> wasmtime::Result<Result<Vec<Tag>, Error>> {
        let (grants, cloud) = self.reach();
        let args = arn.clone();
        Ok(self
            .audited(
                "global-accelerator",
                "list-tags-for-resource",
                args,
                async move {
                    let cloud = on_arn(&grants, cloud, &arn).await?;
                    let out = cloud
                        .ga
                        .list_tags_for_resource()
                        .resource_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| sdk("ListTagsForResource", e))?;
                    Ok(out
                        .tags()
                        .iter()
                        .map(|t| Tag {
                            key: t.key().into(),
                            value: t.value().into(),
                        })
                        .collect())
                },
            )
            .await)
    }

    async fn tag_resource(
        &mut self,
        arn: String,
        tags: Vec<Tag>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{arn} {} tags", tags.len());
        Ok(self
            .audited("global-accelerator", "tag-resource", args, async move {
                let cloud = on_arn(&grants, cloud, &arn).await?;
                cloud
                    .ga
                    .tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(sdk_tags(&tags)?))
                    .send()
                    .await
                    .map_err(|e| sdk("TagResource", e))?;
                forget_tags(&cloud, &arn);
                Ok(())
            })
            .await)
    }

    async fn untag_resource(
        &mut self,
        arn: String,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{arn} {keys:?}");
        Ok(self
            .audited("global-accelerator", "untag-resource", args, async move {
                let cloud = on_arn(&grants, cloud, &arn).await?;
                cloud
                    .ga
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(keys))
                    .send()
                    .await
                    .map_err(|e| sdk("UntagResource", e))?;
                forget_tags(&cloud, &arn);
                Ok(())
            })
            .await)
    }
}

/// Tags changed: read them again next time a grant needs them.
fn forget_tags(cloud: &Cloud, arn: &str) {
    if let Ok(acc) = accelerator_arn_of(arn)
        && let Some(mut facts) = cloud.known_accelerator(acc)
    {
        facts.tags = None;
        cloud.learn_accelerator(acc, facts);
    }
}

/// For tests and benchmarks: the GA client type the host uses.
pub type Client = ga::Client;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerator_arns_inside_child_arns() {
        let acc = "arn:aws:globalaccelerator::123456789012:accelerator/1234abcd-abcd-1234-abcd-1234abcdefgh";
        assert_eq!(accelerator_arn_of(acc).unwrap(), acc);
        assert_eq!(
            accelerator_arn_of(&format!("{acc}/listener/0123vxyz")).unwrap(),
            acc
        );
        assert_eq!(
            accelerator_arn_of(&format!(
                "{acc}/listener/0123vxyz/endpoint-group/098765zyxwvu"
            ))
            .unwrap(),
            acc
        );
        assert!(
            accelerator_arn_of("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x/y")
                .is_err()
        );
        assert!(accelerator_arn_of("arn:aws:globalaccelerator::1:accelerator/").is_err());
        assert!(accelerator_arn_of("nonsense").is_err());
    }
}
