//! `elbv2`: typed Elastic Load Balancing v2 calls, one client per region. Grants are by
//! region, checked before the region's client is even made.

use aws_sdk_elasticloadbalancingv2::types as t;

use super::{StepHost, all_pages, connected, denied};
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::elbv2::*;
use crate::bindings::runner::plugin::types::Tag;
use crate::cloud::errors::sdk;

/// Most load balancers or target groups one listing returns.
const MAX_ITEMS: usize = 1000;
/// ELBv2 takes at most 20 ARNs per tag call.
const MAX_ARNS: usize = 20;

fn port(p: Option<i32>) -> Option<u16> {
    p.and_then(|p| u16::try_from(p).ok())
}

fn load_balancer(lb: &t::LoadBalancer) -> LoadBalancer {
    LoadBalancer {
        arn: lb.load_balancer_arn().unwrap_or_default().into(),
        name: lb.load_balancer_name().unwrap_or_default().into(),
        dns_name: lb.dns_name().unwrap_or_default().into(),
        canonical_hosted_zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().into(),
        scheme: lb.scheme().map(|s| s.as_str()).unwrap_or_default().into(),
        state: lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str())
            .unwrap_or_default()
            .into(),
        load_balancer_type: lb.r#type().map(|s| s.as_str()).unwrap_or_default().into(),
        vpc_id: lb.vpc_id().unwrap_or_default().into(),
        availability_zones: lb
            .availability_zones()
            .iter()
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect(),
    }
}

fn target_group(g: &t::TargetGroup) -> TargetGroup {
    TargetGroup {
        arn: g.target_group_arn().unwrap_or_default().into(),
        name: g.target_group_name().unwrap_or_default().into(),
        protocol: g.protocol().map(|p| p.as_str().to_string()),
        port: port(g.port()),
        target_type: g
            .target_type()
            .map(|t| t.as_str())
            .unwrap_or_default()
            .into(),
        health_check_path: g.health_check_path().map(str::to_string),
        load_balancer_arns: g.load_balancer_arns().to_vec(),
    }
}

fn sdk_tags(tags: &[Tag]) -> Vec<t::Tag> {
    tags.iter()
        .map(|tag| t::Tag::builder().key(&tag.key).value(&tag.value).build())
        .collect()
}

fn arn_count(arns: &[String]) -> Result<(), PluginError> {
    if arns.is_empty() || arns.len() > MAX_ARNS {
        return Err(PluginError::Invalid(format!(
            "name 1 to {MAX_ARNS} resource ARNs, got {}",
            arns.len()
        )));
    }
    Ok(())
}

impl Host for StepHost {
    async fn describe_load_balancers(
        &mut self,
        region: String,
        arns: Vec<String>,
        names: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<LoadBalancer>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{region} arns {arns:?} names {names:?}");
        Ok(self
            .audited("elbv2", "describe-load-balancers", args, async move {
                grants.elbv2(&region).map_err(denied)?;
                let client = connected(cloud)?.elbv2(&region);
                let (client, arns, names) = (&client, &arns, &names);
                all_pages(MAX_ITEMS, |marker| async move {
                    let out = client
                        .describe_load_balancers()
                        .set_load_balancer_arns((!arns.is_empty()).then(|| arns.clone()))
                        .set_names((!names.is_empty()).then(|| names.clone()))
                        .set_marker(marker)
                        .send()
                        .await
                        .map_err(|e| sdk("DescribeLoadBalancers", e))?;
                    let items = out.load_balancers().iter().map(load_balancer).collect();
                    Ok((items, out.next_marker().map(str::to_string)))
                })
                .await
            })
            .await)
    }

    async fn describe_target_groups(
        &mut self,
        region: String,
        load_balancer_arn: Option<String>,
        arns: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<TargetGroup>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{region} lb {load_balancer_arn:?} arns {arns:?}");
        Ok(self
            .audited("elbv2", "describe-target-groups", args, async move {
                grants.elbv2(&region).map_err(denied)?;
                let client = connected(cloud)?.elbv2(&region);
                let (client, lb, arns) = (&client, &load_balancer_arn, &arns);
                all_pages(MAX_ITEMS, |marker| async move {
                    let out = client
                        .describe_target_groups()
                        .set_load_balancer_arn(lb.clone())
                        .set_target_group_arns((!arns.is_empty()).then(|| arns.clone()))
                        .set_marker(marker)
                        .send()
                        .await
                        .map_err(|e| sdk("DescribeTargetGroups", e))?;
                    let items = out.target_groups().iter().map(target_group).collect();
                    Ok((items, out.next_marker().map(str::to_string)))
                })
                .await
            })
            .await)
    }

