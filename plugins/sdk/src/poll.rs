//! Waiting in a plugin for something only the cloud can tell (an accelerator becoming
//! DEPLOYED, a record INSYNC): check, sleep, check again, until a deadline. The sleep is
//! a WASI clock poll the host serves asynchronously, so a waiting step costs no CPU.
//! Kubernetes waits do not need this: `kubernetes::wait` runs on a watch in the host.

use std::time::{Duration, Instant};

use crate::Error;

/// Calls `check` every `every` until it returns `Some`, failing with `timeout` after
/// `limit`; `what` names the wait in progress reports and in the error. An error from
/// `check` ends the wait at once.
pub fn until<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        if let Some(done) = check()? {
            return Ok(done);
        }
        let waited = start.elapsed();
        if waited >= limit {
            return Err(Error::Timeout(format!(
                "{what}: not done after {} s",
                limit.as_secs_f64()
            )));
        }
        crate::progress(waited.as_millis() as u64, limit.as_millis() as u64, what);
        std::thread::sleep(every.min(limit - waited));
    }
}

/// Polls until the accelerator's last change has propagated (AWS refuses some calls,
/// such as delete, until then, and the next step should see a change in force).
pub fn accelerator_deployed(
    arn: &str,
    timeout_ms: u64,
) -> Result<crate::global_accelerator::Accelerator, Error> {
    until(
        &format!("accelerator {arn} DEPLOYED"),
        Duration::from_millis(timeout_ms),
        Duration::from_millis(300),
        || {
            let a = crate::global_accelerator::describe_accelerator(arn)
                .map_err(crate::context(format!("describing {arn}")))?;
            Ok((a.status == "DEPLOYED").then_some(a))
        },
    )
}

/// Milliseconds as seconds for messages: `120 s`, `0.5 s`.
pub fn seconds(ms: u64) -> String {
    match ms % 1000 {
        0 => format!("{} s", ms / 1000),
        _ => format!("{} s", ms as f64 / 1000.0),
    }
}

/// A token that is the same for every attempt of a step within one run, and new in the
/// next run: AWS idempotency tokens make a retried create return what the first try
/// made, without tying a later re-create to a long-deleted resource.
pub fn idempotency_token(run: &str, step: &str, what: &str) -> String {
    // FNV-1a: small, stable, dependency-free; the token only needs to be distinct.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run
        .bytes()
        .chain([0])
        .chain(step.bytes())
        .chain([0])
        .chain(what.bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("runner-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_distinct() {
        let a = idempotency_token("r1", "acc", "listener");
        assert_eq!(a, idempotency_token("r1", "acc", "listener"));
        assert_ne!(a, idempotency_token("r2", "acc", "listener"));
        assert_ne!(a, idempotency_token("r1", "acc", "accelerator"));
        assert!(a.len() <= 64);
    }
}
