//! The sandbox's stand-ins for what a tutorial asks its reader to have before starting:
//! a workflow's `[sandbox] hosted_zones` are created in the local cloud when missing.
//! Only `--cloud sandbox` does this; against AWS a missing zone is the user's to fix.

use super::{Cloud, ConnectError, errors};
use crate::engine::outcome::plugin_failure;

/// Creates each zone the sandbox lacks; returns the ones it created.
pub async fn ensure_zones(cloud: &Cloud, zones: &[String]) -> Result<Vec<String>, ConnectError> {
    let mut created = Vec::new();
    for zone in zones {
        let failed = |e: crate::bindings::PluginError| {
            ConnectError::Unavailable(format!(
                "preparing the sandbox's hosted zone `{zone}`: {}",
                plugin_failure(e).message
            ))
        };
        if exists(cloud, zone).await.map_err(failed)? {
            continue;
        }
        // The caller reference makes the create idempotent: when its answer is lost and
        // the SDK sends it again, Route 53 refuses the second as HostedZoneAlreadyExists.
        let sent = cloud
            .route53
            .create_hosted_zone()
            .name(zone)
            .caller_reference(format!("runner-sandbox-{zone}"))
            .send()
            .await;
        match sent {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_hosted_zone_already_exists())
                    && exists(cloud, zone).await.map_err(failed)? => {}
            Err(e) => return Err(failed(errors::sdk("CreateHostedZone", e))),
        }
        created.push(zone.clone());
    }
    Ok(created)
}

async fn exists(cloud: &Cloud, zone: &str) -> Result<bool, crate::bindings::PluginError> {
    let found = cloud
        .route53
        .list_hosted_zones_by_name()
        .dns_name(zone)
        .max_items(1)
        .send()
        .await
        .map_err(|e| errors::sdk("ListHostedZonesByName", e))?;
    let wanted = format!("{zone}.");
    Ok(found
        .hosted_zones()
        .iter()
        .any(|z| z.name().eq_ignore_ascii_case(&wanted)))
}
