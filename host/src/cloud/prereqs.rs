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
        let found = cloud
            .route53
            .list_hosted_zones_by_name()
            .dns_name(zone)
            .max_items(1)
            .send()
            .await
            .map_err(|e| failed(errors::sdk("ListHostedZonesByName", e)))?;
        let wanted = format!("{zone}.");
        if found
            .hosted_zones()
            .iter()
            .any(|z| z.name().eq_ignore_ascii_case(&wanted))
        {
            continue;
        }
        cloud
            .route53
            .create_hosted_zone()
            .name(zone)
            .caller_reference(format!("runner-sandbox-{zone}"))
            .send()
            .await
            .map_err(|e| failed(errors::sdk("CreateHostedZone", e)))?;
        created.push(zone.clone());
    }
    Ok(created)
}
