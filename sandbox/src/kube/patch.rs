//! The four patch types: JSON merge patch (RFC 7386), strategic merge patch (lists of
//! named things merged by key, `$patch` directives), JSON patch (RFC 6902), and the
//! merge step of server-side apply (whose field ownership is `managed_fields`).

use serde_json::{Map, Value, json};

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The fields that identify an item of a list, as the Kubernetes types declare them:
/// strategic merge patch's `patchMergeKey` first, then the further
/// `x-kubernetes-list-map-keys` server-side apply adds (ports are told apart by their
/// protocol too: DNS serves port 53 over TCP and UDP). `None`: the list is atomic,
/// replaced whole.
pub(super) fn list_keys(field: &str, sample: Option<&Value>) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => &["name"],
        "ports" if sample.is_some_and(|s| s.get("containerPort").is_some()) => {
            &["containerPort", "protocol"]
        }
        "ports" => &["port", "protocol"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        _ => return None,
    })
}

/// An item's value of key field `key`, or the default its schema gives a missing one
/// (a port's `protocol` is `TCP`), so `{containerPort: 80}` and `{containerPort: 80,
/// protocol: TCP}` are the same item.
pub(super) fn key_value(item: &Value, key: &str) -> Option<Value> {
    match item.get(key) {
        Some(v) if !v.is_null() => Some(v.clone()),
        _ if key == "protocol" => Some(json!("TCP")),
        _ => None,
    }
}

/// How a patch merges: strategic merge patch takes `null` as "delete" and matches list
/// items by their `patchMergeKey`; server-side apply keeps what `null` names and
/// matches by every list-map key.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Strategic,
    Apply,
}

impl Mode {
    fn keys(self, field: &str, sample: Option<&Value>) -> Option<&'static [&'static str]> {
        let keys = list_keys(field, sample)?;
        Some(match self {
            Mode::Strategic => &keys[..1],
            Mode::Apply => keys,
        })
    }
}

/// Lists of scalars that merge as sets (`patchStrategy: merge` on a primitive list).
pub(super) fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge patch, for the fields kubectl's patches use.
pub fn strategic(target: &mut Value, patch: &Value) {
    strategic_inner(target, patch, Mode::Strategic)
}

/// Server-side apply's merge of an applied configuration into the live object: lists
/// merge by their list-map keys and `null` deletes nothing. Removing what an applier
/// stopped sending is `managed_fields`' part.
pub fn apply(target: &mut Value, patch: &Value) {
    strategic_inner(target, patch, Mode::Apply)
}

fn strategic_inner(target: &mut Value, patch: &Value, mode: Mode) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut p = p.clone();
            p.remove("$patch");
            *target = Value::Object(p);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k.starts_with('$') {
            if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/")
                && let (Some(Value::Array(list)), Value::Array(del)) = (t.get_mut(field), v)
            {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            if mode == Mode::Strategic {
                t.remove(k);
            }
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                if let Some(keys) = mode.keys(k, items.first().or(cur.first())) {
                    merge_list(cur, items, keys, mode);
                } else if is_set_list(k) {
                    for i in items {
                        if !cur.contains(i) {
                            cur.push(i.clone());
                        }
                    }
                } else {
                    *t.get_mut(k).expect("present") = v.clone();
                }
            }
            (Some(cur), Value::Object(_)) if cur.is_object() => {
                strategic_inner(cur, v, mode);
                if cur.is_null() {
                    t.remove(k);
                }
            }
            _ => {
                let mut fresh = Value::Null;
                strategic_inner(&mut fresh, v, mode);
                if v.is_object() && fresh.is_null() {
                    t.remove(k);
                } else {
                    t.insert(k.clone(), strip_directives(v.clone()));
                }
            }
        }
    }
}

/// Removes `$patch`-style keys from a value that is inserted whole.
fn strip_directives(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k, strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_directives).collect()),
        v => v,
    }
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], keys: &[&str], mode: Mode) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *cur = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .map(strip_directives)
            .collect();
        return;
    }
    let same = |a: &Value, b: &Value| keys.iter().all(|k| key_value(a, k) == key_value(b, k));
    for item in items {
        if item.get(keys[0]).is_none() {
            cur.push(strip_directives(item.clone()));
            continue;
        }
        let pos = cur.iter().position(|c| same(c, item));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                cur.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_inner(&mut cur[i], item, mode),
            (None, false) => cur.push(strip_directives(item.clone())),
        }
    }
}

/// RFC 6901 pointer tokens.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(doc: &'a mut Value, toks: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("path element {t:?} not found"))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| format!("invalid array index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("cannot descend into a scalar at {t:?}")),
        };
    }
    Ok(cur)
}

fn get_at(doc: &Value, path: &str) -> Result<Value, String> {
    doc.pointer(path)
        .cloned()
        .ok_or_else(|| format!("path {path:?} not found"))
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let toks = tokens(path)?;
    let Some((last, head)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, head)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("invalid array index {last:?}"))?;
                if i > a.len() {
                    return Err(format!("array index {i} out of range"));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(format!("cannot add to a scalar at {path:?}")),
    }
    Ok(())
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, String> {
    let toks = tokens(path)?;
    let (last, head) = toks
        .split_last()
        .ok_or("cannot remove the whole document")?;
    match parent(doc, head)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path {path:?} not found")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("array index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("path {path:?} not found")),
    }
}

/// kube-apiserver's bound on what the `copy` operations of one JSON patch may add, in
/// bytes of JSON (`JSONPatchMaxCopyBytes`): 40 copies that each double a document would
/// otherwise ask for a terabyte.
pub const MAX_COPY_BYTES: usize = 3 << 20;

/// RFC 6902. On error the document may be partly changed; callers patch a copy.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    let mut copied = 0;
    for op in ops {
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation without a path")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation on {path:?} without a value"))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| "operation without from".to_string())
        };
        match op.get("op").and_then(Value::as_str).unwrap_or("") {
            "add" => add_at(doc, path, value()?)?,
            "remove" => {
                remove_at(doc, path)?;
            }
            "replace" => {
                let v = value()?;
                *doc.pointer_mut(path)
                    .ok_or_else(|| format!("path {path:?} not found"))? = v;
            }
            "move" => {
                let v = remove_at(doc, from()?)?;
                add_at(doc, path, v)?;
            }
            "copy" => {
                let v = get_at(doc, from()?)?;
                copied += serde_json::to_vec(&v).map_or(0, |b| b.len());
                if copied > MAX_COPY_BYTES {
                    return Err(format!(
                        "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_COPY_BYTES}"
                    ));
                }
                add_at(doc, path, v)?;
            }
            "test" => {
                if get_at(doc, path)? != value()? {
                    return Err(format!("test operation failed at {path:?}"));
                }
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        strategic(
            &mut d,
            &json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(
            d,
            json!({"spec": {"containers": [{"name": "b", "image": "z"}]}})
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(&mut d, &json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "remove", "path": "/b/c"},
            {"op": "copy", "from": "/a/0", "path": "/b/d"}, {"op": "test", "path": "/b/d", "value": 1}])).unwrap();
        assert_eq!(d, json!({"a": [1, 2, 3], "b": {"d": 1}}));
        assert!(
            json_patch(
                &mut d,
                &json!([{"op": "replace", "path": "/zz", "value": 1}])
            )
            .is_err()
        );
    }
}
