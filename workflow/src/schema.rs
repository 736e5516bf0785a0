//! Reads a workflow from its spanned TOML tree. Every key and value is checked and every
//! problem recorded with its span, instead of stopping at the first, so one `validate`
//! shows the user everything to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Number, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::condition::Condition;
use crate::diagnostic::{Diagnostic, Report, SourceText};
use crate::plugin::PluginRef;
use crate::suggest::Suggester;
use crate::template::{self, Reference};
use crate::toml_string::StringSpans;
use crate::units::{self, DURATION_HELP, SIZE_HELP};
use crate::workflow::{Limits, Retry, Step, StepSite, Workflow};
use crate::{dag, overrides};

/// Largest workflow file accepted.
pub(crate) const MAX_FILE_BYTES: usize = 1 << 20;
/// Most steps a workflow may have.
pub(crate) const MAX_STEPS: usize = 1000;
/// Deepest nesting of tables and arrays, counted from the top of the file (the `steps`
/// array is level 1, a step level 2, its `with` table level 3).
pub(crate) const MAX_NESTING: usize = 32;
/// Validation stops collecting problems after this many: a hostile or generated file
/// could otherwise produce a report far larger than itself, slowly.
const MAX_DIAGNOSTICS: usize = 200;
/// At most this many TOML syntax errors are shown: after the first few, the parser's
/// recovery mostly reports echoes of the same mistake.
const MAX_SYNTAX_ERRORS: usize = 10;

const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "vars",
    "steps",
    "clusters",
    "aws",
    "policy",
];
const STEP_KEYS: &[&str] = &[
    "id", "plugin", "sha256", "needs", "with", "grants", "timeout", "retry", "limits", "if",
];
const RETRY_KEYS: &[&str] = &["attempts", "backoff", "max_backoff"];
const LIMIT_KEYS: &[&str] = &["memory", "fuel", "output"];
const ADD_A_STEP: &str = "add at least one [[steps]] table";

type Value_<'i> = Spanned<DeValue<'i>>;

pub(crate) fn too_big_message() -> String {
    format!(
        "the workflow is larger than {} MiB, the limit for workflow files",
        MAX_FILE_BYTES >> 20
    )
}

/// Parses and validates `source`; see [`Workflow::parse`].
pub(crate) fn parse(
    path: &Path,
    source: &str,
    overrides: &[(String, String)],
) -> Result<Workflow, Report> {
    if source.len() > MAX_FILE_BYTES {
        return Err(Report::new(
            path,
            vec![Diagnostic::unplaced(path, too_big_message())],
        ));
    }
    let text = SourceText::new(source);
    let (document, errors) = DeTable::parse_recoverable(source);
    if !errors.is_empty() {
        let mut seen = BTreeSet::new();
        let diagnostics = errors
            .iter()
            .filter(|e| seen.insert((e.span().map(|s| s.start), e.message().to_owned())))
            .take(MAX_SYNTAX_ERRORS)
            .map(|e| {
                let message = format!("invalid TOML: {}", e.message());
                match e.span() {
                    Some(span) => Diagnostic::at(path, &text, span, message),
                    None => Diagnostic::unplaced(path, message),
                }
            })
            .collect();
        return Err(Report::new(path, diagnostics));
    }
    let mut checker = Checker {
        path,
        text,
        diagnostics: Vec::new(),
        truncated: false,
        hints: Suggester::new(),
    };
    let workflow = checker.workflow(document.get_ref(), overrides);
    if checker.truncated {
        let message =
            format!("stopped after {MAX_DIAGNOSTICS} problems; fix these and validate again");
        checker
            .diagnostics
            .push(Diagnostic::unplaced(path, message));
    }
    if checker.diagnostics.is_empty() {
        Ok(workflow)
    } else {
        Err(Report::new(path, checker.diagnostics))
    }
}

/// The place a key belongs to, for messages: empty at the top level, else " in ...".
fn within(scope: &str) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!(" in {scope}")
    }
}

/// "a string", "an integer", ... for "found ..." in messages.
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn valid_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn valid_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A step's id and where it was defined, from the first pass over `steps`.
struct StepId {
    id: String,
    span: Range<usize>,
}

/// What the walk over one step found besides the [`Step`] itself.
struct StepDraft {
    step: Step,
    site: StepSite,
    /// Dependencies with the span that creates each (a `needs` entry or a `${`).
    edges: Vec<(usize, Range<usize>)>,
}

