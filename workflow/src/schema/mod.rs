//! Reads a workflow from its spanned TOML tree. Every key and value is checked and every
//! problem recorded with its span, instead of stopping at the first, so one `validate`
//! shows the user everything to fix.
//!
//! This module reads the document level (top-level keys, `[vars]`, the `steps` array and
//! step ids); `step` reads each step's keys and references, `execution` its `timeout`,
//! `retry` and `limits`, `cloud` the cloud tables and `[sandbox]`, and `files` the files
//! `${file:PATH}` in `with` refers to.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::{Map, Number, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::cloud::CloudConfig;
use crate::diagnostic::{Collector, Diagnostic, Report, SourceText};
use crate::overrides;
use crate::suggest::Suggester;
use crate::template::{self, Files, Piece, Reference};
use crate::toml_string::StringSpans;
use crate::workflow::{Step, StepSite, Workflow};

mod cloud;
mod execution;
mod files;
mod grants;
mod policy;
mod step;

use step::StepDraft;

/// Largest workflow file accepted.
pub(crate) const MAX_FILE_BYTES: usize = 1 << 20;
/// Most steps a workflow may have.
pub(crate) const MAX_STEPS: usize = 1000;
/// Deepest nesting of tables and arrays, counted from the top of the file (the `steps`
/// array is level 1, a step level 2, its `with` table level 3).
pub(crate) const MAX_NESTING: usize = 32;
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
    "sandbox",
    "policy",
];
const STEP_KEYS: &[&str] = &[
    "id", "plugin", "sha256", "needs", "with", "grants", "timeout", "retry", "limits", "if",
];
const RETRY_KEYS: &[&str] = &["attempts", "backoff", "max_backoff"];
const LIMIT_KEYS: &[&str] = &["memory", "fuel", "output"];
const ADD_A_STEP: &str = "add at least one [[steps]] table";

/// A value of the parsed document, with its span.
type Node<'i> = Spanned<DeValue<'i>>;

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
        problems: Collector::new(path),
        hints: Suggester::new(),
        vars: BTreeMap::new(),
        files: Files::default(),
        file_reads: BTreeMap::new(),
        file_bytes: 0,
    };
    let workflow = checker.workflow(document.get_ref(), overrides);
    checker.problems.finish().map(|()| workflow)
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

/// An entry of `steps` that is a table.
struct StepTable<'t, 'i> {
    /// 1-based position in `steps`, to name a step that has no usable id.
    number: usize,
    table: &'t DeTable<'i>,
    span: Range<usize>,
}

/// A step's id and where it was defined, from the first pass over `steps`.
struct StepId {
    id: String,
    span: Range<usize>,
}

