//! Sending requests at a steady pace and telling which region answered each, until a
//! run of answers from one region says traffic has moved there.

use std::time::{Duration, Instant};

use runner_plugin::Error;
use runner_plugin::probe::{self, Method, Request};

/// The region of an answer like `Welcome to us-east-1c` (the tutorial app's reply).
pub fn region_of(body: &str) -> Option<String> {
    let zone = body.trim().strip_prefix("Welcome to ")?.trim();
    let region = zone.strip_suffix(|c: char| c.is_ascii_lowercase())?;
    region
        .ends_with(|c: char| c.is_ascii_digit())
        .then(|| region.to_string())
}

/// What one phase saw.
pub struct Phase {
    /// From the start of the phase to the first of the settling answers.
    pub settled_ms: u64,
    /// To the first answer from the wanted region at all.
    pub first_ms: u64,
    pub requests: u64,
    /// Answers that were not a 200 from either region, or no answer at all.
    pub errors: u64,
}

pub struct Watch {
    url: String,
    every: Duration,
    settle: u32,
}

impl Watch {
    pub fn new(url: &str, every: Duration, settle: u32) -> Self {
        Self {
            url: url.to_string(),
            every,
            settle: settle.max(1),
        }
    }

    /// One request, on a new connection as every probe is (Global Accelerator moves new
    /// connections only). The region that answered, or None for an error answer; a
    /// refused or malformed probe ends the drill, since retrying cannot help.
    fn ask(&self) -> Result<Option<String>, Error> {
        let req = Request {
            url: self.url.clone(),
            method: Method::Get,
            timeout_ms: 2000,
            max_body: 256,
            headers: Vec::new(),
        };
        match probe::fetch(&req) {
            Ok(r) if r.status == 200 => Ok(region_of(&String::from_utf8_lossy(&r.body))),
            Ok(_) => Ok(None),
            Err(e @ (Error::Denied(_) | Error::Invalid(_))) => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// Requests until `settle` answers in a row come from `region`.
    pub fn until_settled(
        &mut self,
        region: &str,
        limit: Duration,
        what: &str,
    ) -> Result<Phase, Error> {
        let start = Instant::now();
        let (mut requests, mut errors, mut run) = (0u64, 0u64, 0u32);
        let (mut first, mut run_start) = (None, None);
        loop {
            let sent = Instant::now();
            let answer = self.ask()?;
            requests += 1;
            match answer.as_deref() {
                Some(r) if r == region => {
                    let at = sent.duration_since(start).as_millis() as u64;
                    first.get_or_insert(at);
                    if run == 0 {
                        run_start = Some(at);
                    }
                    run += 1;
                    if run >= self.settle {
                        return Ok(Phase {
                            settled_ms: run_start.unwrap_or(at),
                            first_ms: first.unwrap_or(at),
                            requests,
                            errors,
                        });
                    }
                }
                Some(_) => run = 0,
                None => {
                    errors += 1;
                    run = 0;
                }
            }
            if start.elapsed() > limit {
                return Err(Error::Timeout(format!(
                    "no {what} within {} ({requests} requests to {}, {errors} errors)",
                    runner_plugin::poll::seconds(limit.as_millis() as u64),
                    self.url
                )));
            }
            runner_plugin::progress(
                start.elapsed().as_millis() as u64,
                limit.as_millis() as u64,
                what,
            );
            std::thread::sleep(self.every.saturating_sub(sent.elapsed()));
        }
    }
}
