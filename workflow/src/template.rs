//! `${...}` interpolation: parsing references out of strings and substituting them with
//! variable values, step outputs and file texts when a step is about to run.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde_json::{Map, Value};

/// A `${...}` reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reference {
    /// `${vars.NAME}`
    Var(String),
    /// `${steps.STEP.outputs.KEY}`
    Output {
        /// The step whose output is read.
        step: String,
        /// The output's name.
        key: String,
    },
    /// `${file:PATH}`, PATH as written. Only `with` may hold one: the file is read when
    /// the workflow is validated, and its text is what the reference renders to.
    File(String),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Var(name) => write!(f, "${{vars.{name}}}"),
            Reference::Output { step, key } => write!(f, "${{steps.{step}.outputs.{key}}}"),
            Reference::File(path) => write!(f, "${{file:{path}}}"),
        }
    }
}

/// The values references resolve against while a workflow runs.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Workflow variables, overrides applied.
    pub vars: &'a BTreeMap<String, Value>,
    /// Outputs of the steps that have finished, by step id.
    pub outputs: &'a BTreeMap<String, Map<String, Value>>,
}

impl<'a> Context<'a> {
    /// The value `reference` names, for step `step` (used in the error).
    pub(crate) fn resolve(
        &self,
        step: &str,
        reference: &Reference,
    ) -> Result<&'a Value, RenderError> {
        let missing = |problem: String| RenderError::Missing {
            step: step.to_owned(),
            reference: reference.to_string(),
            problem,
        };
        match reference {
            Reference::Var(name) => self
                .vars
                .get(name)
                .ok_or_else(|| missing(format!("no variable `{name}`"))),
            Reference::Output { step: from, key } => match self.outputs.get(from) {
                None => Err(missing(format!(
                    "step `{from}` has produced no outputs (it has not run, or was skipped)"
                ))),
                Some(outputs) => outputs
                    .get(key)
                    .ok_or_else(|| missing(format!("step `{from}` produced no output `{key}`"))),
            },
            // Validation rejects file references outside `with`, and `with` reads them
            // from the workflow's files, not from here.
            Reference::File(_) => Err(missing("a file can only be read into `with`".into())),
        }
    }
}

/// Why a step's `with` or `if` could not be evaluated at run time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A reference names a variable or output that does not exist in the run.
    #[error("step `{step}`: `{reference}`: {problem}")]
    Missing {
        /// The step being rendered.
        step: String,
        /// The reference as written, e.g. `${steps.a.outputs.x}`.
        reference: String,
        /// What is missing, e.g. "step `a` produced no output `x`".
        problem: String,
    },
    /// A string is not a valid template; only possible if a step was changed after the
    /// workflow was validated.
    #[error("step `{step}`: invalid template {text:?}: {problem}")]
    Template {
        /// The step being rendered.
        step: String,
        /// The string that failed to parse.
        text: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// One part of a string that may contain references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text (with `$${` already turned into `${`).
    Text(String),
    /// A reference, with its byte range (from `$` to `}`) in the string.
    Ref(Reference, Range<usize>),
}

/// A syntax error inside a string (a malformed `${...}` or condition): its byte range in
/// the string, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) range: Range<usize>,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

const REFERENCE_HELP: &str =
    "a reference is `${vars.NAME}` or `${steps.ID.outputs.KEY}`; write `$${` for a literal `${`";
const FILE_REFERENCE_HELP: &str =
    "write the path of a file relative to the workflow file, such as `${file:manifest.yaml}`";

/// Splits `text` into literal text and references.
pub(crate) fn parse(text: &str) -> Result<Vec<Piece>, SyntaxError> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest_start = 0;
    while let Some(found) = text[rest_start..].find('$') {
        let at = rest_start + found;
        let tail = &text[at..];
        if tail.starts_with("$${") {
            literal.push_str(&text[rest_start..at]);
            literal.push_str("${");
            rest_start = at + 3;
        } else if tail.starts_with("${") {
            literal.push_str(&text[rest_start..at]);
            let (reference, end) = parse_reference(text, at)?;
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Ref(reference, at..end));
            rest_start = end;
        } else {
            literal.push_str(&text[rest_start..at + 1]);
            rest_start = at + 1;
        }
    }
    literal.push_str(&text[rest_start..]);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// Parses the reference whose `${` starts at `at`; returns it and the offset after `}`.
