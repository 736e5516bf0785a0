//! A policy's `params` (its `with` table, as a JSON object), read field by field.
//!
//! Fields are taken one at a time with a converter, rather than deserialised into a
//! struct, so that every error names the field it is about (serde's type errors do not)
//! and so that a misspelt field is reported instead of silently taking its default.

use serde_json::{Map, Value};

use crate::Error;

/// The fields of a policy's `params` not yet taken.
pub struct Params {
    policy: &'static str,
    fields: Map<String, Value>,
    known: Vec<&'static str>,
}

impl Params {
    /// Parses `json`, which must be an object (empty text or `null`: no fields).
    /// `policy` prefixes every error.
    pub fn parse(policy: &'static str, json: &str) -> Result<Self, Error> {
        let fields = match json.trim() {
            "" | "null" => Map::new(),
            text => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => map,
                Ok(other) => {
                    return Err(Error::Invalid(format!(
                        "{policy}: params must be an object, got {}",
                        kind(&other)
                    )));
                }
                Err(e) => {
                    return Err(Error::Invalid(format!(
                        "{policy}: params are not JSON: {e}"
                    )));
                }
            },
        };
        Ok(Params {
            policy,
            fields,
            known: Vec::new(),
        })
    }

    /// The `invalid` error about `field`.
    pub fn error(&self, field: &str, message: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: field `{field}`: {message}", self.policy))
    }

    fn take(&mut self, field: &'static str) -> Option<Value> {
        self.known.push(field);
        self.fields.remove(field).filter(|v| !v.is_null())
    }

    /// The required `field`, converted by `convert`.
    pub fn required<T>(
        &mut self,
        field: &'static str,
        convert: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, Error> {
        match self.take(field) {
            Some(v) => convert(&v).map_err(|m| self.error(field, m)),
            None => Err(self.error(field, "is required")),
        }
    }

    /// `field` converted by `convert`, or `default` when it is absent (or null).
    pub fn optional<T>(
        &mut self,
        field: &'static str,
        default: T,
        convert: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, Error> {
        match self.take(field) {
            Some(v) => convert(&v).map_err(|m| self.error(field, m)),
            None => Ok(default),
        }
    }

    /// The object `field` as (key, value) pairs in the order written, each value
    /// converted by `convert`; `None` when absent. Errors name the entry as
    /// `field.key`.
    pub fn entries<T>(
        &mut self,
        field: &'static str,
        convert: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<Option<Vec<(String, T)>>, Error> {
        let Some(v) = self.take(field) else {
            return Ok(None);
        };
        let Value::Object(map) = v else {
            return Err(self.error(field, format!("expected an object, got {}", kind(&v))));
        };
        let mut out = Vec::with_capacity(map.len());
        for (key, value) in map {
            match convert(&value) {
                Ok(t) => out.push((key, t)),
                Err(m) => return Err(self.error(&format!("{field}.{key}"), m)),
            }
        }
        Ok(Some(out))
    }

    /// Rejects the fields no one took: a misspelt `healthy_observation` must not leave
    /// the policy quietly running with the default.
    pub fn finish(self) -> Result<(), Error> {
        match self.fields.keys().next() {
            None => Ok(()),
            Some(unknown) => Err(Error::Invalid(format!(
                "{}: unknown field `{unknown}` (known: {})",
                self.policy,
                self.known.join(", ")
            ))),
        }
    }
}

/// A non-empty string (a region name, an endpoint id).
pub fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err("must not be empty".into()),
        other => Err(format!("expected a string, got {}", kind(other))),
    }
}

/// A whole number from `min` to `max`.
pub fn whole(min: u64, max: u64) -> impl Fn(&Value) -> Result<u64, String> {
    move |v| match v.as_u64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from {min} to {max}, got {v}"
        )),
    }
}

/// A number from `min` to `max` (what a traffic dial, a rate or a bound is).
pub fn number(min: f64, max: f64) -> impl Fn(&Value) -> Result<f64, String> {
    move |v| match v.as_f64() {
        Some(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("expected a number from {min} to {max}, got {v}")),
    }
}

/// A number above 0 and at most `max` (a bound, a step).
pub fn positive(max: f64) -> impl Fn(&Value) -> Result<f64, String> {
    move |v| match v.as_f64() {
        Some(n) if n > 0.0 && n <= max => Ok(n),
        _ => Err(format!(
            "expected a number above 0 and at most {max}, got {v}"
        )),
    }
}

/// A traffic dial: a number from 0 to 100.
pub fn dial(v: &Value) -> Result<f32, String> {
    number(0.0, 100.0)(v).map(|n| n as f32)
}

/// An endpoint weight: a whole number from 0 to 255.
pub fn weight(v: &Value) -> Result<u8, String> {
    whole(0, 255)(v).map(|n| n as u8)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: Error) -> String {
        match e {
            Error::Invalid(m) => m,
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let mut p = Params::parse("p", r#"{"after": -1, "dials": {"x": 150}}"#).unwrap();
        let e = message(p.optional("after", 3, whole(1, 10)).unwrap_err());
        assert!(e.contains("field `after`"), "{e}");
        let e = message(p.entries("dials", dial).unwrap_err());
        assert!(e.contains("field `dials.x`"), "{e}");
        let mut p = Params::parse("p", r#"{"step": 0}"#).unwrap();
        let e = message(p.required("step", positive(100.0)).unwrap_err());
        assert!(
            e.ends_with("field `step`: expected a number above 0 and at most 100, got 0"),
            "{e}"
        );
        let mut p = Params::parse("p", "{}").unwrap();
        let e = message(p.required("primary", text).unwrap_err());
        assert!(e.contains("field `primary`: is required"), "{e}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut p = Params::parse("p", r#"{"aftr": 2}"#).unwrap();
        assert_eq!(p.optional("after", 3, whole(1, 10)).unwrap(), 3);
        let e = message(p.finish().unwrap_err());
        assert!(e.contains("unknown field `aftr`"), "{e}");
    }

    #[test]
    fn params_must_be_an_object() {
        assert!(Params::parse("p", "[1]").is_err());
        assert!(Params::parse("p", "").unwrap().finish().is_ok());
    }
}
