//! Just enough reading of the manifest to know which Deployment and Ingress to wait
//! for; the host parses it again, fully, when it applies it.

use serde::Deserialize;
use serde_json::Value;

/// One object of the manifest, by identity.
#[derive(Debug, PartialEq)]
pub struct Object {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

/// The objects of every YAML (or JSON) document, `List` items included, in order.
pub fn objects(text: &str) -> Result<Vec<Object>, String> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| format!("manifest document {}: {e}", i + 1))?;
        collect(&v, &mut out);
    }
    Ok(out)
}

fn collect(v: &Value, out: &mut Vec<Object>) {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    match (s("/kind"), v.get("items").and_then(Value::as_array)) {
        (Some(k), Some(items)) if k.ends_with("List") => {
            items.iter().for_each(|i| collect(i, out));
        }
        (Some(kind), _) => {
            if let Some(name) = s("/metadata/name") {
                out.push(Object {
                    kind,
                    name,
                    namespace: s("/metadata/namespace"),
                });
            }
        }
        // Empty documents, comments only: nothing to apply.
        _ => {}
    }
}

/// The first object of `kind`.
pub fn first<'a>(objects: &'a [Object], kind: &str) -> Option<&'a Object> {
    objects.iter().find(|o| o.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_kinds_and_names_across_documents() {
        let text = "---\n# app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: py-az\n  labels: {app: py-az}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: py-az, namespace: web}\n---\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", \"metadata\": {\"name\": \"ing\"}}]}\n";
        let objs = objects(text).unwrap();
        assert_eq!(objs.len(), 3);
        assert_eq!(first(&objs, "Deployment").unwrap().name, "py-az");
        assert_eq!(objs[1].namespace.as_deref(), Some("web"));
        assert_eq!(first(&objs, "Ingress").unwrap().name, "ing");
        assert!(first(&objs, "ConfigMap").is_none());
    }

    #[test]
    fn bad_yaml_is_an_error_not_a_panic() {
        assert!(objects("kind: [unclosed").is_err());
        assert!(objects("").unwrap().is_empty());
    }
}