pub(crate) fn parse_reference(text: &str, at: usize) -> Result<(Reference, usize), SyntaxError> {
    let Some(close) = text[at..].find('}') else {
        return Err(SyntaxError {
            range: at..at + 2,
            message: "unterminated `${`".into(),
            help: Some(REFERENCE_HELP.into()),
        });
    };
    let end = at + close + 1;
    let inner = &text[at + 2..end - 1];
    if let Some(path) = inner.strip_prefix("file:") {
        // The path is checked when the file is read; here it only has to be there.
        if path.is_empty() {
            return Err(SyntaxError {
                range: at..end,
                message: "empty path in `${file:}`".into(),
                help: Some(FILE_REFERENCE_HELP.into()),
            });
        }
        return Ok((Reference::File(path.to_owned()), end));
    }
    let parts: Vec<&str> = inner.split('.').collect();
    let valid_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let reference = match parts.as_slice() {
        ["vars", name] if valid_name(name) => Reference::Var((*name).to_owned()),
        ["steps", step, "outputs", key] if valid_name(step) && valid_name(key) => {
            Reference::Output {
                step: (*step).to_owned(),
                key: (*key).to_owned(),
            }
        }
        _ => {
            return Err(SyntaxError {
                range: at..end,
                message: format!("invalid reference `${{{inner}}}`"),
                help: Some(REFERENCE_HELP.into()),
            });
        }
    };
    Ok((reference, end))
}

/// The texts of the files a workflow's `with` tables refer to, read at validation: by
/// PATH as written, each pointing into `texts` by its canonical path, so a file spelled
/// two ways is held once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Files {
    pub(crate) paths: BTreeMap<String, PathBuf>,
    pub(crate) texts: BTreeMap<PathBuf, String>,
}

impl Files {
    /// The text `${file:PATH}` renders to. `None` only if the step was changed after the
    /// workflow was validated.
    fn text(&self, path: &str) -> Option<&str> {
        self.paths
            .get(path)
            .and_then(|canonical| self.texts.get(canonical))
            .map(String::as_str)
    }
}

/// The text of one reference inside `with`: a file's text, or a value from `ctx`.
fn resolve_in_with<'v>(
    reference: &Reference,
    step: &str,
    ctx: &Context<'v>,
    files: &'v Files,
) -> Result<Cow<'v, Value>, RenderError> {
    let Reference::File(path) = reference else {
        return ctx.resolve(step, reference).map(Cow::Borrowed);
    };
    match files.text(path) {
        Some(text) => Ok(Cow::Owned(Value::String(text.to_owned()))),
        None => Err(RenderError::Missing {
            step: step.to_owned(),
            reference: reference.to_string(),
            problem: "the file was not read when the workflow was validated".into(),
        }),
    }
}

/// Renders one string: a string that is exactly one reference becomes the referenced
/// value (keeping its JSON type; a file's text is a string); otherwise references are
/// spliced in as text. A file's text is inserted as is: a `${` inside it is not a
/// reference, so a file can never reach variables or outputs it was not given.
pub(crate) fn render_str(
    text: &str,
    step: &str,
    ctx: &Context<'_>,
    files: &Files,
) -> Result<Value, RenderError> {
    let pieces = parse(text).map_err(|e| RenderError::Template {
        step: step.to_owned(),
        text: text.to_owned(),
        problem: e.message,
    })?;
    if let [Piece::Ref(reference, _)] = pieces.as_slice() {
        return resolve_in_with(reference, step, ctx, files).map(Cow::into_owned);
    }
    let mut out = String::new();
    for piece in &pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(reference, _) => {
                let value = resolve_in_with(reference, step, ctx, files)?;
                out.push_str(&stringify(&value));
            }
        }
    }
    Ok(Value::String(out))
}

/// Renders every string value in `value` (keys are left alone).
pub(crate) fn render_value(
    value: &Value,
    step: &str,
    ctx: &Context<'_>,
    files: &Files,
) -> Result<Value, RenderError> {
    Ok(match value {
        Value::String(s) => render_str(s, step, ctx, files)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, step, ctx, files))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, step, ctx, files)?)))
                .collect::<Result<_, RenderError>>()?,
        ),
        other => other.clone(),
    })
}

