//! PLACEHOLDER (being written): `kubernetes`.
#![allow(unused_variables)]

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::kubernetes::*;

impl Host for StepHost {
    async fn apply(
        &mut self,
        cluster: String,
        namespace: Option<String>,
        manifest: String,
    ) -> wasmtime::Result<Result<Vec<Applied>, Error>> {
        Ok(Err(PluginError::Internal(
            "kubernetes.apply: not built yet".into(),
        )))
    }
    async fn get(&mut self, target: ObjectRef) -> wasmtime::Result<Result<Json, Error>> {
        Ok(Err(PluginError::Internal(
            "kubernetes.get: not built yet".into(),
        )))
    }
    async fn list(
        &mut self,
        cluster: String,
        api_version: String,
        kind: String,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> wasmtime::Result<Result<Json, Error>> {
        Ok(Err(PluginError::Internal(
            "kubernetes.list: not built yet".into(),
        )))
    }
    async fn patch(
        &mut self,
        target: ObjectRef,
        patch_type: PatchType,
        patch: Json,
    ) -> wasmtime::Result<Result<Json, Error>> {
        Ok(Err(PluginError::Internal(
            "kubernetes.patch: not built yet".into(),
        )))
    }
    async fn delete(&mut self, target: ObjectRef) -> wasmtime::Result<Result<bool, Error>> {
        Ok(Err(PluginError::Internal(
            "kubernetes.delete: not built yet".into(),
        )))
    }
    async fn scale(
        &mut self,
        target: ObjectRef,
        replicas: u32,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(PluginError::Internal(
            "kubernetes.scale: not built yet".into(),
        )))
    }
    async fn wait(
        &mut self,
        target: ObjectRef,
        for_: WaitFor,
        timeout_ms: u64,
    ) -> wasmtime::Result<Result<Json, Error>> {
        Ok(Err(PluginError::Internal(
            "kubernetes.wait: not built yet".into(),
        )))
    }
}
