//! Small helpers shared by run and destroy: error context, name lookup, the DEPLOYED wait.

use std::fmt::Display;

use runner_plugin::global_accelerator::{self as ga, Accelerator};
use runner_plugin::{Error, poll};

/// Prefixes a host error's message with what the step was doing, keeping its kind
/// (and so the host's retry decision).
pub fn ctx(what: impl Display) -> impl FnOnce(Error) -> Error {
    runner_plugin::context(format!("accelerator: {what}"))
}

/// `not-found` as `None`: during teardown, gone is as good as deleted.
pub fn gone_ok<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The one accelerator called `name`; two would make every later call ambiguous, so
/// that is a conflict for a human to resolve.
pub fn find_by_name(name: &str) -> Result<Option<Accelerator>, Error> {
    let all = ga::list_accelerators().map_err(ctx("listing accelerators"))?;
    let mut same: Vec<Accelerator> = all.into_iter().filter(|a| a.name == name).collect();
    match same.len() {
        0 => Ok(None),
        1 => Ok(same.pop()),
        _ => {
            let arns: Vec<&str> = same.iter().map(|a| a.arn.as_str()).collect();
            Err(Error::Conflict(format!(
                "accelerator: {} accelerators are named `{name}` ({}); delete all but one",
                arns.len(),
                arns.join(", ")
            )))
        }
    }
}

/// Waits for DEPLOYED, with this plugin's error prefix.
pub fn wait_deployed(arn: &str, timeout_ms: u64) -> Result<Accelerator, Error> {
    poll::accelerator_deployed(arn, timeout_ms).map_err(ctx("waiting"))
}