/// A value as text inside a longer string: strings raw, anything else as compact JSON.
pub(crate) fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn var(name: &str) -> Reference {
        Reference::Var(name.into())
    }

    /// Renders `text` for a workflow that refers to no files.
    fn render(text: &str, step: &str, ctx: &Context<'_>) -> Result<Value, RenderError> {
        render_str(text, step, ctx, &Files::default())
    }

    #[test]
    fn splits_text_and_references() {
        let pieces = parse("a ${vars.x}-${steps.s.outputs.k} $${lit} $5").unwrap();
        assert_eq!(
            pieces,
            vec![
                Piece::Text("a ".into()),
                Piece::Ref(var("x"), 2..11),
                Piece::Text("-".into()),
                Piece::Ref(
                    Reference::Output {
                        step: "s".into(),
                        key: "k".into()
                    },
                    12..32
                ),
                Piece::Text(" ${lit} $5".into()),
            ]
        );
    }

    #[test]
    fn rejects_malformed_references_with_their_position() {
        let e = parse("ab ${vars.x").unwrap_err();
        assert_eq!((e.range, e.message.as_str()), (3..5, "unterminated `${`"));
        let e = parse("${steps.a.result}").unwrap_err();
        assert_eq!(
            (e.range, e.message.as_str()),
            (0..17, "invalid reference `${steps.a.result}`")
        );
        assert!(parse("${vars.}").is_err());
        assert!(parse("${ vars.x }").is_err());
        let e = parse("x ${file:}").unwrap_err();
        assert_eq!(
            (e.range, e.message.as_str()),
            (2..10, "empty path in `${file:}`")
        );
    }

    #[test]
    fn file_references_keep_their_path_as_written() {
        let pieces = parse("${file:dir/a.yaml}-$${file:b}").unwrap();
        assert_eq!(
            pieces,
            vec![
                Piece::Ref(Reference::File("dir/a.yaml".into()), 0..18),
                Piece::Text("-${file:b}".into()),
            ]
        );
        assert_eq!(
            Reference::File("dir/a.yaml".into()).to_string(),
            "${file:dir/a.yaml}"
        );
    }

    #[test]
    fn file_texts_are_inserted_without_interpolation() {
        let vars = BTreeMap::from([("x".to_owned(), json!(1))]);
        let outputs = BTreeMap::new();
        let ctx = Context {
            vars: &vars,
            outputs: &outputs,
        };
        let canonical = PathBuf::from("/w/a.yaml");
        let files = Files {
            paths: BTreeMap::from([
                ("a.yaml".to_owned(), canonical.clone()),
                ("./a.yaml".to_owned(), canonical.clone()),
            ]),
            texts: BTreeMap::from([(canonical, "k: ${vars.x}\n".to_owned())]),
        };
        let render = |text: &str| render_str(text, "s", &ctx, &files);
        assert_eq!(render("${file:a.yaml}").unwrap(), json!("k: ${vars.x}\n"));
        assert_eq!(
            render("[${file:./a.yaml}] ${vars.x}").unwrap(),
            json!("[k: ${vars.x}\n] 1")
        );
        assert_eq!(
            render("${file:b.yaml}").unwrap_err().to_string(),
            "step `s`: `${file:b.yaml}`: the file was not read when the workflow was validated"
        );
        let err = ctx.resolve("s", &Reference::File("a.yaml".into()));
        assert_eq!(
            err.unwrap_err().to_string(),
            "step `s`: `${file:a.yaml}`: a file can only be read into `with`"
        );
    }

    #[test]
    fn renders_with_type_preservation_and_stringification() {
        let vars = BTreeMap::from([("n".to_owned(), json!(3)), ("s".to_owned(), json!("hi"))]);
        let mut a = Map::new();
        a.insert("obj".into(), json!({"k": [1, true]}));
        let outputs = BTreeMap::from([("a".to_owned(), a)]);
        let ctx = Context {
            vars: &vars,
            outputs: &outputs,
        };
        assert_eq!(render("${vars.n}", "b", &ctx).unwrap(), json!(3));
        assert_eq!(
            render("${steps.a.outputs.obj}", "b", &ctx).unwrap(),
            json!({"k": [1, true]})
        );
        assert_eq!(
            render("n=${vars.n} s=${vars.s}", "b", &ctx).unwrap(),
            json!("n=3 s=hi")
        );
        assert_eq!(
            render("o=${steps.a.outputs.obj}", "b", &ctx).unwrap(),
            json!("o={\"k\":[1,true]}")
        );
        assert_eq!(render("$${vars.n}", "b", &ctx).unwrap(), json!("${vars.n}"));
    }

    #[test]
    fn names_what_is_missing() {
        let vars = BTreeMap::new();
        let outputs = BTreeMap::from([("a".to_owned(), Map::new())]);
        let ctx = Context {
            vars: &vars,
            outputs: &outputs,
        };
        let err = render("${steps.a.outputs.x}", "b", &ctx).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `b`: `${steps.a.outputs.x}`: step `a` produced no output `x`"
        );
        let err = render("x ${steps.c.outputs.x}", "b", &ctx).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `b`: `${steps.c.outputs.x}`: step `c` has produced no outputs (it has not run, or was skipped)"
        );
        let err = render("${vars.v}", "b", &ctx).unwrap_err();
        assert_eq!(err.to_string(), "step `b`: `${vars.v}`: no variable `v`");
    }
}
