//! PLACEHOLDER (being written): `elbv2`.
#![allow(unused_variables)]

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::elbv2::*;

impl Host for StepHost {
    async fn describe_load_balancers(
        &mut self,
        region: String,
        arns: Vec<String>,
        names: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<LoadBalancer>, Error>> {
        Ok(Err(PluginError::Internal(
            "elbv2.describe_load_balancers: not built yet".into(),
        )))
    }
    async fn describe_target_groups(
        &mut self,
        region: String,
        load_balancer_arn: Option<String>,
        arns: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<TargetGroup>, Error>> {
        Ok(Err(PluginError::Internal(
            "elbv2.describe_target_groups: not built yet".into(),
        )))
    }
    async fn describe_target_health(
        &mut self,
        region: String,
        target_group_arn: String,
    ) -> wasmtime::Result<Result<Vec<TargetHealth>, Error>> {
        Ok(Err(PluginError::Internal(
            "elbv2.describe_target_health: not built yet".into(),
        )))
    }
    async fn describe_listeners(
        &mut self,
        region: String,
        load_balancer_arn: String,
    ) -> wasmtime::Result<Result<Vec<Listener>, Error>> {
        Ok(Err(PluginError::Internal(
            "elbv2.describe_listeners: not built yet".into(),
        )))
    }
    async fn describe_tags(
        &mut self,
        region: String,
        arns: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<ResourceTags>, Error>> {
        Ok(Err(PluginError::Internal(
            "elbv2.describe_tags: not built yet".into(),
        )))
    }
    async fn add_tags(
        &mut self,
        region: String,
        arns: Vec<String>,
        tags: Vec<Tag>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "elbv2.add_tags: not built yet".into(),
        )))
    }
    async fn remove_tags(
        &mut self,
        region: String,
        arns: Vec<String>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "elbv2.remove_tags: not built yet".into(),
        )))
    }
}
