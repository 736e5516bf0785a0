//! `route53`: typed Route 53 calls. Grants name zones (by domain or id) and record
//! names; calls name zones by id, so the host remembers each zone's name as it learns
//! it and reads the zone (never writes) when a step names one this run has not seen.
//! A change batch is checked record by record before any of it is sent.

use aws_sdk_route53::types as t;
use runner_workflow::{Grants, HostedZone as GrantedZone};

use super::{StepHost, connected, denied};
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::route53::*;
use crate::cloud::errors::sdk;
use crate::cloud::{Cloud, bare_zone_id};

/// Most records one listing returns (every page up to this).
const MAX_RECORDS: usize = 10_000;
/// Most changes in one batch (Route 53's own limit is 1000).
const MAX_CHANGES: usize = 1000;

/// Refuses a step that has no Route 53 grant at all, before any lookup.
fn any_grant(grants: &Grants) -> Result<(), PluginError> {
    if grants.route53.is_empty() {
        return Err(PluginError::Denied(
            "no grant allows Route 53 (grants.route53)".into(),
        ));
    }
    Ok(())
}

/// May the step use zone `id` (and `record` in it)? A zone granted by id needs no
/// lookup; otherwise its name is read once per run.
async fn check_zone(
    grants: &Grants,
    cloud: &Cloud,
    id: &str,
    record: Option<&str>,
) -> Result<(), PluginError> {
    any_grant(grants)?;
    let id = bare_zone_id(id);
    if id.is_empty() {
        return Err(PluginError::Invalid("a hosted zone id is required".into()));
    }
    if grants.route53(&id, record).is_ok() {
        return Ok(());
    }
    let by_name = grants
        .route53
        .iter()
        .any(|g| g.zones.iter().any(|z| matches!(z, GrantedZone::Name(_))));
    if !by_name {
        // Only ids are granted and this one (or this record of it) is not: no lookup.
        return grants.route53(&id, record).map_err(denied);
    }
    let name = match cloud.known_zone(&id) {
        Some(name) => name,
        None => {
            let out = cloud
                .route53
                .get_hosted_zone()
                .id(&id)
                .send()
                .await
                .map_err(|e| sdk("GetHostedZone", e))?;
            let name = out.hosted_zone().map(|z| z.name()).unwrap_or_default();
            cloud.learn_zone(&id, name);
            cloud.known_zone(&id).unwrap_or_default()
        }
    };
    grants.route53_zone(&id, &name, record).map_err(denied)
}

fn zone(z: &t::HostedZone) -> HostedZone {
    HostedZone {
        id: bare_zone_id(z.id()),
        name: z.name().into(),
        private_zone: z.config().is_some_and(|c| c.private_zone()),
        record_count: z.resource_record_set_count().unwrap_or(0).max(0) as u64,
    }
}

