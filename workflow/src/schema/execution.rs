//! How a step runs: `timeout`, `retry` and `limits`, with durations and sizes checked
//! against the units the format allows.

use std::ops::Range;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::{Checker, LIMIT_KEYS, Node, RETRY_KEYS, within};
use crate::units::{self, DURATION_HELP, SIZE_HELP};
use crate::workflow::{Limits, Retry};

impl Checker<'_> {
    /// A duration: a string like "1m30s" or an integer number of seconds.
    pub(super) fn duration(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        scope: &str,
    ) -> Option<(Duration, Range<usize>)> {
        self.duration_of(table, key, scope, false)
    }

    /// [`Checker::duration`]; with `vars`, the string may refer to variables
    /// (`"${vars.every}"`), for settings outside a step.
    pub(super) fn duration_of(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        scope: &str,
        vars: bool,
    ) -> Option<(Duration, Range<usize>)> {
        let value = table.get(key)?;
        let (parsed, written) = match value.get_ref() {
            DeValue::String(s) if vars && s.contains('$') => {
                let expanded = self.expand(s, value.span(), scope)?;
                (units::parse_duration(&expanded), format!("\"{expanded}\""))
            }
            DeValue::String(s) => (
                units::parse_duration(s),
                self.text.text()[value.span()].to_string(),
            ),
            DeValue::Integer(i) => (
                u64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .map(Duration::from_secs),
                String::new(),
            ),
            _ => {
                self.wrong_type(key, scope, value, "a duration (a string or an integer)");
                return None;
            }
        };
        if parsed.is_none() {
            let written = if written.is_empty() {
                &self.text.text()[value.span()]
            } else {
                &written
            };
            self.report(
                value.span(),
                format!("invalid duration {written} for `{key}`{}", within(scope)),
                Some(DURATION_HELP.into()),
            );
        }
        parsed.map(|d| (d, value.span()))
    }

    /// `timeout`: a duration longer than zero.
    pub(super) fn timeout(&mut self, table: &DeTable<'_>, scope: &str) -> Option<Duration> {
        let (timeout, at) = self.duration(table, "timeout", scope)?;
        if timeout.is_zero() {
            self.report(
                at,
                format!("`timeout`{} must be longer than zero", within(scope)),
                Some(DURATION_HELP.into()),
            );
        }
        Some(timeout)
    }

    pub(super) fn retry(&mut self, step: &DeTable<'_>, step_scope: &str) -> Retry {
        let mut retry = Retry::default();
        let Some((table, _)) = self.table(step, "retry", step_scope) else {
            return retry;
        };
        let scope = format!("`retry` of {step_scope}");
        self.unknown_keys(table, RETRY_KEYS, &scope);
        if let Some(value) = table.get("attempts") {
            match self.positive(value, "attempts", &scope).map(u32::try_from) {
                Some(Ok(n)) => retry.attempts = n,
                Some(Err(_)) => self.report(
                    value.span(),
                    format!("`attempts`{} is too large", within(&scope)),
                    None,
                ),
                None => {}
            }
        }
        if let Some((backoff, _)) = self.duration(table, "backoff", &scope) {
            retry.backoff = backoff;
        }
        match self.duration(table, "max_backoff", &scope) {
            Some((max, at)) => {
                retry.max_backoff = max;
                if max < retry.backoff {
                    self.report(
                        at,
                        format!("`max_backoff` is shorter than `backoff`{}", within(&scope)),
                        None,
                    );
                }
            }
            // Without an explicit cap, a long backoff raises the default cap rather than
            // being silently cut.
            None => retry.max_backoff = retry.max_backoff.max(retry.backoff),
        }
        retry
    }

    pub(super) fn limits(&mut self, step: &DeTable<'_>, step_scope: &str) -> Limits {
        let mut limits = Limits::default();
        let Some((table, _)) = self.table(step, "limits", step_scope) else {
            return limits;
        };
        let scope = format!("`limits` of {step_scope}");
        self.unknown_keys(table, LIMIT_KEYS, &scope);
        limits.memory = self.size(table, "memory", &scope);
        limits.output = self.size(table, "output", &scope);
        limits.fuel = table
            .get("fuel")
            .and_then(|v| self.positive(v, "fuel", &scope));
        limits
    }

    /// A positive integer.
    pub(super) fn positive(&mut self, value: &Node<'_>, key: &str, scope: &str) -> Option<u64> {
        let DeValue::Integer(i) = value.get_ref() else {
            self.wrong_type(key, scope, value, "a positive integer");
            return None;
        };
        match u64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                let written = &self.text.text()[value.span()];
                self.report(
                    value.span(),
                    format!(
                        "`{key}`{} must be at least 1, found {written}",
                        within(scope)
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A byte size: an integer or a string like "64MiB"; zero is rejected.
    fn size(&mut self, table: &DeTable<'_>, key: &str, scope: &str) -> Option<u64> {
        let value = table.get(key)?;
        let parsed = match value.get_ref() {
            DeValue::String(s) => units::parse_size(s),
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => {
                self.wrong_type(key, scope, value, "a size (a string or an integer)");
                return None;
            }
        };
        match parsed {
            Some(n) if n > 0 => Some(n),
            _ => {
                let written = &self.text.text()[value.span()];
                self.report(
                    value.span(),
                    format!("invalid size {written} for `{key}`{}", within(scope)),
                    Some(SIZE_HELP.into()),
                );
                None
            }
        }
    }
}
