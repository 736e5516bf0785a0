//! The JSONPath subset `wait` understands: `{.status.loadBalancer.ingress[0].hostname}`,
//! `{.metadata.annotations['example.com/key']}`. Wildcards, filters and slices are
//! refused when the call is made rather than silently never matching.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    /// Negative counts from the end, as in kubectl.
    Index(i64),
}

/// A parsed path, kept with its text for messages.
#[derive(Debug, Clone)]
pub struct Path {
    pub text: String,
    pub segments: Vec<Segment>,
}

/// Longer paths are not a status field anyone waits on; the cap bounds parsing.
const MAX_PATH: usize = 1024;

pub fn parse(text: &str) -> Result<Path, String> {
    if text.len() > MAX_PATH {
        return Err(format!(
            "the jsonpath is {} bytes; the limit is {MAX_PATH}",
            text.len()
        ));
    }
    let trimmed = text.trim();
    let inner = match trimmed.strip_prefix('{') {
        Some(rest) => rest
            .strip_suffix('}')
            .ok_or_else(|| format!("jsonpath `{text}`: `{{` without a closing `}}`"))?,
        None => trimmed,
    }
    .trim();
    if inner.is_empty() {
        return Err("the jsonpath is empty (such as `{.status.phase}`)".into());
    }
    let bad = |why: &str| format!("jsonpath `{text}`: {why}");
    let mut rest = inner.strip_prefix('$').unwrap_or(inner);
    let mut segments = Vec::new();
    // A path may start with a field name without its dot (`status.phase`).
    let mut first = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
            let body = r[..close].trim();
            rest = &r[close + 1..];
            let quoted = |q: char| body.strip_prefix(q).and_then(|b| b.strip_suffix(q));
            if let Some(key) = quoted('\'').or_else(|| quoted('"')) {
                segments.push(Segment::Field(key.to_string()));
            } else {
                let n: i64 = body.parse().map_err(|_| {
                    bad(&format!(
                        "`[{body}]` is not an index or a quoted key (wildcards, slices and filters are not supported)"
                    ))
                })?;
                segments.push(Segment::Index(n));
            }
        } else {
            let r = match rest.strip_prefix('.') {
                Some(r) => r,
                None if first => rest,
                None => return Err(bad("expected `.` or `[`")),
            };
            if r.starts_with('.') {
                return Err(bad("recursive descent (`..`) is not supported"));
            }
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            rest = &r[end..];
            if name.is_empty() {
                // `{.}` is the whole object.
                if rest.is_empty() && segments.is_empty() {
                    break;
                }
                return Err(bad("empty field name"));
            }
            if name == "*"
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || "]{}()?@*'\"$,:".contains(c))
            {
                return Err(bad(&format!(
                    "`{name}` is not a plain field name (use ['...'] for keys with special characters)"
                )));
            }
            segments.push(Segment::Field(name.to_string()));
        }
        first = false;
    }
    Ok(Path {
        text: text.to_string(),
        segments,
    })
}

impl Path {
    /// The value at this path, if every step exists.
    pub fn find<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut at = root;
        for s in &self.segments {
            at = match (s, at) {
                (Segment::Field(f), Value::Object(m)) => m.get(f)?,
                (Segment::Index(i), Value::Array(a)) => {
                    let i = if *i < 0 {
                        a.len().checked_sub(i.unsigned_abs() as usize)?
                    } else {
                        usize::try_from(*i).ok()?
                    };
                    a.get(i)?
                }
                _ => return None,
            };
        }
        Some(at)
    }
}

/// A value as kubectl prints it: strings raw, anything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a found value counts as "present" for a wait without an expected value.
pub fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

/// Whether `object` meets the path's expectation.
pub fn met(path: &Path, expected: Option<&str>, object: &Value) -> bool {
    match (path.find(object), expected) {
        (Some(v), Some(want)) => text(v) == want,
        (Some(v), None) => non_empty(v),
        (None, _) => false,
    }
}

