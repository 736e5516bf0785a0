//! `[policy]`: which routing policy `runner watch` runs, on which accelerator, how
//! often, with what parameters, probes and grants.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use toml::de::{DeTable, DeValue};

use super::{Checker, within};
use crate::cloud::CloudConfig;
use crate::grants::Grants;
use crate::plugin::PluginRef;
use crate::policy::{Policy, PolicyProbe};
use crate::template::{self, Context, Files};
use crate::units::DURATION_HELP;

const POLICY_KEYS: &[&str] = &[
    "plugin",
    "sha256",
    "accelerator",
    "every",
    "with",
    "probe",
    "grants",
];
const PROBE_KEYS: &[&str] = &["path", "samples", "timeout", "window", "enabled"];
const SCOPE: &str = "[policy]";

impl Checker<'_> {
    /// The typed `[policy]`; None when absent (or not a table, which is reported).
    pub(super) fn policy(&mut self, root: &DeTable<'_>, cloud: &CloudConfig) -> Option<Policy> {
        let (table, span) = self.table(root, "policy", "")?;
        self.unknown_keys(table, POLICY_KEYS, SCOPE);
        let plugin = match self.setting(table, "plugin", SCOPE) {
            Some((text, at)) if text.is_empty() => {
                self.report(at, "`plugin` of [policy] is empty", None);
                None
            }
            Some((text, _)) => Some(text.into_owned()),
            None => {
                if !table.contains_key("plugin") {
                    self.missing(
                        "plugin",
                        SCOPE,
                        span.clone(),
                        Some("name a built-in policy (active-failover, weighted, latency) or a .wasm file".into()),
                    );
                }
                None
            }
        };
        let sha256 = self
            .setting(table, "sha256", SCOPE)
            .map(|(s, _)| s.into_owned());
        let accelerator = match self.setting(table, "accelerator", SCOPE) {
            Some((name, _)) => name.into_owned(),
            None => {
                if !table.contains_key("accelerator") {
                    self.missing(
                        "accelerator",
                        SCOPE,
                        span.clone(),
                        Some("name the accelerator the policy routes, e.g. accelerator = \"${vars.accelerator}\"".into()),
                    );
                }
                String::new()
            }
        };
        let every = match self.duration_of(table, "every", SCOPE, true) {
            Some((d, at)) if d < Duration::from_secs(1) => {
                self.report(
                    at,
                    "`every` of [policy] must be at least 1s",
                    Some("Global Accelerator health changes take seconds; a faster loop only adds API calls".into()),
                );
                d
            }
            Some((d, _)) => d,
            None => Policy::DEFAULT_EVERY,
        };
        let with = self.policy_with(table);
        let probe = self.policy_probe(table);
        let grants = match self.table(table, "grants", SCOPE) {
            Some((t, _)) => self.grants(t, SCOPE, cloud),
            None => Grants::default(),
        };
        let plugin = plugin?;
        let plugin = if PluginRef::is_path(&plugin) {
            PluginRef::File {
                path: self.path.parent().unwrap_or(Path::new("")).join(plugin),
                sha256,
            }
        } else {
            PluginRef::Builtin(plugin)
        };
        Some(Policy {
            plugin,
            accelerator,
            every,
            with,
            probe,
            grants,
            line: self.text.line_of(span.start),
        })
    }

    /// `with`, its strings' `${vars.NAME}` substituted (step outputs and files are
    /// reported: the loop runs outside any run).
    fn policy_with(&mut self, table: &DeTable<'_>) -> Value {
        let Some((with, _)) = self.table(table, "with", SCOPE) else {
            return Value::Object(Map::new());
        };
        let mut strings = Vec::new();
        let json = Value::Object(self.json_table(with, 2, &mut strings));
        let mut ok = true;
        for (text, at) in strings {
            ok &= self.expand(text, at, SCOPE).is_some();
        }
        if !ok {
            return json;
        }
        let outputs = Default::default();
        let ctx = Context {
            vars: &self.vars,
            outputs: &outputs,
        };
        template::render_value(&json, "policy", &ctx, &Files::default()).unwrap_or(json)
    }

    fn policy_probe(&mut self, table: &DeTable<'_>) -> PolicyProbe {
        let mut probe = PolicyProbe::default();
        let scope = "[policy.probe]";
        let Some((t, _)) = self.table(table, "probe", SCOPE) else {
            return probe;
        };
        self.unknown_keys(t, PROBE_KEYS, scope);
        if let Some((path, at)) = self.setting(t, "path", scope) {
            if path.starts_with('/') {
                probe.path = path.into_owned();
            } else {
                self.report(
                    at,
                    format!("`path`{} must start with `/`", within(scope)),
                    None,
                );
            }
        }
        let count = |c: &mut Self, key: &str, max: u64| {
            let value = t.get(key)?;
            let n = c.positive(value, key, scope)?;
            if n > max {
                c.report(
                    value.span(),
                    format!("`{key}`{} must be at most {max}", within(scope)),
                    None,
                );
                return None;
            }
            Some(n as u32)
        };
        if let Some(n) = count(self, "samples", 20) {
            probe.samples = n;
        }
        if let Some(n) = count(self, "window", 100) {
            probe.window = n;
        }
        if let Some((d, at)) = self.duration(t, "timeout", scope) {
            if d.is_zero() {
                self.report(
                    at,
                    format!("`timeout`{} must be longer than zero", within(scope)),
                    Some(DURATION_HELP.into()),
                );
            } else {
                probe.timeout = d;
            }
        }
        if let Some(value) = t.get("enabled") {
            match value.get_ref() {
                DeValue::Boolean(b) => probe.enabled = *b,
                _ => self.wrong_type("enabled", scope, value, "a boolean"),
            }
        }
        probe
    }
}
