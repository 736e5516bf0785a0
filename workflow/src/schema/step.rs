//! One step's keys: its id-dependent scope, plugin and pin, `needs`, the references in
//! `with` and `if` (and the dependencies they imply, and the files `with` reads), and the
//! cycle check over all steps.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde_json::{Map, Value};
use toml::de::{DeTable, DeValue};

use super::{Checker, STEP_KEYS, StepId, StepTable, kind, within};
use crate::cloud::CloudConfig;
use crate::condition::Condition;
use crate::dag;
use crate::grants::Grants;
use crate::plugin::PluginRef;
use crate::template::{self, Reference};
use crate::toml_string::StringSpans;
use crate::workflow::{Step, StepSite};

/// What the walk over one step found besides the [`Step`] itself.
pub(super) struct StepDraft {
    pub(super) step: Step,
    pub(super) site: StepSite,
    /// Dependencies with the span that creates each (a `needs` entry or a `${`).
    edges: Vec<(usize, Range<usize>)>,
}

/// The dependencies a step creates, collected while its `needs`, `with` and `if` are read.
struct Links<'a> {
    own: usize,
    label: &'a str,
    scope: &'a str,
    index: &'a BTreeMap<&'a str, usize>,
    vars: &'a BTreeMap<String, Value>,
    edges: Vec<(usize, Range<usize>)>,
    output_refs: Vec<(Reference, Range<usize>)>,
}