/// Walks the tree, collecting diagnostics.
struct Checker<'s> {
    path: &'s Path,
    text: SourceText<'s>,
    diagnostics: Vec<Diagnostic>,
    /// Set when a problem was dropped because [`MAX_DIAGNOSTICS`] were already found.
    truncated: bool,
    hints: Suggester,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        if self.full() {
            self.truncated = true;
            return;
        }
        self.diagnostics
            .push(Diagnostic::at(self.path, &self.text, span, message).with_help(help));
    }

    /// Whether the report is full; loops over input of unbounded length stop early then,
    /// so the work after the limit stays linear.
    fn full(&mut self) -> bool {
        let full = self.diagnostics.len() >= MAX_DIAGNOSTICS;
        self.truncated |= full;
        full
    }

    fn wrong_type(&mut self, key: &str, scope: &str, value: &Value_<'_>, expected: &str) {
        let message = format!(
            "wrong type for `{key}`{}: expected {expected}, found {}",
            within(scope),
            kind(value.get_ref())
        );
        self.report(value.span(), message, None);
    }

    fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], scope: &str) {
        for (key, _) in table.iter() {
            if self.full() {
                break;
            }
            let name = key.get_ref();
            if !allowed.contains(&name.as_ref()) {
                let help = self
                    .hints
                    .did_you_mean(name, allowed.iter().copied())
                    .or_else(|| Some(format!("expected one of: {}", allowed.join(", "))));
                self.report(
                    key.span(),
                    format!("unknown key `{name}`{}", within(scope)),
                    help,
                );
            }
        }
    }

    fn missing(&mut self, key: &str, scope: &str, table_span: Range<usize>, help: Option<String>) {
        self.report(
            table_span,
            format!("missing required key `{key}`{}", within(scope)),
            help,
        );
    }

    /// The string at `key`, reporting a wrong type.
    fn string<'t>(
        &mut self,
        table: &'t DeTable<'_>,
        key: &str,
        scope: &str,
    ) -> Option<(&'t str, Range<usize>)> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some((s.as_ref(), value.span())),
            _ => {
                self.wrong_type(key, scope, value, "a string");
                None
            }
        }
    }

    /// The table at `key`, reporting a wrong type.
    fn table<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
        scope: &str,
    ) -> Option<(&'t DeTable<'i>, Range<usize>)> {
        let value = table.get(key)?;
        match value.get_ref() {
            DeValue::Table(t) => Some((t, value.span())),
            _ => {
                self.wrong_type(key, scope, value, "a table");
                None
            }
        }
    }

    /// `value` as JSON, `depth` being its nesting level. Strings are collected into
    /// `strings` (with their spans) so references in them can be checked.
    fn json<'v>(
        &mut self,
        value: &'v Value_<'_>,
        depth: usize,
        strings: &mut Vec<(&'v str, Range<usize>)>,
    ) -> Value {
        let container = matches!(value.get_ref(), DeValue::Array(_) | DeValue::Table(_));
        if container && depth > MAX_NESTING {
            let message = format!("tables and arrays nest deeper than {MAX_NESTING} levels");
            self.report(value.span(), message, None);
            return Value::Null;
        }
        match value.get_ref() {
            DeValue::String(s) => {
                strings.push((s.as_ref(), value.span()));
                Value::String(s.to_string())
            }
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Value::from(n),
                Err(_) => {
                    self.report(
                        value.span(),
                        "integer out of range (a 64-bit signed integer)",
                        None,
                    );
                    Value::Null
                }
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Value::Number(n),
                None => {
                    self.report(
                        value.span(),
                        format!("`{}` has no JSON representation", f.as_str()),
                        None,
                    );
                    Value::Null
                }
            },
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(d) => Value::String(d.to_string()),
            DeValue::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.json(v, depth + 1, strings))
                    .collect(),
            ),
            DeValue::Table(t) => Value::Object(self.json_table(t, depth, strings)),
        }
    }

    fn json_table<'v>(
        &mut self,
        table: &'v DeTable<'_>,
        depth: usize,
        strings: &mut Vec<(&'v str, Range<usize>)>,
    ) -> Map<String, Value> {
        table
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), self.json(v, depth + 1, strings)))
            .collect()
    }

    /// An opaque table (`grants`, `clusters`, ...) as JSON; `absent` when not given.
    fn opaque(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        scope: &str,
        depth: usize,
        absent: Value,
    ) -> Value {
        match self.table(table, key, scope) {
            Some((t, _)) => Value::Object(self.json_table(t, depth, &mut Vec::new())),
            None => absent,
        }
    }

    fn workflow(&mut self, root: &DeTable<'_>, overrides: &[(String, String)]) -> Workflow {
        self.unknown_keys(root, TOP_LEVEL_KEYS, "");
        let name = self.string(root, "name", "").map(|(s, _)| s.to_owned());
        if !root.contains_key("name") {
            self.missing("name", "", 0..0, None);
        }
        let description = self
            .string(root, "description", "")
            .map(|(s, _)| s.to_owned());
        let mut vars = self.vars(root);
        overrides::apply(self.path, &mut vars, overrides, &mut self.diagnostics);
        let clusters = self.opaque(root, "clusters", "", 1, Value::Null);
        let aws = self.opaque(root, "aws", "", 1, Value::Null);
        let policy = self.opaque(root, "policy", "", 1, Value::Null);
        let (steps, sites) = self.steps(root, &vars);
        Workflow {
            file: self.path.to_path_buf(),
            name: name.unwrap_or_default(),
            description,
            vars,
            steps,
            clusters,
            aws,
            policy,
            source: self.text.text().to_owned(),
            sites,
        }
    }

    fn vars(&mut self, root: &DeTable<'_>) -> BTreeMap<String, Value> {
        let Some((table, _)) = self.table(root, "vars", "") else {
            return BTreeMap::new();
        };
        let mut vars = BTreeMap::new();
        for (key, value) in table.iter() {
            let name = key.get_ref();
            if !valid_var_name(name) {
                self.report(
                    key.span(),
                    format!("invalid variable name `{name}`"),
                    Some("variable names use only letters, digits, `_` and `-`, so `${vars.NAME}` can refer to them".into()),
                );
            }
            let json = match value.get_ref() {
                DeValue::String(_)
                | DeValue::Integer(_)
                | DeValue::Float(_)
                | DeValue::Boolean(_) => self.json(value, 2, &mut Vec::new()),
                _ => {
                    self.wrong_type(
                        name,
                        "[vars]",
                        value,
                        "a string, an integer, a float or a boolean",
                    );
                    continue;
                }
            };
            vars.insert(name.to_string(), json);
        }
        vars
    }

    fn steps(
        &mut self,
        root: &DeTable<'_>,
        vars: &BTreeMap<String, Value>,
    ) -> (Vec<Step>, Vec<StepSite>) {
        let Some(value) = root.get("steps") else {
            self.missing("steps", "", 0..0, Some(ADD_A_STEP.into()));
            return Default::default();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type("steps", "", value, "an array of tables");
            return Default::default();
        };
        if items.is_empty() {
            self.report(value.span(), "`steps` is empty", Some(ADD_A_STEP.into()));
        }
        if let Some(extra) = items.get(MAX_STEPS) {
            self.report(
                extra.span(),
                format!("too many steps: a workflow may have at most {MAX_STEPS}"),
                None,
            );
        }
        let items = &items[..items.len().min(MAX_STEPS)];
        let mut tables = Vec::new();
        for item in items {
            match item.get_ref() {
                DeValue::Table(t) => tables.push((t, item.span())),
                other => {
                    let message = format!(
                        "wrong type for an entry of `steps`: expected a table, found {}",
                        kind(other)
                    );
                    self.report(item.span(), message, None);
                }
            }
        }
        let ids = self.step_ids(&tables);
        let index: BTreeMap<&str, usize> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| id.as_ref().map(|id| (id.id.as_str(), i)))
            .collect();
        let drafts: Vec<StepDraft> = tables
            .iter()
            .enumerate()
            .map(|(i, (table, span))| self.step(i, table, span.clone(), &ids, &index, vars))
            .collect();
        self.check_graph(&drafts);
        drafts.into_iter().map(|d| (d.step, d.site)).unzip()
    }

    /// First pass: each step's id (None when missing or invalid), reporting duplicates.
    fn step_ids(&mut self, tables: &[(&DeTable<'_>, Range<usize>)]) -> Vec<Option<StepId>> {
        let mut first: BTreeMap<String, usize> = BTreeMap::new();
        let mut ids = Vec::new();
        for (i, (table, span)) in tables.iter().enumerate() {
            let scope = format!("step #{}", i + 1);
            let Some((id, id_span)) = self.string(table, "id", &scope) else {
                if !table.contains_key("id") {
                    self.missing("id", &scope, span.clone(), None);
                }
                ids.push(None);
                continue;
            };
            if !valid_step_id(id) {
                let message = if id.is_empty() {
                    "empty step id".to_owned()
                } else {
                    format!("invalid step id `{id}`")
                };
                self.report(
                    id_span,
                    message,
                    Some("a step id starts with a lowercase letter or a digit and has only a-z, 0-9, `_` and `-`".into()),
                );
                ids.push(None);
                continue;
            }
            if let Some(&earlier) = first.get(id) {
                let line = self
                    .text
                    .line_of(ids[earlier].as_ref().map_or(0, |s: &StepId| s.span.start));
                self.report(
                    id_span,
                    format!("duplicate step id `{id}` (first defined on line {line})"),
                    None,
                );
                ids.push(None);
                continue;
            }
            first.insert(id.to_owned(), i);
            ids.push(Some(StepId {
                id: id.to_owned(),
                span: id_span,
            }));
        }
        ids
    }

    fn step(
        &mut self,
        position: usize,
        table: &DeTable<'_>,
        span: Range<usize>,
        ids: &[Option<StepId>],
        index: &BTreeMap<&str, usize>,
        vars: &BTreeMap<String, Value>,
    ) -> StepDraft {
        let id = ids[position].as_ref().map(|s| s.id.clone());
        let scope = match &id {
            Some(id) => format!("step `{id}`"),
            None => format!("step #{}", position + 1),
        };
        let label = id.clone().unwrap_or_else(|| format!("#{}", position + 1));
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

        let mut strings = Vec::new();
        let (with, with_span) = match self.table(table, "with", &scope) {
            Some((t, with_span)) => (
                Value::Object(self.json_table(t, 3, &mut strings)),
                Some(with_span),
            ),
            None => (Value::Object(Map::new()), None),
        };
        for (text, string_span) in strings {
            if self.full() {
                break;
            }
            match template::parse(text) {
                Ok(pieces) => {
                    let refs = pieces.into_iter().filter_map(|p| match p {
                        template::Piece::Ref(reference, range) => Some((reference, range)),
                        template::Piece::Text(_) => None,
                    });
                    self.link_references(string_span, refs, &mut links);
                }
                Err(e) => {
                    let at = StringSpans::new(self.text.text(), string_span).span(e.range);
                    self.report(at, format!("{}{}", e.message, within(&scope)), e.help);
                }
            }
        }
        let condition = self.condition(table, &label, &mut links);
        let grants = self.opaque(table, "grants", &scope, 3, Value::Object(Map::new()));
        let timeout = self.duration(table, "timeout", &scope).map(|(d, at)| {
            if d.is_zero() {
                self.report(
                    at,
                    format!("`timeout`{} must be longer than zero", within(&scope)),
                    Some(DURATION_HELP.into()),
                );
            }
            d
        });
        let retry = self.retry(table, &scope);
        let limits = self.limits(table, &scope);

        let needs = links
            .edges
            .iter()
            .filter_map(|(i, _)| ids[*i].as_ref().map(|s| s.id.clone()))
            .collect();
        let output_refs = std::mem::take(&mut links.output_refs);
        let edges = std::mem::take(&mut links.edges);
        StepDraft {
            step: Step {
                id: label.clone(),
                plugin,
                needs,
                with,
                grants,
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
            }
        }
    }

    fn condition(
        &mut self,
        table: &DeTable<'_>,
        label: &str,
        links: &mut Links<'_>,
    ) -> Option<Condition> {
        let (text, at) = self.string(table, "if", links.scope)?;
        match Condition::parse(text, label) {
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

    /// A duration: a string like "1m30s" or an integer number of seconds.
    fn duration(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        scope: &str,
    ) -> Option<(Duration, Range<usize>)> {
        let value = table.get(key)?;
        let parsed = match value.get_ref() {
            DeValue::String(s) => units::parse_duration(s),
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(Duration::from_secs),
            _ => {
                self.wrong_type(key, scope, value, "a duration (a string or an integer)");
                return None;
            }
        };
        if parsed.is_none() {
            let written = &self.text.text()[value.span()];
            self.report(
                value.span(),
                format!("invalid duration {written} for `{key}`{}", within(scope)),
                Some(DURATION_HELP.into()),
            );
        }
        parsed.map(|d| (d, value.span()))
    }

    fn retry(&mut self, step: &DeTable<'_>, step_scope: &str) -> Retry {
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

    fn limits(&mut self, step: &DeTable<'_>, step_scope: &str) -> Limits {
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
    fn positive(&mut self, value: &Value_<'_>, key: &str, scope: &str) -> Option<u64> {
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

    /// Dependency cycles, each named in full and reported at the edge that leaves its
    /// first step.
    fn check_graph(&mut self, drafts: &[StepDraft]) {
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