    async fn describe_target_health(
        &mut self,
        region: String,
        target_group_arn: String,
    ) -> wasmtime::Result<Result<Vec<TargetHealth>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{region} {target_group_arn}");
        Ok(self
            .audited("elbv2", "describe-target-health", args, async move {
                grants.elbv2(&region).map_err(denied)?;
                let client = connected(cloud)?.elbv2(&region);
                let out = client
                    .describe_target_health()
                    .target_group_arn(&target_group_arn)
                    .send()
                    .await
                    .map_err(|e| sdk("DescribeTargetHealth", e))?;
                Ok(out
                    .target_health_descriptions()
                    .iter()
                    .map(|d| {
                        let health = d.target_health();
                        TargetHealth {
                            id: d.target().and_then(|t| t.id()).unwrap_or_default().into(),
                            port: port(d.target().and_then(|t| t.port())),
                            state: health
                                .and_then(|h| h.state())
                                .map(|s| s.as_str())
                                .unwrap_or_default()
                                .into(),
                            reason: health
                                .and_then(|h| h.reason())
                                .map(|r| r.as_str().to_string()),
                            description: health.and_then(|h| h.description()).map(str::to_string),
                        }
                    })
                    .collect())
            })
            .await)
    }

    async fn describe_listeners(
        &mut self,
        region: String,
        load_balancer_arn: String,
    ) -> wasmtime::Result<Result<Vec<Listener>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{region} {load_balancer_arn}");
        Ok(self
            .audited("elbv2", "describe-listeners", args, async move {
                grants.elbv2(&region).map_err(denied)?;
                let client = connected(cloud)?.elbv2(&region);
                let out = client
                    .describe_listeners()
                    .load_balancer_arn(&load_balancer_arn)
                    .send()
                    .await
                    .map_err(|e| sdk("DescribeListeners", e))?;
                Ok(out
                    .listeners()
                    .iter()
                    .map(|l| Listener {
                        arn: l.listener_arn().unwrap_or_default().into(),
                        load_balancer_arn: l.load_balancer_arn().unwrap_or_default().into(),
                        port: port(l.port()),
                        protocol: l.protocol().map(|p| p.as_str().to_string()),
                    })
                    .collect())
            })
            .await)
    }

    async fn describe_tags(
        &mut self,
        region: String,
        arns: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<ResourceTags>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{region} {arns:?}");
        Ok(self
            .audited("elbv2", "describe-tags", args, async move {
                grants.elbv2(&region).map_err(denied)?;
                arn_count(&arns)?;
                let client = connected(cloud)?.elbv2(&region);
                let out = client
                    .describe_tags()
                    .set_resource_arns(Some(arns))
                    .send()
                    .await
                    .map_err(|e| sdk("DescribeTags", e))?;
                Ok(out
                    .tag_descriptions()
                    .iter()
                    .map(|d| ResourceTags {
                        arn: d.resource_arn().unwrap_or_default().into(),
                        tags: d
                            .tags()
                            .iter()
                            .map(|t| Tag {
                                key: t.key().unwrap_or_default().into(),
                                value: t.value().unwrap_or_default().into(),
                            })
                            .collect(),
                    })
                    .collect())
            })
            .await)
    }

    async fn add_tags(
        &mut self,
        region: String,
        arns: Vec<String>,
        tags: Vec<Tag>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{region} {arns:?} {} tags", tags.len());
        Ok(self
            .audited("elbv2", "add-tags", args, async move {
                grants.elbv2(&region).map_err(denied)?;
                arn_count(&arns)?;
                let client = connected(cloud)?.elbv2(&region);
                client
                    .add_tags()
                    .set_resource_arns(Some(arns))
                    .set_tags(Some(sdk_tags(&tags)))
                    .send()
                    .await
                    .map_err(|e| sdk("AddTags", e))?;
                Ok(())
            })
            .await)
    }

    async fn remove_tags(
        &mut self,
        region: String,
        arns: Vec<String>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{region} {arns:?} {keys:?}");
        Ok(self
            .audited("elbv2", "remove-tags", args, async move {
                grants.elbv2(&region).map_err(denied)?;
                arn_count(&arns)?;
                let client = connected(cloud)?.elbv2(&region);
                client
                    .remove_tags()
                    .set_resource_arns(Some(arns))
                    .set_tag_keys(Some(keys))
                    .send()
                    .await
                    .map_err(|e| sdk("RemoveTags", e))?;
                Ok(())
            })
            .await)
    }
}