/// Walks the tree, collecting diagnostics.
struct Checker<'s> {
    path: &'s Path,
    text: SourceText<'s>,
    problems: Collector,
    hints: Suggester,
    /// `[vars]` after overrides, once read: `${vars.NAME}` in the cloud tables and in
    /// grants is substituted while they are checked.
    vars: BTreeMap<String, Value>,
    /// The texts of the files `with` refers to, read so far.
    files: Files,
    /// What reading each `${file:PATH}` gave, by PATH as written, so a file referred to
    /// many times is looked up once.
    file_reads: BTreeMap<String, Result<PathBuf, files::FileProblem>>,
    /// Bytes of file text substituted so far, a file counted at every reference.
    file_bytes: usize,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        self.problems.at(&self.text, span, message, help);
    }

    /// See [`Collector::is_full`].
    fn full(&mut self) -> bool {
        self.problems.is_full()
    }

    fn wrong_type(&mut self, key: &str, scope: &str, value: &Node<'_>, expected: &str) {
        self.wrong_type_with_help(key, scope, value, expected, None);
    }

    fn wrong_type_with_help(
        &mut self,
        key: &str,
        scope: &str,
        value: &Node<'_>,
        expected: &str,
        help: Option<String>,
    ) {
        let message = format!(
            "wrong type for `{key}`{}: expected {expected}, found {}",
            within(scope),
            kind(value.get_ref())
        );
        self.report(value.span(), message, help);
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

    /// The string at `key` with `${vars.NAME}` substituted, reporting a wrong type or a
    /// bad reference.
    fn setting<'t>(
        &mut self,
        table: &'t DeTable<'_>,
        key: &str,
        scope: &str,
    ) -> Option<(Cow<'t, str>, Range<usize>)> {
        let (text, at) = self.string(table, key, scope)?;
        let text = self.expand(text, at.clone(), scope)?;
        Some((text, at))
    }

    /// `text` (the string at `span`) with its `${vars.NAME}` references substituted.
    /// Cloud settings and grants are fixed before the run starts, so they can refer to
    /// variables but not to step outputs. `None` after reporting a problem.
    fn expand<'t>(
        &mut self,
        text: &'t str,
        span: Range<usize>,
        scope: &str,
    ) -> Option<Cow<'t, str>> {
        if !text.contains('$') {
            return Some(Cow::Borrowed(text));
        }
        let mut spans = StringSpans::new(self.text.text(), span);
        let pieces = match template::parse(text) {
            Ok(pieces) => pieces,
            Err(e) => {
                let at = spans.span(e.range);
                self.report(at, format!("{}{}", e.message, within(scope)), e.help);
                return None;
            }
        };
        let mut expanded = String::new();
        let mut ok = true;
        for piece in pieces {
            if self.full() {
                return None;
            }
            match piece {
                Piece::Text(literal) => expanded.push_str(&literal),
                Piece::Ref(Reference::Var(name), range) => match self.vars.get(&name) {
                    Some(value) => expanded.push_str(&template::stringify(value)),
                    None => {
                        ok = false;
                        let help = self
                            .hints
                            .did_you_mean(&name, self.vars.keys().map(String::as_str))
                            .or_else(|| Some(format!("declare `{name}` under [vars]")));
                        self.report(
                            spans.span(range),
                            format!("reference to unknown variable `{name}`{}", within(scope)),
                            help,
                        );
                    }
                },
                Piece::Ref(reference @ Reference::File(_), range) => {
                    ok = false;
                    self.report(
                        spans.span(range),
                        files::outside_with_message(&reference, scope),
                        Some(files::OUTSIDE_WITH_HELP.into()),
                    );
                }
                Piece::Ref(reference, range) => {
                    ok = false;
                    self.report(
                        spans.span(range),
                        format!("`{reference}`{} refers to a step output; only variables can be used here", within(scope)),
                        Some("cloud settings and grants are fixed before the run starts, so `runner validate` can show them".into()),
                    );
                }
            }
        }
        ok.then_some(Cow::Owned(expanded))
    }

    /// The strings of the array at `key` (`${vars.NAME}` substituted), with their spans;
    /// `None` when it is absent or not an array. Wrong types are reported, and so is an empty array, with
    /// `empty_help` saying what to write instead.
    fn string_list<'t>(
        &mut self,
        table: &'t DeTable<'_>,
        key: &str,
        scope: &str,
        empty_help: &str,
    ) -> Option<Vec<(Cow<'t, str>, Range<usize>)>> {
        let value = table.get(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            let help = matches!(value.get_ref(), DeValue::String(_)).then(|| {
                let written = &self.text.text()[value.span()];
                format!("write a list: {key} = [{written}]")
            });
            self.wrong_type_with_help(key, scope, value, "an array of strings", help);
            return None;
        };
        if items.is_empty() {
            self.report(
                value.span(),
                format!("`{key}`{} is empty", within(scope)),
                Some(empty_help.into()),
            );
        }
        let mut strings = Vec::new();
        for item in items.iter() {
            if self.full() {
                break;
            }
            match item.get_ref() {
                DeValue::String(s) => {
                    if let Some(text) = self.expand(s.as_ref(), item.span(), scope) {
                        strings.push((text, item.span()));
                    }
                }
                other => {
                    let message = format!(
                        "wrong type for an entry of `{key}`{}: expected a string, found {}",
                        within(scope),
                        kind(other)
                    );
                    self.report(item.span(), message, None);
                }
            }
        }
        Some(strings)
    }

    /// `value` as JSON, `depth` being its nesting level. Strings are collected into
    /// `strings` (with their spans) so references in them can be checked.
    fn json<'v>(
        &mut self,
        value: &'v Node<'_>,
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
        overrides::apply(&mut vars, overrides, &mut self.problems);
        self.vars = vars.clone();
        let clusters_table = self.table(root, "clusters", "").map(|(t, _)| t);
        let aws_table = self.table(root, "aws", "").map(|(t, _)| t);
        let mut as_json = |table: Option<&DeTable<'_>>| {
            table.map_or(Value::Null, |t| {
                Value::Object(self.json_table(t, 1, &mut Vec::new()))
            })
        };
        let clusters = as_json(clusters_table);
        let aws = as_json(aws_table);
        let cloud = self.cloud(clusters_table, aws_table);
        let sandbox = self.sandbox(root);
        let policy = self.policy(root, &cloud);
        let (steps, sites) = self.steps(root, &vars, &cloud);
        Workflow {
            file: self.path.to_path_buf(),
            name: name.unwrap_or_default(),
            description,
            vars,
            steps,
            clusters,
            aws,
            cloud,
            policy,
            sandbox,
            files: std::mem::take(&mut self.files),
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
        cloud: &CloudConfig,
    ) -> (Vec<Step>, Vec<StepSite>) {
        let Some(value) = root.get("steps") else {
            self.missing("steps", "", 0..0, Some(ADD_A_STEP.into()));
            return Default::default();
        };
        let DeValue::Array(items) = value.get_ref() else {
            // `[steps]` instead of `[[steps]]` is the likely slip.
            let help = matches!(value.get_ref(), DeValue::Table(_))
                .then(|| "write each step as a [[steps]] table, with double brackets".to_owned());
            self.wrong_type_with_help("steps", "", value, "an array of tables", help);
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
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(table) => tables.push(StepTable {
                    number: i + 1,
                    table,
                    span: item.span(),
                }),
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
            .map(|(i, entry)| self.step(i, entry, &ids, &index, vars, cloud))
            .collect();
        self.check_graph(&drafts);
        drafts.into_iter().map(|d| (d.step, d.site)).unzip()
    }

    /// First pass: each step's id (None when missing or invalid), reporting duplicates.
    fn step_ids(&mut self, tables: &[StepTable<'_, '_>]) -> Vec<Option<StepId>> {
        let mut first: BTreeMap<String, usize> = BTreeMap::new();
        let mut ids = Vec::new();
        for (
            i,
            StepTable {
                number,
                table,
                span,
            },
        ) in tables.iter().enumerate()
        {
            let scope = format!("step #{number}");
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
}
