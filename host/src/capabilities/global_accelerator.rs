//! PLACEHOLDER (being written): `global_accelerator`.
#![allow(unused_variables)]

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::global_accelerator::*;

impl Host for StepHost {
    async fn list_accelerators(&mut self) -> wasmtime::Result<Result<Vec<Accelerator>, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.list_accelerators: not built yet".into(),
        )))
    }
    async fn describe_accelerator(
        &mut self,
        arn: String,
    ) -> wasmtime::Result<Result<Accelerator, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.describe_accelerator: not built yet".into(),
        )))
    }
    async fn create_accelerator(
        &mut self,
        input: CreateAcceleratorInput,
    ) -> wasmtime::Result<Result<Accelerator, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.create_accelerator: not built yet".into(),
        )))
    }
    async fn update_accelerator(
        &mut self,
        arn: String,
        name: Option<String>,
        enabled: Option<bool>,
    ) -> wasmtime::Result<Result<Accelerator, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.update_accelerator: not built yet".into(),
        )))
    }
    async fn delete_accelerator(&mut self, arn: String) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.delete_accelerator: not built yet".into(),
        )))
    }
    async fn list_listeners(
        &mut self,
        accelerator_arn: String,
    ) -> wasmtime::Result<Result<Vec<Listener>, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.list_listeners: not built yet".into(),
        )))
    }
    async fn create_listener(
        &mut self,
        input: CreateListenerInput,
    ) -> wasmtime::Result<Result<Listener, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.create_listener: not built yet".into(),
        )))
    }
    async fn delete_listener(&mut self, arn: String) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.delete_listener: not built yet".into(),
        )))
    }
    async fn list_endpoint_groups(
        &mut self,
        listener_arn: String,
    ) -> wasmtime::Result<Result<Vec<EndpointGroup>, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.list_endpoint_groups: not built yet".into(),
        )))
    }
    async fn describe_endpoint_group(
        &mut self,
        arn: String,
    ) -> wasmtime::Result<Result<EndpointGroup, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.describe_endpoint_group: not built yet".into(),
        )))
    }
    async fn create_endpoint_group(
        &mut self,
        input: CreateEndpointGroupInput,
    ) -> wasmtime::Result<Result<EndpointGroup, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.create_endpoint_group: not built yet".into(),
        )))
    }
    async fn update_endpoint_group(
        &mut self,
        input: UpdateEndpointGroupInput,
    ) -> wasmtime::Result<Result<EndpointGroup, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.update_endpoint_group: not built yet".into(),
        )))
    }
    async fn delete_endpoint_group(&mut self, arn: String) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.delete_endpoint_group: not built yet".into(),
        )))
    }
    async fn list_tags_for_resource(
        &mut self,
        arn: String,
    ) -> wasmtime::Result<Result<Vec<Tag>, Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.list_tags_for_resource: not built yet".into(),
        )))
    }
    async fn tag_resource(
        &mut self,
        arn: String,
        tags: Vec<Tag>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.tag_resource: not built yet".into(),
        )))
    }
    async fn untag_resource(
        &mut self,
        arn: String,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "global_accelerator.untag_resource: not built yet".into(),
        )))
    }
}
