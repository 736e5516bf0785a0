//! `sleep`: waits for a while, reporting progress.
//!
//! For pacing a workflow (let DNS settle, give a drill time to observe) without
//! burning CPU: the wait is a WASI clock poll, which the host serves asynchronously.

use std::time::{Duration, Instant};

use runner_plugin::{Description, Error, Guest, Invocation, Recorded};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// How long to wait, in milliseconds.
    ms: u64,
}

struct Sleep;

impl Guest for Sleep {
    fn describe(params: String) -> Result<Description, Error> {
        // `ms` may still be a `${...}` reference at validation time: check the shape only.
        let v: serde_json::Value = runner_plugin::params(&params)?;
        if v.get("ms").is_none() {
            return Err(Error::Invalid("`ms` is required".into()));
        }
        Ok(Description {
            outputs: vec!["slept_ms".into()],
            summary: "waits, reporting progress".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        let start = Instant::now();
        let total = Duration::from_millis(p.ms);
        while start.elapsed() < total {
            let left = total - start.elapsed();
            std::thread::sleep(left.min(Duration::from_millis(100)));
            let done = start.elapsed().min(total).as_millis() as u64;
            runner_plugin::progress(done, p.ms, "sleeping");
        }
        runner_plugin::outputs(
            &serde_json::json!({ "slept_ms": start.elapsed().as_millis() as u64 }),
        )
    }

    fn destroy(_input: Invocation, _recorded: Recorded) -> Result<(), Error> {
        Ok(())
    }
}

runner_plugin::export!(Sleep);