fn record_set(r: &t::ResourceRecordSet) -> RecordSet {
    RecordSet {
        name: r.name().into(),
        record_type: r.r#type().as_str().into(),
        ttl: r.ttl().map(|t| t.clamp(0, i64::from(u32::MAX)) as u32),
        values: r
            .resource_records()
            .iter()
            .map(|v| v.value().to_string())
            .collect(),
        alias_target: r.alias_target().map(|a| AliasTarget {
            hosted_zone_id: a.hosted_zone_id().into(),
            dns_name: a.dns_name().into(),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        set_identifier: r.set_identifier().map(str::to_string),
    }
}

fn change_info(c: &t::ChangeInfo) -> ChangeInfo {
    ChangeInfo {
        id: c.id().strip_prefix("/change/").unwrap_or(c.id()).into(),
        status: c.status().as_str().into(),
        submitted_at: c
            .submitted_at()
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default(),
    }
}

fn sdk_change(c: &Change) -> Result<t::Change, PluginError> {
    let r = &c.record_set;
    let invalid = |e: aws_smithy_types::error::operation::BuildError| {
        PluginError::Invalid(format!("record `{}`: {e}", r.name))
    };
    let mut set = t::ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(t::RrType::from(r.record_type.as_str()))
        .set_ttl(r.ttl.map(i64::from))
        .set_set_identifier(r.set_identifier.clone());
    if !r.values.is_empty() {
        let values = r
            .values
            .iter()
            .map(|v| {
                t::ResourceRecord::builder()
                    .value(v)
                    .build()
                    .map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        set = set.set_resource_records(Some(values));
    }
    if let Some(a) = &r.alias_target {
        set = set.alias_target(
            t::AliasTarget::builder()
                .hosted_zone_id(&a.hosted_zone_id)
                .dns_name(&a.dns_name)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(invalid)?,
        );
    }
    let action = match c.action {
        ChangeAction::Create => t::ChangeAction::Create,
        ChangeAction::Delete => t::ChangeAction::Delete,
        ChangeAction::Upsert => t::ChangeAction::Upsert,
    };
    t::Change::builder()
        .action(action)
        .resource_record_set(set.build().map_err(invalid)?)
        .build()
        .map_err(invalid)
}

impl Host for StepHost {
    async fn list_hosted_zones_by_name(
        &mut self,
        dns_name: Option<String>,
    ) -> wasmtime::Result<Result<Vec<HostedZone>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{dns_name:?}");
        Ok(self
            .audited("route53", "list-hosted-zones-by-name", args, async move {
                any_grant(&grants)?;
                let cloud = connected(cloud)?;
                let out = cloud
                    .route53
                    .list_hosted_zones_by_name()
                    .set_dns_name(dns_name)
                    .max_items(100)
                    .send()
                    .await
                    .map_err(|e| sdk("ListHostedZonesByName", e))?;
                let mut zones = Vec::new();
                for z in out.hosted_zones().iter().map(zone) {
                    cloud.learn_zone(&z.id, &z.name);
                    if grants.route53_zone(&z.id, &z.name, None).is_ok() {
                        zones.push(z);
                    }
                }
                Ok(zones)
            })
            .await)
    }

    async fn get_hosted_zone(&mut self, id: String) -> wasmtime::Result<Result<HostedZone, Error>> {
        let (grants, cloud) = self.reach();
        let args = id.clone();
        Ok(self
            .audited("route53", "get-hosted-zone", args, async move {
                any_grant(&grants)?;
                let cloud = connected(cloud)?;
                check_zone(&grants, &cloud, &id, None).await?;
                let out = cloud
                    .route53
                    .get_hosted_zone()
                    .id(bare_zone_id(&id))
                    .send()
                    .await
                    .map_err(|e| sdk("GetHostedZone", e))?;
                out.hosted_zone()
                    .map(zone)
                    .ok_or_else(|| PluginError::NotFound(format!("hosted zone {id} not found")))
            })
            .await)
    }

    async fn list_resource_record_sets(
        &mut self,
        zone_id: String,
        start_name: Option<String>,
    ) -> wasmtime::Result<Result<Vec<RecordSet>, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!("{zone_id} from {start_name:?}");
        Ok(self
            .audited("route53", "list-resource-record-sets", args, async move {
                any_grant(&grants)?;
                let cloud = connected(cloud)?;
                check_zone(&grants, &cloud, &zone_id, None).await?;
                let mut records = Vec::new();
                let (mut name, mut rtype, mut ident) = (start_name, None, None);
                loop {
                    let out = cloud
                        .route53
                        .list_resource_record_sets()
                        .hosted_zone_id(bare_zone_id(&zone_id))
                        .set_start_record_name(name)
                        .set_start_record_type(rtype)
                        .set_start_record_identifier(ident)
                        .max_items(300)
                        .send()
                        .await
                        .map_err(|e| sdk("ListResourceRecordSets", e))?;
                    records.extend(out.resource_record_sets().iter().map(record_set));
                    if !out.is_truncated() || records.len() >= MAX_RECORDS {
                        break;
                    }
                    name = out.next_record_name().map(str::to_string);
                    rtype = out.next_record_type().cloned();
                    ident = out.next_record_identifier().map(str::to_string);
                }
                Ok(records)
            })
            .await)
    }

    async fn change_resource_record_sets(
        &mut self,
        zone_id: String,
        comment: Option<String>,
        changes: Vec<Change>,
    ) -> wasmtime::Result<Result<ChangeInfo, Error>> {
        let (grants, cloud) = self.reach();
        let args = format!(
            "{zone_id} {}",
            changes
                .iter()
                .take(8)
                .map(|c| format!(
                    "{:?} {} {}",
                    c.action, c.record_set.name, c.record_set.record_type
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(self
            .audited("route53", "change-resource-record-sets", args, async move {
                any_grant(&grants)?;
                if changes.is_empty() || changes.len() > MAX_CHANGES {
                    return Err(PluginError::Invalid(format!(
                        "a change batch holds 1 to {MAX_CHANGES} changes, got {}",
                        changes.len()
                    )));
                }
                let cloud = connected(cloud)?;
                for c in &changes {
                    check_zone(&grants, &cloud, &zone_id, Some(&c.record_set.name)).await?;
                }
                let batch = t::ChangeBatch::builder()
                    .set_comment(comment)
                    .set_changes(Some(
                        changes
                            .iter()
                            .map(sdk_change)
                            .collect::<Result<Vec<_>, _>>()?,
                    ))
                    .build()
                    .map_err(|e| PluginError::Invalid(format!("change batch: {e}")))?;
                let out = cloud
                    .route53
                    .change_resource_record_sets()
                    .hosted_zone_id(bare_zone_id(&zone_id))
                    .change_batch(batch)
                    .send()
                    .await
                    .map_err(|e| missing_record(sdk("ChangeResourceRecordSets", e)))?;
                out.change_info().map(change_info).ok_or_else(|| {
                    PluginError::Internal("ChangeResourceRecordSets returned no change".into())
                })
            })
            .await)
    }

    async fn get_change(&mut self, id: String) -> wasmtime::Result<Result<ChangeInfo, Error>> {
        let (grants, cloud) = self.reach();
        let args = id.clone();
        Ok(self
            .audited("route53", "get-change", args, async move {
                // A change id reveals nothing but its status: any Route 53 grant may read it.
                any_grant(&grants)?;
                let cloud = connected(cloud)?;
                let bare = id.strip_prefix("/change/").unwrap_or(&id);
                let out = cloud
                    .route53
                    .get_change()
                    .id(bare)
                    .send()
                    .await
                    .map_err(|e| sdk("GetChange", e))?;
                out.change_info()
                    .map(change_info)
                    .ok_or_else(|| PluginError::NotFound(format!("change {id} not found")))
            })
            .await)
    }
}

/// Route 53 refuses a DELETE of a record that is not there as `InvalidChangeBatch` ("Tried
/// to delete resource record set ... but it was not found"): that is `not-found`, so a
/// delete whose first answer was lost (and the SDK sent again) reads as already done.
fn missing_record(e: PluginError) -> PluginError {
    match e {
        PluginError::Conflict(m) if m.contains("but it was not found") => PluginError::NotFound(m),
        e => e,
    }
}
