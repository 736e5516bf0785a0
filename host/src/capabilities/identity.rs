//! PLACEHOLDER (being written): `identity`.
#![allow(unused_variables)]

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::identity::*;

impl Host for StepHost {
    async fn get_caller_identity(&mut self) -> wasmtime::Result<Result<Caller, Error>> {
        Ok(Err(PluginError::Internal(
            "identity.get_caller_identity: not built yet".into(),
        )))
    }
}
