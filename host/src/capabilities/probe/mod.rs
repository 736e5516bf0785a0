//! `probe`: one HTTP GET or HEAD from the host, so a step can check that a service
//! answers (health endpoints, rollouts, failovers) without network access of its own.
//!
//! The URL's host is checked against `grants.probe` before anything is resolved or
//! connected; the exchange itself, and its bounds, live in [`client`].

mod client;
mod resolve;

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::probe::{Error, Host, Method, Request, Response};
use crate::state::audit::clip;

impl Host for StepHost {
    async fn fetch(&mut self, req: Request) -> wasmtime::Result<Result<Response, Error>> {
        let method = match req.method {
            Method::Get => client::Method::Get,
            Method::Head => client::Method::Head,
        };
        // Header names only: their values may carry credentials.
        let args = format!(
            "{method} {} (timeout {} ms, max body {}, {} headers)",
            clip(&req.url, 200),
            req.timeout_ms,
            req.max_body,
            req.headers.len()
        );
        let (grants, cloud) = self.reach();
        let resolver = cloud.and_then(|c| c.dns);
        Ok(self
            .audited("probe", "fetch", args, async move {
                let target = client::Target::parse(method, &req.url).map_err(plugin_error)?;
                grants.probe(&target.host).map_err(super::denied)?;
                let probe = client::Probe {
                    method,
                    timeout: client::deadline(req.timeout_ms),
                    max_body: client::body_limit(req.max_body),
                    headers: client::request_headers(&target, &req.headers)
                        .map_err(plugin_error)?,
                    resolver,
                };
                let reply = client::fetch(&target, &probe).await.map_err(plugin_error)?;
                Ok(Response {
                    status: reply.status,
                    headers: reply.headers,
                    body: reply.body,
                    truncated: reply.truncated,
                    latency_us: u64::try_from(reply.latency.as_micros()).unwrap_or(u64::MAX),
                    remote_address: reply.remote.to_string(),
                })
            })
            .await)
    }
}

fn plugin_error(f: client::Failure) -> PluginError {
    match f {
        client::Failure::Invalid(m) => PluginError::Invalid(m),
        client::Failure::Unavailable(m) => PluginError::Unavailable(m),
        client::Failure::Timeout(m) => PluginError::Timeout(m),
        client::Failure::Internal(m) => PluginError::Internal(m),
    }
}
