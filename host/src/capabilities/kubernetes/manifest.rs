//! Manifests as `apply` takes them, split into objects and checked for what a
//! server-side apply needs before anything is sent: a bad fifth document must not
//! leave the first four applied.

use serde::Deserialize;
use serde_json::Value;

use crate::cloud::kinds::group_version;

/// Bigger manifests are not hand-written; the caps bound parsing and the apply loop.
pub const MAX_MANIFEST: usize = 4 << 20;
pub const MAX_OBJECTS: usize = 500;

/// One object of a manifest.
#[derive(Debug)]
pub struct Item {
    /// Where it is in the manifest (`document 2`, `document 1, item 3`), for messages.
    pub place: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// As written: the default applies only once the kind's scope is known.
    pub namespace: Option<String>,
    pub object: Value,
}

/// The objects of a YAML (multi-document) or JSON manifest, in order.
pub fn parse(manifest: &str) -> Result<Vec<Item>, String> {
    if manifest.len() > MAX_MANIFEST {
        return Err(format!(
            "the manifest is {} bytes; the limit is 4 MiB",
            manifest.len()
        ));
    }
    let mut items = Vec::new();
    if manifest.trim_start().starts_with('{') {
        let doc: Value = serde_json::from_str(manifest)
            .map_err(|e| format!("the manifest is not valid JSON: {e}"))?;
        push_document(&mut items, "document 1".into(), doc)?;
    } else {
        for (i, doc) in serde_yaml::Deserializer::from_str(manifest).enumerate() {
            let place = format!("document {}", i + 1);
            let doc = Value::deserialize(doc).map_err(|e| format!("{place}: invalid YAML: {e}"))?;
            push_document(&mut items, place, doc)?;
        }
    }
    if items.is_empty() {
        return Err("the manifest has no objects".into());
    }
    Ok(items)
}

fn push_document(items: &mut Vec<Item>, place: String, doc: Value) -> Result<(), String> {
    match doc {
        // `---` separators with nothing (or only comments) between them.
        Value::Null => Ok(()),
        Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
            let Some(Value::Array(list)) = m.get("items") else {
                return Err(format!("{place}: a List needs an `items` array"));
            };
            for (j, item) in list.iter().enumerate() {
                let place = format!("{place}, item {}", j + 1);
                if item.get("kind").and_then(Value::as_str) == Some("List") {
                    return Err(format!("{place}: a List inside a List"));
                }
                push(items, object(place, item.clone())?)?;
            }
            Ok(())
        }
        doc => push(items, object(place, doc)?),
    }
}

fn push(items: &mut Vec<Item>, item: Item) -> Result<(), String> {
    if items.len() == MAX_OBJECTS {
        return Err(format!(
            "the manifest has more than {MAX_OBJECTS} objects; apply it in parts"
        ));
    }
    items.push(item);
    Ok(())
}

/// Checks one object's identity fields.
fn object(place: String, v: Value) -> Result<Item, String> {
    let Value::Object(m) = &v else {
        return Err(format!("{place}: not an object"));
    };
    let field = |key: &str| -> Result<String, String> {
        match m.get(key) {
            None | Some(Value::Null) => Err(format!("{place}: missing {key}")),
            Some(Value::String(s)) if s.is_empty() => Err(format!("{place}: empty {key}")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{place}: {key} is not a string")),
        }
    };
    let api_version = field("apiVersion")?;
    group_version(&api_version).map_err(|e| format!("{place}: apiVersion: {}", message(e)))?;
    let kind = field("kind")?;
    let meta = match m.get("metadata") {
        Some(Value::Object(meta)) => meta,
        None | Some(Value::Null) => return Err(format!("{place}: missing metadata")),
        Some(_) => return Err(format!("{place}: metadata is not an object")),
    };
    let name = match meta.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            let hint = if meta.contains_key("generateName") {
                " (generateName cannot be applied: server-side apply needs a name)"
            } else {
                ""
            };
            return Err(format!("{place}: missing metadata.name{hint}"));
        }
        Some(_) => return Err(format!("{place}: metadata.name is not a string")),
    };
    check_name(&name).map_err(|e| format!("{place}: metadata.name: {e}"))?;
    let namespace = match meta.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            check_namespace(s).map_err(|e| format!("{place}: metadata.namespace: {e}"))?;
            Some(s.clone())
        }
        Some(_) => return Err(format!("{place}: metadata.namespace is not a string")),
    };
    Ok(Item {
        place,
        api_version,
        kind,
        name,
        namespace,
        object: v,
    })
}