impl Checker<'_> {
    pub(super) fn step(
        &mut self,
        position: usize,
        entry: &StepTable<'_, '_>,
        ids: &[Option<StepId>],
        index: &BTreeMap<&str, usize>,
        vars: &BTreeMap<String, Value>,
        cloud: &CloudConfig,
    ) -> StepDraft {
        let StepTable {
            number,
            table,
            span,
        } = entry;
        let span = span.clone();
        let id = ids[position].as_ref().map(|s| s.id.clone());
        let scope = match &id {
            Some(id) => format!("step `{id}`"),
            None => format!("step #{number}"),
        };
        let label = id.clone().unwrap_or_else(|| format!("#{number}"));
        self.unknown_keys(table, STEP_KEYS, &scope);

        let (plugin, plugin_span, plugin_text) = self.plugin(table, span.clone(), &scope);
        let sha256 = self.sha256(table, &plugin, &scope);
        let plugin = match plugin {
            Some(text) if PluginRef::is_path(text) => PluginRef::File {
                path: self.path.parent().unwrap_or(Path::new("")).join(text),
                sha256: sha256.as_ref().map(|(s, _)| s.clone()),
            },
            other => PluginRef::Builtin(other.unwrap_or_default().to_owned()),
        };

        let mut links = Links {
            own: position,
            label: &label,
            scope: &scope,
            index,
            vars,
            edges: Vec::new(),
            output_refs: Vec::new(),
        };
        self.needs(table, &mut links);

        let (with, with_span) = self.with(table, &mut links);
        let condition = self.condition(table, &mut links);
        let Links {
            edges, output_refs, ..
        } = links;

        let (grants, grant) = match self.table(table, "grants", &scope) {
            Some((t, _)) => (
                Value::Object(self.json_table(t, 3, &mut Vec::new())),
                self.grants(t, &scope, cloud),
            ),
            None => (Value::Object(Map::new()), Grants::default()),
        };
        let timeout = self.timeout(table, &scope);
        let retry = self.retry(table, &scope);
        let limits = self.limits(table, &scope);
        let needs = edges
            .iter()
            .filter_map(|(i, _)| ids[*i].as_ref().map(|s| s.id.clone()))
            .collect();
        StepDraft {
            step: Step {
                id: label,
                plugin,
                needs,
                with,
                grants,
                grant,
                timeout,
                retry,
                limits,
                condition,
                line: self.text.line_of(span.start),
            },
            site: StepSite {
                table: span,
                plugin: plugin_span,
                plugin_text,
                sha256: sha256.map(|(_, at)| at),
                with: with_span,
                output_refs,
            },
            edges,
        }
    }

    /// The `plugin` value (None when missing or not a string), its span and its text.
    fn plugin<'t>(
        &mut self,
        table: &'t DeTable<'_>,
        span: Range<usize>,
        scope: &str,
    ) -> (Option<&'t str>, Range<usize>, String) {
        match self.string(table, "plugin", scope) {
            Some((text, at)) => {
                if text.is_empty() {
                    self.report(
                        at.clone(),
                        format!("`plugin`{} is empty", within(scope)),
                        None,
                    );
                }
                (Some(text), at, text.to_owned())
            }
            None => {
                if !table.contains_key("plugin") {
                    self.missing(
                        "plugin",
                        scope,
                        span.clone(),
                        Some("name a built-in plugin or a .wasm file".into()),
                    );
                }
                (None, span, String::new())
            }
        }
    }

    fn sha256(
        &mut self,
        table: &DeTable<'_>,
        plugin: &Option<&str>,
        scope: &str,
    ) -> Option<(String, Range<usize>)> {
        let (digest, at) = self.string(table, "sha256", scope)?;
        if let Some(name) = plugin.filter(|p| !PluginRef::is_path(p)) {
            self.report(
                at.clone(),
                format!(
                    "`sha256`{} only applies to a plugin file, and `{name}` is a built-in",
                    within(scope)
                ),
                Some("remove `sha256`, or set `plugin` to the path of a .wasm file".into()),
            );
        }
        if digest.len() != 64
            || !digest
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            self.report(
                at.clone(),
                format!(
                    "invalid `sha256`{}: expected 64 lowercase hex digits",
                    within(scope)
                ),
                None,
            );
        }
        Some((digest.to_owned(), at))
    }

    fn needs(&mut self, table: &DeTable<'_>, links: &mut Links<'_>) {
        let Some(value) = table.get("needs") else {
            return;
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type("needs", links.scope, value, "an array of step ids");
            return;
        };
        for item in items.iter() {
            if self.full() {
                break;
            }
            let DeValue::String(name) = item.get_ref() else {
                let message = format!(
                    "wrong type for an entry of `needs`{}: expected a step id, found {}",
                    within(links.scope),
                    kind(item.get_ref())
                );
                self.report(item.span(), message, None);
                continue;
            };
            match links.index.get(name.as_ref()) {
                Some(&target) if target == links.own => {
                    self.report(
                        item.span(),
                        format!("step `{}` needs itself", links.label),
                        None,
                    );
                }
                Some(&target) => links.edges.push((target, item.span())),
                None => {
                    let help = self.hints.did_you_mean(name, links.index.keys().copied());
                    self.report(
                        item.span(),
                        format!("step `{}` needs unknown step `{name}`", links.label),
                        help,
                    );
                }
            }
        }
    }

    /// Checks references made in the string at `string_span` and records the
    /// dependencies they imply.
    fn link_references(
        &mut self,
        string_span: Range<usize>,
        refs: impl IntoIterator<Item = (Reference, Range<usize>)>,
        links: &mut Links<'_>,
    ) {
        let mut spans = StringSpans::new(self.text.text(), string_span);
        for (reference, range) in refs {
            if self.full() {
                break;
            }
            let at = spans.span(range);
            match &reference {
                Reference::Var(name) => {
                    if !links.vars.contains_key(name) {
                        let help = self
                            .hints
                            .did_you_mean(name, links.vars.keys().map(String::as_str))
                            .or_else(|| Some(format!("declare `{name}` under [vars]")));
                        self.report(
                            at,
                            format!(
                                "reference to unknown variable `{name}`{}",
                                within(links.scope)
                            ),
                            help,
                        );
                    }
                }
                Reference::Output { step, key } => match links.index.get(step.as_str()) {
                    Some(&target) if target == links.own => {
                        self.report(
                            at,
                            format!("step `{step}` refers to its own output `{key}`"),
                            Some("a step can only read the outputs of other steps".into()),
                        );
                    }
                    Some(&target) => {
                        links.edges.push((target, at.clone()));
                        links.output_refs.push((reference.clone(), at));
                    }
                    None => {
                        let help = self.hints.did_you_mean(step, links.index.keys().copied());
                        self.report(
                            at,
                            format!("reference to unknown step `{step}`{}", within(links.scope)),
                            help,
                        );
                    }
                },
                // `with` reads its files itself, so only `if` gets here.
                Reference::File(_) => {
                    let scope = format!("`if` of {}", links.scope);
                    self.report(
                        at,
                        super::files::outside_with_message(&reference, &scope),
                        Some(super::files::OUTSIDE_WITH_HELP.into()),
                    );
                }
            }
        }
    }

    /// `with` as JSON (an empty object when absent) and its span, checking the references
    /// in its strings.
    fn with(
        &mut self,
        table: &DeTable<'_>,
        links: &mut Links<'_>,
    ) -> (Value, Option<Range<usize>>) {
        let Some((with, span)) = self.table(table, "with", links.scope) else {
            return (Value::Object(Map::new()), None);
        };
        let mut strings = Vec::new();
        let json = self.json_table(with, 3, &mut strings);
        for (text, string_span) in strings {
            if self.full() {
                break;
            }
            match template::parse(text) {
                Ok(pieces) => {
                    let (files, refs): (Vec<_>, Vec<_>) = pieces
                        .into_iter()
                        .filter_map(|p| match p {
                            template::Piece::Ref(reference, range) => Some((reference, range)),
                            template::Piece::Text(_) => None,
                        })
                        .partition(|(reference, _)| matches!(reference, Reference::File(_)));
                    self.link_references(string_span.clone(), refs, links);
                    let mut spans = StringSpans::new(self.text.text(), string_span);
                    for (reference, range) in files {
                        if self.full() {
                            break;
                        }
                        if let Reference::File(path) = reference {
                            self.file_reference(&path, spans.span(range), links.scope);
                        }
                    }
                }
                Err(e) => {
                    let at = StringSpans::new(self.text.text(), string_span).span(e.range);
                    let message = format!("{}{}", e.message, within(links.scope));
                    self.report(at, message, e.help);
                }
            }
        }
        (Value::Object(json), Some(span))
    }

    fn condition(&mut self, table: &DeTable<'_>, links: &mut Links<'_>) -> Option<Condition> {
        let (text, at) = self.string(table, "if", links.scope)?;
        match Condition::parse(text, links.label) {
            Ok(condition) => {
                self.link_references(at, condition.references(), links);
                Some(condition)
            }
            Err(e) => {
                let span = StringSpans::new(self.text.text(), at).span(e.range);
                self.report(
                    span,
                    format!("invalid condition{}: {}", within(links.scope), e.message),
                    e.help,
                );
                None
            }
        }
    }

    /// Dependency cycles, each named in full and reported at the edge that leaves its
    /// first step.
    pub(super) fn check_graph(&mut self, drafts: &[StepDraft]) {
        let needs: Vec<Vec<usize>> = drafts
            .iter()
            .map(|d| d.edges.iter().map(|(t, _)| *t).collect())
            .collect();
        for cycle in dag::cycles(&needs) {
            let names: Vec<&str> = cycle
                .iter()
                .chain(cycle.first())
                .map(|&i| drafts[i].step.id.as_str())
                .collect();
            let next = cycle.get(1).copied().unwrap_or(cycle[0]);
            let Some((_, span)) = drafts[cycle[0]].edges.iter().find(|(t, _)| *t == next) else {
                continue;
            };
            self.report(
                span.clone(),
                format!("dependency cycle: {}", names.join(" -> ")),
                Some("remove one of these dependencies".into()),
            );
        }
    }
}
