//! Per-step resource limits and the limiter that enforces memory caps.
//!
//! The limiter records which limit was hit, so a failed step can say "memory limit
//! 64 MiB exceeded" instead of a bare trap.

use std::time::Duration;

use runner_workflow::Limits;

/// Limits applied to a step when its workflow does not set them.
pub const DEFAULT_MEMORY: u64 = 64 << 20;
pub const DEFAULT_OUTPUT: u64 = 1 << 20;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The limits one step runs under, with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLimits {
    pub memory: u64,
    pub fuel: Option<u64>,
    pub output: u64,
    pub timeout: Duration,
}

impl StepLimits {
    pub fn new(limits: &Limits, timeout: Option<Duration>) -> Self {
        Self {
            memory: limits.memory.unwrap_or(DEFAULT_MEMORY),
            fuel: limits.fuel,
            output: limits.output.unwrap_or(DEFAULT_OUTPUT),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

impl Default for StepLimits {
    fn default() -> Self {
        Self {
            memory: DEFAULT_MEMORY,
            fuel: None,
            output: DEFAULT_OUTPUT,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Enforces the memory cap and remembers the first breach.
pub struct StepLimiter {
    memory_max: usize,
    /// Set when a grow was refused: (bytes the guest asked for).
    pub breach: Option<usize>,
}

impl StepLimiter {
    pub fn new(memory_max: u64) -> Self {
        Self {
            memory_max: usize::try_from(memory_max).unwrap_or(usize::MAX),
            breach: None,
        }
    }
}

/// Tables and instances are bounded too: a component has a handful of each.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for StepLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_max {
            self.breach.get_or_insert(desired);
            wasmtime::bail!("memory limit of {} exceeded", bytes(self.memory_max as u64));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            wasmtime::bail!("table limit of {MAX_TABLE_ELEMENTS} elements exceeded");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

/// Human-readable byte counts in binary units ("64 MiB").
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3 GiB");
    }
}