fn message(e: crate::bindings::PluginError) -> String {
    crate::engine::outcome::plugin_failure(e).message
}

/// Names become URL path segments: anything that could change the path (a `/` that
/// reaches a subresource, `..`, a query) is refused here, not left to the server.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name is required".into());
    }
    if name.len() > 253 {
        let start: String = name.chars().take(32).collect();
        return Err(format!("`{start}...` is longer than 253 bytes"));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '%' | '?' | '#') || c.is_whitespace() || c.is_control())
    {
        return Err(format!("`{name}` has {c:?}, which no name may contain"));
    }
    Ok(())
}

/// A namespace is a DNS label; `*` (all namespaces) is only for `list`.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    let label = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if label {
        Ok(())
    } else if ns == "*" {
        Err("`*` (all namespaces) is only for `list`".into())
    } else {
        Err(format!(
            "`{ns}` is not a namespace name (lowercase letters, digits and `-`, at most 63)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_in_order_skipping_empty_ones() {
        let m = "---\n# just a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
        let items = parse(m).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].kind, "Deployment");
        assert_eq!(items[0].namespace.as_deref(), Some("shop"));
        assert_eq!(items[0].place, "document 2");
        assert_eq!(items[1].kind, "Namespace");
        assert_eq!(items[1].namespace, None);
        assert_eq!(items[1].place, "document 4");
    }

    #[test]
    fn json_object_and_list() {
        let one =
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"b"}}"#;
        let items = parse(one).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].object["data"]["a"], "b");
        let list = r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},
            {"apiVersion":"v1","kind":"Secret","metadata":{"name":"b","namespace":"x"}}]}"#;
        let items = parse(list).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].place, "document 1, item 2");
        assert_eq!(items[1].namespace.as_deref(), Some("x"));
        // A YAML List too.
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n";
        assert_eq!(parse(yaml).unwrap().len(), 1);
    }

    #[test]
    fn bad_objects_name_their_document_and_field() {
        let err = |m: &str| parse(m).unwrap_err();
        let ok = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
        assert_eq!(
            err(&format!(
                "{ok}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{}}\n"
            )),
            "document 2: missing metadata.name"
        );
        assert_eq!(
            err("kind: ConfigMap\nmetadata: {name: a}\n"),
            "document 1: missing apiVersion"
        );
        assert_eq!(
            err("apiVersion: v1\nmetadata: {name: a}\n"),
            "document 1: missing kind"
        );
        assert_eq!(
            err("apiVersion: v1\nkind: ConfigMap\n"),
            "document 1: missing metadata"
        );
        assert!(
            err("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n")
                .contains("generateName")
        );
        assert!(
            err("apiVersion: a/b/c\nkind: X\nmetadata: {name: a}\n")
                .starts_with("document 1: apiVersion")
        );
        assert!(
            err("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a/scale}\n")
                .starts_with("document 1: metadata.name")
        );
        assert!(
            err("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: Bad}\n")
                .starts_with("document 1: metadata.namespace")
        );
        assert_eq!(err("- a\n- b\n"), "document 1: not an object");
        assert_eq!(err("---\n---\n"), "the manifest has no objects");
        assert!(err("a: [\n").starts_with("document 1: invalid YAML"));
        assert!(err("{\"a\": ").starts_with("the manifest is not valid JSON"));
        assert!(err("apiVersion: v1\nkind: List\n").contains("items"));
    }

    #[test]
    fn bounded() {
        let one = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n";
        assert!(parse(&one.repeat(MAX_OBJECTS)).is_ok());
        assert!(
            parse(&one.repeat(MAX_OBJECTS + 1))
                .unwrap_err()
                .contains("more than 500")
        );
        let big = format!("# {}\n{one}", "x".repeat(MAX_MANIFEST));
        assert!(parse(&big).unwrap_err().contains("4 MiB"));
    }

    #[test]
    fn names_and_namespaces() {
        assert!(check_name("system:controller:x").is_ok());
        assert!(check_name("web-1.example").is_ok());
        for bad in ["", ".", "..", "a/b", "a?b", "a b", "a%2F"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"a".repeat(254)).is_err());
        assert!(check_namespace("kube-system").is_ok());
        for bad in ["", "*", "Default", "-a", "a-", "a.b", &"a".repeat(64)] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }
}
