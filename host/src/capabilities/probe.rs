//! PLACEHOLDER (being written): `probe`.
#![allow(unused_variables)]

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::probe::*;

impl Host for StepHost {
    async fn fetch(&mut self, req: Request) -> wasmtime::Result<Result<Response, Error>> {
        Ok(Err(PluginError::Internal(
            "probe.fetch: not built yet".into(),
        )))
    }
}
