//! PLACEHOLDER (being written): `route53`.
#![allow(unused_variables)]

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::route53::*;

impl Host for StepHost {
    async fn list_hosted_zones_by_name(
        &mut self,
        dns_name: Option<String>,
    ) -> wasmtime::Result<Result<Vec<HostedZone>, Error>> {
        Ok(Err(PluginError::Internal(
            "route53.list_hosted_zones_by_name: not built yet".into(),
        )))
    }
    async fn get_hosted_zone(&mut self, id: String) -> wasmtime::Result<Result<HostedZone, Error>> {
        Ok(Err(PluginError::Internal(
            "route53.get_hosted_zone: not built yet".into(),
        )))
    }
    async fn list_resource_record_sets(
        &mut self,
        zone_id: String,
        start_name: Option<String>,
    ) -> wasmtime::Result<Result<Vec<RecordSet>, Error>> {
        Ok(Err(PluginError::Internal(
            "route53.list_resource_record_sets: not built yet".into(),
        )))
    }
    async fn change_resource_record_sets(
        &mut self,
        zone_id: String,
        comment: Option<String>,
        changes: Vec<Change>,
    ) -> wasmtime::Result<Result<ChangeInfo, Error>> {
        Ok(Err(PluginError::Internal(
            "route53.change_resource_record_sets: not built yet".into(),
        )))
    }
    async fn get_change(&mut self, id: String) -> wasmtime::Result<Result<ChangeInfo, Error>> {
        Ok(Err(PluginError::Internal(
            "route53.get_change: not built yet".into(),
        )))
    }
}