/// What the path showed, for a timeout message.
pub fn describe(path: &Path, object: &Value) -> String {
    match path.find(object) {
        None => format!("jsonpath {} was absent", path.text),
        Some(v) if !non_empty(v) => format!("jsonpath {} was empty", path.text),
        Some(v) => {
            let mut shown = text(v);
            if shown.len() > 200 {
                let mut cut = 200;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
                shown.push_str("...");
            }
            format!("jsonpath {} was {shown:?}", path.text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(p: &str) -> Vec<Segment> {
        parse(p).unwrap().segments
    }

    #[test]
    fn parses_the_subset() {
        use Segment::*;
        assert_eq!(
            segs("{.status.loadBalancer.ingress[0].hostname}"),
            vec![
                Field("status".into()),
                Field("loadBalancer".into()),
                Field("ingress".into()),
                Index(0),
                Field("hostname".into()),
            ]
        );
        assert_eq!(segs(".status.phase"), segs("{.status.phase}"));
        assert_eq!(segs("status.phase"), segs("{.status.phase}"));
        assert_eq!(segs("{$.status.phase}"), segs("{.status.phase}"));
        assert_eq!(
            segs("{.metadata.annotations['example.com/key']}"),
            vec![
                Field("metadata".into()),
                Field("annotations".into()),
                Field("example.com/key".into()),
            ]
        );
        assert_eq!(
            segs(r#"{.metadata.labels["app.kubernetes.io/name"]}"#),
            vec![
                Field("metadata".into()),
                Field("labels".into()),
                Field("app.kubernetes.io/name".into()),
            ]
        );
        assert_eq!(segs("{.items[-1]}"), vec![Field("items".into()), Index(-1)]);
        assert!(segs("{.}").is_empty());
    }

    #[test]
    fn refuses_the_rest() {
        for p in [
            "",
            "{}",
            "{.status",
            "{.items[*].name}",
            "{..name}",
            "{.items[0:2]}",
            "{.items[?(@.x==1)]}",
            "{.a[0}",
            "{.a..b}",
            "{.a.}",
            "{.a b}",
        ] {
            assert!(parse(p).is_err(), "{p:?} should be refused");
        }
    }

    #[test]
    fn finds_and_compares() {
        let obj = json!({
            "metadata": {"annotations": {"example.com/key": "v"}},
            "spec": {"replicas": 3, "paused": false},
            "status": {
                "loadBalancer": {"ingress": [{"hostname": "a.example.com"}]},
                "empty": "", "none": null, "list": [], "map": {}
            }
        });
        let p = |s: &str| parse(s).unwrap();
        let host = p("{.status.loadBalancer.ingress[0].hostname}");
        assert!(met(&host, None, &obj));
        assert!(met(&host, Some("a.example.com"), &obj));
        assert!(!met(&host, Some("b.example.com"), &obj));
        assert!(met(&p("{.spec.replicas}"), Some("3"), &obj));
        assert!(met(&p("{.spec.paused}"), Some("false"), &obj));
        assert!(met(&p("{.spec.paused}"), None, &obj));
        assert!(met(
            &p("{.metadata.annotations['example.com/key']}"),
            Some("v"),
            &obj
        ));
        assert!(met(
            &p("{.status.loadBalancer.ingress[-1].hostname}"),
            None,
            &obj
        ));
        for empty in ["empty", "none", "list", "map", "missing"] {
            assert!(!met(&p(&format!("{{.status.{empty}}}")), None, &obj));
        }
        assert!(!met(&p("{.status.loadBalancer.ingress[1]}"), None, &obj));
        assert!(!met(&p("{.spec.replicas.x}"), None, &obj));
        assert!(!met(&p("{.status.loadBalancer.ingress[-2]}"), None, &obj));
        assert_eq!(
            describe(&p("{.status.empty}"), &obj),
            "jsonpath {.status.empty} was empty"
        );
        assert_eq!(
            describe(&p("{.status.nope}"), &obj),
            "jsonpath {.status.nope} was absent"
        );
        assert_eq!(
            describe(&p("{.spec.replicas}"), &obj),
            "jsonpath {.spec.replicas} was \"3\""
        );
    }
}
