//! The four patch types: JSON merge patch (RFC 7386), strategic merge patch (lists of
//! named things merged by key, `$patch` directives), JSON patch (RFC 6902), and the
//! approximation of server-side apply that kubectl `--server-side` needs.

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

/// The merge key of a list field, as the Kubernetes types declare it
/// (`patchMergeKey`), or `None` when the list is replaced wholesale.
fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "ports" => {
            if sample.is_some_and(|s| s.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of scalars that merge as sets (`patchStrategy: merge` on a primitive list).
fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge patch, for the fields kubectl's patches use.
pub fn strategic(target: &mut Value, patch: &Value) {
    strategic_inner(target, patch, true)
}

/// Server-side apply: the applied configuration merged in strategically, with no
/// deletion by `null` (fields an applier stops setting are kept; we track no ownership).
pub fn apply(target: &mut Value, patch: &Value) {
    strategic_inner(target, patch, false)
}

fn strategic_inner(target: &mut Value, patch: &Value, nulls_delete: bool) {
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
            if nulls_delete {
                t.remove(k);
            }
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                if let Some(key) = merge_key(k, items.first().or(cur.first())) {
                    merge_list(cur, items, key, nulls_delete);
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
                strategic_inner(cur, v, nulls_delete);
                if cur.is_null() {
                    t.remove(k);
                }
            }
            _ => {
                let mut fresh = Value::Null;
                strategic_inner(&mut fresh, v, nulls_delete);
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

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &str, nulls_delete: bool) {
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
    for item in items {
        let Some(kv) = item.get(key) else {
            cur.push(strip_directives(item.clone()));
            continue;
        };
        let pos = cur.iter().position(|c| c.get(key) == Some(kv));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                cur.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_inner(&mut cur[i], item, nulls_delete),
            (None, false) => cur.push(strip_directives(item.clone())),
        }
    }
}

/// The FieldsV1 set of an applied configuration: `f:<field>` for object fields, `k:{..}`
/// for items of lists merged by key, `{}` for leaves and atomic lists. Identity fields
/// (apiVersion, kind, metadata.name/namespace) are not owned.
pub fn field_set(v: &Value) -> Value {
    fn walk(v: &Value, field: Option<&str>) -> Value {
        let mut out = Map::new();
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    if k.starts_with('$') {
                        continue;
                    }
                    out.insert(format!("f:{k}"), walk(c, Some(k)));
                }
            }
            Value::Array(items) => {
                let key = field.and_then(|f| merge_key(f, items.first()));
                for item in items {
                    if let Some(key) = key
                        && let Some(kv) = item.get(key)
                    {
                        let mut child = walk(item, None);
                        child
                            .as_object_mut()
                            .expect("object")
                            .insert(".".into(), json!({}));
                        out.insert(format!("k:{}", json!({key: kv})), child);
                    }
                }
            }
            _ => {}
        }
        Value::Object(out)
    }
    let mut set = walk(v, None);
    if let Some(m) = set.as_object_mut() {
        m.remove("f:apiVersion");
        m.remove("f:kind");
        if let Some(meta) = m.get_mut("f:metadata").and_then(Value::as_object_mut) {
            meta.remove("f:name");
            meta.remove("f:namespace");
            if meta.is_empty() {
                m.remove("f:metadata");
            }
        }
    }
    set
}

/// Removes from `doc` what `old` (an applier's previous field set) has and `new` (its
/// current one) does not, unless one of `others` (other appliers' sets) still has it.
pub fn remove_disowned(doc: &mut Value, old: &Value, new: &Value, others: &[&Value]) {
    let (Some(old), Some(obj)) = (old.as_object(), doc.as_object_mut()) else {
        return;
    };
    for (k, old_child) in old {
        let new_child = new.get(k);
        let others_child: Vec<&Value> = others.iter().filter_map(|o| o.get(k)).collect();
        if let Some(field) = k.strip_prefix("f:") {
            match (new_child, obj.get_mut(field)) {
                (None, Some(_)) if others_child.is_empty() => {
                    obj.remove(field);
                }
                (Some(n), Some(child)) if child.is_object() => {
                    remove_disowned(child, old_child, n, &others_child)
                }
                (Some(n), Some(Value::Array(items))) => {
                    for item in items.iter_mut() {
                        remove_in_item(item, old_child, n, &others_child);
                    }
                    items.retain(|i| !i.is_null());
                }
                _ => {}
            }
        }
    }
}

/// One list item: dropped when its `k:` entry is disowned, else recursed into.
fn remove_in_item(item: &mut Value, old: &Value, new: &Value, others: &[&Value]) {
    let Some(old) = old.as_object() else { return };
    for (k, old_child) in old {
        let Some(key) = k.strip_prefix("k:") else {
            continue;
        };
        let Ok(Value::Object(ident)) = serde_json::from_str::<Value>(key) else {
            continue;
        };
        if !ident.iter().all(|(f, v)| item.get(f) == Some(v)) {
            continue;
        }
        let others_child: Vec<&Value> = others.iter().filter_map(|o| o.get(k)).collect();
        match new.get(k) {
            None if others_child.is_empty() => *item = Value::Null,
            Some(n) => remove_disowned(item, old_child, n, &others_child),
            None => {}
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

/// RFC 6902. On error the document may be partly changed; callers patch a copy.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
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
    fn apply_removes_what_an_applier_stops_sending() {
        let first = json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d", "image": "j"}]}});
        let second = json!({"metadata": {"name": "x", "labels": {"a": "1"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let mut doc = json!({});
        apply(&mut doc, &first);
        let old = field_set(&first);
        assert!(
            old.pointer("/f:spec/f:containers/k:{\"name\":\"d\"}/f:image")
                .is_some()
        );
        apply(&mut doc, &second);
        remove_disowned(&mut doc, &old, &field_set(&second), &[]);
        assert_eq!(doc, second);
        // Another applier still owning label b keeps it.
        let mut doc = json!({});
        apply(&mut doc, &first);
        let other = json!({"f:metadata": {"f:labels": {"f:b": {}}}});
        remove_disowned(&mut doc, &old, &field_set(&second), &[&other]);
        assert_eq!(doc.pointer("/metadata/labels/b"), Some(&json!("2")));
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
