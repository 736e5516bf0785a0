//! `identity`: who the host's AWS credentials are (STS GetCallerIdentity), for plugins
//! that build ARNs or check where they run. The credentials stay in the host.

use super::{StepHost, connected, denied};
use crate::bindings::runner::plugin::identity::*;
use crate::cloud::errors::sdk;

impl Host for StepHost {
    async fn get_caller_identity(&mut self) -> wasmtime::Result<Result<Caller, Error>> {
        let (grants, cloud) = self.reach();
        Ok(self
            .audited(
                "identity",
                "get-caller-identity",
                String::new(),
                async move {
                    grants.identity().map_err(denied)?;
                    let cloud = connected(cloud)?;
                    let out = cloud
                        .sts
                        .get_caller_identity()
                        .send()
                        .await
                        .map_err(|e| sdk("GetCallerIdentity", e))?;
                    Ok(Caller {
                        account: out.account().unwrap_or_default().into(),
                        arn: out.arn().unwrap_or_default().into(),
                        user_id: out.user_id().unwrap_or_default().into(),
                    })
                },
            )
            .await)
    }
}
