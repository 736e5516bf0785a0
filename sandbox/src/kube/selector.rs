//! Label and field selectors: the query-string forms (`app=web,tier in (a,b),!canary`)
//! and the structured `LabelSelector` of Deployments and ReplicaSets.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Splits on commas that are not inside parentheses.
fn terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn set_values(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesized set of values, got {rest:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn check_key(k: &str) -> Result<String, String> {
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return Err(format!("invalid label key {k:?}"));
    }
    Ok(k.to_string())
}

/// Parses a label selector query (`labelSelector=`).
pub fn parse_labels(s: &str) -> Result<Vec<Requirement>, String> {
    let mut reqs = Vec::new();
    for t in terms(s) {
        let r = if let Some(k) = t.strip_prefix('!') {
            Requirement::NotExists(check_key(k)?)
        } else if let Some((k, v)) = t.split_once("!=") {
            Requirement::NotEq(check_key(k)?, v.trim().to_string())
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            Requirement::Eq(check_key(k)?, v.trim().to_string())
        } else if let Some(i) = t.find(" notin") {
            Requirement::NotIn(check_key(&t[..i])?, set_values(&t[i + 6..])?)
        } else if let Some(i) = t.find(" in") {
            Requirement::In(check_key(&t[..i])?, set_values(&t[i + 3..])?)
        } else {
            Requirement::Exists(check_key(&t)?)
        };
        validate(&r)?;
        reqs.push(r);
    }
    Ok(reqs)
}

/// A requirement's key must be a label key and its values label values, as
/// apimachinery's `NewRequirement` checks them (`values[0][app]: Invalid value: ...`).
fn validate(r: &Requirement) -> Result<(), String> {
    let (key, values): (&str, &[String]) = match r {
        Requirement::Eq(k, v) | Requirement::NotEq(k, v) => (k, std::slice::from_ref(v)),
        Requirement::In(k, vs) | Requirement::NotIn(k, vs) => (k, vs),
        Requirement::Exists(k) | Requirement::NotExists(k) => (k, &[]),
    };
    let mut errs = Vec::new();
    let key_errs = super::names::qualified_name(key);
    if !key_errs.is_empty() {
        errs.push(format!(
            "key: Invalid value: {key:?}: {}",
            key_errs.join("; ")
        ));
    }
    if matches!(r, Requirement::In(..) | Requirement::NotIn(..)) && values.is_empty() {
        errs.push(
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
                .to_string(),
        );
    }
    for (i, v) in values.iter().enumerate() {
        let value_errs = super::names::label_value(v);
        if !value_errs.is_empty() {
            errs.push(format!(
                "values[{i}][{key}]: Invalid value: {v:?}: {}",
                value_errs.join("; ")
            ));
        }
    }
    match errs.as_slice() {
        [] => Ok(()),
        [one] => Err(format!("unable to parse requirement: {one}")),
        many => Err(format!(
            "unable to parse requirement: [{}]",
            many.join(", ")
        )),
    }
}

/// Parses a field selector query: only `=`, `==` and `!=` are allowed.
pub fn parse_fields(s: &str) -> Result<Vec<Requirement>, String> {
    let mut reqs = Vec::new();
    for t in terms(s) {
        if let Some((k, v)) = t.split_once("!=") {
            reqs.push(Requirement::NotEq(
                k.trim().to_string(),
                v.trim().to_string(),
            ));
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            reqs.push(Requirement::Eq(k.trim().to_string(), v.trim().to_string()));
        } else {
            return Err(format!("invalid selector: '{s}'; can't understand '{t}'"));
        }
    }
    Ok(reqs)
}

/// Does a label map satisfy every requirement?
pub fn matches(reqs: &[Requirement], labels: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
        Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
    })
}

/// The value a field selector compares against: a dotted path into the object.
fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

pub fn matches_fields(reqs: &[Requirement], obj: &Value) -> bool {
    reqs.iter().all(|r| match r {
        Requirement::Eq(k, v) => field_value(obj, k) == *v,
        Requirement::NotEq(k, v) => field_value(obj, k) != *v,
        _ => false,
    })
}

/// A structured `LabelSelector` (matchLabels + matchExpressions) as requirements.
pub fn from_label_selector(sel: &Value) -> Vec<Requirement> {
    let mut reqs = Vec::new();
    for (k, v) in sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        reqs.push(Requirement::Eq(
            k.clone(),
            v.as_str().unwrap_or("").to_string(),
        ));
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let values: Vec<String> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        reqs.push(
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                _ => Requirement::NotExists(key),
            },
        );
    }
    reqs
}

pub fn is_empty(sel: &Value) -> bool {
    from_label_selector(sel).is_empty()
}

/// Does a structured selector select these labels? An empty selector selects nothing.
pub fn matches_selector(sel: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let reqs = from_label_selector(sel);
    !reqs.is_empty() && matches(&reqs, labels)
}

/// A `map[string]string` selector (Services): every pair must match; empty selects nothing.
pub fn matches_map(sel: &Map<String, Value>, labels: Option<&Map<String, Value>>) -> bool {
    !sel.is_empty()
        && sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// `app=py-az,pod-template-hash=abc` (the Scale subresource's status.selector).
pub fn to_string(sel: &Value) -> String {
    from_label_selector(sel)
        .iter()
        .map(|r| match r {
            Requirement::Eq(k, v) => format!("{k}={v}"),
            Requirement::NotEq(k, v) => format!("{k}!={v}"),
            Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
            Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
            Requirement::Exists(k) => k.clone(),
            Requirement::NotExists(k) => format!("!{k}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_based_selectors() {
        let reqs = parse_labels("app=web,tier in (a, b),env notin (prod),!canary,team").unwrap();
        assert_eq!(reqs.len(), 5);
        let labels = json!({"app": "web", "tier": "a", "env": "dev", "team": "x"});
        assert!(matches(&reqs, labels.as_object()));
        let labels = json!({"app": "web", "tier": "c", "team": "x"});
        assert!(!matches(&reqs, labels.as_object()));
        assert!(parse_fields("metadata.name").is_err());
    }
}
