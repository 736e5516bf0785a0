//! `--var NAME=VALUE` overrides: they may only replace declared variables, and the text is
//! read as the type of the declared default, so a typo cannot silently add a variable or
//! turn a number into a string.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use crate::diagnostic::Collector;
use crate::suggest::Suggester;

/// Applies `overrides` to `vars` in order (a later one wins), reporting problems.
pub(crate) fn apply(
    vars: &mut BTreeMap<String, Value>,
    overrides: &[(String, String)],
    problems: &mut Collector,
) {
    let mut hints = Suggester::new();
    for (name, text) in overrides {
        let flag = format!("`--var {name}={text}`");
        let Some(default) = vars.get(name) else {
            let help = hints
                .did_you_mean(name, vars.keys().map(String::as_str))
                .or_else(|| {
                    Some(format!(
                        "declare `{name}` under [vars] in the workflow first"
                    ))
                });
            problems.unplaced(format!("{flag}: no variable `{name}` is declared"), help);
            continue;
        };
        let parsed = match default {
            Value::String(_) => Some(Value::String(text.clone())),
            Value::Number(n) if n.is_f64() => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number),
            Value::Number(_) => text.parse::<i64>().ok().map(Value::from),
            Value::Bool(_) => text.parse::<bool>().ok().map(Value::Bool),
            _ => None,
        };
        match parsed {
            Some(value) => {
                vars.insert(name.clone(), value);
            }
            None => {
                let kind = match default {
                    Value::Number(n) if n.is_f64() => "a float",
                    Value::Number(_) => "an integer",
                    Value::Bool(_) => "a boolean (`true` or `false`)",
                    _ => "a value of its declared type",
                };
                problems.unplaced(format!("{flag}: variable `{name}` is {kind}"), None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(overrides: &[(&str, &str)]) -> (BTreeMap<String, Value>, Vec<String>) {
        let mut vars = BTreeMap::from([
            ("domain".to_owned(), json!("example.com")),
            ("replicas".to_owned(), json!(2)),
            ("ratio".to_owned(), json!(0.5)),
            ("debug".to_owned(), json!(false)),
        ]);
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let mut problems = Collector::new(std::path::Path::new("w.toml"));
        apply(&mut vars, &overrides, &mut problems);
        let rendered = match problems.finish() {
            Ok(()) => Vec::new(),
            Err(report) => report
                .diagnostics()
                .iter()
                .map(|d| format!("{} | {:?}", d.message, d.help))
                .collect(),
        };
        (vars, rendered)
    }

    #[test]
    fn values_take_the_declared_type() {
        let (vars, problems) = run(&[
            ("domain", "x.org"),
            ("replicas", "5"),
            ("ratio", "0.75"),
            ("debug", "true"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            json!(vars),
            json!({"domain": "x.org", "replicas": 5, "ratio": 0.75, "debug": true})
        );
    }

    #[test]
    fn undeclared_and_mistyped_overrides_are_reported() {
        let (vars, problems) = run(&[
            ("domian", "x"),
            ("colour", "red"),
            ("replicas", "many"),
            ("debug", "yes"),
        ]);
        assert_eq!(
            problems,
            [
                "`--var domian=x`: no variable `domian` is declared | Some(\"did you mean `domain`?\")",
                "`--var colour=red`: no variable `colour` is declared | Some(\"declare `colour` under [vars] in the workflow first\")",
                "`--var replicas=many`: variable `replicas` is an integer | None",
                "`--var debug=yes`: variable `debug` is a boolean (`true` or `false`) | None",
            ]
        );
        assert_eq!(vars["replicas"], json!(2));
    }
}
